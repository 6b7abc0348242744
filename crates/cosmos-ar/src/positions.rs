//! Position information of the AR model: the rotary tables (3D over the latent grid, with the
//! reference's YaRN frequency interpolation) and the 3D sin-cos absolute position embedding.
//!
//! Both are tables indexed by sequence position. Position `p` is latent token `p − offset`
//! (offset 1 when a `<bov>` token leads the sequence) in `(t, h, w)` row-major order; the
//! `<bov>` row and every row past the grid are zero angles (identity rotation) and zero
//! embeddings, as the reference's padding to `pad_to_multiple_of` makes them.
//!
//! The reference computes RoPE frequencies in float32 and the sin-cos embedding in float64
//! then stores it in bfloat16 (`SinCosPosEmbAxisTE`'s default dtype, which `Transformer` does
//! not override). We reproduce both roundings, so float32 logits match the reference's.

use burn::tensor::{Device, Tensor, TensorData};
use cosmos_nn::rope::{Rope3d, RotaryLayout, rotary_tables};

use crate::config::ArConfig;

/// Inverse frequencies `1 / θ^(2i/d)` for `i < d/2`, computed in float32 as the reference does.
fn inv_freqs_f32(dim: usize, theta: f64) -> Vec<f32> {
    let theta = theta as f32;
    (0..dim / 2)
        .map(|i| 1.0f32 / theta.powf((2 * i) as f32 / dim as f32))
        .collect()
}

/// YaRN's per-frequency interpolation (Peng et al. 2023, §3.2, "NTK-by-parts"): frequencies
/// that turn fewer than `beta_slow` times over `original_len` positions are divided by
/// `scale`, those turning more than `beta_fast` times are kept, with a linear ramp between.
/// (The magnitude factor is not applied: the reference's v2 RoPE ignores it.)
pub fn yarn_interpolate(
    inv_freqs: &[f32],
    original_len: f64,
    scale: f64,
    beta_fast: f64,
    beta_slow: f64,
) -> Vec<f32> {
    let high = (2.0 * std::f64::consts::PI * beta_fast / original_len) as f32;
    let low = (2.0 * std::f64::consts::PI * beta_slow / original_len) as f32;
    let scale = scale as f32;
    inv_freqs
        .iter()
        .map(|&f| {
            let ramp = ((f - low) / (high - low)).clamp(0.0, 1.0);
            f * ((1.0 - ramp) / scale + ramp)
        })
        .collect()
}

/// The rotary frequencies of a config: per axis `(t, h, w)` for 3D RoPE (time gets
/// `head_dim − 2·(head_dim/6·2)` channels, height and width `head_dim/6·2` each), or one
/// list for 1D RoPE.
pub fn rope_frequencies(config: &ArConfig) -> Vec<Vec<f32>> {
    let head_dim = config.head_dim();
    let yarn = config.apply_yarn.then(|| {
        (
            config.yarn_scale.unwrap_or(1.0),
            config.yarn_beta_fast.unwrap_or(32.0),
            config.yarn_beta_slow.unwrap_or(1.0),
        )
    });
    if config.rope_dim == "3D" {
        let [dim_t, dim_h, _] = Rope3d::cosmos_split(head_dim);
        let mut temporal = inv_freqs_f32(dim_t, config.rope_theta);
        let mut spatial = inv_freqs_f32(dim_h, config.rope_theta);
        if let (Some((scale, fast, slow)), Some(orig)) =
            (yarn, config.original_latent_shape.as_deref())
        {
            temporal = yarn_interpolate(&temporal, orig[0] as f64, scale, fast, slow);
            spatial = yarn_interpolate(&spatial, orig[1] as f64, scale, fast, slow);
        }
        vec![temporal, spatial.clone(), spatial]
    } else {
        let mut freqs = inv_freqs_f32(head_dim, config.rope_theta);
        if let Some((scale, fast, slow)) = yarn {
            let orig = config.original_seq_len.unwrap_or(config.max_seq_len) as f64;
            freqs = yarn_interpolate(&freqs, orig, scale, fast, slow);
        }
        vec![freqs]
    }
}

/// Rotation angles `[rows, head_dim/2]` (flattened) for positions `0..rows`.
pub fn rope_angles(config: &ArConfig, rows: usize) -> Vec<f64> {
    let freqs = rope_frequencies(config);
    let half: usize = freqs.iter().map(Vec::len).sum();
    let mut angles = vec![0.0f64; rows * half];
    if config.rope_dim == "3D" {
        let grid = config
            .latent_shape()
            .expect("validated: 3D RoPE has a latent grid");
        let [a, b, c] = [&freqs[0], &freqs[1], &freqs[2]]
            .map(|f| f.iter().map(|&x| x as f64).collect::<Vec<_>>());
        // Angles as float32 products, as the reference's outer products are.
        let grid_angles: Vec<f64> = Rope3d::from_inv_freqs([a, b, c], 1.0)
            .angles(grid, None)
            .into_iter()
            .map(|x| x as f32 as f64)
            .collect();
        let offset = usize::from(config.has_begin_of_video());
        let tokens = grid_angles.len() / half.max(1);
        for p in offset..rows.min(offset + tokens) {
            let src = (p - offset) * half;
            angles[p * half..(p + 1) * half].copy_from_slice(&grid_angles[src..src + half]);
        }
    } else {
        for p in 0..rows {
            for (i, f) in freqs[0].iter().enumerate() {
                angles[p * half + i] = (p as f32 * f) as f64;
            }
        }
    }
    angles
}

/// Cosine and sine tables `[rows, head_dim]` (rotate-half layout) for positions `0..rows`.
pub fn rope_tables(config: &ArConfig, rows: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let angles = rope_angles(config, rows);
    rotary_tables(&angles, config.head_dim(), RotaryLayout::Halves, device)
}

/// 1D sin-cos embedding of positions `0..n` with `dim` channels (`dim` even):
/// `[sin(p·ω_i) | cos(p·ω_i)]` with `ω_i = 10000^(−i/(dim/2))` (MAE's
/// `get_1d_sincos_pos_embed_from_grid`), in float64.
fn sincos_1d(dim: usize, n: usize) -> Vec<Vec<f64>> {
    let half = dim / 2;
    (0..n)
        .map(|p| {
            let mut row = vec![0.0; dim];
            for i in 0..half {
                let omega = 1.0 / 10000f64.powf(i as f64 / half as f64);
                let a = p as f64 * omega;
                row[i] = a.sin();
                row[half + i] = a.cos();
            }
            row
        })
        .collect()
}

/// The 3D sin-cos absolute position embedding `[rows, dim]` for positions `0..rows`:
/// each latent token's row is `[emb_t(t) | emb_h(h) | emb_w(w)]` with `dim/6·2` channels for
/// height and width and the rest for time; rounded through bfloat16 like the reference's
/// buffer.
pub fn abs_pos_embedding(config: &ArConfig, rows: usize) -> Vec<f32> {
    let dim = config.dim;
    let mut out = vec![0.0f32; rows * dim];
    let Some([t_n, h_n, w_n]) = config.latent_shape() else {
        return out;
    };
    let dim_h = dim / 6 * 2;
    let dim_t = dim - 2 * dim_h;
    let (emb_t, emb_h, emb_w) = (
        sincos_1d(dim_t, t_n),
        sincos_1d(dim_h, h_n),
        sincos_1d(dim_h, w_n),
    );
    let offset = usize::from(config.has_begin_of_video());
    let round = |x: f64| half::bf16::from_f32(x as f32).to_f32();
    let (emb_h, emb_w) = (&emb_h, &emb_w);
    let grid = emb_t.iter().flat_map(|et| {
        emb_h
            .iter()
            .flat_map(move |eh| emb_w.iter().map(move |ew| (et, eh, ew)))
    });
    for (p, (et, eh, ew)) in (offset..rows).zip(grid) {
        let row = &mut out[p * dim..(p + 1) * dim];
        for (dst, &v) in row.iter_mut().zip(et.iter().chain(eh).chain(ew)) {
            *dst = round(v);
        }
    }
    out
}

/// [`abs_pos_embedding`] as a tensor `[rows, dim]`.
pub fn abs_pos_embedding_tensor(config: &ArConfig, rows: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(abs_pos_embedding(config, rows), [rows, config.dim]),
        device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ArConfig {
        ArConfig {
            dim: 12,
            n_heads: 1,
            n_kv_heads: None,
            head_dim: Some(12),
            rope_dim: "3D".into(),
            video_latent_shape: Some(vec![2, 2, 3]),
            ..ArConfig::default()
        }
    }

    #[test]
    fn rope_angles_follow_the_grid_and_pad_with_zeros() {
        let c = small();
        // head_dim 12 → t 4, h 4, w 4 channels → 2 frequencies each, 6 per row.
        let a = rope_angles(&c, 14);
        let f = rope_frequencies(&c);
        // Token (t=1, h=1, w=2) is position 1·6 + 1·3 + 2 = 11.
        let row = &a[11 * 6..12 * 6];
        assert_eq!(row[0], (1.0f32 * f[0][0]) as f64);
        assert_eq!(row[3], (1.0f32 * f[1][1]) as f64);
        assert_eq!(row[5], (2.0f32 * f[2][1]) as f64);
        // Rows past the 12 grid tokens are zero.
        assert!(a[12 * 6..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn begin_of_video_shifts_the_tables_by_one_zero_row() {
        let mut c = small();
        let plain = rope_angles(&c, 13);
        let pe_plain = abs_pos_embedding(&c, 13);
        c.training_type = Some("text_to_video".into());
        let shifted = rope_angles(&c, 13);
        let pe_shifted = abs_pos_embedding(&c, 13);
        assert!(shifted[..6].iter().all(|&x| x == 0.0));
        assert_eq!(&shifted[6..], &plain[..12 * 6]);
        assert!(pe_shifted[..12].iter().all(|&x| x == 0.0));
        assert_eq!(&pe_shifted[12..], &pe_plain[..12 * 12]);
    }

    #[test]
    fn sincos_embedding_matches_hand_values() {
        let c = small();
        let pe = abs_pos_embedding(&c, 12);
        // dim 12: t 4, h 4, w 4 channels. Token 0: sin(0)=0 and cos(0)=1 in each part.
        assert_eq!(&pe[..12], &[0., 0., 1., 1., 0., 0., 1., 1., 0., 0., 1., 1.]);
        // Token (t=0, h=1, w=0) = position 3: h part is [sin(1), sin(0.01), cos(1), cos(0.01)].
        let h = &pe[3 * 12 + 4..3 * 12 + 8];
        let bf = |x: f64| half::bf16::from_f32(x as f32).to_f32();
        assert_eq!(
            h,
            &[
                bf(1f64.sin()),
                bf(0.01f64.sin()),
                bf(1f64.cos()),
                bf(0.01f64.cos())
            ]
        );
    }

    #[test]
    fn yarn_keeps_fast_and_scales_slow_frequencies() {
        let f = [1.0f32, 0.1, 0.001];
        // original length 40, β_fast 4 → cutoff 2π·4/40 ≈ 0.63; β_slow 1 → ≈ 0.157.
        let y = yarn_interpolate(&f, 40.0, 2.0, 4.0, 1.0);
        assert_eq!(y[0], 1.0);
        assert!((y[2] - 0.0005).abs() < 1e-9);
        assert!(y[1] < 0.1 && y[1] >= 0.05);
    }
}
