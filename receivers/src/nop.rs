//! `nop`: a receiver that receives nothing (the Collector's `nopreceiver`), for pipelines that
//! must exist but get their data elsewhere (a connector, a test), and for configurations that
//! name it.

use async_trait::async_trait;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::{BuildContext, BuildError, ComponentConfig, Consumers, Receiver, ReceiverFactory, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "nop";

/// Settings of the `nop` receiver: none.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopReceiverConfig {}

impl ComponentConfig for NopReceiverConfig {}

/// Factory of the `nop` receiver.
pub struct NopReceiverFactory;

impl ReceiverFactory for NopReceiverFactory {
    type Config = NopReceiverConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, _ctx: &BuildContext, _config: &NopReceiverConfig) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(NopReceiver))
    }
}

/// Holds its pipelines' inputs open until shutdown, and sends nothing.
struct NopReceiver;

#[async_trait]
impl Receiver for NopReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        Ok(tokio::spawn(async move {
            shutdown.cancelled().await;
            drop(consumers);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::testing::parse_config;

    #[test]
    fn it_takes_no_keys() {
        assert_eq!(parse_config::<NopReceiverConfig>("").unwrap(), NopReceiverConfig {});
        assert_eq!(parse_config::<NopReceiverConfig>("{}").unwrap(), NopReceiverConfig {});
        let err = parse_config::<NopReceiverConfig>("endpoint: x\n").unwrap_err();
        assert!(err.contains("unknown field `endpoint`"), "{err}");
    }

    #[tokio::test]
    async fn it_runs_until_shutdown_in_a_pipeline() {
        let mut registry = weir_core::Registry::new();
        crate::register(&mut registry);
        let (sink, mut exported) = weir_core::testing::CollectingSink::new("test", weir_core::testing::accept_all);
        registry.add_exporter(sink);
        let yaml = "receivers: {nop: }\nexporters: {test: }\n\
                    service: {pipelines: {logs: {receivers: [nop], exporters: [test]}}}\n";
        let config = weir_core::config::load_str("nop.yaml", yaml, &registry, &|_| None).expect("valid");
        let service = weir_core::runtime::Service::start(&config, &registry, Default::default()).await.expect("starts");
        service.shutdown().await;
        assert!(exported.try_recv().is_err(), "nothing was received, so nothing was exported");
    }
}
