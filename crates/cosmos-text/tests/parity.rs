//! Parity with `transformers.T5EncoderModel` on the fixtures in testdata/parity/text.

mod common;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use cosmos_nn::checkpoint::Checkpoint;
use cosmos_nn::parity::Fixture;
use cosmos_text::{T5Config, verify_fixture};

const TEXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/parity/text/");

fn fixture(name: &str) -> Fixture {
    Fixture::open(format!("{TEXT}{name}.safetensors")).unwrap()
}

fn check(name: &str) {
    let fixture = fixture(name);
    let comparisons = verify_fixture(&fixture, &Device::flex()).unwrap();
    assert_eq!(comparisons.len(), 1);
    let c = &comparisons[0];
    println!(
        "{name}: {} {:?} max_abs_diff = {:e}",
        c.name, c.shape, c.max_abs_diff
    );
    assert_eq!(c.shape, vec![2, 12, 32]);
    assert!(c.passes(fixture.tolerance), "{name}: {c:?}");
}

#[test]
fn relu_encoder_matches_transformers() {
    // The t5-11b architecture at toy size: inner width 4·16 = 64 ≠ d_model 32.
    check("t5_encoder_relu_small");
}

#[test]
fn gated_gelu_encoder_matches_transformers() {
    check("t5_v1_1_encoder_small");
}

/// The fixture's weights stored as bfloat16 in a real safetensors file, read back through
/// the checkpoint reader and loaded: outputs stay within bfloat16 rounding of the reference.
#[test]
fn bf16_safetensors_load() {
    let fixture = fixture("t5_encoder_relu_small");
    let device = Device::flex();
    let folder = common::temp_folder("bf16");
    let path = folder.join("model.safetensors");
    common::write_safetensors(fixture.weights.tensors(), DType::BF16, &path);
    let weights = Checkpoint::open(&path).unwrap();
    std::fs::remove_dir_all(&folder).ok();
    assert_eq!(weights.get("shared.weight").unwrap().dtype(), DType::BF16);

    let config = T5Config::from_json_value(&fixture.json).unwrap();
    let mut encoder = config.init(&device).unwrap();
    encoder.load_checkpoint(weights).unwrap();
    let ids = Tensor::<2, Int>::from_data(fixture.data("input_ids").unwrap().clone(), &device);
    let mask = fixture
        .tensor::<2>("attention_mask", &device)
        .unwrap()
        .greater_elem(0.5);
    let out = encoder.forward(ids, Some(mask)).unwrap();
    let c = fixture
        .compare("last_hidden_state", out.into_data())
        .unwrap();
    println!("bf16 weights: max_abs_diff = {:e}", c.max_abs_diff);
    // bf16 keeps 8 bits of mantissa (relative rounding ≤ 2^-9); through two blocks and
    // outputs of magnitude ~3 that is a few 1e-2. Exact f32 weights would give ~1e-6.
    assert!(c.max_abs_diff < 0.1, "{c:?}");
    assert!(
        c.max_abs_diff > 1e-5,
        "bf16 rounding should be visible: {c:?}"
    );
}

#[test]
fn tied_embedding_must_match_shared() {
    let fixture = fixture("t5_encoder_relu_small");
    let device = Device::flex();
    let config = T5Config::from_json_value(&fixture.json).unwrap();

    // Only encoder.embed_tokens: it becomes `shared`.
    let mut only_embed = fixture.weights.clone();
    only_embed.remove("shared.weight").unwrap();
    let mut encoder = config.init(&device).unwrap();
    encoder.load_checkpoint(only_embed).unwrap();
    let expected = fixture
        .weights
        .tensor::<2>("shared.weight", &device)
        .unwrap();
    let diff = (encoder.shared.weight.val() - expected)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert_eq!(diff, 0.0);

    // Both, but different: refused.
    let mut tampered = fixture.weights.clone();
    let shape = tampered.get("shared.weight").unwrap().shape().to_vec();
    let n: usize = shape.iter().product();
    tampered.insert(
        "encoder.embed_tokens.weight",
        TensorData::new(vec![0.5f32; n], shape),
    );
    let err = config
        .init(&device)
        .unwrap()
        .load_checkpoint(tampered)
        .unwrap_err();
    assert!(err.to_string().contains("ties"), "{err}");

    // A decoder and LM head (a full T5ForConditionalGeneration checkpoint) are skipped.
    let mut full = fixture.weights.clone();
    full.insert(
        "decoder.final_layer_norm.weight",
        TensorData::new(vec![1.0f32; 32], [32]),
    );
    full.insert(
        "lm_head.weight",
        TensorData::new(vec![0.0f32; 3200], [100, 32]),
    );
    let report = config.init(&device).unwrap().load_checkpoint(full).unwrap();
    assert_eq!(report.ignored.len(), 2);
}

#[test]
fn wrong_architecture_is_reported_by_key() {
    // The gated checkpoint into a ReLU config: every wi_0/wi_1 unexpected, every wi missing.
    let fixture = fixture("t5_v1_1_encoder_small");
    let mut config = T5Config::from_json_value(&fixture.json).unwrap();
    config.feed_forward_proj = "relu".into();
    let err = config
        .init(&Device::flex())
        .unwrap()
        .load_checkpoint(fixture.weights.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unexpected: 'encoder.block.1.layer.1.DenseReluDense.wi_0.weight'"),
        "{err}"
    );
    assert!(err.contains("missing"), "{err}");
}
