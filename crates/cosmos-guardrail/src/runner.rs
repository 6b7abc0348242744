//! The guardrail runner: pre-guards on the prompt, post-guards and post-processors on the
//! frames, in the order added (the reference's `GuardrailRunner`).

use burn::tensor::{Tensor, TensorData};
use ndarray::Array4;

use crate::error::{Error, Result};
use crate::guard::{FramePostprocessor, PostprocessReport, TextGuard, Verdict, VideoGuard};
use crate::text::empty_prompt_verdict;

/// Chains pre-generation and post-generation guards.
///
/// The generation pipelines (`cosmos-diffusion`, `cosmos-ar`) call the guardrail through small
/// traits of their own (`PromptGuard::check_prompt`, `VideoGuard::check_video`); the facade
/// implements them with [`Guardrail::check_prompt`] and [`Guardrail::guard_video_tensor`].
#[derive(Default)]
pub struct Guardrail {
    text_guards: Vec<Box<dyn TextGuard>>,
    video_guards: Vec<Box<dyn VideoGuard>>,
    postprocessors: Vec<Box<dyn FramePostprocessor>>,
}

/// The result of guarding frames.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoOutcome {
    /// Safe, or which video guard refused (post-processors do not run on refused videos).
    pub verdict: Verdict,
    /// What each post-processor did, by name.
    pub reports: Vec<(String, PostprocessReport)>,
}

/// The result of guarding a video tensor.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum TensorVideoOutcome {
    /// The video passed; `video` is the input with the post-processors' edits (bit-identical
    /// to the input where nothing was changed).
    Allow {
        /// `[batch, 3, T, H, W]` in [−1, 1].
        video: Tensor<5>,
        /// What the post-processors did, per batch item.
        reports: Vec<Vec<(String, PostprocessReport)>>,
    },
    /// A video guard refused.
    Block(String),
}

impl std::fmt::Debug for Guardrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: Vec<&str>| v.join(", ");
        f.debug_struct("Guardrail")
            .field(
                "text_guards",
                &names(self.text_guards.iter().map(|g| g.name()).collect()),
            )
            .field(
                "video_guards",
                &names(self.video_guards.iter().map(|g| g.name()).collect()),
            )
            .field(
                "postprocessors",
                &names(self.postprocessors.iter().map(|g| g.name()).collect()),
            )
            .finish()
    }
}

impl Guardrail {
    /// A guardrail with no guard (it still refuses empty prompts).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pre-generation prompt check.
    pub fn with_text_guard(mut self, guard: impl TextGuard + 'static) -> Self {
        self.text_guards.push(Box::new(guard));
        self
    }

    /// Adds a post-generation frame check.
    pub fn with_video_guard(mut self, guard: impl VideoGuard + 'static) -> Self {
        self.video_guards.push(Box::new(guard));
        self
    }

    /// Adds a post-generation frame edit.
    pub fn with_postprocessor(mut self, processor: impl FramePostprocessor + 'static) -> Self {
        self.postprocessors.push(Box::new(processor));
        self
    }

    /// Names of the text guards, in order.
    pub fn text_guard_names(&self) -> Vec<&str> {
        self.text_guards.iter().map(|g| g.name()).collect()
    }

    /// Runs the text guards in order; the first refusal wins. Empty prompts are refused.
    pub fn check_prompt(&self, prompt: &str) -> Result<Verdict> {
        if let Some(v) = empty_prompt_verdict(prompt, "guardrail") {
            return Ok(v);
        }
        for guard in &self.text_guards {
            let verdict = guard.check_prompt(prompt)?;
            if !verdict.is_safe() {
                return Ok(verdict);
            }
        }
        Ok(Verdict::Safe)
    }

    /// Runs the video guards on `[T, H, W, 3]` frames, then (if safe) the post-processors,
    /// which edit `frames` in place.
    pub fn guard_frames(&self, frames: &mut Array4<u8>, fps: Option<f64>) -> Result<VideoOutcome> {
        crate::face::check_frames("guardrail frames", frames.shape())?;
        for guard in &self.video_guards {
            let verdict = guard.check_frames(frames.view(), fps)?;
            if !verdict.is_safe() {
                return Ok(VideoOutcome {
                    verdict,
                    reports: Vec::new(),
                });
            }
        }
        let mut reports = Vec::new();
        for p in &self.postprocessors {
            reports.push((p.name().to_string(), p.process(frames)?));
        }
        Ok(VideoOutcome {
            verdict: Verdict::Safe,
            reports,
        })
    }

    /// Guards a generated video tensor `[batch, 3, T, H, W]` in [−1, 1] (the pipelines'
    /// layout): each batch item is turned into 8-bit RGB frames, checked and post-processed;
    /// pixels a post-processor changed are written back, all others are left bit-identical.
    pub fn guard_video_tensor(&self, video: Tensor<5>) -> Result<TensorVideoOutcome> {
        let [b, c, t, h, w] = video.dims();
        if c != 3 || t == 0 || h == 0 || w == 0 {
            return Err(Error::Shape {
                what: "guardrail video tensor",
                expected: "[batch, 3, T, H, W] with T, H, W > 0".into(),
                found: vec![b, c, t, h, w],
            });
        }
        let device = video.device();
        let mut values = video
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| Error::InvalidArgument(format!("video tensor data: {e:?}")))?;
        let index = |bi: usize, ch: usize, ti: usize, y: usize, x: usize| {
            (((bi * 3 + ch) * t + ti) * h + y) * w + x
        };
        let mut all_reports = Vec::with_capacity(b);
        for bi in 0..b {
            let mut frames = Array4::<u8>::zeros((t, h, w, 3));
            for ((ti, y, x, ch), v) in frames.indexed_iter_mut() {
                let f = values[index(bi, ch, ti, y, x)];
                *v = ((f.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
            }
            let outcome = self.guard_frames(&mut frames, None)?;
            if let Verdict::Unsafe { guard, reason } = outcome.verdict {
                return Ok(TensorVideoOutcome::Block(format!("{guard}: {reason}")));
            }
            for (_, report) in &outcome.reports {
                for (ti, regions) in report.regions.iter().enumerate() {
                    for &[x1, y1, x2, y2] in regions {
                        for y in y1..y2 {
                            for x in x1..x2 {
                                for ch in 0..3 {
                                    values[index(bi, ch, ti, y, x)] =
                                        frames[[ti, y, x, ch]] as f32 / 127.5 - 1.0;
                                }
                            }
                        }
                    }
                }
            }
            all_reports.push(outcome.reports);
        }
        let video = Tensor::from_data(TensorData::new(values, [b, 3, t, h, w]), &device);
        Ok(TensorVideoOutcome::Allow {
            video,
            reports: all_reports,
        })
    }
}
