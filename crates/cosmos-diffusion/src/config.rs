//! Configuration of the Cosmos-1.0 diffusion transformer.
//!
//! [`DitConfig`] deserializes diffusers' `CosmosTransformer3DModel` `config.json` as it is (unknown
//! keys such as `_class_name` are ignored), and [`DitConfig::from_cosmos_predict1`] reads the
//! `GeneralDIT` constructor arguments of cosmos-predict1, so either a diffusers folder or an
//! original checkpoint's config describes the network.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The published Cosmos-1.0 diffusion networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DitPreset {
    /// `Cosmos-1.0-Diffusion-7B-Text2World`.
    Text2World7B,
    /// `Cosmos-1.0-Diffusion-7B-Video2World`.
    Video2World7B,
    /// `Cosmos-1.0-Diffusion-14B-Text2World`.
    Text2World14B,
    /// `Cosmos-1.0-Diffusion-14B-Video2World`.
    Video2World14B,
}

/// The DiT's shape and options, in diffusers' names.
///
/// `in_channels` counts the latent channels plus, for Video2World, the condition-mask channel
/// (16 + 1); the padding-mask channel is added on top when `concat_padding_mask` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DitConfig {
    /// Input channels: latent channels, plus one condition-mask channel for Video2World.
    pub in_channels: usize,
    /// Output (latent) channels.
    pub out_channels: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Channels per head (hidden size = heads × head dim).
    pub attention_head_dim: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// MLP hidden size / hidden size.
    pub mlp_ratio: f64,
    /// Width of the text embeddings attended to by cross-attention (T5-11B: 1024).
    pub text_embed_dim: usize,
    /// Rank of the AdaLN-LoRA bottleneck.
    pub adaln_lora_dim: usize,
    /// Largest latent `(T, H, W)` the position tables cover (before patching).
    pub max_size: [usize; 3],
    /// Patch size `(t, h, w)`.
    pub patch_size: [usize; 3],
    /// RoPE NTK scale per axis `(t, h, w)`.
    pub rope_scale: [f64; 3],
    /// Whether the padding mask is concatenated as an extra input channel.
    pub concat_padding_mask: bool,
    /// `"learnable"` for the extra per-block absolute position embedding, or none.
    pub extra_pos_embed_type: Option<String>,
    /// diffusers' optional projection of text embeddings (Cosmos 2.x only; must be false).
    pub use_crossattn_projection: bool,
    /// diffusers' image-context input (Cosmos 2.5 only; must be absent).
    pub img_context_dim_in: Option<usize>,
    /// diffusers' ControlNet hook (Cosmos Transfer only; must be absent).
    pub controlnet_block_every_n: Option<usize>,
    /// Frame rate the RoPE time axis was trained at: time positions are scaled by `base_fps / fps`.
    pub base_fps: f64,
    /// Epsilon of the per-head QK RMSNorm (cosmos-predict1 uses 1e-6, diffusers 1e-5).
    pub qk_norm_eps: f64,
    /// Width of the action vector of an action-conditioned network (cosmos-predict1's
    /// `ActionConditionalVideoExtendGeneralDIT`: 7 for the Bridge robot model), `None` for a
    /// network without action conditioning. The action's embedding is added to the AdaLN-LoRA
    /// term of every block and of the final layer (see [`crate::dit::ActionEmbedder`]).
    pub action_dim: Option<usize>,
}

impl Default for DitConfig {
    fn default() -> Self {
        Self::preset(DitPreset::Text2World7B)
    }
}

impl DitConfig {
    /// The configuration of a published network.
    pub fn preset(preset: DitPreset) -> Self {
        let (heads, layers, rope_scale) = match preset {
            DitPreset::Text2World7B | DitPreset::Video2World7B => (32, 28, [2.0, 1.0, 1.0]),
            DitPreset::Text2World14B | DitPreset::Video2World14B => (40, 36, [2.0, 2.0, 2.0]),
        };
        let in_channels = match preset {
            DitPreset::Text2World7B | DitPreset::Text2World14B => 16,
            DitPreset::Video2World7B | DitPreset::Video2World14B => 17,
        };
        Self {
            in_channels,
            out_channels: 16,
            num_attention_heads: heads,
            attention_head_dim: 128,
            num_layers: layers,
            mlp_ratio: 4.0,
            text_embed_dim: 1024,
            adaln_lora_dim: 256,
            max_size: [128, 240, 240],
            patch_size: [1, 2, 2],
            rope_scale,
            concat_padding_mask: true,
            extra_pos_embed_type: Some("learnable".into()),
            use_crossattn_projection: false,
            img_context_dim_in: None,
            controlnet_block_every_n: None,
            base_fps: 24.0,
            qk_norm_eps: 1e-6,
            action_dim: None,
        }
    }

    /// Parses a diffusers `config.json` value (the `CosmosTransformer3DModel` constructor arguments).
    pub fn from_diffusers(value: &Value) -> Result<Self> {
        let config: Self = serde_json::from_value(value.clone())
            .map_err(|e| Error::Config(format!("diffusers DiT config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a diffusers `config.json` file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not JSON: {e}", path.display())))?;
        Self::from_diffusers(&value)
    }

    /// Parses cosmos-predict1's `GeneralDIT` constructor arguments (`model_channels`,
    /// `num_blocks`, `crossattn_emb_channels`, `rope_t_extrapolation_ratio`, ...).
    pub fn from_cosmos_predict1(value: &Value) -> Result<Self> {
        let get = |k: &str| value.get(k);
        let usize_of = |k: &str| -> Result<usize> {
            get(k)
                .and_then(Value::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| {
                    Error::Config(format!("cosmos-predict1 config: '{k}' must be an integer"))
                })
        };
        let f64_or = |k: &str, d: f64| get(k).and_then(Value::as_f64).unwrap_or(d);
        let bool_or = |k: &str, d: bool| get(k).and_then(Value::as_bool).unwrap_or(d);
        let channels = usize_of("model_channels")?;
        let heads = usize_of("num_heads")?;
        if heads == 0 || channels % heads != 0 {
            return Err(Error::Config(format!(
                "cosmos-predict1 config: model_channels {channels} is not a multiple of num_heads {heads}"
            )));
        }
        if !bool_or("use_adaln_lora", false) {
            return Err(Error::Unsupported(
                "cosmos-predict1 networks without AdaLN-LoRA (use_adaln_lora = false)".into(),
            ));
        }
        if let Some(block) = get("block_config").and_then(Value::as_str) {
            let normal = block.replace(' ', "").to_ascii_uppercase();
            if normal != "FA-CA-MLP" {
                return Err(Error::Unsupported(format!(
                    "block_config '{block}' (only FA-CA-MLP, the Cosmos-1.0 block)"
                )));
            }
        }
        if get("pos_emb_cls")
            .and_then(Value::as_str)
            .unwrap_or("rope3d")
            != "rope3d"
        {
            return Err(Error::Unsupported("pos_emb_cls other than rope3d".into()));
        }
        let spatial = usize_of("patch_spatial")?;
        let extra = bool_or("extra_per_block_abs_pos_emb", false);
        let extra_type = get("extra_per_block_abs_pos_emb_type")
            .and_then(Value::as_str)
            .unwrap_or("learnable")
            .to_ascii_lowercase();
        if extra && extra_type != "learnable" {
            return Err(Error::Unsupported(format!(
                "extra_per_block_abs_pos_emb_type '{extra_type}'"
            )));
        }
        let config = Self {
            in_channels: usize_of("in_channels")?,
            out_channels: usize_of("out_channels")?,
            num_attention_heads: heads,
            attention_head_dim: channels / heads,
            num_layers: usize_of("num_blocks")?,
            mlp_ratio: f64_or("mlp_ratio", 4.0),
            text_embed_dim: usize_of("crossattn_emb_channels")?,
            adaln_lora_dim: usize_of("adaln_lora_dim")?,
            max_size: [
                usize_of("max_frames")?,
                usize_of("max_img_h")?,
                usize_of("max_img_w")?,
            ],
            patch_size: [usize_of("patch_temporal")?, spatial, spatial],
            rope_scale: [
                f64_or("rope_t_extrapolation_ratio", 1.0),
                f64_or("rope_h_extrapolation_ratio", 1.0),
                f64_or("rope_w_extrapolation_ratio", 1.0),
            ],
            concat_padding_mask: bool_or("concat_padding_mask", true),
            extra_pos_embed_type: extra.then(|| "learnable".to_string()),
            use_crossattn_projection: false,
            img_context_dim_in: None,
            controlnet_block_every_n: None,
            base_fps: 24.0,
            qk_norm_eps: 1e-6,
            // GeneralDIT's arguments carry no action width (the action class fixes it); an
            // explicit `action_dim` is honoured, else the checkpoint decides
            // (`CosmosDit::load_checkpoint` checks, `DitConfig::with_checkpoint_action_dim` reads it).
            action_dim: get("action_dim")
                .and_then(Value::as_u64)
                .map(|v| v as usize),
        };
        config.validate()?;
        Ok(config)
    }

    /// Hidden size (heads × head dim).
    pub fn hidden_size(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    /// Channels the patch embedding takes: `in_channels`, plus one for the padding mask.
    pub fn patch_embed_channels(&self) -> usize {
        self.in_channels + usize::from(self.concat_padding_mask)
    }

    /// Whether the network takes a condition-mask channel (Video2World).
    pub fn has_condition_mask(&self) -> bool {
        self.in_channels > self.out_channels
    }

    /// Whether the learnable extra position embedding is used.
    pub fn learnable_pos_embed(&self) -> bool {
        self.extra_pos_embed_type.as_deref() == Some("learnable")
    }

    /// MLP hidden width (`int(hidden · mlp_ratio)` as diffusers' `FeedForward` computes it).
    pub fn mlp_hidden(&self) -> usize {
        (self.hidden_size() as f64 * self.mlp_ratio) as usize
    }

    /// Checks that the configuration describes a network this crate builds.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.num_attention_heads == 0 || self.attention_head_dim == 0 || self.num_layers == 0 {
            return bad(format!(
                "heads ({}), head dim ({}) and layers ({}) must be positive",
                self.num_attention_heads, self.attention_head_dim, self.num_layers
            ));
        }
        // RoPE splits the head dim as t / h / w = d − 2·(d/6·2), d/6·2, d/6·2, each even and > 2.
        let hw = self.attention_head_dim / 6 * 2;
        let t = self.attention_head_dim - 2 * hw;
        if hw <= 2 || t <= 2 || !t.is_multiple_of(2) {
            return bad(format!(
                "attention_head_dim {} cannot be split into even RoPE parts > 2 (t {t}, h/w {hw})",
                self.attention_head_dim
            ));
        }
        if self.patch_size.contains(&0) || self.max_size.contains(&0) {
            return bad(format!(
                "patch_size {:?} and max_size {:?} must be positive",
                self.patch_size, self.max_size
            ));
        }
        if self.in_channels < self.out_channels || self.in_channels > self.out_channels + 1 {
            return bad(format!(
                "in_channels {} must be out_channels {} (Text2World) or out_channels + 1 (Video2World)",
                self.in_channels, self.out_channels
            ));
        }
        if self.adaln_lora_dim == 0 || self.text_embed_dim == 0 || self.out_channels == 0 {
            return bad("adaln_lora_dim, text_embed_dim and out_channels must be positive".into());
        }
        if let Some(kind) = &self.extra_pos_embed_type
            && kind != "learnable"
        {
            return Err(Error::Unsupported(format!("extra_pos_embed_type '{kind}'")));
        }
        if self.use_crossattn_projection {
            return Err(Error::Unsupported(
                "use_crossattn_projection (a Cosmos 2.x option)".into(),
            ));
        }
        if self.img_context_dim_in.is_some_and(|d| d > 0) {
            return Err(Error::Unsupported(
                "img_context_dim_in (a Cosmos 2.5 option)".into(),
            ));
        }
        if self.controlnet_block_every_n.is_some() {
            return Err(Error::Unsupported(
                "controlnet_block_every_n (Cosmos Transfer)".into(),
            ));
        }
        if self.action_dim == Some(0) {
            return bad(
                "action_dim must be positive (or absent for no action conditioning)".into(),
            );
        }
        if self.base_fps.is_nan()
            || self.base_fps <= 0.0
            || self.qk_norm_eps.is_nan()
            || self.qk_norm_eps < 0.0
        {
            return bad(format!(
                "base_fps {} must be positive and qk_norm_eps {} non-negative",
                self.base_fps, self.qk_norm_eps
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffusers_json_with_extra_keys_parses() {
        let v: Value = serde_json::json!({
            "_class_name": "CosmosTransformer3DModel",
            "in_channels": 17, "out_channels": 16, "num_attention_heads": 2,
            "attention_head_dim": 32, "num_layers": 2, "text_embed_dim": 32, "adaln_lora_dim": 16,
            "max_size": [16, 32, 32], "patch_size": [1, 2, 2], "rope_scale": [2.0, 1.0, 1.0],
            "extra_pos_embed_type": "learnable"
        });
        let c = DitConfig::from_diffusers(&v).unwrap();
        assert_eq!(c.hidden_size(), 64);
        assert!(c.has_condition_mask());
        assert_eq!(c.patch_embed_channels(), 18);
        assert_eq!(c.mlp_hidden(), 256);
    }

    #[test]
    fn predict1_config_maps_onto_diffusers_names() {
        let v: Value = serde_json::json!({
            "max_img_h": 32, "max_img_w": 32, "max_frames": 16, "in_channels": 16,
            "out_channels": 16, "patch_spatial": 2, "patch_temporal": 1, "model_channels": 64,
            "block_config": "FA-CA-MLP", "num_blocks": 2, "num_heads": 2, "mlp_ratio": 4.0,
            "concat_padding_mask": true, "pos_emb_cls": "rope3d", "use_adaln_lora": true,
            "adaln_lora_dim": 16, "crossattn_emb_channels": 32,
            "extra_per_block_abs_pos_emb": true, "rope_t_extrapolation_ratio": 2.0,
            "extra_per_block_abs_pos_emb_type": "learnable"
        });
        let c = DitConfig::from_cosmos_predict1(&v).unwrap();
        assert_eq!(c.attention_head_dim, 32);
        assert_eq!(c.max_size, [16, 32, 32]);
        assert_eq!(c.rope_scale, [2.0, 1.0, 1.0]);
        assert!(c.learnable_pos_embed());
    }

    #[test]
    fn inconsistent_configs_are_rejected() {
        let mut c = DitConfig::preset(DitPreset::Text2World7B);
        c.in_channels = 20;
        assert!(matches!(c.validate(), Err(Error::Config(_))));
        let mut c = DitConfig::preset(DitPreset::Text2World7B);
        c.use_crossattn_projection = true;
        assert!(matches!(c.validate(), Err(Error::Unsupported(_))));
        let mut c = DitConfig::preset(DitPreset::Text2World7B);
        c.attention_head_dim = 8;
        assert!(c.validate().is_err());
        assert!(
            DitConfig::preset(DitPreset::Video2World14B)
                .validate()
                .is_ok()
        );
    }
}
