//! The DiT outside the fixtures' exact inputs: bf16 checkpoints, mismatched checkpoints,
//! malformed inputs, batching and the frame-rate input.

use cosmos_diffusion::parity::fixture_dit;
use cosmos_diffusion::{DitConditioning, DitConfig, Error};
use cosmos_nn::burn::tensor::{DType, Device, Tensor};
use cosmos_nn::checkpoint::{Checkpoint, CheckpointError};
use cosmos_nn::parity::{Fixture, max_abs_diff, values};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/parity/diffusion"
);

fn fixture(name: &str) -> Fixture {
    Fixture::open(format!("{DIR}/{name}.safetensors")).unwrap()
}

fn inputs(f: &Fixture, device: &Device) -> (Tensor<5>, Tensor<1>, Tensor<3>, DitConditioning) {
    (
        f.tensor::<5>("x", device).unwrap(),
        f.tensor::<1>("timestep", device).unwrap(),
        f.tensor::<3>("encoder_hidden_states", device).unwrap(),
        DitConditioning {
            fps: Some(24.0),
            condition_mask: f
                .has("condition_mask")
                .then(|| f.tensor::<5>("condition_mask", device).unwrap()),
            padding_mask: Some(f.tensor::<4>("padding_mask", device).unwrap()),
            action: None,
        },
    )
}

#[test]
fn bf16_checkpoint_loads_and_stays_close() {
    let device = Device::flex();
    let f = fixture("dit_text2world_cosmos_predict1_small");
    let config = DitConfig::from_diffusers(&f.json["config"]).unwrap();
    let mut bf16 = Checkpoint::from_tensors(
        f.weights
            .tensors()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().convert_dtype(DType::BF16)))
            .collect(),
    );
    bf16.remove("net.pos_embedder.seq");
    let mut dit = config.init(&device).unwrap();
    let report = dit.load_checkpoint(&bf16).unwrap();
    assert_eq!(report.loaded.len(), 50);
    let (x, t, c, cond) = inputs(&f, &device);
    let y = values(dit.forward(x, t, c, &cond).unwrap());
    let expected: Vec<f32> = f
        .data("output")
        .unwrap()
        .clone()
        .convert::<f32>()
        .try_to_vec()
        .unwrap();
    let d = max_abs_diff(&y, &expected);
    // bf16 keeps 8 bits of mantissa: the output moves, but stays close.
    assert!(d < 0.1 && d > 1e-5, "bf16 max diff {d}");
}

#[test]
fn mismatched_checkpoints_are_reported_key_by_key() {
    let device = Device::flex();
    let f = fixture("dit_text2world_small");
    let config = DitConfig::from_diffusers(&f.json["config"]).unwrap();

    let mut missing = f.weights.clone();
    missing.remove("transformer_blocks.1.attn2.to_k.weight");
    let err = config
        .init(&device)
        .unwrap()
        .load_checkpoint(&missing)
        .unwrap_err();
    match err {
        Error::Checkpoint(CheckpointError::Mismatch {
            missing,
            unexpected,
            mis_shaped,
        }) => {
            assert_eq!(
                missing,
                vec!["transformer_blocks.1.attn2.k.weight".to_string()]
            );
            assert!(unexpected.is_empty() && mis_shaped.is_empty());
        }
        other => panic!("unexpected error {other}"),
    }

    // A Video2World checkpoint into a Text2World network: the patch embedding differs.
    let v2w = fixture("dit_video2world_small");
    let err = config
        .init(&device)
        .unwrap()
        .load_checkpoint(&v2w.weights)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("patch_embed.proj.weight") && text.contains("[64, 72]"),
        "{text}"
    );

    let mut foreign = Checkpoint::from_tensors(Default::default());
    foreign.insert(
        "encoder.block.0.layer.0.SelfAttention.q.weight",
        f.weights.get("proj_out.weight").unwrap().clone(),
    );
    let err = config
        .init(&device)
        .unwrap()
        .load_checkpoint(&foreign)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownNaming { .. }), "{err}");
}

#[test]
fn malformed_inputs_give_shape_errors() {
    let device = Device::flex();
    let f = fixture("dit_video2world_small");
    let dit = fixture_dit(&f, &device).unwrap();
    let (x, t, c, cond) = inputs(&f, &device);
    assert!(dit.forward(x.clone(), t.clone(), c.clone(), &cond).is_ok());

    let bad_channels = Tensor::<5>::zeros([1, 15, 3, 8, 8], &device);
    assert!(matches!(
        dit.forward(bad_channels, t.clone(), c.clone(), &cond),
        Err(Error::Shape { .. })
    ));
    let odd = Tensor::<5>::zeros([1, 16, 3, 7, 8], &device);
    assert!(matches!(
        dit.forward(odd, t.clone(), c.clone(), &cond),
        Err(Error::Shape { .. })
    ));
    let too_long = Tensor::<5>::zeros([1, 16, 17, 8, 8], &device);
    assert!(matches!(
        dit.forward(too_long, t.clone(), c.clone(), &cond),
        Err(Error::Shape { .. })
    ));
    let bad_context = Tensor::<3>::zeros([1, 8, 31], &device);
    assert!(matches!(
        dit.forward(x.clone(), t.clone(), bad_context, &cond),
        Err(Error::Shape { .. })
    ));
    let bad_t = Tensor::<1>::zeros([3], &device);
    assert!(matches!(
        dit.forward(x.clone(), bad_t, c.clone(), &cond),
        Err(Error::Shape { .. })
    ));
    let no_mask = DitConditioning {
        condition_mask: None,
        ..cond.clone()
    };
    assert!(matches!(
        dit.forward(x.clone(), t.clone(), c.clone(), &no_mask),
        Err(Error::Argument(_))
    ));
    let wrong_mask = DitConditioning {
        condition_mask: Some(Tensor::zeros([1, 1, 2, 8, 8], &device)),
        ..cond.clone()
    };
    assert!(matches!(
        dit.forward(x.clone(), t.clone(), c.clone(), &wrong_mask),
        Err(Error::Shape { .. })
    ));
    let bad_fps = DitConditioning {
        fps: Some(0.0),
        ..cond
    };
    assert!(matches!(
        dit.forward(x, t, c, &bad_fps),
        Err(Error::Argument(_))
    ));
}

#[test]
fn batch_of_two_equals_two_single_forwards() {
    let device = Device::flex();
    let f = fixture("dit_text2world_small");
    let dit = fixture_dit(&f, &device).unwrap();
    let (x, t, c, cond) = inputs(&f, &device);
    let x2 = x.clone().flip([2]);
    let c2 = c.clone().flip([1]);
    let t2 = t.clone() * 0.5;
    let single_a = values(dit.forward(x.clone(), t.clone(), c.clone(), &cond).unwrap());
    let single_b = values(
        dit.forward(x2.clone(), t2.clone(), c2.clone(), &cond)
            .unwrap(),
    );
    let batch = dit
        .forward(
            Tensor::cat(vec![x, x2], 0),
            Tensor::cat(vec![t, t2], 0),
            Tensor::cat(vec![c, c2], 0),
            &cond,
        )
        .unwrap();
    let n = single_a.len();
    let b = values(batch);
    assert!(max_abs_diff(&b[..n], &single_a) < 1e-5);
    assert!(max_abs_diff(&b[n..], &single_b) < 1e-5);
    assert!(max_abs_diff(&single_a, &single_b) > 1e-2);
}

#[test]
fn frame_rate_scales_rope_time() {
    let device = Device::flex();
    let f = fixture("dit_text2world_small");
    let dit = fixture_dit(&f, &device).unwrap();
    let (x, t, c, cond) = inputs(&f, &device);
    let at = |fps: Option<f64>| {
        values(
            dit.forward(
                x.clone(),
                t.clone(),
                c.clone(),
                &DitConditioning {
                    fps,
                    ..cond.clone()
                },
            )
            .unwrap(),
        )
    };
    let base = at(Some(24.0));
    // fps = base_fps leaves time positions unscaled, as images (no fps) do.
    assert!(max_abs_diff(&base, &at(None)) < 1e-6);
    assert!(max_abs_diff(&base, &at(Some(12.0))) > 1e-4);
}

/// The action-conditioned network (cosmos-predict1's `ActionConditionalVideoExtendGeneralDIT`):
/// its action embedder is found from the checkpoint, the action moves the output, a missing or
/// mis-sized action is a typed error, and the reference's dead second embedder is skipped.
#[test]
fn action_conditioning_follows_the_reference_design() {
    let device = Device::flex();
    let f = fixture("dit_action_cosmos_predict1_small");
    let dit = fixture_dit(&f, &device).unwrap();
    assert_eq!(dit.config.action_dim, Some(7));
    let x = f.tensor::<5>("x", &device).unwrap();
    let t = f.tensor::<1>("timesteps", &device).unwrap();
    let c = f.tensor::<3>("crossattn_emb", &device).unwrap();
    let action = f.tensor::<3>("action", &device).unwrap();
    let cond = DitConditioning {
        fps: Some(4.0),
        condition_mask: Some(
            f.tensor::<5>("condition_video_input_mask", &device)
                .unwrap(),
        ),
        padding_mask: Some(f.tensor::<4>("padding_mask", &device).unwrap()),
        action: Some(action.clone().narrow(1, 0, 1).reshape([1, 7])),
    };
    let y = values(dit.forward(x.clone(), t.clone(), c.clone(), &cond).unwrap());
    let other = DitConditioning {
        action: Some(action.narrow(1, 1, 1).reshape([1, 7])),
        ..cond.clone()
    };
    let y_other = values(
        dit.forward(x.clone(), t.clone(), c.clone(), &other)
            .unwrap(),
    );
    assert!(
        max_abs_diff(&y, &y_other) > 1e-2,
        "the action does not reach the output"
    );

    let none = DitConditioning {
        action: None,
        ..cond.clone()
    };
    assert!(matches!(
        dit.forward(x.clone(), t.clone(), c.clone(), &none),
        Err(Error::Argument(m)) if m.contains("action-conditioned")
    ));
    let wrong = DitConditioning {
        action: Some(Tensor::zeros([1, 6], &device)),
        ..cond
    };
    assert!(matches!(
        dit.forward(x, t, c, &wrong),
        Err(Error::Shape { what, .. }) if what == "action"
    ));

    // A network without an action embedder refuses an action.
    let plain = fixture("dit_video2world_cosmos_predict1_small");
    let plain_dit = fixture_dit(&plain, &device).unwrap();
    let (x, t, c, cond) = inputs(&plain, &device);
    let with_action = DitConditioning {
        action: Some(Tensor::zeros([1, 7], &device)),
        ..cond
    };
    assert!(matches!(
        plain_dit.forward(x, t, c, &with_action),
        Err(Error::Argument(m)) if m.contains("no action conditioning")
    ));
}
