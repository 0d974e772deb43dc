//! `filter` settings, with the Collector's OTTL keys: `error_mode`, `traces.span`,
//! `traces.spanevent`, `metrics.metric`, `metrics.datapoint`, `logs.log_record`. Each is a
//! list of conditions ORed together: an item any of them matches is dropped. Paths may omit
//! the context's name (`attributes["k"]` in `traces.span` is the span's). The legacy
//! `include` / `exclude` / `spans` form is refused with the OTTL equivalent to use.

use serde::Deserialize;
use weir_core::config::yaml::RawNode;
use weir_core::ComponentConfig;
use weir_core::Signal;
use weir_ottl::{Conditions, ContextKind, ErrorMode, FilterSpec, Source};

/// Settings of the `filter` processor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// What a failing condition does: `propagate` (default, as in the Collector's filter) fails
    /// the request, `ignore` logs and treats the condition as false (the item is kept),
    /// `silent` the same without logging.
    pub error_mode: ErrorMode,
    pub traces: TracesConditions,
    pub metrics: MetricsConditions,
    pub logs: LogsConditions,
    /// Legacy (refused).
    pub spans: Option<RawNode>,
}

impl Default for FilterConfig {
    fn default() -> FilterConfig {
        FilterConfig {
            error_mode: ErrorMode::Propagate,
            traces: TracesConditions::default(),
            metrics: MetricsConditions::default(),
            logs: LogsConditions::default(),
            spans: None,
        }
    }
}

/// `traces`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConditions {
    pub span: Vec<Source>,
    pub spanevent: Vec<Source>,
}

/// `metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConditions {
    pub metric: Vec<Source>,
    pub datapoint: Vec<Source>,
    /// Legacy (refused).
    pub include: Option<RawNode>,
    /// Legacy (refused).
    pub exclude: Option<RawNode>,
}

/// `logs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConditions {
    pub log_record: Vec<Source>,
    /// Legacy (refused).
    pub include: Option<RawNode>,
    /// Legacy (refused).
    pub exclude: Option<RawNode>,
}

const LEGACY: &str = "the legacy include/exclude form of filter is not supported; write OTTL conditions instead \
     (an item any condition matches is dropped), e.g. `traces: {span: ['attributes[\"http.route\"] == \"/healthz\"']}`, \
     `metrics: {metric: ['name == \"my.metric\"', 'IsMatch(name, \"^k8s\\\\.\")']}`, `logs: {log_record: ['severity_number < SEVERITY_NUMBER_WARN']}`";

fn compile(key: &str, sources: &[Source], context: ContextKind, mode: ErrorMode) -> Result<Conditions, String> {
    let texts: Vec<String> = sources.iter().map(|s| s.text.clone()).collect();
    Conditions::compile(&texts, context, mode).map_err(|(i, e)| format!("{key}[{i}]: {}", sources[i].describe(&e)))
}

impl FilterConfig {
    /// The conditions of `signal`, compiled.
    pub fn compile(&self, signal: Signal) -> Result<FilterSpec, String> {
        let m = self.error_mode;
        Ok(match signal {
            Signal::Traces => FilterSpec {
                items: compile("traces::span", &self.traces.span, ContextKind::Span, m)?,
                children: compile("traces::spanevent", &self.traces.spanevent, ContextKind::SpanEvent, m)?,
            },
            Signal::Metrics => FilterSpec {
                items: compile("metrics::metric", &self.metrics.metric, ContextKind::Metric, m)?,
                children: compile("metrics::datapoint", &self.metrics.datapoint, ContextKind::DataPoint, m)?,
            },
            Signal::Logs => FilterSpec {
                items: compile("logs::log_record", &self.logs.log_record, ContextKind::Log, m)?,
                children: Conditions::default(),
            },
        })
    }
}

impl ComponentConfig for FilterConfig {
    fn validate(&self) -> Result<(), String> {
        let legacy = [
            ("spans", self.spans.is_some()),
            ("metrics::include", self.metrics.include.is_some()),
            ("metrics::exclude", self.metrics.exclude.is_some()),
            ("logs::include", self.logs.include.is_some()),
            ("logs::exclude", self.logs.exclude.is_some()),
        ];
        if let Some((key, _)) = legacy.iter().find(|(_, set)| *set) {
            return Err(format!("{key}: {LEGACY}"));
        }
        for signal in Signal::ALL {
            self.compile(signal)?;
        }
        Ok(())
    }
}
