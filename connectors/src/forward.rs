//! `forward`: passes everything from the pipelines it is an exporter in to those it is a receiver
//! in, unchanged (the Collector's `forwardconnector`). Used to merge pipelines (several
//! upstream pipelines into one) or to fan one pipeline out into several with their own
//! processors.
//!
//! Each payload goes to every downstream pipeline, sharing its bytes, with its acknowledgement
//! tokens: a request is delivered when every downstream pipeline has delivered it. A downstream
//! pipeline that refuses (its `memory_limiter`, or shutting down) fails the payload's tokens,
//! so the client of a receiver with `wait_for_result` learns it.

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::mpsc;
use weir_core::{BuildContext, BuildError, ComponentConfig, Connector, ConnectorFactory, Downstream, Envelope, Signal};

/// Settings of the `forward` connector: none.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {}

impl ComponentConfig for ForwardConfig {}

/// Factory of the `forward` connector.
pub struct ForwardFactory;

impl ConnectorFactory for ForwardFactory {
    type Config = ForwardConfig;

    fn type_name(&self) -> &'static str {
        "forward"
    }

    fn signal_pairs(&self) -> &'static [(Signal, Signal)] {
        &[(Signal::Traces, Signal::Traces), (Signal::Metrics, Signal::Metrics), (Signal::Logs, Signal::Logs)]
    }

    fn build(
        &self,
        ctx: &BuildContext,
        _config: &ForwardConfig,
        _from: Signal,
        _to: Signal,
    ) -> Result<Box<dyn Connector>, BuildError> {
        Ok(Box::new(Forward { id: ctx.id.to_string() }))
    }
}

struct Forward {
    id: String,
}

#[async_trait]
impl Connector for Forward {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, downstream: Vec<Downstream>) {
        while let Some(env) = input.recv().await {
            for d in &downstream {
                if let Err(error) = d.send(env.clone()).await {
                    tracing::debug!(message = "A downstream pipeline refused data.", connector = %self.id, pipeline = d.pipeline(), %error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::testing::{accept_all, span_names, spans, ChannelSource, CollectingSink};
    use weir_core::{Failure, Payload, Registry};

    fn fail_all(_: &Payload) -> Result<(), Failure> {
        Err(Failure::permanent("the backend refused it"))
    }

    /// `in` → forward → `out/a` and `out/b`, each with its own sink.
    async fn start(
        verdict_b: weir_core::testing::Verdict,
    ) -> (weir_core::runtime::Service, weir_core::Consumer, [tokio::sync::mpsc::UnboundedReceiver<Payload>; 2]) {
        let mut registry = Registry::new();
        super::super::register(&mut registry);
        let (source, mut consumers) = ChannelSource::new("test");
        let (a, a_rx) = CollectingSink::new("sink_a", accept_all);
        let (b, b_rx) = CollectingSink::new("sink_b", verdict_b);
        registry.add_receiver(source);
        registry.add_exporter(a);
        registry.add_exporter(b);
        let yaml = "receivers: {test: }\nexporters: {sink_a: , sink_b: }\nconnectors: {forward: }\n\
                    service:\n  pipelines:\n    traces/in: {receivers: [test], exporters: [forward]}\n\
                    \x20   traces/a: {receivers: [forward], exporters: [sink_a]}\n\
                    \x20   traces/b: {receivers: [forward], exporters: [sink_b]}\n";
        let config = weir_core::config::load_str("forward.yaml", yaml, &registry, &|_| None).expect("valid");
        let service = weir_core::runtime::Service::start(&config, &registry, Default::default()).await.expect("starts");
        let consumer = consumers.recv().await.expect("started").traces.expect("traces routed");
        (service, consumer, [a_rx, b_rx])
    }

    #[tokio::test]
    async fn every_downstream_pipeline_gets_every_payload() {
        let (service, consumer, [mut a, mut b]) = start(accept_all).await;
        consumer.consume(spans("x", 3), "test", true).await.expect("delivered through both pipelines");
        assert_eq!(span_names(&a.recv().await.unwrap()), ["x0", "x1", "x2"]);
        assert_eq!(span_names(&b.recv().await.unwrap()), ["x0", "x1", "x2"]);
        drop(consumer);
        service.shutdown().await;
    }

    #[tokio::test]
    async fn a_failure_in_one_downstream_pipeline_reaches_the_client() {
        let (service, consumer, [mut a, _b]) = start(fail_all).await;
        let err = consumer.consume(spans("y", 1), "test", true).await.expect_err("one branch failed");
        assert_eq!(err.message, "the backend refused it");
        assert_eq!(span_names(&a.recv().await.unwrap()), ["y0"], "the other branch still got it");
        drop(consumer);
        service.shutdown().await;
    }

    #[test]
    fn it_takes_no_keys() {
        let err = weir_core::testing::parse_config::<ForwardConfig>("x: 1\n").unwrap_err();
        assert!(err.contains("unknown field `x`"), "{err}");
    }
}
