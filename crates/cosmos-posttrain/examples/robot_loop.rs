//! A planner driving the world model step by step, as a robotics stack would.
//!
//! The real system is the built-in physics world; the world model is the planner's imagination.
//! Every step the planner observes the last frames of the real world, asks the model to imagine
//! the next frames under each candidate action (one batched call for all candidates), picks the
//! action whose imagined future brings the controlled ball closest to a target column, applies
//! it to the real world and observes the result. At the end it compares the ball's distance to
//! the target with a run in which nothing is pushed.
//!
//! ```sh
//! cargo run --release -p cosmos-posttrain --example robot_loop -- --steps 6 --target-x 48
//! ```
//! The last line is `planned_distance_px=<d> idle_distance_px=<d0> steps=<n> seconds=<s>
//! batch_frames_per_s=<f> rollout_frames_per_s=<f>`: the rollout speed, imagined frames per
//! second with all candidates in one batch, and for one plan of 12 frames alone.

use std::time::Instant;

use burn::tensor::Device;
use cosmos_posttrain::metrics::ball_positions;
use cosmos_posttrain::world::{Action, Direction, VALIDATION_SEEDS, World};
use cosmos_posttrain::world_model::{CONTEXT_FRAMES, WorldModel};
use ndarray::{Array4, Axis};

struct Options {
    steps: usize,
    target_x: f32,
    ball: usize,
    seed: u64,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        steps: 6,
        target_x: 48.0,
        ball: 0,
        seed: VALIDATION_SEEDS.start + 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--steps" => o.steps = value()?.parse().map_err(|e| format!("--steps: {e}"))?,
            "--target-x" => {
                o.target_x = value()?.parse().map_err(|e| format!("--target-x: {e}"))?
            }
            "--ball" => o.ball = value()?.parse().map_err(|e| format!("--ball: {e}"))?,
            "--seed" => o.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--help" | "-h" => {
                println!(
                    "robot_loop [--steps N] [--target-x PX] [--ball I] [--seed S]: plan pushes \
                     with the world model to bring ball I to column PX"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// Runs the real world for `frames` frames with no action, recording them.
fn observe(world: &mut World, frames: usize) -> Array4<u8> {
    let views: Vec<_> = (0..frames)
        .map(|_| {
            let f = world.render();
            world.step(&Action::none());
            f
        })
        .collect();
    let v: Vec<_> = views.iter().map(|f| f.view()).collect();
    ndarray::stack(Axis(0), &v).expect("frames of one size")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = parse()?;
    let device = Device::flex();
    let model = WorldModel::load_shipped(&device)?;
    let world_config = model.config.world.clone();
    if o.ball >= world_config.balls {
        return Err(format!(
            "--ball {} but the world has {} balls",
            o.ball, world_config.balls
        )
        .into());
    }
    let dim = Action::dim(world_config.balls);
    let mut candidates: Vec<Vec<f32>> = vec![Action::none().to_vector(world_config.balls)];
    for d in [
        Direction::Left,
        Direction::Right,
        Direction::Up,
        Direction::Down,
    ] {
        candidates.push(Action::push(o.ball, d, world_config.push).to_vector(world_config.balls));
    }

    let mut real = World::new(&world_config, o.seed);
    let mut idle = real.clone();
    let context = observe(&mut real, CONTEXT_FRAMES);
    observe(&mut idle, CONTEXT_FRAMES);
    let mut sim = model.simulator(context.view())?;
    let per_step = sim.frames_per_step();
    let start = Instant::now();
    let mut imagining = 0.0f64;
    for step in 0..o.steps {
        // Imagine one step under every candidate (one batched call), score by the ball's
        // predicted distance to the target at the step's last frame.
        let t = Instant::now();
        let futures = sim.imagine(
            &candidates
                .iter()
                .map(|a| vec![a.clone()])
                .collect::<Vec<_>>(),
        )?;
        imagining += t.elapsed().as_secs_f64();
        let score = |f: &Array4<u8>| {
            ball_positions(f.index_axis(Axis(0), per_step - 1), &world_config)[o.ball]
                .map(|[x, _]| (x - o.target_x).abs())
                .unwrap_or(f32::INFINITY)
        };
        let (best, _) = futures.iter().enumerate().map(|(i, f)| (i, score(f))).fold(
            (0, f32::INFINITY),
            |acc, (i, s)| if s < acc.1 { (i, s) } else { acc },
        );
        let action = &candidates[best];
        // Apply it to the real world: the push at the first frame, nothing after.
        let mut frames = Vec::with_capacity(per_step);
        for k in 0..per_step {
            let a = if k == 0 {
                decode(action, world_config.balls, dim)
            } else {
                Action::none()
            };
            real.step(&a);
            idle.step(&Action::none());
            frames.push(real.render());
        }
        // Closed loop: the simulator's context follows what was observed, not its prediction.
        let observed: Vec<_> = frames.iter().map(|f| f.view()).collect();
        let observed = ndarray::stack(Axis(0), &observed)?;
        let mut applied = vec![vec![0.0; dim]; per_step];
        applied[0] = action.clone();
        sim.observe(observed.view(), &applied)?;
        let x = real.positions()[o.ball][0];
        println!(
            "step {step}: candidate {best} -> ball {} at x = {x:.1} (target {})",
            o.ball, o.target_x
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    let planned = (real.positions()[o.ball][0] - o.target_x).abs();
    let idle_distance = (idle.positions()[o.ball][0] - o.target_x).abs();
    // Rollout speed: the candidates' imagined frames per second of imagining, and one plan of
    // 3 steps (12 frames) rolled out alone.
    let imagined = (o.steps * candidates.len() * per_step) as f64 / imagining.max(1e-9);
    let t = Instant::now();
    let lone = sim.rollout(&vec![vec![0.0; dim]; 3])?;
    let lone = lone.shape()[0] as f64 / t.elapsed().as_secs_f64();
    println!(
        "planned_distance_px={planned:.1} idle_distance_px={idle_distance:.1} steps={} seconds={seconds:.2} \
         batch_frames_per_s={imagined:.1} rollout_frames_per_s={lone:.1}",
        o.steps
    );
    Ok(())
}

/// A candidate vector back to the world's action (one-hot ball, then the impulse).
fn decode(v: &[f32], balls: usize, dim: usize) -> Action {
    debug_assert_eq!(v.len(), dim);
    let ball = (0..balls).find(|&i| v[i] > 0.5).unwrap_or(0);
    Action {
        ball,
        impulse: [v[balls], v[balls + 1]],
    }
}
