//! Online encoding: frames go in a few at a time (a camera), latents come out as soon as
//! the frames they depend on have arrived, and the result equals encoding the whole clip at
//! once.
//!
//! The video encoder is causal: latent frame 0 depends on input frame 0 only, and latent
//! frame `k ≥ 1` on input frames `≤ k·T`. [`StreamingEncoder`] keeps, per layer, what the
//! next chunk needs (the last input frames of each temporal convolution, and the keys and
//! values of each causal temporal attention) in a [`CausalCache`], and encodes every complete
//! group of frames as it arrives: frame 0 alone, then `T` frames at a time.
//!
//! Memory: the convolution state is a few frames per layer; the attention keys and values
//! grow with the stream (exactness needs every earlier frame), by `2·C·h·w` floats per latent
//! frame and attention layer at that layer's resolution. [`StreamingEncoder::reset`] starts a
//! new clip.

use burn::tensor::Tensor;

use crate::cache::CausalCache;
use crate::tokenizer::{Encoded, Tokenizer, check_finite};
use crate::{Error, Result};

/// Encodes a video stream chunk by chunk. See the [module docs](self).
#[derive(Debug)]
pub struct StreamingEncoder<'a> {
    tokenizer: &'a Tokenizer,
    cache: CausalCache,
    pending: Option<Tensor<5>>,
    frames_encoded: usize,
    shape: Option<[usize; 4]>,
}

impl<'a> StreamingEncoder<'a> {
    /// A streaming encoder over `tokenizer` (which needs its encoder half).
    pub fn new(tokenizer: &'a Tokenizer) -> Result<Self> {
        if !tokenizer.has_encoder() {
            return Err(Error::Unsupported(
                "streaming encoding needs the encoder half of the tokenizer".into(),
            ));
        }
        Ok(Self {
            tokenizer,
            cache: CausalCache::streaming(),
            pending: None,
            frames_encoded: 0,
            shape: None,
        })
    }

    /// Frames received but not yet encoded (waiting for a complete group of `T`).
    pub fn pending_frames(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.dims()[2])
    }

    /// Frames encoded so far.
    pub fn frames_encoded(&self) -> usize {
        self.frames_encoded
    }

    /// Forgets the stream: the next frame starts a new clip.
    pub fn reset(&mut self) {
        self.cache = CausalCache::streaming();
        self.pending = None;
        self.frames_encoded = 0;
        self.shape = None;
    }

    /// Adds frames `[b, c, n, h, w]` (any `n ≥ 1`) and returns the latents of every group
    /// completed by them, or `None` if they only wait for more frames. All frames of a
    /// stream must share batch, channels, height and width.
    pub fn push(&mut self, frames: Tensor<5>) -> Result<Option<Encoded>> {
        let dims = frames.dims();
        let [b, c, n, h, w] = dims;
        let expected = self
            .shape
            .unwrap_or([b, self.tokenizer.config().in_channels, h, w]);
        let s = self.tokenizer.spatial_compression();
        if [b, c, h, w] != expected || n == 0 || b == 0 {
            return Err(Error::Shape {
                what: "streamed frames".into(),
                expected: format!(
                    "[{}, {}, n ≥ 1, {}, {}] (the stream's batch, channels and size)",
                    expected[0], expected[1], expected[2], expected[3]
                ),
                found: dims.to_vec(),
            });
        }
        if h % s != 0 || w % s != 0 {
            return Err(Error::Resolution {
                height: h,
                width: w,
                multiple: s,
                padded_height: h.div_ceil(s) * s,
                padded_width: w.div_ceil(s) * s,
            });
        }
        check_finite("streamed frames", &frames)?;
        self.shape = Some(expected);
        let all = match self.pending.take() {
            None => frames,
            Some(pending) => Tensor::cat(vec![pending, frames], 2),
        };
        let available = all.dims()[2];
        let ready = self.ready_frames(available);
        if ready == 0 {
            self.pending = Some(all);
            return Ok(None);
        }
        if ready < available {
            self.pending = Some(all.clone().narrow(2, ready, available - ready));
        }
        let chunk = if ready < available {
            all.narrow(2, 0, ready)
        } else {
            all
        };
        self.cache.rewind();
        let encoded = self.tokenizer.encode_unchecked(chunk, &mut self.cache)?;
        self.frames_encoded += ready;
        Ok(Some(encoded))
    }

    /// Encodes the frames still waiting by repeating the last one up to a complete group
    /// (as [`crate::pad_frames`] does), and ends the stream. Returns `None` if nothing waits.
    pub fn finish(mut self) -> Result<Option<Encoded>> {
        let Some(pending) = self.pending.take() else {
            return Ok(None);
        };
        let n = pending.dims()[2];
        let tc = self.tokenizer.temporal_compression();
        let missing = tc - n % tc;
        let last = pending.clone().narrow(2, n - 1, 1).repeat_dim(2, missing);
        self.push(Tensor::cat(vec![pending, last], 2))
    }

    fn ready_frames(&self, available: usize) -> usize {
        let tc = self.tokenizer.temporal_compression().max(1);
        if self.frames_encoded == 0 {
            if available == 0 {
                0
            } else {
                1 + (available - 1) / tc * tc
            }
        } else {
            available / tc * tc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenizerConfig;
    use burn::tensor::{Device, Distribution};

    /// A small video config whose encoder downsamples in time twice (patch 2, temporal 8) and
    /// has temporal attention at two levels and in the middle.
    pub(crate) fn small_video_config(name: &str) -> TokenizerConfig {
        let mut config = TokenizerConfig::preset(&format!("{name}8x8x8")).unwrap();
        config.channels = 8;
        config.channels_mult = vec![1, 2, 2];
        config.num_res_blocks = 1;
        config.resolution = 16;
        config.attn_resolutions = vec![8, 4];
        config.patch_size = 2;
        config.z_channels = 8;
        config
    }

    fn max_diff(a: Tensor<5>, b: Tensor<5>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn stream(tokenizer: &Tokenizer, x: &Tensor<5>, chunks: &[usize]) -> Vec<Encoded> {
        let mut encoder = StreamingEncoder::new(tokenizer).unwrap();
        let mut start = 0;
        let mut out = Vec::new();
        for &n in chunks {
            if let Some(e) = encoder.push(x.clone().narrow(2, start, n)).unwrap() {
                out.push(e);
            }
            start += n;
        }
        assert_eq!(encoder.pending_frames(), 0);
        out
    }

    #[test]
    fn streaming_equals_offline_for_continuous_video() {
        let device = Device::flex();
        device.seed(7);
        let tokenizer = Tokenizer::random(small_video_config("CV"), &device).unwrap();
        let x = Tensor::<5>::random(
            [1, 3, 25, 16, 16],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let offline = tokenizer.encode(x.clone()).unwrap().latent;
        assert_eq!(offline.dims(), [1, 16, 4, 2, 2]);
        // Irregular chunks: frame 0 alone, a partial group, a group and a half, the rest.
        let pieces = stream(&tokenizer, &x, &[1, 3, 12, 9]);
        let latents: Vec<Tensor<5>> = pieces.into_iter().map(|e| e.latent).collect();
        assert_eq!(latents.len(), 3);
        let streamed = Tensor::cat(latents, 2);
        let diff = max_diff(streamed, offline.clone());
        assert!(diff < 1e-5, "streamed latents differ by {diff}");
        // A different chunking gives the same again.
        let again: Vec<Tensor<5>> = stream(&tokenizer, &x, &[9, 16])
            .into_iter()
            .map(|e| e.latent)
            .collect();
        assert!(max_diff(Tensor::cat(again, 2), offline) < 1e-5);
    }

    #[test]
    fn streaming_equals_offline_for_discrete_video_indices() {
        let device = Device::flex();
        device.seed(11);
        let tokenizer = Tokenizer::random(small_video_config("DV"), &device).unwrap();
        let x = Tensor::<5>::random(
            [2, 3, 17, 16, 16],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let offline = tokenizer.encode(x.clone()).unwrap().indices.unwrap();
        let pieces = stream(&tokenizer, &x, &[1, 8, 8]);
        let indices: Vec<_> = pieces.into_iter().map(|e| e.indices.unwrap()).collect();
        let streamed = Tensor::cat(indices, 1);
        assert_eq!(streamed.into_data(), offline.into_data());
    }

    #[test]
    fn finish_pads_the_last_group_and_stream_checks_shapes() {
        let device = Device::flex();
        device.seed(3);
        let tokenizer = Tokenizer::random(small_video_config("CV"), &device).unwrap();
        let x = Tensor::<5>::random(
            [1, 3, 12, 16, 16],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let mut encoder = StreamingEncoder::new(&tokenizer).unwrap();
        let first = encoder.push(x.clone()).unwrap().unwrap();
        assert_eq!(first.latent.dims()[2], 2);
        assert_eq!(encoder.pending_frames(), 3);
        let wrong = Tensor::<5>::zeros([1, 3, 1, 8, 16], &device);
        assert!(matches!(encoder.push(wrong), Err(Error::Shape { .. })));
        let last = encoder.finish().unwrap().unwrap();
        assert_eq!(last.latent.dims()[2], 1);
        // Equals the offline encoding of the clip padded with its last frame.
        let (padded, _) = crate::pad_frames(x, 8);
        let offline = tokenizer.encode(padded).unwrap().latent;
        let streamed = Tensor::cat(vec![first.latent, last.latent], 2);
        assert!(max_diff(streamed, offline) < 1e-5);
    }
}
