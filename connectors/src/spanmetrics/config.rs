//! `spanmetrics` connector settings: the Collector's keys and defaults.

use serde::{Deserialize, Deserializer};
use std::time::Duration;
use weir_core::ComponentConfig;

/// The Collector's default histogram bounds, in milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 16] =
    [2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0, 10_000.0, 15_000.0];

/// The default metric name prefix.
pub const DEFAULT_NAMESPACE: &str = "traces.span.metrics";

/// The dimensions every series has, in the order they are written.
pub const SERVICE_NAME: &str = "service.name";
pub const SPAN_NAME: &str = "span.name";
pub const SPAN_KIND: &str = "span.kind";
pub const STATUS_CODE: &str = "status.code";
pub const RESERVED_DIMENSIONS: [&str; 4] = [SERVICE_NAME, SPAN_NAME, SPAN_KIND, STATUS_CODE];

/// Settings of the `spanmetrics` connector (traces → metrics).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// The duration histogram: `explicit` (default) or `exponential` buckets, its `unit`, or
    /// `disable: true`.
    pub histogram: HistogramConfig,
    /// Dimensions added to the defaults (`service.name`, `span.name`, `span.kind`,
    /// `status.code`): each `name` is looked up in the span's attributes, then in its
    /// resource's; when absent, `default` is used, or the dimension is left out.
    pub dimensions: Vec<Dimension>,
    /// Default dimensions to leave out (e.g. `[status.code]`).
    pub exclude_dimensions: Vec<String>,
    /// The Collector's cache of built attribute sets, 1000 by default. weir keeps the
    /// attributes with each series, so this key is accepted and checked (it must be greater
    /// than 0) and changes nothing; series are bounded by `aggregation_cardinality_limit`.
    pub dimensions_cache_size: usize,
    /// Resources whose series are kept, 1000 by default; past it, the resource seen least
    /// recently is dropped with its series (a cumulative series then starts again).
    pub resource_metrics_cache_size: usize,
    /// The resource attributes that tell resources apart (default: all of them). Spans of
    /// resources that agree on these share series.
    pub resource_metrics_key_attributes: Vec<String>,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` (default) or `AGGREGATION_TEMPORALITY_DELTA`.
    pub aggregation_temporality: String,
    /// How often metrics are emitted. Default 60s.
    #[serde(with = "weir_core::config::duration")]
    pub metrics_flush_interval: Duration,
    /// A resource whose spans stop for this long is no longer emitted (cumulative only).
    /// Default 0: never.
    #[serde(with = "weir_core::config::duration")]
    pub metrics_expiration: Duration,
    /// Delta temporality: how many series remember when they were last emitted, so that the
    /// next point starts there. Default 1000.
    pub metric_timestamp_cache_size: usize,
    /// Exemplars: the span's trace and span id with its duration, on the `calls` and
    /// `duration` points of the interval.
    pub exemplars: ExemplarsConfig,
    /// Prefix of the metric names (`<namespace>.calls`). Default `traces.span.metrics`; empty
    /// gives `calls`, `duration`, `events`.
    pub namespace: String,
    /// The `events` metric: span events counted per series and `events.dimensions`.
    pub events: EventsConfig,
    /// Scope names whose spans get `span.instrumentation.scope.name` and `.version`
    /// dimensions.
    pub include_instrumentation_scope: Vec<String>,
    /// Series per resource; past it, new dimension sets are counted in one overflow series
    /// with the single attribute `otel.metric.overflow: true`. Default 0: no limit.
    pub aggregation_cardinality_limit: usize,
    /// Copy the span resource's attributes onto the metrics' resource. weir has no
    /// `connector.spanmetrics.excludeResourceMetrics` gate and always copies them (the
    /// Collector's behaviour with the gate off), so `true` and `false` give the same output.
    pub add_resource_attributes: bool,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            histogram: HistogramConfig::default(),
            dimensions: Vec::new(),
            exclude_dimensions: Vec::new(),
            dimensions_cache_size: 1000,
            resource_metrics_cache_size: 1000,
            resource_metrics_key_attributes: Vec::new(),
            aggregation_temporality: CUMULATIVE.into(),
            metrics_flush_interval: Duration::from_secs(60),
            metrics_expiration: Duration::ZERO,
            metric_timestamp_cache_size: 1000,
            exemplars: ExemplarsConfig::default(),
            namespace: DEFAULT_NAMESPACE.into(),
            events: EventsConfig::default(),
            include_instrumentation_scope: Vec::new(),
            aggregation_cardinality_limit: 0,
            add_resource_attributes: false,
        }
    }
}

pub const CUMULATIVE: &str = "AGGREGATION_TEMPORALITY_CUMULATIVE";
pub const DELTA: &str = "AGGREGATION_TEMPORALITY_DELTA";

/// One added dimension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// The attribute looked up (span first, then resource).
    pub name: String,
    /// The value when the attribute is absent; without it the dimension is left out.
    #[serde(default)]
    pub default: Option<String>,
}

/// `histogram`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    /// No duration histogram at all.
    pub disable: bool,
    /// `ms` (default) or `s`: the unit durations are recorded in.
    pub unit: HistogramUnit,
    /// Explicit bucket bounds.
    pub explicit: Option<ExplicitConfig>,
    /// Base-2 exponential buckets.
    pub exponential: Option<ExponentialConfig>,
}

/// The unit of the duration histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum HistogramUnit {
    #[default]
    #[serde(rename = "ms")]
    Milliseconds,
    #[serde(rename = "s")]
    Seconds,
}

impl HistogramUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            HistogramUnit::Milliseconds => "ms",
            HistogramUnit::Seconds => "s",
        }
    }

    /// Nanoseconds per unit.
    pub fn nanos(self) -> f64 {
        match self {
            HistogramUnit::Milliseconds => 1e6,
            HistogramUnit::Seconds => 1e9,
        }
    }
}

/// `histogram::explicit`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplicitConfig {
    /// The bucket bounds as durations (`[2ms, 4ms, 1s]`). Default the Collector's 16 bounds
    /// from 2ms to 15s.
    #[serde(deserialize_with = "durations")]
    pub buckets: Option<Vec<Duration>>,
}

/// `histogram::exponential`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExponentialConfig {
    /// Buckets at most, per sign. Default 160.
    pub max_size: i32,
}

impl Default for ExponentialConfig {
    fn default() -> Self {
        ExponentialConfig { max_size: 160 }
    }
}

/// `exemplars`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    /// Attach exemplars. Default false.
    pub enabled: bool,
    /// Exemplars kept per data point and interval. Default: all of the interval's spans.
    pub max_per_data_point: Option<usize>,
}

/// `events`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Emit `<namespace>.events`. Default false.
    pub enabled: bool,
    /// Event attributes (then resource attributes) added to the series' dimensions.
    pub dimensions: Vec<Dimension>,
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Duration>>, D::Error> {
    let raw: Option<Vec<String>> = Option::deserialize(d)?;
    raw.map(|v| v.iter().map(|s| weir_core::config::duration::parse(s).map_err(serde::de::Error::custom)).collect())
        .transpose()
}

impl SpanMetricsConfig {
    pub fn is_delta(&self) -> bool {
        self.aggregation_temporality == DELTA
    }

    /// The histogram bounds in the histogram's unit.
    pub fn bounds(&self) -> Vec<f64> {
        let unit = self.histogram.unit.nanos();
        match self.histogram.explicit.as_ref().and_then(|e| e.buckets.as_ref()) {
            Some(b) => b.iter().map(|d| d.as_nanos() as f64 / unit).collect(),
            None => DEFAULT_BUCKETS_MS.iter().map(|ms| ms * 1e6 / unit).collect(),
        }
    }

    /// `<namespace>.<name>`, or `<name>` without a namespace.
    pub fn metric_name(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.namespace)
        }
    }
}

fn check_dimensions(key: &str, dims: &[Dimension]) -> Result<(), String> {
    let mut seen: Vec<&str> = RESERVED_DIMENSIONS.to_vec();
    for d in dims {
        if d.name.is_empty() {
            return Err(format!("{key}: a dimension needs a name"));
        }
        if seen.contains(&d.name.as_str()) {
            return Err(format!("{key}: duplicate dimension name {}", d.name));
        }
        seen.push(&d.name);
    }
    Ok(())
}

impl ComponentConfig for SpanMetricsConfig {
    fn validate(&self) -> Result<(), String> {
        check_dimensions("dimensions", &self.dimensions)?;
        if self.events.enabled {
            if self.events.dimensions.is_empty() {
                return Err("events::dimensions: no dimensions configured for events".into());
            }
            check_dimensions("events::dimensions", &self.events.dimensions)?;
        }
        if self.histogram.explicit.is_some() && self.histogram.exponential.is_some() {
            return Err("histogram: use either `explicit` or `exponential` buckets histogram".into());
        }
        if let Some(e) = &self.histogram.exponential {
            if e.max_size < 2 {
                return Err(format!("histogram::exponential::max_size must be at least 2, not {}", e.max_size));
            }
        }
        let bounds = self.bounds();
        if bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err("histogram::explicit::buckets must be in increasing order".into());
        }
        if self.aggregation_temporality != CUMULATIVE && self.aggregation_temporality != DELTA {
            return Err(format!(
                "aggregation_temporality must be {CUMULATIVE} or {DELTA}, not {:?}",
                self.aggregation_temporality
            ));
        }
        if self.metrics_flush_interval.is_zero() {
            return Err("metrics_flush_interval must be greater than 0".into());
        }
        if self.dimensions_cache_size == 0 {
            return Err("dimensions_cache_size must be greater than 0".into());
        }
        if self.resource_metrics_cache_size == 0 {
            return Err("resource_metrics_cache_size must be greater than 0".into());
        }
        if self.is_delta() && self.metric_timestamp_cache_size == 0 {
            return Err("metric_timestamp_cache_size must be greater than 0 with delta temporality".into());
        }
        Ok(())
    }
}
