//! The `adaptive` policy: hold an output budget (spans per second), keep what matters first,
//! keep every key represented, and keep counts right — from the first span on.
//!
//! # Algorithm
//!
//! Every decided trace has a **key** (its `key_fields` values, e.g. service, root span name,
//! status class) and falls in one of three **strata**: *urgent* (an ERROR span, or the
//! priority attribute), *slow* (a latency outlier: longer than its key's streaming latency
//! quantile, or than the absolute `latency_threshold`), or *normal*. Its spans are counted,
//! at decision time, into its key's current interval, per stratum.
//!
//! Every `adjustment_interval` (1 s) the counts become rates: per key and stratum, spans per
//! second as an exponential moving average (`ema_weight` on the newest interval, 0.1 by
//! default), which is a running mean (weighted by time) while the policy is younger than the
//! average's memory. A key first seen starts from zero (its absence before was counted too,
//! so a rare key is not taken at the rate of the interval it happened to appear in). A steady
//! average matters: noisy rates bias the output upwards (p = b / ĉ, and E[1/ĉ] > 1/c).
//!
//! **Changes of load.** When an interval's total differs from the averaged total by more than
//! 10% and four standard deviations of its count noise, the load changed: every key's rates
//! are scaled by the ratio (the keys' shares are kept — a short interval has seen only some
//! of them) and the running mean restarts with that as one interval of history, so the next
//! intervals settle it. An interval whose input runs at twice the expected rate (over at
//! least 30 traces and a twentieth of an interval's worth of input) is cut short and the
//! table recomputed at once: a 10× step is caught within ~10 ms, so the step's first second
//! keeps about one budget more, not ten. So is an interval whose *output* runs at twice the
//! budget's rate (over a quarter of an interval's worth): traffic the table did not foresee,
//! such as an error storm that leaves the total unchanged.
//!
//! **Cold start** (and every restart or reload). Before the first table there are no rates.
//! The policy keeps with p = 1 until a quarter of one interval's budget has been kept — a few
//! milliseconds at high load — and then computes its first table from what it has seen, in
//! that elapsed time. Intervals then double (each as long as the time since the first trace)
//! until they reach `adjustment_interval`, so the estimate improves from tens to thousands of
//! traces within the first second. A key new altogether keeps its traces with p = 1 until an
//! adjustment has measured it (its first trace may be its only one in its coverage window);
//! a key new to a stratum takes the stratum's mean probability. The aim is no one-second
//! window above twice the budget, the first included; it is not met yet: with 200 keys at 40×
//! the budget the first second keeps ~5× the budget (2,654 spans at a budget of 500, seed 1;
//! 37× before this estimate), most of it the first traces of the keys (`adaptive_harness`).
//!
//! *Why this and not carrying the rate table over a reload or persisting it:* the estimate
//! from the first milliseconds is good enough to hold the budget (the harness tests it), it
//! works the same after a crash, a restart on another machine or a reload that changed the
//! budget or the key fields — where a carried table would be stale or wrong — and it needs no
//! file format or versioning. The table is one value, [`RateTable`]
//! ([`Adaptive::rate_table`] / [`Adaptive::set_rate_table`]), should carrying it over a
//! reload become worth it: the service would hand each `adaptive` policy's table, by policy
//! name, from the old pipeline to the new one before the old one is dropped.
//!
//! From the rates, the **rate table**:
//!
//! 1. *Coverage* first: the coverage keeps' recent cost (below) comes off the budget.
//! 2. *Priority* takes what it needs of the rest up to a ceiling, `max_share` of it (0.9 by
//!    default): urgent traffic first, slow traffic from what urgent leaves. If a stratum's
//!    total rate fits, every trace of it is kept (p = 1); otherwise its share is water-filled
//!    over its rates per key (below) — critical traffic above the ceiling is itself sampled,
//!    consistently and with `th`, errors before slow — so errors are never thinned to make
//!    room for slow traces.
//! 3. *Normal* traffic gets what priority leaves, water-filled over the keys' normal rates;
//!    at least `1 − max_share` of the budget, so every key stays represented.
//!
//! **Water-filling** with weights w_k = max(1, log10 c_k): find λ with Σ_k min(c_k, λ·w_k) =
//! budget; key k keeps with p_k = min(1, λ·w_k / c_k). Keys below the water line keep
//! everything (rare keys are always represented); frequent keys share the cut, each keeping
//! λ·w_k spans/s, so a key with 100× the traffic keeps only a couple of times more. Solved
//! exactly by sorting keys by c_k / w_k: no ordering artifacts, probabilities are real
//! numbers (no integer sample rates), and the expected output is the budget.
//!
//! A **slow global correction** m multiplies the budget used for the table: the ratio of the
//! output predicted (Σ p × spans over the decisions, with the probability each was decided
//! with) to the output measured (spans kept, late spans included), both as ~10 s moving
//! averages, within [0.5, 2], once they have 5 intervals of history. It removes what the
//! rate model misses — late spans, traces that arrive already sampled upstream (kept less
//! often than p says) — while a change of the input rate moves prediction and measurement
//! together and leaves it alone, so steps in load are followed by the rates, not wound into
//! the correction.
//!
//! **Coverage**: time is cut into windows of `coverage_interval` (60 s); a key with no kept
//! trace yet in the current window keeps its next trace with p = 1 (`th:0`), so every key with
//! traffic is represented in every window even when its share of the water is a fraction of
//! a trace. (A key with ≥ 1 trace/s starts its windows at an offset in the first half, from a
//! hash of the key, so that these keeps are spread out rather than bursting at the start.)
//! These keeps are paced by a token bucket of 20% of the budget per second (holding one
//! interval's worth, full at the start): a keep costs what it adds beyond the table,
//! spans × (1 − p); a trace that finds too few tokens is decided by the table and its key
//! stays uncovered for its next trace. The bucket's recent spending is taken off the budget
//! at each adjustment. Coverage depends on the instance's history (which keys were kept, the
//! tokens), so two instances agree on it only if they share that state too (it is part of the
//! [`RateTable`]); a fleet that routes each trace to one instance (the Kafka two-tier
//! topology) is unaffected.
//!
//! When `max_keys` keys are tracked, further keys share the key `(overflow)`, budgeted like
//! any other. Keys idle for 300 intervals are forgotten.
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
//! Priority is decided before R is looked at, and the rate table (and the coverage tokens)
//! only from earlier traces, so p does not depend on R: the estimate stays unbiased under any
//! traffic.
//!
//! # Latency outliers
//!
//! Two thresholds; a trace over either is slow:
//!
//! - **Relative** (`latency_quantile`, 0.99): slow *for its key*. Per key, a histogram of
//!   trace durations on a log scale (8 buckets per doubling from 1 µs, 200 buckets, ~9%
//!   wide), decayed by 0.99 every interval (a ~100 s memory). At each adjustment the
//!   quantile's bucket is found and its upper edge becomes the key's threshold. It applies
//!   once the key has 20 traces' weight in its histogram, and keeps at least 5 traces' weight
//!   above it (with little history, a lower quantile: the slowest trace, maybe an outlier
//!   itself, does not set it).
//! - **Absolute** (`latency_threshold`, 1 s, or `latency_thresholds` per key): slow *for a
//!   user*. A key that is slow all the time has a slow p99, so the relative threshold alone
//!   misses most of its slow traces; the absolute one catches them from the first trace.
//!   Because the slow stratum is water-filled over keys, one uniformly slow key cannot take
//!   the whole ceiling from the others.

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
/// Strata of traffic, from the last kept to the first: normal traces, latency outliers, severe
/// latency outliers, and urgent traces (errors and traces the user marks critical). Each key
/// has a rate and a probability per stratum.
const STRATA: usize = 4;
const NORMAL: usize = 0;
const SLOW: usize = 1;
const SEVERE: usize = 2;
const URGENT: usize = 3;
/// The order in which the priority strata take the priority budget.
const PRIORITY_ORDER: [usize; 3] = [URGENT, SEVERE, SLOW];
/// A latency outlier at least this many times over its threshold is severe.
const SEVERITY: f64 = 1.5;
/// The relative change of a stratum's input over an interval (beyond its count noise) that is
/// taken as a change of load.
const STEP_CHANGE: f64 = 0.10;
/// The fast level of each stratum: decayed sums of its spans and traces with a time constant of
/// this share of `adjustment_interval` (10 ms of 1 s).
const FAST_WINDOW: f64 = 0.01;
/// The fast level differs significantly from the table's rate when its traces are above
/// `FAST_UP` × the expected count + `FAST_Z` standard deviations + `FAST_SLACK`, or below
/// `FAST_DOWN` × the expected count − as much. That starts a change: `FAST_SETTLE` time
/// constants later, if a stratum still differs, the table is recomputed from what came since.
const FAST_UP: f64 = 1.25;
const FAST_DOWN: f64 = 0.8;
const FAST_Z: f64 = 4.0;
const FAST_SLACK: f64 = 3.0;
const FAST_SETTLE: f64 = 2.0;
/// A stratum whose count since a change began differs from its rate is measured on its own
/// once it has this many traces; before, it follows the ratio of all strata together unless
/// its count contradicts that.
const FAST_OWN_TRACES: f64 = 20.0;
/// Cold start: before the first rate table, spans are kept with p = 1 until this share of one
/// interval's budget has been kept; then the first table is computed from what was seen.
const COLD_GUARD: f64 = 0.25;
/// Keeps with p = 1 beyond the table (coverage keeps) are paced by a token bucket earning this
/// share of the budget per second, holding at most one interval's worth (full at the start).
/// The traces of a key new altogether spend tokens too, but are not refused (the bucket may go
/// below zero).
const COVERAGE_SHARE: f64 = 0.2;
/// A probability of at least this is rounded up to 1. A key thinned only a little keeps few
/// traces at p < 1, and the Horvitz–Thompson variance of so few is badly estimated (a rare key
/// whose few thinned traces were all dropped looks exact); keeping them all costs little, and
/// the global correction takes it off the other keys.
const ROUND_UP: f64 = 0.6;
/// A key whose rates rest on fewer traces than this (decayed) is fresh: its coverage keep may
/// take the bucket's upper half.
const FRESH_TRACES: f64 = 0.5;
/// Coverage: an uncovered key is left to the table while it expects at least this many kept
/// traces in the rest of its window.
const COVERAGE_EXPECTED: f64 = 3.0;
/// Coverage: a key expecting fewer traces than this in the rest of its window may take the
/// bucket's last tokens (this may be its last chance); other keys only its upper half.
const LAST_CHANCE: f64 = 2.0;
/// Global correction: bounds, the weight of one interval in the moving averages of predicted
/// and measured output, and the history (in intervals) those need before it applies.
const CORRECTION_BOUNDS: (f64, f64) = (0.5, 2.0);
const OUTPUT_WEIGHT: f64 = 0.1;
const CORRECTION_HISTORY: f64 = 5.0;

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
    /// The trace is marked critical by the user: the priority attribute is present (with one
    /// of its values), or one of the priority policies samples it.
    pub marked: bool,
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
#[derive(Debug, Clone, PartialEq)]
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

    /// Updates the threshold, then decays the histogram by `decay`.
    fn decay_and_update(&mut self, quantile: f64, decay: f32) {
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
            *v *= decay;
        }
        self.total *= decay;
    }
}

/// One key's counts, rates and probabilities, per stratum ([`NORMAL`], [`SLOW`], [`SEVERE`],
/// [`URGENT`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyState {
    /// Spans and traces counted in the current interval.
    counts: [f64; STRATA],
    traces: [f64; STRATA],
    /// Spans and traces per second (0: no traffic measured).
    rates: [f64; STRATA],
    trace_rates: [f64; STRATA],
    /// The traces the rates rest on: trace counts decayed as the moving average forgets (not
    /// scaled on a change of load).
    evidence: [f64; STRATA],
    pub(crate) probabilities: [f64; STRATA],
    latency: LatencySketch,
    /// The absolute latency threshold of this key (ns), if any.
    absolute_ns: Option<u64>,
    /// Seconds without traffic.
    idle_secs: f64,
    /// When a trace of the key was last kept.
    last_kept: Option<Instant>,
}

impl KeyState {
    fn new(absolute_ns: Option<u64>) -> Self {
        KeyState {
            counts: [0.0; STRATA],
            traces: [0.0; STRATA],
            rates: [0.0; STRATA],
            trace_rates: [0.0; STRATA],
            evidence: [0.0; STRATA],
            probabilities: [1.0; STRATA],
            latency: LatencySketch::new(),
            absolute_ns,
            idle_secs: 0.0,
            last_kept: None,
        }
    }
}

/// One stratum over all keys: what the table expects of it, and its fast level.
#[derive(Debug, Clone, PartialEq)]
struct Stratum {
    /// Expected input (the keys' rates summed at the last adjustment), spans and traces per
    /// second.
    rate: f64,
    trace_rate: f64,
    /// Expected kept spans per second at the table's probabilities, and the most the stratum
    /// may keep (its share of the budget: for priority strata what the strata before it leave
    /// of the ceiling).
    kept: f64,
    allowance: f64,
    /// The probability of a key with no measured traffic in the stratum: the stratum's mean.
    fresh_p: f64,
    /// Seconds of history of the stratum's running mean (since the start or its last change).
    age: f64,
    /// Spans and traces counted in the current interval.
    spans_now: f64,
    traces_now: f64,
    /// The fast level: spans and traces, exponentially decayed (time constant
    /// `FAST_WINDOW` × `adjustment_interval`).
    fast_spans: f64,
    fast_traces: f64,
    /// Spans and traces counted since the current change began.
    since_spans: f64,
    since_traces: f64,
}

impl Stratum {
    fn new() -> Self {
        Stratum {
            rate: 0.0,
            trace_rate: 0.0,
            kept: 0.0,
            allowance: 0.0,
            fresh_p: 1.0,
            age: 0.0,
            spans_now: 0.0,
            traces_now: 0.0,
            fast_spans: 0.0,
            fast_traces: 0.0,
            since_spans: 0.0,
            since_traces: 0.0,
        }
    }

    /// Whether `traces` counted over `secs` differ significantly from the table's rate.
    fn differs(&self, traces: f64, secs: f64) -> bool {
        self.differs_from(traces, self.trace_rate * secs)
    }

    /// Whether `traces` differ significantly from an `expected` count.
    fn differs_from(&self, traces: f64, expected: f64) -> bool {
        let noise = FAST_Z * expected.sqrt() + FAST_SLACK;
        traces > FAST_UP * expected + noise || traces < FAST_DOWN * expected - noise
    }

    /// The fast level in spans per second, and whether it differs significantly from the
    /// table's rate. `window`: the seconds the decayed sums stand for.
    fn fast(&self, window: f64) -> (f64, bool) {
        (self.fast_spans / window, self.differs(self.fast_traces, window))
    }

    /// The factor on this stratum's probabilities: 1, unless its fast level differs
    /// significantly from the table's rate; then what holds the stratum to what the table
    /// expects it to keep, or up to its allowance if that is more (errors up to the ceiling).
    fn guard(&self, window: f64) -> f64 {
        let (fast, shifted) = self.fast(window);
        let mean_p = if self.rate > 0.0 { self.kept / self.rate } else { self.fresh_p };
        if !shifted || fast <= 0.0 || mean_p <= 0.0 {
            return 1.0;
        }
        self.kept.max(self.allowance) / (mean_p * fast)
    }
}

/// How one stratum's rates move at an adjustment.
#[derive(Debug, Clone, Copy)]
enum Update {
    /// The moving average, with this weight on the interval.
    Average(f64),
    /// A change of load: the new level in spans and traces per second, shared between keys as
    /// their old rates and the interval's counts are, half and half.
    Change { spans: f64, traces: f64 },
}

impl Update {
    /// A key's new rate from its old `rate` and the interval's `count` (over `secs`), the
    /// stratum's old rates summing to `old_total`, its counts to `count_total`.
    fn apply(self, rate: f64, count: f64, secs: f64, old_total: f64, count_total: f64, level: f64) -> f64 {
        match self {
            Update::Average(w) => w * count / secs + (1.0 - w) * rate,
            Update::Change { .. } => {
                let old = (old_total > 0.0).then(|| rate / old_total);
                let new = (count_total > 0.0).then(|| count / count_total);
                let share = match (old, new) {
                    (Some(o), Some(n)) => 0.5 * (o + n),
                    (Some(s), None) | (None, Some(s)) => s,
                    (None, None) => 0.0,
                };
                level * share
            }
        }
    }
}

/// Everything decisions depend on besides the trace: the keys' rates, probabilities, latency
/// thresholds and coverage, the strata's fast levels, the adjustment schedule and the
/// interval's counters. Two instances with the same table and the same traffic decide alike,
/// trace by trace. It is also the seam for carrying the state over a configuration reload (see
/// the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateTable {
    pub(crate) keys: HashMap<String, KeyState>,
    strata: [Stratum; STRATA],
    has_table: bool,
    next_adjust: Option<Instant>,
    interval_start: Option<Instant>,
    /// When the policy decided its first trace (coverage windows and warm-up count from it).
    epoch: Option<Instant>,
    /// When the fast levels were last decayed, and the seconds of history they hold.
    fast_at: Option<Instant>,
    fast_secs: f64,
    /// When the current change of load was detected (a stratum's fast level away from its rate).
    change_start: Option<Instant>,
    /// The current interval: spans kept by decisions (for the cold start).
    interval_kept: f64,
    /// The output the current table expects, spans per second (its strata's expected kept
    /// spans and the coverage keeps).
    expected_output: f64,
    /// Spans kept in the current interval, late spans included.
    kept_now: f64,
    /// Moving averages (per second) of measured and expected output, and the seconds they
    /// cover.
    output_rate: Option<f64>,
    expected_rate: Option<f64>,
    output_secs: f64,
    correction: f64,
    /// The token bucket of keeps beyond the table: tokens (spans), when they were last
    /// refilled, spans spent in the current interval beyond what the table would have kept,
    /// and its moving average.
    coverage_tokens: f64,
    coverage_refilled: Option<Instant>,
    coverage_spent: f64,
    coverage_rate: f64,
}

impl RateTable {
    fn new(tokens: f64) -> Self {
        RateTable {
            keys: HashMap::new(),
            strata: std::array::from_fn(|_| Stratum::new()),
            has_table: false,
            next_adjust: None,
            interval_start: None,
            epoch: None,
            fast_at: None,
            fast_secs: 0.0,
            change_start: None,
            interval_kept: 0.0,
            expected_output: 0.0,
            kept_now: 0.0,
            output_rate: None,
            expected_rate: None,
            output_secs: 0.0,
            correction: 1.0,
            coverage_tokens: tokens,
            coverage_refilled: None,
            coverage_spent: 0.0,
            coverage_rate: 0.0,
        }
    }
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
    max_share: f64,
    coverage: Option<Duration>,
    latency_quantile: f64,
    /// The global absolute latency threshold (ns), and the per-key ones (0: none).
    latency_threshold_ns: Option<u64>,
    latency_thresholds_ns: HashMap<String, u64>,
    errors_are_priority: bool,
    priority_attribute: Option<PriorityAttributeConfig>,
    pub(crate) fields: Vec<KeyField>,
    table: RateTable,
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
        let nanos = |d: &Duration| d.as_nanos().min(u64::MAX as u128) as u64;
        let bucket = COVERAGE_SHARE * c.target_spans_per_sec * c.adjustment_interval.as_secs_f64();
        Ok(Adaptive {
            budget: c.target_spans_per_sec,
            interval: c.adjustment_interval,
            ema_weight: c.ema_weight,
            max_keys: c.max_keys,
            max_share: c.priority.max_share,
            coverage: (!c.coverage_interval.is_zero()).then_some(c.coverage_interval),
            latency_quantile: c.priority.latency_quantile,
            latency_threshold_ns: (!c.priority.latency_threshold.is_zero())
                .then(|| nanos(&c.priority.latency_threshold)),
            latency_thresholds_ns: c.priority.latency_thresholds.iter().map(|(k, d)| (k.clone(), nanos(d))).collect(),
            errors_are_priority: c.priority.errors,
            priority_attribute: c.priority.attribute.clone(),
            fields,
            table: RateTable::new(bucket),
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
        self.table.kept_now += spans as f64;
    }

    /// The current rate table.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn rate_table(&self) -> RateTable {
        self.table.clone()
    }

    /// Replaces the rate table with `table`: from then on this instance decides as the one
    /// the table came from would. The seam for sharing one table between instances, or for
    /// carrying it over a reload.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn set_rate_table(&mut self, table: &RateTable) {
        self.table = table.clone();
    }

    /// The time constant of the strata's fast levels, in seconds.
    fn tau(&self) -> f64 {
        FAST_WINDOW * self.interval.as_secs_f64()
    }

    /// The seconds the fast levels' decayed sums stand for: τ once they have that much
    /// history, less before.
    fn fast_window(&self) -> f64 {
        let tau = self.tau();
        (tau * (1.0 - (-self.table.fast_secs / tau).exp())).max(1e-6)
    }

    /// Decides a trace at `now`.
    pub fn decide(&mut self, t: &TraceSummary, now: Instant) -> Verdict {
        self.decay_fast(now);
        self.advance(now);
        self.refill_coverage(now);
        let window = self.fast_window();
        let mut key = t.key.join(" • ");
        let table = &mut self.table;
        if !table.keys.contains_key(&key) {
            // The last slot is the overflow key's.
            if table.keys.len() >= self.max_keys.saturating_sub(1) {
                key = OVERFLOW_KEY.to_string();
            }
            if !table.keys.contains_key(&key) {
                let absolute = match self.latency_thresholds_ns.get(&key) {
                    Some(&ns) => (ns > 0).then_some(ns),
                    None => self.latency_threshold_ns,
                };
                table.keys.insert(key.clone(), KeyState::new(absolute));
            }
        }
        let state = table.keys.get_mut(&key).expect("inserted above");
        // How many times over its thresholds the trace is (relative and absolute).
        let over = |th: Option<u64>| th.map_or(0.0, |th| t.duration_ns as f64 / th.max(1) as f64);
        let severity = over(state.latency.threshold_ns).max(over(state.absolute_ns));
        let stratum = if (self.errors_are_priority && t.error) || t.marked {
            URGENT
        } else if severity >= SEVERITY {
            SEVERE
        } else if severity > 1.0 {
            SLOW
        } else {
            NORMAL
        };
        let priority = stratum != NORMAL;
        let epoch = *table.epoch.get_or_insert(now);
        let spans = t.spans as f64;
        // A key new to the stratum takes the stratum's mean probability; a key whose rates rest
        // on too few traces yet is fresh; one with no measured rate at all is new.
        let fresh = state.evidence.iter().sum::<f64>() < FRESH_TRACES;
        let new = state.rates == [0.0; STRATA];
        let mut p = if table.has_table {
            let s = &table.strata[stratum];
            let p_table = if state.rates[stratum] <= 0.0 { s.fresh_p } else { state.probabilities[stratum] };
            let p = (p_table * s.guard(window)).min(1.0);
            if p >= ROUND_UP {
                1.0
            } else {
                p
            }
        } else {
            1.0
        };
        // Keeps with p = 1 beyond the table. A new key's traces, until the next adjustment
        // measures it, so that it is represented and counted exactly from its first trace (which
        // may be its only one in the coverage window): they spend tokens but are never refused.
        // Then, paced by the token bucket, a fresh key's traces and coverage keeps, for a key
        // with no kept trace yet in its window that the table is unlikely to keep before the
        // window ends. A key that may have no other chance in its window can take the bucket's
        // last tokens; others only its upper half, which leaves the rest to rarer keys.
        let extra = spans * (1.0 - p);
        if table.has_table && extra > 0.0 {
            let cap = COVERAGE_SHARE * self.budget * self.interval.as_secs_f64();
            let floor = if new {
                Some(f64::NEG_INFINITY)
            } else if fresh {
                Some(cap / 2.0)
            } else if let Some(c) = self.coverage {
                let window = c.as_secs_f64();
                let since = now.saturating_duration_since(epoch).as_secs_f64();
                let start = (since / window).floor() * window;
                let uncovered = state.last_kept.is_none_or(|k| k < epoch + Duration::from_secs_f64(start));
                let traces_left = state.trace_rates.iter().sum::<f64>() * (start + window - since);
                (uncovered && traces_left * p < COVERAGE_EXPECTED).then_some(if traces_left < LAST_CHANCE {
                    0.0
                } else {
                    cap / 2.0
                })
            } else {
                None
            };
            if floor.is_some_and(|floor| table.coverage_tokens - extra >= floor) {
                table.coverage_tokens -= extra;
                table.coverage_spent += extra;
                p = 1.0;
            }
        }
        let threshold = sampling::threshold_for_probability(p).map(|th| th.max(t.incoming_threshold.unwrap_or(0)));
        let keep = threshold.is_some_and(|th| t.randomness >= th);
        // Counted after the decision, which therefore depends only on earlier traffic.
        state.counts[stratum] += spans;
        state.traces[stratum] += 1.0;
        state.idle_secs = 0.0;
        if self.latency_quantile > 0.0 {
            state.latency.record(t.duration_ns);
        }
        let s = &mut table.strata[stratum];
        s.spans_now += spans;
        s.traces_now += 1.0;
        s.fast_spans += spans;
        s.fast_traces += 1.0;
        s.since_spans += spans;
        s.since_traces += 1.0;
        if keep {
            table.kept_now += spans;
            table.interval_kept += spans;
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

    /// Decays the fast levels to `now`.
    fn decay_fast(&mut self, now: Instant) {
        let tau = self.tau();
        let t = &mut self.table;
        let last = *t.fast_at.get_or_insert(now);
        let dt = now.saturating_duration_since(last).as_secs_f64();
        if dt > 0.0 {
            let d = (-dt / tau).exp();
            for s in &mut t.strata {
                s.fast_spans *= d;
                s.fast_traces *= d;
            }
            t.fast_secs += dt;
            t.fast_at = Some(now);
        }
    }

    /// Adds the coverage tokens earned since the last refill.
    fn refill_coverage(&mut self, now: Instant) {
        let t = &mut self.table;
        let last = *t.coverage_refilled.get_or_insert(now);
        let rate = COVERAGE_SHARE * self.budget;
        let earned = now.saturating_duration_since(last).as_secs_f64() * rate;
        t.coverage_tokens =
            (t.coverage_tokens + earned).min((rate * self.interval.as_secs_f64()).max(t.coverage_tokens));
        t.coverage_refilled = Some(now);
    }

    /// The length of the interval that starts at `at`: during the first interval after the
    /// start it doubles (each interval as long as the time since the first trace), so the
    /// first estimates come within milliseconds and improve quickly; then
    /// `adjustment_interval`.
    fn next_interval(&self, at: Instant) -> Duration {
        let since = self.table.epoch.map_or(self.interval, |e| at.saturating_duration_since(e));
        since.clamp(Duration::from_millis(1), self.interval)
    }

    /// Runs the adjustments due by `now`: at the end of each interval, and at once when the
    /// first table is due (cold start) or a change of load has been measured for
    /// `FAST_SETTLE` time constants.
    fn advance(&mut self, now: Instant) {
        let interval = self.interval.as_secs_f64();
        let (window, settle) = (self.fast_window(), FAST_SETTLE * self.tau());
        let t = &mut self.table;
        let start = *t.interval_start.get_or_insert(now);
        let next = *t.next_adjust.get_or_insert(now + self.interval);
        // A change begins when a stratum's fast level differs significantly from its rate;
        // from then on every stratum counts what comes, to measure the new levels.
        let shifted = t.has_table && t.strata.iter().any(|s| s.fast(window).1);
        let mut early = false;
        match t.change_start {
            None if shifted => {
                t.change_start = Some(now);
                for s in &mut t.strata {
                    (s.since_spans, s.since_traces) = (0.0, 0.0);
                }
            }
            Some(at) if now.saturating_duration_since(at).as_secs_f64() >= settle => {
                // Still away from the table: a change of load; otherwise it was noise.
                early = shifted;
                t.change_start = early.then_some(at);
            }
            _ => {}
        }
        if now < next {
            let elapsed = now.saturating_duration_since(start);
            let cold = !t.has_table && t.interval_kept >= COLD_GUARD * self.budget * interval;
            if (cold || early) && !elapsed.is_zero() {
                self.adjust(elapsed.as_secs_f64(), now);
                self.table.interval_start = Some(now);
                self.table.next_adjust = Some(now + self.next_interval(now));
            }
            return;
        }
        let (mut from, mut at) = (start, next);
        let mut rounds = 0;
        while at <= now {
            self.adjust(at.saturating_duration_since(from).as_secs_f64().max(1e-3), at);
            from = at;
            at += self.next_interval(at);
            rounds += 1;
            if rounds >= IDLE_INTERVALS {
                // Idle long enough that every key is forgotten anyway.
                from = now;
                at = now + self.interval;
                break;
            }
        }
        self.table.interval_start = Some(from);
        self.table.next_adjust = Some(at);
    }

    /// Turns the interval's counts into rates and recomputes the rate table.
    fn adjust(&mut self, secs: f64, now: Instant) {
        let interval = self.interval.as_secs_f64();
        let t = &mut self.table;
        t.has_table = true;
        // Per stratum, a change of load. Within an interval (`change`, the time since it was
        // detected): the new level is what came since, if the stratum's own count differs
        // significantly from its rate, or its rate times the ratio of all strata together, if
        // its count fits that ratio better than its old rate (a stratum too small to tell in
        // milliseconds follows the load of the others). At the end of an interval: its total
        // away from the rate by more than both 10% and four standard deviations of its count
        // noise. The stratum's rates then move to the new level at once (the keys keeping
        // their shares, half old and half from this interval) and its running mean restarts,
        // counting that as one interval of history. Otherwise its rates are averaged: a
        // running mean (by time) while the stratum's history is shorter than the average's
        // memory, then the moving average. A key with no traffic before has a rate of 0 (its
        // absence was counted too), so a rare key is not taken at the rate of the interval it
        // appeared in.
        let change = t.change_start.take().map(|at| now.saturating_duration_since(at).as_secs_f64().max(1e-6));
        let ratio = change.map(|d| {
            let expected: f64 = t.strata.iter().map(|s| s.trace_rate * d).sum();
            t.strata.iter().map(|s| s.since_traces).sum::<f64>() / expected.max(1e-9)
        });
        let updates: [Update; STRATA] = std::array::from_fn(|i| {
            let s = &mut t.strata[i];
            let raw = s.spans_now / secs;
            let noise = 4.0 / s.traces_now.max(1.0).sqrt();
            // The new level, and the seconds of traffic it was measured on.
            let own = |d: f64| Some((Update::Change { spans: s.since_spans / d, traces: s.since_traces / d }, d));
            let update = match (change, ratio) {
                (Some(d), _) if s.differs(s.since_traces, d) && s.since_traces >= FAST_OWN_TRACES => own(d),
                (Some(d), Some(r)) if s.rate > 0.0 && !s.differs_from(s.since_traces, r * s.trace_rate * d) => {
                    Some((Update::Change { spans: r * s.rate, traces: r * s.trace_rate }, d))
                }
                (Some(d), _) if s.differs(s.since_traces, d) => own(d),
                (Some(_), _) => None,
                (None, _) if s.rate > 0.0 && (raw / s.rate - 1.0).abs() > STEP_CHANGE.max(noise) => {
                    Some((Update::Change { spans: raw, traces: s.traces_now / secs }, secs))
                }
                (None, _) => None,
            };
            match update {
                Some((u, measured)) => {
                    s.age = measured;
                    u
                }
                None => {
                    s.age += secs;
                    Update::Average((1.0 - (1.0 - self.ema_weight).powf(secs / interval)).max(secs / s.age))
                }
            }
        });
        let decay = LATENCY_DECAY.powf((secs / interval) as f32);
        let forget = (1.0 - self.ema_weight).powf(secs / interval);
        let strata = &t.strata;
        t.keys.retain(|_, k| {
            let idle = k.counts == [0.0; STRATA];
            for (i, u) in updates.iter().enumerate() {
                let (s, level) = match *u {
                    Update::Change { spans, traces } => (&strata[i], (spans, traces)),
                    Update::Average(_) => (&strata[i], (0.0, 0.0)),
                };
                k.rates[i] = u.apply(k.rates[i], k.counts[i], secs, s.rate, s.spans_now, level.0);
                k.trace_rates[i] = u.apply(k.trace_rates[i], k.traces[i], secs, s.trace_rate, s.traces_now, level.1);
            }
            for (e, n) in k.evidence.iter_mut().zip(k.traces) {
                *e = forget * *e + n;
            }
            k.counts = [0.0; STRATA];
            k.traces = [0.0; STRATA];
            k.idle_secs = if idle { k.idle_secs + secs } else { 0.0 };
            k.latency.decay_and_update(self.latency_quantile, decay);
            k.idle_secs < IDLE_INTERVALS as f64 * interval
        });
        for (i, s) in t.strata.iter_mut().enumerate() {
            s.rate = t.keys.values().map(|k| k.rates[i]).sum();
            s.trace_rate = t.keys.values().map(|k| k.trace_rates[i]).sum();
            (s.spans_now, s.traces_now) = (0.0, 0.0);
        }
        let input: f64 = t.strata.iter().map(|s| s.rate).sum();

        // Measured against expected output: the slow correction, once the averages have a few
        // intervals of history.
        t.output_secs += secs;
        // A running mean (by time) until the averages' memory is reached.
        let ow = (1.0 - (1.0 - OUTPUT_WEIGHT).powf(secs / interval)).max(secs / t.output_secs);
        let average = |old: Option<f64>, new: f64| match old {
            Some(old) => ow * new + (1.0 - ow) * old,
            None => new,
        };
        let measured = average(t.output_rate, t.kept_now / secs);
        let expected = average(t.expected_rate, t.expected_output);
        (t.output_rate, t.expected_rate) = (Some(measured), Some(expected));
        if measured > 0.0 && expected > 0.0 && t.output_secs >= CORRECTION_HISTORY * interval {
            t.correction = (expected / measured).clamp(CORRECTION_BOUNDS.0, CORRECTION_BOUNDS.1);
        }
        // The bucket's recent spending (at most what it earns).
        let spent = t.coverage_spent / secs;
        t.coverage_rate = (ow * spent + (1.0 - ow) * t.coverage_rate).min(COVERAGE_SHARE * self.budget);
        (t.kept_now, t.coverage_spent, t.interval_kept) = (0.0, 0.0, 0.0);
        let budget = self.budget * t.correction;
        tracing::debug!(
            message = "adaptive rate table",
            policy = %self.metrics.policy,
            input_spans_per_sec = input,
            output_spans_per_sec = measured,
            expected_spans_per_sec = expected,
            correction = t.correction,
            keys = t.keys.len()
        );

        // Coverage keeps come off the top. Priority takes what it needs of the rest up to its
        // ceiling — urgent traces first, then severe latency outliers, then the others — and
        // normal traffic gets what priority leaves.
        let available = (budget - t.coverage_rate).max(0.0);
        let priority_budget = self.max_share * available;
        let mut keys: Vec<&mut KeyState> = t.keys.values_mut().collect();
        let mut fill = |i: usize, budget: f64| -> f64 {
            let entries: Vec<(f64, f64)> = keys.iter().map(|k| (k.rates[i], weight(k.rates[i]))).collect();
            let (ps, used) = water_fill(&entries, budget);
            for (k, p) in keys.iter_mut().zip(ps) {
                k.probabilities[i] = p;
            }
            used
        };
        let mut left = priority_budget;
        let (mut used, mut allowance) = ([0.0; STRATA], [0.0; STRATA]);
        for i in PRIORITY_ORDER {
            allowance[i] = left;
            used[i] = fill(i, left);
            left = (left - used[i]).max(0.0);
        }
        allowance[NORMAL] = (available - priority_budget + left).max(0.0);
        used[NORMAL] = fill(NORMAL, allowance[NORMAL]);
        t.expected_output = used.iter().sum::<f64>() + t.coverage_rate;
        for (i, s) in t.strata.iter_mut().enumerate() {
            (s.kept, s.allowance) = (used[i], allowance[i]);
            s.fresh_p = if s.rate > 0.0 && used[i] < s.rate * (1.0 - 1e-9) { used[i] / s.rate } else { 1.0 };
        }

        self.metrics.input.set(input);
        self.metrics.output.set(measured);
        self.metrics.correction.set(t.correction);
        self.metrics.keys.set(t.keys.len() as f64);
        let priority_used = priority_budget - left;
        self.metrics.priority_share_used.set(if priority_budget > 0.0 { priority_used / priority_budget } else { 0.0 });
        self.publish_key_probabilities();
    }

    /// Sets `key_probability` for the busiest `metrics_max_keys` keys (normal traffic).
    fn publish_key_probabilities(&mut self) {
        if self.metrics.max_series == 0 {
            return;
        }
        let mut busiest: Vec<(&String, &KeyState)> = self.table.keys.iter().collect();
        busiest.sort_by(|a, b| b.1.rates[NORMAL].total_cmp(&a.1.rates[NORMAL]).then(a.0.cmp(b.0)));
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
            m.series[key].set(s.probabilities[NORMAL]);
        }
    }
}

/// Water-filling over `(rate, weight)` entries: finds λ with Σ min(rate, λ·weight) = `budget`
/// and gives each entry p = min(1, λ·weight / rate). Returns the probabilities and the
/// expected kept rate.
fn water_fill(entries: &[(f64, f64)], budget: f64) -> (Vec<f64>, f64) {
    let mut ps = vec![1.0; entries.len()];
    let total: f64 = entries.iter().map(|(r, _)| r).sum();
    if total <= budget {
        return (ps, total);
    }
    let mut order: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].0 > 0.0).collect();
    order.sort_by(|&a, &b| (entries[a].0 / entries[a].1).total_cmp(&(entries[b].0 / entries[b].1)));
    let mut left = budget;
    let mut weights: f64 = order.iter().map(|&i| entries[i].1).sum();
    for (n, &i) in order.iter().enumerate() {
        let (r, w) = entries[i];
        let level = left / weights;
        if r / w <= level {
            // Below the water line: kept whole.
            left -= r;
            weights -= w;
        } else {
            for &j in &order[n..] {
                let (rj, wj) = entries[j];
                ps[j] = (level * wj / rj).min(1.0);
            }
            break;
        }
    }
    (ps, budget)
}

/// A key's weight in the water-filling: max(1, log10 rate).
fn weight(rate: f64) -> f64 {
    rate.log10().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(rates: &[f64], budget: f64) -> Vec<f64> {
        let entries: Vec<(f64, f64)> = rates.iter().map(|&r| (r, weight(r))).collect();
        water_fill(&entries, budget).0
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
        s.decay_and_update(0.99, 0.99);
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
