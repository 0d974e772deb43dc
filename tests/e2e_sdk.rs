//! End to end with real OpenTelemetry SDK clients: the Python SDK (OTLP/gRPC and
//! OTLP/HTTP protobuf exporters) and the Node SDK (OTLP/HTTP JSON exporters) send traces,
//! metrics and logs to weir A, which batches and fans out to weir B1 through the `otlp`
//! (gRPC, gzip) exporter and to weir B2 through the `otlphttp` (zstd) exporter. B1 and B2
//! write what they receive with the `file` exporter; every span, log record and data point
//! must arrive at both, with ids, names, attributes and resources intact.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn downstream(grpc: u16, http: u16) -> String {
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

fn upstream(grpc: u16, http: u16, b1_grpc: u16, b2_http: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  batch: {{ timeout: 100ms, send_batch_size: 64 }}
exporters:
  otlp/b1:
    endpoint: "127.0.0.1:{b1_grpc}"
    compression: gzip
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
  otlphttp/b2:
    endpoint: "http://127.0.0.1:{b2_http}"
    compression: zstd
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [batch], exporters: [otlp/b1, otlphttp/b2] }}
    metrics: {{ receivers: [otlp], processors: [batch], exporters: [otlp/b1, otlphttp/b2] }}
    logs: {{ receivers: [otlp], processors: [batch], exporters: [otlp/b1, otlphttp/b2] }}
"#
    )
}

fn sent_spans(sent: &serde_json::Value, service: &str) -> Vec<SpanSummary> {
    sent["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| SpanSummary {
            service: service.to_string(),
            trace_id: s["trace_id"].as_str().expect("trace_id").to_string(),
            span_id: s["span_id"].as_str().expect("span_id").to_string(),
            name: s["name"].as_str().expect("name").to_string(),
            attributes: s["attributes"].as_object().cloned().unwrap_or_default(),
        })
        .collect()
}

#[test]
fn sdk_clients_through_two_weirs_arrive_intact() {
    let (b1_grpc, b1_http, b2_grpc, b2_http) = (free_port(), free_port(), free_port(), free_port());
    let mut b1 = Weir::start("b1", &downstream(b1_grpc, b1_http));
    let mut b2 = Weir::start("b2", &downstream(b2_grpc, b2_http));
    let (a_grpc, a_http) = (free_port(), free_port());
    let mut a = Weir::start("a", &upstream(a_grpc, a_http, b1_grpc, b2_http));

    let clients = repo_root().join("tests/clients");
    let node_dir = clients.join("node");
    assert!(
        node_dir.join("node_modules").exists(),
        "the Node SDK is not installed: run `npm ci --prefix tests/clients/node` (.ci/run does)"
    );
    let timeout = Duration::from_secs(60);
    let py = |protocol: &str, port: u16, service: &str, n: &str| {
        run_client(
            Command::new(python()).arg(clients.join("send_python.py")).args([
                "--protocol",
                protocol,
                "--endpoint",
                &format!("http://127.0.0.1:{port}"),
                "--traces",
                n,
                "--service",
                service,
            ]),
            timeout,
        )
    };
    let sent_grpc = py("grpc", a_grpc, "python-grpc", "30");
    let sent_http = py("http", a_http, "python-http", "25");
    let sent_node = run_client(
        Command::new("node").arg(node_dir.join("send.js")).arg(format!("http://127.0.0.1:{a_http}")).arg("20"),
        timeout,
    );

    let mut expected = sent_spans(&sent_grpc, "python-grpc");
    expected.extend(sent_spans(&sent_http, "python-http"));
    expected.extend(sent_spans(&sent_node, "node-client"));
    assert_eq!(expected.len(), 2 * (30 + 25 + 20));
    let expected_logs = 30 + 25 + 20;

    for b in [&b1, &b2] {
        let path = b.path("out.jsonl");
        let complete = eventually(Duration::from_secs(30), || {
            let out = read_file_output(&path);
            let totals = metric_totals(&out);
            spans(&out).len() >= expected.len()
                && log_bodies(&out).len() >= expected_logs
                && totals.get("python.requests") == Some(&55.0)
                && totals.get("node.requests") == Some(&20.0)
        });
        let out = read_file_output(&path);
        let got: BTreeMap<String, SpanSummary> = spans(&out).into_iter().map(|s| (s.span_id.clone(), s)).collect();
        assert!(
            complete,
            "{}: incomplete: {} spans, {} logs, metrics {:?}\nA log:\n{}\n{} log:\n{}",
            b.name,
            got.len(),
            log_bodies(&out).len(),
            metric_totals(&out),
            a.log(),
            b.name,
            b.log()
        );
        for want in &expected {
            let have = got.get(&want.span_id).unwrap_or_else(|| panic!("{}: span {} missing", b.name, want.span_id));
            assert_eq!(have, want, "{}: span differs", b.name);
        }
        let logs = log_bodies(&out);
        for (service, sent) in [("python-grpc", &sent_grpc), ("python-http", &sent_http), ("node-client", &sent_node)] {
            for l in sent["logs"].as_array().expect("logs") {
                let body = l["body"].as_str().expect("body").to_string();
                assert!(
                    logs.contains(&(service.to_string(), body.clone())),
                    "{}: log {body:?} of {service} missing",
                    b.name
                );
            }
        }
        let totals = metric_totals(&out);
        assert_eq!(totals.get("python.latency"), Some(&55.0), "{}: histogram counts", b.name);
    }

    let metrics = a.metrics();
    assert!(metrics.contains("otelcol_receiver_accepted_spans"), "A's /metrics:\n{metrics}");
    assert!(metrics.contains("otelcol_exporter_sent_spans"), "A's /metrics:\n{metrics}");

    for w in [&mut a, &mut b1, &mut b2] {
        let status = w.terminate(Duration::from_secs(30));
        assert!(status.success(), "weir {} exited with {status}:\n{}", w.name, w.log());
    }
}
