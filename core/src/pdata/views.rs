//! Zero-copy views over encoded OTLP requests.
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
//! signal; [`SpanView`], [`LogRecordView`] and [`MetricView`] read the items. A view borrows the
//! received bytes and never allocates: string fields come back as `&str` (a string that is not
//! valid UTF-8 reads as empty), ids as byte slices.

use super::wire::{Field, Fields, Value, WireError};
use super::Signal;

/// The field number of the repeated groups and items at every level (see module docs).
pub(crate) const GROUP_FIELD: u32 = 1;
pub(crate) const CHILD_FIELD: u32 = 2;

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
        Children::new(self.buf, GROUP_FIELD, |b| ResourceGroupView { buf: b })
    }
}

/// Iterator over the repeated child messages with one field number.
pub struct Children<'a, V> {
    fields: Fields<'a>,
    number: u32,
    make: fn(&'a [u8]) -> V,
}

impl<'a, V> Children<'a, V> {
    fn new(buf: &'a [u8], number: u32, make: fn(&'a [u8]) -> V) -> Self {
        Children { fields: Fields::new(buf), number, make }
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

fn find_field<'a>(buf: &'a [u8], number: u32) -> Result<Option<Field<'a>>, WireError> {
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

fn str_of(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

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
        Ok(ResourceView { buf: find_field(self.buf, 1)?.map(|f| f.bytes()).transpose()?.unwrap_or(&[]) })
    }

    pub fn scopes(&self) -> Children<'a, ScopeGroupView<'a>> {
        Children::new(self.buf, CHILD_FIELD, |b| ScopeGroupView { buf: b })
    }

    pub fn schema_url(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, 3)
    }
}

fn string_field(buf: &[u8], number: u32) -> Result<&str, WireError> {
    Ok(find_field(buf, number)?.map(|f| f.bytes()).transpose()?.map(str_of).unwrap_or(""))
}

fn bytes_field(buf: &[u8], number: u32) -> Result<&[u8], WireError> {
    Ok(find_field(buf, number)?.map(|f| f.bytes()).transpose()?.unwrap_or(&[]))
}

/// A `Resource`.
#[derive(Clone, Copy)]
pub struct ResourceView<'a> {
    buf: &'a [u8],
}

impl<'a> ResourceView<'a> {
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, 1)
    }

    /// `service.name`, the attribute most lookups want.
    pub fn service_name(&self) -> Result<Option<&'a str>, WireError> {
        Ok(self.attributes().get("service.name")?.and_then(|v| v.as_str()))
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

    pub fn scope(&self) -> Result<ScopeView<'a>, WireError> {
        Ok(ScopeView { buf: bytes_field(self.buf, 1)? })
    }

    /// The encoded items (spans, log records or metrics) of this scope.
    pub fn items(&self) -> Children<'a, &'a [u8]> {
        Children::new(self.buf, CHILD_FIELD, |b| b)
    }

    pub fn spans(&self) -> Children<'a, SpanView<'a>> {
        Children::new(self.buf, CHILD_FIELD, |b| SpanView { buf: b })
    }

    pub fn log_records(&self) -> Children<'a, LogRecordView<'a>> {
        Children::new(self.buf, CHILD_FIELD, |b| LogRecordView { buf: b })
    }

    pub fn metrics(&self) -> Children<'a, MetricView<'a>> {
        Children::new(self.buf, CHILD_FIELD, |b| MetricView { buf: b })
    }

    pub fn schema_url(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, 3)
    }
}

/// An `InstrumentationScope`.
#[derive(Clone, Copy)]
pub struct ScopeView<'a> {
    buf: &'a [u8],
}

impl<'a> ScopeView<'a> {
    pub fn name(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, 1)
    }
    pub fn version(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, 2)
    }
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, 3)
    }
}

/// `Span.SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// `Status.StatusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

/// Every field of a span, read in one pass (see [`SpanView::fields`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: &'a str,
    pub parent_span_id: &'a [u8],
    pub name: &'a str,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub status_code: i32,
    pub status_message: &'a str,
    pub flags: u32,
}

/// A `Span`.
#[derive(Clone, Copy)]
pub struct SpanView<'a> {
    buf: &'a [u8],
}

impl<'a> SpanView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        SpanView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads the scalar fields of the span in one pass over its bytes.
    pub fn fields(&self) -> Result<SpanFields<'a>, WireError> {
        let mut s = SpanFields::default();
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                1 => s.trace_id = f.bytes()?,
                2 => s.span_id = f.bytes()?,
                3 => s.trace_state = str_of(f.bytes()?),
                4 => s.parent_span_id = f.bytes()?,
                5 => s.name = str_of(f.bytes()?),
                6 => s.kind = f.varint()? as i32,
                7 => s.start_time_unix_nano = f.fixed64()?,
                8 => s.end_time_unix_nano = f.fixed64()?,
                15 => {
                    for sf in Fields::new(f.bytes()?) {
                        let sf = sf?;
                        match sf.number {
                            2 => s.status_message = str_of(sf.bytes()?),
                            3 => s.status_code = sf.varint()? as i32,
                            _ => {}
                        }
                    }
                }
                16 => s.flags = f.fixed32()?,
                _ => {}
            }
        }
        Ok(s)
    }

    pub fn trace_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, 1)
    }
    pub fn span_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, 2)
    }
    pub fn parent_span_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, 4)
    }
    pub fn name(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, 5)
    }
    pub fn kind(&self) -> Result<SpanKind, WireError> {
        Ok(SpanKind::from_i32(find_field(self.buf, 6)?.map(|f| f.varint()).transpose()?.unwrap_or(0) as i32))
    }
    pub fn status_code(&self) -> Result<StatusCode, WireError> {
        Ok(match self.fields()?.status_code {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        })
    }
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, 9)
    }
    /// Number of events and links, for debug output and sizing.
    pub fn event_and_link_counts(&self) -> Result<(usize, usize), WireError> {
        let (mut e, mut l) = (0, 0);
        for f in Fields::new(self.buf) {
            match f?.number {
                11 => e += 1,
                13 => l += 1,
                _ => {}
            }
        }
        Ok((e, l))
    }
}

/// A `LogRecord`.
#[derive(Clone, Copy)]
pub struct LogRecordView<'a> {
    buf: &'a [u8],
}

/// The scalar fields of a log record, read in one pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRecordFields<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: &'a str,
    pub body: Option<AnyValueView<'a>>,
    pub flags: u32,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub event_name: &'a str,
}

impl<'a> LogRecordView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        LogRecordView { buf }
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }
    pub fn fields(&self) -> Result<LogRecordFields<'a>, WireError> {
        let mut r = LogRecordFields::default();
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                1 => r.time_unix_nano = f.fixed64()?,
                2 => r.severity_number = f.varint()? as i32,
                3 => r.severity_text = str_of(f.bytes()?),
                5 => r.body = Some(AnyValueView::new(f.bytes()?)),
                8 => r.flags = f.fixed32()?,
                9 => r.trace_id = f.bytes()?,
                10 => r.span_id = f.bytes()?,
                11 => r.observed_time_unix_nano = f.fixed64()?,
                12 => r.event_name = str_of(f.bytes()?),
                _ => {}
            }
        }
        Ok(r)
    }
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, 6)
    }
}

/// The data kind of a `Metric`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
    Empty,
}

/// A `Metric`.
#[derive(Clone, Copy)]
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
        string_field(self.buf, 1)
    }
    pub fn description(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, 2)
    }
    pub fn unit(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, 3)
    }

    /// The kind of data and the encoded data message (`Gauge`, `Sum`, …).
    pub fn data(&self) -> Result<(MetricKind, &'a [u8]), WireError> {
        let mut out = (MetricKind::Empty, &[][..]);
        for f in Fields::new(self.buf) {
            let f = f?;
            let kind = match f.number {
                5 => MetricKind::Gauge,
                7 => MetricKind::Sum,
                9 => MetricKind::Histogram,
                10 => MetricKind::ExponentialHistogram,
                11 => MetricKind::Summary,
                _ => continue,
            };
            out = (kind, f.bytes()?);
        }
        Ok(out)
    }

    /// The encoded data points (field 1 of every data message).
    pub fn data_points(&self) -> Result<Children<'a, &'a [u8]>, WireError> {
        let (_, data) = self.data()?;
        Ok(Children::new(data, 1, |b| b))
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

/// The attributes (`repeated KeyValue`) held in one field of a message.
#[derive(Clone, Copy)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    number: u32,
}

impl<'a> Attributes<'a> {
    pub fn new(buf: &'a [u8], number: u32) -> Self {
        Attributes { buf, number }
    }

    /// Every attribute as (key, value), in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Result<(&'a str, AnyValueView<'a>), WireError>> + 'a {
        Children::new(self.buf, self.number, |b| b).map(|kv| kv.and_then(key_value))
    }

    /// The value of `key`, if present (the last one wins, as in protobuf maps).
    pub fn get(&self, key: &str) -> Result<Option<AnyValueView<'a>>, WireError> {
        let mut found = None;
        for kv in Children::new(self.buf, self.number, |b| b) {
            // Compare raw bytes: no UTF-8 check for keys that do not match.
            let (k, v) = raw_key_value(kv?)?;
            if k == key.as_bytes() {
                found = Some(v);
            }
        }
        Ok(found)
    }
}

/// The key (raw bytes, not checked as UTF-8) and value of one encoded `KeyValue`, for readers
/// that walk an item's fields themselves and look at a few attributes on the way.
pub fn raw_key_value(buf: &[u8]) -> Result<(&[u8], AnyValueView<'_>), WireError> {
    let (mut key, mut value) = (&[][..], &[][..]);
    for f in Fields::new(buf) {
        let f = f?;
        match f.number {
            1 => key = f.bytes()?,
            2 => value = f.bytes()?,
            _ => {}
        }
    }
    Ok((key, AnyValueView::new(value)))
}

fn key_value(buf: &[u8]) -> Result<(&str, AnyValueView<'_>), WireError> {
    raw_key_value(buf).map(|(k, v)| (str_of(k), v))
}

/// An `AnyValue`, decoded lazily.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnyValueView<'a> {
    buf: &'a [u8],
}

/// The content of an `AnyValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyValue<'a> {
    Empty,
    String(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Encoded `ArrayValue`.
    Array(&'a [u8]),
    /// Encoded `KeyValueList`.
    KvList(&'a [u8]),
    Bytes(&'a [u8]),
}

impl<'a> AnyValueView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        AnyValueView { buf }
    }

    pub fn get(&self) -> Result<AnyValue<'a>, WireError> {
        let mut out = AnyValue::Empty;
        for f in Fields::new(self.buf) {
            let f = f?;
            out = match (f.number, f.value) {
                (1, Value::Bytes(b)) => AnyValue::String(str_of(b)),
                (2, Value::Varint(v)) => AnyValue::Bool(v != 0),
                (3, Value::Varint(v)) => AnyValue::Int(v as i64),
                (4, Value::Fixed64(v)) => AnyValue::Double(f64::from_bits(v)),
                (5, Value::Bytes(b)) => AnyValue::Array(b),
                (6, Value::Bytes(b)) => AnyValue::KvList(b),
                (7, Value::Bytes(b)) => AnyValue::Bytes(b),
                (n @ 1..=7, v) => return Err(WireError::UnexpectedWireType { field: n, wire_type: v.wire_type() }),
                _ => out,
            };
        }
        Ok(out)
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match self.get() {
            Ok(AnyValue::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.get() {
            Ok(AnyValue::Int(v)) => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.get() {
            Ok(AnyValue::Bool(v)) => Some(v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self.get() {
            Ok(AnyValue::Double(v)) => Some(v),
            _ => None,
        }
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
