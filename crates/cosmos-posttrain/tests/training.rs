//! Post-training: zero-initialised conditioning, LoRA, the EDM trainer with checkpoints and
//! resume, typed errors, webdataset shards, diffusers export. Tiny configs; seconds each.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use cosmos_diffusion::{CosmosDit, DitConditioning, DitConfig, NoiseGenerator};
use cosmos_nn::parity::{max_abs_diff, values};
use cosmos_posttrain::Error;
use cosmos_posttrain::conditioning::{ConditionedDit, FrameConditionerConfig, FrameInputs};
use cosmos_posttrain::data::{
    ClipEncoder, LatentSample, LatentSet, ShardOptions, encode_shards, read_shard,
};
use cosmos_posttrain::lora::{self, LoraConfig};
use cosmos_posttrain::trainer::{
    CHECKPOINT_FILE, TrainOptions, Trainer, edm_loss, export_diffusers, module_tensors,
    random_position_tables,
};

mod common;

fn tiny_config() -> DitConfig {
    DitConfig {
        in_channels: 5,
        out_channels: 4,
        num_attention_heads: 2,
        attention_head_dim: 16,
        num_layers: 2,
        mlp_ratio: 2.0,
        text_embed_dim: 8,
        adaln_lora_dim: 4,
        max_size: [4, 8, 8],
        patch_size: [1, 2, 2],
        rope_scale: [1.0, 1.0, 1.0],
        concat_padding_mask: false,
        extra_pos_embed_type: Some("learnable".into()),
        base_fps: 8.0,
        ..DitConfig::default()
    }
}

fn tiny_dit(device: &Device) -> CosmosDit {
    random_position_tables(tiny_config().init(device).unwrap(), 0.02)
}

fn tiny_model(device: &Device, action_dim: Option<usize>) -> ConditionedDit {
    let dit = tiny_dit(device);
    let conditioner = FrameConditionerConfig::new(dit.config.hidden_size())
        .with_action_dim(action_dim)
        .init(device)
        .unwrap();
    ConditionedDit::new(dit, conditioner).unwrap()
}

/// Latents whose predicted frames follow from the conditioning frame and the action: a
/// learnable toy problem.
fn tiny_set(n: usize, action_dim: usize) -> LatentSet {
    let mut set = LatentSet::new([4, 3, 4, 4]);
    let mut g = NoiseGenerator::new(3);
    for _ in 0..n {
        let first: Vec<f32> = g.normals(4 * 16).iter().map(|v| v * 0.5).collect();
        let action = g.normals(action_dim);
        let mut latent = Vec::with_capacity(4 * 3 * 16);
        for c in 0..4 {
            for t in 0..3 {
                for i in 0..16 {
                    let v = first[c * 16 + i];
                    latent.push(if t == 0 {
                        v
                    } else {
                        v * 0.8 + 0.2 * action[0] * t as f32
                    });
                }
            }
        }
        let mut actions = vec![0.0; 3 * action_dim];
        for t in 0..3 {
            actions[t * action_dim..(t + 1) * action_dim].copy_from_slice(&action);
        }
        set.push(LatentSample {
            latent,
            actions: Some(actions),
            camera: None,
            view: None,
            context: None,
            action_map: None,
        })
        .unwrap();
    }
    set
}

struct Inputs {
    x: Tensor<5>,
    t: Tensor<1>,
    context: Tensor<3>,
    conditioning: DitConditioning,
}

fn inputs(device: &Device) -> Inputs {
    Inputs {
        x: Tensor::random([2, 4, 3, 4, 4], Distribution::Normal(0.0, 1.0), device),
        t: Tensor::from_floats([0.1, -0.3], device),
        context: Tensor::random([2, 3, 8], Distribution::Normal(0.0, 1.0), device),
        conditioning: DitConditioning {
            fps: Some(8.0),
            condition_mask: Some(Tensor::ones([2, 1, 3, 4, 4], device)),
            padding_mask: None,
            action: None,
        },
    }
}

fn options(steps: usize) -> TrainOptions {
    TrainOptions {
        steps,
        batch_size: 4,
        learning_rate: 3e-3,
        warmup_steps: 2,
        condition_frames: 1,
        fps: Some(8.0),
        ..TrainOptions::default()
    }
}

#[test]
fn zero_initialised_conditioners_leave_the_pretrained_outputs_unchanged() {
    let device = Device::flex();
    let dit = tiny_dit(&device);
    let i = inputs(&device);
    let positions = dit.positions([3, 4, 4], Some(8.0)).unwrap();
    let base = values(
        dit.forward_with_positions(
            i.x.clone(),
            i.t.clone(),
            i.context.clone(),
            &i.conditioning,
            &positions,
        )
        .unwrap(),
    );
    let conditioner = FrameConditionerConfig::new(32)
        .with_action_dim(Some(5))
        .with_camera_dim(Some(12))
        .with_views(Some(3))
        .with_action_map(Some((2, [1, 2, 2])))
        .init(&device)
        .unwrap();
    let model = ConditionedDit::new(dit, conditioner).unwrap();
    let frame_inputs = FrameInputs {
        actions: Some(Tensor::random(
            [2, 3, 5],
            Distribution::Normal(0.0, 2.0),
            &device,
        )),
        camera: Some(Tensor::random(
            [2, 3, 12],
            Distribution::Normal(0.0, 2.0),
            &device,
        )),
        view: Some(Tensor::<1, Int>::from_ints([0, 2], &device)),
        action_map: Some(Tensor::random(
            [2, 2, 3, 4, 4],
            Distribution::Normal(0.0, 2.0),
            &device,
        )),
    };
    let conditioned = values(
        model
            .forward(
                i.x.clone(),
                i.t.clone(),
                i.context.clone(),
                &i.conditioning,
                &positions,
                &frame_inputs,
            )
            .unwrap(),
    );
    assert_eq!(
        base, conditioned,
        "zero-initialised conditioning changed the outputs"
    );

    // The hook is live: a non-zero projection changes the outputs, per frame.
    let mut model = model;
    let action = model.conditioner.action.as_mut().unwrap();
    action.output.weight = Param::from_tensor(Tensor::random(
        [32, 32],
        Distribution::Normal(0.0, 0.5),
        &device,
    ));
    let run = |model: &ConditionedDit, frame_inputs: &FrameInputs| {
        values(
            model
                .forward(
                    i.x.clone(),
                    i.t.clone(),
                    i.context.clone(),
                    &i.conditioning,
                    &positions,
                    frame_inputs,
                )
                .unwrap(),
        )
    };
    let changed = run(&model, &frame_inputs);
    assert!(max_abs_diff(&base, &changed) > 1e-3);

    // The spatial action map hook is live too: with a non-zero projection (and no biases), an
    // all-zero map adds nothing and a random one changes the outputs.
    let map = model.conditioner.action_map.as_mut().unwrap();
    map.output.weight = Param::from_tensor(Tensor::random(
        [32, 32],
        Distribution::Normal(0.0, 0.5),
        &device,
    ));
    map.output.bias = None;
    map.input.bias = None;
    let zero_map = FrameInputs {
        action_map: Some(Tensor::zeros([2, 2, 3, 4, 4], &device)),
        ..frame_inputs.clone()
    };
    let with_zero_map = run(&model, &zero_map);
    assert!(
        max_abs_diff(&changed, &with_zero_map) < 1e-6,
        "a zero map (no bias) adds nothing"
    );
    let with_map = run(&model, &frame_inputs);
    assert!(
        max_abs_diff(&with_zero_map, &with_map) > 1e-3,
        "the map is live"
    );
}

#[test]
fn bad_conditioning_inputs_are_typed_errors() {
    let device = Device::flex();
    let model = tiny_model(&device, Some(5));
    let i = inputs(&device);
    let positions = model.dit.positions([3, 4, 4], Some(8.0)).unwrap();
    let run = |frame_inputs: FrameInputs| {
        model.forward(
            i.x.clone(),
            i.t.clone(),
            i.context.clone(),
            &i.conditioning,
            &positions,
            &frame_inputs,
        )
    };
    let wrong_width = FrameInputs {
        actions: Some(Tensor::zeros([2, 3, 4], &device)),
        ..FrameInputs::default()
    };
    let err = run(wrong_width).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("[2, 3, 5]"), "{err}");
    let wrong_frames = FrameInputs {
        actions: Some(Tensor::zeros([2, 2, 5], &device)),
        ..FrameInputs::default()
    };
    assert!(matches!(run(wrong_frames), Err(Error::Shape { .. })));
    assert!(matches!(run(FrameInputs::default()), Err(Error::Config(_))));
    let camera = FrameInputs {
        actions: Some(Tensor::zeros([2, 3, 5], &device)),
        camera: Some(Tensor::zeros([2, 3, 5], &device)),
        view: None,
        action_map: None,
    };
    assert!(matches!(run(camera), Err(Error::Config(_))));
    // An action map the network has no conditioner for, and one of the wrong size.
    let map = FrameInputs {
        actions: Some(Tensor::zeros([2, 3, 5], &device)),
        action_map: Some(Tensor::zeros([2, 2, 3, 4, 4], &device)),
        ..FrameInputs::default()
    };
    assert!(matches!(run(map), Err(Error::Config(_))));
    let with_map = ConditionedDit::new(
        tiny_dit(&device),
        FrameConditionerConfig::new(32)
            .with_action_map(Some((2, [1, 2, 2])))
            .init(&device)
            .unwrap(),
    )
    .unwrap();
    let err = with_map
        .forward(
            i.x.clone(),
            i.t.clone(),
            i.context.clone(),
            &i.conditioning,
            &positions,
            &FrameInputs {
                action_map: Some(Tensor::zeros([2, 2, 3, 8, 8], &device)),
                ..FrameInputs::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Shape { .. }) && err.to_string().contains("action map"),
        "{err}"
    );
    // The DiT's own hook checks its shape too.
    let err = model
        .dit
        .forward_with_frame_embedding(
            i.x.clone(),
            i.t.clone(),
            i.context.clone(),
            &i.conditioning,
            &positions,
            Some(Tensor::zeros([2, 2, 32], &device)),
        )
        .unwrap_err();
    assert!(err.to_string().contains("frame embedding"), "{err}");
    // A conditioner of another width does not fit the DiT.
    let other = FrameConditionerConfig::new(16).init(&device).unwrap();
    assert!(matches!(
        ConditionedDit::new(tiny_dit(&device), other),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn forward_and_backward_run_on_an_autodiff_device_and_match_the_fast_path() {
    let flex = Device::flex();
    let model = tiny_model(&flex, Some(2));
    let i = inputs(&flex);
    let fast = values(
        model
            .dit
            .forward(i.x.clone(), i.t.clone(), i.context.clone(), &i.conditioning)
            .unwrap(),
    );
    let device = flex.clone().autodiff();
    let model = model.to_device(&device).train();
    let plain = model
        .dit
        .forward(
            i.x.to_device(&device),
            i.t.to_device(&device),
            i.context.to_device(&device),
            &DitConditioning {
                condition_mask: i
                    .conditioning
                    .condition_mask
                    .clone()
                    .map(|m| m.to_device(&device)),
                ..i.conditioning.clone()
            },
        )
        .unwrap();
    assert!(max_abs_diff(&fast, &values(plain)) < 1e-4);

    let set = tiny_set(4, 2);
    let batch = set.batch(&[0, 1], &device).unwrap();
    let loss = edm_loss(&model, &batch, &options(1), &mut NoiseGenerator::new(1)).unwrap();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    struct Check<'a>(&'a GradientsParams, Vec<String>, Vec<String>);
    impl burn::module::ModuleVisitor for Check<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.1.push(name.into());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.1.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            match self.0.get::<D>(p.id) {
                Some(g) if values(g.clone().abs().sum())[0].is_finite() => {}
                Some(_) => self.2.push(format!("{}: non-finite", self.1.join("."))),
                None => self.2.push(format!("{}: no gradient", self.1.join("."))),
            }
        }
    }
    let mut check = Check(&grads, vec![], vec![]);
    model.visit(&mut check);
    // The zero output layer blocks the gradient of the action encoder's first layer only.
    let missing: Vec<_> = check
        .2
        .iter()
        .filter(|m| !m.starts_with("conditioner.action.input"))
        .collect();
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn training_lowers_the_loss_on_a_tiny_problem() {
    let device = Device::flex();
    device.seed(1);
    let model = tiny_model(&device, Some(2));
    let set = tiny_set(16, 2);
    let eval = |m: &ConditionedDit| -> f32 {
        let mut total = 0.0;
        for s in 0..8 {
            let b = set
                .batch(&[0, 1, 2, 3, 4, 5, 6, 7], &m.dit.device())
                .unwrap();
            let l = edm_loss(m, &b, &options(1), &mut NoiseGenerator::new(100 + s)).unwrap();
            total += values(l)[0];
        }
        total / 8.0
    };
    let before = eval(&model);
    let mut trainer = Trainer::new(model, options(80)).unwrap();
    let summary = trainer.run(&set, &mut |_| {}).unwrap();
    assert_eq!(summary.steps, 80);
    let after = eval(&trainer.into_model().to_device(&device));
    assert!(after < 0.75 * before, "loss {before} → {after}");
}

#[test]
fn a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let device = Device::flex();
    let model = tiny_model(&device, Some(2));
    let set = tiny_set(6, 2);
    let dir = tempfile::tempdir().unwrap();

    let mut straight = Trainer::new(model.clone(), options(6)).unwrap();
    straight.run(&set, &mut |_| {}).unwrap();
    let expected = module_tensors(&straight.model, "");

    let first_half = TrainOptions {
        steps: 3,
        out_dir: Some(dir.path().to_path_buf()),
        ..options(6)
    };
    let mut interrupted = Trainer::new(model.clone(), first_half).unwrap();
    interrupted.run(&set, &mut |_| {}).unwrap();
    let checkpoint = dir.path().join(CHECKPOINT_FILE);
    assert!(checkpoint.is_file());
    // A fresh process: a freshly built model (other weights), then resume.
    let mut resumed = Trainer::new(tiny_model(&device, Some(2)), options(6)).unwrap();
    resumed.resume(&checkpoint).unwrap();
    assert_eq!(resumed.step, 3);
    resumed.run(&set, &mut |_| {}).unwrap();
    let got = module_tensors(&resumed.model, "");
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (k, v) in &expected {
        let a = v.clone().try_to_vec::<f32>().unwrap();
        let b = got[k].clone().try_to_vec::<f32>().unwrap();
        assert!(max_abs_diff(&a, &b) <= 1e-6, "{k} differs after resume");
    }
    // The optimizer state went through the checkpoint too: without it the weights differ.
    let mut no_moments = Trainer::new(tiny_model(&device, Some(2)), options(6)).unwrap();
    no_moments.resume(&checkpoint).unwrap();
    no_moments.moments = Default::default();
    no_moments.moments.time = 3;
    no_moments.run(&set, &mut |_| {}).unwrap();
    let other = module_tensors(&no_moments.model, "");
    let k = "dit.proj_out.weight";
    let a = expected[k].clone().try_to_vec::<f32>().unwrap();
    let b = other[k].clone().try_to_vec::<f32>().unwrap();
    assert!(max_abs_diff(&a, &b) > 1e-7);
}

#[test]
fn checkpoints_of_another_model_and_nan_losses_are_refused() {
    let device = Device::flex();
    let set = tiny_set(4, 2);
    let dir = tempfile::tempdir().unwrap();
    let opts = TrainOptions {
        out_dir: Some(dir.path().to_path_buf()),
        ..options(1)
    };
    let mut trainer = Trainer::new(tiny_model(&device, Some(2)), opts).unwrap();
    trainer.run(&set, &mut |_| {}).unwrap();
    let mut other = Trainer::new(tiny_model(&device, Some(3)), options(1)).unwrap();
    let err = other.resume(&dir.path().join(CHECKPOINT_FILE)).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert!(err.to_string().contains("conditioner.action"), "{err}");

    let mut bad = set.clone();
    bad.samples[0].latent[5] = f32::NAN;
    let mut trainer = Trainer::new(tiny_model(&device, Some(2)), options(2)).unwrap();
    let err = trainer.run(&bad, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::Diverged(_)), "{err}");

    // Samples of the wrong size never enter a set.
    let mut set = LatentSet::new([4, 3, 4, 4]);
    let err = set
        .push(LatentSample {
            latent: vec![0.0; 10],
            actions: None,
            camera: None,
            view: None,
            context: None,
            action_map: None,
        })
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }));
    assert!(
        Trainer::new(
            tiny_model(&device, None),
            TrainOptions {
                batch_size: 0,
                ..options(1)
            }
        )
        .is_err()
    );
}

#[test]
fn lora_starts_at_the_base_model_trains_only_adapters_and_merges_exactly() {
    let device = Device::flex();
    let model = tiny_model(&device, Some(2));
    let i = inputs(&device);
    let positions = model.dit.positions([3, 4, 4], Some(8.0)).unwrap();
    let frame_inputs = FrameInputs {
        actions: Some(Tensor::zeros([2, 3, 2], &device)),
        ..FrameInputs::default()
    };
    let forward = |m: &ConditionedDit| {
        values(
            m.forward(
                i.x.clone(),
                i.t.clone(),
                i.context.clone(),
                &i.conditioning,
                &positions,
                &frame_inputs,
            )
            .unwrap(),
        )
    };
    let base = forward(&model);
    let adapted = lora::apply(model, &LoraConfig::new(4)).unwrap();
    // 2 blocks × (4 + 4 attention + 2 MLP linears) adapters.
    assert!(lora::adapter_params(&adapted) > 0);
    assert!(max_abs_diff(&base, &forward(&adapted)) < 1e-6);

    let before = module_tensors(&adapted, "");
    let mut trainer = Trainer::new(adapted, options(3)).unwrap();
    trainer.run(&tiny_set(4, 2), &mut |_| {}).unwrap();
    let trained = trainer.into_model().to_device(&device);
    let after = module_tensors(&trained, "");
    let mut changed_adapters = 0;
    for (k, v) in &before {
        let same =
            v.clone().try_to_vec::<f32>().unwrap() == after[k].clone().try_to_vec::<f32>().unwrap();
        let adapter = k.ends_with(".a") || k.ends_with(".b");
        if k.starts_with("dit.") && !adapter {
            assert!(same, "frozen base weight {k} changed");
        }
        if adapter && k.ends_with(".b") && !same {
            assert!(!k.contains(".attn2."), "{k}");
            changed_adapters += 1;
        }
    }
    // Self-attention (q, k, v, out) and MLP (2) of both blocks. The cross-attention adapters
    // get no gradient here: the batch has no text, so its single context token is zero.
    assert_eq!(
        changed_adapters,
        2 * 6,
        "every adapter that sees a gradient trains"
    );
    let adapted_out = forward(&trained);
    assert!(
        max_abs_diff(&base, &adapted_out) > 1e-5,
        "adapters had no effect"
    );
    let merged = lora::merge(trained);
    assert_eq!(lora::adapter_params(&merged), 0);
    assert!(max_abs_diff(&adapted_out, &forward(&merged)) < 1e-5);
    assert!(lora::apply(merged, &LoraConfig::new(0)).is_err());
}

#[test]
fn a_latent_set_round_trips_through_its_cache_file() {
    let set = tiny_set(3, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("set.safetensors");
    set.save(&path).unwrap();
    let back = LatentSet::load(&path).unwrap();
    assert_eq!(back, set);
    assert!(matches!(
        LatentSet::load(&dir.path().join("missing.safetensors")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn truncating_a_latent_set_keeps_the_first_frames_of_every_part() {
    // Values that name their position: latent c·100 + t·10 + i/16, actions t·10 + k, map
    // 1000·k + t.
    let (c, t, hw, a, k) = (2, 3, 16, 2, 2);
    let mut set = LatentSet::new([c, t, 4, 4]);
    set.push(LatentSample {
        latent: (0..c * t * hw)
            .map(|i| ((i / (t * hw)) * 100 + (i / hw % t) * 10) as f32 + (i % hw) as f32 / 16.0)
            .collect(),
        actions: Some((0..t * a).map(|i| ((i / a) * 10 + i % a) as f32).collect()),
        camera: None,
        view: None,
        context: None,
        action_map: Some(
            (0..k * t * hw)
                .map(|i| ((i / (t * hw)) * 1000 + i / hw % t) as f32)
                .collect(),
        ),
    })
    .unwrap();
    let mut short = set.clone();
    short.truncate_frames(2).unwrap();
    assert_eq!(short.shape, [c, 2, 4, 4]);
    let s = &short.samples[0];
    assert_eq!(s.latent.len(), c * 2 * hw);
    assert_eq!(s.latent[hw], 10.0, "channel 0, frame 1");
    assert_eq!(s.latent[2 * hw], 100.0, "channel 1, frame 0");
    assert_eq!(s.latent[2 * hw + 5], 100.0 + 5.0 / 16.0);
    assert_eq!(s.actions.as_deref(), Some(&[0.0, 1.0, 10.0, 11.0][..]));
    let map = s.action_map.as_ref().unwrap();
    assert_eq!(map.len(), k * 2 * hw);
    assert_eq!((map[hw], map[2 * hw], map[3 * hw]), (1.0, 1000.0, 1001.0));
    // The truncated set still batches.
    let batch = short.batch(&[0], &Device::flex()).unwrap();
    assert_eq!(batch.latent.dims(), [1, c, 2, 4, 4]);
    let mut all = set.clone();
    all.truncate_frames(3).unwrap();
    assert_eq!(all, set);
    for bad in [0, 4] {
        assert!(matches!(
            set.clone().truncate_frames(bad),
            Err(Error::Shape { .. })
        ));
    }
}

#[test]
fn webdataset_shards_become_cached_latents_with_grouped_actions() {
    let dir = tempfile::tempdir().unwrap();
    // A 9-frame clip of a square moving right, with one 2-d action per frame.
    let mut frames = ndarray::Array4::<u8>::zeros((9, 32, 32, 3));
    for t in 0..9 {
        for y in 10..18 {
            for x in (2 + 2 * t)..(10 + 2 * t) {
                frames[[t, y, x, 0]] = 220;
                frames[[t, y, x, 1]] = 120;
            }
        }
    }
    let actions: Vec<Vec<f32>> = (0..9).map(|t| vec![t as f32, 1.0]).collect();
    let json = serde_json::json!({ "actions": actions, "view": 1 }).to_string();
    let shard = common::one_clip_shard(
        dir.path(),
        frames,
        &[
            ("clip_a.json", json.as_bytes()),
            ("clip_a.txt", b"push the square right"),
        ],
    );
    let clips = read_shard(&shard).unwrap();
    assert_eq!(clips.len(), 1);
    assert_eq!(clips[0].key, "clip_a");
    assert_eq!(clips[0].text, "push the square right");

    let device = Device::flex();
    let mut config = cosmos_posttrain::tokenizer_train::world_tokenizer_config();
    config.resolution = 32;
    let tokenizer = cosmos_tokenizer::Tokenizer::random(config, &device).unwrap();
    let options = ShardOptions {
        frames: 9,
        size: (32, 32),
        action_field: Some("actions".into()),
        view_field: Some("view".into()),
        ..ShardOptions::default()
    };
    let cache = dir.path().join("cache");
    let mut lines = Vec::new();
    let mut encode = |v: Tensor<5>| Ok(tokenizer.encode(v)?.latent);
    let mut encoder = ClipEncoder::tokenizer(&tokenizer, &mut encode);
    let set = encode_shards(
        std::slice::from_ref(&shard),
        &mut encoder,
        &options,
        Some(&cache),
        None,
        &mut |l| lines.push(l.to_string()),
    )
    .unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.shape, [16, 3, 8, 8]);
    assert_eq!(set.action_dim, Some(8));
    assert_eq!(set.views, Some(2));
    // Latent frame 0: zeros; latent frame 1: the actions of frames 0..4 (they produce 1..=4).
    let a = set.samples[0].actions.as_ref().unwrap();
    assert_eq!(&a[..8], &[0.0; 8]);
    assert_eq!(&a[8..16], &[0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0, 1.0]);
    assert_eq!(&a[16..24], &[4.0, 1.0, 5.0, 1.0, 6.0, 1.0, 7.0, 1.0]);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    // The second run reads the cache.
    let again = encode_shards(
        &[shard],
        &mut encoder,
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

    // A record without the action field is a typed error.
    let bad = ShardOptions {
        action_field: Some("pose".into()),
        ..options
    };
    let shard = dir.path().join("part_000000.tar");
    let err = encode_shards(&[shard], &mut encoder, &bad, None, None, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("pose"), "{err}");
}

#[test]
fn an_exported_dit_loads_back_in_diffusers_format() {
    let device = Device::flex();
    let dit = tiny_dit(&device);
    let dir = tempfile::tempdir().unwrap();
    export_diffusers(&dit, dir.path(), burn::tensor::DType::F32).unwrap();
    let loaded = cosmos_diffusion::load_dit(dir.path(), &device).unwrap();
    let i = inputs(&device);
    let a = values(
        dit.forward(i.x.clone(), i.t.clone(), i.context.clone(), &i.conditioning)
            .unwrap(),
    );
    let b = values(
        loaded
            .forward(i.x, i.t, i.context, &i.conditioning)
            .unwrap(),
    );
    assert_eq!(a, b);
    let keys = cosmos_nn::checkpoint::Checkpoint::open(
        dir.path().join("diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    assert!(keys.get("transformer_blocks.0.attn1.to_q.weight").is_some());
    assert!(
        keys.get("transformer_blocks.1.ff.net.0.proj.weight")
            .is_some()
    );
    let _ = TensorData::new(vec![0f32], [1]);
}

#[test]
fn world_model_actions_are_grouped_by_the_frames_they_produce() {
    use cosmos_posttrain::world::{Action, WorldConfig};
    use cosmos_posttrain::world_model::{latent_frame_actions, training_actions};
    // 16 per-frame vectors (action t between frames t and t+1), 1-d: value t.
    let actions: Vec<Vec<f32>> = (0..16).map(|t| vec![t as f32]).collect();
    let rows = latent_frame_actions(&actions, 1, 5).unwrap();
    assert_eq!(rows.len(), 5 * 4);
    assert_eq!(&rows[..4], &[0.0; 4]);
    assert_eq!(&rows[4..8], &[0.0, 1.0, 2.0, 3.0]);
    assert_eq!(&rows[16..20], &[12.0, 13.0, 14.0, 15.0]);
    assert!(matches!(
        latent_frame_actions(&actions[..10], 1, 5),
        Err(Error::Shape { .. })
    ));
    // Training clips push at action 4 often, deterministically by seed.
    let world = WorldConfig::default();
    let pushed = (0..200)
        .filter(|&s| training_actions(&world, s)[4].is_push())
        .count();
    assert!((120..=180).contains(&pushed), "{pushed}");
    assert_eq!(training_actions(&world, 7), training_actions(&world, 7));
    assert_eq!(training_actions(&world, 7).len(), 17);
    let _ = Action::none();
}

#[test]
fn context_frames_encode_to_the_clip_s_first_latent_frames() {
    // `WorldModel::predict` encodes the 5 context frames alone; the causal tokenizer must give
    // the latent frames 0–1 the model was trained on (from whole 17-frame clips).
    use cosmos_posttrain::world::{WorldConfig, episode};
    let device = Device::flex();
    let tokenizer = cosmos_posttrain::tokenizer_train::load_world_tokenizer(&device).unwrap();
    let e = episode(&WorldConfig::default(), 1_000_003, 17);
    let whole = cosmos_posttrain::data::frames_to_tensor(e.frames.view(), &device).unwrap();
    let context = whole.clone().narrow(2, 0, 5);
    let a = tokenizer.encode(whole).unwrap().latent.narrow(2, 0, 2);
    let b = tokenizer.encode(context).unwrap().latent;
    assert_eq!(b.dims(), [1, 16, 2, 16, 16]);
    let d = max_abs_diff(&values(a), &values(b));
    assert!(d < 1e-3, "{d}");
}

#[test]
fn the_motion_weight_changes_the_loss_only_where_the_scene_moves() {
    let device = Device::flex();
    device.seed(2);
    let model = tiny_model(&device, None);
    // Sample 0 is static (every frame equals frame 0); sample 1 has one moving position.
    let mut set = LatentSet::new([4, 3, 4, 4]);
    let mut g = NoiseGenerator::new(5);
    let first: Vec<f32> = g.normals(4 * 16);
    for moving in [false, true] {
        let mut latent = Vec::with_capacity(4 * 3 * 16);
        for c in 0..4 {
            for t in 0..3 {
                for i in 0..16 {
                    let shift = if moving && t > 0 && i == 5 { 2.0 } else { 0.0 };
                    latent.push(first[c * 16 + i] + shift);
                }
            }
        }
        set.push(LatentSample {
            latent,
            actions: None,
            camera: None,
            view: None,
            context: None,
            action_map: None,
        })
        .unwrap();
    }
    let loss = |sample: usize, motion_weight: f64| {
        let batch = set.batch(&[sample], &device).unwrap();
        let options = TrainOptions {
            motion_weight,
            ..options(1)
        };
        values(edm_loss(&model, &batch, &options, &mut NoiseGenerator::new(9)).unwrap())[0]
    };
    let (still, still_weighted) = (loss(0, 0.0), loss(0, 4.0));
    assert!(
        (still - still_weighted).abs() <= 1e-5 * still.abs(),
        "no motion, no reweighting: {still} vs {still_weighted}"
    );
    let (moving, moving_weighted) = (loss(1, 0.0), loss(1, 4.0));
    assert!(
        (moving - moving_weighted).abs() > 1e-4 * moving.abs(),
        "the moving position is weighted: {moving} vs {moving_weighted}"
    );

    // Bad settings are refused before training.
    for (motion_weight, condition_frames) in [(-1.0, 1), (f64::NAN, 1), (2.0, 0)] {
        let options = TrainOptions {
            motion_weight,
            condition_frames,
            ..options(1)
        };
        assert!(
            options.validate().is_err(),
            "{motion_weight} {condition_frames}"
        );
    }
}

/// `train_world_model` end to end at the smallest size: 4 encoded episodes, 2 steps (of a
/// 3-step schedule, stopped) of a model whose window predicts one latent frame. The saved model records its window, loads back,
/// and rolls forward window by window to the full 12 frames.
#[test]
fn a_one_window_world_model_trains_saves_and_rolls_forward() {
    use cosmos_posttrain::tokenizer_train::load_world_tokenizer;
    use cosmos_posttrain::world::{self, TRAIN_SEEDS, VALIDATION_SEEDS, WorldConfig, episode};
    use cosmos_posttrain::world_model::{
        self, WorldModel, WorldModelTrainOptions, rollout_samples, train_world_model,
    };
    use ndarray::s;

    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let options = WorldModelTrainOptions {
        episodes: 4,
        world: WorldConfig::default(),
        train: TrainOptions {
            steps: 3,
            batch_size: 2,
            learning_rate: 1e-3,
            warmup_steps: 1,
            p_mean: 3.4,
            p_std: 0.3,
            ..TrainOptions::default()
        },
        cache: None,
        out_dir: dir.path().join("model"),
        max_seconds: None,
        stop_after: Some(2),
        resume: false,
        checkpoint_dir: Some(dir.path().join("checkpoints")),
        init_from: None,
        action_map: true,
        predicted_latent_frames: 1,
        rollout_levels: 0,
        rollout_cache: None,
    };
    let (_, summary) = train_world_model(
        load_world_tokenizer(&device).unwrap(),
        &options,
        &device,
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.steps, 2);
    assert!(summary.final_loss.is_finite());
    let model = WorldModel::load_with_tokenizer(
        &options.out_dir,
        load_world_tokenizer(&device).unwrap(),
        &device,
    )
    .unwrap();
    assert_eq!(model.config.predicted_latent_frames, 1);
    assert_eq!(model.config.window_frames(), 4);
    let world = model.config.world.clone();
    let e = episode(&world, VALIDATION_SEEDS.start, 17);
    let actions: Vec<Vec<f32>> = e.actions[..16]
        .iter()
        .map(|a| a.to_vector(world.balls))
        .collect();
    let context = e.frames.slice(s![..5, .., .., ..]);
    let predicted = model.predict(context, &actions, 0, 1).unwrap();
    assert_eq!(predicted.shape(), &[12, 64, 64, 3]);
    // A window of 4 frames cannot keep 8.
    let err = model
        .predict_sliding(context, &actions, 0, 1, 8)
        .unwrap_err();
    assert!(err.to_string().contains("window's 4"), "{err}");
    // Training with the wrong number of predicted frames is refused before any work.
    let bad = WorldModelTrainOptions {
        predicted_latent_frames: 4,
        ..options.clone()
    };
    let err = train_world_model(
        load_world_tokenizer(&device).unwrap(),
        &bad,
        &device,
        &mut |_| {},
        &mut |_| {},
    )
    .err()
    .expect("4 predicted latent frames is refused");
    assert!(err.to_string().contains("predicted_latent_frames"), "{err}");

    // Rollout samples: the model's own first two windows become the context of later windows,
    // the simulator's next window their target (one sample per level and episode).
    let samples = rollout_samples(
        &model,
        TRAIN_SEEDS.start..TRAIN_SEEDS.start + 2,
        2,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(samples.len(), 4);
    assert_eq!(samples.shape, [16, 3, 16, 16]);
    assert!(
        samples
            .samples
            .iter()
            .all(|s| s.actions.is_some() && s.action_map.is_some())
    );
    // Level 1 of episode 0 is the simulator's frames 4–12 with frames 5–8 replaced by the
    // model's: against the plain encoding of those simulator frames, latent frame 0 (frame 4,
    // given) is the same and latent frame 1 (frames 5–8) differs.
    let e0 = world::episode_with_actions(
        &world,
        TRAIN_SEEDS.start,
        &world_model::training_actions(&world, TRAIN_SEEDS.start),
    );
    let clip = e0.frames.slice(s![4..13, .., .., ..]);
    let video = cosmos_posttrain::tokenizer_train::clips_to_tensor(&[clip], &device).unwrap();
    let plain = values(model.tokenizer.encode(video).unwrap().latent);
    let level_1 = &samples.samples[0].latent;
    assert_eq!(plain.len(), level_1.len());
    assert!(level_1.iter().all(|v| v.is_finite()));
    let frame =
        |v: &[f32], c: usize, t: usize| v[(c * 3 + t) * 256..(c * 3 + t + 1) * 256].to_vec();
    let diff = |t: usize| {
        (0..16)
            .map(|c| max_abs_diff(&frame(level_1, c, t), &frame(&plain, c, t)))
            .fold(0.0f32, f32::max)
    };
    assert!(diff(0) < 1e-4, "frame 4 is given: {}", diff(0));
    assert!(diff(1) > 1e-2, "frames 5-8 are the model's: {}", diff(1));
    let err = rollout_samples(
        &model,
        TRAIN_SEEDS.start..TRAIN_SEEDS.start + 1,
        3,
        &mut |_| {},
    )
    .err()
    .expect("a 17-frame episode holds two windows after the first");
    assert!(err.to_string().contains("1 to 2 levels"), "{err}");
    // Training on them needs a model to roll out; with one, the samples are cached.
    let no_init = WorldModelTrainOptions {
        rollout_levels: 1,
        ..options.clone()
    };
    let err = train_world_model(
        load_world_tokenizer(&device).unwrap(),
        &no_init,
        &device,
        &mut |_| {},
        &mut |_| {},
    )
    .err()
    .expect("rollout samples without --init are refused");
    assert!(err.to_string().contains("--init"), "{err}");
    let cache = dir.path().join("rollouts.safetensors");
    let dagger = WorldModelTrainOptions {
        init_from: Some(options.out_dir.clone()),
        out_dir: dir.path().join("dagger"),
        checkpoint_dir: Some(dir.path().join("dagger_checkpoints")),
        rollout_levels: 2,
        rollout_cache: Some(cache.clone()),
        stop_after: Some(1),
        ..options.clone()
    };
    let mut lines = Vec::new();
    train_world_model(
        load_world_tokenizer(&device).unwrap(),
        &dagger,
        &device,
        &mut |l| lines.push(l.to_string()),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        lines.iter().any(|l| l.contains("rollout samples: 8 in")),
        "{lines:?}"
    );
    assert_eq!(
        cosmos_posttrain::data::LatentSet::load(&cache)
            .unwrap()
            .len(),
        8
    );
}
