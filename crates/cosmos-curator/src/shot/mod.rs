//! Shot (scene) boundary detection.
//!
//! A [`ShotDetector`] is fed a video's frames one at a time, at a size it chooses, and returns
//! the frames where a new shot starts. Built in: [`ContentDetector`] (PySceneDetect's HSV
//! content-change detector) and [`AdaptiveDetector`] (its rolling-threshold variant). Model-based
//! detectors such as TransNetV2 (cosmos-curate's default, on 48x27 frames in windows of 100)
//! implement the same trait and buffer frames internally.
//!
//! [`detect_shots`] decodes a file straight to the detector's frame size and returns the shots.

mod content;
pub mod hsv;

use std::path::Path;

use cosmos_media::{ReadOptions, ScaleFilter, SkipLoopFilter};
use ndarray::ArrayView3;
use serde::{Deserialize, Serialize};

pub use content::{
    ANALYSIS_LONG_SIDE, AdaptiveDetector, AdaptiveDetectorConfig, ComponentWeights,
    ContentDetector, ContentDetectorConfig, ContentScorer, MinLengthFilter, content_frame_size,
};

use crate::error::{Error, Result};

/// A shot detector: frames in, cut positions out.
///
/// The caller calls [`begin`](ShotDetector::begin), then [`push_frame`](ShotDetector::push_frame)
/// once per frame of the video in order (frame 0 first, none skipped), then
/// [`finish`](ShotDetector::finish). A detector can be reused for the next video after `finish`.
pub trait ShotDetector {
    /// Short name recorded in the manifest (`content`, `adaptive`, `transnetv2`, ...).
    fn name(&self) -> &str;

    /// Size `(width, height)` of the RGB frames this detector wants for a `width` x `height`
    /// source.
    fn frame_size(&self, width: u32, height: u32) -> (u32, u32);

    /// Starts a new video of `fps` frames per second.
    fn begin(&mut self, fps: f64) -> Result<()>;

    /// Feeds the next frame, `[H, W, 3]` RGB at [`frame_size`](ShotDetector::frame_size).
    fn push_frame(&mut self, frame: ArrayView3<'_, u8>) -> Result<()>;

    /// Ends the video; returns the indices of the frames that start a new shot, ascending, each
    /// greater than 0.
    fn finish(&mut self) -> Result<Vec<u64>>;
}

/// A run of frames `[start_frame, end_frame)` between two cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shot {
    /// First frame of the shot.
    pub start_frame: u64,
    /// One past the last frame of the shot.
    pub end_frame: u64,
}

impl Shot {
    /// Number of frames.
    pub fn len(&self) -> u64 {
        self.end_frame - self.start_frame
    }

    /// True for a shot with no frame.
    pub fn is_empty(&self) -> bool {
        self.end_frame <= self.start_frame
    }
}

/// Turns cut positions into shots covering `[0, frame_count)`. Cuts outside `1..frame_count`
/// and repeated cuts are ignored; no cut gives one shot.
pub fn shots_from_cuts(cuts: &[u64], frame_count: u64) -> Vec<Shot> {
    let mut bounds: Vec<u64> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < frame_count)
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut shots = Vec::with_capacity(bounds.len() + 1);
    let mut start = 0;
    for cut in bounds.into_iter().chain(std::iter::once(frame_count)) {
        if cut > start {
            shots.push(Shot {
                start_frame: start,
                end_frame: cut,
            });
            start = cut;
        }
    }
    shots
}

/// Shots of one video as [`detect_shots`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct ShotList {
    /// The shots, in order, covering every decoded frame.
    pub shots: Vec<Shot>,
    /// Frames decoded.
    pub frame_count: u64,
    /// Frames per second of the source.
    pub fps: f64,
}

/// Decoder settings of the curator's analysis pass: frames scaled by swscale's area filter
/// straight to `size` (every source pixel counts, which the sharpness, motion and text
/// statistics rely on), H.264 deblocking skipped (the frames are only compared with each other
/// after a 2.5x or larger downscale, where the filter's effect is invisible), MP4 headers
/// trusted instead of probed by decoding (`quick_open`), one decoder thread per core, and
/// files whose index lists several keyframes decoded as keyframe-delimited segments in
/// parallel ([`cosmos_media::ParallelFrameReader`]); the savings are in docs/performance.md.
pub fn analysis_read_options(size: (u32, u32)) -> ReadOptions {
    ReadOptions {
        skip_loop_filter: SkipLoopFilter::All,
        quick_open: true,
        threads: cores(),
        ..ReadOptions::default().resize(size.0, size.1).keep_damaged()
    }
}

/// Decoder settings of [`detect_shots`]: those of [`analysis_read_options`] (deblocking skipped
/// on every frame), with the frames scaled the way PySceneDetect scales them:
/// [`ScaleFilter::Linear`], OpenCV's bilinear resize of the RGB frame reproduced from the YUV
/// planes without swscale (half the cost of swscale's fast bilinear filter, and within 0.4
/// levels of OpenCV's downscaled frames on average instead of 4.9, with deblocking).
///
/// Skipping deblocking on reference frames lets small differences build up until the next
/// keyframe: on bikes.mp4 the scores move up to 2.3 from PySceneDetect's (0.9 with
/// [`SkipLoopFilter::NonReference`]), with the same cut list. Where scores must follow
/// PySceneDetect's closely, pass these options with `skip_loop_filter` set to
/// [`SkipLoopFilter::NonReference`] (or `Never`) to [`detect_shots_with`]; it costs up to a
/// third more decoding on streams without B-frames.
pub fn detection_read_options(size: (u32, u32)) -> ReadOptions {
    analysis_read_options(size).scale_filter(ScaleFilter::Linear)
}

/// Decoder settings that give exactly the frames PySceneDetect 0.7 scores (OpenCV backend):
/// every frame decoded with its deblocking filter, converted to BGR at full size by swscale as
/// OpenCV asks for it, and resized by OpenCV's bilinear `INTER_LINEAR` reproduced bit for bit
/// ([`ScaleFilter::OpenCv`]). With these, [`ContentDetector`] and [`AdaptiveDetector`] compute
/// PySceneDetect's scores to the last digit on bikes.mp4 (its statistics file) and so its cut
/// frames. About twice the decoding cost of [`detection_read_options`]; `cosmos shots` uses them.
pub fn pyscenedetect_read_options(size: (u32, u32)) -> ReadOptions {
    ReadOptions {
        skip_loop_filter: SkipLoopFilter::Never,
        ..analysis_read_options(size).scale_filter(ScaleFilter::OpenCv)
    }
}

/// Decoder threads: one per core (FFmpeg's `auto` starts one more than there are cores, which
/// measured slower on 2 cores).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Decodes `path` at the detector's frame size and runs the detector over every frame (the file
/// is opened once; see [`detection_read_options`] for how it is decoded).
///
/// Damaged files are read as far as they decode.
pub fn detect_shots(path: impl AsRef<Path>, detector: &mut dyn ShotDetector) -> Result<ShotList> {
    detect_shots_with(path, detector, &detection_read_options((1, 1)))
}

/// [`detect_shots`] with other decoder settings (`options.resize` is replaced by the detector's
/// frame size; start, stride and frame count are ignored: every frame is scored).
pub fn detect_shots_with(
    path: impl AsRef<Path>,
    detector: &mut dyn ShotDetector,
    options: &ReadOptions,
) -> Result<ShotList> {
    let path = path.as_ref();
    // Both callbacks drive the detector, one after the other on this thread.
    let shared = std::cell::RefCell::new(detector);
    let mut options = ReadOptions {
        start: 0,
        stride: 1,
        max_frames: None,
        ..options.clone()
    };
    let streamed = loop {
        let result = crate::stream::for_each_frame_with(
            path,
            &options,
            &mut |info| {
                let mut detector = shared.borrow_mut();
                detector.begin(info.fps)?;
                Ok(Some(detector.frame_size(info.width, info.height)))
            },
            &mut |frame| shared.borrow_mut().push_frame(frame),
        );
        match result {
            // Parallel segments failed (an odd index): once more with one decoder, from the
            // start (`begin` resets the detector).
            Err(Error::Media(error)) if error.is_segment_failure() && options.threads != 1 => {
                options.threads = 1;
            }
            other => break other?,
        }
    };
    let detector = shared.into_inner();
    let fps = streamed.info.fps;
    if streamed.frames == 0 {
        return Err(Error::Input {
            path: path.to_path_buf(),
            reason: "the video decoded to no frame".into(),
        });
    }
    let cuts = detector.finish()?;
    Ok(ShotList {
        shots: shots_from_cuts(&cuts, streamed.frames),
        frame_count: streamed.frames,
        fps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shots_cover_the_video() {
        let shots = shots_from_cuts(&[30, 76, 76, 0, 300], 100);
        assert_eq!(
            shots,
            vec![
                Shot {
                    start_frame: 0,
                    end_frame: 30
                },
                Shot {
                    start_frame: 30,
                    end_frame: 76
                },
                Shot {
                    start_frame: 76,
                    end_frame: 100
                }
            ]
        );
        assert_eq!(
            shots_from_cuts(&[], 5),
            vec![Shot {
                start_frame: 0,
                end_frame: 5
            }]
        );
        assert!(shots_from_cuts(&[], 0).is_empty());
    }
}
