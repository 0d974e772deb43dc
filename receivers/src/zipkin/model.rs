//! Zipkin v2 spans as the receiver reads them: JSON (`[{...}]`, zipkin-go's `SpanModel`
//! encoding) and protobuf (`zipkin.proto3.ListOfSpans`).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub service_name: String,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: u16,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSpan {
    pub trace_id_high: u64,
    pub trace_id_low: u64,
    pub id: u64,
    pub parent_id: Option<u64>,
    pub name: String,
    pub kind: Option<Kind>,
    /// Microseconds since the epoch; `None` when absent (or 0).
    pub timestamp_us: Option<u64>,
    pub duration_us: u64,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    /// (microseconds, value).
    pub annotations: Vec<(u64, String)>,
    /// Ordered by key (Go's map has no order; this one is deterministic).
    pub tags: BTreeMap<String, String>,
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ZipkinError {
    #[error("invalid Zipkin v2 JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid Zipkin v2 protobuf: {0}")]
    Proto(#[from] prost::DecodeError),
    #[error("invalid {what}: {value:?}")]
    Id { what: &'static str, value: String },
    #[error("invalid Zipkin span: {0}")]
    Invalid(String),
}

fn hex_u64(what: &'static str, s: &str) -> Result<u64, ZipkinError> {
    if s.is_empty() || s.len() > 16 {
        return Err(ZipkinError::Id { what, value: s.to_string() });
    }
    u64::from_str_radix(s, 16).map_err(|_| ZipkinError::Id { what, value: s.to_string() })
}

/// zipkin-go's `TraceID.UnmarshalJSON`: up to 32 hex digits, the high half from those beyond 16.
fn trace_id(s: &str) -> Result<(u64, u64), ZipkinError> {
    let bad = || ZipkinError::Id { what: "traceId", value: s.to_string() };
    if s.is_empty() || s.len() > 32 {
        return Err(bad());
    }
    if s.len() > 16 {
        let (h, l) = s.split_at(s.len() - 16);
        Ok((hex_u64("traceId", h).map_err(|_| bad())?, hex_u64("traceId", l).map_err(|_| bad())?))
    } else {
        Ok((0, hex_u64("traceId", s)?))
    }
}

mod json {
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Span {
        #[serde(default)]
        pub trace_id: String,
        #[serde(default)]
        pub id: String,
        pub parent_id: Option<String>,
        #[serde(default)]
        pub name: String,
        pub kind: Option<String>,
        pub timestamp: Option<u64>,
        pub duration: Option<u64>,
        pub local_endpoint: Option<Endpoint>,
        pub remote_endpoint: Option<Endpoint>,
        #[serde(default)]
        pub annotations: Vec<Annotation>,
        #[serde(default)]
        pub tags: BTreeMap<String, String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Endpoint {
        #[serde(default)]
        pub service_name: String,
        pub ipv4: Option<String>,
        pub ipv6: Option<String>,
        #[serde(default)]
        pub port: u16,
    }

    #[derive(Deserialize)]
    pub struct Annotation {
        #[serde(default)]
        pub timestamp: u64,
        #[serde(default)]
        pub value: String,
    }
}

fn endpoint_from_json(e: Option<json::Endpoint>) -> Option<Endpoint> {
    let e = e?;
    let ep = Endpoint {
        service_name: e.service_name,
        ipv4: e.ipv4.and_then(|s| s.parse().ok()),
        ipv6: e.ipv6.and_then(|s| s.parse().ok()),
        port: e.port,
    };
    // zipkin-go drops an empty endpoint.
    (ep != Endpoint::default()).then_some(ep)
}

fn kind(s: &str) -> Option<Kind> {
    match s.to_ascii_uppercase().as_str() {
        "CLIENT" => Some(Kind::Client),
        "SERVER" => Some(Kind::Server),
        "PRODUCER" => Some(Kind::Producer),
        "CONSUMER" => Some(Kind::Consumer),
        _ => None,
    }
}

/// Reads a v2 JSON body: an array of spans.
pub fn read_json_v2(body: &[u8]) -> Result<Vec<ZSpan>, ZipkinError> {
    let spans: Vec<json::Span> = serde_json::from_slice(body)?;
    spans
        .into_iter()
        .map(|s| {
            let (trace_id_high, trace_id_low) = trace_id(&s.trace_id)?;
            let parent_id = match s.parent_id.as_deref() {
                None | Some("") => None,
                Some(p) => Some(hex_u64("parentId", p)?),
            };
            Ok(ZSpan {
                trace_id_high,
                trace_id_low,
                id: hex_u64("id", &s.id)?,
                parent_id,
                name: s.name,
                kind: s.kind.as_deref().and_then(kind),
                timestamp_us: s.timestamp.filter(|t| *t > 0),
                duration_us: s.duration.unwrap_or(0),
                local_endpoint: endpoint_from_json(s.local_endpoint),
                remote_endpoint: endpoint_from_json(s.remote_endpoint),
                annotations: s.annotations.into_iter().map(|a| (a.timestamp, a.value)).collect(),
                tags: s.tags,
            })
        })
        .collect()
}

/// `zipkin.proto3`, declared by hand.
mod proto {
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub struct ListOfSpans {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub parent_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub id: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub kind: i32,
        #[prost(string, tag = "5")]
        pub name: String,
        #[prost(fixed64, tag = "6")]
        pub timestamp: u64,
        #[prost(uint64, tag = "7")]
        pub duration: u64,
        #[prost(message, optional, tag = "8")]
        pub local_endpoint: Option<Endpoint>,
        #[prost(message, optional, tag = "9")]
        pub remote_endpoint: Option<Endpoint>,
        #[prost(message, repeated, tag = "10")]
        pub annotations: Vec<Annotation>,
        #[prost(btree_map = "string, string", tag = "11")]
        pub tags: std::collections::BTreeMap<String, String>,
        #[prost(bool, tag = "12")]
        pub debug: bool,
        #[prost(bool, tag = "13")]
        pub shared: bool,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Endpoint {
        #[prost(string, tag = "1")]
        pub service_name: String,
        #[prost(bytes = "vec", tag = "2")]
        pub ipv4: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub ipv6: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub port: i32,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Annotation {
        #[prost(fixed64, tag = "1")]
        pub timestamp: u64,
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

fn be_u64(what: &'static str, b: &[u8]) -> Result<u64, ZipkinError> {
    let bytes: [u8; 8] =
        b.try_into().map_err(|_| ZipkinError::Invalid(format!("{what} has {} bytes, expected 8", b.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Reads a v2 protobuf body (`ListOfSpans`).
pub fn read_proto_v2(body: &[u8]) -> Result<Vec<ZSpan>, ZipkinError> {
    use prost::Message;
    let list = proto::ListOfSpans::decode(body)?;
    let endpoint = |e: Option<proto::Endpoint>| {
        let e = e?;
        let ep = Endpoint {
            service_name: e.service_name,
            ipv4: <[u8; 4]>::try_from(e.ipv4.as_slice()).ok().map(Ipv4Addr::from),
            ipv6: <[u8; 16]>::try_from(e.ipv6.as_slice()).ok().map(Ipv6Addr::from),
            port: u16::try_from(e.port).unwrap_or(0),
        };
        (ep != Endpoint::default()).then_some(ep)
    };
    list.spans
        .into_iter()
        .map(|s| {
            let (trace_id_high, trace_id_low) = match s.trace_id.len() {
                8 => (0, be_u64("trace_id", &s.trace_id)?),
                16 => (be_u64("trace_id", &s.trace_id[..8])?, be_u64("trace_id", &s.trace_id[8..])?),
                n => return Err(ZipkinError::Invalid(format!("trace_id has {n} bytes, expected 8 or 16"))),
            };
            let parent_id = if s.parent_id.is_empty() { None } else { Some(be_u64("parent_id", &s.parent_id)?) };
            let kind = match s.kind {
                1 => Some(Kind::Client),
                2 => Some(Kind::Server),
                3 => Some(Kind::Producer),
                4 => Some(Kind::Consumer),
                _ => None,
            };
            Ok(ZSpan {
                trace_id_high,
                trace_id_low,
                id: be_u64("id", &s.id)?,
                parent_id,
                name: s.name,
                kind,
                timestamp_us: (s.timestamp > 0).then_some(s.timestamp),
                duration_us: s.duration,
                local_endpoint: endpoint(s.local_endpoint),
                remote_endpoint: endpoint(s.remote_endpoint),
                annotations: s.annotations.into_iter().map(|a| (a.timestamp, a.value)).collect(),
                tags: s.tags,
            })
        })
        .collect()
}
