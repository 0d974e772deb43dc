//! The `pprof` extension: serves CPU profiles of weir in the pprof protobuf format on
//! `localhost:1777`, as the Collector's `pprofextension` serves Go's `net/http/pprof`.
//!
//! | path | answer |
//! |---|---|
//! | `/debug/pprof/` | an HTML index of what is served |
//! | `/debug/pprof/profile?seconds=N` | a CPU profile of the next N seconds (default 30), gzip'd `profile.proto`, readable by `pprof` and `go tool pprof` |
//! | `/debug/pprof/cmdline` | the command line, arguments separated by NUL bytes |
//!
//! Profiles are sampled at 100 Hz by the `pprof` crate's `SIGPROF` sampler (feature `pprof`,
//! on by default) and encoded here: sample types `samples/count` and `cpu/nanoseconds`, one
//! location per frame with its function, file and line, threads as the `thread` label. One
//! CPU profile runs at a time in a process (as in Go): a second request while one runs, or
//! while `save_to_file` records, is answered 500. Go's heap, goroutine, block and mutex
//! profiles have no Rust counterpart: `block_profile_fraction` and `mutex_profile_fraction`
//! are accepted and have no effect, and those paths answer 404 saying so.

use async_trait::async_trait;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::component::{BuildContext, BuildError, ComponentConfig, Extension, ExtensionContext, ExtensionFactory};

/// `pprof` extension settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PprofConfig {
    /// Where to listen. Default `localhost:1777`; `:1777` listens on every interface.
    pub endpoint: String,
    /// The Collector's `confignet` dialer settings; accepted, unused by a server.
    pub dialer: Option<Dialer>,
    /// Go's block profile rate. Accepted for compatibility; Rust has no block profiler, so it
    /// has no effect. Default 0.
    pub block_profile_fraction: i64,
    /// Go's mutex profile fraction. Accepted for compatibility; Rust has no mutex profiler, so
    /// it has no effect. Default 0.
    pub mutex_profile_fraction: i64,
    /// A file to write a CPU profile of the whole run to, at shutdown (pprof format, gzip'd).
    /// Default empty: none.
    pub save_to_file: String,
}

/// `dialer`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dialer {
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
}

impl Default for PprofConfig {
    fn default() -> Self {
        PprofConfig {
            endpoint: "localhost:1777".into(),
            dialer: None,
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: String::new(),
        }
    }
}

impl ComponentConfig for PprofConfig {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

pub struct PprofFactory;

impl ExtensionFactory for PprofFactory {
    type Config = PprofConfig;
    fn type_name(&self) -> &'static str {
        "pprof"
    }
    fn build(&self, ctx: &BuildContext, c: &PprofConfig) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(Pprof { id: ctx.id.to_string(), config: c.clone() }))
    }
}

/// Only one `pprof` extension may run in a process, as in the Collector.
static RUNNING: AtomicBool = AtomicBool::new(false);

struct Pprof {
    id: String,
    config: PprofConfig,
}

#[async_trait]
impl Extension for Pprof {
    async fn start(
        self: Box<Self>,
        _ctx: ExtensionContext,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        if RUNNING.swap(true, Ordering::SeqCst) {
            return Err(BuildError::new("only a single pprof extension instance can be running per process"));
        }
        let listener = match crate::bind(&self.config.endpoint).await {
            Ok(l) => l,
            Err(e) => {
                RUNNING.store(false, Ordering::SeqCst);
                return Err(e);
            }
        };
        let whole_run = if self.config.save_to_file.is_empty() {
            None
        } else {
            match profiler::start() {
                Ok(p) => Some((p, self.config.save_to_file.clone())),
                Err(e) => {
                    RUNNING.store(false, Ordering::SeqCst);
                    return Err(BuildError::new(format!("save_to_file: cannot start the CPU profiler: {e}")));
                }
            }
        };
        tracing::info!(
            message = "Starting the pprof server.",
            component = %self.id,
            address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            save_to_file = %self.config.save_to_file,
        );
        let app = axum::Router::new()
            .route("/debug/pprof/", axum::routing::get(index))
            .route("/debug/pprof", axum::routing::get(index))
            .route(
                "/debug/pprof/profile",
                axum::routing::get({
                    let stop = shutdown.clone();
                    move |uri| profile(uri, stop.clone())
                }),
            )
            .route("/debug/pprof/cmdline", axum::routing::get(cmdline))
            .route("/debug/pprof/{name}", axum::routing::get(unsupported));
        Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
            if let Some((running, path)) = whole_run {
                match tokio::task::spawn_blocking(move || running.finish()).await {
                    Ok(Ok(bytes)) => match std::fs::write(&path, bytes) {
                        Ok(()) => tracing::info!(message = "Wrote the CPU profile of the run.", file = %path),
                        Err(error) => {
                            tracing::warn!(message = "Could not write the CPU profile.", file = %path, %error)
                        }
                    },
                    Ok(Err(error)) => tracing::warn!(message = "Could not build the CPU profile.", %error),
                    Err(error) => tracing::warn!(message = "Could not build the CPU profile.", %error),
                }
            }
            RUNNING.store(false, Ordering::SeqCst);
        }))
    }
}

async fn index() -> Response {
    let html = "<!DOCTYPE html><html><head><title>/debug/pprof/</title></head><body>\n\
        <h1>/debug/pprof/</h1>\n\
        <p>Profiles of weir, in the pprof format.</p>\n\
        <table>\n\
        <tr><td><a href=\"profile?seconds=30\">profile</a></td><td>CPU profile of the next <code>seconds</code> (default 30). \
        Read it with <code>pprof</code> or <code>go tool pprof</code>.</td></tr>\n\
        <tr><td><a href=\"cmdline\">cmdline</a></td><td>The command line of this process.</td></tr>\n\
        </table>\n\
        <p>Go's heap, allocs, goroutine, block, mutex, threadcreate and trace profiles have no Rust counterpart in weir.</p>\n\
        </body></html>\n";
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn cmdline() -> Response {
    let args: Vec<String> = std::env::args().collect();
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], args.join("\0")).into_response()
}

async fn unsupported(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let body = format!(
        "Unknown profile: {name} (weir serves profile and cmdline; Go's other profiles have no Rust counterpart)\n"
    );
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Records for `seconds`; a shutdown meanwhile ends the request (503) instead of holding it.
async fn profile(uri: axum::http::Uri, shutdown: CancellationToken) -> Response {
    let text = |code: StatusCode, body: String| {
        (
            code,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::HeaderName::from_static("x-go-pprof"), "1")],
            body,
        )
            .into_response()
    };
    let query = uri.query().unwrap_or_default();
    let seconds = query.split('&').find_map(|kv| kv.strip_prefix("seconds="));
    let seconds = match seconds.map(|s| s.parse::<u64>()) {
        None => 30,
        Some(Ok(0)) | Some(Err(_)) => 30,
        Some(Ok(n)) => n,
    };
    let running = match profiler::start() {
        Ok(r) => r,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("Could not enable CPU profiling: {e}\n")),
    };
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(seconds)) => {}
        // Returning drops `running`, which stops the sampler.
        _ = shutdown.cancelled() => {
            return text(StatusCode::SERVICE_UNAVAILABLE, "weir is shutting down; the profile was abandoned\n".into());
        }
    }
    match tokio::task::spawn_blocking(move || running.finish()).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"profile\""),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("Could not build the CPU profile: {e}\n")),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("Could not build the CPU profile: {e}\n")),
    }
}

/// The pprof `profile.proto` messages weir writes (the subset a CPU profile uses).
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
    }
}

/// Interns strings into a profile's string table (index 0 is the empty string).
#[derive(Default)]
pub(crate) struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    pub(crate) fn new() -> Strings {
        let mut s = Strings::default();
        s.get("");
        s
    }

    pub(crate) fn get(&mut self, s: &str) -> i64 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// One stack as sampled: frames from the innermost out, each `(address, function, file,
/// line)`, the thread's name and how many samples it got.
pub struct Stack {
    pub frames: Vec<(u64, String, String, i64)>,
    pub thread: String,
    pub count: i64,
}

/// Builds the gzip'd pprof CPU profile of `stacks` sampled at `frequency` Hz.
pub fn encode(stacks: &[Stack], frequency: i64, start: std::time::SystemTime, duration: Duration) -> Vec<u8> {
    use prost::Message;
    let mut strings = Strings::new();
    let period = 1_000_000_000 / frequency.max(1);
    let sample_type = vec![
        proto::ValueType { r#type: strings.get("samples"), unit: strings.get("count") },
        proto::ValueType { r#type: strings.get("cpu"), unit: strings.get("nanoseconds") },
    ];
    let period_type = Some(proto::ValueType { r#type: strings.get("cpu"), unit: strings.get("nanoseconds") });
    let thread_key = strings.get("thread");
    let mut functions: HashMap<(String, String), u64> = HashMap::new();
    let mut function = Vec::new();
    let mut locations: HashMap<(u64, u64, i64), u64> = HashMap::new();
    let mut location = Vec::new();
    let mut sample = Vec::new();
    for stack in stacks {
        let mut ids = Vec::with_capacity(stack.frames.len());
        for (address, name, file, line) in &stack.frames {
            let next_fn = functions.len() as u64 + 1;
            let fid = *functions.entry((name.clone(), file.clone())).or_insert_with(|| {
                let n = strings.get(name);
                function.push(proto::Function { id: next_fn, name: n, system_name: n, filename: strings.get(file) });
                next_fn
            });
            let next_loc = locations.len() as u64 + 1;
            let lid = *locations.entry((*address, fid, *line)).or_insert_with(|| {
                location.push(proto::Location {
                    id: next_loc,
                    address: *address,
                    line: vec![proto::Line { function_id: fid, line: *line }],
                });
                next_loc
            });
            ids.push(lid);
        }
        sample.push(proto::Sample {
            location_id: ids,
            value: vec![stack.count, stack.count * period],
            label: vec![proto::Label { key: thread_key, str: strings.get(&stack.thread) }],
        });
    }
    let time_nanos = start.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    let profile = proto::Profile {
        sample_type,
        sample,
        location,
        function,
        string_table: strings.table,
        time_nanos,
        duration_nanos: duration.as_nanos() as i64,
        period_type,
        period,
    };
    let raw = profile.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).expect("writing to a Vec cannot fail");
    gz.finish().expect("writing to a Vec cannot fail")
}

#[cfg(feature = "pprof")]
mod profiler {
    //! The sampler: the `pprof` crate's `SIGPROF` profiler, 100 samples per second.

    use super::Stack;

    pub(super) const FREQUENCY: i32 = 100;

    pub(super) struct Running(pprof::ProfilerGuard<'static>);

    pub(super) fn start() -> Result<Running, String> {
        pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map(Running)
            .map_err(|e| e.to_string())
    }

    impl Running {
        /// Stops sampling and encodes what was sampled.
        pub(super) fn finish(self) -> Result<Vec<u8>, String> {
            let report = self.0.report().build().map_err(|e| e.to_string())?;
            let mut stacks = Vec::with_capacity(report.data.len());
            for (frames, count) in &report.data {
                let mut out = Vec::new();
                for frame in &frames.frames {
                    for symbol in frame {
                        let file = symbol.filename.as_ref().map(|f| f.display().to_string()).unwrap_or_default();
                        let addr = symbol.addr.map(|a| a as usize as u64).unwrap_or(0);
                        out.push((addr, symbol.name(), file, symbol.lineno.unwrap_or(0) as i64));
                    }
                }
                stacks.push(Stack { frames: out, thread: frames.thread_name.clone(), count: *count as i64 });
            }
            Ok(super::encode(&stacks, FREQUENCY as i64, report.timing.start_time, report.timing.duration))
        }
    }
}

#[cfg(not(feature = "pprof"))]
mod profiler {
    //! Built without the `pprof` feature: no sampler.

    pub(super) struct Running;

    pub(super) fn start() -> Result<Running, String> {
        Err("this weir was built without the `pprof` feature".into())
    }

    impl Running {
        pub(super) fn finish(self) -> Result<Vec<u8>, String> {
            Err("this weir was built without the `pprof` feature".into())
        }
    }
}

#[cfg(test)]
mod tests;
