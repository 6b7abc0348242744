//! Reading the tensors of TorchScript archives (`torch.jit.save`, NVIDIA's `encoder.jit` /
//! `decoder.jit` / `autoencoder.jit`).
//!
//! The archive is a zip whose entries sit under one root folder: `data.pkl` (the pickled
//! module tree), `constants.pkl`, `code/...` (the TorchScript source), `data/KEY` (raw
//! tensor storages, little-endian unless `byteorder` says otherwise) and `version`.
//!
//! In `data.pkl` every module is an object of a `__torch__.*` class, created with `NEWOBJ` and
//! given its attributes by `BUILD` with a dict: parameters and buffers are tensors, children
//! are further objects (a `Sequential`'s children are named `0`, `1`, ...), and the rest are
//! plain values (`training`, hyper-parameters). A tensor is
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` with
//! the storage a persistent id `('storage', torch.FloatStorage, KEY, location, numel)` naming
//! `data/KEY`.
//!
//! Tensors are collected by their dotted attribute path from the root object, which is the key
//! `module.state_dict()` gives them (`encoder.conv_in.0.conv3d.weight`). A tensor reached by
//! two paths (tied weights) appears under both, as in a state dict. Views are materialised in
//! row-major order whatever their offset and strides. Tensors inside lists, dicts or
//! non-dict object state are not part of a state dict and are not collected.
//!
//! Bounds: `data.pkl` may not exceed [`MAX_PICKLE_BYTES`]; the pickle machine allocates in
//! proportion to it; the module tree is walked at most [`MAX_DEPTH`] deep; each storage must
//! be as large in the zip as the pickle declares before its bytes are read; views reading past
//! their storage are refused, and views that materialise more bytes than their storage holds
//! (broadcast strides) may add at most [`MAX_EXPANDED_BYTES`] in all.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use burn::tensor::{BoolStore, DType, TensorData};
use zip::ZipArchive;

use super::pickle::{self, NodeId, Pickle, Value};

/// Largest `data.pkl` accepted (it holds metadata only; storages are separate entries).
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// Deepest module nesting accepted.
pub const MAX_DEPTH: usize = 256;

/// Total bytes that broadcast views (stride 0) may materialise beyond their storages' sizes.
pub const MAX_EXPANDED_BYTES: usize = 1 << 30;

/// Most attribute visits while walking the module tree (shared submodules are visited once
/// per path, so a pathological graph could otherwise take exponential time).
const MAX_VISITS: usize = 10_000_000;

/// Highest tensor rank accepted.
const MAX_RANK: usize = 64;

/// A tensor described by the pickle, before its bytes are read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorSpec {
    /// Storage key: the entry `data/KEY`.
    pub storage: String,
    /// Element type.
    pub dtype: DType,
    /// Elements the storage declares.
    pub storage_numel: usize,
    /// Offset of the first element, in elements.
    pub offset: usize,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides, in elements.
    pub stride: Vec<usize>,
}

impl TensorSpec {
    fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// One past the last storage element the view reads (the offset for an empty view).
    fn extent(&self) -> Option<usize> {
        if self.num_elements()? == 0 {
            return Some(self.offset);
        }
        self.shape
            .iter()
            .zip(&self.stride)
            .try_fold(self.offset, |end, (&dim, &step)| {
                end.checked_add((dim - 1).checked_mul(step)?)
            })?
            .checked_add(1)
    }
}

/// Reads every tensor attribute of the module tree in the archive whose entries sit under
/// `root` (`"name/"`, or empty at the top). Errors are messages; the caller adds the path.
pub(crate) fn read<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    root: &str,
    file_len: u64,
) -> Result<BTreeMap<String, TensorData>, String> {
    let pickle_bytes = read_entry(zip, &format!("{root}data.pkl"), MAX_PICKLE_BYTES, file_len)?;
    let big_endian = match zip.index_for_name(&format!("{root}byteorder")) {
        None => false,
        Some(_) => {
            let text = read_entry(zip, &format!("{root}byteorder"), 16, file_len)?;
            match String::from_utf8_lossy(&text).trim() {
                "little" => false,
                "big" => true,
                other => {
                    return Err(format!(
                        "byteorder entry says '{other}', expected 'little' or 'big'"
                    ));
                }
            }
        }
    };
    let pickle = pickle::parse(&pickle_bytes).map_err(|e| format!("data.pkl: {e}"))?;
    let specs = collect_tensors(&pickle)?;
    materialise(zip, root, file_len, &specs, big_endian)
}

/// A `torch.save` archive whose saved object is a tuple or list of tensors (NVIDIA's
/// `mean_std.pt`, `torch.save((mean, std))`): its tensors named by position (`0`, `1`, ...).
/// `None` when the saved object is anything else (burn-store's reader takes those; it refuses
/// a sequence at the root).
pub(crate) fn read_sequence<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    root: &str,
    file_len: u64,
) -> Result<Option<BTreeMap<String, TensorData>>, String> {
    // Anything this reader cannot take is left to burn-store's, as before.
    let Ok(pickle_bytes) = read_entry(zip, &format!("{root}data.pkl"), MAX_PICKLE_BYTES, file_len)
    else {
        return Ok(None);
    };
    let Ok(pickle) = pickle::parse(&pickle_bytes) else {
        return Ok(None);
    };
    let Some(items) = pickle.as_sequence(pickle.root()) else {
        return Ok(None);
    };
    let mut specs = Vec::with_capacity(items.len());
    for (i, &item) in items.iter().enumerate() {
        let TensorCall::Tensor(callable, args) = tensor_call(&pickle, item) else {
            return Ok(None);
        };
        let spec =
            tensor_spec(&pickle, callable, args, 0).map_err(|e| format!("tensor {i}: {e}"))?;
        specs.push((i.to_string(), spec));
    }
    if specs.is_empty() {
        return Ok(None);
    }
    let big_endian = match zip.index_for_name(&format!("{root}byteorder")) {
        None => false,
        Some(_) => {
            let text = read_entry(zip, &format!("{root}byteorder"), 16, file_len)?;
            String::from_utf8_lossy(&text).trim() == "big"
        }
    };
    materialise(zip, root, file_len, &specs, big_endian).map(Some)
}

/// Walks the module tree from the pickle's root and describes every tensor attribute.
pub(crate) fn collect_tensors(pickle: &Pickle) -> Result<Vec<(String, TensorSpec)>, String> {
    let mut walker = Walker {
        pickle,
        out: BTreeMap::new(),
        path: Vec::new(),
        on_path: Vec::new(),
        visits: 0,
    };
    walker.module(pickle.root())?;
    Ok(walker.out.into_iter().collect())
}

struct Walker<'p> {
    pickle: &'p Pickle,
    out: BTreeMap<String, TensorSpec>,
    path: Vec<String>,
    on_path: Vec<NodeId>,
    visits: usize,
}

impl Walker<'_> {
    fn here(&self) -> String {
        if self.path.is_empty() {
            "the root object".to_string()
        } else {
            format!("'{}'", self.path.join("."))
        }
    }

    fn module(&mut self, id: NodeId) -> Result<(), String> {
        let Value::Object {
            state: Some(state), ..
        } = self.pickle.get(id)
        else {
            return Ok(());
        };
        if self.on_path.contains(&id) {
            return Err(format!("the module tree has a cycle at {}", self.here()));
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(format!(
                "modules nest deeper than {MAX_DEPTH} levels at {}",
                self.here()
            ));
        }
        let attributes = match self.pickle.get(*state) {
            Value::Dict(pairs) => pairs.clone(),
            // `(dict, slots)`, as `__reduce_ex__` gives objects with `__slots__`.
            Value::Tuple(items) => match items.first().map(|&i| self.pickle.get(i)) {
                Some(Value::Dict(pairs)) => pairs.clone(),
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        self.on_path.push(id);
        for (key, value) in attributes {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return Err(format!(
                    "the module tree has more than {MAX_VISITS} attribute paths"
                ));
            }
            let Some(name) = self.pickle.as_str(key) else {
                continue;
            };
            self.path.push(name.to_string());
            match tensor_call(self.pickle, value) {
                TensorCall::Tensor(callable, args) => {
                    let spec = tensor_spec(self.pickle, callable, args, 0)
                        .map_err(|e| format!("tensor {}: {e}", self.here()))?;
                    // A later attribute of the same name replaces an earlier one, as in Python.
                    self.out.insert(self.path.join("."), spec);
                }
                TensorCall::Unsupported(name) => {
                    return Err(format!(
                        "tensor {} is built by {name}, which is not supported \
                         (quantized, sparse or nested tensors)",
                        self.here()
                    ));
                }
                TensorCall::NotATensor => self.module(value)?,
            }
            self.path.pop();
        }
        self.on_path.pop();
        Ok(())
    }
}

enum TensorCall {
    /// A call that builds a tensor: the callable and its argument tuple.
    Tensor(NodeId, NodeId),
    /// A call in `torch._utils` that builds a tensor kind we cannot represent.
    Unsupported(String),
    NotATensor,
}

fn tensor_call(pickle: &Pickle, id: NodeId) -> TensorCall {
    let Value::Object { callable, args, .. } = pickle.get(id) else {
        return TensorCall::NotATensor;
    };
    match pickle.global_name(*callable) {
        Some(("torch._utils", name)) if name.starts_with("_rebuild_") => {
            if matches!(
                name,
                "_rebuild_tensor"
                    | "_rebuild_tensor_v2"
                    | "_rebuild_tensor_v3"
                    | "_rebuild_parameter"
                    | "_rebuild_parameter_with_state"
            ) {
                TensorCall::Tensor(*callable, *args)
            } else {
                TensorCall::Unsupported(format!("torch._utils.{name}"))
            }
        }
        Some(("torch._tensor", "_rebuild_from_type_v2")) => TensorCall::Tensor(*callable, *args),
        _ => TensorCall::NotATensor,
    }
}

/// The tensor that `callable(*args)` builds.
fn tensor_spec(
    pickle: &Pickle,
    callable: NodeId,
    args: NodeId,
    depth: usize,
) -> Result<TensorSpec, String> {
    if depth > 4 {
        return Err("tensor rebuild calls nest too deeply".into());
    }
    let name = match pickle.global_name(callable) {
        Some((_, name)) => name,
        None => return Err("tensor built by a call that is not a global".into()),
    };
    let args = pickle
        .as_sequence(args)
        .ok_or_else(|| format!("{name}: arguments are not a tuple"))?;
    let arg = |i: usize| {
        args.get(i).copied().ok_or_else(|| {
            format!(
                "{name}: expected at least {} arguments, found {}",
                i + 1,
                args.len()
            )
        })
    };
    match name {
        // _rebuild_parameter(data, requires_grad, hooks[, state]): the tensor is `data`.
        "_rebuild_parameter" | "_rebuild_parameter_with_state" => {
            let data = arg(0)?;
            match pickle.get(data) {
                Value::Object { callable, args, .. } => {
                    tensor_spec(pickle, *callable, *args, depth + 1)
                }
                _ => Err(format!("{name}: data is a {}", pickle.describe(data))),
            }
        }
        // _rebuild_from_type_v2(func, new_type, args, state): the tensor is func(*args).
        "_rebuild_from_type_v2" => tensor_spec(pickle, arg(0)?, arg(2)?, depth + 1),
        "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3" => {
            let (storage, storage_dtype, declared) = storage_ref(pickle, arg(0)?)?;
            let dtype = if name == "_rebuild_tensor_v3" {
                let dtype_id = arg(6)?;
                match pickle.global_name(dtype_id) {
                    Some(("torch", dtype_name)) => torch_dtype(dtype_name)?,
                    _ => return Err(format!("{name}: dtype is a {}", pickle.describe(dtype_id))),
                }
            } else {
                storage_dtype.ok_or_else(|| {
                    format!("{name}: an untyped storage needs _rebuild_tensor_v3 and its dtype")
                })?
            };
            let storage_numel = match storage_dtype {
                Some(d) if d != dtype => {
                    return Err(format!(
                        "storage '{storage}' holds {d:?} but the tensor is {dtype:?}"
                    ));
                }
                Some(_) => declared,
                // An untyped storage declares bytes.
                None => declared / dtype.size(),
            };
            let offset = non_negative(pickle, arg(1)?, "storage offset")?;
            let shape = dims(pickle, arg(2)?, "size")?;
            let stride = dims(pickle, arg(3)?, "stride")?;
            if shape.len() != stride.len() {
                return Err(format!(
                    "size {shape:?} and stride {stride:?} have different ranks"
                ));
            }
            let spec = TensorSpec {
                storage,
                dtype,
                storage_numel,
                offset,
                shape,
                stride,
            };
            let extent = spec
                .extent()
                .ok_or_else(|| format!("size {:?} overflows", spec.shape))?;
            if extent > spec.storage_numel {
                return Err(format!(
                    "view of size {:?}, stride {:?} at offset {} reads {extent} elements but \
                     storage '{}' declares {}",
                    spec.shape, spec.stride, spec.offset, spec.storage, spec.storage_numel
                ));
            }
            Ok(spec)
        }
        other => Err(format!("unsupported tensor constructor {other}")),
    }
}

/// `('storage', torch.XStorage, key, location, numel)`: key, element type (None for an
/// untyped storage) and declared size (elements; bytes for an untyped storage).
fn storage_ref(pickle: &Pickle, id: NodeId) -> Result<(String, Option<DType>, usize), String> {
    let Value::Persistent(pid) = pickle.get(id) else {
        return Err(format!(
            "expected a storage, found a {}",
            pickle.describe(id)
        ));
    };
    let fields = pickle
        .as_sequence(*pid)
        .ok_or_else(|| format!("storage id is a {}", pickle.describe(*pid)))?;
    if fields.len() < 5 || pickle.as_str(fields[0]) != Some("storage") {
        return Err("storage id is not ('storage', type, key, location, numel)".into());
    }
    let dtype = match pickle.global_name(fields[1]) {
        Some(("torch", "UntypedStorage")) => None,
        Some(("torch", class)) => Some(storage_dtype(class)?),
        _ => {
            return Err(format!("storage type is a {}", pickle.describe(fields[1])));
        }
    };
    let key = match pickle.get(fields[2]) {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => return Err(format!("storage key is a {}", pickle.describe(fields[2]))),
    };
    if key.is_empty() || key.contains(['/', '\\']) || key.contains("..") {
        return Err(format!("storage key '{key}' is not a plain name"));
    }
    if let Some(view) = fields.get(5)
        && !matches!(pickle.get(*view), Value::None)
    {
        return Err(format!(
            "storage '{key}' is a legacy storage view, not supported"
        ));
    }
    let numel = non_negative(pickle, fields[4], "storage size")?;
    Ok((key, dtype, numel))
}

fn storage_dtype(class: &str) -> Result<DType, String> {
    Ok(match class {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::I32,
        "ShortStorage" => DType::I16,
        "CharStorage" => DType::I8,
        "ByteStorage" => DType::U8,
        "BoolStorage" => DType::Bool(BoolStore::Native),
        other => return Err(format!("unsupported storage type torch.{other}")),
    })
}

fn torch_dtype(name: &str) -> Result<DType, String> {
    Ok(match name {
        "float32" | "float" => DType::F32,
        "float64" | "double" => DType::F64,
        "float16" | "half" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" | "long" => DType::I64,
        "int32" | "int" => DType::I32,
        "int16" | "short" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        "bool" => DType::Bool(BoolStore::Native),
        other => return Err(format!("unsupported dtype torch.{other}")),
    })
}

fn non_negative(pickle: &Pickle, id: NodeId, what: &str) -> Result<usize, String> {
    pickle
        .as_int(id)
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| {
            format!(
                "{what} must be a non-negative int, found {}",
                pickle.describe(id)
            )
        })
}

fn dims(pickle: &Pickle, id: NodeId, what: &str) -> Result<Vec<usize>, String> {
    let items = pickle
        .as_sequence(id)
        .ok_or_else(|| format!("{what} must be a tuple, found {}", pickle.describe(id)))?;
    if items.len() > MAX_RANK {
        return Err(format!("{what} has rank {}, above {MAX_RANK}", items.len()));
    }
    items
        .iter()
        .map(|&i| non_negative(pickle, i, what))
        .collect()
}

/// Reads each storage once and materialises the tensors that view it.
fn materialise<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    root: &str,
    file_len: u64,
    specs: &[(String, TensorSpec)],
    big_endian: bool,
) -> Result<BTreeMap<String, TensorData>, String> {
    let mut by_storage: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, spec)) in specs.iter().enumerate() {
        by_storage.entry(spec.storage.as_str()).or_default().push(i);
    }
    let mut expanded = 0usize;
    let mut out = BTreeMap::new();
    for (key, users) in by_storage {
        let first = &specs[users[0]].1;
        let element = first.dtype.size();
        let mut numel = 0usize;
        for &i in &users {
            let (name, spec) = &specs[i];
            if spec.dtype != first.dtype {
                return Err(format!(
                    "storage '{key}' is read as {:?} by '{}' and as {:?} by '{name}'",
                    first.dtype, specs[users[0]].0, spec.dtype
                ));
            }
            numel = numel.max(spec.storage_numel);
        }
        let needed = numel
            .checked_mul(element)
            .ok_or_else(|| format!("storage '{key}' size overflows"))?;
        let name = format!("{root}data/{key}");
        let mut bytes = read_entry_prefix(zip, &name, needed as u64, file_len)?;
        let storage_bytes = bytes.len();
        if big_endian && element > 1 {
            for chunk in bytes.chunks_exact_mut(element) {
                chunk.reverse();
            }
        }
        for &i in &users {
            let (name, spec) = &specs[i];
            let count = spec
                .num_elements()
                .ok_or_else(|| format!("tensor '{name}': size {:?} overflows", spec.shape))?;
            let out_bytes = count
                .checked_mul(element)
                .ok_or_else(|| format!("tensor '{name}': size {:?} overflows", spec.shape))?;
            expanded = expanded.saturating_add(out_bytes.saturating_sub(storage_bytes));
            if expanded > MAX_EXPANDED_BYTES {
                return Err(format!(
                    "tensor '{name}': broadcast views would materialise more than \
                     {MAX_EXPANDED_BYTES} bytes beyond their storages"
                ));
            }
            let mut data = gather(&bytes, element, spec, count);
            if matches!(spec.dtype, DType::Bool(_)) {
                for b in &mut data {
                    *b = u8::from(*b != 0);
                }
            }
            let tensor = TensorData::try_from_bytes_vec(data, spec.shape.clone(), spec.dtype)
                .map_err(|e| format!("tensor '{name}': {e}"))?;
            out.insert(name.clone(), tensor);
        }
    }
    Ok(out)
}

/// Row-major bytes of the view `spec` of `storage` (whose bounds the caller checked).
pub(crate) fn gather(storage: &[u8], element: usize, spec: &TensorSpec, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * element);
    if count == 0 {
        return out;
    }
    let rank = spec.shape.len();
    // Contiguous: one copy.
    let mut expected = 1usize;
    let mut contiguous = true;
    for d in (0..rank).rev() {
        if spec.shape[d] > 1 && spec.stride[d] != expected {
            contiguous = false;
            break;
        }
        expected *= spec.shape[d];
    }
    if contiguous {
        let start = spec.offset * element;
        out.extend_from_slice(&storage[start..start + count * element]);
        return out;
    }
    // Rows along the last dimension, copied whole when that dimension is dense.
    let (row_len, row_dense) = match rank {
        0 => (1, true),
        _ => (spec.shape[rank - 1], spec.stride[rank - 1] == 1),
    };
    let outer = rank.saturating_sub(1);
    let mut index = vec![0usize; outer];
    loop {
        let base = spec.offset
            + index
                .iter()
                .zip(&spec.stride)
                .map(|(&i, &s)| i * s)
                .sum::<usize>();
        if row_dense {
            let start = base * element;
            out.extend_from_slice(&storage[start..start + row_len * element]);
        } else {
            let step = if rank == 0 { 0 } else { spec.stride[rank - 1] };
            for j in 0..row_len {
                let start = (base + j * step) * element;
                out.extend_from_slice(&storage[start..start + element]);
            }
        }
        // Next row: an odometer over the outer dimensions.
        let mut d = outer;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            index[d] += 1;
            if index[d] < spec.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

/// A whole entry of at most `max` bytes.
fn read_entry<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    name: &str,
    max: u64,
    file_len: u64,
) -> Result<Vec<u8>, String> {
    let mut entry = zip
        .by_name(name)
        .map_err(|e| format!("entry '{name}': {e}"))?;
    let size = entry.size();
    if size > max {
        return Err(format!(
            "entry '{name}' is {size} bytes, above the {max} byte limit"
        ));
    }
    let mut bytes = Vec::with_capacity(size.min(file_len) as usize);
    entry
        .by_ref()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("entry '{name}': {e}"))?;
    if bytes.len() as u64 != size {
        return Err(format!(
            "entry '{name}' declares {size} bytes but holds {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The first `needed` bytes of a storage entry, which must hold at least that many.
fn read_entry_prefix<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    name: &str,
    needed: u64,
    file_len: u64,
) -> Result<Vec<u8>, String> {
    let mut entry = zip
        .by_name(name)
        .map_err(|e| format!("storage entry '{name}': {e}"))?;
    let size = entry.size();
    if size < needed {
        return Err(format!(
            "storage entry '{name}' holds {size} bytes, the pickle declares {needed}"
        ));
    }
    // The declared size is not trusted for the allocation: a stored entry cannot be larger
    // than the file, and a compressed one grows the buffer only as bytes arrive.
    let mut bytes = Vec::with_capacity(needed.min(file_len) as usize);
    let read = if size == needed {
        // Reading to the end lets the zip reader check the entry's CRC.
        entry.read_to_end(&mut bytes)
    } else {
        entry.by_ref().take(needed).read_to_end(&mut bytes)
    };
    read.map_err(|e| format!("storage entry '{name}': {e}"))?;
    if (bytes.len() as u64) != needed {
        return Err(format!(
            "storage entry '{name}' ends after {} of its {needed} bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(shape: &[usize], stride: &[usize], offset: usize) -> TensorSpec {
        TensorSpec {
            storage: "0".into(),
            dtype: DType::U8,
            storage_numel: 64,
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn gathered(shape: &[usize], stride: &[usize], offset: usize) -> Vec<u8> {
        let storage: Vec<u8> = (0..64).collect();
        let s = spec(shape, stride, offset);
        let count = s.num_elements().unwrap();
        assert!(s.extent().unwrap() <= 64);
        gather(&storage, 1, &s, count)
    }

    #[test]
    fn gather_handles_views() {
        // contiguous with offset
        assert_eq!(gathered(&[2, 3], &[3, 1], 4), vec![4, 5, 6, 7, 8, 9]);
        // transposed 2x3 -> 3x2
        assert_eq!(gathered(&[3, 2], &[1, 3], 0), vec![0, 3, 1, 4, 2, 5]);
        // row slices with a gap (dense rows, strided outer)
        assert_eq!(gathered(&[2, 2], &[5, 1], 1), vec![1, 2, 6, 7]);
        // broadcast
        assert_eq!(gathered(&[2, 3], &[0, 1], 0), vec![0, 1, 2, 0, 1, 2]);
        // scalar and rank 1 strided
        assert_eq!(gathered(&[], &[], 9), vec![9]);
        assert_eq!(gathered(&[3], &[4], 2), vec![2, 6, 10]);
        // size-1 dims with arbitrary strides are still contiguous
        assert_eq!(gathered(&[1, 3, 1], &[99, 1, 7], 3), vec![3, 4, 5]);
        // rank 3 permuted
        assert_eq!(
            gathered(&[2, 2, 2], &[1, 4, 2], 0),
            vec![0, 2, 4, 6, 1, 3, 5, 7]
        );
        assert!(gathered(&[0, 4], &[4, 1], 0).is_empty());
    }

    #[test]
    fn extent_counts_the_last_element_read() {
        assert_eq!(spec(&[3, 2], &[1, 3], 0).extent(), Some(6));
        assert_eq!(spec(&[2, 2], &[5, 1], 1).extent(), Some(8));
        assert_eq!(spec(&[0, 5], &[5, 1], 7).extent(), Some(7));
        assert_eq!(spec(&[usize::MAX, 2], &[2, 1], 0).extent(), None);
    }

    /// A module object with one tensor attribute, as TorchScript pickles it.
    fn module_pickle(storage_numel: u8, size: u8) -> Vec<u8> {
        let mut p = b"\x80\x02c__torch__.m\nM\n)\x81}(X\x01\x00\x00\x00w".to_vec();
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage");
        p.extend_from_slice(b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu");
        p.extend_from_slice(&[b'K', storage_numel, b't', b'Q', b'K', 0, b'K', size, 0x85]);
        p.extend_from_slice(b"K\x01\x85\x89ccollections\nOrderedDict\n)RtR");
        p.extend_from_slice(b"X\x08\x00\x00\x00trainingNub.");
        p
    }

    #[test]
    fn collects_tensor_attributes_by_path() {
        let pickle = pickle::parse(&module_pickle(4, 3)).unwrap();
        let specs = collect_tensors(&pickle).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].0, "w");
        assert_eq!(specs[0].1.dtype, DType::F32);
        assert_eq!(specs[0].1.shape, vec![3]);
        assert_eq!(specs[0].1.storage_numel, 4);
    }

    #[test]
    fn views_past_their_storage_are_refused() {
        let pickle = pickle::parse(&module_pickle(2, 3)).unwrap();
        let err = collect_tensors(&pickle).unwrap_err();
        assert!(
            err.contains("reads 3 elements") && err.contains("declares 2"),
            "{err}"
        );
    }
}
