//! `cosmos generate`: Text2World and Video2World with the Cosmos-1.0 diffusion model.
//!
//! prompt → T5 → DiT + EDM sampler with classifier-free guidance → latent → video tokenizer
//! decoder → MP4; with `--input-video`, the last frames of that video (or an image) condition
//! the generation. Progress is shown per sampling step.
//!
//! With a world-model folder (`cosmos world model`, `cosmos train world-model`) as `--model`,
//! `--input-video` is the observed context and `--actions` the plan, one action vector per
//! generated frame; the model rolls the future forward window by window. A DiT whose
//! checkpoint holds an action embedder (cosmos-predict1's action-conditioned Video2World) takes
//! `--actions` too: one vector per window, each window conditioned on the previous one's end.

use std::path::{Path, PathBuf};

use clap::Args;
use cosmos_diffusion::pretrained::{ModelPaths, load_pipeline};
use cosmos_diffusion::{GenerationRequest, SamplerConfig, SamplerKind, VideoCondition};
use cosmos_nn::burn::tensor::{Device, Tensor};
use cosmos_nn::video::{video_from_rgb_u8, video_to_rgb_u8};
use cosmos_posttrain::world_model::{CONTEXT_FRAMES, WorldModel};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `cosmos generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// What to generate (not needed by world models without text conditioning).
    #[arg(long)]
    pub prompt: Option<String>,
    /// Actions, a JSON array of action vectors. World-model folder: one per generated frame
    /// (vector k acts between output frame k−1 and k; frame −1 is the input's last frame).
    /// Action-conditioned DiT: one per window.
    #[arg(long)]
    pub actions: Option<PathBuf>,
    /// What to steer away from (classifier-free guidance); without it the unconditional branch
    /// sees no text, as in cosmos-predict1.
    #[arg(long)]
    pub negative_prompt: Option<String>,
    /// Video2World: a video (or a PNG/JPEG image) whose last frames condition the generation;
    /// resized to the output size. Needs a Video2World model.
    #[arg(long)]
    pub input_video: Option<PathBuf>,
    /// Video2World: how many of the input's last frames condition the generation (1 + k·8 for
    /// the CV8x8x8 tokenizer; Cosmos uses 9 for videos and 1 for images). Default: the most
    /// the input has, up to 9.
    #[arg(long)]
    pub condition_frames: Option<usize>,
    /// Model folder: `transformer/`, `text_encoder/`, `tokenizer/spiece.model` and `vae/` (see
    /// docs/diffusion.md), or a Hugging Face repository id of such a pipeline in the local hub
    /// cache (nvidia/Cosmos-1.0-Diffusion-7B-Text2World; nothing is downloaded).
    #[arg(long)]
    pub model: PathBuf,
    /// Output MP4 file.
    #[arg(long)]
    pub out: PathBuf,
    /// Frames to generate (1 + k·8 for the diffusion models; any count for a world model,
    /// which rolls forward window by window).
    #[arg(long, default_value_t = 121)]
    pub frames: usize,
    /// Output height (a multiple of 16).
    #[arg(long, default_value_t = 704)]
    pub height: usize,
    /// Output width (a multiple of 16).
    #[arg(long, default_value_t = 1280)]
    pub width: usize,
    /// Frame rate of the output (also scales the model's time positions).
    #[arg(long, default_value_t = 24.0)]
    pub fps: f64,
    /// Sampler: euler (cosmos-predict1 inference), res2ab (the Cosmos-1.0 release), heun.
    #[arg(long, default_value = "euler")]
    pub sampler: String,
    /// Sampling steps (default 35; 1 for world models, which predict the conditional mean).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance weight (0 disables it).
    #[arg(long, default_value_t = 7.0)]
    pub guidance: f64,
    /// Seed of the initial noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Video2World: noise level of the conditioning latents.
    #[arg(long, default_value_t = 0.001)]
    pub augment_sigma: f64,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub quiet: bool,
}

type BoxError = Box<dyn std::error::Error>;

/// Runs `cosmos generate`.
pub fn run(args: &GenerateArgs, device: &Device) -> Result<(), BoxError> {
    if WorldModel::is_world_model_dir(&args.model) {
        return generate_world(args, device);
    }
    let prompt = match args.prompt.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => p.to_string(),
        Some(_) => return Err("the prompt is empty".into()),
        None => return Err("--prompt is required: this model is text-conditioned".into()),
    };
    let kind: SamplerKind = args.sampler.parse()?;
    let paths = ModelPaths::find(&args.model)?;
    let mut pipeline = load_pipeline(&paths, device)?;
    let actions = match (&args.actions, pipeline.dit.config.action_dim) {
        (None, None) => None,
        (Some(path), Some(dim)) => Some(checked_actions(path, dim)?),
        (Some(_), None) => {
            return Err(format!(
                "--actions: the model in {} has no action conditioner (expected a world-model \
                 folder or an action-conditioned DiT)",
                args.model.display()
            )
            .into());
        }
        (None, Some(dim)) => {
            return Err(format!(
                "this DiT is action-conditioned: give --actions (vectors of {dim} values, one per window)"
            )
            .into());
        }
    };

    let mut request = GenerationRequest {
        negative_prompt: args.negative_prompt.clone(),
        frames: args.frames,
        height: args.height,
        width: args.width,
        fps: args.fps,
        guidance: args.guidance,
        sampler: SamplerConfig::of_kind(kind, args.steps.unwrap_or(35)),
        seed: args.seed,
        ..GenerationRequest::new(prompt)
    };
    if let Some(input) = &args.input_video {
        let tc = pipeline.decoder.temporal_compression().max(1);
        let wanted = args.condition_frames.unwrap_or(1 + tc);
        let video = read_input(input, wanted, args.width, args.height, device)?;
        let available = video.dims()[2];
        let frames = match args.condition_frames {
            Some(n) => n,
            None => {
                let n = available.min(1 + tc);
                1 + (n - 1) / tc * tc
            }
        };
        request.condition = Some(VideoCondition {
            video,
            frames,
            augment_sigma: args.augment_sigma,
        });
    }

    if let Some(actions) = actions {
        return generate_action_windows(args, &mut pipeline, request, &actions);
    }

    let total = request.sampler.build()?.progress_steps() as u64;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] step {pos}/{len} {msg}")?
                .progress_chars("=> "),
        );
        bar
    };
    let generation = pipeline.generate(&request, &mut |step| {
        bar.set_position(step.done as u64);
        bar.set_message(format!("sigma {:.4}", step.sigma));
    })?;
    bar.finish_and_clear();
    for warning in &generation.warnings {
        eprintln!("warning: {warning}");
    }

    write_mp4(&args.out, generation.video, args.fps)?;
    println!(
        "wrote {} ({} frames of {}x{}, {} network calls)",
        args.out.display(),
        args.frames,
        args.width,
        args.height,
        generation.network_calls
    );
    Ok(())
}

/// Reads the last `last` frames of a video (or an image) as `[1, 3, frames, height, width]` in
/// [−1, 1], resized.
fn read_input(
    path: &Path,
    last: usize,
    width: usize,
    height: usize,
    device: &Device,
) -> Result<Tensor<5>, BoxError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (pixels, t) = if matches!(ext.as_str(), "png" | "jpg" | "jpeg") {
        let image = cosmos_media::read_image(path)?;
        let image = cosmos_media::resize_image(
            image.view(),
            width,
            height,
            cosmos_media::ResizeFilter::Bicubic,
        )?;
        (
            image
                .as_standard_layout()
                .iter()
                .copied()
                .collect::<Vec<u8>>(),
            1,
        )
    } else {
        let mut options = cosmos_media::ReadOptions::default().resize(width as u32, height as u32);
        // Decode only the tail when the container says how long the video is.
        if let Some(total) = cosmos_media::probe(path)?.frames
            && total > last as u64
        {
            options = options.range(total - last as u64, last);
        }
        let video = cosmos_media::read_video(path, &options)?;
        let t = video.len();
        (
            video.frames.as_standard_layout().iter().copied().collect(),
            t,
        )
    };
    if t == 0 {
        return Err(format!("{}: no frames", path.display()).into());
    }
    Ok(video_from_rgb_u8(&pixels, t, height, width, device)?)
}

/// Writes `[1, 3, T, H, W]` in [−1, 1] as an H.264 MP4.
fn write_mp4(path: &Path, video: Tensor<5>, fps: f64) -> Result<(), BoxError> {
    let [_, _, t, h, w] = video.dims();
    let rgb = video_to_rgb_u8(video, 0)?;
    let frames = ndarray::Array4::from_shape_vec((t, h, w, 3), rgb)?;
    let video = cosmos_media::Video::new(frames, fps)?;
    cosmos_media::write_video(path, &video, &cosmos_media::WriteOptions::default())?;
    Ok(())
}

/// Reads `--actions` and checks every vector's width against the model's.
fn checked_actions(path: &Path, dim: usize) -> Result<Vec<Vec<f32>>, BoxError> {
    let actions = super::world::read_actions(path)?;
    if actions.is_empty() {
        return Err(format!("{}: no action vectors", path.display()).into());
    }
    if let Some((k, a)) = actions.iter().enumerate().find(|(_, a)| a.len() != dim) {
        return Err(format!(
            "{}: action {k} has {} values, the model expects {dim}",
            path.display(),
            a.len()
        )
        .into());
    }
    Ok(actions)
}

/// An action-conditioned DiT, one window per action: each window is conditioned on the last
/// frames of the previous one (the input video for the first), and its new frames are kept.
fn generate_action_windows(
    args: &GenerateArgs,
    pipeline: &mut cosmos_diffusion::WorldPipeline,
    mut request: GenerationRequest,
    actions: &[Vec<f32>],
) -> Result<(), BoxError> {
    let Some(condition) = request.condition.take() else {
        return Err(
            "an action-conditioned DiT needs --input-video (the frames it starts from)".into(),
        );
    };
    let frames_per_window = args.frames.saturating_sub(condition.frames);
    if frames_per_window == 0 {
        return Err(format!(
            "--frames {} leaves no frame to generate after {} condition frames",
            args.frames, condition.frames
        )
        .into());
    }
    let mut video = condition.video.clone();
    let mut kept: Vec<Tensor<5>> = Vec::new();
    let mut calls = 0;
    for (k, action) in actions.iter().enumerate() {
        let [_, _, t, _, _] = video.dims();
        let last = condition.frames.min(t);
        request.condition = Some(VideoCondition {
            video: video.clone().narrow(2, t - last, last),
            frames: last,
            augment_sigma: condition.augment_sigma,
        });
        request.action = Some(action.clone());
        let generation = pipeline.generate(&request, &mut |_| {})?;
        calls += generation.network_calls;
        let new = generation.video.narrow(2, last, frames_per_window);
        video = new.clone();
        kept.push(new);
        if !args.quiet {
            eprintln!("window {}/{} done", k + 1, actions.len());
        }
    }
    let out = Tensor::cat(kept, 2);
    let frames = out.dims()[2];
    write_mp4(&args.out, out, args.fps)?;
    println!(
        "wrote {} ({frames} frames of {}x{} from {} action windows, {calls} network calls)",
        args.out.display(),
        args.width,
        args.height,
        actions.len()
    );
    Ok(())
}

/// A world-model folder: the last frames of `--input-video` are the context, `--actions` the
/// plan (one vector per generated frame); rolls forward window by window.
fn generate_world(args: &GenerateArgs, device: &Device) -> Result<(), BoxError> {
    let model = WorldModel::load(&args.model, device)?;
    let config = &model.config;
    let Some(input) = &args.input_video else {
        return Err(format!(
            "{} is a world model: give --input-video (its last {CONTEXT_FRAMES} frames are the context)",
            args.model.display()
        )
        .into());
    };
    let Some(actions_path) = &args.actions else {
        return Err(format!(
            "{} is an action-conditioned world model: give --actions (one vector of {} values per generated frame)",
            args.model.display(),
            config.action_dim
        )
        .into());
    };
    if let Some(p) = &args.prompt {
        eprintln!("warning: this world model has no text conditioning; --prompt {p:?} is not used");
    }
    if args.frames == 0 {
        return Err("--frames must be at least 1".into());
    }
    let plan = checked_actions(actions_path, config.action_dim)?;
    if plan.len() < args.frames {
        return Err(format!(
            "{}: {} action vectors for {} frames: expected one per generated frame",
            actions_path.display(),
            plan.len(),
            args.frames
        )
        .into());
    }
    if plan.len() > args.frames {
        eprintln!(
            "note: {} action vectors, the first {} are used (one per generated frame)",
            plan.len(),
            args.frames
        );
    }
    let size = config.world.size;
    let context = read_context(input, CONTEXT_FRAMES, size)?;
    let steps = args.steps.unwrap_or(1);
    let fps = config.fps.unwrap_or(8.0);
    let start = std::time::Instant::now();
    let frames = model.rollout(context.view(), &[], &plan[..args.frames], args.seed, steps)?;
    let seconds = start.elapsed().as_secs_f64();
    let n = frames.shape()[0];
    super::world::write_frames(&args.out, frames, fps)?;
    println!(
        "wrote {} ({n} frames of {size}x{size} at {fps} fps from the last {CONTEXT_FRAMES} frames of {}; {:.1} frames/s)",
        args.out.display(),
        input.display(),
        n as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// The last `count` frames of a video as `[count, size, size, 3]` RGB, resized.
fn read_context(path: &Path, count: usize, size: usize) -> Result<ndarray::Array4<u8>, BoxError> {
    let mut options = cosmos_media::ReadOptions {
        // One decoder thread: world-model contexts are a few small frames, and the rollout must
        // be a pure function of the file.
        threads: 1,
        ..cosmos_media::ReadOptions::default().resize(size as u32, size as u32)
    };
    if let Some(total) = cosmos_media::probe(path)?.frames
        && total > count as u64
    {
        options = options.range(total - count as u64, count);
    }
    let video = cosmos_media::read_video(path, &options)?;
    let t = video.len();
    if t < count {
        return Err(format!(
            "{}: {t} frames, the world model needs {count} context frames",
            path.display()
        )
        .into());
    }
    Ok(video
        .frames
        .slice(ndarray::s![t - count.., .., .., ..])
        .to_owned())
}
