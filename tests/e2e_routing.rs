//! `routing` and `count` end to end: the Python SDK sends the spans and logs of two tenants
//! (`acme`, `globex`) over gRPC, each client with its tenant as a resource attribute and as an
//! `x-tenant` request header. Spans are routed by the resource attribute, logs by the request
//! header (`include_metadata`); each route writes with its own `file` exporter. The `count`
//! connector counts the same spans, span events and logs into a metrics pipeline. Every client
//! export waits for the result, so acknowledgements flow through both connectors.

mod common;

use common::*;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as N};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn config(grpc: u16) -> String {
    let file = |name: &str| format!("{{ path: \"{{dir}}/{name}.jsonl\", flush_interval: 100ms }}");
    format!(
        r#"
receivers:
  otlp:
    wait_for_result: true
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}", include_metadata: true }}
exporters:
  file/acme: {acme}
  file/other: {other}
  file/logs_acme: {logs_acme}
  file/logs_other: {logs_other}
  file/counts: {counts}
  nop:
connectors:
  routing:
    default_pipelines: [traces/other]
    table:
      - condition: attributes["tenant"] == "acme"
        pipelines: [traces/acme]
  routing/logs:
    default_pipelines: [logs/other]
    table:
      - context: request
        condition: request["X-Tenant"] == "acme"
        pipelines: [logs/acme]
  count:
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces/in: {{ receivers: [otlp], exporters: [routing, count] }}
    traces/acme: {{ receivers: [routing], exporters: [file/acme] }}
    traces/other: {{ receivers: [routing], exporters: [file/other] }}
    logs/in: {{ receivers: [otlp], exporters: [routing/logs, count] }}
    logs/acme: {{ receivers: [routing/logs], exporters: [file/logs_acme] }}
    logs/other: {{ receivers: [routing/logs], exporters: [file/logs_other] }}
    metrics/in: {{ receivers: [otlp], exporters: [nop] }}
    metrics/counts: {{ receivers: [count], exporters: [file/counts] }}
"#,
        acme = file("acme"),
        other = file("other"),
        logs_acme = file("logs_acme"),
        logs_other = file("logs_other"),
        counts = file("counts"),
    )
}

/// Runs the Python SDK client for `tenant` with `traces` traces (two spans each, one log
/// each, a span event every fourth trace); what it sent.
fn send(grpc: u16, tenant: &str, traces: usize) -> serde_json::Value {
    run_client(
        Command::new(python()).arg(repo_root().join("tests/clients/send_python.py")).args([
            "--protocol",
            "grpc",
            "--endpoint",
            &format!("http://127.0.0.1:{grpc}"),
            "--traces",
            &traces.to_string(),
            "--service",
            &format!("{tenant}-svc"),
            "--resource",
            &format!("tenant={tenant}"),
            "--header",
            &format!("x-tenant={tenant}"),
        ]),
        Duration::from_secs(60),
    )
}

/// Per (metric name, service): the sum of every data point the count connector wrote (its
/// sums are deltas, one per request).
fn counts(out: &FileOutput) -> BTreeMap<(String, String), i64> {
    let mut m = BTreeMap::new();
    for req in &out.metrics {
        for rm in &req.resource_metrics {
            let res = rm.resource.as_ref().map(|r| attrs_json(&r.attributes)).unwrap_or_default();
            let service = res.get("service.name").and_then(|s| s.as_str()).unwrap_or("").to_string();
            for sm in &rm.scope_metrics {
                assert_eq!(
                    sm.scope.as_ref().map(|s| s.name.as_str()),
                    Some("github.com/open-telemetry/opentelemetry-collector-contrib/connector/countconnector")
                );
                for metric in &sm.metrics {
                    let Some(Data::Sum(s)) = &metric.data else { panic!("{}: a sum", metric.name) };
                    assert!(s.is_monotonic && s.aggregation_temporality == 1, "{}: a monotonic delta sum", metric.name);
                    let total: i64 = s
                        .data_points
                        .iter()
                        .map(|p| match p.value {
                            Some(N::AsInt(i)) => i,
                            _ => panic!("int counts"),
                        })
                        .sum();
                    *m.entry((metric.name.clone(), service.clone())).or_insert(0) += total;
                }
            }
        }
    }
    m
}

#[test]
fn two_tenants_are_routed_by_resource_and_by_header_and_counted() {
    let grpc = free_port();
    let mut weir = Weir::start("routing", &config(grpc));
    let acme = send(grpc, "acme", 5);
    let globex = send(grpc, "globex", 3);
    let span_ids = |sent: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = sent["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|s| s["span_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let sent_events = |sent: &serde_json::Value| {
        sent["spans"].as_array().unwrap().iter().filter(|s| s["name"] == "chat fan-out").count().div_ceil(4)
    };

    // Spans: by the resource attribute.
    for (file, sent, service) in [("acme.jsonl", &acme, "acme-svc"), ("other.jsonl", &globex, "globex-svc")] {
        let want = span_ids(sent);
        let path = weir.path(file);
        eventually(Duration::from_secs(20), || spans(&read_file_output(&path)).len() >= want.len());
        let got = spans(&read_file_output(&path));
        let mut ids: Vec<String> = got.iter().map(|s| s.span_id.clone()).collect();
        ids.sort();
        assert_eq!(ids, want, "{file}\n{}", weir.log());
        assert!(got.iter().all(|s| s.service == service), "{file}: only {service}");
    }
    // Logs: by the request header.
    for (file, n, service) in [("logs_acme.jsonl", 5, "acme-svc"), ("logs_other.jsonl", 3, "globex-svc")] {
        let path = weir.path(file);
        eventually(Duration::from_secs(20), || log_bodies(&read_file_output(&path)).len() >= n);
        let got = log_bodies(&read_file_output(&path));
        assert_eq!(got.len(), n, "{file}\n{}", weir.log());
        assert!(got.iter().all(|(s, _)| s == service), "{file}: only {service}: {got:?}");
    }
    // Counts: what each client sent, per resource.
    let mut want = BTreeMap::new();
    for (sent, service) in [(&acme, "acme-svc"), (&globex, "globex-svc")] {
        let s = service.to_string();
        want.insert(("log.record.count".to_string(), s.clone()), sent["logs"].as_array().unwrap().len() as i64);
        want.insert(("trace.span.count".to_string(), s.clone()), sent["spans"].as_array().unwrap().len() as i64);
        want.insert(("trace.span.event.count".to_string(), s), sent_events(sent) as i64);
    }
    let path = weir.path("counts.jsonl");
    eventually(Duration::from_secs(20), || counts(&read_file_output(&path)) == want);
    assert_eq!(counts(&read_file_output(&path)), want, "{}", weir.log());

    let status = weir.terminate(Duration::from_secs(30));
    assert!(status.success(), "weir exited with {status}:\n{}", weir.log());
}
