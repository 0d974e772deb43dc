//! `otlphttp`: sends to an OTLP/HTTP server (alias `otlp_http`).
//!
//! Each payload is one `POST` to the signal's URL (`<endpoint>/v1/traces` unless overridden)
//! over HTTP/1.1 — TLS for `https://` URLs ([`weir_core::connect`]) — with pooled keep-alive
//! connections; `auth` adds the authenticator's token header. The body is the payload's
//! bytes as they are (`encoding: proto`) or OTLP/JSON (`encoding: json`), compressed per
//! `compression` and labelled with `Content-Type` and `Content-Encoding`.
//!
//! Outcomes follow the OTLP rules ([`response`]): 2xx is success (a `partial_success` in the
//! body is logged at warn, not retried); 429/502/503/504 and connection errors are retryable,
//! honouring `Retry-After`; everything else is permanent. At most 64 KiB of an error body is
//! read, and a short excerpt goes into the failure message.

mod config;
pub mod response;

pub use config::{Encoding, OtlpHttpConfig};

use crate::transport::{Compression, PartialSuccess};
use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::SystemTime;
use weir_core::connect::Connector;
use weir_core::pdata::json;
use weir_core::{BuildContext, BuildError, Exporter, ExporterFactory, Failure, Payload, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "otlphttp";

/// Sent as `User-Agent` unless `headers` sets one.
const USER_AGENT_VALUE: &str = concat!("weir/", env!("CARGO_PKG_VERSION"));

/// How much of a success body is read (the specification caps responses at 4 MiB).
const MAX_SUCCESS_BODY: usize = 4 * 1024 * 1024;

/// Factory of the `otlphttp` exporter.
pub struct OtlpHttpExporterFactory;

impl ExporterFactory for OtlpHttpExporterFactory {
    type Config = OtlpHttpConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &OtlpHttpConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        let signal = ctx.signal.ok_or_else(|| BuildError::new("the otlphttp exporter is built for one signal"))?;
        let credentials = crate::transport::auth_headers(ctx, &config.auth)?;
        Ok(Arc::new(OtlpHttpExporter::new(&ctx.id.to_string(), signal, config, credentials)?))
    }
}

/// One signal's OTLP/HTTP client.
pub struct OtlpHttpExporter {
    /// Why `headers` cannot be sent, when one is not a valid HTTP header.
    unsendable: Option<String>,
    /// The component id, for log lines.
    id: String,
    signal: Signal,
    url: http::Uri,
    compression: Compression,
    encoding: Encoding,
    /// Every request's headers: `headers`, `User-Agent`, `Content-Type`, `Content-Encoding`.
    headers: HeaderMap,
    client: Client<Connector, Full<Bytes>>,
}

impl OtlpHttpExporter {
    /// Creates the client; connects on first use. `credentials` are the `auth` authenticator's
    /// headers.
    pub fn new(
        id: &str,
        signal: Signal,
        config: &OtlpHttpConfig,
        credentials: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<OtlpHttpExporter, BuildError> {
        let url = config.signal_url(signal).map_err(BuildError::new)?.ok_or_else(|| {
            BuildError::new(format!("no URL for {signal}: set endpoint or {signal}_endpoint", signal = signal.as_str()))
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        // A header HTTP cannot carry fails every export, as Go's client refuses such requests.
        let mut unsendable = None;
        for (k, v) in &config.headers {
            match (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                _ => {
                    let e = format!("headers: {k:?} is not a valid header (name or value)");
                    tracing::warn!(message = "A header cannot be sent over HTTP; every export will fail.", exporter = %id, error = %e);
                    unsendable = Some(e);
                }
            }
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(config.encoding.content_type()));
        if let Some(token) = config.compression.token() {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        for (name, value) in credentials {
            headers.insert(name, value);
        }
        let host = url.host().unwrap_or_default().to_string();
        let https = url.scheme_str() == Some("https");
        let mut connector = Connector::new(&host, https, config.tls.as_ref(), &[weir_core::tls::ALPN_HTTP1])
            .map_err(|e| BuildError::new(e.to_string()))?
            .with_buffer_sizes(config.read_buffer_size, config.write_buffer_size);
        if !config.timeout.is_zero() {
            connector = connector.with_connect_timeout(config.timeout);
        }
        Ok(OtlpHttpExporter {
            id: id.to_string(),
            signal,
            url,
            compression: config.compression,
            encoding: config.encoding,
            headers,
            unsendable,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The request body: encoded per `encoding`, then compressed.
    fn body(&self, payload: &Payload) -> Result<Bytes, Failure> {
        let encoded = match self.encoding {
            Encoding::Proto => payload.bytes().clone(),
            Encoding::Json => Bytes::from(
                json::encode(payload).map_err(|e| Failure::permanent(format!("cannot encode as OTLP/JSON: {e}")))?,
            ),
        };
        // The level gzip and zstd take when none is given (gzip 6, zstd 3), as this exporter
        // always has.
        let level = match self.compression {
            Compression::Gzip => Some(6),
            Compression::Zstd => Some(3),
            _ => None,
        };
        match self.compression {
            Compression::None => Ok(encoded),
            c => c
                .compress(&encoded, level)
                .map(Bytes::from)
                .map_err(|e| Failure::permanent(format!("cannot compress the body: {e}"))),
        }
    }
}

#[async_trait]
impl Exporter for OtlpHttpExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        if payload.is_empty() {
            return Ok(());
        }
        if let Some(e) = &self.unsendable {
            return Err(Failure::permanent(format!("invalid header field name: {e}")));
        }
        let mut request = http::Request::post(self.url.clone())
            .body(Full::new(self.body(&payload)?))
            .map_err(|e| Failure::permanent(format!("cannot build the request: {e}")))?;
        *request.headers_mut() = self.headers.clone();

        let response = self.client.request(request).await.map_err(|e| {
            Failure::retryable(format!("sending to {}: {}", self.url, weir_core::connect::error_chain(&e)))
        })?;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);

        if status.is_success() {
            match read_body(response.into_body(), MAX_SUCCESS_BODY).await {
                Ok(body) => self.check_partial_success(content_type.as_deref(), &body),
                // The server said 2xx: the data is delivered, whatever happened to the body.
                Err(e) => tracing::debug!(message = "Unreadable export response.", exporter = %self.id, error = %e),
            }
            return Ok(());
        }

        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| response::parse_retry_after(v, SystemTime::now()));
        let detail = match read_body(response.into_body(), response::MAX_ERROR_BODY).await {
            Ok(body) => response::error_detail(content_type.as_deref(), &body),
            Err(e) => format!("(body unreadable: {e})"),
        };
        let mut failure = response::failure_from_response(status, retry_after, &detail);
        failure.message = format!("sending to {}: {}", self.url, failure.message).into();
        Err(failure)
    }
}

impl OtlpHttpExporter {
    fn check_partial_success(&self, content_type: Option<&str>, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        let ps = if content_type.is_some_and(|c| c.starts_with("application/json")) {
            PartialSuccess::from_json(self.signal, body)
        } else {
            PartialSuccess::from_protobuf(body).ok().flatten()
        };
        if let Some(ps) = ps {
            ps.log(&self.id, self.signal);
        }
    }
}

/// Reads at most `limit` bytes of a body; the rest is left unread (the connection is then
/// not reused).
async fn read_body(mut body: Incoming, limit: usize) -> Result<Vec<u8>, hyper::Error> {
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(frame) = body.frame().await else { break };
        if let Ok(data) = frame?.into_data() {
            let take = data.len().min(limit - out.len());
            out.extend_from_slice(&data[..take]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
