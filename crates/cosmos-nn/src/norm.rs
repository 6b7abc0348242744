//! Normalisations shared by the models: RMSNorm (also used per attention head as QK-norm) and
//! a LayerNorm without affine parameters (the AdaLN blocks modulate it instead).

use burn::tensor::{DType, Tensor};

pub use burn::nn::{RmsNorm, RmsNormConfig};

/// Root-mean-square normalisation over the last axis, without a learned scale:
/// `x / sqrt(mean(x²) + eps)`, computed in f32.
pub fn rms_normalize<const D: usize>(x: Tensor<D>, eps: f64) -> Tensor<D> {
    let dtype = x.dtype();
    let rms = (x.clone().cast(DType::F32).square().mean_dim(D - 1) + eps).sqrt();
    x / rms.cast(dtype)
}

/// LayerNorm over the last axis with no affine parameters:
/// `(x − mean) / sqrt(var + eps)` with the biased variance, as PyTorch computes it.
pub fn layer_normalize<const D: usize>(x: Tensor<D>, eps: f64) -> Tensor<D> {
    let mean = x.clone().mean_dim(D - 1);
    let centered = x - mean;
    let var = centered.clone().square().mean_dim(D - 1);
    centered / (var + eps).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    use crate::parity::values;

    #[test]
    fn rms_normalize_matches_hand_computation() {
        let device = Device::flex();
        // [3, 4]: rms = sqrt((9 + 16) / 2) = sqrt(12.5)
        let x = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &device);
        let y = values(rms_normalize(x, 0.0));
        let r = 12.5f32.sqrt();
        assert!(
            (y[0] - 3.0 / r).abs() < 1e-6 && (y[1] - 4.0 / r).abs() < 1e-6,
            "{y:?}"
        );
    }

    #[test]
    fn rms_norm_module_applies_its_weight() {
        let device = Device::flex();
        let norm = RmsNormConfig::new(2).with_epsilon(1e-6).init(&device);
        let norm = RmsNorm {
            gamma: burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![2.0f32, -1.0], [2]),
                &device,
            )),
            ..norm
        };
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0], [1, 2]), &device);
        let y = values(norm.forward(x));
        // rms of [1, 1] is 1 (up to eps)
        assert!(
            (y[0] - 2.0).abs() < 1e-5 && (y[1] + 1.0).abs() < 1e-5,
            "{y:?}"
        );
    }

    #[test]
    fn layer_normalize_matches_hand_computation() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 4]),
            &device,
        );
        let y = values(layer_normalize(x, 0.0));
        // mean 2.5, biased variance 1.25
        let s = 1.25f32.sqrt();
        let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
        for (a, e) in y.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{y:?}");
        }
    }
}
