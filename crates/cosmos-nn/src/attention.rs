//! Multi-head attention (Vaswani et al. 2017, §3.2) as the Cosmos models use it: self- or
//! cross-attention, grouped K/V heads (GQA), optional per-head QK RMS-normalisation, optional
//! rotary embedding on queries and keys, optional masks and additive bias.
//!
//! The score/softmax/value product runs through burn's fused
//! [`attention`](burn::tensor::module::attention) so backends can use their best kernel.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::module::attention as fused_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor};

use crate::rope::{RotaryLayout, apply_rotary};

/// Scaled dot-product attention over `[batch, heads, tokens, head_dim]` tensors.
///
/// `key`/`value` may have fewer heads than `query` (grouped-query attention): each K/V head
/// serves `heads_q / heads_kv` consecutive query heads. `mask: [batch, heads|1, q, k]` is
/// `true` where attention is forbidden; `bias` is added to the scores; `scale` defaults to
/// `1/sqrt(head_dim)`.
pub fn scaled_dot_product_attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    bias: Option<Tensor<4>>,
    scale: Option<f64>,
    is_causal: bool,
) -> Tensor<4> {
    let [b, hq, nq, _] = query.dims();
    let hk = key.dims()[1];
    let nk = key.dims()[2];
    let (key, value) = if hk != hq {
        (repeat_kv(key, hq / hk), repeat_kv(value, hq / hk))
    } else {
        (key, value)
    };
    let mask = mask.map(|m| m.expand([b, hq, nq, nk]));
    let bias = bias.map(|t| t.expand([b, hq, nq, nk]));
    let options = AttentionModuleOptions {
        scale,
        softcap: None,
        is_causal,
    };
    fused_attention(query, key, value, mask, bias, options)
}

/// Repeats each K/V head `groups` times along the head axis (`[b, h, n, d] → [b, h·groups, n, d]`),
/// so head `i` of the result is head `i / groups` of the input.
pub fn repeat_kv(x: Tensor<4>, groups: usize) -> Tensor<4> {
    if groups == 1 {
        return x;
    }
    let [b, h, n, d] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([b, h, groups, n, d])
        .reshape([b, h * groups, n, d])
}

/// A key-padding mask for [`scaled_dot_product_attention`] from per-key validity
/// (`valid: [batch, keys]`, `true` = may be attended): `[batch, 1, 1, keys]`, `true` = masked.
pub fn key_padding_mask(valid: Tensor<2, Bool>) -> Tensor<4, Bool> {
    valid.bool_not().unsqueeze_dim::<3>(1).unsqueeze_dim(1)
}

/// `[batch, tokens, heads·head_dim] → [batch, heads, tokens, head_dim]`.
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, n, c] = x.dims();
    x.reshape([b, n, heads, c / heads]).swap_dims(1, 2)
}

/// `[batch, heads, tokens, head_dim] → [batch, tokens, heads·head_dim]`.
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, n, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, n, h * d])
}

/// Configuration of [`MultiHeadAttention`].
#[derive(Config, Debug)]
pub struct MultiHeadAttentionConfig {
    /// Width of the query input (and of the output).
    pub d_model: usize,
    /// Number of query heads.
    pub n_heads: usize,
    /// Channels per head.
    pub head_dim: usize,
    /// Number of key/value heads (GQA); `None` = `n_heads`.
    #[config(default = "None")]
    pub n_kv_heads: Option<usize>,
    /// Width of the key/value input for cross-attention; `None` = self-attention (`d_model`).
    #[config(default = "None")]
    pub d_context: Option<usize>,
    /// Whether the projections have biases.
    #[config(default = false)]
    pub bias: bool,
    /// Per-head RMS-normalisation of queries and keys (before the rotary embedding).
    #[config(default = false)]
    pub qk_norm: bool,
    /// Epsilon of the QK-norm.
    #[config(default = 1e-6)]
    pub norm_eps: f64,
}

/// Multi-head attention with separate Q, K, V and output projections.
///
/// Parameter paths are `q`, `k`, `v`, `out`, `q_norm`, `k_norm`; each model's key map renames
/// its checkpoint's names onto them (`to_q` / `wq` / ...).
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    /// Query projection `d_model → n_heads·head_dim`.
    pub q: Linear,
    /// Key projection `d_context → n_kv_heads·head_dim`.
    pub k: Linear,
    /// Value projection `d_context → n_kv_heads·head_dim`.
    pub v: Linear,
    /// Output projection `n_heads·head_dim → d_model`.
    pub out: Linear,
    /// Per-head query RMSNorm.
    pub q_norm: Option<RmsNorm>,
    /// Per-head key RMSNorm.
    pub k_norm: Option<RmsNorm>,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
}

impl MultiHeadAttentionConfig {
    /// Builds the module with random weights.
    pub fn init(&self, device: &Device) -> MultiHeadAttention {
        let kv_heads = self.n_kv_heads.unwrap_or(self.n_heads);
        let ctx = self.d_context.unwrap_or(self.d_model);
        let inner = self.n_heads * self.head_dim;
        let linear = |i, o| LinearConfig::new(i, o).with_bias(self.bias).init(device);
        let norm = || {
            self.qk_norm.then(|| {
                RmsNormConfig::new(self.head_dim)
                    .with_epsilon(self.norm_eps)
                    .init(device)
            })
        };
        MultiHeadAttention {
            q: linear(self.d_model, inner),
            k: linear(ctx, kv_heads * self.head_dim),
            v: linear(ctx, kv_heads * self.head_dim),
            out: linear(inner, self.d_model),
            q_norm: norm(),
            k_norm: norm(),
            n_heads: self.n_heads,
            n_kv_heads: kv_heads,
        }
    }
}

/// Rotary tables for [`MultiHeadAttention::forward`]: `cos`, `sin: [tokens, head_dim]`.
#[derive(Debug, Clone)]
pub struct Rotary {
    /// Cosine table.
    pub cos: Tensor<2>,
    /// Sine table.
    pub sin: Tensor<2>,
    /// Channel pairing.
    pub layout: RotaryLayout,
}

impl MultiHeadAttention {
    /// Projects queries (`x: [batch, tokens, d_model]`) and keys/values (`context`, or `x` for
    /// self-attention) into heads, applying QK-norm and then the rotary embedding to queries and keys.
    /// Returns `(q, k, v)`, each `[batch, heads, tokens, head_dim]`.
    pub fn project(
        &self,
        x: Tensor<3>,
        context: Option<Tensor<3>>,
        rotary: Option<&Rotary>,
    ) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let context = context.unwrap_or_else(|| x.clone());
        let mut q = split_heads(self.q.forward(x), self.n_heads);
        let mut k = split_heads(self.k.forward(context.clone()), self.n_kv_heads);
        let v = split_heads(self.v.forward(context), self.n_kv_heads);
        if let Some(n) = &self.q_norm {
            q = n.forward(q);
        }
        if let Some(n) = &self.k_norm {
            k = n.forward(k);
        }
        if let Some(r) = rotary {
            q = apply_rotary(q, r.cos.clone(), r.sin.clone(), r.layout);
            k = apply_rotary(k, r.cos.clone(), r.sin.clone(), r.layout);
        }
        (q, k, v)
    }

    /// Full attention: `x: [batch, tokens, d_model]`, `context: [batch, keys, d_context]` for
    /// cross-attention, `mask: [batch, 1|heads, tokens, keys]` (`true` = masked).
    /// Returns `[batch, tokens, d_model]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        context: Option<Tensor<3>>,
        rotary: Option<&Rotary>,
        mask: Option<Tensor<4, Bool>>,
    ) -> Tensor<3> {
        let (q, k, v) = self.project(x, context, rotary);
        let y = scaled_dot_product_attention(q, k, v, mask, None, None, false);
        self.out.forward(merge_heads(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    use crate::parity::values;

    /// Plain softmax(q kᵀ · scale + bias) v, written out for reference.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        nq: usize,
        nk: usize,
        d: usize,
        masked: &[bool],
    ) -> Vec<f32> {
        let scale = 1.0 / (d as f32).sqrt();
        let mut out = vec![0.0; nq * d];
        for i in 0..nq {
            let mut s: Vec<f32> = (0..nk)
                .map(|j| {
                    if masked[j] {
                        f32::NEG_INFINITY
                    } else {
                        (0..d).map(|c| q[i * d + c] * k[j * d + c]).sum::<f32>() * scale
                    }
                })
                .collect();
            let m = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            s.iter_mut().for_each(|x| *x = (*x - m).exp());
            let z: f32 = s.iter().sum();
            for j in 0..nk {
                for c in 0..d {
                    out[i * d + c] += s[j] / z * v[j * d + c];
                }
            }
        }
        out
    }

    #[test]
    fn sdpa_matches_hand_computation_with_padding_mask() {
        let device = Device::flex();
        let q = vec![0.1f32, 0.2, -0.3, 0.4, 0.5, -0.6];
        let k = vec![0.3f32, -0.1, 0.2, 0.0, 1.0, 0.5, -0.7, 0.2];
        let v = vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let t = |x: &Vec<f32>, n| {
            Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, n, 2]), &device)
        };
        let valid = Tensor::<2, Bool>::from_data(
            TensorData::new(vec![true, true, true, false], [1, 4]),
            &device,
        );
        let y = values(scaled_dot_product_attention(
            t(&q, 3),
            t(&k, 4),
            t(&v, 4),
            Some(key_padding_mask(valid)),
            None,
            None,
            false,
        ));
        let e = reference(&q, &k, &v, 3, 4, 2, &[false, false, false, true]);
        for (a, b) in y.iter().zip(&e) {
            assert!((a - b).abs() < 1e-5, "{y:?} vs {e:?}");
        }
    }

    #[test]
    fn grouped_kv_heads_equal_repeated_heads() {
        let device = Device::flex();
        let q = Tensor::<4>::random([1, 4, 3, 8], Distribution::Normal(0.0, 1.0), &device);
        let k = Tensor::<4>::random([1, 2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let v = Tensor::<4>::random([1, 2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let gqa =
            scaled_dot_product_attention(q.clone(), k.clone(), v.clone(), None, None, None, false);
        // Query head 3 uses K/V head 1.
        let single = scaled_dot_product_attention(
            q.narrow(1, 3, 1),
            k.narrow(1, 1, 1),
            v.narrow(1, 1, 1),
            None,
            None,
            None,
            false,
        );
        let a = values(gqa.narrow(1, 3, 1));
        let b = values(single);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    #[test]
    fn heads_split_and_merge_round_trip() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 5, 12], Distribution::Normal(0.0, 1.0), &device);
        let y = merge_heads(split_heads(x.clone(), 3));
        assert_eq!(values(x), values(y));
    }

    #[test]
    fn module_runs_self_and_cross_attention_with_qk_norm() {
        let device = Device::flex();
        let cfg = MultiHeadAttentionConfig::new(16, 4, 8)
            .with_n_kv_heads(Some(2))
            .with_d_context(Some(6))
            .with_qk_norm(true);
        let m = cfg.init(&device);
        let x = Tensor::<3>::random([2, 5, 16], Distribution::Normal(0.0, 1.0), &device);
        let ctx = Tensor::<3>::random([2, 7, 6], Distribution::Normal(0.0, 1.0), &device);
        let y = m.forward(x.clone(), Some(ctx.clone()), None, None);
        assert_eq!(y.dims(), [2, 5, 16]);
        // A fully-masked context key changes nothing when it is masked: compare against
        // dropping that key.
        let valid = Tensor::<2, Bool>::from_data(
            TensorData::new(
                [true, true, true, true, true, true, false].repeat(2),
                [2, 7],
            ),
            &device,
        );
        let masked = m.forward(
            x.clone(),
            Some(ctx.clone()),
            None,
            Some(key_padding_mask(valid)),
        );
        let dropped = m.forward(x, Some(ctx.narrow(1, 0, 6)), None, None);
        for (a, b) in values(masked).iter().zip(values(dropped)) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
