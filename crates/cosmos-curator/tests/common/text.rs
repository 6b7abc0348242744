//! Burning text into frames, for overlay-text tests: a 5x7 bitmap font (capitals used in the
//! tests), drawn white with a black outline like subtitles.

use ndarray::{Array4, Axis};

fn glyph(c: char) -> [u8; 7] {
    // Each row is 5 bits, most significant bit on the left.
    match c {
        'A' => [
            0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
        'B' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110,
        ],
        'D' => [
            0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110,
        ],
        'E' => [
            0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
        ],
        'H' => [
            0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
        'I' => [
            0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        'L' => [
            0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111,
        ],
        'O' => [
            0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'R' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001,
        ],
        'S' => [
            0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110,
        ],
        'T' => [
            0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100,
        ],
        'U' => [
            0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'W' => [
            0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010,
        ],
        _ => [0; 7],
    }
}

/// Draws `text` on every frame of `[T, H, W, 3]` frames, glyphs `scale` pixels per font pixel,
/// centred horizontally with its top at `top`.
pub fn burn_text(frames: &mut Array4<u8>, text: &str, scale: usize, top: usize) {
    let (_, height, width, _) = frames.dim();
    let text_width = text.chars().count() * 6 * scale;
    let left = width.saturating_sub(text_width) / 2;
    // Mask of glyph pixels, then an outline two pixels wide around it.
    let mut mask = vec![0u8; height * width];
    for (i, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits >> (4 - col) & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (y, x) =
                                (top + row * scale + dy, left + (i * 6 + col) * scale + dx);
                            if y < height && x < width {
                                mask[y * width + x] = 2;
                            }
                        }
                    }
                }
            }
        }
    }
    let glyph_mask = mask.clone();
    for y in 0..height {
        for x in 0..width {
            if glyph_mask[y * width + x] == 2 {
                for ny in y.saturating_sub(2)..(y + 3).min(height) {
                    for nx in x.saturating_sub(2)..(x + 3).min(width) {
                        if mask[ny * width + nx] == 0 {
                            mask[ny * width + nx] = 1;
                        }
                    }
                }
            }
        }
    }
    for mut frame in frames.axis_iter_mut(Axis(0)) {
        for y in 0..height {
            for x in 0..width {
                let value = match mask[y * width + x] {
                    2 => 235,
                    1 => 16,
                    _ => continue,
                };
                for c in 0..3 {
                    frame[[y, x, c]] = value;
                }
            }
        }
    }
}
