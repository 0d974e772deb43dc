//! Jaeger's data model as the receiver reads it, from either wire format:
//!
//! - thrift (`jaeger.thrift`: `Batch`, `Process`, `Span`, `Tag`, `Log`, `SpanRef`), read with
//!   [`super::thrift::Reader`] in the binary or compact protocol: the agent's UDP `emitBatch`
//!   and the collector's `POST /api/traces`;
//! - protobuf (`api_v2/model.proto`, `collector.proto`): gRPC `PostSpans`, read with prost.
//!
//! Both land in [`Batch`]: ids as integers, times in nanoseconds. Which translation rules apply
//! depends on the source ([`Source`]), as the Collector has one translator per format.

use super::thrift::{MessageHeader, Protocol, Reader, TType, ThriftError};

/// Where a batch came from: the Collector's thrift and protobuf translators differ a little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Thrift,
    Proto,
}

/// A tag's value.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    Str(String),
    Bool(bool),
    Long(i64),
    Double(f64),
    Binary(Vec<u8>),
    /// A type number this reader does not know.
    Unknown(i32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub key: String,
    pub value: TagValue,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Log {
    pub timestamp_ns: u64,
    pub fields: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    ChildOf,
    FollowsFrom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanRef {
    pub ref_type: RefType,
    pub trace_id_high: u64,
    pub trace_id_low: u64,
    pub span_id: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Process {
    pub service_name: String,
    /// `None`: absent (thrift's optional list not written), which the translator tells apart
    /// from an empty list as the Collector's does.
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    pub trace_id_high: u64,
    pub trace_id_low: u64,
    pub span_id: u64,
    /// Thrift's explicit parent; 0 when absent (protobuf has only references).
    pub parent_span_id: u64,
    pub operation_name: String,
    pub references: Vec<SpanRef>,
    pub flags: u32,
    pub start_time_ns: u64,
    pub duration_ns: u64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
    /// Protobuf only: a span's own process, overriding the batch's.
    pub process: Option<Process>,
}

impl Span {
    /// Every field at its zero value: the Collector skips such spans.
    pub fn is_blank(&self) -> bool {
        *self == Span::default()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub process: Option<Process>,
    pub spans: Vec<Span>,
}

fn micros_to_nanos(us: i64) -> u64 {
    // As Go's `uint64(ms) * 1000`: a negative time wraps (it is garbage either way).
    (us as u64).wrapping_mul(1000)
}

/// Reads a thrift `Batch` struct.
pub fn read_thrift_batch(r: &mut Reader<'_>) -> Result<Batch, ThriftError> {
    let mut batch = Batch::default();
    r.struct_begin();
    loop {
        let (ty, id) = r.field_begin()?;
        match (ty, id) {
            (TType::Stop, _) => break,
            (t, 1) if r.matches(t, TType::Struct)? => batch.process = Some(read_process(r)?),
            (t, 2) if r.matches(t, TType::List)? => {
                let (et, n) = r.list_begin()?;
                batch.spans.reserve(n);
                for _ in 0..n {
                    if et == TType::Struct {
                        batch.spans.push(read_span(r)?);
                    } else {
                        r.skip(et)?;
                    }
                }
            }
            (_, 1 | 2) => {} // a type mismatch, already skipped
            (t, _) => r.skip(t)?,
        }
    }
    r.struct_end();
    Ok(batch)
}

fn read_list<T>(
    r: &mut Reader<'_>,
    mut item: impl FnMut(&mut Reader<'_>) -> Result<T, ThriftError>,
) -> Result<Vec<T>, ThriftError> {
    let (et, n) = r.list_begin()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if et == TType::Struct {
            out.push(item(r)?);
        } else {
            r.skip(et)?;
        }
    }
    Ok(out)
}

fn read_process(r: &mut Reader<'_>) -> Result<Process, ThriftError> {
    let mut p = Process::default();
    r.struct_begin();
    loop {
        let (ty, id) = r.field_begin()?;
        match id {
            _ if ty == TType::Stop => break,
            1 if r.matches(ty, TType::Binary)? => p.service_name = r.string()?,
            2 if r.matches(ty, TType::List)? => p.tags = Some(read_list(r, read_tag)?),
            1 | 2 => {}
            _ => r.skip(ty)?,
        }
    }
    r.struct_end();
    Ok(p)
}

fn read_tag(r: &mut Reader<'_>) -> Result<Tag, ThriftError> {
    let (mut key, mut vtype) = (None, None);
    let (mut s, mut d, mut b, mut l, mut bin) = (None, None, None, None, None);
    r.struct_begin();
    loop {
        let (ty, id) = r.field_begin()?;
        match id {
            _ if ty == TType::Stop => break,
            1 if r.matches(ty, TType::Binary)? => key = Some(r.string()?),
            2 if r.matches(ty, TType::I32)? => vtype = Some(r.i32()?),
            3 if r.matches(ty, TType::Binary)? => s = Some(r.string()?),
            4 if r.matches(ty, TType::Double)? => d = Some(r.double()?),
            5 if r.matches(ty, TType::Bool)? => b = Some(r.bool()?),
            6 if r.matches(ty, TType::I64)? => l = Some(r.i64()?),
            7 if r.matches(ty, TType::Binary)? => bin = Some(r.binary()?.to_vec()),
            1..=7 => {}
            _ => r.skip(ty)?,
        }
    }
    r.struct_end();
    let key = key.ok_or(ThriftError::MissingField { strukt: "Tag", field: "key" })?;
    let vtype = vtype.ok_or(ThriftError::MissingField { strukt: "Tag", field: "vType" })?;
    // TagType { STRING, DOUBLE, BOOL, LONG, BINARY }; an unset optional reads as its zero value.
    let value = match vtype {
        0 => TagValue::Str(s.unwrap_or_default()),
        1 => TagValue::Double(d.unwrap_or_default()),
        2 => TagValue::Bool(b.unwrap_or_default()),
        3 => TagValue::Long(l.unwrap_or_default()),
        4 => TagValue::Binary(bin.unwrap_or_default()),
        other => TagValue::Unknown(other),
    };
    Ok(Tag { key, value })
}

fn read_log(r: &mut Reader<'_>) -> Result<Log, ThriftError> {
    let mut log = Log::default();
    r.struct_begin();
    loop {
        let (ty, id) = r.field_begin()?;
        match id {
            _ if ty == TType::Stop => break,
            1 if r.matches(ty, TType::I64)? => log.timestamp_ns = micros_to_nanos(r.i64()?),
            2 if r.matches(ty, TType::List)? => log.fields = read_list(r, read_tag)?,
            1 | 2 => {}
            _ => r.skip(ty)?,
        }
    }
    r.struct_end();
    Ok(log)
}

fn read_ref(r: &mut Reader<'_>) -> Result<SpanRef, ThriftError> {
    let mut rf = SpanRef { ref_type: RefType::ChildOf, trace_id_high: 0, trace_id_low: 0, span_id: 0 };
    r.struct_begin();
    loop {
        let (ty, id) = r.field_begin()?;
        match id {
            _ if ty == TType::Stop => break,
            1 if r.matches(ty, TType::I32)? => {
                rf.ref_type = if r.i32()? == 1 { RefType::FollowsFrom } else { RefType::ChildOf }
            }
            2 if r.matches(ty, TType::I64)? => rf.trace_id_low = r.i64()? as u64,
            3 if r.matches(ty, TType::I64)? => rf.trace_id_high = r.i64()? as u64,
            4 if r.matches(ty, TType::I64)? => rf.span_id = r.i64()? as u64,
            1..=4 => {}
            _ => r.skip(ty)?,
        }
    }
    r.struct_end();
    Ok(rf)
}

fn read_span(r: &mut Reader<'_>) -> Result<Span, ThriftError> {
    let mut s = Span::default();
    let (mut start_us, mut duration_us) = (0i64, 0i64);
    r.struct_begin();
    loop {
        let (ty, id) = r.field_begin()?;
        match id {
            _ if ty == TType::Stop => break,
            1 if r.matches(ty, TType::I64)? => s.trace_id_low = r.i64()? as u64,
            2 if r.matches(ty, TType::I64)? => s.trace_id_high = r.i64()? as u64,
            3 if r.matches(ty, TType::I64)? => s.span_id = r.i64()? as u64,
            4 if r.matches(ty, TType::I64)? => s.parent_span_id = r.i64()? as u64,
            5 if r.matches(ty, TType::Binary)? => s.operation_name = r.string()?,
            6 if r.matches(ty, TType::List)? => s.references = read_list(r, read_ref)?,
            7 if r.matches(ty, TType::I32)? => s.flags = r.i32()? as u32,
            8 if r.matches(ty, TType::I64)? => start_us = r.i64()?,
            9 if r.matches(ty, TType::I64)? => duration_us = r.i64()?,
            10 if r.matches(ty, TType::List)? => s.tags = read_list(r, read_tag)?,
            11 if r.matches(ty, TType::List)? => s.logs = read_list(r, read_log)?,
            1..=11 => {}
            _ => r.skip(ty)?,
        }
    }
    r.struct_end();
    s.start_time_ns = micros_to_nanos(start_us);
    // The end is start + duration in microseconds, as the Collector computes it.
    s.duration_ns = micros_to_nanos(start_us.wrapping_add(duration_us)).wrapping_sub(s.start_time_ns);
    Ok(s)
}

/// An agent's UDP packet: one `Agent.emitBatch(batch)` call.
#[derive(Debug)]
pub enum AgentCall {
    EmitBatch(Batch),
    /// `emitZipkinBatch`: refused, as the Collector's receiver does not serve it either.
    EmitZipkinBatch,
}

/// Reads one agent call from a UDP packet.
pub fn read_agent_packet(packet: &[u8], protocol: Protocol) -> Result<AgentCall, ThriftError> {
    let mut r = Reader::new(packet, protocol);
    let MessageHeader { name, .. } = r.message_begin()?;
    match name.as_str() {
        "emitBatch" => {}
        "emitZipkinBatch" => return Ok(AgentCall::EmitZipkinBatch),
        other => {
            return Err(ThriftError::Invalid {
                offset: 0,
                what: format!("unknown agent method {other:?} (expected emitBatch)"),
            })
        }
    }
    // The arguments struct: `1: jaeger.Batch batch`.
    let mut batch = None;
    r.struct_begin();
    loop {
        let (ty, id) = r.field_begin()?;
        match (ty, id) {
            (TType::Stop, _) => break,
            (TType::Struct, 1) => batch = Some(read_thrift_batch(&mut r)?),
            (t, _) => r.skip(t)?,
        }
    }
    r.struct_end();
    batch.map(AgentCall::EmitBatch).ok_or(ThriftError::MissingField { strukt: "emitBatch_args", field: "batch" })
}

/// A `POST /api/traces` body: one `Batch` in the binary protocol (Go's `TDeserializer`).
pub fn read_http_body(body: &[u8]) -> Result<Batch, ThriftError> {
    read_thrift_batch(&mut Reader::new(body, Protocol::Binary))
}

/// `api_v2` protobuf messages, declared by hand (a handful of fields; no build script).
pub mod proto {
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub struct PostSpansRequest {
        #[prost(message, optional, tag = "1")]
        pub batch: Option<Batch>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Batch {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
        #[prost(message, optional, tag = "2")]
        pub process: Option<Process>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Process {
        #[prost(string, tag = "1")]
        pub service_name: String,
        #[prost(message, repeated, tag = "2")]
        pub tags: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(int32, tag = "2")]
        pub v_type: i32,
        #[prost(string, tag = "3")]
        pub v_str: String,
        #[prost(bool, tag = "4")]
        pub v_bool: bool,
        #[prost(int64, tag = "5")]
        pub v_int64: i64,
        #[prost(double, tag = "6")]
        pub v_float64: f64,
        #[prost(bytes = "vec", tag = "7")]
        pub v_binary: Vec<u8>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Log {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(message, repeated, tag = "2")]
        pub fields: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct SpanRef {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(int32, tag = "3")]
        pub ref_type: i32,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(string, tag = "3")]
        pub operation_name: String,
        #[prost(message, repeated, tag = "4")]
        pub references: Vec<SpanRef>,
        #[prost(uint32, tag = "5")]
        pub flags: u32,
        #[prost(message, optional, tag = "6")]
        pub start_time: Option<Timestamp>,
        /// `google.protobuf.Duration`: the same two fields as a timestamp.
        #[prost(message, optional, tag = "7")]
        pub duration: Option<Timestamp>,
        #[prost(message, repeated, tag = "8")]
        pub tags: Vec<KeyValue>,
        #[prost(message, repeated, tag = "9")]
        pub logs: Vec<Log>,
        #[prost(message, optional, tag = "10")]
        pub process: Option<Process>,
        #[prost(string, tag = "11")]
        pub process_id: String,
        #[prost(string, repeated, tag = "12")]
        pub warnings: Vec<String>,
    }
}

/// Why a protobuf `PostSpans` request could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("invalid protobuf PostSpansRequest: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("invalid {what}: {len} bytes (expected {expected})")]
    IdLength { what: &'static str, len: usize, expected: usize },
}

/// Reads a gRPC `PostSpansRequest`.
pub fn read_post_spans(body: &[u8]) -> Result<Batch, ProtoError> {
    use prost::Message;
    let req = proto::PostSpansRequest::decode(body)?;
    let b = req.batch.unwrap_or_default();
    let spans = b.spans.into_iter().map(proto_span).collect::<Result<_, _>>()?;
    Ok(Batch { process: b.process.map(proto_process), spans })
}

fn proto_process(p: proto::Process) -> Process {
    // protobuf cannot tell an empty repeated field from an absent one; Go's nil slice is the
    // empty one.
    let tags = (!p.tags.is_empty()).then(|| p.tags.into_iter().map(proto_tag).collect());
    Process { service_name: p.service_name, tags }
}

fn proto_tag(kv: proto::KeyValue) -> Tag {
    // ValueType { STRING, BOOL, INT64, FLOAT64, BINARY }.
    let value = match kv.v_type {
        0 => TagValue::Str(kv.v_str),
        1 => TagValue::Bool(kv.v_bool),
        2 => TagValue::Long(kv.v_int64),
        3 => TagValue::Double(kv.v_float64),
        4 => TagValue::Binary(kv.v_binary),
        other => TagValue::Unknown(other),
    };
    Tag { key: kv.key, value }
}

fn timestamp_ns(t: Option<proto::Timestamp>) -> u64 {
    let t = t.unwrap_or_default();
    (t.seconds as u64).wrapping_mul(1_000_000_000).wrapping_add(t.nanos as u64)
}

/// A Jaeger trace id: 16 bytes (high, low) big-endian, or 8 (low only); empty is zero.
fn trace_id(b: &[u8], what: &'static str) -> Result<(u64, u64), ProtoError> {
    match b.len() {
        0 => Ok((0, 0)),
        8 => Ok((0, u64::from_be_bytes(b.try_into().expect("eight bytes")))),
        16 => Ok((
            u64::from_be_bytes(b[..8].try_into().expect("eight bytes")),
            u64::from_be_bytes(b[8..].try_into().expect("eight bytes")),
        )),
        len => Err(ProtoError::IdLength { what, len, expected: 16 }),
    }
}

fn span_id(b: &[u8], what: &'static str) -> Result<u64, ProtoError> {
    match b.len() {
        0 => Ok(0),
        8 => Ok(u64::from_be_bytes(b.try_into().expect("eight bytes"))),
        len => Err(ProtoError::IdLength { what, len, expected: 8 }),
    }
}

fn proto_span(s: proto::Span) -> Result<Span, ProtoError> {
    let (trace_id_high, trace_id_low) = trace_id(&s.trace_id, "span trace_id")?;
    let references = s
        .references
        .into_iter()
        .map(|r| {
            let (h, l) = trace_id(&r.trace_id, "reference trace_id")?;
            Ok(SpanRef {
                ref_type: if r.ref_type == 1 { RefType::FollowsFrom } else { RefType::ChildOf },
                trace_id_high: h,
                trace_id_low: l,
                span_id: span_id(&r.span_id, "reference span_id")?,
            })
        })
        .collect::<Result<_, ProtoError>>()?;
    Ok(Span {
        trace_id_high,
        trace_id_low,
        span_id: span_id(&s.span_id, "span_id")?,
        parent_span_id: 0,
        operation_name: s.operation_name,
        references,
        flags: s.flags,
        start_time_ns: timestamp_ns(s.start_time),
        duration_ns: timestamp_ns(s.duration),
        tags: s.tags.into_iter().map(proto_tag).collect(),
        logs: s
            .logs
            .into_iter()
            .map(|l| Log {
                timestamp_ns: timestamp_ns(l.timestamp),
                fields: l.fields.into_iter().map(proto_tag).collect(),
            })
            .collect(),
        process: s.process.map(proto_process),
    })
}
