//! `filter` with the Collector README's example config; expected drops follow its rules
//! (any condition drops, a metric without data points left goes, a span keeps when its
//! events go).

use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Summary,
    SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weir_core::Payload;
use weir_ottl::Outcome;

const README: &str = r#"
error_mode: ignore
traces:
  span:
    - 'attributes["container.name"] == "app_container_1"'
    - 'resource.attributes["host.name"] == "localhost"'
    - 'name == "app_3"'
  spanevent:
    - 'attributes["grpc"] == true'
    - 'IsMatch(name, ".*grpc.*")'
metrics:
  metric:
      - 'name == "my.metric" and resource.attributes["my_label"] == "abc123"'
      - 'type == METRIC_DATA_TYPE_HISTOGRAM'
  datapoint:
      - 'metric.type == METRIC_DATA_TYPE_SUMMARY'
      - 'resource.attributes["service.name"] == "my_service_name"'
logs:
  log_record:
    - 'IsMatch(body, ".*password.*")'
    - 'severity_number < SEVERITY_NUMBER_WARN'
"#;

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn skv(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource { attributes: attrs, ..Default::default() })
}

fn run(signal: Signal, p: &Payload) -> Option<Vec<u8>> {
    let c: FilterConfig = weir_core::testing::parse_config(README).expect("valid config");
    let proc = FilterFactory::processor("filter".into(), signal, &c).expect("builds");
    match proc.process(p).expect("runs") {
        Outcome::Unchanged => Some(p.bytes().to_vec()),
        Outcome::Rebuilt(r) => Some(r.bytes().to_vec()),
        Outcome::Empty => None,
    }
}

#[test]
fn readme_spans_and_span_events() {
    let event =
        |name: &str, attrs: Vec<KeyValue>| span::Event { name: name.into(), attributes: attrs, ..Default::default() };
    let spans = vec![
        Span { name: "keep".into(), attributes: vec![skv("container.name", "app_container_2")], ..Default::default() },
        Span { name: "c1".into(), attributes: vec![skv("container.name", "app_container_1")], ..Default::default() },
        Span { name: "app_3".into(), ..Default::default() },
        Span {
            name: "events".into(),
            events: vec![
                event("grpc.call", vec![]),
                event("flagged", vec![kv("grpc", any_value::Value::BoolValue(true))]),
                event("db.query", vec![]),
            ],
            ..Default::default()
        },
        Span { name: "all-events-dropped".into(), events: vec![event("grpc", vec![])], ..Default::default() },
    ];
    let req = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: resource(vec![skv("host.name", "web-1")]),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            },
            ResourceSpans {
                resource: resource(vec![skv("host.name", "localhost")]),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span { name: "local".into(), ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    };
    let p = Payload::new(Signal::Traces, req.encode_to_vec().into()).unwrap();
    let out = ExportTraceServiceRequest::decode(run(Signal::Traces, &p).unwrap().as_slice()).unwrap();
    // The localhost resource lost its only span and is gone.
    assert_eq!(out.resource_spans.len(), 1);
    let spans = &out.resource_spans[0].scope_spans[0].spans;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["keep", "events", "all-events-dropped"]);
    let events: Vec<&str> = spans[1].events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["db.query"]);
    assert!(spans[2].events.is_empty());
    assert_eq!(out.resource_spans[0].resource, resource(vec![skv("host.name", "web-1")]));
}

fn num(v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        value: Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

#[test]
fn readme_metrics_and_data_points() {
    let gauge = |name: &str| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: vec![num(1.0, vec![]), num(2.0, vec![])] })),
        ..Default::default()
    };
    let metrics = vec![
        gauge("my.metric"),
        gauge("other"),
        Metric {
            name: "latency".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint { count: 1, ..Default::default() }],
                ..Default::default()
            })),
            ..Default::default()
        },
        Metric {
            name: "quantiles".into(),
            data: Some(metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint { count: 1, ..Default::default() }],
            })),
            ..Default::default()
        },
    ];
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![
            ResourceMetrics {
                resource: resource(vec![skv("my_label", "abc123"), skv("service.name", "a")]),
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            },
            ResourceMetrics {
                resource: resource(vec![skv("service.name", "my_service_name")]),
                scope_metrics: vec![ScopeMetrics { metrics: vec![gauge("my.metric")], ..Default::default() }],
                ..Default::default()
            },
        ],
    };
    let p = Payload::new(Signal::Metrics, req.encode_to_vec().into()).unwrap();
    let out = ExportMetricsServiceRequest::decode(run(Signal::Metrics, &p).unwrap().as_slice()).unwrap();
    // my.metric with my_label=abc123 and the histogram match `metric`; the summary loses its
    // only data point and goes; the second resource's data points all match and it goes.
    assert_eq!(out.resource_metrics.len(), 1);
    let names: Vec<&str> = out.resource_metrics[0].scope_metrics[0].metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["other"]);
    assert_eq!(out.resource_metrics[0].scope_metrics[0].metrics[0], gauge("other"));
}

#[test]
fn readme_log_records() {
    let record = |body: &str, sev: i32| LogRecord {
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(body.into())) }),
        severity_number: sev,
        ..Default::default()
    };
    // SEVERITY_NUMBER_WARN is 13.
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(vec![]),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record("user password=x", 17),
                    record("debug line", 5),
                    record("warning", 13),
                    record("error", 17),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let p = Payload::new(Signal::Logs, req.encode_to_vec().into()).unwrap();
    let out = ExportLogsServiceRequest::decode(run(Signal::Logs, &p).unwrap().as_slice()).unwrap();
    let bodies: Vec<_> = out.resource_logs[0].scope_logs[0].log_records.iter().map(|r| r.severity_number).collect();
    assert_eq!(bodies, [13, 17]);
    assert_eq!(out.resource_logs[0].scope_logs[0].log_records[0], record("warning", 13));
}

#[test]
fn everything_dropped_and_nothing_dropped() {
    let req = |name: &str| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(vec![]),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: name.into(), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let all = Payload::new(Signal::Traces, req("app_3").encode_to_vec().into()).unwrap();
    assert!(run(Signal::Traces, &all).is_none());
    let none = Payload::new(Signal::Traces, req("other").encode_to_vec().into()).unwrap();
    let c: FilterConfig = weir_core::testing::parse_config(README).unwrap();
    let proc = FilterFactory::processor("f".into(), Signal::Traces, &c).unwrap();
    assert!(matches!(proc.process(&none).unwrap(), Outcome::Unchanged));
}

#[test]
fn legacy_form_is_refused_with_advice_and_default_error_mode_is_propagate() {
    let err = weir_core::testing::parse_config::<FilterConfig>(
        "metrics:\n  exclude:\n    match_type: strict\n    metric_names: [hello_world]\n",
    )
    .expect_err("refused");
    assert!(err.starts_with("metrics::exclude: the legacy include/exclude form"), "{err}");
    let err = weir_core::testing::parse_config::<FilterConfig>("spans:\n  include:\n    services: [app_3]\n")
        .expect_err("refused");
    assert!(err.contains("OTTL conditions"), "{err}");
    let c: FilterConfig = weir_core::testing::parse_config("traces:\n  span: ['name == \"x\"']\n").unwrap();
    assert_eq!(c.error_mode, weir_ottl::ErrorMode::Propagate);
    let err = weir_core::testing::parse_config::<FilterConfig>("traces:\n  span: ['name == ']\n").expect_err("refused");
    assert!(err.contains("traces::span[0]") && err.contains("line 2"), "{err}");
}

#[tokio::test]
async fn in_a_pipeline_with_transform_dropped_requests_are_acknowledged() {
    let mut registry = weir_core::Registry::new();
    crate::register(&mut registry);
    let mut pipeline = weir_core::testing::TestPipeline::start(
        registry,
        Signal::Traces,
        r#"{transform: {trace_statements: ['set(span.attributes["seen"], true)']}, filter: {traces: {span: ['name == "drop"']}}}"#,
        "transform, filter",
        weir_core::testing::accept_all,
    )
    .await;
    let req = |name: &str| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(vec![]),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: name.into(), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let dropped = pipeline.send_and_wait(Payload::new(Signal::Traces, req("drop").encode_to_vec().into()).unwrap());
    assert!(dropped.await.unwrap().is_ok());
    let kept = pipeline.send_and_wait(Payload::new(Signal::Traces, req("keep").encode_to_vec().into()).unwrap());
    let out = ExportTraceServiceRequest::decode(pipeline.next_export().await.bytes().as_ref()).unwrap();
    assert!(kept.await.unwrap().is_ok());
    let span = &out.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "keep");
    assert_eq!(span.attributes, vec![kv("seen", any_value::Value::BoolValue(true))]);
    assert!(pipeline.shutdown().await.is_empty());
}
