//! `resourcedetection` end to end: weir runs with `OTEL_RESOURCE_ATTRIBUTES` set and the `env`
//! and `system` detectors, receives spans over OTLP/HTTP, and writes them with the `file`
//! exporter. The expected attributes are read by the test itself: the hostname from
//! `/proc/sys/kernel/hostname`, the machine id from `/etc/machine-id` (or dbus's), `uname` for
//! `os.description`, `/etc/os-release` for its prefix; the values of the variable are
//! percent-decoded as the Collector's `env` detector does. Two pipelines show `override`: with
//! `false` the span's own `host.name` stays, with the default `true` the detected one wins.

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::process::Command;
use std::time::Duration;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn request() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout"), kv("host.name", "set-by-the-app")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![1; 8],
                    name: "GET /cart".into(),
                    start_time_unix_nano: 1_764_100_000_000_000_000,
                    end_time_unix_nano: 1_764_100_000_010_000_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn uname(flag: &str) -> String {
    let out = Command::new("uname").arg(flag).output().expect("uname runs");
    String::from_utf8(out.stdout).expect("utf-8").trim_end_matches('\n').to_string()
}

/// `NAME VERSION` of os-release (else `PRETTY_NAME`), as the OpenTelemetry SDK builds it.
fn os_release_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").or_else(|_| std::fs::read_to_string("/usr/lib/os-release"));
    let text = text.unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let version = if get("VERSION").is_empty() { get("VERSION_ID") } else { get("VERSION") };
    if !get("NAME").is_empty() && !version.is_empty() {
        format!("{} {version}", get("NAME"))
    } else {
        get("PRETTY_NAME")
    }
}

#[test]
fn env_and_system_attributes_are_merged_into_each_resource() {
    // The child weir inherits this process's environment.
    std::env::set_var("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=e2e, team=payments%20core");
    let http = free_port();
    let mut weir = Weir::start(
        "resourcedetection",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  resourcedetection/keep:
    detectors: [env, system]
    override: false
    system:
      hostname_sources: [os]
      resource_attributes:
        host.id: {{ enabled: true }}
        host.arch: {{ enabled: true }}
        os.description: {{ enabled: true }}
  resourcedetection/override:
    detectors: [env, system]
    system: {{ hostname_sources: [os] }}
exporters:
  file/keep: {{ path: "{{dir}}/keep.jsonl", flush_interval: 100ms }}
  file/override: {{ path: "{{dir}}/override.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces/keep: {{ receivers: [otlp], processors: [resourcedetection/keep], exporters: [file/keep] }}
    traces/override: {{ receivers: [otlp], processors: [resourcedetection/override], exporters: [file/override] }}
"#
        ),
    );
    let (code, _) = post_protobuf(http, "/v1/traces", &request());
    assert_eq!(code, 200, "{}", weir.log());
    let resource = |file: &str| {
        let path = weir.path(file);
        let mut found = None;
        eventually(Duration::from_secs(15), || {
            let out = read_file_output(&path);
            found = out.traces.first().map(|r| {
                let rs = &r.resource_spans[0];
                assert_eq!(rs.scope_spans[0].spans[0].name, "GET /cart", "the span passes intact");
                attrs_json(&rs.resource.as_ref().expect("resource").attributes)
            });
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("nothing written to {file}:\n{}", weir.log()))
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname").trim().to_string();
    let machine_id = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/var/lib/dbus/machine-id"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty());
    let uname_line = [uname("-s"), uname("-n"), uname("-r"), uname("-v"), uname("-m")].join(" ");
    let release = os_release_name();
    let description = if release.is_empty() { uname_line } else { format!("{release} ({uname_line})") };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };

    let keep = resource("keep.jsonl");
    assert_eq!(keep["service.name"], "checkout");
    assert_eq!(keep["host.name"], "set-by-the-app", "override: false keeps the resource's own value");
    assert_eq!(keep["deployment.environment"], "e2e");
    assert_eq!(keep["team"], "payments core", "percent-decoded");
    assert_eq!(keep["os.type"], "linux");
    assert_eq!(keep["host.arch"], arch);
    assert_eq!(keep["os.description"], description.as_str());
    match &machine_id {
        Some(id) => assert_eq!(keep["host.id"], id.as_str()),
        None => assert!(!keep.contains_key("host.id"), "no machine id here, so no host.id"),
    }

    let over = resource("override.jsonl");
    assert_eq!(over["host.name"], hostname.as_str(), "override: true replaces the resource's value");
    assert_eq!(over["os.type"], "linux");
    assert_eq!(over["team"], "payments core");
    assert!(!over.contains_key("host.id"), "host.id is off by default");
    assert!(weir.log().contains("detected resource information"), "{}", weir.log());
    assert!(weir.terminate(Duration::from_secs(10)).success());
}
