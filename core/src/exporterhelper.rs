//! The plumbing every exporter shares: sending queue, concurrency, timeout, retry, metrics,
//! acknowledgements. Configured with the Collector's keys (`timeout`, `retry_on_failure`,
//! `sending_queue`), which each exporter's config embeds.
//!
//! ```text
//! pipeline ──enqueue──▶ sending queue (bounded, queue_size requests)
//!                          │  up to num_consumers at once
//!                          ▼
//!                 Retry ▶ MapErr ▶ Timeout ▶ ExportService (the exporter)
//! ```
//!
//! The stack is built from `tower` layers. A payload's acknowledgement tokens stay with it
//! until it is sent (or finally fails), unless `sending_queue.wait_for_result` is false, in
//! which case the queue acknowledges its branch on enqueue, as the Collector does.
//!
//! Unlike the Collector, `block_on_overflow` defaults to `true`: a full queue makes the
//! pipeline wait, and receivers turn that into retryable errors for clients, rather than
//! dropping data that was already acknowledged.
//!
//! With `sending_queue.storage` ([`spawn_persistent`]) the queue is a log on disk
//! ([`crate::persistent_queue`]): enqueue returns once the payload is written, capacity is held
//! until the record leaves the log, and the consumers read records back from it.

use crate::ack::{Acks, Failure};
use crate::component::{Envelope, Exporter};
use crate::config::duration;
use crate::pdata::{Payload, Signal};
use crate::persistent_queue::{DiskQueue, FileStorageConfig, Read};
use crate::telemetry::ExporterMetrics;
use futures::future::BoxFuture;
use rand::Rng;
use serde::Deserialize;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tower::{Service, ServiceBuilder, ServiceExt};

/// `retry_on_failure`: exponential backoff with jitter (the Collector's `configretry`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retry failed sends that may succeed later. Default true.
    pub enabled: bool,
    /// Wait before the first retry. Default 5s.
    #[serde(with = "duration")]
    pub initial_interval: Duration,
    /// Upper bound of the wait between retries. Default 30s.
    #[serde(with = "duration")]
    pub max_interval: Duration,
    /// Give up after this long since the first attempt; 0 retries forever. Default 300s.
    #[serde(with = "duration")]
    pub max_elapsed_time: Duration,
    /// Factor by which the wait grows after each retry. Default 1.5.
    pub multiplier: f64,
    /// Jitter: each wait is drawn from interval × [1 − f, 1 + f]. Default 0.5, within [0, 1].
    pub randomization_factor: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
            multiplier: 1.5,
            randomization_factor: 0.5,
        }
    }
}

/// What the queue counts in `queue_size`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    /// Requests (payloads), the Collector's default.
    #[default]
    Requests,
    /// Items: spans, metric data points or log records.
    Items,
    /// Bytes of encoded OTLP: bounds the queue's memory, whatever the batch size.
    Bytes,
}

/// However the queue is sized, it never holds more requests than this.
pub const MAX_QUEUED_REQUESTS: usize = 65_536;

/// `sending_queue`: the in-memory queue in front of an exporter.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// With `false`, exports happen one at a time in the pipeline's flow (no queue). Default true.
    pub enabled: bool,
    /// Concurrent sends. Default 10.
    pub num_consumers: usize,
    /// Capacity, in `sizer` units. Default 1000.
    pub queue_size: usize,
    /// Unit of `queue_size`: `requests` (default), `items` or `bytes`. With `bytes` the queue's
    /// memory is bounded whatever the batch size (a payload larger than the whole queue still
    /// passes, alone).
    pub sizer: Sizer,
    /// When the queue is full: `true` (weir's default) makes the pipeline wait, so receivers
    /// refuse new data with retryable errors; `false` fails the data at once (counted in
    /// `otelcol_exporter_enqueue_failed_*`), as the Collector's default does.
    pub block_on_overflow: bool,
    /// `false` (default): this exporter acknowledges data once queued. `true`: only once sent,
    /// so a receiver with `wait_for_result` learns the real outcome.
    pub wait_for_result: bool,
    /// A `file_storage` extension id (`file_storage` or `file_storage/<name>`): the queue is then
    /// kept on disk and survives crashes and restarts (see [`crate::persistent_queue`]). Not
    /// allowed with `wait_for_result: true`: the queue acknowledges data once it is on disk.
    pub storage: Option<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: Sizer::Requests,
            block_on_overflow: true,
            wait_for_result: false,
            storage: None,
        }
    }
}

/// The plumbing settings of one exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterSettings {
    pub timeout: Duration,
    pub retry: RetryConfig,
    pub queue: QueueConfig,
}

impl Default for ExporterSettings {
    fn default() -> Self {
        ExporterSettings {
            timeout: Duration::from_secs(5),
            retry: RetryConfig::default(),
            queue: QueueConfig::default(),
        }
    }
}

impl ExporterSettings {
    /// Checks the keys, naming the one to change.
    pub fn validate(&self) -> Result<(), String> {
        let r = &self.retry;
        if !(0.0..=1.0).contains(&r.randomization_factor) {
            return Err("retry_on_failure::randomization_factor must be within [0, 1]".into());
        }
        if r.enabled && r.multiplier < 1.0 {
            return Err("retry_on_failure::multiplier must be at least 1".into());
        }
        if r.enabled && r.max_interval < r.initial_interval {
            return Err("retry_on_failure::max_interval must not be less than initial_interval".into());
        }
        let q = &self.queue;
        if q.enabled && q.num_consumers == 0 {
            return Err("sending_queue::num_consumers must be greater than 0".into());
        }
        if q.enabled && q.queue_size == 0 {
            return Err("sending_queue::queue_size must be greater than 0".into());
        }
        if q.storage.is_some() && !q.enabled {
            return Err("sending_queue::storage needs sending_queue::enabled: true".into());
        }
        if q.storage.is_some() && q.wait_for_result {
            return Err("sending_queue::wait_for_result: true is not allowed together with sending_queue::storage (a persistent queue acknowledges data once it is on disk)".into());
        }
        Ok(())
    }
}

/// The pipeline's end of an exporter's sending queue.
#[derive(Clone)]
pub struct QueueSender {
    tx: mpsc::Sender<Queued>,
    /// The queue's capacity in `sizer` units; a queued payload holds its cost in permits.
    budget: Arc<Semaphore>,
    capacity: usize,
    sizer: Sizer,
    release_on_enqueue: bool,
    block_on_overflow: bool,
    metrics: ExporterMetrics,
    /// The persistent queue, when `storage` is set: payloads go to disk instead of `tx`, which
    /// then only tells the consumers when the last sender is gone.
    disk: Option<Arc<DiskQueue>>,
}

impl QueueSender {
    /// Puts `env` in the queue: waits while it is full (`block_on_overflow`), or fails the
    /// envelope's tokens at once.
    pub async fn enqueue(&self, mut env: Envelope) -> Result<(), Failure> {
        let items = env.payload.items();
        if self.release_on_enqueue {
            // Dropped after the send below succeeds: this branch is acknowledged once queued.
            let acks = std::mem::take(&mut env.acks);
            let result = self.send(env, items).await;
            if let Err(f) = &result {
                acks.fail(f);
            }
            result
        } else {
            self.send(env, items).await
        }
    }

    /// The payload's size in `sizer` units, at least 1 and at most the whole queue.
    fn cost(&self, payload: &Payload) -> u32 {
        cost_of(self.sizer, self.capacity, payload.len(), payload.items())
    }

    async fn send(&self, env: Envelope, items: usize) -> Result<(), Failure> {
        let cost = self.cost(&env.payload);
        let permit = if self.block_on_overflow {
            self.budget.clone().acquire_many_owned(cost).await.map_err(|_| "the exporter is shutting down")
        } else {
            self.budget.clone().try_acquire_many_owned(cost).map_err(|e| match e {
                tokio::sync::TryAcquireError::NoPermits => "sending queue is full",
                tokio::sync::TryAcquireError::Closed => "the exporter is shutting down",
            })
        };
        let r = match (permit, &self.disk) {
            (Ok(permit), Some(disk)) => {
                // The capacity is given back when the record leaves the log (see the consumers).
                permit.forget();
                let (bytes, items) = (env.payload.bytes().clone(), items as u32);
                match disk.append(bytes, items, cost).await {
                    Ok(()) => {
                        // Durable: the branch is acknowledged when `env` is dropped here.
                        drop(env);
                        Ok(())
                    }
                    Err(f) => {
                        self.budget.add_permits(cost as usize);
                        Err((env, f))
                    }
                }
            }
            (Ok(permit), None) => {
                let queued = Queued { env, _permit: permit };
                let sent = if self.block_on_overflow {
                    self.tx.send(queued).await.map_err(|e| (e.0.env, "the exporter is shutting down"))
                } else {
                    self.tx.try_send(queued).map_err(|e| match e {
                        mpsc::error::TrySendError::Full(q) => (q.env, "sending queue is full"),
                        mpsc::error::TrySendError::Closed(q) => (q.env, "the exporter is shutting down"),
                    })
                };
                sent.map_err(|(env, why)| (env, Failure::retryable(why)))
            }
            (Err(why), _) => Err((env, Failure::retryable(why))),
        };
        match r {
            Ok(()) => {
                self.metrics.queue_size(self.capacity - self.budget.available_permits());
                Ok(())
            }
            Err((env, f)) => {
                self.metrics.enqueue_failed(items);
                env.acks.fail(&f);
                Err(f)
            }
        }
    }
}

/// A payload's share of a queue of `capacity` `sizer` units: at least 1, at most the whole queue.
fn cost_of(sizer: Sizer, capacity: usize, len: usize, items: usize) -> u32 {
    let units = match sizer {
        Sizer::Requests => 1,
        Sizer::Items => items,
        Sizer::Bytes => len,
    };
    units.clamp(1, capacity.min(u32::MAX as usize)) as u32
}

/// A payload in the sending queue, holding its share of the queue's capacity until dequeued.
struct Queued {
    env: Envelope,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Adapts an [`Exporter`] to a `tower::Service`.
#[derive(Clone)]
struct ExportService(Arc<dyn Exporter>);

impl Service<Payload> for ExportService {
    type Response = ();
    type Error = Failure;
    type Future = BoxFuture<'static, Result<(), Failure>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, p: Payload) -> Self::Future {
        let e = self.0.clone();
        Box::pin(async move { e.export(p).await })
    }
}

/// The retry policy: the Collector's backoff, honouring a throttle hint from the server.
#[derive(Clone)]
struct Backoff {
    cfg: Arc<RetryConfig>,
    interval: Duration,
    started: Option<Instant>,
    exporter: Arc<str>,
}

impl tower::retry::Policy<Payload, (), Failure> for Backoff {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _req: &mut Payload, result: &mut Result<(), Failure>) -> Option<Self::Future> {
        let failure = match result {
            Ok(()) => return None,
            Err(f) => f,
        };
        if !self.cfg.enabled || !failure.retryable {
            return None;
        }
        let jitter = self.cfg.randomization_factor;
        let factor = if jitter > 0.0 { rand::rng().random_range(1.0 - jitter..=1.0 + jitter) } else { 1.0 };
        let mut delay = self.interval.mul_f64(factor);
        if let Some(hint) = failure.retry_after {
            delay = delay.max(hint);
        }
        let elapsed = self.started.get_or_insert_with(Instant::now).elapsed();
        if !self.cfg.max_elapsed_time.is_zero() && elapsed + delay > self.cfg.max_elapsed_time {
            failure.message = format!("no more retries left: {}", failure.message).into();
            failure.retryable = false;
            return None;
        }
        tracing::info!(
            message = "Exporting failed. Will retry the request after interval.",
            exporter = %self.exporter,
            error = %failure,
            interval = %duration::format(delay),
        );
        self.interval = self.interval.mul_f64(self.cfg.multiplier).min(self.cfg.max_interval);
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Payload) -> Option<Payload> {
        self.started.get_or_insert_with(Instant::now);
        Some(req.clone())
    }
}

fn timeout_failure(e: tower::BoxError) -> Failure {
    match e.downcast::<Failure>() {
        Ok(f) => *f,
        Err(e) if e.is::<tower::timeout::error::Elapsed>() => Failure::retryable("the export timed out"),
        Err(e) => Failure::retryable(e.to_string()),
    }
}

impl std::error::Error for Failure {}

/// Starts the sending queue and consumers of one exporter instance (one signal).
///
/// Returns the pipeline's end of the queue and the task, which ends once every sender is
/// dropped and the queue is drained, after calling the exporter's `shutdown`.
pub fn spawn(
    exporter_id: &str,
    signal: Signal,
    exporter: Arc<dyn Exporter>,
    settings: &ExporterSettings,
) -> (QueueSender, JoinHandle<()>) {
    let metrics = ExporterMetrics::new(exporter_id, signal);
    let q = &settings.queue;
    let (capacity, consumers, release_on_enqueue) =
        if q.enabled { (q.queue_size, q.num_consumers, !q.wait_for_result) } else { (1, 1, false) };
    metrics.queue_capacity(capacity);
    let sizer = if q.enabled { q.sizer } else { Sizer::Requests };
    let channel_capacity = match sizer {
        Sizer::Requests => capacity.min(MAX_QUEUED_REQUESTS),
        Sizer::Items | Sizer::Bytes => MAX_QUEUED_REQUESTS,
    };
    let budget = Arc::new(Semaphore::new(capacity.min(Semaphore::MAX_PERMITS)));
    let (tx, mut rx) = mpsc::channel::<Queued>(channel_capacity);
    let task_budget = budget.clone();
    let stack = send_stack(exporter_id, exporter.clone(), settings);
    let task_metrics = metrics.clone();
    let id: Arc<str> = Arc::from(exporter_id);
    let task = tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(consumers));
        let mut in_flight = JoinSet::new();
        while let Some(Queued { env, _permit: queue_share }) = rx.recv().await {
            let Ok(permit) = limit.clone().acquire_owned().await else { break };
            // The payload leaves the queue when a consumer takes it.
            drop(queue_share);
            task_metrics.queue_size(capacity - task_budget.available_permits());
            let svc = stack.clone();
            let m = task_metrics.clone();
            let id = id.clone();
            in_flight.spawn(async move {
                let Envelope { payload, acks } = env;
                let items = payload.items();
                match svc.oneshot(payload).await {
                    Ok(()) => m.sent(items),
                    Err(f) => {
                        m.send_failed(items);
                        tracing::warn!(message = "Exporting failed. Dropping data.", exporter = %id, error = %f, items);
                        fail(&acks, &f);
                    }
                }
                drop(permit);
            });
            while in_flight.try_join_next().is_some() {}
        }
        while in_flight.join_next().await.is_some() {}
        task_metrics.queue_size(0);
        exporter.shutdown().await;
    });
    let sender = QueueSender {
        tx,
        budget,
        capacity,
        sizer,
        release_on_enqueue,
        block_on_overflow: !q.enabled || q.block_on_overflow,
        metrics,
        disk: None,
    };
    (sender, task)
}

/// Retry ▶ MapErr ▶ Timeout ▶ the exporter: one payload's whole delivery.
fn send_stack(
    exporter_id: &str,
    exporter: Arc<dyn Exporter>,
    settings: &ExporterSettings,
) -> impl Service<Payload, Response = (), Error = Failure, Future: Send> + Clone + Send + 'static {
    let policy = Backoff {
        cfg: Arc::new(settings.retry.clone()),
        interval: settings.retry.initial_interval,
        started: None,
        exporter: Arc::from(exporter_id),
    };
    let timeout = if settings.timeout.is_zero() { Duration::from_secs(u64::MAX / 4) } else { settings.timeout };
    ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(policy))
        .map_err(timeout_failure)
        .timeout(timeout)
        .service(ExportService(exporter))
}

/// Starts an exporter whose sending queue is persistent (`sending_queue::storage`), in the
/// directory of `storage`: opens and recovers the queue (see [`crate::persistent_queue`]), then
/// sends its records with up to `num_consumers` at once.
///
/// Capacity (`queue_size` in `sizer` units) is taken when a payload is appended and given back
/// when its record leaves the log. On shutdown the consumers stop taking records; sends in
/// flight get one `timeout` to finish; whatever is left stays on disk for the next start.
pub fn spawn_persistent(
    exporter_id: &str,
    signal: Signal,
    exporter: Arc<dyn Exporter>,
    settings: &ExporterSettings,
    storage: &FileStorageConfig,
) -> Result<(QueueSender, JoinHandle<()>), String> {
    let metrics = ExporterMetrics::new(exporter_id, signal);
    let q = &settings.queue;
    let (capacity, sizer) = (q.queue_size.min(Semaphore::MAX_PERMITS), q.sizer);
    let opts = storage.log_options(exporter_id, signal);
    if !storage.create_directory && !storage.directory().is_dir() {
        return Err(format!(
            "the file_storage directory {} does not exist (create it, or set create_directory: true)",
            storage.directory().display()
        ));
    }
    let dir = opts.dir.clone();
    let cost = move |len: u32, items: u32| cost_of(sizer, capacity, len as usize, items as usize);
    let (disk, _recovery) = DiskQueue::open(opts, &cost, exporter_id, signal)
        .map_err(|e| format!("cannot open the persistent queue in {}: {e}", dir.display()))?;
    let disk = Arc::new(disk);
    // Recovered records hold their share; beyond the capacity (a smaller queue_size than
    // before) the excess is an overdraft, paid back before permits are released.
    let held = disk.held_cost().min(usize::MAX as u64) as usize;
    let budget = Arc::new(Semaphore::new(capacity - held.min(capacity)));
    let overdraft = Arc::new(std::sync::atomic::AtomicUsize::new(held.saturating_sub(capacity)));
    metrics.queue_capacity(capacity);
    metrics.queue_size(held);
    // Never sent on: its closing tells the consumers that the pipeline is gone.
    let (tx, mut closed) = mpsc::channel::<Queued>(1);
    let stack = send_stack(exporter_id, exporter.clone(), settings);
    let (task_disk, task_budget, task_metrics) = (disk.clone(), budget.clone(), metrics.clone());
    let (consumers, drain_limit) = (q.num_consumers, settings.timeout);
    let id: Arc<str> = Arc::from(exporter_id);
    let release = move |released: u64, budget: &Semaphore, overdraft: &std::sync::atomic::AtomicUsize| {
        use std::sync::atomic::Ordering;
        let mut released = released as usize;
        let _ = overdraft.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |owed| {
            let paid = owed.min(released);
            released -= paid;
            Some(owed - paid)
        });
        budget.add_permits(released);
    };
    let task = tokio::spawn(async move {
        let limit = Arc::new(Semaphore::new(consumers));
        let mut in_flight = JoinSet::new();
        loop {
            let permit = tokio::select! {
                _ = closed.recv() => break,
                p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let read = tokio::select! {
                _ = closed.recv() => break,
                r = task_disk.next() => r,
            };
            let record = match read {
                Read::Record(r) => r,
                Read::Corrupted { id, .. } => {
                    release(task_disk.ack(id), &task_budget, &overdraft);
                    continue;
                }
            };
            let (svc, m, id, disk, budget, overdraft) = (
                stack.clone(),
                task_metrics.clone(),
                id.clone(),
                task_disk.clone(),
                task_budget.clone(),
                overdraft.clone(),
            );
            in_flight.spawn(async move {
                let items = record.items as usize;
                let payload = Payload::from_counted(signal, record.bytes, items);
                match svc.oneshot(payload).await {
                    Ok(()) => m.sent(items),
                    Err(f) => {
                        m.send_failed(items);
                        tracing::warn!(message = "Exporting failed. Dropping data.", exporter = %id, error = %f, items);
                    }
                }
                release(disk.ack(record.id), &budget, &overdraft);
                let owed = overdraft.load(std::sync::atomic::Ordering::SeqCst);
                m.queue_size(capacity - budget.available_permits() + owed);
                drop(permit);
            });
            while in_flight.try_join_next().is_some() {}
        }
        // Shutting down: sends in flight get one attempt's time; the rest stays on disk.
        let _ = tokio::time::timeout(drain_limit, async { while in_flight.join_next().await.is_some() {} }).await;
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
        task_disk.close();
        exporter.shutdown().await;
    });
    let sender = QueueSender {
        tx,
        budget,
        capacity,
        sizer,
        release_on_enqueue: true,
        block_on_overflow: q.block_on_overflow,
        metrics,
        disk: Some(disk),
    };
    Ok((sender, task))
}

fn fail(acks: &Acks, f: &Failure) {
    acks.fail(f);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::AckToken;
    use async_trait::async_trait;
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
        (Envelope { payload: Payload::empty(Signal::Traces), acks: Acks::one(t) }, w)
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_until_success() {
        let flaky = Arc::new(Flaky { failures: 3, calls: AtomicUsize::new(0) });
        let (q, task) = spawn("flaky", Signal::Traces, flaky.clone(), &fast_retry());
        let (env, w) = envelope();
        q.enqueue(env).await.unwrap();
        assert_eq!(w.wait().await, Ok(()));
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
        drop(q);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried_and_reach_the_token() {
        let (q, task) = spawn("rejecting", Signal::Traces, Arc::new(Rejecting), &fast_retry());
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
        let (q, task) = spawn("down", Signal::Traces, flaky, &s);
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
        let (q, task) = spawn("rejecting", Signal::Traces, Arc::new(Rejecting), &s);
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
        let (q, _task) = spawn("stalled", Signal::Traces, Arc::new(Stalled), &s);
        // The first payload is taken by the (stalled) consumer, freeing its share.
        q.enqueue(Envelope::new(traces(4))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        q.enqueue(Envelope::new(traces(6))).await.unwrap();
        q.enqueue(Envelope::new(traces(4))).await.unwrap();
        let f = q.enqueue(Envelope::new(traces(1))).await.unwrap_err();
        assert_eq!(f.message, "sending queue is full");
        assert!(f.retryable);
    }

    fn file_storage(dir: &std::path::Path) -> FileStorageConfig {
        FileStorageConfig { directory: Some(dir.to_path_buf()), ..FileStorageConfig::default() }
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
            spawn_persistent("otlp/down", Signal::Traces, Arc::new(Stalled), &s, &file_storage(dir.path())).unwrap();
        let (env, w) = envelope();
        q.enqueue(Envelope { payload: traces(3), acks: env.acks }).await.unwrap();
        assert_eq!(w.wait().await, Ok(()), "acknowledged once on disk");
        for n in [4, 5] {
            q.enqueue(Envelope::new(traces(n))).await.unwrap();
        }
        // A crash: nothing is flushed or closed.
        task.abort();
        drop(q);
        let counting = Arc::new(Counting::default());
        let (q, task) =
            spawn_persistent("otlp/down", Signal::Traces, counting.clone(), &s, &file_storage(dir.path())).unwrap();
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
            spawn_persistent("otlp/down", Signal::Traces, again.clone(), &s, &file_storage(dir.path())).unwrap();
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
            spawn_persistent("otlp/full", Signal::Traces, Arc::new(Stalled), &s, &file_storage(dir.path())).unwrap();
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
            spawn_persistent("otlp/full", Signal::Traces, counting.clone(), &s, &file_storage(dir.path())).unwrap();
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

    #[test]
    fn storage_is_refused_with_wait_for_result() {
        let mut s = ExporterSettings::default();
        s.queue.storage = Some("file_storage".into());
        assert_eq!(s.validate(), Ok(()));
        s.queue.wait_for_result = true;
        assert!(s.validate().unwrap_err().contains("wait_for_result"));
    }

    #[test]
    fn validation_names_the_key() {
        let mut s = ExporterSettings::default();
        s.retry.randomization_factor = 2.0;
        assert!(s.validate().unwrap_err().contains("retry_on_failure::randomization_factor"));
        let mut s = ExporterSettings::default();
        s.queue.queue_size = 0;
        assert!(s.validate().unwrap_err().contains("sending_queue::queue_size"));
    }
}
