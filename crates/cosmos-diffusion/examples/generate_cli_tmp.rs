//! Temporary: compiles and runs src/cli/generate.rs outside the facade.
#[path = "../../../src/cli/generate.rs"]
mod generate;
use clap::Parser;
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: generate::GenerateArgs,
}
fn main() {
    let cli = Cli::parse();
    if let Err(e) = generate::run(&cli.args, &cosmos_nn::burn::tensor::Device::flex()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
