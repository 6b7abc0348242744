//! Decoding: the streaming [`FrameReader`], and [`read_video`], [`probe`] and
//! [`read_luma_frames`] built on it.
//!
//! The reader drives FFmpeg (through `video_rs::ffmpeg`, i.e. ffmpeg-next) directly rather than
//! video-rs's `Decoder`, for three reasons: the decoder's thread count must be set before it is
//! opened (frame-threaded H.264 decodes several times faster), frames go through swscale straight
//! into the requested size and pixel format (small luma frames for shot detection never exist at
//! full size in RGB), and damage must be counted packet by packet instead of ending the stream at
//! the first error.

use std::path::{Path, PathBuf};

use ndarray::{Array3, Array4};
use video_rs::ffmpeg;
use video_rs::ffmpeg::format::Pixel;
use video_rs::ffmpeg::software::scaling;

use crate::error::{Error, Result};
use crate::ffmpeg_util::{
    ensure_init, existing_file_str, rational_to_f64, recognised_container, set_source_colorspace,
};
use crate::video::{Damage, DamagePolicy, SourceInfo, Video, VideoInfo};

/// Pixel layout of decoded frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelLayout {
    /// 3 channels, RGB (the default).
    #[default]
    Rgb,
    /// 1 channel, full-range luma (Y) as swscale computes it from the stream.
    Luma,
}

impl PixelLayout {
    /// Channels per pixel.
    pub fn channels(self) -> usize {
        match self {
            Self::Rgb => 3,
            Self::Luma => 1,
        }
    }

    fn ffmpeg_format(self) -> Pixel {
        match self {
            Self::Rgb => Pixel::RGB24,
            Self::Luma => Pixel::GRAY8,
        }
    }
}

/// How frames are scaled to [`ReadOptions::resize`] (and converted to RGB or luma).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScaleFilter {
    /// swscale's area filter: every source pixel contributes (the default; the best choice for
    /// frames that feed a model or a metric).
    #[default]
    Area,
    /// swscale's bilinear filter (its support widens with the downscale factor).
    Bilinear,
    /// swscale's fast bilinear filter: 2 taps horizontally whatever the scale factor, like
    /// OpenCV's `INTER_LINEAR` resize that PySceneDetect uses. About 40% cheaper than `Area` when
    /// shrinking 2.5x or more; fine details alias. Good for shot detection.
    FastBilinear,
    /// swscale's bicubic filter.
    Bicubic,
    /// swscale's nearest neighbour.
    Point,
    /// The centre-aligned bilinear resize of OpenCV's `INTER_LINEAR` (PySceneDetect's): two taps
    /// per axis at any factor, on the frame as a full-size RGB conversion would give it (each
    /// pixel with its 2×2 block's chroma). Computed straight from 8-bit YUV 4:2:0 planes without
    /// swscale, cheaper than [`FastBilinear`](Self::FastBilinear). Other pixel formats and luma
    /// output fall back to `FastBilinear`.
    Linear,
    /// Exactly the frames PySceneDetect scores: the frame converted to BGR at full size by
    /// swscale as OpenCV's FFmpeg backend asks for it (same-size conversion, default flags, the
    /// stream's colour tags not applied), then OpenCV's `INTER_LINEAR` resize reproduced bit for
    /// bit (fixed-point weights and rounding included). Measured on bikes.mp4 against
    /// opencv-python 5.1 with deblocking on: every byte equal. The full-size conversion makes it
    /// the slowest filter; luma output falls back to `FastBilinear`.
    OpenCv,
}

impl ScaleFilter {
    fn swscale_flags(self) -> scaling::Flags {
        match self {
            Self::Area => scaling::Flags::AREA,
            Self::Bilinear => scaling::Flags::BILINEAR,
            Self::FastBilinear => scaling::Flags::FAST_BILINEAR,
            Self::Bicubic => scaling::Flags::BICUBIC,
            Self::Point => scaling::Flags::POINT,
            Self::Linear => scaling::Flags::FAST_BILINEAR,
            // Only used at the source size (the conversion OpenCV asks for) with RGB output.
            Self::OpenCv => scaling::Flags::BICUBIC,
        }
    }
}

/// Which frames to decode and how to deliver them.
///
/// `start` and `stride` count source frames: with `start = 10, stride = 2, max_frames = Some(3)`
/// the source frames 10, 12 and 14 come back. A clean file that ends before `max_frames` frames
/// were collected returns fewer: `max_frames` is an upper bound, and
/// [`SourceInfo::info`]`.frames` says how long the file is. A file that ends before the frame
/// count its own index announces is damage (see [`DamagePolicy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Index of the first source frame to return (0-based).
    pub start: u64,
    /// At most this many frames are returned (`None`: to the end).
    pub max_frames: Option<usize>,
    /// Keep one source frame in `stride` (at least 1).
    pub stride: usize,
    /// Scale every frame to `(width, height)` with [`scale_filter`](Self::scale_filter) (`None`:
    /// the first frame's size; a stream that changes resolution midway is scaled back to it).
    pub resize: Option<(u32, u32)>,
    /// How frames are scaled (default: swscale's area filter).
    pub scale_filter: ScaleFilter,
    /// RGB or luma output.
    pub pixels: PixelLayout,
    /// Decoder threads; 0 lets FFmpeg pick (one per core, frame and slice threading).
    pub threads: usize,
    /// What to do when the file turns out to be damaged.
    pub on_damage: DamagePolicy,
    /// MP4/MOV: trust the container header for the stream's facts instead of letting FFmpeg
    /// decode the first frames to probe them (up to 7 frames of H.264 without B-frames, most of
    /// the time it takes to open a file; docs/performance.md). Other containers, and headers
    /// that leave something out, are probed as usual. Off by default.
    pub quick_open: bool,
    /// Which frames skip the codec's in-loop deblocking filter (H.264, HEVC); default: none.
    pub skip_loop_filter: SkipLoopFilter,
}

/// Frames whose in-loop deblocking filter (H.264, HEVC) the decoder skips: less decoding work
/// for slightly different pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SkipLoopFilter {
    /// Decode every frame exactly (the default).
    #[default]
    Never,
    /// Frames no other frame predicts from (most B-frames): their blockier pixels stay in those
    /// frames, nothing drifts. Saves part of the filter's cost on streams with B-frames.
    NonReference,
    /// Every frame: ~20% faster H.264 decoding, but reference frames are predicted from
    /// unfiltered pictures, so the differences grow until the next keyframe. Good enough for
    /// statistics of small, heavily scaled frames; not for frames that feed a model or a metric.
    All,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            start: 0,
            max_frames: None,
            stride: 1,
            resize: None,
            scale_filter: ScaleFilter::Area,
            pixels: PixelLayout::Rgb,
            threads: 0,
            on_damage: DamagePolicy::Fail,
            quick_open: false,
            skip_loop_filter: SkipLoopFilter::Never,
        }
    }
}

impl ReadOptions {
    /// Frames `start, start + stride, ...`, at most `max_frames` of them.
    pub fn range(mut self, start: u64, max_frames: usize) -> Self {
        self.start = start;
        self.max_frames = Some(max_frames);
        self
    }

    /// Keep one frame in `stride`.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Scale frames to `width` x `height`.
    pub fn resize(mut self, width: u32, height: u32) -> Self {
        self.resize = Some((width, height));
        self
    }

    /// How frames are scaled.
    pub fn scale_filter(mut self, filter: ScaleFilter) -> Self {
        self.scale_filter = filter;
        self
    }

    /// RGB or luma output.
    pub fn pixels(mut self, pixels: PixelLayout) -> Self {
        self.pixels = pixels;
        self
    }

    /// Return damaged files' frames with a report instead of an error.
    pub fn keep_damaged(mut self) -> Self {
        self.on_damage = DamagePolicy::Keep;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.stride == 0 {
            return Err(Error::InvalidArgument(
                "stride must be at least 1, found 0".into(),
            ));
        }
        if self.max_frames == Some(0) {
            return Err(Error::InvalidArgument(
                "max_frames must be at least 1, found 0".into(),
            ));
        }
        if let Some((width, height)) = self.resize
            && (width == 0 || height == 0 || width > 16384 || height > 16384)
        {
            return Err(Error::InvalidArgument(format!(
                "resize target must be between 1x1 and 16384x16384, found {width}x{height}"
            )));
        }
        Ok(())
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    /// Index of the frame in the source (0-based).
    pub index: u64,
    /// Presentation time in seconds from the stream start, when the stream has timestamps.
    pub time_s: Option<f64>,
    /// `[H, W, C]` pixels, `C` = 3 (RGB) or 1 (luma).
    pub pixels: Array3<u8>,
}

/// Luma frames from [`read_luma_frames`].
#[derive(Debug, Clone, PartialEq)]
pub struct LumaFrames {
    /// `[T, H, W]` luma.
    pub frames: Array3<u8>,
    /// Frames per second of the source.
    pub fps: f64,
    /// Damage seen while decoding (the fast path keeps damaged files' frames).
    pub damage: Option<Damage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Draining,
    Done,
}

/// Consecutive failures tolerated before a stream is declared unreadable from that point on.
const MAX_CONSECUTIVE_FAILURES: u32 = 1000;

/// Streaming decoder: frames one at a time ([`FrameReader::next_frame`], or as an iterator) or in
/// chunks ([`FrameReader::next_chunk`]), so long videos are never held in memory whole.
///
/// ```no_run
/// use cosmos_media::{FrameReader, ReadOptions};
/// # fn main() -> cosmos_media::Result<()> {
/// let mut reader = FrameReader::open("clip.mp4", &ReadOptions::default().resize(320, 180))?;
/// while let Some(chunk) = reader.next_chunk(16)? {
///     println!("{} frames of {}x{}", chunk.len(), chunk.width(), chunk.height());
/// }
/// # Ok(())
/// # }
/// ```
pub struct FrameReader {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    stream_index: usize,
    decoder: ffmpeg::decoder::Video,
    info: VideoInfo,
    options: ReadOptions,
    time_base: ffmpeg::Rational,
    origin_ts: i64,
    /// Whether source indices come from timestamps (after a seek) instead of counting.
    index_from_pts: bool,
    next_counted_index: u64,
    last_index: Option<u64>,
    scaler: Option<(scaling::Context, (Pixel, u32, u32))>,
    output_size: Option<(u32, u32)>,
    decoded: ffmpeg::frame::Video,
    scaled: ffmpeg::frame::Video,
    /// Buffers of [`ScaleFilter::Linear`].
    linear_scratch: crate::yuv_resize::Scratch,
    /// Buffers of [`ScaleFilter::OpenCv`].
    opencv_scratch: crate::opencv_resize::Scratch,
    pending_packet: Option<ffmpeg::Packet>,
    state: State,
    emitted: usize,
    stream_packets: u64,
    decoded_frames: u64,
    consecutive_failures: u32,
    damage: Damage,
    damage_reported: bool,
    /// Set while decoding one keyframe-delimited segment for [`ParallelFrameReader`].
    segment: Option<Segment>,
    /// pts - dts of the stream's first packet, for seeking to keyframes by dts (set by
    /// [`FrameReader::learn_pts_dts_shift`]).
    pts_dts_shift: Option<i64>,
}

/// Bounds of the segment a [`FrameReader`] decodes for the parallel reader: frames with
/// timestamps in `[start, end)`, where `start` is the timestamp of the keyframe the segment begins
/// with (no lower bound for the first segment) and `end` that of the next keyframe packet (none
/// before it is read: to the end of the stream).
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: Option<i64>,
    end: Option<i64>,
}

impl FrameReader {
    /// Opens `path` (anything FFmpeg reads) and prepares its best video stream.
    pub fn open(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Self> {
        Self::open_inner(path.as_ref(), options, true)
    }

    fn open_inner(path: &Path, options: &ReadOptions, allow_seek: bool) -> Result<Self> {
        options.validate()?;
        ensure_init()?;
        let path_str = existing_file_str(path)?;
        let input = open_input(path, path_str, options.quick_open)?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| Error::NotAVideo {
                path: path.to_path_buf(),
                reason: format!(
                    "the {} container holds no video stream",
                    input.format().name()
                ),
            })?;
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let origin_ts = if stream.start_time() == ffmpeg::ffi::AV_NOPTS_VALUE {
            0
        } else {
            stream.start_time()
        };
        let average_rate = stream.avg_frame_rate();
        let base_rate = stream.rate();
        let fps = match rational_to_f64(average_rate) {
            fps if fps > 0.0 => fps,
            _ => rational_to_f64(base_rate),
        };
        let duration_s = if stream.duration() > 0 && rational_to_f64(time_base) > 0.0 {
            Some(stream.duration() as f64 * rational_to_f64(time_base))
        } else if input.duration() > 0 {
            Some(input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE))
        } else {
            None
        };
        let frames = (stream.frames() > 0).then_some(stream.frames() as u64);

        let (decoder, codec_name) = open_decoder(
            path,
            stream.parameters(),
            time_base,
            options,
            options.threads,
        )?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: "the video stream declares no frame size".into(),
            });
        }
        let info = VideoInfo {
            frames,
            fps,
            width: decoder.width(),
            height: decoder.height(),
            duration_s,
            codec: codec_name,
            container: input.format().name().to_string(),
        };
        let constant_rate = average_rate == base_rate && fps > 0.0;
        let mut reader = Self {
            path: path.to_path_buf(),
            input,
            stream_index,
            decoder,
            info,
            options: options.clone(),
            time_base,
            origin_ts,
            index_from_pts: false,
            next_counted_index: 0,
            last_index: None,
            scaler: None,
            output_size: options.resize,
            decoded: ffmpeg::frame::Video::empty(),
            scaled: ffmpeg::frame::Video::empty(),
            linear_scratch: crate::yuv_resize::Scratch::default(),
            opencv_scratch: crate::opencv_resize::Scratch::default(),
            pending_packet: None,
            state: State::Reading,
            emitted: 0,
            stream_packets: 0,
            decoded_frames: 0,
            consecutive_failures: 0,
            damage: Damage {
                expected_frames: frames,
                ..Damage::default()
            },
            damage_reported: false,
            segment: None,
            pts_dts_shift: None,
        };
        if allow_seek && options.start > 0 && constant_rate {
            reader.seek_near_start();
        }
        Ok(reader)
    }

    /// What the container says about the stream.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The file being decoded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frame rate of the returned frames (source rate divided by the stride).
    pub fn fps(&self) -> f64 {
        self.info.fps / self.options.stride as f64
    }

    /// `(width, height)` of the returned frames.
    pub fn output_size(&self) -> (u32, u32) {
        self.output_size
            .unwrap_or((self.info.width, self.info.height))
    }

    /// Damage seen so far, `None` while there is none. With [`DamagePolicy::Keep`] check this
    /// after the last frame; counts cover only the part of the file decoded so far.
    pub fn damage(&self) -> Option<&Damage> {
        self.damage.any().then_some(&self.damage)
    }

    /// The next frame, or `None` after the last one (or once `max_frames` were returned).
    pub fn next_frame(&mut self) -> Result<Option<VideoFrame>> {
        let mut pixels = Vec::new();
        match self.next_into(&mut pixels)? {
            Some((index, time_s)) => {
                let (width, height) = self.output_size();
                let shape = (
                    height as usize,
                    width as usize,
                    self.options.pixels.channels(),
                );
                let pixels = Array3::from_shape_vec(shape, pixels)
                    .map_err(|error| Error::InvalidArgument(format!("frame buffer: {error}")))?;
                Ok(Some(VideoFrame {
                    index,
                    time_s,
                    pixels,
                }))
            }
            None => Ok(None),
        }
    }

    /// Up to `max_frames` next frames as a [`Video`] (RGB layout only), or `None` at the end.
    pub fn next_chunk(&mut self, max_frames: usize) -> Result<Option<Video>> {
        if self.options.pixels != PixelLayout::Rgb {
            return Err(Error::InvalidArgument(
                "next_chunk returns RGB video; the reader decodes luma".into(),
            ));
        }
        let mut pixels = Vec::new();
        let mut count = 0;
        let mut first_frame = None;
        while count < max_frames {
            match self.next_into(&mut pixels)? {
                Some((index, _)) => {
                    first_frame.get_or_insert(index);
                    count += 1;
                }
                None => break,
            }
        }
        if count == 0 {
            return Ok(None);
        }
        let frames = self.frames_array(pixels, count)?;
        Ok(Some(Video {
            frames,
            fps: self.fps(),
            source: Some(self.source_info(first_frame.unwrap_or(0))),
        }))
    }

    /// Decodes everything left into one [`Video`] (RGB layout only).
    pub fn read_to_end(mut self) -> Result<Video> {
        if self.options.pixels != PixelLayout::Rgb {
            return Err(Error::InvalidArgument(
                "read_to_end returns RGB video; the reader decodes luma".into(),
            ));
        }
        let (pixels, count, first_frame) = self.collect_all()?;
        let frames = self.frames_array(pixels, count)?;
        Ok(Video {
            frames,
            fps: self.fps(),
            source: Some(self.source_info(first_frame)),
        })
    }

    fn collect_all(&mut self) -> Result<(Vec<u8>, usize, u64)> {
        let (width, height) = self.output_size();
        let frame_bytes = width as usize * height as usize * self.options.pixels.channels();
        let expected = self
            .info
            .frames
            .map(|frames| frames.saturating_sub(self.options.start) as usize);
        let capacity = match (self.options.max_frames, expected) {
            (Some(max), Some(expected)) => max.min(expected.div_ceil(self.options.stride)),
            (Some(max), None) => max.min(64),
            (None, Some(expected)) => expected.div_ceil(self.options.stride),
            (None, None) => 64,
        };
        let mut pixels = Vec::with_capacity(capacity.min(4096) * frame_bytes);
        let mut count = 0;
        let mut first_frame = None;
        while let Some((index, _)) = self.next_into(&mut pixels)? {
            first_frame.get_or_insert(index);
            count += 1;
        }
        if count == 0 {
            let reason = match self.damage.decoded_frames {
                Some(0) | None => "the stream decoded to no frame".to_string(),
                Some(length) => format!(
                    "start frame {} is past the end of the stream ({length} frames)",
                    self.options.start
                ),
            };
            return Err(Error::NoFrames {
                path: self.path.clone(),
                reason,
            });
        }
        Ok((pixels, count, first_frame.unwrap_or(0)))
    }

    fn frames_array(&self, pixels: Vec<u8>, count: usize) -> Result<Array4<u8>> {
        let (width, height) = self.output_size();
        let shape = (
            count,
            height as usize,
            width as usize,
            self.options.pixels.channels(),
        );
        Array4::from_shape_vec(shape, pixels)
            .map_err(|error| Error::InvalidArgument(format!("frame buffer: {error}")))
    }

    fn source_info(&self, first_frame: u64) -> SourceInfo {
        SourceInfo {
            path: self.path.clone(),
            info: self.info.clone(),
            first_frame,
            stride: self.options.stride,
            damage: self.damage().cloned(),
        }
    }

    /// Seeks to the keyframe at or before `start`; frames are then numbered by timestamp.
    fn seek_near_start(&mut self) {
        let tb = rational_to_f64(self.time_base);
        if tb <= 0.0 {
            return;
        }
        let seconds = self.options.start as f64 / self.info.fps;
        let target_ts = self.origin_ts + (seconds / tb).round() as i64;
        let target_us =
            ffmpeg::Rescale::rescale(&target_ts, self.time_base, ffmpeg::rescale::TIME_BASE);
        if self.input.seek(target_us, ..target_us).is_ok() {
            self.decoder.flush();
            self.index_from_pts = true;
        }
    }

    /// Reopens the file and decodes from its start, numbering frames by counting. Used when a
    /// seek landed after `start` or produced frames without timestamps, before any frame was
    /// returned.
    fn restart_counting(&mut self) -> Result<()> {
        *self = Self::open_inner(&self.path, &self.options, false)?;
        Ok(())
    }

    /// Appends the next wanted frame's pixels to `out`; returns its index and time.
    fn next_into(&mut self, out: &mut Vec<u8>) -> Result<Option<(u64, Option<f64>)>> {
        if self
            .options
            .max_frames
            .is_some_and(|max| self.emitted >= max)
        {
            return Ok(None);
        }
        loop {
            if !self.decode_one()? {
                self.finish_stream()?;
                return Ok(None);
            }
            let timestamp = self.decoded.timestamp();
            let index = if self.index_from_pts {
                let from_pts = timestamp.map(|ts| self.index_of_timestamp(ts));
                match (from_pts, self.last_index) {
                    // Before the first returned frame, a seek that overshot `start` or frames
                    // without timestamps mean the numbering cannot be trusted: start over.
                    (Some(index), _)
                        if self.emitted == 0
                            && self.last_index.is_none()
                            && index > self.options.start =>
                    {
                        self.restart_counting()?;
                        continue;
                    }
                    (None, None) => {
                        self.restart_counting()?;
                        continue;
                    }
                    (Some(index), _) => index,
                    (None, Some(last)) => last + 1,
                }
            } else {
                let index = self.next_counted_index;
                self.next_counted_index += 1;
                index
            };
            self.last_index = Some(index);
            let start = self.options.start;
            if index < start {
                // Frames before `start` (after a seek, possibly leading frames of an open GOP
                // that reference pictures before the keyframe) are neither returned nor judged.
                continue;
            }
            if self.decoded.is_corrupt() || self.decoded.has_decode_errors() {
                self.damage.corrupt_frames += 1;
                self.fail_if_strict()?;
            }
            if !(index - start).is_multiple_of(self.options.stride as u64) {
                continue;
            }
            let time_s =
                timestamp.map(|ts| (ts - self.origin_ts) as f64 * rational_to_f64(self.time_base));
            self.convert_into(out)?;
            self.emitted += 1;
            return Ok(Some((index, time_s)));
        }
    }

    fn index_of_timestamp(&self, ts: i64) -> u64 {
        let seconds = (ts - self.origin_ts) as f64 * rational_to_f64(self.time_base);
        (seconds * self.info.fps).round().max(0.0) as u64
    }

    /// Scales `self.decoded` into the output format and size and appends its rows to `out`.
    fn convert_into(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let source = (
            self.decoded.format(),
            self.decoded.width(),
            self.decoded.height(),
        );
        let (width, height) = *self.output_size.get_or_insert((source.1, source.2));
        if self.linear_into(width, height, out) {
            return Ok(());
        }
        if self.options.scale_filter == ScaleFilter::OpenCv
            && self.options.pixels == PixelLayout::Rgb
        {
            return self.opencv_into(source, (width, height), out);
        }
        let rebuild = self.scaler.as_ref().is_none_or(|(_, key)| *key != source);
        if rebuild {
            // No ACCURATE_RND: it disables swscale's SIMD YUV→RGB path and made full-size RGB
            // decoding of bikes.mp4 ~70% slower for at most one level of rounding difference.
            let flags = self.options.scale_filter.swscale_flags();
            let format = self.options.pixels.ffmpeg_format();
            let mut scaler =
                scaling::Context::get(source.0, source.1, source.2, format, width, height, flags)
                    .map_err(|error| Error::Ffmpeg {
                    path: self.path.clone(),
                    operation: "convert frames",
                    reason: format!("{source:?} to {format:?} {width}x{height}: {error}"),
                })?;
            set_source_colorspace(&mut scaler, &self.decoded);
            self.scaler = Some((scaler, source));
        }
        let row_bytes = width as usize * self.options.pixels.channels();
        let rows = height as usize;
        let stride = self.run_scaler(rows, row_bytes, "scaled")?;
        let data = self.scaled.data(0);
        out.reserve(rows * row_bytes);
        for row in 0..rows {
            out.extend_from_slice(&data[row * stride..row * stride + row_bytes]);
        }
        Ok(())
    }

    /// Runs the cached scaler on the decoded frame into `self.scaled` and checks that its first
    /// plane holds `rows` rows of `row_bytes`; returns the plane's stride.
    fn run_scaler(&mut self, rows: usize, row_bytes: usize, plane: &str) -> Result<usize> {
        let Some((scaler, _)) = self.scaler.as_mut() else {
            return Err(Error::InvalidArgument("scaler missing".into()));
        };
        scaler
            .run(&self.decoded, &mut self.scaled)
            .map_err(|error| Error::Ffmpeg {
                path: self.path.clone(),
                operation: "convert a frame",
                reason: error.to_string(),
            })?;
        let stride = self.scaled.stride(0);
        let bytes = self.scaled.data(0).len();
        if stride < row_bytes || bytes < (rows - 1) * stride + row_bytes {
            return Err(Error::Ffmpeg {
                path: self.path.clone(),
                operation: "convert a frame",
                reason: format!(
                    "{plane} plane of {bytes} bytes, stride {stride}, for {rows} rows of {row_bytes}"
                ),
            });
        }
        Ok(stride)
    }

    /// [`ScaleFilter::OpenCv`]'s path: full-size BGR through swscale as OpenCV converts frames,
    /// then OpenCV's bilinear resize, then RGB order.
    fn opencv_into(
        &mut self,
        source: (Pixel, u32, u32),
        (width, height): (u32, u32),
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let rebuild = self.scaler.as_ref().is_none_or(|(_, key)| *key != source);
        if rebuild {
            // OpenCV's FFmpeg backend: `sws_getCachedContext(..., same size, BGR24,
            // SWS_BICUBIC)` and no colour-space details, so swscale's defaults apply.
            let scaler = scaling::Context::get(
                source.0,
                source.1,
                source.2,
                Pixel::BGR24,
                source.1,
                source.2,
                scaling::Flags::BICUBIC,
            )
            .map_err(|error| Error::Ffmpeg {
                path: self.path.clone(),
                operation: "convert frames",
                reason: format!("{source:?} to BGR24: {error}"),
            })?;
            self.scaler = Some((scaler, source));
        }
        let (source_width, source_height) = (source.1 as usize, source.2 as usize);
        let row_bytes = source_width * 3;
        let stride = self.run_scaler(source_height, row_bytes, "BGR")?;
        let data = self.scaled.data(0);
        let first = out.len();
        if (width as usize, height as usize) == (source_width, source_height) {
            for row in 0..source_height {
                out.extend_from_slice(&data[row * stride..row * stride + row_bytes]);
            }
        } else {
            crate::opencv_resize::resize_linear(
                data,
                stride,
                (source_width, source_height),
                3,
                (width as usize, height as usize),
                &mut self.opencv_scratch,
                out,
            );
        }
        for pixel in out[first..].chunks_exact_mut(3) {
            pixel.swap(0, 2);
        }
        Ok(())
    }

    /// [`ScaleFilter::Linear`]'s path: resizes `self.decoded` to `width` x `height` RGB without
    /// swscale when that filter is asked for, the output is RGB and the frame 8-bit YUV 4:2:0.
    /// `false`: not done (the caller uses swscale).
    fn linear_into(&mut self, width: u32, height: u32, out: &mut Vec<u8>) -> bool {
        let frame = &self.decoded;
        let format = frame.format();
        if self.options.scale_filter != ScaleFilter::Linear
            || self.options.pixels != PixelLayout::Rgb
            || !matches!(format, Pixel::YUV420P | Pixel::YUVJ420P)
        {
            return false;
        }
        let full_range =
            format == Pixel::YUVJ420P || frame.color_range() == ffmpeg::util::color::Range::JPEG;
        let space = ffmpeg::ffi::AVColorSpace::from(frame.color_space()) as i32;
        let (kr, kb) = crate::yuv_resize::YuvMatrix::weights_of_colorspace(space);
        let matrix = crate::yuv_resize::YuvMatrix::like_swscale(kr, kb, full_range);
        let planes = crate::yuv_resize::Yuv420 {
            y: frame.data(0),
            y_stride: frame.stride(0),
            u: frame.data(1),
            u_stride: frame.stride(1),
            v: frame.data(2),
            v_stride: frame.stride(2),
            width: frame.width() as usize,
            height: frame.height() as usize,
        };
        crate::yuv_resize::resize_to_rgb(
            &planes,
            (width as usize, height as usize),
            &matrix,
            &mut self.linear_scratch,
            out,
        )
    }

    /// The container index's keyframes of the stream: `(decode-order position, dts)`, and the
    /// number of index entries (empty when the container keeps no index).
    pub(crate) fn index_keyframes(&self) -> (Vec<(u64, i64)>, u64) {
        let Some(stream) = self.input.stream(self.stream_index) else {
            return (Vec::new(), 0);
        };
        // SAFETY: the stream pointer is valid while `self.input` lives; the index functions only
        // read the demuxer's index, and entries are copied out before the next call.
        unsafe {
            let raw = stream.as_ptr() as *mut ffmpeg::ffi::AVStream;
            let count = ffmpeg::ffi::avformat_index_get_entries_count(raw).max(0);
            let mut keyframes = Vec::new();
            for index in 0..count {
                let entry = ffmpeg::ffi::avformat_index_get_entry(raw, index);
                if entry.is_null() {
                    return (Vec::new(), 0);
                }
                if (*entry).flags() & ffmpeg::ffi::AVINDEX_KEYFRAME != 0 {
                    keyframes.push((index as u64, (*entry).timestamp));
                }
            }
            (keyframes, count as u64)
        }
    }

    /// Opens `path` for [`ParallelFrameReader`](crate::ParallelFrameReader)'s workers (no seek to
    /// `options.start`).
    pub(crate) fn open_for_segments(path: &Path, options: &ReadOptions) -> Result<Self> {
        Self::open_inner(path, options, false)
    }

    /// Time base of the stream's timestamps.
    pub(crate) fn time_base(&self) -> ffmpeg::Rational {
        self.time_base
    }

    /// Replaces the decoder with one running `threads` threads (before any frame was decoded).
    pub(crate) fn reopen_decoder(&mut self, threads: usize) -> Result<()> {
        let stream = self
            .input
            .stream(self.stream_index)
            .ok_or_else(|| Error::InvalidArgument("video stream missing".into()))?;
        let (decoder, _) = open_decoder(
            &self.path,
            stream.parameters(),
            self.time_base,
            &self.options,
            threads,
        )?;
        self.decoder = decoder;
        Ok(())
    }

    /// Sets the pts - dts offset used to seek to keyframes by their decode timestamps.
    pub(crate) fn set_pts_dts_shift(&mut self, shift: i64) {
        self.pts_dts_shift = Some(shift);
    }

    /// Stream start time (the first frame's pts) in the stream's time base.
    pub(crate) fn origin_ts(&self) -> i64 {
        self.origin_ts
    }

    /// Fixes the output size before the first frame.
    pub(crate) fn set_output_size(&mut self, size: (u32, u32)) {
        self.options.resize = Some(size);
        self.output_size = Some(size);
    }

    /// Positions the reader on the keyframe with decode timestamp `keyframe_dts` and starts a
    /// segment there (`first`: the segment starting the stream, which has no lower bound).
    ///
    /// Demuxers seek by presentation time, so the target is the keyframe's dts shifted by the
    /// stream's initial pts - dts offset; packets before the keyframe (a seek that landed on an
    /// earlier keyframe) are read and dropped, and a seek past it is retried without the shift.
    pub(crate) fn start_segment(&mut self, keyframe_dts: i64, first: bool) -> Result<()> {
        let shift = self.pts_dts_shift.unwrap_or(0);
        let targets = if shift == 0 {
            vec![keyframe_dts]
        } else {
            vec![keyframe_dts + shift, keyframe_dts]
        };
        let seek_failed = |reason: String| Error::Ffmpeg {
            path: self.path.clone(),
            operation: "seek to a keyframe",
            reason,
        };
        let mut landed = None;
        for target in targets {
            // SAFETY: the format context is valid while `self.input` lives.
            let status = unsafe {
                ffmpeg::ffi::av_seek_frame(
                    self.input.as_mut_ptr(),
                    self.stream_index as std::os::raw::c_int,
                    target,
                    ffmpeg::ffi::AVSEEK_FLAG_BACKWARD,
                )
            };
            if status < 0 {
                return Err(seek_failed(ffmpeg::Error::from(status).to_string()));
            }
            loop {
                let mut packet = ffmpeg::Packet::empty();
                packet
                    .read(&mut self.input)
                    .map_err(|error| seek_failed(format!("reading after the seek: {error}")))?;
                if packet.stream() != self.stream_index {
                    continue;
                }
                match packet.dts() {
                    Some(dts) if dts < keyframe_dts => continue,
                    Some(dts) if dts == keyframe_dts && packet.is_key() => {
                        landed = Some(packet);
                    }
                    other => {
                        landed = None;
                        let _ = other;
                    }
                }
                break;
            }
            if landed.is_some() {
                break;
            }
        }
        let Some(packet) = landed else {
            return Err(seek_failed(format!(
                "no keyframe packet with dts {keyframe_dts} found"
            )));
        };
        let pts = packet.pts().ok_or_else(|| Error::Ffmpeg {
            path: self.path.clone(),
            operation: "split the stream at keyframes",
            reason: "a keyframe packet has no timestamp".into(),
        })?;
        self.decoder.flush();
        self.pending_packet = Some(packet);
        self.stream_packets += 1;
        self.state = State::Reading;
        self.consecutive_failures = 0;
        self.segment = Some(Segment {
            start: (!first).then_some(pts),
            end: None,
        });
        Ok(())
    }

    /// Ends the segment at the next keyframe packet read.
    fn track_segment(&mut self, packet: &ffmpeg::Packet) -> Result<()> {
        let Some(segment) = self.segment.as_mut() else {
            return Ok(());
        };
        if packet.is_key() && segment.end.is_none() {
            segment.end = Some(packet.pts().ok_or_else(|| Error::Ffmpeg {
                path: self.path.clone(),
                operation: "split the stream at keyframes",
                reason: "a keyframe packet has no timestamp".into(),
            })?);
        }
        Ok(())
    }

    /// Appends the next frame of the current segment to `out`; returns its time, or `None` at
    /// the segment's end.
    pub(crate) fn next_segment_frame(&mut self, out: &mut Vec<u8>) -> Result<Option<Option<f64>>> {
        loop {
            if !self.decode_one()? {
                return Ok(None);
            }
            let Some(segment) = self.segment else {
                return Err(Error::InvalidArgument("no segment started".into()));
            };
            let Some(timestamp) = self.decoded.timestamp() else {
                return Err(Error::Ffmpeg {
                    path: self.path.clone(),
                    operation: "split the stream at keyframes",
                    reason: "a decoded frame has no timestamp".into(),
                });
            };
            if segment.start.is_some_and(|start| timestamp < start) {
                // A leading picture of an open GOP: the previous segment decodes it whole.
                continue;
            }
            if segment.end.is_some_and(|end| timestamp >= end) {
                return Ok(None);
            }
            if self.decoded.is_corrupt() || self.decoded.has_decode_errors() {
                self.damage.corrupt_frames += 1;
                self.fail_if_strict()?;
            }
            self.convert_into(out)?;
            let time_s = (timestamp - self.origin_ts) as f64 * rational_to_f64(self.time_base);
            return Ok(Some(Some(time_s)));
        }
    }

    /// Damage counted so far (all fields, even when there is none).
    pub(crate) fn damage_so_far(&self) -> &Damage {
        &self.damage
    }

    /// Decodes the next frame into `self.decoded`; `false` at the end of the stream.
    fn decode_one(&mut self) -> Result<bool> {
        loop {
            if self.state == State::Done {
                return Ok(false);
            }
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    self.decoded_frames += 1;
                    self.consecutive_failures = 0;
                    return Ok(true);
                }
                Err(ffmpeg::Error::Eof) => {
                    self.state = State::Done;
                    return Ok(false);
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::error::EAGAIN => {
                    if self.state == State::Draining {
                        // A draining decoder never waits for input; treat as the end.
                        self.state = State::Done;
                        return Ok(false);
                    }
                    self.feed_packet()?;
                }
                Err(_) => {
                    self.damage.rejected_packets += 1;
                    self.count_failure();
                    self.fail_if_strict()?;
                }
            }
        }
    }

    /// Sends the next packet of the stream to the decoder (or starts draining at the end).
    fn feed_packet(&mut self) -> Result<()> {
        loop {
            let packet = match self.pending_packet.take() {
                Some(packet) => packet,
                None => {
                    let mut packet = ffmpeg::Packet::empty();
                    match packet.read(&mut self.input) {
                        Ok(()) => {}
                        Err(ffmpeg::Error::Eof) => {
                            self.start_draining();
                            return Ok(());
                        }
                        Err(ffmpeg::Error::InvalidData) => {
                            self.damage.unreadable_packets += 1;
                            self.count_failure();
                            self.fail_if_strict()?;
                            if self.state != State::Reading {
                                return Ok(());
                            }
                            continue;
                        }
                        Err(error) => {
                            self.damage.read_error = Some(error.to_string());
                            self.start_draining();
                            self.fail_if_strict()?;
                            return Ok(());
                        }
                    }
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    self.stream_packets += 1;
                    if self.segment.is_some() {
                        self.track_segment(&packet)?;
                    }
                    packet
                }
            };
            return match self.decoder.send_packet(&packet) {
                Ok(()) => Ok(()),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::error::EAGAIN => {
                    self.pending_packet = Some(packet);
                    Ok(())
                }
                Err(_) => {
                    self.damage.rejected_packets += 1;
                    self.count_failure();
                    self.fail_if_strict()
                }
            };
        }
    }

    fn start_draining(&mut self) {
        self.state = match self.decoder.send_eof() {
            Ok(()) => State::Draining,
            Err(_) => State::Done,
        };
    }

    fn count_failure(&mut self) {
        self.consecutive_failures += 1;
        if self.consecutive_failures > MAX_CONSECUTIVE_FAILURES {
            self.damage.read_error = Some(format!(
                "{MAX_CONSECUTIVE_FAILURES} consecutive packets failed; giving up"
            ));
            self.start_draining();
            self.state = State::Done;
        }
    }

    /// At the end of the stream: compares what arrived with what the index announced.
    fn finish_stream(&mut self) -> Result<()> {
        self.state = State::Done;
        self.damage.packets_read = Some(self.stream_packets);
        self.damage.decoded_frames = Some(self.decoded_frames);
        if self.index_from_pts {
            // After a seek the packets before it were never read; the frame numbering tells how
            // far the stream went.
            let reached = self.last_index.map(|last| last + 1);
            self.damage.packets_read = reached;
            self.damage.decoded_frames = reached;
        }
        self.fail_if_strict()
    }

    fn fail_if_strict(&mut self) -> Result<()> {
        if self.options.on_damage == DamagePolicy::Fail
            && self.damage.any()
            && !self.damage_reported
        {
            self.damage_reported = true;
            self.state = State::Done;
            return Err(Error::Damaged {
                path: self.path.clone(),
                damage: self.damage.clone(),
            });
        }
        Ok(())
    }
}

impl Iterator for FrameReader {
    type Item = Result<VideoFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// Opens a decoder for a stream with `parameters`, `threads` threads (0: FFmpeg's choice).
fn open_decoder(
    path: &Path,
    parameters: ffmpeg::codec::Parameters,
    time_base: ffmpeg::Rational,
    options: &ReadOptions,
    threads: usize,
) -> Result<(ffmpeg::decoder::Video, String)> {
    let decoder_failed = |operation: &'static str, error: ffmpeg::Error| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot {operation} the video decoder: {error}"),
    };
    let context = ffmpeg::codec::context::Context::from_parameters(parameters)
        .map_err(|error| decoder_failed("configure", error))?;
    let codec_id = context.id();
    let codec = ffmpeg::decoder::find(codec_id).ok_or_else(|| Error::NotAVideo {
        path: path.to_path_buf(),
        reason: format!("no decoder for codec {codec_id:?} in this FFmpeg build"),
    })?;
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(time_base);
    match options.skip_loop_filter {
        SkipLoopFilter::Never => {}
        SkipLoopFilter::NonReference => decoder.skip_loop_filter(ffmpeg::Discard::NonReference),
        SkipLoopFilter::All => decoder.skip_loop_filter(ffmpeg::Discard::All),
    }
    let mut codec_options = ffmpeg::Dictionary::new();
    let threads = if threads == 0 {
        "auto".to_string()
    } else {
        threads.to_string()
    };
    codec_options.set("threads", &threads);
    let decoder = decoder
        .open_as_with(codec, codec_options)
        .and_then(|opened| opened.video())
        .map_err(|error| decoder_failed("open", error))?;
    Ok((decoder, codec.name().to_string()))
}

/// Opens the container. With `quick_open`, an MP4/MOV file whose header states the video
/// stream's size and frame rate is taken at its word: FFmpeg's stream probing, which decodes up to
/// 7 frames of an H.264 stream without B-frames, is cut short. Other
/// containers, or headers that leave something out, are opened again with full probing.
fn open_input(
    path: &Path,
    path_str: &str,
    quick_open: bool,
) -> Result<ffmpeg::format::context::Input> {
    if quick_open {
        let mut format_options = ffmpeg::Dictionary::new();
        // The smallest probe size FFmpeg accepts: probing stops after the first packet.
        format_options.set("probesize", "32");
        if let Ok(input) = ffmpeg::format::input_with_dictionary(path_str, format_options)
            && header_is_complete(&input)
        {
            return Ok(input);
        }
    }
    ffmpeg::format::input(path_str).map_err(|error| classify_open_error(path, error))
}

/// Whether an MP4/MOV header states what the reader needs about its best video stream.
fn header_is_complete(input: &ffmpeg::format::context::Input) -> bool {
    if !input.format().name().split(',').any(|name| name == "mov") {
        return false;
    }
    let Some(stream) = input.streams().best(ffmpeg::media::Type::Video) else {
        return false;
    };
    let parameters = stream.parameters();
    // SAFETY: the parameters pointer is valid while `input` lives; only plain fields are read.
    let (width, height, extradata) = unsafe {
        let raw = parameters.as_ptr();
        ((*raw).width, (*raw).height, (*raw).extradata_size)
    };
    width > 0
        && height > 0
        && extradata > 0
        && rational_to_f64(stream.avg_frame_rate()) > 0.0
        && stream.frames() > 0
}

fn classify_open_error(path: &Path, error: ffmpeg::Error) -> Error {
    match recognised_container(path) {
        Some(container) => Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "FFmpeg recognises a {container} container but cannot open it: {error}"
            ),
        },
        None => Error::NotAVideo {
            path: path.to_path_buf(),
            reason: error.to_string(),
        },
    }
}

/// Decodes a video file into memory as RGB frames.
///
/// Damage is an error unless `options.on_damage` is [`DamagePolicy::Keep`], in which case the
/// frames that decoded come back with [`Video::damage`] set.
pub fn read_video(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Video> {
    if options.pixels != PixelLayout::Rgb {
        return Err(Error::InvalidArgument(
            "read_video decodes RGB; use read_luma_frames for luma".into(),
        ));
    }
    FrameReader::open(path, options)?.read_to_end()
}

/// What the container says about the best video stream, without decoding frames.
pub fn probe(path: impl AsRef<Path>) -> Result<VideoInfo> {
    let options = ReadOptions {
        threads: 1,
        ..ReadOptions::default()
    };
    Ok(FrameReader::open(path, &options)?.info)
}

/// Fast path for shot detection and motion statistics: every frame as `width` x `height` luma,
/// scaled by swscale straight from the decoder's YUV planes, with multi-threaded decoding.
///
/// Damaged files return whatever decoded together with the damage report.
pub fn read_luma_frames(path: impl AsRef<Path>, width: u32, height: u32) -> Result<LumaFrames> {
    let options = ReadOptions::default()
        .resize(width, height)
        .pixels(PixelLayout::Luma)
        .keep_damaged();
    let mut reader = FrameReader::open(path, &options)?;
    let (pixels, count, _) = reader.collect_all()?;
    let frames = Array3::from_shape_vec((count, height as usize, width as usize), pixels)
        .map_err(|error| Error::InvalidArgument(format!("frame buffer: {error}")))?;
    Ok(LumaFrames {
        frames,
        fps: reader.fps(),
        damage: reader.damage().cloned(),
    })
}
