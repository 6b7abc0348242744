//! Speed and memory of one DiT forward at the benchmark configuration: 2 blocks, 16 heads × 64
//! (hidden 1024), text dim 1024, AdaLN-LoRA 256, patch (1, 2, 2), learnable position embedding,
//! latent 1×16×5×32×32 (1280 video tokens), 64 text tokens; random weights.
//!
//! `cargo run --release -p cosmos-diffusion --example dit_speed [-- --device cpu --runs 3]`
//!
//! Prints the CPU time per timed forward (`cpu_s_per_forward=`, all threads) and ends with the
//! line `forward_s=<min over the timed runs> peak_rss_mb=<MB>` (peak resident set of the whole
//! process, from the kernel's VmHWM).

use std::time::Instant;

use clap::Parser;
use cosmos_nn::device::parse_device;

mod common;

/// Times the forward pass of the diffusion transformer at the benchmark configuration.
#[derive(Parser, Debug)]
struct Args {
    /// Device: cpu (flex), wgpu, wgpu-cpu or cuda[:N], where compiled in.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Timed runs (after one warm-up run); the minimum is printed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// CPU time (user + system, all threads) this process has used so far, in seconds (Linux
/// `/proc/self/stat`, clock ticks of 1/100 s), if known.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident set size of this process in MB (Linux `VmHWM`), if known.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = parse_device(&args.device)?;
    let common::BenchCase {
        dit,
        x,
        context,
        timestep,
        conditioning,
    } = common::bench_case(&device)?;
    let mut times = Vec::new();
    let mut cpu_start = None;
    for run in 0..=args.runs.max(1) {
        if run == 1 {
            cpu_start = cpu_seconds();
        }
        let start = Instant::now();
        let y = dit.forward(x.clone(), timestep.clone(), context.clone(), &conditioning)?;
        // Reading the result back makes the timing include every queued kernel.
        let values = y.into_data();
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(values.shape().to_vec(), vec![1, 16, 5, 32, 32]);
        if run == 0 {
            println!("warm-up: {seconds:.3} s");
        } else {
            println!("run {run}: {seconds:.3} s");
            times.push(seconds);
        }
    }
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    // CPU time per timed forward: with the machine to itself this is about threads × wall time;
    // when other processes compete for the cores it stays put while the wall time grows.
    if let (Some(start), Some(end)) = (cpu_start, cpu_seconds()) {
        println!(
            "cpu_s_per_forward={:.3}",
            (end - start) / times.len() as f64
        );
    }
    println!(
        "forward_s={best:.4} peak_rss_mb={:.0}",
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    Ok(())
}
