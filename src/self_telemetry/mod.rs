//! weir's own telemetry, as `service::telemetry` configures it: its logs (formatted, sampled
//! and written by [`logs`], and exported as OTLP log records), its metrics (`/metrics` for
//! Prometheus `pull` readers, OTLP for `periodic` readers: [`metrics`]) and its own spans
//! ([`spans`]).
//!
//! **Outside the pipelines.** Everything exported here goes through an OTLP client built from
//! weir's `otlp` / `otlphttp` exporters ([`export`]) that no pipeline knows about: weir's own
//! telemetry never enters a pipeline, and a pipeline's data never mixes with it. It reaches a
//! pipeline only when the user points an exporter of `service::telemetry` at a receiver of a
//! weir (this one included) — their explicit choice. Failures of these exports are written to
//! `logs::error_output_paths` and counted, never logged as records that would be exported
//! again.
//!
//! Logging starts before the configuration is read ([`logs::init`]); [`SelfTelemetry::start`]
//! applies `service::telemetry` once it is loaded, and again on every reload.

pub mod export;
pub mod logs;
pub mod metrics;
pub mod spans;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use std::sync::{Arc, OnceLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::config::telemetry::{AttributeValue, Level, ResourceConfig, TelemetryConfig, METER_NAME};
use weir_core::telemetry::MetricsView;

/// The resource of weir's own telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub attributes: Vec<(String, AttributeValue)>,
    pub schema_url: String,
}

/// One `service.instance.id` for the life of the process (kept across reloads).
fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let b: [u8; 16] = rand::random();
        // A version 4 (random) UUID.
        let mut b = b;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    })
}

impl Resource {
    /// The Collector's rules: `service.name`, `service.version` and `service.instance.id`
    /// unless a legacy inline attribute names them (null removes one), the legacy attributes,
    /// then `attributes`; detected attributes rank below all of them.
    pub fn new(c: &ResourceConfig) -> Resource {
        let mut attrs: Vec<(String, AttributeValue)> = Vec::new();
        fn set(k: &str, v: AttributeValue, attrs: &mut Vec<(String, AttributeValue)>) {
            attrs.retain(|(n, _)| n != k);
            attrs.push((k.to_string(), v));
        }
        for (k, v) in [
            ("service.name", "weir".to_string()),
            ("service.version", env!("CARGO_PKG_VERSION").to_string()),
            ("service.instance.id", instance_id().to_string()),
        ] {
            if !c.legacy.iter().any(|(n, _)| n == k) {
                set(k, AttributeValue::Str(v), &mut attrs);
            }
        }
        for (k, v) in &c.legacy {
            if let Some(v) = v {
                set(k, AttributeValue::Str(v.clone()), &mut attrs);
            }
        }
        for (k, v) in &c.attributes {
            set(k, v.clone(), &mut attrs);
        }
        for (k, v) in detect(&c.detectors) {
            let allowed = c.detected_attributes.as_ref().is_none_or(|f| f.allows(&k));
            if allowed && !attrs.iter().any(|(n, _)| *n == k) {
                attrs.push((k, v));
            }
        }
        Resource { attributes: attrs, schema_url: c.schema_url.clone().unwrap_or_default() }
    }

    pub fn to_proto(&self) -> opentelemetry_proto::tonic::resource::v1::Resource {
        opentelemetry_proto::tonic::resource::v1::Resource {
            attributes: self.attributes.iter().map(|(k, v)| key_value(k, any_value(v))).collect(),
            ..Default::default()
        }
    }

    /// As a JSON object (for the `resource` field of log lines).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.attributes.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect()
    }
}

/// The attributes of `detection/development::detectors`.
fn detect(detectors: &[String]) -> Vec<(String, AttributeValue)> {
    let s = |v: String| AttributeValue::Str(v);
    let mut out = Vec::new();
    for d in detectors {
        match d.as_str() {
            "host" => {
                if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
                    out.push(("host.name".into(), s(h.trim().to_string())));
                }
                out.push(("os.type".into(), s(std::env::consts::OS.to_string())));
                let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
                if let Some(pretty) = release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")) {
                    out.push(("os.description".into(), s(pretty.trim_matches('"').to_string())));
                }
            }
            "process" => {
                out.push(("process.pid".into(), AttributeValue::Int(i64::from(std::process::id()))));
                if let Ok(exe) = std::env::current_exe() {
                    if let Some(name) = exe.file_name() {
                        out.push(("process.executable.name".into(), s(name.to_string_lossy().into_owned())));
                    }
                    out.push(("process.executable.path".into(), s(exe.display().to_string())));
                }
                let args: Vec<AttributeValue> = std::env::args().map(AttributeValue::Str).collect();
                out.push(("process.command_args".into(), AttributeValue::Array(args)));
                out.push(("process.runtime.name".into(), s("rust".into())));
            }
            "container" => {
                let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
                let id = cgroup.lines().find_map(|l| {
                    l.rsplit('/').map(|p| p.trim_end_matches(".scope")).find_map(|p| {
                        let p = p.rsplit('-').next().unwrap_or(p);
                        (p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit())).then(|| p.to_string())
                    })
                });
                if let Some(id) = id {
                    out.push(("container.id".into(), s(id)));
                }
            }
            "service" => {
                if let Ok(name) = std::env::var("OTEL_SERVICE_NAME") {
                    out.push(("service.name".into(), s(name)));
                }
                out.push(("service.instance.id".into(), s(instance_id().to_string())));
            }
            _ => {}
        }
    }
    out
}

pub fn key_value(k: &str, v: AnyValue) -> KeyValue {
    KeyValue { key: k.to_string(), value: Some(v), ..Default::default() }
}

pub fn any_value(v: &AttributeValue) -> AnyValue {
    let value = match v {
        AttributeValue::Str(s) => any_value::Value::StringValue(s.clone()),
        AttributeValue::Bool(b) => any_value::Value::BoolValue(*b),
        AttributeValue::Int(i) => any_value::Value::IntValue(*i),
        AttributeValue::Double(d) => any_value::Value::DoubleValue(*d),
        AttributeValue::Array(items) => {
            any_value::Value::ArrayValue(ArrayValue { values: items.iter().map(any_value).collect() })
        }
    };
    AnyValue { value: Some(value) }
}

pub fn str_value(s: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s.to_string())) }
}

/// The instrumentation scope of weir's own telemetry.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope { name: METER_NAME.into(), version: env!("CARGO_PKG_VERSION").into(), ..Default::default() }
}

/// The running part of `service::telemetry`: `/metrics` servers, periodic metric readers,
/// log record and span processors. Built from a configuration; replaced whole on reload.
pub struct SelfTelemetry {
    config: TelemetryConfig,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl SelfTelemetry {
    /// Starts what `config` asks for and points the logging layer (`logs`) at it. On an
    /// error nothing of it is left running.
    pub async fn start(config: &TelemetryConfig, logging: Option<&logs::LogHandle>) -> Result<SelfTelemetry, String> {
        // The recorder is installed before any pipeline is built: components take their
        // metric handles when they are built, and a handle taken before the recorder exists
        // records nothing, ever.
        weir_core::telemetry::prometheus();
        let resource = Arc::new(Resource::new(&config.resource));
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        let result = Self::start_parts(config, logging, &resource, &stop, &mut tasks).await;
        if let Err(e) = result {
            stop.cancel();
            for t in tasks {
                let _ = t.await;
            }
            return Err(e);
        }
        Ok(SelfTelemetry { config: config.clone(), stop, tasks })
    }

    async fn start_parts(
        config: &TelemetryConfig,
        logging: Option<&logs::LogHandle>,
        resource: &Arc<Resource>,
        stop: &CancellationToken,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Result<(), String> {
        // The log format and outputs first, so that what starting the rest says is written
        // as configured.
        if let Some(l) = logging {
            l.apply(&config.logs, resource.clone())?;
        }
        let m = &config.metrics;
        if m.address.is_some() {
            let why = if m.readers.is_some() { "readers are set, so it is ignored" } else { "use readers::pull" };
            tracing::warn!(message = "service::telemetry::metrics::address is deprecated.", note = why);
        }
        let views = m.views.clone().unwrap_or_default();
        for v in &views {
            let s = v.stream.as_ref();
            if s.and_then(|s| s.aggregation.as_ref()).is_some_and(|a| {
                a.explicit_bucket_histogram.is_some() || a.base2_exponential_bucket_histogram.is_some()
            }) {
                tracing::warn!(message = "A metrics view changes histogram buckets; weir's histograms keep theirs (fixed when the recorder starts).");
            }
        }
        for reader in m.effective_readers() {
            if m.level == Level::None {
                break;
            }
            if let Some(pull) = reader.pull.as_ref().and_then(|p| p.exporter.prometheus.as_ref()) {
                let mut extra_labels = Vec::new();
                if !pull.without().0 {
                    extra_labels.push(("otel_scope_name".to_string(), METER_NAME.to_string()));
                }
                if let Some(filter) = &pull.with_resource_constant_labels {
                    for (k, v) in &resource.attributes {
                        if filter.allows(k) {
                            extra_labels.push((k.replace(['.', '-'], "_"), v.to_string()));
                        }
                    }
                }
                let view = Arc::new(MetricsView { level: m.level, views: views.clone(), extra_labels });
                tasks.push(weir_core::telemetry::serve_metrics(&pull.address(), view, stop.clone()).await?);
            }
            if let Some(periodic) = &reader.periodic {
                let view = MetricsView { level: m.level, views: views.clone(), extra_labels: Vec::new() };
                tasks.push(metrics::start_periodic(periodic, view, resource.clone(), stop.clone())?);
            }
        }
        let mut log_processors = Vec::new();
        for p in &config.logs.processors {
            let (processor, task) = export::Processor::start(p, resource.clone(), stop.clone())?;
            log_processors.push(processor);
            tasks.push(task);
        }
        let mut span_processors = Vec::new();
        if config.traces.enabled() {
            for p in &config.traces.processors {
                let (processor, task) = export::Processor::start(p, resource.clone(), stop.clone())?;
                span_processors.push(processor);
                tasks.push(task);
            }
        }
        if let Some(l) = logging {
            l.attach_processors(&config.traces, log_processors, span_processors);
        }
        Ok(())
    }

    pub fn config(&self) -> &TelemetryConfig {
        &self.config
    }

    /// Stops servers and readers and flushes the processors. The logging layer keeps writing
    /// lines; it stops exporting records until the next [`SelfTelemetry::start`].
    pub async fn shutdown(self, logging: Option<&logs::LogHandle>) {
        if let Some(l) = logging {
            l.detach_processors();
        }
        self.stop.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(35), t).await;
        }
    }
}
