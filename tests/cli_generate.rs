//! `cosmos generate` end to end at toy size on CPU: a model folder in the diffusers layout is
//! built in a temporary folder from the parity fixtures' random-weight networks (a DiT with 2
//! blocks, the tiny ReLU T5 with its embedding table grown to the test SentencePiece model's 300
//! pieces, the Cosmos CV4x8x8 tokenizer), the built `cosmos` binary is run on it, and the MP4 it
//! writes is decoded back.

use std::path::Path;
use std::process::Output;

use cosmos_nn::parity::Fixture;

mod common;
use common::{cosmos, save_f32, testdata, tiny_t5, video};

/// A model folder (`transformer/`, `text_encoder/`, `tokenizer/spiece.model`, `vae/`) around
/// the DiT fixture `dit`.
fn model_folder(dit: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for d in ["transformer", "text_encoder", "tokenizer", "vae"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let f = Fixture::open(testdata(&format!("parity/diffusion/{dit}.safetensors"))).unwrap();
    std::fs::write(
        root.join("transformer/config.json"),
        f.json["config"].to_string(),
    )
    .unwrap();
    save_f32(
        f.weights.tensors(),
        &root.join("transformer/diffusion_pytorch_model.safetensors"),
    );

    tiny_t5(
        &root.join("text_encoder"),
        &root.join("tokenizer/spiece.model"),
    );

    let cv = Fixture::open(testdata("parity/tokenizer/cv4x8x8_small.safetensors")).unwrap();
    std::fs::write(root.join("vae/config.json"), cv.json["config"].to_string()).unwrap();
    save_f32(cv.weights.tensors(), &root.join("vae/model.safetensors"));
    tmp
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

#[test]
fn text2world_writes_a_video_determined_by_the_seed() {
    let model = model_folder("dit_text2world_small");
    let prompt = "a robot walks through a warehouse";

    let a = model.path().join("a.mp4");
    let out = generate(model.path(), &a, prompt, &["--seed", "5"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote"));
    let frames_a = video(&a);
    assert_eq!(frames_a.dim(), (9, 32, 32, 3), "frames, height, width, rgb");

    let b = model.path().join("b.mp4");
    assert_success(&generate(model.path(), &b, prompt, &["--seed", "5"]));
    assert_eq!(frames_a, video(&b), "the same seed gives the same video");

    let c = model.path().join("c.mp4");
    assert_success(&generate(model.path(), &c, prompt, &["--seed", "6"]));
    let frames_c = video(&c);
    assert_eq!(frames_c.dim(), (9, 32, 32, 3));
    assert_ne!(frames_a, frames_c, "another seed gives another video");

    // Another sampler and guidance weight: same size, another video.
    let d = model.path().join("d.mp4");
    assert_success(&generate(
        model.path(),
        &d,
        prompt,
        &["--seed", "5", "--sampler", "res2ab", "--guidance", "3"],
    ));
    let frames_d = video(&d);
    assert_eq!(frames_d.dim(), (9, 32, 32, 3));
    assert_ne!(frames_a, frames_d, "the sampler settings matter");

    // An over-long prompt is truncated with a warning, not refused.
    let long = vec!["robot"; 700].join(" ");
    let e = model.path().join("e.mp4");
    let out = generate(model.path(), &e, &long, &[]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("truncated"),
        "stderr: {err}"
    );
    assert_eq!(video(&e).dim(), (9, 32, 32, 3));
}

#[test]
fn video2world_continues_an_input_video_or_image() {
    let model = model_folder("dit_video2world_small");
    let prompt = "the cyclists ride on";

    // The last 5 frames (1 + 4, the toy tokenizer compresses time 4×) of a real video.
    let bikes = testdata("media/bikes.mp4");
    let a = model.path().join("a.mp4");
    let out = generate(
        model.path(),
        &a,
        prompt,
        &["--input-video", bikes.to_str().unwrap(), "--seed", "2"],
    );
    assert_success(&out);
    let frames = video(&a);
    assert_eq!(frames.dim(), (9, 32, 32, 3));

    // A single image conditions one latent frame.
    let astronaut = testdata("media/astronaut.png");
    let b = model.path().join("b.mp4");
    assert_success(&generate(
        model.path(),
        &b,
        prompt,
        &["--input-video", astronaut.to_str().unwrap(), "--seed", "2"],
    ));
    let from_image = video(&b);
    assert_eq!(from_image.dim(), (9, 32, 32, 3));
    assert_ne!(frames, from_image, "the input conditions the output");

    // Video2World needs an input; conditioning frames must fill whole latent frames.
    assert_error(
        &generate(model.path(), &model.path().join("c.mp4"), prompt, &[]),
        "needs an input video",
    );
    assert_error(
        &generate(
            model.path(),
            &model.path().join("d.mp4"),
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
    let model = model_folder("dit_text2world_small");
    let out_path = model.path().join("out.mp4");

    assert_error(
        &generate(model.path(), &out_path, "   ", &[]),
        "prompt is empty",
    );
    assert_error(
        &generate(model.path(), &out_path, "", &[]),
        "prompt is empty",
    );
    // 10 frames do not make whole latent frames; 36 px is not a multiple of 16.
    assert_error(
        &generate(model.path(), &out_path, "a cat", &["--frames", "10"]),
        "frames = 1 + k·4",
    );
    assert_error(
        &generate(model.path(), &out_path, "a cat", &["--width", "36"]),
        "multiples of 16",
    );
    assert_error(
        &generate(model.path(), &out_path, "a cat", &["--sampler", "ddim"]),
        "ddim",
    );
    assert_error(
        &generate(model.path(), &out_path, "a cat", &["--steps", "0"]),
        "step",
    );
    // A Text2World network takes no input video.
    let astronaut = testdata("media/astronaut.png");
    assert_error(
        &generate(
            model.path(),
            &out_path,
            "a cat",
            &["--input-video", astronaut.to_str().unwrap()],
        ),
        "needs a Video2World network",
    );
    assert!(!out_path.exists(), "no video is written on error");

    // Missing and incomplete model folders.
    let missing = model.path().join("missing");
    assert_error(&generate(&missing, &out_path, "a cat", &[]), "not a folder");
    let partial = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(partial.path().join("transformer")).unwrap();
    assert_error(
        &generate(partial.path(), &out_path, "a cat", &[]),
        "spiece.model",
    );
    std::fs::create_dir_all(partial.path().join("tokenizer")).unwrap();
    std::fs::copy(
        model.path().join("tokenizer/spiece.model"),
        partial.path().join("tokenizer/spiece.model"),
    )
    .unwrap();
    assert_error(
        &generate(partial.path(), &out_path, "a cat", &[]),
        "no video tokenizer",
    );

    // A checkpoint that does not fit its config: the transformer claims 3 blocks.
    let f = Fixture::open(testdata(
        "parity/diffusion/dit_text2world_small.safetensors",
    ))
    .unwrap();
    let mut config = f.json["config"].clone();
    config["num_layers"] = 3.into();
    std::fs::write(
        model.path().join("transformer/config.json"),
        config.to_string(),
    )
    .unwrap();
    assert_error(
        &generate(model.path(), &out_path, "a cat", &[]),
        "transformer_blocks.2",
    );
    assert!(!out_path.exists());
}
