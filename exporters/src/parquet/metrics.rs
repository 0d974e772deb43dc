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
use weir_core::pdata::views::{
    AggregationTemporality, Attributes, BucketsView, Children, DataPointView, Doubles, MetricKind, MetricView,
    NumberValue, RepeatedScalars, ValueAtQuantileView,
};
use weir_core::pdata::WireError;

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

/// `aggregation_temporality` values.
fn temporality_name(t: AggregationTemporality) -> &'static str {
    match t {
        AggregationTemporality::Delta => "delta",
        AggregationTemporality::Cumulative => "cumulative",
        AggregationTemporality::Unspecified => "unspecified",
    }
}

/// One data point of any type, as the columns want it: what does not apply to its type is
/// `None` (a null), what applies but is absent is its default.
struct Point<'a> {
    start: u64,
    time: u64,
    value: Option<f64>,
    count: Option<u64>,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    bucket_counts: Option<RepeatedScalars<'a>>,
    explicit_bounds: Option<Doubles<'a>>,
    scale: Option<i32>,
    zero_count: Option<u64>,
    positive: Option<BucketsView<'a>>,
    negative: Option<BucketsView<'a>>,
    quantiles: Option<Children<'a, ValueAtQuantileView<'a>>>,
    flags: u32,
    attributes: Attributes<'a>,
}

impl<'a> Point<'a> {
    fn read(point: DataPointView<'a>) -> Result<Point<'a>, WireError> {
        let mut p = Point {
            start: 0,
            time: 0,
            value: None,
            count: None,
            sum: None,
            min: None,
            max: None,
            bucket_counts: None,
            explicit_bounds: None,
            scale: None,
            zero_count: None,
            positive: None,
            negative: None,
            quantiles: None,
            flags: 0,
            attributes: point.attributes(),
        };
        match point {
            DataPointView::Number(v) => {
                let f = v.fields()?;
                (p.start, p.time, p.flags) = (f.start_time_unix_nano, f.time_unix_nano, f.flags);
                p.value = f.value.map(NumberValue::as_f64);
            }
            DataPointView::Histogram(v) => {
                let f = v.fields()?;
                (p.start, p.time, p.flags) = (f.start_time_unix_nano, f.time_unix_nano, f.flags);
                (p.count, p.sum, p.min, p.max) = (Some(f.count), f.sum, f.min, f.max);
                p.bucket_counts = Some(v.bucket_counts());
                p.explicit_bounds = Some(v.explicit_bounds());
            }
            DataPointView::ExponentialHistogram(v) => {
                let f = v.fields()?;
                (p.start, p.time, p.flags) = (f.start_time_unix_nano, f.time_unix_nano, f.flags);
                (p.count, p.sum, p.min, p.max) = (Some(f.count), f.sum, f.min, f.max);
                (p.scale, p.zero_count) = (Some(f.scale), Some(f.zero_count));
                // Absent buckets are empty ones (offset 0, no counts).
                p.positive = Some(f.positive.unwrap_or_default());
                p.negative = Some(f.negative.unwrap_or_default());
            }
            DataPointView::Summary(v) => {
                let f = v.fields()?;
                (p.start, p.time, p.flags) = (f.start_time_unix_nano, f.time_unix_nano, f.flags);
                (p.count, p.sum) = (Some(f.count), Some(f.sum));
                p.quantiles = Some(v.quantile_values());
            }
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

/// Appends one list (or a null) of the numbers `values` yields.
fn append_list<T, B>(
    b: &mut ListBuilder<B>,
    values: Option<impl Iterator<Item = Result<T, WireError>>>,
    push: impl Fn(&mut B, T),
) -> Result<(), WireError>
where
    B: ArrayBuilder,
{
    match values {
        Some(values) => {
            for v in values {
                push(b.values(), v?);
            }
            b.append(true);
        }
        None => b.append(false),
    }
    Ok(())
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
        for_each_scope_group(self, request, |this, ctx, sg| {
            for metric in sg.metrics() {
                this.append_metric(metric?, ctx)?;
            }
            Ok(())
        })?;
        Ok(self.len() - before)
    }

    /// One row per data point of `metric`.
    fn append_metric(&mut self, metric: MetricView<'_>, ctx: &ScopeContext<'_, '_>) -> Result<(), WireError> {
        let (name, description, unit) = (metric.name()?, metric.description()?, metric.unit()?);
        let data = metric.typed_data()?;
        let temporality =
            data.aggregation_temporality()?.map(|t| temporality_name(AggregationTemporality::from_i32(t)));
        let monotonic = data.is_monotonic()?;
        for point in data.data_points() {
            let p = Point::read(point?)?;
            self.timestamp.append_value(nanos(p.time));
            self.start_timestamp.append_option((p.start != 0).then(|| nanos(p.start)));
            self.service_name.append_value(ctx.resource.service);
            self.metric_name.append_value(name);
            self.metric_description.append_value(description);
            self.metric_unit.append_value(unit);
            self.metric_type.append_value(type_name(data.kind()));
            self.aggregation_temporality.append_option(temporality);
            self.is_monotonic.append_option(monotonic);
            self.value.append_option(p.value);
            self.count.append_option(p.count);
            self.sum.append_option(p.sum);
            self.min.append_option(p.min);
            self.max.append_option(p.max);
            append_list(&mut self.bucket_counts, p.bucket_counts, UInt64Builder::append_value)?;
            append_list(&mut self.explicit_bounds, p.explicit_bounds, Float64Builder::append_value)?;
            self.scale.append_option(p.scale);
            self.zero_count.append_option(p.zero_count);
            self.positive_offset.append_option(p.positive.map(|b| b.offset()).transpose()?);
            let counts = p.positive.map(|b| b.bucket_counts());
            append_list(&mut self.positive_bucket_counts, counts, UInt64Builder::append_value)?;
            self.negative_offset.append_option(p.negative.map(|b| b.offset()).transpose()?);
            let counts = p.negative.map(|b| b.bucket_counts());
            append_list(&mut self.negative_bucket_counts, counts, UInt64Builder::append_value)?;
            let quantiles = p.quantiles.map(|qs| qs.map(|q| q.and_then(|q| q.get())));
            append_list(&mut self.quantiles, quantiles, |s: &mut StructBuilder, (q, v)| {
                builder::<Float64Builder>(s, 0).append_value(q);
                builder::<Float64Builder>(s, 1).append_value(v);
                s.append(true);
            })?;
            self.flags.append_value(p.flags);
            append_attrs(&mut self.attributes, p.attributes, &mut self.scratch)?;
            append_pairs(&mut self.resource_attributes, &ctx.resource.attributes);
            self.scope_name.append_value(ctx.scope_name);
            self.scope_version.append_value(ctx.scope_version);
        }
        Ok(())
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
