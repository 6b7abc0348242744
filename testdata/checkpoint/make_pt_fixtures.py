#!/usr/bin/env python3
"""Writes the small PyTorch-format checkpoints in this folder, without PyTorch.

The files are byte-for-byte what the formats look like, not what a given torch release
writes: the pickles use the same opcodes and globals torch emits (protocol 2, GLOBAL
'torch._utils _rebuild_tensor_v2', persistent ids ('storage', torch.FloatStorage, key,
location, numel)), produced by Python's own pickler with stand-in `torch` modules registered
in sys.modules, and the containers follow torch's layouts:

- `torch.save` zip (PyTorch >= 1.6): archive/data.pkl, archive/data/<key>, archive/version,
  archive/byteorder, archive/.format_version;
- the legacy stream (PyTorch 0.4 - 1.5): magic number, protocol version, system info, the
  object pickle, the sorted storage keys, then each storage as an int64 element count and
  its bytes;
- a TorchScript-like archive: <name>/data.pkl holding `__torch__.*` objects (NEWOBJ + BUILD
  with the attribute dict), <name>/constants.pkl, <name>/code/..., <name>/data/<key>.

`expected.safetensors` holds, for every tensor of every fixture, the contiguous row-major
values the reader must produce, under the name "<file>:<key>". They are computed here by an
independent strided gather, so a Rust test compares the PyTorch readers against the
safetensors reader.

Run: python3 testdata/checkpoint/make_pt_fixtures.py   (rewrites the files next to it)
"""

import collections
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# Stand-in torch modules: only names, so that pickle writes torch's GLOBAL opcodes.
# --------------------------------------------------------------------------------------------
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
torch._utils = torch_utils
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


def _named(module, name):
    def function(*args):
        raise RuntimeError("stand-in for " + name)

    function.__module__ = module.__name__
    function.__qualname__ = name
    function.__name__ = name
    setattr(module, name, function)
    return function


rebuild_tensor_v2 = _named(torch_utils, "_rebuild_tensor_v2")
rebuild_parameter = _named(torch_utils, "_rebuild_parameter")

# name -> (storage class name, struct format or None, element size, safetensors dtype)
DTYPES = {
    "f32": ("FloatStorage", "<f", 4, "F32"),
    "f64": ("DoubleStorage", "<d", 8, "F64"),
    "f16": ("HalfStorage", "<e", 2, "F16"),
    "bf16": ("BFloat16Storage", None, 2, "BF16"),
    "i64": ("LongStorage", "<q", 8, "I64"),
    "i32": ("IntStorage", "<i", 4, "I32"),
    "u8": ("ByteStorage", "<B", 1, "U8"),
    "bool": ("BoolStorage", "<?", 1, "BOOL"),
}
STORAGE_CLASSES = {}
for _kind, (_cls_name, _, _, _) in DTYPES.items():
    _cls = type(_cls_name, (), {})
    _cls.__module__ = "torch"
    setattr(torch, _cls_name, _cls)
    STORAGE_CLASSES[_kind] = _cls


def encode(kind, values):
    """Little-endian bytes of `values` as `kind`. bf16 keeps the top half of the f32 bits,
    so the values used here are chosen exactly representable in it."""
    if kind == "bf16":
        out = bytearray()
        for v in values:
            bits = struct.unpack("<I", struct.pack("<f", v))[0]
            assert bits & 0xFFFF == 0, f"{v} is not exact in bfloat16"
            out += struct.pack("<H", bits >> 16)
        return bytes(out)
    fmt = DTYPES[kind][1]
    return b"".join(struct.pack(fmt, v) for v in values)


class Storage:
    """A flat storage of `kind` elements."""

    def __init__(self, kind, values):
        self.kind = kind
        self.values = list(values)
        self.data = encode(kind, self.values)


class Tensor:
    """A strided view of a storage, pickled the way torch pickles a tensor."""

    def __init__(self, storage, shape, stride=None, offset=0, parameter=False):
        self.storage = storage
        self.shape = tuple(shape)
        if stride is None:
            stride, step = [], 1
            for dim in reversed(self.shape):
                stride.insert(0, step)
                step *= dim
        self.stride = tuple(stride)
        self.offset = offset
        self.parameter = parameter

    def __reduce_ex__(self, protocol):
        tensor = _PlainTensor(self)
        if self.parameter:
            # torch.nn.Parameter: _rebuild_parameter(data, requires_grad, backward_hooks)
            return (rebuild_parameter, (tensor, True, collections.OrderedDict()))
        return tensor.__reduce_ex__(protocol)

    def gathered(self):
        """Row-major values of the view: an independent strided gather."""
        out = []

        def walk(dim, base):
            if dim == len(self.shape):
                out.append(self.storage.values[base])
                return
            for i in range(self.shape[dim]):
                walk(dim + 1, base + i * self.stride[dim])

        walk(0, self.offset)
        return out


class _PlainTensor:
    def __init__(self, tensor):
        self.t = tensor

    def __reduce_ex__(self, protocol):
        t = self.t
        return (
            rebuild_tensor_v2,
            (t.storage, t.offset, t.shape, t.stride, False, collections.OrderedDict()),
        )


class StoragePickler(pickle.Pickler):
    """Pickles storages as persistent ids, numbering them in order of first use."""

    def __init__(self, file, legacy=False):
        super().__init__(file, protocol=2)
        self.keys = {}
        self.storages = {}
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        key = self.keys.get(id(obj))
        if key is None:
            key = str(len(self.keys))
            self.keys[id(obj)] = key
            self.storages[key] = obj
        numel = len(obj.values)
        if self.legacy:
            return ("storage", STORAGE_CLASSES[obj.kind], key, "cpu", numel, None)
        return ("storage", STORAGE_CLASSES[obj.kind], key, "cpu", numel)


def pickle_with_storages(obj, legacy=False):
    buffer = io.BytesIO()
    pickler = StoragePickler(buffer, legacy=legacy)
    pickler.dump(obj)
    return buffer.getvalue(), pickler.storages


def write_zip(path, root, entries):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(f"{root}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data)


def torch_save_zip(path, obj):
    """The `torch.save` zip layout (PyTorch >= 1.6)."""
    data_pkl, storages = pickle_with_storages(obj)
    entries = [("data.pkl", data_pkl), (".format_version", b"1"), ("byteorder", b"little")]
    for key, storage in storages.items():
        entries.append((f"data/{key}", storage.data))
    entries.append(("version", b"3\n"))
    write_zip(path, "archive", entries)


def torch_save_legacy(path, obj):
    """The legacy stream `torch.save(..., _use_new_zipfile_serialization=False)` writes."""
    out = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    sys_info = dict(
        protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4)
    )
    pickle.dump(sys_info, out, protocol=2)
    data_pkl, storages = pickle_with_storages(obj, legacy=True)
    out.write(data_pkl)
    keys = sorted(storages)
    pickle.dump(keys, out, protocol=2)
    for key in keys:
        storage = storages[key]
        out.write(struct.pack("<q", len(storage.values)))
        out.write(storage.data)
    with open(path, "wb") as f:
        f.write(out.getvalue())


# --------------------------------------------------------------------------------------------
# Stand-in TorchScript classes (`__torch__.*`), pickled as NEWOBJ + BUILD(attribute dict).
# --------------------------------------------------------------------------------------------
ts_root = types.ModuleType("__torch__")
ts_tiny = types.ModuleType("__torch__.tiny")
ts_root.tiny = ts_tiny
sys.modules["__torch__"] = ts_root
sys.modules["__torch__.tiny"] = ts_tiny


def ts_class(name):
    cls = type(name, (), {})
    cls.__module__ = "__torch__.tiny"
    setattr(ts_tiny, name, cls)
    return cls


TinyNet = ts_class("TinyNet")
Linear = ts_class("Linear")
ModuleList = ts_class("ModuleList")
Block = ts_class("Block")


def ts_object(cls, **attrs):
    obj = cls.__new__(cls)
    obj.__dict__.update(attrs)
    return obj


def torchscript_save(path, root_name, module, constants):
    data_pkl, storages = pickle_with_storages(module)
    const_pkl, const_storages = pickle_with_storages(tuple(constants))
    entries = [("data.pkl", data_pkl)]
    entries.append(("code/__torch__/tiny.py", b"class TinyNet(Module):\n  pass\n"))
    entries.append(("constants.pkl", const_pkl))
    for key, storage in const_storages.items():
        entries.append((f"constants/{key}", storage.data))
    for key, storage in storages.items():
        entries.append((f"data/{key}", storage.data))
    entries.append(("version", b"4\n"))
    entries.append(("byteorder", b"little"))
    write_zip(path, root_name, entries)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------
def lcg_floats(n, seed):
    """Floats with arbitrary f32 bit patterns (not exact in f16/bf16)."""
    out, state = [], seed
    for _ in range(n):
        state = (state * 1103515245 + 12345) % (1 << 31)
        value = (state / (1 << 31)) * 4.0 - 2.0
        out.append(struct.unpack("<f", struct.pack("<f", value))[0])
    return out


def small_exact(n, seed):
    """Multiples of 1/8 in [-2, 2): exact in f16 and bf16."""
    return [((i * 7 + seed) % 32 - 16) / 8.0 for i in range(n)]


EXPECTED = {}


def expect(file_name, tensors, strip=""):
    for key, tensor in tensors.items():
        EXPECTED[f"{file_name}:{key[len(strip):]}"] = tensor


def main():
    # 1. A flat state dict (OrderedDict with `_metadata`, as `state_dict()` returns), keys with
    #    a `net.` prefix that must not be mistaken for nesting; several dtypes and a scalar.
    flat = collections.OrderedDict()
    flat["net.linear.weight"] = Tensor(Storage("f32", lcg_floats(12, 1)), (3, 4))
    flat["net.linear.bias"] = Tensor(Storage("f32", lcg_floats(3, 2)), (3,))
    flat["net.steps"] = Tensor(Storage("i64", [123456789012]), ())
    flat["net.mask"] = Tensor(Storage("bool", [True, False, False, True]), (2, 2))
    flat["net.table"] = Tensor(Storage("f64", [0.1, -2.5, 1e-300, 3.0, 7.25, -0.0]), (2, 3))
    flat["net.ids"] = Tensor(Storage("i32", [-1, 0, 7, 2147483647]), (4,))
    flat["net.bytes"] = Tensor(Storage("u8", [0, 1, 200, 255]), (4,))
    flat._metadata = {"": {"version": 1}, "net": {"version": 1}}
    torch_save_zip(os.path.join(HERE, "state_dict.pt"), flat)
    expect("state_dict.pt", flat)

    # 2. A training checkpoint: the weights under `model`, beside an optimizer state that also
    #    holds tensors and plain values. The `model` entry is the one picked.
    model = collections.OrderedDict()
    model["linear.weight"] = Tensor(Storage("f32", lcg_floats(6, 3)), (2, 3))
    model["linear.bias"] = Tensor(Storage("f32", lcg_floats(2, 4)), (2,))
    optimizer = {
        "state": {0: {"step": Tensor(Storage("f32", [5.0]), ()),
                      "exp_avg": Tensor(Storage("f32", lcg_floats(6, 5)), (2, 3))}},
        "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0, 1]}],
    }
    torch_save_zip(
        os.path.join(HERE, "nested_model.pt"),
        {"model": model, "optimizer": optimizer, "epoch": 3, "config": {"name": "tiny"}},
    )
    expect("nested_model.pt", model)

    # 3. Two levels of nesting under names no list knows: the single dict holding tensors is
    #    followed at each level (`trainer` then `state`).
    state = {"fc.weight": Tensor(Storage("f32", lcg_floats(4, 6)), (2, 2)),
             "fc.bias": Tensor(Storage("f32", lcg_floats(2, 7)), (2,))}
    torch_save_zip(
        os.path.join(HERE, "nested_deep.pt"),
        {"trainer": {"state": state, "epoch": 2, "history": [1.0, 0.5]}, "step": 7},
    )
    expect("nested_deep.pt", state)

    # 4. Two candidate dicts and no preferred name: ambiguous unless a key is given.
    torch_save_zip(
        os.path.join(HERE, "ambiguous.pt"),
        {"generator": {"w": Tensor(Storage("f32", [1.0, 2.0]), (2,))},
         "discriminator": {"w": Tensor(Storage("f32", [3.0]), (1,))}},
    )
    EXPECTED["ambiguous.pt#discriminator:w"] = Tensor(Storage("f32", [3.0]), (1,))

    # 5. Half precision: f16 and bf16 storages, a transposed bf16 view sharing its storage, and
    #    a parameter (`_rebuild_parameter`) as a full-model save would hold, under `state_dict`.
    bf16_storage = Storage("bf16", small_exact(6, 3))
    half = collections.OrderedDict()
    half["h"] = Tensor(Storage("f16", small_exact(6, 1)), (2, 3))
    half["b"] = Tensor(bf16_storage, (3, 2))
    half["b_t"] = Tensor(bf16_storage, (2, 3), stride=(1, 2))
    half["p"] = Tensor(Storage("bf16", small_exact(4, 5)), (4,), parameter=True)
    torch_save_zip(os.path.join(HERE, "half_bf16.pt"), {"state_dict": half, "epoch": 1})
    expect("half_bf16.pt", half)

    # 6. Views: a transposed view, row and column slices at offsets, a broadcast (stride 0)
    #    view, a scalar taken from the middle of a storage, and an empty tensor.
    base = Storage("f32", lcg_floats(24, 8))
    views = collections.OrderedDict()
    views["base"] = Tensor(base, (4, 6))
    views["transposed"] = Tensor(base, (6, 4), stride=(1, 6))
    views["rows"] = Tensor(base, (2, 6), offset=6)
    views["column"] = Tensor(base, (4,), stride=(6,), offset=1)
    views["strided3d"] = Tensor(base, (2, 2, 3), stride=(12, 1, 4), offset=1)
    views["expanded"] = Tensor(Storage("f32", [1.5, -2.0, 0.25, 8.0]), (3, 4), stride=(0, 1))
    views["scalar"] = Tensor(base, (), stride=(), offset=5)
    views["empty"] = Tensor(Storage("f32", []), (0, 3))
    torch_save_zip(os.path.join(HERE, "views.pt"), views)
    expect("views.pt", views)

    # 7. The legacy (pre-1.6) stream format.
    legacy = collections.OrderedDict()
    legacy_storage = Storage("f32", lcg_floats(6, 9))
    legacy["conv.weight"] = Tensor(legacy_storage, (2, 3))
    legacy["conv.weight_t"] = Tensor(legacy_storage, (3, 2), stride=(1, 3))
    legacy["conv.bias"] = Tensor(Storage("f16", small_exact(2, 2)), (2,))
    torch_save_legacy(os.path.join(HERE, "legacy.pt"), legacy)
    expect("legacy.pt", legacy)

    # 8. A TorchScript-like archive: a module tree of `__torch__` objects whose attributes
    #    are tensors, plain values and submodules (`blocks.0`, `blocks.1`), a tied weight (the
    #    same tensor object under two names), a transposed and an offset buffer, a None bias.
    w = Tensor(Storage("f32", lcg_floats(6, 10)), (3, 2))
    shared = Storage("f32", lcg_floats(12, 11))
    blocks = ts_object(
        ModuleList,
        training=False,
        **{
            "0": ts_object(Block, training=False,
                           scale=Tensor(Storage("f16", small_exact(3, 4)), (3,))),
            "1": ts_object(Block, training=False,
                           scale=Tensor(Storage("bf16", small_exact(3, 6)), (3,))),
        },
    )
    net = ts_object(
        TinyNet,
        training=False,
        _is_full_backward_hook=None,
        lin=ts_object(Linear, training=False, in_features=2, out_features=3,
                      weight=w, bias=None),
        blocks=blocks,
        head_weight=w,
        grid=Tensor(shared, (4, 3)),
        grid_t=Tensor(shared, (3, 4), stride=(1, 3)),
        grid_tail=Tensor(shared, (2, 2), stride=(3, 1), offset=7),
        steps=Tensor(Storage("i64", [0, 1, 2]), (3,)),
        names=["a", "b"],
    )
    torchscript_save(
        os.path.join(HERE, "tiny_module.jit"),
        "tiny_module",
        net,
        [Tensor(Storage("f32", [9.0, 9.0]), (2,))],
    )
    expect("tiny_module.jit", {
        "lin.weight": w,
        "head_weight": w,
        "blocks.0.scale": blocks.__dict__["0"].scale,
        "blocks.1.scale": blocks.__dict__["1"].scale,
        "grid": net.grid,
        "grid_t": net.grid_t,
        "grid_tail": net.grid_tail,
        "steps": net.steps,
    })

    write_expected(os.path.join(HERE, "expected.safetensors"))


def write_expected(path):
    header, blobs, offset = {}, [], 0
    for name in sorted(EXPECTED):
        tensor = EXPECTED[name]
        kind = tensor.storage.kind
        data = encode(kind, tensor.gathered())
        header[name] = {
            "dtype": DTYPES[kind][3],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


if __name__ == "__main__":
    main()
