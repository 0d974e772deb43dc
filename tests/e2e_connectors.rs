//! Connectors end to end: the Python SDK sends traces to a pipeline whose only exporter is the
//! `forward` connector; two downstream pipelines (one with `batch`) write what they get with
//! the `file` exporter. Every span must arrive in both files, intact, and the client's export
//! must succeed with `wait_for_result` (acknowledgements flow through the connector). Then a
//! SIGTERM drains everything: weir exits 0.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

fn config(grpc: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    wait_for_result: true
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
processors:
  batch: {{ timeout: 100ms }}
exporters:
  file/a: {{ path: "{{dir}}/a.jsonl", flush_interval: 100ms, sending_queue: {{ wait_for_result: true }} }}
  file/b: {{ path: "{{dir}}/b.jsonl", flush_interval: 100ms, sending_queue: {{ wait_for_result: true }} }}
connectors:
  forward:
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces/in: {{ receivers: [otlp], exporters: [forward] }}
    traces/a: {{ receivers: [forward], exporters: [file/a] }}
    traces/b: {{ receivers: [forward], processors: [batch], exporters: [file/b] }}
"#
    )
}

#[test]
fn the_forward_connector_fans_a_pipeline_out_into_two_with_every_span() {
    let grpc = free_port();
    let mut weir = Weir::start("connectors", &config(grpc));
    let sent = run_client(
        Command::new(python()).arg(repo_root().join("tests/clients/send_python.py")).args([
            "--protocol",
            "grpc",
            "--endpoint",
            &format!("http://127.0.0.1:{grpc}"),
            "--traces",
            "20",
            "--service",
            "connector-client",
        ]),
        Duration::from_secs(60),
    );
    let want: BTreeSet<String> = sent["spans"]
        .as_array()
        .expect("the client reports the spans it sent")
        .iter()
        .map(|s| s["span_id"].as_str().expect("span_id").to_string())
        .collect();
    assert_eq!(want.len(), 40, "the client sends two spans per trace");
    for file in ["a.jsonl", "b.jsonl"] {
        let path = weir.path(file);
        let complete = eventually(Duration::from_secs(30), || spans(&read_file_output(&path)).len() >= want.len());
        let got: BTreeSet<String> = spans(&read_file_output(&path)).into_iter().map(|s| s.span_id).collect();
        assert!(complete && got == want, "{file}: {} of {} spans\n{}", got.len(), want.len(), weir.log());
    }
    let status = weir.terminate(Duration::from_secs(30));
    assert!(status.success(), "weir exited with {status}:\n{}", weir.log());
}
