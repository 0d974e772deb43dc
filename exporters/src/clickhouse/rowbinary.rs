//! ClickHouse's `RowBinary` format, written by hand, and the Collector's value formatting.
//!
//! `RowBinary` is the row-by-row binary format of ClickHouse's HTTP interface: every value in
//! the order of the `INSERT`'s column list, with no names or types on the wire. The encodings
//! used here:
//!
//! | ClickHouse type | bytes |
//! |---|---|
//! | `String`, `LowCardinality(String)` | LEB128 length, then the bytes |
//! | `UInt8`, `Bool` / `UInt32`, `Int32` / `UInt64`, `Int64`, `Float64` | little endian, 1 / 4 / 8 bytes |
//! | `DateTime64(9)` | `Int64` nanoseconds since the epoch |
//! | `Array(T)` | LEB128 element count, then the elements |
//! | `Map(K, V)` | LEB128 entry count, then key, value, key, value… |
//!
//! A `Nested` column is inserted as its sub-columns (`Events.Timestamp`, `Events.Name`, …),
//! each an `Array`.
//!
//! Values are formatted as the Collector's exporter does (`internal/coreinternal/traceutil`,
//! `pcommon.Value.AsString`): ids in lowercase hex and `''` when all zero; attribute values
//! stringified (strings as they are, numbers in decimal, bytes in base64, arrays and maps as
//! JSON), and map keys sorted.

use weir_core::pdata::views::Attributes;
use weir_core::pdata::wire::WireError;

/// Appends `v` as LEB128 (lengths and counts).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A `String` (or `LowCardinality(String)`).
pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `DateTime64(9)` from OTLP's unsigned nanoseconds (values past 2262 are clamped).
pub fn put_datetime64_ns(out: &mut Vec<u8>, unix_nanos: u64) {
    out.extend_from_slice(&i64::try_from(unix_nanos).unwrap_or(i64::MAX).to_le_bytes());
}

/// An id (trace, span) as a lowercase hex `String`; an empty or all-zero id is `''`, as the
/// Collector's `TraceIDToHexOrEmptyString` writes it.
pub fn put_hex_id(out: &mut Vec<u8>, id: &[u8]) {
    if id.iter().all(|&b| b == 0) {
        put_varint(out, 0);
        return;
    }
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    put_varint(out, 2 * id.len() as u64);
    for b in id {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

pub use weir_core::pdata::stringify::{write_json, write_value};

/// Reused buffers for writing attribute maps: every key and stringified value goes into one
/// string, then the entries are sorted by key and written.
#[derive(Default)]
pub struct MapScratch {
    text: String,
    entries: Vec<(usize, usize, usize)>,
}

impl MapScratch {
    /// Writes `attrs` as a `Map(LowCardinality(String), String)`, keys sorted (the Collector
    /// sorts them since contrib PR #35725). Returns the number of entries.
    pub fn put_attributes(&mut self, out: &mut Vec<u8>, attrs: Attributes<'_>) -> Result<usize, WireError> {
        self.text.clear();
        self.entries.clear();
        for kv in attrs.iter() {
            let (key, value) = kv?;
            let start = self.text.len();
            self.text.push_str(key);
            let key_end = self.text.len();
            write_value(&mut self.text, value)?;
            self.entries.push((start, key_end, self.text.len()));
        }
        let text = &self.text;
        self.entries.sort_by(|a, b| text[a.0..a.1].cmp(&text[b.0..b.1]));
        put_varint(out, self.entries.len() as u64);
        for &(start, key_end, end) in &self.entries {
            put_str(out, &text.as_bytes()[start..key_end]);
            put_str(out, &text.as_bytes()[key_end..end]);
        }
        Ok(self.entries.len())
    }

    /// The encoded map of `attrs`, for maps repeated on many rows (resource, scope).
    pub fn encoded(&mut self, attrs: Attributes<'_>) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.put_attributes(&mut out, attrs)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue as PAny, ArrayValue as PArray, KeyValue, KeyValueList,
    };
    use prost::Message;
    use weir_core::pdata::views::AnyValueView;

    fn stringify(v: any_value::Value) -> String {
        let bytes = PAny { value: Some(v) }.encode_to_vec();
        let mut out = String::new();
        write_value(&mut out, AnyValueView::new(&bytes)).unwrap();
        out
    }

    fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(PAny { value: Some(v) }), ..Default::default() }
    }

    #[test]
    fn leb128_lengths() {
        let mut out = Vec::new();
        put_varint(&mut out, 0);
        put_varint(&mut out, 127);
        put_varint(&mut out, 128);
        put_varint(&mut out, 300);
        assert_eq!(out, [0x00, 0x7f, 0x80, 0x01, 0xac, 0x02]);
    }

    #[test]
    fn ids_are_lowercase_hex_and_zero_ids_are_empty() {
        let mut out = Vec::new();
        put_hex_id(&mut out, &[0xab, 0x01, 0xff]);
        put_hex_id(&mut out, &[0; 8]);
        put_hex_id(&mut out, &[]);
        assert_eq!(out, b"\x06ab01ff\x00\x00");
    }

    #[test]
    fn values_are_stringified_like_the_collector() {
        use any_value::Value::*;
        assert_eq!(stringify(StringValue("GET".into())), "GET");
        assert_eq!(stringify(IntValue(-42)), "-42");
        assert_eq!(stringify(DoubleValue(0.5)), "0.5");
        assert_eq!(stringify(BoolValue(true)), "true");
        assert_eq!(stringify(BytesValue(vec![1, 2, 3])), "AQID");
        let nested = KvlistValue(KeyValueList {
            values: vec![
                kv("a", StringValue("x\"y".into())),
                kv(
                    "b",
                    ArrayValue(PArray {
                        values: vec![PAny { value: Some(IntValue(1)) }, PAny { value: Some(BoolValue(false)) }],
                    }),
                ),
            ],
        });
        assert_eq!(stringify(nested), r#"{"a":"x\"y","b":[1,false]}"#);
    }

    #[test]
    fn maps_are_written_with_sorted_keys() {
        use any_value::Value::*;
        // A message whose field 1 holds the attributes.
        #[derive(Clone, PartialEq, prost::Message)]
        struct Holder {
            #[prost(message, repeated, tag = "1")]
            attrs: Vec<KeyValue>,
        }
        let buf = Holder { attrs: vec![kv("zone", StringValue("b".into())), kv("code", IntValue(7))] }.encode_to_vec();
        let mut out = Vec::new();
        let n = MapScratch::default().put_attributes(&mut out, Attributes::new(&buf, 1)).unwrap();
        assert_eq!(n, 2);
        assert_eq!(out, b"\x02\x04code\x017\x04zone\x01b");
    }
}
