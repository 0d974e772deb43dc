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
//! - an arena `Vec<u8>` with the bytes of its spans, copied from the request as received;
//! - one `StoredSpan {group, start, end}` per span (12 bytes);
//! - the distinct resource/scope header pairs of its spans. Headers are copied **once per
//!   received request and scope group** into `Arc`s shared by every trace that got spans from
//!   that group, so a request with spans of 500 traces copies its resource once, not 500 times;
//! - the tokens of every request that contributed spans (one clone per request);
//! - its deadline, age (arrival order of its first span), and whether its root span arrived.
//!
//! Accounting: a trace counts its span bytes, 12 bytes per span, the header bytes of each
//! distinct header pair it references (an over-estimate, as headers are shared) and a fixed
//! per-trace overhead. The shard's `bytes` is the sum; the `buffered_bytes` gauge reports it.
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
//! - its shard is over `num_traces` or `max_buffer_bytes` and it is the oldest (`eviction`);
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
//! - Each shard: `traces ≤ num_traces / num_shards` and, when `max_buffer_bytes` is set,
//!   `bytes ≤ max_buffer_bytes / num_shards` after each request is taken in (a single trace
//!   larger than the budget is decided as soon as it is taken in).
//!
//! # Consistent probability
//!
//! `probabilistic` keeps a trace iff R ≥ T, R the low 56 bits of the trace id (or `ot=rv`), T
//! = (1 − p)·2^56, so every weir (and any OTEP-235 sampler) agrees on the same traces. When the
//! deciding policy is probabilistic (directly, or inside `and`/`composite`), every kept span
//! gets `ot=th:<T>` in its `trace_state`, other entries preserved and an incoming stricter
//! threshold kept. Other policies keep with probability 1 and leave `trace_state` alone.

mod buffer;
mod config;
mod policy;
mod tracestate;

pub use config::{DecisionCacheConfig, PolicyConfig, TailSamplingConfig, POLICY_TYPES};

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use buffer::{trace_id_of, DroppedSet, Headers, KeptSet, Trace, TraceBuffer, TraceId};
use metrics::{Counter, Gauge};
use policy::{Clock, Decision, Outcome, Policy, TraceFacts};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use weir_core::component::BuildContext;
use weir_core::pdata::wire::Fields;
use weir_core::pdata::{Regroup, ResourceGroupView, ScopeGroupView, WireError};
use weir_core::{Acks, BuildError, Envelope, Output, Payload, Processor, ProcessorFactory, Signal};

const PREFIX: &str = "otelcol_processor_tail_sampling_";

/// Factory of the `tail_sampling` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct TailSamplingFactory;

impl ProcessorFactory for TailSamplingFactory {
    type Config = TailSamplingConfig;

    fn type_name(&self) -> &'static str {
        "tail_sampling"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }

    fn build(&self, ctx: &BuildContext, c: &TailSamplingConfig) -> Result<Box<dyn Processor>, BuildError> {
        let id = ctx.id.to_string();
        let policies = c.policies.iter().map(Policy::build).collect::<Result<Vec<_>, _>>().map_err(BuildError::new)?;
        let n = c.num_shards.max(1);
        let per_shard_capacity =
            c.expected_new_traces_per_sec.saturating_mul(c.decision_wait.as_secs().max(1) as usize);
        let metrics = TailMetrics::new(&id, &policies);
        Ok(Box::new(TailSampler {
            decision_wait: c.decision_wait,
            after_root: c.decision_wait_after_root_received,
            max_traces_per_shard: (c.num_traces / n).max(1),
            max_bytes_per_shard: c.max_buffer_bytes / n,
            max_trace_bytes: c.maximum_trace_size_bytes,
            decision_attributes: c.decision_attributes,
            sample_on_first_match: c.sample_on_first_match,
            shards: (0..n).map(|_| TraceBuffer::with_capacity((per_shard_capacity / n).min(1 << 20))).collect(),
            kept: KeptSet::new(nonzero_or(c.decision_cache.sampled_cache_size, c.num_traces)),
            dropped: DroppedSet::new(nonzero_or(c.decision_cache.non_sampled_cache_size, c.num_traces)),
            policies,
            seq: 0,
            envelopes: 0,
            started: Instant::now(),
            out: Vec::new(),
            metrics,
            id,
        }))
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
    /// 0: no byte budget.
    max_bytes_per_shard: usize,
    /// 0: no per-trace limit.
    max_trace_bytes: usize,
    decision_attributes: bool,
    sample_on_first_match: bool,
    policies: Vec<Policy>,
    shards: Vec<TraceBuffer>,
    kept: KeptSet,
    dropped: DroppedSet,
    /// Arrival order of new traces.
    seq: u64,
    /// Number of envelopes taken in.
    envelopes: u64,
    started: Instant,
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
        }
    }
}

/// The span fields routing needs.
struct SpanFacts<'a> {
    trace_id: TraceId,
    is_root: bool,
    bytes: &'a [u8],
}

/// Copies every field of a resource or scope group except its children (field 2).
fn header_of(group: &[u8]) -> Result<Arc<[u8]>, WireError> {
    let mut out = Vec::new();
    for f in Fields::new(group) {
        let f = f?;
        if f.number != 2 {
            out.extend_from_slice(&group[f.start..f.end]);
        }
    }
    Ok(out.into())
}

impl TailSampler {
    fn shard_of(&self, id: &TraceId) -> usize {
        let low = u64::from_be_bytes(id[8..16].try_into().expect("8 bytes of a 16-byte id"));
        (low % self.shards.len() as u64) as usize
    }

    fn clock(&self, now: Instant) -> Clock {
        Clock { now, second: now.duration_since(self.started).as_secs() }
    }

    /// Takes in one received request: buffers, forwards or drops each span, and decides what
    /// that makes due (per-trace size limit, budgets).
    fn ingest(&mut self, env: Envelope) {
        let now = Instant::now();
        self.envelopes += 1;
        let envelope = self.envelopes;
        self.metrics.items.incoming(env.payload.items());
        let mut late: HashMap<TraceId, KeptTrace> = HashMap::new();
        let mut oversize: Vec<TraceId> = Vec::new();
        if let Err(error) = self.ingest_spans(&env.payload, &env.acks, envelope, now, &mut late, &mut oversize) {
            // The request's structure was checked when it was received; not expected.
            tracing::warn!(message = "Cannot read a traces request; its remaining spans are dropped.", processor = %self.id, %error);
        }
        for id in oversize {
            let s = self.shard_of(&id);
            self.decide(s, id, Trigger::TraceSize, now);
        }
        self.out.extend(late.into_values());
    }

    fn ingest_spans(
        &mut self,
        payload: &Payload,
        acks: &Acks,
        envelope: u64,
        now: Instant,
        late: &mut HashMap<TraceId, KeptTrace>,
        oversize: &mut Vec<TraceId>,
    ) -> Result<(), WireError> {
        for rg in payload.view().resources() {
            let rg = rg?;
            let resource = header_of(rg.bytes())?;
            for sg in rg.scopes() {
                let sg = sg?;
                let headers = Arc::new(Headers { resource: resource.clone(), scope: header_of(sg.bytes())? });
                for span in sg.spans() {
                    let span = span?;
                    let f = span.fields()?;
                    let facts = SpanFacts {
                        trace_id: trace_id_of(f.trace_id),
                        is_root: f.parent_span_id.iter().all(|b| *b == 0),
                        bytes: span.bytes(),
                    };
                    self.route(facts, &headers, acks, envelope, now, late, oversize);
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn route(
        &mut self,
        span: SpanFacts<'_>,
        headers: &Arc<Headers>,
        acks: &Acks,
        envelope: u64,
        now: Instant,
        late: &mut HashMap<TraceId, KeptTrace>,
        oversize: &mut Vec<TraceId>,
    ) {
        let id = span.trace_id;
        let s = self.shard_of(&id);
        if !self.shards[s].traces.contains_key(&id) {
            if let Some((threshold, policy)) = self.kept.get(&id) {
                let (threshold, policy) = (*threshold, policy.clone());
                self.metrics.late[1].increment(1);
                let k = late.entry(id).or_insert_with(|| {
                    let mut trace = Trace::detached(now);
                    trace.acks = acks.clone();
                    KeptTrace { trace, policy, threshold, trigger: "late_span" }
                });
                k.trace.push(headers, span.bytes);
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
        let shard = &mut self.shards[s];
        let trace = shard.traces.get_mut(&id).expect("inserted above when absent");
        if trace.last_envelope != envelope {
            trace.last_envelope = envelope;
            trace.acks.extend(acks.clone());
        }
        let added = trace.push(headers, span.bytes);
        let became_root = span.is_root && !trace.root_seen;
        trace.root_seen |= span.is_root;
        let too_big = self.max_trace_bytes > 0 && trace.bytes >= self.max_trace_bytes;
        shard.grew(added, 1);
        if became_root {
            if let Some(after) = self.after_root {
                shard.advance_deadline(&id, now + after);
            }
        }
        if too_big && !oversize.contains(&id) {
            oversize.push(id);
        }
        self.enforce_budget(s, now);
    }

    /// Decides the oldest traces of shard `s` until it is within its budgets.
    fn enforce_budget(&mut self, s: usize, now: Instant) {
        loop {
            let shard = &self.shards[s];
            let over = shard.len() > self.max_traces_per_shard
                || (self.max_bytes_per_shard > 0 && shard.bytes > self.max_bytes_per_shard);
            let Some(oldest) = shard.oldest().filter(|_| over) else { return };
            self.decide(s, oldest, Trigger::Eviction, now);
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
        let Some(trace) = self.shards[s].remove(&id) else { return };
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
        self.metrics.global[sampled as usize].increment(1);
        self.metrics.by_trigger[Trigger::ALL.iter().position(|t| *t == trigger).unwrap_or(0)][sampled as usize]
            .increment(1);
        match chosen {
            Some(i) => {
                let threshold = results[i].threshold;
                let policy = self.metrics.policy_names[i].clone();
                self.kept.insert(id, (threshold, policy.clone()));
                self.out.push(KeptTrace { trace, policy, threshold, trigger: trigger.as_str() });
            }
            None => {
                self.dropped.insert(id, ());
                self.metrics.spans_dropped.increment(trace.spans.len() as u64);
                // Dropping the trace releases its requests' tokens: a success.
            }
        }
    }

    fn update_gauges(&self) {
        let (traces, bytes, spans) =
            self.shards.iter().fold((0, 0, 0), |(t, b, s), sh| (t + sh.len(), b + sh.bytes, s + sh.spans));
        self.metrics.traces_on_memory.set(traces as f64);
        self.metrics.buffered_bytes.set(bytes as f64);
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
        let env = Envelope { payload: Payload::from_counted(Signal::Traces, bytes, items), acks };
        if let Err(error) = output.send(env).await {
            tracing::debug!(message = "The next stage did not accept kept traces.", processor = %self.id, %error, items);
        }
    }

    /// Rewrites the spans of a kept trace that need `ot=th` or decision attributes.
    fn prepare(&self, k: &mut KeptTrace) {
        if k.threshold.is_none() && !self.decision_attributes {
            return;
        }
        let t = &mut k.trace;
        let mut arena = Vec::with_capacity(t.arena.len() + t.spans.len() * 48);
        let extra: Vec<(&str, &str)> = if self.decision_attributes {
            vec![("sampling.policy", &k.policy), ("sampling.trigger", k.trigger)]
        } else {
            Vec::new()
        };
        for s in &mut t.spans {
            let span = &t.arena[s.start as usize..s.end as usize];
            let ts = k.threshold.map(|th| {
                let current = weir_core::pdata::SpanView::new(span).fields().map(|f| f.trace_state).unwrap_or("");
                tracestate::with_threshold(current, th)
            });
            let start = arena.len();
            tracestate::rewrite_span(&mut arena, span, ts.as_deref(), &extra);
            s.start = start as u32;
            s.end = arena.len() as u32;
        }
        t.arena = arena;
    }
}

/// Encodes kept traces into one request, re-wrapping spans in their headers.
fn encode(kept: &[KeptTrace]) -> Result<(bytes::Bytes, usize), WireError> {
    let mut r = Regroup::new();
    let mut items = 0;
    let mut last_resource: Option<&Arc<[u8]>> = None;
    let mut last_group: Option<&Arc<Headers>> = None;
    for k in kept {
        for s in &k.trace.spans {
            let g = &k.trace.groups[s.group as usize];
            if last_group.is_none_or(|l| !Arc::ptr_eq(l, g)) {
                if last_resource.is_none_or(|l| !Arc::ptr_eq(l, &g.resource)) {
                    r.push_resource(ResourceGroupView::new(&g.resource))?;
                    last_resource = Some(&g.resource);
                }
                r.push_scope(ScopeGroupView::new(&g.scope))?;
                last_group = Some(g);
            }
            r.push_item(k.trace.span_bytes(s));
            items += 1;
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
    }
}

#[cfg(test)]
mod tests;
