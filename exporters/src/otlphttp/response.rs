//! HTTP response → [`Failure`], by the OTLP specification's rules.
//!
//! - 429, 502, 503, 504 are retryable; a `Retry-After` header (delay-seconds or an HTTP-date)
//!   becomes [`Failure::retry_after`], which the plumbing waits at least before retrying.
//! - Every other 4xx and 5xx (and a redirect, which is not followed) is permanent.
//! - The failure message carries a short excerpt of the error body: the `message` of a
//!   `google.rpc.Status` (protobuf or JSON), else the start of the text.

use http::StatusCode;
use std::time::{Duration, SystemTime};
use weir_core::pdata::views::RpcStatusView;
use weir_core::Failure;

/// How much of an error body is read, as the Collector does.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// How many characters of an error body go into the failure message.
const EXCERPT_CHARS: usize = 256;

/// Whether the OTLP specification says a response with `status` may succeed if sent again.
pub fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// Parses a `Retry-After` value: delay-seconds, or an HTTP-date (a date in the past is no
/// wait). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The failure for a non-2xx response.
pub fn failure_from_response(status: StatusCode, retry_after: Option<Duration>, detail: &str) -> Failure {
    let message = if detail.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {detail}") };
    if !is_retryable(status) {
        return Failure::permanent(message);
    }
    match retry_after {
        Some(d) => Failure::retryable(message).with_retry_after(d),
        None => Failure::retryable(message),
    }
}

/// A short, single-line description of an error body.
pub fn error_detail(content_type: Option<&str>, body: &[u8]) -> String {
    let content_type = content_type.unwrap_or_default();
    let message =
        if content_type.starts_with("application/x-protobuf") || content_type.starts_with("application/protobuf") {
            status_message_protobuf(body)
        } else if content_type.starts_with("application/json") {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        } else {
            None
        };
    let text = message.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    excerpt(&text)
}

/// `google.rpc.Status.message` of an encoded status.
fn status_message_protobuf(body: &[u8]) -> Option<String> {
    let message = RpcStatusView::new(body).message_bytes().ok()?;
    // An absent message reads as empty; the body's text is the better detail then.
    (!message.is_empty()).then(|| String::from_utf8_lossy(message).into_owned())
}

fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_the_otlp_four() {
        for code in [429, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 405, 413, 415, 500, 501, 505] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
        // The obsolete forms HTTP/1.1 still requires recipients to accept.
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:57 1994", now), Some(Duration::from_secs(20)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO), "in the past");
    }

    #[test]
    fn retry_after_is_kept_only_for_retryable_statuses() {
        let f = failure_from_response(StatusCode::SERVICE_UNAVAILABLE, Some(Duration::from_secs(2)), "busy");
        assert!(f.retryable);
        assert_eq!(f.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(f.message, "HTTP 503 Service Unavailable: busy");
        let f = failure_from_response(StatusCode::BAD_REQUEST, Some(Duration::from_secs(2)), "");
        assert!(!f.retryable);
        assert_eq!(f.retry_after, None);
        assert_eq!(f.message, "HTTP 400 Bad Request");
    }

    #[test]
    fn error_detail_reads_rpc_status_messages() {
        // google.rpc.Status { code: 3, message: "bad span" }
        let mut body = vec![0x08, 0x03, 0x12, 0x08];
        body.extend_from_slice(b"bad span");
        assert_eq!(error_detail(Some("application/x-protobuf"), &body), "bad span");
        let json = br#"{"code":3,"message":"bad json span"}"#;
        assert_eq!(error_detail(Some("application/json; charset=utf-8"), json), "bad json span");
        assert_eq!(error_detail(Some("text/plain"), b"  upstream\n  timeout "), "upstream timeout");
    }

    #[test]
    fn error_detail_is_short() {
        let body = "x".repeat(10_000);
        let d = error_detail(None, body.as_bytes());
        assert_eq!(d.chars().count(), EXCERPT_CHARS + 1);
        assert!(d.ends_with('…'));
    }
}
