//! T5's tokenization: SentencePiece unigram pieces of `spiece.model`, an EOS (`</s>`, id 1)
//! appended, padding with `<pad>` (id 0) to a fixed length, truncation to it.
//!
//! This is what the Cosmos pipelines get from
//! `T5TokenizerFast(prompts, padding="max_length", max_length=512, truncation=True)`:
//! a prompt longer than the limit keeps its first `max_length − 1` pieces and the EOS.
//! The pieces are SentencePiece's own (the slow `T5Tokenizer`); Hugging Face's fast
//! tokenizer agrees with it on ordinary text but also turns literal special-token spellings in
//! the text (`</s>`, `<extra_id_0>`) into those tokens, which we do not.

mod charsmap;
mod proto;
pub mod sentencepiece;

use std::path::Path;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

pub use sentencepiece::{Piece, PieceKind, SentencePiece};

use crate::{Error, Result};

/// The prompt length the Cosmos pipelines pad and truncate to.
pub const T5_MAX_LENGTH: usize = 512;

/// What to do with a prompt longer than the maximum length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Keep the first `max_length − 1` pieces and the EOS, and flag the prompt
    /// ([`TokenBatch::truncated`]), as the Cosmos pipelines do.
    #[default]
    Warn,
    /// Refuse the prompt with [`Error::PromptTooLong`].
    Refuse,
}

/// A T5 tokenizer: a SentencePiece model plus T5's special tokens.
#[derive(Debug, Clone)]
pub struct T5Tokenizer {
    model: SentencePiece,
    eos_id: u32,
    pad_id: u32,
}

/// Prompts tokenized to a fixed length.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// Token ids, one row of `max_length` per prompt, EOS-terminated and padded.
    pub ids: Vec<Vec<u32>>,
    /// Tokens per prompt before padding (EOS included, after truncation).
    pub lengths: Vec<usize>,
    /// Tokens per prompt before truncation (EOS included).
    pub full_lengths: Vec<usize>,
    /// The padded length.
    pub max_length: usize,
}

impl TokenBatch {
    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the batch holds no prompt.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether prompt `index` lost tokens to truncation.
    pub fn truncated(&self, index: usize) -> bool {
        self.full_lengths.get(index) > self.lengths.get(index)
    }

    /// One line per truncated prompt, for the caller to print.
    pub fn truncation_warnings(&self) -> Vec<String> {
        (0..self.len())
            .filter(|&i| self.truncated(i))
            .map(|i| {
                format!(
                    "prompt {i} is {} tokens long; truncated to {} (the text past token {} is ignored)",
                    self.full_lengths[i],
                    self.max_length,
                    self.max_length - 1
                )
            })
            .collect()
    }

    /// `input_ids: [batch, max_length]`.
    pub fn input_ids(&self, device: &Device) -> Tensor<2, Int> {
        let flat: Vec<i64> = self.ids.iter().flatten().map(|&id| i64::from(id)).collect();
        Tensor::from_data(TensorData::new(flat, [self.len(), self.max_length]), device)
    }

    /// `attention_mask: [batch, max_length]`, `true` on real tokens (EOS included).
    pub fn attention_mask(&self, device: &Device) -> Tensor<2, Bool> {
        let flat: Vec<bool> = self
            .lengths
            .iter()
            .flat_map(|&n| (0..self.max_length).map(move |i| i < n))
            .collect();
        Tensor::from_data(TensorData::new(flat, [self.len(), self.max_length]), device)
    }
}

impl T5Tokenizer {
    /// Reads `spiece.model`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(SentencePiece::from_file(path)?)
    }

    /// Wraps a SentencePiece model, which must have the pieces `</s>` and `<pad>`.
    pub fn new(model: SentencePiece) -> Result<Self> {
        let id = |text: &str| {
            model
                .piece_to_id(text)
                .ok_or_else(|| Error::TokenizerModel {
                    source_name: "<model>".into(),
                    message: format!("expected a T5 vocabulary with the piece '{text}'"),
                })
        };
        Ok(Self {
            eos_id: id("</s>")?,
            pad_id: id("<pad>")?,
            model,
        })
    }

    /// The SentencePiece model.
    pub fn sentencepiece(&self) -> &SentencePiece {
        &self.model
    }

    /// Id of `</s>`.
    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    /// Id of `<pad>`.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Number of pieces.
    pub fn vocab_size(&self) -> usize {
        self.model.len()
    }

    /// Token ids of one prompt with the EOS, neither padded nor truncated.
    /// An empty (or all-whitespace) prompt is [`Error::EmptyPrompt`].
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        self.encode_at(prompt, 0)
    }

    fn encode_at(&self, prompt: &str, index: usize) -> Result<Vec<u32>> {
        if prompt.trim().is_empty() {
            return Err(Error::EmptyPrompt {
                index,
                found: prompt.to_string(),
            });
        }
        let mut ids = self.model.encode(prompt);
        ids.push(self.eos_id);
        Ok(ids)
    }

    /// Tokenizes prompts to `max_length` tokens each: EOS appended, padded with `<pad>`,
    /// longer prompts truncated (keeping the EOS) or refused as `truncation` says.
    pub fn encode_batch<S: AsRef<str>>(
        &self,
        prompts: &[S],
        max_length: usize,
        truncation: Truncation,
    ) -> Result<TokenBatch> {
        if prompts.is_empty() {
            return Err(Error::NoPrompts);
        }
        if max_length == 0 {
            return Err(Error::Config(
                "max_length must be at least 1 (room for the EOS)".into(),
            ));
        }
        let mut batch = TokenBatch {
            ids: Vec::with_capacity(prompts.len()),
            lengths: Vec::with_capacity(prompts.len()),
            full_lengths: Vec::with_capacity(prompts.len()),
            max_length,
        };
        for (index, prompt) in prompts.iter().enumerate() {
            let mut ids = self.encode_at(prompt.as_ref(), index)?;
            let full = ids.len();
            if full > max_length {
                if truncation == Truncation::Refuse {
                    return Err(Error::PromptTooLong {
                        index,
                        tokens: full,
                        max_length,
                    });
                }
                ids.truncate(max_length - 1);
                ids.push(self.eos_id);
            }
            let length = ids.len();
            ids.resize(max_length, self.pad_id);
            batch.ids.push(ids);
            batch.lengths.push(length);
            batch.full_lengths.push(full);
        }
        Ok(batch)
    }
}
