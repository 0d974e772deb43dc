//! End-to-end tests: a real weir service (loaded from YAML, started by the runtime) with the
//! `otlp` receiver and a recording exporter, driven by a real tonic client and a real hyper
//! client over loopback.

use super::grpc::{RawCodec, LOGS_PATH, METRICS_PATH, TRACES_PATH};
use super::status::{RetryInfo, RpcStatus};
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde::Deserialize;
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::Code;
use weir_core::exporterhelper::{ExporterConfig, ExporterSettings, QueueConfig, RetryConfig};
use weir_core::runtime::Service;
use weir_core::Signal;
use weir_core::{BuildContext, BuildError, ComponentConfig, Exporter, ExporterFactory, Failure, Payload, Registry};

// ---------------------------------------------------------------------------------------------
// A recording exporter.

type Received = Arc<Mutex<Vec<Payload>>>;

/// The client metadata of every export (with `include_metadata`).
type SeenMetadata = Arc<Mutex<Vec<Option<weir_core::ClientMetadata>>>>;

/// `exporters::recording`: keeps every payload; can be told to fail.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RecordingConfig {
    /// `retryable` or `permanent` makes every export fail so; empty succeeds.
    fail: String,
    /// Retry delay hint, in seconds, attached to retryable failures; 0 for none.
    retry_after_secs: u64,
}

impl ComponentConfig for RecordingConfig {}

impl ExporterConfig for RecordingConfig {
    /// No retries, and acknowledge only once exported, so `wait_for_result` sees the outcome.
    fn exporter_settings(&self) -> ExporterSettings {
        ExporterSettings {
            retry: RetryConfig { enabled: false, ..RetryConfig::default() },
            queue: QueueConfig { wait_for_result: true, ..QueueConfig::default() },
            ..ExporterSettings::default()
        }
    }
}

struct RecordingFactory(Received, SeenMetadata);

impl ExporterFactory for RecordingFactory {
    type Config = RecordingConfig;

    fn type_name(&self) -> &'static str {
        "recording"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, _ctx: &BuildContext, config: &RecordingConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(Recording { received: self.0.clone(), metadata: self.1.clone(), config: config.clone() }))
    }
}

struct Recording {
    received: Received,
    metadata: SeenMetadata,
    config: RecordingConfig,
}

#[async_trait]
impl Exporter for Recording {
    async fn export_with_metadata(
        &self,
        payload: Payload,
        metadata: Option<&weir_core::ClientMetadata>,
    ) -> Result<(), Failure> {
        self.metadata.lock().expect("no test panics while holding the lock").push(metadata.cloned());
        self.export(payload).await
    }

    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        match self.config.fail.as_str() {
            "retryable" => {
                let f = Failure::retryable("the backend is down");
                Err(match self.config.retry_after_secs {
                    0 => f,
                    s => f.with_retry_after(Duration::from_secs(s)),
                })
            }
            "permanent" => Err(Failure::permanent("the backend rejected the data")),
            _ => {
                self.received.lock().expect("no test panics while holding the lock").push(payload);
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The service under test.

/// A started service and where to reach its receiver.
struct Harness {
    service: Service,
    received: Received,
    metadata: SeenMetadata,
    grpc: String,
    http: String,
}

/// Receiver settings with both protocols on free loopback ports (`GRPC_PORT`, `HTTP_PORT`),
/// answering once exported.
const BOTH: &str = "
    wait_for_result: true
    protocols:
      grpc:
        endpoint: 127.0.0.1:GRPC_PORT
      http:
        endpoint: 127.0.0.1:HTTP_PORT
";

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback is available");
    l.local_addr().expect("a bound socket has an address").port()
}

impl Harness {
    /// Starts `receivers::otlp/<name>` with `receiver` settings, the recording exporter with
    /// `exporter` settings, and one pipeline per signal in `signals`.
    async fn start(name: &str, receiver: &str, exporter: &str, signals: &[&str]) -> Harness {
        let (grpc_port, http_port) = (free_port(), free_port());
        let receiver =
            receiver.replace("GRPC_PORT", &grpc_port.to_string()).replace("HTTP_PORT", &http_port.to_string());
        let mut yaml = format!("receivers:\n  otlp/{name}:\n{receiver}\nexporters:\n  recording:\n{exporter}\n");
        yaml.push_str("service:\n  pipelines:\n");
        for s in signals {
            yaml.push_str(&format!("    {s}:\n      receivers: [otlp/{name}]\n      exporters: [recording]\n"));
        }
        let received = Received::default();
        let metadata = SeenMetadata::default();
        let mut registry = Registry::new();
        crate::register(&mut registry);
        registry.add_exporter(RecordingFactory(received.clone(), metadata.clone()));
        let config = weir_core::config::load_str("test.yaml", &yaml, &registry, &|_| None)
            .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n{yaml}"));
        let service = Service::start(&config, &registry, Default::default()).await.expect("the service starts");
        Harness {
            service,
            received,
            metadata,
            grpc: format!("http://127.0.0.1:{grpc_port}"),
            http: format!("http://127.0.0.1:{http_port}"),
        }
    }

    async fn all_signals(name: &str) -> Harness {
        Harness::start(name, BOTH, "", &["traces", "metrics", "logs"]).await
    }

    fn received(&self) -> Vec<Payload> {
        self.received.lock().expect("no test panics while holding the lock").clone()
    }

    async fn stop(self) {
        self.service.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Test data.

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource { attributes: vec![attribute("service.name", "checkout")], ..Default::default() })
}

fn traces(spans: usize) -> ExportTraceServiceRequest {
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![i as u8 + 1; 8],
            name: format!("GET /cart/{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_500_000_000,
            attributes: vec![attribute("http.method", "GET")],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn metrics() -> ExportMetricsServiceRequest {
    let point = |v: f64| NumberDataPoint {
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let metric = Metric {
        name: "queue.depth".into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: vec![point(1.0), point(2.0)] })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics { metrics: vec![metric], ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn logs() -> ExportLogsServiceRequest {
    let record = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        severity_text: "ERROR".into(),
        body: Some(AnyValue { value: Some(any_value::Value::StringValue("payment declined".into())) }),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs { log_records: vec![record], ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// An encoded request of each signal, with its gRPC path, HTTP path and item count.
fn one_of_each() -> [(Signal, Bytes, &'static str, &'static str, usize); 3] {
    [
        (Signal::Traces, traces(3).encode_to_vec().into(), TRACES_PATH, "/v1/traces", 3),
        (Signal::Metrics, metrics().encode_to_vec().into(), METRICS_PATH, "/v1/metrics", 2),
        (Signal::Logs, logs().encode_to_vec().into(), LOGS_PATH, "/v1/logs", 1),
    ]
}

/// Bytes that are not a valid request: a field claiming 5 bytes when 3 remain.
const MALFORMED: &[u8] = b"\x0a\x05abc";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("compressing from a slice cannot fail")
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// A connected tonic client sending raw request bytes.
struct GrpcClient(tonic::client::Grpc<tonic::transport::Channel>);

impl GrpcClient {
    async fn connect(url: &str) -> GrpcClient {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())
            .expect("a valid url")
            .connect()
            .await
            .expect("the gRPC server accepts connections");
        GrpcClient(tonic::client::Grpc::new(channel))
    }

    fn compressed(mut self, encoding: CompressionEncoding) -> GrpcClient {
        self.0 = self.0.send_compressed(encoding);
        self
    }

    async fn export(&mut self, path: &'static str, body: Bytes) -> Result<Bytes, tonic::Status> {
        self.0.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static(path);
        self.0.unary(tonic::Request::new(body), path, RawCodec).await.map(tonic::Response::into_inner)
    }
}

type TestBody = BoxBody<Bytes, Infallible>;

fn full(body: impl Into<Bytes>) -> TestBody {
    Full::new(body.into()).boxed()
}

/// A body sent with `Transfer-Encoding: chunked` (no length known up front).
fn chunked(chunks: Vec<Bytes>) -> TestBody {
    let frames = futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, Infallible>(Frame::data(c))));
    StreamBody::new(frames).boxed()
}

struct HttpResponse {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl HttpResponse {
    fn content_type(&self) -> &str {
        self.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `google.rpc.Status` in a protobuf error body.
    fn rpc_status(&self) -> RpcStatus {
        RpcStatus::decode(self.body.clone()).expect("a google.rpc.Status body")
    }
}

async fn http_request(method: &str, url: &str, headers: &[(&str, &str)], body: TestBody) -> HttpResponse {
    let client = Client::builder(TokioExecutor::new()).build_http::<TestBody>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = client.request(req.body(body).expect("a valid request")).await.expect("the HTTP server answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the response body is readable").to_bytes();
    HttpResponse { status: parts.status.as_u16(), headers: parts.headers, body }
}

async fn post_protobuf(url: &str, body: impl Into<Bytes>) -> HttpResponse {
    http_request("POST", url, &[("content-type", "application/x-protobuf")], full(body)).await
}

// ---------------------------------------------------------------------------------------------
// gRPC.

#[tokio::test]
async fn grpc_delivers_every_signal_byte_for_byte() {
    let h = Harness::all_signals("grpc_signals").await;
    let mut client = GrpcClient::connect(&h.grpc).await;
    for (signal, body, path, _, items) in one_of_each() {
        let response = client.export(path, body.clone()).await.expect("the export succeeds");
        assert!(response.is_empty(), "an empty Export{signal}ServiceResponse");
        let last = h.received().pop().expect("the exporter received the payload");
        assert_eq!(last.signal(), signal);
        assert_eq!(last.items(), items);
        assert_eq!(last.bytes(), &body, "{signal} bytes are forwarded untouched");
    }
    h.stop().await;
}

#[tokio::test]
async fn grpc_gzip_and_zstd_requests_are_decompressed() {
    let h = Harness::all_signals("grpc_compressed").await;
    let body: Bytes = traces(5).encode_to_vec().into();
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut client = GrpcClient::connect(&h.grpc).await.compressed(encoding);
        client.export(TRACES_PATH, body.clone()).await.expect("the compressed export succeeds");
        assert_eq!(h.received().pop().expect("received").bytes(), &body);
    }
    h.stop().await;
}

#[tokio::test]
async fn grpc_malformed_protobuf_is_invalid_argument_and_the_server_keeps_serving() {
    let h = Harness::all_signals("grpc_malformed").await;
    let mut client = GrpcClient::connect(&h.grpc).await;
    let err = client.export(TRACES_PATH, Bytes::from_static(MALFORMED)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("invalid OTLP protobuf traces request"), "{}", err.message());
    assert!(h.received().is_empty());

    // The same connection, and a new one, are still served.
    let body: Bytes = traces(1).encode_to_vec().into();
    client.export(TRACES_PATH, body.clone()).await.expect("the next request succeeds");
    GrpcClient::connect(&h.grpc).await.export(TRACES_PATH, body).await.expect("a new connection is served");
    assert_eq!(h.received().len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn grpc_oversized_messages_are_resource_exhausted() {
    let receiver = "
    protocols:
      grpc:
        endpoint: 127.0.0.1:GRPC_PORT
        max_recv_msg_size_mib: 1
";
    let h = Harness::start("grpc_oversized", receiver, "", &["traces"]).await;
    let big = Bytes::from(vec![0u8; (1 << 20) + 1]);
    let err = GrpcClient::connect(&h.grpc).await.export(TRACES_PATH, big.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("max_recv_msg_size_mib"), "{}", err.message());
    // A few kilobytes of gzip that inflate past the limit are stopped too.
    let mut client = GrpcClient::connect(&h.grpc).await.compressed(CompressionEncoding::Gzip);
    let err = client.export(TRACES_PATH, big).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(h.received().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn grpc_signal_without_pipeline_is_unimplemented() {
    let h = Harness::start("grpc_unused", BOTH, "", &["traces"]).await;
    let mut client = GrpcClient::connect(&h.grpc).await;
    let err = client.export(LOGS_PATH, logs().encode_to_vec().into()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    client.export(TRACES_PATH, traces(1).encode_to_vec().into()).await.expect("traces are served");
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// HTTP.

#[tokio::test]
async fn http_protobuf_delivers_every_signal_byte_for_byte() {
    let h = Harness::all_signals("http_signals").await;
    for (signal, body, _, path, items) in one_of_each() {
        let r = post_protobuf(&format!("{}{path}", h.http), body.clone()).await;
        assert_eq!(r.status, 200, "{signal}: {}", r.text());
        assert_eq!(r.content_type(), "application/x-protobuf");
        assert!(r.body.is_empty(), "an empty Export{signal}ServiceResponse");
        let last = h.received().pop().expect("the exporter received the payload");
        assert_eq!((last.signal(), last.items()), (signal, items));
        assert_eq!(last.bytes(), &body, "{signal} bytes are forwarded untouched");
    }
    h.stop().await;
}

#[tokio::test]
async fn http_json_is_converted_to_protobuf() {
    let h = Harness::all_signals("http_json").await;
    let request = traces(2);
    let json = serde_json::to_vec(&request).expect("OTLP requests serialize to JSON");
    let url = format!("{}/v1/traces", h.http);
    let r = http_request("POST", &url, &[("content-type", "application/json; charset=utf-8")], full(json)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type(), "application/json");
    assert_eq!(r.text(), "{}");
    let received = h.received().pop().expect("the exporter received the payload");
    assert_eq!(received.items(), 2);
    assert_eq!(received.decode_traces().expect("valid protobuf"), request);
    h.stop().await;
}

#[tokio::test]
async fn http_gzip_and_zstd_bodies_are_decompressed() {
    let h = Harness::all_signals("http_compressed").await;
    let body = logs().encode_to_vec();
    let url = format!("{}/v1/logs", h.http);
    for (encoding, compressed) in [("gzip", gzip(&body)), ("zstd", zstd(&body))] {
        let headers = [("content-type", "application/x-protobuf"), ("content-encoding", encoding)];
        let r = http_request("POST", &url, &headers, full(compressed)).await;
        assert_eq!(r.status, 200, "{encoding}: {}", r.text());
        assert_eq!(h.received().pop().expect("received").bytes().as_ref(), body.as_slice());
    }
    h.stop().await;
}

#[tokio::test]
async fn http_chunked_body_is_read_whole() {
    let h = Harness::all_signals("http_chunked").await;
    let body = Bytes::from(metrics().encode_to_vec());
    let chunks = body.chunks(7).map(Bytes::copy_from_slice).collect();
    let url = format!("{}/v1/metrics", h.http);
    let r = http_request("POST", &url, &[("content-type", "application/x-protobuf")], chunked(chunks)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.received().pop().expect("received").bytes(), &body);
    h.stop().await;
}

#[tokio::test]
async fn http_refuses_methods_other_than_post() {
    let h = Harness::all_signals("http_method").await;
    let r = http_request("GET", &format!("{}/v1/traces", h.http), &[], full(Bytes::new())).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.text().trim_end(), "405 method not allowed, supported: [POST]");
    h.stop().await;
}

#[tokio::test]
async fn http_refuses_unsupported_content_types() {
    let h = Harness::all_signals("http_media").await;
    let url = format!("{}/v1/traces", h.http);
    let r = http_request("POST", &url, &[("content-type", "text/plain")], full("hello")).await;
    assert_eq!(r.status, 415);
    assert_eq!(
        r.text().trim_end(),
        "415 unsupported media type, supported: [application/json, application/x-protobuf]"
    );
    let r = http_request("POST", &url, &[], full("hello")).await;
    assert_eq!(r.status, 415, "a missing Content-Type is unsupported too");
    h.stop().await;
}

#[tokio::test]
async fn http_refuses_unsupported_content_encodings() {
    let h = Harness::all_signals("http_encoding").await;
    let headers = [("content-type", "application/x-protobuf"), ("content-encoding", "br")];
    let r = http_request("POST", &format!("{}/v1/traces", h.http), &headers, full(traces(1).encode_to_vec())).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.rpc_status().message, "unsupported Content-Encoding: br");
    assert!(h.received().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn http_malformed_protobuf_is_400_with_a_status_body() {
    let h = Harness::all_signals("http_malformed").await;
    let r = post_protobuf(&format!("{}/v1/traces", h.http), MALFORMED).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type(), "application/x-protobuf");
    let status = r.rpc_status();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(status.message.contains("invalid OTLP protobuf traces request"), "{}", status.message);
    // The server goes on serving.
    let r = post_protobuf(&format!("{}/v1/traces", h.http), traces(1).encode_to_vec()).await;
    assert_eq!(r.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn http_invalid_json_is_400_with_a_json_status_body() {
    let h = Harness::all_signals("http_bad_json").await;
    let url = format!("{}/v1/logs", h.http);
    let r = http_request("POST", &url, &[("content-type", "application/json")], full("{\"resourceLogs\": [")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type(), "application/json");
    let status: serde_json::Value = serde_json::from_slice(&r.body).expect("a JSON google.rpc.Status");
    assert_eq!(status["code"], Code::InvalidArgument as i32);
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.contains("invalid OTLP/JSON"), "{message}");
    h.stop().await;
}

#[tokio::test]
async fn http_corrupt_gzip_is_400() {
    let h = Harness::all_signals("http_corrupt_gzip").await;
    let headers = [("content-type", "application/x-protobuf"), ("content-encoding", "gzip")];
    let r = http_request("POST", &format!("{}/v1/traces", h.http), &headers, full("not gzip at all")).await;
    assert_eq!(r.status, 400);
    assert!(r.rpc_status().message.starts_with("invalid gzip data"), "{}", r.rpc_status().message);
    h.stop().await;
}

/// Receiver settings with an HTTP body limit of 1 KiB.
const SMALL_HTTP: &str = "
    protocols:
      http:
        endpoint: 127.0.0.1:HTTP_PORT
        max_request_body_size: 1024
";

#[tokio::test]
async fn http_oversized_bodies_are_413() {
    let h = Harness::start("http_oversized", SMALL_HTTP, "", &["traces"]).await;
    let url = format!("{}/v1/traces", h.http);
    let big = traces(40).encode_to_vec();
    assert!(big.len() > 1024);
    let r = post_protobuf(&url, big.clone()).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.rpc_status().code, Code::ResourceExhausted as i32);
    assert!(r.rpc_status().message.contains("max_request_body_size"), "{}", r.rpc_status().message);
    // Without a Content-Length the limit applies while reading.
    let chunks = big.chunks(100).map(Bytes::copy_from_slice).collect();
    let r = http_request("POST", &url, &[("content-type", "application/x-protobuf")], chunked(chunks)).await;
    assert_eq!(r.status, 413);
    assert!(h.received().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn http_gzip_bomb_is_413() {
    let h = Harness::start("http_bomb", SMALL_HTTP, "", &["traces"]).await;
    // 256 KiB of zeros: under the 1 KiB limit compressed, 256 times over it inflated.
    let bomb = gzip(&vec![0u8; 256 << 10]);
    assert!(bomb.len() <= 1024, "{} compressed bytes", bomb.len());
    let headers = [("content-type", "application/x-protobuf"), ("content-encoding", "gzip")];
    let r = http_request("POST", &format!("{}/v1/traces", h.http), &headers, full(bomb)).await;
    assert_eq!(r.status, 413);
    assert!(r.rpc_status().message.contains("decompressed"), "{}", r.rpc_status().message);
    h.stop().await;
}

#[tokio::test]
async fn http_paths_without_a_pipeline_are_404() {
    let h = Harness::start("http_unused", BOTH, "", &["metrics"]).await;
    let r = post_protobuf(&format!("{}/v1/traces", h.http), traces(1).encode_to_vec()).await;
    assert_eq!(r.status, 404);
    let r = post_protobuf(&format!("{}/v1/unknown", h.http), traces(1).encode_to_vec()).await;
    assert_eq!(r.status, 404);
    let r = post_protobuf(&format!("{}/v1/metrics", h.http), metrics().encode_to_vec()).await;
    assert_eq!(r.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn http_custom_url_paths_are_served() {
    let receiver = "
    protocols:
      http:
        endpoint: 127.0.0.1:HTTP_PORT
        traces_url_path: ingest/spans
";
    let h = Harness::start("http_paths", receiver, "", &["traces"]).await;
    let r = post_protobuf(&format!("{}/ingest/spans", h.http), traces(1).encode_to_vec()).await;
    assert_eq!(r.status, 200);
    let r = post_protobuf(&format!("{}/v1/traces", h.http), traces(1).encode_to_vec()).await;
    assert_eq!(r.status, 404);
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Outcomes shared by both transports.

#[tokio::test]
async fn empty_requests_succeed_without_reaching_the_exporter() {
    let receiver = BOTH.replace("wait_for_result: true", "wait_for_result: false");
    let h = Harness::start("empty", &receiver, "", &["traces"]).await;
    GrpcClient::connect(&h.grpc).await.export(TRACES_PATH, Bytes::new()).await.expect("an empty export succeeds");
    let r = post_protobuf(&format!("{}/v1/traces", h.http), Bytes::new()).await;
    assert_eq!(r.status, 200);
    let received = h.received.clone();
    // After shutdown every queue is drained, so nothing can still be on its way.
    h.stop().await;
    assert!(received.lock().expect("not poisoned").is_empty());
}

#[tokio::test]
async fn retryable_export_failure_is_unavailable_with_a_retry_delay() {
    let h = Harness::start("retryable", BOTH, "    fail: retryable\n    retry_after_secs: 3\n", &["traces"]).await;
    let body: Bytes = traces(1).encode_to_vec().into();

    let err = GrpcClient::connect(&h.grpc).await.export(TRACES_PATH, body.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let status = RpcStatus::decode(err.details()).expect("google.rpc.Status details");
    let info = RetryInfo::decode(status.details[0].value.as_slice()).expect("a RetryInfo detail");
    assert_eq!(info.retry_delay.map(|d| d.seconds), Some(3));

    let r = post_protobuf(&format!("{}/v1/traces", h.http), body).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("3"));
    assert!(r.rpc_status().message.contains("the backend is down"), "{}", r.rpc_status().message);
    h.stop().await;
}

#[tokio::test]
async fn permanent_export_failure_is_internal() {
    let h = Harness::start("permanent", BOTH, "    fail: permanent\n", &["logs"]).await;
    let body: Bytes = logs().encode_to_vec().into();
    let err = GrpcClient::connect(&h.grpc).await.export(LOGS_PATH, body.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    let r = post_protobuf(&format!("{}/v1/logs", h.http), body).await;
    assert_eq!(r.status, 500);
    assert!(r.headers.get("retry-after").is_none());
    h.stop().await;
}

#[tokio::test]
async fn without_wait_for_result_the_answer_does_not_wait_for_the_exporter() {
    let receiver = BOTH.replace("wait_for_result: true", "wait_for_result: false");
    let h = Harness::start("no_wait", &receiver, "    fail: permanent\n", &["traces"]).await;
    let r = post_protobuf(&format!("{}/v1/traces", h.http), traces(1).encode_to_vec()).await;
    assert_eq!(r.status, 200, "accepted by the pipeline, whatever the exporter does later");
    h.stop().await;
}

#[tokio::test]
async fn shutdown_delivers_what_was_accepted_and_closes_the_ports() {
    let receiver = BOTH.replace("wait_for_result: true", "wait_for_result: false");
    let h = Harness::start("shutdown", &receiver, "", &["traces"]).await;
    let body: Bytes = traces(2).encode_to_vec().into();
    GrpcClient::connect(&h.grpc).await.export(TRACES_PATH, body.clone()).await.expect("accepted");
    assert_eq!(post_protobuf(&format!("{}/v1/traces", h.http), body.clone()).await.status, 200);
    let (received, grpc, http) = (h.received.clone(), h.grpc.clone(), h.http.clone());
    h.stop().await;
    let received = received.lock().expect("not poisoned").clone();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|p| p.bytes() == &body));
    for url in [grpc, http] {
        let addr = url.trim_start_matches("http://");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "{addr} is closed after shutdown");
    }
}

#[tokio::test]
async fn a_busy_port_fails_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback is available");
    let port = taken.local_addr().expect("bound").port();
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{port}\n\
         exporters:\n  recording:\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [recording]\n"
    );
    let mut registry = Registry::new();
    crate::register(&mut registry);
    registry.add_exporter(RecordingFactory(Received::default(), SeenMetadata::default()));
    let config = weir_core::config::load_str("test.yaml", &yaml, &registry, &|_| None).expect("valid config");
    let err = Service::start(&config, &registry, Default::default()).await.err().expect("the start fails");
    assert!(err.to_string().contains("protocols::http::endpoint"), "{err}");
}

#[tokio::test]
async fn localhost_is_bound_on_ipv4_loopback() {
    let listener = super::bind(super::Transport::Tcp, "localhost:0", "protocols::http::endpoint")
        .await
        .expect("localhost can be bound");
    assert!(listener.describe().starts_with("127.0.0.1:"), "{}", listener.describe());
}

#[tokio::test]
async fn an_empty_endpoint_listens_on_a_free_port_as_the_collector_does() {
    let listener =
        super::bind(super::Transport::Tcp, "", "protocols::http::endpoint").await.expect("a free port is found");
    assert!(listener.describe().starts_with("0.0.0.0:"), "{}", listener.describe());
    assert!(!listener.describe().ends_with(":0"));
}

#[test]
fn a_receiver_without_protocols_is_a_config_error() {
    let yaml = "receivers:\n  otlp:\nexporters:\n  recording:\n\
                service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [recording]\n";
    let mut registry = Registry::new();
    crate::register(&mut registry);
    registry.add_exporter(RecordingFactory(Received::default(), SeenMetadata::default()));
    let err = weir_core::config::load_str("test.yaml", yaml, &registry, &|_| None).err().expect("invalid");
    let err = err.to_string();
    assert!(err.contains("receivers::otlp"), "{err}");
    assert!(err.contains("must specify at least one protocol when using the OTLP receiver"), "{err}");
}

#[tokio::test]
async fn accepted_and_failed_requests_are_counted_per_transport() {
    let prometheus = weir_core::telemetry::prometheus();
    let h = Harness::all_signals("counted").await;
    GrpcClient::connect(&h.grpc).await.export(TRACES_PATH, traces(2).encode_to_vec().into()).await.expect("ok");
    assert_eq!(post_protobuf(&format!("{}/v1/traces", h.http), traces(3).encode_to_vec()).await.status, 200);
    assert_eq!(post_protobuf(&format!("{}/v1/traces", h.http), MALFORMED).await.status, 400);
    h.stop().await;
    let rendered = prometheus.render();
    let value = |name: &str, transport: &str| -> Option<f64> {
        rendered
            .lines()
            .find(|l| {
                l.starts_with(name)
                    && l.contains("receiver=\"otlp/counted\"")
                    && l.contains(&format!("transport=\"{transport}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(value("otelcol_receiver_accepted_spans", "grpc"), Some(2.0), "{rendered}");
    assert_eq!(value("otelcol_receiver_accepted_spans", "http"), Some(3.0), "{rendered}");
    assert!(value("otelcol_receiver_failed_spans", "http").is_some(), "{rendered}");
}

/// Loads a traces pipeline from `otlp` (with `grpc_keys` under `protocols::grpc`) to
/// `recording`, with `extra` top-level sections and `service_extensions`.
fn load_with_auth(
    grpc_keys: &str,
    extra: &str,
    service_extensions: &str,
) -> Result<weir_core::config::Config, weir_core::config::ConfigErrors> {
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n{grpc_keys}\
         exporters:\n  recording:\n{extra}\
         service:\n  extensions: [{service_extensions}]\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [recording]\n"
    );
    weir_core::config::load_str("test.yaml", &yaml, &auth_registry(), &|_| None)
}

fn auth_registry() -> Registry {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    weir_extensions::register(&mut registry);
    registry.add_exporter(RecordingFactory(Received::default(), SeenMetadata::default()));
    registry
}

const AUTH_KEYS: &str = "        auth:\n          authenticator: bearertokenauth/clients\n";
const TOKEN_EXTENSION: &str = "extensions:\n  bearertokenauth/clients:\n    token: s3cret\n";

#[tokio::test]
async fn auth_is_resolved_to_the_running_extension() {
    let keys = format!("        endpoint: 127.0.0.1:0\n{AUTH_KEYS}");
    let config = load_with_auth(&keys, TOKEN_EXTENSION, "bearertokenauth/clients").expect("valid");
    let registry = auth_registry();
    let service =
        Service::start(&config, &registry, Default::default()).await.expect("the receiver gets its authenticator");
    service.shutdown().await;
    // Built without the extension running, the receiver cannot find its authenticator.
    let id = weir_core::ComponentId::parse("otlp").unwrap();
    let receiver = config.receivers[&id].config.downcast_ref::<crate::otlp::OtlpReceiverConfig>().expect("otlp config");
    let factory = crate::otlp::OtlpReceiverFactory;
    let err =
        weir_core::ReceiverFactory::build(&factory, &BuildContext::new(id, None), receiver).err().expect("refused");
    assert!(err.to_string().contains("\"bearertokenauth/clients\" is not running"), "{err}");
}

#[test]
fn auth_naming_a_missing_extension_is_a_located_error() {
    let err = load_with_auth(AUTH_KEYS, "", "").err().expect("invalid").to_string();
    assert!(err.starts_with("test.yaml:2:3: receivers::otlp::protocols::grpc::auth::authenticator"), "{err}");
    assert!(err.contains("references extension \"bearertokenauth/clients\" which is not configured"), "{err}");
}

#[test]
fn auth_extension_must_be_enabled_in_the_service() {
    let err = load_with_auth(AUTH_KEYS, TOKEN_EXTENSION, "").err().expect("invalid").to_string();
    assert!(err.contains("must be listed in service::extensions"), "{err}");
}

#[test]
fn auth_must_name_an_authenticator() {
    let keys = "        auth:\n          authenticator: health_check\n";
    let extra = "extensions:\n  health_check:\n";
    let err = load_with_auth(keys, extra, "health_check").err().expect("invalid").to_string();
    assert!(err.contains("\"health_check\" is not an authenticator (valid types: bearertokenauth)"), "{err}");
}

#[tokio::test]
async fn tls_files_are_read_when_the_receiver_starts_not_when_the_config_is_loaded() {
    let keys = "        tls:\n          cert_file: /nonexistent/cert.pem\n          key_file: /nonexistent/key.pem\n";
    let config = load_with_auth(keys, "", "").expect("loading reads no TLS file, as in the Collector");
    let files = config.files_read_at_start(&auth_registry());
    assert_eq!(files[0], ("receivers::otlp::protocols::grpc::tls::cert_file".into(), "/nonexistent/cert.pem".into()));
    let err = weir_core::runtime::Service::start(&config, &auth_registry(), Default::default()).await.err();
    let err = err.expect("the start reads the files").to_string();
    assert!(err.contains("protocols::grpc::tls::cert_file: cannot read /nonexistent/cert.pem"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Collector server keys: include_metadata, cors, transport: unix, keepalive.

#[tokio::test]
async fn include_metadata_carries_headers_and_grpc_metadata_to_the_exporter() {
    let receiver = "
    wait_for_result: true
    protocols:
      grpc:
        endpoint: 127.0.0.1:GRPC_PORT
        include_metadata: true
      http:
        endpoint: 127.0.0.1:HTTP_PORT
        include_metadata: true
";
    let h = Harness::start("metadata", receiver, "", &["traces"]).await;
    let headers = [("content-type", "application/x-protobuf"), ("X-Tenant", "acme")];
    let r = http_request("POST", &format!("{}/v1/traces", h.http), &headers, full(traces(1).encode_to_vec())).await;
    assert_eq!(r.status, 200);
    let mut client = GrpcClient::connect(&h.grpc).await;
    client.0.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::from(traces(1).encode_to_vec()));
    request.metadata_mut().insert("x-tenant", "beta".parse().unwrap());
    let path = http::uri::PathAndQuery::from_static(TRACES_PATH);
    client.0.unary(request, path, RawCodec).await.expect("the export succeeds");
    let seen = h.metadata.lock().unwrap().clone();
    let tenants: Vec<Vec<String>> = seen.iter().map(|m| m.as_ref().unwrap().get("x-tenant").to_vec()).collect();
    assert_eq!(tenants, [vec!["acme".to_string()], vec!["beta".to_string()]]);
    h.stop().await;
}

#[tokio::test]
async fn without_include_metadata_no_metadata_is_kept() {
    let h = Harness::all_signals("no_metadata").await;
    let headers = [("content-type", "application/x-protobuf"), ("x-tenant", "acme")];
    http_request("POST", &format!("{}/v1/traces", h.http), &headers, full(traces(1).encode_to_vec())).await;
    assert_eq!(h.metadata.lock().unwrap().clone(), [None]);
    h.stop().await;
}

/// The README example of the Collector's otlp receiver (`cors` with a wildcard origin).
const CORS: &str = "
    protocols:
      http:
        endpoint: 127.0.0.1:HTTP_PORT
        cors:
          allowed_origins: [http://test.com, 'https://*.example.com']
          allowed_headers: [Example-Header]
          max_age: 7200
";

async fn preflight(url: &str, origin: &str, request_headers: &str) -> HttpResponse {
    let headers = [
        ("origin", origin),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", request_headers),
    ];
    http_request("OPTIONS", url, &headers, full(Bytes::new())).await
}

fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn cors_preflight_from_an_allowed_origin_is_answered_as_the_collector_does() {
    let h = Harness::start("cors", CORS, "", &["traces"]).await;
    let url = format!("{}/v1/traces", h.http);
    let r = preflight(&url, "https://app.example.com", "content-type,example-header").await;
    assert_eq!(r.status, 204);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(header(&r, "access-control-allow-methods"), Some("POST"));
    assert_eq!(header(&r, "access-control-allow-headers"), Some("content-type,example-header"));
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&r, "access-control-max-age"), Some("7200"));
    assert_eq!(header(&r, "vary"), Some("Origin, Access-Control-Request-Method, Access-Control-Request-Headers"));
    // The real request then carries the origin back.
    let headers = [("content-type", "application/x-protobuf"), ("origin", "http://test.com")];
    let r = http_request("POST", &url, &headers, full(traces(1).encode_to_vec())).await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("http://test.com"));
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
    assert_eq!(h.received().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn cors_preflight_from_another_origin_or_with_other_headers_gets_no_permission() {
    let h = Harness::start("cors_refused", CORS, "", &["traces"]).await;
    let url = format!("{}/v1/traces", h.http);
    for (origin, headers) in [
        ("https://example.com.evil.org", "content-type"),
        ("http://other.com", "content-type"),
        ("https://app.example.com", "x-secret"),
    ] {
        let r = preflight(&url, origin, headers).await;
        assert_eq!(r.status, 204, "{origin}");
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{origin} {headers}");
        assert!(header(&r, "vary").is_some());
    }
    let headers = [("content-type", "application/x-protobuf"), ("origin", "http://other.com")];
    let r = http_request("POST", &url, &headers, full(traces(1).encode_to_vec())).await;
    assert_eq!(r.status, 200, "CORS is the browser's check; the server still serves the request");
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    h.stop().await;
}

#[tokio::test]
async fn unix_sockets_serve_grpc_and_http() {
    use hyper_util::rt::TokioIo;
    let dir = tempfile::tempdir().unwrap();
    let (g, hp) = (dir.path().join("grpc.sock"), dir.path().join("http.sock"));
    // A stale socket file nobody serves is replaced.
    drop(std::os::unix::net::UnixListener::bind(&hp).unwrap());
    let receiver = format!(
        "    wait_for_result: true\n    protocols:\n      grpc:\n        transport: unix\n        endpoint: {}\n      http:\n        transport: unix\n        endpoint: {}\n",
        g.display(),
        hp.display()
    );
    let h = Harness::start("unix", &receiver, "", &["traces"]).await;
    // HTTP/1.1 over the socket.
    let io = TokioIo::new(tokio::net::UnixStream::connect(&hp).await.unwrap());
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, TestBody>(io).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::post("http://localhost/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(full(traces(2).encode_to_vec()))
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
    // gRPC over the other socket.
    let path = g.clone();
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let path = path.clone();
            async move { tokio::net::UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
        .unwrap();
    let mut client = GrpcClient(tonic::client::Grpc::new(channel));
    client.export(TRACES_PATH, Bytes::from(traces(3).encode_to_vec())).await.expect("the export succeeds");
    let items: Vec<usize> = h.received().iter().map(Payload::items).collect();
    assert_eq!(items, [2, 3]);
    h.stop().await;
    assert!(!hp.exists() && !g.exists(), "the socket files are removed at shutdown");
}

#[tokio::test]
async fn grpc_connections_idle_for_max_connection_idle_are_closed() {
    use tokio::io::AsyncReadExt;
    let receiver = "
    protocols:
      grpc:
        endpoint: 127.0.0.1:GRPC_PORT
        keepalive:
          server_parameters:
            max_connection_idle: 200ms
";
    let h = Harness::start("idle", receiver, "", &["traces"]).await;
    let mut raw = tokio::net::TcpStream::connect(h.grpc.trim_start_matches("http://")).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was closed");
    assert!(started.elapsed() >= Duration::from_millis(150));
    h.stop().await;
}
