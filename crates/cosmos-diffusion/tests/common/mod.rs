//! Test doubles for the pipeline's text encoder and tokenizer, and a toy-size random DiT.
#![allow(dead_code)]

use cosmos_diffusion::error::BoxError;
use cosmos_diffusion::{
    CosmosDit, DitConfig, LatentDecoder, LatentEncoder, NoiseGenerator, TextEmbeddings, TextEncoder,
};
use cosmos_nn::burn::module::{Module, Param};
use cosmos_nn::burn::tensor::{Device, Tensor, TensorData};

/// A toy DiT: 2 blocks, 2 heads × 24, text dim 16, LoRA 8, max latent 8×8×8.
pub fn toy_config(video2world: bool) -> DitConfig {
    DitConfig {
        in_channels: if video2world { 17 } else { 16 },
        out_channels: 16,
        num_attention_heads: 2,
        attention_head_dim: 24,
        num_layers: 2,
        text_embed_dim: 16,
        adaln_lora_dim: 8,
        max_size: [8, 8, 8],
        ..DitConfig::default()
    }
}

/// The toy DiT with every parameter drawn from N(0, 0.2²) by a fixed seed.
pub fn toy_dit(video2world: bool, device: &Device) -> CosmosDit {
    let dit = toy_config(video2world).init(device).unwrap();
    struct Randomise(NoiseGenerator);
    impl cosmos_nn::burn::module::ModuleMapper for Randomise {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let rng = &mut self.0;
            param.map(|t| {
                let dims = t.dims();
                let n = dims.iter().product();
                let v: Vec<f32> = rng.normals(n).into_iter().map(|x| 0.2 * x).collect();
                Tensor::from_data(TensorData::new(v, dims), &t.device())
            })
        }
    }
    dit.map(&mut Randomise(NoiseGenerator::new(1234)))
}

/// Word-hash embeddings: each word gets a fixed random vector; at most `max_tokens` words,
/// padded with zeros to `max_tokens`.
pub struct ToyTextEncoder {
    pub dim: usize,
    pub max_tokens: usize,
    pub device: Device,
}

impl TextEncoder for ToyTextEncoder {
    fn encode(&mut self, prompts: &[&str]) -> Result<TextEmbeddings, BoxError> {
        let mut values = Vec::new();
        let mut lengths = Vec::new();
        let mut truncated = Vec::new();
        for p in prompts {
            let words: Vec<&str> = p.split_whitespace().collect();
            let n = words.len().min(self.max_tokens);
            for w in &words[..n] {
                let seed = w.bytes().fold(1469598103934665603u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(1099511628211)
                });
                values.extend(NoiseGenerator::new(seed).normals(self.dim));
            }
            values.extend(std::iter::repeat_n(
                0.0f32,
                (self.max_tokens - n) * self.dim,
            ));
            lengths.push(n);
            truncated.push(words.len() > self.max_tokens);
        }
        let embeddings = Tensor::from_data(
            TensorData::new(values, [prompts.len(), self.max_tokens, self.dim]),
            &self.device,
        );
        Ok(TextEmbeddings {
            embeddings,
            lengths,
            truncated,
        })
    }

    fn embed_dim(&self) -> usize {
        self.dim
    }
}

/// A toy tokenizer with compression (tc, sc) = (4, 8): decoding repeats latent frames and pixels
/// and maps channels 0..3 through tanh; encoding averages them back.
pub struct ToyTokenizer;

pub const TC: usize = 4;
pub const SC: usize = 8;

impl LatentDecoder for ToyTokenizer {
    fn decode(&mut self, latent: Tensor<5>) -> Result<Tensor<5>, BoxError> {
        let [b, _, t, h, w] = latent.dims();
        let rgb = latent.narrow(1, 0, 3).tanh();
        // frame 0 alone, every later latent frame → TC frames (causal layout 1 + T·TC)
        let first = rgb.clone().narrow(2, 0, 1);
        let rest = rgb
            .narrow(2, 1, t - 1)
            .unsqueeze_dim::<6>(3)
            .expand([b, 3, t - 1, TC, h, w])
            .reshape([b, 3, (t - 1) * TC, h, w]);
        let video = Tensor::cat(vec![first, rest], 2);
        let f = video.dims()[2];
        Ok(video
            .unsqueeze_dim::<6>(4)
            .expand([b, 3, f, h, SC, w])
            .reshape([b, 3, f, h * SC, w])
            .unsqueeze_dim::<6>(5)
            .expand([b, 3, f, h * SC, w, SC])
            .reshape([b, 3, f, h * SC, w * SC]))
    }

    fn temporal_compression(&self) -> usize {
        TC
    }

    fn spatial_compression(&self) -> usize {
        SC
    }

    fn latent_channels(&self) -> usize {
        16
    }
}

impl LatentEncoder for ToyTokenizer {
    fn encode(&mut self, video: Tensor<5>) -> Result<Tensor<5>, BoxError> {
        let [b, _, f, h, w] = video.dims();
        let t = 1 + (f - 1) / TC;
        let first = video.clone().narrow(2, 0, 1);
        let rest = video
            .narrow(2, 1, f - 1)
            .reshape([b, 3, t - 1, TC, h, w])
            .mean_dim(3)
            .reshape([b, 3, t - 1, h, w]);
        let frames = Tensor::cat(vec![first, rest], 2);
        let pooled = frames
            .reshape([b, 3, t, h / SC, SC, w / SC, SC])
            .mean_dim(6)
            .mean_dim(4)
            .reshape([b, 3, t, h / SC, w / SC]);
        let pad = Tensor::zeros([b, 13, t, h / SC, w / SC], &pooled.device());
        Ok(Tensor::cat(vec![pooled, pad], 1))
    }
}

/// Writes `tensors` as an f32 safetensors file (8-byte header length, JSON header, data).
pub fn write_safetensors(
    tensors: &std::collections::BTreeMap<String, TensorData>,
    path: &std::path::Path,
) {
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, t) in tensors {
        let values: Vec<f32> = t.clone().convert::<f32>().try_to_vec().unwrap();
        let start = data.len();
        for v in &values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": t.shape().to_vec(), "data_offsets": [start, data.len()]}),
        );
    }
    let mut head = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut bytes = (head.len() as u64).to_le_bytes().to_vec();
    bytes.extend(head);
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// A fresh folder under the system temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cosmos_diffusion_{tag}_{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
