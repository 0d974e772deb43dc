//! What the two OTLP exporters share: the `compression`, `tls`, `auth` and `headers` keys,
//! endpoint checks, and reading a server's partial-success answer.

use weir_core::pdata::views::ExportResponseView;
use weir_core::pdata::WireError;
use weir_core::Signal;

pub use weir_core::compression::Compression;

/// What the `otlphttp` exporter can send: the Collector's body encodings but snappy and lz4.
pub const HTTP_COMPRESSIONS: [Compression; 5] =
    [Compression::Gzip, Compression::Zstd, Compression::Zlib, Compression::Deflate, Compression::None];

pub use weir_core::tls::TlsClientSettings;

/// Checks `tls` when the exporter will use TLS, without reading its files (they are read
/// when the exporter is built, at start).
pub fn validate_tls(use_tls: bool, tls: &Option<TlsClientSettings>) -> Result<(), String> {
    match tls {
        Some(t) if use_tls => t.check().map_err(|e| e.to_string()),
        _ => Ok(()),
    }
}

/// The files `tls` makes the exporter read at start (`tls::ca_file`, …), when it uses TLS.
pub fn tls_files(use_tls: bool, tls: &Option<TlsClientSettings>) -> Vec<(String, std::path::PathBuf)> {
    match tls {
        Some(t) if use_tls => t.files().into_iter().map(|(k, f)| (format!("tls::{k}"), f)).collect(),
        _ => Vec::new(),
    }
}

/// The `auth` headers: the credentials of the client authenticator `auth` names.
pub fn auth_headers(
    ctx: &weir_core::BuildContext,
    auth: &Option<weir_core::auth::AuthSettings>,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, weir_core::BuildError> {
    match auth {
        Some(a) => Ok(ctx.client_authenticator(&a.authenticator)?.headers()),
        None => Ok(Vec::new()),
    }
}

/// Checks that `url` (the value of `key`) is an absolute `http://` or `https://` URL with a
/// host.
pub fn parse_http_url(key: &str, url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{key} {url:?} is not a valid URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("{key} {url:?} must start with http:// or https://"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{key} {url:?} has no host"));
    }
    Ok(uri)
}

/// A server's `partial_success`: it accepted the request but dropped some items, or warns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialSuccess {
    /// `rejected_spans` / `rejected_data_points` / `rejected_log_records`.
    pub rejected: i64,
    pub error_message: String,
}

impl PartialSuccess {
    /// Reads `partial_success` from an encoded `Export*ServiceResponse` (through
    /// [`ExportResponseView`]). `None` when it is absent or empty (full success).
    pub fn from_protobuf(response: &[u8]) -> Result<Option<PartialSuccess>, WireError> {
        let Some(ps) = ExportResponseView::new(response).partial_success()? else { return Ok(None) };
        let error_message = String::from_utf8_lossy(ps.error_message_bytes()?).into_owned();
        Ok(PartialSuccess { rejected: ps.rejected()?, error_message }.non_empty())
    }

    /// Reads `partialSuccess` from an OTLP/JSON response; `None` when absent, empty, or not
    /// JSON at all.
    pub fn from_json(signal: Signal, response: &[u8]) -> Option<PartialSuccess> {
        let v: serde_json::Value = serde_json::from_slice(response).ok()?;
        let ps = v.get("partialSuccess")?;
        let key = match signal {
            Signal::Traces => "rejectedSpans",
            Signal::Metrics => "rejectedDataPoints",
            Signal::Logs => "rejectedLogRecords",
        };
        // 64-bit integers are decimal strings in OTLP/JSON; numbers are accepted too.
        let rejected = match ps.get(key) {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
            Some(n) => n.as_i64().unwrap_or(0),
            None => 0,
        };
        let error_message = ps.get("errorMessage").and_then(|m| m.as_str()).unwrap_or_default().to_string();
        PartialSuccess { rejected, error_message }.non_empty()
    }

    fn non_empty(self) -> Option<PartialSuccess> {
        (self.rejected != 0 || !self.error_message.is_empty()).then_some(self)
    }

    /// Logs the answer at warn. A partial success is not retried: the server has decided
    /// about every item, and sending them again would duplicate the accepted ones.
    pub fn log(&self, exporter: &str, signal: Signal) {
        tracing::warn!(
            message = "Partial success response.",
            exporter,
            data_type = %signal,
            error = %self.error_message,
            dropped_items = self.rejected,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
    use prost::Message;

    #[test]
    fn partial_success_is_read_from_protobuf() {
        let resp = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess { rejected_spans: 3, error_message: "too old".into() }),
        };
        let ps = PartialSuccess::from_protobuf(&resp.encode_to_vec()).unwrap().unwrap();
        assert_eq!(ps, PartialSuccess { rejected: 3, error_message: "too old".into() });
    }

    #[test]
    fn empty_response_and_empty_partial_success_are_full_success() {
        assert_eq!(PartialSuccess::from_protobuf(&[]).unwrap(), None);
        let resp = ExportTraceServiceResponse { partial_success: Some(ExportTracePartialSuccess::default()) };
        assert_eq!(PartialSuccess::from_protobuf(&resp.encode_to_vec()).unwrap(), None);
    }

    #[test]
    fn partial_success_is_read_from_json_with_string_or_number_counts() {
        let body = br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad"}}"#;
        let ps = PartialSuccess::from_json(Signal::Logs, body).unwrap();
        assert_eq!(ps, PartialSuccess { rejected: 2, error_message: "bad".into() });
        let body = br#"{"partialSuccess":{"rejectedDataPoints":5}}"#;
        assert_eq!(PartialSuccess::from_json(Signal::Metrics, body).unwrap().rejected, 5);
        assert_eq!(PartialSuccess::from_json(Signal::Traces, b"{}"), None);
        assert_eq!(PartialSuccess::from_json(Signal::Traces, b"not json"), None);
    }

    #[test]
    fn other_schemes_are_refused_with_the_key() {
        assert!(parse_http_url("traces_endpoint", "ftp://x").unwrap_err().starts_with("traces_endpoint"));
        assert!(parse_http_url("endpoint", "http://").is_err());
        assert!(parse_http_url("endpoint", "http://localhost:4318").is_ok());
        assert!(parse_http_url("endpoint", "https://localhost:4318").is_ok());
    }

    #[test]
    fn tls_files_are_not_read_when_checked_and_listed_only_when_tls_is_used() {
        let tls = Some(TlsClientSettings { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() });
        assert!(validate_tls(false, &tls).is_ok());
        assert!(validate_tls(true, &tls).is_ok(), "files are read at start, not when the config is checked");
        assert_eq!(tls_files(true, &tls), [("tls::ca_file".to_string(), "/nonexistent/ca.pem".into())]);
        assert!(tls_files(false, &tls).is_empty());
        let unpaired = Some(TlsClientSettings { cert_file: Some("c.pem".into()), ..Default::default() });
        assert!(validate_tls(true, &unpaired).unwrap_err().starts_with("tls::key_file: must be set"));
    }
}
