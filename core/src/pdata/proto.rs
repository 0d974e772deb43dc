//! The field numbers of every protobuf message weir reads or writes, once.
//!
//! One module per message, named after it, holding one constant per field (the field's name in
//! upper case). Views, editors and exporters name fields through these constants; no literal
//! field number appears anywhere else in `pdata`. The numbers are those of `opentelemetry-proto`
//! 0.33 (OTLP 1.7) and of `google.rpc.Status` / `RetryInfo`; the tests below check each one by
//! encoding the prost type with only that field set.
//!
//! The three signals share one shape (see [`super::views`]): `Export*ServiceRequest`,
//! `Resource{Spans,Logs,Metrics}` and `Scope{Spans,Logs,Metrics}` number their fields alike,
//! which [`request`], [`resource_group`] and [`scope_group`] name once; the per-signal modules
//! are kept so that a reader finds the message the OTLP specification names.

/// `Export{Trace,Logs,Metrics}ServiceRequest`.
pub mod request {
    /// `resource_spans`, `resource_logs`, `resource_metrics`.
    pub const RESOURCE_GROUPS: u32 = 1;
}

/// `ResourceSpans`, `ResourceLogs`, `ResourceMetrics`.
pub mod resource_group {
    pub const RESOURCE: u32 = 1;
    /// `scope_spans`, `scope_logs`, `scope_metrics`.
    pub const SCOPE_GROUPS: u32 = 2;
    pub const SCHEMA_URL: u32 = 3;
}

/// `ScopeSpans`, `ScopeLogs`, `ScopeMetrics`.
pub mod scope_group {
    pub const SCOPE: u32 = 1;
    /// `spans`, `log_records`, `metrics`.
    pub const ITEMS: u32 = 2;
    pub const SCHEMA_URL: u32 = 3;
}

// ---------------------------------------------------------------------------------------------
// Common
// ---------------------------------------------------------------------------------------------

/// `opentelemetry.proto.resource.v1.Resource`.
pub mod resource {
    pub const ATTRIBUTES: u32 = 1;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 2;
    pub const ENTITY_REFS: u32 = 3;
}

/// `opentelemetry.proto.common.v1.InstrumentationScope`.
pub mod instrumentation_scope {
    pub const NAME: u32 = 1;
    pub const VERSION: u32 = 2;
    pub const ATTRIBUTES: u32 = 3;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 4;
}

/// `opentelemetry.proto.common.v1.EntityRef`.
pub mod entity_ref {
    pub const SCHEMA_URL: u32 = 1;
    pub const TYPE: u32 = 2;
    pub const ID_KEYS: u32 = 3;
    pub const DESCRIPTION_KEYS: u32 = 4;
}

/// `opentelemetry.proto.common.v1.KeyValue`.
pub mod key_value {
    pub const KEY: u32 = 1;
    pub const VALUE: u32 = 2;
    /// Profiles only (a key in the profile's string table); weir does not read it.
    pub const KEY_STRINDEX: u32 = 3;
}

/// `opentelemetry.proto.common.v1.AnyValue` (a `oneof`: the last of these fields wins).
pub mod any_value {
    pub const STRING_VALUE: u32 = 1;
    pub const BOOL_VALUE: u32 = 2;
    pub const INT_VALUE: u32 = 3;
    pub const DOUBLE_VALUE: u32 = 4;
    pub const ARRAY_VALUE: u32 = 5;
    pub const KVLIST_VALUE: u32 = 6;
    pub const BYTES_VALUE: u32 = 7;
    /// Profiles only (a string in the profile's string table); weir reads it as no value.
    pub const STRING_VALUE_STRINDEX: u32 = 8;
}

/// `opentelemetry.proto.common.v1.ArrayValue`.
pub mod array_value {
    pub const VALUES: u32 = 1;
}

/// `opentelemetry.proto.common.v1.KeyValueList`.
pub mod key_value_list {
    pub const VALUES: u32 = 1;
}

// ---------------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------------

/// `ExportTraceServiceRequest`.
pub mod export_trace_service_request {
    pub const RESOURCE_SPANS: u32 = super::request::RESOURCE_GROUPS;
}

/// `ResourceSpans`.
pub mod resource_spans {
    pub const RESOURCE: u32 = super::resource_group::RESOURCE;
    pub const SCOPE_SPANS: u32 = super::resource_group::SCOPE_GROUPS;
    pub const SCHEMA_URL: u32 = super::resource_group::SCHEMA_URL;
}

/// `ScopeSpans`.
pub mod scope_spans {
    pub const SCOPE: u32 = super::scope_group::SCOPE;
    pub const SPANS: u32 = super::scope_group::ITEMS;
    pub const SCHEMA_URL: u32 = super::scope_group::SCHEMA_URL;
}

/// `Span`.
pub mod span {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START_TIME_UNIX_NANO: u32 = 7;
    pub const END_TIME_UNIX_NANO: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 10;
    pub const EVENTS: u32 = 11;
    pub const DROPPED_EVENTS_COUNT: u32 = 12;
    pub const LINKS: u32 = 13;
    pub const DROPPED_LINKS_COUNT: u32 = 14;
    pub const STATUS: u32 = 15;
    pub const FLAGS: u32 = 16;
}

/// `Span.Event`.
pub mod event {
    pub const TIME_UNIX_NANO: u32 = 1;
    pub const NAME: u32 = 2;
    pub const ATTRIBUTES: u32 = 3;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 4;
}

/// `Span.Link`.
pub mod link {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const ATTRIBUTES: u32 = 4;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 5;
    pub const FLAGS: u32 = 6;
}

/// `Status` (of a span).
pub mod status {
    pub const MESSAGE: u32 = 2;
    pub const CODE: u32 = 3;
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// `ExportLogsServiceRequest`.
pub mod export_logs_service_request {
    pub const RESOURCE_LOGS: u32 = super::request::RESOURCE_GROUPS;
}

/// `ResourceLogs`.
pub mod resource_logs {
    pub const RESOURCE: u32 = super::resource_group::RESOURCE;
    pub const SCOPE_LOGS: u32 = super::resource_group::SCOPE_GROUPS;
    pub const SCHEMA_URL: u32 = super::resource_group::SCHEMA_URL;
}

/// `ScopeLogs`.
pub mod scope_logs {
    pub const SCOPE: u32 = super::scope_group::SCOPE;
    pub const LOG_RECORDS: u32 = super::scope_group::ITEMS;
    pub const SCHEMA_URL: u32 = super::scope_group::SCHEMA_URL;
}

/// `LogRecord`.
pub mod log_record {
    pub const TIME_UNIX_NANO: u32 = 1;
    pub const SEVERITY_NUMBER: u32 = 2;
    pub const SEVERITY_TEXT: u32 = 3;
    pub const BODY: u32 = 5;
    pub const ATTRIBUTES: u32 = 6;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 7;
    pub const FLAGS: u32 = 8;
    pub const TRACE_ID: u32 = 9;
    pub const SPAN_ID: u32 = 10;
    pub const OBSERVED_TIME_UNIX_NANO: u32 = 11;
    pub const EVENT_NAME: u32 = 12;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// `ExportMetricsServiceRequest`.
pub mod export_metrics_service_request {
    pub const RESOURCE_METRICS: u32 = super::request::RESOURCE_GROUPS;
}

/// `ResourceMetrics`.
pub mod resource_metrics {
    pub const RESOURCE: u32 = super::resource_group::RESOURCE;
    pub const SCOPE_METRICS: u32 = super::resource_group::SCOPE_GROUPS;
    pub const SCHEMA_URL: u32 = super::resource_group::SCHEMA_URL;
}

/// `ScopeMetrics`.
pub mod scope_metrics {
    pub const SCOPE: u32 = super::scope_group::SCOPE;
    pub const METRICS: u32 = super::scope_group::ITEMS;
    pub const SCHEMA_URL: u32 = super::scope_group::SCHEMA_URL;
}

/// `Metric` (`gauge` … `summary` are a `oneof`: the last of them wins).
pub mod metric {
    pub const NAME: u32 = 1;
    pub const DESCRIPTION: u32 = 2;
    pub const UNIT: u32 = 3;
    pub const GAUGE: u32 = 5;
    pub const SUM: u32 = 7;
    pub const HISTOGRAM: u32 = 9;
    pub const EXPONENTIAL_HISTOGRAM: u32 = 10;
    pub const SUMMARY: u32 = 11;
    pub const METADATA: u32 = 12;
}

/// The field every metric data message (`Gauge`, `Sum`, `Histogram`, `ExponentialHistogram`,
/// `Summary`) keeps its data points in.
pub const DATA_POINTS: u32 = 1;

/// `Gauge`.
pub mod gauge {
    pub const DATA_POINTS: u32 = super::DATA_POINTS;
}

/// `Sum`.
pub mod sum {
    pub const DATA_POINTS: u32 = super::DATA_POINTS;
    pub const AGGREGATION_TEMPORALITY: u32 = 2;
    pub const IS_MONOTONIC: u32 = 3;
}

/// `Histogram`.
pub mod histogram {
    pub const DATA_POINTS: u32 = super::DATA_POINTS;
    pub const AGGREGATION_TEMPORALITY: u32 = 2;
}

/// `ExponentialHistogram`.
pub mod exponential_histogram {
    pub const DATA_POINTS: u32 = super::DATA_POINTS;
    pub const AGGREGATION_TEMPORALITY: u32 = 2;
}

/// `Summary`.
pub mod summary {
    pub const DATA_POINTS: u32 = super::DATA_POINTS;
}

/// `NumberDataPoint` (`as_double` and `as_int` are a `oneof`).
pub mod number_data_point {
    pub const START_TIME_UNIX_NANO: u32 = 2;
    pub const TIME_UNIX_NANO: u32 = 3;
    pub const AS_DOUBLE: u32 = 4;
    pub const EXEMPLARS: u32 = 5;
    pub const AS_INT: u32 = 6;
    pub const ATTRIBUTES: u32 = 7;
    pub const FLAGS: u32 = 8;
}

/// `HistogramDataPoint`.
pub mod histogram_data_point {
    pub const START_TIME_UNIX_NANO: u32 = 2;
    pub const TIME_UNIX_NANO: u32 = 3;
    pub const COUNT: u32 = 4;
    pub const SUM: u32 = 5;
    /// `repeated fixed64`, packed or not.
    pub const BUCKET_COUNTS: u32 = 6;
    /// `repeated double`, packed or not.
    pub const EXPLICIT_BOUNDS: u32 = 7;
    pub const EXEMPLARS: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const FLAGS: u32 = 10;
    pub const MIN: u32 = 11;
    pub const MAX: u32 = 12;
}

/// `ExponentialHistogramDataPoint`.
pub mod exponential_histogram_data_point {
    pub const ATTRIBUTES: u32 = 1;
    pub const START_TIME_UNIX_NANO: u32 = 2;
    pub const TIME_UNIX_NANO: u32 = 3;
    pub const COUNT: u32 = 4;
    pub const SUM: u32 = 5;
    /// `sint32` (zigzag).
    pub const SCALE: u32 = 6;
    pub const ZERO_COUNT: u32 = 7;
    pub const POSITIVE: u32 = 8;
    pub const NEGATIVE: u32 = 9;
    pub const FLAGS: u32 = 10;
    pub const EXEMPLARS: u32 = 11;
    pub const MIN: u32 = 12;
    pub const MAX: u32 = 13;
    pub const ZERO_THRESHOLD: u32 = 14;

    /// `ExponentialHistogramDataPoint.Buckets`.
    pub mod buckets {
        /// `sint32` (zigzag).
        pub const OFFSET: u32 = 1;
        /// `repeated uint64`, packed or not.
        pub const BUCKET_COUNTS: u32 = 2;
    }
}

/// `SummaryDataPoint`.
pub mod summary_data_point {
    pub const START_TIME_UNIX_NANO: u32 = 2;
    pub const TIME_UNIX_NANO: u32 = 3;
    pub const COUNT: u32 = 4;
    pub const SUM: u32 = 5;
    pub const QUANTILE_VALUES: u32 = 6;
    pub const ATTRIBUTES: u32 = 7;
    pub const FLAGS: u32 = 8;

    /// `SummaryDataPoint.ValueAtQuantile`.
    pub mod value_at_quantile {
        pub const QUANTILE: u32 = 1;
        pub const VALUE: u32 = 2;
    }
}

/// `Exemplar` (`as_double` and `as_int` are a `oneof`).
pub mod exemplar {
    pub const TIME_UNIX_NANO: u32 = 2;
    pub const AS_DOUBLE: u32 = 3;
    pub const SPAN_ID: u32 = 4;
    pub const TRACE_ID: u32 = 5;
    pub const AS_INT: u32 = 6;
    pub const FILTERED_ATTRIBUTES: u32 = 7;
}

// ---------------------------------------------------------------------------------------------
// Collector responses
// ---------------------------------------------------------------------------------------------

/// `Export{Trace,Logs,Metrics}ServiceResponse`.
pub mod export_response {
    pub const PARTIAL_SUCCESS: u32 = 1;
}

/// `Export{Trace,Logs,Metrics}PartialSuccess`.
pub mod export_partial_success {
    /// `rejected_spans`, `rejected_log_records`, `rejected_data_points` (`int64`).
    pub const REJECTED: u32 = 1;
    pub const ERROR_MESSAGE: u32 = 2;
}

/// `google.rpc.Status` (the `grpc-status-details-bin` trailer, or an OTLP/HTTP error body).
pub mod rpc_status {
    pub const CODE: u32 = 1;
    pub const MESSAGE: u32 = 2;
    pub const DETAILS: u32 = 3;
}

/// `google.protobuf.Any`.
pub mod any {
    pub const TYPE_URL: u32 = 1;
    pub const VALUE: u32 = 2;
}

/// `google.rpc.RetryInfo`.
pub mod retry_info {
    /// The `Any.type_url` a `RetryInfo` detail carries.
    pub const TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";
    pub const RETRY_DELAY: u32 = 1;
}

/// `google.protobuf.Duration`.
pub mod duration {
    /// `int64`.
    pub const SECONDS: u32 = 1;
    /// `int32`.
    pub const NANOS: u32 = 2;
}

#[cfg(test)]
mod tests {
    //! Each constant against prost: a message with only that field set encodes to one field,
    //! whose number must be the constant's.

    use super::*;
    use crate::pdata::wire::Fields;
    use opentelemetry_proto::tonic::collector::logs::v1 as clogs;
    use opentelemetry_proto::tonic::collector::metrics::v1 as cmetrics;
    use opentelemetry_proto::tonic::collector::trace::v1 as ctrace;
    use opentelemetry_proto::tonic::common::v1 as common;
    use opentelemetry_proto::tonic::logs::v1 as logs;
    use opentelemetry_proto::tonic::metrics::v1 as metrics;
    use opentelemetry_proto::tonic::resource::v1 as res;
    use opentelemetry_proto::tonic::trace::v1 as trace;
    use prost::Message;

    /// The number of the one field `m` encodes to.
    fn number(m: impl Message) -> u32 {
        let bytes = m.encode_to_vec();
        let fields: Vec<_> = Fields::new(&bytes).map(|f| f.expect("prost output").number).collect();
        assert_eq!(fields.len(), 1, "exactly one field set: {bytes:02x?}");
        fields[0]
    }

    /// Asserts that each `message => constant` pair agrees.
    macro_rules! check {
        ($($m:expr => $c:expr,)*) => {
            $(assert_eq!(number($m), $c, "{}", stringify!($c));)*
        };
    }

    fn kv() -> common::KeyValue {
        common::KeyValue { key: "k".into(), ..Default::default() }
    }

    #[test]
    fn common_numbers_match_prost() {
        use common::any_value::Value as V;
        let any = |v| common::AnyValue { value: Some(v) };
        check! {
            res::Resource { attributes: vec![kv()], ..Default::default() } => resource::ATTRIBUTES,
            res::Resource { dropped_attributes_count: 1, ..Default::default() } => resource::DROPPED_ATTRIBUTES_COUNT,
            res::Resource { entity_refs: vec![Default::default()], ..Default::default() } => resource::ENTITY_REFS,
            common::InstrumentationScope { name: "n".into(), ..Default::default() } => instrumentation_scope::NAME,
            common::InstrumentationScope { version: "v".into(), ..Default::default() } => instrumentation_scope::VERSION,
            common::InstrumentationScope { attributes: vec![kv()], ..Default::default() } => instrumentation_scope::ATTRIBUTES,
            common::InstrumentationScope { dropped_attributes_count: 1, ..Default::default() } => instrumentation_scope::DROPPED_ATTRIBUTES_COUNT,
            common::EntityRef { schema_url: "s".into(), ..Default::default() } => entity_ref::SCHEMA_URL,
            common::EntityRef { r#type: "t".into(), ..Default::default() } => entity_ref::TYPE,
            common::EntityRef { id_keys: vec!["k".into()], ..Default::default() } => entity_ref::ID_KEYS,
            common::EntityRef { description_keys: vec!["k".into()], ..Default::default() } => entity_ref::DESCRIPTION_KEYS,
            kv() => key_value::KEY,
            common::KeyValue { value: Some(any(V::IntValue(1))), ..Default::default() } => key_value::VALUE,
            common::KeyValue { key_strindex: 1, ..Default::default() } => key_value::KEY_STRINDEX,
            any(V::StringValue("s".into())) => any_value::STRING_VALUE,
            any(V::BoolValue(true)) => any_value::BOOL_VALUE,
            any(V::IntValue(1)) => any_value::INT_VALUE,
            any(V::DoubleValue(1.0)) => any_value::DOUBLE_VALUE,
            any(V::ArrayValue(Default::default())) => any_value::ARRAY_VALUE,
            any(V::KvlistValue(Default::default())) => any_value::KVLIST_VALUE,
            any(V::BytesValue(vec![1])) => any_value::BYTES_VALUE,
            any(V::StringValueStrindex(1)) => any_value::STRING_VALUE_STRINDEX,
            common::ArrayValue { values: vec![Default::default()] } => array_value::VALUES,
            common::KeyValueList { values: vec![kv()] } => key_value_list::VALUES,
        }
    }

    #[test]
    fn trace_numbers_match_prost() {
        use trace::span::{Event, Link};
        use trace::Span;
        let span = Span::default;
        check! {
            ctrace::ExportTraceServiceRequest { resource_spans: vec![Default::default()] } => export_trace_service_request::RESOURCE_SPANS,
            trace::ResourceSpans { resource: Some(Default::default()), ..Default::default() } => resource_spans::RESOURCE,
            trace::ResourceSpans { scope_spans: vec![Default::default()], ..Default::default() } => resource_spans::SCOPE_SPANS,
            trace::ResourceSpans { schema_url: "s".into(), ..Default::default() } => resource_spans::SCHEMA_URL,
            trace::ScopeSpans { scope: Some(Default::default()), ..Default::default() } => scope_spans::SCOPE,
            trace::ScopeSpans { spans: vec![Default::default()], ..Default::default() } => scope_spans::SPANS,
            trace::ScopeSpans { schema_url: "s".into(), ..Default::default() } => scope_spans::SCHEMA_URL,
            Span { trace_id: vec![1], ..span() } => span::TRACE_ID,
            Span { span_id: vec![1], ..span() } => span::SPAN_ID,
            Span { trace_state: "t".into(), ..span() } => span::TRACE_STATE,
            Span { parent_span_id: vec![1], ..span() } => span::PARENT_SPAN_ID,
            Span { name: "n".into(), ..span() } => span::NAME,
            Span { kind: 1, ..span() } => span::KIND,
            Span { start_time_unix_nano: 1, ..span() } => span::START_TIME_UNIX_NANO,
            Span { end_time_unix_nano: 1, ..span() } => span::END_TIME_UNIX_NANO,
            Span { attributes: vec![kv()], ..span() } => span::ATTRIBUTES,
            Span { dropped_attributes_count: 1, ..span() } => span::DROPPED_ATTRIBUTES_COUNT,
            Span { events: vec![Default::default()], ..span() } => span::EVENTS,
            Span { dropped_events_count: 1, ..span() } => span::DROPPED_EVENTS_COUNT,
            Span { links: vec![Default::default()], ..span() } => span::LINKS,
            Span { dropped_links_count: 1, ..span() } => span::DROPPED_LINKS_COUNT,
            Span { status: Some(Default::default()), ..span() } => span::STATUS,
            Span { flags: 1, ..span() } => span::FLAGS,
            Event { time_unix_nano: 1, ..Default::default() } => event::TIME_UNIX_NANO,
            Event { name: "n".into(), ..Default::default() } => event::NAME,
            Event { attributes: vec![kv()], ..Default::default() } => event::ATTRIBUTES,
            Event { dropped_attributes_count: 1, ..Default::default() } => event::DROPPED_ATTRIBUTES_COUNT,
            Link { trace_id: vec![1], ..Default::default() } => link::TRACE_ID,
            Link { span_id: vec![1], ..Default::default() } => link::SPAN_ID,
            Link { trace_state: "t".into(), ..Default::default() } => link::TRACE_STATE,
            Link { attributes: vec![kv()], ..Default::default() } => link::ATTRIBUTES,
            Link { dropped_attributes_count: 1, ..Default::default() } => link::DROPPED_ATTRIBUTES_COUNT,
            Link { flags: 1, ..Default::default() } => link::FLAGS,
            trace::Status { message: "m".into(), code: 0 } => status::MESSAGE,
            trace::Status { message: String::new(), code: 2 } => status::CODE,
        }
    }

    #[test]
    fn log_numbers_match_prost() {
        use logs::LogRecord;
        let record = LogRecord::default;
        check! {
            clogs::ExportLogsServiceRequest { resource_logs: vec![Default::default()] } => export_logs_service_request::RESOURCE_LOGS,
            logs::ResourceLogs { resource: Some(Default::default()), ..Default::default() } => resource_logs::RESOURCE,
            logs::ResourceLogs { scope_logs: vec![Default::default()], ..Default::default() } => resource_logs::SCOPE_LOGS,
            logs::ResourceLogs { schema_url: "s".into(), ..Default::default() } => resource_logs::SCHEMA_URL,
            logs::ScopeLogs { scope: Some(Default::default()), ..Default::default() } => scope_logs::SCOPE,
            logs::ScopeLogs { log_records: vec![Default::default()], ..Default::default() } => scope_logs::LOG_RECORDS,
            logs::ScopeLogs { schema_url: "s".into(), ..Default::default() } => scope_logs::SCHEMA_URL,
            LogRecord { time_unix_nano: 1, ..record() } => log_record::TIME_UNIX_NANO,
            LogRecord { severity_number: 9, ..record() } => log_record::SEVERITY_NUMBER,
            LogRecord { severity_text: "s".into(), ..record() } => log_record::SEVERITY_TEXT,
            LogRecord { body: Some(Default::default()), ..record() } => log_record::BODY,
            LogRecord { attributes: vec![kv()], ..record() } => log_record::ATTRIBUTES,
            LogRecord { dropped_attributes_count: 1, ..record() } => log_record::DROPPED_ATTRIBUTES_COUNT,
            LogRecord { flags: 1, ..record() } => log_record::FLAGS,
            LogRecord { trace_id: vec![1], ..record() } => log_record::TRACE_ID,
            LogRecord { span_id: vec![1], ..record() } => log_record::SPAN_ID,
            LogRecord { observed_time_unix_nano: 1, ..record() } => log_record::OBSERVED_TIME_UNIX_NANO,
            LogRecord { event_name: "e".into(), ..record() } => log_record::EVENT_NAME,
        }
    }

    #[test]
    fn metric_numbers_match_prost() {
        use metrics::exponential_histogram_data_point::Buckets;
        use metrics::summary_data_point::ValueAtQuantile;
        use metrics::{
            Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
            Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
        };
        let m = Metric::default;
        let data = |d| Metric { data: Some(d), ..Default::default() };
        check! {
            cmetrics::ExportMetricsServiceRequest { resource_metrics: vec![Default::default()] } => export_metrics_service_request::RESOURCE_METRICS,
            ResourceMetrics { resource: Some(Default::default()), ..Default::default() } => resource_metrics::RESOURCE,
            ResourceMetrics { scope_metrics: vec![Default::default()], ..Default::default() } => resource_metrics::SCOPE_METRICS,
            ResourceMetrics { schema_url: "s".into(), ..Default::default() } => resource_metrics::SCHEMA_URL,
            ScopeMetrics { scope: Some(Default::default()), ..Default::default() } => scope_metrics::SCOPE,
            ScopeMetrics { metrics: vec![Default::default()], ..Default::default() } => scope_metrics::METRICS,
            ScopeMetrics { schema_url: "s".into(), ..Default::default() } => scope_metrics::SCHEMA_URL,
            Metric { name: "n".into(), ..m() } => metric::NAME,
            Metric { description: "d".into(), ..m() } => metric::DESCRIPTION,
            Metric { unit: "u".into(), ..m() } => metric::UNIT,
            Metric { metadata: vec![kv()], ..m() } => metric::METADATA,
            data(metrics::metric::Data::Gauge(Default::default())) => metric::GAUGE,
            data(metrics::metric::Data::Sum(Default::default())) => metric::SUM,
            data(metrics::metric::Data::Histogram(Default::default())) => metric::HISTOGRAM,
            data(metrics::metric::Data::ExponentialHistogram(Default::default())) => metric::EXPONENTIAL_HISTOGRAM,
            data(metrics::metric::Data::Summary(Default::default())) => metric::SUMMARY,
            Gauge { data_points: vec![Default::default()] } => gauge::DATA_POINTS,
            Sum { data_points: vec![Default::default()], ..Default::default() } => sum::DATA_POINTS,
            Sum { aggregation_temporality: 1, ..Default::default() } => sum::AGGREGATION_TEMPORALITY,
            Sum { is_monotonic: true, ..Default::default() } => sum::IS_MONOTONIC,
            Histogram { data_points: vec![Default::default()], ..Default::default() } => histogram::DATA_POINTS,
            Histogram { aggregation_temporality: 1, ..Default::default() } => histogram::AGGREGATION_TEMPORALITY,
            ExponentialHistogram { data_points: vec![Default::default()], ..Default::default() } => exponential_histogram::DATA_POINTS,
            ExponentialHistogram { aggregation_temporality: 1, ..Default::default() } => exponential_histogram::AGGREGATION_TEMPORALITY,
            Summary { data_points: vec![Default::default()] } => summary::DATA_POINTS,
        }
        let n = NumberDataPoint::default;
        check! {
            NumberDataPoint { start_time_unix_nano: 1, ..n() } => number_data_point::START_TIME_UNIX_NANO,
            NumberDataPoint { time_unix_nano: 1, ..n() } => number_data_point::TIME_UNIX_NANO,
            NumberDataPoint { value: Some(metrics::number_data_point::Value::AsDouble(1.0)), ..n() } => number_data_point::AS_DOUBLE,
            NumberDataPoint { exemplars: vec![Default::default()], ..n() } => number_data_point::EXEMPLARS,
            NumberDataPoint { value: Some(metrics::number_data_point::Value::AsInt(1)), ..n() } => number_data_point::AS_INT,
            NumberDataPoint { attributes: vec![kv()], ..n() } => number_data_point::ATTRIBUTES,
            NumberDataPoint { flags: 1, ..n() } => number_data_point::FLAGS,
        }
        let h = HistogramDataPoint::default;
        check! {
            HistogramDataPoint { start_time_unix_nano: 1, ..h() } => histogram_data_point::START_TIME_UNIX_NANO,
            HistogramDataPoint { time_unix_nano: 1, ..h() } => histogram_data_point::TIME_UNIX_NANO,
            HistogramDataPoint { count: 1, ..h() } => histogram_data_point::COUNT,
            HistogramDataPoint { sum: Some(1.0), ..h() } => histogram_data_point::SUM,
            HistogramDataPoint { bucket_counts: vec![1], ..h() } => histogram_data_point::BUCKET_COUNTS,
            HistogramDataPoint { explicit_bounds: vec![1.0], ..h() } => histogram_data_point::EXPLICIT_BOUNDS,
            HistogramDataPoint { exemplars: vec![Default::default()], ..h() } => histogram_data_point::EXEMPLARS,
            HistogramDataPoint { attributes: vec![kv()], ..h() } => histogram_data_point::ATTRIBUTES,
            HistogramDataPoint { flags: 1, ..h() } => histogram_data_point::FLAGS,
            HistogramDataPoint { min: Some(1.0), ..h() } => histogram_data_point::MIN,
            HistogramDataPoint { max: Some(1.0), ..h() } => histogram_data_point::MAX,
        }
        let e = ExponentialHistogramDataPoint::default;
        use exponential_histogram_data_point as ehdp;
        check! {
            ExponentialHistogramDataPoint { attributes: vec![kv()], ..e() } => ehdp::ATTRIBUTES,
            ExponentialHistogramDataPoint { start_time_unix_nano: 1, ..e() } => ehdp::START_TIME_UNIX_NANO,
            ExponentialHistogramDataPoint { time_unix_nano: 1, ..e() } => ehdp::TIME_UNIX_NANO,
            ExponentialHistogramDataPoint { count: 1, ..e() } => ehdp::COUNT,
            ExponentialHistogramDataPoint { sum: Some(1.0), ..e() } => ehdp::SUM,
            ExponentialHistogramDataPoint { scale: 1, ..e() } => ehdp::SCALE,
            ExponentialHistogramDataPoint { zero_count: 1, ..e() } => ehdp::ZERO_COUNT,
            ExponentialHistogramDataPoint { positive: Some(Default::default()), ..e() } => ehdp::POSITIVE,
            ExponentialHistogramDataPoint { negative: Some(Default::default()), ..e() } => ehdp::NEGATIVE,
            ExponentialHistogramDataPoint { flags: 1, ..e() } => ehdp::FLAGS,
            ExponentialHistogramDataPoint { exemplars: vec![Default::default()], ..e() } => ehdp::EXEMPLARS,
            ExponentialHistogramDataPoint { min: Some(1.0), ..e() } => ehdp::MIN,
            ExponentialHistogramDataPoint { max: Some(1.0), ..e() } => ehdp::MAX,
            ExponentialHistogramDataPoint { zero_threshold: 1.0, ..e() } => ehdp::ZERO_THRESHOLD,
            Buckets { offset: 1, bucket_counts: vec![] } => ehdp::buckets::OFFSET,
            Buckets { offset: 0, bucket_counts: vec![1] } => ehdp::buckets::BUCKET_COUNTS,
        }
        let s = SummaryDataPoint::default;
        use summary_data_point as sdp;
        check! {
            SummaryDataPoint { start_time_unix_nano: 1, ..s() } => sdp::START_TIME_UNIX_NANO,
            SummaryDataPoint { time_unix_nano: 1, ..s() } => sdp::TIME_UNIX_NANO,
            SummaryDataPoint { count: 1, ..s() } => sdp::COUNT,
            SummaryDataPoint { sum: 1.0, ..s() } => sdp::SUM,
            SummaryDataPoint { quantile_values: vec![Default::default()], ..s() } => sdp::QUANTILE_VALUES,
            SummaryDataPoint { attributes: vec![kv()], ..s() } => sdp::ATTRIBUTES,
            SummaryDataPoint { flags: 1, ..s() } => sdp::FLAGS,
            ValueAtQuantile { quantile: 1.0, value: 0.0 } => sdp::value_at_quantile::QUANTILE,
            ValueAtQuantile { quantile: 0.0, value: 1.0 } => sdp::value_at_quantile::VALUE,
        }
        let x = Exemplar::default;
        check! {
            Exemplar { time_unix_nano: 1, ..x() } => exemplar::TIME_UNIX_NANO,
            Exemplar { value: Some(metrics::exemplar::Value::AsDouble(1.0)), ..x() } => exemplar::AS_DOUBLE,
            Exemplar { span_id: vec![1], ..x() } => exemplar::SPAN_ID,
            Exemplar { trace_id: vec![1], ..x() } => exemplar::TRACE_ID,
            Exemplar { value: Some(metrics::exemplar::Value::AsInt(1)), ..x() } => exemplar::AS_INT,
            Exemplar { filtered_attributes: vec![kv()], ..x() } => exemplar::FILTERED_ATTRIBUTES,
        }
    }

    #[test]
    fn response_numbers_match_prost() {
        use tonic_types::pb;
        check! {
            ctrace::ExportTraceServiceResponse { partial_success: Some(Default::default()) } => export_response::PARTIAL_SUCCESS,
            clogs::ExportLogsServiceResponse { partial_success: Some(Default::default()) } => export_response::PARTIAL_SUCCESS,
            cmetrics::ExportMetricsServiceResponse { partial_success: Some(Default::default()) } => export_response::PARTIAL_SUCCESS,
            ctrace::ExportTracePartialSuccess { rejected_spans: 1, ..Default::default() } => export_partial_success::REJECTED,
            clogs::ExportLogsPartialSuccess { rejected_log_records: 1, ..Default::default() } => export_partial_success::REJECTED,
            cmetrics::ExportMetricsPartialSuccess { rejected_data_points: 1, ..Default::default() } => export_partial_success::REJECTED,
            ctrace::ExportTracePartialSuccess { error_message: "e".into(), ..Default::default() } => export_partial_success::ERROR_MESSAGE,
            clogs::ExportLogsPartialSuccess { error_message: "e".into(), ..Default::default() } => export_partial_success::ERROR_MESSAGE,
            cmetrics::ExportMetricsPartialSuccess { error_message: "e".into(), ..Default::default() } => export_partial_success::ERROR_MESSAGE,
            pb::Status { code: 1, ..Default::default() } => rpc_status::CODE,
            pb::Status { message: "m".into(), ..Default::default() } => rpc_status::MESSAGE,
            pb::Status { details: vec![Default::default()], ..Default::default() } => rpc_status::DETAILS,
            prost_types::Any { type_url: "t".into(), value: vec![] } => any::TYPE_URL,
            prost_types::Any { type_url: String::new(), value: vec![1] } => any::VALUE,
            pb::RetryInfo { retry_delay: Some(Default::default()) } => retry_info::RETRY_DELAY,
            prost_types::Duration { seconds: 1, nanos: 0 } => duration::SECONDS,
            prost_types::Duration { seconds: 0, nanos: 1 } => duration::NANOS,
        }
        assert_eq!(retry_info::TYPE_URL, tonic_types::RetryInfo::TYPE_URL);
    }
}
