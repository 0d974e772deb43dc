//! The view of a `LogRecord`.

use super::common::{AnyValueView, Attributes};
use super::{bytes_field, fixed32_field, fixed64_field, optional_bytes, str_of, string_field, varint_field};
use crate::pdata::proto;
use crate::pdata::wire::{Fields, WireError};

/// The fields of a log record, read in one pass (see [`LogRecordView::fields`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRecordFields<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    /// The wire number (see [`super::SeverityNumber`]).
    pub severity_number: i32,
    pub severity_text: &'a str,
    pub body: Option<AnyValueView<'a>>,
    pub flags: u32,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub event_name: &'a str,
    /// The record's attributes, over the byte range from the first to the last of them.
    pub attributes: Attributes<'a>,
}

/// A `LogRecord`.
#[derive(Clone, Copy, Debug)]
pub struct LogRecordView<'a> {
    buf: &'a [u8],
}

impl<'a> LogRecordView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        LogRecordView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads every field but the dropped attributes count in one pass.
    pub fn fields(&self) -> Result<LogRecordFields<'a>, WireError> {
        use proto::log_record::*;
        let mut r = LogRecordFields::default();
        let (mut attributes_start, mut attributes_end) = (0, 0);
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                TIME_UNIX_NANO => r.time_unix_nano = f.fixed64()?,
                SEVERITY_NUMBER => r.severity_number = f.varint()? as i32,
                SEVERITY_TEXT => r.severity_text = str_of(f.bytes()?),
                BODY => r.body = Some(AnyValueView::new(f.bytes()?)),
                ATTRIBUTES => {
                    if attributes_end == 0 {
                        attributes_start = f.start;
                    }
                    attributes_end = f.end;
                }
                FLAGS => r.flags = f.fixed32()?,
                TRACE_ID => r.trace_id = f.bytes()?,
                SPAN_ID => r.span_id = f.bytes()?,
                OBSERVED_TIME_UNIX_NANO => r.observed_time_unix_nano = f.fixed64()?,
                EVENT_NAME => r.event_name = str_of(f.bytes()?),
                _ => {}
            }
        }
        r.attributes = Attributes::new(&self.buf[attributes_start..attributes_end], ATTRIBUTES);
        Ok(r)
    }

    pub fn time_unix_nano(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::log_record::TIME_UNIX_NANO)
    }

    pub fn observed_time_unix_nano(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::log_record::OBSERVED_TIME_UNIX_NANO)
    }

    /// The wire number (see [`super::SeverityNumber`]).
    pub fn severity_number(&self) -> Result<i32, WireError> {
        Ok(varint_field(self.buf, proto::log_record::SEVERITY_NUMBER)? as i32)
    }

    pub fn severity_text(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::log_record::SEVERITY_TEXT)
    }

    /// The body; `None` when the record has none (an empty `AnyValue` is `Some`).
    pub fn body(&self) -> Result<Option<AnyValueView<'a>>, WireError> {
        Ok(optional_bytes(self.buf, proto::log_record::BODY)?.map(AnyValueView::new))
    }

    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::log_record::ATTRIBUTES)
    }

    pub fn dropped_attributes_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::log_record::DROPPED_ATTRIBUTES_COUNT)? as u32)
    }

    /// W3C trace flags in the low 8 bits.
    pub fn flags(&self) -> Result<u32, WireError> {
        fixed32_field(self.buf, proto::log_record::FLAGS)
    }

    pub fn trace_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::log_record::TRACE_ID)
    }

    pub fn span_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::log_record::SPAN_ID)
    }

    pub fn event_name(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::log_record::EVENT_NAME)
    }
}
