//! `cosmos shots`: shot detection alone, the way PySceneDetect users work
//! (`scenedetect -i v.mp4 detect-content list-scenes`): the curator's content or adaptive detector
//! on the frames PySceneDetect scores, a scene table on stdout, PySceneDetect's `list-scenes` CSV
//! with `--csv`, or one JSON object with `--json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use cosmos_curator::shot::{ShotDetector, detect_shots_with, pyscenedetect_read_options};
use cosmos_curator::{
    AdaptiveDetector, AdaptiveDetectorConfig, ContentDetector, ContentDetectorConfig, ShotList,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::ArrayView3;

use super::{EXIT_ERROR, EXIT_FAILED};

const SHOTS_HELP: &str = "\
Frames are decoded and scaled exactly as PySceneDetect 0.7 (OpenCV backend) scores them, so with
the same settings the cut frames are PySceneDetect's (checked on testdata/media/bikes.mp4 for both
detectors). Defaults are those of `scenedetect detect-content` / `detect-adaptive`: threshold 27,
adaptive ratio 3 with a minimum score of 15 over 2 frames on each side, and a minimum scene
length of 0.6 s (`--min-scene-len 15` for 15 frames). One difference, on purpose: frames with
hardly any colour (mean saturation under 10 of 255) are scored by their brightness change alone,
so cuts in black-and-white footage are found (PySceneDetect scores them by a third of it and
misses most); --pyscenedetect-grey turns this off.

Output: a scene table per video on stdout; --json prints one JSON object instead; --csv FILE
writes PySceneDetect's `list-scenes` CSV (first row: the cut timecodes; then Scene Number, Start
Frame, Start Timecode, Start Time (seconds), End Frame, End Timecode, End Time (seconds), Length
(frames), Length (timecode), Length (seconds); frames 1-based, end frames inclusive). With several
videos, FILE must contain $VIDEO_NAME (the file name without extension) or be a folder, which
gets $VIDEO_NAME-Scenes.csv files as PySceneDetect names them.

Exit status: 0 every video read, 1 some videos unreadable (each named on stderr and in the JSON;
the others are reported), 2 no video readable or an invalid argument.";

/// Shot detector choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShotsDetector {
    /// HSV content change against a fixed threshold (PySceneDetect's detect-content).
    Content,
    /// Content change against the mean of the neighbouring frames (detect-adaptive).
    Adaptive,
}

/// Arguments of `cosmos shots`.
#[derive(Args, Debug)]
#[command(after_long_help = SHOTS_HELP)]
pub struct ShotsArgs {
    /// Video files.
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    /// Shot detector.
    #[arg(long, value_enum, default_value = "content")]
    pub detector: ShotsDetector,
    /// Content detector: score (mean HSV change, 0-255) that starts a new shot (default 27).
    /// Adaptive detector: ratio of a frame's score to its neighbours' mean (default 3).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Adaptive detector: the lowest score a cut may have (default 15).
    #[arg(long)]
    pub min_content_val: Option<f64>,
    /// Adaptive detector: frames on each side averaged for the rolling mean (default 2).
    #[arg(long)]
    pub window_width: Option<usize>,
    /// Minimum scene length: frames (15) or seconds (0.6s), PySceneDetect's syntax.
    #[arg(long, default_value = "0.6s", value_parser = parse_min_scene_len)]
    pub min_scene_len: MinSceneLen,
    /// Score grey frames as PySceneDetect does (a third of the brightness change).
    #[arg(long)]
    pub pyscenedetect_grey: bool,
    /// Write PySceneDetect's list-scenes CSV here (see below for several videos).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// A minimum scene length in frames, or in seconds (turned into frames with each video's rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinSceneLen {
    /// Frames.
    Frames(u64),
    /// Seconds.
    Seconds(f64),
}

impl MinSceneLen {
    /// Frames at `fps`: seconds times the rate, rounded half to even (PySceneDetect's rule).
    pub fn frames(self, fps: f64) -> u64 {
        match self {
            Self::Frames(frames) => frames,
            Self::Seconds(seconds) => (seconds * fps).round_ties_even().max(0.0) as u64,
        }
    }
}

fn parse_min_scene_len(text: &str) -> Result<MinSceneLen, String> {
    let text = text.trim();
    let invalid = || format!("expected frames (15) or seconds (0.6s, 1.5), found '{text}'");
    if let Ok(frames) = text.parse::<u64>() {
        return Ok(MinSceneLen::Frames(frames));
    }
    let seconds: f64 = text
        .strip_suffix('s')
        .unwrap_or(text)
        .trim()
        .parse()
        .map_err(|_| invalid())?;
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(invalid());
    }
    Ok(MinSceneLen::Seconds(seconds))
}

type BoxError = Box<dyn std::error::Error>;

impl ShotsArgs {
    /// The detector for a video of `fps` frames per second.
    fn detector(&self, fps: f64) -> Result<Box<dyn ShotDetector>, BoxError> {
        let min_scene_len = self.min_scene_len.frames(fps);
        let grey = |default: f64| {
            if self.pyscenedetect_grey {
                0.0
            } else {
                default
            }
        };
        Ok(match self.detector {
            ShotsDetector::Content => {
                if self.min_content_val.is_some() || self.window_width.is_some() {
                    return Err(
                        "--min-content-val and --window-width apply to --detector adaptive".into(),
                    );
                }
                let defaults = ContentDetectorConfig::default();
                Box::new(ContentDetector::new(ContentDetectorConfig {
                    threshold: self.threshold.unwrap_or(defaults.threshold),
                    min_scene_len,
                    grey_saturation: grey(defaults.grey_saturation),
                    ..defaults
                })?)
            }
            ShotsDetector::Adaptive => {
                let defaults = AdaptiveDetectorConfig::default();
                Box::new(AdaptiveDetector::new(AdaptiveDetectorConfig {
                    adaptive_threshold: self.threshold.unwrap_or(defaults.adaptive_threshold),
                    min_content_val: self.min_content_val.unwrap_or(defaults.min_content_val),
                    window_width: self.window_width.unwrap_or(defaults.window_width),
                    min_scene_len,
                    grey_saturation: grey(defaults.grey_saturation),
                    ..defaults
                })?)
            }
        })
    }

    /// Where the CSV of `video` goes, if anywhere.
    fn csv_path(&self, video: &Path) -> Result<Option<PathBuf>, BoxError> {
        let Some(template) = &self.csv else {
            return Ok(None);
        };
        let name = video
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if template.is_dir() {
            return Ok(Some(template.join(format!("{name}-Scenes.csv"))));
        }
        let text = template.to_string_lossy();
        if text.contains("$VIDEO_NAME") {
            return Ok(Some(PathBuf::from(text.replace("$VIDEO_NAME", &name))));
        }
        if self.videos.len() > 1 {
            return Err(format!(
                "--csv {}: with several videos the path must contain $VIDEO_NAME or be a folder",
                template.display()
            )
            .into());
        }
        Ok(Some(template.clone()))
    }
}

/// Counts frames on a progress bar while the real detector works.
struct Counting<'a> {
    inner: &'a mut dyn ShotDetector,
    bar: &'a ProgressBar,
}

impl ShotDetector for Counting<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn frame_size(&self, width: u32, height: u32) -> (u32, u32) {
        self.inner.frame_size(width, height)
    }

    fn begin(&mut self, fps: f64) -> cosmos_curator::Result<()> {
        self.bar.set_position(0);
        self.inner.begin(fps)
    }

    fn push_frame(&mut self, frame: ArrayView3<'_, u8>) -> cosmos_curator::Result<()> {
        self.bar.inc(1);
        self.inner.push_frame(frame)
    }

    fn finish(&mut self) -> cosmos_curator::Result<Vec<u64>> {
        self.inner.finish()
    }
}

/// One video's shots.
struct Detected {
    video: PathBuf,
    list: ShotList,
    detector: String,
    min_scene_len: u64,
}

fn detect(args: &ShotsArgs, video: &Path, bar: &ProgressBar) -> Result<Detected, BoxError> {
    let info = cosmos_media::probe(video)?;
    let mut detector = args.detector(info.fps)?;
    bar.set_length(info.frames.unwrap_or(0));
    bar.set_message(video.display().to_string());
    let name = detector.name().to_string();
    let mut counting = Counting {
        inner: detector.as_mut(),
        bar,
    };
    let list = detect_shots_with(video, &mut counting, &pyscenedetect_read_options((1, 1)))?;
    Ok(Detected {
        video: video.to_path_buf(),
        list,
        detector: name,
        min_scene_len: args.min_scene_len.frames(info.fps),
    })
}

/// Runs `cosmos shots`; returns the exit code.
pub fn run(args: &ShotsArgs) -> Result<i32, BoxError> {
    // Argument errors first, before any decoding.
    args.detector(25.0)?;
    for video in &args.videos {
        args.csv_path(video)?;
    }
    let bar = ProgressBar::with_draw_target(
        None,
        if args.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    )
    .with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} frames {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    )
    .with_prefix("shots");
    let mut detected = Vec::new();
    let mut unreadable: Vec<(PathBuf, String)> = Vec::new();
    for video in &args.videos {
        match detect(args, video, &bar) {
            Ok(result) => {
                if let Some(path) = args.csv_path(video)? {
                    std::fs::write(&path, pyscenedetect_csv(&result.list))
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                detected.push(result);
            }
            Err(error) => {
                bar.suspend(|| eprintln!("unreadable: {}: {error}", video.display()));
                unreadable.push((video.clone(), error.to_string()));
            }
        }
    }
    bar.finish_and_clear();
    if args.json {
        println!("{}", json_report(args, &detected, &unreadable));
    } else {
        for result in &detected {
            print!("{}", table(result));
        }
    }
    Ok(if detected.is_empty() {
        EXIT_ERROR
    } else if unreadable.is_empty() {
        0
    } else {
        EXIT_FAILED
    })
}

/// `HH:MM:SS.mmm` of `frame` at `fps`, as PySceneDetect formats it (seconds rounded to the
/// millisecond).
fn timecode(frame: u64, fps: f64) -> String {
    let millis = (frame as f64 / fps * 1000.0).round() as u64;
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    format!(
        "{hours:02}:{minutes:02}:{:02}.{:03}",
        rest / 1000,
        rest % 1000
    )
}

fn seconds(frame: u64, fps: f64) -> String {
    format!("{:.3}", frame as f64 / fps)
}

/// PySceneDetect's `list-scenes` CSV for one video.
fn pyscenedetect_csv(list: &ShotList) -> String {
    let fps = list.fps;
    let mut csv = String::new();
    let cuts: Vec<String> = list
        .shots
        .iter()
        .skip(1)
        .map(|shot| timecode(shot.start_frame, fps))
        .collect();
    if !cuts.is_empty() {
        csv.push_str("Timecode List:,");
        csv.push_str(&cuts.join(","));
    }
    csv.push('\n');
    csv.push_str(
        "Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,\
         End Time (seconds),Length (frames),Length (timecode),Length (seconds)\n",
    );
    for (number, shot) in list.shots.iter().enumerate() {
        let length = shot.end_frame - shot.start_frame;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            number + 1,
            shot.start_frame + 1,
            timecode(shot.start_frame, fps),
            seconds(shot.start_frame, fps),
            shot.end_frame,
            timecode(shot.end_frame, fps),
            seconds(shot.end_frame, fps),
            length,
            timecode(length, fps),
            seconds(length, fps),
        );
    }
    csv
}

fn table(result: &Detected) -> String {
    let list = &result.list;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}: {} shots in {} frames at {} fps ({} detector)",
        result.video.display(),
        list.shots.len(),
        list.frame_count,
        list.fps,
        result.detector
    );
    let _ = writeln!(
        text,
        "  {:>5}  {:>11}  {:>12}  {:>9}  {:>12}",
        "scene", "start frame", "start", "end frame", "end"
    );
    for (number, shot) in list.shots.iter().enumerate() {
        let _ = writeln!(
            text,
            "  {:>5}  {:>11}  {:>12}  {:>9}  {:>12}",
            number + 1,
            shot.start_frame,
            timecode(shot.start_frame, list.fps),
            shot.end_frame,
            timecode(shot.end_frame, list.fps)
        );
    }
    text
}

fn json_report(
    args: &ShotsArgs,
    detected: &[Detected],
    unreadable: &[(PathBuf, String)],
) -> serde_json::Value {
    let videos: Vec<serde_json::Value> = detected
        .iter()
        .map(|result| {
            let list = &result.list;
            serde_json::json!({
                "video": result.video.to_string_lossy(),
                "fps": list.fps,
                "frames": list.frame_count,
                "detector": result.detector,
                "min_scene_len": result.min_scene_len,
                "cuts": list.shots.iter().skip(1).map(|s| s.start_frame).collect::<Vec<_>>(),
                "shots": list.shots.iter().map(|s| serde_json::json!({
                    "start_frame": s.start_frame,
                    "end_frame": s.end_frame,
                    "start_s": s.start_frame as f64 / list.fps,
                    "end_s": s.end_frame as f64 / list.fps,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "detector": match args.detector {
            ShotsDetector::Content => "content",
            ShotsDetector::Adaptive => "adaptive",
        },
        "videos": videos,
        "unreadable": unreadable.iter().map(|(video, problem)| serde_json::json!({
            "video": video.to_string_lossy(),
            "problem": problem,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecodes_and_scene_lengths_follow_pyscenedetect() {
        assert_eq!(timecode(30, 25.0), "00:00:01.200");
        assert_eq!(timecode(120, 30000.0 / 1001.0), "00:00:04.004");
        assert_eq!(timecode(25 * 3725, 25.0), "01:02:05.000");
        assert_eq!(
            parse_min_scene_len("0.6s")
                .unwrap()
                .frames(30000.0 / 1001.0),
            18
        );
        assert_eq!(parse_min_scene_len("0.6s").unwrap().frames(24.0), 14);
        assert_eq!(parse_min_scene_len("15").unwrap().frames(60.0), 15);
        assert!(parse_min_scene_len("-1s").is_err());
        assert!(parse_min_scene_len("soon").is_err());
    }
}
