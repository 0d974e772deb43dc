//! weir's own telemetry: Prometheus `/metrics` with the Collector's metric names, the service's
//! [`Health`] (which the `health_check` extension serves), and the metric handles components
//! use.
//!
//! Metric names follow the Collector (`otelcol_receiver_accepted_spans`,
//! `otelcol_exporter_sent_spans`, `otelcol_exporter_queue_size`, …) with its label names
//! (`receiver`, `transport`, `exporter`, `processor`, `data_type`). Counters are rendered with
//! the `_total` suffix current Collector builds expose.

use crate::pdata::Signal;
use axum::http::StatusCode;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();
static STARTED: OnceLock<(Instant, SystemTime)> = OnceLock::new();

/// Installs the process-wide metrics recorder (once) and returns its handle.
pub fn prometheus() -> &'static PrometheusHandle {
    STARTED.get_or_init(|| (Instant::now(), SystemTime::now()));
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .with_recommended_naming(true)
            .set_buckets(&[1.0, 10.0, 100.0, 512.0, 1000.0, 2000.0, 5000.0, 8192.0, 10000.0, 50000.0])
            .expect("static, non-empty bucket list")
            // Seconds from a trace's first span to its decision: fine around the common
            // `decision_wait` values (5 s, 10 s, 30 s) to show what decisions add to them.
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_decision_latency".into()),
                &[0.1, 0.5, 1.0, 2.0, 5.0, 5.05, 5.1, 5.25, 5.5, 10.0, 10.1, 10.5, 30.0, 30.1, 30.5, 31.0, 60.0, 120.0],
            )
            .expect("static, non-empty bucket list")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (e.g. by an embedding test); ours still renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

fn process_metrics() {
    let (start, _) = STARTED.get_or_init(|| (Instant::now(), SystemTime::now()));
    metrics::gauge!("otelcol_process_uptime").set(start.elapsed().as_secs_f64());
    if let Some((rss, cpu)) = read_proc_self() {
        metrics::gauge!("otelcol_process_memory_rss").set(rss as f64);
        metrics::gauge!("otelcol_process_cpu_seconds").set(cpu);
    }
}

/// Resident set size in bytes and CPU seconds (user + system) of this process, from `/proc`.
pub fn read_proc_self() -> Option<(u64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let rss_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((rss_pages * 4096, ticks / 100.0))
}

/// What each of weir's metrics counts, for the `# HELP` lines of `/metrics` (by name, without
/// the `_total` suffix of counters, or by a prefix ending in `_`).
const HELP: &[(&str, &str)] = &[
    ("otelcol_receiver_accepted_", "Items (spans, metric points, log records) a receiver accepted into the pipelines."),
    ("otelcol_receiver_refused_", "Items a receiver refused: the pipeline was full or memory_limiter refused, or the exporters failed with wait_for_result."),
    ("otelcol_receiver_failed_", "Items in requests a receiver could not read (malformed, too large, bad encoding)."),
    ("otelcol_exporter_sent_", "Items an exporter delivered."),
    ("otelcol_exporter_send_failed_", "Items an exporter gave up on after its retries."),
    ("otelcol_exporter_enqueue_failed_", "Items refused by a full sending queue (block_on_overflow: false)."),
    ("otelcol_exporter_queue_size", "Current size of the sending queue, in its sizer's units."),
    ("otelcol_exporter_queue_capacity", "Capacity of the sending queue, in its sizer's units."),
    ("otelcol_processor_incoming_items", "Items that entered a processor."),
    ("otelcol_processor_outgoing_items", "Items that left a processor."),
    ("otelcol_processor_batch_batch_send_size", "Items per batch sent."),
    ("otelcol_processor_batch_batch_size_trigger_send", "Batches sent because they reached send_batch_size."),
    ("otelcol_processor_batch_timeout_trigger_send", "Batches sent because their timeout passed (or at shutdown)."),
    ("otelcol_processor_memory_limiter_", "memory_limiter: memory use and the data it refused."),
    ("otelcol_processor_tail_sampling_adaptive_", "tail_sampling's adaptive policy: budget, measured rates, keys and their probabilities."),
    ("otelcol_processor_tail_sampling_sampling_decision_latency", "Seconds from a trace's first span to its sampling decision."),
    ("otelcol_processor_tail_sampling_", "tail_sampling: traces and spans buffered, decided, kept and dropped, by policy and trigger."),
    ("otelcol_kafka_", "Kafka receiver and exporter: messages, bytes, partitions."),
    ("weir_exporter_queue_", "The persistent sending queue: records recovered or damaged, fsyncs."),
    ("otelcol_process_uptime", "Seconds since the process started."),
    ("otelcol_process_memory_rss", "Resident memory of the process, in bytes."),
    ("otelcol_process_cpu_seconds", "CPU seconds (user and system) the process used."),
];

/// `text` with a `# HELP` line before every `# TYPE` line that has none (the recorder only
/// writes those for metrics described to it, and weir's are described here, in one place).
fn with_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut previous = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap_or("");
            if !previous.starts_with("# HELP ") {
                let base = name.strip_suffix("_total").unwrap_or(name);
                let help = HELP
                    .iter()
                    .find(|(k, _)| *k == base || (k.ends_with('_') && base.starts_with(k)))
                    .map(|(_, h)| (*h).to_string())
                    .unwrap_or_else(|| base.replace('_', " "));
                out.push_str(&format!("# HELP {name} {help}\n"));
            }
        }
        out.push_str(line);
        out.push('\n');
        previous = line;
    }
    out
}

/// Serves `/metrics` on `addr` until `shutdown`.
pub async fn serve_metrics(addr: &str, shutdown: CancellationToken) -> Result<JoinHandle<()>, String> {
    let handle = prometheus();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            process_metrics();
            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], with_help(&handle.render()))
        }),
    );
    serve(addr, app, shutdown, "service::telemetry::metrics").await
}

/// Binds `addr` and serves `app` until `shutdown`.
pub async fn serve(
    addr: &str,
    app: axum::Router,
    shutdown: CancellationToken,
    what: &str,
) -> Result<JoinHandle<()>, String> {
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("{what}: cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(message = "Listening.", component = what, address = %local);
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    }))
}

/// Counters of one receiver for one signal.
///
/// Counters for the `grpc` and `http` transports are registered up front, so counting on the
/// request path does not allocate.
#[derive(Clone)]
pub struct ReceiverMetrics {
    receiver: Arc<str>,
    signal: Signal,
    known: Arc<[(&'static str, [metrics::Counter; 3])]>,
}

const OUTCOMES: [&str; 3] = ["accepted", "refused", "failed"];

impl ReceiverMetrics {
    pub fn new(receiver: &str, signal: Signal) -> Self {
        let known: Vec<_> = ["grpc", "http"]
            .into_iter()
            .map(|t| (t, OUTCOMES.map(|o| Self::register(receiver, signal, o, t))))
            .collect();
        ReceiverMetrics { receiver: Arc::from(receiver), signal, known: known.into() }
    }

    fn register(receiver: &str, signal: Signal, outcome: &str, transport: &'static str) -> metrics::Counter {
        let name = format!("otelcol_receiver_{outcome}_{}", signal.item_name());
        metrics::counter!(name, "receiver" => receiver.to_string(), "transport" => transport)
    }

    pub fn accepted(&self, transport: &'static str, items: usize) {
        self.count(0, transport, items);
    }

    pub fn refused(&self, transport: &'static str, items: usize) {
        self.count(1, transport, items);
    }

    /// Items in requests that could not be read (bad protobuf or JSON).
    pub fn failed(&self, transport: &'static str, items: usize) {
        self.count(2, transport, items);
    }

    fn count(&self, outcome: usize, transport: &'static str, items: usize) {
        match self.known.iter().find(|(t, _)| *t == transport) {
            Some((_, counters)) => counters[outcome].increment(items as u64),
            None => Self::register(&self.receiver, self.signal, OUTCOMES[outcome], transport).increment(items as u64),
        }
    }
}

/// Counters and gauges of one exporter instance.
#[derive(Clone)]
pub struct ExporterMetrics {
    exporter: Arc<str>,
    signal: Signal,
    sent: metrics::Counter,
    send_failed: metrics::Counter,
    enqueue_failed: metrics::Counter,
    queue_size: metrics::Gauge,
    queue_capacity: metrics::Gauge,
}

impl ExporterMetrics {
    pub fn new(exporter: &str, signal: Signal) -> Self {
        let item = signal.item_name();
        let labels = [("exporter", exporter.to_string())];
        let queue_labels = [("exporter", exporter.to_string()), ("data_type", signal.as_str().to_string())];
        ExporterMetrics {
            exporter: Arc::from(exporter),
            signal,
            sent: metrics::counter!(format!("otelcol_exporter_sent_{item}"), &labels),
            send_failed: metrics::counter!(format!("otelcol_exporter_send_failed_{item}"), &labels),
            enqueue_failed: metrics::counter!(format!("otelcol_exporter_enqueue_failed_{item}"), &labels),
            queue_size: metrics::gauge!("otelcol_exporter_queue_size", &queue_labels),
            queue_capacity: metrics::gauge!("otelcol_exporter_queue_capacity", &queue_labels),
        }
    }

    pub fn exporter(&self) -> &str {
        &self.exporter
    }

    pub fn signal(&self) -> Signal {
        self.signal
    }

    pub fn sent(&self, items: usize) {
        self.sent.increment(items as u64);
    }
    pub fn send_failed(&self, items: usize) {
        self.send_failed.increment(items as u64);
    }
    pub fn enqueue_failed(&self, items: usize) {
        self.enqueue_failed.increment(items as u64);
    }
    pub fn queue_size(&self, n: usize) {
        self.queue_size.set(n as f64);
    }
    pub fn queue_capacity(&self, n: usize) {
        self.queue_capacity.set(n as f64);
    }
}

/// Whether the service is up, as `health_check` reports it.
#[derive(Clone, Default)]
pub struct Health(Arc<HealthState>);

#[derive(Default)]
struct HealthState {
    ready: AtomicBool,
    since: std::sync::Mutex<Option<(Instant, SystemTime)>>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::SeqCst);
        if let Ok(mut s) = self.0.since.lock() {
            *s = ready.then(|| (Instant::now(), SystemTime::now()));
        }
    }

    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::SeqCst)
    }

    /// The `health_check` answer: status code and JSON body, as the Collector's.
    pub fn body(&self) -> (StatusCode, String) {
        let since = self.0.since.lock().ok().and_then(|s| *s);
        match (self.is_ready(), since) {
            (true, Some((at, wall))) => {
                let up_since = rfc3339(wall);
                let uptime = format!("{:.3}s", at.elapsed().as_secs_f64());
                (
                    StatusCode::OK,
                    serde_json::json!({"status": "Server available", "upSince": up_since, "uptime": uptime})
                        .to_string(),
                )
            }
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "Server not available", "upSince": "0001-01-01T00:00:00Z", "uptime": ""})
                    .to_string(),
            ),
        }
    }
}

/// Formats a wall-clock time as RFC 3339 in UTC, without pulling in a date crate.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_dates() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_651_200);
        assert_eq!(rfc3339(t), "2026-11-26T00:00:00Z");
    }

    #[test]
    fn every_metric_family_gets_a_help_line() {
        let text = "# TYPE otelcol_receiver_accepted_spans_total counter\notelcol_receiver_accepted_spans_total{receiver=\"otlp\"} 3\n\
                    # HELP x_y described\n# TYPE x_y gauge\nx_y 1\n# TYPE weir_new_thing gauge\nweir_new_thing 2\n";
        let out = with_help(text);
        assert!(out.contains("# HELP otelcol_receiver_accepted_spans_total Items (spans, metric points, log records) a receiver accepted"), "{out}");
        assert_eq!(out.matches("# HELP x_y").count(), 1, "a described metric keeps its own line: {out}");
        assert!(out.contains("# HELP weir_new_thing weir new thing"), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with("# TYPE")).count(),
            out.lines().filter(|l| l.starts_with("# HELP")).count()
        );
    }

    #[test]
    fn health_is_unavailable_until_ready() {
        let h = Health::default();
        assert_eq!(h.body().0, StatusCode::SERVICE_UNAVAILABLE);
        h.set_ready(true);
        let (code, body) = h.body();
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("Server available"));
    }
}
