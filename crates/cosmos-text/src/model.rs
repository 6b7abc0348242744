//! The T5 encoder (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
//! Unified Text-to-Text Transformer", §2.1), as Hugging Face's `T5EncoderModel` computes it.
//!
//! A pre-norm transformer encoder with three T5 specifics:
//! - the norm is RMS-style (scale only, no mean subtraction, no bias): burn's [`RmsNorm`];
//! - attention scores are *not* scaled by `1/sqrt(d_kv)` and get an additive per-head bias
//!   looked up from the bucket of `key − query` ([`relative_position`](crate::relative_position)).
//!   Only block 0 owns the bias table; the bias it computes is reused by every block;
//! - the attention inner width is `num_heads·d_kv`, independent of `d_model`.
//!
//! Module fields carry the Hugging Face names so that checkpoint keys map onto them directly;
//! the only renames are `SelfAttention` → `self_attention` and `DenseReluDense` →
//! `dense_relu_dense` ([`crate::checkpoint`]). `layer` is a tuple so its items have the
//! paths `layer.0` (attention) and `layer.1` (feed-forward), as in the checkpoints.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::{gelu, gelu_approximate, relu, silu};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use cosmos_nn::attention::{
    key_padding_mask, merge_heads, scaled_dot_product_attention, split_heads,
};

use crate::config::{Activation, T5Config};
use crate::relative_position::bucket_table;
use crate::{Error, Result};

/// T5 self-attention: projections `q`, `k`, `v` (`d_model → num_heads·d_kv`), `o` back, no
/// biases, and in the first block the relative-position bias table.
#[derive(Module, Debug)]
pub struct T5Attention {
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    /// `[num_buckets, num_heads]`, present in block 0 only.
    pub relative_attention_bias: Option<Embedding>,
    /// Attention heads.
    pub num_heads: usize,
    /// Relative-position buckets.
    pub num_buckets: usize,
    /// Distance at which buckets stop growing.
    pub max_distance: usize,
}

impl T5Attention {
    /// The relative position bias `[1, num_heads, length, length]` of a self-attention over
    /// `length` tokens, or `None` if this block has no bias table.
    pub fn position_bias(&self, length: usize, device: &Device) -> Option<Tensor<4>> {
        let table = self.relative_attention_bias.as_ref()?;
        let buckets = bucket_table(length, true, self.num_buckets, self.max_distance);
        let index =
            Tensor::<1, Int>::from_data(TensorData::new(buckets, [length * length]), device);
        let values = table.weight.val().select(0, index);
        Some(
            values
                .reshape([length, length, self.num_heads])
                .permute([2, 0, 1])
                .unsqueeze_dim(0),
        )
    }

    /// `x: [batch, tokens, d_model]`, `bias: [1, heads, tokens, tokens]` (position bias),
    /// `mask: [batch, 1, 1, tokens]` (`true` = padding key). Returns `[batch, tokens, d_model]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        bias: Tensor<4>,
        mask: Option<Tensor<4, Bool>>,
    ) -> Tensor<3> {
        let q = split_heads(self.q.forward(x.clone()), self.num_heads);
        let k = split_heads(self.k.forward(x.clone()), self.num_heads);
        let v = split_heads(self.v.forward(x), self.num_heads);
        // T5 folds the 1/sqrt(d_kv) scale into the initialisation of q: scores are unscaled.
        let y = scaled_dot_product_attention(q, k, v, mask, Some(bias), Some(1.0), false);
        self.o.forward(merge_heads(y))
    }
}

/// `layer.0`: pre-norm self-attention with a residual connection.
#[derive(Module, Debug)]
pub struct T5LayerSelfAttention {
    /// Hugging Face's `SelfAttention`.
    pub self_attention: T5Attention,
    /// The T5 LayerNorm before attention.
    pub layer_norm: RmsNorm,
}

/// Hugging Face's `DenseReluDense`: `wo(act(wi x))` (`T5DenseActDense`) or, gated,
/// `wo(act(wi_0 x) ⊙ wi_1 x)` (`T5DenseGatedActDense`). Exactly one of `wi` and
/// (`wi_0`, `wi_1`) is present.
#[derive(Module, Debug)]
pub struct T5DenseActDense {
    /// Input projection of the plain block.
    pub wi: Option<Linear>,
    /// Activated input projection of the gated block.
    pub wi_0: Option<Linear>,
    /// Linear (gate) input projection of the gated block.
    pub wi_1: Option<Linear>,
    /// Output projection `d_ff → d_model`.
    pub wo: Linear,
    /// The activation.
    #[module(skip)]
    pub activation: Activation,
}

impl T5DenseActDense {
    /// `x: [batch, tokens, d_model]` → `[batch, tokens, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = match (&self.wi, &self.wi_0, &self.wi_1) {
            (Some(wi), _, _) => activate(self.activation, wi.forward(x)),
            (None, Some(wi_0), Some(wi_1)) => {
                activate(self.activation, wi_0.forward(x.clone())) * wi_1.forward(x)
            }
            // `T5Config::init` never builds this; a zero contribution keeps forward total.
            _ => return x.zeros_like(),
        };
        self.wo.forward(hidden)
    }
}

fn activate<const D: usize>(activation: Activation, x: Tensor<D>) -> Tensor<D> {
    match activation {
        Activation::Relu => relu(x),
        Activation::Gelu => gelu(x),
        Activation::GeluTanh => gelu_approximate(x),
        Activation::Silu => silu(x),
    }
}

/// `layer.1`: pre-norm feed-forward with a residual connection.
#[derive(Module, Debug)]
pub struct T5LayerFF {
    /// Hugging Face's `DenseReluDense`.
    pub dense_relu_dense: T5DenseActDense,
    /// The T5 LayerNorm before the feed-forward block.
    pub layer_norm: RmsNorm,
}

/// One encoder block: `layer.0` self-attention, `layer.1` feed-forward.
#[derive(Module, Debug)]
pub struct T5Block {
    /// `(self-attention, feed-forward)`, paths `layer.0` and `layer.1`.
    pub layer: (T5LayerSelfAttention, T5LayerFF),
}

impl T5Block {
    /// `x: [batch, tokens, d_model]` with the shared position bias and the padding mask.
    pub fn forward(
        &self,
        x: Tensor<3>,
        bias: Tensor<4>,
        mask: Option<Tensor<4, Bool>>,
    ) -> Tensor<3> {
        let (attention, feed_forward) = &self.layer;
        let x = x.clone()
            + attention
                .self_attention
                .forward(attention.layer_norm.forward(x), bias, mask);
        x.clone()
            + feed_forward
                .dense_relu_dense
                .forward(feed_forward.layer_norm.forward(x))
    }
}

/// The encoder stack (Hugging Face's `encoder`): blocks and the final norm.
#[derive(Module, Debug)]
pub struct T5Stack {
    /// The blocks; block 0 owns the relative position bias.
    pub block: Vec<T5Block>,
    /// The T5 LayerNorm after the last block.
    pub final_layer_norm: RmsNorm,
}

/// The T5 encoder: token embedding `shared` and the encoder stack.
#[derive(Module, Debug)]
pub struct T5Encoder {
    /// Token embedding `[vocab_size, d_model]` (T5 ties `encoder.embed_tokens` to it).
    pub shared: Embedding,
    /// The encoder stack.
    pub encoder: T5Stack,
}

impl T5Config {
    /// Builds the encoder with random weights (load a checkpoint with
    /// [`T5Encoder::load_checkpoint`]).
    pub fn init(&self, device: &Device) -> Result<T5Encoder> {
        self.validate()?;
        let ff = self.feed_forward()?;
        let inner = self.inner_dim();
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        let norm = || {
            RmsNormConfig::new(self.d_model)
                .with_epsilon(self.layer_norm_epsilon)
                .init(device)
        };
        let block = (0..self.num_layers)
            .map(|index| T5Block {
                layer: (
                    T5LayerSelfAttention {
                        self_attention: T5Attention {
                            q: linear(self.d_model, inner),
                            k: linear(self.d_model, inner),
                            v: linear(self.d_model, inner),
                            o: linear(inner, self.d_model),
                            relative_attention_bias: (index == 0).then(|| {
                                EmbeddingConfig::new(
                                    self.relative_attention_num_buckets,
                                    self.num_heads,
                                )
                                .init(device)
                            }),
                            num_heads: self.num_heads,
                            num_buckets: self.relative_attention_num_buckets,
                            max_distance: self.relative_attention_max_distance,
                        },
                        layer_norm: norm(),
                    },
                    T5LayerFF {
                        dense_relu_dense: T5DenseActDense {
                            wi: (!ff.gated).then(|| linear(self.d_model, self.d_ff)),
                            wi_0: ff.gated.then(|| linear(self.d_model, self.d_ff)),
                            wi_1: ff.gated.then(|| linear(self.d_model, self.d_ff)),
                            wo: linear(self.d_ff, self.d_model),
                            activation: ff.activation,
                        },
                        layer_norm: norm(),
                    },
                ),
            })
            .collect();
        Ok(T5Encoder {
            shared: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            encoder: T5Stack {
                block,
                final_layer_norm: norm(),
            },
        })
    }
}

impl T5Encoder {
    /// Rows of the token embedding table.
    pub fn vocab_size(&self) -> usize {
        self.shared.weight.dims()[0]
    }

    /// Width of the output embeddings.
    pub fn d_model(&self) -> usize {
        self.shared.weight.dims()[1]
    }

    /// The last hidden state `[batch, tokens, d_model]` (`T5EncoderModel(...).last_hidden_state`).
    ///
    /// `input_ids: [batch, tokens]` must hold ids below [`vocab_size`](Self::vocab_size)
    /// (see [`check_token_ids`]); `attention_mask: [batch, tokens]` is `true` for real
    /// tokens and `false` for padding, which no token attends to. Positions past a prompt's
    /// end still get (meaningless) outputs, as in the reference; the
    /// [`TextEncoder`](crate::TextEncoder) zeroes them.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Bool>>,
    ) -> Result<Tensor<3>> {
        let [batch, tokens] = input_ids.dims();
        if let Some(mask) = &attention_mask
            && mask.dims() != [batch, tokens]
        {
            return Err(Error::Shape {
                what: "attention_mask".into(),
                expected: format!("[{batch}, {tokens}] (the shape of input_ids)"),
                found: mask.dims().to_vec(),
            });
        }
        if tokens == 0 {
            return Err(Error::Shape {
                what: "input_ids".into(),
                expected: "[batch, tokens] with at least one token".into(),
                found: vec![batch, tokens],
            });
        }
        let device = input_ids.device();
        let mut x = self.shared.forward(input_ids);
        let bias = self
            .encoder
            .block
            .first()
            .and_then(|b| b.layer.0.self_attention.position_bias(tokens, &device))
            .ok_or_else(|| {
                Error::Config("the first encoder block has no relative_attention_bias".into())
            })?;
        let mask = attention_mask.map(key_padding_mask);
        for block in &self.encoder.block {
            x = block.forward(x, bias.clone(), mask.clone());
        }
        Ok(self.encoder.final_layer_norm.forward(x))
    }
}

/// Checks host-side token ids (`[batch, tokens]` row-major) against the embedding table size.
pub fn check_token_ids(ids: &[i64], tokens: usize, vocab_size: usize) -> Result<()> {
    for (i, &token) in ids.iter().enumerate() {
        if token < 0 || token as u64 >= vocab_size as u64 {
            return Err(Error::TokenOutOfRange {
                token,
                batch: i / tokens.max(1),
                position: i % tokens.max(1),
                limit: vocab_size,
            });
        }
    }
    Ok(())
}
