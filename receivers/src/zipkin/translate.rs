//! Zipkin v2 → OTLP, as the Collector's `pkg/translator/zipkin/zipkinv2/to_translator.go`:
//!
//! | Zipkin | OTLP |
//! |---|---|
//! | spans sorted by (local service, tag `otel.library.name`) | one resource per service run, one scope per library run (stable sort) |
//! | `localEndpoint.serviceName` | resource `service.name` (or the key named by tag `otlp.service.name.source`); none: no resource attributes |
//! | tags named as resource semantic conventions (semconv 1.6.1), `opencensus.*`, `process.pid` | resource attributes (from the first span of a resource), never span attributes |
//! | tags `otel.library.name` / `.version` | the scope |
//! | `traceId`, `id`, `parentId` (unless equal to `id`) | ids |
//! | `kind`; else tag `span.kind` = `internal` | kind (tag removed) |
//! | tag `otel.status_code` (`STATUS_CODE_*`, `Unset`/`Ok`/`Error`; others unset) + `otel.status_description` | status (tags removed) |
//! | tag `error` (any value) | status ERROR (tag removed when `"true"`) |
//! | tag `w3c.tracestate` | `trace_state` |
//! | tags `otlp.link.N` (`trace|span|state|json attrs|dropped`) | links |
//! | other tags | attributes: strings, or with `parse_string_tags` ints, doubles and bools as they read |
//! | `localEndpoint` ip / port, `remoteEndpoint` service / ip / port | `net.host.ip`, `net.host.port`, `peer.service`, `net.peer.ip`, `net.peer.port` |
//! | `timestamp` + `duration` (µs) | start / end; no timestamp: start 0 and attribute `otel.zipkin.absentField.startTime` = true |
//! | annotations `name[|json attrs|dropped]` | events |

use super::model::{Kind, ZSpan};
use crate::translate::{span_id, trace_id, Attrs};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, InstrumentationScope};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status};

const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
const TAG_SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";
const TAG_LIBRARY_NAME: &str = "otel.library.name";
const TAG_LIBRARY_VERSION: &str = "otel.library.version";
const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";

/// Semantic-convention 1.6.1 resource attribute names, and the other keys the Collector keeps
/// off spans.
const NON_SPAN_ATTRIBUTES: &[&str] = &[
    "cloud.provider",
    "cloud.account.id",
    "cloud.region",
    "cloud.availability_zone",
    "cloud.platform",
    "aws.ecs.container.arn",
    "aws.ecs.cluster.arn",
    "aws.ecs.launchtype",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.eks.cluster.arn",
    "aws.log.group.names",
    "aws.log.group.arns",
    "aws.log.stream.names",
    "aws.log.stream.arns",
    "container.name",
    "container.id",
    "container.runtime",
    "container.image.name",
    "container.image.tag",
    "deployment.environment",
    "device.id",
    "device.model.identifier",
    "device.model.name",
    "faas.name",
    "faas.id",
    "faas.version",
    "faas.instance",
    "faas.max_memory",
    "host.id",
    "host.name",
    "host.type",
    "host.arch",
    "host.image.name",
    "host.image.id",
    "host.image.version",
    "k8s.cluster.name",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.namespace.name",
    "k8s.pod.uid",
    "k8s.pod.name",
    "k8s.container.name",
    "k8s.container.restart_count",
    "k8s.replicaset.uid",
    "k8s.replicaset.name",
    "k8s.deployment.uid",
    "k8s.deployment.name",
    "k8s.statefulset.uid",
    "k8s.statefulset.name",
    "k8s.daemonset.uid",
    "k8s.daemonset.name",
    "k8s.job.uid",
    "k8s.job.name",
    "k8s.cronjob.uid",
    "k8s.cronjob.name",
    "os.type",
    "os.description",
    "os.name",
    "os.version",
    "process.pid",
    "process.executable.name",
    "process.executable.path",
    "process.command",
    "process.command_line",
    "process.command_args",
    "process.owner",
    "process.runtime.name",
    "process.runtime.version",
    "process.runtime.description",
    "service.name",
    "service.namespace",
    "service.instance.id",
    "service.version",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
    "telemetry.auto.version",
    "webengine.name",
    "webengine.version",
    "webengine.description",
    // The translator's own additions.
    TAG_SERVICE_NAME_SOURCE,
    TAG_LIBRARY_NAME,
    TAG_LIBRARY_VERSION,
    "opencensus.starttime",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
];

fn is_non_span(key: &str) -> bool {
    NON_SPAN_ATTRIBUTES.contains(&key)
}

/// Why spans could not be translated (a malformed link or annotation).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TranslateError(String);

fn local_service(s: &ZSpan) -> &str {
    match &s.local_endpoint {
        Some(e) if !e.service_name.is_empty() => &e.service_name,
        _ => NO_SERVICE_NAME,
    }
}

fn library(s: &ZSpan) -> &str {
    s.tags.get(TAG_LIBRARY_NAME).map_or("", String::as_str)
}

/// Translates one request's spans.
pub fn to_resource_spans(mut spans: Vec<ZSpan>, parse_string_tags: bool) -> Result<Vec<ResourceSpans>, TranslateError> {
    spans.sort_by(|a, b| (local_service(a), library(a)).cmp(&(local_service(b), library(b))));
    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut prev: Option<(String, String)> = None;
    for z in spans {
        let mut tags = z.tags.clone();
        let service = local_service(&z).to_string();
        let lib = library(&z).to_string();
        let new_resource = prev.as_ref().is_none_or(|(s, _)| *s != service);
        if new_resource {
            out.push(ResourceSpans { resource: Some(resource(&mut tags, &service)), ..Default::default() });
        }
        let rs = out.last_mut().expect("a resource was pushed");
        if new_resource || prev.as_ref().is_some_and(|(_, l)| *l != lib) {
            let mut scope = InstrumentationScope::default();
            if !lib.is_empty() {
                if let Some(n) = tags.remove(TAG_LIBRARY_NAME) {
                    scope.name = n;
                }
                if let Some(v) = tags.remove(TAG_LIBRARY_VERSION) {
                    scope.version = v;
                }
            }
            rs.scope_spans.push(ScopeSpans { scope: Some(scope), ..Default::default() });
        }
        prev = Some((service, lib));
        let span = span_of(z, tags, parse_string_tags)?;
        rs.scope_spans.last_mut().expect("a scope was pushed").spans.push(span);
    }
    Ok(out)
}

fn resource(tags: &mut std::collections::BTreeMap<String, String>, service: &str) -> Resource {
    let mut attrs = Attrs::default();
    if service == NO_SERVICE_NAME {
        return Resource::default();
    }
    if tags.is_empty() {
        attrs.put_str("service.name", service);
        return Resource { attributes: attrs.into_vec(), ..Default::default() };
    }
    match tags.remove(TAG_SERVICE_NAME_SOURCE).filter(|s| !s.is_empty()) {
        Some(key) => attrs.put_str(&key, service),
        None => attrs.put_str("service.name", service),
    }
    for key in NON_SPAN_ATTRIBUTES {
        if *key == TAG_LIBRARY_NAME || *key == TAG_LIBRARY_VERSION {
            continue;
        }
        if let Some(v) = tags.remove(*key) {
            attrs.put_str(key, v);
        }
    }
    Resource { attributes: attrs.into_vec(), ..Default::default() }
}

fn status_code(v: &str) -> StatusCode {
    match v {
        "STATUS_CODE_OK" | "Ok" => StatusCode::Ok,
        "STATUS_CODE_ERROR" | "Error" => StatusCode::Error,
        _ => StatusCode::Unset,
    }
}

/// A string tag's value, typed as `parse_string_tags` reads it (zipkin's `DetermineValueType`).
fn typed(v: String) -> Value {
    let b = v.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let unsigned = b.strip_prefix(b"-").unwrap_or(b);
    if digits(unsigned) {
        let neg = b.starts_with(b"-");
        return Value::IntValue(v.parse().unwrap_or(if neg { i64::MIN } else { i64::MAX }));
    }
    if let Some((i, f)) = std::str::from_utf8(unsigned).ok().and_then(|s| s.split_once('.')) {
        if digits(i.as_bytes()) && digits(f.as_bytes()) {
            return Value::DoubleValue(v.parse().unwrap_or(0.0));
        }
    }
    match v.as_str() {
        "true" => Value::BoolValue(true),
        "false" => Value::BoolValue(false),
        _ => Value::StringValue(v),
    }
}

fn hex_id<const N: usize>(s: &str) -> Result<Vec<u8>, TranslateError> {
    let s = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s);
    if s.is_empty() {
        return Ok(vec![0; N]);
    }
    if s.len() != 2 * N {
        return Err(TranslateError("invalid length for ID".into()));
    }
    (0..N)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| TranslateError(format!("cannot unmarshal ID from string '{s}'")))
}

/// `name|{json}|dropped`-style values: the JSON object's members as attributes.
fn json_attrs(json: &str) -> Result<Attrs, TranslateError> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| TranslateError(e.to_string()))?;
    let mut attrs = Attrs::default();
    for (k, v) in map {
        match v {
            serde_json::Value::String(s) => attrs.put_str(&k, s),
            serde_json::Value::Number(n) => {
                let d = n.as_f64().unwrap_or(0.0);
                if d.fract() == 0.0 {
                    attrs.put(&k, Value::IntValue(d as i64))
                } else {
                    attrs.put(&k, Value::DoubleValue(d))
                }
            }
            serde_json::Value::Bool(b) => attrs.put(&k, Value::BoolValue(b)),
            _ => {}
        }
    }
    Ok(attrs)
}

fn dropped(s: &str) -> Result<u32, TranslateError> {
    s.parse().map_err(|_| TranslateError(format!("invalid dropped attributes count {s:?}")))
}

fn span_of(
    z: ZSpan,
    mut tags: std::collections::BTreeMap<String, String>,
    parse_string_tags: bool,
) -> Result<Span, TranslateError> {
    let mut out = Span {
        trace_id: trace_id(z.trace_id_high, z.trace_id_low),
        span_id: span_id(z.id),
        name: z.name,
        ..Default::default()
    };
    if let Some(ts) = tags.remove("w3c.tracestate") {
        out.trace_state = ts;
    }
    if let Some(p) = z.parent_id.filter(|p| *p != z.id) {
        out.parent_span_id = span_id(p);
    }
    out.kind = match z.kind {
        Some(Kind::Client) => span::SpanKind::Client,
        Some(Kind::Server) => span::SpanKind::Server,
        Some(Kind::Producer) => span::SpanKind::Producer,
        Some(Kind::Consumer) => span::SpanKind::Consumer,
        None => match tags.remove("span.kind").as_deref() {
            Some("internal") => span::SpanKind::Internal,
            _ => span::SpanKind::Unspecified,
        },
    } as i32;
    // Status.
    let mut status = Status::default();
    if let Some(code) = tags.remove("otel.status_code") {
        status.code = status_code(&code) as i32;
        if let Some(m) = tags.remove("otel.status_description") {
            status.message = m;
        }
    }
    if let Some(v) = tags.get("error") {
        status.code = StatusCode::Error as i32;
        if v == "true" {
            tags.remove("error");
        }
    }
    if status != Status::default() {
        out.status = Some(status);
    }
    // Links.
    for i in 0..128 {
        let Some(v) = tags.remove(&format!("otlp.link.{i}")) else { break };
        let parts: Vec<&str> = v.split('|').collect();
        if parts.len() < 5 {
            continue;
        }
        let json = parts[3..parts.len() - 1].join("|");
        out.links.push(span::Link {
            trace_id: hex_id::<16>(parts[0])?,
            span_id: hex_id::<8>(parts[1])?,
            trace_state: parts[2].to_string(),
            attributes: json_attrs(&json)?.into_vec(),
            dropped_attributes_count: dropped(parts[parts.len() - 1])?,
            ..Default::default()
        });
    }
    // Attributes.
    let mut attrs = Attrs::with_capacity(tags.len() + 4);
    for (k, v) in tags {
        if is_non_span(&k) {
            continue;
        }
        let value = if parse_string_tags { typed(v) } else { Value::StringValue(v) };
        attrs.put(&k, value);
    }
    if let Some(e) = &z.local_endpoint {
        if let Some(ip) = e.ipv4 {
            attrs.put_str("net.host.ip", ip.to_string());
        }
        if let Some(ip) = e.ipv6 {
            attrs.put_str("net.host.ip", ip.to_string());
        }
        if e.port > 0 {
            attrs.put("net.host.port", Value::IntValue(i64::from(e.port)));
        }
    }
    if let Some(e) = &z.remote_endpoint {
        if !e.service_name.is_empty() {
            attrs.put_str("peer.service", e.service_name.as_str());
        }
        if let Some(ip) = e.ipv4 {
            attrs.put_str("net.peer.ip", ip.to_string());
        }
        if let Some(ip) = e.ipv6 {
            attrs.put_str("net.peer.ip", ip.to_string());
        }
        if e.port > 0 {
            attrs.put("net.peer.port", Value::IntValue(i64::from(e.port)));
        }
    }
    match z.timestamp_us {
        Some(ts) => {
            out.start_time_unix_nano = ts.saturating_mul(1000);
            out.end_time_unix_nano = out.start_time_unix_nano.saturating_add(z.duration_us.saturating_mul(1000));
        }
        None => {
            out.start_time_unix_nano = 0;
            out.end_time_unix_nano = z.duration_us.saturating_mul(1000);
            attrs.put(START_TIME_ABSENT, Value::BoolValue(true));
        }
    }
    out.attributes = attrs.into_vec();
    // Events.
    for (ts, value) in z.annotations {
        let parts: Vec<&str> = value.split('|').collect();
        let mut event =
            span::Event { time_unix_nano: ts.saturating_mul(1000), name: parts[0].to_string(), ..Default::default() };
        if parts.len() >= 3 {
            let json = parts[1..parts.len() - 1].join("|");
            event.attributes = json_attrs(&json)?.into_vec();
            event.dropped_attributes_count = dropped(parts[parts.len() - 1])?;
        }
        out.events.push(event);
    }
    Ok(out)
}
