//! In-memory video, the facts a container states about a video, and the damage report.

use std::fmt;
use std::path::PathBuf;

use ndarray::{Array4, ArrayView3, Axis};

use crate::error::{Error, Result};

/// Decoded frames with their frame rate.
///
/// `frames` is `[T, H, W, 3]`, RGB, row-major, one byte per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// `[T, H, W, 3]` RGB frames.
    pub frames: Array4<u8>,
    /// Frames per second of `frames` (after any stride: a 25 fps file read with stride 2 gives 12.5).
    pub fps: f64,
    /// Where the frames came from, when they were decoded from a file.
    pub source: Option<SourceInfo>,
}

impl Video {
    /// Wraps frames made in memory. `frames` must be `[T, H, W, 3]` and `fps` finite and positive.
    pub fn new(frames: Array4<u8>, fps: f64) -> Result<Self> {
        check_rgb_frames("Video::new frames", frames.shape())?;
        check_fps(fps)?;
        Ok(Self {
            frames,
            fps,
            source: None,
        })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len_of(Axis(0))
    }

    /// True when the video holds no frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frame height in pixels.
    pub fn height(&self) -> usize {
        self.frames.len_of(Axis(1))
    }

    /// Frame width in pixels.
    pub fn width(&self) -> usize {
        self.frames.len_of(Axis(2))
    }

    /// Duration in seconds (`len / fps`; 0 when fps is unknown).
    pub fn duration_s(&self) -> f64 {
        if self.fps > 0.0 {
            self.len() as f64 / self.fps
        } else {
            0.0
        }
    }

    /// One frame, `[H, W, 3]`, or `None` past the end.
    pub fn frame(&self, index: usize) -> Option<ArrayView3<'_, u8>> {
        (index < self.len()).then(|| self.frames.index_axis(Axis(0), index))
    }

    /// The damage report of the decode that produced these frames, if any was found.
    pub fn damage(&self) -> Option<&Damage> {
        self.source
            .as_ref()
            .and_then(|source| source.damage.as_ref())
    }
}

/// Provenance of a decoded [`Video`].
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// The file decoded.
    pub path: PathBuf,
    /// What the container says about the whole file.
    pub info: VideoInfo,
    /// Source index of the first returned frame.
    pub first_frame: u64,
    /// Distance in source frames between returned frames.
    pub stride: usize,
    /// Damage seen while decoding (only with [`DamagePolicy::Keep`]; [`DamagePolicy::Fail`]
    /// turns damage into an error).
    pub damage: Option<Damage>,
}

/// What a container states about its best video stream ([`probe`](crate::probe)).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame count from the container index (MP4 `stsz`), `None` when the container does not say
    /// (Matroska, raw streams).
    pub frames: Option<u64>,
    /// Frames per second (the stream's average rate, else its base rate); 0.0 when unknown.
    pub fps: f64,
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// Stream (else container) duration in seconds, `None` when unknown.
    pub duration_s: Option<f64>,
    /// FFmpeg's codec name, e.g. `h264`.
    pub codec: String,
    /// FFmpeg's container (demuxer) name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
}

/// What to do when decoding meets damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DamagePolicy {
    /// Return [`Error::Damaged`] (the default: nothing is lost silently).
    #[default]
    Fail,
    /// Return whatever decoded, with the [`Damage`] report in [`SourceInfo::damage`]
    /// (or [`FrameReader::damage`](crate::FrameReader::damage) when streaming).
    Keep,
}

/// Everything that went wrong in one decode. Counts cover only the part of the file decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Damage {
    /// Frames the container index announced, when it did.
    pub expected_frames: Option<u64>,
    /// Packets of the video stream read before the end (one per frame in MP4), set when the
    /// decode reached the end of the stream.
    pub packets_read: Option<u64>,
    /// Frames the decoder produced in total (returned or skipped), set when the decode reached
    /// the end of the stream.
    pub decoded_frames: Option<u64>,
    /// Packets the decoder refused (`send_packet`/`receive_frame` errors).
    pub rejected_packets: u64,
    /// Frames the decoder produced but flagged as corrupt or concealed.
    pub corrupt_frames: u64,
    /// Packets the demuxer could not parse and skipped.
    pub unreadable_packets: u64,
    /// Set when reading stopped on an I/O or data error instead of a clean end of file.
    pub read_error: Option<String>,
}

impl Damage {
    /// True when this report records any damage at all.
    pub fn any(&self) -> bool {
        self.is_short()
            || self.rejected_packets > 0
            || self.corrupt_frames > 0
            || self.unreadable_packets > 0
            || self.read_error.is_some()
    }

    /// True when the stream ended before the frame count its container announced.
    pub fn is_short(&self) -> bool {
        matches!((self.expected_frames, self.packets_read), (Some(e), Some(read)) if read < e)
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let (Some(expected), Some(read)) = (self.expected_frames, self.packets_read)
            && read < expected
        {
            parts.push(format!(
                "stream ends after {read} of the {expected} frames its index announces"
            ));
        }
        if self.rejected_packets > 0 {
            parts.push(format!(
                "{} packets rejected by the decoder",
                self.rejected_packets
            ));
        }
        if self.corrupt_frames > 0 {
            parts.push(format!("{} frames flagged corrupt", self.corrupt_frames));
        }
        if self.unreadable_packets > 0 {
            parts.push(format!(
                "{} unreadable packets skipped",
                self.unreadable_packets
            ));
        }
        if let Some(error) = &self.read_error {
            parts.push(format!("reading stopped: {error}"));
        }
        if parts.is_empty() {
            parts.push("no damage".to_string());
        }
        write!(f, "{}", parts.join("; "))
    }
}

pub(crate) fn check_rgb_frames(what: &'static str, shape: &[usize]) -> Result<()> {
    if shape.len() != 4 || shape[3] != 3 {
        return Err(Error::Shape {
            what,
            expected: "[T, H, W, 3]".into(),
            found: shape.to_vec(),
        });
    }
    Ok(())
}

pub(crate) fn check_fps(fps: f64) -> Result<()> {
    if !(fps.is_finite() && fps > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "fps must be finite and positive, found {fps}"
        )));
    }
    Ok(())
}
