//! The `weir` command line: validate, components, version, reload on SIGHUP.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

#[test]
fn validate_accepts_the_default_pipeline() {
    let out = weir().args(["validate", "--config"]).arg(repo_root().join("pipelines.yaml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("valid (3 pipelines: traces, metrics, logs)"), "{stdout}");
}

#[test]
fn validate_reports_every_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoit: localhost:4317\nexporters:\n  debugg: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [nop]\n",
    )
    .unwrap();
    let out = weir().args(["validate", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:5:9: receivers::otlp::protocols::grpc: unknown field `endpoit`, expected one of"
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .contains(&format!("{file}:7:3: exporters: unknown type: \"debugg\" for id: \"debugg\" (valid values: [")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:12:19: service::pipelines::traces: references exporter \"nop\" which is not configured"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("3 error(s)"), "{stderr}");
}

#[test]
fn components_lists_types_and_signals() {
    let out = weir().arg("components").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "receivers:",
        "otlp",
        "processors:",
        "batch",
        "memory_limiter",
        "exporters:",
        "otlphttp",
        "debug",
        "file",
        "nop",
        "extensions:",
        "health_check",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    assert!(stdout.contains("traces, metrics, logs"), "{stdout}");
}

#[test]
fn version_prints_the_package_version() {
    let out = weir().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("weir {}", env!("CARGO_PKG_VERSION")));
}

fn config(grpc: u16, http: u16, batch_timeout: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  batch: {{ timeout: {batch_timeout} }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [batch], exporters: [file] }}
"#
    )
}

#[test]
fn sighup_with_a_bad_file_keeps_the_running_pipelines() {
    let (grpc, http) = (free_port(), free_port());
    let mut w = Weir::start("reload", &config(grpc, http, "100ms"));
    let path = w.path("pipelines.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, good.replace("timeout: 100ms", "timeout: 100ms, bogus_key: 1")).unwrap();
    w.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || w.log().contains("The new configuration is invalid")),
        "{}",
        w.log()
    );
    assert!(w.log().contains("bogus_key"), "the error names the key:\n{}", w.log());
    let (code, _) = http_get(&format!("127.0.0.1:{}", w.health_port), "/").expect("health answers");
    assert_eq!(code, 200);
    // Still serving OTLP/HTTP on the old config.
    let body = serde_json::json!({"resourceSpans": []}).to_string();
    assert_eq!(post_json(http, "/v1/traces", &body), 200);

    // A good file is applied.
    std::fs::write(&path, good.replace("timeout: 100ms", "timeout: 50ms")).unwrap();
    w.signal("HUP");
    assert!(eventually(Duration::from_secs(10), || w.log().contains("Configuration reloaded.")), "{}", w.log());
    assert!(eventually(Duration::from_secs(10), || post_json(http, "/v1/traces", &body) == 200));
    assert!(w.terminate(Duration::from_secs(20)).success(), "{}", w.log());
}

/// POSTs JSON over a raw socket and returns the status code (0 when the connection failed).
fn post_json(port: u16, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn sigterm_flushes_what_the_batch_processor_holds() {
    let (grpc, http) = (free_port(), free_port());
    // A long batch timeout: only shutdown can flush the data.
    let mut w = Weir::start("flush", &config(grpc, http, "1h"));
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let body = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "flush-test"}}]},
        "scopeSpans": [{"spans": [{"traceId": trace_id, "spanId": "eee19b7ec3c1b174", "name": "held", "kind": 2,
        "startTimeUnixNano": "1764100000000000000", "endTimeUnixNano": "1764100000100000000"}]}]}]})
    .to_string();
    assert_eq!(post_json(http, "/v1/traces", &body), 200);
    let out = w.path("out.jsonl");
    std::thread::sleep(Duration::from_millis(500));
    assert!(spans(&read_file_output(&out)).is_empty(), "the batch is still held");
    assert!(w.terminate(Duration::from_secs(20)).success(), "{}", w.log());
    let got = spans(&read_file_output(&out));
    assert_eq!(got.len(), 1, "{}", w.log());
    assert_eq!(got[0].trace_id, trace_id);
    assert_eq!(got[0].name, "held");
}

#[test]
fn validate_warns_about_an_unset_environment_variable_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.yaml");
    std::fs::write(
        &path,
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: localhost:${env:WEIR_TEST_SURELY_UNSET_PORT:-4317}\nexporters:\n  otlp:\n    endpoint: ${env:WEIR_TEST_SURELY_UNSET_HOST}backend:4317\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n",
    )
    .unwrap();
    let out =
        weir().args(["validate", "--config"]).arg(&path).env_remove("WEIR_TEST_SURELY_UNSET_HOST").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unset environment variable"), "the warning is printed: {stderr}");
    assert!(stderr.contains("WEIR_TEST_SURELY_UNSET_HOST"), "it names the variable: {stderr}");
    assert!(!stderr.contains("WEIR_TEST_SURELY_UNSET_PORT"), "a variable with a default is fine: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escape codes when stderr is not a terminal: {stderr:?}");
}

#[test]
fn validate_prints_connector_edges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.yaml");
    std::fs::write(
        &path,
        "receivers: {nop: }\nexporters: {nop: }\nconnectors: {forward: }\nservice:\n  pipelines:\n    traces/in: {receivers: [nop], exporters: [forward]}\n    traces/out: {receivers: [forward], exporters: [nop]}\n",
    )
    .unwrap();
    let out = weir().args(["validate", "--config"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("traces/in → connector forward → traces/out (traces to traces)"), "{stdout}");
}
