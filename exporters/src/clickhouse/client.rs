//! ClickHouse's HTTP interface: statements and `RowBinary` inserts as `POST`s, and what its
//! errors mean.
//!
//! A request is `POST /?query=…&<settings>` with the data (or the statement) as the body,
//! compressed per `compression` and labelled with `Content-Encoding`, which ClickHouse
//! decompresses itself. Credentials go in `X-ClickHouse-User` / `X-ClickHouse-Key`.
//!
//! A failed statement answers with a non-2xx status, the error code in
//! `X-ClickHouse-Exception-Code` and the message in the body. [`is_retryable`] sorts them:
//! overload, memory, too many parts, timeouts, network and replication trouble may pass and are
//! retried; syntax, unknown tables or columns, type mismatches, bad data and access errors will
//! not, and fail the data permanently.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, USER_AGENT};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::fmt;
use std::time::Duration;
use weir_core::compression::Compression;
use weir_core::connect::Connector;
use weir_core::tls::TlsClientSettings;

/// At most this much of an error body is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// ClickHouse error codes worth retrying (`src/Common/ErrorCodes.cpp`).
const RETRYABLE_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    160, // TOO_SLOW
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    225, // NO_ZOOKEEPER
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY (replica lost its keeper session)
    252, // TOO_MANY_PARTS
    279, // ALL_CONNECTION_TRIES_FAILED
    319, // UNKNOWN_STATUS_OF_INSERT
    425, // SYSTEM_ERROR
    439, // CANNOT_SCHEDULE_TASK
    999, // KEEPER_EXCEPTION
];

/// Whether a failed request may succeed when sent again: by the ClickHouse error code when
/// the server sent one, else by the HTTP status (5xx and 429 yes, other 4xx no).
pub fn is_retryable(status: u16, code: Option<u32>) -> bool {
    match code {
        Some(code) => RETRYABLE_CODES.contains(&code),
        None => status >= 500 || status == 429,
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The HTTP status; `None` when no answer came (connection refused, reset, …).
    pub status: Option<u16>,
    /// `X-ClickHouse-Exception-Code`.
    pub code: Option<u32>,
    /// The server's message (first line), or the connection error.
    pub message: String,
    pub retryable: bool,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, self.code) {
            (Some(s), Some(c)) => write!(f, "HTTP {s}, ClickHouse error code {c}: {}", self.message),
            (Some(s), None) => write!(f, "HTTP {s}: {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

/// `%XX`-escapes everything but unreserved characters (RFC 3986).
pub fn percent_encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

/// A client of one ClickHouse server's HTTP interface (pooled keep-alive connections, TLS for
/// an `https://` endpoint through weir's one client connector).
pub struct ClickHouseClient {
    /// `http(s)://host:port/?<endpoint's query>&` — every URL starts so.
    url_prefix: String,
    headers: HeaderMap,
    compression: Compression,
    client: Client<Connector, Full<Bytes>>,
}

/// Where and how a [`ClickHouseClient`] connects.
pub struct ClientSettings<'a> {
    pub endpoint: &'a http::Uri,
    pub tls: Option<&'a TlsClientSettings>,
    pub username: &'a str,
    pub password: &'a str,
    pub compression: Compression,
    pub connect_timeout: Duration,
}

impl ClickHouseClient {
    pub fn new(settings: ClientSettings<'_>) -> Result<ClickHouseClient, String> {
        let ClientSettings { endpoint, tls, username, password, compression, connect_timeout } = settings;
        let authority = endpoint.authority().map(|a| a.as_str()).unwrap_or_default();
        let https = endpoint.scheme_str() == Some("https");
        let scheme = if https { "https" } else { "http" };
        let mut url_prefix = format!("{scheme}://{authority}/?");
        if let Some(q) = endpoint.query().filter(|q| !q.is_empty()) {
            url_prefix.push_str(q);
            url_prefix.push('&');
        }
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("weir/", env!("CARGO_PKG_VERSION"))));
        let header = |v: &str| HeaderValue::from_str(v).map_err(|_| "username and password must be printable text");
        if !username.is_empty() {
            headers.insert(HeaderName::from_static("x-clickhouse-user"), header(username)?);
        }
        if !password.is_empty() {
            headers.insert(HeaderName::from_static("x-clickhouse-key"), header(password)?);
        }
        if let Some(token) = compression.token() {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        let host = endpoint.host().unwrap_or_default();
        let mut connector =
            Connector::new(host, https, tls, &[weir_core::tls::ALPN_HTTP1]).map_err(|e| e.to_string())?;
        if !connect_timeout.is_zero() {
            connector = connector.with_connect_timeout(connect_timeout);
        }
        Ok(ClickHouseClient {
            url_prefix,
            headers,
            compression,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Runs one statement (DDL); the statement is the body.
    pub async fn execute(&self, sql: &str) -> Result<(), RequestError> {
        self.post(self.url_prefix.trim_end_matches(['&', '?']).to_string(), sql.as_bytes().to_vec()).await
    }

    /// Sends `rows` (RowBinary) for `insert` (`INSERT … FORMAT RowBinary`), with `settings`
    /// (`name=value&…`, already escaped) as URL parameters.
    pub async fn insert(&self, insert: &str, settings: &str, rows: Vec<u8>) -> Result<(), RequestError> {
        let mut url = self.url_prefix.clone();
        url.push_str(settings);
        url.push_str("&query=");
        percent_encode(&mut url, insert);
        self.post(url, rows).await
    }

    async fn post(&self, url: String, body: Vec<u8>) -> Result<(), RequestError> {
        let body = match self.compression {
            Compression::None => Bytes::from(body),
            c => c.compress(&body, None).map(Bytes::from).map_err(|e| RequestError {
                status: None,
                code: None,
                message: format!("cannot compress the request: {e}"),
                retryable: false,
            })?,
        };
        let mut request = http::Request::post(url).body(Full::new(body)).map_err(|e| RequestError {
            status: None,
            code: None,
            message: format!("cannot build the request: {e}"),
            retryable: false,
        })?;
        *request.headers_mut() = self.headers.clone();
        let response = self.client.request(request).await.map_err(|e| RequestError {
            status: None,
            code: None,
            message: weir_core::connect::error_chain(&e),
            retryable: true,
        })?;
        let status = response.status().as_u16();
        let code = response
            .headers()
            .get("x-clickhouse-exception-code")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let ok = response.status().is_success();
        let body = Limited::new(response.into_body(), if ok { MAX_ERROR_BODY * 16 } else { MAX_ERROR_BODY })
            .collect()
            .await
            .map(|b| b.to_bytes());
        if ok {
            // The server said 2xx: the data is in, whatever happened to the body.
            return Ok(());
        }
        let message = match body {
            Ok(b) => String::from_utf8_lossy(&b).lines().next().unwrap_or("").trim().to_string(),
            Err(e) => format!("(body unreadable: {e})"),
        };
        Err(RequestError { status: Some(status), code, message, retryable: is_retryable(status, code) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_memory_parts_and_network_errors_are_retried() {
        for code in [159, 202, 209, 210, 241, 252, 319] {
            assert!(is_retryable(500, Some(code)), "code {code}");
        }
    }

    #[test]
    fn schema_data_and_access_errors_are_permanent() {
        // SYNTAX_ERROR, UNKNOWN_TABLE, TYPE_MISMATCH, NO_SUCH_COLUMN_IN_TABLE,
        // CANNOT_PARSE_INPUT_ASSERTION_FAILED, UNKNOWN_DATABASE, AUTHENTICATION_FAILED, ACCESS_DENIED
        for code in [62, 60, 53, 16, 27, 81, 516, 497] {
            assert!(!is_retryable(500, Some(code)), "code {code}");
        }
    }

    #[test]
    fn without_a_code_the_http_status_decides() {
        assert!(is_retryable(503, None));
        assert!(is_retryable(502, None));
        assert!(is_retryable(429, None));
        assert!(!is_retryable(400, None));
        assert!(!is_retryable(404, None));
    }

    #[test]
    fn queries_are_percent_encoded() {
        let mut s = String::new();
        percent_encode(&mut s, "INSERT INTO `d`.`t` (`a.b`) FORMAT RowBinary");
        assert_eq!(s, "INSERT%20INTO%20%60d%60.%60t%60%20%28%60a.b%60%29%20FORMAT%20RowBinary");
    }

    #[test]
    fn errors_name_status_and_code() {
        let e = RequestError { status: Some(404), code: Some(60), message: "Unknown table".into(), retryable: false };
        assert_eq!(e.to_string(), "HTTP 404, ClickHouse error code 60: Unknown table");
    }
}
