//! `batch`: joins requests into larger ones before they reach the exporters.
//!
//! # Design
//!
//! One task per pipeline reads envelopes from the processor's input channel and keeps one
//! open batch: the received payloads (still encoded), the acknowledgement tokens of every
//! request in it, its item count and when its first item arrived.
//!
//! - **Size trigger.** When the batch reaches `send_batch_size` items it is sent. The parts
//!   are joined with [`Payload::concat`] — one copy of the bytes per sent batch; a batch of a
//!   single request is forwarded without copying.
//! - **Upper bound.** With `send_batch_max_size`, a request that would take the open batch past
//!   the bound makes the open batch go first, and a request larger than the bound on its own
//!   is split with [`Payload::split`]; its last piece opens the next batch. So no sent batch
//!   exceeds the bound (except a single metric with more data points than the bound, which
//!   cannot be cut), and only oversized requests are copied twice. Unlike the Collector,
//!   which moves items between requests to fill every batch to exactly the bound, a batch
//!   sent early because the next request does not fit may be smaller than `send_batch_size`.
//! - **Timeout.** The open batch is sent `timeout` after its first item arrived, full or not,
//!   so no item waits in the batcher longer than `timeout` (plus the time the next stage takes
//!   to accept while it is full). `timeout: 0` sends every request as it arrives.
//! - **Shutdown.** When the input closes, the open batch is sent and the task returns.
//! - **Per client metadata** (`metadata_keys`). One open batch per distinct combination of
//!   those keys' values in the requests' client metadata (receivers with `include_metadata:
//!   true`), each with its own size trigger and timeout; a sent batch carries those keys (and
//!   only those) as its metadata, as the Collector's does. At most
//!   `metadata_cardinality_limit` combinations are kept: data of a further one is refused with
//!   a retryable error ("too many batcher metadata-value combinations"), as in the Collector.
//!   Without `metadata_keys` one batch takes everything and the client metadata is dropped.
//!
//! Order is kept: batches leave in the order their items arrived. Sending waits while the next
//! stage is full, and the task reads no input meanwhile, so backpressure reaches receivers.
//!
//! # Acknowledgements
//!
//! A sent batch carries the tokens of every request merged into it ([`Acks::extend`]); each
//! piece of a split request carries a clone of that request's tokens. A failure recorded
//! downstream therefore reaches every request whose data was in the failed batch — unlike the
//! Collector's batch processor, which reports success as soon as it has accepted the data.
//!
//! # Metrics
//!
//! Label `processor` (the component id): `otelcol_processor_batch_batch_send_size`
//! (histogram of items per sent batch), `otelcol_processor_batch_batch_size_trigger_send` and
//! `otelcol_processor_batch_timeout_trigger_send` (batches sent because of size or timeout; the
//! flush at shutdown counts as a timeout, as in the Collector), and
//! `otelcol_processor_incoming_items` / `otelcol_processor_outgoing_items` (with `otel_signal`).

mod config;

pub use config::BatchConfig;

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use weir_core::component::BuildContext;
use weir_core::{
    Acks, BuildError, ClientMetadata, Envelope, Failure, Output, Payload, Processor, ProcessorFactory, Signal,
};

/// Factory of the `batch` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchFactory;

impl ProcessorFactory for BatchFactory {
    type Config = BatchConfig;

    fn type_name(&self) -> &'static str {
        "batch"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &BatchConfig) -> Result<Box<dyn Processor>, BuildError> {
        let signal = ctx.signal.ok_or_else(|| BuildError::new("the batch processor is built per pipeline signal"))?;
        let id = ctx.id.to_string();
        Ok(Box::new(BatchProcessor {
            // With `timeout: 0` every request is sent as it arrives, whatever `send_batch_size` says.
            send_batch_size: if config.timeout.is_zero() { 0 } else { config.send_batch_size },
            send_batch_max_size: config.send_batch_max_size,
            timeout: config.timeout,
            metadata_keys: config.metadata_keys.iter().map(|k| k.to_ascii_lowercase()).collect(),
            metadata_cardinality_limit: config.metadata_cardinality_limit as usize,
            metrics: BatchMetrics::new(&id, signal),
            id,
        }))
    }
}

/// The running `batch` processor of one pipeline.
struct BatchProcessor {
    id: String,
    /// Items that trigger a send; 0 sends every request at once.
    send_batch_size: usize,
    /// Upper bound on the items of a sent batch; 0 is none.
    send_batch_max_size: usize,
    timeout: Duration,
    /// `metadata_keys`, lower-cased.
    metadata_keys: Vec<String>,
    /// Most distinct `metadata_keys` value combinations; 0 is no limit.
    metadata_cardinality_limit: usize,
    metrics: BatchMetrics,
}

/// The values of each `metadata_keys` key, in order (empty without `metadata_keys`).
type BatchKey = Vec<Vec<String>>;

/// Why a batch was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Size,
    /// The timeout elapsed, or the input closed.
    Timeout,
}

struct BatchMetrics {
    items: ItemCounters,
    send_size: Histogram,
    size_trigger: Counter,
    timeout_trigger: Counter,
}

impl BatchMetrics {
    fn new(id: &str, signal: Signal) -> Self {
        let labels = [("processor", id.to_string())];
        BatchMetrics {
            items: ItemCounters::new(id, signal),
            send_size: metrics::histogram!("otelcol_processor_batch_batch_send_size", &labels),
            size_trigger: metrics::counter!("otelcol_processor_batch_batch_size_trigger_send", &labels),
            timeout_trigger: metrics::counter!("otelcol_processor_batch_timeout_trigger_send", &labels),
        }
    }

    fn sent(&self, items: usize, trigger: Trigger) {
        self.items.outgoing(items);
        self.send_size.record(items as f64);
        match trigger {
            Trigger::Size => self.size_trigger.increment(1),
            Trigger::Timeout => self.timeout_trigger.increment(1),
        }
    }
}

/// The open batch: received payloads, still apart, and the tokens of their requests.
#[derive(Default)]
struct OpenBatch {
    parts: Vec<Payload>,
    acks: Acks,
    items: usize,
    /// When the first item arrived; `None` while empty.
    started: Option<Instant>,
    /// The `metadata_keys` entries of this batch's requests.
    metadata: Option<Arc<ClientMetadata>>,
}

impl OpenBatch {
    fn push(&mut self, env: Envelope) {
        self.started.get_or_insert_with(Instant::now);
        self.items += env.payload.items();
        self.parts.push(env.payload);
        self.acks.extend(env.acks);
    }

    /// Joins the parts into one envelope and empties the batch (keeping its capacity).
    fn take(&mut self) -> Option<Envelope> {
        if self.parts.is_empty() {
            return None;
        }
        let payload = Payload::concat(&self.parts);
        self.parts.clear();
        self.items = 0;
        self.started = None;
        Some(Envelope { payload, acks: std::mem::take(&mut self.acks), metadata: self.metadata.clone() })
    }
}

/// The batching state machine of one running processor.
struct Batcher {
    processor: BatchProcessor,
    output: Output,
    /// The open batch of each `metadata_keys` combination seen (one, keyed by nothing,
    /// without `metadata_keys`). Entries stay once created, as the Collector's batchers do.
    batches: HashMap<BatchKey, OpenBatch>,
}

impl Batcher {
    /// Adds one received envelope, sending whatever that completes.
    async fn add(&mut self, mut env: Envelope) {
        let n = env.payload.items();
        self.processor.metrics.items.incoming(n);
        if n == 0 {
            // Nothing to send; dropping the tokens acknowledges the request.
            return;
        }
        let keys = &self.processor.metadata_keys;
        let key: BatchKey =
            keys.iter().map(|k| env.metadata.as_deref().map(|m| m.get(k).to_vec()).unwrap_or_default()).collect();
        env.metadata = if keys.is_empty() { None } else { env.metadata.map(|m| Arc::new(m.select(keys))) };
        if !self.batches.contains_key(&key) {
            let limit = self.processor.metadata_cardinality_limit;
            if !keys.is_empty() && limit > 0 && self.batches.len() >= limit {
                env.acks.fail(&Failure::retryable("too many batcher metadata-value combinations"));
                return;
            }
            self.batches.insert(key.clone(), OpenBatch { metadata: env.metadata.clone(), ..OpenBatch::default() });
        }
        let max = self.processor.send_batch_max_size;
        if max > 0 && self.open(&key).items + n > max {
            self.send_batch(&key, Trigger::Size).await;
        }
        if max > 0 && n > max {
            let mut pieces = self.split(env, max);
            let last = pieces.pop();
            for piece in pieces {
                self.send(piece, Trigger::Size).await;
            }
            if let Some(last) = last {
                self.open(&key).push(last);
            }
        } else {
            self.open(&key).push(env);
        }
        if self.open(&key).items >= self.processor.send_batch_size {
            self.send_batch(&key, Trigger::Size).await;
        }
    }

    /// The open batch of `key` (created by `add` before use).
    fn open(&mut self, key: &BatchKey) -> &mut OpenBatch {
        self.batches.entry(key.clone()).or_default()
    }

    /// Sends every batch whose timeout has passed (all of them with `now: None`).
    async fn send_due(&mut self, now: Option<Instant>) {
        let timeout = self.processor.timeout;
        let due: Vec<BatchKey> = self
            .batches
            .iter()
            .filter(|(_, b)| b.started.is_some_and(|s| now.is_none_or(|now| s + timeout <= now)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.send_batch(&key, Trigger::Timeout).await;
        }
    }

    /// Cuts an oversized request into pieces of at most `max` items, each with its tokens.
    fn split(&self, env: Envelope, max: usize) -> Vec<Envelope> {
        match env.payload.split(max) {
            Ok(parts) => parts
                .into_iter()
                .map(|payload| Envelope { payload, acks: env.acks.clone(), metadata: env.metadata.clone() })
                .collect(),
            Err(error) => {
                // The payload's structure was checked when it was received, so this is not
                // expected; sending it whole beats losing it.
                tracing::warn!(
                    message = "Cannot split a request larger than send_batch_max_size; sending it whole.",
                    processor = %self.processor.id,
                    %error,
                );
                vec![env]
            }
        }
    }

    async fn send_batch(&mut self, key: &BatchKey, trigger: Trigger) {
        if let Some(env) = self.batches.get_mut(key).and_then(OpenBatch::take) {
            self.send(env, trigger).await;
        }
    }

    async fn send(&self, env: Envelope, trigger: Trigger) {
        let items = env.payload.items();
        self.processor.metrics.sent(items, trigger);
        // On failure the output has already recorded it on the envelope's tokens, so the
        // requests' senders learn about it; there is nothing else to do with the data.
        if let Err(error) = self.output.send(env).await {
            tracing::debug!(message = "The next stage did not accept a batch.", processor = %self.processor.id, %error, items);
        }
    }

    /// When the oldest open batch must be sent at the latest.
    fn deadline(&self) -> Option<Instant> {
        self.batches.values().filter_map(|b| b.started).min().map(|s| s + self.processor.timeout)
    }
}

#[async_trait]
impl Processor for BatchProcessor {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        let mut batcher = Batcher { processor: *self, output, batches: HashMap::new() };
        // One timer, re-armed for each batch, rather than a new one per loop turn.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            tokio::select! {
                // The timer first: a busy input must not delay a due batch.
                biased;
                () = &mut timer, if armed.is_some() => {
                    batcher.send_due(Some(Instant::now())).await;
                }
                next = input.recv() => match next {
                    Some(env) => batcher.add(env).await,
                    None => break,
                },
            }
            let deadline = batcher.deadline();
            if deadline != armed {
                if let Some(d) = deadline {
                    timer.as_mut().reset(d);
                }
                armed = deadline;
            }
        }
        batcher.send_due(None).await;
    }
}

#[cfg(test)]
mod tests;
