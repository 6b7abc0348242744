//! Loading Hugging Face T5 checkpoints (`T5EncoderModel`, or a whole
//! `T5ForConditionalGeneration` whose decoder is skipped) into a [`T5Encoder`].
//!
//! The keys are Hugging Face's (`shared.weight`,
//! `encoder.block.0.layer.0.SelfAttention.q.weight`, `encoder.block.0.layer.1.DenseReluDense.wi.weight`,
//! `encoder.final_layer_norm.weight`, ...). Any float precision loads (f32, f16, bf16 are
//! converted to f32). Sharded checkpoints (`model.safetensors.index.json`) are merged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::tensor::DType;
use cosmos_nn::checkpoint::{Checkpoint, KeyMap, LoadReport, load_module};

use crate::model::T5Encoder;
use crate::{Error, Result};

/// The tied copy of `shared.weight` that Hugging Face checkpoints may also carry.
pub const EMBED_TOKENS_KEY: &str = "encoder.embed_tokens.weight";
/// The token embedding.
pub const SHARED_KEY: &str = "shared.weight";

/// Hugging Face key → module path: the two CamelCase module names become snake case; the
/// decoder and LM head of a full T5 checkpoint are skipped, as `T5EncoderModel` skips them.
pub fn key_map() -> Result<KeyMap> {
    Ok(KeyMap::new()
        .rule(r"\.SelfAttention\.", ".self_attention.")?
        .rule(r"\.DenseReluDense\.", ".dense_relu_dense.")?
        .ignore(r"^decoder\.")?
        .ignore(r"^lm_head\.")?
        .ignore(r"^encoder\.embed_tokens\.weight$")?)
}

impl T5Encoder {
    /// Loads Hugging Face weights into the encoder.
    ///
    /// T5 ties `encoder.embed_tokens` to `shared`: when a checkpoint holds both they must be
    /// equal; when it holds only `encoder.embed_tokens.weight` that table becomes `shared`.
    /// Every missing, unexpected or mis-shaped key is reported at once.
    pub fn load_checkpoint(&mut self, mut checkpoint: Checkpoint) -> Result<LoadReport> {
        if let Some(embed) = checkpoint.remove(EMBED_TOKENS_KEY) {
            match checkpoint.get(SHARED_KEY) {
                None => checkpoint.insert(SHARED_KEY, embed),
                Some(shared) => {
                    let same = shared.shape() == embed.shape()
                        && if shared.dtype() == embed.dtype() {
                            shared.as_bytes() == embed.as_bytes()
                        } else {
                            shared.clone().convert_dtype(DType::F32).as_bytes()
                                == embed.convert_dtype(DType::F32).as_bytes()
                        };
                    if !same {
                        return Err(Error::Weights(format!(
                            "'{EMBED_TOKENS_KEY}' differs from '{SHARED_KEY}': T5 ties the two tables, expected equal tensors"
                        )));
                    }
                }
            }
        }
        Ok(load_module(self, &checkpoint, &key_map()?)?)
    }
}

/// Reads the weights of a Hugging Face model folder or file: a single checkpoint file, or a
/// folder holding `model.safetensors`, a sharded `model.safetensors.index.json`, or (when the
/// checkpoint reader supports PyTorch pickles) `pytorch_model.bin`.
pub fn read_weights(path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    if path.is_file() {
        return Ok(Checkpoint::open(path)?);
    }
    let single = path.join("model.safetensors");
    if single.is_file() {
        return Ok(Checkpoint::open(single)?);
    }
    let index = path.join("model.safetensors.index.json");
    if index.is_file() {
        return read_sharded(&index);
    }
    let pickle = path.join("pytorch_model.bin");
    if pickle.is_file() {
        return Ok(Checkpoint::open(pickle)?);
    }
    Err(Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "expected a checkpoint file, or a folder with model.safetensors, model.safetensors.index.json or pytorch_model.bin",
        ),
    })
}

/// Merges the shards an `*.index.json` names in its `weight_map`.
fn read_sharded(index: &Path) -> Result<Checkpoint> {
    let json_error = |message: String| Error::Json {
        path: index.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(index).map_err(|source| Error::Io {
        path: index.display().to_string(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| json_error(format!("not JSON: {e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| json_error("expected an object 'weight_map' {key: shard file}".into()))?;
    let mut shards = BTreeSet::new();
    for (key, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| json_error(format!("weight_map['{key}'] is not a file name")))?;
        shards.insert(file.to_string());
    }
    let folder = index.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut merged: Option<Checkpoint> = None;
    for shard in shards {
        let part = Checkpoint::open(folder.join(PathBuf::from(shard)))?;
        match &mut merged {
            None => merged = Some(part),
            Some(all) => all.merge(part),
        }
    }
    merged.ok_or_else(|| json_error("'weight_map' names no shard".into()))
}
