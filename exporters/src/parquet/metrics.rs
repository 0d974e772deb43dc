//! The `metrics` table: one row per data point, of every metric type.
//!
//! Number points (gauge, sum) fill `value`; histogram, exponential histogram and summary
//! points fill `count`, `sum` and their own columns; columns that do not apply to a row's
//! type are null. Exemplars are not written.

use super::columns::*;
use super::spans::{builder, nanos};
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int32Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampNanosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Fields, Schema, SchemaRef};
use std::sync::{Arc, OnceLock};
use weir_core::pdata::views::{Attributes, MetricKind};
use weir_core::pdata::wire::{read_varint, Field, Fields as WireFields, Value, WireError};

fn quantile_fields() -> Fields {
    Fields::from(vec![field("quantile", DataType::Float64, false), field("value", DataType::Float64, false)])
}

/// The schema of metric files (documented in the exporters README).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                field("timestamp", timestamp_type(), false),
                field("start_timestamp", timestamp_type(), true),
                field("service_name", DataType::Utf8, false),
                field("metric_name", DataType::Utf8, false),
                field("metric_description", DataType::Utf8, false),
                field("metric_unit", DataType::Utf8, false),
                field("metric_type", DataType::Utf8, false),
                field("aggregation_temporality", DataType::Utf8, true),
                field("is_monotonic", DataType::Boolean, true),
                field("value", DataType::Float64, true),
                field("count", DataType::UInt64, true),
                field("sum", DataType::Float64, true),
                field("min", DataType::Float64, true),
                field("max", DataType::Float64, true),
                field("bucket_counts", list_type(DataType::UInt64), true),
                field("explicit_bounds", list_type(DataType::Float64), true),
                field("scale", DataType::Int32, true),
                field("zero_count", DataType::UInt64, true),
                field("positive_offset", DataType::Int32, true),
                field("positive_bucket_counts", list_type(DataType::UInt64), true),
                field("negative_offset", DataType::Int32, true),
                field("negative_bucket_counts", list_type(DataType::UInt64), true),
                field("quantiles", list_type(DataType::Struct(quantile_fields())), true),
                field("flags", DataType::UInt32, false),
                field("attributes", attr_map_type(), false),
                field("resource_attributes", attr_map_type(), false),
                field("scope_name", DataType::Utf8, false),
                field("scope_version", DataType::Utf8, false),
            ]))
        })
        .clone()
}

/// `metric_type` values.
pub fn type_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Gauge => "gauge",
        MetricKind::Sum => "sum",
        MetricKind::Histogram => "histogram",
        MetricKind::ExponentialHistogram => "exponential_histogram",
        MetricKind::Summary => "summary",
        MetricKind::Empty => "empty",
    }
}

fn temporality_name(t: u64) -> &'static str {
    match t {
        1 => "delta",
        2 => "cumulative",
        _ => "unspecified",
    }
}

/// One data point of any type, read from its encoding.
#[derive(Default)]
struct Point<'a> {
    start: u64,
    time: u64,
    value: Option<f64>,
    count: Option<u64>,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    bucket_counts: Option<Vec<u64>>,
    explicit_bounds: Option<Vec<f64>>,
    scale: Option<i32>,
    zero_count: Option<u64>,
    positive: Option<(i32, Vec<u64>)>,
    negative: Option<(i32, Vec<u64>)>,
    quantiles: Option<Vec<(f64, f64)>>,
    flags: u32,
    /// Always set by [`Point::read`] (`Option` only for `Default`).
    attributes: Option<Attributes<'a>>,
}

/// The field number of a data point's attributes, by metric type.
fn attributes_field(kind: MetricKind) -> u32 {
    match kind {
        MetricKind::Histogram => 9,
        MetricKind::ExponentialHistogram => 1,
        _ => 7,
    }
}

fn double(f: &Field<'_>) -> Result<f64, WireError> {
    f.fixed64().map(f64::from_bits)
}

/// A repeated fixed64 (packed or not) into `out`.
fn fixed64s(f: &Field<'_>, out: &mut Vec<u64>) -> Result<(), WireError> {
    match f.value {
        Value::Fixed64(v) => out.push(v),
        Value::Bytes(b) => {
            if b.len() % 8 != 0 {
                return Err(WireError::Truncated);
            }
            // chunks_exact(8) yields 8-byte slices.
            out.extend(b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))));
        }
        v => return Err(WireError::UnexpectedWireType { field: f.number, wire_type: v.wire_type() }),
    }
    Ok(())
}

/// A repeated uint64 varint (packed or not) into `out`.
fn varints(f: &Field<'_>, out: &mut Vec<u64>) -> Result<(), WireError> {
    match f.value {
        Value::Varint(v) => out.push(v),
        Value::Bytes(b) => {
            let mut pos = 0;
            while pos < b.len() {
                out.push(read_varint(b, &mut pos)?);
            }
        }
        v => return Err(WireError::UnexpectedWireType { field: f.number, wire_type: v.wire_type() }),
    }
    Ok(())
}

fn zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// `ExponentialHistogramDataPoint.Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2; }`
fn buckets(buf: &[u8]) -> Result<(i32, Vec<u64>), WireError> {
    let (mut offset, mut counts) = (0, Vec::new());
    for f in WireFields::new(buf) {
        let f = f?;
        match f.number {
            1 => offset = zigzag32(f.varint()?),
            2 => varints(&f, &mut counts)?,
            _ => {}
        }
    }
    Ok((offset, counts))
}

impl<'a> Point<'a> {
    fn read(kind: MetricKind, buf: &'a [u8]) -> Result<Point<'a>, WireError> {
        let mut p = Point { attributes: Some(Attributes::new(buf, attributes_field(kind))), ..Point::default() };
        for f in WireFields::new(buf) {
            let f = f?;
            match (kind, f.number) {
                (_, 2) => p.start = f.fixed64()?,
                (_, 3) => p.time = f.fixed64()?,
                (MetricKind::Gauge | MetricKind::Sum, 4) => p.value = Some(double(&f)?),
                (MetricKind::Gauge | MetricKind::Sum, 6) => p.value = Some(f.fixed64()? as i64 as f64),
                (MetricKind::Gauge | MetricKind::Sum | MetricKind::Summary, 8) => p.flags = f.varint()? as u32,
                (MetricKind::Histogram | MetricKind::ExponentialHistogram | MetricKind::Summary, 4) => {
                    p.count = Some(f.fixed64()?)
                }
                (MetricKind::Histogram | MetricKind::ExponentialHistogram | MetricKind::Summary, 5) => {
                    p.sum = Some(double(&f)?)
                }
                (MetricKind::Histogram, 6) => fixed64s(&f, p.bucket_counts.get_or_insert_with(Vec::new))?,
                (MetricKind::Histogram, 7) => {
                    let mut bits = Vec::new();
                    fixed64s(&f, &mut bits)?;
                    p.explicit_bounds.get_or_insert_with(Vec::new).extend(bits.into_iter().map(f64::from_bits));
                }
                (MetricKind::Histogram | MetricKind::ExponentialHistogram, 10) => p.flags = f.varint()? as u32,
                (MetricKind::Histogram, 11) | (MetricKind::ExponentialHistogram, 12) => p.min = Some(double(&f)?),
                (MetricKind::Histogram, 12) | (MetricKind::ExponentialHistogram, 13) => p.max = Some(double(&f)?),
                (MetricKind::ExponentialHistogram, 6) => p.scale = Some(zigzag32(f.varint()?)),
                (MetricKind::ExponentialHistogram, 7) => p.zero_count = Some(f.fixed64()?),
                (MetricKind::ExponentialHistogram, 8) => p.positive = Some(buckets(f.bytes()?)?),
                (MetricKind::ExponentialHistogram, 9) => p.negative = Some(buckets(f.bytes()?)?),
                (MetricKind::Summary, 6) => {
                    // ValueAtQuantile { double quantile = 1; double value = 2; }
                    let (mut q, mut v) = (0.0, 0.0);
                    for qf in WireFields::new(f.bytes()?) {
                        let qf = qf?;
                        match qf.number {
                            1 => q = double(&qf)?,
                            2 => v = double(&qf)?,
                            _ => {}
                        }
                    }
                    p.quantiles.get_or_insert_with(Vec::new).push((q, v));
                }
                _ => {}
            }
        }
        // Histograms and summaries always have these, even when empty.
        match kind {
            MetricKind::Histogram => {
                p.bucket_counts.get_or_insert_with(Vec::new);
                p.explicit_bounds.get_or_insert_with(Vec::new);
                p.count.get_or_insert(0);
            }
            MetricKind::ExponentialHistogram => {
                p.scale.get_or_insert(0);
                p.zero_count.get_or_insert(0);
                p.positive.get_or_insert((0, Vec::new()));
                p.negative.get_or_insert((0, Vec::new()));
                p.count.get_or_insert(0);
            }
            MetricKind::Summary => {
                p.quantiles.get_or_insert_with(Vec::new);
                p.count.get_or_insert(0);
                p.sum.get_or_insert(0.0);
            }
            _ => {}
        }
        Ok(p)
    }
}

/// Metric columns being built from encoded `ExportMetricsServiceRequest`s.
pub struct MetricColumns {
    timestamp: TimestampNanosecondBuilder,
    start_timestamp: TimestampNanosecondBuilder,
    service_name: StringBuilder,
    metric_name: StringBuilder,
    metric_description: StringBuilder,
    metric_unit: StringBuilder,
    metric_type: StringBuilder,
    aggregation_temporality: StringBuilder,
    is_monotonic: BooleanBuilder,
    value: Float64Builder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    bucket_counts: ListBuilder<UInt64Builder>,
    explicit_bounds: ListBuilder<Float64Builder>,
    scale: Int32Builder,
    zero_count: UInt64Builder,
    positive_offset: Int32Builder,
    positive_bucket_counts: ListBuilder<UInt64Builder>,
    negative_offset: Int32Builder,
    negative_bucket_counts: ListBuilder<UInt64Builder>,
    quantiles: ListBuilder<StructBuilder>,
    flags: UInt32Builder,
    attributes: AttrMap,
    resource_attributes: AttrMap,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scratch: String,
}

impl Default for MetricColumns {
    fn default() -> Self {
        let ts = || TimestampNanosecondBuilder::new().with_timezone(UTC);
        let quantile = StructBuilder::new(
            quantile_fields(),
            vec![Box::new(Float64Builder::new()), Box::new(Float64Builder::new())],
        );
        MetricColumns {
            timestamp: ts(),
            start_timestamp: ts(),
            service_name: StringBuilder::new(),
            metric_name: StringBuilder::new(),
            metric_description: StringBuilder::new(),
            metric_unit: StringBuilder::new(),
            metric_type: StringBuilder::new(),
            aggregation_temporality: StringBuilder::new(),
            is_monotonic: BooleanBuilder::new(),
            value: Float64Builder::new(),
            count: UInt64Builder::new(),
            sum: Float64Builder::new(),
            min: Float64Builder::new(),
            max: Float64Builder::new(),
            bucket_counts: ListBuilder::new(UInt64Builder::new()),
            explicit_bounds: ListBuilder::new(Float64Builder::new()),
            scale: Int32Builder::new(),
            zero_count: UInt64Builder::new(),
            positive_offset: Int32Builder::new(),
            positive_bucket_counts: ListBuilder::new(UInt64Builder::new()),
            negative_offset: Int32Builder::new(),
            negative_bucket_counts: ListBuilder::new(UInt64Builder::new()),
            quantiles: ListBuilder::new(quantile),
            flags: UInt32Builder::new(),
            attributes: new_attr_map(),
            resource_attributes: new_attr_map(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            scratch: String::new(),
        }
    }
}

fn append_u64_list(b: &mut ListBuilder<UInt64Builder>, v: Option<&[u64]>) {
    match v {
        Some(v) => {
            b.values().append_slice(v);
            b.append(true);
        }
        None => b.append(false),
    }
}

impl MetricColumns {
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends every data point of an encoded `ExportMetricsServiceRequest`; returns how many.
    pub fn append_request(&mut self, request: &[u8]) -> Result<usize, WireError> {
        let before = self.len();
        for_each_scope(request, |ctx, sg| {
            let ScopeContext { service, resource_attrs, scope_name, scope_version } = ctx;
            for metric in sg.metrics() {
                let metric = metric?;
                let (name, description, unit) = (metric.name()?, metric.description()?, metric.unit()?);
                let (kind, data) = metric.data()?;
                // Sum { 2 aggregation_temporality, 3 is_monotonic }; (Exponential)Histogram { 2 … }.
                let (mut temporality, mut monotonic) = (None, None);
                for f in WireFields::new(data) {
                    let f = f?;
                    match (kind, f.number) {
                        (MetricKind::Sum | MetricKind::Histogram | MetricKind::ExponentialHistogram, 2) => {
                            temporality = Some(temporality_name(f.varint()?))
                        }
                        (MetricKind::Sum, 3) => monotonic = Some(f.varint()? != 0),
                        _ => {}
                    }
                }
                if matches!(kind, MetricKind::Sum | MetricKind::Histogram | MetricKind::ExponentialHistogram) {
                    temporality.get_or_insert(temporality_name(0));
                }
                if kind == MetricKind::Sum {
                    monotonic.get_or_insert(false);
                }
                for dp in metric.data_points()? {
                    let p = Point::read(kind, dp?)?;
                    self.timestamp.append_value(nanos(p.time));
                    self.start_timestamp.append_option((p.start != 0).then(|| nanos(p.start)));
                    self.service_name.append_value(service);
                    self.metric_name.append_value(name);
                    self.metric_description.append_value(description);
                    self.metric_unit.append_value(unit);
                    self.metric_type.append_value(type_name(kind));
                    self.aggregation_temporality.append_option(temporality);
                    self.is_monotonic.append_option(monotonic);
                    self.value.append_option(p.value);
                    self.count.append_option(p.count);
                    self.sum.append_option(p.sum);
                    self.min.append_option(p.min);
                    self.max.append_option(p.max);
                    append_u64_list(&mut self.bucket_counts, p.bucket_counts.as_deref());
                    match &p.explicit_bounds {
                        Some(v) => {
                            self.explicit_bounds.values().append_slice(v);
                            self.explicit_bounds.append(true);
                        }
                        None => self.explicit_bounds.append(false),
                    }
                    self.scale.append_option(p.scale);
                    self.zero_count.append_option(p.zero_count);
                    self.positive_offset.append_option(p.positive.as_ref().map(|b| b.0));
                    append_u64_list(&mut self.positive_bucket_counts, p.positive.as_ref().map(|b| &b.1[..]));
                    self.negative_offset.append_option(p.negative.as_ref().map(|b| b.0));
                    append_u64_list(&mut self.negative_bucket_counts, p.negative.as_ref().map(|b| &b.1[..]));
                    match &p.quantiles {
                        Some(qs) => {
                            let s = self.quantiles.values();
                            for (q, v) in qs {
                                builder::<Float64Builder>(s, 0).append_value(*q);
                                builder::<Float64Builder>(s, 1).append_value(*v);
                                s.append(true);
                            }
                            self.quantiles.append(true);
                        }
                        None => self.quantiles.append(false),
                    }
                    self.flags.append_value(p.flags);
                    match p.attributes {
                        Some(a) => append_attrs(&mut self.attributes, a, &mut self.scratch)?,
                        None => append_pairs(&mut self.attributes, &[]),
                    }
                    append_pairs(&mut self.resource_attributes, resource_attrs);
                    self.scope_name.append_value(scope_name);
                    self.scope_version.append_value(scope_version);
                }
            }
            Ok(())
        })?;
        Ok(self.len() - before)
    }

    /// The rows as one record batch of [`schema`]; the columns are empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.start_timestamp.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.metric_name.finish()),
            Arc::new(self.metric_description.finish()),
            Arc::new(self.metric_unit.finish()),
            Arc::new(self.metric_type.finish()),
            Arc::new(self.aggregation_temporality.finish()),
            Arc::new(self.is_monotonic.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.bucket_counts.finish()),
            Arc::new(self.explicit_bounds.finish()),
            Arc::new(self.scale.finish()),
            Arc::new(self.zero_count.finish()),
            Arc::new(self.positive_offset.finish()),
            Arc::new(self.positive_bucket_counts.finish()),
            Arc::new(self.negative_offset.finish()),
            Arc::new(self.negative_bucket_counts.finish()),
            Arc::new(self.quantiles.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}
