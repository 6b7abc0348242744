//! Rotary position embedding over a 3D (time, height, width) token grid (RoFormer, Su et al.
//! 2021, §3.4, extended per axis as in the Cosmos WFM paper §5.1).
//!
//! The head dimension is split into three parts, one per axis; each part rotates pairs of
//! channels by `position · inv_freq`. Frequencies per axis come from a base `θ` raised by an
//! NTK-aware factor (`θ·s^(d/(d−2))` for a scale `s`), and time positions can be rescaled by
//! `base_fps / fps` so clips of different frame rates share one time axis.

use burn::tensor::{Device, Tensor, TensorData};

/// How the rotated channel pairs are laid out inside a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotaryLayout {
    /// Pairs are `(x[i], x[i + d/2])`: "rotate half" (GPT-NeoX, diffusers' `use_real_unbind_dim=-2`).
    Halves,
    /// Pairs are `(x[2i], x[2i + 1])` (the original RoFormer / Meta Llama complex layout).
    Interleaved,
}

/// Per-axis rotary frequencies for a `(T, H, W)` grid.
#[derive(Debug, Clone)]
pub struct Rope3d {
    /// Inverse frequencies for the time, height and width parts (each `dim_axis / 2` long).
    pub inv_freqs: [Vec<f64>; 3],
    /// Reference frame rate: time positions are multiplied by `base_fps / fps` when an fps is given.
    pub base_fps: f64,
}

impl Rope3d {
    /// The Cosmos split of a head dimension: height and width get `head_dim / 6 · 2` channels
    /// each, time the rest (128 → 44 / 42 / 42).
    pub fn cosmos_split(head_dim: usize) -> [usize; 3] {
        let hw = head_dim / 6 * 2;
        [head_dim - 2 * hw, hw, hw]
    }

    /// Frequencies `1 / θ_a^(2i / d_a)` with `θ_a = theta · scale_a^(d_a / (d_a − 2))` per axis.
    ///
    /// `dims` are the channel counts for (t, h, w), each even and ≥ 4 (the NTK factor needs
    /// `d > 2`).
    pub fn new(dims: [usize; 3], theta: f64, scale: [f64; 3], base_fps: f64) -> Self {
        let inv = |d: usize, s: f64| -> Vec<f64> {
            let ntk = if d > 2 {
                s.powf(d as f64 / (d as f64 - 2.0))
            } else {
                1.0
            };
            let th = theta * ntk;
            (0..d / 2)
                .map(|i| 1.0 / th.powf((2 * i) as f64 / d as f64))
                .collect()
        };
        Self {
            inv_freqs: [
                inv(dims[0], scale[0]),
                inv(dims[1], scale[1]),
                inv(dims[2], scale[2]),
            ],
            base_fps,
        }
    }

    /// Frequencies given directly (e.g. YaRN-adjusted ones).
    pub fn from_inv_freqs(inv_freqs: [Vec<f64>; 3], base_fps: f64) -> Self {
        Self {
            inv_freqs,
            base_fps,
        }
    }

    /// Head dimension covered: twice the number of frequencies.
    pub fn head_dim(&self) -> usize {
        2 * self.inv_freqs.iter().map(Vec::len).sum::<usize>()
    }

    /// Rotation angles for every token of a `grid = [T, H, W]`, tokens in row-major (t, h, w)
    /// order: `[T·H·W, head_dim / 2]`, each row `[t-angles | h-angles | w-angles]`.
    ///
    /// With `fps = Some(f)` the time position `t` becomes `t · base_fps / f`.
    pub fn angles(&self, grid: [usize; 3], fps: Option<f64>) -> Vec<f64> {
        let [t_n, h_n, w_n] = grid;
        let half = self.head_dim() / 2;
        let t_scale = fps.map_or(1.0, |f| self.base_fps / f);
        let mut out = Vec::with_capacity(t_n * h_n * w_n * half);
        for t in 0..t_n {
            for h in 0..h_n {
                for w in 0..w_n {
                    let pos = [t as f64 * t_scale, h as f64, w as f64];
                    for (axis, freqs) in self.inv_freqs.iter().enumerate() {
                        out.extend(freqs.iter().map(|f| pos[axis] * f));
                    }
                }
            }
        }
        out
    }

    /// Cosine and sine tables `[tokens, head_dim]` laid out for `layout`, ready for
    /// [`apply_rotary`].
    pub fn cos_sin(
        &self,
        grid: [usize; 3],
        fps: Option<f64>,
        layout: RotaryLayout,
        device: &Device,
    ) -> (Tensor<2>, Tensor<2>) {
        let angles = self.angles(grid, fps);
        rotary_tables(&angles, self.head_dim(), layout, device)
    }
}

/// Expands angles `[tokens · head_dim/2]` into cos/sin tables `[tokens, head_dim]`.
pub fn rotary_tables(
    angles: &[f64],
    head_dim: usize,
    layout: RotaryLayout,
    device: &Device,
) -> (Tensor<2>, Tensor<2>) {
    let half = head_dim / 2;
    let tokens = angles.len() / half.max(1);
    let mut cos = vec![0f32; tokens * head_dim];
    let mut sin = vec![0f32; tokens * head_dim];
    for n in 0..tokens {
        for i in 0..half {
            let a = angles[n * half + i];
            let (s, c) = (a.sin() as f32, a.cos() as f32);
            let (j0, j1) = match layout {
                RotaryLayout::Halves => (i, i + half),
                RotaryLayout::Interleaved => (2 * i, 2 * i + 1),
            };
            for j in [j0, j1] {
                cos[n * head_dim + j] = c;
                sin[n * head_dim + j] = s;
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [tokens, head_dim]), device),
        Tensor::from_data(TensorData::new(sin, [tokens, head_dim]), device),
    )
}

/// Rotates `x: [batch, heads, tokens, head_dim]` by tables `cos`, `sin: [tokens, head_dim]`:
/// `x·cos + rot(x)·sin` with `rot` pairing channels as `layout` says.
pub fn apply_rotary(
    x: Tensor<4>,
    cos: Tensor<2>,
    sin: Tensor<2>,
    layout: RotaryLayout,
) -> Tensor<4> {
    let [b, h, n, d] = x.dims();
    let rotated = match layout {
        RotaryLayout::Halves => {
            let first = x.clone().narrow(3, 0, d / 2);
            let second = x.clone().narrow(3, d / 2, d / 2);
            Tensor::cat(vec![second.neg(), first], 3)
        }
        RotaryLayout::Interleaved => {
            let pairs = x.clone().reshape([b, h, n, d / 2, 2]);
            let even = pairs.clone().narrow(4, 0, 1);
            let odd = pairs.narrow(4, 1, 1);
            Tensor::cat(vec![odd.neg(), even], 4).reshape([b, h, n, d])
        }
    };
    let cos = cos.unsqueeze::<4>();
    let sin = sin.unsqueeze::<4>();
    x * cos + rotated * sin
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parity::values;

    #[test]
    fn cosmos_split_of_128_is_44_42_42() {
        assert_eq!(Rope3d::cosmos_split(128), [44, 42, 42]);
        assert_eq!(Rope3d::cosmos_split(32), [12, 10, 10]);
    }

    #[test]
    fn ntk_factor_raises_theta() {
        // d = 4, scale 2: theta' = 10000 · 2^(4/2) = 40000; inv_freq[1] = 1 / 40000^(2/4) = 1/200.
        let r = Rope3d::new([4, 4, 4], 10000.0, [2.0, 1.0, 1.0], 24.0);
        assert!((r.inv_freqs[0][1] - 1.0 / 200.0).abs() < 1e-12);
        assert!((r.inv_freqs[1][1] - 1.0 / 100.0).abs() < 1e-12);
        assert_eq!(r.inv_freqs[0][0], 1.0);
    }

    #[test]
    fn angles_follow_grid_order_and_fps_scaling() {
        let r = Rope3d::from_inv_freqs([vec![1.0], vec![10.0], vec![100.0]], 24.0);
        let a = r.angles([2, 2, 3], Some(12.0));
        // token (t=1, h=1, w=2) is index 1·6 + 1·3 + 2 = 11; time scaled by 24/12 = 2.
        assert_eq!(&a[11 * 3..12 * 3], &[2.0, 10.0, 200.0]);
        assert_eq!(a.len(), 12 * 3);
    }

    #[test]
    fn rotation_by_quarter_turn_in_both_layouts() {
        let device = Device::flex();
        // One frequency per axis, head_dim 6; angle pi/2 on the time pair only.
        let angles = vec![std::f64::consts::FRAC_PI_2, 0.0, 0.0];
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 1, 1, 6]),
            &device,
        );
        let (c, s) = rotary_tables(&angles, 6, RotaryLayout::Halves, &device);
        let y = values(apply_rotary(x.clone(), c, s, RotaryLayout::Halves));
        // Halves pairs (x0, x3): (1, 4) -> (-4, 1); others unchanged.
        let expect = [-4.0, 2.0, 3.0, 1.0, 5.0, 6.0];
        for (a, e) in y.iter().zip(expect) {
            assert!((a - e).abs() < 1e-6, "{y:?}");
        }
        let (c, s) = rotary_tables(&angles, 6, RotaryLayout::Interleaved, &device);
        let y = values(apply_rotary(x, c, s, RotaryLayout::Interleaved));
        // Interleaved pairs (x0, x1): (1, 2) -> (-2, 1).
        let expect = [-2.0, 1.0, 3.0, 4.0, 5.0, 6.0];
        for (a, e) in y.iter().zip(expect) {
            assert!((a - e).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn rotation_preserves_norm_and_relative_angle() {
        let device = Device::flex();
        let r = Rope3d::new([4, 4, 4], 10000.0, [1.0, 1.0, 1.0], 24.0);
        let (c, s) = r.cos_sin([2, 3, 3], None, RotaryLayout::Halves, &device);
        let x = Tensor::<4>::ones([1, 1, 18, 12], &device);
        let y = apply_rotary(x, c, s, RotaryLayout::Halves);
        let norms = values(y.square().sum_dim(3));
        for n in norms {
            assert!((n - 12.0).abs() < 1e-4);
        }
    }
}
