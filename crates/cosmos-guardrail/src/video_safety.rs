//! Video content safety: a classifier judges sampled frames; a video is unsafe as soon as one
//! frame is.
//!
//! The reference embeds each frame with SigLIP so400m-patch14-384 (1152-d image features,
//! L2-normalised) and classifies the embedding with a small MLP into 7 classes
//! ([`SAFETY_CLASSES`], class 0 is safe): `Linear(1152, 512) → BatchNorm1d → ReLU →
//! Linear(512, 256) → BatchNorm1d → ReLU → Linear(256, 7)`, weights `safety_filter.pt`
//! (a state dict under `model`, keys `network.layers.{0,1,3,4,6}.*`). Files are sampled at
//! 2 frames per second; generated frames are all checked.
//!
//! Here the MLP head ([`SafetyClassifier`]) and its loading are implemented; the embedder is a
//! trait ([`ImageEmbedder`]) so any SigLIP implementation plugs in, and
//! [`EmbeddingSafetyClassifier`] combines the two into a [`VideoSafetyClassifier`].

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use cosmos_nn::checkpoint::{Checkpoint, KeyMap, LoadReport, load_module};
use ndarray::{ArrayView3, ArrayView4, Axis};

use crate::error::{Error, Result};
use crate::guard::{Verdict, VideoGuard};
use crate::text::BoxError;

/// The reference classifier's classes, by index.
pub const SAFETY_CLASSES: [&str; 7] = [
    "Safe",
    "Sexual_Content",
    "Violence",
    "Drugs",
    "Child_Abuse",
    "Hate_and_Harassment",
    "Self-Harm",
];

/// MLP head configuration (the reference: 1152 inputs, 7 classes).
#[derive(Config, Debug)]
pub struct SafetyClassifierConfig {
    /// Embedding size.
    #[config(default = 1152)]
    pub input_size: usize,
    /// Number of classes (class 0 is safe).
    #[config(default = 7)]
    pub num_classes: usize,
}

/// The safety MLP head.
#[derive(Module, Debug)]
pub struct SafetyClassifier {
    fc1: Linear,
    bn1: BatchNorm,
    fc2: Linear,
    bn2: BatchNorm,
    fc3: Linear,
}

impl SafetyClassifierConfig {
    /// Builds the head with default-initialised weights.
    pub fn init(&self, device: &Device) -> SafetyClassifier {
        SafetyClassifier {
            fc1: LinearConfig::new(self.input_size, 512).init(device),
            bn1: BatchNormConfig::new(512).init(device),
            fc2: LinearConfig::new(512, 256).init(device),
            bn2: BatchNormConfig::new(256).init(device),
            fc3: LinearConfig::new(256, self.num_classes).init(device),
        }
    }
}

/// The reference's key names (`[model.]network.layers.N.*`) → module paths.
pub fn safety_classifier_keymap() -> KeyMap {
    let rules = [
        (r"^(model\.)?network\.layers\.0\.", "fc1."),
        (r"^(model\.)?network\.layers\.1\.", "bn1."),
        (r"^(model\.)?network\.layers\.3\.", "fc2."),
        (r"^(model\.)?network\.layers\.4\.", "bn2."),
        (r"^(model\.)?network\.layers\.6\.", "fc3."),
    ];
    let mut map = KeyMap::new();
    for (p, r) in rules {
        map = map.rule(p, r).expect("valid built-in key pattern");
    }
    map.ignore(r"num_batches_tracked$")
        .expect("valid built-in key pattern")
}

impl SafetyClassifier {
    /// `embeddings: [batch, input_size]` → logits `[batch, num_classes]` (BatchNorm in
    /// inference mode, running statistics).
    pub fn forward(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let x = relu(self.bn1.forward(self.fc1.forward(embeddings)));
        let x = relu(self.bn2.forward(self.fc2.forward(x)));
        self.fc3.forward(x)
    }

    /// Loads a state dict with the reference's key names.
    pub fn load_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<LoadReport> {
        load_module(self, checkpoint, &safety_classifier_keymap())
            .map_err(|e| Error::checkpoint("video safety classifier weights", e))
    }

    /// Reads `safety_filter.pt` (or any checkpoint with its key names) into a head of the
    /// reference's shape.
    pub fn from_file(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let checkpoint = Checkpoint::open(path).map_err(|e| {
            Error::checkpoint(
                format!("video safety classifier weights {}", path.display()),
                e,
            )
        })?;
        let mut head = SafetyClassifierConfig::new().init(device);
        head.load_checkpoint(&checkpoint)?;
        Ok(head)
    }
}

/// One frame's judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameSafety {
    /// The most likely class (0: safe).
    pub class: usize,
    /// Its name, when the classifier has names.
    pub class_name: String,
    /// Class probabilities.
    pub probabilities: Vec<f32>,
}

impl FrameSafety {
    /// Whether the frame is judged safe (class 0).
    pub fn is_safe(&self) -> bool {
        self.class == 0
    }
}

/// Judges frames.
pub trait VideoSafetyClassifier {
    /// Short name shown in refusals.
    fn name(&self) -> &str;
    /// Judges each `[H, W, 3]` RGB frame.
    fn classify_frames(&self, frames: &[ArrayView3<'_, u8>]) -> Result<Vec<FrameSafety>>;
}

/// Turns an image into an embedding (SigLIP so400m-patch14-384 in the reference: resize to
/// 384×384, normalise to [−1, 1], the vision tower's pooled output through the projection).
pub trait ImageEmbedder {
    /// Embedding size (1152 for SigLIP so400m).
    fn embedding_dim(&self) -> usize;
    /// One embedding per `[H, W, 3]` RGB image (need not be normalised).
    fn embed(&self, images: &[ArrayView3<'_, u8>]) -> std::result::Result<Vec<Vec<f32>>, BoxError>;
}

/// Embedder + MLP head, as the reference's video content safety filter.
pub struct EmbeddingSafetyClassifier<E> {
    embedder: E,
    head: SafetyClassifier,
    device: Device,
    class_names: Vec<String>,
}

impl<E: ImageEmbedder> EmbeddingSafetyClassifier<E> {
    /// Combines an embedder and a loaded head (class names: [`SAFETY_CLASSES`]).
    pub fn new(embedder: E, head: SafetyClassifier, device: &Device) -> Self {
        Self {
            embedder,
            head,
            device: device.clone(),
            class_names: SAFETY_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Class probabilities for embeddings (L2-normalised here, as the reference's encoder
    /// does).
    pub fn classify_embeddings(&self, embeddings: &[Vec<f32>]) -> Result<Vec<FrameSafety>> {
        let dim = self.embedder.embedding_dim();
        if embeddings.is_empty() {
            return Ok(Vec::new());
        }
        let mut data = Vec::with_capacity(embeddings.len() * dim);
        for e in embeddings {
            if e.len() != dim {
                return Err(Error::Shape {
                    what: "image embedding",
                    expected: format!("[{dim}]"),
                    found: vec![e.len()],
                });
            }
            let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            data.extend(e.iter().map(|v| v / norm));
        }
        let input = Tensor::from_data(TensorData::new(data, [embeddings.len(), dim]), &self.device);
        let probs = softmax(self.head.forward(input), 1);
        let [n, classes] = probs.dims();
        let values = probs
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| Error::InvalidArgument(format!("classifier output: {e:?}")))?;
        Ok((0..n)
            .map(|i| {
                let p = values[i * classes..(i + 1) * classes].to_vec();
                let class = p
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(k, _)| k);
                FrameSafety {
                    class,
                    class_name: self
                        .class_names
                        .get(class)
                        .cloned()
                        .unwrap_or_else(|| format!("class {class}")),
                    probabilities: p,
                }
            })
            .collect())
    }
}

impl<E: ImageEmbedder> VideoSafetyClassifier for EmbeddingSafetyClassifier<E> {
    fn name(&self) -> &str {
        "video content safety"
    }

    fn classify_frames(&self, frames: &[ArrayView3<'_, u8>]) -> Result<Vec<FrameSafety>> {
        let embeddings = self.embedder.embed(frames).map_err(|e| Error::Component {
            component: "image embedder".into(),
            message: e.to_string(),
        })?;
        if embeddings.len() != frames.len() {
            return Err(Error::Component {
                component: "image embedder".into(),
                message: format!(
                    "returned {} embeddings for {} images",
                    embeddings.len(),
                    frames.len()
                ),
            });
        }
        self.classify_embeddings(&embeddings)
    }
}

/// Runs a [`VideoSafetyClassifier`] on sampled frames as a [`VideoGuard`].
pub struct SampledVideoSafety<C> {
    classifier: C,
    /// Frames per second to sample when the frame rate is known (reference: 2 for files);
    /// `None` checks every frame (the reference's choice for generated frames).
    pub sample_fps: Option<f64>,
    /// Frames classified per call of the classifier.
    pub batch: usize,
}

impl<C: VideoSafetyClassifier> SampledVideoSafety<C> {
    /// Checks every frame.
    pub fn new(classifier: C) -> Self {
        Self {
            classifier,
            sample_fps: None,
            batch: 8,
        }
    }

    /// Samples `fps` frames per second when the video's rate is known.
    pub fn with_sample_fps(mut self, fps: f64) -> Self {
        self.sample_fps = Some(fps);
        self
    }

    /// Indices of the frames checked for a video of `len` frames at `fps` (the reference:
    /// every `int(fps / sample_fps)`-th frame).
    pub fn sampled_indices(&self, len: usize, fps: Option<f64>) -> Vec<usize> {
        let step = match (self.sample_fps, fps) {
            (Some(sample), Some(fps)) if sample > 0.0 && fps > 0.0 => {
                ((fps / sample) as usize).max(1)
            }
            _ => 1,
        };
        (0..len).step_by(step).collect()
    }
}

impl<C: VideoSafetyClassifier> VideoGuard for SampledVideoSafety<C> {
    fn name(&self) -> &str {
        self.classifier.name()
    }

    fn check_frames(&self, frames: ArrayView4<'_, u8>, fps: Option<f64>) -> Result<Verdict> {
        crate::face::check_frames("video safety frames", frames.shape())?;
        let indices = self.sampled_indices(frames.len_of(Axis(0)), fps);
        for chunk in indices.chunks(self.batch.max(1)) {
            let views: Vec<ArrayView3<'_, u8>> = chunk
                .iter()
                .map(|&i| frames.index_axis(Axis(0), i))
                .collect();
            let judged = self.classifier.classify_frames(&views)?;
            for (&i, j) in chunk.iter().zip(&judged) {
                if !j.is_safe() {
                    return Ok(Verdict::Unsafe {
                        guard: self.name().to_string(),
                        reason: format!(
                            "frame {i} classified as {} (p = {:.3})",
                            j.class_name,
                            j.probabilities.get(j.class).copied().unwrap_or(f32::NAN)
                        ),
                    });
                }
            }
        }
        Ok(Verdict::Safe)
    }
}
