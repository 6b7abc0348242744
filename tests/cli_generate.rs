//! `cosmos generate` end to end at toy size on CPU: a model folder in the diffusers layout is
//! built in a temporary folder from the parity fixtures' random-weight networks (a DiT with 2
//! blocks, the tiny ReLU T5 with its embedding table grown to the test SentencePiece model's 300
//! pieces, the Cosmos CV4x8x8 tokenizer), the built `cosmos` binary is run on it, and the MP4 it
//! writes is decoded back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cosmos_nn::burn::tensor::{DType, TensorData};
use cosmos_nn::parity::Fixture;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn testdata(rel: &str) -> PathBuf {
    Path::new(ROOT).join("testdata").join(rel)
}

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("cosmos_cli_generate_{tag}_{}", std::process::id()));
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

/// Writes `tensors` as an f32 safetensors file: 8-byte header length, JSON header, data.
fn write_safetensors(tensors: &BTreeMap<String, TensorData>, path: &Path) {
    let mut header = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, t) in tensors {
        let values: Vec<f32> = t.clone().convert::<f32>().try_to_vec().unwrap();
        let start = data.len();
        for v in &values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let shape: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
        header.push(format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
            shape.join(","),
            data.len()
        ));
    }
    let mut head = format!("{{{}}}", header.join(",")).into_bytes();
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut bytes = (head.len() as u64).to_le_bytes().to_vec();
    bytes.extend(head);
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// A model folder (`transformer/`, `text_encoder/`, `tokenizer/spiece.model`, `vae/`) around
/// the DiT fixture `dit`.
fn model_folder(dit: &str, tag: &str) -> TempDir {
    let root = TempDir::new(tag);
    for d in ["transformer", "text_encoder", "tokenizer", "vae"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let f = Fixture::open(testdata(&format!("parity/diffusion/{dit}.safetensors"))).unwrap();
    std::fs::write(
        root.join("transformer/config.json"),
        f.json["config"].to_string(),
    )
    .unwrap();
    write_safetensors(
        f.weights.tensors(),
        &root.join("transformer/diffusion_pytorch_model.safetensors"),
    );

    // The tiny T5 with 100 embedding rows grown to the SentencePiece model's 300 pieces.
    let t5 = Fixture::open(testdata("parity/text/t5_encoder_relu_small.safetensors")).unwrap();
    let mut config = t5.json["config"].clone();
    config["vocab_size"] = 300.into();
    std::fs::write(root.join("text_encoder/config.json"), config.to_string()).unwrap();
    let mut weights = t5.weights.tensors().clone();
    let mut shared: Vec<f32> = weights["shared.weight"]
        .clone()
        .convert_dtype(DType::F32)
        .try_into_vec()
        .unwrap();
    let extra = (0..200 * 32).map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0);
    shared.extend(extra);
    weights.insert("shared.weight".into(), TensorData::new(shared, [300, 32]));
    weights.remove("encoder.embed_tokens.weight");
    write_safetensors(&weights, &root.join("text_encoder/model.safetensors"));
    std::fs::copy(
        Path::new(ROOT).join("crates/cosmos-text/testdata/spm/tiny_t5.model"),
        root.join("tokenizer/spiece.model"),
    )
    .unwrap();

    let cv = Fixture::open(testdata("parity/tokenizer/cv4x8x8_small.safetensors")).unwrap();
    std::fs::write(root.join("vae/config.json"), cv.json["config"].to_string()).unwrap();
    write_safetensors(cv.weights.tensors(), &root.join("vae/model.safetensors"));
    root
}

fn cosmos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(args)
        .output()
        .expect("the cosmos binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `cosmos generate` at the toy size (9 frames of 32×32: 3 latent frames of 4×4) with 2 Euler
/// steps; `extra` adds arguments or replaces these defaults.
fn generate(model: &Path, out: &Path, prompt: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "generate",
        "--prompt",
        prompt,
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    for (flag, value) in [
        ("--frames", "9"),
        ("--height", "32"),
        ("--width", "32"),
        ("--steps", "2"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    cosmos(&args)
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Exit code 2 and an error message containing `needle`.
fn assert_error(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("error:") && err.contains(needle),
        "expected an error mentioning {needle:?}, got: {err}"
    );
}

/// The decoded frames `[T, H, W, 3]` of an MP4.
fn decode(path: &Path) -> ndarray::Array4<u8> {
    cosmos_media::read_video(path, &cosmos_media::ReadOptions::default())
        .unwrap()
        .frames
}

#[test]
fn text2world_writes_a_video_determined_by_the_seed() {
    let model = model_folder("dit_text2world_small", "t2w");
    let prompt = "a robot walks through a warehouse";

    let a = model.join("a.mp4");
    let out = generate(&model.0, &a, prompt, &["--seed", "5"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote"));
    let frames_a = decode(&a);
    assert_eq!(frames_a.dim(), (9, 32, 32, 3), "frames, height, width, rgb");

    let b = model.join("b.mp4");
    assert_success(&generate(&model.0, &b, prompt, &["--seed", "5"]));
    assert_eq!(frames_a, decode(&b), "the same seed gives the same video");

    let c = model.join("c.mp4");
    assert_success(&generate(&model.0, &c, prompt, &["--seed", "6"]));
    let frames_c = decode(&c);
    assert_eq!(frames_c.dim(), (9, 32, 32, 3));
    assert_ne!(frames_a, frames_c, "another seed gives another video");

    // Another sampler and guidance weight: same size, another video.
    let d = model.join("d.mp4");
    assert_success(&generate(
        &model.0,
        &d,
        prompt,
        &["--seed", "5", "--sampler", "res2ab", "--guidance", "3"],
    ));
    let frames_d = decode(&d);
    assert_eq!(frames_d.dim(), (9, 32, 32, 3));
    assert_ne!(frames_a, frames_d, "the sampler settings matter");

    // An over-long prompt is truncated with a warning, not refused.
    let long = vec!["robot"; 700].join(" ");
    let e = model.join("e.mp4");
    let out = generate(&model.0, &e, &long, &[]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("truncated"),
        "stderr: {err}"
    );
    assert_eq!(decode(&e).dim(), (9, 32, 32, 3));
}

#[test]
fn video2world_continues_an_input_video_or_image() {
    let model = model_folder("dit_video2world_small", "v2w");
    let prompt = "the cyclists ride on";

    // The last 5 frames (1 + 4, the toy tokenizer compresses time 4×) of a real video.
    let bikes = testdata("media/bikes.mp4");
    let a = model.join("a.mp4");
    let out = generate(
        &model.0,
        &a,
        prompt,
        &["--input-video", bikes.to_str().unwrap(), "--seed", "2"],
    );
    assert_success(&out);
    let frames = decode(&a);
    assert_eq!(frames.dim(), (9, 32, 32, 3));

    // A single image conditions one latent frame.
    let astronaut = testdata("media/astronaut.png");
    let b = model.join("b.mp4");
    assert_success(&generate(
        &model.0,
        &b,
        prompt,
        &["--input-video", astronaut.to_str().unwrap(), "--seed", "2"],
    ));
    let from_image = decode(&b);
    assert_eq!(from_image.dim(), (9, 32, 32, 3));
    assert_ne!(frames, from_image, "the input conditions the output");

    // Video2World needs an input; conditioning frames must fill whole latent frames.
    assert_error(
        &generate(&model.0, &model.join("c.mp4"), prompt, &[]),
        "needs an input video",
    );
    assert_error(
        &generate(
            &model.0,
            &model.join("d.mp4"),
            prompt,
            &[
                "--input-video",
                bikes.to_str().unwrap(),
                "--condition-frames",
                "3",
            ],
        ),
        "conditioning frames must be 1 + k·4",
    );
}

#[test]
fn bad_input_exits_with_code_2_and_says_why() {
    let model = model_folder("dit_text2world_small", "bad");
    let out_path = model.join("out.mp4");

    assert_error(
        &generate(&model.0, &out_path, "   ", &[]),
        "prompt is empty",
    );
    assert_error(&generate(&model.0, &out_path, "", &[]), "prompt is empty");
    // 10 frames do not make whole latent frames; 36 px is not a multiple of 16.
    assert_error(
        &generate(&model.0, &out_path, "a cat", &["--frames", "10"]),
        "frames = 1 + k·4",
    );
    assert_error(
        &generate(&model.0, &out_path, "a cat", &["--width", "36"]),
        "multiples of 16",
    );
    assert_error(
        &generate(&model.0, &out_path, "a cat", &["--sampler", "ddim"]),
        "ddim",
    );
    assert_error(
        &generate(&model.0, &out_path, "a cat", &["--steps", "0"]),
        "step",
    );
    // A Text2World network takes no input video.
    let astronaut = testdata("media/astronaut.png");
    assert_error(
        &generate(
            &model.0,
            &out_path,
            "a cat",
            &["--input-video", astronaut.to_str().unwrap()],
        ),
        "needs a Video2World network",
    );
    assert!(!out_path.exists(), "no video is written on error");

    // Missing and incomplete model folders.
    let missing = model.join("missing");
    assert_error(&generate(&missing, &out_path, "a cat", &[]), "not a folder");
    let partial = TempDir::new("partial");
    std::fs::create_dir_all(partial.join("transformer")).unwrap();
    assert_error(
        &generate(&partial.0, &out_path, "a cat", &[]),
        "spiece.model",
    );
    std::fs::create_dir_all(partial.join("tokenizer")).unwrap();
    std::fs::copy(
        model.join("tokenizer/spiece.model"),
        partial.join("tokenizer/spiece.model"),
    )
    .unwrap();
    assert_error(
        &generate(&partial.0, &out_path, "a cat", &[]),
        "no video tokenizer",
    );

    // A checkpoint that does not fit its config: the transformer claims 3 blocks.
    let f = Fixture::open(testdata(
        "parity/diffusion/dit_text2world_small.safetensors",
    ))
    .unwrap();
    let mut config = f.json["config"].clone();
    config["num_layers"] = 3.into();
    std::fs::write(model.join("transformer/config.json"), config.to_string()).unwrap();
    assert_error(
        &generate(&model.0, &out_path, "a cat", &[]),
        "transformer_blocks.2",
    );
    assert!(!out_path.exists());
}
