//! `count` settings, the Collector's `countconnector` keys: `spans`, `spanevents`, `metrics`,
//! `datapoints`, `logs`, each a map of metric name → `description`, `conditions`,
//! `attributes`. A section left out counts under its default metric (`trace.span.count`, …);
//! a section written, even empty, counts only what it lists.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use weir_core::ComponentConfig;
use weir_ottl::{Conditions, ContextKind, ErrorMode, Source};

/// Settings of the `count` connector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CountConfig {
    /// Metrics counting spans (traces → metrics). Default `trace.span.count`.
    #[serde(deserialize_with = "present")]
    pub spans: Option<BTreeMap<String, MetricInfo>>,
    /// Metrics counting span events. Default `trace.span.event.count`.
    #[serde(deserialize_with = "present")]
    pub spanevents: Option<BTreeMap<String, MetricInfo>>,
    /// Metrics counting metrics (metrics → metrics). Default `metric.count`.
    #[serde(deserialize_with = "present")]
    pub metrics: Option<BTreeMap<String, MetricInfo>>,
    /// Metrics counting data points. Default `metric.datapoint.count`.
    #[serde(deserialize_with = "present")]
    pub datapoints: Option<BTreeMap<String, MetricInfo>>,
    /// Metrics counting log records (logs → metrics). Default `log.record.count`.
    #[serde(deserialize_with = "present")]
    pub logs: Option<BTreeMap<String, MetricInfo>>,
}

/// A section that is written is `Some`, even when empty or null (upstream's `IsSet`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, MetricInfo>>, D::Error> {
    Ok(Some(Option::<BTreeMap<String, MetricInfo>>::deserialize(d)?.unwrap_or_default()))
}

/// One count metric.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricInfo {
    /// The metric's description.
    pub description: String,
    /// OTTL conditions, ORed: an item is counted when any holds (all items when none is
    /// given). A condition that fails fails the request (upstream's `propagate`).
    pub conditions: Vec<Source>,
    /// Item attributes that become the count's data point attributes: one data point per
    /// distinct combination. An item that has not every one (nor its `default_value`) is
    /// not counted. Not allowed under `metrics` (metrics have no attributes).
    pub attributes: Vec<AttributeConfig>,
}

/// One attribute of a count.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeConfig {
    /// The item attribute's key. Required.
    pub key: String,
    /// The value used when the item lacks the attribute: a string, an int or a double (an
    /// empty string or zero means none, as upstream reads it).
    pub default_value: Option<DefaultValue>,
}

/// A `default_value`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DefaultValue {
    Int(i64),
    Double(f64),
    String(String),
    /// Upstream ignores values of other types (a bool): the attribute then has no default.
    Other(serde::de::IgnoredAny),
}

/// What the sections count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Spans,
    SpanEvents,
    Metrics,
    DataPoints,
    Logs,
}

impl Section {
    pub const ALL: [Section; 5] =
        [Section::Spans, Section::SpanEvents, Section::Metrics, Section::DataPoints, Section::Logs];

    pub fn key(self) -> &'static str {
        match self {
            Section::Spans => "spans",
            Section::SpanEvents => "spanevents",
            Section::Metrics => "metrics",
            Section::DataPoints => "datapoints",
            Section::Logs => "logs",
        }
    }

    pub fn context(self) -> ContextKind {
        match self {
            Section::Spans => ContextKind::Span,
            Section::SpanEvents => ContextKind::SpanEvent,
            Section::Metrics => ContextKind::Metric,
            Section::DataPoints => ContextKind::DataPoint,
            Section::Logs => ContextKind::Log,
        }
    }

    /// The metric counted when the section is left out.
    pub fn default_metric(self) -> (&'static str, &'static str) {
        match self {
            Section::Spans => ("trace.span.count", "The number of spans observed."),
            Section::SpanEvents => ("trace.span.event.count", "The number of span events observed."),
            Section::Metrics => ("metric.count", "The number of metrics observed."),
            Section::DataPoints => ("metric.datapoint.count", "The number of data points observed."),
            Section::Logs => ("log.record.count", "The number of log records observed."),
        }
    }
}

/// One compiled count metric.
#[derive(Debug)]
pub struct MetricDef {
    pub name: String,
    pub description: String,
    /// `None`: count every item.
    pub conditions: Option<Conditions>,
    pub attributes: Vec<AttributeConfig>,
}

impl CountConfig {
    fn section(&self, s: Section) -> &Option<BTreeMap<String, MetricInfo>> {
        match s {
            Section::Spans => &self.spans,
            Section::SpanEvents => &self.spanevents,
            Section::Metrics => &self.metrics,
            Section::DataPoints => &self.datapoints,
            Section::Logs => &self.logs,
        }
    }

    /// The metrics of section `s`, compiled (its default when left out).
    pub fn compile(&self, s: Section) -> Result<Vec<MetricDef>, String> {
        let key = s.key();
        let Some(section) = self.section(s) else {
            let (name, description) = s.default_metric();
            return Ok(vec![MetricDef {
                name: name.into(),
                description: description.into(),
                conditions: None,
                attributes: Vec::new(),
            }]);
        };
        let mut out = Vec::with_capacity(section.len());
        for (name, info) in section {
            if name.is_empty() {
                return Err(format!("{key}: metric name missing"));
            }
            let texts: Vec<String> = info.conditions.iter().map(|c| c.text.clone()).collect();
            let conditions = Conditions::compile(&texts, s.context(), ErrorMode::Propagate).map_err(|(i, e)| {
                format!("{key} condition: metric {name:?}: conditions[{i}]: {}", info.conditions[i].describe(&e))
            })?;
            if s == Section::Metrics && !info.attributes.is_empty() {
                return Err(format!("metrics attributes not supported: metric {name:?}"));
            }
            if info.attributes.iter().any(|a| a.key.is_empty()) {
                // Upstream names `spans` for data point metrics here too; the key is what matters.
                return Err(format!("{key} attributes: metric {name:?}: attribute key missing"));
            }
            out.push(MetricDef {
                name: name.clone(),
                description: info.description.clone(),
                conditions: (!conditions.is_empty()).then_some(conditions),
                attributes: info.attributes.clone(),
            });
        }
        Ok(out)
    }
}

impl ComponentConfig for CountConfig {
    fn validate(&self) -> Result<(), String> {
        for s in Section::ALL {
            self.compile(s)?;
        }
        Ok(())
    }
}
