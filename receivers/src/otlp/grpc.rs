//! OTLP/gRPC: the three `Export` methods, served without decoding the messages.
//!
//! [`RawCodec`] hands the request message to the handler as the `Bytes` it arrived in (after
//! tonic removed the gRPC framing and decompressed gzip or zstd), so the payload the pipelines
//! receive is byte for byte what the client encoded. [`ExportRouter`] is the whole server: one
//! `tower` service that picks the signal from the request path and answers `UNIMPLEMENTED` for
//! a signal no pipeline takes from this receiver.

use super::status::ExportError;
use super::OtlpContext;
use crate::server::{client_of, BadInput};
use bytes::Bytes;
use futures::future::BoxFuture;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Status};
use weir_core::auth::ServerAuthenticator;
use weir_core::listener::Connections;
use weir_core::{ClientMetadata, Consumer, Payload};

/// The transport label of this server's metrics.
const TRANSPORT: &str = "grpc";

use weir_core::grpc::signal_of_path as signal_of;
pub(crate) use weir_core::grpc::RawBytesCodec as RawCodec;
#[cfg(test)]
pub(crate) use weir_core::grpc::{LOGS_PATH, METRICS_PATH, TRACES_PATH};

/// Serves the three `Export` methods on one HTTP/2 server.
#[derive(Clone)]
pub(crate) struct ExportRouter {
    ctx: Arc<OtlpContext>,
    max_recv_msg_size: usize,
    /// `auth`: the authenticator every request must pass.
    authenticator: Option<Arc<dyn ServerAuthenticator>>,
    /// `include_metadata`: keep the call's metadata with its data.
    include_metadata: bool,
    /// Unreadable requests: counted and logged (rate-limited) with the client's address.
    bad: Arc<BadInput>,
}

impl ExportRouter {
    pub(crate) fn new(
        ctx: Arc<OtlpContext>,
        max_recv_msg_size: usize,
        authenticator: Option<Arc<dyn ServerAuthenticator>>,
        include_metadata: bool,
    ) -> Self {
        let bad = Arc::new(BadInput::new(&ctx.id, TRANSPORT));
        ExportRouter { ctx, max_recv_msg_size, authenticator, include_metadata, bad }
    }
}

impl tower::Service<http::Request<Body>> for ExportRouter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if let Some(auth) = &self.authenticator {
            if let Err(e) = auth.authenticate(req.headers()) {
                tracing::debug!(message = "Refused an unauthenticated gRPC request.", receiver = %self.ctx.id, error = %e);
                let status = Status::unauthenticated(e.to_string());
                return Box::pin(async move { Ok(status.into_http()) });
            }
        }
        let path = req.uri().path();
        let consumer = signal_of(path).and_then(|s| self.ctx.consumers.get(s).cloned());
        let Some(consumer) = consumer else {
            let status = match signal_of(path) {
                Some(s) => Status::unimplemented(format!("no pipeline takes {s} from this receiver")),
                None => Status::unimplemented(format!("unknown method {path}")),
            };
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let metadata = self.include_metadata.then(|| Arc::new(ClientMetadata::from_headers(req.headers())));
        let client = client_of(req.extensions());
        let bad = self.bad.clone();
        let handler = ExportHandler {
            consumer: consumer.clone(),
            wait_for_result: self.ctx.wait_for_result,
            metadata,
            reached: Arc::new(AtomicBool::new(false)),
            bad: bad.clone(),
            client,
        };
        let mut grpc = tonic::server::Grpc::new(RawCodec)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .max_decoding_message_size(self.max_recv_msg_size);
        Box::pin(async move {
            let reached = handler.reached.clone();
            let response = grpc.unary(handler, req).await;
            Ok(unreadable_request_response(response, &consumer, reached.load(Ordering::Acquire), &bad, client))
        })
    }
}

/// Post-processes a response whose request tonic could not read (the handler was not reached):
/// counts it as failed, and reports an oversized message as `RESOURCE_EXHAUSTED` as the OTLP
/// specification and grpc-go do (tonic says `OUT_OF_RANGE`).
fn unreadable_request_response(
    response: http::Response<Body>,
    consumer: &Consumer,
    handler_reached: bool,
    bad: &BadInput,
    client: Option<SocketAddr>,
) -> http::Response<Body> {
    if handler_reached {
        return response;
    }
    let Some(status) = response.extensions().get::<Status>() else { return response };
    consumer.metrics().failed(TRANSPORT, 0);
    bad.record(client, &format_args!("{} request: {:?}: {}", consumer.signal(), status.code(), status.message()));
    if status.code() == Code::OutOfRange {
        return Status::resource_exhausted(format!("{} (max_recv_msg_size_mib)", status.message())).into_http();
    }
    response
}

/// Hands one `Export` request to the pipelines of its signal.
struct ExportHandler {
    consumer: Consumer,
    wait_for_result: bool,
    /// The call's metadata, with `include_metadata`.
    metadata: Option<Arc<ClientMetadata>>,
    /// Set once tonic has read the request and called the handler.
    reached: Arc<AtomicBool>,
    bad: Arc<BadInput>,
    client: Option<SocketAddr>,
}

impl tonic::server::UnaryService<Bytes> for ExportHandler {
    type Response = Bytes;
    type Future = BoxFuture<'static, Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        self.reached.store(true, Ordering::Release);
        let consumer = self.consumer.clone();
        let wait_for_result = self.wait_for_result;
        let metadata = self.metadata.clone();
        let (bad, client) = (self.bad.clone(), self.client);
        Box::pin(async move {
            export(&consumer, request.into_inner(), metadata, wait_for_result, &bad, client)
                .await
                .map_err(|e| e.to_grpc())?;
            // An empty Export*ServiceResponse: no partial success to report.
            Ok(tonic::Response::new(Bytes::new()))
        })
    }
}

async fn export(
    consumer: &Consumer,
    body: Bytes,
    metadata: Option<Arc<ClientMetadata>>,
    wait_for_result: bool,
    bad: &BadInput,
    client: Option<SocketAddr>,
) -> Result<(), ExportError> {
    let signal = consumer.signal();
    let payload = Payload::new(signal, body).map_err(|e| {
        consumer.metrics().failed(TRANSPORT, 0);
        let e = ExportError::BadRequest(format!("invalid OTLP protobuf {signal} request: {e}"));
        bad.record(client, &e);
        e
    })?;
    consumer.consume_with_metadata(payload, metadata, TRANSPORT, wait_for_result).await.map_err(|f| {
        tracing::debug!(message = "Pipeline refused a gRPC request.", %signal, error = %f, retryable = f.retryable);
        ExportError::Refused(f)
    })
}

/// Serves gRPC on `connections` until `shutdown`, then lets the requests in flight finish.
///
/// `keepalive::server_parameters`: the server pings quiet connections every `time` (grpc-go's
/// 2h when unset) and closes those that do not answer within `timeout`; `max_connection_age`
/// sends GOAWAY, and `max_connection_age_grace` bounds the requests still in flight after it.
/// (`max_connection_idle` is applied by the listener.)
pub(crate) async fn serve(
    connections: Connections,
    router: ExportRouter,
    max_concurrent_streams: u32,
    keepalive: super::KeepaliveServerParameters,
    shutdown: CancellationToken,
) {
    let receiver = router.ctx.id.clone();
    let incoming = connections.into_stream();
    let streams = (max_concurrent_streams > 0).then_some(max_concurrent_streams);
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(streams)
        .http2_keepalive_interval(Some(keepalive.ping_interval()))
        .http2_keepalive_timeout(Some(keepalive.ping_timeout()));
    if !keepalive.max_connection_age.is_zero() {
        builder = builder.max_connection_age(keepalive.max_connection_age);
        if !keepalive.max_connection_age_grace.is_zero() {
            builder = builder.max_connection_age_grace(keepalive.max_connection_age_grace);
        }
    }
    let result = builder.serve_with_incoming_shutdown(router, incoming, shutdown.cancelled_owned()).await;
    match result {
        Ok(()) => tracing::debug!(message = "gRPC server stopped.", %receiver),
        Err(e) => tracing::error!(message = "gRPC server failed.", %receiver, error = %e),
    }
}
