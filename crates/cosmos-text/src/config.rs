//! `T5Config`: Hugging Face's T5 `config.json`, read as it is.
//!
//! Only the fields the encoder needs are kept; every other key (`architectures`,
//! `task_specific_params`, decoder settings, ...) is ignored. Missing fields take the defaults
//! of `transformers.T5Config`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The activation of the feed-forward block (Hugging Face's `ACT2FN` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `relu`: the original T5 (t5-small ... t5-11b).
    Relu,
    /// `gelu`: exact GELU, `x·Φ(x)` with the error function.
    Gelu,
    /// `gelu_new` (also `gelu_pytorch_tanh`, `gelu_fast`): the tanh approximation of GELU,
    /// which T5 v1.1's `gated-gelu` uses.
    GeluTanh,
    /// `silu` / `swish`: `x·σ(x)`.
    Silu,
}

impl Activation {
    /// Parses an `ACT2FN` name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "relu" => Ok(Self::Relu),
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "silu" | "swish" => Ok(Self::Silu),
            other => Err(Error::Config(format!(
                "activation '{other}' is not supported: expected relu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, silu or swish"
            ))),
        }
    }
}

/// The feed-forward block: `wo(act(wi x))` or, gated, `wo(act(wi_0 x) ⊙ wi_1 x)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedForward {
    /// The activation.
    pub activation: Activation,
    /// Whether the block is gated (`wi_0`, `wi_1`, `wo`) rather than plain (`wi`, `wo`).
    pub gated: bool,
}

/// A T5 configuration as Hugging Face writes it in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct T5Config {
    /// Rows of the token embedding table (`shared`).
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    /// Width of the residual stream.
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    /// Channels per attention head; the attention inner width is `num_heads·d_kv`, which
    /// need not equal `d_model` (t5-11b: 128·128 = 16 384 against 1 024).
    #[serde(default = "defaults::d_kv")]
    pub d_kv: usize,
    /// Hidden width of the feed-forward block.
    #[serde(default = "defaults::d_ff")]
    pub d_ff: usize,
    /// Encoder blocks.
    #[serde(default = "defaults::num_layers")]
    pub num_layers: usize,
    /// Attention heads.
    #[serde(default = "defaults::num_heads")]
    pub num_heads: usize,
    /// Relative-position buckets (half for each direction in the encoder).
    #[serde(default = "defaults::num_buckets")]
    pub relative_attention_num_buckets: usize,
    /// Distances at or beyond this share the last bucket.
    #[serde(default = "defaults::max_distance")]
    pub relative_attention_max_distance: usize,
    /// Epsilon of the RMS-style T5 LayerNorm.
    #[serde(default = "defaults::layer_norm_epsilon")]
    pub layer_norm_epsilon: f64,
    /// `relu`, `gated-gelu`, or more generally `ACT` / `gated-ACT`.
    #[serde(default = "defaults::feed_forward_proj")]
    pub feed_forward_proj: String,
    /// An explicit activation name, which overrides the one `feed_forward_proj` implies
    /// (newer configs such as flan-t5 carry it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_act_fn: Option<String>,
    /// An explicit gating flag, which overrides the one `feed_forward_proj` implies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_gated_act: Option<bool>,
    /// Id of the padding token.
    #[serde(default = "defaults::pad_token_id")]
    pub pad_token_id: u32,
    /// Id of the end-of-sequence token, appended to every prompt.
    #[serde(default = "defaults::eos_token_id")]
    pub eos_token_id: u32,
}

mod defaults {
    pub fn vocab_size() -> usize {
        32128
    }
    pub fn d_model() -> usize {
        512
    }
    pub fn d_kv() -> usize {
        64
    }
    pub fn d_ff() -> usize {
        2048
    }
    pub fn num_layers() -> usize {
        6
    }
    pub fn num_heads() -> usize {
        8
    }
    pub fn num_buckets() -> usize {
        32
    }
    pub fn max_distance() -> usize {
        128
    }
    pub fn layer_norm_epsilon() -> f64 {
        1e-6
    }
    pub fn feed_forward_proj() -> String {
        "relu".to_string()
    }
    pub fn pad_token_id() -> u32 {
        0
    }
    pub fn eos_token_id() -> u32 {
        1
    }
}

impl Default for T5Config {
    /// `transformers.T5Config()`'s defaults (the t5-small shape).
    fn default() -> Self {
        Self {
            vocab_size: defaults::vocab_size(),
            d_model: defaults::d_model(),
            d_kv: defaults::d_kv(),
            d_ff: defaults::d_ff(),
            num_layers: defaults::num_layers(),
            num_heads: defaults::num_heads(),
            relative_attention_num_buckets: defaults::num_buckets(),
            relative_attention_max_distance: defaults::max_distance(),
            layer_norm_epsilon: defaults::layer_norm_epsilon(),
            feed_forward_proj: defaults::feed_forward_proj(),
            dense_act_fn: None,
            is_gated_act: None,
            pad_token_id: defaults::pad_token_id(),
            eos_token_id: defaults::eos_token_id(),
        }
    }
}

impl T5Config {
    /// The encoder of `google-t5/t5-11b`, which the Cosmos-1.0 diffusion and AR Video2World
    /// models use: the original T5 with a ReLU FFN, d_model 1024, 24 blocks, 128 heads × d_kv
    /// 128 (inner width 16 384), d_ff 65 536.
    pub fn t5_11b() -> Self {
        Self {
            d_model: 1024,
            d_kv: 128,
            d_ff: 65536,
            num_layers: 24,
            num_heads: 128,
            feed_forward_proj: "relu".to_string(),
            ..Self::default()
        }
    }

    /// `google/t5-v1_1-xxl`: T5 v1.1 with a gated-GELU FFN, d_model 4096, 24 blocks, 64 heads ×
    /// d_kv 64, d_ff 10 240.
    pub fn t5_v1_1_xxl() -> Self {
        Self {
            d_model: 4096,
            d_kv: 64,
            d_ff: 10240,
            num_layers: 24,
            num_heads: 64,
            feed_forward_proj: "gated-gelu".to_string(),
            ..Self::default()
        }
    }

    /// Parses a `config.json` document (unknown keys are ignored) and validates it.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(text).map_err(|e| Error::Json {
            path: "<config>".to_string(),
            message: format!("not a T5 config: {e}"),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a `config.json` file (unknown keys are ignored) and validates it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|e| match e {
            Error::Json { message, .. } => Error::Json {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Reads the config from a JSON value: either the config itself or an object holding it
    /// under `config` (the parity fixtures' sidecars).
    pub fn from_json_value(value: &serde_json::Value) -> Result<Self> {
        let inner = value.get("config").unwrap_or(value);
        let config: Self = serde_json::from_value(inner.clone()).map_err(|e| Error::Json {
            path: "<config>".to_string(),
            message: format!("not a T5 config: {e}"),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The attention inner width, `num_heads·d_kv`.
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// The feed-forward block the config describes, following `transformers.T5Config`:
    /// `feed_forward_proj` is `ACT` or `gated-ACT`; `gated-gelu` means the tanh GELU
    /// (`gelu_new`); explicit `dense_act_fn` / `is_gated_act` keys win.
    pub fn feed_forward(&self) -> Result<FeedForward> {
        let parts: Vec<&str> = self.feed_forward_proj.split('-').collect();
        let (gated, act) = match parts[..] {
            [act] => (false, act),
            ["gated", act] => (true, act),
            _ => {
                return Err(Error::Config(format!(
                    "feed_forward_proj '{}' is not of the form 'ACT' or 'gated-ACT' (e.g. 'relu', 'gated-gelu')",
                    self.feed_forward_proj
                )));
            }
        };
        let act = if self.feed_forward_proj == "gated-gelu" {
            "gelu_new"
        } else {
            act
        };
        let act = self.dense_act_fn.as_deref().unwrap_or(act);
        Ok(FeedForward {
            activation: Activation::from_name(act)?,
            gated: self.is_gated_act.unwrap_or(gated),
        })
    }

    /// Checks that the sizes are usable.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::Config(format!("{name} must be positive, found 0")));
            }
        }
        // Each direction gets num_buckets/2 buckets, half of them exact.
        let max_exact = self.relative_attention_num_buckets / 4;
        if max_exact == 0 {
            return Err(Error::Config(format!(
                "relative_attention_num_buckets must be at least 4, found {}",
                self.relative_attention_num_buckets
            )));
        }
        if self.relative_attention_max_distance <= max_exact {
            return Err(Error::Config(format!(
                "relative_attention_max_distance must exceed relative_attention_num_buckets/4 = {max_exact}, found {}",
                self.relative_attention_max_distance
            )));
        }
        if !(self.layer_norm_epsilon >= 0.0 && self.layer_norm_epsilon.is_finite()) {
            return Err(Error::Config(format!(
                "layer_norm_epsilon must be a non-negative number, found {}",
                self.layer_norm_epsilon
            )));
        }
        self.feed_forward()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hugging_face_config_with_extra_keys() {
        // The t5-11b config.json as Hugging Face ships it (abridged: the task_specific_params
        // block is shortened), with keys we ignore.
        let text = r#"{
            "architectures": ["T5WithLMHeadModel"],
            "d_ff": 65536, "d_kv": 128, "d_model": 1024, "decoder_start_token_id": 0,
            "dropout_rate": 0.1, "eos_token_id": 1, "initializer_factor": 1.0,
            "is_encoder_decoder": true, "layer_norm_epsilon": 1e-06, "model_type": "t5",
            "n_positions": 512, "num_heads": 128, "num_layers": 24, "output_past": true,
            "pad_token_id": 0, "relative_attention_num_buckets": 32,
            "task_specific_params": {"summarization": {"prefix": "summarize: "}},
            "vocab_size": 32128
        }"#;
        let config = T5Config::from_json_str(text).unwrap();
        assert_eq!(config, T5Config::t5_11b());
        assert_eq!(config.inner_dim(), 16384);
        assert_eq!(
            config.feed_forward().unwrap(),
            FeedForward {
                activation: Activation::Relu,
                gated: false
            }
        );
    }

    #[test]
    fn gated_gelu_means_tanh_gelu() {
        let ff = T5Config::t5_v1_1_xxl().feed_forward().unwrap();
        assert_eq!(ff.activation, Activation::GeluTanh);
        assert!(ff.gated);
        let config = T5Config {
            feed_forward_proj: "gated-silu".into(),
            ..T5Config::default()
        };
        assert_eq!(config.feed_forward().unwrap().activation, Activation::Silu);
    }

    #[test]
    fn bad_configs_are_refused() {
        for bad in [
            T5Config {
                feed_forward_proj: "gated-gelu-x".into(),
                ..T5Config::default()
            },
            T5Config {
                feed_forward_proj: "tanh".into(),
                ..T5Config::default()
            },
            T5Config {
                num_heads: 0,
                ..T5Config::default()
            },
            T5Config {
                relative_attention_num_buckets: 2,
                ..T5Config::default()
            },
            T5Config {
                relative_attention_max_distance: 8,
                ..T5Config::default()
            },
        ] {
            assert!(matches!(bad.validate(), Err(Error::Config(_))), "{bad:?}");
        }
        assert!(matches!(
            T5Config::from_json_str(r#"{"d_model": "big"}"#),
            Err(Error::Json { .. })
        ));
    }
}
