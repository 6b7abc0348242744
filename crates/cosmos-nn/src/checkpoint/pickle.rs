//! A small pickle virtual machine, enough for the pickles PyTorch writes.
//!
//! `pytorch-reader` (re-exported by burn-store) has its own unpickler, but it is private
//! to that crate and refuses objects it does not know, such as the `__torch__.*` classes of a
//! TorchScript archive. This one interprets nothing: it builds the object graph as it is
//! (globals, `NEWOBJ`/`REDUCE` calls, `BUILD` state, persistent ids) and leaves the meaning to
//! its caller ([`super::torchscript`]).
//!
//! Values live in one arena and refer to each other by index, so the memo, `DUP` and shared
//! objects cost nothing to copy, and mutation through a memoized reference (`SETITEMS` on a
//! dict fetched with `BINGET`, `BUILD` on an object) behaves as in CPython. Every opcode adds
//! at most one value, so the arena is bounded by the pickle's length; every length read from
//! the stream is checked against the bytes that remain before anything is allocated.
//!
//! Opcodes: the binary ones of protocols 2 to 5 that describe data (no text-mode protocol 0
//! opcodes, no out-of-band buffers); an unknown opcode is an error naming it.

use std::collections::HashMap;
use std::fmt;

/// Index of a value in a [`Pickle`]'s arena.
pub(crate) type NodeId = usize;

/// One unpickled value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// A wider int, as little-endian two's-complement bytes.
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// bytes / bytearray.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<NodeId>),
    /// A list (sets are read as lists too).
    List(Vec<NodeId>),
    /// A dict, in insertion order (an `OrderedDict()` call is read as one).
    Dict(Vec<(NodeId, NodeId)>),
    /// A global name (`GLOBAL` / `STACK_GLOBAL`): a class or function.
    Global {
        /// The module, e.g. `torch._utils`.
        module: String,
        /// The name inside it, e.g. `_rebuild_tensor_v2`.
        name: String,
    },
    /// The result of calling `callable(*args)` (`REDUCE`) or `callable.__new__(callable,
    /// *args)` (`NEWOBJ`), with the state a later `BUILD` gave it.
    Object {
        /// What was called: usually a [`Value::Global`].
        callable: NodeId,
        /// The argument tuple.
        args: NodeId,
        /// The `BUILD` state (for a `__torch__` module: its attribute dict).
        state: Option<NodeId>,
    },
    /// A persistent id (`BINPERSID`): the referenced object is resolved by the caller.
    Persistent(NodeId),
}

/// An unpickled object graph.
#[derive(Debug, Clone)]
pub(crate) struct Pickle {
    nodes: Vec<Value>,
    root: NodeId,
}

impl Pickle {
    /// The value `STOP` returned.
    pub(crate) fn root(&self) -> NodeId {
        self.root
    }

    /// The value at `id` (ids come from this pickle, so they are always in range).
    pub(crate) fn get(&self, id: NodeId) -> &Value {
        &self.nodes[id]
    }

    /// `module.name` when `id` is a global.
    pub(crate) fn global_name(&self, id: NodeId) -> Option<(&str, &str)> {
        match self.get(id) {
            Value::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    /// The string at `id`, if it is one.
    pub(crate) fn as_str(&self, id: NodeId) -> Option<&str> {
        match self.get(id) {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The int at `id`, if it is one.
    pub(crate) fn as_int(&self, id: NodeId) -> Option<i64> {
        match self.get(id) {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The items of a tuple or list at `id`.
    pub(crate) fn as_sequence(&self, id: NodeId) -> Option<&[NodeId]> {
        match self.get(id) {
            Value::Tuple(items) | Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// A short description of the value at `id` for error messages (`dict`, `torch.FloatStorage`).
    pub(crate) fn describe(&self, id: NodeId) -> String {
        match self.get(id) {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(i) => format!("int {i}"),
            Value::BigInt(_) => "int (wider than 64 bits)".into(),
            Value::Float(_) => "float".into(),
            Value::Str(s) if s.len() <= 40 => format!("str '{s}'"),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(items) => format!("tuple of {}", items.len()),
            Value::List(items) => format!("list of {}", items.len()),
            Value::Dict(items) => format!("dict of {}", items.len()),
            Value::Global { module, name } => format!("{module}.{name}"),
            Value::Object { callable, .. } => match self.global_name(*callable) {
                Some((module, name)) => format!("{module}.{name} object"),
                None => "object".into(),
            },
            Value::Persistent(_) => "persistent id".into(),
        }
    }
}

/// A malformed or unsupported pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PickleError {
    /// Byte offset of the opcode that failed.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pickle byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for PickleError {}

/// Unpickles `bytes` (one pickle, up to its `STOP`; anything after it is ignored).
pub(crate) fn parse(bytes: &[u8]) -> Result<Pickle, PickleError> {
    Machine::new(bytes).run()
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for errors.
    op_start: usize,
    nodes: Vec<Value>,
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    memo: HashMap<u32, NodeId>,
}

impl<'a> Machine<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            op_start: 0,
            nodes: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn error(&self, message: impl Into<String>) -> PickleError {
        PickleError {
            offset: self.op_start,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let input = self.input;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= input.len())
            .ok_or_else(|| {
                self.error(format!(
                    "truncated: needs {n} more bytes, {} left",
                    input.len() - self.pos
                ))
            })?;
        let slice = &input[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length read as u64, checked against what remains.
    fn len_u64(&mut self, n: u64) -> Result<usize, PickleError> {
        let left = self.input.len() - self.pos;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .ok_or_else(|| self.error(format!("truncated: length {n} with {left} bytes left")))
    }

    fn add(&mut self, value: Value) -> NodeId {
        self.nodes.push(value);
        self.nodes.len() - 1
    }

    fn push(&mut self, value: Value) {
        let id = self.add(value);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Result<NodeId, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.error("stack underflow"));
        }
        Ok(self.stack.pop().expect("checked non-empty"))
    }

    fn top(&self) -> Result<NodeId, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.error("stack underflow"));
        }
        Ok(*self.stack.last().expect("checked non-empty"))
    }

    fn pop_mark(&mut self) -> Result<Vec<NodeId>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.error("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn utf8(&self, bytes: &[u8]) -> Result<String, PickleError> {
        String::from_utf8(bytes.to_vec()).map_err(|e| self.error(format!("invalid UTF-8: {e}")))
    }

    fn memo_put(&mut self, index: u32) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u32) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&index)
            .ok_or_else(|| self.error(format!("memo slot {index} is empty")))?;
        self.stack.push(id);
        Ok(())
    }

    fn append_to(&mut self, target: NodeId, items: Vec<NodeId>) -> Result<(), PickleError> {
        match &mut self.nodes[target] {
            Value::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => {
                let what = Pickle::describe_value(&self.nodes, target);
                Err(self.error(format!("APPEND to a {what}, expected a list")))
            }
        }
    }

    fn set_items(&mut self, target: NodeId, items: Vec<NodeId>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.error("SETITEMS with an odd number of items"));
        }
        match &mut self.nodes[target] {
            Value::Dict(dict) => {
                dict.extend(items.chunks_exact(2).map(|pair| (pair[0], pair[1])));
                Ok(())
            }
            _ => {
                let what = Pickle::describe_value(&self.nodes, target);
                Err(self.error(format!("SETITEM on a {what}, expected a dict")))
            }
        }
    }

    /// `callable(*args)`: a few constructors of plain containers are evaluated, everything
    /// else is kept as an [`Value::Object`].
    fn call(&mut self, callable: NodeId, args: NodeId) -> Result<Value, PickleError> {
        let name = match &self.nodes[callable] {
            Value::Global { module, name } => Some((module.as_str(), name.as_str())),
            _ => None,
        };
        let arg_items = match &self.nodes[args] {
            Value::Tuple(items) => items.clone(),
            _ => return Err(self.error("call arguments must be a tuple")),
        };
        match name {
            Some(("collections", "OrderedDict")) => {
                let mut dict = Vec::new();
                if let Some(&items) = arg_items.first() {
                    let pairs = match &self.nodes[items] {
                        Value::List(p) | Value::Tuple(p) => p.clone(),
                        _ => return Err(self.error("OrderedDict argument must be a list")),
                    };
                    for pair in pairs {
                        match &self.nodes[pair] {
                            Value::Tuple(kv) | Value::List(kv) if kv.len() == 2 => {
                                dict.push((kv[0], kv[1]));
                            }
                            _ => return Err(self.error("OrderedDict items must be pairs")),
                        }
                    }
                }
                Ok(Value::Dict(dict))
            }
            Some(("builtins" | "__builtin__", "set" | "frozenset" | "list")) => {
                let mut list = Vec::new();
                if let Some(&items) = arg_items.first() {
                    match &self.nodes[items] {
                        Value::List(p) | Value::Tuple(p) => list.extend(p.iter().copied()),
                        _ => return Err(self.error("set argument must be a list")),
                    }
                }
                Ok(Value::List(list))
            }
            _ => Ok(Value::Object {
                callable,
                args,
                state: None,
            }),
        }
    }

    fn run(mut self) -> Result<Pickle, PickleError> {
        loop {
            self.op_start = self.pos;
            let op = self.u8()?;
            match op {
                // PROTO
                0x80 => {
                    let version = self.u8()?;
                    if version > 5 {
                        return Err(self.error(format!("unsupported pickle protocol {version}")));
                    }
                }
                // FRAME: framing only groups opcodes; the content follows inline.
                0x95 => {
                    self.u64()?;
                }
                // STOP
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickle {
                        nodes: self.nodes,
                        root,
                    });
                }
                // MARK
                b'(' => self.marks.push(self.stack.len()),
                // POP
                b'0' => {
                    self.pop()?;
                }
                // POP_MARK
                b'1' => {
                    self.pop_mark()?;
                }
                // DUP
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                // NONE, NEWTRUE, NEWFALSE
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                // BININT, BININT1, BININT2
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)));
                }
                // LONG1, LONG4
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        u64::from(self.u8()?)
                    } else {
                        u64::from(self.u32()?)
                    };
                    let n = self.len_u64(n)?;
                    let bytes = self.take(n)?;
                    self.push(long_value(bytes));
                }
                // BINFLOAT (big-endian)
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Value::Float(f64::from_be_bytes(a)));
                }
                // SHORT_BINUNICODE, BINUNICODE, BINUNICODE8
                0x8c | b'X' | 0x8d => {
                    let n = match op {
                        0x8c => u64::from(self.u8()?),
                        b'X' => u64::from(self.u32()?),
                        _ => self.u64()?,
                    };
                    let n = self.len_u64(n)?;
                    let bytes = self.take(n)?;
                    let s = self.utf8(bytes)?;
                    self.push(Value::Str(s));
                }
                // SHORT_BINSTRING, BINSTRING (Python 2 str): read as text when it is UTF-8.
                b'U' | b'T' => {
                    let n = if op == b'U' {
                        u64::from(self.u8()?)
                    } else {
                        u64::from(self.u32()?)
                    };
                    let n = self.len_u64(n)?;
                    let bytes = self.take(n)?;
                    let value = match std::str::from_utf8(bytes) {
                        Ok(s) => Value::Str(s.to_string()),
                        Err(_) => Value::Bytes(bytes.to_vec()),
                    };
                    self.push(value);
                }
                // SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8
                b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => u64::from(self.u8()?),
                        b'B' => u64::from(self.u32()?),
                        _ => self.u64()?,
                    };
                    let n = self.len_u64(n)?;
                    let bytes = self.take(n)?.to_vec();
                    self.push(Value::Bytes(bytes));
                }
                // EMPTY_TUPLE, TUPLE, TUPLE1, TUPLE2, TUPLE3
                b')' => self.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(self.error("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items));
                }
                // EMPTY_LIST, LIST, APPEND, APPENDS
                b']' => self.push(Value::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.append_to(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.append_to(list, items)?;
                }
                // EMPTY_DICT, DICT, SETITEM, SETITEMS
                b'}' => self.push(Value::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    if !items.len().is_multiple_of(2) {
                        return Err(self.error("DICT with an odd number of items"));
                    }
                    let pairs = items.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                    self.push(Value::Dict(pairs));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let dict = self.top()?;
                    self.set_items(dict, vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?;
                    self.set_items(dict, items)?;
                }
                // EMPTY_SET, ADDITEMS, FROZENSET: sets are read as lists.
                0x8f => self.push(Value::List(Vec::new())),
                0x90 => {
                    let items = self.pop_mark()?;
                    let set = self.top()?;
                    self.append_to(set, items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                // GLOBAL: "module\nname\n"
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global { module, name });
                }
                // STACK_GLOBAL
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) =
                        (&self.nodes[module], &self.nodes[name])
                    else {
                        return Err(self.error("STACK_GLOBAL needs two strings"));
                    };
                    let value = Value::Global {
                        module: module.clone(),
                        name: name.clone(),
                    };
                    self.push(value);
                }
                // REDUCE
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = self.call(callable, args)?;
                    self.push(value);
                }
                // NEWOBJ, NEWOBJ_EX
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?; // keyword arguments
                    }
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    if !matches!(self.nodes[args], Value::Tuple(_)) {
                        return Err(self.error("NEWOBJ arguments must be a tuple"));
                    }
                    self.push(Value::Object {
                        callable,
                        args,
                        state: None,
                    });
                }
                // BUILD
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    match &mut self.nodes[target] {
                        Value::Object { state: slot, .. } => *slot = Some(state),
                        // An OrderedDict's instance attributes (`_metadata` of a state dict).
                        Value::Dict(_) | Value::List(_) => {}
                        _ => {
                            let what = Pickle::describe_value(&self.nodes, target);
                            return Err(self.error(format!("BUILD on a {what}")));
                        }
                    }
                }
                // BINPERSID
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Value::Persistent(pid));
                }
                // BINPUT, LONG_BINPUT, MEMOIZE
                b'q' => {
                    let index = self.u8()?;
                    self.memo_put(u32::from(index))?;
                }
                b'r' => {
                    let index = self.u32()?;
                    self.memo_put(index)?;
                }
                0x94 => {
                    let index =
                        u32::try_from(self.memo.len()).map_err(|_| self.error("memo is full"))?;
                    self.memo_put(index)?;
                }
                // BINGET, LONG_BINGET
                b'h' => {
                    let index = self.u8()?;
                    self.memo_get(u32::from(index))?;
                }
                b'j' => {
                    let index = self.u32()?;
                    self.memo_get(index)?;
                }
                other => {
                    return Err(self.error(format!(
                        "unsupported opcode 0x{other:02x} ('{}')",
                        (other as char).escape_default()
                    )));
                }
            }
        }
    }

    /// A newline-terminated ASCII line (the arguments of `GLOBAL`), at most 1 KiB.
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.input[self.pos..];
        let window = &rest[..rest.len().min(1024)];
        let end = window
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.error("unterminated GLOBAL name"))?;
        let bytes = self.take(end + 1)?;
        self.utf8(&bytes[..end])
    }
}

impl Pickle {
    fn describe_value(nodes: &[Value], id: NodeId) -> String {
        match &nodes[id] {
            Value::Object { .. } => "object".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Str(_) => "str".into(),
            Value::Global { .. } => "global".into(),
            _ => "scalar".into(),
        }
    }
}

/// A `LONG1`/`LONG4` payload: little-endian two's complement.
fn long_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() <= 8 {
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut a = [if negative { 0xff } else { 0 }; 8];
        a[..bytes.len()].copy_from_slice(bytes);
        return Value::Int(i64::from_le_bytes(a));
    }
    Value::BigInt(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_value(bytes: &[u8]) -> (Pickle, Value) {
        let p = parse(bytes).expect("parses");
        let v = p.get(p.root()).clone();
        (p, v)
    }

    #[test]
    fn scalars_and_strings() {
        // protocol 2: (1, 300, -2, 2**40, 1.5, 'hé', None, True)
        let bytes = b"\x80\x02(K\x01M,\x01J\xfe\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01G?\xf8\x00\x00\x00\x00\x00\x00X\x03\x00\x00\x00h\xc3\xa9N\x88t.";
        let (p, v) = root_value(bytes);
        let Value::Tuple(items) = v else {
            panic!("not a tuple")
        };
        let values: Vec<Value> = items.iter().map(|&i| p.get(i).clone()).collect();
        assert_eq!(
            values,
            vec![
                Value::Int(1),
                Value::Int(300),
                Value::Int(-2),
                Value::Int(1 << 40),
                Value::Float(1.5),
                Value::Str("hé".into()),
                Value::None,
                Value::Bool(true),
            ]
        );
    }

    #[test]
    fn long_sign_extension() {
        assert_eq!(long_value(&[0xff]), Value::Int(-1));
        assert_eq!(long_value(&[0x00, 0x80]), Value::Int(-32768));
        assert_eq!(long_value(&[0xff, 0x00]), Value::Int(255));
        assert!(matches!(long_value(&[0; 9]), Value::BigInt(_)));
    }

    #[test]
    fn memo_shares_and_mutation_is_visible() {
        // d = {}; l = [d, d]; d['a'] = 1   -> pickled with the dict memoized, then set later:
        // ]q\x00(}q\x01h\x01e h\x01 X'a' K1 s 0 .
        let bytes = b"\x80\x02]q\x00(}q\x01h\x01eh\x01X\x01\x00\x00\x00aK\x01s0.";
        let (p, v) = root_value(bytes);
        let Value::List(items) = v else {
            panic!("not a list")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], items[1], "both entries are the same dict");
        let Value::Dict(pairs) = p.get(items[0]) else {
            panic!("not a dict")
        };
        assert_eq!(pairs.len(), 1);
        assert_eq!(p.as_str(pairs[0].0), Some("a"));
        assert_eq!(p.as_int(pairs[0].1), Some(1));
    }

    #[test]
    fn newobj_build_and_reduce() {
        // __torch__.m.C.__new__() with BUILD({'w': f(persid('storage'))}), f unknown.
        let bytes = b"\x80\x02c__torch__.m\nC\nq\x00)\x81}q\x01X\x01\x00\x00\x00wcmod\nf\n(X\x07\x00\x00\x00storageQtRsb.";
        let (p, v) = root_value(bytes);
        let Value::Object {
            callable,
            state: Some(state),
            ..
        } = v
        else {
            panic!("not an object with state")
        };
        assert_eq!(p.global_name(callable), Some(("__torch__.m", "C")));
        let Value::Dict(pairs) = p.get(state) else {
            panic!("state is not a dict")
        };
        assert_eq!(p.as_str(pairs[0].0), Some("w"));
        let Value::Object { callable, args, .. } = p.get(pairs[0].1) else {
            panic!("attribute is not a call")
        };
        assert_eq!(p.global_name(*callable), Some(("mod", "f")));
        let args = p.as_sequence(*args).expect("tuple args");
        assert!(matches!(p.get(args[0]), Value::Persistent(_)));
    }

    #[test]
    fn ordered_dict_reduce_is_a_dict() {
        // OrderedDict() then SETITEMS with one pair, then BUILD with {'_metadata': {}}.
        let bytes = b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00kK\x07u}(X\x09\x00\x00\x00_metadata}ub.";
        let (p, v) = root_value(bytes);
        let Value::Dict(pairs) = v else {
            panic!("not a dict")
        };
        assert_eq!(pairs.len(), 1);
        assert_eq!(p.as_int(pairs[0].1), Some(7));
    }

    #[test]
    fn malformed_pickles_are_errors_not_panics() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "truncated"),
            (b"\x80\x02", "truncated"),
            (b"\x80\x09N.", "protocol"),
            (b"\x80\x02X\xff\xff\xff\x7fabc", "truncated"),
            (b"\x80\x02\x8b\xff\xff\xff\xff", "truncated"),
            (b"\x80\x02h\x05.", "memo slot 5"),
            (b"\x80\x02.", "underflow"),
            (b"\x80\x02t.", "MARK"),
            (b"\x80\x02K\x01K\x02a.", "expected a list"),
            (b"\x80\x02}K\x01s.", "underflow"),
            (b"\x80\x02(K\x01K\x02K\x03d.", "odd"),
            (b"\x80\x02cmod", "unterminated"),
            (b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", "UTF-8"),
            (b"\x80\x02I1\n.", "unsupported opcode"),
            (b"\x80\x02K\x01K\x02b.", "BUILD"),
            (b"\x80\x02(K\x01\x86.", "underflow"),
        ];
        for (bytes, expected) in cases {
            let err = parse(bytes).expect_err("must fail");
            assert!(
                err.message.contains(expected),
                "{bytes:?}: expected '{expected}' in '{err}'"
            );
        }
    }

    #[test]
    fn every_truncation_of_a_valid_pickle_fails_cleanly() {
        let bytes = b"\x80\x02c__torch__.m\nC\nq\x00)\x81}q\x01X\x01\x00\x00\x00wcmod\nf\n(X\x07\x00\x00\x00storageQtRsb.";
        for n in 0..bytes.len() {
            assert!(parse(&bytes[..n]).is_err(), "prefix of {n} bytes parsed");
        }
    }
}
