//! Errors of checkpoint reading and loading.

/// A tensor whose shape in the checkpoint differs from the module's parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The checkpoint key.
    pub key: String,
    /// The shape the module expects.
    pub expected: Vec<usize>,
    /// The shape found in the checkpoint.
    pub found: Vec<usize>,
}

/// Everything that can go wrong reading a checkpoint or loading it into a module.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in any format we read, or is corrupt or truncated.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong, in words.
        message: String,
    },
    /// A key that was asked for is not in the checkpoint.
    #[error("checkpoint has no tensor '{0}'")]
    MissingKey(String),
    /// A tensor has another rank than asked for.
    #[error("checkpoint key '{key}': expected a rank-{expected} tensor, found shape {found:?}")]
    Rank {
        /// The checkpoint key.
        key: String,
        /// The rank asked for.
        expected: usize,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A tensor's data could not be converted.
    #[error("checkpoint key '{key}': {message}")]
    Data {
        /// The checkpoint key.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// The checkpoint does not fit the module: every problem at once.
    #[error("{}", mismatch_message(.missing, .unexpected, .mis_shaped))]
    Mismatch {
        /// Module parameters no checkpoint key maps onto (as checkpoint key names where the map knows them).
        missing: Vec<String>,
        /// Checkpoint keys that map onto no parameter and are not ignored by the key map.
        unexpected: Vec<String>,
        /// Keys whose shapes differ.
        mis_shaped: Vec<ShapeMismatch>,
    },
}

fn mismatch_message(
    missing: &[String],
    unexpected: &[String],
    mis_shaped: &[ShapeMismatch],
) -> String {
    let mut lines = vec![format!(
        "checkpoint does not match the model: {} missing, {} unexpected, {} mis-shaped",
        missing.len(),
        unexpected.len(),
        mis_shaped.len()
    )];
    for m in mis_shaped {
        lines.push(format!(
            "  checkpoint key '{}': expected shape {:?}, found {:?}",
            m.key, m.expected, m.found
        ));
    }
    for k in missing {
        lines.push(format!("  missing: '{k}'"));
    }
    for k in unexpected {
        lines.push(format!("  unexpected: '{k}'"));
    }
    lines.join("\n")
}
