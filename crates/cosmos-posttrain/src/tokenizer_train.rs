//! The world's video tokenizer: a small continuous Cosmos video tokenizer (CV, Haar patches
//! of 4, so ×4 in time and space with no learned down-sampling, 16 latent channels) trained
//! from scratch on clips of the [`world`](crate::world) with reconstruction losses, and the
//! trained weights shipped in the crate.
//!
//! Training runs the tokenizer's own encoder and decoder modules (`cosmos_tokenizer::model`)
//! under burn's autodiff: episodes from [`TRAIN_SEEDS`] are generated on the fly, the loss is
//! L1 + MSE between the clip and its reconstruction in `[−1, 1]`, with the pixels that are not
//! background weighted up (the balls are small; the background is easy), optimised with Adam.
//! Weights are saved as safetensors under the reference tokenizer's key names (`encoder.*`,
//! `quant_conv.*`, `post_quant_conv.*`, `decoder.*`), next to a `config.json`, so
//! [`cosmos_tokenizer::Tokenizer::load`] reads the folder as it reads NVIDIA's checkpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, bridge};
use cosmos_nn::checkpoint::Checkpoint;
use cosmos_tokenizer::cache::CausalCache;
use cosmos_tokenizer::model::{DecoderHalf, EncoderHalf, VideoDecoder, VideoEncoder};
use cosmos_tokenizer::{Tokenizer, TokenizerConfig, TokenizerKind};
use ndarray::{Array4, ArrayView4, Axis};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::metrics::{mean, psnr_per_frame};
use crate::world::{BACKGROUND, TRAIN_SEEDS, VALIDATION_SEEDS, WorldConfig, episode};
use crate::{Error, Result};

/// The shipped tokenizer's config (JSON, the reference's constructor arguments).
const SHIPPED_CONFIG: &str = include_str!("../weights/world_tokenizer/config.json");
/// The shipped tokenizer's weights (safetensors).
const SHIPPED_WEIGHTS: &[u8] = include_bytes!("../weights/world_tokenizer/tokenizer.safetensors");

/// File names inside a tokenizer folder.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file inside a tokenizer folder.
pub const WEIGHTS_FILE: &str = "tokenizer.safetensors";

/// The world tokenizer's architecture: a CV tokenizer with temporal and spatial compression 4
/// done entirely by two Haar levels (`1 + 4k` frames of 64×64 → `1 + k` latents of 16×16),
/// 16 latent channels, base width 16 (the decoder, whose multipliers the reference fixes to
/// `[2, 4]` for temporal compression 4, is 32 and 64 wide), one residual block per level and
/// attention only in the middle blocks.
pub fn world_tokenizer_config() -> TokenizerConfig {
    TokenizerConfig {
        attn_resolutions: vec![],
        channels: 16,
        channels_mult: vec![1, 2],
        num_res_blocks: 1,
        resolution: 64,
        spatial_compression: 4,
        temporal_compression: Some(4),
        ..TokenizerConfig::reference_default(TokenizerKind::ContinuousVideo)
    }
}

/// Parses safetensors bytes held in memory into a checkpoint.
pub fn checkpoint_from_safetensors(bytes: &[u8], what: &str) -> Result<Checkpoint> {
    let format = |reason: String| Error::Format {
        path: what.to_string(),
        reason,
    };
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format(format!("not a valid safetensors file: {e}")))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(format(format!(
                "tensor '{name}': expected f32, found {:?}",
                view.dtype()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, TensorData::new(values, view.shape().to_vec()));
    }
    Ok(Checkpoint::from_tensors(tensors))
}

/// The shipped world tokenizer (embedded in the crate), on `device`.
pub fn load_world_tokenizer(device: &Device) -> Result<Tokenizer> {
    tokenizer_from_bytes(
        SHIPPED_CONFIG,
        SHIPPED_WEIGHTS,
        "embedded world tokenizer",
        device,
    )
}

/// A tokenizer folder as [`WorldAutoencoder::save`] and [`write_world_tokenizer`] write it
/// (`config.json` + `tokenizer.safetensors`), on `device`.
pub fn load_tokenizer_folder(dir: &Path, device: &Device) -> Result<Tokenizer> {
    let config_path = dir.join(CONFIG_FILE);
    let weights_path = dir.join(WEIGHTS_FILE);
    let config = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let weights = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
    tokenizer_from_bytes(&config, &weights, &dir.display().to_string(), device)
}

/// Writes the embedded world tokenizer as a tokenizer folder (`dir` created if needed).
pub fn write_world_tokenizer(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_atomically(&dir.join(CONFIG_FILE), SHIPPED_CONFIG.as_bytes())?;
    write_atomically(&dir.join(WEIGHTS_FILE), SHIPPED_WEIGHTS)
}

fn tokenizer_from_bytes(
    config: &str,
    weights: &[u8],
    what: &str,
    device: &Device,
) -> Result<Tokenizer> {
    let config: serde_json::Value = serde_json::from_str(config).map_err(|e| Error::Format {
        path: format!("{what}: {CONFIG_FILE}"),
        reason: e.to_string(),
    })?;
    let config = TokenizerConfig::from_json(&config)?;
    let checkpoint = checkpoint_from_safetensors(weights, &format!("{what}: {WEIGHTS_FILE}"))?;
    Ok(Tokenizer::from_checkpoint(config, &checkpoint, device)?)
}

/// The trainable tokenizer: the reference's two halves as one module.
#[derive(Module, Debug)]
pub struct WorldAutoencoder {
    /// `encoder.*` and `quant_conv.*`.
    pub encoder: VideoEncoder,
    /// `post_quant_conv.*` and `decoder.*`.
    pub decoder: VideoDecoder,
}

impl WorldAutoencoder {
    /// Fresh weights of `config` (a CV config) on `device`.
    pub fn new(config: &TokenizerConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        match (
            EncoderHalf::new(config, device),
            DecoderHalf::new(config, device),
        ) {
            (EncoderHalf::Video(encoder), DecoderHalf::Video(decoder)) => {
                Ok(Self { encoder, decoder })
            }
            _ => Err(Error::Config(format!(
                "the world tokenizer must be a video tokenizer (CV), found '{}'",
                config.name
            ))),
        }
    }

    /// Loads weights saved by [`save`](Self::save) (or any checkpoint with the reference's
    /// key names for `config`).
    pub fn from_checkpoint(
        config: &TokenizerConfig,
        checkpoint: &Checkpoint,
        device: &Device,
    ) -> Result<Self> {
        let mut model = Self::new(config, device)?;
        let video = true;
        let enc_map = cosmos_tokenizer::pretrained::key_map(
            video,
            cosmos_tokenizer::pretrained::Half::Encoder,
        )?;
        let dec_map = cosmos_tokenizer::pretrained::key_map(
            video,
            cosmos_tokenizer::pretrained::Half::Decoder,
        )?;
        cosmos_nn::checkpoint::load_module(&mut model.encoder, checkpoint, &enc_map)
            .map_err(cosmos_nn::Error::from)?;
        cosmos_nn::checkpoint::load_module(&mut model.decoder, checkpoint, &dec_map)
            .map_err(cosmos_nn::Error::from)?;
        Ok(model)
    }

    /// Latent of `video: [b, 3, 1 + 4k, H, W]` in `[−1, 1]`.
    pub fn encode(&self, video: Tensor<5>) -> Result<Tensor<5>> {
        let h = self
            .encoder
            .encoder
            .forward(video, &mut CausalCache::offline())?;
        Ok(self.encoder.quant_conv.forward(h))
    }

    /// Reconstruction of a latent.
    pub fn decode(&self, latent: Tensor<5>) -> Result<Tensor<5>> {
        let h = self.decoder.post_quant_conv.forward(latent);
        Ok(self
            .decoder
            .decoder
            .forward(h, &mut CausalCache::offline())?)
    }

    /// The weights under the reference's key names (PyTorch conventions).
    pub fn state_dict(&self) -> Result<BTreeMap<String, TensorData>> {
        let mut out = BTreeMap::new();
        let snapshots = self
            .encoder
            .collect(None, Some(Box::new(BurnToPyTorchAdapter)), false)
            .into_iter()
            .chain(
                self.decoder
                    .collect(None, Some(Box::new(BurnToPyTorchAdapter)), false),
            );
        for snapshot in snapshots {
            let name = reference_key(&snapshot.name);
            let data = bridge::into_data(snapshot).map_err(|e| Error::Format {
                path: name.clone(),
                reason: format!("cannot read the tensor back: {e}"),
            })?;
            out.insert(name, data.convert::<f32>());
        }
        Ok(out)
    }

    /// Writes `config.json` and `tokenizer.safetensors` into `dir` (created if needed); each
    /// file is written to a temporary name first and renamed, so readers never see half a file.
    pub fn save(&self, config: &TokenizerConfig, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tensors = self.state_dict()?;
        let mut owned: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::with_capacity(tensors.len());
        for (name, data) in tensors {
            let shape = data.shape().to_vec();
            let values: Vec<f32> = data.try_to_vec::<f32>().map_err(|e| Error::Format {
                path: name.clone(),
                reason: format!("{e:?}"),
            })?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            owned.push((name, bytes, shape));
        }
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
            .iter()
            .map(|(name, bytes, shape)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| Error::Format {
                        path: name.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_>>()?;
        let bytes = safetensors::tensor::serialize(views, None).map_err(|e| Error::Format {
            path: dir.join(WEIGHTS_FILE).display().to_string(),
            reason: e.to_string(),
        })?;
        let json = serde_json::to_string_pretty(config).map_err(|e| Error::Format {
            path: dir.join(CONFIG_FILE).display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomically(&dir.join(CONFIG_FILE), json.as_bytes())?;
        write_atomically(&dir.join(WEIGHTS_FILE), &bytes)?;
        Ok(())
    }
}

/// Module path → reference key: the two-element attention `Sequential` of the reference is
/// `spatial` / `temporal` here.
fn reference_key(path: &str) -> String {
    path.replace(".spatial.", ".0.")
        .replace(".temporal.", ".1.")
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Frames `[T, H, W, 3]` (u8) of several clips → `[b, 3, T, H, W]` in `[−1, 1]`.
pub fn clips_to_tensor(clips: &[ArrayView4<u8>], device: &Device) -> Result<Tensor<5>> {
    let first = clips
        .first()
        .ok_or_else(|| Error::Config("no clip".into()))?;
    let shape = first.shape().to_vec();
    let [t, h, w] = [shape[0], shape[1], shape[2]];
    let mut values = Vec::with_capacity(clips.len() * 3 * t * h * w);
    for clip in clips {
        if clip.shape() != shape.as_slice() || shape[3] != 3 {
            return Err(Error::Shape {
                what: "clip".into(),
                expected: format!("{shape:?} with 3 channels"),
                found: format!("{:?}", clip.shape()),
            });
        }
        for c in 0..3 {
            for frame in clip.axis_iter(Axis(0)) {
                values.extend(
                    frame
                        .index_axis(Axis(2), c)
                        .iter()
                        .map(|&v| v as f32 / 127.5 - 1.0),
                );
            }
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(values, [clips.len(), 3, t, h, w]),
        device,
    ))
}

/// `[b, 3, T, H, W]` in `[−1, 1]` → one u8 clip `[T, H, W, 3]` per batch entry.
pub fn tensor_to_clips(video: Tensor<5>) -> Result<Vec<Array4<u8>>> {
    let [b, c, t, h, w] = video.dims();
    let values: Vec<f32> = video
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Format {
            path: "decoded video".into(),
            reason: format!("{e:?}"),
        })?;
    let mut clips = Vec::with_capacity(b);
    for bi in 0..b {
        let clip = Array4::from_shape_fn((t, h, w, c), |(ti, y, x, ci)| {
            let v = values[(((bi * c + ci) * t + ti) * h + y) * w + x];
            ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8
        });
        clips.push(clip);
    }
    Ok(clips)
}

/// Per-pixel loss weights `[b, 1, T, H, W]`: 1 on the background, `1 + extra` elsewhere.
fn loss_weights(clips: &[ArrayView4<u8>], extra: f32, device: &Device) -> Tensor<5> {
    let shape = clips[0].shape();
    let [t, h, w] = [shape[0], shape[1], shape[2]];
    let mut values = Vec::with_capacity(clips.len() * t * h * w);
    for clip in clips {
        for frame in clip.axis_iter(Axis(0)) {
            for y in 0..h {
                for x in 0..w {
                    let diff: i32 = (0..3)
                        .map(|c| (frame[[y, x, c]] as i32 - BACKGROUND[c] as i32).abs())
                        .sum();
                    values.push(if diff > 12 { 1.0 + extra } else { 1.0 });
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [clips.len(), 1, t, h, w]), device)
}

/// Options of [`train_world_tokenizer`].
#[derive(Debug, Clone)]
pub struct TokenizerTrainOptions {
    /// The world the clips come from.
    pub world: WorldConfig,
    /// Optimiser steps.
    pub steps: usize,
    /// Clips per step.
    pub batch: usize,
    /// Frames per training clip (`1 + 4k`; the tokenizer is causal, so short clips train it
    /// for long ones).
    pub frames: usize,
    /// Peak learning rate (linear warm-up over the first 5 % of steps, cosine decay to 10 %).
    pub learning_rate: f64,
    /// Extra loss weight of the non-background pixels.
    pub foreground_weight: f32,
    /// Seed of the weights and of the episode choice.
    pub seed: u64,
    /// Where checkpoints go (`config.json` + `tokenizer.safetensors`, with `metrics.jsonl` and
    /// `loss.png`: [`crate::train_log`]); none = not saved.
    pub out_dir: Option<PathBuf>,
    /// Save (and validate) every this many steps (0 = only at the end).
    pub checkpoint_every: usize,
    /// Validation episodes (17 frames each, from [`VALIDATION_SEEDS`]).
    pub validation_episodes: usize,
    /// Start from these weights (a folder written by a previous run) instead of fresh ones.
    pub init_from: Option<PathBuf>,
    /// Stop early after this many seconds (the last checkpoint is still written).
    pub time_limit_s: Option<f64>,
}

impl Default for TokenizerTrainOptions {
    fn default() -> Self {
        Self {
            world: WorldConfig::default(),
            steps: 1500,
            batch: 4,
            frames: 9,
            learning_rate: 2e-3,
            foreground_weight: 4.0,
            seed: 0,
            out_dir: None,
            checkpoint_every: 250,
            validation_episodes: 8,
            init_from: None,
            time_limit_s: None,
        }
    }
}

/// What the training loop reports as it goes.
#[derive(Debug, Clone)]
pub struct TrainProgress {
    /// Steps done.
    pub step: usize,
    /// Steps planned.
    pub steps: usize,
    /// Loss of the last step.
    pub loss: f32,
    /// Learning rate of the last step.
    pub learning_rate: f64,
    /// Seconds since the start.
    pub elapsed_s: f64,
    /// Validation reconstruction PSNR (dB), on the steps that validate.
    pub validation_psnr_db: Option<f64>,
    /// The checkpoint written at this step, if any.
    pub checkpoint: Option<PathBuf>,
}

/// The outcome of [`train_world_tokenizer`].
#[derive(Debug, Clone)]
pub struct TokenizerTrainReport {
    /// Steps done.
    pub steps: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Mean loss of the last 20 steps.
    pub final_loss: f32,
    /// Validation reconstruction PSNR (dB) of the final weights.
    pub validation_psnr_db: f64,
    /// The trainable model with the final weights (on the inner, non-autodiff device).
    pub model: WorldAutoencoder,
}

fn learning_rate(options: &TokenizerTrainOptions, step: usize) -> f64 {
    let warmup = (options.steps / 20).max(1);
    let peak = options.learning_rate;
    if step < warmup {
        peak * (step + 1) as f64 / warmup as f64
    } else {
        let progress = (step - warmup) as f64 / (options.steps - warmup).max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
        peak * (0.1 + 0.9 * cosine)
    }
}

/// Mean reconstruction PSNR (dB, over frames) of `episodes` validation episodes of 17 frames.
pub fn validation_psnr(
    model: &WorldAutoencoder,
    world: &WorldConfig,
    episodes: usize,
    device: &Device,
) -> Result<f64> {
    let mut psnrs = Vec::new();
    for i in 0..episodes as u64 {
        let ep = episode(world, VALIDATION_SEEDS.start + i, 17);
        let x = clips_to_tensor(&[ep.frames.view()], device)?;
        let y = model.decode(model.encode(x)?)?;
        let clip = tensor_to_clips(y)?.remove(0);
        psnrs.extend(psnr_per_frame(ep.frames.view(), clip.view()));
    }
    Ok(mean(&psnrs))
}

/// Trains the world tokenizer on `device` (with burn's autodiff over it; the CPU's flex backend
/// is what the shipped tokenizer was trained on).
pub fn train_world_tokenizer(
    options: &TokenizerTrainOptions,
    device: &Device,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<TokenizerTrainReport> {
    if options.steps == 0
        || options.batch == 0
        || options.frames == 0
        || !(options.frames - 1).is_multiple_of(4)
    {
        return Err(Error::Config(format!(
            "tokenizer training needs steps ≥ 1, batch ≥ 1 and 1 + 4k frames, found steps {}, batch {}, frames {}",
            options.steps, options.batch, options.frames
        )));
    }
    options.world.validate()?;
    let config = world_tokenizer_config();
    let device = device.clone().autodiff();
    device.seed(options.seed);
    let mut model = match &options.init_from {
        Some(dir) => {
            let checkpoint = cosmos_tokenizer::pretrained::read_checkpoint(dir)?;
            WorldAutoencoder::from_checkpoint(&config, &checkpoint, &device)?
        }
        None => WorldAutoencoder::new(&config, &device)?,
    };
    let mut optimizer = AdamConfig::new().init();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let start = Instant::now();
    let mut recent = Vec::new();
    let span = TRAIN_SEEDS.end - TRAIN_SEEDS.start;
    let mut last_psnr = None;
    let mut step = 0;
    let mut log = crate::train_log::TrainLog::new("World tokenizer training");
    while step < options.steps {
        let episodes: Vec<_> = (0..options.batch)
            .map(|_| {
                let seed = TRAIN_SEEDS.start + rng.next_u64() % span;
                episode(&options.world, seed, options.frames)
            })
            .collect();
        let views: Vec<_> = episodes.iter().map(|e| e.frames.view()).collect();
        let x = clips_to_tensor(&views, &device)?;
        let weights = loss_weights(&views, options.foreground_weight, &device);
        let y = model.decode(model.encode(x.clone())?)?;
        let diff = y - x;
        let loss = (diff.clone().abs() * weights.clone()).mean() + (diff.square() * weights).mean();
        let loss_value: f32 = loss.clone().into_scalar::<f32>();
        if !loss_value.is_finite() {
            return Err(Error::Diverged(format!(
                "tokenizer loss is {loss_value} at step {step}"
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = learning_rate(options, step);
        model = optimizer.step(lr, model, grads);
        step += 1;
        log.record(step, f64::from(loss_value), lr);
        recent.push(loss_value);
        if recent.len() > 20 {
            recent.remove(0);
        }
        let out_of_time = options
            .time_limit_s
            .is_some_and(|limit| start.elapsed().as_secs_f64() >= limit);
        let last = step == options.steps || out_of_time;
        let save_now =
            last || (options.checkpoint_every > 0 && step % options.checkpoint_every == 0);
        let mut checkpoint = None;
        let mut psnr = None;
        if save_now {
            let inference = model.valid();
            let inner = device.clone().inner();
            let value = validation_psnr(
                &inference,
                &options.world,
                options.validation_episodes,
                &inner,
            )?;
            psnr = Some(value);
            last_psnr = Some(value);
            if let Some(dir) = &options.out_dir {
                inference.save(&config, dir)?;
                log.write(dir)?;
                checkpoint = Some(dir.clone());
            }
        }
        progress(TrainProgress {
            step,
            steps: options.steps,
            loss: loss_value,
            learning_rate: lr,
            elapsed_s: start.elapsed().as_secs_f64(),
            validation_psnr_db: psnr,
            checkpoint,
        });
        if out_of_time {
            break;
        }
    }
    let model = model.valid();
    let validation_psnr_db = match last_psnr {
        Some(p) => p,
        None => validation_psnr(
            &model,
            &options.world,
            options.validation_episodes,
            &device.clone().inner(),
        )?,
    };
    Ok(TokenizerTrainReport {
        steps: step,
        seconds: start.elapsed().as_secs_f64(),
        final_loss: recent.iter().sum::<f32>() / recent.len().max(1) as f32,
        validation_psnr_db,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_compresses_four_by_four() {
        let config = world_tokenizer_config();
        config.validate().unwrap();
        assert_eq!(config.effective_spatial_compression(), 4);
        assert_eq!(config.effective_temporal_compression(), 4);
        assert_eq!(config.latent_channels(), 16);
    }

    #[test]
    fn clips_round_trip_through_tensors() {
        let ep = episode(&WorldConfig::default(), 3, 5);
        let device = Device::flex();
        let x = clips_to_tensor(&[ep.frames.view()], &device).unwrap();
        assert_eq!(x.dims(), [1, 3, 5, 64, 64]);
        let back = tensor_to_clips(x).unwrap();
        assert_eq!(back[0], ep.frames);
    }

    #[test]
    fn training_steps_change_the_weights_and_saved_weights_load_as_a_tokenizer() {
        let options = TokenizerTrainOptions {
            steps: 2,
            batch: 1,
            frames: 5,
            validation_episodes: 1,
            checkpoint_every: 0,
            ..Default::default()
        };
        let device = Device::flex();
        let mut losses = Vec::new();
        let report =
            train_world_tokenizer(&options, &device, &mut |p| losses.push(p.loss)).unwrap();
        assert_eq!(report.steps, 2);
        assert_eq!(losses.len(), 2);
        assert!(
            losses.iter().all(|l| l.is_finite() && *l > 0.0),
            "{losses:?}"
        );
        // Gradients reached the weights: the trained model differs from a fresh one of the
        // same seed.
        device.clone().autodiff().seed(options.seed);
        let fresh = WorldAutoencoder::new(&world_tokenizer_config(), &device.clone().autodiff())
            .unwrap()
            .valid();
        let a = fresh.state_dict().unwrap();
        let b = report.model.state_dict().unwrap();
        assert_eq!(a.len(), b.len());
        let changed = a
            .iter()
            .filter(|(k, v)| {
                let x = v.try_to_vec::<f32>().unwrap();
                let y = b[*k].try_to_vec::<f32>().unwrap();
                x.iter().zip(&y).any(|(p, q)| (p - q).abs() > 1e-7)
            })
            .count();
        assert!(
            changed > a.len() / 2,
            "{changed} of {} tensors changed",
            a.len()
        );
        // Saved under the reference's key names, the folder loads as a normal tokenizer and
        // reconstructs exactly as the trained module does.
        let dir = tempfile::tempdir().unwrap();
        report
            .model
            .save(&world_tokenizer_config(), dir.path())
            .unwrap();
        assert!(
            b.keys().any(|k| k.contains(".attn_1.0.")),
            "reference attention keys"
        );
        let tokenizer = Tokenizer::load(dir.path(), None, &device).unwrap();
        let ep = episode(&WorldConfig::default(), VALIDATION_SEEDS.start, 5);
        let x = clips_to_tensor(&[ep.frames.view()], &device).unwrap();
        let ours = report
            .model
            .decode(report.model.encode(x.clone()).unwrap())
            .unwrap();
        let theirs = tokenizer
            .decode(tokenizer.encode(x).unwrap().latent)
            .unwrap();
        let diff = (ours - theirs).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn shipped_tokenizer_reconstructs_held_out_clips() {
        let device = Device::flex();
        let tokenizer = load_world_tokenizer(&device).unwrap();
        assert_eq!(
            tokenizer.latent_shape([1, 3, 17, 64, 64]),
            [1, 16, 5, 16, 16]
        );
        let mut psnrs = Vec::new();
        for i in 0..2 {
            let ep = episode(
                &WorldConfig::default(),
                VALIDATION_SEEDS.start + 100 + i,
                17,
            );
            let x = clips_to_tensor(&[ep.frames.view()], &device).unwrap();
            let latent = tokenizer.encode(x).unwrap().latent;
            assert_eq!(latent.dims(), [1, 16, 5, 16, 16]);
            let clip = tensor_to_clips(tokenizer.decode(latent).unwrap())
                .unwrap()
                .remove(0);
            psnrs.extend(psnr_per_frame(ep.frames.view(), clip.view()));
        }
        let psnr = mean(&psnrs);
        assert!(psnr > 24.0, "reconstruction PSNR {psnr:.2} dB");
    }
}
