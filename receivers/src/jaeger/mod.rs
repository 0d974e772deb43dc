//! The `jaeger` receiver: Jaeger spans over the four protocols the Collector's receiver serves,
//! translated to OTLP once, at the edge.
//!
//! ```text
//!  grpc            :14250 ─ tonic, api_v2 PostSpans (prost) ─┐
//!  thrift_http     :14268 ─ axum, POST /api/traces (binary)  ├─▶ Batch ─▶ translate ─▶ OTLP bytes ─▶ Consumer
//!  thrift_compact  :6831  ─ UDP, agent emitBatch (compact)   │   (model)  (translate)   (encode once)
//!  thrift_binary   :6832  ─ UDP, agent emitBatch (binary)   ─┘
//! ```
//!
//! - Only `traces`: the receiver's factory offers no other signal.
//! - The gRPC and HTTP servers share the `otlp` receiver's listener (TLS, `max_connections`),
//!   authentication and refusal mapping; an unreadable request is `INVALID_ARGUMENT` / 400, a
//!   full pipeline `UNAVAILABLE` / 503.
//! - UDP: one task reads datagrams into a queue of `queue_size` packets that `workers` tasks
//!   decode and hand on. A full queue drops the packet (UDP has no backpressure; the agent
//!   protocol has no answer), counted as refused. A packet larger than `max_packet_size`, or
//!   one that does not decode, is counted in `weir_receiver_malformed_requests` and logged at
//!   most once per 10 s; the receiver keeps serving.

pub mod model;
mod serve;
pub mod thrift;
pub mod translate;

use crate::otlp::Transport;
use crate::server::{GrpcServerConfig, HttpServerConfig, Secured};
use async_trait::async_trait;
use serde::{Deserialize, Deserializer};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::auth::AuthSettings;
use weir_core::tls::{ALPN_H2, ALPN_HTTP1};
use weir_core::{BuildContext, BuildError, ComponentConfig, Consumers, Receiver, ReceiverFactory, Signal};

/// `protocols::grpc` default endpoint.
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:14250";
/// `protocols::thrift_http` default endpoint.
pub const DEFAULT_THRIFT_HTTP_ENDPOINT: &str = "localhost:14268";
/// `protocols::thrift_compact` default endpoint.
pub const DEFAULT_THRIFT_COMPACT_ENDPOINT: &str = "localhost:6831";
/// `protocols::thrift_binary` default endpoint.
pub const DEFAULT_THRIFT_BINARY_ENDPOINT: &str = "localhost:6832";

/// `receivers::jaeger`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerReceiverConfig {
    /// The servers to run; naming one (even with nothing under it) turns it on.
    pub protocols: Protocols,
}

/// `protocols`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocols {
    /// api_v2 `CollectorService/PostSpans` over gRPC.
    #[serde(deserialize_with = "present")]
    pub grpc: Option<GrpcServerConfig>,
    /// `POST /api/traces` with a thrift `Batch` in the binary protocol.
    #[serde(deserialize_with = "present")]
    pub thrift_http: Option<HttpServerConfig>,
    /// The agent's `emitBatch` in the binary protocol, over UDP.
    #[serde(deserialize_with = "present")]
    pub thrift_binary: Option<UdpServerConfig>,
    /// The agent's `emitBatch` in the compact protocol, over UDP.
    #[serde(deserialize_with = "present")]
    pub thrift_compact: Option<UdpServerConfig>,
}

/// A UDP protocol's settings (the Collector's `ProtocolUDP`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UdpServerConfig {
    /// `host:port`. Default: the protocol's, on loopback.
    pub endpoint: Option<String>,
    /// Packets read and not yet decoded; more are dropped. Default 1000.
    pub queue_size: usize,
    /// The largest packet accepted, in bytes. Default 65000.
    pub max_packet_size: usize,
    /// Tasks decoding packets. Default 10.
    pub workers: usize,
    /// `SO_RCVBUF` of the socket, in bytes; 0 (default) keeps the system's.
    pub socket_buffer_size: usize,
}

impl Default for UdpServerConfig {
    fn default() -> Self {
        UdpServerConfig {
            endpoint: None,
            queue_size: 1000,
            max_packet_size: 65_000,
            workers: 10,
            socket_buffer_size: 0,
        }
    }
}

impl UdpServerConfig {
    fn validate(&self, prefix: &str, default_endpoint: &str) -> Result<(), String> {
        let endpoint = self.endpoint.as_deref().unwrap_or(default_endpoint);
        crate::server::check_endpoint(prefix, Transport::Tcp, endpoint)?;
        if self.queue_size == 0 {
            return Err(format!("{prefix}::queue_size must be at least 1"));
        }
        if self.workers == 0 {
            return Err(format!("{prefix}::workers must be at least 1"));
        }
        if self.max_packet_size == 0 || self.max_packet_size > 65_535 {
            return Err(format!("{prefix}::max_packet_size must be between 1 and 65535 (a UDP datagram's limit)"));
        }
        Ok(())
    }
}

/// Reads an optional section whose presence alone (`grpc:` with nothing under it) means "on
/// with defaults".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl ComponentConfig for JaegerReceiverConfig {
    fn validate(&self) -> Result<(), String> {
        let p = &self.protocols;
        if p.grpc.is_none() && p.thrift_http.is_none() && p.thrift_binary.is_none() && p.thrift_compact.is_none() {
            return Err("must specify at least one protocol when using the Jaeger receiver".into());
        }
        if let Some(g) = &p.grpc {
            g.validate("protocols::grpc", DEFAULT_GRPC_ENDPOINT)?;
        }
        if let Some(h) = &p.thrift_http {
            h.validate("protocols::thrift_http", DEFAULT_THRIFT_HTTP_ENDPOINT)?;
        }
        if let Some(u) = &p.thrift_binary {
            u.validate("protocols::thrift_binary", DEFAULT_THRIFT_BINARY_ENDPOINT)?;
        }
        if let Some(u) = &p.thrift_compact {
            u.validate("protocols::thrift_compact", DEFAULT_THRIFT_COMPACT_ENDPOINT)?;
        }
        Ok(())
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        let mut all = Vec::new();
        if let Some(a) = self.protocols.grpc.as_ref().and_then(|g| g.auth.as_ref()) {
            all.push(("protocols::grpc::auth", a));
        }
        if let Some(a) = self.protocols.thrift_http.as_ref().and_then(|h| h.auth.as_ref()) {
            all.push(("protocols::thrift_http::auth", a));
        }
        all
    }
}

/// Factory of the `jaeger` receiver.
pub struct JaegerReceiverFactory;

impl ReceiverFactory for JaegerReceiverFactory {
    type Config = JaegerReceiverConfig;

    fn type_name(&self) -> &'static str {
        "jaeger"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }

    fn build(&self, ctx: &BuildContext, config: &JaegerReceiverConfig) -> Result<Box<dyn Receiver>, BuildError> {
        let grpc = match &config.protocols.grpc {
            Some(g) => Some(Secured::new(ctx, "protocols::grpc", &g.tls, &g.auth, g.max_connections, &[ALPN_H2])?),
            None => None,
        };
        let http = match &config.protocols.thrift_http {
            Some(h) => Some(Secured::new(
                ctx,
                "protocols::thrift_http",
                &h.tls,
                &h.auth,
                h.max_connections,
                &[ALPN_H2, ALPN_HTTP1],
            )?),
            None => None,
        };
        Ok(Box::new(JaegerReceiver { id: ctx.id.to_string(), config: config.clone(), grpc, http }))
    }
}

struct JaegerReceiver {
    id: String,
    config: JaegerReceiverConfig,
    grpc: Option<Secured>,
    http: Option<Secured>,
}

#[async_trait]
impl Receiver for JaegerReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let Some(consumer) = consumers.traces.clone() else {
            // No traces pipeline takes from this receiver: nothing to serve.
            return Ok(tokio::spawn(async {}));
        };
        let id: Arc<str> = Arc::from(self.id.as_str());
        let p = &self.config.protocols;
        // Bind everything first, so a busy port fails the start cleanly.
        let grpc = match (&p.grpc, self.grpc) {
            (Some(g), Some(sec)) => {
                let endpoint = g.endpoint_or(DEFAULT_GRPC_ENDPOINT);
                Some((crate::server::bind(g.transport, endpoint, "protocols::grpc::endpoint").await?, g.clone(), sec))
            }
            _ => None,
        };
        let http = match (&p.thrift_http, self.http) {
            (Some(h), Some(sec)) => {
                let endpoint = h.endpoint_or(DEFAULT_THRIFT_HTTP_ENDPOINT);
                let bound = crate::server::bind(h.transport, endpoint, "protocols::thrift_http::endpoint").await?;
                Some((bound, h.clone(), sec))
            }
            _ => None,
        };
        let mut udp = Vec::new();
        for (cfg, default, key, protocol) in [
            (
                &p.thrift_compact,
                DEFAULT_THRIFT_COMPACT_ENDPOINT,
                "protocols::thrift_compact",
                thrift::Protocol::Compact,
            ),
            (&p.thrift_binary, DEFAULT_THRIFT_BINARY_ENDPOINT, "protocols::thrift_binary", thrift::Protocol::Binary),
        ] {
            if let Some(u) = cfg {
                let endpoint = u.endpoint.as_deref().unwrap_or(default);
                let socket = serve::bind_udp(endpoint, u.socket_buffer_size, key).await?;
                udp.push((socket, u.clone(), protocol));
            }
        }

        let mut tasks = Vec::new();
        if let Some((bound, g, sec)) = grpc {
            tracing::info!(message = "Started the Jaeger gRPC server.", receiver = %id, endpoint = %bound.describe(), tls = sec.tls.is_some());
            tasks.push(tokio::spawn(serve::grpc(id.clone(), consumer.clone(), bound, g, sec, shutdown.clone())));
        }
        if let Some((bound, h, sec)) = http {
            tracing::info!(message = "Started the Jaeger thrift HTTP server.", receiver = %id, endpoint = %bound.describe(), tls = sec.tls.is_some());
            tasks.push(tokio::spawn(serve::http(id.clone(), consumer.clone(), bound, h, sec, shutdown.clone())));
        }
        for (socket, u, protocol) in udp {
            let endpoint = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::info!(message = "Started the Jaeger agent UDP server.", receiver = %id, %endpoint, protocol = protocol.as_str());
            tasks.push(tokio::spawn(serve::udp(id.clone(), consumer.clone(), socket, u, protocol, shutdown.clone())));
        }
        Ok(tokio::spawn(async move {
            for t in tasks {
                let _ = t.await;
            }
        }))
    }
}

#[cfg(test)]
mod tests;
