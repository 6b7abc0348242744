//! Resizing and side-by-side composition (e.g. ground truth | prediction | baseline demos).

use image::RgbImage;
use image::imageops::{self, FilterType};
use ndarray::{Array3, Array4, ArrayView3, ArrayView4, Axis, s};

use crate::error::{Error, Result};
use crate::video::{Video, check_rgb_frames};

/// Resampling filter for [`resize_image`] and friends (the `image` crate's filters, which widen
/// their support when shrinking, so downscaling does not alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResizeFilter {
    /// Nearest neighbour.
    Nearest,
    /// Linear (triangle) filter.
    Bilinear,
    /// Catmull-Rom cubic (the default).
    #[default]
    Bicubic,
    /// Lanczos with 3 lobes.
    Lanczos3,
}

impl ResizeFilter {
    fn filter_type(self) -> FilterType {
        match self {
            Self::Nearest => FilterType::Nearest,
            Self::Bilinear => FilterType::Triangle,
            Self::Bicubic => FilterType::CatmullRom,
            Self::Lanczos3 => FilterType::Lanczos3,
        }
    }
}

fn check_target(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 || width > 16384 || height > 16384 {
        return Err(Error::InvalidArgument(format!(
            "resize target must be between 1x1 and 16384x16384, found {width}x{height}"
        )));
    }
    Ok(())
}

/// Resizes an `[H, W, 3]` image to `width` x `height`.
pub fn resize_image(
    image: ArrayView3<'_, u8>,
    width: usize,
    height: usize,
    filter: ResizeFilter,
) -> Result<Array3<u8>> {
    check_target(width, height)?;
    let (h, w, c) = image.dim();
    if c != 3 || h == 0 || w == 0 {
        return Err(Error::Shape {
            what: "resize_image image",
            expected: "[H, W, 3], H, W > 0".into(),
            found: image.shape().to_vec(),
        });
    }
    if (h, w) == (height, width) {
        return Ok(image.to_owned());
    }
    let pixels = image
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    let buffer = RgbImage::from_raw(w as u32, h as u32, pixels)
        .ok_or_else(|| Error::InvalidArgument("image buffer has the wrong length".into()))?;
    let resized = imageops::resize(&buffer, width as u32, height as u32, filter.filter_type());
    Array3::from_shape_vec((height, width, 3), resized.into_raw())
        .map_err(|error| Error::InvalidArgument(format!("resized buffer: {error}")))
}

/// Resizes every frame of `[T, H, W, 3]` frames.
pub fn resize_frames(
    frames: ArrayView4<'_, u8>,
    width: usize,
    height: usize,
    filter: ResizeFilter,
) -> Result<Array4<u8>> {
    check_rgb_frames("resize_frames frames", frames.shape())?;
    check_target(width, height)?;
    let mut out = Array4::<u8>::zeros((frames.len_of(Axis(0)), height, width, 3));
    for (source, mut target) in frames.outer_iter().zip(out.outer_iter_mut()) {
        target.assign(&resize_image(source, width, height, filter)?);
    }
    Ok(out)
}

/// [`resize_frames`] on a [`Video`], keeping its fps and source.
pub fn resize_video(
    video: &Video,
    width: usize,
    height: usize,
    filter: ResizeFilter,
) -> Result<Video> {
    Ok(Video {
        frames: resize_frames(video.frames.view(), width, height, filter)?,
        fps: video.fps,
        source: video.source.clone(),
    })
}

/// Places videos left to right with `gap` columns of `gap_color` between them.
///
/// All videos must have the same frame count and fps. Videos whose height differs from the first
/// one's are resized (bicubic) to that height, keeping their aspect ratio.
pub fn side_by_side(videos: &[&Video], gap: usize, gap_color: [u8; 3]) -> Result<Video> {
    let Some(first) = videos.first() else {
        return Err(Error::InvalidArgument(
            "side_by_side needs at least one video".into(),
        ));
    };
    let (count, height) = (first.len(), first.height());
    for (i, video) in videos.iter().enumerate() {
        check_rgb_frames("side_by_side video", video.frames.shape())?;
        if video.len() != count {
            return Err(Error::InvalidArgument(format!(
                "side_by_side: video {i} has {} frames, video 0 has {count}; trim them to the same length",
                video.len()
            )));
        }
        if (video.fps - first.fps).abs() > 1e-6 * first.fps.abs().max(1.0) {
            return Err(Error::InvalidArgument(format!(
                "side_by_side: video {i} runs at {} fps, video 0 at {} fps",
                video.fps, first.fps
            )));
        }
        if video.height() == 0 || video.width() == 0 {
            return Err(Error::Shape {
                what: "side_by_side video",
                expected: "non-empty frames".into(),
                found: video.frames.shape().to_vec(),
            });
        }
    }
    let mut panels = Vec::with_capacity(videos.len());
    for video in videos {
        if video.height() == height {
            panels.push(video.frames.view().to_owned());
        } else {
            let width = ((video.width() * height) as f64 / video.height() as f64)
                .round()
                .max(1.0) as usize;
            panels.push(resize_frames(
                video.frames.view(),
                width,
                height,
                ResizeFilter::Bicubic,
            )?);
        }
    }
    let total_width =
        panels.iter().map(|p| p.len_of(Axis(2))).sum::<usize>() + gap * (panels.len() - 1);
    let mut out = Array4::<u8>::zeros((count, height, total_width, 3));
    for (channel, value) in gap_color.iter().enumerate() {
        out.slice_mut(s![.., .., .., channel]).fill(*value);
    }
    let mut x = 0;
    for panel in &panels {
        let width = panel.len_of(Axis(2));
        out.slice_mut(s![.., .., x..x + width, ..]).assign(panel);
        x += width + gap;
    }
    Ok(Video {
        frames: out,
        fps: first.fps,
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(count: usize, height: usize, width: usize, value: u8) -> Video {
        Video::new(Array4::from_elem((count, height, width, 3), value), 24.0).unwrap()
    }

    #[test]
    fn panels_sit_side_by_side_with_gaps() {
        let a = solid(2, 4, 6, 10);
        let b = solid(2, 4, 3, 200);
        let out = side_by_side(&[&a, &b], 2, [255, 0, 0]).unwrap();
        assert_eq!(out.frames.shape(), &[2, 4, 11, 3]);
        assert_eq!(out.frames[[1, 3, 5, 1]], 10);
        assert_eq!(out.frames[[1, 3, 6, 0]], 255);
        assert_eq!(out.frames[[1, 3, 7, 1]], 0);
        assert_eq!(out.frames[[0, 0, 8, 2]], 200);
        assert_eq!(out.fps, 24.0);
    }

    #[test]
    fn taller_panels_are_scaled_to_the_first_height() {
        let a = solid(1, 4, 6, 10);
        let b = solid(1, 8, 4, 50);
        let out = side_by_side(&[&a, &b], 0, [0; 3]).unwrap();
        assert_eq!(out.frames.shape(), &[1, 4, 8, 3]);
        assert!(
            out.frames
                .slice(s![.., .., 6.., ..])
                .iter()
                .all(|&v| v == 50)
        );
    }

    #[test]
    fn mismatched_lengths_are_an_error() {
        let a = solid(2, 4, 6, 10);
        let b = solid(3, 4, 6, 10);
        assert!(side_by_side(&[&a, &b], 0, [0; 3]).is_err());
        assert!(side_by_side(&[], 0, [0; 3]).is_err());
    }

    #[test]
    fn resize_keeps_flat_colour_and_changes_size() {
        let image = Array3::from_elem((10, 16, 3), 77u8);
        for filter in [
            ResizeFilter::Nearest,
            ResizeFilter::Bilinear,
            ResizeFilter::Bicubic,
            ResizeFilter::Lanczos3,
        ] {
            let out = resize_image(image.view(), 7, 5, filter).unwrap();
            assert_eq!(out.shape(), &[5, 7, 3]);
            assert!(out.iter().all(|&v| v == 77), "{filter:?}");
        }
        assert!(resize_image(image.view(), 0, 5, ResizeFilter::Bicubic).is_err());
    }
}
