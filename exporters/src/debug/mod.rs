//! `debug`: writes what it receives to weir's own log, for trying pipelines out.
//!
//! Every payload that passes the sampler gets one `info` event (target `weir::debug`) with its
//! counts; `normal` and `detailed` add one event holding the rendering from [`format`].
//! Everything is read through the views, never decoded with prost.
//!
//! Sampling works like the Collector's (zap's sampler): within each second the first
//! `sampling_initial` payloads are written, then every `sampling_thereafter`-th. Payloads that
//! are not written are still acknowledged: this exporter never fails data.

mod config;
pub mod format;

pub use config::{DebugConfig, Verbosity};

use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use weir_core::{BuildContext, BuildError, Exporter, ExporterFactory, Failure, Payload, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "debug";

/// Factory of the `debug` exporter.
pub struct DebugExporterFactory;

impl ExporterFactory for DebugExporterFactory {
    type Config = DebugConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &DebugConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(DebugExporter::new(&ctx.id.to_string(), config)))
    }
}

/// Lets the first `initial` events of each second through, then every `thereafter`-th.
#[derive(Debug)]
pub struct Sampler {
    initial: u64,
    thereafter: u64,
    start: Instant,
    /// The current one-second window and how many events it has seen.
    window: Mutex<(u64, u64)>,
}

impl Sampler {
    pub fn new(initial: u64, thereafter: u64) -> Self {
        Sampler { initial, thereafter, start: Instant::now(), window: Mutex::new((0, 0)) }
    }

    /// Whether an event at `now` is written.
    pub fn admit(&self, now: Instant) -> bool {
        let second = now.saturating_duration_since(self.start).as_secs();
        // A poisoned lock only means another export panicked mid-count: keep counting.
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0 != second {
            *w = (second, 0);
        }
        w.1 += 1;
        let n = w.1;
        n <= self.initial || (n - self.initial).checked_rem(self.thereafter) == Some(0)
    }
}

/// Writes payloads to the log.
pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
    sampler: Sampler,
}

impl DebugExporter {
    pub fn new(id: &str, config: &DebugConfig) -> Self {
        DebugExporter {
            id: id.to_string(),
            verbosity: config.verbosity,
            sampler: Sampler::new(config.sampling_initial, config.sampling_thereafter),
        }
    }
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        if !self.sampler.admit(Instant::now()) {
            return Ok(());
        }
        let malformed = |e: &dyn std::fmt::Display| Failure::permanent(format!("cannot read the payload: {e}"));
        let c = format::Counts::of(&payload).map_err(|e| malformed(&e))?;
        let id = self.id.as_str();
        match payload.signal() {
            Signal::Traces => tracing::info!(
                target: "weir::debug",
                message = "Traces",
                exporter = id,
                resource_spans = c.resources,
                spans = c.items,
            ),
            Signal::Metrics => tracing::info!(
                target: "weir::debug",
                message = "Metrics",
                exporter = id,
                resource_metrics = c.resources,
                metrics = c.metrics,
                data_points = c.items,
            ),
            Signal::Logs => tracing::info!(
                target: "weir::debug",
                message = "Logs",
                exporter = id,
                resource_logs = c.resources,
                log_records = c.items,
            ),
        }
        let text = match self.verbosity {
            Verbosity::Basic => return Ok(()),
            Verbosity::Normal => format::normal(&payload),
            Verbosity::Detailed => format::detailed(&payload),
        }
        .map_err(|e| malformed(&e))?;
        tracing::info!(target: "weir::debug", exporter = id, "{}", text.trim_end());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn sampler_writes_the_initial_events_then_every_nth_each_second() {
        let s = Sampler::new(2, 3);
        let t0 = s.start;
        let admitted: Vec<bool> = (0..8).map(|_| s.admit(t0)).collect();
        assert_eq!(admitted, [true, true, false, false, true, false, false, true]);
        assert!(s.admit(t0 + Duration::from_secs(1)), "a new second starts over");
        assert!(s.admit(t0 + Duration::from_secs(1)));
        assert!(!s.admit(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn sampler_with_thereafter_zero_stops_after_the_initial_events() {
        let s = Sampler::new(1, 0);
        assert!(s.admit(s.start));
        assert!(!s.admit(s.start));
        assert!(!s.admit(s.start));
    }

    #[test]
    fn default_sampling_writes_everything() {
        let s = Sampler::new(2, 1);
        assert!((0..100).all(|_| s.admit(s.start)));
    }

    /// A log sink shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    async fn export_logged(config: &DebugConfig, payload: Payload) -> String {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || sink.clone()).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        DebugExporter::new("debug", config).export(payload).await.unwrap();
        captured.text()
    }

    #[tokio::test]
    async fn basic_writes_one_summary_line() {
        let out = export_logged(&DebugConfig::default(), testdata::traces(3)).await;
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("weir::debug: Traces exporter=\"debug\" resource_spans=1 spans=3"), "{out}");
        let out = export_logged(&DebugConfig::default(), testdata::metrics(2)).await;
        assert!(out.contains("Metrics exporter=\"debug\" resource_metrics=1 metrics=3 data_points=4"), "{out}");
    }

    #[tokio::test]
    async fn normal_adds_a_line_per_item() {
        let config = DebugConfig { verbosity: Verbosity::Normal, ..DebugConfig::default() };
        let out = export_logged(&config, testdata::logs(2)).await;
        assert!(out.contains("Logs exporter=\"debug\" resource_logs=1 log_records=2"), "{out}");
        assert!(out.contains("\norder 1 placed order.id=1"), "{out}");
    }

    #[tokio::test]
    async fn detailed_writes_attributes_and_resource() {
        let config = DebugConfig { verbosity: Verbosity::Detailed, ..DebugConfig::default() };
        let out = export_logged(&config, testdata::traces(1)).await;
        assert!(out.contains("-> service.name: Str(checkout)"), "{out}");
        assert!(out.contains("-> http.method: Str(GET)"), "{out}");
    }
}
