//! What `probabilistic_sampler` costs per span, on one realistic trace request.
//!
//! The request: 512 spans (~350 bytes each, 9 attributes, 8 spans per trace, random trace
//! ids) under 4 resources. Each benchmark runs [`ProbabilisticSampler::sample`] on it, i.e. the
//! whole data path: read every span once, decide, and build the output request (copy kept
//! spans, rewrite their `trace_state`). Reports spans/s and bytes/s.
//!
//! - `hash_seed_10`: the Collector's default mode at 10% (every kept span gets `th` and `rv`);
//! - `equalizing_10` / `proportional_10`: consistent sampling at 10%;
//! - `equalizing_100_rewrite`: everything kept, every span rewritten (`ot=th:0` written): the
//!   most expensive case;
//! - `equalizing_100_unchanged`: everything kept and already at `th:0`: forwarded untouched.
//!
//! Times are the benchmark thread's **CPU time** (`CLOCK_THREAD_CPUTIME_ID`), not wall time, so
//! other work on a busy machine does not count; criterion prints them as durations.
//!
//! Run: `cargo bench -p weir-processors --bench probabilistic_sampler` (`-- --quick` for short).

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::hint::black_box;
use std::time::Duration;
use weir_core::{Payload, Signal};
use weir_processors::probabilistic_sampler::{Outcome, ProbabilisticSampler, ProbabilisticSamplerConfig};

const SPANS: u64 = 512;

/// The calling thread's CPU time as a criterion measurement.
struct ThreadCpuTime;

/// Formats values as durations, like wall time.
static DURATION_FORMAT: WallTime = WallTime;

fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec the call writes into; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is available on Linux");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        DURATION_FORMAT.formatter()
    }
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// 512 spans in 4 resources; `trace_state` on every span.
fn request(trace_state: &str) -> Payload {
    // splitmix64: the same bytes on every run.
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut trace_id = Vec::new();
    let mut spans: Vec<Span> = (0..SPANS)
        .map(|i| {
            if i % 8 == 0 {
                trace_id = [next().to_be_bytes(), next().to_be_bytes()].concat();
            }
            let start = 1_764_100_000_000_000_000 + i * 1_000_000;
            Span {
                trace_id: trace_id.clone(),
                span_id: next().to_be_bytes().to_vec(),
                parent_span_id: if i % 8 == 0 { Vec::new() } else { next().to_be_bytes().to_vec() },
                trace_state: trace_state.into(),
                name: "POST /checkout".into(),
                kind: 2,
                start_time_unix_nano: start,
                end_time_unix_nano: start + next() % 50_000_000,
                attributes: vec![
                    attribute("http.request.method", Value::StringValue("POST".into())),
                    attribute("http.route", Value::StringValue("/checkout".into())),
                    attribute("http.response.status_code", Value::IntValue(200)),
                    attribute("url.path", Value::StringValue(format!("/checkout/{}", next() % 100_000))),
                    attribute("url.scheme", Value::StringValue("https".into())),
                    attribute("server.address", Value::StringValue("api.example.com".into())),
                    attribute("server.port", Value::IntValue(443)),
                    attribute("network.protocol.version", Value::StringValue("1.1".into())),
                    attribute("client.address", Value::StringValue(format!("10.1.{}.{}", next() % 256, next() % 256))),
                ],
                ..Default::default()
            }
        })
        .collect();
    let resource_spans = (0..4)
        .map(|r| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    attribute("service.name", Value::StringValue(format!("service-{r}"))),
                    attribute("service.version", Value::StringValue("1.42.0".into())),
                    attribute("deployment.environment.name", Value::StringValue("production".into())),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans: spans.split_off(spans.len() - 128), ..Default::default() }],
            ..Default::default()
        })
        .collect();
    let bytes = ExportTraceServiceRequest { resource_spans }.encode_to_vec();
    Payload::new(Signal::Traces, bytes.into()).expect("a valid request")
}

fn sampler(yaml: &str) -> ProbabilisticSampler {
    let node = weir_core::config::yaml::parse(yaml, &|_| None).expect("yaml");
    let config: ProbabilisticSamplerConfig = node.deserialize().map_err(|e| e.message).expect("config");
    weir_core::ComponentConfig::validate(&config).expect("valid");
    ProbabilisticSampler::new("probabilistic_sampler".into(), Signal::Traces, &config)
}

fn kept(outcome: &Outcome, input: &Payload) -> usize {
    match outcome {
        Outcome::Unchanged => input.items(),
        Outcome::Empty => 0,
        Outcome::Rebuilt(p) => p.items(),
    }
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let plain = request("");
    let at_one = request("ot=th:0");
    println!("request: {SPANS} spans, {} bytes, {} bytes per span", plain.len(), plain.len() as u64 / SPANS);
    let cases = [
        ("hash_seed_10", "{sampling_percentage: 10}", &plain),
        ("equalizing_10", "{sampling_percentage: 10, mode: equalizing}", &plain),
        ("proportional_10", "{sampling_percentage: 10, mode: proportional}", &plain),
        ("equalizing_100_rewrite", "{sampling_percentage: 100, mode: equalizing}", &plain),
        ("equalizing_100_unchanged", "{sampling_percentage: 100, mode: equalizing}", &at_one),
    ];
    let mut group = c.benchmark_group("probabilistic_sampler_512_spans");
    group.throughput(Throughput::ElementsAndBytes { elements: SPANS, bytes: plain.len() as u64 });
    for (name, yaml, input) in cases {
        let s = sampler(yaml);
        let outcome = s.sample(input).expect("readable");
        println!("{name}: keeps {} of {SPANS} spans", kept(&outcome, input));
        group.bench_function(name, |b| b.iter(|| black_box(s.sample(black_box(input)).expect("readable"))));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench
}
criterion_main!(benches);
