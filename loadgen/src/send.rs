//! OTLP transports (gRPC and HTTP) and the concurrent, paced send loop with retries.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use weir_core::connect::Connector;
use weir_core::tls::{TlsClientSettings, ALPN_H2, ALPN_HTTP1};

use crate::generate::{now_unix_nanos, Signal};
use crate::pacer::Pacer;
use crate::pool::{Encoding, Pool};
use crate::stats::{progress_line, Stats};

/// OTLP transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC (protobuf over HTTP/2).
    Grpc,
    /// OTLP/HTTP with `application/x-protobuf` bodies.
    HttpProto,
    /// OTLP/HTTP with `application/json` bodies.
    HttpJson,
}

impl Protocol {
    /// Body encoding used by the protocol.
    pub fn encoding(self) -> Encoding {
        match self {
            Protocol::HttpJson => Encoding::Json,
            _ => Encoding::Protobuf,
        }
    }

    /// Name as given on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProto => "http-proto",
            Protocol::HttpJson => "http-json",
        }
    }

    /// Default receiver address for the protocol.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "127.0.0.1:4317",
            _ => "127.0.0.1:4318",
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip (`grpc-encoding` / `Content-Encoding: gzip`).
    Gzip,
    /// zstd (`grpc-encoding` / `Content-Encoding: zstd`).
    Zstd,
}

impl Compression {
    /// Name as given on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Compress `data` for an HTTP body (fast levels: the load generator should stay cheap).
pub fn compress(compression: Compression, data: &[u8]) -> std::io::Result<Bytes> {
    match compression {
        Compression::None => Ok(Bytes::copy_from_slice(data)),
        Compression::Gzip => {
            let mut enc =
                flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::fast());
            enc.write_all(data)?;
            Ok(Bytes::from(enc.finish()?))
        }
        Compression::Zstd => Ok(Bytes::from(zstd::bulk::compress(data, 1)?)),
    }
}

pub use weir_core::grpc::RawBytesCodec as RawCodec;

/// `ExportTraceServiceResponse`, `ExportLogsServiceResponse` and `ExportMetricsServiceResponse`
/// share one shape: field 1 is a partial-success message whose field 1 is the rejected count.
#[derive(Clone, PartialEq, Message)]
struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<PartialSuccess>,
}

#[derive(Clone, PartialEq, Message)]
struct PartialSuccess {
    #[prost(int64, tag = "1")]
    rejected: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// `google.rpc.Status`, carried in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    /// gRPC code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoAny {
    /// Type URL, e.g. `type.googleapis.com/google.rpc.RetryInfo`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// Encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct RetryInfo {
    /// How long to wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The server-requested retry delay from a gRPC status's `RetryInfo` detail, if any.
pub fn grpc_retry_delay(status: &Status) -> Option<Duration> {
    let details = RpcStatus::decode(status.details()).ok()?;
    let any = details.details.iter().find(|d| d.type_url.ends_with("google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(any.value.as_slice()).ok()?.retry_delay?;
    Some(Duration::new(delay.seconds.max(0) as u64, delay.nanos.clamp(0, 999_999_999) as u32))
}

/// Parse an HTTP `Retry-After` header given in seconds (HTTP dates are ignored).
pub fn http_retry_after(value: Option<&hyper::header::HeaderValue>) -> Option<Duration> {
    let secs: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Rejected-item count from an OTLP/JSON response body.
fn json_rejected(body: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return 0 };
    let Some(ps) = v.get("partialSuccess") else { return 0 };
    ["rejectedSpans", "rejectedLogRecords", "rejectedDataPoints"]
        .iter()
        .filter_map(|k| ps.get(*k))
        .filter_map(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok())))
        .sum()
}

/// Rejected-item count from a protobuf export response body.
fn proto_rejected(body: &[u8]) -> u64 {
    ExportResponse::decode(body).ok().and_then(|r| r.partial_success).map(|p| p.rejected.max(0) as u64).unwrap_or(0)
}

/// Result of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged; the receiver may have rejected some items (partial success).
    Ok {
        /// Items reported rejected.
        rejected: u64,
    },
    /// Retryable: back-pressure, unavailability, timeouts, connection errors.
    Retry {
        /// Server-requested delay, if given.
        after: Option<Duration>,
        /// Human-readable cause.
        reason: String,
    },
    /// Permanent failure.
    Fail(String),
}

/// Settings of a transport.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// `host:port` or URL.
    pub endpoint: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Signal, which selects the gRPC method / HTTP path.
    pub signal: Signal,
    /// Body compression.
    pub compression: Compression,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Expected number of concurrent requests (HTTP connection pool size).
    pub concurrency: usize,
    /// TLS: the PEM file of the CA that signed the receiver's certificate; `None` sends in
    /// plaintext.
    pub tls_ca: Option<std::path::PathBuf>,
}

/// A connected (lazily) OTLP client.
#[derive(Debug, Clone)]
pub enum Transport {
    /// OTLP/gRPC over one HTTP/2 connection.
    Grpc {
        /// tonic client.
        client: tonic::client::Grpc<Channel>,
        /// gRPC method path.
        path: hyper::http::uri::PathAndQuery,
        /// Per-attempt timeout.
        timeout: Duration,
    },
    /// OTLP/HTTP/1.1 over a pool of connections.
    Http {
        /// hyper client (boxed: with its TLS connector it is much larger than the gRPC one).
        client: Box<Client<Connector, Full<Bytes>>>,
        /// Full request URI.
        uri: Uri,
        /// Content type of bodies.
        encoding: Encoding,
        /// Body compression (applied by [`Transport::prepare`]).
        compression: Compression,
        /// Per-attempt timeout.
        timeout: Duration,
    },
}

fn with_scheme(endpoint: &str, scheme: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("{scheme}://{endpoint}")
    }
}

impl Transport {
    /// Build a client for `cfg`. Connections are made on first use.
    pub fn new(cfg: &TransportConfig) -> Result<Transport, String> {
        let scheme = if cfg.tls_ca.is_some() { "https" } else { "http" };
        let url = with_scheme(&cfg.endpoint, scheme);
        let tls = cfg.tls_ca.as_ref().map(|ca| TlsClientSettings { ca_file: Some(ca.clone()), ..Default::default() });
        let connector = |alpn: &[u8]| -> Result<Connector, String> {
            let uri: Uri = url.parse().map_err(|e| format!("invalid endpoint {url}: {e}"))?;
            let host = uri.host().unwrap_or_default();
            let c = Connector::new(host, tls.is_some(), tls.as_ref(), &[alpn]).map_err(|e| format!("--tls-ca: {e}"))?;
            Ok(c.with_connect_timeout(Duration::from_secs(5)))
        };
        match cfg.protocol {
            Protocol::Grpc => {
                let service = match cfg.signal {
                    Signal::Traces => "trace.v1.TraceService",
                    Signal::Logs => "logs.v1.LogsService",
                    Signal::Metrics => "metrics.v1.MetricsService",
                };
                let path = format!("/opentelemetry.proto.collector.{service}/Export");
                let endpoint = Endpoint::from_shared(url.clone())
                    .map_err(|e| format!("invalid endpoint {url}: {e}"))?
                    .connect_timeout(Duration::from_secs(5))
                    .tcp_nodelay(true);
                let mut client = tonic::client::Grpc::new(endpoint.connect_with_connector_lazy(connector(ALPN_H2)?))
                    .max_decoding_message_size(64 << 20)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd);
                client = match cfg.compression {
                    Compression::None => client,
                    Compression::Gzip => client.send_compressed(CompressionEncoding::Gzip),
                    Compression::Zstd => client.send_compressed(CompressionEncoding::Zstd),
                };
                let path = hyper::http::uri::PathAndQuery::try_from(path).map_err(|e| e.to_string())?;
                Ok(Transport::Grpc { client, path, timeout: cfg.timeout })
            }
            Protocol::HttpProto | Protocol::HttpJson => {
                let base: Uri = url.parse().map_err(|e| format!("invalid endpoint {url}: {e}"))?;
                let uri: Uri = if base.path().is_empty() || base.path() == "/" {
                    format!("{}/v1/{}", url.trim_end_matches('/'), cfg.signal.as_str())
                        .parse()
                        .map_err(|e| format!("invalid endpoint {url}: {e}"))?
                } else {
                    base
                };
                if uri.scheme_str() != Some(scheme) {
                    return Err(format!("expected a {scheme}:// endpoint (--tls-ca decides), got {uri}"));
                }
                let client = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(cfg.concurrency.max(1))
                    .build(connector(ALPN_HTTP1)?);
                Ok(Transport::Http {
                    client: Box::new(client),
                    uri,
                    encoding: cfg.protocol.encoding(),
                    compression: cfg.compression,
                    timeout: cfg.timeout,
                })
            }
        }
    }

    /// Turn a rendered body into what goes on the wire (HTTP bodies are compressed here;
    /// gRPC compression is done by tonic per message).
    pub fn prepare(&self, body: Bytes) -> Bytes {
        match self {
            Transport::Http { compression, .. } if *compression != Compression::None => {
                compress(*compression, &body).unwrap_or(body)
            }
            _ => body,
        }
    }

    /// One attempt at sending `body`.
    pub async fn send(&self, body: Bytes) -> Outcome {
        match self {
            Transport::Grpc { client, path, timeout } => {
                let mut client = client.clone();
                let attempt = async {
                    client.ready().await.map_err(|e| Status::unavailable(format!("connect: {e}")))?;
                    let mut request = tonic::Request::new(body);
                    request.set_timeout(*timeout);
                    client.unary::<Bytes, Bytes, _>(request, path.clone(), RawCodec).await
                };
                match tokio::time::timeout(*timeout, attempt).await {
                    Err(_) => Outcome::Retry { after: None, reason: "timeout".into() },
                    Ok(Ok(response)) => Outcome::Ok { rejected: proto_rejected(response.get_ref()) },
                    Ok(Err(status)) => {
                        let reason = format!("gRPC {:?}: {}", status.code(), status.message());
                        match status.code() {
                            Code::Unavailable
                            | Code::ResourceExhausted
                            | Code::DeadlineExceeded
                            | Code::Aborted
                            | Code::Cancelled
                            | Code::OutOfRange
                            | Code::DataLoss => Outcome::Retry { after: grpc_retry_delay(&status), reason },
                            _ => Outcome::Fail(reason),
                        }
                    }
                }
            }
            Transport::Http { client, uri, encoding, compression, timeout } => {
                let content_type = match encoding {
                    Encoding::Protobuf => "application/x-protobuf",
                    Encoding::Json => "application/json",
                };
                let mut builder = hyper::Request::post(uri.clone()).header(CONTENT_TYPE, content_type);
                if *compression != Compression::None {
                    builder = builder.header(CONTENT_ENCODING, compression.as_str());
                }
                let request = match builder.body(Full::new(body)) {
                    Ok(r) => r,
                    Err(e) => return Outcome::Fail(format!("building request: {e}")),
                };
                let attempt = async {
                    let response = client.request(request).await?;
                    let status = response.status();
                    let retry_after = http_retry_after(response.headers().get(RETRY_AFTER));
                    let body = response.into_body().collect().await?.to_bytes();
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, retry_after, body))
                };
                match tokio::time::timeout(*timeout, attempt).await {
                    Err(_) => Outcome::Retry { after: None, reason: "timeout".into() },
                    Ok(Err(e)) => {
                        Outcome::Retry { after: None, reason: format!("HTTP transport: {}", error_chain(&*e)) }
                    }
                    Ok(Ok((status, retry_after, body))) => {
                        if status.is_success() {
                            let rejected = match encoding {
                                Encoding::Protobuf => proto_rejected(&body),
                                Encoding::Json => json_rejected(&body),
                            };
                            return Outcome::Ok { rejected };
                        }
                        let snippet = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
                        let reason = format!("HTTP {}: {snippet}", status.as_u16());
                        match status.as_u16() {
                            429 | 502 | 503 | 504 => Outcome::Retry { after: retry_after, reason },
                            _ => Outcome::Fail(reason),
                        }
                    }
                }
            }
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s += &format!(": {inner}");
        cur = inner.source();
    }
    s
}

/// How a run is driven.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Concurrent in-flight requests (workers).
    pub concurrency: usize,
    /// Target items per second; 0 = as fast as possible.
    pub rate: f64,
    /// Stop issuing requests after this long.
    pub duration: Option<Duration>,
    /// Stop after this many requests (the last one may be the pool's smaller tail entry).
    pub total_requests: Option<u64>,
    /// Retries of a retryable failure before giving up.
    pub max_retries: u32,
    /// Delay before a retry when the receiver gives none.
    pub retry_delay: Duration,
    /// Print a progress line to stderr this often.
    pub report_interval: Option<Duration>,
    /// Items per full request (token-bucket burst size).
    pub batch_size: usize,
}

/// Longest server-requested retry delay honoured.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Send requests from `pool` until the configured total or duration is reached (or `stop` is
/// set), recording outcomes in `stats`. Returns the elapsed sending time.
pub async fn run(
    transport: Arc<Transport>,
    pool: Arc<Pool>,
    cfg: RunConfig,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> Duration {
    let start = Instant::now();
    let deadline = cfg.duration.map(|d| start + d);
    let pacer = Arc::new(Pacer::new(cfg.rate, cfg.batch_size));
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::with_capacity(cfg.concurrency);
    for _ in 0..cfg.concurrency.max(1) {
        let (transport, pool, stats, stop, pacer, next, cfg) =
            (transport.clone(), pool.clone(), stats.clone(), stop.clone(), pacer.clone(), next.clone(), cfg.clone());
        workers.push(tokio::spawn(async move {
            worker(&transport, &pool, &cfg, &stats, &stop, &pacer, &next, deadline).await;
        }));
    }
    let reporter = cfg.report_interval.filter(|d| !d.is_zero()).map(|every| {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = Instant::now();
            loop {
                ticker.tick().await;
                let now = Instant::now();
                let interval = stats.take_interval();
                eprintln!("{}", progress_line(now - start, now - last, &interval));
                last = now;
            }
        })
    });
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed();
    if let Some(r) = reporter {
        r.abort();
    }
    elapsed
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    transport: &Transport,
    pool: &Pool,
    cfg: &RunConfig,
    stats: &Stats,
    stop: &AtomicBool,
    pacer: &Pacer,
    next: &AtomicU64,
    deadline: Option<Instant>,
) {
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if cfg.total_requests.is_some_and(|n| seq >= n) {
            return;
        }
        let last = cfg.total_requests.is_some_and(|n| seq + 1 == n);
        let payload = pool.payload(seq, last);
        let wait = pacer.delay(payload.meta.items);
        if !wait.is_zero() {
            if deadline.is_some_and(|d| Instant::now() + wait > d) {
                return;
            }
            tokio::time::sleep(wait).await;
        }
        let body = transport.prepare(pool.render(payload, seq, now_unix_nanos()));
        let mut retries = 0;
        loop {
            let started = Instant::now();
            match transport.send(body.clone()).await {
                Outcome::Ok { rejected } => {
                    stats.success(&payload.meta, rejected, body.len(), started.elapsed());
                    break;
                }
                Outcome::Retry { after, reason } => {
                    stats.refused(&reason);
                    if retries >= cfg.max_retries || stop.load(Ordering::Relaxed) {
                        stats.failed(&payload.meta, &format!("gave up after {retries} retries: {reason}"));
                        break;
                    }
                    retries += 1;
                    tokio::time::sleep(after.unwrap_or(cfg.retry_delay).min(MAX_RETRY_DELAY)).await;
                }
                Outcome::Fail(reason) => {
                    stats.failed(&payload.meta, &reason);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
