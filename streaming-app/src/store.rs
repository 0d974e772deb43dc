//! Room state and counters: in process memory by default, or in Redis (`--redis-url`).
//!
//! A room has an id (assigned in creation order), a name, an owner, the set of users who joined
//! it (its viewers) and three counters: likes, gifts and chat messages. Both backends give the
//! same answers; Redis lets several app replicas share rooms.
//!
//! Redis layout (every key starts with [`REDIS_PREFIX`]):
//! - `rooms:next` — INCR counter that hands out room ids;
//! - `rooms` — sorted set of room ids (score = id), the list order;
//! - `room:{id}` — hash: `name`, `owner`, `created_ms`, `likes`, `gifts`, `messages`;
//! - `room:{id}:viewers` — set of user names.
//!
//! Every operation runs inside a `store.<op>` span (kind client, `db.system` = `memory` or
//! `redis`), so a trace shows where time went; an injected slow dependency
//! ([`crate::fault`]) is spent inside that span, and a failed operation marks it ERROR.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing::Instrument;

use crate::telemetry::AppMetrics;

/// Prefix of every Redis key this service writes.
pub const REDIS_PREFIX: &str = "streaming:";

/// A room as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomInfo {
    pub id: u64,
    pub name: String,
    pub owner: String,
    pub created_ms: u64,
    pub viewers: u64,
    pub likes: u64,
    pub gifts: u64,
    pub messages: u64,
}

/// A room counter that can be incremented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Likes,
    Gifts,
    Messages,
}

impl Counter {
    fn field(self) -> &'static str {
        match self {
            Counter::Likes => "likes",
            Counter::Gifts => "gifts",
            Counter::Messages => "messages",
        }
    }
}

/// A store operation that failed (the backend, not the request, is at fault).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis returned a malformed room record for room {0}")]
    Malformed(u64),
}

/// The room store used by the HTTP and WebSocket handlers.
pub struct Store {
    backend: Backend,
    metrics: AppMetrics,
}

enum Backend {
    Memory(MemoryStore),
    Redis(RedisStore),
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Store {
    /// A store in process memory.
    pub fn memory(metrics: AppMetrics) -> Store {
        Store { backend: Backend::Memory(MemoryStore::default()), metrics }
    }

    /// A store in the Redis server at `url` (e.g. `redis://127.0.0.1:6379/`); connects now.
    pub async fn redis(url: &str, metrics: AppMetrics) -> Result<Store, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(Store { backend: Backend::Redis(RedisStore { conn }), metrics })
    }

    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Runs one backend operation inside its span, after any injected slow-dependency delay,
    /// and records its latency.
    async fn traced<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = tracing::info_span!(
            "store",
            otel.name = format!("store.{op}"),
            otel.kind = "client",
            db.system = self.kind(),
            db.operation = op,
            fault.slow_ms = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        let start = Instant::now();
        let result = async {
            if let Some(delay) = crate::fault::slow_dependency() {
                tracing::Span::current().record("fault.slow_ms", delay.as_millis() as u64);
                tokio::time::sleep(delay).await;
            }
            fut.await
        }
        .instrument(span.clone())
        .await;
        if let Err(error) = &result {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_message", error.to_string());
            span.in_scope(|| tracing::error!(message = "Store operation failed.", op, %error));
        }
        self.metrics.store_duration.record(start.elapsed().as_secs_f64(), &[opentelemetry::KeyValue::new("op", op)]);
        result
    }

    /// Creates a room owned by `owner`.
    pub async fn create_room(&self, name: &str, owner: &str) -> Result<RoomInfo, StoreError> {
        self.traced("create_room", async {
            match &self.backend {
                Backend::Memory(m) => Ok(m.create_room(name, owner)),
                Backend::Redis(r) => r.create_room(name, owner).await,
            }
        })
        .await
    }

    /// Every room, in creation order.
    pub async fn list_rooms(&self) -> Result<Vec<RoomInfo>, StoreError> {
        self.traced("list_rooms", async {
            match &self.backend {
                Backend::Memory(m) => Ok(m.list_rooms()),
                Backend::Redis(r) => r.list_rooms().await,
            }
        })
        .await
    }

    /// One room, or `None` when there is no such room.
    pub async fn room(&self, id: u64) -> Result<Option<RoomInfo>, StoreError> {
        self.traced("get_room", async {
            match &self.backend {
                Backend::Memory(m) => Ok(m.room(id)),
                Backend::Redis(r) => r.room(id).await,
            }
        })
        .await
    }

    /// Adds `user` to the room's viewers; the new viewer count, or `None` for no such room.
    pub async fn join(&self, id: u64, user: &str) -> Result<Option<u64>, StoreError> {
        self.traced("join", async {
            match &self.backend {
                Backend::Memory(m) => Ok(m.set_viewer(id, user, true)),
                Backend::Redis(r) => r.set_viewer(id, user, true).await,
            }
        })
        .await
    }

    /// Removes `user` from the room's viewers; the new viewer count, or `None` for no such room.
    pub async fn leave(&self, id: u64, user: &str) -> Result<Option<u64>, StoreError> {
        self.traced("leave", async {
            match &self.backend {
                Backend::Memory(m) => Ok(m.set_viewer(id, user, false)),
                Backend::Redis(r) => r.set_viewer(id, user, false).await,
            }
        })
        .await
    }

    /// Adds `n` to a room counter; its new value, or `None` for no such room.
    pub async fn add(&self, id: u64, counter: Counter, n: u64) -> Result<Option<u64>, StoreError> {
        let op = match counter {
            Counter::Likes => "add_likes",
            Counter::Gifts => "add_gifts",
            Counter::Messages => "add_messages",
        };
        self.traced(op, async {
            match &self.backend {
                Backend::Memory(m) => Ok(m.add(id, counter, n)),
                Backend::Redis(r) => r.add(id, counter, n).await,
            }
        })
        .await
    }
}

#[derive(Default)]
struct MemoryStore {
    next_id: AtomicU64,
    rooms: RwLock<BTreeMap<u64, MemRoom>>,
}

struct MemRoom {
    name: String,
    owner: String,
    created_ms: u64,
    viewers: RwLock<HashSet<String>>,
    likes: AtomicU64,
    gifts: AtomicU64,
    messages: AtomicU64,
}

impl MemRoom {
    fn info(&self, id: u64) -> RoomInfo {
        RoomInfo {
            id,
            name: self.name.clone(),
            owner: self.owner.clone(),
            created_ms: self.created_ms,
            viewers: self.viewers.read().unwrap_or_else(|p| p.into_inner()).len() as u64,
            likes: self.likes.load(Ordering::Relaxed),
            gifts: self.gifts.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
        }
    }

    fn counter(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::Likes => &self.likes,
            Counter::Gifts => &self.gifts,
            Counter::Messages => &self.messages,
        }
    }
}

impl MemoryStore {
    fn create_room(&self, name: &str, owner: &str) -> RoomInfo {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let room = MemRoom {
            name: name.to_string(),
            owner: owner.to_string(),
            created_ms: now_ms(),
            viewers: RwLock::default(),
            likes: AtomicU64::new(0),
            gifts: AtomicU64::new(0),
            messages: AtomicU64::new(0),
        };
        let info = room.info(id);
        self.rooms.write().unwrap_or_else(|p| p.into_inner()).insert(id, room);
        info
    }

    fn list_rooms(&self) -> Vec<RoomInfo> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner()).iter().map(|(id, r)| r.info(*id)).collect()
    }

    fn room(&self, id: u64) -> Option<RoomInfo> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner()).get(&id).map(|r| r.info(id))
    }

    fn set_viewer(&self, id: u64, user: &str, present: bool) -> Option<u64> {
        let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
        let room = rooms.get(&id)?;
        let mut viewers = room.viewers.write().unwrap_or_else(|p| p.into_inner());
        if present {
            viewers.insert(user.to_string());
        } else {
            viewers.remove(user);
        }
        Some(viewers.len() as u64)
    }

    fn add(&self, id: u64, counter: Counter, n: u64) -> Option<u64> {
        let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
        Some(rooms.get(&id)?.counter(counter).fetch_add(n, Ordering::Relaxed) + n)
    }
}

struct RedisStore {
    /// Multiplexed and reconnecting; cloning is cheap.
    conn: redis::aio::ConnectionManager,
}

fn room_key(id: u64) -> String {
    format!("{REDIS_PREFIX}room:{id}")
}

fn viewers_key(id: u64) -> String {
    format!("{REDIS_PREFIX}room:{id}:viewers")
}

fn parse_room(id: u64, fields: &HashMap<String, String>, viewers: u64) -> Result<RoomInfo, StoreError> {
    let num = |k: &str| fields.get(k).map(|v| v.parse::<u64>()).unwrap_or(Ok(0)).map_err(|_| StoreError::Malformed(id));
    Ok(RoomInfo {
        id,
        name: fields.get("name").cloned().ok_or(StoreError::Malformed(id))?,
        owner: fields.get("owner").cloned().unwrap_or_default(),
        created_ms: num("created_ms")?,
        viewers,
        likes: num("likes")?,
        gifts: num("gifts")?,
        messages: num("messages")?,
    })
}

impl RedisStore {
    async fn create_room(&self, name: &str, owner: &str) -> Result<RoomInfo, StoreError> {
        let mut c = self.conn.clone();
        let id: u64 = redis::cmd("INCR").arg(format!("{REDIS_PREFIX}rooms:next")).query_async(&mut c).await?;
        let created_ms = now_ms();
        let _: () = redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(room_key(id))
            .arg("name")
            .arg(name)
            .arg("owner")
            .arg(owner)
            .arg("created_ms")
            .arg(created_ms)
            .arg("likes")
            .arg(0)
            .arg("gifts")
            .arg(0)
            .arg("messages")
            .arg(0)
            .ignore()
            .cmd("ZADD")
            .arg(format!("{REDIS_PREFIX}rooms"))
            .arg(id)
            .arg(id)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(RoomInfo {
            id,
            name: name.to_string(),
            owner: owner.to_string(),
            created_ms,
            viewers: 0,
            likes: 0,
            gifts: 0,
            messages: 0,
        })
    }

    async fn list_rooms(&self) -> Result<Vec<RoomInfo>, StoreError> {
        let mut c = self.conn.clone();
        let ids: Vec<u64> =
            redis::cmd("ZRANGE").arg(format!("{REDIS_PREFIX}rooms")).arg(0).arg(-1).query_async(&mut c).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(room_key(*id)).cmd("SCARD").arg(viewers_key(*id));
        }
        let replies: Vec<(HashMap<String, String>, u64)> = {
            let flat: Vec<redis::Value> = pipe.query_async(&mut c).await?;
            let mut out = Vec::with_capacity(ids.len());
            let mut it = flat.into_iter();
            for id in &ids {
                let (Some(h), Some(n)) = (it.next(), it.next()) else { return Err(StoreError::Malformed(*id)) };
                let h = redis::from_redis_value(h).map_err(|_| StoreError::Malformed(*id))?;
                let n = redis::from_redis_value(n).map_err(|_| StoreError::Malformed(*id))?;
                out.push((h, n));
            }
            out
        };
        ids.iter().zip(replies.iter()).map(|(id, (fields, viewers))| parse_room(*id, fields, *viewers)).collect()
    }

    async fn room(&self, id: u64) -> Result<Option<RoomInfo>, StoreError> {
        let mut c = self.conn.clone();
        let (fields, viewers): (HashMap<String, String>, u64) = redis::pipe()
            .cmd("HGETALL")
            .arg(room_key(id))
            .cmd("SCARD")
            .arg(viewers_key(id))
            .query_async(&mut c)
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_room(id, &fields, viewers).map(Some)
    }

    async fn exists(&self, c: &mut redis::aio::ConnectionManager, id: u64) -> Result<bool, StoreError> {
        let n: u64 = redis::cmd("EXISTS").arg(room_key(id)).query_async(c).await?;
        Ok(n == 1)
    }

    async fn set_viewer(&self, id: u64, user: &str, present: bool) -> Result<Option<u64>, StoreError> {
        let mut c = self.conn.clone();
        if !self.exists(&mut c, id).await? {
            return Ok(None);
        }
        let (count,): (u64,) = redis::pipe()
            .cmd(if present { "SADD" } else { "SREM" })
            .arg(viewers_key(id))
            .arg(user)
            .ignore()
            .cmd("SCARD")
            .arg(viewers_key(id))
            .query_async(&mut c)
            .await?;
        Ok(Some(count))
    }

    async fn add(&self, id: u64, counter: Counter, n: u64) -> Result<Option<u64>, StoreError> {
        let mut c = self.conn.clone();
        if !self.exists(&mut c, id).await? {
            return Ok(None);
        }
        let v: u64 = redis::cmd("HINCRBY").arg(room_key(id)).arg(counter.field()).arg(n).query_async(&mut c).await?;
        Ok(Some(v))
    }
}
