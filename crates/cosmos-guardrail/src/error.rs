//! The error type of `cosmos-guardrail`.

use std::path::PathBuf;

use cosmos_nn::checkpoint::CheckpointError;

/// Everything that can go wrong while guarding a prompt or a video.
///
/// A *blocked* prompt or video is not an error: it is a [`Verdict`](crate::Verdict). Errors are
/// inputs the guardrail cannot judge (unreadable lists, bad frames, missing weights).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A blocklist file is not valid UTF-8.
    #[error(
        "{path}: line {line} is not valid UTF-8 (byte offset {offset} in the file); blocklist files must be UTF-8 text"
    )]
    InvalidUtf8 {
        /// The list file.
        path: PathBuf,
        /// 1-based line number of the first invalid byte.
        line: usize,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A blocklist folder lacks the layout the reference uses.
    #[error("{path}: {message}")]
    BlocklistLayout {
        /// The folder.
        path: PathBuf,
        /// What is missing, in words.
        message: String,
    },
    /// The prompt is longer than the guardrail accepts.
    #[error("prompt is {found} bytes long; the guardrail accepts at most {max} bytes")]
    PromptTooLong {
        /// Prompt length in bytes.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Frames or tensors of the wrong shape.
    #[error("{what}: expected {expected}, found shape {found:?}")]
    Shape {
        /// What was checked.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was passed.
        found: Vec<usize>,
    },
    /// A parameter out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Weights that could not be read or do not fit the network.
    #[error("{what}: {source}")]
    Checkpoint {
        /// Which network's weights.
        what: String,
        /// The underlying error.
        #[source]
        source: CheckpointError,
    },
    /// A plugged-in component (text classifier, image embedder, detector) failed.
    #[error("{component}: {message}")]
    Component {
        /// The component's name.
        component: String,
        /// What it reported.
        message: String,
    },
    /// Reading or writing a video or image failed.
    #[cfg(feature = "media")]
    #[error(transparent)]
    Media(#[from] cosmos_media::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn checkpoint(what: impl Into<String>, source: CheckpointError) -> Self {
        Self::Checkpoint {
            what: what.into(),
            source,
        }
    }
}
