//! Errors of the post-training crate.

use std::path::PathBuf;

/// Everything that can go wrong while building data, training or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument or configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A tensor or array had the wrong shape.
    #[error("{what}: expected shape {expected}, found {found}")]
    Shape {
        /// What was checked.
        what: String,
        /// The shape that was expected.
        expected: String,
        /// The shape that was given.
        found: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint or shard is malformed.
    #[error("{path}: {reason}")]
    Format {
        /// The file (or member) concerned.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Training diverged or produced non-finite numbers.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// A chart could not be drawn.
    #[error("chart: {0}")]
    Plot(String),
    /// An error of the shared layers or checkpoint IO.
    #[error(transparent)]
    Nn(#[from] cosmos_nn::Error),
    /// An error of the tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] cosmos_tokenizer::Error),
    /// An error of the diffusion model.
    #[error(transparent)]
    Diffusion(#[from] cosmos_diffusion::Error),
    /// An error of the autoregressive model.
    #[error(transparent)]
    Ar(#[from] cosmos_ar::Error),
    /// An error reading or writing media.
    #[error(transparent)]
    Media(#[from] cosmos_media::Error),
}

impl Error {
    /// An IO error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
