//! Criterion benchmark of the autoregressive transformer at the speed-benchmark shape
//! (`ArConfig::speed_benchmark`: width 1024, 4 blocks, 16 / 8 heads, FFN 2816, vocabulary
//! 64 000, QK-norm, 3D RoPE on [5, 16, 16], absolute position embedding), random weights:
//! - `prefill_256`: a 256-token prompt through an empty KV cache, logits of the last position;
//! - `decode_64`: 64 one-token steps through the KV cache after that prefill (greedy choice
//!   of each next token on the host, as generation does).
//!
//! `cargo bench -p cosmos-ar --bench ar`

use cosmos_ar::sampling::argmax;
use cosmos_ar::{ArConfig, ArTransformer, KvCache, Logits};
use cosmos_nn::burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const PROMPT: usize = 256;
const DECODE: usize = 64;

fn tokens(ids: &[i64], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
}

fn last_token(logits: Tensor<3>) -> i64 {
    let row: Vec<f32> = logits.into_data().convert::<f32>().try_into_vec().unwrap();
    argmax(&row) as i64
}

fn prefill(model: &ArTransformer, prompt: &[i64], device: &Device) -> (KvCache, i64) {
    let mut cache = model.new_cache(1, PROMPT + DECODE).unwrap();
    let logits = model
        .forward(tokens(prompt, device), &mut cache, None, Logits::Last)
        .unwrap();
    (cache, last_token(logits))
}

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let mut model = ArConfig::speed_benchmark().init(&device).unwrap();
    model.prepare_for_decoding();
    let prompt: Vec<i64> = (0..PROMPT as i64).map(|i| (i * 7919) % 64_000).collect();

    let mut group = c.benchmark_group("ar_1024x4");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PROMPT as u64));
    group.bench_function("prefill_256", |b| {
        b.iter(|| prefill(&model, &prompt, &device))
    });
    group.throughput(Throughput::Elements(DECODE as u64));
    group.bench_function("decode_64", |b| {
        b.iter_batched(
            || prefill(&model, &prompt, &device),
            |(mut cache, mut next)| {
                for _ in 0..DECODE {
                    let logits = model
                        .forward(tokens(&[next], &device), &mut cache, None, Logits::Last)
                        .unwrap();
                    next = last_token(logits);
                }
                next
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
