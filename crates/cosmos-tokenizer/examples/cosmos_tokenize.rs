//! `cosmos tokenize` on its own (the same code as the `cosmos` tool's subcommand), so the
//! subcommand builds and runs with this crate alone:
//! `cargo run -p cosmos-tokenizer --features media --example cosmos_tokenize -- INPUT --model CV8x8x8`.

#[path = "../../../src/cli/tokenize.rs"]
mod tokenize;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "cosmos tokenize",
    about = "An image or video through a Cosmos tokenizer"
)]
struct Cli {
    /// Device: cpu, wgpu, wgpu-cpu, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
    #[command(flatten)]
    args: tokenize::TokenizeArgs,
}

fn main() {
    let cli = Cli::parse();
    let result = cosmos_nn::device::parse_device(&cli.device)
        .map_err(|e| e.into())
        .and_then(|device| tokenize::run(&cli.args, &device));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
