//! End to end for the `clickhouse` exporter against the ClickHouse 26.x engine (chDB behind the
//! HTTP shim `tests/clients/clickhouse_chdb_http.py`, started by each test on a free port with
//! a temporary data directory).
//!
//! 1. weir with `create_schema: true` receives traces, logs and all five metric types over
//!    OTLP/HTTP; the rows are read back with SQL and compared field by field, and the usual
//!    Grafana queries (a trace by id through the trace-id lookup table, p99 latency by service
//!    and operation, error logs of a service) return the right rows.
//! 2. The server is killed while data keeps coming, then restarted on the same port and data
//!    directory: weir retries, and every span arrives exactly once.
//! 3. Over TLS (`https://` with the test CA in `tls::ca_file`) every span arrives; without the
//!    CA the server's certificate is refused and nothing is written.

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, summary_data_point::ValueAtQuantile,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const INSTALL_HINT: &str =
    "the ClickHouse test server needs the chDB engine: python3 -m pip install chdb-core (or -r tests/clients/requirements.txt)";

/// The chDB HTTP shim, killed on drop.
struct ClickHouseShim {
    port: u16,
    data: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl ClickHouseShim {
    fn start(port: u16, data: &Path) -> ClickHouseShim {
        Self::start_with(port, data, None)
    }

    /// Also serves HTTPS on `tls.0` with the certificate and key files `tls.1` and `tls.2`.
    fn start_with(port: u16, data: &Path, tls: Option<(u16, &Path, &Path)>) -> ClickHouseShim {
        let check = Command::new(python()).args(["-c", "import chdb"]).output().expect("run python3");
        assert!(check.status.success(), "{INSTALL_HINT}\n{}", String::from_utf8_lossy(&check.stderr));
        let log = data.with_extension("log");
        let mut command = Command::new(python());
        command.arg(repo_root().join("tests/clients/clickhouse_chdb_http.py")).arg(port.to_string()).arg(data);
        if let Some((tls_port, cert, key)) = tls {
            command.arg(tls_port.to_string()).arg(cert).arg(key);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("shim log")))
            .spawn()
            .expect("start the chDB shim");
        let mut shim = ClickHouseShim { port, data: data.to_path_buf(), child: Some(child), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(&format!("127.0.0.1:{port}"), "/ping").is_none_or(|(code, _)| code != 200) {
            if let Some(status) = shim.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the chDB shim exited with {status}: {}\n{INSTALL_HINT}", shim.log());
            }
            assert!(Instant::now() < deadline, "the chDB shim did not answer /ping: {}", shim.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        shim
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash or a pulled plug would stop it.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs `sql`; the rows as JSON objects (`FORMAT JSONEachRow`).
    fn query(&self, sql: &str) -> Vec<Value> {
        let (status, body) = ch_post(self.port, "/?default_format=JSONEachRow", sql);
        assert_eq!(status, 200, "{sql}\n{body}");
        body.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    fn count(&self, sql: &str) -> u64 {
        let (status, body) = ch_post(self.port, "/?default_format=TabSeparated", sql);
        if status != 200 {
            return u64::MAX;
        }
        body.trim().parse().unwrap_or(u64::MAX)
    }
}

impl Drop for ClickHouseShim {
    fn drop(&mut self) {
        self.kill();
    }
}

/// POSTs `body` to the shim; (status, body). Status 0 when it does not answer.
fn ch_post(port: u16, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    if s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes())).is_err() {
        return (0, String::new());
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

fn config(http: u16, clickhouse: u16, keys: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  clickhouse:
    endpoint: http://127.0.0.1:{clickhouse}
    database: otel_e2e
    compression: none
    ttl: 72h
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0 }}
    {keys}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [clickhouse] }}
    metrics: {{ receivers: [otlp], exporters: [clickhouse] }}
    logs: {{ receivers: [otlp], exporters: [clickhouse] }}
"#
    )
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn skv(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource { attributes: vec![skv("service.name", service), skv("host.name", "h1")], ..Default::default() })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope { name: "e2e".into(), version: "2.0".into(), ..Default::default() })
}

fn id(byte: u8, len: usize, n: u32) -> Vec<u8> {
    let mut v = vec![byte; len];
    v[len - 4..].copy_from_slice(&n.to_be_bytes());
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The spans of the first test: `checkout` serves `GET /cart` 100 times (durations 1..=100 ms,
/// in 10 traces), calling `payments` once per trace; one payments call fails.
fn test_spans(t0: u64) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for i in 0..100u32 {
        let trace = i / 10;
        let root = Span {
            trace_id: id(0xa0, 16, trace),
            span_id: id(0xb0, 8, i),
            name: "GET /cart".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: t0 + u64::from(i) * 1_000_000,
            end_time_unix_nano: t0 + u64::from(i) * 1_000_000 + u64::from(i + 1) * 1_000_000,
            attributes: vec![skv("http.method", "GET"), kv("http.status_code", any_value::Value::IntValue(200))],
            status: Some(Status::default()),
            events: if i == 0 {
                vec![span::Event {
                    time_unix_nano: t0 + 500,
                    name: "cache.miss".into(),
                    attributes: vec![skv("key", "cart:1")],
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            links: if i == 1 {
                vec![span::Link {
                    trace_id: id(0xa0, 16, 99),
                    span_id: id(0xb0, 8, 999),
                    trace_state: "ot=th:8".into(),
                    attributes: vec![skv("link", "yes")],
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            ..Default::default()
        };
        out.push(("checkout".to_string(), root));
        if i % 10 == 0 {
            let failed = trace == 3;
            let child = Span {
                trace_id: id(0xa0, 16, trace),
                span_id: id(0xc0, 8, i),
                parent_span_id: id(0xb0, 8, i),
                name: "charge".into(),
                kind: span::SpanKind::Client as i32,
                start_time_unix_nano: t0 + u64::from(i) * 1_000_000 + 100,
                end_time_unix_nano: t0 + u64::from(i) * 1_000_000 + 100 + 7_000_000,
                status: Some(Status {
                    code: if failed { status::StatusCode::Error } else { status::StatusCode::Ok } as i32,
                    message: if failed { "card declined".into() } else { String::new() },
                }),
                ..Default::default()
            };
            out.push(("payments".to_string(), child));
        }
    }
    out
}

fn traces_request(spans: &[(String, Span)]) -> Vec<u8> {
    let mut resource_spans: Vec<ResourceSpans> = Vec::new();
    for service in ["checkout", "payments"] {
        resource_spans.push(ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: spans.iter().filter(|(s, _)| s == service).map(|(_, sp)| sp.clone()).collect(),
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

fn logs_request(t0: u64) -> Vec<u8> {
    let record = |n: u64, sev: i32, text: &str, body: &str| LogRecord {
        time_unix_nano: t0 + n,
        observed_time_unix_nano: t0 + n + 1,
        severity_number: sev,
        severity_text: text.into(),
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(body.into())) }),
        attributes: vec![skv("user", &format!("u{n}"))],
        trace_id: id(0xa0, 16, 3),
        span_id: id(0xc0, 8, 30),
        flags: 1,
        ..Default::default()
    };
    let resource_logs = vec![
        ResourceLogs {
            resource: resource("checkout"),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![
                    record(1, 9, "INFO", "cart loaded"),
                    record(2, 17, "ERROR", "payment failed"),
                    record(3, 13, "WARN", "slow cart"),
                    record(4, 21, "FATAL", "cart service down"),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        },
        ResourceLogs {
            resource: resource("payments"),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![record(5, 17, "ERROR", "card declined")],
                ..Default::default()
            }],
            ..Default::default()
        },
    ];
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

fn metrics_request(t0: u64) -> Vec<u8> {
    let attrs = vec![skv("route", "/cart")];
    let number = |v: number_data_point::Value| NumberDataPoint {
        attributes: attrs.clone(),
        start_time_unix_nano: t0 - 1_000_000_000,
        time_unix_nano: t0,
        value: Some(v),
        ..Default::default()
    };
    let m = |name: &str, data: metric::Data| Metric {
        name: name.into(),
        description: format!("{name} description"),
        unit: "1".into(),
        data: Some(data),
        ..Default::default()
    };
    let metrics = vec![
        m(
            "queue.depth",
            metric::Data::Gauge(Gauge { data_points: vec![number(number_data_point::Value::AsDouble(4.5))] }),
        ),
        m(
            "requests",
            metric::Data::Sum(Sum {
                data_points: vec![number(number_data_point::Value::AsInt(120))],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        m(
            "latency",
            metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: attrs.clone(),
                    start_time_unix_nano: t0 - 1_000_000_000,
                    time_unix_nano: t0,
                    count: 6,
                    sum: Some(21.0),
                    bucket_counts: vec![1, 2, 3],
                    explicit_bounds: vec![1.0, 5.0],
                    min: Some(0.5),
                    max: Some(9.0),
                    ..Default::default()
                }],
                aggregation_temporality: 1,
            }),
        ),
        m(
            "latency.exp",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: attrs.clone(),
                    time_unix_nano: t0,
                    count: 5,
                    sum: Some(12.5),
                    scale: 2,
                    zero_count: 1,
                    positive: Some(Buckets { offset: 3, bucket_counts: vec![2, 2] }),
                    negative: Some(Buckets { offset: -1, bucket_counts: vec![] }),
                    min: Some(0.0),
                    max: Some(4.0),
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        m(
            "rpc.duration",
            metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: attrs.clone(),
                    time_unix_nano: t0,
                    count: 10,
                    sum: 55.0,
                    quantile_values: vec![
                        ValueAtQuantile { quantile: 0.5, value: 5.0 },
                        ValueAtQuantile { quantile: 0.99, value: 9.9 },
                    ],
                    ..Default::default()
                }],
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("checkout"),
            scope_metrics: vec![ScopeMetrics { scope: scope(), metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// DateTime64(9) as ClickHouse prints it in JSON (UTC): `2026-11-25 23:30:00.123456789`.
fn ch_time(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:09}", rem / 3600, rem % 3600 / 60, rem % 60, ns % 1_000_000_000)
}

#[test]
fn traces_logs_and_metrics_land_in_the_collectors_tables_and_grafana_queries_work() {
    let data = tempfile::tempdir().expect("temp dir");
    let ch = ClickHouseShim::start(free_port(), &data.path().join("chdb"));
    let http = free_port();
    let weir = Weir::start("clickhouse", &config(http, ch.port, ""));

    let t0 = now_ns() - 60_000_000_000;
    let spans = test_spans(t0);
    for (path, body) in
        [("/v1/traces", traces_request(&spans)), ("/v1/logs", logs_request(t0)), ("/v1/metrics", metrics_request(t0))]
    {
        assert_eq!(post_protobuf(http, path, &body).0, 200, "{path}");
    }
    let tables = [
        ("otel_traces", spans.len() as u64),
        ("otel_logs", 5),
        ("otel_metrics_gauge", 1),
        ("otel_metrics_sum", 1),
        ("otel_metrics_histogram", 1),
        ("otel_metrics_exponential_histogram", 1),
        ("otel_metrics_summary", 1),
    ];
    let all_there = eventually(Duration::from_secs(60), || {
        tables.iter().all(|(t, n)| ch.count(&format!("SELECT count() FROM otel_e2e.{t}")) == *n)
    });
    let counts: Vec<_> =
        tables.iter().map(|(t, _)| (t, ch.count(&format!("SELECT count() FROM otel_e2e.{t}")))).collect();
    assert!(all_there, "row counts {counts:?}, want {tables:?}\nweir: {}\nshim: {}", weir.log(), ch.log());

    // Every span, field by field.
    let rows = ch.query(
        "SELECT toUnixTimestamp64Nano(Timestamp) AS ts, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, \
         ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, \
         arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS ets, Events.Name, Events.Attributes, \
         Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes \
         FROM otel_e2e.otel_traces ORDER BY SpanId",
    );
    let mut want: Vec<&(String, Span)> = spans.iter().collect();
    want.sort_by_key(|(_, s)| hex(&s.span_id));
    assert_eq!(rows.len(), want.len());
    for (row, (service, s)) in rows.iter().zip(want) {
        let kind = if s.kind == span::SpanKind::Server as i32 { "Server" } else { "Client" };
        let code = match s.status.as_ref().map_or(0, |st| st.code) {
            1 => "Ok",
            2 => "Error",
            _ => "Unset",
        };
        let span_attrs: serde_json::Map<String, Value> = s
            .attributes
            .iter()
            .map(|a| {
                let v = match a.value.as_ref().and_then(|v| v.value.clone()) {
                    Some(any_value::Value::StringValue(x)) => x,
                    Some(any_value::Value::IntValue(x)) => x.to_string(),
                    other => panic!("unexpected {other:?}"),
                };
                (a.key.clone(), json!(v))
            })
            .collect();
        let expected = json!({
            "ts": s.start_time_unix_nano,
            "TraceId": hex(&s.trace_id),
            "SpanId": hex(&s.span_id),
            "ParentSpanId": hex(&s.parent_span_id),
            "TraceState": "",
            "SpanName": s.name,
            "SpanKind": kind,
            "ServiceName": service,
            "ResourceAttributes": {"host.name": "h1", "service.name": service},
            "ScopeName": "e2e",
            "ScopeVersion": "2.0",
            "SpanAttributes": span_attrs,
            "Duration": s.end_time_unix_nano - s.start_time_unix_nano,
            "StatusCode": code,
            "StatusMessage": s.status.as_ref().map(|st| st.message.clone()).unwrap_or_default(),
            "ets": s.events.iter().map(|e| e.time_unix_nano).collect::<Vec<_>>(),
            "Events.Name": s.events.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
            "Events.Attributes": s.events.iter().map(|_| json!({"key": "cart:1"})).collect::<Vec<_>>(),
            "Links.TraceId": s.links.iter().map(|l| hex(&l.trace_id)).collect::<Vec<_>>(),
            "Links.SpanId": s.links.iter().map(|l| hex(&l.span_id)).collect::<Vec<_>>(),
            "Links.TraceState": s.links.iter().map(|l| l.trace_state.clone()).collect::<Vec<_>>(),
            "Links.Attributes": s.links.iter().map(|_| json!({"link": "yes"})).collect::<Vec<_>>(),
        });
        assert_eq!(row, &expected);
    }

    // Grafana's trace view: the time range from the lookup table, then the trace's spans.
    let trace = hex(&id(0xa0, 16, 3));
    let rows = ch.query(&format!(
        "WITH '{trace}' AS trace_id, \
         (SELECT min(Start) FROM otel_e2e.otel_traces_trace_id_ts WHERE TraceId = trace_id) AS trace_start, \
         (SELECT max(End) + 1 FROM otel_e2e.otel_traces_trace_id_ts WHERE TraceId = trace_id) AS trace_end \
         SELECT SpanId, ParentSpanId, ServiceName, SpanName, Duration / 1000000 AS duration_ms \
         FROM otel_e2e.otel_traces \
         WHERE TraceId = trace_id AND Timestamp >= trace_start AND Timestamp <= trace_end ORDER BY SpanId"
    ));
    let mut expected: Vec<Value> = spans
        .iter()
        .filter(|(_, s)| hex(&s.trace_id) == trace)
        .map(|(service, s)| {
            json!({"SpanId": hex(&s.span_id), "ParentSpanId": hex(&s.parent_span_id), "ServiceName": service,
                   "SpanName": s.name, "duration_ms": (s.end_time_unix_nano - s.start_time_unix_nano) / 1_000_000})
        })
        .collect();
    expected.sort_by_key(|v| v["SpanId"].as_str().unwrap_or_default().to_string());
    assert_eq!(expected.len(), 11);
    assert_eq!(rows, expected);

    // p99 latency by service and operation, as a Grafana panel computes it.
    let rows = ch.query(
        "SELECT ServiceName, SpanName, quantile(0.99)(Duration) / 1e6 AS p99_ms, count() AS spans, \
         countIf(StatusCode = 'Error') AS errors \
         FROM otel_e2e.otel_traces WHERE Timestamp >= now() - INTERVAL 1 HOUR \
         GROUP BY ServiceName, SpanName ORDER BY ServiceName",
    );
    // checkout: durations 1..=100 ms; interpolated p99 = 99 + 0.01 × (100 − 99) = 99.01 ms.
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0]["ServiceName"].as_str(), rows[0]["SpanName"].as_str()), (Some("checkout"), Some("GET /cart")));
    assert!((rows[0]["p99_ms"].as_f64().unwrap_or(0.0) - 99.01).abs() < 1e-6, "{rows:?}");
    assert_eq!((rows[0]["spans"].as_u64(), rows[0]["errors"].as_u64()), (Some(100), Some(0)));
    assert_eq!((rows[1]["ServiceName"].as_str(), rows[1]["SpanName"].as_str()), (Some("payments"), Some("charge")));
    assert!((rows[1]["p99_ms"].as_f64().unwrap_or(0.0) - 7.0).abs() < 1e-6, "{rows:?}");
    assert_eq!((rows[1]["spans"].as_u64(), rows[1]["errors"].as_u64()), (Some(10), Some(1)));

    // Error logs of a service, through TimestampTime as Grafana's logs query filters.
    let rows = ch.query(
        "SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, Body, ResourceSchemaUrl, \
         ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, LogAttributes, TimestampTime \
         FROM otel_e2e.otel_logs \
         WHERE ServiceName = 'checkout' AND SeverityNumber >= 17 AND TimestampTime >= now() - INTERVAL 1 HOUR \
         ORDER BY Timestamp",
    );
    let schema = "https://opentelemetry.io/schemas/1.26.0";
    let log = |n: u64, sev: u64, text: &str, body: &str| {
        json!({"Timestamp": ch_time(t0 + n), "TraceId": hex(&id(0xa0, 16, 3)), "SpanId": hex(&id(0xc0, 8, 30)),
               "TraceFlags": 1, "SeverityText": text, "SeverityNumber": sev, "Body": body,
               "ResourceSchemaUrl": schema, "ResourceAttributes": {"host.name": "h1", "service.name": "checkout"},
               "ScopeSchemaUrl": schema, "ScopeName": "e2e", "ScopeVersion": "2.0",
               "LogAttributes": {"user": format!("u{n}")}, "TimestampTime": ch_time(t0 + n)[..19].to_string()})
    };
    assert_eq!(rows, vec![log(2, 17, "ERROR", "payment failed"), log(4, 21, "FATAL", "cart service down")]);

    // One row per metric type, with its type's columns.
    let common = "ServiceName, MetricName, MetricDescription, MetricUnit, Attributes, \
                  toUnixTimestamp64Nano(TimeUnix) AS time, ScopeName";
    let base = |name: &str| {
        json!({"ServiceName": "checkout", "MetricName": name, "MetricDescription": format!("{name} description"),
               "MetricUnit": "1", "Attributes": {"route": "/cart"}, "time": t0, "ScopeName": "e2e"})
    };
    let with = |mut v: Value, extra: Value| {
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    };
    let one = |sql: String| {
        let rows = ch.query(&sql);
        assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
        rows.into_iter().next().unwrap_or_default()
    };
    assert_eq!(
        one(format!("SELECT {common}, Value, Flags FROM otel_e2e.otel_metrics_gauge")),
        with(base("queue.depth"), json!({"Value": 4.5, "Flags": 0}))
    );
    assert_eq!(
        one(format!("SELECT {common}, Value, AggregationTemporality, IsMonotonic FROM otel_e2e.otel_metrics_sum")),
        with(base("requests"), json!({"Value": 120, "AggregationTemporality": 2, "IsMonotonic": true}))
    );
    assert_eq!(
        one(format!(
            "SELECT {common}, Count, Sum, BucketCounts, ExplicitBounds, Min, Max, AggregationTemporality \
             FROM otel_e2e.otel_metrics_histogram"
        )),
        with(
            base("latency"),
            json!({"Count": 6, "Sum": 21, "BucketCounts": [1, 2, 3], "ExplicitBounds": [1, 5],
                   "Min": 0.5, "Max": 9, "AggregationTemporality": 1})
        )
    );
    assert_eq!(
        one(format!(
            "SELECT {common}, Count, Sum, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, NegativeOffset, \
             NegativeBucketCounts, Max FROM otel_e2e.otel_metrics_exponential_histogram"
        )),
        with(
            base("latency.exp"),
            json!({"Count": 5, "Sum": 12.5, "Scale": 2, "ZeroCount": 1, "PositiveOffset": 3,
                   "PositiveBucketCounts": [2, 2], "NegativeOffset": -1, "NegativeBucketCounts": [], "Max": 4})
        )
    );
    assert_eq!(
        one(format!(
            "SELECT {common}, Count, Sum, ValueAtQuantiles.Quantile, ValueAtQuantiles.Value \
             FROM otel_e2e.otel_metrics_summary"
        )),
        with(
            base("rpc.duration"),
            json!({"Count": 10, "Sum": 55, "ValueAtQuantiles.Quantile": [0.5, 0.99],
                   "ValueAtQuantiles.Value": [5, 9.9]})
        )
    );
}

fn span_batch(t0: u64, batch: u32, spans: u32) -> Vec<u8> {
    let spans: Vec<(String, Span)> = (0..spans)
        .map(|i| {
            let n = batch * 100_000 + i;
            let s = Span {
                trace_id: id(0xd0, 16, n),
                span_id: id(0xe0, 8, n),
                name: "work".into(),
                kind: span::SpanKind::Internal as i32,
                start_time_unix_nano: t0 + u64::from(n),
                end_time_unix_nano: t0 + u64::from(n) + 1000,
                ..Default::default()
            };
            ("checkout".to_string(), s)
        })
        .collect();
    traces_request(&spans)
}

#[test]
fn a_server_stopped_and_restarted_during_a_run_gets_every_span_exactly_once() {
    let data = tempfile::tempdir().expect("temp dir");
    let chdb_dir = data.path().join("chdb");
    let port = free_port();
    let mut ch = ClickHouseShim::start(port, &chdb_dir);
    let http = free_port();
    let weir = Weir::start("clickhouse-restart", &config(http, port, ""));
    let t0 = now_ns() - 60_000_000_000;
    let count = "SELECT count() FROM otel_e2e.otel_traces";
    let distinct = "SELECT uniqExact(SpanId) FROM otel_e2e.otel_traces";

    for batch in 0..10 {
        assert_eq!(post_protobuf(http, "/v1/traces", &span_batch(t0, batch, 50)).0, 200);
    }
    assert!(eventually(Duration::from_secs(60), || ch.count(count) == 500), "weir: {}", weir.log());

    ch.kill();
    for batch in 10..30 {
        assert_eq!(post_protobuf(http, "/v1/traces", &span_batch(t0, batch, 50)).0, 200, "batch {batch}");
    }
    let retried = eventually(Duration::from_secs(20), || weir.log().contains("Inserting into ClickHouse failed"));
    assert!(retried, "no failed insert was logged while the server was down:\n{}", weir.log());

    let ch = ClickHouseShim::start(port, &ch.data.clone());
    let arrived = eventually(Duration::from_secs(90), || ch.count(count) == 1500);
    assert!(arrived, "{} of 1500 spans after the restart\nweir: {}", ch.count(count), weir.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ch.count(count), 1500, "spans written twice");
    assert_eq!(ch.count(distinct), 1500);
    let log = weir.log();
    let failure = log.lines().find(|l| l.contains("Inserting into ClickHouse failed")).unwrap_or_default();
    assert!(failure.contains("otel_traces") && failure.contains("Connection refused"), "{failure}");
}

#[test]
fn an_https_endpoint_is_verified_with_the_configured_ca_and_gets_every_span() {
    let data = tempfile::tempdir().expect("temp dir");
    let ca = common::pki::new_ca();
    let (cert, key) = common::pki::leaf(&ca, &["localhost", "127.0.0.1"]);
    let (ca_file, cert_file, key_file) =
        (data.path().join("ca.pem"), data.path().join("server.pem"), data.path().join("server-key.pem"));
    for (path, pem) in [(&ca_file, ca.pem()), (&cert_file, cert), (&key_file, key)] {
        std::fs::write(path, pem).expect("write pem");
    }
    let tls_port = free_port();
    let ch =
        ClickHouseShim::start_with(free_port(), &data.path().join("chdb"), Some((tls_port, &cert_file, &key_file)));
    let t0 = now_ns() - 60_000_000_000;
    let spans = test_spans(t0);

    // Trusting the test CA: delivered.
    let http = free_port();
    let keys = format!("tls: {{ ca_file: \"{}\" }}", ca_file.display());
    let cfg = config(http, tls_port, &keys).replace("endpoint: http://127.0.0.1", "endpoint: https://localhost");
    let weir = Weir::start("clickhouse-tls", &cfg);
    assert_eq!(post_protobuf(http, "/v1/traces", &traces_request(&spans)).0, 200);
    let arrived = eventually(Duration::from_secs(60), || {
        ch.count("SELECT count() FROM otel_e2e.otel_traces") == spans.len() as u64
    });
    assert!(
        arrived,
        "spans over TLS: {}\nweir: {}\nshim: {}",
        ch.count("SELECT count() FROM otel_e2e.otel_traces"),
        weir.log(),
        ch.log()
    );
    drop(weir);

    // Without the CA, the system roots do not know the server: nothing is written, and weir says why.
    let http = free_port();
    let cfg = config(http, tls_port, "")
        .replace("endpoint: http://127.0.0.1", "endpoint: https://localhost")
        .replace("database: otel_e2e", "database: otel_untrusted");
    let weir = Weir::start("clickhouse-untrusted", &cfg);
    assert_eq!(post_protobuf(http, "/v1/traces", &traces_request(&spans)).0, 200);
    let refused = eventually(Duration::from_secs(30), || weir.log().contains("certificate"));
    assert!(refused, "weir should log the certificate error: {}", weir.log());
    assert_eq!(ch.count("SELECT count() FROM system.databases WHERE name = 'otel_untrusted'"), 0);
}
