//! The `jaeger` receiver: its keys, the translation rules (expected values from the Collector's
//! `pkg/translator/jaeger` tests and code), and the four servers driven by real clients: the
//! OpenTelemetry Python Jaeger exporters (thrift compact over UDP, thrift binary over UDP with
//! the exporter's generated agent client, thrift over HTTP, protobuf over gRPC).

use super::model::{Batch, Log, Process, RefType, Source, Span, SpanRef, Tag, TagValue};
use super::translate::to_resource_spans;
use super::JaegerReceiverConfig;
use crate::jaeger::thrift::writer::{self, Writer};
use crate::jaeger::thrift::Protocol;
use crate::test_support::{collect, hex, map_of, run_client, start_traces};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, ResourceSpans, Status};
use std::collections::BTreeMap;
use std::time::Duration;
use weir_core::runtime::Service;
use weir_core::testing::parse_config;
use weir_core::Payload;

// ---------------------------------------------------------------------------------------------
// Keys

#[test]
fn a_protocol_must_be_named() {
    let e = parse_config::<JaegerReceiverConfig>("protocols: {}").unwrap_err();
    assert!(e.contains("must specify at least one protocol"), "{e}");
}

#[test]
fn protocols_take_the_collectors_keys_and_defaults() {
    let c: JaegerReceiverConfig = parse_config(
        "protocols:\n  grpc:\n  thrift_http:\n    endpoint: 0.0.0.0:14269\n  thrift_compact:\n  thrift_binary:\n    queue_size: 5000\n    max_packet_size: 131\n    workers: 50\n    socket_buffer_size: 8388608\n",
    )
    .unwrap();
    let p = &c.protocols;
    assert_eq!(p.grpc.as_ref().unwrap().endpoint, None);
    assert_eq!(p.thrift_http.as_ref().unwrap().endpoint.as_deref(), Some("0.0.0.0:14269"));
    let compact = p.thrift_compact.as_ref().unwrap();
    assert_eq!((compact.queue_size, compact.max_packet_size, compact.workers), (1000, 65_000, 10));
    let binary = p.thrift_binary.as_ref().unwrap();
    assert_eq!((binary.queue_size, binary.max_packet_size, binary.workers), (5000, 131, 50));
    assert_eq!(binary.socket_buffer_size, 8_388_608);
}

#[test]
fn bad_keys_are_refused_by_name() {
    let e = parse_config::<JaegerReceiverConfig>("protocols:\n  grpc:\n    endpoint: localhost\n").unwrap_err();
    assert!(e.contains("protocols::grpc::endpoint must be host:port"), "{e}");
    let e = parse_config::<JaegerReceiverConfig>("protocols:\n  thrift_compact:\n    endpoint: :0\n").unwrap_err();
    assert!(e.contains("between 1 and 65535"), "{e}");
    // Removed from the Collector in v0.61 (use the jaegerremotesampling extension).
    let e = parse_config::<JaegerReceiverConfig>("protocols:\n  grpc:\nremote_sampling:\n  host_endpoint: :5778\n")
        .unwrap_err();
    assert!(e.contains("remote_sampling"), "{e}");
    let e = parse_config::<JaegerReceiverConfig>("protocols:\n  thrift_binary:\n    workers: 0\n").unwrap_err();
    assert!(e.contains("protocols::thrift_binary::workers"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Translation (the Collector's `jaegerthrift_to_traces_test.go` / `jaegerproto_to_traces_test.go`)

fn tag(key: &str, value: TagValue) -> Tag {
    Tag { key: key.into(), value }
}

fn s(v: &str) -> TagValue {
    TagValue::Str(v.into())
}

const TRACE_HIGH: u64 = 0xF1F2_F3F4_F5F6_F7F8;
const TRACE_LOW: u64 = 0xF9FA_FBFC_FDFE_FF80;
const SPAN_A: u64 = 0xAFAE_ADAC_ABAA_A9A8;
const SPAN_B: u64 = 0x1F1E_1D1C_1B1A_1918;

/// Upstream's `generateThriftSpan`: status and kind from tags, two logs.
fn span_a() -> Span {
    Span {
        trace_id_high: TRACE_HIGH,
        trace_id_low: TRACE_LOW,
        span_id: SPAN_A,
        operation_name: "operationA".into(),
        start_time_ns: 1_581_452_772_000_000_000,
        duration_ns: 1_000_000,
        logs: vec![
            Log {
                timestamp_ns: 1_581_452_772_000_500_000,
                fields: vec![tag("event", s("event-with-attr")), tag("span-event-attr", s("span-event-attr-val"))],
            },
            Log { timestamp_ns: 1_581_452_772_000_500_000, fields: vec![tag("attr-int", TagValue::Long(123))] },
        ],
        tags: vec![
            tag("otel.status_code", s("ERROR")),
            tag("otel.status_description", s("status-cancelled")),
            tag("span.kind", s("client")),
        ],
        ..Default::default()
    }
}

fn attr(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn str_attr(key: &str, v: &str) -> KeyValue {
    attr(key, Value::StringValue(v.into()))
}

fn only(rs: &[ResourceSpans]) -> &ResourceSpans {
    assert_eq!(rs.len(), 1, "{rs:#?}");
    &rs[0]
}

#[test]
fn an_empty_batch_is_no_traces_and_a_process_alone_is_a_resource() {
    assert!(to_resource_spans(Batch::default(), Source::Thrift).is_empty());
    let process =
        Process { service_name: String::new(), tags: Some(vec![tag("resource-attr", s("resource-attr-val-1"))]) };
    let rs = to_resource_spans(Batch { process: Some(process), spans: vec![] }, Source::Thrift);
    let r = only(&rs);
    assert_eq!(r.resource.as_ref().unwrap().attributes, vec![str_attr("resource-attr", "resource-attr-val-1")]);
    assert!(r.scope_spans.is_empty());
}

#[test]
fn a_thrift_span_with_status_kind_and_logs() {
    let rs = to_resource_spans(Batch { process: None, spans: vec![span_a()] }, Source::Thrift);
    let span = &only(&rs).scope_spans[0].spans[0];
    assert_eq!(
        span.trace_id,
        [0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, 0x80]
    );
    assert_eq!(span.span_id, [0xAF, 0xAE, 0xAD, 0xAC, 0xAB, 0xAA, 0xA9, 0xA8]);
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.name, "operationA");
    assert_eq!(span.kind, SpanKind::Client as i32);
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (1_581_452_772_000_000_000, 1_581_452_772_001_000_000)
    );
    assert_eq!(span.status, Some(Status { code: StatusCode::Error as i32, message: "status-cancelled".into() }));
    assert!(span.attributes.is_empty(), "status and kind tags are consumed: {:?}", span.attributes);
    assert_eq!(span.events.len(), 2);
    assert_eq!(span.events[0].name, "event-with-attr");
    assert_eq!(span.events[0].time_unix_nano, 1_581_452_772_000_500_000);
    assert_eq!(span.events[0].attributes, vec![str_attr("span-event-attr", "span-event-attr-val")]);
    assert_eq!(span.events[1].name, "");
    assert_eq!(span.events[1].attributes, vec![attr("attr-int", Value::IntValue(123))]);
}

#[test]
fn parents_come_from_parent_span_id_else_same_trace_references() {
    // The child (upstream's `generateThriftChildSpan`): explicit parent, 404 on a server span.
    let child = Span {
        span_id: SPAN_B,
        parent_span_id: SPAN_A,
        tags: vec![tag("http.status_code", TagValue::Long(404)), tag("span.kind", s("server"))],
        ..span_a()
    };
    // A follower: no parent id, one FOLLOWS_FROM reference in the same trace.
    let follower = Span {
        span_id: SPAN_B,
        tags: vec![tag("otel.status_code", s("OK")), tag("otel.status_description", s("status-ok"))],
        references: vec![SpanRef {
            ref_type: RefType::FollowsFrom,
            trace_id_high: TRACE_HIGH,
            trace_id_low: TRACE_LOW,
            span_id: SPAN_A,
        }],
        logs: vec![],
        ..span_a()
    };
    // Two parents: the explicit one, and a CHILD_OF reference to another span, kept as a link.
    let two = Span {
        span_id: 0x1F1E_1D1C_1B1A_1920,
        parent_span_id: SPAN_A,
        references: vec![SpanRef {
            ref_type: RefType::ChildOf,
            trace_id_high: TRACE_HIGH,
            trace_id_low: TRACE_LOW,
            span_id: SPAN_B,
        }],
        tags: vec![],
        logs: vec![],
        ..span_a()
    };
    let rs = to_resource_spans(Batch { process: None, spans: vec![child, follower, two] }, Source::Thrift);
    let spans = &only(&rs).scope_spans[0].spans;
    assert_eq!(spans[0].parent_span_id, SPAN_A.to_be_bytes());
    assert_eq!(spans[0].kind, SpanKind::Server as i32);
    // 4xx on a server span leaves the status unset; the tag stays.
    assert_eq!(spans[0].status, None);
    assert_eq!(spans[0].attributes, vec![attr("http.status_code", Value::IntValue(404))]);
    assert_eq!(spans[1].parent_span_id, SPAN_A.to_be_bytes());
    assert_eq!(spans[1].status, Some(Status { code: StatusCode::Ok as i32, message: "status-ok".into() }));
    assert_eq!(spans[1].links.len(), 1);
    assert_eq!(spans[1].links[0].attributes, vec![str_attr("opentracing.ref_type", "follows_from")]);
    assert_eq!(spans[2].parent_span_id, SPAN_A.to_be_bytes());
    assert_eq!(spans[2].links.len(), 1);
    assert_eq!(spans[2].links[0].span_id, SPAN_B.to_be_bytes());
    assert_eq!(spans[2].links[0].attributes, vec![str_attr("opentracing.ref_type", "child_of")]);
}

#[test]
fn status_rules_follow_set_internal_span_status() {
    let status_of = |tags: Vec<Tag>| {
        let span = Span { tags, logs: vec![], ..span_a() };
        let rs = to_resource_spans(Batch { process: None, spans: vec![span] }, Source::Thrift);
        let s = &rs[0].scope_spans[0].spans[0];
        (
            s.status.clone().map(|s| (s.code, s.message)),
            s.attributes.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(),
        )
    };
    let err = StatusCode::Error as i32;
    // `error: true` wins, with the HTTP status message as the message.
    assert_eq!(
        status_of(vec![tag("error", TagValue::Bool(true)), tag("http.status_message", s("Forbidden"))]),
        (Some((err, "Forbidden".into())), vec!["http.status_message".to_string()])
    );
    // `error` as a string is only an attribute.
    assert_eq!(status_of(vec![tag("error", s("true"))]), (None, vec!["error".to_string()]));
    // An HTTP 500 is an error; a numeric string counts; a client's 404 too.
    assert_eq!(status_of(vec![tag("http.status_code", s("500"))]).0, Some((err, String::new())));
    assert_eq!(
        status_of(vec![tag("http.status_code", TagValue::Long(404)), tag("span.kind", s("client"))]).0,
        Some((err, String::new()))
    );
    assert_eq!(status_of(vec![tag("http.status_code", TagValue::Long(200))]).0, None);
}

#[test]
fn process_tags_become_the_resource_with_the_collectors_renames() {
    let process = Process {
        service_name: "svc".into(),
        tags: Some(vec![
            tag("hostname", s("box")),
            tag("jaeger.version", s("Go-2.30")),
            tag("blob", TagValue::Binary(vec![0, 0x64])),
        ]),
    };
    let rs = to_resource_spans(Batch { process: Some(process), spans: vec![span_a()] }, Source::Thrift);
    let attrs = &only(&rs).resource.as_ref().unwrap().attributes;
    assert_eq!(
        attrs,
        &vec![
            str_attr("service.name", "svc"),
            attr("blob", Value::BytesValue(vec![0, 0x64])),
            str_attr("host.name", "box"),
            str_attr("opencensus.exporterversion", "Jaeger-Go-2.30"),
        ]
    );
}

#[test]
fn protobuf_spans_group_by_process_and_scope() {
    let own = Process { service_name: "other".into(), tags: None };
    let mut a = span_a();
    a.tags.push(tag("otel.scope.name", s("lib")));
    a.tags.push(tag("otel.scope.version", s("1.0")));
    a.tags.push(tag("w3c.tracestate", s("k=v")));
    let b = Span { span_id: SPAN_B, process: Some(own), logs: vec![], ..span_a() };
    let batch = Batch { process: Some(Process { service_name: "svc".into(), tags: None }), spans: vec![a, b] };
    let rs = to_resource_spans(batch, Source::Proto);
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0].resource.as_ref().unwrap().attributes, vec![str_attr("service.name", "svc")]);
    let scope = rs[0].scope_spans[0].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lib", "1.0"));
    assert_eq!(rs[0].scope_spans[0].spans[0].trace_state, "k=v");
    assert!(rs[0].scope_spans[0].spans[0].attributes.is_empty());
    assert_eq!(rs[1].resource.as_ref().unwrap().attributes, vec![str_attr("service.name", "other")]);
}

// ---------------------------------------------------------------------------------------------
// The servers, driven by the OpenTelemetry Python Jaeger exporters

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Ports {
    grpc: u16,
    http: u16,
    compact: u16,
    binary: u16,
}

async fn start(ports: &Ports) -> (Service, tokio::sync::mpsc::UnboundedReceiver<Payload>) {
    let receivers = format!(
        "  jaeger:\n    protocols:\n      grpc: {{endpoint: \"127.0.0.1:{}\"}}\n      thrift_http: {{endpoint: \"127.0.0.1:{}\"}}\n      thrift_compact: {{endpoint: \"127.0.0.1:{}\"}}\n      thrift_binary: {{endpoint: \"127.0.0.1:{}\", max_packet_size: 60000}}",
        ports.grpc, ports.http, ports.compact, ports.binary
    );
    start_traces(&receivers, "jaeger").await
}

/// Every received span, as JSON comparable with what the client sent, keyed by span id.
fn received(payloads: &[Payload]) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for p in payloads {
        for rs in p.decode_traces().expect("the receiver produced valid OTLP").resource_spans {
            let resource = map_of(&rs.resource.unwrap_or_default().attributes);
            for ss in rs.scope_spans {
                let scope = ss.scope.unwrap_or_default();
                for s in ss.spans {
                    let status = s.status.map(|st| serde_json::json!([st.code, st.message]));
                    let v = serde_json::json!({
                        "trace_id": hex(&s.trace_id),
                        "span_id": hex(&s.span_id),
                        "parent_span_id": hex(&s.parent_span_id),
                        "name": s.name,
                        "kind": s.kind,
                        "start": s.start_time_unix_nano,
                        "end": s.end_time_unix_nano,
                        "flags": s.flags,
                        "trace_state": s.trace_state,
                        "attributes": map_of(&s.attributes),
                        "resource": resource,
                        "scope": [scope.name, scope.version],
                        "status": status,
                        "events": s.events.iter().map(|e| serde_json::json!({
                            "name": e.name, "time": e.time_unix_nano, "attributes": map_of(&e.attributes),
                        })).collect::<Vec<_>>(),
                        "links": s.links.iter().map(|l| serde_json::json!({
                            "trace_id": hex(&l.trace_id), "span_id": hex(&l.span_id), "attributes": map_of(&l.attributes),
                        })).collect::<Vec<_>>(),
                    });
                    out.insert(hex(&s.span_id), v);
                }
            }
        }
    }
    out
}

/// What the Collector makes of a span the Python exporter sent (its `_extract_tags`, then
/// `pkg/translator/jaeger`): SDK attributes and the resource's as tags, `span.kind` → kind,
/// `otel.status_code` / `error` → status, `otel.library.*` kept as attributes, `otel.scope.*`
/// the scope (protobuf only), event names in the `message` field (not the Collector's `event`,
/// so they stay attributes), links as `FOLLOWS_FROM` references.
fn expected(sent: &serde_json::Value, grpc: bool) -> serde_json::Value {
    let kind = match sent["kind"].as_str().unwrap() {
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        other => panic!("kind {other}"),
    } as i32;
    let mut attributes = sent["attributes"].as_object().unwrap().clone();
    for (k, v) in sent["resource"].as_object().unwrap() {
        attributes.insert(k.clone(), v.clone());
    }
    let scope = sent["scope"].clone();
    attributes.insert("otel.library.name".into(), scope[0].clone());
    attributes.insert("otel.library.version".into(), scope[1].clone());
    if !grpc {
        attributes.insert("otel.scope.name".into(), scope[0].clone());
        attributes.insert("otel.scope.version".into(), scope[1].clone());
    }
    let status = match sent["status"][0].as_str().unwrap() {
        "UNSET" => serde_json::Value::Null,
        "OK" => serde_json::json!([StatusCode::Ok as i32, ""]),
        "ERROR" => serde_json::json!([StatusCode::Error as i32, sent["status"][1].as_str().unwrap_or("")]),
        other => panic!("status {other}"),
    };
    let resource = if grpc {
        sent["resource"].clone()
    } else {
        serde_json::json!({"service.name": sent["resource"]["service.name"]})
    };
    let events: Vec<_> = sent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut a = e["attributes"].as_object().unwrap().clone();
            a.insert("message".into(), e["name"].clone());
            serde_json::json!({"name": "", "time": e["time"], "attributes": a})
        })
        .collect();
    let links: Vec<_> = sent["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::json!({"trace_id": l["trace_id"], "span_id": l["span_id"], "attributes": {"opentracing.ref_type": "follows_from"}})
        })
        .collect();
    serde_json::json!({
        "trace_id": sent["trace_id"],
        "span_id": sent["span_id"],
        "parent_span_id": sent["parent_span_id"],
        "name": sent["name"],
        "kind": kind,
        "start": sent["start"],
        "end": sent["end"],
        "flags": sent["flags"],
        "trace_state": "",
        "attributes": attributes,
        "resource": resource,
        "scope": if grpc { scope } else { serde_json::json!(["", ""]) },
        "status": status,
        "events": events,
        "links": links,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_jaeger_exporters_over_all_four_protocols() {
    let ports =
        Ports { grpc: free_tcp_port(), http: free_tcp_port(), compact: free_udp_port(), binary: free_udp_port() };
    let (service, mut rx) = start(&ports).await;
    for (protocol, port) in [
        ("thrift_compact", ports.compact),
        ("thrift_binary", ports.binary),
        ("thrift_http", ports.http),
        ("grpc", ports.grpc),
    ] {
        let sent = run_client("send_jaeger.py", protocol, port).await;
        let sent_spans = sent["spans"].as_array().unwrap().clone();
        assert_eq!(sent_spans.len(), 5, "{protocol}");
        let got = received(&collect(&mut rx, sent_spans.len(), protocol).await);
        assert_eq!(got.len(), sent_spans.len(), "{protocol}");
        for want in &sent_spans {
            let id = want["span_id"].as_str().unwrap();
            let have = got.get(id).unwrap_or_else(|| panic!("{protocol}: span {id} missing"));
            assert_eq!(have, &expected(want, protocol == "grpc"), "{protocol}: span {}", want["name"]);
        }
    }
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_and_the_receiver_keeps_serving() {
    let ports =
        Ports { grpc: free_tcp_port(), http: free_tcp_port(), compact: free_udp_port(), binary: free_udp_port() };
    let (service, mut rx) = start(&ports).await;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let malformed = |transport: &str| {
        weir_core::testing::metric_value(
            "weir_receiver_malformed_requests",
            &[("receiver", "jaeger"), ("transport", transport)],
        )
        .unwrap_or(0.0)
    };
    let before = malformed("udp_thrift_binary");

    // A valid one-span batch, in the binary protocol.
    let mut w = Writer::new(Protocol::Binary);
    w.message("emitBatch", 4);
    w.struct_begin();
    w.field(writer::STRUCT, 1); // emitBatch_args.batch
    w.struct_begin();
    w.field(writer::STRUCT, 1); // Batch.process
    w.struct_begin();
    w.field(writer::STRING, 1);
    w.string(b"udp-svc");
    w.stop();
    w.field(writer::LIST, 2); // Batch.spans
    w.list(writer::STRUCT, 1);
    w.struct_begin();
    for (id, v) in [(1, 7i64), (2, 0), (3, 9), (4, 0)] {
        w.field(writer::I64, id);
        w.i64(v);
    }
    w.field(writer::STRING, 5);
    w.string(b"op");
    w.field(writer::I32, 7);
    w.i32(1);
    w.field(writer::I64, 8);
    w.i64(1_700_000_000_000_000);
    w.field(writer::I64, 9);
    w.i64(5);
    w.stop();
    w.stop();
    w.stop();
    let valid = w.out.clone();

    // Truncated, garbage, oversized (max_packet_size is 60000 here), then the valid packet.
    udp.send_to(&valid[..valid.len() - 3], ("127.0.0.1", ports.binary)).unwrap();
    udp.send_to(b"\x80\x01\x00\x04garbage", ("127.0.0.1", ports.binary)).unwrap();
    udp.send_to(&vec![0u8; 60_001], ("127.0.0.1", ports.binary)).unwrap();
    udp.send_to(&valid, ("127.0.0.1", ports.binary)).unwrap();
    let p = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("the valid packet arrives").unwrap();
    let req = p.decode_traces().unwrap();
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!((span.name.as_str(), span.span_id.as_slice()), ("op", 9u64.to_be_bytes().as_slice()));
    assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 5_000);
    let counted = malformed("udp_thrift_binary") - before;
    assert_eq!(counted, 3.0, "truncated, garbage and oversized packets are counted");

    // Thrift over HTTP: a malformed body is 400, another content type too; then a good one is 202.
    let post = |body: Vec<u8>, content_type: &'static str| async move {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let req = http::Request::post(format!("http://127.0.0.1:{}/api/traces", ports.http))
            .header("content-type", content_type)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        client.request(req).await.unwrap().status().as_u16()
    };
    // The HTTP body is a bare Batch: the message header (21 bytes) and the args struct's field
    // header (3) open the agent packet, and the args' stop byte ends it.
    let batch = valid[24..valid.len() - 1].to_vec();
    assert_eq!(post(batch[..batch.len() / 2].to_vec(), "application/x-thrift").await, 400);
    assert_eq!(post(batch.clone(), "application/json").await, 400);
    assert_eq!(post(batch, "application/vnd.apache.thrift.binary").await, 202);
    let p = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("the HTTP batch arrives").unwrap();
    assert_eq!(p.items(), 1);

    // gRPC: a malformed message is INVALID_ARGUMENT, one above max_recv_msg_size_mib (4 MiB)
    // RESOURCE_EXHAUSTED.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", ports.grpc))
        .unwrap()
        .connect()
        .await
        .expect("the gRPC server accepts connections");
    let grpc = tonic::client::Grpc::new(channel);
    let call = |body: Vec<u8>| {
        let mut grpc = grpc.clone();
        async move {
            grpc.ready().await.unwrap();
            let path = http::uri::PathAndQuery::from_static(super::serve::POST_SPANS_PATH);
            grpc.unary(tonic::Request::new(bytes::Bytes::from(body)), path, weir_core::grpc::RawBytesCodec).await
        }
    };
    let e = call(vec![0x0a, 0x05, 0x0a]).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let e = call(vec![0; 5 << 20]).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    service.shutdown().await;
}
