//! Post-training of Cosmos world models, and a small physics world to learn from.
//!
//! - [`world`]: a deterministic 2D physics world (balls, gravity, walls, collisions, pushes)
//!   rendered to small RGB clips with the actions recorded.
//! - [`tokenizer_train`]: trains a small continuous video tokenizer on such clips.
//! - [`conditioning`], [`lora`], [`trainer`], [`data`]: fine-tuning a Cosmos DiT with extra
//!   per-frame conditioning (action, camera, view) from zero-initialised projections, full or
//!   LoRA, on webdataset shards or cached latents.
//! - [`world_model`]: the action-conditioned world model shipped with the crate, its folder
//!   format and loader, and rollouts (batched over candidate plans).
//! - [`simulator`]: closed-loop stepping for a robotics stack (`model.simulator(context)`,
//!   `sim.step(&action)`).
//! - [`ar`]: fine-tuning the Cosmos autoregressive model on discrete video tokens (full or
//!   LoRA, optional per-frame action conditioning).
//! - [`metrics`]: PSNR and ball-position error of predictions.
//! - [`train_log`]: `metrics.jsonl` and `loss.png` beside every training checkpoint; [`plot`]:
//!   the PNG line charts (loss curves, `cosmos demo`'s per-frame plot).
//! - [`recipes`]: `cosmos train dit` / `cosmos train ar` as library calls (a world-model folder
//!   or a diffusers DiT as the base).

pub mod ar;
pub mod conditioning;
pub mod data;
pub mod error;
pub mod lora;
pub mod metrics;
pub mod plot;
pub mod recipes;
pub mod simulator;
pub mod tokenizer_train;
pub mod train_log;
pub mod trainer;
pub mod world;
pub mod world_model;

/// The burn this crate is built on, re-exported so that callers use the same version for the
/// tensors and devices they pass in: `cosmos_posttrain::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use error::{Error, Result};
