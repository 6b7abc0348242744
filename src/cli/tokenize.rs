//! `cosmos tokenize`: an image or a video through a Cosmos tokenizer, writing the latents or
//! indices (safetensors) and/or the reconstruction, and printing its PSNR and SSIM. A
//! latents file made by this command decodes back into an image or a video.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use cosmos_nn::burn::tensor::Device;
use cosmos_tokenizer::media::ndarray::Axis;
use cosmos_tokenizer::media::{
    self, Progress, TokenizeOptions, TokenizeResult, decode_latents, read_latents, write_latents,
};
use cosmos_tokenizer::{Tokenizer, TokenizerConfig};
use indicatif::{ProgressBar, ProgressStyle};

const TOKENIZE_HELP: &str = "\
MODEL is a folder as NVIDIA publishes it (encoder.jit, decoder.jit and/or autoencoder.jit) or
with *.safetensors under the same key names, or one such file. The architecture comes from
--config, else a config.json beside the weights, else the preset named in the path
(.../Cosmos-Tokenizer-CV8x8x8/). MODEL may also be a bare preset name (CI8x8, CI16x16, CV4x8x8,
CV8x8x8, CV8x16x16, DI8x8, DI16x16, DV4x8x8, DV8x8x8, DV8x16x16) together with --random-weights:
the architecture with random weights, for testing the plumbing; the scores are then meaningless.

MODEL may also be a Hugging Face repository id (nvidia/Cosmos-Tokenizer-CI8x8, or
ORG/NAME/SUBFOLDER such as a pipeline's .../vae), read from the local hub cache ($HF_HOME/hub or
~/.cache/huggingface/hub) as `hf download ID` leaves it; nothing is downloaded. An id that is not
in the cache is an error (exit 2) that prints the download command.

INPUT is an image (png, jpg, ...), a video (mp4 and anything FFmpeg reads), or a .safetensors
latents file written by this command (decoded back with the same model).

OUTPUT by extension: .safetensors writes the latents (and FSQ indices for discrete tokenizers);
.png/.jpg writes the reconstructed image; .mp4 the reconstructed video. --latents writes the
latents in addition to a reconstruction.

Videos are processed in windows of --window frames (1 + k·T, 17 by default, as NVIDIA's
pipeline), each window on its own, and large frames in --tile tiles, so memory stays bounded.
Frames are padded with black to multiples of the spatial compression and cropped back.";

/// Arguments of `cosmos tokenize`.
#[derive(Args, Debug)]
#[command(after_long_help = TOKENIZE_HELP)]
pub struct TokenizeArgs {
    /// Image, video, or latents (.safetensors) to decode.
    pub input: PathBuf,
    /// Model folder or checkpoint file, a Hugging Face repository id in the local hub cache
    /// (nvidia/Cosmos-Tokenizer-CI8x8), or a preset name with --random-weights.
    #[arg(long)]
    pub model: String,
    /// Architecture of the checkpoint: a preset name or a config JSON file.
    #[arg(long)]
    pub config: Option<String>,
    /// Where to write: .safetensors (latents), .png/.jpg (image) or .mp4 (video).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Also write the latents here (.safetensors).
    #[arg(long)]
    pub latents: Option<PathBuf>,
    /// Frames per temporal window (1 + k·T); default 17.
    #[arg(long)]
    pub window: Option<usize>,
    /// Spatial tile size in pixels (a multiple of the spatial compression).
    #[arg(long)]
    pub tile: Option<usize>,
    /// Overlap between tiles in pixels.
    #[arg(long, default_value_t = 0)]
    pub overlap: usize,
    /// First frame of the video.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// At most this many frames.
    #[arg(long)]
    pub frames: Option<usize>,
    /// Resize every frame to WIDTHxHEIGHT first.
    #[arg(long, value_parser = parse_size)]
    pub resize: Option<(u32, u32)>,
    /// Use random weights: the architecture of the preset named by --model (or --config).
    /// For testing the plumbing; the reconstruction and its scores are meaningless.
    #[arg(long)]
    pub random_weights: bool,
    /// Seed of the random weights (--random-weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

type BoxError = Box<dyn std::error::Error>;

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, found '{text}'"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("expected WIDTHxHEIGHT with positive numbers, found '{text}'"))
    };
    Ok((parse(w)?, parse(h)?))
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

/// Loads the model: weights from a path, or a preset's architecture with random weights.
fn load_model(args: &TokenizeArgs, device: &Device) -> Result<Tokenizer, BoxError> {
    let config = match &args.config {
        None => None,
        Some(text) if Path::new(text).is_file() => Some(TokenizerConfig::from_json_file(text)?),
        Some(name) => Some(TokenizerConfig::preset(name)?),
    };
    if args.random_weights {
        let config = match (config, TokenizerConfig::preset(&args.model)) {
            (Some(config), _) => config,
            (None, Ok(preset)) => preset,
            (None, Err(_)) => {
                return Err(format!(
                    "--random-weights: --model '{}' is no preset name ({}); name one, or give the \
                     architecture with --config",
                    args.model,
                    cosmos_tokenizer::PRESETS.join(", ")
                )
                .into());
            }
        };
        eprintln!(
            "warning: RANDOM weights ({} architecture, seed {}): the reconstruction and its \
             PSNR/SSIM are meaningless",
            config.name, args.seed
        );
        device.seed(args.seed);
        return Ok(Tokenizer::random(config, device)?);
    }
    let path = Path::new(&args.model);
    if path.exists() {
        return Ok(Tokenizer::load(path, config, device)?);
    }
    if TokenizerConfig::preset(&args.model).is_ok() {
        return Err(format!(
            "--model '{}' is a preset name, not weights: add --random-weights to run that \
             architecture with random weights, or give a model folder, file or Hugging Face id \
             (nvidia/Cosmos-Tokenizer-{})",
            args.model, args.model
        )
        .into());
    }
    Err(format!(
        "--model '{}': no such file or folder (nor a Hugging Face id or, with --random-weights, \
         a preset name: {})",
        args.model,
        cosmos_tokenizer::PRESETS.join(", ")
    )
    .into())
}

fn progress_bar(total: Option<usize>) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n as u64),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} frames {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Runs `cosmos tokenize`.
pub fn run(args: &TokenizeArgs, device: &Device) -> Result<(), BoxError> {
    let started = Instant::now();
    let tokenizer = load_model(args, device)?;
    eprintln!(
        "{} tokenizer: spatial ×{}, temporal ×{}, {} latent channels, {:.1} M parameters",
        tokenizer.kind().short_name(),
        tokenizer.spatial_compression(),
        tokenizer.temporal_compression(),
        tokenizer.latent_channels(),
        tokenizer.num_params() as f64 / 1e6
    );
    let out_ext = args.out.as_deref().map(extension);
    if extension(&args.input) == "safetensors" {
        return decode_file(args, &tokenizer, device, started);
    }
    let writes_latents = out_ext.as_deref() == Some("safetensors");
    let options = TokenizeOptions {
        window: args.window,
        tile: args.tile,
        overlap: args.overlap,
        start: args.start,
        max_frames: args.frames,
        resize: args.resize,
        decode: !writes_latents || args.latents.is_some() || args.out.is_none(),
    };
    let image_input = media::is_image_path(&args.input);
    let result = if image_input {
        let result = media::tokenize_image(&tokenizer, &args.input, &options)?;
        match (&args.out, out_ext.as_deref(), &result.reconstruction) {
            (Some(out), Some(ext), Some(image)) if media::IMAGE_EXTENSIONS.contains(&ext) => {
                media::write_image(out, image)?;
            }
            (Some(_), Some("safetensors"), _) | (None, _, _) => {}
            (Some(out), _, _) => {
                return Err(format!(
                    "--out {}: an image input writes .png/.jpg (reconstruction) or .safetensors (latents)",
                    out.display()
                )
                .into());
            }
        }
        result
    } else {
        let video_out = match (&args.out, out_ext.as_deref()) {
            (Some(out), Some(ext)) if ext != "safetensors" => {
                if media::IMAGE_EXTENSIONS.contains(&ext) {
                    return Err(format!(
                        "--out {}: a video input writes .mp4 (reconstruction) or .safetensors (latents)",
                        out.display()
                    )
                    .into());
                }
                Some(out.clone())
            }
            _ => None,
        };
        let bar = progress_bar(None);
        let mut writer = None;
        let mut fps = 24.0;
        if let Ok(info) = media::cosmos_media::probe(&args.input) {
            fps = info.fps;
        }
        let result = media::tokenize_video(
            &tokenizer,
            &args.input,
            &options,
            |frames| {
                if let Some(out) = &video_out {
                    let (t, h, w, _) = frames.dim();
                    if writer.is_none() {
                        writer = Some(media::video_writer(out, w, h, fps)?);
                    }
                    let writer = writer.as_mut().expect("created above");
                    for i in 0..t {
                        writer.write_frame(frames.index_axis(Axis(0), i))?;
                    }
                }
                Ok(())
            },
            |Progress { done, total }| {
                if let Some(total) = total {
                    bar.set_length(total as u64);
                }
                bar.set_position(done as u64);
            },
        )?;
        bar.finish_and_clear();
        if let Some(writer) = writer {
            writer.finish()?;
        }
        result
    };
    report(&result, image_input, started);
    let model_name = args.model.clone();
    for path in [
        args.out.as_ref().filter(|_| writes_latents),
        args.latents.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        write_latents(
            path,
            &result.encoded,
            &result.metadata(&tokenizer, &model_name),
        )?;
        eprintln!("latents written to {}", path.display());
    }
    if let Some(out) = args.out.as_ref().filter(|_| !writes_latents) {
        eprintln!("reconstruction written to {}", out.display());
    }
    Ok(())
}

fn report(result: &TokenizeResult, image: bool, started: Instant) {
    let latent = result.encoded.latent.dims();
    let (h, w) = result.size;
    if image {
        println!("input: {w}x{h} image");
    } else {
        println!(
            "input: {} frames {w}x{h} at {:.2} fps",
            result.frames, result.fps
        );
    }
    println!("latent: {latent:?}");
    if let Some(indices) = &result.encoded.indices {
        println!("indices: {:?}", indices.dims());
    }
    if let (Some(psnr), Some(ssim)) = (result.psnr, result.ssim) {
        println!("PSNR {psnr:.2} dB  SSIM {ssim:.4}");
    }
    println!("time {:.2} s", started.elapsed().as_secs_f64());
}

/// Decodes a latents file back into an image or a video.
fn decode_file(
    args: &TokenizeArgs,
    tokenizer: &Tokenizer,
    device: &Device,
    started: Instant,
) -> Result<(), BoxError> {
    let (encoded, metadata) = read_latents(&args.input, device)?;
    let frames = decode_latents(tokenizer, &encoded, &metadata)?;
    let (t, h, w, _) = frames.dim();
    println!(
        "decoded: {t} frames {w}x{h} from latent {:?}",
        encoded.latent.dims()
    );
    let Some(out) = &args.out else {
        println!(
            "time {:.2} s (no --out: nothing written)",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    };
    let ext = extension(out);
    if media::IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        if t != 1 {
            return Err(format!(
                "--out {}: {t} frames need a video output (.mp4)",
                out.display()
            )
            .into());
        }
        media::write_image(out, &frames.index_axis(Axis(0), 0).to_owned())?;
    } else {
        let fps = metadata
            .get("fps")
            .and_then(|f| f.parse::<f64>().ok())
            .filter(|f| *f > 0.0)
            .unwrap_or(24.0);
        media::write_video(out, frames, fps)?;
    }
    eprintln!("reconstruction written to {}", out.display());
    println!("time {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
