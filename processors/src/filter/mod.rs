//! `filter`: drops spans, span events, metrics, data points and log records that OTTL
//! conditions match, with the Collector's keys (see [`config`]). Conditions are compiled once
//! and read the received bytes in place; kept items are copied as byte ranges, a request
//! nothing matched is forwarded as the same `Bytes`, and a metric left without data points is
//! dropped, as in the Collector ([`weir_ottl::filter`]).

mod config;

pub use config::{FilterConfig, LogsConditions, MetricsConditions, TracesConditions};

use crate::ottl_processor::{Action, OttlProcessor};
use weir_core::component::BuildContext;
use weir_core::{BuildError, Processor, ProcessorFactory, Signal};

/// Factory of the `filter` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterFactory;

impl ProcessorFactory for FilterFactory {
    type Config = FilterConfig;

    fn type_name(&self) -> &'static str {
        "filter"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &FilterConfig) -> Result<Box<dyn Processor>, BuildError> {
        let signal = ctx.signal.ok_or_else(|| BuildError::new("the filter processor is built per pipeline signal"))?;
        Ok(Box::new(FilterFactory::processor(ctx.id.to_string(), signal, config)?))
    }
}

impl FilterFactory {
    /// The processor of `id` for `signal`, outside a pipeline (tests, benchmarks).
    pub fn processor(id: String, signal: Signal, config: &FilterConfig) -> Result<OttlProcessor, BuildError> {
        let spec = config.compile(signal).map_err(BuildError::new)?;
        Ok(OttlProcessor::new("filter", id, signal, Action::Filter(spec)))
    }
}

#[cfg(test)]
mod tests;
