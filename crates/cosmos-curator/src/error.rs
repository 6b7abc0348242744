//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while curating.
///
/// Messages say what was expected and what was found, and name the file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Decoding or encoding through `cosmos-media` failed.
    #[error(transparent)]
    Media(#[from] cosmos_media::Error),

    /// Operating-system I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A configuration value out of its valid range.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An input argument that names nothing usable (no such file, an empty folder, a bad list).
    #[error("input {}: {reason}", path.display())]
    Input { path: PathBuf, reason: String },

    /// A sidecar caption file that exists but cannot be parsed.
    #[error("caption file {}: {reason}", path.display())]
    Caption { path: PathBuf, reason: String },

    /// A state or manifest file of an earlier run that cannot be read back.
    #[error("{}: {reason}", path.display())]
    State { path: PathBuf, reason: String },

    /// A plug-in (shot detector, scorer, classifier, captioner, embedder) failed.
    #[error("{stage}: {reason}")]
    Plugin { stage: &'static str, reason: String },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
