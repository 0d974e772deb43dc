//! The `zipkin` receiver: Zipkin v2 spans over HTTP (JSON or protobuf), translated to OTLP once,
//! at the edge, as the Collector's receiver does.
//!
//! - One HTTP server (default `localhost:9411`) with the `otlp` receiver's listener (TLS,
//!   `max_connections`), authentication and body limits; `Content-Encoding` gzip, zstd,
//!   deflate or zlib.
//! - Any path is v2 (the Collector serves `/api/v2/spans` and every other path alike) except
//!   one containing `api/v1/spans`: Zipkin v1 is refused with 400 (not supported yet).
//! - `Content-Type: application/x-protobuf` is `zipkin.proto3.ListOfSpans`; anything else JSON.
//! - 202 on success; 400 for an unreadable body; 413 too large; 503 (+ `Retry-After`) when a
//!   pipeline cannot take the spans; 500 when it refuses them for good.

pub mod model;
pub mod translate;

use crate::otlp::Transport;
use crate::server::{
    client_of, serve_http, text, BadInput, Bound, Connections, ExportError, HttpServerConfig, Secured,
};
use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use serde::Deserialize;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::auth::{AuthSettings, ServerAuthenticator};
use weir_core::tls::{TlsServerSettings, ALPN_H2, ALPN_HTTP1};
use weir_core::{
    BuildContext, BuildError, ClientMetadata, ComponentConfig, Consumer, Consumers, Receiver, ReceiverFactory, Signal,
};

/// The default endpoint.
pub const DEFAULT_ENDPOINT: &str = "localhost:9411";

/// The transport label of the receiver's metrics.
const TRANSPORT: &str = "http";

/// `receivers::zipkin`: the Collector's `confighttp.ServerConfig` keys weir serves, and
/// `parse_string_tags`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinReceiverConfig {
    /// `host:port`. Default `localhost:9411`.
    pub endpoint: Option<String>,
    /// `tcp` (default), `tcp4`, `tcp6` or `unix`.
    pub transport: Transport,
    /// Largest request body, as sent and once decompressed. Default 20 MiB.
    pub max_request_body_size: u64,
    /// Keep the request's headers with its data. Default false.
    pub include_metadata: bool,
    pub tls: Option<TlsServerSettings>,
    pub auth: Option<AuthSettings>,
    /// weir's own key: connections served at once; 0 (default) no limit.
    pub max_connections: usize,
    /// Tags whose string reads as an integer, a decimal or a boolean become attributes of that
    /// type. Default false: every tag is a string attribute.
    pub parse_string_tags: bool,
}

impl ZipkinReceiverConfig {
    fn http(&self) -> HttpServerConfig {
        HttpServerConfig {
            endpoint: self.endpoint.clone(),
            transport: self.transport,
            max_request_body_size: self.max_request_body_size,
            include_metadata: self.include_metadata,
            tls: self.tls.clone(),
            auth: self.auth.clone(),
            max_connections: self.max_connections,
        }
    }
}

impl ComponentConfig for ZipkinReceiverConfig {
    fn validate(&self) -> Result<(), String> {
        self.http().validate("zipkin", DEFAULT_ENDPOINT).map_err(|e| e.trim_start_matches("zipkin::").to_string())
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        self.auth.iter().map(|a| ("auth", a)).collect()
    }
}

/// Factory of the `zipkin` receiver.
pub struct ZipkinReceiverFactory;

impl ReceiverFactory for ZipkinReceiverFactory {
    type Config = ZipkinReceiverConfig;

    fn type_name(&self) -> &'static str {
        "zipkin"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }

    fn build(&self, ctx: &BuildContext, config: &ZipkinReceiverConfig) -> Result<Box<dyn Receiver>, BuildError> {
        let secured =
            Secured::new(ctx, "zipkin", &config.tls, &config.auth, config.max_connections, &[ALPN_H2, ALPN_HTTP1])?;
        Ok(Box::new(ZipkinReceiver { id: ctx.id.to_string(), config: config.clone(), secured }))
    }
}

struct ZipkinReceiver {
    id: String,
    config: ZipkinReceiverConfig,
    secured: Secured,
}

#[async_trait]
impl Receiver for ZipkinReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let Some(consumer) = consumers.traces.clone() else { return Ok(tokio::spawn(async {})) };
        let http = self.config.http();
        let bound: Bound = crate::server::bind(http.transport, http.endpoint_or(DEFAULT_ENDPOINT), "endpoint").await?;
        tracing::info!(message = "Started the Zipkin HTTP server.", receiver = %self.id, endpoint = %bound.describe(), tls = self.secured.tls.is_some());
        let state = Arc::new(ZipkinState {
            consumer,
            max_body: http.max_body(),
            authenticator: self.secured.authenticator.clone(),
            include_metadata: http.include_metadata,
            parse_string_tags: self.config.parse_string_tags,
            bad: BadInput::new(&self.id, TRANSPORT),
        });
        let mut connections = Connections::start(bound, self.secured.accept(&self.id, TRANSPORT), shutdown.clone());
        let closed = connections.closed();
        let id = self.id;
        Ok(tokio::spawn(async move {
            let app = axum::Router::new().fallback(handle).with_state(state);
            if let Err(e) = serve_http(connections, app, shutdown).await {
                tracing::error!(message = "Zipkin HTTP server failed.", receiver = %id, error = %e);
            }
            closed.await;
        }))
    }
}

struct ZipkinState {
    consumer: Consumer,
    max_body: usize,
    authenticator: Option<Arc<dyn ServerAuthenticator>>,
    include_metadata: bool,
    parse_string_tags: bool,
    bad: BadInput,
}

async fn handle(State(s): State<Arc<ZipkinState>>, req: Request) -> Response {
    if let Some(auth) = &s.authenticator {
        if let Err(e) = auth.authenticate(req.headers()) {
            return text(StatusCode::UNAUTHORIZED, format!("401 unauthorized: {e}"));
        }
    }
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed, supported: [POST]".into());
    }
    if req.uri().path().contains("api/v1/spans") {
        s.consumer.metrics().failed(TRANSPORT, 0);
        return text(
            StatusCode::BAD_REQUEST,
            "Zipkin v1 is not supported by weir yet: send v2 to /api/v2/spans".into(),
        );
    }
    let protobuf = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-protobuf"));
    let metadata = s.include_metadata.then(|| Arc::new(ClientMetadata::from_headers(req.headers())));
    let client = client_of(req.extensions());
    let result = async {
        let body = crate::server::read_http_body(req, s.max_body).await.inspect_err(|e| {
            s.consumer.metrics().failed(TRANSPORT, 0);
            s.bad.record(client, e);
        })?;
        let unreadable = |e: &dyn std::fmt::Display| {
            s.bad.record(client, e);
            ExportError::BadRequest(e.to_string())
        };
        let spans = if protobuf { model::read_proto_v2(&body) } else { model::read_json_v2(&body) }
            .map_err(|e| unreadable(&e))?;
        let resource_spans = translate::to_resource_spans(spans, s.parse_string_tags).map_err(|e| unreadable(&e))?;
        let payload = crate::translate::encode_traces(resource_spans);
        s.consumer.consume_with_metadata(payload, metadata, TRANSPORT, false).await.map_err(ExportError::Refused)
    }
    .await;
    match result {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => {
            if !matches!(e, ExportError::Refused(_)) {
                s.consumer.metrics().failed(TRANSPORT, 0);
            }
            crate::server::error_response(&e)
        }
    }
}

#[cfg(test)]
mod tests;
