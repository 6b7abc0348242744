//! The DiT speed benchmark's network and inputs, shared by `examples/dit_speed.rs` and
//! `benches/dit.rs` (and mirrored by `scripts/reference/dit_speed.py`): 2 blocks, 16 heads × 64
//! (hidden 1024), text dim 1024, AdaLN-LoRA 256, patch (1, 2, 2), learnable position embedding,
//! latent 1×16×5×32×32 (1280 video tokens), 64 text tokens; random weights.

use cosmos_diffusion::{CosmosDit, DitConditioning, DitConfig, NoiseGenerator};
use cosmos_nn::burn::tensor::{Device, Tensor};

/// The benchmark network with its inputs.
pub struct BenchCase {
    pub dit: CosmosDit,
    pub x: Tensor<5>,
    pub context: Tensor<3>,
    pub timestep: Tensor<1>,
    pub conditioning: DitConditioning,
}

/// The benchmark network (random weights, seed 0 inputs) on `device`.
pub fn bench_case(device: &Device) -> Result<BenchCase, cosmos_diffusion::Error> {
    let config = DitConfig {
        in_channels: 16,
        out_channels: 16,
        num_attention_heads: 16,
        attention_head_dim: 64,
        num_layers: 2,
        text_embed_dim: 1024,
        adaln_lora_dim: 256,
        patch_size: [1, 2, 2],
        extra_pos_embed_type: Some("learnable".into()),
        ..DitConfig::default()
    };
    let dit = config.init(device)?;
    let mut rng = NoiseGenerator::new(0);
    Ok(BenchCase {
        dit,
        x: rng.tensor([1, 16, 5, 32, 32], device),
        context: rng.tensor([1, 64, 1024], device),
        timestep: Tensor::<1>::full([1], 0.25 * 3.7f64.ln(), device),
        conditioning: DitConditioning {
            fps: Some(24.0),
            condition_mask: None,
            padding_mask: Some(Tensor::zeros([1, 1, 32, 32], device)),
            action: None,
        },
    })
}
