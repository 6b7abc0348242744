//! Guardrails for Cosmos world generation.
//!
//! Before generation, a prompt goes through [`TextGuard`]s: the [`Blocklist`] (keyword lists
//! matched robustly against look-alike letters, leetspeak, spacing and inflections, never
//! inside innocent words) and any [`TextSafetyClassifier`] (the reference uses the Aegis LLM).
//! After generation, the frames go through [`VideoGuard`]s (the per-frame
//! [`VideoSafetyClassifier`], an MLP over SigLIP embeddings in the reference) and
//! [`FramePostprocessor`]s ([`FacePixelator`], with the [`RetinaFace`] or [`Mtcnn`] face
//! detector). [`Guardrail`] chains them and plugs into the generation pipelines.
//!
//! Reference: cosmos-predict1 `cosmos_predict1/auxiliary/guardrail/`.
//!
//! ```
//! use cosmos_guardrail::{Blocklist, Guardrail};
//!
//! let guardrail = Guardrail::new().with_text_guard(Blocklist::builtin());
//! assert!(guardrail.check_prompt("A robot walks through a sunny orchard.").unwrap().is_safe());
//! let verdict = guardrail.check_prompt("a b0mbs going off in a crowd").unwrap();
//! assert!(!verdict.is_safe());
//! println!("{verdict}");
//! ```

pub mod blocklist;
mod error;
pub mod face;
mod guard;
#[cfg(feature = "media")]
pub mod media;
mod runner;
pub mod text;
pub mod video_safety;

pub use blocklist::{BlockMatch, Blocklist, BlocklistConfig, ListEntry, ListKind, MatchHow};
/// The burn this crate is built on, re-exported so that callers use the same version for the
/// tensors and devices they pass in: `cosmos_guardrail::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use error::{Error, Result};
pub use face::{
    FaceBox, FaceDetector, FacePixelator, Mtcnn, MtcnnConfig, RetinaFace, RetinaFaceConfig,
    RetinaFaceDetector,
};
pub use guard::{FramePostprocessor, PostprocessReport, TextGuard, Verdict, VideoGuard};
pub use runner::{Guardrail, TensorVideoOutcome, VideoOutcome};
pub use text::{ClassifierGuard, TextSafety, TextSafetyClassifier};
pub use video_safety::{
    ImageEmbedder, SafetyClassifier, SafetyClassifierConfig, SampledVideoSafety,
    VideoSafetyClassifier,
};
