//! Bilinear resizing of 8-bit YUV 4:2:0 frames straight to RGB, for
//! [`ScaleFilter::Linear`](crate::ScaleFilter::Linear).
//!
//! The resize is the centre-aligned bilinear one of OpenCV's `INTER_LINEAR` (two taps per axis
//! whatever the factor) applied to the frame converted to RGB at full size, where each pixel
//! takes the chroma sample of its 2×2 block. As the conversion is affine, blending the taps'
//! luma and chroma and converting once gives the same RGB (up to clipping of out-of-gamut
//! samples), so the output comes from the planes without a full-size RGB frame and without
//! swscale: one vertical blend of two source rows (contiguous, vectorised), then two taps per
//! output pixel from that row, then the conversion (vectorised).

/// Luma and chroma planes of one 8-bit YUV 4:2:0 frame (chroma planes `ceil(width / 2)` ×
/// `ceil(height / 2)`).
pub(crate) struct Yuv420<'a> {
    pub y: &'a [u8],
    pub y_stride: usize,
    pub u: &'a [u8],
    pub u_stride: usize,
    pub v: &'a [u8],
    pub v_stride: usize,
    pub width: usize,
    pub height: usize,
}

/// Affine YUV → RGB conversion: `R = ⌊y·(Y − y0) + rv·(V − 128) + offset[0]⌋`,
/// `G = ⌊y·(Y − y0) − gu·(U − 128) − gv·(V − 128) + offset[1]⌋`,
/// `B = ⌊y·(Y − y0) + bu·(U − 128) + offset[2]⌋`, clipped to 0..=255.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct YuvMatrix {
    y: f32,
    y0: f32,
    rv: f32,
    gu: f32,
    gv: f32,
    bu: f32,
    offset: [f32; 3],
}

impl YuvMatrix {
    /// The exact matrix of a colour space given by its red and blue luma weights, for
    /// limited-range (Y in 16..=235, chroma in 16..=240) or full-range samples, rounded to
    /// nearest.
    pub(crate) fn exact(kr: f32, kb: f32, full_range: bool) -> Self {
        let kg = 1.0 - kr - kb;
        let (y, y0, chroma) = if full_range {
            (1.0, 0.0, 1.0)
        } else {
            (255.0 / 219.0, 16.0, 255.0 / 224.0)
        };
        Self {
            y,
            y0,
            rv: 2.0 * (1.0 - kr) * chroma,
            gu: 2.0 * (1.0 - kb) * kb / kg * chroma,
            gv: 2.0 * (1.0 - kr) * kr / kg * chroma,
            bu: 2.0 * (1.0 - kb) * chroma,
            offset: [0.5; 3],
        }
    }

    /// The conversion as FFmpeg's x86 YUV → RGB converter computes it at full size (the frames
    /// OpenCV, and so PySceneDetect, decode): coefficients in steps of 1/8192 and every product
    /// truncated, which costs half a level per term on average: ½ below the exact value for red
    /// and blue before rounding down, 1 for green (measured on bikes.mp4 against OpenCV's frames:
    /// the per-pixel model is bit-exact, and this blend of it within 0.4 levels on average after
    /// the resize, against 1.3 for [`exact`](Self::exact)).
    pub(crate) fn like_swscale(kr: f32, kb: f32, full_range: bool) -> Self {
        let exact = Self::exact(kr, kb, full_range);
        let step = |value: f32| (value * 8192.0).round() / 8192.0;
        Self {
            y: step(exact.y),
            rv: step(exact.rv),
            gu: step(exact.gu),
            gv: step(exact.gv),
            bu: step(exact.bu),
            offset: [-0.5, -1.0, -0.5],
            ..exact
        }
    }

    /// Red and blue luma weights of FFmpeg's colour-space number `space` (`AVColorSpace`) as
    /// swscale reads it: BT.709 for 0 and 1, FCC for 4, SMPTE 240M for 7, BT.2020 for 9 and 10,
    /// BT.601 for everything else (unspecified included).
    pub(crate) fn weights_of_colorspace(space: i32) -> (f32, f32) {
        match space {
            0 | 1 => (0.2126, 0.0722),
            4 => (0.30, 0.11),
            7 => (0.212, 0.087),
            9 | 10 => (0.2627, 0.0593),
            _ => (0.299, 0.114),
        }
    }
}

/// Where one axis's output positions sample the source: per output position, the first tap's
/// index, the second tap's (the next pixel, or the same one at the far edge) and the second
/// tap's weight. (Chroma taps are these indices halved.)
#[derive(Debug, Default)]
struct Axis {
    first: Vec<usize>,
    second: Vec<usize>,
    weight: Vec<f32>,
}

impl Axis {
    /// Centre-aligned bilinear taps: output position `o` samples the source at
    /// `(o + 0.5)·source/output − 0.5`, clamped to the source (OpenCV's `INTER_LINEAR`).
    fn new(source: usize, output: usize) -> Self {
        let scale = source as f64 / output as f64;
        let mut axis = Self::default();
        for position in 0..output {
            let at = ((position as f64 + 0.5) * scale - 0.5).max(0.0);
            let mut first = at.floor() as usize;
            let mut weight = (at - first as f64) as f32;
            if first + 1 >= source {
                first = source - 1;
                weight = 0.0;
            }
            axis.first.push(first);
            axis.second.push((first + 1).min(source - 1));
            axis.weight.push(weight);
        }
        axis
    }
}

/// Reusable buffers of [`resize_to_rgb`]: the sampling plan of the last sizes seen and the
/// blended rows.
#[derive(Default)]
pub(crate) struct Scratch {
    sizes: Option<((usize, usize), (usize, usize))>,
    columns: Axis,
    rows: Axis,
    /// One source row of luma and chroma, blended between the two tap rows.
    luma_row: Vec<f32>,
    u_row: Vec<f32>,
    v_row: Vec<f32>,
    /// One output row of luma and chroma.
    y: Vec<f32>,
    u: Vec<f32>,
    v: Vec<f32>,
}

/// Appends the RGB24 rows of `frame` resized to `output` (width, height) to `out`: a
/// centre-aligned bilinear resize (see the module docs) of the frame converted to RGB at full size
/// with each pixel taking the chroma sample of its 2×2 block, computed as the conversion of the
/// taps' blended luma and chroma.
///
/// `false` (and nothing written) when the planes are smaller than `frame` says or a size is 0.
pub(crate) fn resize_to_rgb(
    frame: &Yuv420<'_>,
    output: (usize, usize),
    matrix: &YuvMatrix,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> bool {
    let (width, height) = output;
    if width == 0 || height == 0 || !planes_fit(frame) {
        return false;
    }
    let source = (frame.width, frame.height);
    if scratch.sizes != Some((source, output)) {
        scratch.columns = Axis::new(source.0, width);
        scratch.rows = Axis::new(source.1, height);
        scratch.sizes = Some((source, output));
    }
    let start = out.len();
    out.resize(start + width * height * 3, 0);
    let rows = &mut out[start..];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { resize_rows_avx2(frame, matrix, scratch, rows) };
        return true;
    }
    resize_rows(frame, matrix, scratch, rows);
    true
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn resize_rows_avx2(
    frame: &Yuv420<'_>,
    matrix: &YuvMatrix,
    scratch: &mut Scratch,
    out: &mut [u8],
) {
    resize_rows(frame, matrix, scratch, out);
}

/// The resize proper, into `out` (`width × height × 3` bytes, sizes from `scratch`'s plan).
/// Inlined into a baseline and an AVX2 copy.
#[inline(always)]
fn resize_rows(frame: &Yuv420<'_>, matrix: &YuvMatrix, scratch: &mut Scratch, out: &mut [u8]) {
    let chroma_width = frame.width.div_ceil(2);
    let Scratch {
        columns,
        rows,
        luma_row,
        u_row,
        v_row,
        y: ys,
        u: us,
        v: vs,
        ..
    } = scratch;
    let width = columns.first.len();
    luma_row.resize(frame.width, 0.0);
    u_row.resize(chroma_width, 0.0);
    v_row.resize(chroma_width, 0.0);
    for buffer in [&mut *ys, &mut *us, &mut *vs] {
        buffer.resize(width, 0.0);
    }
    let taps = || {
        columns
            .first
            .iter()
            .zip(&columns.second)
            .zip(&columns.weight)
    };
    for (row, out_row) in out.chunks_exact_mut(width * 3).enumerate() {
        let (top, bottom, weight) = (rows.first[row], rows.second[row], rows.weight[row]);
        let luma = |r: usize| &frame.y[r * frame.y_stride..][..frame.width];
        blend_rows(luma_row, luma(top), luma(bottom), weight);
        let u = |r: usize| &frame.u[r / 2 * frame.u_stride..][..chroma_width];
        blend_rows(u_row, u(top), u(bottom), weight);
        let v = |r: usize| &frame.v[r / 2 * frame.v_stride..][..chroma_width];
        blend_rows(v_row, v(top), v(bottom), weight);
        // Two taps per output pixel from the blended rows (chroma column = luma column / 2).
        let (luma_row, u_row, v_row) = (&luma_row[..], &u_row[..], &v_row[..]);
        for (((y, u), v), ((&left, &right), &weight)) in ys
            .iter_mut()
            .zip(us.iter_mut())
            .zip(vs.iter_mut())
            .zip(taps())
        {
            let blend = |row: &[f32], a: usize, b: usize| {
                debug_assert!(a < row.len() && b < row.len());
                // SAFETY: `Axis::new(frame.width, ..)` made every tap index below the source
                // width (the plan is rebuilt whenever the sizes change), `luma_row` holds
                // `frame.width` values and the chroma rows `ceil(frame.width / 2)`, so `a` and
                // `b` (a luma index, or one halved for the chroma rows) are in bounds.
                let (a, b) = unsafe { (*row.get_unchecked(a), *row.get_unchecked(b)) };
                a + weight * (b - a)
            };
            *y = blend(luma_row, left, right);
            *u = blend(u_row, left / 2, right / 2);
            *v = blend(v_row, left / 2, right / 2);
        }
        convert_row(matrix, ys, us, vs, out_row);
    }
}

/// RGB24 of one row of blended luma and chroma, with the matrix's rounding offsets, clipped to
/// 0..=255.
#[inline(always)]
fn convert_row(matrix: &YuvMatrix, ys: &[f32], us: &[f32], vs: &[f32], out: &mut [u8]) {
    let base = -matrix.y * matrix.y0;
    let r0 = base - matrix.rv * 128.0 + matrix.offset[0];
    let g0 = base + (matrix.gu + matrix.gv) * 128.0 + matrix.offset[1];
    let b0 = base - matrix.bu * 128.0 + matrix.offset[2];
    let (ky, rv, gu, gv, bu) = (matrix.y, matrix.rv, matrix.gu, matrix.gv, matrix.bu);
    for (((pixel, &y), &u), &v) in out
        .chunks_exact_mut(3)
        .zip(ys.iter())
        .zip(us.iter())
        .zip(vs.iter())
    {
        let luma = ky * y;
        pixel[0] = to_u8(luma + rv * v + r0);
        pixel[1] = to_u8(luma - gu * u - gv * v + g0);
        pixel[2] = to_u8(luma + bu * u + b0);
    }
}

/// `out[i] = a[i] + weight·(b[i] − a[i])` (one source row when `a` and `b` are the same row).
#[inline(always)]
fn blend_rows(out: &mut [f32], a: &[u8], b: &[u8], weight: f32) {
    if weight == 0.0 || std::ptr::eq(a, b) {
        for (o, &a) in out.iter_mut().zip(a) {
            *o = f32::from(a);
        }
        return;
    }
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        let a = f32::from(a);
        *o = a + weight * (f32::from(b) - a);
    }
}

/// Whether every row the conversion reads lies inside the planes.
fn planes_fit(frame: &Yuv420<'_>) -> bool {
    let chroma_width = frame.width.div_ceil(2);
    let chroma_height = frame.height.div_ceil(2);
    let fits = |plane: &[u8], stride: usize, width: usize, rows: usize| {
        stride >= width && plane.len() >= (rows - 1) * stride + width
    };
    frame.width > 0
        && frame.height > 0
        && fits(frame.y, frame.y_stride, frame.width, frame.height)
        && fits(frame.u, frame.u_stride, chroma_width, chroma_height)
        && fits(frame.v, frame.v_stride, chroma_width, chroma_height)
}

/// Rounds down to an integer clipped to 0..=255 (negative values clip to 0 either way); `value` is finite (a blend of 8-bit samples).
#[inline(always)]
fn to_u8(value: f32) -> u8 {
    // The unchecked cast vectorises (a saturating `f32 as u8` is done lane by lane); values here
    // stay within a few hundred of 0, far inside i32.
    debug_assert!(value.is_finite() && value.abs() < 1e6);
    // SAFETY: `value` is finite and within i32's range (see above).
    let integer = unsafe { value.to_int_unchecked::<i32>() };
    integer.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame with a pattern in every plane, and its full-size RGB conversion.
    struct Pattern {
        width: usize,
        height: usize,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    }

    impl Pattern {
        fn new(width: usize, height: usize, stride_pad: usize) -> Self {
            let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
            // Luma in 75..175 and chroma within 128 ± 28, so that no RGB value leaves 0..=255
            // (clipping before or after averaging would then differ).
            let plane = |w: usize, h: usize, seed: usize, low: usize, span: usize| {
                let stride = w + stride_pad;
                (0..h * stride)
                    .map(|i| {
                        let (r, c) = (i / stride, i % stride);
                        (low + (r * 7 + c * 13 + seed * 31 + (r * c) % 11) % span) as u8
                    })
                    .collect::<Vec<u8>>()
            };
            Self {
                width,
                height,
                y: plane(width, height, 1, 75, 100),
                u: plane(cw, ch, 2, 100, 56),
                v: plane(cw, ch, 3, 100, 56),
            }
        }

        fn frame(&self, stride_pad: usize) -> Yuv420<'_> {
            Yuv420 {
                y: &self.y,
                y_stride: self.width + stride_pad,
                u: &self.u,
                u_stride: self.width.div_ceil(2) + stride_pad,
                v: &self.v,
                v_stride: self.width.div_ceil(2) + stride_pad,
                width: self.width,
                height: self.height,
            }
        }

        /// Full-size RGB as f64, each pixel with its 2×2 block's chroma.
        fn rgb_at(&self, m: &YuvMatrix, stride_pad: usize, x: usize, y: usize) -> [f64; 3] {
            let f = self.frame(stride_pad);
            let luma = f64::from(f.y[y * f.y_stride + x]);
            let u = f64::from(f.u[y / 2 * f.u_stride + x / 2]) - 128.0;
            let v = f64::from(f.v[y / 2 * f.v_stride + x / 2]) - 128.0;
            let l = f64::from(m.y) * (luma - f64::from(m.y0));
            [
                l + f64::from(m.rv) * v,
                l - f64::from(m.gu) * u - f64::from(m.gv) * v,
                l + f64::from(m.bu) * u,
            ]
        }
    }

    /// Centre-aligned bilinear resize done the long way: full-size RGB (clipped), then each
    /// output pixel interpolated at source position (o + 0.5)·scale − 0.5, clamped to the frame.
    fn reference(p: &Pattern, m: &YuvMatrix, pad: usize, output: (usize, usize)) -> Vec<u8> {
        let (w, h) = output;
        let tap = |o: usize, source: usize, out: usize| {
            let at = ((o as f64 + 0.5) * source as f64 / out as f64 - 0.5).max(0.0);
            let first = (at.floor() as usize).min(source - 1);
            let weight = if first + 1 >= source {
                0.0
            } else {
                at - first as f64
            };
            (first, (first + 1).min(source - 1), weight)
        };
        let mut out = Vec::new();
        for oy in 0..h {
            for ox in 0..w {
                let (x0, x1, fx) = tap(ox, p.width, w);
                let (y0, y1, fy) = tap(oy, p.height, h);
                let mut rgb = [0.0; 3];
                for (y, wy) in [(y0, 1.0 - fy), (y1, fy)] {
                    for (x, wx) in [(x0, 1.0 - fx), (x1, fx)] {
                        let value = p.rgb_at(m, pad, x, y);
                        for c in 0..3 {
                            rgb[c] += wx * wy * value[c].clamp(0.0, 255.0);
                        }
                    }
                }
                out.extend(rgb.map(|c| c.round() as u8));
            }
        }
        out
    }

    #[test]
    fn matches_a_bilinear_resize_of_the_full_size_rgb() {
        for (width, height, output) in [
            (64, 34, (32, 17)),
            (60, 45, (20, 15)),
            (64, 48, (16, 12)),
            (80, 45, (16, 9)),
            (640, 272, (256, 109)),
            (33, 21, (13, 8)),
            (40, 30, (40, 30)),
            (20, 16, (30, 20)),
        ] {
            for full_range in [false, true] {
                let matrix = YuvMatrix::exact(0.2126, 0.0722, full_range);
                let pattern = Pattern::new(width, height, 5);
                let mut out = Vec::new();
                let mut scratch = Scratch::default();
                for _ in 0..2 {
                    out.clear();
                    assert!(resize_to_rgb(
                        &pattern.frame(5),
                        output,
                        &matrix,
                        &mut scratch,
                        &mut out
                    ));
                }
                let expected = reference(&pattern, &matrix, 5, output);
                assert_eq!(out.len(), expected.len());
                // Equal up to rounding (f32 blends against the f64 reference).
                let worst = out.iter().zip(&expected).map(|(a, b)| a.abs_diff(*b)).max();
                assert!(
                    worst <= Some(1),
                    "{width}x{height} to {output:?}: off by {worst:?}"
                );
                let exact = out.iter().zip(&expected).filter(|(a, b)| a == b).count();
                assert!(
                    exact * 10 > out.len() * 9,
                    "{width}x{height}: {exact} exact"
                );
            }
        }
    }

    #[test]
    fn flat_colours_convert_like_the_standard_matrices() {
        // Limited-range BT.601 white, black and pure-ish red.
        let matrix = YuvMatrix::exact(0.299, 0.114, false);
        for ((y, u, v), rgb) in [
            ((235, 128, 128), [255, 255, 255]),
            ((16, 128, 128), [0, 0, 0]),
            ((81, 90, 240), [255, 0, 0]),
        ] {
            let planes = (vec![y; 16], vec![u; 4], vec![v; 4]);
            let frame = Yuv420 {
                y: &planes.0,
                y_stride: 4,
                u: &planes.1,
                u_stride: 2,
                v: &planes.2,
                v_stride: 2,
                width: 4,
                height: 4,
            };
            let mut out = Vec::new();
            assert!(resize_to_rgb(
                &frame,
                (2, 2),
                &matrix,
                &mut Scratch::default(),
                &mut out
            ));
            assert_eq!(out.len(), 12);
            for pixel in out.chunks_exact(3) {
                for (got, want) in pixel.iter().zip(rgb) {
                    assert!(got.abs_diff(want) <= 1, "{pixel:?} vs {rgb:?}");
                }
            }
        }
    }

    /// FFmpeg's x86 converter on one pixel: 16-bit products of 8× the samples with 13-bit
    /// coefficients, each keeping the high half (limited-range BT.601).
    fn swscale_x86(y: i32, u: i32, v: i32) -> [u8; 3] {
        let high = |a: i32, b: i32| (a * b) >> 16;
        let luma = high(8 * y - 128, 9539);
        let (u, v) = (8 * u - 1024, 8 * v - 1024);
        [
            luma + high(v, 13075),
            luma + high(u, -3209) + high(v, -6660),
            luma + high(u, 16525),
        ]
        .map(|c| c.clamp(0, 255) as u8)
    }

    #[test]
    fn swscale_model_agrees_with_its_integer_converter_on_average() {
        let matrix = YuvMatrix::like_swscale(0.299, 0.114, false);
        let (mut total, mut count, mut worst) = (0u64, 0u64, 0u8);
        for y in (16..=235).step_by(3) {
            for u in (16..=240).step_by(5) {
                for v in (16..=240).step_by(5) {
                    let mut rgb = [0u8; 3];
                    let sample = |x: i32| [x as f32];
                    convert_row(&matrix, &sample(y), &sample(u), &sample(v), &mut rgb);
                    for (ours, theirs) in rgb.iter().zip(swscale_x86(y, u, v)) {
                        let d = ours.abs_diff(theirs);
                        worst = worst.max(d);
                        total += u64::from(d);
                        count += 1;
                    }
                }
            }
        }
        let mean = total as f64 / count as f64;
        // Truncated products fall 0-1 level from the model; the exact matrix is ~1.3 levels off.
        assert!(worst <= 1 && mean < 0.45, "worst {worst}, mean {mean}");
        let exact = YuvMatrix::exact(0.299, 0.114, false);
        let mut rgb = [0u8; 3];
        convert_row(&exact, &[100.0], &[60.0], &[200.0], &mut rgb);
        assert_ne!(rgb, swscale_x86(100, 60, 200));
    }

    #[test]
    fn taps_are_centre_aligned_and_clamped() {
        let axis = Axis::new(640, 256);
        // Output 0 samples 0.75, output 1 samples 3.25, the last one 638.75.
        assert_eq!(
            (axis.first[0], axis.second[0], axis.weight[0]),
            (0, 1, 0.75)
        );
        assert_eq!((axis.first[1], axis.weight[1]), (3, 0.25));
        assert_eq!((axis.first[255], axis.second[255]), (638, 639));
        // Upscaling clamps at both edges.
        let axis = Axis::new(4, 8);
        assert_eq!((axis.first[0], axis.weight[0]), (0, 0.0));
        assert_eq!((axis.first[7], axis.second[7], axis.weight[7]), (3, 3, 0.0));
    }

    #[test]
    fn short_planes_are_refused() {
        let pattern = Pattern::new(16, 16, 0);
        let mut frame = pattern.frame(0);
        frame.height = 18;
        let mut out = Vec::new();
        let matrix = YuvMatrix::exact(0.299, 0.114, false);
        assert!(!resize_to_rgb(
            &frame,
            (8, 9),
            &matrix,
            &mut Scratch::default(),
            &mut out
        ));
        assert!(!resize_to_rgb(
            &pattern.frame(0),
            (0, 9),
            &matrix,
            &mut Scratch::default(),
            &mut out
        ));
        assert!(out.is_empty());
    }
}
