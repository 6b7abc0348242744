//! Clip filters: each turns the analysis statistics of a clip's frames into scores, and the
//! scores into a keep/drop decision with configurable thresholds.
//!
//! - Motion: mean block-motion magnitude (static clips are dropped), jitter of the global motion
//!   from frame to frame (erratic, shaking clips are dropped), and camera tags from the global
//!   motion fit (`pan_left`, `pan_right`, `tilt_up`, `tilt_down`, `zoom_in`, `zoom_out`, `static`).
//! - Visual quality: sharpness (Laplacian variance), exposure (mean brightness and clipped
//!   fractions), and an optional pluggable [`AestheticScorer`].
//! - Overlay text: lines of blocks with dense high-contrast strokes that stay still while the
//!   rest of the picture changes (burned-in subtitles, captions, tickers, titles).
//! - Video type: a pluggable [`VideoTypeClassifier`]; the built-in [`HeuristicTypeClassifier`]
//!   only separates flat-shaded drawings (cartoons, slides, screen content) from camera footage.
//!
//! All motion figures are in fractions of the frame width per frame, so they do not depend on
//! the analysis resolution.

use serde::{Deserialize, Serialize};

use crate::clips::ClipContext;
use crate::error::Result;

/// A plug-in that scores how good a clip looks (a CLIP-based aesthetic predictor in production;
/// cosmos-curate drops clips under 3.5 on its 1–10 scale).
pub trait AestheticScorer {
    /// Name recorded in the summary.
    fn name(&self) -> &str;
    /// The clip's score (higher is better; the scale is the scorer's).
    fn score(&mut self, clip: &ClipContext<'_>) -> Result<f32>;
}

/// What a [`VideoTypeClassifier`] says about a clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoTypeScore {
    /// The label (`camera`, `animation`, `uncertain`, or any label a model produces).
    pub label: String,
    /// The classifier's score for its labelling (for the built-in one: how strongly the clip
    /// looks drawn rather than filmed, 0–1).
    pub score: f32,
}

/// A plug-in that labels the kind of video a clip is.
pub trait VideoTypeClassifier {
    /// Name recorded in the summary.
    fn name(&self) -> &str;
    /// Labels the clip.
    fn classify(&mut self, clip: &ClipContext<'_>) -> Result<VideoTypeScore>;
}

/// Built-in video-type classifier from frame statistics.
///
/// It looks at how flat the picture is (share of pixels equal to their neighbours within one
/// level), how much of it a handful of colours covers, and how colourful it is. Flat-shaded,
/// colourful 2D animation (cartoons, motion graphics, colourful slides) scores high on all three;
/// camera footage has sensor noise and texture almost everywhere and scores low. It cannot tell
/// 3D-rendered animation (textured, shaded, motion-blurred, such as Big Buck Bunny) from camera
/// footage; grey or pastel drawings (line art, manga) or large smooth objects filmed with a
/// camera (a white bus roof from above) fall in between; and it knows nothing of content
/// (sports, games, talking heads). Those need a trained classifier behind the trait.
#[derive(Debug, Clone, Default)]
pub struct HeuristicTypeClassifier;

impl HeuristicTypeClassifier {
    /// Animation score of mean frame statistics, 0–1.
    pub fn animation_score(flat_fraction: f32, palette_coverage: f32, saturation: f32) -> f32 {
        // Measured on the analysis frames: camera footage has flat 0.1-0.35 (up to 0.57 on a
        // smooth bus roof), palette 0.2-0.9, saturation 20-110; flat-shaded cartoons flat > 0.7,
        // palette > 0.8, saturation > 80. The score is a soft AND of the three.
        let flat = ((flat_fraction - 0.45) / 0.25).clamp(0.0, 1.0);
        let palette = ((palette_coverage - 0.5) / 0.3).clamp(0.0, 1.0);
        let colour = ((saturation - 40.0) / 40.0).clamp(0.0, 1.0);
        (flat * palette * colour).cbrt()
    }
}

impl VideoTypeClassifier for HeuristicTypeClassifier {
    fn name(&self) -> &str {
        "heuristic"
    }

    fn classify(&mut self, clip: &ClipContext<'_>) -> Result<VideoTypeScore> {
        let frames = clip.frames();
        let n = frames.len().max(1) as f32;
        let flat = frames.iter().map(|f| f.flat_fraction).sum::<f32>() / n;
        let palette = frames.iter().map(|f| f.palette_coverage).sum::<f32>() / n;
        let saturation = frames.iter().map(|f| f.saturation).sum::<f32>() / n;
        let score = Self::animation_score(flat, palette, saturation);
        let label = if score >= 0.7 {
            "animation"
        } else if score <= 0.3 {
            "camera"
        } else {
            "uncertain"
        };
        Ok(VideoTypeScore {
            label: label.into(),
            score,
        })
    }
}

/// Motion filter settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MotionFilterConfig {
    /// Apply the keep/drop decision (scores and tags are computed either way).
    pub enabled: bool,
    /// Clips whose mean block motion is below this are static and dropped (fraction of the
    /// width per frame; 0.0005 is an eighth of a pixel per frame on a 256-pixel-wide frame).
    pub min_motion: f32,
    /// Clips whose global motion changes by more than this from frame to frame on average are
    /// erratic (shaking, jerky) and dropped.
    pub max_jitter: f32,
    /// Mean global translation above which a clip is tagged as a pan or tilt.
    pub pan_threshold: f32,
    /// Mean relative scale change per frame above which a clip is tagged as a zoom.
    pub zoom_threshold: f32,
}

impl Default for MotionFilterConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_motion: 0.0005,
            max_jitter: 0.012,
            pan_threshold: 0.002,
            zoom_threshold: 0.002,
        }
    }
}

/// Visual quality filter settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityFilterConfig {
    /// Apply the keep/drop decision.
    pub enabled: bool,
    /// Clips whose mean sharpness (Laplacian variance on the analysis frames) is below this are
    /// blurry and dropped.
    pub min_sharpness: f32,
    /// Mean brightness (0–255) below which a clip is underexposed.
    pub min_brightness: f32,
    /// Mean brightness above which a clip is overexposed.
    pub max_brightness: f32,
    /// Share of pixels crushed to black (luma < 16) above which a clip is underexposed.
    pub max_dark_fraction: f32,
    /// Share of pixels blown to white (luma > 239) above which a clip is overexposed.
    pub max_bright_fraction: f32,
    /// With an aesthetic scorer plugged in: clips scoring below this are dropped.
    pub min_aesthetic: Option<f32>,
}

impl Default for QualityFilterConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_sharpness: 20.0,
            min_brightness: 25.0,
            max_brightness: 235.0,
            max_dark_fraction: 0.75,
            max_bright_fraction: 0.75,
            min_aesthetic: None,
        }
    }
}

/// Overlay-text filter settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverlayFilterConfig {
    /// Apply the keep/drop decision.
    pub enabled: bool,
    /// Clips whose overlay score (length of the longest still line of text-like blocks, as a
    /// share of the width; see [`overlay_score`]) is above this are dropped.
    pub max_score: f32,
}

impl Default for OverlayFilterConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_score: 0.2,
        }
    }
}

/// Video-type filter settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VideoTypeFilterConfig {
    /// Labels to drop (for example `["animation"]`); empty keeps every type.
    pub drop_labels: Vec<String>,
}

/// All filter settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FilterConfig {
    /// Motion filter.
    pub motion: MotionFilterConfig,
    /// Visual quality filter.
    pub quality: QualityFilterConfig,
    /// Overlay-text filter.
    pub overlay_text: OverlayFilterConfig,
    /// Video-type filter.
    pub video_type: VideoTypeFilterConfig,
}

/// Every score of one clip, as the manifest records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClipScores {
    /// Mean block-motion magnitude, fraction of the width per frame.
    pub motion: f32,
    /// Mean frame-to-frame change of the global translation, fraction of the width per frame.
    pub motion_jitter: f32,
    /// Mean motion the camera model does not explain (subjects, parallax).
    pub motion_residual: f32,
    /// Mean horizontal content translation (negative: the camera pans right).
    pub pan_x: f32,
    /// Mean vertical content translation (negative: the camera tilts down).
    pub pan_y: f32,
    /// Mean relative scale change per frame (positive: zooming in).
    pub zoom: f32,
    /// Mean Laplacian variance of luma on the analysis frames.
    pub sharpness: f32,
    /// Mean brightness, 0–255.
    pub brightness: f32,
    /// Mean share of pixels below luma 16.
    pub dark_fraction: f32,
    /// Mean share of pixels above luma 239.
    pub bright_fraction: f32,
    /// The aesthetic scorer's score, when one is plugged in.
    pub aesthetic: Option<f32>,
    /// Overlay-text score (longest still line of text-like blocks, share of the width).
    pub overlay_text: f32,
    /// The video-type classifier's score.
    pub video_type: f32,
}

/// Why a clip was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The shot was shorter than the minimum clip length.
    TooShort,
    /// Too little motion.
    Static,
    /// Shaking or jerky camera motion.
    ErraticMotion,
    /// Not sharp enough.
    Blurry,
    /// Too dark.
    Underexposed,
    /// Too bright.
    Overexposed,
    /// Below the aesthetic threshold.
    LowAesthetic,
    /// Burned-in text or graphics.
    OverlayText,
    /// A video type the configuration drops.
    VideoType,
    /// A near-duplicate of a better clip.
    Duplicate,
    /// Re-encoding failed.
    EncodeFailed,
}

impl DropReason {
    /// The stage that drops for this reason.
    pub fn stage(&self) -> &'static str {
        match self {
            Self::TooShort => "clip_rules",
            Self::Static | Self::ErraticMotion => "motion",
            Self::Blurry | Self::Underexposed | Self::Overexposed | Self::LowAesthetic => "quality",
            Self::OverlayText => "overlay_text",
            Self::VideoType => "video_type",
            Self::Duplicate => "dedup",
            Self::EncodeFailed => "encode",
        }
    }

    /// Snake-case name, as in the manifest.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::Static => "static",
            Self::ErraticMotion => "erratic_motion",
            Self::Blurry => "blurry",
            Self::Underexposed => "underexposed",
            Self::Overexposed => "overexposed",
            Self::LowAesthetic => "low_aesthetic",
            Self::OverlayText => "overlay_text",
            Self::VideoType => "video_type",
            Self::Duplicate => "duplicate",
            Self::EncodeFailed => "encode_failed",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The filters' verdict on one clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterOutcome {
    /// Every score.
    pub scores: ClipScores,
    /// Camera-motion tags.
    pub tags: Vec<String>,
    /// The video-type label.
    pub video_type: String,
    /// Every filter that would drop the clip, in filter order (motion, quality, overlay text,
    /// video type); the first is the reason recorded.
    pub failed: Vec<DropReason>,
}

/// Motion scores and tags of a clip's frames (the first frame's motion, measured against the
/// previous shot, is left out).
pub fn motion_scores(
    clip: &ClipContext<'_>,
    config: &MotionFilterConfig,
    scores: &mut ClipScores,
) -> Vec<String> {
    let frames = clip.frames();
    let motions: Vec<_> = frames.iter().skip(1).map(|f| f.motion).collect();
    let valid: Vec<_> = motions.iter().filter(|m| m.valid).copied().collect();
    let n = motions.len().max(1) as f32;
    // Frames without texture to match count as motionless.
    scores.motion = valid.iter().map(|m| m.magnitude).sum::<f32>() / n;
    scores.motion_residual =
        valid.iter().map(|m| m.residual).sum::<f32>() / valid.len().max(1) as f32;
    let nv = valid.len().max(1) as f32;
    scores.pan_x = valid.iter().map(|m| m.tx).sum::<f32>() / nv;
    scores.pan_y = valid.iter().map(|m| m.ty).sum::<f32>() / nv;
    scores.zoom = valid.iter().map(|m| m.zoom).sum::<f32>() / nv;
    scores.motion_jitter = if valid.len() >= 2 {
        valid
            .windows(2)
            .map(|w| (w[1].tx - w[0].tx).hypot(w[1].ty - w[0].ty))
            .sum::<f32>()
            / (valid.len() - 1) as f32
    } else {
        0.0
    };

    let mut tags = Vec::new();
    if scores.motion < config.min_motion {
        tags.push("static".to_string());
        return tags;
    }
    // A direction is tagged when the mean is large and most frames agree on the sign.
    let agree = |value: f32, component: fn(&crate::analysis::GlobalMotion) -> f32| {
        valid
            .iter()
            .filter(|m| component(m).signum() == value.signum() && component(m) != 0.0)
            .count() as f32
            / nv
            >= 0.6
    };
    if scores.pan_x.abs() >= config.pan_threshold && agree(scores.pan_x, |m| m.tx) {
        // Content moving left means the camera turns right.
        tags.push(
            if scores.pan_x < 0.0 {
                "pan_right"
            } else {
                "pan_left"
            }
            .to_string(),
        );
    }
    if scores.pan_y.abs() >= config.pan_threshold && agree(scores.pan_y, |m| m.ty) {
        tags.push(
            if scores.pan_y < 0.0 {
                "tilt_down"
            } else {
                "tilt_up"
            }
            .to_string(),
        );
    }
    if scores.zoom.abs() >= config.zoom_threshold && agree(scores.zoom, |m| m.zoom) {
        tags.push(
            if scores.zoom > 0.0 {
                "zoom_in"
            } else {
                "zoom_out"
            }
            .to_string(),
        );
    }
    tags
}

/// Sharpness and exposure scores of a clip's frames.
pub fn quality_scores(clip: &ClipContext<'_>, scores: &mut ClipScores) {
    let frames = clip.frames();
    let n = frames.len().max(1) as f32;
    scores.sharpness = frames.iter().map(|f| f.sharpness).sum::<f32>() / n;
    scores.brightness = frames.iter().map(|f| f.brightness).sum::<f32>() / n;
    scores.dark_fraction = frames.iter().map(|f| f.dark_fraction).sum::<f32>() / n;
    scores.bright_fraction = frames.iter().map(|f| f.bright_fraction).sum::<f32>() / n;
}

/// Overlay-text score: the length, as a share of the frame width, of the longest horizontal line
/// of blocks that hold still, text-like strokes through at least 70% of the clip's changing
/// frames (frames whose mean luma change is at least 1.5 levels; without such frames a still
/// picture cannot be told from an overlay and the score is 0). Lines may straddle two block rows
/// and skip one block (a space between words).
///
/// A line of burned-in text (subtitles, captions, tickers, titles) scores about its own length
/// (0.3–0.8 for a subtitle); still objects in a still shot (a fence with traffic behind it)
/// give scattered blocks and score under 0.1. Small logos are too short to count.
pub fn overlay_score(clip: &ClipContext<'_>) -> f32 {
    const MIN_CHANGE: f32 = 1.5;
    const PERSISTENCE: f32 = 0.7;
    let analysis = clip.analysis;
    let (columns, rows) = analysis.text_grid;
    if columns == 0 || rows == 0 {
        return 0.0;
    }
    let start = clip.start_frame as usize;
    let mut counts = vec![0u32; columns * rows];
    let mut changing = 0u32;
    // The clip's first frame is compared with the previous shot: skip it.
    for (offset, frame) in clip.frames().iter().enumerate().skip(1) {
        if frame.change < MIN_CHANGE {
            continue;
        }
        changing += 1;
        let bits = analysis.text_bits(start + offset);
        for (block, count) in counts.iter_mut().enumerate() {
            if bits
                .get(block / 64)
                .is_some_and(|word| word >> (block % 64) & 1 == 1)
            {
                *count += 1;
            }
        }
    }
    if changing == 0 {
        return 0.0;
    }
    let persistent = |row: usize, column: usize| {
        counts[row * columns + column] as f32 >= PERSISTENCE * changing as f32
    };
    let mut longest = 0;
    for row in 0..rows {
        let mut run = 0;
        let mut gap = 0;
        for column in 0..columns {
            let on = persistent(row, column) || (row + 1 < rows && persistent(row + 1, column));
            if on {
                run += gap + 1;
                gap = 0;
                longest = longest.max(run);
            } else if run > 0 && gap == 0 {
                gap = 1;
            } else {
                run = 0;
                gap = 0;
            }
        }
    }
    longest as f32 / columns as f32
}

/// Runs every filter on a clip.
pub fn evaluate(
    clip: &ClipContext<'_>,
    config: &FilterConfig,
    aesthetic: Option<&mut dyn AestheticScorer>,
    classifier: &mut dyn VideoTypeClassifier,
) -> Result<FilterOutcome> {
    let mut scores = ClipScores::default();
    let tags = motion_scores(clip, &config.motion, &mut scores);
    quality_scores(clip, &mut scores);
    if let Some(scorer) = aesthetic {
        scores.aesthetic = Some(scorer.score(clip)?);
    }
    scores.overlay_text = overlay_score(clip);
    let video_type = classifier.classify(clip)?;
    scores.video_type = video_type.score;

    let mut failed = Vec::new();
    let m = &config.motion;
    if m.enabled {
        if scores.motion < m.min_motion {
            failed.push(DropReason::Static);
        } else if scores.motion_jitter > m.max_jitter {
            failed.push(DropReason::ErraticMotion);
        }
    }
    let q = &config.quality;
    if q.enabled {
        if scores.sharpness < q.min_sharpness {
            failed.push(DropReason::Blurry);
        }
        if scores.brightness < q.min_brightness || scores.dark_fraction > q.max_dark_fraction {
            failed.push(DropReason::Underexposed);
        } else if scores.brightness > q.max_brightness
            || scores.bright_fraction > q.max_bright_fraction
        {
            failed.push(DropReason::Overexposed);
        }
        if let (Some(min), Some(score)) = (q.min_aesthetic, scores.aesthetic)
            && score < min
        {
            failed.push(DropReason::LowAesthetic);
        }
    }
    if config.overlay_text.enabled && scores.overlay_text > config.overlay_text.max_score {
        failed.push(DropReason::OverlayText);
    }
    if config.video_type.drop_labels.contains(&video_type.label) {
        failed.push(DropReason::VideoType);
    }
    Ok(FilterOutcome {
        scores,
        tags,
        video_type: video_type.label,
        failed,
    })
}
