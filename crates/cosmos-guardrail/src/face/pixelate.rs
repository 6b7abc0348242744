//! Pixelation as the reference does it with OpenCV: `cv2.resize(face, (5, 5), INTER_LINEAR)`
//! then `cv2.resize(small, (w, h), INTER_NEAREST)`. Both resizes follow OpenCV's sampling
//! rules, including its 11-bit fixed-point bilinear weights for 8-bit images.

use ndarray::{Array3, ArrayViewMut3, s};

use crate::error::{Error, Result};

const COEF_BITS: i32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// Source index and fixed-point weights of OpenCV's bilinear sampling along one axis.
fn linear_taps(src: usize, dst: usize) -> Vec<(usize, usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut i = f.floor() as i64;
            let mut frac = (f - i as f64) as f32;
            if i < 0 {
                i = 0;
                frac = 0.0;
            }
            if i as usize >= src - 1 {
                i = src as i64 - 1;
                frac = 0.0;
            }
            let i = i as usize;
            let w1 = (frac * COEF_SCALE).round() as i32;
            let w0 = (COEF_SCALE as i32) - w1;
            (i, (i + 1).min(src - 1), w0, w1)
        })
        .collect()
}

/// OpenCV `INTER_LINEAR` resize of an `[H, W, 3]` u8 image.
pub(crate) fn resize_linear(src: &Array3<u8>, out_w: usize, out_h: usize) -> Array3<u8> {
    let (h, w, c) = src.dim();
    let xs = linear_taps(w, out_w);
    let ys = linear_taps(h, out_h);
    let mut out = Array3::<u8>::zeros((out_h, out_w, c));
    for (oy, &(y0, y1, b0, b1)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, a0, a1)) in xs.iter().enumerate() {
            for ch in 0..c {
                let row = |y: usize| src[[y, x0, ch]] as i32 * a0 + src[[y, x1, ch]] as i32 * a1;
                let v = row(y0) as i64 * b0 as i64 + row(y1) as i64 * b1 as i64;
                let bits = 2 * COEF_BITS;
                let v = (v + (1i64 << (bits - 1))) >> bits;
                out[[oy, ox, ch]] = v.clamp(0, 255) as u8;
            }
        }
    }
    out
}

/// OpenCV `INTER_NEAREST` source index along one axis.
fn nearest_index(d: usize, src: usize, dst: usize) -> usize {
    (((d as f64) * (src as f64 / dst as f64)).floor() as usize).min(src - 1)
}

/// Pixelates `region = [x1, y1, x2, y2]` (end-exclusive) of an `[H, W, 3]` frame in place:
/// shrink to `blocks × blocks` (bilinear), blow back up (nearest neighbour).
pub fn pixelate_region(
    mut frame: ArrayViewMut3<'_, u8>,
    region: [usize; 4],
    blocks: usize,
) -> Result<()> {
    let (h, w, c) = frame.dim();
    let [x1, y1, x2, y2] = region;
    if blocks == 0 || c != 3 || x1 >= x2 || y1 >= y2 || x2 > w || y2 > h {
        return Err(Error::InvalidArgument(format!(
            "cannot pixelate region {region:?} with {blocks} blocks in a {w}x{h}x{c} frame"
        )));
    }
    let face = frame.slice(s![y1..y2, x1..x2, ..]).to_owned();
    let (fh, fw) = (y2 - y1, x2 - x1);
    let small = resize_linear(&face, blocks, blocks);
    let mut target = frame.slice_mut(s![y1..y2, x1..x2, ..]);
    for y in 0..fh {
        let sy = nearest_index(y, blocks, fh);
        for x in 0..fw {
            let sx = nearest_index(x, blocks, fw);
            for ch in 0..3 {
                target[[y, x, ch]] = small[[sy, sx, ch]];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_taps_follow_opencv() {
        // 10 -> 5: source positions (d + 0.5)·2 − 0.5 = 0.5, 2.5, ..., 8.5 -> pairs (0,1),
        // (2,3), ..., (8,9) with weight 0.5 each.
        let taps = linear_taps(10, 5);
        assert_eq!(taps[0], (0, 1, 1024, 1024));
        assert_eq!(taps[4], (8, 9, 1024, 1024));
        // 4 -> 1: position 1.5 -> (1, 2); 3 -> 6 (upscale): position −0.25 clamps to (0, 1, 1, 0).
        assert_eq!(linear_taps(4, 1)[0], (1, 2, 1024, 1024));
        assert_eq!(linear_taps(3, 6)[0], (0, 1, 2048, 0));
        assert_eq!(linear_taps(3, 6)[5], (2, 2, 2048, 0));
        // Shrinking a 2-pixel gradient 0, 100 to one pixel averages: 50.
        let src = Array3::from_shape_vec((1, 2, 3), vec![0, 0, 0, 100, 100, 100]).unwrap();
        assert_eq!(resize_linear(&src, 1, 1)[[0, 0, 0]], 50);
    }

    #[test]
    fn pixelation_gives_blocks_and_leaves_the_rest() {
        let mut frame = Array3::<u8>::zeros((40, 40, 3));
        for ((y, x, _), v) in frame.indexed_iter_mut() {
            *v = ((x * 7 + y * 13) % 251) as u8;
        }
        let before = frame.clone();
        pixelate_region(frame.view_mut(), [10, 5, 30, 25], 5).unwrap();
        // Outside untouched.
        assert_eq!(
            frame.slice(s![0..5, .., ..]),
            before.slice(s![0..5, .., ..])
        );
        assert_eq!(
            frame.slice(s![.., 30.., ..]),
            before.slice(s![.., 30.., ..])
        );
        // 20x20 region in 5x5 blocks of 4x4 identical pixels.
        for by in 0..5 {
            for bx in 0..5 {
                let block = frame.slice(s![5 + by * 4..9 + by * 4, 10 + bx * 4..14 + bx * 4, 0]);
                let first = block[[0usize, 0usize]];
                assert!(block.iter().all(|&v| v == first));
            }
        }
        // The first block is the bilinear sample at source (1.5, 1.5) of the region: the mean
        // of the four pixels around it, as OpenCV computes it.
        let mean: u32 = [(6, 11), (6, 12), (7, 11), (7, 12)]
            .iter()
            .map(|&(y, x)| before[[y, x, 0]] as u32)
            .sum::<u32>();
        assert_eq!(frame[[5, 10, 0]] as u32, (mean + 2) / 4);
    }

    #[test]
    fn rejects_bad_regions() {
        let mut frame = Array3::<u8>::zeros((10, 10, 3));
        assert!(pixelate_region(frame.view_mut(), [5, 5, 5, 8], 5).is_err());
        assert!(pixelate_region(frame.view_mut(), [0, 0, 11, 8], 5).is_err());
    }
}
