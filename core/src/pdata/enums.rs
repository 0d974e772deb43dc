//! The OTLP enumerations and their names, once.
//!
//! Views return enumerations as their wire numbers (`i32`), so that a value this version does
//! not know survives; these types name them. Each has two spellings:
//!
//! - `name()`: the Collector's pdata `String()` (`"Server"`, `"Error"`, `"Info2"`), which its
//!   ClickHouse and debug exporters write, and so do weir's;
//! - `ottl_name()`: the protobuf enum value name (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`),
//!   which OTTL uses for its enum constants; `from_ottl_name` reads it back.
//!
//! The protobuf names are taken from `opentelemetry-proto`'s generated enums, not retyped.

use opentelemetry_proto::tonic::logs::v1::SeverityNumber as ProtoSeverity;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality as ProtoTemporality;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind as ProtoKind, status::StatusCode as ProtoCode};

/// `Span.SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub const ALL: [SpanKind; 6] = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];

    /// The kind of a wire value; values this version does not know read as `Unspecified`.
    pub fn from_i32(v: i32) -> Self {
        match ProtoKind::try_from(v) {
            Ok(ProtoKind::Internal) => SpanKind::Internal,
            Ok(ProtoKind::Server) => SpanKind::Server,
            Ok(ProtoKind::Client) => SpanKind::Client,
            Ok(ProtoKind::Producer) => SpanKind::Producer,
            Ok(ProtoKind::Consumer) => SpanKind::Consumer,
            Ok(ProtoKind::Unspecified) | Err(_) => SpanKind::Unspecified,
        }
    }

    pub fn as_i32(self) -> i32 {
        self.proto() as i32
    }

    fn proto(self) -> ProtoKind {
        match self {
            SpanKind::Unspecified => ProtoKind::Unspecified,
            SpanKind::Internal => ProtoKind::Internal,
            SpanKind::Server => ProtoKind::Server,
            SpanKind::Client => ProtoKind::Client,
            SpanKind::Producer => ProtoKind::Producer,
            SpanKind::Consumer => ProtoKind::Consumer,
        }
    }

    /// pdata's `SpanKind.String()`, as the Collector's ClickHouse exporter writes it.
    pub fn name(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "Unspecified",
            SpanKind::Internal => "Internal",
            SpanKind::Server => "Server",
            SpanKind::Client => "Client",
            SpanKind::Producer => "Producer",
            SpanKind::Consumer => "Consumer",
        }
    }

    /// The OTTL (protobuf) name: `SPAN_KIND_SERVER`.
    pub fn ottl_name(self) -> &'static str {
        self.proto().as_str_name()
    }

    pub fn from_ottl_name(name: &str) -> Option<SpanKind> {
        ProtoKind::from_str_name(name).map(|k| SpanKind::from_i32(k as i32))
    }
}

/// `Status.StatusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    pub const ALL: [StatusCode; 3] = [StatusCode::Unset, StatusCode::Ok, StatusCode::Error];

    /// The code of a wire value; values this version does not know read as `Unset`.
    pub fn from_i32(v: i32) -> Self {
        match ProtoCode::try_from(v) {
            Ok(ProtoCode::Ok) => StatusCode::Ok,
            Ok(ProtoCode::Error) => StatusCode::Error,
            Ok(ProtoCode::Unset) | Err(_) => StatusCode::Unset,
        }
    }

    pub fn as_i32(self) -> i32 {
        self.proto() as i32
    }

    fn proto(self) -> ProtoCode {
        match self {
            StatusCode::Unset => ProtoCode::Unset,
            StatusCode::Ok => ProtoCode::Ok,
            StatusCode::Error => ProtoCode::Error,
        }
    }

    /// pdata's `StatusCode.String()`, as the Collector's ClickHouse exporter writes it.
    pub fn name(self) -> &'static str {
        match self {
            StatusCode::Unset => "Unset",
            StatusCode::Ok => "Ok",
            StatusCode::Error => "Error",
        }
    }

    /// The OTTL (protobuf) name: `STATUS_CODE_ERROR`.
    pub fn ottl_name(self) -> &'static str {
        self.proto().as_str_name()
    }

    pub fn from_ottl_name(name: &str) -> Option<StatusCode> {
        ProtoCode::from_str_name(name).map(|c| StatusCode::from_i32(c as i32))
    }
}

/// `AggregationTemporality` of a sum or histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregationTemporality {
    Unspecified,
    Delta,
    Cumulative,
}

impl AggregationTemporality {
    /// The temporality of a wire value; values this version does not know read as `Unspecified`.
    pub fn from_i32(v: i32) -> Self {
        match ProtoTemporality::try_from(v) {
            Ok(ProtoTemporality::Delta) => AggregationTemporality::Delta,
            Ok(ProtoTemporality::Cumulative) => AggregationTemporality::Cumulative,
            Ok(ProtoTemporality::Unspecified) | Err(_) => AggregationTemporality::Unspecified,
        }
    }

    pub fn as_i32(self) -> i32 {
        self.proto() as i32
    }

    fn proto(self) -> ProtoTemporality {
        match self {
            AggregationTemporality::Unspecified => ProtoTemporality::Unspecified,
            AggregationTemporality::Delta => ProtoTemporality::Delta,
            AggregationTemporality::Cumulative => ProtoTemporality::Cumulative,
        }
    }

    /// pdata's `AggregationTemporality.String()`: `Delta`, `Cumulative`, `Unspecified`.
    pub fn name(self) -> &'static str {
        match self {
            AggregationTemporality::Unspecified => "Unspecified",
            AggregationTemporality::Delta => "Delta",
            AggregationTemporality::Cumulative => "Cumulative",
        }
    }

    /// The OTTL (protobuf) name: `AGGREGATION_TEMPORALITY_DELTA`.
    pub fn ottl_name(self) -> &'static str {
        self.proto().as_str_name()
    }

    pub fn from_ottl_name(name: &str) -> Option<AggregationTemporality> {
        ProtoTemporality::from_str_name(name).map(|t| AggregationTemporality::from_i32(t as i32))
    }
}

/// The data kind of a `Metric` (which of its `data` fields is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
    Empty,
}

impl MetricKind {
    /// pdata's `MetricType.String()`: `Gauge`, `ExponentialHistogram`, …, `Empty`.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Gauge => "Gauge",
            MetricKind::Sum => "Sum",
            MetricKind::Histogram => "Histogram",
            MetricKind::ExponentialHistogram => "ExponentialHistogram",
            MetricKind::Summary => "Summary",
            MetricKind::Empty => "Empty",
        }
    }

    /// The OTTL name of `metric.type`: `METRIC_DATA_TYPE_GAUGE`, …, `METRIC_DATA_TYPE_NONE`.
    pub fn ottl_name(self) -> &'static str {
        match self {
            MetricKind::Gauge => "METRIC_DATA_TYPE_GAUGE",
            MetricKind::Sum => "METRIC_DATA_TYPE_SUM",
            MetricKind::Histogram => "METRIC_DATA_TYPE_HISTOGRAM",
            MetricKind::ExponentialHistogram => "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM",
            MetricKind::Summary => "METRIC_DATA_TYPE_SUMMARY",
            MetricKind::Empty => "METRIC_DATA_TYPE_NONE",
        }
    }
}

/// A log record's `SeverityNumber`, as its wire value (1–24 are defined; others survive as they
/// are and have no name but `Unspecified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeverityNumber(pub i32);

impl SeverityNumber {
    /// pdata's `SeverityNumber.String()`: `Info`, `Info2`, …, `Unspecified`.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 25] = [
            "Unspecified",
            "Trace",
            "Trace2",
            "Trace3",
            "Trace4",
            "Debug",
            "Debug2",
            "Debug3",
            "Debug4",
            "Info",
            "Info2",
            "Info3",
            "Info4",
            "Warn",
            "Warn2",
            "Warn3",
            "Warn4",
            "Error",
            "Error2",
            "Error3",
            "Error4",
            "Fatal",
            "Fatal2",
            "Fatal3",
            "Fatal4",
        ];
        usize::try_from(self.0).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or(NAMES[0])
    }

    /// The name of the severity range the number falls in (`Info` for 9–12), as weir's debug
    /// exporter prints it; `Unspecified` outside 1–24.
    pub fn range_name(self) -> &'static str {
        match self.0 {
            1..=24 => SeverityNumber((self.0 - 1) / 4 * 4 + 1).name(),
            _ => "Unspecified",
        }
    }

    /// The OTTL (protobuf) name: `SEVERITY_NUMBER_INFO2`; unknown values read as
    /// `SEVERITY_NUMBER_UNSPECIFIED`.
    pub fn ottl_name(self) -> &'static str {
        ProtoSeverity::try_from(self.0).unwrap_or(ProtoSeverity::Unspecified).as_str_name()
    }

    pub fn from_ottl_name(name: &str) -> Option<SeverityNumber> {
        ProtoSeverity::from_str_name(name).map(|s| SeverityNumber(s as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_kinds_have_pdata_and_ottl_names() {
        let names: Vec<_> = SpanKind::ALL.iter().map(|k| (k.as_i32(), k.name(), k.ottl_name())).collect();
        assert_eq!(
            names,
            [
                (0, "Unspecified", "SPAN_KIND_UNSPECIFIED"),
                (1, "Internal", "SPAN_KIND_INTERNAL"),
                (2, "Server", "SPAN_KIND_SERVER"),
                (3, "Client", "SPAN_KIND_CLIENT"),
                (4, "Producer", "SPAN_KIND_PRODUCER"),
                (5, "Consumer", "SPAN_KIND_CONSUMER"),
            ]
        );
        for k in SpanKind::ALL {
            assert_eq!(SpanKind::from_i32(k.as_i32()), k);
            assert_eq!(SpanKind::from_ottl_name(k.ottl_name()), Some(k));
        }
        assert_eq!(SpanKind::from_i32(9), SpanKind::Unspecified);
        assert_eq!(SpanKind::from_ottl_name("Server"), None);
    }

    #[test]
    fn status_codes_have_pdata_and_ottl_names() {
        let names: Vec<_> = StatusCode::ALL.iter().map(|c| (c.as_i32(), c.name(), c.ottl_name())).collect();
        assert_eq!(
            names,
            [(0, "Unset", "STATUS_CODE_UNSET"), (1, "Ok", "STATUS_CODE_OK"), (2, "Error", "STATUS_CODE_ERROR")]
        );
        for c in StatusCode::ALL {
            assert_eq!(StatusCode::from_i32(c.as_i32()), c);
            assert_eq!(StatusCode::from_ottl_name(c.ottl_name()), Some(c));
        }
        assert_eq!(StatusCode::from_i32(-1), StatusCode::Unset);
    }

    #[test]
    fn temporalities_have_pdata_and_ottl_names() {
        let t = AggregationTemporality::from_i32(1);
        assert_eq!(
            (t, t.name(), t.ottl_name()),
            (AggregationTemporality::Delta, "Delta", "AGGREGATION_TEMPORALITY_DELTA")
        );
        assert_eq!(AggregationTemporality::from_i32(2).name(), "Cumulative");
        assert_eq!(AggregationTemporality::from_i32(7).name(), "Unspecified");
        assert_eq!(
            AggregationTemporality::from_ottl_name("AGGREGATION_TEMPORALITY_CUMULATIVE"),
            Some(AggregationTemporality::Cumulative)
        );
        assert_eq!(AggregationTemporality::Cumulative.as_i32(), 2);
    }

    #[test]
    fn severity_numbers_have_names_and_ranges() {
        let s = |n| SeverityNumber(n);
        assert_eq!((s(9).name(), s(9).range_name(), s(9).ottl_name()), ("Info", "Info", "SEVERITY_NUMBER_INFO"));
        assert_eq!((s(10).name(), s(10).range_name(), s(10).ottl_name()), ("Info2", "Info", "SEVERITY_NUMBER_INFO2"));
        assert_eq!((s(24).name(), s(24).range_name()), ("Fatal4", "Fatal"));
        assert_eq!((s(1).range_name(), s(4).range_name(), s(5).range_name()), ("Trace", "Trace", "Debug"));
        for n in [0, -1, 25, 1000] {
            assert_eq!(
                (s(n).name(), s(n).range_name(), s(n).ottl_name()),
                ("Unspecified", "Unspecified", "SEVERITY_NUMBER_UNSPECIFIED")
            );
        }
        for n in 0..=24 {
            assert_eq!(SeverityNumber::from_ottl_name(s(n).ottl_name()), Some(s(n)));
            // pdata's names are the protobuf names without the prefix, in CamelCase.
            let proto = s(n).ottl_name().trim_start_matches("SEVERITY_NUMBER_");
            assert_eq!(s(n).name().to_ascii_uppercase(), proto);
        }
    }

    #[test]
    fn metric_kinds_have_names() {
        assert_eq!(MetricKind::ExponentialHistogram.name(), "ExponentialHistogram");
        assert_eq!(MetricKind::Empty.ottl_name(), "METRIC_DATA_TYPE_NONE");
    }
}
