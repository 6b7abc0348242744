//! Parity with the reference implementations on every fixture in testdata/parity/diffusion:
//! the DiT in diffusers and cosmos-predict1 naming (Text2World and Video2World), diffusers'
//! EDM Euler scheduler arithmetic, and whole guided sampling loops (Euler and RES 2ab).

use cosmos_diffusion::parity::{FixtureKind, fixture_kind};
use cosmos_diffusion::{fixture_tolerance, verify_fixture};
use cosmos_nn::burn::tensor::Device;
use cosmos_nn::parity::Fixture;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/parity/diffusion"
);

fn check(name: &str, kind: FixtureKind) {
    let device = Device::flex();
    let fixture = Fixture::open(format!("{DIR}/{name}.safetensors")).unwrap();
    assert_eq!(fixture_kind(&fixture).unwrap(), kind);
    let tolerance = fixture_tolerance(&fixture);
    let comparisons = verify_fixture(&fixture, &device).unwrap();
    assert!(!comparisons.is_empty());
    for c in &comparisons {
        println!(
            "{name}: {} {:?} max_abs_diff={:e} (tolerance {tolerance:e})",
            c.name, c.shape, c.max_abs_diff
        );
        assert!(
            c.passes(tolerance),
            "{name}: {} differs by {:e}",
            c.name,
            c.max_abs_diff
        );
    }
}

#[test]
fn dit_text2world_diffusers_naming() {
    check("dit_text2world_small", FixtureKind::Dit);
}

#[test]
fn dit_video2world_diffusers_naming() {
    check("dit_video2world_small", FixtureKind::Dit);
}

#[test]
fn dit_text2world_cosmos_predict1_naming() {
    check("dit_text2world_cosmos_predict1_small", FixtureKind::Dit);
}

#[test]
fn dit_video2world_cosmos_predict1_naming() {
    check("dit_video2world_cosmos_predict1_small", FixtureKind::Dit);
}

#[test]
fn dit_action_conditioned_cosmos_predict1_naming() {
    check("dit_action_cosmos_predict1_small", FixtureKind::Dit);
}

#[test]
fn dit_multiview_cosmos_predict1_naming() {
    check("dit_multiview_cosmos_predict1_small", FixtureKind::Dit);
}

#[test]
fn dit_video2world_multiview_cosmos_predict1_naming() {
    check(
        "dit_video2world_multiview_cosmos_predict1_small",
        FixtureKind::Dit,
    );
}

#[test]
fn edm_euler_scheduler() {
    check("edm_euler_35steps", FixtureKind::Edm);
}

#[test]
fn sample_euler_loop() {
    check("sample_euler_small", FixtureKind::Sample);
}

#[test]
fn sample_res2ab_loop() {
    check("sample_res2ab_small", FixtureKind::Sample);
}

/// cosmos-predict1's `DiffusionDecoderGeneralDIT`: the token condition (embedding, bilinear 2×
/// resize) and the raw network output with the tokens concatenated before the padding mask.
#[test]
fn diffusion_decoder_token_conditioned_dit() {
    let device = Device::flex();
    let name = "diffusion_decoder_small";
    let fixture = Fixture::open(format!("{DIR}/{name}.safetensors")).unwrap();
    let comparisons =
        cosmos_diffusion::parity::verify_diffusion_decoder(&fixture, &device).unwrap();
    let names: Vec<&str> = comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["token_condition", "output"]);
    for c in &comparisons {
        println!(
            "{name}: {} {:?} max_abs_diff={:e}",
            c.name, c.shape, c.max_abs_diff
        );
        assert!(
            c.passes(1e-4),
            "{name}: {} differs by {:e}",
            c.name,
            c.max_abs_diff
        );
    }
}
