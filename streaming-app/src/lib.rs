//! `streaming-app`: a live-streaming service — users with JWT login, rooms with viewers, chat
//! over WebSocket with per-room fan-out, likes and gifts, stats — instrumented with
//! OpenTelemetry so that weir has real traces, metrics and logs to process; and `viewer-sim`,
//! the load and fault generator that drives it.
//!
//! The shape of one chat message: client → `ws.message chat` span (parent from the message's
//! `traceparent`) → `store.add_messages` span → `room.fanout` span → the room's connections in
//! the [`registry::ConnectionRegistry`] (16 shards, one lock each) → each connection's writer.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use streaming_app::{app_state, serve, Options};
//! let state = app_state(&Options::default()).await.expect("store");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, state, std::future::pending()).await
//! # }
//! ```

pub mod app;
pub mod auth;
pub mod bench;
pub mod fault;
pub mod registry;
pub mod sim;
pub mod store;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use app::{router, AppState, Shared};

/// What the service needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// HS256 secret for the tokens.
    pub jwt_secret: String,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Redis URL for room state and counters; memory when `None`.
    pub redis_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { jwt_secret: "dev-secret-change-me".into(), token_ttl: Duration::from_secs(3600), redis_url: None }
    }
}

/// Builds the shared state (connecting to Redis when asked).
pub async fn app_state(opts: &Options) -> Result<Shared, store::StoreError> {
    let metrics = telemetry::AppMetrics::new();
    let store = match &opts.redis_url {
        Some(url) => store::Store::redis(url, metrics.clone()).await?,
        None => store::Store::memory(metrics.clone()),
    };
    Ok(Arc::new(AppState {
        store,
        registry: registry::ConnectionRegistry::default(),
        users: auth::UserTable::default(),
        key: auth::TokenKey::new(opts.jwt_secret.as_bytes(), opts.token_ttl.as_secs()),
        metrics,
        stats: app::Stats::default(),
    }))
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ticker = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                state.stats.tick();
            }
        })
    };
    // Chat frames are small and latency-bound: Nagle's algorithm would hold them back for up
    // to a delayed-ACK period (~40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await;
    ticker.abort();
    result
}
