//! Editing encoded messages in place of decoding them: an edited item is its received fields,
//! copied byte for byte, minus the ones that change, plus their new values appended.
//!
//! Protobuf makes this exact: fields may come in any order, and for a non-repeated field the
//! last occurrence wins, so "copy all but field N, then append N" is the message with N
//! replaced, and appending to a repeated field (an attribute) extends it. Nothing else of the
//! item is decoded or re-encoded, so unknown fields and the sender's encoding choices survive.
//!
//! - [`copy_fields`] copies the fields a predicate keeps;
//! - `write_*_field` append one field of each wire type;
//! - [`write_key_value`] appends a `KeyValue` (an attribute) with any [`AnyValue`].
//!
//! Field numbers come from [`super::proto`]; see `crate::sampling::rewrite_span` for a use.

use super::proto;
use super::views::AnyValue;
use super::wire::{varint_len, write_len_prefix, write_varint, Field, Fields, WireError};

/// Appends to `out` every field of `message` that `keep` accepts, byte for byte and in wire
/// order. When `message` is malformed, `out` is left as it was and the error is returned.
pub fn copy_fields(
    out: &mut Vec<u8>,
    message: &[u8],
    mut keep: impl FnMut(&Field<'_>) -> bool,
) -> Result<(), WireError> {
    let start = out.len();
    for f in Fields::new(message) {
        match f {
            Ok(f) if keep(&f) => out.extend_from_slice(&message[f.start..f.end]),
            Ok(_) => {}
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The length of the tag of field `number` (whatever its wire type).
fn tag_len(number: u32) -> usize {
    // The wire type takes the low 3 bits and never changes the length for a given number.
    varint_len(u64::from(number) << 3)
}

fn write_tag(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    write_varint(out, (u64::from(number) << 3) | u64::from(wire_type));
}

/// Appends a length-delimited field: a string, bytes, or an encoded message.
pub fn write_bytes_field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    write_len_prefix(out, number, value.len());
    out.extend_from_slice(value);
}

/// Appends a varint field (`uint32`, `int64`, `bool`, an enum, …: pass the value as protobuf
/// encodes it, e.g. `v as i64 as u64` for a negative `int32`).
pub fn write_varint_field(out: &mut Vec<u8>, number: u32, value: u64) {
    write_tag(out, number, 0);
    write_varint(out, value);
}

/// Appends a `fixed64` / `sfixed64` field.
pub fn write_fixed64_field(out: &mut Vec<u8>, number: u32, value: u64) {
    write_tag(out, number, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a `double` field.
pub fn write_double_field(out: &mut Vec<u8>, number: u32, value: f64) {
    write_fixed64_field(out, number, value.to_bits());
}

/// Appends a `fixed32` field.
pub fn write_fixed32_field(out: &mut Vec<u8>, number: u32, value: u32) {
    write_tag(out, number, 5);
    out.extend_from_slice(&value.to_le_bytes());
}

/// The length of a length-delimited field with a body of `len` bytes.
fn nested_len(number: u32, len: usize) -> usize {
    tag_len(number) + varint_len(len as u64) + len
}

/// The encoded length of the message `AnyValue { value }` (without tag and length).
pub fn any_value_len(value: &AnyValue<'_>) -> usize {
    use proto::any_value::*;
    match *value {
        AnyValue::Empty => 0,
        AnyValue::String(s) => nested_len(STRING_VALUE, s.len()),
        AnyValue::Bool(_) => tag_len(BOOL_VALUE) + 1,
        AnyValue::Int(i) => tag_len(INT_VALUE) + varint_len(i as u64),
        AnyValue::Double(_) => tag_len(DOUBLE_VALUE) + 8,
        AnyValue::Array(b) => nested_len(ARRAY_VALUE, b.len()),
        AnyValue::KvList(b) => nested_len(KVLIST_VALUE, b.len()),
        AnyValue::Bytes(b) => nested_len(BYTES_VALUE, b.len()),
    }
}

/// Appends the message `AnyValue { value }` (without tag and length). The value is written even
/// when it is its type's default (`false`, `0`, `""`), as protobuf does for a `oneof`.
pub fn write_any_value(out: &mut Vec<u8>, value: &AnyValue<'_>) {
    use proto::any_value::*;
    match *value {
        AnyValue::Empty => {}
        AnyValue::String(s) => write_bytes_field(out, STRING_VALUE, s.as_bytes()),
        AnyValue::Bool(b) => write_varint_field(out, BOOL_VALUE, u64::from(b)),
        AnyValue::Int(i) => write_varint_field(out, INT_VALUE, i as u64),
        AnyValue::Double(d) => write_double_field(out, DOUBLE_VALUE, d),
        AnyValue::Array(b) => write_bytes_field(out, ARRAY_VALUE, b),
        AnyValue::KvList(b) => write_bytes_field(out, KVLIST_VALUE, b),
        AnyValue::Bytes(b) => write_bytes_field(out, BYTES_VALUE, b),
    }
}

/// Appends `KeyValue { key, value }` as field `number` of the message being written (e.g.
/// [`proto::span::ATTRIBUTES`] to add an attribute to a span). The value is always present,
/// an [`AnyValue::Empty`] as an empty `AnyValue`.
pub fn write_key_value(out: &mut Vec<u8>, number: u32, key: &str, value: &AnyValue<'_>) {
    use proto::key_value::*;
    let value_len = any_value_len(value);
    let kv_len = nested_len(KEY, key.len()) + nested_len(VALUE, value_len);
    write_len_prefix(out, number, kv_len);
    write_bytes_field(out, KEY, key.as_bytes());
    write_len_prefix(out, VALUE, value_len);
    let before = out.len();
    write_any_value(out, value);
    debug_assert_eq!(out.len() - before, value_len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdata::views::{AnyValueView, SpanView};
    use opentelemetry_proto::tonic::common::v1::{
        any_value::Value as V, AnyValue as PAny, ArrayValue, KeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message;

    fn span() -> Span {
        Span {
            trace_id: vec![1; 16],
            trace_state: "a=1".into(),
            name: "op".into(),
            attributes: vec![KeyValue {
                key: "k".into(),
                value: Some(PAny { value: Some(V::IntValue(1)) }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn copy_fields_leaves_out_what_keep_refuses() {
        let bytes = span().encode_to_vec();
        let mut out = vec![0xaa];
        copy_fields(&mut out, &bytes, |f| f.number != proto::span::TRACE_STATE).unwrap();
        write_bytes_field(&mut out, proto::span::TRACE_STATE, b"b=2");
        let got = Span::decode(&out[1..]).unwrap();
        assert_eq!(got, Span { trace_state: "b=2".into(), ..span() });
        assert_eq!(out[0], 0xaa, "what was in `out` stays");
    }

    #[test]
    fn copy_fields_of_malformed_input_appends_nothing() {
        let mut out = vec![7];
        let err = copy_fields(&mut out, &[0x0a, 0x01, 0x61, 0x12, 0x05], |_| true).unwrap_err();
        assert_eq!(err, WireError::Truncated);
        assert_eq!(out, [7]);
    }

    #[test]
    fn key_values_of_every_type_encode_as_prost_does() {
        let array = ArrayValue { values: vec![PAny { value: Some(V::IntValue(-5)) }] }.encode_to_vec();
        let kvlist = KeyValueList {
            values: vec![KeyValue {
                key: "x".into(),
                value: Some(PAny { value: Some(V::BoolValue(true)) }),
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let cases: Vec<(AnyValue<'_>, Option<V>)> = vec![
            (AnyValue::Empty, None),
            (AnyValue::String(""), Some(V::StringValue(String::new()))),
            (AnyValue::String("héllo"), Some(V::StringValue("héllo".into()))),
            (AnyValue::Bool(false), Some(V::BoolValue(false))),
            (AnyValue::Bool(true), Some(V::BoolValue(true))),
            (AnyValue::Int(0), Some(V::IntValue(0))),
            (AnyValue::Int(-1), Some(V::IntValue(-1))),
            (AnyValue::Int(i64::MAX), Some(V::IntValue(i64::MAX))),
            (AnyValue::Double(-0.5), Some(V::DoubleValue(-0.5))),
            (AnyValue::Bytes(&[0, 255]), Some(V::BytesValue(vec![0, 255]))),
            (AnyValue::Array(&array), Some(V::ArrayValue(ArrayValue::decode(&array[..]).unwrap()))),
            (AnyValue::KvList(&kvlist), Some(V::KvlistValue(KeyValueList::decode(&kvlist[..]).unwrap()))),
        ];
        for (value, want) in cases {
            let mut out = Vec::new();
            write_key_value(&mut out, proto::span::ATTRIBUTES, "key", &value);
            let want = KeyValue { key: "key".into(), value: Some(PAny { value: want }), ..Default::default() };
            let expected = Span { attributes: vec![want.clone()], ..Default::default() }.encode_to_vec();
            assert_eq!(out, expected, "{value:?}");
            // And it reads back through the views.
            let got = SpanView::new(&out).attributes().get("key").unwrap().unwrap();
            assert_eq!(got.get().unwrap(), value);
            let mut any = Vec::new();
            write_any_value(&mut any, &value);
            assert_eq!(any.len(), any_value_len(&value));
            assert_eq!(AnyValueView::new(&any).get().unwrap(), value);
        }
    }

    #[test]
    fn scalar_fields_encode_as_prost_does() {
        let mut out = Vec::new();
        write_fixed64_field(&mut out, proto::span::START_TIME_UNIX_NANO, 7);
        write_varint_field(&mut out, proto::span::KIND, 2);
        write_fixed32_field(&mut out, proto::span::FLAGS, 0x301);
        write_varint_field(&mut out, proto::span::DROPPED_LINKS_COUNT, 300);
        let want =
            Span { start_time_unix_nano: 7, kind: 2, flags: 0x301, dropped_links_count: 300, ..Default::default() };
        assert_eq!(Span::decode(&out[..]).unwrap(), want);
    }
}
