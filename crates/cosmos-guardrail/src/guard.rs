//! The guard traits every check implements, and their verdict.
//!
//! - [`TextGuard`]: a pre-generation check of the prompt ([`Blocklist`](crate::Blocklist),
//!   a [`TextSafetyClassifier`](crate::TextSafetyClassifier) through
//!   [`ClassifierGuard`](crate::ClassifierGuard)).
//! - [`VideoGuard`]: a post-generation check of the frames
//!   ([`SampledVideoSafety`](crate::SampledVideoSafety)).
//! - [`FramePostprocessor`]: a post-generation edit of the frames
//!   ([`FacePixelator`](crate::FacePixelator)).
//!
//! [`Guardrail`](crate::Guardrail) chains them.

use std::fmt;

use ndarray::{Array4, ArrayView4};

use crate::error::Result;

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found.
    Safe,
    /// Refused.
    Unsafe {
        /// The guard that refused.
        guard: String,
        /// Why, in words (which rule, which category, which frame).
        reason: String,
    },
}

impl Verdict {
    /// Whether the input passed.
    pub fn is_safe(&self) -> bool {
        matches!(self, Self::Safe)
    }

    /// The refusal message, if refused.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Safe => None,
            Self::Unsafe { reason, .. } => Some(reason),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Safe => f.write_str("safe"),
            Self::Unsafe { guard, reason } => write!(f, "blocked by {guard}: {reason}"),
        }
    }
}

/// A pre-generation check of a prompt.
pub trait TextGuard {
    /// Short name shown in refusals (`blocklist`, `aegis`).
    fn name(&self) -> &str;
    /// Checks a prompt.
    fn check_prompt(&self, prompt: &str) -> Result<Verdict>;
}

/// A post-generation check of video frames.
pub trait VideoGuard {
    /// Short name shown in refusals.
    fn name(&self) -> &str;
    /// Checks `[T, H, W, 3]` RGB frames; `fps` when known (for frame sampling).
    fn check_frames(&self, frames: ArrayView4<'_, u8>, fps: Option<f64>) -> Result<Verdict>;
}

/// What a post-processor did to one video.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostprocessReport {
    /// Per frame, the regions changed, `[x1, y1, x2, y2]` in pixels (end-exclusive).
    pub regions: Vec<Vec<[usize; 4]>>,
}

impl PostprocessReport {
    /// Total number of regions changed.
    pub fn count(&self) -> usize {
        self.regions.iter().map(Vec::len).sum()
    }
}

/// A post-generation edit of video frames (e.g. face pixelation).
pub trait FramePostprocessor {
    /// Short name shown in reports.
    fn name(&self) -> &str;
    /// Edits `[T, H, W, 3]` RGB frames in place.
    fn process(&self, frames: &mut Array4<u8>) -> Result<PostprocessReport>;
}

impl<T: TextGuard + ?Sized> TextGuard for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn check_prompt(&self, prompt: &str) -> Result<Verdict> {
        (**self).check_prompt(prompt)
    }
}
