//! `cumulativetodelta` settings, with the Collector's keys, defaults and validation messages:
//! `include` / `exclude` (metric names, `match_type` `strict` or `regexp`, `metric_types`
//! `sum` / `histogram`), `max_staleness` and `initial_value`.

use regex::Regex;
use serde::Deserialize;
use std::time::Duration;
use weir_core::ComponentConfig;

/// Settings of the `cumulativetodelta` processor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CumulativeToDeltaConfig {
    /// How long a series' state lives past the last point seen for it; `0` (the default) keeps
    /// it for as long as weir runs. A series seen again after its state went is treated as new
    /// (its first point follows `initial_value`).
    #[serde(with = "weir_core::config::duration")]
    pub max_staleness: Duration,
    /// What to do with the first point of a series: `auto` (default), `keep` or `drop`.
    pub initial_value: InitialValue,
    /// weir's bound on memory: at most this many series are tracked (default 1,000,000; a series
    /// costs its identity bytes plus about 100 bytes); the points of further new series are
    /// not sent (counted, logged) until `max_staleness` frees room. The Collector has no bound.
    pub max_streams: usize,
    /// The metrics to convert; when neither `include` nor `exclude` is set, every monotonic
    /// cumulative sum and every cumulative histogram is converted.
    pub include: MatchMetrics,
    /// The metrics not to convert; exclude wins over include.
    pub exclude: MatchMetrics,
}

/// The default of `max_streams`.
pub const DEFAULT_MAX_STREAMS: usize = 1_000_000;

impl Default for CumulativeToDeltaConfig {
    fn default() -> CumulativeToDeltaConfig {
        CumulativeToDeltaConfig {
            max_staleness: Duration::ZERO,
            initial_value: InitialValue::default(),
            max_streams: DEFAULT_MAX_STREAMS,
            include: MatchMetrics::default(),
            exclude: MatchMetrics::default(),
        }
    }
}

/// The first point of a series (nothing to subtract from yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialValue {
    /// Send it as a delta only when its start time is set, after weir started, and not equal
    /// to its timestamp (a counter that started while weir ran had no earlier value);
    /// otherwise keep it as the base and send nothing (the Collector's default, for gateways).
    #[default]
    Auto,
    /// Send its value as the delta (a sidecar, whose lifetime is the source's). As in the
    /// Collector, the point is sent with no start time.
    Keep,
    /// Keep it as the base, send nothing.
    Drop,
}

/// `include` / `exclude`: the Collector's `filterset` settings plus metric types.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchMetrics {
    /// `strict` (the name equals an entry) or `regexp` (an entry matches somewhere in the
    /// name, as Go's `regexp.MatchString`). Required with `metrics`.
    pub match_type: String,
    /// Metric names or patterns.
    pub metrics: Option<Vec<String>>,
    /// `sum` and/or `histogram` (case-insensitive).
    pub metric_types: Vec<String>,
    /// The Collector's regexp cache settings; accepted (weir compiles each pattern once).
    pub regexp: Option<serde::de::IgnoredAny>,
}

const VALID_TYPES: &str = "[sum histogram]";

/// The metric kinds the processor converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertedKind {
    Sum,
    Histogram,
}

/// A compiled `include` or `exclude`.
#[derive(Debug, Clone, Default)]
pub struct MetricFilter {
    names: Option<NameFilter>,
    kinds: Vec<ConvertedKind>,
}

#[derive(Debug, Clone)]
enum NameFilter {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl MetricFilter {
    /// Whether the filter names `name` (a filter without names names none: callers check
    /// [`MetricFilter::has_names`]).
    fn names_match(&self, name: &str) -> bool {
        match &self.names {
            Some(NameFilter::Strict(names)) => names.iter().any(|n| n == name),
            Some(NameFilter::Regexp(patterns)) => patterns.iter().any(|p| p.is_match(name)),
            None => false,
        }
    }

    /// The Collector's rule: a metric is converted when it passes include (names and types,
    /// each only when given) and exclude names neither its name nor its type.
    pub fn convert(include: &MetricFilter, exclude: &MetricFilter, name: &str, kind: ConvertedKind) -> bool {
        (include.names.is_none() || include.names_match(name))
            && (include.kinds.is_empty() || include.kinds.contains(&kind))
            && (exclude.names.is_none() || !exclude.names_match(name))
            && (exclude.kinds.is_empty() || !exclude.kinds.contains(&kind))
    }
}

impl MatchMetrics {
    fn compile(&self, key: &str) -> Result<MetricFilter, String> {
        let names = self.metrics.as_deref().unwrap_or_default();
        let names = match self.match_type.as_str() {
            "" => None,
            "strict" => Some(NameFilter::Strict(names.to_vec())),
            "regexp" => Some(NameFilter::Regexp(
                names
                    .iter()
                    .map(|p| {
                        Regex::new(p).map_err(|e| format!("{key}.metrics: {p:?} is not a regular expression: {e}"))
                    })
                    .collect::<Result<_, _>>()?,
            )),
            other => {
                return Err(format!(
                    "{key}.match_type: unrecognized match_type: '{other}', valid types are: [regexp strict]"
                ))
            }
        };
        let kinds = self
            .metric_types
            .iter()
            .map(|t| match t.to_ascii_lowercase().as_str() {
                "sum" => Ok(ConvertedKind::Sum),
                "histogram" => Ok(ConvertedKind::Histogram),
                _ => {
                    Err(format!("found invalid metric type in {key}.metric_types: {t}. Valid values are {VALID_TYPES}"))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(MetricFilter { names, kinds })
    }
}

impl CumulativeToDeltaConfig {
    /// `include` and `exclude`, compiled.
    pub fn filters(&self) -> Result<(MetricFilter, MetricFilter), String> {
        // The Collector checks the two `match_type` rules over both filters first, then the
        // metric types (exclude's before include's).
        let names = |m: &MatchMetrics| !m.metrics.as_deref().unwrap_or_default().is_empty();
        if [&self.include, &self.exclude].iter().any(|m| names(m) && m.match_type.is_empty()) {
            return Err("match_type must be set if metrics are supplied".into());
        }
        if [&self.include, &self.exclude].iter().any(|m| !names(m) && !m.match_type.is_empty()) {
            return Err("metrics must be supplied if match_type is set".into());
        }
        let exclude = self.exclude.compile("exclude")?;
        let include = self.include.compile("include")?;
        Ok((include, exclude))
    }
}

impl ComponentConfig for CumulativeToDeltaConfig {
    fn validate(&self) -> Result<(), String> {
        if self.max_streams == 0 {
            return Err("max_streams must be at least 1".into());
        }
        self.filters().map(|_| ())
    }
}
