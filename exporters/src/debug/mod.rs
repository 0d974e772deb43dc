//! `debug`: writes what it receives, for trying pipelines out.
//!
//! Every payload gets a summary line (`Traces`, `Metrics`, `Logs` with its counts); `normal`
//! and `detailed` add the rendering from [`format`]. Everything is read through the views,
//! never decoded with prost.
//!
//! Where the lines go, as the Collector's:
//!
//! - `use_internal_logger: true` (default): weir's own log, as `info` events with target
//!   `weir::debug` (timestamp, level and `service::telemetry::logs` apply).
//! - `use_internal_logger: false`: straight to `output_paths` (default `stdout`; `stderr`, or
//!   files, appended to), each line the message then its fields as JSON, tab-separated, as the
//!   Collector's console encoder writes them (`Traces\t{"resource spans": 1, "spans": 2}`),
//!   the rendering on its own. Files are opened when the exporter starts.
//!
//! Sampling is the Collector's (zap's sampler): lines are counted **by message** within one
//! second from the first of them; the first `sampling_initial` lines of a message are written,
//! then every `sampling_thereafter`-th (0: none). The summaries of one signal share a message
//! (`Traces`), so with `sampling_initial: 2` the third payload of a second gets no summary, as
//! in the Collector; renderings count by their text. Lines not written are still
//! acknowledged: this exporter never fails data.

mod config;
pub mod format;

pub use config::{DebugConfig, Verbosity};

use async_trait::async_trait;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
        Ok(Arc::new(DebugExporter::new(&ctx.id.to_string(), config)?))
    }
}

/// zap's sampler: per message, the first `initial` lines of each one-second window, then
/// every `thereafter`-th.
#[derive(Debug)]
pub struct Sampler {
    initial: u64,
    thereafter: u64,
    /// By bucket of the message's hash (zap's 4096 counters): when the window ends, and how
    /// many lines it has seen.
    windows: Mutex<HashMap<u32, (Instant, u64)>>,
}

/// zap keeps this many counters per level; messages whose hashes share one share a count.
const COUNTERS: u32 = 4096;

/// The window a count lasts (zap's tick, 1s in the Collector).
const TICK: Duration = Duration::from_secs(1);

/// FNV-1a, 32 bits: how zap picks a message's counter.
fn fnv32a(s: &str) -> u32 {
    s.bytes().fold(2_166_136_261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16_777_619))
}

impl Sampler {
    pub fn new(initial: u64, thereafter: u64) -> Self {
        Sampler { initial, thereafter, windows: Mutex::new(HashMap::new()) }
    }

    /// Whether a line with `message` at `now` is written.
    pub fn admit(&self, message: &str, now: Instant) -> bool {
        // A poisoned lock only means another export panicked mid-count: keep counting.
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(fnv32a(message) % COUNTERS).or_insert((now, 0));
        if now >= w.0 {
            *w = (now + TICK, 0);
        }
        w.1 += 1;
        let n = w.1;
        n <= self.initial || (n - self.initial).checked_rem(self.thereafter) == Some(0)
    }
}

/// Where lines are written.
enum Sink {
    /// weir's log.
    Log,
    /// `output_paths`: stdout, stderr or files, every line to each.
    Outputs(Mutex<Vec<Box<dyn Write + Send>>>),
}

/// Writes payloads as text.
pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
    sampler: Sampler,
    sink: Sink,
}

impl DebugExporter {
    /// Opens the `output_paths` (with `use_internal_logger: false`).
    pub fn new(id: &str, config: &DebugConfig) -> Result<Self, BuildError> {
        let sink = if config.use_internal_logger {
            Sink::Log
        } else {
            let mut outputs: Vec<Box<dyn Write + Send>> = Vec::new();
            for (i, path) in config.destinations().iter().enumerate() {
                outputs.push(match path.as_str() {
                    "stdout" => Box::new(std::io::stdout()),
                    "stderr" => Box::new(std::io::stderr()),
                    file => Box::new(
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(file)
                            .map_err(|e| BuildError::new(format!("output_paths[{i}]: cannot open {file}: {e}")))?,
                    ),
                });
            }
            Sink::Outputs(Mutex::new(outputs))
        };
        Ok(DebugExporter {
            id: id.to_string(),
            verbosity: config.verbosity,
            sampler: Sampler::new(config.sampling_initial, config.sampling_thereafter),
            sink,
        })
    }

    /// Writes the summary of a payload when the sampler lets it through.
    fn summary(&self, signal: Signal, c: format::Counts) {
        let message = match signal {
            Signal::Traces => "Traces",
            Signal::Metrics => "Metrics",
            Signal::Logs => "Logs",
        };
        if !self.sampler.admit(message, Instant::now()) {
            return;
        }
        let id = self.id.as_str();
        let fields: Vec<(&str, usize)> = match (&self.sink, signal) {
            (Sink::Log, Signal::Traces) => {
                tracing::info!(target: "weir::debug", message, exporter = id, resource_spans = c.resources, spans = c.items);
                return;
            }
            (Sink::Log, Signal::Metrics) => {
                tracing::info!(
                    target: "weir::debug",
                    message,
                    exporter = id,
                    resource_metrics = c.resources,
                    metrics = c.metrics,
                    data_points = c.items,
                );
                return;
            }
            (Sink::Log, Signal::Logs) => {
                tracing::info!(target: "weir::debug", message, exporter = id, resource_logs = c.resources, log_records = c.items);
                return;
            }
            (Sink::Outputs(_), Signal::Traces) => vec![("resource spans", c.resources), ("spans", c.items)],
            (Sink::Outputs(_), Signal::Metrics) => {
                vec![("resource metrics", c.resources), ("metrics", c.metrics), ("data points", c.items)]
            }
            (Sink::Outputs(_), Signal::Logs) => vec![("resource logs", c.resources), ("log records", c.items)],
        };
        // zap's console encoder: the message, a tab, the fields as a JSON object.
        let json: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        self.output(&format!("{message}\t{{{}}}", json.join(", ")));
    }

    /// Writes a rendering when the sampler lets it through.
    fn text(&self, text: &str) {
        if !self.sampler.admit(text, Instant::now()) {
            return;
        }
        match &self.sink {
            Sink::Log => tracing::info!(target: "weir::debug", exporter = self.id.as_str(), "{text}"),
            Sink::Outputs(_) => self.output(text),
        }
    }

    /// One line to every output path.
    fn output(&self, line: &str) {
        let Sink::Outputs(outputs) = &self.sink else { return };
        let mut outputs = outputs.lock().unwrap_or_else(|e| e.into_inner());
        for out in outputs.iter_mut() {
            // A closed stdout or a full disk must not fail the data: the Collector's logger
            // drops the line too.
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        }
    }
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        let malformed = |e: &dyn std::fmt::Display| Failure::permanent(format!("cannot read the payload: {e}"));
        let c = format::Counts::of(&payload).map_err(|e| malformed(&e))?;
        self.summary(payload.signal(), c);
        let text = match self.verbosity {
            Verbosity::Basic => return Ok(()),
            Verbosity::Normal => format::normal(&payload),
            Verbosity::Detailed => format::detailed(&payload),
        }
        .map_err(|e| malformed(&e))?;
        self.text(text.trim_end());
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
    fn sampler_writes_the_initial_lines_then_every_nth_each_second() {
        let s = Sampler::new(2, 3);
        let t0 = Instant::now();
        let admitted: Vec<bool> = (0..8).map(|_| s.admit("Traces", t0)).collect();
        assert_eq!(admitted, [true, true, false, false, true, false, false, true]);
        assert!(s.admit("Traces", t0 + Duration::from_secs(1)), "a new second starts over");
        assert!(s.admit("Traces", t0 + Duration::from_secs(1)));
        assert!(!s.admit("Traces", t0 + Duration::from_secs(1)));
    }

    #[test]
    fn sampler_counts_each_message_on_its_own() {
        let s = Sampler::new(1, 0);
        let t0 = Instant::now();
        assert!(s.admit("Traces", t0));
        assert!(!s.admit("Traces", t0));
        assert!(s.admit("Logs", t0), "another message has its own count");
        assert!(s.admit("ResourceSpans #0 service.name=a", t0));
        assert!(!s.admit("ResourceSpans #0 service.name=a", t0), "the same rendering twice shares a count");
    }

    #[test]
    fn sampler_with_thereafter_zero_stops_after_the_initial_lines() {
        let s = Sampler::new(1, 0);
        let t0 = Instant::now();
        assert!(s.admit("Logs", t0));
        assert!(!s.admit("Logs", t0));
        assert!(!s.admit("Logs", t0 + Duration::from_millis(999)));
        assert!(s.admit("Logs", t0 + Duration::from_secs(1)));
    }

    #[test]
    fn default_sampling_writes_everything() {
        let s = Sampler::new(2, 1);
        let t0 = Instant::now();
        assert!((0..100).all(|_| s.admit("Metrics", t0)));
    }

    #[test]
    fn zaps_message_hash_is_fnv1a() {
        assert_eq!(fnv32a(""), 2_166_136_261);
        assert_eq!(fnv32a("a"), 0xe40c_292c);
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
        DebugExporter::new("debug", config).unwrap().export(payload).await.unwrap();
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

    #[tokio::test]
    async fn without_the_internal_logger_lines_go_to_every_output_path_in_the_collectors_format() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let config = DebugConfig {
            use_internal_logger: false,
            output_paths: Some(vec![a.display().to_string(), b.display().to_string()]),
            verbosity: Verbosity::Normal,
            ..DebugConfig::default()
        };
        let exporter = DebugExporter::new("debug", &config).unwrap();
        exporter.export(testdata::traces(2)).await.unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert!(text.starts_with("Traces\t{\"resource spans\": 1, \"spans\": 2}\nResourceSpans #0"), "{text}");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), text, "every path gets every line");
    }

    #[tokio::test]
    async fn sampling_drops_summaries_past_the_initial_ones_as_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.log");
        let config = DebugConfig {
            use_internal_logger: false,
            output_paths: Some(vec![out.display().to_string()]),
            sampling_initial: 2,
            sampling_thereafter: 0,
            ..DebugConfig::default()
        };
        let exporter = DebugExporter::new("debug", &config).unwrap();
        for _ in 0..5 {
            exporter.export(testdata::logs(1)).await.unwrap();
        }
        exporter.export(testdata::traces(1)).await.unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.matches("Logs\t").count(), 2, "{text}");
        assert_eq!(text.matches("Traces\t").count(), 1, "another message counts on its own: {text}");
    }

    #[test]
    fn an_output_path_that_cannot_be_opened_fails_the_start() {
        let config = DebugConfig {
            use_internal_logger: false,
            output_paths: Some(vec!["/nonexistent/dir/debug.log".into()]),
            ..DebugConfig::default()
        };
        let err = DebugExporter::new("debug", &config).err().expect("cannot open").to_string();
        assert!(err.starts_with("output_paths[0]: cannot open /nonexistent/dir/debug.log"), "{err}");
    }
}
