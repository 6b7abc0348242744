//! Encoding RGB frames to H.264 (yuv420p) in MP4: the streaming [`VideoWriter`] and
//! [`write_video`].
//!
//! The writer uses ffmpeg-next (through `video_rs::ffmpeg`) directly rather than video-rs's
//! `Encoder`, which fixes the codec's frame rate at 30 and its time base at microseconds; here the
//! time base is 1/fps as a rational (30000/1001 for 29.97), so the file states the frame rate
//! exactly and every frame lasts exactly one tick.

use std::path::{Path, PathBuf};

use ndarray::ArrayView3;
use video_rs::ffmpeg;
use video_rs::ffmpeg::format::Pixel;
use video_rs::ffmpeg::software::scaling;

use crate::error::{Error, Result};
use crate::ffmpeg_util::{ensure_init, ffmpeg_path_str, fps_to_rational};
use crate::video::{Video, check_fps};

/// H.264 encoder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// x264 constant rate factor: 0 is lossless in luma, 18 visually near-transparent (default),
    /// 23 x264's own default, 51 the worst.
    pub crf: u8,
    /// x264 speed preset (`ultrafast` ... `placebo`; default `medium`).
    pub preset: String,
    /// Odd widths or heights are padded by one row/column repeating the edge pixels (the file is
    /// then one pixel larger) instead of returning [`Error::OddSize`].
    pub pad_to_even: bool,
    /// Move the MP4 index (`moov`) to the front so players start before the whole file arrived.
    pub faststart: bool,
    /// Encoder threads; 0 lets the encoder pick.
    pub threads: usize,
    /// Target average bit rate in bits per second (x264's one-pass ABR mode): files come out at
    /// about `bitrate * duration / 8` bytes whatever the content, and [`crf`](Self::crf) is not
    /// used. `None` (the default): constant quality at `crf`.
    pub bitrate: Option<u64>,
    /// At most this many frames between keyframes (x264's `keyint`; `None`: the encoder's
    /// default, 250).
    pub keyframe_interval: Option<u32>,
    /// The same frames and settings give the same bytes, run after run (default `true`).
    ///
    /// x264's macroblock-tree rate control (on in every preset from `veryfast` up) reads memory
    /// it never wrote: with libx264 0.164 the same frames encoded twice in one process, or once
    /// with a different heap (`MALLOC_PERTURB_`), give different streams (decoded frames differ
    /// by up to 20 grey levels). With `true` the tree is off (`mbtree=0`), which makes the
    /// stream a function of the frames and settings alone, at some cost in size at a given
    /// `crf` (docs/performance.md, "Deterministic encoding"); `false` keeps x264's default.
    pub deterministic: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            crf: 18,
            preset: "medium".into(),
            pad_to_even: false,
            faststart: true,
            threads: 0,
            bitrate: None,
            keyframe_interval: None,
            deterministic: true,
        }
    }
}

/// Streaming H.264 writer: frames go to the file one at a time.
///
/// Call [`VideoWriter::finish`] at the end; it flushes the encoder and writes the MP4 index and
/// reports errors. A writer dropped without `finish` finishes on a best-effort basis and swallows
/// errors.
pub struct VideoWriter {
    path: PathBuf,
    output: ffmpeg::format::context::Output,
    encoder: ffmpeg::encoder::video::Encoder,
    scaler: scaling::Context,
    rgb: ffmpeg::frame::Video,
    yuv: ffmpeg::frame::Video,
    stream_index: usize,
    encoder_time_base: ffmpeg::Rational,
    /// Frame size the caller gives.
    width: usize,
    height: usize,
    next_pts: i64,
    finished: bool,
}

impl VideoWriter {
    /// Creates `path` (container from the extension; `.mp4` for MP4) for `width` x `height` RGB
    /// frames at `fps`.
    pub fn create(
        path: impl AsRef<Path>,
        width: usize,
        height: usize,
        fps: f64,
        options: &WriteOptions,
    ) -> Result<Self> {
        let path = path.as_ref();
        check_fps(fps)?;
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(Error::InvalidArgument(format!(
                "frame size must be between 1x1 and 16384x16384, found {width}x{height}"
            )));
        }
        if (width % 2 == 1 || height % 2 == 1) && !options.pad_to_even {
            return Err(Error::OddSize { width, height });
        }
        if options.preset.is_empty() || !options.preset.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidArgument(format!(
                "preset must be an x264 preset name such as `medium`, found {:?}",
                options.preset
            )));
        }
        if options.crf > 51 {
            return Err(Error::InvalidArgument(format!(
                "crf must be 0..=51, found {}",
                options.crf
            )));
        }
        if let Some(bitrate) = options.bitrate
            && !(1_000..=10_000_000_000).contains(&bitrate)
        {
            return Err(Error::InvalidArgument(format!(
                "bitrate must be between 1 kb/s and 10 Gb/s (in bits per second), found {bitrate}"
            )));
        }
        if options.keyframe_interval == Some(0) {
            return Err(Error::InvalidArgument(
                "keyframe_interval must be at least 1, found 0".into(),
            ));
        }
        ensure_init()?;
        let path_str = ffmpeg_path_str(path)?;
        let failed = |operation: &'static str, error: ffmpeg::Error| Error::Ffmpeg {
            path: path.to_path_buf(),
            operation,
            reason: error.to_string(),
        };
        let encoded_width = width.next_multiple_of(2) as u32;
        let encoded_height = height.next_multiple_of(2) as u32;
        let frame_rate = fps_to_rational(fps);
        let time_base = frame_rate.invert();

        let mut output = ffmpeg::format::output(path_str)
            .map_err(|error| failed("create the output file", error))?;
        let global_header = output
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let codec = ffmpeg::encoder::find_by_name("libx264")
            .or_else(|| ffmpeg::encoder::find(ffmpeg::codec::Id::H264))
            .ok_or_else(|| Error::Ffmpeg {
                path: path.to_path_buf(),
                operation: "find an H.264 encoder",
                reason: "this FFmpeg build has neither libx264 nor another H.264 encoder".into(),
            })?;
        let mut encoder = ffmpeg::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|error| failed("set up the H.264 encoder", error))?;
        encoder.set_width(encoded_width);
        encoder.set_height(encoded_height);
        encoder.set_format(Pixel::YUV420P);
        encoder.set_time_base(time_base);
        encoder.set_frame_rate(Some(frame_rate));
        // Frames are converted with swscale's default BT.601 limited-range matrix; say so in the
        // stream so that players (and this crate's reader) invert the same matrix.
        encoder.set_colorspace(ffmpeg::color::Space::SMPTE170M);
        encoder.set_color_range(ffmpeg::color::Range::MPEG);
        if global_header {
            encoder.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
        }
        let mut codec_options = ffmpeg::Dictionary::new();
        match options.bitrate {
            Some(bitrate) => encoder.set_bit_rate(bitrate as usize),
            None => codec_options.set("crf", &options.crf.to_string()),
        }
        if let Some(interval) = options.keyframe_interval {
            encoder.set_gop(interval);
        }
        codec_options.set("preset", &options.preset);
        if options.deterministic && codec.name() == "libx264" {
            // See `WriteOptions::deterministic`: macroblock-tree rate control reads
            // uninitialised memory inside x264.
            codec_options.set("mbtree", "0");
        }
        codec_options.set(
            "threads",
            &if options.threads == 0 {
                "auto".to_string()
            } else {
                options.threads.to_string()
            },
        );
        let encoder = encoder
            .open_as_with(codec, codec_options)
            .map_err(|error| failed("open the H.264 encoder (check crf and preset)", error))?;

        let stream_index = {
            let mut stream = output
                .add_stream(codec)
                .map_err(|error| failed("add a video stream", error))?;
            stream.set_parameters(&encoder);
            stream.set_time_base(time_base);
            stream.set_avg_frame_rate(frame_rate);
            stream.set_rate(frame_rate);
            stream.index()
        };
        let mut muxer_options = ffmpeg::Dictionary::new();
        if options.faststart {
            muxer_options.set("movflags", "+faststart");
        }
        output
            .write_header_with(muxer_options)
            .map_err(|error| failed("write the file header", error))?;

        let scaler = scaling::Context::get(
            Pixel::RGB24,
            encoded_width,
            encoded_height,
            Pixel::YUV420P,
            encoded_width,
            encoded_height,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INP,
        )
        .map_err(|error| failed("set up RGB to YUV conversion", error))?;
        let encoder_time_base = encoder.time_base();
        Ok(Self {
            path: path.to_path_buf(),
            output,
            encoder,
            scaler,
            rgb: ffmpeg::frame::Video::new(Pixel::RGB24, encoded_width, encoded_height),
            yuv: ffmpeg::frame::Video::empty(),
            stream_index,
            encoder_time_base,
            width,
            height,
            next_pts: 0,
            finished: false,
        })
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.next_pts as u64
    }

    /// Encodes one `[H, W, 3]` RGB frame of the size given at creation.
    pub fn write_frame(&mut self, frame: ArrayView3<'_, u8>) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidArgument("write_frame after finish".into()));
        }
        if frame.shape() != [self.height, self.width, 3] {
            return Err(Error::Shape {
                what: "VideoWriter::write_frame frame",
                expected: format!("[{}, {}, 3]", self.height, self.width),
                found: frame.shape().to_vec(),
            });
        }
        self.fill_rgb(frame);
        self.scaler
            .run(&self.rgb, &mut self.yuv)
            .map_err(|error| self.failed("convert RGB to YUV", error))?;
        self.yuv.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        self.encoder
            .send_frame(&self.yuv)
            .map_err(|error| self.failed("encode a frame", error))?;
        self.write_packets()
    }

    /// Flushes the encoder and writes the file trailer (the MP4 index).
    pub fn finish(mut self) -> Result<()> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.encoder
            .send_eof()
            .map_err(|error| self.failed("flush the encoder", error))?;
        self.write_packets()?;
        self.output
            .write_trailer()
            .map_err(|error| self.failed("write the file trailer", error))
    }

    /// Copies the frame into the RGB buffer, repeating the last column/row into the padding.
    fn fill_rgb(&mut self, frame: ArrayView3<'_, u8>) {
        let frame = frame.as_standard_layout();
        let Some(pixels) = frame.as_slice() else {
            return;
        };
        let stride = self.rgb.stride(0);
        let row_bytes = self.width * 3;
        let padded_width = self.rgb.width() as usize != self.width;
        let encoded_height = self.rgb.height() as usize;
        let data = self.rgb.data_mut(0);
        for y in 0..encoded_height {
            let source_y = y.min(self.height - 1);
            let source = &pixels[source_y * row_bytes..(source_y + 1) * row_bytes];
            let row = &mut data[y * stride..];
            row[..row_bytes].copy_from_slice(source);
            if padded_width {
                row.copy_within(row_bytes - 3..row_bytes, row_bytes);
            }
        }
    }

    fn write_packets(&mut self) -> Result<()> {
        let stream_time_base = self
            .output
            .stream(self.stream_index)
            .map(|stream| stream.time_base())
            .unwrap_or(self.encoder_time_base);
        let mut packet = ffmpeg::Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {
                    packet.set_stream(self.stream_index);
                    packet.set_position(-1);
                    packet.rescale_ts(self.encoder_time_base, stream_time_base);
                    packet
                        .write_interleaved(&mut self.output)
                        .map_err(|error| self.failed("write a packet", error))?;
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::error::EAGAIN => {
                    return Ok(());
                }
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(error) => return Err(self.failed("receive an encoded packet", error)),
            }
        }
    }

    fn failed(&self, operation: &'static str, error: ffmpeg::Error) -> Error {
        Error::Ffmpeg {
            path: self.path.clone(),
            operation,
            reason: error.to_string(),
        }
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        let _ = self.finish_inner();
    }
}

/// Writes `video` as H.264 (yuv420p) at `video.fps`; the container comes from the extension
/// (`.mp4`). Width and height must be even unless `options.pad_to_even` is set.
pub fn write_video(path: impl AsRef<Path>, video: &Video, options: &WriteOptions) -> Result<()> {
    let path = path.as_ref();
    crate::video::check_rgb_frames("write_video frames", video.frames.shape())?;
    if video.is_empty() {
        return Err(Error::NoFrames {
            path: path.to_path_buf(),
            reason: "write_video was given zero frames".into(),
        });
    }
    let mut writer = VideoWriter::create(path, video.width(), video.height(), video.fps, options)?;
    for frame in video.frames.outer_iter() {
        writer.write_frame(frame)?;
    }
    writer.finish()
}
