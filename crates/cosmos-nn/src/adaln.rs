//! Adaptive LayerNorm (AdaLN) as the Cosmos DiT uses it: a conditioning vector (the embedded
//! diffusion time) produces per-channel shift, scale and gate for each sub-block, optionally
//! through a low-rank bottleneck (AdaLN-LoRA, DiT paper §3.2 with a LoRA factorisation).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use crate::norm::layer_normalize;

/// `x * (1 + scale) + shift`, with `shift`/`scale` broadcast over the token axis.
///
/// Shapes: `x: [batch, tokens, dim]`, `shift`, `scale`: `[batch, dim]` or `[batch, tokens, dim]`
/// passed as `[batch, 1 | tokens, dim]`.
pub fn modulate(x: Tensor<3>, shift: Tensor<3>, scale: Tensor<3>) -> Tensor<3> {
    x * (scale + 1.0) + shift
}

/// Configuration of [`AdaLnModulation`].
#[derive(Config, Debug)]
pub struct AdaLnModulationConfig {
    /// Width of the hidden states (and of the conditioning vector).
    pub dim: usize,
    /// How many `dim`-wide vectors are produced (2: shift, scale; 3: shift, scale, gate).
    #[config(default = 3)]
    pub chunks: usize,
    /// Rank of the LoRA bottleneck; `None` for a single full `dim → chunks·dim` projection.
    #[config(default = "Some(256)")]
    pub lora_dim: Option<usize>,
    /// LayerNorm epsilon.
    #[config(default = 1e-6)]
    pub eps: f64,
}

/// AdaLN with an optional LoRA bottleneck: `SiLU(c) → linear_1 → linear_2 (+ extra)`, then the
/// result is split into `chunks` vectors; the first two modulate a non-affine LayerNorm.
///
/// Field names follow the diffusers Cosmos naming (`linear_1`, `linear_2`).
#[derive(Module, Debug)]
pub struct AdaLnModulation {
    /// First projection (`dim → lora_dim`), absent without LoRA.
    pub linear_1: Option<Linear>,
    /// Second projection (`lora_dim | dim → chunks·dim`).
    pub linear_2: Linear,
    /// Number of output chunks.
    pub chunks: usize,
    /// LayerNorm epsilon.
    pub eps: f64,
}

impl AdaLnModulationConfig {
    /// Builds the module with random weights.
    pub fn init(&self, device: &Device) -> AdaLnModulation {
        let (linear_1, hidden) = match self.lora_dim {
            Some(r) => (
                Some(LinearConfig::new(self.dim, r).with_bias(false).init(device)),
                r,
            ),
            None => (None, self.dim),
        };
        AdaLnModulation {
            linear_1,
            linear_2: LinearConfig::new(hidden, self.chunks * self.dim)
                .with_bias(false)
                .init(device),
            chunks: self.chunks,
            eps: self.eps,
        }
    }
}

impl AdaLnModulation {
    /// The modulation vectors for conditioning `cond: [batch, dim]` (plus an optional
    /// `extra: [batch, chunks·dim]` added before splitting, the AdaLN-LoRA shared path),
    /// each `[batch, 1, dim]`.
    pub fn vectors(&self, cond: Tensor<2>, extra: Option<Tensor<2>>) -> Vec<Tensor<3>> {
        let mut h = silu(cond);
        if let Some(l1) = &self.linear_1 {
            h = l1.forward(h);
        }
        let mut h = self.linear_2.forward(h);
        if let Some(extra) = extra {
            h = h + extra;
        }
        h.chunk(self.chunks, 1)
            .into_iter()
            .map(|c| c.unsqueeze_dim(1))
            .collect()
    }

    /// Normalises `x: [batch, tokens, dim]` and modulates it; returns the result and the
    /// remaining vectors (the gate, when `chunks == 3`).
    pub fn forward(
        &self,
        x: Tensor<3>,
        cond: Tensor<2>,
        extra: Option<Tensor<2>>,
    ) -> (Tensor<3>, Vec<Tensor<3>>) {
        let mut v = self.vectors(cond, extra).into_iter();
        let shift = v.next().expect("chunks >= 2");
        let scale = v.next().expect("chunks >= 2");
        (
            modulate(layer_normalize(x, self.eps), shift, scale),
            v.collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn modulate_is_x_times_one_plus_scale_plus_shift() {
        let device = Device::flex();
        let x = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 1, 2]), &device);
        let shift = Tensor::<3>::from_data(TensorData::new(vec![0.5f32, -1.0], [1, 1, 2]), &device);
        let scale = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 1, 2]), &device);
        let y: Vec<f32> = modulate(x, shift, scale).into_data().try_to_vec().unwrap();
        assert_eq!(y, vec![2.5, 1.0]);
    }

    #[test]
    fn zero_projection_gives_plain_layer_norm_and_zero_gate() {
        let device = Device::flex();
        let mut m = AdaLnModulationConfig::new(4)
            .with_lora_dim(Some(2))
            .init(&device);
        m.linear_2.weight = m.linear_2.weight.map(|w| w.zeros_like());
        let x = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 4]),
            &device,
        );
        let cond = Tensor::<2>::ones([1, 4], &device);
        let (y, rest) = m.forward(x, cond, None);
        let y: Vec<f32> = y.into_data().try_to_vec().unwrap();
        let s = 1.25f32.sqrt();
        assert!((y[0] + 1.5 / s).abs() < 1e-4, "{y:?}");
        assert_eq!(rest.len(), 1);
        let gate: Vec<f32> = rest[0].clone().into_data().try_to_vec().unwrap();
        assert!(gate.iter().all(|g| *g == 0.0));
        assert_eq!(rest[0].dims(), [1, 1, 4]);
    }
}
