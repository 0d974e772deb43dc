//! Thrift's binary and compact protocols, reading only: enough for Jaeger's `Batch` and the
//! agent's `emitBatch` call (jaeger-idl `jaeger.thrift`, `agent.thrift`).
//!
//! Written here rather than taken from the `thrift` crate: the two readers are ~300 lines, need no
//! code generation, and read straight from the received buffer with every length checked against
//! what is left of it, so a truncated or hostile packet is an error, never a panic or a large
//! allocation (a list header claiming 2³¹ elements is refused when the buffer cannot hold them).
//!
//! Wire formats (Apache Thrift `doc/specs/thrift-binary-protocol.md`,
//! `thrift-compact-protocol.md`):
//!
//! - binary: field header = type byte + big-endian i16 id; integers big-endian; strings and
//!   binaries i32 length + bytes; lists = element type byte + i32 size; a message starts with
//!   `0x8001_00tt` (strict) then the method name and an i32 sequence id.
//! - compact: field header = one byte, high nibble a delta to the previous field id (0: an
//!   explicit zigzag i16 follows), low nibble the type (booleans carry their value in the type);
//!   integers are zigzag varints; doubles little-endian; lists = one byte (size ≤ 14 in the high
//!   nibble, else 0xF + varint size) with the element type in the low nibble; a message starts
//!   with `0x82`, a byte of version (1) and type (high 3 bits), a varint sequence id, the name.

use thiserror::Error;

/// Why a thrift message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ThriftError {
    #[error("truncated thrift data: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("invalid thrift data at offset {offset}: {what}")]
    Invalid { offset: usize, what: String },
    #[error("thrift struct {strukt} lacks its required field {field}")]
    MissingField { strukt: &'static str, field: &'static str },
    #[error("thrift data nests deeper than 64 levels")]
    TooDeep,
}

/// Nesting allowed when skipping unknown fields (Jaeger's own structs are 4 levels deep).
pub const MAX_DEPTH: usize = 64;

/// Thrift type ids, as the binary protocol writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TType {
    Stop,
    Bool,
    Byte,
    Double,
    I16,
    I32,
    I64,
    /// Strings and binaries share one type.
    Binary,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

impl TType {
    fn from_binary(b: u8) -> Option<TType> {
        Some(match b {
            0 => TType::Stop,
            2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::Double,
            6 => TType::I16,
            8 => TType::I32,
            10 => TType::I64,
            11 => TType::Binary,
            12 => TType::Struct,
            13 => TType::Map,
            14 => TType::Set,
            15 => TType::List,
            16 => TType::Uuid,
            _ => return None,
        })
    }

    fn from_compact(b: u8) -> Option<TType> {
        Some(match b {
            0 => TType::Stop,
            1 | 2 => TType::Bool,
            3 => TType::Byte,
            4 => TType::I16,
            5 => TType::I32,
            6 => TType::I64,
            7 => TType::Double,
            8 => TType::Binary,
            9 => TType::List,
            10 => TType::Set,
            11 => TType::Map,
            12 => TType::Struct,
            13 => TType::Uuid,
            _ => return None,
        })
    }

    /// The fewest bytes one value of this type takes on the wire (in either protocol), to refuse
    /// list headers that claim more elements than the buffer can hold.
    fn min_size(self) -> usize {
        match self {
            TType::Bool | TType::Byte | TType::I16 | TType::I32 | TType::I64 => 1,
            TType::Binary | TType::Struct | TType::Map | TType::Set | TType::List | TType::Stop => 1,
            TType::Double => 8,
            TType::Uuid => 16,
        }
    }
}

/// The two protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Binary,
    Compact,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Binary => "binary",
            Protocol::Compact => "compact",
        }
    }
}

/// The header of a thrift call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    pub name: String,
    /// 1 call, 2 reply, 3 exception, 4 oneway.
    pub kind: u8,
    pub seq_id: i32,
}

/// Reads thrift values from a buffer in one protocol.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    protocol: Protocol,
    /// Compact: the id of the previous field of each open struct.
    last_field: Vec<i16>,
    /// Compact: a boolean field's value, carried in its header.
    pending_bool: Option<bool>,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], protocol: Protocol) -> Self {
        Reader { buf, pos: 0, protocol, last_field: Vec::new(), pending_bool: None }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn invalid<T>(&self, what: impl Into<String>) -> Result<T, ThriftError> {
        Err(ThriftError::Invalid { offset: self.pos, what: what.into() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ThriftError> {
        let left = self.buf.len() - self.pos;
        if n > left {
            return Err(ThriftError::Truncated { offset: self.pos, needed: n - left });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, ThriftError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, ThriftError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return self.invalid("varint longer than 64 bits");
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        self.invalid("varint longer than 10 bytes")
    }

    fn zigzag(v: u64) -> i64 {
        ((v >> 1) as i64) ^ -((v & 1) as i64)
    }

    /// Reads a call's header (strict binary, or compact).
    pub fn message_begin(&mut self) -> Result<MessageHeader, ThriftError> {
        match self.protocol {
            Protocol::Binary => {
                let word = self.i32_raw()?;
                if word >= 0 {
                    // The old, non-strict form: the name comes first.
                    return self.invalid("a non-strict binary message header (expected version 0x8001)");
                }
                let version = (word as u32) & 0xffff_0000;
                if version != 0x8001_0000 {
                    return self.invalid(format!("unknown binary protocol version {version:#x}"));
                }
                let kind = (word & 0xff) as u8;
                let name = self.string()?;
                let seq_id = self.i32_raw()?;
                Ok(MessageHeader { name, kind, seq_id })
            }
            Protocol::Compact => {
                let id = self.byte()?;
                if id != 0x82 {
                    return self.invalid(format!("not a compact protocol message (first byte {id:#x}, expected 0x82)"));
                }
                let vt = self.byte()?;
                if vt & 0x1f != 1 {
                    return self.invalid(format!("unknown compact protocol version {}", vt & 0x1f));
                }
                let kind = vt >> 5;
                let seq_id = self.varint()? as i32;
                let name = self.string()?;
                Ok(MessageHeader { name, kind, seq_id })
            }
        }
    }

    pub fn struct_begin(&mut self) {
        self.last_field.push(0);
    }

    pub fn struct_end(&mut self) {
        self.last_field.pop();
    }

    /// The next field's type and id; `TType::Stop` ends the struct.
    pub fn field_begin(&mut self) -> Result<(TType, i16), ThriftError> {
        match self.protocol {
            Protocol::Binary => {
                let t = self.byte()?;
                let Some(ty) = TType::from_binary(t) else { return self.invalid(format!("unknown field type {t}")) };
                if ty == TType::Stop {
                    return Ok((ty, 0));
                }
                let id = i16::from_be_bytes(self.take(2)?.try_into().expect("two bytes"));
                Ok((ty, id))
            }
            Protocol::Compact => {
                let b = self.byte()?;
                let Some(ty) = TType::from_compact(b & 0x0f) else {
                    return self.invalid(format!("unknown field type {}", b & 0x0f));
                };
                if ty == TType::Stop {
                    return Ok((ty, 0));
                }
                let delta = b >> 4;
                let last = self.last_field.last().copied().unwrap_or(0);
                let id = if delta == 0 {
                    let v = Self::zigzag(self.varint()?);
                    match i16::try_from(v) {
                        Ok(id) => id,
                        Err(_) => return self.invalid(format!("field id {v} out of range")),
                    }
                } else {
                    last.wrapping_add(i16::from(delta))
                };
                if let Some(l) = self.last_field.last_mut() {
                    *l = id;
                }
                if ty == TType::Bool {
                    self.pending_bool = Some(b & 0x0f == 1);
                }
                Ok((ty, id))
            }
        }
    }

    /// A list's element type and size, refused when the rest of the buffer cannot hold it.
    pub fn list_begin(&mut self) -> Result<(TType, usize), ThriftError> {
        let (ty, size) = match self.protocol {
            Protocol::Binary => {
                let t = self.byte()?;
                let Some(ty) = TType::from_binary(t) else { return self.invalid(format!("unknown list type {t}")) };
                let size = self.i32_raw()?;
                if size < 0 {
                    return self.invalid(format!("negative list size {size}"));
                }
                (ty, size as usize)
            }
            Protocol::Compact => {
                let b = self.byte()?;
                let Some(ty) = TType::from_compact(b & 0x0f) else {
                    return self.invalid(format!("unknown list type {}", b & 0x0f));
                };
                let short = usize::from(b >> 4);
                let size = if short == 15 { self.varint()? as usize } else { short };
                (ty, size)
            }
        };
        let left = self.buf.len() - self.pos;
        if size.saturating_mul(ty.min_size()) > left {
            return Err(ThriftError::Truncated { offset: self.pos, needed: size * ty.min_size() - left });
        }
        Ok((ty, size))
    }

    fn i32_raw(&mut self) -> Result<i32, ThriftError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("four bytes")))
    }

    pub fn bool(&mut self) -> Result<bool, ThriftError> {
        if let Some(b) = self.pending_bool.take() {
            return Ok(b);
        }
        let b = self.byte()?;
        Ok(match self.protocol {
            Protocol::Binary => b != 0,
            // A bool inside a list: 1 true, 2 false (some writers use 0 for false).
            Protocol::Compact => b == 1,
        })
    }

    pub fn i16(&mut self) -> Result<i16, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("two bytes"))),
            Protocol::Compact => Ok(Self::zigzag(self.varint()?) as i16),
        }
    }

    pub fn i32(&mut self) -> Result<i32, ThriftError> {
        match self.protocol {
            Protocol::Binary => self.i32_raw(),
            Protocol::Compact => Ok(Self::zigzag(self.varint()?) as i32),
        }
    }

    pub fn i64(&mut self) -> Result<i64, ThriftError> {
        match self.protocol {
            Protocol::Binary => Ok(i64::from_be_bytes(self.take(8)?.try_into().expect("eight bytes"))),
            Protocol::Compact => Ok(Self::zigzag(self.varint()?)),
        }
    }

    pub fn double(&mut self) -> Result<f64, ThriftError> {
        let bytes: [u8; 8] = self.take(8)?.try_into().expect("eight bytes");
        Ok(match self.protocol {
            Protocol::Binary => f64::from_be_bytes(bytes),
            Protocol::Compact => f64::from_le_bytes(bytes),
        })
    }

    pub fn binary(&mut self) -> Result<&'a [u8], ThriftError> {
        let len = match self.protocol {
            Protocol::Binary => {
                let n = self.i32_raw()?;
                if n < 0 {
                    return self.invalid(format!("negative string length {n}"));
                }
                n as usize
            }
            Protocol::Compact => self.varint()? as usize,
        };
        self.take(len)
    }

    /// A string; invalid UTF-8 is replaced (as Go's thrift keeps the bytes, then pdata would).
    pub fn string(&mut self) -> Result<String, ThriftError> {
        Ok(String::from_utf8_lossy(self.binary()?).into_owned())
    }

    /// Skips one value of `ty` (an unknown field), nested at most [`MAX_DEPTH`] deep.
    pub fn skip(&mut self, ty: TType) -> Result<(), ThriftError> {
        self.skip_depth(ty, 0)
    }

    fn skip_depth(&mut self, ty: TType, depth: usize) -> Result<(), ThriftError> {
        if depth > MAX_DEPTH {
            return Err(ThriftError::TooDeep);
        }
        match ty {
            TType::Stop => self.invalid("unexpected stop"),
            TType::Bool => self.bool().map(drop),
            TType::Byte => self.byte().map(drop),
            TType::I16 => self.i16().map(drop),
            TType::I32 => self.i32().map(drop),
            TType::I64 => self.i64().map(drop),
            TType::Double => self.double().map(drop),
            TType::Binary => self.binary().map(drop),
            TType::Uuid => self.take(16).map(drop),
            TType::Struct => {
                self.struct_begin();
                loop {
                    let (t, _) = self.field_begin()?;
                    if t == TType::Stop {
                        break;
                    }
                    self.skip_depth(t, depth + 1)?;
                }
                self.struct_end();
                Ok(())
            }
            TType::List | TType::Set => {
                let (t, n) = self.list_begin()?;
                for _ in 0..n {
                    self.skip_depth(t, depth + 1)?;
                }
                Ok(())
            }
            TType::Map => {
                let (k, v, n) = self.map_begin()?;
                for _ in 0..n {
                    self.skip_depth(k, depth + 1)?;
                    self.skip_depth(v, depth + 1)?;
                }
                Ok(())
            }
        }
    }

    fn map_begin(&mut self) -> Result<(TType, TType, usize), ThriftError> {
        match self.protocol {
            Protocol::Binary => {
                let (k, v) = (self.byte()?, self.byte()?);
                let (Some(k), Some(v)) = (TType::from_binary(k), TType::from_binary(v)) else {
                    return self.invalid("unknown map type");
                };
                let n = self.i32_raw()?;
                if n < 0 {
                    return self.invalid(format!("negative map size {n}"));
                }
                self.check_room(n as usize, 2)?;
                Ok((k, v, n as usize))
            }
            Protocol::Compact => {
                let n = self.varint()? as usize;
                if n == 0 {
                    return Ok((TType::Stop, TType::Stop, 0));
                }
                let kv = self.byte()?;
                let (Some(k), Some(v)) = (TType::from_compact(kv >> 4), TType::from_compact(kv & 0x0f)) else {
                    return self.invalid("unknown map type");
                };
                self.check_room(n, 2)?;
                Ok((k, v, n))
            }
        }
    }

    fn check_room(&self, n: usize, each: usize) -> Result<(), ThriftError> {
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(each) > left {
            return Err(ThriftError::Truncated { offset: self.pos, needed: n * each - left });
        }
        Ok(())
    }

    /// Reads one value of a field of `ty` for which `expect` was required, else skips it (a
    /// writer's type mismatch is ignored as Go's generated readers do).
    pub fn matches(&mut self, ty: TType, expect: TType) -> Result<bool, ThriftError> {
        if ty == expect {
            return Ok(true);
        }
        self.skip(ty)?;
        Ok(false)
    }
}

#[cfg(test)]
pub(crate) mod writer {
    //! A minimal thrift writer for tests: builds binary and compact messages by hand.

    use super::Protocol;

    pub struct Writer {
        pub out: Vec<u8>,
        protocol: Protocol,
        last: Vec<i16>,
    }

    /// Binary type ids.
    pub const BOOL: u8 = 2;
    pub const DOUBLE: u8 = 4;
    pub const I32: u8 = 8;
    pub const I64: u8 = 10;
    pub const STRING: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const LIST: u8 = 15;

    fn compact_type(binary: u8) -> u8 {
        match binary {
            BOOL => 1,
            DOUBLE => 7,
            I32 => 5,
            I64 => 6,
            STRING => 8,
            STRUCT => 12,
            LIST => 9,
            other => panic!("type {other}"),
        }
    }

    impl Writer {
        pub fn new(protocol: Protocol) -> Writer {
            Writer { out: Vec::new(), protocol, last: vec![0] }
        }

        fn varint(&mut self, mut v: u64) {
            while v >= 0x80 {
                self.out.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.out.push(v as u8);
        }

        fn zigzag(v: i64) -> u64 {
            ((v << 1) ^ (v >> 63)) as u64
        }

        pub fn message(&mut self, name: &str, kind: u8) {
            match self.protocol {
                Protocol::Binary => {
                    self.out.extend_from_slice(&(0x8001_0000u32 | u32::from(kind)).to_be_bytes());
                    self.out.extend_from_slice(&(name.len() as i32).to_be_bytes());
                    self.out.extend_from_slice(name.as_bytes());
                    self.out.extend_from_slice(&1i32.to_be_bytes());
                }
                Protocol::Compact => {
                    self.out.push(0x82);
                    self.out.push((kind << 5) | 1);
                    self.varint(1);
                    self.varint(name.len() as u64);
                    self.out.extend_from_slice(name.as_bytes());
                }
            }
        }

        /// A field header; for compact booleans use [`Writer::bool_field`].
        pub fn field(&mut self, ty: u8, id: i16) {
            match self.protocol {
                Protocol::Binary => {
                    self.out.push(ty);
                    self.out.extend_from_slice(&id.to_be_bytes());
                }
                Protocol::Compact => {
                    let last = *self.last.last().unwrap();
                    let delta = id - last;
                    if (1..=15).contains(&delta) {
                        self.out.push(((delta as u8) << 4) | compact_type(ty));
                    } else {
                        self.out.push(compact_type(ty));
                        self.varint(Self::zigzag(i64::from(id)));
                    }
                    *self.last.last_mut().unwrap() = id;
                }
            }
        }

        pub fn bool_field(&mut self, id: i16, v: bool) {
            match self.protocol {
                Protocol::Binary => {
                    self.field(BOOL, id);
                    self.out.push(u8::from(v));
                }
                Protocol::Compact => {
                    let last = *self.last.last().unwrap();
                    let t = if v { 1 } else { 2 };
                    let delta = id - last;
                    if (1..=15).contains(&delta) {
                        self.out.push(((delta as u8) << 4) | t);
                    } else {
                        self.out.push(t);
                        self.varint(Self::zigzag(i64::from(id)));
                    }
                    *self.last.last_mut().unwrap() = id;
                }
            }
        }

        pub fn struct_begin(&mut self) {
            self.last.push(0);
        }

        pub fn stop(&mut self) {
            self.out.push(0);
            self.last.pop();
        }

        pub fn i32(&mut self, v: i32) {
            match self.protocol {
                Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
                Protocol::Compact => self.varint(Self::zigzag(i64::from(v))),
            }
        }

        pub fn i64(&mut self, v: i64) {
            match self.protocol {
                Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
                Protocol::Compact => self.varint(Self::zigzag(v)),
            }
        }

        pub fn double(&mut self, v: f64) {
            match self.protocol {
                Protocol::Binary => self.out.extend_from_slice(&v.to_be_bytes()),
                Protocol::Compact => self.out.extend_from_slice(&v.to_le_bytes()),
            }
        }

        pub fn string(&mut self, s: &[u8]) {
            match self.protocol {
                Protocol::Binary => self.out.extend_from_slice(&(s.len() as i32).to_be_bytes()),
                Protocol::Compact => self.varint(s.len() as u64),
            }
            self.out.extend_from_slice(s);
        }

        pub fn list(&mut self, elem: u8, n: usize) {
            match self.protocol {
                Protocol::Binary => {
                    self.out.push(elem);
                    self.out.extend_from_slice(&(n as i32).to_be_bytes());
                }
                Protocol::Compact => {
                    if n < 15 {
                        self.out.push(((n as u8) << 4) | compact_type(elem));
                    } else {
                        self.out.push(0xf0 | compact_type(elem));
                        self.varint(n as u64);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::writer::*;
    use super::*;

    #[test]
    fn both_protocols_read_what_they_wrote() {
        for p in [Protocol::Binary, Protocol::Compact] {
            let mut w = Writer::new(p);
            w.message("emitBatch", 4);
            w.struct_begin();
            w.field(I64, 1);
            w.i64(-5);
            w.field(STRING, 3);
            w.string(b"hello");
            w.bool_field(20, true);
            w.field(DOUBLE, 21);
            w.double(1.5);
            w.field(LIST, 22);
            w.list(I32, 20);
            for i in 0..20 {
                w.i32(i);
            }
            w.stop();
            let mut r = Reader::new(&w.out, p);
            let h = r.message_begin().unwrap();
            assert_eq!((h.name.as_str(), h.kind), ("emitBatch", 4), "{p:?}");
            r.struct_begin();
            assert_eq!(r.field_begin().unwrap(), (TType::I64, 1));
            assert_eq!(r.i64().unwrap(), -5);
            assert_eq!(r.field_begin().unwrap(), (TType::Binary, 3));
            assert_eq!(r.string().unwrap(), "hello");
            assert_eq!(r.field_begin().unwrap(), (TType::Bool, 20));
            assert!(r.bool().unwrap());
            assert_eq!(r.field_begin().unwrap(), (TType::Double, 21));
            assert_eq!(r.double().unwrap(), 1.5);
            assert_eq!(r.field_begin().unwrap(), (TType::List, 22));
            let (t, n) = r.list_begin().unwrap();
            assert_eq!((t, n), (TType::I32, 20));
            let v: Vec<i32> = (0..n).map(|_| r.i32().unwrap()).collect();
            assert_eq!(v, (0..20).collect::<Vec<_>>());
            assert_eq!(r.field_begin().unwrap().0, TType::Stop);
        }
    }

    #[test]
    fn a_list_larger_than_the_buffer_is_refused_before_allocating() {
        let mut w = Writer::new(Protocol::Binary);
        w.list(STRUCT, i32::MAX as usize);
        let mut r = Reader::new(&w.out, Protocol::Binary);
        assert!(matches!(r.list_begin(), Err(ThriftError::Truncated { .. })));
    }

    #[test]
    fn truncation_anywhere_is_an_error_not_a_panic() {
        let mut w = Writer::new(Protocol::Compact);
        w.message("emitBatch", 4);
        w.struct_begin();
        w.field(STRING, 1);
        w.string(b"abcdef");
        w.stop();
        for cut in 0..w.out.len() {
            let mut r = Reader::new(&w.out[..cut], Protocol::Compact);
            let read: Result<(), ThriftError> = (|| {
                r.message_begin()?;
                r.struct_begin();
                loop {
                    let (t, _) = r.field_begin()?;
                    if t == TType::Stop {
                        return Ok(());
                    }
                    r.skip(t)?;
                }
            })();
            assert!(read.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut buf = Vec::new();
        for _ in 0..200 {
            buf.extend_from_slice(&[STRUCT, 0, 1]);
        }
        let mut r = Reader::new(&buf, Protocol::Binary);
        assert_eq!(r.skip(TType::Struct), Err(ThriftError::TooDeep));
    }
}
