//! The crate's one error type.

use std::path::PathBuf;

use crate::video::Damage;

/// Everything that can go wrong while reading, writing or converting media.
///
/// Messages say what was expected and what was found, and name the file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not exist.
    #[error("file not found: {}", path.display())]
    NotFound { path: PathBuf },

    /// The file exists but FFmpeg recognises no container in it, or the container holds no video
    /// stream.
    #[error("{}: not a video FFmpeg can read ({reason})", path.display())]
    NotAVideo { path: PathBuf, reason: String },

    /// FFmpeg recognises the container (for example MP4 from its `ftyp` box) but cannot open it:
    /// typically a file cut short before its index (`moov` box) was written.
    #[error("{}: corrupt or truncated video: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    /// The container opened, but decoding hit damage: packets the decoder rejected, frames it
    /// flagged as corrupt, or fewer frames than the container announced. Returned only under
    /// [`DamagePolicy::Fail`](crate::DamagePolicy::Fail); [`DamagePolicy::Keep`](crate::DamagePolicy::Keep)
    /// returns the frames together with the same [`Damage`] report instead.
    #[error("{}: damaged video: {damage}", path.display())]
    Damaged { path: PathBuf, damage: Damage },

    /// Decoding produced no frame at all (an empty stream, or a start frame past the end).
    #[error("{}: no frames: {reason}", path.display())]
    NoFrames { path: PathBuf, reason: String },

    /// H.264 in yuv420p halves the chroma resolution, so width and height must both be even.
    #[error(
        "H.264 yuv420p needs an even width and height, found {width}x{height}; crop the frames \
         or set WriteOptions::pad_to_even"
    )]
    OddSize { width: usize, height: usize },

    /// An image file in a format this crate does not read or write.
    #[error("{}: unsupported image: {reason}", path.display())]
    UnsupportedImage { path: PathBuf, reason: String },

    /// An image file in a supported format that could not be decoded or encoded.
    #[error("{}: image error: {reason}", path.display())]
    Image { path: PathBuf, reason: String },

    /// An array with the wrong shape for the operation.
    #[error("{what}: expected shape {expected}, found {found:?}")]
    Shape {
        what: &'static str,
        expected: String,
        found: Vec<usize>,
    },

    /// A parameter out of its valid range (zero stride, non-positive fps, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An FFmpeg call failed outside the cases above (encoder missing, muxer refused, ...).
    #[error("{}: FFmpeg could not {operation}: {reason}", path.display())]
    Ffmpeg {
        path: PathBuf,
        operation: &'static str,
        reason: String,
    },

    /// Operating-system I/O failure.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// True for the errors only [`ParallelFrameReader`](crate::ParallelFrameReader)'s segment
    /// decoding produces (a seek that did not land on its keyframe, keyframes or frames without
    /// timestamps, a worker that stopped): reading the file again with one decoder
    /// (`threads: 1`) does not depend on any of that.
    pub fn is_segment_failure(&self) -> bool {
        matches!(
            self,
            Self::Ffmpeg { operation, .. }
                if matches!(
                    *operation,
                    "seek to a keyframe" | "split the stream at keyframes" | "decode a segment"
                )
        )
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
