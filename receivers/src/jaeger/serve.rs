//! The `jaeger` receiver's four servers.

use super::model::{self, AgentCall, Batch, Source};
use super::thrift::Protocol;
use super::translate::to_resource_spans;
use super::UdpServerConfig;
use crate::server::{
    client_of, serve_http, text, BadInput, Bound, Connections, ExportError, GrpcServerConfig, HttpServerConfig, Secured,
};
use crate::translate::encode_traces;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use weir_core::auth::ServerAuthenticator;
use weir_core::grpc::RawBytesCodec;
use weir_core::{BuildError, ClientMetadata, Consumer, Payload};

/// The transport labels of the receiver's metrics, as the Collector names them.
pub(crate) const TRANSPORT_GRPC: &str = "grpc";
pub(crate) const TRANSPORT_HTTP: &str = "collector_http";
pub(crate) const TRANSPORT_COMPACT: &str = "udp_thrift_compact";
pub(crate) const TRANSPORT_BINARY: &str = "udp_thrift_binary";

/// api_v2's one method the receiver serves.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";
/// The thrift HTTP path.
pub const API_TRACES_PATH: &str = "/api/traces";

/// Translates a batch and hands it to the pipelines.
async fn deliver(
    consumer: &Consumer,
    batch: Batch,
    source: Source,
    metadata: Option<Arc<ClientMetadata>>,
    transport: &'static str,
) -> Result<(), ExportError> {
    let payload: Payload = encode_traces(to_resource_spans(batch, source));
    consumer.consume_with_metadata(payload, metadata, transport, false).await.map_err(|f| {
        tracing::debug!(message = "Pipeline refused Jaeger spans.", transport, error = %f, retryable = f.retryable);
        ExportError::Refused(f)
    })
}

// ---------------------------------------------------------------------------------------------
// gRPC

#[derive(Clone)]
struct PostSpansRouter {
    consumer: Consumer,
    max_recv_msg_size: usize,
    authenticator: Option<Arc<dyn ServerAuthenticator>>,
    include_metadata: bool,
    bad: Arc<BadInput>,
}

impl tower::Service<http::Request<tonic::body::Body>> for PostSpansRouter {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(auth) = &self.authenticator {
            if let Err(e) = auth.authenticate(req.headers()) {
                let status = tonic::Status::unauthenticated(e.to_string());
                return Box::pin(async move { Ok(status.into_http()) });
            }
        }
        if req.uri().path() != POST_SPANS_PATH {
            let status = tonic::Status::unimplemented(format!("unknown method {}", req.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let metadata = self.include_metadata.then(|| Arc::new(ClientMetadata::from_headers(req.headers())));
        let handler = PostSpans { consumer: self.consumer.clone(), metadata, bad: self.bad.clone() };
        let mut grpc = tonic::server::Grpc::new(RawBytesCodec)
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
            .max_decoding_message_size(self.max_recv_msg_size);
        let consumer = self.consumer.clone();
        Box::pin(async move {
            let response = grpc.unary(handler, req).await;
            // A request tonic could not read (too large, bad compression): counted as failed,
            // and an oversized one is RESOURCE_EXHAUSTED as grpc-go says (tonic: OUT_OF_RANGE).
            match response.extensions().get::<tonic::Status>().map(|s| (s.code(), s.message().to_string())) {
                Some((tonic::Code::OutOfRange, message)) => {
                    consumer.metrics().failed(TRANSPORT_GRPC, 0);
                    Ok(tonic::Status::resource_exhausted(format!("{message} (max_recv_msg_size_mib)")).into_http())
                }
                _ => Ok(response),
            }
        })
    }
}

struct PostSpans {
    consumer: Consumer,
    metadata: Option<Arc<ClientMetadata>>,
    bad: Arc<BadInput>,
}

impl tonic::server::UnaryService<Bytes> for PostSpans {
    type Response = Bytes;
    type Future = BoxFuture<'static, Result<tonic::Response<Bytes>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let consumer = self.consumer.clone();
        let metadata = self.metadata.clone();
        let bad = self.bad.clone();
        let client = client_of(request.extensions());
        Box::pin(async move {
            let batch = model::read_post_spans(&request.into_inner()).map_err(|e| {
                consumer.metrics().failed(TRANSPORT_GRPC, 0);
                bad.record(client, &e);
                tonic::Status::invalid_argument(e.to_string())
            })?;
            deliver(&consumer, batch, Source::Proto, metadata, TRANSPORT_GRPC).await.map_err(|e| e.to_grpc())?;
            // An empty PostSpansResponse.
            Ok(tonic::Response::new(Bytes::new()))
        })
    }
}

/// Serves `PostSpans` until `shutdown`, then lets the calls in flight finish.
pub(super) async fn grpc(
    id: Arc<str>,
    consumer: Consumer,
    bound: Bound,
    config: GrpcServerConfig,
    secured: Secured,
    shutdown: CancellationToken,
) {
    let router = PostSpansRouter {
        consumer,
        max_recv_msg_size: config.max_recv_msg_size(),
        authenticator: secured.authenticator.clone(),
        include_metadata: config.include_metadata,
        bad: Arc::new(BadInput::new(&id, TRANSPORT_GRPC)),
    };
    let mut connections = Connections::start(bound, secured.accept(&id, TRANSPORT_GRPC), shutdown.clone());
    let closed = connections.closed();
    let streams = (config.max_concurrent_streams > 0).then_some(config.max_concurrent_streams);
    let result = tonic::transport::Server::builder()
        .max_concurrent_streams(streams)
        .serve_with_incoming_shutdown(router, connections.into_stream(), shutdown.cancelled_owned())
        .await;
    if let Err(e) = result {
        tracing::error!(message = "Jaeger gRPC server failed.", receiver = %id, error = %e);
    }
    closed.await;
}

// ---------------------------------------------------------------------------------------------
// thrift over HTTP

struct HttpState {
    consumer: Consumer,
    max_body: usize,
    authenticator: Option<Arc<dyn ServerAuthenticator>>,
    include_metadata: bool,
    bad: BadInput,
}

/// Serves `POST /api/traces` until `shutdown`.
pub(super) async fn http(
    id: Arc<str>,
    consumer: Consumer,
    bound: Bound,
    config: HttpServerConfig,
    secured: Secured,
    shutdown: CancellationToken,
) {
    let state = Arc::new(HttpState {
        consumer,
        max_body: config.max_body(),
        authenticator: secured.authenticator.clone(),
        include_metadata: config.include_metadata,
        bad: BadInput::new(&id, TRANSPORT_HTTP),
    });
    let app = axum::Router::new().fallback(handle_http).with_state(state);
    let mut connections = Connections::start(bound, secured.accept(&id, "http"), shutdown.clone());
    let closed = connections.closed();
    if let Err(e) = serve_http(connections, app, shutdown).await {
        tracing::error!(message = "Jaeger thrift HTTP server failed.", receiver = %id, error = %e);
    }
    closed.await;
}

/// The content types Jaeger's collector reads as a thrift binary `Batch`.
fn is_thrift(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/x-thrift")
        || media.eq_ignore_ascii_case("application/vnd.apache.thrift.binary")
}

/// Jaeger's collector answers: 202 accepted, 400 unreadable or of another content type, 404 /
/// 405 for other paths and methods; weir adds 413 (too large) and 503 (+ `Retry-After`) when a
/// pipeline cannot take the spans.
async fn handle_http(State(s): State<Arc<HttpState>>, req: Request) -> Response {
    if let Some(auth) = &s.authenticator {
        if let Err(e) = auth.authenticate(req.headers()) {
            return text(StatusCode::UNAUTHORIZED, format!("401 unauthorized: {e}"));
        }
    }
    if req.uri().path() != API_TRACES_PATH {
        return text(StatusCode::NOT_FOUND, "404 page not found".into());
    }
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed, supported: [POST]".into());
    }
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if !is_thrift(&content_type) {
        s.consumer.metrics().failed(TRANSPORT_HTTP, 0);
        return text(StatusCode::BAD_REQUEST, format!("Unsupported content type: {content_type}"));
    }
    let metadata = s.include_metadata.then(|| Arc::new(ClientMetadata::from_headers(req.headers())));
    let client = client_of(req.extensions());
    let result = async {
        let body = crate::server::read_http_body(req, s.max_body).await.inspect_err(|e| {
            s.consumer.metrics().failed(TRANSPORT_HTTP, 0);
            s.bad.record(client, e);
        })?;
        let batch = model::read_http_body(&body).map_err(|e| {
            s.bad.record(client, &e);
            ExportError::BadRequest(format!("Unable to process request body: {e}"))
        })?;
        deliver(&s.consumer, batch, Source::Thrift, metadata, TRANSPORT_HTTP).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => {
            if !matches!(e, ExportError::Refused(_)) {
                s.consumer.metrics().failed(TRANSPORT_HTTP, 0);
            }
            crate::server::error_response(&e)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// thrift over UDP (the agent's protocol)

/// Binds a UDP endpoint: `:port` is every IPv4 interface, a host name its first IPv4 address.
pub(super) async fn bind_udp(endpoint: &str, socket_buffer_size: usize, key: &str) -> Result<UdpSocket, BuildError> {
    let fail = |e: std::io::Error| BuildError::new(format!("cannot listen on {endpoint} ({key}::endpoint): {e}"));
    let address = if endpoint.starts_with(':') { format!("0.0.0.0{endpoint}") } else { endpoint.to_string() };
    let mut addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host(&address).await.map_err(fail)?.collect();
    addresses.sort_by_key(|a| a.is_ipv6());
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the host name has no address");
    for a in addresses {
        let attempt = || -> std::io::Result<UdpSocket> {
            let socket = socket2::Socket::new(socket2::Domain::for_address(a), socket2::Type::DGRAM, None)?;
            if socket_buffer_size > 0 {
                socket.set_recv_buffer_size(socket_buffer_size)?;
            }
            socket.bind(&a.into())?;
            socket.set_nonblocking(true)?;
            UdpSocket::from_std(socket.into())
        };
        match attempt() {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

/// Reads datagrams into a queue that `workers` tasks decode, until `shutdown`; the packets
/// queued by then are still delivered.
pub(super) async fn udp(
    id: Arc<str>,
    consumer: Consumer,
    socket: UdpSocket,
    config: UdpServerConfig,
    protocol: Protocol,
    shutdown: CancellationToken,
) {
    let transport = match protocol {
        Protocol::Compact => TRANSPORT_COMPACT,
        Protocol::Binary => TRANSPORT_BINARY,
    };
    let bad = Arc::new(BadInput::new(&id, transport));
    let (tx, rx) = tokio::sync::mpsc::channel::<(SocketAddr, Bytes)>(config.queue_size);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..config.workers)
        .map(|_| {
            let (rx, consumer, bad) = (rx.clone(), consumer.clone(), bad.clone());
            tokio::spawn(async move {
                loop {
                    let packet = rx.lock().await.recv().await;
                    let Some((client, packet)) = packet else { break };
                    handle_packet(&consumer, &bad, client, &packet, protocol, transport).await;
                }
            })
        })
        .collect();
    // One byte more than the largest packet accepted, to tell an oversized datagram (which the
    // kernel truncates to the buffer) from one that fits exactly.
    let mut buf = vec![0u8; config.max_packet_size + 1];
    loop {
        let (n, client) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(received) => received,
                Err(e) => {
                    tracing::debug!(message = "Jaeger UDP read failed.", receiver = %id, error = %e);
                    continue;
                }
            },
        };
        if n > config.max_packet_size {
            consumer.metrics().failed(transport, 0);
            bad.record(
                Some(client),
                &format!("a packet larger than max_packet_size ({} bytes)", config.max_packet_size),
            );
            continue;
        }
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) =
            tx.try_send((client, Bytes::copy_from_slice(&buf[..n])))
        {
            consumer.metrics().refused(transport, 0);
            bad.record(
                Some(client),
                &format!("the queue of {} packets is full (queue_size); packet dropped", config.queue_size),
            );
        }
    }
    drop(tx);
    for w in workers {
        let _ = w.await;
    }
}

async fn handle_packet(
    consumer: &Consumer,
    bad: &BadInput,
    client: SocketAddr,
    packet: &[u8],
    protocol: Protocol,
    transport: &'static str,
) {
    match model::read_agent_packet(packet, protocol) {
        Ok(AgentCall::EmitBatch(batch)) => {
            // Refusals are counted by the consumer; the agent protocol has no answer to give.
            let _ = deliver(consumer, batch, Source::Thrift, None, transport).await;
        }
        Ok(AgentCall::EmitZipkinBatch) => {
            consumer.metrics().failed(transport, 0);
            bad.record(Some(client), &"emitZipkinBatch is not supported (send Jaeger spans with emitBatch)");
        }
        Err(e) => {
            consumer.metrics().failed(transport, 0);
            bad.record(Some(client), &e);
        }
    }
}
