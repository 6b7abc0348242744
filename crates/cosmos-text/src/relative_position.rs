//! T5's relative position buckets (Raffel et al. 2020, §2.1 "relative position embeddings";
//! Mesh TensorFlow's `_relative_position_bucket`).
//!
//! Each attention score gets a learned per-head scalar chosen by the bucket of
//! `key_position − query_position`. The encoder is bidirectional: half the buckets are for
//! keys after the query, half for keys at or before it. Within a half, the first
//! `num_buckets/4` distances have a bucket each; larger distances share logarithmically wider
//! buckets up to `max_distance`, beyond which everything falls in the last bucket.

/// The bucket of `relative_position = key − query`.
///
/// The logarithm is taken in `f32`, in the order the reference computes it
/// (`ln(n / max_exact) / ln(max_distance / max_exact) · (half − max_exact)`, truncated), so
/// that distances on a bucket boundary land where they land in PyTorch.
/// `num_buckets` must be at least 4 and `max_distance` larger than `num_buckets / 4`
/// (checked by [`T5Config::validate`](crate::T5Config::validate)).
pub fn relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let mut bucket = 0usize;
    let mut buckets = num_buckets;
    let distance = if bidirectional {
        buckets /= 2;
        if relative_position > 0 {
            bucket += buckets;
        }
        relative_position.unsigned_abs()
    } else {
        // Causal: only keys at or before the query count; later keys share bucket 0.
        (-relative_position).max(0) as u64
    };
    let max_exact = (buckets / 2) as u64;
    if distance < max_exact {
        return bucket + distance as usize;
    }
    let scaled = ((distance as f32) / (max_exact as f32)).ln()
        / ((max_distance as f64 / max_exact as f64).ln() as f32)
        * ((buckets as u64 - max_exact) as f32);
    let large = max_exact + scaled as u64;
    bucket + large.min(buckets as u64 - 1) as usize
}

/// Buckets of every (query, key) pair of a self-attention over `length` tokens, row-major
/// `[query, key]`.
pub fn bucket_table(
    length: usize,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> Vec<i64> {
    let mut table = Vec::with_capacity(length * length);
    for query in 0..length as i64 {
        for key in 0..length as i64 {
            table.push(relative_position_bucket(
                key - query,
                bidirectional,
                num_buckets,
                max_distance,
            ) as i64);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_buckets_match_the_reference_table() {
        // T5 defaults: 32 buckets, max distance 128. Half 16 per direction, 8 exact.
        // Reference values (transformers' T5Attention._relative_position_bucket):
        // n = 8..15 → 8 + floor(ln(n/8)/ln(16)·8) = 8,8,8,8,9,9,9,9; n = 16 → 10,
        // n = 32 → 12, n = 64 → 14, n ≥ 128 → 15.
        let b = |r: i64| relative_position_bucket(r, true, 32, 128);
        assert_eq!(b(0), 0);
        assert_eq!(b(-1), 1);
        assert_eq!(b(-7), 7);
        assert_eq!(b(1), 17);
        assert_eq!(b(7), 23);
        assert_eq!(b(-8), 8);
        assert_eq!(b(-10), 8);
        assert_eq!(b(-11), 8);
        assert_eq!(b(-12), 9);
        assert_eq!(b(-15), 9);
        assert_eq!(b(-16), 10);
        assert_eq!(b(-22), 10);
        assert_eq!(b(-23), 11);
        assert_eq!(b(-32), 12);
        assert_eq!(b(-64), 14);
        assert_eq!(b(-127), 15);
        assert_eq!(b(-128), 15);
        assert_eq!(b(-500), 15);
        assert_eq!(b(16), 26);
        assert_eq!(b(511), 31);
    }

    #[test]
    fn table_is_toeplitz_and_antisymmetric_in_direction() {
        let n = 40;
        let table = bucket_table(n, true, 32, 128);
        for q in 0..n {
            for k in 0..n {
                let v = table[q * n + k];
                assert_eq!(
                    v,
                    relative_position_bucket(k as i64 - q as i64, true, 32, 128) as i64
                );
                if k > q {
                    assert_eq!(v, table[k * n + q] + 16);
                }
            }
        }
    }

    #[test]
    fn causal_buckets_ignore_future_keys() {
        let b = |r: i64| relative_position_bucket(r, false, 32, 128);
        assert_eq!(b(5), 0);
        assert_eq!(b(-5), 5);
        assert_eq!(b(-16), 16);
        assert_eq!(b(-1000), 31);
    }
}
