//! `probabilistic_sampler`: the Collector's own test vectors for every mode, consistency and
//! statistics on many trace ids, logs by trace id and by attribute, `fail_closed`, the data
//! path (pass-through, rebuild, nothing kept) and, in a real pipeline, acknowledgements and
//! metrics.

use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue as ProtoValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use sampler::{hash_randomness, hash_threshold};
use std::collections::{BTreeMap, BTreeSet};
use weir_core::sampling::{encode_threshold, MAX_56};
use weir_core::testing::{accept_all, metric_value, TestPipeline};
use weir_core::Registry;

// ---------------------------------------------------------------------------------------------
// Building data

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(ProtoValue { value: Some(v) }), ..Default::default() }
}

fn str_kv(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn parse_hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A deterministic stream of 64-bit values (splitmix64).
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn trace_id(&mut self) -> Vec<u8> {
        [self.next().to_be_bytes(), self.next().to_be_bytes()].concat()
    }
}

fn span(trace_id: &[u8], n: u64, trace_state: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: (n + 1).to_be_bytes().to_vec(),
        trace_state: trace_state.into(),
        name: format!("span {n}"),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_001_000_000,
        attributes,
        ..Default::default()
    }
}

/// A traces request: one resource and scope per entry of `groups`.
fn traces(groups: Vec<Vec<Span>>) -> Payload {
    let request = ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .enumerate()
            .map(|(i, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![str_kv("service.name", &format!("svc-{i}"))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            })
            .collect(),
    };
    Payload::new(Signal::Traces, request.encode_to_vec().into()).expect("a valid request")
}

fn logs(records: Vec<LogRecord>) -> Payload {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![str_kv("service.name", "logs")], ..Default::default() }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Logs, request.encode_to_vec().into()).expect("a valid request")
}

fn config(yaml: &str) -> ProbabilisticSamplerConfig {
    weir_core::testing::parse_config(yaml).expect("valid config")
}

fn processor(signal: Signal, yaml: &str) -> ProbabilisticSampler {
    ProbabilisticSampler::new(format!("probabilistic_sampler/{}", signal.as_str()), signal, &config(yaml))
}

/// The spans that leave the processor, as (trace id hex, span name, trace_state).
fn kept_spans(p: &ProbabilisticSampler, input: &Payload) -> Vec<(String, String, String)> {
    let out = match p.sample(input).expect("readable") {
        Outcome::Unchanged => input.clone(),
        Outcome::Empty => return Vec::new(),
        Outcome::Rebuilt(payload) => payload,
    };
    let request = out.decode_traces().expect("the output decodes");
    let spans: Vec<_> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| (hex(&s.trace_id), s.name.clone(), s.trace_state.clone()))
        .collect();
    assert_eq!(out.items(), spans.len(), "the item count of the output is right");
    spans
}

/// The trace_state of the single span of `trace_state`/`trace_id`, if it is kept.
fn one_span(yaml: &str, trace_id: &str, trace_state: &str, attributes: Vec<KeyValue>) -> Option<String> {
    let p = processor(Signal::Traces, yaml);
    let input = traces(vec![vec![span(&parse_hex(trace_id), 0, trace_state, attributes)]]);
    let kept = kept_spans(&p, &input);
    assert!(kept.len() <= 1);
    kept.into_iter().next().map(|(_, _, ts)| ts)
}

fn kept_logs(p: &ProbabilisticSampler, input: &Payload) -> Vec<LogRecord> {
    let out = match p.sample(input).expect("readable") {
        Outcome::Unchanged => input.clone(),
        Outcome::Empty => return Vec::new(),
        Outcome::Rebuilt(payload) => payload,
    };
    let request = out.decode_logs().expect("the output decodes");
    let records: Vec<_> =
        request.resource_logs.into_iter().flat_map(|r| r.scope_logs).flat_map(|s| s.log_records).collect();
    assert_eq!(out.items(), records.len());
    records
}

fn attribute<'a>(r: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
    r.attributes.iter().rev().find(|a| a.key == key).and_then(|a| a.value.as_ref()?.value.as_ref())
}

// ---------------------------------------------------------------------------------------------
// hash_seed: bit-compatible with the Collector

/// The Collector's `computeHash`, written out: FNV-1a 32 over the seed (4 bytes, little
/// endian) and then the data; offset basis 2166136261, prime 16777619.
fn collector_hash(data: &[u8], seed: u32) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for b in seed.to_le_bytes().iter().chain(data) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

#[test]
fn fnv_hash_matches_the_published_fnv1a_vectors() {
    // With the seed bytes left out, FNV-1a 32 of "a" and "foobar" (the FNV reference values).
    let fnv = |data: &[u8]| data.iter().fold(2_166_136_261u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(16_777_619));
    assert_eq!(fnv(b""), 0x811c_9dc5);
    assert_eq!(fnv(b"a"), 0xe40c_292c);
    assert_eq!(fnv(b"foobar"), 0xbf9c_f968);
    // The randomness keeps the 14 decision bits in the top and repeats them at the bottom.
    for (data, seed) in [(&b"a"[..], 0u32), (b"foobar", 22), (&[0u8; 16][..], 4321)] {
        let h = collector_hash(data, seed);
        let r = hash_randomness(data, seed);
        assert_eq!(r & 0x3fff, u64::from(h & 0x3fff));
        assert_eq!(r >> 42, 0x3fff - u64::from(h & 0x3fff));
        assert!(r < MAX_56);
    }
}

#[test]
fn hash_seed_thresholds_match_the_collector() {
    // Test_tracesamplerprocessor_HashSeedTraceState: 14-bit rounding, e668 rather than e666.
    for (pct, th) in [(100.0f32, "0"), (75.0, "4"), (50.0, "8"), (25.0, "c"), (10.0, "e668"), (100.0 / 3.0, "aaac")] {
        assert_eq!(encode_threshold(hash_threshold(pct).unwrap()), th, "{pct}%");
    }
    // Below one bucket (100/16384 %) nothing is kept.
    assert_eq!(hash_threshold(0.006), None);
}

/// The 100 log records of the Collector's `TestLogsSampling`: trace id `0×8 ‖ i×8`, `rando`
/// = computeHash(trace id, 123) as an int, every second record `foo` (the id as bytes) and
/// `bar` (the id as hex, empty for the zero id), every fourth `priority` = 100.0.
fn collector_log_records() -> Payload {
    let records = (0..100u8)
        .map(|i| {
            let trace_id = [[0u8; 8], [i; 8]].concat();
            let mut attributes =
                vec![kv("rando", any_value::Value::IntValue(i64::from(collector_hash(&trace_id, 123))))];
            if i % 2 == 0 {
                attributes.push(kv("foo", any_value::Value::BytesValue(trace_id.clone())));
                // pdata's TraceID.String() is empty for the all-zero id.
                let bar = if i == 0 { String::new() } else { hex(&trace_id) };
                attributes.push(str_kv("bar", &bar));
            }
            if i % 4 == 0 {
                attributes.push(kv("priority", any_value::Value::DoubleValue(100.0)));
            }
            LogRecord { time_unix_nano: 1_649_400_860, severity_number: 5, trace_id, attributes, ..Default::default() }
        })
        .collect();
    logs(records)
}

#[test]
fn hash_seed_keeps_exactly_the_log_records_the_collector_keeps() {
    let input = collector_log_records();
    // (configuration, records the Collector keeps), from its TestLogsSampling; `fail_closed`
    // as there (its configurations are Go literals: false unless set).
    let cases = [
        ("{sampling_percentage: 100, fail_closed: false}", 100),
        ("{sampling_percentage: 0}", 0),
        ("{sampling_percentage: 50, attribute_source: traceID, mode: hash_seed}", 45),
        ("{sampling_percentage: 0, attribute_source: record, from_attribute: foo, fail_closed: false}", 0),
        ("{sampling_percentage: 100, attribute_source: record, from_attribute: foo, fail_closed: false}", 100),
        ("{sampling_percentage: 50, attribute_source: record, from_attribute: foo}", 23),
        ("{sampling_percentage: 50, attribute_source: record, from_attribute: bar}", 29),
        ("{sampling_percentage: 0, sampling_priority: priority, attribute_source: record, from_attribute: rando, fail_closed: false}", 25),
        ("{sampling_percentage: 50, sampling_priority: priority, attribute_source: record, from_attribute: rando, fail_closed: false}", 64),
        ("{sampling_percentage: 100, sampling_priority: priority, attribute_source: record, from_attribute: rando, fail_closed: false}", 100),
        ("{sampling_percentage: 0, sampling_priority: priority, fail_closed: false}", 25),
        ("{sampling_percentage: 50, sampling_priority: priority, fail_closed: false}", 57),
        ("{sampling_percentage: 100, sampling_priority: priority, fail_closed: false}", 100),
        ("{sampling_percentage: 0, attribute_source: record, from_attribute: foo, sampling_priority: priority, fail_closed: false}", 25),
    ];
    for (yaml, expected) in cases {
        let kept = kept_logs(&processor(Signal::Logs, yaml), &input);
        assert_eq!(kept.len(), expected, "{yaml}");
    }
}

#[test]
fn hash_seed_spans_get_the_same_decisions_as_log_records_with_the_same_trace_ids() {
    // The trace-id hash is shared by both signals; the 99 non-zero ids of the Collector's
    // log test keep 45 at 50%.
    let spans: Vec<Span> = (1..100u8).map(|i| span(&[[0u8; 8], [i; 8]].concat(), u64::from(i), "", vec![])).collect();
    let kept = kept_spans(&processor(Signal::Traces, "{sampling_percentage: 50}"), &traces(vec![spans]));
    assert_eq!(kept.len(), 45);
    for (trace_id, _, ts) in &kept {
        let r = hash_randomness(&parse_hex(trace_id), 0);
        assert_eq!(ts, &format!("ot=th:8;rv:{r:014x}"), "th and the hash as rv are written");
        assert!(r >= 0x8 << 52);
    }
}

#[test]
fn hash_seed_log_records_carry_threshold_and_randomness_attributes() {
    let tid = parse_hex("fefefefefefefefefe80000000000000");
    let input =
        logs(vec![LogRecord { trace_id: tid.clone(), attributes: vec![str_kv("K", "V")], ..Default::default() }]);
    let kept =
        kept_logs(&processor(Signal::Logs, "{sampling_percentage: 100, mode: hash_seed, hash_seed: 22}"), &input);
    assert_eq!(kept.len(), 1);
    let rv = format!("{:014x}", hash_randomness(&tid, 22));
    assert_eq!(attribute(&kept[0], "K"), Some(&any_value::Value::StringValue("V".into())));
    assert_eq!(attribute(&kept[0], "sampling.threshold"), Some(&any_value::Value::StringValue("0".into())));
    assert_eq!(attribute(&kept[0], "sampling.randomness"), Some(&any_value::Value::StringValue(rv)));
}

#[test]
fn hash_seed_leaves_items_with_consistent_sampling_state_to_fail_closed() {
    // An item with `rv` or `th` is not hash_seed's to change: dropped when failing closed,
    // passed through untouched when failing open.
    let tid = "fefefefefefefefefe80000000000000";
    assert_eq!(one_span("{sampling_percentage: 100}", tid, "ot=rv:f2341234123412", vec![]), None);
    assert_eq!(
        one_span("{sampling_percentage: 100, fail_closed: false}", tid, "ot=rv:f2341234123412", vec![]),
        Some("ot=rv:f2341234123412".into())
    );
    assert_eq!(
        one_span("{sampling_percentage: 100, fail_closed: false}", tid, "ot=th:8", vec![]),
        Some("ot=th:8".into())
    );
}

// ---------------------------------------------------------------------------------------------
// equalizing and proportional: the Collector's Test_tracesamplerprocessor_SpanSamplingPriority

/// (percentage, precision, trace id, arriving tracestate, equalizing result, proportional result).
type Vector = (f32, u32, &'static str, &'static str, Option<&'static str>, Option<&'static str>);

const DEFAULT_TID: &str = "fefefefefefefefefe80000000000000";

const CONSISTENT_VECTORS: &[Vector] = &[
    (1.0, 4, "a0a0a0a0a0a0a0a0a0fe000000000000", "", Some("ot=th:fd70a"), Some("ot=th:fd70a")),
    (
        1.0,
        14,
        DEFAULT_TID,
        "ot=rv:fd70b000000000",
        Some("ot=th:fd70a3d70a3d71;rv:fd70b000000000"),
        Some("ot=th:fd70a3d70a3d71;rv:fd70b000000000"),
    ),
    (1.0, 14, DEFAULT_TID, "ot=rv:fd70a3d70a3d70", None, None),
    (49.0, 4, DEFAULT_TID, "", None, None),
    (50.0, 4, DEFAULT_TID, "ot=rv:90000000000000;th:80000000000000", Some("ot=th:8;rv:90000000000000"), None),
    (25.0, 4, DEFAULT_TID, "ot=th:8", None, None),
    (25.0, 4, "ffffffffffffffffffffffffffffffff", "ot=th:8", Some("ot=th:c"), Some("ot=th:e")),
    (
        50.0,
        4,
        DEFAULT_TID,
        "ot=rv:c0000000000000;th:8",
        Some("ot=rv:c0000000000000;th:8"),
        Some("ot=th:c;rv:c0000000000000"),
    ),
    (
        40.0,
        3,
        DEFAULT_TID,
        "ot=rv:a0000000000000",
        Some("ot=th:99a;rv:a0000000000000"),
        Some("ot=th:99a;rv:a0000000000000"),
    ),
    (40.0, 6, "a0a0a0a0a0a0a0a0a0d0000000000000", "ot=th:8", Some("ot=th:99999a"), Some("ot=th:cccccd")),
    (40.0, 3, "a0a0a0a0a0a0a0a0a0b0000000000000", "ot=th:8", Some("ot=th:99a"), None),
    (40.0, 3, "a0a0a0a0a0a0a0a0a080000000000000", "ot=th:8", None, None),
    (200.0, 4, DEFAULT_TID, "", Some("ot=th:0"), Some("ot=th:0")),
];

#[test]
fn equalizing_and_proportional_match_the_collector_vectors() {
    for &(pct, precision, tid, ts, equalizing, proportional) in CONSISTENT_VECTORS {
        for (mode, expected) in [("equalizing", equalizing), ("proportional", proportional)] {
            let yaml = format!("{{sampling_percentage: {pct}, sampling_precision: {precision}, mode: {mode}}}");
            assert_eq!(one_span(&yaml, tid, ts, vec![]).as_deref(), expected, "{mode} {pct}% {tid} {ts:?}");
        }
    }
}

#[test]
fn an_arriving_stricter_threshold_is_never_lowered() {
    // Arrived at 25% (th:c) with R above c: 50% equalizing keeps it and th stays c; 50%
    // proportional halves the probability to 12.5% (th:e).
    let tid = "ffffffffffffffffffffffffffffffff";
    let eq = "{sampling_percentage: 50, mode: equalizing}";
    assert_eq!(one_span(eq, tid, "ot=th:c,vendor=x", vec![]), Some("ot=th:c,vendor=x".into()), "unchanged");
    let prop = "{sampling_percentage: 50, mode: proportional}";
    assert_eq!(one_span(prop, tid, "vendor=x,ot=th:c", vec![]), Some("ot=th:e,vendor=x".into()));
}

#[test]
fn priority_overrides_the_decision_for_spans() {
    let prio = |v: any_value::Value| vec![kv("sampling.priority", v)];
    // Kept at 1% whatever the randomness, with th:0 (probability 1).
    let kept =
        one_span("{sampling_percentage: 1, mode: equalizing}", DEFAULT_TID, "", prio(any_value::Value::IntValue(2)));
    assert_eq!(kept, Some("ot=th:0".into()));
    let kept = one_span(
        "{sampling_percentage: 1, mode: equalizing}",
        DEFAULT_TID,
        "",
        prio(any_value::Value::StringValue("1".into())),
    );
    assert_eq!(kept, Some("ot=th:0".into()));
    // Dropped at 99%.
    let dropped = one_span(
        "{sampling_percentage: 99, mode: equalizing}",
        DEFAULT_TID,
        "",
        prio(any_value::Value::DoubleValue(0.0)),
    );
    assert_eq!(dropped, None);
}

#[test]
fn fail_closed_drops_items_without_usable_randomness_and_fail_open_keeps_them() {
    let no_id = "00000000000000000000000000000000";
    for mode in ["hash_seed", "equalizing", "proportional"] {
        let closed = format!("{{sampling_percentage: 100, mode: {mode}}}");
        let open = format!("{{sampling_percentage: 100, mode: {mode}, fail_closed: false}}");
        assert_eq!(one_span(&closed, no_id, "", vec![]), None, "{mode}: no trace id");
        assert_eq!(one_span(&open, no_id, "", vec![]), Some("ot=th:0".into()), "{mode}: no trace id");
        assert_eq!(one_span(&closed, DEFAULT_TID, "ot=th:-1", vec![]), None, "{mode}: malformed th");
        assert_eq!(one_span(&open, DEFAULT_TID, "ot=th:-1", vec![]), Some("ot=th:-1".into()), "{mode}: left alone");
    }
    // An arriving th the randomness contradicts (R = 0x70… < th:8) is erased; failing open
    // keeps the span with th:0.
    let ts = "ot=th:8;rv:70000000000000";
    assert_eq!(one_span("{sampling_percentage: 100, mode: equalizing}", DEFAULT_TID, ts, vec![]), None);
    assert_eq!(
        one_span("{sampling_percentage: 100, mode: proportional, fail_closed: false}", DEFAULT_TID, ts, vec![]),
        Some("ot=th:0;rv:70000000000000".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Consistency and statistics

#[test]
fn every_span_of_a_trace_gets_the_same_decision() {
    let mut ids = Ids(7);
    for yaml in [
        "{sampling_percentage: 30}",
        "{sampling_percentage: 30, mode: equalizing}",
        "{sampling_percentage: 30, mode: proportional}",
    ] {
        let p = processor(Signal::Traces, yaml);
        let trace_ids: Vec<Vec<u8>> = (0..200).map(|_| ids.trace_id()).collect();
        // Five spans per trace, scattered over three resources and with different contents.
        let mut groups = vec![Vec::new(), Vec::new(), Vec::new()];
        for (t, id) in trace_ids.iter().enumerate() {
            for s in 0..5u64 {
                let attributes = vec![str_kv("n", &format!("{t}-{s}"))];
                groups[(t + s as usize) % 3].push(span(id, t as u64 * 10 + s, "", attributes));
            }
        }
        let kept = kept_spans(&p, &traces(groups));
        let mut per_trace: BTreeMap<String, usize> = BTreeMap::new();
        for (tid, _, _) in &kept {
            *per_trace.entry(tid.clone()).or_default() += 1;
        }
        assert!(per_trace.values().all(|n| *n == 5), "{yaml}: whole traces only: {per_trace:?}");
        assert!((30..=90).contains(&per_trace.len()), "{yaml}: about 30% of 200 traces: {}", per_trace.len());
    }
}

#[test]
fn kept_fraction_is_within_four_sigma_on_100k_trace_ids() {
    const N: usize = 100_000;
    let mut ids = Ids(42);
    let spans: Vec<Span> = (0..N).map(|n| span(&ids.trace_id(), n as u64, "", vec![])).collect();
    let input = traces(vec![spans]);
    for (yaml, p) in [
        ("{sampling_percentage: 10}", 1638.0 / 16384.0),
        ("{sampling_percentage: 10, mode: equalizing}", 0.1),
        ("{sampling_percentage: 10, mode: proportional}", 0.1),
        ("{sampling_percentage: 1, mode: equalizing}", 0.01),
    ] {
        let kept = kept_spans(&processor(Signal::Traces, yaml), &input).len() as f64;
        let (mean, sigma) = (N as f64 * p, (N as f64 * p * (1.0 - p)).sqrt());
        assert!((kept - mean).abs() <= 4.0 * sigma, "{yaml}: kept {kept}, expected {mean} ± {}", 4.0 * sigma);
    }
}

#[test]
fn equalizing_keeps_exactly_the_traces_whose_randomness_reaches_the_threshold() {
    let mut ids = Ids(3);
    let trace_ids: Vec<Vec<u8>> = (0..2000).map(|_| ids.trace_id()).collect();
    let input = traces(vec![trace_ids.iter().enumerate().map(|(n, id)| span(id, n as u64, "", vec![])).collect()]);
    let kept = kept_spans(&processor(Signal::Traces, "{sampling_percentage: 25, mode: equalizing}"), &input);
    let got: BTreeSet<String> = kept.iter().map(|(t, _, _)| t.clone()).collect();
    let predicted: BTreeSet<String> =
        trace_ids.iter().filter(|id| sampling::randomness(id, "") >= 0xc << 52).map(|id| hex(id)).collect();
    assert_eq!(got, predicted);
    assert!(kept.iter().all(|(_, _, ts)| ts == "ot=th:c"));
}

// ---------------------------------------------------------------------------------------------
// Logs

#[test]
fn logs_by_trace_id_in_a_consistent_mode_record_sampling_threshold() {
    let records = vec![
        // R = 0xf0… ≥ th:e (12.5%): kept, 25% × 50% = 12.5% → "e".
        LogRecord {
            trace_id: parse_hex("fefefefefefefefefef0000000000000"),
            attributes: vec![str_kv("sampling.threshold", "c")],
            ..Default::default()
        },
        // R = 0x80… < th:c: the arriving threshold is inconsistent, and fail_closed drops it.
        LogRecord {
            trace_id: parse_hex(DEFAULT_TID),
            attributes: vec![str_kv("sampling.threshold", "c")],
            ..Default::default()
        },
    ];
    let kept = kept_logs(&processor(Signal::Logs, "{sampling_percentage: 50, mode: proportional}"), &logs(records));
    assert_eq!(kept.len(), 1);
    assert_eq!(attribute(&kept[0], "sampling.threshold"), Some(&any_value::Value::StringValue("e".into())));
    assert_eq!(kept[0].attributes.iter().filter(|a| a.key == "sampling.threshold").count(), 1, "replaced, not added");
}

#[test]
fn log_priority_sets_the_record_percentage() {
    // 10.125% at precision 6 with sampling.randomness e6147c…: kept with th e6147b (the
    // Collector's "10 percent priority sampled incoming randomness").
    let record = LogRecord {
        trace_id: parse_hex(DEFAULT_TID),
        attributes: vec![
            str_kv("sampling.randomness", "e6147c00000000"),
            kv("veryrandom", any_value::Value::DoubleValue(10.125)),
        ],
        ..Default::default()
    };
    let p = processor(
        Signal::Logs,
        "{sampling_percentage: 0, mode: equalizing, sampling_priority: veryrandom, sampling_precision: 6}",
    );
    let kept = kept_logs(&p, &logs(vec![record]));
    assert_eq!(kept.len(), 1);
    assert_eq!(attribute(&kept[0], "sampling.threshold"), Some(&any_value::Value::StringValue("e6147b".into())));
    // Priority 0 drops a record that 100% would keep.
    let record = LogRecord {
        trace_id: parse_hex(DEFAULT_TID),
        attributes: vec![kv("prio", any_value::Value::IntValue(0))],
        ..Default::default()
    };
    let p = processor(Signal::Logs, "{sampling_percentage: 100, mode: equalizing, sampling_priority: prio}");
    assert!(kept_logs(&p, &logs(vec![record])).is_empty());
}

#[test]
fn logs_without_randomness_follow_fail_closed() {
    let record = || LogRecord { attributes: vec![str_kv("unused", "")], ..Default::default() };
    for mode in ["hash_seed", "equalizing", "proportional"] {
        for (fail_closed, kept) in [(true, 0), (false, 1)] {
            let yaml = format!("{{sampling_percentage: 50, mode: {mode}, fail_closed: {fail_closed}}}");
            assert_eq!(kept_logs(&processor(Signal::Logs, &yaml), &logs(vec![record()])).len(), kept, "{yaml}");
        }
    }
    // hash_seed falls back to from_attribute when the record has no trace id.
    let with_id = LogRecord { attributes: vec![str_kv("request.id", "r-1")], ..Default::default() };
    let p = processor(Signal::Logs, "{sampling_percentage: 100, from_attribute: request.id}");
    let kept = kept_logs(&p, &logs(vec![with_id]));
    let rv = format!("{:014x}", hash_randomness(b"r-1", 0));
    assert_eq!(attribute(&kept[0], "sampling.randomness"), Some(&any_value::Value::StringValue(rv)));
}

// ---------------------------------------------------------------------------------------------
// Data path

#[test]
fn a_request_kept_whole_and_unchanged_is_forwarded_as_it_is() {
    // Already at th:0 (100%): nothing to write.
    let input = traces(vec![vec![span(&parse_hex(DEFAULT_TID), 0, "ot=th:0", vec![])]]);
    let p = processor(Signal::Traces, "{sampling_percentage: 100, mode: equalizing}");
    assert!(matches!(p.sample(&input), Ok(Outcome::Unchanged)));
    let input = traces(vec![vec![span(&parse_hex(DEFAULT_TID), 0, "", vec![])]]);
    assert!(matches!(p.sample(&input), Ok(Outcome::Rebuilt(_))), "th:0 must be written");
    let p = processor(Signal::Traces, "{sampling_percentage: 0}");
    assert!(matches!(p.sample(&input), Ok(Outcome::Empty)));
}

#[test]
fn groups_without_kept_items_are_left_out_and_headers_are_kept() {
    // Resource 0 only has a dropped span, resource 1 a kept one.
    let dropped = span(&parse_hex("000000000000000000000000000000ff"), 0, "", vec![]);
    let kept = span(&parse_hex("0000000000000000ffffffffffffffff"), 1, "vendor=a", vec![str_kv("k", "v")]);
    let input = traces(vec![vec![dropped], vec![kept.clone()]]);
    let p = processor(Signal::Traces, "{sampling_percentage: 50, mode: equalizing}");
    let Ok(Outcome::Rebuilt(out)) = p.sample(&input) else { panic!("a rebuilt request") };
    let request = out.decode_traces().unwrap();
    assert_eq!(request.resource_spans.len(), 1);
    let rs = &request.resource_spans[0];
    assert_eq!(rs.resource.as_ref().unwrap().attributes, vec![str_kv("service.name", "svc-1")]);
    let got = &rs.scope_spans[0].spans[0];
    assert_eq!(got, &Span { trace_state: "ot=th:8,vendor=a".into(), ..kept }, "only trace_state changed");
}

// ---------------------------------------------------------------------------------------------
// In a pipeline

#[tokio::test]
async fn sampled_out_requests_are_acknowledged_as_success_and_counted() {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let mut pipeline = TestPipeline::start(
        registry,
        Signal::Traces,
        "{probabilistic_sampler/ack: {sampling_percentage: 50, mode: equalizing}}",
        "probabilistic_sampler/ack",
        accept_all,
    )
    .await;
    let low = span(&parse_hex("0000000000000000ff00000000000001"), 0, "", vec![]);
    let high = span(&parse_hex("0000000000000000fff0000000000001"), 1, "", vec![]);
    // Nothing kept: the receiver learns success, nothing is exported.
    let outcome = pipeline.send_and_wait(traces(vec![vec![low.clone()]])).await.expect("joins");
    assert_eq!(outcome, Ok(()));
    // One of two kept: exported with th:8, then acknowledged.
    let waiting = pipeline.send_and_wait(traces(vec![vec![low, high]]));
    let exported = pipeline.next_export().await;
    assert_eq!(exported.items(), 1);
    assert_eq!(waiting.await.expect("joins"), Ok(()));
    assert!(pipeline.nothing_exported(), "the dropped-only request exported nothing");
    let labels =
        |sampled| [("processor", "probabilistic_sampler/ack"), ("policy", "trace_id_w3c"), ("sampled", sampled)];
    let name = "otelcol_processor_probabilistic_sampler_count_traces_sampled";
    assert_eq!(metric_value(name, &labels("true")), Some(1.0));
    assert_eq!(metric_value(name, &labels("false")), Some(2.0));
    let items = |n| metric_value(n, &[("processor", "probabilistic_sampler/ack"), ("otel_signal", "traces")]);
    assert_eq!(items("otelcol_processor_incoming_items"), Some(3.0));
    assert_eq!(items("otelcol_processor_outgoing_items"), Some(1.0));
    pipeline.shutdown().await;
}

#[test]
fn metrics_signal_is_refused() {
    let ctx = BuildContext::new(
        weir_core::ComponentId::parse("probabilistic_sampler").expect("an id"),
        Some(Signal::Metrics),
    );
    let c = config("{sampling_percentage: 5}");
    let e = ProbabilisticSamplerFactory.build(&ctx, &c).err().expect("refused");
    assert!(e.to_string().contains("not metrics"), "{e}");
}
