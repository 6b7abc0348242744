//! SentencePiece's precompiled normalisation map (`NormalizerSpec.precompiled_charsmap`).
//!
//! The blob is `[trie size: u32 LE][Darts-clone double-array trie: u32 LE units][normalised
//! strings, each NUL-terminated]`. The trie maps UTF-8 byte sequences (a character, or a
//! short sequence such as a base letter plus combining marks) to the offset of their
//! replacement in the strings section. The `nmt_nfkc` rules T5 uses are NFKC plus a few
//! NMT-specific mappings (control characters and tabs to spaces, and so on), baked into this
//! table when the model was trained, so reading the table reproduces them exactly.

/// A parsed precompiled charsmap.
#[derive(Debug, Clone)]
pub(crate) struct CharsMap {
    units: Vec<u32>,
    normalized: Vec<u8>,
}

// Darts-clone unit layout: bit 8 "has leaf", bits 0..8 label (bit 31 set on leaves),
// bits 10.. offset (shifted by 8 more when bit 9 is set), leaves hold a 31-bit value.
fn has_leaf(unit: u32) -> bool {
    (unit >> 8) & 1 == 1
}

fn value(unit: u32) -> u32 {
    unit & ((1 << 31) - 1)
}

fn label(unit: u32) -> u32 {
    unit & ((1 << 31) | 0xff)
}

fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize
}

impl CharsMap {
    /// Parses the blob; every normalised string must be UTF-8.
    pub(crate) fn parse(blob: &[u8]) -> Result<Self, String> {
        if blob.len() <= 4 {
            return Err(format!(
                "precompiled charsmap of {} bytes is too short",
                blob.len()
            ));
        }
        let trie_size = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes")) as usize;
        let rest = &blob[4..];
        if trie_size > rest.len() || !trie_size.is_multiple_of(4) {
            return Err(format!(
                "precompiled charsmap: trie of {trie_size} bytes does not fit {} bytes (or is not whole u32 units)",
                rest.len()
            ));
        }
        let units = rest[..trie_size]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect::<Vec<_>>();
        let normalized = rest[trie_size..].to_vec();
        for (i, part) in normalized.split(|&b| b == 0).enumerate() {
            if std::str::from_utf8(part).is_err() {
                return Err(format!(
                    "precompiled charsmap: replacement string {i} is not UTF-8"
                ));
            }
        }
        if units.is_empty() {
            return Err("precompiled charsmap: empty trie".into());
        }
        Ok(Self { units, normalized })
    }

    /// The longest key that prefixes `input`: `(its length in bytes, its replacement)`.
    pub(crate) fn longest_prefix(&self, input: &[u8]) -> Option<(usize, &str)> {
        let mut node = offset(self.units[0]);
        let mut best = None;
        for (i, &byte) in input.iter().enumerate() {
            node ^= byte as usize;
            let Some(&unit) = self.units.get(node) else {
                break;
            };
            if label(unit) != byte as u32 {
                break;
            }
            node ^= offset(unit);
            if has_leaf(unit) {
                let Some(&leaf) = self.units.get(node) else {
                    break;
                };
                best = Some((i + 1, value(leaf) as usize));
            }
        }
        let (length, at) = best?;
        let tail = self.normalized.get(at..)?;
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        std::str::from_utf8(&tail[..end])
            .ok()
            .map(|replacement| (length, replacement))
    }
}
