//! `attributes` with the Collector README's examples (expected results from its description),
//! include/exclude on spans, logs and data points, and config errors.

use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weir_core::Payload;
use weir_ottl::Outcome;

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn config(yaml: &str) -> AttributesConfig {
    weir_core::testing::parse_config(yaml).expect("valid config")
}

fn span(name: &str, kind: span::SpanKind, attrs: Vec<KeyValue>) -> Span {
    Span {
        name: name.into(),
        kind: kind as i32,
        attributes: attrs,
        span_id: vec![1; 8],
        trace_id: vec![2; 16],
        ..Default::default()
    }
}

fn traces(service: &str, spans: Vec<Span>) -> Payload {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).expect("valid")
}

fn out_bytes(c: &AttributesConfig, signal: Signal, p: &Payload) -> Vec<u8> {
    let proc = AttributesFactory::processor("attributes".into(), signal, c).expect("builds");
    match proc.process(p).expect("runs") {
        Outcome::Unchanged => p.bytes().to_vec(),
        Outcome::Rebuilt(r) => r.bytes().to_vec(),
        Outcome::Empty => panic!("the attributes processor never drops data"),
    }
}

/// Each span's name and its attributes (string values) after the processor.
fn run_traces(c: &AttributesConfig, p: &Payload) -> Vec<(String, Vec<(String, String)>)> {
    let req = ExportTraceServiceRequest::decode(out_bytes(c, Signal::Traces, p).as_slice()).expect("OTLP");
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| (s.name.clone(), s.attributes.iter().map(|a| (a.key.clone(), string(&a.value))).collect()))
        .collect()
}

fn string(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn the_readme_insert_update_upsert_delete_example() {
    // The actions of processor/attributesprocessor/README.md's first example, in its shape.
    let c = config(
        r#"
actions:
  - key: environment
    value: production
    action: insert
  - key: db.statement
    action: delete
  - key: email
    action: hash
"#,
    );
    let p = traces(
        "svc",
        vec![span(
            "GET /",
            span::SpanKind::Server,
            vec![kv("environment", "dev"), kv("db.statement", "select 1"), kv("email", "a@b.c")],
        )],
    );
    let out = run_traces(&c, &p);
    let attrs = &out[0].1;
    assert!(attrs.contains(&("environment".into(), "dev".into())), "insert keeps: {attrs:?}");
    assert!(!attrs.iter().any(|(k, _)| k == "db.statement"), "deleted: {attrs:?}");
    let email = attrs.iter().find(|(k, _)| k == "email").map(|(_, v)| v.clone()).expect("email");
    // sha256("a@b.c"), computed with Python's hashlib.
    assert_eq!(email, "d648b243a3e817eaa3309e00e183483f2867baadf522099f0c2121770536b25a");
}

#[test]
fn include_and_exclude_select_the_spans_an_action_applies_to() {
    // The README's include/exclude shape: services and span names, strict and regexp.
    let c = config(
        r#"
include:
  match_type: regexp
  services: ["auth.*"]
  span_names: ["^login"]
exclude:
  match_type: strict
  attributes:
    - { key: redact, value: "no" }
actions:
  - { key: password, action: delete }
"#,
    );
    let spans = vec![
        span("login", span::SpanKind::Server, vec![kv("password", "p1")]),
        span("login-2fa", span::SpanKind::Server, vec![kv("password", "p2"), kv("redact", "no")]),
        span("logout", span::SpanKind::Server, vec![kv("password", "p3")]),
    ];
    let out = run_traces(&c, &traces("auth-service", spans.clone()));
    assert_eq!(out[0].1, Vec::<(String, String)>::new(), "included: deleted");
    assert!(out[1].1.contains(&("password".into(), "p2".into())), "excluded by attribute: kept");
    assert!(out[2].1.contains(&("password".into(), "p3".into())), "span name does not match: kept");
    let out = run_traces(&c, &traces("billing", spans));
    assert!(out.iter().all(|(_, a)| a.iter().any(|(k, _)| k == "password")), "service does not match");

    // span_kinds (strict names of the enum).
    let c = config(
        r#"
include: { match_type: strict, span_kinds: [SPAN_KIND_CLIENT] }
actions: [{ key: peer, value: yes, action: upsert }]
"#,
    );
    let out = run_traces(
        &c,
        &traces("s", vec![span("a", span::SpanKind::Client, vec![]), span("b", span::SpanKind::Server, vec![])]),
    );
    assert_eq!(out[0].1, vec![("peer".to_string(), "yes".to_string())]);
    assert!(out[1].1.is_empty());
}

#[test]
fn log_records_are_edited_by_severity_text() {
    let c = config(
        r#"
include: { match_type: strict, log_severity_texts: [ERROR] }
actions: [{ key: alert, value: "true", action: insert }]
"#,
    );
    let record = |sev: &str| LogRecord { severity_text: sev.into(), ..Default::default() };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource::default()),
            scope_logs: vec![ScopeLogs { log_records: vec![record("ERROR"), record("INFO")], ..Default::default() }],
            ..Default::default()
        }],
    };
    let p = Payload::new(Signal::Logs, req.encode_to_vec().into()).expect("valid");
    let out = ExportLogsServiceRequest::decode(out_bytes(&c, Signal::Logs, &p).as_slice()).expect("OTLP");
    let records = &out.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records[0].attributes, vec![kv("alert", "true")]);
    assert!(records[1].attributes.is_empty());
}

#[test]
fn bad_configs_are_refused_naming_what_is_wrong() {
    let err = |yaml: &str| weir_core::testing::parse_config::<AttributesConfig>(yaml).expect_err("refused").to_string();
    assert!(err("actions: []").contains("at least one action"));
    assert!(err("actions: [{ key: a, action: nope }]").contains("\"nope\" is not one of"));
    assert!(err("include: { services: [a] }\nactions: [{ key: a, action: delete }]").contains("match_type is required"));
    assert!(err("include: { match_type: regexp, services: ['(a'] }\nactions: [{ key: a, action: delete }]")
        .contains("include"));
    assert!(
        err("include: { match_type: strict }\nactions: [{ key: a, action: delete }]").contains("at least one property")
    );
    assert!(err(
        "include: { match_type: strict, log_severity_number: { min: 9 } }\nactions: [{ key: a, action: delete }]"
    )
    .contains("log_severity_number"));
    // metric_names compiles for data points (the datapoint context reads its metric's name).
    let metrics = config("include: { match_type: strict, metric_names: [m] }\nactions: [{ key: a, action: delete }]");
    assert!(AttributesFactory::processor("attributes".into(), Signal::Metrics, &metrics).is_ok());
    // Upstream's TestSpanConfigUsedWithmetrics: `services` is a valid config that cannot be
    // built for metrics.
    let services = config("include: { match_type: strict, services: [foo] }\nactions: [{ key: a, action: delete }]");
    assert!(AttributesFactory::processor("attributes".into(), Signal::Metrics, &services).is_err());
    assert!(AttributesFactory::processor("attributes".into(), Signal::Traces, &services).is_ok());
    // A property of one signal is refused when the processor is built for another.
    let traces_only = config("include: { match_type: strict, span_names: [a] }\nactions: [{ key: a, action: delete }]");
    let e = AttributesFactory::processor("attributes".into(), Signal::Logs, &traces_only).err().expect("refused");
    assert!(e.to_string().contains("span_names applies to span only"), "{e}");
}
