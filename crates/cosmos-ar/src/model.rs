//! The Cosmos-1.0 autoregressive transformer (Cosmos WFM paper §5.2; cosmos-predict1
//! `autoregressive/networks/transformer.py`): a Llama-style decoder over discrete video
//! tokens with grouped-query self-attention, per-head QK RMSNorm, 3D RoPE over the latent
//! grid, an optional 3D sin-cos absolute position embedding added to the residual stream
//! before every block, optional cross-attention to text embeddings after self-attention
//! (Video2World), a SwiGLU MLP, a final RMSNorm and a linear head.
//!
//! Parameter paths equal the reference's `state_dict` keys except inside attention, where the
//! shared [`MultiHeadAttention`] names its projections `q`/`k`/`v`/`out` (the reference's
//! `wq`/`wk`/`wv`/`wo`; [`crate::checkpoint::key_map`] renames them).

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use cosmos_nn::attention::{
    MultiHeadAttention, MultiHeadAttentionConfig, Rotary, key_padding_mask, merge_heads,
    scaled_dot_product_attention, split_heads,
};
use cosmos_nn::rope::{RotaryLayout, apply_rotary};

use crate::cache::KvCache;
use crate::config::{ArConfig, QK_NORM_EPS};
use crate::positions::{abs_pos_embedding_tensor, rope_tables};
use crate::{Error, Result};

/// The SwiGLU MLP: `w2(silu(w1·x) ⊙ w3·x)`, no biases.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// Gate projection `dim → hidden`.
    pub w1: Linear,
    /// Down projection `hidden → dim`.
    pub w2: Linear,
    /// Up projection `dim → hidden`.
    pub w3: Linear,
}

impl FeedForward {
    /// `x: [batch, tokens, dim] → [batch, tokens, dim]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        dense(
            &self.w2,
            silu(dense(&self.w1, x.clone())) * dense(&self.w3, x),
        )
    }
}

/// `linear(x)` for `x: [batch, tokens, in]`, through the CPU row kernel for the few-row
/// products of decoding when it applies (see [`cosmos_nn::kernels::decode`]).
pub fn dense(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    {
        let [b, n, d_in] = x.dims();
        if b * n <= cosmos_nn::kernels::decode::MAX_ROWS
            && let Some(y) = cosmos_nn::kernels::decode::matvec(
                &x.clone().reshape([b * n, d_in]),
                &linear.weight.val(),
            )
        {
            let d_out = y.dims()[1];
            return y.reshape([b, n, d_out]);
        }
        if let Some(y) = cosmos_nn::kernels::decode::matmul_rows(&x, &linear.weight.val()) {
            return y;
        }
    }
    linear.forward(x)
}

/// Queries `[batch, heads, n, head_dim]` of `x`, QK-normalised.
fn project_queries(attn: &MultiHeadAttention, x: Tensor<3>) -> Tensor<4> {
    let q = split_heads(dense(&attn.q, x), attn.n_heads);
    match &attn.q_norm {
        Some(n) => n.forward(q),
        None => q,
    }
}

/// Keys and values `[batch, kv_heads, n, head_dim]` of `x` (keys QK-normalised).
fn project_keys_values(attn: &MultiHeadAttention, x: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
    let k = split_heads(dense(&attn.k, x.clone()), attn.n_kv_heads);
    let k = match &attn.k_norm {
        Some(n) => n.forward(k),
        None => k,
    };
    (k, split_heads(dense(&attn.v, x), attn.n_kv_heads))
}

/// One pre-norm block: self-attention, optional cross-attention, MLP, each with a residual.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    /// Grouped-query self-attention (`wq`/`wk`/`wv`/`wo` in the reference).
    pub attention: MultiHeadAttention,
    /// Norm before self-attention.
    pub attention_norm: RmsNorm,
    /// Cross-attention to the text context (Video2World blocks only).
    pub cross_attention: Option<MultiHeadAttention>,
    /// Norm before cross-attention.
    pub cross_attention_norm: Option<RmsNorm>,
    /// SwiGLU MLP.
    pub feed_forward: FeedForward,
    /// Norm before the MLP.
    pub ffn_norm: RmsNorm,
}

/// What [`ArTransformer::forward`] returns logits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Every input position: `[batch, tokens, vocab]`.
    All,
    /// The last input position only, `[batch, 1, vocab]` (all sampling needs; skips the head
    /// for the other positions, which is most of a prefill's cost at vocabulary 64 000).
    Last,
}

/// Keys and values `[batch, kv_heads, keys, head_dim]` of one attention block.
type KeysValues = (Tensor<4>, Tensor<4>);

/// Cross-attention keys and values of a text context, projected once per generation.
#[derive(Debug, Clone)]
pub struct CrossContext {
    layers: Vec<Option<KeysValues>>,
    mask: Option<Tensor<4, Bool>>,
    batch: usize,
}

impl CrossContext {
    /// Sequences in the batch.
    pub fn batch(&self) -> usize {
        self.batch
    }
}

/// The autoregressive transformer with its position tables.
#[derive(Module, Debug)]
pub struct ArTransformer {
    /// Token embedding `[embedding_rows, dim]`.
    pub tok_embeddings: Embedding,
    /// The blocks.
    pub layers: Vec<TransformerBlock>,
    /// Final norm.
    pub norm: RmsNorm,
    /// Output head `dim → vocab_size`.
    pub output: Linear,
    rope_cos: Tensor<2>,
    rope_sin: Tensor<2>,
    abs_pos_emb: Option<Tensor<2>>,
    #[module(skip)]
    config: ArConfig,
}

impl ArConfig {
    /// Builds the transformer with random weights (load a checkpoint next, or use it as is in
    /// tests). Validates the configuration first.
    pub fn init(&self, device: &Device) -> Result<ArTransformer> {
        self.validate()?;
        let dim = self.dim;
        let head_dim = self.head_dim();
        let norm = |d: usize| {
            RmsNormConfig::new(d)
                .with_epsilon(self.norm_eps)
                .init(device)
        };
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).with_bias(false).init(device);
        let attention = |context: Option<usize>| {
            MultiHeadAttentionConfig::new(dim, self.n_heads, head_dim)
                .with_n_kv_heads(Some(self.kv_heads()))
                .with_d_context(context)
                .with_bias(false)
                .with_qk_norm(self.use_qk_normalization)
                .with_norm_eps(QK_NORM_EPS)
                .init(device)
        };
        let layers = (0..self.n_layers)
            .map(|i| {
                let cross = self.has_cross_attention(i);
                TransformerBlock {
                    attention: attention(None),
                    attention_norm: norm(dim),
                    cross_attention: cross.then(|| attention(Some(self.context_dim))),
                    cross_attention_norm: cross.then(|| norm(dim)),
                    feed_forward: FeedForward {
                        w1: linear(dim, self.ffn_hidden_size),
                        w2: linear(self.ffn_hidden_size, dim),
                        w3: linear(dim, self.ffn_hidden_size),
                    },
                    ffn_norm: norm(dim),
                }
            })
            .collect();
        let rows = self.max_seq_len;
        let (rope_cos, rope_sin) = rope_tables(self, rows, device);
        Ok(ArTransformer {
            tok_embeddings: EmbeddingConfig::new(self.embedding_rows(), dim).init(device),
            layers,
            norm: norm(dim),
            output: linear(dim, self.vocab_size),
            rope_cos,
            rope_sin,
            abs_pos_emb: self
                .apply_abs_pos_emb
                .then(|| abs_pos_embedding_tensor(self, rows, device)),
            config: self.clone(),
        })
    }
}

impl TransformerBlock {
    /// One block over `x: [batch, n, dim]` at the cache's next `n` positions.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: Tensor<3>,
        index: usize,
        rotary: &Rotary,
        cache: &mut KvCache,
        mask: Option<Tensor<4, Bool>>,
        is_causal: bool,
        cross: Option<(&KeysValues, Option<Tensor<4, Bool>>)>,
    ) -> Tensor<3> {
        // QK-norm, then RoPE on queries and keys (self-attention only), as the reference.
        let normed = self.attention_norm.forward(x.clone());
        let q = project_queries(&self.attention, normed.clone());
        let (k, v) = project_keys_values(&self.attention, normed);
        let q = apply_rotary(q, rotary.cos.clone(), rotary.sin.clone(), rotary.layout);
        let k = apply_rotary(k, rotary.cos.clone(), rotary.sin.clone(), rotary.layout);
        let (keys, values) = cache.append(index, k, v);
        let y = scaled_dot_product_attention(q, keys, values, mask, None, None, is_causal);
        let mut h = x + dense(&self.attention.out, merge_heads(y));
        if let (Some(attn), Some(norm), Some(((k, v), mask))) =
            (&self.cross_attention, &self.cross_attention_norm, cross)
        {
            let q = project_queries(attn, norm.forward(h.clone()));
            let y = scaled_dot_product_attention(q, k.clone(), v.clone(), mask, None, None, false);
            h = h + dense(&attn.out, merge_heads(y));
        }
        let out = self.feed_forward.forward(self.ffn_norm.forward(h.clone()));
        h + out
    }
}

impl ArTransformer {
    /// The configuration the network was built from.
    pub fn config(&self) -> &ArConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.output.weight.val().device()
    }

    /// An empty KV cache for `batch` sequences of up to `capacity` positions
    /// (`capacity ≤ max_seq_len`, the length of the position tables).
    pub fn new_cache(&self, batch: usize, capacity: usize) -> Result<KvCache> {
        if batch == 0 {
            return Err(Error::Argument(
                "the batch must hold at least one sequence".into(),
            ));
        }
        if capacity > self.config.max_seq_len {
            return Err(Error::ContextTooLong {
                needed: capacity,
                cached: 0,
                new: capacity,
                capacity: self.config.max_seq_len,
            });
        }
        Ok(KvCache::new(
            self.config.n_layers,
            batch,
            self.config.kv_heads(),
            capacity,
            self.config.head_dim(),
            &self.device(),
        ))
    }

    /// Projects a text context (`context: [batch, keys, context_dim]`, T5 embeddings) into
    /// every cross-attention block's keys and values. `valid: [batch, keys]` marks the keys
    /// that may be attended (`None`: all).
    pub fn cross_context(
        &self,
        context: Tensor<3>,
        valid: Option<Tensor<2, Bool>>,
    ) -> Result<CrossContext> {
        let [b, l, c] = context.dims();
        if !self.config.insert_cross_attn {
            return Err(Error::Argument(
                "this model has no cross-attention: it takes no text context".into(),
            ));
        }
        if c != self.config.context_dim || b == 0 || l == 0 {
            return Err(Error::Shape {
                what: "cross-attention context".into(),
                expected: format!("[batch ≥ 1, keys ≥ 1, {}]", self.config.context_dim),
                found: vec![b, l, c],
            });
        }
        if let Some(m) = &valid
            && m.dims() != [b, l]
        {
            return Err(Error::Shape {
                what: "cross-attention context mask".into(),
                expected: format!("[{b}, {l}] (the context's batch and keys)"),
                found: m.dims().to_vec(),
            });
        }
        let layers = self
            .layers
            .iter()
            .map(|block| {
                block
                    .cross_attention
                    .as_ref()
                    .map(|attn| project_keys_values(attn, context.clone()))
            })
            .collect();
        Ok(CrossContext {
            layers,
            mask: valid.map(key_padding_mask),
            batch: b,
        })
    }

    /// Checks that every id is a row of the embedding table.
    pub fn check_tokens(&self, tokens: &Tensor<2, Int>) -> Result<()> {
        let [_, n] = tokens.dims();
        let limit = self.config.embedding_rows();
        let values: Vec<i64> = tokens
            .clone()
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .map_err(|e| {
                Error::Argument(format!("token ids are not readable as integers: {e:?}"))
            })?;
        if let Some((i, &token)) = values
            .iter()
            .enumerate()
            .find(|(_, t)| **t < 0 || **t as usize >= limit)
        {
            return Err(Error::TokenOutOfRange {
                token,
                batch: i / n.max(1),
                position: i % n.max(1),
                limit,
            });
        }
        Ok(())
    }

    /// Runs `tokens: [batch, n]` at the cache's next `n` positions (prefill when the cache is
    /// empty, one decoding step when `n = 1`), appending their keys and values to the cache.
    /// `cross` is required exactly when the model has cross-attention.
    /// Returns logits `[batch, n or 1, vocab_size]` as `logits` asks.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        cache: &mut KvCache,
        cross: Option<&CrossContext>,
        logits: Logits,
    ) -> Result<Tensor<3>> {
        self.forward_with_offset(tokens, None, cache, cross, logits)
    }

    /// [`ArTransformer::forward`] with `offset: [batch, n, dim]` added to the token embeddings
    /// before the first block (extra conditioning, such as post-training's per-frame actions
    /// through a zero-initialised projection). `None` is exactly [`ArTransformer::forward`].
    pub fn forward_with_offset(
        &self,
        tokens: Tensor<2, Int>,
        offset: Option<Tensor<3>>,
        cache: &mut KvCache,
        cross: Option<&CrossContext>,
        logits: Logits,
    ) -> Result<Tensor<3>> {
        let [b, n] = tokens.dims();
        if let Some(o) = &offset
            && o.dims() != [b, n, self.config.dim]
        {
            return Err(Error::Shape {
                what: "token embedding offset".into(),
                expected: format!(
                    "[{b}, {n}, {}] (the tokens' batch and length, dim)",
                    self.config.dim
                ),
                found: o.dims().to_vec(),
            });
        }
        if n == 0 || b != cache.batch() {
            return Err(Error::Shape {
                what: "tokens".into(),
                expected: format!("[{}, n ≥ 1] (the cache's batch)", cache.batch()),
                found: vec![b, n],
            });
        }
        cache.check_room(n)?;
        match (self.config.insert_cross_attn, cross) {
            (true, None) => {
                return Err(Error::Argument(
                    "this model has cross-attention: a text context is required".into(),
                ));
            }
            (false, Some(_)) => {
                return Err(Error::Argument(
                    "this model has no cross-attention: it takes no text context".into(),
                ));
            }
            (true, Some(c)) if c.batch != b => {
                return Err(Error::Shape {
                    what: "cross-attention context".into(),
                    expected: format!("batch {b} (the tokens' batch)"),
                    found: vec![c.batch],
                });
            }
            _ => {}
        }
        self.check_tokens(&tokens)?;

        let start = cache.len();
        let device = self.device();
        let rotary = Rotary {
            cos: self.rope_cos.clone().narrow(0, start, n),
            sin: self.rope_sin.clone().narrow(0, start, n),
            layout: RotaryLayout::Halves,
        };
        let pos_emb = self
            .abs_pos_emb
            .as_ref()
            .map(|t| t.clone().narrow(0, start, n).unsqueeze::<3>());
        // A fresh square block is plainly causal; a block after cached positions needs the
        // offset mask (key j visible to query i iff j ≤ start + i); one token sees everything.
        let (mask, is_causal) = match (n, start) {
            (1, _) => (None, false),
            (_, 0) => (None, true),
            _ => (Some(offset_causal_mask(start, n, &device)), false),
        };
        let mut h = self.tok_embeddings.forward(tokens);
        if let Some(o) = offset {
            h = h + o;
        }
        for (i, block) in self.layers.iter().enumerate() {
            if let Some(pe) = &pos_emb {
                h = h + pe.clone();
            }
            let cross_kv = cross.and_then(|c| c.layers[i].as_ref().map(|kv| (kv, c.mask.clone())));
            h = block.forward(h, i, &rotary, cache, mask.clone(), is_causal, cross_kv);
        }
        cache.advance(n);
        let h = match logits {
            Logits::All => h,
            Logits::Last => h.narrow(1, n - 1, 1),
        };
        Ok(dense(&self.output, self.norm.forward(h)))
    }

    /// On burn's flex CPU backend, stores every linear weight output-major so that the
    /// one-token products of decoding stream each weight once across all cores (see
    /// [`cosmos_nn::kernels::decode`]); results are unchanged up to float32 summation order. A
    /// no-op on other backends. [`ArTransformer::load_checkpoint`] calls it; call it yourself on a
    /// model used with its random initial weights.
    pub fn prepare_for_decoding(&mut self) {
        #[cfg(feature = "flex")]
        {
            if !cosmos_nn::kernels::decode::is_flex(&self.device()) {
                return;
            }
            let store = cosmos_nn::kernels::decode::store_rows_by_output;
            for block in &mut self.layers {
                for attn in
                    std::iter::once(&mut block.attention).chain(block.cross_attention.as_mut())
                {
                    store(&mut attn.q);
                    store(&mut attn.k);
                    store(&mut attn.v);
                    store(&mut attn.out);
                }
                store(&mut block.feed_forward.w1);
                store(&mut block.feed_forward.w2);
                store(&mut block.feed_forward.w3);
            }
            store(&mut self.output);
        }
    }

    /// Logits for every position of `tokens: [batch, n]` from scratch (a fresh cache of
    /// exactly `n` positions): `[batch, n, vocab_size]`.
    pub fn logits(
        &self,
        tokens: Tensor<2, Int>,
        cross: Option<&CrossContext>,
    ) -> Result<Tensor<3>> {
        self.logits_with_offset(tokens, None, cross)
    }

    /// [`ArTransformer::logits`] with `offset: [batch, n, dim]` added to the token embeddings
    /// (see [`ArTransformer::forward_with_offset`]).
    pub fn logits_with_offset(
        &self,
        tokens: Tensor<2, Int>,
        offset: Option<Tensor<3>>,
        cross: Option<&CrossContext>,
    ) -> Result<Tensor<3>> {
        let [b, n] = tokens.dims();
        let mut cache = self.new_cache(b, n)?;
        self.forward_with_offset(tokens, offset, &mut cache, cross, Logits::All)
    }
}

/// `[1, 1, n, start + n]`, `true` where query `i` (at position `start + i`) must not see key `j`.
fn offset_causal_mask(start: usize, n: usize, device: &Device) -> Tensor<4, Bool> {
    let keys = start + n;
    let data: Vec<bool> = (0..n)
        .flat_map(|i| (0..keys).map(move |j| j > start + i))
        .collect();
    Tensor::from_data(TensorData::new(data, [1, 1, n, keys]), device)
}
