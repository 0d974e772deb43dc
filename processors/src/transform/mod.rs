//! `transform`: runs OTTL statements over traces, metrics and logs, with the Collector's keys
//! (see [`config`]). Statements are compiled once when the pipeline is built; at run time an
//! item that no statement changes is copied as its received bytes, an edited one is
//! re-encoded, and a request nothing changed is forwarded as the same `Bytes`
//! ([`weir_ottl::transform`]).

mod config;

pub use config::{GroupConfig, StatementsEntry, TransformConfig};

use crate::ottl_processor::{Action, OttlProcessor};
use weir_core::component::BuildContext;
use weir_core::{BuildError, Processor, ProcessorFactory, Signal};

/// Factory of the `transform` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransformFactory;

impl ProcessorFactory for TransformFactory {
    type Config = TransformConfig;

    fn type_name(&self) -> &'static str {
        "transform"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &TransformConfig) -> Result<Box<dyn Processor>, BuildError> {
        let signal =
            ctx.signal.ok_or_else(|| BuildError::new("the transform processor is built per pipeline signal"))?;
        Ok(Box::new(TransformFactory::processor(ctx.id.to_string(), signal, config)?))
    }
}

impl TransformFactory {
    /// The processor of `id` for `signal`, outside a pipeline (tests, benchmarks).
    pub fn processor(id: String, signal: Signal, config: &TransformConfig) -> Result<OttlProcessor, BuildError> {
        let groups = config.compile(signal).map_err(BuildError::new)?;
        Ok(OttlProcessor::new("transform", id, signal, Action::Transform(groups)))
    }
}

#[cfg(test)]
mod tests;
