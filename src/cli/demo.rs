//! `cosmos demo`: the embedded world model at work, with nothing to download. A held-out
//! episode of the built-in physics world, a push of one ball, the world model's prediction of
//! what follows, scored against the simulator and against copying the last frame, written as
//! a side-by-side video and GIF that went through the guardrail.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use cosmos_guardrail::{FacePixelator, Guardrail, Mtcnn};
use cosmos_media::{ResizeFilter, Video, WriteOptions, resize_frames, side_by_side, write_video};
use cosmos_nn::burn::tensor::Device;
use cosmos_posttrain::metrics::{
    CLIP_FRAMES, CONTEXT_FRAMES, RolloutEvaluation, distance_px, evaluate_rollout,
};
use cosmos_posttrain::plot::{BLUE, Legend, ORANGE, Panel, RED, Series, Style};
use cosmos_posttrain::world::{Action, Direction, VALIDATION_SEEDS};
use cosmos_posttrain::world_model::WorldModel;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array4, Axis, concatenate, s};

const DEMO_HELP: &str = "\
The world: balls under gravity bouncing off the walls and off each other, rendered at 64x64.
The world model (a small continuous video tokenizer and an action-conditioned Cosmos DiT,
both trained on this machine's CPU and shipped inside the binary) sees the first 5 frames of a
held-out episode and the action, a push of one ball, applied between frame 4 and frame 5, and
predicts frames 5-16, four at a time (each window of 4 frames conditioned on the latest 5
frames, given or predicted). The simulator plays the same episode with the same push for the ground
truth; the baseline copies frame 4.

Writes DIR/demo.mp4 and DIR/demo.gif: ground truth | prediction | copy-last, 4x enlarged (the
first 5 frames are the shared context). Both went through the guardrail's post-guard (face
pixelation with the shipped MTCNN) first. DIR/demo_metrics.png plots the pushed ball's position
error and the PSNR of every predicted frame, model against copy-last.

Prints the PSNR of every predicted frame for the model and the baseline, and the pushed ball's
position error (found by colour in the prediction, against the simulator). The last line is
    psnr_model_db=<x> psnr_copy_last_db=<y> action_error_px=<z>
(means over the 12 predicted frames).

Exit status: 0 done, 2 error.";

/// Push directions on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Push {
    /// Towards −x.
    Left,
    /// Towards +x.
    Right,
    /// Against gravity.
    Up,
    /// With gravity.
    Down,
    /// No push.
    None,
}

/// Arguments of `cosmos demo`.
#[derive(Args, Debug)]
#[command(after_long_help = DEMO_HELP)]
pub struct DemoArgs {
    /// Held-out episode (index into the validation seeds; episode 2 has the green ball free to
    /// move either way).
    #[arg(long, default_value_t = 2)]
    pub episode: u64,
    /// The push applied after the context.
    #[arg(long, value_enum, default_value = "right")]
    pub push: Push,
    /// The pushed ball (0 red, 1 green, 2 blue).
    #[arg(long, default_value_t = 1)]
    pub ball: usize,
    /// Output folder.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Sampling steps of the world model (1: the high-noise denoiser output, the conditional
    /// mean, which scores best on PSNR).
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use the world model in this folder (`config.json` + `model.safetensors`, as `cosmos
    /// train` writes it) with the shipped tokenizer, instead of the shipped model.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

type BoxError = Box<dyn std::error::Error>;

/// Enlargement of the written clips.
const SCALE: usize = 4;
/// Frames per second of the written clips.
const FPS: f64 = 8.0;
/// Columns between the panels (at 64x64).
const GAP: usize = 2;
/// The per-frame plot beside the GIF.
const PLOT_FILE: &str = "demo_metrics.png";

fn bar(steps: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message.to_string());
    bar
}

/// Runs `cosmos demo`.
pub fn run(args: &DemoArgs, device: &Device) -> Result<(), BoxError> {
    let start = Instant::now();
    let span = VALIDATION_SEEDS.end - VALIDATION_SEEDS.start;
    if args.episode >= span {
        return Err(format!("--episode must be below {span}, found {}", args.episode).into());
    }
    if args.steps == 0 {
        return Err("--steps must be at least 1".into());
    }
    let progress = bar(5, "loading the world model");
    let model = match &args.model {
        Some(dir) => WorldModel::load(dir, device)?,
        None => WorldModel::load_shipped(device)?,
    };
    let world = model.config.world.clone();
    if args.ball >= world.balls {
        return Err(format!(
            "--ball must be below {} (the world has {} balls), found {}",
            world.balls, world.balls, args.ball
        )
        .into());
    }
    progress.inc(1);
    let push = match args.push {
        Push::Left => Action::push(args.ball, Direction::Left, world.push),
        Push::Right => Action::push(args.ball, Direction::Right, world.push),
        Push::Up => Action::push(args.ball, Direction::Up, world.push),
        Push::Down => Action::push(args.ball, Direction::Down, world.push),
        Push::None => Action {
            ball: args.ball,
            impulse: [0.0, 0.0],
        },
    };
    let seed = VALIDATION_SEEDS.start + args.episode;
    progress.set_message("predicting");
    let predict_start = Instant::now();
    // The crate's error type is large; it is returned once, at the end.
    #[allow(clippy::result_large_err)]
    let eval = evaluate_rollout(&world, seed, push, &mut |context, actions| {
        model.predict(context, actions, args.seed, args.steps)
    })?;
    let predict_s = predict_start.elapsed().as_secs_f64();
    progress.inc(1);

    progress.set_message("guardrail");
    let mut frames = composite(&eval)?;
    let guardrail =
        Guardrail::new().with_postprocessor(FacePixelator::new(Mtcnn::bundled(device)?));
    let outcome = guardrail.guard_frames(&mut frames, Some(FPS))?;
    progress.inc(1);
    if !outcome.verdict.is_safe() {
        progress.finish_and_clear();
        return Err(format!("the guardrail refused the output: {}", outcome.verdict).into());
    }

    progress.set_message("writing");
    std::fs::create_dir_all(&args.out)?;
    let (h, w) = (frames.shape()[1], frames.shape()[2]);
    let large = resize_frames(frames.view(), w * SCALE, h * SCALE, ResizeFilter::Nearest)?;
    let mp4 = args.out.join("demo.mp4");
    write_video(
        &mp4,
        &Video::new(large.clone(), FPS)?,
        &WriteOptions::default(),
    )?;
    progress.inc(1);
    let gif = args.out.join("demo.gif");
    write_gif(&gif, &large, FPS)?;
    let plot = args.out.join(PLOT_FILE);
    cosmos_posttrain::plot::write_png(&plot, &plot_panels(&eval), 1000, 380)?;
    progress.inc(1);
    progress.finish_and_clear();

    println!(
        "episode {} (seed {seed}), push {:?} on ball {} after frame {}; prediction of frames {}-{} in {predict_s:.1}s ({} steps)",
        args.episode,
        args.push,
        push.ball,
        CONTEXT_FRAMES - 1,
        CONTEXT_FRAMES,
        CLIP_FRAMES - 1,
        args.steps
    );
    for (i, (model_db, copy_db)) in eval
        .psnr_model_db
        .iter()
        .zip(&eval.psnr_copy_last_db)
        .enumerate()
    {
        let found = match eval.predicted_positions[i] {
            Some([x, y]) => format!("({x:5.1}, {y:5.1})"),
            None => "not found   ".into(),
        };
        let [tx, ty] = eval.true_positions[i];
        println!(
            "frame {:2}: psnr model {model_db:5.2} dB  copy-last {copy_db:5.2} dB  ball {} predicted {found} true ({tx:5.1}, {ty:5.1})  error {:4.1} px",
            CONTEXT_FRAMES + i,
            eval.ball,
            eval.position_error_px[i]
        );
    }
    let (predicted_dx, true_dx) = eval.x_displacement();
    println!(
        "ball {} moved {} px in x over the prediction (simulator: {true_dx:+.1} px)",
        eval.ball,
        predicted_dx.map_or("?".into(), |d| format!("{d:+.1}"))
    );
    let faces: usize = outcome.reports.iter().map(|(_, r)| r.count()).sum();
    println!(
        "guardrail: post-guard {} ({faces} face regions pixelated; no video safety classifier is shipped)",
        outcome
            .reports
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "wrote {} and {} (ground truth | prediction | copy-last) and {} (per-frame error and PSNR) in {:.1}s",
        display(&mp4),
        display(&gif),
        display(&plot),
        start.elapsed().as_secs_f64()
    );
    println!(
        "psnr_model_db={:.2} psnr_copy_last_db={:.2} action_error_px={:.2}",
        eval.mean_psnr_model_db(),
        eval.mean_psnr_copy_last_db(),
        eval.action_error_px()
    );
    Ok(())
}

/// The two charts of `demo_metrics.png`: the pushed ball's position error and the PSNR of every
/// predicted frame, model against copy-last.
fn plot_panels(eval: &RolloutEvaluation) -> Vec<Panel> {
    let frame = |i: usize| (CONTEXT_FRAMES + i) as f64;
    let model_error: Vec<(f64, f64)> = eval
        .position_error_px
        .iter()
        .enumerate()
        .map(|(i, &e)| (frame(i), f64::from(e)))
        .collect();
    let copy_error: Vec<(f64, f64)> = eval
        .true_positions
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            (
                frame(i),
                f64::from(distance_px(t, eval.last_context_position)),
            )
        })
        .collect();
    let lost: Vec<(f64, f64)> = eval
        .predicted_positions
        .iter()
        .zip(&model_error)
        .filter(|(p, _)| p.is_none())
        .map(|(_, &point)| point)
        .collect();
    let mut error_series = vec![
        Series::new("copy-last", ORANGE, Style::LineAndDots, copy_error),
        Series::new("model", BLUE, Style::LineAndDots, model_error),
    ];
    if !lost.is_empty() {
        error_series.push(Series::new(
            "model: ball not found",
            RED,
            Style::Crosses,
            lost,
        ));
    }
    let psnr = |values: &[f64]| -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (frame(i), v))
            .collect()
    };
    vec![
        Panel {
            title: format!(
                "{} ball error: model {:.1} px, copy-last {:.1} px",
                ["red", "green", "blue", "yellow"][eval.ball % 4], // world::PALETTE's order
                eval.action_error_px(),
                eval.copy_last_error_px()
            ),
            x_label: "frame".into(),
            y_label: "px".into(),
            series: error_series,
            log_y: false,
            weight: 1,
            legend: Legend::LowerRight,
        },
        Panel {
            title: format!(
                "PSNR: model {:.2} dB, copy-last {:.2} dB",
                eval.mean_psnr_model_db(),
                eval.mean_psnr_copy_last_db()
            ),
            x_label: "frame".into(),
            y_label: "dB".into(),
            series: vec![
                Series::new(
                    "copy-last",
                    ORANGE,
                    Style::LineAndDots,
                    psnr(&eval.psnr_copy_last_db),
                ),
                Series::new("model", BLUE, Style::LineAndDots, psnr(&eval.psnr_model_db)),
            ],
            log_y: false,
            weight: 1,
            legend: Legend::UpperRight,
        },
    ]
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Ground truth | prediction | copy-last for all 17 frames (the context is shared), at 64x64
/// per panel; a thin white bar over the prediction panel marks the predicted frames.
fn composite(eval: &RolloutEvaluation) -> Result<Array4<u8>, BoxError> {
    let context = eval.truth.slice(s![..CONTEXT_FRAMES, .., .., ..]);
    let predicted = concatenate(Axis(0), &[context, eval.predicted.view()])?;
    let copied = concatenate(Axis(0), &[context, eval.copy_last.view()])?;
    let mut predicted = predicted;
    for t in CONTEXT_FRAMES..predicted.shape()[0] {
        let width = predicted.shape()[2];
        for x in 0..width {
            for c in 0..3 {
                predicted[[t, 0, x, c]] = 255;
            }
        }
    }
    let videos = [
        Video::new(eval.truth.clone(), FPS)?,
        Video::new(predicted, FPS)?,
        Video::new(copied, FPS)?,
    ];
    let refs: Vec<&Video> = videos.iter().collect();
    Ok(side_by_side(&refs, GAP, [90, 90, 90])?.frames)
}

/// An endlessly looping GIF of `[T, H, W, 3]` frames.
fn write_gif(path: &Path, frames: &Array4<u8>, fps: f64) -> Result<(), BoxError> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame, RgbaImage};
    let file = std::fs::File::create(path)?;
    let mut encoder = GifEncoder::new_with_speed(std::io::BufWriter::new(file), 10);
    encoder.set_repeat(Repeat::Infinite)?;
    let (h, w) = (frames.shape()[1], frames.shape()[2]);
    let delay = Delay::from_numer_denom_ms((1000.0 / fps).round() as u32, 1);
    for frame in frames.outer_iter() {
        let mut rgba = Vec::with_capacity(h * w * 4);
        for pixel in frame
            .to_owned()
            .into_shape_with_order((h * w, 3))?
            .outer_iter()
        {
            rgba.extend_from_slice(&[pixel[0], pixel[1], pixel[2], 255]);
        }
        let image = RgbaImage::from_raw(w as u32, h as u32, rgba)
            .ok_or("GIF frame buffer has the wrong size")?;
        encoder.encode_frame(Frame::from_parts(image, 0, 0, delay))?;
    }
    Ok(())
}
