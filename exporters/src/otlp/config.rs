//! `otlp` exporter settings.

use crate::transport::{self, Compression, TlsClientSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use weir_core::auth::AuthSettings;
use weir_core::exporterhelper::{QueueConfig, RetryConfig, DEFAULT_TIMEOUT};
use weir_core::ComponentConfig;

/// Settings of the `otlp` (OTLP/gRPC) exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Where to send: `host:port`, `http://host:port` (plaintext) or `https://host:port`
    /// (TLS). Required.
    pub endpoint: String,
    /// Request compression: `gzip` (default), `zstd`, `deflate` (weir's addition; tonic sends
    /// it) or `none` / `""`. `snappy`, which the Collector also sends, is refused: tonic has no
    /// snappy codec.
    pub compression: Compression,
    /// TLS. With a `host:port` endpoint, present without `insecure: true` turns TLS on;
    /// absent means plaintext (the Collector defaults to TLS: weir keeps plaintext for
    /// existing configs). An `https://` endpoint always uses TLS, `http://` never.
    pub tls: Option<TlsClientSettings>,
    /// `authenticator: bearertokenauth[/name]`: sends that extension's token with every
    /// request.
    pub auth: Option<AuthSettings>,
    /// gRPC metadata sent with every request, e.g. an API key. Names are lower-cased. Any
    /// name loads, as in the Collector; one gRPC cannot carry (outside `[0-9a-z-_.]`, or a
    /// binary `-bin` name) makes every export fail, as grpc-go does, and is logged at start.
    pub headers: BTreeMap<String, String>,
    /// HTTP/2 keepalive pings of the connection. Default `time: 10s`, `timeout: 10s`, as the
    /// Collector's.
    pub keepalive: Option<KeepaliveClientConfig>,
    /// `round_robin` (the Collector's default) or `pick_first`. weir's channel keeps one
    /// connection to the endpoint (pick_first's behaviour) under either name: an endpoint
    /// whose name resolves to several servers is not balanced per request by weir.
    pub balancer_name: String,
    /// Receive buffer of the connection, in bytes (its socket's `SO_RCVBUF`). Default 0: the
    /// system's.
    pub read_buffer_size: usize,
    /// Send buffer of the connection, in bytes (`SO_SNDBUF`). Default 0: the system's.
    pub write_buffer_size: usize,
    /// Timeout of each send attempt; 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed sends with exponential backoff (the plumbing's `retry_on_failure`).
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter (the plumbing's `sending_queue`).
    pub sending_queue: QueueConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: String::new(),
            compression: Compression::Gzip,
            tls: None,
            auth: None,
            headers: BTreeMap::new(),
            keepalive: Some(KeepaliveClientConfig::default()),
            balancer_name: DEFAULT_BALANCER_NAME.to_string(),
            read_buffer_size: 0,
            write_buffer_size: 0,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(OtlpConfig);

/// The Collector's default `balancer_name`.
pub const DEFAULT_BALANCER_NAME: &str = "round_robin";

/// `keepalive`: the client's HTTP/2 pings (grpc-go's `keepalive.ClientParameters`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveClientConfig {
    /// Ping the server after this long without activity. Default 10s.
    #[serde(with = "weir_core::config::duration")]
    pub time: Duration,
    /// Close the connection when a ping is not answered within this. Default 10s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Ping also while no request is in flight. Default false.
    pub permit_without_stream: bool,
}

impl Default for KeepaliveClientConfig {
    fn default() -> Self {
        KeepaliveClientConfig {
            time: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            permit_without_stream: false,
        }
    }
}

/// What the `otlp` exporter can send: the Collector's gRPC choices tonic has, and deflate.
pub const GRPC_COMPRESSIONS: [Compression; 4] =
    [Compression::Gzip, Compression::Zstd, Compression::Deflate, Compression::None];

impl OtlpConfig {
    /// The endpoint as the URI the channel connects to (`host:port` gets `http://`).
    pub fn endpoint_uri(&self) -> Result<http::Uri, String> {
        let e = self.endpoint.trim();
        if e.is_empty() {
            return Err("endpoint must be specified, e.g. endpoint: localhost:4317".into());
        }
        let url = if e.contains("://") { e.to_string() } else { format!("http://{e}") };
        let uri = transport::parse_http_url("endpoint", &url)?;
        if uri.port().is_none() && !e.contains("://") {
            return Err(format!("endpoint {e:?} needs a port, e.g. {e}:4317"));
        }
        if !matches!(uri.path(), "" | "/") {
            return Err(format!("endpoint {e:?} must not have a path: gRPC requests go to the service's own path"));
        }
        Ok(uri)
    }

    /// Whether connections use TLS (see `tls`).
    pub fn use_tls(&self) -> bool {
        let e = self.endpoint.trim();
        if e.starts_with("https://") {
            true
        } else if e.starts_with("http://") {
            false
        } else {
            self.tls.as_ref().is_some_and(|t| !t.insecure)
        }
    }

    /// `headers` as gRPC metadata; an error names the first header gRPC cannot carry.
    pub fn metadata(&self) -> Result<Vec<(AsciiMetadataKey, AsciiMetadataValue)>, String> {
        self.headers
            .iter()
            .map(|(k, v)| {
                let key = AsciiMetadataKey::from_bytes(k.as_bytes()).map_err(|_| {
                    format!(
                        "headers: {k:?} is not a valid gRPC metadata name (binary \"-bin\" names are not supported)"
                    )
                })?;
                let value = AsciiMetadataValue::try_from(v.as_str())
                    .map_err(|_| format!("headers::{k}: the value has characters gRPC metadata cannot hold"))?;
                Ok((key, value))
            })
            .collect()
    }
}

impl ComponentConfig for OtlpConfig {
    fn validate(&self) -> Result<(), String> {
        self.endpoint_uri()?;
        if self.compression == Compression::Snappy {
            return Err("compression: snappy is not supported by weir's gRPC client (tonic has no snappy codec); use gzip or zstd".into());
        }
        self.compression.check_supported("compression", &GRPC_COMPRESSIONS)?;
        transport::validate_tls(self.use_tls(), &self.tls)?;
        if !matches!(self.balancer_name.as_str(), "" | "round_robin" | "pick_first") {
            return Err(format!(
                "invalid balancer_name: {} (weir knows round_robin and pick_first)",
                self.balancer_name
            ));
        }
        for k in self.headers.keys() {
            if k.is_empty() {
                return Err("headers: a header name must not be empty".into());
            }
        }
        Ok(())
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        self.auth.iter().map(|a| ("auth", a)).collect()
    }

    fn files(&self) -> Vec<(String, std::path::PathBuf)> {
        transport::tls_files(self.use_tls(), &self.tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::exporterhelper::ExporterConfig;

    fn parse(text: &str) -> Result<OtlpConfig, String> {
        weir_core::testing::parse_exporter_config(text)
    }

    #[test]
    fn defaults_follow_the_collector() {
        let c = parse("endpoint: localhost:4317\n").unwrap();
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.exporter_settings(), weir_core::exporterhelper::ExporterSettings::default());
        assert_eq!(c.endpoint_uri().unwrap().to_string(), "http://localhost:4317/");
    }

    #[test]
    fn endpoint_is_required() {
        assert!(parse("compression: none\n").unwrap_err().starts_with("endpoint must be specified"));
    }

    #[test]
    fn the_scheme_or_tls_decides_whether_tls_is_used() {
        let uses = |yaml: &str| parse(yaml).unwrap().use_tls();
        assert!(uses("endpoint: https://collector:4317\ntls: { insecure_skip_verify: true }\n"));
        assert!(uses("endpoint: collector:4317\ntls: { insecure_skip_verify: true }\n"));
        assert!(!uses("endpoint: collector:4317\ntls: { insecure: true }\n"));
        assert!(!uses("endpoint: http://collector:4317\ntls: { insecure_skip_verify: true }\n"));
        assert!(!uses("endpoint: collector:4317\n"));
    }

    #[test]
    fn tls_files_are_read_at_start_not_when_loading() {
        let c = parse("endpoint: collector:4317\ntls:\n  ca_file: /nonexistent/ca.pem\n").unwrap();
        assert_eq!(c.files(), [("tls::ca_file".to_string(), "/nonexistent/ca.pem".into())]);
        let err =
            parse("endpoint: https://c:4317\ntls:\n  cert_file: /nonexistent/c.pem\n  insecure_skip_verify: true\n")
                .unwrap_err();
        assert!(err.starts_with("tls::key_file: must be set when cert_file is"), "{err}");
    }

    #[test]
    fn endpoint_without_port_or_with_path_is_refused() {
        assert!(parse("endpoint: collector\n").unwrap_err().contains("needs a port"));
        assert!(parse("endpoint: http://collector:4317/v1/traces\n").unwrap_err().contains("must not have a path"));
    }

    #[test]
    fn compression_choices_are_listed() {
        let err = parse("endpoint: c:4317\ncompression: snappy\n").unwrap_err();
        assert!(err.contains("tonic has no snappy codec"), "{err}");
        let err = parse("endpoint: c:4317\ncompression: lz4\n").unwrap_err();
        assert!(err.contains("`gzip`, `zstd`, `deflate`, `none`"), "{err}");
        assert_eq!(parse("endpoint: c:4317\ncompression: zstd\n").unwrap().compression, Compression::Zstd);
        assert_eq!(parse("endpoint: c:4317\ncompression: deflate\n").unwrap().compression, Compression::Deflate);
        assert_eq!(parse("endpoint: c:4317\ncompression: ''\n").unwrap().compression, Compression::None);
    }

    #[test]
    fn any_header_name_loads_but_grpc_names_are_checked_for_sending() {
        let c = parse("endpoint: c:4317\nheaders:\n  \"can you have a . here?\": x\n").unwrap();
        assert!(c.metadata().unwrap_err().contains("\"can you have a . here?\""));
        let c = parse("endpoint: c:4317\nheaders:\n  X-Api-Key: secret\n").unwrap();
        assert_eq!(c.metadata().unwrap()[0].0.as_str(), "x-api-key");
    }

    #[test]
    fn keepalive_balancer_and_buffers_follow_the_collector() {
        let c = parse("endpoint: c:4317\n").unwrap();
        assert_eq!(c.keepalive, Some(KeepaliveClientConfig::default()));
        assert_eq!(c.balancer_name, "round_robin");
        let c = parse(
            "endpoint: c:4317\nkeepalive:\n  time: 20s\n  timeout: 30s\n  permit_without_stream: true\n\
             balancer_name: pick_first\nread_buffer_size: 1024\nwrite_buffer_size: 2048\n",
        )
        .unwrap();
        let k = c.keepalive.clone().unwrap();
        assert_eq!(
            (k.time, k.timeout, k.permit_without_stream),
            (Duration::from_secs(20), Duration::from_secs(30), true)
        );
        assert_eq!((c.read_buffer_size, c.write_buffer_size), (1024, 2048));
        assert!(parse("endpoint: c:4317\nbalancer_name: magic\n").unwrap_err().starts_with("invalid balancer_name"));
    }

    #[test]
    fn plumbing_keys_are_validated() {
        let err = parse("endpoint: c:4317\nsending_queue:\n  num_consumers: 0\n").unwrap_err();
        assert!(err.contains("sending_queue::num_consumers"), "{err}");
        let c = parse("endpoint: c:4317\ntimeout: 2s\nretry_on_failure:\n  enabled: false\n").unwrap();
        assert_eq!(c.exporter_settings().timeout, Duration::from_secs(2));
        assert!(!c.exporter_settings().retry.enabled);
    }
}
