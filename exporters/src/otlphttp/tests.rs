//! The `otlphttp` exporter against a real HTTP server on loopback (axum), which records every
//! request (path, headers, body) and answers from a script.

use super::*;
use crate::testdata;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Received {
    method: http::Method,
    path: String,
    headers: HeaderMap,
    /// The body as sent (still compressed).
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body after undoing `Content-Encoding`.
    fn decompressed(&self) -> Vec<u8> {
        match self.header("content-encoding") {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut out).unwrap();
                out
            }
            Some("zstd") => zstd::decode_all(&self.body[..]).unwrap(),
            None => self.body.to_vec(),
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
    }
}

/// A scripted answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

#[derive(Default)]
struct Script {
    received: Mutex<Vec<Received>>,
    /// Answers to give, in order, before answering 200 with `success`.
    answers: Mutex<VecDeque<Answer>>,
    success: Mutex<Option<Answer>>,
}

async fn record(State(script): State<Arc<Script>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    script.received.lock().unwrap().push(Received {
        method: parts.method,
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
    });
    let answer = script.answers.lock().unwrap().pop_front().or_else(|| script.success.lock().unwrap().clone());
    let (status, headers, body) = answer.unwrap_or((200, vec![], vec![]));
    let mut response = (http::StatusCode::from_u16(status).unwrap(), body).into_response();
    for (k, v) in headers {
        response.headers_mut().insert(k, HeaderValue::from_str(&v).unwrap());
    }
    response
}

struct TestServer {
    addr: SocketAddr,
    script: Arc<Script>,
    task: testdata::ServerTask,
}

impl TestServer {
    async fn start() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script::default());
        let app = axum::Router::new().fallback(record).with_state(script.clone());
        let task = testdata::ServerTask::spawn(|shutdown| async move {
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await.unwrap();
        });
        TestServer { addr, script, task }
    }

    fn answer_next(&self, answer: Answer) {
        self.script.answers.lock().unwrap().push_back(answer);
    }

    fn answer_success_with(&self, answer: Answer) {
        *self.script.success.lock().unwrap() = Some(answer);
    }

    fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }

    fn config(&self, extra: &str) -> OtlpHttpConfig {
        weir_core::testing::parse_exporter_config(&format!("endpoint: http://{}\n{extra}", self.addr)).unwrap()
    }

    async fn stop(self) {
        self.task.stop().await;
    }
}

fn exporter(signal: Signal, config: &OtlpHttpConfig) -> Arc<OtlpHttpExporter> {
    Arc::new(OtlpHttpExporter::new("otlphttp/test", signal, config, Vec::new()).unwrap())
}

#[tokio::test]
async fn protobuf_is_posted_gzipped_to_the_signal_path() {
    let server = TestServer::start().await;
    let request = testdata::traces_request(4);
    let payload = testdata::payload(Signal::Traces, request.encode_to_vec());

    exporter(Signal::Traces, &server.config("headers:\n  x-api-key: secret\n")).export(payload.clone()).await.unwrap();

    let r = &server.received()[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.path, "/v1/traces");
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("x-api-key"), Some("secret"));
    assert!(r.header("user-agent").unwrap().starts_with("weir/"));
    let body = r.decompressed();
    assert_eq!(&body[..], &payload.bytes()[..], "the received bytes, unchanged");
    assert_eq!(ExportTraceServiceRequest::decode(&body[..]).unwrap(), request);
    server.stop().await;
}

#[tokio::test]
async fn json_encoding_sends_otlp_json_that_decodes_to_the_same_request() {
    let server = TestServer::start().await;
    let config = server.config("encoding: json\ncompression: zstd\n");
    let logs = testdata::logs_request(3);
    exporter(Signal::Logs, &config).export(testdata::payload(Signal::Logs, logs.encode_to_vec())).await.unwrap();
    let metrics = testdata::metrics_request(2);
    exporter(Signal::Metrics, &config)
        .export(testdata::payload(Signal::Metrics, metrics.encode_to_vec()))
        .await
        .unwrap();

    let received = server.received();
    assert_eq!(received[0].path, "/v1/logs");
    assert_eq!(received[1].path, "/v1/metrics");
    for r in &received {
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("content-encoding"), Some("zstd"));
    }
    let json = String::from_utf8(received[0].decompressed()).unwrap();
    assert!(json.contains("\"resourceLogs\""), "lowerCamelCase keys: {json}");
    assert_eq!(serde_json::from_str::<ExportLogsServiceRequest>(&json).unwrap(), logs);
    assert_eq!(serde_json::from_slice::<ExportMetricsServiceRequest>(&received[1].decompressed()).unwrap(), metrics);
    server.stop().await;
}

#[tokio::test]
async fn compression_none_sends_no_content_encoding() {
    let server = TestServer::start().await;
    let payload = testdata::traces(1);
    exporter(Signal::Traces, &server.config("compression: none\n")).export(payload.clone()).await.unwrap();
    let r = &server.received()[0];
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(&r.body, payload.bytes());
    server.stop().await;
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_the_hinted_delay() {
    let server = TestServer::start().await;
    server.answer_next((503, vec![("retry-after", "1".into())], b"overloaded".to_vec()));
    let payload = testdata::traces(2);
    let e = exporter(Signal::Traces, &server.config(""));

    let started = std::time::Instant::now();
    testdata::send_through_plumbing(e, payload.clone()).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 2, "one refused attempt, one retry");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After is the minimum wait");
    for r in &received {
        assert_eq!(&r.decompressed()[..], &payload.bytes()[..]);
    }
    server.stop().await;
}

#[tokio::test]
async fn retryable_failures_carry_the_retry_after_hint() {
    let server = TestServer::start().await;
    server.answer_next((429, vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".into())], vec![]));
    server.answer_next((502, vec![("retry-after", "12".into())], vec![]));
    let e = exporter(Signal::Logs, &server.config(""));

    let f = e.export(testdata::logs(1)).await.unwrap_err();
    assert!(f.retryable);
    assert_eq!(f.retry_after, Some(Duration::ZERO), "a date in the past means no wait");
    let f = e.export(testdata::logs(1)).await.unwrap_err();
    assert!(f.retryable);
    assert_eq!(f.retry_after, Some(Duration::from_secs(12)));
    server.stop().await;
}

#[tokio::test]
async fn a_400_is_permanent_and_names_the_servers_reason() {
    let server = TestServer::start().await;
    // google.rpc.Status { code: 3, message: "span has no trace id" }
    let mut status = vec![0x08, 0x03, 0x12, 20];
    status.extend_from_slice(b"span has no trace id");
    server.answer_next((400, vec![("content-type", "application/x-protobuf".into())], status));
    let e = exporter(Signal::Traces, &server.config(""));

    let f = testdata::send_through_plumbing(e, testdata::traces(1)).await.unwrap_err();
    assert!(!f.retryable);
    assert!(f.message.contains("HTTP 400 Bad Request: span has no trace id"), "{}", f.message);
    assert_eq!(server.received().len(), 1, "not retried");
    server.stop().await;
}

#[tokio::test]
async fn a_large_error_body_is_cut_to_a_short_excerpt() {
    let server = TestServer::start().await;
    server.answer_next((500, vec![("content-type", "text/html".into())], vec![b'e'; 200 * 1024]));
    let e = exporter(Signal::Traces, &server.config(""));
    let f = e.export(testdata::traces(1)).await.unwrap_err();
    assert!(!f.retryable);
    assert!(f.message.len() < 1024, "{} bytes", f.message.len());
    server.stop().await;
}

#[tokio::test]
async fn partial_success_is_success_and_not_retried() {
    let server = TestServer::start().await;
    let body = br#"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"span too old"}}"#.to_vec();
    server.answer_success_with((200, vec![("content-type", "application/json".into())], body));
    let e = exporter(Signal::Traces, &server.config("encoding: json\n"));
    testdata::send_through_plumbing(e, testdata::traces(2)).await.unwrap();
    assert_eq!(server.received().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_signal_endpoint_overrides_the_path() {
    let server = TestServer::start().await;
    let config = server.config(&format!("traces_endpoint: http://{}/custom/spans\n", server.addr));
    exporter(Signal::Traces, &config).export(testdata::traces(1)).await.unwrap();
    exporter(Signal::Logs, &config).export(testdata::logs(1)).await.unwrap();
    let paths: Vec<_> = server.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/custom/spans", "/v1/logs"]);
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_failure() {
    let config = OtlpHttpConfig {
        endpoint: format!("http://127.0.0.1:{}", testdata::closed_port()),
        ..OtlpHttpConfig::default()
    };
    let f = exporter(Signal::Traces, &config).export(testdata::traces(1)).await.unwrap_err();
    assert!(f.retryable, "{f:?}");
    assert!(f.message.contains("127.0.0.1"), "{}", f.message);
}

#[test]
fn a_signal_without_url_cannot_be_built() {
    let config = OtlpHttpConfig { logs_endpoint: "http://a:1/logs".into(), ..OtlpHttpConfig::default() };
    let err = OtlpHttpExporter::new("otlphttp", Signal::Traces, &config, Vec::new()).err().unwrap();
    assert!(err.to_string().contains("traces_endpoint"), "{err}");
}
