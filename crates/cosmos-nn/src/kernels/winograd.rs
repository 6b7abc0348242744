//! Winograd F(2×2, 3×3) for the `(1, 3, 3)` convolutions (stride 1, zero padding 1) that
//! dominate the tokenizers' cost (Lavin & Gray, "Fast Algorithms for Convolutional Neural
//! Networks", 2016), as a fused CPU kernel for the flex backend.
//!
//! Why hand-written: burn-flex has no Winograd path; it runs every convolution as im2col + GEMM,
//! which materialises a 9× larger operand and does 2.25× the multiply-adds (see
//! [`super::conv`]). (Moved from `cosmos-tokenizer`.)
//!
//! Each 2×2 output tile comes from a 4×4 input tile: `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, so the
//! 36 multiply-adds per tile and channel pair of a direct 3×3 convolution become 16, done as
//! 16 matrix products `[cout, cin] × [cin, tiles]`; the transforms are additions. The
//! transform coefficients are 0, ±1 and ±½, so the result differs from the direct
//! convolution only by float reordering (~1e-6 relative).
//!
//! The work is split into `(batch, frame, block of tile rows)` items run in parallel; each item
//! transforms its input tiles into a scratch operand `[16, cin, tiles]`, runs the 16 GEMMs
//! into `[16, cout, tiles]` and writes the inverse transform plus bias straight into the
//! output. Scratch memory is bounded by the block (a few MB per thread), nothing input-sized
//! is materialised besides the output.

use burn::tensor::Tensor;

use super::flex::{Host, Mat, OutPtr, gemm, new_tensor, zeroed};

/// The Winograd tile: F(2×2, 3×3) (4×4 input tiles, 16 GEMMs per 4 outputs) or
/// F(4×4, 3×3) (6×6 input tiles, 36 GEMMs per 16 outputs: 4× fewer multiply-adds than direct,
/// transforms with coefficients up to 5 and ⅙, ~1e-6 relative error in f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// F(2×2, 3×3).
    F2,
    /// F(4×4, 3×3).
    F4,
}

impl Tile {
    /// Output pixels per tile side.
    fn out(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Input pixels per tile side.
    fn alpha(self) -> usize {
        self.out() + 2
    }
}

/// The tile the CPU path uses: F(2×2, 3×3) unless `COSMOS_WINOGRAD=4` asks for F(4×4, 3×3);
/// `COSMOS_WINOGRAD=0` turns the Winograd path off (burn's convolution). The older name
/// `COSMOS_TOKENIZER_WINOGRAD` is read when `COSMOS_WINOGRAD` is not set. F(4×4) does 1.8× fewer multiply-adds but measured 8–10 % slower on CV8x8x8
/// (its 36 GEMMs per block run on fewer tiles each, so gemm's packing of the transformed
/// weights weighs more, and its transforms cost twice as much) and is 1.5× less accurate.
pub fn default_tile() -> Option<Tile> {
    static TILE: std::sync::OnceLock<Option<Tile>> = std::sync::OnceLock::new();
    *TILE.get_or_init(|| {
        match std::env::var("COSMOS_WINOGRAD")
            .or_else(|_| std::env::var("COSMOS_TOKENIZER_WINOGRAD"))
            .as_deref()
        {
            Ok("0") => None,
            Ok("4") => Some(Tile::F4),
            _ => Some(Tile::F2),
        }
    })
}

/// `(1, 3, 3)` convolution, stride 1, zero padding 1, of `x: [b, cin, t, h, w]` (any `h`,
/// `w`) with `weight: [cout, cin, 1, 3, 3]` and an optional bias. Flex f32 tensors only
/// (checked by the caller, [`super::conv::causal_conv`]).
pub fn conv3x3(x: Tensor<5>, weight: Tensor<5>, bias: Option<Tensor<1>>, tile: Tile) -> Tensor<5> {
    use rayon::prelude::*;

    let [b, cin, t, h, w] = x.dims();
    let cout = weight.dims()[0];
    let (r, alpha) = (tile.out(), tile.alpha());
    let k2 = alpha * alpha;
    let (th, tw) = (h.div_ceil(r), w.div_ceil(r));
    let hw = h * w;
    // Whole rows of tiles per work item, about `tile_block` tiles.
    let rows_per_item = (tile_block(k2, cin.max(cout)) / tw).clamp(1, th);
    let blocks = th.div_ceil(rows_per_item);
    // Balanced: blocks of equal height (the last one at most one row shorter).
    let rows_per_item = th.div_ceil(blocks);
    let block = rows_per_item * tw;
    let frames = b * t;
    // Few frames and blocks (low resolutions): split the output channels too, so every thread
    // has work (each part transforms the input again, a small cost next to its GEMMs).
    let threads = rayon::current_num_threads().max(1);
    let mut parts = 1;
    while frames * blocks * parts < 4 * threads && cout / (2 * parts) >= 64 {
        parts *= 2;
    }
    let part_len = cout.div_ceil(parts);
    let wp = r * (tw + 1);

    let x = Host::new(x);
    let weight = Host::new(weight);
    let bias = bias.map(Host::new);
    let xd = x.data();
    let bd = bias.as_ref().map(|b| b.data());
    let u = match tile {
        Tile::F2 => weight_transform(weight.data(), cout, cin),
        Tile::F4 => weight_transform4(weight.data(), cout, cin),
    };
    let u = &u;

    let mut out = zeroed(b * cout * t * hw);
    let out_ptr = OutPtr(out.as_mut_ptr());
    (0..frames * blocks * parts)
        .into_par_iter()
        .for_each(|item| {
            SCRATCH.with_borrow_mut(|buffers| {
                let [v, m, scratch] = buffers;
                for (buffer, len) in [
                    (&mut *v, k2 * cin * block),
                    (&mut *m, k2 * part_len * block),
                    (&mut *scratch, 16 * wp),
                ] {
                    if buffer.len() < len {
                        buffer.resize(len, 0.0);
                    }
                }
                let (frame, rest) = (item / (blocks * parts), item % (blocks * parts));
                let (blk, part) = (rest / parts, rest % parts);
                let (bi, ti) = (frame / t, frame % t);
                let i0 = blk * rows_per_item;
                let i1 = (i0 + rows_per_item).min(th);
                let n = (i1 - i0) * tw;
                let co0 = part * part_len;
                let co1 = (co0 + part_len).min(cout);
                if co0 >= co1 {
                    return;
                }
                // Input transform: V[k][ci][tile] = (Bᵀ d B)[k] of the tile's patch.
                for ci in 0..cin {
                    let plane = &xd[((bi * cin + ci) * t + ti) * hw..][..hw];
                    let v = &mut v[ci * block..];
                    match tile {
                        Tile::F2 => {
                            input_transform(plane, h, w, tw, i0, i1, v, cin * block, scratch)
                        }
                        Tile::F4 => {
                            input_transform4(plane, h, w, tw, i0, i1, v, cin * block, scratch)
                        }
                    }
                }
                for k in 0..k2 {
                    gemm(
                        &mut m[k * part_len * block..],
                        block,
                        [co1 - co0, n, cin],
                        Mat::rows(&u[k * cout * cin + co0 * cin..], cin),
                        Mat::rows(&v[k * cin * block..], block),
                        false,
                        0.0,
                        1.0,
                        false,
                    );
                }
                // Output transform and bias, written into the item's own rows of the output.
                for co in co0..co1 {
                    let bias = bd.map_or(0.0, |b| b[co]);
                    // SAFETY: the plane `(bi, co, ti)` lies inside `out`; this item writes only
                    // rows `r·i0 .. r·i1` of it, which no other item covers.
                    let plane = unsafe {
                        std::slice::from_raw_parts_mut(
                            out_ptr.get().add(((bi * cout + co) * t + ti) * hw),
                            hw,
                        )
                    };
                    let m = &m[(co - co0) * block..];
                    let stride = part_len * block;
                    match tile {
                        Tile::F2 => {
                            output_transform(m, stride, plane, h, w, tw, i0, i1, bias, scratch)
                        }
                        Tile::F4 => {
                            output_transform4(m, stride, plane, h, w, tw, i0, i1, bias, scratch)
                        }
                    }
                }
            })
        });
    new_tensor(out, [b, cout, t, h, w])
}

thread_local! {
    /// Each worker thread's transform operands and row scratch, kept across calls: fresh
    /// multi-megabyte buffers per work item cost more in page faults than their GEMMs.
    static SCRATCH: std::cell::RefCell<[Vec<f32>; 3]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()])
    };
}

/// Tiles per work item: the item's scratch `[k2, channels, tiles]` stays around 4 MB.
fn tile_block(k2: usize, channels: usize) -> usize {
    ((1 << 20) / (k2 * channels.max(1))).clamp(16, 1024)
}

/// `G g Gᵀ` of every 3×3 kernel of `weight: [cout, cin, 1, 3, 3]` as `[16, cout, cin]`
/// (index `4·u + v` for row `u`, column `v` of the 4×4 transform).
fn weight_transform(weight: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut u = vec![0f32; 16 * cout * cin];
    let plane = cout * cin;
    let ptr = OutPtr(u.as_mut_ptr());
    (0..cout).into_par_iter().for_each(|co| {
        for ci in 0..cin {
            let g = &weight[(co * cin + ci) * 9..][..9];
            // G g (4×3), column by column.
            let mut a = [[0f32; 3]; 4];
            for c in 0..3 {
                let (x0, x1, x2) = (g[c], g[3 + c], g[6 + c]);
                a[0][c] = x0;
                a[1][c] = 0.5 * (x0 + x1 + x2);
                a[2][c] = 0.5 * (x0 - x1 + x2);
                a[3][c] = x2;
            }
            // (G g) Gᵀ, row by row.
            for (r, ar) in a.iter().enumerate() {
                let (x0, x1, x2) = (ar[0], ar[1], ar[2]);
                let row = [x0, 0.5 * (x0 + x1 + x2), 0.5 * (x0 - x1 + x2), x2];
                for (v, value) in row.into_iter().enumerate() {
                    // SAFETY: index < 16·cout·cin; each (co, ci) pair is written by one worker.
                    unsafe { *ptr.get().add((4 * r + v) * plane + co * cin + ci) = value };
                }
            }
        }
    });
    u
}

crate::vectorized! {
/// `Bᵀ d B` of the 4×4 patches of tile rows `i0..i1` of one channel plane `[h, w]` (zero
/// outside), written to `v[k·stride + local]` for transform index `k` and local tile index
/// `local = (i − i0)·tw + j`. Works on whole padded rows so the loops run along the tiles of a
/// row with unit strides (`scratch`: at least `6·2(tw + 1)`).
#[allow(clippy::too_many_arguments)]
fn input_transform(
    plane: &[f32],
    h: usize,
    w: usize,
    tw: usize,
    i0: usize,
    i1: usize,
    v: &mut [f32],
    stride: usize,
    scratch: &mut [f32],
) {
    let wp = 2 * (tw + 1);
    let (pad, rest) = scratch.split_at_mut(4 * wp);
    let (even, rest) = rest.split_at_mut(tw + 1);
    let odd = &mut rest[..tw + 1];
    for i in i0..i1 {
        // The 4 input rows 2i − 1 .. 2i + 2 of this tile row, columns −1 .. wp − 1.
        for r in 0..4 {
            let dst = &mut pad[r * wp..(r + 1) * wp];
            let y = (2 * i + r) as isize - 1;
            if y < 0 || y >= h as isize {
                dst.fill(0.0);
            } else {
                dst[0] = 0.0;
                dst[1..1 + w].copy_from_slice(&plane[y as usize * w..][..w]);
                dst[1 + w..].fill(0.0);
            }
        }
        let local0 = (i - i0) * tw;
        // Row u of Bᵀ d is `rows[a] + sign·rows[b]`.
        for (u, (a, bb, sign)) in [(0, 2, -1.0f32), (1, 2, 1.0), (2, 1, -1.0), (1, 3, -1.0)]
            .into_iter()
            .enumerate()
        {
            let ra = &pad[a * wp..(a + 1) * wp];
            let rb = &pad[bb * wp..(bb + 1) * wp];
            for j in 0..=tw {
                even[j] = ra[2 * j] + sign * rb[2 * j];
                odd[j] = ra[2 * j + 1] + sign * rb[2 * j + 1];
            }
            // Columns of tile j: even[j], odd[j], even[j + 1], odd[j + 1].
            let base = 4 * u * stride + local0;
            let (v0, rest) = v[base..].split_at_mut(stride);
            let (v1, rest) = rest.split_at_mut(stride);
            let (v2, v3) = rest.split_at_mut(stride);
            for j in 0..tw {
                v0[j] = even[j] - even[j + 1];
                v1[j] = odd[j] + even[j + 1];
                v2[j] = even[j + 1] - odd[j];
                v3[j] = odd[j] - odd[j + 1];
            }
        }
    }
}
}

crate::vectorized! {
/// `Aᵀ m A + bias` of tile rows `i0..i1` (`m[k·stride + local]`, local tile index as in
/// [`input_transform`]), written into rows `2·i0 ..` of one output plane `[h, w]` (pixels
/// beyond the plane dropped; `scratch`: at least `4·tw`).
#[allow(clippy::too_many_arguments)]
fn output_transform(
    m: &[f32],
    stride: usize,
    plane: &mut [f32],
    h: usize,
    w: usize,
    tw: usize,
    i0: usize,
    i1: usize,
    bias: f32,
    scratch: &mut [f32],
) {
    let (top, rest) = scratch.split_at_mut(2 * tw);
    let bottom = &mut rest[..2 * tw];
    for i in i0..i1 {
        let local0 = (i - i0) * tw;
        let row = |k: usize| &m[k * stride + local0..][..tw];
        let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3));
        let (m4, m5, m6, m7) = (row(4), row(5), row(6), row(7));
        let (m8, m9, m10, m11) = (row(8), row(9), row(10), row(11));
        let (m12, m13, m14, m15) = (row(12), row(13), row(14), row(15));
        for j in 0..tw {
            // Aᵀ along u: s = rows 0 + 1 + 2, d = rows 1 − 2 − 3, for each column v.
            let s0 = m0[j] + m4[j] + m8[j];
            let s1 = m1[j] + m5[j] + m9[j];
            let s2 = m2[j] + m6[j] + m10[j];
            let s3 = m3[j] + m7[j] + m11[j];
            let d0 = m4[j] - m8[j] - m12[j];
            let d1 = m5[j] - m9[j] - m13[j];
            let d2 = m6[j] - m10[j] - m14[j];
            let d3 = m7[j] - m11[j] - m15[j];
            top[2 * j] = s0 + s1 + s2 + bias;
            top[2 * j + 1] = s1 - s2 - s3 + bias;
            bottom[2 * j] = d0 + d1 + d2 + bias;
            bottom[2 * j + 1] = d1 - d2 - d3 + bias;
        }
        let y = 2 * i;
        plane[y * w..(y + 1) * w].copy_from_slice(&top[..w]);
        if y + 1 < h {
            plane[(y + 1) * w..(y + 2) * w].copy_from_slice(&bottom[..w]);
        }
    }
}
}

/// `G g Gᵀ` (6×6) of every 3×3 kernel of `weight: [cout, cin, 1, 3, 3]` as `[36, cout, cin]`
/// (index `6·u + v`) for F(4×4, 3×3), interpolation points 0, ±1, ±2 and ∞.
fn weight_transform4(weight: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut u = vec![0f32; 36 * cout * cin];
    let plane = cout * cin;
    let ptr = OutPtr(u.as_mut_ptr());
    // G applied to a column (x0, x1, x2).
    let g = |x0: f32, x1: f32, x2: f32| {
        [
            x0 / 4.0,
            -(x0 + x1 + x2) / 6.0,
            -(x0 - x1 + x2) / 6.0,
            x0 / 24.0 + x1 / 12.0 + x2 / 6.0,
            x0 / 24.0 - x1 / 12.0 + x2 / 6.0,
            x2,
        ]
    };
    (0..cout).into_par_iter().for_each(|co| {
        for ci in 0..cin {
            let k = &weight[(co * cin + ci) * 9..][..9];
            // G k (6×3), column by column.
            let mut a = [[0f32; 3]; 6];
            for c in 0..3 {
                for (row, value) in g(k[c], k[3 + c], k[6 + c]).into_iter().enumerate() {
                    a[row][c] = value;
                }
            }
            // (G k) Gᵀ, row by row.
            for (row, ar) in a.iter().enumerate() {
                for (v, value) in g(ar[0], ar[1], ar[2]).into_iter().enumerate() {
                    // SAFETY: index < 36·cout·cin; each (co, ci) pair is written by one worker.
                    unsafe { *ptr.get().add((6 * row + v) * plane + co * cin + ci) = value };
                }
            }
        }
    });
    u
}

crate::vectorized! {
/// F(4×4, 3×3) input transform `Bᵀ d B` of the 6×6 patches of tile rows `i0..i1` of one
/// channel plane `[h, w]` (zero outside), written to `v[k·stride + local]` (`k = 6·u + v`,
/// `local = (i − i0)·tw + j`); `scratch`: at least `16·4(tw + 1)`.
#[allow(clippy::too_many_arguments)]
fn input_transform4(
    plane: &[f32],
    h: usize,
    w: usize,
    tw: usize,
    i0: usize,
    i1: usize,
    v: &mut [f32],
    stride: usize,
    scratch: &mut [f32],
) {
    let wp = 4 * (tw + 1);
    let (pad, rest) = scratch.split_at_mut(6 * wp);
    let (rows, rest) = rest.split_at_mut(6 * wp);
    let (e, _) = rest.split_at_mut(4 * (tw + 1));
    for i in i0..i1 {
        // The 6 input rows 4i − 1 .. 4i + 4 of this tile row, columns −1 .. wp − 1.
        for r in 0..6 {
            let dst = &mut pad[r * wp..(r + 1) * wp];
            let y = (4 * i + r) as isize - 1;
            if y < 0 || y >= h as isize {
                dst.fill(0.0);
            } else {
                dst[0] = 0.0;
                dst[1..1 + w].copy_from_slice(&plane[y as usize * w..][..w]);
                dst[1 + w..].fill(0.0);
            }
        }
        // Bᵀ along the rows, whole padded rows at a time.
        let d: [&[f32]; 6] = std::array::from_fn(|r| &pad[r * wp..(r + 1) * wp]);
        for (u, out) in rows.chunks_exact_mut(wp).enumerate() {
            let [d0, d1, d2, d3, d4, d5] = d;
            match u {
                0 => for x in 0..wp { out[x] = 4.0 * d0[x] - 5.0 * d2[x] + d4[x] },
                1 => for x in 0..wp { out[x] = -4.0 * (d1[x] + d2[x]) + d3[x] + d4[x] },
                2 => for x in 0..wp { out[x] = 4.0 * (d1[x] - d2[x]) - d3[x] + d4[x] },
                3 => for x in 0..wp { out[x] = 2.0 * (d3[x] - d1[x]) - d2[x] + d4[x] },
                4 => for x in 0..wp { out[x] = 2.0 * (d1[x] - d3[x]) - d2[x] + d4[x] },
                _ => for x in 0..wp { out[x] = 4.0 * d1[x] - 5.0 * d3[x] + d5[x] },
            }
        }
        let local0 = (i - i0) * tw;
        for u in 0..6 {
            let t = &rows[u * wp..(u + 1) * wp];
            // Columns 4j + p of the transformed row, p = 0..3.
            for j in 0..=tw {
                for p in 0..4 {
                    e[p * (tw + 1) + j] = t[4 * j + p];
                }
            }
            let (e0, rest) = e.split_at(tw + 1);
            let (e1, rest) = rest.split_at(tw + 1);
            let (e2, e3) = rest.split_at(tw + 1);
            // Tile j's columns: e0[j], e1[j], e2[j], e3[j], e0[j + 1], e1[j + 1].
            for k in 0..6 {
                let dst = &mut v[(6 * u + k) * stride + local0..][..tw];
                match k {
                    0 => for j in 0..tw { dst[j] = 4.0 * e0[j] - 5.0 * e2[j] + e0[j + 1] },
                    1 => for j in 0..tw { dst[j] = -4.0 * (e1[j] + e2[j]) + e3[j] + e0[j + 1] },
                    2 => for j in 0..tw { dst[j] = 4.0 * (e1[j] - e2[j]) - e3[j] + e0[j + 1] },
                    3 => for j in 0..tw { dst[j] = 2.0 * (e3[j] - e1[j]) - e2[j] + e0[j + 1] },
                    4 => for j in 0..tw { dst[j] = 2.0 * (e1[j] - e3[j]) - e2[j] + e0[j + 1] },
                    _ => for j in 0..tw { dst[j] = 4.0 * e1[j] - 5.0 * e3[j] + e1[j + 1] },
                }
            }
        }
    }
}
}

crate::vectorized! {
/// F(4×4, 3×3) output transform `Aᵀ m A + bias` of tile rows `i0..i1` (`m[k·stride + local]`),
/// written into rows `4·i0 ..` of one output plane `[h, w]` (pixels beyond it dropped);
/// `scratch`: at least `16·tw`.
#[allow(clippy::too_many_arguments)]
fn output_transform4(
    m: &[f32],
    stride: usize,
    plane: &mut [f32],
    h: usize,
    w: usize,
    tw: usize,
    i0: usize,
    i1: usize,
    bias: f32,
    scratch: &mut [f32],
) {
    let (y0, rest) = scratch.split_at_mut(4 * tw);
    let (y1, rest) = rest.split_at_mut(4 * tw);
    let (y2, rest) = rest.split_at_mut(4 * tw);
    let y3 = &mut rest[..4 * tw];
    for i in i0..i1 {
        let local0 = (i - i0) * tw;
        let mm: [&[f32]; 36] = std::array::from_fn(|k| &m[k * stride + local0..][..tw]);
        for j in 0..tw {
            // Aᵀ along u, for each column v.
            let mut s = [[0f32; 6]; 4];
            for v in 0..6 {
                let (a0, a1, a2, a3, a4, a5) = (
                    mm[v][j],
                    mm[6 + v][j],
                    mm[12 + v][j],
                    mm[18 + v][j],
                    mm[24 + v][j],
                    mm[30 + v][j],
                );
                s[0][v] = a0 + a1 + a2 + a3 + a4;
                s[1][v] = a1 - a2 + 2.0 * (a3 - a4);
                s[2][v] = a1 + a2 + 4.0 * (a3 + a4);
                s[3][v] = a1 - a2 + 8.0 * (a3 - a4) + a5;
            }
            for (row, sr) in [&mut *y0, &mut *y1, &mut *y2, &mut *y3].into_iter().zip(&s) {
                row[4 * j] = sr[0] + sr[1] + sr[2] + sr[3] + sr[4] + bias;
                row[4 * j + 1] = sr[1] - sr[2] + 2.0 * (sr[3] - sr[4]) + bias;
                row[4 * j + 2] = sr[1] + sr[2] + 4.0 * (sr[3] + sr[4]) + bias;
                row[4 * j + 3] = sr[1] - sr[2] + 8.0 * (sr[3] - sr[4]) + sr[5] + bias;
            }
        }
        for (a, row) in [&*y0, &*y1, &*y2, &*y3].into_iter().enumerate() {
            let y = 4 * i + a;
            if y < h {
                plane[y * w..(y + 1) * w].copy_from_slice(&row[..w]);
            }
        }
    }
}
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::module::conv3d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn matches_burns_convolution() {
        let d = Device::flex();
        for (shape, cout, with_bias) in [
            ([1, 3, 2, 4, 6], 5, true),
            ([2, 8, 3, 8, 2], 4, false),
            ([1, 16, 1, 10, 12], 16, true),
            ([1, 5, 2, 7, 9], 3, true),
            ([2, 130, 2, 5, 3], 70, true),
            ([1, 4, 1, 1, 1], 2, true),
            ([1, 3, 2, 13, 18], 7, true),
            ([1, 200, 3, 16, 16], 160, true),
        ] {
            let x = Tensor::<5>::random(shape, Distribution::Normal(0.0, 1.0), &d);
            let w = Tensor::<5>::random(
                [cout, shape[1], 1, 3, 3],
                Distribution::Normal(0.0, 1.0),
                &d,
            );
            let bias =
                with_bias.then(|| Tensor::<1>::random([cout], Distribution::Normal(0.0, 1.0), &d));
            let direct = conv3d(
                x.clone(),
                w.clone(),
                bias.clone(),
                ConvOptions::new([1, 1, 1], [0, 1, 1], [1, 1, 1], 1),
            );
            let scale = direct.clone().abs().max().into_scalar::<f32>();
            for tile in [Tile::F2, Tile::F4] {
                let fast = conv3x3(x.clone(), w.clone(), bias.clone(), tile);
                assert_eq!(fast.dims(), direct.dims());
                let diff = (direct.clone() - fast).abs().max().into_scalar::<f32>();
                // F(4×4) trades accuracy for speed: its transforms scale values by up to 8.
                let tolerance = if tile == Tile::F2 { 1e-5 } else { 1e-4 };
                assert!(
                    diff < tolerance * scale,
                    "{tile:?} {shape:?}: {diff} (scale {scale})"
                );
            }
        }
    }
}
