//! Training data for post-training: tokenizer latents with their per-frame conditioning, cached
//! once and reused.
//!
//! - [`LatentSet`]: the in-memory training set (latents `[C, T, H, W]` per sample plus optional
//!   actions, camera poses, view index and text embeddings), batched onto a device, saved to and
//!   loaded from one safetensors cache file.
//! - [`read_shard`] / [`encode_shards`]: webdataset tar shards as `cosmos curate` writes them
//!   (`KEY.mp4`, `KEY.json`, `KEY.txt`), decoded, resized and encoded with a tokenizer, the
//!   result cached under a cache folder keyed by the shard's name and size.
//!
//! Per-frame signals come from the clip's JSON record: `"actions"` (one vector per video frame,
//! a list of lists of numbers) and `"camera"` (one pose or motion vector per video frame, e.g. a
//! flattened 3×4 extrinsic matrix or a translation + rotation), and `"view"` (an integer camera
//! index). Video frames are grouped into latent frames the way the causal tokenizer groups them
//! (latent frame 0 = frame 0, latent frame `i ≥ 1` = frames `(i−1)·k + 1 ..= i·k` for temporal
//! compression `k`), their vectors concatenated and zero-padded to `k` vectors
//! ([`group_frame_vectors`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use crate::conditioning::FrameInputs;
use crate::trainer::{Batch, read_safetensors, write_safetensors};
use crate::{Error, Result};

/// One training sample.
#[derive(Debug, Clone, PartialEq)]
pub struct LatentSample {
    /// Latent `[C, T, H, W]`, row-major.
    pub latent: Vec<f32>,
    /// Actions `[T, action_dim]` (per latent frame).
    pub actions: Option<Vec<f32>>,
    /// Camera poses / motions `[T, camera_dim]` (per latent frame).
    pub camera: Option<Vec<f32>>,
    /// View index.
    pub view: Option<usize>,
    /// Text embeddings `[tokens, text_dim]`.
    pub context: Option<Vec<f32>>,
    /// A spatial action map `[channels, T, H, W]` at the latent's resolution.
    pub action_map: Option<Vec<f32>>,
}

/// A set of latents with their conditioning, all of one shape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatentSet {
    /// Latent shape `[C, T, H, W]`.
    pub shape: [usize; 4],
    /// Action width per latent frame, when the samples carry actions.
    pub action_dim: Option<usize>,
    /// Camera vector width per latent frame, when the samples carry poses.
    pub camera_dim: Option<usize>,
    /// Number of views, when the samples carry a view index.
    pub views: Option<usize>,
    /// Text embedding shape `[tokens, text_dim]`, when the samples carry text.
    pub context_shape: Option<[usize; 2]>,
    /// Channels of the spatial action maps, when the samples carry them.
    pub action_map_channels: Option<usize>,
    /// The samples.
    pub samples: Vec<LatentSample>,
}

/// A scalar affine normalisation of latents to the σ_data = 0.5 scale the EDM loss assumes:
/// `normalised = (latent − mean) · scale`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatentNormalization {
    /// Mean subtracted.
    pub mean: f32,
    /// Factor applied after.
    pub scale: f32,
}

impl Default for LatentNormalization {
    fn default() -> Self {
        Self {
            mean: 0.0,
            scale: 1.0,
        }
    }
}

impl LatentNormalization {
    /// Mean and `0.5 / std` of all latent values of `set`.
    pub fn fit(set: &LatentSet) -> Self {
        let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
        for s in &set.samples {
            for &v in &s.latent {
                n += 1.0;
                sum += v as f64;
                sq += (v as f64) * (v as f64);
            }
        }
        if n == 0.0 {
            return Self::default();
        }
        let mean = sum / n;
        let std = (sq / n - mean * mean).max(1e-12).sqrt();
        Self {
            mean: mean as f32,
            scale: (0.5 / std) as f32,
        }
    }

    /// Normalises a latent tensor.
    pub fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        (x - self.mean as f64) * self.scale as f64
    }

    /// Undoes [`apply`](Self::apply).
    pub fn invert<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x / self.scale as f64 + self.mean as f64
    }
}

impl LatentSet {
    /// An empty set of latents of `shape`.
    pub fn new(shape: [usize; 4]) -> Self {
        Self {
            shape,
            ..Self::default()
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Adds a sample after checking it against the set's shapes (the first sample with a
    /// signal fixes its width).
    pub fn push(&mut self, sample: LatentSample) -> Result<()> {
        let [c, t, h, w] = self.shape;
        let shape_err = |what: &str, expected: String, found: String| Error::Shape {
            what: what.into(),
            expected,
            found,
        };
        if sample.latent.len() != c * t * h * w {
            return Err(shape_err(
                "latent",
                format!("{:?} = {} values", self.shape, c * t * h * w),
                format!("{} values", sample.latent.len()),
            ));
        }
        let first = self.samples.is_empty();
        for (what, values, dim) in [
            ("actions", &sample.actions, &mut self.action_dim),
            ("camera poses", &sample.camera, &mut self.camera_dim),
            (
                "action map",
                &sample.action_map,
                &mut self.action_map_channels,
            ),
        ] {
            // Per latent frame: `t` rows of `dim`; an action map is `channels` planes of
            // `t·h·w`, so its "rows" are `t` and its width `channels·h·w`.
            let unit = if what == "action map" { h * w } else { 1 };
            let dim_now = dim.map(|d| d * unit);
            match (values, dim_now) {
                (Some(v), Some(d)) if v.len() != t * d => {
                    return Err(shape_err(
                        what,
                        format!("[{t} latent frames, {d}]"),
                        format!("{} values", v.len()),
                    ));
                }
                (Some(v), None) if first => {
                    if v.is_empty() || v.len() % (t * unit) != 0 {
                        return Err(shape_err(
                            what,
                            format!("a multiple of {t} latent frames × {unit}"),
                            format!("{} values", v.len()),
                        ));
                    }
                    *dim = Some(v.len() / (t * unit));
                }
                (None, None) | (Some(_), Some(_)) => {}
                _ => {
                    return Err(Error::Config(format!(
                        "every sample of a set must carry {what}, or none"
                    )));
                }
            }
        }
        match (sample.view, self.views) {
            (Some(v), _) if !first && self.views.is_none() => {
                return Err(Error::Config(format!(
                    "sample has view {v} but the set has no views"
                )));
            }
            (Some(v), _) => self.views = Some(self.views.unwrap_or(0).max(v + 1)),
            (None, Some(_)) => {
                return Err(Error::Config(
                    "every sample of a set must carry a view index, or none".into(),
                ));
            }
            (None, None) => {}
        }
        match (&sample.context, self.context_shape) {
            (Some(ctx), Some([n, d])) if ctx.len() != n * d => {
                return Err(shape_err(
                    "text embeddings",
                    format!("[{n}, {d}]"),
                    format!("{} values", ctx.len()),
                ));
            }
            (Some(_), None) if !first => {
                return Err(Error::Config(
                    "every sample of a set must carry text embeddings, or none".into(),
                ));
            }
            (Some(_), None) => {
                return Err(Error::Config(
                    "set context_shape before adding samples with text embeddings".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::Config(
                    "every sample of a set must carry text embeddings, or none".into(),
                ));
            }
            _ => {}
        }
        self.samples.push(sample);
        Ok(())
    }

    /// Normalises every latent in place.
    pub fn normalize(&mut self, n: LatentNormalization) {
        for s in &mut self.samples {
            for v in &mut s.latent {
                *v = (*v - n.mean) * n.scale;
            }
        }
    }

    /// The samples at `indices` stacked on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<Batch> {
        let [c, t, h, w] = self.shape;
        let b = indices.len();
        let pick = |i: usize| {
            self.samples.get(i).ok_or_else(|| {
                Error::Config(format!(
                    "sample index {i} out of range (set of {})",
                    self.len()
                ))
            })
        };
        let mut latent = Vec::with_capacity(b * c * t * h * w);
        for &i in indices {
            latent.extend_from_slice(&pick(i)?.latent);
        }
        let latent = Tensor::<5>::from_data(TensorData::new(latent, [b, c, t, h, w]), device);
        let stack = |dim: Option<usize>, get: &dyn Fn(&LatentSample) -> Option<&Vec<f32>>| {
            dim.map(|d| -> Result<Tensor<3>> {
                let mut v = Vec::with_capacity(b * t * d);
                for &i in indices {
                    v.extend_from_slice(get(pick(i)?).expect("checked when added"));
                }
                Ok(Tensor::from_data(TensorData::new(v, [b, t, d]), device))
            })
            .transpose()
        };
        let actions = stack(self.action_dim, &|s| s.actions.as_ref())?;
        let camera = stack(self.camera_dim, &|s| s.camera.as_ref())?;
        let action_map = match self.action_map_channels {
            Some(k) => {
                let mut v = Vec::with_capacity(b * k * t * h * w);
                for &i in indices {
                    v.extend_from_slice(pick(i)?.action_map.as_ref().expect("checked when added"));
                }
                Some(Tensor::<5>::from_data(
                    TensorData::new(v, [b, k, t, h, w]),
                    device,
                ))
            }
            None => None,
        };
        let view = match self.views {
            Some(_) => {
                let mut v = Vec::with_capacity(b);
                for &i in indices {
                    v.push(pick(i)?.view.unwrap_or(0) as i64);
                }
                Some(Tensor::<1, Int>::from_data(TensorData::new(v, [b]), device))
            }
            None => None,
        };
        let context = match self.context_shape {
            Some([n, d]) => {
                let mut v = Vec::with_capacity(b * n * d);
                for &i in indices {
                    v.extend_from_slice(pick(i)?.context.as_ref().expect("checked when added"));
                }
                Some(Tensor::<3>::from_data(
                    TensorData::new(v, [b, n, d]),
                    device,
                ))
            }
            None => None,
        };
        Ok(Batch {
            latent,
            inputs: FrameInputs {
                actions,
                camera,
                view,
                action_map,
            },
            context,
        })
    }

    /// Keeps the first `frames` latent frames of every sample (latents, per-frame vectors and
    /// action maps), e.g. to train on a shorter window than was encoded.
    pub fn truncate_frames(&mut self, frames: usize) -> Result<()> {
        let [c, t, h, w] = self.shape;
        if frames == 0 || frames > t {
            return Err(Error::Shape {
                what: "latent frames kept".into(),
                expected: format!("1..={t}"),
                found: frames.to_string(),
            });
        }
        // Rows of `plane` values per frame, `groups` groups of `t` frames each.
        let cut = |v: &mut Vec<f32>, groups: usize, plane: usize| {
            let kept: Vec<f32> = (0..groups)
                .flat_map(|g| v[g * t * plane..(g * t + frames) * plane].iter().copied())
                .collect();
            *v = kept;
        };
        let (action_dim, camera_dim, maps) =
            (self.action_dim, self.camera_dim, self.action_map_channels);
        for s in &mut self.samples {
            cut(&mut s.latent, c, h * w);
            if let (Some(a), Some(d)) = (s.actions.as_mut(), action_dim) {
                cut(a, 1, d);
            }
            if let (Some(p), Some(d)) = (s.camera.as_mut(), camera_dim) {
                cut(p, 1, d);
            }
            if let (Some(m), Some(k)) = (s.action_map.as_mut(), maps) {
                cut(m, k, h * w);
            }
        }
        self.shape = [c, frames, h, w];
        Ok(())
    }

    /// Splits off the last `n` samples (e.g. for validation).
    pub fn split_off(&mut self, n: usize) -> LatentSet {
        let at = self.samples.len().saturating_sub(n);
        LatentSet {
            samples: self.samples.split_off(at),
            ..self.clone_empty()
        }
    }

    fn clone_empty(&self) -> LatentSet {
        LatentSet {
            shape: self.shape,
            action_dim: self.action_dim,
            camera_dim: self.camera_dim,
            views: self.views,
            context_shape: self.context_shape,
            action_map_channels: self.action_map_channels,
            samples: Vec::new(),
        }
    }

    /// Writes the set to one safetensors file (`latent [N, C, T, H, W]`, `actions [N, T, A]`,
    /// `camera [N, T, P]`, `view [N]`, `context [N, tokens, dim]`, `action_map [N, K, T, H, W]`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let n = self.len();
        let [c, t, h, w] = self.shape;
        let mut tensors = BTreeMap::new();
        let cat = |get: &dyn Fn(&LatentSample) -> Vec<f32>| -> Vec<f32> {
            self.samples.iter().flat_map(get).collect()
        };
        tensors.insert(
            "latent".to_string(),
            TensorData::new(cat(&|s| s.latent.clone()), [n, c, t, h, w]),
        );
        if let Some(d) = self.action_dim {
            tensors.insert(
                "actions".into(),
                TensorData::new(cat(&|s| s.actions.clone().unwrap_or_default()), [n, t, d]),
            );
        }
        if let Some(d) = self.camera_dim {
            tensors.insert(
                "camera".into(),
                TensorData::new(cat(&|s| s.camera.clone().unwrap_or_default()), [n, t, d]),
            );
        }
        if let Some(k) = self.action_map_channels {
            tensors.insert(
                "action_map".into(),
                TensorData::new(
                    cat(&|s| s.action_map.clone().unwrap_or_default()),
                    [n, k, t, h, w],
                ),
            );
        }
        if self.views.is_some() {
            tensors.insert(
                "view".into(),
                TensorData::new(cat(&|s| vec![s.view.unwrap_or(0) as f32]), [n]),
            );
        }
        if let Some([k, d]) = self.context_shape {
            tensors.insert(
                "context".into(),
                TensorData::new(cat(&|s| s.context.clone().unwrap_or_default()), [n, k, d]),
            );
        }
        let mut meta = HashMap::new();
        meta.insert("format".into(), "cosmos-posttrain latent set".into());
        if let Some(v) = self.views {
            meta.insert("views".into(), v.to_string());
        }
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        write_safetensors(path, &tensors, meta, DType::F32)
    }

    /// Reads a set written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let source = path.display().to_string();
        let (tensors, meta) = read_safetensors(&bytes, &source)?;
        let format = |reason: String| Error::Format {
            path: source.clone(),
            reason,
        };
        let values =
            |t: &TensorData| -> Vec<f32> { t.clone().try_to_vec::<f32>().unwrap_or_default() };
        let latent = tensors
            .get("latent")
            .ok_or_else(|| format("no 'latent' tensor".into()))?;
        let &[n, c, t, h, w] = latent.shape().to_vec().as_slice() else {
            return Err(format(format!(
                "'latent' must be [N, C, T, H, W], found {:?}",
                latent.shape()
            )));
        };
        let per = c * t * h * w;
        let lat = values(latent);
        let rows = |key: &str| -> Result<Option<(usize, Vec<f32>)>> {
            match tensors.get(key) {
                None => Ok(None),
                Some(d) if d.shape().first() == Some(&n) && !d.shape().is_empty() => {
                    let width = d.shape()[1..].iter().product::<usize>();
                    Ok(Some((width, values(d))))
                }
                Some(d) => Err(format(format!(
                    "'{key}' must have {n} rows, found shape {:?}",
                    d.shape()
                ))),
            }
        };
        let actions = rows("actions")?;
        let camera = rows("camera")?;
        let view = rows("view")?;
        let context = rows("context")?;
        let action_map = rows("action_map")?;
        let mut set = LatentSet::new([c, t, h, w]);
        set.context_shape = tensors
            .get("context")
            .map(|d| [d.shape()[1], d.shape().get(2).copied().unwrap_or(1)]);
        for i in 0..n {
            let slice = |r: &Option<(usize, Vec<f32>)>| {
                r.as_ref().map(|(wd, v)| v[i * wd..(i + 1) * wd].to_vec())
            };
            set.push(LatentSample {
                latent: lat[i * per..(i + 1) * per].to_vec(),
                actions: slice(&actions),
                camera: slice(&camera),
                view: view.as_ref().map(|(_, v)| v[i] as usize),
                context: slice(&context),
                action_map: slice(&action_map),
            })?;
        }
        if let Some(v) = meta.get("views").and_then(|v| v.parse().ok()) {
            set.views = Some(v);
        }
        Ok(set)
    }
}

/// Groups per-video-frame vectors (`frames × dim`) into latent frames of a causal tokenizer with
/// temporal compression `k`: latent frame 0 holds frame 0 (zero padded to `k` vectors), latent
/// frame `i ≥ 1` holds frames `(i−1)·k + 1 ..= i·k`. Returns `[latent_frames, k·dim]` row-major.
pub fn group_frame_vectors(vectors: &[Vec<f32>], dim: usize, k: usize) -> Result<Vec<f32>> {
    let frames = vectors.len();
    if frames == 0 || k == 0 || !(frames - 1).is_multiple_of(k) {
        return Err(Error::Shape {
            what: "per-frame vectors".into(),
            expected: format!("1 + {k}·n frames"),
            found: format!("{frames} frames"),
        });
    }
    if let Some((i, v)) = vectors.iter().enumerate().find(|(_, v)| v.len() != dim) {
        return Err(Error::Shape {
            what: format!("vector of frame {i}"),
            expected: format!("{dim} values"),
            found: format!("{} values", v.len()),
        });
    }
    let latent_frames = 1 + (frames - 1) / k;
    let mut out = vec![0f32; latent_frames * k * dim];
    out[..dim].copy_from_slice(&vectors[0]);
    for i in 1..latent_frames {
        for j in 0..k {
            let f = (i - 1) * k + 1 + j;
            let at = (i * k + j) * dim;
            out[at..at + dim].copy_from_slice(&vectors[f]);
        }
    }
    Ok(out)
}

/// The per-latent-frame rows of vectors a clip record gives per video frame, for a clip of
/// `frames` frames and a tokenizer of temporal compression `k`. Vector `i` is what happens
/// between frames `i` and `i + 1` (an action taken after frame `i`), so frame `f ≥ 1` is
/// paired with vector `f − 1` and frame 0 with zeros; the frames are then grouped with
/// [`group_frame_vectors`]: `[latent_frames, k·dim]` row-major. Needs at least `frames − 1`
/// vectors (more are ignored), all of one width.
pub fn latent_frame_vectors(rows: &[Vec<f32>], frames: usize, k: usize) -> Result<Vec<f32>> {
    if frames == 0 || rows.len() + 1 < frames {
        return Err(Error::Shape {
            what: "per-frame vectors".into(),
            expected: format!(
                "a vector for each of the first {} frames",
                frames.saturating_sub(1)
            ),
            found: format!("{} vectors", rows.len()),
        });
    }
    let dim = rows.first().map_or(0, Vec::len);
    let mut shifted = vec![vec![0.0; dim]];
    shifted.extend(rows.iter().take(frames - 1).cloned());
    group_frame_vectors(&shifted, dim, k)
}

/// Frames ↔ tokenizer input: `[T, H, W, 3]` RGB ↔ `[1, 3, T, H, W]` in `[−1, 1]`.
pub use cosmos_tokenizer::media::{frames_to_tensor, tensor_to_frames};

/// One clip of a webdataset shard: the members sharing a key.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardClip {
    /// The key (member name before its first `.`).
    pub key: String,
    /// `KEY.mp4` bytes.
    pub video: Vec<u8>,
    /// `KEY.json` (its manifest record; `Null` when absent).
    pub json: serde_json::Value,
    /// `KEY.txt` (its caption or instruction; empty when absent).
    pub text: String,
}

/// Reads every clip of a webdataset tar shard (`KEY.mp4`, `KEY.json`, `KEY.txt`, as `cosmos
/// curate` writes them). Clips without a video member are an error.
pub fn read_shard(path: &Path) -> Result<Vec<ShardClip>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let source = path.display().to_string();
    let format = |reason: String| Error::Format {
        path: source.clone(),
        reason,
    };
    let mut archive = tar::Archive::new(file);
    // Members seen so far per key: video, manifest record, text.
    type Members = (Option<Vec<u8>>, Option<serde_json::Value>, String);
    let mut clips: BTreeMap<String, Members> = BTreeMap::new();
    let mut order = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| format(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format(format!("reading a member: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| format(format!("member name: {e}")))?
            .to_string_lossy()
            .to_string();
        let base = name.rsplit('/').next().unwrap_or(&name).to_string();
        let Some((key, ext)) = base.split_once('.') else {
            continue;
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes)
            .map_err(|e| format(format!("member '{name}': {e}")))?;
        let slot = clips.entry(key.to_string()).or_insert_with(|| {
            order.push(key.to_string());
            (None, None, String::new())
        });
        match ext {
            "mp4" => slot.0 = Some(bytes),
            "json" => {
                slot.1 = Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| format(format!("member '{name}': not JSON: {e}")))?,
                )
            }
            "txt" => slot.2 = String::from_utf8_lossy(&bytes).trim().to_string(),
            _ => {}
        }
    }
    order
        .into_iter()
        .map(|key| {
            let (video, json, text) = clips.remove(&key).expect("listed");
            let video = video.ok_or_else(|| format(format!("clip '{key}' has no .mp4 member")))?;
            Ok(ShardClip {
                key,
                video,
                json: json.unwrap_or(serde_json::Value::Null),
                text,
            })
        })
        .collect()
}

/// The `field` of a clip record as per-frame vectors (a list of lists of numbers).
pub fn frame_vectors(json: &serde_json::Value, field: &str) -> Result<Option<Vec<Vec<f32>>>> {
    let Some(value) = json.get(field) else {
        return Ok(None);
    };
    let bad = || Error::Format {
        path: format!("clip record field '{field}'"),
        reason: "expected a list of lists of numbers (one vector per video frame)".into(),
    };
    let rows = value.as_array().ok_or_else(bad)?;
    rows.iter()
        .map(|r| {
            r.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|v| v.as_f64().map(|x| x as f32).ok_or_else(bad))
                .collect::<Result<Vec<f32>>>()
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// How shard clips become training latents.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardOptions {
    /// Frames taken from the start of each clip (`1 + k·n` for temporal compression `k`).
    pub frames: usize,
    /// Frames are resized to `(width, height)`.
    pub size: (u32, u32),
    /// Keep one decoded frame in `stride`.
    pub stride: usize,
    /// The record field holding per-frame actions, if actions condition.
    pub action_field: Option<String>,
    /// The record field holding per-frame camera poses, if poses condition.
    pub camera_field: Option<String>,
    /// The record field holding the view index, if views condition.
    pub view_field: Option<String>,
    /// Cut every clip into all the windows of `frames` frames that start every this many
    /// (kept) frames, each a training sample with its own slice of the per-frame vectors;
    /// `None`: the first `frames` frames of each clip only.
    pub window_step: Option<usize>,
}

impl Default for ShardOptions {
    fn default() -> Self {
        Self {
            frames: 17,
            size: (64, 64),
            stride: 1,
            action_field: None,
            camera_field: None,
            view_field: None,
            window_step: None,
        }
    }
}

/// Draws a spatial action map for one training window ([`FrameInputs::action_map`](
/// crate::conditioning::FrameInputs::action_map)): given the window's frames `[T, H, W, 3]`,
/// its per-frame actions (vector `t` between frames `t` and `t + 1`) and the latent grid
/// `[t, h, w]`, returns `channels × t × h × w` values, row-major.
pub type ActionMapper<'a> =
    dyn FnMut(ndarray::ArrayView4<u8>, &[Vec<f32>], [usize; 3]) -> Result<Vec<f32>> + 'a;

/// A video encoder for [`encode_shards`]: `[1, 3, T, H, W]` in `[−1, 1]` → latent
/// `[1, C, 1 + (T − 1)/k, h, w]` in the DiT's scale, with its temporal compression `k` and device.
pub struct ClipEncoder<'a> {
    /// The encoding function.
    pub encode: &'a mut dyn FnMut(Tensor<5>) -> Result<Tensor<5>>,
    /// Temporal compression `k`.
    pub temporal_compression: usize,
    /// Where videos are put before encoding.
    pub device: Device,
}

impl ClipEncoder<'_> {
    /// Wraps a [`cosmos_tokenizer::Tokenizer`] (latents in the tokenizer's own scale).
    pub fn tokenizer<'a>(
        tokenizer: &'a cosmos_tokenizer::Tokenizer,
        encode: &'a mut dyn FnMut(Tensor<5>) -> Result<Tensor<5>>,
    ) -> ClipEncoder<'a> {
        ClipEncoder {
            encode,
            temporal_compression: tokenizer.temporal_compression(),
            device: tokenizer.device().clone(),
        }
    }
}

/// Turns a text (the clip's `KEY.txt`) into embeddings `[tokens, dim]` (row-major), e.g. with
/// the T5 encoder.
pub type TextEmbedder<'a> = dyn FnMut(&str) -> Result<Vec<f32>> + 'a;

/// Decodes, resizes and encodes the clips of `shards` with `encoder` into one [`LatentSet`],
/// caching each shard's latents as `cache_dir/<shard name>-<bytes>-<frames>x<h>x<w>.safetensors`
/// (reused when present). Per-frame vectors are grouped per latent frame with the
/// encoder's temporal compression (action `t` acting between frames `t` and `t + 1`, so latent
/// frame `i ≥ 1` gets the actions that produce its frames). Clips shorter than `frames` are
/// skipped. `text` (with `context_shape`) embeds `KEY.txt` for instruction conditioning.
pub fn encode_shards(
    shards: &[std::path::PathBuf],
    encoder: &mut ClipEncoder<'_>,
    options: &ShardOptions,
    cache_dir: Option<&Path>,
    text: Option<(&mut TextEmbedder<'_>, [usize; 2])>,
    log: &mut dyn FnMut(&str),
) -> Result<LatentSet> {
    encode_shards_with_maps(shards, encoder, options, cache_dir, text, None, log)
}

/// [`encode_shards`], with each sample's spatial action map drawn by `action_map` (needs
/// `options.action_field`; the cache file name then ends in `-map`).
pub fn encode_shards_with_maps(
    shards: &[std::path::PathBuf],
    encoder: &mut ClipEncoder<'_>,
    options: &ShardOptions,
    cache_dir: Option<&Path>,
    mut text: Option<(&mut TextEmbedder<'_>, [usize; 2])>,
    mut action_map: Option<&mut ActionMapper<'_>>,
    log: &mut dyn FnMut(&str),
) -> Result<LatentSet> {
    if action_map.is_some() && options.action_field.is_none() {
        return Err(Error::Config(
            "an action map is drawn from the actions: give an action field".into(),
        ));
    }
    if options.window_step == Some(0) {
        return Err(Error::Config("window_step must be at least 1".into()));
    }
    let k = encoder.temporal_compression;
    if options.frames == 0 || !(options.frames - 1).is_multiple_of(k) {
        return Err(Error::Config(format!(
            "frames must be 1 + {k}·n for this tokenizer, found {}",
            options.frames
        )));
    }
    let mut merged: Option<LatentSet> = None;
    for shard in shards {
        let meta = std::fs::metadata(shard).map_err(|e| Error::io(shard, e))?;
        let name = shard
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "shard".into());
        let (w, h) = options.size;
        let cache = cache_dir.map(|d| {
            d.join(format!(
                "{name}-{}-{}x{h}x{w}-s{}{}{}{}.safetensors",
                meta.len(),
                options.frames,
                options.stride,
                options
                    .window_step
                    .map(|n| format!("-w{n}"))
                    .unwrap_or_default(),
                if text.is_some() { "-text" } else { "" },
                if action_map.is_some() { "-map" } else { "" }
            ))
        });
        let set = match cache.as_ref().filter(|p| p.is_file()) {
            Some(p) => {
                log(&format!(
                    "{}: latents from the cache {}",
                    shard.display(),
                    p.display()
                ));
                LatentSet::load(p)?
            }
            None => {
                let set = encode_shard(
                    shard,
                    encoder,
                    options,
                    text.as_mut().map(|(f, s)| (&mut **f, *s)),
                    action_map.as_mut().map(|f| &mut **f),
                    log,
                )?;
                if let Some(p) = &cache {
                    set.save(p)?;
                }
                set
            }
        };
        match &mut merged {
            None => merged = Some(set),
            Some(m) => {
                if m.shape != set.shape
                    || m.action_dim != set.action_dim
                    || m.camera_dim != set.camera_dim
                    || m.context_shape != set.context_shape
                    || m.action_map_channels != set.action_map_channels
                {
                    return Err(Error::Config(format!(
                        "{}: its clips differ in shape or conditioning from the previous shards",
                        shard.display()
                    )));
                }
                m.views = m.views.max(set.views);
                m.samples.extend(set.samples);
            }
        }
    }
    merged.ok_or_else(|| Error::Config("no shards given".into()))
}

fn encode_shard(
    shard: &Path,
    encoder: &mut ClipEncoder<'_>,
    options: &ShardOptions,
    mut text: Option<(&mut TextEmbedder<'_>, [usize; 2])>,
    mut action_map: Option<&mut ActionMapper<'_>>,
    log: &mut dyn FnMut(&str),
) -> Result<LatentSet> {
    let clips = read_shard(shard)?;
    let k = encoder.temporal_compression;
    let device = encoder.device.clone();
    let scratch = std::env::temp_dir().join(format!(
        "cosmos-posttrain-{}-{}.mp4",
        std::process::id(),
        shard
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    ));
    let mut set: Option<LatentSet> = None;
    let mut skipped = 0;
    let stride = options.stride.max(1);
    for clip in &clips {
        std::fs::write(&scratch, &clip.video).map_err(|e| Error::io(&scratch, e))?;
        let read = cosmos_media::ReadOptions {
            // Windows need the whole clip; otherwise only its first frames.
            max_frames: match options.window_step {
                Some(_) => None,
                None => Some(options.frames * stride),
            },
            stride,
            resize: Some(options.size),
            ..cosmos_media::ReadOptions::default()
        };
        let video = cosmos_media::read_video(&scratch, &read);
        let video = match video {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&scratch);
                return Err(Error::Format {
                    path: format!("{}:{}.mp4", shard.display(), clip.key),
                    reason: e.to_string(),
                });
            }
        };
        let decoded = video.frames.dim().0;
        if decoded < options.frames {
            skipped += 1;
            continue;
        }
        let where_ = |member: &str| format!("{}:{}.{member}", shard.display(), clip.key);
        // The record's per-frame vectors at the kept frames (after the stride).
        let rows = |field: &Option<String>| -> Result<Option<Vec<Vec<f32>>>> {
            let Some(field) = field else { return Ok(None) };
            let rows = frame_vectors(&clip.json, field)?.ok_or_else(|| Error::Format {
                path: where_("json"),
                reason: format!("no '{field}' field"),
            })?;
            Ok(Some(rows.into_iter().step_by(stride).collect()))
        };
        let action_rows = rows(&options.action_field)?;
        let camera_rows = rows(&options.camera_field)?;
        let view = match &options.view_field {
            Some(f) => Some(
                clip.json
                    .get(f)
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| Error::Format {
                        path: where_("json"),
                        reason: format!("'{f}' must be a non-negative integer view index"),
                    })? as usize,
            ),
            None => None,
        };
        let context = match text.as_mut() {
            Some((embed, _)) => Some(embed(&clip.text)?),
            None => None,
        };
        let starts: Vec<usize> = match options.window_step {
            Some(step) => (0..=decoded - options.frames).step_by(step).collect(),
            None => vec![0],
        };
        for start in starts {
            let frames = video
                .frames
                .slice(ndarray::s![start..start + options.frames, .., .., ..])
                .to_owned();
            let latent = (encoder.encode)(frames_to_tensor(frames.view(), &device)?)?;
            let [_, c, t, lh, lw] = latent.dims();
            let values: Vec<f32> = latent
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| Error::Config(format!("latent values: {e:?}")))?;
            // One vector per frame of the window (the last may be missing: nothing follows it).
            let window = |rows: &Option<Vec<Vec<f32>>>, field: &Option<String>| {
                let (Some(rows), Some(field)) = (rows, field) else {
                    return Ok(None);
                };
                let rows: Vec<Vec<f32>> = rows
                    .iter()
                    .skip(start)
                    .take(options.frames)
                    .cloned()
                    .collect();
                if rows.len() + 1 < options.frames {
                    return Err(Error::Shape {
                        what: format!("{} '{field}'", where_("json")),
                        expected: format!(
                            "a vector for each of frames {start}..{} (after the stride)",
                            start + options.frames - 1
                        ),
                        found: format!("{} vectors from frame {start}", rows.len()),
                    });
                }
                Ok(Some(rows))
            };
            let actions = window(&action_rows, &options.action_field)?;
            let camera = window(&camera_rows, &options.camera_field)?;
            let map = match (action_map.as_mut(), &actions) {
                (Some(draw), Some(a)) => Some(draw(frames.view(), a, [t, lh, lw])?),
                _ => None,
            };
            let grouped = |rows: Option<Vec<Vec<f32>>>| {
                rows.map(|r| latent_frame_vectors(&r, options.frames, k))
                    .transpose()
            };
            let set = set.get_or_insert_with(|| {
                let mut s = LatentSet::new([c, t, lh, lw]);
                s.context_shape = text.as_ref().map(|(_, shape)| *shape);
                s
            });
            set.push(LatentSample {
                latent: values,
                actions: grouped(actions)?,
                camera: grouped(camera)?,
                view,
                context: context.clone(),
                action_map: map,
            })?;
        }
    }
    let _ = std::fs::remove_file(&scratch);
    log(&format!(
        "{}: {} {} encoded, {skipped} shorter than {} frames skipped",
        shard.display(),
        set.as_ref().map(LatentSet::len).unwrap_or(0),
        if options.window_step.is_some() {
            "windows of the clips"
        } else {
            "clips"
        },
        options.frames
    ));
    set.ok_or_else(|| Error::Format {
        path: shard.display().to_string(),
        reason: format!("no clip of at least {} frames", options.frames),
    })
}
