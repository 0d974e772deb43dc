//! Rows, straight from the received protobuf: one per span, log record and metric data point,
//! encoded in `RowBinary` in the column order of [`Table::insert_columns`].
//!
//! The request is walked once through `weir_core`'s views; nothing is decoded into a tree.
//! What repeats on every row of a resource or scope (its attribute maps, names, schema URLs) is
//! encoded once and copied, so a row costs its own fields, its attributes (stringified and
//! sorted, see [`MapScratch`]) and a memcpy.

use super::rowbinary::*;
use super::schema::Table;
use weir_core::pdata::views::{
    Children, DataPointView, Doubles, EventView, ExemplarView, LinkView, LogRecordView, MetricData, MetricView,
    RepeatedScalars, RequestView, ResourceGroupView, ScopeGroupView, SpanKind, SpanView, StatusCode,
    ValueAtQuantileView,
};
use weir_core::pdata::WireError;
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
    let request = RequestView::new(request);
    let tables = match signal {
        Signal::Traces => {
            let mut t = TableRows::default();
            let (mut events, mut links) = (Vec::new(), Vec::new());
            request.for_each_scope(&mut maps, ResourceRow::read, |maps, res, sg| {
                let scope = ScopeRow::read(sg, maps)?;
                for span in sg.spans() {
                    put_span(&mut t.body, res, &scope, span?, maps, (&mut events, &mut links))?;
                    t.rows += 1;
                }
                Ok(())
            })?;
            vec![(Table::Traces, t)]
        }
        Signal::Logs => {
            let mut t = TableRows::default();
            let mut body = String::new();
            request.for_each_scope(&mut maps, ResourceRow::read, |maps, res, sg| {
                let scope = ScopeRow::read(sg, maps)?;
                for record in sg.log_records() {
                    put_log(&mut t.body, res, &scope, record?, maps, &mut body)?;
                    t.rows += 1;
                }
                Ok(())
            })?;
            vec![(Table::Logs, t)]
        }
        Signal::Metrics => {
            let mut tables: Vec<(Table, TableRows)> =
                Table::METRICS.iter().map(|t| (*t, TableRows::default())).collect();
            request.for_each_scope(&mut maps, ResourceRow::read, |maps, res, sg| {
                let scope = ScopeRow::read(sg, maps)?;
                for metric in sg.metrics() {
                    put_metric(&mut tables, res, &scope, metric?, maps)?;
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

impl<'a> ResourceRow<'a> {
    fn read(maps: &mut MapScratch, rg: ResourceGroupView<'a>) -> Result<ResourceRow<'a>, WireError> {
        let resource = rg.resource()?;
        Ok(ResourceRow {
            service: resource.service_name()?.unwrap_or("").as_bytes(),
            attributes: maps.encoded(resource.attributes())?,
            schema_url: rg.schema_url()?.as_bytes(),
        })
    }
}

/// What the rows of one scope repeat (names and schema URL as they came, not checked as UTF-8).
struct ScopeRow<'a> {
    name: &'a [u8],
    version: &'a [u8],
    /// The encoded `ScopeAttributes` map.
    attributes: Vec<u8>,
    dropped_attributes: u32,
    schema_url: &'a [u8],
}

impl<'a> ScopeRow<'a> {
    fn read(sg: ScopeGroupView<'a>, maps: &mut MapScratch) -> Result<ScopeRow<'a>, WireError> {
        let scope = sg.scope()?;
        Ok(ScopeRow {
            name: scope.name_bytes()?,
            version: scope.version_bytes()?,
            attributes: maps.encoded(scope.attributes())?,
            dropped_attributes: scope.dropped_attributes_count()?,
            schema_url: sg.schema_url_bytes()?,
        })
    }
}

/// One `otel_traces` row.
/// `nested` is reused between spans for the span's events and links.
fn put_span<'a>(
    out: &mut Vec<u8>,
    res: &ResourceRow<'_>,
    scope: &ScopeRow<'_>,
    span: SpanView<'a>,
    maps: &mut MapScratch,
    nested: (&mut Vec<EventView<'a>>, &mut Vec<LinkView<'a>>),
) -> Result<(), WireError> {
    let s = span.fields()?;
    let (events, links) = nested;
    events.clear();
    links.clear();
    for e in span.events() {
        events.push(e?);
    }
    for l in span.links() {
        links.push(l?);
    }
    put_datetime64_ns(out, s.start_time_unix_nano);
    put_hex_id(out, s.trace_id);
    put_hex_id(out, s.span_id);
    put_hex_id(out, s.parent_span_id);
    put_str(out, s.trace_state.as_bytes());
    put_str(out, s.name.as_bytes());
    put_str(out, SpanKind::from_i32(s.kind).name().as_bytes());
    put_str(out, res.service);
    out.extend_from_slice(&res.attributes);
    put_str(out, scope.name);
    put_str(out, scope.version);
    maps.put_attributes(out, s.attributes)?;
    put_u64(out, s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano));
    put_str(out, StatusCode::from_i32(s.status_code).name().as_bytes());
    put_str(out, s.status_message.as_bytes());
    // The nested columns: Events.Timestamp, .Name, .Attributes; Links.TraceId, .SpanId,
    // .TraceState, .Attributes.
    put_array(out, events, |out, e| e.time_unix_nano().map(|t| put_datetime64_ns(out, t)))?;
    put_array(out, events, |out, e| e.name_bytes().map(|name| put_str(out, name)))?;
    put_array(out, events, |out, e| maps.put_attributes(out, e.attributes()).map(drop))?;
    put_array(out, links, |out, l| l.trace_id().map(|id| put_hex_id(out, id)))?;
    put_array(out, links, |out, l| l.span_id().map(|id| put_hex_id(out, id)))?;
    put_array(out, links, |out, l| l.trace_state_bytes().map(|ts| put_str(out, ts)))?;
    put_array(out, links, |out, l| maps.put_attributes(out, l.attributes()).map(drop))?;
    Ok(())
}

/// One `Array(…)` column of a nested table (`Events.Name`, …): the length, then what `put`
/// writes for each item.
fn put_array<T: Copy>(
    out: &mut Vec<u8>,
    items: &[T],
    mut put: impl FnMut(&mut Vec<u8>, T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    put_varint(out, items.len() as u64);
    items.iter().try_for_each(|item| put(out, *item))
}

/// One `otel_logs` row. `body` is reused between rows.
fn put_log(
    out: &mut Vec<u8>,
    res: &ResourceRow<'_>,
    scope: &ScopeRow<'_>,
    record: LogRecordView<'_>,
    maps: &mut MapScratch,
    body: &mut String,
) -> Result<(), WireError> {
    let r = record.fields()?;
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
    maps.put_attributes(out, r.attributes)?;
    put_str(out, r.event_name.as_bytes());
    Ok(())
}

/// The five `Exemplars.*` array columns (filtered attributes, time, value, span id, trace id).
fn put_exemplars(
    out: &mut Vec<u8>,
    exemplars: Children<'_, ExemplarView<'_>>,
    maps: &mut MapScratch,
) -> Result<(), WireError> {
    let n = exemplars.checked_len()? as u64;
    put_varint(out, n);
    for e in exemplars.clone() {
        maps.put_attributes(out, e?.filtered_attributes())?;
    }
    put_varint(out, n);
    for e in exemplars.clone() {
        put_datetime64_ns(out, e?.time_unix_nano()?);
    }
    put_varint(out, n);
    for e in exemplars.clone() {
        put_f64(out, e?.value()?.map_or(0.0, |v| v.as_f64()));
    }
    put_varint(out, n);
    for e in exemplars.clone() {
        put_hex_id(out, e?.span_id()?);
    }
    put_varint(out, n);
    for e in exemplars {
        put_hex_id(out, e?.trace_id()?);
    }
    Ok(())
}

/// An `Array(UInt64)` of a repeated `uint64` / `fixed64` field.
fn put_u64s(out: &mut Vec<u8>, values: RepeatedScalars<'_>) -> Result<(), WireError> {
    put_varint(out, values.checked_len()? as u64);
    for v in values {
        put_u64(out, v?);
    }
    Ok(())
}

/// An `Array(Float64)` of a repeated `double` field.
fn put_f64s(out: &mut Vec<u8>, values: Doubles<'_>) -> Result<(), WireError> {
    put_varint(out, values.checked_len()? as u64);
    for v in values {
        put_f64(out, v?);
    }
    Ok(())
}

/// `ValueQuantiles.Quantile` and `ValueQuantiles.Value`.
fn put_quantiles(out: &mut Vec<u8>, quantiles: Children<'_, ValueAtQuantileView<'_>>) -> Result<(), WireError> {
    let n = quantiles.checked_len()? as u64;
    put_varint(out, n);
    for q in quantiles.clone() {
        put_f64(out, q?.get()?.0);
    }
    put_varint(out, n);
    for q in quantiles {
        put_f64(out, q?.get()?.1);
    }
    Ok(())
}

/// Every data point of one metric, each a row of its type's table. Absent numbers are 0, as
/// the Collector writes them.
fn put_metric(
    tables: &mut [(Table, TableRows)],
    res: &ResourceRow<'_>,
    scope: &ScopeRow<'_>,
    metric: MetricView<'_>,
    maps: &mut MapScratch,
) -> Result<(), WireError> {
    let data = metric.typed_data()?;
    let index = match data {
        MetricData::Gauge(_) => 0,
        MetricData::Sum(_) => 1,
        MetricData::Histogram(_) => 2,
        MetricData::ExponentialHistogram(_) => 3,
        MetricData::Summary(_) => 4,
        MetricData::Empty => return Ok(()),
    };
    let (name, description, unit) = (metric.name()?, metric.description()?, metric.unit()?);
    let temporality = data.aggregation_temporality()?.unwrap_or(0);
    let monotonic = data.is_monotonic()?;
    let t = &mut tables[index].1;
    let out = &mut t.body;
    for point in data.data_points() {
        let point = point?;
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
        maps.put_attributes(out, point.attributes())?;
        match point {
            DataPointView::Number(p) => {
                let f = p.fields()?;
                put_datetime64_ns(out, f.start_time_unix_nano);
                put_datetime64_ns(out, f.time_unix_nano);
                put_f64(out, f.value.map_or(0.0, |v| v.as_f64()));
                put_u32(out, f.flags);
                put_exemplars(out, p.exemplars(), maps)?;
                // Only sums have a monotonicity, and their rows end with it and the temporality.
                if let Some(monotonic) = monotonic {
                    put_i32(out, temporality);
                    put_u8(out, u8::from(monotonic));
                }
            }
            DataPointView::Histogram(p) => {
                let f = p.fields()?;
                put_datetime64_ns(out, f.start_time_unix_nano);
                put_datetime64_ns(out, f.time_unix_nano);
                put_u64(out, f.count);
                put_f64(out, f.sum.unwrap_or(0.0));
                put_u64s(out, p.bucket_counts())?;
                put_f64s(out, p.explicit_bounds())?;
                put_exemplars(out, p.exemplars(), maps)?;
                put_u32(out, f.flags);
                put_f64(out, f.min.unwrap_or(0.0));
                put_f64(out, f.max.unwrap_or(0.0));
                put_i32(out, temporality);
            }
            DataPointView::ExponentialHistogram(p) => {
                let f = p.fields()?;
                put_datetime64_ns(out, f.start_time_unix_nano);
                put_datetime64_ns(out, f.time_unix_nano);
                put_u64(out, f.count);
                put_f64(out, f.sum.unwrap_or(0.0));
                put_i32(out, f.scale);
                put_u64(out, f.zero_count);
                for buckets in [f.positive, f.negative] {
                    let buckets = buckets.unwrap_or_default();
                    put_i32(out, buckets.offset()?);
                    put_u64s(out, buckets.bucket_counts())?;
                }
                put_exemplars(out, p.exemplars(), maps)?;
                put_u32(out, f.flags);
                put_f64(out, f.min.unwrap_or(0.0));
                put_f64(out, f.max.unwrap_or(0.0));
                put_i32(out, temporality);
            }
            DataPointView::Summary(p) => {
                let f = p.fields()?;
                put_datetime64_ns(out, f.start_time_unix_nano);
                put_datetime64_ns(out, f.time_unix_nano);
                put_u64(out, f.count);
                put_f64(out, f.sum);
                put_quantiles(out, p.quantile_values())?;
                put_u32(out, f.flags);
            }
        }
        t.rows += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
