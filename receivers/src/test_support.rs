//! What the `jaeger` and `zipkin` tests share: a service with the receiver under test and a
//! collecting exporter, the Python clients of tests/clients (in their own virtual environment),
//! and a comparable JSON view of received spans' attributes.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use weir_core::runtime::Service;
use weir_core::testing::{accept_all, CollectingSink};
use weir_core::{Payload, Registry};

/// Starts a service whose `receivers` section is `receivers` (YAML, indented two spaces) and
/// whose traces pipeline takes from `receiver` into a collecting exporter.
pub(crate) async fn start_traces(receivers: &str, receiver: &str) -> (Service, UnboundedReceiver<Payload>) {
    weir_core::telemetry::prometheus();
    let yaml = format!(
        "receivers:\n{receivers}\nexporters:\n  test:\nservice:\n  pipelines:\n    traces: {{receivers: [{receiver}], exporters: [test]}}\n"
    );
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let (sink, rx) = CollectingSink::new("test", accept_all);
    registry.add_exporter(sink);
    let config = weir_core::config::load_str("test.yaml", &yaml, &registry, &|_| None)
        .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n{yaml}"));
    let service = Service::start(&config, &registry, Default::default()).await.expect("the service starts");
    (service, rx)
}

/// Waits (up to 20 s) for payloads holding `items` spans in all.
pub(crate) async fn collect(rx: &mut UnboundedReceiver<Payload>, items: usize, what: &str) -> Vec<Payload> {
    let mut payloads = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while payloads.iter().map(Payload::items).sum::<usize>() < items {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(p)) => payloads.push(p),
            _ => panic!("{what}: {} of {items} spans arrived", payloads.iter().map(Payload::items).sum::<usize>()),
        }
    }
    payloads
}

/// The Python of tests/clients/.venv-protobuf3, made from requirements-protobuf3.txt if missing.
pub(crate) fn client_python() -> PathBuf {
    let clients = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients");
    let venv = clients.join(".venv-protobuf3");
    let python = venv.join("bin/python");
    let ready = |p: &PathBuf| {
        Command::new(p)
            .args(["-c", "import opentelemetry.exporter.jaeger.thrift, opentelemetry.exporter.zipkin.json"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        let ok = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().is_ok_and(|s| s.success());
        assert!(ok, "cannot create {}", venv.display());
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(clients.join("requirements-protobuf3.txt"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok && ready(&python),
            "cannot install tests/clients/requirements-protobuf3.txt into {}",
            venv.display()
        );
    }
    python
}

/// Runs `tests/clients/<script> --protocol <protocol> --port <port>` and reads what it printed.
pub(crate) async fn run_client(script: &str, protocol: &str, port: u16) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients").join(script);
    let python = client_python();
    let protocol = protocol.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args(["--protocol", &protocol, "--port", &port.to_string()]).output()
    })
    .await
    .expect("the client task ends")
    .expect("the client runs");
    assert!(out.status.success(), "client failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the client prints JSON")
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn value_json(v: &Option<AnyValue>) -> serde_json::Value {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone().into(),
        Some(Value::BoolValue(b)) => (*b).into(),
        Some(Value::IntValue(i)) => (*i).into(),
        Some(Value::DoubleValue(d)) => (*d).into(),
        other => panic!("unexpected attribute value {other:?}"),
    }
}

/// Attributes as a JSON object; a key present twice fails the test.
pub(crate) fn map_of(attrs: &[KeyValue]) -> serde_json::Map<String, serde_json::Value> {
    let m: serde_json::Map<_, _> = attrs.iter().map(|kv| (kv.key.clone(), value_json(&kv.value))).collect();
    assert_eq!(m.len(), attrs.len(), "duplicate keys in {attrs:?}");
    m
}
