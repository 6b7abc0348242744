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

fn values(t: Tensor<5>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

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

/// A native key as diffusers' conversion script names it (`convert_cosmos_to_diffusers.py`'s
/// substring renames, in its order, for three resolution levels), plus attention inside a level
/// (absent from the published models, present in the small fixture) named like the middle's.
fn diffusers_key(native: &str) -> Option<String> {
    if ["wavelets", "_arange", "patch_size_buffer"]
        .iter()
        .any(|b| native.ends_with(b))
    {
        return None;
    }
    let mut key = native.to_string();
    for j in 0..4 {
        key = key.replace(&format!(".attn.{j}.0."), &format!(".attentions.{j}."));
        key = key.replace(&format!(".attn.{j}.1."), &format!(".temp_attentions.{j}."));
    }
    for (from, to) in [
        ("down.0", "down_blocks.0"),
        ("down.1", "down_blocks.1"),
        ("down.2", "down_blocks.2"),
        ("up.0", "up_blocks.2"),
        ("up.1", "up_blocks.1"),
        ("up.2", "up_blocks.0"),
        (".block.", ".resnets."),
        ("downsample", "downsamplers.0"),
        ("upsample", "upsamplers.0"),
        ("mid.block_1", "mid_block.resnets.0"),
        ("mid.attn_1.0", "mid_block.attentions.0"),
        ("mid.attn_1.1", "mid_block.temp_attentions.0"),
        ("mid.block_2", "mid_block.resnets.1"),
        (".q.conv3d", ".to_q"),
        (".k.conv3d", ".to_k"),
        (".v.conv3d", ".to_v"),
        (".proj_out.conv3d", ".to_out.0"),
        (".0.conv3d", ".conv_s"),
        (".1.conv3d", ".conv_t"),
        ("conv1.conv3d", "conv1"),
        ("conv2.conv3d", "conv2"),
        ("conv3.conv3d", "conv3"),
        ("nin_shortcut.conv3d", "conv_shortcut"),
        ("quant_conv.conv3d", "quant_conv"),
        ("post_quant_conv.conv3d", "post_quant_conv"),
    ] {
        key = key.replace(from, to);
    }
    Some(key)
}

/// A `vae/` folder as diffusers publishes it (`AutoencoderKLCosmos` config.json and
/// diffusion_pytorch_model.safetensors) and a native folder with NVIDIA's `mean_std.pt` load
/// the same weights; the statistics are applied as `(latent − mean) / std`.
#[test]
fn a_diffusers_vae_folder_and_mean_std_pt_load_as_published() {
    let root = common::temp_dir("diffusers_vae");
    let cv = Fixture::open(format!("{PARITY}/tokenizer/cv4x8x8_small.safetensors")).unwrap();
    let c = &cv.json["config"];
    let channels = c["channels"].as_u64().unwrap();
    let mut blocks = vec![channels];
    blocks.extend(
        c["channels_mult"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_u64().unwrap() * channels),
    );
    let diffusers_config = serde_json::json!({
        "_class_name": "AutoencoderKLCosmos",
        "_diffusers_version": "0.34.0",
        "in_channels": 3, "out_channels": 3,
        "latent_channels": c["latent_channels"],
        "encoder_block_out_channels": blocks,
        "decode_block_out_channels": blocks,
        "attention_resolutions": c["attn_resolutions"],
        "resolution": c["resolution"],
        "num_layers": c["num_res_blocks"],
        "patch_size": c["patch_size"],
        "patch_type": "haar",
        "scaling_factor": 1.0,
        "spatial_compression_ratio": c["spatial_compression"],
        "temporal_compression_ratio": c["temporal_compression"],
        "latents_mean": null,
        "latents_std": null
    });
    let vae = root.join("vae");
    std::fs::create_dir_all(&vae).unwrap();
    write_json(&vae.join("config.json"), &diffusers_config);
    let renamed: BTreeMap<String, TensorData> = cv
        .weights
        .tensors()
        .iter()
        .filter_map(|(k, v)| diffusers_key(k).map(|d| (d, v.clone())))
        .collect();
    assert!(
        renamed
            .keys()
            .any(|k| k.contains("mid_block.temp_attentions.0.to_q"))
    );
    assert!(
        renamed
            .keys()
            .any(|k| k.contains("up_blocks.0.upsamplers.0"))
    );
    common::write_safetensors(&renamed, &vae.join("diffusion_pytorch_model.safetensors"));

    let native = root.join("native");
    std::fs::create_dir_all(&native).unwrap();
    write_json(&native.join("config.json"), c);
    common::write_safetensors(cv.weights.tensors(), &native.join("model.safetensors"));
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/checkpoint/mean_std.pt"
        ),
        native.join("mean_std.pt"),
    )
    .unwrap();

    let device = Device::flex();
    let mut from_diffusers = cosmos_diffusion::pretrained::load_video_tokenizer_at(&vae, &device)
        .expect("the diffusers vae/ folder loads");
    assert!(from_diffusers.normalization.is_none());
    let mut from_native =
        cosmos_diffusion::pretrained::load_video_tokenizer_at(&native, &device).unwrap();
    let stats = from_native
        .normalization
        .clone()
        .expect("mean_std.pt is read");
    // make_mean_std.py: mean[c, t] = (c − 8)/16 + t/4, std[c, t] = 0.5 + c/32 + t/8.
    assert_eq!((stats.channels, stats.frames), (16, 2));
    for ch in 0..16 {
        for t in 0..2 {
            let (m, s) = (stats.mean[ch * 2 + t], stats.std[ch * 2 + t]);
            assert_eq!(m, (ch as f32 - 8.0) / 16.0 + t as f32 / 4.0);
            assert_eq!(s, 0.5 + ch as f32 / 32.0 + t as f32 / 8.0);
        }
    }

    use cosmos_diffusion::LatentEncoder;
    let mut noise = NoiseGenerator::new(3);
    let video = Tensor::<5>::from_data(
        TensorData::new(noise.normals(3 * 5 * 32 * 32), [1, 3, 5, 32, 32]),
        &device,
    )
    .clamp(-1.0, 1.0);
    let raw = from_diffusers.encode(video.clone()).unwrap();
    let normalized = from_native.encode(video).unwrap();
    let expected = values(stats.normalize(raw.clone()).unwrap());
    let got = values(normalized);
    assert_eq!(raw.dims(), [1, 16, 2, 4, 4]);
    let worst = expected
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-5,
        "diffusers and native latents differ by {worst}"
    );
    // And the statistics matter: without them the latents are not the normalized ones.
    let raw = values(raw);
    assert!(raw.iter().zip(&got).any(|(a, b)| (a - b).abs() > 0.1));
}
