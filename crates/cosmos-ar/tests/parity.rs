//! Parity with cosmos-predict1's `Transformer` (float32, CPU) on the fixtures in
//! testdata/parity/ar: full-sequence logits and KV-cache incremental decoding.

use cosmos_ar::verify_fixture;
use cosmos_nn::burn::tensor::Device;
use cosmos_nn::parity::Fixture;

fn check(name: &str) {
    let path = format!(
        "{}/../../testdata/parity/ar/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture = Fixture::open(&path).unwrap();
    let device = Device::flex();
    let comparisons = verify_fixture(&fixture, &device).unwrap();
    let names: Vec<&str> = comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["logits", "logits_incremental_from_prefill_minus_1"],
        "every output of the fixture is compared"
    );
    for c in &comparisons {
        println!(
            "{name}: {} {:?} max_abs_diff={:e}",
            c.name, c.shape, c.max_abs_diff
        );
        assert!(
            c.passes(fixture.tolerance),
            "{name}/{}: max abs diff {:e} > {:e}",
            c.name,
            c.max_abs_diff,
            fixture.tolerance
        );
    }
}

#[test]
fn base_model_matches_reference() {
    check("ar_base_small");
}

#[test]
fn video2world_model_with_cross_attention_matches_reference() {
    check("ar_video2world_small");
}
