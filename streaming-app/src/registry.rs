//! The live WebSocket connections, by room: 16 shards, each behind its own lock (the seed
//! system's way of cutting lock contention between rooms).
//!
//! A room lives in shard `room_id % SHARDS`. Each connection owns a bounded outbound queue
//! that its writer task drains into the socket; [`ConnectionRegistry::broadcast`] pushes one
//! encoded frame (shared, reference-counted) into every queue of the room.
//!
//! Invariants:
//! - Delivery order within a room is total: a broadcast holds its shard's lock while it
//!   enqueues, so two broadcasts to one room cannot interleave, and every viewer sees the
//!   room's messages in the same order.
//! - Nothing waits under a lock: enqueueing is `try_send`. A viewer whose queue is full (it
//!   reads slower than the room talks) loses that message, counted as dropped, rather than
//!   stalling the room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::extract::ws::{Message, Utf8Bytes};
use tokio::sync::mpsc;

/// Number of shards (and locks).
pub const SHARDS: usize = 16;

/// Capacity of each connection's outbound queue, in frames.
pub const OUTBOUND_QUEUE: usize = 1024;

/// Identifies one connection.
pub type ConnId = u64;

/// What a broadcast did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fanout {
    /// Frames enqueued to viewers.
    pub delivered: u64,
    /// Viewers whose queue was full or closed.
    pub dropped: u64,
}

type Room = HashMap<ConnId, mpsc::Sender<Message>>;

/// Live connections by room.
pub struct ConnectionRegistry {
    shards: Vec<Mutex<HashMap<u64, Room>>>,
    next_id: AtomicU64,
    connections: AtomicU64,
}

impl Default for ConnectionRegistry {
    fn default() -> Self {
        ConnectionRegistry {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            next_id: AtomicU64::new(1),
            connections: AtomicU64::new(0),
        }
    }
}

impl ConnectionRegistry {
    fn shard(&self, room: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Room>> {
        // A panic while holding the lock leaves the map consistent (no multi-step updates).
        self.shards[room as usize % SHARDS].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection to `room`; returns its id and the queue to drain.
    pub fn register(&self, room: u64) -> (ConnId, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.shard(room).entry(room).or_default().insert(id, tx);
        self.connections.fetch_add(1, Ordering::Relaxed);
        (id, rx)
    }

    /// Removes a connection (idempotent).
    pub fn unregister(&self, room: u64, id: ConnId) {
        let mut shard = self.shard(room);
        if let Some(conns) = shard.get_mut(&room) {
            if conns.remove(&id).is_some() {
                self.connections.fetch_sub(1, Ordering::Relaxed);
            }
            if conns.is_empty() {
                shard.remove(&room);
            }
        }
    }

    /// Enqueues `frame` to every connection of `room`.
    pub fn broadcast(&self, room: u64, frame: Utf8Bytes) -> Fanout {
        let mut out = Fanout::default();
        let shard = self.shard(room);
        if let Some(conns) = shard.get(&room) {
            for tx in conns.values() {
                match tx.try_send(Message::Text(frame.clone())) {
                    Ok(()) => out.delivered += 1,
                    Err(_) => out.dropped += 1,
                }
            }
        }
        out
    }

    /// Sends `frame` to one connection only; false when it is gone or its queue is full.
    pub fn send_to(&self, room: u64, id: ConnId, frame: Utf8Bytes) -> bool {
        self.shard(room).get(&room).and_then(|c| c.get(&id)).is_some_and(|tx| tx.try_send(Message::Text(frame)).is_ok())
    }

    /// Live connections in `room`.
    pub fn room_connections(&self, room: u64) -> u64 {
        self.shard(room).get(&room).map_or(0, |c| c.len() as u64)
    }

    /// Live connections in all rooms.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Live connections per room, for every room that has any.
    pub fn per_room(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self
            .shards
            .iter()
            .flat_map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.iter().map(|(room, c)| (*room, c.len() as u64)).collect::<Vec<_>>()
            })
            .collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Message) -> String {
        match m {
            Message::Text(t) => t.to_string(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[tokio::test]
    async fn broadcast_reaches_every_connection_of_the_room_only() {
        let r = ConnectionRegistry::default();
        let (_, mut a) = r.register(1);
        let (_, mut b) = r.register(1);
        let (_, mut other) = r.register(17); // same shard, other room
        assert_eq!(r.broadcast(1, "hi".into()), Fanout { delivered: 2, dropped: 0 });
        assert_eq!(text(a.recv().await.unwrap()), "hi");
        assert_eq!(text(b.recv().await.unwrap()), "hi");
        assert!(other.try_recv().is_err());
        assert_eq!(r.connections(), 3);
        assert_eq!(r.per_room(), vec![(1, 2), (17, 1)]);
    }

    #[tokio::test]
    async fn full_queue_drops_instead_of_blocking_and_unregister_is_idempotent() {
        let r = ConnectionRegistry::default();
        let (id, _rx) = r.register(5);
        for _ in 0..OUTBOUND_QUEUE {
            r.broadcast(5, "x".into());
        }
        assert_eq!(r.broadcast(5, "x".into()), Fanout { delivered: 0, dropped: 1 });
        r.unregister(5, id);
        r.unregister(5, id);
        assert_eq!(r.connections(), 0);
        assert_eq!(r.room_connections(5), 0);
    }
}
