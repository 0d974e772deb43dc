//! `receivers::prometheus`: the Collector's receiver keys and the Prometheus configuration
//! under `config` (Prometheus's own `prometheus.yml` format, keys and defaults).

use super::relabel::{RelabelConfig, RelabelConfigSource};
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `receivers::prometheus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusReceiverConfig {
    /// The Prometheus configuration: `global`, `scrape_configs`, `scrape_config_files`.
    pub config: Option<PromConfig>,
    /// Drop `_total` and unit suffixes from metric names. Default false.
    pub trim_metric_suffixes: bool,
    /// Take every cumulative point's start time from the `process_start_time_seconds` metric
    /// of the same scrape (a scrape without it is dropped). Default false.
    pub use_start_time_metric: bool,
    /// The metric `use_start_time_metric` reads, by regex. Default: the name
    /// `process_start_time_seconds`.
    pub start_time_metric_regex: Option<String>,
    /// Also report `scrape_body_size_bytes`, `scrape_sample_limit` and
    /// `scrape_timeout_seconds`. Default false.
    pub report_extra_scrape_metrics: bool,
    /// The OpenTelemetry Operator's target allocator: jobs and targets read from it.
    pub target_allocator: Option<super::ta::TargetAllocatorConfig>,
    /// Refused when enabled: weir does not serve the Prometheus API.
    pub api_server: Option<ApiServer>,
}

/// `api_server`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiServer {
    pub enabled: bool,
    pub server_config: Option<serde_json::Value>,
}

/// `config`: Prometheus's configuration file format.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromConfig {
    pub global: GlobalConfig,
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Files (globs in the file name) each holding `scrape_configs:`; read when the receiver
    /// starts.
    pub scrape_config_files: Vec<String>,
    /// Refused, as the Collector refuses them.
    pub remote_write: Option<serde_json::Value>,
    pub remote_read: Option<serde_json::Value>,
    pub rule_files: Option<serde_json::Value>,
    pub alerting: Option<AlertingConfig>,
    /// Accepted and unused (a Prometheus server's own settings).
    pub storage: Option<serde_json::Value>,
    pub tracing: Option<serde_json::Value>,
    pub otlp: Option<serde_json::Value>,
    pub runtime: Option<serde_json::Value>,
}

/// `alerting` (refused when it lists anything).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    pub alert_relabel_configs: Vec<serde_json::Value>,
    pub alertmanagers: Vec<serde_json::Value>,
}

/// `global`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    /// Default 1m.
    pub scrape_interval: Option<PromDuration>,
    /// Default 10s (and never more than the scrape interval).
    pub scrape_timeout: Option<PromDuration>,
    /// Accepted and unused (rules are refused).
    pub evaluation_interval: Option<PromDuration>,
    pub rule_query_offset: Option<PromDuration>,
    /// Labels set on every sample.
    pub external_labels: BTreeMap<String, String>,
    pub scrape_protocols: Option<Vec<String>>,
    pub body_size_limit: Option<String>,
    pub sample_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub keep_dropped_targets: Option<u64>,
    pub metric_name_validation_scheme: Option<String>,
    pub metric_name_escaping_scheme: Option<String>,
    pub query_log_file: Option<String>,
    pub scrape_failure_log_file: Option<String>,
    pub scrape_native_histograms: Option<bool>,
    pub always_scrape_classic_histograms: Option<bool>,
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    pub extra_scrape_metrics: Option<bool>,
}

/// A duration in Prometheus's format: `1y`, `2w`, `3d`, `4h`, `5m`, `6s`, `7ms`, combined
/// largest first (`1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromDuration(pub Duration);

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_prom_duration(&s).map(PromDuration).map_err(serde::de::Error::custom)
    }
}

/// Parses a Prometheus duration (`model.ParseDuration`).
pub fn parse_prom_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let units: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0usize;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("not a valid duration string: {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let Some(pos) = units.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("not a valid duration string: {s:?}"));
        };
        // Units in order, each once (Prometheus's regex enforces the order).
        if pos < last_unit {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        last_unit = pos + 1;
        total = n
            .checked_mul(units[pos].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total))
}

/// A scrape job (`scrape_config`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeConfig {
    /// Required and unique; the `job` label.
    pub job_name: String,
    /// On a clash, keep the scraped label (true) or rename it `exported_<name>` (false,
    /// default).
    pub honor_labels: bool,
    /// Use the timestamps the target exposes. Default true.
    pub honor_timestamps: Option<bool>,
    /// Staleness markers also for series exposed with timestamps (honored). Default false.
    pub track_timestamps_staleness: bool,
    /// URL parameters of the scrape request.
    pub params: BTreeMap<String, Vec<String>>,
    /// Default `global.scrape_interval`.
    pub scrape_interval: Option<PromDuration>,
    /// Default `global.scrape_timeout`.
    pub scrape_timeout: Option<PromDuration>,
    /// Protocols offered in the `Accept` header, in order. Default: OpenMetrics 1.0.0,
    /// OpenMetrics 0.0.1, text 1.0.0, text 0.0.4.
    pub scrape_protocols: Option<Vec<String>>,
    /// The protocol read when a target's `Content-Type` names none. The Collector's default:
    /// `PrometheusText0.0.4`.
    pub fallback_scrape_protocol: Option<String>,
    /// Ask for gzip. Default true.
    pub enable_compression: Option<bool>,
    /// Default `/metrics`.
    pub metrics_path: Option<String>,
    /// `http` (default) or `https`.
    pub scheme: Option<String>,
    /// Largest body read (`10MB`, `0` no limit). Default no limit.
    pub body_size_limit: Option<String>,
    /// More samples than this (after metric relabeling) fail the scrape. Default 0 (no limit).
    pub sample_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub keep_dropped_targets: Option<u64>,
    pub metric_name_validation_scheme: Option<String>,
    pub metric_name_escaping_scheme: Option<String>,
    pub scrape_native_histograms: Option<bool>,
    pub scrape_classic_histograms: Option<bool>,
    pub always_scrape_classic_histograms: Option<bool>,
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    pub native_histogram_bucket_limit: Option<u64>,
    pub native_histogram_min_bucket_factor: Option<f64>,
    pub scrape_failure_log_file: Option<String>,
    pub extra_scrape_metrics: Option<bool>,

    // HTTP client (prometheus/common `HTTPClientConfig`).
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<PromTlsConfig>,
    /// Default true.
    pub follow_redirects: Option<bool>,
    /// Accepted; scrapes use HTTP/1.1 (as Prometheus does when the target offers no h2).
    pub enable_http2: Option<bool>,
    pub oauth2: Option<serde_json::Value>,
    pub proxy_url: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<serde_json::Value>,
    pub http_headers: Option<serde_json::Value>,

    // Service discovery.
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub kubernetes_sd_configs: Option<serde_json::Value>,
    pub ec2_sd_configs: Option<serde_json::Value>,
    pub gce_sd_configs: Option<serde_json::Value>,
    pub dns_sd_configs: Option<serde_json::Value>,
    pub openstack_sd_configs: Option<serde_json::Value>,
    pub hetzner_sd_configs: Option<serde_json::Value>,
    pub marathon_sd_configs: Option<serde_json::Value>,
    pub nerve_sd_configs: Option<serde_json::Value>,
    pub serverset_sd_configs: Option<serde_json::Value>,
    pub triton_sd_configs: Option<serde_json::Value>,
    pub eureka_sd_configs: Option<serde_json::Value>,
    pub azure_sd_configs: Option<serde_json::Value>,
    pub consul_sd_configs: Option<serde_json::Value>,
    pub digitalocean_sd_configs: Option<serde_json::Value>,
    pub docker_sd_configs: Option<serde_json::Value>,
    pub dockerswarm_sd_configs: Option<serde_json::Value>,
    pub http_sd_configs: Option<serde_json::Value>,
    pub linode_sd_configs: Option<serde_json::Value>,
    pub lightsail_sd_configs: Option<serde_json::Value>,
    pub scaleway_sd_configs: Option<serde_json::Value>,
    pub puppetdb_sd_configs: Option<serde_json::Value>,
    pub uyuni_sd_configs: Option<serde_json::Value>,
    pub vultr_sd_configs: Option<serde_json::Value>,
    pub ionos_sd_configs: Option<serde_json::Value>,
    pub ovhcloud_sd_configs: Option<serde_json::Value>,
    pub kuma_sd_configs: Option<serde_json::Value>,
    pub nomad_sd_configs: Option<serde_json::Value>,
    pub stackit_sd_configs: Option<serde_json::Value>,

    /// Applied to each target's labels before scraping.
    pub relabel_configs: Vec<RelabelConfigSource>,
    /// Applied to each scraped sample.
    pub metric_relabel_configs: Vec<RelabelConfigSource>,
}

/// `static_configs` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSdConfig {
    /// `.json`, `.yml` or `.yaml` files; `*` may stand in the file name.
    pub files: Vec<String>,
    /// How often the files are read again. Default 5m.
    pub refresh_interval: Option<PromDuration>,
}

/// `basic_auth`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    pub username_file: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

/// `authorization`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    /// Default `Bearer`.
    #[serde(rename = "type")]
    pub auth_type: Option<String>,
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
}

/// `tls_config` (prometheus/common `TLSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromTlsConfig {
    pub ca_file: Option<String>,
    pub ca: Option<String>,
    pub cert_file: Option<String>,
    pub cert: Option<String>,
    pub key_file: Option<String>,
    pub key: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    /// `TLS12` or `TLS13`.
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

/// The scrape protocols and the `Accept` value each offers.
pub const SCRAPE_PROTOCOLS: [(&str, &str); 5] = [
    ("PrometheusProto", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"),
    ("PrometheusText0.0.4", "text/plain;version=0.0.4"),
    ("PrometheusText1.0.0", "text/plain;version=1.0.0"),
    ("OpenMetricsText0.0.1", "application/openmetrics-text;version=0.0.1"),
    ("OpenMetricsText1.0.0", "application/openmetrics-text;version=1.0.0"),
];

/// The protocols offered when `scrape_protocols` is not set.
const DEFAULT_SCRAPE_PROTOCOLS: [&str; 4] =
    ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"];

/// A scrape job with every default applied and every part checked.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// Staleness markers also for series exposed with their own timestamps.
    pub track_timestamps_staleness: bool,
    pub params: BTreeMap<String, Vec<String>>,
    pub interval: Duration,
    pub timeout: Duration,
    pub accept: String,
    pub fallback_text: bool,
    pub enable_compression: bool,
    pub metrics_path: String,
    pub scheme: String,
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub follow_redirects: bool,
    pub basic_auth: Option<BasicAuth>,
    /// (type, credentials or file).
    pub authorization: Option<(String, Credentials)>,
    pub tls: Option<weir_core::tls::TlsClientSettings>,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<(Vec<String>, Duration)>,
    /// The target allocator's targets URL of a job it handed out, with its refresh interval.
    pub http_sd: Option<(String, Duration)>,
    pub relabel: Vec<RelabelConfig>,
    pub metric_relabel: Vec<RelabelConfig>,
    pub external_labels: BTreeMap<String, String>,
}

/// A secret given inline or read from a file at each scrape.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    Inline(String),
    File(PathBuf),
}

impl Credentials {
    /// The secret, trimmed of surrounding whitespace when read from a file.
    pub fn read(&self) -> std::io::Result<String> {
        match self {
            Credentials::Inline(s) => Ok(s.clone()),
            Credentials::File(p) => Ok(std::fs::read_to_string(p)?.trim().to_string()),
        }
    }
}

/// Reads a size like Prometheus's `units.Base2Bytes` (`10MB`, `512KiB`, `0`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().map_err(|_| format!("invalid size {s:?}"))?;
    let scale: u64 = match &s[digits..] {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        other => return Err(format!("invalid size unit {other:?} in {s:?} (use B, KB, MB, GB, TB)")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("size {s:?} out of range"))
}

const UNSUPPORTED_SD: [&str; 28] = [
    "kubernetes_sd_configs",
    "ec2_sd_configs",
    "gce_sd_configs",
    "dns_sd_configs",
    "openstack_sd_configs",
    "hetzner_sd_configs",
    "marathon_sd_configs",
    "nerve_sd_configs",
    "serverset_sd_configs",
    "triton_sd_configs",
    "eureka_sd_configs",
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "http_sd_configs",
    "linode_sd_configs",
    "lightsail_sd_configs",
    "scaleway_sd_configs",
    "puppetdb_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
    "ionos_sd_configs",
    "ovhcloud_sd_configs",
    "kuma_sd_configs",
    "nomad_sd_configs",
    "stackit_sd_configs",
];

impl ScrapeConfig {
    fn sd_value(&self, name: &str) -> Option<&serde_json::Value> {
        match name {
            "kubernetes_sd_configs" => self.kubernetes_sd_configs.as_ref(),
            _ => None,
        }
    }

    fn unsupported_sd(&self) -> Option<&'static str> {
        let set = [
            &self.kubernetes_sd_configs,
            &self.ec2_sd_configs,
            &self.gce_sd_configs,
            &self.dns_sd_configs,
            &self.openstack_sd_configs,
            &self.hetzner_sd_configs,
            &self.marathon_sd_configs,
            &self.nerve_sd_configs,
            &self.serverset_sd_configs,
            &self.triton_sd_configs,
            &self.eureka_sd_configs,
            &self.azure_sd_configs,
            &self.consul_sd_configs,
            &self.digitalocean_sd_configs,
            &self.docker_sd_configs,
            &self.dockerswarm_sd_configs,
            &self.http_sd_configs,
            &self.linode_sd_configs,
            &self.lightsail_sd_configs,
            &self.scaleway_sd_configs,
            &self.puppetdb_sd_configs,
            &self.uyuni_sd_configs,
            &self.vultr_sd_configs,
            &self.ionos_sd_configs,
            &self.ovhcloud_sd_configs,
            &self.kuma_sd_configs,
            &self.nomad_sd_configs,
            &self.stackit_sd_configs,
        ];
        set.iter().position(|v| v.is_some()).map(|i| UNSUPPORTED_SD[i])
    }

    /// Applies defaults from `global` and checks the job, with Prometheus's messages where
    /// Prometheus has one.
    pub fn resolve(&self, global: &GlobalConfig) -> Result<Job, String> {
        self.resolve_inner(global).map_err(|e| {
            if e.starts_with("scrape_configs[") {
                e
            } else {
                format!("scrape_configs[{}]: {e}", self.job_name)
            }
        })
    }

    fn resolve_inner(&self, global: &GlobalConfig) -> Result<Job, String> {
        let job = &self.job_name;
        if job.is_empty() {
            return Err("job_name is empty".into());
        }
        let at = |key: &str, msg: String| format!("scrape_configs[{job}]::{key}: {msg}");
        if let Some(sd) = self.unsupported_sd() {
            // Prometheus checks a discovery's HTTP client when it reads the configuration:
            // that error first, then weir's refusal of the mechanism.
            if let Some(serde_json::Value::Array(entries)) = self.sd_value(sd) {
                for entry in entries {
                    if let Some(tls) = entry.get("tls_config") {
                        let tls: PromTlsConfig = serde_json::from_value(tls.clone())
                            .map_err(|e| at(&format!("{sd}::tls_config"), e.to_string()))?;
                        tls.check_pairing().map_err(|e| at(&format!("{sd}::tls_config"), e))?;
                    }
                }
            }
            return Err(at(
                sd,
                "is not supported by weir (no service discovery backend can be reached from here); list the targets in static_configs or file_sd_configs, or generate a file_sd file".into(),
            ));
        }
        let refuse = |key: &str, what: &str| Err(at(key, format!("is not supported by weir; {what}")));
        if self.oauth2.is_some() {
            return refuse("oauth2", "use authorization (a bearer token, credentials_file) or basic_auth");
        }
        if self.proxy_url.is_some() || self.proxy_from_environment == Some(true) || self.proxy_connect_header.is_some()
        {
            return refuse("proxy_url", "weir scrapes targets directly");
        }
        if self.http_headers.is_some() {
            return refuse("http_headers", "use authorization or basic_auth for credentials");
        }
        if self.scrape_native_histograms == Some(true) || self.convert_classic_histograms_to_nhcb == Some(true) {
            return refuse(
                "scrape_native_histograms",
                "native histograms need the protobuf format; classic histograms are scraped",
            );
        }
        let global_interval = global.scrape_interval.map(|d| d.0).unwrap_or(Duration::from_secs(60));
        let global_timeout = global.scrape_timeout.map(|d| d.0).unwrap_or(Duration::from_secs(10));
        let interval = self.scrape_interval.map(|d| d.0).unwrap_or(global_interval);
        if interval.is_zero() {
            return Err(at("scrape_interval", "must be greater than 0".into()));
        }
        let timeout = match self.scrape_timeout {
            Some(t) => t.0,
            None => global_timeout.min(interval),
        };
        if timeout > interval {
            return Err(format!("scrape timeout greater than scrape interval for scrape config with job name {job:?}"));
        }
        let protocols = self
            .scrape_protocols
            .clone()
            .or_else(|| global.scrape_protocols.clone())
            .unwrap_or_else(|| DEFAULT_SCRAPE_PROTOCOLS.iter().map(|s| s.to_string()).collect());
        if protocols.is_empty() {
            return Err(at("scrape_protocols", "scrape_protocols cannot be empty".into()));
        }
        let mut seen = Vec::new();
        for p in &protocols {
            if !SCRAPE_PROTOCOLS.iter().any(|(n, _)| n == p) {
                return Err(at("scrape_protocols", format!(
                    "unknown scrape protocol {p}, supported: [OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"
                )));
            }
            if p == "PrometheusProto" {
                return Err(at(
                    "scrape_protocols",
                    "PrometheusProto is not supported by weir; use the text or OpenMetrics protocols".into(),
                ));
            }
            if seen.contains(&p.to_ascii_lowercase()) {
                return Err(at(
                    "scrape_protocols",
                    format!("duplicated protocol in scrape_protocols, got {protocols:?}"),
                ));
            }
            seen.push(p.to_ascii_lowercase());
        }
        let fallback_text = match self.fallback_scrape_protocol.as_deref() {
            None | Some("PrometheusText0.0.4") | Some("PrometheusText1.0.0") => true,
            Some("OpenMetricsText1.0.0") | Some("OpenMetricsText0.0.1") => false,
            Some(other) => {
                return Err(at(
                    "fallback_scrape_protocol",
                    format!("invalid fallback_scrape_protocol {other:?}: use PrometheusText0.0.4, PrometheusText1.0.0, OpenMetricsText0.0.1 or OpenMetricsText1.0.0"),
                ))
            }
        };
        let utf8 = match self
            .metric_name_validation_scheme
            .as_deref()
            .or(global.metric_name_validation_scheme.as_deref())
            .unwrap_or("utf8")
        {
            "utf8" | "" => true,
            "legacy" => false,
            other => {
                return Err(at(
                    "metric_name_validation_scheme",
                    format!(
                        "unknown name validation method specified, must be either '', 'legacy' or 'utf8', got {other}"
                    ),
                ))
            }
        };
        let scheme = self.scheme.clone().unwrap_or_else(|| "http".into());
        if scheme != "http" && scheme != "https" {
            return Err(at("scheme", format!("unknown scheme {scheme:?}: use http or https")));
        }
        let metrics_path = self.metrics_path.clone().unwrap_or_else(|| "/metrics".into());
        let body_size_limit = match self.body_size_limit.as_deref().or(global.body_size_limit.as_deref()) {
            Some(s) => parse_size(s).map_err(|e| at("body_size_limit", e))?,
            None => 0,
        };
        // HTTP client checks (prometheus/common HTTPClientConfig.Validate).
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err("at most one of bearer_token & bearer_token_file must be configured".into());
        }
        let auth_count =
            usize::from(self.basic_auth.is_some()) + usize::from(bearer) + usize::from(self.authorization.is_some());
        if auth_count > 1 {
            return Err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file, authorization must be configured"
                    .into(),
            );
        }
        if let Some(b) = &self.basic_auth {
            if b.username.is_empty() == b.username_file.is_none() && !b.username.is_empty() {
                return Err("at most one of basic_auth username & username_file must be configured".into());
            }
            if b.password.is_some() && b.password_file.is_some() {
                return Err("at most one of basic_auth password & password_file must be configured".into());
            }
        }
        let authorization = if let Some(a) = &self.authorization {
            let t = a.auth_type.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "Bearer".into());
            if t.eq_ignore_ascii_case("basic") {
                return Err("authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into());
            }
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err("at most one of authorization credentials & credentials_file must be configured".into());
            }
            let c = match (&a.credentials, &a.credentials_file) {
                (_, Some(f)) => {
                    check_file(f).map_err(|e| format!("error checking authorization credentials file {f:?}: {e}"))?;
                    Credentials::File(f.into())
                }
                (Some(c), None) => Credentials::Inline(c.clone()),
                (None, None) => Credentials::Inline(String::new()),
            };
            Some((t, c))
        } else if let Some(t) = &self.bearer_token {
            Some(("Bearer".into(), Credentials::Inline(t.clone())))
        } else {
            self.bearer_token_file.as_ref().map(|f| ("Bearer".to_string(), Credentials::File(f.into())))
        };
        let tls = match &self.tls_config {
            Some(t) => Some(t.resolve().map_err(|e| at("tls_config", e))?),
            None => None,
        };
        let compile = |key: &str, steps: &[RelabelConfigSource]| -> Result<Vec<RelabelConfig>, String> {
            steps.iter().enumerate().map(|(i, s)| s.compile(utf8).map_err(|e| at(&format!("{key}[{i}]"), e))).collect()
        };
        let relabel = compile("relabel_configs", &self.relabel_configs)?;
        let metric_relabel = compile("metric_relabel_configs", &self.metric_relabel_configs)?;
        let mut file_sd_configs = Vec::new();
        for (i, f) in self.file_sd_configs.iter().enumerate() {
            for file in &f.files {
                let ok = [".json", ".yml", ".yaml"].iter().any(|ext| file.ends_with(ext));
                if !ok {
                    return Err(at(
                        &format!("file_sd_configs[{i}]::files"),
                        format!("path {file:?} is not a valid file: must end in .json, .yml or .yaml"),
                    ));
                }
            }
            let refresh = f.refresh_interval.map(|d| d.0).unwrap_or(Duration::from_secs(300));
            file_sd_configs.push((f.files.clone(), refresh));
        }
        for (i, s) in self.static_configs.iter().enumerate() {
            for t in &s.targets {
                if t.contains('/') {
                    return Err(at(
                        &format!("static_configs[{i}]::targets"),
                        format!("{t:?} is not a valid hostname: a target is host:port, without scheme or path"),
                    ));
                }
            }
        }
        Ok(Job {
            name: job.clone(),
            honor_labels: self.honor_labels,
            honor_timestamps: self.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: self.track_timestamps_staleness,
            params: self.params.clone(),
            interval,
            timeout,
            accept: accept_header(&protocols),
            fallback_text,
            enable_compression: self.enable_compression.unwrap_or(true),
            metrics_path,
            scheme,
            body_size_limit,
            sample_limit: self.sample_limit.or(global.sample_limit).unwrap_or(0),
            label_limit: self.label_limit.or(global.label_limit).unwrap_or(0),
            label_name_length_limit: self.label_name_length_limit.or(global.label_name_length_limit).unwrap_or(0),
            label_value_length_limit: self.label_value_length_limit.or(global.label_value_length_limit).unwrap_or(0),
            follow_redirects: self.follow_redirects.unwrap_or(true),
            basic_auth: self.basic_auth.clone(),
            authorization,
            tls,
            static_configs: self.static_configs.clone(),
            file_sd_configs,
            http_sd: None,
            relabel,
            metric_relabel,
            external_labels: global.external_labels.clone(),
        })
    }
}

/// The `Accept` header Prometheus sends for `protocols` (`acceptHeader`).
pub fn accept_header(protocols: &[String]) -> String {
    let mut weight = SCRAPE_PROTOCOLS.len() + 1;
    let mut vals = Vec::new();
    for p in protocols {
        let Some((_, header)) = SCRAPE_PROTOCOLS.iter().find(|(n, _)| n == p) else { continue };
        let mut v = header.to_string();
        if p == "PrometheusText1.0.0" || p == "OpenMetricsText1.0.0" {
            v.push_str(";escaping=allow-utf-8");
        }
        v.push_str(&format!(";q=0.{weight}"));
        vals.push(v);
        weight -= 1;
    }
    vals.push(format!("*/*;q=0.{weight}"));
    vals.join(",")
}

fn check_file(path: &str) -> Result<(), String> {
    std::fs::metadata(path).map(|_| ()).map_err(|e| e.to_string())
}

impl PromTlsConfig {
    fn resolve(&self) -> Result<weir_core::tls::TlsClientSettings, String> {
        if self.ca.is_some() || self.cert.is_some() || self.key.is_some() {
            return Err("inline ca, cert and key are not supported by weir; use ca_file, cert_file and key_file".into());
        }
        // The pairing is checked when Prometheus reads the configuration, the files later.
        self.check_pairing()?;
        self.check_files()?;
        let version = |key: &str, v: &Option<String>| -> Result<Option<weir_core::tls::TlsVersion>, String> {
            match v.as_deref() {
                None | Some("") => Ok(None),
                Some("TLS12") => Ok(Some(weir_core::tls::TlsVersion::Tls12)),
                Some("TLS13") => Ok(Some(weir_core::tls::TlsVersion::Tls13)),
                Some(o) => Err(format!("{key}: unknown TLS version {o:?} (weir offers TLS12 and TLS13)")),
            }
        };
        Ok(weir_core::tls::TlsClientSettings {
            insecure: false,
            insecure_skip_verify: self.insecure_skip_verify,
            ca_file: self.ca_file.clone().map(PathBuf::from),
            cert_file: self.cert_file.clone().map(PathBuf::from),
            key_file: self.key_file.clone().map(PathBuf::from),
            server_name_override: self.server_name.clone().filter(|s| !s.is_empty()),
            min_version: version("min_version", &self.min_version)?,
            max_version: version("max_version", &self.max_version)?,
        })
    }

    /// A client certificate needs its key and a key its certificate (prometheus/common).
    fn check_pairing(&self) -> Result<(), String> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                Err("exactly one of key or key_file must be configured when a client certificate is configured".into())
            }
            (None, Some(_)) => {
                Err("exactly one of cert or cert_file must be configured when a client key is configured".into())
            }
            _ => Ok(()),
        }
    }

    /// The certificate and key files exist (the Collector's `checkTLSConfig`); every missing
    /// file is named (upstream stops at the first, cert_file before key_file).
    fn check_files(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        if let Some(f) = &self.cert_file {
            if let Err(e) = check_file(f) {
                missing.push(format!("error checking client cert file {f:?}: {e}"));
            }
        }
        if let Some(f) = &self.key_file {
            if let Err(e) = check_file(f) {
                missing.push(format!("error checking client key file {f:?}: {e}"));
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("; "))
        }
    }
}

impl PrometheusReceiverConfig {
    /// The start-time regex, compiled.
    pub fn start_time_regex(&self) -> Result<Option<Regex>, String> {
        match self.start_time_metric_regex.as_deref() {
            None | Some("") => Ok(None),
            Some(r) => Regex::new(r).map(Some).map_err(|e| format!("start_time_metric_regex: {e}")),
        }
    }

    /// Every scrape job, resolved (`scrape_configs` and the jobs of `scrape_config_files`).
    pub fn jobs(&self) -> Result<Vec<Job>, String> {
        let Some(config) = &self.config else { return Ok(Vec::new()) };
        let mut all = config.scrape_configs.clone();
        for pattern in &config.scrape_config_files {
            for path in expand_glob(pattern)? {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("config::scrape_config_files: cannot read {}: {e}", path.display()))?;
                all.extend(
                    super::sd::parse_scrape_config_file(&text)
                        .map_err(|e| format!("config::scrape_config_files: {}: {e}", path.display()))?,
                );
            }
        }
        let mut jobs = Vec::with_capacity(all.len());
        for sc in &all {
            if jobs.iter().any(|j: &Job| j.name == sc.job_name) {
                return Err(format!("found multiple scrape configs with job name {:?}", sc.job_name));
            }
            jobs.push(sc.resolve(&config.global).map_err(|e| format!("config::{e}"))?);
        }
        Ok(jobs)
    }
}

/// The files a pattern names: a path, or a `*` / `?` glob in its file name.
pub fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let path = PathBuf::from(pattern);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?']) {
        // As Go's filepath.Glob: a literal path matches only when the file exists.
        return Ok(if path.exists() { vec![path] } else { Vec::new() });
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let re = Regex::new(&format!("^{}$", regex::escape(name).replace(r"\*", ".*").replace(r"\?", ".")))
        .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))?;
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| re.is_match(n)))
            .map(|e| e.path())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    Ok(out)
}

impl weir_core::ComponentConfig for PrometheusReceiverConfig {
    fn validate(&self) -> Result<(), String> {
        if let Some(api) = &self.api_server {
            if api.enabled {
                let endpoint =
                    api.server_config.as_ref().and_then(|c| c.get("endpoint")).and_then(|e| e.as_str()).unwrap_or("");
                if endpoint.is_empty() {
                    return Err("invalid API server configuration settings: if api_server is enabled, it requires a non-empty server_config endpoint".into());
                }
                return Err("api_server: the Prometheus API server (agent mode) is not supported by weir: weir does not serve the Prometheus HTTP API; remove api_server or set enabled: false".into());
            }
        }
        let has_scrape_configs =
            self.config.as_ref().is_some_and(|c| !c.scrape_configs.is_empty() || !c.scrape_config_files.is_empty());
        if !has_scrape_configs && self.target_allocator.is_none() {
            return Err("no Prometheus scrape_configs or target_allocator set".into());
        }
        if let Some(c) = &self.config {
            let mut unsupported = Vec::new();
            if c.alerting.as_ref().is_some_and(|a| !a.alertmanagers.is_empty()) {
                unsupported.push("alert_config.alertmanagers");
            }
            if c.alerting.as_ref().is_some_and(|a| !a.alert_relabel_configs.is_empty()) {
                unsupported.push("alert_config.relabel_configs");
            }
            if c.remote_read.as_ref().is_some_and(non_empty) {
                unsupported.push("remote_read");
            }
            if c.remote_write.as_ref().is_some_and(non_empty) {
                unsupported.push("remote_write");
            }
            if c.rule_files.as_ref().is_some_and(non_empty) {
                unsupported.push("rule_files");
            }
            if !unsupported.is_empty() {
                return Err(format!("unsupported features:\n\t{}", unsupported.join("\n\t")));
            }
        }
        if let Some(ta) = &self.target_allocator {
            ta.validate()?;
        }
        self.start_time_regex()?;
        // Jobs in scrape_config_files are checked when the receiver starts (the files may be
        // written after the configuration).
        if let Some(c) = &self.config {
            let mut names: Vec<&str> = Vec::new();
            for sc in &c.scrape_configs {
                if names.contains(&sc.job_name.as_str()) {
                    return Err(format!("found multiple scrape configs with job name {:?}", sc.job_name));
                }
                names.push(&sc.job_name);
                sc.resolve(&c.global).map_err(|e| format!("config::{e}"))?;
            }
        }
        Ok(())
    }

    fn files(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        let Some(c) = &self.config else { return out };
        for sc in &c.scrape_configs {
            let job = &sc.job_name;
            if let Some(t) = &sc.tls_config {
                for (k, f) in [("ca_file", &t.ca_file), ("cert_file", &t.cert_file), ("key_file", &t.key_file)] {
                    if let Some(f) = f {
                        out.push((format!("config::scrape_configs[{job}]::tls_config::{k}"), PathBuf::from(f)));
                    }
                }
            }
            if let Some(f) = sc.authorization.as_ref().and_then(|a| a.credentials_file.as_ref()) {
                out.push((format!("config::scrape_configs[{job}]::authorization::credentials_file"), f.into()));
            }
            if let Some(f) = &sc.bearer_token_file {
                out.push((format!("config::scrape_configs[{job}]::bearer_token_file"), f.into()));
            }
        }
        out
    }
}

fn non_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::ComponentConfig;

    fn config(json: serde_json::Value) -> PrometheusReceiverConfig {
        serde_json::from_value(json).expect("a receiver config")
    }

    #[test]
    fn durations_in_prometheus_format() {
        assert_eq!(parse_prom_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_prom_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_prom_duration("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_prom_duration("2w").unwrap(), Duration::from_secs(14 * 86400));
        assert_eq!(parse_prom_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_prom_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "1.5s", "30m1h", "-1s", "5x"] {
            assert!(parse_prom_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scrape_config_defaults_follow_prometheus() {
        let c = config(serde_json::json!({"config": {"scrape_configs": [{"job_name": "a"}]}}));
        let jobs = c.jobs().unwrap();
        let j = &jobs[0];
        assert_eq!((j.interval, j.timeout), (Duration::from_secs(60), Duration::from_secs(10)));
        assert_eq!((j.metrics_path.as_str(), j.scheme.as_str()), ("/metrics", "http"));
        assert!(j.honor_timestamps && !j.honor_labels && j.enable_compression && j.follow_redirects);
        assert_eq!(
            j.accept,
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        // The timeout never exceeds a shorter interval; global values are the defaults.
        let c = config(
            serde_json::json!({"config": {"global": {"scrape_interval": "5s", "scrape_timeout": "20s"}, "scrape_configs": [{"job_name": "a"}]}}),
        );
        let j = &c.jobs().unwrap()[0];
        assert_eq!((j.interval, j.timeout), (Duration::from_secs(5), Duration::from_secs(5)));
    }

    #[test]
    fn validation_messages_name_the_problem() {
        let err = |json| config(json).validate().unwrap_err();
        assert_eq!(err(serde_json::json!({})), "no Prometheus scrape_configs or target_allocator set");
        assert!(err(serde_json::json!({"config": {"scrape_configs": [{"job_name": "a", "scrape_interval": "5s", "scrape_timeout": "10s"}]}}))
            .contains("scrape timeout greater than scrape interval for scrape config with job name \"a\""));
        assert!(err(serde_json::json!({"config": {"scrape_configs": [{"job_name": "a"}, {"job_name": "a"}]}}))
            .contains("found multiple scrape configs with job name \"a\""));
        assert!(err(serde_json::json!({"config": {"scrape_configs": [{"job_name": "a", "kubernetes_sd_configs": [{"role": "pod"}]}]}}))
            .contains("kubernetes_sd_configs"));
        assert!(err(serde_json::json!({"config": {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "hashmod", "target_label": "x"}]}]}}))
            .contains("relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus"));
        assert!(err(serde_json::json!({"config": {"scrape_configs": [{"job_name": "a", "authorization": {"credentials_file": "/nonexistentauthcredentialsfile"}}]}}))
            .contains("error checking authorization credentials file \"/nonexistentauthcredentialsfile\""));
        assert!(err(serde_json::json!({"config": {"scrape_configs": [{"job_name": "a", "scheme": "ftp"}]}}))
            .contains("scheme"));
        assert!(err(serde_json::json!({"target_allocator": {"endpoint": "http://x"}})).contains("target_allocator"));
        assert!(err(
            serde_json::json!({"api_server": {"enabled": true}, "config": {"scrape_configs": [{"job_name": "a"}]}})
        )
        .contains("if api_server is enabled, it requires a non-empty server_config endpoint"));
        assert_eq!(
            err(
                serde_json::json!({"config": {"scrape_configs": [{"job_name": "a"}], "remote_write": [{"url": "x"}], "rule_files": ["a"]}})
            ),
            "unsupported features:\n\tremote_write\n\trule_files"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert!(parse_size("10XB").is_err());
    }
}
