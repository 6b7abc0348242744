//! Parity fixtures: reference inputs, weights and outputs in one safetensors file plus a JSON
//! sidecar, and the comparison behind `cosmos verify`.
//!
//! A fixture `NAME.safetensors` holds the model's weights under their original key names and
//! tensors named `__name__` (double underscores around), which are the inputs and the expected
//! outputs. `NAME.json` holds the model's full constructor config and, optionally, a
//! `tolerance` field. [`Fixture::open`] splits the two kinds of tensor apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::checkpoint::Checkpoint;
use crate::{Error, Result};

/// The tolerance on max |ours − reference| when a fixture's JSON names none.
pub const DEFAULT_TOLERANCE: f64 = 1e-4;

/// A float tensor's values as f32, in row-major order (empty if they cannot be read as floats).
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// max |a − b| over two slices: infinite when their lengths differ or a value is NaN, so a
/// comparison against a tolerance fails instead of passing on a truncated or broken output.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y).abs();
            if d.is_nan() { f32::INFINITY } else { d }
        })
        .fold(0.0, f32::max)
}

/// One parity case: weights, named inputs/outputs and the JSON config.
#[derive(Debug, Clone)]
pub struct Fixture {
    path: PathBuf,
    /// The sidecar JSON, as written by the reference run.
    pub json: serde_json::Value,
    /// The weights (every tensor whose name is not `__x__`).
    pub weights: Checkpoint,
    io: BTreeMap<String, TensorData>,
    /// Max |ours − reference| allowed on float outputs.
    pub tolerance: f64,
}

/// The comparison of one output with its reference.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Output name (without the underscores).
    pub name: String,
    /// Shape of the reference output.
    pub shape: Vec<usize>,
    /// max |ours − reference| (for integer outputs: the same, and `exact` says if all are equal).
    pub max_abs_diff: f64,
    /// Whether the output holds integers (indices), which must match exactly.
    pub integer: bool,
}

impl Comparison {
    /// Whether the output is within `tolerance` (integers: exactly equal).
    pub fn passes(&self, tolerance: f64) -> bool {
        if self.integer {
            self.max_abs_diff == 0.0
        } else {
            self.max_abs_diff.is_finite() && self.max_abs_diff <= tolerance
        }
    }
}

impl Fixture {
    /// Reads `NAME.safetensors` and its sidecar `NAME.json`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let json_path = path.with_extension("json");
        let fixture_error = |message: String| Error::Fixture {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&json_path).map_err(|e| {
            fixture_error(format!("cannot read sidecar {}: {e}", json_path.display()))
        })?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            fixture_error(format!("sidecar {} is not JSON: {e}", json_path.display()))
        })?;
        let tolerance = match json.get("tolerance") {
            None => DEFAULT_TOLERANCE,
            Some(v) => v
                .as_f64()
                .ok_or_else(|| fixture_error(format!("'tolerance' must be a number, found {v}")))?,
        };
        let mut weights = Checkpoint::open(&path)?;
        let io_keys: Vec<String> = weights
            .keys()
            .filter(|k| k.len() > 4 && k.starts_with("__") && k.ends_with("__"))
            .map(str::to_string)
            .collect();
        let mut io = BTreeMap::new();
        for key in io_keys {
            let data = weights.remove(&key).expect("listed key");
            io.insert(key[2..key.len() - 2].to_string(), data);
        }
        Ok(Self {
            path,
            json,
            weights,
            io,
            tolerance,
        })
    }

    /// The fixture file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of the `__x__` tensors (inputs and outputs), without underscores.
    pub fn io_names(&self) -> impl Iterator<Item = &str> {
        self.io.keys().map(String::as_str)
    }

    /// Whether the fixture has the `__name__` tensor.
    pub fn has(&self, name: &str) -> bool {
        self.io.contains_key(name)
    }

    /// The `__name__` tensor's host data.
    pub fn data(&self, name: &str) -> Result<&TensorData> {
        self.io.get(name).ok_or_else(|| Error::Fixture {
            path: self.path.display().to_string(),
            message: format!("has no tensor '__{name}__'"),
        })
    }

    /// The `__name__` tensor as an f32 tensor of rank `D` on `device`.
    pub fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Result<Tensor<D>> {
        let data = self.data(name)?;
        if data.shape().num_dims() != D {
            return Err(Error::Fixture {
                path: self.path.display().to_string(),
                message: format!(
                    "'__{name}__' has shape {:?}, expected rank {D}",
                    data.shape().to_vec()
                ),
            });
        }
        Ok(Tensor::from_data(
            data.clone().convert_dtype(DType::F32),
            device,
        ))
    }

    /// A JSON config field (`config.channels`-style dotted paths).
    pub fn json_field(&self, dotted: &str) -> Option<&serde_json::Value> {
        dotted
            .split('.')
            .try_fold(&self.json, |v, part| v.get(part))
    }

    /// Compares `actual` with the reference `__name__` output.
    ///
    /// A shape difference is an error, not a large difference.
    pub fn compare(&self, name: &str, actual: TensorData) -> Result<Comparison> {
        let expected = self.data(name)?;
        let shape = expected.shape().to_vec();
        if actual.shape().to_vec() != shape {
            return Err(Error::Fixture {
                path: self.path.display().to_string(),
                message: format!(
                    "output '{name}': expected shape {shape:?}, found {:?}",
                    actual.shape().to_vec()
                ),
            });
        }
        let integer = !expected.dtype().is_float();
        let as_f64 = |data: TensorData| -> Result<Vec<f64>> {
            data.convert_dtype(DType::F64)
                .try_into_vec()
                .map_err(|e| Error::Fixture {
                    path: self.path.display().to_string(),
                    message: format!("output '{name}': {e:?}"),
                })
        };
        let expected = as_f64(expected.clone())?;
        let actual = as_f64(actual)?;
        let max_abs_diff = expected
            .iter()
            .zip(&actual)
            .map(|(e, a)| {
                if a.is_nan() {
                    f64::INFINITY
                } else {
                    (e - a).abs()
                }
            })
            .fold(0.0, f64::max);
        Ok(Comparison {
            name: name.to_string(),
            shape,
            max_abs_diff,
            integer,
        })
    }
}
