//! Where weights come from: NVIDIA's checkpoints (`encoder.jit`, `decoder.jit`,
//! `autoencoder.jit`) or safetensors with the same key names, mapped onto the modules; a
//! diffusers `vae/` folder's names are first mapped back onto these ([`crate::diffusers`]).
//!
//! The key names are the reference modules' `state_dict` keys. The only renaming is for the
//! two-element attention `nn.Sequential` of the video networks (`attn_1.0.` → `attn_1.spatial.`,
//! `attn_1.1.` → `attn_1.temporal.`, likewise `attn.N.0.` / `attn.N.1.`). TorchScript archives
//! also carry buffers the model recomputes (Haar filters, FSQ tables under `inv_quant.` /
//! `quantizer.`); they are ignored.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use cosmos_nn::checkpoint::{Checkpoint, CheckpointError, KeyMap, load_module};

use crate::config::TokenizerConfig;
use crate::model::{DecoderHalf, EncoderHalf};
use crate::{Error, Result};

/// Files looked for in a model folder, in order of preference.
const FOLDER_FILES: [&str; 3] = ["encoder.jit", "decoder.jit", "autoencoder.jit"];

/// The key map of one half (`encoder` or `decoder`) of a tokenizer.
pub fn key_map(video: bool, half: Half) -> Result<KeyMap> {
    let mut map = KeyMap::new();
    if video {
        map = map
            .rule(r"\.attn_1\.0\.", ".attn_1.spatial.")?
            .rule(r"\.attn_1\.1\.", ".attn_1.temporal.")?
            .rule(r"\.attn\.(\d+)\.0\.", ".attn.$1.spatial.")?
            .rule(r"\.attn\.(\d+)\.1\.", ".attn.$1.temporal.")?;
    }
    map = map
        .ignore(r"(^|\.)(wavelets|_arange|patch_size_buffer)$")?
        .ignore(r"^(inv_quant\.)?quantizer\.")?;
    map = match half {
        Half::Encoder => map.ignore(r"^(decoder|post_quant_conv|inv_quant)\.")?,
        Half::Decoder => map.ignore(r"^(encoder|quant_conv)\.")?,
    };
    Ok(map)
}

/// One half of a tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// `encoder.*` and `quant_conv.*`.
    Encoder,
    /// `post_quant_conv.*` and `decoder.*`.
    Decoder,
}

/// Builds and loads the halves whose keys `checkpoint` holds.
pub(crate) fn load_halves(
    config: &TokenizerConfig,
    checkpoint: &Checkpoint,
    device: &Device,
) -> Result<(Option<EncoderHalf>, Option<DecoderHalf>)> {
    let video = config.kind()?.is_video();
    // diffusers' `AutoencoderKLCosmos` names (a `vae/` folder) onto the reference's.
    let renamed;
    let checkpoint = if video && crate::diffusers::is_diffusers_checkpoint(checkpoint) {
        renamed = crate::diffusers::to_native(checkpoint, config.decoder_channels_mult().len());
        &renamed
    } else {
        checkpoint
    };
    let has = |prefix: &str| checkpoint.keys().any(|k| k.starts_with(prefix));
    if !has("encoder.") && !has("decoder.") {
        let sample: Vec<&str> = checkpoint.keys().take(5).collect();
        return Err(Error::Checkpoint(CheckpointError::Format {
            path: checkpoint
                .source()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "<checkpoint>".into()),
            message: format!(
                "holds no tokenizer weights (no 'encoder.*' or 'decoder.*' keys; first keys: {sample:?})"
            ),
        }));
    }
    let encoder = if has("encoder.") {
        let mut half = EncoderHalf::new(config, device);
        let map = key_map(video, Half::Encoder)?;
        match &mut half {
            EncoderHalf::Video(m) => load_module(m, checkpoint, &map)?,
            EncoderHalf::Image(m) => load_module(m, checkpoint, &map)?,
        };
        Some(half)
    } else {
        None
    };
    let decoder = if has("decoder.") {
        let mut half = DecoderHalf::new(config, device);
        let map = key_map(video, Half::Decoder)?;
        match &mut half {
            DecoderHalf::Video(m) => load_module(m, checkpoint, &map)?,
            DecoderHalf::Image(m) => load_module(m, checkpoint, &map)?,
        };
        Some(half)
    } else {
        None
    };
    Ok((encoder, decoder))
}

fn io_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The checkpoint files of a model path: the path itself if it is a file; in a folder,
/// `encoder.jit` and/or `decoder.jit`, else `autoencoder.jit`, else every `*.safetensors`.
pub fn checkpoint_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(io_error(path, "no such file or folder"));
    }
    let present: Vec<PathBuf> = FOLDER_FILES
        .iter()
        .map(|name| path.join(name))
        .filter(|p| p.is_file())
        .collect();
    let halves: Vec<PathBuf> = present
        .iter()
        .filter(|p| !p.ends_with("autoencoder.jit"))
        .cloned()
        .collect();
    if !halves.is_empty() {
        return Ok(halves);
    }
    if !present.is_empty() {
        return Ok(present);
    }
    let mut safetensors: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| io_error(path, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    safetensors.sort();
    if safetensors.is_empty() {
        return Err(io_error(
            path,
            "holds no encoder.jit, decoder.jit, autoencoder.jit or *.safetensors",
        ));
    }
    Ok(safetensors)
}

/// Reads and merges the checkpoint files of a model path (see [`checkpoint_files`]).
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let mut merged: Option<Checkpoint> = None;
    for file in checkpoint_files(path)? {
        let checkpoint = Checkpoint::open(&file)?;
        match &mut merged {
            None => merged = Some(checkpoint),
            Some(all) => all.merge(checkpoint),
        }
    }
    merged.ok_or_else(|| io_error(path, "no checkpoint file"))
}

/// The config of a model path: `config.json` in the folder (or next to the file), else the
/// preset named in the path.
pub fn find_config(path: &Path) -> Result<TokenizerConfig> {
    let folder = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let json_path = folder.join("config.json");
    if json_path.is_file() {
        return TokenizerConfig::from_json_file(&json_path);
    }
    let text = path.display().to_string();
    match TokenizerConfig::preset_in(&text) {
        Some(name) => TokenizerConfig::preset(name),
        None => Err(Error::Config(format!(
            "cannot tell which tokenizer {text} holds: add a config.json, name the folder after a preset ({}) or pass a config",
            crate::config::PRESETS.join(", ")
        ))),
    }
}
