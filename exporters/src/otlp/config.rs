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
    /// Request compression: `gzip` (default), `zstd` or `none`.
    pub compression: Compression,
    /// TLS. With a `host:port` endpoint, present without `insecure: true` turns TLS on;
    /// absent means plaintext (the Collector defaults to TLS: weir keeps plaintext for
    /// existing configs). An `https://` endpoint always uses TLS, `http://` never.
    pub tls: Option<TlsClientSettings>,
    /// `authenticator: bearertokenauth[/name]`: sends that extension's token with every
    /// request.
    pub auth: Option<AuthSettings>,
    /// gRPC metadata sent with every request, e.g. an API key. Names are lower-cased.
    pub headers: BTreeMap<String, String>,
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
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(OtlpConfig);

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

    /// `headers` as gRPC metadata.
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
        self.compression.check_supported("compression", &transport::OTLP_COMPRESSIONS)?;
        transport::validate_tls(self.use_tls(), &self.tls)?;
        self.metadata()?;
        Ok(())
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        self.auth.iter().map(|a| ("auth", a)).collect()
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
    fn unreadable_tls_files_are_named() {
        let err = parse("endpoint: collector:4317\ntls:\n  ca_file: /nonexistent/ca.pem\n").unwrap_err();
        assert!(err.starts_with("tls::ca_file: cannot read /nonexistent/ca.pem"), "{err}");
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
        assert!(err.contains("`gzip`, `zstd`, `none`"), "{err}");
        assert_eq!(parse("endpoint: c:4317\ncompression: zstd\n").unwrap().compression, Compression::Zstd);
    }

    #[test]
    fn binary_metadata_names_are_refused() {
        let err = parse("endpoint: c:4317\nheaders:\n  trace-bin: x\n").unwrap_err();
        assert!(err.contains("\"trace-bin\""), "{err}");
        let c = parse("endpoint: c:4317\nheaders:\n  X-Api-Key: secret\n").unwrap();
        assert_eq!(c.metadata().unwrap()[0].0.as_str(), "x-api-key");
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
