//! The whole world-model loop from the command line, at toy scale: `cosmos world episodes`
//! (a stand-in robot dataset: videos + per-frame actions) → `cosmos curate` (clip records with
//! the actions of their frames) → `cosmos train dit --model <exported world model>` (a few
//! steps; writes a world-model folder) → `cosmos generate --model <trained> --actions`.
//! Different plans give different futures from the trained model, training changed what it
//! predicts, and a plan of the wrong width exits 2 naming what was expected and found.

use std::path::{Path, PathBuf};

mod common;
use common::{cosmos, curate_all, frames, path, text, world_episodes};

/// A plan of `frames` vectors of `width`: ball 0 pushed by `dx` at the first frame.
fn plan(dir: &Path, name: &str, frames: usize, width: usize, dx: f32) -> PathBuf {
    let mut actions = vec![vec![0.0f32; width]; frames];
    actions[0][0] = 1.0;
    if width >= 5 {
        actions[0][3] = dx;
    }
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_string(&actions).unwrap()).unwrap();
    file
}

fn differing(a: &[u8], b: &[u8], by: u8) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.abs_diff(**y) > by)
        .count()
}

#[test]
fn episodes_curate_train_generate() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (episodes, curated, base, trained) = (
        root.join("episodes"),
        root.join("curated"),
        root.join("base"),
        root.join("trained"),
    );

    world_episodes(&episodes, 3, 24, 1000200);

    let records = curate_all(&episodes, &curated);
    let with_actions = records
        .iter()
        .filter(|r| r["kept"].as_bool() != Some(false) && r["actions"].is_array())
        .count();
    assert!(with_actions >= 3, "clip records with actions: {records:?}");

    let out = cosmos(&["world", "model", "--out", path(&base)]);
    assert!(out.status.success(), "{}", text(&out));

    let out = cosmos(&[
        "train",
        "dit",
        "--model",
        path(&base),
        "--data",
        path(&curated),
        "--out",
        path(&trained),
        "--steps",
        "3",
        "--batch",
        "2",
        "--warmup",
        "1",
        "--lr",
        "2e-3",
        "--log-every",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("trained 3 steps") && stdout.contains("world-model folder"),
        "{}",
        text(&out)
    );
    // Every 9-frame window of each clip (one every 4 frames) is a sample, not just the first.
    let samples: usize = stdout
        .split(" samples")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no sample count: {stdout}"));
    assert!(
        samples >= 2 * with_actions,
        "{samples} samples from {with_actions} clips"
    );
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer/config.json",
        "tokenizer/tokenizer.safetensors",
        "posttrain.json",
        "checkpoint.safetensors",
    ] {
        assert!(trained.join(file).is_file(), "{file} missing");
    }

    let context = episodes.join("episode_0.mp4");
    let generate = |model: &Path, actions: &Path, out: &Path| {
        cosmos(&[
            "generate",
            "--model",
            path(model),
            "--input-video",
            path(&context),
            "--actions",
            path(actions),
            "--frames",
            "8",
            "--out",
            path(out),
        ])
    };
    let left = plan(root, "left.json", 8, 5, -3.5);
    let right = plan(root, "right.json", 8, 5, 3.5);
    let (l, r, b) = (root.join("l.mp4"), root.join("r.mp4"), root.join("b.mp4"));
    for (model, actions, video) in [
        (&trained, &left, &l),
        (&trained, &right, &r),
        (&base, &left, &b),
    ] {
        let out = generate(model, actions, video);
        assert!(out.status.success(), "{}", text(&out));
    }
    let (fl, fr, fb) = (frames(&l), frames(&r), frames(&b));
    assert_eq!(fl.len(), 8 * 64 * 64 * 3, "8 generated frames");
    let lr = differing(&fl, &fr, 8);
    assert!(lr > 200, "left and right pushes: only {lr} values differ");
    let tb = differing(&fl, &fb, 0);
    assert!(
        tb > 0,
        "the trained model predicts exactly what the base did"
    );

    // A plan of the wrong width exits 2, naming the expected and the found width.
    let narrow = plan(root, "narrow.json", 8, 4, 0.0);
    let out = generate(&trained, &narrow, &root.join("x.mp4"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4 values") && err.contains("expects 5"),
        "{err}"
    );
}

/// NVIDIA's multi-view networks (made with cosmos-predict1's own classes) through `cosmos verify
/// --kind dit`, at the fixtures' 1e-4.
#[test]
fn verify_runs_nvidias_multiview_dits() {
    for name in [
        "dit_multiview_cosmos_predict1_small",
        "dit_video2world_multiview_cosmos_predict1_small",
    ] {
        let fixture = format!(
            "{}/testdata/parity/diffusion/{name}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = cosmos(&["verify", "--kind", "dit", &fixture]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let worst: f64 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("max_abs_diff="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}: no max_abs_diff line: {stdout}"));
        assert!(worst <= 1e-4, "{name}: {worst:e}");
    }
}
