//! Views of what an OTLP server answers: the `Export*ServiceResponse` (its partial success) and
//! the `google.rpc.Status` of a failed call (gRPC's `grpc-status-details-bin` trailer, or the
//! body of an OTLP/HTTP error), with the `RetryInfo` that says how long to wait.

use super::{bytes_field, string_field, varint_field, Children};
use crate::pdata::proto;
use crate::pdata::wire::{Fields, WireError};
use std::time::Duration;

/// An `Export{Trace,Logs,Metrics}ServiceResponse` (the three are numbered alike).
#[derive(Clone, Copy, Debug)]
pub struct ExportResponseView<'a> {
    buf: &'a [u8],
}

impl<'a> ExportResponseView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ExportResponseView { buf }
    }

    /// The partial success, when the server sent one (present but empty means full success
    /// too; see [`PartialSuccessView::is_empty`]).
    pub fn partial_success(&self) -> Result<Option<PartialSuccessView<'a>>, WireError> {
        Ok(super::optional_bytes(self.buf, proto::export_response::PARTIAL_SUCCESS)?.map(PartialSuccessView::new))
    }
}

/// An `Export{Trace,Logs,Metrics}PartialSuccess`.
#[derive(Clone, Copy, Debug)]
pub struct PartialSuccessView<'a> {
    buf: &'a [u8],
}

impl<'a> PartialSuccessView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        PartialSuccessView { buf }
    }

    /// The spans, log records or data points the server rejected.
    pub fn rejected(&self) -> Result<i64, WireError> {
        Ok(varint_field(self.buf, proto::export_partial_success::REJECTED)? as i64)
    }

    pub fn error_message(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::export_partial_success::ERROR_MESSAGE)
    }

    pub fn error_message_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::export_partial_success::ERROR_MESSAGE)
    }

    /// Whether it says nothing (no rejections, no message): a full success.
    pub fn is_empty(&self) -> Result<bool, WireError> {
        Ok(self.rejected()? == 0 && self.error_message_bytes()?.is_empty())
    }
}

/// A `google.rpc.Status`.
#[derive(Clone, Copy, Debug)]
pub struct RpcStatusView<'a> {
    buf: &'a [u8],
}

impl<'a> RpcStatusView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        RpcStatusView { buf }
    }

    /// The gRPC status code.
    pub fn code(&self) -> Result<i32, WireError> {
        Ok(varint_field(self.buf, proto::rpc_status::CODE)? as i32)
    }

    pub fn message(&self) -> Result<&'a str, WireError> {
        string_field(self.buf, proto::rpc_status::MESSAGE)
    }

    pub fn message_bytes(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::rpc_status::MESSAGE)
    }

    /// The details, each a `google.protobuf.Any`.
    pub fn details(&self) -> Children<'a, ProtoAnyView<'a>> {
        Children::new(self.buf, proto::rpc_status::DETAILS, ProtoAnyView::new)
    }

    /// The first `RetryInfo` among the details, if any.
    pub fn retry_info(&self) -> Result<Option<RetryInfoView<'a>>, WireError> {
        for detail in self.details() {
            let detail = detail?;
            if detail.type_url()? == proto::retry_info::TYPE_URL.as_bytes() {
                return Ok(Some(RetryInfoView::new(detail.value()?)));
            }
        }
        Ok(None)
    }

    /// How long the server asks the client to wait before retrying: the `retry_delay` of the
    /// first `RetryInfo` detail. A `RetryInfo` without a delay still says "retry": it reads as
    /// no minimum wait (zero). `None` when there is no `RetryInfo`.
    pub fn retry_delay(&self) -> Result<Option<Duration>, WireError> {
        match self.retry_info()? {
            Some(info) => Ok(Some(info.retry_delay()?.unwrap_or(Duration::ZERO))),
            None => Ok(None),
        }
    }
}

/// A `google.protobuf.Any`: a type URL and the encoded message.
#[derive(Clone, Copy, Debug)]
pub struct ProtoAnyView<'a> {
    buf: &'a [u8],
}

impl<'a> ProtoAnyView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        ProtoAnyView { buf }
    }

    /// The type URL, as bytes (compare it with a known one).
    pub fn type_url(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::any::TYPE_URL)
    }

    /// The encoded message.
    pub fn value(&self) -> Result<&'a [u8], WireError> {
        bytes_field(self.buf, proto::any::VALUE)
    }
}

/// A `google.rpc.RetryInfo`.
#[derive(Clone, Copy, Debug)]
pub struct RetryInfoView<'a> {
    buf: &'a [u8],
}

impl<'a> RetryInfoView<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        RetryInfoView { buf }
    }

    /// The delay, when present; a negative `google.protobuf.Duration` reads as zero.
    pub fn retry_delay(&self) -> Result<Option<Duration>, WireError> {
        super::optional_bytes(self.buf, proto::retry_info::RETRY_DELAY)?.map(duration).transpose()
    }
}

/// Decodes a `google.protobuf.Duration`; negative values read as zero, nanoseconds beyond a
/// second as 999 999 999.
fn duration(buf: &[u8]) -> Result<Duration, WireError> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    for f in Fields::new(buf) {
        let f = f?;
        match f.number {
            proto::duration::SECONDS => seconds = f.varint()? as i64,
            proto::duration::NANOS => nanos = f.varint()? as i32,
            _ => {}
        }
    }
    if seconds < 0 || nanos < 0 {
        return Ok(Duration::ZERO);
    }
    Ok(Duration::new(seconds as u64, nanos.min(999_999_999) as u32))
}
