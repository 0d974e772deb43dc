//! `AnyValue`s as text, the way the Collector's ClickHouse exporter stringifies attribute
//! values and log bodies: one implementation for every exporter that stores attributes as
//! strings (`parquet`'s and `clickhouse`'s attribute maps, log bodies).

use super::views::{AnyValue, AnyValueView, ArrayView, Attributes};
use super::wire::WireError;
use base64::Engine;
use std::fmt::Write;

/// An `AnyValue` as a map value: strings as they are, numbers and booleans in decimal, bytes in
/// base64, arrays and maps as JSON text ([`write_json`]), an empty value as `""`.
pub fn write_value(out: &mut String, value: AnyValueView<'_>) -> Result<(), WireError> {
    match value.get()? {
        AnyValue::Empty => {}
        AnyValue::String(s) => out.push_str(s),
        AnyValue::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        AnyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        AnyValue::Double(d) => {
            let _ = write!(out, "{d}");
        }
        AnyValue::Bytes(b) => base64::engine::general_purpose::STANDARD.encode_string(b, out),
        AnyValue::Array(_) | AnyValue::KvList(_) => write_json(out, value)?,
    }
    Ok(())
}

/// An `AnyValue` as JSON text (log bodies, nested values): strings quoted, bytes as base64
/// strings, non-finite doubles as strings (`"NaN"`), an empty value as `null`.
pub fn write_json(out: &mut String, value: AnyValueView<'_>) -> Result<(), WireError> {
    match value.get()? {
        AnyValue::Empty => out.push_str("null"),
        AnyValue::String(s) => push_json_string(out, s),
        AnyValue::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        AnyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        AnyValue::Double(d) if d.is_finite() => {
            let _ = write!(out, "{d}");
        }
        AnyValue::Double(d) => push_json_string(out, &d.to_string()),
        AnyValue::Bytes(b) => push_json_string(out, &base64::engine::general_purpose::STANDARD.encode(b)),
        AnyValue::Array(buf) => {
            out.push('[');
            for (i, element) in ArrayView::new(buf).values().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, element?)?;
            }
            out.push(']');
        }
        AnyValue::KvList(buf) => {
            out.push('{');
            let mut first = true;
            for kv in Attributes::key_value_list(buf).iter() {
                let (k, v) = kv?;
                if !first {
                    out.push(',');
                }
                first = false;
                push_json_string(out, k);
                out.push(':');
                write_json(out, v)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes exactly as JSON requires; serializing a str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue as PAny, ArrayValue as PArray, KeyValue, KeyValueList,
    };
    use prost::Message;

    fn stringify(v: any_value::Value, json: bool) -> String {
        let bytes = PAny { value: Some(v) }.encode_to_vec();
        let mut out = String::new();
        if json {
            write_json(&mut out, AnyValueView::new(&bytes)).unwrap();
        } else {
            write_value(&mut out, AnyValueView::new(&bytes)).unwrap();
        }
        out
    }

    #[test]
    fn scalar_values_are_stringified_like_the_collectors_clickhouse_exporter() {
        use any_value::Value::*;
        assert_eq!(stringify(StringValue("GET".into()), false), "GET");
        assert_eq!(stringify(IntValue(-42), false), "-42");
        assert_eq!(stringify(DoubleValue(0.5), false), "0.5");
        assert_eq!(stringify(DoubleValue(2.0), false), "2");
        assert_eq!(stringify(BoolValue(true), false), "true");
        assert_eq!(stringify(BytesValue(vec![1, 2, 3]), false), "AQID");
    }

    #[test]
    fn nested_values_become_json() {
        use any_value::Value::*;
        let kv = |k: &str, v| KeyValue { key: k.into(), value: Some(PAny { value: Some(v) }), ..Default::default() };
        let list = KvlistValue(KeyValueList {
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
        assert_eq!(stringify(list, false), r#"{"a":"x\"y","b":[1,false]}"#);
        assert_eq!(stringify(StringValue("hi".into()), true), r#""hi""#);
        assert_eq!(stringify(DoubleValue(f64::NAN), true), r#""NaN""#);
    }
}
