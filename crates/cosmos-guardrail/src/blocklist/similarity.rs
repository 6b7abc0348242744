//! Ratcliff/Obershelp similarity, as Python's `difflib.SequenceMatcher(None, a, b).ratio()`
//! computes it for short strings (no junk heuristic: it only applies to sequences of 200 or
//! more items, far longer than any keyword).

/// Longest common block of `a[alo..ahi]` and `b[blo..bhi]`: `(i, j, size)`. Ties go to the block
/// that starts earliest in `a`, then earliest in `b`, as difflib's `find_longest_match`.
fn longest_match(
    a: &[char],
    b: &[char],
    alo: usize,
    ahi: usize,
    blo: usize,
    bhi: usize,
) -> (usize, usize, usize) {
    let (mut best_i, mut best_j, mut best) = (alo, blo, 0usize);
    // run[j + 1] = length of the common suffix ending at a[i], b[j].
    let mut prev = vec![0usize; bhi - blo + 1];
    let mut cur = vec![0usize; bhi - blo + 1];
    for (i, &ai) in a.iter().enumerate().take(ahi).skip(alo) {
        for (j, &bj) in b.iter().enumerate().take(bhi).skip(blo) {
            let k = j - blo + 1;
            cur[k] = if ai == bj { prev[k - 1] + 1 } else { 0 };
            if cur[k] > best {
                best = cur[k];
                best_i = i + 1 - best;
                best_j = j + 1 - best;
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (best_i, best_j, best)
}

/// Total size of the matching blocks difflib finds (recursively around the longest match).
fn matched_chars(a: &[char], b: &[char]) -> usize {
    let mut total = 0;
    let mut queue = vec![(0, a.len(), 0, b.len())];
    while let Some((alo, ahi, blo, bhi)) = queue.pop() {
        if alo >= ahi || blo >= bhi {
            continue;
        }
        let (i, j, k) = longest_match(a, b, alo, ahi, blo, bhi);
        if k == 0 {
            continue;
        }
        total += k;
        queue.push((alo, i, blo, j));
        queue.push((i + k, ahi, j + k, bhi));
    }
    total
}

/// `SequenceMatcher(None, a, b).ratio()`: `2·M / (len(a) + len(b))`, 1.0 for two empty strings.
pub fn sequence_ratio(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    2.0 * matched_chars(&a, &b) as f64 / total as f64
}

/// An upper bound of [`sequence_ratio`] from the lengths alone (difflib's `real_quick_ratio`).
pub(crate) fn ratio_upper_bound(len_a: usize, len_b: usize) -> f64 {
    let total = len_a + len_b;
    if total == 0 {
        return 1.0;
    }
    2.0 * len_a.min(len_b) as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_difflib_values() {
        // Values printed by Python 3's difflib.SequenceMatcher(None, a, b).ratio().
        assert_eq!(sequence_ratio("abcd", "bcde"), 0.75);
        assert!((sequence_ratio("decapitaton", "decapitation") - 22.0 / 23.0).abs() < 1e-12);
        assert_eq!(sequence_ratio("", ""), 1.0);
        assert_eq!(sequence_ratio("abc", ""), 0.0);
        // difflib is not symmetric in general, but the matched count here is 4 both ways:
        // "private" vs "pirate": blocks "p", "r", "ate" (M = 5) -> 10/13.
        assert!((sequence_ratio("private", "pirate") - 10.0 / 13.0).abs() < 1e-12);
        // Longest block first, then recursion on both sides: "qabxcd" vs "abycdf".
        assert!((sequence_ratio("qabxcd", "abycdf") - 8.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn upper_bound_bounds() {
        for (a, b) in [("abc", "abcd"), ("bomb", "bombs"), ("x", "yyyy")] {
            assert!(sequence_ratio(a, b) <= ratio_upper_bound(a.len(), b.len()) + 1e-12);
        }
    }
}
