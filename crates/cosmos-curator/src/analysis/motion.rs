//! Global motion between two luma frames: block matching on a two-level pyramid, then a
//! least-squares fit of a similarity motion model (translation, zoom, rotation) to the block
//! vectors, with one round of outlier rejection so that a moving subject does not pull the
//! camera estimate.
//!
//! Block matching: 8x8 blocks on the half-resolution level, searched exhaustively within
//! +/-[`COARSE_RADIUS`] pixels (so +/-8 pixels at analysis resolution, about 3% of a 256-pixel
//! width per frame); each vector is refined at full resolution within +/-1 pixel on a 16x16 block
//! and to a fraction of a pixel by a V-shaped fit through the neighbouring costs. Blocks without
//! texture are skipped: their best match is arbitrary.

use serde::{Deserialize, Serialize};

/// Search radius on the half-resolution level, in its pixels.
pub const COARSE_RADIUS: i32 = 4;
const COARSE_BLOCK: usize = 8;
const FINE_BLOCK: usize = 16;
/// A block whose luma varies less than this (mean absolute deviation) has no reliable match.
const MIN_TEXTURE: f32 = 3.0;

/// Camera motion between two frames, in fractions of the frame width per frame.
///
/// `tx`, `ty` are the motion of the image content (content moving left gives a negative `tx`,
/// which a camera panning right produces); `zoom` the relative scale change (positive: content
/// grows, the camera zooms in or moves forward); `rotation` the rotation in radians (positive:
/// clockwise on screen, y pointing down).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GlobalMotion {
    /// Whether enough textured blocks were found to fit the model.
    pub valid: bool,
    /// Horizontal translation of the content.
    pub tx: f32,
    /// Vertical translation of the content.
    pub ty: f32,
    /// Relative scale change per frame.
    pub zoom: f32,
    /// Rotation per frame, radians.
    pub rotation: f32,
    /// Mean length of the block vectors (all motion, camera and subject).
    pub magnitude: f32,
    /// Mean distance of the block vectors from the fitted model (motion the camera model does
    /// not explain: moving subjects, parallax, matching noise).
    pub residual: f32,
}

/// A luma image, row-major.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Luma {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` bytes.
    pub pixels: Vec<u8>,
}

impl Luma {
    #[inline]
    fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }

    /// The image at half size (2x2 means, odd last row/column dropped).
    pub fn half(&self) -> Luma {
        let (width, height) = (self.width / 2, self.height / 2);
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            let top = &self.pixels[2 * y * self.width..];
            let bottom = &self.pixels[(2 * y + 1) * self.width..];
            for x in 0..width {
                let sum = u16::from(top[2 * x])
                    + u16::from(top[2 * x + 1])
                    + u16::from(bottom[2 * x])
                    + u16::from(bottom[2 * x + 1]);
                pixels.push(((sum + 2) / 4) as u8);
            }
        }
        Luma {
            width,
            height,
            pixels,
        }
    }
}

/// Sum of absolute differences of the `size` x `size` block at `(x, y)` in `a` and at
/// `(x + dx, y + dy)` in `b`; the caller keeps both inside.
#[inline]
fn block_sad(a: &Luma, b: &Luma, x: usize, y: usize, dx: i32, dy: i32, size: usize) -> u32 {
    let bx = (x as i32 + dx) as usize;
    let by = (y as i32 + dy) as usize;
    let mut sum = 0u32;
    for row in 0..size {
        let ra = &a.pixels[(y + row) * a.width + x..][..size];
        let rb = &b.pixels[(by + row) * b.width + bx..][..size];
        sum += ra
            .iter()
            .zip(rb)
            .map(|(&p, &q)| u32::from(p.abs_diff(q)))
            .sum::<u32>();
    }
    sum
}

fn block_texture(image: &Luma, x: usize, y: usize, size: usize) -> f32 {
    let mut sum = 0u32;
    for row in 0..size {
        for col in 0..size {
            sum += u32::from(image.at(x + col, y + row));
        }
    }
    let mean = sum as f32 / (size * size) as f32;
    let mut deviation = 0.0f32;
    for row in 0..size {
        for col in 0..size {
            deviation += (f32::from(image.at(x + col, y + row)) - mean).abs();
        }
    }
    deviation / (size * size) as f32
}

/// One block's motion: position of its centre and the content's displacement, full-resolution
/// pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BlockVector {
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
}

/// Estimates the global motion from `previous` to `current` (same size; both full analysis
/// resolution, with their half-resolution levels).
pub fn estimate(
    previous: &Luma,
    previous_half: &Luma,
    current: &Luma,
    current_half: &Luma,
) -> GlobalMotion {
    if previous.width != current.width || previous.height != current.height || current.width == 0 {
        return GlobalMotion::default();
    }
    let vectors = block_vectors(previous, previous_half, current, current_half);
    fit_similarity(&vectors, current.width as f32, current.height as f32)
}

fn block_vectors(
    previous: &Luma,
    previous_half: &Luma,
    current: &Luma,
    current_half: &Luma,
) -> Vec<BlockVector> {
    let r = COARSE_RADIUS;
    let (w1, h1) = (current_half.width as i32, current_half.height as i32);
    let block = COARSE_BLOCK as i32;
    let mut vectors = Vec::new();
    let mut y = r;
    while y + block + r <= h1 {
        let mut x = r;
        while x + block + r <= w1 {
            let (bx, by) = (x as usize, y as usize);
            if block_texture(current_half, bx, by, COARSE_BLOCK) >= MIN_TEXTURE {
                // Where in the previous frame did this block of the current frame come from?
                let mut best = (u32::MAX, 0, 0);
                for dy in -r..=r {
                    for dx in -r..=r {
                        let cost =
                            block_sad(current_half, previous_half, bx, by, dx, dy, COARSE_BLOCK);
                        // Ties prefer the smaller displacement, so a flat match stays at zero.
                        if cost < best.0
                            || (cost == best.0
                                && dx * dx + dy * dy < best.1 * best.1 + best.2 * best.2)
                        {
                            best = (cost, dx, dy);
                        }
                    }
                }
                if let Some(vector) =
                    refine(previous, current, bx * 2, by * 2, best.1 * 2, best.2 * 2)
                {
                    vectors.push(vector);
                }
            }
            x += block;
        }
        y += block;
    }
    vectors
}

/// Refines a coarse displacement at full resolution: integer search within +/-1, then a V fit
/// through the costs on each axis. Returns the content motion (minus the displacement).
fn refine(
    previous: &Luma,
    current: &Luma,
    x: usize,
    y: usize,
    dx0: i32,
    dy0: i32,
) -> Option<BlockVector> {
    let size = FINE_BLOCK;
    let (w, h) = (current.width as i32, current.height as i32);
    let fits = |dx: i32, dy: i32| {
        let (bx, by) = (x as i32 + dx, y as i32 + dy);
        bx >= 0 && by >= 0 && bx + size as i32 <= w && by + size as i32 <= h
    };
    if x + size > current.width || y + size > current.height {
        return None;
    }
    let cost = |dx: i32, dy: i32| {
        fits(dx, dy).then(|| block_sad(current, previous, x, y, dx, dy, size) as f32)
    };
    let mut best = (f32::MAX, dx0, dy0);
    for dy in dy0 - 1..=dy0 + 1 {
        for dx in dx0 - 1..=dx0 + 1 {
            if let Some(c) = cost(dx, dy)
                && (c < best.0
                    || (c == best.0 && dx * dx + dy * dy < best.1 * best.1 + best.2 * best.2))
            {
                best = (c, dx, dy);
            }
        }
    }
    if best.0 == f32::MAX {
        return None;
    }
    let (c0, bdx, bdy) = best;
    // Sub-pixel offset by fitting a symmetric V through the three costs on each axis (SAD grows
    // linearly with a small shift, so a V fits it better than a parabola). A perfect match is
    // taken as exact.
    let sub = |minus: Option<f32>, plus: Option<f32>| match (minus, plus) {
        (Some(m), Some(p)) if c0 > 0.0 => {
            let slope = m.max(p) - c0;
            if slope > 0.0 {
                (0.5 * (m - p) / slope).clamp(-0.5, 0.5)
            } else {
                0.0
            }
        }
        _ => 0.0,
    };
    let fx = sub(cost(bdx - 1, bdy), cost(bdx + 1, bdy));
    let fy = sub(cost(bdx, bdy - 1), cost(bdx, bdy + 1));
    let half = size as f32 / 2.0;
    Some(BlockVector {
        x: x as f32 + half,
        y: y as f32 + half,
        vx: -(bdx as f32 + fx),
        vy: -(bdy as f32 + fy),
    })
}

/// Least-squares similarity fit `v = t + zoom * p + rotation * perp(p)` with `p` relative to the
/// frame centre, repeated once without the vectors that disagree most with the first fit.
fn fit_similarity(vectors: &[BlockVector], width: f32, height: f32) -> GlobalMotion {
    const MIN_VECTORS: usize = 4;
    if vectors.len() < MIN_VECTORS {
        return GlobalMotion::default();
    }
    let scale = 1.0 / width;
    let points: Vec<[f32; 4]> = vectors
        .iter()
        .map(|v| {
            [
                (v.x - width / 2.0) * scale,
                (v.y - height / 2.0) * scale,
                v.vx * scale,
                v.vy * scale,
            ]
        })
        .collect();
    let magnitude = points.iter().map(|p| p[2].hypot(p[3])).sum::<f32>() / points.len() as f32;
    let Some(first) = solve_similarity(points.iter()) else {
        return GlobalMotion::default();
    };
    let residuals: Vec<f32> = points.iter().map(|p| residual(&first, p)).collect();
    let mut sorted = residuals.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    // Half a pixel of disagreement is matching noise, not an outlier.
    let limit = (2.5 * median).max(0.5 * scale);
    let inliers: Vec<&[f32; 4]> = points
        .iter()
        .zip(&residuals)
        .filter(|(_, r)| **r <= limit)
        .map(|(p, _)| p)
        .collect();
    let model = if inliers.len() >= MIN_VECTORS {
        solve_similarity(inliers.into_iter()).unwrap_or(first)
    } else {
        first
    };
    let mean_residual =
        points.iter().map(|p| residual(&model, p)).sum::<f32>() / points.len() as f32;
    GlobalMotion {
        valid: true,
        tx: model[0],
        ty: model[1],
        zoom: model[2],
        rotation: model[3],
        magnitude,
        residual: mean_residual,
    }
}

fn residual(model: &[f32; 4], p: &[f32; 4]) -> f32 {
    let [tx, ty, s, r] = *model;
    let ex = tx + s * p[0] - r * p[1];
    let ey = ty + s * p[1] + r * p[0];
    (p[2] - ex).hypot(p[3] - ey)
}

/// Normal equations of the 4-parameter fit, solved by Gaussian elimination in f64.
fn solve_similarity<'a>(points: impl Iterator<Item = &'a [f32; 4]>) -> Option<[f32; 4]> {
    let mut ata = [[0.0f64; 4]; 4];
    let mut atb = [0.0f64; 4];
    for p in points {
        let (x, y, vx, vy) = (
            f64::from(p[0]),
            f64::from(p[1]),
            f64::from(p[2]),
            f64::from(p[3]),
        );
        // Rows of the design matrix for the x and y equations: [1, 0, x, -y] and [0, 1, y, x].
        for (row, target) in [([1.0, 0.0, x, -y], vx), ([0.0, 1.0, y, x], vy)] {
            for i in 0..4 {
                for j in 0..4 {
                    ata[i][j] += row[i] * row[j];
                }
                atb[i] += row[i] * target;
            }
        }
    }
    let solution = solve4(ata, atb)?;
    Some(solution.map(|v| v as f32))
}

fn solve4(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let pivot = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..4 {
            let factor = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (target, pivot) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *target -= factor * pivot;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0; 4];
    for row in (0..4).rev() {
        let tail: f64 = (row + 1..4).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth random-looking texture sampled at real coordinates (bilinear), so that shifts and
    /// zooms by fractions of a pixel can be synthesised.
    fn texture(x: f32, y: f32) -> f32 {
        let f = |x: f32, y: f32| {
            (x * 0.31).sin() * 40.0
                + (y * 0.23).cos() * 40.0
                + ((x + 2.0 * y) * 0.11).sin() * 30.0
                + 128.0
        };
        f(x, y) + ((x * 0.9 + y * 0.7).sin() * 20.0)
    }

    fn render(width: usize, height: usize, transform: impl Fn(f32, f32) -> (f32, f32)) -> Luma {
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let (sx, sy) = transform(x as f32, y as f32);
                pixels.push(texture(sx, sy).clamp(0.0, 255.0) as u8);
            }
        }
        Luma {
            width,
            height,
            pixels,
        }
    }

    fn motion(a: &Luma, b: &Luma) -> GlobalMotion {
        estimate(a, &a.half(), b, &b.half())
    }

    #[test]
    fn identical_frames_have_no_motion() {
        let frame = render(256, 144, |x, y| (x, y));
        let m = motion(&frame, &frame);
        assert!(m.valid);
        assert!(
            m.magnitude.abs() < 1e-6 && m.tx.abs() < 1e-6 && m.zoom.abs() < 1e-6,
            "{m:?}"
        );
    }

    #[test]
    fn translation_is_recovered_to_a_fraction_of_a_pixel() {
        let a = render(256, 144, |x, y| (x, y));
        // Content moves 3.4 px right and 1.5 px up: the new pixel at x shows old content at x - 3.4.
        let b = render(256, 144, |x, y| (x - 3.4, y + 1.5));
        let m = motion(&a, &b);
        assert!((m.tx * 256.0 - 3.4).abs() < 0.35, "{m:?}");
        assert!((m.ty * 256.0 + 1.5).abs() < 0.35, "{m:?}");
        assert!(m.zoom.abs() < 0.004, "{m:?}");
    }

    #[test]
    fn zoom_is_recovered() {
        let a = render(256, 144, |x, y| (x, y));
        // Zoom in by 2%: content expands about the centre.
        let b = render(256, 144, |x, y| {
            (128.0 + (x - 128.0) / 1.02, 72.0 + (y - 72.0) / 1.02)
        });
        let m = motion(&a, &b);
        assert!((m.zoom - 0.02).abs() < 0.006, "{m:?}");
        assert!(
            m.tx.abs() * 256.0 < 0.5 && m.ty.abs() * 256.0 < 0.5,
            "{m:?}"
        );
    }
}
