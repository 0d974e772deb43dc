//! `tail_sampling`: keeps or drops whole traces once they are (mostly) complete, by the
//! Collector's policies, on a buffer bounded in traces and in bytes.
//!
//! # Constraints
//!
//! - Users bring the Collector's `tail_sampling` section; keys, policy types and the decision
//!   precedence behave the same (see [`TailSamplingConfig`]).
//! - Memory is bounded in **bytes** (`max_buffer_bytes`) as well as in traces (`num_traces`),
//!   and reaching a bound never drops a trace undecided: the oldest traces are decided early.
//! - No span is decoded into a tree or re-encoded, except a kept span whose `trace_state` or
//!   attributes weir writes (a wire-level rewrite of those fields, see [`tracestate`]).
//! - Acknowledgements: a request's tokens stay alive until each of its spans is emitted (the
//!   tokens travel with the emitted envelope) or dropped by a decision (the tokens are
//!   released, which is a success: dropping on purpose is not a failure).
//!
//! # Structure
//!
//! One task per pipeline owns all the state: the input channel is one stream and the output
//! one sink, so a single owner needs no lock at all, and the decision timer cannot be starved
//! by a lock holder. The buffer is split into `num_shards` [`TraceBuffer`]s by trace-id hash,
//! each with its share of the budgets; a shard is self-contained (its table, deadline index and
//! age index), which is the seam for running shards on separate tasks later (not done; whether
//! one task keeps up at saturation is still to be measured).
//!
//! A buffered trace ([`buffer::Trace`]) is:
//! - one `StoredSpan {group, start, end}` per span (12 bytes): a range of a [`Group`];
//! - its distinct [`Group`]s: one per scope group of each received payload, **slices of the
//!   payload** (`Bytes::slice_ref`, no copy) covering the whole `ResourceSpans` and the whole
//!   `ScopeSpans`, shared (`Arc`) by every trace that got spans from that group. Spans are not
//!   copied one by one: a span is a range of the (once copied, see below) payload;
//! - one `Arc<Held>` per received payload it has spans in (the payload's accounting);
//! - the tokens of every request that contributed spans (one clone per request);
//! - its deadline, age (arrival order of its first span), and whether its root span arrived.
//!
//! Accounting (what `max_buffer_bytes` bounds and the `buffered_bytes` gauge reports) is the
//! memory really held, each byte counted once:
//! - **payloads**: a received payload's length (plus its groups' and its [`Held`]'s own
//!   allocations) is added to a processor-wide meter when its first span is buffered, and
//!   taken off when the last buffered trace that references it is decided (the `Held` is
//!   dropped). A payload whose spans are all late (forwarded or dropped at once) is never
//!   counted. Shared resource and scope headers cost nothing extra: they are in the payload;
//! - **bookkeeping**: each trace counts its table entry and index entries (an estimate) and
//!   the capacity of its vectors (spans, groups, held payloads, tokens).
//!
//! Trade-off of zero-copy: a payload stays in memory, whole, until the last trace with a span
//! in it is decided. Traces in one request start within the spread of their spans, so this is
//! bounded by `decision_wait` plus that spread; a late span (of a trace started long before)
//! keeps only its own payload alive, for the rest of its trace's wait. A payload whose
//! traces are mostly decided still counts in full: the gauge and the budget see the bytes
//! that are really held, not only those of undecided spans. In exchange, ingest costs one
//! exact-size copy per request (below) and no per-span copy or arena slack (an earlier design
//! copied each span into a per-trace
//! growing arena, up to 2× slack, and charged shared headers to every trace: 907 bytes per
//! buffered 371-byte span in a benchmark). The test
//! `buffered_bytes_per_span_stay_within_one_and_a_half_times_the_wire_size_and_return_to_zero`
//! measures about 1.2× the spans' wire size on 512-span requests of 8 services with traces of
//! 3–13 spans spread over three requests, and `..._in_a_steady_flow` at most 1.27× while
//! such requests flow in and are decided.
//!
//! The meter counts a payload's *length*. A receiver may hand over a slice of a larger
//! allocation (a decompressed body in a `Vec` with spare capacity, a slice of a transport's
//! read buffer), which slices would keep alive whole, unseen by the meter; so each request is
//! copied once, to an exact-size buffer, when it is taken in.
//!
//! A kept trace leaves the accounting when it is decided, though its spans stay in memory
//! until they are sent at the end of the same round (one request's worth at most).
//!
//! Each shard indexes its traces by deadline (`BTreeMap<(Instant, seq), TraceId>`) and by age
//! (`BTreeMap<seq, TraceId>`). The task sleeps until the earliest deadline of any shard
//! (tokio time), so decisions are on time to the millisecond and tests run on paused time.
//!
//! # Triggers
//!
//! A trace is decided, by evaluating every policy on the spans buffered so far, when:
//! - `decision_wait` after its first span passed (`decision_wait`);
//! - `decision_wait_after_root_received` after its root span arrived, if set and earlier
//!   (`root_received`);
//! - its buffered bytes reached `maximum_trace_size_bytes` (`trace_size`);
//! - its shard is over `num_traces` and it is the shard's oldest, or the buffer is over
//!   `max_buffer_bytes` and it is the oldest of all shards (`eviction`);
//! - the input closed, at shutdown (`shutdown`).
//!
//! Every decision is counted by trigger. After a decision the trace leaves the buffer; kept
//! traces are sent, with the tokens of their requests, in one request per decision round,
//! re-wrapped in their resource and scope headers by [`Regroup`].
//!
//! # Late spans
//!
//! A span whose trace is not buffered is looked up in the set of kept trace ids first (late
//! spans of kept traces are forwarded at once, with the same `ot=th`), then in the set of
//! dropped ids (dropped at once); otherwise it starts a new trace. Both sets are FIFO-bounded
//! by `decision_cache` (default: `num_traces` each, as the Collector's trace ring remembers
//! the last `num_traces` decisions).
//!
//! # Invariants
//!
//! - Conservation: every span received is, exactly once, buffered, emitted (decided kept or a
//!   late span of a kept trace) or dropped (decided dropped or a late span of a dropped trace):
//!   `incoming_items = outgoing_items + spans_dropped + buffered_spans`.
//! - Each shard: `traces ≤ num_traces / num_shards`. The whole buffer, when
//!   `max_buffer_bytes` is set: held bytes ≤ `max_buffer_bytes` after each request is taken in
//!   (a request larger than the budget has all its traces decided as soon as it is taken in).
//!   The byte budget is not split between shards because a payload is shared by the traces
//!   of every shard it has spans of; the meter is an atomic, ready for shards on separate
//!   tasks.
//! - Accounting: the meter is the sum of the live `Held`s and each shard's `index_bytes` the
//!   sum of its traces'; both return to 0 when every trace is decided.
//!
//! # Consistent probability
//!
//! `probabilistic` keeps a trace iff R ≥ T, R the low 56 bits of the trace id (or `ot=rv`), T
//! = (1 − p)·2^56, so every weir (and any OTEP-235 sampler) agrees on the same traces.
//!
//! The rate-based policies decide the same way, with p chosen from the rate they are
//! offered instead of fixed: `rate_limiting` (spans), `bytes_limiting` (span bytes) and each
//! `composite` sub-policy (spans) measure what they are offered as an exponentially decaying
//! sum ([`policy::RateMeter`]; time constant 1 s, or `burst_capacity / bytes_per_second` for
//! `bytes_limiting`), take p = min(1, limit / measured rate) and keep iff R ≥ T(p), T rounded
//! to 4 significant hex digits. Under a steady over-limit rate the kept rate averages the
//! limit; the kept traces are a consistent random subset (a higher limit keeps a superset,
//! and two processors offered the same traces at the same times keep the same ones), and
//! `ot=th` gives their adjusted count. The Collector instead keeps the first traces of each
//! wall-clock second up to the limit (a token bucket for bytes), which is neither consistent
//! nor unbiased. `composite`: the first sub-policy (in `policy_order`) that samples and has
//! a budget decides, with its own p; p is scaled down further if the sub-policies together
//! would exceed `max_total_spans_per_second`. (The Collector lets a sub-policy over its
//! budget pass the trace to the next matching one; weir does not.)
//!
//! When the deciding policy has a threshold (directly, or inside `and`/`composite`), every
//! kept span gets `ot=th:<T>` in its `trace_state`, other entries preserved and an incoming
//! stricter threshold kept. Other policies keep with probability 1 and leave `trace_state`
//! alone.

pub mod adaptive;
#[cfg(test)]
mod adaptive_harness;
mod buffer;
mod config;
mod policy;
pub mod simulation;
use weir_core::sampling as tracestate;

pub use adaptive::KeyStats;
pub use config::{
    AdaptiveConfig, DecisionCacheConfig, PolicyConfig, PriorityAttributeConfig, PriorityConfig, TailSamplingConfig,
    POLICY_TYPES,
};

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use buffer::{trace_id_of, DroppedSet, Group, Held, KeptSet, Meter, Trace, TraceBuffer, TraceId};
use buffer::{GROUP_OVERHEAD, HELD_OVERHEAD};
use metrics::{Counter, Gauge, Histogram};
use policy::{Clock, Decision, Outcome, Policy, TraceFacts};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use weir_core::component::BuildContext;
use weir_core::pdata::{Regroup, ResourceGroupView, ScopeGroupView, WireError};
use weir_core::{Acks, BuildError, Envelope, Output, Payload, Processor, ProcessorFactory, Signal};

const PREFIX: &str = "otelcol_processor_tail_sampling_";

/// Factory of the `tail_sampling` processor.
#[derive(Clone, Default)]
pub struct TailSamplingFactory {
    /// Where processors deposit what `weir simulate` reports; `None` in a daemon.
    reports: Option<simulation::Reports>,
}

impl TailSamplingFactory {
    /// A factory whose processors count per policy and key, and deposit a report in `reports`
    /// when their input closes (`weir simulate`).
    pub fn reporting_to(reports: simulation::Reports) -> TailSamplingFactory {
        TailSamplingFactory { reports: Some(reports) }
    }
}

impl ProcessorFactory for TailSamplingFactory {
    type Config = TailSamplingConfig;

    fn type_name(&self) -> &'static str {
        "tail_sampling"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }

    fn build(&self, ctx: &BuildContext, c: &TailSamplingConfig) -> Result<Box<dyn Processor>, BuildError> {
        Ok(Box::new(TailSampler::new(ctx.id.to_string(), c, self.reports.clone()).map_err(BuildError::new)?))
    }
}

impl TailSampler {
    fn new(id: String, c: &TailSamplingConfig, reports: Option<simulation::Reports>) -> Result<TailSampler, String> {
        let mut policies = c.policies.iter().map(Policy::build).collect::<Result<Vec<_>, _>>()?;
        let simulating = reports.is_some();
        let mut late_errors_policy = None;
        for p in &mut policies {
            let name = p.name.clone();
            p.for_each_adaptive(&mut |a| {
                if a.keeps_late_errors() && late_errors_policy.is_none() {
                    late_errors_policy = Some(Arc::from(name.as_str()));
                }
                if simulating {
                    a.collect_stats();
                }
            });
        }
        let policy_stats = reports.map(|r| (r, vec![simulation::PolicyStats::default(); policies.len()]));
        let n = c.num_shards.max(1);
        let per_shard_capacity =
            c.expected_new_traces_per_sec.saturating_mul(c.decision_wait.as_secs().max(1) as usize);
        let metrics = TailMetrics::new(&id, &policies);
        Ok(TailSampler {
            decision_wait: c.decision_wait,
            after_root: c.decision_wait_after_root_received,
            max_traces_per_shard: (c.num_traces / n).max(1),
            max_buffer_bytes: c.max_buffer_bytes,
            max_trace_bytes: c.maximum_trace_size_bytes,
            decision_attributes: c.decision_attributes,
            sample_on_first_match: c.sample_on_first_match,
            shards: (0..n).map(|_| TraceBuffer::with_capacity((per_shard_capacity / n).min(1 << 20))).collect(),
            kept: KeptSet::new(nonzero_or(c.decision_cache.sampled_cache_size, c.num_traces)),
            dropped: DroppedSet::new(nonzero_or(c.decision_cache.non_sampled_cache_size, c.num_traces)),
            policies,
            late_errors_policy,
            policy_stats,
            meter: Meter::default(),
            seq: 0,
            envelopes: 0,
            out: Vec::new(),
            metrics,
            id,
        })
    }
}

fn nonzero_or(v: usize, default: usize) -> usize {
    if v == 0 {
        default
    } else {
        v
    }
}

/// Why a trace was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    DecisionWait,
    RootReceived,
    TraceSize,
    Eviction,
    Shutdown,
}

impl Trigger {
    const ALL: [Trigger; 5] =
        [Trigger::DecisionWait, Trigger::RootReceived, Trigger::TraceSize, Trigger::Eviction, Trigger::Shutdown];

    fn as_str(self) -> &'static str {
        match self {
            Trigger::DecisionWait => "decision_wait",
            Trigger::RootReceived => "root_received",
            Trigger::TraceSize => "trace_size",
            Trigger::Eviction => "eviction",
            Trigger::Shutdown => "shutdown",
        }
    }
}

/// A kept trace (or late spans of one) waiting to be sent.
struct KeptTrace {
    trace: Trace,
    /// Spans rewritten for `ot=th` or decision attributes (see [`TailSampler::prepare`]): one
    /// range of `arena` per span of `trace`, in order; empty when the spans go out as received.
    rewritten: Vec<(u32, u32)>,
    arena: Vec<u8>,
    /// The policy that sampled it (for `sampling.policy`).
    policy: Arc<str>,
    /// `ot=th` to write into its spans.
    threshold: Option<u64>,
    trigger: &'static str,
}

/// The running `tail_sampling` processor of one pipeline.
struct TailSampler {
    id: String,
    decision_wait: Duration,
    after_root: Option<Duration>,
    max_traces_per_shard: usize,
    /// For the whole processor (payloads are shared between shards); 0: no byte budget.
    max_buffer_bytes: usize,
    /// 0: no per-trace limit.
    max_trace_bytes: usize,
    decision_attributes: bool,
    sample_on_first_match: bool,
    policies: Vec<Policy>,
    /// The `adaptive` policy that keeps late ERROR spans of dropped traces (`th:0`), if any.
    late_errors_policy: Option<Arc<str>>,
    /// Per top-level policy, for `weir simulate`, and where to report them (only then).
    policy_stats: Option<(simulation::Reports, Vec<simulation::PolicyStats>)>,
    shards: Vec<TraceBuffer>,
    kept: KeptSet,
    dropped: DroppedSet,
    /// Bytes of the received payloads that buffered spans point into (see [`Held`]).
    meter: Meter,
    /// Arrival order of new traces.
    seq: u64,
    /// Number of envelopes taken in.
    envelopes: u64,
    /// Kept traces decided since the last send.
    out: Vec<KeptTrace>,
    metrics: TailMetrics,
}

struct TailMetrics {
    items: ItemCounters,
    /// Per policy: [not sampled, sampled].
    per_policy: Vec<[Counter; 2]>,
    policy_names: Vec<Arc<str>>,
    /// [not sampled, sampled].
    global: [Counter; 2],
    /// Per trigger: [not sampled, sampled].
    by_trigger: Vec<[Counter; 2]>,
    evaluation_errors: Counter,
    new_traces: Counter,
    /// Late spans: [dropped, forwarded].
    late: [Counter; 2],
    spans_dropped: Counter,
    traces_on_memory: Gauge,
    buffered_bytes: Gauge,
    buffered_spans: Gauge,
    /// Seconds from a trace's first span to its decision.
    decision_latency: Histogram,
}

impl TailMetrics {
    fn new(id: &str, policies: &[Policy]) -> Self {
        let p = |s: &str| format!("{PREFIX}{s}");
        let sampled = ["false", "true"];
        let per_policy = policies
            .iter()
            .map(|pol| {
                sampled.map(|s| {
                    let labels =
                        [("processor", id.to_string()), ("policy", pol.name.clone()), ("sampled", s.to_string())];
                    metrics::counter!(p("count_traces_sampled"), &labels)
                })
            })
            .collect();
        let global = sampled.map(
            |s| metrics::counter!(p("global_count_traces_sampled"), "processor" => id.to_string(), "sampled" => s),
        );
        let by_trigger = Trigger::ALL
            .iter()
            .map(|t| {
                sampled.map(|s| {
                    metrics::counter!(p("traces_decided"), "processor" => id.to_string(), "trigger" => t.as_str(), "sampled" => s)
                })
            })
            .collect();
        let late = sampled.map(|s| {
            metrics::counter!(p("early_releases_from_cache_decision"), "processor" => id.to_string(), "sampled" => s)
        });
        let labels = [("processor", id.to_string())];
        TailMetrics {
            items: ItemCounters::new(id, Signal::Traces),
            per_policy,
            policy_names: policies.iter().map(|p| Arc::from(p.name.as_str())).collect(),
            global,
            by_trigger,
            evaluation_errors: metrics::counter!(p("sampling_policy_evaluation_error"), &labels),
            new_traces: metrics::counter!(p("new_trace_id_received"), &labels),
            late,
            spans_dropped: metrics::counter!(p("spans_dropped"), &labels),
            traces_on_memory: metrics::gauge!(p("sampling_traces_on_memory"), &labels),
            buffered_bytes: metrics::gauge!(p("buffered_bytes"), &labels),
            buffered_spans: metrics::gauge!(p("buffered_spans"), &labels),
            decision_latency: metrics::histogram!(p("sampling_decision_latency"), &labels),
        }
    }
}

/// The span fields routing needs.
struct SpanFacts {
    trace_id: TraceId,
    is_root: bool,
    is_error: bool,
    /// The span's range in its group's `scope` bytes.
    start: u32,
    end: u32,
}

/// The request being taken in, as routing needs it.
struct Incoming<'a> {
    acks: &'a Acks,
    envelope: u64,
    /// Bytes to account for the payload once a span of it is buffered: its length and
    /// bookkeeping.
    bytes: usize,
    /// The payload's accounting, from its first buffered span on.
    held: Option<Arc<Held>>,
}

impl TailSampler {
    fn shard_of(&self, id: &TraceId) -> usize {
        let low = u64::from_be_bytes(id[8..16].try_into().expect("8 bytes of a 16-byte id"));
        (low % self.shards.len() as u64) as usize
    }

    fn clock(&self, now: Instant) -> Clock {
        Clock { now }
    }

    /// Bytes held by the buffer: the payloads its spans point into (each counted once) and
    /// the traces' bookkeeping.
    fn held_bytes(&self) -> usize {
        self.meter.load(Ordering::Relaxed) + self.shards.iter().map(|s| s.index_bytes).sum::<usize>()
    }

    /// Takes in one received request: buffers, forwards or drops each span, and decides what
    /// that makes due (per-trace size limit, budgets).
    fn ingest(&mut self, env: Envelope) {
        let now = Instant::now();
        self.envelopes += 1;
        self.metrics.items.incoming(env.payload.items());
        let mut incoming = Incoming {
            acks: &env.acks,
            envelope: self.envelopes,
            bytes: env.payload.len() + HELD_OVERHEAD,
            held: None,
        };
        let mut late: HashMap<TraceId, KeptTrace> = HashMap::new();
        let mut oversize: Vec<TraceId> = Vec::new();
        // Buffered spans are slices of the payload. A receiver's buffer can be larger than the
        // request it holds (decompression slack, a transport's read buffer), and slices would
        // keep all of it alive: one exact-size copy per request makes the byte budget bound
        // the memory really held.
        let payload = Payload::from_counted(
            env.payload.signal(),
            bytes::Bytes::copy_from_slice(env.payload.bytes()),
            env.payload.items(),
        );
        if let Err(error) = self.ingest_spans(&payload, &mut incoming, now, &mut late, &mut oversize) {
            // The request's structure was checked when it was received; not expected.
            tracing::warn!(message = "Cannot read a traces request; its remaining spans are dropped.", processor = %self.id, %error);
        }
        // From here on the payload is accounted only while a buffered trace references it.
        drop(incoming);
        for id in oversize {
            let s = self.shard_of(&id);
            self.decide(s, id, Trigger::TraceSize, now);
        }
        self.enforce_byte_budget(now);
        self.out.extend(late.into_values());
    }

    fn ingest_spans(
        &mut self,
        payload: &Payload,
        incoming: &mut Incoming<'_>,
        now: Instant,
        late: &mut HashMap<TraceId, KeptTrace>,
        oversize: &mut Vec<TraceId>,
    ) -> Result<(), WireError> {
        let buf = payload.bytes();
        for rg in payload.view().resources() {
            let rg = rg?;
            // Zero-copy: the groups are slices of the received payload.
            let resource = buf.slice_ref(rg.bytes());
            for sg in rg.scopes() {
                let sg = sg?;
                let base = sg.bytes().as_ptr() as usize;
                if u32::try_from(sg.bytes().len()).is_err() {
                    // Not reachable with any receiver's request size limit; kept conservative.
                    let n = sg.spans().count() as u64;
                    tracing::warn!(message = "A scope group over 4 GiB cannot be buffered; its spans are dropped.", processor = %self.id);
                    self.metrics.spans_dropped.increment(n);
                    continue;
                }
                let group = Arc::new(Group { resource: resource.clone(), scope: buf.slice_ref(sg.bytes()) });
                match &incoming.held {
                    Some(h) => h.grow(GROUP_OVERHEAD),
                    None => incoming.bytes += GROUP_OVERHEAD,
                }
                for span in sg.spans() {
                    let span = span?;
                    let f = span.fields()?;
                    let start = span.bytes().as_ptr() as usize - base;
                    let facts = SpanFacts {
                        trace_id: trace_id_of(f.trace_id),
                        is_root: f.parent_span_id.iter().all(|b| *b == 0),
                        is_error: f.status_code == 2,
                        start: start as u32,
                        end: (start + span.bytes().len()) as u32,
                    };
                    self.route(facts, &group, incoming, now, late, oversize);
                }
            }
        }
        Ok(())
    }

    fn route(
        &mut self,
        span: SpanFacts,
        group: &Arc<Group>,
        incoming: &mut Incoming<'_>,
        now: Instant,
        late: &mut HashMap<TraceId, KeptTrace>,
        oversize: &mut Vec<TraceId>,
    ) {
        let id = span.trace_id;
        let s = self.shard_of(&id);
        if !self.shards[s].traces.contains_key(&id) {
            // A late span of a kept trace goes out at once with the trace's threshold; a late
            // ERROR span of a dropped trace, when an `adaptive` policy keeps them, alone with
            // probability 1.
            let late_kept = match self.kept.get(&id) {
                Some((threshold, policy)) => Some((*threshold, policy.clone(), "late_span")),
                None if span.is_error && self.dropped.get(&id).is_some() => {
                    self.late_errors_policy.clone().map(|policy| (Some(0), policy, "late_error"))
                }
                None => None,
            };
            if let Some((threshold, policy, trigger)) = late_kept {
                self.metrics.late[1].increment(1);
                self.note_late_kept(&policy, 1);
                let k = late.entry(id).or_insert_with(|| {
                    let mut trace = Trace::detached(now);
                    trace.acks = incoming.acks.clone();
                    KeptTrace { trace, rewritten: Vec::new(), arena: Vec::new(), policy, threshold, trigger }
                });
                k.trace.push(group, span.start, span.end);
                return;
            }
            if self.dropped.get(&id).is_some() {
                self.metrics.late[0].increment(1);
                self.metrics.spans_dropped.increment(1);
                return;
            }
            self.metrics.new_traces.increment(1);
            self.seq += 1;
            let deadline = now + self.decision_wait;
            self.shards[s].insert(id, now, deadline, self.seq);
        }
        let (meter, bytes) = (&self.meter, incoming.bytes);
        let held = incoming.held.get_or_insert_with(|| Held::new(bytes, meter));
        let shard = &mut self.shards[s];
        let trace = shard.traces.get_mut(&id).expect("inserted above when absent");
        trace.join(incoming.envelope, incoming.acks, Some(held));
        let added = trace.push(group, span.start, span.end);
        let became_root = span.is_root && !trace.root_seen;
        trace.root_seen |= span.is_root;
        let too_big = self.max_trace_bytes > 0 && trace.span_bytes >= self.max_trace_bytes;
        shard.grew(added, 1);
        if became_root {
            if let Some(after) = self.after_root {
                shard.advance_deadline(&id, now + after);
            }
        }
        if too_big && !oversize.contains(&id) {
            oversize.push(id);
        }
        self.enforce_trace_count(s, now);
    }

    /// Charges late spans kept for the policy named `policy` to its `adaptive` budgets.
    fn note_late_kept(&mut self, policy: &str, spans: usize) {
        if let Some(p) = self.policies.iter_mut().find(|p| p.name == policy) {
            p.for_each_adaptive(&mut |a| a.note_late_kept(spans));
        }
        if let Some((_, stats)) = &mut self.policy_stats {
            if let Some(i) = self.metrics.policy_names.iter().position(|n| &**n == policy) {
                stats[i].late_spans_kept += spans as u64;
            }
        }
    }

    /// Decides the oldest traces of shard `s` until it is within `num_traces`.
    fn enforce_trace_count(&mut self, s: usize, now: Instant) {
        while self.shards[s].len() > self.max_traces_per_shard {
            let Some(oldest) = self.shards[s].oldest() else { return };
            self.decide(s, oldest, Trigger::Eviction, now);
        }
    }

    /// Decides the oldest traces of the whole buffer until the bytes held are within
    /// `max_buffer_bytes`. A payload's bytes are released when the last trace referencing it
    /// is decided, so this may decide several traces for one payload.
    fn enforce_byte_budget(&mut self, now: Instant) {
        if self.max_buffer_bytes == 0 {
            return;
        }
        while self.held_bytes() > self.max_buffer_bytes {
            let oldest = self
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, sh)| sh.oldest_seq().map(|(seq, id)| (seq, i, id)))
                .min();
            let Some((_, s, id)) = oldest else { return };
            self.decide(s, id, Trigger::Eviction, now);
        }
    }

    /// Decides every trace due at `now`.
    fn decide_due(&mut self, now: Instant) {
        for s in 0..self.shards.len() {
            for id in self.shards[s].due(now) {
                let trigger = match self.shards[s].traces.get(&id) {
                    Some(t) if t.deadline < t.first_seen + self.decision_wait => Trigger::RootReceived,
                    _ => Trigger::DecisionWait,
                };
                self.decide(s, id, trigger, now);
            }
        }
    }

    fn decide_all(&mut self, trigger: Trigger, now: Instant) {
        for s in 0..self.shards.len() {
            for id in self.shards[s].ids() {
                self.decide(s, id, trigger, now);
            }
        }
    }

    /// Evaluates the policies on a buffered trace and removes it from the buffer: kept traces
    /// go to `out`, dropped ones are released.
    fn decide(&mut self, s: usize, id: TraceId, trigger: Trigger, now: Instant) {
        let Some(mut trace) = self.shards[s].remove(&id) else { return };
        // The trace leaves the buffer: its payloads are no longer accounted for it. (A kept
        // trace's spans stay in memory until `flush`, at the end of this round.)
        trace.held = Vec::new();
        self.metrics.decision_latency.record(now.duration_since(trace.first_seen).as_secs_f64());
        let clock = self.clock(now);
        let facts = TraceFacts { id, trace: &trace };
        let mut results: Vec<Outcome> = Vec::with_capacity(self.policies.len());
        for (i, p) in self.policies.iter_mut().enumerate() {
            let o = p.evaluate(&facts, clock).unwrap_or_else(|error| {
                self.metrics.evaluation_errors.increment(1);
                tracing::debug!(message = "A sampling policy could not read a trace.", policy = %p.name, %error);
                Decision::NotSampled.into()
            });
            self.metrics.per_policy[i][o.decision.is_sampled() as usize].increment(1);
            results.push(o);
            if self.sample_on_first_match && o.decision == Decision::Sampled {
                break;
            }
        }
        let chosen = policy::combine(&results);
        let sampled = chosen.is_some();
        if let Some((_, stats)) = &mut self.policy_stats {
            simulation::record(stats, &facts, &results, chosen);
        }
        self.metrics.global[sampled as usize].increment(1);
        self.metrics.by_trigger[Trigger::ALL.iter().position(|t| *t == trigger).unwrap_or(0)][sampled as usize]
            .increment(1);
        match chosen {
            Some(i) => {
                let threshold = results[i].threshold;
                let policy = self.metrics.policy_names[i].clone();
                self.kept.insert(id, (threshold, policy.clone()));
                self.out.push(KeptTrace {
                    trace,
                    rewritten: Vec::new(),
                    arena: Vec::new(),
                    policy,
                    threshold,
                    trigger: trigger.as_str(),
                });
            }
            None => {
                self.dropped.insert(id, ());
                self.metrics.spans_dropped.increment(trace.spans.len() as u64);
                // Dropping the trace releases its requests' tokens: a success.
            }
        }
    }

    fn update_gauges(&self) {
        let (traces, spans) = self.shards.iter().fold((0, 0), |(t, s), sh| (t + sh.len(), s + sh.spans));
        self.metrics.traces_on_memory.set(traces as f64);
        self.metrics.buffered_bytes.set(self.held_bytes() as f64);
        self.metrics.buffered_spans.set(spans as f64);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.shards.iter().filter_map(TraceBuffer::next_deadline).min()
    }

    /// Sends the kept traces decided since the last send, as one request.
    async fn flush(&mut self, output: &Output) {
        if self.out.is_empty() {
            return;
        }
        let mut kept = std::mem::take(&mut self.out);
        let mut acks = Acks::none();
        for k in &mut kept {
            self.prepare(k);
            acks.extend(std::mem::take(&mut k.trace.acks));
        }
        let (bytes, items) = match encode(&kept) {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(message = "Cannot re-encode kept traces; they are lost.", processor = %self.id, %error);
                acks.fail(&weir_core::Failure::permanent("tail_sampling could not re-encode kept spans"));
                return;
            }
        };
        drop(kept);
        self.metrics.items.outgoing(items);
        let env = Envelope::with_acks(Payload::from_counted(Signal::Traces, bytes, items), acks);
        if let Err(error) = output.send(env).await {
            tracing::debug!(message = "The next stage did not accept kept traces.", processor = %self.id, %error, items);
        }
    }

    /// Rewrites the spans of a kept trace that need `ot=th` or decision attributes.
    fn prepare(&self, k: &mut KeptTrace) {
        if k.threshold.is_none() && !self.decision_attributes {
            return;
        }
        let t = &k.trace;
        let mut arena = Vec::with_capacity(t.span_bytes + t.spans.len() * 48);
        let extra: Vec<(&str, &str)> = if self.decision_attributes {
            vec![("sampling.policy", &k.policy), ("sampling.trigger", k.trigger)]
        } else {
            Vec::new()
        };
        let mut rewritten = Vec::with_capacity(t.spans.len());
        for s in &t.spans {
            let span = t.span_bytes(s);
            let ts = k.threshold.map(|th| {
                let current = weir_core::pdata::SpanView::new(span).fields().map(|f| f.trace_state).unwrap_or("");
                tracestate::with_threshold(current, th)
            });
            let start = arena.len();
            tracestate::rewrite_span(&mut arena, span, ts.as_deref(), &extra);
            rewritten.push((start as u32, arena.len() as u32));
        }
        k.arena = arena;
        k.rewritten = rewritten;
    }
}

/// Encodes kept traces into one request, re-wrapping spans in their headers. Spans are
/// gathered by resource and scope group (in order of first appearance), so a group shared by
/// many kept traces is written once.
fn encode(kept: &[KeptTrace]) -> Result<(bytes::Bytes, usize), WireError> {
    type Key = (usize, usize);
    fn key(b: &bytes::Bytes) -> Key {
        (b.as_ptr() as usize, b.len())
    }
    /// A scope group's bytes and the spans to write in it.
    type ScopePart<'a> = (&'a bytes::Bytes, Vec<&'a [u8]>);
    // Resources, each with its scope groups, each with its spans.
    let mut resources: Vec<(&bytes::Bytes, Vec<ScopePart<'_>>)> = Vec::new();
    let mut resource_at: HashMap<Key, usize> = HashMap::new();
    let mut group_at: HashMap<(Key, Key), (usize, usize)> = HashMap::new();
    let mut items = 0;
    for k in kept {
        for (n, s) in k.trace.spans.iter().enumerate() {
            let g = &k.trace.groups[s.group as usize];
            let (r, i) = *group_at.entry((key(&g.resource), key(&g.scope))).or_insert_with(|| {
                let r = *resource_at.entry(key(&g.resource)).or_insert_with(|| {
                    resources.push((&g.resource, Vec::new()));
                    resources.len() - 1
                });
                resources[r].1.push((&g.scope, Vec::new()));
                (r, resources[r].1.len() - 1)
            });
            let span = match k.rewritten.get(n) {
                Some(&(a, b)) => &k.arena[a as usize..b as usize],
                None => k.trace.span_bytes(s),
            };
            resources[r].1[i].1.push(span);
            items += 1;
        }
    }
    let mut r = Regroup::new();
    for (resource, groups) in &resources {
        r.push_resource(ResourceGroupView::new(resource))?;
        for (scope, spans) in groups {
            r.push_scope(ScopeGroupView::new(scope))?;
            for span in spans {
                r.push_item(span);
            }
        }
    }
    Ok((r.finish(), items))
}

#[async_trait]
impl Processor for TailSampler {
    async fn run(mut self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            tokio::select! {
                // Due decisions first: a busy input must not delay them.
                biased;
                () = &mut timer, if armed.is_some() => {
                    self.decide_due(Instant::now());
                }
                next = input.recv() => match next {
                    Some(env) => self.ingest(env),
                    None => break,
                },
            }
            self.flush(&output).await;
            self.update_gauges();
            let deadline = self.next_deadline();
            if deadline != armed {
                if let Some(d) = deadline {
                    timer.as_mut().reset(d);
                }
                armed = deadline;
            }
        }
        self.decide_all(Trigger::Shutdown, Instant::now());
        self.flush(&output).await;
        self.update_gauges();
        if let Some((reports, policies)) = self.policy_stats.take() {
            simulation::deposit(&reports, &self.id, &mut self.policies, policies);
        }
    }
}

#[cfg(test)]
mod tests;
