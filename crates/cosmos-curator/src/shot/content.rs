//! Content-change shot detection: the HSV frame-difference detector of PySceneDetect's
//! `ContentDetector`, and its rolling-average variant (`AdaptiveDetector`).
//!
//! Every frame is scaled so that its longer side is about 256 pixels, converted to HSV, and
//! compared with the previous frame: the score is the mean absolute difference of hue, of
//! saturation and of value, averaged with weights (1, 1, 1 by default). A cut is placed where
//! the score reaches the threshold (27) and at least `min_scene_len` frames (15) have passed since
//! the last frame that scored above it; cuts closer than that are merged (see [`MinLengthFilter`]).
//! The adaptive variant compares each frame's score with the mean score of its neighbours instead
//! of a fixed threshold, which tolerates fast camera motion.
//!
//! The first frame scores 0 and takes part in both rules, as in PySceneDetect 0.7 (so a cut can
//! come as early as frame `min_scene_len`).
//!
//! Grey and near-grey video: where both frames' mean saturation is under `grey_saturation`
//! (default [`GREY_SATURATION`]), hue and saturation carry nothing but noise, and the score is
//! the luma difference alone instead of a third of it (PySceneDetect's, which misses most cuts
//! of black-and-white footage). Colour footage is scored exactly as PySceneDetect scores it
//! (bikes.mp4's least saturated frame has a mean saturation of 19.7); 0 turns this off.

use ndarray::ArrayView3;
use serde::{Deserialize, Serialize};

use super::ShotDetector;
use super::hsv::{HsvPlanes, sum_abs_diff};
use crate::error::{Error, Result};

/// Longer side PySceneDetect scales frames to before scoring them.
pub const ANALYSIS_LONG_SIDE: u32 = 256;

/// Mean saturation (0–255) under which a frame counts as grey for the content score (see the
/// module documentation).
pub const GREY_SATURATION: f64 = 10.0;

/// Size of the frames the content detectors score for a `width` x `height` source: scaled by
/// `long_side / max(width, height)` with each side rounded half to even, or left alone when the
/// source's longer side is shorter than `long_side`. (This reproduces PySceneDetect's automatic
/// downscale factor, so that scores are comparable with its statistics files.)
pub fn content_frame_size(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= long_side || long_side == 0 {
        return (width.max(1), height.max(1));
    }
    let factor = f64::from(longest) / f64::from(long_side);
    let scale = |side: u32| (round_half_even(f64::from(side) / factor) as u32).max(1);
    (scale(width), scale(height))
}

fn round_half_even(value: f64) -> f64 {
    let rounded = value.round();
    if (value - value.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 {
        rounded - value.signum()
    } else {
        rounded
    }
}

/// Weights of the score components (PySceneDetect's edge component is not computed; its default
/// weight is 0 there too).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ComponentWeights {
    /// Weight of the mean hue difference.
    pub hue: f64,
    /// Weight of the mean saturation difference.
    pub saturation: f64,
    /// Weight of the mean value (brightness) difference.
    pub luma: f64,
}

impl Default for ComponentWeights {
    fn default() -> Self {
        Self {
            hue: 1.0,
            saturation: 1.0,
            luma: 1.0,
        }
    }
}

impl ComponentWeights {
    /// Brightness only (PySceneDetect's `luma_only`).
    pub const LUMA_ONLY: Self = Self {
        hue: 0.0,
        saturation: 0.0,
        luma: 1.0,
    };

    fn validate(&self) -> Result<()> {
        let all = [self.hue, self.saturation, self.luma];
        if all.iter().any(|w| !w.is_finite()) || all.iter().map(|w| w.abs()).sum::<f64>() == 0.0 {
            return Err(Error::Config(format!(
                "content score weights must be finite and not all zero, found {self:?}"
            )));
        }
        Ok(())
    }
}

/// The per-frame content score: weighted mean of HSV plane differences with the previous frame.
#[derive(Debug, Clone)]
pub struct ContentScorer {
    weights: ComponentWeights,
    grey_saturation: f64,
    previous: HsvPlanes,
    current: HsvPlanes,
    previous_saturation: f64,
    has_previous: bool,
    scratch: Vec<u8>,
}

impl ContentScorer {
    /// A scorer with the given component weights, and no grey rule (PySceneDetect's score on
    /// every frame; see [`with_grey_saturation`](Self::with_grey_saturation)).
    pub fn new(weights: ComponentWeights) -> Result<Self> {
        weights.validate()?;
        Ok(Self {
            weights,
            grey_saturation: 0.0,
            previous: HsvPlanes::default(),
            current: HsvPlanes::default(),
            previous_saturation: 0.0,
            has_previous: false,
            scratch: Vec::new(),
        })
    }

    /// Scores pairs of frames whose mean saturations are both under `threshold` (0–255) by
    /// their luma difference alone; 0 turns the rule off.
    pub fn with_grey_saturation(mut self, threshold: f64) -> Result<Self> {
        if !(threshold.is_finite() && (0.0..=255.0).contains(&threshold)) {
            return Err(Error::Config(format!(
                "grey_saturation must be within 0..=255, found {threshold}"
            )));
        }
        self.grey_saturation = threshold;
        Ok(self)
    }

    /// Forgets the previous frame (a new video starts).
    pub fn reset(&mut self) {
        self.has_previous = false;
    }

    /// Scores `frame` (`[H, W, 3]` RGB) against the previous one; `None` for the first frame.
    pub fn score(&mut self, frame: ArrayView3<'_, u8>) -> Result<Option<f64>> {
        if frame.shape()[2] != 3 {
            return Err(Error::Config(format!(
                "content scorer: expected [H, W, 3] RGB frames, found shape {:?}",
                frame.shape()
            )));
        }
        let rgb = match frame.as_slice() {
            Some(slice) => slice,
            None => {
                self.scratch.clear();
                self.scratch.extend(frame.iter().copied());
                &self.scratch
            }
        };
        self.current.fill_from_rgb(rgb);
        let pixels = self.current.len().max(1) as f64;
        let saturation = self
            .current
            .saturation
            .iter()
            .map(|&s| u64::from(s))
            .sum::<u64>() as f64
            / pixels;
        let score = if self.has_previous {
            if self.previous.len() != self.current.len() {
                return Err(Error::Config(format!(
                    "content scorer: frame of {} pixels after frames of {}",
                    self.current.len(),
                    self.previous.len()
                )));
            }
            let grey = saturation < self.grey_saturation
                && self.previous_saturation < self.grey_saturation;
            Some(self.components_score(if grey {
                ComponentWeights::LUMA_ONLY
            } else {
                self.weights
            }))
        } else {
            None
        };
        std::mem::swap(&mut self.previous, &mut self.current);
        self.previous_saturation = saturation;
        self.has_previous = true;
        Ok(score)
    }

    fn components_score(&self, w: ComponentWeights) -> f64 {
        let pixels = self.current.len().max(1) as f64;
        let mut total = 0.0;
        // Components with zero weight are skipped, which is what makes luma-only scoring cheap.
        for (weight, a, b) in [
            (w.hue, &self.current.hue, &self.previous.hue),
            (
                w.saturation,
                &self.current.saturation,
                &self.previous.saturation,
            ),
            (w.luma, &self.current.value, &self.previous.value),
        ] {
            if weight != 0.0 {
                total += weight * sum_abs_diff(a, b) as f64 / pixels;
            }
        }
        total / (w.hue.abs() + w.saturation.abs() + w.luma.abs())
    }
}

/// Enforces a minimum shot length on a stream of above/below-threshold frames by merging cuts
/// that come too close together (PySceneDetect's "merge" flash filter).
///
/// A frame above the threshold far enough (`length` frames) from the last frame above it is a
/// cut. Once one cut was made, a frame above the threshold that comes too soon starts a burst
/// (a flash, a fast camera move): every frame above the threshold extends it, and the burst ends
/// with one cut at its last frame above the threshold, after `length` frames below it and
/// provided the burst itself lasted `length` frames. Bursts before the first cut make no cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinLengthFilter {
    length: u64,
    last_above: Option<u64>,
    first_cut_made: bool,
    burst_start: Option<u64>,
}

impl MinLengthFilter {
    /// A filter for shots of at least `length` frames (0 disables it: every frame above the
    /// threshold is a cut).
    pub fn new(length: u64) -> Self {
        Self {
            length,
            last_above: None,
            first_cut_made: false,
            burst_start: None,
        }
    }

    /// Feeds frame `index` (consecutive); returns the cut this frame decides, if any.
    pub fn push(&mut self, index: u64, above: bool) -> Option<u64> {
        if self.length == 0 {
            return above.then_some(index);
        }
        let last_above = *self.last_above.get_or_insert(index);
        let long_enough = index.saturating_sub(last_above) >= self.length;
        if above {
            self.last_above = Some(index);
        }
        let last_above = self.last_above.unwrap_or(index);
        if let Some(burst_start) = self.burst_start {
            if long_enough && !above && last_above.saturating_sub(burst_start) >= self.length {
                self.burst_start = None;
                return Some(last_above);
            }
            return None;
        }
        if !above {
            return None;
        }
        if long_enough {
            self.first_cut_made = true;
            return Some(index);
        }
        if self.first_cut_made {
            self.burst_start = Some(index);
        }
        None
    }
}

/// Settings of [`ContentDetector`]; the defaults are PySceneDetect's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentDetectorConfig {
    /// Score (mean HSV change, 0–255) at or above which a frame starts a new shot.
    pub threshold: f64,
    /// Minimum shot length in frames; closer cuts are merged.
    pub min_scene_len: u64,
    /// Component weights.
    pub weights: ComponentWeights,
    /// Frames are scaled so their longer side is this long (0: no scaling).
    pub long_side: u32,
    /// Frames with a lower mean saturation (0–255) are scored by luma alone (see the module
    /// documentation); 0: never (PySceneDetect's score everywhere).
    pub grey_saturation: f64,
}

impl Default for ContentDetectorConfig {
    fn default() -> Self {
        Self {
            threshold: 27.0,
            min_scene_len: 15,
            weights: ComponentWeights::default(),
            long_side: ANALYSIS_LONG_SIDE,
            grey_saturation: GREY_SATURATION,
        }
    }
}

/// Fixed-threshold content detector (see the module documentation).
#[derive(Debug, Clone)]
pub struct ContentDetector {
    config: ContentDetectorConfig,
    scorer: ContentScorer,
    filter: MinLengthFilter,
    next_index: u64,
    cuts: Vec<u64>,
    scores: Vec<f32>,
}

impl ContentDetector {
    /// A detector with `config`.
    pub fn new(config: ContentDetectorConfig) -> Result<Self> {
        if !config.threshold.is_finite() || config.threshold < 0.0 {
            return Err(Error::Config(format!(
                "content detector threshold must be finite and >= 0, found {}",
                config.threshold
            )));
        }
        Ok(Self {
            scorer: ContentScorer::new(config.weights)?
                .with_grey_saturation(config.grey_saturation)?,
            filter: MinLengthFilter::new(config.min_scene_len),
            config,
            next_index: 0,
            cuts: Vec::new(),
            scores: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ContentDetectorConfig {
        &self.config
    }

    /// Scores of the frames pushed so far (0 for the first frame).
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }
}

impl Default for ContentDetector {
    fn default() -> Self {
        let config = ContentDetectorConfig::default();
        Self {
            scorer: ContentScorer {
                grey_saturation: config.grey_saturation,
                ..ContentScorer::new(config.weights).unwrap_or_else(|_| unreachable!())
            },
            filter: MinLengthFilter::new(config.min_scene_len),
            config,
            next_index: 0,
            cuts: Vec::new(),
            scores: Vec::new(),
        }
    }
}

impl ShotDetector for ContentDetector {
    fn name(&self) -> &str {
        "content"
    }

    fn frame_size(&self, width: u32, height: u32) -> (u32, u32) {
        content_frame_size(width, height, self.config.long_side)
    }

    fn begin(&mut self, _fps: f64) -> Result<()> {
        self.scorer.reset();
        self.filter = MinLengthFilter::new(self.config.min_scene_len);
        self.next_index = 0;
        self.cuts.clear();
        self.scores.clear();
        Ok(())
    }

    fn push_frame(&mut self, frame: ArrayView3<'_, u8>) -> Result<()> {
        let index = self.next_index;
        self.next_index += 1;
        // The first frame scores 0 and is fed to the filter too, as PySceneDetect does.
        let score = self.scorer.score(frame)?.unwrap_or(0.0);
        self.scores.push(score as f32);
        if let Some(cut) = self.filter.push(index, score >= self.config.threshold) {
            self.cuts.push(cut);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<u64>> {
        Ok(std::mem::take(&mut self.cuts))
    }
}

/// Settings of [`AdaptiveDetector`]; the defaults are PySceneDetect's `AdaptiveDetector`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdaptiveDetectorConfig {
    /// A frame is a cut candidate when its score is this many times the mean of its neighbours'.
    pub adaptive_threshold: f64,
    /// ... and its own score is at least this.
    pub min_content_val: f64,
    /// Neighbours on each side that make the rolling mean.
    pub window_width: usize,
    /// Minimum distance in frames between cuts.
    pub min_scene_len: u64,
    /// Component weights.
    pub weights: ComponentWeights,
    /// Frames are scaled so their longer side is this long (0: no scaling).
    pub long_side: u32,
    /// Frames with a lower mean saturation (0–255) are scored by luma alone (see the module
    /// documentation); 0: never.
    pub grey_saturation: f64,
}

impl Default for AdaptiveDetectorConfig {
    fn default() -> Self {
        Self {
            adaptive_threshold: 3.0,
            min_content_val: 15.0,
            window_width: 2,
            min_scene_len: 15,
            weights: ComponentWeights::default(),
            long_side: ANALYSIS_LONG_SIDE,
            grey_saturation: GREY_SATURATION,
        }
    }
}

/// Content detector with a rolling threshold: a frame is a cut when its score stands out from
/// the mean of the `window_width` scores on each side of it (so the decision for frame `t` is
/// made once frame `t + window_width` arrived), as PySceneDetect's `AdaptiveDetector` decides:
/// ratio `score / mean` capped at 255 (255 when the mean is under 1e-5 and the score reaches
/// `min_content_val`, else 0), a cut where the ratio reaches `adaptive_threshold`, the score
/// `min_content_val`, and at least `min_scene_len` frames passed since the last cut (or the
/// first frame). Frames within `window_width` of either end are never cuts.
#[derive(Debug, Clone)]
pub struct AdaptiveDetector {
    config: AdaptiveDetectorConfig,
    scorer: ContentScorer,
    /// (frame index, score) of the last `2 * window_width + 1` scored frames.
    window: std::collections::VecDeque<(u64, f64)>,
    next_index: u64,
    last_cut: Option<u64>,
    cuts: Vec<u64>,
}

impl AdaptiveDetector {
    /// A detector with `config`.
    pub fn new(config: AdaptiveDetectorConfig) -> Result<Self> {
        if config.window_width == 0 {
            return Err(Error::Config(
                "adaptive detector window_width must be at least 1, found 0".into(),
            ));
        }
        if !(config.adaptive_threshold.is_finite() && config.min_content_val.is_finite()) {
            return Err(Error::Config(format!(
                "adaptive detector thresholds must be finite, found {} and {}",
                config.adaptive_threshold, config.min_content_val
            )));
        }
        Ok(Self {
            scorer: ContentScorer::new(config.weights)?
                .with_grey_saturation(config.grey_saturation)?,
            window: std::collections::VecDeque::with_capacity(2 * config.window_width + 1),
            config,
            next_index: 0,
            last_cut: None,
            cuts: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AdaptiveDetectorConfig {
        &self.config
    }
}

impl ShotDetector for AdaptiveDetector {
    fn name(&self) -> &str {
        "adaptive"
    }

    fn frame_size(&self, width: u32, height: u32) -> (u32, u32) {
        content_frame_size(width, height, self.config.long_side)
    }

    fn begin(&mut self, _fps: f64) -> Result<()> {
        self.scorer.reset();
        self.window.clear();
        self.next_index = 0;
        self.last_cut = None;
        self.cuts.clear();
        Ok(())
    }

    fn push_frame(&mut self, frame: ArrayView3<'_, u8>) -> Result<()> {
        let index = self.next_index;
        self.next_index += 1;
        // The first frame scores 0 and enters the window, as in PySceneDetect 0.7.
        let score = self.scorer.score(frame)?.unwrap_or(0.0);
        let last_cut = *self.last_cut.get_or_insert(index);
        let width = self.config.window_width;
        if self.window.len() == 2 * width + 1 {
            self.window.pop_front();
        }
        self.window.push_back((index, score));
        if self.window.len() < 2 * width + 1 {
            return Ok(());
        }
        let (target, target_score) = self.window[width];
        let neighbours: f64 = self
            .window
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != width)
            .map(|(_, (_, s))| s)
            .sum();
        let mean = neighbours / (2 * width) as f64;
        let ratio = if mean.abs() >= 1e-5 {
            (target_score / mean).min(255.0)
        } else if target_score >= self.config.min_content_val {
            255.0
        } else {
            0.0
        };
        let stands_out =
            ratio >= self.config.adaptive_threshold && target_score >= self.config.min_content_val;
        if stands_out && target.saturating_sub(last_cut) >= self.config.min_scene_len {
            self.last_cut = Some(target);
            self.cuts.push(target);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<u64>> {
        Ok(std::mem::take(&mut self.cuts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_size_follows_the_long_side_rule() {
        assert_eq!(content_frame_size(640, 272, 256), (256, 109));
        assert_eq!(content_frame_size(1280, 720, 256), (256, 144));
        assert_eq!(content_frame_size(1920, 1080, 256), (256, 144));
        assert_eq!(content_frame_size(176, 144, 256), (176, 144));
        assert_eq!(content_frame_size(720, 1280, 256), (144, 256));
        // 250 / (500 / 256) = 128.0; 330 / (500 / 256) = 168.96.
        assert_eq!(content_frame_size(500, 330, 256), (256, 169));
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
    }

    fn run_filter(length: u64, above: &[u64], frames: u64) -> Vec<u64> {
        let mut filter = MinLengthFilter::new(length);
        (1..frames)
            .filter_map(|i| filter.push(i, above.contains(&i)))
            .collect()
    }

    #[test]
    fn min_length_filter_merges_close_cuts() {
        // Isolated cuts far apart all pass.
        assert_eq!(run_filter(15, &[30, 76, 137], 200), vec![30, 76, 137]);
        // A cut within 15 frames of the start is dropped (no merging before the first cut).
        assert_eq!(run_filter(15, &[5, 40], 100), vec![40]);
        // A burst after the first cut is merged into one cut at its last frame above the threshold,
        // once it lasted 15 frames and 15 calm frames followed.
        assert_eq!(run_filter(15, &[20, 30, 40, 50], 200), vec![20, 50]);
        // A short burst that never lasts 15 frames makes no cut.
        assert_eq!(run_filter(15, &[20, 30], 200), vec![20]);
        // Disabled: every frame above the threshold.
        assert_eq!(run_filter(0, &[3, 4], 10), vec![3, 4]);
    }

    fn flat_frame(value: [u8; 3]) -> ndarray::Array3<u8> {
        let mut frame = ndarray::Array3::zeros((8, 8, 3));
        for mut pixel in frame.lanes_mut(ndarray::Axis(2)) {
            pixel.assign(&ndarray::arr1(&value));
        }
        frame
    }

    #[test]
    fn content_detector_cuts_where_colour_jumps() {
        let mut detector = ContentDetector::default();
        detector.begin(25.0).unwrap();
        let dark = flat_frame([10, 10, 10]);
        let red = flat_frame([200, 20, 20]);
        for i in 0..60 {
            let frame = if (20..40).contains(&i) { &red } else { &dark };
            detector.push_frame(frame.view()).unwrap();
        }
        assert_eq!(detector.finish().unwrap(), vec![20, 40]);
        // Red vs dark: hue 0 vs 0, saturation 230 vs 0, value 200 vs 10: (0 + 230 + 190) / 3 = 140.
        assert!(
            (detector.scores()[20] - 140.0).abs() < 1.0,
            "{}",
            detector.scores()[20]
        );
    }

    #[test]
    fn adaptive_detector_ignores_steady_change_but_finds_the_jump() {
        // Frames 0..30 flicker between two greys (score 30 on every frame, like fast motion), then
        // a steady red shot starts at frame 30.
        let frames: Vec<_> = (0..60)
            .map(|i| match i {
                0..30 if i % 2 == 0 => flat_frame([10, 10, 10]),
                0..30 => flat_frame([100, 100, 100]),
                _ => flat_frame([200, 20, 20]),
            })
            .collect();
        // Grey flicker would be scored by luma alone (90 instead of 30); this test is about the
        // rolling threshold, so the grey rule is off.
        let mut adaptive = AdaptiveDetector::new(AdaptiveDetectorConfig {
            grey_saturation: 0.0,
            ..AdaptiveDetectorConfig::default()
        })
        .unwrap();
        let mut content = ContentDetector::new(ContentDetectorConfig {
            grey_saturation: 0.0,
            ..ContentDetectorConfig::default()
        })
        .unwrap();
        adaptive.begin(25.0).unwrap();
        content.begin(25.0).unwrap();
        for frame in &frames {
            adaptive.push_frame(frame.view()).unwrap();
            content.push_frame(frame.view()).unwrap();
        }
        assert_eq!(adaptive.finish().unwrap(), vec![30]);
        // The fixed threshold sees every flicker frame above 27, never 15 frames apart: no cut.
        assert_eq!(content.finish().unwrap(), Vec::<u64>::new());
    }

    fn run_content(config: ContentDetectorConfig, frames: &[ndarray::Array3<u8>]) -> Vec<u64> {
        let mut detector = ContentDetector::new(config).unwrap();
        detector.begin(25.0).unwrap();
        for frame in frames {
            detector.push_frame(frame.view()).unwrap();
        }
        detector.finish().unwrap()
    }

    #[test]
    fn grey_cuts_are_scored_by_luma() {
        // Two grey shots 60 levels apart: PySceneDetect's score is 60 / 3 = 20 < 27 (no cut);
        // by luma alone it is 60.
        let frames: Vec<_> = (0..60)
            .map(|i| flat_frame(if i < 30 { [40; 3] } else { [100; 3] }))
            .collect();
        assert_eq!(
            run_content(ContentDetectorConfig::default(), &frames),
            vec![30]
        );
        let pyscenedetect = ContentDetectorConfig {
            grey_saturation: 0.0,
            ..ContentDetectorConfig::default()
        };
        assert_eq!(run_content(pyscenedetect, &frames), Vec::<u64>::new());
        // Near-grey (mean saturation 255 * 4 / 44 = 23 for the first shot): colour rules apply.
        let tinted: Vec<_> = (0..60)
            .map(|i| {
                flat_frame(if i < 30 {
                    [44, 40, 40]
                } else {
                    [104, 100, 100]
                })
            })
            .collect();
        assert_eq!(
            run_content(ContentDetectorConfig::default(), &tinted),
            Vec::<u64>::new()
        );
        let mut adaptive = AdaptiveDetector::new(AdaptiveDetectorConfig::default()).unwrap();
        adaptive.begin(25.0).unwrap();
        for frame in &frames {
            adaptive.push_frame(frame.view()).unwrap();
        }
        assert_eq!(adaptive.finish().unwrap(), vec![30]);
        assert!(
            ContentScorer::new(ComponentWeights::default())
                .unwrap()
                .with_grey_saturation(-1.0)
                .is_err()
        );
    }

    #[test]
    fn the_first_frame_counts_for_the_minimum_length() {
        // PySceneDetect 0.7 scores frame 0 as 0 and measures the minimum length from it: a cut
        // at frame 15 is allowed, one at frame 14 is not.
        for (cut, expected) in [(15u64, vec![15u64]), (14, vec![])] {
            let frames: Vec<_> = (0..40)
                .map(|i| flat_frame(if i < cut { [10, 10, 10] } else { [200, 20, 20] }))
                .collect();
            assert_eq!(
                run_content(ContentDetectorConfig::default(), &frames),
                expected,
                "cut at {cut}"
            );
        }
    }
}
