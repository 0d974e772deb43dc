//! Refusals and how each transport reports them.
//!
//! [`ExportError`] says why a request was not accepted, whatever the transport; this module maps
//! it to a gRPC status and to an HTTP status with a `google.rpc.Status` body, following the
//! Collector (`internal/errors`) and the OTLP specification:
//!
//! | cause                                  | gRPC                    | HTTP  |
//! |----------------------------------------|-------------------------|-------|
//! | unreadable request (protobuf, JSON, …) | `INVALID_ARGUMENT`      | 400   |
//! | larger than the configured limit       | `RESOURCE_EXHAUSTED`    | 413   |
//! | retryable pipeline or export failure   | `UNAVAILABLE`           | 503   |
//! | permanent pipeline or export failure   | `INTERNAL`              | 500   |
//!
//! A retryable failure with a delay carries a `google.rpc.RetryInfo` detail, and over HTTP a
//! `Retry-After` header in whole seconds. The `google.rpc` messages are small enough to write by
//! hand with `prost` rather than pulling in a crate for them.

use prost::Message;
use std::time::Duration;
use tonic::Code;
use weir_core::Failure;

/// Why an export request was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ExportError {
    /// The request could not be read: malformed protobuf or JSON, corrupt compression, an
    /// unsupported encoding.
    #[error("{0}")]
    BadRequest(String),
    /// The request is larger than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The pipeline refused the data, or an exporter failed to deliver it (`wait_for_result`).
    #[error("{0}")]
    Refused(Failure),
}

impl ExportError {
    /// The gRPC status code.
    pub(crate) fn grpc_code(&self) -> Code {
        match self {
            ExportError::BadRequest(_) => Code::InvalidArgument,
            ExportError::TooLarge(_) => Code::ResourceExhausted,
            ExportError::Refused(f) if f.retryable => Code::Unavailable,
            ExportError::Refused(_) => Code::Internal,
        }
    }

    /// The HTTP status: the Collector's gRPC → HTTP mapping, except that an oversized request
    /// is 413 as the OTLP specification asks (the Collector answers 400).
    pub(crate) fn http_status(&self) -> http::StatusCode {
        match self {
            ExportError::BadRequest(_) => http::StatusCode::BAD_REQUEST,
            ExportError::TooLarge(_) => http::StatusCode::PAYLOAD_TOO_LARGE,
            ExportError::Refused(f) if f.retryable => http::StatusCode::SERVICE_UNAVAILABLE,
            ExportError::Refused(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How long the client should wait before retrying, when known (retryable failures only).
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            ExportError::Refused(f) if f.retryable => f.retry_after,
            _ => None,
        }
    }

    /// The `google.rpc.Status` describing this error.
    pub(crate) fn rpc_status(&self) -> RpcStatus {
        let details = self.retry_after().map(RetryInfo::any).into_iter().collect();
        RpcStatus { code: self.grpc_code() as i32, message: self.to_string(), details }
    }

    /// The gRPC status, with the `google.rpc.Status` in `grpc-status-details-bin` when there is
    /// a detail to carry.
    pub(crate) fn to_grpc(&self) -> tonic::Status {
        let status = self.rpc_status();
        if status.details.is_empty() {
            tonic::Status::new(self.grpc_code(), status.message)
        } else {
            let details = status.encode_to_vec().into();
            tonic::Status::with_details(self.grpc_code(), status.message, details)
        }
    }

    /// The `google.rpc.Status` as OTLP/JSON: `{"code": …, "message": …, "details": [...]}`.
    pub(crate) fn to_json(&self) -> String {
        let mut body = serde_json::json!({ "code": self.grpc_code() as i32, "message": self.to_string() });
        if let Some(delay) = self.retry_after() {
            body["details"] = serde_json::json!([{
                "@type": RETRY_INFO_TYPE_URL,
                "retryDelay": format!("{}s", delay.as_secs_f64()),
            }]);
        }
        body.to_string()
    }
}

/// `Retry-After` value for a delay: whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl RetryInfo {
    /// A `RetryInfo` asking to wait `delay`, packed in an `Any`.
    fn any(delay: Duration) -> Any {
        let retry_delay = ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            // Always below 1e9, so it fits.
            nanos: delay.subsec_nanos() as i32,
        };
        let info = RetryInfo { retry_delay: Some(retry_delay) };
        Any { type_url: RETRY_INFO_TYPE_URL.into(), value: info.encode_to_vec() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_collector() {
        let bad = ExportError::BadRequest("x".into());
        assert_eq!((bad.grpc_code(), bad.http_status().as_u16()), (Code::InvalidArgument, 400));
        let big = ExportError::TooLarge("x".into());
        assert_eq!((big.grpc_code(), big.http_status().as_u16()), (Code::ResourceExhausted, 413));
        let retry = ExportError::Refused(Failure::retryable("x"));
        assert_eq!((retry.grpc_code(), retry.http_status().as_u16()), (Code::Unavailable, 503));
        let perm = ExportError::Refused(Failure::permanent("x"));
        assert_eq!((perm.grpc_code(), perm.http_status().as_u16()), (Code::Internal, 500));
    }

    #[test]
    fn retry_delay_travels_as_retry_info() {
        let e = ExportError::Refused(Failure::retryable("pipeline full").with_retry_after(Duration::from_millis(1500)));
        let status = e.to_grpc();
        assert_eq!(status.code(), Code::Unavailable);
        let decoded = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(decoded.message, "pipeline full");
        assert_eq!(decoded.details[0].type_url, RETRY_INFO_TYPE_URL);
        let info = RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay, Some(ProtoDuration { seconds: 1, nanos: 500_000_000 }));
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["code"], 14);
        assert_eq!(json["details"][0]["retryDelay"], "1.5s");
    }

    #[test]
    fn permanent_failures_carry_no_retry_delay() {
        let e = ExportError::Refused(Failure::permanent("bad").with_retry_after(Duration::from_secs(1)));
        assert_eq!(e.retry_after(), None);
        assert!(e.to_grpc().details().is_empty());
    }

    #[test]
    fn retry_after_header_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
