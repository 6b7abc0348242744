//! RetinaFace (Deng et al., 2019) with a ResNet-50 backbone, as the reference's face blur
//! filter runs it (biubug6/Pytorch_Retinaface `cfg_re50`, weights `Resnet50_Final.pth`).
//!
//! Network: torchvision ResNet-50 up to `layer4` (outputs of layers 2, 3, 4 at strides 8, 16,
//! 32) → FPN to 256 channels (1×1 lateral conv-BN-ReLU, nearest upsampling, 3×3 merge
//! conv-BN-ReLU) → one SSH context module per level (3×3 branch of 128 channels, 5×5 and 7×7
//! branches of 64 made of stacked 3×3 conv-BN, concatenated, ReLU) → per level 1×1 heads for
//! 2 anchors: class (2 logits), box (4), landmarks (10).
//!
//! Detection (reference): BGR input minus (104, 117, 123) at full resolution; priors of sizes
//! 16/32, 64/128, 256/512 pixels on the stride-8/16/32 grids; boxes decoded with variances
//! (0.1, 0.2); scores above 0.7, the top 5000 by score, NMS at IoU 0.4 (pixel-inclusive areas),
//! at most 750 faces.

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, softmax};
use burn::tensor::module::{interpolate, max_pool2d};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};
use cosmos_nn::checkpoint::{Checkpoint, KeyMap, LoadReport, load_module};
use ndarray::ArrayView4;

use super::image::{frame_to_tensor, to_vec};
use super::nms::{Overlap, nms};
use super::{FaceBox, FaceDetector, check_frames};
use crate::error::{Error, Result};

/// Network configuration (the reference's `cfg_re50`).
#[derive(Config, Debug)]
pub struct RetinaFaceConfig {
    /// Bottleneck blocks per ResNet stage (ResNet-50: 3, 4, 6, 3).
    #[config(default = "[3, 4, 6, 3]")]
    pub layers: [usize; 4],
    /// FPN / SSH / head channels.
    #[config(default = 256)]
    pub out_channels: usize,
    /// Anchor sizes in pixels per level.
    #[config(default = "[[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]]")]
    pub min_sizes: [[f32; 2]; 3],
    /// Strides of the three levels.
    #[config(default = "[8, 16, 32]")]
    pub steps: [usize; 3],
    /// Box decoding variances (centre, size).
    #[config(default = "[0.1, 0.2]")]
    pub variance: [f32; 2],
}

/// A conv without bias followed by batch norm (PyTorch `Sequential(Conv2d, BatchNorm2d)`).
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([cin, cout], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(
                    kernel / 2,
                    kernel / 2,
                    kernel / 2,
                    kernel / 2,
                ))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).with_epsilon(1e-5).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// torchvision's ResNet bottleneck (stride on the 3×3 conv).
#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    downsample: Option<ConvBn>,
}

impl Bottleneck {
    fn new(cin: usize, width: usize, stride: usize, device: &Device) -> Self {
        let cout = width * 4;
        let c1 = ConvBn::new(cin, width, 1, 1, device);
        let c2 = ConvBn::new(width, width, 3, stride, device);
        let c3 = ConvBn::new(width, cout, 1, 1, device);
        Self {
            conv1: c1.conv,
            bn1: c1.bn,
            conv2: c2.conv,
            bn2: c2.bn,
            conv3: c3.conv,
            bn3: c3.bn,
            downsample: (stride != 1 || cin != cout)
                .then(|| ConvBn::new(cin, cout, 1, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let y = relu(self.bn1.forward(self.conv1.forward(x)));
        let y = relu(self.bn2.forward(self.conv2.forward(y)));
        let y = self.bn3.forward(self.conv3.forward(y));
        relu(y + identity)
    }
}

/// ResNet-50 up to `layer4` (torchvision names).
#[derive(Module, Debug)]
pub struct ResNetBody {
    conv1: Conv2d,
    bn1: BatchNorm,
    layer1: Vec<Bottleneck>,
    layer2: Vec<Bottleneck>,
    layer3: Vec<Bottleneck>,
    layer4: Vec<Bottleneck>,
}

impl ResNetBody {
    fn new(layers: [usize; 4], device: &Device) -> Self {
        let mut cin = 64;
        let mut stage = |width: usize, blocks: usize, stride: usize| {
            let mut v = Vec::with_capacity(blocks);
            for b in 0..blocks {
                v.push(Bottleneck::new(
                    cin,
                    width,
                    if b == 0 { stride } else { 1 },
                    device,
                ));
                cin = width * 4;
            }
            v
        };
        let layer1 = stage(64, layers[0], 1);
        let layer2 = stage(128, layers[1], 2);
        let layer3 = stage(256, layers[2], 2);
        let layer4 = stage(512, layers[3], 2);
        let stem = ConvBn::new(3, 64, 7, 2, device);
        Self {
            conv1: stem.conv,
            bn1: stem.bn,
            layer1,
            layer2,
            layer3,
            layer4,
        }
    }

    /// Feature maps at strides 8, 16, 32.
    fn forward(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        let x = max_pool2d(
            x,
            MaxPoolOptions::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1]),
        );
        let run = |x: Tensor<4>, blocks: &[Bottleneck]| blocks.iter().fold(x, |x, b| b.forward(x));
        let c2 = run(run(x, &self.layer1), &self.layer2);
        let c3 = run(c2.clone(), &self.layer3);
        let c4 = run(c3.clone(), &self.layer4);
        [c2, c3, c4]
    }
}

/// Feature pyramid: lateral 1×1 conv-BN-act and top-down merges.
#[derive(Module, Debug)]
pub struct Fpn {
    output1: ConvBn,
    output2: ConvBn,
    output3: ConvBn,
    merge1: ConvBn,
    merge2: ConvBn,
    leaky: f64,
}

fn act(x: Tensor<4>, leaky: f64) -> Tensor<4> {
    if leaky == 0.0 {
        relu(x)
    } else {
        leaky_relu(x, leaky)
    }
}

fn upsample_nearest(x: Tensor<4>, like: &Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = like.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]),
    )
}

impl Fpn {
    fn new(in_channels: [usize; 3], out: usize, device: &Device) -> Self {
        Self {
            output1: ConvBn::new(in_channels[0], out, 1, 1, device),
            output2: ConvBn::new(in_channels[1], out, 1, 1, device),
            output3: ConvBn::new(in_channels[2], out, 1, 1, device),
            merge1: ConvBn::new(out, out, 3, 1, device),
            merge2: ConvBn::new(out, out, 3, 1, device),
            leaky: if out <= 64 { 0.1 } else { 0.0 },
        }
    }

    fn forward(&self, [c2, c3, c4]: [Tensor<4>; 3]) -> [Tensor<4>; 3] {
        let l = self.leaky;
        let o1 = act(self.output1.forward(c2), l);
        let o2 = act(self.output2.forward(c3), l);
        let o3 = act(self.output3.forward(c4), l);
        let o2 = act(
            self.merge2
                .forward(o2.clone() + upsample_nearest(o3.clone(), &o2)),
            l,
        );
        let o1 = act(
            self.merge1
                .forward(o1.clone() + upsample_nearest(o2.clone(), &o1)),
            l,
        );
        [o1, o2, o3]
    }
}

/// Single-stage headless context module.
#[derive(Module, Debug)]
pub struct Ssh {
    conv3x3: ConvBn,
    conv5x5_1: ConvBn,
    conv5x5_2: ConvBn,
    conv7x7_2: ConvBn,
    conv7x7_3: ConvBn,
    leaky: f64,
}

impl Ssh {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Self {
            conv3x3: ConvBn::new(cin, cout / 2, 3, 1, device),
            conv5x5_1: ConvBn::new(cin, cout / 4, 3, 1, device),
            conv5x5_2: ConvBn::new(cout / 4, cout / 4, 3, 1, device),
            conv7x7_2: ConvBn::new(cout / 4, cout / 4, 3, 1, device),
            conv7x7_3: ConvBn::new(cout / 4, cout / 4, 3, 1, device),
            leaky: if cout <= 64 { 0.1 } else { 0.0 },
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.conv3x3.forward(x.clone());
        let b1 = act(self.conv5x5_1.forward(x), self.leaky);
        let b = self.conv5x5_2.forward(b1.clone());
        let c2 = act(self.conv7x7_2.forward(b1), self.leaky);
        let c = self.conv7x7_3.forward(c2);
        relu(Tensor::cat(vec![a, b, c], 1))
    }
}

/// RetinaFace: backbone, FPN, SSH and heads.
#[derive(Module, Debug)]
pub struct RetinaFace {
    body: ResNetBody,
    fpn: Fpn,
    ssh1: Ssh,
    ssh2: Ssh,
    ssh3: Ssh,
    class_head: Vec<Conv2d>,
    bbox_head: Vec<Conv2d>,
    landmark_head: Vec<Conv2d>,
}

/// Raw network outputs for a batch.
#[derive(Debug, Clone)]
pub struct RetinaFaceOutput {
    /// Box offsets `[batch, priors, 4]`.
    pub loc: Tensor<3>,
    /// Class probabilities (softmax; index 1 is "face") `[batch, priors, 2]`.
    pub conf: Tensor<3>,
    /// Landmark offsets `[batch, priors, 10]`.
    pub landmarks: Tensor<3>,
}

impl RetinaFaceConfig {
    /// Builds the network with default-initialised weights.
    pub fn init(&self, device: &Device) -> RetinaFace {
        let out = self.out_channels;
        let head = |per_anchor: usize| -> Vec<Conv2d> {
            (0..3)
                .map(|_| Conv2dConfig::new([out, 2 * per_anchor], [1, 1]).init(device))
                .collect()
        };
        RetinaFace {
            body: ResNetBody::new(self.layers, device),
            fpn: Fpn::new([512, 1024, 2048], out, device),
            ssh1: Ssh::new(out, out, device),
            ssh2: Ssh::new(out, out, device),
            ssh3: Ssh::new(out, out, device),
            class_head: head(2),
            bbox_head: head(4),
            landmark_head: head(10),
        }
    }
}

/// Checkpoint key names → module paths: the reference's names, with or without the
/// `module.` prefix of DataParallel checkpoints; BatchNorm step counters are ignored.
pub fn retinaface_keymap() -> KeyMap {
    let rules = [
        (r"^module\.", ""),
        (r"^ClassHead\.(\d+)\.conv1x1\.", "class_head.$1."),
        (r"^BboxHead\.(\d+)\.conv1x1\.", "bbox_head.$1."),
        (r"^LandmarkHead\.(\d+)\.conv1x1\.", "landmark_head.$1."),
        (r"\.conv3X3\.", ".conv3x3."),
        (r"\.conv5X5_", ".conv5x5_"),
        (r"\.conv7X7_", ".conv7x7_"),
        // Sequential(conv, bn) → ConvBn { conv, bn } (FPN, SSH, ResNet downsample).
        (
            r"^((?:fpn|ssh\d)\.[A-Za-z0-9_]+|body\.layer\d\.\d+\.downsample)\.0\.",
            "$1.conv.",
        ),
        (
            r"^((?:fpn|ssh\d)\.[A-Za-z0-9_]+|body\.layer\d\.\d+\.downsample)\.1\.",
            "$1.bn.",
        ),
    ];
    let mut map = KeyMap::new();
    for (pattern, replacement) in rules {
        map = map
            .rule(pattern, replacement)
            .expect("valid built-in key pattern");
    }
    map.ignore(r"num_batches_tracked$")
        .expect("valid built-in key pattern")
}

fn head_output(conv: &Conv2d, x: Tensor<4>, per_anchor: usize) -> Tensor<3> {
    let y = conv.forward(x); // [B, 2·k, H, W]
    let [b, _, h, w] = y.dims();
    y.permute([0, 2, 3, 1]).reshape([b, h * w * 2, per_anchor])
}

impl RetinaFace {
    /// `input: [batch, 3, H, W]` (BGR minus the mean) → box offsets, face probabilities and
    /// landmarks for every prior.
    pub fn forward(&self, input: Tensor<4>) -> RetinaFaceOutput {
        let features = self.fpn.forward(self.body.forward(input));
        let [f1, f2, f3] = features;
        let features = [
            self.ssh1.forward(f1),
            self.ssh2.forward(f2),
            self.ssh3.forward(f3),
        ];
        let cat = |heads: &[Conv2d], k: usize| {
            Tensor::cat(
                heads
                    .iter()
                    .zip(features.iter())
                    .map(|(h, f)| head_output(h, f.clone(), k))
                    .collect(),
                1,
            )
        };
        RetinaFaceOutput {
            loc: cat(&self.bbox_head, 4),
            conf: softmax(cat(&self.class_head, 2), 2),
            landmarks: cat(&self.landmark_head, 10),
        }
    }

    /// Loads a state dict in the reference's key names (`Resnet50_Final.pth`).
    pub fn load_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<LoadReport> {
        load_module(self, checkpoint, &retinaface_keymap())
            .map_err(|e| Error::checkpoint("RetinaFace weights", e))
    }
}

/// Prior boxes `[cx, cy, w, h]` relative to the image size, in the reference's order
/// (level, row, column, anchor size).
pub fn prior_boxes(config: &RetinaFaceConfig, height: usize, width: usize) -> Vec<[f32; 4]> {
    let mut priors = Vec::new();
    for (level, &step) in config.steps.iter().enumerate() {
        let rows = height.div_ceil(step);
        let cols = width.div_ceil(step);
        for i in 0..rows {
            for j in 0..cols {
                for &size in &config.min_sizes[level] {
                    priors.push([
                        (j as f32 + 0.5) * step as f32 / width as f32,
                        (i as f32 + 0.5) * step as f32 / height as f32,
                        size / width as f32,
                        size / height as f32,
                    ]);
                }
            }
        }
    }
    priors
}

/// Decodes box offsets against priors into `[x1, y1, x2, y2]` in pixels.
pub fn decode_boxes(
    loc: &[[f32; 4]],
    priors: &[[f32; 4]],
    variance: [f32; 2],
    width: usize,
    height: usize,
) -> Vec<[f32; 4]> {
    loc.iter()
        .zip(priors)
        .map(|(l, p)| {
            let cx = p[0] + l[0] * variance[0] * p[2];
            let cy = p[1] + l[1] * variance[0] * p[3];
            let w = p[2] * (l[2] * variance[1]).exp();
            let h = p[3] * (l[3] * variance[1]).exp();
            let (x1, y1) = (cx - w / 2.0, cy - h / 2.0);
            [
                x1 * width as f32,
                y1 * height as f32,
                (x1 + w) * width as f32,
                (y1 + h) * height as f32,
            ]
        })
        .collect()
}

/// Thresholds of the detection step (the reference's values by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectionThresholds {
    /// Keep boxes scoring strictly above this (0.7).
    pub confidence: f32,
    /// NMS IoU threshold (0.4).
    pub nms: f32,
    /// Boxes kept before NMS, best first (5000).
    pub top_k: usize,
    /// Boxes kept after NMS (750).
    pub keep_top_k: usize,
}

impl Default for DetectionThresholds {
    fn default() -> Self {
        Self {
            confidence: 0.7,
            nms: 0.4,
            top_k: 5000,
            keep_top_k: 750,
        }
    }
}

/// Filters decoded boxes as the reference does: confidence, top-k, NMS, keep-top-k. Boxes
/// with non-finite corners (overflowing size offsets) are dropped.
pub fn filter_detections(
    boxes: &[[f32; 4]],
    scores: &[f32],
    thresholds: &DetectionThresholds,
) -> Vec<FaceBox> {
    let mut candidates: Vec<usize> = (0..boxes.len())
        .filter(|&i| scores[i] > thresholds.confidence && boxes[i].iter().all(|v| v.is_finite()))
        .collect();
    candidates.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    candidates.truncate(thresholds.top_k);
    let cb: Vec<[f32; 4]> = candidates.iter().map(|&i| boxes[i]).collect();
    let cs: Vec<f32> = candidates.iter().map(|&i| scores[i]).collect();
    let mut keep = nms(&cb, &cs, thresholds.nms, Overlap::Union, true);
    keep.truncate(thresholds.keep_top_k);
    keep.into_iter()
        .map(|k| FaceBox {
            x1: cb[k][0],
            y1: cb[k][1],
            x2: cb[k][2],
            y2: cb[k][3],
            score: cs[k],
        })
        .collect()
}

/// RetinaFace as a [`FaceDetector`]: one frame at a time at full resolution.
pub struct RetinaFaceDetector {
    model: RetinaFace,
    config: RetinaFaceConfig,
    device: Device,
    /// Detection thresholds.
    pub thresholds: DetectionThresholds,
}

impl RetinaFaceDetector {
    /// Wraps a loaded network.
    pub fn new(model: RetinaFace, config: RetinaFaceConfig, device: &Device) -> Self {
        Self {
            model,
            config,
            device: device.clone(),
            thresholds: DetectionThresholds::default(),
        }
    }

    /// Reads `Resnet50_Final.pth` (or any checkpoint with its key names).
    pub fn from_file(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let checkpoint = Checkpoint::open(path)
            .map_err(|e| Error::checkpoint(format!("RetinaFace weights {}", path.display()), e))?;
        Self::from_checkpoint(&checkpoint, device)
    }

    /// Builds the network from a state dict with the reference's key names.
    pub fn from_checkpoint(checkpoint: &Checkpoint, device: &Device) -> Result<Self> {
        let config = RetinaFaceConfig::new();
        let mut model = config.init(device);
        model.load_checkpoint(checkpoint)?;
        Ok(Self::new(model, config, device))
    }

    /// The network.
    pub fn model(&self) -> &RetinaFace {
        &self.model
    }
}

impl FaceDetector for RetinaFaceDetector {
    fn name(&self) -> &str {
        "retinaface"
    }

    fn detect_frames(&self, frames: ArrayView4<'_, u8>) -> Result<Vec<Vec<FaceBox>>> {
        check_frames("RetinaFace frames", frames.shape())?;
        let (h, w) = (frames.shape()[1], frames.shape()[2]);
        let priors = prior_boxes(&self.config, h, w);
        let mut out = Vec::with_capacity(frames.shape()[0]);
        for frame in frames.outer_iter() {
            // RGB → BGR, minus the BGR means.
            let input = frame_to_tensor(frame, [2, 1, 0], [104.0, 117.0, 123.0], 1.0, &self.device);
            let output = self.model.forward(input);
            let n = priors.len();
            let dims = output.loc.dims();
            if dims != [1, n, 4] {
                return Err(Error::Shape {
                    what: "RetinaFace box output",
                    expected: format!("[1, {n}, 4] (one row per prior of a {w}x{h} frame)"),
                    found: dims.to_vec(),
                });
            }
            let loc = to_vec(output.loc.reshape([n, 4]));
            let conf = to_vec(output.conf.reshape([n, 2]));
            let loc: Vec<[f32; 4]> = loc
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect();
            let scores: Vec<f32> = conf.chunks_exact(2).map(|c| c[1]).collect();
            let boxes = decode_boxes(&loc, &priors, self.config.variance, w, h);
            out.push(filter_detections(&boxes, &scores, &self.thresholds));
        }
        Ok(out)
    }
}
