//! Criterion benchmark of one training step of the shipped world model's configuration (the
//! action-conditioned DiT of `cosmos-posttrain`: 4 blocks, 4 heads × 32, one predicted latent
//! frame, 192 tokens, batch 8, push map and action tokens) on burn's flex CPU backend with
//! autodiff: forward, EDM loss, backward, gradient clipping and the Adam update.
//!
//! `cargo bench -p cosmos-posttrain --bench world_model_train`

use burn::tensor::Device;
use cosmos_posttrain::data::LatentNormalization;
use cosmos_posttrain::tokenizer_train::load_world_tokenizer;
use cosmos_posttrain::trainer::{TrainOptions, Trainer};
use cosmos_posttrain::world::{TRAIN_SEEDS, WorldConfig};
use cosmos_posttrain::world_model::{CONDITION_LATENT_FRAMES, WorldModelConfig, encode_episodes};
use criterion::{Criterion, criterion_group, criterion_main};

fn train_step(c: &mut Criterion) {
    let device = Device::flex();
    let tokenizer = load_world_tokenizer(&device).expect("shipped tokenizer");
    let world = WorldConfig::default();
    let seeds = TRAIN_SEEDS.start..TRAIN_SEEDS.start + 16;
    let mut set =
        encode_episodes(&tokenizer, &world, seeds, &device, &mut |_| {}).expect("episodes");
    let config = WorldModelConfig {
        predicted_latent_frames: 1,
        ..WorldModelConfig::small(world)
    };
    set.truncate_frames(config.window_latent_frames())
        .expect("5-latent-frame clips");
    set.normalize(LatentNormalization::fit(&set));
    let model = config.init(&device).expect("valid config");
    let options = TrainOptions {
        steps: 1_000_000,
        batch_size: 8,
        learning_rate: 8e-4,
        warmup_steps: 40,
        grad_clip: Some(2.0),
        condition_frames: CONDITION_LATENT_FRAMES,
        p_mean: 3.4,
        p_std: 0.3,
        fps: config.fps,
        motion_weight: 4.0,
        ..TrainOptions::default()
    };
    let mut trainer = Trainer::new(model, options).expect("trainer");
    let mut group = c.benchmark_group("world_model");
    group.sample_size(20);
    group.bench_function("train_step_batch8_192_tokens", |b| {
        b.iter(|| trainer.train_step(&set).expect("finite step"))
    });
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
