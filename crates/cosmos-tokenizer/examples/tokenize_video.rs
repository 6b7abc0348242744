//! Tokenizes a video with a Cosmos video tokenizer and writes the reconstruction.
//!
//! ```text
//! # NVIDIA's weights (a folder with encoder.jit and decoder.jit, named after the model):
//! cargo run --release -p cosmos-tokenizer --features media --example tokenize_video -- \
//!     testdata/media/bikes.mp4 --model pretrained_ckpts/Cosmos-Tokenizer-CV8x8x8 --out bikes_rec.mp4
//! # Without weights: the architecture with random weights (tests the plumbing only):
//! cargo run --release -p cosmos-tokenizer --features media --example tokenize_video -- \
//!     testdata/media/bikes.mp4 --model CV4x8x8 --frames 17 --size 128x64
//! ```
//!
//! It reads the first frames, encodes them window by window (17 frames, the reference's
//! default), prints the latent (or token) shape, decodes, prints PSNR / SSIM and writes the
//! reconstruction.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use cosmos_nn::device::parse_device;
use cosmos_tokenizer::media::ndarray::Axis;
use cosmos_tokenizer::media::{TokenizeOptions, tokenize_video, video_writer};
use cosmos_tokenizer::{Tokenizer, TokenizerConfig};

#[derive(Parser, Debug)]
#[command(about = "Encode and decode a video with a Cosmos tokenizer")]
struct Args {
    /// The video (MP4 or anything FFmpeg reads).
    input: PathBuf,
    /// Model folder (encoder.jit / decoder.jit, or *.safetensors) or a preset name for random weights.
    #[arg(long, default_value = "CV4x8x8")]
    model: String,
    /// Frames to read.
    #[arg(long, default_value_t = 17)]
    frames: usize,
    /// Resize to WIDTHxHEIGHT first (e.g. 256x144).
    #[arg(long)]
    size: Option<String>,
    /// Where to write the reconstruction (.mp4).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Device: cpu, wgpu, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = parse_device(&args.device)?;
    let tokenizer = if std::path::Path::new(&args.model).exists() {
        Tokenizer::load(&args.model, None, &device)?
    } else {
        eprintln!(
            "{} is not a folder: using its architecture with random weights",
            args.model
        );
        Tokenizer::random(TokenizerConfig::preset(&args.model)?, &device)?
    };
    let resize = match &args.size {
        None => None,
        Some(text) => {
            let (w, h) = text.split_once('x').ok_or("--size must be WIDTHxHEIGHT")?;
            Some((w.parse()?, h.parse()?))
        }
    };
    let options = TokenizeOptions {
        max_frames: Some(args.frames),
        resize,
        ..TokenizeOptions::default()
    };
    let started = Instant::now();
    let mut writer = None;
    let fps = cosmos_tokenizer::media::cosmos_media::probe(&args.input)?.fps;
    let result = tokenize_video(
        &tokenizer,
        &args.input,
        &options,
        |frames| {
            if let Some(out) = &args.out {
                let (t, h, w, _) = frames.dim();
                if writer.is_none() {
                    writer = Some(video_writer(out, w, h, fps)?);
                }
                let writer = writer.as_mut().expect("created above");
                for i in 0..t {
                    writer.write_frame(frames.index_axis(Axis(0), i))?;
                }
            }
            Ok(())
        },
        |progress| eprint!("\r{} frames", progress.done),
    )?;
    eprintln!();
    if let Some(writer) = writer {
        writer.finish()?;
    }
    println!(
        "{} frames {}x{} → latent {:?}{}",
        result.frames,
        result.size.1,
        result.size.0,
        result.encoded.latent.dims(),
        result
            .encoded
            .indices
            .as_ref()
            .map(|i| format!(", tokens {:?}", i.dims()))
            .unwrap_or_default()
    );
    if let (Some(psnr), Some(ssim)) = (result.psnr, result.ssim) {
        println!("PSNR {psnr:.2} dB, SSIM {ssim:.4}");
    }
    println!("{:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
