//! Trains the world tokenizer shipped in `weights/world_tokenizer/` on the CPU.
//!
//! ```text
//! cargo run --release -p cosmos-posttrain --example train_world_tokenizer -- \
//!     --steps 1500 --batch 4 --out crates/cosmos-posttrain/weights/world_tokenizer
//! ```
//!
//! Options: `--steps N`, `--batch N`, `--frames N` (1 + 4k), `--lr X`, `--seed N`,
//! `--out DIR`, `--every N` (checkpoint interval), `--init DIR` (continue from a checkpoint),
//! `--minutes X` (time limit).

use std::path::PathBuf;

use cosmos_posttrain::tokenizer_train::{TokenizerTrainOptions, train_world_tokenizer};

mod common;
use common::parse;

fn main() {
    let mut options = TokenizerTrainOptions {
        out_dir: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/weights/world_tokenizer"
        ))),
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--steps" => options.steps = parse(&flag, args.next()),
            "--batch" => options.batch = parse(&flag, args.next()),
            "--frames" => options.frames = parse(&flag, args.next()),
            "--lr" => options.learning_rate = parse(&flag, args.next()),
            "--seed" => options.seed = parse(&flag, args.next()),
            "--every" => options.checkpoint_every = parse(&flag, args.next()),
            "--out" => options.out_dir = Some(parse(&flag, args.next())),
            "--init" => options.init_from = Some(parse(&flag, args.next())),
            "--minutes" => {
                options.time_limit_s = Some(parse::<f64>(&flag, args.next()) * 60.0);
            }
            "--help" | "-h" => {
                println!(
                    "train_world_tokenizer [--steps N] [--batch N] [--frames N] [--lr X] [--seed N] \
                     [--out DIR] [--every N] [--init DIR] [--minutes X]"
                );
                return;
            }
            other => {
                eprintln!("error: unknown option {other} (see --help)");
                std::process::exit(2);
            }
        }
    }
    eprintln!(
        "training the world tokenizer: {} steps × {} clips of {} frames, lr {}, out {:?}",
        options.steps, options.batch, options.frames, options.learning_rate, options.out_dir
    );
    let device = burn::tensor::Device::flex();
    let result = train_world_tokenizer(&options, &device, &mut |p| {
        if p.step % 10 == 0 || p.validation_psnr_db.is_some() {
            let extra = match (p.validation_psnr_db, &p.checkpoint) {
                (Some(psnr), Some(dir)) => {
                    format!(" validation PSNR {psnr:.2} dB, saved {}", dir.display())
                }
                (Some(psnr), None) => format!(" validation PSNR {psnr:.2} dB"),
                _ => String::new(),
            };
            eprintln!(
                "step {}/{} loss {:.5} lr {:.2e} {:.0}s{}",
                p.step, p.steps, p.loss, p.learning_rate, p.elapsed_s, extra
            );
        }
    });
    match result {
        Ok(report) => println!(
            "steps={} seconds={:.0} final_loss={:.5} validation_psnr_db={:.2}",
            report.steps, report.seconds, report.final_loss, report.validation_psnr_db
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
