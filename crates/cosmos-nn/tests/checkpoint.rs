//! Checkpoint IO end to end: TorchScript archives against safetensors, `torch.save` files
//! (zip and legacy, nested, half precision, strided views) against independently computed
//! values, corrupt and truncated files, and loading into modules.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};
use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{DType, Device, Tensor, TensorData};
use cosmos_nn::checkpoint::{
    Checkpoint, CheckpointError, CheckpointFormat, KeyMap, ShapeMismatch, load_module,
};

const TOKENIZER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/parity/tokenizer"
);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/checkpoint");

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "cosmos-nn-checkpoint-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn same_tensor(a: &TensorData, b: &TensorData) -> bool {
    a.dtype() == b.dtype() && a.shape() == b.shape() && a.as_bytes() == b.as_bytes()
}

// ---------------------------------------------------------------------------------------------
// TorchScript: the NVIDIA tokenizer archives against the safetensors of the same weights
// ---------------------------------------------------------------------------------------------

/// The mapping rule between the two files: none. The traced `encoder_jit()` is a Sequential
/// of `encoder` and `quant_conv` (plus `quantizer` for DV), `decoder_jit()` one of
/// `inv_quant` (DV), `post_quant_conv` and `decoder`, and the Sequential's children are named
/// after the tokenizer's own attributes, so the TorchScript state-dict keys are the
/// safetensors keys, prefixes included (`encoder.conv_in.0.conv3d.weight`,
/// `quant_conv.conv3d.weight`, `post_quant_conv.conv3d.bias`). What the archives add are
/// buffers: the Haar patcher's filters and helpers, and the DV quantizer's tables.
fn check_tokenizer_archives(name: &str, extra: &[&str]) -> (usize, TensorDataMap) {
    let encoder = Checkpoint::open(format!("{TOKENIZER}/{name}.encoder.jit")).expect("encoder");
    let decoder = Checkpoint::open(format!("{TOKENIZER}/{name}.decoder.jit")).expect("decoder");
    assert_eq!(encoder.format(), CheckpointFormat::TorchScript);
    assert_eq!(decoder.format(), CheckpointFormat::TorchScript);
    assert!(encoder.keys().all(|k| !k.starts_with("decoder.")));
    assert!(decoder.keys().all(|k| !k.starts_with("encoder.")));
    let mut jit = encoder.clone();
    jit.merge(decoder);

    let reference = Checkpoint::open(format!("{TOKENIZER}/{name}.safetensors")).expect("st");
    assert_eq!(reference.format(), CheckpointFormat::Safetensors);
    let weights: Vec<&str> = reference
        .keys()
        .filter(|k| !(k.starts_with("__") && k.ends_with("__")))
        .collect();
    assert!(weights.len() > 200, "{name}: {} weights", weights.len());
    for key in &weights {
        let ours = jit
            .get(key)
            .unwrap_or_else(|| panic!("{name}: '{key}' missing from the archives"));
        let theirs = reference.get(key).expect("listed");
        assert!(
            same_tensor(ours, theirs),
            "{name}: '{key}' differs: {:?} {:?} vs {:?} {:?}",
            ours.dtype(),
            ours.shape(),
            theirs.dtype(),
            theirs.shape()
        );
    }
    let weight_set: BTreeSet<&str> = weights.iter().copied().collect();
    let extras: BTreeSet<&str> = jit.keys().filter(|k| !weight_set.contains(k)).collect();
    let expected: BTreeSet<&str> = extra.iter().copied().collect();
    assert_eq!(
        extras, expected,
        "{name}: buffers beyond the safetensors weights"
    );
    (weights.len(), jit.into_tensors())
}

type TensorDataMap = BTreeMap<String, TensorData>;

fn values_f32(data: &TensorData) -> Vec<f32> {
    data.clone()
        .convert_dtype(DType::F32)
        .try_to_vec::<f32>()
        .expect("f32")
}

fn values_i64(data: &TensorData) -> Vec<i64> {
    data.clone()
        .convert_dtype(DType::I64)
        .try_to_vec::<i64>()
        .expect("i64")
}

fn check_patcher_buffers(jit: &TensorDataMap, which: &str) {
    let wavelets = &jit[&format!("{which}.wavelets")];
    assert_eq!(wavelets.dtype(), DType::F32);
    assert_eq!(
        values_f32(wavelets),
        vec![std::f32::consts::FRAC_1_SQRT_2; 2]
    );
    let arange = &jit[&format!("{which}._arange")];
    assert_eq!(arange.dtype(), DType::I64);
    assert_eq!(values_i64(arange), vec![0, 1]);
}

#[test]
fn cv_torchscript_archives_equal_the_safetensors_weights() {
    let (n, jit) = check_tokenizer_archives(
        "cv4x8x8_small",
        &[
            "decoder.unpatcher3d._arange",
            "decoder.unpatcher3d.wavelets",
            "encoder.patcher3d._arange",
            "encoder.patcher3d.patch_size_buffer",
            "encoder.patcher3d.wavelets",
        ],
    );
    assert_eq!(n, 278);
    check_patcher_buffers(&jit, "encoder.patcher3d");
    check_patcher_buffers(&jit, "decoder.unpatcher3d");
    let patch = &jit["encoder.patcher3d.patch_size_buffer"];
    assert_eq!(patch.dtype(), DType::I32);
    assert_eq!(values_i64(patch), vec![4], "the JSON's patch_size");
}

#[test]
fn dv_torchscript_archives_equal_the_safetensors_weights() {
    let (n, jit) = check_tokenizer_archives(
        "dv4x8x8_small",
        &[
            "decoder.unpatcher3d._arange",
            "decoder.unpatcher3d.wavelets",
            "encoder.patcher3d._arange",
            "encoder.patcher3d.patch_size_buffer",
            "encoder.patcher3d.wavelets",
            "inv_quant.quantizer._basis",
            "inv_quant.quantizer._levels",
            "inv_quant.quantizer.implicit_codebook",
            "quantizer._basis",
            "quantizer._levels",
            "quantizer.implicit_codebook",
        ],
    );
    assert_eq!(n, 308);
    check_patcher_buffers(&jit, "encoder.patcher3d");
    // FSQ levels [8,8,8,5,5,5], basis = cumprod([1] + levels[:-1]), 64000 codes of 6 values.
    for prefix in ["quantizer", "inv_quant.quantizer"] {
        assert_eq!(
            values_i64(&jit[&format!("{prefix}._levels")]),
            vec![8, 8, 8, 5, 5, 5]
        );
        assert_eq!(
            values_i64(&jit[&format!("{prefix}._basis")]),
            vec![1, 8, 64, 512, 2560, 12800]
        );
        let codebook = &jit[&format!("{prefix}.implicit_codebook")];
        assert_eq!(codebook.shape().to_vec(), vec![64000, 6]);
        let values = values_f32(codebook);
        assert_eq!(values[..6], [-1.0; 6], "code of index 0");
        assert_eq!(values[6], -0.75, "index 1 moves the first level");
        assert_eq!(
            values[values.len() - 6..],
            [0.75, 0.75, 0.75, 1.0, 1.0, 1.0]
        );
    }
}

#[test]
fn torchscript_prefix_selection_strips_the_module_path() {
    let path = format!("{TOKENIZER}/cv4x8x8_small.encoder.jit");
    let full = Checkpoint::open(&path).unwrap();
    let encoder = Checkpoint::open_nested(&path, &["encoder"]).unwrap();
    assert_eq!(encoder.nested_key(), Some("encoder"));
    assert_eq!(
        encoder.len(),
        full.keys().filter(|k| k.starts_with("encoder.")).count()
    );
    assert!(same_tensor(
        encoder.get("conv_in.0.conv3d.weight").unwrap(),
        full.get("encoder.conv_in.0.conv3d.weight").unwrap()
    ));
    let err = Checkpoint::open_nested(&path, &["nothing"]).unwrap_err();
    assert!(
        err.to_string().contains("no tensor under 'nothing'"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// torch.save files and a TorchScript-like archive made by make_pt_fixtures.py
// ---------------------------------------------------------------------------------------------

fn expected() -> Checkpoint {
    Checkpoint::open(format!("{FIXTURES}/expected.safetensors")).expect("expected.safetensors")
}

/// Every tensor the script expects for `file` (keys `file:key`), and no other.
fn check_fixture(checkpoint: &Checkpoint, expected: &Checkpoint, file: &str) -> usize {
    let prefix = format!("{file}:");
    let wanted: BTreeMap<&str, &TensorData> = expected
        .tensors()
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k, v)))
        .collect();
    assert!(!wanted.is_empty(), "no expectations for {file}");
    let keys: Vec<&str> = checkpoint.keys().collect();
    assert_eq!(
        keys,
        wanted.keys().copied().collect::<Vec<_>>(),
        "{file}: keys"
    );
    for (key, want) in &wanted {
        let got = checkpoint.get(key).unwrap();
        assert!(
            same_tensor(got, want),
            "{file}: '{key}': got {:?} {:?} {:?}, expected {:?} {:?} {:?}",
            got.dtype(),
            got.shape(),
            got.as_bytes(),
            want.dtype(),
            want.shape(),
            want.as_bytes()
        );
    }
    wanted.len()
}

#[test]
fn torch_save_files_read_like_the_reference_values() {
    let expected = expected();
    let cases: &[(&str, CheckpointFormat, Option<&str>)] = &[
        ("state_dict.pt", CheckpointFormat::PytorchZip, None),
        (
            "nested_model.pt",
            CheckpointFormat::PytorchZip,
            Some("model"),
        ),
        (
            "nested_deep.pt",
            CheckpointFormat::PytorchZip,
            Some("trainer.state"),
        ),
        (
            "half_bf16.pt",
            CheckpointFormat::PytorchZip,
            Some("state_dict"),
        ),
        ("views.pt", CheckpointFormat::PytorchZip, None),
        ("legacy.pt", CheckpointFormat::PytorchLegacy, None),
        ("tiny_module.jit", CheckpointFormat::TorchScript, None),
    ];
    let mut total = 0;
    for (file, format, nested) in cases {
        let checkpoint = Checkpoint::open(format!("{FIXTURES}/{file}"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(checkpoint.format(), *format, "{file}");
        assert_eq!(checkpoint.nested_key(), *nested, "{file}");
        total += check_fixture(&checkpoint, &expected, file);
    }
    assert_eq!(total, 7 + 2 + 2 + 4 + 8 + 3 + 8);
}

#[test]
fn flat_state_dict_keeps_its_prefix_and_dtypes() {
    let c = Checkpoint::open(format!("{FIXTURES}/state_dict.pt")).unwrap();
    assert_eq!(c.nested_key(), None);
    assert_eq!(
        c.get("net.steps").unwrap().shape().to_vec(),
        Vec::<usize>::new()
    );
    assert_eq!(values_i64(c.get("net.steps").unwrap()), vec![123456789012]);
    assert_eq!(
        c.get("net.mask").unwrap().dtype(),
        DType::Bool(burn::tensor::BoolStore::Native)
    );
    assert_eq!(c.get("net.table").unwrap().dtype(), DType::F64);
    assert_eq!(
        values_i64(c.get("net.ids").unwrap()),
        vec![-1, 0, 7, 2147483647]
    );
    assert_eq!(c.get("net.bytes").unwrap().dtype(), DType::U8);
}

#[test]
fn half_precision_tensors_keep_their_dtype_and_values() {
    let c = Checkpoint::open(format!("{FIXTURES}/half_bf16.pt")).unwrap();
    // The script's small_exact(n, seed): ((i * 7 + seed) % 32 - 16) / 8.
    let small_exact = |n: usize, seed: usize| -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7 + seed) % 32) as f32 - 16.0) / 8.0)
            .collect()
    };
    assert_eq!(c.get("h").unwrap().dtype(), DType::F16);
    assert_eq!(values_f32(c.get("h").unwrap()), small_exact(6, 1));
    assert_eq!(c.get("b").unwrap().dtype(), DType::BF16);
    let b = small_exact(6, 3);
    assert_eq!(values_f32(c.get("b").unwrap()), b);
    // b_t is b (3x2) transposed: element [i][j] = b[j][i].
    let b_t: Vec<f32> = (0..2)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .map(|(i, j)| b[j * 2 + i])
        .collect();
    assert_eq!(values_f32(c.get("b_t").unwrap()), b_t);
    assert_eq!(c.get("p").unwrap().dtype(), DType::BF16, "a Parameter");
    let device = cosmos_nn::device::default_device();
    let p: Tensor<1> = c.tensor("p", &device).unwrap();
    assert_eq!(
        p.into_data().try_to_vec::<f32>().unwrap(),
        small_exact(4, 5),
        "bf16 converts to f32 exactly"
    );
}

#[test]
fn ambiguous_checkpoints_need_a_named_key() {
    let path = format!("{FIXTURES}/ambiguous.pt");
    let err = Checkpoint::open(&path).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CheckpointError::Format { .. }));
    assert!(
        message.contains("ambiguous")
            && message.contains("generator")
            && message.contains("discriminator"),
        "{message}"
    );
    let c = Checkpoint::open_nested(&path, &["discriminator"]).unwrap();
    assert_eq!(c.nested_key(), Some("discriminator"));
    let expected = expected();
    check_fixture(&c, &expected, "ambiguous.pt#discriminator");

    let err = Checkpoint::open_nested(&path, &["critic"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no entry 'critic'") && err.contains("generator"),
        "{err}"
    );
    // Selecting explicitly overrides the rule.
    let c = Checkpoint::open_nested(
        format!("{FIXTURES}/nested_model.pt"),
        &["optimizer", "state"],
    )
    .unwrap();
    assert_eq!(c.keys().collect::<Vec<_>>(), vec!["0.exp_avg", "0.step"]);
}

// ---------------------------------------------------------------------------------------------
// Corrupt, truncated and foreign files
// ---------------------------------------------------------------------------------------------

fn open_bytes(dir: &TempDir, name: &str, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let path = dir.write(name, bytes);
    Checkpoint::open(&path)
}

fn assert_format_error(result: Result<Checkpoint, CheckpointError>, what: &str) -> String {
    match result {
        Ok(c) => panic!("{what}: read {} tensors from a broken file", c.len()),
        Err(CheckpointError::Format { message, .. }) => message,
        Err(other) => panic!("{what}: expected a format error, got {other:?}"),
    }
}

fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = [
        "state_dict.pt",
        "nested_model.pt",
        "half_bf16.pt",
        "views.pt",
        "legacy.pt",
        "tiny_module.jit",
        "expected.safetensors",
    ]
    .iter()
    .map(|f| {
        (
            f.to_string(),
            std::fs::read(format!("{FIXTURES}/{f}")).unwrap(),
        )
    })
    .collect();
    files.push((
        "cv4x8x8_small.encoder.jit".into(),
        std::fs::read(format!("{TOKENIZER}/cv4x8x8_small.encoder.jit")).unwrap(),
    ));
    files
}

#[test]
fn truncated_files_are_format_errors() {
    let dir = TempDir::new("truncated");
    for (name, bytes) in fixture_files() {
        let len = bytes.len();
        let mut cuts = vec![
            1,
            4,
            8,
            9,
            16,
            100,
            len / 3,
            len / 2,
            len - 100,
            len - 22,
            len - 1,
        ];
        cuts.retain(|&n| n > 0 && n < len);
        for n in cuts {
            let result = open_bytes(&dir, "cut", &bytes[..n]);
            let message = assert_format_error(result, &format!("{name} cut at {n}"));
            assert!(!message.is_empty());
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let dir = TempDir::new("flipped");
    for (name, bytes) in fixture_files() {
        // About 300 positions spread over each file (every few bytes of the small ones).
        let step = (bytes.len() / 300).max(1);
        let mut errors = 0;
        let mut tried = 0;
        for i in (0..bytes.len()).step_by(step) {
            let mut broken = bytes.clone();
            broken[i] ^= 0xff;
            tried += 1;
            if open_bytes(&dir, "flip", &broken).is_err() {
                errors += 1;
            }
        }
        // Zip archives check CRCs, so nearly every flip is caught; in safetensors and the
        // legacy stream a flip inside tensor bytes only changes a value.
        assert!(errors > 0, "{name}: no flip was detected out of {tried}");
    }
}

/// The entries of a zip, in order.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().to_string(), data)
        })
        .collect()
}

/// A zip of `entries`, stored, with valid checksums.
fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        writer.start_file(name.as_str(), options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Rewrites the archive with `f` applied to the entry named `target`.
fn with_entry(
    entries: &[(String, Vec<u8>)],
    target: &str,
    f: impl Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let changed: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|(n, d)| {
            if n.ends_with(target) {
                (n.clone(), f(d))
            } else {
                (n.clone(), d.clone())
            }
        })
        .collect();
    rezip(&changed)
}

/// Corrupt pickles behind valid zip checksums reach the unpicklers themselves: ours for
/// TorchScript, pytorch_reader's for torch.save. Every truncation must fail; every flipped
/// byte must give a result or an error, never a panic.
#[test]
fn corrupt_pickles_inside_valid_archives_are_errors() {
    let dir = TempDir::new("pickles");
    for file in ["tiny_module.jit", "half_bf16.pt"] {
        let entries = unzip(&std::fs::read(format!("{FIXTURES}/{file}")).unwrap());
        let rezipped = rezip(&entries);
        assert!(
            open_bytes(&dir, "same.pt", &rezipped).is_ok(),
            "{file} rezipped"
        );
        let pickle = &entries
            .iter()
            .find(|(n, _)| n.ends_with("/data.pkl"))
            .unwrap()
            .1;
        for n in 0..pickle.len() {
            let broken = with_entry(&entries, "/data.pkl", |d| d[..n].to_vec());
            assert_format_error(
                open_bytes(&dir, "cut.pt", &broken),
                &format!("{file}: data.pkl cut at {n}"),
            );
        }
        let mut errors = 0;
        let mut tried = 0;
        for i in (0..pickle.len()).step_by(2) {
            tried += 1;
            let broken = with_entry(&entries, "/data.pkl", |d| {
                let mut d = d.to_vec();
                d[i] ^= 0xff;
                d
            });
            if open_bytes(&dir, "flip.pt", &broken).is_err() {
                errors += 1;
            }
        }
        assert!(
            errors > tried / 4,
            "{file}: {errors} of {tried} flips detected"
        );
    }
}

/// A TorchScript archive whose `byteorder` entry says `big` has its elements byte-swapped.
#[test]
fn big_endian_torchscript_storages_are_swapped() {
    let dir = TempDir::new("byteorder");
    let entries = unzip(&std::fs::read(format!("{FIXTURES}/tiny_module.jit")).unwrap());
    let little = Checkpoint::open(format!("{FIXTURES}/tiny_module.jit")).unwrap();
    let big = open_bytes(
        &dir,
        "big.jit",
        &with_entry(&entries, "/byteorder", |_| b"big".to_vec()),
    )
    .unwrap();
    for (key, size) in [
        ("lin.weight", 4),
        ("grid_t", 4),
        ("steps", 8),
        ("blocks.0.scale", 2),
    ] {
        let swapped: Vec<u8> = little
            .get(key)
            .unwrap()
            .as_bytes()
            .chunks_exact(size)
            .flat_map(|c| c.iter().rev().copied())
            .collect();
        assert_eq!(
            big.get(key).unwrap().as_bytes(),
            swapped.as_slice(),
            "{key}"
        );
    }
    let message = assert_format_error(
        open_bytes(
            &dir,
            "odd.jit",
            &with_entry(&entries, "/byteorder", |_| b"middle".to_vec()),
        ),
        "unknown byte order",
    );
    assert!(message.contains("byteorder"), "{message}");
}

#[test]
fn storages_shorter_than_declared_are_errors() {
    let dir = TempDir::new("storages");
    for file in ["tiny_module.jit", "half_bf16.pt"] {
        let entries = unzip(&std::fs::read(format!("{FIXTURES}/{file}")).unwrap());
        let broken = with_entry(&entries, "/data/0", |d| d[..d.len() - 1].to_vec());
        let message = assert_format_error(
            open_bytes(&dir, "short.pt", &broken),
            &format!("{file}: short storage"),
        );
        assert!(message.contains("storage"), "{file}: {message}");
        let missing: Vec<(String, Vec<u8>)> = entries
            .iter()
            .filter(|(n, _)| !n.ends_with("/data/0"))
            .cloned()
            .collect();
        assert_format_error(
            open_bytes(&dir, "missing.pt", &rezip(&missing)),
            &format!("{file}: missing storage"),
        );
    }
    // A TorchScript storage entry that declares fewer bytes than its tensor reads.
    let entries = unzip(&std::fs::read(format!("{TOKENIZER}/cv4x8x8_small.encoder.jit")).unwrap());
    let broken = with_entry(&entries, "/data/3", |d| d[..d.len() / 2].to_vec());
    let message = assert_format_error(open_bytes(&dir, "short.jit", &broken), "short jit storage");
    assert!(
        message.contains("data/3") && message.contains("110592"),
        "{message}"
    );
}

#[test]
fn foreign_and_empty_files_are_format_errors() {
    let dir = TempDir::new("foreign");
    let message = assert_format_error(open_bytes(&dir, "empty", b""), "empty");
    assert!(message.contains("empty"), "{message}");
    let message = assert_format_error(open_bytes(&dir, "text", b"hello, world\n"), "text");
    assert!(message.contains("not a checkpoint"), "{message}");
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/media/astronaut.png"
    ))
    .unwrap();
    assert_format_error(open_bytes(&dir, "image.png", &png), "png");
    let plain_zip = rezip(&[("notes/readme.txt".to_string(), b"hi".to_vec())]);
    let message = assert_format_error(open_bytes(&dir, "plain.zip", &plain_zip), "zip");
    assert!(message.contains("without data.pkl"), "{message}");
    // A pickle that is not a checkpoint at all (a bare int).
    assert_format_error(
        open_bytes(&dir, "int.pkl", b"\x80\x02K\x07."),
        "bare pickle",
    );
    // Missing files are IO errors naming the path.
    let err = Checkpoint::open(dir.0.join("absent.pt")).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("absent.pt"));
}

// ---------------------------------------------------------------------------------------------
// Loading into modules
// ---------------------------------------------------------------------------------------------

#[derive(Module, Debug)]
struct Tiny {
    linear: Linear,
    scale: Param<Tensor<1>>,
}

fn tiny(device: &Device) -> Tiny {
    Tiny {
        linear: LinearConfig::new(2, 3).init(device),
        scale: Param::from_tensor(Tensor::zeros([3], device)),
    }
}

fn data(values: &[f32], shape: &[usize]) -> TensorData {
    TensorData::new(values.to_vec(), shape.to_vec())
}

/// A checkpoint in PyTorch conventions: Linear weight [out, in] = [3, 2].
fn torch_weights(prefix: &str) -> BTreeMap<String, TensorData> {
    BTreeMap::from([
        (
            format!("{prefix}linear.weight"),
            data(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]),
        ),
        (
            format!("{prefix}linear.bias"),
            data(&[0.5, -0.5, 0.25], &[3]),
        ),
        (format!("{prefix}scale"), data(&[7.0, 8.0, 9.0], &[3])),
    ])
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn load_module_transposes_linear_weights() {
    let device = cosmos_nn::device::default_device();
    let mut module = tiny(&device);
    let checkpoint = Checkpoint::from_tensors(torch_weights(""));
    let report = load_module(&mut module, &checkpoint, &KeyMap::new()).unwrap();
    assert_eq!(report.loaded.len(), 3);
    // burn stores Linear weights [in, out]: the transpose of PyTorch's.
    assert_eq!(
        values(module.linear.weight.val()),
        vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
    );
    assert_eq!(
        values(module.linear.bias.as_ref().unwrap().val()),
        vec![0.5, -0.5, 0.25]
    );
    assert_eq!(values(module.scale.val()), vec![7.0, 8.0, 9.0]);
    // y = x W^T + b with x = [1, 1].
    let y = module.linear.forward(Tensor::<2>::ones([1, 2], &device));
    assert_eq!(values(y), vec![3.5, 6.5, 11.25]);
}

#[test]
fn every_mismatch_is_reported_at_once() {
    let device = cosmos_nn::device::default_device();
    let mut module = tiny(&device);
    let mut weights = torch_weights("");
    weights.remove("scale");
    weights.insert("extra.weight".into(), data(&[1.0], &[1]));
    weights.insert("linear.bias".into(), data(&[0.0; 4], &[4]));
    let checkpoint = Checkpoint::from_tensors(weights);
    let err = load_module(&mut module, &checkpoint, &KeyMap::new()).unwrap_err();
    let message = err.to_string();
    let CheckpointError::Mismatch {
        missing,
        unexpected,
        mis_shaped,
    } = err
    else {
        panic!("expected a mismatch, got {message}");
    };
    assert_eq!(missing, vec!["scale".to_string()]);
    assert_eq!(unexpected, vec!["extra.weight".to_string()]);
    assert_eq!(
        mis_shaped,
        vec![ShapeMismatch {
            key: "linear.bias".into(),
            expected: vec![3],
            found: vec![4],
        }]
    );
    assert!(
        message.contains("1 missing, 1 unexpected, 1 mis-shaped"),
        "{message}"
    );
    assert!(
        message.contains("'linear.bias': expected shape [3], found [4]"),
        "{message}"
    );
    // Nothing was loaded.
    assert_eq!(values(module.scale.val()), vec![0.0; 3]);
}

#[test]
fn key_map_rules_and_ignore_patterns_apply() {
    let device = cosmos_nn::device::default_device();
    let mut module = tiny(&device);
    let mut weights = BTreeMap::new();
    for (key, value) in torch_weights("") {
        let renamed = key.replace("linear.", "fc.").replace("scale", "gain");
        weights.insert(format!("model.{renamed}"), value);
    }
    weights.insert("model.patcher.wavelets".into(), data(&[0.7, 0.7], &[2]));
    let checkpoint = Checkpoint::from_tensors(weights);
    let map = KeyMap::new()
        .rule(r"^model\.", "")
        .unwrap()
        .rule(r"^fc\.(weight|bias)$", "linear.$1")
        .unwrap()
        .rule(r"^gain$", "scale")
        .unwrap()
        .ignore(r"\.wavelets$")
        .unwrap();
    let report = load_module(&mut module, &checkpoint, &map).unwrap();
    assert_eq!(report.ignored, vec!["model.patcher.wavelets".to_string()]);
    assert_eq!(report.loaded.len(), 3);
    assert_eq!(values(module.scale.val()), vec![7.0, 8.0, 9.0]);
    // Without the ignore pattern the buffer is unexpected.
    let strict = KeyMap::new()
        .rule(r"^model\.", "")
        .unwrap()
        .rule(r"^fc\.(weight|bias)$", "linear.$1")
        .unwrap()
        .rule(r"^gain$", "scale")
        .unwrap();
    let err = load_module(&mut tiny(&device), &checkpoint, &strict).unwrap_err();
    assert!(
        err.to_string()
            .contains("unexpected: 'model.patcher.wavelets'"),
        "{err}"
    );
    assert!(
        KeyMap::new().rule("(", "x").is_err(),
        "invalid patterns are errors"
    );
}

#[test]
fn bf16_weights_load_as_f32() {
    let device = cosmos_nn::device::default_device();
    let mut module = tiny(&device);
    let values_in = [1.5f32, -2.25, 0.0078125, 300.0, -0.5, 1e-3];
    let to_bf16 =
        |v: &[f32]| -> Vec<half::bf16> { v.iter().map(|&x| half::bf16::from_f32(x)).collect() };
    let weights = BTreeMap::from([
        (
            "linear.weight".to_string(),
            TensorData::new(to_bf16(&values_in), [3, 2]),
        ),
        (
            "linear.bias".to_string(),
            TensorData::new(to_bf16(&[0.1, 0.2, 0.3]), [3]),
        ),
        (
            "scale".to_string(),
            TensorData::new(vec![half::f16::from_f32(0.5); 3], [3]),
        ),
    ]);
    let checkpoint = Checkpoint::from_tensors(weights);
    load_module(&mut module, &checkpoint, &KeyMap::new()).unwrap();
    let weight = module.linear.weight.val();
    assert_eq!(weight.dtype(), DType::F32);
    // Exactly the bf16 values (1e-3 and 0.1.. are rounded by bf16, not by loading).
    let rounded: Vec<f32> = to_bf16(&values_in).iter().map(|x| x.to_f32()).collect();
    let transposed: Vec<f32> = [0, 2, 4, 1, 3, 5].iter().map(|&i| rounded[i]).collect();
    assert_eq!(values(weight), transposed);
    assert_eq!(rounded[5], half::bf16::from_f32(1e-3).to_f32());
    assert_ne!(
        rounded[5], 1e-3,
        "bf16 rounding is visible, so the test sees real bf16 data"
    );
    assert_eq!(values(module.scale.val()), vec![0.5; 3]);
}

#[test]
fn torchscript_module_loads_into_a_burn_module() {
    // The fixture's `lin` is a Linear(2 -> 3) without bias whose weight is tied to `head_weight`.
    #[derive(Module, Debug)]
    struct Lin {
        weight: Param<Tensor<2>>,
    }
    #[derive(Module, Debug)]
    struct Net {
        lin: Lin,
        head_weight: Param<Tensor<2>>,
    }
    let device = cosmos_nn::device::default_device();
    let mut net = Net {
        lin: Lin {
            weight: Param::from_tensor(Tensor::zeros([3, 2], &device)),
        },
        head_weight: Param::from_tensor(Tensor::zeros([3, 2], &device)),
    };
    let checkpoint = Checkpoint::open(format!("{FIXTURES}/tiny_module.jit")).unwrap();
    let map = KeyMap::new().ignore(r"^(blocks|grid|steps)").unwrap();
    let report = load_module(&mut net, &checkpoint, &map).unwrap();
    assert_eq!(report.loaded.len(), 2);
    assert_eq!(report.ignored.len(), 6);
    let expected = expected();
    let want = values_f32(expected.get("tiny_module.jit:lin.weight").unwrap());
    assert_eq!(values(net.lin.weight.val()), want);
    assert_eq!(values(net.head_weight.val()), want);
}
