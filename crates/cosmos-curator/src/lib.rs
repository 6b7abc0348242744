//! Video curation for cosmos-rs: raw videos in, training clips out, the way NVIDIA's
//! cosmos-curate prepares data for Cosmos world models, on the CPU and with bounded memory.
//!
//! Pipeline ([`Curator`]): decode each video once at a small size ([`analysis`]), find shots
//! ([`shot`]: PySceneDetect's content detector, or any [`ShotDetector`]), turn shots into clips of
//! 2–60 s ([`clips`]), score and filter them ([`filters`]: motion, visual quality, overlay text,
//! video type), caption them ([`caption`]), embed and deduplicate them ([`embed`], [`dedup`]),
//! re-encode the survivors to H.264 ([`transcode`]) and pack them into webdataset shards
//! ([`shard`]) with a JSON-lines manifest ([`manifest`]). Every output is written atomically
//! ([`durable`]): a killed run started again finishes the job with no clip lost or repeated, and
//! `--shard i/n` ([`ShardSpec`]) splits one job over several machines. Inputs and output may be
//! in object stores (`s3://`, `gs://`, `az://`; [`store`]) with the same guarantees.
//! [`report`] writes the run as a page to look at (`OUT/report.html`, thumbnails of every clip).
//!
//! Decoding and encoding go through `cosmos-media` (FFmpeg). Model-based stages (TransNetV2
//! shot detection, an aesthetic predictor, a video-type classifier, a VLM captioner, video
//! embeddings) plug in through traits; the built-ins need no model weights.
//!
//! # Example
//!
//! ```no_run
//! use cosmos_curator::{ContentDetector, CurateConfig, Curator, ShardSpec, detect_shots};
//!
//! # fn main() -> cosmos_curator::Result<()> {
//! // Shots of one video.
//! let shots = detect_shots("video.mp4", &mut ContentDetector::default())?;
//! println!("{} shots in {} frames", shots.shots.len(), shots.frame_count);
//!
//! // A folder of videos into shards and a manifest.
//! let summary = Curator::new(CurateConfig::default())?
//!     .run(&["videos/".into()], "curated/".as_ref(), ShardSpec::default())?;
//! print!("{summary}");
//! # Ok(())
//! # }
//! ```

pub mod analysis;
pub mod caption;
pub mod clips;
pub mod dedup;
pub mod durable;
pub mod embed;
mod error;
pub mod filters;
pub mod inputs;
pub mod manifest;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod shard;
pub mod shot;
pub mod signals;
pub mod store;
pub mod stream;
#[cfg(feature = "tokenizer")]
pub mod tokenizer_embedding;
pub mod transcode;

pub use error::{Error, Result};
pub use inputs::ShardSpec;
pub use pipeline::{CaptionConfig, CurateConfig, Curator, ShotDetectorConfig};
pub use shot::{
    AdaptiveDetector, AdaptiveDetectorConfig, ContentDetector, ContentDetectorConfig, Shot,
    ShotDetector, ShotList, detect_shots, detect_shots_with, shots_from_cuts,
};
