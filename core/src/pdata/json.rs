//! OTLP/JSON at the edges: parsed into protobuf bytes when received, produced from protobuf
//! bytes for JSON outputs (the `file` exporter, `otlphttp` with `encoding: json`).
//!
//! Uses `opentelemetry-proto`'s serde support, which follows the OTLP/JSON rules: lowerCamelCase
//! keys, hex trace and span ids, 64-bit integers as decimal strings (numbers accepted), enums
//! as integers. This path builds a prost tree; it is the measured exception to bytes-first.

use super::{Payload, Signal};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest, trace::v1::ExportTraceServiceRequest,
};
use prost::Message;

/// Why OTLP/JSON could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Where in the request (`resourceSpans[0].scopeSpans[0].spans[3].traceId`) and what.
    #[error("invalid OTLP/JSON at {path}: {message}")]
    Field { path: String, message: String },
    #[error("invalid OTLP/JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid OTLP protobuf: {0}")]
    Wire(#[from] super::WireError),
}

/// Parses an OTLP/JSON `Export*ServiceRequest` into a [`Payload`] of protobuf bytes. An error
/// names the field (its JSON path) and what was expected there.
pub fn decode(signal: Signal, json: &[u8]) -> Result<Payload, JsonError> {
    let bytes = match signal {
        Signal::Traces => parse::<ExportTraceServiceRequest>(json)?.encode_to_vec(),
        Signal::Metrics => parse::<ExportMetricsServiceRequest>(json)?.encode_to_vec(),
        Signal::Logs => parse::<ExportLogsServiceRequest>(json)?.encode_to_vec(),
    };
    // The bytes were just encoded by prost, so they are well-formed; count the items.
    Ok(Payload::new(signal, Bytes::from(bytes))?)
}

fn parse<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            return JsonError::Json(inner);
        }
        let field = path.rsplit('.').next().unwrap_or("");
        let message = match field {
            "traceId" => format!("expected 32 hexadecimal digits (a 16-byte trace id): {}", plain_message(&inner)),
            "spanId" | "parentSpanId" => {
                format!("expected 16 hexadecimal digits (an 8-byte span id): {}", plain_message(&inner))
            }
            _ => plain_message(&inner),
        };
        JsonError::Field { path, message }
    })?;
    de.end()?;
    Ok(value)
}

/// serde's wording turned into OTLP's: "expected a string, found an integer" rather than
/// "invalid type: integer `5`, expected a string at line 1 column 9".
fn plain_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    if let Some(rest) = text.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {expected}, found {found}");
        }
    }
    if let Some(rest) = text.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {expected}, found {found}");
        }
    }
    text.to_string()
}

/// Writes `payload` as one line of OTLP/JSON (no trailing newline).
pub fn encode(payload: &Payload) -> Result<String, JsonError> {
    let b = payload.bytes().clone();
    Ok(match payload.signal() {
        Signal::Traces => serde_json::to_string(&ExportTraceServiceRequest::decode(b)?)?,
        Signal::Metrics => serde_json::to_string(&ExportMetricsServiceRequest::decode(b)?)?,
        Signal::Logs => serde_json::to_string(&ExportLogsServiceRequest::decode(b)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(json: &str) -> String {
        decode(Signal::Traces, json.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn a_wrong_type_names_the_field_and_what_was_expected() {
        let e = error(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}"#);
        assert!(e.starts_with("invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[0].name: expected"), "{e}");
        assert!(e.contains("found integer"), "{e}");
        assert!(!e.contains("line 1"), "{e}");
    }

    #[test]
    fn a_bad_id_names_the_field() {
        let e = error(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not hex"}]}]}]}"#);
        assert!(e.starts_with("invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[0].traceId: "), "{e}");
        assert!(e.ends_with("expected 32 hexadecimal digits (a 16-byte trace id): odd number of digits"), "{e}");
    }

    #[test]
    fn broken_json_says_where() {
        let e = error(r#"{"resourceSpans":[{"#);
        assert!(e.starts_with("invalid OTLP/JSON: "), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn valid_json_round_trips() {
        let p = decode(Signal::Traces, br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]}]}]}"#).unwrap();
        assert_eq!(p.items(), 1);
        assert!(encode(&p).unwrap().contains("\"name\":\"a\""));
    }
}
