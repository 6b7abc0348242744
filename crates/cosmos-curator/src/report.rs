//! `OUT/report.html`: the curation run as a page to look at. Per source video, a strip of
//! thumbnails, one per clip (every shot gives at least one clip, long shots several), each with
//! its frames, scores, camera-motion tags, video type, caption, whether it was kept (and in which
//! shard) or why it was dropped (and every filter it failed); above them the run's totals and
//! the inputs that could not be read.
//!
//! Self-contained: the CSS is inline, there is no script, and the thumbnails are JPEG files
//! beside the page (`OUT/report/KEY.jpg`, [`THUMBNAIL_WIDTH`] pixels wide, the clip's middle
//! frame decoded from its source), so the folder can be copied or served as it is. The page is
//! built from `OUT/manifest.jsonl` and the workers' summaries, so it can be (re)written any time
//! after a run; with several workers it exists once the last one has finished. A source that
//! can no longer be decoded gets a placeholder and a note instead of thumbnails.
//!
//! HTML is produced with `maud` (compile-time templates that escape every value).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cosmos_media::{ReadOptions, read_video, write_image};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::error::{Error, Result};
use crate::filters::DropReason;
use crate::manifest::{ClipRecord, InputProblem, Summary, read_manifest};

/// The page, in the output folder.
pub const REPORT_FILE: &str = "report.html";
/// The thumbnails' folder, beside the page.
pub const THUMBNAIL_DIR: &str = "report";
/// Thumbnail width in pixels (the height keeps the source's aspect ratio).
pub const THUMBNAIL_WIDTH: u32 = 160;

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOutcome {
    /// The page.
    pub path: PathBuf,
    /// Clips on it.
    pub clips: usize,
    /// Thumbnails on it.
    pub thumbnails: usize,
    /// Clips without a thumbnail, with the reason (their source could not be decoded).
    pub missing_thumbnails: Vec<(String, String)>,
}

/// Writes `out/report.html` and its thumbnails from the manifest and summaries of a finished
/// run in `out`. Returns `None` (and writes nothing) when `out/manifest.jsonl` does not exist
/// yet: a worker of several that is not the last to finish. Thumbnails that exist already are
/// kept; the page is written atomically.
pub fn write_report(out: &Path) -> Result<Option<ReportOutcome>> {
    let manifest = out.join("manifest.jsonl");
    if !manifest.is_file() {
        return Ok(None);
    }
    let records = read_manifest(&manifest)?;
    let summaries = read_summaries(out)?;
    let thumbs = out.join(THUMBNAIL_DIR);
    std::fs::create_dir_all(&thumbs).map_err(|e| Error::io(&thumbs, e))?;

    // Clips by source, in manifest order (the run's input order).
    let mut order: Vec<&str> = Vec::new();
    let mut by_source: BTreeMap<&str, Vec<&ClipRecord>> = BTreeMap::new();
    for record in &records {
        let clips = by_source.entry(record.source.as_str()).or_default();
        if clips.is_empty() {
            order.push(record.source.as_str());
        }
        clips.push(record);
    }

    let mut thumbnails: BTreeMap<&str, std::result::Result<String, String>> = BTreeMap::new();
    for record in &records {
        thumbnails.insert(record.key.as_str(), thumbnail(&thumbs, record));
    }
    let missing: Vec<(String, String)> = thumbnails
        .iter()
        .filter_map(|(key, t)| t.as_ref().err().map(|e| (key.to_string(), e.clone())))
        .collect();

    let videos: Vec<(&str, &[&ClipRecord])> = order
        .iter()
        .map(|source| (*source, by_source[source].as_slice()))
        .collect();
    let page = render(&videos, &summaries, &thumbnails);
    let path = out.join(REPORT_FILE);
    let tmp = out.join(format!(".{REPORT_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, page.into_string()).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    Ok(Some(ReportOutcome {
        path,
        clips: records.len(),
        thumbnails: records.len() - missing.len(),
        missing_thumbnails: missing,
    }))
}

/// `out/summary.json` (one worker), else every `out/.curate/*/summary.json`.
fn read_summaries(out: &Path) -> Result<Vec<Summary>> {
    let read = |path: &Path| -> Result<Summary> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path: path.to_path_buf(),
            reason: format!("not a curation summary: {e}"),
        })
    };
    let single = out.join("summary.json");
    if single.is_file() {
        return Ok(vec![read(&single)?]);
    }
    let work = out.join(".curate");
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&work) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("summary.json"))
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths.iter().map(|p| read(p)).collect()
}

/// The thumbnail of `record` (decoded and written unless it exists): its path relative to the
/// page, or why there is none.
fn thumbnail(folder: &Path, record: &ClipRecord) -> std::result::Result<String, String> {
    let name = format!("{}.jpg", record.key);
    let relative = format!("{THUMBNAIL_DIR}/{name}");
    let path = folder.join(&name);
    if path.is_file() {
        return Ok(relative);
    }
    let (sw, sh) = (record.source_width.max(1), record.source_height.max(1));
    let height = ((u64::from(THUMBNAIL_WIDTH) * u64::from(sh) + u64::from(sw) / 2) / u64::from(sw))
        .clamp(8, 4 * u64::from(THUMBNAIL_WIDTH)) as u32;
    let middle = record.start_frame + (record.end_frame.saturating_sub(record.start_frame)) / 2;
    let options = ReadOptions::default()
        .range(middle, 1)
        .resize(THUMBNAIL_WIDTH, height)
        .keep_damaged();
    let video = read_video(&record.source, &options).map_err(|e| e.to_string())?;
    let frame = video
        .frame(0)
        .ok_or_else(|| format!("no frame {middle} in {}", record.source))?;
    let tmp = folder.join(format!(".{name}.{}.tmp.jpg", std::process::id()));
    write_image(&tmp, frame).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(relative)
}

const CSS: &str = "
body { font: 14px/1.4 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0; word-break: break-all; }
.muted { color: #666; }
.totals { margin: 8px 0 16px; }
table.stages { border-collapse: collapse; margin: 8px 0 20px; background: #fff; }
table.stages td, table.stages th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.stages td:first-child, table.stages th:first-child, table.stages td:last-child { text-align: left; }
.problems { background: #fff4f4; border: 1px solid #f0c0c0; padding: 8px 14px; margin-bottom: 20px; }
section.video { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px; margin-bottom: 20px; }
.strip { display: flex; flex-wrap: wrap; gap: 10px; padding: 10px 0 4px; align-items: flex-start; }
figure.clip { flex: 0 0 auto; width: 200px; margin: 0; border: 2px solid #ccc; border-radius: 5px; padding: 6px; background: #fff; }
figure.clip.kept { border-color: #3a9d3a; }
figure.clip.dropped { border-color: #d9534f; background: #fff8f8; }
figure.clip.dropped img { opacity: 0.75; }
figure.clip img, .nothumb { display: block; width: 160px; margin: 0 auto 4px; border-radius: 3px; }
.nothumb { height: 90px; background: #eee; color: #888; font-size: 11px; display: flex; align-items: center; justify-content: center; text-align: center; }
.status { font-weight: 600; margin: 2px 0; }
.kept .status { color: #2a7d2a; }
.dropped .status { color: #c9302c; }
.key { font: 10px ui-monospace, monospace; color: #777; word-break: break-all; }
dl.scores { display: grid; grid-template-columns: auto auto; gap: 0 8px; margin: 4px 0; font-size: 12px; }
dl.scores dt { color: #666; }
dl.scores dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
.tag { display: inline-block; background: #eef; color: #335; border-radius: 3px; padding: 0 4px; margin: 1px 2px 1px 0; font-size: 11px; }
.caption { font-style: italic; font-size: 12px; margin-top: 4px; }
.shard { font: 11px ui-monospace, monospace; word-break: break-all; }
";

fn render(
    videos: &[(&str, &[&ClipRecord])],
    summaries: &[Summary],
    thumbnails: &BTreeMap<&str, std::result::Result<String, String>>,
) -> Markup {
    let clips: usize = videos.iter().map(|(_, c)| c.len()).sum();
    let kept: usize = videos
        .iter()
        .flat_map(|(_, c)| c.iter())
        .filter(|r| r.kept)
        .count();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for record in videos.iter().flat_map(|(_, c)| c.iter()) {
        if let Some(reason) = &record.drop_reason {
            *reasons.entry(reason.as_str()).or_default() += 1;
        }
    }
    let inputs: u64 = summaries.iter().map(|s| s.inputs).sum();
    let failed: Vec<&InputProblem> = summaries.iter().flat_map(|s| &s.failed_inputs).collect();
    let damaged: Vec<&InputProblem> = summaries.iter().flat_map(|s| &s.damaged_inputs).collect();
    let shots: u64 = summaries.iter().map(|s| s.shots).sum();
    let stages = merged_stages(summaries);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Curation report" }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "Curation report" }
                p.totals {
                    (inputs) " inputs (" (failed.len()) " unreadable, " (damaged.len()) " damaged), "
                    (shots) " shots, " (clips) " clips: "
                    strong { (kept) " kept" } ", " (clips - kept) " dropped"
                    @if !reasons.is_empty() {
                        " ("
                        @for (i, (reason, n)) in reasons.iter().enumerate() {
                            @if i > 0 { ", " }
                            (reason) " " (n)
                        }
                        ")"
                    }
                    "."
                }
                @if !stages.is_empty() {
                    table.stages {
                        tr { th { "stage" } th { "in" } th { "kept" } th { "dropped" } th { "by reason" } }
                        @for (stage, input, kept, dropped) in &stages {
                            tr {
                                td { (stage) } td { (input) } td { (kept) }
                                td { (dropped.values().sum::<u64>()) }
                                td { @for (i, (r, n)) in dropped.iter().enumerate() { @if i > 0 { ", " } (r) " " (n) } }
                            }
                        }
                    }
                }
                @if !failed.is_empty() || !damaged.is_empty() {
                    div.problems {
                        @for p in &failed {
                            div.input-problem data-source=(p.source) {
                                strong { "unreadable: " } (p.source) span.muted { " — " (p.problem) }
                            }
                        }
                        @for p in &damaged {
                            div.input-problem data-source=(p.source) {
                                strong { "damaged (curated as far as it decoded): " } (p.source)
                                span.muted { " — " (p.problem) }
                            }
                        }
                    }
                }
                @for (source, clips) in videos {
                    (video_section(source, clips, thumbnails))
                }
            }
        }
    }
}

/// Stage counts of all workers added up, in the first worker's stage order.
fn merged_stages(summaries: &[Summary]) -> Vec<(String, u64, u64, BTreeMap<String, u64>)> {
    let mut stages: Vec<(String, u64, u64, BTreeMap<String, u64>)> = Vec::new();
    for summary in summaries {
        for stage in &summary.stages {
            let entry = match stages.iter_mut().position(|s| s.0 == stage.stage) {
                Some(i) => &mut stages[i],
                None => {
                    stages.push((stage.stage.clone(), 0, 0, BTreeMap::new()));
                    stages.last_mut().expect("pushed")
                }
            };
            entry.1 += stage.input;
            entry.2 += stage.kept;
            for (reason, n) in &stage.dropped {
                *entry.3.entry(reason.clone()).or_default() += n;
            }
        }
    }
    stages
}

fn video_section(
    source: &str,
    clips: &[&ClipRecord],
    thumbnails: &BTreeMap<&str, std::result::Result<String, String>>,
) -> Markup {
    let name = Path::new(source)
        .file_name()
        .map_or(source.to_string(), |n| n.to_string_lossy().into_owned());
    let first = clips[0];
    let duration = clips.iter().map(|c| c.end_s).fold(0.0, f64::max);
    let kept = clips.iter().filter(|c| c.kept).count();
    html! {
        section.video data-source=(source) {
            h2 { (name) }
            div.muted {
                (source) " · " (first.source_width) "×" (first.source_height) ", "
                (format!("{:.2}", first.fps)) " fps, " (format!("{duration:.1}")) " s · "
                (clips.len()) " clips, " (kept) " kept · shots by " (first.shot_detector)
            }
            div.strip {
                @for clip in clips {
                    (clip_card(clip, thumbnails.get(clip.key.as_str())))
                }
            }
        }
    }
}

fn clip_card(clip: &ClipRecord, thumbnail: Option<&std::result::Result<String, String>>) -> Markup {
    let reason = clip.drop_reason.as_ref();
    html! {
        figure.clip.kept[clip.kept].dropped[!clip.kept] id={ "clip-" (clip.key) }
            data-key=(clip.key) data-kept=(clip.kept)
            data-reason=(reason.map_or("kept", |r| r.as_str())) {
            @match thumbnail {
                Some(Ok(src)) => {
                    img src=(src) alt={ "frame " (clip.start_frame + (clip.end_frame - clip.start_frame) / 2) }
                        width=(THUMBNAIL_WIDTH);
                }
                Some(Err(why)) => { div.nothumb title=(why) { "no thumbnail: source not decodable" } }
                None => { div.nothumb { "no thumbnail" } }
            }
            figcaption {
                div.status {
                    @if clip.kept { "kept" } @else if let Some(r) = reason { "dropped: " (r.as_str()) }
                    @else { "not kept" }
                }
                @if let Some(r) = reason {
                    div.why {
                        (explain(r))
                        @if *r == DropReason::Duplicate && let Some(group) = &clip.dedup_group {
                            " (of " a href={ "#clip-" (group) } { "this clip" } ")"
                        }
                    }
                }
                @if clip.failed_filters.len() > 1 {
                    div.muted { "also failed: "
                        @for (i, f) in clip.failed_filters.iter().skip(1).enumerate() {
                            @if i > 0 { ", " } (f.as_str())
                        }
                    }
                }
                @if let Some(shard) = &clip.shard { div.shard { (shard) } }
                div {
                    "frames " (clip.start_frame) "–" (clip.end_frame) " · "
                    (format!("{:.2}–{:.2} s", clip.start_s, clip.end_s))
                }
                @if let Some(s) = &clip.scores {
                    dl.scores {
                        dt { "motion" } dd { (num(s.motion)) }
                        dt { "jitter" } dd { (num(s.motion_jitter)) }
                        dt { "sharpness" } dd { (num(s.sharpness)) }
                        dt { "brightness" } dd { (num(s.brightness)) }
                        dt { "overlay text" } dd { (num(s.overlay_text)) }
                        @if let Some(a) = s.aesthetic { dt { "aesthetic" } dd { (num(a)) } }
                        @if let Some(t) = &clip.video_type { dt { "type" } dd { (t) " " (num(s.video_type)) } }
                    }
                }
                @if !clip.tags.is_empty() {
                    div.tags { @for tag in &clip.tags { span.tag { (tag) } } }
                }
                @if let Some(caption) = &clip.caption { div.caption { "“" (caption) "”" } }
                div.key { (clip.key) }
            }
        }
    }
}

/// A score with three significant digits.
fn num(value: f32) -> String {
    let v = f64::from(value);
    if !v.is_finite() {
        return v.to_string();
    }
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// One line on why a clip was dropped.
fn explain(reason: &DropReason) -> &'static str {
    match reason {
        DropReason::TooShort => "the shot is shorter than the minimum clip length",
        DropReason::Static => "too little motion",
        DropReason::ErraticMotion => "shaking or jerky camera motion",
        DropReason::Blurry => "not sharp enough",
        DropReason::Underexposed => "too dark",
        DropReason::Overexposed => "too bright",
        DropReason::LowAesthetic => "below the aesthetic threshold",
        DropReason::OverlayText => "burned-in text or graphics",
        DropReason::VideoType => "a video type the settings drop",
        DropReason::Duplicate => "a near-duplicate of a better clip",
        DropReason::EncodeFailed => "re-encoding failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_keep_three_significant_digits() {
        assert_eq!(num(0.000_512_3), "0.000512");
        assert_eq!(num(27.456), "27.5");
        assert_eq!(num(1234.4), "1234");
        assert_eq!(num(0.0), "0.00");
    }

    #[test]
    fn no_manifest_no_report() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(write_report(dir.path()).unwrap(), None);
        assert!(!dir.path().join(REPORT_FILE).exists());
    }
}
