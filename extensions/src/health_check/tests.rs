//! The extension served on a free port, asked over plain HTTP and HTTPS.

use super::*;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weir_core::component::ComponentId;

fn parse(yaml: &str) -> Result<HealthCheckConfig, String> {
    weir_core::testing::parse_config(yaml)
}

/// A running extension and what it reads.
struct Running {
    port: u16,
    health: Health,
    failures: ExportFailures,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(yaml: &str) -> Running {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = parse(&format!("endpoint: 127.0.0.1:{port}\n{yaml}")).unwrap();
    let ctx = BuildContext::new(ComponentId::parse("health_check").unwrap(), None);
    let ext = HealthCheckFactory.build(&ctx, &config).unwrap();
    let (health, failures, stop) = (Health::default(), ExportFailures::default(), CancellationToken::new());
    let ext_ctx = ExtensionContext { health: health.clone(), export_failures: failures.clone(), ..Default::default() };
    ext.start(ext_ctx, stop.clone()).await.unwrap();
    Running { port, health, failures, stop }
}

/// Sends `GET path` over `io` and returns (status, content type, body).
async fn get_over<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, path: &str) -> (u16, String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    io.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = io.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

async fn get(r: &Running, path: &str) -> (u16, String, String) {
    get_over(tokio::net::TcpStream::connect(("127.0.0.1", r.port)).await.unwrap(), path).await
}

#[tokio::test]
async fn the_json_status_follows_the_service() {
    let r = start("").await;
    let (code, content_type, body) = get(&r, "/").await;
    assert_eq!((code, content_type.as_str()), (503, "application/json"));
    assert!(body.contains("Server not available"), "{body}");
    r.health.set_ready(true);
    let (code, _, body) = get(&r, "/").await;
    assert_eq!(code, 200);
    assert!(body.contains("\"status\":\"Server available\""), "{body}");
    assert_eq!(get(&r, "/other").await.0, 404);
}

#[tokio::test]
async fn response_body_replaces_the_json_status() {
    let r = start("path: /health/status\nresponse_body:\n  healthy: I'm OK\n  unhealthy: I'm not well\n").await;
    let (code, content_type, body) = get(&r, "/health/status").await;
    assert_eq!((code, body.as_str()), (503, "I'm not well"));
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    r.health.set_ready(true);
    assert_eq!(get(&r, "/health/status").await, (200, "text/plain; charset=utf-8".into(), "I'm OK".into()));
}

#[tokio::test]
async fn the_pipeline_check_turns_500_past_the_failure_threshold() {
    let r = start(
        "response_body: { healthy: good, unhealthy: bad }\n\
         check_collector_pipeline: { enabled: true, interval: 5m, exporter_failure_threshold: 2 }\n",
    )
    .await;
    r.health.set_ready(true);
    assert_eq!(get(&r, "/").await.0, 200);
    r.failures.record();
    r.failures.record();
    assert_eq!(get(&r, "/").await.2, "good", "at the threshold is still healthy");
    r.failures.record();
    let (code, _, body) = get(&r, "/").await;
    assert_eq!((code, body.as_str()), (500, "bad"));
    r.health.set_ready(false);
    assert_eq!(get(&r, "/").await.0, 500, "not running is unhealthy too");
}

#[tokio::test]
async fn the_pipeline_check_forgets_failures_older_than_the_interval() {
    let r =
        start("check_collector_pipeline: { enabled: true, interval: 200ms, exporter_failure_threshold: 1 }\n").await;
    r.health.set_ready(true);
    r.failures.record();
    r.failures.record();
    let (code, _, body) = get(&r, "/").await;
    assert_eq!((code, body.as_str()), (500, ""), "without response_body the pipeline check sends no body");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&r, "/").await.0, 200);
}

/// A CA and a `localhost` certificate it signed, as PEM files in `dir`.
fn pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[tokio::test]
async fn tls_serves_https_and_refuses_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let d = dir.path().display();
    let r = start(&format!("tls:\n  cert_file: {d}/cert.pem\n  key_file: {d}/key.pem\n")).await;
    r.health.set_ready(true);
    let client = weir_core::tls::TlsClientSettings { ca_file: Some(dir.path().join("ca.pem")), ..Default::default() };
    let config = client.client_config(&[ALPN_HTTP1]).unwrap().unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    let name = client.server_name("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.unwrap();
    let (code, _, body) = get_over(tls, "/").await;
    assert_eq!(code, 200);
    assert!(body.contains("Server available"), "{body}");
    assert_eq!(get(&r, "/").await.0, 0, "plain HTTP gets no HTTP answer from a TLS server");
}

#[test]
fn tls_files_are_read_at_start_and_named_when_missing() {
    let c = parse("tls:\n  ca_file: /path/to/ca\n  cert_file: /path/to/cert\n  key_file: /path/to/key\n").unwrap();
    assert_eq!(c.files()[0], ("tls::cert_file".to_string(), "/path/to/cert".into()));
    let ctx = BuildContext::new(ComponentId::parse("health_check").unwrap(), None);
    let err = HealthCheckFactory.build(&ctx, &c).err().expect("the files are read when built").to_string();
    assert!(err.starts_with("tls::cert_file: cannot read /path/to/cert"), "{err}");
}

#[test]
fn the_collectors_checks() {
    let c = parse("").unwrap();
    assert_eq!((c.endpoint.as_str(), c.path.as_str()), ("localhost:13133", "/"));
    assert_eq!(c.check_collector_pipeline, CheckCollectorPipeline::default());
    assert_eq!(c.check_collector_pipeline.interval, Duration::from_secs(300));
    assert!(parse("endpoint: \"\"\n").unwrap_err().starts_with("endpoint must be specified"));
    let err = parse("check_collector_pipeline: { exporter_failure_threshold: -1 }\n").unwrap_err();
    assert!(err.starts_with("check_collector_pipeline::exporter_failure_threshold expects a positive number"), "{err}");
    assert!(parse("path: invalid\n").unwrap_err().starts_with("path must start with"));
    assert!(parse("check_collector_pipeline: { interval: soon }\n").unwrap_err().contains("invalid duration"));
    assert!(parse("response_body: { healthy: up, sick: down }\n").unwrap_err().contains("sick"));
}
