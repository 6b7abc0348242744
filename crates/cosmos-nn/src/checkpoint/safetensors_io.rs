//! Reading safetensors files.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{DType, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::CheckpointError;

/// Parses a safetensors file held in memory. Corrupt or truncated files give
/// [`CheckpointError::Format`].
pub(crate) fn read(
    bytes: &[u8],
    path: &Path,
) -> Result<BTreeMap<String, TensorData>, CheckpointError> {
    let format_error = |message: String| CheckpointError::Format {
        path: path.display().to_string(),
        message,
    };
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            Dtype::F64 => DType::F64,
            Dtype::I64 => DType::I64,
            Dtype::I32 => DType::I32,
            Dtype::I16 => DType::I16,
            Dtype::I8 => DType::I8,
            Dtype::U8 => DType::U8,
            Dtype::BOOL => DType::Bool(burn::tensor::BoolStore::Native),
            other => {
                return Err(format_error(format!(
                    "tensor '{name}' has unsupported dtype {other:?}"
                )));
            }
        };
        let data =
            TensorData::try_from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype)
                .map_err(|e| format_error(format!("tensor '{name}': {e}")))?;
        out.insert(name, data);
    }
    Ok(out)
}
