//! Rows, straight from the received protobuf: one per span, log record and metric data point,
//! encoded in `RowBinary` in the column order of [`Table::insert_columns`].
//!
//! The request is walked once through `weir_core`'s views; nothing is decoded into a tree.
//! What repeats on every row of a resource or scope (its attribute maps, names, schema URLs) is
//! encoded once and copied, so a row costs its own fields, its attributes (stringified and
//! sorted, see [`MapScratch`]) and a memcpy.

use super::rowbinary::*;
use super::schema::Table;
use weir_core::pdata::views::{Attributes, MetricKind, RequestView, ScopeGroupView, SpanKind};
use weir_core::pdata::wire::{read_varint, Field, Fields, Value, WireError};
use weir_core::Signal;

/// The rows of one table, ready to be sent.
#[derive(Debug, Default)]
pub struct TableRows {
    pub rows: usize,
    pub body: Vec<u8>,
}

/// The encoded rows of one request, per table (empty tables included).
#[derive(Debug)]
pub struct EncodedRequest {
    pub tables: Vec<(Table, TableRows)>,
}

impl EncodedRequest {
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.rows).sum()
    }
}

/// Encodes every row of an `Export*ServiceRequest` of `signal`.
pub fn encode(signal: Signal, request: &[u8]) -> Result<EncodedRequest, WireError> {
    let mut maps = MapScratch::default();
    let tables = match signal {
        Signal::Traces => {
            let mut t = TableRows::default();
            let (mut events, mut links) = (Vec::new(), Vec::new());
            for_each_scope(request, &mut maps, |res, scope, sg, maps| {
                for span in sg.spans() {
                    put_span(&mut t.body, res, scope, span?.bytes(), maps, (&mut events, &mut links))?;
                    t.rows += 1;
                }
                Ok(())
            })?;
            vec![(Table::Traces, t)]
        }
        Signal::Logs => {
            let mut t = TableRows::default();
            let mut body = String::new();
            for_each_scope(request, &mut maps, |res, scope, sg, maps| {
                for record in sg.log_records() {
                    put_log(&mut t.body, res, scope, record?.bytes(), maps, &mut body)?;
                    t.rows += 1;
                }
                Ok(())
            })?;
            vec![(Table::Logs, t)]
        }
        Signal::Metrics => {
            let mut tables: Vec<(Table, TableRows)> =
                Table::METRICS.iter().map(|t| (*t, TableRows::default())).collect();
            for_each_scope(request, &mut maps, |res, scope, sg, maps| {
                for metric in sg.metrics() {
                    put_metric(&mut tables, res, scope, metric?.bytes(), maps)?;
                }
                Ok(())
            })?;
            tables
        }
    };
    Ok(EncodedRequest { tables })
}

/// What the rows of one resource repeat.
struct ResourceRow<'a> {
    service: &'a [u8],
    /// The encoded `ResourceAttributes` map.
    attributes: Vec<u8>,
    schema_url: &'a [u8],
}

/// What the rows of one scope repeat.
struct ScopeRow<'a> {
    name: &'a [u8],
    version: &'a [u8],
    /// The encoded `ScopeAttributes` map.
    attributes: Vec<u8>,
    dropped_attributes: u32,
    schema_url: &'a [u8],
}

/// Calls `each` for every scope group, with what its rows repeat.
fn for_each_scope<'a>(
    request: &'a [u8],
    maps: &mut MapScratch,
    mut each: impl FnMut(&ResourceRow<'a>, &ScopeRow<'a>, ScopeGroupView<'a>, &mut MapScratch) -> Result<(), WireError>,
) -> Result<(), WireError> {
    for rg in RequestView::new(request).resources() {
        let rg = rg?;
        let resource = rg.resource()?;
        let res = ResourceRow {
            service: resource.service_name()?.unwrap_or("").as_bytes(),
            attributes: maps.encoded(resource.attributes())?,
            schema_url: rg.schema_url()?.as_bytes(),
        };
        for sg in rg.scopes() {
            let sg = sg?;
            let scope = scope_row(sg, maps)?;
            each(&res, &scope, sg, maps)?;
        }
    }
    Ok(())
}

/// `InstrumentationScope { 1 name; 2 version; 3 attributes; 4 dropped_attributes_count }`.
fn scope_row<'a>(sg: ScopeGroupView<'a>, maps: &mut MapScratch) -> Result<ScopeRow<'a>, WireError> {
    let mut row = ScopeRow { name: b"", version: b"", attributes: Vec::new(), dropped_attributes: 0, schema_url: b"" };
    let mut scope: &[u8] = &[];
    for f in Fields::new(sg.bytes()) {
        let f = f?;
        match f.number {
            1 => scope = f.bytes()?,
            3 => row.schema_url = f.bytes()?,
            _ => {}
        }
    }
    for f in Fields::new(scope) {
        let f = f?;
        match f.number {
            1 => row.name = f.bytes()?,
            2 => row.version = f.bytes()?,
            4 => row.dropped_attributes = f.varint()? as u32,
            _ => {}
        }
    }
    row.attributes = maps.encoded(Attributes::new(scope, 3))?;
    Ok(row)
}

/// `SpanKind` as the Collector's exporter writes it (pdata `Kind().String()`).
pub fn span_kind_name(kind: i32) -> &'static str {
    match SpanKind::from_i32(kind) {
        SpanKind::Unspecified => "Unspecified",
        SpanKind::Internal => "Internal",
        SpanKind::Server => "Server",
        SpanKind::Client => "Client",
        SpanKind::Producer => "Producer",
        SpanKind::Consumer => "Consumer",
    }
}

/// `StatusCode` as the Collector's exporter writes it (pdata `Code().String()`).
pub fn status_code_name(code: i32) -> &'static str {
    match code {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    }
}

/// Field `number` of `buf` as bytes (empty when absent; the last occurrence wins).
fn bytes_of(buf: &[u8], number: u32) -> Result<&[u8], WireError> {
    let mut out: &[u8] = &[];
    for f in Fields::new(buf) {
        let f = f?;
        if f.number == number {
            out = f.bytes()?;
        }
    }
    Ok(out)
}

/// Field `number` of `buf` as a fixed64 (0 when absent).
fn fixed64_of(buf: &[u8], number: u32) -> Result<u64, WireError> {
    let mut out = 0;
    for f in Fields::new(buf) {
        let f = f?;
        if f.number == number {
            out = f.fixed64()?;
        }
    }
    Ok(out)
}

/// One `otel_traces` row.
/// `nested` is reused between spans for the span's events and links.
fn put_span<'a>(
    out: &mut Vec<u8>,
    res: &ResourceRow<'_>,
    scope: &ScopeRow<'_>,
    span: &'a [u8],
    maps: &mut MapScratch,
    nested: (&mut Vec<&'a [u8]>, &mut Vec<&'a [u8]>),
) -> Result<(), WireError> {
    let s = weir_core::pdata::views::SpanView::new(span).fields()?;
    let (events, links) = nested;
    events.clear();
    links.clear();
    for f in Fields::new(span) {
        let f = f?;
        match f.number {
            11 => events.push(f.bytes()?),
            13 => links.push(f.bytes()?),
            _ => {}
        }
    }
    put_datetime64_ns(out, s.start_time_unix_nano);
    put_hex_id(out, s.trace_id);
    put_hex_id(out, s.span_id);
    put_hex_id(out, s.parent_span_id);
    put_str(out, s.trace_state.as_bytes());
    put_str(out, s.name.as_bytes());
    put_str(out, span_kind_name(s.kind).as_bytes());
    put_str(out, res.service);
    out.extend_from_slice(&res.attributes);
    put_str(out, scope.name);
    put_str(out, scope.version);
    maps.put_attributes(out, Attributes::new(span, 9))?;
    put_u64(out, s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano));
    put_str(out, status_code_name(s.status_code).as_bytes());
    put_str(out, s.status_message.as_bytes());

    // Event { 1 time_unix_nano; 2 name; 3 attributes }
    put_varint(out, events.len() as u64);
    for e in events.iter() {
        put_datetime64_ns(out, fixed64_of(e, 1)?);
    }
    put_varint(out, events.len() as u64);
    for e in events.iter() {
        put_str(out, bytes_of(e, 2)?);
    }
    put_varint(out, events.len() as u64);
    for e in events.iter() {
        maps.put_attributes(out, Attributes::new(e, 3))?;
    }
    // Link { 1 trace_id; 2 span_id; 3 trace_state; 4 attributes }
    for (number, hex) in [(1, true), (2, true), (3, false)] {
        put_varint(out, links.len() as u64);
        for l in links.iter() {
            let v = bytes_of(l, number)?;
            if hex {
                put_hex_id(out, v);
            } else {
                put_str(out, v);
            }
        }
    }
    put_varint(out, links.len() as u64);
    for l in links.iter() {
        maps.put_attributes(out, Attributes::new(l, 4))?;
    }
    Ok(())
}

/// One `otel_logs` row. `body` is reused between rows.
fn put_log(
    out: &mut Vec<u8>,
    res: &ResourceRow<'_>,
    scope: &ScopeRow<'_>,
    record: &[u8],
    maps: &mut MapScratch,
    body: &mut String,
) -> Result<(), WireError> {
    let r = weir_core::pdata::views::LogRecordView::new(record).fields()?;
    let time = if r.time_unix_nano != 0 { r.time_unix_nano } else { r.observed_time_unix_nano };
    put_datetime64_ns(out, time);
    put_hex_id(out, r.trace_id);
    put_hex_id(out, r.span_id);
    put_u8(out, r.flags as u8);
    put_str(out, r.severity_text.as_bytes());
    put_u8(out, r.severity_number.clamp(0, 255) as u8);
    put_str(out, res.service);
    body.clear();
    if let Some(v) = r.body {
        write_value(body, v)?;
    }
    put_str(out, body.as_bytes());
    put_str(out, res.schema_url);
    out.extend_from_slice(&res.attributes);
    put_str(out, scope.schema_url);
    put_str(out, scope.name);
    put_str(out, scope.version);
    out.extend_from_slice(&scope.attributes);
    maps.put_attributes(out, Attributes::new(record, 6))?;
    put_str(out, r.event_name.as_bytes());
    Ok(())
}

/// One data point of any metric type, read from its encoding; absent numbers are 0, as the
/// Collector writes them.
#[derive(Default)]
struct Point<'a> {
    start: u64,
    time: u64,
    value: f64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    flags: u32,
    bucket_counts: Vec<u64>,
    explicit_bounds: Vec<f64>,
    scale: i32,
    zero_count: u64,
    positive: (i32, Vec<u64>),
    negative: (i32, Vec<u64>),
    quantiles: Vec<(f64, f64)>,
    exemplars: Vec<&'a [u8]>,
}

fn double(f: &Field<'_>) -> Result<f64, WireError> {
    f.fixed64().map(f64::from_bits)
}

/// A repeated fixed64 (packed or not) into `out`.
fn fixed64s(f: &Field<'_>, out: &mut Vec<u64>) -> Result<(), WireError> {
    match f.value {
        Value::Fixed64(v) => out.push(v),
        Value::Bytes(b) if b.len().is_multiple_of(8) => {
            out.extend(b.chunks_exact(8).map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])))
        }
        Value::Bytes(_) => return Err(WireError::Truncated),
        v => return Err(WireError::UnexpectedWireType { field: f.number, wire_type: v.wire_type() }),
    }
    Ok(())
}

fn zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// `Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2; }`
fn buckets(buf: &[u8]) -> Result<(i32, Vec<u64>), WireError> {
    let (mut offset, mut counts) = (0, Vec::new());
    for f in Fields::new(buf) {
        let f = f?;
        match (f.number, f.value) {
            (1, _) => offset = zigzag32(f.varint()?),
            (2, Value::Varint(v)) => counts.push(v),
            (2, Value::Bytes(b)) => {
                let mut pos = 0;
                while pos < b.len() {
                    counts.push(read_varint(b, &mut pos)?);
                }
            }
            _ => {}
        }
    }
    Ok((offset, counts))
}

/// The field numbers of a data point's attributes and exemplars, by metric type.
fn point_fields(kind: MetricKind) -> (u32, u32) {
    match kind {
        MetricKind::Histogram => (9, 8),
        MetricKind::ExponentialHistogram => (1, 11),
        // Summary points have no exemplars (field 0 never occurs).
        MetricKind::Summary => (7, 0),
        _ => (7, 5),
    }
}

impl<'a> Point<'a> {
    fn read(kind: MetricKind, buf: &'a [u8]) -> Result<Point<'a>, WireError> {
        use MetricKind::*;
        let mut p = Point::default();
        let (_, exemplar_field) = point_fields(kind);
        for f in Fields::new(buf) {
            let f = f?;
            if f.number == exemplar_field {
                p.exemplars.push(f.bytes()?);
                continue;
            }
            match (kind, f.number) {
                (_, 2) => p.start = f.fixed64()?,
                (_, 3) => p.time = f.fixed64()?,
                (Gauge | Sum, 4) => p.value = double(&f)?,
                (Gauge | Sum, 6) => p.value = f.fixed64()? as i64 as f64,
                (Gauge | Sum | Summary, 8) | (Histogram | ExponentialHistogram, 10) => p.flags = f.varint()? as u32,
                (Histogram | ExponentialHistogram | Summary, 4) => p.count = f.fixed64()?,
                (Histogram | ExponentialHistogram | Summary, 5) => p.sum = double(&f)?,
                (Histogram, 6) => fixed64s(&f, &mut p.bucket_counts)?,
                (Histogram, 7) => {
                    let mut bits = Vec::new();
                    fixed64s(&f, &mut bits)?;
                    p.explicit_bounds.extend(bits.into_iter().map(f64::from_bits));
                }
                (Histogram, 11) | (ExponentialHistogram, 12) => p.min = double(&f)?,
                (Histogram, 12) | (ExponentialHistogram, 13) => p.max = double(&f)?,
                (ExponentialHistogram, 6) => p.scale = zigzag32(f.varint()?),
                (ExponentialHistogram, 7) => p.zero_count = f.fixed64()?,
                (ExponentialHistogram, 8) => p.positive = buckets(f.bytes()?)?,
                (ExponentialHistogram, 9) => p.negative = buckets(f.bytes()?)?,
                (Summary, 6) => {
                    // ValueAtQuantile { double quantile = 1; double value = 2; }
                    let (mut q, mut v) = (0.0, 0.0);
                    for qf in Fields::new(f.bytes()?) {
                        let qf = qf?;
                        match qf.number {
                            1 => q = double(&qf)?,
                            2 => v = double(&qf)?,
                            _ => {}
                        }
                    }
                    p.quantiles.push((q, v));
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

/// `Exemplar { 7 filtered_attributes; 2 time_unix_nano; 3 as_double; 6 as_int; 4 span_id;
/// 5 trace_id }` as the five `Exemplars.*` array columns.
fn put_exemplars(out: &mut Vec<u8>, exemplars: &[&[u8]], maps: &mut MapScratch) -> Result<(), WireError> {
    let n = exemplars.len() as u64;
    put_varint(out, n);
    for e in exemplars {
        maps.put_attributes(out, Attributes::new(e, 7))?;
    }
    put_varint(out, n);
    for e in exemplars {
        put_datetime64_ns(out, fixed64_of(e, 2)?);
    }
    put_varint(out, n);
    for e in exemplars {
        let mut value = 0.0;
        for f in Fields::new(e) {
            let f = f?;
            match f.number {
                3 => value = double(&f)?,
                6 => value = f.fixed64()? as i64 as f64,
                _ => {}
            }
        }
        put_f64(out, value);
    }
    put_varint(out, n);
    for e in exemplars {
        put_hex_id(out, bytes_of(e, 4)?);
    }
    put_varint(out, n);
    for e in exemplars {
        put_hex_id(out, bytes_of(e, 5)?);
    }
    Ok(())
}

fn put_u64s(out: &mut Vec<u8>, values: &[u64]) {
    put_varint(out, values.len() as u64);
    for v in values {
        put_u64(out, *v);
    }
}

/// Every data point of one metric, each a row of its type's table.
fn put_metric(
    tables: &mut [(Table, TableRows)],
    res: &ResourceRow<'_>,
    scope: &ScopeRow<'_>,
    metric: &[u8],
    maps: &mut MapScratch,
) -> Result<(), WireError> {
    let view = weir_core::pdata::views::MetricView::new(metric);
    let (kind, data) = view.data()?;
    let index = match kind {
        MetricKind::Gauge => 0,
        MetricKind::Sum => 1,
        MetricKind::Histogram => 2,
        MetricKind::ExponentialHistogram => 3,
        MetricKind::Summary => 4,
        MetricKind::Empty => return Ok(()),
    };
    let (name, description, unit) = (view.name()?, view.description()?, view.unit()?);
    // Sum { 2 aggregation_temporality; 3 is_monotonic }, (Exponential)Histogram { 2 … }.
    let (mut temporality, mut monotonic) = (0i32, false);
    for f in Fields::new(data) {
        let f = f?;
        match f.number {
            2 => temporality = f.varint()? as i32,
            3 if kind == MetricKind::Sum => monotonic = f.varint()? != 0,
            _ => {}
        }
    }
    let (attributes_field, _) = point_fields(kind);
    let t = &mut tables[index].1;
    let out = &mut t.body;
    for dp in Fields::new(data) {
        let dp = dp?;
        if dp.number != 1 {
            continue;
        }
        let dp = dp.bytes()?;
        let p = Point::read(kind, dp)?;
        out.extend_from_slice(&res.attributes);
        put_str(out, res.schema_url);
        put_str(out, scope.name);
        put_str(out, scope.version);
        out.extend_from_slice(&scope.attributes);
        put_u32(out, scope.dropped_attributes);
        put_str(out, scope.schema_url);
        put_str(out, res.service);
        put_str(out, name.as_bytes());
        put_str(out, description.as_bytes());
        put_str(out, unit.as_bytes());
        maps.put_attributes(out, Attributes::new(dp, attributes_field))?;
        put_datetime64_ns(out, p.start);
        put_datetime64_ns(out, p.time);
        match kind {
            MetricKind::Gauge | MetricKind::Sum => {
                put_f64(out, p.value);
                put_u32(out, p.flags);
                put_exemplars(out, &p.exemplars, maps)?;
                if kind == MetricKind::Sum {
                    put_i32(out, temporality);
                    put_u8(out, u8::from(monotonic));
                }
            }
            MetricKind::Histogram => {
                put_u64(out, p.count);
                put_f64(out, p.sum);
                put_u64s(out, &p.bucket_counts);
                put_varint(out, p.explicit_bounds.len() as u64);
                for b in &p.explicit_bounds {
                    put_f64(out, *b);
                }
                put_exemplars(out, &p.exemplars, maps)?;
                put_u32(out, p.flags);
                put_f64(out, p.min);
                put_f64(out, p.max);
                put_i32(out, temporality);
            }
            MetricKind::ExponentialHistogram => {
                put_u64(out, p.count);
                put_f64(out, p.sum);
                put_i32(out, p.scale);
                put_u64(out, p.zero_count);
                put_i32(out, p.positive.0);
                put_u64s(out, &p.positive.1);
                put_i32(out, p.negative.0);
                put_u64s(out, &p.negative.1);
                put_exemplars(out, &p.exemplars, maps)?;
                put_u32(out, p.flags);
                put_f64(out, p.min);
                put_f64(out, p.max);
                put_i32(out, temporality);
            }
            MetricKind::Summary => {
                put_u64(out, p.count);
                put_f64(out, p.sum);
                put_varint(out, p.quantiles.len() as u64);
                for (q, _) in &p.quantiles {
                    put_f64(out, *q);
                }
                put_varint(out, p.quantiles.len() as u64);
                for (_, v) in &p.quantiles {
                    put_f64(out, *v);
                }
                put_u32(out, p.flags);
            }
            MetricKind::Empty => {}
        }
        t.rows += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
