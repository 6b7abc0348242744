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
//! - the diffusion decoder of the autoregressive models: the token-conditioned DiT and its
//!   chunked sampling recipe ([`diffusion_decoder`]);
//! - the parity checks behind `cosmos verify --kind dit|edm|sample|diffusion-decoder` ([`parity`]).
//!
//! Model code is backend-agnostic: everything runs on the burn [`Device`](burn::tensor::Device)
//! the network was built on. On burn's flex CPU backend the attention, GELU, AdaLN and
//! QK-norm + RoPE steps take the fused kernels of [`cosmos_nn::kernels::attention`].
//!
//! A toy network with random weights, sampled with classifier-free guidance (what
//! [`WorldPipeline`] does between the text encoder and the video tokenizer):
//!
//! ```
//! use cosmos_diffusion::{DitConfig, DitNetwork, GuidedDenoiser, NoiseGenerator, SamplerConfig};
//! use cosmos_nn::burn::tensor::Device;
//!
//! # fn main() -> cosmos_diffusion::Result<()> {
//! let device = Device::flex();
//! let dit = DitConfig {
//!     num_attention_heads: 2,
//!     attention_head_dim: 24,
//!     num_layers: 1,
//!     text_embed_dim: 16,
//!     adaln_lora_dim: 8,
//!     max_size: [4, 8, 8],
//!     ..DitConfig::default()
//! }
//! .init(&device)?;
//!
//! let mut rng = NoiseGenerator::new(7);
//! let prompt = rng.tensor([1, 5, 16], &device); // stands in for T5 embeddings
//! let network = DitNetwork::new(&dit, prompt.clone(), Some(prompt.zeros_like())).with_fps(Some(24.0));
//! let mut denoiser = GuidedDenoiser::new(network, 7.0);
//!
//! let sampler = SamplerConfig::euler(3).build()?;
//! let noise = rng.tensor([1, 16, 2, 4, 4], &device); // latent [batch, channels, T, H, W]
//! let mut steps = 0;
//! let latent = sampler.sample(&mut denoiser, noise, &mut |_step| steps += 1)?;
//! assert_eq!(latent.dims(), [1, 16, 2, 4, 4]);
//! assert_eq!((steps, denoiser.network.calls), (3, 6)); // 2 network calls per step with guidance
//! # Ok(()) }
//! ```
//!
//! With NVIDIA's weights in a model folder (see `docs/diffusion.md`), the whole Text2World
//! pipeline:
//!
//! ```no_run
//! use cosmos_diffusion::pretrained::{ModelPaths, load_pipeline};
//! use cosmos_diffusion::{GenerationRequest, SamplerConfig};
//!
//! # fn main() -> cosmos_diffusion::Result<()> {
//! let device = cosmos_nn::device::default_device();
//! let paths = ModelPaths::find("checkpoints/Cosmos-1.0-Diffusion-7B-Text2World")?;
//! let mut pipeline = load_pipeline(&paths, &device)?;
//! let request = GenerationRequest {
//!     sampler: SamplerConfig::res2ab(35),
//!     seed: 1,
//!     ..GenerationRequest::new("A robot arm stacks three red cubes on a wooden table.")
//! };
//! let out = pipeline.generate(&request, &mut |s| eprintln!("step {}/{}", s.done, s.total))?;
//! assert_eq!(out.video.dims(), [1, 3, 121, 704, 1280]);
//! # Ok(()) }
//! ```

pub mod adapters;
pub mod checkpoint;
pub mod config;
pub mod diffusion_decoder;
pub mod dit;
pub mod edm;
pub mod embed;
pub mod error;
pub mod guidance;
pub mod multiview;
pub mod noise;
pub mod parity;
pub mod pipeline;
#[cfg(all(feature = "t5", feature = "video-tokenizer"))]
pub mod pretrained;
pub mod sampler;

/// The burn this crate is built on, re-exported so that callers use the same version for the
/// tensors and devices they pass in: `cosmos_diffusion::burn::tensor::{Device, Tensor}`.
pub use burn;
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
