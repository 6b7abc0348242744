//! The error type of `cosmos-text`.

use cosmos_nn::checkpoint::CheckpointError;

/// Everything that can go wrong reading a T5 config, tokenizer or checkpoint, tokenizing
/// prompts or running the encoder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range, inconsistent or not supported.
    #[error("invalid T5 configuration: {0}")]
    Config(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config.json, a shard index) could not be parsed.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A SentencePiece model file is malformed or uses a feature we do not implement.
    #[error("SentencePiece model {source_name}: {message}")]
    TokenizerModel {
        /// The file (or `<bytes>`).
        source_name: String,
        /// What is wrong, in words.
        message: String,
    },
    /// `encode` was called with no prompt at all.
    #[error("no prompt given: expected at least one prompt")]
    NoPrompts,
    /// A prompt is empty (or only whitespace); the Cosmos pipelines refuse those.
    #[error("prompt {index} is empty: expected some text, found {found:?}")]
    EmptyPrompt {
        /// Position of the prompt in the batch.
        index: usize,
        /// The prompt as given.
        found: String,
    },
    /// A prompt has more tokens than allowed and truncation was refused.
    #[error(
        "prompt {index} is {tokens} tokens long (with EOS), more than the maximum of {max_length}"
    )]
    PromptTooLong {
        /// Position of the prompt in the batch.
        index: usize,
        /// Its length in tokens, EOS included.
        tokens: usize,
        /// The maximum length.
        max_length: usize,
    },
    /// A token id is outside the embedding table.
    #[error(
        "token id {token} at batch {batch}, position {position} is out of range: the embedding table has {limit} rows"
    )]
    TokenOutOfRange {
        /// The offending id.
        token: i64,
        /// Its batch row.
        batch: usize,
        /// Its position.
        position: usize,
        /// Rows of the embedding table.
        limit: usize,
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
    /// The checkpoint's weights are inconsistent (for example, an `encoder.embed_tokens`
    /// table that differs from `shared`, to which T5 ties it).
    #[error("T5 checkpoint: {0}")]
    Weights(String),
    /// A checkpoint could not be read or does not match the configuration.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// An error from the shared layers (parity fixtures, devices).
    #[error(transparent)]
    Nn(#[from] cosmos_nn::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
