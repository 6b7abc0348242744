//! Semantic deduplication (after SemDeDup, Abbas et al. 2023, as cosmos-curate runs it): clip
//! embeddings are clustered with spherical k-means, and inside each cluster clips closer than a
//! cosine-distance epsilon to a better clip are removed. Clips are visited best first, so each
//! duplicate group keeps its best-quality clip.
//!
//! Clustering only bounds the work (pairs are compared within a cluster); with at most
//! `cluster_size` clips everything is one cluster and the result is exact. Everything is
//! deterministic: initial centroids are chosen by farthest-point traversal from the first clip.

use serde::{Deserialize, Serialize};

use crate::embed::cosine_distance;
use crate::error::{Error, Result};

/// Deduplication settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DedupConfig {
    /// Run deduplication.
    pub enabled: bool,
    /// Clips within this cosine distance of a better clip are duplicates (cosmos-curate: 0.01 on
    /// its model embeddings; the frame-hash embedding needs more room for re-encodes and crops).
    pub epsilon: f32,
    /// Target clips per k-means cluster.
    pub cluster_size: usize,
    /// k-means iterations at most.
    pub iterations: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            epsilon: 0.15,
            cluster_size: 1000,
            iterations: 20,
        }
    }
}

impl DedupConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if !(self.epsilon.is_finite() && (0.0..=2.0).contains(&self.epsilon))
            || self.cluster_size == 0
        {
            return Err(Error::Config(format!(
                "dedup needs 0 <= epsilon <= 2 and cluster_size >= 1, found epsilon {} and cluster_size {}",
                self.epsilon, self.cluster_size
            )));
        }
        Ok(())
    }
}

/// For each clip, the index of the clip that represents its duplicate group (itself when it is
/// kept). `embeddings` must be unit vectors of one length; higher `quality` wins, ties go to the
/// lower index.
pub fn deduplicate(
    embeddings: &[Vec<f32>],
    quality: &[f64],
    config: &DedupConfig,
) -> Result<Vec<usize>> {
    config.validate()?;
    let n = embeddings.len();
    if quality.len() != n {
        return Err(Error::Config(format!(
            "dedup: {n} embeddings but {} quality scores",
            quality.len()
        )));
    }
    if let Some(first) = embeddings.first()
        && let Some((index, bad)) = embeddings
            .iter()
            .enumerate()
            .find(|(_, e)| e.len() != first.len())
    {
        return Err(Error::Config(format!(
            "dedup: embeddings must have one length; clip 0 has {}, clip {index} has {}",
            first.len(),
            bad.len()
        )));
    }
    let clusters = kmeans(
        embeddings,
        n.div_ceil(config.cluster_size).max(1),
        config.iterations,
    );
    let mut representative: Vec<usize> = (0..n).collect();
    let mut members: Vec<Vec<usize>> =
        vec![Vec::new(); clusters.iter().copied().max().map_or(0, |m| m + 1)];
    for (index, &cluster) in clusters.iter().enumerate() {
        members[cluster].push(index);
    }
    for mut cluster in members {
        cluster.sort_by(|&a, &b| quality[b].total_cmp(&quality[a]).then(a.cmp(&b)));
        let mut kept: Vec<usize> = Vec::new();
        for index in cluster {
            let nearest = kept
                .iter()
                .map(|&k| (k, cosine_distance(&embeddings[index], &embeddings[k])))
                .filter(|(_, distance)| *distance <= config.epsilon)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match nearest {
                Some((k, _)) => representative[index] = k,
                None => kept.push(index),
            }
        }
    }
    Ok(representative)
}

/// Spherical k-means: cluster index of each vector.
fn kmeans(vectors: &[Vec<f32>], k: usize, iterations: usize) -> Vec<usize> {
    let n = vectors.len();
    if n == 0 {
        return Vec::new();
    }
    let k = k.min(n);
    if k <= 1 {
        return vec![0; n];
    }
    // Farthest-point initialisation.
    let mut centroids: Vec<Vec<f32>> = vec![vectors[0].clone()];
    let mut nearest: Vec<f32> = vectors
        .iter()
        .map(|v| cosine_distance(v, &vectors[0]))
        .collect();
    while centroids.len() < k {
        let (far, _) = nearest
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .unwrap_or((0, &0.0));
        centroids.push(vectors[far].clone());
        for (i, v) in vectors.iter().enumerate() {
            nearest[i] = nearest[i].min(cosine_distance(v, &vectors[far]));
        }
    }
    let mut assignment = vec![usize::MAX; n];
    for _ in 0..iterations.max(1) {
        let mut changed = false;
        for (i, v) in vectors.iter().enumerate() {
            let best = centroids
                .iter()
                .enumerate()
                .map(|(c, centroid)| (c, cosine_distance(v, centroid)))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
                .map_or(0, |(c, _)| c);
            if assignment[i] != best {
                assignment[i] = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        for (c, centroid) in centroids.iter_mut().enumerate() {
            let mut sum = vec![0f32; centroid.len()];
            let mut count = 0;
            for (v, _) in vectors.iter().zip(&assignment).filter(|(_, a)| **a == c) {
                sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                count += 1;
            }
            if count > 0 {
                crate::embed::normalise(&mut sum);
                *centroid = sum;
            }
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::normalise;

    fn unit(values: &[f32]) -> Vec<f32> {
        let mut v = values.to_vec();
        normalise(&mut v);
        v
    }

    #[test]
    fn near_duplicates_keep_the_best_clip() {
        let embeddings = vec![
            unit(&[1.0, 0.0, 0.0]),
            unit(&[0.0, 1.0, 0.0]),
            unit(&[1.0, 0.05, 0.0]), // near clip 0
            unit(&[0.0, 0.0, 1.0]),
            unit(&[0.98, 0.0, 0.1]), // near clip 0
        ];
        let quality = vec![1.0, 1.0, 3.0, 1.0, 2.0];
        let config = DedupConfig {
            epsilon: 0.02,
            ..DedupConfig::default()
        };
        let groups = deduplicate(&embeddings, &quality, &config).unwrap();
        // Clip 2 is the best of {0, 2, 4}: the other two point to it.
        assert_eq!(groups, vec![2, 1, 2, 3, 2]);
        // A tiny epsilon keeps everything.
        let none = deduplicate(
            &embeddings,
            &quality,
            &DedupConfig {
                epsilon: 1e-4,
                ..config.clone()
            },
        )
        .unwrap();
        assert_eq!(none, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn clustering_separates_far_groups_and_still_finds_duplicates() {
        // Three well separated families of 4 near-identical vectors each, clusters of 4.
        let mut embeddings = Vec::new();
        for family in 0..3 {
            for member in 0..4 {
                let mut v = vec![0.0; 3];
                v[family] = 1.0;
                v[(family + 1) % 3] = 0.01 * member as f32;
                embeddings.push(unit(&v));
            }
        }
        let quality: Vec<f64> = (0..12).map(|i| (i % 4) as f64).collect();
        let config = DedupConfig {
            epsilon: 0.01,
            cluster_size: 4,
            ..DedupConfig::default()
        };
        let groups = deduplicate(&embeddings, &quality, &config).unwrap();
        for family in 0..3 {
            // The highest-quality member (index 3 of the family) represents the family.
            for member in 0..4 {
                assert_eq!(groups[family * 4 + member], family * 4 + 3);
            }
        }
        assert!(deduplicate(&[vec![1.0], vec![1.0, 0.0]], &[0.0, 0.0], &config).is_err());
    }
}
