//! `resource`: edits resource attributes with the Collector's `attributes` actions (`insert`,
//! `update`, `upsert`, `delete`, `hash`, `extract`, `convert`; the same action list as the
//! Collector's `attraction` package; `hash` is SHA-256 in lowercase hex, the Collector's default
//! since 2023, applied to string values). Each action is compiled once into an OTTL statement in
//! the `resource` context and run by the same machinery as `transform`: a request whose
//! resources no action changes is forwarded as its received bytes, and an edit re-encodes one
//! resource header per resource group (its spans, data points and log records are copied as
//! byte ranges).

use crate::attraction::AttributeAction;
use crate::ottl_processor::{Action, OttlProcessor};
use serde::Deserialize;
use weir_core::component::BuildContext;
use weir_core::{BuildError, ComponentConfig, Processor, ProcessorFactory, Signal};
use weir_ottl::{ContextKind, ErrorMode, StatementGroup};

/// Settings of the `resource` processor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The actions, applied in order to every resource. At least one.
    pub attributes: Vec<AttributeAction>,
}

impl ResourceConfig {
    /// The statements of every action, compiled in the `resource` context.
    pub fn compile(&self) -> Result<StatementGroup, String> {
        if self.attributes.is_empty() {
            return Err("attributes: at least one action is required".into());
        }
        let mut statements = Vec::new();
        for (i, a) in self.attributes.iter().enumerate() {
            statements.extend(a.statements().map_err(|e| format!("attributes[{i}]: {e}"))?);
        }
        StatementGroup::compile(
            Some(ContextKind::Resource),
            &[],
            &statements,
            ErrorMode::Ignore,
            &[ContextKind::Resource],
        )
        .map_err(|(_, e)| format!("attributes: {}", e.message))
    }
}

impl ComponentConfig for ResourceConfig {
    fn validate(&self) -> Result<(), String> {
        self.compile().map(|_| ())
    }
}

/// Factory of the `resource` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceFactory;

impl ProcessorFactory for ResourceFactory {
    type Config = ResourceConfig;

    fn type_name(&self) -> &'static str {
        "resource"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &ResourceConfig) -> Result<Box<dyn Processor>, BuildError> {
        let signal =
            ctx.signal.ok_or_else(|| BuildError::new("the resource processor is built per pipeline signal"))?;
        Ok(Box::new(ResourceFactory::processor(ctx.id.to_string(), signal, config)?))
    }
}

impl ResourceFactory {
    /// The processor of `id` for `signal`, outside a pipeline (tests, benchmarks).
    pub fn processor(id: String, signal: Signal, config: &ResourceConfig) -> Result<OttlProcessor, BuildError> {
        let group = config.compile().map_err(BuildError::new)?;
        Ok(OttlProcessor::new("resource", id, signal, Action::Transform(vec![group])))
    }
}

#[cfg(test)]
mod tests;
