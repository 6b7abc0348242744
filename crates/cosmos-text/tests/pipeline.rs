//! The prompt → embeddings pipeline: a Hugging Face style folder (config.json, spiece.model,
//! sharded safetensors) read by `TextEncoder::from_pretrained`, padding to a fixed length,
//! zeroing past each prompt's length, and the bad-input errors.

mod common;

use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use cosmos_nn::parity::Fixture;
use cosmos_text::{Error, T5Config, T5Tokenizer, TextEncoder, Truncation};

const TEXT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/parity/text/");
const SPM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/spm/tiny_t5.model");

/// A T5 folder from the ReLU fixture's weights, the embedding table grown from 100 to the
/// tiny tokenizer's 300 rows, written as two safetensors shards with an index.
fn t5_folder() -> std::path::PathBuf {
    let fixture = Fixture::open(format!("{TEXT}t5_encoder_relu_small.safetensors")).unwrap();
    let folder = common::temp_folder("pretrained");

    let mut config = fixture.json["config"].clone();
    config["vocab_size"] = 300.into();
    std::fs::write(folder.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(SPM, folder.join("spiece.model")).unwrap();

    let mut tensors: BTreeMap<String, TensorData> = fixture.weights.tensors().clone();
    let shared: Vec<f32> = tensors["shared.weight"]
        .clone()
        .convert_dtype(DType::F32)
        .try_into_vec()
        .unwrap();
    let grown: Vec<f32> = shared
        .iter()
        .copied()
        .chain((0..200 * 32).map(|i| ((i % 17) as f32 - 8.0) * 0.05))
        .collect();
    let grown = TensorData::new(grown, [300, 32]);
    tensors.insert("shared.weight".into(), grown.clone());
    tensors.insert("encoder.embed_tokens.weight".into(), grown);

    let shard = |key: &str| {
        if key.starts_with("encoder.block.0.") {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        }
    };
    let mut weight_map = serde_json::Map::new();
    for file in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        let part: Vec<(&String, &TensorData)> =
            tensors.iter().filter(|(k, _)| shard(k) == file).collect();
        for (k, _) in &part {
            weight_map.insert((*k).clone(), file.into());
        }
        common::write_safetensors(part, DType::F32, &folder.join(file));
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(
        folder.join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    folder
}

#[test]
fn prompts_become_zero_padded_embeddings() {
    let device = Device::flex();
    let folder = t5_folder();
    let text = TextEncoder::from_pretrained(&folder, &device).unwrap();
    std::fs::remove_dir_all(&folder).ok();
    assert_eq!(text.max_length(), 512);

    let prompts = ["A red car drives along a wet street.", "hello"];
    let out = text.encode(&prompts, &device).unwrap();
    assert_eq!(out.embeddings.dims(), [2, 512, 32]);
    let expected_lengths: Vec<usize> = prompts
        .iter()
        .map(|p| text.tokenizer().encode(p).unwrap().len())
        .collect();
    assert_eq!(out.lengths, expected_lengths);
    assert_eq!(out.truncated, vec![false, false]);

    let values: Vec<f32> = out.embeddings.clone().into_data().try_into_vec().unwrap();
    for (b, &n) in out.lengths.iter().enumerate() {
        let row = &values[b * 512 * 32..(b + 1) * 512 * 32];
        assert!(
            row[..n * 32].iter().any(|v| v.abs() > 1e-3),
            "prompt {b} has empty embeddings"
        );
        assert!(
            row[n * 32..].iter().all(|&v| v == 0.0),
            "prompt {b} not zeroed past {n}"
        );
    }

    // Padding changes nothing for the real tokens: the padded prompt's embeddings equal
    // those of the prompt encoded alone, unpadded and unmasked.
    for (b, prompt) in prompts.iter().enumerate() {
        let ids: Vec<i64> = text
            .tokenizer()
            .encode(prompt)
            .unwrap()
            .into_iter()
            .map(i64::from)
            .collect();
        let n = ids.len();
        let alone = text
            .encoder()
            .forward(
                Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), &device),
                None,
            )
            .unwrap();
        let padded = out.embeddings.clone().slice([b..b + 1, 0..n, 0..32]);
        let diff = (alone - padded).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "prompt {b}: padded vs alone differ by {diff}");
    }
}

#[test]
fn long_prompts_are_truncated_or_refused_and_empty_ones_refused() {
    let device = Device::flex();
    let config = T5Config {
        vocab_size: 300,
        d_model: 16,
        d_kv: 8,
        d_ff: 24,
        num_layers: 1,
        num_heads: 3,
        feed_forward_proj: "gated-gelu".into(),
        ..T5Config::default()
    };
    let tokenizer = T5Tokenizer::from_file(SPM).unwrap();
    let text = TextEncoder::new(tokenizer.clone(), config.init(&device).unwrap())
        .unwrap()
        .with_max_length(16)
        .unwrap();
    let long = "The kitchen is bright and clean, a chef chops onions and tomatoes.";
    let out = text.encode(&["a cat", long], &device).unwrap();
    assert_eq!(out.embeddings.dims(), [2, 16, 16]);
    assert_eq!(out.lengths[1], 16);
    assert_eq!(out.truncated, vec![false, true]);
    assert_eq!(out.warnings.len(), 1);
    assert!(
        out.warnings[0].starts_with("prompt 1 is"),
        "{}",
        out.warnings[0]
    );

    let strict = text.with_truncation(Truncation::Refuse);
    assert!(matches!(
        strict.encode(&["a cat", long], &device),
        Err(Error::PromptTooLong {
            index: 1,
            max_length: 16,
            ..
        })
    ));
    assert!(matches!(
        strict.encode(&["a cat", ""], &device),
        Err(Error::EmptyPrompt { index: 1, .. })
    ));
    assert!(matches!(
        strict.encode::<&str>(&[], &device),
        Err(Error::NoPrompts)
    ));

    // A tokenizer whose ids do not fit the embedding table is refused up front.
    let small = T5Config {
        vocab_size: 100,
        ..config
    };
    assert!(matches!(
        TextEncoder::new(tokenizer, small.init(&device).unwrap()),
        Err(Error::Config(_))
    ));
}
