//! `tail_sampling` in a real pipeline, on paused time: policies, combinations, triggers,
//! budgets, late spans, acknowledgements and conservation.

use super::*;
use crate::test_pipeline::{accept_all, metric_value, TestPipeline};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use weir_core::config::yaml;
use weir_core::{ComponentConfig, Registry};

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
    let node = yaml::parse(text, &|_| None).map_err(|e| e.message)?;
    let c: TailSamplingConfig = node.deserialize().map_err(|e| e.message)?;
    c.validate()?;
    Ok(c)
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
fn ottl_condition_is_refused_naming_the_equivalent_policies() {
    let e = parse(
        "policies: [{name: ottl, type: ottl_condition, ottl_condition: {error_mode: ignore, span: ['attributes[\"a\"] == \"b\"']}}]",
    )
    .unwrap_err();
    assert!(e.contains("ottl_condition is not supported"), "{e}");
    assert!(e.contains("string_attribute") && e.contains("drop"), "{e}");
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

#[tokio::test(start_paused = true)]
async fn rate_limiting_counts_spans_per_second() {
    // Limit 5: a trace is sampled while spans so far this second + its spans < 5.
    let kept = kept_with(
        "[{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 5}}]",
        vec![request(vec![span(1, 1, 0), span(1, 2, 1), span(2, 1, 0), span(2, 2, 1), span(3, 1, 0)])],
    )
    .await;
    assert_eq!(kept.len(), 2, "{kept:?}");
}

#[tokio::test(start_paused = true)]
async fn bytes_limiting_is_a_token_bucket_over_trace_bytes() {
    // Each one-span trace is ~50 bytes; a burst of 120 bytes takes two.
    let kept = kept_with(
        "[{name: b, type: bytes_limiting, bytes_limiting: {bytes_per_second: 60, burst_capacity: 120}}]",
        vec![request(vec![span(1, 1, 0), span(2, 1, 0), span(3, 1, 0), span(4, 1, 0)])],
    )
    .await;
    assert_eq!(kept.len(), 2, "{kept:?}");
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

#[tokio::test(start_paused = true)]
async fn composite_gives_each_sub_policy_its_share_of_the_span_budget() {
    // Budget 4 spans/s: errors 50% (2 spans), always 50% (2 spans). Six one-span traces, all
    // errors: errors takes 2, then always_sample takes 2, the rest are over budget.
    let policies = format!(
        "[{{name: c, type: composite, composite: {{max_total_spans_per_second: 4, policy_order: [errors, all], \
         composite_sub_policy: [{ERRORS}, {{name: all, type: always_sample}}], \
         rate_allocation: [{{policy: errors, percent: 50}}, {{policy: all, percent: 50}}]}}}}]"
    );
    let spans = (1..=6).map(|t| with_status(span(t, 1, 0), status::StatusCode::Error)).collect();
    let kept = kept_with(&policies, vec![request(spans)]).await;
    assert_eq!(kept.len(), 4, "{kept:?}");
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
