//! `cosmos train`: post-training.
//!
//! - `cosmos train dit`: fine-tunes a Cosmos DiT (a diffusers folder) on webdataset shards from
//!   `cosmos curate`, with extra per-frame conditioning (action, camera pose, view index) from
//!   zero-initialised projections or a text instruction through cross-attention; full
//!   fine-tuning or LoRA; checkpoints with `--resume`.
//! - `cosmos train ar`: fine-tunes the Cosmos autoregressive model on the discrete video tokens
//!   of curated shards (next-token cross-entropy on the predicted frames), full or LoRA, with
//!   optional per-frame actions through a zero-initialised projection; checkpoints with
//!   `--resume`.
//! - `cosmos train world-tokenizer` / `cosmos train world-model`: reproduce the small world
//!   tokenizer and action-conditioned world model shipped in `cosmos-posttrain`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cosmos_diffusion::pretrained::{ModelPaths, load_text_encoder, load_video_tokenizer};
use cosmos_diffusion::{LatentDecoder, LatentEncoder};
use cosmos_nn::burn::tensor::{DType, Device, Tensor};
use cosmos_posttrain::conditioning::{ConditionKind, ConditionedDit, FrameConditionerConfig};
use cosmos_posttrain::data::{ClipEncoder, LatentNormalization, ShardOptions, encode_shards};
use cosmos_posttrain::lora::{self, LoraConfig};
use cosmos_posttrain::trainer::{
    CHECKPOINT_FILE, RunInfo, TrainOptions, TrainProgress, Trainer, export_diffusers,
    module_tensors, write_safetensors,
};
use cosmos_posttrain::world::{VALIDATION_SEEDS, WorldConfig};
use cosmos_posttrain::world_model::{
    WorldModel, WorldModelTrainOptions, action_response, evaluate, train_world_model,
};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(subcommand)]
    pub command: TrainCommand,
}

#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// Fine-tune a Cosmos DiT on curated shards (full or LoRA), with extra conditioning.
    Dit(DitArgs),
    /// Fine-tune the Cosmos autoregressive model on curated shards (full or LoRA), optionally
    /// conditioned on per-frame actions.
    Ar(ArArgs),
    /// Train the small world tokenizer shipped in cosmos-posttrain.
    WorldTokenizer(WorldTokenizerArgs),
    /// Train the action-conditioned world model shipped in cosmos-posttrain.
    WorldModel(WorldModelArgs),
}

#[derive(Args, Debug)]
pub struct DitArgs {
    /// Folder of webdataset shards (`*.tar`, searched recursively) written by `cosmos curate`.
    #[arg(long)]
    pub shards: PathBuf,
    /// The DiT to fine-tune: a diffusers pipeline folder (transformer/, vae/, text_encoder/) or
    /// a transformer folder (config.json + *.safetensors or model.pt).
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: checkpoint.safetensors while training; transformer/ (diffusers format,
    /// LoRA merged), conditioner.safetensors and posttrain.json at the end.
    #[arg(long)]
    pub out: PathBuf,
    /// Extra conditioning (repeat or comma-separate): action, camera, view, text.
    #[arg(long, value_delimiter = ',')]
    pub condition: Vec<String>,
    /// LoRA rank (full fine-tuning when absent).
    #[arg(long)]
    pub lora: Option<usize>,
    /// LoRA α (default: the rank, i.e. scale 1).
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    /// Optimiser steps.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Clips per step.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// Seed of the data order and noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from OUT/checkpoint.safetensors.
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint interval in steps.
    #[arg(long, default_value_t = 100)]
    pub every: usize,
    /// Video tokenizer: a Cosmos tokenizer folder or file, or `world` for the embedded world
    /// tokenizer; default: the model folder's vae/ (with its latent normalisation).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Frames per training clip (1 + k·n for temporal compression k).
    #[arg(long, default_value_t = 17)]
    pub frames: usize,
    /// Frame width after resizing.
    #[arg(long, default_value_t = 64)]
    pub width: u32,
    /// Frame height after resizing.
    #[arg(long, default_value_t = 64)]
    pub height: u32,
    /// Keep one decoded frame in N.
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// Latent frames that condition (Video2World; no loss on them).
    #[arg(long, default_value_t = 1)]
    pub condition_frames: usize,
    /// Frame rate given to RoPE.
    #[arg(long, default_value_t = 24.0)]
    pub fps: f64,
    /// Clip-record field holding one action vector per frame.
    #[arg(long, default_value = "actions")]
    pub action_field: String,
    /// Clip-record field holding one camera pose / motion vector per frame.
    #[arg(long, default_value = "camera")]
    pub camera_field: String,
    /// Clip-record field holding the view (camera) index.
    #[arg(long, default_value = "view")]
    pub view_field: String,
    /// Number of views of the rig (default: the largest index in the data + 1).
    #[arg(long)]
    pub views: Option<usize>,
    /// Latent cache folder (default OUT/cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Print a loss line every N steps.
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Extra loss weight where the scene moves (0: the plain EDM loss): each predicted latent
    /// position counts 1 + X · its mean change from the last condition frame.
    #[arg(long, default_value_t = 4.0)]
    pub motion_weight: f64,
}

#[derive(Args, Debug)]
pub struct WorldTokenizerArgs {
    /// Optimiser steps.
    #[arg(long, default_value_t = 1500)]
    pub steps: usize,
    /// Clips per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Stop after this many minutes.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Output folder (config.json + tokenizer.safetensors).
    #[arg(
        long,
        default_value = "crates/cosmos-posttrain/weights/world_tokenizer"
    )]
    pub out: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct WorldModelArgs {
    /// Training episodes of the physics world.
    #[arg(long, default_value_t = 4096)]
    pub episodes: usize,
    /// Optimiser steps (the length of the learning-rate schedule).
    #[arg(long, default_value_t = 10500)]
    pub steps: usize,
    /// Clips per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 8e-4)]
    pub lr: f64,
    /// Stop after this many minutes of training.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Latent cache file.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Output folder (config.json + model.safetensors).
    #[arg(long, default_value = "crates/cosmos-posttrain/weights/world_model")]
    pub out: PathBuf,
    /// Training checkpoint folder (default: under the temporary folder).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Continue from the training checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Start from a trained world model folder (config.json + model.safetensors); conditioning
    /// it lacks is added zero-initialised.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Mean of ln σ during training (3.4 = high noise only: the network learns the conditional
    /// mean, sampled in one Euler step).
    #[arg(long, default_value_t = 3.4)]
    pub p_mean: f64,
    /// Standard deviation of ln σ during training.
    #[arg(long, default_value_t = 0.3)]
    pub p_std: f64,
    /// Extra loss weight where the scene moves (0: the plain EDM loss): each predicted latent
    /// position counts 1 + X · its mean change from the last condition frame.
    #[arg(long, default_value_t = 4.0)]
    pub motion_weight: f64,
    /// Leave out the spatial push map (actions as vectors only).
    #[arg(long)]
    pub no_action_map: bool,
    /// Latent frames (4 video frames each) one window predicts, 1–3: fewer train faster and
    /// are rolled forward window by window at prediction time.
    #[arg(long, default_value_t = 1)]
    pub predicted_latent_frames: usize,
    /// Stop after this step (the learning-rate schedule still spans --steps): replays a run
    /// that --minutes ended, on any machine.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Held-out episodes to evaluate on afterwards.
    #[arg(long, default_value_t = 32)]
    pub eval: usize,
    /// Euler steps when evaluating.
    #[arg(long, default_value_t = 1)]
    pub sampler_steps: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

type BoxError = Box<dyn std::error::Error>;

pub fn run(args: &TrainArgs, device: &Device) -> Result<(), BoxError> {
    match &args.command {
        TrainCommand::Dit(a) => train_dit(a, device),
        TrainCommand::Ar(a) => train_ar(a, device),
        TrainCommand::WorldTokenizer(a) => train_tokenizer(a),
        TrainCommand::WorldModel(a) => train_world(a, device),
    }
}

/// The progress bar of a training run that starts at step `start`, and the callback that moves
/// it (and prints a log line every `log_every` steps).
fn step_progress(
    steps: usize,
    start: usize,
    log_every: usize,
) -> Result<(ProgressBar, impl FnMut(TrainProgress)), BoxError> {
    let progress = bar(steps)?;
    progress.set_position(start as u64);
    let every = log_every.max(1);
    let bar = progress.clone();
    let report = move |p: TrainProgress| {
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss {:.4}", p.loss));
        if p.step.is_multiple_of(every) {
            bar.println(format!(
                "step {}/{} loss {:.5} lr {:.2e} |g| {:.3} {:.0}s",
                p.step, p.steps, p.loss, p.learning_rate, p.grad_norm, p.elapsed
            ));
        }
    };
    Ok((progress, report))
}

fn bar(steps: usize) -> Result<ProgressBar, BoxError> {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] step {pos}/{len} {msg}")?
            .progress_chars("=> "),
    );
    Ok(bar)
}

fn find_shards(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BoxError> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            find_shards(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "tar") {
            out.push(path);
        }
    }
    Ok(())
}

fn train_dit(args: &DitArgs, device: &Device) -> Result<(), BoxError> {
    let kinds = args
        .condition
        .iter()
        .map(|c| c.parse::<ConditionKind>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut shards = Vec::new();
    find_shards(&args.shards, &mut shards)?;
    shards.sort();
    if shards.is_empty() {
        return Err(format!("{}: no *.tar shards", args.shards.display()).into());
    }
    let paths = ModelPaths::find(&args.model).ok();
    let transformer = match &paths {
        Some(p) => p.transformer.clone(),
        None if args.model.join("transformer").is_dir() => args.model.join("transformer"),
        None => args.model.clone(),
    };
    let dit = cosmos_diffusion::load_dit(&transformer, device)?;
    if args.condition_frames > 0 && !dit.config.has_condition_mask() {
        return Err(
            "this DiT is a Text2World model: pass --condition-frames 0 or use a Video2World one"
                .into(),
        );
    }
    eprintln!(
        "DiT: {} blocks, hidden {}, from {}",
        dit.config.num_layers,
        dit.config.hidden_size(),
        transformer.display()
    );

    // Latents: shards → frames → tokenizer (cached).
    let shard_options = ShardOptions {
        frames: args.frames,
        size: (args.width, args.height),
        stride: args.stride,
        action_field: kinds
            .contains(&ConditionKind::Action)
            .then(|| args.action_field.clone()),
        camera_field: kinds
            .contains(&ConditionKind::Camera)
            .then(|| args.camera_field.clone()),
        view_field: kinds
            .contains(&ConditionKind::View)
            .then(|| args.view_field.clone()),
    };
    let cache = args.cache.clone().unwrap_or_else(|| args.out.join("cache"));
    let mut log = |line: &str| eprintln!("{line}");
    let mut text_encoder = if kinds.contains(&ConditionKind::Text) {
        let p = paths
            .as_ref()
            .ok_or("--condition text needs a pipeline folder with text_encoder/ (T5)")?;
        Some(load_text_encoder(p, device)?)
    } else {
        None
    };
    let mut embed_text = |text: &str| -> cosmos_posttrain::Result<Vec<f32>> {
        use cosmos_diffusion::TextEncoder;
        let encoder = text_encoder.as_mut().expect("only called with text");
        let e = encoder
            .encode(&[text])
            .map_err(|e| cosmos_posttrain::Error::Config(format!("text encoder: {e}")))?;
        Ok(e.embeddings
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default())
    };
    let context_shape = if kinds.contains(&ConditionKind::Text) {
        let n = embed_text("")?.len();
        let d = dit.config.text_embed_dim;
        Some([n / d, d])
    } else {
        None
    };
    let (mut set, normalization) = match args.tokenizer.as_deref() {
        Some(which) => {
            let tokenizer = if which == "world" {
                cosmos_posttrain::tokenizer_train::load_world_tokenizer(device)?
            } else {
                cosmos_tokenizer::Tokenizer::load(which, None, device)?
            };
            let mut encode = |v: Tensor<5>| Ok(tokenizer.encode(v)?.latent);
            let mut encoder = ClipEncoder::tokenizer(&tokenizer, &mut encode);
            let text = context_shape.map(|s| (&mut embed_text as &mut _, s));
            let set = encode_shards(
                &shards,
                &mut encoder,
                &shard_options,
                Some(&cache),
                text,
                &mut log,
            )?;
            let n = LatentNormalization::fit(&set);
            (set, n)
        }
        None => {
            let p = paths.as_ref().ok_or(
                "no video tokenizer: pass --tokenizer DIR (or `world`), or a pipeline folder with vae/",
            )?;
            let mut tokenizer = load_video_tokenizer(p, device)?;
            let k = tokenizer.temporal_compression();
            // The pipeline's encoder already normalises latents to the DiT's scale.
            let mut encode = |v: Tensor<5>| {
                tokenizer
                    .encode(v)
                    .map_err(|e| cosmos_posttrain::Error::Config(format!("video tokenizer: {e}")))
            };
            let mut encoder = ClipEncoder {
                encode: &mut encode,
                temporal_compression: k,
                device: device.clone(),
            };
            let text = context_shape.map(|s| (&mut embed_text as &mut _, s));
            let set = encode_shards(
                &shards,
                &mut encoder,
                &shard_options,
                Some(&cache),
                text,
                &mut log,
            )?;
            (set, LatentNormalization::default())
        }
    };
    set.normalize(normalization);
    if let Some(v) = args.views {
        if set.views.is_some_and(|found| found > v) {
            return Err(format!(
                "--views {v}, but the data has view indices up to {}",
                set.views.unwrap_or(1) - 1
            )
            .into());
        }
        set.views = set.views.map(|_| v);
    }
    let [_, t, _, _] = set.shape;
    let pt = dit.config.patch_size[0];
    let per_token = |d: usize| d * pt;
    if t % pt != 0 {
        return Err(
            format!("{t} latent frames are not a multiple of the temporal patch {pt}").into(),
        );
    }
    if pt != 1 && (set.action_dim.is_some() || set.camera_dim.is_some()) {
        return Err("per-frame conditioning needs a temporal patch size of 1".into());
    }
    eprintln!(
        "data: {} clips, latent {:?}, actions {:?}, camera {:?}, views {:?}, text {:?}",
        set.len(),
        set.shape,
        set.action_dim,
        set.camera_dim,
        set.views,
        set.context_shape
    );

    // Model: the DiT + zero-initialised conditioners (+ LoRA).
    let conditioner = FrameConditionerConfig::new(dit.config.hidden_size())
        .with_action_dim(set.action_dim.map(per_token))
        .with_camera_dim(set.camera_dim.map(per_token))
        .with_views(set.views)
        .init(device)?;
    let mut model = ConditionedDit::new(dit, conditioner)?;
    let lora_config = args.lora.map(|rank| LoraConfig {
        alpha: args.lora_alpha.unwrap_or(rank as f64),
        ..LoraConfig::new(rank)
    });
    if let Some(l) = &lora_config {
        model = lora::apply(model, l)?;
        eprintln!(
            "LoRA rank {}: {} adapter parameters",
            l.rank,
            lora::adapter_params(&model)
        );
    }
    let options = TrainOptions {
        steps: args.steps,
        batch_size: args.batch,
        learning_rate: args.lr,
        warmup_steps: args.warmup,
        seed: args.seed,
        condition_frames: args.condition_frames,
        fps: Some(args.fps),
        checkpoint_every: Some(args.every.max(1)),
        out_dir: Some(args.out.clone()),
        motion_weight: args.motion_weight,
        ..TrainOptions::default()
    };
    let mut trainer = Trainer::new(model, options)?;
    let checkpoint = args.out.join(CHECKPOINT_FILE);
    if args.resume {
        trainer.resume(&checkpoint)?;
        eprintln!(
            "resumed from {} at step {}",
            checkpoint.display(),
            trainer.step
        );
    }
    let (progress, mut report) = step_progress(args.steps, trainer.step, args.log_every)?;
    let summary = trainer.run(&set, &mut report)?;
    progress.finish_and_clear();

    // Export: the DiT in diffusers format (LoRA merged), the conditioners, the settings.
    let model = trainer.into_model();
    let model = if lora_config.is_some() {
        lora::merge(model)
    } else {
        model
    };
    export_diffusers(&model.dit, &args.out.join("transformer"), DType::F32)?;
    write_safetensors(
        &args.out.join("conditioner.safetensors"),
        &module_tensors(&model.conditioner, ""),
        Default::default(),
        DType::F32,
    )?;
    RunInfo {
        conditions: args.condition.clone(),
        action_dim_per_latent_frame: set.action_dim,
        camera_dim_per_latent_frame: set.camera_dim,
        views: set.views,
        text_context: set.context_shape,
        latent_normalization: normalization,
        frames: args.frames,
        size: [args.width, args.height],
        condition_latent_frames: args.condition_frames,
        lora: lora_config,
        steps: summary.steps,
        final_loss: summary.final_loss,
    }
    .save(&args.out.join("posttrain.json"))?;
    println!(
        "trained {} steps in {:.0} s, loss {:.4} → {:.4}; wrote {}",
        summary.steps,
        summary.seconds,
        summary.first_loss,
        summary.final_loss,
        args.out.display()
    );
    Ok(())
}

fn train_tokenizer(args: &WorldTokenizerArgs) -> Result<(), BoxError> {
    use cosmos_posttrain::tokenizer_train::{TokenizerTrainOptions, train_world_tokenizer};
    let options = TokenizerTrainOptions {
        steps: args.steps,
        batch: args.batch,
        seed: args.seed,
        out_dir: Some(args.out.clone()),
        time_limit_s: args.minutes.map(|m| m * 60.0),
        ..TokenizerTrainOptions::default()
    };
    let progress = bar(args.steps)?;
    let report = train_world_tokenizer(&options, &mut |p| {
        progress.set_position(p.step as u64);
        progress.set_message(format!("loss {:.4}", p.loss));
        if let Some(psnr) = p.validation_psnr_db {
            progress.println(format!(
                "step {}/{} loss {:.5} validation PSNR {psnr:.2} dB {:.0}s",
                p.step, p.steps, p.loss, p.elapsed_s
            ));
        }
    })?;
    progress.finish_and_clear();
    println!(
        "trained {} steps in {:.0} s: loss {:.5}, validation PSNR {:.2} dB; wrote {}",
        report.steps,
        report.seconds,
        report.final_loss,
        report.validation_psnr_db,
        args.out.display()
    );
    Ok(())
}

fn train_world(args: &WorldModelArgs, device: &Device) -> Result<(), BoxError> {
    let options = WorldModelTrainOptions {
        episodes: args.episodes,
        world: WorldConfig::default(),
        train: TrainOptions {
            steps: args.steps,
            batch_size: args.batch,
            learning_rate: args.lr,
            warmup_steps: 40,
            seed: args.seed,
            checkpoint_every: Some(100),
            p_mean: args.p_mean,
            p_std: args.p_std,
            motion_weight: args.motion_weight,
            grad_clip: Some(2.0),
            ..TrainOptions::default()
        },
        cache: args.cache.clone(),
        out_dir: args.out.clone(),
        max_seconds: args.minutes.map(|m| m * 60.0),
        stop_after: args.stop_after,
        resume: args.resume,
        init_from: args.init.clone(),
        action_map: !args.no_action_map,
        predicted_latent_frames: args.predicted_latent_frames,
        checkpoint_dir: Some(
            args.checkpoints
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("cosmos-world-model-training")),
        ),
    };
    let tokenizer = cosmos_posttrain::tokenizer_train::load_world_tokenizer(device)?;
    let progress = bar(args.steps)?;
    let (model, summary) = train_world_model(
        tokenizer,
        &options,
        device,
        &mut |line| progress.println(line),
        &mut |p| {
            progress.set_position(p.step as u64);
            progress.set_message(format!("loss {:.4}", p.loss));
            if p.step % 50 == 0 {
                progress.println(format!(
                    "step {}/{} loss {:.5} lr {:.2e} {:.0}s",
                    p.step, p.steps, p.loss, p.learning_rate, p.elapsed
                ));
            }
        },
    )?;
    progress.finish_and_clear();
    println!(
        "trained {} steps in {:.0} s, loss {:.4} → {:.4}; wrote {}",
        summary.steps,
        summary.seconds,
        summary.first_loss,
        summary.final_loss,
        args.out.display()
    );
    if args.eval > 0 {
        let model = WorldModel::load_with_tokenizer(&args.out, model.tokenizer, device)?;
        let seeds = VALIDATION_SEEDS.start..VALIDATION_SEEDS.start + args.eval as u64;
        let e = evaluate(&model, seeds, args.sampler_steps)?;
        println!(
            "held-out ({} episodes): PSNR {:.2} dB vs copy-last {:.2} dB (tokenizer ceiling {:.2} dB)",
            e.episodes, e.psnr_model_db, e.psnr_copy_last_db, e.psnr_tokenizer_db
        );
        let mut follows = 0;
        for i in 0..8 {
            let r = action_response(
                &model,
                VALIDATION_SEEDS.start + 500 + i,
                0,
                args.sampler_steps,
            )?;
            follows += r.follows_the_simulator() as usize;
        }
        println!("push left vs right: {follows}/8 follow the simulator");
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ArArgs {
    /// The AR model: a folder with config.json and model.safetensors (or model.pt), such as
    /// one `cosmos train ar` exported; or, as for `cosmos generate-ar`, a preset (4b,
    /// 5b-video2world, 12b, 13b-video2world) or a config JSON file, with --checkpoint.
    #[arg(long)]
    pub model: String,
    /// The AR checkpoint (model.pt, or safetensors with the reference key names); default:
    /// the --model folder's model.safetensors or model.pt.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Folder of webdataset shards (`*.tar`, searched recursively) written by `cosmos curate`.
    #[arg(long, required_unless_present = "tokens")]
    pub shards: Option<PathBuf>,
    /// A token set written by an earlier run (OUT/tokens.safetensors) instead of --shards.
    #[arg(long, conflicts_with = "shards")]
    pub tokens: Option<PathBuf>,
    /// The discrete video tokenizer for --shards (Cosmos-1.0-Tokenizer-DV8x16x16 folder, or a
    /// DV tokenizer parity fixture).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Output folder: ar_checkpoint.safetensors while training; model/ (config.json +
    /// model.safetensors, LoRA merged, for `cosmos generate-ar`), action_projection.safetensors,
    /// tokens.safetensors and posttrain.json at the end.
    #[arg(long)]
    pub out: PathBuf,
    /// Extra conditioning: `action` (per-frame actions from the clip records).
    #[arg(long, value_delimiter = ',')]
    pub condition: Vec<String>,
    /// LoRA rank (full fine-tuning when absent).
    #[arg(long)]
    pub lora: Option<usize>,
    /// LoRA α (default: the rank, i.e. scale 1).
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    /// Optimiser steps.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// Stop (with a checkpoint) after this many minutes of training.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Seed of the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from OUT/ar_checkpoint.safetensors.
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint interval in steps.
    #[arg(long, default_value_t = 100)]
    pub every: usize,
    /// Latent frames that condition (inputs only, no loss on their tokens).
    #[arg(long, default_value_t = 1)]
    pub condition_frames: usize,
    /// Keep one decoded frame in N.
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// Clip-record field holding one action vector per frame.
    #[arg(long, default_value = "actions")]
    pub action_field: String,
    /// T5 embeddings for the cross-attention (Video2World) models, used for every clip: a
    /// safetensors file with one tensor [keys, context_dim] or [1, keys, context_dim].
    #[arg(long)]
    pub prompt_embeddings: Option<PathBuf>,
    /// Token cache folder for --shards (default OUT/token-cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Print a loss line every N steps.
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
}

/// The AR model of `--model` / `--checkpoint`.
fn load_ar_model(
    args: &ArArgs,
    device: &Device,
) -> Result<(cosmos_ar::ArTransformer, PathBuf), BoxError> {
    let path = Path::new(&args.model);
    let (config, default_checkpoint) = if path.is_dir() {
        let config = cosmos_ar::ArConfig::from_json_file(path.join("config.json"))?;
        let checkpoint = ["model.safetensors", "model.pt"]
            .iter()
            .map(|f| path.join(f))
            .find(|p| p.is_file());
        (config, checkpoint)
    } else if path.extension().is_some_and(|e| e == "json") || path.is_file() {
        (cosmos_ar::ArConfig::from_json_file(path)?, None)
    } else {
        (cosmos_ar::ArPreset::parse(&args.model)?.config(), None)
    };
    let checkpoint = args
        .checkpoint
        .clone()
        .or(default_checkpoint)
        .ok_or("give --checkpoint (or a --model folder holding model.safetensors)")?;
    let model = cosmos_ar::checkpoint::load(&config, &checkpoint, device)?;
    Ok((model, checkpoint))
}

/// One embedding tensor `[keys, dim]` (or `[1, keys, dim]`) as `(values, [keys, dim])`.
fn read_prompt_embeddings(path: &Path) -> Result<(Vec<f32>, [usize; 2]), BoxError> {
    let checkpoint = cosmos_nn::checkpoint::Checkpoint::open(path)?;
    let mut keys = checkpoint.keys();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(format!(
            "{}: expected exactly one tensor (T5 embeddings), found {}",
            path.display(),
            checkpoint.len()
        )
        .into());
    };
    let data = checkpoint
        .get(key)
        .ok_or_else(|| format!("{}: tensor '{key}' is unreadable", path.display()))?;
    let shape = data.shape().to_vec();
    let (l, d) = match shape[..] {
        [l, d] | [1, l, d] => (l, d),
        _ => {
            return Err(format!(
                "{}: expected embeddings [keys, dim] or [1, keys, dim], found {shape:?}",
                path.display()
            )
            .into());
        }
    };
    let values: Vec<f32> = data
        .clone()
        .convert_dtype(DType::F32)
        .try_into_vec()
        .map_err(|e| format!("{}: {e:?}", path.display()))?;
    Ok((values, [l, d]))
}

fn train_ar(args: &ArArgs, device: &Device) -> Result<(), BoxError> {
    use cosmos_posttrain::ar::{
        AR_CHECKPOINT_FILE, ArRunInfo, ArTrainOptions, ArTrainer, ConditionedAr, TokenSet,
        adapter_params, apply_lora, encode_token_shards, export_checkpoint, merge_lora,
    };
    let actions = match args
        .condition
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()[..]
    {
        [] => false,
        ["action"] => true,
        _ => {
            return Err(format!(
                "--condition for the AR model takes only `action`, found {:?}",
                args.condition
            )
            .into());
        }
    };
    let (base, checkpoint_path) = load_ar_model(args, device)?;
    let config = base.config().clone();
    eprintln!(
        "AR model: {} layers, dim {}, vocabulary {}, grid {:?}, from {}",
        config.n_layers,
        config.dim,
        config.vocab_size,
        config.video_latent_shape,
        checkpoint_path.display()
    );
    let [t, h, w] = config
        .latent_shape()
        .ok_or("the model config has no video_latent_shape [T, H, W]")?;
    let context = match (&args.prompt_embeddings, config.insert_cross_attn) {
        (Some(p), true) => Some(read_prompt_embeddings(p)?),
        (None, true) => {
            return Err("this is a Video2World model with cross-attention: give --prompt-embeddings (T5 embeddings of the clips' prompt)".into());
        }
        (Some(_), false) => return Err("this model takes no text: drop --prompt-embeddings".into()),
        (None, false) => None,
    };

    // Tokens: a cached set, or shards → frames → DV tokenizer (cached per shard).
    let set = match (&args.tokens, &args.shards) {
        (Some(path), _) => TokenSet::load(path)?,
        (None, Some(dir)) => {
            let mut shards = Vec::new();
            find_shards(dir, &mut shards)?;
            shards.sort();
            if shards.is_empty() {
                return Err(format!("{}: no *.tar shards", dir.display()).into());
            }
            let tokenizer_path = args
                .tokenizer
                .as_ref()
                .ok_or("--shards needs --tokenizer (the discrete video tokenizer)")?;
            let tokenizer =
                cosmos_ar::tokenizer::load_discrete_video_tokenizer(tokenizer_path, device)?;
            let k = tokenizer.temporal_compression();
            let s = tokenizer.spatial_compression();
            let shard_options = ShardOptions {
                frames: 1 + (t - 1) * k,
                size: ((w * s) as u32, (h * s) as u32),
                stride: args.stride,
                action_field: actions.then(|| args.action_field.clone()),
                ..ShardOptions::default()
            };
            let cache = args
                .cache
                .clone()
                .unwrap_or_else(|| args.out.join("token-cache"));
            let mut embed = |_: &str| -> cosmos_posttrain::Result<Vec<f32>> {
                Ok(context.as_ref().map(|(v, _)| v.clone()).unwrap_or_default())
            };
            let text = context
                .as_ref()
                .map(|(_, shape)| (&mut embed as &mut _, *shape));
            let set = encode_token_shards(
                &shards,
                &tokenizer,
                device,
                &shard_options,
                Some(&cache),
                text,
                &mut |line| eprintln!("{line}"),
            )?;
            set.save(&args.out.join("tokens.safetensors"))?;
            set
        }
        (None, None) => return Err("give --shards (with --tokenizer) or --tokens".into()),
    };
    if actions && set.action_dim.is_none() {
        return Err("--condition action, but the token set carries no actions".into());
    }
    // The set may carry actions the run does not use.
    let set = if actions {
        set
    } else {
        let mut plain = set;
        plain.action_dim = None;
        plain.samples.iter_mut().for_each(|s| s.actions = None);
        plain
    };
    if config.insert_cross_attn && set.context_shape.is_none() {
        return Err("this model has cross-attention, but the token set carries no text embeddings (build it with --prompt-embeddings)".into());
    }
    eprintln!(
        "data: {} sequences over the grid {:?}, actions {:?}, text {:?}",
        set.len(),
        set.latent_shape,
        set.action_dim,
        set.context_shape
    );

    // Model: the transformer + a zero-initialised action projection (+ LoRA).
    let mut model = ConditionedAr::new(base, set.action_dim)?;
    let lora_config = args.lora.map(|rank| LoraConfig {
        alpha: args.lora_alpha.unwrap_or(rank as f64),
        ..LoraConfig::new(rank)
    });
    if let Some(l) = &lora_config {
        model = apply_lora(model, l)?;
        eprintln!(
            "LoRA rank {}: {} adapter parameters",
            l.rank,
            adapter_params(&model)
        );
    }
    let options = ArTrainOptions {
        steps: args.steps,
        batch_size: args.batch,
        learning_rate: args.lr,
        warmup_steps: args.warmup,
        seed: args.seed,
        condition_frames: args.condition_frames,
        checkpoint_every: Some(args.every.max(1)),
        out_dir: Some(args.out.clone()),
        max_seconds: args.minutes.map(|m| m * 60.0),
        ..ArTrainOptions::default()
    };
    let mut trainer = ArTrainer::new(model, options)?;
    let checkpoint = args.out.join(AR_CHECKPOINT_FILE);
    if args.resume {
        trainer.resume(&checkpoint)?;
        eprintln!(
            "resumed from {} at step {}",
            checkpoint.display(),
            trainer.step
        );
    }
    let (progress, mut report) = step_progress(args.steps, trainer.step, args.log_every)?;
    let summary = trainer.run(&set, &mut report)?;
    progress.finish_and_clear();

    // Export: the transformer in the reference format (LoRA merged), the action projection,
    // the settings.
    let model = trainer.into_model();
    let model = if lora_config.is_some() {
        merge_lora(model)
    } else {
        model
    };
    let exported = export_checkpoint(&model.model, &args.out.join("model"), DType::F32)?;
    if let Some(projection) = &model.action_projection {
        write_safetensors(
            &args.out.join("action_projection.safetensors"),
            &module_tensors(projection, ""),
            Default::default(),
            DType::F32,
        )?;
    }
    ArRunInfo {
        action_dim_per_latent_frame: model.action_dim(),
        latent_shape: set.latent_shape,
        condition_latent_frames: args.condition_frames,
        lora: lora_config,
        steps: summary.steps,
        final_loss: summary.final_loss,
    }
    .save(&args.out.join("posttrain.json"))?;
    let with_actions = if model.action_projection.is_some() {
        format!(
            " --actions ACTIONS.json --action-projection {}",
            args.out.join("action_projection.safetensors").display()
        )
    } else {
        String::new()
    };
    println!(
        "trained {} steps in {:.0} s, loss {:.4} → {:.4}; wrote {} (cosmos generate-ar --model {} --checkpoint {}{with_actions})",
        summary.steps,
        summary.seconds,
        summary.first_loss,
        summary.final_loss,
        args.out.display(),
        args.out.join("model").join("config.json").display(),
        exported.display()
    );
    Ok(())
}
