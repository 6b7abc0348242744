//! The error type of `cosmos-ar`.

use cosmos_nn::checkpoint::CheckpointError;

/// Everything that can go wrong building, loading or running the autoregressive model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range, inconsistent or not supported.
    #[error("invalid AR configuration: {0}")]
    Config(String),
    /// A token id is outside the embedding table.
    #[error(
        "token id {token} at batch {batch}, position {position} is out of range: the embedding table has {limit} rows (valid ids 0..{limit})"
    )]
    TokenOutOfRange {
        /// The offending id.
        token: i64,
        /// Its batch row.
        batch: usize,
        /// Its position in the input.
        position: usize,
        /// Number of rows of the embedding table.
        limit: usize,
    },
    /// More positions were asked for than the KV cache (or the model's position tables) hold.
    #[error(
        "context too long: {needed} positions needed ({cached} cached + {new} new), capacity is {capacity}"
    )]
    ContextTooLong {
        /// Positions that would be used.
        needed: usize,
        /// Positions already in the cache.
        cached: usize,
        /// Positions being added.
        new: usize,
        /// What the cache holds at most.
        capacity: usize,
    },
    /// A tensor argument had the wrong shape.
    #[error("{what}: expected shape {expected}, found {found:?}")]
    Shape {
        /// The argument.
        what: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape passed.
        found: Vec<usize>,
    },
    /// An argument is out of range (sampling parameters, frame counts).
    #[error("invalid argument: {0}")]
    Argument(String),
    /// A checkpoint could not be read or does not match the configuration.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// An error from the shared layers (fixture IO, device selection).
    #[error(transparent)]
    Nn(#[from] cosmos_nn::Error),
    /// A video decoder or encoder plugged into the pipeline failed.
    #[error("{stage}: {message}")]
    Stage {
        /// Which stage (`tokenizer decoder`, `diffusion decoder`, ...).
        stage: String,
        /// What went wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
