//! The `adaptive` policy: hold an output budget (spans per second), keep what matters first,
//! keep every key represented, and keep counts right.
//!
//! # Algorithm
//!
//! Every decided trace has a **key** (its `key_fields` values, e.g. service, root span name,
//! status class) and is either a **priority** trace (an ERROR span, a duration above its key's
//! streaming latency quantile, or the priority attribute) or a normal one. Its spans are
//! counted, at decision time, into its key's current interval: one count for normal traffic
//! and one for priority traffic.
//!
//! Every `adjustment_interval` (1 s) the counts become rates: per key and stratum, spans per
//! second as an exponential moving average (`ema_weight` on the newest interval, 0.1 by
//! default), which is a running mean while the policy is younger than the average's memory.
//! A key first seen starts from zero (its absence before was counted too, so a rare key is
//! not taken at the rate of the interval it happened to appear in). A steady average matters:
//! noisy rates bias the output upwards (p = b / ĉ, and E[1/ĉ] > 1/c). When an interval's total
//! differs from the averaged total by more than 10% and four standard deviations of its count
//! noise, the load changed: the averages restart as running means from that interval, so a
//! 10× step is followed at once and the estimates steady again within a few intervals. An
//! interval that has brought twice the spans a whole one is expected to (after at least a
//! tenth of it) is cut short and the table recomputed at once, so a burst is over budget for
//! a fraction of an interval, not a whole one.
//! From the rates, the **rate table**:
//!
//! 1. Priority traffic gets up to `reserved_share × budget`: error traces (and the priority
//!    attribute) first, latency outliers from what errors leave. If a stratum's total rate
//!    fits, every trace of it is kept (p = 1); otherwise its share is water-filled over its
//!    rates per key (below), so errors are never thinned to make room for slow traces.
//! 2. Normal traffic gets the rest: `budget − priority use`, water-filled over the keys'
//!    normal rates.
//!
//! **Water-filling** with weights w_k = max(1, log10 c_k): find λ with Σ_k min(c_k, λ·w_k) =
//! budget; key k keeps with p_k = min(1, λ·w_k / c_k). Keys below the water line keep
//! everything (rare keys are always represented); frequent keys share the cut, each keeping
//! λ·w_k spans/s, so a key with 100× the traffic keeps only a couple of times more. Solved
//! exactly by sorting keys by c_k / w_k: no ordering artifacts, probabilities are real
//! numbers (no integer sample rates), and the expected output is the budget.
//!
//! A **slow global correction** m multiplies the budget used for the table: the ratio of the
//! output the tables predicted (Σ p × spans counted, per interval, with the probabilities in
//! force) to the output measured (spans kept, late spans included), both as ~10 s moving
//! averages, within [0.5, 2]. It removes what the rate model misses — late spans, coverage
//! keeps, traces that arrive already sampled upstream (kept less often than p says) — while a
//! change of the input rate moves prediction and measurement together and leaves it alone, so
//! steps in load are followed by the rates, not wound into the correction.
//!
//! **Coverage**: time is cut into windows of `coverage_interval` (60 s); a key with no kept
//! trace yet in the current window keeps its next trace with p = 1 (`th:0`), so every key with
//! traffic is represented in every window even when its share of the water is a fraction of
//! a trace. (A key with ≥ 1 trace/s starts its windows at an offset in the first half, from a
//! hash of the key, so that these keeps are spread out rather than bursting at the start.) These keeps count
//! against the budget through the correction below (they are output the table did not
//! predict). They depend on the instance's own history, so two instances agree on them only
//! if they share that state too (it is part of the [`RateTable`] in tests); a fleet that
//! routes each trace to one instance (the Kafka two-tier topology) is unaffected.
//!
//! A key not yet in the table keeps with p = 1 until the next adjustment (its traffic is
//! counted, so a flood of new keys is charged at the next interval). When `max_keys` keys
//! are tracked, further keys share the key `(overflow)`, budgeted like any other. Keys idle
//! for 300 intervals are forgotten.
//!
//! # Decision
//!
//! Keep iff R ≥ max(T(p), T_in): R is the trace's randomness (`ot=rv`, or the low 56 bits of
//! the trace id), T(p) the threshold of the key's probability (4 significant hex digits, as
//! every weir computes it), T_in the threshold the trace arrived with (equalizing: an upstream
//! stage's stricter threshold is never lowered). The threshold is written as `ot=th` on every
//! kept span (`th:0` for p = 1), so the adjusted count 1/p of every kept span is exact and
//! sums of adjusted counts estimate true counts without bias (Horvitz–Thompson). The decision
//! is a pure function of the trace and the rate table: two instances with the same table keep
//! the same traces.
//!
//! Priority is decided before R is looked at, and the rate table only from earlier traces, so
//! p does not depend on R: the estimate stays unbiased under any traffic.
//!
//! # Latency quantiles
//!
//! Per key, a histogram of trace durations on a log scale (8 buckets per doubling from 1 µs,
//! 200 buckets, ~9% wide), decayed by 0.99 every interval (a ~100 s memory). At each
//! adjustment the quantile's bucket is found and its upper edge becomes the key's threshold;
//! a trace is a latency outlier if it is longer. The threshold applies once the key has 20
//! traces' weight in its histogram, and keeps at least 5 traces' weight above it (with little
//! history, a lower quantile: the slowest trace, maybe an outlier itself, does not set it).

use super::config::{AdaptiveConfig, PriorityAttributeConfig};
use metrics::Gauge;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use weir_core::sampling;

/// The key of traces beyond `max_keys`.
pub(crate) const OVERFLOW_KEY: &str = "(overflow)";
/// The value of a key field a trace does not have.
pub(crate) const MISSING: &str = "<missing>";
/// Intervals a key may be idle before it is forgotten.
const IDLE_INTERVALS: u32 = 300;
/// Latency histogram: buckets per doubling, bucket count, decay per interval.
const SUB_BUCKETS: f64 = 8.0;
const LATENCY_BUCKETS: usize = 200;
const LATENCY_DECAY: f32 = 0.99;
/// Strata of traffic: normal, latency outliers, errors and the priority attribute. Each key has
/// a rate and a probability per stratum.
const STRATA: usize = 3;
const NORMAL: usize = 0;
const SLOW: usize = 1;
const URGENT: usize = 2;
/// The relative change of the total input (beyond its noise) that restarts the averages.
const STEP_CHANGE: f64 = 0.10;
/// An interval that has brought this many times its expected spans is cut short.
const BURST: f64 = 2.0;
/// Global correction: bounds, and the weight of the newest interval in the moving averages of
/// predicted and measured output.
const CORRECTION_BOUNDS: (f64, f64) = (0.5, 2.0);
const OUTPUT_WEIGHT: f64 = 0.1;

/// One of `key_fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyField {
    Resource(String),
    Root(String),
    Span(String),
    RootName,
    RootKind,
    StatusClass,
}

impl KeyField {
    pub(crate) fn parse(s: &str) -> Result<KeyField, String> {
        let attr = |prefix: &str| s.strip_prefix(prefix).filter(|a| !a.is_empty()).map(str::to_string);
        Ok(match s {
            "root.name" => KeyField::RootName,
            "root.kind" => KeyField::RootKind,
            "status_class" => KeyField::StatusClass,
            _ => {
                if let Some(a) = attr("resource.") {
                    KeyField::Resource(a)
                } else if let Some(a) = attr("root.") {
                    KeyField::Root(a)
                } else if let Some(a) = attr("span.") {
                    KeyField::Span(a)
                } else {
                    return Err(format!(
                        "unknown field {s:?}; use resource.<attribute>, root.<attribute>, span.<attribute>, \
                         root.name, root.kind or status_class"
                    ));
                }
            }
        })
    }
}

/// What the policy needs to know about a trace, read by the caller from its spans.
#[derive(Debug, Clone)]
pub struct TraceSummary {
    /// The values of `key_fields`, in order.
    pub key: Vec<String>,
    pub spans: u32,
    pub error: bool,
    pub duration_ns: u64,
    /// The priority attribute is present (with one of its values).
    pub priority_attribute: bool,
    pub randomness: u64,
    /// The largest `ot=th` a span of the trace arrived with.
    pub incoming_threshold: Option<u64>,
}

/// The policy's verdict on one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub keep: bool,
    /// The threshold to write on kept spans (`max(T(p), T_in)`); `None` when p = 0.
    pub threshold: Option<u64>,
    pub priority: bool,
    pub key: String,
    pub probability: f64,
}

/// A per-key decaying log-scale histogram of durations.
struct LatencySketch {
    buckets: Box<[f32; LATENCY_BUCKETS]>,
    total: f32,
    /// Durations above this (ns) are outliers; `None` until enough weight.
    threshold_ns: Option<u64>,
}

impl LatencySketch {
    fn new() -> Self {
        LatencySketch { buckets: Box::new([0.0; LATENCY_BUCKETS]), total: 0.0, threshold_ns: None }
    }

    fn bucket(ns: u64) -> usize {
        let us = ns as f64 / 1000.0;
        if us <= 1.0 {
            return 0;
        }
        ((us.log2() * SUB_BUCKETS) as usize).min(LATENCY_BUCKETS - 1)
    }

    /// The upper edge of bucket `b`, in ns.
    fn upper_edge(b: usize) -> u64 {
        (1000.0 * ((b + 1) as f64 / SUB_BUCKETS).exp2()) as u64
    }

    fn record(&mut self, ns: u64) {
        self.buckets[Self::bucket(ns)] += 1.0;
        self.total += 1.0;
    }

    fn decay_and_update(&mut self, quantile: f64) {
        let min_weight = 20.0;
        self.threshold_ns = None;
        if quantile > 0.0 && self.total >= min_weight {
            // Keep at least 5 traces' weight above the threshold: with little history the
            // quantile would be the single slowest trace, often an outlier that would hide
            // the next one.
            let above = ((1.0 - quantile) as f32 * self.total).max(5.0);
            let mut cum = 0.0;
            for b in (0..LATENCY_BUCKETS).rev() {
                cum += self.buckets[b];
                if cum > above {
                    self.threshold_ns = Some(Self::upper_edge(b));
                    break;
                }
            }
        }
        for v in self.buckets.iter_mut() {
            *v *= LATENCY_DECAY;
        }
        self.total *= LATENCY_DECAY;
    }
}

/// One key's counts, rates and probabilities, per stratum ([`NORMAL`], [`SLOW`], [`URGENT`]).
struct KeyState {
    /// Spans counted in the current interval.
    counts: [f64; STRATA],
    /// Spans per second; `None` before the key's first adjustment.
    rates: [Option<f64>; STRATA],
    /// Traces counted in the current interval, and traces per second.
    traces: f64,
    trace_rate: f64,
    probabilities: [f64; STRATA],
    latency: LatencySketch,
    idle: u32,
    /// When a trace of the key was last kept.
    last_kept: Option<Instant>,
}

impl KeyState {
    fn new() -> Self {
        KeyState {
            counts: [0.0; STRATA],
            rates: [None; STRATA],
            traces: 0.0,
            trace_rate: 0.0,
            probabilities: [1.0; STRATA],
            latency: LatencySketch::new(),
            idle: 0,
            last_kept: None,
        }
    }
}

/// The rate table: what decisions depend on, besides the trace.
#[cfg(test)]
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RateTable {
    /// Per key: the probability per stratum. Keys absent keep with probability 1.
    pub(crate) probabilities: HashMap<String, [f64; STRATA]>,
    /// Per key: the latency-outlier threshold (ns), where known.
    pub(crate) latency_thresholds: HashMap<String, u64>,
    /// Per key: when a trace of it was last kept, and its traces per second (coverage).
    pub(crate) last_kept: HashMap<String, Instant>,
    pub(crate) trace_rates: HashMap<String, f64>,
    /// The start of the coverage windows.
    pub(crate) epoch: Option<Instant>,
}

/// Cumulative statistics per key (for `weir simulate` and tests).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyStats {
    pub traces_in: u64,
    pub spans_in: u64,
    pub traces_kept: u64,
    pub spans_kept: u64,
    pub errors_in: u64,
    pub errors_kept: u64,
    pub priority_in: u64,
    pub priority_kept: u64,
    /// Σ over kept traces of spans × adjusted count (1/p): estimates `spans_in`.
    pub spans_estimate: f64,
    /// Σ over kept traces of spans² × (1 − p)/p²: the Horvitz–Thompson variance estimate.
    pub spans_variance: f64,
}

struct AdaptiveMetrics {
    budget: Gauge,
    output: Gauge,
    input: Gauge,
    priority_share_used: Gauge,
    correction: Gauge,
    keys: Gauge,
    policy: String,
    max_series: usize,
    /// Keys that have a probability series.
    series: HashMap<String, Gauge>,
}

/// The state of one `adaptive` policy.
pub struct Adaptive {
    budget: f64,
    interval: Duration,
    ema_weight: f64,
    max_keys: usize,
    reserved_share: f64,
    coverage: Option<Duration>,
    latency_quantile: f64,
    errors_are_priority: bool,
    priority_attribute: Option<PriorityAttributeConfig>,
    pub(crate) fields: Vec<KeyField>,
    keys: HashMap<String, KeyState>,
    next_adjust: Option<Instant>,
    correction: f64,
    /// Adjustments since the start or the last change of load.
    age: u64,
    /// When the policy decided its first trace (coverage windows count from it).
    epoch: Option<Instant>,
    /// Spans decided in the current interval, and the spans an interval is expected to bring
    /// (burst detection).
    interval_spans: f64,
    expected_per_interval: f64,
    /// Spans kept in the current interval (late spans included), and their moving average
    /// (per second).
    kept_now: f64,
    output_rate: Option<f64>,
    /// The moving average of the output the tables predicted (per second).
    predicted_rate: Option<f64>,
    metrics: AdaptiveMetrics,
    /// Cumulative per-key statistics, when asked for (`weir simulate`).
    stats: Option<HashMap<String, KeyStats>>,
}

impl Adaptive {
    pub fn new(policy: &str, c: &AdaptiveConfig) -> Result<Adaptive, String> {
        let fields = c.key_fields.iter().map(|f| KeyField::parse(f)).collect::<Result<Vec<_>, _>>()?;
        let labels = [("policy", policy.to_string())];
        let g = |name: &str| metrics::gauge!(format!("otelcol_processor_tail_sampling_adaptive_{name}"), &labels);
        let metrics = AdaptiveMetrics {
            budget: g("budget_spans_per_second"),
            output: g("output_spans_per_second"),
            input: g("input_spans_per_second"),
            priority_share_used: g("priority_share_used"),
            correction: g("correction"),
            keys: g("keys"),
            policy: policy.to_string(),
            max_series: c.metrics_max_keys,
            series: HashMap::new(),
        };
        metrics.budget.set(c.target_spans_per_sec);
        Ok(Adaptive {
            budget: c.target_spans_per_sec,
            interval: c.adjustment_interval,
            ema_weight: c.ema_weight,
            max_keys: c.max_keys,
            reserved_share: c.priority.reserved_share,
            coverage: (!c.coverage_interval.is_zero()).then_some(c.coverage_interval),
            latency_quantile: c.priority.latency_quantile,
            errors_are_priority: c.priority.errors,
            priority_attribute: c.priority.attribute.clone(),
            fields,
            keys: HashMap::new(),
            next_adjust: None,
            correction: 1.0,
            age: 0,
            epoch: None,
            interval_spans: 0.0,
            expected_per_interval: f64::INFINITY,
            kept_now: 0.0,
            output_rate: None,
            predicted_rate: None,
            metrics,
            stats: None,
        })
    }

    /// The policy's name.
    pub(crate) fn name(&self) -> &str {
        &self.metrics.policy
    }

    pub(crate) fn priority_attribute(&self) -> Option<&PriorityAttributeConfig> {
        self.priority_attribute.as_ref()
    }

    pub(crate) fn keeps_late_errors(&self) -> bool {
        self.errors_are_priority
    }

    /// Starts collecting cumulative per-key statistics.
    pub(crate) fn collect_stats(&mut self) {
        self.stats.get_or_insert_with(HashMap::new);
    }

    pub(crate) fn stats(&self) -> Option<&HashMap<String, KeyStats>> {
        self.stats.as_ref()
    }

    /// Spans kept outside a decision (late spans of kept traces, late error spans): they
    /// count against the budget.
    pub(crate) fn note_late_kept(&mut self, spans: usize) {
        self.kept_now += spans as f64;
    }

    /// The current rate table.
    #[cfg(test)]
    pub(crate) fn rate_table(&self) -> RateTable {
        RateTable {
            probabilities: self.keys.iter().map(|(k, s)| (k.clone(), s.probabilities)).collect(),
            latency_thresholds: self
                .keys
                .iter()
                .filter_map(|(k, s)| s.latency.threshold_ns.map(|t| (k.clone(), t)))
                .collect(),
            last_kept: self.keys.iter().filter_map(|(k, s)| s.last_kept.map(|t| (k.clone(), t))).collect(),
            trace_rates: self.keys.iter().map(|(k, s)| (k.clone(), s.trace_rate)).collect(),
            epoch: self.epoch,
        }
    }

    /// Replaces the probabilities and latency thresholds with `table`'s (keys it lacks are
    /// forgotten). The seam for sharing one table between instances.
    #[cfg(test)]
    pub(crate) fn set_rate_table(&mut self, table: &RateTable) {
        self.keys.retain(|k, _| table.probabilities.contains_key(k));
        self.epoch = table.epoch;
        for (k, p) in &table.probabilities {
            let s = self.keys.entry(k.clone()).or_insert_with(KeyState::new);
            s.probabilities = *p;
            s.latency.threshold_ns = table.latency_thresholds.get(k).copied();
            s.last_kept = table.last_kept.get(k).copied();
            s.trace_rate = table.trace_rates.get(k).copied().unwrap_or(0.0);
        }
    }

    /// Decides a trace at `now`.
    pub fn decide(&mut self, t: &TraceSummary, now: Instant) -> Verdict {
        self.advance(now);
        let mut key = t.key.join(" • ");
        if !self.keys.contains_key(&key) {
            // The last slot is the overflow key's.
            if self.keys.len() >= self.max_keys.saturating_sub(1) {
                key = OVERFLOW_KEY.to_string();
            }
            self.keys.entry(key.clone()).or_insert_with(KeyState::new);
        }
        let state = self.keys.get_mut(&key).expect("inserted above");
        let outlier = state.latency.threshold_ns.is_some_and(|th| t.duration_ns > th);
        let stratum = if (self.errors_are_priority && t.error) || t.priority_attribute {
            URGENT
        } else if outlier {
            SLOW
        } else {
            NORMAL
        };
        let priority = stratum != NORMAL;
        let epoch = *self.epoch.get_or_insert(now);
        let uncovered = self.coverage.is_some_and(|c| {
            // Windows of `coverage_interval` from the epoch. A key with at least one trace a
            // second starts its window at an offset (from a hash of the key) in the window's
            // first half, which spreads these keeps over time instead of bursting at each
            // window's start; rarer keys start at the window's start.
            let window = c.as_secs_f64();
            let offset = if state.trace_rate >= 1.0 { key_offset(&key) * window / 2.0 } else { 0.0 };
            let since = now.duration_since(epoch).as_secs_f64();
            let start = epoch + Duration::from_secs_f64(((since - offset) / window).floor().max(0.0) * window + offset);
            since >= offset && state.last_kept.is_none_or(|t| t < start)
        });
        let p = if uncovered { 1.0 } else { state.probabilities[stratum] };
        let threshold = sampling::threshold_for_probability(p).map(|th| th.max(t.incoming_threshold.unwrap_or(0)));
        let keep = threshold.is_some_and(|th| t.randomness >= th);
        // Counted after the decision, which therefore depends only on earlier traffic.
        state.counts[stratum] += t.spans as f64;
        state.traces += 1.0;
        self.interval_spans += t.spans as f64;
        state.idle = 0;
        if self.latency_quantile > 0.0 {
            state.latency.record(t.duration_ns);
        }
        if keep {
            self.kept_now += t.spans as f64;
            state.last_kept = Some(now);
        }
        if let Some(stats) = &mut self.stats {
            let s = stats.entry(key.clone()).or_default();
            let n = t.spans as u64;
            s.traces_in += 1;
            s.spans_in += n;
            s.errors_in += t.error as u64;
            s.priority_in += priority as u64;
            if keep {
                let th = threshold.unwrap_or(0);
                let q = (sampling::MAX_56 - th) as f64 / sampling::MAX_56 as f64;
                s.traces_kept += 1;
                s.spans_kept += n;
                s.errors_kept += t.error as u64;
                s.priority_kept += priority as u64;
                s.spans_estimate += n as f64 / q;
                s.spans_variance += (n as f64).powi(2) * (1.0 - q) / (q * q);
            }
        }
        Verdict { keep, threshold, priority, key, probability: p }
    }

    /// Runs the adjustments due by `now`.
    fn advance(&mut self, now: Instant) {
        let next = *self.next_adjust.get_or_insert(now + self.interval);
        if now < next {
            // A burst: more than twice a whole interval's expected spans already, after at
            // least a tenth of it. Adjust now on what has been seen.
            let elapsed = self.interval.saturating_sub(next.saturating_duration_since(now));
            if self.interval_spans > BURST * self.expected_per_interval && elapsed * 10 >= self.interval {
                self.adjust(elapsed.as_secs_f64());
                self.next_adjust = Some(now + self.interval);
            }
            return;
        }
        let mut at = next;
        let mut rounds = 0;
        while at <= now {
            self.adjust(self.interval.as_secs_f64());
            at += self.interval;
            rounds += 1;
            if rounds >= IDLE_INTERVALS {
                // Idle long enough that every key is forgotten anyway.
                at = now + self.interval;
                break;
            }
        }
        self.next_adjust = Some(at);
    }

    /// Turns the interval's counts into rates and recomputes the rate table.
    fn adjust(&mut self, secs: f64) {
        self.interval_spans = 0.0;
        // A change of load: the interval's total against the steady total, beyond both 10% and
        // four standard deviations of its count noise (~1/√traces), restarts the averages.
        let (mut raw_total, mut steady_total, mut traces) = (0.0, 0.0, 0.0);
        for s in self.keys.values() {
            raw_total += s.counts.iter().sum::<f64>() / secs;
            steady_total += s.rates.iter().map(|r| r.unwrap_or(0.0)).sum::<f64>();
            traces += s.traces;
        }
        let noise = 4.0 / traces.max(1.0).sqrt();
        if steady_total > 0.0 && (raw_total / steady_total - 1.0).abs() > STEP_CHANGE.max(noise) {
            self.age = 0;
        }
        // A running mean since the start (or the last change) until that is older than the
        // average's memory, then the moving average. A key first seen now is taken to have had
        // no traffic before (its absence was counted too), so a rare key is not taken at the
        // rate of the interval it happened to appear in.
        self.age += 1;
        let w = self.ema_weight.max(1.0 / self.age as f64);
        let mut predicted = 0.0;
        self.keys.retain(|_, s| {
            predicted += (0..STRATA).map(|i| s.probabilities[i] * s.counts[i]).sum::<f64>();
            let idle = s.counts == [0.0; STRATA];
            for i in 0..STRATA {
                let r = s.counts[i] / secs;
                s.rates[i] = Some(w * r + (1.0 - w) * s.rates[i].unwrap_or(0.0));
                s.counts[i] = 0.0;
            }
            s.trace_rate = w * s.traces / secs + (1.0 - w) * s.trace_rate;
            s.traces = 0.0;
            s.idle = if idle { s.idle + 1 } else { 0 };
            s.idle < IDLE_INTERVALS
        });
        let input: f64 = self.keys.values().flat_map(|s| s.rates.iter().map(|r| r.unwrap_or(0.0))).sum();
        self.expected_per_interval = if input > 0.0 { input * self.interval.as_secs_f64() } else { f64::INFINITY };
        for s in self.keys.values_mut() {
            s.latency.decay_and_update(self.latency_quantile);
        }

        // Measured against predicted output: the slow correction.
        let average = |old: Option<f64>, new: f64| match old {
            Some(old) => OUTPUT_WEIGHT * new + (1.0 - OUTPUT_WEIGHT) * old,
            None => new,
        };
        let measured = average(self.output_rate, self.kept_now / secs);
        let expected = average(self.predicted_rate, predicted / secs);
        self.kept_now = 0.0;
        (self.output_rate, self.predicted_rate) = (Some(measured), Some(expected));
        if measured > 0.0 && expected > 0.0 {
            self.correction = (expected / measured).clamp(CORRECTION_BOUNDS.0, CORRECTION_BOUNDS.1);
        }
        let budget = self.budget * self.correction;
        tracing::debug!(
            message = "adaptive rate table",
            policy = %self.metrics.policy,
            input_spans_per_sec = input,
            output_spans_per_sec = measured,
            predicted_spans_per_sec = expected,
            correction = self.correction,
            keys = self.keys.len()
        );

        // Priority first, from its reserved share; normal traffic gets the rest.
        // Priority first from the reserved share — errors (and the attribute) before latency
        // outliers — then normal traffic from what is left.
        let mut strata: [Vec<(f64, &mut f64)>; STRATA] = [Vec::new(), Vec::new(), Vec::new()];
        for s in self.keys.values_mut() {
            for (i, p) in s.probabilities.iter_mut().enumerate() {
                strata[i].push((s.rates[i].unwrap_or(0.0), p));
            }
        }
        let [normal, slow, urgent] = &mut strata;
        let priority_rate: f64 = urgent.iter().chain(slow.iter()).map(|(r, _)| r).sum();
        let priority_budget = self.reserved_share * budget;
        let urgent_used = water_fill(urgent, priority_budget);
        let slow_used = water_fill(slow, (priority_budget - urgent_used).max(0.0));
        water_fill(normal, (budget - urgent_used - slow_used).max(0.0));

        self.metrics.input.set(input);
        self.metrics.output.set(measured);
        self.metrics.correction.set(self.correction);
        self.metrics.keys.set(self.keys.len() as f64);
        self.metrics.priority_share_used.set(if priority_budget > 0.0 {
            priority_rate.min(priority_budget) / priority_budget
        } else {
            0.0
        });
        self.publish_key_probabilities();
    }

    /// Sets `key_probability` for the busiest `metrics_max_keys` keys (normal traffic).
    fn publish_key_probabilities(&mut self) {
        if self.metrics.max_series == 0 {
            return;
        }
        let mut busiest: Vec<(&String, &KeyState)> = self.keys.iter().collect();
        busiest.sort_by(|a, b| b.1.rates[0].unwrap_or(0.0).total_cmp(&a.1.rates[0].unwrap_or(0.0)).then(a.0.cmp(b.0)));
        for (key, s) in busiest.into_iter().take(self.metrics.max_series) {
            let m = &mut self.metrics;
            if !m.series.contains_key(key) {
                // Bounded: a series per key that was once among the busiest, at most `max_keys`.
                let labels = [("policy", m.policy.clone()), ("key", key.clone())];
                m.series.insert(
                    key.clone(),
                    metrics::gauge!("otelcol_processor_tail_sampling_adaptive_key_probability", &labels),
                );
            }
            m.series[key].set(s.probabilities[0]);
        }
    }
}

/// A number in [0, 1) from the key (FNV-1a).
fn key_offset(key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Water-filling: sets each entry's probability so that Σ min(rate, λ·w) = `budget` with
/// w = max(1, log10 rate), p = min(1, λ·w / rate). Returns the expected kept rate.
fn water_fill(entries: &mut [(f64, &mut f64)], budget: f64) -> f64 {
    let total: f64 = entries.iter().map(|(r, _)| r).sum();
    if total <= budget {
        for (_, p) in entries.iter_mut() {
            **p = 1.0;
        }
        return total;
    }
    let weight = |r: f64| r.log10().max(1.0);
    let mut order: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].0 > 0.0).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (entries[a].0, entries[b].0);
        (ra / weight(ra)).total_cmp(&(rb / weight(rb)))
    });
    for (_, p) in entries.iter_mut() {
        **p = 1.0;
    }
    let mut left = budget;
    let mut weights: f64 = order.iter().map(|&i| weight(entries[i].0)).sum();
    for (n, &i) in order.iter().enumerate() {
        let r = entries[i].0;
        let level = left / weights;
        if r / weight(r) <= level {
            // Below the water line: kept whole.
            left -= r;
            weights -= weight(r);
        } else {
            for &j in &order[n..] {
                let rj = entries[j].0;
                *entries[j].1 = (level * weight(rj) / rj).min(1.0);
            }
            break;
        }
    }
    budget
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(rates: &[f64], budget: f64) -> Vec<f64> {
        let mut ps = vec![0.0; rates.len()];
        let mut entries: Vec<(f64, &mut f64)> = rates.iter().copied().zip(ps.iter_mut()).collect();
        water_fill(&mut entries, budget);
        ps
    }

    #[test]
    fn water_filling_keeps_rare_keys_and_cuts_frequent_ones_to_the_budget() {
        let rates = [10_000.0, 100.0, 1.0];
        let ps = fill(&rates, 1000.0);
        assert_eq!(&ps[1..], &[1.0, 1.0], "rare keys keep everything");
        let kept: f64 = rates.iter().zip(&ps).map(|(r, p)| r * p).sum();
        assert!((kept - 1000.0).abs() < 1e-6, "expected output is the budget: {kept}");
        // Under budget: everything kept.
        assert_eq!(fill(&rates, 20_000.0), vec![1.0; 3]);
    }

    #[test]
    fn water_filling_gives_frequent_keys_the_same_level_times_their_weight() {
        let rates = [100_000.0, 10_000.0, 1_000.0];
        let ps = fill(&rates, 900.0);
        let kept: Vec<f64> = rates.iter().zip(&ps).map(|(r, p)| r * p).collect();
        // Weights 5, 4, 3: kept in proportion to them.
        assert!((kept[0] / kept[2] - 5.0 / 3.0).abs() < 1e-9, "{kept:?}");
        assert!((kept.iter().sum::<f64>() - 900.0).abs() < 1e-6);
    }

    #[test]
    fn latency_sketch_finds_the_quantile_bucket() {
        let mut s = LatencySketch::new();
        for i in 0..1000u64 {
            s.record((i + 1) * 1_000_000); // 1..1000 ms
        }
        s.decay_and_update(0.99);
        let th = s.threshold_ns.expect("enough weight");
        // The 99th percentile is 990 ms; the bucket edge is within one bucket (~9%) above.
        assert!((990_000_000..=1_100_000_000).contains(&th), "{th}");
    }

    #[test]
    fn key_fields_parse_or_name_the_valid_forms() {
        assert_eq!(KeyField::parse("resource.service.name"), Ok(KeyField::Resource("service.name".into())));
        assert_eq!(KeyField::parse("root.http.route"), Ok(KeyField::Root("http.route".into())));
        assert_eq!(KeyField::parse("root.name"), Ok(KeyField::RootName));
        assert!(KeyField::parse("resource.").unwrap_err().contains("status_class"));
        assert!(KeyField::parse("name").is_err());
    }
}
