//! The persistent sending queue: `sending_queue::storage: file_storage[/name]` keeps an
//! exporter's queue in an append-only log on disk (in the directory the storage extension gives,
//! [`crate::component::Storage`]), so data weir acknowledged survives a crash
//! (SIGKILL, OOM kill, power loss with `fsync: true`) and a restart, and is sent once the backend
//! takes it again. This module doc is the design document.
//!
//! # Guarantees
//!
//! - **Durable before acknowledged.** A payload is acknowledged to the pipeline (and so, with the
//!   receiver's `wait_for_result`, to the client) only once its record is written to the
//!   segment file — and `fsync`ed when the `file_storage` extension has `fsync: true`. Without
//!   `fsync` a record is in the kernel's page cache: it survives any crash of weir, not a crash of
//!   the machine.
//! - **At least once.** A record leaves the log only after the exporter finished with it: sent,
//!   or given up on after `retry_on_failure` (counted in `otelcol_exporter_send_failed_*`, as
//!   for the in-memory queue). After a crash everything from the persisted cursor on is sent
//!   again, so a crash may duplicate records (those sent after the last cursor update, at most
//!   100 ms of acknowledgements, plus records completed out of order behind an older one still in
//!   flight) but never loses one.
//! - **Bounded.** The queue admits a payload only while the records in the log fit `queue_size`
//!   (in `sizer` units; with `sizer: bytes`, encoded OTLP bytes). Capacity is released when the
//!   cursor moves past a record, not when the record is sent: the cursor only moves in order, so
//!   the live part of the log never holds more than `queue_size`. Files on disk hold at most
//!   `queue_size` + 16 bytes a record + the acknowledged front of one segment. A full queue blocks
//!   the pipeline (`block_on_overflow: true`, weir's default), which makes receivers answer
//!   retryable errors (`UNAVAILABLE` / 503 with `Retry-After`); nothing queued is dropped.
//! - **Damage is contained.** Every record carries a CRC-32 of its header and payload. A damaged
//!   record is reported (an error log and `weir_exporter_queue_corrupted_records`), skipped, and
//!   every intact record around it is still sent.
//!
//! # On-disk format
//!
//! One directory per exporter and signal, `<directory>/exporter_<type>_<name>_<signal>/`:
//!
//! ```text
//! 00000000000000000007.wlog   segment 7: records, appended
//! 00000000000000000008.wlog   segment 8: the one being written
//! cursor                      where the first unfinished record is
//! ```
//!
//! A segment is a sequence of records, each
//!
//! ```text
//! magic "WQR1" (4) | payload length u32 LE (4) | items u32 LE (4) | CRC-32 u32 LE (4) | payload
//! ```
//!
//! where the CRC-32 (IEEE, `crc32fast`) covers the length, the item count and the payload, and the
//! payload is the OTLP protobuf request exactly as the exporter receives it (the signal is the
//! directory's). A segment is closed when the next record would take it past
//! `segment_size_mib` (a larger record gets a segment of its own); every start of weir opens a
//! new segment, so older segments are never written again.
//!
//! `cursor` is `"WQC1" | segment u64 LE | offset u64 LE | CRC-32 of the 20 bytes before`: every
//! record before (segment, offset) is finished. It is replaced atomically (written to
//! `cursor.tmp`, then renamed; with `fsync` the file and the directory are synced).
//!
//! # Write path
//!
//! `enqueue` takes the payload's share of the capacity (waiting while the queue is full), then
//! hands the payload to the queue's writer thread and waits. The writer takes every append
//! waiting at that moment (group commit), writes them with one `write` per segment, and with
//! `fsync` syncs once for the whole batch, outside the log's lock — concurrent writers share one
//! fsync. Then the records become readable and every waiting `enqueue` returns.
//!
//! # Read, acknowledgement, compaction
//!
//! The exporter's consumers (`num_consumers`) take records in log order, read them back
//! (from the page cache, normally) and check their CRC. When a send ends, the record is marked
//! done; the cursor moves past every done record at the front of the log, releasing their
//! capacity. At most every 100 ms (and at shutdown) the cursor is persisted and segments wholly
//! behind it are deleted: deletion is the compaction, and it never rewrites data.
//!
//! # Recovery (at start)
//!
//! 1. Read `cursor`. Missing or damaged (CRC): start from the oldest segment (duplicates, never
//!    loss), with a warning.
//! 2. Delete segments older than the cursor's (their deletion was interrupted).
//! 3. Scan each remaining segment from the cursor: an intact record (magic, length within the
//!    file, CRC) is queued again and counted in `weir_exporter_queue_recovered_{records,items}`.
//!    Anything else is damage: the scan resumes at the next offset holding the magic and an
//!    intact record, and the stretch in between is reported and counted in
//!    `weir_exporter_queue_corrupted_{records,bytes}`.
//! 4. In the newest segment, damage that runs to the end of the file is a record whose write did
//!    not complete (the process died during `write`): it is cut off (truncated) with a warning,
//!    not counted as corruption. With `fsync`, such a record was never acknowledged.
//! 5. Open a new segment for writing.
//!
//! Crash cases: killed during a write → torn tail (step 4); after the write, before the
//! acknowledgement → the record is sent, the client retries, a duplicate; after a send, before
//! the cursor update → sent again (duplicate); during a cursor rename → the old or the new
//! cursor, both valid; during segment deletion → step 2. One weir process per directory: two
//! processes sharing a queue directory would corrupt it.
//!
//! # Why a hand-written log
//!
//! The queue needs append, in-order read, and deletion of a prefix: exactly a segmented log.
//! An embedded B-tree (bbolt in the Collector, `redb`) rewrites pages and needs compaction to
//! give space back (the Collector's `file_storage` never shrinks without it), and an LSM store
//! (`fjall`) writes every payload twice (journal, then tables). The log writes each payload
//! once, gives space back by deleting whole files, and recovers by a sequential scan. Measured
//! on the queue's workload against redb 2 (`bench/queue_store`, BENCHMARKS.md): 5× the
//! throughput without fsync, 1.3× with it, at 19% and 69% of its CPU; redb's file never shrank,
//! and its non-durable commits do not survive a process crash.

mod log;

pub use log::{read_record, Log, LogOptions, Read, Record, RecordId, Recovery};

use crate::ack::Failure;
use crate::pdata::Signal;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{oneshot, Notify};

/// At most this many bytes go into one group commit.
const MAX_BATCH_BYTES: usize = 32 << 20;

/// Self-telemetry of one persistent queue.
#[derive(Clone)]
struct DiskQueueMetrics {
    corrupted_records: metrics::Counter,
    corrupted_bytes: metrics::Counter,
    fsyncs: metrics::Counter,
    fsync_microseconds: metrics::Counter,
}

impl DiskQueueMetrics {
    fn new(exporter: &str, signal: Signal, recovery: &Recovery) -> Self {
        let labels = [("exporter", exporter.to_string()), ("data_type", signal.as_str().to_string())];
        metrics::counter!("weir_exporter_queue_recovered_records", &labels).increment(recovery.records);
        metrics::counter!("weir_exporter_queue_recovered_items", &labels).increment(recovery.items);
        let m = DiskQueueMetrics {
            corrupted_records: metrics::counter!("weir_exporter_queue_corrupted_records", &labels),
            corrupted_bytes: metrics::counter!("weir_exporter_queue_corrupted_bytes", &labels),
            fsyncs: metrics::counter!("weir_exporter_queue_fsyncs", &labels),
            fsync_microseconds: metrics::counter!("weir_exporter_queue_fsync_microseconds", &labels),
        };
        m.corrupted_records.increment(recovery.corrupted_records);
        m.corrupted_bytes.increment(recovery.corrupted_bytes);
        m
    }
}

struct Append {
    bytes: Bytes,
    items: u32,
    cost: u32,
    done: oneshot::Sender<Result<(), String>>,
}

/// A persistent queue: the [`Log`], its writer thread (group commit) and the consumers' wake-up.
pub struct DiskQueue {
    log: Arc<Mutex<Log>>,
    writer: std::sync::mpsc::Sender<Append>,
    readable: Arc<Notify>,
    metrics: DiskQueueMetrics,
    exporter: Arc<str>,
}

impl DiskQueue {
    /// Opens the queue and recovers it (see the module doc); `cost` gives a record's share of
    /// the capacity from (payload length, items).
    pub fn open(
        opts: LogOptions,
        cost: &dyn Fn(u32, u32) -> u32,
        exporter: &str,
        signal: Signal,
    ) -> std::io::Result<(DiskQueue, Recovery)> {
        let dir = opts.dir.clone();
        let fsync = opts.fsync;
        let (log, recovery) = Log::open(opts, cost)?;
        if recovery.records > 0 || recovery.corrupted_records > 0 || recovery.torn_tail_bytes > 0 {
            tracing::info!(
                message = "Persistent queue recovered.",
                exporter,
                dir = %dir.display(),
                records = recovery.records,
                items = recovery.items,
                bytes = recovery.bytes,
                corrupted_records = recovery.corrupted_records,
                corrupted_bytes = recovery.corrupted_bytes,
                torn_tail_bytes = recovery.torn_tail_bytes,
            );
        }
        if recovery.torn_tail_bytes > 0 {
            tracing::warn!(
                message = "Persistent queue: cut off a record whose write did not complete.",
                exporter,
                bytes = recovery.torn_tail_bytes,
            );
        }
        let metrics = DiskQueueMetrics::new(exporter, signal, &recovery);
        let log = Arc::new(Mutex::new(log));
        let readable = Arc::new(Notify::new());
        let (writer, requests) = std::sync::mpsc::channel::<Append>();
        let (wlog, wready, wmetrics) = (log.clone(), readable.clone(), metrics.clone());
        std::thread::Builder::new()
            .name(format!("queue-{exporter}"))
            .spawn(move || write_loop(&wlog, &requests, fsync, &wready, &wmetrics))?;
        if recovery.records > 0 {
            readable.notify_one();
        }
        Ok((DiskQueue { log, writer, readable, metrics, exporter: Arc::from(exporter) }, recovery))
    }

    /// Appends a payload and returns once it is written (and synced, with `fsync`).
    pub async fn append(&self, bytes: Bytes, items: u32, cost: u32) -> Result<(), Failure> {
        let (done, written) = oneshot::channel();
        self.writer
            .send(Append { bytes, items, cost, done })
            .map_err(|_| Failure::retryable("the persistent queue is closed"))?;
        match written.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::retryable(format!("the persistent queue could not write: {e}"))),
            Err(_) => Err(Failure::retryable("the persistent queue is closed")),
        }
    }

    /// The next record, waiting until there is one. A damaged record comes back as
    /// [`Read::Corrupted`] (already reported); the caller acknowledges it like any other.
    pub async fn next(&self) -> Read {
        loop {
            let notified = self.readable.notified();
            let taken = self.lock().take_next();
            if let Some((id, len, file)) = taken {
                let read = tokio::task::spawn_blocking(move || read_record(&file, id, len))
                    .await
                    .unwrap_or(Read::Corrupted { id, len });
                if let Read::Corrupted { id, len } = &read {
                    self.metrics.corrupted_records.increment(1);
                    self.metrics.corrupted_bytes.increment(*len as u64);
                    tracing::error!(
                        message = "Persistent queue: a record is damaged (checksum mismatch); skipping it.",
                        exporter = %self.exporter,
                        segment = id.segment,
                        offset = id.offset,
                    );
                }
                // More may be readable: let the next caller look without waiting.
                self.readable.notify_one();
                return read;
            }
            notified.await;
        }
    }

    /// Marks a record finished; returns the capacity released.
    pub fn ack(&self, id: RecordId) -> u64 {
        self.lock().ack(id).unwrap_or_else(|e| {
            tracing::warn!(message = "Persistent queue: could not persist the cursor.", exporter = %self.exporter, error = %e);
            0
        })
    }

    /// The cost held by the records in the log.
    pub fn held_cost(&self) -> u64 {
        self.lock().held_cost()
    }

    /// Persists the cursor (at shutdown).
    pub fn close(&self) {
        if let Err(e) = self.lock().checkpoint() {
            tracing::warn!(message = "Persistent queue: could not persist the cursor.", exporter = %self.exporter, error = %e);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while holding the lock leaves the log as consistent as the panic found it;
        // the cursor on disk only moves forward past finished records.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer thread: group commit of every append waiting, one fsync per group.
fn write_loop(
    log: &Mutex<Log>,
    requests: &std::sync::mpsc::Receiver<Append>,
    fsync: bool,
    readable: &Notify,
    metrics: &DiskQueueMetrics,
) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        let mut size = batch[0].bytes.len();
        while size < MAX_BATCH_BYTES {
            match requests.try_recv() {
                Ok(a) => {
                    size += a.bytes.len();
                    batch.push(a);
                }
                Err(_) => break,
            }
        }
        let records: Vec<(&[u8], u32)> = batch.iter().map(|a| (&a.bytes[..], a.items)).collect();
        let written = log.lock().unwrap_or_else(|p| p.into_inner()).write(&records);
        let result = written.and_then(|(ids, files)| {
            if fsync {
                let started = Instant::now();
                let mut last: Option<*const std::fs::File> = None;
                for f in &files {
                    if last != Some(Arc::as_ptr(f)) {
                        f.sync_data()?;
                        last = Some(Arc::as_ptr(f));
                    }
                }
                metrics.fsyncs.increment(1);
                metrics.fsync_microseconds.increment(started.elapsed().as_micros() as u64);
            }
            Ok(ids)
        });
        match result {
            Ok(ids) => {
                let committed: Vec<(RecordId, u32, u32, u32)> =
                    ids.iter().zip(&batch).map(|(id, a)| (*id, a.bytes.len() as u32, a.items, a.cost)).collect();
                log.lock().unwrap_or_else(|p| p.into_inner()).commit(&committed);
                readable.notify_one();
                for a in batch {
                    let _ = a.done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(message = "Persistent queue: write failed.", error = %e);
                for a in batch {
                    let _ = a.done.send(Err(e.to_string()));
                }
            }
        }
    }
}
