//! Winograd F(2×2, 3×3) for the `(1, 3, 3)` convolutions that dominate the tokenizers' cost
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! Each 2×2 output tile comes from a 4×4 input tile: `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, so the
//! 36 multiply-adds per tile and channel pair of a direct 3×3 convolution become 16, done as
//! 16 batched matrix products `[Cout, Cin] × [Cin, tiles]`; the transforms are additions.
//! The transform coefficients are 0, ±1 and ±½, so the result differs from the direct
//! convolution only by float reordering (~1e-6 relative).
//!
//! Off by default: written with generic tensor operations, the transforms materialise about
//! twelve input-sized temporaries per convolution, and on the CPU backend the page faults and
//! memory traffic cost what the 2.25× fewer multiply-adds save (measured: same CPU time,
//! 1.6× the peak memory on CV8x8x8). A fused CPU kernel (transforms written straight into
//! the GEMM operands) is where the gain is; `COSMOS_TOKENIZER_WINOGRAD=1` turns this path on
//! for experiments on the CPU backend.

use burn::tensor::{Tensor, TensorData};

/// Whether a `(1, 3, 3)` convolution over `x: [b, c, t, h, w]` with stride 1 and padding 1
/// can take the Winograd path here (even height and width, CPU device).
pub(crate) fn applies(
    x: &Tensor<5>,
    kernel: [usize; 3],
    stride: [usize; 3],
    dilation: [usize; 3],
    padding: usize,
    groups: usize,
) -> bool {
    let [_, _, _, h, w] = x.dims();
    kernel == [1, 3, 3]
        && stride == [1, 1, 1]
        && dilation == [1, 1, 1]
        && padding == 1
        && groups == 1
        && h % 2 == 0
        && w % 2 == 0
        && h >= 2
        && w >= 2
        && on_cpu(x)
}

/// Whether the Winograd path is enabled (`COSMOS_TOKENIZER_WINOGRAD=1`).
fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("COSMOS_TOKENIZER_WINOGRAD").is_ok_and(|v| v == "1"))
}

#[cfg(feature = "flex")]
fn on_cpu(x: &Tensor<5>) -> bool {
    let device = x.device();
    enabled() && device == burn::tensor::Device::flex() && !device.is_autodiff()
}

#[cfg(not(feature = "flex"))]
fn on_cpu(_x: &Tensor<5>) -> bool {
    false
}

/// Runs a causal convolution, through [`conv3x3`] where it applies.
pub(crate) fn causal_conv(conv: &cosmos_nn::causal_conv::CausalConv3d, x: Tensor<5>) -> Tensor<5> {
    let c = &conv.conv3d;
    if conv.time_pad == 0
        && applies(
            &x,
            c.kernel_size,
            c.stride,
            c.dilation,
            conv.spatial_pad,
            c.groups,
        )
    {
        return conv3x3(x, c.weight.val(), c.bias.as_ref().map(|b| b.val()));
    }
    conv.forward(x)
}

/// A slice of one index along `dim`.
fn pick<const D: usize>(x: &Tensor<D>, dim: usize, index: usize) -> Tensor<D> {
    x.clone().narrow(dim, index, 1)
}

/// `Bᵀ d` along axis pair (`block`, `inner`) of a tensor whose axis `block` indexes 2-row
/// blocks and `inner` the row within the block: rows u = 0..3 of the 4-row tile starting at
/// block `i` are (i, 0), (i, 1), (i + 1, 0), (i + 1, 1). Returns the 4 transformed rows.
fn input_transform_axis<const D: usize>(
    x: &Tensor<D>,
    block: usize,
    inner: usize,
    tiles: usize,
) -> [Tensor<D>; 4] {
    let lo = x.clone().narrow(block, 0, tiles);
    let hi = x.clone().narrow(block, 1, tiles);
    let d0 = pick(&lo, inner, 0);
    let d1 = pick(&lo, inner, 1);
    let d2 = pick(&hi, inner, 0);
    let d3 = pick(&hi, inner, 1);
    [
        d0 - d2.clone(),
        d1.clone() + d2.clone(),
        d2 - d1.clone(),
        d1 - d3,
    ]
}

/// The weight transform `G g Gᵀ` for `weight: [cout, cin, 1, 3, 3]` → `[16, cout, cin]`.
fn weight_transform(weight: Tensor<5>) -> Tensor<3> {
    let [cout, cin, _, _, _] = weight.dims();
    let device = weight.device();
    let g = Tensor::<2>::from_data(
        TensorData::new(
            vec![
                1.0f32, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.0, 0.0, 1.0,
            ],
            [4, 3],
        ),
        &device,
    );
    let w: Tensor<3> = weight.reshape([cout * cin, 3, 3]);
    let gw = g.clone().unsqueeze_dim::<3>(0).matmul(w); // [n, 4, 3]
    let u = gw.matmul(g.transpose().unsqueeze_dim::<3>(0)); // [n, 4, 4]
    u.reshape([cout, cin, 16]).permute([2, 0, 1])
}

/// `(1, 3, 3)` convolution, stride 1, zero padding 1, of `x: [b, cin, t, h, w]` (h, w even)
/// with `weight: [cout, cin, 1, 3, 3]` and an optional bias.
pub(crate) fn conv3x3(x: Tensor<5>, weight: Tensor<5>, bias: Option<Tensor<1>>) -> Tensor<5> {
    let [b, cin, t, h, w] = x.dims();
    let cout = weight.dims()[0];
    let (th, tw) = (h / 2, w / 2);
    let n = b * t * th * tw;
    // Zero padding 1 makes (h + 2) × (w + 2) = 2(th + 1) × 2(tw + 1): whole 2-row blocks.
    let xp = x.pad((1, 1, 1, 1), burn::tensor::ops::PadMode::Constant(0.0));
    let xp: Tensor<7> = xp.reshape([b, cin, t, th + 1, 2, tw + 1, 2]);
    // Rows (axes 3, 4), then columns (axes 5, 6) of every 4×4 tile.
    let rows = input_transform_axis(&xp, 3, 4, th);
    let mut bands = Vec::with_capacity(16);
    for row in &rows {
        for v in input_transform_axis(row, 5, 6, tw) {
            // [b, cin, t, th, 1, tw, 1] → [cin, n]
            let v: Tensor<4> = v.reshape([b, cin, t * th * tw, 1]);
            bands.push(if b == 1 {
                v.reshape([cin, n])
            } else {
                v.swap_dims(0, 1).reshape([cin, n])
            });
        }
    }
    let v = Tensor::stack::<3>(bands, 0); // [16, cin, n]
    let u = weight_transform(weight); // [16, cout, cin]
    let m = u.matmul(v); // [16, cout, n]
    let m: Vec<Tensor<3>> = m.chunk(16, 0); // each [1, cout, n], index 4·u + v
    // Aᵀ m A: along u then v.
    let at = |m0: &Tensor<3>, m1: &Tensor<3>, m2: &Tensor<3>, m3: &Tensor<3>| {
        (
            m0.clone() + m1.clone() + m2.clone(),
            m1.clone() - m2.clone() - m3.clone(),
        )
    };
    let mut r0 = Vec::with_capacity(4);
    let mut r1 = Vec::with_capacity(4);
    for v in 0..4 {
        let (a, b_) = at(&m[v], &m[4 + v], &m[8 + v], &m[12 + v]);
        r0.push(a);
        r1.push(b_);
    }
    let (y00, y01) = at(&r0[0], &r0[1], &r0[2], &r0[3]);
    let (y10, y11) = at(&r1[0], &r1[1], &r1[2], &r1[3]);
    // [4, cout, n] ordered (row a, column b) → [cout, b, t, th, a, tw, b_col]
    let y = Tensor::cat(vec![y00, y01, y10, y11], 0);
    let y: Tensor<8> = y.reshape([2, 2, cout, b, t, th, tw, 1]);
    let y = y
        .permute([3, 2, 4, 5, 0, 6, 1, 7])
        .reshape([b, cout, t, h, w]);
    match bias {
        Some(bias) => y + bias.reshape([1, cout, 1, 1, 1]),
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::conv3d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn matches_the_direct_convolution() {
        let d = Device::flex();
        for (shape, cout) in [
            ([1, 3, 2, 4, 6], 5),
            ([2, 8, 3, 8, 2], 4),
            ([1, 16, 1, 10, 12], 16),
        ] {
            let x = Tensor::<5>::random(shape, Distribution::Normal(0.0, 1.0), &d);
            let w = Tensor::<5>::random(
                [cout, shape[1], 1, 3, 3],
                Distribution::Normal(0.0, 1.0),
                &d,
            );
            let bias = Tensor::<1>::random([cout], Distribution::Normal(0.0, 1.0), &d);
            let direct = conv3d(
                x.clone(),
                w.clone(),
                Some(bias.clone()),
                ConvOptions::new([1, 1, 1], [0, 1, 1], [1, 1, 1], 1),
            );
            let fast = conv3x3(x, w, Some(bias));
            let diff = (direct - fast).abs().max().into_scalar::<f32>();
            assert!(diff < 1e-4, "{shape:?}: {diff}");
        }
    }
}
