//! `cosmos train world-model` end to end at toy size on the CPU: encodes a few episodes of the
//! physics world with the shipped tokenizer, trains the world model for two steps, evaluates it,
//! and `cosmos demo --model` runs the result; bad settings exit with code 2 and say why.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::text;

fn cosmos(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("cosmos runs")
}

/// `cosmos train world-model` with `args`, writing to `out`.
fn train(args: &[&str], out: &Path) -> Output {
    cosmos(&[&["train", "world-model"], args].concat(), out)
}

#[test]
fn trains_a_world_model_that_the_demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let checkpoints = dir.path().join("checkpoints");
    let output = train(
        &[
            "--episodes",
            "4",
            "--batch",
            "2",
            "--stop-after",
            "2",
            "--eval",
            "1",
            "--checkpoints",
            checkpoints.to_str().unwrap(),
        ],
        &model,
    );
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("trained 2 steps"), "{}", text(&output));
    assert!(stdout.contains("PSNR"), "{}", text(&output));
    for file in ["config.json", "model.safetensors"] {
        assert!(model.join(file).is_file(), "{file} written");
    }
    assert!(
        checkpoints.read_dir().unwrap().next().is_some(),
        "checkpoint written"
    );
    // metrics.jsonl (one JSON object per step, steps increasing) and loss.png beside it.
    let metrics = std::fs::read_to_string(checkpoints.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for key in ["loss", "lr", "seconds"] {
                assert!(
                    v[key].as_f64().is_some_and(f64::is_finite),
                    "{key} in {line}"
                );
            }
            v["step"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(steps, [1, 2], "{metrics}");
    let png = image::open(checkpoints.join("loss.png")).expect("loss.png decodes");
    assert!(png.width() >= 400 && png.height() >= 200);
    // The recipe's window is the default: one predicted latent frame.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["predicted_latent_frames"], 1);

    let demo = dir.path().join("demo");
    let output = cosmos(&["demo", "--model", model.to_str().unwrap()], &demo);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("psnr_model_db="), "{}", text(&output));
    assert!(demo.join("demo.gif").is_file());
}

#[test]
fn bad_settings_exit_with_code_2_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let output = train(&["--episodes", "2", "--predicted-latent-frames", "4"], &out);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("predicted_latent_frames"),
        "{}",
        text(&output)
    );
    assert!(!out.exists(), "nothing written for a refused run");
}
