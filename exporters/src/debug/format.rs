//! Text renderings of a payload for the `debug` exporter, read through the views (no prost).
//!
//! - [`Counts`]: the `basic` summary.
//! - [`normal`]: one line per resource, scope and item.
//! - [`detailed`]: every field, in the layout of the Collector's debug exporter.

use std::fmt::Write;
use weir_core::pdata::views::{
    AnyValue, AnyValueView, Attributes, LogRecordView, MetricKind, MetricView, ScopeGroupView, SpanKind, SpanView,
};
use weir_core::pdata::wire::{Fields, Value, WireError};
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
        for rg in payload.view().resources() {
            let rg = rg?;
            c.resources += 1;
            if payload.signal() == Signal::Metrics {
                for sg in rg.scopes() {
                    for m in sg?.metrics() {
                        m?;
                        c.metrics += 1;
                    }
                }
            }
        }
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
    for (ri, rg) in payload.view().resources().enumerate() {
        let rg = rg?;
        write!(out, "{resource_name} #{ri}")?;
        write_inline_attributes(&mut out, rg.resource()?.attributes())?;
        out.push('\n');
        for (si, sg) in rg.scopes().enumerate() {
            let sg = sg?;
            let scope = sg.scope()?;
            writeln!(out, "{scope_name} #{si} {}@{}", scope.name()?, scope.version()?)?;
            normal_items(&mut out, signal, sg)?;
        }
    }
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
                let (kind, _) = metric.data()?;
                let unit = metric.unit()?;
                let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
                writeln!(out, "{}{unit} {} {} points", metric.name()?, kind_name(kind), metric.data_point_count()?)?;
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
    for (ri, rg) in payload.view().resources().enumerate() {
        let rg = rg?;
        writeln!(out, "{resource_name} #{ri}")?;
        writeln!(out, "Resource SchemaURL: {}", rg.schema_url()?)?;
        write_attributes(&mut out, "Resource attributes", rg.resource()?.attributes())?;
        for (si, sg) in rg.scopes().enumerate() {
            let sg = sg?;
            let scope = sg.scope()?;
            writeln!(out, "{scope_name} #{si}")?;
            writeln!(out, "{scope_name} SchemaURL: {}", sg.schema_url()?)?;
            writeln!(out, "InstrumentationScope {} {}", scope.name()?, scope.version()?)?;
            write_attributes(&mut out, "InstrumentationScope attributes", scope.attributes())?;
            match signal {
                Signal::Traces => {
                    for (i, span) in sg.spans().enumerate() {
                        detailed_span(&mut out, i, span?)?;
                    }
                }
                Signal::Logs => {
                    for (i, record) in sg.log_records().enumerate() {
                        detailed_log(&mut out, i, record?)?;
                    }
                }
                Signal::Metrics => {
                    for (i, metric) in sg.metrics().enumerate() {
                        detailed_metric(&mut out, i, metric?)?;
                    }
                }
            }
        }
    }
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
    writeln!(out, "    Kind           : {:?}", SpanKind::from_i32(f.kind))?;
    if !f.trace_state.is_empty() {
        writeln!(out, "    TraceState     : {}", f.trace_state)?;
    }
    writeln!(out, "    Start time     : {}", Timestamp(f.start_time_unix_nano))?;
    writeln!(out, "    End time       : {}", Timestamp(f.end_time_unix_nano))?;
    let status = match f.status_code {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    };
    writeln!(out, "    Status code    : {status}")?;
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
    writeln!(out, "SeverityNumber: {}({})", severity_name(f.severity_number), f.severity_number)?;
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
    let (kind, data) = metric.data()?;
    writeln!(out, "Metric #{i}")?;
    writeln!(out, "Descriptor:")?;
    writeln!(out, "     -> Name: {}", metric.name()?)?;
    writeln!(out, "     -> Description: {}", metric.description()?)?;
    writeln!(out, "     -> Unit: {}", metric.unit()?)?;
    writeln!(out, "     -> DataType: {}", kind_name(kind))?;
    // Sum: 2 aggregation_temporality, 3 is_monotonic; Histogram and ExponentialHistogram: 2.
    for f in Fields::new(data) {
        let f = f?;
        match (kind, f.number) {
            (MetricKind::Sum | MetricKind::Histogram | MetricKind::ExponentialHistogram, 2) => {
                writeln!(out, "     -> AggregationTemporality: {}", temporality_name(f.varint()?))?
            }
            (MetricKind::Sum, 3) => writeln!(out, "     -> IsMonotonic: {}", f.varint()? != 0)?,
            _ => {}
        }
    }
    for (pi, point) in metric.data_points()?.enumerate() {
        let point = point?;
        match kind {
            MetricKind::Gauge | MetricKind::Sum => number_point(out, pi, point)?,
            MetricKind::Histogram => histogram_point(out, pi, point)?,
            MetricKind::ExponentialHistogram => exponential_histogram_point(out, pi, point)?,
            MetricKind::Summary => summary_point(out, pi, point)?,
            MetricKind::Empty => {}
        }
    }
    Ok(())
}

/// The title, attributes (in field `attributes_field`) and timestamps of a data point; every
/// kind keeps its start and end times in fields 2 and 3.
fn write_point_header(
    out: &mut String,
    title: &str,
    i: usize,
    point: &[u8],
    attributes_field: u32,
) -> Result<(), RenderError> {
    writeln!(out, "{title} #{i}")?;
    write_attributes(out, "Data point attributes", Attributes::new(point, attributes_field))?;
    let (mut start, mut time) = (0, 0);
    for f in Fields::new(point) {
        let f = f?;
        match f.number {
            2 => start = f.fixed64()?,
            3 => time = f.fixed64()?,
            _ => {}
        }
    }
    writeln!(out, "StartTimestamp: {}", Timestamp(start))?;
    writeln!(out, "Timestamp: {}", Timestamp(time))?;
    Ok(())
}

/// `NumberDataPoint`: 7 attributes, 4 as_double, 6 as_int.
fn number_point(out: &mut String, i: usize, point: &[u8]) -> Result<(), RenderError> {
    write_point_header(out, "NumberDataPoints", i, point, 7)?;
    for f in Fields::new(point) {
        let f = f?;
        match f.number {
            4 => writeln!(out, "Value: {}", f64::from_bits(f.fixed64()?))?,
            6 => writeln!(out, "Value: {}", f.fixed64()? as i64)?,
            _ => {}
        }
    }
    Ok(())
}

/// `HistogramDataPoint`: 9 attributes, 4 count, 5 sum, 6 bucket_counts, 7 explicit_bounds,
/// 11 min, 12 max.
fn histogram_point(out: &mut String, i: usize, point: &[u8]) -> Result<(), RenderError> {
    write_point_header(out, "HistogramDataPoints", i, point, 9)?;
    let (mut buckets, mut bounds) = (Vec::new(), Vec::new());
    for f in Fields::new(point) {
        let f = f?;
        match f.number {
            4 => writeln!(out, "Count: {}", f.fixed64()?)?,
            5 => writeln!(out, "Sum: {}", f64::from_bits(f.fixed64()?))?,
            6 => repeated_fixed64(&f.value, &mut buckets)?,
            7 => repeated_fixed64(&f.value, &mut bounds)?,
            11 => writeln!(out, "Min: {}", f64::from_bits(f.fixed64()?))?,
            12 => writeln!(out, "Max: {}", f64::from_bits(f.fixed64()?))?,
            _ => {}
        }
    }
    for (bi, b) in bounds.iter().enumerate() {
        writeln!(out, "ExplicitBounds #{bi}: {}", f64::from_bits(*b))?;
    }
    for (bi, c) in buckets.iter().enumerate() {
        writeln!(out, "Buckets #{bi}, Count: {c}")?;
    }
    Ok(())
}

/// `ExponentialHistogramDataPoint`: 1 attributes, 4 count, 5 sum, 6 scale, 7 zero_count,
/// 12 min, 13 max.
fn exponential_histogram_point(out: &mut String, i: usize, point: &[u8]) -> Result<(), RenderError> {
    write_point_header(out, "ExponentialHistogramDataPoints", i, point, 1)?;
    for f in Fields::new(point) {
        let f = f?;
        match f.number {
            4 => writeln!(out, "Count: {}", f.fixed64()?)?,
            5 => writeln!(out, "Sum: {}", f64::from_bits(f.fixed64()?))?,
            6 => {
                // sint32: zigzag encoded.
                let z = f.varint()?;
                writeln!(out, "Scale: {}", ((z >> 1) as i64) ^ -((z & 1) as i64))?
            }
            7 => writeln!(out, "ZeroCount: {}", f.fixed64()?)?,
            12 => writeln!(out, "Min: {}", f64::from_bits(f.fixed64()?))?,
            13 => writeln!(out, "Max: {}", f64::from_bits(f.fixed64()?))?,
            _ => {}
        }
    }
    Ok(())
}

/// `SummaryDataPoint`: 7 attributes, 4 count, 5 sum, 6 quantile_values {1 quantile, 2 value}.
fn summary_point(out: &mut String, i: usize, point: &[u8]) -> Result<(), RenderError> {
    write_point_header(out, "SummaryDataPoints", i, point, 7)?;
    let mut qi = 0;
    for f in Fields::new(point) {
        let f = f?;
        match f.number {
            4 => writeln!(out, "Count: {}", f.fixed64()?)?,
            5 => writeln!(out, "Sum: {}", f64::from_bits(f.fixed64()?))?,
            6 => {
                let (mut q, mut v) = (0.0, 0.0);
                for qf in Fields::new(f.bytes()?) {
                    let qf = qf?;
                    match qf.number {
                        1 => q = f64::from_bits(qf.fixed64()?),
                        2 => v = f64::from_bits(qf.fixed64()?),
                        _ => {}
                    }
                }
                writeln!(out, "QuantileValue #{qi}: Quantile {q}, Value {v}")?;
                qi += 1;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A `repeated fixed64` / `repeated double` field, packed (one bytes field) or not.
fn repeated_fixed64(value: &Value<'_>, out: &mut Vec<u64>) -> Result<(), WireError> {
    match *value {
        Value::Fixed64(v) => out.push(v),
        Value::Bytes(b) => {
            if b.len() % 8 != 0 {
                return Err(WireError::Truncated);
            }
            out.extend(b.chunks_exact(8).map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])));
        }
        v => return Err(WireError::UnexpectedWireType { field: 0, wire_type: v.wire_type() }),
    }
    Ok(())
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Gauge => "Gauge",
        MetricKind::Sum => "Sum",
        MetricKind::Histogram => "Histogram",
        MetricKind::ExponentialHistogram => "ExponentialHistogram",
        MetricKind::Summary => "Summary",
        MetricKind::Empty => "Empty",
    }
}

fn temporality_name(v: u64) -> &'static str {
    match v {
        1 => "Delta",
        2 => "Cumulative",
        _ => "Unspecified",
    }
}

fn severity_name(n: i32) -> &'static str {
    match n {
        1..=4 => "Trace",
        5..=8 => "Debug",
        9..=12 => "Info",
        13..=16 => "Warn",
        17..=20 => "Error",
        21..=24 => "Fatal",
        _ => "Unspecified",
    }
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
            // ArrayValue: 1 repeated AnyValue.
            for (i, f) in Fields::new(buf).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, AnyValueView::new(f?.bytes()?), typed, depth + 1)?;
            }
            out.push_str(if typed { "])" } else { "]" });
        }
        AnyValue::KvList(buf) => {
            out.push_str(if typed { "Map({" } else { "{" });
            // KeyValueList: 1 repeated KeyValue.
            for (i, kv) in Attributes::new(buf, 1).iter().enumerate() {
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
