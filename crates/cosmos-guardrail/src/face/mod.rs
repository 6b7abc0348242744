//! Face detection and pixelation, the post-generation privacy guard.
//!
//! [`FaceDetector`] finds faces in RGB frames; two real detectors are provided:
//! - [`RetinaFaceDetector`]: RetinaFace with a ResNet-50 backbone, the reference's detector
//!   (weights `Resnet50_Final.pth`, a PyTorch state dict; not shipped).
//! - [`Mtcnn`]: the three-stage cascade of Zhang et al. (2016) with facenet-pytorch's trained
//!   weights, shipped with the crate (`weights/mtcnn/`, MIT) and compiled into it.
//!
//! [`FacePixelator`] runs a detector and pixelates every face of at least 20×20 pixels the way
//! the reference does: the face region is shrunk to 5×5 with bilinear interpolation and blown
//! back up with nearest-neighbour interpolation (OpenCV `INTER_LINEAR` then `INTER_NEAREST`).

mod image;
pub mod mtcnn;
pub mod nms;
mod pixelate;
pub mod retinaface;

use ndarray::{Array4, ArrayView3, ArrayView4, Axis};
use serde::{Deserialize, Serialize};

pub use mtcnn::{Mtcnn, MtcnnConfig};
pub use nms::{Overlap, nms};
pub use pixelate::pixelate_region;
pub use retinaface::{RetinaFace, RetinaFaceConfig, RetinaFaceDetector};

use crate::error::{Error, Result};
use crate::guard::{FramePostprocessor, PostprocessReport};

/// A detected face: corners in pixels (`x2`, `y2` exclusive as the reference treats them) and
/// the detector's confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
    /// Confidence in [0, 1].
    pub score: f32,
}

impl FaceBox {
    /// Width in pixels.
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    /// Height in pixels.
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    /// Centre `(x, y)`.
    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// Intersection over union with another box (continuous areas).
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.width() * self.height() + other.width() * other.height() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// The box's integer corners as the reference takes them (`int()` truncation toward zero).
    pub fn corners(&self) -> [i64; 4] {
        [
            self.x1 as i64,
            self.y1 as i64,
            self.x2 as i64,
            self.y2 as i64,
        ]
    }
}

/// Finds faces in RGB frames.
pub trait FaceDetector {
    /// Short name (`retinaface`, `mtcnn`).
    fn name(&self) -> &str;

    /// Faces in each of `[T, H, W, 3]` RGB frames.
    fn detect_frames(&self, frames: ArrayView4<'_, u8>) -> Result<Vec<Vec<FaceBox>>>;

    /// Faces in one `[H, W, 3]` RGB image.
    fn detect(&self, image: ArrayView3<'_, u8>) -> Result<Vec<FaceBox>> {
        let frames = image.insert_axis(Axis(0));
        Ok(self.detect_frames(frames)?.pop().unwrap_or_default())
    }
}

impl<D: FaceDetector + ?Sized> FaceDetector for Box<D> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn detect_frames(&self, frames: ArrayView4<'_, u8>) -> Result<Vec<Vec<FaceBox>>> {
        (**self).detect_frames(frames)
    }
}

/// Checks `[T, H, W, 3]` frames with non-zero sizes.
pub(crate) fn check_frames(what: &'static str, shape: &[usize]) -> Result<()> {
    if shape.len() != 4 || shape[3] != 3 || shape[1] == 0 || shape[2] == 0 {
        return Err(Error::Shape {
            what,
            expected: "[T, H, W, 3] RGB frames with H, W > 0".into(),
            found: shape.to_vec(),
        });
    }
    Ok(())
}

/// Pixelates the faces a detector finds (the reference's face blur filter).
pub struct FacePixelator<D> {
    detector: D,
    /// Faces narrower or shorter than this (in whole pixels) are left alone (reference: 20×20).
    pub min_size: [usize; 2],
    /// Blocks per side of a pixelated face (reference: 5).
    pub blocks: usize,
}

impl<D: FaceDetector> FacePixelator<D> {
    /// The reference's settings: faces of at least 20×20 pixels, 5×5 blocks.
    pub fn new(detector: D) -> Self {
        Self {
            detector,
            min_size: [20, 20],
            blocks: 5,
        }
    }

    /// The detector.
    pub fn detector(&self) -> &D {
        &self.detector
    }

    /// Pixelates the given boxes in `frames` (one list per frame) and returns the regions
    /// changed. Boxes below [`min_size`](Self::min_size) or outside the frame are skipped.
    pub fn pixelate_boxes(
        &self,
        frames: &mut Array4<u8>,
        boxes: &[Vec<FaceBox>],
    ) -> Result<PostprocessReport> {
        check_frames("FacePixelator frames", frames.shape())?;
        if boxes.len() != frames.len_of(Axis(0)) {
            return Err(Error::InvalidArgument(format!(
                "{} box lists for {} frames",
                boxes.len(),
                frames.len_of(Axis(0))
            )));
        }
        let (height, width) = (frames.shape()[1] as i64, frames.shape()[2] as i64);
        let mut report = PostprocessReport::default();
        for (mut frame, faces) in frames.outer_iter_mut().zip(boxes) {
            let mut regions = Vec::new();
            for face in faces {
                let [x1, y1, x2, y2] = face.corners();
                if x2 - x1 < self.min_size[0] as i64 || y2 - y1 < self.min_size[1] as i64 {
                    continue;
                }
                let (left, top) = (x1.max(0), y1.max(0));
                let (right, bottom) = (x2.min(width), y2.min(height));
                if right <= left || bottom <= top {
                    continue;
                }
                let region = [left as usize, top as usize, right as usize, bottom as usize];
                pixelate_region(frame.view_mut(), region, self.blocks)?;
                regions.push(region);
            }
            report.regions.push(regions);
        }
        Ok(report)
    }
}

impl<D: FaceDetector> FramePostprocessor for FacePixelator<D> {
    fn name(&self) -> &str {
        "face pixelation"
    }

    fn process(&self, frames: &mut Array4<u8>) -> Result<PostprocessReport> {
        check_frames("FacePixelator frames", frames.shape())?;
        let boxes = self.detector.detect_frames(frames.view())?;
        self.pixelate_boxes(frames, &boxes)
    }
}
