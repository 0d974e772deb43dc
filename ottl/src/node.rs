//! One telemetry item being evaluated: its received bytes, read through the views, and the
//! edits statements made to it (an overlay), which [`Node::encode`] writes back.
//!
//! A node never decodes its item. A read of a field the statements did not change goes to the
//! view; a write records the new value in the overlay. Encoding copies every received field
//! the overlay does not replace byte for byte (`pdata::edit::copy_fields`) and writes the
//! replaced ones; attributes that only gained new keys keep their received bytes and get the
//! new `KeyValue`s appended. An item without edits is never encoded: its received bytes are
//! copied as they are.

use crate::error::EvalError;
use crate::value::{encode_any_value, encode_key_values, owned_attributes, OMap, OValue, Value, MAX_VALUE_DEPTH};
use std::borrow::Cow;
use weir_core::pdata::edit;
use weir_core::pdata::proto;
use weir_core::pdata::views::{
    Attributes, DataPointView, EventView, LogRecordView, MetricKind, MetricView, ResourceView, ScopeView, SpanView,
};
use weir_core::pdata::WireError;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Log,
    Metric,
    /// A data point of a metric of this kind.
    DataPoint(MetricKind),
}

/// A field of an item that paths name (attributes and cache are handled apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    DroppedAttributesCount,
    // scope
    Name,
    Version,
    // span
    TraceId,
    SpanId,
    ParentSpanId,
    TraceState,
    Kind,
    StartTime,
    EndTime,
    DroppedEventsCount,
    DroppedLinksCount,
    StatusCode,
    StatusMessage,
    Flags,
    // event, log, data point
    Time,
    // log
    ObservedTime,
    SeverityNumber,
    SeverityText,
    Body,
    EventName,
    // metric
    Description,
    Unit,
    Type,
    AggregationTemporality,
    IsMonotonic,
    // data points
    ValueDouble,
    ValueInt,
    Count,
    Sum,
    Scale,
    ZeroCount,
    BucketCounts,
    ExplicitBounds,
}

/// The attributes of a node after edits: received ones plus appended new keys, or an owned map
/// once an edit needed more than appending.
#[derive(Debug, Clone)]
pub(crate) enum MapEdit<'a> {
    Appended { base: Attributes<'a>, extra: OMap },
    Owned(OMap),
}

/// One item: a resource, scope, span, span event, log record, metric or data point.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub(crate) kind: NodeKind,
    pub(crate) bytes: &'a [u8],
    /// Fields replaced by statements.
    pub(crate) fields: Vec<(Field, OValue)>,
    pub(crate) attrs: Option<MapEdit<'a>>,
    /// Children (span events, data points) once a statement of their context ran: in order,
    /// `None` for a child removed by a filter.
    pub(crate) children: Option<Vec<Option<Node<'a>>>>,
}

const ZERO_TRACE_ID: [u8; 16] = [0; 16];
const ZERO_SPAN_ID: [u8; 8] = [0; 8];

impl<'a> Node<'a> {
    pub fn new(kind: NodeKind, bytes: &'a [u8]) -> Node<'a> {
        Node { kind, bytes, fields: Vec::new(), attrs: None, children: None }
    }

    pub fn kind(&self) -> NodeKind {
        self.kind
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether statements changed this item (or one of its children).
    pub fn is_changed(&self) -> bool {
        !self.fields.is_empty()
            || self.attrs.is_some()
            || self.children.as_ref().is_some_and(|c| c.iter().any(|c| c.as_ref().is_none_or(|c| c.is_changed())))
    }

    /// The attributes as received.
    pub(crate) fn view_attributes(&self) -> Attributes<'a> {
        let b = self.bytes;
        match self.kind {
            NodeKind::Resource => ResourceView::new(b).attributes(),
            NodeKind::Scope => ScopeView::new(b).attributes(),
            NodeKind::Span => SpanView::new(b).attributes(),
            NodeKind::SpanEvent => EventView::new(b).attributes(),
            NodeKind::Log => LogRecordView::new(b).attributes(),
            NodeKind::Metric => MetricView::new(b).metadata(),
            NodeKind::DataPoint(k) => DataPointView::new(k, b).attributes(),
        }
    }

    /// The field number attributes are kept in.
    fn attributes_number(&self) -> u32 {
        match self.kind {
            NodeKind::Resource => proto::resource::ATTRIBUTES,
            NodeKind::Scope => proto::instrumentation_scope::ATTRIBUTES,
            NodeKind::Span => proto::span::ATTRIBUTES,
            NodeKind::SpanEvent => proto::event::ATTRIBUTES,
            NodeKind::Log => proto::log_record::ATTRIBUTES,
            NodeKind::Metric => proto::metric::METADATA,
            NodeKind::DataPoint(k) => match k {
                MetricKind::Histogram => proto::histogram_data_point::ATTRIBUTES,
                MetricKind::ExponentialHistogram => proto::exponential_histogram_data_point::ATTRIBUTES,
                MetricKind::Summary => proto::summary_data_point::ATTRIBUTES,
                _ => proto::number_data_point::ATTRIBUTES,
            },
        }
    }

    /// The value of `key` in the attributes (edits included); `None` when absent.
    pub(crate) fn attribute(&self, key: &str) -> Result<Option<Value<'_>>, EvalError> {
        match &self.attrs {
            None => Ok(match self.view_attributes().get(key)? {
                Some(v) => Some(Value::from_view(v)?),
                None => None,
            }),
            Some(MapEdit::Owned(m)) => Ok(m.iter().find(|(k, _)| k == key).map(|(_, v)| Value::from_owned(v))),
            Some(MapEdit::Appended { base, extra }) => {
                if let Some((_, v)) = extra.iter().find(|(k, _)| k == key) {
                    return Ok(Some(Value::from_owned(v)));
                }
                Ok(match base.get(key)? {
                    Some(v) => Some(Value::from_view(v)?),
                    None => None,
                })
            }
        }
    }

    /// The attributes as a map value.
    pub(crate) fn attributes_value(&self) -> Result<Value<'_>, EvalError> {
        use crate::value::MapV;
        Ok(match &self.attrs {
            None => Value::Map(MapV::View(self.view_attributes())),
            Some(MapEdit::Owned(m)) => Value::Map(MapV::Ref(m)),
            Some(MapEdit::Appended { base, extra }) => {
                let mut m = owned_attributes(*base, 0)?;
                m.extend(extra.iter().cloned());
                Value::Map(MapV::Owned(m))
            }
        })
    }

    /// Sets one attribute: appended when the key is new, otherwise the map becomes owned.
    pub(crate) fn set_attribute(&mut self, key: &str, value: OValue) -> Result<(), EvalError> {
        match &mut self.attrs {
            None => {
                let base = self.view_attributes();
                if base.get(key)?.is_none() {
                    self.attrs = Some(MapEdit::Appended { base, extra: vec![(key.to_string(), value)] });
                    return Ok(());
                }
            }
            Some(MapEdit::Appended { base, extra }) => {
                if let Some(slot) = extra.iter_mut().find(|(k, _)| k == key) {
                    slot.1 = value;
                    return Ok(());
                }
                if base.get(key)?.is_none() {
                    extra.push((key.to_string(), value));
                    return Ok(());
                }
            }
            Some(MapEdit::Owned(_)) => {}
        }
        let m = self.attributes_mut()?;
        match m.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => m.push((key.to_string(), value)),
        }
        Ok(())
    }

    /// The attributes as an owned map to edit.
    pub(crate) fn attributes_mut(&mut self) -> Result<&mut OMap, EvalError> {
        let owned = match self.attrs.take() {
            None => owned_attributes(self.view_attributes(), 0)?,
            Some(MapEdit::Owned(m)) => m,
            Some(MapEdit::Appended { base, extra }) => {
                let mut m = owned_attributes(base, 0)?;
                m.extend(extra);
                m
            }
        };
        self.attrs = Some(MapEdit::Owned(owned));
        match &mut self.attrs {
            Some(MapEdit::Owned(m)) => Ok(m),
            _ => unreachable!("just set"),
        }
    }

    fn field_override(&self, f: Field) -> Option<&OValue> {
        self.fields.iter().rev().find(|(k, _)| *k == f).map(|(_, v)| v)
    }

    /// Reads a field: the statements' value if one was set, else the received one.
    pub(crate) fn field(&self, f: Field) -> Result<Value<'_>, EvalError> {
        if let Some(v) = self.field_override(f) {
            return Ok(match (f, v) {
                (Field::TraceId | Field::SpanId | Field::ParentSpanId, OValue::Bytes(b)) => {
                    Value::Bytes(Cow::Borrowed(b))
                }
                _ => Value::from_owned(v),
            });
        }
        self.received_field(f)
    }

    fn received_field(&self, f: Field) -> Result<Value<'a>, EvalError> {
        let b = self.bytes;
        let int = |v: u64| Value::Int(v as i64);
        let id = |v: &'a [u8], zero: &'static [u8]| Value::Bytes(Cow::Borrowed(if v.is_empty() { zero } else { v }));
        Ok(match (self.kind, f) {
            (NodeKind::Resource, Field::DroppedAttributesCount) => {
                int(ResourceView::new(b).dropped_attributes_count()?.into())
            }
            (NodeKind::Scope, Field::Name) => Value::str(ScopeView::new(b).name()?),
            (NodeKind::Scope, Field::Version) => Value::str(ScopeView::new(b).version()?),
            (NodeKind::Scope, Field::DroppedAttributesCount) => {
                int(ScopeView::new(b).dropped_attributes_count()?.into())
            }
            (NodeKind::Span, f) => {
                let s = SpanView::new(b);
                match f {
                    Field::TraceId => id(s.trace_id()?, &ZERO_TRACE_ID),
                    Field::SpanId => id(s.span_id()?, &ZERO_SPAN_ID),
                    Field::ParentSpanId => id(s.parent_span_id()?, &ZERO_SPAN_ID),
                    Field::TraceState => Value::str(s.trace_state()?),
                    Field::Name => Value::str(s.name()?),
                    Field::Kind => Value::Int(s.kind()?.as_i32().into()),
                    Field::StartTime => int(s.start_time_unix_nano()?),
                    Field::EndTime => int(s.end_time_unix_nano()?),
                    Field::DroppedAttributesCount => int(s.dropped_attributes_count()?.into()),
                    Field::DroppedEventsCount => int(s.dropped_events_count()?.into()),
                    Field::DroppedLinksCount => int(s.dropped_links_count()?.into()),
                    Field::StatusCode => Value::Int(s.status()?.code()?.into()),
                    Field::StatusMessage => Value::str(s.status()?.message()?),
                    Field::Flags => int(s.flags()?.into()),
                    _ => Value::Nil,
                }
            }
            (NodeKind::SpanEvent, f) => {
                let e = EventView::new(b);
                match f {
                    Field::Time => int(e.time_unix_nano()?),
                    Field::Name => Value::str(e.name()?),
                    Field::DroppedAttributesCount => int(e.dropped_attributes_count()?.into()),
                    _ => Value::Nil,
                }
            }
            (NodeKind::Log, f) => {
                let l = LogRecordView::new(b);
                match f {
                    Field::Time => int(l.time_unix_nano()?),
                    Field::ObservedTime => int(l.observed_time_unix_nano()?),
                    Field::SeverityNumber => Value::Int(l.severity_number()?.into()),
                    Field::SeverityText => Value::str(l.severity_text()?),
                    Field::Body => match l.body()? {
                        Some(v) => Value::from_view(v)?,
                        None => Value::Nil,
                    },
                    Field::DroppedAttributesCount => int(l.dropped_attributes_count()?.into()),
                    Field::Flags => int(l.flags()?.into()),
                    Field::TraceId => id(l.trace_id()?, &ZERO_TRACE_ID),
                    Field::SpanId => id(l.span_id()?, &ZERO_SPAN_ID),
                    Field::EventName => Value::str(l.event_name()?),
                    _ => Value::Nil,
                }
            }
            (NodeKind::Metric, f) => {
                let m = MetricView::new(b);
                match f {
                    Field::Name => Value::str(m.name()?),
                    Field::Description => Value::str(m.description()?),
                    Field::Unit => Value::str(m.unit()?),
                    Field::Type => Value::Int(metric_type_number(m.kind()?)),
                    Field::AggregationTemporality => {
                        Value::Int(m.typed_data()?.aggregation_temporality()?.unwrap_or(0).into())
                    }
                    Field::IsMonotonic => Value::Bool(m.typed_data()?.is_monotonic()?.unwrap_or(false)),
                    _ => Value::Nil,
                }
            }
            (NodeKind::DataPoint(k), f) => data_point_field(DataPointView::new(k, b), f)?,
            _ => Value::Nil,
        })
    }

    /// Records a new value for a field. Values of a type the field cannot hold are ignored, as
    /// the Collector's setters ignore them.
    pub(crate) fn set_field(&mut self, f: Field, v: &Value<'_>) -> Result<(), EvalError> {
        let owned = match (f, v) {
            (Field::Body, v) => v.to_owned_value()?,
            (Field::TraceId, Value::Bytes(b)) if b.len() == 16 => OValue::Bytes(b.to_vec()),
            (Field::SpanId | Field::ParentSpanId, Value::Bytes(b)) if b.len() == 8 => OValue::Bytes(b.to_vec()),
            (Field::TraceId | Field::SpanId | Field::ParentSpanId, _) => return Ok(()),
            (
                Field::Name
                | Field::Version
                | Field::TraceState
                | Field::StatusMessage
                | Field::SeverityText
                | Field::EventName
                | Field::Description
                | Field::Unit,
                Value::Str(s),
            ) => OValue::Str(s.to_string()),
            (Field::IsMonotonic, Value::Bool(b)) => OValue::Bool(*b),
            (Field::ValueDouble | Field::Sum, Value::Double(d)) => OValue::Double(*d),
            (Field::ValueDouble | Field::Sum, Value::Int(i)) => OValue::Double(*i as f64),
            (
                Field::DroppedAttributesCount
                | Field::Kind
                | Field::StartTime
                | Field::EndTime
                | Field::DroppedEventsCount
                | Field::DroppedLinksCount
                | Field::StatusCode
                | Field::Flags
                | Field::Time
                | Field::ObservedTime
                | Field::SeverityNumber
                | Field::AggregationTemporality
                | Field::ValueInt
                | Field::Count
                | Field::Scale
                | Field::ZeroCount,
                Value::Int(i) | Value::Time(i),
            ) => OValue::Int(*i),
            _ => return Ok(()),
        };
        // `value_double` and `value_int` are one `oneof`: setting one clears the other.
        if matches!(f, Field::ValueDouble | Field::ValueInt) {
            self.fields.retain(|(k, _)| !matches!(k, Field::ValueDouble | Field::ValueInt));
        }
        self.fields.retain(|(k, _)| *k != f);
        self.fields.push((f, owned));
        Ok(())
    }

    /// The item's bytes with its edits applied (its received bytes when it has none).
    pub fn encode(&self) -> Result<Cow<'a, [u8]>, EvalError> {
        if !self.is_changed() {
            return Ok(Cow::Borrowed(self.bytes));
        }
        let mut out = Vec::with_capacity(self.bytes.len() + 64);
        let attrs_number = self.attributes_number();
        let replaced: Vec<u32> = self.fields.iter().flat_map(|(f, _)| self.numbers(*f)).collect();
        let children_number = self.children_number();
        let children_replaced = self.children.is_some();
        let owned_attrs = matches!(self.attrs, Some(MapEdit::Owned(_)));
        // The data message of a metric is rewritten when its points or its temporality change.
        let data_rewritten = self.kind == NodeKind::Metric
            && (children_replaced
                || self.fields.iter().any(|(f, _)| matches!(f, Field::AggregationTemporality | Field::IsMonotonic)));
        let metric_data = if self.kind == NodeKind::Metric { Some(MetricView::new(self.bytes).data()?) } else { None };
        let data_number = metric_data.map(|(k, _)| metric_data_number(k));
        edit::copy_fields(&mut out, self.bytes, |f| {
            !(replaced.contains(&f.number)
                || (owned_attrs && f.number == attrs_number)
                || (children_replaced && Some(f.number) == children_number)
                || (data_rewritten && Some(f.number) == data_number))
        })?;
        if let Some(MapEdit::Appended { extra, .. }) = &self.attrs {
            encode_key_values(&mut out, attrs_number, extra);
        }
        if let Some(MapEdit::Owned(m)) = &self.attrs {
            encode_key_values(&mut out, attrs_number, m);
        }
        self.encode_fields(&mut out)?;
        if let (Some(children), Some(number), false) = (&self.children, children_number, data_rewritten) {
            for c in children.iter().flatten() {
                edit::write_bytes_field(&mut out, number, &c.encode()?);
            }
        }
        if data_rewritten {
            if let (Some((kind, data)), Some(number)) = (metric_data, data_number) {
                let body = self.encode_metric_data(kind, data)?;
                edit::write_bytes_field(&mut out, number, &body);
            }
        }
        Ok(Cow::Owned(out))
    }

    fn encode_metric_data(&self, kind: MetricKind, data: &[u8]) -> Result<Vec<u8>, EvalError> {
        let mut body = Vec::with_capacity(data.len());
        let temporality = self.field_override(Field::AggregationTemporality);
        let monotonic = self.field_override(Field::IsMonotonic);
        let has_temporality =
            matches!(kind, MetricKind::Sum | MetricKind::Histogram | MetricKind::ExponentialHistogram);
        edit::copy_fields(&mut body, data, |f| {
            !((self.children.is_some() && f.number == proto::DATA_POINTS)
                || (temporality.is_some() && has_temporality && f.number == proto::sum::AGGREGATION_TEMPORALITY)
                || (monotonic.is_some() && kind == MetricKind::Sum && f.number == proto::sum::IS_MONOTONIC))
        })?;
        if let Some(children) = &self.children {
            for c in children.iter().flatten() {
                edit::write_bytes_field(&mut body, proto::DATA_POINTS, &c.encode()?);
            }
        }
        if let (Some(OValue::Int(t)), true) = (temporality, has_temporality) {
            edit::write_varint_field(&mut body, proto::sum::AGGREGATION_TEMPORALITY, *t as u64);
        }
        if let (Some(OValue::Bool(b)), MetricKind::Sum) = (monotonic, kind) {
            edit::write_varint_field(&mut body, proto::sum::IS_MONOTONIC, u64::from(*b));
        }
        Ok(body)
    }

    fn children_number(&self) -> Option<u32> {
        match self.kind {
            NodeKind::Span => Some(proto::span::EVENTS),
            NodeKind::Metric => MetricView::new(self.bytes).data().ok().map(|(k, _)| metric_data_number(k)),
            _ => None,
        }
    }

    /// The received field numbers a replaced field supersedes.
    fn numbers(&self, f: Field) -> Vec<u32> {
        use proto::*;
        match (self.kind, f) {
            (NodeKind::Resource, Field::DroppedAttributesCount) => vec![resource::DROPPED_ATTRIBUTES_COUNT],
            (NodeKind::Scope, Field::Name) => vec![instrumentation_scope::NAME],
            (NodeKind::Scope, Field::Version) => vec![instrumentation_scope::VERSION],
            (NodeKind::Scope, Field::DroppedAttributesCount) => vec![instrumentation_scope::DROPPED_ATTRIBUTES_COUNT],
            (NodeKind::Span, f) => match f {
                Field::TraceId => vec![span::TRACE_ID],
                Field::SpanId => vec![span::SPAN_ID],
                Field::ParentSpanId => vec![span::PARENT_SPAN_ID],
                Field::TraceState => vec![span::TRACE_STATE],
                Field::Name => vec![span::NAME],
                Field::Kind => vec![span::KIND],
                Field::StartTime => vec![span::START_TIME_UNIX_NANO],
                Field::EndTime => vec![span::END_TIME_UNIX_NANO],
                Field::DroppedAttributesCount => vec![span::DROPPED_ATTRIBUTES_COUNT],
                Field::DroppedEventsCount => vec![span::DROPPED_EVENTS_COUNT],
                Field::DroppedLinksCount => vec![span::DROPPED_LINKS_COUNT],
                Field::StatusCode | Field::StatusMessage => vec![span::STATUS],
                Field::Flags => vec![span::FLAGS],
                _ => vec![],
            },
            (NodeKind::SpanEvent, f) => match f {
                Field::Time => vec![event::TIME_UNIX_NANO],
                Field::Name => vec![event::NAME],
                Field::DroppedAttributesCount => vec![event::DROPPED_ATTRIBUTES_COUNT],
                _ => vec![],
            },
            (NodeKind::Log, f) => match f {
                Field::Time => vec![log_record::TIME_UNIX_NANO],
                Field::ObservedTime => vec![log_record::OBSERVED_TIME_UNIX_NANO],
                Field::SeverityNumber => vec![log_record::SEVERITY_NUMBER],
                Field::SeverityText => vec![log_record::SEVERITY_TEXT],
                Field::Body => vec![log_record::BODY],
                Field::DroppedAttributesCount => vec![log_record::DROPPED_ATTRIBUTES_COUNT],
                Field::Flags => vec![log_record::FLAGS],
                Field::TraceId => vec![log_record::TRACE_ID],
                Field::SpanId => vec![log_record::SPAN_ID],
                Field::EventName => vec![log_record::EVENT_NAME],
                _ => vec![],
            },
            (NodeKind::Metric, f) => match f {
                Field::Name => vec![metric::NAME],
                Field::Description => vec![metric::DESCRIPTION],
                Field::Unit => vec![metric::UNIT],
                _ => vec![],
            },
            (NodeKind::DataPoint(k), f) => match (k, f) {
                (_, Field::StartTime) => vec![number_data_point::START_TIME_UNIX_NANO],
                (_, Field::Time) => vec![number_data_point::TIME_UNIX_NANO],
                (MetricKind::Gauge | MetricKind::Sum | MetricKind::Empty, Field::ValueDouble | Field::ValueInt) => {
                    vec![number_data_point::AS_DOUBLE, number_data_point::AS_INT]
                }
                (MetricKind::Gauge | MetricKind::Sum | MetricKind::Empty, Field::Flags) => {
                    vec![number_data_point::FLAGS]
                }
                (MetricKind::Histogram, Field::Flags) => vec![histogram_data_point::FLAGS],
                (MetricKind::Histogram, Field::Count) => vec![histogram_data_point::COUNT],
                (MetricKind::Histogram, Field::Sum) => vec![histogram_data_point::SUM],
                (MetricKind::ExponentialHistogram, Field::Flags) => vec![exponential_histogram_data_point::FLAGS],
                (MetricKind::ExponentialHistogram, Field::Count) => vec![exponential_histogram_data_point::COUNT],
                (MetricKind::ExponentialHistogram, Field::Sum) => vec![exponential_histogram_data_point::SUM],
                (MetricKind::ExponentialHistogram, Field::Scale) => vec![exponential_histogram_data_point::SCALE],
                (MetricKind::ExponentialHistogram, Field::ZeroCount) => {
                    vec![exponential_histogram_data_point::ZERO_COUNT]
                }
                (MetricKind::Summary, Field::Flags) => vec![summary_data_point::FLAGS],
                (MetricKind::Summary, Field::Count) => vec![summary_data_point::COUNT],
                (MetricKind::Summary, Field::Sum) => vec![summary_data_point::SUM],
                _ => vec![],
            },
            _ => vec![],
        }
    }

    fn encode_fields(&self, out: &mut Vec<u8>) -> Result<(), EvalError> {
        use proto::*;
        let int = |v: &OValue| match v {
            OValue::Int(i) => *i,
            _ => 0,
        };
        let text = |v: &OValue| match v {
            OValue::Str(s) => s.as_bytes().to_vec(),
            OValue::Bytes(b) => b.clone(),
            _ => Vec::new(),
        };
        let mut status_done = false;
        for (f, v) in &self.fields {
            let numbers = self.numbers(*f);
            let Some(&number) = numbers.first() else { continue };
            match (self.kind, f) {
                (NodeKind::Span, Field::StatusCode | Field::StatusMessage) => {
                    if status_done {
                        continue;
                    }
                    status_done = true;
                    let received = SpanView::new(self.bytes).status()?.bytes();
                    let code = self.field_override(Field::StatusCode);
                    let message = self.field_override(Field::StatusMessage);
                    let mut st = Vec::new();
                    edit::copy_fields(&mut st, received, |x| {
                        !((code.is_some() && x.number == status::CODE)
                            || (message.is_some() && x.number == status::MESSAGE))
                    })?;
                    if let Some(m) = message {
                        edit::write_bytes_field(&mut st, status::MESSAGE, &text(m));
                    }
                    if let Some(c) = code {
                        edit::write_varint_field(&mut st, status::CODE, int(c) as u64);
                    }
                    edit::write_bytes_field(out, span::STATUS, &st);
                }
                (_, Field::Body) => {
                    let mut any = Vec::new();
                    encode_any_value(&mut any, v);
                    edit::write_bytes_field(out, number, &any);
                }
                (_, Field::TraceId | Field::SpanId | Field::ParentSpanId) => {
                    edit::write_bytes_field(out, number, &text(v))
                }
                (
                    _,
                    Field::Name
                    | Field::Version
                    | Field::TraceState
                    | Field::SeverityText
                    | Field::EventName
                    | Field::Description
                    | Field::Unit,
                ) => edit::write_bytes_field(out, number, &text(v)),
                (NodeKind::Span | NodeKind::Log, Field::Flags) => edit::write_fixed32_field(out, number, int(v) as u32),
                (_, Field::StartTime | Field::EndTime | Field::Time | Field::ObservedTime | Field::Count) => {
                    edit::write_fixed64_field(out, number, int(v) as u64)
                }
                (NodeKind::DataPoint(MetricKind::ExponentialHistogram), Field::ZeroCount) => {
                    edit::write_fixed64_field(out, number, int(v) as u64)
                }
                (NodeKind::DataPoint(MetricKind::ExponentialHistogram), Field::Scale) => {
                    edit::write_varint_field(out, number, weir_core::pdata::wire::encode_zigzag32(int(v) as i32))
                }
                (NodeKind::DataPoint(_), Field::ValueInt) => {
                    edit::write_fixed64_field(out, number_data_point::AS_INT, int(v) as u64)
                }
                (NodeKind::DataPoint(_), Field::ValueDouble | Field::Sum) => {
                    let d = match v {
                        OValue::Double(d) => *d,
                        _ => 0.0,
                    };
                    let number = if *f == Field::ValueDouble { number_data_point::AS_DOUBLE } else { number };
                    edit::write_double_field(out, number, d)
                }
                (_, Field::SeverityNumber | Field::Kind) => edit::write_varint_field(out, number, int(v) as u64),
                _ => edit::write_varint_field(out, number, int(v) as u64),
            }
        }
        Ok(())
    }

    /// The children (events of a span, data points of a metric) as nodes, made on first use.
    pub(crate) fn children_mut(&mut self) -> Result<&mut Vec<Option<Node<'a>>>, EvalError> {
        if self.children.is_none() {
            let mut out = Vec::new();
            match self.kind {
                NodeKind::Span => {
                    for e in SpanView::new(self.bytes).events() {
                        out.push(Some(Node::new(NodeKind::SpanEvent, e?.bytes())));
                    }
                }
                NodeKind::Metric => {
                    let m = MetricView::new(self.bytes);
                    let kind = m.kind()?;
                    for p in m.data_points()? {
                        out.push(Some(Node::new(NodeKind::DataPoint(kind), p?)));
                    }
                }
                _ => {}
            }
            self.children = Some(out);
        }
        Ok(self.children.as_mut().expect("just made"))
    }
}

fn metric_data_number(k: MetricKind) -> u32 {
    match k {
        MetricKind::Gauge | MetricKind::Empty => proto::metric::GAUGE,
        MetricKind::Sum => proto::metric::SUM,
        MetricKind::Histogram => proto::metric::HISTOGRAM,
        MetricKind::ExponentialHistogram => proto::metric::EXPONENTIAL_HISTOGRAM,
        MetricKind::Summary => proto::metric::SUMMARY,
    }
}

/// `metric.type` as the Collector's `pmetric.MetricType` numbers (the `METRIC_DATA_TYPE_*` enums).
pub fn metric_type_number(k: MetricKind) -> i64 {
    match k {
        MetricKind::Empty => 0,
        MetricKind::Gauge => 1,
        MetricKind::Sum => 2,
        MetricKind::Histogram => 3,
        MetricKind::ExponentialHistogram => 4,
        MetricKind::Summary => 5,
    }
}

fn data_point_field<'a>(p: DataPointView<'a>, f: Field) -> Result<Value<'a>, WireError> {
    use weir_core::pdata::views::NumberValue;
    let int = |v: u64| Value::Int(v as i64);
    let opt_double = |v: Option<f64>| v.map_or(Value::Nil, Value::Double);
    Ok(match (p, f) {
        (_, Field::StartTime) => int(p.start_time_unix_nano()?),
        (_, Field::Time) => int(p.time_unix_nano()?),
        (_, Field::Flags) => int(p.flags()?.into()),
        (DataPointView::Number(n), Field::ValueDouble) => match n.value()? {
            Some(NumberValue::Double(d)) => Value::Double(d),
            _ => Value::Double(0.0),
        },
        (DataPointView::Number(n), Field::ValueInt) => match n.value()? {
            Some(NumberValue::Int(i)) => Value::Int(i),
            _ => Value::Int(0),
        },
        (DataPointView::Histogram(h), Field::Count) => int(h.count()?),
        (DataPointView::Histogram(h), Field::Sum) => opt_double(h.sum()?),
        (DataPointView::Histogram(h), Field::BucketCounts) => {
            let mut l = Vec::new();
            for c in h.bucket_counts() {
                l.push(OValue::Int(c? as i64));
            }
            Value::List(crate::value::ListV::Owned(l))
        }
        (DataPointView::Histogram(h), Field::ExplicitBounds) => {
            let mut l = Vec::new();
            for c in h.explicit_bounds() {
                l.push(OValue::Double(c?));
            }
            Value::List(crate::value::ListV::Owned(l))
        }
        (DataPointView::ExponentialHistogram(h), Field::Count) => int(h.count()?),
        (DataPointView::ExponentialHistogram(h), Field::Sum) => opt_double(h.sum()?),
        (DataPointView::ExponentialHistogram(h), Field::Scale) => Value::Int(h.scale()?.into()),
        (DataPointView::ExponentialHistogram(h), Field::ZeroCount) => int(h.zero_count()?),
        (DataPointView::Summary(s), Field::Count) => int(s.count()?),
        (DataPointView::Summary(s), Field::Sum) => Value::Double(s.sum()?),
        _ => Value::Nil,
    })
}

/// Bounds recursion when reading nested received values.
pub(crate) const _DEPTH: usize = MAX_VALUE_DEPTH;
