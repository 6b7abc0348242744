//! Finite scalar quantization (Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made
//! Simple", 2023; Cosmos-Tokenizer `FSQuantizer`).
//!
//! Channel `i` of the code is bounded to `L_i` levels with `tanh` (even levels are shifted by
//! half a step through an `atanh` offset so the grid stays symmetric), rounded (ties to even,
//! as `torch.round`) and renormalised to `[−1, 1]` by `L_i // 2`. A code's index is
//! `Σ_i q_i · basis_i` with `q_i ∈ 0..L_i` and `basis = cumprod([1] + L[:-1])`; with levels
//! `[8, 8, 8, 5, 5, 5]` there are 64 000 codes. The published tokenizers use no projection
//! around the quantizer (the code dimension equals the number of levels).

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{Error, Result};

/// The FSQ quantizer of one tokenizer (no learned parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct FsqQuantizer {
    levels: Vec<usize>,
}

/// The reference's bound epsilon.
const BOUND_EPS: f32 = 1e-3;

impl FsqQuantizer {
    /// A quantizer with the given levels (each ≥ 2).
    pub fn new(levels: &[usize]) -> Self {
        Self {
            levels: levels.to_vec(),
        }
    }

    /// The levels.
    pub fn levels(&self) -> &[usize] {
        &self.levels
    }

    /// Number of codes: the product of the levels.
    pub fn codebook_size(&self) -> usize {
        self.levels.iter().product()
    }

    /// `cumprod([1] + levels[:-1])`.
    pub fn basis(&self) -> Vec<usize> {
        let mut basis = Vec::with_capacity(self.levels.len());
        let mut acc = 1;
        for &l in &self.levels {
            basis.push(acc);
            acc *= l;
        }
        basis
    }

    fn per_channel<const D: usize>(&self, values: Vec<f32>, device: &Device) -> Tensor<D> {
        let mut shape = [1; D];
        shape[1] = values.len();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// Quantizes `z: [b, d, ...]` (d = number of levels) into the normalised codes (same
    /// shape, values `k / (L // 2)`) and the indices `[b, ...]` (int, `0..codebook_size`).
    pub fn quantize<const D: usize, const DI: usize>(
        &self,
        z: Tensor<D>,
    ) -> (Tensor<D>, Tensor<DI, Int>) {
        let device = z.device();
        // Constants computed in f32 as PyTorch does for an int32 `_levels` buffer.
        let half_l: Vec<f32> = self
            .levels
            .iter()
            .map(|&l| (l as f32 - 1.0) * (1.0 + BOUND_EPS) / 2.0)
            .collect();
        let offset: Vec<f32> = self
            .levels
            .iter()
            .map(|&l| if l % 2 == 0 { 0.5 } else { 0.0 })
            .collect();
        let shift: Vec<f32> = offset
            .iter()
            .zip(&half_l)
            .map(|(o, h)| (o / h).atanh())
            .collect();
        let half_width: Vec<f32> = self.levels.iter().map(|&l| (l / 2) as f32).collect();
        let basis: Vec<f32> = self.basis().iter().map(|&b| b as f32).collect();

        let half_l = self.per_channel::<D>(half_l, &device);
        let offset = self.per_channel::<D>(offset, &device);
        let shift = self.per_channel::<D>(shift, &device);
        let half_width = self.per_channel::<D>(half_width, &device);
        let basis = self.per_channel::<D>(basis, &device);

        let bounded = (z + shift).tanh() * half_l - offset;
        let codes = bounded.round() / half_width.clone();
        // codes_to_indices: (code·hw + hw)·basis summed in float, then truncated to int.
        let shifted = codes.clone() * half_width.clone() + half_width;
        let indices = (shifted * basis).sum_dim(1).squeeze_dim::<DI>(1).int();
        (codes, indices)
    }

    /// The normalised codes `[b, d, ...]` of indices `[b, ...]`.
    ///
    /// Fails with [`Error::IndexRange`] if an index is outside `0..codebook_size`.
    pub fn indices_to_codes<const DI: usize, const D: usize>(
        &self,
        indices: Tensor<DI, Int>,
    ) -> Result<Tensor<D>> {
        let size = self.codebook_size() as i64;
        let min = indices.clone().min().into_scalar::<i64>();
        let max = indices.clone().max().into_scalar::<i64>();
        if min < 0 || max >= size {
            return Err(Error::IndexRange {
                codebook_size: size,
                min,
                max,
            });
        }
        let device = indices.device();
        let d = self.levels.len();
        let int_channel = |values: Vec<i64>| {
            let mut shape = [1; D];
            shape[1] = d;
            Tensor::<D, Int>::from_data(TensorData::new(values, shape), &device)
        };
        let basis = int_channel(self.basis().iter().map(|&b| b as i64).collect());
        let levels = int_channel(self.levels.iter().map(|&l| l as i64).collect());
        let half_width: Tensor<D> = self.per_channel(
            self.levels.iter().map(|&l| (l / 2) as f32).collect(),
            &device,
        );
        let idx: Tensor<D, Int> = indices.unsqueeze_dim(1);
        let level_index = (idx / basis).remainder(levels);
        Ok((level_index.float() - half_width.clone()) / half_width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn basis_and_codebook_size_of_the_published_levels() {
        let fsq = FsqQuantizer::new(&[8, 8, 8, 5, 5, 5]);
        assert_eq!(fsq.codebook_size(), 64_000);
        assert_eq!(fsq.basis(), vec![1, 8, 64, 512, 2560, 12800]);
    }

    #[test]
    fn large_values_saturate_and_zero_maps_to_the_middle() {
        // Levels [8, 5]: half_l = 3.5035 and 2.002; offset 0.5 and 0.
        // z = +10: tanh → 1: 3.5035 − 0.5 = 3.0035 → 3 → code 3/4; 2.002 → 2 → 2/2 = 1.
        // z = 0: level 8: tanh(atanh(0.5/3.5035))·3.5035 − 0.5 = 0 → 0; level 5: 0.
        let fsq = FsqQuantizer::new(&[8, 5]);
        let z = Tensor::<3>::from_data(
            TensorData::new(vec![10.0f32, 0.0, 10.0, 0.0], [1, 2, 2]),
            &device(),
        );
        let (codes, indices) = fsq.quantize::<3, 2>(z);
        let codes: Vec<f32> = codes.into_data().convert::<f32>().try_to_vec().unwrap();
        assert_eq!(codes, vec![0.75, 0.0, 1.0, 0.0]);
        // index = (q0 + 4)·1 + (q1 + 2)·8 with q = code·hw: (3+4) + (2+2)·8 = 39; (0+4) + (0+2)·8 = 20.
        let indices: Vec<i64> = indices.into_data().convert::<i64>().try_to_vec().unwrap();
        assert_eq!(indices, vec![39, 20]);
    }

    #[test]
    fn indices_round_trip_through_codes() {
        let fsq = FsqQuantizer::new(&[8, 8, 8, 5, 5, 5]);
        let all: Vec<i64> = (0..64_000).step_by(7).collect();
        let n = all.len();
        let indices = Tensor::<2, Int>::from_data(TensorData::new(all.clone(), [1, n]), &device());
        let codes = fsq.indices_to_codes::<2, 3>(indices).unwrap();
        // Codes are exactly on the grid, so quantizing them again (through atanh) would not be
        // exact; instead rebuild the indices arithmetically.
        let codes: Vec<f32> = codes.into_data().convert::<f32>().try_to_vec().unwrap();
        let hw = [4.0f32, 4.0, 4.0, 2.0, 2.0, 2.0];
        let basis = fsq.basis();
        for (j, &expected) in all.iter().enumerate() {
            let index: usize = (0..6)
                .map(|i| ((codes[i * n + j] * hw[i] + hw[i]) as usize) * basis[i])
                .sum();
            assert_eq!(index as i64, expected);
        }
    }

    #[test]
    fn out_of_range_indices_are_errors() {
        let fsq = FsqQuantizer::new(&[8, 5]);
        let indices =
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 40], [1, 2]), &device());
        let err = fsq
            .indices_to_codes::<2, 3>(indices)
            .unwrap_err()
            .to_string();
        assert!(err.contains("0..40"), "{err}");
    }
}
