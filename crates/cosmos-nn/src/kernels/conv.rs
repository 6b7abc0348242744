//! The video tokenizers' convolutions and normalisations: causal 3D convolution (Winograd for
//! `(1, 3, 3)`, accumulated GEMMs for `(k, 1, 1)`) and per-frame GroupNorm (+ SiLU), on flex.
//!
//! Why hand-written: profiled on CV8x8x8 (1×3×17×256×256 clip, flex backend), ~70 % of the
//! decoder's multiply-adds are `(1, 3, 3)` convolutions, ~20 % `(3, 1, 1)` temporal and 1×1×1
//! convolutions. burn-flex runs every convolution as im2col + GEMM: 53 % of the samples sat in
//! gemm's micro-kernel, another ~17 % in im2col and operand packing, and the temporal
//! convolutions first copied their input to prepend the replicated first frame.
//!
//! Here, on the flex backend with f32 tensors and outside autodiff only ([`super::fast_path`]):
//! - `(1, 3, 3)` convolutions with stride 1 and padding 1 use Winograd F(2×2, 3×3) (see
//!   [`super::winograd`]): 2.25× fewer multiply-adds, transforms fused around 16 GEMMs per
//!   block of tiles, no im2col, memory bounded by the block;
//! - `(k, 1, 1)` convolutions (temporal and pointwise) are `k` accumulated GEMMs straight on the
//!   input frames (the causal padding is an index clamp, not a copy);
//! - per-frame GroupNorm (+ SiLU) is two passes per frame.
//!
//! Every other backend, dtype, autodiff device or convolution shape takes burn's own operations.
//! (Moved from `cosmos-tokenizer`'s `cpu` module.)

#[cfg(feature = "flex")]
use super::fast_path as takes;
use crate::causal_conv::CausalConv3d;
use burn::tensor::Tensor;

/// Runs a causal convolution on a whole clip (`CausalConv3d::forward`), through a fast path
/// where one applies.
pub fn causal_conv(conv: &CausalConv3d, x: Tensor<5>) -> Tensor<5> {
    #[cfg(feature = "flex")]
    if takes(&x) {
        let c = &conv.conv3d;
        let weight = c.weight.val();
        let bias = c.bias.as_ref().map(|b| b.val());
        let chan_in = weight.dims()[1];
        let fits = c.groups == 1
            && x.dims()[1] == chan_in
            && x.dims().iter().all(|&d| d > 0)
            && takes(&weight)
            && bias.as_ref().is_none_or(takes);
        if fits
            && c.kernel_size == [1, 3, 3]
            && c.stride == [1, 1, 1]
            && c.dilation == [1, 1, 1]
            && conv.spatial_pad == 1
            && conv.time_pad == 0
            && let Some(tile) = super::winograd::default_tile()
        {
            return super::winograd::conv3x3(x, weight, bias, tile);
        }
        let [_, _, t, _, _] = x.dims();
        let span = c.dilation[0] * (c.kernel_size[0] - 1) + 1;
        if fits
            && c.kernel_size[1] == 1
            && c.kernel_size[2] == 1
            && c.stride[1] == 1
            && c.stride[2] == 1
            && conv.spatial_pad == 0
            && t + conv.time_pad >= span
        {
            return flex::temporal_conv(x, weight, bias, conv.time_pad, c.stride[0], c.dilation[0]);
        }
    }
    conv.forward(x)
}

/// The reference of [`group_norm_per_frame`] in burn tensor operations (any backend, autodiff):
/// for `x: [b, c, t, h, w]`, the statistics of frame `(b, t)` run over its `c·h·w` values
/// (biased variance, as PyTorch), then the per-channel affine. What other backends run and
/// what the kernel is tested against.
pub fn group_norm_per_frame_reference(
    x: Tensor<5>,
    gamma: Option<Tensor<1>>,
    beta: Option<Tensor<1>>,
    eps: f64,
) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let flat: Tensor<4> = x.reshape([b, c, t, h * w]);
    let mean = flat.clone().mean_dim(3).mean_dim(1);
    let centered = flat - mean;
    let var = centered.clone().square().mean_dim(3).mean_dim(1);
    let mut y = centered / (var + eps).sqrt();
    if let Some(gamma) = gamma {
        y = y * gamma.reshape([1, c, 1, 1]);
    }
    if let Some(beta) = beta {
        y = y + beta.reshape([1, c, 1, 1]);
    }
    y.reshape([b, c, t, h, w])
}

/// GroupNorm with one group per frame of `x: [b, c, t, h, w]`, then the per-channel affine
/// and, if `silu`, SiLU. `None` when no fast path applies.
pub fn group_norm_per_frame(
    x: &Tensor<5>,
    gamma: Option<&Tensor<1>>,
    beta: Option<&Tensor<1>>,
    eps: f64,
    silu: bool,
) -> Option<Tensor<5>> {
    #[cfg(feature = "flex")]
    if takes(x) && gamma.is_none_or(takes) && beta.is_none_or(takes) {
        return Some(flex::group_norm_per_frame(
            x.clone(),
            gamma.cloned(),
            beta.cloned(),
            eps as f32,
            silu,
        ));
    }
    let _ = (x, gamma, beta, eps, silu);
    None
}

#[cfg(feature = "flex")]
mod flex {
    use burn::tensor::Tensor;
    use rayon::prelude::*;

    use crate::kernels::flex::{Host, Mat, OutPtr, gemm_into, new_tensor, zeroed};

    /// Output columns (pixels) per work item of the temporal convolution.
    const TEMPORAL_COLUMNS: usize = 512;

    /// `(k, 1, 1)` convolution of `x: [b, cin, t, h, w]` with `weight: [cout, cin, k, 1, 1]`,
    /// causal left padding of `time_pad` copies of frame 0, time stride and dilation:
    /// output frame `o` is `Σ_j W[:, :, j] · x[frame(o·stride + j·dilation − time_pad)]`, frame
    /// indices below 0 clamped to 0. Each `(batch, output frame, block of pixels)` is `k`
    /// accumulated GEMMs `[cout, cin] × [cin, pixels]` read in place.
    pub(super) fn temporal_conv(
        x: Tensor<5>,
        weight: Tensor<5>,
        bias: Option<Tensor<1>>,
        time_pad: usize,
        stride: usize,
        dilation: usize,
    ) -> Tensor<5> {
        let [b, cin, t, h, w] = x.dims();
        let [cout, _, k, _, _] = weight.dims();
        let hw = h * w;
        let t_out = (t + time_pad - dilation * (k - 1) - 1) / stride + 1;
        let x = Host::new(x);
        let weight = Host::new(weight);
        let bias = bias.map(Host::new);
        let (xd, wd) = (x.data(), weight.data());
        let bd = bias.as_ref().map(|b| b.data());
        let mut out = zeroed(b * cout * t_out * hw);
        let out_ptr = OutPtr(out.as_mut_ptr());
        let blocks = hw.div_ceil(TEMPORAL_COLUMNS);
        (0..b * t_out * blocks).into_par_iter().for_each(|item| {
            let (bo, block) = (item / blocks, item % blocks);
            let (bi, o) = (bo / t_out, bo % t_out);
            let n0 = block * TEMPORAL_COLUMNS;
            let n = TEMPORAL_COLUMNS.min(hw - n0);
            // SAFETY: each item writes its own `cout × n` block of output frame `o`; all
            // pointers stay inside their buffers (shapes checked by the caller).
            unsafe {
                let dst = out_ptr.get().add(bi * cout * t_out * hw + o * hw + n0);
                let row_stride = (t_out * hw) as isize;
                if let Some(bias) = bd {
                    for (co, &bv) in bias.iter().enumerate() {
                        std::slice::from_raw_parts_mut(dst.offset(co as isize * row_stride), n)
                            .fill(bv);
                    }
                }
                for j in 0..k {
                    let frame = (o * stride + j * dilation).saturating_sub(time_pad);
                    gemm_into(
                        dst,
                        t_out * hw,
                        [cout, n, cin],
                        Mat::new(&wd[j..], (cin * k) as isize, k as isize),
                        Mat::rows(&xd[bi * cin * t * hw + frame * hw + n0..], t * hw),
                        bd.is_some() || j > 0,
                        1.0,
                        1.0,
                        false,
                    );
                }
            }
        });
        new_tensor(out, [b, cout, t_out, h, w])
    }

    /// `x·σ(x)` with a fast exponential (relative error ~1e-7).
    #[inline(always)]
    fn silu(x: f32) -> f32 {
        x / (1.0 + fast_exp(-x))
    }

    /// `eˣ` by range reduction `x = n·ln2 + r` and a degree-7 polynomial; saturates outside
    /// ±87. Branch-free so loops over it vectorise.
    #[inline(always)]
    fn fast_exp(x: f32) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        const ROUND: f32 = 12_582_912.0;
        let x = x.clamp(-87.0, 87.0);
        let shifted = x * LOG2E + ROUND;
        let n = shifted - ROUND;
        let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
        let r = (x - n * LN2_HI) - n * LN2_LO;
        let p = 1.0
            + r * (1.0
                + r * (0.5
                    + r * (1.0 / 6.0
                        + r * (1.0 / 24.0
                            + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
        p * f32::from_bits((n_int.wrapping_add(127) as u32) << 23)
    }

    crate::vectorized! {
    /// Sum and sum of squared deviations from `shift`, 16 lanes.
    fn moments(v: &[f32], shift: f32) -> (f64, f64) {
        let mut s = [0f32; 16];
        let mut q = [0f32; 16];
        let mut chunks = v.chunks_exact(16);
        for c in &mut chunks {
            for i in 0..16 {
                let d = c[i] - shift;
                s[i] += d;
                q[i] += d * d;
            }
        }
        let mut sum: f64 = s.iter().map(|&x| x as f64).sum();
        let mut sq: f64 = q.iter().map(|&x| x as f64).sum();
        for &x in chunks.remainder() {
            let d = (x - shift) as f64;
            sum += d;
            sq += d * d;
        }
        (sum, sq)
    }
    }

    crate::vectorized! {
    /// `o = x·scale + offset`, then SiLU if asked.
    fn affine_row(o: &mut [f32], x: &[f32], scale: f32, offset: f32, silu_after: bool) {
        if silu_after {
            for (o, &v) in o.iter_mut().zip(x) {
                *o = silu(v * scale + offset);
            }
        } else {
            for (o, &v) in o.iter_mut().zip(x) {
                *o = v * scale + offset;
            }
        }
    }
    }

    /// Per-frame GroupNorm (one group) + affine (+ SiLU) of `x: [b, c, t, h, w]`: statistics of
    /// each `(b, t)` over its `c·h·w` values, accumulated per channel row in f32 and across rows
    /// in f64 around the frame's first value (so large means do not cancel), then one pass
    /// writing `(x − μ)·rstd·γ + β`.
    pub fn group_norm_per_frame(
        x: Tensor<5>,
        gamma: Option<Tensor<1>>,
        beta: Option<Tensor<1>>,
        eps: f32,
        silu_after: bool,
    ) -> Tensor<5> {
        let [b, c, t, h, w] = x.dims();
        let hw = h * w;
        let x = Host::new(x);
        let gamma = gamma.map(Host::new);
        let beta = beta.map(Host::new);
        let xd = x.data();
        let gd = gamma.as_ref().map(|g| g.data());
        let bd = beta.as_ref().map(|g| g.data());
        let frames = b * t;
        // Statistics per (b, t).
        let stats: Vec<(f32, f32)> = (0..frames)
            .into_par_iter()
            .map(|f| {
                let (bi, ti) = (f / t, f % t);
                let row = |ci: usize| &xd[((bi * c + ci) * t + ti) * hw..][..hw];
                let shift = row(0)[0];
                let (mut sum, mut sq) = (0f64, 0f64);
                for ci in 0..c {
                    let (s, q) = moments(row(ci), shift);
                    sum += s;
                    sq += q;
                }
                let n = (c * hw) as f64;
                let mean_shifted = sum / n;
                let var = (sq / n - mean_shifted * mean_shifted).max(0.0);
                let mean = shift as f64 + mean_shifted;
                (mean as f32, (1.0 / (var + eps as f64).sqrt()) as f32)
            })
            .collect();
        let mut out = zeroed(xd.len());
        // One row (b, c, t) of hw values per item group.
        out.par_chunks_mut(hw)
            .zip(xd.par_chunks(hw))
            .enumerate()
            .for_each(|(r, (o, i))| {
                let ti = r % t;
                let ci = (r / t) % c;
                let bi = r / (t * c);
                let (mean, rstd) = stats[bi * t + ti];
                let g = gd.map_or(1.0, |g| g[ci]);
                let be = bd.map_or(0.0, |b| b[ci]);
                let scale = rstd * g;
                let offset = be - mean * scale;
                affine_row(o, i, scale, offset, silu_after);
            });
        new_tensor(out, [b, c, t, h, w])
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::causal_conv::CausalConv3dConfig;
    use burn::tensor::{Device, Distribution};

    fn max_rel(a: Tensor<5>, b: Tensor<5>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    #[test]
    fn fast_convolutions_match_burns() {
        let d = Device::flex();
        d.seed(3);
        // (cin, cout, kernel, time stride, padding, input [t, h, w])
        let cases = [
            (6, 5, [1, 3, 3], 1, 1, [3, 6, 8]),
            (7, 4, [1, 3, 3], 1, 1, [2, 5, 3]),
            (9, 12, [3, 1, 1], 1, 0, [5, 4, 6]),
            (9, 9, [3, 1, 1], 2, 0, [5, 3, 7]),
            (5, 11, [1, 1, 1], 1, 0, [2, 33, 20]),
            (4, 4, [3, 1, 1], 1, 0, [1, 2, 2]),
        ];
        for (cin, cout, kernel, time_stride, padding, [t, h, w]) in cases {
            let conv = CausalConv3dConfig::new(cin, cout, kernel)
                .with_time_stride(time_stride)
                .with_padding(padding)
                .init(&d);
            for batch in [1, 2] {
                let x =
                    Tensor::<5>::random([batch, cin, t, h, w], Distribution::Normal(0.0, 1.0), &d);
                assert!(takes(&x));
                let expected = conv.forward(x.clone());
                let fast = causal_conv(&conv, x.clone());
                let rel = max_rel(fast, expected.clone());
                assert!(
                    rel < 1e-5,
                    "{kernel:?} {time_stride} [{batch}, {cin}, {t}, {h}, {w}]: {rel}"
                );
                // A strided view takes the same path.
                let view = x.swap_dims(3, 4).swap_dims(3, 4);
                assert!(max_rel(causal_conv(&conv, view), expected) < 1e-5);
            }
        }
    }

    #[test]
    fn fast_group_norm_matches_tensor_ops() {
        let d = Device::flex();
        d.seed(5);
        let (c, t, h, w) = (6, 3, 5, 7);
        for batch in [1, 2] {
            let x = Tensor::<5>::random([batch, c, t, h, w], Distribution::Normal(3.0, 2.0), &d);
            let gamma = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.5), &d);
            let beta = Tensor::<1>::random([c], Distribution::Normal(0.0, 0.5), &d);
            for silu_after in [false, true] {
                let fast = group_norm_per_frame(&x, Some(&gamma), Some(&beta), 1e-6, silu_after)
                    .expect("flex f32 takes the fast path");
                let mut expected = group_norm_per_frame_reference(
                    x.clone(),
                    Some(gamma.clone()),
                    Some(beta.clone()),
                    1e-6,
                );
                if silu_after {
                    expected = burn::tensor::activation::silu(expected);
                }
                let rel = max_rel(fast, expected);
                assert!(rel < 1e-5, "batch {batch} silu {silu_after}: {rel}");
            }
            let plain = group_norm_per_frame(&x, None, None, 1e-6, false).unwrap();
            let expected = group_norm_per_frame_reference(x.clone(), None, None, 1e-6);
            assert!(max_rel(plain, expected) < 1e-5);
        }
    }
}
