//! Video and image files in and out for cosmos-rs.
//!
//! - Video: [`read_video`] decodes anything FFmpeg reads into a [`Video`] (`[T, H, W, 3]` RGB u8
//!   plus fps) with a frame range, stride and resize ([`ReadOptions`]); [`FrameReader`] streams
//!   frames or chunks; [`probe`] reads the container's facts ([`VideoInfo`]); [`write_video`] /
//!   [`VideoWriter`] encode H.264 yuv420p MP4 at the video's fps, at a constant quality or a
//!   target bit rate ([`WriteOptions`]).
//! - Fast paths for the curator: [`read_luma_frames`] decodes with all cores straight to small
//!   luma frames through swscale; [`ParallelFrameReader`] decodes a whole file as
//!   keyframe-delimited segments on several threads (the keyframes come from the container index:
//!   [`keyframes`]) and returns the frames in order; [`ScaleFilter`] picks swscale's filter
//!   (fast bilinear for shot detection); [`ReadOptions::quick_open`] skips FFmpeg's probe decode
//!   for MP4 files.
//! - Images: [`read_image`] (alpha dropped, see [`AlphaMode`]), [`write_image`] (PNG/JPEG),
//!   [`write_gif`] / [`read_gif`] (animated GIF).
//! - Model layout: [`frames_to_model`] / [`model_to_frames`] (`[C, T, H, W]` f32 in [-1, 1]) and
//!   [`image_to_model`] / [`model_to_image`] (`[C, H, W]`); rounding in [`convert`].
//! - Metrics: [`psnr`], [`ssim`] (luma, Gaussian window) and their per-video forms.
//! - Composition: [`side_by_side`], [`resize_frames`].
//!
//! Damaged files are never passed off as whole: decoding counts rejected packets, frames the
//! decoder flags as corrupt and streams that end before their index says, and by default returns
//! [`Error::Damaged`]; with [`DamagePolicy::Keep`] it returns the frames that decoded together
//! with the [`Damage`] report ([`Video::damage`]).
//!
//! FFmpeg comes from the system (through video-rs and ffmpeg-next); its log goes to `tracing`.
//!
//! # Example
//!
//! ```no_run
//! use cosmos_media::{ReadOptions, WriteOptions, frames_to_model, model_to_frames, psnr_video};
//!
//! # fn main() -> cosmos_media::Result<()> {
//! // The first 33 frames, scaled to 320x176.
//! let video = cosmos_media::read_video("input.mp4", &ReadOptions::default().range(0, 33).resize(320, 176))?;
//! let tensor = frames_to_model(video.frames.view())?; // [3, 33, 176, 320], f32 in [-1, 1]
//! // ... run a model on `tensor` ...
//! let frames = model_to_frames(tensor.view())?;
//! println!("PSNR {:.2} dB", psnr_video(video.frames.view(), frames.view())?.mean);
//! let output = cosmos_media::Video::new(frames, video.fps)?;
//! cosmos_media::write_video("output.mp4", &output, &WriteOptions::default())?;
//! # Ok(())
//! # }
//! ```

pub mod compose;
pub mod convert;
mod decode;
mod encode;
mod error;
mod ffmpeg_util;
mod image_io;
pub mod metrics;
mod opencv_resize;
mod parallel;
mod video;
mod yuv_resize;

pub use compose::{ResizeFilter, resize_frames, resize_image, resize_video, side_by_side};
pub use convert::{frames_to_model, image_to_model, model_to_frames, model_to_image};
pub use decode::{
    FrameReader, LumaFrames, PixelLayout, ReadOptions, ScaleFilter, SkipLoopFilter, VideoFrame,
    probe, read_luma_frames, read_video,
};
pub use encode::{VideoWriter, WriteOptions, write_video};
pub use error::{Error, Result};
pub use image_io::{
    AlphaMode, JPEG_QUALITY, gif_delay_centiseconds, read_gif, read_image, read_image_with,
    write_gif, write_image,
};
pub use metrics::{VideoScore, psnr, psnr_video, ssim, ssim_video};
pub use parallel::{Keyframe, ParallelFrameReader, keyframes};
pub use video::{Damage, DamagePolicy, SourceInfo, Video, VideoInfo};
