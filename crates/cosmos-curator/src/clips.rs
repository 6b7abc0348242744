//! From shots to clips: shots shorter than the minimum are dropped, longer than the maximum are
//! cut into equal pieces no longer than it, and [`ClipContext`] gives the filters, captioners and
//! embedders what they know about one clip.

use std::path::Path;

use cosmos_media::{FrameReader, ReadOptions, VideoInfo};
use ndarray::{Array4, Axis};
use serde::{Deserialize, Serialize};

use crate::analysis::{FrameFeatures, VideoAnalysis};
use crate::error::{Error, Result};
use crate::shot::Shot;

/// Clip length rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipRules {
    /// Shots shorter than this (after trimming) are dropped, seconds.
    pub min_clip_s: f64,
    /// Shots longer than this are cut into equal pieces of at most this length, seconds.
    pub max_clip_s: f64,
    /// Trimmed from both ends of every shot before the rules apply, seconds (cosmos-curate trims
    /// 0.5 s to stay clear of transitions; 0 keeps whole shots).
    pub trim_s: f64,
}

impl Default for ClipRules {
    fn default() -> Self {
        Self {
            min_clip_s: 2.0,
            max_clip_s: 60.0,
            trim_s: 0.0,
        }
    }
}

impl ClipRules {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        let ok = self.min_clip_s.is_finite()
            && self.min_clip_s >= 0.0
            && self.max_clip_s.is_finite()
            && self.max_clip_s > 0.0
            && self.max_clip_s >= self.min_clip_s
            && self.trim_s.is_finite()
            && self.trim_s >= 0.0;
        if !ok {
            return Err(Error::Config(format!(
                "clip rules need 0 <= min_clip_s <= max_clip_s, max_clip_s > 0 and trim_s >= 0, found {self:?}"
            )));
        }
        Ok(())
    }

    /// The clips of one shot: `(start_frame, end_frame, long_enough)`, where clips that are too
    /// short are returned with `false` so they can be reported.
    pub fn clips_of_shot(&self, shot: Shot, fps: f64) -> Vec<(u64, u64, bool)> {
        let fps = if fps > 0.0 && fps.is_finite() {
            fps
        } else {
            1.0
        };
        let trim = (self.trim_s * fps).round() as u64;
        let start = shot.start_frame + trim;
        let end = shot.end_frame.saturating_sub(trim);
        if end <= start {
            return vec![(shot.start_frame, shot.end_frame, false)];
        }
        let length = end - start;
        // A hair of slack so that 50 frames at 25 fps count as 2.0 s.
        if (length as f64) / fps + 1e-9 < self.min_clip_s {
            return vec![(start, end, false)];
        }
        let max_frames = ((self.max_clip_s * fps + 1e-9).floor() as u64).max(1);
        let pieces = length.div_ceil(max_frames);
        (0..pieces)
            .map(|i| {
                (
                    start + i * length / pieces,
                    start + (i + 1) * length / pieces,
                    true,
                )
            })
            .collect()
    }
}

/// What a filter, captioner or embedder sees of one clip.
#[derive(Debug, Clone, Copy)]
pub struct ClipContext<'a> {
    /// The clip's key (unique in the output; also its file name in the shards).
    pub key: &'a str,
    /// First frame of the clip in the source.
    pub start_frame: u64,
    /// One past its last frame.
    pub end_frame: u64,
    /// The analysis of the whole source video.
    pub analysis: &'a VideoAnalysis,
}

impl<'a> ClipContext<'a> {
    /// The source file.
    pub fn source(&self) -> &'a Path {
        &self.analysis.path
    }

    /// The source's container facts.
    pub fn info(&self) -> &'a VideoInfo {
        &self.analysis.info
    }

    /// Frames per second of the source.
    pub fn fps(&self) -> f64 {
        self.analysis.fps()
    }

    /// Start time, seconds.
    pub fn start_s(&self) -> f64 {
        seconds(self.start_frame, self.fps())
    }

    /// End time (exclusive), seconds.
    pub fn end_s(&self) -> f64 {
        seconds(self.end_frame, self.fps())
    }

    /// Length, seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_s() - self.start_s()
    }

    /// Analysis statistics of the clip's frames.
    pub fn frames(&self) -> &'a [FrameFeatures] {
        let frames = &self.analysis.frames;
        let end = (self.end_frame as usize).min(frames.len());
        &frames[(self.start_frame as usize).min(end)..end]
    }

    /// Decodes `count` frames spread evenly over the clip (fewer if the clip is shorter), scaled
    /// to `size` (`None`: source size), as `[N, H, W, 3]` RGB. For plug-ins that need pixels
    /// (models); the built-in filters work on the analysis statistics and never call this.
    pub fn sample_frames(&self, count: usize, size: Option<(u32, u32)>) -> Result<Array4<u8>> {
        let length = self.end_frame.saturating_sub(self.start_frame);
        if count == 0 || length == 0 {
            return Err(Error::Config(format!(
                "sample_frames: need a positive count and a non-empty clip, found count {count}, {length} frames"
            )));
        }
        let count = count.min(length as usize);
        let stride = (length / count as u64).max(1) as usize;
        let mut options = ReadOptions::default()
            .range(self.start_frame, count)
            .stride(stride)
            .keep_damaged();
        options.resize = size;
        let video = FrameReader::open(self.source(), &options)?.read_to_end()?;
        if video.frames.len_of(Axis(0)) == 0 {
            return Err(Error::Input {
                path: self.source().to_path_buf(),
                reason: format!(
                    "no frame decoded in [{}, {})",
                    self.start_frame, self.end_frame
                ),
            });
        }
        Ok(video.frames)
    }
}

/// `frame / fps` (0 when fps is unknown).
pub fn seconds(frame: u64, fps: f64) -> f64 {
    if fps > 0.0 { frame as f64 / fps } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_shots_drop_and_long_shots_split() {
        let rules = ClipRules::default();
        // 49 frames at 25 fps: 1.96 s, dropped; 50 frames: exactly 2 s, kept.
        assert_eq!(
            rules.clips_of_shot(
                Shot {
                    start_frame: 0,
                    end_frame: 49
                },
                25.0
            ),
            vec![(0, 49, false)]
        );
        assert_eq!(
            rules.clips_of_shot(
                Shot {
                    start_frame: 137,
                    end_frame: 187
                },
                25.0
            ),
            vec![(137, 187, true)]
        );
        // 150 s at 30 fps = 4500 frames: 3 pieces of 1500 frames (50 s).
        let pieces = rules.clips_of_shot(
            Shot {
                start_frame: 100,
                end_frame: 4600,
            },
            30.0,
        );
        assert_eq!(
            pieces,
            vec![(100, 1600, true), (1600, 3100, true), (3100, 4600, true)]
        );
        // Exactly 60 s stays whole; 60 s + 1 frame is split in two.
        assert_eq!(
            rules
                .clips_of_shot(
                    Shot {
                        start_frame: 0,
                        end_frame: 1800
                    },
                    30.0
                )
                .len(),
            1
        );
        let two = rules.clips_of_shot(
            Shot {
                start_frame: 0,
                end_frame: 1801,
            },
            30.0,
        );
        assert_eq!(two, vec![(0, 900, true), (900, 1801, true)]);
        assert!(two.iter().all(|(s, e, _)| (e - s) as f64 / 30.0 <= 60.0));
    }

    #[test]
    fn trimming_applies_before_the_minimum() {
        let rules = ClipRules {
            trim_s: 0.5,
            ..ClipRules::default()
        };
        assert_eq!(
            rules.clips_of_shot(
                Shot {
                    start_frame: 0,
                    end_frame: 100
                },
                25.0
            ),
            vec![(13, 87, true)]
        );
        assert_eq!(
            rules.clips_of_shot(
                Shot {
                    start_frame: 0,
                    end_frame: 60
                },
                25.0
            ),
            vec![(13, 47, false)]
        );
        assert!(
            ClipRules {
                min_clip_s: 5.0,
                max_clip_s: 2.0,
                trim_s: 0.0
            }
            .validate()
            .is_err()
        );
    }
}
