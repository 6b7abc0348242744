//! Per-frame statistics computed once, on the small analysis frames, and aggregated per clip by
//! the filters: exposure, sharpness, colour statistics for the video-type classifier, frame
//! change, global motion, a 256-bit perceptual hash, and the overlay-text block map.

use serde::{Deserialize, Serialize};

use super::motion::{GlobalMotion, Luma};

/// Side of the square blocks of the overlay-text map, analysis pixels.
pub const TEXT_BLOCK: usize = 8;
/// A horizontal step of at least this much luma counts as a stroke edge.
const STROKE_STEP: u8 = 40;
/// Horizontal stroke edges (of the 56 horizontal steps in a block) a text block must have.
const MIN_STROKES: u32 = 10;
/// Vertical stroke edges (of the 56 vertical steps) a text block must have: glyphs have
/// horizontal strokes too, a single vertical edge (a pole, the side of a bus) has none.
const MIN_VERTICAL_STROKES: u32 = 4;
/// Luma range (max - min) a text block must span: glyphs contrast with what is behind them.
const MIN_TEXT_CONTRAST: u8 = 100;
/// A stroke edge is the same as in the previous frame when both its pixels changed by at most this.
const MAX_STROKE_CHANGE: u8 = 12;
/// Share of a block's horizontal stroke edges that must be unchanged for the strokes to be still.
const MIN_STILL_SHARE: u32 = 75;

/// Statistics of one analysis frame. Fractions are of the frame's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameFeatures {
    /// Mean luma, 0–255.
    pub brightness: f32,
    /// Pixels with luma below 16.
    pub dark_fraction: f32,
    /// Pixels with luma above 239.
    pub bright_fraction: f32,
    /// Variance of the 4-neighbour Laplacian of luma (higher: sharper).
    pub sharpness: f32,
    /// Mean HSV saturation, 0–255.
    pub saturation: f32,
    /// Pixels whose right and lower neighbours differ from them by at most 1 in luma: large in
    /// flat-shaded drawings and graphics, small in camera footage (sensor noise, texture).
    pub flat_fraction: f32,
    /// Pixels covered by the 16 most frequent colours at 4 bits per channel (flat palettes of
    /// drawings concentrate here).
    pub palette_coverage: f32,
    /// Mean absolute luma change from the previous frame (0 for the first frame).
    pub change: f32,
    /// Global motion from the previous frame.
    pub motion: GlobalMotion,
    /// 256 bits: a 16x16 grid of block means, each bit set when the block is brighter than the
    /// median block.
    pub hash: [u64; 4],
}

/// Full-range BT.601 luma of interleaved RGB bytes.
pub fn rgb_to_luma(rgb: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(rgb.chunks_exact(3).map(|p| {
        ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8) as u8
    }));
}

/// Exposure, sharpness, flatness and colour statistics of one frame (everything but the fields
/// that need the previous frame: `change` and `motion`).
pub fn still_features(rgb: &[u8], luma: &Luma) -> FrameFeatures {
    let (width, height) = (luma.width, luma.height);
    let pixels = (width * height).max(1) as f32;
    let y = &luma.pixels;
    let mut sum = 0u64;
    let mut dark = 0u32;
    let mut bright = 0u32;
    for &v in y {
        sum += u64::from(v);
        dark += u32::from(v < 16);
        bright += u32::from(v > 239);
    }

    // Laplacian variance over the interior.
    let mut lap_sum = 0f64;
    let mut lap_sq = 0f64;
    let mut lap_count = 0u32;
    let mut flat = 0u32;
    for row in 0..height {
        let line = &y[row * width..(row + 1) * width];
        if row + 1 < height {
            let below = &y[(row + 1) * width..(row + 2) * width];
            for col in 0..width.saturating_sub(1) {
                let v = line[col];
                flat += u32::from(line[col + 1].abs_diff(v) <= 1 && below[col].abs_diff(v) <= 1);
            }
        }
        if row == 0 || row + 1 >= height {
            continue;
        }
        let above = &y[(row - 1) * width..row * width];
        let below = &y[(row + 1) * width..(row + 2) * width];
        let mut row_sum = 0i64;
        let mut row_sq = 0i64;
        for col in 1..width.saturating_sub(1) {
            let lap = i64::from(above[col])
                + i64::from(below[col])
                + i64::from(line[col - 1])
                + i64::from(line[col + 1])
                - 4 * i64::from(line[col]);
            row_sum += lap;
            row_sq += lap * lap;
        }
        lap_sum += row_sum as f64;
        lap_sq += row_sq as f64;
        lap_count += width.saturating_sub(2) as u32;
    }
    let sharpness = if lap_count > 0 {
        let mean = lap_sum / f64::from(lap_count);
        (lap_sq / f64::from(lap_count) - mean * mean).max(0.0) as f32
    } else {
        0.0
    };

    // Saturation and the 4-bit palette.
    let mut saturation = 0u64;
    let mut histogram = vec![0u32; 4096];
    for p in rgb.chunks_exact(3) {
        let max = p[0].max(p[1]).max(p[2]);
        let min = p[0].min(p[1]).min(p[2]);
        if max > 0 {
            saturation +=
                u64::from((u32::from(max - min) * 255 + u32::from(max) / 2) / u32::from(max));
        }
        let bin =
            (usize::from(p[0] >> 4) << 8) | (usize::from(p[1] >> 4) << 4) | usize::from(p[2] >> 4);
        histogram[bin] += 1;
    }
    histogram.select_nth_unstable_by(15, |a, b| b.cmp(a));
    let top16: u32 = histogram[..16].iter().sum();

    FrameFeatures {
        brightness: sum as f32 / pixels,
        dark_fraction: dark as f32 / pixels,
        bright_fraction: bright as f32 / pixels,
        sharpness,
        saturation: saturation as f32 / pixels,
        flat_fraction: flat as f32
            / (width.saturating_sub(1) * height.saturating_sub(1)).max(1) as f32,
        palette_coverage: top16 as f32 / pixels,
        change: 0.0,
        motion: GlobalMotion::default(),
        hash: block_hash(luma),
    }
}

/// Mean absolute difference of two equally sized luma images.
pub fn mean_change(a: &Luma, b: &Luma) -> f32 {
    if a.pixels.len() != b.pixels.len() || a.pixels.is_empty() {
        return 0.0;
    }
    crate::shot::hsv::sum_abs_diff(&a.pixels, &b.pixels) as f32 / a.pixels.len() as f32
}

/// 16x16 grid of block means (blocks spread evenly over the frame), thresholded at their median.
pub fn block_hash(luma: &Luma) -> [u64; 4] {
    const GRID: usize = 16;
    let mut means = [0u32; GRID * GRID];
    if luma.width == 0 || luma.height == 0 {
        return [0; 4];
    }
    for gy in 0..GRID {
        let (y0, y1) = (
            gy * luma.height / GRID,
            ((gy + 1) * luma.height / GRID).max(gy * luma.height / GRID + 1),
        );
        for gx in 0..GRID {
            let (x0, x1) = (
                gx * luma.width / GRID,
                ((gx + 1) * luma.width / GRID).max(gx * luma.width / GRID + 1),
            );
            let mut sum = 0u32;
            let mut count = 0u32;
            for y in y0..y1.min(luma.height) {
                for x in x0..x1.min(luma.width) {
                    sum += u32::from(luma.pixels[y * luma.width + x]);
                    count += 1;
                }
            }
            // Means times 16 keep a fraction of a level of precision.
            means[gy * GRID + gx] = sum * 16 / count.max(1);
        }
    }
    let mut sorted = means;
    sorted.sort_unstable();
    let median = sorted[GRID * GRID / 2];
    let mut hash = [0u64; 4];
    for (i, &m) in means.iter().enumerate() {
        if m > median {
            hash[i / 64] |= 1 << (i % 64);
        }
    }
    hash
}

/// The overlay-text grid of a frame size: `(columns, rows)` of [`TEXT_BLOCK`]-pixel blocks.
pub fn text_grid(width: usize, height: usize) -> (usize, usize) {
    (width / TEXT_BLOCK, height / TEXT_BLOCK)
}

/// Marks blocks that look like burned-in text or graphics in this frame: dense, high-contrast
/// stroke edges in both directions, most of which (the horizontal ones are checked) have not
/// changed since the previous frame. Writes one bit per
/// block of [`text_grid`] into `bits` (row-major, cleared first).
pub fn text_blocks(current: &Luma, previous: Option<&Luma>, bits: &mut [u64]) {
    bits.fill(0);
    let Some(previous) =
        previous.filter(|p| p.width == current.width && p.height == current.height)
    else {
        return;
    };
    let (columns, rows) = text_grid(current.width, current.height);
    let width = current.width;
    for by in 0..rows {
        for bx in 0..columns {
            let (x0, y0) = (bx * TEXT_BLOCK, by * TEXT_BLOCK);
            let mut strokes = 0u32;
            let mut vertical_strokes = 0u32;
            let mut low = u8::MAX;
            let mut high = u8::MIN;
            let mut still_strokes = 0u32;
            for y in y0..y0 + TEXT_BLOCK {
                let line = &current.pixels[y * width + x0..y * width + x0 + TEXT_BLOCK];
                let before = &previous.pixels[y * width + x0..y * width + x0 + TEXT_BLOCK];
                for x in 0..TEXT_BLOCK {
                    low = low.min(line[x]);
                    high = high.max(line[x]);
                    if x + 1 < TEXT_BLOCK && line[x].abs_diff(line[x + 1]) >= STROKE_STEP {
                        strokes += 1;
                        // Only the strokes must hold still: the picture around and behind burned-in
                        // text keeps changing.
                        let same = line[x].abs_diff(before[x]) <= MAX_STROKE_CHANGE
                            && line[x + 1].abs_diff(before[x + 1]) <= MAX_STROKE_CHANGE;
                        still_strokes += u32::from(same);
                    }
                }
                if y + 1 < y0 + TEXT_BLOCK {
                    let next =
                        &current.pixels[(y + 1) * width + x0..(y + 1) * width + x0 + TEXT_BLOCK];
                    vertical_strokes += line
                        .iter()
                        .zip(next)
                        .map(|(&a, &b)| u32::from(a.abs_diff(b) >= STROKE_STEP))
                        .sum::<u32>();
                }
            }
            let text_like = strokes >= MIN_STROKES
                && vertical_strokes >= MIN_VERTICAL_STROKES
                && high - low >= MIN_TEXT_CONTRAST;
            let unchanged = 100 * still_strokes >= MIN_STILL_SHARE * strokes;
            if text_like && unchanged {
                let index = by * columns + bx;
                bits[index / 64] |= 1 << (index % 64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luma_from(width: usize, height: usize, f: impl Fn(usize, usize) -> u8) -> Luma {
        Luma {
            width,
            height,
            pixels: (0..height)
                .flat_map(|y| (0..width).map(move |x| (x, y)))
                .map(|(x, y)| f(x, y))
                .collect(),
        }
    }

    #[test]
    fn exposure_and_flatness_of_a_flat_frame() {
        let luma = luma_from(32, 16, |_, _| 8);
        let rgb = vec![8u8; 32 * 16 * 3];
        let f = still_features(&rgb, &luma);
        assert_eq!(f.brightness, 8.0);
        assert_eq!(f.dark_fraction, 1.0);
        assert_eq!(f.bright_fraction, 0.0);
        assert_eq!(f.flat_fraction, 1.0);
        assert_eq!(f.palette_coverage, 1.0);
        assert_eq!(f.sharpness, 0.0);
        assert_eq!(f.saturation, 0.0);
    }

    #[test]
    fn checkerboard_is_sharp_and_not_flat() {
        let luma = luma_from(32, 16, |x, y| if (x + y) % 2 == 0 { 0 } else { 200 });
        let rgb: Vec<u8> = luma.pixels.iter().flat_map(|&v| [v, v, v]).collect();
        let f = still_features(&rgb, &luma);
        assert!(f.sharpness > 100_000.0, "{}", f.sharpness);
        assert_eq!(f.flat_fraction, 0.0);
    }

    #[test]
    fn hash_is_stable_under_small_changes_and_differs_between_images() {
        let a = luma_from(64, 48, |x, y| ((x * 3 + y * 5) % 256) as u8);
        let b = luma_from(64, 48, |x, y| {
            (((x * 3 + y * 5) % 256) as u8).saturating_add(2)
        });
        let c = luma_from(64, 48, |x, y| ((x * 7 + 255 - y * 2) % 256) as u8);
        let distance = |p: [u64; 4], q: [u64; 4]| {
            p.iter()
                .zip(&q)
                .map(|(x, y)| (x ^ y).count_ones())
                .sum::<u32>()
        };
        assert!(distance(block_hash(&a), block_hash(&b)) <= 8);
        assert!(distance(block_hash(&a), block_hash(&c)) >= 64);
    }

    #[test]
    fn still_striped_block_is_text_like_only_when_unchanged() {
        let (width, height) = (32, 16);
        // Block (0,0) holds a dark grid on white (glyph strokes both ways); the rest is mid grey.
        let glyphs = |x: usize, y: usize, phase: usize| {
            if (x + phase).is_multiple_of(2) || y.is_multiple_of(3) {
                20
            } else {
                230
            }
        };
        let frame = luma_from(width, height, |x, y| {
            if x < 8 && y < 8 { glyphs(x, y, 0) } else { 128 }
        });
        let (columns, rows) = text_grid(width, height);
        let mut bits = vec![0u64; (columns * rows).div_ceil(64)];
        text_blocks(&frame, Some(&frame), &mut bits);
        assert_eq!(bits[0], 1);
        let moved = luma_from(width, height, |x, y| {
            if x < 8 && y < 8 { glyphs(x, y, 1) } else { 128 }
        });
        // A single vertical edge is not text.
        let edge = luma_from(width, height, |x, _| if x < 4 { 20 } else { 230 });
        text_blocks(&edge, Some(&edge), &mut bits);
        assert_eq!(bits[0], 0);
        text_blocks(&moved, Some(&frame), &mut bits);
        assert_eq!(bits[0], 0);
        text_blocks(&frame, None, &mut bits);
        assert_eq!(bits[0], 0);
    }
}
