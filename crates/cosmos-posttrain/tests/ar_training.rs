//! Fine-tuning of the autoregressive model at toy size: zero-initialised action conditioning,
//! LoRA, the masked loss, learning, exact resume, export and the token data.

use burn::module::Param;
use burn::tensor::{DType, Device, Distribution, Int, Tensor, TensorData};
use cosmos_ar::{ArConfig, ArTransformer, VideoTokenLayout, VideoTokenizer};
use cosmos_nn::parity::{max_abs_diff, values};
use cosmos_posttrain::Error;
use cosmos_posttrain::ar::{
    ArTrainOptions, ArTrainer, ConditionedAr, TokenSample, TokenSet, adapter_params, apply_lora,
    encode_token_shards, export_checkpoint, merge_lora, sequence_layout, target_mask, token_loss,
};
use cosmos_posttrain::data::ShardOptions;
use cosmos_posttrain::lora::LoraConfig;
use cosmos_posttrain::trainer::module_tensors;

mod common;

const GRID: [usize; 3] = [3, 2, 2];
const VOCAB: usize = 16;

/// A Video2World-shaped toy: `<bov>` token, 3D RoPE, QK-norm, absolute positions.
fn config(cross_attention: bool) -> ArConfig {
    ArConfig {
        dim: 24,
        n_layers: 2,
        n_heads: 2,
        n_kv_heads: Some(1),
        vocab_size: VOCAB,
        ffn_hidden_size: 32,
        max_seq_len: 16,
        use_qk_normalization: true,
        rope_dim: "3D".into(),
        video_latent_shape: Some(GRID.to_vec()),
        apply_abs_pos_emb: true,
        insert_cross_attn: cross_attention,
        context_dim: 8,
        training_type: Some("text_to_video".into()),
        ..ArConfig::default()
    }
}

/// A random network laid out as a loaded checkpoint is (rows by output on flex).
fn transformer(device: &Device, cross_attention: bool) -> ArTransformer {
    let mut model = config(cross_attention).init(device).unwrap();
    model.prepare_for_decoding();
    model
}

/// Sequences whose frame `f` is frame 0 shifted by `f` (token `(a + f + i) mod V`), with one
/// 2-d action per latent frame.
fn toy_set(n: usize, actions: bool) -> TokenSet {
    let mut set = TokenSet::new(GRID);
    let per = GRID[1] * GRID[2];
    for s in 0..n {
        let a = (s * 5 + 3) % VOCAB;
        let tokens = (0..GRID[0])
            .flat_map(|f| (0..per).map(move |i| ((a + f + i) % VOCAB) as u32))
            .collect();
        set.push(TokenSample {
            tokens,
            actions: actions.then(|| {
                (0..GRID[0])
                    .flat_map(|f| [f as f32, s as f32 * 0.1])
                    .collect()
            }),
            context: None,
        })
        .unwrap();
    }
    set
}

fn options(steps: usize) -> ArTrainOptions {
    ArTrainOptions {
        steps,
        batch_size: 2,
        learning_rate: 3e-3,
        warmup_steps: 2,
        final_lr_fraction: 1.0,
        grad_clip: Some(1.0),
        seed: 7,
        condition_frames: 1,
        ..ArTrainOptions::default()
    }
}

fn layout() -> VideoTokenLayout {
    sequence_layout(&config(false), GRID).unwrap()
}

#[test]
fn zero_initialised_action_conditioning_leaves_the_logits_bit_identical() {
    let device = Device::flex();
    let base = transformer(&device, true);
    let set = toy_set(2, true);
    let batch = set.batch(&[0, 1], &layout(), VOCAB, &device).unwrap();
    let inputs = batch.tokens.clone().narrow(1, 0, 12);
    let context = Tensor::<3>::random([2, 3, 8], Distribution::Normal(0.0, 1.0), &device);
    let cross = base.cross_context(context.clone(), None).unwrap();
    let plain = values(base.logits(inputs.clone(), Some(&cross)).unwrap());

    let model = ConditionedAr::new(base, Some(2)).unwrap();
    assert_eq!(model.action_dim(), Some(2));
    let conditioned = values(
        model
            .logits(
                inputs.clone(),
                batch.actions.clone(),
                &layout(),
                Some(&cross),
            )
            .unwrap(),
    );
    assert_eq!(plain, conditioned, "a zero projection must change nothing");

    // The projection is live: once non-zero, different actions give different logits.
    let mut trained = model;
    let projection = trained.action_projection.as_mut().unwrap();
    projection.weight = Param::from_tensor(Tensor::random(
        [2, 24],
        Distribution::Normal(0.0, 1.0),
        &device,
    ));
    let moved = values(
        trained
            .logits(
                inputs.clone(),
                batch.actions.clone(),
                &layout(),
                Some(&cross),
            )
            .unwrap(),
    );
    assert!(max_abs_diff(&plain, &moved) > 1e-3);
    // The <bov> input predicts frame 0's first token and sees action 0; changing only the
    // last frame's action leaves the logits before that frame's inputs unchanged.
    let mut other = values(batch.actions.clone().unwrap());
    other[4] += 1.0; // sequence 0, frame 2
    let other = Tensor::<3>::from_data(TensorData::new(other, [2, 3, 2]), &device);
    let changed = values(
        trained
            .logits(inputs, Some(other), &layout(), Some(&cross))
            .unwrap(),
    );
    // Inputs 0..=6 of sequence 0 predict frames 0 and 1 (targets at positions 1..=8).
    let row = VOCAB;
    assert_eq!(&moved[..7 * row], &changed[..7 * row]);
    assert!(max_abs_diff(&moved[7 * row..12 * row], &changed[7 * row..12 * row]) > 1e-4);
}

/// An action model with a non-zero (random) projection, as after training.
fn steered_model(device: &Device) -> ConditionedAr {
    let mut model = ConditionedAr::new(transformer(device, false), Some(2)).unwrap();
    let projection = model.action_projection.as_mut().unwrap();
    projection.weight = Param::from_tensor(Tensor::random(
        [2, 24],
        Distribution::Normal(0.0, 2.0),
        device,
    ));
    model
}

fn greedy_continuation(model: &ConditionedAr, prompt: &[u32], actions: &Tensor<3>) -> Vec<u32> {
    // 13 positions (<bov> + 3 frames of 4 tokens): prompt of 5, 8 new, 12 fed to the network.
    let offsets = model
        .action_offsets(Some(actions.clone()), &layout(), 12)
        .unwrap();
    cosmos_ar::generate_with_offsets(
        &model.model,
        &[prompt.to_vec()],
        8,
        &cosmos_ar::SamplingConfig::greedy(),
        None,
        offsets.as_ref(),
        &mut |_| {},
    )
    .unwrap()
    .tokens
    .remove(0)
}

#[test]
fn generation_feeds_each_frame_its_action_as_training_does() {
    let device = Device::flex();
    let model = steered_model(&device);
    let bov = layout()
        .begin_of_video
        .expect("the toy layout starts with <bov>");
    let prompt = vec![bov, 1, 2, 3, 4];
    let actions = |rows: [[f32; 2]; 3]| {
        Tensor::<3>::from_data(TensorData::new(rows.concat(), [1, 3, 2]), &device)
    };
    let left = actions([[0.0, 0.0], [-1.0, 0.5], [-1.0, 0.5]]);
    let right = actions([[0.0, 0.0], [1.0, -0.5], [1.0, -0.5]]);
    let generated = greedy_continuation(&model, &prompt, &left);
    assert_ne!(
        generated,
        greedy_continuation(&model, &prompt, &right),
        "the actions steer what is generated"
    );
    // Teacher forcing through the training-time logits gives the same tokens: the cached
    // generation added each position the action the loss used for it.
    let seq: Vec<i64> = prompt
        .iter()
        .chain(&generated[..7])
        .map(|&t| i64::from(t))
        .collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(seq, [1, 12]), &device);
    let logits = values(model.logits(tokens, Some(left), &layout(), None).unwrap());
    for (i, &g) in generated.iter().enumerate() {
        let pos = 4 + i;
        let row = &logits[pos * VOCAB..(pos + 1) * VOCAB];
        assert_eq!(cosmos_ar::sampling::argmax(row), g, "position {pos}");
    }
}

#[test]
fn the_exported_action_projection_loads_back_and_bad_files_are_named() {
    let device = Device::flex();
    let model = steered_model(&device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("action_projection.safetensors");
    cosmos_posttrain::trainer::write_safetensors(
        &path,
        &module_tensors(model.action_projection.as_ref().unwrap(), ""),
        Default::default(),
        DType::F32,
    )
    .unwrap();
    let base = ConditionedAr::new(model.model.clone(), None).unwrap();
    let loaded = base.with_action_projection_file(&path).unwrap();
    assert_eq!(loaded.action_dim(), Some(2));
    assert_eq!(
        module_tensors(&loaded, ""),
        module_tensors(&model, ""),
        "same weights after the round trip"
    );

    // Not a safetensors file, and a projection for another width.
    std::fs::write(&path, b"not tensors").unwrap();
    let err = ConditionedAr::new(model.model.clone(), None)
        .unwrap()
        .with_action_projection_file(&path)
        .unwrap_err();
    assert!(
        err.to_string().contains("action_projection.safetensors"),
        "{err}"
    );
    let narrow = cosmos_posttrain::trainer::module_tensors(
        &burn::nn::LinearConfig::new(3, 16).init(&device),
        "",
    );
    cosmos_posttrain::trainer::write_safetensors(&path, &narrow, Default::default(), DType::F32)
        .unwrap();
    let err = ConditionedAr::new(model.model.clone(), None)
        .unwrap()
        .with_action_projection_file(&path)
        .unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert!(err.to_string().contains("shape"), "{err}");
}

#[test]
fn lora_starts_at_the_base_model_trains_only_adapters_and_merges_exactly() {
    let device = Device::flex();
    let model = ConditionedAr::new(transformer(&device, false), None).unwrap();
    let set = toy_set(4, false);
    let batch = set.batch(&[0, 1, 2], &layout(), VOCAB, &device).unwrap();
    let inputs = batch.tokens.clone().narrow(1, 0, 12);
    let logits =
        |m: &ConditionedAr| values(m.logits(inputs.clone(), None, &layout(), None).unwrap());
    let base = logits(&model);
    let adapted = apply_lora(model, &LoraConfig::new(4)).unwrap();
    // 2 blocks × (4 attention + 3 MLP) linears × rank 4 × (in + out).
    assert_eq!(
        adapter_params(&adapted),
        2 * 4 * (2 * (24 + 24) + 2 * (24 + 12) + 3 * (24 + 32))
    );
    assert!(max_abs_diff(&base, &logits(&adapted)) < 1e-6);
    let unmerged = tempfile::tempdir().unwrap();
    assert!(
        matches!(
            export_checkpoint(&adapted.model, unmerged.path(), DType::F32),
            Err(Error::Config(m)) if m.contains("merge")
        ),
        "adapters must be merged before export"
    );

    let before = module_tensors(&adapted, "");
    let mut trainer = ArTrainer::new(adapted, options(3)).unwrap();
    trainer.run(&set, &mut |_| {}).unwrap();
    let trained = trainer.into_model();
    let after = module_tensors(&trained, "");
    let mut changed = 0;
    for (k, v) in &before {
        let same =
            v.clone().try_to_vec::<f32>().unwrap() == after[k].clone().try_to_vec::<f32>().unwrap();
        let adapter = k.ends_with(".a") || k.ends_with(".b");
        if !adapter {
            assert!(same, "frozen base weight {k} changed");
        } else if k.ends_with(".b") && !same {
            changed += 1;
        }
    }
    assert_eq!(changed, 2 * 7, "every adapter trains");
    let adapted_out = logits(&trained);
    assert!(
        max_abs_diff(&base, &adapted_out) > 1e-5,
        "adapters had no effect"
    );

    let merged = merge_lora(trained);
    assert_eq!(adapter_params(&merged), 0);
    assert!(max_abs_diff(&adapted_out, &logits(&merged)) < 1e-5);

    // The export is a checkpoint cosmos-ar (and `cosmos generate-ar`) loads.
    let dir = tempfile::tempdir().unwrap();
    let path = export_checkpoint(&merged.model, dir.path(), DType::F32).unwrap();
    let keys = cosmos_nn::checkpoint::Checkpoint::open(&path).unwrap();
    assert!(keys.get("layers.0.attention.wq.weight").is_some());
    assert!(keys.get("layers.1.feed_forward.w2.weight").is_some());
    assert!(keys.get("layers.0.attention_norm.weight").is_some());
    let config = ArConfig::from_json_file(dir.path().join("config.json")).unwrap();
    let loaded = cosmos_ar::checkpoint::load(&config, &path, &device).unwrap();
    let reloaded = values(loaded.logits(inputs.clone(), None).unwrap());
    assert!(max_abs_diff(&adapted_out, &reloaded) < 1e-5);
    assert!(apply_lora(merged, &LoraConfig::new(0)).is_err());

    // A network loaded from a checkpoint trains in full: every parameter moves.
    let loaded = ConditionedAr::new(loaded, None).unwrap();
    let before = module_tensors(&loaded, "");
    let mut trainer = ArTrainer::new(loaded, options(2)).unwrap();
    trainer.run(&set, &mut |_| {}).unwrap();
    let after = module_tensors(&trainer.into_model(), "");
    for (k, v) in &before {
        let same =
            v.clone().try_to_vec::<f32>().unwrap() == after[k].clone().try_to_vec::<f32>().unwrap();
        assert!(!same, "loaded parameter {k} did not train");
    }
}

#[test]
fn the_loss_falls_on_a_learnable_token_problem_and_every_weight_trains() {
    let device = Device::flex();
    let model = ConditionedAr::new(transformer(&device, false), Some(2)).unwrap();
    let before = module_tensors(&model, "");
    let set = toy_set(8, true);
    let mut trainer = ArTrainer::new(
        model,
        ArTrainOptions {
            batch_size: 4,
            learning_rate: 2e-2,
            ..options(60)
        },
    )
    .unwrap();
    let mut losses = Vec::new();
    let summary = trainer.run(&set, &mut |p| losses.push(p.loss)).unwrap();
    assert_eq!(summary.steps, 60);
    let first = losses[..3].iter().sum::<f64>() / 3.0;
    let last = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(
        (first - (VOCAB as f64).ln()).abs() < 1.0,
        "starts near chance: {first}"
    );
    assert!(
        last < 0.5 * first,
        "loss {first:.3} → {last:.3}: {losses:?}"
    );
    // Every parameter got a gradient through the (autodiff) forward: nothing bypassed it.
    let after = module_tensors(&trainer.into_model(), "");
    let untrained: Vec<_> = before
        .iter()
        .filter(|(k, v)| {
            (*v).clone().try_to_vec::<f32>().unwrap()
                == after[*k].clone().try_to_vec::<f32>().unwrap()
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert!(untrained.is_empty(), "did not train: {untrained:?}");
}

#[test]
fn a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let device = Device::flex();
    let model = ConditionedAr::new(transformer(&device, false), Some(2)).unwrap();
    let set = toy_set(5, true);
    let dir = tempfile::tempdir().unwrap();

    let mut straight = ArTrainer::new(model.clone(), options(6)).unwrap();
    straight.run(&set, &mut |_| {}).unwrap();

    let mut first = ArTrainer::new(model.clone(), options(6)).unwrap();
    for _ in 0..3 {
        first.train_step(&set).unwrap();
    }
    let path = dir.path().join("ckpt.safetensors");
    first.save_checkpoint(&path).unwrap();
    drop(first);
    let mut resumed = ArTrainer::new(model, options(6)).unwrap();
    resumed.resume(&path).unwrap();
    assert_eq!(resumed.step, 3);
    resumed.run(&set, &mut |_| {}).unwrap();

    let a = module_tensors(&straight.model, "");
    let b = module_tensors(&resumed.model, "");
    assert_eq!(a.len(), b.len());
    for (k, v) in &a {
        let d = max_abs_diff(
            &v.clone().try_to_vec::<f32>().unwrap(),
            &b[k].clone().try_to_vec::<f32>().unwrap(),
        );
        assert!(d <= 1e-6, "{k}: {d}");
    }
}

#[test]
fn the_masked_loss_ignores_condition_frame_targets() {
    let device = Device::flex();
    let mut base = transformer(&device, false);
    // Every token embeds to the same vector: the logits depend on positions only, so a token
    // changes the loss only as a target.
    let row = Tensor::<2>::random([1, 24], Distribution::Normal(0.0, 1.0), &device);
    base.tok_embeddings.weight = Param::from_tensor(row.repeat_dim(0, VOCAB + 48));
    let model = ConditionedAr::new(base, None).unwrap();
    let set = toy_set(2, false);
    let mut changed = set.clone();
    changed.samples[0].tokens[2] = (changed.samples[0].tokens[2] + 5) % VOCAB as u32; // frame 0
    let loss = |s: &TokenSet, cf: usize| {
        let b = s.batch(&[0, 1], &layout(), VOCAB, &device).unwrap();
        values(token_loss(&model, &b, &layout(), cf).unwrap())[0]
    };
    assert_eq!(loss(&set, 1), loss(&changed, 1));
    assert!((loss(&set, 0) - loss(&changed, 0)).abs() > 1e-6);
    // A predicted-frame target does count.
    let mut predicted = set.clone();
    predicted.samples[1].tokens[9] = (predicted.samples[1].tokens[9] + 5) % VOCAB as u32;
    assert!((loss(&set, 1) - loss(&predicted, 1)).abs() > 1e-6);

    // The mask: targets are sequence positions 1..=12; with <bov>, frame 0 is positions 1..=4.
    let mask = target_mask(&layout(), 1).unwrap();
    assert_eq!(mask.len(), 12);
    assert_eq!(&mask[..4], &[0.0; 4]);
    assert_eq!(&mask[4..], &[1.0; 8]);
    let no_bov = VideoTokenLayout {
        latent_shape: GRID,
        begin_of_video: None,
    };
    let mask = target_mask(&no_bov, 2).unwrap();
    assert_eq!(mask.len(), 11);
    assert_eq!(mask.iter().sum::<f32>(), 4.0);
    assert!(target_mask(&layout(), 3).is_err());
}

#[test]
fn bad_inputs_and_divergence_are_typed_errors() {
    let device = Device::flex();
    let model = || ConditionedAr::new(transformer(&device, false), None).unwrap();

    // A set over another grid.
    let mut other = TokenSet::new([2, 2, 2]);
    other
        .push(TokenSample {
            tokens: vec![1; 8],
            actions: None,
            context: None,
        })
        .unwrap();
    let mut trainer = ArTrainer::new(model(), options(2)).unwrap();
    assert!(matches!(
        trainer.train_step(&other),
        Err(Error::Shape { .. })
    ));
    // Tokens outside the vocabulary, sequences of the wrong length, NaN actions.
    let mut set = toy_set(1, false);
    set.samples[0].tokens[3] = VOCAB as u32;
    assert!(matches!(trainer.train_step(&set), Err(Error::Config(m)) if m.contains("vocabulary")));
    let mut set = toy_set(1, false);
    assert!(matches!(
        set.push(TokenSample {
            tokens: vec![0; 5],
            actions: None,
            context: None
        }),
        Err(Error::Shape { .. })
    ));
    let mut with_actions = toy_set(1, true);
    assert!(matches!(
        with_actions.push(TokenSample {
            tokens: vec![0; 12],
            actions: Some(vec![f32::NAN; 6]),
            context: None
        }),
        Err(Error::Config(_))
    ));
    // Actions for a model without a projection, and none for a model with one.
    assert!(matches!(
        trainer.train_step(&toy_set(2, true)),
        Err(Error::Config(_))
    ));
    let mut conditioned = ArTrainer::new(
        ConditionedAr::new(transformer(&device, false), Some(2)).unwrap(),
        options(2),
    )
    .unwrap();
    assert!(matches!(
        conditioned.train_step(&toy_set(2, false)),
        Err(Error::Config(_))
    ));
    // No frame left to predict; bad options.
    let mut all_condition = ArTrainer::new(
        model(),
        ArTrainOptions {
            condition_frames: 3,
            ..options(1)
        },
    )
    .unwrap();
    assert!(matches!(
        all_condition.train_step(&toy_set(2, false)),
        Err(Error::Config(_))
    ));
    assert!(
        ArTrainer::new(
            model(),
            ArTrainOptions {
                batch_size: 0,
                ..options(1)
            }
        )
        .is_err()
    );
    // A cross-attention model without text embeddings.
    let mut text = ArTrainer::new(
        ConditionedAr::new(transformer(&device, true), None).unwrap(),
        options(1),
    )
    .unwrap();
    assert!(matches!(
        text.train_step(&toy_set(2, false)),
        Err(Error::Ar(_))
    ));

    // A NaN weight makes the loss NaN: training stops with Diverged.
    let mut broken = model();
    broken.model.output.weight = Param::from_tensor(Tensor::full([24, VOCAB], f32::NAN, &device));
    let mut trainer = ArTrainer::new(broken, options(2)).unwrap();
    assert!(matches!(
        trainer.train_step(&toy_set(2, false)),
        Err(Error::Diverged(_))
    ));

    // A checkpoint of another model is refused.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    ArTrainer::new(
        ConditionedAr::new(transformer(&device, false), Some(2)).unwrap(),
        options(1),
    )
    .unwrap()
    .save_checkpoint(&path)
    .unwrap();
    let mut plain = ArTrainer::new(model(), options(1)).unwrap();
    assert!(matches!(plain.resume(&path), Err(Error::Format { .. })));
}

#[test]
fn a_token_set_round_trips_through_its_cache_file() {
    let mut set = toy_set(3, true);
    set.samples[1].tokens[0] = u32::MAX - 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.safetensors");
    set.save(&path).unwrap();
    assert_eq!(TokenSet::load(&path).unwrap(), set);

    let mut text = TokenSet::new(GRID);
    text.context_shape = Some([2, 3]);
    for s in 0..2 {
        text.push(TokenSample {
            tokens: (0..12).map(|i| (i * s) as u32).collect(),
            actions: None,
            context: Some((0..6).map(|i| i as f32 + s as f32).collect()),
        })
        .unwrap();
    }
    text.save(&path).unwrap();
    assert_eq!(TokenSet::load(&path).unwrap(), text);
    assert!(matches!(
        TokenSet::load(&dir.path().join("missing.safetensors")),
        Err(Error::Io { .. })
    ));
    std::fs::write(&path, b"not a safetensors file").unwrap();
    assert!(matches!(TokenSet::load(&path), Err(Error::Format { .. })));
}

/// A toy discrete tokenizer: temporal compression 4, 8×8 patches, the index is the mean red
/// level of the patch quantised to 16 levels.
struct PatchTokenizer;

impl VideoTokenizer for PatchTokenizer {
    fn encode(&self, video: Tensor<5>) -> cosmos_ar::Result<Tensor<4, Int>> {
        let [b, _, t, h, w] = video.dims();
        let frames: Vec<usize> = (0..t).step_by(4).collect();
        let red = video.narrow(1, 0, 1);
        let picked = Tensor::cat(
            frames
                .iter()
                .map(|&f| red.clone().narrow(2, f, 1))
                .collect(),
            2,
        );
        let pooled = picked
            .reshape([b, frames.len(), h / 8, 8, w / 8, 8])
            .mean_dim(5)
            .mean_dim(3)
            .reshape([b, frames.len(), h / 8, w / 8]);
        Ok(((pooled + 1.0) * 7.5).round().clamp(0.0, 15.0).int())
    }
    fn decode(&self, _indices: Tensor<4, Int>) -> cosmos_ar::Result<Tensor<5>> {
        Err(cosmos_ar::Error::Argument("encode only".into()))
    }
    fn temporal_compression(&self) -> usize {
        4
    }
    fn spatial_compression(&self) -> usize {
        8
    }
}

#[test]
fn webdataset_shards_become_cached_token_sequences_with_grouped_actions() {
    let dir = tempfile::tempdir().unwrap();
    // 9 frames, 16×16: the left half bright, the right half dark.
    let mut frames = ndarray::Array4::<u8>::zeros((9, 16, 16, 3));
    for t in 0..9 {
        for y in 0..16 {
            for x in 0..8 {
                frames[[t, y, x, 0]] = 255;
            }
        }
    }
    let actions: Vec<Vec<f32>> = (0..9).map(|t| vec![t as f32]).collect();
    let json = serde_json::json!({ "actions": actions }).to_string();
    let shard = common::one_clip_shard(dir.path(), frames, &[("clip_a.json", json.as_bytes())]);
    let options = ShardOptions {
        frames: 9,
        size: (16, 16),
        action_field: Some("actions".into()),
        ..ShardOptions::default()
    };
    let cache = dir.path().join("cache");
    let device = Device::flex();
    let mut lines = Vec::new();
    let set = encode_token_shards(
        std::slice::from_ref(&shard),
        &PatchTokenizer,
        &device,
        &options,
        Some(&cache),
        None,
        &mut |l| lines.push(l.to_string()),
    )
    .unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.latent_shape, [3, 2, 2]);
    // Per latent frame (t, h, w): bright left column, dark right one (up to video coding).
    let tokens = &set.samples[0].tokens;
    for f in 0..3 {
        for y in 0..2 {
            assert!(tokens[f * 4 + y * 2] >= 13, "{tokens:?}");
            assert!(tokens[f * 4 + y * 2 + 1] <= 2, "{tokens:?}");
        }
    }
    // Actions: 4 per latent frame; frame 0 zeros, frame 1 the actions of frames 0..4.
    assert_eq!(set.action_dim, Some(4));
    let a = set.samples[0].actions.as_ref().unwrap();
    assert_eq!(
        a,
        &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    );
    // Cached: the second pass reads the cache and gives the same set.
    let again = encode_token_shards(
        &[shard],
        &PatchTokenizer,
        &device,
        &options,
        Some(&cache),
        None,
        &mut |l| lines.push(l.to_string()),
    )
    .unwrap();
    assert_eq!(again, set);
    assert!(
        lines.last().unwrap().contains("from the cache"),
        "{lines:?}"
    );
}
