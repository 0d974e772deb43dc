//! The plumbing every exporter shares: sending queue, concurrency, timeout, retry, metrics,
//! acknowledgements. Configured with the Collector's keys (`timeout`, `retry_on_failure`,
//! `sending_queue`), which each exporter's config carries ([`ExporterConfig`]).
//!
//! This module's [`config`] only depends on the configuration basics; the component contract
//! ([`crate::component`]) uses it, and the rest of the module uses the contract.
//!
//! ```text
//! pipeline ──enqueue──▶ sending queue ──▶ [batch] ──▶ send loop: up to num_consumers at once
//!          (QueueSender)  in memory, or  (sending_queue::   │
//!                         on disk         batch, optional)  ▼
//!                                  Retry ▶ MapErr ▶ Timeout ▶ the exporter
//! ```
//!
//! - [`config`]: the keys and their checks;
//! - [`queue`]: admission within the queue's capacity, in memory or on disk
//!   ([`crate::persistent_queue`]), and the reader the send loop takes payloads from;
//! - [`batch`]: exporter-side batching (`sending_queue::batch`), between the queue and the
//!   consumers;
//! - [`retry`]: one payload's delivery as a `tower` stack (backoff, throttle hints, timeout);
//! - the send loop (here): one loop for both queues.
//!
//! A payload's acknowledgement tokens stay with it until it is sent (or finally fails), unless
//! `sending_queue.wait_for_result` is false, in which case the queue acknowledges its branch on
//! enqueue, as the Collector does; a persistent queue always acknowledges once the payload is
//! on disk.
//!
//! Unlike the Collector, `block_on_overflow` defaults to `true`: a full queue makes the
//! pipeline wait, and receivers turn that into retryable errors for clients, rather than
//! dropping data that was already acknowledged.
//!
//! Shutdown: once every sender is dropped, an in-memory queue is drained (every payload sent
//! or given up on); a persistent queue stops taking records, gives sends in flight one
//! `timeout` to finish, and keeps the rest on disk for the next start.

mod batch;
pub mod config;
mod failures;
mod queue;
mod retry;

pub use crate::component::ExporterConfig;
pub use config::{
    BatchConfig, ExporterSettings, PartitionConfig, QueueConfig, RetryConfig, Sizer, DEFAULT_TIMEOUT,
    MAX_QUEUED_REQUESTS,
};
pub use failures::ExportFailures;
pub use queue::QueueSender;

use crate::ack::Failure;
use crate::component::Exporter;
use crate::pdata::Signal;
use crate::persistent_queue::{DiskQueue, LogOptions};
use crate::telemetry::ExporterMetrics;
use batch::{Batch, Batcher, SharedDone};
use queue::{QueueReader, QueueSettings, Taken};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

/// Starts the sending queue and the send loop of one exporter instance (one signal).
///
/// With `storage` (the persistent queue's log settings, from the storage extension that
/// `sending_queue::storage` names) the queue is opened on disk and recovered first.
///
/// Returns the pipeline's end of the queue and the task, which ends once every sender is
/// dropped and the queue is drained (or, on disk, left for the next start), after calling the
/// exporter's `shutdown`.
pub fn spawn(
    exporter_id: &str,
    signal: Signal,
    exporter: Arc<dyn Exporter>,
    settings: &ExporterSettings,
    storage: Option<LogOptions>,
) -> Result<(QueueSender, JoinHandle<()>), String> {
    spawn_reporting(exporter_id, signal, exporter, settings, storage, ExportFailures::default())
}

/// [`spawn`], recording every payload given up on in `failures` (the service's record, which
/// `health_check`'s `check_collector_pipeline` reads).
pub fn spawn_reporting(
    exporter_id: &str,
    signal: Signal,
    exporter: Arc<dyn Exporter>,
    settings: &ExporterSettings,
    storage: Option<LogOptions>,
    failures: ExportFailures,
) -> Result<(QueueSender, JoinHandle<()>), String> {
    let metrics = ExporterMetrics::new(exporter_id, signal);
    let q = &settings.queue;
    let (sender, reader, consumers) = match storage {
        None => {
            let (capacity, consumers, release_on_enqueue) =
                if q.enabled { (q.queue_size, q.num_consumers, !q.wait_for_result) } else { (1, 1, false) };
            let sizer = if q.enabled { q.sizer } else { Sizer::Requests };
            let block_on_overflow = !q.enabled || q.block_on_overflow;
            let s = QueueSettings { capacity, sizer, release_on_enqueue, block_on_overflow };
            let (sender, reader) = queue::memory(s, metrics.clone());
            (sender, reader, consumers)
        }
        Some(opts) => {
            let (capacity, sizer) = (q.queue_size.min(Semaphore::MAX_PERMITS), q.sizer);
            let dir = opts.dir.clone();
            let cost = move |len: u32, items: u32| queue::cost_of(sizer, capacity, len as usize, items as usize);
            let (disk, _recovery) = DiskQueue::open(opts, &cost, exporter_id, signal)
                .map_err(|e| format!("cannot open the persistent queue in {}: {e}", dir.display()))?;
            let s = QueueSettings { capacity, sizer, release_on_enqueue: true, block_on_overflow: q.block_on_overflow };
            let (sender, reader) = queue::disk(disk, s, metrics.clone());
            (sender, reader, q.num_consumers)
        }
    };
    let stack = retry::send_stack(exporter_id, exporter.clone(), settings);
    let id: Arc<str> = Arc::from(exporter_id);
    let batcher = match (&q.batch, q.batch_sizer()) {
        (Some(b), Some(sizer)) if q.enabled => Some(Batcher::new(b, sizer)),
        _ => None,
    };
    let task = tokio::spawn(send_loop(
        reader,
        batcher,
        stack,
        consumers,
        signal,
        (metrics, failures),
        id,
        settings.timeout,
        exporter,
    ));
    Ok((sender, task))
}

/// What every send of one exporter needs: its stack (retry, timeout, exporter), metrics and id.
struct Sending<S> {
    stack: S,
    metrics: ExporterMetrics,
    failures: ExportFailures,
    id: Arc<str>,
}

impl<S> Sending<S>
where
    S: tower::Service<retry::Request, Response = (), Error = Failure, Future: Send> + Clone + Send + 'static,
{
    /// Sends one batch on its own task, holding a consumer slot.
    fn send(&self, in_flight: &mut JoinSet<()>, batch: Batch, permit: tokio::sync::OwnedSemaphorePermit) {
        let (svc, m, failures, id) = (self.stack.clone(), self.metrics.clone(), self.failures.clone(), self.id.clone());
        in_flight.spawn(async move {
            let Batch { payload, acks, metadata, done } = batch;
            let items = payload.items();
            match svc.oneshot(retry::Request { payload, metadata }).await {
                Ok(()) => m.sent(items),
                Err(f) => {
                    m.send_failed(items);
                    failures.record();
                    tracing::warn!(message = "Exporting failed. Dropping data.", exporter = %id, error = %f, items);
                    acks.fail(&f);
                }
            }
            drop(acks);
            for d in done {
                SharedDone::release(d);
            }
            drop(permit);
        });
    }
}

/// Takes payloads from the queue (joined into batches when `batcher` is set) and sends each
/// through `stack`, up to `consumers` at once.
#[allow(clippy::too_many_arguments)]
async fn send_loop<S>(
    mut reader: QueueReader,
    mut batcher: Option<Batcher>,
    stack: S,
    consumers: usize,
    signal: Signal,
    (metrics, failures): (ExporterMetrics, ExportFailures),
    id: Arc<str>,
    drain_limit: Duration,
    exporter: Arc<dyn Exporter>,
) where
    S: tower::Service<retry::Request, Response = (), Error = Failure, Future: Send> + Clone + Send + 'static,
{
    let sending = Sending { stack, metrics, failures, id };
    let limit = Arc::new(Semaphore::new(consumers));
    let mut in_flight = JoinSet::new();
    let mut abandoned = false;
    loop {
        let ready = match &mut batcher {
            None => {
                // A consumer slot first, then a payload: a payload leaves the queue only when
                // it can go.
                let permit = tokio::select! {
                    _ = reader.abandoned() => { abandoned = true; break },
                    p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                };
                let Some(Taken { payload, acks, metadata, done }) = reader.next(signal).await else { break };
                let batch = Batch { payload, acks, metadata, done: vec![Arc::new(SharedDone::new(done))] };
                sending.send(&mut in_flight, batch, permit);
                while in_flight.try_join_next().is_some() {}
                continue;
            }
            Some(b) => {
                let deadline = b.deadline();
                // (A persistent queue's `next` ends when the pipeline is gone.)
                tokio::select! {
                    _ = sleep_until(deadline), if deadline.is_some() => b.due(tokio::time::Instant::now()),
                    t = reader.next(signal) => match t {
                        Some(t) => b.add(t, tokio::time::Instant::now()),
                        None => break,
                    },
                }
            }
        };
        // Full batches wait for a consumer slot before more is taken from the queue.
        for batch in ready {
            let Ok(permit) = limit.clone().acquire_owned().await else { break };
            sending.send(&mut in_flight, batch, permit);
        }
        while in_flight.try_join_next().is_some() {}
    }
    if let Some(b) = &mut batcher {
        // An in-memory queue is drained: what is still batched is sent. A persistent queue's
        // batched records stay in the log (their places are not given back) for the next start.
        if !abandoned && !reader.is_persistent() {
            for batch in b.drain() {
                let Ok(permit) = limit.clone().acquire_owned().await else { break };
                sending.send(&mut in_flight, batch, permit);
            }
        }
    }
    if reader.is_persistent() {
        // What is on disk stays for the next start: sends in flight get one attempt's time.
        let _ = tokio::time::timeout(drain_limit, async { while in_flight.join_next().await.is_some() {} }).await;
        in_flight.abort_all();
    }
    while in_flight.join_next().await.is_some() {}
    reader.close();
    if !reader.is_persistent() {
        sending.metrics.queue_size(0);
    }
    exporter.shutdown().await;
}

/// Sleeps until `deadline` (never, when `None`; the caller guards the branch).
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::{AckToken, Acks};
    use crate::pdata::Payload;
    use crate::pipeline::{Enqueue, Envelope};
    use async_trait::async_trait;
    use config::QueueConfig;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails the first `failures` calls with a retryable error, then succeeds.
    struct Flaky {
        failures: usize,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl Exporter for Flaky {
        async fn export(&self, _p: Payload) -> Result<(), Failure> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                Err(Failure::retryable("backend unavailable"))
            } else {
                Ok(())
            }
        }
    }

    struct Rejecting;

    #[async_trait]
    impl Exporter for Rejecting {
        async fn export(&self, _p: Payload) -> Result<(), Failure> {
            Err(Failure::permanent("bad data"))
        }
    }

    fn fast_retry() -> ExporterSettings {
        ExporterSettings {
            retry: RetryConfig {
                initial_interval: Duration::from_millis(5),
                max_interval: Duration::from_millis(20),
                max_elapsed_time: Duration::from_secs(5),
                ..RetryConfig::default()
            },
            queue: QueueConfig { wait_for_result: true, ..QueueConfig::default() },
            ..ExporterSettings::default()
        }
    }

    fn envelope() -> (Envelope, crate::ack::AckWaiter) {
        let (t, w) = AckToken::new();
        (Envelope::with_acks(Payload::empty(Signal::Traces), Acks::one(t)), w)
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_until_success() {
        let flaky = Arc::new(Flaky { failures: 3, calls: AtomicUsize::new(0) });
        let (q, task) = spawn("flaky", Signal::Traces, flaky.clone(), &fast_retry(), None).unwrap();
        let (env, w) = envelope();
        q.enqueue(env).await.unwrap();
        assert_eq!(w.wait().await, Ok(()));
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried_and_reach_the_token() {
        let (q, task) = spawn("rejecting", Signal::Traces, Arc::new(Rejecting), &fast_retry(), None).unwrap();
        let (env, w) = envelope();
        q.enqueue(env).await.unwrap();
        let f = w.wait().await.unwrap_err();
        assert!(!f.retryable);
        assert_eq!(f.message, "bad data");
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn retries_stop_at_max_elapsed_time() {
        let mut s = fast_retry();
        s.retry.max_elapsed_time = Duration::from_millis(30);
        let flaky = Arc::new(Flaky { failures: usize::MAX, calls: AtomicUsize::new(0) });
        let (q, task) = spawn("down", Signal::Traces, flaky, &s, None).unwrap();
        let (env, w) = envelope();
        q.enqueue(env).await.unwrap();
        let f = w.wait().await.unwrap_err();
        assert!(f.message.starts_with("no more retries left"), "{}", f.message);
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn queue_acknowledges_on_enqueue_unless_waiting_for_result() {
        let mut s = fast_retry();
        s.queue.wait_for_result = false;
        let (q, task) = spawn("rejecting", Signal::Traces, Arc::new(Rejecting), &s, None).unwrap();
        let (env, w) = envelope();
        q.enqueue(env).await.unwrap();
        assert_eq!(w.wait().await, Ok(()), "acknowledged once queued");
        drop(q);
        task.await.unwrap();
    }

    /// Never finishes an export, so whatever is queued stays queued.
    struct Stalled;

    #[async_trait]
    impl Exporter for Stalled {
        async fn export(&self, _p: Payload) -> Result<(), Failure> {
            futures::future::pending().await
        }
    }

    fn traces(spans: usize) -> Payload {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let spans = (0..spans).map(|_| Span { name: "s".into(), ..Default::default() }).collect();
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        };
        Payload::new(Signal::Traces, bytes::Bytes::from(req.encode_to_vec())).unwrap()
    }

    #[tokio::test]
    async fn an_items_sized_queue_refuses_what_does_not_fit() {
        let mut s = fast_retry();
        s.queue = QueueConfig {
            queue_size: 10,
            sizer: Sizer::Items,
            num_consumers: 1,
            block_on_overflow: false,
            ..QueueConfig::default()
        };
        let (q, _task) = spawn("stalled", Signal::Traces, Arc::new(Stalled), &s, None).unwrap();
        // The first payload is taken by the (stalled) consumer, freeing its share.
        q.enqueue(Envelope::new(traces(4))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        q.enqueue(Envelope::new(traces(6))).await.unwrap();
        q.enqueue(Envelope::new(traces(4))).await.unwrap();
        let f = q.enqueue(Envelope::new(traces(1))).await.unwrap_err();
        assert_eq!(f.message, "sending queue is full");
        assert!(f.retryable);
    }

    /// The log settings the `file_storage` extension gives a queue in `dir`.
    fn queue_log(dir: &std::path::Path, exporter: &str) -> LogOptions {
        LogOptions { dir: dir.join(exporter.replace('/', "_")), segment_size: 16 << 20, fsync: false }
    }

    /// Counts the spans it exports.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Exporter for Counting {
        async fn export(&self, p: Payload) -> Result<(), Failure> {
            self.0.fetch_add(p.items(), Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_persistent_queue_sends_again_after_a_crash_what_it_had_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = fast_retry();
        s.queue.wait_for_result = false;
        let (q, task) =
            spawn("otlp/down", Signal::Traces, Arc::new(Stalled), &s, Some(queue_log(dir.path(), "otlp/down")))
                .unwrap();
        let (env, w) = envelope();
        q.enqueue(Envelope::with_acks(traces(3), env.acks)).await.unwrap();
        assert_eq!(w.wait().await, Ok(()), "acknowledged once on disk");
        for n in [4, 5] {
            q.enqueue(Envelope::new(traces(n))).await.unwrap();
        }
        // A crash: nothing is flushed or closed.
        task.abort();
        drop(q);
        let counting = Arc::new(Counting::default());
        let (q, task) =
            spawn("otlp/down", Signal::Traces, counting.clone(), &s, Some(queue_log(dir.path(), "otlp/down"))).unwrap();
        for _ in 0..200 {
            if counting.0.load(Ordering::SeqCst) >= 12 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(counting.0.load(Ordering::SeqCst), 12);
        drop(q);
        task.await.unwrap();
        // Everything was sent: a third start finds nothing to send.
        let again = Arc::new(Counting::default());
        let (q, task) =
            spawn("otlp/down", Signal::Traces, again.clone(), &s, Some(queue_log(dir.path(), "otlp/down"))).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(again.0.load(Ordering::SeqCst), 0);
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_full_persistent_queue_refuses_and_keeps_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = fast_retry();
        let one = traces(2).len();
        s.queue = QueueConfig {
            queue_size: one * 3,
            sizer: Sizer::Bytes,
            num_consumers: 1,
            block_on_overflow: false,
            storage: Some("file_storage".into()),
            ..QueueConfig::default()
        };
        s.validate().unwrap();
        let (q, task) =
            spawn("otlp/full", Signal::Traces, Arc::new(Stalled), &s, Some(queue_log(dir.path(), "otlp/full")))
                .unwrap();
        for _ in 0..3 {
            q.enqueue(Envelope::new(traces(2))).await.unwrap();
        }
        // The stalled consumer took one record, but it still holds its bytes in the log.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let f = q.enqueue(Envelope::new(traces(2))).await.unwrap_err();
        assert_eq!(f.message, "sending queue is full");
        assert!(f.retryable);
        task.abort();
        drop(q);
        let counting = Arc::new(Counting::default());
        let (q, task) =
            spawn("otlp/full", Signal::Traces, counting.clone(), &s, Some(queue_log(dir.path(), "otlp/full"))).unwrap();
        for _ in 0..200 {
            if counting.0.load(Ordering::SeqCst) >= 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(counting.0.load(Ordering::SeqCst), 6, "the three queued payloads, not the refused one");
        drop(q);
        task.await.unwrap();
    }

    /// Records the item count and the `x-tenant` metadata of every export.
    #[derive(Default)]
    struct Recording(std::sync::Mutex<Vec<(usize, Vec<String>)>>);

    #[async_trait]
    impl Exporter for Recording {
        async fn export(&self, p: Payload) -> Result<(), Failure> {
            self.export_with_metadata(p, None).await
        }
        async fn export_with_metadata(
            &self,
            p: Payload,
            metadata: Option<&crate::pipeline::ClientMetadata>,
        ) -> Result<(), Failure> {
            let tenant = metadata.map(|m| m.get("x-tenant").to_vec()).unwrap_or_default();
            self.0.lock().unwrap().push((p.items(), tenant));
            Ok(())
        }
    }

    impl Recording {
        fn sizes(&self) -> Vec<usize> {
            self.0.lock().unwrap().iter().map(|(n, _)| *n).collect()
        }
    }

    fn batching(min_size: usize, max_size: usize, flush_timeout: Duration) -> ExporterSettings {
        let mut s = fast_retry();
        s.queue.batch = Some(BatchConfig { min_size, max_size, flush_timeout, ..BatchConfig::default() });
        s.validate().unwrap();
        s
    }

    async fn wait_for(rec: &Recording, items: usize) {
        for _ in 0..300 {
            if rec.sizes().iter().sum::<usize>() >= items {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn batch_joins_payloads_until_min_size() {
        let rec = Arc::new(Recording::default());
        let s = batching(10, 0, Duration::from_secs(60));
        let (q, task) = spawn("otlp/batched", Signal::Traces, rec.clone(), &s, None).unwrap();
        let mut waiters = Vec::new();
        for _ in 0..3 {
            let (t, w) = AckToken::new();
            q.enqueue(Envelope::with_acks(traces(4), Acks::one(t))).await.unwrap();
            waiters.push(w);
        }
        for w in waiters {
            assert_eq!(w.wait().await, Ok(()), "acknowledged once the batch holding it was sent");
        }
        assert_eq!(rec.sizes(), [12], "4 + 4 stays below 10; the third payload completes one batch");
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn batch_flush_timeout_sends_a_partial_batch() {
        let rec = Arc::new(Recording::default());
        let s = batching(1000, 0, Duration::from_millis(50));
        let (q, _task) = spawn("otlp/timed", Signal::Traces, rec.clone(), &s, None).unwrap();
        q.enqueue(Envelope::new(traces(3))).await.unwrap();
        q.enqueue(Envelope::new(traces(2))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(rec.sizes().is_empty(), "not before flush_timeout");
        wait_for(&rec, 5).await;
        assert_eq!(rec.sizes(), [5]);
    }

    #[tokio::test]
    async fn batch_max_size_splits_and_every_piece_is_acknowledged() {
        let rec = Arc::new(Recording::default());
        let s = batching(10, 10, Duration::from_millis(30));
        let (q, task) = spawn("otlp/split", Signal::Traces, rec.clone(), &s, None).unwrap();
        let (t, w) = AckToken::new();
        q.enqueue(Envelope::with_acks(traces(25), Acks::one(t))).await.unwrap();
        assert_eq!(w.wait().await, Ok(()));
        let mut sizes = rec.sizes();
        sizes.sort();
        assert_eq!(sizes, [5, 10, 10], "two full pieces at once, the rest after flush_timeout");
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn batch_failure_reaches_every_token_in_it() {
        let s = batching(10, 0, Duration::from_secs(60));
        let (q, task) = spawn("rejecting", Signal::Traces, Arc::new(Rejecting), &s, None).unwrap();
        let (t1, w1) = AckToken::new();
        let (t2, w2) = AckToken::new();
        q.enqueue(Envelope::with_acks(traces(5), Acks::one(t1))).await.unwrap();
        q.enqueue(Envelope::with_acks(traces(5), Acks::one(t2))).await.unwrap();
        assert_eq!(w1.wait().await.unwrap_err().message, "bad data");
        assert_eq!(w2.wait().await.unwrap_err().message, "bad data");
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn batch_partitions_by_metadata_keys_and_keeps_them() {
        let rec = Arc::new(Recording::default());
        let mut s = batching(4, 0, Duration::from_secs(60));
        s.queue.batch.as_mut().unwrap().partition.metadata_keys = vec!["X-Tenant".into()];
        let (q, task) = spawn("otlp/tenants", Signal::Traces, rec.clone(), &s, None).unwrap();
        let with = |tenant: &str, n: usize| {
            let m = crate::pipeline::ClientMetadata::from_pairs([("x-tenant", tenant), ("other", "x")]);
            Envelope { payload: traces(n), acks: Acks::none(), metadata: Some(Arc::new(m)) }
        };
        for env in [with("a", 2), with("b", 2), with("a", 2), with("b", 3)] {
            q.enqueue(env).await.unwrap();
        }
        wait_for(&rec, 9).await;
        let mut got = rec.0.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, [(4, vec!["a".to_string()]), (5, vec!["b".to_string()])]);
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn batch_sends_what_it_holds_when_the_pipeline_closes() {
        let rec = Arc::new(Recording::default());
        let s = batching(1000, 0, Duration::from_secs(60));
        let (q, task) = spawn("otlp/closing", Signal::Traces, rec.clone(), &s, None).unwrap();
        q.enqueue(Envelope::new(traces(3))).await.unwrap();
        drop(q);
        task.await.unwrap();
        assert_eq!(rec.sizes(), [3]);
    }
}
