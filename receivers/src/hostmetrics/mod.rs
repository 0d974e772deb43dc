//! `hostmetrics` receiver: the host's CPU, memory, load, disks, filesystems, network, paging,
//! processes and uptime, read from Linux `/proc` and `/sys`, as the Collector's metrics.
//!
//! ```text
//!  interval tick ─▶ blocking thread: each configured scraper reads its /proc files
//!                   under root_path and records its metrics (metadata.rs: names, units,
//!                   types and default-on flags of the Collector's metadata.yaml)
//!              ─▶ one ExportMetricsServiceRequest (a resource per process, an
//!                 attribute-less resource per host-wide scraper) ─▶ Consumer::consume
//! ```
//!
//! Guarantees and choices:
//!
//! - **The Collector's data model.** Metric names, units, attributes and types follow each
//!   scraper's `metadata.yaml`; cumulative sums carry a start time (host boot time for the host
//!   scrapers, process start for `process`), and so do gauges, as the Collector's builders do.
//!   Optional metrics are off until `metrics::<name>::enabled: true`.
//! - **No heavy dependency.** Files are parsed directly ([`procfs`]), `statvfs` comes from
//!   `libc`. A scraper that cannot read a file reports what it could and counts the points it
//!   could not produce in `otelcol_scraper_errored_metric_points`; produced points are counted
//!   in `otelcol_scraper_scraped_metric_points` (both with `receiver` and `scraper` labels).
//! - **Backpressure.** A scrape waits for the pipeline to take its batch; a tick that falls
//!   due while the previous one still runs is skipped, never queued.
//! - **Shutdown** stops the ticks; a scrape in progress finishes and is delivered.

mod config;
mod filter;
pub mod metadata;
pub mod procfs;
pub mod scrapers;
#[cfg(test)]
mod tests;

pub use config::{HostmetricsConfig, MetricsBuilderConfig, ScrapersConfig};

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use scrapers::{Host, Scrape};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::{BuildContext, BuildError, Consumers, Payload, Receiver, ReceiverFactory, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "hostmetrics";

/// The `transport` label of `otelcol_receiver_*` counters: scrapers have none, as in the
/// Collector.
const TRANSPORT: &str = "";

/// Factory of the `hostmetrics` receiver.
pub struct HostmetricsReceiverFactory;

impl ReceiverFactory for HostmetricsReceiverFactory {
    type Config = HostmetricsConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, ctx: &BuildContext, config: &HostmetricsConfig) -> Result<Box<dyn Receiver>, BuildError> {
        let scrapers = scrapers::build(&config.scrapers).map_err(BuildError::new)?;
        Ok(Box::new(HostmetricsReceiver { id: ctx.id.to_string(), config: config.clone(), scrapers }))
    }
}

/// A configured, not yet started `hostmetrics` receiver.
struct HostmetricsReceiver {
    id: String,
    config: HostmetricsConfig,
    scrapers: Vec<Box<dyn Scrape>>,
}

/// One scraper with its self-metrics.
struct Counted {
    scraper: Box<dyn Scrape>,
    scraped: metrics::Counter,
    errored: metrics::Counter,
    /// Whether a failed scrape was logged at warn level already: the same files usually fail
    /// every interval, so later failures go to debug.
    warned: bool,
}

#[async_trait]
impl Receiver for HostmetricsReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let Some(consumer) = consumers.get(Signal::Metrics).cloned() else {
            // Only in a logs pipeline (the Collector's entity events): nothing to produce.
            return Ok(tokio::spawn(async move { shutdown.cancelled().await }));
        };
        let id = self.id;
        let mut scrapers: Vec<Counted> = self
            .scrapers
            .into_iter()
            .map(|scraper| {
                let labels = [("receiver", id.clone()), ("scraper", scraper.name().to_string())];
                Counted {
                    scraped: metrics::counter!("otelcol_scraper_scraped_metric_points", &labels),
                    errored: metrics::counter!("otelcol_scraper_errored_metric_points", &labels),
                    scraper,
                    warned: false,
                }
            })
            .collect();
        let host = Host::new(self.config.root());
        let (interval, delay, timeout) =
            (self.config.collection_interval, self.config.initial_delay, self.config.timeout);
        Ok(tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let (back, payload) = match scrape_all(scrapers, host.clone(), timeout, &id).await {
                    Some(r) => r,
                    None => return,
                };
                scrapers = back;
                if let Some(payload) = payload {
                    if let Err(f) = consumer.consume(payload, TRANSPORT, false).await {
                        tracing::warn!(message = "The pipeline refused host metrics.", receiver = %id, error = %f);
                    }
                }
            }
        }))
    }
}

/// Runs every scraper once on a blocking thread; returns the scrapers (they keep state) and the
/// batch, or `None` when the blocking task died.
async fn scrape_all(
    mut scrapers: Vec<Counted>,
    host: Host,
    timeout: Duration,
    id: &str,
) -> Option<(Vec<Counted>, Option<Payload>)> {
    let id_owned = id.to_string();
    let task = tokio::task::spawn_blocking(move || {
        let mut resource_metrics = Vec::new();
        for s in &mut scrapers {
            let out = s.scraper.scrape(&host);
            s.scraped.increment(out.points as u64);
            s.errored.increment(out.errored as u64);
            if let Some(first) = out.errors.first() {
                let (receiver, scraper, errors) = (&id_owned, s.scraper.name(), out.errors.len());
                if s.warned {
                    tracing::debug!(message = "Scrape partly failed.", %receiver, scraper, errors, %first);
                } else {
                    s.warned = true;
                    tracing::warn!(message = "Scrape partly failed; later failures of this scraper are logged at debug level.", %receiver, scraper, errors, %first);
                }
            }
            resource_metrics.extend(out.resource_metrics);
        }
        (scrapers, resource_metrics)
    });
    let started = std::time::Instant::now();
    let joined = task.await;
    let (scrapers, resource_metrics) = match joined {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(message = "A scraper panicked; the receiver stops.", receiver = %id, error = %e);
            return None;
        }
    };
    if !timeout.is_zero() && started.elapsed() > timeout {
        tracing::warn!(message = "A scrape took longer than the timeout; its batch is dropped.", receiver = %id, timeout_ms = timeout.as_millis() as u64);
        return Some((scrapers, None));
    }
    if resource_metrics.is_empty() {
        return Some((scrapers, None));
    }
    let bytes = ExportMetricsServiceRequest { resource_metrics }.encode_to_vec();
    // Built here, so it is well-formed.
    Some((scrapers, Payload::new(Signal::Metrics, bytes.into()).ok()))
}
