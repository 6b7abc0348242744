//! Speed of the autoregressive transformer at the benchmark size: width 1024, 4 blocks,
//! 16 query / 8 KV heads, FFN 2816, vocabulary 64 000, QK-norm, 3D RoPE on a [5, 16, 16] grid,
//! absolute position embedding; random weights. Prefills a 256-token prompt (and samples the
//! first token), then decodes 64 more through the KV cache.
//!
//! `cargo run --release -p cosmos-ar --example ar_speed [-- --device cpu --runs 3]`
//!
//! Ends with the line `prefill_s=<seconds> decode_tokens_per_s=<tokens per second>` (medians over
//! the timed runs, after one warm-up run).

use clap::Parser;
use cosmos_ar::{ArConfig, SamplingConfig, generate};
use cosmos_nn::device::parse_device;

/// Times prefill and KV-cache decoding of the AR transformer at the benchmark configuration.
#[derive(Parser, Debug)]
struct Args {
    /// Device: cpu (flex), wgpu, wgpu-cpu or cuda[:N], where compiled in.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Prompt tokens to prefill.
    #[arg(long, default_value_t = 256)]
    prompt: usize,
    /// Tokens to decode after the prompt.
    #[arg(long, default_value_t = 64)]
    decode: usize,
    /// Timed runs (after one warm-up run); the medians are printed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = parse_device(&args.device)?;
    let config = ArConfig::speed_benchmark();
    let mut model = config.init(&device)?;
    model.prepare_for_decoding();
    let prompt: Vec<Vec<u32>> = vec![
        (0..args.prompt as u32)
            .map(|i| (i * 7919) % 64_000)
            .collect(),
    ];
    let sampling = SamplingConfig {
        seed: 1,
        ..SamplingConfig::default()
    };
    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    for run in 0..=args.runs.max(1) {
        let g = generate(
            &model,
            &prompt,
            args.decode + 1,
            &sampling,
            None,
            &mut |_| {},
        )?;
        let rate = g.decode_tokens_per_second();
        if run == 0 {
            println!(
                "warm-up: prefill {:.3} s, decode {:.1} tokens/s",
                g.prefill_seconds, rate
            );
            continue;
        }
        println!(
            "run {run}: prefill {:.3} s, decode {:.1} tokens/s",
            g.prefill_seconds, rate
        );
        prefill.push(g.prefill_seconds);
        decode.push(rate);
    }
    println!(
        "prefill_s={:.4} decode_tokens_per_s={:.2}",
        median(prefill),
        median(decode)
    );
    Ok(())
}
