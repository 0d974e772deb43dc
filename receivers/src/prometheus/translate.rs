//! One scrape's samples to OTLP metrics, as the Collector's prometheus receiver builds them
//! (its `internal/transaction.go`, `metricfamily.go`, `prom_to_otlp.go` and
//! `metrics_adjuster.go`).
//!
//! - One resource per `job`/`instance` pair: `service.name`, `service.instance.id`,
//!   `server.address` (and the legacy `net.host.name`) when the host is not loopback or
//!   unspecified, `server.port`/`net.host.port`, `url.scheme`/`http.scheme`; `target_info`'s
//!   labels become resource attributes.
//! - Samples are grouped into families by `# TYPE` metadata: counters → cumulative monotonic
//!   sums, gauges and untyped → gauges, histograms (`_bucket`/`_sum`/`_count`) → explicit
//!   bucket histograms, summaries → summaries, info/stateset → non-monotonic sums.
//! - Start times: a point's `_created` sample when there is one; else, as the Collector's
//!   initial-point adjuster, the time the series was first seen (re-started when the value
//!   goes down); with `use_start_time_metric`, the value of `process_start_time_seconds` (or
//!   the metric `start_time_metric_regex` matches).
//! - A staleness marker (Prometheus's stale NaN) becomes a point flagged "no recorded value".

use super::relabel::Labels;
use super::textparse::{Metadata, MetricType};
use crate::translate::Attrs;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, summary_data_point::ValueAtQuantile, AggregationTemporality, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use regex::Regex;
use std::collections::HashMap;

/// The bit pattern Prometheus writes as a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The scope of the metrics the receiver makes (the Collector's `metadata.ScopeName`).
pub const SCOPE_NAME: &str = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver";
/// `DataPointFlags.NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;

/// Whether `v` is Prometheus's staleness marker.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A staleness marker.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// A sample after relabeling, with its labels (`__name__` included) and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub labels: Labels,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// What the translation knows of the scraped target.
#[derive(Debug, Clone, Default)]
pub struct TargetInfo {
    /// The target's `job` and `instance` labels (used when a sample has none).
    pub job: String,
    pub instance: String,
    /// The target's `__scheme__`.
    pub scheme: String,
    /// `global.external_labels`, set on every sample.
    pub external_labels: Labels,
}

/// The receiver's keys that change the translation.
#[derive(Debug, Clone, Default)]
pub struct TranslateOptions {
    pub trim_metric_suffixes: bool,
    /// `use_start_time_metric` with `start_time_metric_regex` (absent: the name
    /// `process_start_time_seconds`).
    pub start_time_metric: Option<Option<Regex>>,
    /// The scope version (weir's version).
    pub version: String,
}

/// Metadata of the series the scrape loop adds (the Collector's `internalMetricMetadata`).
fn internal_metadata(name: &str) -> Option<Metadata> {
    let (help, unit) = match name {
        "up" => ("The scraping was successful", ""),
        "scrape_duration_seconds" => ("Duration of the scrape", "seconds"),
        "scrape_samples_scraped" => ("The number of samples the target exposed", ""),
        "scrape_series_added" => ("The approximate number of new series in this scrape", ""),
        "scrape_samples_post_metric_relabeling" => {
            ("The number of samples remaining after metric relabeling was applied", "")
        }
        _ => return None,
    };
    Some(Metadata { metric_type: MetricType::Gauge, help: help.into(), unit: unit.into() })
}

const TRIMMABLE_SUFFIXES: [&str; 6] = ["_bucket", "_count", "_sum", "_total", "_info", "_created"];

/// The family name a series name belongs to when it has no metadata of its own.
fn normalize(name: &str) -> &str {
    for s in TRIMMABLE_SUFFIXES {
        if name != s {
            if let Some(base) = name.strip_suffix(s) {
                return base;
            }
        }
    }
    name
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Sum {
        monotonic: bool,
    },
    Histogram,
    Summary,
    /// Gauge histograms: dropped, as the Collector does.
    Dropped,
}

fn kind_of(t: MetricType) -> Kind {
    match t {
        MetricType::Counter => Kind::Sum { monotonic: true },
        MetricType::Gauge | MetricType::Unknown => Kind::Gauge,
        MetricType::Histogram => Kind::Histogram,
        MetricType::Summary => Kind::Summary,
        MetricType::Info | MetricType::StateSet => Kind::Sum { monotonic: false },
        MetricType::GaugeHistogram => Kind::Dropped,
    }
}

/// The metadata of a series (`metadataForMetric`): its own, else its family's; and the name of
/// the family it starts.
fn metadata_for(name: &str, metadata: &HashMap<String, Metadata>) -> (Metadata, String, String) {
    if let Some(m) = internal_metadata(name) {
        return (m, name.to_string(), name.to_string());
    }
    if let Some(m) = metadata.get(name) {
        return (m.clone(), name.to_string(), name.to_string());
    }
    let base = normalize(name);
    if let Some(m) = metadata.get(base) {
        let family = if m.metric_type == MetricType::Counter { name } else { base };
        return (m.clone(), family.to_string(), base.to_string());
    }
    (Metadata::default(), name.to_string(), name.to_string())
}

/// A series group of a family: one data point.
#[derive(Debug, Default)]
struct Group {
    labels: Labels,
    ts: i64,
    value: f64,
    count: f64,
    has_count: bool,
    sum: f64,
    has_sum: bool,
    created: f64,
    /// (boundary, value) of buckets or quantiles.
    complex: Vec<(f64, f64)>,
}

#[derive(Debug)]
struct Family {
    name: String,
    kind: Kind,
    metadata: Metadata,
    /// The name `# TYPE` gave (for `_created`).
    meta_name: String,
    groups: Vec<Group>,
    index: HashMap<String, usize>,
}

impl Family {
    fn includes(&self, name: &str) -> bool {
        if self.kind != Kind::Gauge {
            normalize(name) == self.name
        } else {
            name == self.name
        }
    }
}

/// Labels that are not data point attributes for a kind (`getSortedNotUsefulLabels`).
fn not_attribute(kind: Kind, name: &str) -> bool {
    matches!(name, "__name__" | "instance" | "__scheme__" | "__metrics_path__" | "job")
        || (kind == Kind::Histogram && name == "le")
        || (kind == Kind::Summary && name == "quantile")
}

fn group_key(kind: Kind, labels: &Labels) -> String {
    let mut key = String::new();
    for (k, v) in labels {
        if not_attribute(kind, k) {
            continue;
        }
        key.push_str(k);
        key.push('\u{0}');
        key.push_str(v);
        key.push('\u{1}');
    }
    key
}

fn attributes(kind: Kind, labels: &Labels) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    let mut a = Attrs::with_capacity(labels.len());
    for (k, v) in labels {
        if not_attribute(kind, k) || v.is_empty() {
            continue;
        }
        a.put_str(k, v.clone());
    }
    a.into_vec()
}

/// What one scrape's samples of one resource hold.
#[derive(Debug)]
struct ResourceBuild {
    job: String,
    instance: String,
    resource: Attrs,
    /// Scope (name, version) → families in order of first appearance.
    scopes: Vec<((String, String), Vec<Family>)>,
}

/// The resource of a target (`CreateResource`).
pub(crate) fn resource_attributes(job: &str, instance: &str, scheme: &str) -> Attrs {
    let (host, port) = split_host_port(instance);
    let mut a = Attrs::with_capacity(8);
    a.put_str("service.name", job);
    if is_discernible_host(&host) {
        a.put_str("net.host.name", host.clone());
        a.put_str("server.address", host);
    }
    a.put_str("service.instance.id", instance);
    a.put_str("net.host.port", port.clone());
    a.put_str("http.scheme", scheme);
    a.put_str("server.port", port);
    a.put_str("url.scheme", scheme);
    a
}

/// Go's `net.SplitHostPort`, with the whole string as the host (and no port) when it fails.
fn split_host_port(s: &str) -> (String, String) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once("]:") {
            return (host.to_string(), port.to_string());
        }
        return (s.to_string(), String::new());
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_string(), port.to_string()),
        _ => (s.to_string(), String::new()),
    }
}

fn is_discernible_host(host: &str) -> bool {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return !ip.is_loopback() && !ip.is_unspecified();
    }
    host != "localhost"
}

/// The state the start-time adjuster keeps of a series.
#[derive(Debug, Clone, Copy)]
struct SeriesState {
    start: u64,
    previous_value: f64,
    previous_count: f64,
    previous_sum: f64,
}

/// Builds OTLP metrics from scrapes of one target, keeping the start-time state between them.
#[derive(Debug, Default)]
pub struct Translator {
    options: TranslateOptions,
    series: HashMap<String, SeriesState>,
}

/// Why a scrape's metrics were not built.
#[derive(Debug, Clone, PartialEq)]
pub enum TranslateError {
    /// `use_start_time_metric` is set and the scrape has no start time metric.
    NoStartTimeMetric,
}

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranslateError::NoStartTimeMetric => f.write_str("start_time metric is missing"),
        }
    }
}

impl Translator {
    pub fn new(options: TranslateOptions) -> Translator {
        Translator { options, series: HashMap::new() }
    }

    /// Translates one scrape's points (report series included).
    pub fn translate(
        &mut self,
        target: &TargetInfo,
        points: &[Point],
        metadata: &HashMap<String, Metadata>,
    ) -> Result<Vec<ResourceMetrics>, TranslateError> {
        let mut resources: Vec<ResourceBuild> = Vec::new();
        for p in points {
            let mut labels = p.labels.clone();
            for (k, v) in &target.external_labels {
                labels.insert(k.clone(), v.clone());
            }
            let Some(name) = labels.get("__name__").cloned() else { continue };
            let job = labels.get("job").cloned().unwrap_or_else(|| target.job.clone());
            let instance = labels.get("instance").cloned().unwrap_or_else(|| target.instance.clone());
            if job.is_empty() || instance.is_empty() {
                continue;
            }
            let ri = match resources.iter().position(|r| r.job == job && r.instance == instance) {
                Some(i) => i,
                None => {
                    let resource = resource_attributes(&job, &instance, &target.scheme);
                    resources.push(ResourceBuild { job, instance, resource, scopes: Vec::new() });
                    resources.len() - 1
                }
            };
            let r = &mut resources[ri];
            if name == "target_info" {
                for (k, v) in &labels {
                    if k != "job" && k != "instance" && k != "__name__" {
                        r.resource.put_str(k, v.clone());
                    }
                }
                continue;
            }
            if name == "otel_scope_info" {
                continue;
            }
            let scope = (
                labels.get("otel_scope_name").cloned().unwrap_or_default(),
                labels.get("otel_scope_version").cloned().unwrap_or_default(),
            );
            let si = match r.scopes.iter().position(|(s, _)| *s == scope) {
                Some(i) => i,
                None => {
                    r.scopes.push((scope, Vec::new()));
                    r.scopes.len() - 1
                }
            };
            let families = &mut r.scopes[si].1;
            // An OpenMetrics counter's `_created` sample is the start time of its `_total`
            // series (the Collector ingests created timestamps, not `_created` series).
            let counter_total = name.strip_suffix("_created").and_then(|base| {
                let counter = metadata.get(base).is_some_and(|m| m.metric_type == MetricType::Counter);
                let total = format!("{base}_total");
                counter.then(|| families.iter().position(|f| f.name == total || f.name == base)).flatten()
            });
            let fi = match counter_total.or_else(|| families.iter().position(|f| f.name == name)) {
                Some(i) => Some(i),
                None => {
                    let key = if metadata.contains_key(&name) || internal_metadata(&name).is_some() {
                        name.as_str()
                    } else {
                        normalize(&name)
                    };
                    families.iter().position(|f| f.name == key && f.includes(&name))
                }
            };
            let fi = match fi {
                Some(i) => i,
                None => {
                    let (md, family, meta_name) = metadata_for(&name, metadata);
                    families.push(Family {
                        name: family,
                        kind: kind_of(md.metric_type),
                        metadata: md,
                        meta_name,
                        groups: Vec::new(),
                        index: HashMap::new(),
                    });
                    families.len() - 1
                }
            };
            let f = &mut families[fi];
            let key = group_key(f.kind, &labels);
            let gi = match f.index.get(&key) {
                Some(i) => *i,
                None => {
                    f.groups.push(Group { labels: labels.clone(), ts: p.timestamp_ms, ..Default::default() });
                    f.index.insert(key, f.groups.len() - 1);
                    f.groups.len() - 1
                }
            };
            let created_name = format!("{}_created", f.meta_name);
            let g = &mut f.groups[gi];
            match f.kind {
                Kind::Histogram | Kind::Summary => {
                    if name.ends_with("_sum") {
                        g.sum = p.value;
                        g.has_sum = true;
                    } else if name.ends_with("_count") {
                        g.ts = p.timestamp_ms;
                        g.count = p.value;
                        g.has_count = true;
                    } else if name == created_name {
                        g.created = p.value;
                    } else {
                        let label = if f.kind == Kind::Histogram { "le" } else { "quantile" };
                        match labels.get(label).filter(|v| !v.is_empty()).and_then(|v| super::textparse::parse_value(v))
                        {
                            Some(b) => g.complex.push((b, p.value)),
                            None => tracing::debug!(
                                message = "Failed to add datapoint: no boundary label.",
                                metric_name = %name,
                                label
                            ),
                        }
                    }
                }
                Kind::Sum { .. } => {
                    if name == created_name {
                        g.created = p.value;
                    } else {
                        g.value = p.value;
                    }
                }
                Kind::Gauge | Kind::Dropped => g.value = p.value,
            }
        }
        let mut out = Vec::with_capacity(resources.len());
        for r in resources {
            let mut scope_metrics = Vec::new();
            for ((scope_name, scope_version), families) in r.scopes {
                let (name, version) = if scope_name.is_empty() && scope_version.is_empty() {
                    (SCOPE_NAME.to_string(), self.options.version.clone())
                } else {
                    (scope_name, scope_version)
                };
                let metrics: Vec<Metric> = families.iter().filter_map(|f| self.metric(f)).collect();
                if metrics.is_empty() {
                    continue;
                }
                scope_metrics.push(ScopeMetrics {
                    scope: Some(InstrumentationScope { name, version, ..Default::default() }),
                    metrics,
                    schema_url: String::new(),
                });
            }
            if scope_metrics.is_empty() {
                continue;
            }
            out.push(ResourceMetrics {
                resource: Some(Resource { attributes: r.resource.into_vec(), ..Default::default() }),
                scope_metrics,
                schema_url: String::new(),
            });
        }
        self.adjust(&mut out)?;
        Ok(out)
    }

    fn metric(&self, f: &Family) -> Option<Metric> {
        let name = if self.options.trim_metric_suffixes {
            trim_suffixes(&f.name, matches!(f.kind, Kind::Sum { .. }), &f.metadata.unit)
        } else {
            f.name.clone()
        };
        let data = match f.kind {
            Kind::Dropped => return None,
            Kind::Gauge => metric::Data::Gauge(Gauge {
                data_points: f.groups.iter().map(|g| number_point(g, Kind::Gauge)).collect(),
            }),
            Kind::Sum { monotonic } => metric::Data::Sum(Sum {
                data_points: f.groups.iter().map(|g| number_point(g, f.kind)).collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: monotonic,
            }),
            Kind::Histogram => metric::Data::Histogram(Histogram {
                data_points: f.groups.iter().filter_map(histogram_point).collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
            Kind::Summary => {
                metric::Data::Summary(Summary { data_points: f.groups.iter().filter_map(summary_point).collect() })
            }
        };
        let mut md = Attrs::with_capacity(1);
        md.put_str("prometheus.type", f.metadata.metric_type.as_str());
        Some(Metric {
            name,
            description: f.metadata.help.clone(),
            unit: unit_to_ucum(&f.metadata.unit),
            metadata: md.into_vec(),
            data: Some(data),
        })
    }

    /// The start-time adjusters (`initialPointAdjuster`, `startTimeMetricAdjuster`).
    fn adjust(&mut self, out: &mut [ResourceMetrics]) -> Result<(), TranslateError> {
        let point_time_for_reset = self.options.start_time_metric.is_some();
        if let Some(regex) = &self.options.start_time_metric {
            let start = start_time_value(out, regex.as_ref()).ok_or(TranslateError::NoStartTimeMetric)?;
            let start = timestamp_from_secs(start);
            for_each_cumulative(out, |_, _, s| *s.start = start);
        }
        let series = &mut self.series;
        for_each_cumulative(out, |metric_name, resource_key, p| {
            let key = format!("{resource_key}\u{2}{metric_name}\u{2}{}", p.attrs_key);
            let Some(state) = series.get_mut(&key) else {
                series.insert(
                    key,
                    SeriesState {
                        start: *p.start,
                        previous_value: p.value,
                        previous_count: p.count,
                        previous_sum: p.sum,
                    },
                );
                return;
            };
            if p.stale {
                *p.start = state.start;
                return;
            }
            let reset = match p.kind {
                Kind::Sum { .. } => p.value < state.previous_value,
                Kind::Histogram => p.count < state.previous_count || p.sum < state.previous_sum,
                Kind::Summary => {
                    (p.count != 0.0 && state.previous_count != 0.0 && p.count < state.previous_count)
                        || (p.sum != 0.0 && state.previous_sum != 0.0 && p.sum < state.previous_sum)
                }
                _ => false,
            };
            state.previous_value = p.value;
            state.previous_count = p.count;
            state.previous_sum = p.sum;
            if reset {
                state.start = if point_time_for_reset { p.time } else { *p.start };
                *p.start = state.start;
                return;
            }
            *p.start = state.start;
        });
        Ok(())
    }
}

/// A cumulative point as the adjusters see it.
struct PointRef<'a> {
    kind: Kind,
    attrs_key: String,
    start: &'a mut u64,
    time: u64,
    value: f64,
    count: f64,
    sum: f64,
    stale: bool,
}

/// A point's series key: its attributes, which come from a label set in name order.
fn attrs_key(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let mut key = String::with_capacity(attrs.len() * 16);
    for kv in attrs {
        key.push_str(&kv.key);
        key.push('\u{0}');
        if let Some(Value::StringValue(v)) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            key.push_str(v);
        }
        key.push('\u{1}');
    }
    key
}

fn for_each_cumulative(out: &mut [ResourceMetrics], mut f: impl FnMut(&str, &str, PointRef<'_>)) {
    for rm in out.iter_mut() {
        let resource = rm.resource.as_ref().map(|r| Attrs(r.attributes.clone())).unwrap_or_default();
        let resource_key = format!(
            "{}\u{3}{}",
            resource.get_str("service.name").unwrap_or(""),
            resource.get_str("service.instance.id").unwrap_or("")
        );
        for sm in rm.scope_metrics.iter_mut() {
            for m in sm.metrics.iter_mut() {
                let name = m.name.clone();
                match m.data.as_mut() {
                    Some(metric::Data::Sum(s)) => {
                        for p in s.data_points.iter_mut() {
                            let value = match p.value {
                                Some(number_data_point::Value::AsDouble(v)) => v,
                                _ => 0.0,
                            };
                            f(
                                &name,
                                &resource_key,
                                PointRef {
                                    kind: Kind::Sum { monotonic: s.is_monotonic },
                                    attrs_key: attrs_key(&p.attributes),
                                    time: p.time_unix_nano,
                                    value,
                                    count: 0.0,
                                    sum: 0.0,
                                    stale: p.flags & NO_RECORDED_VALUE != 0,
                                    start: &mut p.start_time_unix_nano,
                                },
                            )
                        }
                    }
                    Some(metric::Data::Histogram(h)) => {
                        for p in h.data_points.iter_mut() {
                            f(
                                &name,
                                &resource_key,
                                PointRef {
                                    kind: Kind::Histogram,
                                    attrs_key: attrs_key(&p.attributes),
                                    time: p.time_unix_nano,
                                    value: 0.0,
                                    count: p.count as f64,
                                    sum: p.sum.unwrap_or(0.0),
                                    stale: p.flags & NO_RECORDED_VALUE != 0,
                                    start: &mut p.start_time_unix_nano,
                                },
                            )
                        }
                    }
                    Some(metric::Data::Summary(s)) => {
                        for p in s.data_points.iter_mut() {
                            f(
                                &name,
                                &resource_key,
                                PointRef {
                                    kind: Kind::Summary,
                                    attrs_key: attrs_key(&p.attributes),
                                    time: p.time_unix_nano,
                                    value: 0.0,
                                    count: p.count as f64,
                                    sum: p.sum,
                                    stale: p.flags & NO_RECORDED_VALUE != 0,
                                    start: &mut p.start_time_unix_nano,
                                },
                            )
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The value of the start time metric (first point of a gauge or sum named so).
fn start_time_value(out: &[ResourceMetrics], regex: Option<&Regex>) -> Option<f64> {
    for rm in out {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let matches = match regex {
                    Some(r) => r.is_match(&m.name),
                    None => m.name == "process_start_time_seconds",
                };
                if !matches {
                    continue;
                }
                let point = match &m.data {
                    Some(metric::Data::Gauge(g)) => g.data_points.first(),
                    Some(metric::Data::Sum(s)) => s.data_points.first(),
                    _ => None,
                };
                if let Some(number_data_point::Value::AsDouble(v)) = point.and_then(|p| p.value) {
                    return Some(v);
                }
            }
        }
    }
    None
}

fn timestamp_from_ms(ms: i64) -> u64 {
    (ms.max(0) as u64).saturating_mul(1_000_000)
}

/// Seconds as a float to Unix nanoseconds (`timestampFromFloat64`).
fn timestamp_from_secs(ts: f64) -> u64 {
    let secs = ts.trunc();
    let nanos = ((ts - secs) * 1e9) as i64;
    ((secs as i64).saturating_mul(1_000_000_000) + nanos).max(0) as u64
}

fn number_point(g: &Group, kind: Kind) -> NumberDataPoint {
    let time = timestamp_from_ms(g.ts);
    let mut p = NumberDataPoint { attributes: attributes(kind, &g.labels), time_unix_nano: time, ..Default::default() };
    if let Kind::Sum { .. } = kind {
        p.start_time_unix_nano = if g.created != 0.0 { timestamp_from_secs(g.created) } else { time };
    }
    if is_stale_nan(g.value) {
        p.flags = NO_RECORDED_VALUE;
    } else {
        p.value = Some(number_data_point::Value::AsDouble(g.value));
    }
    p
}

fn histogram_point(g: &Group) -> Option<HistogramDataPoint> {
    if !g.has_count {
        return None;
    }
    let mut buckets = g.complex.clone();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut n = buckets.len() + 1;
    if n > 1 && buckets[n - 2].0 == f64::INFINITY {
        n -= 1;
    }
    let stale = is_stale_nan(g.sum) || is_stale_nan(g.count);
    let mut bounds = Vec::with_capacity(n - 1);
    let mut counts = Vec::with_capacity(n);
    for i in 0..n - 1 {
        bounds.push(buckets[i].0);
        let c = if stale {
            0.0
        } else if i != 0 {
            buckets[i].1 - buckets[i - 1].1
        } else {
            buckets[i].1
        };
        counts.push(c as u64);
    }
    let last = if stale {
        0.0
    } else if n > 1 {
        g.count - buckets[n - 2].1
    } else {
        g.count
    };
    counts.push(last as u64);
    let time = timestamp_from_ms(g.ts);
    let mut p = HistogramDataPoint {
        attributes: attributes(Kind::Histogram, &g.labels),
        start_time_unix_nano: if g.created != 0.0 { timestamp_from_secs(g.created) } else { time },
        time_unix_nano: time,
        bucket_counts: counts,
        explicit_bounds: bounds,
        ..Default::default()
    };
    if stale {
        p.flags = NO_RECORDED_VALUE;
    } else {
        p.count = g.count as u64;
        if g.has_sum {
            p.sum = Some(g.sum);
        }
    }
    Some(p)
}

fn summary_point(g: &Group) -> Option<SummaryDataPoint> {
    if !g.has_count {
        return None;
    }
    let mut quantiles = g.complex.clone();
    quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
    let stale = is_stale_nan(g.sum) || is_stale_nan(g.count);
    let time = timestamp_from_ms(g.ts);
    let mut p = SummaryDataPoint {
        attributes: attributes(Kind::Summary, &g.labels),
        start_time_unix_nano: if g.created != 0.0 { timestamp_from_secs(g.created) } else { time },
        time_unix_nano: time,
        quantile_values: quantiles
            .iter()
            .map(|(q, v)| ValueAtQuantile { quantile: *q, value: if stale { 0.0 } else { *v } })
            .collect(),
        ..Default::default()
    };
    if stale {
        p.flags = NO_RECORDED_VALUE;
    } else {
        if g.has_sum {
            p.sum = g.sum;
        }
        p.count = g.count as u64;
    }
    Some(p)
}

/// `TrimPromSuffixes`: drops `_total` of a sum and the unit's words at the end.
pub fn trim_suffixes(name: &str, is_sum: bool, unit: &str) -> String {
    let mut tokens: Vec<&str> = name.split('_').collect();
    if tokens.len() == 1 {
        return name.to_string();
    }
    if is_sum && tokens.last() == Some(&"total") {
        tokens.pop();
    }
    let unit_tokens: Vec<&str> = unit.split('_').collect();
    let (l, lu) = (tokens.len(), unit_tokens.len());
    if lu > 0 && l > lu && (0..lu).all(|i| tokens[l - i - 1] == unit_tokens[lu - i - 1]) {
        tokens.truncate(l - lu);
    }
    tokens.join("_")
}

/// `UnitWordToUCUM`: Prometheus unit words to UCUM (`seconds` → `s`, `bytes_per_second` →
/// `By/s`).
pub fn unit_to_ucum(unit: &str) -> String {
    let word = |w: &str| -> String {
        match w {
            "days" => "d",
            "hours" => "h",
            "minutes" => "min",
            "seconds" => "s",
            "milliseconds" => "ms",
            "microseconds" => "us",
            "nanoseconds" => "ns",
            "bytes" => "By",
            "kibibytes" => "KiBy",
            "mebibytes" => "MiBy",
            "gibibytes" => "GiBy",
            "tibibytes" => "TiBy",
            "kilobytes" => "KBy",
            "megabytes" => "MBy",
            "gigabytes" => "GBy",
            "terabytes" => "TBy",
            "meters" => "m",
            "volts" => "V",
            "amperes" => "A",
            "joules" => "J",
            "watts" => "W",
            "grams" => "g",
            "celsius" => "Cel",
            "hertz" => "Hz",
            "ratio" => "1",
            "percent" => "%",
            other => other,
        }
        .to_string()
    };
    let per = |w: &str| -> String {
        match w {
            "second" => "s",
            "minute" => "m",
            "hour" => "h",
            "day" => "d",
            "week" => "w",
            "month" => "mo",
            "year" => "y",
            other => other,
        }
        .to_string()
    };
    match unit.split_once("_per_") {
        Some((a, b)) if !b.is_empty() => format!("{}/{}", word(a), per(b)),
        Some((a, _)) => word(a),
        None => word(unit),
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
