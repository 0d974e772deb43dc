//! `spanmetrics`: Request, Error and Duration (R.E.D.) metrics from spans (the Collector's
//! `spanmetricsconnector`), traces → metrics.
//!
//! Placed before `tail_sampling` (`traces: exporters: [spanmetrics, forward]`), it counts
//! 100% of spans while the traces are cut, so dashboards stay exact.
//!
//! - Every span is counted in a series keyed by `service.name`, `span.name`, `span.kind`,
//!   `status.code` and the configured `dimensions`, read through views: nothing is decoded
//!   (see [`aggregate`]).
//! - Every `metrics_flush_interval` the series are emitted as one OTLP metrics request to
//!   every pipeline that lists the connector as a receiver: `<namespace>.calls` (a monotonic
//!   Sum), `<namespace>.duration` (a histogram in `ms` or `s`), `<namespace>.events`
//!   (optional), one `ResourceMetrics` per span resource, scope `spanmetricsconnector`.
//! - Memory is bounded: `aggregation_cardinality_limit` series per resource (the rest are
//!   counted in the overflow series `otel.metric.overflow: true`), and
//!   `resource_metrics_cache_size` resources.
//!
//! Acknowledgements: spans are acknowledged once counted; the metrics emitted later carry no
//! tokens (their delivery is the metrics pipeline's). On shutdown, once every upstream
//! pipeline has drained, the connector emits what it holds one last time.

pub mod aggregate;
pub mod config;
pub mod histogram;

pub use config::SpanMetricsConfig;

use aggregate::Aggregator;
use async_trait::async_trait;
use tokio::sync::mpsc;
use weir_core::{BuildContext, BuildError, Connector, ConnectorFactory, Downstream, Envelope, Signal};

/// Factory of the `spanmetrics` connector.
pub struct SpanMetricsFactory;

impl ConnectorFactory for SpanMetricsFactory {
    type Config = SpanMetricsConfig;

    fn type_name(&self) -> &'static str {
        "spanmetrics"
    }

    fn signal_pairs(&self) -> &'static [(Signal, Signal)] {
        &[(Signal::Traces, Signal::Metrics)]
    }

    fn build(
        &self,
        ctx: &BuildContext,
        config: &SpanMetricsConfig,
        _from: Signal,
        _to: Signal,
    ) -> Result<Box<dyn Connector>, BuildError> {
        let spans = metrics::counter!("weir_connector_spanmetrics_spans", "connector" => ctx.id.to_string());
        Ok(Box::new(SpanMetrics {
            id: ctx.id.to_string(),
            interval: config.metrics_flush_interval,
            aggregator: Aggregator::new(config.clone()),
            spans,
        }))
    }
}

struct SpanMetrics {
    id: String,
    interval: std::time::Duration,
    aggregator: Aggregator,
    /// Spans counted.
    spans: metrics::Counter,
}

impl SpanMetrics {
    async fn flush(&mut self, downstream: &[Downstream]) {
        let Some(payload) = self.aggregator.flush(weir_core::pdata::now_unix_nano()) else { return };
        for d in downstream {
            if let Err(error) = d.send(Envelope::new(payload.clone())).await {
                tracing::warn!(message = "A metrics pipeline refused span metrics.", connector = %self.id, pipeline = d.pipeline(), %error);
            }
        }
    }
}

#[async_trait]
impl Connector for SpanMetrics {
    async fn run(mut self: Box<Self>, mut input: mpsc::Receiver<Envelope>, downstream: Vec<Downstream>) {
        let start = tokio::time::Instant::now() + self.interval;
        let mut ticker = tokio::time::interval_at(start, self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                env = input.recv() => {
                    let Some(env) = env else { break };
                    match self.aggregator.aggregate(&env.payload, weir_core::pdata::now_unix_nano()) {
                        Ok(n) => self.spans.increment(n as u64),
                        Err(error) => tracing::warn!(message = "Unreadable spans were not counted.", connector = %self.id, %error),
                    }
                    // Counted: the spans are delivered as far as this connector goes.
                    drop(env.acks);
                }
                _ = ticker.tick() => self.flush(&downstream).await,
            }
        }
        self.flush(&downstream).await;
    }
}

#[cfg(test)]
mod tests;
