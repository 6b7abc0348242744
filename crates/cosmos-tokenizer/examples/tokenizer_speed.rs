//! Times encode and decode of a full-size Cosmos tokenizer (random weights) on a random clip.
//!
//! ```text
//! cargo run --release -p cosmos-tokenizer --example tokenizer_speed -- --preset CV8x8x8
//! cargo run --release -p cosmos-tokenizer --example tokenizer_speed -- --preset DV8x16x16 --frames 17 --size 256
//! ```
//!
//! The last line is `encode_s=<s> decode_s=<s> peak_rss_mb=<MB>` (the best of `--repeats`
//! runs; peak RSS of the whole process, weights included). The line before it,
//! `cpu_s encode=<s> decode=<s> load=<1-min load average>`, gives the CPU time (user + sys,
//! all threads) of the same runs: on a shared machine wall time is inflated by the load, CPU
//! time much less. `COSMOS_TOKENIZER_FAST=0` turns the tokenizer's CPU fast paths off (burn's
//! own convolutions and norms), to compare before and after in the same conditions.

use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use clap::Parser;
use cosmos_nn::device::parse_device;
use cosmos_tokenizer::Tokenizer;

#[derive(Parser, Debug)]
#[command(about = "Time a Cosmos tokenizer's encode and decode on a random clip")]
struct Args {
    /// Published model to build (random weights): CV8x8x8, DV8x16x16, CI8x8, ...
    #[arg(long, default_value = "CV8x8x8")]
    preset: String,
    /// Frames of the clip (1 + k·T for video tokenizers).
    #[arg(long, default_value_t = 17)]
    frames: usize,
    /// Height and width of the clip.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Batch size.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed runs (the best is reported).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Device: cpu, wgpu, wgpu-cpu, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Peak resident set size of this process in MiB (Linux), 0 elsewhere.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system, all threads) of this process in seconds (Linux), 0 elsewhere.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are fields 14, 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            // Clock ticks: 100 per second on Linux.
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// The 1-minute load average (Linux), 0 elsewhere.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = parse_device(&args.device)?;
    device.seed(0);
    let started = Instant::now();
    let tokenizer = Tokenizer::random_preset(&args.preset, &device)?;
    let frames = if tokenizer.kind().is_video() {
        args.frames
    } else {
        1
    };
    let shape = [args.batch, 3, frames, args.size, args.size];
    eprintln!(
        "{} (random weights, built in {:.2} s) on {:?}, input {shape:?}",
        args.preset,
        started.elapsed().as_secs_f64(),
        device
    );
    let x = Tensor::<5>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
    let (mut best_encode, mut best_decode) = (f64::INFINITY, f64::INFINITY);
    let (mut cpu_encode, mut cpu_decode) = (f64::INFINITY, f64::INFINITY);
    for run in 0..args.repeats.max(1) {
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        let encoded = tokenizer.encode(x.clone())?;
        // Reading the result back forces the computation on asynchronous backends.
        let latent_dims = encoded.latent.dims();
        let _ = encoded.latent.clone().sum().into_scalar::<f32>();
        let encode_s = t0.elapsed().as_secs_f64();
        let c1 = cpu_seconds();
        let t1 = Instant::now();
        let decoded = tokenizer.decode(encoded.latent)?;
        let decoded_dims = decoded.dims();
        let _ = decoded.sum().into_scalar::<f32>();
        let decode_s = t1.elapsed().as_secs_f64();
        let c2 = cpu_seconds();
        eprintln!(
            "run {run}: encode {encode_s:.3} s (CPU {:.2} s) → latent {latent_dims:?}; \
             decode {decode_s:.3} s (CPU {:.2} s) → {decoded_dims:?}",
            c1 - c0,
            c2 - c1
        );
        cpu_encode = cpu_encode.min(c1 - c0);
        cpu_decode = cpu_decode.min(c2 - c1);
        best_encode = best_encode.min(encode_s);
        best_decode = best_decode.min(decode_s);
    }
    println!(
        "cpu_s encode={cpu_encode:.2} decode={cpu_decode:.2} load={:.2}",
        load_average()
    );
    println!(
        "encode_s={best_encode:.3} decode_s={best_decode:.3} peak_rss_mb={:.0}",
        peak_rss_mb()
    );
    Ok(())
}
