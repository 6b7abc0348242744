//! Seeded Gaussian noise that is the same on every backend and platform: ChaCha8 bits turned
//! into standard normals by the Box–Muller transform on the host, then moved to the device.

use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A deterministic stream of standard normal values.
#[derive(Debug, Clone)]
pub struct NoiseGenerator {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl NoiseGenerator {
    /// A stream determined by `seed` alone.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// A uniform value in (0, 1].
    fn uniform(&mut self) -> f64 {
        // 53 random bits; +1 keeps it away from zero so ln() is finite.
        ((self.rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// The next standard normal value.
    pub fn next_normal(&mut self) -> f64 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// `n` standard normal values as f32.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_normal() as f32).collect()
    }

    /// A standard normal tensor of `shape` on `device`.
    pub fn tensor<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let n = shape.iter().product();
        Tensor::from_data(TensorData::new(self.normals(n), shape), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_values_and_roughly_standard() {
        let a = NoiseGenerator::new(7).normals(20000);
        let b = NoiseGenerator::new(7).normals(20000);
        assert_eq!(a, b);
        assert_ne!(a, NoiseGenerator::new(8).normals(20000));
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }
}
