//! The `otlp` receiver: OTLP over gRPC and HTTP, configured with the Collector's keys.
//!
//! ```text
//!  gRPC :4317 ─ tonic, RawCodec (Bytes) ──┐
//!                                         ├─▶ Payload::new / json::decode ─▶ Consumer ─▶ pipelines
//!  HTTP :4318 ─ axum, bounded body/gunzip ┘     (checks the structure,        (per signal)
//!                                                counts the items)
//! ```
//!
//! Design:
//!
//! - **Bytes in, bytes on.** Protobuf requests are never decoded into a prost tree: the gRPC
//!   codec yields the message as `Bytes` and HTTP reads the body as `Bytes`; [`Payload::new`]
//!   walks the wire format in place to check it and count items. What the exporters get is what
//!   the client sent, byte for byte. OTLP/JSON is converted to protobuf at this edge.
//! - **One receiver, two servers, shared consumers.** Both servers of a receiver serve every
//!   signal some pipeline takes from it; a signal with no pipeline is `UNIMPLEMENTED` / 404.
//! - **Secured per server.** Each protocol may have `tls` (optionally mutual) and `auth`
//!   (a `bearertokenauth` token checked before the body is read: 401 / `UNAUTHENTICATED`), and
//!   `max_connections` bounds the connections it serves ([`listener`]).
//! - **Bounded input.** gRPC messages are limited by `max_recv_msg_size_mib` (tonic applies the
//!   limit before buffering and while decompressing); HTTP bodies by `max_request_body_size`,
//!   both as sent and once decompressed (see `crate::decompress`).
//! - **Backpressure, not drops.** A pipeline that cannot take data in time, or refuses it, gives
//!   the client a retryable error (`UNAVAILABLE` / 503, with a retry delay when known); see
//!   [`status`] for the full mapping. With `wait_for_result` the answer waits for the exporters.
//! - **Shutdown.** On cancellation both servers stop accepting connections and finish the
//!   requests in flight before the receiver's task ends.
//!
//! [`Payload::new`]: weir_core::Payload::new

mod config;
mod grpc;
mod http;
pub(crate) mod status;
#[cfg(test)]
mod tests;

pub use config::{
    CorsConfig, GrpcConfig, HttpConfig, KeepaliveEnforcementPolicy, KeepaliveServerConfig, KeepaliveServerParameters,
    OtlpReceiverConfig, Protocols, Transport, DEFAULT_GRPC_READ_BUFFER_SIZE, DEFAULT_MAX_REQUEST_BODY_SIZE,
};
pub(crate) use http::read_decoded_body;

use crate::server::Secured as Security;
use async_trait::async_trait;
use std::sync::Arc;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::listener::{self, Bound};
use weir_core::tls::{ALPN_H2, ALPN_HTTP1};
use weir_core::{BuildContext, BuildError, Consumers, Receiver, ReceiverFactory, Signal};

/// Factory of the `otlp` receiver.
pub struct OtlpReceiverFactory;

impl ReceiverFactory for OtlpReceiverFactory {
    type Config = OtlpReceiverConfig;

    fn type_name(&self) -> &'static str {
        "otlp"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &OtlpReceiverConfig) -> Result<Box<dyn Receiver>, BuildError> {
        let grpc = match config.grpc() {
            Some(g) => Some(Security::new(ctx, "protocols::grpc", &g.tls, &g.auth, g.max_connections, &[ALPN_H2])?),
            None => None,
        };
        let http = match config.http() {
            Some(h) => {
                Some(Security::new(ctx, "protocols::http", &h.tls, &h.auth, h.max_connections, &[ALPN_H2, ALPN_HTTP1])?)
            }
            None => None,
        };
        Ok(Box::new(OtlpReceiver { id: ctx.id.to_string(), config: config.clone(), grpc, http }))
    }
}

/// A configured, not yet started `otlp` receiver.
struct OtlpReceiver {
    id: String,
    config: OtlpReceiverConfig,
    grpc: Option<Security>,
    http: Option<Security>,
}

/// What both servers of one receiver share.
struct OtlpContext {
    /// The receiver's id, for logs.
    id: String,
    consumers: Consumers,
    wait_for_result: bool,
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let ctx = Arc::new(OtlpContext { id: self.id, consumers, wait_for_result: self.config.wait_for_result });
        // Bind every listener before serving on any, so a busy port fails the start cleanly.
        // `build` made a `Security` for exactly the servers that are on.
        let grpc = match (self.config.grpc(), self.grpc) {
            (Some(g), Some(security)) => {
                Some((bind(g.transport, &g.endpoint, "protocols::grpc::endpoint").await?, g.clone(), security))
            }
            _ => None,
        };
        let http = match (self.config.http(), self.http) {
            (Some(h), Some(security)) => {
                Some((bind(h.transport, &h.endpoint, "protocols::http::endpoint").await?, h.clone(), security))
            }
            _ => None,
        };

        let grpc_server = grpc.map(|(listener, g, grpc_security)| {
            log_start(&ctx.id, "gRPC", &listener, grpc_security.tls.is_some());
            if let Some(ep) = &g.keepalive.enforcement_policy {
                if *ep != KeepaliveEnforcementPolicy::default() {
                    tracing::warn!(
                        message = "keepalive::enforcement_policy is accepted but not enforced: clients that ping more often than min_time are answered, not disconnected.",
                        receiver = %ctx.id,
                    );
                }
            }
            let router = grpc::ExportRouter::new(
                ctx.clone(),
                g.max_recv_msg_size(),
                grpc_security.authenticator.clone(),
                g.include_metadata,
            );
            let mut accept = grpc_security.accept(&ctx.id, "grpc");
            accept.read_buffer_size = g.read_buffer_size;
            accept.write_buffer_size = g.write_buffer_size;
            let server_parameters = g.keepalive.server_parameters.clone().unwrap_or_default();
            accept.max_idle =
                (!server_parameters.max_connection_idle.is_zero()).then_some(server_parameters.max_connection_idle);
            let mut connections = listener::Connections::start(listener, accept, shutdown.clone());
            let closed = connections.closed();
            let server = grpc::serve(connections, router, g.max_concurrent_streams, server_parameters, shutdown.clone());
            async move {
                server.await;
                closed.await;
            }
        });
        let http_server = http.map(|(listener, h, http_security)| {
            log_start(&ctx.id, "HTTP", &listener, http_security.tls.is_some());
            let export = http::HttpExport::new(
                ctx.clone(),
                h.paths(),
                h.max_request_body_size(),
                http_security.authenticator.clone(),
                h.cors.as_ref().and_then(http::Cors::new),
                h.include_metadata,
            );
            let mut connections =
                listener::Connections::start(listener, http_security.accept(&ctx.id, "http"), shutdown.clone());
            let closed = connections.closed();
            let server = http::serve(connections, export, shutdown.clone());
            async move {
                server.await;
                closed.await;
            }
        });
        Ok(tokio::spawn(async move {
            let grpc = async {
                if let Some(server) = grpc_server {
                    server.await;
                }
            };
            let http = async {
                if let Some(server) = http_server {
                    server.await;
                }
            };
            futures::future::join(grpc, http).await;
        }))
    }
}

/// Binds `endpoint` for its `transport`. A bare `:port` means every IPv4 interface, as Go's
/// `:port` does, and an empty endpoint a free port on every interface; a host name that
/// resolves to several addresses (`localhost`) is bound on its first IPv4 address, as the
/// Collector does, falling back to the others (`tcp4`/`tcp6` keep only that family). A Unix
/// socket path left behind by a process that is gone is replaced.
pub(crate) async fn bind(transport: Transport, endpoint: &str, key: &str) -> Result<Bound, BuildError> {
    let fail = |e: std::io::Error| BuildError::new(format!("cannot listen on {endpoint} ({key}): {e}"));
    if transport == Transport::Unix {
        let path = std::path::PathBuf::from(endpoint);
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if tokio::net::UnixStream::connect(&path).await.is_ok() {
                    return Err(fail(e));
                }
                let _ = std::fs::remove_file(&path);
                UnixListener::bind(&path).map_err(fail)?
            }
            Err(e) => return Err(fail(e)),
        };
        return Ok(Bound::Unix(listener, path));
    }
    let address = if endpoint.is_empty() {
        "0.0.0.0:0".to_string()
    } else if endpoint.starts_with(':') {
        format!("0.0.0.0{endpoint}")
    } else {
        endpoint.to_string()
    };
    let mut addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host(&address).await.map_err(fail)?.collect();
    match transport {
        Transport::Tcp4 => addresses.retain(|a| a.is_ipv4()),
        Transport::Tcp6 => addresses.retain(|a| a.is_ipv6()),
        _ => {}
    }
    addresses.sort_by_key(|a| a.is_ipv6());
    let mut last_error = std::io::Error::new(std::io::ErrorKind::NotFound, "the host name has no address");
    for a in addresses {
        match TcpListener::bind(a).await {
            Ok(listener) => return Ok(Bound::Tcp(listener)),
            Err(e) => last_error = e,
        }
    }
    Err(fail(last_error))
}

fn log_start(receiver: &str, protocol: &str, listener: &Bound, tls: bool) {
    let endpoint = listener.describe();
    tracing::info!(message = "Started the OTLP server.", %receiver, protocol, %endpoint, tls);
}
