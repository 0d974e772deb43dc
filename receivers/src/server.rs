//! Server settings and plumbing the `jaeger` and `zipkin` receivers share with each other (and,
//! underneath, with `otlp`: its listener, TLS, authentication and refusal mapping).
//!
//! The settings are the Collector's `confighttp.ServerConfig` / `configgrpc.ServerConfig` keys
//! that weir serves; any other key is refused by name when the config loads. `endpoint` is
//! optional here because each protocol has its own default (`localhost:14250`, `:14268`,
//! `:9411`, …), filled in when the server starts.

use crate::otlp::{self, Transport};
use axum::extract::Request;
use bytes::Bytes;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::auth::{AuthSettings, ServerAuthenticator};
use weir_core::tls::TlsServerSettings;
use weir_core::{BuildContext, BuildError};

pub(crate) use otlp::status::ExportError;
pub(crate) use weir_core::listener::{AcceptSettings, Bound, Connections};

/// An HTTP server's settings (`confighttp.ServerConfig`, the keys weir serves).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    /// `host:port` to listen on (with `transport: unix`, a socket path). Default: the
    /// protocol's (see its section), on loopback only.
    pub endpoint: Option<String>,
    /// `tcp` (default), `tcp4`, `tcp6` or `unix`.
    pub transport: Transport,
    /// Largest request body accepted, in bytes, as sent and once decompressed; larger ones are
    /// refused with 413. Default 20971520 (20 MiB); 0 also means the default.
    pub max_request_body_size: u64,
    /// Keep the request's HTTP headers with its data (the Collector's client metadata).
    /// Default false.
    pub include_metadata: bool,
    /// Serve TLS only (and with `client_ca_file`, mutual TLS). Absent: plaintext.
    pub tls: Option<TlsServerSettings>,
    /// `authenticator: bearertokenauth[/name]`: requests without that token get 401.
    pub auth: Option<AuthSettings>,
    /// weir's own key: connections served at once; 0 (default) no limit.
    pub max_connections: usize,
}

impl HttpServerConfig {
    pub(crate) fn endpoint_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.endpoint.as_deref().unwrap_or(default)
    }

    /// The largest body accepted, in bytes, compressed or not.
    pub(crate) fn max_body(&self) -> usize {
        let n = if self.max_request_body_size == 0 {
            otlp::DEFAULT_MAX_REQUEST_BODY_SIZE
        } else {
            self.max_request_body_size
        };
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// Checks `endpoint` and `tls`, naming keys under `prefix` (`protocols::thrift_http`).
    pub(crate) fn validate(&self, prefix: &str, default_endpoint: &str) -> Result<(), String> {
        check_endpoint(prefix, self.transport, self.endpoint_or(default_endpoint))?;
        check_tls(prefix, &self.tls)
    }
}

/// A gRPC server's settings (`configgrpc.ServerConfig`, the keys weir serves).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcServerConfig {
    /// `host:port` to listen on (with `transport: unix`, a socket path). Default: the
    /// protocol's, on loopback only.
    pub endpoint: Option<String>,
    /// `tcp` (default), `tcp4`, `tcp6` or `unix`.
    pub transport: Transport,
    /// Largest request message accepted, in MiB, after decompression. Default 4; 0 also
    /// means 4.
    pub max_recv_msg_size_mib: u64,
    /// Concurrent streams per connection. Default 0: no limit.
    pub max_concurrent_streams: u32,
    /// Keep the call's metadata with its data. Default false.
    pub include_metadata: bool,
    /// Serve TLS only (and with `client_ca_file`, mutual TLS). Absent: plaintext.
    pub tls: Option<TlsServerSettings>,
    /// `authenticator: bearertokenauth[/name]`: calls without that token get
    /// `UNAUTHENTICATED`.
    pub auth: Option<AuthSettings>,
    /// weir's own key: connections served at once; 0 (default) no limit.
    pub max_connections: usize,
}

impl GrpcServerConfig {
    pub(crate) fn endpoint_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.endpoint.as_deref().unwrap_or(default)
    }

    pub(crate) fn max_recv_msg_size(&self) -> usize {
        let mib = if self.max_recv_msg_size_mib == 0 { 4 } else { self.max_recv_msg_size_mib };
        usize::try_from(mib).unwrap_or(usize::MAX).saturating_mul(1 << 20)
    }

    pub(crate) fn validate(&self, prefix: &str, default_endpoint: &str) -> Result<(), String> {
        check_endpoint(prefix, self.transport, self.endpoint_or(default_endpoint))?;
        check_tls(prefix, &self.tls)
    }
}

/// The Collector's `checkPortFromEndpoint`: `host:port` with a port in 1–65535.
pub(crate) fn check_endpoint(prefix: &str, transport: Transport, endpoint: &str) -> Result<(), String> {
    if transport == Transport::Unix {
        return if endpoint.trim().is_empty() {
            Err(format!("{prefix}::endpoint: a Unix socket path must be given with transport: unix"))
        } else {
            Ok(())
        };
    }
    let port = endpoint.rsplit_once(':').map(|(_, p)| p);
    match port.map(str::parse::<u32>) {
        Some(Ok(p)) if (1..=65535).contains(&p) => Ok(()),
        Some(Ok(_)) => Err(format!("{prefix}::endpoint: port number must be between 1 and 65535, got {endpoint:?}")),
        _ => Err(format!("{prefix}::endpoint must be host:port (e.g. localhost:14268), got {endpoint:?}")),
    }
}

fn check_tls(prefix: &str, tls: &Option<TlsServerSettings>) -> Result<(), String> {
    match tls {
        Some(t) => t.server_config(&[]).map(|_| ()).map_err(|e| format!("{prefix}::{e}")),
        None => Ok(()),
    }
}

/// One server's TLS and authenticator, built.
pub(crate) struct Secured {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub authenticator: Option<Arc<dyn ServerAuthenticator>>,
    pub max_connections: usize,
}

impl Secured {
    pub(crate) fn new(
        ctx: &BuildContext,
        prefix: &str,
        tls: &Option<TlsServerSettings>,
        auth: &Option<AuthSettings>,
        max_connections: usize,
        alpn: &[&[u8]],
    ) -> Result<Secured, BuildError> {
        let tls = match tls {
            Some(t) => Some(t.server_config(alpn).map_err(|e| BuildError::new(format!("{prefix}::{e}")))?),
            None => None,
        };
        let authenticator = match auth {
            Some(a) => Some(ctx.server_authenticator(&a.authenticator)?),
            None => None,
        };
        Ok(Secured { tls, authenticator, max_connections })
    }

    pub(crate) fn accept(&self, receiver: &str, transport: &'static str) -> AcceptSettings {
        AcceptSettings {
            receiver: receiver.to_string(),
            transport,
            tls: self.tls.clone(),
            max_connections: self.max_connections,
            read_buffer_size: 0,
            write_buffer_size: 0,
            max_idle: None,
        }
    }
}

/// Binds a TCP or Unix endpoint (see [`otlp::bind`]).
pub(crate) async fn bind(transport: Transport, endpoint: &str, key: &str) -> Result<Bound, BuildError> {
    otlp::bind(transport, endpoint, key).await
}

/// Reads an HTTP request's body, bounded as sent and once decompressed (`gzip`, `zstd`, and
/// with `zlib`, `deflate` — the Zipkin clients' encodings).
pub(crate) async fn read_http_body(req: Request, limit: usize) -> Result<Bytes, ExportError> {
    otlp::read_decoded_body(req, limit).await
}

/// Serves `app` on `connections` until `shutdown`, with each request's client address in its
/// extensions ([`client_of`]).
pub(crate) async fn serve_http(
    connections: Connections,
    app: axum::Router,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(connections, app.into_make_service_with_connect_info::<ClientAddr>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// A request's client address, as axum's connect info of weir's listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Connections>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Connections>) -> ClientAddr {
        ClientAddr(*stream.remote_addr())
    }
}

/// The address of the client that sent a request: axum's connect info on HTTP, the
/// connection's address tonic puts in the extensions on gRPC.
pub(crate) fn client_of(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0)
        .or_else(|| extensions.get::<SocketAddr>().copied())
}

/// A plain-text HTTP answer.
pub(crate) fn text(status: http::StatusCode, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The plain-text answer to a refused request (`jaeger`'s and `zipkin`'s HTTP servers): its
/// status, and `Retry-After` when the pipeline said when to retry.
pub(crate) fn error_response(e: &ExportError) -> axum::response::Response {
    let mut response = text(e.http_status(), e.to_string());
    if let Some(d) = e.retry_after() {
        response.headers_mut().insert(http::header::RETRY_AFTER, otlp::status::retry_after_secs(d).into());
    }
    response
}

/// Counts and logs requests and packets a receiver could not read, at most one log line per
/// transport every [`LOG_EVERY`], with how many were suppressed in between (bad input can
/// arrive thousands of times a second; the log must not become the bottleneck).
pub(crate) struct BadInput {
    receiver: String,
    transport: &'static str,
    counter: metrics::Counter,
    started: Instant,
    /// Milliseconds since `started` of the last line logged (u64::MAX: never).
    last_logged: AtomicU64,
    suppressed: AtomicU64,
}

/// Bad input is logged at most this often per receiver and transport.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

impl BadInput {
    pub(crate) fn new(receiver: &str, transport: &'static str) -> BadInput {
        let counter = metrics::counter!(
            "weir_receiver_malformed_requests",
            "receiver" => receiver.to_string(),
            "transport" => transport,
        );
        BadInput {
            receiver: receiver.to_string(),
            transport,
            counter,
            started: Instant::now(),
            last_logged: AtomicU64::new(u64::MAX),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Records one unreadable request or packet from `client` (when the server knows it).
    pub(crate) fn record(&self, client: Option<SocketAddr>, error: &dyn std::fmt::Display) {
        self.counter.increment(1);
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_logged.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64;
        if due && self.last_logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                message = "Refused unreadable input.",
                receiver = %self.receiver,
                transport = self.transport,
                client = %client.map_or_else(|| "unknown".to_string(), |c| c.to_string()),
                %error,
                suppressed_since_last_log = suppressed,
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_as_the_collector_does() {
        assert!(check_endpoint("p", Transport::Tcp, "localhost:14250").is_ok());
        let e = check_endpoint("protocols::grpc", Transport::Tcp, "localhost").unwrap_err();
        assert!(e.starts_with("protocols::grpc::endpoint must be host:port"), "{e}");
        let e = check_endpoint("p", Transport::Tcp, "localhost:0").unwrap_err();
        assert!(e.contains("between 1 and 65535"), "{e}");
        assert!(check_endpoint("p", Transport::Tcp, "localhost:65536").is_err());
    }

    #[test]
    fn bad_input_logs_once_per_interval_and_counts_every_time() {
        let b = BadInput::new("jaeger", "udp_thrift_compact");
        for _ in 0..5 {
            b.record(None, &"truncated");
        }
        assert_eq!(b.suppressed.load(Ordering::Relaxed), 4);
    }
}
