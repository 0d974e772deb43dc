//! End to end with `cumulativetodelta`: the Python SDK exports a counter (two attribute sets)
//! and a histogram with its default cumulative temporality, once per round, over OTLP/gRPC;
//! weir converts them to deltas and writes them with the `file` exporter. Expected values are
//! what the script reports adding in each round: with `initial_value: auto` the SDK's first
//! export (its series started after weir did) is sent as it is, every later one is the
//! difference against the previous export.

mod common;

use common::*;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use std::process::Command;
use std::time::Duration;

const ROUNDS: usize = 4;

fn config(grpc: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
processors:
  cumulativetodelta:
    include:
      metric_types: [sum, histogram]
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    metrics: {{ receivers: [otlp], processors: [cumulativetodelta], exporters: [file] }}
"#
    )
}

/// Per export, in order: (room-a, room-b, latency count, latency sum) as weir wrote them.
type Export = (f64, f64, u64, f64);

fn exports(out: &FileOutput) -> Vec<Export> {
    let mut rows = Vec::new();
    for m in out.metrics.iter().flat_map(|r| &r.resource_metrics).flat_map(|r| &r.scope_metrics) {
        let mut row: Export = (0.0, 0.0, 0, 0.0);
        for metric in &m.metrics {
            match &metric.data {
                Some(metric::Data::Sum(s)) if metric.name == "chat.messages" => {
                    assert_eq!(s.aggregation_temporality, 1, "the counter is delta");
                    assert!(s.is_monotonic);
                    for p in &s.data_points {
                        let v = match p.value {
                            Some(number_data_point::Value::AsInt(v)) => v as f64,
                            Some(number_data_point::Value::AsDouble(v)) => v,
                            None => panic!("a point without a value"),
                        };
                        assert!(p.start_time_unix_nano > 0 && p.start_time_unix_nano < p.time_unix_nano);
                        match p.attributes[0].value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(room))
                                if room == "room-a" =>
                            {
                                row.0 = v
                            }
                            _ => row.1 = v,
                        }
                    }
                }
                Some(metric::Data::Histogram(h)) if metric.name == "chat.latency" => {
                    assert_eq!(h.aggregation_temporality, 1, "the histogram is delta");
                    let p = &h.data_points[0];
                    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count, "buckets add up to the count");
                    assert!(p.min.is_none() && p.max.is_none(), "min and max go with the conversion");
                    row.2 = p.count;
                    row.3 = p.sum.expect("sum");
                }
                other => panic!("unexpected metric {}: {other:?}", metric.name),
            }
        }
        rows.push(row);
    }
    rows
}

#[test]
fn python_sdk_cumulative_metrics_become_deltas() {
    let grpc = free_port();
    let mut weir = Weir::start("cumulativetodelta", &config(grpc));
    let sent = run_client(
        Command::new(python()).arg(repo_root().join("tests/clients/send_cumulative.py")).args([
            "--endpoint",
            &format!("http://127.0.0.1:{grpc}"),
            "--rounds",
            &ROUNDS.to_string(),
        ]),
        Duration::from_secs(60),
    );
    let rounds = sent["rounds"].as_array().expect("rounds");
    let expected: Vec<Export> = rounds
        .iter()
        .map(|r| {
            (
                r["room-a"].as_f64().unwrap(),
                r["room-b"].as_f64().unwrap(),
                r["latency_count"].as_u64().unwrap(),
                r["latency_sum"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(expected.len(), ROUNDS);

    let path = weir.path("out.jsonl");
    let done = eventually(Duration::from_secs(20), || exports(&read_file_output(&path)).len() >= ROUNDS);
    let got = exports(&read_file_output(&path));
    assert!(done, "{} of {ROUNDS} exports written\n{}", got.len(), weir.log());
    assert_eq!(got[..ROUNDS], expected[..], "each export carries exactly what its round added");
    // The SDK exports once more when it shuts down, with the same totals: nothing was added.
    assert!(got[ROUNDS..].iter().all(|e| *e == (0.0, 0.0, 0, 0.0)), "{got:?}");

    let metrics = weir.metrics();
    let counted = |name: &str| {
        metrics
            .lines()
            .any(|l| l.starts_with(name) && l.contains("processor=\"cumulativetodelta\"") && !l.ends_with(" 0"))
    };
    assert!(
        counted("otelcol_processor_incoming_items") && counted("otelcol_processor_outgoing_items"),
        "processor metrics:\n{metrics}"
    );
    let status = weir.terminate(Duration::from_secs(30));
    assert!(status.success(), "weir exited with {status}:\n{}", weir.log());
}
