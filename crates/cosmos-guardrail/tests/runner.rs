//! The guardrail runner: chaining, empty prompts, classifiers, video tensors.

use std::cell::Cell;

use cosmos_guardrail::text::{BoxError, LlamaGuardClassifier, ModerationModel};
use cosmos_guardrail::{
    Blocklist, ClassifierGuard, FaceBox, FaceDetector, FacePixelator, Guardrail, Result,
    TensorVideoOutcome, TextSafety, TextSafetyClassifier, Verdict,
};
use cosmos_nn::burn::tensor::{Device, Tensor, TensorData};
use ndarray::ArrayView4;

/// Counts calls; unsafe when the prompt mentions "dragon".
struct DragonClassifier(Cell<usize>);
impl TextSafetyClassifier for DragonClassifier {
    fn name(&self) -> &str {
        "dragon-classifier"
    }
    fn classify(&self, prompt: &str) -> std::result::Result<TextSafety, BoxError> {
        self.0.set(self.0.get() + 1);
        Ok(if prompt.contains("dragon") {
            TextSafety::unsafe_in(vec!["fantasy".into()])
        } else {
            TextSafety::safe()
        })
    }
}

#[test]
fn text_chain_runs_blocklist_then_classifier() {
    let classifier = DragonClassifier(Cell::new(0));
    let guardrail = Guardrail::new()
        .with_text_guard(Blocklist::builtin())
        .with_text_guard(ClassifierGuard::new(classifier));
    assert_eq!(
        guardrail.text_guard_names(),
        vec!["blocklist", "dragon-classifier"]
    );
    assert!(
        guardrail
            .check_prompt("a calm lake at dawn")
            .unwrap()
            .is_safe()
    );
    let v = guardrail.check_prompt("a dragon over the lake").unwrap();
    assert_eq!(
        v,
        Verdict::Unsafe {
            guard: "dragon-classifier".into(),
            reason: "the text-safety classifier judged the prompt unsafe: fantasy".into()
        }
    );
    // The blocklist refuses first.
    let v = guardrail.check_prompt("a dragon with a b0mb").unwrap();
    assert!(
        matches!(&v, Verdict::Unsafe { guard, .. } if guard == "blocklist"),
        "{v}"
    );
    // Empty prompts are refused without running any guard.
    let v = guardrail.check_prompt("   ").unwrap();
    assert_eq!(v.reason(), Some("the prompt is empty"));
}

struct Aegis;
impl ModerationModel for Aegis {
    fn moderate(&self, prompt: &str) -> std::result::Result<String, BoxError> {
        if prompt.contains("fail") {
            return Err("model not loaded".into());
        }
        Ok(if prompt.contains("threat") {
            "unsafe\nO10".into()
        } else {
            "safe".into()
        })
    }
}

#[test]
fn llama_guard_style_classifier_plugs_in() {
    let guard = ClassifierGuard::new(LlamaGuardClassifier::aegis(Aegis));
    let guardrail = Guardrail::new().with_text_guard(guard);
    assert!(guardrail.check_prompt("a sunny day").unwrap().is_safe());
    let v = guardrail.check_prompt("a threat").unwrap();
    assert!(v.reason().unwrap().ends_with("threat"), "{v}");
    let err = guardrail.check_prompt("please fail").unwrap_err();
    assert!(err.to_string().contains("model not loaded"), "{err}");
}

/// A detector that reports one fixed box on every frame.
struct FixedBox;
impl FaceDetector for FixedBox {
    fn name(&self) -> &str {
        "fixed"
    }
    fn detect_frames(&self, frames: ArrayView4<'_, u8>) -> Result<Vec<Vec<FaceBox>>> {
        Ok(vec![
            vec![FaceBox {
                x1: 4.0,
                y1: 2.0,
                x2: 28.9,
                y2: 26.0,
                score: 0.9
            }];
            frames.shape()[0]
        ])
    }
}

#[test]
fn video_tensor_is_pixelated_only_inside_faces() {
    let device = Device::default();
    let (t, h, w) = (2, 32, 40);
    let values: Vec<f32> = (0..3 * t * h * w)
        .map(|i| ((i * 37 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let video = Tensor::<5>::from_data(TensorData::new(values.clone(), [1, 3, t, h, w]), &device);
    let guardrail = Guardrail::new().with_postprocessor(FacePixelator::new(FixedBox));
    let TensorVideoOutcome::Allow {
        video: out,
        reports,
    } = guardrail.guard_video_tensor(video).unwrap()
    else {
        panic!("blocked")
    };
    assert_eq!(reports[0][0].1.regions[0], vec![[4, 2, 28, 26]]);
    let out = out.into_data().try_to_vec::<f32>().unwrap();
    let mut changed_inside = 0;
    for c in 0..3 {
        for ti in 0..t {
            for y in 0..h {
                for x in 0..w {
                    let i = ((c * t + ti) * h + y) * w + x;
                    let inside = (4..28).contains(&x) && (2..26).contains(&y);
                    if inside {
                        changed_inside += (out[i] != values[i]) as usize;
                    } else {
                        assert_eq!(out[i].to_bits(), values[i].to_bits(), "outside changed");
                    }
                }
            }
        }
    }
    assert!(changed_inside > 3 * t * 24 * 24 / 2, "{changed_inside}");
    // Bad layout: an error, not a panic.
    let bad = Tensor::<5>::zeros([1, 4, 1, 2, 2], &device);
    assert!(guardrail.guard_video_tensor(bad).is_err());
}
