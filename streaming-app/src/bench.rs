//! `viewer-sim --bench connections`: opens many idle WebSocket connections to the app, holds
//! them, and measures what they cost the app (RSS from `/proc/<app-pid>/status`).
//!
//! One source address has ~28k ephemeral ports towards one destination, so the connections are
//! spread over `127.0.0.1 ..= 127.0.0.N` (`--source-ips N`; Linux routes all of 127/8 to
//! loopback). Both processes need a file-descriptor limit above the connection count
//! (`ulimit -n`). Client sockets use 4 KiB WebSocket buffers, as the app does, so the
//! simulator's own memory stays small too.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::{Method, StatusCode};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::sim::{ApiClient, SimError};

/// What to hold.
#[derive(Debug, Clone)]
pub struct HoldConfig {
    /// Base URL of the app; its host must be an IP address.
    pub target: String,
    /// Connections to open.
    pub connections: usize,
    /// Source addresses 127.0.0.1 ..= 127.0.0.N.
    pub source_ips: u8,
    /// Rooms the connections are spread over.
    pub rooms: usize,
    /// Connection attempts in flight at once.
    pub concurrency: usize,
    /// How long to hold every connection once all are open.
    pub hold: Duration,
    /// The app's process id, to read its RSS.
    pub app_pid: Option<u32>,
}

/// What holding cost.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct HoldReport {
    pub connections_requested: usize,
    pub connections_held: u64,
    pub connections_seen_by_app: u64,
    pub failures: u64,
    pub first_error: Option<String>,
    pub connect_s: f64,
    pub connects_per_s: f64,
    pub app_rss_before_mib: f64,
    pub app_rss_after_mib: f64,
    pub app_rss_per_connection_bytes: f64,
    pub sim_rss_mib: f64,
}

/// Resident set size of a process, in bytes (Linux `/proc`).
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".into(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn mib(b: Option<u64>) -> f64 {
    b.map_or(0.0, |b| b as f64 / (1024.0 * 1024.0))
}

/// Opens and holds the connections, then closes them all.
pub async fn hold_connections(cfg: HoldConfig) -> Result<HoldReport, SimError> {
    let hostport = cfg.target.trim_start_matches("http://").trim_end_matches('/');
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|e| SimError::Target(cfg.target.clone(), format!("--bench connections needs an IP:port ({e})")))?;
    let api = ApiClient::new(&cfg.target);
    let token = api.register_and_login(&format!("bench-{:x}", rand::random::<u32>()), "bench-pass").await?;
    let mut rooms = Vec::new();
    for i in 0..cfg.rooms.max(1) {
        let v = api
            .expect(
                Method::POST,
                "/rooms",
                "/rooms",
                Some(json!({ "name": format!("bench {i}") })),
                Some(&token),
                StatusCode::CREATED,
            )
            .await?;
        rooms.push(v["id"].as_u64().unwrap_or(1));
    }
    let rss_before = rss_bytes(cfg.app_pid);
    let ws_config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);

    let held = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let permits = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1)));
    let started = Instant::now();
    let mut connectors = Vec::with_capacity(cfg.connections);
    for i in 0..cfg.connections {
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % cfg.source_ips.max(1) as usize) as u8));
        let url = format!("ws://{addr}/rooms/{}/ws?token={token}", rooms[i % rooms.len()]);
        let (held_c, failures, first_error, mut stop) =
            (held.clone(), failures.clone(), first_error.clone(), stop_rx.clone());
        connectors.push(tokio::spawn(async move {
            let connected = async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(source, 0))?;
                let stream = socket.connect(addr).await?;
                stream.set_nodelay(true)?;
                let req = url.into_client_request().map_err(std::io::Error::other)?;
                let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(ws_config))
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(ws)
            }
            .await;
            drop(permit);
            let mut ws = match connected {
                Ok(ws) => ws,
                Err(e) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
                    return;
                }
            };
            held_c.fetch_add(1, Ordering::Relaxed);
            // Drain what the app sends (its welcome) until told to stop or the app closes.
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    frame = ws.next() => if !matches!(frame, Some(Ok(_))) { break },
                }
            }
            let _ = ws.close(None).await;
        }));
        if i % 10_000 == 9_999 {
            tracing::info!(message = "Connecting.", opened = held.load(Ordering::Relaxed), attempted = i + 1);
        }
    }
    // Wait for the last attempts to finish.
    let _ = permits.acquire_many(cfg.concurrency.max(1) as u32).await;
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stats = api.call(Method::GET, "/stats", "/stats", None, None, None).await.ok();
    let seen = stats.and_then(|(_, v)| v["connections"].as_u64()).unwrap_or(0);
    let rss_after = rss_bytes(cfg.app_pid);
    let sim_rss = rss_bytes(None);
    let n = held.load(Ordering::Relaxed);
    tokio::time::sleep(cfg.hold).await;
    let _ = stop_tx.send(true);
    for c in connectors {
        let _ = c.await;
    }
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if n > 0 => a.saturating_sub(b) as f64 / n as f64,
        _ => 0.0,
    };
    let first_error = first_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(HoldReport {
        connections_requested: cfg.connections,
        connections_held: n,
        connections_seen_by_app: seen,
        failures: failures.load(Ordering::Relaxed),
        first_error,
        connect_s,
        connects_per_s: n as f64 / connect_s.max(1e-3),
        app_rss_before_mib: mib(rss_before),
        app_rss_after_mib: mib(rss_after),
        app_rss_per_connection_bytes: per_conn,
        sim_rss_mib: mib(sim_rss),
    })
}
