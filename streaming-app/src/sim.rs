//! `viewer-sim`: simulated viewers that register, log in, join rooms, chat over WebSocket,
//! like and gift, and — on request — hit a failing route, ask for a slow dependency, or drop
//! and reconnect all at once (a disconnect storm). Each viewer action is the root of a trace
//! whose context goes to the app in a `traceparent` header or message field.
//!
//! Traces the simulator starts:
//! - `viewer.join`: `POST /users/register`, `POST /users/login`, `POST /rooms/{id}/join`,
//!   `ws.connect` (the upgrade request) and a first `ws.send` chat message — so one trace
//!   spans simulator → HTTP → WebSocket → store;
//! - `chat.send` per chat message; `viewer.action` for likes, gifts and injected errors;
//!   `viewer.reconnect` after a storm; `viewer.leave` at the end.
//!
//! Delivery latency is measured on the receiving viewer: its clock minus the `sent_us` the
//! sender put in the message (same host, same clock).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use rand::Rng;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{field::Empty, Instrument};

use crate::telemetry;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Base URL of the app, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    /// Concurrent viewers.
    pub viewers: usize,
    /// Rooms; viewers are spread over them round-robin.
    pub rooms: usize,
    /// How long viewers chat.
    pub duration: Duration,
    /// Chat messages per second per viewer.
    pub msg_rate: f64,
    /// Share of actions that hit a failing route or send a message the app refuses.
    pub error_rate: f64,
    /// Share of chat messages that ask the app for a slow dependency of `slow_ms`.
    pub slow_rate: f64,
    /// The slow dependency's delay, in milliseconds.
    pub slow_ms: u64,
    /// Every this often, `storm_fraction` of the viewers disconnect and reconnect at once.
    pub storm_every: Option<Duration>,
    /// Share of viewers a storm disconnects.
    pub storm_fraction: f64,
    /// Share of actions that are likes or gifts instead of chat.
    pub reaction_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            target: "http://127.0.0.1:8080".into(),
            viewers: 10,
            rooms: 2,
            duration: Duration::from_secs(10),
            msg_rate: 1.0,
            error_rate: 0.0,
            slow_rate: 0.0,
            slow_ms: 300,
            storm_every: None,
            storm_fraction: 0.5,
            reaction_rate: 0.1,
        }
    }
}

/// Why the simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}: {1}")]
    Http(String, String),
    #[error("{route} answered {status}: {body}")]
    Status { route: String, status: StatusCode, body: String },
    #[error("WebSocket to {0}: {1}")]
    Ws(String, String),
    #[error("bad --target {0:?}: {1}")]
    Target(String, String),
}

/// What happened, as printed at the end.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub viewers: usize,
    pub rooms: usize,
    pub duration_s: f64,
    pub viewers_connected: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub reactions_sent: u64,
    pub errors_injected: u64,
    pub error_frames_received: u64,
    pub slow_injected: u64,
    pub http_failures: u64,
    pub disconnects: u64,
    pub reconnects: u64,
    pub out_of_order: u64,
    pub sent_per_s: f64,
    pub received_per_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p90_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// The sender → app part of the latency (until the app fans the message out), p50 and p99.
    pub inbound_p50_ms: f64,
    pub inbound_p99_ms: f64,
}

impl Summary {
    /// Human-readable lines.
    pub fn render(&self) -> String {
        format!(
            "viewers {} (connected {}) in {} rooms for {:.1}s\n\
             chat messages sent {} ({:.0}/s), received {} ({:.0}/s), out of order {}\n\
             reactions {}, injected errors {} (error frames back {}), slow requests {}, HTTP failures {}\n\
             disconnects {}, reconnects {}\n\
             delivery latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
             (of which sender → app fan-out: p50 {:.2} ms, p99 {:.2} ms)",
            self.viewers,
            self.viewers_connected,
            self.rooms,
            self.duration_s,
            self.messages_sent,
            self.sent_per_s,
            self.messages_received,
            self.received_per_s,
            self.out_of_order,
            self.reactions_sent,
            self.errors_injected,
            self.error_frames_received,
            self.slow_injected,
            self.http_failures,
            self.disconnects,
            self.reconnects,
            self.latency_p50_ms,
            self.latency_p90_ms,
            self.latency_p99_ms,
            self.latency_max_ms,
            self.inbound_p50_ms,
            self.inbound_p99_ms,
        )
    }
}

/// Counters shared by all viewers.
#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    sent: AtomicU64,
    reactions: AtomicU64,
    errors_injected: AtomicU64,
    slow_injected: AtomicU64,
    http_failures: AtomicU64,
    disconnects: AtomicU64,
    reconnects: AtomicU64,
}

/// What one reader saw.
#[derive(Default)]
struct ReaderReport {
    received: u64,
    error_frames: u64,
    out_of_order: u64,
    latencies_us: Vec<u32>,
    /// Sender → app fan-out part of each latency.
    inbound_us: Vec<u32>,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A small JSON-over-HTTP client whose every call is a client span carrying `traceparent`.
#[derive(Clone)]
pub struct ApiClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl ApiClient {
    /// A client for the app at `base` (`http://host:port`).
    pub fn new(base: &str) -> ApiClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        ApiClient { client, base: base.trim_end_matches('/').to_string() }
    }

    /// Calls `path` (whose route template `route` names the span); any answer is returned.
    pub async fn call(
        &self,
        method: Method,
        route: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        slow_ms: Option<u64>,
    ) -> Result<(StatusCode, Value), SimError> {
        let span = tracing::info_span!(
            "http.client",
            otel.name = format!("{method} {route}"),
            otel.kind = "client",
            http.request.method = %method,
            url.full = format!("{}{path}", self.base),
            http.response.status_code = Empty,
            otel.status_code = Empty,
        );
        let name = format!("{method} {path}");
        let result = async {
            let mut req = http::Request::builder().method(method).uri(format!("{}{path}", self.base));
            if let Some(h) = req.headers_mut() {
                telemetry::inject_headers(&tracing::Span::current(), h);
                if let Some(t) = token {
                    if let Ok(v) = format!("Bearer {t}").parse() {
                        h.insert(http::header::AUTHORIZATION, v);
                    }
                }
                if let Some(ms) = slow_ms {
                    h.insert(crate::fault::SLOW_HEADER, ms.into());
                }
                if body.is_some() {
                    h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                }
            }
            let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
            let req = req.body(Full::new(body)).map_err(|e| SimError::Http(name.clone(), e.to_string()))?;
            let resp = self.client.request(req).await.map_err(|e| SimError::Http(name.clone(), e.to_string()))?;
            let status = resp.status();
            let bytes =
                resp.into_body().collect().await.map_err(|e| SimError::Http(name.clone(), e.to_string()))?.to_bytes();
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok((status, value))
        }
        .instrument(span.clone())
        .await;
        match &result {
            Ok((status, _)) => {
                span.record("http.response.status_code", status.as_u16());
                if status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        result
    }

    /// Like [`ApiClient::call`], but any status other than `expect` is an error.
    pub async fn expect(
        &self,
        method: Method,
        route: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        expect: StatusCode,
    ) -> Result<Value, SimError> {
        let (status, v) = self.call(method, route, path, body, token, None).await?;
        if status != expect {
            return Err(SimError::Status { route: route.to_string(), status, body: v.to_string() });
        }
        Ok(v)
    }

    /// Registers `user` (a taken name is fine) and logs in; returns the token.
    pub async fn register_and_login(&self, user: &str, password: &str) -> Result<String, SimError> {
        let creds = json!({ "username": user, "password": password });
        let (status, v) =
            self.call(Method::POST, "/users/register", "/users/register", Some(creds.clone()), None, None).await?;
        if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
            return Err(SimError::Status { route: "/users/register".into(), status, body: v.to_string() });
        }
        let v = self.expect(Method::POST, "/users/login", "/users/login", Some(creds), None, StatusCode::OK).await?;
        v["token"].as_str().map(str::to_string).ok_or_else(|| SimError::Http("login".into(), "no token".into()))
    }

    /// The WebSocket URL of a room.
    pub fn ws_url(&self, room: u64, token: &str) -> String {
        let base = self.base.replacen("http://", "ws://", 1).replacen("https://", "wss://", 1);
        format!("{base}/rooms/{room}/ws?token={token}")
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type WsSink = SplitSink<Ws, WsMessage>;

/// Opens a room's WebSocket inside a `ws.connect` client span whose context rides on the
/// upgrade request's `traceparent` header.
pub async fn connect_ws(api: &ApiClient, room: u64, token: &str) -> Result<Ws, SimError> {
    let url = api.ws_url(room, token);
    let span = tracing::info_span!("ws.connect", otel.kind = "client", room.id = room, otel.status_code = Empty);
    let result = async {
        let mut req = url.as_str().into_client_request().map_err(|e| SimError::Ws(url.clone(), e.to_string()))?;
        telemetry::inject_headers(&tracing::Span::current(), req.headers_mut());
        // `true`: Nagle off — chat frames are small and their latency is what is measured.
        let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true)
            .await
            .map_err(|e| SimError::Ws(url.clone(), e.to_string()))?;
        Ok(ws)
    }
    .instrument(span.clone())
    .await;
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

/// Sends one JSON message in a `ws.send` producer span, with that span's `traceparent` in it.
async fn send_json(sink: &mut WsSink, mut msg: Value) -> Result<(), SimError> {
    let span = tracing::info_span!(
        "ws.send",
        otel.kind = "producer",
        msg.type = msg["type"].as_str().unwrap_or(""),
        otel.status_code = Empty
    );
    if let Some(tp) = telemetry::traceparent(&span) {
        msg["traceparent"] = tp.into();
    }
    let r = sink.send(WsMessage::text(msg.to_string())).instrument(span.clone()).await;
    r.map_err(|e| {
        span.record("otel.status_code", "ERROR");
        SimError::Ws("send".into(), e.to_string())
    })
}

/// The fields of a frame the readers look at (borrowed; the rest is skipped).
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    user: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    sent_us: Option<u64>,
    #[serde(default)]
    server_us: Option<u64>,
}

/// Reads frames until the socket closes, counting chat deliveries and their latency, and
/// checking that each sender's messages arrive in order.
async fn read_frames(mut stream: SplitStream<Ws>) -> ReaderReport {
    let mut r = ReaderReport::default();
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    while let Some(Ok(msg)) = stream.next().await {
        let WsMessage::Text(text) = msg else { continue };
        let Ok(f) = serde_json::from_str::<Frame>(&text) else { continue };
        match f.kind.as_ref() {
            "chat" => {
                r.received += 1;
                if let Some(sent) = f.sent_us {
                    r.latencies_us.push(now_us().saturating_sub(sent).min(u32::MAX as u64) as u32);
                    if let Some(server) = f.server_us {
                        r.inbound_us.push(server.saturating_sub(sent).min(u32::MAX as u64) as u32);
                    }
                }
                if let (Some(user), Some(seq)) = (f.user, f.seq) {
                    match last_seq.get_mut(user.as_ref()) {
                        Some(last) => {
                            if seq <= *last {
                                r.out_of_order += 1;
                            }
                            *last = seq.max(*last);
                        }
                        None => {
                            last_seq.insert(user.into_owned(), seq);
                        }
                    }
                }
            }
            "error" => r.error_frames += 1,
            _ => {}
        }
    }
    r
}

struct Ctx {
    cfg: SimConfig,
    api: ApiClient,
    run_id: String,
    rooms: Vec<u64>,
    counters: Counters,
    /// Incremented at every storm.
    storm: tokio::sync::watch::Receiver<u64>,
    stop_sending: Instant,
    stop_reading: Instant,
}

/// Runs the simulation and returns its summary.
pub async fn run(cfg: SimConfig) -> Result<Summary, SimError> {
    if !cfg.target.starts_with("http://") {
        return Err(SimError::Target(cfg.target.clone(), "expected http://host:port".into()));
    }
    let api = ApiClient::new(&cfg.target);
    let run_id: String = format!("sim{:06x}", rand::rng().random::<u32>() & 0xff_ffff);

    // Setup: an owner creates the rooms.
    let setup = tracing::info_span!("sim.setup", otel.kind = "internal", rooms = cfg.rooms);
    let rooms = async {
        let token = api.register_and_login(&format!("{run_id}-owner"), "owner-pass").await?;
        let mut rooms = Vec::new();
        for i in 0..cfg.rooms.max(1) {
            let body = json!({ "name": format!("{run_id} room {i}") });
            let v = api.expect(Method::POST, "/rooms", "/rooms", Some(body), Some(&token), StatusCode::CREATED).await?;
            rooms.push(v["id"].as_u64().unwrap_or(0));
        }
        Ok::<_, SimError>(rooms)
    }
    .instrument(setup)
    .await?;
    tracing::info!(message = "Rooms created.", rooms = ?rooms, viewers = cfg.viewers);

    let (storm_tx, storm_rx) = tokio::sync::watch::channel(0u64);
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        stop_sending: start + cfg.duration,
        stop_reading: start + cfg.duration + Duration::from_millis(500 + cfg.slow_ms.min(5000)),
        cfg: cfg.clone(),
        api,
        run_id,
        rooms,
        counters: Counters::default(),
        storm: storm_rx,
    });
    let storms = cfg.storm_every.map(|every| {
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                tokio::time::sleep(every).await;
                n += 1;
                tracing::info!(message = "Disconnect storm.", storm = n);
                if storm_tx.send(n).is_err() {
                    return;
                }
            }
        })
    });

    let mut tasks = Vec::with_capacity(cfg.viewers);
    for i in 0..cfg.viewers {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move { viewer(ctx, i).await }));
        // Spread the logins a little so the app sees a ramp, not a wall.
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut reports = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(mut r)) => reports.append(&mut r),
            Ok(Err(error)) => tracing::warn!(message = "Viewer failed.", %error),
            Err(error) => tracing::warn!(message = "Viewer task panicked.", %error),
        }
    }
    if let Some(s) = storms {
        s.abort();
    }
    let elapsed = ctx.cfg.duration.as_secs_f64();
    let c = &ctx.counters;
    let mut lat: Vec<u32> = reports.iter_mut().flat_map(|r| std::mem::take(&mut r.latencies_us)).collect();
    lat.sort_unstable();
    let mut inbound: Vec<u32> = reports.iter_mut().flat_map(|r| std::mem::take(&mut r.inbound_us)).collect();
    inbound.sort_unstable();
    let pct_of = |v: &[u32], p: f64| {
        if v.is_empty() {
            0.0
        } else {
            v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
        }
    };
    let pct = |p: f64| pct_of(&lat, p);
    let received: u64 = reports.iter().map(|r| r.received).sum();
    let sent = c.sent.load(Ordering::Relaxed);
    Ok(Summary {
        viewers: cfg.viewers,
        rooms: ctx.rooms.len(),
        duration_s: elapsed,
        viewers_connected: c.connected.load(Ordering::Relaxed),
        messages_sent: sent,
        messages_received: received,
        reactions_sent: c.reactions.load(Ordering::Relaxed),
        errors_injected: c.errors_injected.load(Ordering::Relaxed),
        error_frames_received: reports.iter().map(|r| r.error_frames).sum(),
        slow_injected: c.slow_injected.load(Ordering::Relaxed),
        http_failures: c.http_failures.load(Ordering::Relaxed),
        disconnects: c.disconnects.load(Ordering::Relaxed),
        reconnects: c.reconnects.load(Ordering::Relaxed),
        out_of_order: reports.iter().map(|r| r.out_of_order).sum(),
        sent_per_s: sent as f64 / elapsed.max(1e-3),
        received_per_s: received as f64 / elapsed.max(1e-3),
        latency_p50_ms: pct(0.50),
        latency_p90_ms: pct(0.90),
        latency_p99_ms: pct(0.99),
        latency_max_ms: lat.last().map_or(0.0, |v| *v as f64 / 1000.0),
        inbound_p50_ms: pct_of(&inbound, 0.5),
        inbound_p99_ms: pct_of(&inbound, 0.99),
    })
}

/// One viewer's life: join (one trace across HTTP and WebSocket), chat until the end, survive
/// storms, leave. Returns the reports of each connection it had.
async fn viewer(ctx: Arc<Ctx>, i: usize) -> Result<Vec<ReaderReport>, SimError> {
    let user = format!("{}-v{i}", ctx.run_id);
    let room = ctx.rooms[i % ctx.rooms.len()];
    let api = &ctx.api;
    let c = &ctx.counters;
    let mut seq = 0u64;

    let join = tracing::info_span!("viewer.join", otel.kind = "internal", viewer = %user, room.id = room);
    let (token, mut sink, mut reader) = async {
        let token = api.register_and_login(&user, "viewer-pass").await?;
        let path = format!("/rooms/{room}/join");
        api.expect(Method::POST, "/rooms/{id}/join", &path, None, Some(&token), StatusCode::OK).await?;
        let (mut sink, stream) = connect_ws(api, room, &token).await?.split();
        let reader = tokio::spawn(read_frames(stream));
        seq += 1;
        send_json(
            &mut sink,
            json!({ "type": "chat", "text": format!("hello from {user}"), "seq": seq, "sent_us": now_us() }),
        )
        .await?;
        Ok::<_, SimError>((token, sink, reader))
    }
    .instrument(join)
    .await?;
    c.connected.fetch_add(1, Ordering::Relaxed);
    c.sent.fetch_add(1, Ordering::Relaxed);

    let mut reports = Vec::new();
    let mut storm = ctx.storm.clone();
    storm.mark_unchanged();
    let period = Duration::from_secs_f64(1.0 / ctx.cfg.msg_rate.max(0.001));
    // A random phase so viewers do not all speak at once.
    let phase = period.mul_f64(rand::rng().random::<f64>());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = tokio::time::Instant::from_std(ctx.stop_sending);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(stop) => break,
            changed = storm.changed() => {
                if changed.is_err() || !rand::rng().random_bool(ctx.cfg.storm_fraction.clamp(0.0, 1.0)) {
                    continue;
                }
                let _ = sink.close().await;
                c.disconnects.fetch_add(1, Ordering::Relaxed);
                if let Ok(r) = reader.await {
                    reports.push(r);
                }
                // Reconnect after a short random pause, as real clients back off.
                let pause = Duration::from_millis(rand::rng().random_range(10..200));
                tokio::time::sleep(pause).await;
                let span = tracing::info_span!("viewer.reconnect", otel.kind = "internal", viewer = %user, room.id = room);
                let (s, stream) = connect_ws(api, room, &token).instrument(span).await?.split();
                sink = s;
                reader = tokio::spawn(read_frames(stream));
                c.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            _ = tick.tick() => {
                act(&ctx, &user, room, &token, &mut sink, &mut seq).await;
            }
        }
    }

    // Let the last messages arrive, then leave.
    tokio::time::sleep_until(tokio::time::Instant::from_std(ctx.stop_reading)).await;
    let leave = tracing::info_span!("viewer.leave", otel.kind = "internal", viewer = %user, room.id = room);
    let path = format!("/rooms/{room}/leave");
    let left = api
        .expect(Method::POST, "/rooms/{id}/leave", &path, None, Some(&token), StatusCode::OK)
        .instrument(leave)
        .await;
    if left.is_err() {
        c.http_failures.fetch_add(1, Ordering::Relaxed);
    }
    let _ = sink.close().await;
    match tokio::time::timeout(Duration::from_secs(5), reader).await {
        Ok(Ok(r)) => reports.push(r),
        _ => tracing::warn!(message = "Reader did not finish after close.", viewer = %user),
    }
    Ok(reports)
}

/// One tick of a viewer: a chat message, a reaction, or an injected error.
async fn act(ctx: &Ctx, user: &str, room: u64, token: &str, sink: &mut WsSink, seq: &mut u64) {
    let c = &ctx.counters;
    let cfg = &ctx.cfg;
    let roll: f64 = rand::rng().random();
    if roll < cfg.error_rate {
        c.errors_injected.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("viewer.action", otel.kind = "internal", action = "error", viewer = %user);
        // Half the errors are HTTP 500s, half are WebSocket messages the app refuses.
        if rand::rng().random_bool(0.5) {
            let _ = ctx
                .api
                .call(Method::GET, "/fault/error", "/fault/error", None, Some(token), None)
                .instrument(span)
                .await;
        } else {
            let _ = send_json(sink, json!({ "type": "explode", "sent_us": now_us() })).instrument(span).await;
        }
        return;
    }
    if roll < cfg.error_rate + cfg.reaction_rate {
        c.reactions.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("viewer.action", otel.kind = "internal", action = "reaction", viewer = %user);
        if rand::rng().random_bool(0.5) {
            let path = format!("/rooms/{room}/like");
            let r =
                ctx.api.call(Method::POST, "/rooms/{id}/like", &path, None, Some(token), None).instrument(span).await;
            if !matches!(r, Ok((s, _)) if s.is_success()) {
                c.http_failures.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            let _ = send_json(sink, json!({ "type": "gift", "gift": "rocket", "amount": 1 })).instrument(span).await;
        }
        return;
    }
    *seq += 1;
    let mut msg = json!({ "type": "chat", "text": format!("{user} says {seq}"), "seq": *seq });
    let slow = rand::rng().random::<f64>() < cfg.slow_rate;
    if slow {
        c.slow_injected.fetch_add(1, Ordering::Relaxed);
        msg["slow_ms"] = cfg.slow_ms.into();
    }
    let span = tracing::info_span!("chat.send", otel.kind = "internal", viewer = %user, room.id = room, slow);
    msg["sent_us"] = now_us().into();
    if send_json(sink, msg).instrument(span).await.is_ok() {
        c.sent.fetch_add(1, Ordering::Relaxed);
    }
}
