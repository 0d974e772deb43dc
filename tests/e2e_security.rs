//! Security end to end: the `weir` binary with `tls`, mutual TLS, `bearertokenauth` and size
//! limits on both OTLP servers, against real clients — rustls + tonic and raw HTTP/1.1 over
//! rustls written here, the OpenTelemetry Python SDK, and weir's own `otlp` exporter (weir →
//! weir over mTLS with a token).
//!
//! Certificates are generated per test with rcgen into a temporary directory: a CA, a server
//! certificate for `localhost` / `127.0.0.1`, a client certificate signed by the CA, and a
//! second ("rogue") CA with a client certificate of its own.

mod common;

use bytes::Bytes;
use common::pki::{leaf, new_ca};
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::Code;
use weir_core::tls::TlsClientSettings;

const TOKEN: &str = "e2e-s3cret-token";
const TIMEOUT: Duration = Duration::from_secs(20);

/// A test PKI written as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, pem: String| std::fs::write(dir.path().join(name), pem).expect("write pem");
        let ca = new_ca();
        let rogue_ca = new_ca();
        let (server, server_key) = leaf(&ca, &["localhost", "127.0.0.1"]);
        let (client, client_key) = leaf(&ca, &["weir-client"]);
        let (rogue, rogue_key) = leaf(&rogue_ca, &["weir-client"]);
        write("ca.pem", ca.pem());
        write("rogue-ca.pem", rogue_ca.pem());
        write("server.pem", server);
        write("server-key.pem", server_key);
        write("client.pem", client);
        write("client-key.pem", client_key);
        write("rogue-client.pem", rogue);
        write("rogue-client-key.pem", rogue_key);
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The receiver's `tls` block; `mtls` adds `client_ca_file`.
    fn server_tls(&self, mtls: bool) -> String {
        let mut s = format!(
            "{{ cert_file: \"{}\", key_file: \"{}\"",
            self.path("server.pem").display(),
            self.path("server-key.pem").display()
        );
        if mtls {
            s.push_str(&format!(", client_ca_file: \"{}\"", self.path("ca.pem").display()));
        }
        s.push_str(" }");
        s
    }

    /// A client trusting the CA, presenting `identity` (`client` or `rogue-client`) if any.
    fn client(&self, identity: Option<&str>, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
        let settings = TlsClientSettings {
            ca_file: Some(self.path("ca.pem")),
            cert_file: identity.map(|i| self.path(&format!("{i}.pem"))),
            key_file: identity.map(|i| self.path(&format!("{i}-key.pem"))),
            ..Default::default()
        };
        settings.client_config(&[alpn]).expect("client TLS config").expect("TLS on")
    }
}

/// A receiver on `grpc` and `http` with `grpc_keys` / `http_keys` (flow-style YAML fragments)
/// writing traces to `{dir}/out.jsonl`, with the token extension configured.
fn receiver_config(grpc: u16, grpc_keys: &str, http: u16, http_keys: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}"{grpc_keys} }}
      http: {{ endpoint: "127.0.0.1:{http}"{http_keys} }}
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
  bearertokenauth/clients: {{ token: "{TOKEN}" }}
service:
  extensions: [health_check, bearertokenauth/clients]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
"#
    )
}

const AUTH: &str = ", auth: { authenticator: bearertokenauth/clients }";

/// An `ExportTraceServiceRequest` with `n` spans of `service`.
fn traces(service: &str, n: usize) -> Vec<u8> {
    let text = |s: &str| Some(AnyValue { value: Some(any_value::Value::StringValue(s.into())) });
    let spans = (0..n)
        .map(|i| Span {
            trace_id: [7; 16].to_vec(),
            span_id: ((i as u64) + 1).to_be_bytes().to_vec(),
            name: format!("{service} span {i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_100_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue { key: "service.name".into(), value: text(service), ..Default::default() }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Span names per service in what `weir` wrote.
fn names_of(weir: &Weir, service: &str) -> Vec<String> {
    spans(&read_file_output(&weir.path("out.jsonl")))
        .into_iter()
        .filter(|s| s.service == service)
        .map(|s| s.name)
        .collect()
}

/// Waits until `weir` wrote `n` spans of `service`.
fn assert_received(weir: &Weir, service: &str, n: usize) {
    let ok = eventually(TIMEOUT, || names_of(weir, service).len() >= n);
    assert!(ok, "{}: expected {n} spans of {service}, got {:?}\n{}", weir.name, names_of(weir, service), weir.log());
    assert_eq!(names_of(weir, service).len(), n, "exactly {n} spans of {service}");
}

/// What an HTTP client got: the status code, or `None` when the connection or the TLS
/// handshake failed before a response arrived.
type HttpOutcome = Option<u16>;

/// POSTs `body` to `127.0.0.1:port/v1/traces` over TLS (or plaintext when `tls` is `None`)
/// with HTTP/1.1, optional `Content-Encoding` and `Authorization` headers.
fn https_post(
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    body: &[u8],
    encoding: Option<&str>,
    authorization: Option<&str>,
) -> HttpOutcome {
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the receiver accepts TCP connections");
    tcp.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    tcp.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    let mut head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(e) = encoding {
        head.push_str(&format!("Content-Encoding: {e}\r\n"));
    }
    if let Some(a) = authorization {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    // A large body waits for `100 Continue`, so a refusal (413) is read before the body is
    // written: otherwise the server's close after refusing could reset the connection while
    // the client is still writing, and the answer would be lost.
    let expect_continue = body.len() > 64 * 1024;
    if expect_continue {
        head.push_str("Expect: 100-continue\r\n");
    }
    head.push_str("\r\n");
    let mut response = Vec::new();
    let exchange = |s: &mut dyn ReadWrite, response: &mut Vec<u8>| -> std::io::Result<()> {
        s.write_all(head.as_bytes())?;
        s.flush()?;
        if expect_continue {
            let mut byte = [0u8; 1];
            while !response.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte)?;
                response.push(byte[0]);
            }
            if !response.starts_with(b"HTTP/1.1 100") {
                return s.read_to_end(response).map(|_| ());
            }
            response.clear();
        }
        s.write_all(body)?;
        s.flush()?;
        s.read_to_end(response).map(|_| ())
    };
    let result = match tls {
        None => {
            let mut tcp = tcp;
            exchange(&mut tcp, &mut response)
        }
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let conn = rustls::ClientConnection::new(config, name).expect("client connection");
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            exchange(&mut stream, &mut response)
        }
    };
    // A server that answers and then closes without close_notify still gave its answer.
    let text = String::from_utf8_lossy(&response);
    let code = text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok());
    if code.is_none() {
        if let Err(e) = result {
            eprintln!("HTTP exchange failed: {e}");
        }
    }
    code
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One gRPC trace `Export` to `127.0.0.1:port` over TLS (or plaintext), with an optional
/// `authorization` value, gzip-compressed when `gzip`.
fn grpc_export(
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    authorization: Option<&str>,
    body: Vec<u8>,
    gzip: bool,
) -> Result<(), tonic::Status> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let authorization = authorization.map(str::to_string);
    runtime.block_on(async move {
        let connector = tower::service_fn(move |_uri: http::Uri| {
            let tls = tls.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                let io = match tls {
                    None => tokio_util::either::Either::Left(tcp),
                    Some(config) => {
                        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                        let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
                        tokio_util::either::Either::Right(tls)
                    }
                };
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(io))
            }
        });
        let endpoint = tonic::transport::Endpoint::from_static("http://localhost").connect_timeout(TIMEOUT);
        let channel = endpoint
            .connect_with_connector(connector)
            .await
            .map_err(|e| tonic::Status::unavailable(format!("connect: {e:?}")))?;
        let mut client = tonic::client::Grpc::new(channel);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        client.ready().await.map_err(|e| tonic::Status::unavailable(format!("not ready: {e}")))?;
        let mut request = tonic::Request::new(Bytes::from(body));
        request.set_timeout(TIMEOUT);
        if let Some(a) = authorization {
            request.metadata_mut().insert("authorization", a.parse().expect("ascii"));
        }
        let path = http::uri::PathAndQuery::from_static(weir_core::grpc::export_path(weir_core::Signal::Traces));
        client.unary(request, path, weir_core::grpc::RawBytesCodec).await.map(|_| ())
    })
}

#[test]
fn a_tls_receiver_refuses_plaintext_clients_on_both_protocols() {
    let pki = Pki::new();
    let tls = format!(", tls: {}", pki.server_tls(false));
    let (grpc, http) = (free_port(), free_port());
    let weir = Weir::start("tls", &receiver_config(grpc, &tls, http, &tls));

    let plain_grpc = grpc_export(grpc, None, None, traces("plaintext", 1), false);
    assert!(plain_grpc.is_err(), "a plaintext gRPC client must be refused");
    assert_eq!(https_post(http, None, &traces("plaintext", 1), None, None), None, "plaintext HTTP must get no answer");

    grpc_export(grpc, Some(pki.client(None, b"h2")), None, traces("tls-grpc", 2), false).expect("TLS gRPC accepted");
    assert_eq!(https_post(http, Some(pki.client(None, b"http/1.1")), &traces("tls-http", 3), None, None), Some(200));
    assert_received(&weir, "tls-grpc", 2);
    assert_received(&weir, "tls-http", 3);
    assert!(names_of(&weir, "plaintext").is_empty(), "nothing sent in plaintext arrived");
    assert!(weir.metrics().contains("weir_receiver_tls_handshake_failures"), "{}", weir.metrics());
}

#[test]
fn mtls_refuses_clients_without_a_certificate_or_with_another_cas() {
    let pki = Pki::new();
    let tls = format!(", tls: {}", pki.server_tls(true));
    let (grpc, http) = (free_port(), free_port());
    let weir = Weir::start("mtls", &receiver_config(grpc, &tls, http, &tls));

    for (identity, service) in [(None, "anonymous"), (Some("rogue-client"), "rogue")] {
        let result = grpc_export(grpc, Some(pki.client(identity, b"h2")), None, traces(service, 1), false);
        assert!(result.is_err(), "gRPC client {service} must be refused");
        let outcome = https_post(http, Some(pki.client(identity, b"http/1.1")), &traces(service, 1), None, None);
        assert_eq!(outcome, None, "HTTP client {service} must be refused");
    }
    grpc_export(grpc, Some(pki.client(Some("client"), b"h2")), None, traces("trusted-grpc", 2), false)
        .expect("the CA's client is accepted over gRPC");
    let outcome =
        https_post(http, Some(pki.client(Some("client"), b"http/1.1")), &traces("trusted-http", 2), None, None);
    assert_eq!(outcome, Some(200), "the CA's client is accepted over HTTP");
    assert_received(&weir, "trusted-grpc", 2);
    assert_received(&weir, "trusted-http", 2);
    assert!(names_of(&weir, "anonymous").is_empty() && names_of(&weir, "rogue").is_empty());
}

#[test]
fn a_missing_or_wrong_bearer_token_is_refused_on_both_protocols() {
    let pki = Pki::new();
    let keys = format!(", tls: {}{AUTH}", pki.server_tls(false));
    let (grpc, http) = (free_port(), free_port());
    let weir = Weir::start("auth", &receiver_config(grpc, &keys, http, &keys));
    let right = format!("Bearer {TOKEN}");

    for (authorization, service) in
        [(None, "no-token"), (Some("Bearer wrong"), "wrong-token"), (Some(TOKEN), "no-scheme")]
    {
        let status = grpc_export(grpc, Some(pki.client(None, b"h2")), authorization, traces(service, 1), false)
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "gRPC {service}: {status:?}");
        let outcome = https_post(http, Some(pki.client(None, b"http/1.1")), &traces(service, 1), None, authorization);
        assert_eq!(outcome, Some(401), "HTTP {service}");
    }
    grpc_export(grpc, Some(pki.client(None, b"h2")), Some(&right), traces("token-grpc", 2), false)
        .expect("the right token is accepted over gRPC");
    let outcome = https_post(http, Some(pki.client(None, b"http/1.1")), &traces("token-http", 2), None, Some(&right));
    assert_eq!(outcome, Some(200));
    assert_received(&weir, "token-grpc", 2);
    assert_received(&weir, "token-http", 2);
    for service in ["no-token", "wrong-token", "no-scheme"] {
        assert!(names_of(&weir, service).is_empty(), "{service} must not arrive");
    }
}

/// Upstream weir → downstream weir with the exporter `exporter` (`otlp` or `otlphttp`) over
/// mutual TLS with a bearer token; the downstream receiver requires both. Checks that the
/// spans sent to the upstream arrive downstream intact.
fn relay_over_mtls_with_a_token(exporter: &str, service: &str) {
    let pki = Pki::new();
    let keys = format!(", tls: {}{AUTH}", pki.server_tls(true));
    let (b_grpc, b_http) = (free_port(), free_port());
    let downstream = Weir::start("downstream", &receiver_config(b_grpc, &keys, b_http, &keys));
    // gRPC to the IP with server_name_override; HTTP to the name the certificate carries.
    let (endpoint, name_override) = match exporter {
        "otlp" => (format!("https://127.0.0.1:{b_grpc}"), "server_name_override: localhost"),
        _ => (format!("https://localhost:{b_http}"), ""),
    };
    let (a_grpc, a_http) = (free_port(), free_port());
    let upstream = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{a_grpc}" }}
      http: {{ endpoint: "127.0.0.1:{a_http}" }}
exporters:
  {exporter}/secure:
    endpoint: "{endpoint}"
    tls:
      ca_file: "{ca}"
      cert_file: "{cert}"
      key_file: "{key}"
      {name_override}
    auth: {{ authenticator: bearertokenauth/upstream }}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
  bearertokenauth/upstream: {{ token: "{TOKEN}" }}
service:
  extensions: [health_check, bearertokenauth/upstream]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [{exporter}/secure] }}
"#,
        ca = pki.path("ca.pem").display(),
        cert = pki.path("client.pem").display(),
        key = pki.path("client-key.pem").display(),
    );
    let upstream = Weir::start("upstream", &upstream);
    assert_eq!(post_protobuf(a_http, "/v1/traces", &traces(service, 5)).0, 200, "{}", upstream.log());
    assert_received(&downstream, service, 5);
    let mut names = names_of(&downstream, service);
    names.sort();
    let expected: Vec<String> = (0..5).map(|i| format!("{service} span {i}")).collect();
    assert_eq!(names, expected, "the spans arrive intact");
}

#[test]
fn weir_to_weir_over_mtls_with_a_token_delivers_spans() {
    relay_over_mtls_with_a_token("otlp", "relayed-grpc");
}

#[test]
fn weir_to_weir_over_https_with_mtls_and_a_token_delivers_spans() {
    relay_over_mtls_with_a_token("otlphttp", "relayed-http");
}

#[test]
fn oversized_and_gzip_bomb_bodies_are_refused_over_tls() {
    let pki = Pki::new();
    let (grpc, http) = (free_port(), free_port());
    let tls = pki.server_tls(false);
    let grpc_keys = format!(", tls: {tls}, max_recv_msg_size_mib: 1");
    let http_keys = format!(", tls: {tls}, max_request_body_size: 1048576");
    let weir = Weir::start("limits", &receiver_config(grpc, &grpc_keys, http, &http_keys));

    // 2 MiB as sent, and 64 MiB of zeros compressed to about 64 KiB.
    let oversized = vec![0u8; 2 << 20];
    let bomb = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 64 << 20]).expect("compress");
        gz.finish().expect("gzip")
    };
    assert!(bomb.len() < 1 << 20, "the bomb itself fits the limit ({} bytes)", bomb.len());

    let client = || Some(pki.client(None, b"http/1.1"));
    assert_eq!(https_post(http, client(), &oversized, None, None), Some(413), "oversized HTTP body");
    assert_eq!(https_post(http, client(), &bomb, Some("gzip"), None), Some(413), "gzip bomb over HTTP");

    let status = grpc_export(grpc, Some(pki.client(None, b"h2")), None, oversized, false).expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "oversized gRPC message: {status:?}");
    // tonic compresses the 64 MiB message on the way out; the server stops inflating at 1 MiB.
    let status =
        grpc_export(grpc, Some(pki.client(None, b"h2")), None, vec![0u8; 64 << 20], true).expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "gzip bomb over gRPC: {status:?}");

    // The server is still serving.
    assert_eq!(https_post(http, client(), &traces("after-limits", 1), None, None), Some(200));
    assert_received(&weir, "after-limits", 1);

    // Each refusal was counted; one line per transport was logged (rate-limited) naming the
    // client. (The first line of each transport comes at once; later ones are suppressed for
    // ten seconds and counted in `suppressed_since_last_log`.)
    let log = weir.log();
    for transport in ["http", "grpc"] {
        let line = log
            .lines()
            .find(|l| l.contains("Refused unreadable input.") && l.contains(&format!("\"transport\":\"{transport}\"")))
            .unwrap_or_else(|| panic!("no bad-input line for {transport}:\n{log}"));
        assert!(line.contains("\"client\":\"127.0.0.1:"), "{line}");
        assert!(line.contains("\"receiver\":\"otlp\""), "{line}");
    }
    let metrics = weir.metrics();
    let refused = |transport: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("weir_receiver_malformed_requests_total{")
                    && l.contains(&format!("transport=\"{transport}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!((refused("http"), refused("grpc")), (2.0, 2.0), "{metrics}");
}

#[test]
fn the_python_sdk_exports_over_tls_with_a_token() {
    let pki = Pki::new();
    let keys = format!(", tls: {}{AUTH}", pki.server_tls(false));
    let (grpc, http) = (free_port(), free_port());
    let weir = Weir::start("python-tls", &receiver_config(grpc, &keys, http, &keys));
    let client = repo_root().join("tests/clients/send_python.py");
    let ca = pki.path("ca.pem");
    for (protocol, port, service) in [("grpc", grpc, "python-tls-grpc"), ("http", http, "python-tls-http")] {
        let sent = run_client(
            Command::new(python())
                .arg(&client)
                .args(["--protocol", protocol, "--endpoint", &format!("https://localhost:{port}")])
                .args(["--traces", "5", "--service", service, "--token", TOKEN])
                .arg("--ca-file")
                .arg(&ca),
            Duration::from_secs(60),
        );
        let sent_spans = sent["spans"].as_array().expect("spans").len();
        assert_eq!(sent_spans, 10, "{protocol}: the client reports what it sent");
        assert_received(&weir, service, sent_spans);
    }
}

#[test]
fn max_connections_holds_further_clients_until_one_closes() {
    let (grpc, http) = (free_port(), free_port());
    let weir = Weir::start("conns", &receiver_config(grpc, "", http, ", max_connections: 1"));
    // The first client holds the only connection open (keep-alive, idle).
    let mut first = std::net::TcpStream::connect(("127.0.0.1", http)).expect("connect");
    first.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let body = traces("first", 1);
    write!(
        first,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    first.write_all(&body).expect("body");
    let mut answer = [0u8; 12];
    first.read_exact(&mut answer).expect("the first client is served");
    assert_eq!(&answer, b"HTTP/1.1 200");

    // A second client connects (the kernel's backlog) but is not served while the first is open.
    let second = std::thread::spawn(move || https_post(http, None, &traces("second", 1), None, None));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!second.is_finished(), "the second client must wait while max_connections is reached");
    drop(first);
    assert_eq!(second.join().expect("client thread"), Some(200), "served once the first closed");
    assert_received(&weir, "second", 1);
}

#[test]
fn a_wrong_tls_file_is_named_when_weir_starts_and_not_read_by_validate() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |tls: &str| receiver_config(free_port(), &format!(", tls: {tls}"), free_port(), "");
    // `weir validate` reads no file (the Collector does not either): it names them as unchecked.
    let validate = |tls: &str| -> String {
        let path = dir.path().join("pipelines.yaml");
        // (The placeholders the test harness fills when it starts weir, filled here.)
        let text = config(tls)
            .replace("{dir}", &dir.path().display().to_string())
            .replace("{health}", &free_port().to_string())
            .replace("{metrics}", &free_port().to_string());
        std::fs::write(&path, text).expect("write");
        let out =
            Command::new(env!("CARGO_BIN_EXE_weir")).args(["validate", "--config"]).arg(&path).output().expect("run");
        assert!(
            out.status.success(),
            "weir validate reads no TLS file: {tls}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let p = |name: &str| pki.path(name).display().to_string();
    let listed = validate(&format!("{{ cert_file: \"{}\", key_file: \"{}\" }}", p("nope.pem"), p("server-key.pem")));
    assert!(listed.contains("files validate does not open"), "{listed}");
    assert!(
        listed.contains("receivers::otlp::protocols::grpc::tls::cert_file") && listed.contains("nope.pem"),
        "{listed}"
    );
    // `weir run` reads them at start and refuses, naming the key and the file.
    let start = |tls: &str| Weir::refused_to_start(&config(tls));
    let mismatch = start(&format!("{{ cert_file: \"{}\", key_file: \"{}\" }}", p("server.pem"), p("client-key.pem")));
    assert!(mismatch.contains("protocols::grpc::tls::key_file"), "{mismatch}");
    assert!(mismatch.contains("does not belong to the certificate"), "{mismatch}");
    let missing = start(&format!("{{ cert_file: \"{}\", key_file: \"{}\" }}", p("nope.pem"), p("server-key.pem")));
    assert!(
        missing.contains("protocols::grpc::tls::cert_file: cannot read") && missing.contains("nope.pem"),
        "{missing}"
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello\n").expect("write");
    let unreadable =
        start(&format!("{{ cert_file: \"{}\", key_file: \"{}\" }}", garbage.display(), p("server-key.pem")));
    assert!(unreadable.contains("no certificate found"), "{unreadable}");
}
