//! Checkpoint IO: reading tensors by their original names and loading them into modules.
//!
//! A [`Checkpoint`] is a flat map from the checkpoint's own key names to host tensors
//! ([`TensorData`]). It is read from safetensors, PyTorch `torch.save` zip pickles (state dicts,
//! possibly nested under `model` / `state_dict` / `ema`) or TorchScript archives (`.jit`).
//! [`load_module`] then maps those names onto a module's parameter paths through a
//! per-model [`KeyMap`] (data, not code) and reports every missing, unexpected and
//! mis-shaped key in one [`CheckpointError::Mismatch`].
//!
//! Model code never sees file formats: a model crate owns a `KeyMap` and calls
//! [`load_module`].

mod error;
mod keymap;
mod load;
mod safetensors_io;

pub use error::{CheckpointError, ShapeMismatch};
pub use keymap::KeyMap;
pub use load::{LoadReport, load_module};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor, TensorData};

/// The file format a checkpoint was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// Hugging Face safetensors.
    Safetensors,
    /// A PyTorch `torch.save` zip archive holding a (possibly nested) state dict.
    PytorchZip,
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
}

impl Checkpoint {
    /// Reads a checkpoint file, detecting the format from its content (not its extension).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let tensors = safetensors_io::read(&bytes, path)?;
        Ok(Self {
            tensors,
            format: CheckpointFormat::Safetensors,
            source: Some(path.to_path_buf()),
        })
    }

    /// Wraps tensors made in memory.
    pub fn from_tensors(tensors: BTreeMap<String, TensorData>) -> Self {
        Self {
            tensors,
            format: CheckpointFormat::Memory,
            source: None,
        }
    }

    /// The format the checkpoint was read from.
    pub fn format(&self) -> CheckpointFormat {
        self.format
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
