//! `cosmos curate`: videos in, webdataset shards and a manifest out (see cosmos-curator).

use std::path::PathBuf;
use std::time::Instant;

use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};
use cosmos_curator::progress::{Progress, Stage};
use cosmos_curator::{
    AdaptiveDetectorConfig, CaptionConfig, ContentDetectorConfig, CurateConfig, Curator, ShardSpec,
    ShotDetectorConfig,
};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

const CURATE_HELP: &str = "\
Pipeline: decode -> shot detection -> clips (shots under --min-clip seconds dropped, over
--max-clip split) -> filters (motion, quality, overlay text, video type) -> captions -> semantic
dedup -> H.264 re-encode -> webdataset shards.

Output folder:
  DIR/shards/resolution_R/duration_D/part-WWWW-NNNNNN.tar   KEY.mp4, KEY.json, KEY.txt per clip
  DIR/manifest.jsonl      one line per clip considered: source, frames, seconds, size, every
                          score, tags, caption, dedup group, kept, drop reason, shard
  DIR/summary.json        clips kept and dropped per stage, unreadable inputs
  DIR/report.html         the run as a page: per video a strip of thumbnails (DIR/report/*.jpg),
                          one per clip, with its scores, tags, caption, kept/drop reason, shard
  DIR/.curate/            resumable state (a killed run started again finishes the job)

Unreadable or corrupt inputs are reported and skipped. With --shard i/n, n machines given the
same inputs and the same DIR (a shared file system) each curate their own share; the last to
finish writes DIR/manifest.jsonl. --config reads every setting from a JSON file (the fields of
cosmos_curator::CurateConfig; missing fields keep their defaults); flags override it.

Inputs and DIR may be object-store URLs (s3://BUCKET/KEY, gs://..., az://...): shards, manifest
and state are uploaded as whole objects and a killed run resumes from the bucket. Credentials and
endpoint from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
AWS_ENDPOINT_URL (S3-compatible servers), AWS_ALLOW_HTTP=true, GOOGLE_APPLICATION_CREDENTIALS,
AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY; local scratch under $TMPDIR.

--json prints the summary as one JSON object on stdout (the fields of summary.json, plus out,
seconds and exit_code) instead of the table.

--merge OUT, after every worker of an n-worker run on OUT has finished: removes near-duplicates
that landed on different workers (the same semantic dedup and epsilon as the run, over the clips
in shards of all workers), takes them out of their shards and rewrites the manifests. Running it
again changes nothing. Inputs are not needed: `cosmos curate --merge OUT`.

Exit status: 0 every input was read; 1 some inputs were unreadable (each named in the summary)
and the rest curated; 2 no input could be read, or an argument or the output folder is wrong.";

/// Shot detector choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectorKind {
    /// HSV content change with a fixed threshold (PySceneDetect's ContentDetector).
    Content,
    /// Content change against a rolling average (PySceneDetect's AdaptiveDetector).
    Adaptive,
}

/// Captions choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptionKind {
    /// No captions.
    None,
    /// From VIDEO.captions.json, VIDEO.srt, VIDEO.vtt or VIDEO.txt beside each video.
    Sidecar,
}

/// Arguments of `cosmos curate`.
#[derive(Args, Debug)]
#[command(after_long_help = CURATE_HELP)]
pub struct CurateArgs {
    /// Video files, folders (searched recursively), list files (.txt/.lst/.list, one path a line)
    /// or object-store URLs of any of these (s3://, gs://, az://).
    #[arg(required_unless_present = "merge")]
    pub inputs: Vec<PathBuf>,
    /// Output folder, or an object-store URL (s3://BUCKET/PREFIX, gs://..., az://...).
    // (Empty when --merge is given instead; `run` refuses an empty one otherwise.)
    #[arg(
        long,
        short,
        required_unless_present = "merge",
        default_value = "",
        value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from)
    )]
    pub out: PathBuf,
    /// Cross-worker deduplication of the finished n-worker run in this folder (no inputs).
    #[arg(long, value_name = "OUT", conflicts_with_all = ["inputs", "shard"])]
    pub merge: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Process share i of n of the inputs (0-based), for several machines on one job.
    #[arg(long, default_value = "0/1")]
    pub shard: ShardSpec,
    /// Settings as JSON (a CurateConfig); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Shot detector.
    #[arg(long, value_enum)]
    pub detector: Option<DetectorKind>,
    /// Content detector threshold (mean HSV change, 0-255; default 27).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Minimum shot length for the detector, frames (default 15).
    #[arg(long)]
    pub min_scene_len: Option<u64>,
    /// Shots shorter than this are dropped, seconds (default 2).
    #[arg(long)]
    pub min_clip: Option<f64>,
    /// Shots longer than this are split, seconds (default 60).
    #[arg(long)]
    pub max_clip: Option<f64>,
    /// Seconds trimmed from both ends of every shot (default 0).
    #[arg(long)]
    pub trim: Option<f64>,
    /// Turn off the motion filter's drop decision (scores are still computed).
    #[arg(long)]
    pub no_motion_filter: bool,
    /// Clips with less mean motion are static (fraction of the width per frame; default 0.0005).
    #[arg(long)]
    pub min_motion: Option<f32>,
    /// Clips with more frame-to-frame camera jitter are erratic (default 0.012).
    #[arg(long)]
    pub max_jitter: Option<f32>,
    /// Turn off the quality filter's drop decision.
    #[arg(long)]
    pub no_quality_filter: bool,
    /// Clips less sharp than this are blurry (Laplacian variance; default 20).
    #[arg(long)]
    pub min_sharpness: Option<f32>,
    /// Turn off the overlay-text filter's drop decision.
    #[arg(long)]
    pub no_overlay_filter: bool,
    /// Clips with a longer still text line are dropped (share of the width; default 0.2).
    #[arg(long)]
    pub max_overlay: Option<f32>,
    /// Video-type labels to drop (for example `animation`); repeatable.
    #[arg(long = "drop-type")]
    pub drop_types: Vec<String>,
    /// Captions.
    #[arg(long, value_enum)]
    pub captions: Option<CaptionKind>,
    /// Turn off semantic deduplication.
    #[arg(long)]
    pub no_dedup: bool,
    /// Clips within this cosine distance of a better clip are duplicates (default 0.15).
    #[arg(long)]
    pub dedup_epsilon: Option<f32>,
    /// Scale clips down to at most this width.
    #[arg(long)]
    pub max_width: Option<u32>,
    /// Scale clips down to at most this height.
    #[arg(long)]
    pub max_height: Option<u32>,
    /// Scale clips down to fit in WIDTHxHEIGHT (for example 1280x720; keeps the aspect ratio,
    /// never enlarges); the same as --max-width and --max-height together.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// x264 constant rate factor (default 23; ignored with --bitrate).
    #[arg(long)]
    pub crf: Option<u8>,
    /// Encode clips at this average bit rate instead of a constant quality, for example 4M
    /// (cosmos-curate's rate), 800k or 2500000 (bits per second).
    #[arg(long, value_name = "RATE", value_parser = parse_bitrate_arg)]
    pub bitrate: Option<u64>,
    /// x264 preset (default medium).
    #[arg(long)]
    pub preset: Option<String>,
    /// Largest shard, megabytes (default 500).
    #[arg(long)]
    pub max_shard_mb: Option<u64>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

type BoxError = Box<dyn std::error::Error>;

impl CurateArgs {
    /// The settings: the JSON file's (or the defaults), then the flags.
    pub fn config(&self) -> Result<CurateConfig, BoxError> {
        let mut config = match &self.config {
            Some(path) => CurateConfig::from_json_file(path)?,
            None => CurateConfig::default(),
        };
        let content = match &config.shot_detector {
            ShotDetectorConfig::Content(c) => c.clone(),
            ShotDetectorConfig::Adaptive(_) => ContentDetectorConfig::default(),
        };
        match self.detector {
            Some(DetectorKind::Content) => {
                config.shot_detector = ShotDetectorConfig::Content(content)
            }
            Some(DetectorKind::Adaptive)
                if !matches!(config.shot_detector, ShotDetectorConfig::Adaptive(_)) =>
            {
                config.shot_detector =
                    ShotDetectorConfig::Adaptive(AdaptiveDetectorConfig::default());
            }
            _ => {}
        }
        match &mut config.shot_detector {
            ShotDetectorConfig::Content(c) => {
                set(&mut c.threshold, self.threshold);
                set(&mut c.min_scene_len, self.min_scene_len);
            }
            ShotDetectorConfig::Adaptive(c) => {
                if self.threshold.is_some() {
                    return Err("--threshold applies to the content detector; the adaptive one uses a ratio".into());
                }
                set(&mut c.min_scene_len, self.min_scene_len);
            }
        }
        set(&mut config.clips.min_clip_s, self.min_clip);
        set(&mut config.clips.max_clip_s, self.max_clip);
        set(&mut config.clips.trim_s, self.trim);
        let filters = &mut config.filters;
        filters.motion.enabled &= !self.no_motion_filter;
        set(&mut filters.motion.min_motion, self.min_motion);
        set(&mut filters.motion.max_jitter, self.max_jitter);
        filters.quality.enabled &= !self.no_quality_filter;
        set(&mut filters.quality.min_sharpness, self.min_sharpness);
        filters.overlay_text.enabled &= !self.no_overlay_filter;
        set(&mut filters.overlay_text.max_score, self.max_overlay);
        filters
            .video_type
            .drop_labels
            .extend(self.drop_types.iter().cloned());
        match self.captions {
            Some(CaptionKind::None) => config.captions = CaptionConfig::None,
            Some(CaptionKind::Sidecar) => config.captions = CaptionConfig::Sidecar,
            None => {}
        }
        config.dedup.enabled &= !self.no_dedup;
        set(&mut config.dedup.epsilon, self.dedup_epsilon);
        if self.max_width.is_some() {
            config.encode.max_width = self.max_width;
        }
        if self.max_height.is_some() {
            config.encode.max_height = self.max_height;
        }
        if let Some((width, height)) = self.size {
            if self.max_width.is_some() || self.max_height.is_some() {
                return Err("--size sets both limits; leave out --max-width / --max-height".into());
            }
            config.encode.max_width = Some(width);
            config.encode.max_height = Some(height);
        }
        set(&mut config.encode.crf, self.crf);
        if self.bitrate.is_some() {
            config.encode.bitrate = self.bitrate;
        }
        set(&mut config.encode.preset, self.preset.clone());
        set(
            &mut config.shards.max_shard_bytes,
            self.max_shard_mb.map(|mb| mb * 1_000_000),
        );
        config.validate()?;
        Ok(config)
    }
}

/// `WIDTHxHEIGHT`, both positive.
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let invalid = || format!("expected WIDTHxHEIGHT such as 1280x720, found '{text}'");
    let (width, height) = text.trim().split_once(['x', 'X']).ok_or_else(invalid)?;
    let width: u32 = width.trim().parse().map_err(|_| invalid())?;
    let height: u32 = height.trim().parse().map_err(|_| invalid())?;
    if width == 0 || height == 0 {
        return Err(invalid());
    }
    Ok((width, height))
}

fn parse_bitrate_arg(text: &str) -> Result<u64, String> {
    cosmos_curator::transcode::parse_bitrate(text).map_err(|error| error.to_string())
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// One indicatif bar per stage.
struct Bars {
    multi: MultiProgress,
    bars: Vec<(Stage, ProgressBar)>,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let style =
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let bars = Stage::ALL
            .iter()
            .map(|&stage| {
                let bar = multi.add(
                    ProgressBar::new(0)
                        .with_style(style.clone())
                        .with_prefix(stage.name()),
                );
                (stage, bar)
            })
            .collect();
        Self { multi, bars }
    }

    fn bar(&self, stage: Stage) -> Option<&ProgressBar> {
        self.bars.iter().find(|(s, _)| *s == stage).map(|(_, b)| b)
    }
}

impl Progress for Bars {
    fn set_total(&self, stage: Stage, total: u64) {
        if let Some(bar) = self.bar(stage) {
            bar.set_length(total);
        }
    }

    fn advance(&self, stage: Stage, units: u64) {
        if let Some(bar) = self.bar(stage) {
            bar.inc(units);
        }
    }

    fn finish(&self, stage: Stage) {
        if let Some(bar) = self.bar(stage) {
            bar.finish();
        }
    }

    fn message(&self, text: &str) {
        if self.multi.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }
}

/// Runs the curation; returns the exit code (see [`exit_code`]).
pub fn run(args: &CurateArgs) -> Result<i32, BoxError> {
    if let Some(out) = &args.merge {
        return run_merge(args, out);
    }
    if args.out.as_os_str().is_empty() {
        return Err("--out DIR is required (the output folder)".into());
    }
    let config = args.config()?;
    let started = Instant::now();
    let mut curator = Curator::new(config)?.with_progress(Box::new(Bars::new(args.quiet)));
    let summary = curator.run(&args.inputs, &args.out, args.shard)?;
    let code = exit_code(&summary);
    if cosmos_curator::store::is_url(&args.out) {
        eprintln!("report.html is written for local output folders only");
    } else {
        cosmos_curator::report::write_report(&args.out)?;
    }
    report(args, &summary, started, code)?;
    Ok(code)
}

/// 0: every input of this worker was read (damaged but partly decodable ones count as read);
/// 1: some were unreadable and the rest curated; 2: none could be read.
pub fn exit_code(summary: &cosmos_curator::manifest::Summary) -> i32 {
    let unreadable = summary.failed_inputs.len() as u64;
    if unreadable == 0 {
        0
    } else if unreadable >= summary.inputs {
        super::EXIT_ERROR
    } else {
        super::EXIT_FAILED
    }
}

/// Prints the summary: the table, or one JSON object with `--json`.
fn report(
    args: &CurateArgs,
    summary: &cosmos_curator::manifest::Summary,
    started: Instant,
    code: i32,
) -> Result<(), BoxError> {
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let mut json = serde_json::to_value(summary)?;
        if let Some(object) = json.as_object_mut() {
            object.insert("out".into(), args.out.to_string_lossy().into());
            object.insert("seconds".into(), seconds.into());
            object.insert("exit_code".into(), code.into());
        }
        println!("{json}");
    } else {
        print!("{summary}");
        if code == super::EXIT_ERROR {
            eprintln!("error: no input could be read");
        }
        println!("done in {seconds:.1} s; output in {}", args.out.display());
    }
    Ok(())
}

/// `--merge OUT`: cross-worker deduplication of a finished run.
fn run_merge(args: &CurateArgs, out: &std::path::Path) -> Result<i32, BoxError> {
    let started = Instant::now();
    let merged = cosmos_curator::pipeline::merge_workers(out)?;
    // The page shows the merged run (a worker re-run later writes the same page).
    cosmos_curator::report::write_report(out)?;
    if args.json {
        let mut json = serde_json::to_value(&merged)?;
        if let Some(object) = json.as_object_mut() {
            object.insert("seconds".into(), started.elapsed().as_secs_f64().into());
            object.insert("exit_code".into(), 0.into());
        }
        println!("{json}");
    } else {
        print!("{merged}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: CurateArgs,
    }

    fn config(flags: &[&str]) -> Result<CurateConfig, String> {
        let argv = ["curate", "in.mp4", "--out", "out"].iter().chain(flags);
        let command = Command::try_parse_from(argv).map_err(|e| e.to_string())?;
        command.args.config().map_err(|e| e.to_string())
    }

    #[test]
    fn bitrate_and_size_flags_reach_the_encoder_settings() {
        let default = config(&[]).unwrap();
        assert_eq!(default.encode.bitrate, None);
        assert_eq!(default.encode.crf, 23);
        let set = config(&["--bitrate", "4M", "--size", "1280x720"]).unwrap();
        assert_eq!(set.encode.bitrate, Some(4_000_000));
        assert_eq!(
            (set.encode.max_width, set.encode.max_height),
            (Some(1280), Some(720))
        );
        assert_eq!(set.encode.output_size(1920, 1080), (1280, 720));
        assert_eq!(
            config(&["--bitrate", "800k"]).unwrap().encode.bitrate,
            Some(800_000)
        );
        for bad in [
            &["--bitrate", "fast"][..],
            &["--size", "1280"],
            &["--size", "0x720"],
            &["--size", "1280x720", "--max-height", "480"],
        ] {
            assert!(config(bad).is_err(), "{bad:?} accepted");
        }
    }
}
