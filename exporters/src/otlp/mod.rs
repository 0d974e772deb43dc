//! `otlp`: sends to an OTLP/gRPC server (alias `otlp_grpc`).
//!
//! Each payload is one unary call to
//! `/opentelemetry.proto.collector.{trace,metrics,logs}.v1.{Trace,Metrics,Logs}Service/Export`.
//! The payload's bytes already are the encoded request, so they go out as they are through a
//! raw-bytes codec ([`weir_core::grpc::RawBytesCodec`]), compressed by tonic when `compression` says so.
//!
//! With TLS (an `https://` endpoint, or `tls` without `insecure: true`) the channel connects
//! through rustls with ALPN `h2` ([`weir_core::connect`]); `auth` adds the authenticator's token
//! to every request's metadata.
//!
//! The channel connects lazily: weir starts while the backend is down, and a send to a server
//! that cannot be reached fails as `UNAVAILABLE`, which the plumbing retries. Outcomes follow
//! the OTLP table ([`status`]); a response carrying `partial_success` is logged at warn and
//! counts as sent, since the server has decided about every item.

mod config;
pub mod status;

pub use config::OtlpConfig;

use crate::transport::{Compression, PartialSuccess};
use async_trait::async_trait;
use http::uri::PathAndQuery;
use std::sync::Arc;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use weir_core::connect::Connector;
use weir_core::grpc::RawBytesCodec;
use weir_core::{BuildContext, BuildError, Exporter, ExporterFactory, Failure, Payload, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "otlp";

/// Sent as `user-agent` (tonic appends its own token).
const USER_AGENT: &str = concat!("weir/", env!("CARGO_PKG_VERSION"));

/// The gRPC method of each signal's `Export` call.
pub fn export_path(signal: Signal) -> PathAndQuery {
    PathAndQuery::from_static(weir_core::grpc::export_path(signal))
}

/// Factory of the `otlp` exporter.
pub struct OtlpExporterFactory;

impl ExporterFactory for OtlpExporterFactory {
    type Config = OtlpConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &OtlpConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        let signal = ctx.signal.ok_or_else(|| BuildError::new("the otlp exporter is built for one signal"))?;
        let credentials = crate::transport::auth_headers(ctx, &config.auth)?;
        Ok(Arc::new(OtlpExporter::new(&ctx.id.to_string(), signal, config, credentials)?))
    }
}

/// One signal's OTLP/gRPC client.
pub struct OtlpExporter {
    /// The component id, for log lines.
    id: String,
    signal: Signal,
    endpoint: String,
    client: tonic::client::Grpc<Channel>,
    path: PathAndQuery,
    metadata: MetadataMap,
    /// Why `headers` cannot be sent, when a name is not valid gRPC metadata.
    unsendable: Option<String>,
    timeout: Duration,
}

impl OtlpExporter {
    /// Creates the client; connects on first use. Needs a tokio runtime (the channel's
    /// connection task is spawned on it). `credentials` are the `auth` authenticator's headers.
    pub fn new(
        id: &str,
        signal: Signal,
        config: &OtlpConfig,
        credentials: Vec<(http::HeaderName, http::HeaderValue)>,
    ) -> Result<OtlpExporter, BuildError> {
        let uri = config.endpoint_uri().map_err(BuildError::new)?;
        let mut endpoint =
            Endpoint::from(uri.clone()).user_agent(USER_AGENT).map_err(|e| BuildError::new(e.to_string()))?;
        if !config.timeout.is_zero() {
            endpoint = endpoint.connect_timeout(config.timeout);
        }
        if let Some(k) = &config.keepalive {
            if !k.time.is_zero() {
                endpoint = endpoint
                    .http2_keep_alive_interval(k.time)
                    .keep_alive_timeout(if k.timeout.is_zero() { Duration::from_secs(20) } else { k.timeout })
                    .keep_alive_while_idle(k.permit_without_stream);
            }
        }
        let host = uri.host().unwrap_or_default();
        let connector = Connector::new(host, config.use_tls(), config.tls.as_ref(), &[weir_core::tls::ALPN_H2])
            .map_err(|e| BuildError::new(e.to_string()))?
            .with_buffer_sizes(config.read_buffer_size, config.write_buffer_size);
        let mut client = tonic::client::Grpc::new(endpoint.connect_with_connector_lazy(connector))
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        match config.compression {
            Compression::Gzip => client = client.send_compressed(CompressionEncoding::Gzip),
            Compression::Zstd => client = client.send_compressed(CompressionEncoding::Zstd),
            Compression::Deflate => client = client.send_compressed(CompressionEncoding::Deflate),
            _ => {}
        }
        let mut metadata = MetadataMap::new();
        // A header gRPC cannot carry fails every export, as grpc-go's metadata check does.
        let unsendable = match config.metadata() {
            Ok(pairs) => {
                for (k, v) in pairs {
                    metadata.insert(k, v);
                }
                None
            }
            Err(e) => {
                tracing::warn!(message = "A header cannot be sent as gRPC metadata; every export will fail.", exporter = %id, error = %e);
                Some(e)
            }
        };
        for (name, value) in credentials {
            let key = AsciiMetadataKey::from_bytes(name.as_str().as_bytes())
                .map_err(|e| BuildError::new(format!("auth: header {name}: {e}")))?;
            let value = AsciiMetadataValue::try_from(value.as_bytes())
                .map_err(|e| BuildError::new(format!("auth: the token cannot be sent as gRPC metadata: {e}")))?;
            metadata.insert(key, value);
        }
        Ok(OtlpExporter {
            id: id.to_string(),
            signal,
            endpoint: uri.to_string(),
            client,
            path: export_path(signal),
            metadata,
            unsendable,
            timeout: config.timeout,
        })
    }
}

#[async_trait]
impl Exporter for OtlpExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        if payload.is_empty() {
            return Ok(());
        }
        if let Some(e) = &self.unsendable {
            return Err(Failure::permanent(format!("header key contains illegal characters: {e}")));
        }
        let mut client = self.client.clone();
        client
            .ready()
            .await
            .map_err(|e| Failure::retryable(format!("the gRPC channel to {} is not ready: {e}", self.endpoint)))?;
        let mut request = tonic::Request::new(payload.bytes().clone());
        *request.metadata_mut() = self.metadata.clone();
        if !self.timeout.is_zero() {
            // Tells the server our deadline (`grpc-timeout`); the plumbing enforces it here.
            request.set_timeout(self.timeout);
        }
        let response = client.unary(request, self.path.clone(), RawBytesCodec).await.map_err(|s| {
            let mut f = status::failure_from_status(&s);
            f.message = format!("sending to {}: {}", self.endpoint, f.message).into();
            f
        })?;
        match PartialSuccess::from_protobuf(response.get_ref()) {
            Ok(Some(ps)) => ps.log(&self.id, self.signal),
            Ok(None) => {}
            // The server said OK; an unreadable body changes nothing about the data.
            Err(e) => tracing::debug!(message = "Unreadable export response.", exporter = %self.id, error = %e),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
