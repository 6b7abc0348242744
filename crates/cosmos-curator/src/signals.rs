//! Per-frame signals recorded beside a video: `VIDEO.actions.json` (robot actions) and
//! `VIDEO.camera.json` (camera poses), each a JSON array with one vector per source frame.
//! Every clip record gets the rows of its own frames (`actions`, `camera`), so post-training
//! reads them from the shard's clip JSON with the clip.

use std::path::{Path, PathBuf};

use crate::manifest::ClipRecord;
use crate::{Error, Result};

/// The per-frame signals of one source video (either may be absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameSignals {
    /// One action vector per source frame.
    pub actions: Option<Vec<Vec<f32>>>,
    /// One camera vector per source frame.
    pub camera: Option<Vec<Vec<f32>>>,
}

/// `VIDEO.NAME.json` beside `video` (`clip.mp4` → `clip.actions.json`).
pub fn sidecar_path(video: &Path, name: &str) -> PathBuf {
    let stem = video
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    video.with_file_name(format!("{stem}.{name}.json"))
}

impl FrameSignals {
    /// Reads the sidecars of `video` that exist; a sidecar that exists but is not an array of
    /// equally long finite vectors is an error naming the file.
    pub fn load(video: &Path) -> Result<Self> {
        Ok(Self {
            actions: read_vectors(&sidecar_path(video, "actions"))?,
            camera: read_vectors(&sidecar_path(video, "camera"))?,
        })
    }

    /// Sets `record.actions` / `record.camera` to the rows of frames
    /// `record.start_frame .. record.end_frame`. A sidecar shorter than the clip is an error
    /// (the clip would silently lose its signal).
    pub fn fill(&self, record: &mut ClipRecord, video: &Path) -> Result<()> {
        let (start, end) = (record.start_frame as usize, record.end_frame as usize);
        let slice = |rows: &Option<Vec<Vec<f32>>>, name: &str| -> Result<Option<Vec<Vec<f32>>>> {
            let Some(rows) = rows else { return Ok(None) };
            if rows.len() < end {
                return Err(Error::Input {
                    path: sidecar_path(video, name),
                    reason: format!(
                        "{} vectors, but the clip {} needs frames {start}..{end} (one vector per frame)",
                        rows.len(),
                        record.key
                    ),
                });
            }
            Ok(Some(rows[start..end].to_vec()))
        };
        record.actions = slice(&self.actions, "actions")?;
        record.camera = slice(&self.camera, "camera")?;
        Ok(())
    }
}

fn read_vectors(path: &Path) -> Result<Option<Vec<Vec<f32>>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let bad = |reason: String| Error::Input {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let rows: Vec<Vec<f32>> = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "expected a JSON array of vectors, one per frame: {e}"
        ))
    })?;
    if let Some(first) = rows.first()
        && let Some((k, row)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != first.len())
    {
        return Err(bad(format!(
            "vector {k} has {} values, vector 0 has {}",
            row.len(),
            first.len()
        )));
    }
    if let Some(k) = rows.iter().position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(bad(format!("vector {k} holds a value that is not finite")));
    }
    Ok(Some(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_are_sliced_to_the_clip_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("ep.mp4");
        let rows: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, 0.5]).collect();
        std::fs::write(
            dir.path().join("ep.actions.json"),
            serde_json::to_string(&rows).unwrap(),
        )
        .unwrap();
        let signals = FrameSignals::load(&video).unwrap();
        assert!(signals.camera.is_none());
        let mut record: ClipRecord = serde_json::from_value(serde_json::json!({
            "key": "k", "source": "ep.mp4", "start_frame": 3, "end_frame": 7, "start_s": 0.0,
            "end_s": 1.0, "fps": 4.0, "width": 8, "height": 8, "source_width": 8,
            "source_height": 8, "shot_detector": "content", "scores": null, "tags": [],
            "video_type": null, "caption": null, "dedup_group": null, "kept": true,
            "drop_reason": null, "failed_filters": [], "shard": null
        }))
        .unwrap();
        signals.fill(&mut record, &video).unwrap();
        let actions = record.actions.clone().unwrap();
        assert_eq!(actions.len(), 4);
        assert_eq!(actions[0], vec![3.0, 0.5]);
        record.end_frame = 12;
        let err = signals.fill(&mut record, &video).unwrap_err().to_string();
        assert!(err.contains("10 vectors") && err.contains("3..12"), "{err}");
        std::fs::write(dir.path().join("ep.camera.json"), "[[1, 2], [3]]").unwrap();
        let err = FrameSignals::load(&video).unwrap_err().to_string();
        assert!(
            err.contains("ep.camera.json") && err.contains("vector 1"),
            "{err}"
        );
    }
}
