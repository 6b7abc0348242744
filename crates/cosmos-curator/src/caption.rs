//! Captions: the [`Captioner`] trait (a vision-language model in production; cosmos-curate
//! prompts Qwen-VL on sampled frames) and two built-ins, [`EmptyCaptioner`] and
//! [`SidecarCaptioner`], which imports captions written next to the source video.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::clips::ClipContext;
use crate::error::{Error, Result};

/// A plug-in that writes a clip's caption.
pub trait Captioner {
    /// Name recorded in the summary.
    fn name(&self) -> &str;
    /// The caption, or `None` when there is none for this clip.
    fn caption(&mut self, clip: &ClipContext<'_>) -> Result<Option<String>>;
}

/// Leaves every caption empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyCaptioner;

impl Captioner for EmptyCaptioner {
    fn name(&self) -> &str {
        "none"
    }

    fn caption(&mut self, _clip: &ClipContext<'_>) -> Result<Option<String>> {
        Ok(None)
    }
}

/// A timed caption: text shown from `start` to `end` seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Cue {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The text.
    pub text: String,
}

/// Imports captions from files beside the source video, looked up by the video's file stem
/// (`clip.mp4` -> `clip.captions.json`, `clip.srt`, `clip.vtt`, `clip.txt`, first found wins):
///
/// - `.captions.json`: `[{"start": s, "end": s, "text": "..."}, ...]`;
/// - `.srt` / `.vtt`: subtitle cues;
/// - `.txt`: one caption for the whole video, given to every clip.
///
/// A clip's caption is the text of every cue that overlaps it for at least half of the cue's own
/// length or half of the clip's, joined with spaces, in time order; no such cue gives no caption.
#[derive(Debug, Default)]
pub struct SidecarCaptioner {
    cached: Option<(PathBuf, Sidecar)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Sidecar {
    None,
    Whole(String),
    Timed(Vec<Cue>),
}

impl SidecarCaptioner {
    /// A captioner reading sidecar files.
    pub fn new() -> Self {
        Self::default()
    }

    fn sidecar_for(&mut self, source: &Path) -> Result<&Sidecar> {
        if self.cached.as_ref().is_none_or(|(path, _)| path != source) {
            let sidecar = load_sidecar(source)?;
            self.cached = Some((source.to_path_buf(), sidecar));
        }
        match &self.cached {
            Some((_, sidecar)) => Ok(sidecar),
            None => unreachable!("cache filled above"),
        }
    }
}

impl Captioner for SidecarCaptioner {
    fn name(&self) -> &str {
        "sidecar"
    }

    fn caption(&mut self, clip: &ClipContext<'_>) -> Result<Option<String>> {
        let (start, end) = (clip.start_s(), clip.end_s());
        Ok(match self.sidecar_for(clip.source())? {
            Sidecar::None => None,
            Sidecar::Whole(text) => Some(text.clone()),
            Sidecar::Timed(cues) => captions_in(cues, start, end),
        })
    }
}

/// Joins the text of the cues that overlap `[start, end)` enough (see [`SidecarCaptioner`]).
pub fn captions_in(cues: &[Cue], start: f64, end: f64) -> Option<String> {
    let clip_length = end - start;
    let mut texts: Vec<(f64, &str)> = cues
        .iter()
        .filter(|cue| {
            let overlap = cue.end.min(end) - cue.start.max(start);
            overlap > 0.0
                && (overlap >= 0.5 * (cue.end - cue.start) || overlap >= 0.5 * clip_length)
        })
        .map(|cue| (cue.start, cue.text.trim()))
        .filter(|(_, text)| !text.is_empty())
        .collect();
    texts.sort_by(|a, b| a.0.total_cmp(&b.0));
    (!texts.is_empty()).then(|| texts.iter().map(|(_, t)| *t).collect::<Vec<_>>().join(" "))
}

fn load_sidecar(source: &Path) -> Result<Sidecar> {
    let Some(stem) = source.file_stem().and_then(|s| s.to_str()) else {
        return Ok(Sidecar::None);
    };
    let folder = source.parent().unwrap_or(Path::new(""));
    let candidate = |extension: &str| folder.join(format!("{stem}.{extension}"));
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| Error::io(path, e));

    let json = candidate("captions.json");
    if json.is_file() {
        let cues: Vec<Cue> = serde_json::from_str(&read(&json)?).map_err(|e| Error::Caption {
            path: json.clone(),
            reason: format!("expected [{{\"start\": s, \"end\": s, \"text\": \"...\"}}, ...]: {e}"),
        })?;
        return Ok(Sidecar::Timed(cues));
    }
    for extension in ["srt", "vtt"] {
        let path = candidate(extension);
        if path.is_file() {
            return Ok(Sidecar::Timed(parse_subtitles(&read(&path)?, &path)?));
        }
    }
    let text = candidate("txt");
    if text.is_file() {
        let caption = read(&text)?.trim().to_string();
        return Ok(if caption.is_empty() {
            Sidecar::None
        } else {
            Sidecar::Whole(caption)
        });
    }
    Ok(Sidecar::None)
}

/// Parses SubRip (`.srt`) or WebVTT (`.vtt`) cues: blocks separated by blank lines, each with a
/// `START --> END` line and text lines after it (numbering lines, the `WEBVTT` header, `NOTE`
/// blocks and cue settings after the end time are ignored; tags such as `<i>` are removed).
pub fn parse_subtitles(text: &str, path: &Path) -> Result<Vec<Cue>> {
    let mut cues = Vec::new();
    let normalised = text.replace("\r\n", "\n");
    for block in normalised.split("\n\n") {
        let lines: Vec<&str> = block.lines().collect();
        let Some(timing_index) = lines.iter().position(|l| l.contains("-->")) else {
            continue;
        };
        let timing = lines[timing_index].trim();
        let (start, rest) = timing.split_once("-->").unwrap_or_default();
        let end = rest.split_whitespace().next().unwrap_or_default();
        let bad = |what: &str| Error::Caption {
            path: path.to_path_buf(),
            reason: format!("bad {what} in '{timing}'"),
        };
        let start = parse_timestamp(start.trim()).ok_or_else(|| bad("start time"))?;
        let end = parse_timestamp(end).ok_or_else(|| bad("end time"))?;
        let body: Vec<String> = lines[timing_index + 1..]
            .iter()
            .map(|l| strip_tags(l))
            .filter(|l| !l.is_empty())
            .collect();
        if !body.is_empty() {
            cues.push(Cue {
                start,
                end,
                text: body.join(" "),
            });
        }
    }
    Ok(cues)
}

/// `HH:MM:SS,mmm`, `HH:MM:SS.mmm` or `MM:SS.mmm` to seconds.
fn parse_timestamp(text: &str) -> Option<f64> {
    let text = text.replace(',', ".");
    let parts: Vec<&str> = text.split(':').collect();
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m, s] => (
            h.parse::<f64>().ok()?,
            m.parse::<f64>().ok()?,
            s.parse::<f64>().ok()?,
        ),
        [m, s] => (0.0, m.parse::<f64>().ok()?, s.parse::<f64>().ok()?),
        _ => return None,
    };
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

fn strip_tags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_and_vtt_cues_parse() {
        let srt = "1\r\n00:00:01,000 --> 00:00:02,500\r\nA red car\r\n<i>turns left</i>\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nCyclists\r\n";
        let cues = parse_subtitles(srt, Path::new("x.srt")).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!(
            cues[0],
            Cue {
                start: 1.0,
                end: 2.5,
                text: "A red car turns left".into()
            }
        );
        let vtt = "WEBVTT\n\nNOTE made by hand\n\n00:01.000 --> 00:02.000 align:start\nHello\n";
        let cues = parse_subtitles(vtt, Path::new("x.vtt")).unwrap();
        assert_eq!(
            cues,
            vec![Cue {
                start: 1.0,
                end: 2.0,
                text: "Hello".into()
            }]
        );
        assert!(
            parse_subtitles("1\n00:00:aa,000 --> 00:00:02,000\nx\n", Path::new("x.srt")).is_err()
        );
    }

    #[test]
    fn cues_are_assigned_by_overlap() {
        let cues = vec![
            Cue {
                start: 0.0,
                end: 1.0,
                text: "first".into(),
            },
            Cue {
                start: 2.9,
                end: 5.0,
                text: "second".into(),
            },
            Cue {
                start: 1.0,
                end: 3.1,
                text: "middle".into(),
            },
        ];
        // Clip [1, 3): "middle" lies inside, "second" only overlaps 0.1 s of its 2.1 s.
        assert_eq!(captions_in(&cues, 1.0, 3.0).as_deref(), Some("middle"));
        assert_eq!(
            captions_in(&cues, 0.0, 5.0).as_deref(),
            Some("first middle second")
        );
        assert_eq!(captions_in(&cues, 6.0, 8.0), None);
    }
}
