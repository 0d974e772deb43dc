//! End to end with OTTL: the Python SDK sends spans, logs and metrics over OTLP/HTTP to weir,
//! whose pipelines run `resource`, `attributes` (traces), `transform` then `filter` and write with the `file` exporter. Every
//! item the script reports sending is checked: kept or dropped as the conditions say, with the
//! fields the statements set (expected values follow from the statements and what the script
//! sent, not from weir's output).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

const N: usize = 8;

fn config(http: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  resource:
    attributes:
      - {{ key: cloud.region, value: eu-west-1, action: upsert }}
      - {{ key: deployment.tier, from_attribute: deployment.environment, action: insert }}
  attributes:
    include: {{ match_type: strict, span_names: ["chat fan-out"] }}
    actions:
      - {{ key: weir.fanout, value: seen, action: insert }}
  transform:
    error_mode: ignore
    trace_statements:
      - set(span.attributes["weir.checked"], true) where span.kind == SPAN_KIND_SERVER
      - set(resource.attributes["env"], resource.attributes["deployment.environment"])
      - delete_key(span.attributes, "ratio")
    log_statements:
      - set(log.severity_text, "NOTICE") where IsMatch(log.body, "^message 0 delivered$")
    metric_statements:
      - context: metric
        conditions: ['name == "python.requests"']
        statements: ['set(description, "counted by weir")']
  filter:
    error_mode: ignore
    traces:
      span: ['name == "chat fan-out" and status.code == STATUS_CODE_ERROR']
    logs:
      log_record: ['attributes["room.id"] >= 6']
    metrics:
      metric: ['name == "python.latency"']
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [resource, attributes, transform, filter], exporters: [file] }}
    metrics: {{ receivers: [otlp], processors: [resource, transform, filter], exporters: [file] }}
    logs: {{ receivers: [otlp], processors: [resource, transform, filter], exporters: [file] }}
"#
    )
}

#[test]
fn python_sdk_through_transform_and_filter() {
    let http = free_port();
    let mut weir = Weir::start("ottl", &config(http));
    let sent = run_client(
        Command::new(python()).arg(repo_root().join("tests/clients/send_python.py")).args([
            "--protocol",
            "http",
            "--endpoint",
            &format!("http://127.0.0.1:{http}"),
            "--traces",
            &N.to_string(),
        ]),
        Duration::from_secs(60),
    );

    // What the statements and conditions make of what was sent.
    let mut expected: BTreeMap<String, SpanSummary> = BTreeMap::new();
    for (k, s) in sent["spans"].as_array().expect("spans").iter().enumerate() {
        let i = k / 2;
        let name = s["name"].as_str().unwrap().to_string();
        let mut attributes = s["attributes"].as_object().cloned().unwrap();
        if name == "chat fan-out" {
            if i % 4 == 0 {
                continue; // status ERROR: filtered out
            }
            attributes.remove("ratio");
            attributes.insert("weir.fanout".into(), "seen".into());
        } else {
            attributes.insert("weir.checked".into(), true.into());
        }
        let span_id = s["span_id"].as_str().unwrap().to_string();
        let summary = SpanSummary {
            service: "python-client".into(),
            trace_id: s["trace_id"].as_str().unwrap().into(),
            span_id: span_id.clone(),
            name,
            attributes,
        };
        expected.insert(span_id, summary);
    }
    assert_eq!(expected.len(), 2 * N - N.div_ceil(4));

    let path = weir.path("out.jsonl");
    let done = eventually(Duration::from_secs(30), || {
        let out = read_file_output(&path);
        spans(&out).len() >= expected.len()
            && log_bodies(&out).len() >= 6
            && metric_totals(&out).get("python.requests") == Some(&(N as f64))
    });
    let out = read_file_output(&path);
    assert!(done, "incomplete output: {} spans, {} logs\n{}", spans(&out).len(), log_bodies(&out).len(), weir.log());

    let got: BTreeMap<String, SpanSummary> = spans(&out).into_iter().map(|s| (s.span_id.clone(), s)).collect();
    assert_eq!(got, expected);
    for rs in out.traces.iter().flat_map(|r| &r.resource_spans) {
        let res = attrs_json(&rs.resource.as_ref().unwrap().attributes);
        assert_eq!(res.get("env"), Some(&"e2e".into()), "{res:?}");
        assert_eq!(res.get("deployment.environment"), Some(&"e2e".into()));
    }
    // `resource` ran on every signal's resources.
    let resources = out
        .traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .map(|r| &r.resource)
        .chain(out.logs.iter().flat_map(|r| &r.resource_logs).map(|r| &r.resource))
        .chain(out.metrics.iter().flat_map(|r| &r.resource_metrics).map(|r| &r.resource));
    let mut seen = 0;
    for resource in resources {
        let res = attrs_json(&resource.as_ref().unwrap().attributes);
        assert_eq!(res.get("cloud.region"), Some(&"eu-west-1".into()), "{res:?}");
        assert_eq!(res.get("deployment.tier"), Some(&"e2e".into()), "{res:?}");
        seen += 1;
    }
    assert!(seen >= 3, "resources of traces, logs and metrics: {seen}");

    // Logs: room.id 6 and 7 dropped; only "message 0 delivered" is NOTICE.
    let mut logs = Vec::new();
    for rl in out.logs.iter().flat_map(|r| &r.resource_logs) {
        for r in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
            logs.push((
                value_json(&r.body).as_str().unwrap().to_string(),
                r.severity_text.clone(),
                attrs_json(&r.attributes),
            ));
        }
    }
    logs.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<(String, String)> = (0..6)
        .map(|i| (format!("message {i} delivered"), if i == 0 { "NOTICE" } else { "INFO" }.to_string()))
        .collect();
    assert_eq!(logs.iter().map(|(b, s, _)| (b.clone(), s.clone())).collect::<Vec<_>>(), want);
    for (i, (_, _, attrs)) in logs.iter().enumerate() {
        assert_eq!(attrs.get("room.id"), Some(&(i as i64).into()));
    }

    // Metrics: the histogram is filtered out, the counter described.
    let mut names = Vec::new();
    for m in
        out.metrics.iter().flat_map(|r| &r.resource_metrics).flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics)
    {
        names.push(m.name.clone());
        if m.name == "python.requests" {
            assert_eq!(m.description, "counted by weir");
        }
    }
    assert!(names.iter().all(|n| n == "python.requests"), "{names:?}");
    assert_eq!(metric_totals(&out).get("python.requests"), Some(&(N as f64)));

    let status = weir.terminate(Duration::from_secs(30));
    assert!(status.success(), "weir exited with {status}:\n{}", weir.log());
}
