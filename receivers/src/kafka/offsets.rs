//! Which offsets of a partition may be committed.
//!
//! Messages of one partition arrive in offset order but are acknowledged by the pipelines in
//! any order (each is in flight on its own). The offset that may be committed is the end of the
//! acknowledged prefix: every message received below it is done. A partition's state lives
//! from its first message after an assignment until it is revoked; acknowledgements that arrive
//! for a revoked partition are ignored (its next owner reads them again).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Acknowledgement state of one assigned partition.
#[derive(Default)]
pub struct PartitionOffsets {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    revoked: bool,
    /// The first offset received since the assignment: nothing below it is ours to commit.
    first_received: Option<i64>,
    /// Received, not yet done.
    pending: BTreeSet<i64>,
    /// The highest offset done.
    highest_done: Option<i64>,
    /// The last offset handed to the consumer's offset store.
    stored: Option<i64>,
}

impl PartitionOffsets {
    /// Records that `offset` was taken from the partition and is now in flight.
    pub fn received(&self, offset: i64) {
        if let Ok(mut s) = self.state.lock() {
            s.first_received.get_or_insert(offset);
            s.pending.insert(offset);
        }
    }

    /// Records that the pipelines are done with `offset`. Returns the offset of the last
    /// message of the acknowledged prefix when it moved forward (librdkafka's offset store
    /// commits that + 1), `None` when nothing new may be committed or the partition was revoked.
    pub fn done(&self, offset: i64) -> Option<i64> {
        let mut s = self.state.lock().ok()?;
        if s.revoked {
            return None;
        }
        s.pending.remove(&offset);
        s.highest_done = Some(s.highest_done.map_or(offset, |h| h.max(offset)));
        let highest = s.highest_done?;
        let committable = match s.pending.first() {
            Some(&first_pending) => (first_pending - 1).min(highest),
            None => highest,
        };
        if s.first_received.is_none_or(|first| committable < first)
            || s.stored.is_some_and(|stored| stored >= committable)
        {
            return None;
        }
        s.stored = Some(committable);
        Some(committable)
    }

    /// Messages received and not yet done.
    pub fn in_flight(&self) -> usize {
        self.state.lock().map(|s| s.pending.len()).unwrap_or(0)
    }

    fn revoke(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.revoked = true;
        }
    }
}

/// The partitions this consumer holds messages of, by topic and partition.
#[derive(Default)]
pub struct OffsetTracker {
    partitions: Mutex<HashMap<String, HashMap<i32, Arc<PartitionOffsets>>>>,
}

impl OffsetTracker {
    /// The state of `topic`/`partition`, created on its first message since an assignment.
    pub fn partition(&self, topic: &str, partition: i32) -> Arc<PartitionOffsets> {
        let mut map = match self.partitions.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(p) = map.get(topic).and_then(|t| t.get(&partition)) {
            return p.clone();
        }
        let p = Arc::new(PartitionOffsets::default());
        map.entry(topic.to_string()).or_default().insert(partition, p.clone());
        p
    }

    /// Forgets `topic`/`partition`: acknowledgements still in flight for it will not be stored.
    pub fn revoke(&self, topic: &str, partition: i32) {
        let mut map = match self.partitions.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(p) = map.get_mut(topic).and_then(|t| t.remove(&partition)) {
            p.revoke();
        }
    }

    /// Messages in flight over every partition.
    pub fn in_flight(&self) -> usize {
        let map = match self.partitions.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.values().flat_map(|t| t.values()).map(|p| p.in_flight()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_acknowledgements_advance_one_by_one() {
        let p = PartitionOffsets::default();
        (10..13).for_each(|o| p.received(o));
        assert_eq!(p.done(10), Some(10));
        assert_eq!(p.done(11), Some(11));
        assert_eq!(p.done(12), Some(12));
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn a_pending_message_holds_the_commit_point_back() {
        let p = PartitionOffsets::default();
        (10..14).for_each(|o| p.received(o));
        assert_eq!(p.done(11), None, "10 is still in flight");
        assert_eq!(p.done(13), None);
        assert_eq!(p.done(10), Some(11), "10 and 11 done, 12 in flight");
        assert_eq!(p.done(12), Some(13));
    }

    #[test]
    fn the_commit_point_never_moves_back() {
        let p = PartitionOffsets::default();
        p.received(5);
        assert_eq!(p.done(5), Some(5));
        p.received(6);
        p.received(7);
        assert_eq!(p.done(7), None);
        assert_eq!(p.done(6), Some(7));
    }

    #[test]
    fn acknowledgements_after_a_revoke_are_ignored() {
        let t = OffsetTracker::default();
        let old = t.partition("otlp_spans", 0);
        old.received(1);
        t.revoke("otlp_spans", 0);
        assert_eq!(old.done(1), None);
        let new = t.partition("otlp_spans", 0);
        assert!(!Arc::ptr_eq(&old, &new), "a new assignment starts afresh");
        new.received(1);
        assert_eq!(t.in_flight(), 1);
        assert_eq!(new.done(1), Some(1));
    }
}
