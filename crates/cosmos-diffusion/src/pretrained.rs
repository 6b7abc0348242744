//! Where a whole generation model comes from: one folder holding the transformer, the T5 text
//! encoder and the video tokenizer, in the diffusers pipeline layout or a cosmos-predict1-style
//! layout.
//!
//! ```text
//! MODEL/
//!   transformer/   config.json + *.safetensors (diffusers)   or  MODEL/config.json + model.pt
//!   text_encoder/  config.json + *.safetensors [+ spiece.model]
//!   tokenizer/     spiece.model (diffusers keeps the SentencePiece model here)
//!                  or the Cosmos video tokenizer (encoder.jit / decoder.jit / *.safetensors)
//!   vae/           the Cosmos video tokenizer: diffusers' AutoencoderKLCosmos (config.json
//!                  with latents_mean/std + diffusion_pytorch_model.safetensors) or NVIDIA's
//!                  encoder.jit / decoder.jit with mean_std.pt
//! ```
//! Each part can also be given explicitly ([`ModelPaths`]).

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::adapters::{
    CosmosVideoTokenizer, LatentNormalization, SharedVideoTokenizer, T5PromptEncoder,
};
use crate::checkpoint::load_dit;
use crate::pipeline::WorldPipeline;
use crate::{Error, Result};

/// The folders of a generation model's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    /// The transformer (diffusers `transformer/` folder or a folder with `model.pt` + `config.json`).
    pub transformer: PathBuf,
    /// The T5 encoder folder (`config.json` + weights).
    pub text_encoder: PathBuf,
    /// The SentencePiece model.
    pub spiece: PathBuf,
    /// The video tokenizer (file or folder `cosmos-tokenizer` reads).
    pub video_tokenizer: PathBuf,
}

fn exists(p: &Path) -> bool {
    p.exists()
}

/// Whether a folder holds `*.jit` or `*.safetensors` files.
fn holds_weights(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".jit") || name.ends_with(".safetensors")
        })
    })
}

impl ModelPaths {
    /// Finds the parts under `model`.
    pub fn find(model: impl AsRef<Path>) -> Result<Self> {
        let model = model.as_ref();
        if !model.is_dir() {
            return Err(Error::Argument(format!(
                "{}: not a folder",
                model.display()
            )));
        }
        let transformer = if model.join("transformer").is_dir() {
            model.join("transformer")
        } else {
            model.to_path_buf()
        };
        let text_encoder = model.join("text_encoder");
        let spiece = [
            text_encoder.join("spiece.model"),
            model.join("tokenizer").join("spiece.model"),
            model.join("spiece.model"),
        ]
        .into_iter()
        .find(|p| exists(p))
        .ok_or_else(|| {
            Error::Argument(format!(
                "{}: no spiece.model in text_encoder/, tokenizer/ or the folder itself",
                model.display()
            ))
        })?;
        let video_tokenizer = ["vae", "video_tokenizer", "tokenizer"]
            .iter()
            .map(|d| model.join(d))
            .find(|d| holds_weights(d))
            .ok_or_else(|| {
                Error::Argument(format!(
                    "{}: no video tokenizer in vae/, video_tokenizer/ or tokenizer/",
                    model.display()
                ))
            })?;
        if !text_encoder.join("config.json").is_file() {
            return Err(Error::Argument(format!(
                "{}: no text_encoder/config.json",
                model.display()
            )));
        }
        Ok(Self {
            transformer,
            text_encoder,
            spiece,
            video_tokenizer,
        })
    }
}

/// The T5 prompt encoder of `paths`.
pub fn load_text_encoder(paths: &ModelPaths, device: &Device) -> Result<T5PromptEncoder> {
    let wrap = |e: cosmos_text::Error| Error::component("text encoder", e);
    let config =
        cosmos_text::T5Config::from_file(paths.text_encoder.join("config.json")).map_err(wrap)?;
    let tokenizer = cosmos_text::T5Tokenizer::from_file(&paths.spiece).map_err(wrap)?;
    let mut encoder = config.init(device).map_err(wrap)?;
    encoder
        .load_checkpoint(cosmos_text::checkpoint::read_weights(&paths.text_encoder).map_err(wrap)?)
        .map_err(wrap)?;
    Ok(T5PromptEncoder {
        encoder: cosmos_text::TextEncoder::new(tokenizer, encoder).map_err(wrap)?,
        device: device.clone(),
    })
}

/// The video tokenizer of `paths`, with diffusers' latent statistics when its `config.json`
/// has them.
pub fn load_video_tokenizer(paths: &ModelPaths, device: &Device) -> Result<CosmosVideoTokenizer> {
    load_video_tokenizer_at(&paths.video_tokenizer, device)
}

/// The continuous video tokenizer at `path` (a folder or file `cosmos-tokenizer` reads), with
/// diffusers' latent statistics when a `config.json` beside it has them, else those of a
/// `mean_std.pt` beside it.
pub fn load_video_tokenizer_at(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<CosmosVideoTokenizer> {
    let path = path.as_ref();
    let wrap = |e: cosmos_tokenizer::Error| Error::component("video tokenizer", e);
    let tokenizer = cosmos_tokenizer::Tokenizer::load(path, None, device).map_err(wrap)?;
    let config = path.join("config.json");
    let normalization = if config.is_file() {
        let text = std::fs::read_to_string(&config).map_err(|source| Error::Io {
            path: config.display().to_string(),
            source,
        })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: not JSON: {e}", config.display())))?;
        LatentNormalization::from_diffusers_config(&value, tokenizer.latent_channels())?
    } else {
        None
    };
    // NVIDIA's tokenizer repositories ship the statistics as `mean_std.pt` beside the weights.
    let folder = if path.is_dir() {
        Some(path)
    } else {
        path.parent()
    };
    let mean_std = folder.map(|f| f.join("mean_std.pt"));
    let normalization = match (normalization, mean_std) {
        (None, Some(file)) if file.is_file() => Some(LatentNormalization::from_mean_std_file(
            &file,
            tokenizer.latent_channels(),
        )?),
        (normalization, _) => normalization,
    };
    CosmosVideoTokenizer::new(tokenizer, normalization)
}

/// The whole pipeline: transformer, T5 and the video tokenizer (also as the encoder of a
/// Video2World network).
pub fn load_pipeline(paths: &ModelPaths, device: &Device) -> Result<WorldPipeline> {
    let dit = load_dit(&paths.transformer, device)?;
    let text = load_text_encoder(paths, device)?;
    let tokenizer = SharedVideoTokenizer::new(load_video_tokenizer(paths, device)?);
    let video2world = dit.config.has_condition_mask();
    let mut pipeline = WorldPipeline::new(dit, Box::new(text), Box::new(tokenizer.clone()));
    if video2world {
        pipeline.encoder = Some(Box::new(tokenizer));
    }
    Ok(pipeline)
}
