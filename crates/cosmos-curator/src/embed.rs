//! Clip embeddings for semantic deduplication: the [`ClipEmbedder`] trait (cosmos-curate uses
//! InternVideo2 or Cosmos-Embed1 there) and two built-ins:
//!
//! - [`FrameHashEmbedder`]: the mean, over the clip's frames, of each frame's 256-bit perceptual
//!   hash taken as +/-1 values (computed in the analysis pass, so free). Re-encodes, rescales and
//!   small crops of the same footage land within a few hundredths in cosine distance; unrelated
//!   footage near 1.
//! - [`LatentPoolEmbedder`]: per-channel mean and standard deviation of a video tokenizer's
//!   latents over a few sampled frames, for any [`LatentEncoder`] (the Cosmos tokenizer's
//!   encoder, through `cosmos-tokenizer`, in the `cosmos` tool). It decodes frames, so it is
//!   slower.
//!
//! Embeddings are L2-normalised, so cosine distance is `1 - dot(a, b)`.

use ndarray::{Array4, ArrayView4, Axis};

use crate::clips::ClipContext;
use crate::error::{Error, Result};

/// A plug-in that maps a clip to a vector; near-duplicate clips must map to nearby vectors.
pub trait ClipEmbedder {
    /// Name recorded in the summary.
    fn name(&self) -> &str;
    /// The clip's embedding (any length, the same for every clip; it is normalised afterwards).
    fn embed(&mut self, clip: &ClipContext<'_>) -> Result<Vec<f32>>;
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}

/// `1 - cos(a, b)` of two unit vectors (0: same direction, 2: opposite).
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
}

/// Mean of the clip frames' perceptual hashes as +/-1 vectors (256 values).
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameHashEmbedder;

impl ClipEmbedder for FrameHashEmbedder {
    fn name(&self) -> &str {
        "frame_hash"
    }

    fn embed(&mut self, clip: &ClipContext<'_>) -> Result<Vec<f32>> {
        let frames = clip.frames();
        let mut sums = vec![0f32; 256];
        for frame in frames {
            for (bit, sum) in sums.iter_mut().enumerate() {
                *sum += if frame.hash[bit / 64] >> (bit % 64) & 1 == 1 {
                    1.0
                } else {
                    -1.0
                };
            }
        }
        let n = frames.len().max(1) as f32;
        sums.iter_mut().for_each(|s| *s /= n);
        Ok(sums)
    }
}

/// Something that encodes RGB frames into a latent video (a video tokenizer's encoder).
pub trait LatentEncoder {
    /// Name recorded in the summary.
    fn name(&self) -> &str;
    /// `(frames, width, height)` the encoder takes (for Cosmos' causal tokenizers the frame
    /// count is `1 + 8k`).
    fn input_shape(&self) -> (usize, u32, u32);
    /// Encodes `[T, H, W, 3]` RGB frames into `[C, T', H', W']` latents.
    fn encode(&mut self, frames: ArrayView4<'_, u8>) -> Result<Array4<f32>>;
}

/// Pools a [`LatentEncoder`]'s latents: per channel, the mean and the standard deviation over
/// time and space (`2 * C` values).
#[derive(Debug)]
pub struct LatentPoolEmbedder<E> {
    encoder: E,
    name: String,
}

impl<E: LatentEncoder> LatentPoolEmbedder<E> {
    /// An embedder over `encoder`.
    pub fn new(encoder: E) -> Self {
        let name = format!("latent_pool:{}", encoder.name());
        Self { encoder, name }
    }
}

/// Per-channel mean and standard deviation of `[C, T, H, W]` latents.
pub fn pool_latents(latents: &Array4<f32>) -> Vec<f32> {
    let channels = latents.len_of(Axis(0));
    let mut pooled = Vec::with_capacity(2 * channels);
    let mut deviations = Vec::with_capacity(channels);
    for channel in latents.outer_iter() {
        let n = channel.len().max(1) as f32;
        let mean = channel.sum() / n;
        let variance = channel.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        pooled.push(mean);
        deviations.push(variance.sqrt());
    }
    pooled.extend(deviations);
    pooled
}

impl<E: LatentEncoder> ClipEmbedder for LatentPoolEmbedder<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn embed(&mut self, clip: &ClipContext<'_>) -> Result<Vec<f32>> {
        let (count, width, height) = self.encoder.input_shape();
        let mut frames = clip.sample_frames(count, Some((width, height)))?;
        // Short clips give fewer frames: repeat the last one to the count the encoder takes.
        let have = frames.len_of(Axis(0));
        if have < count {
            let last = frames.slice(ndarray::s![have - 1..have, .., .., ..]);
            let mut parts = vec![frames.view()];
            parts.extend(std::iter::repeat_n(last, count - have));
            frames = ndarray::concatenate(Axis(0), &parts).map_err(|e| Error::Plugin {
                stage: "embed",
                reason: format!("padding frames: {e}"),
            })?;
        }
        let latents = self.encoder.encode(frames.view())?;
        if latents.is_empty() {
            return Err(Error::Plugin {
                stage: "embed",
                reason: format!("{} returned empty latents", self.encoder.name()),
            });
        }
        Ok(pool_latents(&latents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_gives_means_then_deviations() {
        let mut latents = Array4::<f32>::zeros((2, 1, 1, 2));
        latents[[0, 0, 0, 0]] = 1.0;
        latents[[0, 0, 0, 1]] = 3.0;
        latents[[1, 0, 0, 0]] = -2.0;
        latents[[1, 0, 0, 1]] = -2.0;
        assert_eq!(pool_latents(&latents), vec![2.0, -2.0, 1.0, 0.0]);
    }

    #[test]
    fn cosine_distance_of_unit_vectors() {
        let mut a = vec![3.0, 4.0];
        let mut b = vec![-3.0, -4.0];
        normalise(&mut a);
        normalise(&mut b);
        assert!((cosine_distance(&a, &a)).abs() < 1e-6);
        assert!((cosine_distance(&a, &b) - 2.0).abs() < 1e-6);
    }
}
