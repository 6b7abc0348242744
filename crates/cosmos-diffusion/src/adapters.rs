//! The pipeline traits implemented by the other cosmos-rs crates: T5 from `cosmos-text`
//! (feature `t5`) and the Cosmos continuous video tokenizer from `cosmos-tokenizer` (feature
//! `video-tokenizer`), plus the per-channel latent normalisation Cosmos applies around it.

use burn::tensor::{Tensor, TensorData};

#[cfg(any(feature = "t5", feature = "video-tokenizer"))]
use crate::error::BoxError;
#[cfg(feature = "video-tokenizer")]
use crate::pipeline::{LatentDecoder, LatentEncoder};
#[cfg(feature = "t5")]
use crate::pipeline::{TextEmbeddings, TextEncoder};
use crate::{Error, Result};

/// Per-channel (and per-latent-frame) latent statistics: the diffusion model works on
/// `(latent − mean) / std`, the tokenizer on `latent` (cosmos-predict1's `mean_std.pt`,
/// diffusers' `latents_mean` / `latents_std`).
#[derive(Debug, Clone, PartialEq)]
pub struct LatentNormalization {
    /// Means laid out `[channels, frames]` (frames ≥ 1; frame `t` past the end reuses the last).
    pub mean: Vec<f32>,
    /// Standard deviations, same layout.
    pub std: Vec<f32>,
    /// Latent channels.
    pub channels: usize,
    /// Latent frames the statistics cover.
    pub frames: usize,
}

impl LatentNormalization {
    /// Statistics of `channels × frames` values each.
    pub fn new(mean: Vec<f32>, std: Vec<f32>, channels: usize) -> Result<Self> {
        if channels == 0
            || mean.is_empty()
            || mean.len() != std.len()
            || !mean.len().is_multiple_of(channels)
        {
            return Err(Error::Config(format!(
                "latent statistics: {} means and {} stds for {channels} channels",
                mean.len(),
                std.len()
            )));
        }
        if std.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
            return Err(Error::Config(
                "latent statistics: std must be positive".into(),
            ));
        }
        let frames = mean.len() / channels;
        Ok(Self {
            mean,
            std,
            channels,
            frames,
        })
    }

    /// Reads diffusers' `latents_mean` / `latents_std` from a VAE `config.json` value;
    /// `None` when it has none.
    pub fn from_diffusers_config(
        value: &serde_json::Value,
        channels: usize,
    ) -> Result<Option<Self>> {
        let list = |k: &str| -> Option<Vec<f32>> {
            value
                .get(k)?
                .as_array()?
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32))
                .collect()
        };
        match (list("latents_mean"), list("latents_std")) {
            (Some(m), Some(s)) => Self::new(m, s, channels).map(Some),
            _ => Ok(None),
        }
    }

    /// Reads a tokenizer repository's `mean_std.pt` (`torch.save((mean, std))`, each
    /// `[1, C, T, 1, 1]` or any shape of `C·T` values laid out channel-major) with the project's
    /// one PyTorch reader.
    pub fn from_mean_std_file(path: &std::path::Path, channels: usize) -> Result<Self> {
        let checkpoint = cosmos_nn::checkpoint::Checkpoint::open(path)?;
        let bad = |m: String| Error::Config(format!("{}: {m}", path.display()));
        // The saved tuple's two entries, in order (the reader names them by position).
        let mut keys: Vec<&str> = checkpoint.keys().collect();
        keys.sort_by_key(|k| (k.len(), k.to_string()));
        let [mean_key, std_key] = keys[..] else {
            return Err(bad(format!(
                "expected two tensors (mean, std), found {} ({keys:?})",
                keys.len()
            )));
        };
        let values = |key: &str| -> Result<Vec<f32>> {
            checkpoint
                .get(key)
                .expect("listed key")
                .clone()
                .convert_dtype(burn::tensor::DType::F32)
                .try_into_vec::<f32>()
                .map_err(|e| bad(format!("tensor '{key}': {e:?}")))
        };
        Self::new(values(mean_key)?, values(std_key)?, channels)
            .map_err(|e| bad(format!("latent statistics: {e}")))
    }

    /// `[1, C, T, 1, 1]` tables for `t` latent frames.
    fn tables(&self, t: usize, device: &burn::tensor::Device) -> (Tensor<5>, Tensor<5>) {
        let pick = |v: &[f32]| -> Vec<f32> {
            (0..self.channels)
                .flat_map(|c| (0..t).map(move |f| v[c * self.frames + f.min(self.frames - 1)]))
                .collect()
        };
        let make = |v: Vec<f32>| {
            Tensor::<5>::from_data(TensorData::new(v, [1, self.channels, t, 1, 1]), device)
        };
        (make(pick(&self.mean)), make(pick(&self.std)))
    }

    /// `(latent − mean) / std`.
    pub fn normalize(&self, latent: Tensor<5>) -> Result<Tensor<5>> {
        self.check(&latent)?;
        let (m, s) = self.tables(latent.dims()[2], &latent.device());
        Ok((latent - m) / s)
    }

    /// `latent · std + mean`.
    pub fn denormalize(&self, latent: Tensor<5>) -> Result<Tensor<5>> {
        self.check(&latent)?;
        let (m, s) = self.tables(latent.dims()[2], &latent.device());
        Ok(latent * s + m)
    }

    fn check(&self, latent: &Tensor<5>) -> Result<()> {
        if latent.dims()[1] != self.channels {
            return Err(Error::Shape {
                what: "latent for the latent statistics".into(),
                expected: format!("[batch, {}, T, H, W]", self.channels),
                found: latent.dims().to_vec(),
            });
        }
        Ok(())
    }
}

/// `cosmos-text`'s T5 pipeline (tokenize, pad to 512, encode, zero past each prompt).
#[cfg(feature = "t5")]
pub struct T5PromptEncoder {
    /// The tokenizer and encoder.
    pub encoder: cosmos_text::TextEncoder,
    /// Where the embeddings are made.
    pub device: burn::tensor::Device,
}

#[cfg(feature = "t5")]
impl TextEncoder for T5PromptEncoder {
    fn encode(&mut self, prompts: &[&str]) -> std::result::Result<TextEmbeddings, BoxError> {
        let e = self.encoder.encode(prompts, &self.device)?;
        Ok(TextEmbeddings {
            embeddings: e.embeddings,
            lengths: e.lengths,
            truncated: e.truncated,
        })
    }

    fn embed_dim(&self) -> usize {
        self.encoder.encoder().d_model()
    }
}

/// `cosmos-tokenizer`'s continuous video tokenizer, with the optional latent statistics.
#[cfg(feature = "video-tokenizer")]
pub struct CosmosVideoTokenizer {
    /// The tokenizer (CV8x8x8 for Cosmos-1.0 diffusion).
    pub tokenizer: cosmos_tokenizer::Tokenizer,
    /// Latent statistics, if the model uses them.
    pub normalization: Option<LatentNormalization>,
}

#[cfg(feature = "video-tokenizer")]
impl CosmosVideoTokenizer {
    /// Wraps a continuous video tokenizer; discrete or image tokenizers are refused.
    pub fn new(
        tokenizer: cosmos_tokenizer::Tokenizer,
        normalization: Option<LatentNormalization>,
    ) -> Result<Self> {
        let kind = tokenizer.kind();
        if !kind.is_video() || kind.is_discrete() {
            return Err(Error::Unsupported(format!(
                "the diffusion model needs a continuous video tokenizer (CV), found {}",
                kind.short_name()
            )));
        }
        if let Some(n) = &normalization
            && n.channels != tokenizer.latent_channels()
        {
            return Err(Error::Config(format!(
                "latent statistics for {} channels, tokenizer with {}",
                n.channels,
                tokenizer.latent_channels()
            )));
        }
        Ok(Self {
            tokenizer,
            normalization,
        })
    }
}

#[cfg(feature = "video-tokenizer")]
impl LatentDecoder for CosmosVideoTokenizer {
    fn decode(&mut self, latent: Tensor<5>) -> std::result::Result<Tensor<5>, BoxError> {
        let latent = match &self.normalization {
            Some(n) => n.denormalize(latent)?,
            None => latent,
        };
        Ok(self.tokenizer.decode(latent)?)
    }

    fn temporal_compression(&self) -> usize {
        self.tokenizer.temporal_compression()
    }

    fn spatial_compression(&self) -> usize {
        self.tokenizer.spatial_compression()
    }

    fn latent_channels(&self) -> usize {
        self.tokenizer.latent_channels()
    }
}

/// One [`CosmosVideoTokenizer`] shared by the pipeline's decoder and encoder slots
/// (Video2World needs both; the weights are loaded once).
#[cfg(feature = "video-tokenizer")]
#[derive(Clone)]
pub struct SharedVideoTokenizer(pub std::sync::Arc<std::sync::Mutex<CosmosVideoTokenizer>>);

#[cfg(feature = "video-tokenizer")]
impl SharedVideoTokenizer {
    /// Shares `tokenizer`.
    pub fn new(tokenizer: CosmosVideoTokenizer) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(tokenizer)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CosmosVideoTokenizer> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(feature = "video-tokenizer")]
impl LatentDecoder for SharedVideoTokenizer {
    fn decode(&mut self, latent: Tensor<5>) -> std::result::Result<Tensor<5>, BoxError> {
        self.lock().decode(latent)
    }

    fn temporal_compression(&self) -> usize {
        self.lock().temporal_compression()
    }

    fn spatial_compression(&self) -> usize {
        self.lock().spatial_compression()
    }

    fn latent_channels(&self) -> usize {
        self.lock().latent_channels()
    }
}

#[cfg(feature = "video-tokenizer")]
impl LatentEncoder for SharedVideoTokenizer {
    fn encode(&mut self, video: Tensor<5>) -> std::result::Result<Tensor<5>, BoxError> {
        self.lock().encode(video)
    }
}

#[cfg(feature = "video-tokenizer")]
impl LatentEncoder for CosmosVideoTokenizer {
    fn encode(&mut self, video: Tensor<5>) -> std::result::Result<Tensor<5>, BoxError> {
        let latent = self.tokenizer.encode(video)?.latent;
        Ok(match &self.normalization {
            Some(n) => n.normalize(latent)?,
            None => latent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn normalization_round_trips_and_reuses_the_last_frame() {
        let device = Device::flex();
        let n = LatentNormalization::new(vec![1.0, 2.0, -1.0, 0.0], vec![2.0, 4.0, 0.5, 1.0], 2)
            .unwrap();
        assert_eq!(n.frames, 2);
        let x = Tensor::<5>::ones([1, 2, 3, 1, 1], &device);
        let y: Vec<f32> = n
            .denormalize(x.clone())
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        // channel 0: 1·2+1, 1·4+2, frame 2 reuses frame 1; channel 1: 0.5−1, 1+0, 1+0
        assert_eq!(y, vec![3.0, 6.0, 6.0, -0.5, 1.0, 1.0]);
        let back: Vec<f32> = n
            .normalize(n.denormalize(x).unwrap())
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!(back.iter().all(|v| (v - 1.0).abs() < 1e-6));
        assert!(LatentNormalization::new(vec![0.0; 3], vec![1.0; 3], 2).is_err());
        assert!(LatentNormalization::new(vec![0.0; 2], vec![0.0; 2], 2).is_err());
        let cfg = serde_json::json!({"latents_mean": [0.0, 1.0], "latents_std": [1.0, 2.0]});
        assert!(
            LatentNormalization::from_diffusers_config(&cfg, 2)
                .unwrap()
                .is_some()
        );
        assert!(
            LatentNormalization::from_diffusers_config(&serde_json::json!({}), 2)
                .unwrap()
                .is_none()
        );
    }
}
