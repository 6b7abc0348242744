//! The DiT's attention, GELU, linear layers, AdaLN, per-head QK-norm + RoPE and residual adds
//! on flex: CPU fast paths for the operations where burn's flex backend is far from PyTorch
//! (moved from `cosmos-diffusion`'s `cpu` module).
//!
//! Measured on the benchmark DiT (2 blocks, 1280 tokens, 16 heads × 64, 2 cores), burn's flex
//! backend spent 0.21 s of a 0.78 s forward in its fused attention and 0.09 s in exact GELU:
//! - flex's flash attention runs the softmax exponentials through scalar `expf` calls (1.6 M per
//!   head) between small 64-column GEMM tiles;
//! - flex's GELU is a single-threaded loop over `libm::erff`.
//!
//! Here, on the flex backend with f32 tensors only, attention is computed per (head, block of
//! query rows): one GEMM for the block's full score rows (`block × keys`, so memory stays bounded by
//! the block size, never `tokens²`), a row softmax with a vectorisable exponential, one GEMM with
//! the values, written straight into the merged-heads layout `[batch, tokens, heads·dim]`. Each
//! head's keys are first transposed to `[dim, keys]` and its values made contiguous, which lets
//! the GEMMs skip most operand packing (the attention GEMMs ran at ~55 % of the projections' speed
//! before, ~90 % after). GELU is one parallel pass using the complementary error function of
//! Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7); AdaLN and the per-head QK RMSNorm +
//! RoPE are one pass per row each. The row kernels are compiled for AVX-512 and AVX2 + FMA as
//! well as the baseline target and the widest the CPU has runs (the default `x86-64` target
//! vectorises 4 lanes wide only: GELU and the softmax were 3–4× slower that way). Every other
//! backend or dtype (and everything when [`super::enabled`] is off) takes burn's own ops.
//!
//! Under burn's autodiff over flex (training), GELU and attention take the same kernels with
//! hand-written backward passes ([`super::train`], feature `flex-train`): one training step of the world model
//! (`cargo bench -p cosmos-posttrain --bench world_model_train`) went from 288 ms to 162 ms, with
//! the same losses.
//!
//! Access to the flex storage goes through burn's documented backend-extension door
//! (`Tensor::try_into_primitive` / `Tensor::from_primitive`).

use crate::adaln::modulate;
use crate::attention::{Rotary, merge_heads, scaled_dot_product_attention, split_heads};
use crate::norm::{RmsNorm, layer_normalize};
#[cfg(feature = "flex")]
use crate::rope::RotaryLayout;
use crate::rope::apply_rotary;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation;

/// Exact (erf) GELU: `x·Φ(x)`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if flex::takes(&x) {
        return flex::gelu(x);
    }
    #[cfg(feature = "flex-train")]
    if let Some(y) = super::train::gelu(&x) {
        return y;
    }
    activation::gelu(x)
}

/// `x·W (+ b)` of a linear layer for `x: [batch, tokens, d_input]` → `[batch, tokens, d_output]`.
///
/// On flex with f32 tensors this is one GEMM written straight into a new buffer. burn flex's own
/// matmul zero-fills its output and then copies it into an aligned allocation before the GEMM
/// overwrites it: two extra passes over every output, and page faults on the copy, ≈ 3 % of
/// the benchmark DiT forward.
pub fn linear(layer: &Linear, x: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    if flex::takes(&x) {
        let weight = layer.weight.val();
        let bias = layer.bias.as_ref().map(|b| b.val());
        let [d_input, d_output] = weight.dims();
        if flex::takes(&weight)
            && x.dims()[2] == d_input
            && bias
                .as_ref()
                .is_none_or(|b| flex::takes(b) && b.dims() == [d_output])
        {
            return flex::linear(x, weight, bias);
        }
    }
    layer.forward(x)
}

/// The gated residual `x + gate ⊙ y` of a DiT block for `x`, `y: [batch, tokens, dim]` and
/// `gate: [batch, 1, dim]`. On flex with f32 tensors: one parallel pass, written into `x`'s
/// buffer when `x` holds it alone (flex's elementwise ops take two single-threaded passes and two
/// new buffers).
pub fn gated_residual(x: Tensor<3>, gate: Tensor<3>, y: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    {
        let [b, n, d] = x.dims();
        let [gb, gn, gd] = gate.dims();
        if flex::takes(&x)
            && flex::takes(&gate)
            && flex::takes(&y)
            && y.dims() == [b, n, d]
            && (gb == b || gb == 1)
            && gn == 1
            && gd == d
        {
            return flex::residual_add(x, y, Some(gate));
        }
    }
    x + gate * y
}

/// `x + y` for `x: [batch, tokens, dim]` and `y: [batch | 1, tokens, dim]` (broadcast over the
/// batch), as the position embedding is added. On flex with f32 tensors: one parallel pass, in
/// place when `x` holds its buffer alone.
pub fn add_tokens(x: Tensor<3>, y: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    {
        let [b, n, d] = x.dims();
        let [yb, yn, yd] = y.dims();
        if flex::takes(&x) && flex::takes(&y) && (yb == b || yb == 1) && yn == n && yd == d {
            return flex::residual_add(x, y, None);
        }
    }
    x + y
}

/// Multi-head attention without mask: `q: [batch, heads, q_tokens, dim]`,
/// `k`, `v: [batch, heads, kv_tokens, dim]` (same heads) → `softmax(q kᵀ/√dim) v` merged to
/// `[batch, q_tokens, heads·dim]`.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    if flex::takes(&q) && flex::takes(&k) && flex::takes(&v) && q.dims()[1] == k.dims()[1] {
        return flex::attention(q, k, v);
    }
    #[cfg(feature = "flex-train")]
    if let Some(out) = super::train::attention(&q, &k, &v) {
        return out;
    }
    merge_heads(scaled_dot_product_attention(
        q, k, v, None, None, None, false,
    ))
}

/// AdaLN: `LayerNorm(x)·(1 + scale) + shift` without affine parameters, biased variance, for
/// `x: [batch, tokens, dim]` and `shift`, `scale: [batch, 1, dim]`. One pass per row on flex.
pub fn adaln_modulate(x: Tensor<3>, shift: Tensor<3>, scale: Tensor<3>, eps: f64) -> Tensor<3> {
    #[cfg(feature = "flex")]
    if flex::takes(&x) && flex::takes(&shift) && flex::takes(&scale) {
        return flex::adaln_modulate(x, shift, scale, eps);
    }
    modulate(layer_normalize(x, eps), shift, scale)
}

/// Splits `x: [batch, tokens, heads·dim]` into heads and applies the per-head RMSNorm (`norm`)
/// and then the rotary embedding (`rotary`), as [`MultiHeadAttention::project`] does for queries
/// and keys. Returns `[batch, heads, tokens, dim]` (on flex, a view of a `[batch, tokens, heads,
/// dim]` buffer made in one pass).
///
/// [`MultiHeadAttention::project`]: crate::attention::MultiHeadAttention::project
pub fn norm_rope_heads(
    x: Tensor<3>,
    heads: usize,
    norm: Option<&RmsNorm>,
    rotary: Option<&Rotary>,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if flex::takes(&x) && x.dims()[2].is_multiple_of(heads.max(1)) && {
        let [_, n, width] = x.dims();
        let d = width / heads.max(1);
        rotary.is_none_or(|r| {
            r.layout == RotaryLayout::Halves
                && d.is_multiple_of(2)
                && r.cos.dims() == [n, d]
                && r.sin.dims() == [n, d]
                && flex::takes(&r.cos)
                && flex::takes(&r.sin)
        }) && norm.is_none_or(|nm| nm.gamma.dims() == [d] && flex::takes(&nm.gamma.val()))
    } {
        return flex::norm_rope_heads(x, heads, norm, rotary);
    }
    let mut h = split_heads(x, heads);
    if let Some(n) = norm {
        h = n.forward(h);
    }
    if let Some(r) = rotary {
        h = apply_rotary(h, r.cos.clone(), r.sin.clone(), r.layout);
    }
    h
}

/// Whether the fast paths run for tensors on this device (flex, f32).
pub fn fast_paths_active<const D: usize>(x: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        flex::takes(x)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = x;
        false
    }
}

/// `eˣ` for `x ≤ 0` (as softmax needs) by range reduction `x = n·ln2 + r`, `|r| ≤ ln2/2`, and a
/// degree-7 Taylor polynomial (relative error ≈ 5e-9 before rounding); 0 below −87.
/// Branch-free so loops over it vectorise.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2²³: adding it rounds to an integer, whose value sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let under = x < -87.0;
    let x = if under { -87.0 } else { x };
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let mut p = r.mul_add(1.0 / 5040.0, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    if under { 0.0 } else { p * scale }
}

crate::vectorized! {
/// Unnormalised softmax of one row in place, `e^(x − max)`; returns `1 / Σ`. Two simple
/// passes (max, then exponentials with their sum), which the compiler vectorises; the reductions
/// use 16 independent lanes.
pub fn softmax_exp_row(row: &mut [f32]) -> f32 {
    const L: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; L];
    let mut chunks = row.chunks_exact(L);
    for c in &mut chunks {
        for i in 0..L {
            lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
        }
    }
    let max = lanes
        .iter()
        .chain(chunks.remainder())
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    // Exponentials and their sum in one pass (the same lanes and order as summing afterwards).
    let mut sums = [0f32; L];
    let mut chunks = row.chunks_exact_mut(L);
    for c in &mut chunks {
        for i in 0..L {
            let e = exp_nonpositive(c[i] - max);
            c[i] = e;
            sums[i] += e;
        }
    }
    let rest = chunks.into_remainder();
    for v in rest.iter_mut() {
        *v = exp_nonpositive(*v - max);
    }
    let sum: f32 = sums.iter().chain(rest.iter()).sum();
    1.0 / sum
}
}

crate::vectorized! {
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
/// `out[i] = gelu(input[i])` ([`gelu_scalar`]) over equal-length slices.
fn gelu_slice(out: &mut [f32], input: &[f32]) {
    for (o, &v) in out.iter_mut().zip(input) {
        *o = gelu_scalar(v);
    }
}
}

crate::vectorized! {
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
/// `x = gelu(x)` in place.
fn gelu_in_place(data: &mut [f32]) {
    for v in data.iter_mut() {
        *v = gelu_scalar(*v);
    }
}
}

/// Exact GELU `x·Φ(x)` ([`normal_cdf`]).
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
#[inline(always)]
pub(crate) fn gelu_scalar(x: f32) -> f32 {
    x * normal_cdf(x).0
}

/// The standard normal distribution function `Φ(x)` and `e^(−x²/2)`: `Φ(x) = 1 − ½·erfc(x/√2)`
/// for `x ≥ 0` and `½·erfc(|x|/√2)` below, `erfc(y) ≈ t·(a₁ + t·(a₂ + … a₅))·e^(−y²)`,
/// `t = 1/(1 + p·y)` (Abramowitz & Stegun 7.1.26, absolute error ≤ 1.5e-7).
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
#[inline(always)]
pub(crate) fn normal_cdf(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let y = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * y);
    let poly = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5))));
    let gauss = exp_nonpositive(-y * y);
    let half_erfc = 0.5 * poly * gauss;
    let phi = if x >= 0.0 { 1.0 - half_erfc } else { half_erfc };
    (phi, gauss)
}

#[cfg(feature = "flex")]
pub(super) mod flex {
    use burn::backend::Flex;
    use burn::backend::flex::{FlexTensor, Layout};
    use burn::tensor::{Bytes, DType, Shape, Tensor};
    use rayon::prelude::*;
    use std::mem::MaybeUninit;

    use crate::attention::Rotary;
    use crate::kernels::flex::{
        Mat, OutPtr, gemm, gemm_into, host, new_tensor, primitive, written,
    };
    use crate::norm::RmsNorm;

    use super::{gelu_in_place, gelu_slice, softmax_exp_row};

    /// Query rows per attention work item: `SCORE_BLOCK / keys`, between `MIN_ROWS` and
    /// `MAX_ROWS`; the score block is `rows × keys` f32 per worker thread (1.3 MB at 1280 keys),
    /// so memory never grows with `tokens²`.
    const SCORE_BLOCK: usize = 256 * 1280;
    const MIN_ROWS: usize = 64;
    const MAX_ROWS: usize = 256;
    /// Keys per tile when transposing a head's keys.
    const TRANSPOSE_TILE: usize = 16;
    /// Elements per GELU work item.
    const GELU_CHUNK: usize = 1 << 15;

    /// Whether the kernels may take `x` ([`crate::kernels::fast_path`]).
    pub use crate::kernels::fast_path as takes;

    pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        let mut p = primitive(x);
        let n = p.layout().num_elements();
        if p.is_unique() && p.layout().is_contiguous() && p.layout().start_offset() == 0 {
            let data: &mut [f32] = p.storage_mut();
            data[..n].par_chunks_mut(GELU_CHUNK).for_each(gelu_in_place);
            return Tensor::from_primitive::<Flex>(p);
        }
        let src = p.to_contiguous();
        let start = src.layout().start_offset();
        let input: &[f32] = &src.storage::<f32>()[start..start + n];
        let mut out = vec![0f32; n];
        out.par_chunks_mut(GELU_CHUNK)
            .zip(input.par_chunks(GELU_CHUNK))
            .for_each(|(o, i)| gelu_slice(o, i));
        let shape = src.layout().shape().clone();
        Tensor::from_primitive::<Flex>(FlexTensor::new(
            Bytes::from_elems(out),
            Layout::contiguous(shape),
            DType::F32,
        ))
    }

    /// Rows per work item of the row-wise kernels.
    const ROW_CHUNK: usize = 16;

    /// Sum with 16 independent lanes (vectorises).
    #[inline(always)]
    fn lane_sum(v: &[f32], f: impl Fn(f32) -> f32) -> f32 {
        let mut acc = [0f32; 16];
        let mut chunks = v.chunks_exact(16);
        for c in &mut chunks {
            for i in 0..16 {
                acc[i] += f(c[i]);
            }
        }
        acc.iter().sum::<f32>() + chunks.remainder().iter().map(|&x| f(x)).sum::<f32>()
    }

    crate::vectorized! {
    /// AdaLN over whole rows of width `d`: `input` holds rows `first_row..`, of a tensor with
    /// `n` rows per batch item; `shift` and `scale` hold one row of `d` per batch item.
    #[allow(clippy::too_many_arguments)]
    fn adaln_rows(
        out: &mut [MaybeUninit<f32>],
        input: &[f32],
        first_row: usize,
        n: usize,
        d: usize,
        shift: &[f32],
        scale: &[f32],
        eps: f32,
    ) {
        for (r, (orow, irow)) in out.chunks_exact_mut(d).zip(input.chunks_exact(d)).enumerate() {
            let batch = (first_row + r) / n;
            let sh = &shift[batch * d..(batch + 1) * d];
            let sc = &scale[batch * d..(batch + 1) * d];
            let mean = lane_sum(irow, |v| v) / d as f32;
            let var = lane_sum(irow, |v| (v - mean) * (v - mean)) / d as f32;
            let rstd = 1.0 / (var + eps).sqrt();
            for (((o, &x), &c), &h) in orow.iter_mut().zip(irow).zip(sc).zip(sh) {
                o.write((x - mean) * rstd * (1.0 + c) + h);
            }
        }
    }
    }

    crate::vectorized! {
    /// Per-head RMSNorm (`gamma`, ε) and rotate-half RoPE (`cos`, `sin`: `[n, d]`) over whole
    /// rows of `heads·d`: `input` holds rows `first_row..` of a tensor with `n` tokens per
    /// batch item; `normed` is scratch of `d`.
    #[allow(clippy::too_many_arguments)]
    fn norm_rope_rows(
        out: &mut [MaybeUninit<f32>],
        input: &[f32],
        first_row: usize,
        n: usize,
        heads: usize,
        gamma: Option<(&[f32], f32)>,
        tables: Option<(&[f32], &[f32])>,
        normed: &mut [f32],
    ) {
        let d = normed.len();
        let half = d / 2;
        let width = heads * d;
        for (r, (orow, irow)) in out.chunks_exact_mut(width).zip(input.chunks_exact(width)).enumerate() {
            let token = (first_row + r) % n;
            for h in 0..heads {
                let src = &irow[h * d..(h + 1) * d];
                let dst = &mut orow[h * d..(h + 1) * d];
                match gamma {
                    Some((g, eps)) => {
                        let ms = lane_sum(src, |v| v * v) / d as f32;
                        let rms = (ms + eps).sqrt();
                        for ((o, &x), &gk) in normed.iter_mut().zip(src).zip(g) {
                            *o = x / rms * gk;
                        }
                    }
                    None => normed.copy_from_slice(src),
                }
                match tables {
                    Some((cos, sin)) => {
                        let c = &cos[token * d..(token + 1) * d];
                        let s = &sin[token * d..(token + 1) * d];
                        let (lo, hi) = normed.split_at(half);
                        let (dlo, dhi) = dst.split_at_mut(half);
                        for k in 0..half {
                            dlo[k].write(lo[k] * c[k] - hi[k] * s[k]);
                            dhi[k].write(hi[k] * c[k + half] + lo[k] * s[k + half]);
                        }
                    }
                    None => {
                        for (o, &v) in dst.iter_mut().zip(normed.iter()) {
                            o.write(v);
                        }
                    }
                }
            }
        }
    }
    }

    pub fn adaln_modulate(x: Tensor<3>, shift: Tensor<3>, scale: Tensor<3>, eps: f64) -> Tensor<3> {
        let [b, n, d] = x.dims();
        let shift_host: Vec<f32> = shift
            .expand([b, 1, d])
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        let scale_host: Vec<f32> = scale
            .expand([b, 1, d])
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        let (x, start) = host(primitive(x));
        let input = &x.storage::<f32>()[start..start + b * n * d];
        let eps = eps as f32;
        let out = written(b * n * d, |out| {
            out.par_chunks_mut(ROW_CHUNK * d)
                .zip(input.par_chunks(ROW_CHUNK * d))
                .enumerate()
                .for_each(|(chunk, (o, i))| {
                    adaln_rows(o, i, chunk * ROW_CHUNK, n, d, &shift_host, &scale_host, eps)
                })
        });
        new_tensor(out, [b, n, d])
    }

    pub fn norm_rope_heads(
        x: Tensor<3>,
        heads: usize,
        norm: Option<&RmsNorm>,
        rotary: Option<&Rotary>,
    ) -> Tensor<4> {
        let [b, n, width] = x.dims();
        let d = width / heads;
        let gamma: Option<(Vec<f32>, f32)> = norm.map(|nm| {
            let g = nm
                .gamma
                .val()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 data");
            (g, nm.epsilon as f32)
        });
        let tables = rotary.map(|r| {
            let (cos, cs) = host(primitive(r.cos.clone()));
            let (sin, ss) = host(primitive(r.sin.clone()));
            (cos, cs, sin, ss)
        });
        let (x, start) = host(primitive(x));
        let input = &x.storage::<f32>()[start..start + b * n * width];
        let gamma = gamma.as_ref().map(|(g, eps)| (g.as_slice(), *eps));
        let tables = tables.as_ref().map(|(cos, cs, sin, ss)| {
            (
                &cos.storage::<f32>()[*cs..cs + n * d],
                &sin.storage::<f32>()[*ss..ss + n * d],
            )
        });
        let out = written(b * n * width, |out| {
            out.par_chunks_mut(ROW_CHUNK * width)
                .zip(input.par_chunks(ROW_CHUNK * width))
                .enumerate()
                .for_each_init(
                    || vec![0f32; d],
                    |normed, (chunk, (o, i))| {
                        norm_rope_rows(o, i, chunk * ROW_CHUNK, n, heads, gamma, tables, normed)
                    },
                )
        });
        new_tensor(out, [b, n, heads, d]).swap_dims(1, 2)
    }

    /// A new `[m, n]` row-major product `lhs·rhs` (`lhs`: `m × k`; `rhs`: `k × n`), computed
    /// by gemm without first filling the buffer.
    fn product(m: usize, n: usize, k: usize, lhs: Mat, rhs: Mat) -> Vec<f32> {
        let len = m * n;
        // gemm's small-matrix paths (vector products, tiny tiles) may read the destination
        // even when told not to; only the blocked path, taken for these sizes, writes it
        // blind. Smaller products get a zeroed buffer.
        let blind = m >= 32 && n >= 32 && k >= 8;
        let mut out: Vec<f32> = if blind {
            Vec::with_capacity(len)
        } else {
            vec![0f32; len]
        };
        let parallel = m.saturating_mul(n).saturating_mul(k) >= PARALLEL_WORK;
        // SAFETY: `out` has room for `m·n` f32 written row-major (column stride 1, row stride
        // n); with `read_dst = false` gemm writes every element without reading it (the blocked
        // kernel stores `beta·(lhs·rhs)`), so the buffer is initialised before `set_len`.
        unsafe {
            gemm_into(
                out.as_mut_ptr(),
                n,
                [m, n, k],
                lhs,
                rhs,
                false,
                0.0,
                1.0,
                parallel,
            );
            if blind {
                out.set_len(len);
            }
        }
        out
    }

    /// Multiply-adds per GEMM above which gemm runs on all threads (as burn flex decides).
    const PARALLEL_WORK: usize = 192 * 192 * 192;

    pub fn linear(x: Tensor<3>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<3> {
        let [b, n, k] = x.dims();
        let [_, o] = weight.dims();
        let m = b * n;
        let (x, start) = host(primitive(x));
        let lhs = &x.storage::<f32>()[start..start + m * k];
        if m == 0 || o == 0 || k == 0 {
            let out = vec![0f32; m * o];
            return finish_linear(out, bias, [b, n, o]);
        }
        let mut w = primitive(weight);
        // gemm reads the weight through its strides (a transposed view needs no copy); only a
        // layout with negative strides is made contiguous first.
        let strided_in_bounds = |w: &FlexTensor| {
            let l = w.layout();
            let (rs, cs) = (l.strides()[0], l.strides()[1]);
            rs >= 0
                && cs >= 0
                && l.start_offset() + (k - 1) * (rs as usize) + (o - 1) * (cs as usize)
                    < w.storage::<f32>().len()
        };
        if !strided_in_bounds(&w) {
            w = w.to_contiguous();
        }
        let (w_rs, w_cs) = (w.layout().strides()[0], w.layout().strides()[1]);
        let w_data = &w.storage::<f32>()[w.layout().start_offset()..];
        // `lhs` holds the `m × k` input rows; the weight's `k × o` elements are in `w_data`
        // through its non-negative strides (checked above).
        let out = product(m, o, k, Mat::rows(lhs, k), Mat::new(w_data, w_rs, w_cs));
        finish_linear(out, bias, [b, n, o])
    }

    /// Adds the bias (if any) to every row of `out` and wraps it as a `[b, n, o]` tensor.
    fn finish_linear(mut out: Vec<f32>, bias: Option<Tensor<1>>, shape: [usize; 3]) -> Tensor<3> {
        let o = shape[2].max(1);
        if let Some(bias) = bias {
            let bias: Vec<f32> = bias
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 data");
            out.par_chunks_mut(ROW_CHUNK * o).for_each(|rows| {
                for row in rows.chunks_exact_mut(o) {
                    row.iter_mut().zip(&bias).for_each(|(v, &c)| *v += c);
                }
            });
        }
        new_tensor(out, shape)
    }

    crate::vectorized! {
    /// `out[r] += gate ⊙ y[r]` (or `+= y[r]` without a gate) over whole rows of `y.len() / rows`.
    fn add_rows_in_place(out: &mut [f32], y: &[f32], gate: Option<&[f32]>) {
        match gate {
            Some(g) => {
                for (orow, yrow) in out.chunks_exact_mut(g.len()).zip(y.chunks_exact(g.len())) {
                    for ((o, &v), &c) in orow.iter_mut().zip(yrow).zip(g) {
                        *o += c * v;
                    }
                }
            }
            None => {
                for (o, &v) in out.iter_mut().zip(y) {
                    *o += v;
                }
            }
        }
    }
    }

    crate::vectorized! {
    /// `out[r] = x[r] + gate ⊙ y[r]` (or `x[r] + y[r]`) over whole rows.
    fn add_rows(out: &mut [f32], x: &[f32], y: &[f32], gate: Option<&[f32]>) {
        match gate {
            Some(g) => {
                let d = g.len();
                for ((orow, xrow), yrow) in out
                    .chunks_exact_mut(d)
                    .zip(x.chunks_exact(d))
                    .zip(y.chunks_exact(d))
                {
                    for (((o, &a), &v), &c) in orow.iter_mut().zip(xrow).zip(yrow).zip(g) {
                        *o = a + c * v;
                    }
                }
            }
            None => {
                for ((o, &a), &v) in out.iter_mut().zip(x).zip(y) {
                    *o = a + v;
                }
            }
        }
    }
    }

    /// `x + gate ⊙ y` (gate `[b | 1, 1, d]`) or `x + y` (`y` `[b | 1, n, d]`) for `x: [b, n, d]`.
    pub fn residual_add(x: Tensor<3>, y: Tensor<3>, gate: Option<Tensor<3>>) -> Tensor<3> {
        let [b, n, d] = x.dims();
        let yb = y.dims()[0];
        let gate: Option<Vec<f32>> = gate.map(|g| {
            g.expand([b, 1, d])
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 data")
        });
        let (y, ys) = host(primitive(y));
        let y_all = &y.storage::<f32>()[ys..ys + yb * n * d];
        let per_batch = n * d;
        let chunk = ROW_CHUNK * d.max(1);
        let mut xp = primitive(x);
        if xp.is_unique() && xp.layout().is_contiguous() && xp.layout().start_offset() == 0 {
            let data: &mut [f32] = xp.storage_mut();
            for (bi, xb) in data[..b * per_batch]
                .chunks_exact_mut(per_batch.max(1))
                .enumerate()
            {
                let yb_data = &y_all[(bi % yb) * per_batch..][..per_batch];
                let g = gate.as_ref().map(|g| &g[bi * d..(bi + 1) * d]);
                xb.par_chunks_mut(chunk)
                    .zip(yb_data.par_chunks(chunk))
                    .for_each(|(o, v)| add_rows_in_place(o, v, g));
            }
            return Tensor::from_primitive::<Flex>(xp);
        }
        let (xc, xs) = host(xp);
        let x_all = &xc.storage::<f32>()[xs..xs + b * per_batch];
        let mut out = vec![0f32; b * per_batch];
        for (bi, ob) in out.chunks_exact_mut(per_batch.max(1)).enumerate() {
            let xb = &x_all[bi * per_batch..][..per_batch];
            let yb_data = &y_all[(bi % yb) * per_batch..][..per_batch];
            let g = gate.as_ref().map(|g| &g[bi * d..(bi + 1) * d]);
            ob.par_chunks_mut(chunk)
                .zip(xb.par_chunks(chunk).zip(yb_data.par_chunks(chunk)))
                .for_each(|(o, (xv, v))| add_rows(o, xv, v, g));
        }
        new_tensor(out, [b, n, d])
    }

    /// A `[b, h, n, d]` operand with a unit stride on `d`.
    struct Operand {
        tensor: FlexTensor,
        offset: usize,
        strides: [usize; 3],
        dims: [usize; 4],
    }

    impl Operand {
        fn new(x: Tensor<4>) -> Self {
            let dims = x.dims();
            let mut tensor = primitive(x);
            let unit_last = tensor.layout().strides()[3] == 1
                && tensor.layout().strides()[..3].iter().all(|&s| s >= 0);
            if !unit_last {
                tensor = tensor.to_contiguous();
            }
            let s = tensor.layout().strides();
            let strides = [s[0] as usize, s[1] as usize, s[2] as usize];
            let offset = tensor.layout().start_offset();
            Self {
                tensor,
                offset,
                strides,
                dims,
            }
        }

        fn data(&self) -> &[f32] {
            self.tensor.storage::<f32>()
        }

        /// Index of row 0 of head `(b, h)` in [`data`](Self::data).
        fn head_offset(&self, b: usize, h: usize) -> usize {
            self.offset + b * self.strides[0] + h * self.strides[1]
        }
    }

    pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<3> {
        let q = Operand::new(q);
        let k = Operand::new(k);
        let v = Operand::new(v);
        let [b, h, nq, d] = q.dims;
        let nk = k.dims[2];
        let dv = v.dims[3];
        let scale = 1.0 / (d as f32).sqrt();

        // Each head's keys transposed to `[d, keys]` and values made contiguous `[keys, dv]`,
        // once per head: with these layouts the GEMMs below skip most of gemm's operand packing,
        // which otherwise ran for every block of query rows (the 64-deep score GEMM and the
        // value GEMM ran at half the speed of the projections without this). Heads run in
        // parallel and the blocks of query rows of each head too; the copies live only while
        // their head is processed, so extra memory is bounded by the heads in flight, not by
        // the whole of K and V.
        let rows_per_item = (SCORE_BLOCK / nk.max(1)).clamp(MIN_ROWS, MAX_ROWS);
        let blocks = nq.div_ceil(rows_per_item);
        // Every (head, block of rows) writes its own part of the output through gemm's blocked
        // path, which stores without reading; where some product is small enough for gemm's
        // other paths (which may read it), the buffer is zeroed first.
        let len = b * nq * h * dv;
        let last_rows = nq - (blocks.max(1) - 1) * rows_per_item;
        let blind = last_rows.min(rows_per_item) >= 32 && dv >= 32 && nk >= 8;
        let mut out: Vec<f32> = if blind {
            Vec::with_capacity(len)
        } else {
            vec![0f32; len]
        };
        let row_stride = h * dv;
        let out_ptr = OutPtr(out.as_mut_ptr());
        (0..b * h).into_par_iter().for_each(|bh| {
            let (bi, hi) = (bh / h, bh % h);
            let mut kt = vec![0f32; d * nk];
            let mut vc = vec![0f32; nk * dv];
            let (kd, vd) = (k.data(), v.data());
            let (k0, v0) = (k.head_offset(bi, hi), v.head_offset(bi, hi));
            // The transpose goes through tiles of 16 keys so that each write fills a cache line
            // (key by key, every element landed in another line: ≈ 1 % of the forward).
            for j0 in (0..nk).step_by(TRANSPOSE_TILE) {
                let keys = TRANSPOSE_TILE.min(nk - j0);
                for c in 0..d {
                    let dst = &mut kt[c * nk + j0..][..keys];
                    for (jj, x) in dst.iter_mut().enumerate() {
                        *x = kd[k0 + (j0 + jj) * k.strides[2] + c];
                    }
                }
            }
            for j in 0..nk {
                vc[j * dv..(j + 1) * dv].copy_from_slice(&vd[v0 + j * v.strides[2]..][..dv]);
            }
            let (kt, vc) = (&kt, &vc);
            (0..blocks).into_par_iter().for_each_init(
                || vec![0f32; rows_per_item * nk],
                |scores, block| {
                    let r0 = block * rows_per_item;
                    let rows = rows_per_item.min(nq - r0);
                    let scores = &mut scores[..rows * nk];
                    let q_rows = &q.data()[q.head_offset(bi, hi) + r0 * q.strides[2]..];
                    gemm(
                        scores,
                        nk,
                        [rows, nk, d],
                        Mat::rows(q_rows, q.strides[2]),
                        Mat::rows(kt, nk),
                        false,
                        0.0,
                        scale,
                        false,
                    );
                    let mut inv_sums = [0f32; MAX_ROWS];
                    for (row, inv) in scores.chunks_exact_mut(nk).zip(inv_sums.iter_mut()) {
                        *inv = softmax_exp_row(row);
                    }
                    let out_rows = out_ptr;
                    // SAFETY: each work item writes its own `rows × dv` output rows of head `hi`,
                    // inside `out` (`b·nq` rows of `h·dv`).
                    unsafe {
                        let dst = out_rows.0.add((bi * nq + r0) * row_stride + hi * dv);
                        gemm_into(
                            dst,
                            row_stride,
                            [rows, dv, nk],
                            Mat::rows(scores, nk),
                            Mat::rows(vc, dv),
                            false,
                            0.0,
                            1.0,
                            false,
                        );
                        for (r, inv) in inv_sums[..rows].iter().enumerate() {
                            let row = std::slice::from_raw_parts_mut(dst.add(r * row_stride), dv);
                            row.iter_mut().for_each(|x| *x *= inv);
                        }
                    }
                },
            );
        });
        if blind {
            // SAFETY: the loop above wrote all `len` elements (every head of every row).
            unsafe { out.set_len(len) };
        }
        Tensor::from_primitive::<Flex>(FlexTensor::new(
            Bytes::from_elems(out),
            Layout::contiguous(Shape::from(vec![b, nq, h * dv])),
            DType::F32,
        ))
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::rope::RotaryLayout;
    use burn::tensor::{Device, Distribution};

    use crate::parity::values;

    #[test]
    fn fast_exp_and_gelu_match_the_library_functions() {
        let mut worst_exp = 0f64;
        let mut worst_gelu = 0f64;
        for i in 0..200_000 {
            let x = -90.0 + i as f32 * (100.0 / 200_000.0);
            if x <= 0.0 {
                let e = x.exp() as f64;
                let rel = ((exp_nonpositive(x) as f64 - e) / e.max(1e-30)).abs();
                if e > 1e-37 {
                    worst_exp = worst_exp.max(rel);
                }
            }
            let g = x as f64 * 0.5 * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2));
            worst_gelu = worst_gelu.max((gelu_scalar(x) as f64 - g).abs() / (1.0 + g.abs()));
        }
        assert!(worst_exp < 5e-7, "exp relative error {worst_exp}");
        assert!(worst_gelu < 5e-7, "gelu error {worst_gelu}");
    }

    #[test]
    fn fast_gelu_matches_burn_gelu_in_place_and_on_views() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 300, 70], Distribution::Normal(0.0, 3.0), &device);
        let expected = values(activation::gelu(x.clone()));
        assert!(fast_paths_active(&x));
        let fast = values(gelu(x.clone() * 1.0));
        let view = values(gelu(x.clone().swap_dims(1, 2)).swap_dims(1, 2));
        for ((a, b), c) in fast.iter().zip(&expected).zip(&view) {
            assert!((a - b).abs() < 2e-6 && (c - b).abs() < 2e-6, "{a} {b} {c}");
        }
    }

    #[test]
    fn fast_norm_rope_and_adaln_match_the_reference() {
        let device = Device::flex();
        let (heads, d, n) = (3, 16, 37);
        let x = Tensor::<3>::random([2, n, heads * d], Distribution::Normal(0.0, 2.0), &device);
        let norm = burn::nn::RmsNormConfig::new(d)
            .with_epsilon(1e-6)
            .init(&device);
        let norm = burn::nn::RmsNorm {
            gamma: burn::module::Param::from_tensor(Tensor::random(
                [d],
                Distribution::Normal(1.0, 0.3),
                &device,
            )),
            ..norm
        };
        let angles = Tensor::<2>::random([n, d], Distribution::Uniform(-3.0, 3.0), &device);
        let rotary = Rotary {
            cos: angles.clone().cos(),
            sin: angles.sin(),
            layout: RotaryLayout::Halves,
        };
        let fast = norm_rope_heads(x.clone(), heads, Some(&norm), Some(&rotary));
        assert_eq!(fast.dims(), [2, heads, n, d]);
        let reference = apply_rotary(
            norm.forward(split_heads(x.clone(), heads)),
            rotary.cos.clone(),
            rotary.sin.clone(),
            RotaryLayout::Halves,
        );
        for (a, b) in values(fast).iter().zip(&values(reference)) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
        let plain = norm_rope_heads(x.clone(), heads, None, None);
        assert_eq!(values(plain), values(split_heads(x.clone(), heads)));

        let shift = Tensor::<3>::random([2, 1, heads * d], Distribution::Normal(0.0, 1.0), &device);
        let scale = Tensor::<3>::random([2, 1, heads * d], Distribution::Normal(0.0, 1.0), &device);
        let fast = adaln_modulate(x.clone(), shift.clone(), scale.clone(), 1e-6);
        let reference = modulate(layer_normalize(x, 1e-6), shift, scale);
        for (a, b) in values(fast).iter().zip(&values(reference)) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
    }

    #[test]
    fn fast_attention_matches_burn_attention() {
        let device = Device::flex();
        // Heads as a view of [b, n, h, d] (as after splitting heads), rows not a multiple of the block.
        let q = Tensor::<4>::random([2, 300, 3, 16], Distribution::Normal(0.0, 1.0), &device)
            .swap_dims(1, 2);
        let k = Tensor::<4>::random([2, 3, 77, 16], Distribution::Normal(0.0, 2.0), &device);
        let v = Tensor::<4>::random([2, 3, 77, 16], Distribution::Normal(0.0, 1.0), &device);
        let expected = values(merge_heads(scaled_dot_product_attention(
            q.clone(),
            k.clone(),
            v.clone(),
            None,
            None,
            None,
            false,
        )));
        let fast = attention(q, k, v);
        assert_eq!(fast.dims(), [2, 300, 48]);
        for (a, b) in values(fast).iter().zip(&expected) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
    }

    #[test]
    fn outputs_written_without_zero_fill_are_complete() {
        // Products large enough for gemm's blocked path, whose outputs are not zero-filled first:
        // freed NaN-filled blocks of the same sizes make any element left unwritten show.
        let device = Device::flex();
        let q = Tensor::<4>::random([1, 2, 100, 64], Distribution::Normal(0.0, 1.0), &device);
        let k = Tensor::<4>::random([1, 2, 40, 64], Distribution::Normal(0.0, 1.0), &device);
        let v = Tensor::<4>::random([1, 2, 40, 64], Distribution::Normal(0.0, 1.0), &device);
        let layer = burn::nn::LinearConfig::new(64, 96).init(&device);
        let x = Tensor::<3>::random([1, 100, 64], Distribution::Normal(0.0, 1.0), &device);
        let expected_attention = values(merge_heads(scaled_dot_product_attention(
            q.clone(),
            k.clone(),
            v.clone(),
            None,
            None,
            None,
            false,
        )));
        let expected_linear = values(layer.forward(x.clone()));
        for _ in 0..3 {
            drop(std::hint::black_box(vec![f32::NAN; 100 * 128]));
            let fast = values(attention(q.clone(), k.clone(), v.clone()));
            for (a, b) in fast.iter().zip(&expected_attention) {
                assert!((a - b).abs() < 1e-5, "{a} {b}");
            }
            drop(std::hint::black_box(vec![f32::NAN; 100 * 96]));
            let fast = values(linear(&layer, x.clone()));
            for (a, b) in fast.iter().zip(&expected_linear) {
                assert!((a - b).abs() < 1e-5, "{a} {b}");
            }
        }
    }

    #[test]
    fn fast_linear_matches_burn_linear() {
        let device = Device::flex();
        // Row and column weight layouts (the latter a transposed view), with and without bias,
        // a product large enough for gemm's blocked path and one small enough for its vector path.
        for (tokens, d_in, d_out) in [(70, 48, 40), (3, 5, 2)] {
            for layout in [burn::nn::LinearLayout::Row, burn::nn::LinearLayout::Col] {
                for bias in [false, true] {
                    let layer = burn::nn::LinearConfig::new(d_in, d_out)
                        .with_bias(bias)
                        .with_layout(layout)
                        .init(&device);
                    let x = Tensor::<3>::random(
                        [2, tokens, d_in],
                        Distribution::Normal(0.0, 1.0),
                        &device,
                    );
                    let expected = values(layer.forward(x.clone()));
                    let fast = linear(&layer, x.clone());
                    assert_eq!(fast.dims(), [2, tokens, d_out]);
                    for (a, b) in values(fast).iter().zip(&expected) {
                        assert!((a - b).abs() < 1e-5, "{a} {b}");
                    }
                    // A strided input (a view with the batch innermost) gives the same.
                    let view = (x.clone().swap_dims(0, 1) * 1.0).swap_dims(0, 1);
                    assert_eq!(values(linear(&layer, view)), values(linear(&layer, x)));
                }
            }
        }
    }

    #[test]
    fn fast_residual_adds_match_burn_in_place_and_shared() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 37, 24], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<3>::random([2, 37, 24], Distribution::Normal(0.0, 1.0), &device);
        let gate = Tensor::<3>::random([2, 1, 24], Distribution::Normal(0.0, 1.0), &device);
        let expected = values(x.clone() + gate.clone() * y.clone());
        // `x` shared (its clone is still alive): a new buffer, `x` untouched.
        let before = values(x.clone());
        let shared = gated_residual(x.clone(), gate.clone(), y.clone());
        assert_eq!(values(shared), expected);
        assert_eq!(values(x.clone()), before);
        // `x` alone (a fresh tensor): in place, same values.
        let fresh = x.clone() * 1.0;
        assert_eq!(
            values(gated_residual(fresh, gate.clone(), y.clone())),
            expected
        );
        // Gate shared by the batch, and a strided `y`.
        let gate1 = gate.clone().narrow(0, 0, 1);
        let y_view = (y.clone().swap_dims(1, 2) * 1.0).swap_dims(1, 2);
        assert_eq!(
            values(gated_residual(x.clone(), gate1.clone(), y_view)),
            values(x.clone() + gate1 * y.clone())
        );
        // Position-embedding add broadcast over the batch.
        let extra = Tensor::<3>::random([1, 37, 24], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(
            values(add_tokens(x.clone() * 1.0, extra.clone())),
            values(x.clone() + extra.clone())
        );
        assert_eq!(values(add_tokens(x.clone(), y.clone())), values(x + y));
    }
}
