//! 8-bit RGB to HSV exactly as OpenCV converts it (`COLOR_BGR2HSV` on `uint8` images), which is
//! the colour space PySceneDetect's content score is computed in: hue in `0..180` (degrees
//! halved), saturation and value in `0..=255`.
//!
//! Value is the largest channel; saturation and hue are OpenCV's 12-bit fixed point:
//! `s = (spread * round(255·2^12 / v) + 2^11) >> 12` and
//! `h = (n * round(180·2^12 / (6·spread)) + 2^11) >> 12` with `n` the hexcone numerator of the largest channel's sextant. OpenCV reads
//! the two reciprocals from tables; here they are computed in `f32` lanes (exact after rounding:
//! `f32`'s error on `N / d` stays under `0.13 / d`, and the quotients never come within `0.5 / d`
//! of a half), so the loop is branch-free and vectorises (AVX2 when the CPU has it). The result
//! equals OpenCV's on all 16.7 million colours (tested against the tables; the tables against
//! opencv-python 5.1 when this was written). Hue is not circular here: the content score takes
//! plain absolute differences of these bytes, as PySceneDetect does.

/// Fixed-point shift of OpenCV's HSV conversion.
const SHIFT: i32 = 12;
/// `255 << 12`: numerator of the saturation reciprocal.
const SATURATION_NUMERATOR: f32 = (255 << SHIFT) as f32;
/// `(180 << 12) / 6`: numerator of the hue reciprocal.
const HUE_NUMERATOR: f32 = ((180 << SHIFT) / 6) as f32;

/// HSV planes of one frame, each `width * height` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HsvPlanes {
    /// Hue, `0..180`.
    pub hue: Vec<u8>,
    /// Saturation, `0..=255`.
    pub saturation: Vec<u8>,
    /// Value (largest RGB channel), `0..=255`.
    pub value: Vec<u8>,
}

impl HsvPlanes {
    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// True when the planes hold no pixel.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Converts interleaved RGB bytes (`3 * pixels` of them) into these planes, reusing their
    /// allocations.
    pub fn fill_from_rgb(&mut self, rgb: &[u8]) {
        let pixels = rgb.len() / 3;
        self.hue.resize(pixels, 0);
        self.saturation.resize(pixels, 0);
        self.value.resize(pixels, 0);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { fill_avx2(rgb, &mut self.hue, &mut self.saturation, &mut self.value) };
            return;
        }
        fill_planes(rgb, &mut self.hue, &mut self.saturation, &mut self.value);
    }

    /// The same conversion with OpenCV's own tables and branches (`cvtColor`'s scalar code as
    /// a reference for the tests).
    #[cfg(test)]
    fn fill_from_rgb_tables(&mut self, rgb: &[u8]) {
        let pixels = rgb.len() / 3;
        self.hue.resize(pixels, 0);
        self.saturation.resize(pixels, 0);
        self.value.resize(pixels, 0);
        let mut saturation_table = [0i64; 256];
        let mut hue_table = [0i64; 256];
        for i in 1..256usize {
            saturation_table[i] = (f64::from(255 << SHIFT) / i as f64).round_ties_even() as i64;
            hue_table[i] = (f64::from(180 << SHIFT) / (6.0 * i as f64)).round_ties_even() as i64;
        }
        for (((pixel, hue), saturation), value) in rgb
            .chunks_exact(3)
            .zip(self.hue.iter_mut())
            .zip(self.saturation.iter_mut())
            .zip(self.value.iter_mut())
        {
            let (r, g, b) = (
                i64::from(pixel[0]),
                i64::from(pixel[1]),
                i64::from(pixel[2]),
            );
            let v = r.max(g).max(b);
            let diff = v - r.min(g).min(b);
            let s = (diff * saturation_table[v as usize] + (1 << (SHIFT - 1))) >> SHIFT;
            let n = if v == r {
                g - b
            } else if v == g {
                b - r + 2 * diff
            } else {
                r - g + 4 * diff
            };
            let mut h = (n * hue_table[diff as usize] + (1 << (SHIFT - 1))) >> SHIFT;
            if h < 0 {
                h += 180;
            }
            *hue = h as u8;
            *saturation = s as u8;
            *value = v as u8;
        }
    }

    /// Planes of interleaved RGB bytes.
    pub fn from_rgb(rgb: &[u8]) -> Self {
        let mut planes = Self::default();
        planes.fill_from_rgb(rgb);
        planes
    }
}

/// The conversion loop, written without branches so that it vectorises: 8 pixels at a time
/// with AVX2, 4 with the baseline SSE2.
#[inline(always)]
fn fill_planes(rgb: &[u8], hue: &mut [u8], saturation: &mut [u8], value: &mut [u8]) {
    for (((pixel, hue), saturation), value) in rgb
        .chunks_exact(3)
        .zip(hue.iter_mut())
        .zip(saturation.iter_mut())
        .zip(value.iter_mut())
    {
        let (r, g, b) = (
            i32::from(pixel[0]),
            i32::from(pixel[1]),
            i32::from(pixel[2]),
        );
        let max = r.max(g).max(b);
        let spread = max - r.min(g).min(b);
        // SAFETY: both quotients are finite, positive and below 2^21 (the divisors are at least
        // 1). Unchecked casts vectorise; saturating `as` casts are done lane by lane.
        let (saturation_factor, hue_factor) = unsafe {
            (
                (SATURATION_NUMERATOR / max.max(1) as f32 + 0.5).to_int_unchecked::<i32>(),
                (HUE_NUMERATOR / spread.max(1) as f32 + 0.5).to_int_unchecked::<i32>(),
            )
        };
        let s = (spread * saturation_factor + (1 << (SHIFT - 1))) >> SHIFT;
        // Which channel is the largest decides the sextant; ties go to red, then green.
        let red = max == r;
        let green = !red && max == g;
        let numerator = if red {
            g - b
        } else if green {
            b - r + 2 * spread
        } else {
            r - g + 4 * spread
        };
        let mut h = (numerator * hue_factor + (1 << (SHIFT - 1))) >> SHIFT;
        if h < 0 {
            h += 180;
        }
        *hue = h as u8;
        *saturation = s as u8;
        *value = max as u8;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_avx2(rgb: &[u8], hue: &mut [u8], saturation: &mut [u8], value: &mut [u8]) {
    fill_planes(rgb, hue, saturation, value);
}

/// Sum of absolute differences of two equally long byte planes.
#[inline]
pub fn sum_abs_diff(a: &[u8], b: &[u8]) -> u64 {
    // Chunks keep the inner loop branch-free and let it vectorise; u32 lanes cannot overflow for
    // a chunk of 4096 bytes.
    let mut total = 0u64;
    for (chunk_a, chunk_b) in a.chunks(4096).zip(b.chunks(4096)) {
        let mut sum = 0u32;
        for (&x, &y) in chunk_a.iter().zip(chunk_b) {
            sum += u32::from(x.abs_diff(y));
        }
        total += u64::from(sum);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hsv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
        let planes = HsvPlanes::from_rgb(&[r, g, b]);
        (planes.hue[0], planes.saturation[0], planes.value[0])
    }

    #[test]
    fn primaries_and_greys_follow_opencv_ranges() {
        assert_eq!(hsv(255, 0, 0), (0, 255, 255));
        assert_eq!(hsv(0, 255, 0), (60, 255, 255));
        assert_eq!(hsv(0, 0, 255), (120, 255, 255));
        assert_eq!(hsv(255, 255, 0), (30, 255, 255));
        assert_eq!(hsv(0, 255, 255), (90, 255, 255));
        assert_eq!(hsv(255, 0, 255), (150, 255, 255));
        assert_eq!(hsv(0, 0, 0), (0, 0, 0));
        assert_eq!(hsv(128, 128, 128), (0, 0, 128));
        // Slightly more blue than green with red largest: hue just below 180 wraps from negative.
        assert_eq!(hsv(200, 10, 20), (178, 242, 200));
    }

    #[test]
    fn equals_opencv_on_sampled_colours() {
        // `cv2.cvtColor(..., cv2.COLOR_BGR2HSV)` of opencv-python 5.1 on these RGB colours.
        for (rgb, expected) in [
            ((121, 131, 193), (116, 95, 193)),
            ((243, 8, 36), (176, 247, 243)),
            ((210, 242, 63), (35, 189, 242)),
            ((79, 222, 108), (66, 164, 222)),
            ((69, 211, 65), (59, 176, 211)),
            ((104, 164, 140), (78, 93, 164)),
            ((21, 7, 221), (122, 247, 221)),
            ((192, 214, 137), (39, 92, 214)),
            ((20, 10, 200), (122, 242, 200)),
            ((7, 3, 250), (120, 252, 250)),
            ((1, 2, 3), (105, 170, 3)),
            ((255, 254, 0), (30, 255, 255)),
        ] {
            assert_eq!(hsv(rgb.0, rgb.1, rgb.2), expected, "{rgb:?}");
        }
    }

    #[test]
    fn matches_float_formula_everywhere_on_a_grid() {
        for r in (0..=255).step_by(15) {
            for g in (0..=255).step_by(17) {
                for b in (0..=255).step_by(13) {
                    let (h, s, v) = hsv(r as u8, g as u8, b as u8);
                    let (rf, gf, bf) = (r as f64, g as f64, b as f64);
                    let max = rf.max(gf).max(bf);
                    let min = rf.min(gf).min(bf);
                    assert_eq!(f64::from(v), max);
                    let expected_s = if max == 0.0 {
                        0.0
                    } else {
                        255.0 * (max - min) / max
                    };
                    assert!((f64::from(s) - expected_s).abs() <= 1.0, "s {r} {g} {b}");
                    if max > min {
                        let degrees = if max == rf {
                            60.0 * (gf - bf) / (max - min)
                        } else if max == gf {
                            120.0 + 60.0 * (bf - rf) / (max - min)
                        } else {
                            240.0 + 60.0 * (rf - gf) / (max - min)
                        };
                        let expected = (degrees / 2.0 + 180.0) % 180.0;
                        let found = f64::from(h);
                        let distance = (found - expected)
                            .abs()
                            .min(180.0 - (found - expected).abs());
                        assert!(distance <= 1.0, "h {r} {g} {b}: {found} vs {expected}");
                    }
                }
            }
        }
    }

    #[test]
    fn vectorised_conversion_equals_opencv_tables_on_every_colour() {
        // All 16.7 million colours, one red level at a time.
        let mut rgb = Vec::with_capacity(256 * 256 * 3);
        let mut fast = HsvPlanes::default();
        let mut tables = HsvPlanes::default();
        for r in 0..=255u8 {
            rgb.clear();
            for g in 0..=255u8 {
                for b in 0..=255u8 {
                    rgb.extend([r, g, b]);
                }
            }
            fast.fill_from_rgb(&rgb);
            tables.fill_from_rgb_tables(&rgb);
            assert_eq!(fast.value, tables.value, "red {r}");
            assert_eq!(fast.saturation, tables.saturation, "red {r}");
            assert_eq!(fast.hue, tables.hue, "red {r}");
            assert!(fast.hue.iter().all(|&h| h < 180));
        }
    }

    #[test]
    fn sum_abs_diff_counts_every_byte() {
        let a: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..10_000).map(|i| (i % 13) as u8).collect();
        let expected: u64 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        assert_eq!(sum_abs_diff(&a, &b), expected);
    }
}
