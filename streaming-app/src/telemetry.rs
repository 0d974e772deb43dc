//! OpenTelemetry wiring shared by `streaming-app` and `viewer-sim`.
//!
//! - Traces: `tracing` spans become OpenTelemetry spans through `tracing-opentelemetry`
//!   (fields `otel.name`, `otel.kind`, `otel.status_code` set name, kind and status).
//! - Logs: `tracing` events go to stderr and, through `opentelemetry-appender-tracing`, to OTLP
//!   with the trace and span id of the span they happened in.
//! - Metrics: [`AppMetrics`] instruments on the global meter.
//!
//! All three are exported over OTLP/gRPC. The SDK reads the standard variables itself:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4317`), the per-signal endpoints,
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG`, `OTEL_METRIC_EXPORT_INTERVAL` (5 s here when unset, not 60 s, so
//! short demos show metrics). Context travels as W3C `traceparent`, in HTTP headers and in a
//! `traceparent` field of WebSocket JSON messages.
//!
//! With telemetry off only the stderr log remains, and spans are disabled at the call site
//! (no layer wants them), so their cost is a few atomic loads.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Context;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{filter_fn, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed: {0}")]
    Subscriber(String),
}

/// Owns the SDK providers; [`TelemetryGuard::shutdown`] flushes everything still buffered.
#[derive(Default)]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    logger: Option<SdkLoggerProvider>,
}

impl TelemetryGuard {
    /// Flushes and shuts down the exporters. Blocking: call it outside async code, or through
    /// `spawn_blocking`, while the tokio runtime that built the exporters still runs.
    pub fn shutdown(self) {
        if let Some(t) = self.tracer {
            if let Err(error) = t.shutdown() {
                eprintln!("trace export shutdown: {error}");
            }
        }
        if let Some(m) = self.meter {
            if let Err(error) = m.shutdown() {
                eprintln!("metric export shutdown: {error}");
            }
        }
        if let Some(l) = self.logger {
            if let Err(error) = l.shutdown() {
                eprintln!("log export shutdown: {error}");
            }
        }
    }
}

fn resource(default_service: &str) -> Resource {
    let b = Resource::builder();
    // The SDK's detectors read OTEL_SERVICE_NAME; only fall back to our name when it is unset.
    let b = match std::env::var("OTEL_SERVICE_NAME") {
        Ok(s) if !s.is_empty() => b,
        _ => b.with_service_name(default_service.to_string()),
    };
    b.build()
}

/// Installs the global subscriber (stderr log, and with `otlp` the OTLP traces and logs layers),
/// the W3C propagator and the global meter provider. Must run inside a tokio runtime.
pub fn init(default_service: &'static str, otlp: bool) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Spans are not printed; leaving them out of the stderr layer keeps them free when OTLP is off.
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(env.and(filter_fn(|m| m.is_event())));
    if !otlp {
        tracing_subscriber::registry()
            .with(stderr)
            .try_init()
            .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
        return Ok(TelemetryGuard::default());
    }
    let resource = resource(default_service);
    let err = |e: opentelemetry_otlp::ExporterBuildError| TelemetryError::Exporter(e.to_string());

    let spans = opentelemetry_otlp::SpanExporter::builder().with_tonic().build().map_err(err)?;
    let tracer = SdkTracerProvider::builder().with_resource(resource.clone()).with_batch_exporter(spans).build();

    let metrics = opentelemetry_otlp::MetricExporter::builder().with_tonic().build().map_err(err)?;
    let mut reader = PeriodicReader::builder(metrics);
    if std::env::var_os("OTEL_METRIC_EXPORT_INTERVAL").is_none() {
        reader = reader.with_interval(Duration::from_secs(5));
    }
    let meter = SdkMeterProvider::builder().with_resource(resource.clone()).with_reader(reader.build()).build();
    opentelemetry::global::set_meter_provider(meter.clone());

    let logs = opentelemetry_otlp::LogExporter::builder().with_tonic().build().map_err(err)?;
    let logger = SdkLoggerProvider::builder().with_resource(resource).with_batch_exporter(logs).build();

    // The exporters' own crates log through `tracing` too; feeding those events back into
    // OTLP would loop, so they stay on stderr only.
    let quiet = || {
        Targets::new()
            .with_default(LevelFilter::INFO)
            .with_target("h2", LevelFilter::OFF)
            .with_target("hyper", LevelFilter::OFF)
            .with_target("hyper_util", LevelFilter::OFF)
            .with_target("tonic", LevelFilter::OFF)
            .with_target("tower", LevelFilter::OFF)
            .with_target("opentelemetry", LevelFilter::OFF)
            .with_target("opentelemetry_sdk", LevelFilter::OFF)
            .with_target("opentelemetry_otlp", LevelFilter::OFF)
    };
    let trace_layer = tracing_opentelemetry::layer().with_tracer(tracer.tracer(default_service)).with_filter(quiet());
    let log_layer = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&logger)
        .with_filter(quiet().and(filter_fn(|m| m.is_event())));
    tracing_subscriber::registry()
        .with(stderr)
        .with(trace_layer)
        .with(log_layer)
        .try_init()
        .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
    Ok(TelemetryGuard { tracer: Some(tracer), meter: Some(meter), logger: Some(logger) })
}

/// The service's metric instruments (no-ops when no meter provider is installed).
#[derive(Clone)]
pub struct AppMetrics {
    /// Open WebSocket connections.
    pub connections: UpDownCounter<i64>,
    /// WebSocket messages received from clients, by `type`.
    pub messages_in: Counter<u64>,
    /// Frames enqueued to viewers by fan-out.
    pub deliveries: Counter<u64>,
    /// Frames not enqueued because a viewer's queue was full.
    pub dropped: Counter<u64>,
    /// Time to handle one WebSocket message, store and fan-out included, in seconds.
    pub message_duration: Histogram<f64>,
    /// Time to enqueue one message to every viewer of a room, in seconds.
    pub fanout_duration: Histogram<f64>,
    /// HTTP server request duration, in seconds, by method, route and status.
    pub http_duration: Histogram<f64>,
    /// Store operation duration, in seconds, by op.
    pub store_duration: Histogram<f64>,
}

impl AppMetrics {
    /// Instruments on the global meter provider (install it first with [`init`]).
    pub fn new() -> AppMetrics {
        let m = opentelemetry::global::meter("streaming-app");
        let secs = |name: &'static str, desc: &'static str| {
            m.f64_histogram(name)
                .with_unit("s")
                .with_description(desc)
                .with_boundaries(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .build()
        };
        AppMetrics {
            connections: m
                .i64_up_down_counter("streaming.ws.connections")
                .with_description("Open WebSocket connections")
                .build(),
            messages_in: m
                .u64_counter("streaming.ws.messages")
                .with_description("WebSocket messages received from clients")
                .build(),
            deliveries: m
                .u64_counter("streaming.fanout.deliveries")
                .with_description("Frames enqueued to viewers by fan-out")
                .build(),
            dropped: m
                .u64_counter("streaming.fanout.dropped")
                .with_description("Frames dropped because a viewer's queue was full")
                .build(),
            message_duration: secs("streaming.ws.message.duration", "Time to handle one WebSocket message"),
            fanout_duration: secs("streaming.fanout.duration", "Time to enqueue one message to a room"),
            http_duration: secs("http.server.request.duration", "HTTP server request duration"),
            store_duration: secs("streaming.store.duration", "Store operation duration"),
        }
    }
}

impl Default for AppMetrics {
    fn default() -> Self {
        AppMetrics::new()
    }
}

/// Reads W3C headers out of an HTTP header map.
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Writes W3C headers into an HTTP header map.
pub struct HeaderInjector<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}

/// The remote parent carried by HTTP headers (an empty context when there is none).
pub fn context_from_headers(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The remote parent carried by a `traceparent` value.
pub fn context_from_traceparent(traceparent: &str) -> Context {
    let mut carrier = HashMap::with_capacity(1);
    carrier.insert("traceparent".to_string(), traceparent.to_string());
    TraceContextPropagator::new().extract(&carrier)
}

/// The `traceparent` value naming `span` (None when the span is not recorded by OpenTelemetry).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut carrier: HashMap<String, String> = HashMap::with_capacity(1);
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove("traceparent")
}

/// Adds `span`'s `traceparent` (when it has one) to outgoing HTTP headers.
pub fn inject_headers(span: &tracing::Span, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// Marks a span as failed with `message` (OpenTelemetry status ERROR).
pub fn set_error(span: &tracing::Span, message: &str) {
    span.set_status(opentelemetry::trace::Status::error(message.to_string()));
}
