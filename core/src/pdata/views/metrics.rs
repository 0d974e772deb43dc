//! Views of a `Metric`, its data (gauge, sum, histogram, exponential histogram, summary), the
//! data points of each and their exemplars.
//!
//! [`MetricView::typed_data`] gives the data as a [`MetricData`]; each kind's view gives its
//! typed data points, and [`MetricData::data_points`] gives them all as [`DataPointView`]s
//! with what every kind has (attributes, times, flags, exemplars). Each data point view has
//! an accessor per field and a one-pass `fields()` for readers that want every scalar.
//!
//! Repeated numbers (histogram buckets and bounds) are iterators that accept the packed and
//! the unpacked encoding alike ([`RepeatedScalars`], [`Doubles`]).

use super::common::Attributes;
use super::{
    bytes_field, double, double_field, fixed64_field, optional_double, string_field, varint_field, Children, MetricKind,
};
use crate::pdata::proto;
use crate::pdata::wire::{decode_zigzag32, Fields, RepeatedScalars, ScalarEncoding, WireError};

/// A `Metric`.
#[derive(Clone, Copy, Debug)]
pub struct MetricView<'a> {
    buf: &'a [u8],
}

impl<'a> MetricView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        MetricView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn name(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::metric::NAME)
    }

    pub fn description(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::metric::DESCRIPTION)
    }

    pub fn unit(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::metric::UNIT)
    }

    /// Additional metadata (`Metric.metadata`, key-value pairs like attributes).
    pub fn metadata(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::metric::METADATA)
    }

    /// The kind of data and the encoded data message (`Gauge`, `Sum`, …). The last data
    /// field wins (they are a `oneof`).
    pub fn data(&self) -> Result<(MetricKind, &'a [u8]), WireError> {
        use proto::metric::*;
        let mut out = (MetricKind::Empty, &[][..]);
        for f in Fields::new(self.buf) {
            let f = f?;
            let kind = match f.number {
                GAUGE => MetricKind::Gauge,
                SUM => MetricKind::Sum,
                HISTOGRAM => MetricKind::Histogram,
                EXPONENTIAL_HISTOGRAM => MetricKind::ExponentialHistogram,
                SUMMARY => MetricKind::Summary,
                _ => continue,
            };
            out = (kind, f.bytes()?);
        }
        Ok(out)
    }

    pub fn kind(&self) -> Result<MetricKind, WireError> {
        Ok(self.data()?.0)
    }

    /// The data as a typed view.
    pub fn typed_data(&self) -> Result<MetricData<'a>, WireError> {
        let (kind, buf) = self.data()?;
        Ok(match kind {
            MetricKind::Gauge => MetricData::Gauge(GaugeView { buf }),
            MetricKind::Sum => MetricData::Sum(SumView { buf }),
            MetricKind::Histogram => MetricData::Histogram(HistogramView { buf }),
            MetricKind::ExponentialHistogram => MetricData::ExponentialHistogram(ExponentialHistogramView { buf }),
            MetricKind::Summary => MetricData::Summary(SummaryView { buf }),
            MetricKind::Empty => MetricData::Empty,
        })
    }

    /// The encoded data points (field 1 of every data message).
    pub fn data_points(&self) -> Result<Children<'a, &'a [u8]>, WireError> {
        let (_, data) = self.data()?;
        Ok(Children::new(data, proto::DATA_POINTS, |b| b))
    }

    pub fn data_point_count(&self) -> Result<usize, WireError> {
        let mut n = 0;
        for dp in self.data_points()? {
            dp?;
            n += 1;
        }
        Ok(n)
    }
}

/// The data of a metric, by kind.
#[derive(Clone, Copy, Debug)]
pub enum MetricData<'a> {
    Empty,
    Gauge(GaugeView<'a>),
    Sum(SumView<'a>),
    Histogram(HistogramView<'a>),
    ExponentialHistogram(ExponentialHistogramView<'a>),
    Summary(SummaryView<'a>),
}

impl<'a> MetricData<'a> {
    pub fn kind(&self) -> MetricKind {
        match self {
            MetricData::Empty => MetricKind::Empty,
            MetricData::Gauge(_) => MetricKind::Gauge,
            MetricData::Sum(_) => MetricKind::Sum,
            MetricData::Histogram(_) => MetricKind::Histogram,
            MetricData::ExponentialHistogram(_) => MetricKind::ExponentialHistogram,
            MetricData::Summary(_) => MetricKind::Summary,
        }
    }

    /// The encoded data message (empty for [`MetricData::Empty`]).
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            MetricData::Empty => &[],
            MetricData::Gauge(v) => v.buf,
            MetricData::Sum(v) => v.buf,
            MetricData::Histogram(v) => v.buf,
            MetricData::ExponentialHistogram(v) => v.buf,
            MetricData::Summary(v) => v.buf,
        }
    }

    /// Every data point, of whichever kind.
    pub fn data_points(&self) -> DataPoints<'a> {
        DataPoints { points: Children::new(self.bytes(), proto::DATA_POINTS, |b| b), kind: self.kind() }
    }

    /// The aggregation temporality's wire number, for the kinds that have one (sum, histogram,
    /// exponential histogram).
    pub fn aggregation_temporality(&self) -> Result<Option<i32>, WireError> {
        Ok(match self {
            MetricData::Sum(v) => Some(v.aggregation_temporality()?),
            MetricData::Histogram(v) => Some(v.aggregation_temporality()?),
            MetricData::ExponentialHistogram(v) => Some(v.aggregation_temporality()?),
            MetricData::Empty | MetricData::Gauge(_) | MetricData::Summary(_) => None,
        })
    }

    /// Whether a sum is monotonic; `None` for the other kinds.
    pub fn is_monotonic(&self) -> Result<Option<bool>, WireError> {
        match self {
            MetricData::Sum(v) => v.is_monotonic().map(Some),
            _ => Ok(None),
        }
    }
}

/// Declares the view of a metric's data message: its data points, each a `$point`, and its
/// aggregation temporality where the message has one.
macro_rules! data_view {
    ($(#[$doc:meta])* $name:ident, $point:ident, $message:ident $(, temporality: $temporality:expr)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<'a> {
            buf: &'a [u8],
        }

        impl<'a> $name<'a> {
            pub fn new(buf: &'a [u8]) -> Self {
                $name { buf }
            }

            pub fn bytes(&self) -> &'a [u8] {
                self.buf
            }

            pub fn data_points(&self) -> Children<'a, $point<'a>> {
                Children::new(self.buf, proto::$message::DATA_POINTS, $point::new)
            }

            $(
                /// The wire number (see [`super::AggregationTemporality::from_i32`]).
                pub fn aggregation_temporality(&self) -> Result<i32, WireError> {
                    Ok(varint_field(self.buf, $temporality)? as i32)
                }
            )?
        }
    };
}

data_view!(
    /// A `Gauge`.
    GaugeView, NumberDataPointView, gauge
);
data_view!(
    /// A `Sum`.
    SumView, NumberDataPointView, sum, temporality: proto::sum::AGGREGATION_TEMPORALITY
);
data_view!(
    /// A `Histogram`.
    HistogramView, HistogramDataPointView, histogram, temporality: proto::histogram::AGGREGATION_TEMPORALITY
);
data_view!(
    /// An `ExponentialHistogram`.
    ExponentialHistogramView,
    ExponentialHistogramDataPointView,
    exponential_histogram,
    temporality: proto::exponential_histogram::AGGREGATION_TEMPORALITY
);
data_view!(
    /// A `Summary`.
    SummaryView, SummaryDataPointView, summary
);

impl SumView<'_> {
    pub fn is_monotonic(&self) -> Result<bool, WireError> {
        Ok(varint_field(self.buf, proto::sum::IS_MONOTONIC)? != 0)
    }
}

// ---------------------------------------------------------------------------------------------
// Data points of any kind
// ---------------------------------------------------------------------------------------------

/// The data points of a metric, each as a [`DataPointView`] of the metric's kind.
#[derive(Clone)]
pub struct DataPoints<'a> {
    points: Children<'a, &'a [u8]>,
    kind: MetricKind,
}

impl<'a> Iterator for DataPoints<'a> {
    type Item = Result<DataPointView<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let kind = self.kind;
        self.points.next().map(|p| p.map(|buf| DataPointView::new(kind, buf)))
    }
}

/// A data point of any kind.
#[derive(Clone, Copy, Debug)]
pub enum DataPointView<'a> {
    Number(NumberDataPointView<'a>),
    Histogram(HistogramDataPointView<'a>),
    ExponentialHistogram(ExponentialHistogramDataPointView<'a>),
    Summary(SummaryDataPointView<'a>),
}

impl<'a> DataPointView<'a> {
    /// The data point `buf` of a metric of `kind` (gauges and sums hold number points; a
    /// metric without data has none, and reads as number points).
    pub fn new(kind: MetricKind, buf: &'a [u8]) -> Self {
        match kind {
            MetricKind::Gauge | MetricKind::Sum | MetricKind::Empty => {
                DataPointView::Number(NumberDataPointView { buf })
            }
            MetricKind::Histogram => DataPointView::Histogram(HistogramDataPointView { buf }),
            MetricKind::ExponentialHistogram => {
                DataPointView::ExponentialHistogram(ExponentialHistogramDataPointView { buf })
            }
            MetricKind::Summary => DataPointView::Summary(SummaryDataPointView { buf }),
        }
    }

    pub fn bytes(&self) -> &'a [u8] {
        match self {
            DataPointView::Number(p) => p.buf,
            DataPointView::Histogram(p) => p.buf,
            DataPointView::ExponentialHistogram(p) => p.buf,
            DataPointView::Summary(p) => p.buf,
        }
    }

    pub fn attributes(&self) -> Attributes<'a> {
        match self {
            DataPointView::Number(p) => p.attributes(),
            DataPointView::Histogram(p) => p.attributes(),
            DataPointView::ExponentialHistogram(p) => p.attributes(),
            DataPointView::Summary(p) => p.attributes(),
        }
    }

    /// Every kind keeps its start and end times in the same fields.
    pub fn start_time_unix_nano(&self) -> Result<u64, WireError> {
        const _: () = assert!(
            proto::number_data_point::START_TIME_UNIX_NANO == proto::histogram_data_point::START_TIME_UNIX_NANO
                && proto::number_data_point::START_TIME_UNIX_NANO
                    == proto::exponential_histogram_data_point::START_TIME_UNIX_NANO
                && proto::number_data_point::START_TIME_UNIX_NANO == proto::summary_data_point::START_TIME_UNIX_NANO
        );
        fixed64_field(self.bytes(), proto::number_data_point::START_TIME_UNIX_NANO)
    }

    pub fn time_unix_nano(&self) -> Result<u64, WireError> {
        const _: () = assert!(
            proto::number_data_point::TIME_UNIX_NANO == proto::histogram_data_point::TIME_UNIX_NANO
                && proto::number_data_point::TIME_UNIX_NANO == proto::exponential_histogram_data_point::TIME_UNIX_NANO
                && proto::number_data_point::TIME_UNIX_NANO == proto::summary_data_point::TIME_UNIX_NANO
        );
        fixed64_field(self.bytes(), proto::number_data_point::TIME_UNIX_NANO)
    }

    pub fn flags(&self) -> Result<u32, WireError> {
        match self {
            DataPointView::Number(p) => p.flags(),
            DataPointView::Histogram(p) => p.flags(),
            DataPointView::ExponentialHistogram(p) => p.flags(),
            DataPointView::Summary(p) => p.flags(),
        }
    }

    /// The exemplars (summary points have none).
    pub fn exemplars(&self) -> Children<'a, ExemplarView<'a>> {
        match self {
            DataPointView::Number(p) => p.exemplars(),
            DataPointView::Histogram(p) => p.exemplars(),
            DataPointView::ExponentialHistogram(p) => p.exemplars(),
            // No bytes: an iterator that yields nothing.
            DataPointView::Summary(_) => Children::new(&[], proto::number_data_point::EXEMPLARS, ExemplarView::new),
        }
    }
}

/// The value of a number data point or an exemplar (`as_double` or `as_int`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumberValue {
    Double(f64),
    Int(i64),
}

impl NumberValue {
    /// The value as a double (integers converted, as the Collector's exporters store them).
    pub fn as_f64(self) -> f64 {
        match self {
            NumberValue::Double(d) => d,
            NumberValue::Int(i) => i as f64,
        }
    }
}

/// The `as_double` / `as_int` `oneof` of `buf` (the last one wins).
fn number_value(buf: &[u8], as_double: u32, as_int: u32) -> Result<Option<NumberValue>, WireError> {
    let mut value = None;
    for f in Fields::new(buf) {
        let f = f?;
        if f.number == as_double {
            value = Some(NumberValue::Double(double(&f)?));
        } else if f.number == as_int {
            value = Some(NumberValue::Int(f.fixed64()? as i64));
        }
    }
    Ok(value)
}

/// A `repeated double` field, packed or not.
#[derive(Clone)]
pub struct Doubles<'a>(RepeatedScalars<'a>);

impl<'a> Doubles<'a> {
    pub fn new(buf: &'a [u8], number: u32) -> Self {
        Doubles(RepeatedScalars::new(buf, number, ScalarEncoding::Fixed64))
    }

    /// The number of elements, checking every one.
    pub fn checked_len(&self) -> Result<usize, WireError> {
        self.0.checked_len()
    }
}

impl Iterator for Doubles<'_> {
    type Item = Result<f64, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|v| v.map(f64::from_bits))
    }
}

// ---------------------------------------------------------------------------------------------
// Data point accessors every kind shares (each kind numbers its fields its own way)
// ---------------------------------------------------------------------------------------------

/// `new`, `bytes` and the fields every data point message has, numbered in `proto::$message`.
macro_rules! point_accessors {
    ($view:ident, $message:ident) => {
        pub fn new(buf: &'a [u8]) -> Self {
            $view { buf }
        }

        pub fn bytes(&self) -> &'a [u8] {
            self.buf
        }

        pub fn attributes(&self) -> Attributes<'a> {
            Attributes::new(self.buf, proto::$message::ATTRIBUTES)
        }

        pub fn start_time_unix_nano(&self) -> Result<u64, WireError> {
            fixed64_field(self.buf, proto::$message::START_TIME_UNIX_NANO)
        }

        pub fn time_unix_nano(&self) -> Result<u64, WireError> {
            fixed64_field(self.buf, proto::$message::TIME_UNIX_NANO)
        }

        /// `DataPointFlags` (bit 0: no recorded value).
        pub fn flags(&self) -> Result<u32, WireError> {
            Ok(varint_field(self.buf, proto::$message::FLAGS)? as u32)
        }
    };
}

/// The exemplars of a data point message that has them (all but summaries).
macro_rules! exemplar_accessor {
    ($message:ident) => {
        pub fn exemplars(&self) -> Children<'a, ExemplarView<'a>> {
            Children::new(self.buf, proto::$message::EXEMPLARS, ExemplarView::new)
        }
    };
}

/// The count and the optional sum, min and max of a histogram data point of either kind.
macro_rules! histogram_accessors {
    ($message:ident) => {
        pub fn count(&self) -> Result<u64, WireError> {
            fixed64_field(self.buf, proto::$message::COUNT)
        }

        pub fn sum(&self) -> Result<Option<f64>, WireError> {
            optional_double(self.buf, proto::$message::SUM)
        }

        pub fn min(&self) -> Result<Option<f64>, WireError> {
            optional_double(self.buf, proto::$message::MIN)
        }

        pub fn max(&self) -> Result<Option<f64>, WireError> {
            optional_double(self.buf, proto::$message::MAX)
        }
    };
}

// ---------------------------------------------------------------------------------------------
// NumberDataPoint
// ---------------------------------------------------------------------------------------------

/// The scalar fields of a number data point, read in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NumberDataPointFields {
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub value: Option<NumberValue>,
    pub flags: u32,
}

/// A `NumberDataPoint` (of a gauge or a sum).
#[derive(Clone, Copy, Debug)]
pub struct NumberDataPointView<'a> {
    buf: &'a [u8],
}

impl<'a> NumberDataPointView<'a> {
    point_accessors!(NumberDataPointView, number_data_point);
    exemplar_accessor!(number_data_point);

    /// Every scalar field, read in one pass.
    pub fn fields(&self) -> Result<NumberDataPointFields, WireError> {
        use proto::number_data_point::*;
        let mut p = NumberDataPointFields::default();
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                START_TIME_UNIX_NANO => p.start_time_unix_nano = f.fixed64()?,
                TIME_UNIX_NANO => p.time_unix_nano = f.fixed64()?,
                AS_DOUBLE => p.value = Some(NumberValue::Double(double(&f)?)),
                AS_INT => p.value = Some(NumberValue::Int(f.fixed64()? as i64)),
                FLAGS => p.flags = f.varint()? as u32,
                _ => {}
            }
        }
        Ok(p)
    }

    /// The value; `None` when the point has neither `as_double` nor `as_int`.
    pub fn value(&self) -> Result<Option<NumberValue>, WireError> {
        number_value(self.buf, proto::number_data_point::AS_DOUBLE, proto::number_data_point::AS_INT)
    }
}

// ---------------------------------------------------------------------------------------------
// HistogramDataPoint
// ---------------------------------------------------------------------------------------------

/// The scalar fields of a histogram data point, read in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HistogramDataPointFields {
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub count: u64,
    pub sum: Option<f64>,
    pub flags: u32,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A `HistogramDataPoint`.
#[derive(Clone, Copy, Debug)]
pub struct HistogramDataPointView<'a> {
    buf: &'a [u8],
}

impl<'a> HistogramDataPointView<'a> {
    point_accessors!(HistogramDataPointView, histogram_data_point);
    exemplar_accessor!(histogram_data_point);
    histogram_accessors!(histogram_data_point);

    /// Every scalar field, read in one pass.
    pub fn fields(&self) -> Result<HistogramDataPointFields, WireError> {
        use proto::histogram_data_point::*;
        let mut p = HistogramDataPointFields::default();
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                START_TIME_UNIX_NANO => p.start_time_unix_nano = f.fixed64()?,
                TIME_UNIX_NANO => p.time_unix_nano = f.fixed64()?,
                COUNT => p.count = f.fixed64()?,
                SUM => p.sum = Some(double(&f)?),
                FLAGS => p.flags = f.varint()? as u32,
                MIN => p.min = Some(double(&f)?),
                MAX => p.max = Some(double(&f)?),
                _ => {}
            }
        }
        Ok(p)
    }

    /// The count of each bucket (one more than the bounds).
    pub fn bucket_counts(&self) -> RepeatedScalars<'a> {
        RepeatedScalars::new(self.buf, proto::histogram_data_point::BUCKET_COUNTS, ScalarEncoding::Fixed64)
    }

    /// The upper bounds of the buckets but the last.
    pub fn explicit_bounds(&self) -> Doubles<'a> {
        Doubles::new(self.buf, proto::histogram_data_point::EXPLICIT_BOUNDS)
    }
}

// ---------------------------------------------------------------------------------------------
// ExponentialHistogramDataPoint
// ---------------------------------------------------------------------------------------------

/// The scalar fields of an exponential histogram data point, read in one pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExponentialHistogramDataPointFields<'a> {
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub count: u64,
    pub sum: Option<f64>,
    pub scale: i32,
    pub zero_count: u64,
    /// `None` when the point has no `positive` buckets message.
    pub positive: Option<BucketsView<'a>>,
    pub negative: Option<BucketsView<'a>>,
    pub flags: u32,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub zero_threshold: f64,
}

/// An `ExponentialHistogramDataPoint`.
#[derive(Clone, Copy, Debug)]
pub struct ExponentialHistogramDataPointView<'a> {
    buf: &'a [u8],
}

impl<'a> ExponentialHistogramDataPointView<'a> {
    point_accessors!(ExponentialHistogramDataPointView, exponential_histogram_data_point);
    exemplar_accessor!(exponential_histogram_data_point);
    histogram_accessors!(exponential_histogram_data_point);

    /// Every scalar field, read in one pass.
    pub fn fields(&self) -> Result<ExponentialHistogramDataPointFields<'a>, WireError> {
        use proto::exponential_histogram_data_point::*;
        let mut p = ExponentialHistogramDataPointFields::default();
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                START_TIME_UNIX_NANO => p.start_time_unix_nano = f.fixed64()?,
                TIME_UNIX_NANO => p.time_unix_nano = f.fixed64()?,
                COUNT => p.count = f.fixed64()?,
                SUM => p.sum = Some(double(&f)?),
                SCALE => p.scale = decode_zigzag32(f.varint()?),
                ZERO_COUNT => p.zero_count = f.fixed64()?,
                POSITIVE => p.positive = Some(BucketsView::new(f.bytes()?)),
                NEGATIVE => p.negative = Some(BucketsView::new(f.bytes()?)),
                FLAGS => p.flags = f.varint()? as u32,
                MIN => p.min = Some(double(&f)?),
                MAX => p.max = Some(double(&f)?),
                ZERO_THRESHOLD => p.zero_threshold = double(&f)?,
                _ => {}
            }
        }
        Ok(p)
    }

    /// The resolution: bucket boundaries are powers of `2^(2^-scale)`.
    pub fn scale(&self) -> Result<i32, WireError> {
        Ok(decode_zigzag32(varint_field(self.buf, proto::exponential_histogram_data_point::SCALE)?))
    }

    pub fn zero_count(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::exponential_histogram_data_point::ZERO_COUNT)
    }

    /// The buckets of positive values; absent reads as empty.
    pub fn positive(&self) -> Result<BucketsView<'a>, WireError> {
        Ok(BucketsView::new(bytes_field(self.buf, proto::exponential_histogram_data_point::POSITIVE)?))
    }

    /// The buckets of negative values; absent reads as empty.
    pub fn negative(&self) -> Result<BucketsView<'a>, WireError> {
        Ok(BucketsView::new(bytes_field(self.buf, proto::exponential_histogram_data_point::NEGATIVE)?))
    }

    pub fn zero_threshold(&self) -> Result<f64, WireError> {
        double_field(self.buf, proto::exponential_histogram_data_point::ZERO_THRESHOLD)
    }
}

/// `ExponentialHistogramDataPoint.Buckets`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BucketsView<'a> {
    buf: &'a [u8],
}

impl<'a> BucketsView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BucketsView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The index of the first bucket.
    pub fn offset(&self) -> Result<i32, WireError> {
        use proto::exponential_histogram_data_point::buckets;
        Ok(decode_zigzag32(varint_field(self.buf, buckets::OFFSET)?))
    }

    pub fn bucket_counts(&self) -> RepeatedScalars<'a> {
        use proto::exponential_histogram_data_point::buckets;
        RepeatedScalars::new(self.buf, buckets::BUCKET_COUNTS, ScalarEncoding::Varint)
    }
}

// ---------------------------------------------------------------------------------------------
// SummaryDataPoint
// ---------------------------------------------------------------------------------------------

/// The scalar fields of a summary data point, read in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SummaryDataPointFields {
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub count: u64,
    pub sum: f64,
    pub flags: u32,
}

/// A `SummaryDataPoint`.
#[derive(Clone, Copy, Debug)]
pub struct SummaryDataPointView<'a> {
    buf: &'a [u8],
}

impl<'a> SummaryDataPointView<'a> {
    point_accessors!(SummaryDataPointView, summary_data_point);

    /// Every scalar field, read in one pass.
    pub fn fields(&self) -> Result<SummaryDataPointFields, WireError> {
        use proto::summary_data_point::*;
        let mut p = SummaryDataPointFields::default();
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                START_TIME_UNIX_NANO => p.start_time_unix_nano = f.fixed64()?,
                TIME_UNIX_NANO => p.time_unix_nano = f.fixed64()?,
                COUNT => p.count = f.fixed64()?,
                SUM => p.sum = double(&f)?,
                FLAGS => p.flags = f.varint()? as u32,
                _ => {}
            }
        }
        Ok(p)
    }

    pub fn count(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::summary_data_point::COUNT)
    }

    pub fn sum(&self) -> Result<f64, WireError> {
        double_field(self.buf, proto::summary_data_point::SUM)
    }

    pub fn quantile_values(&self) -> Children<'a, ValueAtQuantileView<'a>> {
        Children::new(self.buf, proto::summary_data_point::QUANTILE_VALUES, ValueAtQuantileView::new)
    }
}

/// `SummaryDataPoint.ValueAtQuantile`.
#[derive(Clone, Copy, Debug)]
pub struct ValueAtQuantileView<'a> {
    buf: &'a [u8],
}

impl<'a> ValueAtQuantileView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ValueAtQuantileView { buf }
    }

    /// `(quantile, value)`, read in one pass.
    pub fn get(&self) -> Result<(f64, f64), WireError> {
        use proto::summary_data_point::value_at_quantile::*;
        let (mut q, mut v) = (0.0, 0.0);
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                QUANTILE => q = double(&f)?,
                VALUE => v = double(&f)?,
                _ => {}
            }
        }
        Ok((q, v))
    }

    pub fn quantile(&self) -> Result<f64, WireError> {
        double_field(self.buf, proto::summary_data_point::value_at_quantile::QUANTILE)
    }

    pub fn value(&self) -> Result<f64, WireError> {
        double_field(self.buf, proto::summary_data_point::value_at_quantile::VALUE)
    }
}

// ---------------------------------------------------------------------------------------------
// Exemplar
// ---------------------------------------------------------------------------------------------

/// An `Exemplar`.
#[derive(Clone, Copy, Debug)]
pub struct ExemplarView<'a> {
    buf: &'a [u8],
}

impl<'a> ExemplarView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ExemplarView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The attributes of the measurement that the aggregation filtered out.
    pub fn filtered_attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::exemplar::FILTERED_ATTRIBUTES)
    }

    pub fn time_unix_nano(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::exemplar::TIME_UNIX_NANO)
    }

    /// The value; `None` when the exemplar has neither `as_double` nor `as_int`.
    pub fn value(&self) -> Result<Option<NumberValue>, WireError> {
        number_value(self.buf, proto::exemplar::AS_DOUBLE, proto::exemplar::AS_INT)
    }

    pub fn span_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::exemplar::SPAN_ID)
    }

    pub fn trace_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::exemplar::TRACE_ID)
    }
}
