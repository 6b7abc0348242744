//! Loading a [`Checkpoint`] into a module, with every mismatch reported at once.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::DType;
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, bridge};

use super::{Checkpoint, CheckpointError, KeyMap, ShapeMismatch};

/// What a successful load did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Module parameter paths that received a tensor.
    pub loaded: Vec<String>,
    /// Checkpoint keys skipped by the key map's ignore patterns.
    pub ignored: Vec<String>,
}

/// Loads `checkpoint` into `module`, mapping its keys through `map`.
///
/// Parameter paths are compared in PyTorch conventions (Linear weights `[out, in]`, norms
/// `weight` / `bias`), so a key map only renames. Float tensors of any precision (f16, bf16,
/// f64) are converted to f32. Every missing, unexpected and mis-shaped key is gathered into one
/// [`CheckpointError::Mismatch`]; on error the module is left unchanged.
pub fn load_module<M: Module + ModuleSnapshot>(
    module: &mut M,
    checkpoint: &Checkpoint,
    map: &KeyMap,
) -> Result<LoadReport, CheckpointError> {
    let expected: BTreeMap<String, Vec<usize>> = module
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), false)
        .into_iter()
        .map(|t| (t.name.clone(), t.shape.to_vec()))
        .collect();

    let mut report = LoadReport::default();
    let mut unexpected = Vec::new();
    let mut mis_shaped = Vec::new();
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for key in checkpoint.keys() {
        if map.is_ignored(key) {
            report.ignored.push(key.to_string());
            continue;
        }
        let path = map.map(key);
        match expected.get(&path) {
            None => unexpected.push(key.to_string()),
            Some(shape) => {
                let data = checkpoint.get(key).expect("key listed by the checkpoint");
                if data.shape().to_vec() != *shape {
                    mis_shaped.push(ShapeMismatch {
                        key: key.to_string(),
                        expected: shape.clone(),
                        found: data.shape().to_vec(),
                    });
                }
                found.insert(path, key.to_string());
            }
        }
    }
    let missing: Vec<String> = expected
        .keys()
        .filter(|p| !found.contains_key(*p))
        .cloned()
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() || !mis_shaped.is_empty() {
        return Err(CheckpointError::Mismatch {
            missing,
            unexpected,
            mis_shaped,
        });
    }

    let mut tensors = Vec::with_capacity(found.len());
    for (path, key) in &found {
        let data = checkpoint.get(key).expect("key listed by the checkpoint");
        let data = if data.dtype() == DType::F32 {
            data.clone()
        } else {
            data.clone().convert_dtype(DType::F32)
        };
        tensors.push(bridge::from_data(data, path.clone(), None));
    }
    let result = module.apply(tensors, None, Some(Box::new(PyTorchToBurnAdapter)), false);
    if let Some(error) = result.errors.first() {
        return Err(CheckpointError::Data {
            key: found.values().next().cloned().unwrap_or_default(),
            message: format!("{error} ({} errors in all)", result.errors.len()),
        });
    }
    report.loaded = result.applied;
    Ok(report)
}
