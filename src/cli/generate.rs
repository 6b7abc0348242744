//! `cosmos generate`: Text2World and Video2World with the Cosmos-1.0 diffusion model.
//!
//! prompt → T5 → DiT + EDM sampler with classifier-free guidance → latent → video tokenizer
//! decoder → MP4; with `--input-video`, the last frames of that video (or an image) condition
//! the generation. Progress is shown per sampling step.

use std::path::{Path, PathBuf};

use clap::Args;
use cosmos_diffusion::pretrained::{ModelPaths, load_pipeline};
use cosmos_diffusion::{GenerationRequest, SamplerConfig, SamplerKind, VideoCondition};
use cosmos_nn::burn::tensor::{Device, Tensor};
use cosmos_nn::video::{video_from_rgb_u8, video_to_rgb_u8};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `cosmos generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(long)]
    pub prompt: String,
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
    /// docs/diffusion.md).
    #[arg(long)]
    pub model: PathBuf,
    /// Output MP4 file.
    #[arg(long)]
    pub out: PathBuf,
    /// Frames to generate (1 + k·8).
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
    /// Sampling steps.
    #[arg(long, default_value_t = 35)]
    pub steps: usize,
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
    if args.prompt.trim().is_empty() {
        return Err("the prompt is empty".into());
    }
    let kind: SamplerKind = args.sampler.parse()?;
    let paths = ModelPaths::find(&args.model)?;
    let mut pipeline = load_pipeline(&paths, device)?;

    let mut request = GenerationRequest {
        negative_prompt: args.negative_prompt.clone(),
        frames: args.frames,
        height: args.height,
        width: args.width,
        fps: args.fps,
        guidance: args.guidance,
        sampler: SamplerConfig::of_kind(kind, args.steps),
        seed: args.seed,
        ..GenerationRequest::new(args.prompt.clone())
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
