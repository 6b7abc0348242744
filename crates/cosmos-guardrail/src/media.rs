//! Video files in and out for the face pixelation guard (FFmpeg through `cosmos-media`):
//! frames are decoded, pixelated and encoded in chunks, so long videos need little memory.

use std::path::Path;

use cosmos_media::{FrameReader, ReadOptions, VideoWriter, WriteOptions};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::face::{FaceBox, FaceDetector, FacePixelator};
use crate::guard::PostprocessReport;

/// What pixelating a video file did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceVideoReport {
    /// The detector used.
    pub detector: String,
    /// Frames read and written.
    pub frame_count: usize,
    /// Frame rate of input and output.
    pub fps: f64,
    /// Frame size `(width, height)`.
    pub size: (usize, usize),
    /// Faces found per frame.
    pub faces: Vec<Vec<FaceBox>>,
    /// Regions pixelated per frame, `[x1, y1, x2, y2]` end-exclusive.
    pub regions: Vec<Vec<[usize; 4]>>,
}

#[derive(Serialize)]
struct FrameFaces {
    frame: usize,
    boxes: Vec<[i64; 4]>,
    scores: Vec<f32>,
    pixelated: Vec<[usize; 4]>,
}

#[derive(Serialize)]
struct FacesJson<'a> {
    detector: &'a str,
    frame_count: usize,
    fps: f64,
    width: usize,
    height: usize,
    frames: Vec<FrameFaces>,
}

impl FaceVideoReport {
    /// Number of faces found over all frames.
    pub fn face_count(&self) -> usize {
        self.faces.iter().map(Vec::len).sum()
    }

    /// Frames with at least one face.
    pub fn frames_with_faces(&self) -> usize {
        self.faces.iter().filter(|f| !f.is_empty()).count()
    }

    /// The faces as JSON: `{"frames": [{"frame": i, "boxes": [[x1, y1, x2, y2], ...],
    /// "scores": [...], "pixelated": [[x1, y1, x2, y2], ...]}, ...], "detector", "fps",
    /// "frame_count", "width", "height"}`. Boxes are the detector's, truncated to integers as
    /// the reference does; `pixelated` lists the regions changed (faces of at least 20×20
    /// pixels, clipped to the frame). Every frame has an entry.
    pub fn to_json(&self) -> serde_json::Value {
        let frames = self
            .faces
            .iter()
            .zip(&self.regions)
            .enumerate()
            .map(|(frame, (faces, regions))| FrameFaces {
                frame,
                boxes: faces.iter().map(FaceBox::corners).collect(),
                scores: faces.iter().map(|f| f.score).collect(),
                pixelated: regions.clone(),
            })
            .collect();
        serde_json::to_value(FacesJson {
            detector: &self.detector,
            frame_count: self.frame_count,
            fps: self.fps,
            width: self.size.0,
            height: self.size.1,
            frames,
        })
        .unwrap_or(serde_json::Value::Null)
    }

    /// [`to_json`](Self::to_json) as pretty-printed text.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(&self.to_json()).unwrap_or_default()
    }
}

/// Reads `input`, pixelates the faces `pixelator` finds and writes `output` (H.264 MP4, same
/// frame count and fps; odd sizes are padded by one pixel). Frames are processed `chunk` at a
/// time.
pub fn pixelate_video_file<D: FaceDetector>(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    pixelator: &FacePixelator<D>,
    chunk: usize,
) -> Result<FaceVideoReport> {
    let (input, output) = (input.as_ref(), output.as_ref());
    let mut reader = FrameReader::open(input, &ReadOptions::default())?;
    let fps = reader.fps();
    let mut writer: Option<VideoWriter> = None;
    let mut report = FaceVideoReport {
        detector: pixelator.detector().name().to_string(),
        frame_count: 0,
        fps,
        size: (0, 0),
        faces: Vec::new(),
        regions: Vec::new(),
    };
    while let Some(video) = reader.next_chunk(chunk.max(1))? {
        let (w, h) = (video.width(), video.height());
        if w == 0 || h == 0 {
            return Err(Error::Shape {
                what: "decoded video frames",
                expected: "frames with a non-zero width and height".into(),
                found: video.frames.shape().to_vec(),
            });
        }
        let mut frames = video.frames;
        let faces = pixelator.detector().detect_frames(frames.view())?;
        let PostprocessReport { regions } = pixelator.pixelate_boxes(&mut frames, &faces)?;
        if writer.is_none() {
            let options = WriteOptions {
                pad_to_even: true,
                ..WriteOptions::default()
            };
            writer = Some(VideoWriter::create(output, w, h, fps, &options)?);
            report.size = (w, h);
        }
        let writer = writer.as_mut().expect("created above");
        for frame in frames.outer_iter() {
            writer.write_frame(frame)?;
        }
        report.frame_count += frames.shape()[0];
        report.faces.extend(faces);
        report.regions.extend(regions);
    }
    match writer {
        Some(w) => w.finish()?,
        None => {
            return Err(Error::InvalidArgument(format!(
                "{}: the video has no frames",
                input.display()
            )));
        }
    }
    Ok(report)
}
