//! Hugging Face repository ids as `--model`: a fake hub cache is built in a temporary
//! `HF_HOME` exactly as `hf download` lays one out (`hub/models--ORG--NAME/blobs/HASH`,
//! `snapshots/COMMIT/FILE` symbolic links to the blobs, `refs/main` naming the commit), holding
//! the small parity-fixture tokenizer; the built `cosmos` resolves the id offline and runs it.
//! A missing id is exit 2 with the download command, and preset names run random weights only
//! with `--random-weights`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cosmos_nn::burn::tensor::DType;
use cosmos_nn::parity::Fixture;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn testdata(rel: &str) -> PathBuf {
    Path::new(ROOT).join("testdata").join(rel)
}

/// Writes a repository into the hub cache under `hf_home`: one blob per file, the snapshot's
/// files as relative symbolic links to them, `refs/main` → `commit`. Returns the snapshot.
fn hub_repo(hf_home: &Path, id: &str, commit: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let repo = hf_home
        .join("hub")
        .join(format!("models--{}", id.replace('/', "--")));
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    for (k, (name, bytes)) in files.iter().enumerate() {
        let blob = format!("{commit}{k:04x}");
        std::fs::write(repo.join("blobs").join(&blob), bytes).unwrap();
        let link = snapshot.join(name);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let depth = name.matches('/').count() + 2;
        let target = format!("{}blobs/{blob}", "../".repeat(depth));
        std::os::unix::fs::symlink(target, &link).unwrap();
        assert_eq!(
            &std::fs::read(&link).unwrap(),
            bytes,
            "{name} links to its blob"
        );
    }
    // The Python client writes the commit without a newline.
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    snapshot
}

/// The CI8x8 parity fixture's architecture and weights as a tokenizer repository's files.
fn ci8x8_files(weights_name: &str) -> Vec<(&str, Vec<u8>)> {
    let f = Fixture::open(testdata("parity/tokenizer/ci8x8_small.safetensors")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let tensors: BTreeMap<_, _> = f.weights.tensors().clone();
    cosmos_posttrain::trainer::write_safetensors(&path, &tensors, HashMap::new(), DType::F32)
        .unwrap();
    vec![
        ("config.json", f.json["config"].to_string().into_bytes()),
        (weights_name, std::fs::read(path).unwrap()),
        ("README.md", b"test repository\n".to_vec()),
    ]
}

fn cosmos(hf_home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(args)
        .env("HF_HOME", hf_home)
        .env_remove("HF_HUB_CACHE")
        .output()
        .expect("the cosmos binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `PSNR ... SSIM ...` and `latent: ...` lines of a tokenize run.
fn scores(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("PSNR") || l.starts_with("latent:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_cached_repository_id_resolves_offline_and_runs_the_published_weights() {
    let home = tempfile::tempdir().unwrap();
    let snapshot = hub_repo(
        home.path(),
        "nvidia/Cosmos-Tokenizer-CI8x8",
        "0123456789abcdef0123456789abcdef01234567",
        &ci8x8_files("model.safetensors"),
    );
    let image = testdata("media/astronaut.png");
    let work = tempfile::tempdir().unwrap();
    let by_id = work.path().join("by_id.png");
    let out = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "nvidia/Cosmos-Tokenizer-CI8x8",
            "--resize",
            "64x64",
            "--out",
            by_id.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("RANDOM"),
        "{}",
        text(&out)
    );
    assert!(by_id.is_file(), "the reconstruction is written");

    // The same weights through the snapshot folder give the same numbers.
    let by_path = work.path().join("by_path.png");
    let local = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            snapshot.to_str().unwrap(),
            "--resize",
            "64x64",
            "--out",
            by_path.to_str().unwrap(),
        ],
    );
    assert_eq!(local.status.code(), Some(0), "{}", text(&local));
    assert_eq!(scores(&out).len(), 2, "{}", text(&out));
    assert_eq!(scores(&out), scores(&local));
    assert_eq!(
        std::fs::read(&by_id).unwrap(),
        std::fs::read(&by_path).unwrap()
    );

    // A path inside the repository (`ORG/NAME/FILE`) is the file of the snapshot.
    let file = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "nvidia/Cosmos-Tokenizer-CI8x8/model.safetensors",
            "--resize",
            "64x64",
        ],
    );
    assert_eq!(file.status.code(), Some(0), "{}", text(&file));
    assert_eq!(scores(&file), scores(&local));

    // Random weights with the same architecture differ: the id really loaded the weights.
    let random = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "CI8x8",
            "--config",
            snapshot.join("config.json").to_str().unwrap(),
            "--random-weights",
            "--resize",
            "64x64",
        ],
    );
    assert_eq!(random.status.code(), Some(0), "{}", text(&random));
    assert_ne!(scores(&random), scores(&local), "{}", text(&random));
}

#[test]
fn a_missing_id_is_exit_2_with_the_download_command() {
    let home = tempfile::tempdir().unwrap();
    let image = testdata("media/astronaut.png");
    let out = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "nvidia/Cosmos-Tokenizer-CI8x8",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hf download nvidia/Cosmos-Tokenizer-CI8x8"),
        "{err}"
    );
    assert!(
        err.contains("huggingface-cli download nvidia/Cosmos-Tokenizer-CI8x8"),
        "{err}"
    );
    assert!(!err.contains("RANDOM"), "{err}");

    // The same for every command that takes a model.
    let work = tempfile::tempdir().unwrap();
    let mp4 = work.path().join("x.mp4");
    let video = testdata("media/bikes.mp4");
    for args in [
        vec![
            "generate",
            "--prompt",
            "a robot",
            "--model",
            "nvidia/Cosmos-1.0-Diffusion-7B-Text2World",
            "--out",
            mp4.to_str().unwrap(),
        ],
        vec![
            "generate-ar",
            "--model",
            "nvidia/Cosmos-1.0-Autoregressive-4B",
            "--input",
            video.to_str().unwrap(),
        ],
        vec![
            "guard",
            "video",
            video.to_str().unwrap(),
            "--out",
            mp4.to_str().unwrap(),
            "--detector",
            "retinaface",
            "--retinaface-weights",
            "nvidia/Cosmos-Guardrail1",
        ],
        vec![
            "train",
            "dit",
            "--shards",
            work.path().to_str().unwrap(),
            "--model",
            "nvidia/Cosmos-1.0-Diffusion-7B-Video2World",
            "--out",
            work.path().to_str().unwrap(),
        ],
    ] {
        let out = cosmos(home.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let id = args.iter().find(|a| a.starts_with("nvidia/")).unwrap();
        assert!(
            err.contains(&format!("hf download {id}")),
            "{args:?}\n{err}"
        );
    }

    // A cached repository without the file asked for names the file.
    hub_repo(
        home.path(),
        "nvidia/Cosmos-Tokenizer-CI8x8",
        "89abcdef0123456789abcdef0123456789abcdef",
        &ci8x8_files("model.safetensors"),
    );
    let out = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "nvidia/Cosmos-Tokenizer-CI8x8/encoder.jit",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no encoder.jit"), "{err}");
    assert!(
        err.contains("hf download nvidia/Cosmos-Tokenizer-CI8x8"),
        "{err}"
    );
}

#[test]
fn preset_names_run_random_weights_only_with_the_flag() {
    let home = tempfile::tempdir().unwrap();
    let image = testdata("media/astronaut.png");
    let without = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "CI8x8",
            "--resize",
            "64x64",
        ],
    );
    assert_eq!(without.status.code(), Some(2), "{}", text(&without));
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(err.contains("--random-weights"), "{err}");
    assert!(without.stdout.is_empty(), "{}", text(&without));

    let with = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "CI8x8",
            "--random-weights",
            "--resize",
            "64x64",
        ],
    );
    assert_eq!(with.status.code(), Some(0), "{}", text(&with));
    assert!(
        String::from_utf8_lossy(&with.stderr).contains("RANDOM weights"),
        "{}",
        text(&with)
    );
    assert_eq!(scores(&with).len(), 2, "{}", text(&with));

    // Not a preset: refused even with the flag, with the presets listed.
    let bad = cosmos(
        home.path(),
        &[
            "tokenize",
            image.to_str().unwrap(),
            "--model",
            "CX9x9",
            "--random-weights",
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("CI8x8"),
        "{}",
        text(&bad)
    );
}
