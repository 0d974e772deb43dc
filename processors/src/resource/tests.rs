//! `resource` with the Collector README's example (expected results from its description of
//! each action) and the other actions of `attraction`; config errors.

use super::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weir_core::Payload;
use weir_ottl::Outcome;

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn config(yaml: &str) -> ResourceConfig {
    weir_core::testing::parse_config(yaml).expect("valid config")
}

fn traces(resource: Vec<KeyValue>) -> Payload {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "op".into(),
                    span_id: vec![1; 8],
                    trace_id: vec![2; 16],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).expect("valid")
}

/// The resource attributes after the processor, in order, and the span (which must be intact).
fn run(c: &ResourceConfig, p: &Payload) -> (Vec<(String, any_value::Value)>, Span) {
    let proc = ResourceFactory::processor("resource".into(), Signal::Traces, c).expect("builds");
    let bytes = match proc.process(p).expect("runs") {
        Outcome::Unchanged => p.bytes().to_vec(),
        Outcome::Rebuilt(r) => r.bytes().to_vec(),
        Outcome::Empty => panic!("the resource processor never drops data"),
    };
    let req = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("valid OTLP");
    let rs = &req.resource_spans[0];
    let attrs = rs
        .resource
        .as_ref()
        .map(|r| r.attributes.iter().map(|a| (a.key.clone(), a.value.clone().unwrap().value.unwrap())).collect())
        .unwrap_or_default();
    (attrs, rs.scope_spans[0].spans[0].clone())
}

fn get(attrs: &[(String, any_value::Value)], key: &str) -> Option<any_value::Value> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

#[test]
fn the_readme_example_upserts_inserts_from_an_attribute_and_deletes() {
    // processor/resourceprocessor/README.md.
    let c = config(
        r#"
attributes:
- key: cloud.availability_zone
  value: "zone-1"
  action: upsert
- key: k8s.cluster.name
  from_attribute: k8s-cluster
  action: insert
- key: redundant-attribute
  action: delete
"#,
    );
    let p = traces(vec![
        kv("cloud.availability_zone", s("zone-0")),
        kv("k8s-cluster", s("prod-eu")),
        kv("redundant-attribute", s("x")),
        kv("service.name", s("checkout")),
    ]);
    let (attrs, span) = run(&c, &p);
    assert_eq!(get(&attrs, "cloud.availability_zone"), Some(s("zone-1")), "upsert overwrites");
    assert_eq!(get(&attrs, "k8s.cluster.name"), Some(s("prod-eu")), "insert from_attribute");
    assert_eq!(get(&attrs, "redundant-attribute"), None, "deleted");
    assert_eq!(get(&attrs, "service.name"), Some(s("checkout")), "untouched");
    assert_eq!(span.name, "op");

    // Without the source attribute, insert does nothing; upsert still sets.
    let (attrs, _) = run(&c, &traces(vec![kv("service.name", s("checkout"))]));
    assert_eq!(get(&attrs, "k8s.cluster.name"), None);
    assert_eq!(get(&attrs, "cloud.availability_zone"), Some(s("zone-1")), "upsert inserts");
}

#[test]
fn insert_keeps_an_existing_value_and_update_never_adds_one() {
    let c = config(
        r#"
attributes:
- { key: env, value: staging, action: insert }
- { key: team, value: core, action: update }
- { key: tier, value: 3, action: upsert }
- { key: ratio, value: 0.5, action: upsert }
- { key: canary, value: true, action: upsert }
"#,
    );
    let (attrs, _) = run(&c, &traces(vec![kv("env", s("prod"))]));
    assert_eq!(get(&attrs, "env"), Some(s("prod")), "insert does not overwrite");
    assert_eq!(get(&attrs, "team"), None, "update does not add");
    assert_eq!(get(&attrs, "tier"), Some(any_value::Value::IntValue(3)));
    assert_eq!(get(&attrs, "ratio"), Some(any_value::Value::DoubleValue(0.5)));
    assert_eq!(get(&attrs, "canary"), Some(any_value::Value::BoolValue(true)));

    let (attrs, _) = run(&c, &traces(vec![kv("team", s("edge"))]));
    assert_eq!(get(&attrs, "team"), Some(s("core")), "update overwrites an existing value");
    assert_eq!(get(&attrs, "env"), Some(s("staging")), "insert adds a missing value");
}

#[test]
fn hash_extract_convert_and_pattern_delete() {
    let c = config(
        r#"
attributes:
- { key: user.email, action: hash }
- { key: http.url, pattern: '^(?P<http_protocol>.*):\/\/(?P<http_domain>[^/]*)', action: extract }
- { key: port, converted_type: int, action: convert }
- { key: not.a.number, converted_type: int, action: convert }
- { pattern: '^tmp\.', action: delete }
"#,
    );
    let (attrs, _) = run(
        &c,
        &traces(vec![
            kv("user.email", s("a@b.c")),
            kv("http.url", s("https://example.com/path")),
            kv("port", s("8080")),
            kv("not.a.number", s("eighty")),
            kv("tmp.one", s("1")),
            kv("tmp.two", s("2")),
            kv("keep", s("k")),
        ]),
    );
    // sha256("a@b.c") in lowercase hex (computed outside weir: Python's hashlib).
    assert_eq!(get(&attrs, "user.email"), Some(s("d648b243a3e817eaa3309e00e183483f2867baadf522099f0c2121770536b25a")));
    assert_eq!(get(&attrs, "http_protocol"), Some(s("https")));
    assert_eq!(get(&attrs, "http_domain"), Some(s("example.com")));
    assert_eq!(get(&attrs, "http.url"), Some(s("https://example.com/path")), "extract keeps the source");
    assert_eq!(get(&attrs, "port"), Some(any_value::Value::IntValue(8080)));
    assert_eq!(get(&attrs, "not.a.number"), Some(s("eighty")), "a value that does not convert stays");
    assert_eq!(get(&attrs, "tmp.one"), None);
    assert_eq!(get(&attrs, "tmp.two"), None);
    assert_eq!(get(&attrs, "keep"), Some(s("k")));
}

#[test]
fn a_request_no_action_changes_is_forwarded_as_its_bytes() {
    let c = config("attributes: [{ key: team, value: core, action: update }]");
    let p = traces(vec![kv("service.name", s("checkout"))]);
    let proc = ResourceFactory::processor("resource".into(), Signal::Traces, &c).expect("builds");
    assert!(matches!(proc.process(&p).expect("runs"), Outcome::Unchanged));
}

#[test]
fn bad_actions_are_refused_naming_what_is_wrong() {
    let err = |yaml: &str| weir_core::testing::parse_config::<ResourceConfig>(yaml).expect_err("refused").to_string();
    assert!(err("attributes: []").contains("at least one action"));
    assert!(err("attributes: [{ key: a, value: b, action: replace }]").contains("\"replace\" is not one of insert"));
    assert!(err("attributes: [{ key: a, action: insert }]").contains("exactly one of value and from_attribute"));
    assert!(err("attributes: [{ key: a, value: b, from_attribute: c, action: upsert }]").contains("exactly one of"));
    assert!(err("attributes: [{ value: b, action: upsert }]").contains("needs a key"));
    assert!(err("attributes: [{ key: a, from_context: metadata.x, action: upsert }]").contains("from_context"));
    assert!(err("attributes: [{ key: a, action: convert, converted_type: float }]").contains("converted_type"));
    assert!(err("attributes: [{ key: a, action: extract, pattern: '(unnamed)' }]").contains("named group"));
    assert!(err("attributes: [{ key: a, action: extract, pattern: '(?P<x>' }]").contains("pattern"));
    assert!(err("attributes: [{ action: delete }]").contains("key or a pattern"));
    // Keys are checked as the Collector's (unknown ones refused).
    assert!(weir_core::testing::parse_config::<ResourceConfig>("attributes: [{ key: a, acton: delete }]").is_err());
}
