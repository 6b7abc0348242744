//! Tokenizer configurations: the reference's constructor arguments as a serde struct, and
//! the published models as named presets.
//!
//! [`TokenizerConfig`] deserializes the dict that NVIDIA's `cosmos_tokenizer` passes to
//! `TokenizerModels[name](**config)` (the `config` object of a parity fixture's JSON, or a
//! `config.json` next to a checkpoint) as it is: unknown keys are ignored, absent keys take
//! the reference modules' defaults. The presets are the package's default configs
//! (`networks/configs.py`) with the compression factors of each published checkpoint, exactly
//! as its `image_cli.py` / `video_cli.py` build them.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The four tokenizer families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenizerKind {
    /// Continuous image tokenizer (`ContinuousImageTokenizer`).
    #[serde(rename = "CI")]
    ContinuousImage,
    /// Discrete image tokenizer with FSQ (`DiscreteImageTokenizer`).
    #[serde(rename = "DI")]
    DiscreteImage,
    /// Causal continuous video tokenizer (`CausalContinuousVideoTokenizer`).
    #[serde(rename = "CV")]
    ContinuousVideo,
    /// Causal discrete video tokenizer with FSQ (`CausalDiscreteVideoTokenizer`).
    #[serde(rename = "DV")]
    DiscreteVideo,
}

impl TokenizerKind {
    /// Parses the reference's short name (`CI`, `DI`, `CV`, `DV`).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_uppercase().as_str() {
            "CI" => Ok(Self::ContinuousImage),
            "DI" => Ok(Self::DiscreteImage),
            "CV" => Ok(Self::ContinuousVideo),
            "DV" => Ok(Self::DiscreteVideo),
            _ => Err(Error::Config(format!(
                "'name' must be one of CI, DI, CV, DV (it picks the tokenizer class), found '{name}'"
            ))),
        }
    }

    /// The reference's short name.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::ContinuousImage => "CI",
            Self::DiscreteImage => "DI",
            Self::ContinuousVideo => "CV",
            Self::DiscreteVideo => "DV",
        }
    }

    /// Whether the tokenizer is a causal video tokenizer (CV, DV).
    pub fn is_video(self) -> bool {
        matches!(self, Self::ContinuousVideo | Self::DiscreteVideo)
    }

    /// Whether the tokenizer quantizes (DI, DV).
    pub fn is_discrete(self) -> bool {
        matches!(self, Self::DiscreteImage | Self::DiscreteVideo)
    }
}

/// How the input is cut into patches before the first convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PatchMethod {
    /// Haar wavelet transform, one level per factor 2 (the published models).
    Haar,
    /// Plain space-to-depth rearrangement (the reference modules' default).
    #[default]
    Rearrange,
}

/// Posterior formulation of the continuous tokenizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Formulation {
    /// Plain autoencoder: the latent is the encoder output (the published models).
    #[default]
    #[serde(rename = "AE")]
    Ae,
    /// Gaussian posterior: the encoder outputs mean and log-variance; [`crate::Tokenizer::encode`]
    /// returns the mean (no sampling), so encoding is deterministic.
    #[serde(rename = "VAE")]
    Vae,
}

/// The encoder / decoder architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkType {
    /// The 2D image network (`layers2d.Encoder` / `Decoder`).
    Default,
    /// The non-factorized 3D network (`EncoderBase` / `DecoderBase`; not supported here).
    #[serde(rename = "BASE")]
    Base,
    /// The factorized spatio-temporal 3D network (`EncoderFactorized` / `DecoderFactorized`).
    #[serde(rename = "FACTORIZED")]
    Factorized,
}

/// The quantizer of the discrete tokenizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuantizerType {
    /// Finite scalar quantization (the published models).
    #[serde(rename = "FSQ")]
    Fsq,
    /// Residual FSQ (the reference's default when no quantizer is named; not supported here).
    #[serde(rename = "RESFSQ")]
    ResidualFsq,
    /// Vector quantization (not supported here).
    #[serde(rename = "VQ")]
    Vq,
    /// Lookup-free quantization (not supported here).
    #[serde(rename = "LFQ")]
    Lfq,
}

fn default_channels() -> usize {
    3
}
fn default_one() -> usize {
    1
}

/// A tokenizer's constructor arguments, with the reference's key names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerConfig {
    /// `CI`, `DI`, `CV` or `DV`: picks the tokenizer class.
    pub name: String,
    /// Feature-map sizes (computed from `resolution`, not from the input) that get attention.
    pub attn_resolutions: Vec<usize>,
    /// Base channel count.
    pub channels: usize,
    /// Channel multiplier of each resolution level.
    pub channels_mult: Vec<usize>,
    /// Dropout probability (unused at inference).
    #[serde(default)]
    pub dropout: f64,
    /// Input image channels.
    #[serde(default = "default_channels")]
    pub in_channels: usize,
    /// Output image channels.
    #[serde(default = "default_channels")]
    pub out_channels: usize,
    /// Residual blocks per level (the decoder has one more).
    pub num_res_blocks: usize,
    /// Nominal training resolution; only decides where attention sits.
    pub resolution: usize,
    /// Patch size of the patcher (a power of two).
    #[serde(default = "default_one")]
    pub patch_size: usize,
    /// Patching method.
    #[serde(default)]
    pub patch_method: PatchMethod,
    /// Latent channels of the continuous tokenizers.
    #[serde(default)]
    pub latent_channels: Option<usize>,
    /// Encoder output / decoder input channels.
    pub z_channels: usize,
    /// Multiplier on `z_channels` for the encoder output (2 for a VAE).
    #[serde(default = "default_one")]
    pub z_factor: usize,
    /// GroupNorm groups of the BASE 3D network (the factorized network always uses 1).
    #[serde(default)]
    pub num_groups: Option<usize>,
    /// The older rule for where the factorized decoder upsamples in time.
    #[serde(default)]
    pub legacy_mode: bool,
    /// Spatial compression factor.
    pub spatial_compression: usize,
    /// Temporal compression factor (video).
    #[serde(default)]
    pub temporal_compression: Option<usize>,
    /// `AE` or `VAE` (continuous tokenizers).
    #[serde(default)]
    pub formulation: Option<Formulation>,
    /// Encoder architecture.
    #[serde(default)]
    pub encoder: Option<NetworkType>,
    /// Decoder architecture.
    #[serde(default)]
    pub decoder: Option<NetworkType>,
    /// Quantizer (discrete tokenizers).
    #[serde(default)]
    pub quantizer: Option<QuantizerType>,
    /// Channels of the quantized code (discrete tokenizers; equals the number of FSQ levels).
    #[serde(default)]
    pub embedding_dim: Option<usize>,
    /// FSQ levels per code channel.
    #[serde(default)]
    pub levels: Option<Vec<usize>>,
    /// Quantizers of residual FSQ (ignored by FSQ).
    #[serde(default)]
    pub num_quantizers: Option<usize>,
    /// The quantizer's output dtype in the reference (`torch.bfloat16` by default); codes are
    /// exact in any float type, so this is informational.
    #[serde(default)]
    pub dtype: Option<String>,
}

/// The published Cosmos tokenizers, by name.
pub const PRESETS: [&str; 10] = [
    "CI8x8",
    "CI16x16",
    "CV4x8x8",
    "CV8x8x8",
    "CV8x16x16",
    "DI8x8",
    "DI16x16",
    "DV4x8x8",
    "DV8x8x8",
    "DV8x16x16",
];

impl TokenizerConfig {
    /// The config of a published model: `CI8x8`, `CI16x16`, `CV4x8x8`, `CV8x8x8`, `CV8x16x16`,
    /// `DI8x8`, `DI16x16`, `DV4x8x8`, `DV8x8x8`, `DV8x16x16`. Case-insensitive; the Hugging
    /// Face repository names (`Cosmos-Tokenizer-CV8x8x8`, `Cosmos-0.1-Tokenizer-DV4x8x8`,
    /// `Cosmos-1.0-Tokenizer-CV8x8x8`) work too.
    pub fn preset(name: &str) -> Result<Self> {
        let short = name
            .rsplit_once("Tokenizer-")
            .map(|(_, s)| s)
            .unwrap_or(name)
            .trim_end_matches('/');
        let unknown = || Error::UnknownPreset {
            name: name.to_string(),
            known: PRESETS.join(", "),
        };
        let upper = short.to_ascii_uppercase();
        if upper.len() < 3 || !PRESETS.iter().any(|p| p.eq_ignore_ascii_case(short)) {
            return Err(unknown());
        }
        let kind = TokenizerKind::from_name(&upper[..2]).map_err(|_| unknown())?;
        let factors: Vec<usize> = upper[2..]
            .split('X')
            .map(|f| f.parse().map_err(|_| unknown()))
            .collect::<Result<_>>()?;
        let mut config = Self::reference_default(kind);
        if kind.is_video() {
            config.temporal_compression = Some(factors[0]);
            config.spatial_compression = factors[1];
        } else {
            config.spatial_compression = factors[0];
        }
        Ok(config)
    }

    /// Finds a preset name inside a path or repository name (`.../Cosmos-Tokenizer-DV8x16x16`),
    /// preferring the longest match.
    pub fn preset_in(text: &str) -> Option<&'static str> {
        let lower = text.to_ascii_lowercase();
        PRESETS
            .iter()
            .filter(|p| lower.contains(&p.to_ascii_lowercase()))
            .max_by_key(|p| p.len())
            .copied()
    }

    /// The package's default config of a family (`networks/configs.py`): channels 128,
    /// multipliers [2, 4, 4], 2 residual blocks, attention at 32, resolution 1024, Haar patches
    /// of 4, 16 latent channels, FSQ levels [8, 8, 8, 5, 5, 5].
    pub fn reference_default(kind: TokenizerKind) -> Self {
        let video = kind.is_video();
        let discrete = kind.is_discrete();
        Self {
            name: kind.short_name().to_string(),
            attn_resolutions: vec![32],
            channels: 128,
            channels_mult: vec![2, 4, 4],
            dropout: 0.0,
            in_channels: 3,
            out_channels: 3,
            num_res_blocks: 2,
            resolution: 1024,
            patch_size: 4,
            patch_method: PatchMethod::Haar,
            latent_channels: (!discrete).then_some(16),
            z_channels: if discrete && !video { 256 } else { 16 },
            z_factor: 1,
            num_groups: video.then_some(1),
            legacy_mode: false,
            spatial_compression: match kind {
                TokenizerKind::ContinuousVideo => 8,
                _ => 16,
            },
            temporal_compression: video.then_some(8),
            formulation: (!discrete).then_some(Formulation::Ae),
            encoder: Some(if video {
                NetworkType::Factorized
            } else {
                NetworkType::Default
            }),
            decoder: Some(if video {
                NetworkType::Factorized
            } else {
                NetworkType::Default
            }),
            quantizer: discrete.then_some(QuantizerType::Fsq),
            embedding_dim: discrete.then_some(6),
            levels: discrete.then(|| vec![8, 8, 8, 5, 5, 5]),
            num_quantizers: (discrete && !video).then_some(4),
            dtype: None,
        }
    }

    /// Parses a config from JSON: either the config object itself or an object holding it
    /// under `config` (a parity fixture's sidecar).
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let object = match value.get("config") {
            Some(inner) if inner.is_object() => inner,
            _ => value,
        };
        if crate::diffusers::is_diffusers_config(object) {
            return crate::diffusers::config_from_diffusers(object);
        }
        let config: Self = serde_json::from_value(object.clone())
            .map_err(|e| Error::Config(format!("cannot read the config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a config from a JSON file (see [`from_json`](Self::from_json)).
    pub fn from_json_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: format!("not JSON: {e}"),
        })?;
        Self::from_json(&value)
    }

    /// The tokenizer family named by `name`.
    pub fn kind(&self) -> Result<TokenizerKind> {
        TokenizerKind::from_name(&self.name)
    }

    /// The channels of the continuous latent or of the discrete code.
    pub fn latent_channels(&self) -> usize {
        match self.kind() {
            Ok(kind) if kind.is_discrete() => self.embedding_dim.unwrap_or(0),
            _ => self.latent_channels.unwrap_or(self.z_channels),
        }
    }

    /// The FSQ levels (discrete tokenizers).
    pub fn fsq_levels(&self) -> &[usize] {
        self.levels.as_deref().unwrap_or(&[])
    }

    /// The decoder's channel multipliers: the continuous video tokenizer replaces them by
    /// `[2, 4]` whenever its temporal compression is 4 (or unset), as the reference does.
    pub fn decoder_channels_mult(&self) -> Vec<usize> {
        if matches!(self.kind(), Ok(TokenizerKind::ContinuousVideo))
            && self.temporal_compression.unwrap_or(4) == 4
        {
            vec![2, 4]
        } else {
            self.channels_mult.clone()
        }
    }

    /// The number of Haar/rearrange levels: log2(patch_size).
    pub fn patch_levels(&self) -> usize {
        self.patch_size.trailing_zeros() as usize
    }

    /// Spatial downsamplings the encoder is asked for: log2(spatial) − log2(patch).
    pub(crate) fn requested_spatial_downs(&self) -> isize {
        log2(self.spatial_compression) as isize - self.patch_levels() as isize
    }

    /// Temporal downsamplings the video encoder is asked for.
    pub(crate) fn requested_temporal_downs(&self) -> isize {
        log2(self.temporal_compression.unwrap_or(8)) as isize - self.patch_levels() as isize
    }

    /// The encoder's real spatial factor (patching and downsampling layers), which equals
    /// `spatial_compression` for every sensible config.
    pub fn effective_spatial_compression(&self) -> usize {
        let levels = self.channels_mult.len();
        let downs = self.requested_spatial_downs().max(0) as usize;
        let downs = match self.kind() {
            Ok(kind) if kind.is_video() => downs.min(levels.saturating_sub(1)),
            _ => downs.min(levels),
        };
        self.patch_size << downs
    }

    /// The video encoder's real temporal factor (1 for image tokenizers).
    pub fn effective_temporal_compression(&self) -> usize {
        match self.kind() {
            Ok(kind) if kind.is_video() => {
                let levels = self.channels_mult.len();
                let downs =
                    (self.requested_temporal_downs().max(0) as usize).min(levels.saturating_sub(1));
                self.patch_size << downs
            }
            _ => 1,
        }
    }

    /// Checks everything the model construction relies on; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let kind = self.kind()?;
        let bad = |message: String| Err(Error::Config(message));
        if self.channels == 0 || self.channels_mult.is_empty() || self.channels_mult.contains(&0) {
            return bad(format!(
                "'channels' and every 'channels_mult' entry must be positive and 'channels_mult' non-empty, \
                 found channels {} and channels_mult {:?}",
                self.channels, self.channels_mult
            ));
        }
        if self.num_res_blocks == 0 {
            return bad("'num_res_blocks' must be at least 1".into());
        }
        if self.in_channels == 0 || self.out_channels == 0 || self.z_channels == 0 {
            return bad(format!(
                "'in_channels', 'out_channels' and 'z_channels' must be positive, found {}, {}, {}",
                self.in_channels, self.out_channels, self.z_channels
            ));
        }
        if !self.patch_size.is_power_of_two() {
            return bad(format!(
                "'patch_size' must be a power of two, found {}",
                self.patch_size
            ));
        }
        if !self.spatial_compression.is_power_of_two() {
            return bad(format!(
                "'spatial_compression' must be a power of two, found {}",
                self.spatial_compression
            ));
        }
        if self.requested_spatial_downs() > self.channels_mult.len() as isize {
            return bad(format!(
                "spatial compression {} with patch size {} needs {} downsamplings, but there are only {} levels",
                self.spatial_compression,
                self.patch_size,
                self.requested_spatial_downs(),
                self.channels_mult.len()
            ));
        }
        if self.z_factor == 0 {
            return bad("'z_factor' must be at least 1".into());
        }
        let network = if kind.is_video() {
            NetworkType::Factorized
        } else {
            NetworkType::Default
        };
        for (key, value) in [("encoder", self.encoder), ("decoder", self.decoder)] {
            let value = value.unwrap_or(if kind.is_video() {
                NetworkType::Base
            } else {
                NetworkType::Default
            });
            if value != network {
                return bad(format!(
                    "'{key}': {} tokenizers are implemented with the {:?} network, found {:?}",
                    kind.short_name(),
                    network,
                    value
                ));
            }
        }
        if kind.is_video() {
            let temporal = self.temporal_compression.unwrap_or(8);
            if !temporal.is_power_of_two() {
                return bad(format!(
                    "'temporal_compression' must be a power of two, found {temporal}"
                ));
            }
            if self.requested_temporal_downs() > self.channels_mult.len() as isize {
                return bad(format!(
                    "temporal compression {temporal} with patch size {} needs {} downsamplings, but there are only {} levels",
                    self.patch_size,
                    self.requested_temporal_downs(),
                    self.channels_mult.len()
                ));
            }
        } else {
            for (what, c) in [("channels", self.channels)].into_iter().chain(
                self.channels_mult
                    .iter()
                    .map(|m| ("channels·mult", self.channels * m)),
            ) {
                if c % 32 != 0 {
                    return bad(format!(
                        "image tokenizers normalise with 32 groups, so every level's channels must be a multiple of 32; {what} = {c}"
                    ));
                }
            }
        }
        if kind.is_discrete() {
            let quantizer = self.quantizer.unwrap_or(QuantizerType::ResidualFsq);
            if quantizer != QuantizerType::Fsq {
                return bad(format!(
                    "'quantizer': only FSQ (the published models' quantizer) is implemented, found {quantizer:?}"
                ));
            }
            let levels = self.fsq_levels();
            if levels.is_empty() || levels.iter().any(|&l| l < 2) {
                return bad(format!(
                    "'levels' must list at least one FSQ level, each ≥ 2, found {levels:?}"
                ));
            }
            let codebook: u128 = levels.iter().map(|&l| l as u128).product();
            if codebook > i32::MAX as u128 {
                return bad(format!(
                    "FSQ levels {levels:?} give {codebook} codes, more than int32 indices hold"
                ));
            }
            match self.embedding_dim {
                Some(d) if d == levels.len() => {}
                other => {
                    return bad(format!(
                        "'embedding_dim' must equal the number of FSQ levels ({}), found {other:?}",
                        levels.len()
                    ));
                }
            }
        } else {
            match self.latent_channels {
                Some(c) if c > 0 => {}
                other => {
                    return bad(format!(
                        "'latent_channels' must be positive for continuous tokenizers, found {other:?}"
                    ));
                }
            }
            if self.formulation == Some(Formulation::Vae) && self.z_factor != 2 {
                return bad(format!(
                    "a VAE encoder outputs mean and log-variance, so 'z_factor' must be 2, found {}",
                    self.z_factor
                ));
            }
        }
        Ok(())
    }
}

fn log2(value: usize) -> usize {
    value.max(1).trailing_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_the_published_factors() {
        let cv = TokenizerConfig::preset("CV8x16x16").unwrap();
        assert_eq!(cv.kind().unwrap(), TokenizerKind::ContinuousVideo);
        assert_eq!(cv.temporal_compression, Some(8));
        assert_eq!(cv.spatial_compression, 16);
        assert_eq!(cv.effective_spatial_compression(), 16);
        assert_eq!(cv.effective_temporal_compression(), 8);
        assert_eq!(cv.latent_channels(), 16);
        let dv = TokenizerConfig::preset("Cosmos-Tokenizer-DV4x8x8").unwrap();
        assert_eq!(dv.kind().unwrap(), TokenizerKind::DiscreteVideo);
        assert_eq!(dv.effective_temporal_compression(), 4);
        assert_eq!(dv.latent_channels(), 6);
        let di = TokenizerConfig::preset("di16x16").unwrap();
        assert_eq!(di.z_channels, 256);
        assert_eq!(di.effective_spatial_compression(), 16);
        for name in PRESETS {
            TokenizerConfig::preset(name).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn continuous_video_decoder_multipliers_follow_the_reference() {
        let cv4 = TokenizerConfig::preset("CV4x8x8").unwrap();
        assert_eq!(cv4.decoder_channels_mult(), vec![2, 4]);
        let dv4 = TokenizerConfig::preset("DV4x8x8").unwrap();
        assert_eq!(dv4.decoder_channels_mult(), vec![2, 4, 4]);
        let cv8 = TokenizerConfig::preset("CV8x8x8").unwrap();
        assert_eq!(cv8.decoder_channels_mult(), vec![2, 4, 4]);
    }

    #[test]
    fn unknown_preset_lists_the_known_ones() {
        let err = TokenizerConfig::preset("CV9x9x9").unwrap_err().to_string();
        assert!(err.contains("CV8x8x8"), "{err}");
        assert_eq!(
            TokenizerConfig::preset_in("/models/Cosmos-1.0-Tokenizer-CV8x8x8"),
            Some("CV8x8x8")
        );
        assert_eq!(TokenizerConfig::preset_in("/models/other"), None);
    }

    #[test]
    fn fixture_style_json_parses() {
        let json = serde_json::json!({
            "kind": "DV",
            "config": {
                "attn_resolutions": [8], "channels": 16, "channels_mult": [1, 2, 2],
                "dropout": 0.0, "in_channels": 3, "num_res_blocks": 1, "out_channels": 3,
                "resolution": 64, "patch_size": 4, "patch_method": "haar", "z_channels": 16,
                "z_factor": 1, "num_groups": 1, "legacy_mode": false, "spatial_compression": 8,
                "temporal_compression": 4, "quantizer": "FSQ", "embedding_dim": 6,
                "levels": [8, 8, 8, 5, 5, 5], "encoder": "FACTORIZED", "decoder": "FACTORIZED",
                "name": "DV", "dtype": "torch.float32", "something_new": 1
            }
        });
        let config = TokenizerConfig::from_json(&json).unwrap();
        assert_eq!(config.kind().unwrap(), TokenizerKind::DiscreteVideo);
        assert_eq!(config.patch_method, PatchMethod::Haar);
        assert_eq!(config.fsq_levels(), &[8, 8, 8, 5, 5, 5]);
    }

    #[test]
    fn inconsistent_configs_are_refused() {
        let mut c = TokenizerConfig::preset("DV8x8x8").unwrap();
        c.embedding_dim = Some(5);
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("embedding_dim")
        );
        let mut c = TokenizerConfig::preset("CV8x8x8").unwrap();
        c.patch_size = 3;
        assert!(c.validate().unwrap_err().to_string().contains("patch_size"));
        let mut c = TokenizerConfig::preset("CI8x8").unwrap();
        c.channels = 48;
        assert!(c.validate().unwrap_err().to_string().contains("32"));
        let mut c = TokenizerConfig::preset("DI8x8").unwrap();
        c.quantizer = Some(QuantizerType::Vq);
        assert!(c.validate().unwrap_err().to_string().contains("FSQ"));
        let mut c = TokenizerConfig::preset("CV8x8x8").unwrap();
        c.name = "XX".into();
        assert!(c.validate().is_err());
    }
}
