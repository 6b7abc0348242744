//! Text normalisation for the blocklist: every character of the prompt is folded to what it
//! looks like, keeping the byte range it came from so a match can be shown in the user's text.
//!
//! Per input character, in order:
//! 1. compatibility decomposition (NFKD: full-width forms, ligatures, circled and mathematical
//!    letters, superscripts),
//! 2. combining marks dropped (accents, Zalgo stacks, variation selectors),
//! 3. zero-width and other invisible format characters dropped (ZWSP, ZWJ, soft hyphen, BOM,
//!    bidi controls, tag characters),
//! 4. whitespace of any kind becomes one ASCII space,
//! 5. confusable letters (Cyrillic/Greek look-alikes and the like) folded to the Latin letter
//!    they imitate (the `decancer` tables), lower case.

use decancer::{Options, Translation, cure_char};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// One character of normalised text and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NormChar {
    /// The folded character (lower case; ASCII for every Latin look-alike).
    pub ch: char,
    /// Byte range of the source character in the original text.
    pub start: usize,
    pub end: usize,
}

/// Invisible characters that carry no letter: zero-width spaces and joiners, the soft hyphen,
/// bidi controls, the BOM, interlinear annotation marks and tag characters.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF9..=0xFFFB | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE007F | 0xE0100..=0xE01EF)
}

/// Folds `text` character by character (see the module comment).
pub(crate) fn normalize(text: &str) -> Vec<NormChar> {
    let mut out = Vec::with_capacity(text.len());
    for (start, c) in text.char_indices() {
        let end = start + c.len_utf8();
        let mut push = |ch: char| out.push(NormChar { ch, start, end });
        if c.is_ascii() {
            if c.is_ascii_whitespace() {
                push(' ');
            } else if !c.is_ascii_control() {
                push(c.to_ascii_lowercase());
            }
            continue;
        }
        if c.is_whitespace() {
            push(' ');
            continue;
        }
        for d in std::iter::once(c).nfkd() {
            if is_combining_mark(d) || is_invisible(d) || d.is_control() {
                continue;
            }
            if d.is_whitespace() {
                push(' ');
                continue;
            }
            if d.is_ascii() {
                push(d.to_ascii_lowercase());
                continue;
            }
            // Letters that decancer folds to something else than their usual spelling.
            match d {
                'ß' | 'ẞ' => {
                    push('s');
                    push('s');
                    continue;
                }
                _ => {}
            }
            match cure_char(d, Options::default()) {
                Translation::Character(x) => {
                    for l in x.to_lowercase() {
                        push(l);
                    }
                }
                Translation::String(s) => {
                    for x in s.chars() {
                        for l in x.to_lowercase() {
                            push(l);
                        }
                    }
                }
                Translation::None => {}
            }
        }
    }
    out
}

/// The folded text as a plain string.
#[cfg(test)]
pub(crate) fn normalized_string(text: &str) -> String {
    normalize(text).iter().map(|c| c.ch).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_lookalikes_widths_marks_and_invisibles() {
        // Cyrillic о and к, Greek Β/Ο/Μ, full-width, zero-width space, combining marks.
        assert_eq!(normalized_string("b\u{43e}mb"), "bomb");
        assert_eq!(normalized_string("\u{392}\u{39f}\u{39c}\u{392}"), "bomb");
        assert_eq!(
            normalized_string("\u{ff42}\u{ff4f}\u{ff4d}\u{ff42}"),
            "bomb"
        );
        assert_eq!(normalized_string("bo\u{200b}m\u{200d}b"), "bomb");
        assert_eq!(normalized_string("b\u{f3}m\u{334}\u{321}b"), "bomb");
        assert_eq!(normalized_string("\u{43a}ill"), "kill");
        assert_eq!(normalized_string("\u{1d4f8}\u{1d4f6}"), "om");
        assert_eq!(normalized_string("Stra\u{df}e"), "strasse");
        assert_eq!(normalized_string("a\u{3000}b\tc\u{a0}d"), "a b c d");
    }

    #[test]
    fn keeps_source_byte_ranges() {
        let text = "x\u{ff42}y";
        let chars = normalize(text);
        assert_eq!(chars.len(), 3);
        assert_eq!((chars[1].start, chars[1].end), (1, 4));
        assert_eq!(&text[chars[1].start..chars[1].end], "\u{ff42}");
    }
}
