//! Fine-tuning of the Cosmos autoregressive world model ([`cosmos_ar::ArTransformer`]) on
//! discrete video tokens (Cosmos WFM paper §5.2; cosmos-predict1 `autoregressive/`).
//!
//! A training sequence is what the Video2World pipeline generates: the DV tokenizer's indices
//! of one clip, latent frame after latent frame, each frame flattened `(h, w)`, after a `<bov>`
//! token for the models that have one ([`VideoTokenLayout`]). The loss is next-token
//! cross-entropy averaged over the tokens of the predicted latent frames only: the first
//! `condition_frames` frames are the prompt at generation time, so their tokens are inputs but
//! never targets (a mask over the targets).
//!
//! - [`TokenSet`]: sequences of token ids with optional per-latent-frame actions and text
//!   embeddings, in one safetensors cache file; [`encode_token_shards`] builds it from
//!   `cosmos curate` webdataset shards through a discrete video tokenizer.
//! - [`ConditionedAr`]: the loaded transformer plus an optional zero-initialised action
//!   projection whose output is added to the token embeddings, so the network starts exactly at
//!   the pretrained one.
//! - [`apply_lora`] / [`merge_lora`]: rank-`r` adapters on the attention projections and the
//!   SwiGLU MLP through burn's [`Lora`], base weights frozen.
//! - [`ArTrainer`]: Adam (the crate's bias-corrected Adam, shared with the DiT trainer), linear
//!   warm-up then cosine decay, global-norm gradient clipping, a seeded data order, and
//!   checkpoints (model, Adam moments, step) with exact resume.
//! - [`export_checkpoint`]: the fine-tuned network as a `config.json` + `model.safetensors`
//!   folder under the reference's key names, which `cosmos generate-ar` loads.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Lora, Module, ParamGroup};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use cosmos_ar::{ArConfig, ArTransformer, CrossContext, VideoTokenLayout, VideoTokenizer};

use crate::data::{ClipEncoder, LatentSet, ShardOptions, TextEmbedder, encode_shards};
use crate::lora::LoraConfig;
use crate::train_log::TrainLog;
use crate::trainer::{
    AdamHyper, AdamMoments, TrainOptions, TrainProgress, TrainSummary, adam_step, grad_norm,
    load_module_tensors, read_safetensors, read_training_state, scalar, write_safetensors,
    write_training_state,
};
use crate::{Error, Result};

/// The checkpoint file name inside `out_dir`.
pub const AR_CHECKPOINT_FILE: &str = "ar_checkpoint.safetensors";

/// Options of an AR fine-tuning run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArTrainOptions {
    /// Optimiser steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Learning rate at the end of the cosine decay, as a fraction of the peak (1 = constant).
    pub final_lr_fraction: f64,
    /// Global gradient-norm clip (`None`: no clipping).
    pub grad_clip: Option<f64>,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub epsilon: f64,
    /// Seed of the data order.
    pub seed: u64,
    /// Latent frames that condition (inputs, never targets); 0 trains on every token.
    pub condition_frames: usize,
    /// Save a checkpoint every this many steps (and at the end) when `out_dir` is set.
    pub checkpoint_every: Option<usize>,
    /// Where checkpoints go, with `metrics.jsonl` and `loss.png` ([`crate::train_log`]).
    pub out_dir: Option<PathBuf>,
    /// Stop (and checkpoint) after the step that passes this many seconds of this run.
    pub max_seconds: Option<f64>,
}

impl Default for ArTrainOptions {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 1,
            learning_rate: 1e-4,
            warmup_steps: 50,
            final_lr_fraction: 0.1,
            grad_clip: Some(1.0),
            beta1: 0.9,
            beta2: 0.99,
            epsilon: 1e-8,
            seed: 0,
            condition_frames: 1,
            checkpoint_every: None,
            out_dir: None,
            max_seconds: None,
        }
    }
}

impl ArTrainOptions {
    /// The optimiser part as the DiT trainer's options (their schedule and checks are shared).
    fn schedule(&self) -> TrainOptions {
        TrainOptions {
            steps: self.steps,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            warmup_steps: self.warmup_steps,
            final_lr_fraction: self.final_lr_fraction,
            grad_clip: self.grad_clip,
            beta1: self.beta1,
            beta2: self.beta2,
            epsilon: self.epsilon,
            seed: self.seed,
            condition_frames: self.condition_frames,
            checkpoint_every: self.checkpoint_every,
            out_dir: None,
            ..TrainOptions::default()
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        self.schedule().validate()?;
        if let Some(s) = self.max_seconds
            && (s.is_nan() || s <= 0.0)
        {
            return Err(Error::Config(format!(
                "max_seconds must be positive, found {s}"
            )));
        }
        Ok(())
    }

    /// The learning rate of step `step` (0-based): linear warm-up, then a cosine decay to
    /// `final_lr_fraction` of the peak at the last step.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        self.schedule().learning_rate_at(step)
    }
}

/// One training sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSample {
    /// Token ids `[T, H, W]`, row-major (no `<bov>`: it is added per the model's layout).
    pub tokens: Vec<u32>,
    /// Actions `[T, action_dim]`, one row per latent frame.
    pub actions: Option<Vec<f32>>,
    /// Text embeddings `[keys, context_dim]` for the cross-attention models.
    pub context: Option<Vec<f32>>,
}

/// Token sequences of one latent grid with their optional conditioning.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    /// The latent grid `[T, H, W]` of every sequence.
    pub latent_shape: [usize; 3],
    /// Action width per latent frame, when the samples carry actions.
    pub action_dim: Option<usize>,
    /// Text embedding shape `[keys, context_dim]`, when the samples carry text.
    pub context_shape: Option<[usize; 2]>,
    /// The sequences.
    pub samples: Vec<TokenSample>,
}

/// One batch on a device.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Full sequences `[batch, L]` (`<bov>` first when the layout has one).
    pub tokens: Tensor<2, Int>,
    /// Actions `[batch, T, action_dim]`.
    pub actions: Option<Tensor<3>>,
    /// Text embeddings `[batch, keys, context_dim]`.
    pub context: Option<Tensor<3>>,
}

impl TokenSet {
    /// An empty set of sequences over the grid `latent_shape`.
    pub fn new(latent_shape: [usize; 3]) -> Self {
        Self {
            latent_shape,
            action_dim: None,
            context_shape: None,
            samples: Vec::new(),
        }
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no sequences.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Tokens per sequence (`T·H·W`).
    pub fn sequence_tokens(&self) -> usize {
        self.latent_shape.iter().product()
    }

    /// Adds a sequence after checking it against the set's shapes (the first sample with a
    /// signal fixes its width) and that its numbers are finite.
    pub fn push(&mut self, sample: TokenSample) -> Result<()> {
        let n = self.sequence_tokens();
        if n == 0 {
            return Err(Error::Config(format!(
                "the latent grid {:?} holds no tokens",
                self.latent_shape
            )));
        }
        if sample.tokens.len() != n {
            return Err(Error::Shape {
                what: "token sequence".into(),
                expected: format!("{:?} = {n} tokens", self.latent_shape),
                found: format!("{} tokens", sample.tokens.len()),
            });
        }
        let t = self.latent_shape[0];
        let first = self.samples.is_empty();
        match (&sample.actions, self.action_dim) {
            (Some(a), Some(d)) if a.len() != t * d => {
                return Err(Error::Shape {
                    what: "actions".into(),
                    expected: format!("[{t}, {d}] = {} values", t * d),
                    found: format!("{} values", a.len()),
                });
            }
            (Some(a), None) if first => {
                if a.is_empty() || a.len() % t != 0 {
                    return Err(Error::Shape {
                        what: "actions".into(),
                        expected: format!("[{t}, action_dim ≥ 1] (one row per latent frame)"),
                        found: format!("{} values", a.len()),
                    });
                }
                self.action_dim = Some(a.len() / t);
            }
            (None, None) | (Some(_), Some(_)) => {}
            _ => {
                return Err(Error::Config(
                    "every sequence of a set must carry actions, or none".into(),
                ));
            }
        }
        match (&sample.context, self.context_shape) {
            (Some(c), Some([k, d])) if c.len() != k * d => {
                return Err(Error::Shape {
                    what: "text embeddings".into(),
                    expected: format!("[{k}, {d}]"),
                    found: format!("{} values", c.len()),
                });
            }
            (Some(_), None) => {
                return Err(Error::Config(
                    "set context_shape before adding sequences with text embeddings".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::Config(
                    "every sequence of a set must carry text embeddings, or none".into(),
                ));
            }
            _ => {}
        }
        for (what, values) in [("actions", &sample.actions), ("text", &sample.context)] {
            if let Some(v) = values
                && let Some(i) = v.iter().position(|x| !x.is_finite())
            {
                return Err(Error::Config(format!(
                    "{what} value {i} of sequence {} is {}",
                    self.samples.len(),
                    v[i]
                )));
            }
        }
        self.samples.push(sample);
        Ok(())
    }

    /// The sequences `indices` as a batch on `device`, laid out per `layout` (which must have
    /// the set's grid), every token checked to be below `vocab_size`.
    pub fn batch(
        &self,
        indices: &[usize],
        layout: &VideoTokenLayout,
        vocab_size: usize,
        device: &Device,
    ) -> Result<TokenBatch> {
        if indices.is_empty() {
            return Err(Error::Config("a batch needs at least one sequence".into()));
        }
        if layout.latent_shape != self.latent_shape {
            return Err(Error::Shape {
                what: "token grid".into(),
                expected: format!("{:?} (the model's video_latent_shape)", layout.latent_shape),
                found: format!("{:?}", self.latent_shape),
            });
        }
        let pick = |i: usize| {
            self.samples.get(i).ok_or_else(|| {
                Error::Config(format!(
                    "sequence {i} requested from a set of {}",
                    self.len()
                ))
            })
        };
        let b = indices.len();
        let n = self.sequence_tokens();
        let skip = usize::from(layout.begin_of_video.is_some());
        let mut tokens = Vec::with_capacity(b * (n + skip));
        for &i in indices {
            let s = pick(i)?;
            if let Some(bov) = layout.begin_of_video {
                tokens.push(i64::from(bov));
            }
            if let Some((p, &t)) = s
                .tokens
                .iter()
                .enumerate()
                .find(|(_, t)| **t as usize >= vocab_size)
            {
                return Err(Error::Config(format!(
                    "token {t} at position {p} of sequence {i} is outside the vocabulary of {vocab_size}"
                )));
            }
            tokens.extend(s.tokens.iter().map(|&t| i64::from(t)));
        }
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(tokens, [b, n + skip]), device);
        let t = self.latent_shape[0];
        let actions = match self.action_dim {
            Some(d) => {
                let mut v = Vec::with_capacity(b * t * d);
                for &i in indices {
                    v.extend_from_slice(pick(i)?.actions.as_deref().unwrap_or_default());
                }
                Some(Tensor::<3>::from_data(
                    TensorData::new(v, [b, t, d]),
                    device,
                ))
            }
            None => None,
        };
        let context = match self.context_shape {
            Some([k, d]) => {
                let mut v = Vec::with_capacity(b * k * d);
                for &i in indices {
                    v.extend_from_slice(pick(i)?.context.as_deref().unwrap_or_default());
                }
                Some(Tensor::<3>::from_data(
                    TensorData::new(v, [b, k, d]),
                    device,
                ))
            }
            None => None,
        };
        Ok(TokenBatch {
            tokens,
            actions,
            context,
        })
    }

    /// Writes the set to one safetensors file: `tokens [N, T, H, W]` (u32), `actions
    /// [N, T, A]` and `context [N, keys, dim]` (f32), written through a temporary file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let n = self.len();
        let [t, h, w] = self.latent_shape;
        let mut buffers: Vec<(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        let tokens: Vec<u8> = self
            .samples
            .iter()
            .flat_map(|s| s.tokens.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        buffers.push(("tokens", safetensors::Dtype::U32, vec![n, t, h, w], tokens));
        let floats = |f: &dyn Fn(&TokenSample) -> Option<&Vec<f32>>| -> Vec<u8> {
            self.samples
                .iter()
                .flat_map(|s| f(s).into_iter().flatten().flat_map(|v| v.to_le_bytes()))
                .collect()
        };
        if let Some(d) = self.action_dim {
            let raw = floats(&|s| s.actions.as_ref());
            buffers.push(("actions", safetensors::Dtype::F32, vec![n, t, d], raw));
        }
        if let Some([k, d]) = self.context_shape {
            let raw = floats(&|s| s.context.as_ref());
            buffers.push(("context", safetensors::Dtype::F32, vec![n, k, d], raw));
        }
        let views = buffers
            .iter()
            .map(|(name, dtype, shape, raw)| {
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), raw)
                    .map(|v| (name.to_string(), v))
                    .map_err(|e| Error::Config(format!("token set tensor '{name}': {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "cosmos-ar-tokens".to_string());
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::Config(format!("safetensors encoding: {e}")))?;
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = path.with_extension("safetensors.tmp");
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Reads a set written by [`TokenSet::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let format = |reason: String| Error::Format {
            path: path.display().to_string(),
            reason,
        };
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| format(format!("not a safetensors file: {e}")))?;
        let tokens = st
            .tensor("tokens")
            .map_err(|_| format("no 'tokens' tensor: not a token set".into()))?;
        let (n, latent_shape) = match (tokens.dtype(), tokens.shape()) {
            (safetensors::Dtype::U32, &[n, t, h, w]) => (n, [t, h, w]),
            (dtype, shape) => {
                return Err(format(format!(
                    "'tokens' must be u32 [N, T, H, W], found {dtype:?} {shape:?}"
                )));
            }
        };
        let ids: Vec<u32> = tokens
            .data()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let rows = |name: &str, lead: [usize; 2]| -> Result<Option<(usize, Vec<f32>)>> {
            let Ok(view) = st.tensor(name) else {
                return Ok(None);
            };
            match (view.dtype(), view.shape()) {
                (safetensors::Dtype::F32, &[a, b, d]) if [a, b] == lead => Ok(Some((
                    d,
                    view.data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ))),
                (dtype, shape) => Err(format(format!(
                    "'{name}' must be f32 [{}, {}, width], found {dtype:?} {shape:?}",
                    lead[0], lead[1]
                ))),
            }
        };
        let actions = rows("actions", [n, latent_shape[0]])?;
        let context = match st.tensor("context") {
            Ok(view) => match view.shape() {
                &[_, k, _] => rows("context", [n, k])?.map(|(d, v)| (k, d, v)),
                shape => {
                    return Err(format(format!(
                        "'context' must be [N, keys, dim], found {shape:?}"
                    )));
                }
            },
            Err(_) => None,
        };
        let mut set = TokenSet::new(latent_shape);
        set.context_shape = context.as_ref().map(|(k, d, _)| [*k, *d]);
        let per = set.sequence_tokens();
        for i in 0..n {
            set.push(TokenSample {
                tokens: ids[i * per..(i + 1) * per].to_vec(),
                actions: actions.as_ref().map(|(d, v)| {
                    let len = latent_shape[0] * d;
                    v[i * len..(i + 1) * len].to_vec()
                }),
                context: context
                    .as_ref()
                    .map(|(k, d, v)| v[i * k * d..(i + 1) * k * d].to_vec()),
            })?;
        }
        Ok(set)
    }

    /// Converts a [`LatentSet`] whose single latent channel holds token indices (as
    /// [`encode_token_shards`] makes it) into a token set, checking every value is a
    /// non-negative integer.
    pub fn from_index_latents(set: LatentSet) -> Result<Self> {
        let [c, t, h, w] = set.shape;
        if c != 1 {
            return Err(Error::Shape {
                what: "token index latents".into(),
                expected: "one channel of indices".into(),
                found: format!("{c} channels"),
            });
        }
        let mut out = TokenSet::new([t, h, w]);
        out.context_shape = set.context_shape;
        for (i, s) in set.samples.into_iter().enumerate() {
            let tokens = s
                .latent
                .iter()
                .map(|&v| {
                    (v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f32)
                        .then_some(v as u32)
                        .ok_or_else(|| Error::Format {
                            path: format!("sample {i}"),
                            reason: format!("{v} is not a token index"),
                        })
                })
                .collect::<Result<Vec<u32>>>()?;
            out.push(TokenSample {
                tokens,
                actions: s.actions,
                context: s.context,
            })?;
        }
        Ok(out)
    }
}

/// Decodes the clips of `shards` (as `cosmos curate` writes them), tokenizes them with the
/// discrete video `tokenizer` and returns their token sequences. Per-frame actions (when
/// `options.action_field` is set) are grouped per latent frame exactly as for the DiT
/// ([`encode_shards`]); `text` embeds each clip's `KEY.txt`. Each shard's indices are cached
/// under `cache_dir` (use a folder of its own: the cache files are named like the DiT's latent
/// caches).
pub fn encode_token_shards(
    shards: &[PathBuf],
    tokenizer: &dyn VideoTokenizer,
    device: &Device,
    options: &ShardOptions,
    cache_dir: Option<&Path>,
    text: Option<(&mut TextEmbedder<'_>, [usize; 2])>,
    log: &mut dyn FnMut(&str),
) -> Result<TokenSet> {
    // The indices travel as a one-channel "latent", so that clip decoding, action grouping,
    // text embedding and caching are the DiT's own.
    let mut encode = |video: Tensor<5>| -> Result<Tensor<5>> {
        let indices = tokenizer.encode(video)?;
        let [b, t, h, w] = indices.dims();
        Ok(indices.float().reshape([b, 1, t, h, w]))
    };
    let mut encoder = ClipEncoder {
        encode: &mut encode,
        temporal_compression: tokenizer.temporal_compression(),
        device: device.clone(),
    };
    let set = encode_shards(shards, &mut encoder, options, cache_dir, text, log)?;
    TokenSet::from_index_latents(set)
}

/// The token layout of `config` for sequences over `latent_shape`: the config's own grid (which
/// must then equal `latent_shape`) and its `<bov>` token.
pub fn sequence_layout(config: &ArConfig, latent_shape: [usize; 3]) -> Result<VideoTokenLayout> {
    if let Some(grid) = config.latent_shape()
        && grid != latent_shape
    {
        return Err(Error::Shape {
            what: "token grid".into(),
            expected: format!("{grid:?} (the model's video_latent_shape)"),
            found: format!("{latent_shape:?}"),
        });
    }
    Ok(VideoTokenLayout {
        latent_shape,
        begin_of_video: config.begin_of_video_token(),
    })
}

/// The latent frame of each target of a sequence (`L − 1` targets: sequence positions `1..L`).
fn target_frames(layout: &VideoTokenLayout) -> Vec<usize> {
    let skip = usize::from(layout.begin_of_video.is_some());
    let per = layout.frame_tokens().max(1);
    let n = layout.latent_shape.iter().product::<usize>();
    (1..skip + n).map(|p| (p - skip) / per).collect()
}

/// Which of the `L − 1` next-token targets of a sequence count in the loss (`1.0`) — those in
/// latent frames `≥ condition_frames` — and which are condition tokens (`0.0`).
pub fn target_mask(layout: &VideoTokenLayout, condition_frames: usize) -> Result<Vec<f32>> {
    let t = layout.latent_shape[0];
    if condition_frames >= t {
        return Err(Error::Config(format!(
            "condition_frames ({condition_frames}) must leave at least one of the {t} latent frames to predict"
        )));
    }
    Ok(target_frames(layout)
        .into_iter()
        .map(|f| if f >= condition_frames { 1.0 } else { 0.0 })
        .collect())
}

/// The AR transformer with an optional zero-initialised action projection.
#[derive(Module, Debug)]
pub struct ConditionedAr {
    /// The (loaded) transformer.
    pub model: ArTransformer,
    /// `action_dim → dim`, weight and bias zero at creation: its output is added to the
    /// embeddings of the inputs that predict each latent frame's tokens.
    pub action_projection: Option<Linear>,
}

impl ConditionedAr {
    /// Wraps `model`, adding a zero-initialised projection for `action_dim`-wide per-frame
    /// actions when given (on the model's device).
    pub fn new(model: ArTransformer, action_dim: Option<usize>) -> Result<Self> {
        let action_projection = match action_dim {
            Some(0) => {
                return Err(Error::Config("action_dim must be at least 1".into()));
            }
            Some(d) => Some(
                LinearConfig::new(d, model.config().dim)
                    .with_initializer(Initializer::Zeros)
                    .init(&model.device()),
            ),
            None => None,
        };
        Ok(Self {
            model,
            action_projection,
        })
    }

    /// The action width the projection takes, if any.
    pub fn action_dim(&self) -> Option<usize> {
        self.action_projection
            .as_ref()
            .map(|l| l.weight.val().dims()[0])
    }

    /// Reads the projection `cosmos train ar` writes (`action_projection.safetensors`: `weight
    /// [action_dim, dim]`, `bias [dim]`, burn layout) and attaches it, replacing any projection
    /// the model had. Errors name the file: not a safetensors file, tensors missing, or a
    /// width that is not the transformer's.
    pub fn with_action_projection_file(self, path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let source = path.display().to_string();
        let (tensors, _) = read_safetensors(&bytes, &source)?;
        let action_dim = match tensors.get("weight").map(|w| w.shape().to_vec()) {
            Some(shape) if shape.len() == 2 && shape[0] > 0 => shape[0],
            other => {
                return Err(Error::Format {
                    path: source,
                    reason: format!(
                        "expected a 'weight' tensor [action_dim, dim], found {other:?}"
                    ),
                });
            }
        };
        let mut model = Self::new(self.model, Some(action_dim))?;
        model.action_projection = model
            .action_projection
            .map(|p| load_module_tensors(p, &tensors, &source))
            .transpose()?;
        Ok(model)
    }

    /// The embedding offsets `[batch, n, dim]` the action projection adds to the first `n`
    /// inputs of sequences laid out per `layout`, from `actions: [batch, T, action_dim]` (one
    /// row per latent frame): input position `p` gets the action of the latent frame its next
    /// token (`p + 1`) lies in, so every token of frame `f` is predicted knowing action `f`.
    /// With `n = L − 1` this is [`cosmos_ar::WorldInput::embedding_offsets`]. `None` when the
    /// model has no projection and no actions are given; an error when only one of them is
    /// there or the shapes disagree.
    pub fn action_offsets(
        &self,
        actions: Option<Tensor<3>>,
        layout: &VideoTokenLayout,
        n: usize,
    ) -> Result<Option<Tensor<3>>> {
        match (&self.action_projection, actions) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::Config(
                "this model has an action projection: actions are required".into(),
            )),
            (None, Some(_)) => Err(Error::Config(
                "this model has no action projection: it takes no actions".into(),
            )),
            (Some(projection), Some(a)) => {
                let t = layout.latent_shape[0];
                let d = self.action_dim().unwrap_or(0);
                let b = a.dims()[0];
                if a.dims() != [b, t, d] || b == 0 {
                    return Err(Error::Shape {
                        what: "actions".into(),
                        expected: format!("[batch, {t}, {d}] (batch, latent frames, action_dim)"),
                        found: format!("{:?}", a.dims()),
                    });
                }
                let frames = target_frames(layout);
                if n > frames.len() {
                    return Err(Error::Shape {
                        what: "tokens".into(),
                        expected: format!("at most {} inputs for the grid", frames.len()),
                        found: format!("{n}"),
                    });
                }
                let index: Vec<i64> = frames[..n].iter().map(|&f| f as i64).collect();
                let index = Tensor::<1, Int>::from_data(TensorData::new(index, [n]), &a.device());
                Ok(Some(projection.forward(a).select(1, index)))
            }
        }
    }

    /// Logits `[batch, n, vocab]` of the inputs `tokens: [batch, n]` (the first `n` positions of
    /// sequences laid out per `layout`), with `actions: [batch, T, action_dim]` — required
    /// exactly when there is an action projection — added through it (see
    /// [`ConditionedAr::action_offsets`]).
    pub fn logits(
        &self,
        tokens: Tensor<2, Int>,
        actions: Option<Tensor<3>>,
        layout: &VideoTokenLayout,
        cross: Option<&CrossContext>,
    ) -> Result<Tensor<3>> {
        let [b, n] = tokens.dims();
        if let Some(a) = &actions
            && a.dims()[0] != b
        {
            return Err(Error::Shape {
                what: "actions".into(),
                expected: format!("batch {b} (the tokens' batch)"),
                found: format!("{:?}", a.dims()),
            });
        }
        let offset = self.action_offsets(actions, layout, n)?;
        Ok(self.model.logits_with_offset(tokens, offset, cross)?)
    }
}

/// The masked next-token cross-entropy of `model` on `batch` (a scalar tensor `[1]`): the mean
/// of `−log p(token)` over the targets of the latent frames `≥ condition_frames`.
pub fn token_loss(
    model: &ConditionedAr,
    batch: &TokenBatch,
    layout: &VideoTokenLayout,
    condition_frames: usize,
) -> Result<Tensor<1>> {
    let [b, l] = batch.tokens.dims();
    let skip = usize::from(layout.begin_of_video.is_some());
    let expected = skip + layout.latent_shape.iter().product::<usize>();
    if l != expected || l < 2 {
        return Err(Error::Shape {
            what: "token batch".into(),
            expected: format!("[batch, {expected}] (the layout's sequence length, at least 2)"),
            found: format!("{:?}", batch.tokens.dims()),
        });
    }
    let mask = target_mask(layout, condition_frames)?;
    let count: f32 = mask.iter().sum();
    if count == 0.0 {
        return Err(Error::Config(
            "no token is left to predict: lower condition_frames".into(),
        ));
    }
    let device = batch.tokens.device();
    let inputs = batch.tokens.clone().narrow(1, 0, l - 1);
    let targets = batch.tokens.clone().narrow(1, 1, l - 1);
    let cross = match &batch.context {
        Some(c) => Some(model.model.cross_context(c.clone(), None)?),
        None => None,
    };
    let logits = model.logits(inputs, batch.actions.clone(), layout, cross.as_ref())?;
    let log_probs = log_softmax(logits, 2);
    let picked = log_probs
        .gather(2, targets.unsqueeze_dim::<3>(2))
        .reshape([b, l - 1]);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [1, l - 1]), &device);
    Ok((picked * mask).sum().neg() / (f64::from(count) * b as f64))
}

/// The parameter paths (inside [`ArTransformer`]) that get adapters, as a regular expression.
pub fn lora_target_pattern(config: &LoraConfig) -> Result<String> {
    let mut parts = Vec::new();
    if config.attention {
        parts.push(r"(attention|cross_attention)\.(q|k|v|out)");
    }
    if config.mlp {
        parts.push(r"feed_forward\.(w1|w2|w3)");
    }
    if parts.is_empty() {
        return Err(Error::Config(
            "LoRA needs at least one target (attention or mlp)".into(),
        ));
    }
    Ok(format!(r"^layers\.\d+\.({})\.weight$", parts.join("|")))
}

/// Attaches rank-`r` adapters (`W + (α/r)·A·B`, `B = 0` at first) to the transformer's
/// attention projections and MLP linears and freezes every base weight of the transformer; the
/// action projection keeps training.
pub fn apply_lora(model: ConditionedAr, config: &LoraConfig) -> Result<ConditionedAr> {
    if config.rank == 0 {
        return Err(Error::Config("LoRA rank must be at least 1".into()));
    }
    let dim = model.model.config().dim;
    if config.rank > dim {
        return Err(Error::Config(format!(
            "LoRA rank {} exceeds the model width {dim}",
            config.rank
        )));
    }
    let group = ParamGroup::from_regex(lora_target_pattern(config)?)
        .map_err(|e| Error::Config(format!("LoRA target pattern: {e:?}")))?;
    let lora = Lora {
        init_std: Some(1.0 / config.rank as f64),
        ..Lora::new(config.rank, config.alpha).set_param_group(group)
    };
    Ok(ConditionedAr {
        model: model.model.apply_lora(lora),
        action_projection: model.action_projection,
    })
}

/// Folds the adapters into the weights: a plain [`ConditionedAr`] computing what the adapted one
/// did, every parameter trainable again.
pub fn merge_lora(model: ConditionedAr) -> ConditionedAr {
    ConditionedAr {
        model: model.model.materialize().unfreeze(),
        action_projection: model.action_projection,
    }
}

/// Number of adapter parameters (`A` and `B` factors) in `model`.
pub fn adapter_params(model: &ConditionedAr) -> usize {
    struct Count {
        depth: usize,
        total: usize,
    }
    impl burn::module::ModuleVisitor for Count {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            if container_type == "Reparameterization" || self.depth > 0 {
                self.depth += 1;
            }
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.depth = self.depth.saturating_sub(1);
        }
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            if self.depth > 0 {
                self.total += param.val().dims().iter().product::<usize>();
            }
        }
    }
    let mut c = Count { depth: 0, total: 0 };
    model.model.visit(&mut c);
    c.total
}

/// Trains a [`ConditionedAr`] on a [`TokenSet`].
pub struct ArTrainer {
    /// The model, on an autodiff device.
    pub model: ConditionedAr,
    /// Adam's state.
    pub moments: AdamMoments,
    /// Steps done.
    pub step: usize,
    /// The options.
    pub options: ArTrainOptions,
    device: Device,
    /// Every step, written beside every checkpoint ([`crate::train_log`]).
    log: TrainLog,
}

impl ArTrainer {
    /// A trainer for `model` (moved to the autodiff version of its device).
    pub fn new(model: ConditionedAr, options: ArTrainOptions) -> Result<Self> {
        options.validate()?;
        let device = model.model.device().autodiff();
        let model = model.to_device(&device).train();
        Ok(Self {
            model,
            moments: AdamMoments::default(),
            step: 0,
            options,
            device,
            log: TrainLog::new("AR training"),
        })
    }

    /// The steps done so far with their loss, learning rate and time (after a resume, those of
    /// the earlier run up to its checkpoint too).
    pub fn log(&self) -> &TrainLog {
        &self.log
    }

    /// The autodiff device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The layout of `data` for this model (checks the grid against the model's).
    pub fn layout(&self, data: &TokenSet) -> Result<VideoTokenLayout> {
        sequence_layout(self.model.model.config(), data.latent_shape)
    }

    /// The masked loss of the sequences `indices` of `data` without training (no gradient
    /// kept).
    pub fn evaluate(&self, data: &TokenSet, indices: &[usize]) -> Result<f64> {
        let layout = self.layout(data)?;
        let model = self.model.valid();
        let device = model.model.device();
        let vocab = model.model.config().vocab_size;
        let batch = data.batch(indices, &layout, vocab, &device)?;
        Ok(scalar(token_loss(
            &model,
            &batch,
            &layout,
            self.options.condition_frames,
        )?))
    }

    /// One optimiser step on the batch the seeded order gives; returns its loss and the
    /// gradient norm before clipping.
    pub fn train_step(&mut self, data: &TokenSet) -> Result<(f64, f64)> {
        if data.is_empty() {
            return Err(Error::Config("the training set is empty".into()));
        }
        let layout = self.layout(data)?;
        let o = &self.options;
        let indices =
            crate::trainer::Trainer::batch_indices(o.seed, self.step, o.batch_size, data.len());
        let vocab = self.model.model.config().vocab_size;
        let batch = data.batch(&indices, &layout, vocab, &self.device)?;
        let loss = token_loss(&self.model, &batch, &layout, o.condition_frames)?;
        let value = scalar(loss.clone());
        if !value.is_finite() {
            return Err(Error::Diverged(format!(
                "loss is {value} at step {}",
                self.step + 1
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let norm = grad_norm(&self.model, &grads);
        if !norm.is_finite() {
            return Err(Error::Diverged(format!(
                "gradient norm is {norm} at step {}",
                self.step + 1
            )));
        }
        let clip = match o.grad_clip {
            Some(c) if norm > c => c / norm,
            _ => 1.0,
        };
        let lr = o.learning_rate_at(self.step);
        let hyper = AdamHyper {
            lr,
            clip,
            beta1: o.beta1,
            beta2: o.beta2,
            epsilon: o.epsilon,
        };
        self.model = adam_step(self.model.clone(), grads, &mut self.moments, hyper);
        self.step += 1;
        self.log.record(self.step, value, lr);
        Ok((value, norm))
    }

    /// Runs until `options.steps` (or `options.max_seconds`), reporting every step and writing
    /// checkpoints to `options.out_dir`.
    pub fn run(
        &mut self,
        data: &TokenSet,
        progress: &mut dyn FnMut(TrainProgress),
    ) -> Result<TrainSummary> {
        let start = Instant::now();
        let mut losses = Vec::new();
        let mut checkpoint = None;
        while self.step < self.options.steps {
            let lr = self.options.learning_rate_at(self.step);
            let (loss, grad_norm) = self.train_step(data)?;
            losses.push(loss);
            let elapsed = start.elapsed().as_secs_f64();
            progress(TrainProgress {
                step: self.step,
                steps: self.options.steps,
                loss,
                learning_rate: lr,
                grad_norm,
                elapsed,
            });
            let out_of_time = self.options.max_seconds.is_some_and(|s| elapsed >= s);
            let due = self
                .options
                .checkpoint_every
                .is_some_and(|every| self.step.is_multiple_of(every))
                || self.step == self.options.steps
                || out_of_time;
            if due && let Some(dir) = self.options.out_dir.clone() {
                let path = dir.join(AR_CHECKPOINT_FILE);
                self.save_checkpoint(&path)?;
                checkpoint = Some(path);
            }
            if out_of_time {
                break;
            }
        }
        Ok(TrainSummary::from_losses(
            self.step,
            &losses,
            start.elapsed().as_secs_f64(),
            checkpoint,
        ))
    }

    /// Writes model, action projection, Adam moments and step to one safetensors file
    /// (atomically), and `metrics.jsonl` and `loss.png` beside it ([`crate::train_log`]).
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let config = serde_json::to_string(self.model.model.config()).unwrap_or_default();
        write_training_state(
            path,
            &self.model,
            &self.moments,
            self.step,
            &self.options,
            [("ar_config", config)],
        )?;
        self.log.write(crate::trainer::checkpoint_folder(path))
    }

    /// Restores model, action projection, Adam moments and step from a checkpoint written by
    /// [`save_checkpoint`](Self::save_checkpoint) for the same architecture (and LoRA setting).
    pub fn resume(&mut self, path: &Path) -> Result<()> {
        let source = path.display().to_string();
        let state = read_training_state(path, &self.device)?;
        if let Some(config) = state.meta.get("ar_config")
            && let Ok(config) = serde_json::from_str::<ArConfig>(config)
            && &config != self.model.model.config()
        {
            return Err(Error::Format {
                path: source,
                reason: "the checkpoint is of another AR model configuration".into(),
            });
        }
        self.model = load_module_tensors(self.model.clone(), &state.model, &source)?;
        self.moments = state.moments;
        self.step = state.step;
        self.log
            .resume(crate::trainer::checkpoint_folder(path), self.step)
    }

    /// The trained model, without autodiff.
    pub fn into_model(self) -> ConditionedAr {
        self.model.valid()
    }
}

/// The reference (cosmos-predict1) key of an [`ArTransformer`] parameter path in PyTorch layout:
/// the attention projections `q`/`k`/`v`/`out` are `wq`/`wk`/`wv`/`wo` (the inverse of
/// [`cosmos_ar::checkpoint::key_map`]).
pub fn reference_key(path: &str) -> String {
    let mut key = path.to_string();
    for (from, to) in [
        ("attention.q.", "attention.wq."),
        ("attention.k.", "attention.wk."),
        ("attention.v.", "attention.wv."),
        ("attention.out.", "attention.wo."),
    ] {
        key = key.replace(from, to);
    }
    key
}

/// Writes `model` (LoRA merged first: [`merge_lora`]) as a folder `cosmos generate-ar` reads:
/// `config.json` (the reference `ModelConfig`, for `--model`) and `model.safetensors` (the
/// reference key names and PyTorch layouts, for `--checkpoint`). Returns the checkpoint path.
pub fn export_checkpoint(model: &ArTransformer, dir: &Path, dtype: DType) -> Result<PathBuf> {
    use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, bridge};
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = BTreeMap::new();
    for snapshot in model.collect(None, Some(Box::new(BurnToPyTorchAdapter)), false) {
        let name = reference_key(&snapshot.name);
        let data = bridge::into_data(snapshot).map_err(|e| Error::Format {
            path: name.clone(),
            reason: format!("cannot read the tensor back: {e}"),
        })?;
        tensors.insert(name, data);
    }
    if tensors
        .keys()
        .any(|k| k.ends_with(".a") || k.ends_with(".b"))
    {
        return Err(Error::Config(
            "the model still carries LoRA adapters: merge them first (merge_lora)".into(),
        ));
    }
    let text =
        serde_json::to_string_pretty(model.config()).map_err(|e| Error::Config(e.to_string()))?;
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, text + "\n").map_err(|e| Error::io(&config_path, e))?;
    let mut meta = HashMap::new();
    meta.insert("format".into(), "pt".into());
    let path = dir.join("model.safetensors");
    write_safetensors(&path, &tensors, meta, dtype)?;
    Ok(path)
}

/// What a `cosmos train ar` run produced, written next to its outputs as `posttrain.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArRunInfo {
    /// Action width per latent frame, when actions condition (the projection is in
    /// `action_projection.safetensors`).
    pub action_dim_per_latent_frame: Option<usize>,
    /// The token grid `[T, H, W]`.
    pub latent_shape: [usize; 3],
    /// Conditioning latent frames (no loss on them).
    pub condition_latent_frames: usize,
    /// LoRA settings, when LoRA was used (merged into the exported weights).
    pub lora: Option<LoraConfig>,
    /// Steps done.
    pub steps: usize,
    /// Mean loss of the last steps.
    pub final_loss: f64,
}

impl ArRunInfo {
    /// Writes the JSON file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
    }
}
