//! End to end at toy size on CPU with the real components: a model folder in the diffusers
//! layout holding a DiT (the parity fixtures' weights), a T5 encoder (`cosmos-text`, the ReLU
//! fixture's weights with its embedding table grown to the tiny SentencePiece model's 300
//! pieces) and a Cosmos CV tokenizer (`cosmos-tokenizer`, the cv4x8x8 fixture: 4× in time, 8× in
//! space), loaded by `load_pipeline` and run for Text2World and Video2World.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cosmos_diffusion::pretrained::{ModelPaths, load_pipeline};
use cosmos_diffusion::{GenerationRequest, NoiseGenerator, SamplerConfig, VideoCondition};
use cosmos_nn::burn::tensor::{DType, Device, Tensor, TensorData};
use cosmos_nn::parity::Fixture;

const PARITY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/parity");
const SPM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cosmos-text/testdata/spm/tiny_t5.model"
);

fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// A model folder around the DiT fixture `dit`.
fn model_folder(dit: &str, tag: &str) -> PathBuf {
    let root = common::temp_dir(tag);
    for d in ["transformer", "text_encoder", "tokenizer", "vae"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let f = Fixture::open(format!("{PARITY}/diffusion/{dit}.safetensors")).unwrap();
    write_json(&root.join("transformer/config.json"), &f.json["config"]);
    common::write_safetensors(
        f.weights.tensors(),
        &root.join("transformer/diffusion_pytorch_model.safetensors"),
    );

    let t5 = Fixture::open(format!("{PARITY}/text/t5_encoder_relu_small.safetensors")).unwrap();
    let mut config = t5.json["config"].clone();
    config["vocab_size"] = 300.into();
    write_json(&root.join("text_encoder/config.json"), &config);
    let mut weights: BTreeMap<String, TensorData> = t5.weights.tensors().clone();
    let shared: Vec<f32> = weights["shared.weight"]
        .clone()
        .convert_dtype(DType::F32)
        .try_into_vec()
        .unwrap();
    let mut extra = NoiseGenerator::new(9);
    let grown: Vec<f32> = shared.into_iter().chain(extra.normals(200 * 32)).collect();
    weights.insert("shared.weight".into(), TensorData::new(grown, [300, 32]));
    weights.remove("encoder.embed_tokens.weight");
    common::write_safetensors(&weights, &root.join("text_encoder/model.safetensors"));
    std::fs::copy(SPM, root.join("tokenizer/spiece.model")).unwrap();

    let cv = Fixture::open(format!("{PARITY}/tokenizer/cv4x8x8_small.safetensors")).unwrap();
    let mut vae = cv.json["config"].clone();
    // Per-channel latent statistics (one frame, reused for every latent frame).
    vae["latents_mean"] = serde_json::json!((0..16).map(|c| 0.01 * c as f64).collect::<Vec<_>>());
    vae["latents_std"] =
        serde_json::json!((0..16).map(|c| 0.5 + 0.05 * c as f64).collect::<Vec<_>>());
    write_json(&root.join("vae/config.json"), &vae);
    common::write_safetensors(cv.weights.tensors(), &root.join("vae/model.safetensors"));
    root
}

use cosmos_nn::parity::values;

fn request(prompt: &str) -> GenerationRequest {
    GenerationRequest {
        frames: 9,
        height: 32,
        width: 32,
        sampler: SamplerConfig::euler(3),
        negative_prompt: Some("blurry, distorted".into()),
        seed: 3,
        ..GenerationRequest::new(prompt)
    }
}

#[test]
fn text2world_from_a_model_folder() {
    let device = Device::flex();
    let root = model_folder("dit_text2world_small", "t2w");
    let paths = ModelPaths::find(&root).unwrap();
    assert_eq!(paths.transformer, root.join("transformer"));
    assert_eq!(paths.video_tokenizer, root.join("vae"));
    let mut pipeline = load_pipeline(&paths, &device).unwrap();
    assert!(pipeline.encoder.is_none());

    let mut steps = 0;
    let a = pipeline
        .generate(&request("a robot walks through a warehouse"), &mut |_| {
            steps += 1
        })
        .unwrap();
    assert_eq!(steps, 3);
    assert_eq!(a.network_calls, 6);
    assert_eq!(a.video.dims(), [1, 3, 9, 32, 32]);
    assert_eq!(a.latent.dims(), [1, 16, 3, 4, 4]);
    let va = values(a.video);
    assert!(va.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    let b = pipeline
        .generate(&request("a robot walks through a warehouse"), &mut |_| {})
        .unwrap();
    assert_eq!(va, values(b.video), "deterministic given the seed");
    let mut plain = request("a robot walks through a warehouse");
    plain.negative_prompt = None;
    let c = pipeline.generate(&plain, &mut |_| {}).unwrap();
    assert_ne!(
        values(a.latent),
        values(c.latent),
        "the negative prompt matters"
    );

    // An over-long prompt is cut to 512 tokens with a warning.
    let long = vec!["robot"; 700].join(" ");
    let g = pipeline.generate(&request(&long), &mut |_| {}).unwrap();
    assert_eq!(g.warnings.len(), 1, "{:?}", g.warnings);
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn video2world_from_a_model_folder() {
    let device = Device::flex();
    let root = model_folder("dit_video2world_small", "v2w");
    let mut pipeline = load_pipeline(&ModelPaths::find(&root).unwrap(), &device).unwrap();
    assert!(pipeline.encoder.is_some());
    let input = NoiseGenerator::new(4)
        .tensor([1, 3, 5, 32, 32], &device)
        .tanh();
    let mut r = request("the scene continues");
    r.condition = Some(VideoCondition {
        video: input,
        frames: 5,
        augment_sigma: 0.001,
    });
    let g = pipeline.generate(&r, &mut |_| {}).unwrap();
    assert_eq!(g.video.dims(), [1, 3, 9, 32, 32]);
    assert!(values(g.video).iter().all(|v| v.is_finite()));
    // 6 frames cannot condition a 4×-in-time tokenizer (1 + k·4 needed).
    let mut bad = request("the scene continues");
    bad.condition = Some(VideoCondition {
        video: Tensor::zeros([1, 3, 6, 32, 32], &device),
        frames: 6,
        augment_sigma: 0.001,
    });
    assert!(pipeline.generate(&bad, &mut |_| {}).is_err());
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn incomplete_model_folders_are_refused() {
    let root = common::temp_dir("empty_model");
    assert!(ModelPaths::find(&root).is_err());
    assert!(ModelPaths::find(root.join("missing")).is_err());
    std::fs::remove_dir_all(root).ok();
}
