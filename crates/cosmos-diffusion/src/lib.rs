//! # cosmos-diffusion
//!
//! The Cosmos-1.0 diffusion world model in Rust on burn:
//!
//! - [`CosmosDit`], the diffusion transformer (3D patches, 3D RoPE with per-axis NTK scaling and
//!   fps-scaled time, learnable absolute position embedding, AdaLN-LoRA, self- and cross-attention,
//!   GELU MLP, final AdaLN layer), configured by [`DitConfig`] (diffusers' `config.json` or
//!   cosmos-predict1's `GeneralDIT` arguments) and loaded from either checkpoint naming
//!   ([`checkpoint`]);
//! - EDM preconditioning and schedules ([`edm`]);
//! - samplers behind one [`Sampler`] trait ([`sampler`]: Euler as cosmos-predict1 inference runs
//!   it, the RES 2nd-order multistep sampler of the Cosmos-1.0 release, Heun) driven by a guided
//!   denoiser with classifier-free guidance and Video2World conditioning frames ([`guidance`]);
//! - Text2World and Video2World pipelines over small traits for the text encoder, the latent
//!   tokenizer and the guardrail ([`pipeline`]);
//! - the parity checks behind `cosmos verify --kind dit|edm|sample` ([`parity`]).
//!
//! Model code is backend-agnostic: everything runs on the burn [`Device`](burn::tensor::Device)
//! the network was built on.

pub mod adapters;
pub mod checkpoint;
pub mod config;
pub mod cpu;
pub mod dit;
pub mod edm;
pub mod embed;
pub mod error;
pub mod guidance;
pub mod noise;
pub mod parity;
pub mod pipeline;
#[cfg(all(feature = "t5", feature = "video-tokenizer"))]
pub mod pretrained;
pub mod sampler;

pub use checkpoint::{DitFiles, KeyNaming, load_dit};
pub use config::{DitConfig, DitPreset};
pub use dit::{CosmosDit, DitConditioning, DitPositions};
pub use edm::{EdmPreconditioner, SIGMA_DATA};
pub use error::{Error, Result};
pub use guidance::{Branch, ConditionFrames, DitNetwork, GuidedDenoiser, Network};
pub use noise::NoiseGenerator;
pub use parity::{fixture_tolerance, verify_fixture};
pub use pipeline::{
    Generation, GenerationRequest, LatentDecoder, LatentEncoder, PromptGuard, PromptVerdict,
    TextEmbeddings, TextEncoder, VideoCondition, VideoGuard, VideoVerdict, WorldPipeline,
};
pub use sampler::{
    Denoiser, EulerSampler, GuidanceSpace, HeunSampler, Res2abSampler, Sampler, SamplerConfig,
    SamplerKind, SamplerStep,
};
