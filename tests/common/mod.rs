//! Helpers shared by the CLI tests (`mod common;` in each test file): run the built `cosmos`,
//! show what it printed, find the test media, read a written video back.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cosmos_wfm::nn::burn::tensor::{DType, TensorData};

/// A file of `testdata/media`.
pub fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/media")
        .join(name)
}

/// Runs the built `cosmos` with `args` and waits for it.
pub fn cosmos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosmos"))
        .args(args)
        .output()
        .expect("cosmos runs")
}

/// Exit status, stdout and stderr of a run, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A file or folder of `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// A video's decoded frames, `[T, H, W, 3]`.
pub fn video(path: &Path) -> ndarray::Array4<u8> {
    cosmos_wfm::media::read_video(path, &cosmos_wfm::media::ReadOptions::default())
        .unwrap()
        .frames
}

/// Every decoded byte of a video's frames.
pub fn frames(path: &Path) -> Vec<u8> {
    video(path).iter().copied().collect()
}

/// `tensors` written as an f32 safetensors file.
pub fn save_f32(tensors: &BTreeMap<String, TensorData>, path: &Path) {
    cosmos_wfm::posttrain::trainer::write_safetensors(
        path,
        tensors,
        std::collections::HashMap::new(),
        DType::F32,
    )
    .unwrap();
}

/// Deterministic values in [−scale, scale].
pub fn filler(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0 * scale)
        .collect()
}

/// The tiny ReLU T5 parity network (d_model 32) with its 100 embedding rows grown to the test
/// SentencePiece model's 300 pieces, as a text-encoder folder (`config.json`,
/// `model.safetensors`) in `dir`, and that SentencePiece model copied to `spiece`.
pub fn tiny_t5(dir: &Path, spiece: &Path) {
    use cosmos_wfm::nn::parity::Fixture;
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
    shared.extend(filler(200 * 32, 1.0));
    weights.insert("shared.weight".into(), TensorData::new(shared, [300, 32]));
    weights.remove("encoder.embed_tokens.weight");
    save_f32(&weights, &dir.join("model.safetensors"));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/cosmos-text/testdata/spm/tiny_t5.model"),
        spiece,
    )
    .unwrap();
}

/// Every file under `root` (relative path, bytes).
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, folder: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(root, root, &mut found);
    found
}

/// `cosmos world episodes --count N --frames F --seed S --out DIR`, asserted to succeed.
pub fn world_episodes(out: &Path, count: usize, frames: usize, seed: u64) {
    let (count, frames, seed) = (count.to_string(), frames.to_string(), seed.to_string());
    let run = cosmos(&[
        "world",
        "episodes",
        "--count",
        &count,
        "--frames",
        &frames,
        "--seed",
        &seed,
        "--out",
        path(out),
    ]);
    assert!(run.status.success(), "{}", text(&run));
}

/// `cosmos curate INPUT --out DIR` with every clip of a second or more kept (no motion or
/// quality filter), asserted to succeed; the records of its `manifest.jsonl`.
pub fn curate_all(input: &Path, out: &Path) -> Vec<serde_json::Value> {
    let run = cosmos(&[
        "curate",
        path(input),
        "--out",
        path(out),
        "--min-clip",
        "1",
        "--no-motion-filter",
        "--no-quality-filter",
    ]);
    assert!(run.status.success(), "{}", text(&run));
    std::fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
