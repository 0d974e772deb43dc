//! `attributes`: edits the attributes of spans, log records and metric data points with the
//! Collector's actions ([`crate::attraction`]), optionally only on the items `include` matches
//! and `exclude` does not. Actions compile into OTTL statements in the item's context
//! (`span`, `log`, `datapoint`) and `include`/`exclude` into one OTTL condition on the group, so
//! the data path is `transform`'s: items no action changes are copied as their bytes.

use crate::attraction::{quoted, AttributeAction};
use crate::ottl_processor::{Action, OttlProcessor};
use serde::Deserialize;
use weir_core::component::BuildContext;
use weir_core::{BuildError, ComponentConfig, Processor, ProcessorFactory, Signal};
use weir_ottl::{ContextKind, ErrorMode, StatementGroup};

/// Settings of the `attributes` processor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributesConfig {
    /// The actions, applied in order. At least one.
    pub actions: Vec<AttributeAction>,
    /// Only items this matches are edited.
    #[serde(default)]
    pub include: Option<MatchProperties>,
    /// Items this matches are not edited (checked after `include`).
    #[serde(default)]
    pub exclude: Option<MatchProperties>,
}

/// `include` / `exclude`: every property given must match (a list matches when one of its
/// entries does).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchProperties {
    /// `strict` (equality) or `regexp` (a regular expression that must match somewhere in the
    /// value, as Go's `regexp.MatchString`). Required.
    pub match_type: String,
    /// `service.name` of the item's resource.
    pub services: Vec<String>,
    /// Span names (traces only).
    pub span_names: Vec<String>,
    /// Span kinds, as `SPAN_KIND_SERVER`, … (traces only).
    pub span_kinds: Vec<String>,
    /// Log bodies (logs only).
    pub log_bodies: Vec<String>,
    /// Severity texts (logs only).
    pub log_severity_texts: Vec<String>,
    /// Metric names (metrics only).
    pub metric_names: Vec<String>,
    /// The item's attributes: `{key, value}` (`value` absent: the key must be present).
    pub attributes: Vec<KeyMatch>,
    /// The resource's attributes.
    pub resources: Vec<KeyMatch>,
    /// The instrumentation scope: `{name, version}`.
    pub libraries: Vec<LibraryMatch>,
    /// The Collector's severity-number matcher; refused (write a `transform` condition).
    pub log_severity_number: Option<serde::de::IgnoredAny>,
    /// The Collector's regexp cache settings; accepted (weir compiles each regex once).
    pub regexp: Option<serde::de::IgnoredAny>,
}

/// One `{key, value}` of `attributes` / `resources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyMatch {
    pub key: String,
    pub value: Option<crate::attraction::Literal>,
}

/// One `{name, version}` of `libraries`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryMatch {
    pub name: String,
    pub version: Option<String>,
}

impl MatchProperties {
    /// The OTTL condition of these properties in `context`, or what is wrong.
    fn condition(&self, context: ContextKind) -> Result<String, String> {
        let regexp = match self.match_type.as_str() {
            "strict" => false,
            "regexp" => true,
            "" => return Err("match_type is required (strict or regexp)".into()),
            other => return Err(format!("match_type: {other:?} is not one of strict, regexp")),
        };
        if self.log_severity_number.is_some() {
            return Err("log_severity_number is not supported by weir; use a `transform` or `filter` condition \
                        on severity_number"
                .into());
        }
        let one = |path: &str, value: &str| -> Result<String, String> {
            if regexp {
                regex::Regex::new(value).map_err(|e| format!("{value:?}: {e}"))?;
                Ok(format!("IsMatch({path}, {})", quoted(value)))
            } else {
                Ok(format!("{path} == {}", quoted(value)))
            }
        };
        let any = |path: &str, values: &[String]| -> Result<Option<String>, String> {
            if values.is_empty() {
                return Ok(None);
            }
            let parts = values.iter().map(|v| one(path, v)).collect::<Result<Vec<_>, _>>()?;
            Ok(Some(format!("({})", parts.join(" or "))))
        };
        let only = |what: &str, values: &[String], kind: ContextKind| -> Result<(), String> {
            if !values.is_empty() && context != kind {
                return Err(format!("{what} applies to {} only", kind.name()));
            }
            Ok(())
        };
        // As the Collector: `services` and span properties match spans only (its log and metric
        // matchers refuse them).
        only("services", &self.services, ContextKind::Span)?;
        only("span_names", &self.span_names, ContextKind::Span)?;
        only("span_kinds", &self.span_kinds, ContextKind::Span)?;
        only("log_bodies", &self.log_bodies, ContextKind::Log)?;
        only("log_severity_texts", &self.log_severity_texts, ContextKind::Log)?;
        only("metric_names", &self.metric_names, ContextKind::DataPoint)?;
        let mut all = Vec::new();
        all.extend(any("resource.attributes[\"service.name\"]", &self.services)?);
        all.extend(any("name", &self.span_names)?);
        if !self.span_kinds.is_empty() {
            let kinds: Vec<String> = self.span_kinds.iter().map(|k| format!("kind == {k}")).collect();
            all.push(format!("({})", kinds.join(" or ")));
        }
        all.extend(any("body", &self.log_bodies)?);
        all.extend(any("severity_text", &self.log_severity_texts)?);
        all.extend(any("metric.name", &self.metric_names)?);
        let key_matches = |prefix: &str, matches: &[KeyMatch]| -> Result<Option<String>, String> {
            if matches.is_empty() {
                return Ok(None);
            }
            let mut parts = Vec::new();
            for m in matches {
                let path = format!("{prefix}[{}]", quoted(&m.key));
                parts.push(match &m.value {
                    None => format!("{path} != nil"),
                    Some(crate::attraction::Literal::String(v)) => one(&path, v)?,
                    Some(v) if !regexp => format!("{path} == {}", v.ottl()),
                    Some(_) => return Err(format!("{prefix}: a regexp value must be a string")),
                });
            }
            // The Collector requires every listed attribute to match.
            Ok(Some(format!("({})", parts.join(" and "))))
        };
        all.extend(key_matches("attributes", &self.attributes)?);
        all.extend(key_matches("resource.attributes", &self.resources)?);
        for l in &self.libraries {
            let mut part = one("instrumentation_scope.name", &l.name)?;
            if let Some(v) = &l.version {
                part = format!("{part} and {}", one("instrumentation_scope.version", v)?);
            }
            all.push(format!("({part})"));
        }
        if all.is_empty() {
            return Err("at least one property to match is required (services, span_names, attributes, …)".into());
        }
        Ok(all.join(" and "))
    }
}

impl AttributesConfig {
    /// The item context of `signal`.
    fn context(signal: Signal) -> ContextKind {
        match signal {
            Signal::Traces => ContextKind::Span,
            Signal::Logs => ContextKind::Log,
            Signal::Metrics => ContextKind::DataPoint,
        }
    }

    /// The actions and the match condition of `signal`, compiled.
    pub fn compile(&self, signal: Signal) -> Result<StatementGroup, String> {
        if self.actions.is_empty() {
            return Err("actions: at least one action is required".into());
        }
        let context = Self::context(signal);
        let mut statements = Vec::new();
        for (i, a) in self.actions.iter().enumerate() {
            statements.extend(a.statements().map_err(|e| format!("actions[{i}]: {e}"))?);
        }
        let include = match &self.include {
            Some(m) => Some(m.condition(context).map_err(|e| format!("include: {e}"))?),
            None => None,
        };
        let exclude = match &self.exclude {
            Some(m) => Some(m.condition(context).map_err(|e| format!("exclude: {e}"))?),
            None => None,
        };
        let condition = match (include, exclude) {
            (None, None) => None,
            (Some(i), None) => Some(i),
            (None, Some(e)) => Some(format!("not ({e})")),
            (Some(i), Some(e)) => Some(format!("({i}) and not ({e})")),
        };
        let conditions: Vec<String> = condition.into_iter().collect();
        StatementGroup::compile(Some(context), &conditions, &statements, ErrorMode::Ignore, &[context])
            .map_err(|(_, e)| format!("{}: {}", context.name(), e.message))
    }
}

impl ComponentConfig for AttributesConfig {
    /// Valid when it compiles for at least one signal: properties of one signal
    /// (`span_names`, `log_bodies`, `metric_names`, …) are refused when the processor is built
    /// into a pipeline of another, as the Collector does.
    fn validate(&self) -> Result<(), String> {
        let mut first = None;
        for signal in Signal::ALL {
            match self.compile(signal) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or_default())
    }
}

/// Factory of the `attributes` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttributesFactory;

impl ProcessorFactory for AttributesFactory {
    type Config = AttributesConfig;

    fn type_name(&self) -> &'static str {
        "attributes"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &AttributesConfig) -> Result<Box<dyn Processor>, BuildError> {
        let signal =
            ctx.signal.ok_or_else(|| BuildError::new("the attributes processor is built per pipeline signal"))?;
        Ok(Box::new(AttributesFactory::processor(ctx.id.to_string(), signal, config)?))
    }
}

impl AttributesFactory {
    /// The processor of `id` for `signal`, outside a pipeline (tests, benchmarks).
    pub fn processor(id: String, signal: Signal, config: &AttributesConfig) -> Result<OttlProcessor, BuildError> {
        let group = config.compile(signal).map_err(BuildError::new)?;
        Ok(OttlProcessor::new("attributes", id, signal, Action::Transform(vec![group])))
    }
}

#[cfg(test)]
mod tests;
