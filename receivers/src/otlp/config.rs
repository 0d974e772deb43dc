//! `otlp` receiver settings, with the Collector's keys and defaults.

use serde::{Deserialize, Deserializer};
use std::time::Duration;
use weir_core::auth::AuthSettings;
use weir_core::tls::TlsServerSettings;
use weir_core::ComponentConfig;

/// One mebibyte, the unit of `max_recv_msg_size_mib`.
const MIB: usize = 1 << 20;

/// The Collector's `protocols::grpc::read_buffer_size`: 512 KiB.
pub const DEFAULT_GRPC_READ_BUFFER_SIZE: usize = 512 * 1024;

/// `receivers::otlp`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpReceiverConfig {
    /// The servers to run. Declaring `grpc` or `http` (even with no keys under it) turns that
    /// server on; at least one must be on.
    pub protocols: Protocols,
    /// weir's own key. `false` (default): a request is answered once every pipeline has
    /// accepted its data. `true`: it is answered only once every exporter has delivered the
    /// data (or failed to), so the client learns the real outcome and retries what was lost.
    /// Exporters acknowledge on enqueue unless their `sending_queue::wait_for_result` is true.
    pub wait_for_result: bool,
}

/// `protocols`: which servers run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocols {
    /// OTLP/gRPC. Present (even empty) means enabled, unless `enabled: false`.
    #[serde(deserialize_with = "present")]
    pub grpc: Option<GrpcConfig>,
    /// OTLP/HTTP. Present (even empty) means enabled, unless `enabled: false`.
    #[serde(deserialize_with = "present")]
    pub http: Option<HttpConfig>,
}

/// `transport`: what `endpoint` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `endpoint` is `host:port` (the default).
    #[default]
    Tcp,
    /// `host:port`, IPv4 addresses only.
    Tcp4,
    /// `host:port`, IPv6 addresses only.
    Tcp6,
    /// `endpoint` is the path of a Unix domain socket, created when the server starts (a stale
    /// socket file that nobody serves is replaced) and removed when it stops.
    Unix,
}

/// `protocols::grpc::keepalive`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerConfig {
    /// How connections are pinged and aged.
    #[serde(deserialize_with = "present")]
    pub server_parameters: Option<KeepaliveServerParameters>,
    /// How often clients may ping.
    #[serde(deserialize_with = "present")]
    pub enforcement_policy: Option<KeepaliveEnforcementPolicy>,
}

/// `protocols::grpc::keepalive::server_parameters` (grpc-go's `keepalive.ServerParameters`;
/// 0 means grpc-go's default for each).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerParameters {
    /// A connection that carried no bytes for this long is closed. Default 0: never. (grpc-go
    /// counts time without open requests; weir counts time without traffic, which includes
    /// keepalive pings, so set `time` above this value.)
    #[serde(with = "weir_core::config::duration")]
    pub max_connection_idle: Duration,
    /// A connection is told to go away (HTTP/2 GOAWAY) after this long. Default 0: never.
    #[serde(with = "weir_core::config::duration")]
    pub max_connection_age: Duration,
    /// After `max_connection_age`, requests in flight get this long before the connection is
    /// closed. Default 0: no limit.
    #[serde(with = "weir_core::config::duration")]
    pub max_connection_age_grace: Duration,
    /// The server pings a connection that has been quiet this long. Default 0: 2h, as grpc-go.
    #[serde(with = "weir_core::config::duration")]
    pub time: Duration,
    /// A ping not answered within this long closes the connection. Default 0: 20s, as grpc-go.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
}

/// `protocols::grpc::keepalive::enforcement_policy` (grpc-go's `keepalive.EnforcementPolicy`).
///
/// Accepted so Collector configs load, and logged at start when set: weir's HTTP/2 server
/// (hyper) answers every client ping and does not close connections of clients that ping more
/// often than `min_time` (grpc-go sends GOAWAY `ENHANCE_YOUR_CALM`). Clients that ping too often
/// cost weir a ping answer each, nothing more.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveEnforcementPolicy {
    /// The shortest interval between client pings grpc-go tolerates. Default 0 (grpc-go: 5m).
    #[serde(with = "weir_core::config::duration")]
    pub min_time: Duration,
    /// Whether clients may ping without open requests. Default false.
    pub permit_without_stream: bool,
}

impl KeepaliveServerParameters {
    /// `time`, with grpc-go's default for 0.
    pub fn ping_interval(&self) -> Duration {
        if self.time.is_zero() {
            Duration::from_secs(2 * 3600)
        } else {
            self.time
        }
    }

    /// `timeout`, with grpc-go's default for 0.
    pub fn ping_timeout(&self) -> Duration {
        if self.timeout.is_zero() {
            Duration::from_secs(20)
        } else {
            self.timeout
        }
    }
}

/// `protocols::http::cors`: answers browsers' cross-origin checks as the Collector's
/// `confighttp` (rs/cors, with credentials allowed) does.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to send data, e.g. `https://app.example.com`. One `*` may stand for any
    /// characters (`https://*.example.com`), and `*` alone allows every origin. Empty (the
    /// default): CORS is off, whatever the other keys say.
    pub allowed_origins: Vec<String>,
    /// Request headers a browser may send besides the always allowed `Accept`,
    /// `Accept-Language`, `Content-Type` and `Content-Language`; `*` allows any. When empty,
    /// `X-Requested-With` is allowed too.
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show to the page (`Access-Control-Expose-Headers`).
    pub exposed_headers: Vec<String>,
    /// How long, in seconds, a browser may cache a preflight answer
    /// (`Access-Control-Max-Age`). Default 0: not sent.
    pub max_age: i64,
}

/// `protocols::grpc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `false` turns the server off while keeping its settings. Default true.
    pub enabled: bool,
    /// `host:port` to listen on (with `transport: unix`, a socket path). Default
    /// `localhost:4317` (loopback only: use `0.0.0.0:4317` to serve other hosts). `:4317`
    /// listens on every IPv4 interface; an empty value, as in the Collector, on a free port of
    /// every interface.
    pub endpoint: String,
    /// `tcp` (default), `tcp4`, `tcp6` or `unix` (then `endpoint` is a socket path).
    pub transport: Transport,
    /// Largest request message accepted, in MiB, after decompression; larger ones are refused
    /// with `RESOURCE_EXHAUSTED`. Default 4; 0 also means 4.
    pub max_recv_msg_size_mib: u64,
    /// Concurrent HTTP/2 streams (requests) allowed per client connection. Default 0: no limit.
    pub max_concurrent_streams: u32,
    /// Receive buffer of each connection, in bytes (the socket's `SO_RCVBUF`). Default 524288
    /// (512 KiB, the Collector's); 0 keeps the system's.
    pub read_buffer_size: usize,
    /// Send buffer of each connection, in bytes (the socket's `SO_SNDBUF`). Default 0: the
    /// system's.
    pub write_buffer_size: usize,
    /// Keepalive pings and connection ages.
    pub keepalive: KeepaliveServerConfig,
    /// Keep the client's gRPC metadata with the data it sent (the Collector's client
    /// metadata), for `batch::metadata_keys`, `sending_queue::batch::partition` and the Kafka
    /// exporter's `include_metadata_keys` / `topic_from_metadata_key`. Default false.
    pub include_metadata: bool,
    /// Serve TLS only (and with `client_ca_file`, mutual TLS). Absent: plaintext.
    pub tls: Option<TlsServerSettings>,
    /// `authenticator: bearertokenauth[/name]`: requests without that token are refused with
    /// `UNAUTHENTICATED`.
    pub auth: Option<AuthSettings>,
    /// weir's own key: client connections served at once; further clients wait in the
    /// listen backlog until one closes. Default 0: no limit.
    pub max_connections: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            enabled: true,
            endpoint: "localhost:4317".into(),
            transport: Transport::Tcp,
            max_recv_msg_size_mib: 4,
            max_concurrent_streams: 0,
            read_buffer_size: DEFAULT_GRPC_READ_BUFFER_SIZE,
            write_buffer_size: 0,
            keepalive: KeepaliveServerConfig::default(),
            include_metadata: false,
            tls: None,
            auth: None,
            max_connections: 0,
        }
    }
}

impl GrpcConfig {
    /// The largest request message accepted, in bytes.
    pub fn max_recv_msg_size(&self) -> usize {
        let mib = if self.max_recv_msg_size_mib == 0 { 4 } else { self.max_recv_msg_size_mib };
        usize::try_from(mib).unwrap_or(usize::MAX).saturating_mul(MIB)
    }
}

/// `protocols::http`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `false` turns the server off while keeping its settings. Default true.
    pub enabled: bool,
    /// `host:port` to listen on (with `transport: unix`, a socket path). Default
    /// `localhost:4318` (loopback only: use `0.0.0.0:4318` to serve other hosts). `:4318`
    /// listens on every IPv4 interface; an empty value, as in the Collector, on a free port of
    /// every interface.
    pub endpoint: String,
    /// `tcp` (default), `tcp4`, `tcp6` or `unix` (then `endpoint` is a socket path).
    pub transport: Transport,
    /// Cross-origin requests from browsers. Absent: no CORS headers are sent.
    pub cors: Option<CorsConfig>,
    /// Keep the request's HTTP headers with the data it sent (the Collector's client
    /// metadata); see `grpc::include_metadata`. Default false.
    pub include_metadata: bool,
    /// Path that receives traces. Default `/v1/traces`; a relative path gets a leading `/`.
    pub traces_url_path: String,
    /// Path that receives metrics. Default `/v1/metrics`; a relative path gets a leading `/`.
    pub metrics_url_path: String,
    /// Path that receives logs. Default `/v1/logs`; a relative path gets a leading `/`.
    pub logs_url_path: String,
    /// Largest request body accepted, in bytes, both as sent (compressed) and after
    /// decompression; larger ones are refused with 413. Default 20971520 (20 MiB); 0 also means
    /// the default.
    pub max_request_body_size: u64,
    /// Serve TLS only (and with `client_ca_file`, mutual TLS). Absent: plaintext.
    pub tls: Option<TlsServerSettings>,
    /// `authenticator: bearertokenauth[/name]`: requests without that token are refused with
    /// 401.
    pub auth: Option<AuthSettings>,
    /// weir's own key: client connections served at once; further clients wait in the
    /// listen backlog until one closes. Default 0: no limit.
    pub max_connections: usize,
}

/// The Collector's default `max_request_body_size`: 20 MiB.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: u64 = 20 * 1024 * 1024;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            endpoint: "localhost:4318".into(),
            transport: Transport::Tcp,
            cors: None,
            include_metadata: false,
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
            tls: None,
            auth: None,
            max_connections: 0,
        }
    }
}

impl HttpConfig {
    /// The largest body accepted, in bytes, compressed or not.
    pub fn max_request_body_size(&self) -> usize {
        let size =
            if self.max_request_body_size == 0 { DEFAULT_MAX_REQUEST_BODY_SIZE } else { self.max_request_body_size };
        usize::try_from(size).unwrap_or(usize::MAX)
    }

    /// The paths served, with their signals, leading `/` added where missing.
    pub fn paths(&self) -> [(weir_core::Signal, String); 3] {
        use weir_core::Signal;
        [
            (Signal::Traces, url_path(&self.traces_url_path)),
            (Signal::Metrics, url_path(&self.metrics_url_path)),
            (Signal::Logs, url_path(&self.logs_url_path)),
        ]
    }
}

/// Checks a `*_url_path` as the Collector's `url.Parse` would read it: no scheme-like colon
/// before the first `/`, no control characters or spaces, valid `%` escapes.
fn check_url_path(key: &str, p: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("{key}: invalid HTTP URL path set for signal: {p:?}: {why}"));
    let first_segment = p.split('/').next().unwrap_or("");
    if first_segment.contains(':') {
        return invalid("a colon in the first path segment reads as a URL scheme; write it after a '/'");
    }
    if p.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return invalid("control characters and spaces are not allowed");
    }
    if p.contains('?') || p.contains('#') {
        return invalid("a query or fragment is not part of a path");
    }
    let bytes = p.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return invalid("'%' must start an escape such as %2F");
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Makes a configured path absolute, as the Collector does.
fn url_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// Reads an optional section whose presence alone (`grpc:` with nothing under it, which YAML
/// reads as null) means "on with defaults".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl OtlpReceiverConfig {
    /// The gRPC settings, when the gRPC server is on.
    pub fn grpc(&self) -> Option<&GrpcConfig> {
        self.protocols.grpc.as_ref().filter(|g| g.enabled)
    }

    /// The HTTP settings, when the HTTP server is on.
    pub fn http(&self) -> Option<&HttpConfig> {
        self.protocols.http.as_ref().filter(|h| h.enabled)
    }
}

/// Checks `endpoint` for its `transport`: `host:port` (or empty, a free port, as the Collector
/// allows), or a socket path; names `key` if not.
fn check_endpoint(key: &str, transport: Transport, endpoint: &str) -> Result<(), String> {
    if transport == Transport::Unix {
        if endpoint.trim().is_empty() {
            return Err(format!("{key}: a Unix socket path must be given with transport: unix"));
        }
        return Ok(());
    }
    if endpoint.is_empty() {
        return Ok(());
    }
    let port_ok = endpoint.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if !port_ok {
        return Err(format!("{key} must be host:port (e.g. localhost:4317), got {endpoint:?}"));
    }
    Ok(())
}

/// Checks `tls` without reading its files (they are read when the receiver starts).
fn check_tls(protocol: &str, tls: &Option<TlsServerSettings>) -> Result<(), String> {
    match tls {
        Some(t) => t.check().map_err(|e| format!("protocols::{protocol}::{e}")),
        None => Ok(()),
    }
}

impl ComponentConfig for OtlpReceiverConfig {
    fn validate(&self) -> Result<(), String> {
        if self.grpc().is_none() && self.http().is_none() {
            return Err("must specify at least one protocol when using the OTLP receiver".into());
        }
        if let Some(g) = self.grpc() {
            check_endpoint("protocols::grpc::endpoint", g.transport, &g.endpoint)?;
            check_tls("grpc", &g.tls)?;
        }
        if let Some(h) = self.http() {
            check_endpoint("protocols::http::endpoint", h.transport, &h.endpoint)?;
            check_tls("http", &h.tls)?;
            for (key, raw) in [
                ("protocols::http::traces_url_path", &h.traces_url_path),
                ("protocols::http::metrics_url_path", &h.metrics_url_path),
                ("protocols::http::logs_url_path", &h.logs_url_path),
            ] {
                check_url_path(key, raw)?;
            }
            if let Some(c) = &h.cors {
                for o in &c.allowed_origins {
                    if o.matches('*').count() > 1 {
                        return Err(format!(
                            "protocols::http::cors::allowed_origins: {o:?} has more than one '*' (one wildcard per origin)"
                        ));
                    }
                }
                for name in c.allowed_headers.iter().chain(&c.exposed_headers) {
                    if name != "*" && http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(format!("protocols::http::cors: {name:?} is not a valid header name"));
                    }
                }
            }
            let paths = h.paths();
            for (i, (signal, path)) in paths.iter().enumerate() {
                if let Some((other, _)) = paths[..i].iter().find(|(_, p)| p == path) {
                    return Err(format!(
                        "protocols::http::{signal}_url_path {path:?} is already used by {other}_url_path; give each signal its own path"
                    ));
                }
            }
        }
        Ok(())
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        let grpc = self.grpc().and_then(|g| g.auth.as_ref()).map(|a| ("protocols::grpc::auth", a));
        let http = self.http().and_then(|h| h.auth.as_ref()).map(|a| ("protocols::http::auth", a));
        grpc.into_iter().chain(http).collect()
    }

    fn files(&self) -> Vec<(String, std::path::PathBuf)> {
        let grpc = self.grpc().and_then(|g| g.tls.as_ref()).map(|t| ("grpc", t));
        let http = self.http().and_then(|h| h.tls.as_ref()).map(|t| ("http", t));
        grpc.into_iter()
            .chain(http)
            .flat_map(|(p, t)| t.files().into_iter().map(move |(k, f)| (format!("protocols::{p}::tls::{k}"), f)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OtlpReceiverConfig, String> {
        weir_core::testing::parse_config(text)
    }

    #[test]
    fn empty_protocol_sections_enable_both_servers_with_defaults() {
        let c = parse("protocols:\n  grpc:\n  http:\n").unwrap();
        assert_eq!(c.grpc(), Some(&GrpcConfig::default()));
        assert_eq!(c.http(), Some(&HttpConfig::default()));
        assert!(!c.wait_for_result);
    }

    #[test]
    fn collector_defaults() {
        let g = GrpcConfig::default();
        assert_eq!(g.endpoint, "localhost:4317");
        assert_eq!(g.max_recv_msg_size(), 4 << 20);
        let h = HttpConfig::default();
        assert_eq!(h.endpoint, "localhost:4318");
        assert_eq!(h.max_request_body_size(), 20_971_520);
        let paths: Vec<String> = h.paths().into_iter().map(|(_, p)| p).collect();
        assert_eq!(paths, ["/v1/traces", "/v1/metrics", "/v1/logs"]);
    }

    #[test]
    fn no_protocol_is_an_error() {
        let err = parse("protocols:\n").unwrap_err();
        assert_eq!(err, "must specify at least one protocol when using the OTLP receiver");
        assert!(parse("").is_err());
    }

    #[test]
    fn disabled_protocols_do_not_count() {
        let err = parse("protocols:\n  grpc:\n    enabled: false\n").unwrap_err();
        assert!(err.contains("at least one protocol"), "{err}");
        let c = parse("protocols:\n  grpc:\n    enabled: false\n  http:\n").unwrap();
        assert!(c.grpc().is_none());
        assert!(c.http().is_some());
    }

    #[test]
    fn relative_url_paths_get_a_leading_slash() {
        let c = parse("protocols:\n  http:\n    traces_url_path: custom/traces\n").unwrap();
        assert_eq!(c.http().unwrap().paths()[0].1, "/custom/traces");
    }

    #[test]
    fn duplicate_url_paths_are_rejected() {
        let err = parse("protocols:\n  http:\n    logs_url_path: /v1/traces\n").unwrap_err();
        assert!(err.contains("protocols::http::logs_url_path"), "{err}");
        assert!(err.contains("traces_url_path"), "{err}");
    }

    #[test]
    fn endpoint_without_port_is_rejected() {
        let err = parse("protocols:\n  grpc:\n    endpoint: localhost\n").unwrap_err();
        assert!(err.contains("protocols::grpc::endpoint"), "{err}");
    }

    #[test]
    fn zero_sizes_mean_the_defaults() {
        let c = parse("protocols:\n  grpc:\n    max_recv_msg_size_mib: 0\n  http:\n    max_request_body_size: 0\n")
            .unwrap();
        assert_eq!(c.grpc().unwrap().max_recv_msg_size(), 4 << 20);
        assert_eq!(c.http().unwrap().max_request_body_size(), 20 << 20);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = parse("protocols:\n  grpc:\n    keepalive: { pings: 1 }\n").unwrap_err();
        assert!(err.contains("unknown field `pings`"), "{err}");
    }

    #[test]
    fn collector_server_keys_are_read() {
        let c = parse(
            "protocols:\n  grpc:\n    read_buffer_size: 1024\n    write_buffer_size: 2048\n    include_metadata: true\n\
             \x20   keepalive:\n      server_parameters:\n        max_connection_idle: 11s\n        max_connection_age: 12s\n\
             \x20       max_connection_age_grace: 13s\n        time: 30s\n        timeout: 5s\n\
             \x20     enforcement_policy:\n        min_time: 10s\n        permit_without_stream: true\n",
        )
        .unwrap();
        let g = c.grpc().unwrap();
        assert_eq!((g.read_buffer_size, g.write_buffer_size), (1024, 2048));
        assert!(g.include_metadata);
        let sp = g.keepalive.server_parameters.as_ref().unwrap();
        assert_eq!(sp.max_connection_idle, Duration::from_secs(11));
        assert_eq!(sp.max_connection_age_grace, Duration::from_secs(13));
        assert_eq!((sp.ping_interval(), sp.ping_timeout()), (Duration::from_secs(30), Duration::from_secs(5)));
        let ep = g.keepalive.enforcement_policy.as_ref().unwrap();
        assert!(ep.permit_without_stream);
    }

    #[test]
    fn keepalive_zero_values_mean_grpc_go_defaults() {
        let sp = KeepaliveServerParameters::default();
        assert_eq!(sp.ping_interval(), Duration::from_secs(7200));
        assert_eq!(sp.ping_timeout(), Duration::from_secs(20));
        assert_eq!(GrpcConfig::default().read_buffer_size, 512 * 1024);
    }

    #[test]
    fn unix_transport_takes_a_socket_path() {
        let c = parse(
            "protocols:\n  grpc:\n    transport: unix\n    endpoint: /tmp/grpc.sock\n  http:\n    transport: unix\n    endpoint: /tmp/http.sock\n",
        )
        .unwrap();
        assert_eq!(c.grpc().unwrap().transport, Transport::Unix);
        let err = parse("protocols:\n  http:\n    transport: unix\n    endpoint: ''\n").unwrap_err();
        assert!(err.starts_with("protocols::http::endpoint: a Unix socket path"), "{err}");
        let err = parse("protocols:\n  http:\n    transport: udp\n").unwrap_err();
        assert!(err.contains("unknown variant `udp`"), "{err}");
    }

    #[test]
    fn empty_endpoints_are_accepted_as_the_collector_does() {
        let c = parse("protocols:\n  grpc:\n    endpoint: ''\n  http:\n    endpoint: ''\n").unwrap();
        assert_eq!(c.grpc().unwrap().endpoint, "");
    }

    #[test]
    fn url_paths_are_parsed_as_the_collector_does() {
        for key in ["traces_url_path", "metrics_url_path", "logs_url_path"] {
            let err = parse(&format!("protocols:\n  http:\n    {key}: \":invalid\"\n")).unwrap_err();
            assert!(err.starts_with(&format!("protocols::http::{key}: invalid HTTP URL path")), "{err}");
        }
        assert!(parse("protocols:\n  http:\n    traces_url_path: /a%zz\n").is_err());
        let c = parse("protocols:\n  http:\n    traces_url_path: /v1/a:b\n    logs_url_path: log/ingest\n").unwrap();
        assert_eq!(c.http().unwrap().paths()[2].1, "/log/ingest");
    }

    #[test]
    fn cors_keys_are_read_and_checked() {
        let c = parse(
            "protocols:\n  http:\n    cors:\n      allowed_origins: [https://*.test.com, https://test.com]\n\
             \x20     allowed_headers: [Example-Header]\n      max_age: 7200\n",
        )
        .unwrap();
        let cors = c.http().unwrap().cors.clone().unwrap();
        assert_eq!(cors.allowed_origins.len(), 2);
        assert_eq!(cors.max_age, 7200);
        let err = parse("protocols:\n  http:\n    cors:\n      allowed_origins: ['https://*.*.com']\n").unwrap_err();
        assert!(err.contains("more than one '*'"), "{err}");
    }
}
