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
//!
//! The backend is chosen at run time by the [`Device`](cosmos_nn::burn::tensor::Device): burn's
//! `flex` CPU backend by default, `wgpu` and `cuda` behind the features of the same names.

/// The burn every crate of the workspace is built on, re-exported so that callers use the same
/// version for the tensors and devices they pass in: `cosmos_wfm::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use cosmos_media as media;
pub use cosmos_nn as nn;
pub use cosmos_text as text;
