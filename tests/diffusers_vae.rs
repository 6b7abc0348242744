//! diffusers' `vae/` folder (`AutoencoderKLCosmos`) and NVIDIA's `mean_std.pt` load as
//! published: the CV4x8x8 parity fixture's weights under diffusers' key names and config, and
//! the same weights with a `mean_std.pt` (testdata/checkpoint/make_mean_std.py), through
//! `cosmos_diffusion::pretrained::load_video_tokenizer_at`, the loader `cosmos generate` and
//! `cosmos train dit` use for a pipeline's `vae/`.

use std::collections::BTreeMap;
use std::path::Path;

use cosmos_nn::parity::{Fixture, values};

mod common;
use common::{save_f32, testdata};

fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// A native key as diffusers' conversion script names it (`convert_cosmos_to_diffusers.py`'s
/// substring renames, in its order; its `up.I` → `up_blocks.(2−I)` written for
/// `decoder_levels` levels), plus attention inside a level (absent from the published models,
/// present in the small fixture) named like the middle's.
fn diffusers_key(native: &str, decoder_levels: usize) -> Option<String> {
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
    if let Some(i) = (0..decoder_levels).find(|i| key.contains(&format!("up.{i}."))) {
        key = key.replace(
            &format!("up.{i}."),
            &format!("up_blocks.{}.", decoder_levels - 1 - i),
        );
    }
    for (from, to) in [
        ("down.0", "down_blocks.0"),
        ("down.1", "down_blocks.1"),
        ("down.2", "down_blocks.2"),
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
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cv = Fixture::open(testdata("parity/tokenizer/cv4x8x8_small.safetensors")).unwrap();
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
    // The CV decoder with 4× in time has levels [2, 4] (cosmos_tokenizer's rule).
    let decoder_levels = cosmos_tokenizer::TokenizerConfig::from_json(c)
        .unwrap()
        .decoder_channels_mult()
        .len();
    let vae = root.join("vae");
    std::fs::create_dir_all(&vae).unwrap();
    write_json(&vae.join("config.json"), &diffusers_config);
    let renamed: BTreeMap<String, _> = cv
        .weights
        .tensors()
        .iter()
        .filter_map(|(k, v)| diffusers_key(k, decoder_levels).map(|d| (d, v.clone())))
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
    save_f32(&renamed, &vae.join("diffusion_pytorch_model.safetensors"));

    let native = root.join("native");
    std::fs::create_dir_all(&native).unwrap();
    write_json(&native.join("config.json"), c);
    save_f32(cv.weights.tensors(), &native.join("model.safetensors"));
    std::fs::copy(
        testdata("checkpoint/mean_std.pt"),
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
    use cosmos_diffusion::NoiseGenerator;
    use cosmos_nn::burn::tensor::{Device, Tensor, TensorData};
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

#[test]
fn published_diffusers_names_map_back_onto_nvidias() {
    for (diffusers, native) in [
        (
            "encoder.down_blocks.0.resnets.1.conv1.conv_s.weight",
            "encoder.down.0.block.1.conv1.0.conv3d.weight",
        ),
        (
            "encoder.down_blocks.2.resnets.0.conv_shortcut.bias",
            "encoder.down.2.block.0.nin_shortcut.conv3d.bias",
        ),
        (
            "encoder.down_blocks.1.downsamplers.0.conv3.weight",
            "encoder.down.1.downsample.conv3.conv3d.weight",
        ),
        (
            "decoder.up_blocks.0.upsamplers.0.conv1.weight",
            "decoder.up.2.upsample.conv1.conv3d.weight",
        ),
        (
            "decoder.up_blocks.2.resnets.2.norm1.norm.weight",
            "decoder.up.0.block.2.norm1.norm.weight",
        ),
        (
            "encoder.mid_block.resnets.1.conv2.conv_t.bias",
            "encoder.mid.block_2.conv2.1.conv3d.bias",
        ),
        (
            "decoder.mid_block.attentions.0.to_q.weight",
            "decoder.mid.attn_1.0.q.conv3d.weight",
        ),
        (
            "decoder.mid_block.temp_attentions.0.to_out.0.bias",
            "decoder.mid.attn_1.1.proj_out.conv3d.bias",
        ),
        (
            "encoder.mid_block.attentions.0.norm.norm.weight",
            "encoder.mid.attn_1.0.norm.norm.weight",
        ),
        ("quant_conv.weight", "quant_conv.conv3d.weight"),
        ("post_quant_conv.bias", "post_quant_conv.conv3d.bias"),
        (
            "encoder.conv_in.conv_s.weight",
            "encoder.conv_in.0.conv3d.weight",
        ),
        (
            "decoder.conv_out.conv_t.bias",
            "decoder.conv_out.1.conv3d.bias",
        ),
    ] {
        assert_eq!(
            cosmos_tokenizer::diffusers::native_key(diffusers, 3),
            native,
            "{diffusers}"
        );
    }
}

#[test]
fn the_published_autoencoderklcosmos_config_reads() {
    let value = serde_json::json!({
        "_class_name": "AutoencoderKLCosmos",
        "in_channels": 3, "out_channels": 3, "latent_channels": 16,
        "encoder_block_out_channels": [128, 256, 512, 512],
        "decode_block_out_channels": [256, 512, 512, 512],
        "attention_resolutions": [32], "resolution": 1024, "num_layers": 2,
        "patch_size": 4, "patch_type": "haar", "scaling_factor": 1.0,
        "spatial_compression_ratio": 8, "temporal_compression_ratio": 8,
        "latents_mean": null, "latents_std": null
    });
    assert!(cosmos_tokenizer::diffusers::is_diffusers_config(&value));
    let config = cosmos_tokenizer::diffusers::config_from_diffusers(&value).unwrap();
    let mut preset = cosmos_tokenizer::TokenizerConfig::preset("CV8x8x8").unwrap();
    preset.num_groups = config.num_groups;
    assert_eq!(config.channels, preset.channels);
    assert_eq!(config.channels_mult, preset.channels_mult);
    assert_eq!(config.spatial_compression, preset.spatial_compression);
    assert_eq!(config.temporal_compression, preset.temporal_compression);
    assert_eq!(config.num_res_blocks, preset.num_res_blocks);
    assert_eq!(config.attn_resolutions, preset.attn_resolutions);
    assert!(
        cosmos_tokenizer::diffusers::config_from_diffusers(
            &serde_json::json!({"encoder_block_out_channels": []})
        )
        .is_err()
    );
}
