//! EDM training of a (conditioned) Cosmos Video2World DiT with burn's autodiff.
//!
//! One step, as Cosmos trains its diffusion models (Cosmos WFM paper §5.1; Karras et al. 2022,
//! "Elucidating the Design Space of Diffusion-Based Generative Models", §5):
//! - a noise level per sample, `ln σ ~ N(p_mean, p_std²)`;
//! - the clean latent `x₀` plus `σ·n`; the first `condition_frames` latent frames are the
//!   Video2World conditioning: they enter the network clean (noised only at the augmentation σ,
//!   0.001) with the condition mask set, exactly as [`cosmos_diffusion::GuidedDenoiser`] feeds
//!   them at sampling time;
//! - the preconditioned denoiser `D = c_skip·x + c_out·F(c_in·x; c_noise)` and the loss
//!   `λ(σ)·‖D − x₀‖²` with `λ = (σ² + σ_d²)/(σ·σ_d)²`, averaged over the predicted frames only;
//! - Adam (bias-corrected moments) with a linear warm-up then a cosine decay, gradients clipped
//!   to a global norm.
//!
//! The data order is a seeded permutation per epoch and the noise of step `k` is drawn from a
//! generator seeded by `(seed, k)`, so a run resumed from a checkpoint (model, conditioners,
//! Adam moments and step, in one safetensors file) continues exactly as the uninterrupted run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, Tensor, TensorData};
use cosmos_diffusion::{DitConditioning, NoiseGenerator};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::conditioning::ConditionedDit;
use crate::data::LatentSet;
use crate::train_log::TrainLog;
use crate::{Error, Result};

/// σ_data of the latents (Cosmos: 0.5).
pub const SIGMA_DATA: f64 = 0.5;

/// Options of a training run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    /// Optimiser steps.
    pub steps: usize,
    /// Samples per step.
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
    /// Seed of the data order and of the noise.
    pub seed: u64,
    /// Latent frames that condition (kept clean, no loss); 0 trains Text2World-style.
    pub condition_frames: usize,
    /// Mean of `ln σ`.
    pub p_mean: f64,
    /// Standard deviation of `ln σ`.
    pub p_std: f64,
    /// σ at which the conditioning frames are noised (Cosmos: 0.001).
    pub augment_sigma: f64,
    /// Frame rate given to the network's RoPE (`None`: image-style positions).
    pub fps: Option<f64>,
    /// Save a checkpoint every this many steps (and at the end) when `out_dir` is set.
    pub checkpoint_every: Option<usize>,
    /// Where checkpoints go, with `metrics.jsonl` and `loss.png` ([`crate::train_log`]).
    pub out_dir: Option<PathBuf>,
    /// Extra loss weight where the scene moves: each predicted latent position is weighted
    /// `1 + motion_weight · mean_c |x₀ − x₀[last condition frame]|` (the loss is normalised by
    /// the summed weights), so the few positions a moving object covers count more than the
    /// static background that fills most of a frame. 0 (the default) is the plain EDM loss;
    /// needs condition frames.
    #[serde(default)]
    pub motion_weight: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 8,
            learning_rate: 3e-4,
            warmup_steps: 50,
            final_lr_fraction: 0.1,
            grad_clip: Some(1.0),
            beta1: 0.9,
            beta2: 0.99,
            epsilon: 1e-8,
            seed: 0,
            condition_frames: 0,
            p_mean: 0.0,
            p_std: 1.2,
            augment_sigma: 0.001,
            fps: None,
            checkpoint_every: None,
            out_dir: None,
            motion_weight: 0.0,
        }
    }
}

impl TrainOptions {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!(
                "learning_rate must be positive, found {}",
                self.learning_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.final_lr_fraction) {
            return bad(format!(
                "final_lr_fraction must be in [0, 1], found {}",
                self.final_lr_fraction
            ));
        }
        if !(self.motion_weight >= 0.0 && self.motion_weight.is_finite()) {
            return bad(format!(
                "motion_weight must be ≥ 0, found {}",
                self.motion_weight
            ));
        }
        if self.motion_weight > 0.0 && self.condition_frames == 0 {
            return bad("motion_weight needs condition frames to measure motion from".into());
        }
        if !(self.p_std >= 0.0 && self.p_mean.is_finite()) {
            return bad("p_std must be ≥ 0 and p_mean finite".into());
        }
        if let Some(c) = self.grad_clip
            && (c.is_nan() || c <= 0.0)
        {
            return bad(format!("grad_clip must be positive, found {c}"));
        }
        if self.checkpoint_every == Some(0) {
            return bad("checkpoint_every must be at least 1".into());
        }
        Ok(())
    }

    /// The learning rate of step `step` (0-based): linear warm-up, then a cosine decay to
    /// `final_lr_fraction` of the peak at the last step.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup_steps {
            return peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        peak * (self.final_lr_fraction + (1.0 - self.final_lr_fraction) * cosine)
    }
}

/// Reported after every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Steps done (1-based after the step).
    pub step: usize,
    /// Steps of the run.
    pub steps: usize,
    /// The step's loss.
    pub loss: f64,
    /// The learning rate used.
    pub learning_rate: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds since the run (or the resumed run) started.
    pub elapsed: f64,
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// Steps done in all (including those before a resume).
    pub steps: usize,
    /// Mean loss of the last `min(50, steps)` steps of this run.
    pub final_loss: f64,
    /// Mean loss of the first `min(50, steps)` steps of this run.
    pub first_loss: f64,
    /// Seconds.
    pub seconds: f64,
    /// The last checkpoint written, if any.
    pub checkpoint: Option<PathBuf>,
}

impl TrainSummary {
    /// The summary of a run from the losses of its steps (the means of the first and of the last
    /// `min(50, steps)`; NaN for a run of no step).
    pub fn from_losses(
        steps: usize,
        losses: &[f64],
        seconds: f64,
        checkpoint: Option<PathBuf>,
    ) -> Self {
        let window = losses.len().clamp(1, 50);
        let mean = |v: &[f64]| {
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        Self {
            steps,
            final_loss: mean(&losses[losses.len().saturating_sub(window)..]),
            first_loss: mean(&losses[..window.min(losses.len())]),
            seconds,
            checkpoint,
        }
    }
}

/// A training checkpoint as read back: the model's tensors by parameter path, Adam's state, the
/// step and the metadata the trainer stored.
pub(crate) struct TrainingState {
    pub model: BTreeMap<String, TensorData>,
    pub moments: AdamMoments,
    pub step: usize,
    pub meta: HashMap<String, String>,
}

/// Writes a trainer's state to one safetensors file (atomically): `model.*` the module's
/// parameters, `adam.m.*` / `adam.v.*` the moments; metadata `step`, `adam_time`, `options`
/// (JSON) and `extra` (such as the architecture's configuration).
pub(crate) fn write_training_state<M: Module, O: serde::Serialize>(
    path: &Path,
    model: &M,
    moments: &AdamMoments,
    step: usize,
    options: &O,
    extra: impl IntoIterator<Item = (&'static str, String)>,
) -> Result<()> {
    let mut tensors = module_tensors(model, "model.");
    for (prefix, map) in [("adam.m.", &moments.first), ("adam.v.", &moments.second)] {
        for (k, t) in map {
            tensors.insert(format!("{prefix}{k}"), t.clone().into_data());
        }
    }
    let mut meta = HashMap::new();
    meta.insert("step".to_string(), step.to_string());
    meta.insert("adam_time".to_string(), moments.time.to_string());
    meta.insert(
        "options".to_string(),
        serde_json::to_string(options).unwrap_or_default(),
    );
    for (k, v) in extra {
        meta.insert(k.to_string(), v);
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_safetensors(path, &tensors, meta, DType::F32)
}

/// The folder of a checkpoint file (where its `metrics.jsonl` and `loss.png` go).
pub(crate) fn checkpoint_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Reads a checkpoint written by [`write_training_state`]; the moments land on `device`'s
/// inner (non-autodiff) device.
pub(crate) fn read_training_state(path: &Path, device: &Device) -> Result<TrainingState> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (tensors, meta) = read_safetensors(&bytes, &path.display().to_string())?;
    let number = |k: &str| -> Result<usize> {
        meta.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Format {
                path: path.display().to_string(),
                reason: format!("no '{k}' in the checkpoint metadata"),
            })
    };
    let step = number("step")?;
    let inner = device.clone().inner();
    let mut state = TrainingState {
        model: BTreeMap::new(),
        moments: AdamMoments {
            time: number("adam_time")?,
            ..AdamMoments::default()
        },
        step,
        meta: HashMap::new(),
    };
    for (k, v) in tensors {
        if let Some(p) = k.strip_prefix("model.") {
            state.model.insert(p.to_string(), v);
        } else if let Some(p) = k.strip_prefix("adam.m.") {
            let t = Tensor::<1>::from_data(v, &inner);
            state.moments.first.insert(p.to_string(), t);
        } else if let Some(p) = k.strip_prefix("adam.v.") {
            let t = Tensor::<1>::from_data(v, &inner);
            state.moments.second.insert(p.to_string(), t);
        }
    }
    state.meta = meta;
    Ok(state)
}

/// Adam's per-parameter moments, keyed by parameter path, stored flat on the inner device.
#[derive(Debug, Default)]
pub struct AdamMoments {
    /// Updates applied so far (the bias-correction time).
    pub time: usize,
    pub(crate) first: HashMap<String, Tensor<1>>,
    pub(crate) second: HashMap<String, Tensor<1>>,
}

/// Trains a [`ConditionedDit`] on a [`LatentSet`].
pub struct Trainer {
    /// The model, on an autodiff device.
    pub model: ConditionedDit,
    /// Adam's state.
    pub moments: AdamMoments,
    /// Steps done.
    pub step: usize,
    /// The options.
    pub options: TrainOptions,
    device: Device,
    /// Every step, written beside every checkpoint ([`crate::train_log`]).
    log: TrainLog,
}

/// The checkpoint file name inside `out_dir`.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

impl Trainer {
    /// A trainer for `model` (moved to the autodiff version of its device).
    pub fn new(model: ConditionedDit, options: TrainOptions) -> Result<Self> {
        options.validate()?;
        let device = model.dit.device().autodiff();
        let model = model.to_device(&device).train();
        Ok(Self {
            model,
            moments: AdamMoments::default(),
            step: 0,
            options,
            device,
            log: TrainLog::new("DiT training"),
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

    /// Sample indices of step `step`: consecutive slices of a seeded permutation per epoch.
    pub fn batch_indices(seed: u64, step: usize, batch: usize, len: usize) -> Vec<usize> {
        let mut cache: Option<(usize, Vec<usize>)> = None;
        (0..batch)
            .map(|i| {
                let k = step * batch + i;
                let (epoch, pos) = (k / len, k % len);
                if cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
                    cache = Some((epoch, permutation(seed, epoch as u64, len)));
                }
                cache.as_ref().expect("set above").1[pos]
            })
            .collect()
    }

    /// One optimiser step on the batch the seeded order gives; returns its loss and the
    /// gradient norm.
    pub fn train_step(&mut self, data: &LatentSet) -> Result<(f64, f64)> {
        if data.is_empty() {
            return Err(Error::Config("the training set is empty".into()));
        }
        let o = &self.options;
        let indices = Self::batch_indices(o.seed, self.step, o.batch_size, data.len());
        let batch = data.batch(&indices, &self.device)?;
        let mut noise = NoiseGenerator::new(step_seed(o.seed, self.step));
        let loss = edm_loss(&self.model, &batch, o, &mut noise)?;
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

    /// Runs until `options.steps`, reporting every step and writing checkpoints.
    pub fn run(
        &mut self,
        data: &LatentSet,
        progress: &mut dyn FnMut(TrainProgress),
    ) -> Result<TrainSummary> {
        let start = Instant::now();
        let mut losses = Vec::new();
        let mut checkpoint = None;
        while self.step < self.options.steps {
            let lr = self.options.learning_rate_at(self.step);
            let (loss, grad_norm) = self.train_step(data)?;
            losses.push(loss);
            progress(TrainProgress {
                step: self.step,
                steps: self.options.steps,
                loss,
                learning_rate: lr,
                grad_norm,
                elapsed: start.elapsed().as_secs_f64(),
            });
            let due = self
                .options
                .checkpoint_every
                .is_some_and(|every| self.step.is_multiple_of(every))
                || self.step == self.options.steps;
            if due && let Some(dir) = self.options.out_dir.clone() {
                let path = dir.join(CHECKPOINT_FILE);
                self.save_checkpoint(&path)?;
                checkpoint = Some(path);
            }
        }
        Ok(TrainSummary::from_losses(
            self.step,
            &losses,
            start.elapsed().as_secs_f64(),
            checkpoint,
        ))
    }

    /// Writes model, conditioner, Adam moments and step to one safetensors file (atomically),
    /// and `metrics.jsonl` and `loss.png` beside it ([`crate::train_log`]).
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let config = serde_json::to_string(&self.model.dit.config).unwrap_or_default();
        write_training_state(
            path,
            &self.model,
            &self.moments,
            self.step,
            &self.options,
            [("dit_config", config)],
        )?;
        self.log.write(checkpoint_folder(path))
    }

    /// Restores model, conditioner, Adam moments and step from a checkpoint written by
    /// [`save_checkpoint`](Self::save_checkpoint) for the same architecture.
    pub fn resume(&mut self, path: &Path) -> Result<()> {
        let state = read_training_state(path, &self.device)?;
        self.model = load_module_tensors(
            self.model.clone(),
            &state.model,
            &path.display().to_string(),
        )?;
        self.moments = state.moments;
        self.step = state.step;
        self.log.resume(checkpoint_folder(path), self.step)
    }

    /// The trained model, without autodiff.
    pub fn into_model(self) -> ConditionedDit {
        self.model.valid()
    }
}

/// Gives a DiT built from scratch random learnable position tables (`N(0, std²)`).
///
/// [`DitConfig::init`](cosmos_diffusion::DitConfig::init) leaves them at zero, which is harmless
/// for loading a checkpoint but not for training from scratch: the embedding is normalised per
/// token by its norm, whose gradient at zero is undefined (NaN). Published checkpoints already
/// have non-zero tables.
pub fn random_position_tables(
    mut dit: cosmos_diffusion::CosmosDit,
    std: f64,
) -> cosmos_diffusion::CosmosDit {
    if let Some(p) = dit.learnable_pos_embed.as_mut() {
        let device = dit.patch_embed.proj.weight.device();
        for table in [&mut p.pos_emb_t, &mut p.pos_emb_h, &mut p.pos_emb_w] {
            let dims = table.dims();
            *table = Param::from_tensor(Tensor::random(
                dims,
                burn::tensor::Distribution::Normal(0.0, std),
                &device,
            ));
        }
    }
    dit
}

/// One batch on a device: latents, per-frame inputs and text context.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Clean latents `[batch, C, T, H, W]` (already normalised to σ_data scale).
    pub latent: Tensor<5>,
    /// Per-frame conditioning inputs.
    pub inputs: crate::conditioning::FrameInputs,
    /// Text embeddings `[batch, tokens, text_dim]`; a single zero token when `None`.
    pub context: Option<Tensor<3>>,
}

/// The EDM training loss of `model` on `batch` (a scalar tensor `[1]`), with noise levels and
/// noise drawn from `noise`.
pub fn edm_loss(
    model: &ConditionedDit,
    batch: &Batch,
    options: &TrainOptions,
    noise: &mut NoiseGenerator,
) -> Result<Tensor<1>> {
    let x0 = batch.latent.clone();
    let [b, c, t, h, w] = x0.dims();
    let device = x0.device();
    let cf = options.condition_frames;
    if cf >= t {
        return Err(Error::Config(format!(
            "condition_frames ({cf}) must leave at least one latent frame to predict (of {t})"
        )));
    }
    let dit = &model.dit;
    let video2world = dit.config.has_condition_mask();
    if cf > 0 && !video2world {
        return Err(Error::Config(
            "condition frames need a Video2World network (in_channels = latent + 1)".into(),
        ));
    }
    let sd = SIGMA_DATA;
    let sigmas: Vec<f64> = (0..b)
        .map(|_| (options.p_mean + options.p_std * noise.next_normal()).exp())
        .collect();
    let per_sample = |f: &dyn Fn(f64) -> f64| -> Tensor<5> {
        let v: Vec<f32> = sigmas.iter().map(|&s| f(s) as f32).collect();
        Tensor::<1>::from_data(TensorData::new(v, [b]), &device).reshape([b, 1, 1, 1, 1])
    };
    let sigma = per_sample(&|s| s);
    let c_in = per_sample(&|s| 1.0 / (s * s + sd * sd).sqrt());
    let c_skip = per_sample(&|s| sd * sd / (s * s + sd * sd));
    let c_out = per_sample(&|s| s * sd / (s * s + sd * sd).sqrt());
    let weight = per_sample(&|s| (s * s + sd * sd) / (s * sd).powi(2));
    let timestep = Tensor::<1>::from_data(
        TensorData::new(
            sigmas
                .iter()
                .map(|&s| cosmos_diffusion::edm::c_noise(s) as f32)
                .collect::<Vec<f32>>(),
            [b],
        ),
        &device,
    );

    let n = noise.tensor([b, c, t, h, w], &device);
    let x_sigma = x0.clone() + n * sigma;
    let (x_in, predicted, mask) = if cf > 0 {
        let ind = Tensor::<5>::cat(
            vec![
                Tensor::ones([1, 1, cf, 1, 1], &device),
                Tensor::zeros([1, 1, t - cf, 1, 1], &device),
            ],
            2,
        );
        let free = ind.clone().neg() + 1.0;
        let aug = options.augment_sigma;
        let aug_cin = 1.0 / (aug * aug + sd * sd).sqrt();
        let aug_noise = noise.tensor([b, c, t, h, w], &device);
        let frames = (x0.clone() + aug_noise * aug) * aug_cin;
        let x_in = frames * ind.clone() + x_sigma.clone() * c_in.clone() * free.clone();
        let mask = video2world.then(|| ind.expand([b, 1, t, h, w]));
        (x_in, Some(free), mask)
    } else {
        let mask = video2world.then(|| Tensor::zeros([b, 1, t, h, w], &device));
        (x_sigma.clone() * c_in, None, mask)
    };
    let context = match &batch.context {
        Some(c) => c.clone(),
        None => Tensor::zeros([b, 1, dit.config.text_embed_dim], &device),
    };
    let positions = dit.positions([t, h, w], options.fps)?;
    let conditioning = DitConditioning {
        fps: options.fps,
        condition_mask: mask,
        padding_mask: None,
        action: None,
    };
    let out = model.forward(
        x_in,
        timestep,
        context,
        &conditioning,
        &positions,
        &batch.inputs,
    )?;
    let denoised = x_sigma * c_skip + out * c_out;
    let err = (denoised - x0.clone()).powi_scalar(2);
    // Per-position loss weights [b, 1, t, h, w]: the predicted frames only when some frames
    // condition, scaled up where the scene moves with a motion weight.
    let positions = match predicted {
        Some(free) if options.motion_weight > 0.0 => {
            // How far each position moved from the last condition frame.
            let last = x0.clone().narrow(2, cf - 1, 1);
            let motion = (x0 - last).abs().mean_dim(1);
            (motion * options.motion_weight + 1.0) * free
        }
        Some(free) => free.expand([b, 1, t, h, w]),
        None => Tensor::ones([b, 1, t, h, w], &device),
    };
    let total = positions.clone().sum_dim(2).sum_dim(3).sum_dim(4) * c as f64;
    let per = (err * positions)
        .sum_dim(1)
        .sum_dim(2)
        .sum_dim(3)
        .sum_dim(4)
        / total; // [b, 1, 1, 1, 1]: the weighted mean squared error per sample
    Ok((per * weight).mean().reshape([1]))
}

pub(crate) fn scalar(x: Tensor<1>) -> f64 {
    x.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

fn step_seed(seed: u64, step: usize) -> u64 {
    // SplitMix64 of (seed, step): independent streams per step.
    let mut z = seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seeded permutation of `0..len` for one epoch (Fisher–Yates on ChaCha8).
pub fn permutation(seed: u64, epoch: u64, len: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(step_seed(seed, epoch as usize) ^ 0x5EED);
    let mut v: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Global L2 norm of the gradients of `module`'s parameters.
pub(crate) fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let s = g.powi_scalar(2).sum();
                self.sum = Some(match self.sum.take() {
                    Some(a) => a + s,
                    None => s,
                });
            }
        }
    }
    let mut v = Norm { grads, sum: None };
    module.visit(&mut v);
    v.sum.map(|s| scalar(s).sqrt()).unwrap_or(0.0)
}

/// The numbers of one Adam update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamHyper {
    pub(crate) lr: f64,
    pub(crate) clip: f64,
    pub(crate) beta1: f64,
    pub(crate) beta2: f64,
    pub(crate) epsilon: f64,
}

/// One bias-corrected Adam update of every parameter of `module` that has a gradient in
/// `grads` (scaled by `hyper.clip`), advancing `moments.time`; used by every trainer here.
pub(crate) fn adam_step<M: Module>(
    module: M,
    grads: GradientsParams,
    moments: &mut AdamMoments,
    hyper: AdamHyper,
) -> M {
    moments.time += 1;
    let mut mapper = AdamMapper {
        path: Vec::new(),
        grads,
        moments,
        lr: hyper.lr,
        clip: hyper.clip,
        beta1: hyper.beta1,
        beta2: hyper.beta2,
        epsilon: hyper.epsilon,
    };
    module.map(&mut mapper)
}

struct AdamMapper<'a> {
    path: Vec<String>,
    grads: GradientsParams,
    moments: &'a mut AdamMoments,
    lr: f64,
    clip: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
}

impl ModuleMapper for AdamMapper<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let path = self.path.join(".");
        let shape = tensor.dims();
        let n: usize = shape.iter().product();
        let g = grad.reshape([n]) * self.clip;
        let (b1, b2) = (self.beta1, self.beta2);
        let m = match self.moments.first.remove(&path) {
            Some(m) => m * b1 + g.clone() * (1.0 - b1),
            None => g.clone() * (1.0 - b1),
        };
        let v = match self.moments.second.remove(&path) {
            Some(v) => v * b2 + g.powi_scalar(2) * (1.0 - b2),
            None => g.powi_scalar(2) * (1.0 - b2),
        };
        let t = self.moments.time as i32;
        let m_hat = m.clone() / (1.0 - b1.powi(t));
        let v_hat = v.clone() / (1.0 - b2.powi(t));
        let update = m_hat / (v_hat.sqrt() + self.epsilon) * self.lr;
        let inner = tensor.inner().reshape([n]);
        let updated = (inner - update).reshape(shape);
        self.moments.first.insert(path.clone(), m);
        self.moments.second.insert(path, v);
        let _: ParamId = id;
        Param::from_mapped_value(id, Tensor::from_inner(updated).require_grad(), mapper)
    }
}

/// Every float parameter of `module` by its field path (burn layout: `Linear` weights are
/// `[in, out]`), each key prefixed with `prefix`.
pub fn module_tensors<M: Module>(module: &M, prefix: &str) -> BTreeMap<String, TensorData> {
    struct Collect {
        path: Vec<String>,
        out: BTreeMap<String, TensorData>,
        prefix: String,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let key = format!("{}{}", self.prefix, self.path.join("."));
            self.out.insert(key, param.val().into_data());
        }
    }
    let mut c = Collect {
        path: Vec::new(),
        out: BTreeMap::new(),
        prefix: prefix.to_string(),
    };
    module.visit(&mut c);
    c.out
}

/// Loads tensors written by [`module_tensors`] (without prefix) into `module`, keeping each
/// parameter's device, id and gradient requirement. Every missing or mis-shaped tensor is
/// reported in one [`Error::Format`] naming `source`.
pub fn load_module_tensors<M: Module>(
    module: M,
    tensors: &BTreeMap<String, TensorData>,
    source: &str,
) -> Result<M> {
    // Check first, so that the module is never half-loaded.
    let expected = module_tensors(&module, "");
    let mut problems = Vec::new();
    for (k, v) in &expected {
        match tensors.get(k) {
            None => problems.push(format!("missing '{k}'")),
            Some(t) if t.shape() != v.shape() => problems.push(format!(
                "'{k}': expected shape {:?}, found {:?}",
                v.shape(),
                t.shape()
            )),
            _ => {}
        }
    }
    for k in tensors.keys() {
        if !expected.contains_key(k) {
            problems.push(format!("unexpected '{k}'"));
        }
    }
    if !problems.is_empty() {
        let shown: Vec<_> = problems.iter().take(8).cloned().collect();
        return Err(Error::Format {
            path: source.to_string(),
            reason: format!(
                "checkpoint does not match the model ({} problems): {}",
                problems.len(),
                shown.join("; ")
            ),
        });
    }
    struct Load<'a> {
        path: Vec<String>,
        tensors: &'a BTreeMap<String, TensorData>,
    }
    impl ModuleMapper for Load<'_> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let key = self.path.join(".");
            let data = self.tensors.get(&key).expect("checked above");
            let device = tensor.device();
            let grad = tensor.is_require_grad();
            let mut t = Tensor::<D>::from_data(data.clone().convert::<f32>(), &device);
            if grad {
                t = t.require_grad();
            }
            Param::from_mapped_value(id, t, mapper)
        }
    }
    Ok(module.map(&mut Load {
        path: Vec::new(),
        tensors,
    }))
}

/// Writes tensors to a safetensors file (f32, or f16/bf16 for compact shipping) through a
/// temporary file, so a crash never leaves a truncated checkpoint.
pub fn write_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, TensorData>,
    metadata: HashMap<String, String>,
    dtype: DType,
) -> Result<()> {
    let bytes = safetensors_bytes(tensors, metadata, dtype)?;
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The safetensors encoding of `tensors`.
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, TensorData>,
    metadata: HashMap<String, String>,
    dtype: DType,
) -> Result<Vec<u8>> {
    let (st_dtype, width) = match dtype {
        DType::F32 => (safetensors::Dtype::F32, 4),
        DType::F16 => (safetensors::Dtype::F16, 2),
        DType::BF16 => (safetensors::Dtype::BF16, 2),
        other => {
            return Err(Error::Config(format!(
                "checkpoints are written as f32, f16 or bf16, not {other:?}"
            )));
        }
    };
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (k, t) in tensors {
        let values: Vec<f32> = t
            .clone()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Config(format!("tensor '{k}': {e:?}")))?;
        let mut raw = Vec::with_capacity(values.len() * width);
        match dtype {
            DType::F32 => values
                .iter()
                .for_each(|v| raw.extend_from_slice(&v.to_le_bytes())),
            DType::F16 => values
                .iter()
                .for_each(|v| raw.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes())),
            _ => values
                .iter()
                .for_each(|v| raw.extend_from_slice(&half::bf16::from_f32(*v).to_le_bytes())),
        }
        buffers.push((k.clone(), t.shape().to_vec(), raw));
    }
    let views = buffers
        .iter()
        .map(|(k, shape, raw)| {
            safetensors::tensor::TensorView::new(st_dtype, shape.clone(), raw)
                .map(|v| (k.clone(), v))
                .map_err(|e| Error::Config(format!("tensor '{k}': {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Config(format!("safetensors encoding: {e}")))
}

/// Reads a safetensors buffer (f32, f16, bf16 or f64 tensors, returned as f32) and its
/// metadata; `source` names it in errors.
pub fn read_safetensors(
    bytes: &[u8],
    source: &str,
) -> Result<(BTreeMap<String, TensorData>, HashMap<String, String>)> {
    let format = |reason: String| Error::Format {
        path: source.to_string(),
        reason,
    };
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| format(format!("not a safetensors file: {e}")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format(format!("not a safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let values: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            safetensors::Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            safetensors::Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            safetensors::Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(format(format!(
                    "tensor '{name}': unsupported dtype {other:?}"
                )));
            }
        };
        out.insert(name, TensorData::new(values, view.shape().to_vec()));
    }
    Ok((out, metadata))
}

/// The diffusers name of a [`CosmosDit`](cosmos_diffusion::CosmosDit) parameter path (the
/// inverse of `cosmos_diffusion::checkpoint`'s renaming).
pub fn diffusers_key(path: &str) -> String {
    const RULES: &[(&str, &str)] = &[
        (".q.", ".to_q."),
        (".k.", ".to_k."),
        (".v.", ".to_v."),
        (".out.", ".to_out.0."),
        (".q_norm.", ".norm_q."),
        (".k_norm.", ".norm_k."),
        (".ff.proj_in.", ".ff.net.0.proj."),
        (".ff.proj_out.", ".ff.net.2."),
    ];
    let mut key = path.to_string();
    if key.contains(".attn1.") || key.contains(".attn2.") || key.contains(".ff.") {
        for (from, to) in RULES {
            key = key.replace(from, to);
        }
    }
    key
}

/// Writes `dit` as a diffusers `CosmosTransformer3DModel` folder (`config.json` and
/// `diffusion_pytorch_model.safetensors`, PyTorch layouts and names), which
/// [`cosmos_diffusion::load_dit`] and the `cosmos generate` pipeline read. Merge LoRA adapters
/// first ([`crate::lora::merge`]).
pub fn export_diffusers(dit: &cosmos_diffusion::CosmosDit, dir: &Path, dtype: DType) -> Result<()> {
    use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, bridge};
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = BTreeMap::new();
    for snapshot in dit.collect(None, Some(Box::new(BurnToPyTorchAdapter)), false) {
        let name = diffusers_key(&snapshot.name);
        let data = bridge::into_data(snapshot).map_err(|e| Error::Format {
            path: name.clone(),
            reason: format!("cannot read the tensor back: {e}"),
        })?;
        tensors.insert(name, data);
    }
    let mut config = serde_json::to_value(&dit.config).map_err(|e| Error::Config(e.to_string()))?;
    if let Some(map) = config.as_object_mut() {
        map.insert(
            "_class_name".into(),
            serde_json::Value::String("CosmosTransformer3DModel".into()),
        );
    }
    let text = serde_json::to_string_pretty(&config).map_err(|e| Error::Config(e.to_string()))?;
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, text + "\n").map_err(|e| Error::io(&config_path, e))?;
    let mut meta = HashMap::new();
    meta.insert("format".into(), "pt".into());
    write_safetensors(
        &dir.join("diffusion_pytorch_model.safetensors"),
        &tensors,
        meta,
        dtype,
    )
}

/// What a `cosmos train dit` run produced, written next to its outputs as `posttrain.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    /// Conditions added (`action`, `camera`, `view`, `text`).
    pub conditions: Vec<String>,
    /// Action width per latent frame.
    pub action_dim_per_latent_frame: Option<usize>,
    /// Camera vector width per latent frame.
    pub camera_dim_per_latent_frame: Option<usize>,
    /// Number of views.
    pub views: Option<usize>,
    /// Text context shape `[tokens, dim]`.
    pub text_context: Option<[usize; 2]>,
    /// Latent normalisation applied before the DiT.
    pub latent_normalization: crate::data::LatentNormalization,
    /// Frames per clip.
    pub frames: usize,
    /// Frame size `[width, height]`.
    pub size: [u32; 2],
    /// Conditioning latent frames.
    pub condition_latent_frames: usize,
    /// LoRA settings, when LoRA was used (merged into the exported weights).
    pub lora: Option<crate::lora::LoraConfig>,
    /// Steps done.
    pub steps: usize,
    /// Mean loss of the last steps.
    pub final_loss: f64,
}

impl RunInfo {
    /// Writes the JSON file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
    }
}
