//! Parity with NVIDIA's Cosmos-Tokenizer on the fixtures in testdata/parity/tokenizer: the
//! fixtures' weights loaded by their original names (and, for the video fixtures, from the
//! TorchScript twins), every output within the tolerance (1e-4), indices exactly equal.

use burn::tensor::Device;
use cosmos_nn::checkpoint::Checkpoint;
use cosmos_nn::parity::{Comparison, Fixture};
use cosmos_tokenizer::parity::verify_with;
use cosmos_tokenizer::{Tokenizer, TokenizerConfig, verify_fixture};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/parity/tokenizer"
);

fn fixture(name: &str) -> Fixture {
    Fixture::open(format!("{DIR}/{name}.safetensors")).expect("fixture opens")
}

fn check(name: &str, comparisons: &[Comparison], tolerance: f64, expected: &[&str]) {
    let names: Vec<&str> = comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, expected, "{name}: compared outputs");
    for c in comparisons {
        println!(
            "{name}: {:<22} {:?} max|diff| = {:.3e}{}",
            c.name,
            c.shape,
            c.max_abs_diff,
            if c.integer { " (indices)" } else { "" }
        );
        assert!(
            c.passes(tolerance),
            "{name}: output '{}' differs by {:e} (tolerance {tolerance:e}, integer {})",
            c.name,
            c.max_abs_diff,
            c.integer
        );
    }
}

fn run(name: &str, expected: &[&str]) {
    let device = Device::flex();
    let fixture = fixture(name);
    let comparisons = verify_fixture(&fixture, &device).expect("fixture runs");
    check(name, &comparisons, fixture.tolerance, expected);
}

#[test]
fn cv4x8x8_small() {
    run("cv4x8x8_small", &["latent", "decoded"]);
}

#[test]
fn dv4x8x8_small() {
    run(
        "dv4x8x8_small",
        &["codes", "indices", "decoded", "decoded_from_indices"],
    );
}

#[test]
fn ci8x8_small() {
    run("ci8x8_small", &["latent", "decoded"]);
}

#[test]
fn di8x8_small() {
    run(
        "di8x8_small",
        &["codes", "indices", "decoded", "decoded_from_indices"],
    );
}

/// The same fixtures with the weights read from the `.jit` archives NVIDIA's format uses.
fn run_jit(name: &str, expected: &[&str]) {
    let device = Device::flex();
    let fixture = fixture(name);
    let config = TokenizerConfig::from_json(&fixture.json).unwrap();
    let mut weights =
        Checkpoint::open(format!("{DIR}/{name}.encoder.jit")).expect("encoder.jit reads");
    weights
        .merge(Checkpoint::open(format!("{DIR}/{name}.decoder.jit")).expect("decoder.jit reads"));
    let tokenizer =
        Tokenizer::from_checkpoint(config, &weights, &device).expect("jit weights load");
    let comparisons = verify_with(&tokenizer, &fixture, &device).expect("fixture runs");
    check(
        &format!("{name} (jit)"),
        &comparisons,
        fixture.tolerance,
        expected,
    );
}

#[test]
fn cv4x8x8_small_from_jit() {
    run_jit("cv4x8x8_small", &["latent", "decoded"]);
}

#[test]
fn dv4x8x8_small_from_jit() {
    run_jit(
        "dv4x8x8_small",
        &["codes", "indices", "decoded", "decoded_from_indices"],
    );
}

/// Extra fixtures made the same way by tests/fixtures/make_fixtures.py, for the code paths the
/// shared ones do not reach (temporal downsampling, batch 2, 17 frames, non-square frames,
/// the rearrange patcher, the legacy upsampling rule, spatial compression 16).
const EXTRA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn run_extra(name: &str, expected: &[&str]) {
    let device = Device::flex();
    let fixture = Fixture::open(format!("{EXTRA}/{name}.safetensors")).expect("fixture opens");
    let comparisons = verify_fixture(&fixture, &device).expect("fixture runs");
    check(name, &comparisons, fixture.tolerance, expected);
}

#[test]
fn cv8x16x16_batch2_17_frames() {
    run_extra("cv8x16x16_b2", &["latent", "decoded"]);
}

#[test]
fn dv8x8x8_patch2_two_temporal_downsamplings() {
    run_extra(
        "dv8x8x8_patch2",
        &["codes", "indices", "decoded", "decoded_from_indices"],
    );
}

#[test]
fn cv_rearrange_patcher_legacy_decoder() {
    run_extra("cv_rearrange_legacy", &["latent", "decoded"]);
}

#[test]
fn ci16x16_batch2_non_square() {
    run_extra("ci16x16_b2", &["latent", "decoded"]);
}

#[test]
fn di16x16_non_square() {
    run_extra(
        "di16x16_rect",
        &["codes", "indices", "decoded", "decoded_from_indices"],
    );
}

#[test]
fn cv8x16x16_batch2_from_jit() {
    let device = Device::flex();
    let fixture = Fixture::open(format!("{EXTRA}/cv8x16x16_b2.safetensors")).unwrap();
    let config = TokenizerConfig::from_json(&fixture.json).unwrap();
    let mut weights =
        Checkpoint::open(format!("{EXTRA}/cv8x16x16_b2.encoder.jit")).expect("encoder.jit reads");
    weights.merge(
        Checkpoint::open(format!("{EXTRA}/cv8x16x16_b2.decoder.jit")).expect("decoder.jit reads"),
    );
    let tokenizer =
        Tokenizer::from_checkpoint(config, &weights, &device).expect("jit weights load");
    let comparisons = verify_with(&tokenizer, &fixture, &device).expect("fixture runs");
    check(
        "cv8x16x16_b2 (jit)",
        &comparisons,
        fixture.tolerance,
        &["latent", "decoded"],
    );
}

/// A model folder as NVIDIA publishes it (`encoder.jit`, `decoder.jit`) plus a `config.json`
/// loads with `Tokenizer::load` and reproduces the fixture.
#[test]
fn model_folder_with_jit_files_loads() {
    let device = Device::flex();
    let fixture = fixture("dv4x8x8_small");
    let folder =
        std::env::temp_dir().join(format!("cosmos-tokenizer-folder-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    for half in ["encoder", "decoder"] {
        std::fs::copy(
            format!("{DIR}/dv4x8x8_small.{half}.jit"),
            folder.join(format!("{half}.jit")),
        )
        .unwrap();
    }
    std::fs::write(folder.join("config.json"), fixture.json.to_string()).unwrap();
    let tokenizer = Tokenizer::load(&folder, None, &device).expect("folder loads");
    std::fs::remove_dir_all(&folder).ok();
    assert!(tokenizer.has_encoder() && tokenizer.has_decoder());
    let comparisons = verify_with(&tokenizer, &fixture, &device).unwrap();
    check(
        "dv4x8x8_small (folder)",
        &comparisons,
        fixture.tolerance,
        &["codes", "indices", "decoded", "decoded_from_indices"],
    );
}

/// The parameter count of each fixture's architecture equals the reference's.
#[test]
fn parameter_counts_match_the_reference() {
    for name in [
        "cv4x8x8_small",
        "dv4x8x8_small",
        "ci8x8_small",
        "di8x8_small",
    ] {
        let fixture = fixture(name);
        let config = TokenizerConfig::from_json(&fixture.json).unwrap();
        let tokenizer = Tokenizer::random(config, &Device::flex()).unwrap();
        let expected = fixture.json["num_parameters"].as_u64().unwrap() as usize;
        assert_eq!(tokenizer.num_params(), expected, "{name}");
    }
}
