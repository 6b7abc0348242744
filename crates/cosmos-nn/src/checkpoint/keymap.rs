//! Key maps: per-model tables from checkpoint key names to module parameter paths.

use regex::Regex;

use super::CheckpointError;

/// Rewrites checkpoint keys into module parameter paths, and names the keys to ignore.
///
/// Rules are regex substitutions applied in order, each to the result of the previous one
/// (`$1`-style capture references allowed). Ignore patterns are matched against the original
/// key; an ignored key is neither loaded nor reported as unexpected (buffers a checkpoint
/// carries that the model recomputes, such as Haar filters or RoPE tables).
#[derive(Debug, Clone, Default)]
pub struct KeyMap {
    rules: Vec<(Regex, String)>,
    ignore: Vec<Regex>,
}

impl KeyMap {
    /// The identity map: module paths equal checkpoint keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a substitution rule `pattern` → `replacement`.
    ///
    /// Returns [`CheckpointError::Format`] for an invalid pattern (a programming error in a
    /// model's table, reported rather than panicking).
    pub fn rule(mut self, pattern: &str, replacement: &str) -> Result<Self, CheckpointError> {
        self.rules
            .push((compile(pattern)?, replacement.to_string()));
        Ok(self)
    }

    /// Ignores checkpoint keys matching `pattern`.
    pub fn ignore(mut self, pattern: &str) -> Result<Self, CheckpointError> {
        self.ignore.push(compile(pattern)?);
        Ok(self)
    }

    /// Whether `key` is ignored.
    pub fn is_ignored(&self, key: &str) -> bool {
        self.ignore.iter().any(|r| r.is_match(key))
    }

    /// The module path `key` maps onto.
    pub fn map(&self, key: &str) -> String {
        let mut out = key.to_string();
        for (pattern, replacement) in &self.rules {
            out = pattern.replace_all(&out, replacement.as_str()).into_owned();
        }
        out
    }
}

fn compile(pattern: &str) -> Result<Regex, CheckpointError> {
    Regex::new(pattern).map_err(|e| CheckpointError::Format {
        path: "<key map>".to_string(),
        message: format!("invalid key pattern '{pattern}': {e}"),
    })
}
