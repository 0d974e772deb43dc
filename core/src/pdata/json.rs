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
    #[error("invalid OTLP/JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid OTLP protobuf: {0}")]
    Wire(#[from] super::WireError),
}

/// Parses an OTLP/JSON `Export*ServiceRequest` into a [`Payload`] of protobuf bytes.
pub fn decode(signal: Signal, json: &[u8]) -> Result<Payload, JsonError> {
    let bytes = match signal {
        Signal::Traces => serde_json::from_slice::<ExportTraceServiceRequest>(json)?.encode_to_vec(),
        Signal::Metrics => serde_json::from_slice::<ExportMetricsServiceRequest>(json)?.encode_to_vec(),
        Signal::Logs => serde_json::from_slice::<ExportLogsServiceRequest>(json)?.encode_to_vec(),
    };
    // The bytes were just encoded by prost, so they are well-formed; count the items.
    Ok(Payload::new(signal, Bytes::from(bytes))?)
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
