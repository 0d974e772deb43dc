use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource { attributes: attrs, ..Default::default() })
}

fn span(trace: u8, n: u8) -> Span {
    Span { trace_id: vec![trace; 16], span_id: vec![n; 8], name: format!("op-{trace}-{n}"), ..Default::default() }
}

/// Two services; spans of traces 1, 2 and 3 interleaved across them.
fn interleaved_traces() -> Payload {
    let scope = |spans| ScopeSpans {
        scope: Some(InstrumentationScope { name: "lib".into(), ..Default::default() }),
        spans,
        ..Default::default()
    };
    let req = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: resource(vec![attr("service.name", "front")]),
                scope_spans: vec![scope(vec![span(1, 1), span(2, 1), span(1, 2)])],
                ..Default::default()
            },
            ResourceSpans {
                resource: resource(vec![attr("service.name", "back")]),
                scope_spans: vec![scope(vec![span(3, 1), span(1, 3)])],
                ..Default::default()
            },
        ],
    };
    Payload::new(Signal::Traces, Bytes::from(req.encode_to_vec())).unwrap()
}

fn one_trace(spans: u8) -> Payload {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(vec![attr("service.name", "front")]),
            scope_spans: vec![ScopeSpans { spans: (0..spans).map(|n| span(7, n)).collect(), ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, Bytes::from(req.encode_to_vec())).unwrap()
}

fn logs(resources: Vec<Vec<KeyValue>>) -> Payload {
    let req = ExportLogsServiceRequest {
        resource_logs: resources
            .into_iter()
            .map(|attrs| ResourceLogs {
                resource: resource(attrs),
                scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default()], ..Default::default() }],
                ..Default::default()
            })
            .collect(),
    };
    Payload::new(Signal::Logs, Bytes::from(req.encode_to_vec())).unwrap()
}

fn decode(m: &Message) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(m.value.clone()).unwrap()
}

#[test]
fn an_unpartitioned_payload_is_produced_untouched() {
    let p = interleaved_traces();
    let out = build(&p, Partitioning::None, Encoding::OtlpProto, 1_000_000).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, *p.bytes());
    assert!(out[0].untouched);
    assert_eq!(out[0].key, None);
    assert_eq!(out[0].items, 5);
}

#[test]
fn partition_by_trace_id_sends_one_message_per_trace_keyed_by_hex_id() {
    let out = build(&interleaved_traces(), Partitioning::TraceId, Encoding::OtlpProto, 1_000_000).unwrap();
    let keys: Vec<String> = out.iter().map(|m| String::from_utf8(m.key.clone().unwrap()).unwrap()).collect();
    assert_eq!(keys, ["01".repeat(16), "02".repeat(16), "03".repeat(16)]);
    assert!(out.iter().all(|m| !m.untouched));
    // Trace 1 spans both services and keeps each span under its own resource and scope.
    let t1 = decode(&out[0]);
    let services: Vec<&str> = t1
        .resource_spans
        .iter()
        .map(|r| match &r.resource.as_ref().unwrap().attributes[0].value.as_ref().unwrap().value {
            Some(any_value::Value::StringValue(s)) => s.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(services, ["front", "back"]);
    let names: Vec<&str> =
        t1.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["op-1-1", "op-1-2", "op-1-3"]);
    assert_eq!(t1.resource_spans[0].scope_spans[0].scope.as_ref().unwrap().name, "lib");
    assert_eq!(out.iter().map(|m| m.items).collect::<Vec<_>>(), [3, 1, 1]);
    for m in &out {
        assert_eq!(
            decode(m).resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum::<usize>(),
            m.items
        );
    }
}

#[test]
fn a_payload_of_one_trace_is_keyed_and_untouched() {
    let p = one_trace(4);
    let out = build(&p, Partitioning::TraceId, Encoding::OtlpProto, 1_000_000).unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].untouched);
    assert_eq!(out[0].value, *p.bytes());
    assert_eq!(out[0].key.as_deref(), Some("07".repeat(16).as_bytes()));
}

#[test]
fn partition_by_resource_keys_equal_attribute_sets_alike_whatever_their_order() {
    let p = logs(vec![
        vec![attr("service.name", "a"), attr("host.name", "h1")],
        vec![attr("service.name", "b")],
        vec![attr("host.name", "h1"), attr("service.name", "a")],
    ]);
    let out = build(&p, Partitioning::ResourceAttributes, Encoding::OtlpProto, 1_000_000).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].key, out[2].key);
    assert_ne!(out[0].key, out[1].key);
    assert_eq!(out[0].key.as_ref().unwrap().len(), 16);
    for m in &out {
        let req = ExportLogsServiceRequest::decode(m.value.clone()).unwrap();
        assert_eq!(req.resource_logs.len(), 1);
        assert_eq!(m.items, 1);
    }
}

#[test]
fn messages_larger_than_max_message_bytes_are_cut_between_items() {
    let p = one_trace(50);
    let max = p.len() / 3;
    let out = build(&p, Partitioning::None, Encoding::OtlpProto, max).unwrap();
    assert!(out.len() >= 3, "{} messages", out.len());
    assert!(out.iter().all(|m| m.value.len() <= max && !m.untouched));
    assert_eq!(out.iter().map(|m| m.items).sum::<usize>(), 50);
    let names: Vec<String> = out
        .iter()
        .flat_map(|m| decode(m).resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|s| s.name)
        .collect();
    let expected: Vec<String> = (0..50).map(|n| format!("op-7-{n}")).collect();
    assert_eq!(names, expected, "order kept");
}

#[test]
fn a_single_item_larger_than_max_message_bytes_is_a_permanent_failure() {
    let f = build(&one_trace(1), Partitioning::None, Encoding::OtlpProto, 10).unwrap_err();
    assert!(!f.retryable);
    assert!(f.message.contains("max_message_bytes"), "{f}");
}

#[test]
fn otlp_json_messages_hold_the_same_request() {
    let p = interleaved_traces();
    let out = build(&p, Partitioning::TraceId, Encoding::OtlpJson, 1_000_000).unwrap();
    assert_eq!(out.len(), 3);
    let back = json::decode(Signal::Traces, &out[0].value).unwrap();
    assert_eq!(back.items(), 3);
    let text = std::str::from_utf8(&out[0].value).unwrap();
    assert!(text.contains("\"resourceSpans\"") && text.contains(&"01".repeat(16)), "{text}");
}

#[test]
fn hex_is_lowercase() {
    assert_eq!(hex(&[0xab, 0x01, 0xff]), b"ab01ff");
}
