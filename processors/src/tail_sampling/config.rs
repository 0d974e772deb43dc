//! `tail_sampling` settings, with the Collector's keys and defaults plus weir's byte budget.
//!
//! A policy is `{name, type, <type>: {...}}` as in the Collector: [`PolicyConfig`] has one
//! optional section per policy type and `type` says which one applies. Sections of other types
//! are ignored, as the Collector ignores them.

use serde::Deserialize;
use std::time::Duration;
use weir_core::ComponentConfig;

/// Every policy type weir accepts, in the order the Collector's README lists them.
pub const POLICY_TYPES: &[&str] = &[
    "always_sample",
    "latency",
    "numeric_attribute",
    "probabilistic",
    "status_code",
    "string_attribute",
    "rate_limiting",
    "bytes_limiting",
    "span_count",
    "trace_state",
    "boolean_attribute",
    "and",
    "not",
    "drop",
    "composite",
    "adaptive",
    "ottl_condition",
];

/// Settings of the `tail_sampling` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSamplingConfig {
    /// Time from the first span of a trace to its decision. Default `30s`. Spans of the trace
    /// arriving later are late spans (see `decision_cache`).
    #[serde(with = "weir_core::config::duration")]
    pub decision_wait: Duration,

    /// Decide this long after the root span (a span without parent) arrived, if that is
    /// earlier than `decision_wait` after the first span. Unset (default): only `decision_wait`
    /// applies. `0s` decides as soon as the root span is in.
    #[serde(with = "optional_duration")]
    pub decision_wait_after_root_received: Option<Duration>,

    /// Maximum number of traces held while waiting for their decision. Default 50000. When a
    /// new trace would exceed it, the oldest held trace is decided at once (trigger
    /// `eviction`); no trace is dropped undecided.
    pub num_traces: usize,

    /// Weir's byte budget for the whole buffer (all shards together): the received requests
    /// that buffered spans point into, each counted once, whole, until the last trace with a
    /// span in it is decided, plus weir's bookkeeping per trace and span. When a request takes
    /// the buffer past it, the oldest traces are decided at once (trigger `eviction`) until it
    /// fits. Default 256 MiB; `0` means no byte budget (only `num_traces` applies).
    pub max_buffer_bytes: usize,

    /// A trace whose buffered bytes reach this is decided at once (trigger `trace_size`)
    /// instead of waiting; its later spans are late spans. Default `0`: no limit. (The
    /// Collector drops such a trace; weir decides it.)
    pub maximum_trace_size_bytes: usize,

    /// Only pre-sizes the trace table. Default `0`.
    pub expected_new_traces_per_sec: usize,

    /// Number of hash shards of the trace buffer. Default 1. Budgets (`num_traces`,
    /// `max_buffer_bytes`) are divided evenly between shards, and eviction takes the oldest
    /// trace of the shard that is full.
    pub num_shards: usize,

    /// Remembered decisions for late spans.
    pub decision_cache: DecisionCacheConfig,

    /// Write `sampling.policy` (the policy that sampled the trace) and `sampling.trigger`
    /// (what made the decision happen: `decision_wait`, `root_received`, `trace_size`,
    /// `eviction`, `shutdown`) as attributes of every kept span. Default `false`.
    pub decision_attributes: bool,

    /// Evaluate top-level policies only up to the first one that samples. Default `false`.
    pub sample_on_first_match: bool,

    /// The policies, evaluated in order. At least one is required.
    pub policies: Vec<PolicyConfig>,
}

impl Default for TailSamplingConfig {
    fn default() -> Self {
        TailSamplingConfig {
            decision_wait: Duration::from_secs(30),
            decision_wait_after_root_received: None,
            num_traces: 50_000,
            max_buffer_bytes: 256 << 20,
            maximum_trace_size_bytes: 0,
            expected_new_traces_per_sec: 0,
            num_shards: 1,
            decision_cache: DecisionCacheConfig::default(),
            decision_attributes: false,
            sample_on_first_match: false,
            policies: Vec::new(),
        }
    }
}

/// `decision_cache`: trace ids whose decision is remembered after their spans left the buffer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCacheConfig {
    /// Trace ids of kept traces remembered (oldest forgotten first), so their late spans are
    /// forwarded at once. Default `0`: the last `num_traces` decisions are remembered, as the
    /// Collector remembers them in its trace ring.
    pub sampled_cache_size: usize,
    /// Trace ids of dropped traces remembered, so their late spans are dropped at once.
    /// Default `0`: the last `num_traces`, as above.
    pub non_sampled_cache_size: usize,
}

/// One policy: `name`, `type` and the section of that type.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Required; names the policy in metrics and in `sampling.policy`.
    pub name: String,
    /// Required; one of [`POLICY_TYPES`].
    #[serde(rename = "type")]
    pub policy_type: String,
    pub latency: Option<LatencyConfig>,
    pub numeric_attribute: Option<NumericAttributeConfig>,
    pub probabilistic: Option<ProbabilisticConfig>,
    pub status_code: Option<StatusCodeConfig>,
    pub string_attribute: Option<StringAttributeConfig>,
    pub rate_limiting: Option<RateLimitingConfig>,
    pub bytes_limiting: Option<BytesLimitingConfig>,
    pub span_count: Option<SpanCountConfig>,
    pub trace_state: Option<TraceStateConfig>,
    pub boolean_attribute: Option<BooleanAttributeConfig>,
    pub and: Option<AndConfig>,
    pub not: Option<NotConfig>,
    pub drop: Option<DropConfig>,
    pub composite: Option<CompositeConfig>,
    pub adaptive: Option<AdaptiveConfig>,
    pub ottl_condition: Option<OttlConditionConfig>,
}

/// `ottl_condition`: samples a trace when any span matches any `span` condition or any span
/// event matches any `spanevent` condition (OTTL, span and spanevent contexts; paths may omit
/// the context's name). `error_mode` (default `propagate`): a condition that fails makes the
/// policy's result not sampled under `propagate`; under `ignore` (logged) and `silent` the
/// failing condition counts as false and the others are still tried.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OttlConditionConfig {
    pub error_mode: weir_ottl::ErrorMode,
    pub span: Vec<weir_ottl::Source>,
    pub spanevent: Vec<weir_ottl::Source>,
}

impl Default for OttlConditionConfig {
    fn default() -> Self {
        OttlConditionConfig { error_mode: weir_ottl::ErrorMode::Propagate, span: Vec::new(), spanevent: Vec::new() }
    }
}

impl OttlConditionConfig {
    /// The compiled `span` and `spanevent` conditions; the error names the condition and its
    /// line and column.
    pub(crate) fn compile(&self) -> Result<(weir_ottl::Conditions, weir_ottl::Conditions), String> {
        let one = |key: &str, sources: &[weir_ottl::Source], ctx| {
            let texts: Vec<String> = sources.iter().map(|s| s.text.clone()).collect();
            weir_ottl::Conditions::compile(&texts, ctx, self.error_mode)
                .map_err(|(i, e)| format!("ottl_condition.{key}[{i}]: {}", sources[i].describe(&e)))
        };
        Ok((
            one("span", &self.span, weir_ottl::ContextKind::Span)?,
            one("spanevent", &self.spanevent, weir_ottl::ContextKind::SpanEvent)?,
        ))
    }
}

/// `adaptive` (weir's own): holds an output budget in spans per second. Every trace gets a key
/// (by default service, root span name and status class); a rate table gives each key a
/// sampling probability by water-filling the budget over the keys' recent rates, so rare keys
/// keep everything and frequent keys absorb the cut. Priority traces (errors, latency
/// outliers, an explicit attribute) come first and take what they need of the budget, up to
/// `priority.max_share`. Decisions are consistent (keep iff R ≥ T) and every kept span carries `ot=th`.
/// See the `adaptive` module for the algorithm.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConfig {
    /// Required: the budget, in kept spans per second, priority traffic and late spans
    /// included.
    pub target_spans_per_sec: f64,
    /// The fields whose values make a trace's key, joined in order. Each is one of:
    /// `resource.<attribute>` (of the root span's resource), `root.<attribute>` (of the root
    /// span), `span.<attribute>` (the first span that has it), `root.name`, `root.kind`,
    /// `status_class` (`error` when any span has status ERROR, else `ok`). The root span is
    /// the span without a parent, or the earliest span when it has not arrived. Default
    /// `[resource.service.name, root.name, status_class]`.
    pub key_fields: Vec<String>,
    /// Most keys tracked at once. Traces of further keys share one key, `(overflow)`, which
    /// is budgeted like any other: overflow traffic cannot escape the budget. Keys idle for
    /// 5 minutes are forgotten. Default 1000.
    pub max_keys: usize,
    /// How often the rate table is recomputed from the last interval's counts. Default `1s`.
    #[serde(with = "weir_core::config::duration")]
    pub adjustment_interval: std::time::Duration,
    /// Weight of the newest interval in each key's rate (an exponential moving average).
    /// Lower is steadier; changes of load restart the averages, so they are followed anyway
    /// (see the `adaptive` module). Default 0.1.
    pub ema_weight: f64,
    /// Every key with traffic keeps at least one trace per window of this length: a key with
    /// no kept trace yet in the current window keeps its next trace with probability 1
    /// (`th:0`). Default `60s`; `0s` turns it off.
    #[serde(with = "weir_core::config::duration")]
    pub coverage_interval: std::time::Duration,
    /// What makes a trace a priority trace, and the ceiling of the budget they may take.
    pub priority: PriorityConfig,
    /// How many keys (the busiest) get a `key_probability` metric series. Default 20.
    pub metrics_max_keys: usize,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            target_spans_per_sec: 0.0,
            key_fields: ["resource.service.name", "root.name", "status_class"].map(String::from).to_vec(),
            max_keys: 1000,
            adjustment_interval: Duration::from_secs(1),
            ema_weight: 0.1,
            coverage_interval: Duration::from_secs(60),
            priority: PriorityConfig::default(),
            metrics_max_keys: 20,
        }
    }
}

/// `adaptive.priority`: what makes a trace critical, and how much of the budget critical traces
/// may take.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityConfig {
    /// Traces with a span of status ERROR are priority traces. Default `true`. Also keeps a
    /// late ERROR span of a dropped trace (with `th:0`).
    pub errors: bool,
    /// Relative slowness: traces longer than this quantile of their key's recent durations
    /// are priority traces (a streaming, decaying histogram per key with a ~100 s memory; it
    /// applies once the key has had 20 traces, and 1 / (1 − q) for high quantiles). It catches
    /// a trace that is slow *for its operation*. Default 0.99; 0 turns it off.
    pub latency_quantile: f64,
    /// Absolute slowness: traces longer than this are priority traces whatever their key's
    /// usual duration, so an operation that is slow all the time (whose p99 is itself slow)
    /// still has its slow traces kept. Default `1s`; `0s` turns it off. A trace is a latency
    /// outlier when it is over either threshold.
    #[serde(with = "weir_core::config::duration")]
    pub latency_threshold: Duration,
    /// Absolute thresholds for single keys, replacing `latency_threshold` for them: the key
    /// as `weir simulate` and the `key_probability` metric print it (the `key_fields` values
    /// joined with ` • `, e.g. `checkout • POST /cart • ok`) → a duration (`0s`: no absolute
    /// threshold for that key). Default empty.
    #[serde(with = "duration_map")]
    pub latency_thresholds: std::collections::BTreeMap<String, Duration>,
    /// Traces with this attribute (on a span or resource) are priority traces.
    pub attribute: Option<PriorityAttributeConfig>,
    /// The ceiling: the largest share of the budget (0 to 1) that priority traces may take.
    /// Below it priority takes what it needs — every priority trace is kept — and the other
    /// traces get the rest, which keeps every key represented. When priority traffic alone
    /// is above it, priority traces are themselves sampled, consistently and with `th`:
    /// errors (and the attribute) first, latency outliers from what errors leave, each
    /// water-filled over its keys. Default 0.9. (`reserved_share`, its former name, is
    /// accepted.)
    #[serde(alias = "reserved_share")]
    pub max_share: f64,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        PriorityConfig {
            errors: true,
            latency_quantile: 0.99,
            latency_threshold: Duration::from_secs(1),
            latency_thresholds: Default::default(),
            attribute: None,
            max_share: 0.9,
        }
    }
}

/// `adaptive.priority.attribute`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityAttributeConfig {
    pub key: String,
    /// String values that make the trace a priority trace; empty: any value.
    pub values: Vec<String>,
}

/// `latency`: trace duration (latest end − earliest start) against bounds, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    /// Without an upper bound, sample when duration ≥ this.
    pub threshold_ms: u64,
    /// `0`: no upper bound. Otherwise sample when `threshold_ms` < duration ≤ this.
    pub upper_threshold_ms: u64,
}

/// `numeric_attribute`: an integer span or resource attribute in `[min_value, max_value]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumericAttributeConfig {
    pub key: String,
    /// Unset: no lower bound. At least one bound is required.
    pub min_value: Option<i64>,
    /// Unset: no upper bound.
    pub max_value: Option<i64>,
    /// Deprecated in the Collector (use `drop`/`not`): a match means "do not sample".
    pub invert_match: bool,
}

/// `probabilistic`: a consistent share of traces, by the trace's randomness.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticConfig {
    /// Percentage of traces to sample, 0–100 (≥ 100 samples all).
    pub sampling_percentage: f64,
    /// Accepted for compatibility and ignored: weir uses the trace id's 56 random bits (or
    /// `ot=rv`), so every stage agrees, instead of a salted hash.
    pub hash_salt: String,
}

impl Default for ProbabilisticConfig {
    fn default() -> Self {
        ProbabilisticConfig { sampling_percentage: 0.0, hash_salt: "default-hash-seed".into() }
    }
}

/// `status_code`: any span with one of these status codes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusCodeConfig {
    /// `OK`, `ERROR` and/or `UNSET`.
    pub status_codes: Vec<String>,
}

/// `string_attribute`: a string span or resource attribute equal to (or matching) a value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StringAttributeConfig {
    pub key: String,
    pub values: Vec<String>,
    /// Treat `values` as regular expressions (anchored neither at start nor end).
    pub enabled_regex_matching: bool,
    /// Number of attribute values whose regex result is remembered. Default 0 (weir then
    /// remembers up to 128 values; the cache is cleared when full).
    pub cache_max_size: usize,
    /// Deprecated in the Collector: a match means "do not sample"; a missing key samples.
    pub invert_match: bool,
}

/// `rate_limiting`: about this many spans per second on average (whole traces), as a
/// consistent random subset: p = min(1, limit / measured span rate), kept iff R ≥ T(p).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitingConfig {
    pub spans_per_second: u64,
}

/// `bytes_limiting`: about this many span bytes per second on average, as a consistent random
/// subset (as `rate_limiting`, measured in the spans' wire bytes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BytesLimitingConfig {
    /// Required, > 0.
    pub bytes_per_second: u64,
    /// Default 2 × `bytes_per_second`. The byte rate is averaged over
    /// `burst_capacity / bytes_per_second` seconds (the time a full bucket lasts), so a
    /// larger value lets short bursts through before p falls.
    pub burst_capacity: u64,
}

/// `span_count`: the trace's span count in `[min_spans, max_spans]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanCountConfig {
    pub min_spans: u64,
    /// `0`: no maximum.
    pub max_spans: u64,
}

/// `trace_state`: any span's W3C tracestate has `key` with one of `values`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceStateConfig {
    pub key: String,
    pub values: Vec<String>,
}

/// `boolean_attribute`: a boolean span or resource attribute equal to `value`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BooleanAttributeConfig {
    pub key: String,
    pub value: bool,
    pub invert_match: bool,
}

/// `and`: every sub-policy must sample.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AndConfig {
    pub and_sub_policy: Vec<PolicyConfig>,
}

/// `not`: inverts the sampled / not-sampled result of one policy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotConfig {
    pub not_sub_policy: Option<Box<PolicyConfig>>,
}

/// `drop`: when every sub-policy samples, the trace is dropped, whatever other policies say.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropConfig {
    pub drop_sub_policy: Vec<PolicyConfig>,
}

/// `composite`: sub-policies in order, each with a share of a spans-per-second budget; the
/// first sub-policy that samples (and has a share) keeps the trace with the probability that
/// holds it to its share.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompositeConfig {
    pub max_total_spans_per_second: u64,
    /// Names of the sub-policies, in evaluation order; every sub-policy must be listed.
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    pub rate_allocation: Vec<RateAllocationConfig>,
}

/// One `composite.rate_allocation` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateAllocationConfig {
    pub policy: String,
    /// Percent of `max_total_spans_per_second` this sub-policy may sample.
    pub percent: u64,
}

/// Reads a map of names to durations (`{key: 250ms}`).
mod duration_map {
    use serde::{Deserialize, Deserializer};
    use std::collections::BTreeMap;
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "weir_core::config::duration")] Duration);
        Ok(BTreeMap::<String, Wrap>::deserialize(d)?.into_iter().map(|(k, w)| (k, w.0)).collect())
    }
}

/// Reads an optional duration (`null` or absent → `None`).
mod optional_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "weir_core::config::duration")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

impl ComponentConfig for TailSamplingConfig {
    fn validate(&self) -> Result<(), String> {
        if self.decision_wait.is_zero() {
            return Err("decision_wait must be greater than zero".into());
        }
        if self.num_traces == 0 {
            return Err("num_traces must be greater than zero".into());
        }
        if self.num_shards == 0 {
            return Err("num_shards must be at least 1".into());
        }
        if self.num_shards > self.num_traces {
            return Err("num_shards must not exceed num_traces".into());
        }
        if self.policies.is_empty() {
            return Err("policies: at least one policy is required".into());
        }
        validate_policies(&self.policies, "policies", 0)
    }
}

/// How deeply `and`/`not`/`drop`/`composite` may nest.
const MAX_DEPTH: usize = 4;

fn validate_policies(policies: &[PolicyConfig], at: &str, depth: usize) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for (i, p) in policies.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if p.name.is_empty() {
            return Err(format!("{here}: name is required"));
        }
        if !names.insert(p.name.as_str()) {
            return Err(format!("{here}: duplicate policy name {:?}; policy names must be unique", p.name));
        }
        validate_policy(p, &format!("{here} ({:?})", p.name), depth)?;
    }
    Ok(())
}

fn section<'a, T>(s: &'a Option<T>, at: &str, ty: &str) -> Result<&'a T, String> {
    s.as_ref().ok_or_else(|| format!("{at}: type {ty} needs a `{ty}:` section"))
}

pub(crate) fn validate_policy(p: &PolicyConfig, at: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: policies nest deeper than {MAX_DEPTH} levels"));
    }
    let ty = p.policy_type.as_str();
    match ty {
        "always_sample" => {}
        "latency" => {
            let c = section(&p.latency, at, ty)?;
            if c.upper_threshold_ms != 0 && c.upper_threshold_ms <= c.threshold_ms {
                return Err(format!("{at}: latency.upper_threshold_ms must be greater than threshold_ms (or 0)"));
            }
        }
        "numeric_attribute" => {
            let c = section(&p.numeric_attribute, at, ty)?;
            if c.key.is_empty() {
                return Err(format!("{at}: numeric_attribute.key is required"));
            }
            match (c.min_value, c.max_value) {
                (None, None) => {
                    return Err(format!("{at}: numeric_attribute needs min_value, max_value or both"));
                }
                (Some(lo), Some(hi)) if lo > hi => {
                    return Err(format!("{at}: numeric_attribute.min_value must not exceed max_value"));
                }
                _ => {}
            }
        }
        "probabilistic" => {
            let c = section(&p.probabilistic, at, ty)?;
            if c.sampling_percentage.is_nan() || c.sampling_percentage < 0.0 {
                return Err(format!("{at}: probabilistic.sampling_percentage must be between 0 and 100"));
            }
        }
        "status_code" => {
            let c = section(&p.status_code, at, ty)?;
            if c.status_codes.is_empty() {
                return Err(format!("{at}: status_code.status_codes must list at least one of OK, ERROR, UNSET"));
            }
            for s in &c.status_codes {
                if !matches!(s.as_str(), "OK" | "ERROR" | "UNSET") {
                    return Err(format!("{at}: unknown status code {s:?}; use OK, ERROR or UNSET"));
                }
            }
        }
        "string_attribute" => {
            let c = section(&p.string_attribute, at, ty)?;
            if c.key.is_empty() {
                return Err(format!("{at}: string_attribute.key is required"));
            }
            if c.enabled_regex_matching {
                for v in &c.values {
                    regex::Regex::new(v)
                        .map_err(|e| format!("{at}: string_attribute.values: invalid regular expression {v:?}: {e}"))?;
                }
            }
        }
        "rate_limiting" => {
            let c = section(&p.rate_limiting, at, ty)?;
            if c.spans_per_second == 0 {
                return Err(format!("{at}: rate_limiting.spans_per_second must be greater than zero"));
            }
        }
        "bytes_limiting" => {
            let c = section(&p.bytes_limiting, at, ty)?;
            if c.bytes_per_second == 0 {
                return Err(format!("{at}: bytes_limiting.bytes_per_second must be greater than zero"));
            }
        }
        "span_count" => {
            let c = section(&p.span_count, at, ty)?;
            if c.max_spans != 0 && c.max_spans < c.min_spans {
                return Err(format!("{at}: span_count.max_spans must be 0 or at least min_spans"));
            }
        }
        "trace_state" => {
            let c = section(&p.trace_state, at, ty)?;
            if c.key.is_empty() || c.values.is_empty() {
                return Err(format!("{at}: trace_state needs a key and at least one value"));
            }
        }
        "boolean_attribute" => {
            let c = section(&p.boolean_attribute, at, ty)?;
            if c.key.is_empty() {
                return Err(format!("{at}: boolean_attribute.key is required"));
            }
        }
        "and" => {
            let c = section(&p.and, at, ty)?;
            if c.and_sub_policy.is_empty() {
                return Err(format!("{at}: and.and_sub_policy must list at least one policy"));
            }
            validate_policies(&c.and_sub_policy, &format!("{at}.and_sub_policy"), depth + 1)?;
        }
        "not" => {
            let c = section(&p.not, at, ty)?;
            let sub = c.not_sub_policy.as_ref().ok_or_else(|| format!("{at}: not.not_sub_policy is required"))?;
            if sub.name.is_empty() {
                return Err(format!("{at}.not_sub_policy: name is required"));
            }
            validate_policy(sub, &format!("{at}.not_sub_policy"), depth + 1)?;
        }
        "drop" => {
            let c = section(&p.drop, at, ty)?;
            if c.drop_sub_policy.is_empty() {
                return Err(format!("{at}: drop.drop_sub_policy must list at least one policy"));
            }
            validate_policies(&c.drop_sub_policy, &format!("{at}.drop_sub_policy"), depth + 1)?;
        }
        "composite" => {
            let c = section(&p.composite, at, ty)?;
            if c.max_total_spans_per_second == 0 {
                return Err(format!("{at}: composite.max_total_spans_per_second must be greater than zero"));
            }
            if c.composite_sub_policy.is_empty() {
                return Err(format!("{at}: composite.composite_sub_policy must list at least one policy"));
            }
            validate_policies(&c.composite_sub_policy, &format!("{at}.composite_sub_policy"), depth + 1)?;
            for name in &c.policy_order {
                if !c.composite_sub_policy.iter().any(|s| &s.name == name) {
                    return Err(format!(
                        "{at}: composite.policy_order names {name:?}, which is not a composite_sub_policy"
                    ));
                }
            }
            let mut total = 0;
            for a in &c.rate_allocation {
                if !c.composite_sub_policy.iter().any(|s| s.name == a.policy) {
                    return Err(format!(
                        "{at}: composite.rate_allocation names {:?}, which is not a composite_sub_policy",
                        a.policy
                    ));
                }
                total += a.percent;
            }
            if total > 100 {
                return Err(format!("{at}: composite.rate_allocation percents add up to {total}, more than 100"));
            }
        }
        "adaptive" => {
            let c = section(&p.adaptive, at, ty)?;
            validate_adaptive(c).map_err(|e| format!("{at}: adaptive.{e}"))?;
        }
        "ottl_condition" => {
            let c = section(&p.ottl_condition, at, ty)?;
            if c.span.is_empty() && c.spanevent.is_empty() {
                return Err(format!("{at}: ottl_condition needs at least one span or spanevent condition"));
            }
            c.compile().map_err(|e| format!("{at}: {e}"))?;
        }
        "" => return Err(format!("{at}: type is required; valid types are {}", POLICY_TYPES.join(", "))),
        other => {
            return Err(format!("{at}: unknown policy type {other:?}; valid types are {}", POLICY_TYPES.join(", ")));
        }
    }
    Ok(())
}

fn validate_adaptive(c: &AdaptiveConfig) -> Result<(), String> {
    if !(c.target_spans_per_sec.is_finite() && c.target_spans_per_sec > 0.0) {
        return Err("target_spans_per_sec is required and must be greater than zero".into());
    }
    if c.key_fields.is_empty() {
        return Err("key_fields must list at least one field".into());
    }
    for f in &c.key_fields {
        crate::tail_sampling::adaptive::KeyField::parse(f).map_err(|e| format!("key_fields: {e}"))?;
    }
    if c.max_keys == 0 {
        return Err("max_keys must be at least 1".into());
    }
    if c.adjustment_interval < Duration::from_millis(100) {
        return Err("adjustment_interval must be at least 100ms".into());
    }
    if !(c.ema_weight > 0.0 && c.ema_weight <= 1.0) {
        return Err("ema_weight must be in (0, 1]".into());
    }
    let q = c.priority.latency_quantile;
    if !(0.0..1.0).contains(&q) {
        return Err("priority.latency_quantile must be in [0, 1) (0 turns latency priority off)".into());
    }
    if !(0.0..=1.0).contains(&c.priority.max_share) {
        return Err("priority.max_share (formerly reserved_share) must be between 0 and 1".into());
    }
    if c.priority.attribute.as_ref().is_some_and(|a| a.key.is_empty()) {
        return Err("priority.attribute.key is required".into());
    }
    Ok(())
}
