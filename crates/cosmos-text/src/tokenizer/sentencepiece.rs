//! SentencePiece unigram tokenization (Kudo 2018; Kudo & Richardson 2018), reading the
//! `.model` files SentencePiece writes (T5's `spiece.model`) and reproducing
//! `SentencePieceProcessor.encode`:
//!
//! 1. normalise: the model's precompiled charsmap (T5: `nmt_nfkc`), leading, trailing and
//!    repeated whitespace removed, a dummy `▁` prefix added, spaces escaped as `▁`;
//! 2. segment: the highest-scoring segmentation into vocabulary pieces (Viterbi over
//!    piece log-probabilities); a character no piece covers becomes `<unk>` with a score 10
//!    below the lowest piece;
//! 3. merge runs of consecutive `<unk>` into one.
//!
//! Only unigram models without byte fallback are read (T5's kind); others are refused with
//! a typed error rather than tokenized differently.

use std::collections::HashMap;
use std::path::Path;

use super::charsmap::CharsMap;
use super::proto::FieldReader;
use crate::{Error, Result};

/// What a vocabulary entry is (`ModelProto.SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// An ordinary piece with a log-probability score.
    Normal,
    /// The unknown piece (`<unk>`).
    Unknown,
    /// A control symbol (`<pad>`, `</s>`): never produced from text.
    Control,
    /// A user-defined symbol: always kept whole when it occurs in text.
    UserDefined,
    /// A byte piece (`<0x41>`), used by byte fallback.
    Byte,
    /// An unused piece: never produced.
    Unused,
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The piece's text (with `▁` for spaces).
    pub text: String,
    /// Its log-probability (unigram models).
    pub score: f32,
    /// Its kind.
    pub kind: PieceKind,
}

/// `NormalizerSpec` and the one `TrainerSpec` flag the normaliser reads.
#[derive(Debug, Clone)]
struct Normalizer {
    charsmap: Option<CharsMap>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    treat_whitespace_as_suffix: bool,
    /// User-defined pieces, matched before the charsmap and passed through unchanged.
    user_defined: Vec<String>,
}

const SPACE_SYMBOL: &str = "\u{2581}";
/// Score penalty of an unknown piece below the lowest normal piece (SentencePiece's `kUnkPenalty`).
const UNK_PENALTY: f32 = 10.0;

/// A SentencePiece unigram model.
#[derive(Debug, Clone)]
pub struct SentencePiece {
    pieces: Vec<Piece>,
    /// Normal, user-defined and unused pieces: those segmentation may produce.
    segmentable: HashMap<String, u32>,
    /// Every piece by text (first occurrence wins).
    by_text: HashMap<String, u32>,
    unk_id: u32,
    unk_surface: String,
    min_score: f32,
    max_score: f32,
    max_piece_bytes: usize,
    normalizer: Normalizer,
}

/// The `TrainerSpec` fields we read.
struct TrainerSpec {
    model_type: i32,
    byte_fallback: bool,
    treat_whitespace_as_suffix: bool,
    unk_surface: String,
}

impl SentencePiece {
    /// Reads a `.model` file (a serialized `ModelProto`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Reads a serialized `ModelProto` from memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, "<bytes>")
    }

    fn parse(bytes: &[u8], source_name: &str) -> Result<Self> {
        let fail = |message: String| Error::TokenizerModel {
            source_name: source_name.to_string(),
            message,
        };
        let mut pieces = Vec::new();
        let mut trainer = TrainerSpec {
            model_type: 1,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            unk_surface: " \u{2047} ".to_string(),
        };
        let mut normalizer = Normalizer {
            charsmap: None,
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
            treat_whitespace_as_suffix: false,
            user_defined: Vec::new(),
        };
        let mut reader = FieldReader::new(bytes);
        while let Some((field, value)) = reader.next_field().map_err(&fail)? {
            let message = || {
                value
                    .as_bytes()
                    .ok_or_else(|| fail(format!("field {field} is not a message")))
            };
            match field {
                1 => pieces.push(parse_piece(message()?).map_err(&fail)?),
                2 => trainer = parse_trainer(message()?, trainer).map_err(&fail)?,
                3 => normalizer = parse_normalizer(message()?, normalizer).map_err(&fail)?,
                _ => {}
            }
        }
        if trainer.model_type != 1 {
            let name = match trainer.model_type {
                2 => "BPE",
                3 => "word",
                4 => "char",
                _ => "unknown",
            };
            return Err(fail(format!(
                "model type {name} ({}) is not supported: expected a unigram model (T5's kind)",
                trainer.model_type
            )));
        }
        if trainer.byte_fallback {
            return Err(fail(
                "byte fallback is not supported: expected a unigram model without it (T5's kind)"
                    .into(),
            ));
        }
        normalizer.treat_whitespace_as_suffix = trainer.treat_whitespace_as_suffix;
        Self::from_pieces(pieces, normalizer, trainer.unk_surface).map_err(fail)
    }

    fn from_pieces(
        pieces: Vec<Piece>,
        mut normalizer: Normalizer,
        unk_surface: String,
    ) -> std::result::Result<Self, String> {
        if pieces.is_empty() {
            return Err("the model has no pieces".into());
        }
        let mut segmentable = HashMap::new();
        let mut by_text = HashMap::new();
        let mut unk_id = None;
        let mut min_score = f32::MAX;
        let mut max_score = f32::MIN_POSITIVE;
        let mut max_piece_bytes = 1;
        for (id, piece) in pieces.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| "more than 2^32 pieces".to_string())?;
            if piece.text.is_empty() {
                return Err(format!("piece {id} is empty"));
            }
            by_text.entry(piece.text.clone()).or_insert(id);
            match piece.kind {
                PieceKind::Normal | PieceKind::UserDefined | PieceKind::Unused => {
                    if segmentable.insert(piece.text.clone(), id).is_some() {
                        return Err(format!("piece {:?} occurs twice", piece.text));
                    }
                    max_piece_bytes = max_piece_bytes.max(piece.text.len());
                }
                PieceKind::Unknown => {
                    if unk_id.replace(id).is_some() {
                        return Err("more than one unknown piece".into());
                    }
                }
                PieceKind::Control | PieceKind::Byte => {}
            }
            if piece.kind == PieceKind::Normal {
                min_score = min_score.min(piece.score);
                max_score = max_score.max(piece.score);
            }
            if piece.kind == PieceKind::UserDefined {
                normalizer.user_defined.push(piece.text.clone());
            }
        }
        let unk_id = unk_id.ok_or_else(|| "the model has no unknown piece".to_string())?;
        Ok(Self {
            pieces,
            segmentable,
            by_text,
            unk_id,
            unk_surface,
            min_score,
            max_score,
            max_piece_bytes,
            normalizer,
        })
    }

    /// Number of pieces (the tokenizer's vocabulary size).
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the vocabulary is empty (never, for a model that loaded).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The piece with id `id`.
    pub fn piece(&self, id: u32) -> Option<&Piece> {
        self.pieces.get(id as usize)
    }

    /// The id of the piece spelled `text` (`"</s>"`, `"▁the"`).
    pub fn piece_to_id(&self, text: &str) -> Option<u32> {
        self.by_text.get(text).copied()
    }

    /// The id of `<unk>`.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// SentencePiece's normalisation of `text` (what segmentation sees), with `▁` for spaces.
    pub fn normalize(&self, text: &str) -> String {
        self.normalizer.normalize(text)
    }

    /// Token ids of `text`, as `SentencePieceProcessor.encode(text)` returns them (no BOS/EOS).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_pieces(text)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }

    /// Pieces of `text` with their ids; merged unknown runs keep their normalised text.
    pub fn encode_pieces(&self, text: &str) -> Vec<(String, u32)> {
        let normalized = self.normalize(text);
        let mut out: Vec<(String, u32)> = Vec::new();
        let mut previous_unknown = false;
        for (start, end, id) in self.segment(&normalized) {
            let piece = &normalized[start..end];
            let unknown = id == self.unk_id;
            match out.last_mut() {
                Some(last) if unknown && previous_unknown => last.0.push_str(piece),
                _ => out.push((piece.to_string(), id)),
            }
            previous_unknown = unknown;
        }
        out
    }

    /// Text of `ids`: pieces joined, `▁` turned back into spaces, the dummy prefix removed,
    /// control pieces dropped and unknown pieces shown as ` ⁇ `.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut text = String::new();
        for &id in ids {
            match self.pieces.get(id as usize) {
                Some(p) if p.kind == PieceKind::Control => {}
                Some(p) if p.kind == PieceKind::Unknown => text.push_str(&self.unk_surface),
                Some(p) => text.push_str(&p.text.replace(SPACE_SYMBOL, " ")),
                None => text.push_str(&self.unk_surface),
            }
        }
        if self.normalizer.add_dummy_prefix {
            let stripped = if self.normalizer.treat_whitespace_as_suffix {
                text.strip_suffix(' ')
            } else {
                text.strip_prefix(' ')
            };
            if let Some(s) = stripped {
                return s.to_string();
            }
        }
        text
    }

    /// The best segmentation of normalised text: `(start, end, id)` byte ranges.
    ///
    /// SentencePiece's optimised Viterbi, including its arithmetic: path scores are stored
    /// as `f32`, candidates for known pieces are formed and compared in `f64`.
    fn segment(&self, normalized: &str) -> Vec<(usize, usize, u32)> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f32,
            starts_at: Option<usize>,
        }
        let size = normalized.len();
        if size == 0 {
            return Vec::new();
        }
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            Best {
                id: self.unk_id,
                score: 0.0,
                starts_at: None,
            };
            size + 1
        ];
        let mut start = 0;
        while start < size {
            let till_here = best[start].score;
            let rest = &normalized[start..];
            let char_len = rest.chars().next().map_or(1, char::len_utf8);
            let mut has_single_char_piece = false;
            let mut end = start;
            for c in rest.chars() {
                end += c.len_utf8();
                let length = end - start;
                if length > self.max_piece_bytes {
                    break;
                }
                let Some(&id) = self.segmentable.get(&normalized[start..end]) else {
                    continue;
                };
                let piece = &self.pieces[id as usize];
                if piece.kind == PieceKind::Unused {
                    continue;
                }
                // User-defined symbols get a bonus so that they are always chosen.
                let score = if piece.kind == PieceKind::UserDefined {
                    f64::from(length as f32 * self.max_score) - 0.1
                } else {
                    f64::from(piece.score)
                };
                let candidate = score + f64::from(till_here);
                let node = &mut best[end];
                if node.starts_at.is_none() || candidate > f64::from(node.score) {
                    *node = Best {
                        id,
                        score: candidate as f32,
                        starts_at: Some(start),
                    };
                }
                if length == char_len {
                    has_single_char_piece = true;
                }
            }
            if !has_single_char_piece {
                let candidate = unk_score + till_here;
                let node = &mut best[start + char_len];
                if node.starts_at.is_none() || candidate > node.score {
                    *node = Best {
                        id: self.unk_id,
                        score: candidate,
                        starts_at: Some(start),
                    };
                }
            }
            start += char_len;
        }
        let mut out = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = best[end];
            // Every character boundary is reached (at worst by an unknown piece).
            let start = node.starts_at.unwrap_or(0);
            out.push((start, end, node.id));
            end = start;
        }
        out.reverse();
        out
    }
}

impl Normalizer {
    /// The normalised form of the longest rule matching the start of `input`, and how many
    /// bytes of `input` it consumes.
    fn normalize_prefix<'a>(&'a self, input: &'a str) -> (&'a str, usize) {
        let user = self
            .user_defined
            .iter()
            .filter(|p| input.starts_with(p.as_str()))
            .map(String::len)
            .max();
        if let Some(length) = user {
            return (&input[..length], length);
        }
        if let Some(charsmap) = &self.charsmap
            && let Some((length, replacement)) = charsmap.longest_prefix(input.as_bytes())
            && input.is_char_boundary(length)
        {
            return (replacement, length);
        }
        let length = input.chars().next().map_or(0, char::len_utf8);
        (&input[..length], length)
    }

    fn normalize(&self, text: &str) -> String {
        let mut input = text;
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (normalized, consumed) = self.normalize_prefix(input);
                if normalized != " " {
                    break;
                }
                input = &input[consumed..];
            }
        }
        if input.is_empty() {
            return String::new();
        }
        let space = if self.escape_whitespaces {
            SPACE_SYMBOL
        } else {
            " "
        };
        let mut out = String::with_capacity(input.len() * 3);
        if !self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.push_str(space);
        }
        let mut previous_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut normalized, consumed) = self.normalize_prefix(input);
            if previous_space {
                normalized = normalized.trim_start_matches(' ');
            }
            if !normalized.is_empty() {
                for c in normalized.chars() {
                    if c == ' ' {
                        out.push_str(space);
                    } else {
                        out.push(c);
                    }
                }
                previous_space = normalized.ends_with(' ');
            }
            input = &input[consumed.max(1).min(input.len())..];
            if !self.remove_extra_whitespaces {
                previous_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while let Some(stripped) = out.strip_suffix(space) {
                let length = stripped.len();
                out.truncate(length);
            }
        }
        if self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.push_str(space);
        }
        out
    }
}

fn parse_piece(bytes: &[u8]) -> std::result::Result<Piece, String> {
    let mut piece = Piece {
        text: String::new(),
        score: 0.0,
        kind: PieceKind::Normal,
    };
    let mut reader = FieldReader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        match field {
            1 => {
                let b = value.as_bytes().ok_or("piece text is not a string")?;
                piece.text = String::from_utf8(b.to_vec())
                    .map_err(|_| format!("piece text {b:?} is not UTF-8"))?;
            }
            2 => piece.score = value.as_f32().ok_or("piece score is not a float")?,
            3 => {
                piece.kind = match value.as_i32().ok_or("piece type is not an enum")? {
                    1 => PieceKind::Normal,
                    2 => PieceKind::Unknown,
                    3 => PieceKind::Control,
                    4 => PieceKind::UserDefined,
                    5 => PieceKind::Unused,
                    6 => PieceKind::Byte,
                    other => return Err(format!("piece type {other} is not known")),
                }
            }
            _ => {}
        }
    }
    Ok(piece)
}

fn parse_trainer(bytes: &[u8], mut spec: TrainerSpec) -> std::result::Result<TrainerSpec, String> {
    let mut reader = FieldReader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        let bad = || format!("trainer_spec field {field} has the wrong wire type");
        match field {
            3 => spec.model_type = value.as_i32().ok_or_else(bad)?,
            24 => spec.treat_whitespace_as_suffix = value.as_bool().ok_or_else(bad)?,
            35 => spec.byte_fallback = value.as_bool().ok_or_else(bad)?,
            44 => {
                let b = value.as_bytes().ok_or_else(bad)?;
                spec.unk_surface = String::from_utf8_lossy(b).into_owned();
            }
            _ => {}
        }
    }
    Ok(spec)
}

fn parse_normalizer(bytes: &[u8], mut spec: Normalizer) -> std::result::Result<Normalizer, String> {
    let mut reader = FieldReader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        let bad = || format!("normalizer_spec field {field} has the wrong wire type");
        match field {
            2 => {
                let blob = value.as_bytes().ok_or_else(bad)?;
                spec.charsmap = if blob.is_empty() {
                    None
                } else {
                    Some(CharsMap::parse(blob)?)
                };
            }
            3 => spec.add_dummy_prefix = value.as_bool().ok_or_else(bad)?,
            4 => spec.remove_extra_whitespaces = value.as_bool().ok_or_else(bad)?,
            5 => spec.escape_whitespaces = value.as_bool().ok_or_else(bad)?,
            _ => {}
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(text: &str, score: f32, kind: PieceKind) -> Piece {
        Piece {
            text: text.into(),
            score,
            kind,
        }
    }

    /// A hand-made model without a charsmap: `▁`, `a`, `b`, `ab`, `▁ab`, user-defined `<x>`.
    fn toy() -> SentencePiece {
        let pieces = vec![
            piece("<pad>", 0.0, PieceKind::Control),
            piece("</s>", 0.0, PieceKind::Control),
            piece("<unk>", 0.0, PieceKind::Unknown),
            piece("\u{2581}", -2.0, PieceKind::Normal),
            piece("a", -3.0, PieceKind::Normal),
            piece("b", -3.0, PieceKind::Normal),
            piece("ab", -4.0, PieceKind::Normal),
            piece("\u{2581}ab", -7.0, PieceKind::Normal),
            piece("<x>", 0.0, PieceKind::UserDefined),
            piece("ba", -1.0, PieceKind::Unused),
        ];
        let normalizer = Normalizer {
            charsmap: None,
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
            treat_whitespace_as_suffix: false,
            user_defined: Vec::new(),
        };
        SentencePiece::from_pieces(pieces, normalizer, " \u{2047} ".into()).unwrap()
    }

    #[test]
    fn normalization_collapses_and_strips_whitespace() {
        let sp = toy();
        assert_eq!(sp.normalize("  ab   b  "), "\u{2581}ab\u{2581}b");
        assert_eq!(sp.normalize("   "), "");
        assert_eq!(sp.normalize(""), "");
    }

    #[test]
    fn viterbi_picks_the_best_total_score() {
        let sp = toy();
        // "▁ab": ▁ + ab = -6 beats ▁ab = -7 and ▁ + a + b = -8.
        assert_eq!(sp.encode("ab"), vec![3, 6]);
        // unused "ba" is never produced: b + a.
        assert_eq!(sp.encode("ba"), vec![3, 5, 4]);
        // user-defined symbols stay whole.
        assert_eq!(sp.encode("a<x>b"), vec![3, 4, 8, 5]);
    }

    #[test]
    fn unknown_runs_merge_into_one_piece() {
        let sp = toy();
        let pieces = sp.encode_pieces("aqzb c");
        assert_eq!(
            pieces,
            vec![
                ("\u{2581}".to_string(), 3),
                ("a".to_string(), 4),
                ("qz".to_string(), 2),
                ("b".to_string(), 5),
                ("\u{2581}".to_string(), 3),
                ("c".to_string(), 2),
            ]
        );
        assert_eq!(sp.decode(&sp.encode("ab b")), "ab b");
        assert_eq!(sp.decode(&[3, 4, 2, 1, 0]), "a \u{2047} ");
    }

    #[test]
    fn malformed_models_are_refused() {
        assert!(matches!(
            SentencePiece::from_bytes(&[0x0a, 0x05, 0x01]),
            Err(Error::TokenizerModel { .. })
        ));
        // A model with one normal piece and no unknown piece.
        let bytes = [0x0a, 0x05, 0x0a, 0x01, b'a', 0x18, 0x01];
        let err = SentencePiece::from_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("no unknown piece"), "{err}");
        // A BPE model (trainer_spec.model_type = 2).
        let bytes = [0x0a, 0x03, 0x0a, 0x01, b'a', 0x12, 0x02, 0x18, 0x02];
        let err = SentencePiece::from_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("BPE"), "{err}");
    }
}
