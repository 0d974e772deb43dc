use super::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use std::collections::BTreeMap;
use weir_core::testing::parse_config;

/// Upstream's golden files (`connector/countconnector/testdata/{traces,metrics,logs}`),
/// converted from YAML to OTLP/JSON unchanged.
fn golden(signal: &str, name: &str) -> Vec<u8> {
    let path = format!("{}/src/count/testdata/{signal}/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn input(signal: Signal) -> Payload {
    weir_core::pdata::json::decode(signal, &golden(signal.as_str(), "input")).expect("upstream's input decodes")
}

fn attrs(kvs: &[KeyValue]) -> Vec<String> {
    let mut v: Vec<String> = kvs.iter().map(|kv| format!("{}={:?}", kv.key, kv.value)).collect();
    v.sort();
    v
}

/// One metric as the comparison sees it: description, temporality, monotonic, and the
/// points (attributes, value) sorted — upstream's test ignores timestamps and the order of
/// resources, metrics and points.
type MetricShape = (String, i32, bool, Vec<(Vec<String>, i64)>);
type Shape = Vec<(Vec<String>, String, BTreeMap<String, MetricShape>)>;

fn shape(r: &ExportMetricsServiceRequest) -> Shape {
    let mut out: Shape = r
        .resource_metrics
        .iter()
        .flat_map(|rm| {
            let resource = attrs(&rm.resource.as_ref().map(|r| r.attributes.clone()).unwrap_or_default());
            rm.scope_metrics.iter().map(move |sm| {
                let scope = sm.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                let metrics = sm
                    .metrics
                    .iter()
                    .map(|m| {
                        let Some(metric::Data::Sum(s)) = &m.data else { panic!("{}: a sum", m.name) };
                        let mut points: Vec<(Vec<String>, i64)> = s
                            .data_points
                            .iter()
                            .map(|p| {
                                let Some(number_data_point::Value::AsInt(v)) = p.value else { panic!("an int") };
                                (attrs(&p.attributes), v)
                            })
                            .collect();
                        points.sort();
                        (m.name.clone(), (m.description.clone(), s.aggregation_temporality, s.is_monotonic, points))
                    })
                    .collect();
                (resource.clone(), scope, metrics)
            })
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn check(signal: Signal, name: &str, config: &str) {
    let config: CountConfig = parse_config(config).unwrap_or_else(|e| panic!("{name}: {e}"));
    let counter = Counter::new(&config, signal).unwrap();
    let (out, _) = counter.count(&input(signal), 1_678_392_127_920_605_000).unwrap();
    let actual = out.expect("counts").decode_metrics().unwrap();
    let points = actual.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics);
    for m in points {
        let Some(metric::Data::Sum(s)) = &m.data else { panic!("{}: a sum", m.name) };
        assert!(s.data_points.iter().all(|p| p.time_unix_nano == 1_678_392_127_920_605_000), "stamped");
    }
    let expected = weir_core::pdata::json::decode(Signal::Metrics, &golden(signal.as_str(), name))
        .expect("upstream's expected output decodes")
        .decode_metrics()
        .unwrap();
    assert_eq!(shape(&actual), shape(&expected), "{signal}/{name}");
}

const IF_RESOURCE: &str = "conditions: ['resource.attributes[\"resource.optional\"] != nil']";

#[test]
fn traces_match_upstreams_goldens() {
    let t = Signal::Traces;
    check(t, "zero_conditions", "{}");
    check(
        t,
        "one_condition",
        &format!(
            "spans: {{span.count.if: {{description: 'Span count if ...', {IF_RESOURCE}}}}}\n\
             spanevents: {{spanevent.count.if: {{description: 'Span event count if ...', {IF_RESOURCE}}}}}"
        ),
    );
    let multi = |item: &str| {
        format!("conditions: ['resource.attributes[\"resource.optional\"] != nil', 'attributes[\"{item}.optional\"] != nil']")
    };
    check(
        t,
        "multiple_conditions",
        &format!(
            "spans: {{span.count.if: {{description: 'Span count if ...', {}}}}}\n\
             spanevents: {{spanevent.count.if: {{description: 'Span event count if ...', {}}}}}",
            multi("span"),
            multi("event")
        ),
    );
    check(
        t,
        "multiple_metrics",
        &format!(
            "spans: {{span.count.all: {{description: 'All spans count'}}, span.count.if: {{description: 'Span count if ...', {}}}}}\n\
             spanevents: {{spanevent.count.all: {{description: 'All span events count'}}, spanevent.count.if: {{description: 'Span event count if ...', {}}}}}",
            multi("span"),
            multi("event")
        ),
    );
    check(
        t,
        "one_attribute",
        "spans: {span.count.by_attr: {description: 'Span count by attribute', attributes: [{key: span.required}]}}\n\
         spanevents: {spanevent.count.by_attr: {description: 'Span event count by attribute', attributes: [{key: event.required}]}}",
    );
    check(
        t,
        "multiple_attributes",
        "spans: {span.count.by_attr: {description: 'Span count by attributes', attributes: [{key: span.required}, {key: span.optional}]}}\n\
         spanevents: {spanevent.count.by_attr: {description: 'Span event count by attributes', attributes: [{key: event.required}, {key: event.optional}]}}",
    );
    check(
        t,
        "default_attribute_value",
        "spans: {span.count.by_attr: {description: 'Span count by attribute with default', attributes: [{key: span.required}, {key: span.optional, default_value: other}]}}\n\
         spanevents: {spanevent.count.by_attr: {description: 'Span event count by attribute with default', attributes: [{key: event.required}, {key: event.optional, default_value: other}]}}",
    );
    check(
        t,
        "condition_and_attribute",
        &format!(
            "spans: {{span.count.if.by_attr: {{description: 'Span count if ...', {IF_RESOURCE}, attributes: [{{key: span.required}}]}}}}\n\
             spanevents: {{spanevent.count.if.by_attr: {{description: 'Span event count by attribute if ...', {IF_RESOURCE}, attributes: [{{key: event.required}}]}}}}"
        ),
    );
}

#[test]
fn metrics_match_upstreams_goldens() {
    let m = Signal::Metrics;
    check(m, "zero_conditions", "{}");
    check(
        m,
        "one_condition",
        &format!(
            "metrics: {{metric.count.if: {{description: 'Metric count if ...', {IF_RESOURCE}}}}}\n\
             datapoints: {{datapoint.count.if: {{description: 'Data point count if ...', {IF_RESOURCE}}}}}"
        ),
    );
    let metric_if =
        "conditions: ['resource.attributes[\"resource.optional\"] != nil', 'type == METRIC_DATA_TYPE_HISTOGRAM']";
    let point_if =
        "conditions: ['resource.attributes[\"resource.optional\"] != nil', 'attributes[\"datapoint.optional\"] != nil']";
    check(
        m,
        "multiple_conditions",
        &format!(
            "metrics: {{metric.count.if: {{description: 'Metric count if ...', {metric_if}}}}}\n\
             datapoints: {{datapoint.count.if: {{description: 'Data point count if ...', {point_if}}}}}"
        ),
    );
    check(
        m,
        "multiple_metrics",
        &format!(
            "metrics: {{metric.count.all: {{description: 'All metrics count'}}, metric.count.if: {{description: 'Metric count if ...', {metric_if}}}}}\n\
             datapoints: {{datapoint.count.all: {{description: 'All data points count'}}, datapoint.count.if: {{description: 'Data point count if ...', {point_if}}}}}"
        ),
    );
    let points = |body: &str| format!("metrics: {{}}\ndatapoints: {{datapoint.count.by_attr: {{{body}}}}}");
    check(
        m,
        "one_attribute",
        &points("description: 'Data point count by attribute', attributes: [{key: datapoint.required}]"),
    );
    check(
        m,
        "multiple_attributes",
        &points("description: 'Data point count by attributes', attributes: [{key: datapoint.required}, {key: datapoint.optional}]"),
    );
    check(
        m,
        "default_attribute_value",
        &points("description: 'Data point count by attribute with default', attributes: [{key: datapoint.required}, {key: datapoint.optional, default_value: other}]"),
    );
    check(
        m,
        "condition_and_attribute",
        &format!("metrics: {{}}\ndatapoints: {{datapoint.count.if.by_attr: {{description: 'Data point count by attribute if ...', {IF_RESOURCE}, attributes: [{{key: datapoint.required}}]}}}}"),
    );
    check(
        m,
        "int_attribute_value",
        &points("description: 'Data point count by int attribute', attributes: [{key: datapoint.int}]"),
    );
    check(
        m,
        "default_int_attribute_value",
        &points("description: 'Data point count by default int attribute', attributes: [{key: datapoint.int}, {key: datapoint.optional_int, default_value: 10}]"),
    );
}

#[test]
fn logs_match_upstreams_goldens() {
    let l = Signal::Logs;
    check(l, "zero_conditions", "{}");
    check(l, "one_condition", &format!("logs: {{count.if: {{description: 'Count if ...', {IF_RESOURCE}}}}}"));
    let log_if =
        "conditions: ['resource.attributes[\"resource.optional\"] != nil', 'attributes[\"log.optional\"] != nil']";
    check(l, "multiple_conditions", &format!("logs: {{count.if: {{description: 'Count if ...', {log_if}}}}}"));
    check(
        l,
        "multiple_metrics",
        &format!("logs: {{count.all: {{description: 'All logs count'}}, count.if: {{description: 'Count if ...', {IF_RESOURCE}}}}}"),
    );
    check(
        l,
        "one_attribute",
        "logs: {log.count.by_attr: {description: 'Log count by attribute', attributes: [{key: log.required}]}}",
    );
    check(
        l,
        "multiple_attributes",
        "logs: {log.count.by_attr: {description: 'Log count by attributes', attributes: [{key: log.required}, {key: log.optional}]}}",
    );
    check(
        l,
        "default_attribute_value",
        "logs: {log.count.by_attr: {description: 'Log count by attribute with default', attributes: [{key: log.required}, {key: log.optional, default_value: other}]}}",
    );
    check(
        l,
        "condition_and_attribute",
        &format!("logs: {{log.count.if.by_attr: {{description: 'Log count by attribute if ...', {IF_RESOURCE}, attributes: [{{key: log.required}}]}}}}"),
    );
}

fn refused(yaml: &str) -> String {
    parse_config::<CountConfig>(yaml).err().unwrap_or_else(|| panic!("refused: {yaml}"))
}

#[test]
fn invalid_configs_are_refused_with_upstreams_reasons() {
    let e = refused("spans: {my.count: {conditions: ['nope(']}}");
    assert!(e.contains("spans condition: metric \"my.count\""), "{e}");
    let e = refused("metrics: {my.count: {attributes: [{key: env}]}}");
    assert!(e.contains("metrics attributes not supported: metric \"my.count\""), "{e}");
    let e = refused("logs: {my.count: {attributes: [{default_value: x}]}}");
    assert!(e.contains("attribute key missing"), "{e}");
    let e = refused("logs: {'': {}}");
    assert!(e.contains("logs: metric name missing"), "{e}");
    assert!(refused("spans: {x: {desc: y}}").contains("desc"));
}

#[test]
fn a_section_written_replaces_its_default_even_empty() {
    let c: CountConfig = parse_config("spans: {}\nlogs:\n").unwrap();
    assert!(c.compile(Section::Spans).unwrap().is_empty());
    assert!(c.compile(Section::Logs).unwrap().is_empty());
    let d = c.compile(Section::SpanEvents).unwrap();
    assert_eq!(d[0].name, "trace.span.event.count");
    assert_eq!(d[0].description, "The number of span events observed.");
}

#[test]
fn nothing_to_count_emits_nothing() {
    let c: CountConfig = parse_config("logs: {x: {conditions: ['severity_number > 100']}}").unwrap();
    let counter = Counter::new(&c, Signal::Logs).unwrap();
    let (out, read) = counter.count(&weir_core::testing::log_records(3), 1).unwrap();
    assert!(out.is_none());
    assert_eq!(read, 3);
}

#[test]
fn a_failing_condition_fails_the_request() {
    let c: CountConfig = parse_config("logs: {x: {conditions: ['attributes[\"a\"] + 1 == 2', 'true']}}").unwrap();
    let counter = Counter::new(&c, Signal::Logs).unwrap();
    let mut p = weir_core::testing::log_records(1);
    // A record with a string attribute `a`: string + int fails.
    let mut r = p.decode_logs().unwrap();
    r.resource_logs[0].scope_logs[0].log_records[0].attributes.push(weir_core::testing::string_attribute("a", "x"));
    p = Payload::new(Signal::Logs, prost::Message::encode_to_vec(&r).into()).unwrap();
    assert!(matches!(counter.count(&p, 1), Err(CountError::Condition(_))));
}

fn refuse(_: &Payload) -> Result<(), Failure> {
    Err(Failure::permanent("the metrics backend refused it"))
}

/// `traces/in` → count → `metrics/out` (a sink answering `verdict`).
async fn run_counted(verdict: weir_core::testing::Verdict) -> (Result<(), Failure>, Vec<Payload>) {
    let mut registry = weir_core::Registry::new();
    crate::register(&mut registry);
    let (source, mut consumers) = weir_core::testing::ChannelSource::new("test");
    let (sink, mut rx) = weir_core::testing::CollectingSink::new("sink", verdict);
    registry.add_receiver(source);
    registry.add_exporter(sink);
    let yaml = "receivers: {test: }\nexporters: {sink: }\nconnectors: {count: }\nservice:\n  pipelines:\n\
                \x20   traces/in: {receivers: [test], exporters: [count]}\n\
                \x20   metrics/out: {receivers: [count], exporters: [sink]}\n";
    let config = weir_core::config::load_str("count.yaml", yaml, &registry, &|_| None).expect("valid");
    let service = weir_core::runtime::Service::start(&config, &registry, Default::default()).await.expect("starts");
    let consumer = consumers.recv().await.expect("started").traces.expect("traces");
    let result = consumer.consume(weir_core::testing::spans("x", 3), "test", true).await;
    let mut got = Vec::new();
    while let Ok(p) = rx.try_recv() {
        got.push(p);
    }
    drop(consumer);
    service.shutdown().await;
    (result, got)
}

#[tokio::test]
async fn a_request_is_delivered_once_its_counts_are() {
    let (result, got) = run_counted(weir_core::testing::accept_all).await;
    assert!(result.is_ok());
    assert_eq!(got.len(), 1);
    let m = got[0].decode_metrics().unwrap();
    let metric = &m.resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!(metric.name, "trace.span.count");
    let Some(metric::Data::Sum(s)) = &metric.data else { panic!("a sum") };
    assert_eq!(s.data_points[0].value, Some(number_data_point::Value::AsInt(3)));
    let (result, _) = run_counted(refuse).await;
    assert_eq!(
        result.unwrap_err().message,
        "the metrics backend refused it",
        "the metrics pipeline's failure reaches the client"
    );
}
