//! The `otlp` exporter against a real gRPC server on loopback
//! ([`testdata::grpc::TestServer`]), which records what it receives (path, `grpc-encoding`,
//! metadata, the decompressed message bytes) and answers from a script.

use super::*;
use crate::otlp::status::tests::status_with_retry_info;
use crate::testdata;
use crate::testdata::grpc::TestServer;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;
use tonic::{Code, Status};

fn config(server: &TestServer, extra: &str) -> OtlpConfig {
    weir_core::testing::parse_exporter_config(&format!("endpoint: {}\n{extra}", server.addr)).unwrap()
}

fn exporter(signal: Signal, config: &OtlpConfig) -> Arc<OtlpExporter> {
    Arc::new(OtlpExporter::new("otlp/test", signal, config, Vec::new()).unwrap())
}

#[tokio::test]
async fn unavailable_with_retry_info_is_retried_and_the_same_bytes_arrive() {
    let server = TestServer::start().await;
    server.fail_next(status_with_retry_info(Code::Unavailable, "warming up", Some(Duration::from_millis(20))));
    let payload = testdata::traces(3);
    let e = exporter(Signal::Traces, &config(&server, ""));

    testdata::send_through_plumbing(e, payload.clone()).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 2, "one failed attempt, one retry");
    for r in &received {
        assert_eq!(r.path, "/opentelemetry.proto.collector.trace.v1.TraceService/Export");
        assert_eq!(&r.message, payload.bytes(), "forwarded byte for byte");
    }
    server.stop().await;
}

#[tokio::test]
async fn retry_info_delay_is_reported_as_retry_after() {
    let server = TestServer::start().await;
    server.fail_next(status_with_retry_info(Code::ResourceExhausted, "throttled", Some(Duration::from_secs(7))));
    let e = exporter(Signal::Traces, &config(&server, ""));

    let f = e.export(testdata::traces(1)).await.unwrap_err();
    assert!(f.retryable);
    assert_eq!(f.retry_after, Some(Duration::from_secs(7)));
    assert!(f.message.contains("code = ResourceExhausted desc = throttled"), "{}", f.message);
    server.stop().await;
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let server = TestServer::start().await;
    server.fail_next(Status::new(Code::InvalidArgument, "bad span"));
    let e = exporter(Signal::Traces, &config(&server, ""));

    let f = testdata::send_through_plumbing(e, testdata::traces(2)).await.unwrap_err();
    assert!(!f.retryable);
    assert!(f.message.contains("bad span"), "{}", f.message);
    assert_eq!(server.received().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn partial_success_counts_as_sent_and_is_not_retried() {
    let server = TestServer::start().await;
    let response = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess { rejected_spans: 1, error_message: "span too old".into() }),
    };
    server.respond_with(response.encode_to_vec());
    let e = exporter(Signal::Traces, &config(&server, ""));

    testdata::send_through_plumbing(e, testdata::traces(2)).await.unwrap();
    assert_eq!(server.received().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn compression_is_applied_as_configured() {
    let server = TestServer::start().await;
    let payload = testdata::logs(20);
    for (setting, expected) in [
        ("", Some("gzip")),
        ("compression: zstd\n", Some("zstd")),
        ("compression: deflate\n", Some("deflate")),
        ("compression: none\n", None),
    ] {
        let e = exporter(Signal::Logs, &config(&server, setting));
        e.export(payload.clone()).await.unwrap();
        let last = server.received().pop().unwrap();
        assert_eq!(last.grpc_encoding.as_deref(), expected, "{setting:?}");
        assert_eq!(&last.message, payload.bytes(), "{setting:?}: decompressed by the server to the same bytes");
    }
    server.stop().await;
}

#[tokio::test]
async fn each_signal_goes_to_its_service_with_the_configured_metadata() {
    let server = TestServer::start().await;
    let config = config(&server, "headers:\n  X-Api-Key: secret\n");
    for signal in Signal::ALL {
        exporter(signal, &config).export(testdata::of(signal)).await.unwrap();
    }
    let received = server.received();
    let paths: Vec<_> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        ]
    );
    for r in &received {
        assert_eq!(r.headers.get("x-api-key").unwrap(), "secret");
        assert!(r.headers.get("user-agent").unwrap().to_str().unwrap().starts_with("weir/"));
        assert!(r.headers.get("grpc-timeout").is_some(), "the deadline is sent to the server");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_backend_is_a_retryable_failure_not_a_start_up_error() {
    let config = OtlpConfig { endpoint: format!("127.0.0.1:{}", testdata::closed_port()), ..OtlpConfig::default() };
    let e = OtlpExporterFactory
        .build(&BuildContext::new(weir_core::ComponentId::parse("otlp").unwrap(), Some(Signal::Traces)), &config)
        .expect("connects lazily");
    let f = e.export(testdata::traces(1)).await.unwrap_err();
    assert!(f.retryable, "{f:?}");
}

#[tokio::test]
async fn empty_payloads_are_not_sent() {
    let server = TestServer::start().await;
    let e = exporter(Signal::Traces, &config(&server, ""));
    e.export(Payload::empty(Signal::Traces)).await.unwrap();
    assert!(server.received().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_header_grpc_cannot_carry_fails_every_export_as_grpc_go_does() {
    let server = TestServer::start().await;
    let e = exporter(Signal::Traces, &config(&server, "headers:\n  \"can you have a . here?\": x\n"));
    let f = e.export(testdata::of(Signal::Traces)).await.unwrap_err();
    assert!(!f.retryable);
    assert!(f.message.contains("illegal characters"), "{}", f.message);
    assert!(server.received().is_empty());
    server.stop().await;
}
