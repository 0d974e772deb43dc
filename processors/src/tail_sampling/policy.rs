//! Policies, built from their config, and the Collector's rule for combining their results.

use super::adaptive::{Adaptive, KeyField, TraceSummary, MISSING};
use super::buffer::{Trace, TraceId};
use super::config::PolicyConfig;
use regex::Regex;
use std::collections::{HashMap, HashSet};
use tokio::time::Instant;
use weir_core::pdata::views::{Attributes, SpanFields, SpanKind};
use weir_core::pdata::{AnyValue, AnyValueView, ResourceGroupView, ScopeGroupView, SpanView, WireError};
use weir_core::sampling as tracestate;

/// One policy's result, as the Collector names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Sampled,
    NotSampled,
    /// An `invert_match` policy whose condition did not match: sample (lowest precedence).
    InvertSampled,
    /// An `invert_match` policy whose condition matched: do not sample (overrides Sampled).
    InvertNotSampled,
    /// A `drop` policy matched: do not sample, whatever else says.
    Dropped,
}

impl Decision {
    pub(crate) fn is_sampled(self) -> bool {
        matches!(self, Decision::Sampled | Decision::InvertSampled)
    }

    /// Inside `and`, `drop` and `composite` inverted results count as plain ones (#36673).
    fn collapse(self) -> Decision {
        match self {
            Decision::InvertSampled => Decision::Sampled,
            Decision::InvertNotSampled => Decision::NotSampled,
            d => d,
        }
    }
}

/// A result with the consistent-probability threshold it implies for kept spans, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) decision: Decision,
    pub(crate) threshold: Option<u64>,
}

impl From<Decision> for Outcome {
    fn from(decision: Decision) -> Self {
        Outcome { decision, threshold: None }
    }
}

/// What a policy reads about a trace: its spans with their resources.
pub(crate) struct TraceFacts<'a> {
    pub(crate) id: TraceId,
    pub(crate) trace: &'a Trace,
}

impl<'a> TraceFacts<'a> {
    fn spans(&self) -> impl Iterator<Item = (usize, SpanView<'a>)> + 'a {
        let t = self.trace;
        t.spans.iter().map(move |s| (s.group as usize, SpanView::new(t.span_bytes(s))))
    }

    pub(crate) fn fields(&self) -> impl Iterator<Item = Result<SpanFields<'a>, WireError>> + 'a {
        self.spans().map(|(_, s)| s.fields())
    }

    fn resource_attributes(&self, group: usize) -> Result<Attributes<'a>, WireError> {
        Ok(ResourceGroupView::new(&self.trace.groups[group].resource).resource()?.attributes())
    }

    /// Whether a span or span event of the trace matches `c`, read in place. Under
    /// `propagate` a failing condition makes the result false (not sampled).
    fn ottl_matches(&self, policy: &str, c: &OttlCondition) -> Result<bool, WireError> {
        let mut stats = weir_ottl::RunStats::default();
        let mut found = false;
        for s in &self.trace.spans {
            let g = &self.trace.groups[s.group as usize];
            let resource = ResourceGroupView::new(&g.resource).resource()?.bytes();
            let scope = ScopeGroupView::new(&g.scope).scope()?.bytes();
            let bytes = self.trace.span_bytes(s);
            match weir_ottl::span_matches(&c.span, &c.spanevent, resource, scope, bytes, &mut stats) {
                Ok(true) => {
                    found = true;
                    break;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::debug!(message = "ottl_condition failed; the trace is not sampled by it.", policy, %error);
                    break;
                }
            }
        }
        if stats.log {
            tracing::warn!(
                message = "ottl_condition failed on some spans.",
                policy,
                errors = stats.errors,
                first = stats.first_error.as_deref().unwrap_or("")
            );
        }
        Ok(found)
    }

    pub(crate) fn span_count(&self) -> u64 {
        self.trace.spans.len() as u64
    }

    /// The trace's randomness R: `ot=rv` of the first span that carries one, else the low 56
    /// bits of the trace id.
    fn randomness(&self) -> Result<u64, WireError> {
        let mut ts = "";
        for f in self.fields() {
            let f = f?;
            if tracestate::ot_value(f.trace_state, "rv").is_some() {
                ts = f.trace_state;
                break;
            }
        }
        Ok(tracestate::randomness(&self.id, ts))
    }

    /// Keeps the trace iff R ≥ T(p), recording T for its spans (`ot=th`). `floor` is a
    /// threshold a sub-policy already required (the larger one is written).
    fn keep_with_probability(&self, p: f64, floor: Option<u64>) -> Result<Outcome, WireError> {
        let Some(th) = tracestate::threshold_for_probability(p) else { return Ok(Decision::NotSampled.into()) };
        let th = th.max(floor.unwrap_or(0));
        Ok(if self.randomness()? >= th {
            Outcome { decision: Decision::Sampled, threshold: Some(th) }
        } else {
            Decision::NotSampled.into()
        })
    }

    /// Whether `pred` holds for `key` in any resource or span attribute of the trace.
    fn any_attribute(&self, key: &str, mut pred: impl FnMut(AnyValueView<'a>) -> bool) -> Result<bool, WireError> {
        for g in 0..self.trace.groups.len() {
            if let Some(v) = self.resource_attributes(g)?.get(key)? {
                if pred(v) {
                    return Ok(true);
                }
            }
        }
        for (_, s) in self.spans() {
            if let Some(v) = s.attributes().get(key)? {
                if pred(v) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The summary the `adaptive` policy decides on.
    fn summary(&self, a: &Adaptive) -> Result<TraceSummary, WireError> {
        // The root span: the one without a parent, else the earliest.
        let mut root: Option<(usize, SpanView<'a>, SpanFields<'a>)> = None;
        let (mut error, mut start, mut end, mut incoming) = (false, u64::MAX, 0u64, None);
        for (g, s) in self.spans() {
            let f = s.fields()?;
            error |= f.status_code == 2;
            start = start.min(f.start_time_unix_nano);
            end = end.max(f.end_time_unix_nano);
            incoming = incoming.max(tracestate::incoming_threshold(f.trace_state));
            let is_root = f.parent_span_id.iter().all(|b| *b == 0);
            let better = match &root {
                None => true,
                Some((_, _, r)) => {
                    let r_is_root = r.parent_span_id.iter().all(|b| *b == 0);
                    (is_root && !r_is_root) || (is_root == r_is_root && f.start_time_unix_nano < r.start_time_unix_nano)
                }
            };
            if better {
                root = Some((g, s, f));
            }
        }
        let duration_ns = match &root {
            Some((_, _, r)) if r.parent_span_id.iter().all(|b| *b == 0) => {
                r.end_time_unix_nano.saturating_sub(r.start_time_unix_nano)
            }
            _ => end.saturating_sub(start),
        };
        let mut key = Vec::with_capacity(a.fields.len());
        for field in &a.fields {
            let value = match (field, &root) {
                (KeyField::StatusClass, _) => Some(if error { "error" } else { "ok" }.to_string()),
                (_, None) => None,
                (KeyField::RootName, Some((_, _, r))) => Some(r.name.to_string()),
                (KeyField::RootKind, Some((_, _, r))) => Some(format!("{:?}", SpanKind::from_i32(r.kind))),
                (KeyField::Resource(attr), Some((g, _, _))) => {
                    self.resource_attributes(*g)?.get(attr)?.map(value_string)
                }
                (KeyField::Root(attr), Some((_, s, _))) => s.attributes().get(attr)?.map(value_string),
                (KeyField::Span(attr), Some(_)) => {
                    let mut found = None;
                    for (_, s) in self.spans() {
                        if let Some(v) = s.attributes().get(attr)? {
                            found = Some(value_string(v));
                            break;
                        }
                    }
                    found
                }
            };
            key.push(value.unwrap_or_else(|| MISSING.to_string()));
        }
        let marked = match a.priority_attribute() {
            Some(pa) => self.any_attribute(&pa.key, |v| {
                pa.values.is_empty() || v.as_str().is_some_and(|s| pa.values.iter().any(|x| x == s))
            })?,
            None => false,
        };
        Ok(TraceSummary {
            key,
            spans: self.trace.spans.len() as u32,
            error,
            duration_ns,
            marked,
            randomness: self.randomness()?,
            incoming_threshold: incoming,
        })
    }

    fn duration_nanos(&self) -> Result<u64, WireError> {
        let (mut start, mut end) = (u64::MAX, 0u64);
        for f in self.fields() {
            let f = f?;
            start = start.min(f.start_time_unix_nano);
            end = end.max(f.end_time_unix_nano);
        }
        Ok(end.saturating_sub(start))
    }
}

/// An attribute value as a key part: strings as they are, other types in decimal or JSON-ish
/// form.
fn value_string(v: AnyValueView<'_>) -> String {
    match v.get() {
        Ok(AnyValue::String(s)) => s.to_string(),
        Ok(AnyValue::Bool(b)) => b.to_string(),
        Ok(AnyValue::Int(i)) => i.to_string(),
        Ok(AnyValue::Double(d)) => d.to_string(),
        Ok(AnyValue::Empty) => String::new(),
        Ok(_) | Err(_) => "<complex>".to_string(),
    }
}

/// Plain or inverted result of an attribute condition, as the Collector gives it.
fn matched(found: bool, invert: bool) -> Decision {
    match (invert, found) {
        (false, true) => Decision::Sampled,
        (false, false) => Decision::NotSampled,
        (true, true) => Decision::InvertNotSampled,
        (true, false) => Decision::InvertSampled,
    }
}

/// A built policy.
pub(crate) struct Policy {
    pub(crate) name: String,
    kind: Kind,
}

enum Kind {
    AlwaysSample,
    Latency { threshold_ns: u64, upper_ns: u64 },
    Numeric { key: String, min: i64, max: i64, invert: bool },
    Probabilistic { threshold: Option<u64> },
    StatusCode { codes: [bool; 3] },
    StringAttribute(Box<StringAttribute>),
    RateLimiting(RateMeter),
    BytesLimiting(RateMeter),
    SpanCount { min: u64, max: u64 },
    TraceState { key: String, values: HashSet<String> },
    Boolean { key: String, value: bool, invert: bool },
    And(Vec<Policy>),
    Not(Box<Policy>),
    Drop(Vec<Policy>),
    Composite(Composite),
    Adaptive(Box<Adaptive>),
    Ottl(Box<OttlCondition>),
}

/// `ottl_condition`: compiled `span` and `spanevent` conditions.
struct OttlCondition {
    span: weir_ottl::Conditions,
    spanevent: weir_ottl::Conditions,
}

struct StringAttribute {
    key: String,
    values: HashSet<String>,
    regexes: Vec<Regex>,
    cache: HashMap<String, bool>,
    cache_max: usize,
    invert: bool,
}

impl StringAttribute {
    fn matches(&mut self, v: &str) -> bool {
        if self.regexes.is_empty() {
            return self.values.contains(v);
        }
        if let Some(&m) = self.cache.get(v) {
            return m;
        }
        let m = self.regexes.iter().any(|r| r.is_match(v));
        if self.cache.len() >= self.cache_max {
            self.cache.clear();
        }
        self.cache.insert(v.to_string(), m);
        m
    }
}

struct Composite {
    /// Sub-policies in `policy_order`, each measuring the spans offered to it against its
    /// spans-per-second budget (`None`: a budget of 0, the sub-policy never samples).
    subs: Vec<(Policy, Option<RateMeter>)>,
    /// The spans the sub-policies would keep, against `max_total_spans_per_second`.
    total: RateMeter,
}

/// When the policies are evaluated.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: Instant,
}

/// The rate offered to a rate-based policy, and the sampling probability that keeps `limit`
/// per second of it on average.
///
/// The rate is an exponentially decaying sum of what was offered (spans or bytes of the
/// traces evaluated), with time constant `window`: under a steady rate r it settles at
/// r × window, and it depends only on what arrived when, so two processors fed the same
/// traces compute the same probabilities. The probability is p = min(1, limit × window /
/// sum), taken after adding the trace itself, so a sudden burst lowers p at once.
#[derive(Debug, Clone)]
pub(crate) struct RateMeter {
    /// Per second.
    limit: f64,
    /// Seconds.
    window: f64,
    sum: f64,
    last: Option<Instant>,
}

impl RateMeter {
    pub(crate) fn new(limit: f64, window: f64) -> Self {
        RateMeter { limit, window: window.max(1e-3), sum: 0.0, last: None }
    }

    /// Records `amount` offered at `now`; the probability to keep it with.
    pub(crate) fn offer(&mut self, now: Instant, amount: f64) -> f64 {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.sum *= (-dt / self.window).exp();
        }
        self.last = Some(now);
        self.sum += amount;
        let allowed = self.limit * self.window;
        if self.sum <= allowed {
            1.0
        } else {
            allowed / self.sum
        }
    }
}

impl Policy {
    /// Builds a validated policy config (see `config::validate_policy`).
    pub(crate) fn build(c: &PolicyConfig) -> Result<Policy, String> {
        let missing = || format!("policy {:?}: missing `{}:` section", c.name, c.policy_type);
        let kind = match c.policy_type.as_str() {
            "always_sample" => Kind::AlwaysSample,
            "latency" => {
                let l = c.latency.as_ref().ok_or_else(missing)?;
                Kind::Latency { threshold_ns: l.threshold_ms * 1_000_000, upper_ns: l.upper_threshold_ms * 1_000_000 }
            }
            "numeric_attribute" => {
                let n = c.numeric_attribute.as_ref().ok_or_else(missing)?;
                Kind::Numeric {
                    key: n.key.clone(),
                    min: n.min_value.unwrap_or(i64::MIN),
                    max: n.max_value.unwrap_or(i64::MAX),
                    invert: n.invert_match,
                }
            }
            "probabilistic" => {
                let p = c.probabilistic.as_ref().ok_or_else(missing)?;
                Kind::Probabilistic { threshold: tracestate::threshold_for_percentage(p.sampling_percentage) }
            }
            "status_code" => {
                let s = c.status_code.as_ref().ok_or_else(missing)?;
                let mut codes = [false; 3];
                for code in &s.status_codes {
                    match code.as_str() {
                        "UNSET" => codes[0] = true,
                        "OK" => codes[1] = true,
                        "ERROR" => codes[2] = true,
                        other => return Err(format!("unknown status code {other:?}")),
                    }
                }
                Kind::StatusCode { codes }
            }
            "string_attribute" => {
                let s = c.string_attribute.as_ref().ok_or_else(missing)?;
                let regexes = if s.enabled_regex_matching {
                    s.values.iter().map(|v| Regex::new(v).map_err(|e| e.to_string())).collect::<Result<_, _>>()?
                } else {
                    Vec::new()
                };
                Kind::StringAttribute(Box::new(StringAttribute {
                    key: s.key.clone(),
                    values: s.values.iter().cloned().collect(),
                    regexes,
                    cache: HashMap::new(),
                    cache_max: if s.cache_max_size == 0 { 128 } else { s.cache_max_size },
                    invert: s.invert_match,
                }))
            }
            "rate_limiting" => {
                let r = c.rate_limiting.as_ref().ok_or_else(missing)?;
                Kind::RateLimiting(RateMeter::new(r.spans_per_second as f64, 1.0))
            }
            "bytes_limiting" => {
                let b = c.bytes_limiting.as_ref().ok_or_else(missing)?;
                let rate = b.bytes_per_second as f64;
                let burst = if b.burst_capacity == 0 { 2.0 * rate } else { b.burst_capacity as f64 };
                // The rate is averaged over the time a full bucket lasts at the rate.
                Kind::BytesLimiting(RateMeter::new(rate, burst / rate))
            }
            "span_count" => {
                let s = c.span_count.as_ref().ok_or_else(missing)?;
                Kind::SpanCount { min: s.min_spans, max: if s.max_spans == 0 { u64::MAX } else { s.max_spans } }
            }
            "trace_state" => {
                let t = c.trace_state.as_ref().ok_or_else(missing)?;
                Kind::TraceState { key: t.key.clone(), values: t.values.iter().cloned().collect() }
            }
            "boolean_attribute" => {
                let b = c.boolean_attribute.as_ref().ok_or_else(missing)?;
                Kind::Boolean { key: b.key.clone(), value: b.value, invert: b.invert_match }
            }
            "ottl_condition" => {
                let (span, spanevent) = c.ottl_condition.as_ref().ok_or_else(missing)?.compile()?;
                Kind::Ottl(Box::new(OttlCondition { span, spanevent }))
            }
            "and" => Kind::And(build_all(&c.and.as_ref().ok_or_else(missing)?.and_sub_policy)?),
            "drop" => Kind::Drop(build_all(&c.drop.as_ref().ok_or_else(missing)?.drop_sub_policy)?),
            "not" => {
                let sub = c.not.as_ref().and_then(|n| n.not_sub_policy.as_ref()).ok_or_else(missing)?;
                Kind::Not(Box::new(Policy::build(sub)?))
            }
            "composite" => {
                let k = c.composite.as_ref().ok_or_else(missing)?;
                // Order: `policy_order` first, then any sub-policy it does not name.
                let mut ordered: Vec<&PolicyConfig> = k
                    .policy_order
                    .iter()
                    .filter_map(|n| k.composite_sub_policy.iter().find(|s| &s.name == n))
                    .collect();
                for s in &k.composite_sub_policy {
                    if !ordered.iter().any(|o| o.name == s.name) {
                        ordered.push(s);
                    }
                }
                // As the Collector: an allocation with a percent gets that share, one without
                // a percent an equal share, and a sub-policy not allocated at all gets an equal
                // share when there are no allocations (otherwise none).
                let equal = k.max_total_spans_per_second / k.composite_sub_policy.len() as u64;
                let budget = |name: &str| -> u64 {
                    if k.rate_allocation.is_empty() {
                        return equal;
                    }
                    match k.rate_allocation.iter().find(|a| a.policy == name) {
                        Some(a) if a.percent > 0 => k.max_total_spans_per_second * a.percent / 100,
                        Some(_) => equal,
                        None => 0,
                    }
                };
                let subs = ordered
                    .into_iter()
                    .map(|s| {
                        let b = budget(&s.name);
                        Ok((Policy::build(s)?, (b > 0).then(|| RateMeter::new(b as f64, 1.0))))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Kind::Composite(Composite { subs, total: RateMeter::new(k.max_total_spans_per_second as f64, 1.0) })
            }
            "adaptive" => Kind::Adaptive(Box::new(Adaptive::new(&c.name, c.adaptive.as_ref().ok_or_else(missing)?)?)),
            other => return Err(format!("unknown policy type {other:?}")),
        };
        Ok(Policy { name: c.name.clone(), kind })
    }

    /// Evaluates the policy on the trace as buffered so far.
    pub(crate) fn evaluate(&mut self, t: &TraceFacts<'_>, clock: Clock) -> Result<Outcome, WireError> {
        let d = match &mut self.kind {
            Kind::AlwaysSample => Decision::Sampled,
            Kind::Latency { threshold_ns, upper_ns } => {
                let d = t.duration_nanos()?;
                let hit = if *upper_ns == 0 { d >= *threshold_ns } else { d > *threshold_ns && d <= *upper_ns };
                matched(hit, false)
            }
            Kind::Numeric { key, min, max, invert } => {
                let (lo, hi) = (*min, *max);
                matched(t.any_attribute(key, |v| v.as_i64().is_some_and(|i| lo <= i && i <= hi))?, *invert)
            }
            Kind::Probabilistic { threshold } => {
                let Some(th) = *threshold else { return Ok(Decision::NotSampled.into()) };
                return Ok(if t.randomness()? >= th {
                    Outcome { decision: Decision::Sampled, threshold: Some(th) }
                } else {
                    Decision::NotSampled.into()
                });
            }
            Kind::StatusCode { codes } => {
                let mut hit = false;
                for f in t.fields() {
                    let code = f?.status_code;
                    if (0..3).contains(&code) && codes[code as usize] {
                        hit = true;
                        break;
                    }
                }
                matched(hit, false)
            }
            Kind::StringAttribute(s) => {
                let key = s.key.clone();
                let invert = s.invert;
                let found = t.any_attribute(&key, |v| v.as_str().is_some_and(|v| s.matches(v)))?;
                matched(found, invert)
            }
            Kind::RateLimiting(meter) => {
                let p = meter.offer(clock.now, t.span_count() as f64);
                return t.keep_with_probability(p, None);
            }
            Kind::BytesLimiting(meter) => {
                let p = meter.offer(clock.now, t.trace.span_bytes as f64);
                return t.keep_with_probability(p, None);
            }
            Kind::SpanCount { min, max } => {
                let n = t.span_count();
                matched(*min <= n && n <= *max, false)
            }
            Kind::TraceState { key, values } => {
                let mut hit = false;
                for f in t.fields() {
                    if tracestate::tracestate_value(f?.trace_state, key).is_some_and(|v| values.contains(v)) {
                        hit = true;
                        break;
                    }
                }
                matched(hit, false)
            }
            Kind::Boolean { key, value, invert } => {
                let want = *value;
                matched(t.any_attribute(key, |v| matches!(v.get(), Ok(AnyValue::Bool(b)) if b == want))?, *invert)
            }
            Kind::Ottl(c) => matched(t.ottl_matches(&self.name, c)?, false),
            Kind::And(subs) => {
                let mut threshold = None;
                for s in subs.iter_mut() {
                    let o = s.evaluate(t, clock)?;
                    if o.decision.collapse() != Decision::Sampled {
                        return Ok(Decision::NotSampled.into());
                    }
                    threshold = threshold.max(o.threshold);
                }
                return Ok(Outcome { decision: Decision::Sampled, threshold });
            }
            Kind::Not(sub) => match sub.evaluate(t, clock)?.decision {
                Decision::Sampled => Decision::NotSampled,
                Decision::NotSampled => Decision::Sampled,
                other => other,
            },
            Kind::Drop(subs) => {
                for s in subs.iter_mut() {
                    if s.evaluate(t, clock)?.decision.collapse() != Decision::Sampled {
                        return Ok(Decision::NotSampled.into());
                    }
                }
                Decision::Dropped
            }
            Kind::Adaptive(a) => {
                let summary = t.summary(a)?;
                let v = a.decide(&summary, clock.now);
                return Ok(if v.keep {
                    Outcome { decision: Decision::Sampled, threshold: v.threshold }
                } else {
                    Decision::NotSampled.into()
                });
            }
            Kind::Composite(c) => {
                // The first sub-policy (in `policy_order`) that samples, and has a budget,
                // decides: the trace is kept with the probability that holds that sub-policy
                // to its budget, scaled down if the sub-policies together would exceed the
                // total.
                let n = t.span_count() as f64;
                for (sub, meter) in c.subs.iter_mut() {
                    let Some(meter) = meter else { continue };
                    let o = sub.evaluate(t, clock)?;
                    if o.decision.collapse() != Decision::Sampled {
                        continue;
                    }
                    let p = meter.offer(clock.now, n);
                    let p = p * c.total.offer(clock.now, n * p);
                    return t.keep_with_probability(p, o.threshold);
                }
                Decision::NotSampled
            }
        };
        Ok(d.into())
    }
}

impl Policy {
    /// Calls `f` on every `adaptive` policy in this one (itself or nested).
    pub(crate) fn for_each_adaptive(&mut self, f: &mut dyn FnMut(&mut Adaptive)) {
        match &mut self.kind {
            Kind::Adaptive(a) => f(a),
            Kind::And(subs) | Kind::Drop(subs) => subs.iter_mut().for_each(|s| s.for_each_adaptive(f)),
            Kind::Not(sub) => sub.for_each_adaptive(f),
            Kind::Composite(c) => c.subs.iter_mut().for_each(|(s, _)| s.for_each_adaptive(f)),
            _ => {}
        }
    }
}

fn build_all(cs: &[PolicyConfig]) -> Result<Vec<Policy>, String> {
    cs.iter().map(Policy::build).collect()
}

/// The final decision over every top-level result, by the Collector's precedence: any
/// Dropped, then any InvertNotSampled → not sampled; then the first Sampled → sampled by that
/// policy; then any InvertSampled without a NotSampled → sampled; otherwise not sampled.
/// Returns the index of the deciding policy when sampled.
pub(crate) fn combine(results: &[Outcome]) -> Option<usize> {
    let has = |d: Decision| results.iter().any(|o| o.decision == d);
    if has(Decision::Dropped) || has(Decision::InvertNotSampled) {
        return None;
    }
    if let Some(i) = results.iter().position(|o| o.decision == Decision::Sampled) {
        return Some(i);
    }
    if !has(Decision::NotSampled) {
        return results.iter().position(|o| o.decision == Decision::InvertSampled);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(d: Decision) -> Outcome {
        d.into()
    }

    #[test]
    fn drop_beats_everything() {
        assert_eq!(combine(&[o(Decision::Sampled), o(Decision::Dropped)]), None);
    }

    #[test]
    fn inverted_not_sampled_beats_sampled() {
        assert_eq!(combine(&[o(Decision::Sampled), o(Decision::InvertNotSampled)]), None);
    }

    #[test]
    fn first_sampled_policy_decides() {
        assert_eq!(combine(&[o(Decision::NotSampled), o(Decision::Sampled), o(Decision::Sampled)]), Some(1));
    }

    #[test]
    fn inverted_sampled_only_without_a_plain_not_sampled() {
        assert_eq!(combine(&[o(Decision::InvertSampled)]), Some(0));
        assert_eq!(combine(&[o(Decision::InvertSampled), o(Decision::NotSampled)]), None);
        assert_eq!(combine(&[o(Decision::InvertSampled), o(Decision::Sampled)]), Some(1));
    }

    #[test]
    fn nothing_sampled_is_not_sampled() {
        assert_eq!(combine(&[o(Decision::NotSampled)]), None);
        assert_eq!(combine(&[]), None);
    }
}
