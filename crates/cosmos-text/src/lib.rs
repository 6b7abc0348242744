//! The T5 text encoder of the Cosmos world models, in burn, with T5's SentencePiece
//! tokenization in Rust.
//!
//! Cosmos-1.0's diffusion and autoregressive Video2World models condition on the encoder of
//! `google-t5/t5-11b` (the original T5: ReLU feed-forward, d_model 1024, 128 heads × d_kv 128);
//! the same code runs T5 v1.1 (gated-GELU). The pieces:
//! - [`T5Config`]: Hugging Face's `config.json` as it is, plus presets
//!   ([`T5Config::t5_11b`], [`T5Config::t5_v1_1_xxl`]);
//! - [`T5Encoder`]: the network, loading `T5EncoderModel` checkpoints by their own key names
//!   ([`T5Encoder::load_checkpoint`]);
//! - [`T5Tokenizer`] over [`SentencePiece`]: `spiece.model` read and applied in Rust, ids equal
//!   to SentencePiece's own;
//! - [`TextEncoder`]: prompts → `[batch, 512, d_model]` embeddings, zero past each prompt's
//!   length, as the Cosmos pipelines prepare them.
//!
//! At toy size, with the test SentencePiece model shipped in this crate and random weights:
//!
//! ```
//! use cosmos_text::{T5Config, T5Tokenizer, TextEncoder};
//! use cosmos_nn::burn::tensor::Device;
//!
//! # fn main() -> cosmos_text::Result<()> {
//! let device = Device::flex();
//! let spm = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/spm/tiny_t5.model");
//! let tokenizer = T5Tokenizer::from_file(spm)?;
//! let config = T5Config {
//!     vocab_size: tokenizer.vocab_size(),
//!     d_model: 32,
//!     d_kv: 8,
//!     d_ff: 64,
//!     num_layers: 2,
//!     num_heads: 4,
//!     ..T5Config::default()
//! };
//! let text = TextEncoder::new(tokenizer, config.init(&device)?)?.with_max_length(16)?;
//! let out = text.encode(&["a robot walks", &"far ".repeat(40)], &device)?;
//! assert_eq!(out.embeddings.dims(), [2, 16, 32]);
//! assert_eq!(out.truncated, vec![false, true]); // the second prompt was cut to 16 tokens
//! assert_eq!(out.warnings.len(), 1);
//! assert!(text.encode(&["   "], &device).is_err()); // empty prompts are refused
//! # Ok(()) }
//! ```
//!
//! With the real weights (a Hugging Face `google-t5/t5-11b` folder):
//!
//! ```no_run
//! use cosmos_text::TextEncoder;
//! # fn main() -> cosmos_text::Result<()> {
//! let device = cosmos_nn::device::default_device();
//! let text = TextEncoder::from_pretrained("checkpoints/google-t5/t5-11b", &device)?;
//! let out = text.encode(&["A robot arm stacks three red cubes."], &device)?;
//! assert_eq!(out.embeddings.dims(), [1, 512, 1024]);
//! # Ok(()) }
//! ```

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod model;
pub mod parity;
pub mod pipeline;
pub mod relative_position;
pub mod tokenizer;

/// The burn this crate is built on, re-exported so that callers use the same version for the
/// tensors and devices they pass in: `cosmos_text::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use config::{Activation, FeedForward, T5Config};
pub use error::{Error, Result};
pub use model::T5Encoder;
pub use parity::verify_fixture;
pub use pipeline::{TextEmbeddings, TextEncoder};
pub use tokenizer::{SentencePiece, T5_MAX_LENGTH, T5Tokenizer, TokenBatch, Truncation};
