//! Subcommands of the `cosmos` tool. Each lives in its own file; this one parses the command
//! line, picks the device and maps errors to exit codes (0 ok, 1 check failed, 2 error).

mod curate;
mod demo;
mod generate;
mod generate_ar;
mod guard;
mod hub;
mod shots;
mod tokenize;
mod train;
mod verify;
mod world;

use clap::{Parser, Subcommand};

/// Cosmos world foundation models in Rust: tokenize, generate, curate, guard, train, verify.
#[derive(Parser, Debug)]
#[command(name = "cosmos", version, about, long_about = None)]
pub struct Cli {
    /// Device to run on: cpu (burn's flex backend, the default), wgpu, wgpu-cpu or cuda[:N],
    /// where compiled in.
    #[arg(long, global = true, default_value = "cpu")]
    pub device: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The main job, no download needed: the embedded world model predicts a held-out episode of
    /// the built-in physics world after a push; writes ground truth | prediction | copy-last as
    /// MP4 and GIF and prints PSNR and the pushed ball's position error.
    Demo(demo::DemoArgs),
    /// Check a model implementation against a parity fixture (reference inputs and outputs).
    Verify(verify::VerifyArgs),
    /// Encode an image or video with a Cosmos tokenizer, decode it back and report PSNR / SSIM.
    Tokenize(tokenize::TokenizeArgs),
    /// Generate video with the diffusion world model (Text2World / Video2World).
    Generate(generate::GenerateArgs),
    /// Generate video with the autoregressive world model over discrete tokens.
    GenerateAr(generate_ar::ArGenerateArgs),
    /// Guardrails: check a prompt (exit 3 when blocked) or pixelate faces in a video.
    Guard(guard::GuardArgs),
    /// Curate raw videos into shot-split, filtered, deduplicated webdataset shards.
    Curate(curate::CurateArgs),
    /// Shot detection alone, PySceneDetect-compatible: cut frames, its list-scenes CSV or JSON.
    Shots(shots::ShotsArgs),
    /// Post-train a DiT on curated shards (actions, camera, views, text; full or LoRA), or
    /// train the embedded world tokenizer / world model.
    Train(train::TrainArgs),
    /// The built-in physics world as a stand-in robot dataset (`world episodes`), and the
    /// shipped world model as a world-model folder (`world model`).
    World(world::WorldArgs),
}

/// Exit code for a check that ran but failed (parity beyond tolerance, prompt blocked uses its own).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for an error (bad input, unreadable file, unavailable device).
pub const EXIT_ERROR: i32 = 2;

/// Parses the command line and runs the subcommand; returns the process exit code.
pub fn main() -> i32 {
    let mut cli = Cli::parse();
    if let Err(e) = hub::resolve_command(&mut cli.command) {
        eprintln!("error: {e}");
        return EXIT_ERROR;
    }
    let device = match cosmos_nn::device::parse_device(&cli.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let result = match &cli.command {
        Command::Demo(args) => demo::run(args, &device).map(|()| 0),
        Command::Verify(args) => verify::run(args, &device),
        Command::Tokenize(args) => tokenize::run(args, &device).map(|()| 0),
        Command::Generate(args) => generate::run(args, &device).map(|()| 0),
        Command::GenerateAr(args) => generate_ar::run(args, &device),
        Command::Guard(args) => guard::run(args, &device),
        Command::Curate(args) => curate::run(args),
        Command::Shots(args) => shots::run(args),
        Command::Train(args) => train::run(args, &device).map(|()| 0),
        Command::World(args) => world::run(args).map(|()| 0),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}
