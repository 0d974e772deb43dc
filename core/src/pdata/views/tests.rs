//! Every view against a prost message with every field set to a distinct value, and every
//! accessor against malformed input. (`pdata/tests.rs` compares the views with prost on random
//! requests.)

use super::*;
use crate::pdata::edit;
use crate::pdata::wire::write_varint;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue as PAny, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};
use prost::Message;
use std::time::Duration;

fn kv(key: &str, value: V) -> KeyValue {
    KeyValue { key: key.into(), value: Some(PAny { value: Some(value) }), ..Default::default() }
}

fn keys(a: Attributes<'_>) -> Vec<String> {
    a.iter().map(|kv| kv.unwrap().0.to_string()).collect()
}

fn exemplar(n: u8) -> Exemplar {
    Exemplar {
        filtered_attributes: vec![kv("user", V::StringValue(format!("u{n}")))],
        time_unix_nano: 1_000 + u64::from(n),
        span_id: vec![n; 8],
        trace_id: vec![n; 16],
        value: Some(if n.is_multiple_of(2) {
            exemplar::Value::AsInt(-i64::from(n))
        } else {
            exemplar::Value::AsDouble(0.5)
        }),
    }
}

fn check_exemplar(v: ExemplarView<'_>, n: u8) {
    assert_eq!(keys(v.filtered_attributes()), ["user"]);
    assert_eq!(v.filtered_attributes().get("user").unwrap().unwrap().as_str(), Some(format!("u{n}").as_str()));
    assert_eq!(v.time_unix_nano().unwrap(), 1_000 + u64::from(n));
    assert_eq!(v.span_id().unwrap(), [n; 8]);
    assert_eq!(v.trace_id().unwrap(), [n; 16]);
    let want = if n.is_multiple_of(2) { NumberValue::Int(-i64::from(n)) } else { NumberValue::Double(0.5) };
    assert_eq!(v.value().unwrap(), Some(want));
}

// ---------------------------------------------------------------------------------------------
// Every field, read back
// ---------------------------------------------------------------------------------------------

#[test]
fn span_reads_every_field_events_links_and_status() {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        trace_state: "ot=th:8,vendor=x".into(),
        parent_span_id: vec![3; 8],
        flags: 0x301,
        name: "GET /cart".into(),
        kind: span::SpanKind::Consumer as i32,
        start_time_unix_nano: 10,
        end_time_unix_nano: 20,
        attributes: vec![kv("a", V::IntValue(1)), kv("b", V::BoolValue(true))],
        dropped_attributes_count: 4,
        events: vec![
            span::Event {
                time_unix_nano: 11,
                name: "exception".into(),
                attributes: vec![kv("exception.type", V::StringValue("Timeout".into()))],
                dropped_attributes_count: 5,
            },
            span::Event { time_unix_nano: 12, name: "retry".into(), ..Default::default() },
        ],
        dropped_events_count: 6,
        links: vec![span::Link {
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            trace_state: "k=v".into(),
            attributes: vec![kv("link.kind", V::StringValue("follows".into()))],
            dropped_attributes_count: 9,
            flags: 0x101,
        }],
        dropped_links_count: 13,
        status: Some(Status { message: "deadline".into(), code: 2 }),
    };
    let bytes = span.encode_to_vec();
    let v = SpanView::new(&bytes);
    assert_eq!(v.trace_id().unwrap(), [1; 16]);
    assert_eq!(v.span_id().unwrap(), [2; 8]);
    assert_eq!(v.trace_state().unwrap(), "ot=th:8,vendor=x");
    assert_eq!(v.parent_span_id().unwrap(), [3; 8]);
    assert_eq!(v.flags().unwrap(), 0x301);
    assert_eq!(v.name().unwrap(), "GET /cart");
    assert_eq!(v.kind().unwrap(), SpanKind::Consumer);
    assert_eq!((v.start_time_unix_nano().unwrap(), v.end_time_unix_nano().unwrap()), (10, 20));
    assert_eq!(keys(v.attributes()), ["a", "b"]);
    assert_eq!(v.dropped_attributes_count().unwrap(), 4);
    assert_eq!(v.dropped_events_count().unwrap(), 6);
    assert_eq!(v.dropped_links_count().unwrap(), 13);
    let status = v.status().unwrap();
    assert_eq!((status.code().unwrap(), status.message().unwrap()), (2, "deadline"));
    assert_eq!(StatusCode::from_i32(status.code().unwrap()), StatusCode::Error);
    assert_eq!(v.status_code().unwrap(), StatusCode::Error);

    let events: Vec<_> = v.events().map(Result::unwrap).collect();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].time_unix_nano().unwrap(), events[0].name().unwrap()), (11, "exception"));
    assert_eq!(keys(events[0].attributes()), ["exception.type"]);
    assert_eq!(events[0].dropped_attributes_count().unwrap(), 5);
    assert_eq!((events[1].time_unix_nano().unwrap(), events[1].name_bytes().unwrap()), (12, &b"retry"[..]));
    let links: Vec<_> = v.links().map(Result::unwrap).collect();
    assert_eq!(links.len(), 1);
    let l = links[0];
    assert_eq!((l.trace_id().unwrap(), l.span_id().unwrap()), (&[7; 16][..], &[8; 8][..]));
    assert_eq!(l.trace_state().unwrap(), "k=v");
    assert_eq!(keys(l.attributes()), ["link.kind"]);
    assert_eq!((l.dropped_attributes_count().unwrap(), l.flags().unwrap()), (9, 0x101));

    // The one-pass reader agrees, and its attribute range holds exactly the attributes.
    let f = v.fields().unwrap();
    assert_eq!((f.name, f.kind, f.flags, f.status_code, f.status_message), ("GET /cart", 5, 0x301, 2, "deadline"));
    assert_eq!(keys(f.attributes), ["a", "b"]);
    assert_eq!(f.attributes.get("b").unwrap().unwrap().as_bool(), Some(true));
    assert!(f.attributes.get("exception.type").unwrap().is_none(), "event attributes are not the span's");
}

#[test]
fn a_span_without_status_reads_unset() {
    let bytes = Span { name: "x".into(), ..Default::default() }.encode_to_vec();
    let status = SpanView::new(&bytes).status().unwrap();
    assert_eq!((status.code().unwrap(), status.message().unwrap()), (0, ""));
    assert!(SpanView::new(&bytes).fields().unwrap().attributes.iter().next().is_none());
}

#[test]
fn log_record_reads_every_field() {
    let record = LogRecord {
        time_unix_nano: 1,
        observed_time_unix_nano: 2,
        severity_number: 10,
        severity_text: "INFO2".into(),
        body: Some(PAny { value: Some(V::StringValue("order placed".into())) }),
        attributes: vec![kv("order.id", V::IntValue(42))],
        dropped_attributes_count: 3,
        flags: 1,
        trace_id: vec![4; 16],
        span_id: vec![5; 8],
        event_name: "order.placed".into(),
    };
    let bytes = record.encode_to_vec();
    let v = LogRecordView::new(&bytes);
    assert_eq!((v.time_unix_nano().unwrap(), v.observed_time_unix_nano().unwrap()), (1, 2));
    assert_eq!(v.severity_number().unwrap(), 10);
    assert_eq!(SeverityNumber(v.severity_number().unwrap()).name(), "Info2");
    assert_eq!(v.severity_text().unwrap(), "INFO2");
    assert_eq!(v.body().unwrap().unwrap().as_str(), Some("order placed"));
    assert_eq!(v.attributes().get("order.id").unwrap().unwrap().as_i64(), Some(42));
    assert_eq!(v.dropped_attributes_count().unwrap(), 3);
    assert_eq!(v.flags().unwrap(), 1);
    assert_eq!((v.trace_id().unwrap(), v.span_id().unwrap()), (&[4; 16][..], &[5; 8][..]));
    assert_eq!(v.event_name().unwrap(), "order.placed");
    let f = v.fields().unwrap();
    assert_eq!(keys(f.attributes), ["order.id"]);
    assert_eq!((f.severity_number, f.event_name), (10, "order.placed"));

    let empty = LogRecord::default().encode_to_vec();
    assert!(LogRecordView::new(&empty).body().unwrap().is_none());
}

#[test]
fn resource_and_scope_read_every_field() {
    let resource = Resource {
        attributes: vec![kv("service.name", V::StringValue("checkout".into()))],
        dropped_attributes_count: 2,
        entity_refs: vec![EntityRef {
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into(), "service.namespace".into()],
            description_keys: vec!["service.version".into()],
        }],
    };
    let bytes = resource.encode_to_vec();
    let r = ResourceView::new(&bytes);
    assert_eq!(r.service_name().unwrap(), Some("checkout"));
    assert_eq!(r.dropped_attributes_count().unwrap(), 2);
    let e = r.entity_refs().next().unwrap().unwrap();
    assert_eq!(e.schema_url().unwrap(), "https://opentelemetry.io/schemas/1.30.0");
    assert_eq!(e.entity_type().unwrap(), "service");
    assert_eq!(e.id_keys().collect::<Result<Vec<_>, _>>().unwrap(), ["service.name", "service.namespace"]);
    assert_eq!(e.description_keys().collect::<Result<Vec<_>, _>>().unwrap(), ["service.version"]);

    let scope = InstrumentationScope {
        name: "otelhttp".into(),
        version: "0.53.0".into(),
        attributes: vec![kv("k", V::DoubleValue(1.5))],
        dropped_attributes_count: 7,
    };
    let bytes = scope.encode_to_vec();
    let s = ScopeView::new(&bytes);
    assert_eq!((s.name().unwrap(), s.version().unwrap()), ("otelhttp", "0.53.0"));
    assert_eq!((s.name_bytes().unwrap(), s.version_bytes().unwrap()), (&b"otelhttp"[..], &b"0.53.0"[..]));
    assert_eq!(s.attributes().get("k").unwrap().unwrap().as_f64(), Some(1.5));
    assert_eq!(s.dropped_attributes_count().unwrap(), 7);
}

#[test]
fn nested_values_are_iterated_as_views() {
    let inner = KeyValueList { values: vec![kv("x", V::IntValue(1)), kv("y", V::BytesValue(vec![9]))] };
    let array = ArrayValue {
        values: vec![
            PAny { value: Some(V::StringValue("a".into())) },
            PAny { value: Some(V::KvlistValue(inner)) },
            PAny { value: None },
        ],
    };
    let bytes = PAny { value: Some(V::ArrayValue(array)) }.encode_to_vec();
    let value = AnyValueView::new(&bytes);
    let array = value.as_array().unwrap();
    assert_eq!(array.len().unwrap(), 3);
    let items: Vec<_> = array.values().map(Result::unwrap).collect();
    assert_eq!(items[0].as_str(), Some("a"));
    let map = items[1].as_kvlist().unwrap();
    assert_eq!(keys(map), ["x", "y"]);
    assert_eq!(map.get("y").unwrap().unwrap().as_bytes(), Some(&[9][..]));
    assert_eq!(items[2].get().unwrap(), AnyValue::Empty);
    assert_eq!(value.get().unwrap().array().map(|a| a.bytes()), Some(array.bytes()));
    assert!(value.as_kvlist().is_none() && items[0].as_array().is_none());
}

fn metric_bytes(name: &str, data: metric::Data) -> Vec<u8> {
    Metric {
        name: name.into(),
        description: "d".into(),
        unit: "ms".into(),
        metadata: vec![kv("meta", V::StringValue("m".into()))],
        data: Some(data),
    }
    .encode_to_vec()
}

#[test]
fn gauge_and_sum_read_every_field() {
    let point = |n: u8, value| NumberDataPoint {
        attributes: vec![kv("cpu", V::IntValue(i64::from(n)))],
        start_time_unix_nano: 100 + u64::from(n),
        time_unix_nano: 200 + u64::from(n),
        exemplars: vec![exemplar(n), exemplar(n + 1)],
        flags: u32::from(n),
        value: Some(value),
    };
    let gauge = Gauge { data_points: vec![point(1, number_data_point::Value::AsDouble(0.25))] };
    let bytes = metric_bytes("load", metric::Data::Gauge(gauge));
    let m = MetricView::new(&bytes);
    assert_eq!((m.name().unwrap(), m.description().unwrap(), m.unit().unwrap()), ("load", "d", "ms"));
    assert_eq!(keys(m.metadata()), ["meta"]);
    assert_eq!(m.kind().unwrap(), MetricKind::Gauge);
    let MetricData::Gauge(g) = m.typed_data().unwrap() else { panic!("a gauge") };
    let p = g.data_points().next().unwrap().unwrap();
    assert_eq!(
        p.fields().unwrap(),
        NumberDataPointFields {
            start_time_unix_nano: 101,
            time_unix_nano: 201,
            value: Some(NumberValue::Double(0.25)),
            flags: 1
        }
    );
    assert_eq!(p.attributes().get("cpu").unwrap().unwrap().as_i64(), Some(1));
    assert_eq!((p.start_time_unix_nano().unwrap(), p.time_unix_nano().unwrap(), p.flags().unwrap()), (101, 201, 1));
    assert_eq!(p.value().unwrap(), Some(NumberValue::Double(0.25)));
    let exemplars: Vec<_> = p.exemplars().map(Result::unwrap).collect();
    check_exemplar(exemplars[0], 1);
    check_exemplar(exemplars[1], 2);

    let sum = Sum {
        data_points: vec![point(3, number_data_point::Value::AsInt(-7))],
        aggregation_temporality: 1,
        is_monotonic: true,
    };
    let bytes = metric_bytes("requests", metric::Data::Sum(sum));
    let data = MetricView::new(&bytes).typed_data().unwrap();
    let MetricData::Sum(s) = data else { panic!("a sum") };
    assert_eq!((s.aggregation_temporality().unwrap(), s.is_monotonic().unwrap()), (1, true));
    assert_eq!(AggregationTemporality::from_i32(s.aggregation_temporality().unwrap()), AggregationTemporality::Delta);
    assert_eq!((data.aggregation_temporality().unwrap(), data.is_monotonic().unwrap()), (Some(1), Some(true)));
    let p = s.data_points().next().unwrap().unwrap();
    assert_eq!(p.value().unwrap(), Some(NumberValue::Int(-7)));
    assert_eq!(NumberValue::Int(-7).as_f64(), -7.0);
    let any: Vec<_> = data.data_points().map(Result::unwrap).collect();
    assert!(matches!(any[..], [DataPointView::Number(_)]));
    assert_eq!(any[0].exemplars().count(), 2);
}

#[test]
fn histogram_reads_every_field() {
    let point = HistogramDataPoint {
        attributes: vec![kv("route", V::StringValue("/cart".into()))],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 6,
        sum: Some(42.5),
        bucket_counts: vec![1, 2, 3],
        explicit_bounds: vec![10.0, 100.0],
        exemplars: vec![exemplar(4)],
        flags: 1,
        min: Some(0.5),
        max: Some(250.0),
    };
    let bytes = metric_bytes(
        "latency",
        metric::Data::Histogram(Histogram {
            data_points: vec![point, HistogramDataPoint::default()],
            aggregation_temporality: 2,
        }),
    );
    let data = MetricView::new(&bytes).typed_data().unwrap();
    let MetricData::Histogram(h) = data else { panic!("a histogram") };
    assert_eq!(h.aggregation_temporality().unwrap(), 2);
    let points: Vec<_> = h.data_points().map(Result::unwrap).collect();
    let p = points[0];
    assert_eq!(
        p.fields().unwrap(),
        HistogramDataPointFields {
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            count: 6,
            sum: Some(42.5),
            flags: 1,
            min: Some(0.5),
            max: Some(250.0)
        }
    );
    assert_eq!(keys(p.attributes()), ["route"]);
    assert_eq!(
        (p.count().unwrap(), p.sum().unwrap(), p.min().unwrap(), p.max().unwrap()),
        (6, Some(42.5), Some(0.5), Some(250.0))
    );
    assert_eq!(p.bucket_counts().collect::<Result<Vec<_>, _>>().unwrap(), [1, 2, 3]);
    assert_eq!(p.explicit_bounds().collect::<Result<Vec<_>, _>>().unwrap(), [10.0, 100.0]);
    assert_eq!(p.flags().unwrap(), 1);
    check_exemplar(p.exemplars().next().unwrap().unwrap(), 4);
    // Optional fields that are absent read as None; absent repeated fields are empty.
    let empty = points[1];
    assert_eq!((empty.sum().unwrap(), empty.min().unwrap(), empty.max().unwrap()), (None, None, None));
    assert_eq!(empty.bucket_counts().checked_len().unwrap(), 0);
    assert_eq!(data.data_points().count(), 2);
}

#[test]
fn exponential_histogram_reads_every_field() {
    let point = ExponentialHistogramDataPoint {
        attributes: vec![kv("k", V::StringValue("v".into()))],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 10,
        sum: Some(3.5),
        scale: -3,
        zero_count: 4,
        positive: Some(Buckets { offset: -2, bucket_counts: vec![1, 300, 0] }),
        negative: Some(Buckets { offset: 5, bucket_counts: vec![2] }),
        flags: 1,
        exemplars: vec![exemplar(6)],
        min: Some(-1.0),
        max: Some(9.0),
        zero_threshold: 1e-9,
    };
    let bytes = metric_bytes(
        "size",
        metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![point],
            aggregation_temporality: 1,
        }),
    );
    let MetricData::ExponentialHistogram(e) = MetricView::new(&bytes).typed_data().unwrap() else { panic!() };
    assert_eq!(e.aggregation_temporality().unwrap(), 1);
    let p = e.data_points().next().unwrap().unwrap();
    let f = p.fields().unwrap();
    assert_eq!((f.start_time_unix_nano, f.time_unix_nano, f.count, f.sum), (1, 2, 10, Some(3.5)));
    assert_eq!(
        (f.scale, f.zero_count, f.flags, f.min, f.max, f.zero_threshold),
        (-3, 4, 1, Some(-1.0), Some(9.0), 1e-9)
    );
    assert_eq!(f.positive.unwrap().offset().unwrap(), -2);
    assert_eq!(f.negative.unwrap().bucket_counts().collect::<Result<Vec<_>, _>>().unwrap(), [2]);
    assert_eq!(keys(p.attributes()), ["k"]);
    assert_eq!((p.scale().unwrap(), p.zero_count().unwrap(), p.zero_threshold().unwrap()), (-3, 4, 1e-9));
    let positive = p.positive().unwrap();
    assert_eq!(positive.offset().unwrap(), -2);
    assert_eq!(positive.bucket_counts().collect::<Result<Vec<_>, _>>().unwrap(), [1, 300, 0]);
    assert_eq!(p.negative().unwrap().offset().unwrap(), 5);
    assert_eq!(
        (p.count().unwrap(), p.sum().unwrap(), p.min().unwrap(), p.max().unwrap()),
        (10, Some(3.5), Some(-1.0), Some(9.0))
    );
    assert_eq!(p.flags().unwrap(), 1);
    check_exemplar(p.exemplars().next().unwrap().unwrap(), 6);

    // Absent buckets read as empty, with offset 0.
    let bytes = ExponentialHistogramDataPoint::default().encode_to_vec();
    let p = ExponentialHistogramDataPointView::new(&bytes);
    assert_eq!((p.positive().unwrap().offset().unwrap(), p.positive().unwrap().bucket_counts().count()), (0, 0));
    assert!(p.fields().unwrap().positive.is_none());
}

#[test]
fn summary_reads_every_field() {
    let point = SummaryDataPoint {
        attributes: vec![kv("k", V::BoolValue(false))],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 3,
        sum: 4.5,
        quantile_values: vec![
            ValueAtQuantile { quantile: 0.5, value: 1.0 },
            ValueAtQuantile { quantile: 0.99, value: 7.0 },
        ],
        flags: 1,
    };
    let bytes = metric_bytes("rpc", metric::Data::Summary(Summary { data_points: vec![point] }));
    let data = MetricView::new(&bytes).typed_data().unwrap();
    let MetricData::Summary(s) = data else { panic!("a summary") };
    let p = s.data_points().next().unwrap().unwrap();
    assert_eq!(
        p.fields().unwrap(),
        SummaryDataPointFields { start_time_unix_nano: 1, time_unix_nano: 2, count: 3, sum: 4.5, flags: 1 }
    );
    assert_eq!(p.attributes().get("k").unwrap().unwrap().as_bool(), Some(false));
    assert_eq!((p.count().unwrap(), p.sum().unwrap(), p.flags().unwrap()), (3, 4.5, 1));
    let q: Vec<_> = p.quantile_values().map(|q| q.unwrap().get().unwrap()).collect();
    assert_eq!(q, [(0.5, 1.0), (0.99, 7.0)]);
    let any = data.data_points().next().unwrap().unwrap();
    assert_eq!(any.exemplars().count(), 0, "summaries have no exemplars");
    assert_eq!((data.aggregation_temporality().unwrap(), data.is_monotonic().unwrap()), (None, None));
}

#[test]
fn a_metric_without_data_is_empty() {
    let bytes = Metric { name: "x".into(), ..Default::default() }.encode_to_vec();
    let m = MetricView::new(&bytes);
    assert!(matches!(m.typed_data().unwrap(), MetricData::Empty));
    assert_eq!(m.typed_data().unwrap().data_points().count(), 0);
    assert_eq!(m.data_point_count().unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn partial_success_of_every_signal_reads_back() {
    let responses = [
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess { rejected_spans: 3, error_message: "bad span".into() }),
        }
        .encode_to_vec(),
        ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "bad span".into(),
            }),
        }
        .encode_to_vec(),
        ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 3,
                error_message: "bad span".into(),
            }),
        }
        .encode_to_vec(),
    ];
    for bytes in &responses {
        let ps = ExportResponseView::new(bytes).partial_success().unwrap().unwrap();
        assert_eq!((ps.rejected().unwrap(), ps.error_message().unwrap()), (3, "bad span"));
        assert_eq!(ps.error_message_bytes().unwrap(), b"bad span");
        assert!(!ps.is_empty().unwrap());
    }
    let none = ExportTraceServiceResponse::default().encode_to_vec();
    assert!(ExportResponseView::new(&none).partial_success().unwrap().is_none());
    let empty = ExportTraceServiceResponse { partial_success: Some(Default::default()) }.encode_to_vec();
    assert!(ExportResponseView::new(&empty).partial_success().unwrap().unwrap().is_empty().unwrap());
    // A negative count (a misbehaving server) reads as it is.
    let negative = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess { rejected_spans: -1, ..Default::default() }),
    }
    .encode_to_vec();
    assert_eq!(ExportResponseView::new(&negative).partial_success().unwrap().unwrap().rejected().unwrap(), -1);
}

fn rpc_status(details: Vec<prost_types::Any>) -> Vec<u8> {
    tonic_types::pb::Status { code: 8, message: "slow down".into(), details }.encode_to_vec()
}

fn retry_info(delay: Option<prost_types::Duration>) -> prost_types::Any {
    let value = tonic_types::pb::RetryInfo { retry_delay: delay }.encode_to_vec();
    prost_types::Any { type_url: proto::retry_info::TYPE_URL.into(), value }
}

#[test]
fn rpc_status_reads_code_message_and_retry_delay() {
    let debug = prost_types::Any { type_url: "type.googleapis.com/google.rpc.DebugInfo".into(), value: vec![1] };
    let delay = prost_types::Duration { seconds: 1, nanos: 500_000_000 };
    let bytes = rpc_status(vec![debug.clone(), retry_info(Some(delay)), retry_info(None)]);
    let s = RpcStatusView::new(&bytes);
    assert_eq!(
        (s.code().unwrap(), s.message().unwrap(), s.message_bytes().unwrap()),
        (8, "slow down", &b"slow down"[..])
    );
    let details: Vec<_> = s.details().map(Result::unwrap).collect();
    assert_eq!(details.len(), 3);
    assert_eq!(details[0].type_url().unwrap(), debug.type_url.as_bytes());
    assert_eq!(details[0].value().unwrap(), [1]);
    assert_eq!(s.retry_delay().unwrap(), Some(Duration::from_millis(1500)), "the first RetryInfo counts");

    let without_delay = rpc_status(vec![retry_info(None)]);
    assert_eq!(RpcStatusView::new(&without_delay).retry_delay().unwrap(), Some(Duration::ZERO));
    let negative = rpc_status(vec![retry_info(Some(prost_types::Duration { seconds: -1, nanos: 0 }))]);
    assert_eq!(RpcStatusView::new(&negative).retry_delay().unwrap(), Some(Duration::ZERO));
    let no_retry_info = rpc_status(vec![debug]);
    assert_eq!(RpcStatusView::new(&no_retry_info).retry_delay().unwrap(), None);
    assert_eq!(RpcStatusView::new(&[]).retry_delay().unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

/// A message holding one field `number` of the wire type that no accessor of it expects: a
/// varint where a length-delimited or fixed field is due, a fixed32 where a varint is.
fn wrong_type(number: u32, expected: u8) -> (Vec<u8>, WireError) {
    let mut out = Vec::new();
    if expected == 0 {
        edit::write_fixed32_field(&mut out, number, 1);
        (out, WireError::UnexpectedWireType { field: number, wire_type: 5 })
    } else {
        write_varint(&mut out, u64::from(number) << 3);
        write_varint(&mut out, 1);
        (out, WireError::UnexpectedWireType { field: number, wire_type: 0 })
    }
}

/// Whether an accessor failed, and how.
fn e<T>(r: Result<T, WireError>) -> Result<(), WireError> {
    r.map(|_| ())
}

/// Asserts that every accessor in `$checks` refuses a message whose field has the wrong wire
/// type: `$view` is the view's constructor, each check `(field, expected wire type, |v| …)`.
macro_rules! refuses_wrong_types {
    ($view:expr, $( ($field:expr, $wt:expr, $read:expr) ),* $(,)?) => {$({
        let (bytes, err) = wrong_type($field, $wt);
        let v = $view(&bytes[..]);
        #[allow(clippy::redundant_closure_call)]
        let got = ($read)(v);
        assert_eq!(got, Err(err), "field {}", $field);
    })*};
}

#[test]
fn wrong_wire_types_are_errors_in_every_view() {
    use proto::*;
    refuses_wrong_types!(
        SpanView::new,
        (span::TRACE_ID, 2, |v: SpanView| e(v.trace_id())),
        (span::SPAN_ID, 2, |v: SpanView| e(v.span_id())),
        (span::TRACE_STATE, 2, |v: SpanView| e(v.trace_state())),
        (span::PARENT_SPAN_ID, 2, |v: SpanView| e(v.parent_span_id())),
        (span::NAME, 2, |v: SpanView| e(v.name())),
        (span::KIND, 0, |v: SpanView| e(v.kind())),
        (span::START_TIME_UNIX_NANO, 1, |v: SpanView| e(v.start_time_unix_nano())),
        (span::END_TIME_UNIX_NANO, 1, |v: SpanView| e(v.end_time_unix_nano())),
        (span::ATTRIBUTES, 2, |v: SpanView| e(v.attributes().get("k"))),
        (span::DROPPED_ATTRIBUTES_COUNT, 0, |v: SpanView| e(v.dropped_attributes_count())),
        (span::EVENTS, 2, |v: SpanView| e(v.events().next().unwrap())),
        (span::DROPPED_EVENTS_COUNT, 0, |v: SpanView| e(v.dropped_events_count())),
        (span::LINKS, 2, |v: SpanView| e(v.links().next().unwrap())),
        (span::DROPPED_LINKS_COUNT, 0, |v: SpanView| e(v.dropped_links_count())),
        (span::STATUS, 2, |v: SpanView| e(v.status())),
        (span::FLAGS, 5, |v: SpanView| e(v.flags())),
        (span::STATUS, 2, |v: SpanView| e(v.fields())),
    );
    refuses_wrong_types!(
        StatusView::new,
        (status::CODE, 0, |v: StatusView| e(v.code())),
        (status::MESSAGE, 2, |v: StatusView| e(v.message())),
    );
    refuses_wrong_types!(
        EventView::new,
        (event::TIME_UNIX_NANO, 1, |v: EventView| e(v.time_unix_nano())),
        (event::NAME, 2, |v: EventView| e(v.name())),
        (event::ATTRIBUTES, 2, |v: EventView| e(v.attributes().len())),
        (event::DROPPED_ATTRIBUTES_COUNT, 0, |v: EventView| e(v.dropped_attributes_count())),
    );
    refuses_wrong_types!(
        LinkView::new,
        (link::TRACE_ID, 2, |v: LinkView| e(v.trace_id())),
        (link::SPAN_ID, 2, |v: LinkView| e(v.span_id())),
        (link::TRACE_STATE, 2, |v: LinkView| e(v.trace_state())),
        (link::ATTRIBUTES, 2, |v: LinkView| e(v.attributes().len())),
        (link::DROPPED_ATTRIBUTES_COUNT, 0, |v: LinkView| e(v.dropped_attributes_count())),
        (link::FLAGS, 5, |v: LinkView| e(v.flags())),
    );
    refuses_wrong_types!(
        LogRecordView::new,
        (log_record::TIME_UNIX_NANO, 1, |v: LogRecordView| e(v.time_unix_nano())),
        (log_record::OBSERVED_TIME_UNIX_NANO, 1, |v: LogRecordView| e(v.observed_time_unix_nano())),
        (log_record::SEVERITY_NUMBER, 0, |v: LogRecordView| e(v.severity_number())),
        (log_record::SEVERITY_TEXT, 2, |v: LogRecordView| e(v.severity_text())),
        (log_record::BODY, 2, |v: LogRecordView| e(v.body())),
        (log_record::ATTRIBUTES, 2, |v: LogRecordView| e(v.attributes().len())),
        (log_record::DROPPED_ATTRIBUTES_COUNT, 0, |v: LogRecordView| e(v.dropped_attributes_count())),
        (log_record::FLAGS, 5, |v: LogRecordView| e(v.flags())),
        (log_record::TRACE_ID, 2, |v: LogRecordView| e(v.trace_id())),
        (log_record::SPAN_ID, 2, |v: LogRecordView| e(v.span_id())),
        (log_record::EVENT_NAME, 2, |v: LogRecordView| e(v.event_name())),
        (log_record::FLAGS, 5, |v: LogRecordView| e(v.fields())),
    );
    refuses_wrong_types!(
        ResourceView::new,
        (resource::ATTRIBUTES, 2, |v: ResourceView| e(v.service_name())),
        (resource::DROPPED_ATTRIBUTES_COUNT, 0, |v: ResourceView| e(v.dropped_attributes_count())),
        (resource::ENTITY_REFS, 2, |v: ResourceView| e(v.entity_refs().next().unwrap())),
    );
    refuses_wrong_types!(
        EntityRefView::new,
        (entity_ref::SCHEMA_URL, 2, |v: EntityRefView| e(v.schema_url())),
        (entity_ref::TYPE, 2, |v: EntityRefView| e(v.entity_type())),
        (entity_ref::ID_KEYS, 2, |v: EntityRefView| e(v.id_keys().next().unwrap())),
        (entity_ref::DESCRIPTION_KEYS, 2, |v: EntityRefView| e(v.description_keys().next().unwrap())),
    );
    refuses_wrong_types!(
        ScopeView::new,
        (instrumentation_scope::NAME, 2, |v: ScopeView| e(v.name())),
        (instrumentation_scope::VERSION, 2, |v: ScopeView| e(v.version())),
        (instrumentation_scope::ATTRIBUTES, 2, |v: ScopeView| e(v.attributes().len())),
        (instrumentation_scope::DROPPED_ATTRIBUTES_COUNT, 0, |v: ScopeView| e(v.dropped_attributes_count())),
    );
    refuses_wrong_types!(ArrayView::new, (array_value::VALUES, 2, |v: ArrayView| e(v.len())),);
}

#[test]
fn wrong_wire_types_are_errors_in_metric_views() {
    use proto::*;
    refuses_wrong_types!(
        MetricView::new,
        (metric::NAME, 2, |v: MetricView| e(v.name())),
        (metric::DESCRIPTION, 2, |v: MetricView| e(v.description())),
        (metric::UNIT, 2, |v: MetricView| e(v.unit())),
        (metric::METADATA, 2, |v: MetricView| e(v.metadata().len())),
        (metric::GAUGE, 2, |v: MetricView| e(v.typed_data())),
        (metric::SUM, 2, |v: MetricView| e(v.typed_data())),
        (metric::HISTOGRAM, 2, |v: MetricView| e(v.kind())),
        (metric::EXPONENTIAL_HISTOGRAM, 2, |v: MetricView| e(v.data())),
        (metric::SUMMARY, 2, |v: MetricView| e(v.data_point_count())),
    );
    refuses_wrong_types!(
        SumView::new,
        (sum::DATA_POINTS, 2, |v: SumView| e(v.data_points().next().unwrap())),
        (sum::AGGREGATION_TEMPORALITY, 0, |v: SumView| e(v.aggregation_temporality())),
        (sum::IS_MONOTONIC, 0, |v: SumView| e(v.is_monotonic())),
    );
    refuses_wrong_types!(
        HistogramView::new,
        (histogram::AGGREGATION_TEMPORALITY, 0, |v: HistogramView| e(v.aggregation_temporality())),
    );
    refuses_wrong_types!(
        ExponentialHistogramView::new,
        (exponential_histogram::AGGREGATION_TEMPORALITY, 0, |v: ExponentialHistogramView| e(
            v.aggregation_temporality()
        )),
    );
    use proto::number_data_point as n;
    refuses_wrong_types!(
        NumberDataPointView::new,
        (n::ATTRIBUTES, 2, |v: NumberDataPointView| e(v.attributes().len())),
        (n::START_TIME_UNIX_NANO, 1, |v: NumberDataPointView| e(v.start_time_unix_nano())),
        (n::TIME_UNIX_NANO, 1, |v: NumberDataPointView| e(v.time_unix_nano())),
        (n::AS_DOUBLE, 1, |v: NumberDataPointView| e(v.value())),
        (n::AS_INT, 1, |v: NumberDataPointView| e(v.value())),
        (n::EXEMPLARS, 2, |v: NumberDataPointView| e(v.exemplars().next().unwrap())),
        (n::FLAGS, 0, |v: NumberDataPointView| e(v.flags())),
        (n::AS_INT, 1, |v: NumberDataPointView| e(v.fields())),
    );
    use proto::histogram_data_point as h;
    refuses_wrong_types!(
        HistogramDataPointView::new,
        (h::COUNT, 1, |v: HistogramDataPointView| e(v.count())),
        (h::SUM, 1, |v: HistogramDataPointView| e(v.sum())),
        (h::BUCKET_COUNTS, 1, |v: HistogramDataPointView| e(v.bucket_counts().checked_len())),
        (h::EXPLICIT_BOUNDS, 1, |v: HistogramDataPointView| e(v.explicit_bounds().checked_len())),
        (h::FLAGS, 0, |v: HistogramDataPointView| e(v.flags())),
        (h::MIN, 1, |v: HistogramDataPointView| e(v.min())),
        (h::MAX, 1, |v: HistogramDataPointView| e(v.max())),
        (h::MAX, 1, |v: HistogramDataPointView| e(v.fields())),
    );
    use proto::exponential_histogram_data_point as x;
    refuses_wrong_types!(
        ExponentialHistogramDataPointView::new,
        (x::SCALE, 0, |v: ExponentialHistogramDataPointView| e(v.scale())),
        (x::ZERO_COUNT, 1, |v: ExponentialHistogramDataPointView| e(v.zero_count())),
        (x::POSITIVE, 2, |v: ExponentialHistogramDataPointView| e(v.positive())),
        (x::NEGATIVE, 2, |v: ExponentialHistogramDataPointView| e(v.negative())),
        (x::ZERO_THRESHOLD, 1, |v: ExponentialHistogramDataPointView| e(v.zero_threshold())),
        (x::SCALE, 0, |v: ExponentialHistogramDataPointView| e(v.fields())),
    );
    refuses_wrong_types!(
        BucketsView::new,
        (x::buckets::OFFSET, 0, |v: BucketsView| e(v.offset())),
        (x::buckets::BUCKET_COUNTS, 0, |v: BucketsView| e(v.bucket_counts().checked_len())),
    );
    use proto::summary_data_point as s;
    refuses_wrong_types!(
        SummaryDataPointView::new,
        (s::COUNT, 1, |v: SummaryDataPointView| e(v.count())),
        (s::SUM, 1, |v: SummaryDataPointView| e(v.sum())),
        (s::QUANTILE_VALUES, 2, |v: SummaryDataPointView| e(v.quantile_values().next().unwrap())),
        (s::FLAGS, 0, |v: SummaryDataPointView| e(v.fields())),
    );
    refuses_wrong_types!(
        ValueAtQuantileView::new,
        (s::value_at_quantile::QUANTILE, 1, |v: ValueAtQuantileView| e(v.quantile())),
        (s::value_at_quantile::VALUE, 1, |v: ValueAtQuantileView| e(v.get())),
    );
    refuses_wrong_types!(
        ExemplarView::new,
        (exemplar::FILTERED_ATTRIBUTES, 2, |v: ExemplarView| e(v.filtered_attributes().len())),
        (exemplar::TIME_UNIX_NANO, 1, |v: ExemplarView| e(v.time_unix_nano())),
        (exemplar::AS_DOUBLE, 1, |v: ExemplarView| e(v.value())),
        (exemplar::SPAN_ID, 2, |v: ExemplarView| e(v.span_id())),
        (exemplar::TRACE_ID, 2, |v: ExemplarView| e(v.trace_id())),
    );
    refuses_wrong_types!(
        RpcStatusView::new,
        (rpc_status::CODE, 0, |v: RpcStatusView| e(v.code())),
        (rpc_status::MESSAGE, 2, |v: RpcStatusView| e(v.message())),
        (rpc_status::DETAILS, 2, |v: RpcStatusView| e(v.retry_delay())),
    );
    refuses_wrong_types!(
        PartialSuccessView::new,
        (export_partial_success::REJECTED, 0, |v: PartialSuccessView| e(v.rejected())),
        (export_partial_success::ERROR_MESSAGE, 2, |v: PartialSuccessView| e(v.error_message())),
    );
    refuses_wrong_types!(
        ExportResponseView::new,
        (export_response::PARTIAL_SUCCESS, 2, |v: ExportResponseView| e(v.partial_success())),
    );
}

/// Every prefix of a fully populated message: accessors answer or fail, never panic, and a
/// cut inside a field is an error for the one-pass readers.
#[test]
fn truncated_items_are_errors_never_panics() {
    let span = Span {
        trace_id: vec![1; 16],
        name: "n".into(),
        attributes: vec![kv("a", V::IntValue(1))],
        events: vec![span::Event { name: "e".into(), ..Default::default() }],
        status: Some(Status { message: "m".into(), code: 2 }),
        ..Default::default()
    }
    .encode_to_vec();
    let boundaries: Vec<usize> = crate::pdata::wire::Fields::new(&span).map(|f| f.unwrap().end).collect();
    for cut in 1..span.len() {
        let v = SpanView::new(&span[..cut]);
        let r = v.fields();
        if !boundaries.contains(&cut) {
            assert!(matches!(r, Err(WireError::Truncated | WireError::BadVarint)), "cut at {cut}: {r:?}");
        }
        let _ = (v.status(), v.events().count(), v.attributes().len(), v.trace_id());
    }
    let point =
        HistogramDataPoint { count: 1, bucket_counts: vec![1, 2], explicit_bounds: vec![1.0], ..Default::default() }
            .encode_to_vec();
    for cut in 1..point.len() {
        let v = HistogramDataPointView::new(&point[..cut]);
        let _ = (v.fields(), v.bucket_counts().checked_len(), v.explicit_bounds().count());
    }
}
