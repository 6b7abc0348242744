//! Criterion benchmark of one DiT forward at the benchmark configuration (2 blocks, 16 heads ×
//! 64, text dim 1024, AdaLN-LoRA 256, patch (1, 2, 2), learnable position embedding, latent
//! 1×16×5×32×32 = 1280 video tokens, 64 text tokens) on burn's flex CPU backend.
//!
//! `cargo bench -p cosmos-diffusion --bench dit`

use cosmos_nn::burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../examples/common/mod.rs"]
mod common;

fn dit_forward(c: &mut Criterion) {
    let device = Device::flex();
    let common::BenchCase {
        dit,
        x,
        context,
        timestep,
        conditioning,
    } = common::bench_case(&device).expect("valid config");
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
