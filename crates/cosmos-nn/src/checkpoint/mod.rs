//! Checkpoint IO: reading tensors by their original names and loading them into modules.
//!
//! A [`Checkpoint`] is a flat map from the checkpoint's own key names to host tensors
//! ([`TensorData`], in the file's precision: f32, f16, bf16, f64 or an integer type).
//! [`load_module`] then maps those names onto a module's parameter paths through a
//! per-model [`KeyMap`] (data, not code), converts floats to f32 and reports every missing,
//! unexpected and mis-shaped key in one [`CheckpointError::Mismatch`].
//!
//! Model code never sees file formats: a model crate owns a `KeyMap` and calls
//! [`load_module`].
//!
//! # Formats
//!
//! [`Checkpoint::open`] decides from the file's content, never its extension:
//!
//! - **safetensors** ([`CheckpointFormat::Safetensors`]): an 8-byte little-endian header
//!   length followed by a JSON header (`{`...) and the raw tensor bytes.
//! - **`torch.save` zip** ([`CheckpointFormat::PytorchZip`], PyTorch 1.6+ `.pt` / `.pth`):
//!   a zip with `ROOT/data.pkl` (the pickled object) and the storages `ROOT/data/N`, read by
//!   burn-store's `pytorch_reader`. The saved object may be a state dict or a training
//!   checkpoint holding one: which nested dict is taken is decided by the rule below.
//! - **legacy `torch.save` stream** ([`CheckpointFormat::PytorchLegacy`], PyTorch < 1.6, and
//!   the older tar layout): read by the same reader with the same rule. A zip whose saved
//!   object is a tuple or list of tensors (`torch.save((mean, std))`, NVIDIA's `mean_std.pt`)
//!   is read by our own pickle machine instead, its tensors named `0`, `1`, ...
//! - **TorchScript archive** ([`CheckpointFormat::TorchScript`], `torch.jit.save`, NVIDIA's
//!   `encoder.jit` / `decoder.jit`): the same zip layout plus `ROOT/constants.pkl` and
//!   `ROOT/code/`. Its `data.pkl` is a tree of `__torch__.*` module objects, which
//!   `pytorch_reader` refuses; our own small pickle machine reads it and collects every tensor
//!   attribute under its dotted path, which is its `state_dict()` key. Buffers a model
//!   recomputes (Haar filters, FSQ tables) come along; a [`KeyMap`] can ignore them.
//!
//! Strided and offset views are materialised in row-major order, half precision stays half
//! precision until loading, and corrupt or truncated files give [`CheckpointError::Format`]
//! naming the problem: every size a file declares is checked against what it holds before
//! anything of that size is allocated.
//!
//! # Which dict of a `.pt` file holds the weights
//!
//! Starting at the saved object (a dict):
//!
//! 1. a dict holding a tensor directly is the state dict (dicts and lists nested inside it are
//!    flattened into dotted keys);
//! 2. otherwise its entries whose value is a dict holding tensors somewhere inside are the
//!    candidates: with one, descend into it and repeat; with several, descend into the first
//!    of [`PREFERRED_KEYS`] present (`state_dict`, `model_state_dict`, `model`, `ema`,
//!    `module`, `net`, `params`, `weights`), or fail naming them when none is; with none, use
//!    the dict itself.
//!
//! So `{"model": sd, "optimizer": {...}, "epoch": 3}` reads `sd`, `{"trainer": {"state": sd}}`
//! reads `sd`, and a flat state dict whose keys all start with `net.` keeps its keys.
//! [`Checkpoint::nested_key`] says which dict was taken; [`Checkpoint::open_nested`] names it.

mod error;
mod keymap;
mod load;
mod pickle;
mod pytorch_io;
mod safetensors_io;
mod torchscript;

pub use error::{CheckpointError, ShapeMismatch};
pub use keymap::KeyMap;
pub use load::{LoadReport, load_module};
pub use pytorch_io::PREFERRED_KEYS;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor, TensorData};

/// The file format a checkpoint was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// Hugging Face safetensors.
    Safetensors,
    /// A PyTorch `torch.save` zip archive holding a (possibly nested) state dict.
    PytorchZip,
    /// A PyTorch `torch.save` file in the pre-1.6 layouts (legacy pickle stream, tar, plain
    /// pickle).
    PytorchLegacy,
    /// A TorchScript archive (`torch.jit.save`): a module tree whose tensor attributes are collected by path.
    TorchScript,
    /// Tensors built in memory.
    Memory,
}

/// Tensors of one checkpoint, by their original key names.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    tensors: BTreeMap<String, TensorData>,
    format: CheckpointFormat,
    source: Option<PathBuf>,
    nested_key: Option<String>,
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detected {
    Empty,
    Safetensors,
    Zip,
    Pickle,
    Unknown,
}

/// Bytes read to detect the format.
const HEADER_BYTES: usize = 264;

/// The largest JSON header safetensors accepts.
const SAFETENSORS_MAX_HEADER: u64 = 100_000_000;

fn detect(header: &[u8]) -> Detected {
    if header.is_empty() {
        return Detected::Empty;
    }
    if header.starts_with(b"PK\x03\x04") || header.starts_with(b"PK\x05\x06") {
        return Detected::Zip;
    }
    if let Some(len) = header.first_chunk::<8>().map(|b| u64::from_le_bytes(*b))
        && (2..=SAFETENSORS_MAX_HEADER).contains(&len)
        && header.get(8) == Some(&b'{')
    {
        return Detected::Safetensors;
    }
    // Pickles start with PROTO (0x80) from protocol 2 on, and legacy files are a sequence of
    // them; protocol 0/1 pickles start with an opcode such as '(', '}' or ']'. The tar
    // layout of PyTorch < 0.1.10 has the tar magic at byte 257.
    match header[0] {
        0x80 if header.get(1).is_some_and(|p| (2..=5).contains(p)) => Detected::Pickle,
        b'(' | b'}' | b']' => Detected::Pickle,
        _ if header.get(257..262) == Some(b"ustar") => Detected::Pickle,
        _ => Detected::Unknown,
    }
}

impl Checkpoint {
    /// Reads a checkpoint file, detecting the format from its content (not its extension):
    /// safetensors, a `torch.save` zip or legacy file, or a TorchScript archive (see the
    /// [module docs](self)). A `.pt` file holding a training checkpoint gives the nested
    /// state dict chosen by the rule in the module docs.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        Self::open_impl(path.as_ref(), None)
    }

    /// Like [`open`](Self::open), but takes the tensors under the nested dict `keys` (for a
    /// `.pt` file: `&["model"]` reads `checkpoint["model"]`, `&["state_dict", "ema"]`
    /// reads `checkpoint["state_dict"]["ema"]`). For the other formats, which are flat, the
    /// keys are a prefix: `&["encoder"]` keeps `encoder.*` and strips `encoder.`.
    pub fn open_nested(path: impl AsRef<Path>, keys: &[&str]) -> Result<Self, CheckpointError> {
        Self::open_impl(path.as_ref(), Some(keys))
    }

    fn open_impl(path: &Path, nested: Option<&[&str]>) -> Result<Self, CheckpointError> {
        let io_error = |source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        };
        let format_error = |message: String| CheckpointError::Format {
            path: path.display().to_string(),
            message,
        };
        let mut file = File::open(path).map_err(io_error)?;
        let file_len = file.metadata().map_err(io_error)?.len();
        let mut header = Vec::with_capacity(HEADER_BYTES);
        (&mut file)
            .take(HEADER_BYTES as u64)
            .read_to_end(&mut header)
            .map_err(io_error)?;

        let (tensors, format, selected) = match detect(&header) {
            Detected::Empty => return Err(format_error("empty file, not a checkpoint".into())),
            Detected::Unknown => {
                return Err(format_error(format!(
                    "not a checkpoint: expected safetensors (8-byte header length + JSON), a zip \
                     archive (torch.save / TorchScript) or a PyTorch pickle; the file starts \
                     with {:02x?}",
                    &header[..header.len().min(8)]
                )));
            }
            Detected::Safetensors => {
                drop(file);
                let bytes = std::fs::read(path).map_err(io_error)?;
                let tensors = safetensors_io::read(&bytes, path)?;
                (tensors, CheckpointFormat::Safetensors, Vec::new())
            }
            Detected::Pickle => {
                drop(file);
                let (tensors, selected) = pytorch_io::read(path, nested)?;
                (tensors, CheckpointFormat::PytorchLegacy, selected)
            }
            Detected::Zip => {
                let mut zip = zip::ZipArchive::new(BufReader::new(file))
                    .map_err(|e| format_error(format!("not a readable zip archive: {e}")))?;
                let root = zip
                    .file_names()
                    .filter_map(|name| name.strip_suffix("data.pkl"))
                    .filter(|root| root.is_empty() || root.ends_with('/'))
                    .min_by_key(|root| root.len())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        format_error(
                            "a zip archive without data.pkl: not a torch.save or TorchScript \
                             checkpoint"
                                .into(),
                        )
                    })?;
                let constants = format!("{root}constants.pkl");
                let code = format!("{root}code/");
                let torchscript = zip
                    .file_names()
                    .any(|name| name == constants || name.starts_with(&code));
                if torchscript {
                    let tensors = torchscript::read(&mut zip, &root, file_len)
                        .map_err(|m| format_error(format!("TorchScript archive: {m}")))?;
                    (tensors, CheckpointFormat::TorchScript, Vec::new())
                } else {
                    // A tuple or list of tensors (`torch.save((mean, std))`) is read here; any
                    // other saved object by burn-store's reader.
                    let sequence = match nested {
                        None => torchscript::read_sequence(&mut zip, &root, file_len)
                            .map_err(|m| format_error(format!("torch.save archive: {m}")))?,
                        Some(_) => None,
                    };
                    match sequence {
                        Some(tensors) => (tensors, CheckpointFormat::PytorchZip, Vec::new()),
                        None => {
                            drop(zip);
                            let (tensors, selected) = pytorch_io::read(path, nested)?;
                            (tensors, CheckpointFormat::PytorchZip, selected)
                        }
                    }
                }
            }
        };

        let mut checkpoint = Self {
            tensors,
            format,
            source: Some(path.to_path_buf()),
            nested_key: (!selected.is_empty()).then(|| selected.join(".")),
        };
        if let Some(keys) = nested
            && !keys.is_empty()
            && !matches!(
                format,
                CheckpointFormat::PytorchZip | CheckpointFormat::PytorchLegacy
            )
        {
            let prefix = keys.join(".");
            checkpoint = checkpoint.strip_prefix(&format!("{prefix}."));
            if checkpoint.is_empty() {
                return Err(format_error(format!("no tensor under '{prefix}'")));
            }
            checkpoint.nested_key = Some(prefix);
        }
        Ok(checkpoint)
    }

    /// Wraps tensors made in memory.
    pub fn from_tensors(tensors: BTreeMap<String, TensorData>) -> Self {
        Self {
            tensors,
            format: CheckpointFormat::Memory,
            source: None,
            nested_key: None,
        }
    }

    /// The format the checkpoint was read from.
    pub fn format(&self) -> CheckpointFormat {
        self.format
    }

    /// The nested dict the tensors were taken from, as dotted keys (`model`,
    /// `trainer.state`), or `None` when they are the saved object itself.
    pub fn nested_key(&self) -> Option<&str> {
        self.nested_key.as_deref()
    }

    /// The file the checkpoint was read from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the checkpoint holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Key names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The tensor stored under `key`.
    pub fn get(&self, key: &str) -> Option<&TensorData> {
        self.tensors.get(key)
    }

    /// Takes the tensor stored under `key` out of the checkpoint.
    pub fn remove(&mut self, key: &str) -> Option<TensorData> {
        self.tensors.remove(key)
    }

    /// Inserts (or replaces) a tensor.
    pub fn insert(&mut self, key: impl Into<String>, data: TensorData) {
        self.tensors.insert(key.into(), data);
    }

    /// All tensors.
    pub fn tensors(&self) -> &BTreeMap<String, TensorData> {
        &self.tensors
    }

    /// Consumes the checkpoint into its tensors.
    pub fn into_tensors(self) -> BTreeMap<String, TensorData> {
        self.tensors
    }

    /// Keeps only the keys starting with `prefix`, with the prefix removed
    /// (`encoder.` turns `encoder.conv_in.weight` into `conv_in.weight`).
    pub fn strip_prefix(self, prefix: &str) -> Self {
        let tensors = self
            .tensors
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v)))
            .collect();
        Self { tensors, ..self }
    }

    /// Adds the tensors of `other`; its keys win on a clash.
    pub fn merge(&mut self, other: Checkpoint) {
        self.tensors.extend(other.tensors);
    }

    /// The tensor under `key` as a float tensor of rank `D` on `device` (converted to f32).
    pub fn tensor<const D: usize>(
        &self,
        key: &str,
        device: &Device,
    ) -> Result<Tensor<D>, CheckpointError> {
        let data = self
            .get(key)
            .ok_or_else(|| CheckpointError::MissingKey(key.to_string()))?;
        let rank = data.shape().num_dims();
        if rank != D {
            return Err(CheckpointError::Rank {
                key: key.to_string(),
                expected: D,
                found: data.shape().to_vec(),
            });
        }
        Ok(Tensor::from_data(
            data.clone().convert_dtype(DType::F32),
            device,
        ))
    }

    /// The tensor under `key` as `i64` values, with its shape (for integer inputs and outputs).
    pub fn int_values(&self, key: &str) -> Result<(Vec<i64>, Vec<usize>), CheckpointError> {
        let data = self
            .get(key)
            .ok_or_else(|| CheckpointError::MissingKey(key.to_string()))?;
        let values = data
            .clone()
            .convert_dtype(DType::I64)
            .try_into_vec::<i64>()
            .map_err(|e| CheckpointError::Data {
                key: key.to_string(),
                message: format!("{e:?}"),
            })?;
        Ok((values, data.shape().to_vec()))
    }
}
