//! Smoke tests of the send loop against throwaway in-process OTLP sinks (gRPC and HTTP)
//! that decode every request and count its items.

use std::collections::HashSet;
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, Context, Poll, Service};
use tonic::Status;

use super::*;
use crate::generate::{GenConfig, Generator};
use crate::stats::Summary;

/// What the sink should do with incoming requests.
#[derive(Default)]
struct SinkState {
    /// Refuse (UNAVAILABLE / 503) this many requests before accepting.
    refuse: AtomicU64,
    /// Reject every request permanently (INVALID_ARGUMENT / 400).
    reject_all: AtomicBool,
    /// Report this many rejected items per request (partial success).
    partial: AtomicU64,
    requests: AtomicU64,
    items: AtomicU64,
    /// Record root-span trace ids (traces only).
    track_roots: AtomicBool,
    /// Root-span trace ids seen.
    roots: Mutex<HashSet<Vec<u8>>>,
    /// Root spans whose trace id had been seen before.
    duplicate_roots: AtomicU64,
    /// Decode failures.
    bad: AtomicU64,
}

impl SinkState {
    /// Decode a protobuf or JSON export request for `path` and count it.
    fn accept(&self, path: &str, json: bool, body: &[u8]) -> Result<(), String> {
        fn decode<T: Message + Default + serde::de::DeserializeOwned>(json: bool, body: &[u8]) -> Result<T, String> {
            if json {
                serde_json::from_slice(body).map_err(|e| e.to_string())
            } else {
                T::decode(body).map_err(|e| e.to_string())
            }
        }
        let items = if path.contains("trace") {
            let req: ExportTraceServiceRequest = decode(json, body)?;
            let spans: Vec<_> = req.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
            if self.track_roots.load(Ordering::Relaxed) {
                let mut roots = self.roots.lock().unwrap();
                for s in spans.iter().filter(|s| s.parent_span_id.is_empty()) {
                    if !roots.insert(s.trace_id.clone()) {
                        self.duplicate_roots.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            spans.len()
        } else if path.contains("logs") {
            let req: ExportLogsServiceRequest = decode(json, body)?;
            req.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum()
        } else {
            let req: ExportMetricsServiceRequest = decode(json, body)?;
            req.resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    _ => 0,
                })
                .sum()
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items as u64, Ordering::Relaxed);
        Ok(())
    }

    fn should_refuse(&self) -> bool {
        self.refuse.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }
}

/// A gRPC sink service: decodes with a raw codec and counts.
#[derive(Clone)]
struct GrpcSink(Arc<SinkState>);

struct SinkUnary(Arc<SinkState>, String);

impl Service<tonic::Request<Bytes>> for SinkUnary {
    type Response = tonic::Response<Bytes>;
    type Error = Status;
    type Future = std::future::Ready<Result<tonic::Response<Bytes>, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let state = &self.0;
        if state.should_refuse() {
            let retry = RetryInfo { retry_delay: Some(ProtoDuration { seconds: 0, nanos: 5_000_000 }) };
            let details = RpcStatus {
                code: Code::Unavailable as i32,
                message: "busy".into(),
                details: vec![ProtoAny {
                    type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                    value: retry.encode_to_vec(),
                }],
            };
            return std::future::ready(Err(Status::with_details(
                Code::Unavailable,
                "busy",
                details.encode_to_vec().into(),
            )));
        }
        if state.reject_all.load(Ordering::Relaxed) {
            return std::future::ready(Err(Status::invalid_argument("nope")));
        }
        if let Err(e) = state.accept(&self.1, false, req.get_ref()) {
            state.bad.fetch_add(1, Ordering::Relaxed);
            return std::future::ready(Err(Status::invalid_argument(e)));
        }
        let partial = state.partial.load(Ordering::Relaxed) as i64;
        let resp = ExportResponse {
            partial_success: (partial > 0)
                .then(|| PartialSuccess { rejected: partial, error_message: "dropped".into() }),
        };
        std::future::ready(Ok(tonic::Response::new(resp.encode_to_vec().into())))
    }
}

impl Service<hyper::Request<tonic::body::Body>> for GrpcSink {
    type Response = hyper::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: hyper::Request<tonic::body::Body>) -> Self::Future {
        let state = self.0.clone();
        Box::pin(async move {
            let path = req.uri().path().to_string();
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(64 << 20);
            Ok(grpc.unary(SinkUnary(state, path), req).await)
        })
    }
}

async fn grpc_sink(state: Arc<SinkState>) -> SocketAddr {
    grpc_sink_at(state, "127.0.0.1:0").await
}

async fn grpc_sink_at(state: Arc<SinkState>, addr: &str) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder().serve_with_incoming(GrpcSink(state), incoming).await;
    });
    addr
}

async fn http_handle(
    state: Arc<SinkState>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let reply = |status: u16, body: &'static str| {
        let mut r = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
        r
    };
    let path = req.uri().path().to_string();
    let json = req.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes() == b"application/json");
    let encoding = req.headers().get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("").to_string());
    let body = req.into_body().collect().await.expect("body").to_bytes();
    let body = match encoding.as_deref() {
        None => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).expect("gzip");
            out
        }
        Some("zstd") => zstd::stream::decode_all(&body[..]).expect("zstd"),
        Some(other) => panic!("unexpected encoding {other}"),
    };
    if state.should_refuse() {
        let mut r = reply(503, "busy");
        r.headers_mut().insert(RETRY_AFTER, hyper::header::HeaderValue::from_static("0"));
        return Ok(r);
    }
    if state.reject_all.load(Ordering::Relaxed) {
        return Ok(reply(400, "bad request"));
    }
    if state.accept(&path, json, &body).is_err() {
        state.bad.fetch_add(1, Ordering::Relaxed);
        return Ok(reply(400, "undecodable"));
    }
    Ok(if json { reply(200, "{}") } else { reply(200, "") })
}

async fn http_sink(state: Arc<SinkState>) -> SocketAddr {
    http_sink_at(state, "127.0.0.1:0").await
}

async fn http_sink_at(state: Arc<SinkState>, addr: &str) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| http_handle(state.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

struct Case {
    protocol: Protocol,
    signal: Signal,
    compression: Compression,
    total_items: u64,
    batch: usize,
    pool: usize,
    rate: f64,
    max_retries: u32,
}

impl Case {
    fn new(protocol: Protocol, signal: Signal, compression: Compression) -> Self {
        Case { protocol, signal, compression, total_items: 3000, batch: 256, pool: 3, rate: 0.0, max_retries: 10 }
    }
}

/// Run `case` against a fresh sink; returns the summary and the sink.
async fn run_case(case: Case, setup: impl FnOnce(&SinkState)) -> (Summary, Arc<SinkState>) {
    let state = Arc::new(SinkState::default());
    state.track_roots.store(true, Ordering::Relaxed);
    setup(&state);
    let addr = match case.protocol {
        Protocol::Grpc => grpc_sink(state.clone()).await,
        _ => http_sink(state.clone()).await,
    };
    let mut generator = Generator::new(GenConfig { error_rate: 0.05, slow_rate: 0.05, services: 8, seed: 1 });
    let full = case.total_items / case.batch as u64;
    let tail = (case.total_items % case.batch as u64) as usize;
    let pool = Pool::generate(&mut generator, case.signal, case.protocol.encoding(), case.batch, case.pool, tail);
    let transport = Transport::new(&TransportConfig {
        endpoint: addr.to_string(),
        protocol: case.protocol,
        signal: case.signal,
        compression: case.compression,
        timeout: Duration::from_secs(10),
        concurrency: 4,
        tls_ca: None,
    })
    .expect("transport");
    let cfg = RunConfig {
        concurrency: 4,
        rate: case.rate,
        duration: None,
        total_requests: Some(full + u64::from(tail > 0)),
        max_retries: case.max_retries,
        retry_delay: Duration::from_millis(5),
        report_interval: None,
        batch_size: case.batch,
    };
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let elapsed = run(Arc::new(transport), Arc::new(pool), cfg, stats.clone(), stop).await;
    (Summary::new(&stats, elapsed), state)
}

#[tokio::test]
async fn every_protocol_signal_and_compression_delivers_all_items() {
    use Compression::*;
    use Protocol::*;
    let cases = [
        (Grpc, Signal::Traces, None),
        (Grpc, Signal::Traces, Gzip),
        (Grpc, Signal::Logs, Zstd),
        (Grpc, Signal::Metrics, None),
        (HttpProto, Signal::Traces, None),
        (HttpProto, Signal::Logs, Gzip),
        (HttpProto, Signal::Metrics, Zstd),
        (HttpJson, Signal::Traces, Gzip),
        (HttpJson, Signal::Logs, None),
        (HttpJson, Signal::Metrics, None),
    ];
    for (protocol, signal, compression) in cases {
        let what = format!("{protocol:?}/{signal:?}/{compression:?}");
        let (summary, sink) = run_case(Case::new(protocol, signal, compression), |_| {}).await;
        let c = &summary.counters;
        assert_eq!(c.failed, 0, "{what}: {:?}", summary.last_error);
        assert_eq!(c.items, 3000, "{what}");
        assert_eq!(c.requests, 12, "{what}: 11 full requests + 1 tail");
        assert_eq!(sink.items.load(Ordering::Relaxed), 3000, "{what}");
        assert_eq!(sink.bad.load(Ordering::Relaxed), 0, "{what}");
        if signal == Signal::Traces {
            // 12 requests from a pool of 3 + tail: every trace id must still be unique,
            // and error/slow traces are reported.
            assert_eq!(sink.duplicate_roots.load(Ordering::Relaxed), 0, "{what}");
            assert!(sink.roots.lock().unwrap().len() > 200, "{what}");
            assert!(c.error_traces > 0 && c.slow_traces > 0, "{what}");
        }
    }
}

#[tokio::test]
async fn refusals_are_retried() {
    for protocol in [Protocol::Grpc, Protocol::HttpProto] {
        let case = Case::new(protocol, Signal::Traces, Compression::None);
        let (summary, sink) = run_case(case, |s| s.refuse.store(5, Ordering::Relaxed)).await;
        let c = &summary.counters;
        assert_eq!(c.refused, 5, "{protocol:?}");
        assert_eq!(c.failed, 0, "{protocol:?}");
        assert_eq!(c.items, 3000, "{protocol:?}");
        assert_eq!(sink.items.load(Ordering::Relaxed), 3000);
    }
}

#[tokio::test]
async fn retries_are_bounded_and_permanent_errors_fail() {
    for protocol in [Protocol::Grpc, Protocol::HttpJson] {
        let mut case = Case::new(protocol, Signal::Logs, Compression::None);
        case.max_retries = 2;
        let (summary, _) = run_case(case, |s| s.refuse.store(u64::MAX, Ordering::Relaxed)).await;
        let c = &summary.counters;
        assert_eq!((c.items, c.requests, c.failed, c.failed_items), (0, 0, 12, 3000), "{protocol:?}");
        assert_eq!(c.refused, 36, "{protocol:?}: 3 attempts per request");

        let case = Case::new(protocol, Signal::Logs, Compression::None);
        let (summary, _) = run_case(case, |s| s.reject_all.store(true, Ordering::Relaxed)).await;
        let c = &summary.counters;
        assert_eq!((c.refused, c.failed), (0, 12), "{protocol:?}");
        assert!(summary.last_error.is_some());
    }
}

#[tokio::test]
async fn partial_success_is_counted() {
    let case = Case::new(Protocol::Grpc, Signal::Metrics, Compression::None);
    let (summary, _) = run_case(case, |s| s.partial.store(10, Ordering::Relaxed)).await;
    assert_eq!(summary.counters.rejected_items, 120);
    assert_eq!(summary.counters.items, 3000 - 120);
}

#[tokio::test]
async fn unreachable_receiver_fails_after_retries() {
    // Bind then drop a listener to get a port that refuses connections.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    for protocol in [Protocol::Grpc, Protocol::HttpProto] {
        let transport = Transport::new(&TransportConfig {
            endpoint: addr.to_string(),
            protocol,
            signal: Signal::Traces,
            compression: Compression::None,
            timeout: Duration::from_secs(2),
            concurrency: 1,
            tls_ca: None,
        })
        .unwrap();
        let outcome = transport.send(Bytes::from_static(b"")).await;
        assert!(matches!(outcome, Outcome::Retry { .. }), "{protocol:?}: {outcome:?}");
    }
}

#[tokio::test]
async fn rate_is_respected() {
    let mut case = Case::new(Protocol::Grpc, Signal::Traces, Compression::None);
    case.rate = 6000.0;
    case.total_items = 3000;
    case.batch = 300;
    let (summary, _) = run_case(case, |_| {}).await;
    // The first batch is free, the other 2700 items take 0.45 s at 6000 items/s.
    let secs = summary.elapsed.as_secs_f64();
    assert!((0.4..1.5).contains(&secs), "elapsed {secs}");
    assert_eq!(summary.counters.items, 3000);
}

#[test]
fn retry_hints_are_parsed() {
    let info = RetryInfo { retry_delay: Some(ProtoDuration { seconds: 2, nanos: 500_000_000 }) };
    let st = RpcStatus {
        code: 8,
        message: "slow down".into(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    };
    let status = Status::with_details(Code::ResourceExhausted, "slow down", st.encode_to_vec().into());
    assert_eq!(grpc_retry_delay(&status), Some(Duration::from_millis(2500)));
    assert_eq!(grpc_retry_delay(&Status::unavailable("x")), None);
    let hv = hyper::header::HeaderValue::from_static;
    assert_eq!(http_retry_after(Some(&hv("3"))), Some(Duration::from_secs(3)));
    assert_eq!(http_retry_after(Some(&hv("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
    assert_eq!(http_retry_after(None), None);
    assert_eq!(json_rejected(br#"{"partialSuccess":{"rejectedSpans":"7"}}"#), 7);
    assert_eq!(json_rejected(br#"{"partialSuccess":{"rejectedLogRecords":3}}"#), 3);
    assert_eq!(json_rejected(b"{}"), 0);
    assert_eq!(proto_rejected(&[]), 0);
}

#[test]
fn compression_round_trips() {
    let data = b"hello hello hello hello hello".repeat(100);
    let gz = compress(Compression::Gzip, &data).unwrap();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
    assert_eq!(out, data);
    let zs = compress(Compression::Zstd, &data).unwrap();
    assert_eq!(zstd::stream::decode_all(&zs[..]).unwrap(), data);
    assert!(zs.len() < data.len() / 10 && gz.len() < data.len() / 10);
}

#[test]
fn http_endpoint_gets_signal_path() {
    let cfg = |endpoint: &str, signal| TransportConfig {
        endpoint: endpoint.into(),
        protocol: Protocol::HttpProto,
        signal,
        compression: Compression::None,
        timeout: Duration::from_secs(1),
        concurrency: 1,
        tls_ca: None,
    };
    let uri = |t: Transport| match t {
        Transport::Http { uri, .. } => uri.to_string(),
        Transport::Grpc { .. } => unreachable!(),
    };
    assert_eq!(uri(Transport::new(&cfg("127.0.0.1:4318", Signal::Logs)).unwrap()), "http://127.0.0.1:4318/v1/logs");
    assert_eq!(
        uri(Transport::new(&cfg("http://localhost:9/custom/path", Signal::Traces)).unwrap()),
        "http://localhost:9/custom/path"
    );
    assert!(Transport::new(&cfg("https://localhost:9", Signal::Traces)).is_err());
}

/// Not a real test: serves the counting sinks so the binary can be tried by hand without a
/// receiver. gRPC on 127.0.0.1:14317 and HTTP on 127.0.0.1:14318 (override with
/// `WEIR_LOADGEN_SINK_GRPC` / `WEIR_LOADGEN_SINK_HTTP`), for `WEIR_LOADGEN_SINK_SECS` seconds
/// (default 30), printing what arrived every second:
///
/// `cargo test -p weir-loadgen manual_sink -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "manual helper: serves sinks for a while"]
async fn manual_sink() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let secs: u64 = env("WEIR_LOADGEN_SINK_SECS", "30").parse().expect("seconds");
    let state = Arc::new(SinkState::default());
    let g = grpc_sink_at(state.clone(), &env("WEIR_LOADGEN_SINK_GRPC", "127.0.0.1:14317")).await;
    let h = http_sink_at(state.clone(), &env("WEIR_LOADGEN_SINK_HTTP", "127.0.0.1:14318")).await;
    eprintln!("sink: gRPC on {g}, HTTP on {h}, for {secs}s");
    for _ in 0..secs {
        tokio::time::sleep(Duration::from_secs(1)).await;
        eprintln!(
            "sink: {} requests, {} items, {} undecodable",
            state.requests.load(Ordering::Relaxed),
            state.items.load(Ordering::Relaxed),
            state.bad.load(Ordering::Relaxed)
        );
    }
}
