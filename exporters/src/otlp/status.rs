//! gRPC status → [`Failure`], by the OTLP specification's table.
//!
//! | code | outcome |
//! |---|---|
//! | CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS | retryable |
//! | RESOURCE_EXHAUSTED | retryable only when the server attached `RetryInfo` |
//! | anything else | permanent |
//!
//! A call that failed in the transport (the connection reset or closed mid-call: tonic reports
//! `UNKNOWN "transport error"` with the hyper error as its source) is `UNAVAILABLE`, as grpc-go
//! (the Collector) reports it: the server never answered, so the data is retried.
//!
//! A `google.rpc.RetryInfo` in the status details becomes [`Failure::retry_after`], which the
//! plumbing waits at least before the next attempt.

use std::time::Duration;
use tonic::{Code, Status};
use weir_core::pdata::views::RpcStatusView;
use weir_core::pdata::WireError;
use weir_core::Failure;

/// Classifies a failed call.
pub fn failure_from_status(status: &Status) -> Failure {
    let retry_after = retry_delay(status.details()).ok().flatten();
    let code =
        if status.code() == Code::Unknown && is_transport_failure(status) { Code::Unavailable } else { status.code() };
    let retryable = match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_after.is_some(),
        _ => false,
    };
    let message = format!("rpc error: code = {:?} desc = {}", code, status.message());
    let failure = if retryable { Failure::retryable(message) } else { Failure::permanent(message) };
    match retry_after {
        Some(d) if retryable => failure.with_retry_after(d),
        _ => failure,
    }
}

/// Whether `status` was made by tonic from a transport error (no answer from the server).
fn is_transport_failure(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<hyper::Error>() || e.is::<std::io::Error>() || e.is::<tonic::transport::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The `RetryInfo.retry_delay` in an encoded `google.rpc.Status` (the `grpc-status-details-bin`
/// trailer), if any; a `RetryInfo` without a delay reads as zero (see
/// [`RpcStatusView::retry_delay`]).
pub fn retry_delay(status_details: &[u8]) -> Result<Option<Duration>, WireError> {
    RpcStatusView::new(status_details).retry_delay()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use prost::Message;
    use weir_core::pdata::proto::retry_info::TYPE_URL as RETRY_INFO_TYPE;

    #[derive(Clone, PartialEq, Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<Any>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Any {
        #[prost(string, tag = "1")]
        type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<ProtoDuration>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct ProtoDuration {
        #[prost(int64, tag = "1")]
        seconds: i64,
        #[prost(int32, tag = "2")]
        nanos: i32,
    }

    /// A status as a server sends it, with a `RetryInfo` of `delay` when given (encoded with
    /// prost, independently of the view that reads it).
    pub(crate) fn status_with_retry_info(code: Code, message: &str, delay: Option<Duration>) -> Status {
        let mut details = vec![Any { type_url: "type.googleapis.com/google.rpc.DebugInfo".into(), value: vec![] }];
        if let Some(d) = delay {
            let info = RetryInfo {
                retry_delay: Some(ProtoDuration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }),
            };
            details.push(Any { type_url: RETRY_INFO_TYPE.into(), value: info.encode_to_vec() });
        }
        let body = RpcStatus { code: code as i32, message: message.into(), details };
        Status::with_details(code, message, body.encode_to_vec().into())
    }

    #[test]
    fn a_connection_lost_mid_call_is_unavailable_as_in_grpc_go() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let s = Status::from_error(Box::new(reset));
        let f = failure_from_status(&s);
        assert!(f.retryable, "{}", f.message);
        assert!(f.message.contains("Unavailable"), "{}", f.message);
        // An UNKNOWN the server sent stays permanent.
        assert!(!failure_from_status(&Status::new(Code::Unknown, "transport error")).retryable);
    }

    #[test]
    fn retryable_codes_follow_the_otlp_table() {
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            let f = failure_from_status(&Status::new(code, "x"));
            assert!(f.retryable, "{code:?}");
            assert_eq!(f.retry_after, None);
        }
        for code in [
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::FailedPrecondition,
            Code::Unimplemented,
            Code::Internal,
            Code::Unauthenticated,
        ] {
            assert!(!failure_from_status(&Status::new(code, "x")).retryable, "{code:?}");
        }
    }

    #[test]
    fn resource_exhausted_is_retryable_only_with_retry_info() {
        assert!(!failure_from_status(&Status::new(Code::ResourceExhausted, "too big")).retryable);
        let s = status_with_retry_info(Code::ResourceExhausted, "slow down", Some(Duration::from_secs(3)));
        let f = failure_from_status(&s);
        assert!(f.retryable);
        assert_eq!(f.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn retry_info_delay_becomes_retry_after() {
        let s = status_with_retry_info(Code::Unavailable, "busy", Some(Duration::from_millis(1500)));
        let f = failure_from_status(&s);
        assert_eq!(f.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(f.message, "rpc error: code = Unavailable desc = busy");
    }

    #[test]
    fn other_details_are_not_retry_info() {
        let s = status_with_retry_info(Code::ResourceExhausted, "x", None);
        assert_eq!(retry_delay(s.details()).unwrap(), None);
        assert!(!failure_from_status(&s).retryable);
    }

    #[test]
    fn malformed_details_are_ignored() {
        let s = Status::with_details(Code::Unavailable, "x", vec![0x1a, 0x05, 0x01].into());
        let f = failure_from_status(&s);
        assert!(f.retryable);
        assert_eq!(f.retry_after, None);
    }
}
