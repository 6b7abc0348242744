//! Re-encoding a clip's frame range of its source to H.264 MP4 through `cosmos-media`, frame by
//! frame (the clip is never held in memory), scaled down to fit the configured size.

use std::path::Path;

use cosmos_media::{FrameReader, ReadOptions, VideoWriter, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Output video settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EncodeConfig {
    /// Clips wider than this are scaled down (keeping the aspect ratio); `None`: no limit.
    pub max_width: Option<u32>,
    /// Clips taller than this are scaled down (keeping the aspect ratio); `None`: no limit.
    pub max_height: Option<u32>,
    /// x264 constant rate factor (0 lossless, 18 near-transparent, 23 x264's default).
    pub crf: u8,
    /// x264 preset (`ultrafast` ... `veryslow`).
    pub preset: String,
    /// Encoder threads (0: automatic).
    pub threads: usize,
}

impl Default for EncodeConfig {
    fn default() -> Self {
        Self {
            max_width: None,
            max_height: None,
            crf: 23,
            preset: "medium".into(),
            threads: 0,
        }
    }
}

impl EncodeConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        const PRESETS: [&str; 10] = [
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
            "placebo",
        ];
        if self.crf > 51 || !PRESETS.contains(&self.preset.as_str()) {
            return Err(Error::Config(format!(
                "encode needs crf 0..=51 and an x264 preset ({}), found crf {} and preset '{}'",
                PRESETS.join(", "),
                self.crf,
                self.preset
            )));
        }
        if self.max_width == Some(0) || self.max_height == Some(0) {
            return Err(Error::Config(
                "encode max_width / max_height must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Output size for a `width` x `height` source: scaled down uniformly to fit the limits
    /// (never up), each side rounded to an even number of at least 2 (H.264 4:2:0 needs even
    /// sizes).
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        let mut scale = 1.0f64;
        if let Some(max) = self.max_width {
            scale = scale.min(f64::from(max) / f64::from(width.max(1)));
        }
        if let Some(max) = self.max_height {
            scale = scale.min(f64::from(max) / f64::from(height.max(1)));
        }
        let even = |side: u32| {
            let scaled = (f64::from(side) * scale).round() as u32;
            (scaled & !1).max(2)
        };
        (even(width), even(height))
    }
}

/// Decodes frames `[start_frame, end_frame)` of `source`, scales them to `size` and encodes
/// them to `output` (its extension picks the container) at `fps`. Returns the frames written.
pub fn transcode_clip(
    source: &Path,
    start_frame: u64,
    end_frame: u64,
    fps: f64,
    size: (u32, u32),
    config: &EncodeConfig,
    output: &Path,
) -> Result<u64> {
    let length = end_frame.saturating_sub(start_frame) as usize;
    if length == 0 {
        return Err(Error::Config(format!(
            "transcode: empty frame range [{start_frame}, {end_frame})"
        )));
    }
    let options = ReadOptions::default()
        .range(start_frame, length)
        .resize(size.0, size.1);
    let mut reader = FrameReader::open(source, &options)?;
    let write_options = WriteOptions {
        crf: config.crf,
        preset: config.preset.clone(),
        threads: config.threads,
        ..WriteOptions::default()
    };
    let mut writer = VideoWriter::create(
        output,
        size.0 as usize,
        size.1 as usize,
        fps,
        &write_options,
    )?;
    while let Some(frame) = reader.next_frame()? {
        writer.write_frame(frame.pixels.view())?;
    }
    let written = writer.frames_written();
    writer.finish()?;
    if written as usize != length {
        return Err(Error::Input {
            path: source.to_path_buf(),
            reason: format!(
                "frames [{start_frame}, {end_frame}): expected {length} frames, decoded {written}"
            ),
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_fit_and_stay_even() {
        let config = EncodeConfig::default();
        assert_eq!(config.output_size(640, 272), (640, 272));
        assert_eq!(config.output_size(175, 143), (174, 142));
        let capped = EncodeConfig {
            max_height: Some(720),
            ..EncodeConfig::default()
        };
        assert_eq!(capped.output_size(1920, 1080), (1280, 720));
        assert_eq!(capped.output_size(640, 272), (640, 272));
        let both = EncodeConfig {
            max_width: Some(320),
            max_height: Some(720),
            ..EncodeConfig::default()
        };
        assert_eq!(both.output_size(640, 272), (320, 136));
        assert!(
            EncodeConfig {
                preset: "quick".into(),
                ..EncodeConfig::default()
            }
            .validate()
            .is_err()
        );
    }
}
