//! The DiT's input-side pieces: 3D patch embedding and its inverse, the diffusion-time
//! embedding, the learnable per-axis absolute position embedding, and the nearest-neighbour
//! resize of the padding mask.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{gelu_approximate, silu};
use burn::tensor::{Device, Int, Tensor, TensorData};
use cosmos_nn::norm::{RmsNorm, RmsNormConfig};

use crate::{Error, Result};

/// Cuts a video into `(pt, ph, pw)` patches and projects each to the hidden size.
///
/// A token's features are ordered `(c, pt, ph, pw)` (channel slowest), tokens are ordered
/// `(t, h, w)` row-major.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    /// `C·pt·ph·pw → hidden`, no bias.
    pub proj: Linear,
    /// Patch size `(t, h, w)`.
    pub patch: [usize; 3],
}

/// Configuration of [`PatchEmbed`].
#[derive(Config, Debug)]
pub struct PatchEmbedConfig {
    /// Input channels (latent + mask channels).
    pub channels: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Patch size `(t, h, w)`.
    pub patch: [usize; 3],
}

impl PatchEmbedConfig {
    /// Builds the module with random weights.
    pub fn init(&self, device: &Device) -> PatchEmbed {
        let [pt, ph, pw] = self.patch;
        PatchEmbed {
            proj: LinearConfig::new(self.channels * pt * ph * pw, self.hidden)
                .with_bias(false)
                .init(device),
            patch: self.patch,
        }
    }
}

impl PatchEmbed {
    /// `x: [batch, channels, T, H, W] → [batch, T/pt · H/ph · W/pw, hidden]`.
    /// The caller checks divisibility.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<3> {
        let [b, c, t, h, w] = x.dims();
        let [pt, ph, pw] = self.patch;
        let (tn, hn, wn) = (t / pt, h / ph, w / pw);
        let tokens = x
            .reshape([b, c, tn, pt, hn, ph, wn, pw])
            .permute([0, 2, 4, 6, 1, 3, 5, 7])
            .reshape([b, tn * hn * wn, c * pt * ph * pw]);
        self.proj.forward(tokens)
    }
}

/// The inverse layout of the final projection: `[batch, tokens, ph·pw·pt·C]` (features ordered
/// `(ph, pw, pt, c)`, which is *not* the patch embedding's order) → `[batch, C, T, H, W]`.
pub fn unpatchify(x: Tensor<3>, grid: [usize; 3], patch: [usize; 3]) -> Tensor<5> {
    let [b, _, f] = x.dims();
    let [tn, hn, wn] = grid;
    let [pt, ph, pw] = patch;
    let c = f / (pt * ph * pw);
    x.reshape([b, tn, hn, wn, ph, pw, pt, c])
        .permute([0, 7, 1, 6, 2, 4, 3, 5])
        .reshape([b, c, tn * pt, hn * ph, wn * pw])
}

/// The diffusion-time embedding: a sinusoid of the timestep (`c_noise = 0.25·ln σ`), ordered
/// `[cos | sin]`, feeding (a) an MLP that produces the AdaLN-LoRA shared term `temb`
/// (`[batch, 3·hidden]`) and (b) an RMSNorm that gives the conditioning vector of every AdaLN.
#[derive(Module, Debug)]
pub struct TimeEmbed {
    /// The MLP `hidden → hidden → 3·hidden`.
    pub t_embedder: TimestepMlp,
    /// RMSNorm of the sinusoid (cosmos-predict1's `affline_norm`).
    pub norm: RmsNorm,
}

/// `linear_2(SiLU(linear_1(x)))`, no biases.
#[derive(Module, Debug)]
pub struct TimestepMlp {
    /// `hidden → hidden`.
    pub linear_1: Linear,
    /// `hidden → 3·hidden`.
    pub linear_2: Linear,
}

impl TimeEmbed {
    /// Builds the module with random weights.
    pub fn init(hidden: usize, device: &Device) -> Self {
        Self {
            t_embedder: TimestepMlp {
                linear_1: LinearConfig::new(hidden, hidden)
                    .with_bias(false)
                    .init(device),
                linear_2: LinearConfig::new(hidden, 3 * hidden)
                    .with_bias(false)
                    .init(device),
            },
            norm: RmsNormConfig::new(hidden).with_epsilon(1e-6).init(device),
        }
    }

    /// `timestep: [batch]` → (`temb: [batch, 3·hidden]`, `embedded: [batch, hidden]`).
    pub fn forward(&self, timestep: Tensor<1>) -> (Tensor<2>, Tensor<2>) {
        let [hidden] = self.norm.gamma.dims();
        let proj = timestep_sinusoid(timestep, hidden);
        let mlp = &self.t_embedder;
        let temb = mlp
            .linear_2
            .forward(silu(mlp.linear_1.forward(proj.clone())));
        (temb, self.norm.forward(proj))
    }
}

/// The action embedder of cosmos-predict1's action-conditioned Video2World network
/// (`ActionConditionalVideoExtendGeneralDIT.action_embedder_B_3D`, a timm-style MLP):
/// `fc2(GELU_tanh(fc1(a)))`, `action_dim → 4·hidden → 3·hidden`, with biases.
///
/// Its output is added to the AdaLN-LoRA term `temb` of the time embedding, so an action
/// modulates every block (shift, scale, gate) and the final layer the way the diffusion time
/// does; it does not enter the tokens. (The reference also builds an `action_embedder_B_D`
/// whose output it never uses; a loader skips its weights.)
#[derive(Module, Debug)]
pub struct ActionEmbedder {
    /// `action_dim → 4·hidden`, with bias.
    pub fc1: Linear,
    /// `4·hidden → 3·hidden`, with bias.
    pub fc2: Linear,
}

impl ActionEmbedder {
    /// Builds the module with random weights.
    pub fn init(action_dim: usize, hidden: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(action_dim, 4 * hidden).init(device),
            fc2: LinearConfig::new(4 * hidden, 3 * hidden).init(device),
        }
    }

    /// Width of the action vector it takes.
    pub fn action_dim(&self) -> usize {
        self.fc1.weight.dims()[0]
    }

    /// # Shapes
    /// `action: [batch, action_dim]` → `[batch, 3·hidden]` (added to `temb`).
    pub fn forward(&self, action: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(gelu_approximate(self.fc1.forward(action)))
    }
}

/// The sinusoidal embedding `[cos(t·f_i) | sin(t·f_i)]` with `f_i = exp(−ln(10⁴)·i / (dim/2))`,
/// computed in f32 as the reference does. `timestep: [batch] → [batch, dim]`.
pub fn timestep_sinusoid(timestep: Tensor<1>, dim: usize) -> Tensor<2> {
    let half = dim / 2;
    let log_period = -(10000f64.ln() as f32);
    let freqs: Vec<f32> = (0..half)
        .map(|i| (log_period * i as f32 / half as f32).exp())
        .collect();
    let device = timestep.device();
    let freqs = Tensor::<1>::from_data(TensorData::new(freqs, [half]), &device);
    let args = timestep.unsqueeze_dim::<2>(1) * freqs.unsqueeze_dim::<2>(0);
    let mut parts = vec![args.clone().cos(), args.sin()];
    if dim % 2 == 1 {
        let b = parts[0].dims()[0];
        parts.push(Tensor::zeros([b, 1], &device));
    }
    Tensor::cat(parts, 1)
}

/// Learnable absolute position embedding summed over the three axes and normalised per token:
/// `e = pos_t[t] + pos_h[h] + pos_w[w]`, returned as `e / (ε + ‖e‖₂/√D)` (cosmos-predict1's
/// `normalize`, ε outside the root). Added to the hidden states at the start of every block.
#[derive(Module, Debug)]
pub struct LearnablePosEmbed {
    /// Time table `[max_T / pt, hidden]`.
    pub pos_emb_t: Param<Tensor<2>>,
    /// Height table `[max_H / ph, hidden]`.
    pub pos_emb_h: Param<Tensor<2>>,
    /// Width table `[max_W / pw, hidden]`.
    pub pos_emb_w: Param<Tensor<2>>,
    /// ε of the normalisation (1e-6).
    pub eps: f64,
}

impl LearnablePosEmbed {
    /// Zero tables of `rows = [T, H, W]` (post-patch maxima) × `hidden`.
    pub fn init(rows: [usize; 3], hidden: usize, device: &Device) -> Self {
        let table = |n: usize| Param::from_tensor(Tensor::zeros([n, hidden], device));
        Self {
            pos_emb_t: table(rows[0]),
            pos_emb_h: table(rows[1]),
            pos_emb_w: table(rows[2]),
            eps: 1e-6,
        }
    }

    /// The embedding for a post-patch `grid = [T, H, W]`: `[1, T·H·W, hidden]`.
    pub fn forward(&self, grid: [usize; 3]) -> Result<Tensor<3>> {
        let tables = [&self.pos_emb_t, &self.pos_emb_h, &self.pos_emb_w];
        for (axis, (table, n)) in tables.iter().zip(grid).enumerate() {
            let rows = table.dims()[0];
            if n > rows {
                return Err(Error::Shape {
                    what: "latent grid for the learnable position embedding".into(),
                    expected: format!(
                        "at most {rows} patches along axis {}",
                        ["time", "height", "width"][axis]
                    ),
                    found: grid.to_vec(),
                });
            }
        }
        let [tn, hn, wn] = grid;
        let d = self.pos_emb_t.dims()[1];
        let t = self.pos_emb_t.val().narrow(0, 0, tn).reshape([tn, 1, 1, d]);
        let h = self.pos_emb_h.val().narrow(0, 0, hn).reshape([1, hn, 1, d]);
        let w = self.pos_emb_w.val().narrow(0, 0, wn).reshape([1, 1, wn, d]);
        let e = (t + h + w).reshape([1, tn * hn * wn, d]);
        let norm = e.clone().square().sum_dim(2).sqrt() * (1.0 / (d as f64).sqrt()) + self.eps;
        Ok(e / norm)
    }
}

/// Nearest-neighbour resize of `mask: [batch, 1, h, w]` to `[batch, 1, height, width]` with
/// PyTorch's `nearest` rule (source index `⌊dst · in / out⌋`).
pub fn resize_nearest(mask: Tensor<4>, height: usize, width: usize) -> Tensor<4> {
    let [_, _, h, w] = mask.dims();
    if h == height && w == width {
        return mask;
    }
    let device = mask.device();
    let index = |n_in: usize, n_out: usize| {
        let scale = n_in as f32 / n_out as f32;
        let idx: Vec<i64> = (0..n_out)
            .map(|i| ((i as f32 * scale).floor() as i64).min(n_in as i64 - 1))
            .collect();
        Tensor::<1, Int>::from_data(TensorData::new(idx, [n_out]), &device)
    };
    mask.select(2, index(h, height)).select(3, index(w, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    use cosmos_nn::parity::values;

    #[test]
    fn patch_embed_orders_features_channel_first() {
        let device = Device::flex();
        let mut m = PatchEmbedConfig::new(2, 16, [1, 2, 2]).init(&device);
        // Identity projection (8 features → first 8 outputs) exposes the feature order.
        let mut eye = vec![0f32; 8 * 16];
        for i in 0..8 {
            eye[i * 16 + i] = 1.0;
        }
        m.proj.weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(eye, [8, 16]), &device));
        // x[c, 0, h, w] = 100·c + 10·h + w
        let data: Vec<f32> = (0..2)
            .flat_map(|c| {
                (0..2).flat_map(move |h| (0..4).map(move |w| (100 * c + 10 * h + w) as f32))
            })
            .collect();
        let x = Tensor::<5>::from_data(TensorData::new(data, [1, 2, 1, 2, 4]), &device);
        let y = values(m.forward(x));
        // token 1 is (t0, h0, w1): pixels w ∈ {2, 3}; features (c, ph, pw)
        assert_eq!(
            &y[16..24],
            &[2.0, 3.0, 12.0, 13.0, 102.0, 103.0, 112.0, 113.0]
        );
    }

    #[test]
    fn unpatchify_reads_features_spatial_first() {
        let device = Device::flex();
        // one token, patch (1, 2, 2), 2 channels: features ordered (ph, pw, pt, c)
        let f: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let x = Tensor::<3>::from_data(TensorData::new(f, [1, 1, 8]), &device);
        let y = values(unpatchify(x, [1, 1, 1], [1, 2, 2]));
        // out[c, 0, ph, pw] = feature index ph·4 + pw·2 + c
        assert_eq!(y, vec![0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
    }

    #[test]
    fn sinusoid_is_cos_then_sin() {
        let device = Device::flex();
        let t = Tensor::<1>::from_data(TensorData::new(vec![0.5f32], [1]), &device);
        let y = values(timestep_sinusoid(t, 4));
        // freqs: 1, exp(-ln(1e4)/2) = 0.01
        let e = [0.5f32.cos(), 0.005f32.cos(), 0.5f32.sin(), 0.005f32.sin()];
        for (a, b) in y.iter().zip(e) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn learnable_pos_embed_is_unit_rms_and_checks_size() {
        let device = Device::flex();
        let mut m = LearnablePosEmbed::init([4, 4, 4], 8, &device);
        let r = |n| {
            Param::from_tensor(Tensor::random(
                [n, 8],
                Distribution::Normal(0.0, 1.0),
                &device,
            ))
        };
        m.pos_emb_t = r(4);
        m.pos_emb_h = r(4);
        m.pos_emb_w = r(4);
        let e = m.forward([2, 3, 4]).unwrap();
        assert_eq!(e.dims(), [1, 24, 8]);
        for ms in values(e.square().mean_dim(2)) {
            assert!((ms - 1.0).abs() < 1e-4);
        }
        assert!(m.forward([5, 1, 1]).is_err());
    }

    #[test]
    fn nearest_resize_picks_floor_indices() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
            &device,
        );
        let y = values(resize_nearest(x, 4, 4));
        assert_eq!(&y[..8], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
        let x = Tensor::<4>::from_data(
            TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 4, 4]),
            &device,
        );
        assert_eq!(values(resize_nearest(x, 2, 2)), vec![0.0, 2.0, 8.0, 10.0]);
    }
}
