//! Exporter-side batching (`sending_queue::batch`): the stage between the queue and the send
//! loop's consumers.
//!
//! ```text
//! queue ──take──▶ Batcher: one open batch per partition ──(min_size reached, or
//!                 (metadata_keys values)                   flush_timeout passed)──▶ send
//! ```
//!
//! - **Joining is concatenation** ([`Payload::concat`]); a payload that would take a batch
//!   past `max_size` first sends the open batch, then is cut with [`Payload::split`]: every
//!   full piece is sent, the last one opens the next batch.
//! - **Acknowledgements flow.** A batch carries the tokens of every payload in it; the pieces
//!   of a split payload share its tokens, which resolve once every piece was sent (a failure
//!   of any piece fails them).
//! - **Queue records leave together.** A payload's place in the queue ([`Done`]) is given back
//!   once the last batch holding a piece of it has been sent (or given up on); for a
//!   persistent queue that is when its record leaves the log, so a crash re-sends it.
//! - **Bounded.** The batcher takes from the queue only while it has no full batch waiting for
//!   a consumer, so it holds at most one open batch per partition beyond what is being sent.

use super::config::{BatchConfig, Sizer};
use super::queue::{Done, Taken};
use crate::ack::Acks;
use crate::pdata::Payload;
use crate::pipeline::ClientMetadata;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A queue place shared by the batches that hold a piece of its payload; the last of them to
/// finish gives it back.
pub(crate) struct SharedDone(Done);

impl SharedDone {
    pub(crate) fn new(done: Done) -> SharedDone {
        SharedDone(done)
    }

    /// Gives the place back if `this` is the last holder.
    pub(crate) fn release(this: Arc<SharedDone>) {
        if let Some(SharedDone(done)) = Arc::into_inner(this) {
            done.finish();
        }
    }
}

/// A batch ready to send.
pub(crate) struct Batch {
    pub payload: Payload,
    pub acks: Acks,
    pub metadata: Option<Arc<ClientMetadata>>,
    pub done: Vec<Arc<SharedDone>>,
}

/// One partition's open batch.
struct Open {
    parts: Vec<Payload>,
    size: usize,
    acks: Acks,
    /// The metadata of the batch: the partition's keys, or (without partitions) the metadata
    /// every payload in it agrees on.
    metadata: Option<Arc<ClientMetadata>>,
    done: Vec<Arc<SharedDone>>,
    deadline: Instant,
}

/// The partition of a payload: the values of each `metadata_keys` key, in order.
type PartitionKey = Vec<Vec<String>>;

/// Joins and cuts payloads into batches (see the module docs).
pub(crate) struct Batcher {
    sizer: Sizer,
    min_size: usize,
    max_size: usize,
    flush_timeout: Duration,
    keys: Vec<String>,
    open: HashMap<PartitionKey, Open>,
}

impl Batcher {
    pub(crate) fn new(config: &BatchConfig, sizer: Sizer) -> Batcher {
        Batcher {
            sizer,
            min_size: config.min_size,
            max_size: config.max_size,
            flush_timeout: config.flush_timeout,
            keys: config.partition.metadata_keys.clone(),
            open: HashMap::new(),
        }
    }

    fn size_of(&self, p: &Payload) -> usize {
        match self.sizer {
            Sizer::Bytes => p.len(),
            _ => p.items(),
        }
    }

    /// The item count that keeps a piece of `p` within `max_size`.
    fn max_items(&self, p: &Payload) -> usize {
        match self.sizer {
            Sizer::Bytes if p.items() > 0 => (self.max_size as u128 * p.items() as u128 / p.len().max(1) as u128)
                .clamp(1, usize::MAX as u128) as usize,
            _ => self.max_size,
        }
    }

    /// When the oldest open batch is due, if any is open.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.open.values().map(|o| o.deadline).min()
    }

    /// Adds a payload taken from the queue; returns the batches it completed.
    pub(crate) fn add(&mut self, taken: Taken, now: Instant) -> Vec<Batch> {
        let Taken { payload, acks, metadata, done } = taken;
        let done = Arc::new(SharedDone::new(done));
        let mut ready = Vec::new();
        if payload.items() == 0 {
            // Nothing to send: dropping the tokens acknowledges, and the place is given back.
            SharedDone::release(done);
            return ready;
        }
        let key: PartitionKey =
            self.keys.iter().map(|k| metadata.as_deref().map(|m| m.get(k).to_vec()).unwrap_or_default()).collect();
        let batch_metadata =
            if self.keys.is_empty() { metadata } else { metadata.map(|m| Arc::new(m.select(&self.keys))) };
        let n = self.size_of(&payload);
        let open_size = self.open.get(&key).map_or(0, |o| o.size);
        let pieces = if self.max_size > 0 && open_size + n > self.max_size {
            if let Some(o) = self.open.remove(&key) {
                ready.push(close(o));
            }
            if n > self.max_size {
                match payload.split(self.max_items(&payload)) {
                    Ok(parts) => parts,
                    Err(error) => {
                        // Payloads were checked when received; sending it whole beats losing it.
                        tracing::warn!(message = "Cannot split a payload larger than sending_queue::batch::max_size; sending it whole.", %error);
                        vec![payload]
                    }
                }
            } else {
                vec![payload]
            }
        } else {
            vec![payload]
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            let size = self.size_of(&piece);
            if i < last {
                // A full piece of a split payload goes alone.
                ready.push(Batch {
                    payload: piece,
                    acks: acks.clone(),
                    metadata: batch_metadata.clone(),
                    done: vec![done.clone()],
                });
                continue;
            }
            let deadline = now + self.flush_timeout;
            let open = self.open.entry(key.clone()).or_insert_with(|| Open {
                parts: Vec::new(),
                size: 0,
                acks: Acks::none(),
                metadata: batch_metadata.clone(),
                done: Vec::new(),
                deadline,
            });
            if !open.parts.is_empty() && open.metadata != batch_metadata {
                // Without partitions, payloads of different clients share a batch that then
                // carries no client metadata.
                open.metadata = None;
            }
            open.parts.push(piece);
            open.size += size;
            open.acks.extend(acks.clone());
            open.done.push(done.clone());
            if open.size >= self.min_size {
                if let Some(o) = self.open.remove(&key) {
                    ready.push(close(o));
                }
            }
        }
        ready
    }

    /// The open batches whose `flush_timeout` has passed.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Batch> {
        let keys: Vec<PartitionKey> =
            self.open.iter().filter(|(_, o)| o.deadline <= now).map(|(k, _)| k.clone()).collect();
        keys.into_iter().filter_map(|k| self.open.remove(&k)).map(close).collect()
    }

    /// Every open batch (at shutdown of an in-memory queue).
    pub(crate) fn drain(&mut self) -> Vec<Batch> {
        self.open.drain().map(|(_, o)| close(o)).collect()
    }
}

fn close(o: Open) -> Batch {
    Batch { payload: Payload::concat(&o.parts), acks: o.acks, metadata: o.metadata, done: o.done }
}
