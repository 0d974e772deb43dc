//! `probabilistic_sampler`: keeps a percentage of spans or log records, item by item, with the
//! Collector's modes, keys and metrics.
//!
//! # Guarantees
//!
//! - **Decisions are the Collector's.** `hash_seed` reproduces its FNV-1a hash of (seed,
//!   trace id or log attribute) and its 32-bit float scaling of the percentage bit for bit,
//!   so a weir tier and a Collector tier with the same seed keep the same items.
//!   `equalizing` and `proportional` are OpenTelemetry consistent sampling: R is `rv` or the
//!   trace id's low 56 bits, keep iff R ≥ T, so every OTEP-235 sampler agrees. See
//!   [`sampler`] for the rules step by step.
//! - **Every span of a trace gets the same decision**: the decision is a function of the
//!   trace id (and of what a span carries: `th`/`rv`, `sampling.priority`), never of arrival
//!   order or time; the processor holds no state between requests.
//! - **Counts stay right**: a kept item records the probability it was kept with, `ot=th` in
//!   its span `trace_state` (other tracestate entries preserved) or `sampling.threshold` on a
//!   log record, and an arriving stricter threshold is never lowered. `hash_seed` also writes
//!   the hash it used as `rv` / `sampling.randomness`, as the Collector does.
//!
//! # Data path
//!
//! Requests stay bytes. Each item is read in one pass over its fields (trace id, tracestate,
//! the few attributes the rules look at). Then:
//! - every item kept and none needing a new `th`: the request is forwarded untouched (the same
//!   `Bytes`, no copy);
//! - nothing kept: the request is not forwarded; dropping its acknowledgement tokens reports
//!   success to the receiver (sampling out is not a failure);
//! - otherwise a new request is built from byte ranges ([`Regroup`]): kept items are copied
//!   as they are, or rewritten field by field where `th`/`rv` must be written
//!   ([`sampling::rewrite_span`], [`sampling::rewrite_log_record`]); resource and scope headers
//!   are copied, and groups left without items are dropped.
//!
//! # Metrics
//!
//! `otelcol_processor_probabilistic_sampler_count_traces_sampled` (spans) and
//! `…_count_logs_sampled` (log records), labels `processor`, `policy` (where the randomness
//! came from: `trace_id_hash`, `trace_id_w3c`, `sampling_randomness`, `missing_randomness`,
//! `sampling_priority`, or the `from_attribute` name) and `sampled`; plus
//! `otelcol_processor_incoming_items` / `otelcol_processor_outgoing_items`.

mod config;
mod sampler;

pub use config::{AttributeSource, ProbabilisticSamplerConfig, SamplerMode};

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use metrics::Counter;
use sampler::{Arrived, Decision, Policy, Record, Sampler};
use tokio::sync::mpsc;
use weir_core::component::BuildContext;
use weir_core::pdata::views::{LogRecordFields, LogRecordView, SpanFields, SpanView};
use weir_core::pdata::{AnyValue, Regroup, WireError};
use weir_core::sampling;
use weir_core::{BuildError, Envelope, Failure, Output, Payload, Processor, ProcessorFactory, Signal};

/// Factory of the `probabilistic_sampler` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbabilisticSamplerFactory;

impl ProcessorFactory for ProbabilisticSamplerFactory {
    type Config = ProbabilisticSamplerConfig;

    fn type_name(&self) -> &'static str {
        "probabilistic_sampler"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces, Signal::Logs]
    }

    fn build(&self, ctx: &BuildContext, config: &ProbabilisticSamplerConfig) -> Result<Box<dyn Processor>, BuildError> {
        let signal = ctx
            .signal
            .ok_or_else(|| BuildError::new("the probabilistic_sampler processor is built per pipeline signal"))?;
        if signal == Signal::Metrics {
            return Err(BuildError::new("probabilistic_sampler samples traces and logs, not metrics"));
        }
        Ok(Box::new(ProbabilisticSampler::new(ctx.id.to_string(), signal, config)))
    }
}

/// The `probabilistic_sampler` of one pipeline: [`ProbabilisticSampler::sample`] decides one
/// request; the [`Processor`] implementation runs it on the pipeline's channel. Public so the
/// benchmark (`benches/probabilistic_sampler.rs`) measures exactly the data path.
pub struct ProbabilisticSampler {
    id: String,
    signal: Signal,
    sampler: Sampler,
    /// Logs: the attribute hashed in `hash_seed` mode (empty: none).
    from_attribute: String,
    /// Logs: the attribute holding a per-record percentage (empty: none).
    sampling_priority: String,
    /// `ot=th:<T>` for spans that arrive without a tracestate, prepared once.
    plain_trace_state: Option<(u64, String)>,
    metrics: SamplerMetrics,
}

struct SamplerMetrics {
    items: ItemCounters,
    /// Per [`Policy`]: [not sampled, sampled].
    sampled: Vec<[Counter; 2]>,
}

impl SamplerMetrics {
    fn new(id: &str, signal: Signal, attribute: &str) -> Self {
        let name = match signal {
            Signal::Logs => "otelcol_processor_probabilistic_sampler_count_logs_sampled",
            _ => "otelcol_processor_probabilistic_sampler_count_traces_sampled",
        };
        let sampled = Policy::ALL
            .iter()
            .map(|p| {
                ["false", "true"].map(|s| {
                    metrics::counter!(name, "processor" => id.to_string(), "policy" => p.label(attribute), "sampled" => s)
                })
            })
            .collect();
        SamplerMetrics { items: ItemCounters::new(id, signal), sampled }
    }
}

/// What becomes of one received request.
#[derive(Debug)]
pub enum Outcome {
    /// Everything kept unchanged: forward the request as it is.
    Unchanged,
    /// Nothing kept.
    Empty,
    /// The kept items, some of them rewritten.
    Rebuilt(Payload),
}

/// What becomes of one item.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    Drop,
    Keep,
    /// Kept with a new sampling state: its bytes are this range of the arena.
    Rewritten(usize, usize),
}

impl ProbabilisticSampler {
    /// The sampler of processor `id` for `signal` (traces or logs), from a validated config.
    pub fn new(id: String, signal: Signal, c: &ProbabilisticSamplerConfig) -> Self {
        let sampler = Sampler::new(c);
        let plain_trace_state = sampler.fixed_threshold().map(|t| (t, sampling::with_threshold("", t)));
        ProbabilisticSampler {
            metrics: SamplerMetrics::new(&id, signal, &c.from_attribute),
            id,
            signal,
            sampler,
            from_attribute: c.from_attribute.clone(),
            sampling_priority: c.sampling_priority.clone(),
            plain_trace_state,
        }
    }

    /// Decides every item of `payload` and builds what goes on; counts the decisions in the
    /// processor's metrics (not the incoming/outgoing items, which [`Processor::run`] counts).
    pub fn sample(&self, payload: &Payload) -> Result<Outcome, WireError> {
        let mut verdicts = Vec::with_capacity(payload.items());
        let mut arena = Vec::new();
        // Per policy: [not sampled, sampled], counted here and added to the metrics once.
        let mut counts = [[0u64; 2]; Policy::ALL.len()];
        let (mut kept, mut rewritten) = (0usize, 0usize);
        for rg in payload.view().resources() {
            for sg in rg?.scopes() {
                for item in sg?.items() {
                    let item = item?;
                    let verdict = match self.signal {
                        Signal::Logs => self.sample_log(item, &mut arena, &mut counts)?,
                        _ => self.sample_span(item, &mut arena, &mut counts)?,
                    };
                    match verdict {
                        Verdict::Drop => {}
                        Verdict::Keep => kept += 1,
                        Verdict::Rewritten(..) => {
                            kept += 1;
                            rewritten += 1;
                        }
                    }
                    verdicts.push(verdict);
                }
            }
        }
        for (policy, per_outcome) in counts.iter().enumerate() {
            for (sampled, n) in per_outcome.iter().enumerate().filter(|(_, n)| **n > 0) {
                self.metrics.sampled[policy][sampled].increment(*n);
            }
        }
        if kept == 0 {
            return Ok(Outcome::Empty);
        }
        if kept == verdicts.len() && rewritten == 0 {
            return Ok(Outcome::Unchanged);
        }
        let mut regroup = Regroup::new();
        let mut verdicts = verdicts.into_iter();
        for rg in payload.view().resources() {
            let rg = rg?;
            let mut resource_open = false;
            for sg in rg.scopes() {
                let sg = sg?;
                let mut scope_open = false;
                for item in sg.items() {
                    let item = item?;
                    let bytes = match verdicts.next() {
                        Some(Verdict::Keep) => item,
                        Some(Verdict::Rewritten(start, end)) => &arena[start..end],
                        Some(Verdict::Drop) | None => continue,
                    };
                    if !resource_open {
                        regroup.push_resource(rg)?;
                        resource_open = true;
                    }
                    if !scope_open {
                        regroup.push_scope(sg)?;
                        scope_open = true;
                    }
                    regroup.push_item(bytes);
                }
            }
        }
        Ok(Outcome::Rebuilt(Payload::from_counted(self.signal, regroup.finish(), kept)))
    }

    fn sample_span(&self, span: &[u8], arena: &mut Vec<u8>, counts: &mut [[u64; 2]]) -> Result<Verdict, WireError> {
        let SpanFields { trace_id, trace_state, attributes, .. } = SpanView::new(span).fields()?;
        let mut priority = None;
        for kv in attributes.iter_raw() {
            let (key, value) = kv?;
            if key == b"sampling.priority" {
                priority = span_priority(value.get()?);
            }
        }
        let arrived = Arrived { trace_id, state: sampling::ot_sampling(trace_state), priority, attribute: None };
        let decision = self.sampler.decide(&arrived, sampler::Signal::Spans);
        count(counts, &decision);
        Ok(match decision {
            Decision { sampled: false, .. } => Verdict::Drop,
            Decision { record: None, .. } => Verdict::Keep,
            Decision { record: Some(record), .. } => match self.span_trace_state(trace_state, &record) {
                None => Verdict::Keep,
                Some(new) => {
                    let start = arena.len();
                    sampling::rewrite_span(arena, span, Some(&new), &[]);
                    Verdict::Rewritten(start, arena.len())
                }
            },
        })
    }

    /// The tracestate a kept span leaves with, when it differs from the one it came with.
    fn span_trace_state(&self, current: &str, record: &Record) -> Option<String> {
        if !record.replace_threshold && record.randomness.is_none() {
            // Already at this threshold, written canonically (no trailing zeros): nothing to do.
            if let Some(th) = sampling::ot_value(current, "th") {
                let canonical = th == "0" || !th.ends_with('0');
                if canonical && sampling::parse_threshold(th) == Some(record.threshold) {
                    return None;
                }
            }
        }
        if current.is_empty() && record.randomness.is_none() {
            if let Some((t, ts)) = &self.plain_trace_state {
                if *t == record.threshold {
                    return Some(ts.clone());
                }
            }
        }
        let mut ts = if record.replace_threshold { sampling::without_threshold(current) } else { current.to_string() };
        if let Some(r) = record.randomness {
            ts = sampling::with_randomness(&ts, r);
        }
        let ts = sampling::with_threshold(&ts, record.threshold);
        (ts != current).then_some(ts)
    }

    fn sample_log(&self, record: &[u8], arena: &mut Vec<u8>, counts: &mut [[u64; 2]]) -> Result<Verdict, WireError> {
        let LogRecordFields { trace_id, attributes, .. } = LogRecordView::new(record).fields()?;
        let (mut th, mut rv, mut priority, mut attribute) = ("", "", None, None);
        for kv in attributes.iter_raw() {
            let (key, value) = kv?;
            match key {
                b"sampling.threshold" => th = string_value(value.get()?),
                b"sampling.randomness" => rv = string_value(value.get()?),
                k if !self.from_attribute.is_empty() && k == self.from_attribute.as_bytes() => {
                    attribute = Some(value.get()?);
                }
                _ => {}
            }
            if !self.sampling_priority.is_empty() && key == self.sampling_priority.as_bytes() {
                priority = match value.get()? {
                    AnyValue::Int(i) => Some(i as f64),
                    AnyValue::Double(d) => Some(d),
                    _ => None,
                };
            }
        }
        let state = (|| {
            let th = (!th.is_empty())
                .then(|| sampling::parse_threshold(th).ok_or(sampling::MalformedSampling::Threshold))
                .transpose()?;
            let rv = (!rv.is_empty())
                .then(|| sampling::parse_randomness(rv).ok_or(sampling::MalformedSampling::Randomness))
                .transpose()?;
            Ok((th, rv))
        })();
        let arrived = Arrived { trace_id, state, priority, attribute };
        let decision = self.sampler.decide(&arrived, sampler::Signal::Logs);
        count(counts, &decision);
        Ok(match decision {
            Decision { sampled: false, .. } => Verdict::Drop,
            Decision { record: None, .. } => Verdict::Keep,
            Decision { record: Some(r), .. } => {
                let new_th = sampling::encode_threshold(r.threshold);
                if new_th == th && r.randomness.is_none() {
                    Verdict::Keep
                } else {
                    let new_rv = r.randomness.map(sampling::encode_randomness);
                    let mut set = vec![("sampling.threshold", new_th.as_str())];
                    if let Some(rv) = &new_rv {
                        set.push(("sampling.randomness", rv.as_str()));
                    }
                    let start = arena.len();
                    sampling::rewrite_log_record(arena, record, &set);
                    Verdict::Rewritten(start, arena.len())
                }
            }
        })
    }
}

fn count(counts: &mut [[u64; 2]], d: &Decision) {
    counts[d.policy.index()][usize::from(d.sampled)] += 1;
}

/// `sampling.priority` as a number: ints, doubles, and strings that parse as one.
fn span_priority(v: AnyValue<'_>) -> Option<f64> {
    match v {
        AnyValue::Int(i) => Some(i as f64),
        AnyValue::Double(d) => Some(d),
        AnyValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string attribute's value; other types read as absent (as the Collector reads
/// `sampling.threshold` / `sampling.randomness`).
fn string_value(v: AnyValue<'_>) -> &str {
    match v {
        AnyValue::String(s) => s,
        _ => "",
    }
}

#[async_trait]
impl Processor for ProbabilisticSampler {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        while let Some(Envelope { payload, acks, metadata }) = input.recv().await {
            self.metrics.items.incoming(payload.items());
            let payload = match self.sample(&payload) {
                Ok(Outcome::Unchanged) => payload,
                Ok(Outcome::Rebuilt(rebuilt)) => rebuilt,
                // Dropping the tokens acknowledges the request: sampled out is a success.
                Ok(Outcome::Empty) => continue,
                Err(error) => {
                    // Requests are checked when received, so this is not expected.
                    tracing::warn!(message = "Cannot read a request; it is refused.", processor = %self.id, %error);
                    acks.fail(&Failure::permanent("probabilistic_sampler could not read the request"));
                    continue;
                }
            };
            let items = payload.items();
            self.metrics.items.outgoing(items);
            if let Err(error) = output.send(Envelope { payload, acks, metadata }).await {
                // The output recorded the failure on the tokens already.
                tracing::debug!(message = "The next stage did not accept sampled items.", processor = %self.id, %error, items);
            }
        }
    }
}

#[cfg(test)]
mod tests;
