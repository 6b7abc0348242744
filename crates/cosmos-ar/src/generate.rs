//! Autoregressive generation: prefill the prompt into a KV cache, then decode one token at a
//! time (cosmos-predict1 `AutoRegressiveModel.generate`, after gpt-fast).

use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData};

use crate::model::{ArTransformer, CrossContext, Logits};
use crate::sampling::{Sampler, SamplingConfig};
use crate::{Error, Result};

/// Generated tokens and how long the two phases took.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The new tokens of every batch row (the prompt not included).
    pub tokens: Vec<Vec<u32>>,
    /// Seconds for the prompt's forward pass and the first sample.
    pub prefill_seconds: f64,
    /// Seconds for the remaining tokens.
    pub decode_seconds: f64,
}

impl Generation {
    /// Tokens per second of the decoding phase (tokens after the first, per row).
    pub fn decode_tokens_per_second(&self) -> f64 {
        let n = self.tokens.first().map_or(0, Vec::len).saturating_sub(1);
        if self.decode_seconds > 0.0 {
            n as f64 / self.decode_seconds
        } else {
            0.0
        }
    }
}

/// A progress report: `done` of `total` tokens generated.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Tokens generated so far (per row).
    pub done: usize,
    /// Tokens to generate (per row).
    pub total: usize,
}

fn token_tensor(rows: &[Vec<u32>], model: &ArTransformer) -> Tensor<2, Int> {
    let n = rows[0].len();
    let values: Vec<i64> = rows.iter().flatten().map(|&t| t as i64).collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), n]), &model.device())
}

/// Generates `max_new_tokens` tokens after `prompt` (one row per sequence, all of one
/// length ≥ 1) with a cache of exactly the positions needed. `cross` is the text context for
/// cross-attention models. `progress` is called after every token.
///
/// Errors: [`Error::ContextTooLong`] when prompt + new tokens exceed `max_seq_len`,
/// [`Error::TokenOutOfRange`] for ids outside the embedding table, [`Error::Argument`] for
/// ragged or empty prompts and bad sampling parameters.
pub fn generate(
    model: &ArTransformer,
    prompt: &[Vec<u32>],
    max_new_tokens: usize,
    sampling: &SamplingConfig,
    cross: Option<&CrossContext>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Generation> {
    generate_with_offsets(
        model,
        prompt,
        max_new_tokens,
        sampling,
        cross,
        None,
        progress,
    )
}

/// [`generate`] with per-position embedding offsets: `offsets: [batch, L, dim]`, where
/// `L ≥ prompt length + max_new_tokens − 1` (every position that is fed to the network), row
/// `p` added to the token embedding of input position `p` (see
/// [`ArTransformer::forward_with_offset`]). This is how extra conditioning learned in
/// post-training (per-frame actions through a projection) steers generation. `None` is exactly
/// [`generate`].
pub fn generate_with_offsets(
    model: &ArTransformer,
    prompt: &[Vec<u32>],
    max_new_tokens: usize,
    sampling: &SamplingConfig,
    cross: Option<&CrossContext>,
    offsets: Option<&Tensor<3>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Generation> {
    let mut sampler = Sampler::new(*sampling)?;
    let batch = prompt.len();
    let prompt_len = prompt.first().map_or(0, Vec::len);
    if batch == 0 || prompt_len == 0 || prompt.iter().any(|r| r.len() != prompt_len) {
        return Err(Error::Argument(format!(
            "the prompt must have at least one row, all of one length ≥ 1; found row lengths {:?}",
            prompt.iter().map(Vec::len).collect::<Vec<_>>()
        )));
    }
    if max_new_tokens == 0 {
        return Ok(Generation {
            tokens: vec![Vec::new(); batch],
            prefill_seconds: 0.0,
            decode_seconds: 0.0,
        });
    }
    // The last sampled token is never fed back, so it needs no cache slot.
    let capacity = prompt_len + max_new_tokens - 1;
    let max = model.config().max_seq_len;
    if capacity > max {
        return Err(Error::ContextTooLong {
            needed: capacity,
            cached: prompt_len,
            new: max_new_tokens - 1,
            capacity: max,
        });
    }
    if let Some(o) = offsets {
        let dim = model.config().dim;
        let [ob, ol, od] = o.dims();
        if ob != batch || ol < capacity || od != dim {
            return Err(Error::Shape {
                what: "embedding offsets".into(),
                expected: format!(
                    "[{batch}, ≥ {capacity}, {dim}] (batch, prompt + new tokens − 1, dim)"
                ),
                found: vec![ob, ol, od],
            });
        }
    }
    let window = |start: usize, n: usize| offsets.map(|o| o.clone().narrow(1, start, n));
    let mut cache = model.new_cache(batch, capacity)?;
    let vocab = model.config().vocab_size;
    let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(max_new_tokens); batch];

    let mut sample_rows = |logits: Tensor<3>, out: &mut Vec<Vec<u32>>| -> Result<Vec<u32>> {
        let values: Vec<f32> = logits
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(|e| Error::Argument(format!("logits are not readable: {e:?}")))?;
        let mut next = Vec::with_capacity(batch);
        for (row, chunk) in values.chunks(vocab).enumerate() {
            let token = sampler.sample(chunk)?;
            out[row].push(token);
            next.push(token);
        }
        Ok(next)
    };

    let start = Instant::now();
    let logits = model.forward_with_offset(
        token_tensor(prompt, model),
        window(0, prompt_len),
        &mut cache,
        cross,
        Logits::Last,
    )?;
    let mut next = sample_rows(logits, &mut out)?;
    let prefill_seconds = start.elapsed().as_secs_f64();
    progress(Progress {
        done: 1,
        total: max_new_tokens,
    });

    let start = Instant::now();
    for done in 2..=max_new_tokens {
        let rows: Vec<Vec<u32>> = next.iter().map(|&t| vec![t]).collect();
        let position = prompt_len + done - 2;
        let logits = model.forward_with_offset(
            token_tensor(&rows, model),
            window(position, 1),
            &mut cache,
            cross,
            Logits::Last,
        )?;
        next = sample_rows(logits, &mut out)?;
        progress(Progress {
            done,
            total: max_new_tokens,
        });
    }
    Ok(Generation {
        tokens: out,
        prefill_seconds,
        decode_seconds: start.elapsed().as_secs_f64(),
    })
}
