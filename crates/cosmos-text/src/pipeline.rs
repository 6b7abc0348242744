//! `TextEncoder`: prompts → T5 embeddings, as the Cosmos pipelines prepare them
//! (cosmos-predict1 `CosmosT5TextEncoder.encode_prompts`): tokenized, padded to 512 tokens,
//! encoded, and every position past a prompt's length (its EOS included in the length) set to
//! zero.

use std::path::Path;

use burn::tensor::{Bool, Device, Tensor};

use crate::checkpoint::read_weights;
use crate::config::T5Config;
use crate::model::T5Encoder;
use crate::tokenizer::{T5_MAX_LENGTH, T5Tokenizer, TokenBatch, Truncation};
use crate::{Error, Result};

/// A T5 tokenizer and encoder with the Cosmos pipelines' padding and truncation.
#[derive(Debug)]
pub struct TextEncoder {
    tokenizer: T5Tokenizer,
    encoder: T5Encoder,
    max_length: usize,
    truncation: Truncation,
}

/// The embeddings of a batch of prompts.
#[derive(Debug, Clone)]
pub struct TextEmbeddings {
    /// `[batch, max_length, d_model]`, zero past each prompt's length.
    pub embeddings: Tensor<3>,
    /// `[batch, max_length]`, `true` on real tokens.
    pub attention_mask: Tensor<2, Bool>,
    /// Tokens per prompt (EOS included, after truncation).
    pub lengths: Vec<usize>,
    /// Whether each prompt was truncated (its text past `max_length − 1` pieces ignored).
    pub truncated: Vec<bool>,
    /// One line per truncated prompt, for the caller to show.
    pub warnings: Vec<String>,
}

impl TextEncoder {
    /// Pairs a tokenizer with an encoder; pads and truncates to 512 tokens, truncating
    /// over-long prompts with a warning. The tokenizer's ids must fit the embedding table.
    pub fn new(tokenizer: T5Tokenizer, encoder: T5Encoder) -> Result<Self> {
        if tokenizer.vocab_size() > encoder.vocab_size() {
            return Err(Error::Config(format!(
                "the tokenizer has {} pieces but the encoder's embedding table only {} rows",
                tokenizer.vocab_size(),
                encoder.vocab_size()
            )));
        }
        Ok(Self {
            tokenizer,
            encoder,
            max_length: T5_MAX_LENGTH,
            truncation: Truncation::Warn,
        })
    }

    /// Reads a Hugging Face T5 folder: `config.json`, `spiece.model` and the weights
    /// (`model.safetensors`, sharded safetensors, or what [`read_weights`] accepts).
    pub fn from_pretrained(folder: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let folder = folder.as_ref();
        let config = T5Config::from_file(folder.join("config.json"))?;
        let tokenizer = T5Tokenizer::from_file(folder.join("spiece.model"))?;
        let mut encoder = config.init(device)?;
        encoder.load_checkpoint(read_weights(folder)?)?;
        Self::new(tokenizer, encoder)
    }

    /// Pads and truncates to `max_length` tokens instead of 512.
    pub fn with_max_length(mut self, max_length: usize) -> Result<Self> {
        if max_length == 0 {
            return Err(Error::Config(
                "max_length must be at least 1 (room for the EOS)".into(),
            ));
        }
        self.max_length = max_length;
        Ok(self)
    }

    /// Sets what happens to over-long prompts.
    pub fn with_truncation(mut self, truncation: Truncation) -> Self {
        self.truncation = truncation;
        self
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &T5Tokenizer {
        &self.tokenizer
    }

    /// The encoder.
    pub fn encoder(&self) -> &T5Encoder {
        &self.encoder
    }

    /// The padded length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Tokenizes prompts as the encoder will see them.
    pub fn tokenize<S: AsRef<str>>(&self, prompts: &[S]) -> Result<TokenBatch> {
        self.tokenizer
            .encode_batch(prompts, self.max_length, self.truncation)
    }

    /// Embeds prompts: `[batch, max_length, d_model]`, zero past each prompt's length.
    /// No prompts, or an empty prompt, is an error; an over-long prompt is truncated and
    /// flagged (or refused, see [`with_truncation`](Self::with_truncation)).
    pub fn encode<S: AsRef<str>>(&self, prompts: &[S], device: &Device) -> Result<TextEmbeddings> {
        let batch = self.tokenize(prompts)?;
        self.encode_tokens(&batch, device)
    }

    /// Embeds an already tokenized batch.
    pub fn encode_tokens(&self, batch: &TokenBatch, device: &Device) -> Result<TextEmbeddings> {
        if batch.is_empty() {
            return Err(Error::NoPrompts);
        }
        let limit = self.encoder.vocab_size();
        for (b, row) in batch.ids.iter().enumerate() {
            if let Some((position, &token)) =
                row.iter().enumerate().find(|(_, t)| **t as usize >= limit)
            {
                return Err(Error::TokenOutOfRange {
                    token: i64::from(token),
                    batch: b,
                    position,
                    limit,
                });
            }
        }
        let mask = batch.attention_mask(device);
        let hidden = self
            .encoder
            .forward(batch.input_ids(device), Some(mask.clone()))?;
        let keep = mask.clone().float().unsqueeze_dim::<3>(2);
        Ok(TextEmbeddings {
            embeddings: hidden * keep,
            attention_mask: mask,
            lengths: batch.lengths.clone(),
            truncated: (0..batch.len()).map(|i| batch.truncated(i)).collect(),
            warnings: batch.truncation_warnings(),
        })
    }
}
