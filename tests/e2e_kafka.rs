//! The `kafka` exporter and receiver against a real Kafka-protocol broker (tansu), per test:
//! round trips of every signal in both encodings, message keys, consumer-group offsets across a
//! restart, undecodable messages, and the two-tier tail-sampling topology with a gateway killed
//! mid-run.
#![cfg(feature = "kafka")]

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TANSU_INSTALL: &str = "cargo install tansu --locked --features dynostore";

/// A tansu broker on a free port, in memory, killed on drop.
struct Tansu {
    child: Child,
    brokers: String,
}

impl Tansu {
    fn start() -> Tansu {
        let bin = tansu_binary();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; install it with `{TANSU_INSTALL}`", bin.display()));
        let tansu = Tansu { child, brokers: format!("127.0.0.1:{port}") };
        let up = eventually(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "tansu did not listen on {port} within 30s");
        tansu
    }

    fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<_> =
            ClientConfig::new().set("bootstrap.servers", &self.brokers).create().expect("admin client");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = rt
            .block_on(
                admin.create_topics([&topic], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))),
            )
            .expect("create_topics");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    fn producer(&self) -> BaseProducer {
        ClientConfig::new().set("bootstrap.servers", &self.brokers).create().expect("producer")
    }

    /// Produces `values` to `topic` and waits until the broker has them.
    fn produce(&self, topic: &str, values: &[Vec<u8>]) {
        let producer = self.producer();
        for v in values {
            producer.send(BaseRecord::<[u8], [u8]>::to(topic).payload(v)).expect("enqueue message");
        }
        producer.flush(Duration::from_secs(10)).expect("messages delivered");
    }

    /// Every message of `topic` from the beginning: (partition, key, value).
    fn read_all(&self, topic: &str, expected: usize) -> Vec<(i32, Option<Vec<u8>>, Vec<u8>)> {
        self.read_with_headers(topic, expected).into_iter().map(|(p, k, v, _)| (p, k, v)).collect()
    }

    /// Every message of `topic` from the beginning: (partition, key, value, headers).
    #[allow(clippy::type_complexity)]
    fn read_with_headers(
        &self,
        topic: &str,
        expected: usize,
    ) -> Vec<(i32, Option<Vec<u8>>, Vec<u8>, Vec<(String, String)>)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("reader-{}", free_port()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                out.push(message_parts(&m));
            }
        }
        // Anything beyond `expected` that is already there.
        let settle = Instant::now() + Duration::from_secs(1);
        while Instant::now() < settle {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push(message_parts(&m));
            }
        }
        out
    }
}

#[allow(clippy::type_complexity)]
fn message_parts(m: &rdkafka::message::BorrowedMessage<'_>) -> (i32, Option<Vec<u8>>, Vec<u8>, Vec<(String, String)>) {
    use rdkafka::message::{Headers, Message};
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                .collect()
        })
        .unwrap_or_default();
    (m.partition(), m.key().map(<[u8]>::to_vec), m.payload().unwrap_or_default().to_vec(), headers)
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tansu on PATH or in ~/.cargo/bin; a test FAILURE naming the install command otherwise.
fn tansu_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("tansu")).find(|p| p.is_file()))
        .unwrap_or_default();
    let in_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu")).filter(|p| p.is_file());
    on_path.or(in_cargo).unwrap_or_else(|| {
        panic!("the Kafka tests need the tansu broker (a Kafka-protocol broker from crates.io); install it with `{TANSU_INSTALL}` (scripts/test does this)")
    })
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource { attributes: vec![kv("service.name", service)], ..Default::default() })
}

/// A deterministic, well-spread 16-byte trace id.
fn trace_id(t: usize) -> Vec<u8> {
    let mut x = (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    [x.wrapping_mul(0xBF58_476D_1CE4_E5B9).to_be_bytes(), x.to_be_bytes()].concat()
}

fn span(t: usize, s: usize, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id(t),
        span_id: ((t * 16 + s) as u64 + 1).to_be_bytes().to_vec(),
        name: format!("step {s} of {t}"),
        kind: 1,
        start_time_unix_nano: 1_764_100_000_000_000_000,
        end_time_unix_nano: 1_764_100_000_050_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn traces_request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn metrics_request(points: usize) -> ExportMetricsServiceRequest {
    let data_points = (0..points)
        .map(|i| NumberDataPoint {
            attributes: vec![kv("room", &i.to_string())],
            time_unix_nano: 1_764_100_000_000_000_000,
            value: Some(number_data_point::Value::AsInt(10 + i as i64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("chat"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "chat.messages".into(),
                    data: Some(metric::Data::Sum(Sum { data_points, aggregation_temporality: 2, is_monotonic: true })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs_request(bodies: &[String]) -> ExportLogsServiceRequest {
    let log_records = bodies
        .iter()
        .map(|b| LogRecord {
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(b.clone())) }),
            severity_number: 9,
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("chat"),
            scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// A weir that forwards OTLP/HTTP to Kafka (`exporter` is the kafka exporter's YAML body).
fn agent(name: &str, http: u16, exporter: &str) -> Weir {
    Weir::start(
        name,
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  kafka: {exporter}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [kafka] }}
    metrics: {{ receivers: [otlp], exporters: [kafka] }}
    logs: {{ receivers: [otlp], exporters: [kafka] }}
"#
        ),
    )
}

/// A weir that consumes Kafka into the `file` exporter (`{dir}/out.jsonl`).
fn consumer(name: &str, receiver: &str, signals: &[&str]) -> Weir {
    let pipelines: String =
        signals.iter().map(|s| format!("    {s}: {{ receivers: [kafka], exporters: [file] }}\n")).collect();
    Weir::start(
        name,
        &format!(
            r#"
receivers:
  kafka: {receiver}
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
{pipelines}"#
        ),
    )
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

fn span_names(out: &FileOutput) -> Vec<String> {
    let mut v: Vec<String> = spans(out).into_iter().map(|s| s.name).collect();
    v.sort();
    v
}

fn data_points(out: &FileOutput) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for req in &out.metrics {
        for rm in &req.resource_metrics {
            for sm in &rm.scope_metrics {
                for metric in &sm.metrics {
                    if let Some(metric::Data::Sum(s)) = &metric.data {
                        for p in &s.data_points {
                            let room = attrs_json(&p.attributes)["room"].as_str().unwrap_or_default().to_string();
                            if let Some(number_data_point::Value::AsInt(v)) = p.value {
                                m.insert(format!("{}/{room}", metric.name), v);
                            }
                        }
                    }
                }
            }
        }
    }
    m
}

/// Every signal through otlp → kafka exporter → broker → kafka receiver → file, compared.
fn round_trip(encoding: &str) {
    let tansu = Tansu::start();
    for topic in ["otlp_spans", "otlp_metrics", "otlp_logs"] {
        tansu.create_topic(topic, 2);
    }
    let http = free_port();
    let exporter = format!(
        "{{ brokers: [{b}], encoding: {encoding}, partition_traces_by_id: true, partition_logs_by_resource_attributes: true, \
         retry_on_failure: {{ initial_interval: 100ms }} }}",
        b = tansu.brokers
    );
    let mut sender = agent("agent", http, &exporter);
    let receiver = format!(
        "{{ brokers: [{b}], encoding: {encoding}, initial_offset: earliest, group_id: round-trip, heartbeat_interval: 1s, session_timeout: 6s }}",
        b = tansu.brokers
    );
    let mut gateway = consumer("gateway", &receiver, &["traces", "metrics", "logs"]);

    let sent_spans: Vec<Span> =
        (0..5).flat_map(|t| (0..3).map(move |s| span(t, s, vec![kv("i", &format!("{t}.{s}"))]))).collect();
    let sent_traces = traces_request("checkout", sent_spans);
    let sent_metrics = metrics_request(4);
    let bodies: Vec<String> = (0..7).map(|i| format!("user {i} joined room {}", i % 3)).collect();
    let sent_logs = logs_request(&bodies);
    for (path, body) in [
        ("/v1/traces", sent_traces.encode_to_vec()),
        ("/v1/metrics", sent_metrics.encode_to_vec()),
        ("/v1/logs", sent_logs.encode_to_vec()),
    ] {
        let (code, _) = post_protobuf(http, path, &body);
        assert_eq!(code, 200, "{path}: {}", sender.log());
    }

    let mut expected_spans: Vec<String> =
        sent_traces.resource_spans[0].scope_spans[0].spans.iter().map(|s| s.name.clone()).collect();
    expected_spans.sort();
    let expected_points: BTreeMap<String, i64> =
        (0..4).map(|i| (format!("chat.messages/{i}"), 10 + i as i64)).collect();
    let arrived = eventually(Duration::from_secs(40), || {
        let out = read_file_output(&gateway.path("out.jsonl"));
        span_names(&out).len() >= expected_spans.len()
            && data_points(&out).len() >= expected_points.len()
            && log_bodies(&out).len() >= bodies.len()
    });
    assert!(arrived, "agent:\n{}\ngateway:\n{}", sender.log(), gateway.log());
    assert!(gateway.terminate(Duration::from_secs(30)).success(), "{}", gateway.log());
    assert!(sender.terminate(Duration::from_secs(30)).success(), "{}", sender.log());

    let out = read_file_output(&gateway.path("out.jsonl"));
    assert_eq!(span_names(&out), expected_spans, "every span once");
    let got = spans(&out);
    for s in &got {
        assert_eq!(s.service, "checkout", "resource kept");
        let want = sent_traces.resource_spans[0].scope_spans[0].spans.iter().find(|x| x.name == s.name).expect("sent");
        assert_eq!(s.trace_id, hex(&want.trace_id));
        assert_eq!(s.attributes, attrs_json(&want.attributes));
    }
    assert_eq!(out.traces.len(), 5, "partition_traces_by_id: one message, so one request, per trace");
    assert_eq!(data_points(&out), expected_points);
    let mut got_bodies: Vec<String> = log_bodies(&out)
        .into_iter()
        .map(|(svc, b)| {
            assert_eq!(svc, "chat");
            b
        })
        .collect();
    got_bodies.sort();
    let mut want_bodies = bodies.clone();
    want_bodies.sort();
    assert_eq!(got_bodies, want_bodies);
}

#[test]
fn every_signal_round_trips_as_otlp_proto() {
    round_trip("otlp_proto");
}

#[test]
fn every_signal_round_trips_as_otlp_json() {
    round_trip("otlp_json");
}

#[test]
fn partition_traces_by_id_keys_each_message_with_its_trace_id() {
    let tansu = Tansu::start();
    tansu.create_topic("keyed_spans", 4);
    let http = free_port();
    let exporter =
        format!("{{ brokers: [{}], traces: {{ topic: keyed_spans }}, partition_traces_by_id: true }}", tansu.brokers);
    let mut sender = agent("agent", http, &exporter);
    // Six traces, their spans interleaved over two services in one request.
    let spans_of = |s: usize| (0..6).map(|t| span(t, s, vec![])).collect::<Vec<_>>();
    let mut req = traces_request("front", spans_of(0));
    req.resource_spans.extend(traces_request("back", spans_of(1)).resource_spans);
    let (code, _) = post_protobuf(http, "/v1/traces", &req.encode_to_vec());
    assert_eq!(code, 200, "{}", sender.log());

    let messages = tansu.read_all("keyed_spans", 6);
    assert!(sender.terminate(Duration::from_secs(30)).success(), "{}", sender.log());
    assert_eq!(messages.len(), 6, "one message per trace");
    let mut partitions_by_key: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut keys = BTreeSet::new();
    for (partition, key, value) in &messages {
        let key = String::from_utf8(key.clone().expect("keyed")).expect("utf-8 key");
        // An otlp_proto message is one ExportTraceServiceRequest, decodable by prost.
        let decoded = ExportTraceServiceRequest::decode(&value[..]).expect("an ExportTraceServiceRequest");
        let services: Vec<String> = decoded
            .resource_spans
            .iter()
            .map(|r| attrs_json(&r.resource.as_ref().expect("resource").attributes)["service.name"].to_string())
            .collect();
        assert_eq!(services, ["\"front\"", "\"back\""], "each span under its own resource");
        for s in decoded.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
            assert_eq!(hex(&s.trace_id), key, "key = lowercase hex trace id of every span in the message");
        }
        partitions_by_key.entry(key.clone()).or_default().insert(*partition);
        keys.insert(key);
    }
    let expected: BTreeSet<String> = (0..6).map(|t| hex(&trace_id(t))).collect();
    assert_eq!(keys, expected);
    let used: BTreeSet<i32> = messages.iter().map(|m| m.0).collect();
    assert!(used.len() > 1, "keys spread over the partitions: {used:?}");
}

#[test]
fn client_metadata_picks_the_topic_and_travels_as_headers_and_logs_are_keyed_by_trace_id() {
    let tansu = Tansu::start();
    for topic in ["tenant_a_spans", "default_spans", "traced_logs"] {
        tansu.create_topic(topic, 2);
    }
    let http = free_port();
    let mut sender = Weir::start(
        "metadata",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}", include_metadata: true }}
exporters:
  kafka:
    brokers: [{brokers}]
    include_metadata_keys: [x-tenant]
    traces: {{ topic: default_spans, topic_from_metadata_key: x-kafka-topic }}
    logs: {{ topic: traced_logs }}
    partition_logs_by_trace_id: true
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  pipelines:
    traces: {{ receivers: [otlp], exporters: [kafka] }}
    logs: {{ receivers: [otlp], exporters: [kafka] }}
"#,
            brokers = tansu.brokers
        ),
    );
    let one = |name: &str| traces_request(name, vec![span(0, 0, vec![])]).encode_to_vec();
    let headers = [("x-kafka-topic", "tenant_a_spans"), ("x-tenant", "a")];
    assert_eq!(post_protobuf_with_headers(http, "/v1/traces", &one("tenant-a"), &headers).0, 200);
    assert_eq!(post_protobuf_with_headers(http, "/v1/traces", &one("anonymous"), &[]).0, 200);
    // Four log records: two of trace 1, one of trace 2, one outside any trace.
    let mut logs = logs_request(&["a".into(), "b".into(), "c".into(), "d".into()]);
    for (i, r) in logs.resource_logs[0].scope_logs[0].log_records.iter_mut().enumerate() {
        r.trace_id = match i {
            0 | 1 => trace_id(1),
            2 => trace_id(2),
            _ => Vec::new(),
        };
    }
    assert_eq!(post_protobuf_with_headers(http, "/v1/logs", &logs.encode_to_vec(), &[("x-tenant", "b")]).0, 200);

    let tenant = tansu.read_with_headers("tenant_a_spans", 1);
    let default = tansu.read_with_headers("default_spans", 1);
    let traced = tansu.read_with_headers("traced_logs", 3);
    assert!(sender.terminate(Duration::from_secs(30)).success(), "{}", sender.log());

    let service = |value: &[u8]| {
        let r = ExportTraceServiceRequest::decode(value).expect("traces");
        attrs_json(&r.resource_spans[0].resource.as_ref().expect("resource").attributes)["service.name"].to_string()
    };
    assert_eq!(tenant.len(), 1, "the topic named by the request's metadata");
    assert_eq!(service(&tenant[0].2), "\"tenant-a\"");
    assert_eq!(tenant[0].3, [("x-tenant".to_string(), "a".to_string())], "include_metadata_keys as headers");
    assert_eq!(default.len(), 1, "without the key, the signal's topic");
    assert_eq!(service(&default[0].2), "\"anonymous\"");
    assert!(default[0].3.is_empty(), "no metadata, no headers: {:?}", default[0].3);

    assert_eq!(traced.len(), 3, "one message per trace id, and one for the record without");
    let mut by_key: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for (_, key, value, headers) in &traced {
        assert_eq!(headers, &[("x-tenant".to_string(), "b".to_string())]);
        let r = ExportLogsServiceRequest::decode(&value[..]).expect("logs");
        let bodies = r
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| value_json(&l.body).as_str().expect("string body").to_string())
            .collect();
        by_key.insert(key.clone().map(|k| String::from_utf8(k).expect("utf-8")), bodies);
    }
    let want = BTreeMap::from([
        (None, vec!["d".to_string()]),
        (Some(hex(&trace_id(1))), vec!["a".to_string(), "b".to_string()]),
        (Some(hex(&trace_id(2))), vec!["c".to_string()]),
    ]);
    assert_eq!(by_key, want);

    // A weir reading the tenant's topic turns the header back into a resource attribute.
    let receiver = format!(
        "{{ brokers: [{}], group_id: headers, initial_offset: earliest, traces: {{ topic: tenant_a_spans }}, \
         header_extraction: {{ extract_headers: true, headers: [x-tenant, x-missing] }} }}",
        tansu.brokers
    );
    let mut reader = consumer("headers", &receiver, &["traces"]);
    let path = reader.path("out.jsonl");
    assert!(eventually(Duration::from_secs(30), || !read_file_output(&path).traces.is_empty()), "{}", reader.log());
    assert!(reader.terminate(Duration::from_secs(30)).success(), "{}", reader.log());
    let out = read_file_output(&path);
    let attrs = attrs_json(&out.traces[0].resource_spans[0].resource.as_ref().expect("resource").attributes);
    assert_eq!(attrs.get("kafka.header.x-tenant"), Some(&"a".into()), "{attrs:?}");
    assert_eq!(attrs.get("service.name"), Some(&"tenant-a".into()));
    assert!(!attrs.contains_key("kafka.header.x-missing"), "a header the message lacks adds nothing");
}

/// The log without terminal colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

fn one_span_request(name: &str) -> Vec<u8> {
    let mut s = span(0, 0, vec![]);
    s.name = name.to_string();
    traces_request("svc", vec![s]).encode_to_vec()
}

#[test]
fn consumer_group_resumes_after_a_restart_with_only_the_new_messages() {
    let tansu = Tansu::start();
    tansu.create_topic("otlp_spans", 2);
    let first: Vec<String> = (0..20).map(|i| format!("first {i}")).collect();
    tansu.produce("otlp_spans", &first.iter().map(|n| one_span_request(n)).collect::<Vec<_>>());
    let receiver = format!(
        "{{ brokers: [{}], group_id: resume, initial_offset: earliest, heartbeat_interval: 1s, session_timeout: 6s }}",
        tansu.brokers
    );
    let mut gateway = consumer("gateway-1", &receiver, &["traces"]);
    let all_first =
        eventually(Duration::from_secs(30), || span_names(&read_file_output(&gateway.path("out.jsonl"))).len() >= 20);
    assert!(all_first, "{}", gateway.log());
    assert!(gateway.terminate(Duration::from_secs(30)).success(), "{}", gateway.log());
    let mut got_first = span_names(&read_file_output(&gateway.path("out.jsonl")));
    got_first.dedup();
    let mut want_first = first.clone();
    want_first.sort();
    assert_eq!(got_first, want_first);

    // While no member is running, more arrive; the restarted member reads only those.
    let second: Vec<String> = (0..20).map(|i| format!("second {i}")).collect();
    tansu.produce("otlp_spans", &second.iter().map(|n| one_span_request(n)).collect::<Vec<_>>());
    let mut gateway = consumer("gateway-2", &receiver, &["traces"]);
    let all_second =
        eventually(Duration::from_secs(30), || span_names(&read_file_output(&gateway.path("out.jsonl"))).len() >= 20);
    assert!(all_second, "{}", gateway.log());
    std::thread::sleep(Duration::from_secs(1)); // anything read twice would show up by now
    assert!(gateway.terminate(Duration::from_secs(30)).success(), "{}", gateway.log());
    let got_second = span_names(&read_file_output(&gateway.path("out.jsonl")));
    let mut want_second = second.clone();
    want_second.sort();
    assert_eq!(got_second, want_second, "only the new messages, each once, none lost");
}

#[test]
fn an_undecodable_message_is_reported_skipped_and_consumption_goes_on() {
    let tansu = Tansu::start();
    tansu.create_topic("otlp_spans", 1);
    tansu.produce(
        "otlp_spans",
        &[one_span_request("before"), b"\x0a\xff\xff\xff not protobuf".to_vec(), one_span_request("after")],
    );
    let receiver = format!("{{ brokers: [{}], group_id: bad, initial_offset: earliest }}", tansu.brokers);
    let mut gateway = consumer("gateway", &receiver, &["traces"]);
    let both =
        eventually(Duration::from_secs(30), || span_names(&read_file_output(&gateway.path("out.jsonl"))).len() >= 2);
    assert!(both, "{}", gateway.log());
    let metrics = gateway.metrics();
    assert_eq!(counter(&metrics, "otelcol_kafka_receiver_unmarshal_failed_spans"), 1.0, "{metrics}");
    assert_eq!(counter(&metrics, "otelcol_kafka_receiver_messages"), 3.0, "{metrics}");
    assert!(gateway.terminate(Duration::from_secs(30)).success(), "{}", gateway.log());
    assert_eq!(span_names(&read_file_output(&gateway.path("out.jsonl"))), ["after", "before"]);
    let log = strip_ansi(&gateway.log());
    let line = log.lines().find(|l| l.contains("Skipping a message")).unwrap_or_else(|| panic!("not reported:\n{log}"));
    // The Collector's console format: the fields are one JSON object after the message.
    assert!(
        line.contains("otlp_spans") && line.contains(r#""partition":0"#) && line.contains(r#""offset":1"#),
        "{line}"
    );
}

/// Spans per trace in the two-tier test: 0 and 1 go through agent A, 2 and 3 through agent B.
const TIER_SPANS: usize = 4;

/// Traces whose span 0 carries `keep=yes`; the gateways keep exactly those, whole.
fn flagged(t: usize) -> bool {
    t.is_multiple_of(2)
}

/// The spans of `traces` that one agent sees: `half` 0 → spans 0 and 1 (service `front`), 1 → 2 and 3 (`back`).
fn tier_request(traces: std::ops::Range<usize>, half: usize) -> Vec<u8> {
    let spans = traces
        .flat_map(|t| {
            [2 * half, 2 * half + 1]
                .map(|s| span(t, s, if s == 0 && flagged(t) { vec![kv("keep", "yes")] } else { vec![] }))
        })
        .collect();
    traces_request(if half == 0 { "front" } else { "back" }, spans).encode_to_vec()
}

fn gateway(name: &str, brokers: &str, sink_grpc: u16) -> Weir {
    Weir::start(
        name,
        &format!(
            r#"
receivers:
  kafka:
    brokers: [{brokers}]
    traces: {{ topic: tier_spans }}
    group_id: gateways
    initial_offset: earliest
    session_timeout: 6s
    heartbeat_interval: 1s
processors:
  tail_sampling:
    decision_wait: 1s
    policies:
      - {{ name: flagged, type: string_attribute, string_attribute: {{ key: keep, values: ["yes"] }} }}
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink_grpc}
    compression: none
    retry_on_failure: {{ initial_interval: 100ms }}
    sending_queue: {{ wait_for_result: true }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [kafka], processors: [tail_sampling], exporters: [otlp] }}
"#
        ),
    )
}

/// The partitions a gateway holds now, from its "Partitions assigned/revoked" log lines.
fn assigned_partitions(w: &Weir) -> BTreeSet<String> {
    let log = strip_ansi(&w.log());
    let last = log.lines().rfind(|l| l.contains("Partitions assigned") || l.contains("Partitions revoked"));
    match last {
        // `… Partitions assigned. {"partitions":"t[0], t[1]",…}` (the Collector's console format).
        Some(l) if l.contains("Partitions assigned") => l
            .split(r#""partitions":""#)
            .nth(1)
            .and_then(|p| p.split('"').next())
            .map(|p| p.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
            .unwrap_or_default(),
        _ => BTreeSet::new(),
    }
}

/// How many times each (trace, span) arrived at the sink.
fn arrivals(sink: &Weir) -> BTreeMap<(String, String), usize> {
    let mut seen = BTreeMap::new();
    for s in spans(&read_file_output(&sink.path("out.jsonl"))) {
        *seen.entry((s.trace_id, s.span_id)).or_insert(0) += 1;
    }
    seen
}

/// The (trace, span) ids the gateways must deliver for `traces`: every span of the flagged ones.
fn expected_spans(traces: std::ops::Range<usize>) -> BTreeSet<(String, String)> {
    traces
        .filter(|&t| flagged(t))
        .flat_map(|t| (0..TIER_SPANS).map(move |s| (hex(&trace_id(t)), hex(&span(t, s, vec![]).span_id))))
        .collect()
}

#[test]
fn two_tier_tail_sampling_decides_whole_traces_and_survives_a_killed_gateway() {
    let tansu = Tansu::start();
    tansu.create_topic("tier_spans", 4);
    let sink_grpc = free_port();
    let sink = Weir::start(
        "sink",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{sink_grpc}" }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
"#
        ),
    );
    let mut gw1 = gateway("gateway-1", &tansu.brokers, sink_grpc);
    let gw2 = gateway("gateway-2", &tansu.brokers, sink_grpc);
    let exporter =
        format!("{{ brokers: [{}], traces: {{ topic: tier_spans }}, partition_traces_by_id: true }}", tansu.brokers);
    let (http_a, http_b) = (free_port(), free_port());
    let mut agent_a = agent("agent-a", http_a, &exporter);
    let mut agent_b = agent("agent-b", http_b, &exporter);
    let send = |traces: std::ops::Range<usize>| {
        for (port, half) in [(http_a, 0), (http_b, 1)] {
            let (code, _) = post_protobuf(port, "/v1/traces", &tier_request(traces.clone(), half));
            assert_eq!(code, 200, "agent on {port}");
        }
    };

    // The group must be settled first: a rebalance while data is in flight reads it again
    // (at-least-once), which phase 1 must not see.
    let settled = eventually(Duration::from_secs(30), || {
        let (p1, p2) = (assigned_partitions(&gw1), assigned_partitions(&gw2));
        !p1.is_empty() && !p2.is_empty() && p1.is_disjoint(&p2) && p1.len() + p2.len() == 4
    });
    assert!(settled, "the gateways did not share the 4 partitions\n{}\n{}", gw1.log(), gw2.log());

    // Phase 1: both gateways up; every flagged trace arrives whole, exactly once, and nothing
    // of the other traces arrives.
    const PHASE1: usize = 200;
    for chunk in (0..PHASE1).step_by(50) {
        send(chunk..chunk + 50);
    }
    let want1 = expected_spans(0..PHASE1);
    let done1 = eventually(Duration::from_secs(40), || want1.iter().all(|k| arrivals(&sink).contains_key(k)));
    assert!(done1, "phase 1 incomplete\ngateway-1:\n{}\ngateway-2:\n{}", gw1.log(), gw2.log());
    std::thread::sleep(Duration::from_millis(1500)); // a second decision would have arrived by now
    let seen1 = arrivals(&sink);
    assert_eq!(seen1.keys().cloned().collect::<BTreeSet<_>>(), want1, "exactly the spans of the flagged traces");
    let twice: Vec<_> = seen1.iter().filter(|(_, &n)| n > 1).collect();
    assert!(
        twice.is_empty(),
        "each trace decided once, but {} spans arrived twice, e.g. {:?}; consumed {} + {}, produced {} + {}\ngateway-1:\n{}\ngateway-2:\n{}",
        twice.len(),
        twice.first(),
        counter(&gw1.metrics(), "otelcol_receiver_accepted_spans"),
        counter(&gw2.metrics(), "otelcol_receiver_accepted_spans"),
        counter(&agent_a.metrics(), "otelcol_kafka_exporter_messages"),
        counter(&agent_b.metrics(), "otelcol_kafka_exporter_messages"),
        strip_ansi(&gw1.log()),
        strip_ansi(&gw2.log())
    );
    let accepted = |w: &Weir| counter(&w.metrics(), "otelcol_receiver_accepted_spans");
    let taken = |w: &Weir| counter(&w.metrics(), "otelcol_kafka_receiver_messages");
    let (acc1, acc2) = (accepted(&gw1), accepted(&gw2));
    assert!(acc1 > 0.0 && acc2 > 0.0, "both gateways consume: {acc1} and {acc2} spans");
    assert_eq!(acc1 + acc2, (PHASE1 * TIER_SPANS) as f64, "every span consumed once");

    // Phase 2: gateway 2 is SIGKILLed while traces keep coming; whatever it had not committed is
    // read again by the members that take its partitions. tansu 0.6 only reassigns a dead
    // member's partitions when the group next changes (its coordinator drops the member after
    // session_timeout but keeps the old assignment), so a replacement gateway joins once the dead
    // one's session has expired, as a restarted pod would; on Kafka the survivor takes them after
    // session_timeout by itself.
    const PHASE2: std::ops::Range<usize> = 200..600;
    let started = Instant::now();
    let mut killed_at = None;
    let mut consumed_by_gw2 = 0.0;
    for (i, chunk) in PHASE2.step_by(50).enumerate() {
        send(chunk..chunk + 50);
        if i == 2 {
            consumed_by_gw2 = taken(&gw2);
            gw2.signal("KILL");
            killed_at = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let session_expired = killed_at.expect("killed") + Duration::from_secs(8);
    std::thread::sleep(session_expired.saturating_duration_since(Instant::now()));
    let gw3 = gateway("gateway-3", &tansu.brokers, sink_grpc);
    let want2 = expected_spans(PHASE2);
    let done2 = eventually(Duration::from_secs(60), || want2.iter().all(|k| arrivals(&sink).contains_key(k)));
    let seen = arrivals(&sink);
    let missing: Vec<_> = want2.iter().filter(|k| !seen.contains_key(*k)).collect();
    assert!(
        done2,
        "{} spans lost after the kill, e.g. {:?}\ngateway-1:\n{}\ngateway-3:\n{}",
        missing.len(),
        missing.first(),
        strip_ansi(&gw1.log()),
        strip_ansi(&gw3.log())
    );
    let all_wanted: BTreeSet<_> = want1.union(&want2).cloned().collect();
    let unexpected: Vec<_> = seen.keys().filter(|k| !all_wanted.contains(*k)).collect();
    assert!(unexpected.is_empty(), "spans of traces no policy keeps arrived: {unexpected:?}");
    let duplicates: usize = seen.values().map(|&n| n - 1).sum();
    // Messages read more than once: at least what the three gateways took beyond what the agents
    // produced, one message per trace per agent (gateway 2's count is from just before the kill,
    // so this is a lower bound).
    let consumed = taken(&gw1) + taken(&gw3) + consumed_by_gw2;
    let sent = ((PHASE1 + PHASE2.len()) * 2) as f64;
    println!(
        "two-tier: {} flagged spans delivered, none lost; {duplicates} duplicate deliveries at the sink; \
         at least {} messages read again after the SIGKILL (at-least-once redelivery); complete {:.1}s after \
         phase 2 began (8s of it waiting for the killed member's session to expire)",
        seen.len(),
        consumed - sent,
        started.elapsed().as_secs_f64()
    );
    assert!(consumed >= sent, "every message consumed: {consumed} of {sent}");
    let (p1, p3) = (assigned_partitions(&gw1), assigned_partitions(&gw3));
    assert!(p1.is_disjoint(&p3) && p1.len() + p3.len() == 4, "the live gateways hold every partition: {p1:?} {p3:?}");
    let mut gw3 = gw3;
    for w in [&mut agent_a, &mut agent_b, &mut gw1, &mut gw3] {
        assert!(w.terminate(Duration::from_secs(30)).success(), "{}", w.log());
    }
}

#[test]
fn the_documented_two_tier_configs_validate() {
    for file in ["deploy/kafka/agent.yaml", "deploy/kafka/gateway.yaml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["validate", "--config"])
            .arg(repo_root().join(file))
            .output()
            .expect("run weir validate");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{file}:\n{text}");
        assert!(text.contains("valid"), "{file}:\n{text}");
    }
}
