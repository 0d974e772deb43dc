//! `transform` settings, with the Collector's keys: `error_mode` and, per signal, a list of
//! statements (`trace_statements`, `metric_statements`, `log_statements`) in either of its
//! forms, which may be mixed in one list:
//!
//! - a flat statement: `set(span.attributes["k"], "v") where span.name == "x"`, its context
//!   inferred from its paths (each flat statement is its own group);
//! - a group: `context` (optional: inferred from the paths when absent), `conditions` (ORed,
//!   the statements run on an item only when one holds), `statements`, `error_mode`
//!   (defaults to the processor's).

use serde::Deserialize;
use weir_core::config::yaml::{located_error, NodeKind, RawNode};
use weir_core::ComponentConfig;
use weir_core::Signal;
use weir_ottl::{ContextKind, ErrorMode, GroupPart, Source, StatementGroup};

/// Settings of the `transform` processor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// What a failing statement does: `propagate` fails the request, `ignore` (default) logs
    /// and goes on with the next statement, `silent` goes on without logging.
    pub error_mode: ErrorMode,
    pub trace_statements: Vec<StatementsEntry>,
    pub metric_statements: Vec<StatementsEntry>,
    pub log_statements: Vec<StatementsEntry>,
}

/// One entry of a `*_statements` list.
#[derive(Debug, Clone)]
pub enum StatementsEntry {
    Flat(Source),
    Group(GroupConfig),
}

/// The `context` / `conditions` / `statements` form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig {
    pub context: Option<String>,
    pub conditions: Vec<Source>,
    pub statements: Vec<Source>,
    pub error_mode: Option<ErrorMode>,
}

impl<'de> Deserialize<'de> for StatementsEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StatementsEntry, D::Error> {
        let RawNode(node) = RawNode::deserialize(d)?;
        match &node.kind {
            NodeKind::Map(_) => node
                .deserialize::<GroupConfig>()
                .map(StatementsEntry::Group)
                .map_err(|e| located_error(e.message, e.loc.unwrap_or(node.loc))),
            _ => Source::from_node(&node).map(StatementsEntry::Flat).map_err(|m| located_error(m, node.loc)),
        }
    }
}

/// The contexts a signal's statements may use.
pub(crate) fn contexts(signal: Signal) -> &'static [ContextKind] {
    use ContextKind::*;
    match signal {
        Signal::Traces => &[Resource, Scope, Span, SpanEvent],
        Signal::Metrics => &[Resource, Scope, Metric, DataPoint],
        Signal::Logs => &[Resource, Scope, Log],
    }
}

impl TransformConfig {
    fn entries(&self, signal: Signal) -> (&'static str, &[StatementsEntry]) {
        match signal {
            Signal::Traces => ("trace_statements", &self.trace_statements),
            Signal::Metrics => ("metric_statements", &self.metric_statements),
            Signal::Logs => ("log_statements", &self.log_statements),
        }
    }

    /// Compiles the statement groups of `signal`; the error names the key, the entry and the
    /// line and column of the fault.
    pub fn compile(&self, signal: Signal) -> Result<Vec<StatementGroup>, String> {
        let (key, entries) = self.entries(signal);
        let allowed = contexts(signal);
        let mut groups = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let group = match entry {
                StatementsEntry::Flat(s) => {
                    StatementGroup::compile(None, &[], std::slice::from_ref(&s.text), self.error_mode, allowed)
                        .map_err(|(_, e)| format!("{key}[{i}]: {}", s.describe(&e)))?
                }
                StatementsEntry::Group(g) => {
                    let context = match &g.context {
                        None => None,
                        Some(name) => {
                            Some(ContextKind::parse(name).filter(|c| allowed.contains(c)).ok_or_else(|| {
                                format!(
                                    "{key}[{i}]::context: unknown context {name:?} (valid: {})",
                                    allowed.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                                )
                            })?)
                        }
                    };
                    if g.statements.is_empty() {
                        return Err(format!("{key}[{i}]::statements: a group needs at least one statement"));
                    }
                    let conditions: Vec<String> = g.conditions.iter().map(|c| c.text.clone()).collect();
                    let statements: Vec<String> = g.statements.iter().map(|c| c.text.clone()).collect();
                    let mode = g.error_mode.unwrap_or(self.error_mode);
                    StatementGroup::compile(context, &conditions, &statements, mode, allowed).map_err(|(part, e)| {
                        match part {
                            GroupPart::Condition(j) => {
                                format!("{key}[{i}]::conditions[{j}]: {}", g.conditions[j].describe(&e))
                            }
                            GroupPart::Statement(j) => match g.statements.get(j) {
                                Some(s) => format!("{key}[{i}]::statements[{j}]: {}", s.describe(&e)),
                                None => format!("{key}[{i}]: {}", e.message),
                            },
                        }
                    })?
                }
            };
            groups.push(group);
        }
        Ok(groups)
    }
}

impl ComponentConfig for TransformConfig {
    fn validate(&self) -> Result<(), String> {
        for signal in Signal::ALL {
            self.compile(signal)?;
        }
        Ok(())
    }
}
