//! `cosmos curate` from the command line: exit codes (0 every input read, 1 some unreadable, 2
//! none readable or a bad argument), `--json` (the summary as one JSON object), and `--merge OUT`
//! after a two-worker run: the duplicate that landed on the other worker is removed from its
//! shard and the manifests, the result keeps the clips a single worker keeps, and a second merge
//! changes no byte.

use std::path::Path;
use std::process::Output;

mod common;
use common::{cosmos, media, path, snapshot, text};

fn curate(inputs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["curate"];
    args.extend(inputs.iter().map(|p| path(p)));
    args.extend(["--out", path(out), "--quiet", "--preset", "ultrafast"]);
    args.extend_from_slice(extra);
    cosmos(&args)
}

#[test]
fn exit_codes_and_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let good = media("carphone_pristine.mp4");
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, b"not a video").unwrap();

    // Every input read: 0, and --json prints one JSON object on stdout.
    let out = dir.path().join("ok");
    let output = curate(&[&good], &out, &["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["inputs"], 1);
    assert_eq!(json["clips_in_shards"], 1);
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["failed_inputs"].as_array().unwrap().len(), 0);
    assert!(json["stages"].as_array().unwrap().len() >= 8);

    // Some unreadable: 1, the unreadable input named, the readable one curated.
    let out = dir.path().join("some");
    let output = curate(&[&good, &garbage], &out, &["--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["inputs"], 2);
    assert_eq!(json["clips_in_shards"], 1);
    let failed = json["failed_inputs"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("garbage.mp4")
    );
    // Without --json the table names it.
    let out = dir.path().join("some-table");
    let output = curate(&[&good, &garbage], &out, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("unreadable:"),
        "{}",
        text(&output)
    );

    // Nothing readable: 2, with the path in the summary.
    let out = dir.path().join("none");
    let output = curate(&[Path::new("/does/not/exist.mp4")], &out, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("/does/not/exist.mp4"),
        "{}",
        text(&output)
    );
    let output = curate(&[Path::new("/does/not/exist.mp4")], &out, &["--json"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["exit_code"], 2);

    // Wrong arguments: 2.
    for bad in [&["--shard", "3/2"][..], &["--size", "big"], &["--crf", "x"]] {
        let output = curate(&[&good], &dir.path().join("bad"), bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", text(&output));
    }
    let output = cosmos(&["curate", path(&good)]);
    assert_eq!(output.status.code(), Some(2), "no --out: {}", text(&output));

    // The codes are documented in --help.
    let help = cosmos(&["curate", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit status: 0 every input was read; 1 some inputs were unreadable"),
        "{help}"
    );
}

fn manifest(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kept_keys(out: &Path) -> Vec<String> {
    let mut keys: Vec<String> = manifest(out)
        .iter()
        .filter(|r| r["kept"] == true)
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

/// Names of the members of every shard under `out/shards`.
fn shard_members(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = snapshot(out)
        .into_iter()
        .filter(|(name, _)| name.starts_with("shards/") && name.ends_with(".tar"))
        .flat_map(|(_, bytes)| {
            let mut archive = tar::Archive::new(bytes.as_slice());
            archive
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn merge_removes_cross_worker_duplicates_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    // The same clip under two names, which sort onto different workers of two (a -> 0, b -> 1),
    // and a different video (c -> 0).
    std::fs::copy(media("carphone_pristine.mp4"), inputs.join("a_car.mp4")).unwrap();
    std::fs::copy(media("carphone_pristine.mp4"), inputs.join("b_car.mp4")).unwrap();
    std::fs::copy(media("bikes.mp4"), inputs.join("c_bikes.mp4")).unwrap();

    // One worker: dedup sees both copies and keeps one.
    let single = dir.path().join("single");
    let output = curate(&[&inputs], &single, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let expected = kept_keys(&single);
    assert!(
        expected.iter().any(|k| k.starts_with("a_car_")),
        "{expected:?}"
    );
    assert!(
        !expected.iter().any(|k| k.starts_with("b_car_")),
        "{expected:?}"
    );

    // Two workers: each keeps its copy.
    let shared = dir.path().join("shared");
    for worker in ["0/2", "1/2"] {
        let output = curate(&[&inputs], &shared, &["--shard", worker]);
        assert_eq!(output.status.code(), Some(0), "{worker}: {}", text(&output));
    }
    let before = kept_keys(&shared);
    assert_eq!(before.len(), expected.len() + 1, "{before:?}");
    let b_key = before
        .iter()
        .find(|k| k.starts_with("b_car_"))
        .unwrap()
        .clone();
    assert!(shard_members(&shared).contains(&format!("{b_key}.mp4")));

    // The merge removes the cross-worker duplicate from shards and manifest.
    let output = cosmos(&["curate", "--merge", path(&shared), "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["workers"], 2);
    assert_eq!(json["removed"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["removed"][0]["key"], b_key.as_str());
    assert!(
        json["removed"][0]["duplicate_of"]
            .as_str()
            .unwrap()
            .starts_with("a_car_")
    );
    assert_eq!(kept_keys(&shared), expected);
    let record = manifest(&shared)
        .into_iter()
        .find(|r| r["key"] == b_key.as_str())
        .unwrap();
    assert_eq!(record["kept"], false);
    assert_eq!(record["drop_reason"], "duplicate");
    assert!(record["shard"].is_null());
    let members = shard_members(&shared);
    assert!(
        !members.iter().any(|m| m.starts_with(&b_key)),
        "{members:?}"
    );
    // Every kept clip is still in a shard, with its three members.
    for key in &expected {
        for extension in ["mp4", "json", "txt"] {
            assert!(members.contains(&format!("{key}.{extension}")), "{key}");
        }
    }
    assert_eq!(members.len(), expected.len() * 3);
    // The worker's summary is recounted.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared.join(".curate/1-of-2/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["clips_in_shards"], 0);

    // Idempotent: a second merge, and a re-run of a finished worker, change no byte.
    let merged = snapshot(&shared);
    let output = cosmos(&["curate", "--merge", path(&shared)]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("0 cross-worker duplicates removed"),
        "{}",
        text(&output)
    );
    assert!(snapshot(&shared) == merged, "a second merge changed files");
    let output = curate(&[&inputs], &shared, &["--shard", "1/2"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let rerun = snapshot(&shared);
    let changed: Vec<&String> = rerun
        .keys()
        .chain(merged.keys())
        .filter(|k| rerun.get(*k) != merged.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "re-running a worker undid the merge: {changed:?} changed"
    );

    // A folder whose workers have not all finished, or no run at all, is refused with 2.
    let partial = dir.path().join("partial");
    let output = curate(&[&inputs], &partial, &["--shard", "0/2"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output = cosmos(&["curate", "--merge", path(&partial)]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("1/2"), "{}", text(&output));
    let output = cosmos(&["curate", "--merge", path(&dir.path().join("nothing"))]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}
