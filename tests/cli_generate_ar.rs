//! `cosmos generate-ar` end to end at toy size on CPU, with a text prompt and the diffusion
//! decoder: the test builds a model folder (a random 1-layer AR model with cross-attention
//! exported under the reference key names, and the tiny ReLU T5 in `text_encoder/` with its
//! embedding table grown to the test SentencePiece model's 300 pieces) and a diffusion decoder
//! folder (the `diffusion_decoder_small` parity network with its token table grown to the 64 000
//! FSQ indices, the CV4x8x8 parity tokenizer in `tokenizer/`, 9-frame chunks, 2 Euler steps),
//! runs the built `cosmos` binary on the DV4x8x8 parity tokenizer, and decodes the MP4s back.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cosmos_ar::ArConfig;
use cosmos_nn::burn::tensor::{DType, Device, TensorData};
use cosmos_nn::parity::Fixture;
use cosmos_posttrain::ar::export_checkpoint;
use cosmos_posttrain::trainer::write_safetensors;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The DV4x8x8 fixture's FSQ levels (8, 8, 8, 5, 5, 5) give indices below 64 000.
const VOCAB: usize = 64_000;

fn testdata(rel: &str) -> PathBuf {
    Path::new(ROOT).join("testdata").join(rel)
}

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("cosmos_cli_generate_ar_{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn save(tensors: &BTreeMap<String, TensorData>, path: &Path) {
    write_safetensors(path, tensors, HashMap::new(), DType::F32).unwrap();
}

/// Deterministic values in [−scale, scale].
fn values(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0 * scale)
        .collect()
}

/// The tiny ReLU T5 (d_model 32) with 300 embedding rows, and the test SentencePiece model.
fn text_encoder(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let t5 = Fixture::open(testdata("parity/text/t5_encoder_relu_small.safetensors")).unwrap();
    let mut config = t5.json["config"].clone();
    config["vocab_size"] = 300.into();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut weights = t5.weights.tensors().clone();
    let mut shared: Vec<f32> = weights["shared.weight"]
        .clone()
        .convert_dtype(DType::F32)
        .try_into_vec()
        .unwrap();
    shared.extend(values(200 * 32, 1.0));
    weights.insert("shared.weight".into(), TensorData::new(shared, [300, 32]));
    weights.remove("encoder.embed_tokens.weight");
    save(&weights, &dir.join("model.safetensors"));
    std::fs::copy(
        Path::new(ROOT).join("crates/cosmos-text/testdata/spm/tiny_t5.model"),
        dir.join("spiece.model"),
    )
    .unwrap();
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
        TensorData::new(values(VOCAB * 8, 0.5), [VOCAB, 8]),
    );
    save(&weights, &dir.join("model.safetensors"));
    let cv = Fixture::open(testdata("parity/tokenizer/cv4x8x8_small.safetensors")).unwrap();
    std::fs::write(
        dir.join("tokenizer/config.json"),
        cv.json["config"].to_string(),
    )
    .unwrap();
    save(
        cv.weights.tensors(),
        &dir.join("tokenizer/model.safetensors"),
    );
}

fn cosmos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(args)
        .output()
        .expect("the cosmos binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Exit code `code` and a message on standard error containing `needle`.
fn assert_exit(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

fn frames(path: &Path) -> ndarray::Array4<u8> {
    cosmos_media::read_video(path, &cosmos_media::ReadOptions::default())
        .unwrap()
        .frames
}

#[test]
fn prompt_and_diffusion_decoder_write_a_video_determined_by_the_seed() {
    let dir = TempDir::new();
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
    let plain = frames(&plain);
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
    let a = frames(&a);
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
    assert_eq!(a, frames(&b), "the same seed gives the same video");
    let c = dir.join("c.mp4");
    assert!(run(&c, prompt, "4", &dd).status.success());
    assert_ne!(a, frames(&c), "another seed gives another video");
    // The prompt reaches the model: another prompt, another video.
    let d = dir.join("d.mp4");
    assert!(
        run(&d, "a red ball rolls down a ramp", "3", &dd)
            .status
            .success()
    );
    assert_ne!(a, frames(&d), "another prompt gives another video");

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
