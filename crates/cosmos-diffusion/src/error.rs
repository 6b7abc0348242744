//! The error type of `cosmos-diffusion`.

use cosmos_nn::checkpoint::CheckpointError;

/// A boxed error from a component another crate provides (text encoder, tokenizer, guardrail).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong building, loading or running the diffusion model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A shared-layer or parity-harness error from `cosmos-nn`.
    #[error(transparent)]
    Nn(#[from] cosmos_nn::Error),
    /// A checkpoint could not be read or does not fit the network.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A tensor had a shape the network or sampler cannot take.
    #[error("{what}: expected shape {expected}, found {found:?}")]
    Shape {
        /// What was checked (an argument, a fixture tensor).
        what: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was passed.
        found: Vec<usize>,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A configuration asks for a variant this implementation does not have.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A checkpoint whose key names are neither diffusers' nor cosmos-predict1's.
    #[error(
        "checkpoint key names not recognised: expected diffusers `CosmosTransformer3DModel` names \
         (`transformer_blocks.0.attn1.to_q.weight`, ...) or cosmos-predict1 names \
         (`net.blocks.block0.blocks.0.block.attn.to_q.0.weight`, ...); found for example {examples:?}"
    )]
    UnknownNaming {
        /// A few of the checkpoint's keys.
        examples: Vec<String>,
    },
    /// A bad argument to a sampler or pipeline (empty prompt, zero steps, ...).
    #[error("invalid argument: {0}")]
    Argument(String),
    /// The prompt guardrail refused the prompt or the generated video.
    #[error("blocked by the guardrail ({stage}): {reason}")]
    Blocked {
        /// `prompt` or `video`.
        stage: &'static str,
        /// The guardrail's reason.
        reason: String,
    },
    /// A component provided by another crate (text encoder, tokenizer, video writer) failed.
    #[error("{component}: {source}")]
    Component {
        /// Which component (`text encoder`, `latent decoder`, ...).
        component: &'static str,
        /// Its error.
        #[source]
        source: BoxError,
    },
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

impl Error {
    /// Wraps a component's error.
    pub fn component(component: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Component {
            component,
            source: source.into(),
        }
    }
}
