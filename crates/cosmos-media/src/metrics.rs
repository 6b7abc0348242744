//! Reconstruction metrics: PSNR and SSIM on u8 frames.
//!
//! PSNR: `10 · log10(255² / MSE)` over all samples (all channels), `f64::INFINITY` when the
//! inputs are identical.
//!
//! SSIM: Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
//! structural similarity" (IEEE TIP 2004), as in their reference `ssim_index.m`: an 11×11
//! Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, statistics weighted by the window
//! (population variances), only windows that lie wholly inside the image ("valid"), and the mean
//! of the SSIM map. It is computed on luma, `Y = 0.299 R + 0.587 G + 0.114 B` (BT.601) in f64
//! without rounding. Images must be at least 11×11. With `gaussian_weights=True, sigma=1.5,
//! use_sample_covariance=False, data_range=255`, scikit-image's `structural_similarity` on the
//! same luma computes the same quantity.
//!
//! Video scores ([`psnr_video`], [`ssim_video`]) are the mean of the per-frame scores (a video
//! with one identical frame therefore has infinite mean PSNR).

use ndarray::{Array2, ArrayView, ArrayView2, ArrayView3, ArrayView4, Axis, Dimension, Zip};

use crate::error::{Error, Result};

/// Side of the SSIM window.
pub const SSIM_WINDOW: usize = 11;
/// Standard deviation of the SSIM window.
pub const SSIM_SIGMA: f64 = 1.5;
const SSIM_K1: f64 = 0.01;
const SSIM_K2: f64 = 0.03;
const PEAK: f64 = 255.0;

/// Per-frame scores and their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoScore {
    /// Mean of `per_frame`.
    pub mean: f64,
    /// One score per frame.
    pub per_frame: Vec<f64>,
}

fn check_same_shape(what: &'static str, a: &[usize], b: &[usize]) -> Result<()> {
    if a != b {
        return Err(Error::Shape {
            what,
            expected: format!("{a:?} (the first input's shape)"),
            found: b.to_vec(),
        });
    }
    if a.contains(&0) {
        return Err(Error::Shape {
            what,
            expected: "no empty axis".into(),
            found: a.to_vec(),
        });
    }
    Ok(())
}

/// PSNR in dB between two u8 arrays of the same shape (peak 255).
pub fn psnr<D: Dimension>(a: ArrayView<'_, u8, D>, b: ArrayView<'_, u8, D>) -> Result<f64> {
    check_same_shape("psnr inputs", a.shape(), b.shape())?;
    let mut squared_error: u64 = 0;
    Zip::from(&a).and(&b).for_each(|&x, &y| {
        let difference = i64::from(x) - i64::from(y);
        squared_error += (difference * difference) as u64;
    });
    if squared_error == 0 {
        return Ok(f64::INFINITY);
    }
    let mse = squared_error as f64 / a.len() as f64;
    Ok(10.0 * (PEAK * PEAK / mse).log10())
}

/// PSNR of each frame of two `[T, H, W, C]` videos, and the mean.
pub fn psnr_video(a: ArrayView4<'_, u8>, b: ArrayView4<'_, u8>) -> Result<VideoScore> {
    check_same_shape("psnr_video inputs", a.shape(), b.shape())?;
    let per_frame = a
        .outer_iter()
        .zip(b.outer_iter())
        .map(|(x, y)| psnr(x, y))
        .collect::<Result<Vec<_>>>()?;
    Ok(VideoScore {
        mean: mean(&per_frame),
        per_frame,
    })
}

/// SSIM of two `[H, W, 3]` RGB frames, on luma (see the module docs).
pub fn ssim(a: ArrayView3<'_, u8>, b: ArrayView3<'_, u8>) -> Result<f64> {
    check_same_shape("ssim inputs", a.shape(), b.shape())?;
    if a.shape()[2] != 3 {
        return Err(Error::Shape {
            what: "ssim inputs",
            expected: "[H, W, 3]".into(),
            found: a.shape().to_vec(),
        });
    }
    ssim_luma(luma(a).view(), luma(b).view())
}

/// SSIM of each frame of two `[T, H, W, 3]` videos, and the mean.
pub fn ssim_video(a: ArrayView4<'_, u8>, b: ArrayView4<'_, u8>) -> Result<VideoScore> {
    check_same_shape("ssim_video inputs", a.shape(), b.shape())?;
    let per_frame = a
        .outer_iter()
        .zip(b.outer_iter())
        .map(|(x, y)| ssim(x, y))
        .collect::<Result<Vec<_>>>()?;
    Ok(VideoScore {
        mean: mean(&per_frame),
        per_frame,
    })
}

/// BT.601 luma of an `[H, W, 3]` frame, in f64, unrounded.
pub fn luma(frame: ArrayView3<'_, u8>) -> Array2<f64> {
    let red = frame.index_axis(Axis(2), 0);
    let green = frame.index_axis(Axis(2), 1);
    let blue = frame.index_axis(Axis(2), 2);
    let mut out = Array2::zeros(red.raw_dim());
    Zip::from(&mut out)
        .and(&red)
        .and(&green)
        .and(&blue)
        .for_each(|y, &r, &g, &b| {
            *y = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
        });
    out
}

/// SSIM of two single-channel images with values on the 0..=255 scale.
pub fn ssim_luma(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Result<f64> {
    check_same_shape("ssim_luma inputs", a.shape(), b.shape())?;
    let (height, width) = a.dim();
    if height < SSIM_WINDOW || width < SSIM_WINDOW {
        return Err(Error::Shape {
            what: "ssim inputs",
            expected: format!("at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels"),
            found: a.shape().to_vec(),
        });
    }
    let window = gaussian_window();
    let product = |f: &dyn Fn(f64, f64) -> f64| {
        let mut out = Array2::zeros((height, width));
        Zip::from(&mut out)
            .and(&a)
            .and(&b)
            .for_each(|o, &x, &y| *o = f(x, y));
        out
    };
    let mu_a = filter_valid(a, &window);
    let mu_b = filter_valid(b, &window);
    let a2 = filter_valid(product(&|x, _| x * x).view(), &window);
    let b2 = filter_valid(product(&|_, y| y * y).view(), &window);
    let ab = filter_valid(product(&|x, y| x * y).view(), &window);
    let c1 = (SSIM_K1 * PEAK).powi(2);
    let c2 = (SSIM_K2 * PEAK).powi(2);
    let mut sum = 0.0;
    Zip::from(&mu_a)
        .and(&mu_b)
        .and(&a2)
        .and(&b2)
        .and(&ab)
        .for_each(|&ma, &mb, &ea2, &eb2, &eab| {
            let variance_a = ea2 - ma * ma;
            let variance_b = eb2 - mb * mb;
            let covariance = eab - ma * mb;
            sum += ((2.0 * ma * mb + c1) * (2.0 * covariance + c2))
                / ((ma * ma + mb * mb + c1) * (variance_a + variance_b + c2));
        });
    Ok(sum / mu_a.len() as f64)
}

/// Normalised 1-D Gaussian; the 2-D window is its outer product (also normalised).
fn gaussian_window() -> [f64; SSIM_WINDOW] {
    let centre = (SSIM_WINDOW / 2) as f64;
    let mut window = [0.0; SSIM_WINDOW];
    for (i, w) in window.iter_mut().enumerate() {
        let d = i as f64 - centre;
        *w = (-d * d / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp();
    }
    let total: f64 = window.iter().sum();
    window.iter_mut().for_each(|w| *w /= total);
    window
}

/// Separable correlation with `window` along both axes, keeping only full windows.
fn filter_valid(image: ArrayView2<'_, f64>, window: &[f64; SSIM_WINDOW]) -> Array2<f64> {
    let (height, width) = image.dim();
    let (out_h, out_w) = (height - SSIM_WINDOW + 1, width - SSIM_WINDOW + 1);
    let mut rows = Array2::<f64>::zeros((height, out_w));
    for (source, mut target) in image.outer_iter().zip(rows.outer_iter_mut()) {
        for x in 0..out_w {
            target[x] = (0..SSIM_WINDOW).map(|k| window[k] * source[x + k]).sum();
        }
    }
    let mut out = Array2::<f64>::zeros((out_h, out_w));
    for y in 0..out_h {
        for (k, weight) in window.iter().enumerate() {
            let source = rows.row(y + k);
            let mut target = out.row_mut(y);
            Zip::from(&mut target)
                .and(&source)
                .for_each(|t, &s| *t += weight * s);
        }
    }
    out
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4};

    #[test]
    fn psnr_matches_hand_computed_values() {
        let a = Array3::<u8>::zeros((4, 5, 3));
        assert_eq!(psnr(a.view(), a.view()).unwrap(), f64::INFINITY);
        // Every sample off by 10: MSE 100, 10·log10(65025 / 100) = 28.130803608679...
        let b = Array3::<u8>::from_elem((4, 5, 3), 10);
        assert!((psnr(a.view(), b.view()).unwrap() - 28.130_803_608_679_1).abs() < 1e-9);
        // One sample of 60 off by 255: MSE 255² / 60, PSNR = 10·log10(60) = 17.781512503836...
        let mut c = a.clone();
        c[[1, 2, 0]] = 255;
        assert!((psnr(a.view(), c.view()).unwrap() - 17.781_512_503_836_4).abs() < 1e-9);
        assert!(psnr(a.view(), Array3::<u8>::zeros((4, 5, 1)).view()).is_err());
    }

    #[test]
    fn psnr_video_averages_frames() {
        let a = Array4::<u8>::zeros((2, 4, 4, 3));
        let mut b = a.clone();
        b.index_axis_mut(Axis(0), 1).fill(10);
        b[[0, 0, 0, 0]] = 255;
        let score = psnr_video(a.view(), b.view()).unwrap();
        assert_eq!(score.per_frame.len(), 2);
        assert!((score.per_frame[0] - 10.0 * 48f64.log10()).abs() < 1e-9);
        assert!((score.mean - (score.per_frame[0] + score.per_frame[1]) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn ssim_of_constant_images_is_the_luminance_term() {
        // For flat images every window has zero variance, so SSIM reduces to
        // (2·μa·μb + C1) / (μa² + μb² + C1) = (2·100·110 + 6.5025) / (100² + 110² + 6.5025)
        // = 22006.5025 / 22106.5025 = 0.99547644...
        let a = Array3::<u8>::from_elem((16, 20, 3), 100);
        let b = Array3::<u8>::from_elem((16, 20, 3), 110);
        let expected = 22006.5025 / 22106.5025;
        assert!((ssim(a.view(), b.view()).unwrap() - expected).abs() < 1e-12);
        assert!((ssim(a.view(), a.view()).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ssim_matches_an_independent_reference() {
        // Reference value from a direct (non-separable) pure-Python implementation of the same
        // definition, window by window, on these deterministic 24×20 images:
        // a[y][x] = (x*37 + y*91 + (x*y) % 23) % 256 (grey), b = a with every third sample
        // raised by 25 (mod 256) → 0.8187572487689009. The reference computes variances as weighted
        // sums of squared deviations, this crate as E[x²] − μ²: equal up to rounding.
        let make = |shift: bool| {
            Array2::from_shape_fn((20, 24), |(y, x)| {
                let v = (x * 37 + y * 91 + (x * y) % 23) % 256;
                let v = if shift && (y * 24 + x) % 3 == 0 {
                    (v + 25) % 256
                } else {
                    v
                };
                v as f64
            })
        };
        let value = ssim_luma(make(false).view(), make(true).view()).unwrap();
        assert!((value - 0.818_757_248_768_900_9).abs() < 1e-9, "{value}");
    }

    #[test]
    fn ssim_rejects_small_or_mismatched_inputs() {
        let small = Array3::<u8>::zeros((10, 30, 3));
        assert!(ssim(small.view(), small.view()).is_err());
        let a = Array3::<u8>::zeros((12, 12, 3));
        let b = Array3::<u8>::zeros((12, 13, 3));
        assert!(ssim(a.view(), b.view()).is_err());
    }
}
