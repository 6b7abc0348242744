//! `cosmos train ar` end to end at toy size on CPU: a random 1-layer AR model exported under the
//! reference key names, a webdataset shard of two short clips with per-frame actions, and the
//! Cosmos DV4x8x8 parity tokenizer (random weights, NVIDIA's architecture). The built `cosmos`
//! binary fine-tunes with action conditioning and LoRA, resumes, exports a folder that loads
//! again and generates with actions (`cosmos generate-ar --actions`); bad input exits with code
//! 2 and says why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cosmos_ar::ArConfig;
use cosmos_media::{Video, WriteOptions, write_video};
use cosmos_nn::burn::tensor::{DType, Device};
use cosmos_posttrain::ar::{ArRunInfo, export_checkpoint};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The DV4x8x8 fixture's FSQ levels (8, 8, 8, 5, 5, 5) give indices below 64 000.
const VOCAB: usize = 64_000;

fn tokenizer() -> PathBuf {
    Path::new(ROOT).join("testdata/parity/tokenizer/dv4x8x8_small.safetensors")
}

/// 1 layer, dim 16, the token grid [2, 4, 6] (5 frames of 32×48 through DV4x8x8).
fn config(vocab: usize) -> ArConfig {
    ArConfig {
        dim: 16,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: Some(1),
        vocab_size: vocab,
        ffn_hidden_size: 32,
        max_seq_len: 48,
        use_qk_normalization: true,
        rope_dim: "3D".into(),
        video_latent_shape: Some(vec![2, 4, 6]),
        num_video_frames: Some(5),
        apply_abs_pos_emb: true,
        ..ArConfig::default()
    }
}

fn export(vocab: usize, dir: &Path) {
    let device = Device::flex();
    let model = config(vocab).init(&device).unwrap();
    export_checkpoint(&model, dir, DType::F32).unwrap();
}

/// One shard with two 5-frame clips (a moving bright bar), each frame with a 2-d action.
fn shard(dir: &Path) -> PathBuf {
    let shards = dir.join("shards");
    std::fs::create_dir_all(&shards).unwrap();
    let path = shards.join("part_000000.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for (k, speed) in [(0usize, 4usize), (1, 8)] {
        let mut frames = ndarray::Array4::<u8>::from_elem((5, 32, 48, 3), 40);
        for t in 0..5 {
            let x0 = (t * speed) % 40;
            for y in 0..32 {
                for x in x0..x0 + 8 {
                    frames[[t, y, x, 0]] = 230;
                    frames[[t, y, x, 1]] = 200;
                }
            }
        }
        let clip = dir.join(format!("clip{k}.mp4"));
        let video = Video::new(frames, 8.0).unwrap();
        write_video(&clip, &video, &WriteOptions::default()).unwrap();
        let actions: Vec<[f32; 2]> = (0..5).map(|_| [speed as f32 / 8.0, 0.0]).collect();
        let json = serde_json::json!({ "actions": actions }).to_string();
        for (name, bytes) in [
            (format!("clip{k}.mp4"), std::fs::read(&clip).unwrap()),
            (format!("clip{k}.json"), json.into_bytes()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .unwrap();
        }
    }
    builder.finish().unwrap();
    shards
}

fn cosmos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(args)
        .output()
        .expect("the cosmos binary runs")
}

fn train(model: &Path, shards: &Path, out: &Path, extra: &[&str]) -> Output {
    let (model, shards, out, tok) = (
        model.to_str().unwrap().to_string(),
        shards.to_str().unwrap().to_string(),
        out.to_str().unwrap().to_string(),
        tokenizer().to_str().unwrap().to_string(),
    );
    let mut args = vec![
        "train",
        "ar",
        "--model",
        &model,
        "--shards",
        &shards,
        "--tokenizer",
        &tok,
        "--out",
        &out,
        "--condition",
        "action",
        "--lr",
        "5e-3",
        "--warmup",
        "1",
        "--every",
        "2",
    ];
    args.extend_from_slice(extra);
    cosmos(&args)
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The steps of `dir/metrics.jsonl` (each line parsed, with a finite loss, learning rate and
/// time); checks that `dir/loss.png` decodes.
fn logged_steps(dir: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("metrics.jsonl written");
    let steps: Vec<u64> = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
            for key in ["loss", "lr", "seconds"] {
                assert!(
                    v[key].as_f64().is_some_and(f64::is_finite),
                    "{key} in {line}"
                );
            }
            v["step"].as_u64().expect("step")
        })
        .collect();
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "increasing steps: {steps:?}"
    );
    let png = image::open(dir.join("loss.png")).expect("loss.png decodes");
    assert!(png.width() >= 400 && png.height() >= 200);
    steps
}

fn tensor_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn fine_tunes_with_actions_and_lora_resumes_and_exports_a_loadable_model() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    export(VOCAB, &base);
    let shards = shard(dir.path());
    let out = dir.path().join("run");

    let first = train(&base, &shards, &out, &["--lora", "4", "--steps", "3"]);
    assert!(first.status.success(), "{}", text(&first));
    let log = text(&first);
    assert!(log.contains("2 clips encoded"), "{log}");
    for file in [
        "ar_checkpoint.safetensors",
        "tokens.safetensors",
        "action_projection.safetensors",
        "posttrain.json",
        "model/config.json",
        "model/model.safetensors",
    ] {
        assert!(out.join(file).is_file(), "{file} missing\n{log}");
    }
    let info: ArRunInfo =
        serde_json::from_str(&std::fs::read_to_string(out.join("posttrain.json")).unwrap())
            .unwrap();
    assert_eq!(info.steps, 3);
    assert_eq!(info.latent_shape, [2, 4, 6]);
    assert_eq!(info.action_dim_per_latent_frame, Some(8));
    assert!(info.lora.is_some());
    assert!(info.final_loss.is_finite() && info.final_loss > 0.0);
    // The merged export differs from the base weights (the adapters trained).
    assert_ne!(
        tensor_bytes(&out.join("model/model.safetensors")),
        tensor_bytes(&base.join("model.safetensors"))
    );

    // Resume to 5 steps from the checkpoint, using the cached tokens.
    let resumed = train(
        &base,
        &shards,
        &out,
        &["--lora", "4", "--steps", "5", "--resume"],
    );
    assert!(resumed.status.success(), "{}", text(&resumed));
    let info: ArRunInfo =
        serde_json::from_str(&std::fs::read_to_string(out.join("posttrain.json")).unwrap())
            .unwrap();
    assert_eq!(info.steps, 5, "{}", text(&resumed));
    // metrics.jsonl and loss.png beside the checkpoint: one line per step, 1..5 in order
    // across the resume.
    assert_eq!(logged_steps(&out), (1..=5).collect::<Vec<_>>());

    // The fine-tuned model generates with actions: the exported weights, the action projection
    // and one 2-d action per frame (a clip record, as in the shard).
    let actions = dir.path().join("actions.json");
    std::fs::write(
        &actions,
        serde_json::json!({ "actions": [[1.0, 0.0], [1.0, 0.0], [0.5, 0.0], [0.5, 0.0]] })
            .to_string(),
    )
    .unwrap();
    let input = dir.path().join("clip0.mp4");
    let video = dir.path().join("generated.mp4");
    let generate = |actions: &Path, video: &Path| {
        cosmos(&[
            "generate-ar",
            "--model",
            out.join("model/config.json").to_str().unwrap(),
            "--checkpoint",
            out.join("model/model.safetensors").to_str().unwrap(),
            "--tokenizer",
            tokenizer().to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--num-input-frames",
            "1",
            "--actions",
            actions.to_str().unwrap(),
            "--action-projection",
            out.join("action_projection.safetensors").to_str().unwrap(),
            "--output",
            video.to_str().unwrap(),
        ])
    };
    let generated = generate(&actions, &video);
    assert!(generated.status.success(), "{}", text(&generated));
    let clip = cosmos_media::read_video(&video, &cosmos_media::ReadOptions::default()).unwrap();
    assert_eq!(clip.frames.dim(), (5, 32, 48, 3));
    // Too few actions for the 5-frame clip: exit code 2, and the message says what is needed.
    std::fs::write(&actions, "[[1.0, 0.0], [1.0, 0.0]]").unwrap();
    let short = generate(&actions, &video);
    assert_eq!(short.status.code(), Some(2), "{}", text(&short));
    assert!(
        text(&short).contains("needs an action after each frame"),
        "{}",
        text(&short)
    );
    // Actions of the wrong width for the projection.
    std::fs::write(&actions, "[[1.0], [1.0], [1.0], [1.0]]").unwrap();
    let narrow = generate(&actions, &video);
    assert_eq!(narrow.status.code(), Some(2), "{}", text(&narrow));
    assert!(
        text(&narrow).contains("the projection takes 8"),
        "{}",
        text(&narrow)
    );

    // The exported folder (config.json + model.safetensors under the reference names) loads
    // again as a `--model`: full fine-tuning from it, without LoRA.
    let again = dir.path().join("again");
    let second = train(&out.join("model"), &shards, &again, &["--steps", "1"]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(again.join("model/model.safetensors").is_file());
}

#[test]
fn bad_input_exits_with_code_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let shards = shard(dir.path());
    // A vocabulary smaller than the tokenizer's indices.
    let small = dir.path().join("small");
    export(512, &small);
    let out = train(&small, &shards, &dir.path().join("o1"), &["--steps", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("outside the vocabulary of 512"),
        "{}",
        text(&out)
    );
    // A model folder without weights.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = train(&empty, &shards, &dir.path().join("o2"), &["--steps", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // No clips long enough: nothing to train on.
    let none = dir.path().join("none");
    std::fs::create_dir_all(&none).unwrap();
    let base = dir.path().join("base");
    export(VOCAB, &base);
    let out = train(&base, &none, &dir.path().join("o3"), &["--steps", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
