//! The error type of `cosmos-nn`.

use crate::checkpoint::CheckpointError;

/// Everything that can go wrong in the shared layers, checkpoint IO and parity harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A checkpoint could not be read or did not match the module it was loaded into.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A tensor had a shape the operation cannot take.
    #[error("{what}: expected shape {expected}, found {found:?}")]
    Shape {
        /// What was being checked (an argument, a layer).
        what: String,
        /// The expected shape, in words (`[batch, channels, time, height, width]`).
        expected: String,
        /// The shape that was passed.
        found: Vec<usize>,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A parity fixture is malformed (missing sidecar JSON, missing `__x__` tensor, bad field).
    #[error("parity fixture {path}: {message}")]
    Fixture {
        /// The fixture file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The requested device is not compiled in or not available.
    #[error("device '{0}' is not available: {1}")]
    Device(String, String),
    /// An IO error with the path it concerned.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
