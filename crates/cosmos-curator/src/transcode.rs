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
    /// x264 constant rate factor (0 lossless, 18 near-transparent, 23 x264's default); ignored
    /// when [`bitrate`](Self::bitrate) is set.
    pub crf: u8,
    /// Target average bit rate in bits per second (cosmos-curate encodes at 4 Mb/s); `None`
    /// (the default): constant quality at [`crf`](Self::crf).
    pub bitrate: Option<u64>,
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
            bitrate: None,
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
        if let Some(bitrate) = self.bitrate
            && !(MIN_BITRATE..=MAX_BITRATE).contains(&bitrate)
        {
            return Err(Error::Config(format!(
                "encode bitrate must be between 10 kb/s and 10 Gb/s, found {bitrate} b/s"
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

const MIN_BITRATE: u64 = 10_000;
const MAX_BITRATE: u64 = 10_000_000_000;

/// Parses a bit rate in bits per second: a number with an optional decimal suffix `k`, `M` or
/// `G` (case-insensitive, an optional trailing `b`, `bps` or `b/s`): `4M`, `4000k`, `2.5Mb/s`,
/// `800000`.
pub fn parse_bitrate(text: &str) -> Result<u64> {
    let invalid = || {
        Error::Config(format!(
            "a bit rate looks like 4M, 800k or 2500000 (bits per second), found '{text}'"
        ))
    };
    let lower = text.trim().to_ascii_lowercase();
    let number = ["b/s", "bps", "b"]
        .iter()
        .find_map(|unit| lower.strip_suffix(unit))
        .unwrap_or(&lower);
    let (digits, scale) = match number.chars().last() {
        Some('k') => (&number[..number.len() - 1], 1e3),
        Some('m') => (&number[..number.len() - 1], 1e6),
        Some('g') => (&number[..number.len() - 1], 1e9),
        _ => (number, 1.0),
    };
    let value: f64 = digits.trim().parse().map_err(|_| invalid())?;
    let bits = (value * scale).round();
    if !bits.is_finite() || bits < MIN_BITRATE as f64 || bits > MAX_BITRATE as f64 {
        return Err(Error::Config(format!(
            "bit rate '{text}' is outside 10k..10G bits per second"
        )));
    }
    Ok(bits as u64)
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
        bitrate: config.bitrate,
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
    fn bit_rates_parse_with_suffixes() {
        assert_eq!(parse_bitrate("4M").unwrap(), 4_000_000);
        assert_eq!(parse_bitrate("4000k").unwrap(), 4_000_000);
        assert_eq!(parse_bitrate("2.5Mb/s").unwrap(), 2_500_000);
        assert_eq!(parse_bitrate("800000").unwrap(), 800_000);
        assert_eq!(parse_bitrate(" 1g ").unwrap(), 1_000_000_000);
        assert_eq!(parse_bitrate("300kbps").unwrap(), 300_000);
        for bad in ["", "M", "fast", "-4M", "5", "20G", "1.2.3k"] {
            assert!(parse_bitrate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_lower_bitrate_gives_smaller_clips_that_decode_whole() {
        let source = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/media/bikes.mp4"
        ));
        let dir = tempfile::tempdir().unwrap();
        let mut sizes = Vec::new();
        for bitrate in [150_000, 3_000_000] {
            let config = EncodeConfig {
                bitrate: Some(bitrate),
                preset: "veryfast".into(),
                ..EncodeConfig::default()
            };
            config.validate().unwrap();
            let output = dir.path().join(format!("clip_{bitrate}.mp4"));
            // Shot 3 of bikes.mp4: frames [76, 137), 2.44 s.
            let written =
                transcode_clip(source, 76, 137, 25.0, (320, 136), &config, &output).unwrap();
            assert_eq!(written, 61);
            let info = cosmos_media::probe(&output).unwrap();
            assert_eq!(info.frames, Some(61));
            assert_eq!((info.width, info.height), (320, 136));
            let decoded = cosmos_media::read_video(&output, &ReadOptions::default()).unwrap();
            assert_eq!(decoded.len(), 61);
            let bytes = std::fs::metadata(&output).unwrap().len();
            // Within a factor of two of the target (2.44 s at `bitrate`).
            let target = bitrate as f64 * 2.44 / 8.0;
            assert!(
                (bytes as f64) > target / 2.0 && (bytes as f64) < target * 2.0,
                "{bitrate} b/s: {bytes} bytes, target {target}"
            );
            sizes.push(bytes);
        }
        assert!(sizes[0] * 4 < sizes[1], "{sizes:?}");
        assert!(
            EncodeConfig {
                bitrate: Some(5),
                ..EncodeConfig::default()
            }
            .validate()
            .is_err()
        );
    }

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
