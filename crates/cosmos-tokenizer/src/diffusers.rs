//! The diffusers format of the continuous video tokenizer (`AutoencoderKLCosmos`, the `vae/`
//! folder of NVIDIA's tokenizer and pipeline repositories on Hugging Face): its `config.json`
//! is read into a [`TokenizerConfig`] and its key names are mapped back onto the reference's,
//! so such a folder loads as published.
//!
//! diffusers' conversion of NVIDIA's `autoencoder.jit` renames keys by substring (its
//! `convert_cosmos_to_diffusers.py`): `down.I` → `down_blocks.I`, `up.I` → `up_blocks.(L−1−I)` for the L levels of the decoder,
//! `.block.` → `.resnets.`, `downsample` / `upsample` → `downsamplers.0` / `upsamplers.0`,
//! `mid.block_1/2` → `mid_block.resnets.0/1`, `mid.attn_1.0/1` → `mid_block.attentions.0` /
//! `temp_attentions.0`, `q/k/v.conv3d` → `to_q/k/v`, `proj_out.conv3d` → `to_out.0`, the
//! factorized convolutions' `.0.conv3d` / `.1.conv3d` → `.conv_s` / `.conv_t`, and the plain
//! causal convolutions' `.conv3d` dropped (`nin_shortcut.conv3d` → `conv_shortcut`). This module
//! undoes that, segment by segment. The published models have attention only in the middle
//! blocks; attention inside a level (the small test configurations) is taken to follow the
//! same pattern as the middle (`attentions.J` / `temp_attentions.J` ↔ `attn.J.0` / `attn.J.1`).
//! Written here because no crate maps between these two namings.

use std::collections::BTreeMap;

use cosmos_nn::checkpoint::Checkpoint;

use crate::config::{PatchMethod, TokenizerConfig, TokenizerKind};
use crate::{Error, Result};

/// Whether a `config.json` value is diffusers' `AutoencoderKLCosmos`.
pub fn is_diffusers_config(value: &serde_json::Value) -> bool {
    value.get("_class_name").and_then(|v| v.as_str()) == Some("AutoencoderKLCosmos")
        || value.get("encoder_block_out_channels").is_some()
}

/// The reference configuration of an `AutoencoderKLCosmos` `config.json`.
pub fn config_from_diffusers(value: &serde_json::Value) -> Result<TokenizerConfig> {
    let bad = |m: String| Error::Config(format!("diffusers AutoencoderKLCosmos config: {m}"));
    let uint = |key: &str, default: Option<usize>| -> Result<usize> {
        match value.get(key) {
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| bad(format!("'{key}' must be a non-negative integer, found {v}"))),
            None => default.ok_or_else(|| bad(format!("'{key}' is missing"))),
        }
    };
    let list = |key: &str| -> Result<Vec<usize>> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .ok_or_else(|| bad(format!("'{key}' must be a list of integers")))?
            .iter()
            .map(|v| {
                v.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| bad(format!("'{key}' must be a list of integers, found {v}")))
            })
            .collect()
    };
    let blocks = list("encoder_block_out_channels")?;
    let (&channels, rest) = blocks
        .split_first()
        .ok_or_else(|| bad("'encoder_block_out_channels' is empty".into()))?;
    if channels == 0 || rest.is_empty() || rest.iter().any(|c| c % channels != 0 || *c == 0) {
        return Err(bad(format!(
            "'encoder_block_out_channels' {blocks:?}: expected the base channels followed by \
             positive multiples of them"
        )));
    }
    let patch_method = match value.get("patch_type").and_then(|v| v.as_str()) {
        None | Some("haar") => PatchMethod::Haar,
        Some("rearrange") => PatchMethod::Rearrange,
        Some(other) => return Err(bad(format!("unknown 'patch_type' '{other}'"))),
    };
    let latent = uint("latent_channels", Some(16))?;
    let config = TokenizerConfig {
        attn_resolutions: list("attention_resolutions").unwrap_or_else(|_| vec![32]),
        channels,
        channels_mult: rest.iter().map(|c| c / channels).collect(),
        in_channels: uint("in_channels", Some(3))?,
        out_channels: uint("out_channels", Some(3))?,
        num_res_blocks: uint("num_layers", Some(2))?,
        resolution: uint("resolution", Some(1024))?,
        patch_size: uint("patch_size", Some(4))?,
        patch_method,
        latent_channels: Some(latent),
        z_channels: latent,
        spatial_compression: uint("spatial_compression_ratio", Some(8))?,
        temporal_compression: Some(uint("temporal_compression_ratio", Some(8))?),
        // The rest (one group, no legacy mode, AE, factorized encoder and decoder, no
        // quantizer) is the reference's CV default.
        ..TokenizerConfig::reference_default(TokenizerKind::ContinuousVideo)
    };
    config.validate()?;
    Ok(config)
}

/// Whether a checkpoint uses diffusers' key names.
pub fn is_diffusers_checkpoint(checkpoint: &Checkpoint) -> bool {
    checkpoint.keys().any(|k| {
        k.contains(".down_blocks.")
            || k.contains(".up_blocks.")
            || k.contains(".mid_block.")
            || k.contains(".conv_s.")
    })
}

/// The reference name of a diffusers key, for a decoder with `levels` resolution levels
/// ([`TokenizerConfig::decoder_channels_mult`]`.len()`; diffusers counts `up_blocks` from the
/// coarsest level).
pub fn native_key(key: &str, levels: usize) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    let mut out: Vec<String> = Vec::with_capacity(parts.len() + 2);
    let mut i = 0;
    while i < parts.len() {
        let next = parts.get(i + 1).copied();
        let last = i + 2 == parts.len();
        match (parts[i], next) {
            ("down_blocks", Some(n)) => {
                out.extend(["down".into(), n.into()]);
                i += 2;
            }
            ("up_blocks", Some(n)) => {
                let level = n
                    .parse::<usize>()
                    .ok()
                    .filter(|&k| k < levels)
                    .map_or(n.to_string(), |k| (levels - 1 - k).to_string());
                out.extend(["up".into(), level]);
                i += 2;
            }
            ("mid_block", Some("resnets")) => {
                let block = match parts.get(i + 2) {
                    Some(&"0") => "block_1",
                    Some(&"1") => "block_2",
                    Some(other) => other,
                    None => "block",
                };
                out.extend(["mid".into(), block.into()]);
                i += 3;
            }
            ("mid_block", Some(kind @ ("attentions" | "temp_attentions"))) => {
                let half = if kind == "attentions" { "0" } else { "1" };
                out.extend(["mid".into(), "attn_1".into(), half.into()]);
                i += 3;
            }
            ("resnets", _) => {
                out.push("block".into());
                i += 1;
            }
            (kind @ ("attentions" | "temp_attentions"), Some(j)) => {
                let half = if kind == "attentions" { "0" } else { "1" };
                out.extend(["attn".into(), j.into(), half.into()]);
                i += 2;
            }
            ("downsamplers", Some("0")) => {
                out.push("downsample".into());
                i += 2;
            }
            ("upsamplers", Some("0")) => {
                out.push("upsample".into());
                i += 2;
            }
            (q @ ("to_q" | "to_k" | "to_v"), _) => {
                out.extend([q[3..].to_string(), "conv3d".into()]);
                i += 1;
            }
            ("to_out", Some("0")) => {
                out.extend(["proj_out".into(), "conv3d".into()]);
                i += 2;
            }
            ("conv_s", _) => {
                out.extend(["0".into(), "conv3d".into()]);
                i += 1;
            }
            ("conv_t", _) => {
                out.extend(["1".into(), "conv3d".into()]);
                i += 1;
            }
            ("conv_shortcut", _) => {
                out.extend(["nin_shortcut".into(), "conv3d".into()]);
                i += 1;
            }
            (conv @ ("conv1" | "conv2" | "conv3" | "quant_conv" | "post_quant_conv"), _)
                if last =>
            {
                out.extend([conv.to_string(), "conv3d".into()]);
                i += 1;
            }
            (other, _) => {
                out.push(other.into());
                i += 1;
            }
        }
    }
    out.join(".")
}

/// `checkpoint` with diffusers' key names mapped onto the reference's (`levels`: the decoder's,
/// see [`native_key`]).
pub fn to_native(checkpoint: &Checkpoint, levels: usize) -> Checkpoint {
    let tensors: BTreeMap<String, _> = checkpoint
        .tensors()
        .iter()
        .map(|(k, v)| (native_key(k, levels), v.clone()))
        .collect();
    Checkpoint::from_tensors(tensors)
}
