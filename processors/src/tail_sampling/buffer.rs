//! The trace buffer: spans waiting for their trace's decision, held as bytes and accounted in
//! bytes, and the decision caches that outlive them.

use std::collections::{BTreeMap, HashMap, VecDeque};
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

/// Bytes weir counts for each buffered span on top of its wire bytes: its entry in
/// [`Trace::spans`].
pub(crate) const SPAN_OVERHEAD: usize = std::mem::size_of::<StoredSpan>();
/// Bytes counted for each trace on top of its spans: the entry, its table slots and its
/// deadline and age index entries (an estimate).
pub(crate) const TRACE_OVERHEAD: usize = std::mem::size_of::<Trace>() + 96;

/// The resource and scope headers of one scope group of a received payload: every field of
/// the `ResourceSpans` / `ScopeSpans` other than their children, copied once per payload and
/// shared by the traces whose spans came from that group.
#[derive(Debug)]
pub(crate) struct Headers {
    pub(crate) resource: Arc<[u8]>,
    pub(crate) scope: Arc<[u8]>,
}

/// Where one buffered span is: a range of its trace's arena and the headers it is wrapped in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredSpan {
    pub(crate) group: u32,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// One trace waiting for its decision.
pub(crate) struct Trace {
    /// The buffered spans' bytes, one after the other.
    pub(crate) arena: Vec<u8>,
    pub(crate) spans: Vec<StoredSpan>,
    /// Distinct header pairs of the spans, by index.
    pub(crate) groups: Vec<Arc<Headers>>,
    /// Tokens of every request that contributed spans.
    pub(crate) acks: Acks,
    /// Bytes counted against the budgets.
    pub(crate) bytes: usize,
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
    /// A trace outside the buffer (late spans being forwarded).
    pub(crate) fn detached(now: Instant) -> Trace {
        Trace {
            arena: Vec::new(),
            spans: Vec::new(),
            groups: Vec::new(),
            acks: Acks::none(),
            bytes: 0,
            first_seen: now,
            deadline: now,
            seq: 0,
            root_seen: false,
            last_envelope: 0,
        }
    }

    pub(crate) fn span_bytes(&self, s: &StoredSpan) -> &[u8] {
        &self.arena[s.start as usize..s.end as usize]
    }

    /// Adds one span wrapped in `headers`; returns the bytes it adds to the budget.
    pub(crate) fn push(&mut self, headers: &Arc<Headers>, span: &[u8]) -> usize {
        let mut added = span.len() + SPAN_OVERHEAD;
        let group = match self.groups.last() {
            Some(g) if Arc::ptr_eq(g, headers) => self.groups.len() - 1,
            _ => {
                self.groups.push(headers.clone());
                added += headers.resource.len() + headers.scope.len() + std::mem::size_of::<Arc<Headers>>();
                self.groups.len() - 1
            }
        };
        let start = self.arena.len();
        self.arena.extend_from_slice(span);
        self.spans.push(StoredSpan { group: group as u32, start: start as u32, end: self.arena.len() as u32 });
        self.bytes += added;
        added
    }
}

/// One shard of the buffer: the traces whose id hashes to it.
///
/// Invariants: every trace in `traces` has exactly one entry in `deadlines` (at
/// `(trace.deadline, trace.seq)`) and one in `by_age` (at `trace.seq`), and `bytes` is the sum
/// of the traces' `bytes`.
#[derive(Default)]
pub(crate) struct TraceBuffer {
    pub(crate) traces: HashMap<TraceId, Trace>,
    deadlines: BTreeMap<(Instant, u64), TraceId>,
    by_age: BTreeMap<u64, TraceId>,
    pub(crate) bytes: usize,
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
        self.bytes += TRACE_OVERHEAD;
        self.traces.entry(id).or_insert(Trace {
            arena: Vec::new(),
            spans: Vec::new(),
            groups: Vec::new(),
            acks: Acks::none(),
            bytes: TRACE_OVERHEAD,
            first_seen: now,
            deadline,
            seq,
            root_seen: false,
            last_envelope: 0,
        })
    }

    /// Records bytes and spans a trace gained (after [`Trace::push`]).
    pub(crate) fn grew(&mut self, bytes: usize, spans: usize) {
        self.bytes += bytes;
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
        self.bytes -= t.bytes;
        self.spans -= t.spans.len();
        Some(t)
    }

    /// The trace whose first span arrived first.
    pub(crate) fn oldest(&self) -> Option<TraceId> {
        self.by_age.values().next().copied()
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
