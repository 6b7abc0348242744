//! The curation runner: inputs in, webdataset shards and a manifest out.
//!
//! Stages, for one worker's share of the inputs (see [`ShardSpec`]):
//! 1. analyse each video (one decode at analysis size: shots and per-frame statistics), cut
//!    clips, run the filters, caption and embed the clips that pass; one state file per video;
//! 2. deduplicate the passing clips of all videos;
//! 3. re-encode the kept clips, one file each;
//! 4. plan the shards from the encoded sizes (saved), write each shard;
//! 5. write the manifest and the summary (the summary marks the worker done).
//!
//! Every file is written atomically ([`Durable`]) and every step first looks for its output, so
//! a run killed at any point and started again with the same arguments redoes only unfinished
//! work and produces the same clips, shards and manifest. Work files live in
//! `DIR/.curate/i-of-n/`; the encoded clips there are deleted once the worker is done.
//! Several workers (`--shard i/n`) can share one output folder: their files never collide, and
//! the last to finish concatenates the per-worker manifests into `DIR/manifest.jsonl`.
//!
//! `DIR` and the inputs may be object-store URLs: every byte read or written goes through
//! [`crate::store`] ([`Output`] for the output folder, [`InputFetcher`] for inputs), which keeps
//! the same layout and the same all-or-nothing writes in a bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::{VideoAnalysis, analyse_video};
use crate::caption::{Captioner, EmptyCaptioner, SidecarCaptioner};
use crate::clips::{ClipContext, ClipRules};
use crate::dedup::{DedupConfig, deduplicate};
use crate::durable::Durable;
use crate::embed::{ClipEmbedder, FrameHashEmbedder, normalise};
use crate::error::{Error, Result};
use crate::filters::{
    AestheticScorer, DropReason, FilterConfig, HeuristicTypeClassifier, VideoTypeClassifier,
    evaluate,
};
use crate::inputs::{ShardSpec, expand_inputs};
use crate::manifest::{ClipRecord, InputProblem, StageCount, Summary};
use crate::progress::{NoProgress, Progress, Stage};
use crate::shard::{
    ARCHIVE_END_BYTES, ShardConfig, ShardEntry, bucket_folder, entry_bytes, shard_name, write_tar,
};
use crate::shot::{
    AdaptiveDetector, AdaptiveDetectorConfig, ContentDetector, ContentDetectorConfig, ShotDetector,
};
use crate::store::{InputFetcher, Output};
use crate::transcode::{EncodeConfig, transcode_clip};

mod merge;
pub use merge::{MergeSummary, merge_workers};

/// Which built-in shot detector to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShotDetectorConfig {
    /// [`ContentDetector`].
    Content(ContentDetectorConfig),
    /// [`AdaptiveDetector`].
    Adaptive(AdaptiveDetectorConfig),
}

impl Default for ShotDetectorConfig {
    fn default() -> Self {
        Self::Content(ContentDetectorConfig::default())
    }
}

/// Which built-in captioner to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CaptionConfig {
    /// No captions.
    #[default]
    None,
    /// [`SidecarCaptioner`]: captions from files beside each video.
    Sidecar,
}

/// Every setting of a run. Changing any of them (or the inputs) between a crashed run and its
/// restart is refused: the output would mix two configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CurateConfig {
    /// Shot detector.
    pub shot_detector: ShotDetectorConfig,
    /// Clip length rules.
    pub clips: ClipRules,
    /// Filter thresholds.
    pub filters: FilterConfig,
    /// Captions.
    pub captions: CaptionConfig,
    /// Deduplication.
    pub dedup: DedupConfig,
    /// Output video.
    pub encode: EncodeConfig,
    /// Shards.
    pub shards: ShardConfig,
}

impl CurateConfig {
    /// Reads settings from a JSON file (the fields of this struct; missing fields keep their
    /// defaults) and checks them.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self = serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "{}: not a curate configuration: {e}",
                path.display()
            ))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<()> {
        self.clips.validate()?;
        self.dedup.validate()?;
        self.encode.validate()?;
        if self.shards.max_shard_bytes < 1024 * 1024 {
            return Err(Error::Config(format!(
                "max_shard_bytes must be at least 1 MiB, found {}",
                self.shards.max_shard_bytes
            )));
        }
        Ok(())
    }
}

/// The runner with its plug-ins.
pub struct Curator {
    config: CurateConfig,
    detector: Box<dyn ShotDetector>,
    classifier: Box<dyn VideoTypeClassifier>,
    aesthetic: Option<Box<dyn AestheticScorer>>,
    captioner: Box<dyn Captioner>,
    embedder: Box<dyn ClipEmbedder>,
    progress: Box<dyn Progress>,
    abort_at_event: Option<u64>,
}

impl std::fmt::Debug for Curator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Curator")
            .field("config", &self.config)
            .field("plugins", &self.plugin_names())
            .finish()
    }
}

/// What the per-video state file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct VideoState {
    source: String,
    /// Set when the video could not be read at all.
    error: Option<String>,
    damage: Option<String>,
    shots: u64,
    clips: Vec<ClipState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ClipState {
    record: ClipRecord,
    /// Unit vector, for clips that passed the filters.
    embedding: Vec<f32>,
    quality: f64,
}

/// What is fixed for a worker's output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunIdentity {
    config: CurateConfig,
    plugins: BTreeMap<String, String>,
    shard: ShardSpec,
    inputs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PlannedShard {
    path: String,
    keys: Vec<String>,
}

impl Curator {
    /// A runner with the built-in plug-ins the configuration names.
    pub fn new(config: CurateConfig) -> Result<Self> {
        config.validate()?;
        let detector: Box<dyn ShotDetector> = match &config.shot_detector {
            ShotDetectorConfig::Content(c) => Box::new(ContentDetector::new(c.clone())?),
            ShotDetectorConfig::Adaptive(c) => Box::new(AdaptiveDetector::new(c.clone())?),
        };
        let captioner: Box<dyn Captioner> = match config.captions {
            CaptionConfig::None => Box::new(EmptyCaptioner),
            CaptionConfig::Sidecar => Box::new(SidecarCaptioner::new()),
        };
        Ok(Self {
            config,
            detector,
            classifier: Box::new(HeuristicTypeClassifier),
            aesthetic: None,
            captioner,
            embedder: Box::new(FrameHashEmbedder),
            progress: Box::new(NoProgress),
            abort_at_event: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CurateConfig {
        &self.config
    }

    /// Replaces the shot detector (for example a TransNetV2 model).
    pub fn with_shot_detector(mut self, detector: Box<dyn ShotDetector>) -> Self {
        self.detector = detector;
        self
    }

    /// Replaces the video-type classifier.
    pub fn with_video_type_classifier(mut self, classifier: Box<dyn VideoTypeClassifier>) -> Self {
        self.classifier = classifier;
        self
    }

    /// Adds an aesthetic scorer (its threshold is `filters.quality.min_aesthetic`).
    pub fn with_aesthetic_scorer(mut self, scorer: Box<dyn AestheticScorer>) -> Self {
        self.aesthetic = Some(scorer);
        self
    }

    /// Replaces the captioner.
    pub fn with_captioner(mut self, captioner: Box<dyn Captioner>) -> Self {
        self.captioner = captioner;
        self
    }

    /// Replaces the clip embedder.
    pub fn with_embedder(mut self, embedder: Box<dyn ClipEmbedder>) -> Self {
        self.embedder = embedder;
        self
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Box<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// For crash tests: abort the process (as `kill -9` would stop it) at the `event`-th file
    /// event of the run, where every file written counts two events (temporary file complete;
    /// file renamed into place). See [`Durable`].
    pub fn with_abort_at_event(mut self, event: Option<u64>) -> Self {
        self.abort_at_event = event;
        self
    }

    fn plugin_names(&self) -> BTreeMap<String, String> {
        let mut names = BTreeMap::new();
        names.insert(
            "shot_detector".to_string(),
            self.detector.name().to_string(),
        );
        names.insert("video_type".to_string(), self.classifier.name().to_string());
        names.insert(
            "aesthetic".to_string(),
            self.aesthetic
                .as_ref()
                .map_or("none", |a| a.name())
                .to_string(),
        );
        names.insert("captioner".to_string(), self.captioner.name().to_string());
        names.insert("embedder".to_string(), self.embedder.name().to_string());
        names
    }

    /// Curates `inputs` (files, folders, list files) into `out`, this worker's share only.
    /// Unreadable inputs are reported in the summary and skipped. Returns the summary, which is
    /// also written to `out/.curate/i-of-n/summary.json` (and `out/summary.json` for a single
    /// worker).
    pub fn run(&mut self, inputs: &[PathBuf], out: &Path, shard: ShardSpec) -> Result<Summary> {
        let shard = ShardSpec::new(shard.index, shard.count)?;
        let output = Output::open(out, Durable::new(&shard.label(), self.abort_at_event))?;
        let all = expand_inputs(inputs, Some(out))?;
        if all.is_empty() {
            return Err(Error::Input {
                path: inputs.first().cloned().unwrap_or_default(),
                reason: "no video files found in the inputs".into(),
            });
        }
        let mine = shard.select(&all);
        let work = format!(".curate/{}", shard.label());
        let summary_path = format!("{work}/summary.json");
        let mut fetcher =
            InputFetcher::new(output.local_dir(&format!("{work}/inputs")), &shard.label());

        self.check_identity(&output, &work, shard, &mine)?;
        if output.exists(&summary_path)? {
            self.progress
                .message(&format!("worker {shard} already finished; nothing to do"));
            let summary: Summary = read_json(&output, &summary_path)?;
            self.merge_manifests(&output, shard)?;
            remove_work_cache(&output, &work, &mut fetcher)?;
            return Ok(summary);
        }
        output.remove_leftovers()?;

        let videos = self.analyse_all(&output, &work, &mut fetcher, &mine)?;
        let mut clips: Vec<ClipState> = videos
            .iter()
            .flat_map(|v| v.clips.iter().cloned())
            .collect();
        self.deduplicate(&mut clips)?;
        self.encode(&output, &work, &mut fetcher, &mut clips)?;
        fetcher.clear()?;
        let plan = self.plan_shards(&output, &work, shard, &mut clips)?;
        let (shard_files, shard_bytes) = self.write_shards(&output, &work, &plan, &clips)?;

        let manifest_path = if shard.count == 1 {
            "manifest.jsonl".to_string()
        } else {
            format!("{work}/manifest.jsonl")
        };
        output.write(&manifest_path, |w| {
            for clip in &clips {
                serde_json::to_writer(&mut *w, &clip.record)
                    .map_err(|e| json_error(&output.path(&manifest_path), e))?;
                std::io::Write::write_all(w, b"\n")
                    .map_err(|e| Error::io(output.path(&manifest_path), e))?;
            }
            Ok(())
        })?;
        let summary = summarise(
            shard,
            &videos,
            &clips,
            shard_files,
            shard_bytes,
            manifest_path,
        );
        let summary_json = serde_json::to_vec_pretty(&summary)
            .map_err(|e| json_error(&output.path(&summary_path), e))?;
        if shard.count == 1 {
            output.write_bytes("summary.json", &summary_json)?;
        }
        output.write_bytes(&summary_path, &summary_json)?;
        self.merge_manifests(&output, shard)?;
        remove_work_cache(&output, &work, &mut fetcher)?;
        Ok(summary)
    }

    fn check_identity(
        &self,
        output: &Output,
        work: &str,
        shard: ShardSpec,
        mine: &[PathBuf],
    ) -> Result<()> {
        let identity = RunIdentity {
            config: self.config.clone(),
            plugins: self.plugin_names(),
            shard,
            inputs: mine
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
        };
        let relative = format!("{work}/run.json");
        let path = output.path(&relative);
        if output.exists(&relative)? {
            let previous: RunIdentity = read_json(output, &relative)?;
            if previous != identity {
                let what =
                    if previous.config != identity.config || previous.plugins != identity.plugins {
                        "settings"
                    } else {
                        "inputs"
                    };
                return Err(Error::State {
                    path,
                    reason: format!(
                        "this output folder holds a run of worker {shard} with other {what}; \
                         rerun with the same arguments to resume it, or use another output folder"
                    ),
                });
            }
            self.progress.message(&format!(
                "resuming worker {shard} in {}",
                output.path(work).display()
            ));
            return Ok(());
        }
        // A new run: scratch copies of an earlier run (of a removed output) are not this one's.
        output.forget_cache(work)?;
        let json = serde_json::to_vec_pretty(&identity).map_err(|e| json_error(&path, e))?;
        output.write_bytes(&relative, &json)
    }

    fn analyse_all(
        &mut self,
        output: &Output,
        work: &str,
        fetcher: &mut InputFetcher,
        inputs: &[PathBuf],
    ) -> Result<Vec<VideoState>> {
        self.progress.set_total(Stage::Analyse, inputs.len() as u64);
        let mut videos = Vec::with_capacity(inputs.len());
        for (index, path) in inputs.iter().enumerate() {
            let source = path.to_string_lossy().into_owned();
            let state_path = format!(
                "{work}/videos/{index:06}-{:016x}.json",
                fnv1a(source.as_bytes())
            );
            let state = if output.exists(&state_path)? {
                let state: VideoState = read_json(output, &state_path)?;
                if state.source != source {
                    return Err(Error::State {
                        path: output.path(&state_path),
                        reason: format!(
                            "expected the state of '{source}', found '{}'",
                            state.source
                        ),
                    });
                }
                self.progress.set_total(
                    Stage::Filter,
                    self.total_clips(&videos) + state.clips.len() as u64,
                );
                self.progress
                    .advance(Stage::Filter, state.clips.len() as u64);
                state
            } else {
                let state = self.curate_video(path, &source, fetcher, &videos)?;
                let json = serde_json::to_vec(&state)
                    .map_err(|e| json_error(&output.path(&state_path), e))?;
                output.write_bytes(&state_path, &json)?;
                state
            };
            if let Some(error) = &state.error {
                self.progress
                    .message(&format!("skipping unreadable input {source}: {error}"));
            }
            videos.push(state);
            self.progress.advance(Stage::Analyse, 1);
        }
        self.progress.finish(Stage::Analyse);
        self.progress.finish(Stage::Filter);
        Ok(videos)
    }

    fn total_clips(&self, videos: &[VideoState]) -> u64 {
        videos.iter().map(|v| v.clips.len() as u64).sum()
    }

    /// Analysis, clip rules, filters, captions and embeddings of one video.
    fn curate_video(
        &mut self,
        path: &Path,
        source: &str,
        fetcher: &mut InputFetcher,
        done: &[VideoState],
    ) -> Result<VideoState> {
        let unreadable = |message: String| VideoState {
            source: source.into(),
            error: Some(message),
            damage: None,
            shots: 0,
            clips: Vec::new(),
        };
        // A local input is read in place; an object-store input through a local copy. A missing
        // object is an unreadable input, as a missing file is; other store errors stop the run
        // (a rerun retries them).
        let local = match fetcher.fetch(path) {
            Ok(local) => local,
            Err(Error::Io { source: error, .. })
                if error.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(unreadable(error.to_string()));
            }
            Err(error) => return Err(error),
        };
        let analysis = match analyse_video(&local, self.detector.as_mut(), &mut |_| {}) {
            Ok(analysis) => analysis,
            Err(error @ (Error::Media(_) | Error::Input { .. } | Error::Io { .. })) => {
                // Messages start with the path, which the summary prints anyway.
                let message = error.to_string();
                let message = message
                    .strip_prefix(&format!("{}: ", local.display()))
                    .unwrap_or(&message)
                    .to_string();
                return Ok(unreadable(message));
            }
            Err(error) => return Err(error),
        };
        let fps = analysis.fps();
        let spans: Vec<(u64, u64, bool)> = analysis
            .shots
            .iter()
            .flat_map(|shot| self.config.clips.clips_of_shot(*shot, fps))
            .collect();
        self.progress
            .set_total(Stage::Filter, self.total_clips(done) + spans.len() as u64);
        // A malformed actions / camera sidecar fails this video (named in the summary), as an
        // unreadable video does: its clips would lose their signal otherwise.
        let failed = |error: Error| unreadable(error.to_string());
        let signals = match crate::signals::FrameSignals::load(&local) {
            Ok(s) => s,
            Err(e) => return Ok(failed(e)),
        };
        let mut clips = Vec::with_capacity(spans.len());
        for (start, end, long_enough) in spans {
            let key = clip_key(path, source, start, end);
            let clip = ClipContext {
                key: &key,
                start_frame: start,
                end_frame: end,
                analysis: &analysis,
            };
            let mut state = self.curate_clip(&clip, source, &analysis, long_enough)?;
            if let Err(e) = signals.fill(&mut state.record, &local) {
                return Ok(failed(e));
            }
            clips.push(state);
            self.progress.advance(Stage::Filter, 1);
        }
        Ok(VideoState {
            source: source.into(),
            error: None,
            damage: analysis.damage.clone(),
            shots: analysis.shots.len() as u64,
            clips,
        })
    }

    fn curate_clip(
        &mut self,
        clip: &ClipContext<'_>,
        source: &str,
        analysis: &VideoAnalysis,
        long_enough: bool,
    ) -> Result<ClipState> {
        let info = &analysis.info;
        let (width, height) = self.config.encode.output_size(info.width, info.height);
        let mut record = ClipRecord {
            key: clip.key.to_string(),
            source: source.to_string(),
            start_frame: clip.start_frame,
            end_frame: clip.end_frame,
            start_s: clip.start_s(),
            end_s: clip.end_s(),
            fps: clip.fps(),
            width,
            height,
            source_width: info.width,
            source_height: info.height,
            shot_detector: analysis.detector.clone(),
            scores: None,
            tags: Vec::new(),
            video_type: None,
            caption: None,
            dedup_group: None,
            kept: false,
            drop_reason: None,
            failed_filters: Vec::new(),
            shard: None,
            actions: None,
            camera: None,
        };
        if !long_enough {
            record.drop_reason = Some(DropReason::TooShort);
            return Ok(ClipState {
                record,
                embedding: Vec::new(),
                quality: 0.0,
            });
        }
        let aesthetic = self
            .aesthetic
            .as_mut()
            .map(|a| a.as_mut() as &mut dyn AestheticScorer);
        let outcome = evaluate(
            clip,
            &self.config.filters,
            aesthetic,
            self.classifier.as_mut(),
        )?;
        let quality = f64::from(outcome.scores.aesthetic.unwrap_or(outcome.scores.sharpness));
        record.scores = Some(outcome.scores);
        record.tags = outcome.tags;
        record.video_type = Some(outcome.video_type);
        record.drop_reason = outcome.failed.first().cloned();
        record.failed_filters = outcome.failed;
        let mut embedding = Vec::new();
        if record.drop_reason.is_none() {
            record.caption = self.captioner.caption(clip)?;
            embedding = self.embedder.embed(clip)?;
            normalise(&mut embedding);
        }
        Ok(ClipState {
            record,
            embedding,
            quality,
        })
    }

    fn deduplicate(&mut self, clips: &mut [ClipState]) -> Result<()> {
        let candidates: Vec<usize> = (0..clips.len())
            .filter(|&i| clips[i].record.drop_reason.is_none())
            .collect();
        self.progress
            .set_total(Stage::Dedup, candidates.len() as u64);
        let groups = if self.config.dedup.enabled {
            let embeddings: Vec<Vec<f32>> = candidates
                .iter()
                .map(|&i| clips[i].embedding.clone())
                .collect();
            let quality: Vec<f64> = candidates.iter().map(|&i| clips[i].quality).collect();
            deduplicate(&embeddings, &quality, &self.config.dedup)?
        } else {
            (0..candidates.len()).collect()
        };
        for (position, &index) in candidates.iter().enumerate() {
            let representative = clips[candidates[groups[position]]].record.key.clone();
            let record = &mut clips[index].record;
            if groups[position] != position {
                record.drop_reason = Some(DropReason::Duplicate);
            }
            record.dedup_group = Some(representative);
        }
        self.progress.advance(Stage::Dedup, candidates.len() as u64);
        self.progress.finish(Stage::Dedup);
        Ok(())
    }

    fn encode(
        &mut self,
        output: &Output,
        work: &str,
        fetcher: &mut InputFetcher,
        clips: &mut [ClipState],
    ) -> Result<()> {
        let kept: Vec<usize> = (0..clips.len())
            .filter(|&i| clips[i].record.drop_reason.is_none())
            .collect();
        self.progress.set_total(Stage::Encode, kept.len() as u64);
        for index in kept {
            let record = &mut clips[index].record;
            let video = format!("{work}/clips/{}.mp4", record.key);
            let failure = format!("{work}/clips/{}.failed", record.key);
            if !output.exists(&video)? && !output.exists(&failure)? {
                let source = fetcher.fetch(Path::new(&record.source))?;
                let temp = output.begin(&video)?;
                let result = transcode_clip(
                    &source,
                    record.start_frame,
                    record.end_frame,
                    record.fps,
                    (record.width, record.height),
                    &self.config.encode,
                    &temp,
                );
                match result {
                    Ok(_) => output.commit(&temp, &video)?,
                    Err(error) => {
                        let _ = std::fs::remove_file(&temp);
                        self.progress.message(&format!(
                            "clip {} could not be encoded: {error}",
                            record.key
                        ));
                        output.write_bytes(&failure, error.to_string().as_bytes())?;
                    }
                }
            }
            if output.exists(&failure)? {
                record.drop_reason = Some(DropReason::EncodeFailed);
            }
            self.progress.advance(Stage::Encode, 1);
        }
        self.progress.finish(Stage::Encode);
        Ok(())
    }

    /// Assigns kept clips to shards (by bucket, then key), or reads the assignment a previous
    /// attempt saved, and records each clip's shard.
    fn plan_shards(
        &mut self,
        output: &Output,
        work: &str,
        shard: ShardSpec,
        clips: &mut [ClipState],
    ) -> Result<Vec<PlannedShard>> {
        let plan_relative = format!("{work}/plan.json");
        let plan_path = output.path(&plan_relative);
        let plan: Vec<PlannedShard> = if output.exists(&plan_relative)? {
            read_json(output, &plan_relative)?
        } else {
            let mut buckets: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (index, clip) in clips
                .iter()
                .enumerate()
                .filter(|(_, c)| c.record.drop_reason.is_none())
            {
                let r = &clip.record;
                buckets
                    .entry(bucket_folder(r.width, r.height, r.duration_s()))
                    .or_default()
                    .push(index);
            }
            let cap = self.config.shards.max_shard_bytes;
            let mut plan: Vec<PlannedShard> = Vec::new();
            for (bucket, mut members) in buckets {
                members.sort_by(|&a, &b| clips[a].record.key.cmp(&clips[b].record.key));
                let mut sequence = 0;
                let mut current: Option<PlannedShard> = None;
                let mut bytes = 0u64;
                for index in members {
                    let key = &clips[index].record.key;
                    let video_bytes = output.size(&format!("{work}/clips/{key}.mp4"))?;
                    let path = format!("shards/{bucket}/{}", shard_name(shard.index, sequence));
                    let size = clip_shard_bytes(&clips[index], &path, video_bytes)?;
                    if current.is_some() && bytes + size + ARCHIVE_END_BYTES > cap {
                        plan.extend(current.take());
                        sequence += 1;
                        bytes = 0;
                    }
                    let shard_path =
                        format!("shards/{bucket}/{}", shard_name(shard.index, sequence));
                    current
                        .get_or_insert_with(|| PlannedShard {
                            path: shard_path,
                            keys: Vec::new(),
                        })
                        .keys
                        .push(key.clone());
                    bytes += size;
                }
                plan.extend(current);
            }
            let json = serde_json::to_vec_pretty(&plan).map_err(|e| json_error(&plan_path, e))?;
            output.write_bytes(&plan_relative, &json)?;
            plan
        };
        let positions: BTreeMap<&str, usize> = clips
            .iter()
            .enumerate()
            .map(|(i, c)| (c.record.key.as_str(), i))
            .collect();
        let mut assignments = Vec::new();
        for planned in &plan {
            for key in &planned.keys {
                let index = *positions.get(key.as_str()).ok_or_else(|| Error::State {
                    path: plan_path.clone(),
                    reason: format!(
                        "the shard plan names clip '{key}', which this run does not have"
                    ),
                })?;
                assignments.push((index, planned.path.clone()));
            }
        }
        for (index, path) in assignments {
            let record = &mut clips[index].record;
            record.kept = true;
            record.shard = Some(path);
        }
        Ok(plan)
    }

    fn write_shards(
        &mut self,
        output: &Output,
        work: &str,
        plan: &[PlannedShard],
        clips: &[ClipState],
    ) -> Result<(Vec<String>, u64)> {
        let by_key: BTreeMap<&str, &ClipState> =
            clips.iter().map(|c| (c.record.key.as_str(), c)).collect();
        self.progress
            .set_total(Stage::Shard, plan.iter().map(|p| p.keys.len() as u64).sum());
        let mut total = 0u64;
        for planned in plan {
            let path = output.path(&planned.path);
            if !output.exists(&planned.path)? {
                let mut payloads = Vec::with_capacity(planned.keys.len());
                for key in &planned.keys {
                    let clip = by_key.get(key.as_str()).ok_or_else(|| Error::State {
                        path: path.clone(),
                        reason: format!("clip '{key}' missing"),
                    })?;
                    let json =
                        serde_json::to_vec(&clip.record).map_err(|e| json_error(&path, e))?;
                    let video = output.local_file(&format!("{work}/clips/{key}.mp4"))?;
                    payloads.push((
                        key.as_str(),
                        video,
                        json,
                        clip.record.caption.clone().unwrap_or_default(),
                    ));
                }
                let entries: Vec<ShardEntry<'_>> = payloads
                    .iter()
                    .map(|(key, video, json, caption)| ShardEntry {
                        key,
                        video,
                        json,
                        caption,
                    })
                    .collect();
                output.write(&planned.path, |w| write_tar(w, &path, &entries))?;
            }
            total += output.size(&planned.path)?;
            self.progress
                .advance(Stage::Shard, planned.keys.len() as u64);
        }
        self.progress.finish(Stage::Shard);
        Ok((plan.iter().map(|p| p.path.clone()).collect(), total))
    }

    /// With several workers: once every worker's summary exists, concatenates their manifests
    /// (in worker order) into `out/manifest.jsonl`. Every worker tries when it finishes; the last
    /// one succeeds (two finishing together write the same bytes).
    fn merge_manifests(&self, output: &Output, shard: ShardSpec) -> Result<()> {
        if shard.count == 1 {
            return Ok(());
        }
        let workers: Vec<String> = (0..shard.count)
            .map(|i| {
                let label = ShardSpec {
                    index: i,
                    count: shard.count,
                }
                .label();
                format!(".curate/{label}")
            })
            .collect();
        let mut done = true;
        for worker in &workers {
            done = done && output.exists(&format!("{worker}/summary.json"))?;
        }
        if !done {
            self.progress.message(&format!(
                "worker {shard} done; out/manifest.jsonl is written when all {} workers are",
                shard.count
            ));
            return Ok(());
        }
        output.write("manifest.jsonl", |w| {
            for worker in &workers {
                let part = format!("{worker}/manifest.jsonl");
                let bytes = output.read(&part)?;
                std::io::Write::write_all(w, &bytes)
                    .map_err(|e| Error::io(output.path(&part), e))?;
            }
            Ok(())
        })
    }
}

/// Deletes a finished worker's encoded clips (they are in the shards now) and input copies.
fn remove_work_cache(output: &Output, work: &str, fetcher: &mut InputFetcher) -> Result<()> {
    output.remove_all(&format!("{work}/clips"))?;
    fetcher.remove_cache()?;
    output.forget_cache(work)
}

/// Bytes a clip takes in a shard whose path is `shard` (its record names the shard).
fn clip_shard_bytes(clip: &ClipState, shard: &str, video_bytes: u64) -> Result<u64> {
    let mut record = clip.record.clone();
    record.kept = true;
    record.shard = Some(shard.to_string());
    let json =
        serde_json::to_vec(&record).map_err(|e| Error::Config(format!("clip record: {e}")))?;
    let caption_bytes = record.caption.map_or(0, |c| c.len() as u64);
    Ok(entry_bytes(video_bytes, json.len() as u64, caption_bytes))
}

fn summarise(
    shard: ShardSpec,
    videos: &[VideoState],
    clips: &[ClipState],
    shards: Vec<String>,
    shard_bytes: u64,
    manifest: String,
) -> Summary {
    let failed: Vec<InputProblem> = videos
        .iter()
        .filter_map(|v| {
            v.error.as_ref().map(|e| InputProblem {
                source: v.source.clone(),
                problem: e.clone(),
            })
        })
        .collect();
    let damaged: Vec<InputProblem> = videos
        .iter()
        .filter_map(|v| {
            v.damage.as_ref().map(|d| InputProblem {
                source: v.source.clone(),
                problem: d.clone(),
            })
        })
        .collect();
    let mut stages = vec![StageCount {
        stage: "decode".into(),
        input: videos.len() as u64,
        kept: (videos.len() - failed.len()) as u64,
        dropped: if failed.is_empty() {
            BTreeMap::new()
        } else {
            BTreeMap::from([("unreadable".to_string(), failed.len() as u64)])
        },
    }];
    stages.extend(clip_stage_counts(clips.iter().map(|c| &c.record)));
    Summary {
        shard,
        inputs: videos.len() as u64,
        failed_inputs: failed,
        damaged_inputs: damaged,
        shots: videos.iter().map(|v| v.shots).sum(),
        stages,
        clips_in_shards: clips.iter().filter(|c| c.record.kept).count() as u64,
        shards,
        shard_bytes,
        manifest,
    }
}

/// Clips in, kept and dropped by reason for each clip stage, from the clips' records.
fn clip_stage_counts<'a>(records: impl Iterator<Item = &'a ClipRecord> + Clone) -> Vec<StageCount> {
    let mut remaining = records.clone().count() as u64;
    let mut stages = Vec::new();
    for stage in [
        "clip_rules",
        "motion",
        "quality",
        "overlay_text",
        "video_type",
        "dedup",
        "encode",
    ] {
        let mut dropped = BTreeMap::new();
        for record in records.clone() {
            if let Some(reason) = &record.drop_reason
                && reason.stage() == stage
            {
                *dropped.entry(reason.as_str().to_string()).or_insert(0u64) += 1;
            }
        }
        let out: u64 = dropped.values().sum();
        stages.push(StageCount {
            stage: stage.into(),
            input: remaining,
            kept: remaining - out,
            dropped,
        });
        remaining -= out;
    }
    stages
}

/// `stem_hash_start_end`: the stem keeps `[A-Za-z0-9_-]` (others become `_`, at most 48), the
/// hash (FNV-1a of the source path, 40 bits) tells apart sources with the same stem.
pub fn clip_key(path: &Path, source: &str, start: u64, end: u64) -> String {
    let stem: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    format!(
        "{stem}_{:010x}_{start:06}_{end:06}",
        fnv1a(source.as_bytes()) >> 24
    )
}

/// 64-bit FNV-1a: a stable hash for names (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn read_json<T: serde::de::DeserializeOwned>(output: &Output, relative: &str) -> Result<T> {
    let bytes = output.read(relative)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::State {
        path: output.path(relative),
        reason: format!("unreadable state: {e}"),
    })
}

/// Reads a JSON state file of a local output folder (`--merge` works on local runs only).
fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::State {
        path: path.to_path_buf(),
        reason: format!("unreadable state: {e}"),
    })
}

fn json_error(path: &Path, error: serde_json::Error) -> Error {
    Error::State {
        path: path.to_path_buf(),
        reason: format!("cannot serialise: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_json_configs_keep_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"shot_detector": {"kind": "adaptive", "window_width": 3}, "filters": {"overlay_text": {"max_score": 0.5}}}"#,
        )
        .unwrap();
        let config = CurateConfig::from_json_file(&path).unwrap();
        let ShotDetectorConfig::Adaptive(adaptive) = &config.shot_detector else {
            panic!("{config:?}")
        };
        assert_eq!(adaptive.window_width, 3);
        assert_eq!(adaptive.adaptive_threshold, 3.0);
        assert_eq!(config.filters.overlay_text.max_score, 0.5);
        assert!(config.filters.overlay_text.enabled);
        assert_eq!(config.clips, ClipRules::default());
        std::fs::write(&path, r#"{"clips": {"min_clip_s": -1}}"#).unwrap();
        assert!(CurateConfig::from_json_file(&path).is_err());
    }

    #[test]
    fn keys_are_webdataset_safe_and_distinct() {
        let a = clip_key(
            Path::new("/data/My clip.v2.mp4"),
            "/data/My clip.v2.mp4",
            76,
            137,
        );
        assert!(a.starts_with("My_clip_v2_"), "{a}");
        assert!(a.ends_with("_000076_000137"), "{a}");
        assert!(!a.contains('.'));
        let b = clip_key(
            Path::new("/other/My clip.v2.mp4"),
            "/other/My clip.v2.mp4",
            76,
            137,
        );
        assert_ne!(a, b);
    }
}
