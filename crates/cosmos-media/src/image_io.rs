//! Still images (PNG, JPEG) and animated GIF, through the `image` crate.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::{AnimationDecoder, DynamicImage, ImageError, ImageFormat, RgbImage, RgbaImage};
use ndarray::{Array3, Array4, ArrayView3, ArrayView4};

use crate::error::{Error, Result};
use crate::video::{Video, check_fps, check_rgb_frames};

/// JPEG quality used by [`write_image`].
pub const JPEG_QUALITY: u8 = 95;

/// How [`read_image_with`] turns an image with an alpha channel into RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlphaMode {
    /// Keep the colour channels and discard alpha (what Cosmos-Tokenizer's `read_image` does,
    /// `image[..., :3]`), so fully transparent pixels show whatever colour they store.
    #[default]
    Drop,
    /// Composite over a solid background: `c * a + background * (1 - a)`, rounded.
    Over([u8; 3]),
}

/// Reads a PNG or JPEG (or GIF: its first frame) as `[H, W, 3]` RGB. Grey images are replicated
/// to three channels, 16-bit images scaled to 8 bits, and alpha dropped ([`AlphaMode::Drop`]).
pub fn read_image(path: impl AsRef<Path>) -> Result<Array3<u8>> {
    read_image_with(path, AlphaMode::Drop)
}

/// [`read_image`] with a choice of alpha handling.
pub fn read_image_with(path: impl AsRef<Path>, alpha: AlphaMode) -> Result<Array3<u8>> {
    let path = path.as_ref();
    let image = open_image(path)?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels = match (alpha, image.color().has_alpha()) {
        (AlphaMode::Over(background), true) => {
            let rgba = image.to_rgba8();
            let mut rgb = Vec::with_capacity(width * height * 3);
            for pixel in rgba.pixels() {
                let a = u32::from(pixel.0[3]);
                for (channel, back) in pixel.0[..3].iter().zip(background) {
                    // Integer rounding of (c·a + b·(255 − a)) / 255.
                    rgb.push(
                        ((u32::from(*channel) * a + u32::from(back) * (255 - a) + 127) / 255) as u8,
                    );
                }
            }
            rgb
        }
        _ => image.to_rgb8().into_raw(),
    };
    Array3::from_shape_vec((height, width, 3), pixels).map_err(|error| Error::Image {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

fn open_image(path: &Path) -> Result<DynamicImage> {
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    let reader = image::ImageReader::open(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif) => {}
        Some(other) => {
            return Err(Error::UnsupportedImage {
                path: path.to_path_buf(),
                reason: format!("{other:?} files are not read; expected PNG, JPEG or GIF"),
            });
        }
        None => {
            return Err(Error::UnsupportedImage {
                path: path.to_path_buf(),
                reason: "the content is not a recognised image format; expected PNG, JPEG or GIF"
                    .into(),
            });
        }
    }
    reader.decode().map_err(|error| image_error(path, error))
}

fn image_error(path: &Path, error: ImageError) -> Error {
    match error {
        ImageError::Unsupported(reason) => Error::UnsupportedImage {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        },
        ImageError::IoError(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => Error::Image {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// Writes `[H, W, 3]` RGB as PNG (`.png`) or JPEG (`.jpg`/`.jpeg`, quality [`JPEG_QUALITY`]).
pub fn write_image(path: impl AsRef<Path>, image: ArrayView3<'_, u8>) -> Result<()> {
    let path = path.as_ref();
    let shape = image.shape();
    if shape[2] != 3 || shape[0] == 0 || shape[1] == 0 {
        return Err(Error::Shape {
            what: "write_image image",
            expected: "[H, W, 3], H, W > 0".into(),
            found: shape.to_vec(),
        });
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match extension.as_deref() {
        Some("png") => ImageFormat::Png,
        Some("jpg" | "jpeg") => ImageFormat::Jpeg,
        other => {
            return Err(Error::UnsupportedImage {
                path: path.to_path_buf(),
                reason: format!("extension {other:?}; expected .png, .jpg or .jpeg"),
            });
        }
    };
    let buffer = rgb_image(image, path)?;
    let file = File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut writer = BufWriter::new(file);
    let written = match format {
        ImageFormat::Jpeg => {
            JpegEncoder::new_with_quality(&mut writer, JPEG_QUALITY).encode_image(&buffer)
        }
        _ => buffer.write_to(&mut writer, format),
    };
    written.map_err(|error| image_error(path, error))?;
    std::io::Write::flush(&mut writer).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn rgb_image(image: ArrayView3<'_, u8>, path: &Path) -> Result<RgbImage> {
    let (height, width, _) = image.dim();
    let pixels = image
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    RgbImage::from_raw(width as u32, height as u32, pixels).ok_or_else(|| Error::Image {
        path: path.to_path_buf(),
        reason: format!("{width}x{height} image buffer has the wrong length"),
    })
}

/// GIF frame delay for `fps`, in the format's unit of 1/100 s, at least 2 (browsers replace
/// shorter delays by 10). 25 fps is exact (4); 29.97 fps becomes 3 (33.3 fps).
pub fn gif_delay_centiseconds(fps: f64) -> u16 {
    (100.0 / fps).round().clamp(2.0, f64::from(u16::MAX)) as u16
}

/// Writes `[T, H, W, 3]` RGB frames as an endlessly looping animated GIF (256 colours per frame,
/// NeuQuant quantisation) with the delay [`gif_delay_centiseconds`] gives for `fps`.
pub fn write_gif(path: impl AsRef<Path>, frames: ArrayView4<'_, u8>, fps: f64) -> Result<()> {
    let path = path.as_ref();
    check_rgb_frames("write_gif frames", frames.shape())?;
    check_fps(fps)?;
    let (count, height, width, _) = frames.dim();
    if count == 0 {
        return Err(Error::NoFrames {
            path: path.to_path_buf(),
            reason: "write_gif was given zero frames".into(),
        });
    }
    if width > usize::from(u16::MAX) || height > usize::from(u16::MAX) || width == 0 || height == 0
    {
        return Err(Error::InvalidArgument(format!(
            "GIF frames must be 1..=65535 pixels a side, found {width}x{height}"
        )));
    }
    let delay = image::Delay::from_numer_denom_ms(u32::from(gif_delay_centiseconds(fps)) * 10, 1);
    let file = File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut encoder = GifEncoder::new_with_speed(BufWriter::new(file), 10);
    encoder
        .set_repeat(Repeat::Infinite)
        .map_err(|error| image_error(path, error))?;
    for frame in frames.outer_iter() {
        let mut rgba = RgbaImage::new(width as u32, height as u32);
        for (pixel, source) in rgba.pixels_mut().zip(
            frame
                .as_standard_layout()
                .as_slice()
                .unwrap_or(&[])
                .chunks_exact(3),
        ) {
            pixel.0 = [source[0], source[1], source[2], 255];
        }
        encoder
            .encode_frame(image::Frame::from_parts(rgba, 0, 0, delay))
            .map_err(|error| image_error(path, error))?;
    }
    Ok(())
}

/// Reads an animated GIF as RGB frames (alpha dropped) with fps from the mean frame delay.
pub fn read_gif(path: impl AsRef<Path>) -> Result<Video> {
    let path = path.as_ref();
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let decoder =
        GifDecoder::new(BufReader::new(file)).map_err(|error| image_error(path, error))?;
    let frames = decoder
        .into_frames()
        .collect_frames()
        .map_err(|error| image_error(path, error))?;
    let Some(first) = frames.first() else {
        return Err(Error::NoFrames {
            path: path.to_path_buf(),
            reason: "the GIF holds no frame".into(),
        });
    };
    let (width, height) = first.buffer().dimensions();
    let mut pixels = Vec::with_capacity(frames.len() * width as usize * height as usize * 3);
    let mut total_ms = 0.0;
    for frame in &frames {
        let (numer, denom) = frame.delay().numer_denom_ms();
        total_ms += f64::from(numer) / f64::from(denom.max(1));
        for pixel in frame.buffer().pixels() {
            pixels.extend_from_slice(&pixel.0[..3]);
        }
    }
    let frames_array =
        Array4::from_shape_vec((frames.len(), height as usize, width as usize, 3), pixels)
            .map_err(|error| Error::Image {
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
    // GIFs with no delays play "as fast as possible"; browsers show them at 10 fps.
    let fps = if total_ms > 0.0 {
        1000.0 * frames.len() as f64 / total_ms
    } else {
        10.0
    };
    Ok(Video {
        frames: frames_array,
        fps,
        source: None,
    })
}
