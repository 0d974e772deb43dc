//! OTLP/HTTP: `POST` of a protobuf or JSON `Export*ServiceRequest` to one path per signal.
//!
//! Each request goes through the Collector's checks in order (`otlphttp.go`, `confighttp`):
//!
//! - with `cors`, a browser's preflight (`OPTIONS` with `Access-Control-Request-Method`) is
//!   answered at once, before `auth` (browsers send no credentials with it), and answers to
//!   requests from an allowed `Origin` carry the CORS headers ([`Cors`]);
//! 0. with `auth`, the request carries the token, else 401 (before anything else is looked at);
//! 1. the path names a signal some pipeline takes from this receiver, else 404;
//! 2. the method is `POST`, else 405;
//! 3. `Content-Type` is `application/x-protobuf` or `application/json` (parameters ignored),
//!    else 415; the response uses the same content type as the request;
//! 4. `Content-Encoding` is gzip, zstd or identity, else 400;
//! 5. the body, as sent, fits `max_request_body_size`, else 413 (checked on `Content-Length`
//!    before reading, and while reading chunked bodies);
//! 6. it decompresses to at most `max_request_body_size` bytes, else 413 — the decoder stops
//!    there, so a decompression bomb costs at most that much memory;
//! 7. it is a well-formed request, else 400;
//! 8. the pipelines take it: 200 with an empty response, or 503 (+ `Retry-After`) / 500.
//!
//! Errors from step 4 on carry a `google.rpc.Status` body in the request's format.

use super::status::{retry_after_secs, ExportError};
use super::OtlpContext;
use crate::decompress::{self, DecompressError, Encoding};
use crate::server::{client_of, serve_http, BadInput};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, RETRY_AFTER, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use weir_core::auth::ServerAuthenticator;
use weir_core::listener::Connections;
use weir_core::{ClientMetadata, Consumer, Payload, Signal};

/// The transport label of this server's metrics.
const TRANSPORT: &str = "http";

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Bodies at most this large are decoded on the request's task; larger ones (decompression and
/// JSON parsing of up to `max_request_body_size` bytes take milliseconds) on the blocking pool,
/// so they do not hold up the other connections served by the same worker thread.
const INLINE_DECODE_MAX: usize = 256 * 1024;

/// The serialization of a request, and of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// Reads a `Content-Type`, ignoring its parameters (`; charset=utf-8`).
    fn from_content_type(value: &str) -> Option<Format> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case(PROTOBUF) {
            Some(Format::Protobuf)
        } else if media.eq_ignore_ascii_case(JSON) {
            Some(Format::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        }
    }
}

/// What the HTTP server needs: the receiver, and which path serves which signal.
pub(crate) struct HttpExport {
    ctx: Arc<OtlpContext>,
    /// (path, consumer) for each signal some pipeline takes from this receiver.
    routes: Vec<(String, Consumer)>,
    max_body: usize,
    /// `auth`: the authenticator every request must pass.
    authenticator: Option<Arc<dyn ServerAuthenticator>>,
    /// `cors`, when it allows any origin.
    cors: Option<Cors>,
    /// `include_metadata`: keep the request's headers with its data.
    include_metadata: bool,
    /// Unreadable requests: counted and logged (rate-limited) with the client's address.
    bad: BadInput,
}

impl HttpExport {
    pub(crate) fn new(
        ctx: Arc<OtlpContext>,
        paths: [(Signal, String); 3],
        max_body: usize,
        authenticator: Option<Arc<dyn ServerAuthenticator>>,
        cors: Option<Cors>,
        include_metadata: bool,
    ) -> Self {
        let routes =
            paths.into_iter().filter_map(|(signal, path)| Some((path, ctx.consumers.get(signal)?.clone()))).collect();
        let bad = BadInput::new(&ctx.id, TRANSPORT);
        HttpExport { ctx, routes, max_body, authenticator, cors, include_metadata, bad }
    }
}

/// The headers always allowed in cross-origin requests (rs/cors 1.11, as the Collector's
/// `confighttp` documents them).
const CORS_SAFE_HEADERS: [&str; 4] = ["accept", "accept-language", "content-type", "content-language"];

/// `cors`: the answers rs/cors (with `AllowCredentials: true`, as `confighttp` sets it) gives.
pub(crate) struct Cors {
    any_origin: bool,
    /// Lower-cased exact origins.
    origins: Vec<String>,
    /// Lower-cased (prefix, suffix) around an origin's one `*`.
    wildcards: Vec<(String, String)>,
    any_header: bool,
    /// Lower-cased allowed request headers.
    headers: Vec<String>,
    exposed: Option<HeaderValue>,
    max_age: i64,
}

impl Cors {
    /// `None` when no origin is allowed: the Collector then leaves CORS off (and warns when
    /// `allowed_headers` was set).
    pub(crate) fn new(c: &super::CorsConfig) -> Option<Cors> {
        if c.allowed_origins.is_empty() {
            if !c.allowed_headers.is_empty() {
                tracing::warn!(message = "The CORS configuration specifies allowed headers but no allowed origins, and is therefore ignored.");
            }
            return None;
        }
        let mut cors = Cors {
            any_origin: false,
            origins: Vec::new(),
            wildcards: Vec::new(),
            any_header: c.allowed_headers.iter().any(|h| h == "*"),
            headers: CORS_SAFE_HEADERS.iter().map(|h| h.to_string()).collect(),
            exposed: None,
            max_age: c.max_age,
        };
        for o in &c.allowed_origins {
            let o = o.to_ascii_lowercase();
            if o == "*" {
                cors.any_origin = true;
            } else if let Some((prefix, suffix)) = o.split_once('*') {
                cors.wildcards.push((prefix.to_string(), suffix.to_string()));
            } else {
                cors.origins.push(o);
            }
        }
        if c.allowed_headers.is_empty() {
            cors.headers.push("x-requested-with".into());
        }
        cors.headers.extend(c.allowed_headers.iter().map(|h| h.to_ascii_lowercase()));
        if !c.exposed_headers.is_empty() {
            cors.exposed = HeaderValue::from_str(&c.exposed_headers.join(", ")).ok();
        }
        Some(cors)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.any_origin {
            return true;
        }
        let origin = origin.to_ascii_lowercase();
        self.origins.contains(&origin)
            || self.wildcards.iter().any(|(p, s)| {
                origin.len() >= p.len() + s.len() && origin.starts_with(p.as_str()) && origin.ends_with(s.as_str())
            })
    }

    /// rs/cors' default methods: the simple ones.
    fn method_allowed(method: &str) -> bool {
        matches!(method.to_ascii_uppercase().as_str(), "GET" | "POST" | "HEAD" | "OPTIONS")
    }

    /// Answers a preflight request: 204, with the permissions only when origin, method and
    /// headers are all allowed (the browser then refuses the real request).
    fn preflight(&self, req: &HeaderMap) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(
            VARY,
            HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        );
        let Some(origin) = req.get(ORIGIN).filter(|o| o.to_str().is_ok_and(|o| self.origin_allowed(o))) else {
            return response;
        };
        let method = header(req, ACCESS_CONTROL_REQUEST_METHOD).unwrap_or("");
        if !Self::method_allowed(method) {
            return response;
        }
        let requested = req.get(ACCESS_CONTROL_REQUEST_HEADERS);
        let names = requested.and_then(|v| v.to_str().ok()).unwrap_or("");
        let headers_ok = self.any_header
            || names
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .all(|n| self.headers.contains(&n));
        if !headers_ok {
            return response;
        }
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if let Ok(m) = HeaderValue::from_str(&method.to_ascii_uppercase()) {
            h.insert(ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        if let Some(requested) = requested.filter(|_| !names.trim().is_empty()) {
            h.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        h.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        if self.max_age != 0 {
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(self.max_age.max(0)));
        }
        response
    }

    /// Adds the CORS headers to the answer of a request from an allowed origin.
    fn decorate(&self, origin: Option<&HeaderValue>, method: &Method, response: &mut Response) {
        let h = response.headers_mut();
        h.append(VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| self.origin_allowed(o))) else { return };
        if !Self::method_allowed(method.as_str()) {
            return;
        }
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if let Some(e) = &self.exposed {
            h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
        h.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

/// Serves HTTP on `connections` until `shutdown`, then lets the requests in flight finish.
pub(crate) async fn serve(connections: Connections, export: HttpExport, shutdown: CancellationToken) {
    let receiver = export.ctx.id.clone();
    let app = axum::Router::new().fallback(handle).with_state(Arc::new(export));
    match serve_http(connections, app, shutdown).await {
        Ok(()) => tracing::debug!(message = "HTTP server stopped.", %receiver),
        Err(e) => tracing::error!(message = "HTTP server failed.", %receiver, error = %e),
    }
}

/// Every request: CORS first (as the Collector's outermost middleware), then [`route`].
async fn handle(State(export): State<Arc<HttpExport>>, req: Request) -> Response {
    let Some(cors) = &export.cors else { return route(&export, req).await };
    if req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
        return cors.preflight(req.headers());
    }
    let origin = req.headers().get(ORIGIN).cloned();
    let method = req.method().clone();
    let mut response = route(&export, req).await;
    cors.decorate(origin.as_ref(), &method, &mut response);
    response
}

/// Routed by exact path (the paths are user input, so they are compared as strings rather
/// than handed to a router's pattern syntax).
async fn route(export: &HttpExport, req: Request) -> Response {
    // As the Collector's auth middleware: before routing, and before the body is read.
    if let Some(auth) = &export.authenticator {
        if let Err(e) = auth.authenticate(req.headers()) {
            tracing::debug!(message = "Refused an unauthenticated HTTP request.", receiver = %export.ctx.id, error = %e);
            return text(StatusCode::UNAUTHORIZED, &format!("401 unauthorized: {e}"));
        }
    }
    let Some((_, consumer)) = export.routes.iter().find(|(p, _)| p == req.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed, supported: [POST]");
    }
    let Some(format) = header(req.headers(), CONTENT_TYPE).and_then(Format::from_content_type) else {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("415 unsupported media type, supported: [{JSON}, {PROTOBUF}]"),
        );
    };
    match export_request(export, consumer, format, req).await {
        Ok(()) => success(format),
        Err(e) => error(format, &e),
    }
}

/// Steps 4 to 8: read, decode and hand over one request.
async fn export_request(
    export: &HttpExport,
    consumer: &Consumer,
    format: Format,
    req: Request,
) -> Result<(), ExportError> {
    let signal = consumer.signal();
    let client = client_of(req.extensions());
    let unreadable = |e: ExportError| {
        consumer.metrics().failed(TRANSPORT, 0);
        export.bad.record(client, &format_args!("{signal} request: {e}"));
        e
    };
    let encoding =
        Encoding::from_header(header(req.headers(), CONTENT_ENCODING)).map_err(|e| unreadable(decompress_error(e)))?;
    let metadata = export.include_metadata.then(|| Arc::new(ClientMetadata::from_headers(req.headers())));
    let body = read_body(req, export.max_body).await.map_err(unreadable)?;
    let limit = export.max_body;
    let payload = if body.len() <= INLINE_DECODE_MAX {
        decode(signal, format, encoding, body, limit)
    } else {
        tokio::task::spawn_blocking(move || decode(signal, format, encoding, body, limit)).await.map_err(|e| {
            ExportError::Refused(weir_core::Failure::permanent(format!("decoding the request failed: {e}")))
        })?
    }
    .map_err(unreadable)?;
    consumer.consume_with_metadata(payload, metadata, TRANSPORT, export.ctx.wait_for_result).await.map_err(|f| {
        tracing::debug!(message = "Pipeline refused an HTTP request.", %signal, error = %f, retryable = f.retryable);
        ExportError::Refused(f)
    })
}

/// Reads the body as sent and decompresses it per `Content-Encoding`, both bounded by `limit`
/// (steps 4 to 6, for the receivers that share this server's manners).
pub(crate) async fn read_decoded_body(req: Request, limit: usize) -> Result<Bytes, ExportError> {
    let encoding = Encoding::from_header(header(req.headers(), CONTENT_ENCODING)).map_err(decompress_error)?;
    let body = read_body(req, limit).await?;
    if body.len() <= INLINE_DECODE_MAX {
        return decompress::decompress(encoding, body, limit).map_err(decompress_error);
    }
    tokio::task::spawn_blocking(move || decompress::decompress(encoding, body, limit))
        .await
        .map_err(|e| {
            ExportError::Refused(weir_core::Failure::permanent(format!("decompressing the request failed: {e}")))
        })?
        .map_err(decompress_error)
}

/// Reads the body as sent, refusing it once it passes `limit` bytes.
async fn read_body(req: Request, limit: usize) -> Result<Bytes, ExportError> {
    let too_large = || ExportError::TooLarge(format!("the request body exceeds max_request_body_size ({limit} bytes)"));
    let declared = header(req.headers(), CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ExportError::BadRequest(format!("failed to read the request body: {e}"))),
    }
}

/// Steps 6 and 7: decompress and parse, into a payload of protobuf bytes.
fn decode(
    signal: Signal,
    format: Format,
    encoding: Encoding,
    body: Bytes,
    limit: usize,
) -> Result<Payload, ExportError> {
    let raw = decompress::decompress(encoding, body, limit).map_err(decompress_error)?;
    match format {
        Format::Protobuf => Payload::new(signal, raw)
            .map_err(|e| ExportError::BadRequest(format!("invalid OTLP protobuf {signal} request: {e}"))),
        Format::Json => weir_core::pdata::json::decode(signal, &raw)
            .map_err(|e| ExportError::BadRequest(format!("{e} (in a {signal} request)"))),
    }
}

fn decompress_error(e: DecompressError) -> ExportError {
    match e {
        DecompressError::TooLarge { limit } => ExportError::TooLarge(format!(
            "the decompressed request body exceeds max_request_body_size ({limit} bytes)"
        )),
        e @ (DecompressError::Unsupported(_) | DecompressError::Corrupt { .. }) => {
            ExportError::BadRequest(e.to_string())
        }
    }
}

fn header(headers: &HeaderMap, name: http::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A plain-text answer, as Go's `http.Error` writes it.
fn text(status: StatusCode, message: &str) -> Response {
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

/// 200 with an empty `Export*ServiceResponse`.
fn success(format: Format) -> Response {
    let body = match format {
        Format::Protobuf => Body::empty(),
        Format::Json => Body::from("{}"),
    };
    (StatusCode::OK, [(CONTENT_TYPE, format.content_type())], body).into_response()
}

/// The error status with a `google.rpc.Status` body, and `Retry-After` when there is a delay.
fn error(format: Format, e: &ExportError) -> Response {
    let body = match format {
        Format::Protobuf => Body::from(e.rpc_status().encode_to_vec()),
        Format::Json => Body::from(e.to_json()),
    };
    let mut response = (e.http_status(), [(CONTENT_TYPE, format.content_type())], body).into_response();
    if let Some(delay) = e.retry_after() {
        response.headers_mut().insert(RETRY_AFTER, http::HeaderValue::from(retry_after_secs(delay)));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_are_ignored() {
        assert_eq!(Format::from_content_type("application/x-protobuf"), Some(Format::Protobuf));
        assert_eq!(Format::from_content_type("application/json; charset=utf-8"), Some(Format::Json));
        assert_eq!(Format::from_content_type("Application/JSON"), Some(Format::Json));
        assert_eq!(Format::from_content_type("text/plain"), None);
        assert_eq!(Format::from_content_type(""), None);
    }
}
