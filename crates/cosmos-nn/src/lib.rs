//! Shared building blocks of cosmos-rs: the neural-network layers used by more than one model
//! (attention, 3D rotary embedding, RMSNorm / QK-norm, AdaLN modulation, causal 3D convolution),
//! video tensor helpers, checkpoint IO (safetensors, PyTorch zip pickles, TorchScript archives)
//! and the parity-fixture harness behind `cosmos verify`, plus the hand-written CPU kernels of
//! the flex backend the models' fast paths run on ([`kernels`]).
//!
//! Everything is written against burn 0.22's backend-agnostic tensors: a tensor's backend is
//! the [`Device`](burn::tensor::Device) it lives on, chosen by the caller (see [`device`]).

pub mod adaln;
pub mod attention;
pub mod causal_conv;
pub mod checkpoint;
pub mod device;
pub mod error;
pub mod kernels;
pub mod norm;
pub mod parity;
pub mod rope;
pub mod simd;
pub mod video;

/// The burn this crate is built on, re-exported so that callers use the same version for the
/// tensors and devices they pass in: `cosmos_nn::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use error::{Error, Result};
