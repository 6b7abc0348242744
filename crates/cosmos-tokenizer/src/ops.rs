//! Tensor operations the tokenizer layers share: normalisations, pooling and nearest-neighbour
//! resampling in the layouts the reference uses.

use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use cosmos_nn::kernels::conv::group_norm_per_frame_reference;

/// GroupNorm with one group per frame: for `x: [b, c, t, h, w]`, the statistics of frame
/// `(b, t)` run over its `c·h·w` values (biased variance, as PyTorch), then the per-channel
/// affine is applied.
pub(crate) fn group_norm_per_frame(
    x: Tensor<5>,
    gamma: Option<Tensor<1>>,
    beta: Option<Tensor<1>>,
    eps: f64,
) -> Tensor<5> {
    if let Some(y) = cosmos_nn::kernels::conv::group_norm_per_frame(
        &x,
        gamma.as_ref(),
        beta.as_ref(),
        eps,
        false,
    ) {
        return y;
    }
    group_norm_per_frame_reference(x, gamma, beta, eps)
}

/// [`group_norm_per_frame`] followed by SiLU.
pub(crate) fn group_norm_per_frame_silu(
    x: Tensor<5>,
    gamma: Option<Tensor<1>>,
    beta: Option<Tensor<1>>,
    eps: f64,
) -> Tensor<5> {
    if let Some(y) =
        cosmos_nn::kernels::conv::group_norm_per_frame(&x, gamma.as_ref(), beta.as_ref(), eps, true)
    {
        return y;
    }
    silu(group_norm_per_frame_reference(x, gamma, beta, eps))
}

/// GroupNorm of images `x: [b, c, h, w]` with `groups` groups.
pub(crate) fn group_norm(
    x: Tensor<4>,
    groups: usize,
    gamma: Option<Tensor<1>>,
    beta: Option<Tensor<1>>,
    eps: f64,
) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let flat: Tensor<3> = x.reshape([b, groups, (c / groups) * h * w]);
    let mean = flat.clone().mean_dim(2);
    let centered = flat - mean;
    let var = centered.clone().square().mean_dim(2);
    let y: Tensor<4> = (centered / (var + eps).sqrt()).reshape([b, c, h, w]);
    let y = match gamma {
        Some(gamma) => y * gamma.reshape([1, c, 1, 1]),
        None => y,
    };
    match beta {
        Some(beta) => y + beta.reshape([1, c, 1, 1]),
        None => y,
    }
}

/// 2×2 average pooling over height and width with floor semantics (`avg_pool3d` with kernel
/// and stride `(1, 2, 2)`).
pub(crate) fn avg_pool_hw2(x: Tensor<5>) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let (h2, w2) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.narrow(3, 0, 2 * h2).narrow(4, 0, 2 * w2)
    } else {
        x
    };
    let x: Tensor<7> = x.reshape([b, c, t, h2, 2, w2, 2]);
    x.mean_dim(6).mean_dim(4).reshape([b, c, t, h2, w2])
}

/// Pair averaging over time with floor semantics (`avg_pool3d` with kernel and stride
/// `(2, 1, 1)`).
pub(crate) fn avg_pool_time2(x: Tensor<5>) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let t2 = t / 2;
    let x = if t % 2 == 1 {
        x.narrow(2, 0, 2 * t2)
    } else {
        x
    };
    let x: Tensor<5> = x.reshape([b, c, t2, 2, h * w]);
    x.mean_dim(3).reshape([b, c, t2, h, w])
}

/// `repeat_interleave(2, dim=2)` then dropping the first frame: `t → 2t − 1` frames
/// `f0, f1, f1, f2, f2, …`.
pub(crate) fn repeat_time_drop_first(x: Tensor<5>) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let x: Tensor<5> = x.reshape([b, c, t, 1, h * w]);
    let x = x.expand([b, c, t, 2, h * w]).reshape([b, c, 2 * t, h, w]);
    x.narrow(2, 1, 2 * t - 1)
}

/// Nearest-neighbour ×2 upsampling of height and width of a video.
pub(crate) fn upsample_nearest_hw2(x: Tensor<5>) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let x: Tensor<7> = x.reshape([b, c, t, h, 1, w, 1]);
    x.expand([b, c, t, h, 2, w, 2])
        .reshape([b, c, t, 2 * h, 2 * w])
}

/// Nearest-neighbour ×2 upsampling of images.
pub(crate) fn upsample_nearest2d(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let x: Tensor<6> = x.reshape([b, c, h, 1, w, 1]);
    x.expand([b, c, h, 2, w, 2]).reshape([b, c, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    use cosmos_nn::parity::values;

    #[test]
    fn per_frame_norm_uses_each_frames_statistics() {
        let d = Device::flex();
        // Two channels, two frames, one pixel: frame 0 = (1, 3), frame 1 = (10, 30).
        // Frame 0: mean 2, var 1 → (−1, 1); frame 1: mean 20, var 100 → (−1, 1).
        let x = Tensor::<5>::from_data(
            TensorData::new(vec![1.0f32, 10.0, 3.0, 30.0], [1, 2, 2, 1, 1]),
            &d,
        );
        let y = values(group_norm_per_frame(x, None, None, 0.0));
        for (a, b) in y.iter().zip([-1.0, -1.0, 1.0, 1.0]) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn resampling_helpers_follow_the_reference() {
        let d = Device::flex();
        let x =
            Tensor::<5>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 1, 3, 1, 1]), &d);
        assert_eq!(
            values(repeat_time_drop_first(x.clone())),
            vec![1.0, 2.0, 2.0, 3.0, 3.0]
        );
        assert_eq!(values(avg_pool_time2(x)), vec![1.5]);
        let img = Tensor::<5>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 1, 2, 2]),
            &d,
        );
        assert_eq!(values(avg_pool_hw2(img.clone())), vec![2.5]);
        assert_eq!(
            values(upsample_nearest_hw2(img)),
            vec![
                1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0
            ]
        );
    }
}
