//! The `zipkin` receiver: keys, translation rules (expected values from the Collector's
//! `zipkinv2/to_translator.go` and its tests), and the server driven by the OpenTelemetry Python
//! Zipkin exporters (v2 JSON and v2 protobuf).

use super::model::read_json_v2;
use super::translate::to_resource_spans;
use super::ZipkinReceiverConfig;
use crate::test_support::{collect, hex, map_of, run_client, start_traces};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Status};
use std::collections::BTreeMap;
use weir_core::testing::parse_config;
use weir_core::Payload;

#[test]
fn keys_and_defaults() {
    let c: ZipkinReceiverConfig = parse_config("parse_string_tags: true\nendpoint: 0.0.0.0:9412\n").unwrap();
    assert!(c.parse_string_tags);
    assert_eq!(c.endpoint.as_deref(), Some("0.0.0.0:9412"));
    let c: ZipkinReceiverConfig = parse_config("{}").unwrap();
    assert_eq!((c.endpoint, c.parse_string_tags), (None, false));
    let e = parse_config::<ZipkinReceiverConfig>("endpoint: localhost\n").unwrap_err();
    assert!(e.starts_with("endpoint must be host:port"), "{e}");
    let e = parse_config::<ZipkinReceiverConfig>("cors: {}\n").unwrap_err();
    assert!(e.contains("cors"), "{e}");
}

fn attr(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

/// A span of the shape of the Collector's `zipkin_v2_single.json` test data.
const SINGLE: &str = r#"[{
  "traceId": "4d1e00c0db9010db86154a4ba6e91385", "parentId": "86154a4ba6e91385", "id": "4d1e00c0db9010db",
  "kind": "CLIENT", "name": "get", "timestamp": 1472470996199000, "duration": 207000,
  "localEndpoint": {"serviceName": "frontend", "ipv6": "7::80:807f"},
  "remoteEndpoint": {"serviceName": "backend", "ipv4": "192.168.99.101", "port": 9000},
  "annotations": [{"timestamp": 1472470996238000, "value": "foo"}, {"timestamp": 1472470996403000, "value": "bar"}],
  "tags": {"http.path": "/api", "clnt/finagle.version": "6.45.0", "status": "200", "ratio": "0.5",
           "flag": "true", "host.name": "box", "otel.library.name": "lib", "otel.library.version": "1"}
}]"#;

#[test]
fn a_v2_json_span_translates_as_the_collectors() {
    let rs = to_resource_spans(read_json_v2(SINGLE.as_bytes()).unwrap(), false).unwrap();
    assert_eq!(rs.len(), 1);
    let resource = &rs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(resource, &vec![attr("service.name", s("frontend")), attr("host.name", s("box"))]);
    let scope = rs[0].scope_spans[0].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lib", "1"));
    let span = &rs[0].scope_spans[0].spans[0];
    assert_eq!(hex(&span.trace_id), "4d1e00c0db9010db86154a4ba6e91385");
    assert_eq!(hex(&span.span_id), "4d1e00c0db9010db");
    assert_eq!(hex(&span.parent_span_id), "86154a4ba6e91385");
    assert_eq!(span.kind, SpanKind::Client as i32);
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (1_472_470_996_199_000_000, 1_472_470_996_406_000_000)
    );
    let attrs: BTreeMap<_, _> =
        span.attributes.iter().map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap())).collect();
    let want: BTreeMap<_, _> = [
        ("http.path", s("/api")),
        ("clnt/finagle.version", s("6.45.0")),
        ("status", s("200")),
        ("ratio", s("0.5")),
        ("flag", s("true")),
        ("net.host.ip", s("7::80:807f")),
        ("peer.service", s("backend")),
        ("net.peer.ip", s("192.168.99.101")),
        ("net.peer.port", Value::IntValue(9000)),
    ]
    .into_iter()
    .collect();
    assert_eq!(attrs, want);
    assert_eq!(
        span.events.iter().map(|e| (e.name.as_str(), e.time_unix_nano)).collect::<Vec<_>>(),
        [("foo", 1_472_470_996_238_000_000), ("bar", 1_472_470_996_403_000_000)]
    );
    assert_eq!(span.status, None);
}

#[test]
fn parse_string_tags_types_what_reads_as_a_number_or_a_boolean() {
    let rs = to_resource_spans(read_json_v2(SINGLE.as_bytes()).unwrap(), true).unwrap();
    let span = &rs[0].scope_spans[0].spans[0];
    let get = |k: &str| span.attributes.iter().find(|kv| kv.key == k).unwrap().value.clone().unwrap().value.unwrap();
    assert_eq!(get("status"), Value::IntValue(200));
    assert_eq!(get("ratio"), Value::DoubleValue(0.5));
    assert_eq!(get("flag"), Value::BoolValue(true));
    assert_eq!(get("clnt/finagle.version"), s("6.45.0"));
}

#[test]
fn status_links_events_and_absent_timestamps() {
    let body = r#"[{"traceId": "0102", "id": "0a", "name": "x", "duration": 5,
        "tags": {"otel.status_code": "STATUS_CODE_ERROR", "otel.status_description": "boom", "span.kind": "internal",
                 "otlp.link.0": "0102030405060708090a0b0c0d0e0f10|1112131415161718|k=v|{\"a\":1,\"b\":\"c\"}|2",
                 "w3c.tracestate": "x=y"},
        "annotations": [{"timestamp": 7, "value": "ev|{\"n\":1.5}|3"}]},
      {"traceId": "0102", "id": "0b", "parentId": "0b", "timestamp": 10, "tags": {"error": "timeout"}}]"#;
    let rs = to_resource_spans(read_json_v2(body.as_bytes()).unwrap(), false).unwrap();
    // No local service: no resource attributes, and both spans in one resource.
    assert_eq!(rs.len(), 1);
    assert!(rs[0].resource.as_ref().unwrap().attributes.is_empty());
    let spans = &rs[0].scope_spans[0].spans;
    let a = &spans[0];
    assert_eq!(a.status, Some(Status { code: StatusCode::Error as i32, message: "boom".into() }));
    assert_eq!(a.kind, SpanKind::Internal as i32);
    assert_eq!(a.trace_state, "x=y");
    assert_eq!(hex(&a.trace_id), "00000000000000000000000000000102");
    assert_eq!(a.links.len(), 1);
    assert_eq!(hex(&a.links[0].span_id), "1112131415161718");
    assert_eq!(a.links[0].trace_state, "k=v");
    assert_eq!(a.links[0].attributes, vec![attr("a", Value::IntValue(1)), attr("b", s("c"))]);
    assert_eq!(a.links[0].dropped_attributes_count, 2);
    assert_eq!((a.start_time_unix_nano, a.end_time_unix_nano), (0, 5_000));
    assert_eq!(a.attributes, vec![attr("otel.zipkin.absentField.startTime", Value::BoolValue(true))]);
    assert_eq!(a.events[0].name, "ev");
    assert_eq!(a.events[0].attributes, vec![attr("n", Value::DoubleValue(1.5))]);
    assert_eq!(a.events[0].dropped_attributes_count, 3);
    let b = &spans[1];
    assert!(b.parent_span_id.is_empty(), "a parent equal to the span's own id is dropped");
    // Any `error` tag makes the status ERROR; only "true" is removed.
    assert_eq!(b.status, Some(Status { code: StatusCode::Error as i32, message: String::new() }));
    assert_eq!(b.attributes, vec![attr("error", s("timeout"))]);
}

#[test]
fn unreadable_bodies_are_errors() {
    assert!(read_json_v2(b"{").is_err());
    assert!(read_json_v2(br#"[{"traceId": "xyz", "id": "1"}]"#).is_err());
    assert!(read_json_v2(br#"[{"traceId": "1", "id": ""}]"#).is_err());
    assert!(super::model::read_proto_v2(b"\x0a\x03\x0a\x01\x01").is_err(), "a 1-byte trace id");
}

// ---------------------------------------------------------------------------------------------
// The server, driven by the OpenTelemetry Python Zipkin exporters

fn received(payloads: &[Payload]) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for p in payloads {
        for rs in p.decode_traces().unwrap().resource_spans {
            let resource = map_of(&rs.resource.unwrap_or_default().attributes);
            for ss in rs.scope_spans {
                let scope = ss.scope.unwrap_or_default();
                for sp in ss.spans {
                    out.insert(
                        hex(&sp.span_id),
                        serde_json::json!({
                            "trace_id": hex(&sp.trace_id), "span_id": hex(&sp.span_id),
                            "parent_span_id": hex(&sp.parent_span_id), "name": sp.name, "kind": sp.kind,
                            "start": sp.start_time_unix_nano, "end": sp.end_time_unix_nano,
                            "attributes": map_of(&sp.attributes), "resource": resource,
                            "scope": [scope.name, scope.version],
                            "status": sp.status.map(|s| serde_json::json!([s.code, s.message])),
                            "events": sp.events.iter().map(|e| serde_json::json!({
                                "name": e.name, "time": e.time_unix_nano, "attributes": map_of(&e.attributes)})).collect::<Vec<_>>(),
                            "links": sp.links.len(),
                        }),
                    );
                }
            }
        }
    }
    out
}

/// The Collector's reading of what the Python exporter sent: tags are the SDK attributes and
/// the resource's (as strings), `otel.library.*` (the scope) and `otel.scope.*` (attributes),
/// `otel.status_code` (`OK` / `ERROR`, names the Collector does not know: unset) and, for
/// errors, `error` = the description (not "true": ERROR, and the tag stays); resource
/// conventions move to the resource; each event is an annotation whose value is
/// `{"<name>": {attrs}}`, read as the event's name.
fn expected(sent: &serde_json::Value) -> serde_json::Value {
    let kind = match sent["kind"].as_str().unwrap() {
        "internal" => SpanKind::Unspecified, // the exporter sends no kind for internal spans
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        other => panic!("{other}"),
    } as i32;
    let mut attributes = sent["attributes"].as_object().unwrap().clone();
    attributes.insert("otel.scope.name".into(), sent["scope"][0].clone());
    attributes.insert("otel.scope.version".into(), sent["scope"][1].clone());
    let mut resource = serde_json::Map::new();
    for (k, v) in sent["resource"].as_object().unwrap() {
        resource.insert(k.clone(), v.clone()); // all of them are resource conventions
    }
    let status = match sent["status"][0].as_str().unwrap() {
        "ERROR" => {
            attributes.insert("error".into(), sent["status"][1].clone());
            serde_json::json!([StatusCode::Error as i32, ""])
        }
        _ => serde_json::Value::Null,
    };
    let events: Vec<_> = sent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::json!({"name": e["value"], "time": e["time"], "attributes": {}}))
        .collect();
    serde_json::json!({
        "trace_id": sent["trace_id"], "span_id": sent["span_id"], "parent_span_id": sent["parent_span_id"],
        "name": sent["name"], "kind": kind, "start": sent["start"], "end": sent["end"],
        "attributes": attributes, "resource": resource, "scope": sent["scope"], "status": status,
        "events": events, "links": 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_zipkin_exporters_json_and_protobuf() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (service, mut rx) = start_traces(&format!("  zipkin:\n    endpoint: \"127.0.0.1:{port}\""), "zipkin").await;
    for protocol in ["json", "proto"] {
        let sent = run_client("send_zipkin.py", protocol, port).await;
        let sent_spans = sent["spans"].as_array().unwrap().clone();
        let got = received(&collect(&mut rx, sent_spans.len(), protocol).await);
        assert_eq!(got.len(), 5, "{protocol}");
        for want in &sent_spans {
            let id = want["span_id"].as_str().unwrap();
            assert_eq!(got.get(id), Some(&expected(want)), "{protocol}: span {}", want["name"]);
        }
    }
    // Not JSON: 400, and the server keeps serving.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let post = |body: &'static str, path: &str| {
        http::Request::post(format!("http://127.0.0.1:{port}{path}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap()
    };
    assert_eq!(client.request(post("[{", "/api/v2/spans")).await.unwrap().status().as_u16(), 400);
    assert_eq!(client.request(post("[]", "/api/v1/spans")).await.unwrap().status().as_u16(), 400);
    assert_eq!(client.request(post("[]", "/api/v2/spans")).await.unwrap().status().as_u16(), 202);
    service.shutdown().await;
}
