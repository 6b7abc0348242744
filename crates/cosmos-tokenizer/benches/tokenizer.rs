//! Criterion benchmark: encode and decode of the full CV8x8x8 and DV8x16x16 tokenizers
//! (random weights) on a 1×3×17×256×256 clip, on the CPU backend. Slow (seconds per
//! iteration), so the sample size is the minimum criterion allows.
//!
//! `cargo bench -p cosmos-tokenizer --bench tokenizer`; the `tokenizer_speed` example prints
//! the same timings with peak memory.

use burn::tensor::{Device, Distribution, Tensor};
use cosmos_tokenizer::Tokenizer;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("tokenizer 1x3x17x256x256");
    group.sample_size(10);
    for preset in ["CV8x8x8", "DV8x16x16"] {
        device.seed(0);
        let tokenizer = Tokenizer::random_preset(preset, &device).expect("preset builds");
        let x = Tensor::<5>::random(
            [1, 3, 17, 256, 256],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let latent = tokenizer.encode(x.clone()).expect("encodes").latent;
        group.bench_function(format!("{preset} encode"), |b| {
            b.iter(|| {
                let out = tokenizer.encode(x.clone()).expect("encodes");
                out.latent.sum().into_scalar::<f32>()
            })
        });
        group.bench_function(format!("{preset} decode"), |b| {
            b.iter(|| {
                let out = tokenizer.decode(latent.clone()).expect("decodes");
                out.sum().into_scalar::<f32>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
