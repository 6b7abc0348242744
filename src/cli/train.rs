//! `cosmos train`: post-training.
//!
//! - `cosmos train dit`: fine-tunes a world-model folder (`cosmos world model`) into a new
//!   world-model folder, or a Cosmos DiT (a diffusers folder) with extra per-frame conditioning
//!   (action, camera pose, view index) from zero-initialised projections or a text instruction
//!   through cross-attention, on webdataset shards from `cosmos curate`; full fine-tuning or
//!   LoRA; checkpoints with `--resume`.
//! - `cosmos train ar`: fine-tunes the Cosmos autoregressive model on the discrete video tokens
//!   of curated shards (next-token cross-entropy on the predicted frames), full or LoRA, with
//!   optional per-frame actions through a zero-initialised projection; checkpoints with
//!   `--resume`.
//! - `cosmos train world-tokenizer` / `cosmos train world-model`: reproduce the small world
//!   tokenizer and action-conditioned world model shipped in `cosmos-posttrain`.
//!
//! The recipes themselves are `cosmos_posttrain::recipes` (and `world_model::train_world_model`);
//! this file only turns arguments into them and prints what they report.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cosmos_nn::burn::tensor::Device;
use cosmos_posttrain::conditioning::ConditionKind;
use cosmos_posttrain::lora::LoraConfig;
use cosmos_posttrain::recipes::{
    ArData, ArRecipe, DitBase, DitRecipe, find_shards, post_train_ar, post_train_dit,
    read_prompt_embeddings,
};
use cosmos_posttrain::trainer::{TrainOptions, TrainProgress};
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
    #[arg(long, visible_alias = "data")]
    pub shards: PathBuf,
    /// The base: a world-model folder (`cosmos world model --out DIR`, or an earlier run's
    /// output), a diffusers pipeline folder (transformer/, vae/, text_encoder/) or a
    /// transformer folder (config.json + *.safetensors or model.pt).
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: checkpoint.safetensors while training. A world-model base gives a
    /// world-model folder (config.json, model.safetensors, tokenizer/) for `cosmos generate
    /// --model OUT --actions A.json`; a DiT base gives transformer/ (diffusers format, LoRA
    /// merged) and conditioner.safetensors. Both write posttrain.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Extra conditioning (repeat or comma-separate): action, camera, view, text. A world
    /// model is conditioned on actions already (give `action` or nothing).
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
    /// Frames per training clip (1 + k·n for temporal compression k; default 17, a world
    /// model: its window, 9 for the shipped one).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Frame width after resizing (default 64; a world model: its own).
    #[arg(long)]
    pub width: Option<u32>,
    /// Frame height after resizing (default 64; a world model: its own).
    #[arg(long)]
    pub height: Option<u32>,
    /// Keep one decoded frame in N.
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// Cut each clip into windows of --frames frames starting every N frames (default: a
    /// world model every 4, a DiT the first window only).
    #[arg(long)]
    pub window_step: Option<usize>,
    /// Latent frames that condition (Video2World; no loss on them; default 1, a world model 2).
    #[arg(long)]
    pub condition_frames: Option<usize>,
    /// Frame rate given to RoPE (default 24; a world model: its own).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Mean of ln σ during training (default 0; a world model 3.4, as it was trained).
    #[arg(long)]
    pub p_mean: Option<f64>,
    /// Standard deviation of ln σ (default 1.2; a world model 0.3).
    #[arg(long)]
    pub p_std: Option<f64>,
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
    /// Also train on the --init model's own rollouts, this many windows deep (0: none): later
    /// windows learn from the context a rollout gives them, not only from simulator frames.
    #[arg(long, default_value_t = 0)]
    pub rollout_levels: usize,
    /// Cache of those rollout samples (reused when it matches; delete it for another --init).
    #[arg(long)]
    pub rollout_cache: Option<PathBuf>,
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
        TrainCommand::WorldTokenizer(a) => train_tokenizer(a, device),
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

fn train_dit(args: &DitArgs, device: &Device) -> Result<(), BoxError> {
    let conditions = args
        .condition
        .iter()
        .map(|c| c.parse::<ConditionKind>())
        .collect::<Result<Vec<_>, _>>()?;
    let size = (args.width.is_some() || args.height.is_some())
        .then(|| (args.width.unwrap_or(64), args.height.unwrap_or(64)));
    let recipe = DitRecipe {
        conditions,
        lora: lora_config(args.lora, args.lora_alpha),
        steps: args.steps,
        batch_size: args.batch,
        learning_rate: args.lr,
        warmup_steps: args.warmup,
        seed: args.seed,
        checkpoint_every: args.every,
        motion_weight: args.motion_weight,
        p_mean: args.p_mean,
        p_std: args.p_std,
        resume: args.resume,
        tokenizer: args.tokenizer.clone(),
        frames: args.frames,
        size,
        stride: args.stride,
        window_step: args.window_step,
        condition_frames: args.condition_frames,
        fps: args.fps,
        action_field: args.action_field.clone(),
        camera_field: args.camera_field.clone(),
        view_field: args.view_field.clone(),
        views: args.views,
        cache: args.cache.clone(),
        ..DitRecipe::new(
            find_shards(&args.shards)?,
            args.model.clone(),
            args.out.clone(),
        )
    };
    let (progress, mut report) = step_progress(args.steps, 0, args.log_every)?;
    let log_bar = progress.clone();
    let done = post_train_dit(
        &recipe,
        device,
        &mut |line| log_bar.suspend(|| eprintln!("{line}")),
        &mut report,
    )?;
    progress.finish_and_clear();
    let s = &done.summary;
    let what = match done.base {
        DitBase::WorldModel => format!(
            "a world-model folder: cosmos generate --model {} --input-video CONTEXT.mp4 --actions PLAN.json",
            done.out.display()
        ),
        DitBase::Dit => "transformer/, conditioner.safetensors".to_string(),
    };
    println!(
        "trained {} steps on {} samples in {:.0} s, loss {:.4} → {:.4}; wrote {} ({what})",
        s.steps,
        done.samples,
        s.seconds,
        s.first_loss,
        s.final_loss,
        done.out.display()
    );
    Ok(())
}

fn lora_config(rank: Option<usize>, alpha: Option<f64>) -> Option<LoraConfig> {
    rank.map(|rank| LoraConfig {
        alpha: alpha.unwrap_or(rank as f64),
        ..LoraConfig::new(rank)
    })
}

fn train_tokenizer(args: &WorldTokenizerArgs, device: &Device) -> Result<(), BoxError> {
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
    let report = train_world_tokenizer(&options, device, &mut |p| {
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
        rollout_levels: args.rollout_levels,
        rollout_cache: args.rollout_cache.clone(),
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

fn train_ar(args: &ArArgs, device: &Device) -> Result<(), BoxError> {
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
    let config = base.config();
    eprintln!(
        "AR model: {} layers, dim {}, vocabulary {}, grid {:?}, from {}",
        config.n_layers,
        config.dim,
        config.vocab_size,
        config.video_latent_shape,
        checkpoint_path.display()
    );
    let data = match (&args.tokens, &args.shards) {
        (Some(path), _) => ArData::Tokens(path.clone()),
        (None, Some(dir)) => ArData::Shards {
            shards: find_shards(dir)?,
            tokenizer: args
                .tokenizer
                .clone()
                .ok_or("--shards needs --tokenizer (the discrete video tokenizer)")?,
        },
        (None, None) => return Err("give --shards (with --tokenizer) or --tokens".into()),
    };
    let recipe = ArRecipe {
        data,
        out: args.out.clone(),
        actions,
        lora: lora_config(args.lora, args.lora_alpha),
        steps: args.steps,
        batch_size: args.batch,
        learning_rate: args.lr,
        warmup_steps: args.warmup,
        max_seconds: args.minutes.map(|m| m * 60.0),
        seed: args.seed,
        resume: args.resume,
        checkpoint_every: args.every,
        condition_frames: args.condition_frames,
        stride: args.stride,
        action_field: args.action_field.clone(),
        prompt_embeddings: args
            .prompt_embeddings
            .as_deref()
            .map(read_prompt_embeddings)
            .transpose()?,
        cache: args.cache.clone(),
    };
    let (progress, mut report) = step_progress(args.steps, 0, args.log_every)?;
    let log_bar = progress.clone();
    let done = post_train_ar(
        base,
        &recipe,
        device,
        &mut |line| log_bar.suspend(|| eprintln!("{line}")),
        &mut report,
    )?;
    progress.finish_and_clear();
    let with_actions = match &done.action_projection {
        Some(p) => format!(
            " --actions ACTIONS.json --action-projection {}",
            p.display()
        ),
        None => String::new(),
    };
    let s = &done.summary;
    println!(
        "trained {} steps in {:.0} s, loss {:.4} → {:.4}; wrote {} (cosmos generate-ar --model {} --checkpoint {}{with_actions})",
        s.steps,
        s.seconds,
        s.first_loss,
        s.final_loss,
        args.out.display(),
        done.config.display(),
        done.checkpoint.display()
    );
    Ok(())
}
