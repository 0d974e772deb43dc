//! Text renderings of a payload for the `debug` exporter, read through the views (no prost).
//!
//! - [`Counts`]: the `basic` summary.
//! - [`normal`]: one line per resource, scope and item.
//! - [`detailed`]: every field, in the layout of the Collector's debug exporter.

use std::fmt::Write;
use weir_core::pdata::views::{
    AggregationTemporality, AnyValue, AnyValueView, ArrayView, Attributes, DataPointView,
    ExponentialHistogramDataPointView, HistogramDataPointView, LogRecordView, MetricView, NumberDataPointView,
    NumberValue, ScopeGroupView, SeverityNumber, SpanKind, SpanView, StatusCode, SummaryDataPointView,
};
use weir_core::pdata::WireError;
use weir_core::{Payload, Signal};

/// Why a payload could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("malformed payload: {0}")]
    Wire(#[from] WireError),
    #[error("cannot format: {0}")]
    Fmt(#[from] std::fmt::Error),
}

/// Nested `AnyValue`s deeper than this are elided, so hostile nesting cannot exhaust the stack.
const MAX_VALUE_DEPTH: usize = 16;

/// The `basic` summary of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Resource groups (`ResourceSpans`, `ResourceMetrics`, `ResourceLogs`).
    pub resources: usize,
    /// Metrics (metrics payloads only).
    pub metrics: usize,
    /// Spans, data points or log records.
    pub items: usize,
}

impl Counts {
    pub fn of(payload: &Payload) -> Result<Counts, WireError> {
        let mut c = Counts { items: payload.items(), ..Counts::default() };
        let metrics = payload.signal() == Signal::Metrics;
        payload.view().for_each_scope(
            &mut c,
            |c, _| {
                c.resources += 1;
                Ok::<_, WireError>(())
            },
            |c, _, sg| {
                if metrics {
                    c.metrics += sg.metrics().checked_len()?;
                }
                Ok(())
            },
        )?;
        Ok(c)
    }
}

fn group_names(signal: Signal) -> (&'static str, &'static str) {
    match signal {
        Signal::Traces => ("ResourceSpans", "ScopeSpans"),
        Signal::Metrics => ("ResourceMetrics", "ScopeMetrics"),
        Signal::Logs => ("ResourceLogs", "ScopeLogs"),
    }
}

/// One line per resource, per scope and per item:
///
/// ```text
/// ResourceSpans #0 service.name=checkout
/// ScopeSpans #0 weir.test@1.0
/// GET /cart abababababababababababababababab 0101010101010101 http.method=GET
/// ```
///
/// Spans show name, trace id, span id and attributes; log records their body and attributes;
/// metrics their name, unit, type and number of data points.
pub fn normal(payload: &Payload) -> Result<String, RenderError> {
    let signal = payload.signal();
    let (resource_name, scope_name) = group_names(signal);
    let mut out = String::new();
    let mut ri = 0;
    payload.view().for_each_scope(
        &mut out,
        |out, rg| {
            write!(out, "{resource_name} #{ri}")?;
            ri += 1;
            write_inline_attributes(out, rg.resource()?.attributes())?;
            out.push('\n');
            Ok::<_, RenderError>(0)
        },
        |out, si, sg| {
            let scope = sg.scope()?;
            writeln!(out, "{scope_name} #{si} {}@{}", scope.name()?, scope.version()?)?;
            *si += 1;
            normal_items(out, signal, sg)
        },
    )?;
    Ok(out)
}

fn normal_items(out: &mut String, signal: Signal, sg: ScopeGroupView<'_>) -> Result<(), RenderError> {
    match signal {
        Signal::Traces => {
            for span in sg.spans() {
                let span = span?;
                let f = span.fields()?;
                write!(out, "{} {} {}", f.name, Hex(f.trace_id), Hex(f.span_id))?;
                write_inline_attributes(out, span.attributes())?;
                out.push('\n');
            }
        }
        Signal::Logs => {
            for record in sg.log_records() {
                let record = record?;
                let f = record.fields()?;
                match f.body {
                    Some(body) => write_value(out, body, false, 0)?,
                    None => out.push_str("<no body>"),
                }
                write_inline_attributes(out, record.attributes())?;
                out.push('\n');
            }
        }
        Signal::Metrics => {
            for metric in sg.metrics() {
                let metric = metric?;
                let unit = metric.unit()?;
                let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
                let (name, kind) = (metric.name()?, metric.kind()?.name());
                writeln!(out, "{name}{unit} {kind} {} points", metric.data_point_count()?)?;
            }
        }
    }
    Ok(())
}

/// Every field, resource and scope included, in the Collector's layout.
pub fn detailed(payload: &Payload) -> Result<String, RenderError> {
    let signal = payload.signal();
    let (resource_name, scope_name) = group_names(signal);
    let mut out = String::new();
    let mut ri = 0;
    payload.view().for_each_scope(
        &mut out,
        |out, rg| {
            writeln!(out, "{resource_name} #{ri}")?;
            ri += 1;
            writeln!(out, "Resource SchemaURL: {}", rg.schema_url()?)?;
            write_attributes(out, "Resource attributes", rg.resource()?.attributes())?;
            Ok::<_, RenderError>(0)
        },
        |out, si, sg| {
            let scope = sg.scope()?;
            writeln!(out, "{scope_name} #{si}")?;
            *si += 1;
            writeln!(out, "{scope_name} SchemaURL: {}", sg.schema_url()?)?;
            writeln!(out, "InstrumentationScope {} {}", scope.name()?, scope.version()?)?;
            write_attributes(out, "InstrumentationScope attributes", scope.attributes())?;
            match signal {
                Signal::Traces => {
                    for (i, span) in sg.spans().enumerate() {
                        detailed_span(out, i, span?)?;
                    }
                }
                Signal::Logs => {
                    for (i, record) in sg.log_records().enumerate() {
                        detailed_log(out, i, record?)?;
                    }
                }
                Signal::Metrics => {
                    for (i, metric) in sg.metrics().enumerate() {
                        detailed_metric(out, i, metric?)?;
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(out)
}

fn detailed_span(out: &mut String, i: usize, span: SpanView<'_>) -> Result<(), RenderError> {
    let f = span.fields()?;
    let (events, links) = span.event_and_link_counts()?;
    writeln!(out, "Span #{i}")?;
    writeln!(out, "    Trace ID       : {}", Hex(f.trace_id))?;
    writeln!(out, "    Parent ID      : {}", Hex(f.parent_span_id))?;
    writeln!(out, "    ID             : {}", Hex(f.span_id))?;
    writeln!(out, "    Name           : {}", f.name)?;
    writeln!(out, "    Kind           : {}", SpanKind::from_i32(f.kind).name())?;
    if !f.trace_state.is_empty() {
        writeln!(out, "    TraceState     : {}", f.trace_state)?;
    }
    writeln!(out, "    Start time     : {}", Timestamp(f.start_time_unix_nano))?;
    writeln!(out, "    End time       : {}", Timestamp(f.end_time_unix_nano))?;
    writeln!(out, "    Status code    : {}", StatusCode::from_i32(f.status_code).name())?;
    writeln!(out, "    Status message : {}", f.status_message)?;
    writeln!(out, "    Flags          : {}", f.flags)?;
    writeln!(out, "    Events         : {events}")?;
    writeln!(out, "    Links          : {links}")?;
    write_attributes(out, "Attributes", span.attributes())
}

fn detailed_log(out: &mut String, i: usize, record: LogRecordView<'_>) -> Result<(), RenderError> {
    let f = record.fields()?;
    writeln!(out, "LogRecord #{i}")?;
    writeln!(out, "ObservedTimestamp: {}", Timestamp(f.observed_time_unix_nano))?;
    writeln!(out, "Timestamp: {}", Timestamp(f.time_unix_nano))?;
    writeln!(out, "SeverityText: {}", f.severity_text)?;
    let severity = SeverityNumber(f.severity_number);
    writeln!(out, "SeverityNumber: {}({})", severity.range_name(), f.severity_number)?;
    if !f.event_name.is_empty() {
        writeln!(out, "EventName: {}", f.event_name)?;
    }
    out.push_str("Body: ");
    match f.body {
        Some(body) => write_value(out, body, true, 0)?,
        None => out.push_str("Empty()"),
    }
    out.push('\n');
    write_attributes(out, "Attributes", record.attributes())?;
    writeln!(out, "Trace ID: {}", Hex(f.trace_id))?;
    writeln!(out, "Span ID: {}", Hex(f.span_id))?;
    writeln!(out, "Flags: {}", f.flags)?;
    Ok(())
}

fn detailed_metric(out: &mut String, i: usize, metric: MetricView<'_>) -> Result<(), RenderError> {
    let data = metric.typed_data()?;
    writeln!(out, "Metric #{i}")?;
    writeln!(out, "Descriptor:")?;
    writeln!(out, "     -> Name: {}", metric.name()?)?;
    writeln!(out, "     -> Description: {}", metric.description()?)?;
    writeln!(out, "     -> Unit: {}", metric.unit()?)?;
    writeln!(out, "     -> DataType: {}", data.kind().name())?;
    // Printed when set: a default value is absent from the wire.
    if let Some(t) = data.aggregation_temporality()?.filter(|t| *t != 0) {
        writeln!(out, "     -> AggregationTemporality: {}", AggregationTemporality::from_i32(t).name())?;
    }
    if let Some(true) = data.is_monotonic()? {
        writeln!(out, "     -> IsMonotonic: true")?;
    }
    for (pi, point) in data.data_points().enumerate() {
        match point? {
            DataPointView::Number(p) => number_point(out, pi, p)?,
            DataPointView::Histogram(p) => histogram_point(out, pi, p)?,
            DataPointView::ExponentialHistogram(p) => exponential_histogram_point(out, pi, p)?,
            DataPointView::Summary(p) => summary_point(out, pi, p)?,
        }
    }
    Ok(())
}

/// The title, attributes and timestamps of a data point.
fn write_point_header(out: &mut String, title: &str, i: usize, point: DataPointView<'_>) -> Result<(), RenderError> {
    writeln!(out, "{title} #{i}")?;
    write_attributes(out, "Data point attributes", point.attributes())?;
    writeln!(out, "StartTimestamp: {}", Timestamp(point.start_time_unix_nano()?))?;
    writeln!(out, "Timestamp: {}", Timestamp(point.time_unix_nano()?))?;
    Ok(())
}

// The data points print the fields that are set, in wire order: a zero count or scale is absent
// from the wire, and an absent optional sum, min or max is not printed.

fn number_point(out: &mut String, i: usize, point: NumberDataPointView<'_>) -> Result<(), RenderError> {
    write_point_header(out, "NumberDataPoints", i, DataPointView::Number(point))?;
    match point.value()? {
        Some(NumberValue::Double(d)) => writeln!(out, "Value: {d}")?,
        Some(NumberValue::Int(v)) => writeln!(out, "Value: {v}")?,
        None => {}
    }
    Ok(())
}

fn histogram_point(out: &mut String, i: usize, point: HistogramDataPointView<'_>) -> Result<(), RenderError> {
    write_point_header(out, "HistogramDataPoints", i, DataPointView::Histogram(point))?;
    let f = point.fields()?;
    write_count_and_sum(out, f.count, f.sum)?;
    write_min_max(out, f.min, f.max)?;
    for (bi, b) in point.explicit_bounds().enumerate() {
        writeln!(out, "ExplicitBounds #{bi}: {}", b?)?;
    }
    for (bi, c) in point.bucket_counts().enumerate() {
        writeln!(out, "Buckets #{bi}, Count: {}", c?)?;
    }
    Ok(())
}

fn exponential_histogram_point(
    out: &mut String,
    i: usize,
    point: ExponentialHistogramDataPointView<'_>,
) -> Result<(), RenderError> {
    write_point_header(out, "ExponentialHistogramDataPoints", i, DataPointView::ExponentialHistogram(point))?;
    let f = point.fields()?;
    write_count_and_sum(out, f.count, f.sum)?;
    if f.scale != 0 {
        writeln!(out, "Scale: {}", f.scale)?;
    }
    if f.zero_count != 0 {
        writeln!(out, "ZeroCount: {}", f.zero_count)?;
    }
    write_min_max(out, f.min, f.max)
}

fn summary_point(out: &mut String, i: usize, point: SummaryDataPointView<'_>) -> Result<(), RenderError> {
    write_point_header(out, "SummaryDataPoints", i, DataPointView::Summary(point))?;
    let f = point.fields()?;
    write_count_and_sum(out, f.count, (f.sum != 0.0).then_some(f.sum))?;
    for (qi, q) in point.quantile_values().enumerate() {
        let (q, v) = q?.get()?;
        writeln!(out, "QuantileValue #{qi}: Quantile {q}, Value {v}")?;
    }
    Ok(())
}

fn write_count_and_sum(out: &mut String, count: u64, sum: Option<f64>) -> Result<(), RenderError> {
    if count != 0 {
        writeln!(out, "Count: {count}")?;
    }
    if let Some(sum) = sum {
        writeln!(out, "Sum: {sum}")?;
    }
    Ok(())
}

fn write_min_max(out: &mut String, min: Option<f64>, max: Option<f64>) -> Result<(), RenderError> {
    if let Some(min) = min {
        writeln!(out, "Min: {min}")?;
    }
    if let Some(max) = max {
        writeln!(out, "Max: {max}")?;
    }
    Ok(())
}

/// ` key=value key=value` (plain values), for one-line renderings.
fn write_inline_attributes(out: &mut String, attrs: Attributes<'_>) -> Result<(), RenderError> {
    for kv in attrs.iter() {
        let (k, v) = kv?;
        write!(out, " {k}=")?;
        write_value(out, v, false, 0)?;
    }
    Ok(())
}

/// A titled block of `     -> key: Str(value)` lines; nothing when there are no attributes.
fn write_attributes(out: &mut String, title: &str, attrs: Attributes<'_>) -> Result<(), RenderError> {
    let mut first = true;
    for kv in attrs.iter() {
        let (k, v) = kv?;
        if first {
            writeln!(out, "{title}:")?;
            first = false;
        }
        write!(out, "     -> {k}: ")?;
        write_value(out, v, true, 0)?;
        out.push('\n');
    }
    Ok(())
}

/// An `AnyValue`: typed (`Str(x)`, `Int(1)`, …) or plain (`x`, `1`, …).
fn write_value(out: &mut String, v: AnyValueView<'_>, typed: bool, depth: usize) -> Result<(), RenderError> {
    if depth > MAX_VALUE_DEPTH {
        out.push('…');
        return Ok(());
    }
    match v.get()? {
        AnyValue::Empty if typed => out.push_str("Empty()"),
        AnyValue::Empty => {}
        AnyValue::String(s) => write_scalar(out, typed, "Str", s)?,
        AnyValue::Bool(b) => write_scalar(out, typed, "Bool", b)?,
        AnyValue::Int(i) => write_scalar(out, typed, "Int", i)?,
        AnyValue::Double(d) => write_scalar(out, typed, "Double", d)?,
        AnyValue::Bytes(b) => write_scalar(out, typed, "Bytes", Hex(b))?,
        AnyValue::Array(buf) => {
            out.push_str(if typed { "Slice([" } else { "[" });
            for (i, element) in ArrayView::new(buf).values().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, element?, typed, depth + 1)?;
            }
            out.push_str(if typed { "])" } else { "]" });
        }
        AnyValue::KvList(buf) => {
            out.push_str(if typed { "Map({" } else { "{" });
            for (i, kv) in Attributes::key_value_list(buf).iter().enumerate() {
                let (k, v) = kv?;
                if i > 0 {
                    out.push_str(", ");
                }
                write!(out, "{k}: ")?;
                write_value(out, v, typed, depth + 1)?;
            }
            out.push_str(if typed { "})" } else { "}" });
        }
    }
    Ok(())
}

fn write_scalar(out: &mut String, typed: bool, tag: &str, v: impl std::fmt::Display) -> std::fmt::Result {
    if typed {
        write!(out, "{tag}({v})")
    } else {
        write!(out, "{v}")
    }
}

/// Lower-case hex of ids and bytes values.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Nanoseconds since the epoch, as the Collector prints them (`2026-01-02 03:04:05.000000789 +0000 UTC`).
struct Timestamp(u64);

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = (self.0 / 1_000_000_000) as i64;
        let nanos = (self.0 % 1_000_000_000) as u32;
        match chrono::DateTime::from_timestamp(secs, nanos) {
            Some(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S%.9f +0000 UTC")),
            None => write!(f, "{}ns", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn counts_resources_metrics_and_items() {
        assert_eq!(Counts::of(&testdata::traces(3)).unwrap(), Counts { resources: 1, metrics: 0, items: 3 });
        assert_eq!(Counts::of(&testdata::metrics(4)).unwrap(), Counts { resources: 1, metrics: 3, items: 6 });
        assert_eq!(Counts::of(&testdata::logs(2)).unwrap(), Counts { resources: 1, metrics: 0, items: 2 });
    }

    #[test]
    fn normal_has_one_line_per_span() {
        let text = normal(&testdata::traces(2)).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "ResourceSpans #0 service.name=checkout");
        assert_eq!(lines[1], "ScopeSpans #0 weir.test@1.0");
        assert_eq!(
            lines[2],
            "GET /cart/0 abababababababababababababababab 0101010101010101 http.method=GET http.status_code=200"
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn normal_shows_log_bodies_and_metric_points() {
        let logs = normal(&testdata::logs(1)).unwrap();
        assert!(logs.contains("\norder 0 placed order.id=0\n"), "{logs}");
        let metrics = normal(&testdata::metrics(3)).unwrap();
        assert!(metrics.contains("\nsystem.cpu.utilization 1 Gauge 3 points\n"), "{metrics}");
        assert!(metrics.contains("\nhttp.server.duration ms Histogram 1 points\n"), "{metrics}");
    }

    #[test]
    fn detailed_shows_every_span_field_and_the_resource() {
        let text = detailed(&testdata::traces(1)).unwrap();
        crate::testdata::assert_contains_all(
            &text,
            &[
                "Resource attributes:\n     -> service.name: Str(checkout)\n",
                "InstrumentationScope weir.test 1.0\n",
                "    Trace ID       : abababababababababababababababab\n",
                "    Kind           : Server\n",
                "    Start time     : 2026-01-02 03:04:05.000000000 +0000 UTC\n",
                "    End time       : 2026-01-02 03:04:05.001500000 +0000 UTC\n",
                "    Status code    : Ok\n",
                "     -> http.status_code: Int(200)\n",
            ],
        );
    }

    #[test]
    fn detailed_shows_data_points() {
        let text = detailed(&testdata::metrics(2)).unwrap();
        crate::testdata::assert_contains_all(
            &text,
            &[
                "     -> DataType: Gauge\n",
                "NumberDataPoints #1\nData point attributes:\n     -> cpu: Str(1)\n",
                "Value: 0.25\n",
                "     -> AggregationTemporality: Cumulative\n",
                "Count: 3\nSum: 42\n",
                "ExplicitBounds #0: 10\nBuckets #0, Count: 1\nBuckets #1, Count: 2\n",
                "     -> IsMonotonic: true\n",
                "Value: 7\n",
            ],
        );
    }

    #[test]
    fn detailed_shows_log_records() {
        let text = detailed(&testdata::logs(1)).unwrap();
        crate::testdata::assert_contains_all(
            &text,
            &["SeverityNumber: Info(9)\n", "Body: Str(order 0 placed)\n", "Span ID: 0101010101010101\n"],
        );
    }

    #[test]
    fn nested_values_are_rendered_and_bounded() {
        use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue as Av, ArrayValue};
        use prost::Message;
        let mut v = Av { value: Some(V::IntValue(1)) };
        for _ in 0..100 {
            v = Av { value: Some(V::ArrayValue(ArrayValue { values: vec![v] })) };
        }
        let bytes = v.encode_to_vec();
        let mut out = String::new();
        write_value(&mut out, AnyValueView::new(&bytes), true, 0).unwrap();
        assert!(out.starts_with("Slice([Slice(["), "{out}");
        assert!(out.contains('…'), "{out}");
    }
}
