//! `cosmos verify`: run a parity fixture through our implementation and compare.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use cosmos_nn::burn::tensor::Device;
use cosmos_nn::parity::{Comparison, Fixture};

/// The model family a fixture belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Cosmos tokenizers (CI, CV, DI, DV).
    Tokenizer,
    /// The diffusion transformer (diffusers or cosmos-predict1 key names).
    Dit,
    /// EDM preconditioning and the Euler scheduler step.
    Edm,
    /// A whole sampling loop (Euler or RES 2ab) with classifier-free guidance.
    Sample,
    /// The T5 text encoder.
    T5,
    /// The autoregressive transformer (including KV-cache decoding).
    Ar,
    /// The AR models' diffusion decoder (token-conditioned DiT, cosmos-predict1 names).
    DiffusionDecoder,
}

const FIXTURE_HELP: &str = "\
A fixture is two files side by side:
  NAME.safetensors  the model's weights under the reference implementation's own key names,
                    plus tensors named with double underscores (`__input__`, `__latent__`, ...)
                    which are the inputs and the expected outputs;
  NAME.json         the model's full constructor config as the reference took it (read by the
                    model's config parser, so any config values work), optionally a `tolerance`
                    field.
Every expected output the model kind knows is recomputed and compared. One line is printed per
output (`NAME shape=[..] max_abs_diff=V ok|FAIL`), then a final line `max_abs_diff=<value>`.
Float outputs must be within the tolerance (1e-4 unless the JSON says otherwise); integer
outputs (token indices) must be exactly equal.

Exit status: 0 within tolerance, 1 beyond it, 2 on error (unreadable or malformed fixture,
weights that do not fit the config).";

/// Arguments of `cosmos verify`.
#[derive(Args, Debug)]
#[command(after_long_help = FIXTURE_HELP)]
pub struct VerifyArgs {
    /// Model family of the fixture.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The fixture's `.safetensors` file (its `.json` sidecar is read from beside it).
    pub fixture: PathBuf,
}

type BoxError = Box<dyn std::error::Error>;

/// Runs the check; returns the exit code (0 pass, 1 fail).
pub fn run(args: &VerifyArgs, device: &Device) -> Result<i32, BoxError> {
    let fixture = Fixture::open(&args.fixture)?;
    let comparisons = compare(args.kind, &fixture, device)?;
    if comparisons.is_empty() {
        return Err(format!(
            "{}: no output of a {:?} model found in the fixture",
            args.fixture.display(),
            args.kind
        )
        .into());
    }
    let mut worst = 0.0f64;
    let mut all_pass = true;
    for c in &comparisons {
        let pass = c.passes(fixture.tolerance);
        all_pass &= pass;
        worst = worst.max(c.max_abs_diff);
        println!(
            "{} shape={:?} max_abs_diff={:e}{} {}",
            c.name,
            c.shape,
            c.max_abs_diff,
            if c.integer {
                " (integer: exact match required)"
            } else {
                ""
            },
            if pass { "ok" } else { "FAIL" }
        );
    }
    println!("max_abs_diff={worst:e}");
    Ok(if all_pass { 0 } else { super::EXIT_FAILED })
}

fn compare(kind: Kind, fixture: &Fixture, device: &Device) -> Result<Vec<Comparison>, BoxError> {
    match kind {
        Kind::T5 => Ok(cosmos_text::verify_fixture(fixture, device)?),
        Kind::Tokenizer => Ok(cosmos_tokenizer::verify_fixture(fixture, device)?),
        Kind::Ar => Ok(cosmos_ar::verify_fixture(fixture, device)?),
        Kind::Dit => Ok(cosmos_diffusion::parity::verify_dit(fixture, device)?),
        Kind::Edm => Ok(cosmos_diffusion::parity::verify_edm(fixture, device)?),
        Kind::Sample => Ok(cosmos_diffusion::parity::verify_sample(fixture, device)?),
        Kind::DiffusionDecoder => Ok(cosmos_diffusion::parity::verify_diffusion_decoder(
            fixture, device,
        )?),
    }
}
