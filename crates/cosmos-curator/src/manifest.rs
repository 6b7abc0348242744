//! The manifest (`DIR/manifest.jsonl`): one JSON object per line for every clip considered,
//! kept or not, and the run summary.

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::filters::{ClipScores, DropReason};
use crate::inputs::ShardSpec;

/// One clip's line in the manifest (also its `KEY.json` in the shard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipRecord {
    /// Unique key: sanitised source stem, source hash, start and end frame.
    pub key: String,
    /// The source video, as given (after folder and list expansion).
    pub source: String,
    /// First frame in the source.
    pub start_frame: u64,
    /// One past the last frame.
    pub end_frame: u64,
    /// Start time in the source, seconds.
    pub start_s: f64,
    /// End time in the source (exclusive), seconds.
    pub end_s: f64,
    /// Frames per second.
    pub fps: f64,
    /// Width of the encoded clip.
    pub width: u32,
    /// Height of the encoded clip.
    pub height: u32,
    /// Width of the source.
    pub source_width: u32,
    /// Height of the source.
    pub source_height: u32,
    /// The shot detector that cut the source.
    pub shot_detector: String,
    /// Every filter score (absent for clips dropped before the filters).
    pub scores: Option<ClipScores>,
    /// Camera-motion tags.
    pub tags: Vec<String>,
    /// Video-type label.
    pub video_type: Option<String>,
    /// Caption, when the captioner gave one.
    pub caption: Option<String>,
    /// Key of the clip that represents this clip's duplicate group (its own key when it is the
    /// best of its group); absent for clips dropped before deduplication.
    pub dedup_group: Option<String>,
    /// Whether the clip is in a shard.
    pub kept: bool,
    /// Why it was dropped (the first reason).
    pub drop_reason: Option<DropReason>,
    /// Every filter that would have dropped it.
    pub failed_filters: Vec<DropReason>,
    /// Shard holding it, relative to the output folder.
    pub shard: Option<String>,
    /// One action vector per clip frame, from `VIDEO.actions.json` beside the source
    /// ([`crate::signals`]); absent without that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<Vec<f32>>>,
    /// One camera vector per clip frame, from `VIDEO.camera.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<Vec<Vec<f32>>>,
}

impl ClipRecord {
    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// Reads a manifest written by the curator.
pub fn read_manifest(path: &Path) -> Result<Vec<ClipRecord>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut records = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        records.push(serde_json::from_str(&line).map_err(|e| Error::State {
            path: path.to_path_buf(),
            reason: format!("line {}: not a clip record: {e}", number + 1),
        })?);
    }
    Ok(records)
}

/// An input that could not be curated (or only partly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputProblem {
    /// The input.
    pub source: String,
    /// What went wrong.
    pub problem: String,
}

/// Clips in and out of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCount {
    /// Stage name (`decode`, `clip_rules`, `motion`, `quality`, `overlay_text`, `video_type`,
    /// `dedup`, `encode`).
    pub stage: String,
    /// Items that reached the stage (videos for `decode`, clips after).
    pub input: u64,
    /// Items it passed on.
    pub kept: u64,
    /// Items it dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
}

/// What one run (one worker) did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The worker's share.
    pub shard: ShardSpec,
    /// Input videos of this worker.
    pub inputs: u64,
    /// Inputs that could not be read at all (skipped).
    pub failed_inputs: Vec<InputProblem>,
    /// Inputs that were damaged but partly decodable (curated as far as they decoded).
    pub damaged_inputs: Vec<InputProblem>,
    /// Shots detected.
    pub shots: u64,
    /// Per stage, in order.
    pub stages: Vec<StageCount>,
    /// Clips written to shards.
    pub clips_in_shards: u64,
    /// Shard files, relative to the output folder.
    pub shards: Vec<String>,
    /// Total size of the shards, bytes.
    pub shard_bytes: u64,
    /// This worker's manifest, relative to the output folder.
    pub manifest: String,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "curation summary (worker {}):", self.shard)?;
        writeln!(
            f,
            "  inputs {}, unreadable {}, damaged {}; shots {}",
            self.inputs,
            self.failed_inputs.len(),
            self.damaged_inputs.len(),
            self.shots
        )?;
        writeln!(
            f,
            "  {:<13} {:>7} {:>7} {:>8}  dropped by reason",
            "stage", "in", "kept", "dropped"
        )?;
        for stage in &self.stages {
            let dropped: u64 = stage.dropped.values().sum();
            let reasons: Vec<String> = stage
                .dropped
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            writeln!(
                f,
                "  {:<13} {:>7} {:>7} {:>8}  {}",
                stage.stage,
                stage.input,
                stage.kept,
                dropped,
                reasons.join(", ")
            )?;
        }
        writeln!(
            f,
            "  {} clips in {} shards ({:.1} MB); manifest {}",
            self.clips_in_shards,
            self.shards.len(),
            self.shard_bytes as f64 / 1e6,
            self.manifest
        )?;
        for problem in &self.failed_inputs {
            writeln!(f, "  unreadable: {}: {}", problem.source, problem.problem)?;
        }
        for problem in &self.damaged_inputs {
            writeln!(f, "  damaged: {}: {}", problem.source, problem.problem)?;
        }
        Ok(())
    }
}
