//! The trace buffer: spans waiting for their trace's decision, held as slices of the received
//! payloads (zero-copy) and accounted in bytes, and the decision caches that outlive them.

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::time::Instant;
use weir_core::Acks;

/// A trace id, as 16 bytes (ids of another length are zero-padded or cut, so a malformed id
/// still groups its spans).
pub(crate) type TraceId = [u8; 16];

pub(crate) fn trace_id_of(bytes: &[u8]) -> TraceId {
    let mut id = [0u8; 16];
    let n = bytes.len().min(16);
    id[16 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    id
}

/// Bytes counted for each trace on top of its vectors: the entry in the trace table (key and
/// value, with the table's slack) and its deadline and age index entries (an estimate).
pub(crate) const TRACE_OVERHEAD: usize = (std::mem::size_of::<(TraceId, Trace)>() * 8).div_ceil(7) + 96;
/// Bytes counted for each scope group of a held payload: its shared [`Group`] allocation.
pub(crate) const GROUP_OVERHEAD: usize = std::mem::size_of::<Group>() + 2 * std::mem::size_of::<usize>();
/// Bytes counted for each held payload on top of its length: its [`Held`] allocation.
pub(crate) const HELD_OVERHEAD: usize = std::mem::size_of::<Held>() + 2 * std::mem::size_of::<usize>();

/// The bytes the buffer holds in received payloads, shared by every [`Held`] of a processor.
pub(crate) type Meter = Arc<AtomicUsize>;

/// The accounting of one received payload that buffered spans point into.
///
/// Its bytes (the payload's length, plus the bookkeeping of its groups) are added to the meter
/// when the first span of the payload is buffered and taken off when the last buffered trace
/// referencing it is decided (the last `Arc<Held>` is dropped). The payload's memory itself
/// is kept alive by the [`Group`]s' `Bytes`; a decided kept trace keeps it until its spans are
/// sent, at the end of the same round.
pub(crate) struct Held {
    bytes: AtomicUsize,
    meter: Meter,
}

impl Held {
    pub(crate) fn new(bytes: usize, meter: &Meter) -> Arc<Held> {
        meter.fetch_add(bytes, Ordering::Relaxed);
        Arc::new(Held { bytes: AtomicUsize::new(bytes), meter: meter.clone() })
    }

    /// Counts `bytes` more for this payload.
    pub(crate) fn grow(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.meter.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.meter.fetch_sub(*self.bytes.get_mut(), Ordering::Relaxed);
    }
}

/// One scope group of a received payload, as slices of the payload (no copy): the whole
/// `ResourceSpans` it is in and the whole `ScopeSpans`. Shared by the traces whose spans came
/// from that group; re-emission ([`weir_core::pdata::Regroup`]) takes their header fields.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) resource: Bytes,
    pub(crate) scope: Bytes,
}

/// Where one buffered span is: a range of its group's `scope` bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredSpan {
    pub(crate) group: u32,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// One trace waiting for its decision.
pub(crate) struct Trace {
    pub(crate) spans: Vec<StoredSpan>,
    /// Distinct groups of the spans, by index (consecutive spans of one group share an entry).
    pub(crate) groups: Vec<Arc<Group>>,
    /// The accounting of every payload the spans point into (one per payload). Emptied when
    /// the trace is decided.
    pub(crate) held: Vec<Arc<Held>>,
    /// Tokens of every request that contributed spans.
    pub(crate) acks: Acks,
    /// Wire bytes of the spans (for `maximum_trace_size_bytes` and `bytes_limiting`).
    pub(crate) span_bytes: usize,
    /// Bytes of the trace's own bookkeeping counted against the budget (entry, vectors).
    pub(crate) index_bytes: usize,
    pub(crate) first_seen: Instant,
    /// When the trace is due; its key in [`TraceBuffer::deadlines`] together with `seq`.
    pub(crate) deadline: Instant,
    /// Arrival order of the first span; key in [`TraceBuffer::by_age`].
    pub(crate) seq: u64,
    pub(crate) root_seen: bool,
    /// Number of the last envelope whose tokens were added to `acks` (one clone per envelope).
    pub(crate) last_envelope: u64,
}

impl Trace {
    fn new(now: Instant, deadline: Instant, seq: u64) -> Trace {
        let mut t = Trace {
            spans: Vec::new(),
            groups: Vec::new(),
            held: Vec::new(),
            acks: Acks::none(),
            span_bytes: 0,
            index_bytes: 0,
            first_seen: now,
            deadline,
            seq,
            root_seen: false,
            last_envelope: 0,
        };
        t.index_bytes = t.index_size();
        t
    }

    /// A trace outside the buffer (late spans being forwarded).
    pub(crate) fn detached(now: Instant) -> Trace {
        Trace::new(now, now, 0)
    }

    /// What the trace's bookkeeping takes: its entry and the capacity of its vectors.
    fn index_size(&self) -> usize {
        TRACE_OVERHEAD
            + self.spans.capacity() * std::mem::size_of::<StoredSpan>()
            + (self.groups.capacity() + self.held.capacity() + self.acks.len()) * std::mem::size_of::<usize>()
    }

    pub(crate) fn span_bytes(&self, s: &StoredSpan) -> &[u8] {
        &self.groups[s.group as usize].scope[s.start as usize..s.end as usize]
    }

    /// Records that the trace has spans of envelope `envelope` (once per envelope): keeps
    /// its tokens and, for a buffered trace, the accounting of its payload.
    pub(crate) fn join(&mut self, envelope: u64, acks: &Acks, held: Option<&Arc<Held>>) {
        if self.last_envelope != envelope {
            self.last_envelope = envelope;
            self.acks.extend(acks.clone());
            if let Some(h) = held {
                self.held.push(h.clone());
            }
        }
    }

    /// Adds one span, `scope[start..end]` of `group`. Returns the change of `index_bytes`.
    pub(crate) fn push(&mut self, group: &Arc<Group>, start: u32, end: u32) -> usize {
        let g = match self.groups.last() {
            Some(g) if Arc::ptr_eq(g, group) => self.groups.len() - 1,
            _ => {
                self.groups.push(group.clone());
                self.groups.len() - 1
            }
        };
        self.spans.push(StoredSpan { group: g as u32, start, end });
        self.span_bytes += (end - start) as usize;
        self.update_index()
    }

    /// Recounts `index_bytes` (after `join` or `push`); returns how much it grew.
    pub(crate) fn update_index(&mut self) -> usize {
        let now = self.index_size();
        let grew = now.saturating_sub(self.index_bytes);
        self.index_bytes = now;
        grew
    }
}

/// One shard of the buffer: the traces whose id hashes to it.
///
/// Invariants: every trace in `traces` has exactly one entry in `deadlines` (at
/// `(trace.deadline, trace.seq)`) and one in `by_age` (at `trace.seq`), `index_bytes` is the
/// sum of the traces' `index_bytes` and `spans` of their span counts.
#[derive(Default)]
pub(crate) struct TraceBuffer {
    pub(crate) traces: HashMap<TraceId, Trace>,
    deadlines: BTreeMap<(Instant, u64), TraceId>,
    by_age: BTreeMap<u64, TraceId>,
    pub(crate) index_bytes: usize,
    pub(crate) spans: usize,
}

impl TraceBuffer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        TraceBuffer { traces: HashMap::with_capacity(n), ..Default::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.traces.len()
    }

    /// Starts a trace due at `deadline`.
    pub(crate) fn insert(&mut self, id: TraceId, now: Instant, deadline: Instant, seq: u64) -> &mut Trace {
        self.deadlines.insert((deadline, seq), id);
        self.by_age.insert(seq, id);
        let t = Trace::new(now, deadline, seq);
        self.index_bytes += t.index_bytes;
        self.traces.entry(id).or_insert(t)
    }

    /// Records index bytes and spans a trace gained.
    pub(crate) fn grew(&mut self, bytes: usize, spans: usize) {
        self.index_bytes += bytes;
        self.spans += spans;
    }

    /// Moves a trace's deadline earlier (never later).
    pub(crate) fn advance_deadline(&mut self, id: &TraceId, to: Instant) {
        if let Some(t) = self.traces.get_mut(id) {
            if to < t.deadline {
                self.deadlines.remove(&(t.deadline, t.seq));
                t.deadline = to;
                self.deadlines.insert((to, t.seq), *id);
            }
        }
    }

    pub(crate) fn remove(&mut self, id: &TraceId) -> Option<Trace> {
        let t = self.traces.remove(id)?;
        self.deadlines.remove(&(t.deadline, t.seq));
        self.by_age.remove(&t.seq);
        self.index_bytes -= t.index_bytes;
        self.spans -= t.spans.len();
        Some(t)
    }

    /// The trace whose first span arrived first.
    pub(crate) fn oldest(&self) -> Option<TraceId> {
        self.by_age.values().next().copied()
    }

    /// The arrival order and id of the trace whose first span arrived first.
    pub(crate) fn oldest_seq(&self) -> Option<(u64, TraceId)> {
        self.by_age.iter().next().map(|(s, id)| (*s, *id))
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(d, _)| *d)
    }

    /// Takes the ids of the traces due at `now`.
    pub(crate) fn due(&self, now: Instant) -> Vec<TraceId> {
        self.deadlines.range(..=(now, u64::MAX)).map(|(_, id)| *id).collect()
    }

    pub(crate) fn ids(&self) -> Vec<TraceId> {
        self.by_age.values().copied().collect()
    }
}

/// A bounded set of remembered decisions: the oldest is forgotten first (FIFO).
pub(crate) struct DecisionCache<V> {
    capacity: usize,
    map: HashMap<TraceId, V>,
    order: VecDeque<TraceId>,
}

impl<V> DecisionCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        DecisionCache { capacity, map: HashMap::new(), order: VecDeque::new() }
    }

    pub(crate) fn get(&self, id: &TraceId) -> Option<&V> {
        self.map.get(id)
    }

    pub(crate) fn insert(&mut self, id: TraceId, v: V) {
        if self.capacity == 0 {
            return;
        }
        if self.map.insert(id, v).is_none() {
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

/// Kept trace ids, with the threshold written into their spans and the deciding policy, which
/// their late spans get too.
pub(crate) type KeptSet = DecisionCache<(Option<u64>, Arc<str>)>;
/// Dropped trace ids.
pub(crate) type DroppedSet = DecisionCache<()>;
