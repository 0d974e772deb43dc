//! What `routing` and `count` cost per span.
//!
//! The request: 512 spans (~250 bytes each, 4 attributes) in 8 resources of 64 spans, the
//! resources of two tenants (`tenant` = `acme` / `globex`, alternating).
//!
//! - `routing/resource_one_way`: one resource route that every resource matches: the request
//!   is forwarded as it is (the conditions still run once per resource);
//! - `routing/resource_split`: `acme` resources to one route, the rest to the default: two
//!   parts built from byte ranges;
//! - `routing/span_split`: a `span` route on a span attribute taking half the spans of every
//!   resource, the rest to the default;
//! - `count/default`: the default span and span event counts;
//! - `count/condition_attribute`: one count with a condition and one attribute.
//!
//! Reports spans/s; time per iteration / 512 is the cost per span.
//!
//! Run: `cargo bench -p weir-connectors --bench routing` (`-- --quick` for short).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::hint::black_box;
use weir_connectors::count::{CountConfig, Counter};
use weir_connectors::routing::{Router, RoutingConfig};
use weir_core::{Payload, Signal};

const RESOURCES: usize = 8;
const PER_RESOURCE: usize = 64;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn request() -> Payload {
    let resource_spans = (0..RESOURCES)
        .map(|r| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", &format!("svc-{r}")),
                    kv("tenant", if r % 2 == 0 { "acme" } else { "globex" }),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "lib".into(), version: "1.0".into(), ..Default::default() }),
                spans: (0..PER_RESOURCE)
                    .map(|i| Span {
                        trace_id: ((r * PER_RESOURCE + i) as u128 * 0x9E37_79B9_7F4A_7C15).to_be_bytes().to_vec(),
                        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
                        name: format!("GET /api/v1/rooms/{}", i % 16),
                        start_time_unix_nano: 1_764_100_000_000_000_000,
                        end_time_unix_nano: 1_764_100_000_001_000_000,
                        attributes: vec![
                            kv("http.request.method", if i % 2 == 0 { "POST" } else { "GET" }),
                            kv("http.route", "/api/v1/rooms/{id}"),
                            kv("env", if i % 2 == 0 { "prod" } else { "dev" }),
                            kv("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                        ],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    let r = ExportTraceServiceRequest { resource_spans };
    Payload::new(Signal::Traces, r.encode_to_vec().into()).expect("valid")
}

fn router(yaml: &str) -> Router {
    let config: RoutingConfig = weir_core::testing::parse_config(yaml).expect("valid");
    Router::new(&config, Signal::Traces, "routing").expect("compiles")
}

fn counter(yaml: &str) -> Counter {
    let config: CountConfig = weir_core::testing::parse_config(yaml).expect("valid");
    Counter::new(&config, Signal::Traces).expect("compiles")
}

fn bench(c: &mut Criterion) {
    let payload = request();
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(payload.items() as u64));
    for (name, yaml, parts) in [
        ("resource_one_way", "table: [{condition: 'attributes[\"service.name\"] != nil', pipelines: [traces/a]}]", 1),
        (
            "resource_split",
            "default_pipelines: [traces/b]\ntable: [{condition: 'attributes[\"tenant\"] == \"acme\"', pipelines: [traces/a]}]",
            2,
        ),
        (
            "span_split",
            "default_pipelines: [traces/b]\ntable: [{context: span, condition: 'attributes[\"env\"] == \"prod\"', pipelines: [traces/a]}]",
            2,
        ),
    ] {
        let r = router(yaml);
        assert_eq!(r.split(&payload, None).expect("routes").len(), parts, "{name}");
        g.bench_function(name, |b| b.iter(|| black_box(r.split(black_box(&payload), None).expect("routes"))));
    }
    g.finish();
    let mut g = c.benchmark_group("count");
    g.throughput(Throughput::Elements(payload.items() as u64));
    for (name, yaml) in [
        ("default", "{}"),
        (
            "condition_attribute",
            "spans: {by_method: {conditions: ['attributes[\"env\"] == \"prod\"'], attributes: [{key: http.request.method}]}}",
        ),
    ] {
        let counter = counter(yaml);
        assert!(counter.count(&payload, 1).expect("counts").0.is_some(), "{name}");
        g.bench_function(name, |b| b.iter(|| black_box(counter.count(black_box(&payload), 1).expect("counts"))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
