//! MTCNN (Zhang et al., 2016): a cascade of three small CNNs, as facenet-pytorch implements it,
//! with facenet-pytorch's trained weights (shipped in `weights/mtcnn/`, MIT, and compiled into
//! the crate: [`Mtcnn::bundled`] reads nothing from the build machine's folders).
//!
//! 1. **P-Net** runs fully convolutionally over an image pyramid (scales `12/min_face ·
//!    0.709^k` while the short side stays ≥ 12 px, area resampling); every 12×12 window
//!    (stride 2) scoring ≥ 0.6 becomes a candidate, NMS at IoU 0.5 per scale then 0.7 over all,
//!    boxes refined by the regression output and squared.
//! 2. **R-Net** re-scores 24×24 crops of the candidates (keep > 0.7), NMS 0.7, refinement,
//!    squaring.
//! 3. **O-Net** re-scores 48×48 crops (keep > 0.7), refinement and NMS at 0.7 measured over
//!    the smaller box.
//!
//! Inputs are RGB in [0, 255], normalised as `(x − 127.5) / 128`.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PRelu, PReluConfig};
use burn::tensor::activation::softmax;
use burn::tensor::module::{adaptive_avg_pool2d, max_pool2d};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use cosmos_nn::checkpoint::{Checkpoint, KeyMap, LoadReport, load_module};
use ndarray::{ArrayView3, ArrayView4};

use super::image::{frame_to_tensor, to_vec};
use super::nms::{Overlap, nms};
use super::{FaceBox, FaceDetector, check_frames};
use crate::error::{Error, Result};

fn conv(cin: usize, cout: usize, k: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k]).init(device)
}

fn prelu(n: usize, device: &Device) -> PRelu {
    PReluConfig::new().with_num_parameters(n).init(device)
}

fn pool(x: Tensor<4>, k: usize) -> Tensor<4> {
    max_pool2d(
        x,
        MaxPoolOptions::new([k, k])
            .with_stride([2, 2])
            .with_ceil_mode(true),
    )
}

/// `[B, C, H, W]` → `[B, W·H·C]` in PyTorch's `permute(0, 3, 2, 1)` order.
fn flatten_whc(x: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    x.permute([0, 3, 2, 1]).reshape([b, w * h * c])
}

/// The proposal network (fully convolutional, 12×12 receptive field).
#[derive(Module, Debug)]
pub struct PNet {
    conv1: Conv2d,
    prelu1: PRelu,
    conv2: Conv2d,
    prelu2: PRelu,
    conv3: Conv2d,
    prelu3: PRelu,
    conv4_1: Conv2d,
    conv4_2: Conv2d,
}

impl PNet {
    /// Default-initialised network.
    pub fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 10, 3, device),
            prelu1: prelu(10, device),
            conv2: conv(10, 16, 3, device),
            prelu2: prelu(16, device),
            conv3: conv(16, 32, 3, device),
            prelu3: prelu(32, device),
            conv4_1: conv(32, 2, 1, device),
            conv4_2: conv(32, 4, 1, device),
        }
    }

    /// `x: [B, 3, H, W]` → (box regression `[B, 4, h, w]`, face probability `[B, 2, h, w]`).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let x = pool(self.prelu1.forward(self.conv1.forward(x)), 2);
        let x = self.prelu2.forward(self.conv2.forward(x));
        let x = self.prelu3.forward(self.conv3.forward(x));
        (
            self.conv4_2.forward(x.clone()),
            softmax(self.conv4_1.forward(x), 1),
        )
    }
}

/// The refinement network (24×24 input).
#[derive(Module, Debug)]
pub struct RNet {
    conv1: Conv2d,
    prelu1: PRelu,
    conv2: Conv2d,
    prelu2: PRelu,
    conv3: Conv2d,
    prelu3: PRelu,
    dense4: Linear,
    prelu4: PRelu,
    dense5_1: Linear,
    dense5_2: Linear,
}

impl RNet {
    /// Default-initialised network.
    pub fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 28, 3, device),
            prelu1: prelu(28, device),
            conv2: conv(28, 48, 3, device),
            prelu2: prelu(48, device),
            conv3: conv(48, 64, 2, device),
            prelu3: prelu(64, device),
            dense4: LinearConfig::new(576, 128).init(device),
            prelu4: prelu(128, device),
            dense5_1: LinearConfig::new(128, 2).init(device),
            dense5_2: LinearConfig::new(128, 4).init(device),
        }
    }

    /// `x: [B, 3, 24, 24]` → (box regression `[B, 4]`, face probability `[B, 2]`).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let x = pool(self.prelu1.forward(self.conv1.forward(x)), 3);
        let x = pool(self.prelu2.forward(self.conv2.forward(x)), 3);
        let x = self.prelu3.forward(self.conv3.forward(x));
        let x = self.prelu4.forward(self.dense4.forward(flatten_whc(x)));
        (
            self.dense5_2.forward(x.clone()),
            softmax(self.dense5_1.forward(x), 1),
        )
    }
}

/// The output network (48×48 input; also regresses five landmarks).
#[derive(Module, Debug)]
pub struct ONet {
    conv1: Conv2d,
    prelu1: PRelu,
    conv2: Conv2d,
    prelu2: PRelu,
    conv3: Conv2d,
    prelu3: PRelu,
    conv4: Conv2d,
    prelu4: PRelu,
    dense5: Linear,
    prelu5: PRelu,
    dense6_1: Linear,
    dense6_2: Linear,
    dense6_3: Linear,
}

impl ONet {
    /// Default-initialised network.
    pub fn new(device: &Device) -> Self {
        Self {
            conv1: conv(3, 32, 3, device),
            prelu1: prelu(32, device),
            conv2: conv(32, 64, 3, device),
            prelu2: prelu(64, device),
            conv3: conv(64, 64, 3, device),
            prelu3: prelu(64, device),
            conv4: conv(64, 128, 2, device),
            prelu4: prelu(128, device),
            dense5: LinearConfig::new(1152, 256).init(device),
            prelu5: prelu(256, device),
            dense6_1: LinearConfig::new(256, 2).init(device),
            dense6_2: LinearConfig::new(256, 4).init(device),
            dense6_3: LinearConfig::new(256, 10).init(device),
        }
    }

    /// `x: [B, 3, 48, 48]` → (box regression `[B, 4]`, landmarks `[B, 10]`, face probability
    /// `[B, 2]`).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        let x = pool(self.prelu1.forward(self.conv1.forward(x)), 3);
        let x = pool(self.prelu2.forward(self.conv2.forward(x)), 3);
        let x = pool(self.prelu3.forward(self.conv3.forward(x)), 2);
        let x = self.prelu4.forward(self.conv4.forward(x));
        let x = self.prelu5.forward(self.dense5.forward(flatten_whc(x)));
        (
            self.dense6_2.forward(x.clone()),
            self.dense6_3.forward(x.clone()),
            softmax(self.dense6_1.forward(x), 1),
        )
    }
}

/// facenet-pytorch key names → module paths (PReLU `weight` is burn's `alpha`).
pub fn mtcnn_keymap() -> KeyMap {
    KeyMap::new()
        .rule(r"^(prelu\d+)\.weight$", "$1.alpha")
        .expect("valid built-in key pattern")
}

/// Detection settings (facenet-pytorch's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct MtcnnConfig {
    /// Smallest face searched for, in pixels (20).
    pub min_face_size: f32,
    /// Score thresholds of the three stages (0.6, 0.7, 0.7).
    pub thresholds: [f32; 3],
    /// Pyramid scale step (0.709).
    pub factor: f32,
    /// Most P-Net candidates kept after NMS, best first (bounds the work on busy images).
    pub max_candidates: usize,
}

impl Default for MtcnnConfig {
    fn default() -> Self {
        Self {
            min_face_size: 20.0,
            thresholds: [0.6, 0.7, 0.7],
            factor: 0.709,
            max_candidates: 2000,
        }
    }
}

/// The MTCNN face detector: three networks and their settings.
pub struct Mtcnn {
    pnet: PNet,
    rnet: RNet,
    onet: ONet,
    device: Device,
    /// Detection settings.
    pub config: MtcnnConfig,
}

// The weights shipped with the crate (facenet-pytorch 2.6.0, `weights/mtcnn/`), compiled in so
// that a binary finds them wherever it is installed.
const BUNDLED_PNET: &[u8] = include_bytes!("../../weights/mtcnn/pnet.pt");
const BUNDLED_RNET: &[u8] = include_bytes!("../../weights/mtcnn/rnet.pt");
const BUNDLED_ONET: &[u8] = include_bytes!("../../weights/mtcnn/onet.pt");

/// A candidate box with its score and regression.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    b: [f32; 4],
    score: f32,
    reg: [f32; 4],
}

/// Host copy of the image, `[3, H, W]` floats in [0, 255].
struct HostImage {
    data: Vec<f32>,
    h: usize,
    w: usize,
}

impl HostImage {
    fn new(frame: ArrayView3<'_, u8>) -> Self {
        let (h, w, _) = frame.dim();
        let mut data = Vec::with_capacity(3 * h * w);
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    data.push(frame[[y, x, c]] as f32);
                }
            }
        }
        Self { data, h, w }
    }

    /// Area (adaptive average) resampling of rows `y0..y1`, columns `x0..x1` to `size × size`,
    /// normalised, appended to `out` as `[3, size, size]`.
    fn crop_resample(&self, [x0, y0, x1, y1]: [usize; 4], size: usize, out: &mut Vec<f32>) {
        let (ch, cw) = (y1 - y0, x1 - x0);
        for c in 0..3 {
            let plane = &self.data[c * self.h * self.w..(c + 1) * self.h * self.w];
            for oy in 0..size {
                let ys = y0 + oy * ch / size;
                let ye = y0 + ((oy + 1) * ch).div_ceil(size);
                for ox in 0..size {
                    let xs = x0 + ox * cw / size;
                    let xe = x0 + ((ox + 1) * cw).div_ceil(size);
                    let mut sum = 0.0f32;
                    for y in ys..ye {
                        for x in xs..xe {
                            sum += plane[y * self.w + x];
                        }
                    }
                    let mean = sum / ((ye - ys) * (xe - xs)) as f32;
                    out.push((mean - 127.5) * 0.0078125);
                }
            }
        }
    }
}

/// Makes boxes square around their centre (facenet-pytorch `rerec`).
fn square(b: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let l = w.max(h);
    let x1 = b[0] + w * 0.5 - l * 0.5;
    let y1 = b[1] + h * 0.5 - l * 0.5;
    [x1, y1, x1 + l, y1 + l]
}

/// Applies a regression with pixel-inclusive sizes (facenet-pytorch `bbreg`).
fn refine(b: [f32; 4], reg: [f32; 4]) -> [f32; 4] {
    let w = b[2] - b[0] + 1.0;
    let h = b[3] - b[1] + 1.0;
    [
        b[0] + reg[0] * w,
        b[1] + reg[1] * h,
        b[2] + reg[2] * w,
        b[3] + reg[3] * h,
    ]
}

/// The crop of a box inside the image, 0-based end-exclusive (facenet-pytorch `pad` with its
/// 1-based start), or `None` when nothing of it is inside.
fn crop_window(b: [f32; 4], w: usize, h: usize) -> Option<[usize; 4]> {
    let x = (b[0].trunc() as i64).max(1);
    let y = (b[1].trunc() as i64).max(1);
    let ex = (b[2].trunc() as i64).min(w as i64);
    let ey = (b[3].trunc() as i64).min(h as i64);
    (ex > x - 1 && ey > y - 1)
        .then(|| [(x - 1) as usize, (y - 1) as usize, ex as usize, ey as usize])
}

fn nms_candidates(
    c: &[Candidate],
    threshold: f32,
    overlap: Overlap,
    inclusive: bool,
) -> Vec<Candidate> {
    let boxes: Vec<[f32; 4]> = c.iter().map(|c| c.b).collect();
    let scores: Vec<f32> = c.iter().map(|c| c.score).collect();
    nms(&boxes, &scores, threshold, overlap, inclusive)
        .into_iter()
        .map(|i| c[i])
        .collect()
}

impl Mtcnn {
    /// Loads the three networks from `pnet.pt`, `rnet.pt`, `onet.pt` in `dir`.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let open = |name: &str| {
            let path = dir.join(name);
            Checkpoint::open(&path)
                .map_err(|e| Error::checkpoint(format!("MTCNN weights {}", path.display()), e))
        };
        Self::from_checkpoints(
            &open("pnet.pt")?,
            &open("rnet.pt")?,
            &open("onet.pt")?,
            device,
        )
    }

    /// Loads the weights shipped with the crate (facenet-pytorch 2.6.0), which are compiled into
    /// it; [`from_dir`](Self::from_dir) loads other weights from a folder.
    pub fn bundled(device: &Device) -> Result<Self> {
        Self::from_bytes(BUNDLED_PNET, BUNDLED_RNET, BUNDLED_ONET, device)
    }

    /// Loads the three networks from the contents of `pnet.pt`, `rnet.pt` and `onet.pt`.
    ///
    /// burn-store's PyTorch reader reads tensor storages from a file only (its in-memory reader
    /// takes plain pickles without tensors), and facenet-pytorch's files are `torch.save` streams.
    /// So the bytes are written to a private temporary folder of this process and read through
    /// the same loader as [`from_dir`](Self::from_dir); [`Checkpoint::open`] reads every tensor
    /// into memory, so the folder is removed before this returns.
    pub fn from_bytes(pnet: &[u8], rnet: &[u8], onet: &[u8], device: &Device) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("cosmos-guardrail-mtcnn-")
            .tempdir()
            .map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        for (name, bytes) in [("pnet.pt", pnet), ("rnet.pt", rnet), ("onet.pt", onet)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).map_err(|source| Error::Io { path, source })?;
        }
        let detector = Self::from_dir(dir.path(), device);
        // Removal errors are not the caller's concern once the weights are loaded; the folder
        // is in the system's temporary folder either way.
        let _ = dir.close();
        detector
    }

    /// Builds the detector from three state dicts in facenet-pytorch's key names.
    pub fn from_checkpoints(
        pnet: &Checkpoint,
        rnet: &Checkpoint,
        onet: &Checkpoint,
        device: &Device,
    ) -> Result<Self> {
        let map = mtcnn_keymap();
        let mut p = PNet::new(device);
        let mut r = RNet::new(device);
        let mut o = ONet::new(device);
        let load = |e| Error::checkpoint("MTCNN weights", e);
        load_module(&mut p, pnet, &map).map_err(load)?;
        load_module(&mut r, rnet, &map).map_err(load)?;
        load_module(&mut o, onet, &map).map_err(load)?;
        Ok(Self {
            pnet: p,
            rnet: r,
            onet: o,
            device: device.clone(),
            config: MtcnnConfig::default(),
        })
    }

    /// The networks with default-initialised (untrained) weights, for tests.
    pub fn untrained(device: &Device) -> Self {
        Self {
            pnet: PNet::new(device),
            rnet: RNet::new(device),
            onet: ONet::new(device),
            device: device.clone(),
            config: MtcnnConfig::default(),
        }
    }

    /// Loads one network's weights (for tests of the key mapping).
    pub fn load_report(&mut self, which: &str, checkpoint: &Checkpoint) -> Result<LoadReport> {
        let map = mtcnn_keymap();
        let result = match which {
            "pnet" => load_module(&mut self.pnet, checkpoint, &map),
            "rnet" => load_module(&mut self.rnet, checkpoint, &map),
            "onet" => load_module(&mut self.onet, checkpoint, &map),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "MTCNN has networks pnet, rnet, onet, not '{other}'"
                )));
            }
        };
        result.map_err(|e| Error::checkpoint(format!("MTCNN {which} weights"), e))
    }

    /// Pyramid scales for an image of `h × w`.
    pub fn scales(&self, h: usize, w: usize) -> Vec<f32> {
        let m = 12.0 / self.config.min_face_size;
        let mut minl = h.min(w) as f32 * m;
        let mut scale = m;
        let mut scales = Vec::new();
        while minl >= 12.0 {
            scales.push(scale);
            scale *= self.config.factor;
            minl *= self.config.factor;
        }
        scales
    }

    /// Stage 1: P-Net over the pyramid.
    fn propose(&self, image: &Tensor<4>, h: usize, w: usize) -> Vec<Candidate> {
        let mut all = Vec::new();
        for scale in self.scales(h, w) {
            let hs = (h as f32 * scale + 1.0) as usize;
            let ws = (w as f32 * scale + 1.0) as usize;
            let scaled = adaptive_avg_pool2d(image.clone(), [hs, ws]);
            let input = (scaled - 127.5) * 0.0078125;
            let (reg, prob) = self.pnet.forward(input);
            let [_, _, oh, ow] = prob.dims();
            if oh == 0 || ow == 0 {
                continue;
            }
            let prob = to_vec(prob.reshape([2, oh * ow]));
            let reg = to_vec(reg.reshape([4, oh * ow]));
            let mut found = Vec::new();
            for y in 0..oh {
                for x in 0..ow {
                    let i = y * ow + x;
                    let score = prob[oh * ow + i];
                    if score < self.config.thresholds[0] {
                        continue;
                    }
                    let q1 = |v: usize| ((2 * v + 1) as f32 / scale).floor();
                    let q2 = |v: usize| ((2 * v + 12) as f32 / scale).floor();
                    found.push(Candidate {
                        b: [q1(x), q1(y), q2(x), q2(y)],
                        score,
                        reg: [
                            reg[i],
                            reg[oh * ow + i],
                            reg[2 * oh * ow + i],
                            reg[3 * oh * ow + i],
                        ],
                    });
                }
            }
            all.extend(nms_candidates(&found, 0.5, Overlap::Union, false));
        }
        let mut kept = nms_candidates(&all, 0.7, Overlap::Union, false);
        kept.truncate(self.config.max_candidates);
        kept.into_iter()
            .map(|c| {
                let (rw, rh) = (c.b[2] - c.b[0], c.b[3] - c.b[1]);
                let b = [
                    c.b[0] + c.reg[0] * rw,
                    c.b[1] + c.reg[1] * rh,
                    c.b[2] + c.reg[2] * rw,
                    c.b[3] + c.reg[3] * rh,
                ];
                Candidate { b: square(b), ..c }
            })
            .collect()
    }

    /// Crops candidates to `size × size` network inputs; returns the batch and the candidates
    /// that had a crop.
    fn crops(
        &self,
        host: &HostImage,
        candidates: &[Candidate],
        size: usize,
    ) -> (Option<Tensor<4>>, Vec<Candidate>) {
        let mut data = Vec::new();
        let mut kept = Vec::new();
        for c in candidates {
            if let Some(window) = crop_window(c.b, host.w, host.h) {
                host.crop_resample(window, size, &mut data);
                kept.push(*c);
            }
        }
        if kept.is_empty() {
            return (None, kept);
        }
        let batch = Tensor::from_data(
            TensorData::new(data, [kept.len(), 3, size, size]),
            &self.device,
        );
        (Some(batch), kept)
    }

    /// Detects faces in one RGB image.
    pub fn detect_image(&self, frame: ArrayView3<'_, u8>) -> Result<Vec<FaceBox>> {
        let (h, w, c) = frame.dim();
        if c != 3 || h == 0 || w == 0 {
            return Err(Error::Shape {
                what: "MTCNN image",
                expected: "[H, W, 3] RGB with H, W > 0".into(),
                found: vec![h, w, c],
            });
        }
        let image = frame_to_tensor(frame, [0, 1, 2], [0.0; 3], 1.0, &self.device);
        let host = HostImage::new(frame);
        let candidates = self.propose(&image, h, w);

        // Stage 2.
        let (batch, candidates) = self.crops(&host, &candidates, 24);
        let Some(batch) = batch else {
            return Ok(Vec::new());
        };
        let (reg, prob) = self.rnet.forward(batch);
        let (reg, prob) = (to_vec(reg), to_vec(prob));
        let passed: Vec<Candidate> = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| prob[2 * i + 1] > self.config.thresholds[1])
            .map(|(i, c)| Candidate {
                b: c.b,
                score: prob[2 * i + 1],
                reg: [reg[4 * i], reg[4 * i + 1], reg[4 * i + 2], reg[4 * i + 3]],
            })
            .collect();
        let candidates: Vec<Candidate> = nms_candidates(&passed, 0.7, Overlap::Union, false)
            .into_iter()
            .map(|c| Candidate {
                b: square(refine(c.b, c.reg)),
                ..c
            })
            .collect();

        // Stage 3.
        let (batch, candidates) = self.crops(&host, &candidates, 48);
        let Some(batch) = batch else {
            return Ok(Vec::new());
        };
        let (reg, _landmarks, prob) = self.onet.forward(batch);
        let (reg, prob) = (to_vec(reg), to_vec(prob));
        let passed: Vec<Candidate> = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| prob[2 * i + 1] > self.config.thresholds[2])
            .map(|(i, c)| {
                let r = [reg[4 * i], reg[4 * i + 1], reg[4 * i + 2], reg[4 * i + 3]];
                Candidate {
                    b: refine(c.b, r),
                    score: prob[2 * i + 1],
                    reg: r,
                }
            })
            .collect();
        Ok(nms_candidates(&passed, 0.7, Overlap::Min, true)
            .into_iter()
            .map(|c| FaceBox {
                x1: c.b[0],
                y1: c.b[1],
                x2: c.b[2],
                y2: c.b[3],
                score: c.score,
            })
            .collect())
    }
}

impl FaceDetector for Mtcnn {
    fn name(&self) -> &str {
        "mtcnn"
    }

    fn detect_frames(&self, frames: ArrayView4<'_, u8>) -> Result<Vec<Vec<FaceBox>>> {
        check_frames("MTCNN frames", frames.shape())?;
        frames.outer_iter().map(|f| self.detect_image(f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_scales_follow_facenet_pytorch() {
        let m = Mtcnn::untrained(&Device::default());
        // 100 px short side, min face 20: 0.6, 0.6·0.709, ... while 60·0.709^k ≥ 12.
        let s = m.scales(100, 200);
        assert_eq!(s.len(), 5);
        assert!((s[0] - 0.6).abs() < 1e-6);
        assert!((s[4] - 0.6 * 0.709f32.powi(4)).abs() < 1e-6);
    }

    #[test]
    fn box_helpers_by_hand() {
        assert_eq!(square([0.0, 0.0, 10.0, 20.0]), [-5.0, 0.0, 15.0, 20.0]);
        assert_eq!(
            refine([10.0, 10.0, 19.0, 19.0], [0.1, -0.1, 0.0, 0.2]),
            [11.0, 9.0, 19.0, 21.0]
        );
        assert_eq!(
            crop_window([-3.7, 0.5, 30.2, 50.0], 20, 40),
            Some([0, 0, 20, 40])
        );
        assert_eq!(crop_window([25.0, 5.0, 30.0, 9.0], 20, 40), None);
    }

    #[test]
    fn area_resampling_averages() {
        // A 4x4 image of 0..16 per channel, resampled to 2x2: means of 2x2 blocks.
        let frame = ndarray::Array3::from_shape_fn((4, 4, 3), |(y, x, _)| (y * 4 + x) as u8);
        let host = HostImage::new(frame.view());
        let mut out = Vec::new();
        host.crop_resample([0, 0, 4, 4], 2, &mut out);
        let expect = [2.5f32, 4.5, 10.5, 12.5];
        for (v, e) in out[..4].iter().zip(expect) {
            assert!((v - (e - 127.5) * 0.0078125).abs() < 1e-6);
        }
    }
}
