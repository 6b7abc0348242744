//! Cutting normalised text into the units the blocklist compares with its keywords.
//!
//! - A *chunk* is a run of non-space characters.
//! - A *piece* is a run of letters, digits and leetspeak symbols inside a chunk; other
//!   punctuation (`-`, `.`, `_`, `'`, ...) separates pieces, so `bomb-making` and `bomb's` give
//!   the piece `bomb`.
//! - A *unit* is what gets compared: every piece, plus the whole chunk with its separators
//!   removed when it has several pieces (`b-o-m-b`, `b.o.m.b`, `child-abuse`), plus every run
//!   of single-character chunks (`b o m b`, `c h i l d a b u s e`).
//!
//! Each unit has *forms*: its literal spelling first, then leetspeak decodings (`b0mb` → `bomb`,
//! `k!ll` → `kill`, `f*ck`, `a$$`, `@` as `a` or `o`, `1`/`!`/`|` as `i` or `l`, ...). Digits
//! and symbols are decoded only in units that also hold a letter, so numbers stay numbers.
//! The number of forms per unit is bounded, so adversarial input costs linear time.

use super::normalize::NormChar;

/// Most forms kept for one unit (the literal spelling included).
pub(crate) const MAX_FORMS: usize = 32;

/// What a unit was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnitKind {
    /// One piece.
    Piece,
    /// A chunk's pieces joined (`b-o-m-b`, `child-abuse`).
    JoinedChunk,
    /// Single characters separated by spaces (`b o m b`).
    SpacedLetters,
}

/// A piece: a word-like run of characters.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    /// Spellings to compare: `forms[0]` is the literal text.
    pub forms: Vec<String>,
    /// Range of normalised characters (`start..end`).
    pub start: usize,
    pub end: usize,
}

/// A unit to compare with the keywords.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub kind: UnitKind,
    /// Spellings to compare: `forms[0]` is the literal text.
    pub forms: Vec<String>,
    /// First and last piece covered (inclusive).
    pub first_piece: usize,
    pub last_piece: usize,
}

/// The prompt cut into pieces and units.
#[derive(Debug, Clone, Default)]
pub(crate) struct Units {
    pub pieces: Vec<Piece>,
    pub units: Vec<Unit>,
}

fn is_leet_symbol(c: char) -> bool {
    matches!(
        c,
        '@' | '$' | '!' | '|' | '+' | '*' | '#' | '^' | '€' | '£' | '¢'
    )
}

/// Characters that belong to a piece.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || is_leet_symbol(c)
}

/// Readings of one character in a unit that holds at least one letter. `""` drops the
/// character (a symbol used as punctuation or as a stand-in at the edge of a word).
fn readings(c: char, at_edge: bool) -> &'static [&'static str] {
    match (c, at_edge) {
        ('0', _) => &["o"],
        ('1', _) => &["i", "l"],
        ('2', _) => &["z"],
        ('3', _) => &["e"],
        ('4', _) => &["a"],
        ('5', _) => &["s"],
        ('6', _) => &["g", "b"],
        ('7', _) => &["t"],
        ('8', _) => &["b"],
        ('9', _) => &["g"],
        ('@', _) => &["a", "o"],
        ('$', _) => &["s"],
        ('€', _) => &["e"],
        ('£', _) => &["l"],
        ('¢', _) => &["c"],
        ('*', _) => &["", "u", "i", "a", "o", "e"],
        ('!', false) => &["i", "l"],
        ('!', true) => &["", "i"],
        ('|', false) => &["l", "i"],
        ('|', true) => &["", "l", "i"],
        ('+', false) => &["t"],
        ('+', true) => &["", "t"],
        ('#', false) => &["h"],
        ('#', true) => &["", "h"],
        ('^', false) => &["a"],
        ('^', true) => &["", "a"],
        // Letters people swap in obfuscated words (only in units that hold a symbol or digit).
        ('i', _) => &["i", "l"],
        ('l', _) => &["l", "i"],
        ('u', _) => &["u", "v"],
        ('v', _) => &["v", "u"],
        _ => &[],
    }
}

/// All spellings of `chars` (a run of word characters), literal first, at most [`MAX_FORMS`].
pub(crate) fn forms_of(chars: &[char]) -> Vec<String> {
    let literal: String = chars.iter().collect();
    let has_letter = chars.iter().any(|c| c.is_ascii_lowercase());
    let obfuscated = chars.iter().any(|c| !c.is_ascii_lowercase());
    let mut forms = vec![literal];
    if !has_letter || !obfuscated {
        return forms;
    }
    let letters: String = chars.iter().filter(|c| c.is_ascii_lowercase()).collect();
    let n = chars.len();
    let options: Vec<&[&str]> = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| readings(c, i == 0 || i + 1 == n))
        .collect();
    // The primary reading (first option everywhere) comes right after the literal spelling,
    // then the letters alone, then the other combinations in odometer order.
    let mut counter = vec![0usize; n];
    let push = |forms: &mut Vec<String>, s: String| {
        if !s.is_empty() && !forms.contains(&s) {
            forms.push(s);
        }
    };
    let mut first = true;
    loop {
        let mut s = String::with_capacity(n);
        for (i, &c) in chars.iter().enumerate() {
            if options[i].is_empty() {
                s.push(c);
            } else {
                s.push_str(options[i][counter[i]]);
            }
        }
        push(&mut forms, s);
        if first {
            push(&mut forms, letters.clone());
            first = false;
        }
        if forms.len() >= MAX_FORMS {
            break;
        }
        // Advance the odometer from the right.
        let mut i = n;
        loop {
            if i == 0 {
                return forms;
            }
            i -= 1;
            if options[i].len() > 1 {
                counter[i] += 1;
                if counter[i] < options[i].len() {
                    break;
                }
                counter[i] = 0;
            }
        }
    }
    forms.truncate(MAX_FORMS);
    forms
}

/// `(start, end)` char ranges of the space-separated words of normalised text.
pub(crate) fn word_ranges(text: &[NormChar]) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].ch == ' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && text[i].ch != ' ' {
            i += 1;
        }
        words.push((start, i));
    }
    words
}

/// Cuts normalised text into pieces and units.
pub(crate) fn units(text: &[NormChar]) -> Units {
    let mut out = Units::default();
    // Chunks: (start, end) ranges of non-space characters.
    let chunks = word_ranges(text);
    // Spaced letters: runs of chunks that are one character each (chunks without any word
    // character, such as a lone `.`, neither break nor join a run).
    let mut run: Vec<usize> = Vec::new(); // piece indices of the current run
    let flush_run = |run: &mut Vec<usize>, out: &mut Units| {
        // The whole run, and the run without a leading one-letter English word ("make a
        // b o m b"); never other sub-runs, which would find keywords inside spaced-out
        // innocent words.
        let starts: &[usize] = match run.first().map(|&p| out.pieces[p].forms[0].as_str()) {
            Some("a" | "i") if run.len() >= 3 => &[0, 1],
            _ => &[0],
        };
        for &skip in starts {
            let part = &run[skip..];
            if part.len() < 2 {
                continue;
            }
            let chars: Vec<char> = part
                .iter()
                .flat_map(|&p| out.pieces[p].forms[0].chars().collect::<Vec<_>>())
                .collect();
            out.units.push(Unit {
                kind: UnitKind::SpacedLetters,
                forms: forms_of(&chars),
                first_piece: part[0],
                last_piece: *part.last().expect("part is not empty"),
            });
        }
        run.clear();
    };
    for &(start, end) in &chunks {
        let first_piece = out.pieces.len();
        let mut j = start;
        while j < end {
            if !is_word_char(text[j].ch) {
                j += 1;
                continue;
            }
            let piece_start = j;
            while j < end && is_word_char(text[j].ch) {
                j += 1;
            }
            let chars: Vec<char> = text[piece_start..j].iter().map(|c| c.ch).collect();
            let forms = forms_of(&chars);
            out.units.push(Unit {
                kind: UnitKind::Piece,
                forms: forms.clone(),
                first_piece: out.pieces.len(),
                last_piece: out.pieces.len(),
            });
            out.pieces.push(Piece {
                forms,
                start: piece_start,
                end: j,
            });
        }
        let n_pieces = out.pieces.len() - first_piece;
        if n_pieces >= 2 {
            let chars: Vec<char> = text[start..end]
                .iter()
                .map(|c| c.ch)
                .filter(|&c| is_word_char(c))
                .collect();
            out.units.push(Unit {
                kind: UnitKind::JoinedChunk,
                forms: forms_of(&chars),
                first_piece,
                last_piece: out.pieces.len() - 1,
            });
        }
        match n_pieces {
            0 => {}
            1 if out.pieces[first_piece].end - out.pieces[first_piece].start == 1 => {
                run.push(first_piece)
            }
            _ => flush_run(&mut run, &mut out),
        }
    }
    flush_run(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::normalize::normalize;
    use super::*;

    fn forms(s: &str) -> Vec<String> {
        forms_of(&s.chars().collect::<Vec<_>>())
    }

    #[test]
    fn leet_forms() {
        assert_eq!(forms("bomb"), vec!["bomb"]);
        assert_eq!(forms("1990"), vec!["1990"]);
        assert!(forms("b0mb").contains(&"bomb".to_string()));
        assert!(forms("k!ll").contains(&"kill".to_string()));
        assert!(forms("k1ll").contains(&"kill".to_string()));
        assert!(forms("f*ck").contains(&"fuck".to_string()));
        assert!(forms("a$$").contains(&"ass".to_string()));
        assert!(forms("bomb!").contains(&"bomb".to_string()));
        assert!(forms("@ss@ss1n").contains(&"assassin".to_string()));
        assert!(forms("1!1!1!1!1!1!1!1!1!1!").len() <= MAX_FORMS);
    }

    #[test]
    fn units_join_spaced_and_hyphenated_letters() {
        let text = normalize("the b o m b and b-o-m-b, child-abuse ok");
        let u = units(&text);
        let joined: Vec<(&str, UnitKind)> = u
            .units
            .iter()
            .filter(|u| u.kind != UnitKind::Piece)
            .map(|u| (u.forms[0].as_str(), u.kind))
            .collect();
        assert_eq!(
            joined,
            vec![
                ("bomb", UnitKind::SpacedLetters),
                ("bomb", UnitKind::JoinedChunk),
                ("childabuse", UnitKind::JoinedChunk)
            ]
        );
    }
}
