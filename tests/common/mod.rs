//! Helpers for end-to-end tests: run `weir` processes on free loopback ports, run real
//! OpenTelemetry SDK clients, and read what weir's `file` exporter wrote.
#![allow(dead_code)]

pub mod pki;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, read, released), never one this test process was
/// given before: the kernel may hand a just-released port out again, and two components of
/// one weir (say its OTLP receiver and its health check) must not get the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port();
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

/// A running `weir run` process with its own config file.
pub struct Weir {
    pub name: String,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub health_port: u16,
    pub metrics_port: u16,
    log: PathBuf,
}

impl Weir {
    /// Starts weir with `config` (which may use `{health}` and `{metrics}` placeholders for its
    /// own health and metrics ports) and waits until its health check answers.
    pub fn start(name: &str, config: &str) -> Weir {
        let dir = tempfile::tempdir().expect("temp dir");
        let health_port = free_port();
        let metrics_port = free_port();
        let config = config
            .replace("{health}", &health_port.to_string())
            .replace("{metrics}", &metrics_port.to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("pipelines.yaml");
        std::fs::write(&path, config).expect("write config");
        let log = dir.path().join("weir.log");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log file")))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).expect("log file")))
            .spawn()
            .expect("spawn weir");
        let mut w = Weir { name: name.into(), child: Some(child), dir, health_port, metrics_port, log };
        w.wait_healthy(Duration::from_secs(30));
        w
    }

    /// Runs weir with `config` (placeholders as in [`Weir::start`]) expecting it to refuse to
    /// start: it must exit with a failure within 30 seconds. Returns what it logged.
    pub fn refused_to_start(config: &str) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config
            .replace("{health}", &free_port().to_string())
            .replace("{metrics}", &free_port().to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("pipelines.yaml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["run", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weir");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("weir started although it should have refused");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = child.wait_with_output().expect("output");
        assert!(!status.success(), "weir must exit with a failure");
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    }

    fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if http_get(&format!("127.0.0.1:{}", self.health_port), "/").is_some_and(|(code, _)| code == 200) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("weir {} exited early with {status}:\n{}", self.name, self.log());
            }
            assert!(Instant::now() < deadline, "weir {} did not become healthy:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id of the running weir.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The body of `/metrics`.
    pub fn metrics(&self) -> String {
        http_get(&format!("127.0.0.1:{}", self.metrics_port), "/metrics").map(|(_, b)| b).unwrap_or_default()
    }

    /// Sends a signal (e.g. "HUP").
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("kill").success();
        assert!(ok, "kill -{sig} {pid}");
    }

    /// SIGTERM, then waits for the exit status (SIGKILL after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("weir {} did not exit within {timeout:?} of SIGTERM:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A minimal HTTP/1.1 GET over a std socket: (status code, body).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

/// Runs a client command to completion (bounded in time) and parses its stdout as JSON.
pub fn run_client(cmd: &mut Command, timeout: Duration) -> serde_json::Value {
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| {
            panic!("cannot run {cmd:?}: {e}. The end-to-end tests need it installed (see .ci/run).")
        });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait client") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("client {cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut out).expect("read stdout");
    child.stderr.take().expect("piped").read_to_string(&mut err).expect("read stderr");
    assert!(status.success(), "client {cmd:?} failed with {status}:\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("client output is not JSON ({e}):\n{out}\n{err}"))
}

/// Everything a `file` exporter wrote (OTLP JSON lines), by signal.
#[derive(Default)]
pub struct FileOutput {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
}

/// Reads a JSON-lines file; each line is parsed as whichever request type it is.
pub fn read_file_output(path: &Path) -> FileOutput {
    let mut out = FileOutput::default();
    let Ok(text) = std::fs::read_to_string(path) else { return out };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => continue, // a line being written right now
        };
        if v.get("resourceSpans").is_some() {
            out.traces.push(serde_json::from_value(v).expect("trace request"));
        } else if v.get("resourceMetrics").is_some() {
            out.metrics.push(serde_json::from_value(v).expect("metrics request"));
        } else if v.get("resourceLogs").is_some() {
            out.logs.push(serde_json::from_value(v).expect("logs request"));
        }
    }
    out
}

/// A span as the tests compare it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanSummary {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

pub fn value_json(v: &Option<AnyValue>) -> serde_json::Value {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone().into(),
        Some(Value::BoolValue(b)) => (*b).into(),
        Some(Value::IntValue(i)) => (*i).into(),
        Some(Value::DoubleValue(d)) => (*d).into(),
        Some(other) => format!("{other:?}").into(),
        None => serde_json::Value::Null,
    }
}

pub fn attrs_json(attrs: &[KeyValue]) -> serde_json::Map<String, serde_json::Value> {
    attrs.iter().map(|kv| (kv.key.clone(), value_json(&kv.value))).collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn spans(out: &FileOutput) -> Vec<SpanSummary> {
    let mut v = Vec::new();
    for req in &out.traces {
        for rs in &req.resource_spans {
            let res = rs.resource.as_ref().map(|r| attrs_json(&r.attributes)).unwrap_or_default();
            let service = res.get("service.name").and_then(|s| s.as_str()).unwrap_or("").to_string();
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    v.push(SpanSummary {
                        service: service.clone(),
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        name: s.name.clone(),
                        attributes: attrs_json(&s.attributes),
                    });
                }
            }
        }
    }
    v
}

/// Log bodies (string bodies) with the service that sent them.
pub fn log_bodies(out: &FileOutput) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for req in &out.logs {
        for rl in &req.resource_logs {
            let res = rl.resource.as_ref().map(|r| attrs_json(&r.attributes)).unwrap_or_default();
            let service = res.get("service.name").and_then(|s| s.as_str()).unwrap_or("").to_string();
            for sl in &rl.scope_logs {
                for r in &sl.log_records {
                    if let serde_json::Value::String(b) = value_json(&r.body) {
                        v.push((service.clone(), b));
                    }
                }
            }
        }
    }
    v
}

/// Per metric name: the sum over services of each service's largest reported total (sum data
/// points, or histogram counts). SDKs export cumulative values, possibly more than once (a
/// flush, then shutdown), so the largest report per service is its total.
pub fn metric_totals(out: &FileOutput) -> std::collections::BTreeMap<String, f64> {
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as N};
    let mut per_service: std::collections::BTreeMap<(String, String), f64> = std::collections::BTreeMap::new();
    for req in &out.metrics {
        for rm in &req.resource_metrics {
            let res = rm.resource.as_ref().map(|r| attrs_json(&r.attributes)).unwrap_or_default();
            let service = res.get("service.name").and_then(|s| s.as_str()).unwrap_or("").to_string();
            for sm in &rm.scope_metrics {
                for metric in &sm.metrics {
                    let total: f64 = match &metric.data {
                        Some(Data::Sum(s)) => s
                            .data_points
                            .iter()
                            .map(|p| match p.value {
                                Some(N::AsInt(i)) => i as f64,
                                Some(N::AsDouble(d)) => d,
                                None => 0.0,
                            })
                            .sum(),
                        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| p.count as f64).sum(),
                        _ => 0.0,
                    };
                    let e = per_service.entry((metric.name.clone(), service.clone())).or_insert(0.0);
                    *e = e.max(total);
                }
            }
        }
    }
    let mut m = std::collections::BTreeMap::new();
    for ((name, _), total) in per_service {
        *m.entry(name).or_insert(0.0) += total;
    }
    m
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn python() -> String {
    std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// POSTs a protobuf body to weir's OTLP/HTTP receiver over a plain socket; returns the status
/// code and the `Retry-After` header.
pub fn post_protobuf(port: u16, path: &str, body: &[u8]) -> (u16, Option<String>) {
    post_protobuf_with_headers(port, path, body, &[])
}

/// [`post_protobuf`] with extra request headers.
pub fn post_protobuf_with_headers(
    port: u16,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, Option<String>) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("receiver accepts connections");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let retry_after = resp
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("retry-after:"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    (code, retry_after)
}

/// Every file under `dir` whose name ends with `suffix`, sorted.
pub fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(suffix)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Like [`run_client`], for clients that print more than a pipe holds (64 KiB): stdout and
/// stderr go to files, read once the client has finished.
pub fn run_client_large_output(cmd: &mut Command, timeout: Duration) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = cmd
        .stdout(Stdio::from(std::fs::File::create(&out_path).expect("stdout file")))
        .stderr(Stdio::from(std::fs::File::create(&err_path).expect("stderr file")))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}. The end-to-end tests need it installed (see .ci/run)."));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait client") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("client {cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "client {cmd:?} failed with {status}:\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("client output is not JSON ({e}):\n{out}\n{err}"))
}
