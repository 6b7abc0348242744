//! The diffusion decoder of the Cosmos-1.0 autoregressive world models (cosmos-predict1
//! `autoregressive/diffusion_decoder/`, the `Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8`
//! checkpoint): a diffusion model that turns the discrete tokens the AR model generates (DV
//! 8×16×16 FSQ indices, blurry when the discrete tokenizer decodes them) into continuous CV
//! 8×8×8 latents, which the continuous tokenizer decodes into sharper video.
//!
//! Two parts:
//!
//! - [`TokenConditionedDit`], the network (`DiffusionDecoderGeneralDIT`): the Cosmos DiT
//!   ([`CosmosDit`], no extra per-block position embedding in the 7B config) plus the token
//!   condition. `token_embedder` (an embedding table `vocabulary × D`) maps the indices
//!   `[B, 1, T, h, w]` to `D` channels, which are resized bilinearly to the latent's `H × W`
//!   (torchvision's resize: `align_corners = False`; the decoder always upsamples, 2× for
//!   DV8×16×16 → CV8×8×8) and concatenated on channels after the noisy latent, before the padding
//!   mask: the patch embedding sees `16 + D + 1` channels.
//! - [`TokenDecoder`], the inference recipe of the reference (`diffusion_decoder/inference.py`,
//!   `model.py`, `DiffusionDecoderSamplingConfig`): the token grid is cut along time into chunks
//!   of `1 + (57 − 1)/8 = 8` latent frames overlapping by 2 (the last chunk reflect-padded), each
//!   chunk is sampled with diffusers' EDM Euler scheduler (σ_max 80, σ_min 0.02, 15 steps,
//!   classifier-free guidance 1.8 on the raw network output at fps 24) — the unconditional branch
//!   has zero text embeddings and every token replaced by index 0, as the conditioner's dropout
//!   makes it — then every chunk is decoded by the continuous tokenizer (latent / σ_data,
//!   clamped to [−1, 1]) and the 57-frame chunks are blended linearly over 2 pixel frames.
//!
//! The AR pipeline's [`DiffusionDecoder`](https://docs.rs/cosmos-ar) hook is the pair
//! [`TokenDecoder::latents_from_tokens`] / [`TokenDecoder::decode_latents`]; the facade glues
//! them together (this crate does not depend on cosmos-ar).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use cosmos_nn::checkpoint::{Checkpoint, LoadReport, load_module};
use cosmos_nn::parity::{Comparison, Fixture};
use serde_json::Value;

use crate::checkpoint::{KeyNaming, key_map};
use crate::config::DitConfig;
use crate::dit::{CosmosDit, DitConditioning, DitPositions};
use crate::edm::SIGMA_DATA;
use crate::embed::PatchEmbedConfig;
use crate::guidance::{Branch, GuidedDenoiser, Network};
use crate::noise::NoiseGenerator;
use crate::pipeline::LatentDecoder;
use crate::sampler::{SamplerConfig, SamplerStep};
use crate::{Error, Result};

/// The network's shape: the DiT plus the token condition.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionDecoderConfig {
    /// The DiT (its `in_channels` is the latent's 16; the token channels come on top).
    pub dit: DitConfig,
    /// Rows of the token embedding table (the DV vocabulary, 64 000).
    pub token_vocab_size: usize,
    /// Channels of the token condition `D` (32 in the 7B decoder).
    pub token_dim: usize,
}

impl DiffusionDecoderConfig {
    /// Parses `DiffusionDecoderGeneralDIT`'s constructor arguments (GeneralDIT's plus
    /// `diffusion_decoder_token_condition_voc_size` / `_dim`). The sigma condition and the
    /// continuous-latent condition (other decoder variants, never published) are refused.
    pub fn from_cosmos_predict1(value: &Value) -> Result<Self> {
        let flag = |k: &str, d: bool| value.get(k).and_then(Value::as_bool).unwrap_or(d);
        if !flag("is_diffusion_decoder", true) {
            return Err(Error::Config(
                "not a diffusion decoder config (is_diffusion_decoder is false)".into(),
            ));
        }
        if !flag("diffusion_decoder_condition_on_token", false) {
            return Err(Error::Unsupported(
                "diffusion decoders conditioned on continuous latents \
                 (diffusion_decoder_condition_on_token = false)"
                    .into(),
            ));
        }
        if flag("diffusion_decoder_condition_on_sigma", false) {
            return Err(Error::Unsupported(
                "diffusion_decoder_condition_on_sigma = true".into(),
            ));
        }
        let int_or = |k: &str, d: usize| {
            value
                .get(k)
                .map(|v| {
                    v.as_u64().map(|n| n as usize).ok_or_else(|| {
                        Error::Config(format!(
                            "diffusion decoder config: '{k}' must be an integer"
                        ))
                    })
                })
                .unwrap_or(Ok(d))
        };
        let config = Self {
            dit: DitConfig::from_cosmos_predict1(value)?,
            token_vocab_size: int_or("diffusion_decoder_token_condition_voc_size", 64000)?,
            token_dim: int_or("diffusion_decoder_token_condition_dim", 32)?,
        };
        if config.token_vocab_size == 0 || config.token_dim == 0 {
            return Err(Error::Config(format!(
                "token vocabulary ({}) and token condition dim ({}) must be positive",
                config.token_vocab_size, config.token_dim
            )));
        }
        Ok(config)
    }

    /// `Cosmos-1.0-Diffusion-7B-Decoder-DV8x16x16ToCV8x8x8`: `faditv2_7b` with the decoder
    /// overrides of `cosmos_diffusiondecoder_7b.py` (NVIDIA's checkpoint folder has no
    /// config.json; this is what it holds).
    pub fn cosmos_7b() -> Self {
        let value = serde_json::json!({
            "max_img_h": 240, "max_img_w": 240, "max_frames": 128,
            "in_channels": 16, "out_channels": 16, "patch_spatial": 2, "patch_temporal": 1,
            "model_channels": 4096, "block_config": "FA-CA-MLP", "num_blocks": 28,
            "num_heads": 32, "concat_padding_mask": true, "pos_emb_cls": "rope3d",
            "use_adaln_lora": true, "adaln_lora_dim": 256, "crossattn_emb_channels": 1024,
            "rope_h_extrapolation_ratio": 1.5, "rope_w_extrapolation_ratio": 1.5,
            "rope_t_extrapolation_ratio": 1.0, "extra_per_block_abs_pos_emb": false,
            "is_diffusion_decoder": true, "diffusion_decoder_condition_on_token": true,
            "diffusion_decoder_token_condition_voc_size": 64000,
            "diffusion_decoder_token_condition_dim": 32
        });
        Self::from_cosmos_predict1(&value).expect("the 7B decoder config is valid")
    }

    /// Builds the network with random weights.
    pub fn init(&self, device: &Device) -> Result<TokenConditionedDit> {
        let mut dit = self.dit.init(device)?;
        dit.patch_embed = PatchEmbedConfig::new(
            self.dit.patch_embed_channels() + self.token_dim,
            self.dit.hidden_size(),
            self.dit.patch_size,
        )
        .init(device);
        Ok(TokenConditionedDit {
            dit,
            token_embedder: EmbeddingConfig::new(self.token_vocab_size, self.token_dim)
                .init(device),
        })
    }
}

/// cosmos-predict1's `DiffusionDecoderGeneralDIT`: the DiT with the discrete-token condition.
#[derive(Module, Debug)]
pub struct TokenConditionedDit {
    /// The DiT; its patch embedding takes `latent + D (+ padding mask)` channels.
    pub dit: CosmosDit,
    /// `net.token_embedder`: token index → `D` channels.
    pub token_embedder: Embedding,
}

impl TokenConditionedDit {
    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.dit.device()
    }

    /// Rows of the token embedding table.
    pub fn token_vocab_size(&self) -> usize {
        self.token_embedder.weight.dims()[0]
    }

    /// Channels of the token condition.
    pub fn token_dim(&self) -> usize {
        self.token_embedder.weight.dims()[1]
    }

    /// Loads a cosmos-predict1 checkpoint (`net.`-prefixed keys, `net.token_embedder.weight`
    /// included); every missing, unexpected or mis-shaped tensor is reported at once.
    pub fn load_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<LoadReport> {
        let map = key_map(KeyNaming::CosmosPredict1)?.rule(
            r"^(patch_embed|learnable_pos_embed|time_embed|transformer_blocks|norm_out|proj_out)\.",
            "dit.$1.",
        )?;
        Ok(load_module(self, checkpoint, &map)?)
    }

    /// The token condition: indices `[B, 1, T, h, w]` → embeddings resized to the latent's
    /// `height × width`.
    ///
    /// # Shapes
    /// `tokens: [B, 1, T, h, w]` (Int) → `[B, D, T, height, width]`.
    pub fn token_condition(
        &self,
        tokens: Tensor<5, Int>,
        height: usize,
        width: usize,
    ) -> Result<Tensor<5>> {
        let [b, one, t, h, w] = tokens.dims();
        if b == 0 || one != 1 || t == 0 || h == 0 || w == 0 {
            return Err(Error::Shape {
                what: "token condition".into(),
                expected: "[batch, 1, T, h, w] token indices".into(),
                found: tokens.dims().to_vec(),
            });
        }
        let vocab = self.token_vocab_size();
        let values: Vec<i64> = tokens
            .clone()
            .into_data()
            .convert_dtype(DType::I64)
            .try_into_vec::<i64>()
            .map_err(|e| Error::Argument(format!("token indices: {e:?}")))?;
        if let Some(bad) = values.iter().find(|&&v| v < 0 || v as usize >= vocab) {
            return Err(Error::Argument(format!(
                "token index {bad} outside the decoder's vocabulary of {vocab}"
            )));
        }
        let d = self.token_dim();
        let embedded = self
            .token_embedder
            .forward(tokens.reshape([1, b * t * h * w]))
            .reshape([b, t, h, w, d])
            .permute([0, 1, 4, 2, 3])
            .reshape([b * t * d, h, w]);
        let resized = resize_bilinear(embedded, height, width)?;
        Ok(resized
            .reshape([b, t, d, height, width])
            .permute([0, 2, 1, 3, 4]))
    }

    /// The raw network output (before EDM preconditioning).
    ///
    /// # Shapes
    /// `x: [B, 16, T, H, W]` (scaled by `c_in`), `timestep: [B] | [1]` (`0.25·ln σ`),
    /// `context: [B, N, crossattn_dim]`, `tokens: [B, 1, T, h, w]` → `[B, 16, T, H, W]`.
    pub fn forward(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        tokens: Tensor<5, Int>,
        conditioning: &DitConditioning,
    ) -> Result<Tensor<5>> {
        let [_, _, t, h, w] = x.dims();
        let condition = self.token_condition(tokens, h, w)?;
        let positions = self.dit.positions([t, h, w], conditioning.fps)?;
        self.forward_with_condition(x, timestep, context, condition, conditioning, &positions)
    }

    /// [`forward`](Self::forward) with the token condition made beforehand by
    /// [`token_condition`](Self::token_condition) (`[B, D, T, H, W]`) and the position tables.
    pub fn forward_with_condition(
        &self,
        x: Tensor<5>,
        timestep: Tensor<1>,
        context: Tensor<3>,
        condition: Tensor<5>,
        conditioning: &DitConditioning,
        positions: &DitPositions,
    ) -> Result<Tensor<5>> {
        self.dit.forward_with_input_channels(
            x,
            Some(condition),
            timestep,
            context,
            conditioning,
            positions,
            None,
        )
    }
}

/// Rows `[out, in]` of bilinear interpolation weights with half-pixel centres
/// (`align_corners = False`): output `o` reads input position `(o + ½)·in/out − ½`, clamped at 0.
fn bilinear_matrix(n_in: usize, n_out: usize) -> Vec<f32> {
    let scale = n_in as f64 / n_out as f64;
    let mut m = vec![0f32; n_out * n_in];
    for o in 0..n_out {
        let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = if i0 + 1 < n_in { i0 + 1 } else { i0 };
        let l1 = src - i0 as f64;
        m[o * n_in + i0] += (1.0 - l1) as f32;
        m[o * n_in + i1] += l1 as f32;
    }
    m
}

/// torchvision's bilinear `resize` of `[N, h, w]` to `[N, height, width]` for upsampling (and
/// the identity); downsampling, where torchvision antialiases, is refused.
///
/// # Shapes
/// `x: [N, h, w]` → `[N, height, width]`.
pub fn resize_bilinear(x: Tensor<3>, height: usize, width: usize) -> Result<Tensor<3>> {
    let [n, h, w] = x.dims();
    if height < h || width < w {
        return Err(Error::Unsupported(format!(
            "bilinear resize from {h}×{w} down to {height}×{width} (torchvision antialiases when \
             shrinking; the decoder only upsamples)"
        )));
    }
    if (height, width) == (h, w) {
        return Ok(x);
    }
    let device = x.device();
    let rows = Tensor::<2>::from_data(
        TensorData::new(bilinear_matrix(h, height), [height, h]),
        &device,
    );
    let cols = Tensor::<2>::from_data(
        TensorData::new(bilinear_matrix(w, width), [width, w]),
        &device,
    )
    .transpose();
    let y = rows.unsqueeze_dim::<3>(0).expand([n, height, h]).matmul(x);
    Ok(y.matmul(cols.unsqueeze_dim::<3>(0).expand([n, w, width])))
}

/// The inference settings of the reference (`DiffusionDecoderSamplingConfig` and the
/// scheduler `LatentDiffusionDecoderModel` builds).
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderSettings {
    /// Euler steps (`num_steps`, 15).
    pub steps: usize,
    /// Classifier-free guidance on the network output (1.8).
    pub guidance: f64,
    /// σ_min of the EDM Euler scheduler (0.02).
    pub sigma_min: f64,
    /// σ_max of the scheduler (80; the sampling config's `sigma = 8` is not used by the loop).
    pub sigma_max: f64,
    /// Overlap of consecutive chunks: latent frames when splitting the tokens, pixel frames when
    /// blending the decoded chunks (2, the reference uses the one number for both).
    pub overlap: usize,
    /// Pixel frames one chunk decodes to (`dd_train_num_video_frames`, 57).
    pub chunk_frames: usize,
    /// Frame rate given to the network (24).
    pub fps: f64,
    /// Pixels per token of the discrete tokenizer (16 for DV8×16×16): the latent is
    /// `h·token_spatial/latent_spatial` high.
    pub token_spatial_compression: usize,
    /// Seed of the initial noise.
    pub seed: u64,
}

impl Default for DecoderSettings {
    fn default() -> Self {
        Self {
            steps: 15,
            guidance: 1.8,
            sigma_min: 0.02,
            sigma_max: 80.0,
            overlap: 2,
            chunk_frames: 57,
            fps: 24.0,
            token_spatial_compression: 16,
            seed: 0,
        }
    }
}

impl DecoderSettings {
    /// Overrides the defaults with the `inference` object of a decoder folder's config.json
    /// (`num_steps`, `guidance`, `sigma_min`, `sigma_max`, `overlap`, `num_video_frames`, `fps`).
    pub fn with_json(mut self, value: Option<&Value>) -> Result<Self> {
        let Some(v) = value else { return Ok(self) };
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        let u = |k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as usize);
        self.steps = u("num_steps").unwrap_or(self.steps);
        self.guidance = f("guidance").unwrap_or(self.guidance);
        self.sigma_min = f("sigma_min").unwrap_or(self.sigma_min);
        self.sigma_max = f("sigma_max").unwrap_or(self.sigma_max);
        self.overlap = u("overlap").unwrap_or(self.overlap);
        self.chunk_frames = u("num_video_frames").unwrap_or(self.chunk_frames);
        self.fps = f("fps").unwrap_or(self.fps);
        Ok(self)
    }
}

/// The token-conditioned network as the guided denoiser's [`Network`]: both branches share
/// the noisy input; the unconditional one has zero text embeddings and the condition of token 0.
struct DecoderNetwork<'a> {
    net: &'a TokenConditionedDit,
    context: Tensor<3>,
    condition: Tensor<5>,
    uncondition: Tensor<5>,
    fps: f64,
    positions: DitPositions,
}

impl Network for DecoderNetwork<'_> {
    fn forward(
        &mut self,
        x_in: Tensor<5>,
        c_noise: f64,
        branch: Branch,
        condition_mask: Option<Tensor<5>>,
    ) -> Result<Tensor<5>> {
        if condition_mask.is_some() {
            return Err(Error::Argument(
                "the diffusion decoder takes no conditioning frames".into(),
            ));
        }
        let [b, ..] = x_in.dims();
        let timestep = Tensor::<1>::full([b], c_noise, &x_in.device());
        let (context, condition) = match branch {
            Branch::Conditional => (self.context.clone(), self.condition.clone()),
            Branch::Unconditional => (self.context.zeros_like(), self.uncondition.clone()),
        };
        let conditioning = DitConditioning {
            fps: Some(self.fps),
            condition_mask: None,
            padding_mask: None,
            action: None,
        };
        self.net.forward_with_condition(
            x_in,
            timestep,
            context,
            condition,
            &conditioning,
            &self.positions,
        )
    }
}

/// Token chunks along time: windows of `len` frames every `len − overlap` frames starting while
/// frames past the overlap remain (the reference's `split_with_overlap`), the last one padded
/// by reflection. `tokens: [B, T, h, w]` → chunks `[B, len, h, w]`.
pub fn split_with_overlap(
    tokens: &Tensor<4, Int>,
    len: usize,
    overlap: usize,
) -> Result<Vec<Tensor<4, Int>>> {
    let [_, t, _, _] = tokens.dims();
    if overlap >= len || t <= overlap {
        return Err(Error::Argument(format!(
            "cannot cut {t} token frames into chunks of {len} overlapping by {overlap} \
             (need overlap < chunk length and more frames than the overlap)"
        )));
    }
    let step = len - overlap;
    let device = tokens.device();
    let mut chunks = vec![];
    let mut start = 0;
    while start < t - overlap {
        let end = start + len;
        let chunk = if end <= t {
            tokens.clone().narrow(1, start, len)
        } else {
            let n = t - start;
            // Reflection without repeating the edge: n, n+1, ... map to n−2, n−3, ...
            let period = 2 * (n.max(2) - 1);
            let idx: Vec<i64> = (0..len)
                .map(|i| {
                    let r = if n == 1 { 0 } else { i % period };
                    (start + if r < n { r } else { period - r }) as i64
                })
                .collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [len]), &device);
            tokens.clone().select(1, idx)
        };
        chunks.push(chunk);
        start += step;
    }
    Ok(chunks)
}

/// The reference's `linear_blend_video_list`: consecutive clips `[B, C, t, H, W]` share `d`
/// frames, cross-faded with weights `linspace(0, 1, d)`; the result has `N·t − d·(N − 1)` frames.
pub fn linear_blend(videos: Vec<Tensor<5>>, d: usize) -> Result<Tensor<5>> {
    let Some(first) = videos.first() else {
        return Err(Error::Argument("no video chunks to blend".into()));
    };
    let dims = first.dims();
    let t = dims[2];
    if videos.iter().any(|v| v.dims() != dims) || (videos.len() > 1 && 2 * d > t) {
        return Err(Error::Shape {
            what: "decoded chunks".into(),
            expected: format!("all {dims:?}, each longer than twice the overlap {d}"),
            found: videos.iter().map(|v| v.dims()[2]).collect(),
        });
    }
    if videos.len() == 1 || d == 0 {
        return Ok(Tensor::cat(videos, 2));
    }
    let n = videos.len();
    let mut parts = vec![];
    for (i, v) in videos.iter().enumerate() {
        if i > 0 {
            let prev = &videos[i - 1];
            for j in 0..d {
                let w2 = if d == 1 {
                    0.0
                } else {
                    j as f64 / (d - 1) as f64
                };
                let a = prev.clone().narrow(2, t - d + j, 1) * (1.0 - w2);
                parts.push(a + v.clone().narrow(2, j, 1) * w2);
            }
        }
        let from = if i == 0 { 0 } else { d };
        let to = if i == n - 1 { t } else { t - d };
        if to > from {
            parts.push(v.clone().narrow(2, from, to - from));
        }
    }
    Ok(Tensor::cat(parts, 2))
}

/// The diffusion decoder's inference: the network, the continuous tokenizer that decodes its
/// latents, the generic prompt used when the AR model had no text, and the settings.
pub struct TokenDecoder {
    /// The network.
    pub net: TokenConditionedDit,
    decoder: Mutex<Box<dyn LatentDecoder + Send>>,
    /// T5 embeddings `[1, N, crossattn_dim]` of the reference's generic prompt ("high
    /// quality, 4k, high definition, smooth video"; `aux_vars.pt` of NVIDIA's checkpoint),
    /// used when no prompt embeddings are given.
    pub generic_context: Option<Tensor<3>>,
    /// Sampling and chunking.
    pub settings: DecoderSettings,
}

impl std::fmt::Debug for TokenDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenDecoder")
            .field("settings", &self.settings)
            .field(
                "generic_context",
                &self.generic_context.as_ref().map(|c| c.dims()),
            )
            .finish_non_exhaustive()
    }
}

impl TokenDecoder {
    /// Pairs the network with the continuous tokenizer that decodes its latents.
    pub fn new(
        net: TokenConditionedDit,
        decoder: Box<dyn LatentDecoder + Send>,
        settings: DecoderSettings,
    ) -> Result<Self> {
        if decoder.latent_channels() != net.dit.config.out_channels {
            return Err(Error::Config(format!(
                "the decoder makes {}-channel latents but the tokenizer decodes {} channels",
                net.dit.config.out_channels,
                decoder.latent_channels()
            )));
        }
        Ok(Self {
            net,
            decoder: Mutex::new(decoder),
            generic_context: None,
            settings,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn LatentDecoder + Send>> {
        self.decoder.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Latent frames of one chunk: `1 + (chunk_frames − 1)/k` for the continuous tokenizer's
    /// temporal compression `k` (8 for 57 frames).
    pub fn chunk_latent_frames(&self) -> usize {
        let k = self.lock().temporal_compression().max(1);
        1 + self.settings.chunk_frames.saturating_sub(1) / k
    }

    /// Samples continuous latents for the token grid, chunk by chunk.
    ///
    /// # Shapes
    /// `indices: [B, T, h, w]`, `context: [B | 1, N, crossattn_dim]` →
    /// `[B, 16, chunks·L, h·s_dv/s_cv, w·s_dv/s_cv]` (`L` latent frames per chunk, chunks in
    /// order along time).
    pub fn latents_from_tokens(
        &self,
        indices: Tensor<4, Int>,
        context: Option<&Tensor<3>>,
        progress: &mut dyn FnMut(SamplerStep),
    ) -> Result<Tensor<5>> {
        let s = &self.settings;
        let [b, _, h, w] = indices.dims();
        let context = context
            .or(self.generic_context.as_ref())
            .ok_or_else(|| {
                Error::Argument(
                    "the diffusion decoder needs text embeddings: a prompt, or the generic \
                     prompt of its folder (aux_vars.pt)"
                        .into(),
                )
            })?
            .clone();
        let [cb, n, cd] = context.dims();
        let want = self.net.dit.config.text_embed_dim;
        if (cb != b && cb != 1) || n == 0 || cd != want {
            return Err(Error::Shape {
                what: "diffusion decoder text embeddings".into(),
                expected: format!("[{b} or 1, tokens, {want}]"),
                found: vec![cb, n, cd],
            });
        }
        let context = context.expand([b, n, cd]);
        let cv = self.lock().spatial_compression().max(1);
        let scale = s.token_spatial_compression;
        if !(h * scale).is_multiple_of(cv) {
            return Err(Error::Config(format!(
                "tokens of {scale} pixels do not tile latents of {cv} pixels"
            )));
        }
        let (lh, lw) = (h * scale / cv, w * scale / cv);
        let len = self.chunk_latent_frames();
        let chunks = split_with_overlap(&indices, len, s.overlap)?;
        let mut sampler = SamplerConfig::euler(s.steps);
        sampler.sigma_min = s.sigma_min;
        sampler.sigma_max = s.sigma_max;
        let sampler = sampler.build()?;
        let device = self.net.device();
        let mut noise = NoiseGenerator::new(s.seed);
        let channels = self.net.dit.config.out_channels;
        let positions = self.net.dit.positions([len, lh, lw], Some(s.fps))?;
        let total = chunks.len() * s.steps;
        let mut latents = vec![];
        for (i, chunk) in chunks.into_iter().enumerate() {
            let chunk = chunk.unsqueeze_dim::<5>(1);
            let network = DecoderNetwork {
                net: &self.net,
                context: context.clone(),
                condition: self.net.token_condition(chunk.clone(), lh, lw)?,
                uncondition: self.net.token_condition(chunk.zeros_like(), lh, lw)?,
                fps: s.fps,
                positions: positions.clone(),
            };
            let mut denoiser = GuidedDenoiser::new(network, s.guidance);
            let x = noise.tensor([b, channels, len, lh, lw], &device);
            let latent = sampler.sample(&mut denoiser, x, &mut |step| {
                progress(SamplerStep {
                    done: i * s.steps + step.done,
                    total,
                    sigma: step.sigma,
                })
            })?;
            latents.push(latent);
        }
        Ok(Tensor::cat(latents, 2))
    }

    /// Decodes the chunk latents of [`latents_from_tokens`](Self::latents_from_tokens) with the
    /// continuous tokenizer (`latent / σ_data`, clamped to [−1, 1]) and blends the chunks.
    ///
    /// # Shapes
    /// `[B, 16, chunks·L, H, W]` → `[B, 3, chunks·F − overlap·(chunks − 1), H·s, W·s]` for
    /// `F = 1 + (L − 1)·k` frames per chunk; the caller keeps the clip's first frames.
    pub fn decode_latents(&self, latents: Tensor<5>) -> Result<Tensor<5>> {
        let len = self.chunk_latent_frames();
        let t = latents.dims()[2];
        if t == 0 || !t.is_multiple_of(len) {
            return Err(Error::Shape {
                what: "diffusion decoder latents".into(),
                expected: format!("a multiple of {len} latent frames (whole chunks)"),
                found: latents.dims().to_vec(),
            });
        }
        let mut decoder = self.lock();
        let mut videos = vec![];
        for i in 0..t / len {
            let chunk = latents.clone().narrow(2, i * len, len) / SIGMA_DATA;
            let video = decoder
                .decode(chunk)
                .map_err(|e| Error::component("continuous video tokenizer", e))?;
            videos.push(video.clamp(-1.0, 1.0));
        }
        linear_blend(videos, self.settings.overlap)
    }
}

/// The continuous tokenizer the 7B decoder's latents belong to (its folder name in the
/// reference's `checkpoints/`).
pub const CV_TOKENIZER: &str = "Cosmos-Tokenize1-CV8x8x8-720p";

/// Where a decoder folder's parts are.
///
/// ```text
/// DECODER/
///   model.pt | *.safetensors   the network under cosmos-predict1's net.* names
///   config.json                optional: DiffusionDecoderGeneralDIT's arguments (default: the
///                              7B decoder) and an optional "inference" object (DecoderSettings)
///   aux_vars.pt                optional: the generic prompt's T5 embeddings ("context")
///   tokenizer/ | vae/          the continuous video tokenizer (Cosmos-Tokenize1-CV8x8x8-720p),
///                              or that folder beside DECODER/ (the reference's checkpoints/)
/// ```
#[derive(Debug, Clone)]
pub struct DecoderFiles {
    /// `config.json`, if present.
    pub config: Option<PathBuf>,
    /// Weight files, merged.
    pub weights: Vec<PathBuf>,
    /// The generic prompt's embeddings.
    pub aux_vars: Option<PathBuf>,
    /// The continuous tokenizer.
    pub tokenizer: PathBuf,
}

impl DecoderFiles {
    /// Finds the parts under `dir`.
    pub fn find(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::Argument(format!(
                "{}: not a folder (expected the diffusion decoder's folder)",
                dir.display()
            )));
        }
        let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let mut weights: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                p.is_file() && (name.ends_with(".safetensors") || name == "model.pt")
            })
            .collect();
        weights.sort();
        if weights.is_empty() {
            return Err(Error::Argument(format!(
                "{}: no model.pt or *.safetensors weights of the diffusion decoder",
                dir.display()
            )));
        }
        // Inside the folder, or beside it as in the reference's checkpoints/ layout.
        let tokenizer = [
            dir.join("tokenizer"),
            dir.join("vae"),
            dir.join("..").join(CV_TOKENIZER),
        ]
        .into_iter()
        .find(|d| d.exists())
        .ok_or_else(|| {
            Error::Argument(format!(
                "{}: no tokenizer/ or vae/ in it and no ../{CV_TOKENIZER} beside it (the \
                 continuous video tokenizer)",
                dir.display()
            ))
        })?;
        let some = |p: PathBuf| p.is_file().then_some(p);
        Ok(Self {
            config: some(dir.join("config.json")),
            weights,
            aux_vars: some(dir.join("aux_vars.pt")),
            tokenizer,
        })
    }

    /// The network config and the inference settings.
    pub fn read_config(&self) -> Result<(DiffusionDecoderConfig, DecoderSettings)> {
        let Some(path) = &self.config else {
            return Ok((
                DiffusionDecoderConfig::cosmos_7b(),
                DecoderSettings::default(),
            ));
        };
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not JSON: {e}", path.display())))?;
        let net = value.get("net").unwrap_or(&value);
        Ok((
            DiffusionDecoderConfig::from_cosmos_predict1(net)?,
            DecoderSettings::default().with_json(value.get("inference"))?,
        ))
    }

    /// The network with its weights.
    pub fn load_network(&self, device: &Device) -> Result<TokenConditionedDit> {
        let (config, _) = self.read_config()?;
        let mut net = config.init(device)?;
        let mut merged: Option<Checkpoint> = None;
        for path in &self.weights {
            let c = Checkpoint::open(path)?;
            match &mut merged {
                Some(m) => m.merge(c),
                None => merged = Some(c),
            }
        }
        let weights = merged.ok_or_else(|| Error::Argument("no weight files".into()))?;
        net.load_checkpoint(&weights)?;
        Ok(net)
    }

    /// The generic prompt's embeddings `[1, N, dim]` (`context` of `aux_vars.pt`), if present.
    pub fn generic_context(&self, device: &Device) -> Result<Option<Tensor<3>>> {
        let Some(path) = &self.aux_vars else {
            return Ok(None);
        };
        let aux = Checkpoint::open(path)?;
        let data = aux
            .get("context")
            .ok_or_else(|| Error::Argument(format!("{}: no 'context' tensor", path.display())))?;
        let shape = data.shape().to_vec();
        let (n, d) = match shape[..] {
            [n, d] | [1, n, d] => (n, d),
            _ => {
                return Err(Error::Shape {
                    what: format!("{} context", path.display()),
                    expected: "[N, dim] or [1, N, dim]".into(),
                    found: shape,
                });
            }
        };
        let values = data
            .clone()
            .convert_dtype(DType::F32)
            .try_into_vec::<f32>()
            .map_err(|e| Error::Argument(format!("{}: {e:?}", path.display())))?;
        Ok(Some(Tensor::from_data(
            TensorData::new(values, [1, n, d]),
            device,
        )))
    }
}

/// `cosmos verify --kind diffusion-decoder`: the network of a `DiffusionDecoderGeneralDIT`
/// fixture (JSON `cosmos_predict1_config`) on `__x__`, `__timesteps__`, `__crossattn_emb__`,
/// `__latent_condition__`, `__padding_mask__`, `__fps__` against `__output__`, and the token
/// condition against `__token_condition__`.
pub fn verify_fixture(fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>> {
    let bad = |m: &str| {
        Error::Nn(cosmos_nn::Error::Fixture {
            path: fixture.path().display().to_string(),
            message: m.to_string(),
        })
    };
    let config = fixture
        .json
        .get("cosmos_predict1_config")
        .ok_or_else(|| bad("JSON has no 'cosmos_predict1_config'"))?;
    let mut net = DiffusionDecoderConfig::from_cosmos_predict1(config)?.init(device)?;
    net.load_checkpoint(&fixture.weights)?;
    let x = fixture.tensor::<5>("x", device)?;
    let timestep = fixture.tensor::<1>("timesteps", device)?;
    let context = fixture.tensor::<3>("crossattn_emb", device)?;
    let tokens = Tensor::<5, Int>::from_data(
        fixture
            .data("latent_condition")?
            .clone()
            .convert_dtype(DType::I64),
        device,
    );
    let fps = if fixture.has("fps") {
        let v = fixture
            .tensor::<1>("fps", device)?
            .into_data()
            .convert_dtype(DType::F32)
            .try_into_vec::<f32>()
            .map_err(|e| bad(&format!("__fps__: {e:?}")))?;
        v.first().map(|&f| f as f64)
    } else {
        fixture.json.get("fps").and_then(Value::as_f64)
    };
    let conditioning = DitConditioning {
        fps,
        condition_mask: None,
        padding_mask: if fixture.has("padding_mask") {
            Some(fixture.tensor::<4>("padding_mask", device)?)
        } else {
            None
        },
        action: None,
    };
    let mut out = vec![];
    let [_, _, _, h, w] = x.dims();
    if fixture.has("token_condition") {
        let condition = net.token_condition(tokens.clone(), h, w)?;
        out.push(fixture.compare("token_condition", condition.into_data())?);
    }
    let y = net.forward(x, timestep, context, tokens, &conditioning)?;
    out.push(fixture.compare("output", y.into_data())?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_rows_match_half_pixel_upsampling() {
        // 2× upsampling of 2 samples: 0, 0.25, 0.75, 1 of the way (edge clamped).
        let m = bilinear_matrix(2, 4);
        let expect = [1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0];
        for (a, b) in m.iter().zip(expect) {
            assert!((a - b).abs() < 1e-7, "{m:?}");
        }
        assert_eq!(
            bilinear_matrix(3, 3),
            vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]
        );
    }

    #[test]
    fn chunks_overlap_and_the_last_is_reflected() {
        let device = Device::flex();
        let tokens = Tensor::<4, Int>::from_data(
            TensorData::new((0..12i64).collect::<Vec<_>>(), [1, 12, 1, 1]),
            &device,
        );
        let chunks = split_with_overlap(&tokens, 8, 2).unwrap();
        let frames = |t: &Tensor<4, Int>| {
            t.clone()
                .into_data()
                .convert_dtype(DType::I64)
                .try_into_vec::<i64>()
                .unwrap()
        };
        assert_eq!(chunks.len(), 2);
        assert_eq!(frames(&chunks[0]), (0..8).collect::<Vec<_>>());
        // Frames 6..11, then reflected: 10, 9.
        assert_eq!(frames(&chunks[1]), vec![6, 7, 8, 9, 10, 11, 10, 9]);
        // Five frames (a 33-frame clip of DV8x16x16): one chunk, 5..7 reflected.
        let five = tokens.narrow(1, 0, 5);
        let chunks = split_with_overlap(&five, 8, 2).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(frames(&chunks[0]), vec![0, 1, 2, 3, 4, 3, 2, 1]);
    }

    #[test]
    fn blending_cross_fades_the_overlap() {
        let device = Device::flex();
        let clip = |v: f32| Tensor::<5>::full([1, 1, 5, 1, 1], v, &device);
        let out = linear_blend(vec![clip(0.0), clip(1.0)], 2).unwrap();
        let v = out.into_data().try_into_vec::<f32>().unwrap();
        // 2·5 − 2 frames: 3 of the first, the 2 blended (weights 0 and 1), 3 of the second.
        assert_eq!(v, vec![0., 0., 0., 0., 1., 1., 1., 1.]);
    }
}
