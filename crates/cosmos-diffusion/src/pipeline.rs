//! Text2World and Video2World generation: prompt → (guardrail) → text encoder → guided sampler
//! over the DiT → latent → tokenizer decoder → (guardrail) → video.
//!
//! The text encoder, the video tokenizer and the guardrail are other crates' work; the pipeline
//! reaches them only through the small traits defined here ([`TextEncoder`], [`LatentDecoder`],
//! [`LatentEncoder`], [`PromptGuard`], [`VideoGuard`]), so any implementation (T5 from
//! `cosmos-text`, the Cosmos tokenizers from `cosmos-tokenizer`, the guardrail crate, or test
//! doubles) plugs in.
//!
//! Latent scaling follows cosmos-predict1: the sampler works on `tokenizer latent · σ_data`, the
//! decoder receives `sample / σ_data`.

use burn::tensor::{Device, Tensor, TensorData};

use crate::dit::CosmosDit;
use crate::edm::SIGMA_DATA;
use crate::error::BoxError;
use crate::guidance::{ConditionFrames, DitNetwork, GuidedDenoiser};
use crate::noise::NoiseGenerator;
use crate::sampler::{SamplerConfig, SamplerStep};
use crate::{Error, Result};

/// Prompt embeddings from a [`TextEncoder`].
#[derive(Debug, Clone)]
pub struct TextEmbeddings {
    /// `[prompts, tokens, dim]`, zero past each prompt's length (Cosmos pads T5 output to 512).
    pub embeddings: Tensor<3>,
    /// Tokens per prompt before padding (after any truncation).
    pub lengths: Vec<usize>,
    /// Whether each prompt was cut to the encoder's maximum length.
    pub truncated: Vec<bool>,
}

/// Turns prompts into embeddings (T5-11B's encoder for Cosmos-1.0).
pub trait TextEncoder {
    /// Encodes `prompts`; over-long prompts are truncated and reported in
    /// [`TextEmbeddings::truncated`].
    fn encode(&mut self, prompts: &[&str]) -> std::result::Result<TextEmbeddings, BoxError>;
    /// Width of the embeddings.
    fn embed_dim(&self) -> usize;
}

/// Turns latents into video (a Cosmos continuous video tokenizer's decoder).
pub trait LatentDecoder {
    /// `latent: [batch, channels, 1 + T/tc, H/sc, W/sc]` in the tokenizer's own scale →
    /// video `[batch, 3, 1 + T, H, W]` in [−1, 1].
    fn decode(&mut self, latent: Tensor<5>) -> std::result::Result<Tensor<5>, BoxError>;
    /// Temporal compression `tc` (8 for CV8x8x8).
    fn temporal_compression(&self) -> usize;
    /// Spatial compression `sc` (8 for CV8x8x8).
    fn spatial_compression(&self) -> usize;
    /// Latent channels (16).
    fn latent_channels(&self) -> usize;
}

/// Turns video into latents (the tokenizer's encoder; needed by Video2World).
pub trait LatentEncoder {
    /// `video: [batch, 3, 1 + T, H, W]` in [−1, 1] → latent `[batch, channels, 1 + T/tc, H/sc, W/sc]`.
    fn encode(&mut self, video: Tensor<5>) -> std::result::Result<Tensor<5>, BoxError>;
}

/// A guardrail verdict on a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptVerdict {
    /// Go on.
    Allow,
    /// Refuse, with the reason.
    Block(String),
}

/// A guardrail verdict on a generated video.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per generation: boxing the tensor buys nothing
pub enum VideoVerdict {
    /// Go on with this video (possibly altered, e.g. faces pixelated).
    Allow(Tensor<5>),
    /// Refuse, with the reason.
    Block(String),
}

/// The pre-generation guardrail hook (blocklist, text classifier).
pub trait PromptGuard {
    /// Checks a prompt.
    fn check_prompt(&mut self, prompt: &str) -> std::result::Result<PromptVerdict, BoxError>;
}

/// The post-generation guardrail hook (video safety classifier, face pixelation).
pub trait VideoGuard {
    /// Checks (and may alter) `video: [batch, 3, T, H, W]` in [−1, 1].
    fn check_video(&mut self, video: Tensor<5>) -> std::result::Result<VideoVerdict, BoxError>;
}

/// Video2World input: conditioning frames and how many of them to use.
#[derive(Debug, Clone)]
pub struct VideoCondition {
    /// `[1, 3, frames, H, W]` in [−1, 1], at the output resolution.
    pub video: Tensor<5>,
    /// How many of the last input frames condition the generation (1 or 9 in Cosmos:
    /// 1 + k·tc so they fill whole latent frames).
    pub frames: usize,
    /// Noise level of the conditioning latents as the network sees them.
    pub augment_sigma: f64,
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    /// The prompt (must not be empty).
    pub prompt: String,
    /// The negative prompt for guidance; `None` (or empty) guides against zero text embeddings,
    /// as cosmos-predict1 does without a negative prompt.
    pub negative_prompt: Option<String>,
    /// Output frames (`1 + k·tc`; 121 for Cosmos-1.0).
    pub frames: usize,
    /// Output height (a multiple of `sc`·patch; 704 for Cosmos-1.0).
    pub height: usize,
    /// Output width (1280 for Cosmos-1.0).
    pub width: usize,
    /// Frame rate (RoPE time scaling).
    pub fps: f64,
    /// Guidance weight (7 in Cosmos).
    pub guidance: f64,
    /// Sampler and schedule.
    pub sampler: SamplerConfig,
    /// Seed of the initial noise (and the conditioning-frame augmentation noise).
    pub seed: u64,
    /// Video2World conditioning, `None` for Text2World.
    pub condition: Option<VideoCondition>,
    /// The action of an action-conditioned network (cosmos-predict1's action Video2World model:
    /// the 7-vector of the transition out of the last condition frame); `None` otherwise.
    pub action: Option<Vec<f32>>,
}

impl GenerationRequest {
    /// Cosmos-1.0 defaults: 121 frames of 704×1280 at 24 fps, guidance 7, RES 2ab with 35 steps.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            negative_prompt: None,
            frames: 121,
            height: 704,
            width: 1280,
            fps: 24.0,
            guidance: 7.0,
            sampler: SamplerConfig::res2ab(35),
            seed: 0,
            condition: None,
            action: None,
        }
    }
}

/// What a generation produced.
#[derive(Debug, Clone)]
pub struct Generation {
    /// `[1, 3, frames, height, width]` in [−1, 1].
    pub video: Tensor<5>,
    /// The sampled latent in the tokenizer's scale (`sample / σ_data`).
    pub latent: Tensor<5>,
    /// Network calls made.
    pub network_calls: usize,
    /// Warnings for the user (truncated prompts, ...).
    pub warnings: Vec<String>,
}

/// The generation pipeline. Video2World needs a network with a condition-mask channel and an
/// [`encoder`](Self::encoder).
pub struct WorldPipeline {
    /// The transformer.
    pub dit: CosmosDit,
    /// The prompt encoder.
    pub text_encoder: Box<dyn TextEncoder>,
    /// Latents → video.
    pub decoder: Box<dyn LatentDecoder>,
    /// Video → latents (Video2World).
    pub encoder: Option<Box<dyn LatentEncoder>>,
    /// Pre-generation guardrail.
    pub prompt_guard: Option<Box<dyn PromptGuard>>,
    /// Post-generation guardrail.
    pub video_guard: Option<Box<dyn VideoGuard>>,
}

impl WorldPipeline {
    /// A pipeline without guardrails or encoder.
    pub fn new(
        dit: CosmosDit,
        text_encoder: Box<dyn TextEncoder>,
        decoder: Box<dyn LatentDecoder>,
    ) -> Self {
        Self {
            dit,
            text_encoder,
            decoder,
            encoder: None,
            prompt_guard: None,
            video_guard: None,
        }
    }

    /// The latent shape `[1, C, 1 + (frames−1)/tc, H/sc, W/sc]` of a request, checked.
    pub fn latent_shape(&self, request: &GenerationRequest) -> Result<[usize; 5]> {
        let tc = self.decoder.temporal_compression().max(1);
        let sc = self.decoder.spatial_compression().max(1);
        let channels = self.decoder.latent_channels();
        let [pt, ph, pw] = self.dit.config.patch_size;
        let (f, h, w) = (request.frames, request.height, request.width);
        if f == 0
            || (f - 1) % tc != 0
            || h == 0
            || w == 0
            || h % (sc * ph) != 0
            || w % (sc * pw) != 0
        {
            return Err(Error::Shape {
                what: "requested video (frames, height, width)".into(),
                expected: format!(
                    "frames = 1 + k·{tc}, height and width multiples of {} and {}",
                    sc * ph,
                    sc * pw
                ),
                found: vec![f, h, w],
            });
        }
        let t = 1 + (f - 1) / tc;
        if !t.is_multiple_of(pt) {
            return Err(Error::Shape {
                what: "latent frames".into(),
                expected: format!("a multiple of the temporal patch {pt}"),
                found: vec![t],
            });
        }
        if channels != self.dit.config.out_channels {
            return Err(Error::Config(format!(
                "the tokenizer has {channels} latent channels, the network {}",
                self.dit.config.out_channels
            )));
        }
        let shape = [1, channels, t, h / sc, w / sc];
        self.dit.token_grid([shape[2], shape[3], shape[4]])?;
        Ok(shape)
    }

    /// Runs a request; `progress` is called once per sampler step.
    pub fn generate(
        &mut self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(SamplerStep),
    ) -> Result<Generation> {
        let prompt = request.prompt.trim();
        if prompt.is_empty() {
            return Err(Error::Argument("the prompt is empty".into()));
        }
        if request.fps.is_nan()
            || request.fps <= 0.0
            || request.fps.is_infinite()
            || !request.guidance.is_finite()
        {
            return Err(Error::Argument(format!(
                "fps must be positive and guidance finite, found {} and {}",
                request.fps, request.guidance
            )));
        }
        let shape = self.latent_shape(request)?;
        match (&request.condition, self.dit.config.has_condition_mask()) {
            (Some(_), false) => {
                return Err(Error::Argument(
                    "an input video needs a Video2World network (in_channels = latent + 1)".into(),
                ));
            }
            (None, true) => {
                return Err(Error::Argument(
                    "this is a Video2World network: it needs an input video".into(),
                ));
            }
            _ => {}
        }
        let sampler = request.sampler.build()?;

        if let Some(guard) = self.prompt_guard.as_mut()
            && let PromptVerdict::Block(reason) = guard
                .check_prompt(prompt)
                .map_err(|e| Error::component("prompt guardrail", e))?
        {
            return Err(Error::Blocked {
                stage: "prompt",
                reason,
            });
        }

        let mut warnings = Vec::new();
        let guided = request.guidance != 0.0;
        // Without a negative prompt the unconditional branch sees zero text embeddings, as
        // cosmos-predict1's conditioner drops the text condition for it.
        let negative = request
            .negative_prompt
            .as_deref()
            .map(str::trim)
            .filter(|n| guided && !n.is_empty());
        let prompts: Vec<&str> = std::iter::once(prompt).chain(negative).collect();
        let encoded = self
            .text_encoder
            .encode(&prompts)
            .map_err(|e| Error::component("text encoder", e))?;
        let [n, tokens, d] = encoded.embeddings.dims();
        if n != prompts.len() || tokens == 0 || d != self.dit.config.text_embed_dim {
            return Err(Error::Shape {
                what: "text embeddings".into(),
                expected: format!(
                    "[{}, tokens ≥ 1, {}]",
                    prompts.len(),
                    self.dit.config.text_embed_dim
                ),
                found: encoded.embeddings.dims().to_vec(),
            });
        }
        for (i, truncated) in encoded.truncated.iter().enumerate() {
            if *truncated {
                warnings.push(format!(
                    "the {} was longer than the text encoder takes and was truncated to {} tokens",
                    if i == 0 { "prompt" } else { "negative prompt" },
                    encoded.lengths.get(i).copied().unwrap_or(0)
                ));
            }
        }
        let context = encoded.embeddings.clone().narrow(0, 0, 1);
        let negative_context = guided.then(|| match negative {
            Some(_) => encoded.embeddings.clone().narrow(0, 1, 1),
            None => context.zeros_like(),
        });

        let device = self.dit.device();
        let mut rng = NoiseGenerator::new(request.seed);
        let noise = rng.tensor(shape, &device);
        let condition = match &request.condition {
            Some(c) => Some(self.condition_frames(c, request, shape, &mut rng, &device)?),
            None => None,
        };

        let action = request
            .action
            .as_ref()
            .map(|a| Tensor::<2>::from_data(TensorData::new(a.clone(), [1, a.len()]), &device));
        let network = DitNetwork::new(&self.dit, context, negative_context)
            .with_fps(Some(request.fps))
            .with_action(action);
        let mut denoiser = GuidedDenoiser::new(network, request.guidance).with_condition(condition);
        let sample = sampler.sample(&mut denoiser, noise, progress)?;
        let network_calls = denoiser.network.calls;

        let latent = sample / SIGMA_DATA;
        let video = self
            .decoder
            .decode(latent.clone())
            .map_err(|e| Error::component("latent decoder", e))?;
        let expected = [1, 3, request.frames, request.height, request.width];
        if video.dims() != expected {
            return Err(Error::Shape {
                what: "decoded video".into(),
                expected: format!("{expected:?}"),
                found: video.dims().to_vec(),
            });
        }
        let mut video = video.clamp(-1.0, 1.0);
        if let Some(guard) = self.video_guard.as_mut() {
            match guard
                .check_video(video)
                .map_err(|e| Error::component("video guardrail", e))?
            {
                VideoVerdict::Allow(v) => video = v,
                VideoVerdict::Block(reason) => {
                    return Err(Error::Blocked {
                        stage: "video",
                        reason,
                    });
                }
            }
        }
        Ok(Generation {
            video,
            latent,
            network_calls,
            warnings,
        })
    }

    /// Encodes the last `frames` input frames, zero-padded to the output length as
    /// cosmos-predict1 does, and marks the latent frames they fill as conditioning.
    fn condition_frames(
        &mut self,
        condition: &VideoCondition,
        request: &GenerationRequest,
        shape: [usize; 5],
        rng: &mut NoiseGenerator,
        device: &Device,
    ) -> Result<ConditionFrames> {
        let tc = self.decoder.temporal_compression().max(1);
        let [b, c, t_in, h, w] = condition.video.dims();
        let n = condition.frames;
        if b != 1 || c != 3 || h != request.height || w != request.width {
            return Err(Error::Shape {
                what: "input video".into(),
                expected: format!("[1, 3, frames, {}, {}]", request.height, request.width),
                found: condition.video.dims().to_vec(),
            });
        }
        if n == 0 || n > t_in || n > request.frames || !(n - 1).is_multiple_of(tc) {
            return Err(Error::Argument(format!(
                "conditioning frames must be 1 + k·{tc}, at most the input's {t_in} and the \
                 output's {} frames; found {n}",
                request.frames
            )));
        }
        if condition.augment_sigma.is_nan() || condition.augment_sigma < 0.0 {
            return Err(Error::Argument(format!(
                "augment sigma must be non-negative, found {}",
                condition.augment_sigma
            )));
        }
        let encoder = self.encoder.as_mut().ok_or_else(|| {
            Error::Argument("Video2World needs a latent encoder (the tokenizer's encoder)".into())
        })?;
        let frames = condition.video.clone().narrow(2, t_in - n, n);
        let padded = if n < request.frames {
            let pad = Tensor::zeros([1, 3, request.frames - n, h, w], device);
            Tensor::cat(vec![frames, pad], 2)
        } else {
            frames
        };
        let latent = encoder
            .encode(padded)
            .map_err(|e| Error::component("latent encoder", e))?;
        if latent.dims() != shape {
            return Err(Error::Shape {
                what: "encoded input video".into(),
                expected: format!("{shape:?}"),
                found: latent.dims().to_vec(),
            });
        }
        Ok(ConditionFrames {
            latent: latent * SIGMA_DATA,
            frames: 1 + (n - 1) / tc,
            augment_sigma: condition.augment_sigma,
            augment_noise: rng.tensor(shape, device),
            input_frames_guidance: false,
        })
    }
}
