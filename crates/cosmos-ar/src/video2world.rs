//! Video continuation with the reference's token layout (cosmos-predict1
//! `autoregressive/inference/world_generation_pipeline.py`).
//!
//! The last `num_input_frames` frames of the input are padded to the clip length the model
//! was trained on (`1 + (T−1)·k` pixel frames for a `[T, H, W]` latent grid and temporal
//! compression `k`) by repeating the last frame, and tokenized with the discrete video
//! tokenizer. The tokens of the first `Tc = 1 + (num_input_frames − 1)/k` latent frames,
//! flattened `(t, h, w)`, are the prompt — after a `<bov>` token for the Video2World models —
//! and the model generates the remaining `(T − Tc)·H·W` tokens. The full index grid is then
//! decoded by the tokenizer, or by a diffusion decoder that first turns the tokens into
//! sharper continuous latents.

use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::config::ArConfig;
use crate::generate::{Generation, Progress, generate_with_offsets};
use crate::model::ArTransformer;
use crate::sampling::SamplingConfig;
use crate::{Error, Result};

/// A discrete video tokenizer (the Cosmos DV tokenizers): pixels ↔ FSQ indices.
pub trait VideoTokenizer {
    /// Video `[batch, 3, frames, height, width]` in `[−1, 1]` → indices
    /// `[batch, latent_frames, latent_height, latent_width]`.
    fn encode(&self, video: Tensor<5>) -> Result<Tensor<4, Int>>;
    /// Indices → video `[batch, 3, frames, height, width]` in `[−1, 1]`.
    fn decode(&self, indices: Tensor<4, Int>) -> Result<Tensor<5>>;
    /// Pixel frames per latent frame after the first (8 for DV8×16×16).
    fn temporal_compression(&self) -> usize;
    /// Pixels per latent token along height and width (16 for DV8×16×16).
    fn spatial_compression(&self) -> usize;
}

/// The hook for a diffusion decoder (cosmos-predict1 `autoregressive/diffusion_decoder`):
/// a diffusion model conditioned on the generated tokens produces continuous latents, which
/// a continuous tokenizer decodes into sharper video than the discrete decoder gives.
pub trait DiffusionDecoder {
    /// Indices `[batch, T, H, W]` (and the text embeddings, if any) → continuous latents.
    fn latents_from_tokens(
        &self,
        indices: Tensor<4, Int>,
        context: Option<&Tensor<3>>,
    ) -> Result<Tensor<5>>;
    /// Continuous latents → video `[batch, 3, frames, height, width]` in `[−1, 1]`, at least
    /// the clip's `1 + (T−1)·k` frames (the pipeline keeps those; chunked decoders may pad).
    fn decode_latents(&self, latents: Tensor<5>) -> Result<Tensor<5>>;
}

/// Where the video tokens sit in the model's sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTokenLayout {
    /// The latent grid `[T, H, W]`.
    pub latent_shape: [usize; 3],
    /// The `<bov>` token leading the sequence (Video2World models).
    pub begin_of_video: Option<u32>,
}

impl VideoTokenLayout {
    /// The layout of a model configuration.
    pub fn from_config(config: &ArConfig) -> Result<Self> {
        let latent_shape = config.latent_shape().ok_or_else(|| {
            Error::Config("video generation needs video_latent_shape [T, H, W]".into())
        })?;
        Ok(Self {
            latent_shape,
            begin_of_video: config.begin_of_video_token(),
        })
    }

    /// Tokens per latent frame (`H·W`).
    pub fn frame_tokens(&self) -> usize {
        self.latent_shape[1] * self.latent_shape[2]
    }

    /// Checks `1 ≤ condition_frames < T` and returns the tokens left to generate.
    pub fn tokens_to_generate(&self, condition_frames: usize) -> Result<usize> {
        let t = self.latent_shape[0];
        if condition_frames == 0 || condition_frames >= t {
            return Err(Error::Argument(format!(
                "condition latent frames must be between 1 and {} (the grid has {t}), found {condition_frames}",
                t.saturating_sub(1)
            )));
        }
        Ok((t - condition_frames) * self.frame_tokens())
    }

    /// The prompt rows for condition indices `[batch, Tc, H, W]`: `[<bov>] + indices` flattened.
    pub fn prompt(&self, condition: &Tensor<4, Int>) -> Result<Vec<Vec<u32>>> {
        let [b, t, h, w] = condition.dims();
        let [tt, th, tw] = self.latent_shape;
        if h != th || w != tw || t == 0 || t >= tt || b == 0 {
            return Err(Error::Shape {
                what: "condition tokens".into(),
                expected: format!("[batch, 1..{tt}, {th}, {tw}]"),
                found: vec![b, t, h, w],
            });
        }
        let values = int_values(condition)?;
        Ok(values
            .chunks(t * h * w)
            .map(|row| {
                self.begin_of_video
                    .into_iter()
                    .chain(row.iter().map(|&v| v as u32))
                    .collect()
            })
            .collect())
    }

    /// The full index grid `[batch, T, H, W]` from the prompt rows (as [`Self::prompt`] made
    /// them) and the generated tokens.
    pub fn assemble(
        &self,
        prompt: &[Vec<u32>],
        generated: &[Vec<u32>],
        device: &burn::tensor::Device,
    ) -> Result<Tensor<4, Int>> {
        let [t, h, w] = self.latent_shape;
        let skip = usize::from(self.begin_of_video.is_some());
        let mut values = Vec::with_capacity(prompt.len() * t * h * w);
        for (p, g) in prompt.iter().zip(generated) {
            let row: Vec<i64> = p[skip.min(p.len())..]
                .iter()
                .chain(g)
                .map(|&v| v as i64)
                .collect();
            if row.len() != t * h * w {
                return Err(Error::Shape {
                    what: "prompt + generated tokens".into(),
                    expected: format!("{} tokens (the grid {t}×{h}×{w})", t * h * w),
                    found: vec![row.len()],
                });
            }
            values.extend(row);
        }
        Ok(Tensor::from_data(
            TensorData::new(values, [prompt.len(), t, h, w]),
            device,
        ))
    }
}

fn int_values(t: &Tensor<4, Int>) -> Result<Vec<i64>> {
    t.clone()
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .map_err(|e| Error::Argument(format!("indices are not readable as integers: {e:?}")))
}

/// Latent frames a causal tokenizer makes of `pixel_frames` frames (`1 + (n − 1)/k`).
pub fn latent_frames(pixel_frames: usize, temporal_compression: usize) -> usize {
    1 + pixel_frames.saturating_sub(1) / temporal_compression.max(1)
}

/// What to continue.
#[derive(Debug, Clone)]
pub struct WorldInput {
    /// The input video `[batch, 3, frames, height, width]` in `[−1, 1]`, at the tokenizer's
    /// resolution for the model's grid (`H·s × W·s`).
    pub video: Tensor<5>,
    /// How many of the last input frames condition the generation: `1 + (Tc − 1)·k` for
    /// `Tc` condition latent frames (the reference offers 1 and 9).
    pub num_input_frames: usize,
    /// T5 embeddings `[batch, keys, context_dim]` for cross-attention models.
    pub context: Option<Tensor<3>>,
    /// `[batch, keys]`, `true` = attend (`None`: all keys, which is what the reference's
    /// Video2World pipeline passes).
    pub context_mask: Option<Tensor<2, Bool>>,
    /// Extra conditioning added to the token embeddings: `[batch, L − 1, dim]` for a sequence of
    /// `L` positions (begin-of-video token included), row `p` added to input position `p`
    /// (see [`crate::generate_with_offsets`]; post-training's action projection makes these).
    /// `None` for the published models.
    pub embedding_offsets: Option<Tensor<3>>,
}

/// The generated world.
#[derive(Debug, Clone)]
pub struct WorldOutput {
    /// The decoded clip `[batch, 3, 1 + (T−1)·k, height, width]` in `[−1, 1]`, condition
    /// frames included (as the tokenizer reconstructs them).
    pub video: Tensor<5>,
    /// All indices `[batch, T, H, W]`: the condition's and the generated ones.
    pub indices: Tensor<4, Int>,
    /// Generated tokens and timings.
    pub generation: Generation,
}

/// The video-continuation pipeline: tokenizer, AR model, decoder.
pub struct Video2World<'a> {
    /// The transformer.
    pub model: &'a ArTransformer,
    /// The discrete tokenizer (encodes the input; decodes the output unless a diffusion
    /// decoder is given).
    pub tokenizer: &'a dyn VideoTokenizer,
    /// Optional diffusion decoder for the output.
    pub diffusion_decoder: Option<&'a dyn DiffusionDecoder>,
}

impl Video2World<'_> {
    /// Tokenizes the condition, generates the rest of the grid and decodes it.
    pub fn generate(
        &self,
        input: &WorldInput,
        sampling: &SamplingConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<WorldOutput> {
        let config = self.model.config();
        let layout = VideoTokenLayout::from_config(config)?;
        let [t, h, w] = layout.latent_shape;
        let k = self.tokenizer.temporal_compression();
        let s = self.tokenizer.spatial_compression();
        let [b, c, frames, ph, pw] = input.video.dims();
        if b == 0 || c != 3 || ph != h * s || pw != w * s {
            return Err(Error::Shape {
                what: "input video".into(),
                expected: format!("[batch, 3, frames, {}, {}]", h * s, w * s),
                found: vec![b, c, frames, ph, pw],
            });
        }
        let n = input.num_input_frames;
        if n == 0 || !(n - 1).is_multiple_of(k) || n > frames {
            return Err(Error::Argument(format!(
                "num_input_frames must be 1 + m·{k} and at most the video's {frames} frames, found {n}"
            )));
        }
        let condition_frames = latent_frames(n, k);
        let to_generate = layout.tokens_to_generate(condition_frames)?;

        // The last n frames, padded to the clip length by repeating the last one.
        let clip_frames = 1 + (t - 1) * k;
        let video = input.video.clone().narrow(2, frames - n, n);
        let video = if n < clip_frames {
            let last = video.clone().narrow(2, n - 1, 1);
            let pad = last.repeat_dim(2, clip_frames - n);
            Tensor::cat(vec![video, pad], 2)
        } else {
            video
        };
        let indices = self.tokenizer.encode(video)?;
        let dims = indices.dims();
        if dims[0] != b || dims[1] < condition_frames || dims[2] != h || dims[3] != w {
            return Err(Error::Stage {
                stage: "tokenizer encoder".into(),
                message: format!(
                    "expected indices [{b}, ≥{condition_frames}, {h}, {w}], found {dims:?}"
                ),
            });
        }
        let condition = indices.narrow(1, 0, condition_frames);
        let prompt = layout.prompt(&condition)?;

        let cross = match &input.context {
            Some(ctx) if config.insert_cross_attn => Some(
                self.model
                    .cross_context(ctx.clone(), input.context_mask.clone())?,
            ),
            None if config.insert_cross_attn => {
                return Err(Error::Argument(
                    "this model has cross-attention: a text context is required".into(),
                ));
            }
            Some(_) => {
                return Err(Error::Argument(
                    "this model has no cross-attention: it takes no text context".into(),
                ));
            }
            None => None,
        };
        let generation = generate_with_offsets(
            self.model,
            &prompt,
            to_generate,
            sampling,
            cross.as_ref(),
            input.embedding_offsets.as_ref(),
            progress,
        )?;
        let indices = layout.assemble(&prompt, &generation.tokens, &self.model.device())?;
        let video = match self.diffusion_decoder {
            Some(dd) => {
                let latents = dd.latents_from_tokens(indices.clone(), input.context.as_ref())?;
                let video = dd.decode_latents(latents)?;
                // A decoder working in fixed-length chunks (the reference's 57 frames) returns
                // at least the clip; keep the clip's frames, as the reference does.
                let got = video.dims()[2];
                if got < clip_frames {
                    return Err(Error::Stage {
                        stage: "diffusion decoder".into(),
                        message: format!(
                            "decoded {got} frames, fewer than the clip's {clip_frames}"
                        ),
                    });
                }
                video.narrow(2, 0, clip_frames)
            }
            None => self.tokenizer.decode(indices.clone())?,
        };
        Ok(WorldOutput {
            video,
            indices,
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn layout_puts_bov_first_and_assembles_the_grid() {
        let device = Device::flex();
        let layout = VideoTokenLayout {
            latent_shape: [3, 2, 2],
            begin_of_video: Some(64_000),
        };
        let condition = Tensor::<4, Int>::from_data(
            TensorData::new((0..8i64).collect::<Vec<_>>(), [2, 1, 2, 2]),
            &device,
        );
        let prompt = layout.prompt(&condition).unwrap();
        assert_eq!(
            prompt,
            vec![vec![64_000, 0, 1, 2, 3], vec![64_000, 4, 5, 6, 7]]
        );
        assert_eq!(layout.tokens_to_generate(1).unwrap(), 8);
        assert!(layout.tokens_to_generate(3).is_err());
        let generated = vec![(10..18).collect::<Vec<u32>>(), (20..28).collect()];
        let grid = layout.assemble(&prompt, &generated, &device).unwrap();
        assert_eq!(grid.dims(), [2, 3, 2, 2]);
        let v = int_values(&grid).unwrap();
        assert_eq!(&v[..12], &[0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17]);
        assert_eq!(&v[12..16], &[4, 5, 6, 7]);
        assert!(
            layout
                .assemble(&prompt, &[vec![1], vec![2]], &device)
                .is_err()
        );
    }

    #[test]
    fn latent_frame_counts() {
        assert_eq!(latent_frames(1, 8), 1);
        assert_eq!(latent_frames(9, 8), 2);
        assert_eq!(latent_frames(33, 8), 5);
    }
}
