//! `clickhouse` exporter settings: the Collector's keys and defaults.

use serde::Deserialize;
use std::time::Duration;
use weir_core::compression::Compression;
use weir_core::exporterhelper::{QueueConfig, RetryConfig, DEFAULT_TIMEOUT};
use weir_core::tls::TlsClientSettings;
use weir_core::ComponentConfig;

/// What ClickHouse's HTTP interface decompresses that weir sends: zstd (level 1: fast, and a
/// better ratio than lz4; the default), gzip, deflate, or nothing.
pub const COMPRESSIONS: [Compression; 4] =
    [Compression::Zstd, Compression::Gzip, Compression::Deflate, Compression::None];

/// `table_engine`: rendered as `ENGINE = name(params)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableEngine {
    /// Default `MergeTree`; e.g. `ReplicatedMergeTree` on a cluster.
    pub name: String,
    /// The engine's parameters, as written between the parentheses. Default empty.
    pub params: String,
}

impl Default for TableEngine {
    fn default() -> Self {
        TableEngine { name: "MergeTree".into(), params: String::new() }
    }
}

impl TableEngine {
    /// `name(params)`.
    pub fn render(&self) -> String {
        format!("{}({})", self.name, self.params)
    }
}

/// One entry of `metrics_tables`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTable {
    /// The table's name.
    pub name: String,
}

fn table(name: &str) -> MetricTable {
    MetricTable { name: name.into() }
}

/// `metrics_tables`: the table of each metric type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsTables {
    /// Default `otel_metrics_gauge`.
    pub gauge: MetricTable,
    /// Default `otel_metrics_sum`.
    pub sum: MetricTable,
    /// Default `otel_metrics_summary`.
    pub summary: MetricTable,
    /// Default `otel_metrics_histogram`.
    pub histogram: MetricTable,
    /// Default `otel_metrics_exponential_histogram` (the Collector's code; its README says
    /// `otel_metrics_exp_histogram`, wrongly).
    pub exponential_histogram: MetricTable,
}

impl Default for MetricsTables {
    fn default() -> Self {
        MetricsTables {
            gauge: table("otel_metrics_gauge"),
            sum: table("otel_metrics_sum"),
            summary: table("otel_metrics_summary"),
            histogram: table("otel_metrics_histogram"),
            exponential_histogram: table("otel_metrics_exponential_histogram"),
        }
    }
}

/// Settings of the `clickhouse` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// ClickHouse's HTTP interface, `http://host:8123` or `https://host:8443`. Required. Query
    /// parameters in the URL (`?max_insert_threads=2`) are sent with every request as settings.
    /// The Collector's native-protocol endpoints (`tcp://host:9000`, `clickhouse://…`, with
    /// clickhouse-go's `dial_timeout`, `secure`, `skip_verify`, … options) are mapped onto the
    /// same server's HTTP interface: see [`native_to_http`].
    pub endpoint: String,
    /// TLS settings for an `https://` endpoint (the Collector's `tls` keys); the system's roots
    /// verify the server when no `ca_file` is given.
    pub tls: Option<TlsClientSettings>,
    /// The user (`X-ClickHouse-User`); empty uses the server's default user.
    pub username: String,
    /// The password (`X-ClickHouse-Key`).
    pub password: String,
    /// The database of every table. Default `default`.
    pub database: String,
    /// Create the database, the tables, the trace-id lookup table and its materialized view
    /// (`CREATE … IF NOT EXISTS`) before the first insert. Default true.
    pub create_schema: bool,
    /// Default `otel_traces` (also `<name>_trace_id_ts` and `<name>_trace_id_ts_mv`).
    pub traces_table_name: String,
    /// Default `otel_logs`.
    pub logs_table_name: String,
    /// The metric tables.
    pub metrics_tables: MetricsTables,
    /// Rows are deleted this long after their time; 0 keeps them. Default 0.
    #[serde(with = "weir_core::config::duration")]
    pub ttl: Duration,
    /// The engine of created tables. Default `MergeTree()`.
    pub table_engine: TableEngine,
    /// Adds `ON CLUSTER <name>` to every `CREATE`. Default empty.
    pub cluster_name: String,
    /// Insert with `async_insert=1` (and `wait_for_async_insert=1`, so an insert is
    /// acknowledged only once written). Default true.
    pub async_insert: bool,
    /// `zstd` (default), `gzip`, `deflate` or `none`. The Collector's key `compress` is
    /// accepted too.
    #[serde(alias = "compress")]
    pub compression: Compression,
    /// Timeout of each insert; 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed inserts (the plumbing's `retry_on_failure`).
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter (the plumbing's `sending_queue`).
    pub sending_queue: QueueConfig,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            endpoint: String::new(),
            tls: None,
            username: String::new(),
            password: String::new(),
            database: "default".into(),
            create_schema: true,
            traces_table_name: "otel_traces".into(),
            logs_table_name: "otel_logs".into(),
            metrics_tables: MetricsTables::default(),
            ttl: Duration::ZERO,
            table_engine: TableEngine::default(),
            cluster_name: String::new(),
            async_insert: true,
            compression: Compression::Zstd,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

/// Checks a database, table or cluster name: it is written between backquotes.
fn check_name(key: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{key} must not be empty"));
    }
    if name.contains('`') || name.contains('\\') || name.chars().any(char::is_control) {
        return Err(format!("{key} {name:?} must not contain backquotes, backslashes or control characters"));
    }
    Ok(())
}

weir_core::exporter_config!(ClickHouseConfig);

/// The endpoint weir sends to: ClickHouse's HTTP interface, with what a native-protocol
/// endpoint's options ask of the connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `http://` or `https://`, its query the ClickHouse settings sent with every request.
    pub uri: http::Uri,
    /// `dial_timeout` of a native-protocol endpoint.
    pub dial_timeout: Option<Duration>,
    /// `skip_verify=true` of a native-protocol endpoint: accept any server certificate.
    pub skip_verify: bool,
}

/// The native protocol's well-known ports and the HTTP interface's counterparts (plaintext,
/// TLS).
const NATIVE_PORTS: [(u16, u16); 2] = [(9000, 8123), (9440, 8443)];

/// The query options of clickhouse-go's DSN that configure the driver, not the server. Those
/// not listed here are ClickHouse settings and go to the HTTP interface unchanged.
const DRIVER_OPTIONS: [&str; 14] = [
    "dial_timeout",
    "secure",
    "skip_verify",
    "compress",
    "compress_level",
    "read_timeout",
    "debug",
    "connection_open_strategy",
    "block_buffer_size",
    "max_compression_buffer",
    "max_open_conns",
    "max_idle_conns",
    "conn_max_lifetime",
    "client_info_product",
];

fn is_true(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("endpoint option {key}={v:?} must be true or false")),
    }
}

/// Maps a `tcp://` or `clickhouse://` endpoint (the Collector's default: clickhouse-go's
/// native protocol) onto the HTTP interface of the same server: port 9000 → 8123, 9440 → 8443,
/// no port → 8123 (8443 with `secure=true`); `secure=true` → `https`; `dial_timeout` → the
/// connect timeout; `skip_verify=true` → `tls::insecure_skip_verify`. The driver's other
/// options (`compress`, `read_timeout`, `debug`, pool sizes, …) tune clickhouse-go's native
/// connections, which weir does not open: body compression is the `compression` key and the
/// insert timeout `timeout`. Every other query parameter is a ClickHouse setting, sent as is.
fn native_to_http(e: &str, rest: &str) -> Result<Endpoint, String> {
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    if authority.contains('@') {
        return Err(format!("endpoint {e:?}: write the credentials in the username and password keys"));
    }
    if !path.is_empty() {
        return Err(format!("endpoint {e:?}: write the database in the database key, not in the endpoint's path"));
    }
    let (mut secure, mut skip_verify, mut dial_timeout) = (false, false, None);
    let mut settings = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "secure" => secure = is_true(k, v)?,
            "skip_verify" => skip_verify = is_true(k, v)?,
            "dial_timeout" => {
                dial_timeout = Some(
                    weir_core::config::duration::parse(v)
                        .map_err(|err| format!("endpoint option dial_timeout={v:?}: {err}"))?,
                )
            }
            _ if DRIVER_OPTIONS.contains(&k) => {}
            _ => settings.push(pair),
        }
    }
    let probe: http::Uri =
        format!("http://{authority}").parse().map_err(|err| format!("endpoint {e:?} is not a valid URL: {err}"))?;
    let host = probe.host().filter(|h| !h.is_empty()).ok_or_else(|| format!("endpoint {e:?} has no host"))?;
    let port = match probe.port_u16() {
        None => {
            if secure {
                8443
            } else {
                8123
            }
        }
        Some(p) => NATIVE_PORTS.iter().find(|(native, _)| *native == p).map(|(_, h)| *h).ok_or_else(|| {
            format!(
                "endpoint {e:?}: weir speaks ClickHouse's HTTP interface and maps only the native protocol's \
                 standard ports (9000 → 8123, 9440 → 8443); port {p} has no known HTTP counterpart: \
                 write the server's HTTP endpoint, e.g. http://{host}:8123"
            )
        })?,
    };
    let secure = secure || port == 8443;
    let scheme = if secure { "https" } else { "http" };
    let mut url = format!("{scheme}://{host}:{port}/");
    if !settings.is_empty() {
        url.push('?');
        url.push_str(&settings.join("&"));
    }
    let uri = url.parse().map_err(|err| format!("endpoint {e:?} is not a valid URL: {err}"))?;
    Ok(Endpoint { uri, dial_timeout, skip_verify })
}

impl ClickHouseConfig {
    /// The endpoint, checked, and mapped onto the HTTP interface when it names the native
    /// protocol (see [`native_to_http`]).
    pub fn resolve_endpoint(&self) -> Result<Endpoint, String> {
        let e = self.endpoint.trim();
        if e.is_empty() {
            return Err("endpoint must be specified: ClickHouse's HTTP interface, e.g. http://localhost:8123".into());
        }
        if let Some(rest) = ["tcp://", "clickhouse://"].iter().find_map(|s| e.strip_prefix(*s)) {
            return native_to_http(e, rest);
        }
        let uri: http::Uri = e.parse().map_err(|err| format!("endpoint {e:?} is not a valid URL: {err}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("endpoint {e:?} must start with http://, https://, tcp:// or clickhouse://"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("endpoint {e:?} has no host"));
        }
        Ok(Endpoint { uri, dial_timeout: None, skip_verify: false })
    }

    /// The HTTP interface's URL (see [`Self::resolve_endpoint`]).
    pub fn endpoint_uri(&self) -> Result<http::Uri, String> {
        self.resolve_endpoint().map(|e| e.uri)
    }
}

impl ComponentConfig for ClickHouseConfig {
    fn validate(&self) -> Result<(), String> {
        let uri = self.endpoint_uri()?;
        if let (Some("https"), Some(tls)) = (uri.scheme_str(), &self.tls) {
            tls.check().map_err(|e| e.to_string())?;
        }
        self.compression.check_supported("compression", &COMPRESSIONS)?;
        check_name("database", &self.database)?;
        check_name("traces_table_name", &self.traces_table_name)?;
        check_name("logs_table_name", &self.logs_table_name)?;
        let m = &self.metrics_tables;
        for (key, t) in [
            ("metrics_tables::gauge::name", &m.gauge),
            ("metrics_tables::sum::name", &m.sum),
            ("metrics_tables::summary::name", &m.summary),
            ("metrics_tables::histogram::name", &m.histogram),
            ("metrics_tables::exponential_histogram::name", &m.exponential_histogram),
        ] {
            check_name(key, &t.name)?;
        }
        if !self.cluster_name.is_empty() {
            check_name("cluster_name", &self.cluster_name)?;
        }
        let engine = &self.table_engine.name;
        if engine.is_empty() || !engine.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("table_engine::name {engine:?} must be an engine name such as MergeTree"));
        }
        if self.ttl.subsec_nanos() != 0 {
            return Err(format!(
                "ttl must be a whole number of seconds, not {}",
                weir_core::config::duration::format(self.ttl)
            ));
        }
        Ok(())
    }

    fn files(&self) -> Vec<(String, std::path::PathBuf)> {
        let https = self.endpoint_uri().is_ok_and(|u| u.scheme_str() == Some("https"));
        crate::transport::tls_files(https, &self.tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClickHouseConfig, String> {
        weir_core::testing::parse_exporter_config(text)
    }

    #[test]
    fn defaults_are_the_collectors() {
        let c = parse("endpoint: http://localhost:8123\n").unwrap();
        assert_eq!(c.database, "default");
        assert!(c.create_schema && c.async_insert);
        assert_eq!(c.traces_table_name, "otel_traces");
        assert_eq!(c.logs_table_name, "otel_logs");
        assert_eq!(c.metrics_tables.exponential_histogram.name, "otel_metrics_exponential_histogram");
        assert_eq!(c.metrics_tables.summary.name, "otel_metrics_summary");
        assert_eq!(c.table_engine.render(), "MergeTree()");
        assert_eq!(c.ttl, Duration::ZERO);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.compression, Compression::Zstd);
        assert!(c.sending_queue.block_on_overflow);
    }

    #[test]
    fn collector_keys_parse() {
        let c = parse(
            "endpoint: http://ch:8123?max_insert_threads=2\nusername: u\npassword: p\ndatabase: otel\n\
             create_schema: false\nttl: 72h\ntable_engine: { name: ReplicatedMergeTree, params: \"'/t', 'r'\" }\n\
             cluster_name: c1\nasync_insert: false\ncompress: none\n\
             metrics_tables: { gauge: { name: g }, sum: { name: s } }\n",
        )
        .unwrap();
        assert_eq!(c.ttl, Duration::from_secs(72 * 3600));
        assert_eq!(c.table_engine.render(), "ReplicatedMergeTree('/t', 'r')");
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.metrics_tables.gauge.name, "g");
        assert_eq!(c.metrics_tables.histogram.name, "otel_metrics_histogram");
        assert!(!c.create_schema && !c.async_insert);
    }

    #[test]
    fn endpoint_must_be_http() {
        assert!(parse("database: x\n").unwrap_err().starts_with("endpoint must be specified"));
        assert_eq!(parse("endpoint: tcp://ch:9000\n").unwrap().endpoint_uri().unwrap(), "http://ch:8123/");
        assert_eq!(parse("endpoint: https://ch:8443\n").unwrap().endpoint_uri().unwrap().scheme_str(), Some("https"));
        assert!(parse("endpoint: ch:8123\n").unwrap_err().contains("http://"));
        let c = parse("endpoint: https://ch:8443\ntls:\n  ca_file: /nonexistent/ca.pem\n").unwrap();
        assert_eq!(c.files(), [("tls::ca_file".to_string(), "/nonexistent/ca.pem".into())]);
    }

    #[test]
    fn native_endpoints_map_onto_the_http_interface() {
        let e = |endpoint: &str| parse(&format!("endpoint: \"{endpoint}\"\n")).map(|c| c.resolve_endpoint().unwrap());
        let r = e("tcp://127.0.0.1:9000?dial_timeout=10s&compress=lz4&max_insert_threads=2").unwrap();
        assert_eq!(r.uri, "http://127.0.0.1:8123/?max_insert_threads=2");
        assert_eq!((r.dial_timeout, r.skip_verify), (Some(Duration::from_secs(10)), false));
        assert_eq!(e("clickhouse://127.0.0.1:9000").unwrap().uri, "http://127.0.0.1:8123/");
        assert_eq!(e("clickhouse://ch").unwrap().uri, "http://ch:8123/");
        let r = e("clickhouse://ch:9440?secure=true&skip_verify=true").unwrap();
        assert_eq!((r.uri.to_string().as_str(), r.skip_verify), ("https://ch:8443/", true));
        assert_eq!(e("tcp://ch?secure=true").unwrap().uri, "https://ch:8443/");
        assert_eq!(e("tcp://ch:9440").unwrap().uri, "https://ch:8443/", "9440 is the TLS port");
        let err = e("tcp://ch:19000").unwrap_err();
        assert!(err.contains("port 19000 has no known HTTP counterpart"), "{err}");
        assert!(e("tcp://ch:9000?secure=maybe").unwrap_err().contains("secure"));
        assert!(e("tcp://ch:9000?dial_timeout=soon").unwrap_err().contains("dial_timeout"));
        assert!(e("tcp://:9000").unwrap_err().contains("no host"));
        assert!(e("tcp://u:p@ch:9000").unwrap_err().contains("username and password keys"));
        assert!(e("tcp://ch:9000/otel").unwrap_err().contains("database key"));
        assert!(e("udp://ch:9000").unwrap_err().contains("must start with"));
    }

    #[test]
    fn names_and_values_are_checked() {
        let err = parse("endpoint: http://ch:8123\ntraces_table_name: \"a`b\"\n").unwrap_err();
        assert!(err.starts_with("traces_table_name"), "{err}");
        let err = parse("endpoint: http://ch:8123\ndatabase: \"\"\n").unwrap_err();
        assert!(err.starts_with("database must not be empty"), "{err}");
        let err = parse("endpoint: http://ch:8123\ntable_engine: { name: \"MergeTree() --\" }\n").unwrap_err();
        assert!(err.starts_with("table_engine::name"), "{err}");
        let err = parse("endpoint: http://ch:8123\nttl: 1500ms\n").unwrap_err();
        assert!(err.starts_with("ttl must be a whole number"), "{err}");
        let err = parse("endpoint: http://ch:8123\ncompression: lz4\n").unwrap_err();
        assert!(err.contains("`zstd`"), "{err}");
        let err = parse("endpoint: http://ch:8123\ncompression: brotli\n").unwrap_err();
        assert!(err.contains("`zstd`"), "{err}");
        let err = parse("endpoint: http://ch:8123\nconnection_params: {}\n").unwrap_err();
        assert!(err.contains("unknown field `connection_params`"), "{err}");
    }
}
