//! Helpers shared by the integration tests.

use burn::tensor::{DType, TensorData};

/// Writes tensors as a safetensors file (Hugging Face's layout: 8-byte little-endian header
/// size, JSON header, raw little-endian data), each converted to `dtype` (F32 or BF16).
pub fn write_safetensors<'a>(
    tensors: impl IntoIterator<Item = (&'a String, &'a TensorData)>,
    dtype: DType,
    path: &std::path::Path,
) {
    let name = match dtype {
        DType::F32 => "F32",
        DType::BF16 => "BF16",
        other => panic!("test helper writes F32 or BF16, not {other:?}"),
    };
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (key, tensor) in tensors {
        let converted = tensor.clone().convert_dtype(dtype);
        let bytes = converted.as_bytes();
        header.insert(
            key.clone(),
            serde_json::json!({
                "dtype": name,
                "shape": tensor.shape().to_vec(),
                "data_offsets": [data.len(), data.len() + bytes.len()],
            }),
        );
        data.extend_from_slice(bytes);
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header);
    file.extend(data);
    std::fs::write(path, file).unwrap();
}

/// A fresh, empty folder under the system temp dir.
pub fn temp_folder(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cosmos_text_{tag}_{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
