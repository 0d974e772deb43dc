//! Realistic requests for tests, built with the prost types and encoded to payloads.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use weir_core::{Payload, Signal};

pub mod grpc;

/// 2026-01-02T03:04:05Z in nanoseconds.
pub const T0: u64 = 1_767_323_045_000_000_000;

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

pub fn str_kv(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource { attributes: vec![str_kv("service.name", service)], ..Default::default() })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope { name: "weir.test".into(), version: "1.0".into(), ..Default::default() })
}

/// One resource (`checkout`) with `n` spans of one trace.
pub fn traces_request(n: usize) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![0xab; 16],
            span_id: vec![i as u8 + 1; 8],
            name: format!("GET /cart/{i}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: T0,
            end_time_unix_nano: T0 + 1_500_000,
            attributes: vec![str_kv("http.method", "GET"), kv("http.status_code", any_value::Value::IntValue(200))],
            status: Some(Status { code: status::StatusCode::Ok as i32, message: String::new() }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("checkout"),
            scope_spans: vec![ScopeSpans { scope: scope(), spans, schema_url: String::new() }],
            schema_url: String::new(),
        }],
    }
}

/// One resource with a gauge of `n` points and a histogram of one point.
pub fn metrics_request(n: usize) -> ExportMetricsServiceRequest {
    let points = (0..n)
        .map(|i| NumberDataPoint {
            attributes: vec![str_kv("cpu", &i.to_string())],
            time_unix_nano: T0,
            value: Some(number_data_point::Value::AsDouble(0.25 * i as f64)),
            ..Default::default()
        })
        .collect();
    let gauge = Metric {
        name: "system.cpu.utilization".into(),
        unit: "1".into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
        ..Default::default()
    };
    let histogram = Metric {
        name: "http.server.duration".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: T0,
                count: 3,
                sum: Some(42.0),
                bucket_counts: vec![1, 2],
                explicit_bounds: vec![10.0],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let sum = Metric {
        name: "requests".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                time_unix_nano: T0,
                value: Some(number_data_point::Value::AsInt(7)),
                ..Default::default()
            }],
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("checkout"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![gauge, histogram, sum],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// One resource with `n` log records.
pub fn logs_request(n: usize) -> ExportLogsServiceRequest {
    let records = (0..n)
        .map(|i| LogRecord {
            time_unix_nano: T0,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("order {i} placed"))) }),
            attributes: vec![str_kv("order.id", &i.to_string())],
            trace_id: vec![0xab; 16],
            span_id: vec![1; 8],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("checkout"),
            scope_logs: vec![ScopeLogs { scope: scope(), log_records: records, schema_url: String::new() }],
            schema_url: String::new(),
        }],
    }
}

pub fn payload(signal: Signal, bytes: Vec<u8>) -> Payload {
    Payload::new(signal, Bytes::from(bytes)).expect("test requests are well-formed")
}

pub fn traces(n: usize) -> Payload {
    payload(Signal::Traces, traces_request(n).encode_to_vec())
}

pub fn metrics(n: usize) -> Payload {
    payload(Signal::Metrics, metrics_request(n).encode_to_vec())
}

pub fn logs(n: usize) -> Payload {
    payload(Signal::Logs, logs_request(n).encode_to_vec())
}

/// A payload of `signal` with a few items.
pub fn of(signal: Signal) -> Payload {
    match signal {
        Signal::Traces => traces(3),
        Signal::Metrics => metrics(2),
        Signal::Logs => logs(2),
    }
}

/// Sends `payload` through the real plumbing (queue, retries every few milliseconds, acks with
/// `wait_for_result`) and returns its final outcome.
pub async fn send_through_plumbing(
    exporter: std::sync::Arc<dyn weir_core::Exporter>,
    payload: Payload,
) -> Result<(), weir_core::Failure> {
    use std::time::Duration;
    use weir_core::ack::{AckToken, Acks};
    use weir_core::exporterhelper::{self, ExporterSettings, QueueConfig, RetryConfig};
    use weir_core::pipeline::Enqueue;
    let settings = ExporterSettings {
        timeout: Duration::from_secs(5),
        retry: RetryConfig {
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
            max_elapsed_time: Duration::from_secs(10),
            ..RetryConfig::default()
        },
        queue: QueueConfig { wait_for_result: true, ..QueueConfig::default() },
    };
    let (queue, task) = exporterhelper::spawn("test", payload.signal(), exporter, &settings, None).expect("in memory");
    let (token, waiter) = AckToken::new();
    queue.enqueue(weir_core::Envelope::with_acks(payload, Acks::one(token))).await.expect("the queue is open");
    let outcome = waiter.wait().await;
    drop(queue);
    task.await.expect("the exporter task ends cleanly");
    outcome
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback is available");
    listener.local_addr().expect("bound").port()
}

/// A server task of a test, told to stop by [`ServerTask::stop`], which waits until it has.
pub struct ServerTask {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerTask {
    /// Spawns `serve(shutdown)`; `shutdown` completes when [`ServerTask::stop`] is called.
    pub fn spawn<F, Fut>(serve: F) -> ServerTask
    where
        F: FnOnce(futures::future::BoxFuture<'static, ()>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        ServerTask { stop, task: tokio::spawn(serve(shutdown)) }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("the test server ends cleanly");
    }
}

/// Asserts that `text` contains every one of `parts`, showing the text when not.
pub fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
}
