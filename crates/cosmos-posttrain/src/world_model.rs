//! The world model shipped with the crate: an action-conditioned Video2World Cosmos DiT trained
//! on the latents of the [world tokenizer](crate::tokenizer_train) over clips of the
//! [physics world](crate::world).
//!
//! Clips are 17 frames of 64×64; the tokenizer (×4 in time and space) makes latents
//! `[16, 5, 16, 16]`. Latent frames 0–1 (video frames 0–4) condition and a window of 1–3 latent
//! frames after them is predicted ([`WorldModelConfig::predicted_latent_frames`]; the shipped
//! model predicts one, frames 5–8, and [`WorldModel::predict`] rolls that window forward to
//! frame 16 on its own predictions). The action vectors of the world enter through a
//! zero-initialised [`FrameConditioner`] on the DiT's per-frame hook. Action `t` acts between
//! frame `t` and `t + 1`, so latent frame `i ≥ 1` (frames `4i − 3 ..= 4i`) is given the four
//! actions that produce its frames, `4(i − 1) .. 4i`, concatenated; latent frame 0 gets zeros
//! ([`latent_frame_actions`]).
//!
//! [`train_world_model`] reproduces the shipped weights (`cargo run --release -p
//! cosmos-posttrain --example train_world_model`); [`WorldModel::load_shipped`] and
//! [`WorldModel::predict`] roll the model forward.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor, TensorData};
use cosmos_diffusion::guidance::{Branch, ConditionFrames, GuidedDenoiser, Network};
use cosmos_diffusion::{DitConditioning, DitConfig, DitPositions, NoiseGenerator, SamplerConfig};
use cosmos_tokenizer::Tokenizer;
use ndarray::{Array4, ArrayView4, s};
use serde::{Deserialize, Serialize};

use crate::conditioning::{ConditionedDit, FrameConditionerConfig, FrameInputs};
use crate::data::{
    LatentNormalization, LatentSample, LatentSet, frames_to_tensor, group_frame_vectors,
};
use crate::trainer::{
    TrainOptions, TrainProgress, TrainSummary, Trainer, load_module_tensors, module_tensors,
    read_safetensors, write_safetensors,
};
use crate::world::{Action, Episode, TRAIN_SEEDS, WorldConfig, episode, episode_with_actions};
use crate::{Error, Result};

/// Video frames per clip.
pub const CLIP_FRAMES: usize = 17;
/// Video frames given as context.
pub const CONTEXT_FRAMES: usize = 5;
/// Latent frames that condition.
pub const CONDITION_LATENT_FRAMES: usize = 2;
/// Video frames per latent frame (the tokenizer's temporal compression).
pub const FRAMES_PER_LATENT: usize = 4;

/// The shipped world model's configuration.
const SHIPPED_CONFIG: &str = include_str!("../weights/world_model/config.json");
/// The shipped world model's weights (DiT and action conditioner, f16).
const SHIPPED_WEIGHTS: &[u8] = include_bytes!("../weights/world_model/model.safetensors");

/// Everything needed to rebuild a world model besides its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldModelConfig {
    /// The DiT (diffusers names).
    pub dit: DitConfig,
    /// The world the model was trained on.
    pub world: WorldConfig,
    /// Width of one video frame's action vector.
    pub action_dim: usize,
    /// Inner width of the action encoder.
    pub action_inner: usize,
    /// Latent normalisation to the σ_data scale.
    pub normalization: LatentNormalization,
    /// Frame rate given to RoPE.
    pub fps: Option<f64>,
    /// Largest σ of the sampler's schedule.
    pub sigma_max: f64,
    /// Whether actions also enter the cross-attention as tokens.
    #[serde(default)]
    pub action_tokens: bool,
    /// Whether each push is also drawn as a spatial action map at the pushed ball
    /// ([`push_map`]), so that every token sees the impulse that acts where it is.
    #[serde(default)]
    pub action_map: bool,
    /// Latent frames predicted per window after the [`CONDITION_LATENT_FRAMES`]: 3 (the
    /// default) predicts frames 5–16 in one window; fewer predict `4 ×` that many frames per
    /// window and [`WorldModel::predict`] rolls the window forward over its own predictions.
    #[serde(default = "default_predicted_latent_frames")]
    pub predicted_latent_frames: usize,
    /// Video frames [`WorldModel::predict`] keeps from each window before rolling forward
    /// (a multiple of 4 up to [`window_frames`](Self::window_frames); `None`: the whole
    /// window). Keeping fewer than a window predicts re-anchors the later frames on fresher
    /// context, at the cost of more windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_keep_frames: Option<usize>,
}

fn default_predicted_latent_frames() -> usize {
    (CLIP_FRAMES - CONTEXT_FRAMES) / FRAMES_PER_LATENT
}

impl WorldModelConfig {
    /// The architecture used for the shipped model: a Video2World DiT with hidden size 128
    /// (4 heads × 32), 4 blocks, patch (1, 2, 2), a one-token 16-wide text context.
    pub fn small(world: WorldConfig) -> Self {
        let dit = DitConfig {
            in_channels: 17,
            out_channels: 16,
            num_attention_heads: 4,
            attention_head_dim: 32,
            num_layers: 4,
            mlp_ratio: 4.0,
            text_embed_dim: 16,
            adaln_lora_dim: 32,
            max_size: [8, 16, 16],
            patch_size: [1, 2, 2],
            rope_scale: [1.0, 1.0, 1.0],
            concat_padding_mask: false,
            extra_pos_embed_type: Some("learnable".into()),
            base_fps: 8.0,
            qk_norm_eps: 1e-6,
            ..DitConfig::default()
        };
        let action_dim = Action::dim(world.balls);
        Self {
            dit,
            world,
            action_dim,
            action_inner: 128,
            normalization: LatentNormalization::default(),
            fps: Some(8.0),
            sigma_max: 40.0,
            action_tokens: true,
            action_map: true,
            predicted_latent_frames: default_predicted_latent_frames(),
            rollout_keep_frames: None,
        }
    }

    /// Frames [`WorldModel::predict`] keeps from each window.
    pub fn keep_frames(&self) -> usize {
        self.rollout_keep_frames.unwrap_or(self.window_frames())
    }

    /// Latent frames of one window: the conditioning ones and the predicted ones.
    pub fn window_latent_frames(&self) -> usize {
        CONDITION_LATENT_FRAMES + self.predicted_latent_frames
    }

    /// Video frames one window predicts.
    pub fn window_frames(&self) -> usize {
        FRAMES_PER_LATENT * self.predicted_latent_frames
    }

    /// Checks the window against the clip: 1 to 3 predicted latent frames.
    pub fn validate(&self) -> Result<()> {
        let most = default_predicted_latent_frames();
        if self.predicted_latent_frames == 0 || self.predicted_latent_frames > most {
            return Err(Error::Config(format!(
                "predicted_latent_frames must be in 1..={most}, found {}",
                self.predicted_latent_frames
            )));
        }
        check_keep(self.keep_frames(), self.window_frames())
    }

    /// Builds a freshly initialised model (zero action projection).
    pub fn init(&self, device: &Device) -> Result<ConditionedDit> {
        self.validate()?;
        let dit = crate::trainer::random_position_tables(self.dit.init(device)?, 0.02);
        let conditioner = FrameConditionerConfig::new(self.dit.hidden_size())
            .with_action_dim(Some(FRAMES_PER_LATENT * self.action_dim))
            .with_inner(Some(self.action_inner))
            // Trained from scratch: no pretrained function to preserve, so a random start.
            .with_zero_init(false)
            .with_action_tokens(
                self.action_tokens
                    .then_some((self.window_latent_frames(), self.dit.text_embed_dim)),
            )
            .with_action_map(
                self.action_map
                    .then_some((PUSH_MAP_CHANNELS, self.dit.patch_size)),
            )
            .init(device)?;
        ConditionedDit::new(dit, conditioner)
    }
}

/// Per-latent-frame action rows `[latent_frames, 4·dim]` from per-video-frame actions (action
/// `t` between frames `t` and `t + 1`): latent frame 0 gets zeros, latent frame `i` the actions
/// `4(i − 1) .. 4i`. `actions` must hold at least `4·(latent_frames − 1)` vectors.
pub fn latent_frame_actions(
    actions: &[Vec<f32>],
    dim: usize,
    latent_frames: usize,
) -> Result<Vec<f32>> {
    let needed = FRAMES_PER_LATENT * latent_frames.saturating_sub(1);
    if actions.len() < needed {
        return Err(Error::Shape {
            what: "actions".into(),
            expected: format!("at least {needed} per-frame vectors"),
            found: format!("{} vectors", actions.len()),
        });
    }
    // Shift by one: the vector "of" video frame f ≥ 1 is the action that produced it.
    let mut shifted = Vec::with_capacity(needed + 1);
    shifted.push(vec![0.0; dim]);
    shifted.extend(actions[..needed].iter().cloned());
    group_frame_vectors(&shifted, dim, FRAMES_PER_LATENT)
}

/// Channels of a [`push_map`]: the impulse's x and y (in units of the world's push strength).
pub const PUSH_MAP_CHANNELS: usize = 2;

/// Width (standard deviation, in latent cells) of the blob a push is drawn as.
const PUSH_MAP_SIGMA: f32 = 1.0;

/// The pushes of `actions` drawn where they act: `[2, latent_frames, h, w]` row-major at the
/// latent's resolution (`h × w` cells over the `size × size` frame).
///
/// Action `t` (between frames `t` and `t + 1`, vectors as [`Action::to_vector`]) lands in the
/// latent frame that holds frame `t + 1`, as a Gaussian blob (σ = 1 cell) of value
/// `impulse / push` centred on the pushed ball. The ball is located with
/// [`ball_positions`](crate::metrics::ball_positions) in the context frames only — what the
/// model is given — at frame `t` for a push inside the context, and extrapolated from its last
/// two context positions for a later push. A ball that cannot be found is left out of the map
/// (its push still reaches the model through the action vectors).
pub fn push_map(
    context: ArrayView4<u8>,
    actions: &[Vec<f32>],
    world: &WorldConfig,
    latent_frames: usize,
    [h, w]: [usize; 2],
) -> Vec<f32> {
    let mut map = vec![0.0f32; PUSH_MAP_CHANNELS * latent_frames * h * w];
    let n = world.balls;
    let frames = context.shape()[0];
    let mut cache: HashMap<usize, Vec<Option<[f32; 2]>>> = HashMap::new();
    let mut locate = |frame: usize, ball: usize| -> Option<[f32; 2]> {
        cache
            .entry(frame)
            .or_insert_with(|| {
                crate::metrics::ball_positions(context.index_axis(ndarray::Axis(0), frame), world)
            })
            .get(ball)
            .copied()
            .flatten()
    };
    let push = world.push.abs().max(1e-6);
    for (t, a) in actions.iter().enumerate() {
        if a.len() != n + 2 || (a[n] == 0.0 && a[n + 1] == 0.0) {
            continue;
        }
        let Some(ball) = (0..n).find(|&i| a[i] > 0.5) else {
            continue;
        };
        let latent = (t + FRAMES_PER_LATENT) / FRAMES_PER_LATENT;
        if latent >= latent_frames || frames == 0 {
            continue;
        }
        let position = if t < frames {
            locate(t, ball)
        } else {
            let last = frames - 1;
            match (
                locate(last, ball),
                last.checked_sub(1).and_then(|p| locate(p, ball)),
            ) {
                (Some(p), Some(q)) => {
                    let k = (t - last) as f32;
                    Some([p[0] + k * (p[0] - q[0]), p[1] + k * (p[1] - q[1])])
                }
                (p, _) => p,
            }
        };
        let Some([x, y]) = position else {
            continue;
        };
        let (cell_w, cell_h) = (world.size as f32 / w as f32, world.size as f32 / h as f32);
        let (u, v) = (x / cell_w - 0.5, y / cell_h - 0.5);
        let value = [a[n] / push, a[n + 1] / push];
        for row in 0..h {
            for col in 0..w {
                let d2 = (col as f32 - u).powi(2) + (row as f32 - v).powi(2);
                let g = (-d2 / (2.0 * PUSH_MAP_SIGMA * PUSH_MAP_SIGMA)).exp();
                if g < 1e-4 {
                    continue;
                }
                for (c, val) in value.iter().enumerate() {
                    map[((c * latent_frames + latent) * h + row) * w + col] += g * val;
                }
            }
        }
    }
    map
}

/// Frames kept per window: a multiple of [`FRAMES_PER_LATENT`] in `4..=window`.
fn check_keep(keep: usize, window: usize) -> Result<()> {
    if keep == 0 || keep > window || !keep.is_multiple_of(FRAMES_PER_LATENT) {
        return Err(Error::Config(format!(
            "frames kept per window must be a multiple of {FRAMES_PER_LATENT} up to the \
             window's {window}, found {keep}"
        )));
    }
    Ok(())
}

/// The action-conditioned world model: tokenizer + conditioned DiT.
pub struct WorldModel {
    /// The world tokenizer.
    pub tokenizer: Tokenizer,
    /// The DiT with its action conditioner.
    pub model: ConditionedDit,
    /// The configuration.
    pub config: WorldModelConfig,
    device: Device,
}

/// The tokenizer's folder inside a world-model folder.
pub const TOKENIZER_DIR: &str = "tokenizer";
/// The configuration file of a world-model folder.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file of a world-model folder (DiT and conditioner).
pub const WEIGHTS_FILE: &str = "model.safetensors";

impl WorldModel {
    /// The shipped model (embedded world tokenizer and DiT) on `device`.
    pub fn load_shipped(device: &Device) -> Result<Self> {
        let tokenizer = crate::tokenizer_train::load_world_tokenizer(device)?;
        Self::from_bytes(tokenizer, SHIPPED_CONFIG, SHIPPED_WEIGHTS, device)
    }

    /// Writes the shipped model as a world-model folder (the files [`load`](Self::load)
    /// reads), byte for byte what is embedded.
    pub fn export_shipped(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for (name, bytes) in [
            (CONFIG_FILE, SHIPPED_CONFIG.as_bytes()),
            (WEIGHTS_FILE, SHIPPED_WEIGHTS),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        }
        crate::tokenizer_train::write_world_tokenizer(&dir.join(TOKENIZER_DIR))
    }

    /// Whether `dir` looks like a world-model folder (a `config.json` with the `dit`, `world`
    /// and `action_dim` fields of [`WorldModelConfig`]).
    pub fn is_world_model_dir(dir: &Path) -> bool {
        std::fs::read_to_string(dir.join(CONFIG_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| {
                v.get("dit").is_some() && v.get("world").is_some() && v.get("action_dim").is_some()
            })
    }

    /// A world-model folder on `device`: `config.json` ([`WorldModelConfig`]),
    /// `model.safetensors` (DiT and action conditioner) and `tokenizer/` (the video tokenizer:
    /// `config.json` + `tokenizer.safetensors`). Folders written before the tokenizer was stored
    /// with the model use the embedded world tokenizer.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let tokenizer_dir = dir.join(TOKENIZER_DIR);
        let tokenizer = if tokenizer_dir
            .join(crate::tokenizer_train::CONFIG_FILE)
            .is_file()
        {
            crate::tokenizer_train::load_tokenizer_folder(&tokenizer_dir, device)?
        } else {
            crate::tokenizer_train::load_world_tokenizer(device)?
        };
        Self::load_with_tokenizer(dir, tokenizer, device)
    }

    /// A world-model folder's `config.json` and `model.safetensors` with a tokenizer given
    /// here instead of the folder's.
    pub fn load_with_tokenizer(dir: &Path, tokenizer: Tokenizer, device: &Device) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        let config =
            std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let weights = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
        Self::from_bytes(tokenizer, &config, &weights, device)
    }

    fn from_bytes(
        tokenizer: Tokenizer,
        config: &str,
        weights: &[u8],
        device: &Device,
    ) -> Result<Self> {
        let config: WorldModelConfig = serde_json::from_str(config).map_err(|e| Error::Format {
            path: "world model config.json".into(),
            reason: e.to_string(),
        })?;
        let (tensors, _) = read_safetensors(weights, "world model weights")?;
        let model = load_module_tensors(config.init(device)?, &tensors, "world model weights")?;
        Ok(Self::new(tokenizer, model, config, device))
    }

    /// Assembles a model from its parts.
    pub fn new(
        tokenizer: Tokenizer,
        model: ConditionedDit,
        config: WorldModelConfig,
        device: &Device,
    ) -> Self {
        Self {
            tokenizer,
            model,
            config,
            device: device.clone(),
        }
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Writes the world-model folder [`load`](Self::load) reads: `config.json`,
    /// `model.safetensors` (weights as `dtype`: f16 keeps the shipped files small) and the
    /// world tokenizer under `tokenizer/`.
    pub fn save(&self, dir: &Path, dtype: DType) -> Result<()> {
        save_model(&self.model, &self.config, dir, dtype)
    }

    /// Predicts the 12 frames that follow 5 context frames.
    ///
    /// `context: [5, 64, 64, 3]` u8 frames; `actions`: 16 per-frame vectors for frames 0..16
    /// (action `t` between frames `t` and `t + 1`; [`Action::to_vector`]). Returns
    /// `[12, 64, 64, 3]`. The model rolls forward window by window
    /// ([`predict_sliding`](Self::predict_sliding)) when its window predicts fewer than 12
    /// frames ([`WorldModelConfig::predicted_latent_frames`]) or it keeps fewer
    /// ([`WorldModelConfig::rollout_keep_frames`]). Deterministic given
    /// `seed`; `steps` Euler steps (1 for the shipped model, which predicts the conditional
    /// mean).
    pub fn predict(
        &self,
        context: ArrayView4<u8>,
        actions: &[Vec<f32>],
        seed: u64,
        steps: usize,
    ) -> Result<Array4<u8>> {
        self.predict_sliding(context, actions, seed, steps, self.config.keep_frames())
    }

    /// Predicts the 12 frames that follow 5 context frames window by window: each window
    /// predicts from the latest 5 frames (given or already predicted) and keeps its first
    /// `keep` frames, so no kept frame is more than `keep` frames past its window's context.
    /// `keep` is a multiple of 4 up to the window's frames ([`WorldModelConfig::window_frames`]).
    /// Arguments otherwise as [`predict`](Self::predict).
    pub fn predict_sliding(
        &self,
        context: ArrayView4<u8>,
        actions: &[Vec<f32>],
        seed: u64,
        steps: usize,
        keep: usize,
    ) -> Result<Array4<u8>> {
        if actions.len() != CLIP_FRAMES - 1 {
            return Err(Error::Shape {
                what: "actions".into(),
                expected: format!("{} per-frame vectors", CLIP_FRAMES - 1),
                found: format!("{} vectors", actions.len()),
            });
        }
        let past = CONTEXT_FRAMES - 1;
        let mut out = self.rollout_batch(
            context,
            &actions[..past],
            &[actions[past..].to_vec()],
            seed,
            steps,
            keep,
        )?;
        Ok(out.pop().expect("one plan"))
    }

    /// Rolls the future forward from `context` (the last [`CONTEXT_FRAMES`] frames,
    /// `[5, size, size, 3]`) under `plan`, one action vector per predicted frame (vector `k`
    /// acts between predicted frame `k − 1` and `k`, frame −1 being the last context frame):
    /// returns `[plan.len(), size, size, 3]`, window by window on the model's own predictions
    /// ([`WorldModelConfig::keep_frames`] kept per window). `past` holds the 4 actions between
    /// the context frames (empty: no action). Deterministic given `seed`.
    pub fn rollout(
        &self,
        context: ArrayView4<u8>,
        past: &[Vec<f32>],
        plan: &[Vec<f32>],
        seed: u64,
        steps: usize,
    ) -> Result<Array4<u8>> {
        let mut out = self.rollout_batch(
            context,
            past,
            &[plan.to_vec()],
            seed,
            steps,
            self.config.keep_frames(),
        )?;
        Ok(out.pop().expect("one plan"))
    }

    /// [`rollout`](Self::rollout) of several candidate plans (all of one length) from the same
    /// context, batched: every window runs the tokenizer and the DiT once for all plans, and
    /// plan `i`'s frames equal those of a lone rollout of it. Frames kept per window: `keep`.
    pub fn rollout_batch(
        &self,
        context: ArrayView4<u8>,
        past: &[Vec<f32>],
        plans: &[Vec<Vec<f32>>],
        seed: u64,
        steps: usize,
        keep: usize,
    ) -> Result<Vec<Array4<u8>>> {
        let size = self.config.world.size;
        let want = [CONTEXT_FRAMES, size, size, 3];
        if context.shape() != want {
            return Err(Error::Shape {
                what: "context frames".into(),
                expected: format!("{want:?}"),
                found: format!("{:?}", context.shape()),
            });
        }
        let dim = self.config.action_dim;
        let none = vec![0.0f32; dim];
        let past: Vec<Vec<f32>> = match past.len() {
            0 => vec![none.clone(); CONTEXT_FRAMES - 1],
            n if n == CONTEXT_FRAMES - 1 => past.to_vec(),
            n => {
                return Err(Error::Shape {
                    what: "past actions".into(),
                    expected: format!("0 or {} per-frame vectors", CONTEXT_FRAMES - 1),
                    found: format!("{n} vectors"),
                });
            }
        };
        let Some(first) = plans.first() else {
            return Ok(vec![]);
        };
        let n = first.len();
        if let Some(p) = plans.iter().find(|p| p.len() != n) {
            return Err(Error::Shape {
                what: "action plans".into(),
                expected: format!("{n} vectors in every plan"),
                found: format!("{} vectors", p.len()),
            });
        }
        for (k, a) in past.iter().chain(plans.iter().flatten()).enumerate() {
            if a.len() != dim {
                return Err(Error::Shape {
                    what: format!("action {k}"),
                    expected: format!("{dim} values"),
                    found: format!("{} values", a.len()),
                });
            }
        }
        check_keep(keep, self.config.window_frames())?;
        let total = CONTEXT_FRAMES + n;
        let timelines: Vec<Vec<Vec<f32>>> = plans
            .iter()
            .map(|p| past.iter().chain(p).cloned().collect())
            .collect();
        let mut frames: Vec<Array4<u8>> = plans
            .iter()
            .map(|_| {
                let mut f = Array4::<u8>::zeros((total, size, size, 3));
                f.slice_mut(s![..CONTEXT_FRAMES, .., .., ..])
                    .assign(&context);
                f
            })
            .collect();
        let mut done = CONTEXT_FRAMES;
        while done < total {
            let start = done - CONTEXT_FRAMES;
            let windows: Vec<Vec<Vec<f32>>> = timelines
                .iter()
                .map(|t| {
                    (start..start + CLIP_FRAMES - 1)
                        .map(|i| t.get(i).cloned().unwrap_or_else(|| none.clone()))
                        .collect()
                })
                .collect();
            let contexts: Vec<ArrayView4<u8>> = frames
                .iter()
                .map(|f| f.slice(s![start..done, .., .., ..]))
                .collect();
            let predicted = self.predict_windows(&contexts, &windows, seed, steps)?;
            let take = keep.min(total - done);
            for (f, p) in frames.iter_mut().zip(&predicted) {
                f.slice_mut(s![done..done + take, .., .., ..])
                    .assign(&p.slice(s![..take, .., .., ..]));
            }
            done += take;
        }
        Ok(frames
            .into_iter()
            .map(|f| f.slice(s![CONTEXT_FRAMES.., .., .., ..]).to_owned())
            .collect())
    }

    /// One window for each of a batch of contexts: the
    /// [`window_frames`](WorldModelConfig::window_frames) frames after each `contexts[i]`
    /// (`[5, size, size, 3]`) under `actions[i]` (16 per-frame vectors, checked by the caller).
    fn predict_windows(
        &self,
        contexts: &[ArrayView4<u8>],
        actions: &[Vec<Vec<f32>>],
        seed: u64,
        steps: usize,
    ) -> Result<Vec<Array4<u8>>> {
        let batch = contexts.len();
        let latent_frames = self.config.window_latent_frames();
        let videos = contexts
            .iter()
            .map(|c| frames_to_tensor(*c, &self.device))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let context_latent = self.tokenizer.encode(Tensor::cat(videos, 0))?.latent; // [B, C, 2, h, w]
        let [_, c, _, h, w] = context_latent.dims();
        let norm = self.config.normalization;
        let cond = norm.apply(context_latent);
        let latent = Tensor::cat(
            vec![
                cond,
                Tensor::zeros(
                    [batch, c, latent_frames - CONDITION_LATENT_FRAMES, h, w],
                    &self.device,
                ),
            ],
            2,
        );
        let mut rows = Vec::new();
        for a in actions {
            rows.extend(latent_frame_actions(
                a,
                self.config.action_dim,
                latent_frames,
            )?);
        }
        let width = FRAMES_PER_LATENT * self.config.action_dim;
        let action_map = self.config.action_map.then(|| {
            let map: Vec<f32> = contexts
                .iter()
                .zip(actions)
                .flat_map(|(ctx, a)| push_map(*ctx, a, &self.config.world, latent_frames, [h, w]))
                .collect();
            Tensor::from_data(
                TensorData::new(map, [batch, PUSH_MAP_CHANNELS, latent_frames, h, w]),
                &self.device,
            )
        });
        let inputs = FrameInputs {
            actions: Some(Tensor::from_data(
                TensorData::new(rows, [batch, latent_frames, width]),
                &self.device,
            )),
            action_map,
            ..FrameInputs::default()
        };
        let sample = sample_latent(&self.model, &self.config, latent, inputs, seed, steps)?;
        let decoded = self.tokenizer.decode(norm.invert(sample))?.clamp(-1.0, 1.0);
        (0..batch)
            .map(|i| {
                let frames = crate::data::tensor_to_frames(decoded.clone().narrow(0, i, 1))?;
                Ok(frames.slice(s![CONTEXT_FRAMES.., .., .., ..]).to_owned())
            })
            .collect()
    }
}

/// Samples the predicted latent frames of `latent` (normalised, conditioning frames first)
/// with a deterministic Euler sampler.
pub fn sample_latent(
    model: &ConditionedDit,
    config: &WorldModelConfig,
    latent: Tensor<5>,
    inputs: FrameInputs,
    seed: u64,
    steps: usize,
) -> Result<Tensor<5>> {
    let device = latent.device();
    let [b, c, t, h, w] = latent.dims();
    // Every sample draws its noise from the same seed, so a batch of candidate plans gives
    // each plan the frames a lone run of it gives.
    let (initial, augment): (Vec<_>, Vec<_>) = (0..b)
        .map(|_| {
            let mut noise = NoiseGenerator::new(seed);
            let initial = noise.tensor([1, c, t, h, w], &device);
            (initial, noise.tensor([1, c, t, h, w], &device))
        })
        .unzip();
    let (initial, augment) = (Tensor::cat(initial, 0), Tensor::cat(augment, 0));
    let network = ConditionedNetwork {
        model,
        context: Tensor::zeros([b, 1, config.dit.text_embed_dim], &device),
        inputs,
        fps: config.fps,
        positions: model.dit.positions([t, h, w], config.fps)?,
    };
    let mut denoiser = GuidedDenoiser::new(network, 0.0).with_condition(Some(ConditionFrames {
        latent,
        frames: CONDITION_LATENT_FRAMES,
        augment_sigma: 0.001,
        augment_noise: augment,
        input_frames_guidance: false,
    }));
    let sampler = SamplerConfig {
        sigma_max: config.sigma_max,
        ..SamplerConfig::euler(steps.max(1))
    }
    .build()?;
    Ok(sampler.sample(&mut denoiser, initial, &mut |_| {})?)
}

/// A [`ConditionedDit`] as the guided denoiser's raw network (one branch, no guidance).
pub struct ConditionedNetwork<'a> {
    /// The model.
    pub model: &'a ConditionedDit,
    /// Text context `[batch, tokens, text_dim]`.
    pub context: Tensor<3>,
    /// Per-frame inputs.
    pub inputs: FrameInputs,
    /// Frame rate for RoPE.
    pub fps: Option<f64>,
    /// Position tables for the sample's grid.
    pub positions: DitPositions,
}

impl Network for ConditionedNetwork<'_> {
    fn forward(
        &mut self,
        x_in: Tensor<5>,
        c_noise: f64,
        _branch: Branch,
        condition_mask: Option<Tensor<5>>,
    ) -> cosmos_diffusion::Result<Tensor<5>> {
        let [b, _, _, _, _] = x_in.dims();
        let timestep = Tensor::<1>::full([b], c_noise, &x_in.device());
        let conditioning = DitConditioning {
            fps: self.fps,
            condition_mask,
            padding_mask: None,
            action: None,
        };
        self.model
            .forward(
                x_in,
                timestep,
                self.context.clone(),
                &conditioning,
                &self.positions,
                &self.inputs,
            )
            .map_err(|e| match e {
                Error::Diffusion(d) => d,
                other => cosmos_diffusion::Error::Argument(other.to_string()),
            })
    }
}

/// Writes a world-model folder ([`WorldModel::load`] reads it): `config.json`,
/// `model.safetensors` and, under `tokenizer/`, the world tokenizer every model of this world
/// is trained on.
pub fn save_model(
    model: &ConditionedDit,
    config: &WorldModelConfig,
    dir: &Path,
    dtype: DType,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let text = serde_json::to_string_pretty(config).map_err(|e| Error::Config(e.to_string()))?;
    let config_path = dir.join(CONFIG_FILE);
    std::fs::write(&config_path, text + "\n").map_err(|e| Error::io(&config_path, e))?;
    let mut meta = HashMap::new();
    meta.insert("format".into(), "cosmos-posttrain world model".into());
    let tensors: BTreeMap<String, TensorData> = module_tensors(model, "");
    write_safetensors(&dir.join(WEIGHTS_FILE), &tensors, meta, dtype)?;
    crate::tokenizer_train::write_world_tokenizer(&dir.join(TOKENIZER_DIR))
}

/// Options of [`train_world_model`].
#[derive(Debug, Clone)]
pub struct WorldModelTrainOptions {
    /// Training episodes (seeds from [`TRAIN_SEEDS`]).
    pub episodes: usize,
    /// The world.
    pub world: WorldConfig,
    /// Training options (the condition frames are set to 2).
    pub train: TrainOptions,
    /// Latent cache file (reused when it exists and matches).
    pub cache: Option<PathBuf>,
    /// Where the trained model goes (`config.json` + `model.safetensors`).
    pub out_dir: PathBuf,
    /// Stop after this many seconds of training, whatever `train.steps` says.
    pub max_seconds: Option<f64>,
    /// Stop after this step, whatever `train.steps` says (the learning-rate schedule still
    /// spans `train.steps`): replays a run that a time limit ended, on any machine.
    pub stop_after: Option<usize>,
    /// Resume from the training checkpoint if present.
    pub resume: bool,
    /// Where the training checkpoint (weights, Adam moments, step) goes; `out_dir/training`
    /// when `None` (keep it out of a folder that is shipped).
    pub checkpoint_dir: Option<PathBuf>,
    /// Start from a trained world model (a folder written by [`WorldModel::save`]) instead of
    /// random weights. Conditioning the given model lacks (e.g. the spatial action map) is
    /// added with zero-initialised output projections, so training starts from that model's
    /// exact function; its latent normalisation is kept.
    pub init_from: Option<PathBuf>,
    /// Draw pushes as spatial action maps too ([`WorldModelConfig::action_map`]).
    pub action_map: bool,
    /// Latent frames predicted per window ([`WorldModelConfig::predicted_latent_frames`]):
    /// training uses the first `2 +` this many latent frames of each episode.
    pub predicted_latent_frames: usize,
    /// Add [`rollout_samples`] of the `init_from` model, this many windows deep (0: none), to
    /// the training set: later windows learn from the context a rollout really gives them.
    pub rollout_levels: usize,
    /// Cache of those samples (reused when it exists and holds one per level and episode;
    /// made with another initial model it is stale: delete it).
    pub rollout_cache: Option<PathBuf>,
}

/// The actions of training episode `seed`: the world's random pushes while the context is
/// recorded (actions 0–3), a push of a random ball in a random direction at action 4 (the
/// first one the model plays out) in 3 episodes of 4, and rarer pushes after it, so that the
/// effect of an action on the predicted frames is seen often.
pub fn training_actions(world: &WorldConfig, seed: u64) -> Vec<Action> {
    use crate::world::{Direction, random_actions};
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};
    let mut actions = random_actions(world, seed, CLIP_FRAMES);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xAC71_0000_0000_0001);
    let random_push = |rng: &mut ChaCha8Rng| {
        let ball = (rng.next_u32() as usize) % world.balls.max(1);
        let direction = match rng.next_u32() % 4 {
            0 => Direction::Left,
            1 => Direction::Right,
            2 => Direction::Up,
            _ => Direction::Down,
        };
        Action::push(ball, direction, world.push)
    };
    actions[CONTEXT_FRAMES - 1] = if rng.next_u32() % 4 != 0 {
        random_push(&mut rng)
    } else {
        Action::none()
    };
    for a in actions[CONTEXT_FRAMES..].iter_mut() {
        *a = if rng.next_u32() % 12 == 0 {
            random_push(&mut rng)
        } else {
            Action::none()
        };
    }
    actions
}

/// Episodes → tokenizer latents (normalised later) with per-latent-frame actions.
pub fn encode_episodes(
    tokenizer: &Tokenizer,
    world: &WorldConfig,
    seeds: impl Iterator<Item = u64>,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<LatentSet> {
    let seeds: Vec<u64> = seeds.collect();
    let mut set: Option<LatentSet> = None;
    let dim = Action::dim(world.balls);
    for (done, chunk) in seeds.chunks(16).enumerate() {
        let episodes: Vec<Episode> = chunk
            .iter()
            .map(|&s| episode_with_actions(world, s, &training_actions(world, s)))
            .collect();
        let views: Vec<ArrayView4<u8>> = episodes.iter().map(|e| e.frames.view()).collect();
        let vectors: Vec<Vec<Vec<f32>>> = episodes
            .iter()
            .map(|e| e.actions.iter().map(|a| a.to_vector(world.balls)).collect())
            .collect();
        push_encoded_clips(
            &mut set, tokenizer, &views, &vectors, world, dim, true, device,
        )?;
        progress((done + 1) * 16);
    }
    set.ok_or_else(|| Error::Config("no episodes to encode".into()))
}

/// Encodes `clips` (`[T, H, W, 3]` each) with `tokenizer` and adds one sample per clip to `set`
/// (made on first use, of the latents' shape): the clip's per-frame action vectors grouped by
/// latent frame and, with `action_map`, the push map of its context frames.
#[allow(clippy::too_many_arguments)]
fn push_encoded_clips(
    set: &mut Option<LatentSet>,
    tokenizer: &Tokenizer,
    clips: &[ArrayView4<u8>],
    actions: &[Vec<Vec<f32>>],
    world: &WorldConfig,
    dim: usize,
    action_map: bool,
    device: &Device,
) -> Result<()> {
    let video = crate::tokenizer_train::clips_to_tensor(clips, device)?;
    let latent = tokenizer.encode(video)?.latent;
    let [b, c, t, h, w] = latent.dims();
    let values: Vec<f32> = latent
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Config(format!("latent values: {e:?}")))?;
    let per = c * t * h * w;
    let set = set.get_or_insert_with(|| LatentSet::new([c, t, h, w]));
    for (i, (clip, vectors)) in clips.iter().zip(actions).enumerate().take(b) {
        let map = action_map.then(|| {
            push_map(
                clip.slice(s![..CONTEXT_FRAMES, .., .., ..]),
                vectors,
                world,
                t,
                [h, w],
            )
        });
        set.push(LatentSample {
            latent: values[i * per..(i + 1) * per].to_vec(),
            actions: Some(latent_frame_actions(vectors, dim, t)?),
            camera: None,
            view: None,
            context: None,
            action_map: map,
        })?;
    }
    Ok(())
}

/// Training samples on the model's own predictions, so that later windows of a rollout are
/// trained on the context a rollout really gives them (a cure for exposure bias: a model trained
/// only on simulator frames meets its own softer, slightly displaced predictions from the second
/// window on, and its errors compound).
///
/// For each training episode of `seeds` (the actions of [`training_actions`]), `model` rolls
/// the first `levels` windows forward from the 5 given frames as [`WorldModel::rollout`] does;
/// sample `L` (`1 ..= levels`) is the clip whose 5 context frames start at frame `4L` — the
/// last given or predicted frame before the window and the `L`-th predicted window — followed by
/// the simulator's frames of the next window as the target, encoded by the model's tokenizer
/// with the matching actions and push map. Needs a one-latent-frame window
/// (`predicted_latent_frames == 1`) and `levels` 1 or 2 (a 17-frame episode holds two windows
/// after the first). The set's latents are not normalised.
pub fn rollout_samples(
    model: &WorldModel,
    seeds: impl Iterator<Item = u64>,
    levels: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<LatentSet> {
    let config = &model.config;
    let window = config.window_frames();
    let most = (CLIP_FRAMES - CONTEXT_FRAMES) / window.max(1) - 1;
    if config.predicted_latent_frames != 1 || levels == 0 || levels > most {
        return Err(Error::Config(format!(
            "rollout samples need a one-latent-frame window and 1 to {most} levels \
             (found a window of {} latent frames and {levels} levels)",
            config.predicted_latent_frames
        )));
    }
    let world = &config.world;
    let dim = config.action_dim;
    let clip = CONTEXT_FRAMES + window;
    let none = vec![0.0f32; dim];
    let window_actions = |v: &[Vec<f32>], start: usize| -> Vec<Vec<f32>> {
        (start..start + CLIP_FRAMES - 1)
            .map(|i| v.get(i).cloned().unwrap_or_else(|| none.clone()))
            .collect()
    };
    let seeds: Vec<u64> = seeds.collect();
    let mut set: Option<LatentSet> = None;
    for (done, chunk) in seeds.chunks(16).enumerate() {
        let episodes: Vec<Episode> = chunk
            .iter()
            .map(|&s| episode_with_actions(world, s, &training_actions(world, s)))
            .collect();
        let vectors: Vec<Vec<Vec<f32>>> = episodes
            .iter()
            .map(|e| e.actions.iter().map(|a| a.to_vector(world.balls)).collect())
            .collect();
        // The frames as a rollout sees them: given up to frame 4, predicted after.
        let mut seen: Vec<Array4<u8>> = episodes.iter().map(|e| e.frames.clone()).collect();
        for level in 1..=levels {
            let start = (level - 1) * window;
            let windows: Vec<Vec<Vec<f32>>> =
                vectors.iter().map(|v| window_actions(v, start)).collect();
            let contexts: Vec<ArrayView4<u8>> = seen
                .iter()
                .map(|f| f.slice(s![start..start + CONTEXT_FRAMES, .., .., ..]))
                .collect();
            let predicted = model.predict_windows(&contexts, &windows, chunk[0], 1)?;
            let at = start + CONTEXT_FRAMES;
            for (f, p) in seen.iter_mut().zip(&predicted) {
                f.slice_mut(s![at..at + window, .., .., ..])
                    .assign(&p.slice(s![..window, .., .., ..]));
            }
            // The sample: this context, then the simulator's next window.
            let sample_start = level * window;
            let clips: Vec<Array4<u8>> = seen
                .iter()
                .zip(&episodes)
                .map(|(f, e)| {
                    let mut c = e
                        .frames
                        .slice(s![sample_start..sample_start + clip, .., .., ..])
                        .to_owned();
                    c.slice_mut(s![..CONTEXT_FRAMES, .., .., ..])
                        .assign(&f.slice(s![
                            sample_start..sample_start + CONTEXT_FRAMES,
                            ..,
                            ..,
                            ..
                        ]));
                    c
                })
                .collect();
            let views: Vec<ArrayView4<u8>> = clips.iter().map(|c| c.view()).collect();
            let actions: Vec<Vec<Vec<f32>>> = vectors
                .iter()
                .map(|v| window_actions(v, sample_start))
                .collect();
            push_encoded_clips(
                &mut set,
                &model.tokenizer,
                &views,
                &actions,
                world,
                dim,
                config.action_map,
                &model.device,
            )?;
        }
        progress((done + 1) * 16);
    }
    set.ok_or_else(|| Error::Config("no episodes to roll out".into()))
}

/// Adds the [`push_map`]s of training episodes `TRAIN_SEEDS.start ..` (in order) to a set
/// encoded without them.
fn attach_push_maps(set: &mut LatentSet, world: &WorldConfig) -> Result<()> {
    let [_, t, h, w] = set.shape;
    let mut samples = std::mem::take(&mut set.samples);
    set.action_map_channels = None;
    for (i, mut sample) in samples.drain(..).enumerate() {
        let seed = TRAIN_SEEDS.start + i as u64;
        let actions = training_actions(world, seed);
        let e = episode_with_actions(world, seed, &actions);
        let vectors: Vec<Vec<f32>> = e.actions.iter().map(|a| a.to_vector(world.balls)).collect();
        sample.action_map = Some(push_map(
            e.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]),
            &vectors,
            world,
            t,
            [h, w],
        ));
        set.push(sample)?;
    }
    Ok(())
}

/// Trains the world model on the world tokenizer's latents: encodes (or reads the cached)
/// latents of `episodes` training episodes, fits the latent normalisation, trains with
/// [`Trainer`] and writes the model to `out_dir`.
pub fn train_world_model(
    mut tokenizer: Tokenizer,
    options: &WorldModelTrainOptions,
    device: &Device,
    log: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(WorldModel, TrainSummary)> {
    let start = Instant::now();
    WorldModelConfig {
        predicted_latent_frames: options.predicted_latent_frames,
        ..WorldModelConfig::small(options.world.clone())
    }
    .validate()?;
    let cached = options
        .cache
        .as_ref()
        .filter(|p| p.is_file())
        .map(|p| LatentSet::load(p))
        .transpose()?
        .filter(|s| s.len() == options.episodes)
        .map(|s| -> Result<Option<LatentSet>> {
            // A cache made with another tokenizer is stale: re-encode the first episode.
            let check = encode_episodes(
                &tokenizer,
                &options.world,
                TRAIN_SEEDS.start..TRAIN_SEEDS.start + 1,
                device,
                &mut |_| {},
            )?;
            let same = check.samples[0]
                .latent
                .iter()
                .zip(&s.samples[0].latent)
                .all(|(a, b)| (a - b).abs() < 1e-3);
            Ok(same.then_some(s))
        })
        .transpose()?
        .flatten();
    let mut set = match cached {
        Some(s) => {
            log(&format!("latents: {} episodes from the cache", s.len()));
            s
        }
        None => {
            let seeds = TRAIN_SEEDS.start..TRAIN_SEEDS.start + options.episodes as u64;
            let set = encode_episodes(&tokenizer, &options.world, seeds, device, &mut |n| {
                if n % 512 == 0 {
                    log(&format!("encoded {n}/{} episodes", options.episodes));
                }
            })?;
            if let Some(p) = &options.cache {
                set.save(p)?;
            }
            log(&format!(
                "latents: {} episodes encoded in {:.0} s",
                set.len(),
                start.elapsed().as_secs_f64()
            ));
            set
        }
    };
    // Caches written before push maps existed: the maps come from the episodes' own frames.
    if set.action_map_channels.is_none() {
        attach_push_maps(&mut set, &options.world)?;
    }
    if !options.action_map {
        set.action_map_channels = None;
        for s in &mut set.samples {
            s.action_map = None;
        }
    }
    let mut config = WorldModelConfig::small(options.world.clone());
    config.action_map = options.action_map;
    config.predicted_latent_frames = options.predicted_latent_frames;
    if config.window_latent_frames() < set.shape[1] {
        set.truncate_frames(config.window_latent_frames())?;
    }
    let start_from = match &options.init_from {
        Some(dir) => {
            let path = dir.join("config.json");
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let base: WorldModelConfig =
                serde_json::from_str(&text).map_err(|e| Error::Format {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            let path = dir.join("model.safetensors");
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let (tensors, _) = read_safetensors(&bytes, &path.display().to_string())?;
            config.normalization = base.normalization;
            config.action_tokens = base.action_tokens;
            log(&format!(
                "starting from {} ({} tensors)",
                dir.display(),
                tensors.len()
            ));
            Some(tensors)
        }
        None => {
            config.normalization = LatentNormalization::fit(&set);
            None
        }
    };
    if options.rollout_levels > 0 {
        let dir = options.init_from.as_ref().ok_or_else(|| {
            Error::Config("rollout samples need a trained model to roll out (--init DIR)".into())
        })?;
        let wanted = options.rollout_levels * options.episodes;
        let cached = options
            .rollout_cache
            .as_ref()
            .filter(|p| p.is_file())
            .map(|p| LatentSet::load(p))
            .transpose()?
            .filter(|s| s.len() == wanted && s.shape == set.shape);
        let extra = match cached {
            Some(s) => {
                log(&format!("rollout samples: {} from the cache", s.len()));
                s
            }
            None => {
                let t = Instant::now();
                // Rolled out with the tokenizer this run trains on (it encodes the samples too).
                let base = WorldModel::load_with_tokenizer(dir, tokenizer, device)?;
                let seeds = TRAIN_SEEDS.start..TRAIN_SEEDS.start + options.episodes as u64;
                let s = rollout_samples(&base, seeds, options.rollout_levels, &mut |n| {
                    if n % 512 == 0 {
                        log(&format!("rolled out {n}/{} episodes", options.episodes));
                    }
                });
                tokenizer = base.tokenizer;
                let s = s?;
                if let Some(p) = &options.rollout_cache {
                    s.save(p)?;
                }
                log(&format!(
                    "rollout samples: {} in {:.0} s",
                    s.len(),
                    t.elapsed().as_secs_f64()
                ));
                s
            }
        };
        for mut sample in extra.samples {
            if !options.action_map {
                sample.action_map = None;
            }
            set.push(sample)?;
        }
    }
    set.normalize(config.normalization);
    log(&format!(
        "normalisation: mean {:.4}, scale {:.4}",
        config.normalization.mean, config.normalization.scale
    ));
    device.seed(options.train.seed);
    let mut model = config.init(device)?;
    if let Some(tensors) = start_from {
        // New conditioning keeps its (zero-output) initialisation; everything else is loaded.
        let mut all = module_tensors(&model, "");
        for (k, v) in tensors {
            all.insert(k, v);
        }
        model = load_module_tensors(model, &all, "initial world model")?;
    }
    let mut train = options.train.clone();
    train.condition_frames = CONDITION_LATENT_FRAMES;
    train.fps = config.fps;
    let checkpoint_dir = options
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| options.out_dir.join("training"));
    train.out_dir = Some(checkpoint_dir.clone());
    let mut trainer = Trainer::new(model, train)?;
    let checkpoint = checkpoint_dir.join(crate::trainer::CHECKPOINT_FILE);
    if options.resume && checkpoint.is_file() {
        trainer.resume(&checkpoint)?;
        log(&format!("resumed at step {}", trainer.step));
    }
    let deadline = options.max_seconds;
    let train_start = Instant::now();
    let mut summary_losses = Vec::new();
    let steps = trainer.options.steps;
    let mut last_checkpoint = None;
    while trainer.step < steps {
        let lr = trainer.options.learning_rate_at(trainer.step);
        let (loss, grad_norm) = trainer.train_step(&set)?;
        summary_losses.push(loss);
        progress(TrainProgress {
            step: trainer.step,
            steps,
            loss,
            learning_rate: lr,
            grad_norm,
            elapsed: train_start.elapsed().as_secs_f64(),
        });
        let out_of_time = deadline.is_some_and(|d| train_start.elapsed().as_secs_f64() > d)
            || options.stop_after.is_some_and(|s| trainer.step >= s);
        let due = trainer
            .options
            .checkpoint_every
            .is_some_and(|e| trainer.step % e == 0);
        if due || out_of_time || trainer.step == steps {
            trainer.save_checkpoint(&checkpoint)?;
            last_checkpoint = Some(checkpoint.clone());
        }
        if out_of_time && trainer.step < steps {
            log(&format!("stopped at step {} of {steps}", trainer.step));
            break;
        }
    }
    let n = summary_losses.len();
    let window = n.clamp(1, 50);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let summary = TrainSummary {
        steps: trainer.step,
        final_loss: mean(&summary_losses[n.saturating_sub(window)..]),
        first_loss: mean(&summary_losses[..window.min(n)]),
        seconds: train_start.elapsed().as_secs_f64(),
        checkpoint: last_checkpoint,
    };
    let model = trainer.into_model().to_device(device);
    save_model(&model, &config, &options.out_dir, DType::F16)?;
    Ok((WorldModel::new(tokenizer, model, config, device), summary))
}

/// Held-out quality of a world model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Episodes evaluated.
    pub episodes: usize,
    /// Mean PSNR of the predicted frames 5–16 against the simulator.
    pub psnr_model_db: f64,
    /// Mean PSNR of repeating frame 4 (the copy-last-frame baseline).
    pub psnr_copy_last_db: f64,
    /// Mean PSNR of the tokenizer's own reconstruction of frames 5–16 (the ceiling).
    pub psnr_tokenizer_db: f64,
    /// Seconds per prediction.
    pub seconds_per_prediction: f64,
}

/// Predicts frames 5–16 of the episodes of `seeds` from their first 5 frames and their actions
/// and compares them with the simulator.
pub fn evaluate(
    model: &WorldModel,
    seeds: impl Iterator<Item = u64>,
    steps: usize,
) -> Result<Evaluation> {
    use crate::metrics::{mean, psnr_per_frame};
    let world = &model.config.world;
    let (mut m, mut c, mut tk) = (Vec::new(), Vec::new(), Vec::new());
    let mut seconds = 0.0;
    let mut n = 0;
    for seed in seeds {
        let e = episode(world, seed, CLIP_FRAMES);
        let truth = e.frames.slice(s![CONTEXT_FRAMES.., .., .., ..]);
        let actions: Vec<Vec<f32>> = e.actions[..CLIP_FRAMES - 1]
            .iter()
            .map(|a| a.to_vector(world.balls))
            .collect();
        let t0 = Instant::now();
        let predicted = model.predict(
            e.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]),
            &actions,
            seed,
            steps,
        )?;
        seconds += t0.elapsed().as_secs_f64();
        m.push(mean(&psnr_per_frame(predicted.view(), truth)));
        let last = e.frames.index_axis(ndarray::Axis(0), CONTEXT_FRAMES - 1);
        let copy = last
            .insert_axis(ndarray::Axis(0))
            .broadcast(truth.raw_dim())
            .map(|v| v.to_owned())
            .ok_or_else(|| Error::Config("broadcast of the last frame".into()))?;
        c.push(mean(&psnr_per_frame(copy.view(), truth)));
        let video = frames_to_tensor(e.frames.view(), &model.device)?;
        let recon = model
            .tokenizer
            .decode(model.tokenizer.encode(video)?.latent)?
            .clamp(-1.0, 1.0);
        let recon = crate::data::tensor_to_frames(recon)?;
        tk.push(mean(&psnr_per_frame(
            recon.slice(s![CONTEXT_FRAMES.., .., .., ..]),
            truth,
        )));
        n += 1;
    }
    Ok(Evaluation {
        episodes: n,
        psnr_model_db: mean(&m),
        psnr_copy_last_db: mean(&c),
        psnr_tokenizer_db: mean(&tk),
        seconds_per_prediction: seconds / n.max(1) as f64,
    })
}

/// Where a pushed ball ends up, pushed left versus pushed right.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActionResponse {
    /// The ball's x in the last predicted frame after a push to the left (`None`: not found).
    pub predicted_left_x: Option<f32>,
    /// Same after a push to the right.
    pub predicted_right_x: Option<f32>,
    /// The simulator's x after the push to the left.
    pub true_left_x: f32,
    /// The simulator's x after the push to the right.
    pub true_right_x: f32,
}

impl ActionResponse {
    /// Whether the prediction moves the ball the way the simulator does: the right-pushed ball
    /// ends on the same side of the left-pushed one as in the simulator, separated by at least
    /// a quarter of the simulator's separation (or 2 px).
    pub fn follows_the_simulator(&self) -> bool {
        match (self.predicted_left_x, self.predicted_right_x) {
            (Some(l), Some(r)) => {
                let truth = self.true_right_x - self.true_left_x;
                let predicted = r - l;
                predicted.signum() == truth.signum()
                    && predicted.abs() >= (0.25 * truth.abs()).min(2.0)
            }
            _ => false,
        }
    }
}

/// Pushes `ball` left and then right at frame `CONTEXT_FRAMES − 1` (the first action the model
/// has to play out), no other pushes, and compares the predicted last frames.
pub fn action_response(
    model: &WorldModel,
    seed: u64,
    ball: usize,
    steps: usize,
) -> Result<ActionResponse> {
    use crate::world::{Direction, episode_with_actions};
    let world = &model.config.world;
    let run = |direction: Direction| -> Result<(Option<f32>, f32)> {
        let mut actions = vec![Action::none(); CLIP_FRAMES];
        actions[CONTEXT_FRAMES - 1] = Action::push(ball, direction, world.push);
        let e = episode_with_actions(world, seed, &actions);
        let vectors: Vec<Vec<f32>> = actions[..CLIP_FRAMES - 1]
            .iter()
            .map(|a| a.to_vector(world.balls))
            .collect();
        let predicted = model.predict(
            e.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]),
            &vectors,
            seed,
            steps,
        )?;
        let last = predicted.index_axis(ndarray::Axis(0), predicted.dim().0 - 1);
        let found = crate::metrics::ball_positions(last, world)
            .get(ball)
            .copied()
            .flatten()
            .map(|p| p[0]);
        Ok((found, e.positions[CLIP_FRAMES - 1][ball][0]))
    };
    let (predicted_left_x, true_left_x) = run(Direction::Left)?;
    let (predicted_right_x, true_right_x) = run(Direction::Right)?;
    Ok(ActionResponse {
        predicted_left_x,
        predicted_right_x,
        true_left_x,
        true_right_x,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Direction;

    /// Cell of the largest |value| in `channel` of latent frame `frame`, and that value.
    fn peak(map: &[f32], channel: usize, frame: usize) -> ((usize, usize), f32) {
        let plane = &map[(channel * 5 + frame) * 256..(channel * 5 + frame + 1) * 256];
        let (i, v) = plane
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap();
        ((i / 16, i % 16), *v)
    }

    #[test]
    fn a_push_is_drawn_at_the_pushed_ball_in_the_latent_frame_it_acts_on() {
        let world = WorldConfig::default();
        let mut actions = vec![Action::none(); CLIP_FRAMES];
        actions[CONTEXT_FRAMES - 1] = Action::push(1, Direction::Right, world.push);
        actions[9] = Action::push(0, Direction::Up, world.push);
        let e = episode_with_actions(&world, VALIDATION_SEEDS_FOR_TEST, &actions);
        let vectors: Vec<Vec<f32>> = actions[..CLIP_FRAMES - 1]
            .iter()
            .map(|a| a.to_vector(world.balls))
            .collect();
        let map = push_map(
            e.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]),
            &vectors,
            &world,
            5,
            [16, 16],
        );
        assert_eq!(map.len(), 2 * 5 * 256);
        // Action 4 produces frame 5, in latent frame 2: +x at ball 1's cell in frame 4.
        let ((row, col), v) = peak(&map, 0, 2);
        let [x, y] = e.positions[CONTEXT_FRAMES - 1][1];
        assert!(v > 0.5, "peak {v}");
        assert!(
            (col as f32 - (x / 4.0 - 0.5)).abs() <= 1.0,
            "col {col} vs x {x}"
        );
        assert!(
            (row as f32 - (y / 4.0 - 0.5)).abs() <= 1.0,
            "row {row} vs y {y}"
        );
        assert!(
            peak(&map, 1, 2).1.abs() < 1e-6,
            "a horizontal push has no y part"
        );
        // Action 9 produces frame 10, in latent frame 3: −y near ball 0, extrapolated from
        // its last two context positions.
        let (_, v) = peak(&map, 1, 3);
        assert!(v < -0.5, "up is −y: {v}");
        for frame in [0, 1, 4] {
            for c in 0..2 {
                assert_eq!(
                    peak(&map, c, frame).1,
                    0.0,
                    "nothing in latent frame {frame}"
                );
            }
        }
        // No pushes, no map.
        let none = vec![Action::none().to_vector(world.balls); CLIP_FRAMES - 1];
        let empty = push_map(
            e.frames.slice(s![..CONTEXT_FRAMES, .., .., ..]),
            &none,
            &world,
            5,
            [16, 16],
        );
        assert!(empty.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn window_settings_default_for_older_configs_and_are_checked() {
        let config = WorldModelConfig::small(WorldConfig::default());
        let mut json: serde_json::Value = serde_json::to_value(&config).unwrap();
        let fields = json.as_object_mut().unwrap();
        assert!(
            !fields.contains_key("rollout_keep_frames"),
            "None is not written"
        );
        fields.remove("predicted_latent_frames");
        let old: WorldModelConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.predicted_latent_frames, 3);
        assert_eq!(old.rollout_keep_frames, None);
        assert_eq!((old.window_frames(), old.keep_frames()), (12, 12));
        old.validate().unwrap();
        for (predicted, keep, ok) in [
            (1, None, true),
            (1, Some(4), true),
            (1, Some(8), false),
            (0, None, false),
            (4, None, false),
            (3, Some(8), true),
            (3, Some(6), false),
            (3, Some(0), false),
        ] {
            let c = WorldModelConfig {
                predicted_latent_frames: predicted,
                rollout_keep_frames: keep,
                ..config.clone()
            };
            assert_eq!(
                c.validate().is_ok(),
                ok,
                "{predicted} predicted, keep {keep:?}"
            );
        }
    }

    const VALIDATION_SEEDS_FOR_TEST: u64 = crate::world::VALIDATION_SEEDS.start + 3;
}
