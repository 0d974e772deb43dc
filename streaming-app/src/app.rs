//! The HTTP API and the WebSocket chat.
//!
//! Every routed request runs inside an HTTP server span (`GET /rooms/{id}`, kind server) whose
//! parent is the caller's `traceparent` header; 5xx answers mark it ERROR. A WebSocket
//! message is handled inside its own `ws.message <type>` span whose parent is the message's
//! `traceparent` field (or, without one, a new trace linked to the connection's upgrade
//! request); under it are the store span and the `room.fanout` span.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::KeyValue;
use serde::Deserialize;
use serde_json::json;
use tracing::{field::Empty, Instrument};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::auth::{RegisterError, TokenKey, UserTable};
use crate::registry::{ConnId, ConnectionRegistry};
use crate::store::{Counter, RoomInfo, Store, StoreError};
use crate::telemetry::{self, AppMetrics};

/// Everything the handlers share.
pub struct AppState {
    pub store: Store,
    pub registry: ConnectionRegistry,
    pub users: UserTable,
    pub key: TokenKey,
    pub metrics: AppMetrics,
    pub stats: Stats,
}

/// Service-wide counters behind `GET /stats`.
#[derive(Default)]
pub struct Stats {
    messages: AtomicU64,
    deliveries: AtomicU64,
    /// f64 bits of the rates over the last second (updated by [`Stats::tick`]).
    messages_per_s: AtomicU64,
    deliveries_per_s: AtomicU64,
    last: std::sync::Mutex<(u64, u64, Option<Instant>)>,
}

impl Stats {
    /// Recomputes the per-second rates; called once a second.
    pub fn tick(&self) {
        let (m, d) = (self.messages.load(Ordering::Relaxed), self.deliveries.load(Ordering::Relaxed));
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(at) = last.2 {
            let dt = now.duration_since(at).as_secs_f64().max(1e-3);
            self.messages_per_s.store(((m - last.0) as f64 / dt).to_bits(), Ordering::Relaxed);
            self.deliveries_per_s.store(((d - last.1) as f64 / dt).to_bits(), Ordering::Relaxed);
        }
        *last = (m, d, Some(now));
    }
}

pub type Shared = Arc<AppState>;

/// The service's routes, with the HTTP server span middleware on every one.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/users/register", post(register))
        .route("/users/login", post(login))
        .route("/rooms", get(list_rooms).post(create_room))
        .route("/rooms/{id}", get(get_room))
        .route("/rooms/{id}/join", post(join_room))
        .route("/rooms/{id}/leave", post(leave_room))
        .route("/rooms/{id}/like", post(like))
        .route("/rooms/{id}/gift", post(gift))
        .route("/rooms/{id}/ws", get(ws_upgrade))
        .route("/stats", get(stats))
        .route("/fault/error", get(fault_error))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), http_span))
        .with_state(state)
}

/// Wraps a request in its server span, with the caller's context as parent, and applies any
/// requested slow dependency to what the handler does.
async fn http_span(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let span = tracing::info_span!(
        "http.server",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        url.path = %req.uri().path(),
        http.response.status_code = Empty,
        fault.slow_ms = Empty,
        otel.status_code = Empty,
    );
    let _ = span.set_parent(telemetry::context_from_headers(req.headers()));
    let slow = crate::fault::slow_from_request(req.headers(), req.uri().query());
    if let Some(d) = slow {
        span.record("fault.slow_ms", d.as_millis() as u64);
    }
    let start = Instant::now();
    let response = crate::fault::with_slow_dependency(slow, next.run(req)).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    state.metrics.http_duration.record(
        start.elapsed().as_secs_f64(),
        &[
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", status.as_u16() as i64),
        ],
    );
    response
}

/// An error answer: a status and a JSON `{"error": message}` body.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn not_found(id: u64) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no room {id}"))
}

/// The user named by a valid `Authorization: Bearer <jwt>` header.
pub struct AuthUser(pub String);

impl FromRequestParts<Shared> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "missing Authorization: Bearer <token>".into()))?;
        state.key.verify(token.trim()).map(AuthUser).map_err(|e| ApiError(StatusCode::UNAUTHORIZED, e.to_string()))
    }
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn register(State(s): State<Shared>, Json(c): Json<Credentials>) -> Result<impl IntoResponse, ApiError> {
    match s.users.register(&c.username, &c.password) {
        Ok(()) => Ok((StatusCode::CREATED, Json(json!({ "username": c.username })))),
        Err(e @ RegisterError::Taken) => Err(ApiError(StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err(ApiError(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

async fn login(State(s): State<Shared>, Json(c): Json<Credentials>) -> Result<Json<serde_json::Value>, ApiError> {
    if !s.users.check(&c.username, &c.password) {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "wrong user name or password".into()));
    }
    Ok(Json(json!({ "token": s.key.issue(&c.username), "username": c.username })))
}

/// A room with its live connection count.
fn room_json(s: &AppState, r: &RoomInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["connections"] = s.registry.room_connections(r.id).into();
    v
}

async fn list_rooms(State(s): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let rooms = s.store.list_rooms().await?;
    Ok(Json(rooms.iter().map(|r| room_json(&s, r)).collect()))
}

#[derive(Deserialize)]
struct NewRoom {
    name: String,
}

async fn create_room(
    State(s): State<Shared>,
    AuthUser(user): AuthUser,
    Json(n): Json<NewRoom>,
) -> Result<impl IntoResponse, ApiError> {
    if n.name.trim().is_empty() || n.name.len() > 200 {
        return Err(ApiError(StatusCode::BAD_REQUEST, "room name must be 1 to 200 characters".into()));
    }
    let room = s.store.create_room(n.name.trim(), &user).await?;
    tracing::info!(message = "Room created.", room.id = room.id, room.name = %room.name, user = %user);
    Ok((StatusCode::CREATED, Json(room_json(&s, &room))))
}

async fn get_room(State(s): State<Shared>, Path(id): Path<u64>) -> Result<Json<serde_json::Value>, ApiError> {
    let room = s.store.room(id).await?.ok_or_else(|| not_found(id))?;
    Ok(Json(room_json(&s, &room)))
}

async fn join_room(
    State(s): State<Shared>,
    AuthUser(user): AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let viewers = s.store.join(id, &user).await?.ok_or_else(|| not_found(id))?;
    fanout(&s, id, json!({ "type": "joined", "room": id, "user": user, "viewers": viewers }));
    Ok(Json(json!({ "room": id, "viewers": viewers })))
}

async fn leave_room(
    State(s): State<Shared>,
    AuthUser(user): AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let viewers = s.store.leave(id, &user).await?.ok_or_else(|| not_found(id))?;
    fanout(&s, id, json!({ "type": "left", "room": id, "user": user, "viewers": viewers }));
    Ok(Json(json!({ "room": id, "viewers": viewers })))
}

async fn like(
    State(s): State<Shared>,
    AuthUser(user): AuthUser,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let likes = s.store.add(id, Counter::Likes, 1).await?.ok_or_else(|| not_found(id))?;
    fanout(&s, id, json!({ "type": "like", "room": id, "user": user, "likes": likes }));
    Ok(Json(json!({ "room": id, "likes": likes })))
}

#[derive(Deserialize)]
struct Gift {
    gift: String,
    #[serde(default = "one")]
    amount: u64,
}

fn one() -> u64 {
    1
}

async fn gift(
    State(s): State<Shared>,
    AuthUser(user): AuthUser,
    Path(id): Path<u64>,
    Json(g): Json<Gift>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let gifts = s.store.add(id, Counter::Gifts, g.amount.max(1)).await?.ok_or_else(|| not_found(id))?;
    fanout(
        &s,
        id,
        json!({ "type": "gift", "room": id, "user": user, "gift": g.gift, "amount": g.amount, "gifts": gifts }),
    );
    Ok(Json(json!({ "room": id, "gifts": gifts })))
}

async fn stats(State(s): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let rooms = s.store.list_rooms().await?;
    let rate = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
    Ok(Json(json!({
        "store": s.store.kind(),
        "connections": s.registry.connections(),
        "messages_total": s.stats.messages.load(Ordering::Relaxed),
        "messages_per_s": rate(&s.stats.messages_per_s),
        "deliveries_total": s.stats.deliveries.load(Ordering::Relaxed),
        "deliveries_per_s": rate(&s.stats.deliveries_per_s),
        "rooms": rooms.iter().map(|r| json!({
            "id": r.id,
            "name": r.name,
            "viewers": r.viewers,
            "connections": s.registry.room_connections(r.id),
            "likes": r.likes,
            "gifts": r.gifts,
            "messages": r.messages,
        })).collect::<Vec<_>>(),
    })))
}

/// Always fails: the simulator's `--error-rate` calls it so that traces contain errors.
async fn fault_error() -> ApiError {
    tracing::error!(message = "Injected failure.", fault = "error");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "injected failure (GET /fault/error always fails)".into())
}

/// Encodes `event` once and enqueues it to every connection of `room`, in a `room.fanout` span.
fn fanout(s: &AppState, room: u64, event: serde_json::Value) -> u64 {
    let span = tracing::info_span!(
        "room.fanout",
        room.id = room,
        fanout.deliveries = Empty,
        fanout.dropped = Empty,
        otel.status_code = Empty
    );
    let _enter = span.enter();
    let start = Instant::now();
    let frame: Utf8Bytes = event.to_string().into();
    let out = s.registry.broadcast(room, frame);
    span.record("fanout.deliveries", out.delivered);
    span.record("fanout.dropped", out.dropped);
    s.stats.deliveries.fetch_add(out.delivered, Ordering::Relaxed);
    s.metrics.deliveries.add(out.delivered, &[]);
    if out.dropped > 0 {
        s.metrics.dropped.add(out.dropped, &[]);
    }
    s.metrics.fanout_duration.record(start.elapsed().as_secs_f64(), &[]);
    out.delivered
}

/// WebSocket read buffer per connection, in bytes.
const WS_READ_BUFFER: usize = 4096;
/// WebSocket write buffer per connection, in bytes (written out at this size or on flush).
const WS_WRITE_BUFFER: usize = 8192;

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

/// `GET /rooms/{id}/ws?token=<jwt>`: refuses the upgrade (401) without a valid token, 404 for
/// an unknown room.
async fn ws_upgrade(
    State(s): State<Shared>,
    Path(id): Path<u64>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = q.token.ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "missing token query parameter".into()))?;
    let user = s.key.verify(&token).map_err(|e| ApiError(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let room = s.store.room(id).await?.ok_or_else(|| not_found(id))?;
    let upgrade = tracing::Span::current().context().span().span_context().clone();
    // Small socket buffers: most viewers are idle most of the time, and 128 KiB defaults would
    // cost gigabytes at 100k connections. The writer flushes bursts, so 8 KiB batches enough.
    let ws = ws.read_buffer_size(WS_READ_BUFFER).write_buffer_size(WS_WRITE_BUFFER);
    Ok(ws.on_upgrade(move |socket| connection(s, room.id, user, socket, upgrade)))
}

/// A message from a client.
#[derive(Deserialize)]
struct Inbound {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    /// Client clock at send time, microseconds since the epoch (echoed for latency).
    #[serde(default)]
    sent_us: Option<u64>,
    #[serde(default)]
    traceparent: Option<String>,
    #[serde(default)]
    slow_ms: Option<u64>,
    #[serde(default)]
    gift: Option<String>,
    #[serde(default)]
    amount: Option<u64>,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// One live connection: a writer task drains the registry queue into the socket; this task
/// reads and handles client messages until the socket closes.
async fn connection(s: Shared, room: u64, user: String, socket: WebSocket, upgrade: opentelemetry::trace::SpanContext) {
    let (id, mut outbound) = s.registry.register(room);
    s.metrics.connections.add(1, &[]);
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        // Write whatever is queued, then flush once: one syscall for a burst of frames.
        while let Some(first) = outbound.recv().await {
            if sink.feed(first).await.is_err() {
                break;
            }
            let mut more = 0;
            while more < 64 {
                match outbound.try_recv() {
                    Ok(m) => {
                        if sink.feed(m).await.is_err() {
                            return;
                        }
                        more += 1;
                    }
                    Err(_) => break,
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let viewers = s.registry.room_connections(room);
    s.registry.send_to(
        room,
        id,
        json!({ "type": "welcome", "room": room, "user": user, "connections": viewers }).to_string().into(),
    );
    tracing::debug!(message = "WebSocket connected.", room.id = room, user = %user, conn = id);
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            // Boxed: the handler's state (store futures included) is allocated while a message
            // is handled, not kept inline in every idle connection's task.
            Message::Text(text) => Box::pin(handle_message(&s, room, &user, id, &text, &upgrade)).await,
            Message::Close(_) => break,
            _ => {}
        }
    }
    s.registry.unregister(room, id);
    s.metrics.connections.add(-1, &[]);
    writer.abort();
    tracing::debug!(message = "WebSocket closed.", room.id = room, user = %user, conn = id);
}

async fn handle_message(
    s: &AppState,
    room: u64,
    user: &str,
    conn: ConnId,
    text: &str,
    upgrade: &opentelemetry::trace::SpanContext,
) {
    let start = Instant::now();
    let parsed: Result<Inbound, _> = serde_json::from_str(text);
    let kind = parsed.as_ref().map(|m| m.kind.clone()).unwrap_or_else(|_| "invalid".into());
    let span = tracing::info_span!(
        "ws.message",
        otel.name = format!("ws.message {kind}"),
        otel.kind = "server",
        room.id = room,
        user = %user,
        msg.type = %kind,
        msg.seq = Empty,
        fault.slow_ms = Empty,
        otel.status_code = Empty,
        otel.status_message = Empty,
    );
    match parsed.as_ref().ok().and_then(|m| m.traceparent.as_deref()) {
        Some(tp) => {
            let _ = span.set_parent(telemetry::context_from_traceparent(tp));
        }
        None if upgrade.is_valid() => span.add_link(upgrade.clone()),
        None => {}
    }
    s.metrics.messages_in.add(1, &[KeyValue::new("type", kind.clone())]);
    let result = match parsed {
        Ok(m) => {
            if let Some(seq) = m.seq {
                span.record("msg.seq", seq);
            }
            let slow = m.slow_ms.map(Duration::from_millis);
            if let Some(d) = slow {
                span.record("fault.slow_ms", d.as_millis() as u64);
            }
            crate::fault::with_slow_dependency(slow, handle_inbound(s, room, user, conn, m))
                .instrument(span.clone())
                .await
        }
        Err(e) => Err(format!("message is not valid JSON: {e}")),
    };
    if let Err(error) = result {
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_message", error.as_str());
        span.in_scope(|| tracing::warn!(message = "WebSocket message refused.", room.id = room, user = %user, %error));
        s.registry.send_to(room, conn, json!({ "type": "error", "error": error }).to_string().into());
    }
    s.metrics.message_duration.record(start.elapsed().as_secs_f64(), &[KeyValue::new("type", kind)]);
}

async fn handle_inbound(s: &AppState, room: u64, user: &str, conn: ConnId, m: Inbound) -> Result<(), String> {
    // The frame viewers get names the span that produced it, so their side can link to it.
    let tp = telemetry::traceparent(&tracing::Span::current());
    match m.kind.as_str() {
        "chat" => {
            let text = m.text.unwrap_or_default();
            if text.len() > 4096 {
                return Err("chat text longer than 4096 bytes".into());
            }
            s.store.add(room, Counter::Messages, 1).await.map_err(|e| e.to_string())?;
            s.stats.messages.fetch_add(1, Ordering::Relaxed);
            fanout(
                s,
                room,
                json!({
                    "type": "chat", "room": room, "user": user, "text": text, "seq": m.seq,
                    "sent_us": m.sent_us, "server_us": now_us(), "traceparent": tp,
                }),
            );
            Ok(())
        }
        "like" => {
            let likes = s.store.add(room, Counter::Likes, 1).await.map_err(|e| e.to_string())?;
            fanout(s, room, json!({ "type": "like", "room": room, "user": user, "likes": likes, "traceparent": tp }));
            Ok(())
        }
        "gift" => {
            let amount = m.amount.unwrap_or(1).max(1);
            let gifts = s.store.add(room, Counter::Gifts, amount).await.map_err(|e| e.to_string())?;
            let gift = m.gift.unwrap_or_else(|| "rose".into());
            fanout(
                s,
                room,
                json!({ "type": "gift", "room": room, "user": user, "gift": gift, "amount": amount, "gifts": gifts, "traceparent": tp }),
            );
            Ok(())
        }
        "ping" => {
            s.registry.send_to(room, conn, json!({ "type": "pong", "sent_us": m.sent_us }).to_string().into());
            Ok(())
        }
        other => Err(format!("unknown message type {other:?} (expected chat, like, gift or ping)")),
    }
}
