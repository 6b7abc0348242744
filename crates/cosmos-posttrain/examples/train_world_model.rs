//! Trains the action-conditioned world model shipped in `weights/world_model/` on the CPU, then
//! evaluates it on held-out episodes.
//!
//! ```text
//! cargo run --release -p cosmos-posttrain --example train_world_model -- \
//!     --episodes 4096 --steps 3000 --batch 8 --minutes 30 \
//!     --cache /tmp/world_latents.safetensors --out crates/cosmos-posttrain/weights/world_model
//! ```
//!
//! Options: `--episodes N`, `--steps N`, `--batch N`, `--lr X`, `--warmup N`, `--seed N`,
//! `--clip X` (gradient-norm clip), `--p-mean X`, `--p-std X` (the log-normal σ distribution),
//! `--motion-weight X` (extra loss weight where the scene moves), `--minutes X` (training time
//! limit), `--stop-after N` (stop after step N, the schedule still spanning `--steps`),
//! `--every N` (checkpoint interval), `--cache FILE`
//! (latent cache), `--out DIR`, `--checkpoints DIR` (training checkpoint; default under the
//! temporary folder), `--resume`, `--random-tokenizer` (a random world tokenizer, for
//! trying the loop before the real one exists), `--eval N` (held-out episodes), `--eval-only`,
//! `--sampler-steps N`, `--init DIR` (start from a trained world model: its weights, with any
//! conditioning it lacks, such as the action map, zero-initialised), `--no-action-map` (no
//! spatial push map), `--predicted-latent-frames N` (latent frames one window predicts, 1–3;
//! default 3), `--rollout-levels N` (also train on the `--init` model's own rollouts, N windows
//! deep, `world_model::rollout_samples`), `--rollout-cache FILE` (their cache).

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use cosmos_posttrain::tokenizer_train::{load_world_tokenizer, world_tokenizer_config};
use cosmos_posttrain::trainer::TrainOptions;
use cosmos_posttrain::world::{VALIDATION_SEEDS, WorldConfig};
use cosmos_posttrain::world_model::{
    WorldModel, WorldModelTrainOptions, action_response, evaluate, train_world_model,
};
use cosmos_tokenizer::Tokenizer;

mod common;
use common::parse;

fn main() {
    let mut options = WorldModelTrainOptions {
        episodes: 4096,
        world: WorldConfig::default(),
        train: TrainOptions {
            steps: 3000,
            batch_size: 8,
            learning_rate: 4e-4,
            warmup_steps: 100,
            checkpoint_every: Some(250),
            p_mean: 0.5,
            p_std: 1.5,
            ..TrainOptions::default()
        },
        cache: None,
        out_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/world_model")),
        max_seconds: None,
        stop_after: None,
        resume: false,
        checkpoint_dir: Some(std::env::temp_dir().join("cosmos-world-model-training")),
        init_from: None,
        action_map: true,
        predicted_latent_frames: 3,
        rollout_levels: 0,
        rollout_cache: None,
    };
    let mut random_tokenizer = false;
    let mut eval_episodes = 32usize;
    let mut eval_only = false;
    let mut sampler_steps = 15usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--episodes" => options.episodes = parse(&flag, args.next()),
            "--steps" => options.train.steps = parse(&flag, args.next()),
            "--batch" => options.train.batch_size = parse(&flag, args.next()),
            "--lr" => options.train.learning_rate = parse(&flag, args.next()),
            "--warmup" => options.train.warmup_steps = parse(&flag, args.next()),
            "--seed" => options.train.seed = parse(&flag, args.next()),
            "--clip" => options.train.grad_clip = Some(parse(&flag, args.next())),
            "--p-mean" => options.train.p_mean = parse(&flag, args.next()),
            "--p-std" => options.train.p_std = parse(&flag, args.next()),
            "--motion-weight" => options.train.motion_weight = parse(&flag, args.next()),
            "--every" => options.train.checkpoint_every = Some(parse(&flag, args.next())),
            "--minutes" => options.max_seconds = Some(parse::<f64>(&flag, args.next()) * 60.0),
            "--stop-after" => options.stop_after = Some(parse(&flag, args.next())),
            "--cache" => options.cache = Some(parse(&flag, args.next())),
            "--out" => options.out_dir = parse(&flag, args.next()),
            "--resume" => options.resume = true,
            "--init" => options.init_from = Some(parse(&flag, args.next())),
            "--no-action-map" => options.action_map = false,
            "--predicted-latent-frames" => {
                options.predicted_latent_frames = parse(&flag, args.next())
            }
            "--rollout-levels" => options.rollout_levels = parse(&flag, args.next()),
            "--rollout-cache" => options.rollout_cache = Some(parse(&flag, args.next())),
            "--checkpoints" => options.checkpoint_dir = Some(parse(&flag, args.next())),
            "--random-tokenizer" => random_tokenizer = true,
            "--eval" => eval_episodes = parse(&flag, args.next()),
            "--eval-only" => eval_only = true,
            "--sampler-steps" => sampler_steps = parse(&flag, args.next()),
            "--help" | "-h" => {
                println!(
                    "train_world_model [--episodes N] [--steps N] [--batch N] [--lr X] [--warmup N] \
                     [--seed N] [--clip X] [--p-mean X] [--p-std X] [--motion-weight X] [--minutes X] [--stop-after N] [--every N] [--cache FILE] [--out DIR] [--checkpoints DIR] [--resume] [--init DIR] [--no-action-map] [--predicted-latent-frames N] [--rollout-levels N] [--rollout-cache FILE] \
                     [--random-tokenizer] [--eval N] [--eval-only] [--sampler-steps N]"
                );
                return;
            }
            other => {
                eprintln!("error: unknown option {other} (see --help)");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(
        options,
        random_tokenizer,
        eval_episodes,
        eval_only,
        sampler_steps,
    ) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(
    options: WorldModelTrainOptions,
    random_tokenizer: bool,
    eval_episodes: usize,
    eval_only: bool,
    sampler_steps: usize,
) -> cosmos_posttrain::Result<()> {
    let device = Device::flex();
    let tokenizer = || -> cosmos_posttrain::Result<Tokenizer> {
        if random_tokenizer {
            device.seed(7);
            Ok(Tokenizer::random(world_tokenizer_config(), &device)?)
        } else {
            load_world_tokenizer(&device)
        }
    };
    let model = if eval_only {
        WorldModel::load_with_tokenizer(&options.out_dir, tokenizer()?, &device)?
    } else {
        eprintln!(
            "training the world model: {} episodes, {} steps × {}, lr {}, out {}",
            options.episodes,
            options.train.steps,
            options.train.batch_size,
            options.train.learning_rate,
            options.out_dir.display()
        );
        let (model, summary) = train_world_model(
            tokenizer()?,
            &options,
            &device,
            &mut |line| eprintln!("{line}"),
            &mut |p| {
                if p.step % 10 == 0 || p.step == 1 {
                    eprintln!(
                        "step {}/{} loss {:.4} |g| {:.3} lr {:.2e} {:.0}s",
                        p.step, p.steps, p.loss, p.grad_norm, p.learning_rate, p.elapsed
                    );
                }
            },
        )?;
        eprintln!(
            "trained {} steps in {:.0} s: loss {:.4} (first 50 steps) → {:.4} (last 50)",
            summary.steps, summary.seconds, summary.first_loss, summary.final_loss
        );
        // Evaluate what was shipped (f16 weights), not the f32 copy in memory.
        WorldModel::load_with_tokenizer(&options.out_dir, model.tokenizer, &device)?
    };
    if eval_episodes > 0 {
        let start = Instant::now();
        let seeds = VALIDATION_SEEDS.start..VALIDATION_SEEDS.start + eval_episodes as u64;
        let e = evaluate(&model, seeds, sampler_steps)?;
        eprintln!(
            "held-out ({} episodes, {} Euler steps): PSNR model {:.2} dB, copy-last {:.2} dB, \
             tokenizer ceiling {:.2} dB; {:.2} s per prediction ({:.0} s)",
            e.episodes,
            sampler_steps,
            e.psnr_model_db,
            e.psnr_copy_last_db,
            e.psnr_tokenizer_db,
            e.seconds_per_prediction,
            start.elapsed().as_secs_f64()
        );
        let mut follows = 0;
        let trials = 8;
        for i in 0..trials {
            let seed = VALIDATION_SEEDS.start + 500 + i;
            let r = action_response(&model, seed, 0, sampler_steps)?;
            follows += r.follows_the_simulator() as usize;
            eprintln!(
                "push ball 0, seed {seed}: predicted x left {:?} right {:?}; simulator left {:.1} right {:.1}",
                r.predicted_left_x, r.predicted_right_x, r.true_left_x, r.true_right_x
            );
        }
        eprintln!("action test: {follows}/{trials} follow the simulator");
    }
    Ok(())
}
