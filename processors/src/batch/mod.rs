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
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use weir_core::component::BuildContext;
use weir_core::{Acks, BuildError, Envelope, Output, Payload, Processor, ProcessorFactory, Signal};

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
    metrics: BatchMetrics,
}

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
        Some(Envelope::with_acks(payload, std::mem::take(&mut self.acks)))
    }
}

/// The batching state machine of one running processor.
struct Batcher {
    processor: BatchProcessor,
    output: Output,
    batch: OpenBatch,
}

impl Batcher {
    /// Adds one received envelope, sending whatever that completes.
    async fn add(&mut self, env: Envelope) {
        let n = env.payload.items();
        self.processor.metrics.items.incoming(n);
        if n == 0 {
            // Nothing to send; dropping the tokens acknowledges the request.
            return;
        }
        let max = self.processor.send_batch_max_size;
        if max > 0 && self.batch.items + n > max {
            self.send_batch(Trigger::Size).await;
        }
        if max > 0 && n > max {
            let mut pieces = self.split(env, max);
            let last = pieces.pop();
            for piece in pieces {
                self.send(piece, Trigger::Size).await;
            }
            if let Some(last) = last {
                self.batch.push(last);
            }
        } else {
            self.batch.push(env);
        }
        if self.batch.items >= self.processor.send_batch_size {
            self.send_batch(Trigger::Size).await;
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

    async fn send_batch(&mut self, trigger: Trigger) {
        if let Some(env) = self.batch.take() {
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

    /// When the open batch must be sent at the latest.
    fn deadline(&self) -> Option<Instant> {
        self.batch.started.map(|s| s + self.processor.timeout)
    }
}

#[async_trait]
impl Processor for BatchProcessor {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        let mut batcher = Batcher { processor: *self, output, batch: OpenBatch::default() };
        // One timer, re-armed for each batch, rather than a new one per loop turn.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            tokio::select! {
                // The timer first: a busy input must not delay a due batch.
                biased;
                () = &mut timer, if armed.is_some() => {
                    batcher.send_batch(Trigger::Timeout).await;
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
        batcher.send_batch(Trigger::Timeout).await;
    }
}

#[cfg(test)]
mod tests;
