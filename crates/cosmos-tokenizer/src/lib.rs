//! NVIDIA's Cosmos tokenizers in Rust on burn: the continuous (CI) and discrete (DI) image
//! tokenizers and the causal continuous (CV) and discrete (DV) video tokenizers, exactly as the
//! reference `cosmos_tokenizer` package defines them (Haar wavelet patcher, causal 3D
//! convolutions, factorized spatio-temporal residual blocks, spatial and causal temporal
//! attention, per-frame GroupNorm, FSQ), loading NVIDIA's checkpoints (`encoder.jit`,
//! `decoder.jit`, `autoencoder.jit`, or safetensors with the same key names) by their own
//! key names.
//!
//! - [`Tokenizer`]: encode (`[b, 3, 1 + k·T, H, W]` in `[−1, 1]` → latent, or codes and FSQ
//!   indices), decode from latents, codes or indices; typed errors for bad input
//!   ([`Error`]), explicit [`pad_frames`] / [`pad_spatial`] for inputs it refuses.
//! - [`TokenizerConfig`]: the reference's constructor arguments (serde, any values), and the
//!   published models as presets ([`PRESETS`]: `CI8x8` … `DV8x16x16`).
//! - [`Chunking`]: temporal windows and overlapping spatial tiles for long and large inputs.
//! - [`StreamingEncoder`]: frames in a chunk at a time, latents out as soon as they are
//!   determined, equal to the offline encoding.
//! - [`verify_fixture`]: parity with the reference on a fixture (`cosmos verify`).
//! - `media` (feature `media`): images and videos from and to files, PSNR / SSIM.
//!
//! # Example
//!
//! A small continuous video tokenizer with random weights (a published one is
//! `Tokenizer::load("…/Cosmos-Tokenizer-CV8x8x8", None, &device)`):
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use cosmos_tokenizer::{Tokenizer, TokenizerConfig};
//!
//! # fn main() -> cosmos_tokenizer::Result<()> {
//! let device = Device::flex();
//! let mut config = TokenizerConfig::preset("CV4x8x8")?; // spatial ×8, temporal ×4
//! config.channels = 8; // shrink the published architecture for the example
//! config.channels_mult = vec![1, 2];
//! config.num_res_blocks = 1;
//! let tokenizer = Tokenizer::random(config, &device)?;
//!
//! let video = Tensor::<5>::random([1, 3, 9, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
//! let encoded = tokenizer.encode(video)?;
//! assert_eq!(encoded.latent.dims(), [1, 16, 3, 4, 4]); // 1 + 8/4 latent frames, 32/8 pixels
//! let decoded = tokenizer.decode(encoded.latent)?;
//! assert_eq!(decoded.dims(), [1, 3, 9, 32, 32]);
//!
//! // 10 frames are not 1 + k·4: a typed error says so and names the fix.
//! let odd = Tensor::<5>::zeros([1, 3, 10, 32, 32], &device);
//! assert!(matches!(tokenizer.encode(odd), Err(cosmos_tokenizer::Error::FrameCount { .. })));
//! # Ok(())
//! # }
//! ```

pub mod cache;
pub mod chunking;
pub mod config;
pub mod diffusers;
mod error;
pub mod fsq;
pub mod layers3d;
#[cfg(feature = "media")]
pub mod media;
pub mod model;
pub mod network2d;
pub mod network3d;
mod ops;
pub mod padding;
pub mod parity;
pub mod patching;
pub mod pretrained;
pub mod streaming;
mod tokenizer;

/// The burn this crate is built on, re-exported so that callers use the same version for the
/// tensors and devices they pass in: `cosmos_tokenizer::burn::tensor::{Device, Tensor}`.
pub use burn;
pub use chunking::Chunking;
pub use config::{PRESETS, TokenizerConfig, TokenizerKind};
pub use error::{Error, Result};
pub use fsq::FsqQuantizer;
pub(crate) use padding::frame_count_error;
pub use padding::{Padding, pad_frames, pad_spatial, padded_frame_count};
pub use parity::verify_fixture;
pub use streaming::StreamingEncoder;
pub use tokenizer::{Encoded, EncodedImage, Tokenizer};
