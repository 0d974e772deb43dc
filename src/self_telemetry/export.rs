//! Where weir's own telemetry goes: an OTLP client built from weir's own `otlp` / `otlphttp`
//! exporters (never a pipeline), or the console; and the `batch` / `simple` processors that
//! queue log records and spans for it.
//!
//! Nothing here logs through `tracing`: a failed export of weir's own logs that logged an
//! error would make a log record to export, and so on. Failures go to
//! `logs::error_output_paths` ([`super::logs::report_error`]) and to the
//! `weir_self_telemetry_export_failed_*` counters instead.

use bytes::Bytes;
use prost::Message;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use weir_core::config::telemetry::{BatchProcessor, LogRecordProcessor, OtlpExporterConfig, ProcessorExporter};
use weir_core::telemetry as metrics;
use weir_core::tls::TlsClientSettings;
use weir_core::{Exporter, Payload, Signal};
use weir_exporters::otlp::{OtlpConfig, OtlpExporter};
use weir_exporters::otlphttp::{Encoding, OtlpHttpConfig, OtlpHttpExporter};

/// One destination of weir's own telemetry of one signal.
pub enum Sink {
    Otlp {
        exporter: Arc<dyn Exporter>,
        timeout: Duration,
        what: String,
    },
    /// OTLP JSON, one request a line, on standard output.
    Console,
}

impl Sink {
    /// The sink of an `otlp` or `console` exporter. Needs a tokio runtime (the gRPC channel).
    pub fn new(otlp: Option<&OtlpExporterConfig>, signal: Signal) -> Result<Sink, String> {
        let Some(o) = otlp else { return Ok(Sink::Console) };
        let id = format!("service::telemetry::{}", signal.as_str());
        let exporter = build_exporter(o, signal, &id)?;
        Ok(Sink::Otlp { exporter, timeout: o.timeout(), what: format!("{} {}", o.protocol, o.endpoint_url()) })
    }

    /// Sends one encoded request of `items` items; `json` renders it for the console.
    pub async fn send(&self, signal: Signal, bytes: Bytes, items: usize, json: impl FnOnce() -> String) {
        let item = signal.item_name();
        match self {
            Sink::Console => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", json());
                metrics::self_telemetry_exported(item, items);
            }
            Sink::Otlp { exporter, timeout, what } => {
                let payload = Payload::from_counted(signal, bytes, items);
                // Whatever the client logs while sending goes nowhere: it must not become
                // more log records to send.
                let send = tracing::instrument::WithSubscriber::with_subscriber(
                    tokio::time::timeout(*timeout, exporter.export(payload)),
                    tracing::subscriber::NoSubscriber::default(),
                );
                let error = match send.await {
                    Ok(Ok(())) => None,
                    Ok(Err(failure)) => Some(failure.to_string()),
                    Err(_) => Some(format!("no answer within {}", weir_core::config::duration::format(*timeout))),
                };
                match error {
                    None => metrics::self_telemetry_exported(item, items),
                    Some(e) => {
                        metrics::self_telemetry_export_failed(item, items);
                        super::logs::report_error(&format!(
                            "weir could not export its own {} ({items} {item}) to {what}: {e}",
                            signal.as_str()
                        ));
                    }
                }
            }
        }
    }
}

/// weir's `otlp` (gRPC) or `otlphttp` exporter for an exporter of `service::telemetry`.
fn build_exporter(o: &OtlpExporterConfig, signal: Signal, id: &str) -> Result<Arc<dyn Exporter>, String> {
    let url = o.endpoint_url();
    let uri: http::Uri = url.parse().map_err(|e| format!("{id}: endpoint {url:?}: {e}"))?;
    let tls = (o.certificate.is_some() || o.client_certificate.is_some()).then(|| TlsClientSettings {
        ca_file: o.certificate.as_ref().map(Into::into),
        cert_file: o.client_certificate.as_ref().map(Into::into),
        key_file: o.client_key.as_ref().map(Into::into),
        ..TlsClientSettings::default()
    });
    let compression = match o.compression.as_deref() {
        Some("gzip") => weir_core::compression::Compression::Gzip,
        _ => weir_core::compression::Compression::None,
    };
    let headers: BTreeMap<String, String> = o.all_headers().into_iter().collect();
    let timeout = o.timeout();
    match o.protocol.as_str() {
        "grpc" => {
            // gRPC goes to the service's own path: only scheme and authority are used.
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
            let endpoint = format!("{}://{authority}", uri.scheme_str().unwrap_or("https"));
            let config = OtlpConfig { endpoint, compression, tls, headers, timeout, ..OtlpConfig::default() };
            Ok(Arc::new(OtlpExporter::new(id, signal, &config, Vec::new()).map_err(|e| format!("{id}: {e}"))?))
        }
        protocol => {
            let encoding = if protocol == "http/json" { Encoding::Json } else { Encoding::Proto };
            let mut config =
                OtlpHttpConfig { compression, encoding, tls, headers, timeout, ..OtlpHttpConfig::default() };
            if matches!(uri.path(), "" | "/") {
                config.endpoint = url.trim_end_matches('/').to_string();
            } else {
                match signal {
                    Signal::Traces => config.traces_endpoint = url,
                    Signal::Metrics => config.metrics_endpoint = url,
                    Signal::Logs => config.logs_endpoint = url,
                }
            }
            Ok(Arc::new(OtlpHttpExporter::new(id, signal, &config, Vec::new()).map_err(|e| format!("{id}: {e}"))?))
        }
    }
}

/// What a processor queues: log records or spans, and how a batch becomes a request.
pub trait Batchable: Send + 'static + Sized {
    const SIGNAL: Signal;
    /// Default `schedule_delay` (ms): 1000 for logs, 5000 for spans, as the SDKs.
    const DEFAULT_DELAY_MS: u64;
    /// The encoded request and its OTLP JSON form.
    fn encode(batch: Vec<Self>, resource: &super::Resource) -> (Bytes, Box<dyn FnOnce() -> String + Send>);
}

/// A running `batch` or `simple` processor: the queue the logging layer pushes into and the
/// task that exports it.
pub struct Processor<T> {
    queue: Arc<Queue<T>>,
}

struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    notify: Notify,
    max_queue: usize,
    max_batch: usize,
}

impl<T: Batchable> Processor<T> {
    /// Starts the processor's task on the current runtime; it flushes and ends when `stop`
    /// is cancelled.
    pub fn start(
        config: &LogRecordProcessor,
        resource: Arc<super::Resource>,
        stop: CancellationToken,
    ) -> Result<(Processor<T>, tokio::task::JoinHandle<()>), String> {
        let (exporter, batch) = match (&config.batch, &config.simple) {
            (Some(b), _) => (&b.exporter, Some(b)),
            (None, Some(s)) => (&s.exporter, None),
            (None, None) => return Err("a processor needs batch or simple".into()),
        };
        let sink = Sink::new(exporter_otlp(exporter), T::SIGNAL)?;
        let get = |f: fn(&BatchProcessor) -> Option<u64>, default: u64| batch.and_then(f).unwrap_or(default);
        let delay =
            Duration::from_millis(if batch.is_some() { get(|b| b.schedule_delay, T::DEFAULT_DELAY_MS) } else { 0 });
        let export_timeout = Duration::from_millis(get(|b| b.export_timeout, 30_000));
        let queue = Arc::new(Queue {
            items: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            max_queue: get(|b| b.max_queue_size, 2048).max(1) as usize,
            max_batch: if batch.is_some() { get(|b| b.max_export_batch_size, 512).max(1) as usize } else { 1 },
        });
        let q = queue.clone();
        let task = tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = stop.cancelled() => true,
                    _ = q.notify.notified() => false,
                    _ = tokio::time::sleep(delay), if !delay.is_zero() => false,
                };
                loop {
                    let batch: Vec<T> = {
                        let mut items = q.items.lock().unwrap_or_else(|e| e.into_inner());
                        let n = items.len().min(q.max_batch);
                        items.drain(..n).collect()
                    };
                    if batch.is_empty() {
                        break;
                    }
                    let n = batch.len();
                    let (bytes, json) = T::encode(batch, &resource);
                    let _ = tokio::time::timeout(export_timeout, sink.send(T::SIGNAL, bytes, n, json)).await;
                    let more = q.items.lock().unwrap_or_else(|e| e.into_inner()).len();
                    if !stopping && more < q.max_batch && !delay.is_zero() {
                        break;
                    }
                }
                if stopping {
                    return;
                }
            }
        });
        Ok((Processor { queue }, task))
    }

    /// Queues one item (dropped, and counted, when the queue is full). Never blocks.
    pub fn push(&self, item: T) {
        let len = {
            let mut items = self.queue.items.lock().unwrap_or_else(|e| e.into_inner());
            if items.len() >= self.queue.max_queue {
                drop(items);
                metrics::self_telemetry_dropped(T::SIGNAL.item_name(), 1);
                return;
            }
            items.push_back(item);
            items.len()
        };
        if len >= self.queue.max_batch {
            self.queue.notify.notify_one();
        }
    }
}

fn exporter_otlp(e: &ProcessorExporter) -> Option<&OtlpExporterConfig> {
    e.otlp.as_ref()
}

/// Encodes a prost message.
pub fn encode(m: &impl Message) -> Bytes {
    Bytes::from(m.encode_to_vec())
}
