//! Token-bucket pacing shared by all send workers.
//!
//! The bucket fills at `rate` items per second up to `capacity` items. Taking `n` items always
//! succeeds but may leave the bucket in debt; the caller must then wait until the debt is paid
//! off. Because debt accumulates, concurrent callers are handed successive, evenly spaced
//! send slots, which gives a smooth aggregate rate across workers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket measured in items.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `rate` items/s (must be > 0) holding at most `capacity` items.
    pub fn new(rate: f64, capacity: f64, now: Instant) -> Self {
        let capacity = capacity.max(1.0);
        TokenBucket { rate, capacity, tokens: capacity, last: now }
    }

    /// Take `n` items at time `now`; returns how long to wait before sending them.
    pub fn acquire(&mut self, n: f64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// A pacer usable from many tasks; `None` rate means unlimited.
#[derive(Debug)]
pub struct Pacer {
    bucket: Option<Mutex<TokenBucket>>,
}

impl Pacer {
    /// A pacer for `rate` items/s (0 = unlimited) whose burst is one request of `batch` items.
    pub fn new(rate: f64, batch: usize) -> Self {
        let bucket = (rate > 0.0).then(|| Mutex::new(TokenBucket::new(rate, batch as f64, Instant::now())));
        Pacer { bucket }
    }

    /// How long to wait before sending a request of `items` items.
    pub fn delay(&self, items: u64) -> Duration {
        match &self.bucket {
            None => Duration::ZERO,
            Some(b) => b.lock().unwrap_or_else(|e| e.into_inner()).acquire(items as f64, Instant::now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    #[test]
    fn first_batch_is_free_then_evenly_spaced() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000.0, 100.0, t0);
        assert_eq!(b.acquire(100.0, t0), Duration::ZERO);
        // Four workers asking at the same instant get slots 100, 200, 300, 400 ms out.
        for k in 1..=4 {
            let wait = ms(b.acquire(100.0, t0));
            assert!((wait - 100.0 * k as f64).abs() < 1e-6, "slot {k}: {wait}");
        }
    }

    #[test]
    fn refills_over_time_but_never_above_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000.0, 100.0, t0);
        assert_eq!(b.acquire(100.0, t0), Duration::ZERO);
        // After 50 ms only 50 tokens are back: wait 50 ms more.
        assert!((ms(b.acquire(100.0, t0 + Duration::from_millis(50))) - 50.0).abs() < 1e-6);
        // A long idle period refills only up to capacity: no burst beyond one batch.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.acquire(100.0, later), Duration::ZERO);
        assert!((ms(b.acquire(100.0, later)) - 100.0).abs() < 1e-6);
    }

    #[test]
    fn long_run_rate_matches_target() {
        // Simulate a sender that sends the moment it is allowed to.
        let t0 = Instant::now();
        let mut b = TokenBucket::new(5000.0, 512.0, t0);
        let mut now = t0;
        let mut sent = 0.0;
        while now < t0 + Duration::from_secs(10) {
            now += b.acquire(512.0, now);
            sent += 512.0;
        }
        let rate = sent / (now - t0).as_secs_f64();
        assert!((rate - 5000.0).abs() / 5000.0 < 0.02, "rate {rate}");
    }

    #[test]
    fn unlimited_pacer_never_waits() {
        let p = Pacer::new(0.0, 512);
        for _ in 0..1000 {
            assert_eq!(p.delay(512), Duration::ZERO);
        }
        let p = Pacer::new(1000.0, 10);
        assert_eq!(p.delay(10), Duration::ZERO);
        assert!(p.delay(10) > Duration::from_millis(5));
    }
}
