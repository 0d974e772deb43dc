//! The `logs` table: one row per log record.

use super::columns::*;
use super::spans::nanos;
use arrow_array::builder::{ArrayBuilder, Int32Builder, StringBuilder, TimestampNanosecondBuilder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};
use std::sync::{Arc, OnceLock};
use weir_core::pdata::views::{AnyValue, LogRecordView};
use weir_core::pdata::WireError;

/// The schema of log files (documented in the exporters README).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                field("timestamp", timestamp_type(), false),
                field("observed_timestamp", timestamp_type(), false),
                field("trace_id", DataType::Utf8, false),
                field("span_id", DataType::Utf8, false),
                field("flags", DataType::UInt32, false),
                field("severity_text", DataType::Utf8, false),
                field("severity_number", DataType::Int32, false),
                field("service_name", DataType::Utf8, false),
                field("body", DataType::Utf8, true),
                field("resource_attributes", attr_map_type(), false),
                field("scope_name", DataType::Utf8, false),
                field("scope_version", DataType::Utf8, false),
                field("log_attributes", attr_map_type(), false),
                field("event_name", DataType::Utf8, false),
            ]))
        })
        .clone()
}

/// Log columns being built from encoded `ExportLogsServiceRequest`s.
pub struct LogColumns {
    timestamp: TimestampNanosecondBuilder,
    observed_timestamp: TimestampNanosecondBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    flags: UInt32Builder,
    severity_text: StringBuilder,
    severity_number: Int32Builder,
    service_name: StringBuilder,
    body: StringBuilder,
    resource_attributes: AttrMap,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    log_attributes: AttrMap,
    event_name: StringBuilder,
    scratch: String,
}

impl Default for LogColumns {
    fn default() -> Self {
        let ts = || TimestampNanosecondBuilder::new().with_timezone(UTC);
        LogColumns {
            timestamp: ts(),
            observed_timestamp: ts(),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            flags: UInt32Builder::new(),
            severity_text: StringBuilder::new(),
            severity_number: Int32Builder::new(),
            service_name: StringBuilder::new(),
            body: StringBuilder::new(),
            resource_attributes: new_attr_map(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            log_attributes: new_attr_map(),
            event_name: StringBuilder::new(),
            scratch: String::new(),
        }
    }
}

impl LogColumns {
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends every record of an encoded `ExportLogsServiceRequest`; returns how many.
    pub fn append_request(&mut self, request: &[u8]) -> Result<usize, WireError> {
        let before = self.len();
        for_each_scope_group(self, request, |this, ctx, sg| {
            for record in sg.log_records() {
                this.append_record(record?, ctx)?;
            }
            Ok(())
        })?;
        Ok(self.len() - before)
    }

    fn append_record(&mut self, record: LogRecordView<'_>, ctx: &ScopeContext<'_, '_>) -> Result<(), WireError> {
        let f = record.fields()?;
        // As the Collector's ClickHouse exporter: no event time means the observed one.
        let time = if f.time_unix_nano != 0 { f.time_unix_nano } else { f.observed_time_unix_nano };
        self.timestamp.append_value(nanos(time));
        self.observed_timestamp.append_value(nanos(f.observed_time_unix_nano));
        append_hex(&mut self.trace_id, &mut self.scratch, f.trace_id);
        append_hex(&mut self.span_id, &mut self.scratch, f.span_id);
        self.flags.append_value(f.flags);
        self.severity_text.append_value(f.severity_text);
        self.severity_number.append_value(f.severity_number);
        self.service_name.append_value(ctx.resource.service);
        match f.body {
            None => self.body.append_null(),
            Some(body) => match body.get()? {
                AnyValue::String(s) => self.body.append_value(s),
                _ => {
                    self.scratch.clear();
                    write_json(&mut self.scratch, body)?;
                    self.body.append_value(&self.scratch);
                }
            },
        }
        append_pairs(&mut self.resource_attributes, &ctx.resource.attributes);
        self.scope_name.append_value(ctx.scope_name);
        self.scope_version.append_value(ctx.scope_version);
        append_attrs(&mut self.log_attributes, record.attributes(), &mut self.scratch)?;
        self.event_name.append_value(f.event_name);
        Ok(())
    }

    /// The rows as one record batch of [`schema`]; the columns are empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.observed_timestamp.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.log_attributes.finish()),
            Arc::new(self.event_name.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}
