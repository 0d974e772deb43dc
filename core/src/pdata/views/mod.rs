//! Zero-copy views over encoded OTLP messages: every field of the OpenTelemetry data model,
//! read in place.
//!
//! All three `Export*ServiceRequest` messages share one shape:
//!
//! ```text
//! request        1: repeated ResourceGroup   (ResourceSpans / ResourceLogs / ResourceMetrics)
//! ResourceGroup  1: Resource   2: repeated ScopeGroup   3: schema_url
//! ScopeGroup     1: InstrumentationScope   2: repeated item (Span / LogRecord / Metric)   3: schema_url
//! ```
//!
//! [`RequestView`], [`ResourceGroupView`] and [`ScopeGroupView`] walk that shape for every
//! signal ([`RequestView::for_each_scope`] is the walker exporters use to do per-resource work
//! once); the items and everything inside them have a view of their own:
//!
//! | module | views |
//! |---|---|
//! | [`common`] | [`ResourceView`], [`ScopeView`], [`EntityRefView`], [`Attributes`], [`AnyValueView`], [`ArrayView`] |
//! | [`trace`] | [`SpanView`] (+ one-pass [`SpanFields`]), [`EventView`], [`LinkView`], [`StatusView`] |
//! | [`logs`] | [`LogRecordView`] (+ one-pass [`LogRecordFields`]) |
//! | [`metrics`] | [`MetricView`], [`MetricData`] (gauge, sum, histogram, exponential histogram, summary), the data point views, [`ExemplarView`] |
//! | [`response`] | [`ExportResponseView`], [`PartialSuccessView`], [`RpcStatusView`] (`google.rpc.Status` with `RetryInfo`) |
//!
//! The rules every view keeps:
//!
//! - **No allocation, no copy.** A view is a `Copy` borrow of the received bytes; repeated
//!   fields are iterators ([`Children`], [`RepeatedScalars`]) that walk the bytes as they go.
//! - **Lazy.** Nothing is read until asked for; each accessor walks the message's fields.
//!   Where a caller needs many fields of a hot item, a one-pass reader ([`SpanView::fields`],
//!   [`LogRecordView::fields`], the data points' `fields()`) reads them in one walk.
//! - **Malformed input is an error, never a panic**: every accessor returns
//!   `Result<_, WireError>`; a known field with the wrong wire type is
//!   [`WireError::UnexpectedWireType`]. Unknown fields are skipped, as protobuf requires.
//! - **Last occurrence wins** for a non-repeated field, as in protobuf. A non-repeated
//!   sub-message (a span's status, a resource) that occurs twice reads as its last occurrence;
//!   protobuf would merge the two, which no OTLP encoder produces. ([`SpanView::fields`] merges
//!   the status's fields, as it always did.)
//! - **Absent reads as the default**: 0, `""`, an empty id, an empty sub-message. Fields that
//!   are `optional` in the protocol (a histogram's `sum`, `min`, `max`) read as `Option`.
//! - **UTF-8 is checked lazily**: a string that is not valid UTF-8 reads as `""`; the `*_bytes`
//!   accessors give the raw bytes where a writer stores them as they came.
//! - **Enumerations are their wire numbers** (`i32`), so that an unknown value survives a
//!   round trip; [`SpanKind`], [`StatusCode`], [`SeverityNumber`] and the other enums in
//!   [`super::enums`] give them names.
//!
//! Field numbers come from [`super::proto`], never from literals.

use super::proto;
use super::wire::{Field, Fields, WireError};
use super::Signal;

pub mod common;
pub mod logs;
pub mod metrics;
pub mod response;
pub mod trace;

pub use super::enums::{AggregationTemporality, MetricKind, SeverityNumber, SpanKind, StatusCode};
pub use super::wire::{RepeatedScalars, ScalarEncoding};
pub use common::{
    raw_key_value, AnyValue, AnyValueView, ArrayView, Attributes, EntityRefView, ResourceView, ScopeView, Strings,
};
pub use logs::{LogRecordFields, LogRecordView};
pub use metrics::{
    BucketsView, DataPointView, DataPoints, Doubles, ExemplarView, ExponentialHistogramDataPointFields,
    ExponentialHistogramDataPointView, ExponentialHistogramView, GaugeView, HistogramDataPointFields,
    HistogramDataPointView, HistogramView, MetricData, MetricView, NumberDataPointFields, NumberDataPointView,
    NumberValue, SumView, SummaryDataPointFields, SummaryDataPointView, SummaryView, ValueAtQuantileView,
};
pub use response::{ExportResponseView, PartialSuccessView, ProtoAnyView, RetryInfoView, RpcStatusView};
pub use trace::{EventView, LinkView, SpanFields, SpanView, StatusView};

/// The field number of the repeated groups and items at every level (see module docs).
pub(crate) const GROUP_FIELD: u32 = proto::request::RESOURCE_GROUPS;
pub(crate) const CHILD_FIELD: u32 = proto::resource_group::SCOPE_GROUPS;
const _: () = assert!(proto::scope_group::ITEMS == CHILD_FIELD, "scope groups hold items where resources hold scopes");

/// An encoded `Export{Trace,Logs,Metrics}ServiceRequest`.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    buf: &'a [u8],
}

impl<'a> RequestView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        RequestView { buf }
    }

    /// The resource groups (`resource_spans`, `resource_logs`, `resource_metrics`).
    pub fn resources(&self) -> Children<'a, ResourceGroupView<'a>> {
        Children::new(self.buf, GROUP_FIELD, ResourceGroupView::new)
    }

    /// Walks every scope group of the request with what its resource group shares: `resource`
    /// is called once per resource group, in wire order, and makes the value `R` its scope
    /// groups share (a service name, attributes rendered once, an index, …); `scope` is then
    /// called for each of its scope groups with that value. `state` is lent to both, for what
    /// both write to (an output buffer, a scratch map).
    ///
    /// This is the one resource/scope walk of weir: exporters that repeat resource and scope
    /// fields on every row use it instead of nesting loops of their own.
    pub fn for_each_scope<S, R, E>(
        &self,
        state: &mut S,
        mut resource: impl FnMut(&mut S, ResourceGroupView<'a>) -> Result<R, E>,
        mut scope: impl FnMut(&mut S, &mut R, ScopeGroupView<'a>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<WireError>,
    {
        for rg in self.resources() {
            let rg = rg?;
            let mut shared = resource(state, rg)?;
            for sg in rg.scopes() {
                scope(state, &mut shared, sg?)?;
            }
        }
        Ok(())
    }
}

/// Iterator over the repeated child messages with one field number, each made into a view.
pub struct Children<'a, V> {
    fields: Fields<'a>,
    number: u32,
    make: fn(&'a [u8]) -> V,
}

impl<'a, V> Clone for Children<'a, V> {
    fn clone(&self) -> Self {
        Children { fields: self.fields.clone(), number: self.number, make: self.make }
    }
}

impl<'a, V> Children<'a, V> {
    /// The children in field `number` of the message `buf`, each made into a `V` by `make`.
    pub fn new(buf: &'a [u8], number: u32, make: fn(&'a [u8]) -> V) -> Self {
        Children { fields: Fields::new(buf), number, make }
    }

    /// The number of children, checking the message on the way (a walk over a copy).
    pub fn checked_len(&self) -> Result<usize, WireError> {
        self.clone().try_fold(0, |n, c| c.map(|_| n + 1))
    }
}

impl<'a, V> Iterator for Children<'a, V> {
    type Item = Result<V, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        for f in self.fields.by_ref() {
            match f {
                Err(e) => return Some(Err(e)),
                Ok(f) if f.number == self.number => return Some(f.bytes().map(self.make)),
                Ok(_) => {}
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Reading one field of a message (last occurrence wins)
// ---------------------------------------------------------------------------------------------

pub(crate) fn find_field<'a>(buf: &'a [u8], number: u32) -> Result<Option<Field<'a>>, WireError> {
    // Protobuf says the last occurrence of a non-repeated field wins.
    let mut found = None;
    for f in Fields::new(buf) {
        let f = f?;
        if f.number == number {
            found = Some(f);
        }
    }
    Ok(found)
}

/// A string's bytes as `&str`; not UTF-8 reads as empty.
#[inline]
pub(crate) fn str_of(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

pub(crate) fn string_field(buf: &[u8], number: u32) -> Result<&str, WireError> {
    bytes_field(buf, number).map(str_of)
}

/// A length-delimited field (bytes, string or sub-message); empty when absent.
pub(crate) fn bytes_field(buf: &[u8], number: u32) -> Result<&[u8], WireError> {
    Ok(optional_bytes(buf, number)?.unwrap_or(&[]))
}

pub(crate) fn optional_bytes(buf: &[u8], number: u32) -> Result<Option<&[u8]>, WireError> {
    find_field(buf, number)?.map(|f| f.bytes()).transpose()
}

/// A varint field (`uint64`, `int32`, `bool`, enums, …) as its raw value; 0 when absent.
pub(crate) fn varint_field(buf: &[u8], number: u32) -> Result<u64, WireError> {
    Ok(find_field(buf, number)?.map(|f| f.varint()).transpose()?.unwrap_or(0))
}

pub(crate) fn fixed64_field(buf: &[u8], number: u32) -> Result<u64, WireError> {
    Ok(optional_fixed64(buf, number)?.unwrap_or(0))
}

pub(crate) fn optional_fixed64(buf: &[u8], number: u32) -> Result<Option<u64>, WireError> {
    find_field(buf, number)?.map(|f| f.fixed64()).transpose()
}

pub(crate) fn fixed32_field(buf: &[u8], number: u32) -> Result<u32, WireError> {
    Ok(find_field(buf, number)?.map(|f| f.fixed32()).transpose()?.unwrap_or(0))
}

pub(crate) fn double_field(buf: &[u8], number: u32) -> Result<f64, WireError> {
    Ok(optional_double(buf, number)?.unwrap_or(0.0))
}

/// A `double` that is `optional` in the protocol: `None` when absent.
pub(crate) fn optional_double(buf: &[u8], number: u32) -> Result<Option<f64>, WireError> {
    Ok(optional_fixed64(buf, number)?.map(f64::from_bits))
}

/// A field's value as a `double`.
#[inline]
pub(crate) fn double(f: &Field<'_>) -> Result<f64, WireError> {
    f.fixed64().map(f64::from_bits)
}

// ---------------------------------------------------------------------------------------------
// Resource and scope groups
// ---------------------------------------------------------------------------------------------

/// A `ResourceSpans`, `ResourceLogs` or `ResourceMetrics`.
#[derive(Clone, Copy)]
pub struct ResourceGroupView<'a> {
    buf: &'a [u8],
}

impl<'a> ResourceGroupView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ResourceGroupView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The resource; an absent resource reads as one with no attributes.
    pub fn resource(&self) -> Result<ResourceView<'a>, WireError> {
        Ok(ResourceView::new(bytes_field(self.buf, proto::resource_group::RESOURCE)?))
    }

    pub fn scopes(&self) -> Children<'a, ScopeGroupView<'a>> {
        Children::new(self.buf, CHILD_FIELD, ScopeGroupView::new)
    }

    pub fn schema_url(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::resource_group::SCHEMA_URL)
    }

    pub fn schema_url_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::resource_group::SCHEMA_URL)
    }
}

/// A `ScopeSpans`, `ScopeLogs` or `ScopeMetrics`.
#[derive(Clone, Copy)]
pub struct ScopeGroupView<'a> {
    buf: &'a [u8],
}

impl<'a> ScopeGroupView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ScopeGroupView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The instrumentation scope; an absent scope reads as an empty one.
    pub fn scope(&self) -> Result<ScopeView<'a>, WireError> {
        Ok(ScopeView::new(bytes_field(self.buf, proto::scope_group::SCOPE)?))
    }

    /// The encoded items (spans, log records or metrics) of this scope.
    pub fn items(&self) -> Children<'a, &'a [u8]> {
        Children::new(self.buf, CHILD_FIELD, |b| b)
    }

    pub fn spans(&self) -> Children<'a, SpanView<'a>> {
        Children::new(self.buf, CHILD_FIELD, SpanView::new)
    }

    pub fn log_records(&self) -> Children<'a, LogRecordView<'a>> {
        Children::new(self.buf, CHILD_FIELD, LogRecordView::new)
    }

    pub fn metrics(&self) -> Children<'a, MetricView<'a>> {
        Children::new(self.buf, CHILD_FIELD, MetricView::new)
    }

    pub fn schema_url(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::scope_group::SCHEMA_URL)
    }

    pub fn schema_url_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::scope_group::SCHEMA_URL)
    }
}

/// Counts the items of an encoded request (spans, log records or metric data points),
/// checking on the way that every level down to the items is well-formed.
pub fn count_items(signal: Signal, buf: &[u8]) -> Result<usize, WireError> {
    let mut n = 0usize;
    for rg in RequestView::new(buf).resources() {
        for sg in rg?.scopes() {
            let sg = sg?;
            match signal {
                Signal::Metrics => {
                    for m in sg.metrics() {
                        n += m?.data_point_count()?;
                    }
                }
                Signal::Traces | Signal::Logs => {
                    for item in sg.items() {
                        super::wire::check_fields(item?)?;
                        n += 1;
                    }
                }
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
