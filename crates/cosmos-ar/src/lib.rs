//! # cosmos-ar
//!
//! The Cosmos-1.0 autoregressive world model in Rust on burn: the transformer over discrete
//! video tokens ([`ArTransformer`], configured by [`ArConfig`] with presets for the published
//! 4B, 5B-Video2World, 12B and 13B-Video2World shapes), loading of cosmos-predict1 checkpoints
//! by their original key names ([`checkpoint`]), incremental decoding with a preallocated
//! [`KvCache`], seeded temperature / top-p / top-k [`sampling`], and generation of video
//! continuations with the reference's token layout.
//!
//! Model code is backend-agnostic: everything runs on the burn [`Device`](burn::tensor::Device)
//! the model was built on. On burn's flex CPU backend, one-token decoding steps use a
//! row-wise matrix-vector kernel ([`cosmos_nn::kernels::decode`]) that streams each weight
//! once across all cores.
//!
//! ```
//! use cosmos_ar::{ArConfig, SamplingConfig, generate};
//! use cosmos_nn::burn::tensor::Device;
//!
//! // A toy network with random weights (real ones: `cosmos_ar::checkpoint::load`).
//! let config = ArConfig {
//!     dim: 24, n_layers: 1, n_heads: 2, n_kv_heads: Some(1), vocab_size: 50,
//!     ffn_hidden_size: 32, max_seq_len: 16, rope_dim: "3D".into(),
//!     video_latent_shape: Some(vec![2, 2, 2]), ..ArConfig::default()
//! };
//! let model = config.init(&Device::flex())?;
//! let out = generate(&model, &[vec![1, 2, 3]], 4, &SamplingConfig::default(), None, &mut |_| {})?;
//! assert_eq!(out.tokens[0].len(), 4);
//! # Ok::<(), cosmos_ar::Error>(())
//! ```

pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod generate;
pub mod model;
pub mod parity;
pub mod positions;
pub mod sampling;
pub mod tokenizer;
pub mod video2world;

/// The burn this crate is built on, re-exported so that callers use the same version for the
/// tensors and devices they pass in: `cosmos_ar::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use cache::KvCache;
pub use config::{ArConfig, ArPreset};
pub use error::{Error, Result};
pub use generate::{Generation, Progress, generate, generate_with_offsets};
pub use model::{ArTransformer, CrossContext, Logits};
pub use parity::verify_fixture;
pub use sampling::{Sampler, SamplingConfig};
pub use video2world::{
    DiffusionDecoder, Video2World, VideoTokenLayout, VideoTokenizer, WorldInput, WorldOutput,
};
