//! `otlp` receiver settings, with the Collector's keys and defaults.

use serde::{Deserialize, Deserializer};
use weir_core::auth::AuthSettings;
use weir_core::tls::TlsServerSettings;
use weir_core::ComponentConfig;

/// One mebibyte, the unit of `max_recv_msg_size_mib`.
const MIB: usize = 1 << 20;

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

/// `protocols::grpc`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `false` turns the server off while keeping its settings. Default true.
    pub enabled: bool,
    /// `host:port` to listen on. Default `localhost:4317` (loopback only: use `0.0.0.0:4317` to
    /// serve other hosts). `:4317` listens on every IPv4 interface.
    pub endpoint: String,
    /// Largest request message accepted, in MiB, after decompression; larger ones are refused
    /// with `RESOURCE_EXHAUSTED`. Default 4; 0 also means 4.
    pub max_recv_msg_size_mib: u64,
    /// Concurrent HTTP/2 streams (requests) allowed per client connection. Default 0: no limit.
    pub max_concurrent_streams: u32,
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
            max_recv_msg_size_mib: 4,
            max_concurrent_streams: 0,
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
    /// `host:port` to listen on. Default `localhost:4318` (loopback only: use `0.0.0.0:4318` to
    /// serve other hosts). `:4318` listens on every IPv4 interface.
    pub endpoint: String,
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

/// Checks that `endpoint` looks like `host:port`, naming `key` if not.
fn check_endpoint(key: &str, endpoint: &str) -> Result<(), String> {
    let port_ok = endpoint.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if !port_ok {
        return Err(format!("{key} must be host:port (e.g. localhost:4317), got {endpoint:?}"));
    }
    Ok(())
}

/// Checks `tls` by building it: reads the files, matches the key with the certificate.
fn check_tls(protocol: &str, tls: &Option<TlsServerSettings>) -> Result<(), String> {
    match tls {
        Some(t) => t.server_config(&[]).map(|_| ()).map_err(|e| format!("protocols::{protocol}::{e}")),
        None => Ok(()),
    }
}

impl ComponentConfig for OtlpReceiverConfig {
    fn validate(&self) -> Result<(), String> {
        if self.grpc().is_none() && self.http().is_none() {
            return Err("must specify at least one protocol when using the OTLP receiver".into());
        }
        if let Some(g) = self.grpc() {
            check_endpoint("protocols::grpc::endpoint", &g.endpoint)?;
            check_tls("grpc", &g.tls)?;
        }
        if let Some(h) = self.http() {
            check_endpoint("protocols::http::endpoint", &h.endpoint)?;
            check_tls("http", &h.tls)?;
            let paths = h.paths();
            for (i, (signal, path)) in paths.iter().enumerate() {
                if path.chars().any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#') {
                    return Err(format!("protocols::http::{signal}_url_path {path:?} is not a valid URL path"));
                }
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
        let err = parse("protocols:\n  grpc:\n    keepalive: {}\n").unwrap_err();
        assert!(err.contains("unknown field `keepalive`"), "{err}");
    }
}
