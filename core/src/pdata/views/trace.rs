//! Views of a `Span` and what it holds: events, links, status.

use super::common::Attributes;
use super::{
    bytes_field, fixed32_field, fixed64_field, str_of, string_field, varint_field, Children, SpanKind, StatusCode,
};
use crate::pdata::proto;
use crate::pdata::wire::{Fields, WireError};

/// The fields of a span a sampler or exporter reads for every span, read in one pass (see
/// [`SpanView::fields`]). Enumerations are wire numbers (see [`SpanKind::from_i32`]).
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
    /// The span's attributes, over the byte range from the first to the last of them, so that
    /// a lookup skips the other fields.
    pub attributes: Attributes<'a>,
}

/// A `Span`.
#[derive(Clone, Copy, Debug)]
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

    /// Reads the scalar fields, the status and where the attributes are, in one pass over the
    /// span's bytes. A status that occurs more than once is merged, as protobuf says.
    pub fn fields(&self) -> Result<SpanFields<'a>, WireError> {
        use proto::span::*;
        let mut s = SpanFields::default();
        let (mut attributes_start, mut attributes_end) = (0, 0);
        for f in Fields::new(self.buf) {
            let f = f?;
            match f.number {
                TRACE_ID => s.trace_id = f.bytes()?,
                SPAN_ID => s.span_id = f.bytes()?,
                TRACE_STATE => s.trace_state = str_of(f.bytes()?),
                PARENT_SPAN_ID => s.parent_span_id = f.bytes()?,
                NAME => s.name = str_of(f.bytes()?),
                KIND => s.kind = f.varint()? as i32,
                START_TIME_UNIX_NANO => s.start_time_unix_nano = f.fixed64()?,
                END_TIME_UNIX_NANO => s.end_time_unix_nano = f.fixed64()?,
                ATTRIBUTES => {
                    if attributes_end == 0 {
                        attributes_start = f.start;
                    }
                    attributes_end = f.end;
                }
                STATUS => {
                    for sf in Fields::new(f.bytes()?) {
                        let sf = sf?;
                        match sf.number {
                            proto::status::MESSAGE => s.status_message = str_of(sf.bytes()?),
                            proto::status::CODE => s.status_code = sf.varint()? as i32,
                            _ => {}
                        }
                    }
                }
                FLAGS => s.flags = f.fixed32()?,
                _ => {}
            }
        }
        s.attributes = Attributes::new(&self.buf[attributes_start..attributes_end], ATTRIBUTES);
        Ok(s)
    }

    pub fn trace_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::span::TRACE_ID)
    }

    pub fn span_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::span::SPAN_ID)
    }

    /// The W3C `tracestate`.
    pub fn trace_state(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::span::TRACE_STATE)
    }

    pub fn parent_span_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::span::PARENT_SPAN_ID)
    }

    /// W3C trace flags in the low 8 bits; bits 8 and 9 say whether the parent is remote.
    pub fn flags(&self) -> Result<u32, WireError> {
        fixed32_field(self.buf, proto::span::FLAGS)
    }

    pub fn name(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::span::NAME)
    }

    pub fn kind(&self) -> Result<SpanKind, WireError> {
        Ok(SpanKind::from_i32(varint_field(self.buf, proto::span::KIND)? as i32))
    }

    pub fn start_time_unix_nano(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::span::START_TIME_UNIX_NANO)
    }

    pub fn end_time_unix_nano(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::span::END_TIME_UNIX_NANO)
    }

    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::span::ATTRIBUTES)
    }

    pub fn dropped_attributes_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::span::DROPPED_ATTRIBUTES_COUNT)? as u32)
    }

    pub fn events(&self) -> Children<'a, EventView<'a>> {
        Children::new(self.buf, proto::span::EVENTS, EventView::new)
    }

    pub fn dropped_events_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::span::DROPPED_EVENTS_COUNT)? as u32)
    }

    pub fn links(&self) -> Children<'a, LinkView<'a>> {
        Children::new(self.buf, proto::span::LINKS, LinkView::new)
    }

    pub fn dropped_links_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::span::DROPPED_LINKS_COUNT)? as u32)
    }

    /// The status; an absent status reads as `Unset` with no message.
    pub fn status(&self) -> Result<StatusView<'a>, WireError> {
        Ok(StatusView::new(bytes_field(self.buf, proto::span::STATUS)?))
    }

    pub fn status_code(&self) -> Result<StatusCode, WireError> {
        Ok(StatusCode::from_i32(self.fields()?.status_code))
    }

    /// Number of events and links, for debug output and sizing.
    pub fn event_and_link_counts(&self) -> Result<(usize, usize), WireError> {
        let (mut e, mut l) = (0, 0);
        for f in Fields::new(self.buf) {
            match f?.number {
                proto::span::EVENTS => e += 1,
                proto::span::LINKS => l += 1,
                _ => {}
            }
        }
        Ok((e, l))
    }
}

/// A span's `Status`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatusView<'a> {
    buf: &'a [u8],
}

impl<'a> StatusView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        StatusView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The code as its wire number (see [`StatusCode::from_i32`]).
    pub fn code(&self) -> Result<i32, WireError> {
        Ok(varint_field(self.buf, proto::status::CODE)? as i32)
    }

    pub fn message(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::status::MESSAGE)
    }

    pub fn message_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::status::MESSAGE)
    }
}

/// A `Span.Event`.
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    buf: &'a [u8],
}

impl<'a> EventView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        EventView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn time_unix_nano(&self) -> Result<u64, WireError> {
        fixed64_field(self.buf, proto::event::TIME_UNIX_NANO)
    }

    pub fn name(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::event::NAME)
    }

    pub fn name_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::event::NAME)
    }

    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::event::ATTRIBUTES)
    }

    pub fn dropped_attributes_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::event::DROPPED_ATTRIBUTES_COUNT)? as u32)
    }
}

/// A `Span.Link`.
#[derive(Clone, Copy, Debug)]
pub struct LinkView<'a> {
    buf: &'a [u8],
}

impl<'a> LinkView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        LinkView { buf }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn trace_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::link::TRACE_ID)
    }

    pub fn span_id(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::link::SPAN_ID)
    }

    pub fn trace_state(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::link::TRACE_STATE)
    }

    pub fn trace_state_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::link::TRACE_STATE)
    }

    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.buf, proto::link::ATTRIBUTES)
    }

    pub fn dropped_attributes_count(&self) -> Result<u32, WireError> {
        Ok(varint_field(self.buf, proto::link::DROPPED_ATTRIBUTES_COUNT)? as u32)
    }

    /// W3C trace flags of the linked span, and whether it is remote (bits 8 and 9).
    pub fn flags(&self) -> Result<u32, WireError> {
        fixed32_field(self.buf, proto::link::FLAGS)
    }
}
