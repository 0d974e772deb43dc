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

impl ClickHouseConfig {
    /// The endpoint as a URL, checked: `http://` or `https://` with a host.
    pub fn endpoint_uri(&self) -> Result<http::Uri, String> {
        let e = self.endpoint.trim();
        if e.is_empty() {
            return Err("endpoint must be specified: ClickHouse's HTTP interface, e.g. http://localhost:8123".into());
        }
        if let Some(scheme) = ["tcp://", "clickhouse://"].iter().find(|s| e.starts_with(**s)) {
            return Err(format!(
                "endpoint {e:?}: weir speaks ClickHouse's HTTP interface, not the native protocol ({scheme}); use http://host:8123"
            ));
        }
        let uri: http::Uri = e.parse().map_err(|err| format!("endpoint {e:?} is not a valid URL: {err}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("endpoint {e:?} must start with http:// or https://"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("endpoint {e:?} has no host"));
        }
        Ok(uri)
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
        assert!(parse("endpoint: tcp://ch:9000\n").unwrap_err().contains("native protocol"));
        assert_eq!(parse("endpoint: https://ch:8443\n").unwrap().endpoint_uri().unwrap().scheme_str(), Some("https"));
        assert!(parse("endpoint: ch:8123\n").unwrap_err().contains("http://"));
        let c = parse("endpoint: https://ch:8443\ntls:\n  ca_file: /nonexistent/ca.pem\n").unwrap();
        assert_eq!(c.files(), [("tls::ca_file".to_string(), "/nonexistent/ca.pem".into())]);
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
