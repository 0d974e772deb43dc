//! Fault injection, asked for by the client so that traces contain latency outliers and
//! errors on purpose.
//!
//! - Slow dependency: an HTTP request with header `x-fault-slow-ms: N` (or query parameter
//!   `slow_ms=N`), or a WebSocket message with field `"slow_ms": N`, makes every store operation
//!   it causes wait N ms first (at most [`MAX_SLOW`]), inside the store span.
//! - Error: `GET /fault/error` always fails with 500 and an ERROR span; a WebSocket message
//!   whose `type` is unknown is answered with an error and its span is marked ERROR.
//!
//! The delay travels in a task-local set around the request or message, so store code need not
//! pass it along.

use std::future::Future;
use std::time::Duration;

/// The longest delay a client may ask for.
pub const MAX_SLOW: Duration = Duration::from_secs(10);

/// HTTP header that asks for a slow dependency, in milliseconds.
pub const SLOW_HEADER: &str = "x-fault-slow-ms";

tokio::task_local! {
    static SLOW: Duration;
}

/// Runs `fut` with every store operation in it delayed by `delay` (when given).
pub async fn with_slow_dependency<F: Future>(delay: Option<Duration>, fut: F) -> F::Output {
    match delay {
        Some(d) if !d.is_zero() => SLOW.scope(d.min(MAX_SLOW), fut).await,
        _ => fut.await,
    }
}

/// The delay asked for by the request or message being handled, if any.
pub fn slow_dependency() -> Option<Duration> {
    SLOW.try_with(|d| *d).ok()
}

/// The delay asked for by an HTTP request (header first, then the `slow_ms` query parameter).
pub fn slow_from_request(headers: &http::HeaderMap, query: Option<&str>) -> Option<Duration> {
    let from_header = headers.get(SLOW_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let from_query =
        || query?.split('&').find_map(|kv| kv.strip_prefix("slow_ms=")).and_then(|v| v.parse::<u64>().ok());
    from_header.or_else(from_query).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_delay_is_read_from_header_or_query() {
        let mut h = http::HeaderMap::new();
        assert_eq!(slow_from_request(&h, Some("a=1&slow_ms=250")), Some(Duration::from_millis(250)));
        h.insert(SLOW_HEADER, "40".parse().unwrap());
        assert_eq!(slow_from_request(&h, Some("slow_ms=250")), Some(Duration::from_millis(40)));
        assert_eq!(slow_from_request(&http::HeaderMap::new(), None), None);
    }

    #[tokio::test]
    async fn slow_delay_is_visible_only_inside_its_scope_and_capped() {
        assert_eq!(slow_dependency(), None);
        let inside = with_slow_dependency(Some(Duration::from_secs(60)), async { slow_dependency() }).await;
        assert_eq!(inside, Some(MAX_SLOW));
    }
}
