//! Text-safety classifiers: the model-based check that runs after the blocklist.
//!
//! The reference runs Aegis (Llama Guard 7B with NVIDIA's Aegis defensive LoRA adapter): the
//! prompt is wrapped in a Llama Guard moderation template listing the unsafe categories, the
//! model generates up to 100 tokens, and the answer's first line says `safe` or `unsafe` while
//! the second names the violated categories (`O1`, `O3`, ...).
//!
//! Any model plugs in by implementing [`TextSafetyClassifier`]; a generative moderation model
//! (Aegis, Llama Guard, a served endpoint) only has to produce its text answer, through
//! [`ModerationModel`] and [`LlamaGuardClassifier`], which parses that answer.

use crate::error::{Error, Result};
use crate::guard::{TextGuard, Verdict};

/// A boxed error from a plugged-in model.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A classifier's judgement of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSafety {
    /// Whether the prompt is safe.
    pub safe: bool,
    /// The violated categories, if the model names them.
    pub categories: Vec<String>,
    /// The model's confidence that the prompt is unsafe, if it gives one.
    pub unsafe_score: Option<f32>,
}

impl TextSafety {
    /// A safe judgement.
    pub fn safe() -> Self {
        Self {
            safe: true,
            categories: Vec::new(),
            unsafe_score: None,
        }
    }

    /// An unsafe judgement naming categories.
    pub fn unsafe_in(categories: Vec<String>) -> Self {
        Self {
            safe: false,
            categories,
            unsafe_score: None,
        }
    }
}

/// A model that judges prompts.
pub trait TextSafetyClassifier {
    /// Short name shown in refusals (`aegis`).
    fn name(&self) -> &str;
    /// Judges one prompt (never called with an empty prompt by [`ClassifierGuard`]).
    fn classify(&self, prompt: &str) -> std::result::Result<TextSafety, BoxError>;
}

/// Runs a [`TextSafetyClassifier`] as a [`TextGuard`]: refuses empty prompts without calling
/// the model, and turns the classifier's errors into [`Error::Component`] (the reference lets a
/// failing Aegis pass the prompt; here the caller decides).
pub struct ClassifierGuard<C> {
    classifier: C,
}

impl<C: TextSafetyClassifier> ClassifierGuard<C> {
    /// Wraps a classifier.
    pub fn new(classifier: C) -> Self {
        Self { classifier }
    }

    /// The wrapped classifier.
    pub fn classifier(&self) -> &C {
        &self.classifier
    }
}

/// The refusal of an empty or blank prompt.
pub(crate) fn empty_prompt_verdict(prompt: &str, guard: &str) -> Option<Verdict> {
    prompt.trim().is_empty().then(|| Verdict::Unsafe {
        guard: guard.to_string(),
        reason: "the prompt is empty".into(),
    })
}

impl<C: TextSafetyClassifier> TextGuard for ClassifierGuard<C> {
    fn name(&self) -> &str {
        self.classifier.name()
    }

    fn check_prompt(&self, prompt: &str) -> Result<Verdict> {
        if let Some(v) = empty_prompt_verdict(prompt, self.name()) {
            return Ok(v);
        }
        let judgement = self
            .classifier
            .classify(prompt)
            .map_err(|e| Error::Component {
                component: self.name().to_string(),
                message: e.to_string(),
            })?;
        if judgement.safe {
            return Ok(Verdict::Safe);
        }
        let mut reason = if judgement.categories.is_empty() {
            "the text-safety classifier judged the prompt unsafe".to_string()
        } else {
            format!(
                "the text-safety classifier judged the prompt unsafe: {}",
                judgement.categories.join(", ")
            )
        };
        if let Some(score) = judgement.unsafe_score {
            reason.push_str(&format!(" (score {score:.3})"));
        }
        Ok(Verdict::Unsafe {
            guard: self.name().to_string(),
            reason,
        })
    }
}

/// The unsafe-content categories of Aegis, in the order of their codes `O1`, `O2`, ...
pub const AEGIS_CATEGORIES: [&str; 11] = [
    "violence",
    "sexual",
    "criminal_planning",
    "weapons",
    "substance_abuse",
    "suicide",
    "csam",
    "hatred",
    "harassment",
    "threat",
    "profanity",
];

/// A generative moderation model: given a prompt, returns the model's text answer (the
/// implementation applies the model's own template, e.g. Llama Guard's `[INST] ... [/INST]`
/// with the category list, and decodes greedily).
pub trait ModerationModel {
    /// The model's answer for `prompt`.
    fn moderate(&self, prompt: &str) -> std::result::Result<String, BoxError>;
}

/// Parses a Llama Guard style answer: first line `safe` or `unsafe`, then optionally a line of
/// comma-separated category codes (`O1,O3`) mapped through `categories` (1-based).
pub fn parse_llama_guard_answer(answer: &str, categories: &[&str]) -> TextSafety {
    let mut lines = answer.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("").to_ascii_lowercase();
    // The reference treats any answer containing "unsafe" as unsafe.
    if !first.contains("unsafe") && !answer.to_ascii_lowercase().contains("unsafe") {
        return TextSafety::safe();
    }
    let codes = lines.next().unwrap_or("");
    let names = codes
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|code| {
            code.trim_start_matches(['O', 'o'])
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| categories.get(i))
                .map_or_else(|| code.to_string(), |name| name.to_string())
        })
        .collect();
    TextSafety::unsafe_in(names)
}

/// A [`TextSafetyClassifier`] over a [`ModerationModel`] answering in Llama Guard's format
/// (Aegis by default: [`AEGIS_CATEGORIES`]).
pub struct LlamaGuardClassifier<M> {
    model: M,
    name: String,
    categories: Vec<&'static str>,
}

impl<M: ModerationModel> LlamaGuardClassifier<M> {
    /// Aegis categories, named `aegis`.
    pub fn aegis(model: M) -> Self {
        Self {
            model,
            name: "aegis".into(),
            categories: AEGIS_CATEGORIES.to_vec(),
        }
    }

    /// Other categories (in code order) and name.
    pub fn with_categories(model: M, name: &str, categories: Vec<&'static str>) -> Self {
        Self {
            model,
            name: name.into(),
            categories,
        }
    }
}

impl<M: ModerationModel> TextSafetyClassifier for LlamaGuardClassifier<M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn classify(&self, prompt: &str) -> std::result::Result<TextSafety, BoxError> {
        let answer = self.model.moderate(prompt)?;
        Ok(parse_llama_guard_answer(&answer, &self.categories))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_llama_guard_answers() {
        assert!(parse_llama_guard_answer("safe", &AEGIS_CATEGORIES).safe);
        let v = parse_llama_guard_answer(" unsafe\nO1,O6", &AEGIS_CATEGORIES);
        assert!(!v.safe);
        assert_eq!(v.categories, vec!["violence", "suicide"]);
        let v = parse_llama_guard_answer("unsafe\nO99", &AEGIS_CATEGORIES);
        assert_eq!(v.categories, vec!["O99"]);
    }
}
