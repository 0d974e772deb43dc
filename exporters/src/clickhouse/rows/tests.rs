use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, summary_data_point::ValueAtQuantile,
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

fn str_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource { attributes: vec![str_kv("service.name", "api")], ..Default::default() })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope { name: "lib".into(), version: "1".into(), ..Default::default() })
}

/// A `String` as RowBinary writes it (short strings: one length byte).
fn s(text: &str) -> Vec<u8> {
    let mut v = vec![text.len() as u8];
    v.extend_from_slice(text.as_bytes());
    v
}

#[test]
fn a_known_span_encodes_to_these_rowbinary_bytes() {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![Span {
                    trace_id: vec![0x11; 16],
                    span_id: vec![0x22; 8],
                    name: "GET /".into(),
                    kind: span::SpanKind::Server as i32,
                    start_time_unix_nano: 1_000,
                    end_time_unix_nano: 1_250,
                    attributes: vec![str_kv("b", "2"), str_kv("a", "1")],
                    status: Some(Status { code: status::StatusCode::Error as i32, message: "boom".into() }),
                    events: vec![span::Event { time_unix_nano: 1_100, name: "e".into(), ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let encoded = encode(Signal::Traces, &request).unwrap();
    assert_eq!(encoded.rows(), 1);
    let (table, rows) = &encoded.tables[0];
    assert_eq!(*table, Table::Traces);

    let mut want = Vec::new();
    want.extend_from_slice(&1_000i64.to_le_bytes()); // Timestamp
    want.extend(s(&"11".repeat(16))); // TraceId
    want.extend(s(&"22".repeat(8))); // SpanId
    want.extend(s("")); // ParentSpanId
    want.extend(s("")); // TraceState
    want.extend(s("GET /")); // SpanName
    want.extend(s("Server")); // SpanKind
    want.extend(s("api")); // ServiceName
    want.push(1); // ResourceAttributes: 1 entry
    want.extend(s("service.name"));
    want.extend(s("api"));
    want.extend(s("lib")); // ScopeName
    want.extend(s("1")); // ScopeVersion
    want.push(2); // SpanAttributes, keys sorted
    want.extend(s("a"));
    want.extend(s("1"));
    want.extend(s("b"));
    want.extend(s("2"));
    want.extend_from_slice(&250u64.to_le_bytes()); // Duration (ns)
    want.extend(s("Error")); // StatusCode
    want.extend(s("boom")); // StatusMessage
    want.push(1); // Events.Timestamp
    want.extend_from_slice(&1_100i64.to_le_bytes());
    want.push(1); // Events.Name
    want.extend(s("e"));
    want.extend([1, 0]); // Events.Attributes: one empty map
    want.extend([0, 0, 0, 0]); // Links.TraceId, .SpanId, .TraceState, .Attributes: empty
    assert_eq!(rows.body, want);
}

#[test]
fn a_log_takes_the_observed_time_when_it_has_no_time_and_stringifies_its_body() {
    let body = AnyValue { value: Some(any_value::Value::IntValue(42)) };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    observed_time_unix_nano: 7,
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: Some(body),
                    flags: 1,
                    event_name: "ev".into(),
                    ..Default::default()
                }],
                schema_url: "https://s".into(),
            }],
            schema_url: "https://r".into(),
        }],
    }
    .encode_to_vec();
    let encoded = encode(Signal::Logs, &request).unwrap();
    let mut want = Vec::new();
    want.extend_from_slice(&7i64.to_le_bytes());
    want.extend(s("")); // TraceId
    want.extend(s("")); // SpanId
    want.push(1); // TraceFlags
    want.extend(s("ERROR"));
    want.push(17);
    want.extend(s("api"));
    want.extend(s("42")); // Body
    want.extend(s("https://r"));
    want.push(1);
    want.extend(s("service.name"));
    want.extend(s("api"));
    want.extend(s("https://s"));
    want.extend(s("lib"));
    want.extend(s("1"));
    want.push(0); // ScopeAttributes
    want.push(0); // LogAttributes
    want.extend(s("ev"));
    assert_eq!(encoded.tables[0].1.body, want);
}

fn metrics_request(metrics: Vec<Metric>) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics { scope: scope(), metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// The bytes every metric row starts with, up to `MetricUnit` (attributes and times follow).
fn metric_prefix(name: &str) -> Vec<u8> {
    let mut want = vec![1];
    want.extend(s("service.name"));
    want.extend(s("api"));
    want.extend(s("")); // ResourceSchemaUrl
    want.extend(s("lib"));
    want.extend(s("1"));
    want.push(0); // ScopeAttributes
    want.extend_from_slice(&0u32.to_le_bytes()); // ScopeDroppedAttrCount
    want.extend(s("")); // ScopeSchemaUrl
    want.extend(s("api"));
    want.extend(s(name));
    want.extend(s("")); // MetricDescription
    want.extend(s("ms")); // MetricUnit
    want
}

#[test]
fn metric_points_go_to_their_types_table_with_exemplars_and_quantiles() {
    let gauge = Metric {
        name: "g".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: 5,
                value: Some(number_data_point::Value::AsInt(3)),
                exemplars: vec![Exemplar {
                    time_unix_nano: 4,
                    value: Some(opentelemetry_proto::tonic::metrics::v1::exemplar::Value::AsDouble(1.5)),
                    span_id: vec![0xab; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let summary = Metric {
        name: "s".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: 5,
                count: 2,
                sum: 3.0,
                quantile_values: vec![ValueAtQuantile { quantile: 0.99, value: 2.5 }],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let exp = Metric {
        name: "e".into(),
        unit: "ms".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            aggregation_temporality: 2,
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: 5,
                count: 3,
                scale: -1,
                positive: Some(Buckets { offset: -2, bucket_counts: vec![1, 2] }),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let encoded = encode(Signal::Metrics, &metrics_request(vec![gauge, summary, exp])).unwrap();
    let rows: Vec<(Table, usize)> = encoded.tables.iter().map(|(t, r)| (*t, r.rows)).collect();
    assert_eq!(
        rows,
        [
            (Table::Gauge, 1),
            (Table::Sum, 0),
            (Table::Histogram, 0),
            (Table::ExponentialHistogram, 1),
            (Table::Summary, 1)
        ]
    );

    let mut want = metric_prefix("g");
    want.push(0); // Attributes
    want.extend_from_slice(&0i64.to_le_bytes());
    want.extend_from_slice(&5i64.to_le_bytes());
    want.extend_from_slice(&3f64.to_le_bytes()); // Value (an int point, as Float64)
    want.extend_from_slice(&0u32.to_le_bytes()); // Flags
    want.extend([1, 0]); // Exemplars.FilteredAttributes
    want.push(1);
    want.extend_from_slice(&4i64.to_le_bytes());
    want.push(1);
    want.extend_from_slice(&1.5f64.to_le_bytes());
    want.push(1);
    want.extend(s(&"ab".repeat(8)));
    want.extend([1, 0]); // Exemplars.TraceId: ''
    assert_eq!(encoded.tables[0].1.body, want);

    let mut want = metric_prefix("s");
    want.push(0);
    want.extend_from_slice(&0i64.to_le_bytes());
    want.extend_from_slice(&5i64.to_le_bytes());
    want.extend_from_slice(&2u64.to_le_bytes());
    want.extend_from_slice(&3f64.to_le_bytes());
    want.push(1);
    want.extend_from_slice(&0.99f64.to_le_bytes());
    want.push(1);
    want.extend_from_slice(&2.5f64.to_le_bytes());
    want.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(encoded.tables[4].1.body, want);

    let mut want = metric_prefix("e");
    want.push(0);
    want.extend_from_slice(&0i64.to_le_bytes());
    want.extend_from_slice(&5i64.to_le_bytes());
    want.extend_from_slice(&3u64.to_le_bytes()); // Count
    want.extend_from_slice(&0f64.to_le_bytes()); // Sum
    want.extend_from_slice(&(-1i32).to_le_bytes()); // Scale
    want.extend_from_slice(&0u64.to_le_bytes()); // ZeroCount
    want.extend_from_slice(&(-2i32).to_le_bytes()); // PositiveOffset
    want.push(2);
    want.extend_from_slice(&1u64.to_le_bytes());
    want.extend_from_slice(&2u64.to_le_bytes());
    want.extend_from_slice(&0i32.to_le_bytes()); // NegativeOffset
    want.push(0);
    want.extend([0, 0, 0, 0, 0]); // no exemplars
    want.extend_from_slice(&0u32.to_le_bytes()); // Flags
    want.extend_from_slice(&0f64.to_le_bytes()); // Min
    want.extend_from_slice(&0f64.to_le_bytes()); // Max
    want.extend_from_slice(&2i32.to_le_bytes()); // AggregationTemporality
    assert_eq!(encoded.tables[3].1.body, want);
}

#[test]
fn malformed_requests_are_errors() {
    assert!(encode(Signal::Traces, &[0x0a, 0x05, 0x01]).is_err());
}

#[test]
fn kinds_and_status_codes_are_named_like_the_collectors_traceutil() {
    assert_eq!(SpanKind::from_i32(3).name(), "Client");
    assert_eq!(SpanKind::from_i32(0).name(), "Unspecified");
    assert_eq!(StatusCode::from_i32(1).name(), "Ok");
    assert_eq!(StatusCode::from_i32(0).name(), "Unset");
}
