//! Long and large inputs in bounded memory: temporal windows and spatial tiles.
//!
//! - **Temporal windows**, as the reference's video pipeline (`CausalVideoTokenizer.forward`
//!   with `temporal_window`): the clip is cut into windows of `1 + k·T` frames that are
//!   tokenized independently, each starting a new causal context (its first frame becomes a
//!   key frame of its own latent). Memory depends on the window, not the clip. For latents
//!   identical to encoding the whole clip at once, use [`crate::StreamingEncoder`] instead.
//! - **Spatial tiles**: frames are cut into overlapping tiles (multiples of the spatial
//!   compression). Encoding keeps, for every latent position, the value from the tile in
//!   whose interior it lies deepest (tiles split their overlap halfway), which keeps FSQ
//!   codes on the grid. Decoding blends the overlapping decoded tiles with linear ramps so no
//!   seam shows. Tiling is an approximation (each tile normalises and attends on its own);
//!   the overlap hides the difference.

use burn::tensor::{Int, Tensor, TensorData};

use crate::tokenizer::{Encoded, Tokenizer};
use crate::{Error, Result};

/// How to cut a clip: temporal window and spatial tiles. `Default` cuts nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Chunking {
    /// Frames per temporal window (`1 + k·T`); `None` encodes the clip as one window.
    pub window: Option<usize>,
    /// Tile height and width in pixels (a multiple of the spatial compression); `None` keeps
    /// whole frames.
    pub tile: Option<usize>,
    /// Overlap between neighbouring tiles in pixels (a multiple of the spatial compression).
    pub overlap: usize,
}

impl Chunking {
    /// Windows of `frames` frames and no tiling.
    pub fn window(frames: usize) -> Self {
        Self {
            window: Some(frames),
            ..Self::default()
        }
    }

    /// Adds `tile`-pixel tiles overlapping by `overlap` pixels.
    pub fn with_tiles(self, tile: usize, overlap: usize) -> Self {
        Self {
            tile: Some(tile),
            overlap,
            ..self
        }
    }

    /// The reference pipeline's default for a tokenizer: 17-frame windows for temporal
    /// compression 8 (and generally `1 + 2·T`), no tiling.
    pub fn reference(tokenizer: &Tokenizer) -> Self {
        let tc = tokenizer.temporal_compression();
        Self::window(if tc > 1 { 1 + 2 * tc } else { 1 })
    }

    /// Checks the chunking against a tokenizer.
    pub fn validate(&self, tokenizer: &Tokenizer) -> Result<()> {
        let tc = tokenizer.temporal_compression();
        let s = tokenizer.spatial_compression();
        if let Some(window) = self.window
            && (window == 0 || (tc > 1 && (window - 1) % tc != 0))
        {
            return Err(Error::Config(format!(
                "a temporal window must hold 1 + k·{tc} frames, found {window}"
            )));
        }
        if let Some(tile) = self.tile
            && (tile == 0
                || tile % s != 0
                || !self.overlap.is_multiple_of(s)
                || self.overlap >= tile)
        {
            return Err(Error::Config(format!(
                "tiles must be positive multiples of {s} pixels with a smaller overlap that is a multiple of {s}, \
                     found tile {tile} and overlap {}",
                self.overlap
            )));
        }
        Ok(())
    }

    /// Latent frames of one full window.
    fn latents_per_window(&self, tc: usize) -> Option<usize> {
        self.window
            .map(|w| if tc > 1 { 1 + (w - 1) / tc } else { w })
    }
}

/// Tile starts along an axis of `len` with tiles of `tile` overlapping by `overlap`, all
/// multiples of `align`; the last tile ends at `len`.
fn tile_starts(len: usize, tile: usize, overlap: usize, align: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let step = tile - overlap;
    let mut starts: Vec<usize> = (0..)
        .map(|i| i * step)
        .take_while(|&s| s + tile < len)
        .collect();
    let last = (len - tile) / align * align;
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
}

/// For tiles starting at `starts` (latent units, size `tile`) along an axis of `len`, the
/// range each tile owns: from the middle of its overlap with the previous tile to the middle
/// of its overlap with the next.
fn owned_ranges(starts: &[usize], tile: usize, len: usize) -> Vec<(usize, usize)> {
    let n = starts.len();
    (0..n)
        .map(|i| {
            let begin = if i == 0 {
                0
            } else {
                let prev_end = (starts[i - 1] + tile).min(len);
                (starts[i] + prev_end).div_ceil(2)
            };
            let end = if i + 1 == n {
                len
            } else {
                let next_start = starts[i + 1];
                (next_start + (starts[i] + tile).min(len)).div_ceil(2)
            };
            (begin, end)
        })
        .collect()
}

/// Linear blending weights of a tile of `size` along one axis: ramps of `overlap` samples at
/// the sides that have a neighbour.
fn ramp(size: usize, overlap: usize, ramp_start: bool, ramp_end: bool) -> Vec<f32> {
    (0..size)
        .map(|i| {
            let mut w = 1.0f32;
            if ramp_start && overlap > 0 {
                w = w.min((i as f32 + 0.5) / overlap as f32);
            }
            if ramp_end && overlap > 0 {
                w = w.min((size - i) as f32 / overlap as f32 - 0.5 / overlap as f32);
            }
            w.clamp(0.0, 1.0)
        })
        .collect()
}

impl Tokenizer {
    /// Encodes a clip window by window and tile by tile (see [`Chunking`]); latents of all
    /// windows are concatenated along time. Every window must hold `1 + k·T` frames, the
    /// last one too (it may be shorter than the others): pad it with [`crate::pad_frames`]
    /// and crop the decoded clip if needed.
    pub fn encode_chunked(&self, x: Tensor<5>, chunking: &Chunking) -> Result<Encoded> {
        chunking.validate(self)?;
        let t = x.dims()[2];
        let window = chunking.window.unwrap_or(t);
        let mut latents = Vec::new();
        let mut indices = Vec::new();
        let mut start = 0;
        while start < t {
            let len = window.min(t - start);
            let piece = x.clone().narrow(2, start, len);
            let encoded = self.encode_tiled(piece, chunking.tile, chunking.overlap)?;
            latents.push(encoded.latent);
            if let Some(i) = encoded.indices {
                indices.push(i);
            }
            start += len;
        }
        Ok(Encoded {
            latent: Tensor::cat(latents, 2),
            indices: (!indices.is_empty()).then(|| Tensor::cat(indices, 1)),
        })
    }

    /// Decodes latents made by [`encode_chunked`](Self::encode_chunked) with the same
    /// chunking: window by window (`1 + (window − 1)/T` latent frames each) and tile by tile.
    pub fn decode_chunked(&self, latent: Tensor<5>, chunking: &Chunking) -> Result<Tensor<5>> {
        chunking.validate(self)?;
        let tc = self.temporal_compression();
        let t = latent.dims()[2];
        let per_window = chunking.latents_per_window(tc).unwrap_or(t);
        let s = self.spatial_compression();
        let tile = chunking.tile.map(|p| p / s);
        let overlap = chunking.overlap / s;
        let mut frames = Vec::new();
        let mut start = 0;
        while start < t {
            let len = per_window.min(t - start);
            frames.push(self.decode_tiled(latent.clone().narrow(2, start, len), tile, overlap)?);
            start += len;
        }
        Ok(Tensor::cat(frames, 2))
    }

    /// Encodes one window tile by tile; `tile` and `overlap` in pixels (`None`: whole frames).
    pub fn encode_tiled(
        &self,
        x: Tensor<5>,
        tile: Option<usize>,
        overlap: usize,
    ) -> Result<Encoded> {
        let [_, _, _, h, w] = x.dims();
        let Some(tile) = tile.filter(|&t| t < h || t < w) else {
            return self.encode(x);
        };
        let s = self.spatial_compression();
        let rows = tile_starts(h, tile, overlap, s);
        let cols = tile_starts(w, tile, overlap, s);
        let (lh, lw) = (h / s, w / s);
        let lrows: Vec<usize> = rows.iter().map(|r| r / s).collect();
        let lcols: Vec<usize> = cols.iter().map(|c| c / s).collect();
        let own_rows = owned_ranges(&lrows, tile / s, lh);
        let own_cols = owned_ranges(&lcols, tile / s, lw);
        let mut latent: Option<Tensor<5>> = None;
        let mut indices: Option<Tensor<4, Int>> = None;
        for (i, &r) in rows.iter().enumerate() {
            for (j, &c) in cols.iter().enumerate() {
                let th = tile.min(h - r);
                let tw = tile.min(w - c);
                let piece = x.clone().narrow(3, r, th).narrow(4, c, tw);
                let encoded = self.encode(piece)?;
                let (r0, r1) = own_rows[i];
                let (c0, c1) = own_cols[j];
                let (lr, lc) = (lrows[i], lcols[j]);
                let part = encoded
                    .latent
                    .narrow(3, r0 - lr, r1 - r0)
                    .narrow(4, c0 - lc, c1 - c0);
                let [b, ch, lt, _, _] = part.dims();
                let target = latent
                    .get_or_insert_with(|| Tensor::zeros([b, ch, lt, lh, lw], &part.device()));
                *target = target
                    .clone()
                    .slice_assign([0..b, 0..ch, 0..lt, r0..r1, c0..c1], part);
                if let Some(idx) = encoded.indices {
                    let part = idx.narrow(2, r0 - lr, r1 - r0).narrow(3, c0 - lc, c1 - c0);
                    let target = indices
                        .get_or_insert_with(|| Tensor::zeros([b, lt, lh, lw], &part.device()));
                    *target = target
                        .clone()
                        .slice_assign([0..b, 0..lt, r0..r1, c0..c1], part);
                }
            }
        }
        Ok(Encoded {
            latent: latent.expect("at least one tile"),
            indices,
        })
    }

    /// Decodes one window of latents tile by tile; `tile` and `overlap` in latent units
    /// (`None`: whole frames). Overlapping decoded tiles are blended linearly.
    pub fn decode_tiled(
        &self,
        latent: Tensor<5>,
        tile: Option<usize>,
        overlap: usize,
    ) -> Result<Tensor<5>> {
        let [_, _, _, h, w] = latent.dims();
        let Some(tile) = tile.filter(|&t| t < h || t < w) else {
            return self.decode(latent);
        };
        let (s, _) = self
            .decoder_factors()
            .unwrap_or((self.spatial_compression(), 1));
        let rows = tile_starts(h, tile, overlap, 1);
        let cols = tile_starts(w, tile, overlap, 1);
        let device = latent.device();
        let mut sum: Option<Tensor<5>> = None;
        let mut weight: Option<Tensor<5>> = None;
        for (i, &r) in rows.iter().enumerate() {
            for (j, &c) in cols.iter().enumerate() {
                let th = tile.min(h - r);
                let tw = tile.min(w - c);
                let decoded = self.decode(latent.clone().narrow(3, r, th).narrow(4, c, tw))?;
                let [b, ch, t, ph, pw] = decoded.dims();
                let wy = ramp(ph, overlap * s, i > 0, i + 1 < rows.len());
                let wx = ramp(pw, overlap * s, j > 0, j + 1 < cols.len());
                let mask: Vec<f32> = wy
                    .iter()
                    .flat_map(|y| wx.iter().map(move |x| y * x))
                    .collect();
                let mask =
                    Tensor::<5>::from_data(TensorData::new(mask, [1, 1, 1, ph, pw]), &device);
                let (y0, x0) = (r * s, c * s);
                let out =
                    sum.get_or_insert_with(|| Tensor::zeros([b, ch, t, h * s, w * s], &device));
                let region = [0..b, 0..ch, 0..t, y0..y0 + ph, x0..x0 + pw];
                let current = out.clone().slice(region.clone());
                *out = out
                    .clone()
                    .slice_assign(region, current + decoded * mask.clone());
                let acc =
                    weight.get_or_insert_with(|| Tensor::zeros([1, 1, 1, h * s, w * s], &device));
                let region = [0..1, 0..1, 0..1, y0..y0 + ph, x0..x0 + pw];
                let current = acc.clone().slice(region.clone());
                *acc = acc.clone().slice_assign(region, current + mask);
            }
        }
        let sum = sum.expect("at least one tile");
        let weight = weight.expect("at least one tile");
        Ok(sum / weight.clamp_min(1e-6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_and_split_overlaps() {
        assert_eq!(tile_starts(64, 64, 16, 8), vec![0]);
        assert_eq!(tile_starts(100, 40, 8, 4), vec![0, 32, 60]);
        let owned = owned_ranges(&[0, 32, 60], 40, 100);
        assert_eq!(owned, vec![(0, 36), (36, 66), (66, 100)]);
        // Owned ranges tile the axis without gaps.
        for pair in owned.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
    }

    #[test]
    fn ramps_are_flat_without_neighbours() {
        assert!(ramp(8, 4, false, false).iter().all(|&w| w == 1.0));
        // Ramps of 4 at both ends of a 12-long tile leave the middle 4 at full weight.
        let r = ramp(12, 4, true, true);
        assert!(r[0] < r[1] && r[1] < r[3] && r[3] < 1.0);
        assert!(r[4..8].iter().all(|&w| w == 1.0), "{r:?}");
        assert!(r[11] < r[10]);
        assert!(r.iter().all(|&w| w > 0.0));
    }
}
