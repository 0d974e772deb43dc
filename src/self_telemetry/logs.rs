//! weir's own logs: one `tracing` layer that writes each event as `logs::encoding` says to
//! `logs::output_paths`, rate-limits repeated lines as zap's sampler does, and hands every
//! event to the `logs::processors` (OTLP log records) — and records weir's own spans
//! ([`super::spans`]).
//!
//! It is installed before the configuration is read, with the Collector's defaults, so what
//! loading says is printed; [`LogHandle::apply`] switches it to the configuration's settings
//! on start and on every reload. The level (`logs::level`, or `RUST_LOG`) is an `EnvFilter`
//! in front of the layer, so disabled events cost what they cost without it.
//!
//! Line formats, as zap's encoders with the Collector's settings:
//! - `console`: `<ISO 8601 time>\t<level>\t<caller>\t<message>\t<fields as JSON>`;
//! - `json`: `{"level", "ts", "caller", "msg", <fields>…}`.
//!
//! Fields are `resource` (unless `disable_zap_resource`), `initial_fields`, then the event's
//! own; `stacktrace` is added to `error` lines (`warn` in development) unless
//! `disable_stacktrace`. Sampling applies to the written lines only; exported records are not
//! sampled (as the Collector's tee to its LoggerProvider).

use super::export::{encode, Batchable, Processor};
use super::spans::{SpanRecord, Spans};
use super::{key_value, scope, str_value, Resource};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;
use weir_core::config::telemetry::{
    output_path, LogEncoding, LogLevel, LogsConfig, LogsSampling, OutputPath, TracesConfig,
};
use weir_core::pdata::now_unix_nano;
use weir_core::Signal;

/// The target of weir's own spans (`tracing::info_span!(target: SPAN_TARGET, "weir.reload")`):
/// always let through the level filter, recorded only when `traces` is on.
pub const SPAN_TARGET: &str = "weir::self";

type Filter = tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Changes what the installed layer does.
#[derive(Clone)]
pub struct LogHandle {
    filter: Filter,
    state: Arc<RwLock<State>>,
}

/// Installs weir's logging with the Collector's default settings. `None` when a subscriber
/// was already installed (an embedding test).
pub fn init() -> Option<LogHandle> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(level_filter(LogLevel::Info));
    let mut state = State::new(&LogsConfig::default(), None, Vec::new(), None);
    // The defaults write to stderr, which always opens.
    let _ = state.open();
    let state = Arc::new(RwLock::new(state));
    let layer = SelfLayer { state: state.clone() };
    tracing_subscriber::registry().with(filter).with(layer).try_init().ok()?;
    Some(LogHandle { filter: handle, state })
}

/// The level filter: `RUST_LOG` when set, else `level` (with the HTTP/2 stack's chatter at
/// warn); weir's own spans always pass.
fn level_filter(level: LogLevel) -> tracing_subscriber::EnvFilter {
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| format!("{},h2=warn,hyper=warn,tower=warn", level.as_str()));
    tracing_subscriber::EnvFilter::try_new(format!("{base},{SPAN_TARGET}=trace"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{SPAN_TARGET}=trace")))
}

impl LogHandle {
    /// Applies `logs`: new outputs, format, level, sampling (processors are attached
    /// separately, once they run: [`LogHandle::attach_processors`]). The outputs are opened
    /// first: when one cannot be, nothing changes.
    pub fn apply(&self, logs: &LogsConfig, resource: Arc<Resource>) -> Result<(), String> {
        let mut new = State::new(logs, Some(resource), Vec::new(), None);
        new.open()?;
        {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            if state.sampling == new.sampling {
                new.sampler = state.sampler.take();
            }
            *state = new;
        }
        let _ = self.filter.reload(level_filter(logs.level));
        Ok(())
    }

    /// Hands every log event to `log_processors` and weir's own spans (sampled as `traces`
    /// says) to `span_processors` from now on.
    pub fn attach_processors(
        &self,
        traces: &TracesConfig,
        log_processors: Vec<Processor<LogRecord>>,
        span_processors: Vec<Processor<SpanRecord>>,
    ) {
        let spans = (!span_processors.is_empty()).then(|| Spans::new(traces, span_processors));
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.processors = log_processors;
        state.spans = spans;
    }

    /// Stops handing records and spans to processors (they are being shut down).
    pub fn detach_processors(&self) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.processors.clear();
        state.spans = None;
    }
}

/// Writes `message` to `logs::error_output_paths` (for failures of the logger itself and of
/// the export of weir's own telemetry, which must not become log records).
pub fn report_error(message: &str) {
    let line = format!("{}\t{message}\n", weir_core::telemetry::rfc3339(std::time::SystemTime::now()));
    let outputs = ERROR_OUTPUTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if outputs.is_empty() {
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    for o in outputs {
        let _ = o.write(line.as_bytes());
    }
}

static ERROR_OUTPUTS: Mutex<Vec<Arc<Output>>> = Mutex::new(Vec::new());

/// One of the output paths, opened.
pub enum Output {
    Stdout,
    Stderr,
    File(Mutex<std::fs::File>),
}

impl Output {
    fn open(path: &str) -> Result<Output, String> {
        Ok(match output_path(path)? {
            OutputPath::Stdout => Output::Stdout,
            OutputPath::Stderr => Output::Stderr,
            OutputPath::File(p) => Output::File(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(|e| format!("service::telemetry::logs: cannot open {}: {e}", p.display()))?,
            )),
        })
    }

    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => std::io::stdout().lock().write_all(bytes),
            Output::Stderr => std::io::stderr().lock().write_all(bytes),
            Output::File(f) => f.lock().unwrap_or_else(|e| e.into_inner()).write_all(bytes),
        }
    }

    fn is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        match self {
            Output::Stdout => std::io::stdout().is_terminal(),
            Output::Stderr => std::io::stderr().is_terminal(),
            Output::File(_) => false,
        }
    }
}

/// The layer's settings, swapped whole by [`LogHandle::apply`].
struct State {
    config: LogsConfig,
    output_paths: Vec<String>,
    error_paths: Vec<String>,
    outputs: Vec<(Arc<Output>, bool)>,
    sampling: Option<LogsSampling>,
    sampler: Option<Sampler>,
    /// `resource` and `initial_fields`, ready to put first in every line.
    leading: serde_json::Map<String, serde_json::Value>,
    processors: Vec<Processor<LogRecord>>,
    spans: Option<Spans>,
}

impl State {
    fn new(
        config: &LogsConfig,
        resource: Option<Arc<Resource>>,
        processors: Vec<Processor<LogRecord>>,
        spans: Option<Spans>,
    ) -> State {
        let mut leading = serde_json::Map::new();
        if !config.disable_zap_resource {
            let resource = resource
                .unwrap_or_else(|| Arc::new(Resource::new(&weir_core::config::telemetry::ResourceConfig::default())));
            leading.insert("resource".into(), serde_json::Value::Object(resource.to_json()));
        }
        for (k, v) in &config.initial_fields {
            leading.insert(k.clone(), v.clone());
        }
        let sampling = config.sampling.clone().filter(|s| s.enabled);
        State {
            config: config.clone(),
            output_paths: config.output_paths.clone(),
            error_paths: config.error_output_paths.clone(),
            outputs: Vec::new(),
            sampler: sampling.as_ref().map(Sampler::new),
            sampling,
            leading,
            processors,
            spans,
        }
    }

    /// Opens the outputs (and makes the error outputs the ones [`report_error`] uses).
    fn open(&mut self) -> Result<(), String> {
        let colour_allowed = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let mut outputs = Vec::new();
        for p in &self.output_paths {
            let o = Output::open(p)?;
            let colour = colour_allowed && self.config.encoding == LogEncoding::Console && o.is_terminal();
            outputs.push((Arc::new(o), colour));
        }
        let errors = self.error_paths.iter().map(|p| Output::open(p).map(Arc::new)).collect::<Result<Vec<_>, _>>()?;
        self.outputs = outputs;
        *ERROR_OUTPUTS.lock().unwrap_or_else(|e| e.into_inner()) = errors;
        Ok(())
    }
}

/// zap's sampler: per tick, for each level and message, the first `initial` lines pass, then
/// every `thereafter`-th. Counts live in a fixed table indexed by a hash of the message (as
/// zap's), so memory stays bounded whatever weir logs.
struct Sampler {
    config: LogsSampling,
    started: Instant,
    counters: Mutex<Vec<(u64, u64)>>,
}

const SAMPLER_SLOTS: usize = 4096;

impl Sampler {
    fn new(config: &LogsSampling) -> Sampler {
        Sampler {
            config: config.clone(),
            started: Instant::now(),
            counters: Mutex::new(vec![(0, 0); SAMPLER_SLOTS * 4]),
        }
    }

    /// Whether a line of `level` and `message` is written.
    fn allows(&self, level: &Level, message: &str) -> bool {
        let level_index = match *level {
            Level::ERROR => 0,
            Level::WARN => 1,
            Level::INFO => 2,
            _ => 3,
        };
        // FNV-1a, as zap's sampler.
        let hash =
            message.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let slot = level_index * SAMPLER_SLOTS + (hash as usize % SAMPLER_SLOTS);
        let tick = (self.started.elapsed().as_nanos() / self.config.tick.as_nanos().max(1)) as u64;
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let (at, count) = &mut counters[slot];
        if *at != tick {
            *at = tick;
            *count = 0;
        }
        *count += 1;
        let n = *count;
        if n <= self.config.initial {
            return true;
        }
        self.config.thereafter > 0 && (n - self.config.initial).is_multiple_of(self.config.thereafter)
    }
}

struct SelfLayer {
    state: Arc<RwLock<State>>,
}

/// An event's message and fields.
#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(String, serde_json::Value)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, serde_json::Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, serde_json::Value::String(format!("{value:?}")));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.push((field.name().trim_start_matches("r#").to_string(), value));
        }
    }
}

/// The frames of weir's own code in a `std` backtrace, as the Collector prints a stack trace
/// (`function` then a tab and `file:line`, one frame after the other), without the frames of
/// the logging machinery, tokio and the standard library (a raw Rust backtrace of an error
/// line is some forty frames, nearly all of them runtime internals).
fn compact_stacktrace(backtrace: &str) -> String {
    let mut out = String::new();
    let mut lines = backtrace.lines().peekable();
    while let Some(line) = lines.next() {
        // `  12: weir_core::runtime::Service::start::{{closure}}`, then `  at ./core/src/….rs:10:5`.
        let Some((_, symbol)) = line.trim_start().split_once(": ") else { continue };
        let location = match lines.peek() {
            Some(next) if next.trim_start().starts_with("at ") => {
                lines.next().map(|l| l.trim_start().trim_start_matches("at ").to_string())
            }
            _ => None,
        };
        let ours = symbol.starts_with("weir") || symbol.starts_with("<weir");
        let logging = symbol.contains("self_telemetry::logs");
        if ours && !logging {
            out.push_str(symbol);
            if let Some(at) = location {
                out.push_str("\n\t");
                out.push_str(&at);
            }
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "debug",
    }
}

/// The OTLP severity number of a level.
fn severity(level: &Level) -> i32 {
    match *level {
        Level::ERROR => 17,
        Level::WARN => 13,
        Level::INFO => 9,
        Level::DEBUG => 5,
        Level::TRACE => 1,
    }
}

/// Milliseconds-precision ISO 8601 time in UTC, as zap's `ISO8601TimeEncoder` writes it.
fn iso8601(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let s = weir_core::telemetry::rfc3339(t);
    format!("{}.{:03}Z", s.trim_end_matches('Z'), d.subsec_millis())
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SelfLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() == SPAN_TARGET {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let now = std::time::SystemTime::now();
        for p in &state.processors {
            p.push(log_record(&f, meta, &state.leading_fields_for_records(), now));
        }
        if state.outputs.is_empty() || !state.sampler.as_ref().is_none_or(|s| s.allows(meta.level(), &f.message)) {
            return;
        }
        let c = &state.config;
        let caller =
            (!c.disable_caller).then(|| format!("{}:{}", meta.file().unwrap_or("?"), meta.line().unwrap_or(0)));
        let stack_from = if c.development { Level::WARN } else { Level::ERROR };
        let stacktrace = (!c.disable_stacktrace && *meta.level() <= stack_from)
            .then(|| compact_stacktrace(&std::backtrace::Backtrace::force_capture().to_string()))
            .filter(|st| !st.is_empty());
        let mut fields = state.leading.clone();
        for (k, v) in f.fields {
            fields.insert(k, v);
        }
        let level = level_name(meta.level());
        let (plain, coloured) = match c.encoding {
            LogEncoding::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("level".into(), level.into());
                obj.insert("ts".into(), iso8601(now).into());
                if let Some(caller) = &caller {
                    obj.insert("caller".into(), caller.clone().into());
                }
                obj.insert("msg".into(), f.message.clone().into());
                obj.extend(fields);
                if let Some(st) = &stacktrace {
                    obj.insert("stacktrace".into(), st.clone().into());
                }
                let line = format!("{}\n", serde_json::Value::Object(obj));
                (line.clone(), line)
            }
            LogEncoding::Console => {
                let line = |level: &str| {
                    let mut l = format!("{}\t{level}", iso8601(now));
                    if let Some(caller) = &caller {
                        l.push('\t');
                        l.push_str(caller);
                    }
                    l.push('\t');
                    l.push_str(&f.message);
                    if !fields.is_empty() {
                        l.push('\t');
                        l.push_str(&serde_json::Value::Object(fields.clone()).to_string());
                    }
                    l.push('\n');
                    if let Some(st) = &stacktrace {
                        l.push_str(st);
                        if !st.ends_with('\n') {
                            l.push('\n');
                        }
                    }
                    l
                };
                let colour = match *meta.level() {
                    Level::ERROR => "31",
                    Level::WARN => "33",
                    Level::INFO => "34",
                    _ => "35",
                };
                (line(level), line(&format!("\u{1b}[{colour}m{level}\u{1b}[0m")))
            }
        };
        for (o, colour) in &state.outputs {
            let text = if *colour { &coloured } else { &plain };
            if let Err(e) = o.write(text.as_bytes()) {
                report_error(&format!("weir could not write a log line: {e}"));
            }
        }
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != SPAN_TARGET {
            return;
        }
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if let Some(spans) = &state.spans {
            spans.on_new_span(attrs, id, &ctx);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if span.metadata().target() == SPAN_TARGET {
                super::spans::on_record(&span, values);
            }
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if span.metadata().target() != SPAN_TARGET {
            return;
        }
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if let Some(spans) = &state.spans {
            spans.on_close(&span);
        }
    }
}

impl State {
    fn leading_fields_for_records(&self) -> Vec<(String, serde_json::Value)> {
        self.config.initial_fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

fn json_any(v: &serde_json::Value) -> AnyValue {
    let value = match v {
        serde_json::Value::String(s) => any_value::Value::StringValue(s.clone()),
        serde_json::Value::Bool(b) => any_value::Value::BoolValue(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        },
        other => any_value::Value::StringValue(other.to_string()),
    };
    AnyValue { value: Some(value) }
}

/// An event as an OTLP log record: the message as its body, `initial_fields` and the event's
/// fields as attributes, the caller as `code.*`.
fn log_record(
    f: &Fields,
    meta: &tracing::Metadata<'_>,
    initial: &[(String, serde_json::Value)],
    at: std::time::SystemTime,
) -> LogRecord {
    let nanos = at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut attributes: Vec<_> = initial.iter().map(|(k, v)| key_value(k, json_any(v))).collect();
    attributes.extend(f.fields.iter().map(|(k, v)| key_value(k, json_any(v))));
    if let (Some(file), Some(line)) = (meta.file(), meta.line()) {
        attributes.push(key_value("code.file.path", str_value(file)));
        attributes
            .push(key_value("code.line.number", AnyValue { value: Some(any_value::Value::IntValue(line.into())) }));
    }
    LogRecord {
        time_unix_nano: nanos,
        observed_time_unix_nano: now_unix_nano(),
        severity_number: severity(meta.level()),
        severity_text: level_name(meta.level()).to_uppercase(),
        body: Some(str_value(&f.message)),
        attributes,
        ..Default::default()
    }
}

impl Batchable for LogRecord {
    const SIGNAL: Signal = Signal::Logs;
    const DEFAULT_DELAY_MS: u64 = 1000;

    fn encode(batch: Vec<LogRecord>, resource: &Resource) -> (Bytes, Box<dyn FnOnce() -> String + Send>) {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource.to_proto()),
                scope_logs: vec![ScopeLogs { scope: Some(scope()), log_records: batch, schema_url: String::new() }],
                schema_url: resource.schema_url.clone(),
            }],
        };
        let bytes = encode(&request);
        (bytes, Box::new(move || serde_json::to_string(&request).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sampler_passes_initial_then_every_thereafter() {
        let s =
            Sampler::new(&LogsSampling { enabled: true, tick: Duration::from_secs(3600), initial: 2, thereafter: 3 });
        let passed: Vec<bool> = (0..8).map(|_| s.allows(&Level::INFO, "same")).collect();
        assert_eq!(passed, [true, true, false, false, true, false, false, true]);
        assert!(s.allows(&Level::INFO, "another message"), "counts are per message");
        assert!(s.allows(&Level::WARN, "same"), "and per level");
    }

    #[test]
    fn sampler_with_thereafter_zero_drops_the_rest_of_the_tick() {
        let s =
            Sampler::new(&LogsSampling { enabled: true, tick: Duration::from_millis(50), initial: 1, thereafter: 0 });
        assert!(s.allows(&Level::INFO, "m"));
        assert!(!s.allows(&Level::INFO, "m"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.allows(&Level::INFO, "m"), "a new tick starts counting again");
    }

    #[test]
    fn stacktraces_keep_weirs_frames_as_the_collector_prints_them() {
        let raw = "   0: std::backtrace::Backtrace::force_capture
             at /rustc/x/library/std/src/backtrace.rs:312:13
   1: <weir::self_telemetry::logs::SelfLayer as tracing_subscriber::layer::Layer<S>>::on_event
             at ./src/self_telemetry/logs.rs:376:22
   2: tracing_core::event::Event::dispatch
   3: weir::run::{{closure}}
             at ./src/main.rs:236:29
   4: tokio::runtime::park::CachedParkThread::block_on
             at /root/.cargo/registry/src/tokio/src/runtime/park.rs:376:71
   5: weir_core::runtime::Service::start
             at ./core/src/runtime.rs:10:5
   6: main
";
        assert_eq!(
            compact_stacktrace(raw),
            "weir::run::{{closure}}\n\t./src/main.rs:236:29\nweir_core::runtime::Service::start\n\t./core/src/runtime.rs:10:5"
        );
        assert_eq!(compact_stacktrace("disabled backtrace"), "");
    }

    #[test]
    fn iso8601_has_milliseconds() {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(iso8601(t), "1970-01-01T00:00:01.500Z");
    }
}
