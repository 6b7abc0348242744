//! Reading `torch.save` checkpoints through burn-store's `pytorch_reader`.
//!
//! The reader parses every container `torch.save` has written (the zip archive of PyTorch
//! 1.6+, the legacy stream, the old tar layout), gathers strided views into row-major bytes and
//! bounds its allocations. What it leaves to us is which part of the saved object is the
//! state dict, and the conversion into [`TensorData`].
//!
//! # Which dict holds the weights
//!
//! A checkpoint is often more than a state dict: `{"model": state_dict, "optimizer": ...,
//! "epoch": 3}`. Starting at the root dict, the reader applies these steps:
//!
//! 1. a dict that holds a tensor directly (a value that is a tensor) is the state dict; nested
//!    dicts and lists inside it are flattened into dotted keys (`layers.0.weight`);
//! 2. otherwise, among its entries whose value is a dict holding tensors somewhere inside:
//!    - exactly one: descend into it and go back to step 1;
//!    - several: descend into the first of [`PREFERRED_KEYS`] present (`state_dict`,
//!      `model_state_dict`, `model`, `ema`, ...); when none is present the choice is
//!      ambiguous and reading fails, naming the candidates;
//!    - none: the dict itself is used (tensors inside lists, or no tensors at all).
//!
//! So `{"model": sd, "optimizer": {"state": {...tensors}}}` gives `sd` (preferred name),
//! `{"trainer": {"state": sd, "epoch": 2}}` gives `sd` (one candidate at each level), and a
//! flat state dict whose keys all start with `net.` stays as it is (it holds tensors directly).
//! [`Checkpoint::open_nested`](super::Checkpoint::open_nested) names the dict explicitly.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{BoolStore, DType, TensorData};
use burn_store::pytorch_reader::{self, PickleValue, PytorchReader};

use super::CheckpointError;

/// Entry names preferred, in this order, when several entries of a checkpoint dict hold
/// tensors.
pub const PREFERRED_KEYS: [&str; 8] = [
    "state_dict",
    "model_state_dict",
    "model",
    "ema",
    "module",
    "net",
    "params",
    "weights",
];

/// How deep the automatic selection descends.
const MAX_SELECT_DEPTH: usize = 16;

/// Reads the state dict of a PyTorch checkpoint; returns its tensors and the path of nested
/// keys that was selected (empty for the root).
pub(crate) fn read(
    path: &Path,
    nested: Option<&[&str]>,
) -> Result<(BTreeMap<String, TensorData>, Vec<String>), CheckpointError> {
    let format_error = |message: String| CheckpointError::Format {
        path: path.display().to_string(),
        message,
    };
    let root = PytorchReader::read_pickle_data(path, None)
        .map_err(|e| format_error(format!("not a readable PyTorch checkpoint: {e}")))?;
    let selected = match nested {
        Some(keys) => check_nested(&root, keys).map_err(format_error)?,
        None => select_state_dict(&root).map_err(format_error)?,
    };

    let reader = match selected.first() {
        None => PytorchReader::new(path),
        Some(first) => PytorchReader::with_top_level_key(path, first),
    }
    .map_err(|e| format_error(format!("not a readable PyTorch checkpoint: {e}")))?;
    let prefix = if selected.len() > 1 {
        format!("{}.", selected[1..].join("."))
    } else {
        String::new()
    };

    let mut tensors = BTreeMap::new();
    for (name, tensor) in reader.into_tensors() {
        let Some(key) = name.strip_prefix(&prefix) else {
            continue;
        };
        let data = convert(&tensor).map_err(|e| format_error(format!("tensor '{name}': {e}")))?;
        tensors.insert(key.to_string(), data);
    }
    Ok((tensors, selected))
}

fn convert(tensor: &pytorch_reader::Tensor) -> Result<TensorData, String> {
    use pytorch_reader::DType as P;
    let dtype = match tensor.dtype() {
        P::F64 => DType::F64,
        P::F32 => DType::F32,
        P::F16 => DType::F16,
        P::BF16 => DType::BF16,
        P::I64 => DType::I64,
        P::I32 => DType::I32,
        P::I16 => DType::I16,
        P::I8 => DType::I8,
        P::U64 => DType::U64,
        P::U32 => DType::U32,
        P::U16 => DType::U16,
        P::U8 => DType::U8,
        P::Bool => DType::Bool(BoolStore::Native),
    };
    let bytes = tensor.read().map_err(|e| e.to_string())?;
    TensorData::try_from_bytes_vec(bytes, tensor.shape().to_vec(), dtype).map_err(|e| e.to_string())
}

fn is_tensor(value: &PickleValue) -> bool {
    matches!(value, PickleValue::Unsupported(t) if t == "torch.Tensor")
}

fn holds_tensor(value: &PickleValue, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    match value {
        v if is_tensor(v) => true,
        PickleValue::Dict(d) => d.values().any(|v| holds_tensor(v, depth + 1)),
        PickleValue::List(l) => l.iter().any(|v| holds_tensor(v, depth + 1)),
        _ => false,
    }
}

/// The automatic rule of the module docs.
fn select_state_dict(root: &PickleValue) -> Result<Vec<String>, String> {
    let mut selected = Vec::new();
    let PickleValue::Dict(root_dict) = root else {
        // Not a dict: let the reader say what it found.
        return Ok(selected);
    };
    let mut dict = root_dict;
    while selected.len() < MAX_SELECT_DEPTH && !dict.values().any(is_tensor) {
        let mut candidates: Vec<&String> = dict
            .iter()
            .filter(|(_, v)| matches!(v, PickleValue::Dict(_)) && holds_tensor(v, 0))
            .map(|(k, _)| k)
            .collect();
        candidates.sort();
        let chosen = match candidates.as_slice() {
            [] => break,
            [only] => (*only).clone(),
            several => match PREFERRED_KEYS
                .iter()
                .find(|p| several.iter().any(|c| c.as_str() == **p))
            {
                Some(p) => (*p).to_string(),
                None => {
                    let at = if selected.is_empty() {
                        "the root".to_string()
                    } else {
                        format!("'{}'", selected.join("."))
                    };
                    return Err(format!(
                        "ambiguous checkpoint: several entries of {at} hold tensors \
                         ({several:?}) and none is one of {PREFERRED_KEYS:?}; \
                         name one with Checkpoint::open_nested"
                    ));
                }
            },
        };
        match dict.get(&chosen) {
            Some(PickleValue::Dict(next)) => dict = next,
            _ => return Err(format!("entry '{chosen}' is not a dict")),
        }
        selected.push(chosen);
    }
    Ok(selected)
}

/// Checks that `keys` lead from the root through dicts, and returns them.
fn check_nested(root: &PickleValue, keys: &[&str]) -> Result<Vec<String>, String> {
    let mut current = root;
    for (i, key) in keys.iter().enumerate() {
        let at = if i == 0 {
            "the root".to_string()
        } else {
            format!("'{}'", keys[..i].join("."))
        };
        let PickleValue::Dict(dict) = current else {
            return Err(format!("{at} is not a dict, cannot select '{key}'"));
        };
        current = dict.get(*key).ok_or_else(|| {
            let mut names: Vec<&String> = dict.keys().collect();
            names.sort();
            format!("{at} has no entry '{key}'; its entries are {names:?}")
        })?;
    }
    if !keys.is_empty() && !matches!(current, PickleValue::Dict(_)) {
        return Err(format!("'{}' is not a dict of tensors", keys.join(".")));
    }
    Ok(keys.iter().map(|k| k.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dict(entries: Vec<(&str, PickleValue)>) -> PickleValue {
        PickleValue::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<HashMap<_, _>>(),
        )
    }

    fn t() -> PickleValue {
        PickleValue::Unsupported("torch.Tensor".into())
    }

    #[test]
    fn flat_dict_is_the_state_dict() {
        let root = dict(vec![("net.w", t()), ("net.b", t())]);
        assert!(select_state_dict(&root).unwrap().is_empty());
    }

    #[test]
    fn preferred_key_wins_over_optimizer() {
        let root = dict(vec![
            ("model", dict(vec![("w", t())])),
            ("optimizer", dict(vec![("state", dict(vec![("0", t())]))])),
            ("epoch", PickleValue::Int(3)),
        ]);
        assert_eq!(select_state_dict(&root).unwrap(), vec!["model"]);
    }

    #[test]
    fn single_candidates_are_followed_down() {
        let root = dict(vec![(
            "a",
            dict(vec![
                ("b", dict(vec![("w", t())])),
                ("n", PickleValue::Int(1)),
            ]),
        )]);
        assert_eq!(select_state_dict(&root).unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn ambiguity_is_an_error() {
        let root = dict(vec![
            ("g", dict(vec![("w", t())])),
            ("d", dict(vec![("w", t())])),
        ]);
        let err = select_state_dict(&root).unwrap_err();
        assert!(err.contains("ambiguous") && err.contains("\"d\""), "{err}");
    }

    #[test]
    fn tensors_only_in_lists_use_the_dict_itself() {
        let root = dict(vec![("layers", PickleValue::List(vec![t()]))]);
        assert!(select_state_dict(&root).unwrap().is_empty());
    }

    #[test]
    fn explicit_keys_are_checked() {
        let root = dict(vec![("model", dict(vec![("w", t())]))]);
        assert_eq!(check_nested(&root, &["model"]).unwrap(), vec!["model"]);
        assert!(
            check_nested(&root, &["ema"])
                .unwrap_err()
                .contains("no entry 'ema'")
        );
        assert!(check_nested(&root, &["model", "w"]).is_err());
    }
}
