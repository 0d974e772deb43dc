use super::aggregate::{Aggregator, OVERFLOW_ATTRIBUTE};
use super::config::*;
use super::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric, NumberDataPoint};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use weir_core::testing::string_attribute;
use weir_core::Payload;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// A span of `ms` milliseconds.
fn span(name: &str, kind: span::SpanKind, code: status::StatusCode, ms: u64, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![7; 16],
        span_id: vec![1; 8],
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + ms * MS,
        attributes: attrs,
        status: Some(Status { code: code as i32, ..Default::default() }),
        ..Default::default()
    }
}

fn server(name: &str, ms: u64) -> Span {
    span(name, span::SpanKind::Server, status::StatusCode::Unset, ms, vec![])
}

fn traces(resource: Vec<KeyValue>, spans: Vec<Span>) -> Payload {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "lib".into(), version: "1.2".into(), ..Default::default() }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, request.encode_to_vec().into()).unwrap()
}

fn service(name: &str) -> Vec<KeyValue> {
    vec![string_attribute("service.name", name), string_attribute("host.name", "node-1")]
}

fn config(yaml: &str) -> SpanMetricsConfig {
    weir_core::testing::parse_config(yaml).unwrap()
}

fn flush(agg: &mut Aggregator, now: u64) -> ExportMetricsServiceRequest {
    let p = agg.flush(now).expect("something to emit");
    p.decode_metrics().unwrap()
}

fn metric<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| match &kv.value.as_ref()?.value {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Some(b.to_string()),
        Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
        _ => None,
    })
}

fn sum_points(m: &Metric) -> &[NumberDataPoint] {
    match &m.data {
        Some(metric::Data::Sum(s)) => &s.data_points,
        _ => panic!("{} is not a sum", m.name),
    }
}

fn calls_of(req: &ExportMetricsServiceRequest, span_name: &str) -> i64 {
    sum_points(metric(req, "traces.span.metrics.calls"))
        .iter()
        .filter(|p| attr(&p.attributes, "span.name").as_deref() == Some(span_name))
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(n)) => n,
            _ => panic!("calls are integers"),
        })
        .sum()
}

#[test]
fn calls_and_duration_have_the_collectors_names_units_and_dimensions() {
    let mut agg = Aggregator::new(SpanMetricsConfig::default());
    let p = traces(
        service("checkout"),
        vec![
            server("GET /cart", 3),
            server("GET /cart", 120),
            span("SELECT", span::SpanKind::Client, status::StatusCode::Error, 1, vec![]),
        ],
    );
    assert_eq!(agg.aggregate(&p, T0).unwrap(), 3);
    let req = flush(&mut agg, T0 + 60 * 1_000 * MS);
    let calls = metric(&req, "traces.span.metrics.calls");
    let Some(metric::Data::Sum(sum)) = &calls.data else { panic!("calls is a Sum") };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2, "cumulative by default");
    assert_eq!(calls_of(&req, "GET /cart"), 2);
    let select =
        sum.data_points.iter().find(|p| attr(&p.attributes, "span.name").as_deref() == Some("SELECT")).unwrap();
    let keys: Vec<&str> = select.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["service.name", "span.name", "span.kind", "status.code"]);
    assert_eq!(attr(&select.attributes, "service.name").as_deref(), Some("checkout"));
    assert_eq!(attr(&select.attributes, "span.kind").as_deref(), Some("SPAN_KIND_CLIENT"));
    assert_eq!(attr(&select.attributes, "status.code").as_deref(), Some("STATUS_CODE_ERROR"));

    let duration = metric(&req, "traces.span.metrics.duration");
    assert_eq!(duration.unit, "ms");
    let Some(metric::Data::Histogram(h)) = &duration.data else { panic!("duration is a histogram") };
    let cart = h.data_points.iter().find(|p| attr(&p.attributes, "span.name").as_deref() == Some("GET /cart")).unwrap();
    assert_eq!(cart.explicit_bounds, DEFAULT_BUCKETS_MS);
    assert_eq!(cart.count, 2);
    assert_eq!(cart.sum, Some(123.0));
    // 3ms falls in (2, 4], 120ms in (100, 200].
    assert_eq!(cart.bucket_counts[1], 1);
    assert_eq!(cart.bucket_counts[7], 1);
    assert_eq!(cart.bucket_counts.iter().sum::<u64>(), 2);
    // The metrics' resource is the spans' resource, and the scope is the connector's.
    let rm = &req.resource_metrics[0];
    assert_eq!(attr(&rm.resource.as_ref().unwrap().attributes, "host.name").as_deref(), Some("node-1"));
    assert_eq!(rm.scope_metrics[0].scope.as_ref().unwrap().name, "spanmetricsconnector");
}

#[test]
fn cumulative_counts_keep_growing_from_the_same_start() {
    let mut agg = Aggregator::new(SpanMetricsConfig::default());
    agg.aggregate(&traces(service("a"), vec![server("x", 1)]), T0).unwrap();
    let first = flush(&mut agg, T0 + 10);
    agg.aggregate(&traces(service("a"), vec![server("x", 1), server("x", 1)]), T0 + 20).unwrap();
    let second = flush(&mut agg, T0 + 30);
    assert_eq!((calls_of(&first, "x"), calls_of(&second, "x")), (1, 3));
    let start =
        |r: &ExportMetricsServiceRequest| sum_points(metric(r, "traces.span.metrics.calls"))[0].start_time_unix_nano;
    assert_eq!(start(&first), start(&second));
}

#[test]
fn delta_counts_restart_and_each_point_starts_where_the_last_ended() {
    let mut agg = Aggregator::new(config("aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA\n"));
    agg.aggregate(&traces(service("a"), vec![server("x", 1), server("x", 1)]), T0).unwrap();
    let first = flush(&mut agg, T0 + 10);
    assert!(agg.flush(T0 + 15).is_none(), "nothing new, nothing emitted");
    agg.aggregate(&traces(service("a"), vec![server("x", 1)]), T0 + 20).unwrap();
    let second = flush(&mut agg, T0 + 30);
    assert_eq!((calls_of(&first, "x"), calls_of(&second, "x")), (2, 1));
    let p = &sum_points(metric(&second, "traces.span.metrics.calls"))[0];
    assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (T0 + 10, T0 + 30));
    let Some(metric::Data::Sum(s)) = &metric(&second, "traces.span.metrics.calls").data else { unreachable!() };
    assert_eq!(s.aggregation_temporality, 1);
}

#[test]
fn added_dimensions_come_from_the_span_then_the_resource_then_the_default() {
    let mut agg = Aggregator::new(config(
        "dimensions:\n  - name: http.method\n    default: GET\n  - name: host.name\n  - name: absent\n",
    ));
    let with = span(
        "a",
        span::SpanKind::Server,
        status::StatusCode::Ok,
        1,
        vec![string_attribute("http.method", "POST"), string_attribute("host.name", "span-host")],
    );
    agg.aggregate(&traces(service("svc"), vec![with, server("b", 1)]), T0).unwrap();
    let req = flush(&mut agg, T0 + 1);
    let points = sum_points(metric(&req, "traces.span.metrics.calls"));
    let a = points.iter().find(|p| attr(&p.attributes, "span.name").as_deref() == Some("a")).unwrap();
    let b = points.iter().find(|p| attr(&p.attributes, "span.name").as_deref() == Some("b")).unwrap();
    assert_eq!(attr(&a.attributes, "http.method").as_deref(), Some("POST"));
    assert_eq!(attr(&a.attributes, "host.name").as_deref(), Some("span-host"));
    assert_eq!(attr(&b.attributes, "http.method").as_deref(), Some("GET"), "the default");
    assert_eq!(attr(&b.attributes, "host.name").as_deref(), Some("node-1"), "from the resource");
    assert!(attr(&b.attributes, "absent").is_none(), "no default: left out");
}

#[test]
fn excluded_dimensions_merge_series() {
    let mut agg = Aggregator::new(config("exclude_dimensions: [status.code]\n"));
    let ok = span("x", span::SpanKind::Server, status::StatusCode::Ok, 1, vec![]);
    let err = span("x", span::SpanKind::Server, status::StatusCode::Error, 1, vec![]);
    agg.aggregate(&traces(service("a"), vec![ok, err]), T0).unwrap();
    let req = flush(&mut agg, T0 + 1);
    let points = sum_points(metric(&req, "traces.span.metrics.calls"));
    assert_eq!(points.len(), 1);
    assert!(attr(&points[0].attributes, "status.code").is_none());
    assert_eq!(calls_of(&req, "x"), 2);
}

#[test]
fn series_past_the_cardinality_limit_go_to_the_overflow_series() {
    let mut agg = Aggregator::new(config("aggregation_cardinality_limit: 3\n"));
    let spans = (0..10).map(|i| server(&format!("op{i}"), 1)).collect();
    agg.aggregate(&traces(service("a"), spans), T0).unwrap();
    agg.aggregate(&traces(service("a"), vec![server("op0", 1)]), T0).unwrap();
    assert_eq!(agg.series(), 4);
    let req = flush(&mut agg, T0 + 1);
    let points = sum_points(metric(&req, "traces.span.metrics.calls"));
    let overflow = points.iter().find(|p| attr(&p.attributes, OVERFLOW_ATTRIBUTE).as_deref() == Some("true")).unwrap();
    assert_eq!(overflow.attributes.len(), 1);
    assert_eq!(overflow.value, Some(number_data_point::Value::AsInt(7)));
    let total: i64 = points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(n)) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 11, "every span is counted somewhere");
}

#[test]
fn spans_of_a_resource_without_service_name_are_not_counted() {
    let mut agg = Aggregator::new(SpanMetricsConfig::default());
    let n = agg.aggregate(&traces(vec![string_attribute("host.name", "h")], vec![server("x", 1)]), T0).unwrap();
    assert_eq!(n, 0);
    assert!(agg.flush(T0).is_none());
}

#[test]
fn resources_are_told_apart_by_their_key_attributes() {
    let mut agg = Aggregator::new(config("resource_metrics_key_attributes: [service.name]\n"));
    let other_host = vec![string_attribute("service.name", "a"), string_attribute("host.name", "node-2")];
    agg.aggregate(&traces(service("a"), vec![server("x", 1)]), T0).unwrap();
    agg.aggregate(&traces(other_host, vec![server("x", 1)]), T0).unwrap();
    let req = flush(&mut agg, T0 + 1);
    assert_eq!(req.resource_metrics.len(), 1);
    assert_eq!(calls_of(&req, "x"), 2);
}

#[test]
fn exemplars_carry_the_spans_ids_and_are_cleared_after_a_flush() {
    let mut agg = Aggregator::new(config("exemplars:\n  enabled: true\n  max_per_data_point: 2\n"));
    agg.aggregate(&traces(service("a"), vec![server("x", 5), server("x", 6), server("x", 7)]), T0).unwrap();
    let req = flush(&mut agg, T0 + 1);
    let Some(metric::Data::Histogram(h)) = &metric(&req, "traces.span.metrics.duration").data else { unreachable!() };
    assert_eq!(h.data_points[0].exemplars.len(), 2);
    assert_eq!(h.data_points[0].exemplars[0].trace_id, vec![7; 16]);
    agg.aggregate(&traces(service("a"), vec![server("x", 5)]), T0 + 2).unwrap();
    let req = flush(&mut agg, T0 + 3);
    let Some(metric::Data::Histogram(h)) = &metric(&req, "traces.span.metrics.duration").data else { unreachable!() };
    assert_eq!(h.data_points[0].exemplars.len(), 1);
}

#[test]
fn exponential_histograms_and_seconds() {
    let mut agg = Aggregator::new(config("histogram:\n  unit: s\n  exponential:\n    max_size: 10\n"));
    agg.aggregate(&traces(service("a"), vec![server("x", 1), server("x", 2000), server("x", 0)]), T0).unwrap();
    let req = flush(&mut agg, T0 + 1);
    let m = metric(&req, "traces.span.metrics.duration");
    assert_eq!(m.unit, "s");
    let Some(metric::Data::ExponentialHistogram(h)) = &m.data else { panic!("exponential") };
    let p = &h.data_points[0];
    assert_eq!((p.count, p.zero_count), (3, 1));
    let positive = p.positive.as_ref().unwrap();
    assert!(positive.bucket_counts.len() <= 10);
    assert_eq!(positive.bucket_counts.iter().sum::<u64>(), 2);
    assert_eq!(p.max, Some(2.0));
}

#[test]
fn events_are_counted_with_their_dimensions() {
    let mut agg = Aggregator::new(config("events:\n  enabled: true\n  dimensions:\n    - name: exception.type\n"));
    let mut s = server("x", 1);
    let ev = |t: &str| opentelemetry_proto::tonic::trace::v1::span::Event {
        name: "exception".into(),
        attributes: vec![string_attribute("exception.type", t)],
        ..Default::default()
    };
    s.events = vec![ev("IOError"), ev("IOError"), ev("Timeout")];
    agg.aggregate(&traces(service("a"), vec![s]), T0).unwrap();
    let req = flush(&mut agg, T0 + 1);
    let events = sum_points(metric(&req, "traces.span.metrics.events"));
    let io = events.iter().find(|p| attr(&p.attributes, "exception.type").as_deref() == Some("IOError")).unwrap();
    assert_eq!(io.value, Some(number_data_point::Value::AsInt(2)));
    assert_eq!(attr(&io.attributes, "span.name").as_deref(), Some("x"));
    assert_eq!(events.len(), 2);
}

#[test]
fn the_namespace_prefixes_names_and_an_empty_one_removes_it() {
    let mut agg = Aggregator::new(config("namespace: ''\nhistogram:\n  disable: true\n"));
    agg.aggregate(&traces(service("a"), vec![server("x", 1)]), T0).unwrap();
    let req = flush(&mut agg, T0 + 1);
    let names: Vec<&str> = req.resource_metrics[0].scope_metrics[0].metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["calls"]);
}

#[test]
fn expired_resources_are_no_longer_emitted() {
    let mut agg = Aggregator::new(config("metrics_expiration: 1s\n"));
    agg.aggregate(&traces(service("a"), vec![server("x", 1)]), T0).unwrap();
    assert!(agg.flush(T0 + 10).is_some());
    assert!(agg.flush(T0 + 2_000 * MS).is_some(), "the flush that finds it expired still emits it");
    assert!(agg.flush(T0 + 3_000 * MS).is_none());
}

#[test]
fn defaults_follow_the_collector() {
    let c = SpanMetricsConfig::default();
    assert_eq!(c.namespace, "traces.span.metrics");
    assert_eq!(c.metrics_flush_interval, std::time::Duration::from_secs(60));
    assert_eq!(c.aggregation_temporality, CUMULATIVE);
    assert_eq!((c.dimensions_cache_size, c.resource_metrics_cache_size), (1000, 1000));
    assert_eq!(c.bounds(), DEFAULT_BUCKETS_MS);
    let c = config("histogram:\n  unit: s\n  explicit:\n    buckets: [100us, 1ms, 250ms, 1s]\n");
    assert_eq!(c.bounds(), [0.0001, 0.001, 0.25, 1.0]);
}

#[test]
fn invalid_settings_name_the_key() {
    let err = |yaml: &str| weir_core::testing::parse_config::<SpanMetricsConfig>(yaml).unwrap_err();
    assert!(err("dimensions:\n  - name: span.kind\n").contains("duplicate dimension name span.kind"));
    assert!(err("histogram:\n  explicit: {}\n  exponential: {}\n").contains("either `explicit` or `exponential`"));
    assert!(err("aggregation_temporality: DELTA\n").starts_with("aggregation_temporality must be"));
    assert!(err("metrics_flush_interval: 0s\n").starts_with("metrics_flush_interval"));
    assert!(err("events:\n  enabled: true\n").contains("no dimensions configured for events"));
    assert!(err("histogram:\n  explicit:\n    buckets: [2ms, 1ms]\n").contains("increasing"));
    assert!(err("calls_dimensions: []\n").contains("unknown field `calls_dimensions`"));
}

/// `in` (traces) → spanmetrics → `out` (metrics), through a real service.
#[tokio::test]
async fn spans_are_acknowledged_once_counted_and_metrics_flow_to_the_metrics_pipeline() {
    use weir_core::testing::{accept_all, ChannelSource, CollectingSink};
    let mut registry = weir_core::Registry::new();
    crate::register(&mut registry);
    let (source, mut consumers) = ChannelSource::new("test");
    let (sink, mut rx) = CollectingSink::new("sink", accept_all);
    registry.add_receiver(source);
    registry.add_exporter(sink);
    let yaml =
        "receivers: {test: }\nexporters: {sink: }\nconnectors:\n  spanmetrics:\n    metrics_flush_interval: 50ms\n\
                service:\n  pipelines:\n    traces: {receivers: [test], exporters: [spanmetrics]}\n\
                \x20   metrics: {receivers: [spanmetrics], exporters: [sink]}\n";
    let config = weir_core::config::load_str("spanmetrics.yaml", yaml, &registry, &|_| None).expect("valid");
    let running = weir_core::runtime::Service::start(&config, &registry, Default::default()).await.expect("starts");
    let consumer = consumers.recv().await.expect("started").traces.expect("traces routed");
    consumer.consume(traces(service("a"), vec![server("x", 1); 5]), "test", true).await.expect("acknowledged");
    let got = rx.recv().await.expect("metrics flushed");
    assert_eq!(calls_of(&got.decode_metrics().unwrap(), "x"), 5);
    drop(consumer);
    running.shutdown().await;
}
