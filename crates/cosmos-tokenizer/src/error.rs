//! The error type of `cosmos-tokenizer`.

use cosmos_nn::checkpoint::CheckpointError;

/// Everything that can go wrong building, loading or running a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is inconsistent or asks for something the reference does not have.
    #[error("invalid tokenizer configuration: {0}")]
    Config(String),
    /// A preset name that is not one of the published models.
    #[error("unknown tokenizer preset '{name}'; the presets are {known}")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// An input tensor has the wrong shape for this tokenizer.
    #[error("{what}: expected {expected}, found shape {found:?}")]
    Shape {
        /// What was passed (input video, latent, indices).
        what: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was passed.
        found: Vec<usize>,
    },
    /// A frame count that is not `1 + k·temporal_compression`.
    #[error(
        "{frames} frames cannot be encoded: the causal video tokenizer takes 1 + k·{temporal_compression} frames \
         (1, {next_1}, {next_2}, ...); pad with `pad_frames` (repeats the last frame up to {padded}) or trim to {trimmed}"
    )]
    FrameCount {
        /// Frames passed.
        frames: usize,
        /// The tokenizer's temporal compression.
        temporal_compression: usize,
        /// `1 + temporal_compression` (for the message).
        next_1: usize,
        /// `1 + 2·temporal_compression` (for the message).
        next_2: usize,
        /// The padded count `pad_frames` would give.
        padded: usize,
        /// The largest valid count not above `frames`.
        trimmed: usize,
    },
    /// Height or width not a multiple of the spatial compression.
    #[error(
        "a {height}×{width} frame cannot be encoded: height and width must be multiples of {multiple}; \
         pad with `pad_spatial` to {padded_height}×{padded_width} (and crop the decoded frames back)"
    )]
    Resolution {
        /// Height passed.
        height: usize,
        /// Width passed.
        width: usize,
        /// The required multiple.
        multiple: usize,
        /// Height after padding.
        padded_height: usize,
        /// Width after padding.
        padded_width: usize,
    },
    /// The input holds NaN or infinite values.
    #[error("{0} contains NaN or infinite values")]
    NonFinite(String),
    /// FSQ indices outside `0..codebook_size`.
    #[error("indices must lie in 0..{codebook_size}, found values from {min} to {max}")]
    IndexRange {
        /// The codebook size (product of the FSQ levels).
        codebook_size: i64,
        /// Smallest index found.
        min: i64,
        /// Largest index found.
        max: i64,
    },
    /// An operation that needs a part of the model that was not loaded
    /// (decoding with only `encoder.jit`, indices with a continuous tokenizer, ...).
    #[error("{0}")]
    Unsupported(String),
    /// The checkpoint could not be read or does not fit the configuration.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// An error from the shared layers or the parity harness.
    #[error(transparent)]
    Nn(#[from] cosmos_nn::Error),
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An image or video file could not be decoded or encoded.
    #[cfg(feature = "media")]
    #[error(transparent)]
    Media(#[from] cosmos_media::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
