//! The video safety MLP head against a hand computation, its loading from the reference's
//! key names, and the per-frame guard.

use std::collections::BTreeMap;

use cosmos_guardrail::video_safety::{
    EmbeddingSafetyClassifier, FrameSafety, SAFETY_CLASSES, safety_classifier_keymap,
};
use cosmos_guardrail::{
    ImageEmbedder, Result, SafetyClassifierConfig, SampledVideoSafety, VideoGuard,
    VideoSafetyClassifier,
};
use cosmos_nn::burn::tensor::{Device, Tensor, TensorData};
use cosmos_nn::checkpoint::Checkpoint;
use ndarray::{Array4, ArrayView3};

fn values(n: usize, seed: u64, scale: f32, offset: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            offset + scale * (((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5)
        })
        .collect()
}

/// A small head (8 inputs, 3 classes) in the reference's key names, nested under `model.`.
fn state_dict(input: usize, classes: usize) -> BTreeMap<String, (Vec<f32>, Vec<usize>)> {
    let mut m = BTreeMap::new();
    let mut add = |k: &str, shape: Vec<usize>, seed: u64, scale: f32, offset: f32| {
        let n = shape.iter().product();
        m.insert(
            format!("model.network.layers.{k}"),
            (values(n, seed, scale, offset), shape),
        );
    };
    add("0.weight", vec![512, input], 1, 0.5, 0.0);
    add("0.bias", vec![512], 2, 0.2, 0.0);
    add("1.weight", vec![512], 3, 0.5, 1.0);
    add("1.bias", vec![512], 4, 0.2, 0.0);
    add("1.running_mean", vec![512], 5, 0.2, 0.0);
    add("1.running_var", vec![512], 6, 0.5, 1.0);
    add("3.weight", vec![256, 512], 7, 0.1, 0.0);
    add("3.bias", vec![256], 8, 0.2, 0.0);
    add("4.weight", vec![256], 9, 0.5, 1.0);
    add("4.bias", vec![256], 10, 0.2, 0.0);
    add("4.running_mean", vec![256], 11, 0.2, 0.0);
    add("4.running_var", vec![256], 12, 0.5, 1.0);
    add("6.weight", vec![classes, 256], 13, 0.2, 0.0);
    add("6.bias", vec![classes], 14, 0.2, 0.0);
    m
}

fn linear(x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let n_in = x.len();
    b.iter()
        .enumerate()
        .map(|(o, bias)| bias + (0..n_in).map(|i| w[o * n_in + i] * x[i]).sum::<f32>())
        .collect()
}

fn bn_relu(x: &[f32], d: &BTreeMap<String, (Vec<f32>, Vec<usize>)>, layer: usize) -> Vec<f32> {
    let g = |k: &str| &d[&format!("model.network.layers.{layer}.{k}")].0;
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let y = (v - g("running_mean")[i]) / (g("running_var")[i] + 1e-5).sqrt()
                * g("weight")[i]
                + g("bias")[i];
            y.max(0.0)
        })
        .collect()
}

#[test]
fn head_matches_a_hand_computation() {
    let device = Device::default();
    let d = state_dict(8, 3);
    let mut tensors: BTreeMap<String, TensorData> = d
        .iter()
        .map(|(k, (v, s))| (k.clone(), TensorData::new(v.clone(), s.clone())))
        .collect();
    tensors.insert(
        "model.network.layers.1.num_batches_tracked".into(),
        TensorData::new(vec![10i64], Vec::<usize>::new()),
    );
    let mut head = SafetyClassifierConfig::new()
        .with_input_size(8)
        .with_num_classes(3)
        .init(&device);
    let report = head
        .load_checkpoint(&Checkpoint::from_tensors(tensors))
        .unwrap();
    assert_eq!(report.loaded.len(), 14);
    assert_eq!(report.ignored.len(), 1);

    let x = values(16, 99, 2.0, 0.0);
    let out = head.forward(Tensor::<2>::from_data(
        TensorData::new(x.clone(), [2, 8]),
        &device,
    ));
    let out = out.into_data().try_to_vec::<f32>().unwrap();
    let w = |k: &str| &d[&format!("model.network.layers.{k}")].0;
    for row in 0..2 {
        let h = bn_relu(
            &linear(&x[row * 8..row * 8 + 8], w("0.weight"), w("0.bias")),
            &d,
            1,
        );
        let h = bn_relu(&linear(&h, w("3.weight"), w("3.bias")), &d, 4);
        let logits = linear(&h, w("6.weight"), w("6.bias"));
        for (a, b) in out[row * 3..row * 3 + 3].iter().zip(&logits) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
    // The map also takes keys without the `model.` nesting.
    let map = safety_classifier_keymap();
    assert_eq!(map.map("network.layers.6.bias"), "fc3.bias");
    assert_eq!(
        map.map("model.network.layers.4.running_var"),
        "bn2.running_var"
    );
}

/// An embedder whose embedding is the mean colour, one-hot-ish (8 dims).
struct MeanColour;
impl ImageEmbedder for MeanColour {
    fn embedding_dim(&self) -> usize {
        8
    }
    fn embed(
        &self,
        images: &[ArrayView3<'_, u8>],
    ) -> std::result::Result<Vec<Vec<f32>>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(images
            .iter()
            .map(|im| {
                let red =
                    im.iter().step_by(3).map(|&v| v as f32).sum::<f32>() / (im.len() / 3) as f32;
                let mut e = vec![0.1f32; 8];
                e[0] = red / 255.0;
                e
            })
            .collect())
    }
}

#[test]
fn embedder_and_head_judge_frames() {
    let device = Device::default();
    // A head that says class 2 ("Violence") when the first embedding value is large, else safe:
    // identity-like first layer, BN as identity, final layer reading unit 0.
    let mut t = BTreeMap::new();
    let mut w0 = vec![0f32; 512 * 8];
    w0[0] = 1.0;
    t.insert(
        "network.layers.0.weight".into(),
        TensorData::new(w0, [512, 8]),
    );
    t.insert(
        "network.layers.0.bias".into(),
        TensorData::new(vec![0f32; 512], [512]),
    );
    for (layer, n) in [(1, 512), (4, 256)] {
        t.insert(
            format!("network.layers.{layer}.weight"),
            TensorData::new(vec![1f32; n], [n]),
        );
        t.insert(
            format!("network.layers.{layer}.bias"),
            TensorData::new(vec![0f32; n], [n]),
        );
        t.insert(
            format!("network.layers.{layer}.running_mean"),
            TensorData::new(vec![0f32; n], [n]),
        );
        t.insert(
            format!("network.layers.{layer}.running_var"),
            TensorData::new(vec![1f32 - 1e-5; n], [n]),
        );
    }
    let mut w3 = vec![0f32; 256 * 512];
    w3[0] = 1.0;
    t.insert(
        "network.layers.3.weight".into(),
        TensorData::new(w3, [256, 512]),
    );
    t.insert(
        "network.layers.3.bias".into(),
        TensorData::new(vec![0f32; 256], [256]),
    );
    let mut w6 = vec![0f32; 7 * 256];
    w6[2 * 256] = 40.0; // class 2 logit = 40 · unit 0
    t.insert(
        "network.layers.6.weight".into(),
        TensorData::new(w6, [7, 256]),
    );
    let mut b6 = vec![0f32; 7];
    b6[0] = 20.0; // safe logit = 20
    t.insert("network.layers.6.bias".into(), TensorData::new(b6, [7]));
    let mut head = SafetyClassifierConfig::new()
        .with_input_size(8)
        .init(&device);
    head.load_checkpoint(&Checkpoint::from_tensors(t)).unwrap();
    let classifier = EmbeddingSafetyClassifier::new(MeanColour, head, &device);

    // Red frames: unit 0 = 1/‖e‖ ≈ 0.94 → class-2 logit 37.7 > 20. Dark frames: 0 → safe.
    let mut frames = Array4::<u8>::zeros((30, 4, 4, 3));
    let judged = classifier
        .classify_frames(&[frames.index_axis(ndarray::Axis(0), 0)])
        .unwrap();
    assert_eq!(judged[0].class, 0);
    assert_eq!(judged[0].class_name, SAFETY_CLASSES[0]);
    for v in frames.slice_mut(ndarray::s![24, .., .., 0]).iter_mut() {
        *v = 255;
    }
    let guard = SampledVideoSafety::new(classifier);
    let verdict = guard.check_frames(frames.view(), Some(25.0)).unwrap();
    assert!(!verdict.is_safe());
    assert!(
        verdict
            .reason()
            .unwrap()
            .contains("frame 24 classified as Violence"),
        "{verdict}"
    );
    // Sampling at 2 fps of a 25 fps video checks frames 0, 12, 24: still caught; frame 23 is not
    // sampled.
    let guard = guard.with_sample_fps(2.0);
    assert_eq!(guard.sampled_indices(30, Some(25.0)), vec![0, 12, 24]);
    assert!(
        !guard
            .check_frames(frames.view(), Some(25.0))
            .unwrap()
            .is_safe()
    );
    let mut other = Array4::<u8>::zeros((30, 4, 4, 3));
    for v in other.slice_mut(ndarray::s![23, .., .., 0]).iter_mut() {
        *v = 255;
    }
    assert!(
        guard
            .check_frames(other.view(), Some(25.0))
            .unwrap()
            .is_safe()
    );
    assert!(!guard.check_frames(other.view(), None).unwrap().is_safe());
}

/// A classifier that fails.
struct Broken;
impl VideoSafetyClassifier for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    fn classify_frames(&self, _: &[ArrayView3<'_, u8>]) -> Result<Vec<FrameSafety>> {
        Err(cosmos_guardrail::Error::Component {
            component: "broken".into(),
            message: "no model".into(),
        })
    }
}

#[test]
fn classifier_errors_and_bad_frames_are_errors() {
    let guard = SampledVideoSafety::new(Broken);
    let frames = Array4::<u8>::zeros((2, 4, 4, 3));
    assert!(
        guard
            .check_frames(frames.view(), None)
            .unwrap_err()
            .to_string()
            .contains("no model")
    );
    let empty = Array4::<u8>::zeros((2, 0, 4, 3));
    assert!(guard.check_frames(empty.view(), None).is_err());
}
