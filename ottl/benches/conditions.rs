//! What a typical `filter` condition costs per span, evaluated on the received bytes (views),
//! beside what decoding the same request with prost costs.
//!
//! The request: 512 spans (~300 bytes, 9 attributes each; `http.route` is the 6th attribute,
//! 1 span in 8 is `/healthz`, 1 in 16 has status ERROR) under 4 resources.
//!
//! - `route_eq`: `attributes["http.route"] == "/healthz"` on every span (span context);
//! - `status_error`: `status.code == STATUS_CODE_ERROR`;
//! - `route_and_resource`: `resource.attributes["service.name"] == "svc-1" and
//!   attributes["http.route"] == "/healthz"`;
//! - `prost_decode`: `ExportTraceServiceRequest::decode` of the whole request (what an engine
//!   that decodes first pays before evaluating anything).
//!
//! Throughput is in spans, so criterion prints the per-span rate. Run:
//! `cargo bench -p weir-ottl --bench conditions` (`-- --quick` for short).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::hint::black_box;
use weir_core::{Payload, Signal};
use weir_ottl::{Condition, ContextKind, Ctx, Node, NodeKind};

const SPANS: usize = 512;

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn request() -> Vec<u8> {
    let resource_spans = (0..4)
        .map(|r| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::StringValue(format!("svc-{r}")))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..SPANS / 4)
                    .map(|i| {
                        let n = r * SPANS / 4 + i;
                        let route = if n.is_multiple_of(8) {
                            "/healthz".to_string()
                        } else {
                            format!("/api/v1/items/{}", n % 13)
                        };
                        Span {
                            trace_id: (n as u128 * 0x9E37_79B9_7F4A_7C15).to_be_bytes().to_vec(),
                            span_id: (n as u64 + 1).to_be_bytes().to_vec(),
                            name: format!("GET {route}"),
                            kind: 2,
                            start_time_unix_nano: 1_700_000_000_000_000_000 + n as u64,
                            end_time_unix_nano: 1_700_000_000_001_000_000 + n as u64,
                            attributes: vec![
                                kv("http.request.method", Value::StringValue("GET".into())),
                                kv("server.address", Value::StringValue("api.example.com".into())),
                                kv("server.port", Value::IntValue(443)),
                                kv("url.scheme", Value::StringValue("https".into())),
                                kv("network.protocol.version", Value::StringValue("1.1".into())),
                                kv("http.route", Value::StringValue(route)),
                                kv("http.response.status_code", Value::IntValue(200)),
                                kv("user_agent.original", Value::StringValue("Mozilla/5.0 (X11; Linux x86_64)".into())),
                                kv("client.address", Value::StringValue("10.1.2.3".into())),
                            ],
                            status: Some(Status {
                                code: if n % 16 == 3 { status::StatusCode::Error as i32 } else { 0 },
                                ..Default::default()
                            }),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

/// (resource, scope, span) bytes of every span, found once through the views.
fn items(p: &Payload) -> Vec<(&[u8], &[u8], &[u8])> {
    let mut out = Vec::new();
    for rg in p.view().resources() {
        let rg = rg.unwrap();
        let res = rg.resource().unwrap().bytes();
        for sg in rg.scopes() {
            let sg = sg.unwrap();
            let scope = sg.scope().unwrap().bytes();
            for item in sg.items() {
                out.push((res, scope, item.unwrap()));
            }
        }
    }
    out
}

fn count(c: &Condition, items: &[(&[u8], &[u8], &[u8])]) -> usize {
    let mut n = 0;
    for &(r, s, i) in items {
        let (mut r, mut s, mut i) =
            (Node::new(NodeKind::Resource, r), Node::new(NodeKind::Scope, s), Node::new(NodeKind::Span, i));
        if c.eval(&Ctx::new(&mut r, Some(&mut s), Some(&mut i), None)).unwrap() {
            n += 1;
        }
    }
    n
}

fn bench(cr: &mut Criterion) {
    let bytes = request();
    let payload = Payload::new(Signal::Traces, bytes.clone().into()).unwrap();
    let items = items(&payload);
    assert_eq!(items.len(), SPANS);
    let mut g = cr.benchmark_group("condition_per_span");
    g.throughput(Throughput::Elements(SPANS as u64));
    for (name, text, matches) in [
        ("route_eq", r#"attributes["http.route"] == "/healthz""#, SPANS / 8),
        ("status_error", "status.code == STATUS_CODE_ERROR", SPANS / 16),
        (
            "route_and_resource",
            r#"resource.attributes["service.name"] == "svc-1" and attributes["http.route"] == "/healthz""#,
            SPANS / 32,
        ),
    ] {
        let c = Condition::compile(text, ContextKind::Span).unwrap();
        assert_eq!(count(&c, &items), matches, "{name}");
        g.bench_function(name, |b| b.iter(|| count(black_box(&c), black_box(&items))));
    }
    g.bench_function("prost_decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(bytes.as_slice())).unwrap().resource_spans.len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
