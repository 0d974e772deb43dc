//! Tail sampling end to end: traces whose spans arrive in three requests spread over two
//! seconds (within `decision_wait`) are decided whole. Every error trace is kept, about 10% of
//! the rest are kept by the consistent probabilistic policy with `ot=th` written, every kept
//! trace arrives complete, and the processor's counters conserve spans exactly.

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TRACES: usize = 1000;
const SPANS_PER_TRACE: usize = 6;

fn trace_id(t: usize) -> Vec<u8> {
    // Spread the ids over the whole 56-bit randomness range the sampler reads.
    let mut x = (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    let hi = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    [hi.to_be_bytes(), x.to_be_bytes()].concat()
}

fn is_error(t: usize) -> bool {
    t % 20 == 7
}

/// The spans `wave` (0, 1, 2) of every trace: children first, the root in the last wave.
fn wave(wave: usize, traces: std::ops::Range<usize>) -> Vec<u8> {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    let mut spans = Vec::new();
    for t in traces {
        for s in [2 * wave, 2 * wave + 1] {
            let is_root = s == SPANS_PER_TRACE - 1;
            let error = is_error(t) && s == 2;
            spans.push(Span {
                trace_id: trace_id(t),
                span_id: ((t * 10 + s) as u64 + 1).to_be_bytes().to_vec(),
                parent_span_id: if is_root { vec![] } else { ((t * 10 + 5) as u64 + 1).to_be_bytes().to_vec() },
                name: if is_root { "GET /rooms".into() } else { format!("step {s}") },
                kind: if is_root { 2 } else { 1 },
                start_time_unix_nano: 1_764_100_000_000_000_000,
                end_time_unix_nano: 1_764_100_000_050_000_000,
                status: error.then(|| Status { code: StatusCode::Error as i32, message: "boom".into() }),
                attributes: vec![kv("room.id", &t.to_string())],
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "room-service")], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn traces_spread_over_requests_are_decided_whole() {
    let http = free_port();
    let mut weir = Weir::start(
        "tail",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  tail_sampling:
    decision_wait: 4s
    policies:
      - {{ name: errors, type: status_code, status_code: {{ status_codes: [ERROR] }} }}
      - {{ name: ten-percent, type: probabilistic, probabilistic: {{ sampling_percentage: 10 }} }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [tail_sampling], exporters: [file] }}
"#
        ),
    );
    for w in 0..3 {
        for chunk in (0..TRACES).step_by(100) {
            let (code, _) = post_protobuf(http, "/v1/traces", &wave(w, chunk..chunk + 100));
            assert_eq!(code, 200, "{}", weir.log());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // Every trace is decided decision_wait after its first span; wait for all of them.
    let metrics_done = eventually(Duration::from_secs(20), || {
        let m = weir.metrics();
        counter(&m, "otelcol_processor_tail_sampling_buffered_spans") == 0.0
            && counter(&m, "otelcol_processor_incoming_items") == (TRACES * SPANS_PER_TRACE) as f64
    });
    assert!(metrics_done, "{}\n{}", weir.metrics(), weir.log());
    let m = weir.metrics();
    let incoming = counter(&m, "otelcol_processor_incoming_items");
    let outgoing = counter(&m, "otelcol_processor_outgoing_items");
    let dropped = counter(&m, "otelcol_processor_tail_sampling_spans_dropped");
    assert_eq!(incoming, outgoing + dropped, "conservation: in = kept + dropped\n{m}");
    assert!(weir.terminate(Duration::from_secs(30)).success(), "{}", weir.log());

    let out = read_file_output(&weir.path("out.jsonl"));
    let mut kept: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut trace_states: BTreeMap<String, String> = BTreeMap::new();
    for req in &out.traces {
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let id = hex(&s.trace_id);
                    assert!(kept.entry(id.clone()).or_default().insert(hex(&s.span_id)), "span emitted twice");
                    trace_states.insert(id, s.trace_state.clone());
                }
            }
        }
    }
    assert_eq!(outgoing as usize, kept.values().map(BTreeSet::len).sum::<usize>());
    let complete = kept.values().filter(|s| s.len() == SPANS_PER_TRACE).count();
    assert!(complete as f64 >= 0.999 * kept.len() as f64, "{complete} of {} kept traces arrived complete", kept.len());
    for t in (0..TRACES).filter(|t| is_error(*t)) {
        let spans = kept.get(&hex(&trace_id(t))).unwrap_or_else(|| panic!("error trace {t} was not kept"));
        assert_eq!(spans.len(), SPANS_PER_TRACE, "error trace {t} incomplete");
    }
    let errors = (0..TRACES).filter(|t| is_error(*t)).count();
    let sampled = (0..TRACES).filter(|t| !is_error(*t) && kept.contains_key(&hex(&trace_id(*t)))).count();
    let expected = 0.1 * (TRACES - errors) as f64;
    assert!(
        (sampled as f64 - expected).abs() < 5.0 * (expected * 0.9).sqrt(),
        "probabilistic kept {sampled} of {} traces, expected about {expected}",
        TRACES - errors
    );
    for t in (0..TRACES).filter(|t| !is_error(*t)) {
        if let Some(ts) = trace_states.get(&hex(&trace_id(t))) {
            assert!(ts.contains("ot=th:"), "trace {t} kept by probability without a threshold: {ts:?}");
        }
    }
}
