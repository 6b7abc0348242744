//! [`LatentEncoder`] over a Cosmos video tokenizer (feature `tokenizer`): clip embeddings from
//! pooled tokenizer latents (see [`LatentPoolEmbedder`](crate::embed::LatentPoolEmbedder)).
//! This is the only part of the curator that runs a network (through `cosmos-tokenizer` and
//! burn), on the tokenizer's device.

use cosmos_tokenizer::Tokenizer;
use ndarray::{Array4, ArrayView4};

use crate::embed::{LatentEncoder, LatentPoolEmbedder};
use crate::error::{Error, Result};

/// A Cosmos tokenizer's encoder taking `frames` frames of `width` x `height`.
pub struct TokenizerEncoder {
    tokenizer: Tokenizer,
    frames: usize,
    width: u32,
    height: u32,
    name: String,
}

impl std::fmt::Debug for TokenizerEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenizerEncoder")
            .field("frames", &self.frames)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

fn plugin_error(error: impl std::fmt::Display) -> Error {
    Error::Plugin {
        stage: "embed",
        reason: error.to_string(),
    }
}

impl TokenizerEncoder {
    /// Encodes `frames` frames (`1 + k * temporal_compression` for video tokenizers) of
    /// `width` x `height` (multiples of the spatial compression) with `tokenizer`, which must
    /// have its encoder loaded.
    pub fn new(tokenizer: Tokenizer, frames: usize, width: u32, height: u32) -> Result<Self> {
        let temporal = tokenizer.temporal_compression().max(1);
        let spatial = tokenizer.spatial_compression().max(1) as u32;
        let frames_ok = frames >= 1 && (frames - 1).is_multiple_of(temporal);
        if !frames_ok
            || width == 0
            || height == 0
            || !width.is_multiple_of(spatial)
            || !height.is_multiple_of(spatial)
        {
            return Err(Error::Config(format!(
                "tokenizer embedding: expected 1 + k*{temporal} frames of a size divisible by {spatial}, \
                 found {frames} frames of {width}x{height}"
            )));
        }
        if !tokenizer.has_encoder() {
            return Err(Error::Config(
                "tokenizer embedding: the tokenizer has no encoder loaded".into(),
            ));
        }
        let name = format!("cosmos_tokenizer_{}x{}x{}", temporal, spatial, spatial);
        Ok(Self {
            tokenizer,
            frames,
            width,
            height,
            name,
        })
    }

    /// A [`LatentPoolEmbedder`] over this encoder.
    pub fn into_embedder(self) -> LatentPoolEmbedder<Self> {
        LatentPoolEmbedder::new(self)
    }
}

impl LatentEncoder for TokenizerEncoder {
    fn name(&self) -> &str {
        &self.name
    }

    fn input_shape(&self) -> (usize, u32, u32) {
        (self.frames, self.width, self.height)
    }

    fn encode(&mut self, frames: ArrayView4<'_, u8>) -> Result<Array4<f32>> {
        let input = cosmos_tokenizer::media::frames_to_tensor(frames, self.tokenizer.device())
            .map_err(plugin_error)?;
        let latent = self.tokenizer.encode(input).map_err(plugin_error)?.latent;
        let [_, channels, time, height, width] = latent.dims();
        let values: Vec<f32> = latent
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| plugin_error(format!("{e:?}")))?;
        Array4::from_shape_vec((channels, time, height, width), values).map_err(plugin_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_latents_have_two_values_per_channel_and_tell_frames_apart() {
        let device = cosmos_nn::device::default_device();
        let tokenizer = Tokenizer::random_preset("CV8x8x8", &device).unwrap();
        let channels = tokenizer.latent_channels();
        assert!(
            TokenizerEncoder::new(
                Tokenizer::random_preset("CV8x8x8", &device).unwrap(),
                8,
                64,
                64
            )
            .is_err()
        );
        let mut encoder = TokenizerEncoder::new(tokenizer, 9, 32, 32).unwrap();
        let ramp = Array4::from_shape_fn((9, 32, 32, 3), |(t, y, x, c)| {
            ((t * 7 + y * 5 + x * 3 + c * 40) % 256) as u8
        });
        let flat = Array4::from_elem((9, 32, 32, 3), 128u8);
        let a = encoder.encode(ramp.view()).unwrap();
        assert_eq!(a.dim(), (channels, 2, 4, 4));
        let pooled_ramp = crate::embed::pool_latents(&a);
        let pooled_again = crate::embed::pool_latents(&encoder.encode(ramp.view()).unwrap());
        let pooled_flat = crate::embed::pool_latents(&encoder.encode(flat.view()).unwrap());
        assert_eq!(pooled_ramp.len(), 2 * channels);
        assert!(pooled_ramp.iter().all(|v| v.is_finite()));
        assert_eq!(pooled_ramp, pooled_again);
        let difference: f32 = pooled_ramp
            .iter()
            .zip(&pooled_flat)
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(difference > 1e-3, "{difference}");
    }
}
