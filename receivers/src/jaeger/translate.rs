//! Jaeger → OTLP, as the Collector's `pkg/translator/jaeger` does it
//! (`jaegerthrift_to_traces.go` for thrift, `jaegerproto_to_traces.go` for protobuf):
//!
//! | Jaeger | OTLP |
//! |---|---|
//! | process `serviceName`, `tags` | resource `service.name` + attributes; `hostname` → `host.name` (unless present), `jaeger.version` → `opencensus.exporterversion` = `Jaeger-<v>` |
//! | span ids (high, low), span id | big-endian 16 / 8 bytes |
//! | `startTime` + `duration` (µs) | start / end in ns |
//! | `parentSpanId`, else the first same-trace `CHILD_OF` reference, else the first `FOLLOWS_FROM` | `parent_span_id` |
//! | other references | links with `opentracing.ref_type` = `child_of` / `follows_from` |
//! | tags | attributes (string, bool, int, double, bytes); unknown type → `<Unknown Jaeger TagType "n">` |
//! | tag `span.kind` (`client`, `server`, `producer`, `consumer`, `internal`) | kind (removed) |
//! | tag `error` = true (bool) | status ERROR (removed); message from `otel.status_description` (removed) or `http.status_message` |
//! | else tag `otel.status_code` `OK`/`ERROR` | status (removed, always), message from `otel.status_description` |
//! | else tag `http.status_code` (int or numeric string) | 4xx: ERROR for client spans, unset for server spans; else ERROR outside 100–398 |
//! | logs | events at the log time; field `event` → event name (removed) |
//! | `flags` & 1 (sampled) | span flags sampled bit |
//! | protobuf only: tags `otel.scope.name` / `otel.scope.version` | the scope, spans grouped by it (removed) |
//! | protobuf only: tag `w3c.tracestate` | `trace_state` (removed) |
//! | protobuf only: a span's own `process` | its own resource (spans grouped by process) |
//!
//! Blank spans (every field zero) are skipped, as upstream does.

use super::model::{Batch, Log, Process, RefType, Source, Span, SpanRef, Tag, TagValue};
use crate::translate::{parent_span_id, span_id, status_from_http, trace_id, Attrs};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, InstrumentationScope};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status::StatusCode, ResourceSpans, ScopeSpans, Span as OtlpSpan, Status,
};

const TAG_SPAN_KIND: &str = "span.kind";
const TAG_ERROR: &str = "error";
const TAG_HTTP_STATUS_MSG: &str = "http.status_message";
const TAG_HTTP_STATUS_CODE: &str = "http.status_code";
const TAG_OTEL_STATUS_CODE: &str = "otel.status_code";
const TAG_OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";
const TAG_W3C_TRACESTATE: &str = "w3c.tracestate";
const TAG_SCOPE_NAME: &str = "otel.scope.name";
const TAG_SCOPE_VERSION: &str = "otel.scope.version";
const EVENT_NAME_FIELD: &str = "event";
const REF_TYPE_ATTR: &str = "opentracing.ref_type";
/// The OTLP span flag for W3C's sampled bit.
const SPAN_FLAGS_SAMPLED: u32 = 0x1;
/// The service name pdata uses for a resource without one; such a process adds nothing.
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// Translates one batch.
pub fn to_resource_spans(batch: Batch, source: Source) -> Vec<ResourceSpans> {
    match source {
        Source::Thrift => thrift_batch(batch).into_iter().collect(),
        Source::Proto => proto_batch(batch),
    }
}

/// Thrift: one resource, one scope.
fn thrift_batch(batch: Batch) -> Option<ResourceSpans> {
    if batch.process.is_none() && batch.spans.is_empty() {
        return None;
    }
    let resource = resource(batch.process.as_ref(), Source::Thrift);
    let mut rs = ResourceSpans { resource: Some(resource), ..Default::default() };
    if batch.spans.is_empty() {
        return Some(rs);
    }
    let spans = batch.spans.into_iter().filter(|s| !s.is_blank()).map(|s| span(s, Source::Thrift).1).collect();
    rs.scope_spans.push(ScopeSpans { scope: Some(InstrumentationScope::default()), spans, schema_url: String::new() });
    Some(rs)
}

/// Protobuf: spans grouped by their process (a span's own, else the batch's), then by scope.
fn proto_batch(batch: Batch) -> Vec<ResourceSpans> {
    if batch.process.is_none() && batch.spans.is_empty() {
        return Vec::new();
    }
    let mut groups: Vec<(Option<Process>, Vec<Span>)> = vec![(batch.process, Vec::new())];
    for mut s in batch.spans {
        let process = s.process.take();
        let i = match process {
            None => 0,
            Some(p) => match groups.iter().position(|(g, _)| g.as_ref() == Some(&p)) {
                Some(i) => i,
                None => {
                    groups.push((Some(p), Vec::new()));
                    groups.len() - 1
                }
            },
        };
        groups[i].1.push(s);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (process, spans) in groups {
        if process.is_none() && spans.is_empty() {
            continue;
        }
        let mut rs = ResourceSpans { resource: Some(resource(process.as_ref(), Source::Proto)), ..Default::default() };
        let mut scopes: Vec<ScopeSpans> = Vec::new();
        for s in spans.into_iter().filter(|s| !s.is_blank()) {
            let (scope, span) = span(s, Source::Proto);
            match scopes.iter_mut().find(|ss| ss.scope.as_ref() == Some(&scope)) {
                Some(ss) => ss.spans.push(span),
                None => scopes.push(ScopeSpans { scope: Some(scope), spans: vec![span], schema_url: String::new() }),
            }
        }
        rs.scope_spans = scopes;
        out.push(rs);
    }
    out
}

fn resource(process: Option<&Process>, source: Source) -> Resource {
    let mut r = Resource::default();
    let Some(p) = process else { return r };
    if source == Source::Proto && p.service_name == NO_SERVICE_NAME {
        return r;
    }
    if p.service_name.is_empty() && p.tags.is_none() {
        return r;
    }
    let tags = p.tags.as_deref().unwrap_or(&[]);
    let mut attrs = Attrs::with_capacity(tags.len() + 1);
    if !p.service_name.is_empty() {
        attrs.put_str("service.name", p.service_name.as_str());
    }
    put_tags(&mut attrs, tags);
    if attrs.get("hostname").is_some() && attrs.get("host.name").is_none() {
        if let Some(v) = attrs.remove("hostname") {
            attrs.put("host.name", v);
        }
    }
    if attrs.get("jaeger.version").is_some() && attrs.get("opencensus.exporterversion").is_none() {
        let v = attrs.get_str("jaeger.version").unwrap_or("").to_string();
        attrs.put_str("opencensus.exporterversion", format!("Jaeger-{v}"));
        attrs.remove("jaeger.version");
    }
    r.attributes = attrs.into_vec();
    r
}

fn put_tags(attrs: &mut Attrs, tags: &[Tag]) {
    for t in tags {
        let v = match &t.value {
            TagValue::Str(s) => Value::StringValue(s.clone()),
            TagValue::Bool(b) => Value::BoolValue(*b),
            TagValue::Long(i) => Value::IntValue(*i),
            TagValue::Double(d) => Value::DoubleValue(*d),
            TagValue::Binary(b) => Value::BytesValue(b.clone()),
            TagValue::Unknown(n) => Value::StringValue(format!("<Unknown Jaeger TagType \"{n}\">")),
        };
        attrs.put(&t.key, v);
    }
}

/// The parent: the explicit one, else a same-trace reference (`CHILD_OF` first).
fn parent_of(s: &Span) -> u64 {
    if s.parent_span_id != 0 {
        return s.parent_span_id;
    }
    let same_trace = |r: &&SpanRef| r.trace_id_high == s.trace_id_high && r.trace_id_low == s.trace_id_low;
    let refs = || s.references.iter().filter(same_trace);
    refs()
        .find(|r| r.ref_type == RefType::ChildOf)
        .or_else(|| refs().find(|r| r.ref_type == RefType::FollowsFrom))
        .map_or(0, |r| r.span_id)
}

/// Takes the scope tags out of a protobuf span (upstream's `getAndDeleteTag`: the first tag of
/// that key, read as a string).
fn take_tag_str(tags: &mut Vec<Tag>, key: &str) -> Option<String> {
    let i = tags.iter().position(|t| t.key == key)?;
    Some(match tags.remove(i).value {
        TagValue::Str(s) => s,
        _ => String::new(),
    })
}

fn span(mut s: Span, source: Source) -> (InstrumentationScope, OtlpSpan) {
    let mut scope = InstrumentationScope::default();
    if source == Source::Proto {
        if let Some(name) = take_tag_str(&mut s.tags, TAG_SCOPE_NAME) {
            scope.name = name;
            if let Some(version) = take_tag_str(&mut s.tags, TAG_SCOPE_VERSION) {
                scope.version = version;
            }
        }
    }
    let parent = parent_of(&s);
    let mut out = OtlpSpan {
        trace_id: trace_id(s.trace_id_high, s.trace_id_low),
        span_id: span_id(s.span_id),
        parent_span_id: parent_span_id(parent),
        name: s.operation_name,
        start_time_unix_nano: s.start_time_ns,
        end_time_unix_nano: s.start_time_ns.wrapping_add(s.duration_ns),
        flags: if s.flags & 1 != 0 { SPAN_FLAGS_SAMPLED } else { 0 },
        ..Default::default()
    };
    let mut attrs = Attrs::with_capacity(s.tags.len());
    put_tags(&mut attrs, &s.tags);
    if let Some(kind) = attrs.remove(TAG_SPAN_KIND) {
        out.kind = span_kind(match &kind {
            Value::StringValue(k) => k,
            _ => "",
        }) as i32;
    }
    out.status = status(&mut attrs, out.kind);
    if source == Source::Proto {
        if let Some(ts) = attrs.remove(TAG_W3C_TRACESTATE) {
            out.trace_state = match ts {
                Value::StringValue(s) => s,
                _ => String::new(),
            };
        }
    }
    out.attributes = attrs.into_vec();
    out.events = s.logs.into_iter().map(event).collect();
    out.links = links(&s.references, parent);
    (scope, out)
}

fn span_kind(k: &str) -> span::SpanKind {
    match k {
        "client" => span::SpanKind::Client,
        "server" => span::SpanKind::Server,
        "producer" => span::SpanKind::Producer,
        "consumer" => span::SpanKind::Consumer,
        "internal" => span::SpanKind::Internal,
        _ => span::SpanKind::Unspecified,
    }
}

/// `setInternalSpanStatus`.
fn status(attrs: &mut Attrs, kind: i32) -> Option<Status> {
    let mut code = StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;
    if attrs.get(TAG_ERROR) == Some(&Value::BoolValue(true)) {
        code = StatusCode::Error;
        attrs.remove(TAG_ERROR);
        exists = true;
        if let Some(desc) = take_description(attrs) {
            message = desc;
        } else if let Some(m) = attrs.get_str(TAG_HTTP_STATUS_MSG) {
            message = m.to_string();
        }
    }
    if attrs.get(TAG_OTEL_STATUS_CODE).is_some() {
        if !exists {
            exists = true;
            match attrs.get_str(TAG_OTEL_STATUS_CODE).unwrap_or("").to_ascii_uppercase().as_str() {
                "OK" => code = StatusCode::Ok,
                "ERROR" => code = StatusCode::Error,
                _ => {}
            }
            if let Some(desc) = take_description(attrs) {
                message = desc;
            }
        }
        attrs.remove(TAG_OTEL_STATUS_CODE);
    } else if !exists {
        if let Some(http) = attrs.get(TAG_HTTP_STATUS_CODE) {
            let parsed = match http {
                Value::IntValue(i) => Some(*i),
                Value::StringValue(s) => s.parse::<i64>().ok(),
                _ => None,
            };
            if let Some(http) = parsed {
                let c = if (400..500).contains(&http) && kind == span::SpanKind::Client as i32 {
                    StatusCode::Error as i32
                } else if (400..500).contains(&http) && kind == span::SpanKind::Server as i32 {
                    StatusCode::Unset as i32
                } else {
                    status_from_http(http)
                };
                if c != StatusCode::Unset as i32 {
                    exists = true;
                    code = StatusCode::Error;
                }
                if let Some(m) = attrs.get_str(TAG_HTTP_STATUS_MSG) {
                    message = m.to_string();
                }
            }
        }
    }
    exists.then_some(Status { code: code as i32, message })
}

fn take_description(attrs: &mut Attrs) -> Option<String> {
    attrs.get(TAG_OTEL_STATUS_DESCRIPTION)?;
    let s = attrs.get_str(TAG_OTEL_STATUS_DESCRIPTION).unwrap_or("").to_string();
    attrs.remove(TAG_OTEL_STATUS_DESCRIPTION);
    Some(s)
}

fn event(log: Log) -> span::Event {
    let mut e = span::Event { time_unix_nano: log.timestamp_ns, ..Default::default() };
    if log.fields.is_empty() {
        return e;
    }
    let mut attrs = Attrs::with_capacity(log.fields.len());
    put_tags(&mut attrs, &log.fields);
    if attrs.get(EVENT_NAME_FIELD).is_some() {
        e.name = attrs.get_str(EVENT_NAME_FIELD).unwrap_or("").to_string();
        attrs.remove(EVENT_NAME_FIELD);
    }
    e.attributes = attrs.into_vec();
    e
}

/// References other than the parent's `CHILD_OF` become links.
fn links(refs: &[SpanRef], parent: u64) -> Vec<span::Link> {
    refs.iter()
        .filter(|r| !(r.span_id == parent && r.ref_type == RefType::ChildOf))
        .map(|r| {
            let mut attrs = Attrs::with_capacity(1);
            let ref_type = match r.ref_type {
                RefType::ChildOf => "child_of",
                RefType::FollowsFrom => "follows_from",
            };
            attrs.put_str(REF_TYPE_ATTR, ref_type);
            span::Link {
                trace_id: trace_id(r.trace_id_high, r.trace_id_low),
                span_id: span_id(r.span_id),
                attributes: attrs.into_vec(),
                ..Default::default()
            }
        })
        .collect()
}
