//! `probabilistic_sampler` end to end: weir receives OTLP/HTTP and runs the same traffic
//! through three traces pipelines and one logs pipeline, each writing to its own `file`
//! exporter. The kept items are predicted exactly by the test from the trace ids (R ≥ T) or,
//! for logs, from the Collector's FNV hash computed here independently:
//!
//! - 25% equalizing: exactly the traces with R ≥ 0xc…, each span with `ot=th:c` and its
//!   other tracestate entries intact;
//! - 50% equalizing → 50% proportional: the probabilities multiply to 25%, `th:c`;
//! - 25% equalizing → `tail_sampling` probabilistic 50%: the tail keeps the same traces and
//!   never lowers `th:c` to its own `th:8`;
//! - logs, `hash_seed` on a record attribute at 50%: exactly the records the Collector keeps,
//!   with `sampling.threshold` and `sampling.randomness` attributes.

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TRACES: u64 = 600;
const SPANS_PER_TRACE: u64 = 3;
const LOG_RECORDS: u64 = 400;

fn trace_id(t: u64) -> Vec<u8> {
    // Spread the ids over the whole 56-bit randomness range.
    let mut x = (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    let hi = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    [hi.to_be_bytes(), x.to_be_bytes()].concat()
}

/// R: the low 56 bits of the trace id.
fn randomness(id: &[u8]) -> u64 {
    u64::from_be_bytes(id[8..16].try_into().expect("16-byte id")) & ((1 << 56) - 1)
}

/// T for 25% (`th:c`).
const QUARTER: u64 = 0xc << 52;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

/// Requests of 100 traces each; every third trace carries a vendor tracestate entry.
fn trace_requests() -> Vec<Vec<u8>> {
    (0..TRACES)
        .step_by(100)
        .map(|first| {
            let spans = (first..first + 100)
                .flat_map(|t| {
                    (0..SPANS_PER_TRACE).map(move |s| Span {
                        trace_id: trace_id(t),
                        span_id: (t * 10 + s + 1).to_be_bytes().to_vec(),
                        parent_span_id: if s == 0 { vec![] } else { (t * 10 + 1).to_be_bytes().to_vec() },
                        trace_state: if t % 3 == 0 { "vendor=abc".into() } else { String::new() },
                        name: format!("step {s}"),
                        start_time_unix_nano: 1_764_100_000_000_000_000,
                        end_time_unix_nano: 1_764_100_000_010_000_000,
                        attributes: vec![kv("trace.n", &t.to_string())],
                        ..Default::default()
                    })
                })
                .collect();
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource { attributes: vec![kv("service.name", "checkout")], ..Default::default() }),
                    scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        })
        .collect()
}

fn request_id(n: u64) -> String {
    format!("req-{n:05}")
}

fn logs_request() -> Vec<u8> {
    let log_records = (0..LOG_RECORDS)
        .map(|n| LogRecord {
            time_unix_nano: 1_764_100_000_000_000_000 + n,
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("line {n}"))) }),
            attributes: vec![kv("request.id", &request_id(n))],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![kv("service.name", "checkout")], ..Default::default() }),
            scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// The Collector's `hash_seed` hash: FNV-1a 32 over the seed (little endian) and the bytes.
fn collector_hash(data: &[u8], seed: u32) -> u32 {
    seed.to_le_bytes().iter().chain(data).fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Every kept span: trace id (hex) → its spans' trace_states.
fn kept_traces(path: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for request in read_file_output(path).traces {
        for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
            out.entry(hex(&span.trace_id)).or_default().push(span.trace_state.clone());
        }
    }
    out
}

fn counter(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn kept_items_are_exactly_the_predicted_ones_with_their_thresholds() {
    let http = free_port();
    let mut weir = Weir::start(
        "probabilistic_sampler",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  probabilistic_sampler/quarter: {{ sampling_percentage: 25, mode: equalizing }}
  probabilistic_sampler/half: {{ sampling_percentage: 50, mode: equalizing }}
  probabilistic_sampler/half_of_that: {{ sampling_percentage: 50, mode: proportional }}
  probabilistic_sampler/quarter_before_tail: {{ sampling_percentage: 25, mode: equalizing }}
  tail_sampling:
    decision_wait: 1s
    policies: [{{ name: half, type: probabilistic, probabilistic: {{ sampling_percentage: 50 }} }}]
  probabilistic_sampler/logs:
    sampling_percentage: 50
    attribute_source: record
    from_attribute: request.id
    hash_seed: 22
exporters:
  file/quarter: {{ path: "{{dir}}/quarter.jsonl", flush_interval: 100ms }}
  file/chain: {{ path: "{{dir}}/chain.jsonl", flush_interval: 100ms }}
  file/tail: {{ path: "{{dir}}/tail.jsonl", flush_interval: 100ms }}
  file/logs: {{ path: "{{dir}}/logs.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces/quarter: {{ receivers: [otlp], processors: [probabilistic_sampler/quarter], exporters: [file/quarter] }}
    traces/chain:
      receivers: [otlp]
      processors: [probabilistic_sampler/half, probabilistic_sampler/half_of_that]
      exporters: [file/chain]
    traces/tail:
      receivers: [otlp]
      processors: [probabilistic_sampler/quarter_before_tail, tail_sampling]
      exporters: [file/tail]
    logs: {{ receivers: [otlp], processors: [probabilistic_sampler/logs], exporters: [file/logs] }}
"#
        ),
    );
    for body in trace_requests() {
        let (code, _) = post_protobuf(http, "/v1/traces", &body);
        assert_eq!(code, 200, "{}", weir.log());
    }
    let (code, _) = post_protobuf(http, "/v1/logs", &logs_request());
    assert_eq!(code, 200, "{}", weir.log());

    // The prediction: R ≥ T for 25%, whatever the pipeline.
    let predicted: BTreeSet<String> =
        (0..TRACES).map(trace_id).filter(|id| randomness(id) >= QUARTER).map(|id| hex(&id)).collect();
    assert!((90..=210).contains(&predicted.len()), "about 150 of 600 traces: {}", predicted.len());
    let predicted_spans = predicted.len() as f64 * SPANS_PER_TRACE as f64;

    // The sampler's counters, before shutdown (the tail decides after 1 s).
    let name = "otelcol_processor_probabilistic_sampler_count_traces_sampled";
    let quarter = [("processor", "probabilistic_sampler/quarter"), ("policy", "trace_id_w3c")];
    let counted = eventually(Duration::from_secs(20), || {
        let m = weir.metrics();
        counter(&m, name, &[quarter[0], quarter[1], ("sampled", "true")]) == predicted_spans
            && counter(&m, "otelcol_processor_tail_sampling_sampling_traces_on_memory", &[]) == 0.0
            && counter(&m, "otelcol_processor_tail_sampling_global_count_traces_sampled", &[("sampled", "true")])
                == predicted.len() as f64
    });
    let m = weir.metrics();
    assert!(counted, "{m}\n{}", weir.log());
    let dropped = counter(&m, name, &[quarter[0], quarter[1], ("sampled", "false")]);
    assert_eq!(dropped + predicted_spans, (TRACES * SPANS_PER_TRACE) as f64, "every span is counted once");
    let items = |n: &str| counter(&m, n, &[("processor", "probabilistic_sampler/quarter")]);
    assert_eq!(items("otelcol_processor_incoming_items"), (TRACES * SPANS_PER_TRACE) as f64);
    assert_eq!(items("otelcol_processor_outgoing_items"), predicted_spans);

    // SIGTERM drains every pipeline and flushes the files.
    let status = weir.terminate(Duration::from_secs(30));
    assert!(status.success(), "{}", weir.log());

    for (file, pipeline) in [
        ("quarter.jsonl", "25% equalizing"),
        ("chain.jsonl", "50% → 50% proportional"),
        ("tail.jsonl", "25% → tail 50%"),
    ] {
        let kept = kept_traces(&weir.path(file));
        let got: BTreeSet<String> = kept.keys().cloned().collect();
        assert_eq!(got, predicted, "{pipeline}: exactly the traces with R ≥ th:c");
        for (id, states) in &kept {
            assert_eq!(states.len() as u64, SPANS_PER_TRACE, "{pipeline}: trace {id} is whole");
            let n = (0..TRACES).find(|t| hex(&trace_id(*t)) == *id).expect("a sent trace");
            let expected = if n % 3 == 0 { "ot=th:c,vendor=abc" } else { "ot=th:c" };
            assert!(states.iter().all(|s| s == expected), "{pipeline}: trace {id}: {states:?}, expected {expected}");
        }
    }

    // Logs: hash_seed over request.id with seed 22 at 50% keeps hash & 0x3fff < 8192.
    let predicted_logs: BTreeSet<String> =
        (0..LOG_RECORDS).map(request_id).filter(|id| collector_hash(id.as_bytes(), 22) & 0x3fff < 8192).collect();
    assert!((140..=260).contains(&predicted_logs.len()), "about half of 400: {}", predicted_logs.len());
    let mut kept_logs = BTreeSet::new();
    for request in read_file_output(&weir.path("logs.jsonl")).logs {
        for record in request.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records) {
            let attrs = attrs_json(&record.attributes);
            let id = attrs["request.id"].as_str().expect("request.id").to_string();
            assert_eq!(attrs["sampling.threshold"], "8", "{id}: the threshold of 50%");
            let rv = attrs["sampling.randomness"].as_str().expect("sampling.randomness");
            assert_eq!(rv.len(), 14, "{id}: rv is 14 hex digits");
            let h = u64::from(collector_hash(id.as_bytes(), 22) & 0x3fff);
            assert_eq!(u64::from_str_radix(&rv[..4], 16).expect("hex") >> 2, 0x3fff - h, "{id}: rv carries the hash");
            kept_logs.insert(id);
        }
    }
    assert_eq!(kept_logs, predicted_logs, "exactly the records the Collector keeps");
}
