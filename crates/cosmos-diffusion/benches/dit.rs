//! Criterion benchmark of one DiT forward at the benchmark configuration (2 blocks, 16 heads ×
//! 64, text dim 1024, AdaLN-LoRA 256, patch (1, 2, 2), learnable position embedding, latent
//! 1×16×5×32×32 = 1280 video tokens, 64 text tokens) on burn's flex CPU backend.
//!
//! `cargo bench -p cosmos-diffusion --bench dit`

use cosmos_diffusion::{DitConditioning, DitConfig, NoiseGenerator};
use cosmos_nn::burn::tensor::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};

fn dit_forward(c: &mut Criterion) {
    let device = Device::flex();
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
    let dit = config.init(&device).expect("valid config");
    let mut rng = NoiseGenerator::new(0);
    let x = rng.tensor([1, 16, 5, 32, 32], &device);
    let context = rng.tensor([1, 64, 1024], &device);
    let timestep = Tensor::<1>::full([1], 0.25 * 3.7f64.ln(), &device);
    let conditioning = DitConditioning {
        fps: Some(24.0),
        condition_mask: None,
        padding_mask: Some(Tensor::zeros([1, 1, 32, 32], &device)),
        action: None,
    };
    let positions = dit
        .positions([5, 32, 32], Some(24.0))
        .expect("fits the tables");
    let mut group = c.benchmark_group("dit");
    group.sample_size(10);
    group.bench_function("forward_1280_tokens", |b| {
        b.iter(|| {
            let y = dit
                .forward_with_positions(
                    x.clone(),
                    timestep.clone(),
                    context.clone(),
                    &conditioning,
                    &positions,
                )
                .expect("forward");
            y.into_data()
        })
    });
    group.finish();
}

criterion_group!(benches, dit_forward);
criterion_main!(benches);
