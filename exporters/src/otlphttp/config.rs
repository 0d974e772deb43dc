//! `otlphttp` exporter settings.

use crate::transport::{self, Compression, TlsClientSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_core::auth::AuthSettings;
use weir_core::exporterhelper::{QueueConfig, RetryConfig, DEFAULT_TIMEOUT};
use weir_core::{ComponentConfig, Signal};

/// `encoding`: how request bodies are serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Protobuf (`application/x-protobuf`): the received bytes, sent as they are. The default.
    #[default]
    Proto,
    /// OTLP/JSON (`application/json`): converted on the way out, which costs a decode.
    Json,
}

impl Encoding {
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Proto => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Settings of the `otlphttp` (OTLP/HTTP) exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpConfig {
    /// Base URL, `http://host:port[/prefix]` or `https://…` (TLS); each signal is sent to `<endpoint>/v1/traces`,
    /// `/v1/metrics` or `/v1/logs`. Required unless every signal in use has its own endpoint.
    pub endpoint: String,
    /// Full URL for traces, used as is instead of `<endpoint>/v1/traces`.
    pub traces_endpoint: String,
    /// Full URL for metrics, used as is instead of `<endpoint>/v1/metrics`.
    pub metrics_endpoint: String,
    /// Full URL for logs, used as is instead of `<endpoint>/v1/logs`.
    pub logs_endpoint: String,
    /// Full URL for profiles (the Collector's, for its `profiles` signal). Accepted and checked
    /// as a URL so Collector configs load; weir has no profiles pipelines yet, so nothing is
    /// ever sent to it.
    pub profiles_endpoint: String,
    /// Receive buffer of each connection, in bytes (its socket's `SO_RCVBUF`). Default 0: the
    /// system's.
    pub read_buffer_size: usize,
    /// Send buffer of each connection, in bytes (`SO_SNDBUF`). Default 0: the system's.
    pub write_buffer_size: usize,
    /// Body compression: `gzip` (default), `zstd`, `zlib`, `deflate` or `none` / `""`. The
    /// Collector's `snappy` and `lz4` are refused: weir has no encoder for those bodies.
    pub compression: Compression,
    /// Body encoding: `proto` (default) or `json`.
    pub encoding: Encoding,
    /// TLS settings of `https://` URLs (`http://` is always plaintext). Absent: the system's
    /// trusted roots, no client certificate.
    pub tls: Option<TlsClientSettings>,
    /// `authenticator: bearertokenauth[/name]`: sends that extension's token with every
    /// request.
    pub auth: Option<AuthSettings>,
    /// HTTP headers sent with every request, e.g. an API key. Any name loads, as in the
    /// Collector; one HTTP cannot carry (e.g. with spaces) is logged at start and makes every
    /// export fail, as Go's HTTP client does.
    pub headers: BTreeMap<String, String>,
    /// Timeout of each send attempt; 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed sends with exponential backoff (the plumbing's `retry_on_failure`).
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter (the plumbing's `sending_queue`).
    pub sending_queue: QueueConfig,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig {
            endpoint: String::new(),
            traces_endpoint: String::new(),
            metrics_endpoint: String::new(),
            logs_endpoint: String::new(),
            profiles_endpoint: String::new(),
            read_buffer_size: 0,
            write_buffer_size: 0,
            compression: Compression::Gzip,
            encoding: Encoding::Proto,
            tls: None,
            auth: None,
            headers: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(OtlpHttpConfig);

impl OtlpHttpConfig {
    /// Whether any signal's URL is `https://` (then `tls` is read).
    pub fn uses_https(&self) -> Result<bool, String> {
        let mut any = false;
        for signal in Signal::ALL {
            any |= self.signal_url(signal)?.is_some_and(|u| u.scheme_str() == Some("https"));
        }
        Ok(any)
    }

    /// The URL `signal` is sent to; `None` when neither `endpoint` nor the signal's own key
    /// is set.
    pub fn signal_url(&self, signal: Signal) -> Result<Option<http::Uri>, String> {
        let (key, own) = match signal {
            Signal::Traces => ("traces_endpoint", &self.traces_endpoint),
            Signal::Metrics => ("metrics_endpoint", &self.metrics_endpoint),
            Signal::Logs => ("logs_endpoint", &self.logs_endpoint),
        };
        if !own.trim().is_empty() {
            return transport::parse_http_url(key, own.trim()).map(Some);
        }
        let base = self.endpoint.trim();
        if base.is_empty() {
            return Ok(None);
        }
        transport::parse_http_url("endpoint", base)?;
        let url = format!("{}/v1/{}", base.trim_end_matches('/'), signal.as_str());
        transport::parse_http_url("endpoint", &url).map(Some)
    }
}

impl ComponentConfig for OtlpHttpConfig {
    fn validate(&self) -> Result<(), String> {
        let mut any = false;
        for signal in Signal::ALL {
            any |= self.signal_url(signal)?.is_some();
        }
        if !any {
            return Err("endpoint must be specified (or traces_endpoint, metrics_endpoint, logs_endpoint), \
                        e.g. endpoint: http://localhost:4318"
                .into());
        }
        if matches!(self.compression, Compression::Snappy | Compression::Lz4) {
            return Err(format!(
                "compression: {} is not supported by weir's HTTP client (no encoder for it); use gzip, zstd, zlib or deflate",
                self.compression.as_str()
            ));
        }
        self.compression.check_supported("compression", &transport::HTTP_COMPRESSIONS)?;
        if !self.profiles_endpoint.trim().is_empty() {
            transport::parse_http_url("profiles_endpoint", self.profiles_endpoint.trim())?;
        }
        transport::validate_tls(self.uses_https()?, &self.tls)?;
        // Any header name loads, as in the Collector; one HTTP cannot carry fails the exports.
        if self.headers.keys().any(String::is_empty) {
            return Err("headers: a header name must not be empty".into());
        }
        Ok(())
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        self.auth.iter().map(|a| ("auth", a)).collect()
    }

    fn files(&self) -> Vec<(String, std::path::PathBuf)> {
        transport::tls_files(self.uses_https().unwrap_or(true), &self.tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OtlpHttpConfig, String> {
        weir_core::testing::parse_exporter_config(text)
    }

    fn url(c: &OtlpHttpConfig, s: Signal) -> String {
        c.signal_url(s).unwrap().map(|u| u.to_string()).unwrap_or_default()
    }

    #[test]
    fn signal_paths_are_appended_to_the_endpoint() {
        let c = parse("endpoint: http://collector:4318/\n").unwrap();
        assert_eq!(url(&c, Signal::Traces), "http://collector:4318/v1/traces");
        assert_eq!(url(&c, Signal::Metrics), "http://collector:4318/v1/metrics");
        let c = parse("endpoint: http://gw:80/otlp\n").unwrap();
        assert_eq!(url(&c, Signal::Logs), "http://gw:80/otlp/v1/logs");
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.encoding, Encoding::Proto);
    }

    #[test]
    fn signal_endpoints_override_the_base() {
        let c = parse("endpoint: http://a:4318\ntraces_endpoint: http://b:9000/ingest\n").unwrap();
        assert_eq!(url(&c, Signal::Traces), "http://b:9000/ingest");
        assert_eq!(url(&c, Signal::Logs), "http://a:4318/v1/logs");
        let c = parse("logs_endpoint: http://b:9000/logs\n").unwrap();
        assert_eq!(c.signal_url(Signal::Traces).unwrap(), None);
    }

    #[test]
    fn an_endpoint_is_required() {
        assert!(parse("encoding: json\n").unwrap_err().starts_with("endpoint must be specified"));
    }

    #[test]
    fn tls_files_are_read_at_start_for_https_urls_only() {
        let tls = "tls:\n  ca_file: /nonexistent/ca.pem\n";
        assert!(parse(&format!("endpoint: http://a:4318\n{tls}")).unwrap().files().is_empty());
        let c = parse(&format!("endpoint: http://a:4318\nmetrics_endpoint: https://b/v1/metrics\n{tls}")).unwrap();
        assert_eq!(c.files(), [("tls::ca_file".to_string(), "/nonexistent/ca.pem".into())]);
    }

    #[test]
    fn an_endpoint_without_scheme_is_refused() {
        assert!(parse("endpoint: collector:4318\n").unwrap_err().contains("must start with http:// or https://"));
    }

    #[test]
    fn collector_client_keys_are_read() {
        let c = parse(
            "endpoint: http://a:4318\nprofiles_endpoint: https://b:4318/v1development/profiles\n\
             read_buffer_size: 123\nwrite_buffer_size: 345\ncompression: zlib\n",
        )
        .unwrap();
        assert_eq!((c.read_buffer_size, c.write_buffer_size), (123, 345));
        assert_eq!(c.compression, Compression::Zlib);
        assert!(parse("endpoint: http://a:4318\nprofiles_endpoint: b\n").unwrap_err().starts_with("profiles_endpoint"));
        let err = parse("endpoint: http://a:4318\ncompression: snappy\n").unwrap_err();
        assert!(err.contains("no encoder"), "{err}");
        assert_eq!(parse("endpoint: http://a:4318\ncompression: deflate\n").unwrap().compression, Compression::Deflate);
    }

    #[test]
    fn encoding_choices_are_listed() {
        let err = parse("endpoint: http://a:4318\nencoding: xml\n").unwrap_err();
        assert!(err.contains("expected `proto` or `json`"), "{err}");
    }

    #[test]
    fn bad_headers_and_plumbing_keys_are_named() {
        assert!(parse("endpoint: http://a:4318\nheaders:\n  'a b': c\n").is_ok(), "loads; fails when sending");
        let err = parse("endpoint: http://a:4318\nretry_on_failure:\n  multiplier: 0.5\n").unwrap_err();
        assert!(err.contains("retry_on_failure::multiplier"), "{err}");
    }
}
