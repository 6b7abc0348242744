//! Just enough of the protocol-buffer wire format to read a SentencePiece `ModelProto`
//! (varints, fixed 32/64-bit values, length-delimited fields). Unknown fields are skipped, so
//! model files written by newer SentencePiece versions still read.

/// One field value as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0: ints, bools, enums.
    Varint(u64),
    /// Wire type 1: fixed64, double.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, sub-messages.
    Bytes(&'a [u8]),
    /// Wire type 5: fixed32, float.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The value as a bool (varints only).
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Varint(v) => Some(v != 0),
            _ => None,
        }
    }

    /// The value as an `int32` (varints only; negative values are sign-extended on the wire).
    pub(crate) fn as_i32(&self) -> Option<i32> {
        match *self {
            Self::Varint(v) => Some(v as i64 as i32),
            _ => None,
        }
    }

    /// The value as a `float` (fixed32 only).
    pub(crate) fn as_f32(&self) -> Option<f32> {
        match *self {
            Self::Fixed32(v) => Some(f32::from_bits(v)),
            _ => None,
        }
    }

    /// The value as bytes (length-delimited only).
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        match *self {
            Self::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// Iterates over the fields of one message.
pub(crate) struct FieldReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> FieldReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in 0..10 {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| format!("truncated varint at byte {}", self.pos))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "field of {n} bytes at byte {} runs past the end ({} bytes)",
                    self.pos,
                    self.buf.len()
                )
            })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next `(field number, value)`, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u64, WireValue<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                WireValue::Fixed64(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| format!("length {len} too large"))?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                WireValue::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
            }
            other => {
                return Err(format!(
                    "unsupported wire type {other} for field {field} at byte {}",
                    self.pos
                ));
            }
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_wire_type() {
        // field 1 varint 300; field 2 bytes "hi"; field 3 float 1.5; field 4 fixed64 7;
        // field 5 varint -1 as int32 (ten bytes).
        let mut buf = vec![0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x1d];
        buf.extend(1.5f32.to_le_bytes());
        buf.push(0x21);
        buf.extend(7u64.to_le_bytes());
        buf.push(0x28);
        buf.extend([0xff; 9]);
        buf.push(0x01);
        let mut r = FieldReader::new(&buf);
        assert_eq!(r.next_field().unwrap(), Some((1, WireValue::Varint(300))));
        assert_eq!(
            r.next_field().unwrap().unwrap().1.as_bytes(),
            Some(&b"hi"[..])
        );
        assert_eq!(r.next_field().unwrap().unwrap().1.as_f32(), Some(1.5));
        assert_eq!(r.next_field().unwrap(), Some((4, WireValue::Fixed64(7))));
        assert_eq!(r.next_field().unwrap().unwrap().1.as_i32(), Some(-1));
        assert_eq!(r.next_field().unwrap(), None);
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(FieldReader::new(&[0x12, 5, b'a']).next_field().is_err());
        assert!(FieldReader::new(&[0x08, 0x80]).next_field().is_err());
        assert!(FieldReader::new(&[0x0b]).next_field().is_err()); // group start
    }
}
