//! OpenCV's `cv::resize(..., INTER_LINEAR)` of 8-bit interleaved images, bit for bit, for
//! [`ScaleFilter::OpenCv`](crate::ScaleFilter::OpenCv) (the frames PySceneDetect scores).
//!
//! Written by hand because the result must equal OpenCV's to the last bit and no Rust crate
//! reproduces its fixed-point arithmetic: coefficients are `round_half_even(w * 2048)` from
//! `f32` weights of the centre-aligned mapping `x_src = (x + 0.5) * (src / dst) - 0.5`
//! (horizontal taps clamped to the image, vertical weights not), the horizontal pass sums
//! `pixel * coefficient` exactly in `i32`, and the vertical pass computes
//! `(((a >> 4) * b0 >> 16) + ((c >> 4) * b1 >> 16) + 2) >> 2`, as OpenCV's 128-bit SIMD path
//! does, except for the last elements of a row, which its scalar path rounds as
//! `(a * b0 + c * b1 + 2^21) >> 22` (measured on bikes.mp4 against opencv-python 5.1: every
//! byte equal).

/// One output coordinate's two source taps and fixed-point weights (summing to 2048).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tap {
    first: usize,
    second: usize,
    w0: i32,
    w1: i32,
}

const COEF_SCALE: f32 = 2048.0;

/// `saturate_cast<short>(float)`: round half to even (the CPU's default rounding mode).
fn round_coefficient(value: f32) -> i32 {
    (value * COEF_SCALE).round_ties_even() as i32
}

/// Taps along an axis of `source` samples scaled to `target`. `clamp_weights`: a tap past
/// either edge gets weight `(2048, 0)` on the edge sample (OpenCV's horizontal rule); otherwise
/// the weights stay and only the sample indices are clamped (its vertical rule).
fn taps(source: usize, target: usize, clamp_weights: bool) -> Vec<Tap> {
    let scale = 1.0 / (target as f64 / source as f64);
    let last = source.saturating_sub(1);
    (0..target)
        .map(|d| {
            let position = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut start = position.floor() as i64;
            let mut fraction = position - start as f32;
            if clamp_weights {
                if start < 0 {
                    start = 0;
                    fraction = 0.0;
                }
                if start >= last as i64 {
                    start = last as i64;
                    fraction = 0.0;
                }
            }
            let clamp = |i: i64| i.clamp(0, last as i64) as usize;
            Tap {
                first: clamp(start),
                second: clamp(start + 1),
                w0: round_coefficient(1.0 - fraction),
                w1: round_coefficient(fraction),
            }
        })
        .collect()
}

/// Reusable buffers: the horizontally resized rows of the two taps of the current output row.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    rows: [Vec<i32>; 2],
    cached: [Option<usize>; 2],
}

/// Resizes `src` (`height` rows of `width * channels` bytes, `stride` bytes apart) to
/// `target` = (width, height) and appends the rows to `out`.
pub(crate) fn resize_linear(
    src: &[u8],
    stride: usize,
    (width, height): (usize, usize),
    channels: usize,
    target: (usize, usize),
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) {
    let (target_width, target_height) = target;
    let columns = taps(width, target_width, true);
    let rows = taps(height, target_height, false);
    let row_len = target_width * channels;
    for buffer in &mut scratch.rows {
        buffer.resize(row_len, 0);
    }
    scratch.cached = [None, None];
    // OpenCV's SIMD path covers whole 16-byte blocks, then one 8-element block when more than 8
    // remain; the scalar path the rest.
    let vector_end = row_len / 16 * 16 + if row_len % 16 > 8 { 8 } else { 0 };
    out.reserve(row_len * target_height);
    for tap in &rows {
        for (slot, source_row) in [tap.first, tap.second].into_iter().enumerate() {
            if scratch.cached[slot] == Some(source_row) {
                continue;
            }
            // The other slot may hold this row already (the previous output row's second tap).
            let other = 1 - slot;
            if scratch.cached[other] == Some(source_row) {
                let (a, b) = scratch.rows.split_at_mut(1);
                if slot == 0 {
                    a[0].copy_from_slice(&b[0]);
                } else {
                    b[0].copy_from_slice(&a[0]);
                }
            } else {
                let line = &src[source_row * stride..source_row * stride + width * channels];
                let buffer = &mut scratch.rows[slot];
                for (x, column) in columns.iter().enumerate() {
                    for c in 0..channels {
                        let a = i32::from(line[column.first * channels + c]);
                        let b = i32::from(line[column.second * channels + c]);
                        buffer[x * channels + c] = a * column.w0 + b * column.w1;
                    }
                }
            }
            scratch.cached[slot] = Some(source_row);
        }
        let (s0, s1) = (&scratch.rows[0], &scratch.rows[1]);
        let (b0, b1) = (tap.w0, tap.w1);
        out.extend(s0.iter().zip(s1).enumerate().map(|(x, (&a, &c))| {
            let value = if x < vector_end {
                ((((a >> 4) * b0) >> 16) + (((c >> 4) * b1) >> 16) + 2) >> 2
            } else {
                (a * b0 + c * b1 + (1 << 21)) >> 22
            };
            value.clamp(0, 255) as u8
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_stay_inside() {
        for (source, target) in [(640, 256), (272, 109), (1280, 256), (100, 100), (50, 120)] {
            for tap in taps(source, target, true) {
                assert_eq!(tap.w0 + tap.w1, 2048, "{source}->{target}: {tap:?}");
                assert!(tap.first < source && tap.second < source);
            }
        }
        // 2.5x: output 0 samples 0.75 of the way from source 0 to 1.
        assert_eq!(
            taps(640, 256, true)[0],
            Tap {
                first: 0,
                second: 1,
                w0: 512,
                w1: 1536
            }
        );
    }

    #[test]
    fn flat_images_stay_flat_and_sizes_are_right() {
        let src = vec![200u8; 64 * 48 * 3];
        let mut out = Vec::new();
        resize_linear(
            &src,
            64 * 3,
            (64, 48),
            3,
            (25, 19),
            &mut Scratch::default(),
            &mut out,
        );
        assert_eq!(out.len(), 25 * 19 * 3);
        assert!(out.iter().all(|&v| v.abs_diff(200) <= 1), "{out:?}");
    }
}
