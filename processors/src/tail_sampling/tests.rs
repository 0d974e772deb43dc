//! `tail_sampling` in a real pipeline, on paused time: policies, combinations, triggers,
//! budgets, late spans, acknowledgements and conservation.

use super::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use weir_core::testing::{accept_all, metric_value, TestPipeline};
use weir_core::Registry;

// ---------------------------------------------------------------------------------------------
// Building traces

/// A trace id whose first 8 bytes are `n` and whose low 56 bits are `random`.
fn trace_id_with(n: u64, random: u64) -> Vec<u8> {
    let mut id = n.to_be_bytes().to_vec();
    id.extend_from_slice(&random.to_be_bytes());
    id
}

fn tid(n: u64) -> Vec<u8> {
    trace_id_with(n, n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn b(key: &str, v: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(v))
}

const T0: u64 = 1_700_000_000_000_000_000;

/// Span `span` of trace `trace`, child of `parent` (0: a root), lasting 1 ms.
fn span(trace: u64, span: u64, parent: u64) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: span.to_be_bytes().to_vec(),
        parent_span_id: if parent == 0 { Vec::new() } else { parent.to_be_bytes().to_vec() },
        name: format!("t{trace}s{span}"),
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 1_000_000,
        ..Default::default()
    }
}

fn with_status(mut sp: Span, code: status::StatusCode) -> Span {
    sp.status = Some(Status { code: code as i32, ..Default::default() });
    sp
}

fn with_attrs(mut sp: Span, attrs: Vec<KeyValue>) -> Span {
    sp.attributes = attrs;
    sp
}

/// A request with the spans under one resource (with `resource_attrs`) and one scope.
fn request_with(resource_attrs: Vec<KeyValue>, spans: Vec<Span>) -> Payload {
    let mut attrs = vec![s("service.name", "checkout")];
    attrs.extend(resource_attrs);
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: attrs, ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "weir-test".into(), ..Default::default() }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).expect("a valid traces request")
}

fn request(spans: Vec<Span>) -> Payload {
    request_with(Vec::new(), spans)
}

/// Every exported span, decoded, with its resource's `service.name`.
fn exported_spans(payloads: &[Payload]) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for p in payloads {
        let req = p.decode_traces().expect("exported payload decodes");
        assert_eq!(
            p.items(),
            req.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum::<usize>()
        );
        for rs in req.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                assert_eq!(ss.scope.as_ref().map(|s| s.name.as_str()), Some("weir-test"), "scope kept");
                for sp in ss.spans {
                    out.push((service.clone(), sp));
                }
            }
        }
    }
    out
}

fn trace_number(sp: &Span) -> u64 {
    u64::from_be_bytes(sp.trace_id[..8].try_into().unwrap())
}

/// The traces (by number) with at least one exported span.
fn kept_traces(payloads: &[Payload]) -> BTreeSet<u64> {
    exported_spans(payloads).iter().map(|(_, sp)| trace_number(sp)).collect()
}

async fn pipeline(processors: &str, chain: &str) -> TestPipeline {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    TestPipeline::start(registry, Signal::Traces, processors, chain, accept_all).await
}

/// Sends `requests` through a processor with `policies` (flow YAML list), shuts down (which
/// decides everything) and returns the kept traces.
async fn kept_with(policies: &str, requests: Vec<Payload>) -> BTreeSet<u64> {
    let p =
        pipeline(&format!("{{tail_sampling: {{decision_wait: 10s, policies: {policies}}}}}"), "tail_sampling").await;
    for r in requests {
        p.send(r).await.unwrap();
    }
    kept_traces(&p.shutdown().await)
}

fn set(v: &[u64]) -> BTreeSet<u64> {
    v.iter().copied().collect()
}

// ---------------------------------------------------------------------------------------------
// Configuration

fn parse(text: &str) -> Result<TailSamplingConfig, String> {
    weir_core::testing::parse_config(text)
}

#[test]
fn defaults_match_the_collector() {
    let c = TailSamplingConfig::default();
    assert_eq!(c.decision_wait, Duration::from_secs(30));
    assert_eq!(c.num_traces, 50_000);
    assert_eq!(c.expected_new_traces_per_sec, 0);
    assert_eq!(c.decision_wait_after_root_received, None);
    assert_eq!(c.decision_cache, DecisionCacheConfig::default());
    assert_eq!(c.maximum_trace_size_bytes, 0);
    assert!(!c.decision_attributes);
}

#[test]
fn the_collector_readme_example_parses() {
    let c = parse(include_str!("testdata/collector_readme.yaml")).unwrap();
    assert_eq!(c.decision_wait, Duration::from_secs(10));
    assert_eq!(c.decision_cache.sampled_cache_size, 100_000);
    assert_eq!(c.policies.len(), 17);
    for p in &c.policies {
        Policy::build(p).unwrap_or_else(|e| panic!("{}: {e}", p.name));
    }
    let composite = c.policies.iter().find(|p| p.policy_type == "composite").unwrap();
    assert_eq!(composite.composite.as_ref().unwrap().rate_allocation[1].percent, 25);
    let regex = c.policies.iter().find(|p| p.name == "test-policy-9").unwrap();
    assert_eq!(regex.string_attribute.as_ref().unwrap().values, ["\\/health", "\\/metrics"]);
}

#[test]
fn ottl_condition_errors_name_the_condition_and_its_position() {
    let e = parse("policies: [{name: ottl, type: ottl_condition, ottl_condition: {error_mode: ignore}}]").unwrap_err();
    assert!(e.contains("at least one span or spanevent condition"), "{e}");
    let e = parse("policies: [{name: ottl, type: ottl_condition, ottl_condition: {span: ['name == ']}}]").unwrap_err();
    assert!(e.contains("ottl_condition.span[0]") && e.contains("line 1"), "{e}");
}

/// The Collector's README / testdata policy (`test-policy-12`); a missing attribute is nil,
/// and nil != "x" holds, as in OTTL.
#[tokio::test(start_paused = true)]
async fn ottl_condition_samples_when_a_span_or_span_event_matches() {
    let event = |name: &str, attrs: Vec<KeyValue>| opentelemetry_proto::tonic::trace::v1::span::Event {
        name: name.into(),
        attributes: attrs,
        ..Default::default()
    };
    let with_events = |mut sp: Span, events| {
        sp.events = events;
        sp
    };
    let policy = r#"[{name: ottl, type: ottl_condition, ottl_condition: {
        error_mode: ignore,
        span: ["attributes[\"test_attr_key_1\"] == \"test_attr_val_1\"", "attributes[\"test_attr_key_2\"] != \"test_attr_val_1\""],
        spanevent: ["name != \"test_span_event_name\"", "attributes[\"test_event_attr_key_2\"] != \"test_event_attr_val_1\""]}}]"#;
    let k2 = || vec![s("test_attr_key_2", "test_attr_val_1")];
    let kept = kept_with(
        policy,
        vec![
            request(vec![with_attrs(
                span(1, 1, 0),
                vec![s("test_attr_key_1", "test_attr_val_1"), s("test_attr_key_2", "test_attr_val_1")],
            )]),
            request(vec![with_attrs(span(2, 1, 0), k2())]),
            request(vec![with_events(
                with_attrs(span(3, 1, 0), k2()),
                vec![event("test_span_event_name", vec![s("test_event_attr_key_2", "test_event_attr_val_1")])],
            )]),
            request(vec![with_events(
                with_attrs(span(4, 1, 0), k2()),
                vec![event("other", vec![s("test_event_attr_key_2", "test_event_attr_val_1")])],
            )]),
            request(vec![with_events(with_attrs(span(5, 1, 0), k2()), vec![event("test_span_event_name", vec![])])]),
            // Trace 6: the matching span is the second of the trace.
            request(vec![with_attrs(span(6, 1, 0), k2()), span(6, 2, 1)]),
        ],
    )
    .await;
    assert_eq!(kept, set(&[1, 4, 5, 6]));
}

#[test]
fn unknown_policy_type_lists_the_valid_ones() {
    let e = parse("policies: [{name: x, type: sometimes}]").unwrap_err();
    assert!(e.contains("unknown policy type \"sometimes\""), "{e}");
    assert!(e.contains("always_sample, latency,"), "{e}");
}

#[test]
fn rejected_combinations_name_the_key() {
    let cases = [
        ("policies: []", "at least one policy"),
        ("policies: [{name: a, type: latency}]", "needs a `latency:` section"),
        ("policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]", "duplicate policy name"),
        ("policies: [{name: a, type: numeric_attribute, numeric_attribute: {key: k}}]", "min_value, max_value"),
        ("policies: [{name: a, type: status_code, status_code: {status_codes: [BAD]}}]", "unknown status code"),
        ("policies: [{name: a, type: string_attribute, string_attribute: {key: k, values: ['('], enabled_regex_matching: true}}]", "invalid regular expression"),
        ("policies: [{name: a, type: not, not: {}}]", "not_sub_policy is required"),
        ("policies: [{name: a, type: composite, composite: {max_total_spans_per_second: 10, composite_sub_policy: [{name: b, type: always_sample}], rate_allocation: [{policy: c, percent: 10}]}}]", "rate_allocation names \"c\""),
        ("decision_wait: 0s\npolicies: [{name: a, type: always_sample}]", "decision_wait"),
        ("policies: [{name: a, type: always_sample, typo: 1}]", "typo"),
    ];
    for (text, want) in cases {
        let e = parse(text).unwrap_err();
        assert!(e.contains(want), "{text}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Policies

#[tokio::test(start_paused = true)]
async fn status_code_keeps_traces_with_an_error_span() {
    let kept = kept_with(
        "[{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]",
        vec![request(vec![
            span(1, 1, 0),
            with_status(span(1, 2, 1), status::StatusCode::Error),
            with_status(span(2, 1, 0), status::StatusCode::Ok),
        ])],
    )
    .await;
    assert_eq!(kept, set(&[1]));
}

#[tokio::test(start_paused = true)]
async fn latency_measures_from_earliest_start_to_latest_end() {
    let mut long = span(1, 2, 1);
    long.end_time_unix_nano = T0 + 600_000_000;
    let kept = kept_with(
        "[{name: slow, type: latency, latency: {threshold_ms: 500}}]",
        vec![request(vec![span(1, 1, 0), long, span(2, 1, 0)])],
    )
    .await;
    assert_eq!(kept, set(&[1]));
    // With an upper bound the lower one is exclusive.
    let mut exact = span(3, 1, 0);
    exact.end_time_unix_nano = T0 + 500_000_000;
    let kept = kept_with(
        "[{name: band, type: latency, latency: {threshold_ms: 500, upper_threshold_ms: 700}}]",
        vec![
            request(vec![exact]),
            request(vec![{
                let mut sp = span(4, 1, 0);
                sp.end_time_unix_nano = T0 + 600_000_000;
                sp
            }]),
        ],
    )
    .await;
    assert_eq!(kept, set(&[4]));
}

#[tokio::test(start_paused = true)]
async fn numeric_attribute_reads_span_and_resource_attributes() {
    let kept = kept_with(
        "[{name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}]",
        vec![
            request(vec![with_attrs(span(1, 1, 0), vec![i("http.status_code", 503)])]),
            request(vec![with_attrs(span(2, 1, 0), vec![i("http.status_code", 200)])]),
            request_with(vec![i("http.status_code", 500)], vec![span(3, 1, 0)]),
        ],
    )
    .await;
    assert_eq!(kept, set(&[1, 3]));
}

#[tokio::test(start_paused = true)]
async fn string_attribute_matches_exactly_or_by_regex_and_can_be_inverted() {
    let reqs = || {
        vec![
            request(vec![with_attrs(span(1, 1, 0), vec![s("http.route", "/checkout")])]),
            request(vec![with_attrs(span(2, 1, 0), vec![s("http.route", "/health")])]),
            request(vec![span(3, 1, 0)]),
            request_with(vec![s("http.route", "/checkout/v2")], vec![span(4, 1, 0)]),
        ]
    };
    let exact = kept_with(
        "[{name: s, type: string_attribute, string_attribute: {key: http.route, values: [/checkout]}}]",
        reqs(),
    )
    .await;
    assert_eq!(exact, set(&[1]));
    let regex = kept_with(
        "[{name: s, type: string_attribute, string_attribute: {key: http.route, values: ['^/check'], enabled_regex_matching: true}}]",
        reqs(),
    )
    .await;
    assert_eq!(regex, set(&[1, 4]));
    // Inverted: a match does not sample; a missing key samples.
    let inverted = kept_with(
        "[{name: s, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}]",
        reqs(),
    )
    .await;
    assert_eq!(inverted, set(&[1, 3, 4]));
}

#[tokio::test(start_paused = true)]
async fn boolean_attribute_matches_the_value() {
    let kept = kept_with(
        "[{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}]",
        vec![
            request(vec![with_attrs(span(1, 1, 0), vec![b("debug", true)])]),
            request(vec![with_attrs(span(2, 1, 0), vec![b("debug", false)])]),
            request(vec![with_attrs(span(3, 1, 0), vec![s("debug", "true")])]),
        ],
    )
    .await;
    assert_eq!(kept, set(&[1]));
}

#[tokio::test(start_paused = true)]
async fn span_count_is_an_inclusive_range() {
    let kept = kept_with(
        "[{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}]",
        vec![request(vec![
            span(1, 1, 0),
            span(2, 1, 0),
            span(2, 2, 1),
            span(3, 1, 0),
            span(3, 2, 1),
            span(3, 3, 1),
            span(4, 1, 0),
            span(4, 2, 1),
            span(4, 3, 1),
            span(4, 4, 1),
        ])],
    )
    .await;
    assert_eq!(kept, set(&[2, 3]));
}

#[tokio::test(start_paused = true)]
async fn trace_state_matches_a_key_and_value() {
    let mut a = span(1, 1, 0);
    a.trace_state = "vendor=gold,ot=th:0".into();
    let mut c = span(2, 1, 0);
    c.trace_state = "vendor=bronze".into();
    let kept = kept_with(
        "[{name: t, type: trace_state, trace_state: {key: vendor, values: [gold, silver]}}]",
        vec![request(vec![a, c])],
    )
    .await;
    assert_eq!(kept, set(&[1]));
}

#[tokio::test(start_paused = true)]
async fn probabilistic_keeps_by_trace_id_randomness_and_writes_the_threshold() {
    let p = pipeline(
        "{tail_sampling: {decision_wait: 10s, policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 25}}]}}",
        "tail_sampling",
    )
    .await;
    // 25% → T = 0xc0…: keep iff the low 56 bits ≥ 0xc0000000000000.
    let mut above = span(1, 1, 0);
    above.trace_id = trace_id_with(1, 0x00c0_0000_0000_0000);
    above.trace_state = "vendor=x".into();
    let mut below = span(2, 1, 0);
    below.trace_id = trace_id_with(2, 0x00bf_ffff_ffff_ffff);
    let mut stricter = span(3, 1, 0);
    stricter.trace_id = trace_id_with(3, 0x00ff_0000_0000_0000);
    stricter.trace_state = "ot=th:f".into();
    // `rv` wins over the trace id.
    let mut rv = span(4, 1, 0);
    rv.trace_id = trace_id_with(4, 0);
    rv.trace_state = "ot=rv:e0000000000000".into();
    p.send(request(vec![above, below, stricter, rv])).await.unwrap();
    let spans = exported_spans(&p.shutdown().await);
    let states: BTreeMap<u64, String> =
        spans.iter().map(|(_, sp)| (trace_number(sp), sp.trace_state.clone())).collect();
    assert_eq!(
        states,
        BTreeMap::from([
            (1, "ot=th:c,vendor=x".to_string()),
            (3, "ot=th:f".to_string()),
            (4, "ot=th:c;rv:e0000000000000".to_string()),
        ])
    );
    // Everything else in the span is unchanged.
    let (_, first) = spans.iter().find(|(_, sp)| trace_number(sp) == 1).unwrap();
    assert_eq!(first.name, "t1s1");
    assert_eq!(first.end_time_unix_nano, T0 + 1_000_000);
}

// ---------------------------------------------------------------------------------------------
// Combinations and precedence

const ERRORS: &str = "{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}";
const CHECKOUT: &str =
    "{name: checkout, type: string_attribute, string_attribute: {key: http.route, values: [/checkout]}}";

fn mixed() -> Vec<Payload> {
    vec![request(vec![
        // 1: error on /checkout; 2: error elsewhere; 3: ok on /checkout; 4: neither.
        with_attrs(with_status(span(1, 1, 0), status::StatusCode::Error), vec![s("http.route", "/checkout")]),
        with_attrs(with_status(span(2, 1, 0), status::StatusCode::Error), vec![s("http.route", "/health")]),
        with_attrs(span(3, 1, 0), vec![s("http.route", "/checkout")]),
        span(4, 1, 0),
    ])]
}

#[tokio::test(start_paused = true)]
async fn and_needs_every_sub_policy() {
    let kept =
        kept_with(&format!("[{{name: both, type: and, and: {{and_sub_policy: [{ERRORS}, {CHECKOUT}]}}}}]"), mixed())
            .await;
    assert_eq!(kept, set(&[1]));
}

#[tokio::test(start_paused = true)]
async fn not_inverts_its_sub_policy() {
    let kept =
        kept_with(&format!("[{{name: no-errors, type: not, not: {{not_sub_policy: {ERRORS}}}}}]"), mixed()).await;
    assert_eq!(kept, set(&[3, 4]));
}

#[tokio::test(start_paused = true)]
async fn drop_overrides_every_sample_decision() {
    let kept = kept_with(
        "[{name: all, type: always_sample}, {name: no-health, type: drop, drop: {drop_sub_policy: [{name: health, \
             type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}}]",
        mixed(),
    )
    .await;
    assert_eq!(kept, set(&[1, 3, 4]));
}

#[tokio::test(start_paused = true)]
async fn inverted_not_sampled_beats_sampled_but_inverted_sampled_loses_to_not_sampled() {
    // errors samples 1 and 2; the inverted policy matches /checkout (1, 3) → not sampled.
    let inverted = "{name: not-checkout, type: string_attribute, string_attribute: {key: http.route, values: [/checkout], invert_match: true}}";
    let kept = kept_with(&format!("[{ERRORS}, {inverted}]"), mixed()).await;
    assert_eq!(kept, set(&[2]));
    // Alone, an inverted policy samples what does not match (2, 4) ...
    assert_eq!(kept_with(&format!("[{inverted}]"), mixed()).await, set(&[2, 4]));
    // ... but not when another policy says NotSampled (4 is no error).
    assert_eq!(kept_with(&format!("[{inverted}, {ERRORS}]"), mixed()).await, set(&[2]));
}

// ---------------------------------------------------------------------------------------------
// Triggers and timing

const ALWAYS_1S: &str = "{tail_sampling: {decision_wait: 1s, policies: [{name: all, type: always_sample}]}}";

#[tokio::test(start_paused = true)]
async fn a_trace_is_decided_decision_wait_after_its_first_span_with_all_its_spans() {
    let mut p = pipeline(ALWAYS_1S, "tail_sampling").await;
    p.send(request(vec![span(1, 1, 0)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(p.nothing_exported(), "not before decision_wait");
    p.send(request(vec![span(1, 2, 1), span(1, 3, 1)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = p.next_export().await;
    let names: BTreeSet<String> = exported_spans(&[out]).into_iter().map(|(_, s)| s.name).collect();
    assert_eq!(names, BTreeSet::from(["t1s1".into(), "t1s2".into(), "t1s3".into()]));
    assert_eq!(
        metric_value(
            &format!("{PREFIX}traces_decided"),
            &[("processor", "tail_sampling"), ("trigger", "decision_wait"), ("sampled", "true")]
        )
        .map(|v| v >= 1.0),
        Some(true)
    );
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn root_span_arrival_decides_early_when_configured() {
    let mut p = pipeline(
        "{tail_sampling/root: {decision_wait: 30s, decision_wait_after_root_received: 200ms, policies: [{name: all, type: always_sample}]}}",
        "tail_sampling/root",
    )
    .await;
    p.send(request(vec![span(1, 2, 1)])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(p.nothing_exported(), "no root yet: waits for decision_wait");
    p.send(request(vec![span(1, 1, 0)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(p.next_export().await.items(), 2);
    let v = metric_value(
        &format!("{PREFIX}traces_decided"),
        &[("processor", "tail_sampling/root"), ("trigger", "root_received"), ("sampled", "true")],
    );
    assert_eq!(v, Some(1.0));
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_trace_reaching_maximum_trace_size_bytes_is_decided_at_once() {
    let mut p = pipeline(
        "{tail_sampling/size: {decision_wait: 30s, maximum_trace_size_bytes: 300, policies: [{name: all, type: always_sample}]}}",
        "tail_sampling/size",
    )
    .await;
    p.send(request((1..=10).map(|n| span(1, n, 0)).collect())).await.unwrap();
    assert_eq!(p.next_export().await.items(), 10);
    let v = metric_value(
        &format!("{PREFIX}traces_decided"),
        &[("processor", "tail_sampling/size"), ("trigger", "trace_size"), ("sampled", "true")],
    );
    assert_eq!(v, Some(1.0));
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_decides_and_flushes_everything_held() {
    let p = pipeline(
        "{tail_sampling/shut: {decision_wait: 1h, policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]}}",
        "tail_sampling/shut",
    )
    .await;
    p.send(request(vec![with_status(span(1, 1, 0), status::StatusCode::Error), span(2, 1, 0), span(1, 2, 1)]))
        .await
        .unwrap();
    let out = p.shutdown().await;
    assert_eq!(exported_spans(&out).len(), 2);
    assert_eq!(kept_traces(&out), set(&[1]));
    let v = metric_value(
        &format!("{PREFIX}traces_decided"),
        &[("processor", "tail_sampling/shut"), ("trigger", "shutdown"), ("sampled", "false")],
    );
    assert_eq!(v, Some(1.0));
}

// ---------------------------------------------------------------------------------------------
// Late spans

#[tokio::test(start_paused = true)]
async fn late_span_of_kept_trace_is_forwarded_at_once() {
    let mut p = pipeline(ALWAYS_1S, "tail_sampling").await;
    p.send(request(vec![span(7, 1, 0)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(p.next_export().await.items(), 1);
    p.send(request(vec![span(7, 2, 1)])).await.unwrap();
    // No timer involved: the late span leaves as soon as it is taken in.
    let late = p.next_export().await;
    assert_eq!(exported_spans(&[late])[0].1.name, "t7s2");
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn late_span_of_dropped_trace_is_dropped() {
    let mut p = pipeline(
        "{tail_sampling/late: {decision_wait: 1s, policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]}}",
        "tail_sampling/late",
    )
    .await;
    p.send(request(vec![span(8, 1, 0)])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // An error arriving late does not revive the dropped trace.
    p.send(request(vec![with_status(span(8, 2, 1), status::StatusCode::Error)])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(p.nothing_exported());
    let v = metric_value(
        &format!("{PREFIX}early_releases_from_cache_decision"),
        &[("processor", "tail_sampling/late"), ("sampled", "false")],
    );
    assert_eq!(v, Some(1.0));
    assert!(p.shutdown().await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Budgets

#[tokio::test(start_paused = true)]
async fn num_traces_decides_the_oldest_trace_early() {
    let mut p = pipeline(
        "{tail_sampling/count: {decision_wait: 1h, num_traces: 2, policies: [{name: all, type: always_sample}]}}",
        "tail_sampling/count",
    )
    .await;
    p.send(request(vec![span(1, 1, 0)])).await.unwrap();
    p.send(request(vec![span(2, 1, 0)])).await.unwrap();
    p.send(request(vec![span(3, 1, 0)])).await.unwrap();
    assert_eq!(kept_traces(&[p.next_export().await]), set(&[1]), "the oldest goes first");
    let out = p.shutdown().await;
    assert_eq!(kept_traces(&out), set(&[2, 3]));
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_distinct_traces_stays_within_the_byte_budget_and_every_trace_is_decided() {
    let budget = 20_000;
    let p = pipeline(
        &format!(
            "{{tail_sampling/flood: {{decision_wait: 1h, max_buffer_bytes: {budget}, num_traces: 1000000, \
             policies: [{{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}]}}}}"
        ),
        "tail_sampling/flood",
    )
    .await;
    let traces = 2000u64;
    let mut sent = 0;
    let mut max_seen = 0.0f64;
    for t in 1..=traces {
        let sp = if t % 10 == 0 { with_status(span(t, 1, 0), status::StatusCode::Error) } else { span(t, 1, 0) };
        p.send(request(vec![sp, span(t, 2, 1)])).await.unwrap();
        sent += 2;
        tokio::task::yield_now().await;
        if let Some(b) = metric_value(&format!("{PREFIX}buffered_bytes"), &[("processor", "tail_sampling/flood")]) {
            max_seen = max_seen.max(b);
        }
    }
    assert!(max_seen > 0.0 && max_seen <= budget as f64, "buffered {max_seen} bytes");
    let evicted = metric_value(
        &format!("{PREFIX}traces_decided"),
        &[("processor", "tail_sampling/flood"), ("trigger", "eviction"), ("sampled", "false")],
    )
    .unwrap()
        + metric_value(
            &format!("{PREFIX}traces_decided"),
            &[("processor", "tail_sampling/flood"), ("trigger", "eviction"), ("sampled", "true")],
        )
        .unwrap();
    assert!(evicted > 1500.0, "{evicted} traces evicted");
    let out = p.shutdown().await;
    let kept = kept_traces(&out);
    assert_eq!(kept, (1..=traces).filter(|t| t % 10 == 0).collect(), "every error trace was decided and kept");
    let spans_out = exported_spans(&out).len() as f64;
    let dropped = metric_value(&format!("{PREFIX}spans_dropped"), &[("processor", "tail_sampling/flood")]).unwrap();
    assert_eq!(spans_out + dropped, sent as f64, "every span kept or dropped by a decision");
}

// ---------------------------------------------------------------------------------------------
// Acknowledgements and conservation

#[tokio::test(start_paused = true)]
async fn a_request_is_acknowledged_once_its_spans_are_exported_or_dropped() {
    let p = pipeline(
        "{tail_sampling/ack: {decision_wait: 1s, policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]}}",
        "tail_sampling/ack",
    )
    .await;
    let waiting = p.send_and_wait(request(vec![with_status(span(1, 1, 0), status::StatusCode::Error), span(2, 1, 0)]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "held until decided");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(waiting.await.unwrap(), Ok(()));
    p.shutdown().await;
}

/// A small deterministic generator (xorshift), so the workload is random but repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test(start_paused = true)]
async fn spans_in_equal_spans_kept_plus_spans_dropped_under_a_random_workload() {
    let p = pipeline(
        "{tail_sampling/conservation: {decision_wait: 2s, num_traces: 50, num_shards: 2, max_buffer_bytes: 40000, \
         policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}, \
         {name: some, type: probabilistic, probabilistic: {sampling_percentage: 20}}]}}",
        "tail_sampling/conservation",
    )
    .await;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    // Spans of 300 traces, spread over requests and time, out of order, some long after
    // their trace was decided (late).
    let mut pending: Vec<Span> = Vec::new();
    for t in 1..=300u64 {
        let n = 1 + rng.below(6);
        for sid in 1..=n {
            let sp = span(t, sid, if sid == 1 { 0 } else { 1 });
            pending.push(if rng.below(20) == 0 { with_status(sp, status::StatusCode::Error) } else { sp });
        }
    }
    let total = pending.len();
    let mut sent = 0;
    while !pending.is_empty() {
        let take = (1 + rng.below(12) as usize).min(pending.len());
        // Out of order: take from random places, mostly near the front.
        let mut batch = Vec::new();
        for _ in 0..take {
            let window = pending.len().min(if rng.below(10) == 0 { pending.len() } else { 40 });
            batch.push(pending.remove(rng.below(window as u64) as usize));
        }
        sent += batch.len();
        p.send(request(batch)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(rng.below(100))).await;
    }
    assert_eq!(sent, total);
    let out = p.shutdown().await;
    let kept = exported_spans(&out).len();
    let dropped = metric_value(&format!("{PREFIX}spans_dropped"), &[("processor", "tail_sampling/conservation")])
        .unwrap() as usize;
    assert_eq!(kept + dropped, total, "kept {kept} + dropped {dropped}");
    assert!(kept > 0 && dropped > 0);
    let incoming = metric_value("otelcol_processor_incoming_items", &[("processor", "tail_sampling/conservation")])
        .unwrap() as usize;
    let outgoing = metric_value("otelcol_processor_outgoing_items", &[("processor", "tail_sampling/conservation")])
        .unwrap() as usize;
    assert_eq!((incoming, outgoing), (total, kept));
    // No span is exported twice.
    let ids: BTreeSet<(u64, Vec<u8>)> =
        exported_spans(&out).iter().map(|(_, s)| (trace_number(s), s.span_id.clone())).collect();
    assert_eq!(ids.len(), kept);
}

#[tokio::test(start_paused = true)]
async fn decision_attributes_name_the_policy_and_the_trigger() {
    let p = pipeline(
        "{tail_sampling/attrs: {decision_wait: 1h, decision_attributes: true, policies: [{name: all, type: always_sample}]}}",
        "tail_sampling/attrs",
    )
    .await;
    p.send(request(vec![with_attrs(span(1, 1, 0), vec![s("http.route", "/a")])])).await.unwrap();
    let spans = exported_spans(&p.shutdown().await);
    let attrs: Vec<(String, String)> = spans[0]
        .1
        .attributes
        .iter()
        .map(|a| {
            let v = match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            (a.key.clone(), v)
        })
        .collect();
    assert_eq!(
        attrs,
        [
            ("http.route".to_string(), "/a".to_string()),
            ("sampling.policy".into(), "all".into()),
            ("sampling.trigger".into(), "shutdown".into())
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Memory: zero-copy spans, payloads accounted once

/// A span as an instrumented HTTP service sends it (about 370 bytes encoded).
fn realistic_span(rng: &mut Rng, trace: u64, sid: u64, parent: u64, service: &str) -> Span {
    let routes = ["/api/cart/items", "/api/checkout", "/api/products/{id}", "/api/payment/charge"];
    let route = routes[rng.below(4) as usize];
    let start = T0 + rng.below(1_000_000_000);
    Span {
        trace_id: tid(trace),
        span_id: (trace << 8 | sid).to_be_bytes().to_vec(),
        parent_span_id: if parent == 0 { Vec::new() } else { (trace << 8 | parent).to_be_bytes().to_vec() },
        name: format!("GET {route}"),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + rng.below(50_000_000),
        attributes: vec![
            s("http.request.method", "GET"),
            s("http.route", route),
            i("http.response.status_code", 200),
            s("server.address", &format!("{service}.shop.svc.cluster.local")),
            s("url.full", &format!("http://{service}:8080{route}?s={:08x}", rng.next() as u32)),
            s("user_agent.original", "okhttp/4.12.0"),
            i("thread.id", rng.below(64) as i64),
            s("network.protocol.version", "1.1"),
        ],
        status: Some(Status {
            code: if rng.below(50) == 0 { status::StatusCode::Error } else { status::StatusCode::Ok } as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A request as an agent forwards it: one resource group per service, with its spans.
fn realistic_request(by_service: &BTreeMap<&str, Vec<Span>>) -> Payload {
    let resource_spans = by_service
        .iter()
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", service),
                    s("service.namespace", "shop"),
                    s("service.version", "1.4.2"),
                    s("deployment.environment", "production"),
                    s("host.name", &format!("{service}-7d9f8b6c5-x2k4p")),
                    s("k8s.pod.name", &format!("{service}-7d9f8b6c5-x2k4p")),
                    s("k8s.namespace.name", "shop"),
                    s("telemetry.sdk.language", "java"),
                    s("telemetry.sdk.name", "opentelemetry"),
                    s("telemetry.sdk.version", "1.32.0"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.tomcat-10.0".into(),
                    version: "1.32.0-alpha".into(),
                    ..Default::default()
                }),
                spans: spans.clone(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    let req = ExportTraceServiceRequest { resource_spans };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).expect("a valid traces request")
}

/// `requests` requests of about 512 spans of 8 services, with traces of 3–13 spans, each span
/// from a random service and in one of the next three requests (a trace spans several
/// services and requests); trace numbers start after `first_trace`. Each with its span count
/// and the wire size of its spans.
fn realistic_requests(rng: &mut Rng, requests: usize, first_trace: u64) -> Vec<(Payload, usize, usize)> {
    let services = ["frontend", "cart", "checkout", "payment", "shipping", "email", "recommendation", "ad"];
    let mut slots: Vec<Vec<(usize, Span)>> = vec![Vec::new(); requests + 3];
    let (mut current, mut trace) = (0, first_trace);
    while current < requests {
        trace += 1;
        let n = 3 + rng.below(11);
        for sid in 1..=n {
            let service = rng.below(services.len() as u64) as usize;
            let sp = realistic_span(rng, trace, sid, if sid == 1 { 0 } else { 1 }, services[service]);
            let slot = current + rng.below(3) as usize;
            slots[slot].push((service, sp));
        }
        while current < requests && slots[current].len() >= 512 {
            current += 1;
        }
    }
    slots
        .into_iter()
        .take(requests)
        .map(|slot| {
            let (n, wire) = (slot.len(), slot.iter().map(|(_, sp)| sp.encoded_len()).sum());
            let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
            for (service, sp) in slot {
                by_service.entry(services[service]).or_default().push(sp);
            }
            (realistic_request(&by_service), n, wire)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn buffered_bytes_per_span_stay_within_one_and_a_half_times_the_wire_size_and_return_to_zero() {
    const NAME: &str = "tail_sampling/memory";
    let p = pipeline(
        &format!(
            "{{{NAME}: {{decision_wait: 30s, policies: [{ERRORS}, \
             {{name: some, type: probabilistic, probabilistic: {{sampling_percentage: 10}}}}]}}}}"
        ),
        NAME,
    )
    .await;
    let (mut spans, mut span_wire, mut payload_wire) = (0usize, 0usize, 0usize);
    for (payload, n, wire) in realistic_requests(&mut Rng(0x3e3e_0ff1_ce00_0001), 24, 1) {
        (spans, span_wire, payload_wire) = (spans + n, span_wire + wire, payload_wire + payload.len());
        p.send(payload).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let gauge = |name: &str| metric_value(&format!("{PREFIX}{name}"), &[("processor", NAME)]).unwrap();
    assert_eq!(gauge("buffered_spans") as usize, spans, "nothing decided yet");
    let held = gauge("buffered_bytes");
    let per_span = held / spans as f64;
    let span_size = span_wire as f64 / spans as f64;
    let ratio = per_span / span_size;
    println!(
        "{spans} spans of {span_size:.0} bytes ({:.0} bytes of request per span): {per_span:.0} bytes held per \
         buffered span, {ratio:.3}x the span's wire size",
        payload_wire as f64 / spans as f64
    );
    assert!((300.0..450.0).contains(&span_size), "realistic spans: {span_size}");
    assert!(held >= payload_wire as f64, "every request's bytes are counted: {held} < {payload_wire}");
    assert!(ratio <= 1.5, "{per_span:.0} bytes held per span of {span_size:.0} bytes: {ratio:.3}x");
    // Every trace decided: nothing is held or accounted any more.
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(gauge("buffered_spans"), 0.0);
    assert_eq!(gauge("sampling_traces_on_memory"), 0.0);
    assert_eq!(gauge("buffered_bytes"), 0.0, "all accounting released");
    let kept = p.shutdown().await.iter().map(Payload::items).sum::<usize>();
    let dropped = gauge("spans_dropped") as usize;
    assert_eq!(kept + dropped, spans);
}

#[tokio::test(start_paused = true)]
async fn buffered_bytes_per_span_stay_within_one_and_a_half_times_the_wire_size_in_a_steady_flow() {
    // One 512-span request every 100 ms for 20 s, traces spread over three requests, decided
    // after 5 s: payloads are released as their last trace is decided, so some bytes held
    // belong to traces already decided. The ratio is sampled once the flow is steady.
    const NAME: &str = "tail_sampling/steady_memory";
    let p = pipeline(
        &format!(
            "{{{NAME}: {{decision_wait: 5s, policies: [{ERRORS}, \
             {{name: some, type: probabilistic, probabilistic: {{sampling_percentage: 10}}}}]}}}}"
        ),
        NAME,
    )
    .await;
    let mut rng = Rng(0x57ea_d70f_1000_0001);
    let (mut spans, mut span_wire) = (0usize, 0usize);
    let mut worst: f64 = 0.0;
    let gauge = |name: &str| metric_value(&format!("{PREFIX}{name}"), &[("processor", NAME)]).unwrap_or(0.0);
    for batch in 0..20u64 {
        for (payload, n, wire) in realistic_requests(&mut rng, 10, batch * 1_000_000) {
            (spans, span_wire) = (spans + n, span_wire + wire);
            p.send(payload).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            if batch >= 7 {
                let ratio = gauge("buffered_bytes") / gauge("buffered_spans") / (span_wire as f64 / spans as f64);
                worst = worst.max(ratio);
            }
        }
    }
    println!("steady flow: at worst {worst:.3}x the span's wire size held per buffered span");
    assert!(worst > 1.0 && worst <= 1.5, "{worst:.3}x");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!((gauge("buffered_bytes"), gauge("buffered_spans")), (0.0, 0.0));
    p.shutdown().await;
}

#[test]
fn accounting_follows_the_payloads_and_returns_to_zero() {
    // Driven directly: one payload with spans of two traces is counted once while either is
    // buffered, and released with the last one.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    rt.block_on(async {
        let config =
            parse("{decision_wait: 10s, num_shards: 2, num_traces: 10, policies: [{name: all, type: always_sample}]}")
                .unwrap();
        let mut ts = TailSampler::new("tail_sampling/direct".into(), &config, None).unwrap();
        let first = request(vec![span(1, 1, 0), span(2, 1, 0), span(1, 2, 1)]);
        let second = request(vec![span(2, 2, 1)]);
        let (first_len, second_len) = (first.len(), second.len());
        ts.ingest(Envelope::new(first));
        let index: usize = ts.shards.iter().map(|s| s.index_bytes).sum();
        assert!(index > 0);
        let payloads = ts.meter.load(Ordering::Relaxed);
        assert!(payloads >= first_len && payloads < first_len + 200, "{payloads} for a {first_len}-byte request");
        ts.ingest(Envelope::new(second));
        let both = ts.meter.load(Ordering::Relaxed);
        assert!(both >= first_len + second_len && both < first_len + second_len + 400);
        // Trace 1 decided: the first payload is still referenced by trace 2.
        let now = Instant::now();
        let s1 = ts.shard_of(&trace_id_of(&tid(1)));
        ts.decide(s1, trace_id_of(&tid(1)), Trigger::Eviction, now);
        assert_eq!(ts.meter.load(Ordering::Relaxed), both);
        let s2 = ts.shard_of(&trace_id_of(&tid(2)));
        ts.decide(s2, trace_id_of(&tid(2)), Trigger::Eviction, now);
        assert_eq!(ts.meter.load(Ordering::Relaxed), 0);
        assert_eq!(ts.held_bytes(), 0);
        assert_eq!(ts.out.len(), 2);
        let (bytes, items) = encode(&ts.out).unwrap();
        assert_eq!(items, 4);
        let p = Payload::new(Signal::Traces, bytes).unwrap();
        assert_eq!(exported_spans(&[p]).len(), 4);
    });
}

// ---------------------------------------------------------------------------------------------
// Rate-based policies: consistent probability

/// A steady over-limit stream: every 100 ms a request with 10 new traces of 1–5 spans (about
/// 300 spans/s). Trace `t` is in request `(t - 1) / 10`; every fifth trace has an error.
fn steady_stream(seconds: u64) -> Vec<Payload> {
    let mut rng = Rng(0x7a11_5eed_0000_0001);
    let mut out = Vec::new();
    let mut t = 0u64;
    for _ in 0..seconds * 10 {
        let mut spans = Vec::new();
        for _ in 0..10 {
            t += 1;
            let n = 1 + rng.below(5);
            for sid in 1..=n {
                let sp = span(t, sid, if sid == 1 { 0 } else { 1 });
                spans.push(if t.is_multiple_of(5) { with_status(sp, status::StatusCode::Error) } else { sp });
            }
        }
        out.push(request(spans));
    }
    out
}

/// Feeds the same requests, one every 100 ms, to one pipeline per `(name, policies)` and
/// returns what each exported.
async fn side_by_side(processors: &[(&str, &str)], requests: &[Payload]) -> Vec<Vec<Payload>> {
    let mut ps = Vec::new();
    for (name, policies) in processors {
        ps.push(pipeline(&format!("{{{name}: {{decision_wait: 1s, policies: {policies}}}}}"), name).await);
    }
    for r in requests {
        for p in &ps {
            p.send(r.clone()).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut outs = Vec::new();
    for p in ps {
        outs.push(p.shutdown().await);
    }
    outs
}

/// Exported spans per second of the traces sent from second 5 to second 25 of a
/// [`steady_stream`] (after the rate estimate settled, before shutdown decides the rest).
fn steady_rate(spans: &[(String, Span)], pred: impl Fn(&Span) -> bool) -> f64 {
    let window = 501..=2500u64;
    spans.iter().filter(|(_, sp)| window.contains(&trace_number(sp)) && pred(sp)).count() as f64 / 20.0
}

/// Every kept span carries `ot=th:T` with its trace's R ≥ T; returns the traces kept.
fn assert_consistent_thresholds(spans: &[(String, Span)]) -> BTreeSet<u64> {
    for (_, sp) in spans {
        let th = tracestate::incoming_threshold(&sp.trace_state)
            .unwrap_or_else(|| panic!("kept span without ot=th: {:?}", sp.trace_state));
        assert!(tracestate::randomness(&sp.trace_id, "") >= th, "R < T for a kept span");
    }
    spans.iter().map(|(_, sp)| trace_number(sp)).collect()
}

#[tokio::test(start_paused = true)]
async fn rate_limiting_keeps_a_consistent_subset_at_the_limit() {
    let policy =
        |limit: u64| format!("[{{name: r, type: rate_limiting, rate_limiting: {{spans_per_second: {limit}}}}}]");
    let (p50, p100) = (policy(50), policy(100));
    let stream = steady_stream(30);
    let outs = side_by_side(
        &[("tail_sampling/rate_a", &p50), ("tail_sampling/rate_b", &p50), ("tail_sampling/rate_c", &p100)],
        &stream,
    )
    .await;
    let spans: Vec<Vec<(String, Span)>> = outs.iter().map(|o| exported_spans(o)).collect();
    let offered = stream.iter().map(Payload::items).sum::<usize>() as f64 / 30.0;
    let rate = steady_rate(&spans[0], |_| true);
    println!(
        "rate_limiting: {offered:.0} spans/s offered, limit 50: {rate} kept/s, limit 100: {:.2} kept/s",
        steady_rate(&spans[2], |_| true)
    );
    assert!(offered > 250.0, "over the limit: {offered} spans/s");
    assert!((40.0..=60.0).contains(&rate), "{rate} spans/s kept for a limit of 50");
    let rate_c = steady_rate(&spans[2], |_| true);
    assert!((80.0..=120.0).contains(&rate_c), "{rate_c} spans/s kept for a limit of 100");
    let kept: Vec<BTreeSet<u64>> = spans.iter().map(|s| assert_consistent_thresholds(s)).collect();
    assert_eq!(kept[0], kept[1], "two processors fed the same traces keep the same ones");
    assert!(kept[0].is_subset(&kept[2]), "a higher limit keeps a superset (same R, lower T)");
    // Kept traces are whole.
    let counts = |s: &[(String, Span)]| {
        let mut m: BTreeMap<u64, usize> = BTreeMap::new();
        s.iter().for_each(|(_, sp)| *m.entry(trace_number(sp)).or_default() += 1);
        m
    };
    let all = counts(&exported_spans(&stream));
    for (t, n) in counts(&spans[0]) {
        assert_eq!(all[&t], n, "trace {t} kept whole");
    }
}

#[tokio::test(start_paused = true)]
async fn bytes_limiting_keeps_a_consistent_subset_at_the_byte_rate() {
    let stream = steady_stream(30);
    let limit = 3000;
    let policy = format!("[{{name: b, type: bytes_limiting, bytes_limiting: {{bytes_per_second: {limit}}}}}]");
    let outs = side_by_side(&[("tail_sampling/bytes_a", &policy), ("tail_sampling/bytes_b", &policy)], &stream).await;
    let spans: Vec<Vec<(String, Span)>> = outs.iter().map(|o| exported_spans(o)).collect();
    // Bytes as received (the written `ot=th` is not part of the measured size).
    let received: BTreeMap<(u64, Vec<u8>), usize> = exported_spans(&stream)
        .into_iter()
        .map(|(_, sp)| ((trace_number(&sp), sp.span_id.clone()), sp.encoded_len()))
        .collect();
    let window = 501..=2500u64;
    let kept_bytes: usize = spans[0]
        .iter()
        .filter(|(_, sp)| window.contains(&trace_number(sp)))
        .map(|(_, sp)| received[&(trace_number(sp), sp.span_id.clone())])
        .sum();
    let rate = kept_bytes as f64 / 20.0;
    println!("bytes_limiting: limit {limit} bytes/s: {rate} kept/s");
    assert!((0.75 * limit as f64..=1.25 * limit as f64).contains(&rate), "{rate} bytes/s kept for {limit}");
    let kept: Vec<BTreeSet<u64>> = spans.iter().map(|s| assert_consistent_thresholds(s)).collect();
    assert_eq!(kept[0], kept[1]);
}

#[tokio::test(start_paused = true)]
async fn composite_holds_each_sub_policy_to_its_share_with_consistent_decisions() {
    // 300 spans/s, a fifth of them in error traces (~60/s); 40% of 100 each.
    let policies = format!(
        "[{{name: c, type: composite, composite: {{max_total_spans_per_second: 100, policy_order: [errors, all], \
         composite_sub_policy: [{ERRORS}, {{name: all, type: always_sample}}], \
         rate_allocation: [{{policy: errors, percent: 40}}, {{policy: all, percent: 40}}]}}}}]"
    );
    let stream = steady_stream(30);
    let outs = side_by_side(&[("tail_sampling/comp_a", &policies), ("tail_sampling/comp_b", &policies)], &stream).await;
    let spans: Vec<Vec<(String, Span)>> = outs.iter().map(|o| exported_spans(o)).collect();
    let errors = steady_rate(&spans[0], |sp| trace_number(sp).is_multiple_of(5));
    let others = steady_rate(&spans[0], |sp| !trace_number(sp).is_multiple_of(5));
    println!("composite: shares of 40 spans/s: errors {errors} kept/s, others {others} kept/s");
    assert!((30.0..=50.0).contains(&errors), "{errors} error spans/s for a share of 40");
    assert!((30.0..=50.0).contains(&others), "{others} other spans/s for a share of 40");
    let kept: Vec<BTreeSet<u64>> = spans.iter().map(|s| assert_consistent_thresholds(s)).collect();
    assert_eq!(kept[0], kept[1]);
}

// ---------------------------------------------------------------------------------------------
// The Collector README's example, as documented

#[tokio::test(start_paused = true)]
async fn the_collector_readme_example_behaves_as_documented() {
    const NAME: &str = "tail_sampling/readme";
    let body: String =
        include_str!("testdata/collector_readme.yaml").lines().map(|l| format!("    {l}\n")).collect::<String>();
    let p = pipeline(&format!("\n  {NAME}:\n{body}"), NAME).await;
    let ok = |sp: Span| with_status(sp, status::StatusCode::Ok);
    let mut slow = ok(span(2, 1, 0));
    slow.end_time_unix_nano = T0 + 6_000_000_000;
    p.send(request(vec![
        // 1: an error; 2: a latency outlier (6 s, within 5–10 s); 3: key2 = value2;
        // 4: url.path /health (the drop policy); 5: http.url /metrics (inverted policy 9);
        // 6: nothing special.
        with_status(span(1, 1, 0), status::StatusCode::Error),
        slow,
        ok(with_attrs(span(3, 1, 0), vec![s("key2", "value2")])),
        ok(with_attrs(span(4, 1, 0), vec![s("url.path", "/health")])),
        ok(with_attrs(span(5, 1, 0), vec![s("http.url", "http://shop/metrics")])),
        ok(span(6, 1, 0)),
    ]))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let out = p.shutdown().await;
    // always_sample keeps everything that neither the drop policy nor the inverted match
    // vetoes.
    assert_eq!(kept_traces(&out), set(&[1, 2, 3, 6]));
    let count = |policy: &str, sampled: &str| {
        metric_value(
            &format!("{PREFIX}count_traces_sampled"),
            &[("processor", NAME), ("policy", policy), ("sampled", sampled)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(count("test-policy-5", "true"), 1.0, "the status policy samples the error trace only");
    assert_eq!(count("test-policy-2", "true"), 1.0, "the latency policy samples the outlier only");
    assert_eq!(count("test-policy-6", "true"), 1.0, "the exact string policy samples key2=value2");
    assert_eq!(count("test-policy-7", "true"), 1.0, "the regex string policy too");
    assert_eq!(count("test-policy-9", "false"), 1.0, "the inverted policy vetoes /metrics");
    assert_eq!(count("not-policy-1", "true"), 6.0, "no trace has key2=value1");
    let global = |sampled: &str| {
        metric_value(&format!("{PREFIX}global_count_traces_sampled"), &[("processor", NAME), ("sampled", sampled)])
    };
    assert_eq!((global("true"), global("false")), (Some(4.0), Some(2.0)));
    // Decision latency: six traces, each decided 10 s (decision_wait) after its first span.
    let latency = |part: &str| {
        metric_value(&format!("{PREFIX}sampling_decision_latency_{part}"), &[("processor", NAME)]).unwrap()
    };
    assert_eq!((latency("count"), latency("sum")), (6.0, 60.0));
}

// ---------------------------------------------------------------------------------------------
// adaptive (the algorithm's properties are in `adaptive_harness`; here: the processor around it)

const ADAPTIVE_1S: &str = "{tail_sampling/adaptive: {decision_wait: 1s, policies: [{name: budget, type: adaptive, \
                           adaptive: {target_spans_per_sec: 100}}]}}";

#[test]
fn adaptive_config_is_validated_naming_the_key() {
    let ok = parse("{policies: [{name: a, type: adaptive, adaptive: {target_spans_per_sec: 10, key_fields: [resource.service.name, root.name, root.http.route, span.db.system, root.kind, status_class], priority: {errors: true, latency_quantile: 0.95, reserved_share: 0.3, attribute: {key: vip, values: [gold]}}}}]}").unwrap();
    assert_eq!(ok.policies[0].adaptive.as_ref().unwrap().priority.max_share, 0.3);
    let err = |text: &str| parse(text).unwrap_err();
    assert!(err("{policies: [{name: a, type: adaptive, adaptive: {}}]}")
        .contains("adaptive.target_spans_per_sec is required"));
    assert!(err("{policies: [{name: a, type: adaptive}]}").contains("needs a `adaptive:` section"));
    assert!(err("{policies: [{name: a, type: adaptive, adaptive: {target_spans_per_sec: 1, key_fields: [name]}}]}")
        .contains("unknown field \"name\""));
    assert!(err(
        "{policies: [{name: a, type: adaptive, adaptive: {target_spans_per_sec: 1, priority: {reserved_share: 2}}}]}"
    )
    .contains("reserved_share"));
    assert!(err("{policies: [{name: a, type: adaptive, adaptive: {target_spans_per_sec: 1, budget: 3}}]}")
        .contains("budget"));
}

#[tokio::test(start_paused = true)]
async fn adaptive_keeps_under_budget_with_th_0_and_thins_consistently_with_th_over_it() {
    let mut p = pipeline(ADAPTIVE_1S, "tail_sampling/adaptive").await;
    // Second 1: 50 spans (under the budget of 100/s): all kept, th:0.
    p.send(request((1..=50).map(|n| span(n, 1, 0)).collect())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let first = exported_spans(&[p.next_export().await]);
    assert_eq!(first.len(), 50);
    assert!(first.iter().all(|(_, sp)| sp.trace_state == "ot=th:0"), "{:?}", first[0].1.trace_state);
    // Then 2,000 one-span traces per second of one key: sampled down towards 100/s, each kept
    // span with R ≥ T and its th.
    let mut kept = 0;
    for second in 0..5u64 {
        let base = 1000 + second * 2000;
        p.send(request((base..base + 2000).map(|n| span(n, 1, 0)).collect())).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        while let Some(e) = p.try_next_export() {
            for (_, sp) in exported_spans(&[e]) {
                let th = weir_core::sampling::incoming_threshold(&sp.trace_state).expect("th written");
                assert!(weir_core::sampling::randomness(&sp.trace_id, "") >= th);
                kept += 1;
            }
        }
    }
    // 10,000 offered in 5 s against 100/s: far fewer kept (the first second is kept whole
    // while the table learns the rate).
    assert!(kept < 3000, "{kept} kept");
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_late_error_span_of_a_dropped_trace_is_kept_with_th_0() {
    let mut p = pipeline(ADAPTIVE_1S, "tail_sampling/adaptive").await;
    // Learn a rate far over budget so that some traces are dropped.
    for second in 0..3u64 {
        p.send(request((second * 5000..second * 5000 + 5000).map(|n| span(n, 1, 0)).collect())).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        while p.try_next_export().is_some() {}
    }
    p.send(request((20_000..25_000).map(|n| span(n, 1, 0)).collect())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Every decision of this second's traces has been made; the kept ones may come in several
    // exports, so take all of them (until two quiet seconds) before picking a dropped trace.
    let mut exports = vec![p.next_export().await];
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = exports.len();
        exports.extend(std::iter::from_fn(|| p.try_next_export()));
        if exports.len() == before {
            break;
        }
    }
    let kept = kept_traces(&exports);
    let dropped = (20_000..25_000).find(|n| !kept.contains(n)).expect("some trace dropped");
    let mut late = with_status(span(dropped, 2, 1), status::StatusCode::Error);
    late.trace_state = "vendor=x".into();
    p.send(request(vec![late, span(dropped, 3, 1)])).await.unwrap();
    let out = exported_spans(&[p.next_export().await]);
    assert_eq!(out.len(), 1, "only the error span");
    assert_eq!(out[0].1.span_id, 2u64.to_be_bytes().to_vec());
    assert_eq!(out[0].1.trace_state, "ot=th:0,vendor=x");
    p.shutdown().await;
}
