//! A minimal, allocation-free reader of the protobuf wire format.
//!
//! Views (`super::views`) are built on [`Fields`], which walks the fields of one encoded
//! message in place, and [`RepeatedScalars`], which reads a repeated number field in either of
//! its encodings (packed or one field per element). Nothing here allocates; every error is a
//! [`WireError`] naming what was malformed, so a corrupt request is refused, never half-read.
//! The writing half (varints, length prefixes) serves `super::edit` and `super::Regroup`.

use std::fmt;

/// What was wrong with a protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// A varint ran past the end of the buffer or past 10 bytes.
    BadVarint,
    /// A length-delimited field claims more bytes than remain.
    Truncated,
    /// A wire type protobuf does not define (or the deprecated groups).
    BadWireType(u8),
    /// Field number 0, which protobuf forbids.
    ZeroFieldNumber,
    /// A field of a known message had an unexpected wire type.
    UnexpectedWireType { field: u32, wire_type: u8 },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadVarint => f.write_str("malformed varint"),
            WireError::Truncated => f.write_str("a length-delimited field runs past the end of its message"),
            WireError::BadWireType(t) => write!(f, "unsupported wire type {t}"),
            WireError::ZeroFieldNumber => f.write_str("field number 0"),
            WireError::UnexpectedWireType { field, wire_type } => {
                write!(f, "field {field} has unexpected wire type {wire_type}")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// The value of one field, still in wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    pub fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32(_) => 5,
        }
    }
}

/// One field of a message: its number, its value, and the byte range it occupies
/// (tag included) inside the message that holds it.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
    /// Offset of the field's first byte (its tag) in the enclosing message.
    pub start: usize,
    /// Offset one past the field's last byte.
    pub end: usize,
}

impl<'a> Field<'a> {
    /// The bytes of a length-delimited field, or an error naming the field.
    pub fn bytes(&self) -> Result<&'a [u8], WireError> {
        match self.value {
            Value::Bytes(b) => Ok(b),
            v => Err(WireError::UnexpectedWireType { field: self.number, wire_type: v.wire_type() }),
        }
    }

    pub fn varint(&self) -> Result<u64, WireError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            v => Err(WireError::UnexpectedWireType { field: self.number, wire_type: v.wire_type() }),
        }
    }

    pub fn fixed64(&self) -> Result<u64, WireError> {
        match self.value {
            Value::Fixed64(v) => Ok(v),
            v => Err(WireError::UnexpectedWireType { field: self.number, wire_type: v.wire_type() }),
        }
    }

    pub fn fixed32(&self) -> Result<u32, WireError> {
        match self.value {
            Value::Fixed32(v) => Ok(v),
            v => Err(WireError::UnexpectedWireType { field: self.number, wire_type: v.wire_type() }),
        }
    }
}

/// Reads a varint at `buf[*pos..]`, advancing `pos`.
#[inline(always)]
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    // Tags and most lengths in OTLP fit one byte.
    if let Some(&b) = buf.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Ok(u64::from(b));
        }
    }
    read_varint_multi(buf, pos)
}

#[inline(never)]
fn read_varint_multi(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut result: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos).ok_or(WireError::BadVarint)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return Err(WireError::BadVarint);
        }
        result |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(result);
        }
        shift += 7;
        if shift > 63 {
            return Err(WireError::BadVarint);
        }
    }
}

/// Appends `value` as a varint.
#[inline]
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Number of bytes `value` takes as a varint.
#[inline]
pub fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends the tag and length prefix of a length-delimited field.
#[inline]
pub fn write_len_prefix(out: &mut Vec<u8>, field: u32, len: usize) {
    write_varint(out, (u64::from(field) << 3) | 2);
    write_varint(out, len as u64);
}

/// Iterator over the fields of one encoded message.
///
/// Yields `Err` once and then stops when the message is malformed.
#[derive(Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0, failed: false }
    }

    fn read_field(&mut self) -> Result<Field<'a>, WireError> {
        let start = self.pos;
        let key = read_varint(self.buf, &mut self.pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError::BadVarint)?;
        if number == 0 {
            return Err(WireError::ZeroFieldNumber);
        }
        let wire_type = (key & 7) as u8;
        let value = match wire_type {
            0 => Value::Varint(read_varint(self.buf, &mut self.pos)?),
            1 => {
                let b = self.buf.get(self.pos..self.pos + 8).ok_or(WireError::Truncated)?;
                self.pos += 8;
                Value::Fixed64(u64::from_le_bytes(b.try_into().expect("slice of 8 bytes")))
            }
            2 => {
                let len = read_varint(self.buf, &mut self.pos)?;
                let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
                let end = self.pos.checked_add(len).ok_or(WireError::Truncated)?;
                let b = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
                self.pos = end;
                Value::Bytes(b)
            }
            5 => {
                let b = self.buf.get(self.pos..self.pos + 4).ok_or(WireError::Truncated)?;
                self.pos += 4;
                Value::Fixed32(u32::from_le_bytes(b.try_into().expect("slice of 4 bytes")))
            }
            t => return Err(WireError::BadWireType(t)),
        };
        Ok(Field { number, value, start, end: self.pos })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match self.read_field() {
            Ok(f) => Some(Ok(f)),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Decodes a `sint32` (zigzag-encoded) varint.
#[inline]
pub fn decode_zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Encodes an `i32` as the varint value of a `sint32` (zigzag).
#[inline]
pub fn encode_zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// How the elements of a repeated scalar field are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarEncoding {
    /// `uint64`, `int64`, … : wire type 0 unpacked.
    Varint,
    /// `fixed64`, `double`, … : wire type 1 unpacked.
    Fixed64,
}

/// The elements of a `repeated` scalar field, in order, whether the sender packed them (one or
/// more length-delimited fields) or not (one field per element): protobuf parsers must accept
/// both, and a message may even mix them.
///
/// Yields `Err` once and then stops when the message or a packed run is malformed.
#[derive(Clone)]
pub struct RepeatedScalars<'a> {
    fields: Fields<'a>,
    number: u32,
    encoding: ScalarEncoding,
    /// What is left of the packed run being read.
    packed: &'a [u8],
}

impl<'a> RepeatedScalars<'a> {
    /// The elements of field `number` of the message `buf`.
    pub fn new(buf: &'a [u8], number: u32, encoding: ScalarEncoding) -> Self {
        RepeatedScalars { fields: Fields::new(buf), number, encoding, packed: &[] }
    }

    /// The number of elements, checking every one (a walk over a copy of the iterator).
    pub fn checked_len(&self) -> Result<usize, WireError> {
        self.clone().try_fold(0, |n, v| v.map(|_| n + 1))
    }

    fn fail(&mut self, e: WireError) -> Option<Result<u64, WireError>> {
        self.fields.failed = true;
        self.packed = &[];
        Some(Err(e))
    }
}

impl Iterator for RepeatedScalars<'_> {
    type Item = Result<u64, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if !self.packed.is_empty() {
                return match self.encoding {
                    ScalarEncoding::Varint => {
                        let mut pos = 0;
                        match read_varint(self.packed, &mut pos) {
                            Ok(v) => {
                                self.packed = &self.packed[pos..];
                                Some(Ok(v))
                            }
                            Err(e) => self.fail(e),
                        }
                    }
                    ScalarEncoding::Fixed64 => match self.packed.split_first_chunk::<8>() {
                        Some((b, rest)) => {
                            self.packed = rest;
                            Some(Ok(u64::from_le_bytes(*b)))
                        }
                        None => self.fail(WireError::Truncated),
                    },
                };
            }
            let f = match self.fields.next()? {
                Ok(f) => f,
                Err(e) => return self.fail(e),
            };
            if f.number != self.number {
                continue;
            }
            match (self.encoding, f.value) {
                (ScalarEncoding::Varint, Value::Varint(v)) | (ScalarEncoding::Fixed64, Value::Fixed64(v)) => {
                    return Some(Ok(v))
                }
                (_, Value::Bytes(b)) => self.packed = b,
                (_, v) => {
                    return self.fail(WireError::UnexpectedWireType { field: f.number, wire_type: v.wire_type() })
                }
            }
        }
    }
}

/// Checks that `buf` is a well-formed sequence of fields, without looking inside any of them.
pub fn check_fields(buf: &[u8]) -> Result<(), WireError> {
    for f in Fields::new(buf) {
        f?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_and_sizes() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "length of {v}");
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos).unwrap(), v);
            assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let buf = [0xffu8; 11];
        assert_eq!(read_varint(&buf, &mut 0), Err(WireError::BadVarint));
    }

    #[test]
    fn truncated_length_delimited_field_is_an_error() {
        // field 1, wire type 2, length 5, only 2 bytes follow
        let buf = [0x0a, 0x05, 1, 2];
        let r: Result<Vec<_>, _> = Fields::new(&buf).collect();
        assert_eq!(r.unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn zigzag_round_trips() {
        for (v, z) in [(0, 0u64), (-1, 1), (1, 2), (-2, 3), (i32::MAX, 0xffff_fffe), (i32::MIN, 0xffff_ffff)] {
            assert_eq!(encode_zigzag32(v), z, "{v}");
            assert_eq!(decode_zigzag32(z), v, "{z}");
        }
    }

    #[test]
    fn repeated_scalars_read_packed_unpacked_and_mixed() {
        // field 2: varint 1 (unpacked), packed [300, 2], varint 3 (unpacked); field 1 between.
        let buf = [0x10, 0x01, 0x12, 0x03, 0xac, 0x02, 0x02, 0x08, 0x07, 0x10, 0x03];
        let got: Result<Vec<u64>, _> = RepeatedScalars::new(&buf, 2, ScalarEncoding::Varint).collect();
        assert_eq!(got.unwrap(), [1, 300, 2, 3]);
        assert_eq!(RepeatedScalars::new(&buf, 2, ScalarEncoding::Varint).checked_len(), Ok(4));
        // field 1 as fixed64: one unpacked, then a packed run of two.
        let mut buf = vec![0x09];
        buf.extend_from_slice(&5u64.to_le_bytes());
        buf.extend_from_slice(&[0x0a, 16]);
        buf.extend_from_slice(&6u64.to_le_bytes());
        buf.extend_from_slice(&7u64.to_le_bytes());
        let got: Result<Vec<u64>, _> = RepeatedScalars::new(&buf, 1, ScalarEncoding::Fixed64).collect();
        assert_eq!(got.unwrap(), [5, 6, 7]);
    }

    #[test]
    fn malformed_repeated_scalars_are_errors() {
        // A packed fixed64 run of 9 bytes.
        let mut buf = vec![0x0a, 9];
        buf.extend_from_slice(&[0; 9]);
        let got: Vec<_> = RepeatedScalars::new(&buf, 1, ScalarEncoding::Fixed64).collect();
        assert_eq!(got, [Ok(0), Err(WireError::Truncated)]);
        // A packed varint run ending inside a varint.
        let got: Vec<_> = RepeatedScalars::new(&[0x0a, 0x01, 0x80], 1, ScalarEncoding::Varint).collect();
        assert_eq!(got, [Err(WireError::BadVarint)]);
        // A varint where fixed64 elements are expected.
        let got: Vec<_> = RepeatedScalars::new(&[0x08, 0x01], 1, ScalarEncoding::Fixed64).collect();
        assert_eq!(got, [Err(WireError::UnexpectedWireType { field: 1, wire_type: 0 })]);
        // A truncated message.
        let got: Vec<_> = RepeatedScalars::new(&[0x0a, 0x05], 1, ScalarEncoding::Varint).collect();
        assert_eq!(got, [Err(WireError::Truncated)]);
        assert_eq!(
            RepeatedScalars::new(&[0x0a, 0x05], 1, ScalarEncoding::Varint).checked_len(),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn group_wire_type_is_refused() {
        let buf = [0x0b]; // field 1, wire type 3 (start group)
        assert_eq!(check_fields(&buf), Err(WireError::BadWireType(3)));
    }
}
