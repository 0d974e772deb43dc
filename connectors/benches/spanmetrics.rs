//! What `spanmetrics` adds per span, at 1,000 series.
//!
//! The request: 512 spans (~300 bytes each, 6 attributes) of one service, whose names, kinds
//! and statuses make 1,000 distinct series (250 names × server/client × ok/error); the
//! aggregator has seen every series before (the steady state). Each iteration counts the whole
//! request: reading every span through views, building its series key, recording the call
//! and the duration.
//!
//! - `default_dimensions`: the four default dimensions, explicit histogram;
//! - `two_dimensions`: plus `http.request.method` and `http.route` (span attributes);
//! - `exponential`: default dimensions, exponential histogram.
//!
//! Reports spans/s; the time per iteration over 512 is the cost per span (the brief's budget:
//! ≤ 0.3 CPU-s per million spans, i.e. ≤ 300 ns per span).
//!
//! Run: `cargo bench -p weir-connectors --bench spanmetrics` (`-- --quick` for short).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::hint::black_box;
use weir_connectors::spanmetrics::aggregate::Aggregator;
use weir_connectors::spanmetrics::SpanMetricsConfig;
use weir_core::{Payload, Signal};

const SPANS: usize = 512;
const T0: u64 = 1_764_100_000_000_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

/// Series `s` (0..1000): name `s / 4`, kind and status from the low bits.
fn span_of(series: usize, i: usize) -> Span {
    let kind = if series.is_multiple_of(2) { span::SpanKind::Server } else { span::SpanKind::Client };
    let code = if (series / 2).is_multiple_of(2) { status::StatusCode::Ok } else { status::StatusCode::Error };
    Span {
        trace_id: (i as u128 * 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835).to_be_bytes().to_vec(),
        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
        parent_span_id: (i as u64 + 7).to_be_bytes().to_vec(),
        name: format!("GET /api/v1/rooms/{}", series / 4),
        kind: kind as i32,
        start_time_unix_nano: T0 + i as u64 * 1000,
        end_time_unix_nano: T0 + i as u64 * 1000 + (i as u64 % 700) * 1_000_000,
        attributes: vec![
            kv("http.request.method", if i.is_multiple_of(3) { "POST" } else { "GET" }),
            kv("http.route", "/api/v1/rooms/{id}"),
            kv("url.scheme", "https"),
            kv("server.address", "rooms.internal"),
            kv("network.protocol.version", "1.1"),
            kv("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
        ],
        status: Some(Status { code: code as i32, ..Default::default() }),
        ..Default::default()
    }
}

fn request(offset: usize) -> Payload {
    let spans = (0..SPANS).map(|i| span_of((offset + i * 7) % 1000, offset + i)).collect();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "room-service"),
                    kv("host.name", "node-1"),
                    kv("k8s.pod.name", "room-7f9c"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.flask".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).expect("valid")
}

fn warmed(yaml: &str) -> Aggregator {
    let config: SpanMetricsConfig = weir_core::testing::parse_config(yaml).expect("valid config");
    let mut agg = Aggregator::new(config);
    for k in 0..8 {
        agg.aggregate(&request(k * SPANS), T0).expect("readable");
    }
    agg
}

fn bench(c: &mut Criterion) {
    let payload = request(3);
    let mut g = c.benchmark_group("spanmetrics");
    g.throughput(Throughput::Elements(SPANS as u64));
    for (name, yaml) in [
        ("default_dimensions", "{}"),
        ("two_dimensions", "dimensions: [{name: http.request.method}, {name: http.route}]\n"),
        ("exponential", "histogram: {exponential: {}}\n"),
    ] {
        let mut agg = warmed(yaml);
        // The measured request's series are known too: the steady state.
        agg.aggregate(&payload, T0).expect("readable");
        let series = agg.series();
        if name == "two_dimensions" {
            // 1,000 × GET/POST, as far as the warm-up requests reached.
            assert!((1000..=2000).contains(&series), "{name}: {series}");
        } else {
            assert_eq!(series, 1000, "{name}");
        }
        g.bench_function(name, |b| b.iter(|| agg.aggregate(black_box(&payload), T0).expect("readable")));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
