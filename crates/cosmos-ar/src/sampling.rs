//! Choosing the next token from logits: greedy, temperature with top-p (nucleus; Holtzman et
//! al. 2020) or top-k, as cosmos-predict1's `utils/sampling.py` does, driven by a seeded
//! generator so a seed always gives the same tokens.
//!
//! The reference draws with PyTorch's generator, whose stream cannot be reproduced outside
//! PyTorch; the distributions sampled from are the same.

use crate::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    /// Softmax temperature; `0` picks the most likely token (and ignores `top_p`/`top_k`).
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens while the probability mass before each
    /// is at most `top_p`.
    pub top_p: Option<f32>,
    /// Keep the `top_k` most likely tokens (exclusive with `top_p`, as in the reference).
    pub top_k: Option<usize>,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SamplingConfig {
    /// The reference command line's defaults: temperature 1, top-p 0.8, seed 0.
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: Some(0.8),
            top_k: None,
            seed: 0,
        }
    }
}

impl SamplingConfig {
    /// Greedy decoding (temperature 0).
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 0,
        }
    }

    /// Checks the parameters' ranges.
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::Argument(format!(
                "temperature must be finite and ≥ 0, found {}",
                self.temperature
            )));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(Error::Argument(format!(
                "top_p must be in (0, 1], found {p}"
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::Argument("top_k must be at least 1".into()));
        }
        if self.top_p.is_some() && self.top_k.is_some() && self.temperature > 0.0 {
            return Err(Error::Argument(
                "give top_p or top_k, not both (as the reference requires)".into(),
            ));
        }
        Ok(())
    }
}

/// xoshiro256++ (Blackman & Vigna 2019), seeded through SplitMix64: small, fast, and the same
/// stream on every platform.
#[derive(Debug, Clone)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut split_mix = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            state: [split_mix(), split_mix(), split_mix(), split_mix()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Draws tokens from logits with a [`SamplingConfig`] and its own generator.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplingConfig,
    rng: Rng,
}

impl Sampler {
    /// A sampler seeded with `config.seed`; checks the config.
    pub fn new(config: SamplingConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            rng: Rng::new(config.seed),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    /// The next token for one row of logits (`logits.len()` = vocabulary).
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::Argument("cannot sample from empty logits".into()));
        }
        if logits.iter().any(|x| x.is_nan()) {
            return Err(Error::Argument("logits contain NaN".into()));
        }
        if self.config.temperature == 0.0 {
            return Ok(argmax(logits));
        }
        let probs = softmax(logits, self.config.temperature);
        let candidates = match (self.config.top_p, self.config.top_k) {
            (Some(p), _) => nucleus(&probs, p),
            (None, Some(k)) => top_k(&probs, k),
            (None, None) => (0..probs.len() as u32)
                .map(|i| (i, probs[i as usize]))
                .collect(),
        };
        Ok(self.draw(&candidates))
    }

    /// Picks from `(token, weight)` pairs in proportion to the weights.
    fn draw(&mut self, candidates: &[(u32, f32)]) -> u32 {
        let total: f64 = candidates.iter().map(|&(_, p)| p as f64).sum();
        let mut target = self.rng.next_f64() * total;
        for &(token, p) in candidates {
            target -= p as f64;
            if target < 0.0 {
                return token;
            }
        }
        candidates.last().map(|c| c.0).unwrap_or(0)
    }
}

/// Index of the largest value (the first one on ties, as `torch.argmax`).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// `softmax(logits / temperature)` in f32, max-shifted.
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<f32> = logits
        .iter()
        .map(|&x| ((x - max) / temperature).exp())
        .collect();
    let sum: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= sum);
    probs
}

/// Sorts `(token, prob)` by descending probability, ties by ascending token.
fn sort_descending(pairs: &mut [(u32, f32)]) {
    pairs.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// [`nucleus`] by sorting the whole vocabulary: O(V log V), the direct form of the rule.
fn nucleus_by_sorting(probs: &[f32], top_p: f32) -> Vec<(u32, f32)> {
    let mut sorted: Vec<(u32, f32)> = probs
        .iter()
        .enumerate()
        .map(|(i, &p)| (i as u32, p))
        .collect();
    sort_descending(&mut sorted);
    let mut before = 0f64;
    let mut kept: Vec<(u32, f32)> = sorted
        .into_iter()
        .take_while(|&(_, p)| {
            let keep = before <= top_p as f64;
            before += p as f64;
            keep
        })
        .collect();
    kept.sort_unstable_by_key(|c| c.0);
    kept
}

/// The nucleus of `probs`: sorted by probability (ties by token id), a token is kept while the
/// mass of the tokens before it is at most `top_p` (the reference's
/// `probs_sum − probs_sort > top_p` mask; masses summed in f64). Returned in token order.
///
/// Runs in O(vocabulary) without sorting it: probabilities are bucketed by the top 16 bits of
/// their float32 pattern (monotonic for non-negative floats); every bucket above the one where
/// the cumulative mass crosses `top_p` is kept whole, and only that bucket is sorted.
pub fn nucleus(probs: &[f32], top_p: f32) -> Vec<(u32, f32)> {
    const BUCKETS: usize = 1 << 16;
    if probs.len() <= 4096 {
        // Small vocabularies: sorting is cheaper than the bucket table.
        return nucleus_by_sorting(probs, top_p);
    }
    let bucket = |p: f32| (p.max(0.0).to_bits() >> 16) as usize;
    let mut mass = vec![0f64; BUCKETS];
    for &p in probs {
        mass[bucket(p)] += p as f64;
    }
    let top_p = top_p as f64;
    // The first bucket, from the top, whose inclusion takes the mass past top_p.
    let mut before = 0f64;
    let mut crossing = None;
    for b in (0..BUCKETS).rev() {
        if before + mass[b] > top_p {
            crossing = Some(b);
            break;
        }
        before += mass[b];
    }
    let Some(crossing) = crossing else {
        return probs
            .iter()
            .enumerate()
            .map(|(i, &p)| (i as u32, p))
            .collect();
    };
    let mut edge: Vec<(u32, f32)> = probs
        .iter()
        .enumerate()
        .filter(|&(_, &p)| bucket(p) == crossing)
        .map(|(i, &p)| (i as u32, p))
        .collect();
    sort_descending(&mut edge);
    let mut kept_edge = Vec::new();
    for (token, p) in edge {
        if before > top_p {
            break;
        }
        kept_edge.push(token);
        before += p as f64;
    }
    kept_edge.sort_unstable();
    let mut edge_iter = kept_edge.into_iter().peekable();
    probs
        .iter()
        .enumerate()
        .filter(|&(i, &p)| {
            let b = bucket(p);
            b > crossing || (b == crossing && edge_iter.next_if_eq(&(i as u32)).is_some())
        })
        .map(|(i, &p)| (i as u32, p))
        .collect()
}

/// The `k` most likely tokens in token order (ties at the k-th value kept, as the reference's
/// `logits < pivot` mask does); O(vocabulary) by selection, not sorting.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(u32, f32)> {
    let k = k.clamp(1, probs.len().max(1));
    let mut values = probs.to_vec();
    let (_, pivot, _) = values.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let pivot = *pivot;
    probs
        .iter()
        .enumerate()
        .filter(|&(_, &p)| p >= pivot)
        .map(|(i, &p)| (i as u32, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uniform_enough() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<f64> = (0..10_000).map(|_| a.next_f64()).collect();
        assert!(
            xs.iter()
                .zip((0..10_000).map(|_| b.next_f64()))
                .all(|(x, y)| *x == y)
        );
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
    }

    #[test]
    fn nucleus_follows_the_reference_mask() {
        // Sorted: 0.5, 0.3, 0.15, 0.05. Mass before each: 0, 0.5, 0.8, 0.95.
        let probs = [0.15f32, 0.5, 0.05, 0.3];
        let kept: Vec<u32> = nucleus(&probs, 0.6).iter().map(|c| c.0).collect();
        assert_eq!(kept, [1, 3]);
        let kept: Vec<u32> = nucleus(&probs, 0.85).iter().map(|c| c.0).collect();
        assert_eq!(kept, [0, 1, 3]);
        let kept: Vec<u32> = nucleus(&probs, 0.96).iter().map(|c| c.0).collect();
        assert_eq!(kept, [0, 1, 2, 3]);
        let kept: Vec<u32> = nucleus(&probs, 0.4).iter().map(|c| c.0).collect();
        assert_eq!(kept, [1]);
    }

    #[test]
    fn nucleus_equals_a_full_sort() {
        // Peaked, long-tailed and flat distributions, with ties.
        let mut peaked = vec![0.0f32; 16_000];
        for (i, l) in peaked.iter_mut().enumerate() {
            *l = -((i % 977) as f32) * 0.02;
        }
        peaked[5] = 9.0;
        peaked[12_000] = 8.5;
        let flat: Vec<f32> = (0..16_000)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
            .collect();
        for logits in [peaked, flat, vec![0.0f32; 5000], vec![0.5f32; 100]] {
            let probs = softmax(&logits, 1.0);
            for top_p in [0.1f32, 0.5, 0.8, 0.95, 1.0] {
                let fast = nucleus(&probs, top_p);
                let slow = nucleus_by_sorting(&probs, top_p);
                assert_eq!(fast, slow, "top_p {top_p}");
            }
        }
    }

    #[test]
    fn sampling_frequencies_match_the_truncated_distribution() {
        let logits = [
            2.0f32.ln(),
            1.0f32.ln(),
            1.0f32.ln(),
            0.0f32.ln().max(-30.0),
        ];
        // probs ≈ 0.5, 0.25, 0.25, ~0; top_p 0.6 keeps tokens 0 and one of 1/2 (the lower id).
        let mut sampler = Sampler::new(SamplingConfig {
            temperature: 1.0,
            top_p: Some(0.6),
            top_k: None,
            seed: 3,
        })
        .unwrap();
        let mut counts = [0usize; 4];
        for _ in 0..30_000 {
            counts[sampler.sample(&logits).unwrap() as usize] += 1;
        }
        assert_eq!(counts[2] + counts[3], 0, "{counts:?}");
        let share = counts[0] as f64 / 30_000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn greedy_top_k_and_seeds() {
        let logits = [0.1f32, 3.0, 2.9, -1.0];
        let mut greedy = Sampler::new(SamplingConfig::greedy()).unwrap();
        assert_eq!(greedy.sample(&logits).unwrap(), 1);
        let config = SamplingConfig {
            temperature: 1.0,
            top_p: None,
            top_k: Some(2),
            seed: 11,
        };
        let mut a = Sampler::new(config).unwrap();
        let mut b = Sampler::new(config).unwrap();
        let xs: Vec<u32> = (0..200).map(|_| a.sample(&logits).unwrap()).collect();
        let ys: Vec<u32> = (0..200).map(|_| b.sample(&logits).unwrap()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&t| t == 1 || t == 2));
        assert!(xs.contains(&1) && xs.contains(&2));
    }

    #[test]
    fn bad_parameters_are_errors() {
        let bad = |c: SamplingConfig| matches!(Sampler::new(c), Err(Error::Argument(_)));
        let base = SamplingConfig::default();
        assert!(bad(SamplingConfig {
            temperature: -1.0,
            ..base
        }));
        assert!(bad(SamplingConfig {
            top_p: Some(0.0),
            ..base
        }));
        assert!(bad(SamplingConfig {
            top_p: Some(1.5),
            ..base
        }));
        assert!(bad(SamplingConfig {
            top_k: Some(0),
            top_p: None,
            ..base
        }));
        assert!(bad(SamplingConfig {
            top_k: Some(5),
            ..base
        }));
        let mut s = Sampler::new(base).unwrap();
        assert!(s.sample(&[]).is_err());
        assert!(s.sample(&[f32::NAN, 1.0]).is_err());
    }
}
