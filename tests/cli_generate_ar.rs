//! `cosmos generate-ar` end to end at toy size on CPU, with a text prompt and the diffusion
//! decoder: the test builds a model folder (a random 1-layer AR model with cross-attention
//! exported under the reference key names, and the tiny ReLU T5 in `text_encoder/` with its
//! embedding table grown to the test SentencePiece model's 300 pieces) and a diffusion decoder
//! folder (the `diffusion_decoder_small` parity network with its token table grown to the 64 000
//! FSQ indices, the CV4x8x8 parity tokenizer in `tokenizer/`, 9-frame chunks, 2 Euler steps),
//! runs the built `cosmos` binary on the DV4x8x8 parity tokenizer, and decodes the MP4s back.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use cosmos_ar::ArConfig;
use cosmos_nn::burn::tensor::{DType, Device, TensorData};
use cosmos_nn::parity::Fixture;
use cosmos_posttrain::ar::export_checkpoint;

mod common;
use common::{cosmos, filler, save_f32, testdata, text, tiny_t5, video};

/// The DV4x8x8 fixture's FSQ levels (8, 8, 8, 5, 5, 5) give indices below 64 000.
const VOCAB: usize = 64_000;

/// The tiny T5 and its SentencePiece model, as the text-encoder folder `dir`.
fn text_encoder(dir: &Path) {
    tiny_t5(dir, &dir.join("spiece.model"));
}

/// A 1-layer AR model over the `[3, 4, 4]` token grid (9 frames of 32×32 through DV4x8x8),
/// with or without cross-attention on 32-wide T5 embeddings.
fn ar_model(dir: &Path, cross_attention: bool) {
    let config = ArConfig {
        dim: 16,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: Some(1),
        vocab_size: VOCAB,
        ffn_hidden_size: 32,
        max_seq_len: 64,
        use_qk_normalization: true,
        rope_dim: "3D".into(),
        video_latent_shape: Some(vec![3, 4, 4]),
        num_video_frames: Some(9),
        apply_abs_pos_emb: true,
        insert_cross_attn: cross_attention,
        context_dim: 32,
        ..ArConfig::default()
    };
    let model = config.init(&Device::flex()).unwrap();
    export_checkpoint(&model, dir, DType::F32).unwrap();
}

/// The diffusion decoder folder: the parity network (token table grown to 64 000 rows), the
/// CV4x8x8 tokenizer, 9-frame chunks (3 latent frames) and 2 steps.
fn decoder_folder(dir: &Path) {
    std::fs::create_dir_all(dir.join("tokenizer")).unwrap();
    let f = Fixture::open(testdata(
        "parity/diffusion/diffusion_decoder_small.safetensors",
    ))
    .unwrap();
    let mut net = f.json["cosmos_predict1_config"].clone();
    net["diffusion_decoder_token_condition_voc_size"] = VOCAB.into();
    let config = serde_json::json!({
        "net": net,
        "inference": { "num_video_frames": 9, "num_steps": 2 }
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut weights: BTreeMap<String, TensorData> = f
        .weights
        .tensors()
        .iter()
        .filter(|(k, _)| !(k.starts_with("__") && k.ends_with("__")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    weights.insert(
        "net.token_embedder.weight".into(),
        TensorData::new(filler(VOCAB * 8, 0.5), [VOCAB, 8]),
    );
    save_f32(&weights, &dir.join("model.safetensors"));
    let cv = Fixture::open(testdata("parity/tokenizer/cv4x8x8_small.safetensors")).unwrap();
    std::fs::write(
        dir.join("tokenizer/config.json"),
        cv.json["config"].to_string(),
    )
    .unwrap();
    save_f32(
        cv.weights.tensors(),
        &dir.join("tokenizer/model.safetensors"),
    );
}

/// Exit code `code` and a message on standard error containing `needle`.
fn assert_exit(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn prompt_and_diffusion_decoder_write_a_video_determined_by_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = dir.join("ar");
    ar_model(&model, true);
    text_encoder(&model.join("text_encoder"));
    let decoder = dir.join("decoder");
    decoder_folder(&decoder);
    let tokenizer = testdata("parity/tokenizer/dv4x8x8_small.safetensors");
    let input = testdata("media/bikes.mp4");
    let prompt = "a robot walks through a warehouse";
    let run = |out: &Path, prompt: &str, seed: &str, extra: &[&str]| {
        let mut args = vec![
            "generate-ar",
            "--model",
            model.to_str().unwrap(),
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "--input-video",
            input.to_str().unwrap(),
            "--num-input-frames",
            "5",
            "--prompt",
            prompt,
            "--seed",
            seed,
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        cosmos(&args)
    };
    let dd = ["--diffusion-decoder", decoder.to_str().unwrap()];

    // The discrete tokenizer's decoder.
    let plain = dir.join("plain.mp4");
    let out = run(&plain, prompt, "3", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let plain = video(&plain);
    assert_eq!(plain.dim(), (9, 32, 32, 3));

    // The diffusion decoder: the clip's 9 frames, other pixels, the same for the same seed.
    let a = dir.join("a.mp4");
    let out = run(
        &a,
        prompt,
        "3",
        &[&dd[..], &["--diffusion-decoder-steps", "2"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let a = video(&a);
    assert_eq!(a.dim(), (9, 32, 32, 3));
    let moved = a
        .iter()
        .zip(plain.iter())
        .filter(|(x, y)| (**x as i32 - **y as i32).abs() > 8)
        .count();
    assert!(
        moved > a.len() / 10,
        "the diffusion decoder changed only {moved} of {} values",
        a.len()
    );
    let b = dir.join("b.mp4");
    assert!(run(&b, prompt, "3", &dd).status.success());
    assert_eq!(a, video(&b), "the same seed gives the same video");
    let c = dir.join("c.mp4");
    assert!(run(&c, prompt, "4", &dd).status.success());
    assert_ne!(a, video(&c), "another seed gives another video");
    // The prompt reaches the model: another prompt, another video.
    let d = dir.join("d.mp4");
    assert!(
        run(&d, "a red ball rolls down a ramp", "3", &dd)
            .status
            .success()
    );
    assert_ne!(a, video(&d), "another prompt gives another video");

    // Blocked by the pre-guard: exit 3; an empty prompt: exit 2.
    let out = run(&dir.join("x.mp4"), "how to behead a man", "3", &[]);
    assert_exit(&out, 3, "blocked");
    assert_exit(&run(&dir.join("x.mp4"), "  ", "3", &[]), 2, "empty");
    // No text encoder in the folder and none given: exit 2, naming the flag.
    let bare = dir.join("bare");
    ar_model(&bare, true);
    let out = cosmos(&[
        "generate-ar",
        "--model",
        bare.to_str().unwrap(),
        "--tokenizer",
        tokenizer.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--num-input-frames",
        "5",
        "--prompt",
        prompt,
    ]);
    assert_exit(&out, 2, "--text-encoder");
    // A prompt for a base model without cross-attention: exit 2.
    let base = dir.join("base");
    ar_model(&base, false);
    let out = cosmos(&[
        "generate-ar",
        "--model",
        base.to_str().unwrap(),
        "--tokenizer",
        tokenizer.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--prompt",
        prompt,
    ]);
    assert_exit(&out, 2, "no cross-attention");

    // --help names the new options.
    let help = cosmos(&["generate-ar", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--prompt",
        "--diffusion-decoder",
        "--diffusion-decoder-steps",
        "--text-encoder",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}
