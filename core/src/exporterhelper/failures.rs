//! Recent export failures of a running service: what the `health_check` extension's
//! `check_collector_pipeline` reads.
//!
//! Every payload an exporter gives up on — after `retry_on_failure`, the moment it is counted
//! in `otelcol_exporter_send_failed_*` — is recorded with the time it happened. The Collector's
//! health check counted the same event (its `exporter/send_failed_requests` view) within a
//! sliding window; [`ExportFailures::within`] answers that question.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most failures remembered: a window with more than this many is unhealthy for any
/// sensible threshold, and the memory stays bounded however long a backend is down.
pub const MAX_REMEMBERED: usize = 100_000;

/// When recent export failures happened, oldest first; shared by the exporters of one service
/// and the extensions that watch them.
#[derive(Clone, Default)]
pub struct ExportFailures(Arc<Mutex<VecDeque<Instant>>>);

impl ExportFailures {
    /// Records one payload given up on, now.
    pub fn record(&self) {
        self.record_at(Instant::now());
    }

    fn record_at(&self, at: Instant) {
        let mut times = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if times.len() == MAX_REMEMBERED {
            times.pop_front();
        }
        times.push_back(at);
    }

    /// How many failures happened within the last `window`.
    pub fn within(&self, window: Duration) -> usize {
        self.within_at(window, Instant::now())
    }

    fn within_at(&self, window: Duration, now: Instant) -> usize {
        let times = self.0.lock().unwrap_or_else(|e| e.into_inner());
        times.iter().rev().take_while(|t| now.saturating_duration_since(**t) < window).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_within_the_window_count() {
        let f = ExportFailures::default();
        let t0 = Instant::now();
        f.record_at(t0);
        f.record_at(t0 + Duration::from_secs(10));
        f.record_at(t0 + Duration::from_secs(20));
        let now = t0 + Duration::from_secs(25);
        assert_eq!(f.within_at(Duration::from_secs(6), now), 1);
        assert_eq!(f.within_at(Duration::from_secs(16), now), 2);
        assert_eq!(f.within_at(Duration::from_secs(60), now), 3);
        assert_eq!(f.clone().within_at(Duration::from_secs(60), now), 3, "clones share the record");
    }

    #[test]
    fn memory_is_bounded() {
        let f = ExportFailures::default();
        let t0 = Instant::now();
        for _ in 0..MAX_REMEMBERED + 10 {
            f.record_at(t0);
        }
        assert_eq!(f.within_at(Duration::from_secs(1), t0), MAX_REMEMBERED);
    }
}
