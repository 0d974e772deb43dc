//! weir's own telemetry (`service::telemetry`) end to end: weir A exports its metrics
//! (`periodic` reader, OTLP/gRPC), its log records (`logs::processors`, OTLP/HTTP) and its own
//! spans (`traces::processors`, OTLP/gRPC) to weir B, which writes what it receives with the
//! `file` exporter. A's own pipeline must carry none of it. A second weir writes JSON lines
//! to a file and to stderr and rate-limits a repeated line.
//!
//! Expected behaviour from the Collector's `otelconftelemetry` (metric names without
//! Prometheus' `_total`, `service.name`/`service.instance.id`/`service.version` on the
//! resource, zap's JSON encoder and sampler).

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::time::Duration;

fn sink(grpc: u16, http: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
    logs: {{ receivers: [otlp], exporters: [file] }}
"#
    )
}

fn source(http: u16, sink_grpc: u16, sink_http: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  # append: the reload below reopens the file (without it the Collector's file exporter, and
  # weir's, truncate it).
  file: {{ path: "{{dir}}/own-pipeline.jsonl", flush_interval: 100ms, append: true }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry:
    resource:
      attributes:
        - {{ name: deployment.environment.name, value: e2e }}
    metrics:
      readers:
        - pull: {{ exporter: {{ prometheus: {{ host: 127.0.0.1, port: {{metrics}} }} }} }}
        - periodic:
            interval: 300
            exporter: {{ otlp: {{ protocol: grpc, endpoint: "http://127.0.0.1:{sink_grpc}" }} }}
    logs:
      processors:
        - batch:
            schedule_delay: 200
            exporter: {{ otlp: {{ protocol: http/protobuf, endpoint: "http://127.0.0.1:{sink_http}" }} }}
    traces:
      processors:
        - batch:
            schedule_delay: 200
            exporter: {{ otlp: {{ protocol: grpc, endpoint: "127.0.0.1:{sink_grpc}", insecure: true }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
"#
    )
}

fn str_attr(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn one_span() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![str_attr("service.name", "e2e-client")], ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "client-span".into(),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn resource_services(out: &FileOutput) -> Vec<String> {
    let mut v = Vec::new();
    for r in &out.traces {
        v.extend(
            r.resource_spans
                .iter()
                .filter_map(|x| x.resource.as_ref())
                .map(|r| attrs_json(&r.attributes)["service.name"].to_string()),
        );
    }
    v
}

#[test]
fn own_metrics_logs_and_spans_reach_another_weir_and_never_the_own_pipeline() {
    let (sink_grpc, sink_http) = (free_port(), free_port());
    let b = Weir::start("sink", &sink(sink_grpc, sink_http));
    let a_http = free_port();
    let mut a = Weir::start("source", &source(a_http, sink_grpc, sink_http));

    let (code, _) = post_protobuf(a_http, "/v1/traces", &one_span());
    assert_eq!(code, 200, "{}", a.log());
    a.signal("HUP");

    let out_path = b.path("out.jsonl");
    let arrived = eventually(Duration::from_secs(20), || {
        let out = read_file_output(&out_path);
        let totals = metric_totals(&out);
        let logs = log_bodies(&out);
        let spans: Vec<String> = out
            .traces
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect();
        totals.get("otelcol_receiver_accepted_spans").is_some_and(|v| *v >= 1.0)
            && logs.iter().any(|(service, body)| {
                service == "weir" && body == "Everything is ready. Begin running and processing data."
            })
            && spans.iter().any(|n| n == "weir.start")
            && spans.iter().any(|n| n == "weir.reload")
    });
    let out = read_file_output(&out_path);
    assert!(
        arrived,
        "weir A's metrics, log records and spans arrive at B: metrics {:?}, logs {:?}, traces {}\nA:\n{}",
        metric_totals(&out).keys().collect::<Vec<_>>(),
        log_bodies(&out),
        out.traces.len(),
        a.log()
    );
    let resource = out.metrics[0].resource_metrics[0].resource.as_ref().expect("a resource");
    let attrs = attrs_json(&resource.attributes);
    assert_eq!(attrs["service.name"], "weir");
    assert_eq!(attrs["deployment.environment.name"], "e2e");
    assert!(attrs.contains_key("service.instance.id") && attrs.contains_key("service.version"), "{attrs:?}");
    assert!(metric_totals(&out).keys().all(|k| !k.ends_with("_total")), "OTLP names carry no _total");

    // A's own pipeline carried the client's span and nothing of A's own telemetry.
    std::thread::sleep(Duration::from_millis(500));
    let own = read_file_output(&a.path("own-pipeline.jsonl"));
    assert_eq!(resource_services(&own), ["\"e2e-client\""], "only the client's data in A's pipeline");
    assert!(own.logs.is_empty() && own.metrics.is_empty());
    // `/metrics` still serves the pull reader, with the export counters.
    assert!(a.metrics().contains("weir_self_telemetry_exported_"), "{}", a.metrics());
    a.terminate(Duration::from_secs(30));
}

const JSON_LOGS: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
exporters:
  nop:
extensions:
  health_check: { endpoint: "127.0.0.1:{health}" }
service:
  extensions: [health_check]
  telemetry:
    logs:
      encoding: json
      output_paths: ["{dir}/own.log", stderr]
      initial_fields: { deployment: e2e }
      sampling: { enabled: true, tick: 1m, initial: 2, thereafter: 0 }
    metrics:
      readers:
        - pull: { exporter: { prometheus: { host: 127.0.0.1, port: {metrics} } } }
  pipelines:
    traces: { receivers: [otlp], exporters: [nop] }
"#;

#[test]
fn json_lines_go_to_files_and_stderr_and_repeats_are_sampled() {
    let mut w = Weir::start("json-logs", JSON_LOGS);
    for _ in 0..5 {
        w.signal("HUP");
        std::thread::sleep(Duration::from_millis(400));
    }
    let file = std::fs::read_to_string(w.path("own.log")).expect("output_paths file written");
    let lines: Vec<serde_json::Value> =
        file.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(lines.iter().any(|l| l["msg"] == "Everything is ready. Begin running and processing data."), "{file}");
    for l in &lines {
        assert_eq!(l["deployment"], "e2e", "initial_fields on every line: {l}");
        assert_eq!(l["resource"]["service.name"], "weir", "{l}");
        assert!(l["ts"].is_string() && l["level"].is_string() && l["caller"].is_string(), "{l}");
    }
    let hups = lines.iter().filter(|l| l["msg"] == "SIGHUP received: reloading the configuration.").count();
    assert_eq!(hups, 2, "5 reloads, sampling initial 2, thereafter 0: {file}");
    // stderr (captured in the test's log with stdout) has the same JSON lines.
    let log = w.log();
    for l in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}"));
    }
    w.terminate(Duration::from_secs(30));
}
