//! The data path between components: what flows ([`Envelope`]), where a receiver hands it
//! ([`Consumer`]), where a stage sends what it emits ([`Output`]), and where a connector sends
//! what it emits ([`Downstream`]).
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
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a refused client should wait before retrying, sent as `Retry-After`.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A payload in flight with the acknowledgement tokens of the requests it carries.
///
/// `metadata` is the client metadata of the request the payload came from, present only when
/// the receiver was asked for it (`include_metadata: true`). It is shared (`Arc`), so fan-out
/// and processors that forward an envelope keep it for free; a processor that joins payloads
/// of different requests keeps it only when they agree on it (`batch` with `metadata_keys`
/// keeps those keys, as the Collector's does) and drops it otherwise.
#[derive(Clone)]
pub struct Envelope {
    pub payload: Payload,
    pub acks: Acks,
    pub metadata: Option<Arc<ClientMetadata>>,
}

impl Envelope {
    pub fn new(payload: Payload) -> Self {
        Envelope { payload, acks: Acks::none(), metadata: None }
    }

    /// A payload with the acknowledgement tokens of its requests, without client metadata.
    pub fn with_acks(payload: Payload, acks: Acks) -> Self {
        Envelope { payload, acks, metadata: None }
    }
}

/// The metadata of a client request (the Collector's `client.Info.Metadata`): HTTP headers or
/// gRPC metadata, by lower-cased name, each with its values in the order received.
///
/// Lookups are case-insensitive, as in the Collector. Binary gRPC metadata (`-bin` names) and
/// values that are not UTF-8 are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientMetadata {
    entries: BTreeMap<String, Vec<String>>,
}

impl ClientMetadata {
    /// The metadata of an HTTP request or of a gRPC call (whose metadata are HTTP/2 headers).
    pub fn from_headers(headers: &http::HeaderMap) -> ClientMetadata {
        let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in headers {
            if name.as_str().ends_with("-bin") {
                continue;
            }
            if let Ok(v) = value.to_str() {
                entries.entry(name.as_str().to_string()).or_default().push(v.to_string());
            }
        }
        ClientMetadata { entries }
    }

    /// Metadata from `(name, value)` pairs (names are lower-cased).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ClientMetadata {
        let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            entries.entry(k.to_ascii_lowercase()).or_default().push(v.to_string());
        }
        ClientMetadata { entries }
    }

    /// The values of `key` (any case); empty when absent.
    pub fn get(&self, key: &str) -> &[String] {
        let found = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.entries.get(&key.to_ascii_lowercase())
        } else {
            self.entries.get(key)
        };
        found.map(Vec::as_slice).unwrap_or(&[])
    }

    /// Only the given keys (any case), as a batch keyed by them keeps them.
    pub fn select(&self, keys: &[String]) -> ClientMetadata {
        let entries = keys
            .iter()
            .filter_map(|k| {
                let k = k.to_ascii_lowercase();
                self.entries.get(&k).map(|v| (k, v.clone()))
            })
            .collect();
        ClientMetadata { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every name with its values, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
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

/// One pipeline a connector feeds: the pipeline's admission gates and first stage.
#[derive(Clone)]
pub struct Downstream {
    pub(crate) pipeline: Arc<str>,
    pub(crate) entry: PipelineEntry,
}

impl Downstream {
    /// The pipeline's id (`traces/out`), for connectors that route by pipeline.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// Hands `env` to the pipeline: its gates first (a refusal fails the envelope's tokens and
    /// is returned), then its first stage, waiting while that is full.
    pub async fn send(&self, env: Envelope) -> Result<(), Failure> {
        for g in &self.entry.gates {
            if let Err(f) = g.admit(&env.payload) {
                env.acks.fail(&f);
                return Err(f);
            }
        }
        self.entry.head.send(env).await
    }
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
        self.consume_with_metadata(payload, None, transport, wait_for_result).await
    }

    /// [`Consumer::consume`], keeping the client's metadata with the data (a receiver with
    /// `include_metadata: true`).
    pub async fn consume_with_metadata(
        &self,
        payload: Payload,
        metadata: Option<Arc<ClientMetadata>>,
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
            let env = Envelope { payload: payload.clone(), acks: acks.clone(), metadata: metadata.clone() };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_metadata_lookups_ignore_case_and_skip_binary_values() {
        let mut h = http::HeaderMap::new();
        h.append("X-Tenant", "acme".parse().unwrap());
        h.append("x-tenant", "beta".parse().unwrap());
        h.append("trace-bin", "AAEC".parse().unwrap());
        let m = ClientMetadata::from_headers(&h);
        assert_eq!(m.get("X-TENANT"), ["acme", "beta"]);
        assert!(m.get("trace-bin").is_empty());
        assert!(m.get("absent").is_empty());
        let only = m.select(&["X-Tenant".to_string(), "absent".to_string()]);
        assert_eq!(only.iter().count(), 1);
        assert_eq!(only.get("x-tenant"), ["acme", "beta"]);
    }
}
