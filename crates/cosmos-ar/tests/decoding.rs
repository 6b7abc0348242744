//! KV-cache decoding, generation and bad input, on toy configurations with random weights
//! (the parts the reference fixtures do not cover: `<bov>` layout, YaRN, cross-attention every
//! k-th block, chunked prefill).

use cosmos_ar::checkpoint::prepare_checkpoint;
use cosmos_ar::{
    ArConfig, ArTransformer, CrossContext, Error, Logits, SamplingConfig, generate,
    generate_with_offsets,
};
use cosmos_nn::burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};
use cosmos_nn::checkpoint::{Checkpoint, CheckpointError};
use cosmos_nn::parity::{Fixture, max_abs_diff, values};

fn toy_config() -> ArConfig {
    ArConfig {
        dim: 48,
        n_layers: 3,
        n_heads: 4,
        n_kv_heads: Some(2),
        head_dim: None,
        vocab_size: 100,
        ffn_hidden_size: 64,
        max_seq_len: 64,
        use_qk_normalization: true,
        rope_dim: "3D".into(),
        video_latent_shape: Some(vec![3, 3, 4]),
        pad_to_multiple_of: Some(64),
        apply_abs_pos_emb: true,
        insert_cross_attn: true,
        insert_cross_attn_every_k_layers: 2,
        context_dim: 16,
        apply_yarn: true,
        yarn_scale: Some(2.0),
        yarn_beta_fast: Some(4.0),
        yarn_beta_slow: Some(1.0),
        original_latent_shape: Some(vec![2, 2, 4]),
        training_type: Some("text_to_video".into()),
        ..ArConfig::default()
    }
}

fn tokens(rows: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let n = rows[0].len();
    Tensor::from_data(TensorData::new(rows.concat(), [rows.len(), n]), device)
}

fn sequence(len: usize, bov: i64, seed: i64) -> Vec<i64> {
    std::iter::once(bov)
        .chain((1..len as i64).map(|i| (i * 37 + seed * 11) % 100))
        .collect()
}

fn context(model: &ArTransformer, batch: usize, device: &Device) -> CrossContext {
    let ctx = Tensor::<3>::random([batch, 5, 16], Distribution::Normal(0.0, 1.0), device);
    let valid = Tensor::<2, Bool>::from_data(
        TensorData::new(
            (0..batch * 5).map(|i| i % 5 < 4).collect::<Vec<bool>>(),
            [batch, 5],
        ),
        device,
    );
    model.cross_context(ctx, Some(valid)).unwrap()
}

#[test]
fn incremental_and_chunked_decoding_equal_the_full_pass() {
    let device = Device::flex();
    let config = toy_config();
    let mut model = config.init(&device).unwrap();
    // Exercise the CPU decoding layout (one-row products through the row kernel).
    model.prepare_for_decoding();
    let cross = context(&model, 2, &device);
    let rows = vec![sequence(20, 100, 1), sequence(20, 100, 2)];
    let full = model.logits(tokens(&rows, &device), Some(&cross)).unwrap();
    assert_eq!(full.dims(), [2, 20, 100]);

    // Prefill 7, then 13 single steps.
    let mut cache = model.new_cache(2, 20).unwrap();
    let mut steps = vec![
        model
            .forward(
                tokens(&rows, &device).narrow(1, 0, 7),
                &mut cache,
                Some(&cross),
                Logits::Last,
            )
            .unwrap(),
    ];
    for p in 7..20 {
        steps.push(
            model
                .forward(
                    tokens(&rows, &device).narrow(1, p, 1),
                    &mut cache,
                    Some(&cross),
                    Logits::Last,
                )
                .unwrap(),
        );
    }
    assert_eq!(cache.len(), 20);
    let incremental = values(Tensor::cat(steps, 1));
    let reference = values(full.clone().narrow(1, 6, 14));
    let d = max_abs_diff(&incremental, &reference);
    assert!(d < 1e-4, "incremental vs full: {d}");

    // Chunks of 5, 8 and 7 (the later chunks need the offset causal mask).
    let mut cache = model.new_cache(2, 20).unwrap();
    let mut chunks = Vec::new();
    for (start, len) in [(0, 5), (5, 8), (13, 7)] {
        chunks.push(
            model
                .forward(
                    tokens(&rows, &device).narrow(1, start, len),
                    &mut cache,
                    Some(&cross),
                    Logits::All,
                )
                .unwrap(),
        );
    }
    let d = max_abs_diff(&values(Tensor::cat(chunks, 1)), &values(full));
    assert!(d < 1e-4, "chunked vs full: {d}");
}

#[test]
fn cross_attention_context_and_its_mask_matter() {
    let device = Device::flex();
    let model = toy_config().init(&device).unwrap();
    let rows = vec![sequence(9, 100, 3)];
    let ctx = Tensor::<3>::random([1, 5, 16], Distribution::Normal(0.0, 1.0), &device);
    let all = model.cross_context(ctx.clone(), None).unwrap();
    let valid = Tensor::<2, Bool>::from_data(
        TensorData::new(vec![true, true, true, false, false], [1, 5]),
        &device,
    );
    let masked = model.cross_context(ctx.clone(), Some(valid)).unwrap();
    let dropped = model.cross_context(ctx.narrow(1, 0, 3), None).unwrap();
    let a = values(model.logits(tokens(&rows, &device), Some(&all)).unwrap());
    let m = values(model.logits(tokens(&rows, &device), Some(&masked)).unwrap());
    let d = values(
        model
            .logits(tokens(&rows, &device), Some(&dropped))
            .unwrap(),
    );
    assert!(
        max_abs_diff(&m, &d) < 1e-5,
        "masked keys act as absent keys"
    );
    assert!(max_abs_diff(&a, &m) > 1e-3, "the mask changes the output");
}

#[test]
fn greedy_generation_follows_the_full_model_and_seeds_repeat() {
    let device = Device::flex();
    let mut model = toy_config().init(&device).unwrap();
    model.prepare_for_decoding();
    let cross = context(&model, 1, &device);
    let prompt = vec![vec![100u32, 3, 5, 7]];
    let mut calls = 0;
    let out = generate(
        &model,
        &prompt,
        6,
        &SamplingConfig::greedy(),
        Some(&cross),
        &mut |p| {
            calls += 1;
            assert_eq!(p.total, 6);
        },
    )
    .unwrap();
    assert_eq!(calls, 6);
    let generated = &out.tokens[0];
    assert_eq!(generated.len(), 6);
    // Teacher forcing: the full model's argmax at each position reproduces the greedy tokens.
    let seq: Vec<i64> = prompt[0]
        .iter()
        .chain(generated)
        .map(|&t| t as i64)
        .collect();
    let logits = values(
        model
            .logits(tokens(std::slice::from_ref(&seq), &device), Some(&cross))
            .unwrap(),
    );
    for (i, &g) in generated.iter().enumerate() {
        let pos = prompt[0].len() - 1 + i;
        let row = &logits[pos * 100..(pos + 1) * 100];
        assert_eq!(cosmos_ar::sampling::argmax(row), g, "position {pos}");
    }

    let sampling = SamplingConfig {
        temperature: 1.0,
        top_p: Some(0.9),
        top_k: None,
        seed: 42,
    };
    let run = |s: &SamplingConfig| {
        generate(&model, &prompt, 10, s, Some(&cross), &mut |_| {})
            .unwrap()
            .tokens
    };
    let a = run(&sampling);
    assert_eq!(a, run(&sampling), "same seed, same tokens");
    assert_ne!(
        a,
        run(&SamplingConfig {
            seed: 43,
            ..sampling
        }),
        "another seed, other tokens"
    );
    assert!(
        a[0].iter().all(|&t| t < 100),
        "only vocabulary tokens are sampled"
    );
}

#[test]
fn embedding_offsets_steer_generation_position_by_position() {
    let device = Device::flex();
    let mut model = toy_config().init(&device).unwrap();
    model.prepare_for_decoding();
    let cross = context(&model, 1, &device);
    let prompt = vec![vec![100u32, 3, 5, 7]];
    let greedy = SamplingConfig::greedy();
    // 4 prompt positions + 6 new tokens − 1 = 9 positions are fed to the network.
    let offsets = Tensor::<3>::random([1, 9, 48], Distribution::Normal(0.0, 2.0), &device);
    let steered = generate_with_offsets(
        &model,
        &prompt,
        6,
        &greedy,
        Some(&cross),
        Some(&offsets),
        &mut |_| {},
    )
    .unwrap()
    .tokens;
    let plain = generate(&model, &prompt, 6, &greedy, Some(&cross), &mut |_| {})
        .unwrap()
        .tokens;
    assert_ne!(steered, plain, "the offsets change what is generated");
    // Teacher forcing with the same offsets on the full sequence gives the same tokens, so
    // every cached step got the row of its own position.
    let seq: Vec<i64> = prompt[0]
        .iter()
        .chain(&steered[0][..5])
        .map(|&t| t as i64)
        .collect();
    let logits = values(
        model
            .logits_with_offset(
                tokens(std::slice::from_ref(&seq), &device),
                Some(offsets.clone()),
                Some(&cross),
            )
            .unwrap(),
    );
    for (i, &g) in steered[0].iter().enumerate() {
        let pos = 3 + i;
        let row = &logits[pos * 100..(pos + 1) * 100];
        assert_eq!(cosmos_ar::sampling::argmax(row), g, "position {pos}");
    }
    // Zero offsets are no offsets.
    let zeros = Tensor::<3>::zeros([1, 9, 48], &device);
    let same = generate_with_offsets(
        &model,
        &prompt,
        6,
        &greedy,
        Some(&cross),
        Some(&zeros),
        &mut |_| {},
    )
    .unwrap()
    .tokens;
    assert_eq!(same, plain);
    // Too few positions is a shape error naming the offsets.
    let short = offsets.narrow(1, 0, 8);
    let err = generate_with_offsets(
        &model,
        &prompt,
        6,
        &greedy,
        Some(&cross),
        Some(&short),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("embedding offsets"), "{err}");
}

#[test]
fn bad_input_gives_typed_errors() {
    let device = Device::flex();
    let config = toy_config();
    let model = config.init(&device).unwrap();
    let cross = context(&model, 1, &device);
    // The embedding has 128 rows (100 + <bov>, rounded up to 64): 128 is out of range.
    let err = model
        .logits(tokens(&[vec![100, 5, 128, 1]], &device), Some(&cross))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TokenOutOfRange {
                token: 128,
                position: 2,
                limit: 128,
                ..
            }
        ),
        "{err}"
    );
    let err = model
        .logits(tokens(&[vec![100, -1]], &device), Some(&cross))
        .unwrap_err();
    assert!(
        matches!(err, Error::TokenOutOfRange { token: -1, .. }),
        "{err}"
    );
    // Context longer than the cache.
    let mut cache = model.new_cache(1, 4).unwrap();
    let err = model
        .forward(
            tokens(&[vec![100, 1, 2, 3, 4]], &device),
            &mut cache,
            Some(&cross),
            Logits::Last,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ContextTooLong {
                needed: 5,
                capacity: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        model.new_cache(1, 65),
        Err(Error::ContextTooLong { capacity: 64, .. })
    ));
    let err = generate(
        &model,
        &[vec![100, 1]],
        64,
        &SamplingConfig::greedy(),
        Some(&cross),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::ContextTooLong { needed: 65, .. }),
        "{err}"
    );
    // Missing context, wrong context width, ragged prompt.
    assert!(matches!(
        model.logits(tokens(&[vec![100, 1]], &device), None),
        Err(Error::Argument(_))
    ));
    let wide = Tensor::<3>::zeros([1, 5, 17], &device);
    assert!(matches!(
        model.cross_context(wide, None),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        generate(
            &model,
            &[vec![1, 2], vec![3]],
            2,
            &SamplingConfig::greedy(),
            Some(&cross),
            &mut |_| {}
        ),
        Err(Error::Argument(_))
    ));
    // Without a <bov> token, id 100 is out of range.
    let plain = ArConfig {
        training_type: None,
        insert_cross_attn: false,
        ..toy_config()
    }
    .init(&device)
    .unwrap();
    assert!(matches!(
        plain.logits(tokens(&[vec![100]], &device), None),
        Err(Error::TokenOutOfRange { limit: 100, .. })
    ));
}

fn fixture(name: &str) -> Fixture {
    Fixture::open(format!(
        "{}/../../testdata/parity/ar/{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn mismatched_checkpoints_name_every_bad_key() {
    let device = Device::flex();
    let base = fixture("ar_base_small");
    let config = ArConfig::from_json(&base.json).unwrap();
    let mut weights = base.weights.clone();
    weights.remove("layers.1.feed_forward.w2.weight");
    weights.insert("norm.weight", TensorData::new(vec![1.0f32; 63], [63]));
    weights.insert(
        "layers.0.attention.rotary.weight",
        TensorData::new(vec![0.0f32], [1]),
    );
    let mut model = config.init(&device).unwrap();
    let err = model.load_checkpoint(weights).unwrap_err();
    let Error::Checkpoint(CheckpointError::Mismatch {
        missing,
        unexpected,
        mis_shaped,
    }) = &err
    else {
        panic!("expected a mismatch, found {err}");
    };
    assert_eq!(missing.len(), 1, "{err}");
    assert!(missing[0].contains("layers.1.feed_forward.w2"), "{err}");
    assert_eq!(unexpected, &["layers.0.attention.rotary.weight"]);
    assert_eq!(mis_shaped[0].key, "norm.weight");
    assert_eq!(
        (mis_shaped[0].expected.clone(), mis_shaped[0].found.clone()),
        (vec![64], vec![63])
    );

    // Video2World weights (cross-attention) do not fit the base config.
    let v2w = fixture("ar_video2world_small");
    let mut model = config.init(&device).unwrap();
    let err = model.load_checkpoint(v2w.weights.clone()).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint(CheckpointError::Mismatch { unexpected, .. }) if unexpected.iter().any(|k| k.contains("cross_attention"))),
        "{err}"
    );
}

#[test]
fn fused_qkv_and_prefixed_checkpoints_load_to_the_same_model() {
    let device = Device::flex();
    let base = fixture("ar_base_small");
    let config = ArConfig::from_json(&base.json).unwrap();
    let token_data = base.data("tokens").unwrap().clone();
    let tokens = Tensor::<2, Int>::from_data(token_data, &device);

    let mut reference = config.init(&device).unwrap();
    reference.load_checkpoint(base.weights.clone()).unwrap();
    let expected = values(reference.logits(tokens.clone(), None).unwrap());

    // Fuse wq/wk/wv into wqkv and prefix every key with `model.`, as training checkpoints do.
    let mut fused = Checkpoint::from_tensors(Default::default());
    let w = base.weights.clone();
    for layer in 0..config.n_layers {
        let p = format!("layers.{layer}.attention.");
        let mut rows = Vec::new();
        let mut cols = 0;
        for n in ["wq", "wk", "wv"] {
            let d = w.get(&format!("{p}{n}.weight")).unwrap();
            cols = d.shape()[1];
            rows.extend(d.clone().convert::<f32>().try_into_vec::<f32>().unwrap());
        }
        let n_rows = rows.len() / cols;
        fused.insert(
            format!("model.{p}wqkv.weight"),
            TensorData::new(rows, [n_rows, cols]),
        );
    }
    for k in w.keys() {
        if !(k.contains(".wq.") || k.contains(".wk.") || k.contains(".wv.")) {
            fused.insert(format!("model.{k}"), w.get(k).unwrap().clone());
        }
    }
    fused.insert(
        "model.layers.0.attention.wo._extra_state",
        TensorData::new(vec![0u8], [1]),
    );
    let prepared = prepare_checkpoint(fused.clone(), &config).unwrap();
    assert!(prepared.get("layers.1.attention.wk.weight").is_some());
    let mut model = config.init(&device).unwrap();
    let report = model.load_checkpoint(fused).unwrap();
    assert_eq!(report.ignored.len(), 1);
    let got = values(model.logits(tokens, None).unwrap());
    assert_eq!(got, expected);
}
