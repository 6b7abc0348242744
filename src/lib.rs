//! # cosmos-rs
//!
//! NVIDIA's Cosmos world-foundation-model platform rebuilt in Rust on burn. This facade crate
//! re-exports the workspace crates under short names and hosts the `cosmos` command-line tool;
//! each crate can also be used on its own (`cargo add cosmos-tokenizer`).
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`nn`] | `cosmos-nn` | shared layers, checkpoint IO, parity harness, device selection |
//! | [`media`] | `cosmos-media` | video and image files in and out, PSNR / SSIM |
//! | [`text`] | `cosmos-text` | T5 text encoder and SentencePiece tokenizer |
//! | [`tokenizer`] | `cosmos-tokenizer` | continuous and discrete causal image and video tokenizers |
//! | [`diffusion`] | `cosmos-diffusion` | the Cosmos DiT, EDM, samplers, Text2World and Video2World |
//! | [`ar`] | `cosmos-ar` | the autoregressive model over discrete video tokens, KV cache, sampling |
//! | [`posttrain`] | `cosmos-posttrain` | post-training, the world-model folder and its closed-loop simulator |
//! | [`guardrail`] | `cosmos-guardrail` | pre-guard (blocklist) and post-guard (safety head, face pixelation) |
//! | [`curator`] | `cosmos-curator` | video curation: shots, filters, captions, dedup, webdataset shards |
//!
//! Through the facade, the shipped world model stepped by a planner:
//!
//! ```no_run
//! use cosmos_wfm::burn::tensor::Device;
//! use cosmos_wfm::posttrain::world::{WorldConfig, episode};
//! use cosmos_wfm::posttrain::world_model::WorldModel;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = Device::default();
//! let model = WorldModel::load_shipped(&device)?;
//! let observed = episode(&WorldConfig::default(), 7, 5); // 5 frames of the built-in world
//! let mut sim = model.simulator(observed.frames.view())?;
//! let push_right = [1.0, 0.0, 0.0, 6.0, 0.0]; // ball 0, dx, dy
//! let next = sim.step(&push_right)?; // the next 4 frames, [4, 64, 64, 3] u8
//! let video = cosmos_wfm::media::Video::new(next, 8.0)?;
//! cosmos_wfm::media::write_video("next.mp4", &video, &Default::default())?;
//! # Ok(())
//! # }
//! ```
//!
//! The backend is chosen at run time by the [`Device`](cosmos_nn::burn::tensor::Device): burn's
//! `flex` CPU backend by default, `wgpu` and `cuda` behind the features of the same names.

/// The burn every crate of the workspace is built on, re-exported so that callers use the same
/// version for the tensors and devices they pass in: `cosmos_wfm::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use cosmos_ar as ar;
pub use cosmos_curator as curator;
pub use cosmos_diffusion as diffusion;
pub use cosmos_guardrail as guardrail;
pub use cosmos_media as media;
pub use cosmos_nn as nn;
pub use cosmos_posttrain as posttrain;
pub use cosmos_text as text;
pub use cosmos_tokenizer as tokenizer;
