//! The `traces` table: one row per span.

use super::columns::*;
use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder, TimestampNanosecondBuilder,
    UInt32Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Fields, Schema, SchemaRef};
use std::sync::{Arc, OnceLock};
use weir_core::pdata::views::{SpanKind, SpanView, StatusCode};
use weir_core::pdata::WireError;

fn event_fields() -> Fields {
    Fields::from(vec![
        field("timestamp", timestamp_type(), false),
        field("name", DataType::Utf8, false),
        field("attributes", attr_map_type(), false),
    ])
}

fn link_fields() -> Fields {
    Fields::from(vec![
        field("trace_id", DataType::Utf8, false),
        field("span_id", DataType::Utf8, false),
        field("trace_state", DataType::Utf8, false),
        field("attributes", attr_map_type(), false),
    ])
}

/// The schema of span files (documented in the exporters README).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                field("timestamp", timestamp_type(), false),
                field("end_timestamp", timestamp_type(), false),
                field("duration_ns", DataType::Int64, false),
                field("trace_id", DataType::Utf8, false),
                field("span_id", DataType::Utf8, false),
                field("parent_span_id", DataType::Utf8, false),
                field("trace_state", DataType::Utf8, false),
                field("flags", DataType::UInt32, false),
                field("span_name", DataType::Utf8, false),
                field("span_kind", DataType::Utf8, false),
                field("service_name", DataType::Utf8, false),
                field("status_code", DataType::Utf8, false),
                field("status_message", DataType::Utf8, false),
                field("sampling_threshold", DataType::Utf8, true),
                field("adjusted_count", DataType::Float64, false),
                field("resource_attributes", attr_map_type(), false),
                field("scope_name", DataType::Utf8, false),
                field("scope_version", DataType::Utf8, false),
                field("span_attributes", attr_map_type(), false),
                field("events", list_type(DataType::Struct(event_fields())), false),
                field("links", list_type(DataType::Struct(link_fields())), false),
            ]))
        })
        .clone()
}

/// Span columns being built from encoded `ExportTraceServiceRequest`s.
pub struct SpanColumns {
    timestamp: TimestampNanosecondBuilder,
    end_timestamp: TimestampNanosecondBuilder,
    duration_ns: Int64Builder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    span_name: StringBuilder,
    span_kind: StringBuilder,
    service_name: StringBuilder,
    status_code: StringBuilder,
    status_message: StringBuilder,
    sampling_threshold: StringBuilder,
    adjusted_count: Float64Builder,
    resource_attributes: AttrMap,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    span_attributes: AttrMap,
    events: ListBuilder<StructBuilder>,
    links: ListBuilder<StructBuilder>,
    scratch: String,
}

impl Default for SpanColumns {
    fn default() -> Self {
        let ts = || TimestampNanosecondBuilder::new().with_timezone(UTC);
        let events = StructBuilder::new(
            event_fields(),
            vec![Box::new(ts()), Box::new(StringBuilder::new()), Box::new(new_attr_map())],
        );
        let links = StructBuilder::new(
            link_fields(),
            vec![
                Box::new(StringBuilder::new()),
                Box::new(StringBuilder::new()),
                Box::new(StringBuilder::new()),
                Box::new(new_attr_map()),
            ],
        );
        SpanColumns {
            timestamp: ts(),
            end_timestamp: ts(),
            duration_ns: Int64Builder::new(),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            parent_span_id: StringBuilder::new(),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::new(),
            span_name: StringBuilder::new(),
            span_kind: StringBuilder::new(),
            service_name: StringBuilder::new(),
            status_code: StringBuilder::new(),
            status_message: StringBuilder::new(),
            sampling_threshold: StringBuilder::new(),
            adjusted_count: Float64Builder::new(),
            resource_attributes: new_attr_map(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            span_attributes: new_attr_map(),
            events: ListBuilder::new(events),
            links: ListBuilder::new(links),
            scratch: String::new(),
        }
    }
}

/// Nanoseconds since the epoch as an Arrow timestamp (saturating past year 2262).
pub fn nanos(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

impl SpanColumns {
    /// Rows so far.
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends every span of an encoded `ExportTraceServiceRequest`; returns how many.
    ///
    /// On a malformed request the columns may hold part of it: drop them.
    pub fn append_request(&mut self, request: &[u8]) -> Result<usize, WireError> {
        let before = self.len();
        for_each_scope_group(self, request, |this, ctx, sg| {
            for span in sg.spans() {
                this.append_span(span?, ctx)?;
            }
            Ok(())
        })?;
        Ok(self.len() - before)
    }

    fn append_span(&mut self, span: SpanView<'_>, ctx: &ScopeContext<'_, '_>) -> Result<(), WireError> {
        let f = span.fields()?;
        self.timestamp.append_value(nanos(f.start_time_unix_nano));
        self.end_timestamp.append_value(nanos(f.end_time_unix_nano));
        self.duration_ns.append_value(nanos(f.end_time_unix_nano.saturating_sub(f.start_time_unix_nano)));
        append_hex(&mut self.trace_id, &mut self.scratch, f.trace_id);
        append_hex(&mut self.span_id, &mut self.scratch, f.span_id);
        append_hex(&mut self.parent_span_id, &mut self.scratch, f.parent_span_id);
        self.trace_state.append_value(f.trace_state);
        self.flags.append_value(f.flags);
        self.span_name.append_value(f.name);
        self.span_kind.append_value(SpanKind::from_i32(f.kind).name());
        self.service_name.append_value(ctx.resource.service);
        self.status_code.append_value(StatusCode::from_i32(f.status_code).name());
        self.status_message.append_value(f.status_message);
        let (th, adjusted) = weir_core::sampling::adjusted_count(f.trace_state);
        self.sampling_threshold.append_option(th);
        self.adjusted_count.append_value(adjusted);
        append_pairs(&mut self.resource_attributes, &ctx.resource.attributes);
        self.scope_name.append_value(ctx.scope_name);
        self.scope_version.append_value(ctx.scope_version);
        append_attrs(&mut self.span_attributes, span.attributes(), &mut self.scratch)?;
        self.append_events_and_links(span)
    }

    /// The events and the links of one span.
    fn append_events_and_links(&mut self, span: SpanView<'_>) -> Result<(), WireError> {
        for event in span.events() {
            let event = event?;
            let s = self.events.values();
            builder::<TimestampNanosecondBuilder>(s, 0).append_value(nanos(event.time_unix_nano()?));
            builder::<StringBuilder>(s, 1).append_value(event.name()?);
            append_attrs(builder::<AttrMap>(s, 2), event.attributes(), &mut self.scratch)?;
            s.append(true);
        }
        for link in span.links() {
            let link = link?;
            let s = self.links.values();
            append_hex(builder::<StringBuilder>(s, 0), &mut self.scratch, link.trace_id()?);
            append_hex(builder::<StringBuilder>(s, 1), &mut self.scratch, link.span_id()?);
            builder::<StringBuilder>(s, 2).append_value(link.trace_state()?);
            append_attrs(builder::<AttrMap>(s, 3), link.attributes(), &mut self.scratch)?;
            s.append(true);
        }
        self.events.append(true);
        self.links.append(true);
        Ok(())
    }

    /// The rows as one record batch of [`schema`]; the columns are empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.end_timestamp.finish()),
            Arc::new(self.duration_ns.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.span_name.finish()),
            Arc::new(self.span_kind.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.sampling_threshold.finish()),
            Arc::new(self.adjusted_count.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.span_attributes.finish()),
            Arc::new(self.events.finish()),
            Arc::new(self.links.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}

/// The builder of field `i` of a struct column, whose builders this module created.
pub(crate) fn builder<T: ArrayBuilder>(s: &mut StructBuilder, i: usize) -> &mut T {
    s.field_builder::<T>(i).expect("struct builders are created with these field types")
}
