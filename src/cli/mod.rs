//! Subcommands of the `cosmos` tool. Each lives in its own file; this one parses the command
//! line, picks the device and maps errors to exit codes (0 ok, 1 check failed, 2 error).

mod verify;

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
    /// Check a model implementation against a parity fixture (reference inputs and outputs).
    Verify(verify::VerifyArgs),
}

/// Exit code for a check that ran but failed (parity beyond tolerance, prompt blocked uses its own).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for an error (bad input, unreadable file, unavailable device).
pub const EXIT_ERROR: i32 = 2;

/// Parses the command line and runs the subcommand; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let device = match cosmos_nn::device::parse_device(&cli.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let result = match &cli.command {
        Command::Verify(args) => verify::run(args, &device),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}
