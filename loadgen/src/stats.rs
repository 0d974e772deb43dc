//! Counters and latency histograms for a run, progress lines and the final summary.

use std::sync::Mutex;
use std::time::Duration;

use crate::generate::Meta;

/// Sub-bucket precision: values are kept with 6 significant bits (≤ 1.6 % error).
const PRECISION_BITS: u32 = 6;
const LINEAR: u64 = 1 << (PRECISION_BITS + 1);

/// A log-linear histogram of microsecond values (HDR-histogram style, fixed memory).
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram { counts: vec![0; Self::index(u64::MAX) + 1], total: 0, max: 0 }
    }

    fn index(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - PRECISION_BITS;
        let mantissa = (v >> shift) - (1 << PRECISION_BITS); // 0..64
        (LINEAR + (u64::from(msb) - u64::from(PRECISION_BITS + 1)) * (1 << PRECISION_BITS) + mantissa) as usize
    }

    /// Upper bound of the values falling into bucket `i`.
    fn value_at(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i;
        }
        let j = i - LINEAR;
        let msb = j / (1 << PRECISION_BITS) + u64::from(PRECISION_BITS + 1);
        let mantissa = j % (1 << PRECISION_BITS) + (1 << PRECISION_BITS);
        let shift = msb - u64::from(PRECISION_BITS);
        let upper = (u128::from(mantissa + 1) << shift) - 1;
        upper.min(u128::from(u64::MAX)) as u64
    }

    /// Record one value in microseconds.
    pub fn record(&mut self, micros: u64) {
        self.counts[Self::index(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest recorded value (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The `q`-quantile (0..=1) in microseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value_at(i).min(self.max);
            }
        }
        self.max
    }

    /// Forget everything.
    pub fn reset(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.max = 0;
    }
}

/// Everything counted during a run.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Items acknowledged by the receiver (minus any it reported as rejected).
    pub items: u64,
    /// Requests acknowledged.
    pub requests: u64,
    /// Retryable rejections (each one was retried or, after the last retry, failed).
    pub refused: u64,
    /// Requests that failed permanently.
    pub failed: u64,
    /// Items in permanently failed requests.
    pub failed_items: u64,
    /// Items the receiver reported as rejected in a partial-success response.
    pub rejected_items: u64,
    /// Error traces in acknowledged requests.
    pub error_traces: u64,
    /// Slow traces in acknowledged requests.
    pub slow_traces: u64,
    /// Request body bytes acknowledged (as sent, i.e. after compression).
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct Inner {
    total: Counters,
    latency: Histogram,
    interval: Counters,
    interval_latency: Histogram,
    last_error: Option<String>,
}

/// Thread-safe run statistics.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<Inner>,
}

/// Counters of one reporting interval.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Counters since the previous interval.
    pub counters: Counters,
    /// Median request latency in the interval.
    pub p50: Duration,
    /// 99th percentile request latency in the interval.
    pub p99: Duration,
    /// Cumulative refused count.
    pub total_refused: u64,
    /// Cumulative failed count.
    pub total_failed: u64,
}

impl Stats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An acknowledged request.
    pub fn success(&self, meta: &Meta, rejected: u64, bytes: usize, latency: Duration) {
        let micros = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        let mut guard = self.lock();
        let g = &mut *guard;
        for c in [&mut g.total, &mut g.interval] {
            c.items += meta.items.saturating_sub(rejected);
            c.rejected_items += rejected.min(meta.items);
            c.requests += 1;
            c.error_traces += meta.error_traces;
            c.slow_traces += meta.slow_traces;
            c.bytes += bytes as u64;
        }
        g.latency.record(micros);
        g.interval_latency.record(micros);
    }

    /// A retryable rejection.
    pub fn refused(&self, reason: &str) {
        let mut g = self.lock();
        g.total.refused += 1;
        g.interval.refused += 1;
        g.last_error = Some(reason.to_string());
    }

    /// A request that failed permanently.
    pub fn failed(&self, meta: &Meta, reason: &str) {
        let mut guard = self.lock();
        let g = &mut *guard;
        for c in [&mut g.total, &mut g.interval] {
            c.failed += 1;
            c.failed_items += meta.items;
        }
        g.last_error = Some(reason.to_string());
    }

    /// Take the counters of the interval that just ended.
    pub fn take_interval(&self) -> Interval {
        let mut g = self.lock();
        let counters = std::mem::take(&mut g.interval);
        let p50 = Duration::from_micros(g.interval_latency.quantile(0.5));
        let p99 = Duration::from_micros(g.interval_latency.quantile(0.99));
        g.interval_latency.reset();
        Interval { counters, p50, p99, total_refused: g.total.refused, total_failed: g.total.failed }
    }

    /// Snapshot of the cumulative counters, latency histogram and last error.
    pub fn snapshot(&self) -> (Counters, Histogram, Option<String>) {
        let g = self.lock();
        (g.total.clone(), g.latency.clone(), g.last_error.clone())
    }
}

/// The final report of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Cumulative counters.
    pub counters: Counters,
    /// Sending time (after pool generation).
    pub elapsed: Duration,
    /// Latency percentiles, in milliseconds: p50, p90, p99, max.
    pub latency_ms: [f64; 4],
    /// Last error seen, if any.
    pub last_error: Option<String>,
}

impl Summary {
    /// Build the summary from the final statistics.
    pub fn new(stats: &Stats, elapsed: Duration) -> Self {
        let (counters, h, last_error) = stats.snapshot();
        let ms = |us: u64| us as f64 / 1e3;
        let latency_ms = [ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)), ms(h.max())];
        Summary { counters, elapsed, latency_ms, last_error }
    }

    /// Acknowledged items per second of sending time.
    pub fn items_per_s(&self) -> f64 {
        per_s(self.counters.items, self.elapsed)
    }

    /// One JSON object with the stable keys scripts rely on (plus a few extras).
    pub fn to_json(&self, context: serde_json::Value) -> serde_json::Value {
        let c = &self.counters;
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let mut v = serde_json::json!({
            "items": c.items,
            "requests": c.requests,
            "refused": c.refused,
            "failed": c.failed,
            "failed_items": c.failed_items,
            "rejected_items": c.rejected_items,
            "elapsed_s": round(self.elapsed.as_secs_f64()),
            "items_per_s": round(self.items_per_s()),
            "requests_per_s": round(per_s(c.requests, self.elapsed)),
            "bytes": c.bytes,
            "p50_ms": round(self.latency_ms[0]),
            "p90_ms": round(self.latency_ms[1]),
            "p99_ms": round(self.latency_ms[2]),
            "max_ms": round(self.latency_ms[3]),
            "error_traces": c.error_traces,
            "slow_traces": c.slow_traces,
            "last_error": self.last_error,
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), context) {
            obj.extend(extra);
        }
        v
    }

    /// Human-readable multi-line summary.
    pub fn to_text(&self, title: &str) -> String {
        let c = &self.counters;
        let [p50, p90, p99, max] = self.latency_ms;
        let mut s = format!(
            "{title}\n  items (acknowledged): {}\n  requests:             {}\n  refused (retried):    {}\n  failed:               {} ({} items)\n",
            c.items, c.requests, c.refused, c.failed, c.failed_items
        );
        if c.rejected_items > 0 {
            s += &format!("  rejected items:       {} (partial success)\n", c.rejected_items);
        }
        s += &format!(
            "  elapsed:              {:.2} s\n  throughput:           {:.0} items/s, {:.1} requests/s, {:.2} MiB/s\n  latency:              p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms\n  error traces:         {}\n  slow traces:          {}\n",
            self.elapsed.as_secs_f64(),
            self.items_per_s(),
            per_s(c.requests, self.elapsed),
            per_s(c.bytes, self.elapsed) / (1024.0 * 1024.0),
            c.error_traces,
            c.slow_traces
        );
        if let Some(e) = &self.last_error {
            s += &format!("  last error:           {e}\n");
        }
        s
    }
}

fn per_s(n: u64, d: Duration) -> f64 {
    let secs = d.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// One progress line for an interval of length `dt` ending `at` after the start.
pub fn progress_line(at: Duration, dt: Duration, i: &Interval) -> String {
    format!(
        "[{:>7.1}s] {:>10.0} items/s {:>8.1} req/s  refused {:<6} failed {:<6} p50 {:>8.2} ms  p99 {:>8.2} ms",
        at.as_secs_f64(),
        per_s(i.counters.items, dt),
        per_s(i.counters.requests, dt),
        i.total_refused,
        i.total_failed,
        i.p50.as_secs_f64() * 1e3,
        i.p99.as_secs_f64() * 1e3,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_monotonic_and_precise() {
        let mut prev = 0;
        for v in (0..2_000_000u64).step_by(997).chain([u64::MAX / 2, u64::MAX]) {
            let i = Histogram::index(v);
            assert!(i >= prev, "index decreases at {v}");
            prev = i;
            let upper = Histogram::value_at(i);
            assert!(upper >= v, "bucket upper bound {upper} < {v}");
            assert!((upper - v) as f64 <= v as f64 / 60.0 + 1.0, "imprecise at {v}: {upper}");
        }
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let within = |got: u64, want: f64| (got as f64 - want).abs() / want < 0.02;
        assert!(within(h.quantile(0.5), 5000.0), "{}", h.quantile(0.5));
        assert!(within(h.quantile(0.99), 9900.0), "{}", h.quantile(0.99));
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.max(), 10_000);
        assert_eq!(h.count(), 10_000);
        h.reset();
        assert_eq!(h.count(), 0);
    }

    #[test]
    fn stats_count_and_summarise() {
        let s = Stats::default();
        let meta = Meta { items: 100, traces: 10, error_traces: 2, slow_traces: 1 };
        s.success(&meta, 0, 1000, Duration::from_millis(2));
        s.success(&meta, 5, 1000, Duration::from_millis(4));
        s.refused("unavailable");
        s.failed(&meta, "bad request");
        let i = s.take_interval();
        assert_eq!(i.counters.requests, 2);
        assert_eq!(s.take_interval().counters.requests, 0);
        let sum = Summary::new(&s, Duration::from_secs(2));
        let v = sum.to_json(serde_json::json!({"protocol": "grpc"}));
        assert_eq!(v["items"], 195);
        assert_eq!(v["requests"], 2);
        assert_eq!(v["refused"], 1);
        assert_eq!(v["failed"], 1);
        assert_eq!(v["rejected_items"], 5);
        assert_eq!(v["error_traces"], 4);
        assert_eq!(v["slow_traces"], 2);
        assert_eq!(v["items_per_s"], 97.5);
        assert_eq!(v["protocol"], "grpc");
        assert!(v["p99_ms"].as_f64().unwrap() >= 3.9);
        assert!(sum.to_text("t").contains("items (acknowledged): 195"));
    }
}
