//! The world-model loop from the command line: `cosmos world episodes` writes a stand-in robot
//! dataset, `cosmos world model` exports the shipped model as a folder, and `cosmos generate
//! --model DIR --input-video --actions` rolls it forward; different plans give different
//! futures, the same plan the same one, and malformed plans exit 2 naming what was expected.
//! `cosmos curate` slices `VIDEO.actions.json` into every clip record. Also `cosmos verify
//! --kind dit` on NVIDIA's action-conditioned network.

use std::path::Path;

mod common;
use common::{cosmos, curate_all, frames, path, text, world_episodes};

/// A plan of `frames` vectors: a push of ball 0 by `dx` at the first frame, nothing after.
fn plan(dir: &Path, name: &str, frames: usize, width: usize, dx: f32) -> std::path::PathBuf {
    let mut actions = vec![vec![0.0f32; width]; frames];
    if width == 5 {
        actions[0] = vec![1.0, 0.0, 0.0, dx, 0.0];
    }
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_string(&actions).unwrap()).unwrap();
    file
}

#[test]
fn episodes_model_and_action_conditioned_generation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("episodes");
    world_episodes(&data, 2, 20, 1000040);
    for k in 0..2 {
        assert!(data.join(format!("episode_{k}.mp4")).is_file());
        let actions: Vec<Vec<f32>> = serde_json::from_str(
            &std::fs::read_to_string(data.join(format!("episode_{k}.actions.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(actions.len(), 20, "one action vector per frame");
        assert!(actions.iter().all(|a| a.len() == 5));
    }
    assert_eq!(frames(&data.join("episode_0.mp4")).len(), 20 * 64 * 64 * 3);

    let model = dir.path().join("model");
    let out = cosmos(&["world", "model", "--out", path(&model)]);
    assert!(out.status.success(), "{}", text(&out));

    let video = data.join("episode_0.mp4");
    let generate = |actions: &Path, frames: &str, out: &Path| {
        cosmos(&[
            "generate",
            "--model",
            path(&model),
            "--input-video",
            path(&video),
            "--actions",
            path(actions),
            "--frames",
            frames,
            "--out",
            path(out),
        ])
    };
    let left = plan(dir.path(), "left.json", 12, 5, -3.5);
    let right = plan(dir.path(), "right.json", 12, 5, 3.5);
    let (l, r, l2) = (
        dir.path().join("l.mp4"),
        dir.path().join("r.mp4"),
        dir.path().join("l2.mp4"),
    );
    for (a, o) in [(&left, &l), (&right, &r), (&left, &l2)] {
        let out = generate(a, "12", o);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("wrote"),
            "{}",
            text(&out)
        );
    }
    let (fl, fr) = (frames(&l), frames(&r));
    assert_eq!(fl.len(), 12 * 64 * 64 * 3, "12 generated frames");
    assert_eq!(fl, frames(&l2), "the same plan gives the same future");
    let differ = fl
        .iter()
        .zip(&fr)
        .filter(|(a, b)| a.abs_diff(**b) > 8)
        .count();
    assert!(
        differ > 200,
        "left and right pushes: only {differ} values differ"
    );

    // A vector of the wrong width and too short a plan exit 2 naming expected and found.
    let narrow = plan(dir.path(), "narrow.json", 12, 4, 0.0);
    let out = generate(&narrow, "12", &dir.path().join("x.mp4"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4 values") && err.contains("expects 5"),
        "{err}"
    );
    let short = plan(dir.path(), "short.json", 3, 5, 0.0);
    let out = generate(&short, "12", &dir.path().join("y.mp4"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 action vectors for 12 frames"));
}

#[test]
fn verify_runs_nvidias_action_conditioned_dit() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/parity/diffusion/dit_action_cosmos_predict1_small.safetensors"
    );
    let out = cosmos(&["verify", "--kind", "dit", fixture]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("action_embedding_B_3D"), "{stdout}");
    assert!(stdout.contains("max_abs_diff="), "{stdout}");
}

#[test]
fn curate_gives_every_clip_the_actions_of_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("episodes");
    world_episodes(&data, 1, 48, 7);
    let curated = dir.path().join("curated");
    let records = curate_all(&data.join("episode_0.mp4"), &curated);
    let all: Vec<Vec<f32>> = serde_json::from_str(
        &std::fs::read_to_string(data.join("episode_0.actions.json")).unwrap(),
    )
    .unwrap();
    assert!(!records.is_empty(), "no clip records");
    for r in &records {
        let (start, end) = (
            r["start_frame"].as_u64().unwrap() as usize,
            r["end_frame"].as_u64().unwrap() as usize,
        );
        let actions: Vec<Vec<f32>> = serde_json::from_value(r["actions"].clone()).unwrap();
        assert_eq!(actions, all[start..end].to_vec(), "clip {start}..{end}");
    }
}
