//! What the bytes-first data model costs against prost, on one realistic trace request.
//!
//! The request: 512 spans (~370 bytes each) under 3 resources of 8 attributes, HTTP server and
//! client spans with 9 semantic-convention attributes (10 with `error.type` on 5xx), one event
//! every 4 spans.
//!
//! Benchmarks (every one reports bytes/s and spans/s):
//! - `payload_new`: `Payload::new`, i.e. validating the structure down to the spans and counting;
//! - `view_scan`: reading every span's `fields()` and one attribute through the views;
//! - `view_scan_one_pass`: the same, looking the attribute up in the range `fields()` found;
//! - `prost_decode`: decoding the same bytes into prost types, for comparison;
//! - `split_100`: `Payload::split(100)`;
//! - `concat_8`: `Payload::concat` of 8 such payloads (throughput counts all 8).
//!
//! Run: `cargo bench -p weir-core --bench views` (add `-- --quick` for a short run).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::hint::black_box;
use weir_core::pdata::{Payload, Signal};

const SPANS: usize = 512;
const RESOURCES: usize = 3;

/// A small deterministic generator, so that every run measures the same bytes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() as usize % from.len()]
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

fn resource(i: usize) -> Resource {
    let service = ["checkout", "cart", "payments"][i % 3];
    Resource {
        attributes: vec![
            string("service.name", service),
            string("service.version", "1.42.0"),
            string("service.instance.id", format!("{service}-7c9f6d8b5-x{i}k2q")),
            string("deployment.environment.name", "production"),
            string("host.name", format!("ip-10-0-{i}-17.ec2.internal")),
            string("os.type", "linux"),
            string("telemetry.sdk.name", "opentelemetry"),
            string("telemetry.sdk.language", "go"),
        ],
        ..Default::default()
    }
}

fn span(rng: &mut Lcg, i: usize, trace_id: &[u8]) -> Span {
    const ROUTES: &[&str] = &["/cart/{id}", "/checkout", "/payments/{id}", "/healthz"];
    const METHODS: &[&str] = &["GET", "POST", "PUT"];
    let route = rng.pick(ROUTES);
    let method = rng.pick(METHODS);
    let server = i.is_multiple_of(2);
    let code = [200, 200, 200, 201, 404, 500][rng.next() as usize % 6];
    let start = 1_700_000_000_000_000_000 + (i as u64) * 1_000_000;
    let mut s = Span {
        trace_id: trace_id.to_vec(),
        span_id: rng.bytes(8),
        parent_span_id: if i.is_multiple_of(8) { Vec::new() } else { rng.bytes(8) },
        name: format!("{method} {route}"),
        kind: if server { span::SpanKind::Server } else { span::SpanKind::Client } as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000 + rng.next() % 50_000_000,
        attributes: vec![
            string("http.request.method", method),
            string("http.route", route),
            int("http.response.status_code", code),
            string("url.path", route.replace("{id}", &format!("{}", rng.next() % 100_000))),
            string("url.scheme", "https"),
            string("server.address", "api.example.com"),
            int("server.port", 443),
            string("network.protocol.version", "1.1"),
            string("client.address", format!("10.1.{}.{}", rng.next() % 256, rng.next() % 256)),
        ],
        status: Some(Status {
            code: if code >= 500 { status::StatusCode::Error } else { status::StatusCode::Unset } as i32,
            message: String::new(),
        }),
        flags: 0x101,
        ..Default::default()
    };
    if code >= 500 {
        s.attributes.push(string("error.type", "500"));
    }
    if i.is_multiple_of(4) {
        s.events.push(span::Event {
            time_unix_nano: start + 500,
            name: "exception".into(),
            attributes: vec![string("exception.type", "TimeoutError")],
            ..Default::default()
        });
    }
    s
}

fn request() -> ExportTraceServiceRequest {
    let mut rng = Lcg(0x5eed);
    let mut trace_id = rng.bytes(16);
    let resource_spans = (0..RESOURCES)
        .map(|r| {
            let n = SPANS / RESOURCES + usize::from(r < SPANS % RESOURCES);
            let spans = (0..n)
                .map(|i| {
                    if i.is_multiple_of(6) {
                        trace_id = rng.bytes(16);
                    }
                    span(&mut rng, i, &trace_id)
                })
                .collect();
            ResourceSpans {
                resource: Some(resource(r)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp".into(),
                        version: "0.53.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Reads every span's scalar fields and its status code attribute, as a sampler would.
fn scan(payload: &Payload) -> u64 {
    let mut acc = 0u64;
    for rg in payload.view().resources() {
        for sg in rg.unwrap().scopes() {
            for span in sg.unwrap().spans() {
                let span = span.unwrap();
                let f = span.fields().unwrap();
                acc = acc
                    .wrapping_add(f.end_time_unix_nano - f.start_time_unix_nano)
                    .wrapping_add(u64::from(f.trace_id[0]) + f.name.len() as u64 + f.status_code as u64);
                if let Some(v) = span.attributes().get("http.response.status_code").unwrap() {
                    acc = acc.wrapping_add(v.as_i64().unwrap_or(0) as u64);
                }
            }
        }
    }
    acc
}

/// As [`scan`], with the attribute looked up in `SpanFields::attributes` (the range of the span's
/// attributes that `fields()` found on its one pass).
fn scan_one_pass(payload: &Payload) -> u64 {
    let mut acc = 0u64;
    for rg in payload.view().resources() {
        for sg in rg.unwrap().scopes() {
            for span in sg.unwrap().spans() {
                let f = span.unwrap().fields().unwrap();
                acc = acc
                    .wrapping_add(f.end_time_unix_nano - f.start_time_unix_nano)
                    .wrapping_add(u64::from(f.trace_id[0]) + f.name.len() as u64 + f.status_code as u64);
                if let Some(v) = f.attributes.get("http.response.status_code").unwrap() {
                    acc = acc.wrapping_add(v.as_i64().unwrap_or(0) as u64);
                }
            }
        }
    }
    acc
}

fn views(c: &mut Criterion) {
    let bytes = Bytes::from(request().encode_to_vec());
    let payload = Payload::new(Signal::Traces, bytes.clone()).unwrap();
    assert_eq!(payload.items(), SPANS);
    let span_bytes: usize = payload
        .view()
        .resources()
        .flat_map(|rg| rg.unwrap().scopes())
        .flat_map(|sg| sg.unwrap().items())
        .map(|s| s.unwrap().len())
        .sum();
    println!(
        "request: {SPANS} spans in {RESOURCES} resources, {} bytes, {} bytes per span on average",
        bytes.len(),
        span_bytes / SPANS
    );
    assert_eq!(payload.split(100).unwrap().len(), SPANS.div_ceil(100));
    assert!(scan(&payload) > 0);
    assert_eq!(scan_one_pass(&payload), scan(&payload));

    let mut group = c.benchmark_group("traces_512_spans");
    // Reports bytes/s and spans/s for each benchmark.
    group.throughput(Throughput::ElementsAndBytes { elements: SPANS as u64, bytes: bytes.len() as u64 });
    group.bench_function("payload_new", |b| {
        b.iter(|| Payload::new(Signal::Traces, black_box(bytes.clone())).unwrap().items())
    });
    group.bench_function("view_scan", |b| b.iter(|| scan(black_box(&payload))));
    group.bench_function("view_scan_one_pass", |b| b.iter(|| scan_one_pass(black_box(&payload))));
    group.bench_function("prost_decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(bytes.clone())).unwrap())
    });
    group.bench_function("split_100", |b| b.iter(|| black_box(&payload).split(100).unwrap()));

    let parts = vec![payload.clone(); 8];
    group.throughput(Throughput::ElementsAndBytes { elements: 8 * SPANS as u64, bytes: 8 * bytes.len() as u64 });
    group.bench_function("concat_8", |b| b.iter(|| Payload::concat(black_box(&parts))));
    group.finish();
}

criterion_group!(benches, views);
criterion_main!(benches);
