//! `service::telemetry`: weir's own logs, metrics, spans and their resource, in the Collector's
//! format (`otelconftelemetry`, which follows the OpenTelemetry declarative configuration
//! schema v0.3.0, with its v0.2.0 forms still read).
//!
//! Every key the Collector has loads here, with its defaults. Loading refuses what the
//! Collector refuses (unknown keys, `metrics::level` other than `none` with no reader,
//! `metrics::views` without `level: detailed`) and the few things weir cannot do (a Zipkin
//! span exporter, metric producers, the Jaeger remote sampler, `resource::attributes_list`),
//! each with why. What weir does with each key is in the README's `service::telemetry`
//! table; the logs, metrics and spans themselves are made in the `weir` crate's
//! `self_telemetry` module, outside the pipelines.

use super::yaml::{Node, NodeKind, RawNode};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// `service::telemetry`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// weir's own logs: level, format, outputs, sampling, OTLP export.
    pub logs: LogsConfig,
    /// weir's own metrics: `/metrics` for Prometheus and periodic OTLP export.
    pub metrics: MetricsConfig,
    /// weir's own spans (off unless a processor is configured).
    pub traces: TracesConfig,
    /// The resource of weir's own telemetry.
    pub resource: ResourceConfig,
}

/// How much of its own telemetry weir records: `none`, `basic`, `normal`, `detailed`
/// (case-insensitive, as the Collector's `configtelemetry.Level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    None,
    Basic,
    #[default]
    Normal,
    Detailed,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Basic => "basic",
            Level::Normal => "normal",
            Level::Detailed => "detailed",
        }
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Level::None),
            "basic" => Ok(Level::Basic),
            "normal" => Ok(Level::Normal),
            "detailed" => Ok(Level::Detailed),
            other => Err(de::Error::custom(format!(
                "unknown metrics level {other:?} (valid values: none, basic, normal, detailed)"
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// logs

/// `service::telemetry::logs` (the Collector's zap settings and log record processors).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Lowest level written: `debug`, `info` (default), `warn`, `error` (zap's `dpanic`,
    /// `panic` and `fatal` read as `error`: weir never panics on a log line). `RUST_LOG`
    /// overrides it.
    pub level: LogLevel,
    /// Development mode: stack traces from `warn` up instead of `error` up (zap's
    /// behaviour). Default false.
    pub development: bool,
    /// `console` (default: tab-separated time, level, caller, message and a JSON object of
    /// fields, as zap's console encoder) or `json` (one JSON object a line).
    pub encoding: LogEncoding,
    /// Leave out the `caller` (source file and line). Default false.
    pub disable_caller: bool,
    /// Never add a `stacktrace` to a line. Default false: `error` lines (and `warn` in
    /// development) carry one.
    pub disable_stacktrace: bool,
    /// Rate-limits repeated lines as zap does: per `tick`, the first `initial` lines of each
    /// level and message are written, then every `thereafter`-th (0: none). Default
    /// `{enabled: true, tick: 10s, initial: 10, thereafter: 100}`; null turns it off.
    pub sampling: Option<LogsSampling>,
    /// Where lines go: `stdout`, `stderr` or file paths (`file:///abs/path` too), appended to.
    /// Default `[stderr]`.
    pub output_paths: Vec<String>,
    /// Where the logger's own failures go (a log line that cannot be written, a failed OTLP
    /// export of weir's own telemetry). Default `[stderr]`.
    pub error_output_paths: Vec<String>,
    /// Fields added to every line (and to every exported log record as attributes).
    pub initial_fields: BTreeMap<String, serde_json::Value>,
    /// Log record processors: `batch` or `simple`, each with an `otlp` or `console` exporter.
    /// weir's own log records are exported as OTLP logs, outside the pipelines.
    pub processors: Vec<LogRecordProcessor>,
    /// Leave the resource out of the lines written to `output_paths` (OTLP exports always
    /// carry it). Default false: each line has a `resource` field, as the Collector's.
    pub disable_zap_resource: bool,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            level: LogLevel::Info,
            development: false,
            encoding: LogEncoding::Console,
            disable_caller: false,
            disable_stacktrace: false,
            sampling: Some(LogsSampling::default()),
            output_paths: vec!["stderr".into()],
            error_output_paths: vec!["stderr".into()],
            initial_fields: BTreeMap::new(),
            processors: Vec::new(),
            disable_zap_resource: false,
        }
    }
}

/// `logs::level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LogLevel, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" | "" => Ok(LogLevel::Info),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "error" | "dpanic" | "panic" | "fatal" => Ok(LogLevel::Error),
            other => Err(de::Error::custom(format!(
                "unrecognized level: {other:?} (valid values: debug, info, warn, error, dpanic, panic, fatal)"
            ))),
        }
    }
}

/// `logs::encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    #[default]
    Console,
    Json,
}

/// `logs::sampling`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSampling {
    /// Default true.
    pub enabled: bool,
    /// The period the counts are kept for. Default 10s.
    #[serde(with = "super::duration")]
    pub tick: Duration,
    /// Lines of one level and message written per tick before sampling starts. Default 10.
    pub initial: u64,
    /// After `initial`, every `thereafter`-th line is written; 0 drops the rest of the tick.
    /// Default 100.
    pub thereafter: u64,
}

impl Default for LogsSampling {
    fn default() -> Self {
        LogsSampling { enabled: true, tick: Duration::from_secs(10), initial: 10, thereafter: 100 }
    }
}

/// One of `logs::processors`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecordProcessor {
    pub batch: Option<BatchProcessor>,
    pub simple: Option<SimpleProcessor>,
}

/// One of `traces::processors`: the same shapes as the log record processors.
pub type SpanProcessor = LogRecordProcessor;

/// A `batch` processor: records are queued and exported every `schedule_delay` or when
/// `max_export_batch_size` are waiting.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchProcessor {
    /// Milliseconds between exports. Default 1000 for logs, 5000 for spans.
    pub schedule_delay: Option<u64>,
    /// Milliseconds an export may take. Default 30000.
    pub export_timeout: Option<u64>,
    /// Records waiting at most; more are dropped (counted in
    /// `weir_self_telemetry_dropped`). Default 2048.
    pub max_queue_size: Option<u64>,
    /// Records per export at most. Default 512.
    pub max_export_batch_size: Option<u64>,
    pub exporter: ProcessorExporter,
}

/// A `simple` processor: each record is exported on its own, as it happens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleProcessor {
    pub exporter: ProcessorExporter,
}

/// Where a processor sends: `otlp` or `console` (standard output, OTLP JSON lines).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorExporter {
    pub otlp: Option<OtlpExporterConfig>,
    pub console: Option<BTreeMap<String, serde_json::Value>>,
    /// The span exporter's `zipkin`: refused (weir sends its own spans as OTLP only).
    pub zipkin: Option<serde_json::Value>,
}

/// An OTLP exporter of weir's own telemetry (`otlp` in the declarative configuration).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpExporterConfig {
    /// `grpc`, `http/protobuf` or `http/json`. Required.
    pub protocol: String,
    /// Required. Without a scheme, `https://` is assumed unless `insecure: true` (as the
    /// Collector normalises it). For HTTP, a URL with a path is used as it is; without one
    /// `/v1/metrics`, `/v1/logs` or `/v1/traces` is appended.
    pub endpoint: String,
    /// PEM file of the CA the server's certificate must chain to.
    pub certificate: Option<String>,
    /// PEM file of the client key (mutual TLS).
    pub client_key: Option<String>,
    /// PEM file of the client certificate (mutual TLS).
    pub client_certificate: Option<String>,
    /// Headers sent with every export: a list of `{name, value}` (or, in the v0.2.0 form, a
    /// mapping).
    pub headers: Headers,
    /// More headers as `name=value,name2=value2`.
    pub headers_list: Option<String>,
    /// `gzip` or `none` (default).
    pub compression: Option<String>,
    /// Milliseconds an export request may take. Default 10000.
    pub timeout: Option<u64>,
    /// Plaintext to an endpoint without a scheme. Default false.
    pub insecure: Option<bool>,
    /// Metrics only: `cumulative` (default), `delta` or `low_memory`.
    pub temporality_preference: Option<String>,
    /// Metrics only: `explicit_bucket_histogram` (default) or
    /// `base2_exponential_bucket_histogram`.
    pub default_histogram_aggregation: Option<String>,
}

impl OtlpExporterConfig {
    /// The endpoint as the Collector normalises it: a scheme is added when there is none.
    pub fn endpoint_url(&self) -> String {
        let e = self.endpoint.trim();
        if e.starts_with("http://") || e.starts_with("https://") {
            e.to_string()
        } else if self.insecure == Some(true) {
            format!("http://{e}")
        } else {
            format!("https://{e}")
        }
    }

    /// `headers` and `headers_list`, in that order of precedence.
    pub fn all_headers(&self) -> Vec<(String, String)> {
        let mut out = self.headers.0.clone();
        for pair in self.headers_list.as_deref().unwrap_or("").split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && !out.iter().any(|(n, _)| n == k) {
                    out.push((k.to_string(), v.trim().to_string()));
                }
            }
        }
        out
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout.unwrap_or(10_000))
    }

    fn validate(&self, path: &str, metrics: bool, out: &mut Vec<(String, String)>) {
        if !matches!(self.protocol.as_str(), "grpc" | "http/protobuf" | "http/json") {
            out.push((
                format!("{path}::protocol"),
                format!("unsupported protocol {:?} (valid values: grpc, http/protobuf, http/json)", self.protocol),
            ));
        }
        if self.endpoint.trim().is_empty() {
            out.push((format!("{path}::endpoint"), "must be specified, e.g. endpoint: http://localhost:4317".into()));
        } else if let Err(e) = self.endpoint_url().parse::<http::Uri>() {
            out.push((format!("{path}::endpoint"), format!("{:?} is not a valid URL: {e}", self.endpoint)));
        }
        if let Some(c) = self.compression.as_deref() {
            if !matches!(c, "gzip" | "none" | "") {
                out.push((
                    format!("{path}::compression"),
                    format!("unsupported compression {c:?} (valid values: gzip, none)"),
                ));
            }
        }
        if self.client_certificate.is_some() != self.client_key.is_some() {
            out.push((format!("{path}::client_certificate"), "client_certificate and client_key go together".into()));
        }
        if let Some(list) = self.headers_list.as_deref() {
            if list.split(',').any(|p| !p.trim().is_empty() && !p.contains('=')) {
                out.push((
                    format!("{path}::headers_list"),
                    format!("{list:?} must be name=value pairs separated by commas"),
                ));
            }
        }
        if let Some(t) = self.temporality_preference.as_deref() {
            if !metrics {
                out.push((format!("{path}::temporality_preference"), "applies to metric exporters only".into()));
            } else if !matches!(t, "cumulative" | "delta" | "low_memory") {
                out.push((
                    format!("{path}::temporality_preference"),
                    format!("unsupported temporality preference {t:?} (valid values: cumulative, delta, low_memory)"),
                ));
            }
        }
        if let Some(h) = self.default_histogram_aggregation.as_deref() {
            if !metrics {
                out.push((format!("{path}::default_histogram_aggregation"), "applies to metric exporters only".into()));
            } else if !matches!(h, "explicit_bucket_histogram" | "base2_exponential_bucket_histogram") {
                out.push((
                    format!("{path}::default_histogram_aggregation"),
                    format!("unsupported value {h:?} (valid values: explicit_bucket_histogram, base2_exponential_bucket_histogram)"),
                ));
            }
        }
    }
}

/// OTLP headers: a list of `{name, value}` (v0.3.0) or a mapping (v0.2.0).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Headers, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Pair {
            name: String,
            value: Option<String>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of {name, value} or a mapping from names to values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Headers, E> {
                Ok(Headers::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element::<Pair>()? {
                    out.push((p.name, p.value.unwrap_or_default()));
                }
                Ok(Headers(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(Headers(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// metrics

/// `service::telemetry::metrics`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `none` turns weir's metrics off (no `/metrics`, no export); `basic` keeps the
    /// Collector's basic set (receivers, exporters, queues, process) and drops the rest
    /// (processors' own metrics, tail sampling's, Kafka's); `normal` (default) has all of
    /// weir's metrics; `detailed` has them too and allows `views`.
    pub level: Level,
    /// Deprecated (the Collector's older form): `host:port` of `/metrics`. Used only when
    /// `readers` is not given.
    pub address: Option<String>,
    /// Metric readers: `pull` (Prometheus `/metrics`) and `periodic` (OTLP export). Default:
    /// one `pull` reader on `localhost:8888`.
    pub readers: Option<Vec<MetricReader>>,
    /// Views (only with `level: detailed`): a selector (`instrument_name` with `*` and `?`,
    /// `instrument_type`) and a stream (`name`, `description`, `aggregation: drop`,
    /// `attribute_keys`).
    pub views: Option<Vec<View>>,
}

/// Where `/metrics` is served by default, as the Collector.
pub const DEFAULT_METRICS_ADDRESS: &str = "localhost:8888";

impl MetricsConfig {
    /// The readers in effect: `readers`, else one `pull` reader on `address` (or the default).
    pub fn effective_readers(&self) -> Vec<MetricReader> {
        if let Some(r) = &self.readers {
            return r.clone();
        }
        let address = self.address.as_deref().unwrap_or(DEFAULT_METRICS_ADDRESS);
        let (host, port) = split_host_port(address).unwrap_or(("localhost".into(), 8888));
        vec![MetricReader {
            pull: Some(PullReader {
                exporter: PullExporter {
                    prometheus: Some(Prometheus { host: Some(host), port: Some(port), ..Prometheus::default() }),
                },
            }),
            periodic: None,
            producers: None,
        }]
    }

    /// The addresses `/metrics` is served on (one per `pull` reader); none with `level: none`.
    pub fn endpoints(&self) -> Vec<String> {
        if self.level == Level::None {
            return Vec::new();
        }
        self.effective_readers()
            .iter()
            .filter_map(|r| r.pull.as_ref()?.exporter.prometheus.as_ref().map(Prometheus::address))
            .collect()
    }

    /// The first `/metrics` address, or `None` when turned off.
    pub fn endpoint(&self) -> Option<String> {
        self.endpoints().into_iter().next()
    }

    /// The `periodic` readers in effect; none with `level: none`.
    pub fn periodic_readers(&self) -> Vec<PeriodicReader> {
        if self.level == Level::None {
            return Vec::new();
        }
        self.effective_readers().into_iter().filter_map(|r| r.periodic).collect()
    }
}

/// `host:port` (`[v6]:port` too) as host and port.
fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = port.parse().ok()?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None;
    }
    Some((host.to_string(), port))
}

/// One of `metrics::readers`: exactly one of `periodic` and `pull`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReader {
    pub periodic: Option<PeriodicReader>,
    pub pull: Option<PullReader>,
    /// Metric producers (bridges from OpenCensus or Prometheus instrumentation): weir has
    /// none, so a non-empty list is refused.
    pub producers: Option<Vec<serde_json::Value>>,
}

/// A `periodic` reader: weir's metrics exported every `interval`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicReader {
    /// Milliseconds between exports. Default 60000.
    pub interval: Option<u64>,
    /// Milliseconds one export may take. Default 30000.
    pub timeout: Option<u64>,
    pub exporter: PushExporter,
}

impl PeriodicReader {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval.filter(|i| *i > 0).unwrap_or(60_000))
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout.filter(|i| *i > 0).unwrap_or(30_000))
    }
}

/// A periodic reader's exporter: `otlp` or `console`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushExporter {
    pub otlp: Option<OtlpExporterConfig>,
    pub console: Option<BTreeMap<String, serde_json::Value>>,
}

/// A `pull` reader.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullReader {
    pub exporter: PullExporter,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullExporter {
    pub prometheus: Option<Prometheus>,
}

/// `pull::exporter::prometheus`: `/metrics` on `host:port`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prometheus {
    /// Default `localhost`.
    pub host: Option<String>,
    /// Default 9464 (the SDK's; the Collector's default reader uses 8888).
    pub port: Option<u16>,
    /// Default true. weir's names never carry unit suffixes, so either value gives the same
    /// output.
    pub without_units: Option<bool>,
    /// Default true. weir's counters keep their `_total` suffix either way (its `/metrics`
    /// is the same whatever this says).
    pub without_type_suffix: Option<bool>,
    /// Default true: no `otel_scope_*` labels. `false` adds `otel_scope_name="weir"` to every
    /// series.
    pub without_scope_info: Option<bool>,
    /// Resource attributes added as labels to every series (`included`, `excluded`, with `*`
    /// and `?`).
    pub with_resource_constant_labels: Option<IncludeExclude>,
}

impl Prometheus {
    /// `(without_scope_info, without_units, without_type_suffix)` with the Collector's
    /// defaults (true) re-applied to the ones not written, as its migration does.
    pub fn without(&self) -> (bool, bool, bool) {
        (
            self.without_scope_info.unwrap_or(true),
            self.without_units.unwrap_or(true),
            self.without_type_suffix.unwrap_or(true),
        )
    }

    pub fn address(&self) -> String {
        let host = self.host.clone().unwrap_or_else(|| "localhost".into());
        format!("{host}:{}", self.port.unwrap_or(9464))
    }
}

/// `included` / `excluded` name patterns (`*` and `?` wildcards).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncludeExclude {
    pub included: Option<Vec<String>>,
    pub excluded: Option<Vec<String>>,
}

impl IncludeExclude {
    /// Whether `name` passes: in `included` (when given) and not in `excluded`.
    pub fn allows(&self, name: &str) -> bool {
        let included = self.included.as_ref().is_none_or(|list| list.iter().any(|p| wildcard_match(p, name)));
        let excluded = self.excluded.as_ref().is_some_and(|list| list.iter().any(|p| wildcard_match(p, name)));
        included && !excluded
    }
}

/// `*` (any run) and `?` (one character) matching, as the SDK's view selectors.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One of `metrics::views`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct View {
    pub selector: Option<ViewSelector>,
    pub stream: Option<ViewStream>,
}

/// Which metrics a view applies to. weir's metrics come from one meter, `weir`: a
/// `meter_name` other than that (or `*`) selects nothing.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewSelector {
    pub instrument_name: Option<String>,
    /// `counter`, `histogram`, `observable_counter`, `observable_gauge`,
    /// `observable_up_down_counter`, `up_down_counter`.
    pub instrument_type: Option<String>,
    pub unit: Option<String>,
    pub meter_name: Option<String>,
    pub meter_version: Option<String>,
    pub meter_schema_url: Option<String>,
}

/// What a view does to the metrics it selects.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewStream {
    /// A new name (a view with a name must select one instrument, as the SDK requires).
    pub name: Option<String>,
    /// A new `# HELP` text.
    pub description: Option<String>,
    /// `drop` removes the metric; `default`, `sum`, `last_value` keep it as it is;
    /// `explicit_bucket_histogram` and `base2_exponential_bucket_histogram` are accepted but
    /// weir's histograms keep their buckets (they are fixed when the recorder starts).
    pub aggregation: Option<ViewAggregation>,
    /// Labels kept (`included`) or removed (`excluded`); series that become equal are summed.
    pub attribute_keys: Option<IncludeExclude>,
    /// Accepted; weir does not cap series per metric.
    pub aggregation_cardinality_limit: Option<u64>,
}

/// `stream::aggregation`: one of its keys.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewAggregation {
    pub default: Option<serde_json::Value>,
    pub drop: Option<serde_json::Value>,
    pub sum: Option<serde_json::Value>,
    pub last_value: Option<serde_json::Value>,
    pub explicit_bucket_histogram: Option<serde_json::Value>,
    pub base2_exponential_bucket_histogram: Option<serde_json::Value>,
}

impl View {
    /// Whether this view selects the metric `name` of `kind` (`counter`, `gauge`,
    /// `histogram`, as weir's recorder has them).
    pub fn selects(&self, name: &str, kind: &str) -> bool {
        let Some(s) = &self.selector else { return true };
        if let Some(n) = &s.instrument_name {
            if !wildcard_match(n, name) {
                return false;
            }
        }
        if let Some(t) = &s.instrument_type {
            let matches = match kind {
                "counter" => matches!(t.as_str(), "counter" | "observable_counter"),
                "gauge" => matches!(t.as_str(), "observable_gauge" | "up_down_counter" | "observable_up_down_counter"),
                "histogram" => t == "histogram",
                _ => false,
            };
            if !matches {
                return false;
            }
        }
        if let Some(m) = &s.meter_name {
            if !wildcard_match(m, METER_NAME) {
                return false;
            }
        }
        true
    }

    /// Whether the view drops what it selects.
    pub fn drops(&self) -> bool {
        self.stream.as_ref().and_then(|s| s.aggregation.as_ref()).is_some_and(|a| a.drop.is_some())
    }
}

/// The instrumentation scope of weir's own metrics, logs and spans.
pub const METER_NAME: &str = "weir";

// ---------------------------------------------------------------------------------------------
// traces

/// `service::telemetry::traces`: weir's own spans. Off unless `processors` has one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// `none` turns spans off; any other level keeps them (default `basic`).
    pub level: Level,
    /// `tracecontext` and `b3` (the Collector's): accepted; weir's spans are roots started by
    /// weir itself, so there is no incoming context to read.
    pub propagators: Vec<String>,
    /// Span processors (`batch`, `simple`) with an `otlp` or `console` exporter.
    pub processors: Vec<SpanProcessor>,
    /// `always_on` (default), `always_off`, `trace_id_ratio_based: {ratio}`, or
    /// `parent_based` (weir's spans have no parent: its `root` sampler decides).
    pub sampler: Option<Sampler>,
    /// Span limits: accepted; weir's spans carry a handful of attributes and no events.
    pub limits: Option<BTreeMap<String, serde_json::Value>>,
}

impl Default for TracesConfig {
    fn default() -> Self {
        TracesConfig {
            level: Level::Basic,
            propagators: Vec::new(),
            processors: Vec::new(),
            sampler: None,
            limits: None,
        }
    }
}

impl TracesConfig {
    /// Whether weir records its own spans.
    pub fn enabled(&self) -> bool {
        self.level != Level::None && !self.processors.is_empty()
    }
}

/// `traces::sampler`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sampler {
    pub always_on: Option<serde_json::Value>,
    pub always_off: Option<serde_json::Value>,
    pub trace_id_ratio_based: Option<RatioSampler>,
    pub parent_based: Option<Box<ParentBasedSampler>>,
    /// Refused: weir has no Jaeger remote sampling client.
    pub jaeger_remote: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RatioSampler {
    /// Default 1.
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParentBasedSampler {
    pub root: Option<Sampler>,
    pub remote_parent_sampled: Option<Sampler>,
    pub remote_parent_not_sampled: Option<Sampler>,
    pub local_parent_sampled: Option<Sampler>,
    pub local_parent_not_sampled: Option<Sampler>,
}

impl Sampler {
    /// The share of weir's (root) spans kept, 0 to 1.
    pub fn root_ratio(&self) -> f64 {
        if self.always_off.is_some() {
            0.0
        } else if let Some(r) = &self.trace_id_ratio_based {
            r.ratio.unwrap_or(1.0).clamp(0.0, 1.0)
        } else if let Some(p) = &self.parent_based {
            p.root.as_ref().map_or(1.0, Sampler::root_ratio)
        } else {
            1.0
        }
    }

    fn validate(&self, path: &str, out: &mut Vec<(String, String)>) {
        if self.jaeger_remote.is_some() {
            out.push((
                format!("{path}::jaeger_remote"),
                "weir has no Jaeger remote sampling client; use trace_id_ratio_based or parent_based".into(),
            ));
        }
        if let Some(r) = self.trace_id_ratio_based.as_ref().and_then(|r| r.ratio) {
            if !(0.0..=1.0).contains(&r) {
                out.push((format!("{path}::trace_id_ratio_based::ratio"), format!("must be between 0 and 1, got {r}")));
            }
        }
        if let Some(p) = &self.parent_based {
            for (k, s) in [
                ("root", &p.root),
                ("remote_parent_sampled", &p.remote_parent_sampled),
                ("remote_parent_not_sampled", &p.remote_parent_not_sampled),
                ("local_parent_sampled", &p.local_parent_sampled),
                ("local_parent_not_sampled", &p.local_parent_not_sampled),
            ] {
                if let Some(s) = s {
                    s.validate(&format!("{path}::parent_based::{k}"), out);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// resource

/// `service::telemetry::resource`: the attributes of weir's own telemetry. `service.name`
/// (`weir`), `service.version` (weir's) and `service.instance.id` (a random UUID per process)
/// are added unless set; a legacy inline attribute set to null removes one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceConfig {
    /// `attributes`: `{name, value, type}` entries.
    pub attributes: Vec<(String, AttributeValue)>,
    /// The Collector's legacy inline form (`resource: {key: value}`); a null value removes
    /// a default attribute.
    pub legacy: Vec<(String, Option<String>)>,
    pub schema_url: Option<String>,
    /// `detection/development::detectors`: `host`, `process`, `container`, `service`.
    pub detectors: Vec<String>,
    /// `detectors::attributes`: which detected attributes are kept.
    pub detected_attributes: Option<IncludeExclude>,
    /// `attributes_list` was given (refused, as the Collector).
    pub attributes_list: bool,
}

/// A resource attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<AttributeValue>),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Str(s) => f.write_str(s),
            AttributeValue::Bool(b) => write!(f, "{b}"),
            AttributeValue::Int(i) => write!(f, "{i}"),
            AttributeValue::Double(d) => write!(f, "{d}"),
            AttributeValue::Array(items) => {
                let parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
                write!(f, "[{}]", parts.join(","))
            }
        }
    }
}

impl<'de> Deserialize<'de> for ResourceConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ResourceConfig, D::Error> {
        let RawNode(node) = RawNode::deserialize(d)?;
        read_resource(&node).map_err(|(path, message)| de::Error::custom(format!("resource::{path}: {message}")))
    }
}

fn read_resource(node: &Node) -> Result<ResourceConfig, (String, String)> {
    let mut r = ResourceConfig::default();
    let Some(entries) = node.as_map() else {
        return Err((String::new(), "must be a mapping".into()));
    };
    for (k, v) in entries {
        let key = k.as_str().unwrap_or("");
        match key {
            "attributes" => {
                let NodeKind::Seq(items) = &v.kind else {
                    if v.is_null() {
                        continue;
                    }
                    return Err(("attributes".into(), "must be a list of {name, value, type}".into()));
                };
                for (i, item) in items.iter().enumerate() {
                    r.attributes.push(read_attribute(item).map_err(|m| (format!("attributes[{i}]"), m))?);
                }
            }
            "schema_url" => r.schema_url = v.as_str().map(str::to_string),
            "attributes_list" => r.attributes_list = !v.is_null(),
            "detectors" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Detectors {
                    attributes: Option<IncludeExclude>,
                }
                let d: Detectors = v.deserialize().map_err(|e| ("detectors".to_string(), e.message))?;
                r.detected_attributes = d.attributes;
            }
            "detection/development" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Detection {
                    detectors: Option<Vec<BTreeMap<String, serde_json::Value>>>,
                    attributes: Option<IncludeExclude>,
                }
                let d: Detection = v.deserialize().map_err(|e| ("detection/development".to_string(), e.message))?;
                for (i, det) in d.detectors.unwrap_or_default().into_iter().enumerate() {
                    for name in det.keys() {
                        if !matches!(name.as_str(), "host" | "process" | "container" | "service") {
                            return Err((
                                format!("detection/development::detectors[{i}]"),
                                format!("unknown detector {name:?} (valid values: container, host, process, service)"),
                            ));
                        }
                        r.detectors.push(name.clone());
                    }
                }
                if d.attributes.is_some() {
                    r.detected_attributes = d.attributes;
                }
            }
            _ => match &v.kind {
                NodeKind::Null => r.legacy.push((key.to_string(), None)),
                NodeKind::Scalar { value, .. } => r.legacy.push((key.to_string(), Some(value.clone()))),
                _ => {
                    return Err((key.to_string(), format!("legacy resource attribute {key:?} must be string or null")))
                }
            },
        }
    }
    Ok(r)
}

fn read_attribute(node: &Node) -> Result<(String, AttributeValue), String> {
    let entries = node.as_map().ok_or("must be a mapping with name, value and type")?;
    let (mut name, mut value, mut ty) = (None, None, None);
    for (k, v) in entries {
        match k.as_str().unwrap_or("") {
            "name" => name = v.as_str().map(str::to_string),
            "value" => value = Some(v),
            "type" => ty = v.as_str().map(str::to_string),
            other => return Err(format!("unknown field {other:?} (valid keys: name, value, type)")),
        }
    }
    let name = name.filter(|n| !n.is_empty()).ok_or("name is required")?;
    let value = value.ok_or_else(|| format!("{name}: value is required"))?;
    let ty = ty.as_deref().unwrap_or("");
    let scalar = |n: &Node, ty: &str| -> Result<AttributeValue, String> {
        let (s, plain) = match &n.kind {
            NodeKind::Scalar { value, plain, .. } => (value.as_str(), *plain),
            _ => return Err(format!("{name}: value must be a scalar or a list of scalars")),
        };
        Ok(match ty {
            "string" => AttributeValue::Str(s.to_string()),
            "bool" => AttributeValue::Bool(s.parse().map_err(|_| format!("{name}: {s:?} is not a bool"))?),
            "int" => AttributeValue::Int(s.parse().map_err(|_| format!("{name}: {s:?} is not an int"))?),
            "double" => AttributeValue::Double(s.parse().map_err(|_| format!("{name}: {s:?} is not a double"))?),
            "" if plain => {
                if let Ok(b) = s.parse::<bool>() {
                    AttributeValue::Bool(b)
                } else if let Ok(i) = s.parse::<i64>() {
                    AttributeValue::Int(i)
                } else if let Ok(d) = s.parse::<f64>() {
                    AttributeValue::Double(d)
                } else {
                    AttributeValue::Str(s.to_string())
                }
            }
            "" => AttributeValue::Str(s.to_string()),
            other => {
                return Err(format!(
                    "{name}: unknown type {other:?} (valid values: string, bool, int, double, string_array, bool_array, int_array, double_array)"
                ))
            }
        })
    };
    let parsed = match &value.kind {
        NodeKind::Seq(items) => {
            let item_ty = ty.strip_suffix("_array").unwrap_or(if ty.is_empty() { "" } else { "?" });
            AttributeValue::Array(items.iter().map(|i| scalar(i, item_ty)).collect::<Result<_, _>>()?)
        }
        NodeKind::Null => return Err(format!("{name}: value is required")),
        _ => scalar(value, ty)?,
    };
    Ok((name, parsed))
}

// ---------------------------------------------------------------------------------------------
// validation

impl TelemetryConfig {
    /// The Collector's checks and weir's refusals, as (key path below `service::telemetry`,
    /// message) pairs.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let m = &self.metrics;
        if m.level != Level::None && m.readers.as_ref().is_some_and(Vec::is_empty) {
            out.push((
                "metrics::readers".into(),
                "collector telemetry metrics reader should exist when metric level is not none".into(),
            ));
        }
        if m.views.is_some() && m.level != Level::Detailed {
            out.push((
                "metrics::views".into(),
                "service::telemetry::metrics::views can only be set when service::telemetry::metrics::level is detailed"
                    .into(),
            ));
        }
        if let Some(a) = &m.address {
            if split_host_port(a).is_none() {
                out.push(("metrics::address".into(), format!("{a:?} is not a host:port address")));
            }
        }
        for (i, r) in m.readers.iter().flatten().enumerate() {
            let path = format!("metrics::readers[{i}]");
            match (&r.periodic, &r.pull) {
                (Some(_), Some(_)) | (None, None) => {
                    out.push((path.clone(), "must have exactly one of periodic and pull".into()));
                }
                (Some(p), None) => match (&p.exporter.otlp, &p.exporter.console) {
                    (Some(o), None) => o.validate(&format!("{path}::periodic::exporter::otlp"), true, &mut out),
                    (None, Some(_)) => {}
                    _ => out.push((
                        format!("{path}::periodic::exporter"),
                        "must have exactly one of otlp and console".into(),
                    )),
                },
                (None, Some(p)) => match &p.exporter.prometheus {
                    Some(prom) if prom.host.as_deref() == Some("") => {
                        out.push((format!("{path}::pull::exporter::prometheus::host"), "must not be empty".into()))
                    }
                    Some(_) => {}
                    None => out.push((format!("{path}::pull::exporter"), "must have prometheus".into())),
                },
            }
            if r.producers.as_ref().is_some_and(|p| !p.is_empty()) {
                out.push((
                    format!("{path}::producers"),
                    "weir has no metric producers (they bridge OpenCensus or Prometheus client instrumentation, which weir does not use)".into(),
                ));
            }
        }
        for (i, v) in m.views.iter().flatten().enumerate() {
            let path = format!("metrics::views[{i}]");
            if let Some(t) = v.selector.as_ref().and_then(|s| s.instrument_type.as_deref()) {
                if !matches!(
                    t,
                    "counter"
                        | "histogram"
                        | "observable_counter"
                        | "observable_gauge"
                        | "observable_up_down_counter"
                        | "up_down_counter"
                ) {
                    out.push((format!("{path}::selector::instrument_type"), format!("unknown instrument type {t:?}")));
                }
            }
            let stream = v.stream.as_ref();
            if stream.and_then(|s| s.name.as_ref()).is_some()
                && v.selector.as_ref().and_then(|s| s.instrument_name.as_deref()).is_none_or(|n| n.contains(['*', '?']))
            {
                out.push((
                    format!("{path}::stream::name"),
                    "a view that renames must select one instrument by its exact instrument_name".into(),
                ));
            }
            if let Some(a) = stream.and_then(|s| s.aggregation.as_ref()) {
                let set = [
                    &a.default,
                    &a.drop,
                    &a.sum,
                    &a.last_value,
                    &a.explicit_bucket_histogram,
                    &a.base2_exponential_bucket_histogram,
                ]
                .iter()
                .filter(|x| x.is_some())
                .count();
                if set > 1 {
                    out.push((format!("{path}::stream::aggregation"), "must have exactly one aggregation".into()));
                }
            }
        }
        let logs = &self.logs;
        for (key, paths) in [("output_paths", &logs.output_paths), ("error_output_paths", &logs.error_output_paths)] {
            for (i, p) in paths.iter().enumerate() {
                if let Err(e) = output_path(p) {
                    out.push((format!("logs::{key}[{i}]"), e));
                }
            }
        }
        if logs.sampling.as_ref().is_some_and(|s| s.enabled && s.tick.is_zero()) {
            out.push(("logs::sampling::tick".into(), "must be greater than 0".into()));
        }
        for (i, p) in logs.processors.iter().enumerate() {
            validate_processor(p, &format!("logs::processors[{i}]"), false, &mut out);
        }
        let traces = &self.traces;
        for (i, p) in traces.propagators.iter().enumerate() {
            if !matches!(p.as_str(), "tracecontext" | "b3") {
                out.push((
                    format!("traces::propagators[{i}]"),
                    format!("unsupported trace propagator {p:?} (valid values: tracecontext, b3)"),
                ));
            }
        }
        for (i, p) in traces.processors.iter().enumerate() {
            validate_processor(p, &format!("traces::processors[{i}]"), true, &mut out);
        }
        if let Some(s) = &traces.sampler {
            s.validate("traces::sampler", &mut out);
        }
        let res = &self.resource;
        if res.attributes_list {
            out.push((
                "resource::attributes_list".into(),
                "resource::attributes_list is not currently supported, please use resource::attributes".into(),
            ));
        }
        if !res.attributes.is_empty() && !res.legacy.is_empty() {
            out.push((
                "resource".into(),
                "resource::attributes cannot be used together with legacy inline resource attributes".into(),
            ));
        }
        out
    }
}

fn validate_processor(p: &LogRecordProcessor, path: &str, spans: bool, out: &mut Vec<(String, String)>) {
    let (exporter, path) = match (&p.batch, &p.simple) {
        (Some(b), None) => (&b.exporter, format!("{path}::batch::exporter")),
        (None, Some(s)) => (&s.exporter, format!("{path}::simple::exporter")),
        _ => return out.push((path.to_string(), "must have exactly one of batch and simple".into())),
    };
    if exporter.zipkin.is_some() {
        let why = if spans {
            "weir exports its own spans as OTLP or to the console only; use otlp"
        } else {
            "zipkin exports spans, not log records"
        };
        return out.push((format!("{path}::zipkin"), why.into()));
    }
    match (&exporter.otlp, &exporter.console) {
        (Some(o), None) => o.validate(&format!("{path}::otlp"), false, out),
        (None, Some(_)) => {}
        _ => out.push((path, "must have exactly one of otlp and console".into())),
    }
}

/// Where one of `output_paths` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputPath {
    Stdout,
    Stderr,
    File(std::path::PathBuf),
}

/// Reads one of `output_paths` as zap does: `stdout`, `stderr`, a path, or a `file://` URL
/// with an absolute path.
pub fn output_path(p: &str) -> Result<OutputPath, String> {
    match p {
        "stdout" => Ok(OutputPath::Stdout),
        "stderr" => Ok(OutputPath::Stderr),
        "" => Err("an output path must not be empty".into()),
        _ => match p.strip_prefix("file://") {
            Some(rest) if rest.starts_with('/') => Ok(OutputPath::File(rest.into())),
            Some(_) => Err(format!("{p:?}: a file:// URL needs an absolute path (file:///var/log/weir.log)")),
            None if p.contains("://") => {
                Err(format!("{p:?}: only file:// URLs, stdout, stderr and paths are supported"))
            }
            None => Ok(OutputPath::File(p.into())),
        },
    }
}

#[cfg(test)]
#[path = "telemetry_tests.rs"]
mod tests;
