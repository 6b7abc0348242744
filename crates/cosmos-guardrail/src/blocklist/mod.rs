//! The blocklist pre-guard: keyword and phrase lists matched against a prompt, robust to the
//! usual ways of hiding a word, and never matching inside an innocent longer word.
//!
//! The reference (cosmos-predict1 `auxiliary/guardrail/blocklist`) strips non-ASCII characters,
//! censors with better-profanity (leetspeak variants of each keyword, whole words, a whitelist)
//! on the prompt and on its WordNet lemmas, then looks for whole-word matches of the
//! `exact_match` list plus a fuzzy partial match (`SequenceMatcher` ratio ≥ (len − 0.4)/len)
//! for entries of 6 or more characters. This implementation catches all of that and more:
//!
//! - **Unicode**: compatibility forms (full-width, ligatures, mathematical letters), look-alike
//!   letters from other scripts (Cyrillic `о`, Greek `Β`), combining marks and zero-width
//!   characters are folded away ([`normalize`](self::normalize) module) instead of being
//!   turned into spaces.
//! - **Leetspeak and symbols**: `b0mb`, `k!ll`, `f*ck`, `a$$`, `@`, `|`, `1` read as letters.
//! - **Spacing**: `b o m b`, `b-o-m-b`, `b.o.m.b`, phrases across any whitespace or
//!   hyphenation (`child   abuse`, `child-abuse`, `childabuse`).
//! - **Inflections**: the Snowball English stemmer runs on keyword and prompt words, so
//!   `bombs`, `massacred` and `beheadings` match `bomb`, `massacre` and `beheading`. A stem
//!   match also needs the prompt word to differ from the keyword by an inflectional ending
//!   (`-s`, `-es`, `-ed`, `-ing`, `-er`, ...), so derivations that share a stem with a keyword
//!   (`executive` / `execution`) do not match.
//! - **Scunthorpe**: only whole units are compared (words, joined hyphenated chunks, runs of
//!   spaced letters), never substrings, so `Scunthorpe`, `class`, `therapist`, `cocktail`,
//!   `grapes` or `Sussex` never match `cunt`, `ass`, `rapist`, `cock`, `rape` or `sex`.
//! - **Whitelist**: whitelisted words (and their plain inflections) and whitelisted phrases
//!   never count as a match.
//!
//! A block names the rule that fired: the keyword, its list file and line, the text matched
//! in the prompt and how it was matched ([`BlockMatch`]).

mod lists;
mod normalize;
mod similarity;
mod units;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use rust_stemmers::{Algorithm, Stemmer};

pub use lists::{ListEntry, ListKind, builtin_entries, parse_list, read_list_dir};
pub use similarity::sequence_ratio;

use crate::error::{Error, Result};
use crate::guard::{TextGuard, Verdict};
use normalize::NormChar;
use units::{UnitKind, Units};

/// Endings a prompt word may add to a keyword (after their longest common prefix) for a stem
/// match to count: inflections, not derivations.
const INFLECTION_ENDINGS: &[&str] = &[
    "", "s", "es", "d", "ed", "ing", "ings", "r", "rs", "er", "ers", "ies", "ied",
];

/// Endings a word may add to a whitelist entry and stay whitelisted.
const WHITELIST_ENDINGS: &[&str] = &["s", "es", "d", "ed", "ing", "ings"];

/// Tunables of the blocklist, with the reference's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct BlocklistConfig {
    /// Entries of the `exact_match` list at least this many characters long are also
    /// fuzzy-matched (reference: 6).
    pub partial_match_min_chars: usize,
    /// Fuzzy match threshold: a window of prompt words matches an entry of `L` characters when
    /// `SequenceMatcher` ratio ≥ `(L − letter_count) / L` (reference: 0.4). With 0.4 only
    /// whitespace-separated windows equal to the entry pass; 1.0 allows one edit.
    pub partial_match_letter_count: f64,
    /// Longest prompt accepted, in bytes (bounds the time a check takes).
    pub max_prompt_bytes: usize,
}

impl Default for BlocklistConfig {
    fn default() -> Self {
        Self {
            partial_match_min_chars: 6,
            partial_match_letter_count: 0.4,
            max_prompt_bytes: 64 * 1024,
        }
    }
}

/// How a keyword was found, beyond a plain whole-word match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchHow {
    /// Look-alike letters, compatibility forms, accents or invisible characters were folded.
    Unicode,
    /// Digits or symbols were read as letters.
    Leetspeak,
    /// Letters or words written apart (`b o m b`, `b-o-m-b`) were joined.
    Joined,
    /// An inflected form of the keyword (same stem, inflectional ending).
    Inflection,
    /// The reference's fuzzy partial match on the `exact_match` list.
    Partial,
}

impl fmt::Display for MatchHow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unicode => "look-alike or invisible characters folded",
            Self::Leetspeak => "leetspeak read as letters",
            Self::Joined => "spaced or hyphenated letters joined",
            Self::Inflection => "inflected form",
            Self::Partial => "fuzzy partial match",
        })
    }
}

/// The rule that blocked a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockMatch {
    /// The list entry that fired.
    pub entry: ListEntry,
    /// The prompt text that matched (as the user wrote it).
    pub matched: String,
    /// Byte range of `matched` in the prompt.
    pub span: std::ops::Range<usize>,
    /// How it was matched (empty: a plain whole-word match).
    pub how: Vec<MatchHow>,
    /// The similarity ratio, for a fuzzy partial match.
    pub ratio: Option<f64>,
}

impl fmt::Display for BlockMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blocklist rule {} in the {} list matched \"{}\" (bytes {}..{})",
            self.entry, self.entry.list, self.matched, self.span.start, self.span.end
        )?;
        if let Some(r) = self.ratio {
            write!(f, " with similarity {r:.3}")?;
        }
        if !self.how.is_empty() {
            let how: Vec<String> = self.how.iter().map(|h| h.to_string()).collect();
            write!(f, " [{}]", how.join("; "))?;
        }
        Ok(())
    }
}

/// A keyword or phrase compiled for matching.
#[derive(Debug, Clone)]
struct Keyword {
    entry: ListEntry,
    /// Normalised words (literal spellings).
    words: Vec<String>,
    /// Stems of `words`.
    stems: Vec<String>,
    /// The words joined without spaces, and its stem.
    joined: String,
    joined_stem: String,
    /// Whitespace-normalised lower-case text, for the fuzzy partial match.
    flat: String,
}

/// The blocklist: compiled keyword lists and a whitelist.
pub struct Blocklist {
    keywords: Vec<Keyword>,
    /// First word (literal and stem) → keywords starting with it.
    by_first_word: HashMap<String, Vec<usize>>,
    by_first_stem: HashMap<String, Vec<usize>>,
    /// Joined multi-word keywords (literal and stem) → keywords.
    by_joined: HashMap<String, Vec<usize>>,
    by_joined_stem: HashMap<String, Vec<usize>>,
    /// Single-word whitelist entries.
    whitelist_words: HashSet<String>,
    /// Multi-word whitelist phrases.
    whitelist_phrases: Vec<Vec<String>>,
    stemmer: Stemmer,
    config: BlocklistConfig,
}

impl fmt::Debug for Blocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocklist")
            .field("keywords", &self.keywords.len())
            .field(
                "whitelist",
                &(self.whitelist_words.len() + self.whitelist_phrases.len()),
            )
            .field("config", &self.config)
            .finish()
    }
}

/// Words of a keyword or whitelist entry: pieces of its normalised text, literal spelling
/// (keywords with symbols in them, such as `a$$`, also get their primary decoding).
fn entry_words(text: &str) -> Vec<String> {
    let normalized = normalize::normalize(text);
    units::units(&normalized)
        .pieces
        .into_iter()
        .map(|p| p.forms.into_iter().next().unwrap_or_default())
        .collect()
}

fn decoded_words(text: &str) -> Option<Vec<String>> {
    let normalized = normalize::normalize(text);
    let pieces = units::units(&normalized).pieces;
    let decoded: Vec<String> = pieces
        .iter()
        .map(|p| p.forms.get(1).unwrap_or(&p.forms[0]).clone())
        .collect();
    let literal: Vec<&String> = pieces.iter().map(|p| &p.forms[0]).collect();
    (decoded.iter().zip(&literal).any(|(d, l)| d != *l)).then_some(decoded)
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

impl Blocklist {
    /// The default list compiled into the crate (see `blocklist/README.md` of the crate).
    pub fn builtin() -> Self {
        Self::from_entries(builtin_entries(), BlocklistConfig::default())
    }

    /// Reads a blocklist folder laid out like the reference's (`custom/`, `exact_match/`,
    /// `whitelist/` of `*.txt` files).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_entries(
            read_list_dir(dir.as_ref())?,
            BlocklistConfig::default(),
        ))
    }

    /// Compiles list entries (from [`read_list_dir`], [`parse_list`] or made by hand).
    pub fn from_entries(entries: Vec<ListEntry>, config: BlocklistConfig) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut list = Self {
            keywords: Vec::new(),
            by_first_word: HashMap::new(),
            by_first_stem: HashMap::new(),
            by_joined: HashMap::new(),
            by_joined_stem: HashMap::new(),
            whitelist_words: HashSet::new(),
            whitelist_phrases: Vec::new(),
            stemmer,
            config,
        };
        for entry in entries {
            let words = entry_words(&entry.text);
            if words.is_empty() {
                continue;
            }
            if entry.list == ListKind::Whitelist {
                if words.len() == 1 {
                    list.whitelist_words.insert(words[0].clone());
                } else {
                    list.whitelist_phrases.push(words);
                }
                continue;
            }
            let mut spellings = vec![words];
            if let Some(decoded) = decoded_words(&entry.text) {
                spellings.push(decoded);
            }
            let flat = normalize::normalize(&entry.text)
                .iter()
                .map(|c| c.ch)
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            for words in spellings {
                let stems: Vec<String> = words.iter().map(|w| list.stem(w)).collect();
                let joined = words.concat();
                let joined_stem = list.stem(&joined);
                let index = list.keywords.len();
                list.by_first_word
                    .entry(words[0].clone())
                    .or_default()
                    .push(index);
                list.by_first_stem
                    .entry(stems[0].clone())
                    .or_default()
                    .push(index);
                if words.len() > 1 {
                    list.by_joined
                        .entry(joined.clone())
                        .or_default()
                        .push(index);
                    list.by_joined_stem
                        .entry(joined_stem.clone())
                        .or_default()
                        .push(index);
                }
                list.keywords.push(Keyword {
                    entry: entry.clone(),
                    words,
                    stems,
                    joined,
                    joined_stem,
                    flat: flat.clone(),
                });
            }
        }
        list
    }

    /// The same list with other tunables.
    pub fn with_config(mut self, config: BlocklistConfig) -> Self {
        self.config = config;
        self
    }

    /// The tunables in use.
    pub fn config(&self) -> &BlocklistConfig {
        &self.config
    }

    /// Number of compiled keywords and phrases (a keyword written with symbols counts twice).
    pub fn len(&self) -> usize {
        self.keywords.len()
    }

    /// Whether no keyword is loaded.
    pub fn is_empty(&self) -> bool {
        self.keywords.is_empty()
    }

    fn stem(&self, word: &str) -> String {
        if word.len() >= 3 && word.bytes().all(|b| b.is_ascii_lowercase()) {
            self.stemmer.stem(word).into_owned()
        } else {
            word.to_string()
        }
    }

    /// Whether a prompt word `form` (with stem `form_stem`) matches keyword word `word`.
    /// Returns `Some(inflected)`.
    fn word_matches(form: &str, form_stem: &str, word: &str, word_stem: &str) -> Option<bool> {
        if form == word {
            return Some(false);
        }
        if form_stem != word_stem || form_stem.len() < 3 {
            return None;
        }
        let prefix = common_prefix_len(form, word);
        INFLECTION_ENDINGS
            .contains(&&form[prefix..])
            .then_some(true)
    }

    fn is_whitelisted_word(&self, word: &str) -> bool {
        if self.whitelist_words.contains(word) {
            return true;
        }
        WHITELIST_ENDINGS.iter().any(|ending| {
            word.strip_suffix(ending).is_some_and(|base| {
                self.whitelist_words.contains(base)
                    || (ending.starts_with(['i', 'e'])
                        && self.whitelist_words.contains(&format!("{base}e")))
            })
        })
    }

    /// Pieces protected by the whitelist.
    fn whitelisted_pieces(&self, units: &Units) -> Vec<bool> {
        let pieces = &units.pieces;
        let mut protected: Vec<bool> = pieces
            .iter()
            .map(|p| self.is_whitelisted_word(&p.forms[0]))
            .collect();
        for phrase in &self.whitelist_phrases {
            if phrase.len() > pieces.len() {
                continue;
            }
            for start in 0..=pieces.len() - phrase.len() {
                if phrase
                    .iter()
                    .enumerate()
                    .all(|(k, w)| pieces[start + k].forms[0] == *w)
                {
                    for flag in &mut protected[start..start + phrase.len()] {
                        *flag = true;
                    }
                }
            }
        }
        protected
    }

    /// Checks a prompt: `Ok(None)` when no rule fires, else the first rule that fires.
    ///
    /// Errors: the prompt is longer than [`BlocklistConfig::max_prompt_bytes`].
    pub fn check(&self, prompt: &str) -> Result<Option<BlockMatch>> {
        Ok(self.scan(prompt, true)?.into_iter().next())
    }

    /// Every rule that fires on a prompt (at most one match per keyword), in prompt order.
    pub fn find_all(&self, prompt: &str) -> Result<Vec<BlockMatch>> {
        self.scan(prompt, false)
    }

    fn scan(&self, prompt: &str, first_only: bool) -> Result<Vec<BlockMatch>> {
        if prompt.len() > self.config.max_prompt_bytes {
            return Err(Error::PromptTooLong {
                found: prompt.len(),
                max: self.config.max_prompt_bytes,
            });
        }
        let text = normalize::normalize(prompt);
        let units = units::units(&text);
        let protected = self.whitelisted_pieces(&units);
        let mut matches: Vec<(usize, BlockMatch)> = Vec::new();
        let mut fired: HashSet<usize> = HashSet::new();
        let mut stem_cache: HashMap<String, String> = HashMap::new();
        let mut stem_of = |s: &str| -> String {
            if let Some(x) = stem_cache.get(s) {
                return x.clone();
            }
            let x = self.stem(s);
            stem_cache.insert(s.to_string(), x.clone());
            x
        };

        for unit in &units.units {
            for (form_index, form) in unit.forms.iter().enumerate() {
                let form_stem = stem_of(form);
                let candidates = [
                    self.by_first_word.get(form.as_str()),
                    self.by_first_stem.get(form_stem.as_str()),
                    self.by_joined.get(form.as_str()),
                    self.by_joined_stem.get(form_stem.as_str()),
                ];
                for (which, list) in candidates.iter().enumerate() {
                    let Some(list) = list else { continue };
                    for &k in *list {
                        if fired.contains(&k) {
                            continue;
                        }
                        let keyword = &self.keywords[k];
                        let joined = which >= 2;
                        let found = if joined {
                            Self::word_matches(
                                form,
                                &form_stem,
                                &keyword.joined,
                                &keyword.joined_stem,
                            )
                            .map(|inflected| (unit.last_piece, inflected, false))
                        } else {
                            self.match_phrase(&units, unit, form, &form_stem, keyword, &mut stem_of)
                        };
                        let Some((last_piece, inflected, leet_later)) = found else {
                            continue;
                        };
                        if protected[unit.first_piece..=last_piece].iter().all(|&p| p) {
                            continue;
                        }
                        let mut how = Vec::new();
                        let span = byte_span(
                            &text,
                            units.pieces[unit.first_piece].start,
                            units.pieces[last_piece].end,
                        );
                        if folded(prompt, &text, &units, unit.first_piece, last_piece) {
                            how.push(MatchHow::Unicode);
                        }
                        if form_index > 0 || leet_later {
                            how.push(MatchHow::Leetspeak);
                        }
                        if unit.kind != UnitKind::Piece || joined {
                            how.push(MatchHow::Joined);
                        }
                        if inflected {
                            how.push(MatchHow::Inflection);
                        }
                        fired.insert(k);
                        matches.push((
                            span.start,
                            BlockMatch {
                                entry: keyword.entry.clone(),
                                matched: prompt[span.clone()].to_string(),
                                span,
                                how,
                                ratio: None,
                            },
                        ));
                        if first_only {
                            return Ok(matches.into_iter().map(|(_, m)| m).collect());
                        }
                    }
                }
            }
        }
        self.partial_matches(prompt, &text, &mut fired, &mut matches, first_only);
        matches.sort_by_key(|(start, _)| *start);
        Ok(matches.into_iter().map(|(_, m)| m).collect())
    }

    /// Matches `keyword` starting at `unit` (whose form `form` matched the first word).
    /// Returns `(last piece, inflected, leetspeak used after the first word)`.
    fn match_phrase(
        &self,
        units: &Units,
        unit: &units::Unit,
        form: &str,
        form_stem: &str,
        keyword: &Keyword,
        stem_of: &mut impl FnMut(&str) -> String,
    ) -> Option<(usize, bool, bool)> {
        let mut inflected =
            Self::word_matches(form, form_stem, &keyword.words[0], &keyword.stems[0])?;
        if keyword.words.len() == 1 {
            return Some((unit.last_piece, inflected, false));
        }
        // Later words continue over the following pieces; only a single piece starts a phrase.
        if unit.kind != UnitKind::Piece {
            return None;
        }
        let mut leet = false;
        for (offset, (word, stem)) in keyword.words.iter().zip(&keyword.stems).enumerate().skip(1) {
            let piece = units.pieces.get(unit.first_piece + offset)?;
            let hit = piece.forms.iter().enumerate().find_map(|(i, f)| {
                Self::word_matches(f, &stem_of(f), word, stem).map(|inf| (i, inf))
            });
            let (i, inf) = hit?;
            leet |= i > 0;
            inflected |= inf;
        }
        Some((unit.first_piece + keyword.words.len() - 1, inflected, leet))
    }

    /// The reference's fuzzy partial match of the `exact_match` list.
    fn partial_matches(
        &self,
        prompt: &str,
        text: &[NormChar],
        fired: &mut HashSet<usize>,
        matches: &mut Vec<(usize, BlockMatch)>,
        first_only: bool,
    ) {
        if first_only && !matches.is_empty() {
            return;
        }
        // Whitespace-separated words of the normalised prompt, with their char ranges.
        let words = units::word_ranges(text);
        let word_strings: Vec<String> = words
            .iter()
            .map(|&(s, e)| text[s..e].iter().map(|c| c.ch).collect())
            .collect();
        let letter_count = self.config.partial_match_letter_count;
        for (k, keyword) in self.keywords.iter().enumerate() {
            if keyword.entry.list != ListKind::ExactMatch || fired.contains(&k) {
                continue;
            }
            let target_len = keyword.flat.chars().count();
            if target_len < self.config.partial_match_min_chars || target_len == 0 {
                continue;
            }
            let n_words = keyword.flat.split(' ').count();
            let threshold = (target_len as f64 - letter_count) / target_len as f64;
            if n_words > word_strings.len() {
                continue;
            }
            for start in 0..=word_strings.len() - n_words {
                let window = &word_strings[start..start + n_words];
                let window_len =
                    window.iter().map(|w| w.chars().count()).sum::<usize>() + n_words - 1;
                if similarity::ratio_upper_bound(window_len, target_len) < threshold {
                    continue;
                }
                let candidate = window.join(" ");
                let ratio = sequence_ratio(&candidate, &keyword.flat);
                if ratio < threshold {
                    continue;
                }
                let span = byte_span(text, words[start].0, words[start + n_words - 1].1);
                fired.insert(k);
                matches.push((
                    span.start,
                    BlockMatch {
                        entry: keyword.entry.clone(),
                        matched: prompt[span.clone()].to_string(),
                        span,
                        how: vec![MatchHow::Partial],
                        ratio: Some(ratio),
                    },
                ));
                if first_only {
                    return;
                }
                break;
            }
        }
    }
}

/// Byte range in the original text of normalised characters `start..end`.
fn byte_span(text: &[NormChar], start: usize, end: usize) -> std::ops::Range<usize> {
    let first = text[start].start;
    let last = text[end.max(start + 1) - 1].end;
    first..last
}

/// Whether the original text of pieces `first..=last` differs from its plain lower-case
/// ASCII reading (look-alikes, full-width, marks or invisible characters were folded).
fn folded(prompt: &str, text: &[NormChar], units: &Units, first: usize, last: usize) -> bool {
    let span = byte_span(text, units.pieces[first].start, units.pieces[last].end);
    !prompt[span].is_ascii()
}

impl TextGuard for Blocklist {
    fn name(&self) -> &str {
        "blocklist"
    }

    fn check_prompt(&self, prompt: &str) -> Result<Verdict> {
        if let Some(v) = crate::text::empty_prompt_verdict(prompt, "blocklist") {
            return Ok(v);
        }
        Ok(match self.check(prompt)? {
            None => Verdict::Safe,
            Some(m) => Verdict::Unsafe {
                guard: "blocklist".into(),
                reason: m.to_string(),
            },
        })
    }
}
