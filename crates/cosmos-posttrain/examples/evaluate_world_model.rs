//! Scores a world model the way `weights/README.md` reports it: held-out PSNR against the
//! copy-last-frame baseline, the left/right push check, the pushed-ball rollouts of
//! `tests/evaluation.rs` and the demo's episode.
//!
//! ```text
//! cargo run --release -p cosmos-posttrain --example evaluate_world_model -- \
//!     [--model DIR] [--keep N] [--steps N] [--cases N]
//! ```
//!
//! `--model DIR`: a folder written by `train_world_model` (default: the shipped model);
//! `--keep N`: frames kept per window when rolling forward (a multiple of 4; default: the
//! model's `rollout_keep_frames`); `--steps N`: Euler steps (default 1); `--cases N`: pushed
//! episodes in the rollout check (default 3, as the test; each pushed left and right).

// The crate's error enum is large (it wraps every layer's errors); an example returns it once.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use burn::tensor::Device;
use cosmos_posttrain::metrics::{RolloutEvaluation, evaluate_rollout, informative_pushes, mean};
use cosmos_posttrain::world::{Action, Direction, VALIDATION_SEEDS};
use cosmos_posttrain::world_model::{WorldModel, action_response, evaluate};

fn main() {
    let mut dir: Option<PathBuf> = None;
    let mut keep: Option<usize> = None;
    let mut steps = 1usize;
    let mut cases = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let ok = match flag.as_str() {
            "--model" => value.map(|v| dir = Some(v.into())).is_some(),
            "--keep" => value
                .and_then(|v| v.parse().ok())
                .map(|v| keep = Some(v))
                .is_some(),
            "--steps" => value
                .and_then(|v| v.parse().ok())
                .map(|v| steps = v)
                .is_some(),
            "--cases" => value
                .and_then(|v| v.parse().ok())
                .map(|v| cases = v)
                .is_some(),
            _ => false,
        };
        if !ok {
            eprintln!(
                "usage: evaluate_world_model [--model DIR] [--keep N] [--steps N] [--cases N]"
            );
            std::process::exit(2);
        }
    }
    if let Err(e) = run(dir, keep, steps, cases) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(
    dir: Option<PathBuf>,
    keep: Option<usize>,
    steps: usize,
    wanted: usize,
) -> cosmos_posttrain::Result<()> {
    let device = Device::flex();
    let mut model = match &dir {
        Some(dir) => WorldModel::load(dir, &device)?,
        None => WorldModel::load_shipped(&device)?,
    };
    if keep.is_some() {
        model.config.rollout_keep_frames = keep;
        model.config.validate()?;
    }
    let world = model.config.world.clone();
    println!(
        "model {}: window of {} frames, {} kept per window, {steps} Euler step(s)",
        dir.as_ref()
            .map_or("shipped".into(), |d| d.display().to_string()),
        model.config.window_frames(),
        model.config.keep_frames()
    );

    let seeds = VALIDATION_SEEDS.start..VALIDATION_SEEDS.start + 16;
    let e = evaluate(&model, seeds, steps)?;
    println!(
        "held-out (16 episodes): PSNR model {:.2} dB, copy-last {:.2} dB, tokenizer ceiling {:.2} dB; {:.2} s per prediction",
        e.psnr_model_db, e.psnr_copy_last_db, e.psnr_tokenizer_db, e.seconds_per_prediction
    );

    // Ball 0 pushed left vs right in 8 held-out episodes; informative where the simulator
    // separates the two by more than 2 px.
    let (mut follows, mut informative, mut informative_follows) = (0, 0, 0);
    for i in 0..8 {
        let r = action_response(&model, VALIDATION_SEEDS.start + 500 + i, 0, steps)?;
        let ok = r.follows_the_simulator();
        follows += ok as usize;
        if (r.true_right_x - r.true_left_x).abs() > 2.0 {
            informative += 1;
            informative_follows += ok as usize;
        }
    }
    println!(
        "push left/right order: {follows}/8 follow the simulator ({informative_follows} of the {informative} informative)"
    );

    // The rollouts of tests/evaluation.rs: the first held-out episodes where left vs right
    // ends more than 8 px apart, each pushed both ways.
    let cases = informative_pushes(&world, wanted, 8.0);
    let mut rollouts: Vec<RolloutEvaluation> = Vec::new();
    for &(seed, ball) in &cases {
        for direction in [Direction::Left, Direction::Right] {
            let push = Action::push(ball, direction, world.push);
            rollouts.push(evaluate_rollout(&world, seed, push, &mut |c, a| {
                model.predict(c, a, 0, steps)
            })?);
        }
    }
    let psnr: Vec<f64> = rollouts.iter().map(|r| r.mean_psnr_model_db()).collect();
    let copy: Vec<f64> = rollouts
        .iter()
        .map(|r| r.mean_psnr_copy_last_db())
        .collect();
    let error: Vec<f64> = rollouts
        .iter()
        .map(|r| r.action_error_px() as f64)
        .collect();
    let copy_error: Vec<f64> = rollouts
        .iter()
        .map(|r| r.copy_last_error_px() as f64)
        .collect();
    let last = rollouts
        .iter()
        .filter(|r| r.x_displacement().0.is_some())
        .count();
    println!(
        "rollouts ({}): PSNR model {:.2} dB, copy-last {:.2} dB; pushed-ball error {:.2} px, copy-last {:.2} px; ball found in the last frame of {last}",
        rollouts.len(),
        mean(&psnr),
        mean(&copy),
        mean(&error),
        mean(&copy_error)
    );
    // Per pair at the last frame: both balls found, and separated the simulator's way by at
    // least half its separation.
    let (mut found_both, mut separated) = (0, 0);
    for pair in rollouts.chunks(2) {
        let (l, r) = (&pair[0], &pair[1]);
        if let ((Some(pl), tl), (Some(pr), tr)) = (l.x_displacement(), r.x_displacement()) {
            found_both += 1;
            separated += (pr - pl >= 0.5 * (tr - tl)) as usize;
        }
        if wanted > 3 {
            continue;
        }
        let show = |d: Option<f32>| d.map_or("lost".into(), |d| format!("{d:+.1}"));
        println!(
            "  last-frame dx: left {} (simulator {:+.1}), right {} (simulator {:+.1})",
            show(l.x_displacement().0),
            l.x_displacement().1,
            show(r.x_displacement().0),
            r.x_displacement().1
        );
    }

    println!(
        "  pairs with the ball in both last frames: {found_both} of {}; separated the simulator's way: {separated}",
        rollouts.len() / 2
    );

    // `cosmos demo`'s defaults: episode 2, ball 1 pushed right, noise seed 0.
    let push = Action::push(1, Direction::Right, world.push);
    let demo = evaluate_rollout(&world, VALIDATION_SEEDS.start + 2, push, &mut |c, a| {
        model.predict(c, a, 0, steps)
    })?;
    println!(
        "demo: psnr_model_db={:.2} psnr_copy_last_db={:.2} action_error_px={:.2}",
        demo.mean_psnr_model_db(),
        demo.mean_psnr_copy_last_db(),
        demo.action_error_px()
    );
    Ok(())
}
