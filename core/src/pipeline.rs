//! The data path between components: what flows ([`Envelope`]), where a receiver hands it
//! ([`Consumer`]), and where a stage sends what it emits ([`Output`]).
//!
//! ```text
//! receiver ─▶ Consumer ─▶ [gates] ─▶ processor 1 ─▶ … ─▶ processor n ─▶ Output ┬▶ exporter A (Enqueue)
//!                 (fan-out to every pipeline                                   └▶ exporter B (Enqueue)
//!                  that lists the receiver)
//! ```
//!
//! Every edge is bounded: a processor's input is a small `mpsc` channel, an exporter's is its
//! sending queue (the [`Enqueue`] the exporter plumbing implements). A full edge makes the
//! sender wait; a receiver waits at most its enqueue timeout and then refuses the request as
//! retryable. The runtime ([`crate::runtime`]) wires these types; components only use them.

use crate::ack::{AckToken, Acks, Failure};
use crate::pdata::{Payload, Signal};
use crate::telemetry::ReceiverMetrics;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a refused client should wait before retrying, sent as `Retry-After`.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A payload in flight with the acknowledgement tokens of the requests it carries.
#[derive(Clone)]
pub struct Envelope {
    pub payload: Payload,
    pub acks: Acks,
}

impl Envelope {
    pub fn new(payload: Payload) -> Self {
        Envelope { payload, acks: Acks::none() }
    }
}

/// The pipeline's end of an exporter's sending queue (implemented by
/// [`crate::exporterhelper`]).
#[async_trait]
pub trait Enqueue: Send + Sync + 'static {
    /// Takes `env` into the queue, waiting while it is full when the queue is configured to;
    /// on failure the envelope's tokens are failed too.
    async fn enqueue(&self, env: Envelope) -> Result<(), Failure>;
}

/// One downstream edge of a stage.
#[derive(Clone)]
pub(crate) enum Target {
    /// The next processor of the pipeline.
    Stage(mpsc::Sender<Envelope>),
    /// An exporter's sending queue.
    Exporter(Arc<dyn Enqueue>),
}

/// Where a stage sends what it emits: the next processor, or every exporter of the pipeline
/// (fan-out shares the payload; each exporter sends from its own queue).
#[derive(Clone)]
pub struct Output {
    pub(crate) targets: Arc<[Target]>,
}

impl Output {
    pub(crate) fn new(targets: Vec<Target>) -> Output {
        Output { targets: targets.into() }
    }

    /// Sends `env` on every edge, waiting while a channel is full (backpressure).
    ///
    /// A closed edge (its stage ended) fails the envelope's tokens.
    pub async fn send(&self, env: Envelope) -> Result<(), Failure> {
        let n = self.targets.len();
        let mut env = Some(env);
        for (i, t) in self.targets.iter().enumerate() {
            let e = if i + 1 == n {
                env.take().expect("one envelope per edge")
            } else {
                env.clone().expect("present until last")
            };
            match t {
                Target::Stage(tx) => {
                    if let Err(mpsc::error::SendError(e)) = tx.send(e).await {
                        let f = Failure::retryable("the pipeline is shutting down");
                        e.acks.fail(&f);
                        return Err(f);
                    }
                }
                Target::Exporter(q) => q.enqueue(e).await?,
            }
        }
        Ok(())
    }
}

/// A synchronous check a processor can impose on data before it enters the pipeline
/// (`memory_limiter` uses it to refuse data while memory is high).
pub trait Gate: Send + Sync + 'static {
    fn admit(&self, payload: &Payload) -> Result<(), Failure>;
}

/// The head of one pipeline: admission gates and the first stage.
#[derive(Clone)]
pub(crate) struct PipelineEntry {
    pub(crate) gates: Vec<Arc<dyn Gate>>,
    pub(crate) head: Output,
}

/// Where a receiver sends one signal: every pipeline that lists it, and its metrics.
#[derive(Clone)]
pub struct Consumer {
    pub(crate) signal: Signal,
    pub(crate) pipelines: Arc<[PipelineEntry]>,
    pub(crate) metrics: ReceiverMetrics,
    pub(crate) enqueue_timeout: Duration,
}

impl Consumer {
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The receiver's counters for this signal (for items in requests it could not read).
    pub fn metrics(&self) -> &ReceiverMetrics {
        &self.metrics
    }

    /// Hands a received payload to every pipeline.
    ///
    /// Returns once the pipelines have accepted it, or — with `wait_for_result` — once every
    /// exporter has delivered it (or failed). A full pipeline that does not accept within the
    /// receiver's enqueue timeout, and a refusal by `memory_limiter`, are retryable failures
    /// with a retry hint, for the receiver to turn into `UNAVAILABLE` / 503 + `Retry-After`.
    pub async fn consume(
        &self,
        payload: Payload,
        transport: &'static str,
        wait_for_result: bool,
    ) -> Result<(), Failure> {
        let items = payload.items();
        if items == 0 {
            return Ok(());
        }
        for p in self.pipelines.iter() {
            for g in &p.gates {
                if let Err(f) = g.admit(&payload) {
                    self.metrics.refused(transport, items);
                    return Err(f);
                }
            }
        }
        let (acks, waiter) = if wait_for_result {
            let (t, w) = AckToken::new();
            (Acks::one(t), Some(w))
        } else {
            (Acks::none(), None)
        };
        for p in self.pipelines.iter() {
            let env = Envelope { payload: payload.clone(), acks: acks.clone() };
            match tokio::time::timeout(self.enqueue_timeout, p.head.send(env)).await {
                Ok(Ok(())) => {}
                Ok(Err(f)) => {
                    self.metrics.refused(transport, items);
                    acks.fail(&f);
                    return Err(f);
                }
                Err(_) => {
                    let f = Failure::retryable("the pipeline is full; retry later").with_retry_after(RETRY_AFTER);
                    self.metrics.refused(transport, items);
                    acks.fail(&f);
                    return Err(f);
                }
            }
        }
        drop(acks);
        // With `wait_for_result` the outcome is only known once the exporters answered; count
        // the items then, as the Collector counts what its consumers returned.
        let result = match waiter {
            Some(w) => w.wait().await,
            None => Ok(()),
        };
        match &result {
            Ok(()) => self.metrics.accepted(transport, items),
            Err(_) => self.metrics.refused(transport, items),
        }
        result
    }
}

/// The payloads each signal's pipelines receive from one receiver; `None` for a signal no
/// pipeline routes from this receiver (serve it as unimplemented / 404).
#[derive(Clone, Default)]
pub struct Consumers {
    pub traces: Option<Consumer>,
    pub metrics: Option<Consumer>,
    pub logs: Option<Consumer>,
}

impl Consumers {
    pub fn get(&self, signal: Signal) -> Option<&Consumer> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }

    pub(crate) fn slot(&mut self, signal: Signal) -> &mut Option<Consumer> {
        match signal {
            Signal::Traces => &mut self.traces,
            Signal::Metrics => &mut self.metrics,
            Signal::Logs => &mut self.logs,
        }
    }
}
