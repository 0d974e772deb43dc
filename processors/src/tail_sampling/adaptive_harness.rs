//! The deterministic harness of the `adaptive` policy: a seeded generator of traces (the
//! workload of reference/sampling.md §7, scaled to a unit test), a simulated clock and an
//! oracle that knows the truth (every trace's key, size, error and outlier labels), driving
//! [`Adaptive`] directly. Each test states one property of the issue and fails when it does
//! not hold.
//!
//! Workload: keys Zipf(1.1) over `keys` (service × route) keys of 20 services; Poisson
//! arrivals; trace size lognormal (median 8 spans, σ 0.5, ≤ 200); per key a median latency
//! (5–500 ms) with lognormal spread σ 0.4 and 0.5% of traces 10× slower (the outliers); a
//! per-key error rate averaging 0.5%; uniformly random trace ids.

use super::adaptive::{Adaptive, TraceSummary};
use super::config::AdaptiveConfig;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;
use weir_core::sampling;

/// SplitMix64: small, seedable, good enough for workloads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }
}

struct KeySpec {
    service: String,
    route: String,
    median_ms: f64,
    error_rate: f64,
}

/// One generated trace and the oracle's labels.
struct GenTrace {
    key: usize,
    spans: u32,
    error: bool,
    outlier: bool,
    duration_ns: u64,
    randomness: u64,
    incoming_threshold: Option<u64>,
}

struct Workload {
    rng: Rng,
    keys: Vec<KeySpec>,
    /// Cumulative Zipf weights.
    cdf: Vec<f64>,
    /// Multiplies every key's error rate (an error storm sets it high).
    error_boost: f64,
    outlier_rate: f64,
}

impl Workload {
    fn new(seed: u64, keys: usize) -> Workload {
        let mut rng = Rng(seed);
        let specs: Vec<KeySpec> = (0..keys)
            .map(|k| KeySpec {
                service: format!("svc{}", k % 20),
                route: format!("/route/{k}"),
                median_ms: 5.0 * 100f64.powf(rng.uniform()),
                error_rate: 0.01 * rng.uniform(),
            })
            .collect();
        let mut cdf = Vec::with_capacity(keys);
        let mut sum = 0.0;
        for k in 0..keys {
            sum += 1.0 / ((k + 1) as f64).powf(1.1);
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|c| *c /= sum);
        Workload { rng, keys: specs, cdf, error_boost: 1.0, outlier_rate: 0.005 }
    }

    fn trace(&mut self) -> GenTrace {
        let u = self.rng.uniform();
        let key = self.cdf.partition_point(|c| *c < u).min(self.keys.len() - 1);
        let spans = (8.0 * (0.5 * self.rng.normal()).exp()).round().clamp(1.0, 200.0) as u32;
        let spec = &self.keys[key];
        let error = self.rng.uniform() < (spec.error_rate * self.error_boost).min(1.0);
        let outlier = self.rng.uniform() < self.outlier_rate;
        let mut ms = spec.median_ms * (0.4 * self.rng.normal()).exp();
        if outlier {
            ms *= 10.0;
        }
        GenTrace {
            key,
            spans,
            error,
            outlier,
            duration_ns: (ms * 1e6) as u64,
            randomness: self.rng.next() >> 8,
            incoming_threshold: None,
        }
    }

    fn summary(&self, t: &GenTrace) -> TraceSummary {
        let k = &self.keys[t.key];
        TraceSummary {
            key: vec![k.service.clone(), k.route.clone(), if t.error { "error" } else { "ok" }.to_string()],
            spans: t.spans,
            error: t.error,
            duration_ns: t.duration_ns,
            priority_attribute: false,
            randomness: t.randomness,
            incoming_threshold: t.incoming_threshold,
        }
    }
}

/// Mean spans per trace of the workload (lognormal median 8, σ 0.5, rounded).
const MEAN_SPANS: f64 = 9.06;

fn config(budget: f64, max_keys: usize) -> AdaptiveConfig {
    AdaptiveConfig { target_spans_per_sec: budget, max_keys, ..AdaptiveConfig::default() }
}

/// One decided trace, as the oracle records it.
struct Decided {
    at: f64,
    trace: GenTrace,
    keep: bool,
    threshold: Option<u64>,
    priority: bool,
}

/// Replays `seconds` of traffic at `spans_per_sec(t)` through `policy`, from simulated time
/// 0, calling `each` on every decision.
fn run(
    policy: &mut Adaptive,
    w: &mut Workload,
    t0: Instant,
    seconds: f64,
    spans_per_sec: impl Fn(f64) -> f64,
    mut each: impl FnMut(Decided),
) {
    let mut t = 0.0;
    loop {
        t += w.rng.exponential(MEAN_SPANS / spans_per_sec(t));
        if t >= seconds {
            return;
        }
        let trace = w.trace();
        let v = policy.decide(&w.summary(&trace), t0 + Duration::from_secs_f64(t));
        each(Decided { at: t, trace, keep: v.keep, threshold: v.threshold, priority: v.priority });
    }
}

/// Kept spans per second of simulated time.
fn output_per_second(decided: &[Decided], seconds: usize) -> Vec<f64> {
    let mut out = vec![0.0; seconds];
    for d in decided.iter().filter(|d| d.keep) {
        out[(d.at as usize).min(seconds - 1)] += d.trace.spans as f64;
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn budget_holds_within_5_percent_over_60_s_windows_at_10x_the_input() {
    for seed in 1..=3 {
        let mut policy = Adaptive::new("adaptive", &config(2000.0, 1000)).unwrap();
        let mut w = Workload::new(seed, 200);
        let mut decided = Vec::new();
        run(&mut policy, &mut w, Instant::now(), 190.0, |_| 20_000.0, |d| decided.push(d));
        let out = output_per_second(&decided, 190);
        let tens: Vec<u64> = out.chunks(10).map(|c| mean(c) as u64).collect();
        eprintln!("seed {seed}: kept spans/s per 10 s: {tens:?}");
        for window in [10..70, 70..130, 130..190] {
            let m = mean(&out[window.clone()]);
            assert!((m / 2000.0 - 1.0).abs() <= 0.05, "seed {seed}: {m:.0} spans/s over {window:?} (budget 2000)");
        }
    }
}

#[test]
fn budget_settles_within_10_percent_in_5_s_after_10x_steps_up_and_down() {
    for seed in 1..=3 {
        let mut policy = Adaptive::new("adaptive", &config(2000.0, 1000)).unwrap();
        let mut w = Workload::new(seed, 200);
        let mut decided = Vec::new();
        // 20k spans/s, ×10 at t = 60 s, back ÷10 at t = 100 s.
        let load = |t: f64| if (60.0..100.0).contains(&t) { 200_000.0 } else { 20_000.0 };
        run(&mut policy, &mut w, Instant::now(), 140.0, load, |d| decided.push(d));
        let out = output_per_second(&decided, 140);
        for step in [60, 100] {
            // Settled 5 s after the step: the next two 5 s windows within ±10%, and the rest of
            // the phase within ±5%.
            eprintln!(
                "seed {seed}, step at {step} s: kept spans/s {:?}",
                &out[step - 2..step + 12].iter().map(|v| *v as u64).collect::<Vec<_>>()
            );
            for from in [step + 5, step + 10] {
                let m = mean(&out[from..from + 5]);
                assert!((m / 2000.0 - 1.0).abs() <= 0.10, "seed {seed}: {m:.0} spans/s in [{from}, {}) s", from + 5);
            }
            let m = mean(&out[step + 5..step + 40]);
            assert!((m / 2000.0 - 1.0).abs() <= 0.05, "seed {seed}: {m:.0} spans/s after the step at {step} s");
        }
    }
}

#[test]
fn errors_and_latency_outliers_are_kept_while_they_fit_the_reserved_share() {
    for seed in 1..=3 {
        let mut policy = Adaptive::new("adaptive", &config(2000.0, 1000)).unwrap();
        let mut w = Workload::new(seed, 200);
        let (mut errors, mut errors_kept, mut outliers, mut outliers_kept) = (0, 0, 0, 0);
        run(
            &mut policy,
            &mut w,
            Instant::now(),
            120.0,
            |_| 20_000.0,
            |d| {
                // After 30 s: every key has latency history.
                if d.at < 30.0 {
                    return;
                }
                if d.trace.error {
                    errors += 1;
                    errors_kept += d.keep as u64;
                    assert!(d.priority);
                    assert_eq!(d.threshold, Some(0), "an error trace kept with p = 1 carries th:0");
                } else if d.trace.outlier {
                    outliers += 1;
                    outliers_kept += d.keep as u64;
                }
            },
        );
        assert!(errors > 500, "the workload has errors: {errors}");
        assert_eq!(errors_kept, errors, "seed {seed}: every error trace kept");
        let recall = outliers_kept as f64 / outliers as f64;
        assert!(recall >= 0.99, "seed {seed}: {outliers_kept} of {outliers} latency outliers kept ({recall:.4})");
    }
}

#[test]
fn an_error_storm_beyond_the_reserved_share_is_thinned_consistently_with_th() {
    let mut policy = Adaptive::new("adaptive", &config(2000.0, 1000)).unwrap();
    let mut w = Workload::new(7, 200);
    let t0 = Instant::now();
    let mut decided = Vec::new();
    run(&mut policy, &mut w, t0, 30.0, |_| 20_000.0, |d| decided.push(d));
    // Storm: half of all traces are errors (10,000 error spans/s against a reserved 1,000).
    w.error_boost = 100.0;
    run(
        &mut policy,
        &mut w,
        t0 + Duration::from_secs(30),
        90.0,
        |_| 20_000.0,
        |mut d| {
            d.at += 30.0;
            decided.push(d)
        },
    );
    let storm: Vec<&Decided> = decided.iter().filter(|d| d.at >= 40.0).collect();
    let secs = 80.0;
    let error_spans: f64 = storm.iter().filter(|d| d.trace.error).map(|d| d.trace.spans as f64).sum();
    let kept_error_spans: f64 = storm.iter().filter(|d| d.trace.error && d.keep).map(|d| d.trace.spans as f64).sum();
    let total_kept: f64 = storm.iter().filter(|d| d.keep).map(|d| d.trace.spans as f64).sum();
    assert!(error_spans / secs > 5000.0, "the storm is on: {} error spans/s", error_spans / secs);
    // The reserved share (1,000 spans/s) goes to errors; the budget holds.
    assert!((kept_error_spans / secs / 1000.0 - 1.0).abs() <= 0.10, "{} error spans/s kept", kept_error_spans / secs);
    assert!((total_kept / secs / 2000.0 - 1.0).abs() <= 0.05, "{} spans/s kept", total_kept / secs);
    // Consistent: every kept trace has R ≥ T, with T written; the error count is estimated
    // without bias from the adjusted counts.
    let mut estimate = 0.0;
    for d in storm.iter().filter(|d| d.keep) {
        let th = d.threshold.expect("a kept trace has a threshold");
        assert!(d.trace.randomness >= th);
        if d.trace.error {
            estimate += d.trace.spans as f64 * sampling::MAX_56 as f64 / (sampling::MAX_56 - th) as f64;
        }
    }
    assert!((estimate / error_spans - 1.0).abs() <= 0.03, "error spans estimated {estimate:.0} vs {error_spans}");
}

#[test]
fn every_key_with_traffic_in_a_minute_has_a_kept_trace_in_that_minute() {
    let mut policy = Adaptive::new("adaptive", &config(2000.0, 5000)).unwrap();
    // 2,000 keys: the rarest see a trace every ~10 s.
    let mut w = Workload::new(11, 2000);
    let mut seen: Vec<BTreeMap<usize, bool>> = vec![BTreeMap::new(); 3];
    run(
        &mut policy,
        &mut w,
        Instant::now(),
        180.0,
        |_| 20_000.0,
        |d| {
            let minute = &mut seen[(d.at / 60.0) as usize];
            *minute.entry(d.trace.key).or_default() |= d.keep;
        },
    );
    for (m, keys) in seen.iter().enumerate() {
        let missing: Vec<usize> = keys.iter().filter(|(_, kept)| !**kept).map(|(k, _)| *k).collect();
        assert!(keys.len() > 1500, "minute {m}: {} keys active", keys.len());
        assert!(
            missing.is_empty(),
            "minute {m}: {} of {} keys without a kept trace: {missing:?}",
            missing.len(),
            keys.len()
        );
    }
}

#[test]
fn adjusted_counts_estimate_true_counts_per_service_and_key_without_bias() {
    // Per group: true spans, Σ adjusted counts of kept spans, Horvitz–Thompson variance.
    let mut by_service: HashMap<String, [f64; 3]> = HashMap::new();
    let mut by_key: HashMap<usize, [f64; 3]> = HashMap::new();
    // A budget of half the input, so that ±2% per service is ~3.5 standard errors.
    for seed in 1..=20 {
        let mut policy = Adaptive::new("adaptive", &config(10_000.0, 1000)).unwrap();
        let mut w = Workload::new(100 + seed, 200);
        let services: Vec<String> = w.keys.iter().map(|k| k.service.clone()).collect();
        run(
            &mut policy,
            &mut w,
            Instant::now(),
            60.0,
            |_| 20_000.0,
            |d| {
                let n = d.trace.spans as f64;
                let (est, var) = match (d.keep, d.threshold) {
                    (true, Some(th)) => {
                        let p = (sampling::MAX_56 - th) as f64 / sampling::MAX_56 as f64;
                        (n / p, n * n * (1.0 - p) / (p * p))
                    }
                    _ => (0.0, 0.0),
                };
                for g in [
                    by_service.entry(services[d.trace.key].clone()).or_default(),
                    by_key.entry(d.trace.key).or_default(),
                ] {
                    g[0] += n;
                    g[1] += est;
                    g[2] += var;
                }
            },
        );
    }
    let z = |g: &[f64; 3]| (g[1] - g[0]) / g[2].sqrt().max(1e-9);
    for (service, g) in &by_service {
        eprintln!(
            "{service}: true {:.0}, estimated {:.0} ({:+.2}%), z {:.2}",
            g[0],
            g[1],
            100.0 * (g[1] / g[0] - 1.0),
            z(g)
        );
    }
    for (service, g) in &by_service {
        assert!((g[1] / g[0] - 1.0).abs() <= 0.02, "{service}: estimated {:.0} of {:.0} spans", g[1], g[0]);
        assert!(z(g).abs() <= 3.0, "{service}: z = {:.2}", z(g));
    }
    // Per key (200 keys, some sampled hard): at most 1% beyond |z| 3, none beyond 4.5, and
    // the z-scores centred on 0.
    let zs: Vec<f64> = by_key.values().filter(|g| g[2] > 0.0).map(z).collect();
    let beyond = zs.iter().filter(|z| z.abs() > 3.0).count();
    assert!(zs.len() >= 30, "{} sampled keys", zs.len());
    assert!(beyond as f64 <= 0.01 * zs.len() as f64, "{beyond} of {} keys beyond |z| 3", zs.len());
    assert!(zs.iter().all(|z| z.abs() <= 4.5), "{zs:?}");
    assert!(mean(&zs).abs() <= 3.0 / (zs.len() as f64).sqrt(), "mean z {}", mean(&zs));
    // Keys kept at p = 1 estimate exactly; all keys together within 0.5%.
    let (truth, est) = by_key.values().fold((0.0, 0.0), |(t, e), g| (t + g[0], e + g[1]));
    assert!((est / truth - 1.0).abs() <= 0.005, "total {est:.0} vs {truth:.0}");
}

#[test]
fn two_instances_with_the_same_rate_table_keep_exactly_the_same_traces() {
    let t0 = Instant::now();
    let mut a = Adaptive::new("adaptive", &config(2000.0, 1000)).unwrap();
    let mut b = Adaptive::new("adaptive", &config(2000.0, 1000)).unwrap();
    // Different traffic histories...
    run(&mut a, &mut Workload::new(1, 200), t0, 30.0, |_| 20_000.0, |_| {});
    run(&mut b, &mut Workload::new(2, 200), t0, 30.0, |_| 50_000.0, |_| {});
    assert_ne!(a.rate_table(), b.rate_table());
    // ...then the same table: the same decisions, trace by trace, thresholds included.
    b.set_rate_table(&a.rate_table());
    let mut w = Workload::new(3, 200);
    let now = t0 + Duration::from_millis(29_999);
    let (mut kept, mut n) = (0, 0);
    // (Fewer spans than an interval brings: no adjustment, no burst, in between.)
    for _ in 0..2_000 {
        let trace = w.trace();
        let s = w.summary(&trace);
        let (va, vb) = (a.decide(&s, now), b.decide(&s, now));
        assert_eq!((va.keep, va.threshold, va.priority), (vb.keep, vb.threshold, vb.priority));
        kept += va.keep as u32;
        n += 1;
    }
    assert!(kept > 0 && kept < n, "the table samples: {kept} of {n} kept");
}

#[test]
fn an_incoming_threshold_is_never_lowered() {
    let mut policy = Adaptive::new("adaptive", &config(2000.0, 1000)).unwrap();
    let mut w = Workload::new(5, 20);
    let now = Instant::now();
    // Everything kept at p = 1 (no table yet), unless upstream sampled harder.
    let mut t = w.trace();
    t.error = false;
    t.incoming_threshold = sampling::threshold_for_probability(0.1);
    let th = t.incoming_threshold.unwrap();
    t.randomness = th - 1;
    assert!(!policy.decide(&w.summary(&t), now).keep, "R < incoming T: dropped");
    t.randomness = th;
    let v = policy.decide(&w.summary(&t), now);
    assert!(v.keep);
    assert_eq!(v.threshold, Some(th), "the incoming th:{} stays", sampling::encode_threshold(th));
}

#[test]
fn overflow_keys_share_one_budgeted_key() {
    let mut policy = Adaptive::new("adaptive", &config(2000.0, 50)).unwrap();
    let mut w = Workload::new(9, 2000);
    let mut decided = Vec::new();
    run(&mut policy, &mut w, Instant::now(), 70.0, |_| 20_000.0, |d| decided.push(d));
    let out = output_per_second(&decided, 70);
    let m = mean(&out[10..70]);
    assert!((m / 2000.0 - 1.0).abs() <= 0.05, "{m:.0} spans/s with 2,000 keys over a 50-key table");
    assert!(policy.rate_table().probabilities.contains_key(super::adaptive::OVERFLOW_KEY));
    assert!(policy.rate_table().probabilities.len() <= 50);
}
