//! Loading cosmos-predict1 AR checkpoints (`model.pt` state dicts, or safetensors with the same
//! names) into [`ArTransformer`].
//!
//! The reference's keys are `tok_embeddings.weight`, `layers.N.attention.{wq,wk,wv,wo}.weight`,
//! `layers.N.attention.{q,k}_norm.weight`, `layers.N.cross_attention.*`,
//! `layers.N.{attention,cross_attention,ffn}_norm.weight`, `layers.N.feed_forward.w{1,2,3}.weight`,
//! `norm.weight`, `output.weight`. Checkpoints may prefix them with `model.` (the training
//! wrapper), carry TransformerEngine `_extra_state` entries, or hold fused `wqkv` weights
//! (`fuse_qkv`); all three are handled here.

use std::path::Path;

use burn::tensor::{DType, TensorData};
use cosmos_nn::checkpoint::{Checkpoint, CheckpointError, KeyMap, LoadReport, load_module};

use crate::Result;
use crate::config::ArConfig;
use crate::model::ArTransformer;

/// Checkpoint key → module path: the attention projections `wq`/`wk`/`wv`/`wo` become the
/// shared attention module's `q`/`k`/`v`/`out`; TransformerEngine's `_extra_state` entries
/// are ignored.
pub fn key_map() -> Result<KeyMap> {
    Ok(KeyMap::new()
        .rule(r"(attention\.)wq\.", "${1}q.")?
        .rule(r"(attention\.)wk\.", "${1}k.")?
        .rule(r"(attention\.)wv\.", "${1}v.")?
        .rule(r"(attention\.)wo\.", "${1}out.")?
        .ignore(r"_extra_state$")?)
}

/// Normalises a reference checkpoint: strips a `model.` prefix carried by every key and
/// splits fused `wqkv` weights into `wq`/`wk`/`wv` (rows `[q | k | v]`).
pub fn prepare_checkpoint(checkpoint: Checkpoint, config: &ArConfig) -> Result<Checkpoint> {
    let all_prefixed = checkpoint
        .keys()
        .filter(|k| !k.ends_with("_extra_state"))
        .all(|k| k.starts_with("model."));
    let mut checkpoint = if all_prefixed && !checkpoint.is_empty() {
        checkpoint.strip_prefix("model.")
    } else {
        checkpoint
    };
    let fused: Vec<String> = checkpoint
        .keys()
        .filter(|k| k.ends_with(".wqkv.weight"))
        .map(str::to_string)
        .collect();
    let head_dim = config.head_dim();
    let q_rows = config.n_heads * head_dim;
    let kv_rows = config.kv_heads() * head_dim;
    for key in fused {
        let data = checkpoint.remove(&key).expect("listed key");
        let shape = data.shape().to_vec();
        if shape.len() != 2 || shape[0] != q_rows + 2 * kv_rows {
            return Err(CheckpointError::Mismatch {
                missing: vec![],
                unexpected: vec![],
                mis_shaped: vec![cosmos_nn::checkpoint::ShapeMismatch {
                    key,
                    expected: vec![q_rows + 2 * kv_rows, config.dim],
                    found: shape,
                }],
            }
            .into());
        }
        let cols = shape[1];
        let values: Vec<f32> =
            data.convert_dtype(DType::F32)
                .try_into_vec()
                .map_err(|e| CheckpointError::Data {
                    key: key.clone(),
                    message: format!("{e:?}"),
                })?;
        let prefix = key.trim_end_matches("wqkv.weight");
        let mut row = 0;
        for (name, rows) in [("wq", q_rows), ("wk", kv_rows), ("wv", kv_rows)] {
            let part = values[row * cols..(row + rows) * cols].to_vec();
            checkpoint.insert(
                format!("{prefix}{name}.weight"),
                TensorData::new(part, [rows, cols]),
            );
            row += rows;
        }
    }
    Ok(checkpoint)
}

impl ArTransformer {
    /// Loads a reference checkpoint's tensors (any float precision) into the network.
    /// Every missing, unexpected or mis-shaped key is reported in one error. Then the weights
    /// are laid out for decoding ([`ArTransformer::prepare_for_decoding`]).
    pub fn load_checkpoint(&mut self, checkpoint: Checkpoint) -> Result<LoadReport> {
        let checkpoint = prepare_checkpoint(checkpoint, self.config())?;
        let report = load_module(self, &checkpoint, &key_map()?)?;
        self.prepare_for_decoding();
        Ok(report)
    }
}

/// Builds the network of `config` on `device` and loads the checkpoint file at `path`
/// (safetensors or a PyTorch `model.pt`).
pub fn load(
    config: &ArConfig,
    path: impl AsRef<Path>,
    device: &burn::tensor::Device,
) -> Result<ArTransformer> {
    let checkpoint = Checkpoint::open(path.as_ref())?;
    let mut model = config.init(device)?;
    model.load_checkpoint(checkpoint)?;
    Ok(model)
}
