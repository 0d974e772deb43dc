//! Views against prost: random OTLP requests are encoded with prost, then read through the
//! views, counted, concatenated and split, and every answer is compared with what prost decodes.

use super::edit;
use super::views::{
    AnyValue as Av, AnyValueView, Attributes, DataPointView, EventView, ExemplarView,
    ExponentialHistogramDataPointView, HistogramDataPointView, LinkView, LogRecordView, MetricData, MetricKind,
    MetricView, NumberDataPointView, NumberValue, RequestView, ResourceGroupView, ScopeGroupView, SpanKind, SpanView,
    StatusCode, SummaryDataPointView,
};
use super::wire::{self, Fields, WireError};
use super::{Payload, Signal};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;
use std::fmt::Debug;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Keys drawn from a small pool so that duplicates (and `service.name`) are common.
const KEYS: &[&str] = &["service.name", "http.request.method", "http.response.status_code", "db.system", "k", ""];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-zA-Z0-9._/ -]{0,12}", 1 => "\\PC{0,6}"]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(KEYS).prop_map(String::from), 1 => "[a-z.]{1,8}"]
}

/// Every double but NaN, so that prost values compare with `==`.
fn double() -> impl Strategy<Value = f64> {
    use prop::num::f64::*;
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![1 => Just(Vec::new()), 4 => vec(any::<u8>(), len)]
}

fn any_value() -> BoxedStrategy<AnyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        Just(None),
        text().prop_map(|s| Some(V::StringValue(s))),
        any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(V::IntValue(i))),
        double().prop_map(|d| Some(V::DoubleValue(d))),
        vec(any::<u8>(), 0..8).prop_map(|b| Some(V::BytesValue(b))),
    ]
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|values| AnyValue { value: Some(V::ArrayValue(ArrayValue { values })) }),
            vec((key(), inner), 0..4).prop_map(|kvs| AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, v)| KeyValue { key, value: Some(v), ..Default::default() })
                        .collect(),
                })),
            }),
        ]
    })
    .boxed()
}

fn key_value() -> impl Strategy<Value = KeyValue> {
    (key(), prop::option::weighted(0.9, any_value())).prop_map(|(key, value)| KeyValue {
        key,
        value,
        ..Default::default()
    })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    vec(key_value(), 0..5)
}

fn entity_ref() -> impl Strategy<Value = EntityRef> {
    (text(), text(), vec(key(), 0..3), vec(key(), 0..2)).prop_map(|(schema_url, r#type, id_keys, description_keys)| {
        EntityRef { schema_url, r#type, id_keys, description_keys }
    })
}

fn resource() -> impl Strategy<Value = Option<Resource>> {
    prop::option::weighted(
        0.8,
        (attributes(), 0u32..3, vec(entity_ref(), 0..2)).prop_map(
            |(attributes, dropped_attributes_count, entity_refs)| Resource {
                attributes,
                dropped_attributes_count,
                entity_refs,
            },
        ),
    )
}

fn scope() -> impl Strategy<Value = Option<InstrumentationScope>> {
    prop::option::weighted(
        0.8,
        (text(), text(), attributes(), 0u32..3).prop_map(|(name, version, attributes, dropped_attributes_count)| {
            InstrumentationScope { name, version, attributes, dropped_attributes_count }
        }),
    )
}

fn event() -> impl Strategy<Value = span::Event> {
    (any::<u64>(), text(), attributes(), 0u32..3).prop_map(|(time_unix_nano, name, attributes, dropped)| span::Event {
        time_unix_nano,
        name,
        attributes,
        dropped_attributes_count: dropped,
    })
}

fn link() -> impl Strategy<Value = span::Link> {
    (id(16), id(8), text(), attributes(), 0u32..3, any::<u32>()).prop_map(
        |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| span::Link {
            trace_id,
            span_id,
            trace_state,
            attributes,
            dropped_attributes_count,
            flags,
        },
    )
}

fn status() -> impl Strategy<Value = Option<Status>> {
    prop::option::weighted(0.7, (text(), -1i32..4).prop_map(|(message, code)| Status { message, code }))
}

fn span() -> impl Strategy<Value = Span> {
    (
        (id(16), id(8), text(), id(8), text(), -1i32..8),
        (any::<u64>(), any::<u64>(), attributes(), 0u32..3, status()),
        (vec(event(), 0..3), vec(link(), 0..2), any::<u32>(), 0u32..3, 0u32..3),
    )
        .prop_map(
            |(
                (trace_id, span_id, trace_state, parent_span_id, name, kind),
                (start_time_unix_nano, end_time_unix_nano, attributes, dropped_attributes_count, status),
                (events, links, flags, dropped_events_count, dropped_links_count),
            )| Span {
                trace_id,
                span_id,
                trace_state,
                parent_span_id,
                flags,
                name,
                kind,
                start_time_unix_nano,
                end_time_unix_nano,
                attributes,
                dropped_attributes_count,
                events,
                dropped_events_count,
                links,
                dropped_links_count,
                status,
            },
        )
}

fn traces() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope_spans = (scope(), vec(span(), 0..5), text()).prop_map(|(scope, spans, schema_url)| ScopeSpans {
        scope,
        spans,
        schema_url,
    });
    let resource_spans = (resource(), vec(scope_spans, 0..3), text())
        .prop_map(|(resource, scope_spans, schema_url)| ResourceSpans { resource, scope_spans, schema_url });
    vec(resource_spans, 0..4).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

fn log_record() -> impl Strategy<Value = LogRecord> {
    (
        (any::<u64>(), any::<u64>(), 0i32..25, text(), prop::option::weighted(0.8, any_value())),
        (attributes(), 0u32..3, any::<u32>(), id(16), id(8), text()),
    )
        .prop_map(
            |(
                (time_unix_nano, observed_time_unix_nano, severity_number, severity_text, body),
                (attributes, dropped_attributes_count, flags, trace_id, span_id, event_name),
            )| LogRecord {
                time_unix_nano,
                observed_time_unix_nano,
                severity_number,
                severity_text,
                body,
                attributes,
                dropped_attributes_count,
                flags,
                trace_id,
                span_id,
                event_name,
            },
        )
}

fn logs() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let scope_logs = (scope(), vec(log_record(), 0..5), text())
        .prop_map(|(scope, log_records, schema_url)| ScopeLogs { scope, log_records, schema_url });
    let resource_logs = (resource(), vec(scope_logs, 0..3), text())
        .prop_map(|(resource, scope_logs, schema_url)| ResourceLogs { resource, scope_logs, schema_url });
    vec(resource_logs, 0..4).prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

fn exemplar() -> impl Strategy<Value = Exemplar> {
    let value = prop_oneof![
        Just(None),
        double().prop_map(|d| Some(exemplar::Value::AsDouble(d))),
        any::<i64>().prop_map(|i| Some(exemplar::Value::AsInt(i))),
    ];
    (attributes(), any::<u64>(), id(8), id(16), value).prop_map(
        |(filtered_attributes, time_unix_nano, span_id, trace_id, value)| Exemplar {
            filtered_attributes,
            time_unix_nano,
            span_id,
            trace_id,
            value,
        },
    )
}

fn number_point() -> impl Strategy<Value = NumberDataPoint> {
    let value = prop_oneof![
        Just(None),
        double().prop_map(|d| Some(number_data_point::Value::AsDouble(d))),
        any::<i64>().prop_map(|i| Some(number_data_point::Value::AsInt(i))),
    ];
    (attributes(), any::<u64>(), any::<u64>(), vec(exemplar(), 0..2), 0u32..2, value).prop_map(
        |(attributes, start_time_unix_nano, time_unix_nano, exemplars, flags, value)| NumberDataPoint {
            attributes,
            start_time_unix_nano,
            time_unix_nano,
            exemplars,
            flags,
            value,
        },
    )
}

fn histogram_point() -> impl Strategy<Value = HistogramDataPoint> {
    (
        (attributes(), any::<u64>(), any::<u64>(), any::<u64>(), prop::option::of(double())),
        (vec(any::<u64>(), 0..5), vec(double(), 0..4), vec(exemplar(), 0..2), 0u32..2),
        (prop::option::of(double()), prop::option::of(double())),
    )
        .prop_map(
            |(
                (attributes, start_time_unix_nano, time_unix_nano, count, sum),
                (bucket_counts, explicit_bounds, exemplars, flags),
                (min, max),
            )| HistogramDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano,
                count,
                sum,
                bucket_counts,
                explicit_bounds,
                exemplars,
                flags,
                min,
                max,
            },
        )
}

fn buckets() -> impl Strategy<Value = Option<Buckets>> {
    prop::option::of(
        (any::<i32>(), vec(any::<u64>(), 0..5)).prop_map(|(offset, bucket_counts)| Buckets { offset, bucket_counts }),
    )
}

fn exponential_point() -> impl Strategy<Value = ExponentialHistogramDataPoint> {
    (
        (attributes(), any::<u64>(), any::<u64>(), any::<u64>(), prop::option::of(double()), -10i32..20),
        (any::<u64>(), buckets(), buckets(), 0u32..2, vec(exemplar(), 0..2)),
        (prop::option::of(double()), prop::option::of(double()), double()),
    )
        .prop_map(
            |(
                (attributes, start_time_unix_nano, time_unix_nano, count, sum, scale),
                (zero_count, positive, negative, flags, exemplars),
                (min, max, zero_threshold),
            )| ExponentialHistogramDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano,
                count,
                sum,
                scale,
                zero_count,
                positive,
                negative,
                flags,
                exemplars,
                min,
                max,
                zero_threshold,
            },
        )
}

fn summary_point() -> impl Strategy<Value = SummaryDataPoint> {
    let quantile = (double(), double()).prop_map(|(quantile, value)| ValueAtQuantile { quantile, value });
    (attributes(), any::<u64>(), any::<u64>(), any::<u64>(), double(), vec(quantile, 0..4), 0u32..2).prop_map(
        |(attributes, start_time_unix_nano, time_unix_nano, count, sum, quantile_values, flags)| SummaryDataPoint {
            attributes,
            start_time_unix_nano,
            time_unix_nano,
            count,
            sum,
            quantile_values,
            flags,
        },
    )
}

/// Metric data of every kind, with 0 to 5 data points (so that a single metric can be larger
/// than the `max` of a split).
fn metric_data() -> impl Strategy<Value = Option<metric::Data>> {
    use metric::Data;
    const POINTS: std::ops::Range<usize> = 0..6;
    prop_oneof![
        1 => Just(None),
        2 => vec(number_point(), POINTS).prop_map(|data_points| Some(Data::Gauge(Gauge { data_points }))),
        2 => (vec(number_point(), POINTS), 0i32..3, any::<bool>()).prop_map(
            |(data_points, aggregation_temporality, is_monotonic)| Some(Data::Sum(Sum {
                data_points,
                aggregation_temporality,
                is_monotonic
            }))
        ),
        2 => (vec(histogram_point(), POINTS), 0i32..3).prop_map(|(data_points, aggregation_temporality)| Some(
            Data::Histogram(Histogram { data_points, aggregation_temporality })
        )),
        2 => (vec(exponential_point(), POINTS), 0i32..3).prop_map(|(data_points, aggregation_temporality)| Some(
            Data::ExponentialHistogram(ExponentialHistogram { data_points, aggregation_temporality })
        )),
        2 => vec(summary_point(), POINTS).prop_map(|data_points| Some(Data::Summary(Summary { data_points }))),
    ]
}

fn metric() -> impl Strategy<Value = Metric> {
    (text(), text(), text(), attributes(), metric_data()).prop_map(|(name, description, unit, metadata, data)| Metric {
        name,
        description,
        unit,
        metadata,
        data,
    })
}

fn metrics() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    let scope_metrics = (scope(), vec(metric(), 0..4), text()).prop_map(|(scope, metrics, schema_url)| ScopeMetrics {
        scope,
        metrics,
        schema_url,
    });
    let resource_metrics = (resource(), vec(scope_metrics, 0..3), text())
        .prop_map(|(resource, scope_metrics, schema_url)| ResourceMetrics { resource, scope_metrics, schema_url });
    vec(resource_metrics, 0..4).prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}

// ---------------------------------------------------------------------------------------------
// The three requests behind one interface
// ---------------------------------------------------------------------------------------------

/// A resource group's header and a scope group's header: what a split must carry along.
type Header<T> = (Option<T>, String);
/// One item with the headers of the groups that hold it.
type Triple<I> = (Header<Resource>, Header<InstrumentationScope>, I);

trait Request: Message + Default + PartialEq + Debug + Sized {
    const SIGNAL: Signal;
    type Group: PartialEq + Debug + Clone;
    type Item: PartialEq + Debug + Clone;

    fn groups(&self) -> &[Self::Group];
    fn flatten(&self) -> Vec<Triple<Self::Item>>;
    /// Items the payload counts for one item: 1, or a metric's data points.
    fn weight(item: &Self::Item) -> usize;

    fn items(&self) -> usize {
        self.flatten().iter().map(|(_, _, i)| Self::weight(i)).sum()
    }

    fn payload(&self) -> Payload {
        Payload::new(Self::SIGNAL, Bytes::from(self.encode_to_vec())).expect("prost output is well-formed")
    }
}

macro_rules! request {
    ($req:ty, $signal:expr, $groups:ident, $scopes:ident, $items:ident, $group:ty, $item:ty, $weight:expr) => {
        impl Request for $req {
            const SIGNAL: Signal = $signal;
            type Group = $group;
            type Item = $item;

            fn groups(&self) -> &[$group] {
                &self.$groups
            }

            fn flatten(&self) -> Vec<Triple<$item>> {
                let mut out = Vec::new();
                for rg in &self.$groups {
                    for sg in &rg.$scopes {
                        for item in &sg.$items {
                            out.push((
                                (rg.resource.clone(), rg.schema_url.clone()),
                                (sg.scope.clone(), sg.schema_url.clone()),
                                item.clone(),
                            ));
                        }
                    }
                }
                out
            }

            fn weight(item: &$item) -> usize {
                $weight(item)
            }
        }
    };
}

request!(ExportTraceServiceRequest, Signal::Traces, resource_spans, scope_spans, spans, ResourceSpans, Span, |_| 1);
request!(
    ExportLogsServiceRequest,
    Signal::Logs,
    resource_logs,
    scope_logs,
    log_records,
    ResourceLogs,
    LogRecord,
    |_| 1
);
request!(
    ExportMetricsServiceRequest,
    Signal::Metrics,
    resource_metrics,
    scope_metrics,
    metrics,
    ResourceMetrics,
    Metric,
    data_points
);

fn data_points(m: &Metric) -> usize {
    use metric::Data;
    match &m.data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(e)) => e.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    }
}

// ---------------------------------------------------------------------------------------------
// Views compared with prost
// ---------------------------------------------------------------------------------------------

fn check_any(view: AnyValueView<'_>, expected: Option<&AnyValue>) {
    use any_value::Value as V;
    let got = view.get().expect("well-formed AnyValue");
    match expected.and_then(|a| a.value.as_ref()) {
        None => assert_eq!(got, Av::Empty),
        Some(V::StringValue(s)) => {
            assert_eq!(got, Av::String(s));
            assert_eq!(view.as_str(), Some(s.as_str()));
        }
        Some(V::BoolValue(b)) => {
            assert_eq!(got, Av::Bool(*b));
            assert_eq!(view.as_bool(), Some(*b));
        }
        Some(V::IntValue(i)) => {
            assert_eq!(got, Av::Int(*i));
            assert_eq!(view.as_i64(), Some(*i));
        }
        Some(V::DoubleValue(d)) => {
            let Av::Double(g) = got else { panic!("expected a double, got {got:?}") };
            assert_eq!(g.to_bits(), d.to_bits());
            assert_eq!(view.as_f64().map(f64::to_bits), Some(d.to_bits()));
        }
        Some(V::BytesValue(b)) => {
            assert_eq!(got, Av::Bytes(b));
            assert_eq!(view.as_bytes(), Some(&b[..]));
        }
        Some(V::ArrayValue(a)) => {
            let Av::Array(buf) = got else { panic!("expected an array, got {got:?}") };
            let elements: Vec<AnyValueView<'_>> = Fields::new(buf)
                .map(|f| f.expect("well-formed ArrayValue"))
                .filter(|f| f.number == 1)
                .map(|f| AnyValueView::new(f.bytes().expect("AnyValue is length-delimited")))
                .collect();
            assert_eq!(elements.len(), a.values.len());
            for (v, e) in elements.into_iter().zip(&a.values) {
                check_any(v, Some(e));
            }
            // The array view reads the same elements.
            let array = view.as_array().expect("an array");
            assert_eq!(array.bytes(), buf);
            assert_eq!(array.len().unwrap(), a.values.len());
            for (v, e) in array.values().map(Result::unwrap).zip(&a.values) {
                check_any(v, Some(e));
            }
        }
        Some(V::KvlistValue(kvs)) => {
            let Av::KvList(buf) = got else { panic!("expected a kvlist, got {got:?}") };
            check_attributes(Attributes::new(buf, 1), &kvs.values);
            check_attributes(view.as_kvlist().expect("a kvlist"), &kvs.values);
        }
        Some(V::StringValueStrindex(_)) => unreachable!("not generated: only profiles use string tables"),
    }
    if !matches!(expected.and_then(|a| a.value.as_ref()), Some(V::StringValue(_))) {
        assert_eq!(view.as_str(), None);
    }
}

/// The attributes in wire order, and lookup by key (the last duplicate wins) for every key of
/// the pool, every key present and one that is never generated.
fn check_attributes(view: Attributes<'_>, expected: &[KeyValue]) {
    let got: Vec<_> = view.iter().map(|kv| kv.expect("well-formed KeyValue")).collect();
    assert_eq!(got.len(), expected.len());
    assert_eq!(view.len().unwrap(), expected.len());
    let raw: Vec<_> = view.iter_raw().map(|kv| kv.expect("well-formed KeyValue").0).collect();
    assert_eq!(raw, expected.iter().map(|kv| kv.key.as_bytes()).collect::<Vec<_>>());
    for ((k, v), e) in got.into_iter().zip(expected) {
        assert_eq!(k, e.key);
        check_any(v, e.value.as_ref());
    }
    let keys = KEYS.iter().copied().chain(expected.iter().map(|kv| kv.key.as_str())).chain(["never.generated!"]);
    for key in keys {
        let last = expected.iter().rev().find(|kv| kv.key == key);
        match (view.get(key).expect("well-formed attributes"), last) {
            (None, None) => {}
            (Some(v), Some(kv)) => check_any(v, kv.value.as_ref()),
            (got, want) => panic!("attribute {key:?}: view has {got:?}, prost has {want:?}"),
        }
    }
}

fn check_resource_group(view: ResourceGroupView<'_>, resource: &Option<Resource>, schema_url: &str) {
    assert_eq!(view.schema_url().unwrap(), schema_url);
    let r = view.resource().unwrap();
    let attrs = resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
    check_attributes(r.attributes(), attrs);
    let service_name = attrs.iter().rev().find(|kv| kv.key == "service.name").and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    });
    assert_eq!(r.service_name().unwrap(), service_name);
    assert_eq!(r.dropped_attributes_count().unwrap(), resource.as_ref().map_or(0, |r| r.dropped_attributes_count));
    let refs: Vec<_> = r.entity_refs().map(Result::unwrap).collect();
    let expected = resource.as_ref().map_or(&[][..], |r| &r.entity_refs[..]);
    assert_eq!(refs.len(), expected.len());
    for (v, e) in refs.into_iter().zip(expected) {
        assert_eq!(v.schema_url().unwrap(), e.schema_url);
        assert_eq!(v.entity_type().unwrap(), e.r#type);
        assert_eq!(v.id_keys().collect::<Result<Vec<_>, _>>().unwrap(), e.id_keys);
        assert_eq!(v.description_keys().collect::<Result<Vec<_>, _>>().unwrap(), e.description_keys);
    }
}

fn check_scope_group(view: ScopeGroupView<'_>, scope: &Option<InstrumentationScope>, schema_url: &str) {
    assert_eq!(view.schema_url().unwrap(), schema_url);
    let s = view.scope().unwrap();
    let default = InstrumentationScope::default();
    let scope = scope.as_ref().unwrap_or(&default);
    assert_eq!(s.name().unwrap(), scope.name);
    assert_eq!(s.version().unwrap(), scope.version);
    check_attributes(s.attributes(), &scope.attributes);
    assert_eq!(s.name_bytes().unwrap(), scope.name.as_bytes());
    assert_eq!(s.version_bytes().unwrap(), scope.version.as_bytes());
    assert_eq!(s.dropped_attributes_count().unwrap(), scope.dropped_attributes_count);
    assert_eq!(view.schema_url_bytes().unwrap(), schema_url.as_bytes());
}

fn check_span(view: SpanView<'_>, span: &Span) {
    let f = view.fields().unwrap();
    assert_eq!(f.trace_id, &span.trace_id[..]);
    assert_eq!(f.span_id, &span.span_id[..]);
    assert_eq!(f.trace_state, span.trace_state);
    assert_eq!(f.parent_span_id, &span.parent_span_id[..]);
    assert_eq!(f.name, span.name);
    assert_eq!(f.kind, span.kind);
    assert_eq!(f.start_time_unix_nano, span.start_time_unix_nano);
    assert_eq!(f.end_time_unix_nano, span.end_time_unix_nano);
    assert_eq!(f.status_code, span.status.as_ref().map_or(0, |s| s.code));
    assert_eq!(f.status_message, span.status.as_ref().map_or("", |s| s.message.as_str()));
    assert_eq!(f.flags, span.flags);

    assert_eq!(view.trace_id().unwrap(), &span.trace_id[..]);
    assert_eq!(view.span_id().unwrap(), &span.span_id[..]);
    assert_eq!(view.parent_span_id().unwrap(), &span.parent_span_id[..]);
    assert_eq!(view.name().unwrap(), span.name);
    let kind = match span::SpanKind::try_from(span.kind) {
        Ok(span::SpanKind::Internal) => SpanKind::Internal,
        Ok(span::SpanKind::Server) => SpanKind::Server,
        Ok(span::SpanKind::Client) => SpanKind::Client,
        Ok(span::SpanKind::Producer) => SpanKind::Producer,
        Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
        Ok(span::SpanKind::Unspecified) | Err(_) => SpanKind::Unspecified,
    };
    assert_eq!(view.kind().unwrap(), kind);
    let code = match span.status.as_ref().map(|s| status::StatusCode::try_from(s.code)) {
        Some(Ok(status::StatusCode::Ok)) => StatusCode::Ok,
        Some(Ok(status::StatusCode::Error)) => StatusCode::Error,
        _ => StatusCode::Unset,
    };
    assert_eq!(view.status_code().unwrap(), code);
    check_attributes(view.attributes(), &span.attributes);
    assert_eq!(view.event_and_link_counts().unwrap(), (span.events.len(), span.links.len()));
    assert_eq!(Span::decode(view.bytes()).unwrap(), *span, "the item bytes are the span");

    // The one-pass reader's attribute range, and every field through its own accessor.
    check_attributes(f.attributes, &span.attributes);
    assert_eq!(view.trace_state().unwrap(), span.trace_state);
    assert_eq!(view.flags().unwrap(), span.flags);
    assert_eq!(view.start_time_unix_nano().unwrap(), span.start_time_unix_nano);
    assert_eq!(view.end_time_unix_nano().unwrap(), span.end_time_unix_nano);
    assert_eq!(view.dropped_attributes_count().unwrap(), span.dropped_attributes_count);
    assert_eq!(view.dropped_events_count().unwrap(), span.dropped_events_count);
    assert_eq!(view.dropped_links_count().unwrap(), span.dropped_links_count);
    let status = view.status().unwrap();
    assert_eq!(status.code().unwrap(), span.status.as_ref().map_or(0, |s| s.code));
    assert_eq!(status.message().unwrap(), span.status.as_ref().map_or("", |s| s.message.as_str()));
    let events: Vec<_> = view.events().map(Result::unwrap).collect();
    assert_eq!(events.len(), span.events.len());
    for (v, e) in events.into_iter().zip(&span.events) {
        check_event(v, e);
    }
    let links: Vec<_> = view.links().map(Result::unwrap).collect();
    assert_eq!(links.len(), span.links.len());
    for (v, l) in links.into_iter().zip(&span.links) {
        check_link(v, l);
    }
}

fn check_event(view: EventView<'_>, e: &span::Event) {
    assert_eq!(view.time_unix_nano().unwrap(), e.time_unix_nano);
    assert_eq!(view.name().unwrap(), e.name);
    assert_eq!(view.name_bytes().unwrap(), e.name.as_bytes());
    check_attributes(view.attributes(), &e.attributes);
    assert_eq!(view.dropped_attributes_count().unwrap(), e.dropped_attributes_count);
    assert_eq!(span::Event::decode(view.bytes()).unwrap(), *e);
}

fn check_link(view: LinkView<'_>, l: &span::Link) {
    assert_eq!(view.trace_id().unwrap(), &l.trace_id[..]);
    assert_eq!(view.span_id().unwrap(), &l.span_id[..]);
    assert_eq!(view.trace_state().unwrap(), l.trace_state);
    assert_eq!(view.trace_state_bytes().unwrap(), l.trace_state.as_bytes());
    check_attributes(view.attributes(), &l.attributes);
    assert_eq!(view.dropped_attributes_count().unwrap(), l.dropped_attributes_count);
    assert_eq!(view.flags().unwrap(), l.flags);
    assert_eq!(span::Link::decode(view.bytes()).unwrap(), *l);
}

fn check_log_record(view: LogRecordView<'_>, record: &LogRecord) {
    let f = view.fields().unwrap();
    assert_eq!(f.time_unix_nano, record.time_unix_nano);
    assert_eq!(f.observed_time_unix_nano, record.observed_time_unix_nano);
    assert_eq!(f.severity_number, record.severity_number);
    assert_eq!(f.severity_text, record.severity_text);
    match (f.body, &record.body) {
        (None, None) => {}
        (Some(v), Some(b)) => check_any(v, Some(b)),
        (got, want) => panic!("body: view has {got:?}, prost has {want:?}"),
    }
    assert_eq!(f.flags, record.flags);
    assert_eq!(f.trace_id, &record.trace_id[..]);
    assert_eq!(f.span_id, &record.span_id[..]);
    assert_eq!(f.event_name, record.event_name);
    check_attributes(view.attributes(), &record.attributes);
    assert_eq!(LogRecord::decode(view.bytes()).unwrap(), *record);

    check_attributes(f.attributes, &record.attributes);
    assert_eq!(view.time_unix_nano().unwrap(), record.time_unix_nano);
    assert_eq!(view.observed_time_unix_nano().unwrap(), record.observed_time_unix_nano);
    assert_eq!(view.severity_number().unwrap(), record.severity_number);
    assert_eq!(view.severity_text().unwrap(), record.severity_text);
    match (view.body().unwrap(), &record.body) {
        (None, None) => {}
        (Some(v), Some(b)) => check_any(v, Some(b)),
        (got, want) => panic!("body: view has {got:?}, prost has {want:?}"),
    }
    assert_eq!(view.dropped_attributes_count().unwrap(), record.dropped_attributes_count);
    assert_eq!(view.flags().unwrap(), record.flags);
    assert_eq!(view.trace_id().unwrap(), &record.trace_id[..]);
    assert_eq!(view.span_id().unwrap(), &record.span_id[..]);
    assert_eq!(view.event_name().unwrap(), record.event_name);
}

fn check_metric(view: MetricView<'_>, m: &Metric) {
    use metric::Data;
    assert_eq!(view.name().unwrap(), m.name);
    assert_eq!(view.description().unwrap(), m.description);
    assert_eq!(view.unit().unwrap(), m.unit);
    let kind = match &m.data {
        None => MetricKind::Empty,
        Some(Data::Gauge(_)) => MetricKind::Gauge,
        Some(Data::Sum(_)) => MetricKind::Sum,
        Some(Data::Histogram(_)) => MetricKind::Histogram,
        Some(Data::ExponentialHistogram(_)) => MetricKind::ExponentialHistogram,
        Some(Data::Summary(_)) => MetricKind::Summary,
    };
    assert_eq!(view.data().unwrap().0, kind);
    assert_eq!(view.data_point_count().unwrap(), data_points(m));
    assert_eq!(view.data_points().unwrap().count(), data_points(m));
    assert_eq!(Metric::decode(view.bytes()).unwrap(), *m);

    check_attributes(view.metadata(), &m.metadata);
    assert_eq!(view.kind().unwrap(), kind);
    let data = view.typed_data().unwrap();
    assert_eq!(data.kind(), kind);
    assert_eq!(data.bytes(), view.data().unwrap().1);
    let (temporality, monotonic) = match &m.data {
        Some(Data::Sum(s)) => (Some(s.aggregation_temporality), Some(s.is_monotonic)),
        Some(Data::Histogram(h)) => (Some(h.aggregation_temporality), None),
        Some(Data::ExponentialHistogram(e)) => (Some(e.aggregation_temporality), None),
        _ => (None, None),
    };
    assert_eq!(data.aggregation_temporality().unwrap(), temporality);
    assert_eq!(data.is_monotonic().unwrap(), monotonic);
    let points: Vec<DataPointView<'_>> = data.data_points().map(Result::unwrap).collect();
    assert_eq!(points.len(), data_points(m));
    match (&m.data, data) {
        (None, MetricData::Empty) => {}
        (Some(Data::Gauge(g)), MetricData::Gauge(v)) => check_number_points(v.data_points(), &g.data_points),
        (Some(Data::Sum(s)), MetricData::Sum(v)) => {
            assert_eq!(v.aggregation_temporality().unwrap(), s.aggregation_temporality);
            assert_eq!(v.is_monotonic().unwrap(), s.is_monotonic);
            check_number_points(v.data_points(), &s.data_points)
        }
        (Some(Data::Histogram(h)), MetricData::Histogram(v)) => {
            assert_eq!(v.aggregation_temporality().unwrap(), h.aggregation_temporality);
            let views: Vec<_> = v.data_points().map(Result::unwrap).collect();
            assert_eq!(views.len(), h.data_points.len());
            views.into_iter().zip(&h.data_points).for_each(|(v, p)| check_histogram_point(v, p));
        }
        (Some(Data::ExponentialHistogram(e)), MetricData::ExponentialHistogram(v)) => {
            assert_eq!(v.aggregation_temporality().unwrap(), e.aggregation_temporality);
            let views: Vec<_> = v.data_points().map(Result::unwrap).collect();
            assert_eq!(views.len(), e.data_points.len());
            views.into_iter().zip(&e.data_points).for_each(|(v, p)| check_exponential_point(v, p));
        }
        (Some(Data::Summary(s)), MetricData::Summary(v)) => {
            let views: Vec<_> = v.data_points().map(Result::unwrap).collect();
            assert_eq!(views.len(), s.data_points.len());
            views.into_iter().zip(&s.data_points).for_each(|(v, p)| check_summary_point(v, p));
        }
        (want, got) => panic!("data: view has {got:?}, prost has {want:?}"),
    }
    // The kind-independent view of each point agrees with the typed one.
    for p in points {
        let (attributes, start, time, flags, exemplars) = match p {
            DataPointView::Number(v) => {
                let f = v.fields().unwrap();
                (v.attributes(), f.start_time_unix_nano, f.time_unix_nano, f.flags, v.exemplars().count())
            }
            DataPointView::Histogram(v) => {
                let f = v.fields().unwrap();
                (v.attributes(), f.start_time_unix_nano, f.time_unix_nano, f.flags, v.exemplars().count())
            }
            DataPointView::ExponentialHistogram(v) => {
                let f = v.fields().unwrap();
                (v.attributes(), f.start_time_unix_nano, f.time_unix_nano, f.flags, v.exemplars().count())
            }
            DataPointView::Summary(v) => {
                let f = v.fields().unwrap();
                (v.attributes(), f.start_time_unix_nano, f.time_unix_nano, f.flags, 0)
            }
        };
        let keys = |a: Attributes<'_>| a.iter_raw().map(|kv| kv.unwrap().0.to_vec()).collect::<Vec<_>>();
        assert_eq!(keys(p.attributes()), keys(attributes));
        assert_eq!(p.start_time_unix_nano().unwrap(), start);
        assert_eq!(p.time_unix_nano().unwrap(), time);
        assert_eq!(p.flags().unwrap(), flags);
        assert_eq!(p.exemplars().count(), exemplars);
    }
}

fn check_number_points<'a>(
    views: impl Iterator<Item = Result<NumberDataPointView<'a>, WireError>>,
    points: &[NumberDataPoint],
) {
    let views: Vec<_> = views.map(Result::unwrap).collect();
    assert_eq!(views.len(), points.len());
    for (v, p) in views.into_iter().zip(points) {
        let value = p.value.map(|v| match v {
            number_data_point::Value::AsDouble(d) => NumberValue::Double(d),
            number_data_point::Value::AsInt(i) => NumberValue::Int(i),
        });
        let f = v.fields().unwrap();
        assert_eq!(f.start_time_unix_nano, p.start_time_unix_nano);
        assert_eq!(f.time_unix_nano, p.time_unix_nano);
        assert_eq!(f.value, value);
        assert_eq!(f.flags, p.flags);
        check_attributes(v.attributes(), &p.attributes);
        assert_eq!(v.start_time_unix_nano().unwrap(), p.start_time_unix_nano);
        assert_eq!(v.time_unix_nano().unwrap(), p.time_unix_nano);
        assert_eq!(v.value().unwrap(), value);
        assert_eq!(v.flags().unwrap(), p.flags);
        check_exemplars(v.exemplars(), &p.exemplars);
        assert_eq!(NumberDataPoint::decode(v.bytes()).unwrap(), *p);
    }
}

fn check_histogram_point(v: HistogramDataPointView<'_>, p: &HistogramDataPoint) {
    let f = v.fields().unwrap();
    assert_eq!(f.start_time_unix_nano, p.start_time_unix_nano);
    assert_eq!(f.time_unix_nano, p.time_unix_nano);
    assert_eq!(f.count, p.count);
    assert_eq!(f.sum, p.sum);
    assert_eq!(f.flags, p.flags);
    assert_eq!(f.min, p.min);
    assert_eq!(f.max, p.max);
    check_attributes(v.attributes(), &p.attributes);
    assert_eq!(v.start_time_unix_nano().unwrap(), p.start_time_unix_nano);
    assert_eq!(v.time_unix_nano().unwrap(), p.time_unix_nano);
    assert_eq!(v.count().unwrap(), p.count);
    assert_eq!(v.sum().unwrap(), p.sum);
    assert_eq!(v.bucket_counts().collect::<Result<Vec<_>, _>>().unwrap(), p.bucket_counts);
    assert_eq!(v.bucket_counts().checked_len().unwrap(), p.bucket_counts.len());
    assert_eq!(v.explicit_bounds().collect::<Result<Vec<_>, _>>().unwrap(), p.explicit_bounds);
    assert_eq!(v.explicit_bounds().checked_len().unwrap(), p.explicit_bounds.len());
    check_exemplars(v.exemplars(), &p.exemplars);
    assert_eq!(v.flags().unwrap(), p.flags);
    assert_eq!(v.min().unwrap(), p.min);
    assert_eq!(v.max().unwrap(), p.max);
    assert_eq!(HistogramDataPoint::decode(v.bytes()).unwrap(), *p);
}

fn check_buckets(v: Option<super::views::BucketsView<'_>>, b: &Option<Buckets>) {
    match (v, b) {
        (None, None) => {}
        (Some(v), Some(b)) => {
            assert_eq!(v.offset().unwrap(), b.offset);
            assert_eq!(v.bucket_counts().collect::<Result<Vec<_>, _>>().unwrap(), b.bucket_counts);
            assert_eq!(Buckets::decode(v.bytes()).unwrap(), *b);
        }
        (got, want) => panic!("buckets: view has {got:?}, prost has {want:?}"),
    }
}

fn check_exponential_point(v: ExponentialHistogramDataPointView<'_>, p: &ExponentialHistogramDataPoint) {
    let f = v.fields().unwrap();
    assert_eq!(f.start_time_unix_nano, p.start_time_unix_nano);
    assert_eq!(f.time_unix_nano, p.time_unix_nano);
    assert_eq!(f.count, p.count);
    assert_eq!(f.sum, p.sum);
    assert_eq!(f.scale, p.scale);
    assert_eq!(f.zero_count, p.zero_count);
    check_buckets(f.positive, &p.positive);
    check_buckets(f.negative, &p.negative);
    assert_eq!(f.flags, p.flags);
    assert_eq!(f.min, p.min);
    assert_eq!(f.max, p.max);
    assert_eq!(f.zero_threshold, p.zero_threshold);
    check_attributes(v.attributes(), &p.attributes);
    assert_eq!(v.start_time_unix_nano().unwrap(), p.start_time_unix_nano);
    assert_eq!(v.time_unix_nano().unwrap(), p.time_unix_nano);
    assert_eq!(v.count().unwrap(), p.count);
    assert_eq!(v.sum().unwrap(), p.sum);
    assert_eq!(v.scale().unwrap(), p.scale);
    assert_eq!(v.zero_count().unwrap(), p.zero_count);
    let or_default = |b: &Option<Buckets>| b.clone().unwrap_or_default();
    let positive = v.positive().unwrap();
    assert_eq!((positive.offset().unwrap(), positive.bucket_counts().collect::<Result<Vec<_>, _>>().unwrap()), {
        let b = or_default(&p.positive);
        (b.offset, b.bucket_counts)
    });
    let negative = v.negative().unwrap();
    assert_eq!((negative.offset().unwrap(), negative.bucket_counts().collect::<Result<Vec<_>, _>>().unwrap()), {
        let b = or_default(&p.negative);
        (b.offset, b.bucket_counts)
    });
    assert_eq!(v.flags().unwrap(), p.flags);
    check_exemplars(v.exemplars(), &p.exemplars);
    assert_eq!(v.min().unwrap(), p.min);
    assert_eq!(v.max().unwrap(), p.max);
    assert_eq!(v.zero_threshold().unwrap(), p.zero_threshold);
    assert_eq!(ExponentialHistogramDataPoint::decode(v.bytes()).unwrap(), *p);
}

fn check_summary_point(v: SummaryDataPointView<'_>, p: &SummaryDataPoint) {
    let f = v.fields().unwrap();
    assert_eq!(f.start_time_unix_nano, p.start_time_unix_nano);
    assert_eq!(f.time_unix_nano, p.time_unix_nano);
    assert_eq!(f.count, p.count);
    assert_eq!(f.sum, p.sum, "-0.0 is not encoded: reads as 0.0");
    assert_eq!(f.flags, p.flags);
    check_attributes(v.attributes(), &p.attributes);
    assert_eq!(v.start_time_unix_nano().unwrap(), p.start_time_unix_nano);
    assert_eq!(v.time_unix_nano().unwrap(), p.time_unix_nano);
    assert_eq!(v.count().unwrap(), p.count);
    assert_eq!(v.sum().unwrap(), p.sum);
    assert_eq!(v.flags().unwrap(), p.flags);
    let quantiles: Vec<_> = v.quantile_values().map(Result::unwrap).collect();
    assert_eq!(quantiles.len(), p.quantile_values.len());
    for (q, want) in quantiles.into_iter().zip(&p.quantile_values) {
        assert_eq!(q.get().unwrap(), (want.quantile, want.value));
        assert_eq!((q.quantile().unwrap(), q.value().unwrap()), (want.quantile, want.value));
    }
    assert_eq!(SummaryDataPoint::decode(v.bytes()).unwrap(), *p);
}

fn check_exemplars<'a>(views: impl Iterator<Item = Result<ExemplarView<'a>, WireError>>, exemplars: &[Exemplar]) {
    let views: Vec<_> = views.map(Result::unwrap).collect();
    assert_eq!(views.len(), exemplars.len());
    for (v, e) in views.into_iter().zip(exemplars) {
        check_attributes(v.filtered_attributes(), &e.filtered_attributes);
        assert_eq!(v.time_unix_nano().unwrap(), e.time_unix_nano);
        let value = e.value.map(|v| match v {
            exemplar::Value::AsDouble(d) => NumberValue::Double(d),
            exemplar::Value::AsInt(i) => NumberValue::Int(i),
        });
        assert_eq!(v.value().unwrap(), value);
        assert_eq!(v.span_id().unwrap(), &e.span_id[..]);
        assert_eq!(v.trace_id().unwrap(), &e.trace_id[..]);
        assert_eq!(Exemplar::decode(v.bytes()).unwrap(), *e);
    }
}

/// Walks `bytes` with the views and checks every resource and scope group against `expected`,
/// handing each pair of items to `check_item`.
fn check_groups<R: Request, I>(
    bytes: &[u8],
    expected: &R,
    scopes_of: impl Fn(&R::Group) -> (Header<Resource>, Vec<(Header<InstrumentationScope>, Vec<I>)>),
    check_item: impl Fn(&[u8], &I),
) {
    let groups: Vec<_> = RequestView::new(bytes).resources().map(Result::unwrap).collect();
    assert_eq!(groups.len(), expected.groups().len());
    for (rg, group) in groups.into_iter().zip(expected.groups()) {
        let ((resource, schema_url), scopes) = scopes_of(group);
        check_resource_group(rg, &resource, &schema_url);
        let sgs: Vec<_> = rg.scopes().map(Result::unwrap).collect();
        assert_eq!(sgs.len(), scopes.len());
        for (sg, ((scope, schema_url), items)) in sgs.into_iter().zip(scopes) {
            check_scope_group(sg, &scope, &schema_url);
            let views: Vec<_> = sg.items().map(Result::unwrap).collect();
            assert_eq!(views.len(), items.len());
            for (v, item) in views.into_iter().zip(&items) {
                check_item(v, item);
            }
        }
    }
    let payload = Payload::new(R::SIGNAL, Bytes::copy_from_slice(bytes)).unwrap();
    assert_eq!(payload.items(), expected.items());
    assert_eq!(payload.len(), bytes.len());
    assert_eq!(payload.is_empty(), expected.items() == 0);
}

fn check_traces(bytes: &[u8], req: &ExportTraceServiceRequest) {
    check_groups(
        bytes,
        req,
        |rs: &ResourceSpans| {
            let scopes =
                rs.scope_spans.iter().map(|ss| ((ss.scope.clone(), ss.schema_url.clone()), ss.spans.clone())).collect();
            ((rs.resource.clone(), rs.schema_url.clone()), scopes)
        },
        |b, span| check_span(SpanView::new(b), span),
    );
    // The typed iterator sees the same spans as the raw one.
    let n: usize = RequestView::new(bytes)
        .resources()
        .flat_map(|rg| rg.unwrap().scopes())
        .map(|sg| sg.unwrap().spans().count())
        .sum();
    assert_eq!(n, req.items());
}

fn check_logs(bytes: &[u8], req: &ExportLogsServiceRequest) {
    check_groups(
        bytes,
        req,
        |rl: &ResourceLogs| {
            let scopes = rl
                .scope_logs
                .iter()
                .map(|sl| ((sl.scope.clone(), sl.schema_url.clone()), sl.log_records.clone()))
                .collect();
            ((rl.resource.clone(), rl.schema_url.clone()), scopes)
        },
        |b, record| check_log_record(LogRecordView::new(b), record),
    );
}

fn check_metrics(bytes: &[u8], req: &ExportMetricsServiceRequest) {
    check_groups(
        bytes,
        req,
        |rm: &ResourceMetrics| {
            let scopes = rm
                .scope_metrics
                .iter()
                .map(|sm| ((sm.scope.clone(), sm.schema_url.clone()), sm.metrics.clone()))
                .collect();
            ((rm.resource.clone(), rm.schema_url.clone()), scopes)
        },
        |b, m| check_metric(MetricView::new(b), m),
    );
    let metrics: usize = RequestView::new(bytes)
        .resources()
        .flat_map(|rg| rg.unwrap().scopes())
        .map(|sg| sg.unwrap().metrics().count())
        .sum();
    assert_eq!(metrics, req.flatten().len());
}

// ---------------------------------------------------------------------------------------------
// Concatenation and splitting compared with prost
// ---------------------------------------------------------------------------------------------

fn check_concat<R: Request>(a: &R, b: &R) {
    let (pa, pb) = (a.payload(), b.payload());
    let joined = Payload::concat(&[pa.clone(), pb.clone()]);
    assert_eq!(joined.signal(), R::SIGNAL);
    assert_eq!(joined.items(), pa.items() + pb.items());
    assert_eq!(joined.len(), pa.len() + pb.len());
    let decoded = R::decode(joined.bytes().clone()).expect("concatenation decodes");
    let expected: Vec<_> = a.groups().iter().chain(b.groups()).cloned().collect();
    assert_eq!(decoded.groups(), &expected[..]);
    // The count of the joined bytes, taken afresh, agrees.
    assert_eq!(Payload::new(R::SIGNAL, joined.bytes().clone()).unwrap().items(), joined.items());
}

fn check_split<R: Request>(req: &R, max: usize) {
    let payload = req.payload();
    let parts = payload.split(max).expect("split of well-formed bytes");
    assert!(!parts.is_empty());
    assert_eq!(parts.iter().map(Payload::items).sum::<usize>(), payload.items(), "items are neither lost nor doubled");
    if payload.items() <= max {
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].bytes(), payload.bytes(), "a payload within the limit travels as it is");
        return;
    }
    let mut flattened = Vec::new();
    let mut decoded_parts = Vec::new();
    for part in &parts {
        assert_eq!(part.signal(), R::SIGNAL);
        let decoded = R::decode(part.bytes().clone()).expect("a part decodes");
        let triples = decoded.flatten();
        assert_eq!(part.items(), decoded.items(), "the part's count is its content's");
        assert_eq!(Payload::new(R::SIGNAL, part.bytes().clone()).unwrap().items(), part.items());
        assert!(part.items() > 0, "no part is empty: {parts:?}");
        if part.items() > max {
            assert_eq!(R::SIGNAL, Signal::Metrics, "only a metric may exceed the limit");
            let heavy: Vec<_> = triples.iter().filter(|(_, _, i)| R::weight(i) > 0).collect();
            assert_eq!(heavy.len(), 1, "a part over the limit holds one metric: {triples:?}");
            assert!(R::weight(&heavy[0].2) > max);
        }
        flattened.extend(triples.iter().cloned());
        decoded_parts.push(triples);
    }
    assert_eq!(flattened, req.flatten(), "every item, with its resource and scope, in order");
    // Greedy: a part was closed only because the next item would not fit.
    for (i, next) in decoded_parts.iter().enumerate().skip(1) {
        let first = next.iter().map(|(_, _, item)| R::weight(item)).find(|&w| w > 0).unwrap();
        assert!(parts[i - 1].items() + first > max, "part {} could have taken the next item", i - 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn trace_views_agree_with_prost(req in traces()) {
        check_traces(&req.encode_to_vec(), &req);
    }

    #[test]
    fn log_views_agree_with_prost(req in logs()) {
        check_logs(&req.encode_to_vec(), &req);
    }

    #[test]
    fn metric_views_agree_with_prost(req in metrics()) {
        check_metrics(&req.encode_to_vec(), &req);
    }

    #[test]
    fn concat_of_traces_is_the_union_of_resource_groups(a in traces(), b in traces()) {
        check_concat(&a, &b);
    }

    #[test]
    fn concat_of_logs_is_the_union_of_resource_groups(a in logs(), b in logs()) {
        check_concat(&a, &b);
    }

    #[test]
    fn concat_of_metrics_is_the_union_of_resource_groups(a in metrics(), b in metrics()) {
        check_concat(&a, &b);
    }

    #[test]
    fn split_traces_keeps_every_span_in_order(req in traces(), max in 1usize..8) {
        check_split(&req, max);
    }

    #[test]
    fn split_logs_keeps_every_record_in_order(req in logs(), max in 1usize..8) {
        check_split(&req, max);
    }

    #[test]
    fn split_metrics_keeps_every_metric_in_order(req in metrics(), max in 1usize..8) {
        check_split(&req, max);
    }

    /// Cutting a request anywhere but at a boundary between resource groups leaves a field
    /// that claims more bytes than remain.
    #[test]
    fn truncated_requests_are_refused(req in traces(), cut in any::<prop::sample::Index>()) {
        let bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let boundaries: Vec<usize> = Fields::new(&bytes).map(|f| f.unwrap().end).collect();
        let cut = cut.index(bytes.len());
        prop_assume!(cut > 0 && !boundaries.contains(&cut));
        let err = Payload::new(Signal::Traces, Bytes::copy_from_slice(&bytes[..cut])).unwrap_err();
        prop_assert!(matches!(err, WireError::Truncated | WireError::BadVarint), "{err:?}");
    }

    /// Views never panic, whatever the bytes: malformed input is an error.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256), signal in prop::sample::select(Signal::ALL.to_vec())) {
        walk_everything(signal, &bytes);
    }

    /// As above, from valid requests with one byte changed, which reach deeper.
    #[test]
    fn corrupted_requests_never_panic(req in metrics(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let i = at.index(bytes.len());
        bytes[i] = byte;
        walk_everything(Signal::Metrics, &bytes);
    }

    #[test]
    fn corrupted_traces_never_panic(req in traces(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let i = at.index(bytes.len());
        bytes[i] = byte;
        walk_everything(Signal::Traces, &bytes);
    }

    #[test]
    fn corrupted_logs_never_panic(req in logs(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let i = at.index(bytes.len());
        bytes[i] = byte;
        walk_everything(Signal::Logs, &bytes);
    }

    /// Histogram buckets and bounds, exponential buckets: the unpacked encoding (one field per
    /// element, as proto2 writers and some proto3 ones send it) reads like the packed one.
    #[test]
    fn unpacked_repeated_scalars_read_like_packed(p in histogram_point(), e in exponential_point()) {
        let packed = p.encode_to_vec();
        let unpacked = unpack_histogram_point(&packed);
        prop_assert_eq!(HistogramDataPoint::decode(&unpacked[..]).unwrap(), p.clone(), "prost reads both");
        check_histogram_point(HistogramDataPointView::new(&unpacked), &p);
        let unpacked = unpack_exponential_point(&e.encode_to_vec());
        prop_assert_eq!(ExponentialHistogramDataPoint::decode(&unpacked[..]).unwrap(), e.clone());
        check_exponential_point(ExponentialHistogramDataPointView::new(&unpacked), &e);
    }
}

/// A histogram point re-encoded with `bucket_counts` and `explicit_bounds` unpacked.
fn unpack_histogram_point(packed: &[u8]) -> Vec<u8> {
    use super::proto::histogram_data_point::{BUCKET_COUNTS, EXPLICIT_BOUNDS};
    let v = HistogramDataPointView::new(packed);
    let mut out = Vec::new();
    edit::copy_fields(&mut out, packed, |f| f.number != BUCKET_COUNTS && f.number != EXPLICIT_BOUNDS).unwrap();
    for c in v.bucket_counts() {
        edit::write_fixed64_field(&mut out, BUCKET_COUNTS, c.unwrap());
    }
    for b in v.explicit_bounds() {
        edit::write_double_field(&mut out, EXPLICIT_BOUNDS, b.unwrap());
    }
    out
}

/// An exponential histogram point re-encoded with its buckets' counts unpacked.
fn unpack_exponential_point(packed: &[u8]) -> Vec<u8> {
    use super::proto::exponential_histogram_data_point::{buckets, NEGATIVE, POSITIVE};
    let v = ExponentialHistogramDataPointView::new(packed);
    let f = v.fields().unwrap();
    let mut out = Vec::new();
    edit::copy_fields(&mut out, packed, |f| f.number != POSITIVE && f.number != NEGATIVE).unwrap();
    for (number, b) in [(POSITIVE, f.positive), (NEGATIVE, f.negative)] {
        let Some(b) = b else { continue };
        let mut body = Vec::new();
        edit::copy_fields(&mut body, b.bytes(), |f| f.number != buckets::BUCKET_COUNTS).unwrap();
        for c in b.bucket_counts() {
            edit::write_varint_field(&mut body, buckets::BUCKET_COUNTS, c.unwrap());
        }
        edit::write_bytes_field(&mut out, number, &body);
    }
    out
}

/// Reads everything the views offer, ignoring errors; counts must agree when the count succeeds.
fn walk_everything(signal: Signal, bytes: &[u8]) {
    fn walk_attributes(a: Attributes<'_>) {
        for (_, v) in a.iter().flatten() {
            if let Ok(Av::KvList(b)) = v.get() {
                walk_attributes(Attributes::new(b, 1));
            }
            if let Some(array) = v.as_array() {
                let _ = array.len();
                for v in array.values().flatten() {
                    let _ = (v.get(), v.as_bytes());
                }
            }
        }
        let _ = (a.get("service.name"), a.len());
    }
    fn walk_exemplars<'a>(exemplars: impl Iterator<Item = Result<ExemplarView<'a>, WireError>>) {
        for e in exemplars.flatten() {
            walk_attributes(e.filtered_attributes());
            let _ = (e.time_unix_nano(), e.value(), e.span_id(), e.trace_id());
        }
    }
    fn walk_metric(m: MetricView<'_>) {
        let _ = (m.description(), m.unit(), m.kind());
        walk_attributes(m.metadata());
        let Ok(data) = m.typed_data() else { return };
        let _ = (data.aggregation_temporality(), data.is_monotonic());
        for p in data.data_points().flatten() {
            walk_attributes(p.attributes());
            let _ = (p.start_time_unix_nano(), p.time_unix_nano(), p.flags());
            walk_exemplars(p.exemplars());
            match p {
                DataPointView::Number(v) => {
                    let _ = (v.fields(), v.value());
                }
                DataPointView::Histogram(v) => {
                    let _ = (v.fields(), v.count(), v.sum(), v.min(), v.max());
                    let _ = (v.bucket_counts().count(), v.explicit_bounds().count(), v.bucket_counts().checked_len());
                }
                DataPointView::ExponentialHistogram(v) => {
                    let _ = (v.fields(), v.scale(), v.zero_count(), v.zero_threshold());
                    for b in [v.positive(), v.negative()].into_iter().flatten() {
                        let _ = (b.offset(), b.bucket_counts().count());
                    }
                }
                DataPointView::Summary(v) => {
                    let _ = (v.fields(), v.count(), v.sum());
                    for q in v.quantile_values().flatten() {
                        let _ = (q.get(), q.quantile(), q.value());
                    }
                }
            }
        }
    }
    let payload = Payload::new(signal, Bytes::copy_from_slice(bytes));
    let mut items = 0;
    for rg in RequestView::new(bytes).resources().flatten() {
        let _ = rg.schema_url();
        if let Ok(r) = rg.resource() {
            walk_attributes(r.attributes());
            let _ = r.service_name();
        }
        for sg in rg.scopes().flatten() {
            if let Ok(s) = sg.scope() {
                let _ = (s.name(), s.version());
                walk_attributes(s.attributes());
            }
            for item in sg.items().flatten() {
                match signal {
                    Signal::Traces => {
                        let s = SpanView::new(item);
                        let _ = (s.fields(), s.kind(), s.status_code(), s.event_and_link_counts());
                        walk_attributes(s.attributes());
                        if let Ok(f) = s.fields() {
                            walk_attributes(f.attributes);
                        }
                        let _ = (s.trace_state(), s.flags(), s.dropped_attributes_count(), s.dropped_links_count());
                        if let Ok(status) = s.status() {
                            let _ = (status.code(), status.message());
                        }
                        for e in s.events().flatten() {
                            let _ = (e.time_unix_nano(), e.name(), e.dropped_attributes_count());
                            walk_attributes(e.attributes());
                        }
                        for l in s.links().flatten() {
                            let _ = (l.trace_id(), l.span_id(), l.trace_state(), l.flags());
                            walk_attributes(l.attributes());
                        }
                        items += 1;
                    }
                    Signal::Logs => {
                        let l = LogRecordView::new(item);
                        if let Ok(Some(body)) = l.fields().map(|f| f.body) {
                            let _ = body.get();
                        }
                        walk_attributes(l.attributes());
                        if let Ok(f) = l.fields() {
                            walk_attributes(f.attributes);
                        }
                        let _ = (l.body(), l.severity_number(), l.event_name(), l.dropped_attributes_count());
                        items += 1;
                    }
                    Signal::Metrics => {
                        let m = MetricView::new(item);
                        walk_metric(m);
                        let _ = (m.name(), m.data());
                        items += m.data_point_count().unwrap_or(0);
                    }
                }
            }
        }
    }
    if let Ok(p) = payload {
        assert_eq!(p.items(), items);
        let parts = p.split(2).expect("a payload that counted splits");
        assert_eq!(parts.iter().map(Payload::items).sum::<usize>(), p.items());
    }
}

// ---------------------------------------------------------------------------------------------
// Unit tests
// ---------------------------------------------------------------------------------------------

fn nested(field: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    wire::write_len_prefix(&mut out, field, body.len());
    out.extend_from_slice(body);
    out
}

/// One field of every wire type, numbered beyond anything OTLP defines.
fn unknown_fields() -> Vec<u8> {
    let mut out = Vec::new();
    wire::write_varint(&mut out, 1000 << 3);
    wire::write_varint(&mut out, 123_456_789);
    wire::write_varint(&mut out, (1001 << 3) | 1);
    out.extend_from_slice(&7u64.to_le_bytes());
    out.extend_from_slice(&nested(1002, b"not a field weir knows"));
    wire::write_varint(&mut out, (1003 << 3) | 5);
    out.extend_from_slice(&9u32.to_le_bytes());
    out
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn sample_span() -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: vec![3; 8],
        trace_state: "vendor=1".into(),
        name: "GET /users/{id}".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes: vec![kv("http.request.method", any_value::Value::StringValue("GET".into()))],
        status: Some(Status { message: "boom".into(), code: status::StatusCode::Error as i32 }),
        flags: 0x301,
        ..Default::default()
    }
}

fn one_span_request(span: Span) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", any_value::Value::StringValue("checkout".into()))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "lib".into(), version: "1.2".into(), ..Default::default() }),
                spans: vec![span],
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        }],
    }
}

#[test]
fn garbage_bytes_are_refused() {
    let cases: &[(&[u8], WireError)] = &[
        (&[0xff; 16], WireError::BadVarint),
        (&[0x0b, 0x0c], WireError::BadWireType(3)),
        (&[0x0e], WireError::BadWireType(6)),
        (&[0x02, 0x00], WireError::ZeroFieldNumber),
        (&[0x0a, 0x05, 0x01], WireError::Truncated),
        (&[0x09, 1, 2, 3], WireError::Truncated),
        // resource_spans as a varint
        (&[0x08, 0x01], WireError::UnexpectedWireType { field: 1, wire_type: 0 }),
        // a scope group whose item is garbage
        (&[0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0xff, 0xff], WireError::BadVarint),
    ];
    for (bytes, want) in cases {
        for signal in Signal::ALL {
            let got = Payload::new(signal, Bytes::copy_from_slice(bytes)).unwrap_err();
            assert_eq!(got, *want, "{signal} {bytes:02x?}");
        }
        assert!(ExportTraceServiceRequest::decode(*bytes).is_err(), "prost refuses {bytes:02x?} too");
    }
    assert_eq!(WireError::Truncated.to_string(), "a length-delimited field runs past the end of its message");
}

#[test]
fn malformed_metric_data_is_refused() {
    // metric { gauge { data_points: varint } }: a data point must be a message.
    let gauge = [0x08, 0x01];
    let metric = nested(5, &gauge);
    let request = nested(1, &nested(2, &nested(2, &metric)));
    let err = Payload::new(Signal::Metrics, Bytes::from(request)).unwrap_err();
    assert_eq!(err, WireError::UnexpectedWireType { field: 1, wire_type: 0 });
}

#[test]
fn truncated_message_is_refused() {
    let bytes = one_span_request(sample_span()).encode_to_vec();
    for cut in [1, 2, bytes.len() / 2, bytes.len() - 1] {
        let err = Payload::new(Signal::Traces, Bytes::copy_from_slice(&bytes[..cut])).unwrap_err();
        assert!(matches!(err, WireError::Truncated | WireError::BadVarint), "cut at {cut}: {err:?}");
    }
}

#[test]
fn empty_requests_have_no_items() {
    for signal in Signal::ALL {
        let p = Payload::new(signal, Bytes::new()).unwrap();
        assert_eq!(p.items(), 0);
        assert!(p.is_empty());
        assert_eq!(p.view().resources().count(), 0);
        assert_eq!(Payload::empty(signal).items(), 0);
        assert_eq!(p.split(1).unwrap().len(), 1);
    }
    // Resource and scope groups without items count nothing.
    let req = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans::default(),
            ResourceSpans { scope_spans: vec![ScopeSpans::default()], ..Default::default() },
        ],
    };
    let p = req.payload();
    assert_eq!(p.items(), 0);
    assert!(p.is_empty());
    assert!(!p.bytes().is_empty());
}

#[test]
fn any_value_of_each_type() {
    use any_value::Value as V;
    let array = ArrayValue {
        values: vec![
            AnyValue { value: Some(V::IntValue(1)) },
            AnyValue { value: Some(V::StringValue("two".into())) },
            AnyValue { value: None },
        ],
    };
    let kvlist = KeyValueList {
        values: vec![kv("a", V::BoolValue(true)), kv("b", V::DoubleValue(0.5)), kv("a", V::IntValue(-3))],
    };
    let cases = [
        None,
        Some(V::StringValue(String::new())),
        Some(V::StringValue("héllo".into())),
        Some(V::BoolValue(false)),
        Some(V::BoolValue(true)),
        Some(V::IntValue(0)),
        Some(V::IntValue(-1)),
        Some(V::IntValue(i64::MIN)),
        Some(V::IntValue(i64::MAX)),
        Some(V::DoubleValue(-0.0)),
        Some(V::DoubleValue(f64::INFINITY)),
        Some(V::DoubleValue(std::f64::consts::PI)),
        Some(V::BytesValue(vec![])),
        Some(V::BytesValue(vec![0, 159, 255])),
        Some(V::ArrayValue(array)),
        Some(V::KvlistValue(kvlist)),
    ];
    for value in cases {
        let any = AnyValue { value };
        let bytes = any.encode_to_vec();
        check_any(AnyValueView::new(&bytes), Some(&any));
    }

    // Spot checks of the raw results, independent of the checker above.
    let get = |v: V| {
        let b = AnyValue { value: Some(v) }.encode_to_vec();
        format!("{:?}", AnyValueView::new(&b).get().unwrap())
    };
    assert_eq!(get(V::StringValue("x".into())), "String(\"x\")");
    assert_eq!(get(V::BoolValue(true)), "Bool(true)");
    assert_eq!(get(V::IntValue(-2)), "Int(-2)");
    assert_eq!(get(V::DoubleValue(1.5)), "Double(1.5)");
    assert_eq!(get(V::BytesValue(vec![7])), "Bytes([7])");
    let b = AnyValue { value: Some(V::KvlistValue(KeyValueList { values: vec![kv("a", V::IntValue(1))] })) };
    let b = b.encode_to_vec();
    let Av::KvList(list) = AnyValueView::new(&b).get().unwrap() else { panic!("a kvlist") };
    assert_eq!(Attributes::new(list, 1).get("a").unwrap().unwrap().as_i64(), Some(1));
    assert_eq!(AnyValueView::new(&[]).get().unwrap(), Av::Empty);
    assert_eq!(AnyValueView::default().as_str(), None);
    // A string field that is not valid UTF-8 reads as empty rather than failing.
    assert_eq!(AnyValueView::new(&[0x0a, 0x01, 0xff]).get().unwrap(), Av::String(""));
    // A known field with the wrong wire type is an error.
    assert_eq!(
        AnyValueView::new(&[0x08, 0x01]).get().unwrap_err(),
        WireError::UnexpectedWireType { field: 1, wire_type: 0 }
    );
}

#[test]
fn unknown_fields_are_skipped_at_every_level() {
    let span = sample_span();
    let unknown = unknown_fields();

    // An attribute whose KeyValue and AnyValue both carry unknown fields.
    let any = [unknown.clone(), AnyValue { value: Some(any_value::Value::IntValue(42)) }.encode_to_vec()].concat();
    let key_value = [unknown.clone(), nested(1, b"answer"), nested(2, &any), unknown.clone()].concat();
    let span_bytes = [unknown.clone(), span.encode_to_vec(), nested(9, &key_value), unknown.clone()].concat();

    let scope = InstrumentationScope { name: "lib".into(), version: "1.2".into(), ..Default::default() };
    let scope_bytes = [unknown.clone(), scope.encode_to_vec()].concat();
    let sg = [unknown.clone(), nested(1, &scope_bytes), nested(2, &span_bytes), unknown.clone()].concat();
    let resource = Resource {
        attributes: vec![kv("service.name", any_value::Value::StringValue("checkout".into()))],
        ..Default::default()
    };
    let resource_bytes = [resource.encode_to_vec(), unknown.clone()].concat();
    let rg = [unknown.clone(), nested(1, &resource_bytes), nested(2, &sg), unknown.clone()].concat();
    let request = [unknown.clone(), nested(1, &rg), unknown.clone(), nested(1, &rg)].concat();

    // prost skips unknown fields too, so the views must agree with its reading.
    let decoded = ExportTraceServiceRequest::decode(&request[..]).unwrap();
    assert_eq!(decoded.resource_spans.len(), 2);
    check_traces(&request, &decoded);

    let payload = Payload::new(Signal::Traces, Bytes::from(request)).unwrap();
    assert_eq!(payload.items(), 2);
    let rg = payload.view().resources().next().unwrap().unwrap();
    assert_eq!(rg.resource().unwrap().service_name().unwrap(), Some("checkout"));
    let sg = rg.scopes().next().unwrap().unwrap();
    assert_eq!(sg.scope().unwrap().name().unwrap(), "lib");
    let s = sg.spans().next().unwrap().unwrap();
    assert_eq!(s.fields().unwrap().name, "GET /users/{id}");
    assert_eq!(s.attributes().get("answer").unwrap().unwrap().as_i64(), Some(42));

    // Splitting keeps the unknown fields of the headers and items byte for byte.
    let parts = payload.split(1).unwrap();
    assert_eq!(parts.len(), 2);
    for part in &parts {
        assert_eq!(part.items(), 1);
        let s = part.view().resources().next().unwrap().unwrap().scopes().next().unwrap().unwrap();
        assert_eq!(s.items().next().unwrap().unwrap(), &span_bytes[..]);
    }

    // A metric whose data message carries unknown fields: only field 1 are data points.
    let gauge = Gauge { data_points: vec![NumberDataPoint::default(); 3] };
    let data = [unknown.clone(), gauge.encode_to_vec(), unknown.clone()].concat();
    let metric = [nested(1, b"queue.size"), nested(5, &data), unknown.clone()].concat();
    let request = nested(1, &nested(2, &nested(2, &metric)));
    let payload = Payload::new(Signal::Metrics, Bytes::from(request)).unwrap();
    assert_eq!(payload.items(), 3);
    let decoded = payload.decode_metrics().unwrap();
    check_metrics(payload.bytes(), &decoded);
}

#[test]
fn span_views_read_every_field() {
    let req = one_span_request(sample_span());
    let payload = req.payload();
    assert_eq!(payload.items(), 1);
    let rg = payload.view().resources().next().unwrap().unwrap();
    assert_eq!(rg.schema_url().unwrap(), "https://opentelemetry.io/schemas/1.26.0");
    let sg = rg.scopes().next().unwrap().unwrap();
    assert_eq!(sg.scope().unwrap().version().unwrap(), "1.2");
    let span = sg.spans().next().unwrap().unwrap();
    let f = span.fields().unwrap();
    assert_eq!(f.trace_id, [1; 16]);
    assert_eq!(f.span_id, [2; 8]);
    assert_eq!(f.parent_span_id, [3; 8]);
    assert_eq!(f.trace_state, "vendor=1");
    assert_eq!(f.kind, 2);
    assert_eq!(span.kind().unwrap(), SpanKind::Server);
    assert_eq!(f.end_time_unix_nano - f.start_time_unix_nano, 250_000_000);
    assert_eq!((f.status_code, f.status_message), (2, "boom"));
    assert_eq!(span.status_code().unwrap(), StatusCode::Error);
    assert_eq!(f.flags, 0x301);
    assert_eq!(span.attributes().get("http.request.method").unwrap().unwrap().as_str(), Some("GET"));
    assert!(span.attributes().get("missing").unwrap().is_none());
}

#[test]
fn split_cuts_inside_groups_and_rewraps_headers() {
    let spans: Vec<Span> = (0..5u8).map(|i| Span { span_id: vec![i; 8], ..sample_span() }).collect();
    let mut req = one_span_request(Span::default());
    req.resource_spans[0].scope_spans[0].spans = spans;
    let payload = req.payload();
    let parts = payload.split(2).unwrap();
    assert_eq!(parts.iter().map(Payload::items).collect::<Vec<_>>(), [2, 2, 1]);
    for part in &parts {
        let d = part.decode_traces().unwrap();
        assert_eq!(d.resource_spans.len(), 1);
        assert_eq!(d.resource_spans[0].resource, req.resource_spans[0].resource);
        assert_eq!(d.resource_spans[0].schema_url, req.resource_spans[0].schema_url);
        assert_eq!(d.resource_spans[0].scope_spans[0].scope, req.resource_spans[0].scope_spans[0].scope);
    }
    assert_eq!(payload.split(0).unwrap().len(), 1, "0 means no limit");
    assert_eq!(payload.split(5).unwrap()[0].bytes(), payload.bytes());
}

#[test]
fn split_sends_a_metric_larger_than_the_limit_alone() {
    let point = NumberDataPoint { value: Some(number_data_point::Value::AsInt(1)), ..Default::default() };
    let metric = |name: &str, n: usize| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: vec![point.clone(); n] })),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric("a", 1), metric("big", 7), metric("b", 2), metric("c", 1)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let parts = req.payload().split(3).unwrap();
    let names = |p: &Payload| -> Vec<String> {
        p.decode_metrics().unwrap().flatten().into_iter().map(|(_, _, m)| m.name).collect()
    };
    assert_eq!(parts.iter().map(Payload::items).collect::<Vec<_>>(), [1, 7, 3]);
    assert_eq!(parts.iter().map(names).collect::<Vec<_>>(), [vec!["a"], vec!["big"], vec!["b", "c"]]);
}

/// A metric without data points must not be lost by a split, wherever it stands.
#[test]
fn split_keeps_metrics_without_data_points() {
    let point = NumberDataPoint { value: Some(number_data_point::Value::AsDouble(1.0)), ..Default::default() };
    let with = |name: &str, n: usize| Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum { data_points: vec![point.clone(); n], ..Default::default() })),
        ..Default::default()
    };
    let empty = |name: &str| Metric { name: name.into(), ..Default::default() };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![empty("e0"), with("a", 2), empty("e1"), with("big", 3), empty("e2")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let parts = req.payload().split(2).unwrap();
    let names: Vec<Vec<String>> = parts
        .iter()
        .map(|p| p.decode_metrics().unwrap().flatten().into_iter().map(|(_, _, m)| m.name).collect())
        .collect();
    assert_eq!(names, [vec!["e0", "a", "e1"], vec!["big", "e2"]]);
    assert_eq!(parts.iter().map(Payload::items).collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn concat_of_one_part_shares_the_bytes() {
    let p = one_span_request(sample_span()).payload();
    let joined = Payload::concat(std::slice::from_ref(&p));
    assert_eq!(joined.bytes().as_ptr(), p.bytes().as_ptr());
    let joined = Payload::concat(&[p.clone(), Payload::empty(Signal::Traces), p.clone()]);
    assert_eq!(joined.items(), 2);
    assert_eq!(joined.decode_traces().unwrap().resource_spans.len(), 2);
}

#[test]
#[should_panic(expected = "mixed signals")]
fn concat_refuses_mixed_signals() {
    Payload::concat(&[Payload::empty(Signal::Traces), Payload::empty(Signal::Logs)]);
}

/// Logs of one record per resource, whose `tenant` attribute is each of `tenants` (None: no
/// attribute).
fn logs_of_tenants(tenants: &[Option<&str>]) -> Payload {
    let resource_logs = tenants
        .iter()
        .map(|t| ResourceLogs {
            resource: Some(Resource {
                attributes: t
                    .iter()
                    .map(|v| KeyValue {
                        key: "tenant".into(),
                        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.to_string())) }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default()], ..Default::default() }],
            ..Default::default()
        })
        .collect();
    let req = ExportLogsServiceRequest { resource_logs };
    Payload::new(Signal::Logs, Bytes::from(req.encode_to_vec())).unwrap()
}

fn tenant(rg: &ResourceGroupView<'_>) -> Result<Option<String>, WireError> {
    Ok(rg.resource()?.attributes().get("tenant")?.and_then(|v| v.as_str()).map(str::to_string))
}

#[test]
fn resources_are_grouped_by_key_in_order_of_first_appearance() {
    let p = logs_of_tenants(&[Some("a"), Some("b"), None, Some("a")]);
    let groups = p.group_resources(tenant).unwrap();
    let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(groups[0].1.items(), 2, "both resources of tenant a");
    assert_eq!(groups[1].1.items(), 1);
    let a: ExportLogsServiceRequest = groups[0].1.decode_logs().unwrap();
    assert_eq!(a.resource_logs.len(), 2);
}

#[test]
fn one_key_for_every_resource_keeps_the_request_as_it_is() {
    let p = logs_of_tenants(&[Some("a"), Some("a")]);
    let groups = p.group_resources(tenant).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].1.bytes().as_ptr(), p.bytes().as_ptr(), "not copied");
    assert!(logs_of_tenants(&[None]).group_resources(tenant).unwrap().is_empty());
}
