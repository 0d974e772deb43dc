//! `nop`: accepts everything and sends it nowhere, for benchmarks and tests.
//!
//! Data passes through the shared plumbing (queue, metrics, acknowledgements) like any
//! exporter's, so a pipeline ending in `nop` measures everything but the network.

use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use weir_core::exporterhelper::{QueueConfig, RetryConfig, DEFAULT_TIMEOUT};
use weir_core::{BuildContext, BuildError, ComponentConfig, Exporter, ExporterFactory, Failure, Payload, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "nop";

/// Settings of the `nop` exporter: only the plumbing's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NopConfig {
    /// Timeout of each send attempt; 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed sends (a `nop` send never fails).
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter.
    pub sending_queue: QueueConfig,
}

impl Default for NopConfig {
    fn default() -> Self {
        NopConfig {
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(NopConfig);

impl ComponentConfig for NopConfig {}

/// Factory of the `nop` exporter.
pub struct NopExporterFactory;

impl ExporterFactory for NopExporterFactory {
    type Config = NopConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, _ctx: &BuildContext, _config: &NopConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(NopExporter))
    }
}

/// Drops every payload, successfully.
pub struct NopExporter;

#[async_trait]
impl Exporter for NopExporter {
    async fn export(&self, _payload: Payload) -> Result<(), Failure> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;
    use weir_core::exporterhelper::ExporterConfig;

    #[tokio::test]
    async fn every_payload_is_accepted() {
        for signal in Signal::ALL {
            assert_eq!(NopExporter.export(testdata::of(signal)).await, Ok(()));
        }
    }

    #[test]
    fn only_plumbing_keys_are_accepted() {
        let node = weir_core::config::yaml::parse("endpoint: x\n", &|_| None).unwrap();
        let err = node.deserialize::<NopConfig>().unwrap_err();
        assert!(err.message.contains("unknown field `endpoint`"), "{}", err.message);
        let node = weir_core::config::yaml::parse("sending_queue:\n  queue_size: 0\n", &|_| None).unwrap();
        let c: NopConfig = node.deserialize().unwrap();
        assert!(c.exporter_settings().validate().unwrap_err().contains("sending_queue::queue_size"));
    }
}
