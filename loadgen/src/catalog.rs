//! Static description of the simulated live-streaming platform: its services, their
//! operations, datastores and the public routes served by the API gateway.
//!
//! Templates may contain the placeholders `{room_id}` and `{user_id}`, filled in per trace.

/// Implementation language of a service; drives `telemetry.sdk.language` and the
/// instrumentation scope names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Go,
    Java,
    NodeJs,
    Python,
}

impl Lang {
    /// Value of the `telemetry.sdk.language` resource attribute.
    pub fn sdk_language(self) -> &'static str {
        match self {
            Lang::Go => "go",
            Lang::Java => "java",
            Lang::NodeJs => "nodejs",
            Lang::Python => "python",
        }
    }

    /// Value of the `telemetry.sdk.version` resource attribute.
    pub fn sdk_version(self) -> &'static str {
        match self {
            Lang::Go => "1.37.0",
            Lang::Java => "1.51.0",
            Lang::NodeJs => "2.0.1",
            Lang::Python => "1.35.0",
        }
    }

    /// Instrumentation scope `(name, version)` used for spans of the given kind.
    pub fn scope(self, kind: ScopeKind) -> (&'static str, &'static str) {
        use ScopeKind::*;
        match (self, kind) {
            (Lang::Go, Http) => ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.62.0"),
            (Lang::Go, Rpc) => {
                ("go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc", "0.62.0")
            }
            (Lang::Go, Redis) => ("github.com/redis/go-redis/extra/redisotel", "9.7.0"),
            (Lang::Go, Db) => ("github.com/XSAM/otelsql", "0.39.0"),
            (Lang::Go, Messaging) => ("github.com/twmb/franz-go/plugin/kotel", "1.6.0"),
            (Lang::Go, App) => ("live.streamhub/app", "1.0.0"),
            (Lang::Go, Log) => ("go.opentelemetry.io/contrib/bridges/otelslog", "0.12.0"),
            (Lang::Java, Http) => ("io.opentelemetry.spring-webmvc-6.0", "2.17.0-alpha"),
            (Lang::Java, Rpc) => ("io.opentelemetry.grpc-1.6", "2.17.0-alpha"),
            (Lang::Java, Redis) => ("io.opentelemetry.lettuce-5.1", "2.17.0-alpha"),
            (Lang::Java, Db) => ("io.opentelemetry.jdbc", "2.17.0-alpha"),
            (Lang::Java, Messaging) => ("io.opentelemetry.kafka-clients-2.6", "2.17.0-alpha"),
            (Lang::Java, App) => ("com.streamhub.live", "1.0.0"),
            (Lang::Java, Log) => ("io.opentelemetry.logback-appender-1.0", "2.17.0-alpha"),
            (Lang::NodeJs, Http) => ("@opentelemetry/instrumentation-http", "0.203.0"),
            (Lang::NodeJs, Rpc) => ("@opentelemetry/instrumentation-grpc", "0.203.0"),
            (Lang::NodeJs, Redis) => ("@opentelemetry/instrumentation-ioredis", "0.51.0"),
            (Lang::NodeJs, Db) => ("@opentelemetry/instrumentation-mongodb", "0.56.0"),
            (Lang::NodeJs, Messaging) => ("@opentelemetry/instrumentation-kafkajs", "0.12.0"),
            (Lang::NodeJs, App) => ("streamhub-live", "1.0.0"),
            (Lang::NodeJs, Log) => ("@opentelemetry/instrumentation-pino", "0.50.0"),
            (Lang::Python, Http) => ("opentelemetry.instrumentation.fastapi", "0.56b0"),
            (Lang::Python, Rpc) => ("opentelemetry.instrumentation.grpc", "0.56b0"),
            (Lang::Python, Redis) => ("opentelemetry.instrumentation.redis", "0.56b0"),
            (Lang::Python, Db) => ("opentelemetry.instrumentation.sqlalchemy", "0.56b0"),
            (Lang::Python, Messaging) => ("opentelemetry.instrumentation.confluent_kafka", "0.56b0"),
            (Lang::Python, App) => ("streamhub.live", "1.0.0"),
            (Lang::Python, Log) => ("opentelemetry.sdk._logs", "1.35.0"),
        }
    }
}

/// Which instrumentation produced a span (or log record); one scope per kind and resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeKind {
    Http,
    Rpc,
    Redis,
    Db,
    Messaging,
    App,
    Log,
}

/// How other services call into a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    /// gRPC with the fully qualified service name, e.g. `live.room.v1.RoomService`.
    Grpc(&'static str),
    /// Plain HTTP/JSON.
    Http,
}

/// One statement a service runs against its database: `(operation, collection, query text)`.
pub type DbQuery = (&'static str, &'static str, &'static str);

/// A service's database.
#[derive(Debug, Clone, Copy)]
pub struct Db {
    /// `db.system` / `db.system.name` value.
    pub system: &'static str,
    /// `db.namespace`.
    pub namespace: &'static str,
    /// `server.address` of the database.
    pub host: &'static str,
    /// `server.port` of the database.
    pub port: i64,
    /// Statements the service issues.
    pub queries: &'static [DbQuery],
}

/// Static definition of one service of the platform.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDef {
    /// `service.name`.
    pub name: &'static str,
    /// Implementation language.
    pub lang: Lang,
    /// `service.version`.
    pub version: &'static str,
    /// How the service is called.
    pub rpc: Rpc,
    /// Listening port (`server.port` on client spans).
    pub port: i64,
    /// gRPC method names, or `"METHOD /route"` for HTTP services.
    pub ops: &'static [&'static str],
    /// Database, if any.
    pub db: Option<Db>,
    /// Redis commands (templates).
    pub redis: &'static [&'static str],
    /// Kafka topic the service publishes to, if any.
    pub topic: Option<&'static str>,
    /// Names of in-process (INTERNAL) spans.
    pub internal: &'static [&'static str],
}

const MYSQL: &str = "mysql-primary.db.svc.cluster.local";
const PG: &str = "pg-main.db.svc.cluster.local";
const MONGO: &str = "mongo-0.mongo.db.svc.cluster.local";

/// The platform's services. The first one is always the API gateway, which serves the
/// public [`ROUTES`] and roots every trace.
pub static SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "api-gateway",
        lang: Lang::Go,
        version: "2.14.3",
        rpc: Rpc::Http,
        port: 8080,
        ops: &[],
        db: None,
        redis: &["INCR ratelimit:{user_id}", "GET session:{user_id}"],
        topic: None,
        internal: &["authenticate", "rate_limit", "encode_response"],
    },
    ServiceDef {
        name: "room-service",
        lang: Lang::Java,
        version: "3.8.1",
        rpc: Rpc::Grpc("live.room.v1.RoomService"),
        port: 9090,
        ops: &["GetRoom", "JoinRoom", "LeaveRoom", "ListRooms"],
        db: Some(Db {
            system: "mysql",
            namespace: "live",
            host: MYSQL,
            port: 3306,
            queries: &[
                ("SELECT", "rooms", "SELECT id, title, owner_id, status, viewer_count FROM rooms WHERE id = ?"),
                ("UPDATE", "rooms", "UPDATE rooms SET viewer_count = viewer_count + 1 WHERE id = ?"),
                ("INSERT", "room_members", "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?, ?, ?)"),
            ],
        }),
        redis: &["HGETALL room:{room_id}:meta", "SADD room:{room_id}:members {user_id}", "EXPIRE room:{room_id}:meta"],
        topic: Some("room.events"),
        internal: &["RoomAccessPolicy.check", "RoomMapper.toDto"],
    },
    ServiceDef {
        name: "user-service",
        lang: Lang::Go,
        version: "1.22.0",
        rpc: Rpc::Grpc("live.user.v1.UserService"),
        port: 9090,
        ops: &["GetUser", "GetProfile", "BatchGetUsers"],
        db: Some(Db {
            system: "postgresql",
            namespace: "users",
            host: PG,
            port: 5432,
            queries: &[
                ("SELECT", "users", "SELECT id, nickname, avatar_url, level FROM users WHERE id = $1"),
                ("SELECT", "follows", "SELECT followee_id FROM follows WHERE follower_id = $1 LIMIT 50"),
            ],
        }),
        redis: &["GET user:{user_id}:profile", "SETEX user:{user_id}:profile"],
        topic: None,
        internal: &["decode_profile", "check_ban_list"],
    },
    ServiceDef {
        name: "chat-service",
        lang: Lang::NodeJs,
        version: "5.3.2",
        rpc: Rpc::Grpc("live.chat.v1.ChatService"),
        port: 50051,
        ops: &["SendMessage", "ListMessages"],
        db: Some(Db {
            system: "mongodb",
            namespace: "chat",
            host: MONGO,
            port: 27017,
            queries: &[
                ("insert", "messages", "{\"insert\":\"messages\",\"documents\":[\"?\"]}"),
                ("find", "messages", "{\"find\":\"messages\",\"filter\":{\"room_id\":\"?\"},\"limit\":50}"),
            ],
        }),
        redis: &["XADD room:{room_id}:chat", "XRANGE room:{room_id}:chat"],
        topic: Some("chat.messages"),
        internal: &["filterProfanity", "renderEmotes"],
    },
    ServiceDef {
        name: "stats-service",
        lang: Lang::Python,
        version: "0.9.12",
        rpc: Rpc::Http,
        port: 8000,
        ops: &["GET /internal/stats/rooms/{room_id}", "POST /internal/stats/rooms/{room_id}/viewers"],
        db: Some(Db {
            system: "clickhouse",
            namespace: "analytics",
            host: "clickhouse.analytics.svc.cluster.local",
            port: 8123,
            queries: &[(
                "SELECT",
                "room_stats_daily",
                "SELECT sum(views), uniq(user_id) FROM room_stats_daily WHERE room_id = ?",
            )],
        }),
        redis: &["INCR room:{room_id}:viewers", "PFADD room:{room_id}:uv {user_id}", "PFCOUNT room:{room_id}:uv"],
        topic: None,
        internal: &["aggregate_counters"],
    },
    ServiceDef {
        name: "gift-service",
        lang: Lang::Java,
        version: "2.4.0",
        rpc: Rpc::Grpc("live.gift.v1.GiftService"),
        port: 9090,
        ops: &["SendGift", "GetLeaderboard"],
        db: Some(Db {
            system: "postgresql",
            namespace: "payments",
            host: PG,
            port: 5432,
            queries: &[
                (
                    "INSERT",
                    "gift_events",
                    "INSERT INTO gift_events (room_id, sender_id, gift_id, amount) VALUES (?, ?, ?, ?)",
                ),
                ("UPDATE", "wallets", "UPDATE wallets SET balance = balance - ? WHERE user_id = ? AND balance >= ?"),
            ],
        }),
        redis: &["ZINCRBY room:{room_id}:gift_rank {user_id}", "ZREVRANGE room:{room_id}:gift_rank"],
        topic: Some("gift.events"),
        internal: &["GiftPriceCalculator.compute", "WalletGuard.reserve"],
    },
    ServiceDef {
        name: "stream-service",
        lang: Lang::Go,
        version: "4.1.7",
        rpc: Rpc::Grpc("live.stream.v1.StreamService"),
        port: 9090,
        ops: &["Heartbeat", "GetPlayback", "StartStream"],
        db: Some(Db {
            system: "mysql",
            namespace: "live",
            host: MYSQL,
            port: 3306,
            queries: &[("SELECT", "streams", "SELECT id, ingest_node, bitrate, codec FROM streams WHERE room_id = ?")],
        }),
        redis: &["SET stream:{room_id}:heartbeat", "GET stream:{room_id}:edge"],
        topic: Some("stream.events"),
        internal: &["select_edge_node", "sign_playback_url"],
    },
    ServiceDef {
        name: "auth-service",
        lang: Lang::Go,
        version: "1.9.4",
        rpc: Rpc::Grpc("live.auth.v1.AuthService"),
        port: 9090,
        ops: &["VerifyToken", "RefreshToken"],
        db: Some(Db {
            system: "postgresql",
            namespace: "auth",
            host: PG,
            port: 5432,
            queries: &[("SELECT", "sessions", "SELECT user_id, expires_at FROM sessions WHERE token_hash = $1")],
        }),
        redis: &["GET token:{user_id}", "SETEX token:{user_id}"],
        topic: None,
        internal: &["verify_jwt_signature"],
    },
    ServiceDef {
        name: "recommendation-service",
        lang: Lang::Python,
        version: "0.31.0",
        rpc: Rpc::Http,
        port: 8000,
        ops: &["GET /internal/recommendations/{user_id}", "POST /internal/recommendations/feedback"],
        db: Some(Db {
            system: "postgresql",
            namespace: "reco",
            host: PG,
            port: 5432,
            queries: &[(
                "SELECT",
                "room_features",
                "SELECT room_id, embedding FROM room_features WHERE category = ANY(%s)",
            )],
        }),
        redis: &["GET reco:{user_id}:feed", "SETEX reco:{user_id}:feed"],
        topic: None,
        internal: &["rank_candidates", "load_model_features"],
    },
    ServiceDef {
        name: "notification-service",
        lang: Lang::NodeJs,
        version: "1.12.5",
        rpc: Rpc::Grpc("live.notify.v1.NotificationService"),
        port: 50051,
        ops: &["NotifyFollowers", "Push"],
        db: Some(Db {
            system: "mongodb",
            namespace: "notify",
            host: MONGO,
            port: 27017,
            queries: &[("insert", "notifications", "{\"insert\":\"notifications\",\"documents\":[\"?\"]}")],
        }),
        redis: &["SMEMBERS user:{user_id}:devices"],
        topic: Some("push.requests"),
        internal: &["buildPayload"],
    },
    ServiceDef {
        name: "moderation-service",
        lang: Lang::Python,
        version: "0.7.3",
        rpc: Rpc::Http,
        port: 8000,
        ops: &["POST /internal/moderation/messages", "GET /internal/moderation/rooms/{room_id}/bans"],
        db: Some(Db {
            system: "mongodb",
            namespace: "moderation",
            host: MONGO,
            port: 27017,
            queries: &[("find", "reports", "{\"find\":\"reports\",\"filter\":{\"room_id\":\"?\"}}")],
        }),
        redis: &["SISMEMBER room:{room_id}:banned {user_id}"],
        topic: None,
        internal: &["classify_text"],
    },
    ServiceDef {
        name: "billing-service",
        lang: Lang::Java,
        version: "6.0.2",
        rpc: Rpc::Grpc("live.billing.v1.BillingService"),
        port: 9090,
        ops: &["Charge", "GetBalance"],
        db: Some(Db {
            system: "postgresql",
            namespace: "payments",
            host: PG,
            port: 5432,
            queries: &[("INSERT", "invoices", "INSERT INTO invoices (user_id, amount, currency) VALUES (?, ?, ?)")],
        }),
        redis: &["GET balance:{user_id}"],
        topic: Some("billing.events"),
        internal: &["FraudCheck.evaluate"],
    },
];

/// A public route of the API gateway: `(method, route, weight, primary backend service)`.
pub type Route = (&'static str, &'static str, u32, &'static str);

/// Public routes served by `api-gateway`, weighted by popularity. The first downstream call
/// of a trace goes to the route's primary backend when that service is enabled.
pub static ROUTES: &[Route] = &[
    ("GET", "/api/v1/rooms/{room_id}", 30, "room-service"),
    ("POST", "/api/v1/rooms/{room_id}/join", 12, "room-service"),
    ("GET", "/api/v1/rooms", 8, "recommendation-service"),
    ("POST", "/api/v1/rooms/{room_id}/messages", 18, "chat-service"),
    ("GET", "/api/v1/rooms/{room_id}/messages", 8, "chat-service"),
    ("POST", "/api/v1/rooms/{room_id}/gifts", 6, "gift-service"),
    ("GET", "/api/v1/users/{user_id}", 6, "user-service"),
    ("GET", "/api/v1/rooms/{room_id}/stats", 5, "stats-service"),
    ("POST", "/api/v1/streams/{room_id}/heartbeat", 5, "stream-service"),
    ("POST", "/api/v1/auth/refresh", 2, "auth-service"),
];

/// `(exception.type, exception.message)` pairs used for failing spans, by span category.
pub fn exceptions(kind: ScopeKind, lang: Lang) -> &'static [(&'static str, &'static str)] {
    match (kind, lang) {
        (ScopeKind::Redis, Lang::Java) => &[
            ("io.lettuce.core.RedisCommandTimeoutException", "Command timed out after 100 millisecond(s)"),
            ("io.lettuce.core.RedisConnectionException", "Unable to connect to redis-master:6379"),
        ],
        (ScopeKind::Redis, _) => &[
            ("redis.TimeoutError", "i/o timeout reading from redis-master:6379"),
            ("redis.ConnectionError", "connection pool exhausted"),
        ],
        (ScopeKind::Db, Lang::Java) => &[
            (
                "java.sql.SQLTransientConnectionException",
                "HikariPool-1 - Connection is not available, request timed out after 3000ms",
            ),
            (
                "com.mysql.cj.jdbc.exceptions.MySQLTransactionRollbackException",
                "Deadlock found when trying to get lock",
            ),
        ],
        (ScopeKind::Db, _) => &[
            ("DatabaseError", "canceling statement due to statement timeout"),
            ("OperationalError", "could not serialize access due to concurrent update"),
        ],
        (ScopeKind::Rpc, _) | (ScopeKind::Http, _) => &[
            ("UpstreamUnavailable", "upstream connect error or disconnect/reset before headers"),
            ("DeadlineExceeded", "context deadline exceeded"),
        ],
        (ScopeKind::Messaging, _) => &[("KafkaError", "Broker: Not enough in-sync replicas")],
        (_, Lang::Java) => &[
            ("java.lang.IllegalStateException", "room is not live"),
            ("java.lang.NullPointerException", "Cannot invoke \"Room.getOwner()\" because \"room\" is null"),
        ],
        (_, Lang::Python) => &[("KeyError", "'viewer_count'"), ("ValueError", "invalid room id")],
        (_, Lang::NodeJs) => &[("TypeError", "Cannot read properties of undefined (reading 'roomId')")],
        (_, Lang::Go) => &[("*errors.errorString", "invalid room state transition")],
    }
}

/// A short, language-flavoured stack trace for an exception event.
pub fn stacktrace(lang: Lang, service: &str, ty: &str, msg: &str) -> String {
    match lang {
        Lang::Java => format!(
            "{ty}: {msg}\n\tat com.streamhub.{s}.Handler.handle(Handler.java:212)\n\tat com.streamhub.{s}.GrpcEndpoint.invoke(GrpcEndpoint.java:88)",
            s = service.split('-').next().unwrap_or(service)
        ),
        Lang::Python => format!(
            "Traceback (most recent call last):\n  File \"/app/{s}/handlers.py\", line 131, in handle\n{ty}: {msg}",
            s = service.replace('-', "_")
        ),
        Lang::NodeJs => format!("{ty}: {msg}\n    at Handler.handle (/app/src/handler.js:57:19)"),
        Lang::Go => format!("goroutine 1 [running]:\nmain.(*Handler).Handle(...)\n\t/app/{service}/handler.go:142 +0x1a4"),
    }
}

/// Replace `{room_id}` / `{user_id}` placeholders in a template.
pub fn fill(template: &str, room: u64, user: u64) -> String {
    if !template.contains('{') {
        return template.to_string();
    }
    template.replace("{room_id}", &room.to_string()).replace("{user_id}", &user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_is_first_and_routes_resolve() {
        assert_eq!(SERVICES[0].name, "api-gateway");
        for (_, _, _, primary) in ROUTES {
            assert!(SERVICES.iter().any(|s| s.name == *primary), "unknown primary {primary}");
        }
        for s in &SERVICES[1..] {
            assert!(!s.ops.is_empty(), "{} has no ops", s.name);
            assert!(!s.redis.is_empty() && !s.internal.is_empty());
        }
    }

    #[test]
    fn fill_replaces_placeholders() {
        assert_eq!(fill("GET /rooms/{room_id}/u/{user_id}", 7, 9), "GET /rooms/7/u/9");
        assert_eq!(fill("plain", 1, 2), "plain");
    }
}
