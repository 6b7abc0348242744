//! Test media: the real clips in testdata/media, and short videos made from a real photo with a
//! known camera motion (still, pan, zoom, shake), burned-in text, blur or a cartoon look.
#![allow(dead_code)]

pub mod text;

use std::path::{Path, PathBuf};

use cosmos_media::{ResizeFilter, Video, WriteOptions, read_image, resize_image, write_video};
use ndarray::{Array3, Array4, Axis, s};

pub const FPS: f64 = 25.0;

pub fn media(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/media")).join(name)
}

pub fn bikes() -> PathBuf {
    media("bikes.mp4")
}

pub fn carphone() -> PathBuf {
    media("carphone_pristine.mp4")
}

/// Fast, high-quality settings for test encodes.
pub fn write_options() -> WriteOptions {
    WriteOptions {
        crf: 16,
        preset: "ultrafast".into(),
        ..WriteOptions::default()
    }
}

pub fn write(path: &Path, frames: Array4<u8>) {
    let video = Video::new(frames, FPS).expect("frames");
    write_video(path, &video, &write_options()).expect("encode test video");
}

/// The squirrel photo (1024x764), RGB.
pub fn photo() -> Array3<u8> {
    read_image(media("squirrel_cosmos_tokenizer_test_image.png")).expect("photo")
}

/// `frames` frames of `width` x `height`, each a crop of the photo given by `window(t)`
/// (`(x, y, crop_width, crop_height)`, pixels of the photo) scaled to the output size.
pub fn camera(
    frames: usize,
    width: usize,
    height: usize,
    window: impl Fn(usize) -> (f64, f64, f64, f64),
) -> Array4<u8> {
    let photo = photo();
    let mut out = Array4::<u8>::zeros((frames, height, width, 3));
    for t in 0..frames {
        let (x, y, w, h) = window(t);
        let (x, y, w, h) = (
            x.round() as usize,
            y.round() as usize,
            w.round() as usize,
            h.round() as usize,
        );
        let crop = photo.slice(s![y..y + h, x..x + w, ..]);
        let frame = resize_image(crop, width, height, ResizeFilter::Bilinear).expect("resize");
        out.index_axis_mut(Axis(0), t).assign(&frame);
    }
    out
}

/// Deterministic pseudo-random numbers in [-1, 1].
pub fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// Camera-motion test videos, 60 frames of 320x240 at 25 fps (2.4 s).
pub fn still(frames: usize) -> Array4<u8> {
    camera(frames, 320, 240, |_| (200.0, 150.0, 480.0, 360.0))
}

/// The camera turns right: the window slides right 4 photo pixels per frame.
pub fn pan_right(frames: usize) -> Array4<u8> {
    camera(frames, 320, 240, |t| {
        (100.0 + 4.0 * t as f64, 150.0, 480.0, 360.0)
    })
}

/// The camera zooms in: the window shrinks by 0.8% per frame about its centre.
pub fn zoom_in(frames: usize) -> Array4<u8> {
    camera(frames, 320, 240, |t| {
        let scale = 0.992f64.powi(t as i32);
        let (w, h) = (560.0 * scale, 420.0 * scale);
        (480.0 - w / 2.0, 360.0 - h / 2.0, w, h)
    })
}

/// A shaking camera: the window jumps up to 18 photo pixels each way, every frame.
pub fn shaky(frames: usize) -> Array4<u8> {
    let offsets: Vec<(f64, f64)> = {
        let mut random = noise(7);
        (0..frames)
            .map(|_| (18.0 * random(), 18.0 * random()))
            .collect()
    };
    camera(frames, 320, 240, move |t| {
        (250.0 + offsets[t].0, 150.0 + offsets[t].1, 480.0, 360.0)
    })
}

/// A flat-shaded cartoon: sky, grass, a sun and a ball with black outlines bouncing across.
pub fn cartoon(frames: usize) -> Array4<u8> {
    let (width, height) = (320usize, 240usize);
    let mut out = Array4::<u8>::zeros((frames, height, width, 3));
    for t in 0..frames {
        let ball_x = 40.0 + 4.0 * t as f64;
        let ball_y = 150.0 - 60.0 * ((t as f64) * 0.15).sin().abs();
        for y in 0..height {
            for x in 0..width {
                let (fx, fy) = (x as f64, y as f64);
                let ball = ((fx - ball_x).powi(2) + (fy - ball_y).powi(2)).sqrt();
                let sun = ((fx - 260.0).powi(2) + (fy - 50.0).powi(2)).sqrt();
                let colour = if ball < 22.0 {
                    [220, 30, 40]
                } else if ball < 25.0 || (28.0..31.0).contains(&sun) || (178..181).contains(&y) {
                    [10, 10, 10]
                } else if sun < 28.0 {
                    [250, 210, 30]
                } else if y >= 181 {
                    [60, 180, 60]
                } else {
                    [90, 160, 235]
                };
                for c in 0..3 {
                    out[[t, y, x, c]] = colour[c];
                }
            }
        }
    }
    out
}

/// Box blur of radius `r` on every frame.
pub fn blur(frames: &Array4<u8>, r: usize) -> Array4<u8> {
    let (count, height, width, _) = frames.dim();
    let mut out = frames.clone();
    for t in 0..count {
        for y in 0..height {
            for x in 0..width {
                for c in 0..3 {
                    let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(height));
                    let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(width));
                    let window = frames.slice(s![t, y0..y1, x0..x1, c]);
                    let sum: u32 = window.iter().map(|&v| u32::from(v)).sum();
                    out[[t, y, x, c]] = (sum / window.len() as u32) as u8;
                }
            }
        }
    }
    out
}

/// Multiplies every pixel by `gain`.
pub fn exposure(frames: &Array4<u8>, gain: f64) -> Array4<u8> {
    frames.mapv(|v| (f64::from(v) * gain).round().clamp(0.0, 255.0) as u8)
}
