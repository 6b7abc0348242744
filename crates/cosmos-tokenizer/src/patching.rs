//! The patcher and unpatcher: the input's first and the output's last transform
//! (Cosmos-Tokenizer `modules/patching.py`).
//!
//! With the Haar method (the published models), each level is one orthogonal Haar wavelet
//! step on non-overlapping 2×2 (image) or 2×2×2 (video) blocks, scaled so the low band is the
//! block mean; `patch_size = 4` is two levels, each applied to every band, so a `[3, H, W]`
//! image becomes `[48, H/4, W/4]`. The video transform is causal: the first frame is repeated
//! `patch_size − 1` times in front before the transform, so it forms a block of its own, and
//! the unpatcher drops those frames again. The rearrange method is a plain space-to-depth.
//!
//! Band order follows the reference: for video, the band index is `4·t + 2·h + w` (0 = low,
//! 1 = high along that axis); for images it is `2·w + h`. Output channel = `band·C + c`.

use burn::tensor::Tensor;

use crate::config::PatchMethod;
use crate::{Error, Result};

/// The patcher / unpatcher pair of one tokenizer (no parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patcher {
    /// Patch size, a power of two.
    pub patch_size: usize,
    /// Haar wavelets or plain rearrangement.
    pub method: PatchMethod,
}

impl Patcher {
    /// A patcher of `patch_size` (a power of two).
    pub fn new(patch_size: usize, method: PatchMethod) -> Self {
        Self { patch_size, method }
    }

    fn levels(&self) -> usize {
        self.patch_size.max(1).trailing_zeros() as usize
    }

    /// Patches a video `[b, c, 1 + k·p, h, w]` (h, w multiples of p) into
    /// `[b, c·p³, 1 + k, h/p, w/p]`.
    ///
    /// With `first_chunk = false` the clip is the continuation of a stream: no frame is
    /// repeated and the frame count must be a multiple of p.
    pub fn patch_video(&self, x: Tensor<5>, first_chunk: bool) -> Result<Tensor<5>> {
        let p = self.patch_size;
        let dims = x.dims();
        let [_, _, t, h, w] = dims;
        let frames_ok = if first_chunk {
            t >= 1 && (t - 1) % p == 0
        } else {
            t % p == 0 && t > 0
        };
        if !frames_ok || h % p != 0 || w % p != 0 {
            return Err(Error::Shape {
                what: "video patcher input".into(),
                expected: format!(
                    "[batch, channels, {} frames, height and width multiples of {p}]",
                    if first_chunk {
                        format!("1 + k·{p}")
                    } else {
                        format!("k·{p}")
                    }
                ),
                found: dims.to_vec(),
            });
        }
        let x = if first_chunk {
            cosmos_nn::causal_conv::replicate_first_frame(x, p - 1)
        } else {
            x
        };
        Ok(match self.method {
            PatchMethod::Haar => (0..self.levels()).fold(x, |x, _| haar3d(x)),
            PatchMethod::Rearrange => space_to_depth3d(x, p),
        })
    }

    /// The inverse of [`patch_video`](Self::patch_video) on a first chunk: `[b, c·p³, t, h, w]`
    /// → `[b, c, p·t − (p − 1), p·h, p·w]`. With `first_chunk = false` no frame is dropped.
    pub fn unpatch_video(&self, x: Tensor<5>, first_chunk: bool) -> Result<Tensor<5>> {
        let p = self.patch_size;
        let dims = x.dims();
        let groups = p * p * p;
        if !dims[1].is_multiple_of(groups) {
            return Err(Error::Shape {
                what: "video unpatcher input".into(),
                expected: format!("[batch, a multiple of {groups} channels, t, h, w]"),
                found: dims.to_vec(),
            });
        }
        let x = match self.method {
            PatchMethod::Haar => (0..self.levels()).fold(x, |x, _| inverse_haar3d(x)),
            PatchMethod::Rearrange => depth_to_space3d(x, p),
        };
        Ok(if first_chunk && p > 1 {
            let t = x.dims()[2];
            x.narrow(2, p - 1, t - (p - 1))
        } else {
            x
        })
    }

    /// Patches images `[b, c, h, w]` (h, w multiples of p) into `[b, c·p², h/p, w/p]`.
    pub fn patch_image(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        let p = self.patch_size;
        let dims = x.dims();
        if !dims[2].is_multiple_of(p) || !dims[3].is_multiple_of(p) {
            return Err(Error::Shape {
                what: "image patcher input".into(),
                expected: format!("[batch, channels, height and width multiples of {p}]"),
                found: dims.to_vec(),
            });
        }
        Ok(match self.method {
            PatchMethod::Haar => (0..self.levels()).fold(x, |x, _| haar2d(x)),
            PatchMethod::Rearrange => space_to_depth2d(x, p),
        })
    }

    /// The inverse of [`patch_image`](Self::patch_image).
    pub fn unpatch_image(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        let p = self.patch_size;
        let dims = x.dims();
        if !dims[1].is_multiple_of(p * p) {
            return Err(Error::Shape {
                what: "image unpatcher input".into(),
                expected: format!("[batch, a multiple of {} channels, h, w]", p * p),
                found: dims.to_vec(),
            });
        }
        Ok(match self.method {
            PatchMethod::Haar => (0..self.levels()).fold(x, |x, _| inverse_haar2d(x)),
            PatchMethod::Rearrange => depth_to_space2d(x, p),
        })
    }
}

/// Splits `x` along `dim` (of size 2) into the sum and the difference of its two halves.
fn butterfly<const D: usize>(x: Tensor<D>, dim: usize) -> (Tensor<D>, Tensor<D>) {
    let even = x.clone().narrow(dim, 0, 1);
    let odd = x.narrow(dim, 1, 1);
    (even.clone() + odd.clone(), even - odd)
}

/// The inverse butterfly: `(lo + hi, lo − hi)` interleaved along a new axis after `dim`,
/// then merged into `dim` (which doubles).
fn merge<const D: usize, const D1: usize>(lo: Tensor<D>, hi: Tensor<D>, dim: usize) -> Tensor<D> {
    let mut dims = lo.dims();
    let pair = Tensor::stack::<D1>(vec![lo.clone() + hi.clone(), lo - hi], dim + 1);
    dims[dim] *= 2;
    pair.reshape(dims)
}

/// One level of the 3D Haar transform: `[b, c, t, h, w]` (all even) → `[b, 8c, t/2, h/2, w/2]`.
fn haar3d(x: Tensor<5>) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let (t2, h2, w2) = (t / 2, h / 2, w / 2);
    let x: Tensor<8> = x.reshape([b, c, t2, 2, h2, 2, w2, 2]);
    let mut bands = Vec::with_capacity(8);
    let (tl, th) = butterfly(x, 3);
    for t_band in [tl, th] {
        let (hl, hh) = butterfly(t_band, 5);
        for h_band in [hl, hh] {
            let (wl, wh) = butterfly(h_band, 7);
            for w_band in [wl, wh] {
                bands.push(w_band.reshape([b, c, t2, h2, w2]).mul_scalar(0.125));
            }
        }
    }
    Tensor::cat(bands, 1)
}

/// The inverse of [`haar3d`]: `[b, 8c, t, h, w]` → `[b, c, 2t, 2h, 2w]`.
fn inverse_haar3d(x: Tensor<5>) -> Tensor<5> {
    let bands = x.chunk(8, 1);
    let mut along_h = Vec::with_capacity(2);
    for t_band in 0..2 {
        let mut along_w = Vec::with_capacity(2);
        for h_band in 0..2 {
            let i = 4 * t_band + 2 * h_band;
            along_w.push(merge::<5, 6>(bands[i].clone(), bands[i + 1].clone(), 4));
        }
        let hi = along_w.pop().expect("two bands");
        let lo = along_w.pop().expect("two bands");
        along_h.push(merge::<5, 6>(lo, hi, 3));
    }
    let hi = along_h.pop().expect("two bands");
    let lo = along_h.pop().expect("two bands");
    merge::<5, 6>(lo, hi, 2)
}

/// One level of the 2D Haar transform: `[b, c, h, w]` (even) → `[b, 4c, h/2, w/2]`, band
/// index `2·w + h` as in the reference (width first).
fn haar2d(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let (h2, w2) = (h / 2, w / 2);
    let x: Tensor<6> = x.reshape([b, c, h2, 2, w2, 2]);
    let mut bands = Vec::with_capacity(4);
    let (wl, wh) = butterfly(x, 5);
    for w_band in [wl, wh] {
        let (hl, hh) = butterfly(w_band, 3);
        for h_band in [hl, hh] {
            bands.push(h_band.reshape([b, c, h2, w2]).mul_scalar(0.25));
        }
    }
    Tensor::cat(bands, 1)
}

/// The inverse of [`haar2d`].
fn inverse_haar2d(x: Tensor<4>) -> Tensor<4> {
    let bands = x.chunk(4, 1);
    let low_w = merge::<4, 5>(bands[0].clone(), bands[1].clone(), 2);
    let high_w = merge::<4, 5>(bands[2].clone(), bands[3].clone(), 2);
    merge::<4, 5>(low_w, high_w, 3)
}

/// `b c (t p) (h p) (w p) → b (c p p p) t h w`.
fn space_to_depth3d(x: Tensor<5>, p: usize) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let x: Tensor<8> = x.reshape([b, c, t / p, p, h / p, p, w / p, p]);
    x.permute([0, 1, 3, 5, 7, 2, 4, 6])
        .reshape([b, c * p * p * p, t / p, h / p, w / p])
}

/// `b (c p p p) t h w → b c (t p) (h p) (w p)`.
fn depth_to_space3d(x: Tensor<5>, p: usize) -> Tensor<5> {
    let [b, cp, t, h, w] = x.dims();
    let c = cp / (p * p * p);
    let x: Tensor<8> = x.reshape([b, c, p, p, p, t, h, w]);
    x.permute([0, 1, 5, 2, 6, 3, 7, 4])
        .reshape([b, c, t * p, h * p, w * p])
}

/// `b c (h p) (w p) → b (c p p) h w`.
fn space_to_depth2d(x: Tensor<4>, p: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let x: Tensor<6> = x.reshape([b, c, h / p, p, w / p, p]);
    x.permute([0, 1, 3, 5, 2, 4])
        .reshape([b, c * p * p, h / p, w / p])
}

/// `b (c p p) h w → b c (h p) (w p)`.
fn depth_to_space2d(x: Tensor<4>, p: usize) -> Tensor<4> {
    let [b, cp, h, w] = x.dims();
    let c = cp / (p * p);
    let x: Tensor<6> = x.reshape([b, c, p, p, h, w]);
    x.permute([0, 1, 4, 2, 5, 3]).reshape([b, c, h * p, w * p])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};

    fn device() -> Device {
        Device::flex()
    }

    use cosmos_nn::parity::values;

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        values((a - b).abs().max())[0]
    }

    #[test]
    fn image_haar_bands_match_hand_computation() {
        // One 2×2 block [[a, b], [c, d]] = [[1, 2], [3, 4]].
        // Band order 2·w + h: LL = (a+b+c+d)/4 = 2.5; (w low, h high) = (a+b−c−d)/4 = −1;
        // (w high, h low) = (a−b+c−d)/4 = −0.5; HH = (a−b−c+d)/4 = 0.
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
            &device(),
        );
        let y = Patcher::new(2, PatchMethod::Haar).patch_image(x).unwrap();
        assert_eq!(y.dims(), [1, 4, 1, 1]);
        assert_eq!(values(y), vec![2.5, -1.0, -0.5, 0.0]);
    }

    #[test]
    fn video_haar_low_band_is_the_block_mean_and_first_frame_is_repeated() {
        // Frames 0 and 1 of a 1×1-pixel... use 2×2 pixels, patch 2: frames f0, f1, f2 →
        // [f0, f0, f1, f2] → blocks (f0, f0) and (f1, f2).
        let f = |v: f32| vec![v; 4];
        let data: Vec<f32> = [f(1.0), f(3.0), f(5.0)].concat();
        let x = Tensor::<5>::from_data(TensorData::new(data, [1, 1, 3, 2, 2]), &device());
        let y = Patcher::new(2, PatchMethod::Haar)
            .patch_video(x, true)
            .unwrap();
        assert_eq!(y.dims(), [1, 8, 2, 1, 1]);
        let v = values(y);
        // Band 0 (LLL) per time step: mean of (1,1) = 1 and of (3,5) = 4.
        assert_eq!(&v[0..2], &[1.0, 4.0]);
        // Band 4 (time high, h low, w low): (x_even − x_odd)/2 in time: 0 and −1.
        assert_eq!(&v[8..10], &[0.0, -1.0]);
        // Every spatial high band is zero (frames are constant in space).
        for band in [1, 2, 3, 5, 6, 7] {
            assert_eq!(&v[2 * band..2 * band + 2], &[0.0, 0.0], "band {band}");
        }
    }

    #[test]
    fn haar_round_trips() {
        let d = device();
        let patcher = Patcher::new(4, PatchMethod::Haar);
        let x = Tensor::<5>::random([2, 3, 9, 8, 16], Distribution::Normal(0.0, 1.0), &d);
        let y = patcher.patch_video(x.clone(), true).unwrap();
        assert_eq!(y.dims(), [2, 192, 3, 2, 4]);
        let back = patcher.unpatch_video(y, true).unwrap();
        assert!(max_diff(back, x) < 1e-5);

        let img = Tensor::<4>::random([1, 3, 8, 12], Distribution::Normal(0.0, 1.0), &d);
        let y = patcher.patch_image(img.clone()).unwrap();
        assert_eq!(y.dims(), [1, 48, 2, 3]);
        assert!(max_diff(patcher.unpatch_image(y).unwrap(), img) < 1e-5);
    }

    #[test]
    fn rearrange_round_trips_and_orders_channels_c_major() {
        let d = device();
        let patcher = Patcher::new(2, PatchMethod::Rearrange);
        // One channel, 2×2 image [[1, 2], [3, 4]] → channels (p1, p2) = 1, 2, 3, 4.
        let img = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
            &d,
        );
        assert_eq!(
            values(patcher.patch_image(img).unwrap()),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        let x = Tensor::<5>::random([1, 2, 5, 4, 6], Distribution::Normal(0.0, 1.0), &d);
        let y = patcher.patch_video(x.clone(), true).unwrap();
        assert_eq!(y.dims(), [1, 16, 3, 2, 3]);
        assert!(max_diff(patcher.unpatch_video(y, true).unwrap(), x) < 1e-6);
    }

    #[test]
    fn streaming_chunks_patch_like_the_whole_clip() {
        let d = device();
        let patcher = Patcher::new(4, PatchMethod::Haar);
        let x = Tensor::<5>::random([1, 3, 9, 8, 8], Distribution::Normal(0.0, 1.0), &d);
        let whole = patcher.patch_video(x.clone(), true).unwrap();
        let first = patcher
            .patch_video(x.clone().narrow(2, 0, 5), true)
            .unwrap();
        let rest = patcher.patch_video(x.narrow(2, 5, 4), false).unwrap();
        assert!(max_diff(Tensor::cat(vec![first, rest], 2), whole) < 1e-6);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let d = device();
        let patcher = Patcher::new(4, PatchMethod::Haar);
        let x = Tensor::<5>::zeros([1, 3, 8, 8, 8], &d);
        assert!(patcher.patch_video(x, true).is_err());
        let x = Tensor::<5>::zeros([1, 3, 9, 8, 6], &d);
        assert!(patcher.patch_video(x, true).is_err());
    }
}
