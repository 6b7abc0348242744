//! The analysis pass: one decode of a whole video at a small size (the content detector's,
//! longer side 256), feeding the shot detector and computing every per-frame statistic the
//! filters and the built-in embedder need. Only these statistics are kept (about 200 bytes per
//! frame), never the frames, so memory stays bounded by the video's length in frames, not its
//! pixels.

pub mod features;
pub mod motion;

use std::path::{Path, PathBuf};

use cosmos_media::{ResizeFilter, VideoInfo, resize_image};
use ndarray::ArrayView3;

pub use features::{FrameFeatures, TEXT_BLOCK};
pub use motion::{GlobalMotion, Luma};

use crate::error::{Error, Result};
use crate::shot::{
    ANALYSIS_LONG_SIDE, Shot, ShotDetector, analysis_read_options, content_frame_size,
    shots_from_cuts,
};
use crate::stream::for_each_frame_with;

/// Everything the analysis pass learned about one video.
#[derive(Debug, Clone)]
pub struct VideoAnalysis {
    /// The file analysed.
    pub path: PathBuf,
    /// What the container says about it.
    pub info: VideoInfo,
    /// `(width, height)` of the analysis frames.
    pub frame_size: (u32, u32),
    /// Statistics of every decoded frame, in order.
    pub frames: Vec<FrameFeatures>,
    /// `(columns, rows)` of the overlay-text block map.
    pub text_grid: (usize, usize),
    text_words: usize,
    text_bits: Vec<u64>,
    /// Frames where the shot detector placed a cut.
    pub cuts: Vec<u64>,
    /// The shots those cuts make.
    pub shots: Vec<Shot>,
    /// The shot detector's name.
    pub detector: String,
    /// The decoder's damage report when the file was damaged but partly decodable.
    pub damage: Option<String>,
}

impl VideoAnalysis {
    /// Number of frames decoded.
    pub fn frame_count(&self) -> u64 {
        self.frames.len() as u64
    }

    /// Frames per second of the source.
    pub fn fps(&self) -> f64 {
        self.info.fps
    }

    /// Overlay-text block bits of frame `index` (row-major over [`VideoAnalysis::text_grid`]).
    pub fn text_bits(&self, index: usize) -> &[u64] {
        let start = index * self.text_words;
        self.text_bits
            .get(start..start + self.text_words)
            .unwrap_or(&[])
    }
}

/// Incremental per-frame analysis, for callers that decode themselves.
#[derive(Debug)]
pub struct FrameAnalyzer {
    width: usize,
    height: usize,
    text_words: usize,
    previous: Option<(Luma, Luma)>,
    luma_buffer: Vec<u8>,
    frames: Vec<FrameFeatures>,
    text_bits: Vec<u64>,
}

impl FrameAnalyzer {
    /// An analyzer for `width` x `height` RGB frames.
    pub fn new(width: usize, height: usize) -> Self {
        let (columns, rows) = features::text_grid(width, height);
        Self {
            width,
            height,
            text_words: (columns * rows).div_ceil(64),
            previous: None,
            luma_buffer: Vec::new(),
            frames: Vec::new(),
            text_bits: Vec::new(),
        }
    }

    /// Adds the next frame (`[H, W, 3]` RGB at the analyzer's size).
    pub fn push(&mut self, frame: ArrayView3<'_, u8>) -> Result<()> {
        if frame.dim() != (self.height, self.width, 3) {
            return Err(Error::Config(format!(
                "frame analyzer: expected frames of shape [{}, {}, 3], found {:?}",
                self.height,
                self.width,
                frame.shape()
            )));
        }
        let owned;
        let rgb = match frame.as_slice() {
            Some(slice) => slice,
            None => {
                owned = frame.iter().copied().collect::<Vec<u8>>();
                &owned
            }
        };
        features::rgb_to_luma(rgb, &mut self.luma_buffer);
        let luma = Luma {
            width: self.width,
            height: self.height,
            pixels: std::mem::take(&mut self.luma_buffer),
        };
        let half = luma.half();
        let mut frame_features = features::still_features(rgb, &luma);
        let start = self.text_bits.len();
        self.text_bits.resize(start + self.text_words, 0);
        features::text_blocks(
            &luma,
            self.previous.as_ref().map(|(l, _)| l),
            &mut self.text_bits[start..],
        );
        if let Some((previous, previous_half)) = &self.previous {
            frame_features.change = features::mean_change(previous, &luma);
            frame_features.motion = motion::estimate(previous, previous_half, &luma, &half);
        }
        self.frames.push(frame_features);
        // Recycle the oldest luma buffer for the next frame.
        if let Some((old, _)) = self.previous.replace((luma, half)) {
            self.luma_buffer = old.pixels;
        }
        Ok(())
    }

    /// Frames analysed so far.
    pub fn frames(&self) -> &[FrameFeatures] {
        &self.frames
    }
}

/// Decodes `path` once and runs `detector` and the per-frame statistics over every frame.
/// `on_frame` is called after each frame with the number of frames done (for progress).
///
/// Files that open but are damaged are analysed as far as they decode, with
/// [`VideoAnalysis::damage`] set; files that do not open, or decode to no frame, are errors.
pub fn analyse_video(
    path: &Path,
    detector: &mut dyn ShotDetector,
    on_frame: &mut dyn FnMut(u64),
) -> Result<VideoAnalysis> {
    let detector_size = std::cell::Cell::new((0, 0));
    // Both callbacks drive the detector, one after the other on this thread.
    let shared = std::cell::RefCell::new(detector);
    // Created at the first frame, whose size may differ from the one asked for when the
    // stream's first frame differs from the container's declared size.
    let mut analyzer: Option<FrameAnalyzer>;
    let mut count: u64;
    let mut setup = |info: &VideoInfo| -> Result<Option<(u32, u32)>> {
        let mut detector = shared.borrow_mut();
        detector_size.set(detector.frame_size(info.width, info.height));
        detector.begin(info.fps)?;
        Ok(Some(content_frame_size(
            info.width,
            info.height,
            ANALYSIS_LONG_SIDE,
        )))
    };
    let mut options = analysis_read_options((1, 1));
    let streamed = loop {
        analyzer = None;
        count = 0;
        let result = for_each_frame_with(path, &options, &mut setup, &mut |pixels| {
            let (height, width, _) = pixels.dim();
            analyzer
                .get_or_insert_with(|| FrameAnalyzer::new(width, height))
                .push(pixels)?;
            let detector_size = detector_size.get();
            let mut detector = shared.borrow_mut();
            if detector_size == (width as u32, height as u32) {
                detector.push_frame(pixels)?;
            } else {
                let resized = resize_image(
                    pixels,
                    detector_size.0 as usize,
                    detector_size.1 as usize,
                    ResizeFilter::Bilinear,
                )?;
                detector.push_frame(resized.view())?;
            }
            count += 1;
            on_frame(count);
            Ok(())
        });
        match result {
            // Parallel segments failed (an odd index): once more with one decoder, from the
            // start (`setup` begins the detector again).
            Err(Error::Media(error)) if error.is_segment_failure() && options.threads != 1 => {
                options.threads = 1;
            }
            other => break other?,
        }
    };
    let detector = shared.into_inner();
    if streamed.frames == 0 {
        return Err(Error::Input {
            path: path.to_path_buf(),
            reason: "the video decoded to no frame".into(),
        });
    }
    let (width, height) = streamed.size;
    let analyzer = analyzer.unwrap_or_else(|| FrameAnalyzer::new(width as usize, height as usize));
    let cuts = detector.finish()?;
    let damage = streamed.damage;
    let (columns, rows) = features::text_grid(width as usize, height as usize);
    Ok(VideoAnalysis {
        path: path.to_path_buf(),
        shots: shots_from_cuts(&cuts, streamed.frames),
        cuts,
        detector: detector.name().to_string(),
        info: streamed.info,
        frame_size: (width, height),
        frames: analyzer.frames,
        text_grid: (columns, rows),
        text_words: analyzer.text_words,
        text_bits: analyzer.text_bits,
        damage,
    })
}
