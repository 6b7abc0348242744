//! The model configuration, read as cosmos-predict1's `ModelConfig` writes it.
//!
//! Field names and defaults follow `cosmos_predict1/autoregressive/configs/base/model.py`, so a
//! config dumped by the reference (the `config` object of a parity fixture, a checkpoint
//! folder's `config.json`) deserialises as it is; unknown fields are ignored. The presets are
//! the shapes the published checkpoints were built with by the reference's inference pipeline
//! (`create_inference_config` → `create_video2world_model_config`).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Epsilon of the per-head QK RMSNorm. The reference's `Attention` builds its `q_norm` /
/// `k_norm` with its own default (1e-5) because `TransformerBlock` never passes `norm_eps`
/// down, so this does not follow [`ArConfig::norm_eps`].
pub const QK_NORM_EPS: f64 = 1e-5;

/// Configuration of the Cosmos-1.0 autoregressive transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArConfig {
    /// Width of the residual stream.
    pub dim: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention); `None` = `n_heads`.
    pub n_kv_heads: Option<usize>,
    /// Channels per head; `None` = `dim / n_heads`.
    pub head_dim: Option<usize>,
    /// Number of output logits (FSQ indices: 64 000).
    pub vocab_size: usize,
    /// Hidden width of the SwiGLU MLP.
    pub ffn_hidden_size: usize,
    /// Epsilon of the block and final RMSNorms.
    pub norm_eps: f64,
    /// RoPE base θ.
    pub rope_theta: f64,
    /// Whether the 3D sin-cos absolute position embedding is added before every block.
    pub apply_abs_pos_emb: bool,
    /// Largest batch the reference preallocates its KV cache for (informational here).
    pub max_batch_size: usize,
    /// Positions the KV cache and the position tables hold.
    pub max_seq_len: usize,
    /// Whether the reference fused Q/K/V into one `wqkv` weight (such checkpoints load too).
    pub fuse_qkv: bool,
    /// Causal self-attention (the only mode the reference's inference uses).
    pub causal_mask: bool,
    /// Normalisation layer (`rmsnorm` is the only one the Cosmos models use).
    pub norm_type: String,
    /// The reference's parameter dtype (`bfloat16` for the released models; informational).
    pub precision: String,
    /// Per-head RMS normalisation of queries and keys.
    pub use_qk_normalization: bool,
    /// Tensor-parallel degree of the reference run (a full checkpoint loads whatever it was).
    pub tensor_model_parallel_size: usize,
    /// YaRN frequency interpolation of the RoPE tables.
    pub apply_yarn: bool,
    /// YaRN scale (frequencies below the slow cutoff are divided by it).
    pub yarn_scale: Option<f64>,
    /// YaRN fast-beta (high-frequency cutoff in turns over the original length).
    pub yarn_beta_fast: Option<f64>,
    /// YaRN slow-beta (low-frequency cutoff).
    pub yarn_beta_slow: Option<f64>,
    /// Original sequence length (1D RoPE's YaRN reference length).
    pub original_seq_len: Option<usize>,
    /// RoPE layout: `3D` over the latent grid (Cosmos) or `1D` over token positions.
    pub rope_dim: String,
    /// The reference's RoPE implementation: `v2` (rotate-half, TransformerEngine style).
    pub pytorch_rope_version: String,
    /// Latent grid YaRN extends from, `[T, H, W]`.
    pub original_latent_shape: Option<Vec<usize>>,
    /// The position tables are zero-padded to a multiple of this.
    pub pad_to_multiple_of: Option<usize>,
    /// Whether blocks have cross-attention to a text context (Video2World).
    pub insert_cross_attn: bool,
    /// Cross-attention in blocks whose index is a multiple of this.
    pub insert_cross_attn_every_k_layers: usize,
    /// Width of the cross-attention context (T5: 1024).
    pub context_dim: usize,
    /// Pixel frames of one clip (informational).
    pub num_video_frames: Option<usize>,
    /// Pixel height (informational).
    pub video_height: Option<usize>,
    /// Pixel width (informational).
    pub video_width: Option<usize>,
    /// The latent token grid `[T, H, W]`; tokens are ordered `(t, h, w)` row-major.
    pub video_latent_shape: Option<Vec<usize>>,
    /// The reference's tokenizer `training_type`. `text_to_video` (the Video2World models)
    /// puts a `<bov>` token (id `vocab_size`) before the video tokens, with zero RoPE and
    /// position-embedding rows, and grows the embedding table (not the output head) to
    /// `vocab_size + 1` rounded up to a multiple of 64.
    pub training_type: Option<String>,
}

impl Default for ArConfig {
    /// The reference `ModelConfig` defaults.
    fn default() -> Self {
        Self {
            dim: 4096,
            n_layers: 32,
            n_heads: 32,
            n_kv_heads: Some(8),
            head_dim: None,
            vocab_size: 128_256,
            ffn_hidden_size: 14_336,
            norm_eps: 1e-5,
            rope_theta: 500_000.0,
            apply_abs_pos_emb: false,
            max_batch_size: 1,
            max_seq_len: 8192,
            fuse_qkv: false,
            causal_mask: true,
            norm_type: "rmsnorm".into(),
            precision: "bfloat16".into(),
            use_qk_normalization: false,
            tensor_model_parallel_size: 1,
            apply_yarn: false,
            yarn_scale: None,
            yarn_beta_fast: None,
            yarn_beta_slow: None,
            original_seq_len: None,
            rope_dim: "1D".into(),
            pytorch_rope_version: "v2".into(),
            original_latent_shape: None,
            pad_to_multiple_of: None,
            insert_cross_attn: false,
            insert_cross_attn_every_k_layers: 1,
            context_dim: 1024,
            num_video_frames: None,
            video_height: None,
            video_width: None,
            video_latent_shape: None,
            training_type: None,
        }
    }
}

/// The published model shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArPreset {
    /// Cosmos-1.0-Autoregressive-4B (video continuation, no text).
    Cosmos4B,
    /// Cosmos-1.0-Autoregressive-5B-Video2World (4B + cross-attention to T5).
    Cosmos5BVideo2World,
    /// Cosmos-1.0-Autoregressive-12B (YaRN-extended RoPE).
    Cosmos12B,
    /// Cosmos-1.0-Autoregressive-13B-Video2World (12B + cross-attention to T5).
    Cosmos13BVideo2World,
}

impl ArPreset {
    /// All presets, for help texts.
    pub const ALL: [ArPreset; 4] = [
        ArPreset::Cosmos4B,
        ArPreset::Cosmos5BVideo2World,
        ArPreset::Cosmos12B,
        ArPreset::Cosmos13BVideo2World,
    ];

    /// The preset's command-line name (`4b`, `5b-video2world`, `12b`, `13b-video2world`).
    pub fn name(self) -> &'static str {
        match self {
            ArPreset::Cosmos4B => "4b",
            ArPreset::Cosmos5BVideo2World => "5b-video2world",
            ArPreset::Cosmos12B => "12b",
            ArPreset::Cosmos13BVideo2World => "13b-video2world",
        }
    }

    /// Parses a preset name (case-insensitive; `Cosmos-1.0-Autoregressive-` prefixes allowed).
    pub fn parse(name: &str) -> Result<Self> {
        let lower = name.to_ascii_lowercase();
        let short = lower
            .trim_start_matches("cosmos-1.0-autoregressive-")
            .trim_start_matches("cosmos-predict1-");
        ArPreset::ALL
            .into_iter()
            .find(|p| p.name() == short)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown preset '{name}': expected one of {}",
                    ArPreset::ALL.map(|p| p.name()).join(", ")
                ))
            })
    }

    /// The full configuration.
    pub fn config(self) -> ArConfig {
        match self {
            ArPreset::Cosmos4B => ArConfig::cosmos_4b(),
            ArPreset::Cosmos5BVideo2World => ArConfig::cosmos_5b_video2world(),
            ArPreset::Cosmos12B => ArConfig::cosmos_12b(),
            ArPreset::Cosmos13BVideo2World => ArConfig::cosmos_13b_video2world(),
        }
    }
}

impl ArConfig {
    /// The shared part of the presets: 33 frames at 640×1024 through the DV8×16×16 tokenizer
    /// give a `[5, 40, 64]` latent grid (12 800 tokens), vocabulary 64 000, QK-norm, 3D RoPE.
    fn cosmos_video_base() -> Self {
        Self {
            n_kv_heads: Some(8),
            ffn_hidden_size: 14_336,
            norm_eps: 1e-5,
            rope_theta: 500_000.0,
            vocab_size: 64_000,
            max_seq_len: 12_800,
            use_qk_normalization: true,
            rope_dim: "3D".into(),
            pytorch_rope_version: "v2".into(),
            pad_to_multiple_of: Some(64),
            original_seq_len: Some(8192),
            num_video_frames: Some(33),
            video_height: Some(640),
            video_width: Some(1024),
            video_latent_shape: Some(vec![5, 40, 64]),
            training_type: Some("video_to_video".into()),
            ..Self::default()
        }
    }

    /// What the Video2World variants add: cross-attention in every block to 1024-wide T5
    /// embeddings, the absolute position embedding, and the `<bov>` token (one more position).
    fn with_video2world(self) -> Self {
        Self {
            insert_cross_attn: true,
            insert_cross_attn_every_k_layers: 1,
            context_dim: 1024,
            apply_abs_pos_emb: true,
            training_type: Some("text_to_video".into()),
            max_seq_len: (self.latent_tokens().unwrap_or(0) + 1).div_ceil(64) * 64,
            ..self
        }
    }

    /// Cosmos-1.0-Autoregressive-4B: 16 blocks, width 4096, 32 heads / 8 KV heads.
    pub fn cosmos_4b() -> Self {
        Self {
            n_layers: 16,
            dim: 4096,
            n_heads: 32,
            ..Self::cosmos_video_base()
        }
    }

    /// Cosmos-1.0-Autoregressive-5B-Video2World: the 4B network plus cross-attention.
    pub fn cosmos_5b_video2world() -> Self {
        Self::cosmos_4b().with_video2world()
    }

    /// Cosmos-1.0-Autoregressive-12B: 40 blocks, width 5120, 32 heads × 128, RoPE extended
    /// with YaRN from a `[3, 40, 64]` grid (scale 2, β_fast 4, β_slow 1).
    pub fn cosmos_12b() -> Self {
        Self {
            n_layers: 40,
            dim: 5120,
            n_heads: 32,
            head_dim: Some(128),
            apply_yarn: true,
            yarn_scale: Some(2.0),
            yarn_beta_fast: Some(4.0),
            yarn_beta_slow: Some(1.0),
            original_latent_shape: Some(vec![3, 40, 64]),
            ..Self::cosmos_video_base()
        }
    }

    /// Cosmos-1.0-Autoregressive-13B-Video2World: the 12B network plus cross-attention.
    pub fn cosmos_13b_video2world() -> Self {
        Self::cosmos_12b().with_video2world()
    }

    /// The speed-benchmark shape (`benches/ar.rs`, `examples/ar_speed.rs`): width 1024, 4 blocks,
    /// 16 query / 8 KV heads, FFN 2816, vocabulary 64 000, QK-norm, 3D RoPE on a `[5, 16, 16]`
    /// grid and the absolute position embedding, float32.
    pub fn speed_benchmark() -> Self {
        Self {
            dim: 1024,
            n_layers: 4,
            n_heads: 16,
            n_kv_heads: Some(8),
            head_dim: None,
            vocab_size: 64_000,
            ffn_hidden_size: 2816,
            use_qk_normalization: true,
            rope_dim: "3D".into(),
            video_latent_shape: Some(vec![5, 16, 16]),
            max_seq_len: 5 * 16 * 16,
            pad_to_multiple_of: Some(64),
            apply_abs_pos_emb: true,
            precision: "float32".into(),
            ..Self::default()
        }
    }

    /// Reads the reference's JSON: either a `ModelConfig` object or a parity-fixture sidecar
    /// holding it under `config`.
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let inner = value.get("config").unwrap_or(value);
        let config: ArConfig = serde_json::from_value(inner.clone())
            .map_err(|e| Error::Config(format!("cannot read the model config JSON: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a JSON config file (see [`ArConfig::from_json`]).
    pub fn from_json_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not JSON: {e}", path.display())))?;
        Self::from_json(&value)
    }

    /// Channels per attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.dim / self.n_heads.max(1))
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.n_kv_heads.unwrap_or(self.n_heads)
    }

    /// Whether the token layout starts with a `<bov>` token (the Video2World models).
    pub fn has_begin_of_video(&self) -> bool {
        self.training_type.as_deref() == Some("text_to_video")
    }

    /// The `<bov>` token id (`vocab_size`), when the layout has one.
    pub fn begin_of_video_token(&self) -> Option<u32> {
        self.has_begin_of_video().then_some(self.vocab_size as u32)
    }

    /// Rows of the token-embedding table: the vocabulary, plus the `<bov>` token rounded up
    /// to a multiple of 64 when there is one (64 064 for the Video2World models).
    pub fn embedding_rows(&self) -> usize {
        if self.has_begin_of_video() {
            (self.vocab_size + 1).div_ceil(64) * 64
        } else {
            self.vocab_size
        }
    }

    /// Whether block `layer` has cross-attention.
    pub fn has_cross_attention(&self, layer: usize) -> bool {
        self.insert_cross_attn && layer.is_multiple_of(self.insert_cross_attn_every_k_layers.max(1))
    }

    /// The latent grid `[T, H, W]`, if the config has one.
    pub fn latent_shape(&self) -> Option<[usize; 3]> {
        match self.video_latent_shape.as_deref() {
            Some(&[t, h, w]) => Some([t, h, w]),
            _ => None,
        }
    }

    /// Tokens of one latent video (`T·H·W`).
    pub fn latent_tokens(&self) -> Option<usize> {
        self.latent_shape().map(|[t, h, w]| t * h * w)
    }

    /// Checks that the configuration describes a network this crate builds.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.dim == 0 || self.n_layers == 0 || self.n_heads == 0 || self.vocab_size == 0 {
            return bad(format!(
                "dim, n_layers, n_heads and vocab_size must be positive, found {}, {}, {}, {}",
                self.dim, self.n_layers, self.n_heads, self.vocab_size
            ));
        }
        if self.ffn_hidden_size == 0 || self.max_seq_len == 0 {
            return bad("ffn_hidden_size and max_seq_len must be positive".into());
        }
        let kv = self.kv_heads();
        if kv == 0 || !self.n_heads.is_multiple_of(kv) {
            return bad(format!(
                "n_heads ({}) must be a multiple of n_kv_heads ({kv})",
                self.n_heads
            ));
        }
        let head_dim = self.head_dim();
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return bad(format!(
                "head_dim must be even and positive, found {head_dim}"
            ));
        }
        if self.head_dim.is_none() && !self.dim.is_multiple_of(self.n_heads) {
            return bad(format!(
                "dim ({}) must be a multiple of n_heads ({}) when head_dim is not given",
                self.dim, self.n_heads
            ));
        }
        if !self.norm_type.eq_ignore_ascii_case("rmsnorm") {
            return bad(format!(
                "norm_type '{}' is not supported: the Cosmos models use 'rmsnorm'",
                self.norm_type
            ));
        }
        if self.pytorch_rope_version != "v2" {
            return bad(format!(
                "pytorch_rope_version '{}' is not supported: expected 'v2' (rotate-half RoPE, as the Cosmos models use)",
                self.pytorch_rope_version
            ));
        }
        if !self.causal_mask {
            return bad(
                "causal_mask = false is not supported (autoregressive decoding is causal)".into(),
            );
        }
        if self.insert_cross_attn_every_k_layers == 0 {
            return bad("insert_cross_attn_every_k_layers must be at least 1".into());
        }
        if self.insert_cross_attn && self.context_dim == 0 {
            return bad("context_dim must be positive with cross-attention".into());
        }
        if self.pad_to_multiple_of == Some(0) {
            return bad("pad_to_multiple_of must be positive when given".into());
        }
        match self.rope_dim.as_str() {
            "3D" => {
                let Some(grid) = self.latent_shape() else {
                    return bad(format!(
                        "rope_dim '3D' needs video_latent_shape [T, H, W], found {:?}",
                        self.video_latent_shape
                    ));
                };
                if grid.contains(&0) {
                    return bad(format!(
                        "video_latent_shape must be positive, found {grid:?}"
                    ));
                }
                if head_dim / 6 * 2 == 0 {
                    return bad(format!(
                        "head_dim {head_dim} is too small for 3D RoPE (needs at least 6)"
                    ));
                }
            }
            "1D" => {}
            other => {
                return bad(format!(
                    "rope_dim '{other}' is not supported: expected '3D' or '1D'"
                ));
            }
        }
        if self.apply_abs_pos_emb {
            if self.rope_dim != "3D" {
                return bad(
                    "apply_abs_pos_emb needs rope_dim '3D' (the embedding is over the latent grid)"
                        .into(),
                );
            }
            if !self.dim.is_multiple_of(2) || self.dim / 6 * 2 == 0 {
                return bad(format!(
                    "the 3D sin-cos position embedding needs an even dim ≥ 6, found {}",
                    self.dim
                ));
            }
        }
        if self.apply_yarn {
            let (Some(scale), Some(fast), Some(slow)) =
                (self.yarn_scale, self.yarn_beta_fast, self.yarn_beta_slow)
            else {
                return bad(
                    "apply_yarn needs yarn_scale, yarn_beta_fast and yarn_beta_slow".into(),
                );
            };
            if scale <= 0.0 || fast == slow {
                return bad(format!(
                    "YaRN needs yarn_scale > 0 and yarn_beta_fast ≠ yarn_beta_slow, found {scale}, {fast}, {slow}"
                ));
            }
            match self.rope_dim.as_str() {
                "3D" => match self.original_latent_shape.as_deref() {
                    Some(&[t, h, _]) if t > 0 && h > 0 => {}
                    other => {
                        return bad(format!(
                            "YaRN with 3D RoPE needs original_latent_shape [T, H, W], found {other:?}"
                        ));
                    }
                },
                _ => {
                    if self.original_seq_len.unwrap_or(0) == 0 {
                        return bad("YaRN with 1D RoPE needs original_seq_len".into());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_shapes() {
        let c = ArConfig::cosmos_4b();
        c.validate().unwrap();
        assert_eq!(
            (c.dim, c.n_layers, c.n_heads, c.kv_heads()),
            (4096, 16, 32, 8)
        );
        assert_eq!(c.head_dim(), 128);
        assert_eq!(c.latent_tokens(), Some(12_800));
        assert_eq!(c.embedding_rows(), 64_000);
        let v = ArConfig::cosmos_5b_video2world();
        v.validate().unwrap();
        assert_eq!(v.embedding_rows(), 64_064);
        assert_eq!(v.begin_of_video_token(), Some(64_000));
        assert_eq!(v.max_seq_len, 12_864);
        assert!(v.has_cross_attention(3) && v.apply_abs_pos_emb);
        let b = ArConfig::cosmos_13b_video2world();
        b.validate().unwrap();
        assert_eq!((b.dim, b.n_layers, b.head_dim()), (5120, 40, 128));
        assert!(b.apply_yarn);
        assert_eq!(
            ArPreset::parse("Cosmos-1.0-Autoregressive-12B").unwrap(),
            ArPreset::Cosmos12B
        );
        assert!(ArPreset::parse("7b").is_err());
    }

    #[test]
    fn reads_reference_json_and_ignores_unknown_fields() {
        let json = serde_json::json!({"config": {
            "dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "head_dim": null,
            "vocab_size": 512, "ffn_hidden_size": 128, "rope_dim": "3D",
            "video_latent_shape": [2, 4, 6], "tokenizer": null, "vision_encoder": null,
            "something_new": {"a": 1}
        }});
        let c = ArConfig::from_json(&json).unwrap();
        assert_eq!(c.head_dim(), 16);
        assert_eq!(c.latent_shape(), Some([2, 4, 6]));
    }

    #[test]
    fn rejects_inconsistent_configs() {
        let mut c = ArConfig::cosmos_4b();
        c.n_kv_heads = Some(5);
        assert!(matches!(c.validate(), Err(Error::Config(m)) if m.contains("n_kv_heads")));
        let mut c = ArConfig::cosmos_4b();
        c.video_latent_shape = None;
        assert!(c.validate().is_err());
        let mut c = ArConfig::cosmos_12b();
        c.original_latent_shape = None;
        assert!(c.validate().is_err());
    }
}
