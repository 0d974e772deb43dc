//! What the receivers that translate a foreign format (`jaeger`, `zipkin`) share: an attribute
//! map with the Collector's `pcommon.Map` semantics, id conversions, and the one encode to OTLP
//! bytes at the edge.
//!
//! Translation builds `opentelemetry-proto`'s prost types and encodes them once
//! ([`encode_traces`]). Writing the wire format directly would skip the intermediate structs,
//! but the Collector's rules edit attribute maps after filling them (status and kind tags are
//! looked up and removed, `hostname` renamed, …), which a tree makes plain; the encode is a
//! minor share of the translation's cost (see BENCHMARKS.md, "jaeger and zipkin translation").

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use weir_core::{Payload, Signal};

/// An attribute map as pdata's `pcommon.Map`: insertion order kept, `put` replaces the value of
/// an existing key in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Attrs(pub Vec<KeyValue>);

impl Attrs {
    pub(crate) fn with_capacity(n: usize) -> Attrs {
        Attrs(Vec::with_capacity(n))
    }

    pub(crate) fn put(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = Some(AnyValue { value: Some(value) }),
            None => self.0.push(KeyValue {
                key: key.to_string(),
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            }),
        }
    }

    pub(crate) fn put_str(&mut self, key: &str, value: impl Into<String>) {
        self.put(key, Value::StringValue(value.into()));
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
    }

    /// The value as pdata's `Value.Str()` gives it: the string, or "" for other types.
    pub(crate) fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).map(|v| match v {
            Value::StringValue(s) => s.as_str(),
            _ => "",
        })
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|kv| kv.key == key)?;
        self.0.remove(i).value.and_then(|v| v.value)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn into_vec(self) -> Vec<KeyValue> {
        self.0
    }
}

/// A 16-byte trace id from its two big-endian halves (the Collector's `idutils`).
pub(crate) fn trace_id(high: u64, low: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&high.to_be_bytes());
    id.extend_from_slice(&low.to_be_bytes());
    id
}

/// An 8-byte span id.
pub(crate) fn span_id(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

/// The empty id where the Collector leaves the field unset (a zero parent).
pub(crate) fn parent_span_id(id: u64) -> Vec<u8> {
    if id == 0 {
        Vec::new()
    } else {
        span_id(id)
    }
}

/// Encodes translated spans as one `ExportTraceServiceRequest`.
pub(crate) fn encode_traces(resource_spans: Vec<ResourceSpans>) -> Payload {
    let items = resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum();
    let bytes = Bytes::from(ExportTraceServiceRequest { resource_spans }.encode_to_vec());
    Payload::from_counted(Signal::Traces, bytes, items)
}

/// The OTel status rule for an HTTP status code where the span kind does not decide
/// (`tracetranslator.StatusCodeFromHTTP`): 100–398 leave the status unset, anything else is an
/// error (upstream's bound is `< 399`).
pub(crate) fn status_from_http(code: i64) -> i32 {
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    if (100..399).contains(&code) {
        StatusCode::Unset as i32
    } else {
        StatusCode::Error as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_in_place_and_remove_returns_the_value() {
        let mut a = Attrs::default();
        a.put_str("a", "1");
        a.put_str("b", "2");
        a.put("a", Value::IntValue(3));
        assert_eq!(a.0.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(a.get("a"), Some(&Value::IntValue(3)));
        assert_eq!(a.get_str("a"), Some(""));
        assert_eq!(a.remove("b"), Some(Value::StringValue("2".into())));
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn ids_are_big_endian() {
        assert_eq!(trace_id(1, 2), [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert!(parent_span_id(0).is_empty());
        assert_eq!(span_id(0x0102), [0, 0, 0, 0, 0, 0, 1, 2]);
    }
}
