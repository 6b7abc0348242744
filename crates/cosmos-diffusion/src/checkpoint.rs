//! Where DiT weights come from: diffusers-format safetensors (`CosmosTransformer3DModel`
//! names) and cosmos-predict1 `model.pt` state dicts (`net.`-prefixed `GeneralDIT` names), both
//! mapped onto [`CosmosDit`]'s fields by a table of renaming rules (data, not code).
//!
//! The cosmos-predict1 → diffusers correspondence is the one diffusers' conversion script for
//! Cosmos 1.0 documents (`scripts/convert_cosmos_to_diffusers.py`); both are then renamed onto
//! the shared attention module's `q` / `k` / `v` / `out` / `q_norm` / `k_norm`.

use std::path::{Path, PathBuf};

use cosmos_nn::checkpoint::{Checkpoint, KeyMap, LoadReport, load_module};

use crate::config::DitConfig;
use crate::dit::CosmosDit;
use crate::{Error, Result};

/// The key naming of a DiT checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyNaming {
    /// diffusers' `CosmosTransformer3DModel` (`transformer_blocks.0.attn1.to_q.weight`).
    Diffusers,
    /// cosmos-predict1's `GeneralDIT` inside the model (`net.blocks.block0.blocks.0.block.attn.to_q.0.weight`).
    CosmosPredict1,
}

/// Renaming rules: (regex, replacement), applied in order.
const DIFFUSERS_RULES: &[(&str, &str)] = &[
    (r"\.attn([12])\.to_q\.", ".attn$1.q."),
    (r"\.attn([12])\.to_k\.", ".attn$1.k."),
    (r"\.attn([12])\.to_v\.", ".attn$1.v."),
    (r"\.attn([12])\.to_out\.0\.", ".attn$1.out."),
    (r"\.attn([12])\.norm_q\.", ".attn$1.q_norm."),
    (r"\.attn([12])\.norm_k\.", ".attn$1.k_norm."),
    (r"\.ff\.net\.0\.proj\.", ".ff.proj_in."),
    (r"\.ff\.net\.2\.", ".ff.proj_out."),
];

const PREDICT1_RULES: &[(&str, &str)] = &[
    (r"^net\.", ""),
    (r"^x_embedder\.proj\.1\.", "patch_embed.proj."),
    (r"^t_embedder\.1\.", "time_embed.t_embedder."),
    (r"^affline_norm\.", "time_embed.norm."),
    (r"^extra_pos_embedder\.", "learnable_pos_embed."),
    (r"^blocks\.block(\d+)\.", "transformer_blocks.$1."),
    (r"\.blocks\.0\.block\.attn\.", ".attn1."),
    (r"\.blocks\.1\.block\.attn\.", ".attn2."),
    (r"\.blocks\.2\.block\.layer1\.", ".ff.proj_in."),
    (r"\.blocks\.2\.block\.layer2\.", ".ff.proj_out."),
    (r"\.blocks\.0\.adaLN_modulation\.1\.", ".norm1.linear_1."),
    (r"\.blocks\.0\.adaLN_modulation\.2\.", ".norm1.linear_2."),
    (r"\.blocks\.1\.adaLN_modulation\.1\.", ".norm2.linear_1."),
    (r"\.blocks\.1\.adaLN_modulation\.2\.", ".norm2.linear_2."),
    (r"\.blocks\.2\.adaLN_modulation\.1\.", ".norm3.linear_1."),
    (r"\.blocks\.2\.adaLN_modulation\.2\.", ".norm3.linear_2."),
    (r"\.(attn[12])\.to_q\.0\.", ".$1.q."),
    (r"\.(attn[12])\.to_q\.1\.", ".$1.q_norm."),
    (r"\.(attn[12])\.to_k\.0\.", ".$1.k."),
    (r"\.(attn[12])\.to_k\.1\.", ".$1.k_norm."),
    (r"\.(attn[12])\.to_v\.0\.", ".$1.v."),
    (r"\.(attn[12])\.to_out\.0\.", ".$1.out."),
    (r"^final_layer\.adaLN_modulation\.1\.", "norm_out.linear_1."),
    (r"^final_layer\.adaLN_modulation\.2\.", "norm_out.linear_2."),
    (r"^final_layer\.linear\.", "proj_out."),
    (r"^action_embedder_B_3D\.", "action_embedder."),
];

/// Keys that cosmos-predict1 checkpoints carry and the network recomputes or does not use:
/// the RoPE position buffer, the training-time log-variance head, bookkeeping counters.
const PREDICT1_IGNORED: &[&str] = &[
    r"^(net\.)?pos_embedder\.",
    r"^logvar\.",
    r"^(net\.)?accum_",
    r"_extra_state$",
    r"^conditioner\.",
    // The action network's second embedder: the reference computes its output and never
    // uses it (see `ActionEmbedder`), so its weights change nothing.
    r"^(net\.)?action_embedder_B_D\.",
];

/// Detects the naming from the key names (`None` when neither fits).
pub fn detect_naming(checkpoint: &Checkpoint) -> Option<KeyNaming> {
    let mut diffusers = false;
    let mut predict1 = false;
    for key in checkpoint.keys() {
        diffusers |= key.starts_with("transformer_blocks.") || key.starts_with("patch_embed.");
        predict1 |= key.starts_with("net.blocks.block")
            || key.starts_with("blocks.block")
            || key.contains("x_embedder.proj.1.");
    }
    match (diffusers, predict1) {
        (true, false) => Some(KeyNaming::Diffusers),
        (false, true) => Some(KeyNaming::CosmosPredict1),
        _ => None,
    }
}

/// The key map from a naming to [`CosmosDit`]'s parameter paths.
pub fn key_map(naming: KeyNaming) -> Result<KeyMap> {
    let mut map = KeyMap::new();
    match naming {
        KeyNaming::Diffusers => {
            for (p, r) in DIFFUSERS_RULES {
                map = map.rule(p, r)?;
            }
        }
        KeyNaming::CosmosPredict1 => {
            for (p, r) in PREDICT1_RULES {
                map = map.rule(p, r)?;
            }
            for p in PREDICT1_IGNORED {
                map = map.ignore(p)?;
            }
        }
    }
    Ok(map)
}

impl CosmosDit {
    /// Loads a checkpoint in either naming (detected from its keys). Every missing, unexpected
    /// or mis-shaped tensor is reported in one [`Error::Checkpoint`]; bf16/f16 weights are
    /// converted to f32.
    pub fn load_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<LoadReport> {
        let naming = detect_naming(checkpoint).ok_or_else(|| Error::UnknownNaming {
            examples: checkpoint.keys().take(4).map(str::to_string).collect(),
        })?;
        self.load_checkpoint_as(checkpoint, naming)
    }

    /// Loads a checkpoint whose naming is known.
    pub fn load_checkpoint_as(
        &mut self,
        checkpoint: &Checkpoint,
        naming: KeyNaming,
    ) -> Result<LoadReport> {
        let map = key_map(naming)?;
        Ok(load_module(self, checkpoint, &map)?)
    }
}

/// The files of a diffusers-format transformer folder (`config.json` and one or more
/// `*.safetensors` shards), or a folder holding cosmos-predict1's `model.pt` plus a
/// `config.json` in either naming.
#[derive(Debug, Clone)]
pub struct DitFiles {
    /// The configuration file.
    pub config: PathBuf,
    /// Weight files, all read and merged.
    pub weights: Vec<PathBuf>,
}

impl DitFiles {
    /// Finds the files under `dir` (or `dir/transformer`, the diffusers pipeline layout).
    pub fn find(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let sub = dir.join("transformer");
        let dir = if sub.join("config.json").is_file() {
            sub
        } else {
            dir.to_path_buf()
        };
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(Error::Argument(format!(
                "{}: no config.json (expected a diffusers transformer folder or a folder with \
                 model.pt and config.json)",
                dir.display()
            )));
        }
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let mut weights: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".safetensors") || name == "model.pt"
            })
            .collect();
        weights.sort();
        if weights.is_empty() {
            return Err(Error::Argument(format!(
                "{}: no *.safetensors or model.pt weights",
                dir.display()
            )));
        }
        Ok(Self { config, weights })
    }

    /// Reads the configuration: diffusers' names, or cosmos-predict1's `GeneralDIT` arguments
    /// (recognised by `model_channels`).
    pub fn read_config(&self) -> Result<DitConfig> {
        let text = std::fs::read_to_string(&self.config).map_err(|source| Error::Io {
            path: self.config.display().to_string(),
            source,
        })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not JSON: {e}", self.config.display())))?;
        if value.get("dit").is_some_and(serde_json::Value::is_object) {
            // serde's defaults would otherwise read it as a 7B DiT.
            return Err(Error::Argument(format!(
                "{}: a world-model folder (DiT + conditioner + tokenizer), not a DiT folder: \
                 load it with cosmos_posttrain::world_model::WorldModel::load (cosmos generate \
                 --model takes it as it is)",
                self.config.display()
            )));
        }
        if value.get("model_channels").is_some() {
            DitConfig::from_cosmos_predict1(&value)
        } else {
            DitConfig::from_diffusers(&value)
        }
    }

    /// Reads and merges the weight files.
    pub fn read_weights(&self) -> Result<Checkpoint> {
        let mut merged: Option<Checkpoint> = None;
        for path in &self.weights {
            let c = Checkpoint::open(path)?;
            match &mut merged {
                Some(m) => m.merge(c),
                None => merged = Some(c),
            }
        }
        merged.ok_or_else(|| Error::Argument("no weight files".into()))
    }
}

/// The action width an action-conditioned checkpoint was trained with, read from the shape of
/// its action embedder's first layer (`[4·hidden, action_dim]`), in either naming; `None` when
/// the checkpoint has no action embedder.
pub fn checkpoint_action_dim(checkpoint: &Checkpoint) -> Option<usize> {
    checkpoint.keys().find_map(|key| {
        let plain = key.strip_prefix("net.").unwrap_or(key);
        if plain == "action_embedder_B_3D.fc1.weight" || plain == "action_embedder.fc1.weight" {
            checkpoint
                .get(key)
                .and_then(|t| (t.shape().len() == 2).then(|| t.shape()[1]))
        } else {
            None
        }
    })
}

impl DitConfig {
    /// Takes the action width from the checkpoint when the configuration does not give one
    /// (cosmos-predict1's `GeneralDIT` arguments never do: the action class fixes it).
    pub fn with_checkpoint_action_dim(mut self, checkpoint: &Checkpoint) -> Self {
        if self.action_dim.is_none() {
            self.action_dim = checkpoint_action_dim(checkpoint);
        }
        self
    }
}

/// Builds the network described by `dir` and loads its weights (an action embedder in the
/// weights makes it an action-conditioned network).
pub fn load_dit(dir: impl AsRef<Path>, device: &burn::tensor::Device) -> Result<CosmosDit> {
    let files = DitFiles::find(dir)?;
    let weights = files.read_weights()?;
    let config = files.read_config()?.with_checkpoint_action_dim(&weights);
    let mut dit = config.init(device)?;
    dit.load_checkpoint(&weights)?;
    Ok(dit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predict1_names_map_onto_fields() {
        let map = key_map(KeyNaming::CosmosPredict1).unwrap();
        let cases = [
            ("net.x_embedder.proj.1.weight", "patch_embed.proj.weight"),
            (
                "net.t_embedder.1.linear_2.weight",
                "time_embed.t_embedder.linear_2.weight",
            ),
            ("net.affline_norm.weight", "time_embed.norm.weight"),
            (
                "net.extra_pos_embedder.pos_emb_t",
                "learnable_pos_embed.pos_emb_t",
            ),
            (
                "net.blocks.block3.blocks.0.block.attn.to_q.1.weight",
                "transformer_blocks.3.attn1.q_norm.weight",
            ),
            (
                "net.blocks.block12.blocks.1.block.attn.to_out.0.weight",
                "transformer_blocks.12.attn2.out.weight",
            ),
            (
                "net.blocks.block0.blocks.2.block.layer2.weight",
                "transformer_blocks.0.ff.proj_out.weight",
            ),
            (
                "net.blocks.block1.blocks.2.adaLN_modulation.1.weight",
                "transformer_blocks.1.norm3.linear_1.weight",
            ),
            (
                "net.final_layer.adaLN_modulation.2.weight",
                "norm_out.linear_2.weight",
            ),
            ("net.final_layer.linear.weight", "proj_out.weight"),
        ];
        for (k, v) in cases {
            assert_eq!(map.map(k), v, "{k}");
        }
        assert!(map.is_ignored("net.pos_embedder.seq"));
        assert!(map.is_ignored("logvar.0.freqs"));
    }

    #[test]
    fn diffusers_names_map_onto_fields() {
        let map = key_map(KeyNaming::Diffusers).unwrap();
        assert_eq!(
            map.map("transformer_blocks.0.attn2.to_out.0.weight"),
            "transformer_blocks.0.attn2.out.weight"
        );
        assert_eq!(
            map.map("transformer_blocks.5.attn1.norm_k.weight"),
            "transformer_blocks.5.attn1.k_norm.weight"
        );
        assert_eq!(
            map.map("transformer_blocks.1.ff.net.0.proj.weight"),
            "transformer_blocks.1.ff.proj_in.weight"
        );
        assert_eq!(map.map("time_embed.norm.weight"), "time_embed.norm.weight");
    }
}
