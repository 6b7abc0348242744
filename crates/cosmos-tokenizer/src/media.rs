//! Real images and videos through a tokenizer (feature `media`): files in, latents or
//! indices (safetensors) and the reconstruction out, with PSNR and SSIM of the
//! reconstruction. This is what `cosmos tokenize` runs.
//!
//! Videos go through in temporal windows of `1 + k·T` frames, as the reference pipeline does
//! (`CausalVideoTokenizer.forward(video, temporal_window=17)`): one window is decoded from
//! the file, padded, encoded, decoded, cropped, scored and written before the next one is
//! read, so memory depends on the window (and the tile), not on the clip. Frames are padded to
//! multiples of the spatial compression with black, as the reference does, and cropped back.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use cosmos_media::{FrameReader, ReadOptions, Video, VideoWriter, WriteOptions};
use ndarray::{Array3, Array4, ArrayView3, ArrayView4};

pub use cosmos_media;
pub use ndarray;

use crate::chunking::Chunking;
use crate::padding::{Padding, pad_frames, pad_spatial};
use crate::tokenizer::{Encoded, Tokenizer};
use crate::{Error, Result};

/// Extensions read as still images.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];

/// Whether `path` names an image file (by extension).
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `[H, W, 3]` RGB → `[1, 3, H, W]` in `[−1, 1]`.
pub fn image_to_tensor(image: ArrayView3<'_, u8>, device: &Device) -> Result<Tensor<4>> {
    let model = cosmos_media::image_to_model(image)?;
    let (c, h, w) = model.dim();
    let (data, _) = model.into_raw_vec_and_offset();
    Ok(Tensor::from_data(
        TensorData::new(data, [1, c, h, w]),
        device,
    ))
}

/// The first image of `[b, 3, H, W]` in `[−1, 1]` → `[H, W, 3]` RGB (clamped, rounded).
pub fn tensor_to_image(x: Tensor<4>) -> Result<Array3<u8>> {
    let [_, c, h, w] = x.dims();
    let data: Vec<f32> = x
        .narrow(0, 0, 1)
        .into_data()
        .convert_dtype(DType::F32)
        .try_into_vec::<f32>()
        .map_err(|e| Error::Unsupported(format!("reading the image tensor: {e:?}")))?;
    let model = Array3::from_shape_vec((c, h, w), data)
        .map_err(|e| Error::Unsupported(format!("image tensor layout: {e}")))?;
    Ok(cosmos_media::model_to_image(model.view())?)
}

/// `[T, H, W, 3]` RGB frames → `[1, 3, T, H, W]` in `[−1, 1]`.
pub fn frames_to_tensor(frames: ArrayView4<'_, u8>, device: &Device) -> Result<Tensor<5>> {
    let model = cosmos_media::frames_to_model(frames)?;
    let (c, t, h, w) = model.dim();
    let (data, _) = model.into_raw_vec_and_offset();
    Ok(Tensor::from_data(
        TensorData::new(data, [1, c, t, h, w]),
        device,
    ))
}

/// The first video of `[b, 3, T, H, W]` in `[−1, 1]` → `[T, H, W, 3]` RGB frames.
pub fn tensor_to_frames(x: Tensor<5>) -> Result<Array4<u8>> {
    let [_, c, t, h, w] = x.dims();
    let data: Vec<f32> = x
        .narrow(0, 0, 1)
        .into_data()
        .convert_dtype(DType::F32)
        .try_into_vec::<f32>()
        .map_err(|e| Error::Unsupported(format!("reading the video tensor: {e:?}")))?;
    let model = ndarray::Array4::from_shape_vec((c, t, h, w), data)
        .map_err(|e| Error::Unsupported(format!("video tensor layout: {e}")))?;
    Ok(cosmos_media::model_to_frames(model.view())?)
}

/// How to run a file through a tokenizer.
#[derive(Debug, Clone)]
pub struct TokenizeOptions {
    /// Frames per temporal window (video); `None`: 17, the reference's default (any count for
    /// image tokenizers).
    pub window: Option<usize>,
    /// Spatial tiles in pixels and their overlap (see [`Chunking`]).
    pub tile: Option<usize>,
    /// Tile overlap in pixels.
    pub overlap: usize,
    /// First source frame (video).
    pub start: u64,
    /// At most this many frames (video).
    pub max_frames: Option<usize>,
    /// Resize every frame to `(width, height)` before tokenizing.
    pub resize: Option<(u32, u32)>,
    /// Decode the latents again (needed for the reconstruction and the scores).
    pub decode: bool,
}

impl Default for TokenizeOptions {
    fn default() -> Self {
        Self {
            window: None,
            tile: None,
            overlap: 0,
            start: 0,
            max_frames: None,
            resize: None,
            decode: true,
        }
    }
}

/// What [`tokenize_image`] / [`tokenize_video`] produced.
#[derive(Debug)]
pub struct TokenizeResult {
    /// Latents (or codes) and indices of all windows, concatenated along time:
    /// `[1, c, t', h', w']` and `[1, t', h', w']`.
    pub encoded: Encoded,
    /// Frames read (1 for an image).
    pub frames: usize,
    /// Frame height and width as read (after `resize`).
    pub size: (usize, usize),
    /// Frames per second of the source (0 for an image).
    pub fps: f64,
    /// Mean PSNR of the reconstruction in dB (when decoded).
    pub psnr: Option<f64>,
    /// Mean SSIM of the reconstruction (when decoded).
    pub ssim: Option<f64>,
    /// The reconstructed image (images only, when decoded).
    pub reconstruction: Option<Array3<u8>>,
    /// The spatial padding added before encoding (black borders up to multiples of the
    /// spatial compression).
    pub padding: Padding,
    /// Frames per temporal window.
    pub window: usize,
    /// Tile size and overlap used, in pixels.
    pub tile: Option<(usize, usize)>,
}

impl TokenizeResult {
    /// The metadata [`write_latents`] stores so [`decode_latents`] can undo the padding and
    /// windowing: kind, model, frames, size, fps, padding, window, tiles.
    pub fn metadata(&self, tokenizer: &Tokenizer, model: &str) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("format", "cosmos-rs tokenizer latents".into());
        put("kind", tokenizer.kind().short_name().into());
        put("model", model.into());
        put("frames", self.frames.to_string());
        put("height", self.size.0.to_string());
        put("width", self.size.1.to_string());
        put("fps", self.fps.to_string());
        put("pad_top", self.padding.top.to_string());
        put("pad_left", self.padding.left.to_string());
        put("window", self.window.to_string());
        put(
            "spatial_compression",
            tokenizer.spatial_compression().to_string(),
        );
        put(
            "temporal_compression",
            tokenizer.temporal_compression().to_string(),
        );
        if let Some((tile, overlap)) = self.tile {
            put("tile", tile.to_string());
            put("overlap", overlap.to_string());
        }
        m
    }
}

/// The windows and tiles of a run: 17-frame windows by default (the reference's
/// `temporal_window`), 8 frames at a time for image tokenizers.
fn chunking_for(tokenizer: &Tokenizer, options: &TokenizeOptions) -> Chunking {
    let default_window = if tokenizer.temporal_compression() > 1 {
        17
    } else {
        8
    };
    Chunking {
        window: Some(options.window.unwrap_or(default_window)),
        tile: options.tile,
        overlap: options.overlap,
    }
}

/// Encodes (and, with `options.decode`, reconstructs and scores) one image.
pub fn tokenize_image(
    tokenizer: &Tokenizer,
    path: &Path,
    options: &TokenizeOptions,
) -> Result<TokenizeResult> {
    let mut image = cosmos_media::read_image(path)?;
    if let Some((w, h)) = options.resize {
        image = cosmos_media::resize_image(
            image.view(),
            w as usize,
            h as usize,
            cosmos_media::ResizeFilter::default(),
        )?;
    }
    let (h, w, _) = image.dim();
    let device = tokenizer.device().clone();
    let x: Tensor<5> = image_to_tensor(image.view(), &device)?.unsqueeze_dim(2);
    let (x, padding) = pad_spatial(x, tokenizer.spatial_compression(), -1.0);
    let chunking = chunking_for(tokenizer, options);
    let encoded = tokenizer.encode_tiled(x, chunking.tile, chunking.overlap)?;
    let (mut psnr, mut ssim, mut reconstruction) = (None, None, None);
    if options.decode {
        let s = tokenizer.spatial_compression();
        let decoded = tokenizer.decode_tiled(
            encoded.latent.clone(),
            chunking.tile.map(|t| t / s),
            chunking.overlap / s,
        )?;
        let decoded = padding.crop(decoded).squeeze_dim::<4>(2);
        let out = tensor_to_image(decoded)?;
        psnr = Some(cosmos_media::psnr(image.view(), out.view())?);
        ssim = Some(cosmos_media::ssim(image.view(), out.view())?);
        reconstruction = Some(out);
    }
    Ok(TokenizeResult {
        encoded,
        frames: 1,
        size: (h, w),
        fps: 0.0,
        psnr,
        ssim,
        reconstruction,
        padding,
        window: 1,
        tile: chunking.tile.map(|t| (t, chunking.overlap)),
    })
}

/// Progress of [`tokenize_video`]: frames done and, when the container says, frames in all.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Frames tokenized so far.
    pub done: usize,
    /// Frames expected in all, when known.
    pub total: Option<usize>,
}

/// Tokenizes a video window by window. Reconstructed frames (when `options.decode`) go to
/// `on_frames` as `[t, H, W, 3]` RGB, window after window, so they can be written as they come.
pub fn tokenize_video(
    tokenizer: &Tokenizer,
    path: &Path,
    options: &TokenizeOptions,
    mut on_frames: impl FnMut(ArrayView4<'_, u8>) -> Result<()>,
    mut progress: impl FnMut(Progress),
) -> Result<TokenizeResult> {
    let mut read = ReadOptions {
        start: options.start,
        max_frames: options.max_frames,
        ..ReadOptions::default()
    };
    read.resize = options.resize;
    let mut reader = FrameReader::open(path, &read)?;
    let total = reader
        .info()
        .frames
        .map(|f| (f.saturating_sub(options.start)) as usize)
        .map(|f| options.max_frames.map_or(f, |m| m.min(f)));
    let fps = reader.fps();
    let chunking = chunking_for(tokenizer, options);
    chunking.validate(tokenizer)?;
    let window = chunking.window.unwrap_or(17);
    let s = tokenizer.spatial_compression();
    let tc = tokenizer.temporal_compression();
    let device = tokenizer.device().clone();
    let (mut latents, mut indices) = (Vec::new(), Vec::new());
    let (mut psnr_sum, mut ssim_sum) = (0.0, 0.0);
    let mut frames = 0;
    let mut size = (0, 0);
    let mut spatial_padding = Padding::default();
    progress(Progress { done: 0, total });
    while let Some(video) = reader.next_chunk(window)? {
        let n = video.len();
        size = (video.height(), video.width());
        let x = frames_to_tensor(video.frames.view(), &device)?;
        let (x, time_padding) = pad_frames(x, tc);
        let (x, padding) = pad_spatial(x, s, -1.0);
        spatial_padding = padding;
        let encoded = tokenizer.encode_tiled(x, chunking.tile, chunking.overlap)?;
        if options.decode {
            let decoded = tokenizer.decode_tiled(
                encoded.latent.clone(),
                chunking.tile.map(|t| t / s),
                chunking.overlap / s,
            )?;
            let decoded = padding.and(time_padding).crop(decoded);
            let out = tensor_to_frames(decoded)?;
            let psnr = cosmos_media::psnr_video(video.frames.view(), out.view())?;
            let ssim = cosmos_media::ssim_video(video.frames.view(), out.view())?;
            psnr_sum += psnr.per_frame.iter().sum::<f64>();
            ssim_sum += ssim.per_frame.iter().sum::<f64>();
            on_frames(out.view())?;
        }
        latents.push(encoded.latent);
        if let Some(i) = encoded.indices {
            indices.push(i);
        }
        frames += n;
        progress(Progress {
            done: frames,
            total,
        });
    }
    if frames == 0 {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "the video has no frames in the requested range".into(),
        });
    }
    let decoded = options.decode;
    Ok(TokenizeResult {
        encoded: Encoded {
            latent: Tensor::cat(latents, 2),
            indices: (!indices.is_empty()).then(|| Tensor::cat(indices, 1)),
        },
        frames,
        size,
        fps,
        psnr: decoded.then(|| psnr_sum / frames as f64),
        ssim: decoded.then(|| ssim_sum / frames as f64),
        reconstruction: None,
        padding: spatial_padding,
        window,
        tile: chunking.tile.map(|t| (t, chunking.overlap)),
    })
}

fn metadata_usize(metadata: &BTreeMap<String, String>, key: &str) -> Result<Option<usize>> {
    metadata
        .get(key)
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                Error::Config(format!(
                    "latents metadata '{key}' must be a whole number, found '{v}'"
                ))
            })
        })
        .transpose()
}

/// Decodes latents read by [`read_latents`] back into `[T, H, W, 3]` RGB frames (one frame for
/// an image), window by window and tile by tile as they were encoded, cropping the padding.
/// Without metadata the latents are decoded whole and nothing is cropped.
pub fn decode_latents(
    tokenizer: &Tokenizer,
    encoded: &Encoded,
    metadata: &BTreeMap<String, String>,
) -> Result<Array4<u8>> {
    if let Some(kind) = metadata.get("kind")
        && kind != tokenizer.kind().short_name()
    {
        return Err(Error::Config(format!(
            "these latents come from a {kind} tokenizer, the model is {}",
            tokenizer.kind().short_name()
        )));
    }
    let tc = tokenizer.temporal_compression();
    let latent = encoded.latent.clone();
    let chunking = Chunking {
        window: metadata_usize(metadata, "window")?,
        tile: metadata_usize(metadata, "tile")?,
        overlap: metadata_usize(metadata, "overlap")?.unwrap_or(0),
    };
    let per_window = chunking
        .window
        .map(|w| {
            if tc > 1 {
                1 + (w.max(1) - 1) / tc
            } else {
                w.max(1)
            }
        })
        .unwrap_or(latent.dims()[2]);
    let s = tokenizer.spatial_compression();
    let tile = chunking.tile.map(|t| t / s);
    let frames_total = metadata_usize(metadata, "frames")?;
    let window_frames = chunking.window;
    let mut pieces = Vec::new();
    let mut start = 0;
    let t = latent.dims()[2];
    let mut frames_left = frames_total;
    while start < t {
        let len = per_window.min(t - start);
        let mut decoded = tokenizer.decode_tiled(
            latent.clone().narrow(2, start, len),
            tile,
            chunking.overlap / s,
        )?;
        // Each window holds at most `window` real frames; the rest is time padding.
        let mut keep = decoded.dims()[2];
        if let Some(w) = window_frames.filter(|_| tc > 1) {
            keep = keep.min(w);
        }
        if let Some(left) = frames_left {
            keep = keep.min(left);
            frames_left = Some(left - keep);
        }
        if keep < decoded.dims()[2] {
            decoded = decoded.narrow(2, 0, keep.max(1));
        }
        pieces.push(decoded);
        start += len;
    }
    let decoded = Tensor::cat(pieces, 2);
    let [_, _, _, h, w] = decoded.dims();
    let top = metadata_usize(metadata, "pad_top")?.unwrap_or(0);
    let left = metadata_usize(metadata, "pad_left")?.unwrap_or(0);
    let height = metadata_usize(metadata, "height")?
        .unwrap_or(h)
        .min(h.saturating_sub(top));
    let width = metadata_usize(metadata, "width")?
        .unwrap_or(w)
        .min(w.saturating_sub(left));
    tensor_to_frames(decoded.narrow(3, top, height).narrow(4, left, width))
}

/// Writes latents (or codes) and indices as safetensors: `latent` (f32) and, for discrete
/// tokenizers, `indices` (i64), with `metadata` as the file's string metadata.
pub fn write_latents(
    path: &Path,
    encoded: &Encoded,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let io = |message: String| Error::Io {
        path: path.display().to_string(),
        message,
    };
    let latent = encoded.latent.clone().into_data().convert_dtype(DType::F32);
    let mut tensors: Vec<(String, TensorData)> = vec![("latent".into(), latent)];
    if let Some(indices) = &encoded.indices {
        tensors.push((
            "indices".into(),
            indices.clone().into_data().convert_dtype(DType::I64),
        ));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, data)| {
            let dtype = match data.dtype() {
                DType::I64 => safetensors::Dtype::I64,
                _ => safetensors::Dtype::F32,
            };
            safetensors::tensor::TensorView::new(dtype, data.shape().to_vec(), data.as_bytes())
                .map(|view| (name.clone(), view))
                .map_err(|e| io(format!("{e}")))
        })
        .collect::<Result<_>>()?;
    let metadata: std::collections::HashMap<String, String> =
        metadata.clone().into_iter().collect();
    safetensors::serialize_to_file(views, Some(metadata), path).map_err(|e| io(format!("{e}")))
}

/// Reads latents written by [`write_latents`]: the `latent` tensor and, if present,
/// `indices`, plus the metadata.
pub fn read_latents(path: &Path, device: &Device) -> Result<(Encoded, BTreeMap<String, String>)> {
    let io = |message: String| Error::Io {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| io(e.to_string()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| io(format!("not a latents file: {e}")))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .map(|m| m.into_iter().collect())
        .unwrap_or_default();
    let checkpoint = cosmos_nn::checkpoint::Checkpoint::open(path)?;
    let latent = checkpoint.tensor::<5>("latent", device)?;
    let indices = match checkpoint.int_values("indices") {
        Ok((values, shape)) if shape.len() == 4 => Some(Tensor::<4, Int>::from_data(
            TensorData::new(values, [shape[0], shape[1], shape[2], shape[3]]),
            device,
        )),
        _ => None,
    };
    Ok((Encoded { latent, indices }, metadata))
}

/// Writes a reconstructed image (PNG or JPEG by extension).
pub fn write_image(path: &Path, image: &Array3<u8>) -> Result<()> {
    Ok(cosmos_media::write_image(path, image.view())?)
}

/// A streaming MP4 writer for reconstructed frames (H.264, even sizes padded).
pub fn video_writer(path: &Path, width: usize, height: usize, fps: f64) -> Result<VideoWriter> {
    let options = WriteOptions {
        pad_to_even: true,
        ..WriteOptions::default()
    };
    Ok(VideoWriter::create(
        path,
        width,
        height,
        if fps > 0.0 { fps } else { 24.0 },
        &options,
    )?)
}

/// Writes a whole reconstructed video.
pub fn write_video(path: &Path, frames: Array4<u8>, fps: f64) -> Result<()> {
    let video = Video::new(frames, if fps > 0.0 { fps } else { 24.0 })?;
    let options = WriteOptions {
        pad_to_even: true,
        ..WriteOptions::default()
    };
    Ok(cosmos_media::write_video(path, &video, &options)?)
}
