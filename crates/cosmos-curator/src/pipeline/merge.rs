//! Cross-worker deduplication (`cosmos curate --merge OUT`): after every worker of an n-worker
//! run has finished, the clips in shards of all workers are deduplicated together with the run's
//! own settings ([`crate::dedup::deduplicate`], its epsilon and quality order, repeated until no
//! duplicate is left, so a second merge finds nothing). Duplicates are taken out of their shards
//! (the other members are copied byte for byte; a shard left empty is deleted), marked
//! `duplicate` in the manifests (each worker's part and `OUT/manifest.jsonl`, so a worker re-run
//! later concatenates the merged parts), and the worker summaries are recounted.
//!
//! The decisions are saved first (`OUT/.curate/merge-plan.json`) and every file is replaced
//! atomically, so a merge killed midway and started again finishes the same way; the result is
//! recorded in `OUT/merge.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{RunIdentity, VideoState, clip_stage_counts, json_error, read_json_file};
use crate::dedup::deduplicate;
use crate::durable::Durable;
use crate::error::{Error, Result};
use crate::filters::DropReason;
use crate::inputs::ShardSpec;
use crate::manifest::{ClipRecord, Summary, read_manifest};

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeSummary {
    /// Workers of the run.
    pub workers: usize,
    /// Clips in shards before the merge.
    pub clips_before: u64,
    /// Clips in shards after it.
    pub clips_after: u64,
    /// Clips removed, each with the clip it duplicates (`key`, `duplicate_of`), by key.
    pub removed: Vec<RemovedClip>,
    /// Shards rewritten (relative to the output folder).
    pub shards_rewritten: Vec<String>,
    /// Shards deleted because every clip in them was removed.
    pub shards_deleted: Vec<String>,
    /// The merged manifest, relative to the output folder.
    pub manifest: String,
}

/// One clip taken out by the merge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RemovedClip {
    /// Its key.
    pub key: String,
    /// Key of the kept clip it duplicates.
    pub duplicate_of: String,
}

impl fmt::Display for MergeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "merge of {} workers: {} clips in shards before, {} after; {} cross-worker duplicates removed",
            self.workers,
            self.clips_before,
            self.clips_after,
            self.removed.len()
        )?;
        for clip in &self.removed {
            writeln!(
                f,
                "  removed {} (duplicate of {})",
                clip.key, clip.duplicate_of
            )?;
        }
        writeln!(
            f,
            "  {} shards rewritten, {} deleted; manifest {}",
            self.shards_rewritten.len(),
            self.shards_deleted.len(),
            self.manifest
        )
    }
}

/// A finished worker's folder and manifest part.
struct Worker {
    folder: PathBuf,
    manifest: PathBuf,
    records: Vec<ClipRecord>,
}

/// Merges the finished workers of the run in `out` (see the module documentation).
pub fn merge_workers(out: &Path) -> Result<MergeSummary> {
    let mut workers = find_workers(out)?;
    let count = workers.len();
    let identity: RunIdentity = read_json_file(&workers[0].folder.join("run.json"))?;
    let dedup = identity.config.dedup;
    let plan_path = out.join(".curate").join("merge-plan.json");
    let durable = Durable::new("merge", None);
    durable.remove_leftovers(out, true)?;
    let clips_before = workers
        .iter()
        .flat_map(|w| &w.records)
        .filter(|r| r.kept)
        .count() as u64;

    let mut removed: Vec<RemovedClip> = if plan_path.is_file() {
        read_json_file(&plan_path)?
    } else {
        let mut removed = Vec::new();
        if dedup.enabled {
            let embeddings = load_embeddings(&workers)?;
            let mut candidates: Vec<&ClipRecord> = workers
                .iter()
                .flat_map(|w| &w.records)
                .filter(|r| r.kept)
                .collect();
            // Repeat until a pass removes nothing: the survivors are then a fixed point, and a
            // later merge (the same pass on the same clips) removes nothing either.
            loop {
                let mut vectors = Vec::with_capacity(candidates.len());
                let mut quality = Vec::with_capacity(candidates.len());
                for record in &candidates {
                    let (vector, q) =
                        embeddings
                            .get(record.key.as_str())
                            .ok_or_else(|| Error::State {
                                path: out.join(".curate"),
                                reason: format!(
                                    "no embedding saved for clip '{}' in the workers' state",
                                    record.key
                                ),
                            })?;
                    vectors.push(vector.clone());
                    quality.push(*q);
                }
                let groups = deduplicate(&vectors, &quality, &dedup)?;
                let duplicates: Vec<usize> =
                    (0..candidates.len()).filter(|&i| groups[i] != i).collect();
                if duplicates.is_empty() {
                    break;
                }
                for &i in &duplicates {
                    removed.push(RemovedClip {
                        key: candidates[i].key.clone(),
                        duplicate_of: candidates[groups[i]].key.clone(),
                    });
                }
                let gone: BTreeSet<usize> = duplicates.into_iter().collect();
                candidates = candidates
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !gone.contains(i))
                    .map(|(_, r)| r)
                    .collect();
            }
        }
        // A clip removed in a later pass may have represented clips removed earlier: point
        // every removed clip at the kept clip at the end of its chain.
        let direct: BTreeMap<String, String> = removed
            .iter()
            .map(|r| (r.key.clone(), r.duplicate_of.clone()))
            .collect();
        for clip in &mut removed {
            while let Some(next) = direct.get(&clip.duplicate_of) {
                clip.duplicate_of = next.clone();
            }
        }
        removed.sort();
        let json = serde_json::to_vec_pretty(&removed).map_err(|e| json_error(&plan_path, e))?;
        durable.write_bytes(&plan_path, &json)?;
        removed
    };
    removed.sort();
    let representative: BTreeMap<&str, &str> = removed
        .iter()
        .map(|r| (r.key.as_str(), r.duplicate_of.as_str()))
        .collect();

    // Shards holding removed clips, with the keys to take out.
    let mut by_shard: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in workers.iter().flat_map(|w| &w.records) {
        if representative.contains_key(record.key.as_str())
            && let Some(shard) = &record.shard
        {
            by_shard
                .entry(shard.clone())
                .or_default()
                .insert(record.key.clone());
        }
    }
    let mut shards_rewritten = Vec::new();
    let mut shards_deleted = Vec::new();
    for (shard, keys) in &by_shard {
        match remove_from_shard(&durable, &out.join(shard), keys)? {
            ShardOutcome::Rewritten => shards_rewritten.push(shard.clone()),
            ShardOutcome::Deleted => shards_deleted.push(shard.clone()),
            ShardOutcome::Unchanged => {}
        }
    }

    // Records, manifests, summaries.
    for worker in &mut workers {
        for record in &mut worker.records {
            if let Some(&kept) = representative.get(record.key.as_str()) {
                record.kept = false;
                record.shard = None;
                record.drop_reason = Some(DropReason::Duplicate);
                record.dedup_group = Some(kept.to_string());
            } else if let Some(group) = &record.dedup_group
                && let Some(&kept) = representative.get(group.as_str())
            {
                record.dedup_group = Some(kept.to_string());
            }
        }
        write_manifest(&durable, &worker.manifest, &worker.records)?;
        let summary_path = worker.folder.join("summary.json");
        let mut summary: Summary = read_json_file(&summary_path)?;
        recount(&mut summary, &worker.records, out)?;
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| json_error(&summary_path, e))?;
        durable.write_bytes(&summary_path, &json)?;
        if count == 1 {
            durable.write_bytes(&out.join("summary.json"), &json)?;
        }
    }
    let merged = out.join("manifest.jsonl");
    if count > 1 {
        let all: Vec<ClipRecord> = workers.iter().flat_map(|w| w.records.clone()).collect();
        write_manifest(&durable, &merged, &all)?;
    }
    let summary = MergeSummary {
        workers: count,
        clips_before,
        clips_after: workers
            .iter()
            .flat_map(|w| &w.records)
            .filter(|r| r.kept)
            .count() as u64,
        removed,
        shards_rewritten,
        shards_deleted,
        manifest: "manifest.jsonl".into(),
    };
    // A merge that removes nothing (a second one) leaves the record of the first alone.
    let path = out.join("merge.json");
    if !summary.removed.is_empty() || !path.is_file() {
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| json_error(&path, e))?;
        durable.write_bytes(&path, &json)?;
    }
    if plan_path.is_file() {
        std::fs::remove_file(&plan_path).map_err(|e| Error::io(&plan_path, e))?;
    }
    Ok(summary)
}

/// The worker folders of the run in `out`, every one finished, in worker order.
fn find_workers(out: &Path) -> Result<Vec<Worker>> {
    if crate::store::is_url(out) {
        return Err(Error::Input {
            path: out.to_path_buf(),
            reason: "--merge works on a local output folder; copy the run from the bucket first"
                .into(),
        });
    }
    let state = out.join(".curate");
    let entries = std::fs::read_dir(&state).map_err(|e| Error::Input {
        path: out.to_path_buf(),
        reason: format!("not the output folder of a curate run (no .curate folder: {e})"),
    })?;
    let mut specs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&state, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((index, count)) = name.split_once("-of-")
            && let (Ok(index), Ok(count)) = (index.parse::<usize>(), count.parse::<usize>())
            && entry.path().is_dir()
        {
            specs.push(ShardSpec::new(index, count)?);
        }
    }
    let counts: BTreeSet<usize> = specs.iter().map(|s| s.count).collect();
    let count = match counts.len() {
        0 => {
            return Err(Error::Input {
                path: out.to_path_buf(),
                reason: "no worker folder (.curate/i-of-n) found".into(),
            });
        }
        1 => counts.into_iter().next().unwrap_or(1),
        _ => {
            return Err(Error::Input {
                path: out.to_path_buf(),
                reason: format!(
                    "holds runs with different worker counts {counts:?}; merge one run at a time"
                ),
            });
        }
    };
    let mut workers = Vec::with_capacity(count);
    let mut unfinished = Vec::new();
    for index in 0..count {
        let spec = ShardSpec { index, count };
        let folder = state.join(spec.label());
        if !folder.join("summary.json").is_file() {
            unfinished.push(spec.to_string());
            continue;
        }
        let manifest = if count == 1 {
            out.join("manifest.jsonl")
        } else {
            folder.join("manifest.jsonl")
        };
        let records = read_manifest(&manifest)?;
        workers.push(Worker {
            folder,
            manifest,
            records,
        });
    }
    if !unfinished.is_empty() {
        return Err(Error::Input {
            path: out.to_path_buf(),
            reason: format!(
                "workers {} have not finished; merge once all {count} have",
                unfinished.join(", ")
            ),
        });
    }
    Ok(workers)
}

/// Embedding and quality of every clip that passed the filters, from the workers' video states.
fn load_embeddings(workers: &[Worker]) -> Result<BTreeMap<String, (Vec<f32>, f64)>> {
    let mut embeddings = BTreeMap::new();
    for worker in workers {
        let folder = worker.folder.join("videos");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&folder) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "json")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(Error::io(&folder, error)),
        };
        files.sort();
        for file in files {
            let state: VideoState = read_json_file(&file)?;
            for clip in state.clips {
                if !clip.embedding.is_empty() {
                    embeddings.insert(clip.record.key, (clip.embedding, clip.quality));
                }
            }
        }
    }
    Ok(embeddings)
}

enum ShardOutcome {
    Rewritten,
    Deleted,
    Unchanged,
}

/// Rewrites the shard at `path` without the members of `keys` (`KEY.*`), atomically; deletes
/// it when nothing is left.
fn remove_from_shard(
    durable: &Durable,
    path: &Path,
    keys: &BTreeSet<String>,
) -> Result<ShardOutcome> {
    if !path.is_file() {
        return Ok(ShardOutcome::Unchanged);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive = tar::Archive::new(file);
    let mut kept: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    let mut dropped_any = false;
    for entry in archive.entries().map_err(|e| Error::io(path, e))? {
        let mut entry = entry.map_err(|e| Error::io(path, e))?;
        let name = entry
            .path()
            .map_err(|e| Error::io(path, e))?
            .to_string_lossy()
            .into_owned();
        let key = name.split('.').next().unwrap_or_default();
        if keys.contains(key) {
            dropped_any = true;
            continue;
        }
        let header = entry.header().clone();
        let mut data = Vec::with_capacity(entry.size() as usize);
        std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| Error::io(path, e))?;
        kept.push((header, data));
    }
    if !dropped_any {
        return Ok(ShardOutcome::Unchanged);
    }
    if kept.is_empty() {
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        return Ok(ShardOutcome::Deleted);
    }
    durable.write(path, |writer| {
        let mut builder = tar::Builder::new(writer);
        for (header, data) in &kept {
            builder
                .append(header, data.as_slice())
                .map_err(|e| Error::io(path, e))?;
        }
        let writer = builder.into_inner().map_err(|e| Error::io(path, e))?;
        std::io::Write::flush(writer).map_err(|e| Error::io(path, e))
    })?;
    Ok(ShardOutcome::Rewritten)
}

fn write_manifest(durable: &Durable, path: &Path, records: &[ClipRecord]) -> Result<()> {
    durable.write(path, |w| {
        for record in records {
            serde_json::to_writer(&mut *w, record).map_err(|e| json_error(path, e))?;
            std::io::Write::write_all(w, b"\n").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// Recounts a worker's clip stages, clips in shards, shard list and bytes from its records.
fn recount(summary: &mut Summary, records: &[ClipRecord], out: &Path) -> Result<()> {
    let decode: Vec<_> = summary
        .stages
        .iter()
        .filter(|s| s.stage == "decode")
        .cloned()
        .collect();
    summary.stages = decode;
    summary.stages.extend(clip_stage_counts(records.iter()));
    summary.clips_in_shards = records.iter().filter(|r| r.kept).count() as u64;
    summary.shards.retain(|shard| out.join(shard).is_file());
    let mut bytes = 0;
    for shard in &summary.shards {
        let path = out.join(shard);
        bytes += std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .len();
    }
    summary.shard_bytes = bytes;
    Ok(())
}
