//! The sending queue: the pipeline's end ([`QueueSender`]), which admits payloads within the
//! queue's capacity, and the send loop's end ([`QueueReader`]), which hands them out in order.
//!
//! Capacity is one semaphore budget of `queue_size` units (requests, items or bytes: a
//! payload's *cost*, [`cost_of`]). A payload holds its cost from admission until:
//! - in memory, a consumer takes it from the queue;
//! - on disk, its record leaves the log (after it was sent), so the log never holds more than
//!   `queue_size` (see [`crate::persistent_queue`]).

use super::config::Sizer;
use crate::ack::{Acks, Failure};
use crate::pdata::{Payload, Signal};
use crate::persistent_queue::{DiskQueue, Read, RecordId};
use crate::pipeline::{Enqueue, Envelope};
use crate::telemetry::ExporterMetrics;
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// A payload's share of a queue of `capacity` `sizer` units: at least 1, at most the whole queue.
pub(crate) fn cost_of(sizer: Sizer, capacity: usize, len: usize, items: usize) -> u32 {
    let units = match sizer {
        Sizer::Requests => 1,
        Sizer::Items => items,
        Sizer::Bytes => len,
    };
    units.clamp(1, capacity.min(u32::MAX as usize)) as u32
}

/// A payload in the in-memory queue, holding its share of the queue's capacity until taken.
pub(crate) struct Queued {
    env: Envelope,
    _share: OwnedSemaphorePermit,
}

/// Where admitted payloads go.
#[derive(Clone)]
enum Store {
    Memory(mpsc::Sender<Queued>),
    /// On disk. `_open` is never sent on: its closing (when the last sender is dropped) tells
    /// the reader that the pipeline is gone.
    Disk {
        queue: Arc<DiskQueue>,
        _open: mpsc::Sender<Queued>,
    },
}

/// The pipeline's end of an exporter's sending queue.
#[derive(Clone)]
pub struct QueueSender {
    store: Store,
    /// The queue's capacity in `sizer` units; a queued payload holds its cost in permits.
    budget: Arc<Semaphore>,
    capacity: usize,
    sizer: Sizer,
    /// This branch is acknowledged once queued (not once sent).
    release_on_enqueue: bool,
    block_on_overflow: bool,
    metrics: ExporterMetrics,
}

/// The settings a queue is opened with.
pub(crate) struct QueueSettings {
    pub capacity: usize,
    pub sizer: Sizer,
    pub release_on_enqueue: bool,
    pub block_on_overflow: bool,
}

/// Opens an in-memory queue.
pub(crate) fn memory(settings: QueueSettings, metrics: ExporterMetrics) -> (QueueSender, QueueReader) {
    let channel_capacity = match settings.sizer {
        Sizer::Requests => settings.capacity.min(super::config::MAX_QUEUED_REQUESTS),
        Sizer::Items | Sizer::Bytes => super::config::MAX_QUEUED_REQUESTS,
    };
    let budget = Arc::new(Semaphore::new(settings.capacity.min(Semaphore::MAX_PERMITS)));
    let (tx, rx) = mpsc::channel(channel_capacity);
    metrics.queue_capacity(settings.capacity);
    let sender = QueueSender {
        store: Store::Memory(tx),
        budget: budget.clone(),
        capacity: settings.capacity,
        sizer: settings.sizer,
        release_on_enqueue: settings.release_on_enqueue,
        block_on_overflow: settings.block_on_overflow,
        metrics: metrics.clone(),
    };
    let reader =
        QueueReader { source: Source::Memory(rx), capacity: Capacity::new(settings.capacity, budget, 0, metrics) };
    (sender, reader)
}

/// Opens a persistent queue over an opened (recovered) [`DiskQueue`].
pub(crate) fn disk(disk: DiskQueue, settings: QueueSettings, metrics: ExporterMetrics) -> (QueueSender, QueueReader) {
    let disk = Arc::new(disk);
    let capacity = settings.capacity.min(Semaphore::MAX_PERMITS);
    // Recovered records hold their share; beyond the capacity (a smaller queue_size than
    // before) the excess is an overdraft, paid back before permits are released.
    let held = disk.held_cost().min(usize::MAX as u64) as usize;
    let budget = Arc::new(Semaphore::new(capacity - held.min(capacity)));
    metrics.queue_capacity(capacity);
    metrics.queue_size(held);
    let (tx, closed) = mpsc::channel(1);
    let sender = QueueSender {
        store: Store::Disk { queue: disk.clone(), _open: tx },
        budget: budget.clone(),
        capacity,
        sizer: settings.sizer,
        release_on_enqueue: true,
        block_on_overflow: settings.block_on_overflow,
        metrics: metrics.clone(),
    };
    let reader = QueueReader {
        source: Source::Disk(disk, closed),
        capacity: Capacity::new(capacity, budget, held.saturating_sub(capacity), metrics),
    };
    (sender, reader)
}

#[async_trait]
impl Enqueue for QueueSender {
    /// Puts `env` in the queue: waits while it is full (`block_on_overflow`), or fails the
    /// envelope's tokens at once.
    async fn enqueue(&self, mut env: Envelope) -> Result<(), Failure> {
        let items = env.payload.items();
        if self.release_on_enqueue {
            // Dropped after the send below succeeds: this branch is acknowledged once queued.
            let acks = std::mem::take(&mut env.acks);
            let result = self.admit(env, items).await;
            if let Err(f) = &result {
                acks.fail(f);
            }
            result
        } else {
            self.admit(env, items).await
        }
    }
}

impl QueueSender {
    async fn admit(&self, env: Envelope, items: usize) -> Result<(), Failure> {
        let cost = cost_of(self.sizer, self.capacity, env.payload.len(), env.payload.items());
        let share = if self.block_on_overflow {
            self.budget.clone().acquire_many_owned(cost).await.map_err(|_| "the exporter is shutting down")
        } else {
            self.budget.clone().try_acquire_many_owned(cost).map_err(|e| match e {
                tokio::sync::TryAcquireError::NoPermits => "sending queue is full",
                tokio::sync::TryAcquireError::Closed => "the exporter is shutting down",
            })
        };
        let r = match (share, &self.store) {
            (Ok(share), Store::Disk { queue: disk, .. }) => {
                // The capacity is given back when the record leaves the log (see the reader).
                share.forget();
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
            (Ok(share), Store::Memory(tx)) => {
                let queued = Queued { env, _share: share };
                let sent = if self.block_on_overflow {
                    tx.send(queued).await.map_err(|e| (e.0.env, "the exporter is shutting down"))
                } else {
                    tx.try_send(queued).map_err(|e| match e {
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

/// The queue's capacity as the reader gives it back.
#[derive(Clone)]
pub(crate) struct Capacity {
    total: usize,
    budget: Arc<Semaphore>,
    /// Recovered cost beyond the capacity, paid back before permits are released.
    overdraft: Arc<AtomicUsize>,
    metrics: ExporterMetrics,
}

impl Capacity {
    fn new(total: usize, budget: Arc<Semaphore>, overdraft: usize, metrics: ExporterMetrics) -> Capacity {
        Capacity { total, budget, overdraft: Arc::new(AtomicUsize::new(overdraft)), metrics }
    }

    /// Gives `released` units back (after paying the overdraft) and reports the queue's size.
    fn release(&self, released: u64) {
        let mut released = released as usize;
        let _ = self.overdraft.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |owed| {
            let paid = owed.min(released);
            released -= paid;
            Some(owed - paid)
        });
        self.budget.add_permits(released);
        self.report();
    }

    fn report(&self) {
        let owed = self.overdraft.load(Ordering::SeqCst);
        self.metrics.queue_size(self.total - self.budget.available_permits() + owed);
    }
}

enum Source {
    Memory(mpsc::Receiver<Queued>),
    Disk(Arc<DiskQueue>, mpsc::Receiver<Queued>),
}

/// The send loop's end of the queue.
pub(crate) struct QueueReader {
    source: Source,
    capacity: Capacity,
}

/// A payload taken from the queue for sending, and what ends its stay in the queue.
pub(crate) struct Taken {
    pub payload: Payload,
    pub acks: Acks,
    /// The client metadata the payload carried (in memory only: a persistent queue keeps the
    /// bytes, not the metadata).
    pub metadata: Option<Arc<crate::pipeline::ClientMetadata>>,
    pub done: Done,
}

/// Called when a taken payload's send has ended (sent or given up on).
pub(crate) struct Done {
    record: Option<(Arc<DiskQueue>, RecordId)>,
    capacity: Capacity,
}

impl Done {
    /// A disk record leaves the log and gives its capacity back; a memory payload gave its
    /// back when taken.
    pub fn finish(self) {
        if let Some((disk, id)) = self.record {
            self.capacity.release(disk.ack(id));
        }
    }
}

impl QueueReader {
    /// Resolves when the pipeline's side is gone and what is left should stay queued (a
    /// persistent queue keeps it for the next start); never, for an in-memory queue, which
    /// drains completely.
    pub async fn abandoned(&mut self) {
        match &mut self.source {
            Source::Memory(_) => std::future::pending().await,
            Source::Disk(_, closed) => {
                closed.recv().await;
            }
        }
    }

    /// The next payload to send: `None` when the queue is closed (in memory: drained).
    pub async fn next(&mut self, signal: Signal) -> Option<Taken> {
        match &mut self.source {
            Source::Memory(rx) => {
                let Queued { env, _share } = rx.recv().await?;
                // The payload leaves the queue when a consumer takes it.
                drop(_share);
                self.capacity.report();
                Some(Taken {
                    payload: env.payload,
                    acks: env.acks,
                    metadata: env.metadata,
                    done: Done { record: None, capacity: self.capacity.clone() },
                })
            }
            Source::Disk(disk, closed) => loop {
                let read = tokio::select! {
                    _ = closed.recv() => return None,
                    r = disk.next() => r,
                };
                match read {
                    Read::Record(r) => {
                        let payload = Payload::from_counted(signal, r.bytes, r.items as usize);
                        let done = Done { record: Some((disk.clone(), r.id)), capacity: self.capacity.clone() };
                        return Some(Taken { payload, acks: Acks::none(), metadata: None, done });
                    }
                    Read::Corrupted { id, .. } => self.capacity.release(disk.ack(id)),
                }
            },
        }
    }

    /// Persists what must survive (a persistent queue's cursor).
    pub fn close(&self) {
        if let Source::Disk(disk, _) = &self.source {
            disk.close();
        }
    }

    /// Whether what is left at shutdown stays queued (on disk) rather than being sent.
    pub fn is_persistent(&self) -> bool {
        matches!(self.source, Source::Disk(..))
    }
}
