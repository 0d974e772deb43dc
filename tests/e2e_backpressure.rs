//! Backpressure end to end: while the exporter's backend stalls, weir's queues fill, the
//! pipeline blocks, and the OTLP/HTTP receiver answers 503 with `Retry-After` instead of
//! buffering without bound; memory stays under the `memory_limiter` limit and the daemon keeps
//! answering health checks. When the backend recovers, every span weir accepted is delivered —
//! exactly those, no more, no fewer.

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An OTLP/HTTP backend that can be told to stall: requests are held unanswered until released.
struct Backend {
    port: u16,
    stalled: Arc<AtomicBool>,
    spans: Arc<AtomicU64>,
}

impl Backend {
    fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(AtomicBool::new(true));
        let spans = Arc::new(AtomicU64::new(0));
        let (s, n) = (stalled.clone(), spans.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, n) = (s.clone(), n.clone());
                std::thread::spawn(move || serve(conn, &s, &n));
            }
        });
        Backend { port, stalled, spans }
    }
}

fn serve(conn: TcpStream, stalled: &AtomicBool, spans: &AtomicU64) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        while stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let req = ExportTraceServiceRequest::decode(&body[..]).expect("weir sends valid protobuf");
        let n: usize = req.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        spans.fetch_add(n as u64, Ordering::SeqCst);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n");
    }
}

fn request(spans: usize, seq: usize) -> Vec<u8> {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    };
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: [(seq % 251) as u8 + 1; 16].to_vec(),
            span_id: ((seq * 100_000 + i) as u64 + 1).to_be_bytes().to_vec(),
            name: format!("GET /rooms/{i}"),
            kind: 2,
            start_time_unix_nano: 1_764_100_000_000_000_000,
            end_time_unix_nano: 1_764_100_000_100_000_000,
            attributes: vec![kv("http.route", "/rooms/{id}"), kv("padding", &"x".repeat(200))],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "backpressure")], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn rss_bytes(metrics: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with("otelcol_process_memory_rss"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .expect("otelcol_process_memory_rss in /metrics")
}

#[test]
fn stalled_exporter_turns_into_retryable_refusals_and_loses_nothing() {
    let backend = Backend::start();
    let http = free_port();
    let limit_mib = 256;
    let mut weir = Weir::start(
        "backpressure",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  memory_limiter: {{ check_interval: 100ms, limit_mib: {limit_mib} }}
exporters:
  otlphttp:
    endpoint: "http://127.0.0.1:{port}"
    compression: none
    timeout: 120s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
    sending_queue: {{ queue_size: 2, num_consumers: 1 }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlphttp] }}
"#,
            port = backend.port
        ),
    );

    let per_request = 200;
    let (mut accepted, mut refusals) = (0u64, 0);
    for seq in 0..200 {
        match post_protobuf(http, "/v1/traces", &request(per_request, seq)) {
            (200, _) => accepted += per_request as u64,
            (503, retry_after) => {
                let secs: u64 = retry_after.expect("503 carries Retry-After").parse().expect("Retry-After in seconds");
                assert!(secs >= 1);
                refusals += 1;
                if refusals == 3 {
                    break;
                }
            }
            other => panic!("unexpected answer {other:?}:\n{}", weir.log()),
        }
    }
    assert_eq!(refusals, 3, "the stalled pipeline must refuse, not buffer without bound");
    assert!(accepted > 0);
    let (code, _) = http_get(&format!("127.0.0.1:{}", weir.health_port), "/").expect("health check answers");
    assert_eq!(code, 200, "health while stalled");
    let rss = rss_bytes(&weir.metrics());
    assert!(rss < (limit_mib as f64) * 1024.0 * 1024.0, "RSS {rss} over the {limit_mib} MiB limit");
    assert_eq!(backend.spans.load(Ordering::SeqCst), 0, "nothing delivered while stalled");

    backend.stalled.store(false, Ordering::SeqCst);
    let delivered = eventually(Duration::from_secs(30), || backend.spans.load(Ordering::SeqCst) >= accepted);
    assert!(
        delivered,
        "delivered {} of {accepted} accepted spans:\n{}",
        backend.spans.load(Ordering::SeqCst),
        weir.log()
    );
    // And the daemon takes data again.
    assert_eq!(post_protobuf(http, "/v1/traces", &request(per_request, 999)).0, 200);
    accepted += per_request as u64;
    assert!(eventually(Duration::from_secs(10), || backend.spans.load(Ordering::SeqCst) >= accepted));
    assert!(weir.terminate(Duration::from_secs(30)).success(), "{}", weir.log());
    assert_eq!(backend.spans.load(Ordering::SeqCst), accepted, "exactly the accepted spans were delivered");
}
