//! End to end against the real binaries: WebSocket clients (tokio-tungstenite) chatting in a
//! room, tokens refused, Redis mode against a real `redis-server`, and the traces that a weir
//! instance receives from `viewer-sim` → `streaming-app`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use http::{Method, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::{json, Value};
use streaming_app::sim::{connect_ws, ApiClient};
use tokio_tungstenite::tungstenite::Message;

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port()
}

/// Removes the `OTEL_*` variables a developer's or CI's environment may set, so that each test
/// decides its own.
fn clear_otel_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
}

/// A child process killed when dropped.
struct Proc {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for the exit (SIGKILL and panic after `timeout`).
    fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill").success();
        assert!(ok, "kill -TERM {}", self.name);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not exit within {timeout:?} of SIGTERM:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running `streaming-app` and its base URL.
struct App {
    proc: Proc,
    base: String,
    _dir: tempfile::TempDir,
}

impl App {
    /// Starts the app on a free port with `args` and `envs`, and waits until it listens.
    fn start(args: &[&str], envs: &[(&str, String)]) -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("app.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_streaming-app"));
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")));
        clear_otel_env(&mut cmd);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn streaming-app");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let proc = Proc { name: "streaming-app", child: Some(child), log };
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("streaming-app did not start listening:\n{}", proc.log()));
        App { proc, base: format!("http://{addr}"), _dir: dir }
    }

    fn api(&self) -> ApiClient {
        ApiClient::new(&self.base)
    }
}

/// Creates a user and returns its token.
async fn user(api: &ApiClient, name: &str) -> String {
    api.register_and_login(name, "password1").await.expect("register and login")
}

async fn create_room(api: &ApiClient, token: &str, name: &str) -> u64 {
    let v = api
        .expect(Method::POST, "/rooms", "/rooms", Some(json!({ "name": name })), Some(token), StatusCode::CREATED)
        .await
        .expect("create room");
    v["id"].as_u64().expect("room id")
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON frame of type `kind` (others are skipped), within 10 s.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame within 10 s"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("JSON frame");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_in_a_room_receive_each_others_messages_in_order() {
    let app = App::start(&["--no-telemetry"], &[]);
    let api = app.api();
    let (alice, bob) = (user(&api, "alice").await, user(&api, "bob").await);
    let room = create_room(&api, &alice, "launch party").await;
    let mut a = connect_ws(&api, room, &alice).await.expect("alice connects");
    let mut b = connect_ws(&api, room, &bob).await.expect("bob connects");
    next_of(&mut a, "welcome").await;
    assert_eq!(next_of(&mut b, "welcome").await["connections"], 2);

    // Both talk at once, 50 messages each.
    const N: u64 = 50;
    for seq in 1..=N {
        let m = |who: &str| {
            Message::text(json!({ "type": "chat", "text": format!("{who} {seq}"), "seq": seq }).to_string())
        };
        a.send(m("alice")).await.expect("alice sends");
        b.send(m("bob")).await.expect("bob sends");
    }
    let mut seen: Vec<Vec<(String, u64)>> = Vec::new();
    for ws in [&mut a, &mut b] {
        let mut got = Vec::new();
        for _ in 0..2 * N {
            let v = next_of(ws, "chat").await;
            assert_eq!(v["room"], room);
            got.push((v["user"].as_str().expect("user").to_string(), v["seq"].as_u64().expect("seq")));
        }
        for who in ["alice", "bob"] {
            let seqs: Vec<u64> = got.iter().filter(|(u, _)| u == who).map(|(_, s)| *s).collect();
            assert_eq!(seqs, (1..=N).collect::<Vec<_>>(), "{who}'s messages in order");
        }
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "every viewer sees the room's messages in the same order");

    // Likes and gifts reach the room too, and the counters add up.
    let path = format!("/rooms/{room}/like");
    api.expect(Method::POST, "/rooms/{id}/like", &path, None, Some(&bob), StatusCode::OK).await.expect("like");
    assert_eq!(next_of(&mut a, "like").await["likes"], 1);
    a.send(Message::text(json!({ "type": "gift", "gift": "rocket", "amount": 3 }).to_string())).await.expect("gift");
    assert_eq!(next_of(&mut b, "gift").await["gifts"], 3);

    let r =
        api.expect(Method::GET, "/rooms/{id}", &format!("/rooms/{room}"), None, None, StatusCode::OK).await.unwrap();
    assert_eq!((r["messages"].as_u64(), r["likes"].as_u64(), r["gifts"].as_u64()), (Some(2 * N), Some(1), Some(3)));
    assert_eq!(r["connections"], 2);
    let stats = api.expect(Method::GET, "/stats", "/stats", None, None, StatusCode::OK).await.unwrap();
    assert_eq!(stats["messages_total"], 2 * N);
    assert_eq!(stats["connections"], 2);
    assert!(stats["deliveries_total"].as_u64().unwrap() >= 4 * N);

    // An unknown message type is refused with an error frame; the connection stays usable.
    a.send(Message::text(r#"{"type":"explode"}"#)).await.unwrap();
    assert!(next_of(&mut a, "error").await["error"].as_str().unwrap().contains("unknown message type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_over_http_and_websocket() {
    let app = App::start(&["--no-telemetry", "--jwt-secret", "the-real-secret"], &[]);
    let api = app.api();
    let good = user(&api, "carol").await;
    let room = create_room(&api, &good, "members only").await;
    let forged = streaming_app::auth::TokenKey::new(b"another-secret", 60).issue("carol");

    for token in [None, Some("not-a-jwt"), Some(forged.as_str())] {
        let (status, body) =
            api.call(Method::POST, "/rooms", "/rooms", Some(json!({ "name": "x" })), token, None).await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "POST /rooms with {token:?}: {body}");
        let path = format!("/rooms/{room}/join");
        let (status, _) = api.call(Method::POST, "/rooms/{id}/join", &path, None, token, None).await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for token in ["not-a-jwt", forged.as_str(), ""] {
        match tokio_tungstenite::connect_async(api.ws_url(room, token)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            Err(other) => panic!("upgrade with token {token:?} failed oddly: {other}"),
            Ok(_) => panic!("upgrade with token {token:?} was accepted"),
        }
    }
    let (status, _) = api
        .call(
            Method::POST,
            "/users/login",
            "/users/login",
            Some(json!({"username":"carol","password":"nope"})),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The good token still works on both.
    assert!(connect_ws(&api, room, &good).await.is_ok());
}

/// A `redis-server` on a free port, without persistence.
struct Redis {
    proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log")))
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}); install it (Debian package `redis-server`) — this test needs a real Redis")
            });
        let r = Redis { proc: Proc { name: "redis-server", child: Some(child), log }, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start:\n{}", r.proc.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_mode_keeps_rooms_and_counters_in_redis_across_restarts() {
    let redis = Redis::start();
    let mut app = App::start(&["--no-telemetry", "--redis-url", &redis.url()], &[]);
    let api = app.api();
    let (dave, erin) = (user(&api, "dave").await, user(&api, "erin").await);
    let room = create_room(&api, &dave, "redis room").await;
    let join = format!("/rooms/{room}/join");
    let v = api.expect(Method::POST, "/rooms/{id}/join", &join, None, Some(&dave), StatusCode::OK).await.unwrap();
    assert_eq!(v["viewers"], 1);
    let v = api.expect(Method::POST, "/rooms/{id}/join", &join, None, Some(&erin), StatusCode::OK).await.unwrap();
    assert_eq!(v["viewers"], 2);
    let like = format!("/rooms/{room}/like");
    api.expect(Method::POST, "/rooms/{id}/like", &like, None, Some(&erin), StatusCode::OK).await.unwrap();
    let mut ws = connect_ws(&api, room, &erin).await.unwrap();
    for seq in 1..=3 {
        ws.send(Message::text(json!({ "type": "chat", "text": "hi", "seq": seq }).to_string())).await.unwrap();
        assert_eq!(next_of(&mut ws, "chat").await["seq"], seq);
    }
    let leave = format!("/rooms/{room}/leave");
    let v = api.expect(Method::POST, "/rooms/{id}/leave", &leave, None, Some(&dave), StatusCode::OK).await.unwrap();
    assert_eq!(v["viewers"], 1);
    let unknown = api.call(Method::POST, "/rooms/{id}/like", "/rooms/999/like", None, Some(&erin), None).await.unwrap();
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);

    // The state is in Redis, under the documented keys.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let room_hash: HashMap<String, String> =
        redis::cmd("HGETALL").arg(format!("streaming:room:{room}")).query_async(&mut c).await.unwrap();
    assert_eq!(room_hash["name"], "redis room");
    assert_eq!(room_hash["owner"], "dave");
    assert_eq!((room_hash["likes"].as_str(), room_hash["messages"].as_str()), ("1", "3"));
    let viewers: Vec<String> =
        redis::cmd("SMEMBERS").arg(format!("streaming:room:{room}:viewers")).query_async(&mut c).await.unwrap();
    assert_eq!(viewers, vec!["erin".to_string()]);

    // A new app process on the same Redis sees the same rooms and counters.
    drop(ws);
    assert!(app.proc.terminate(Duration::from_secs(10)).success());
    let app2 = App::start(&["--no-telemetry", "--redis-url", &redis.url()], &[]);
    let rooms = app2.api().expect(Method::GET, "/rooms", "/rooms", None, None, StatusCode::OK).await.unwrap();
    let r = &rooms.as_array().unwrap()[0];
    assert_eq!((r["id"].as_u64(), r["name"].as_str()), (Some(room), Some("redis room")));
    assert_eq!((r["viewers"].as_u64(), r["likes"].as_u64(), r["messages"].as_u64()), (Some(1), Some(1), Some(3)));
}

// ---------------------------------------------------------------------------------------------
// Telemetry: viewer-sim → streaming-app → weir (otlp receiver → file exporter).

/// `target/debug/weir`, beside this test's own binary.
fn weir_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/e2e_streaming-xxxx → target/debug/weir
    let path = exe.parent().and_then(Path::parent).expect("target dir").join("weir");
    assert!(path.exists(), "{} is missing: build it first with `cargo build -p weir`", path.display());
    path
}

/// A weir that writes everything it receives over OTLP/gRPC to `out.jsonl`.
struct Weir {
    proc: Proc,
    grpc: u16,
    dir: tempfile::TempDir,
}

impl Weir {
    fn start() -> Weir {
        let dir = tempfile::tempdir().expect("temp dir");
        let (grpc, health, metrics) = (free_port(), free_port(), free_port());
        let out = dir.path().join("out.jsonl");
        let config = format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
exporters:
  file: {{ path: "{out}", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{health}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [file] }}
    metrics: {{ receivers: [otlp], exporters: [file] }}
    logs: {{ receivers: [otlp], exporters: [file] }}
"#,
            out = out.display()
        );
        let path = dir.path().join("pipelines.yaml");
        std::fs::write(&path, config).expect("write config");
        let log = dir.path().join("weir.log");
        let child = Command::new(weir_binary())
            .args(["run", "--config"])
            .arg(&path)
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log")))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).expect("log")))
            .spawn()
            .expect("spawn weir");
        let w = Weir { proc: Proc { name: "weir", child: Some(child), log }, grpc, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", health)) {
                use std::io::{Read, Write};
                let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/1.1 200") {
                    return w;
                }
            }
            assert!(Instant::now() < deadline, "weir did not become healthy:\n{}", w.proc.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn output(&self) -> Output {
        let mut out = Output::default();
        let text = std::fs::read_to_string(self.dir.path().join("out.jsonl")).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
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
}

#[derive(Default)]
struct Output {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
}

#[derive(Debug, Clone)]
struct SpanRow {
    service: String,
    trace: String,
    id: String,
    parent: String,
    name: String,
    error: bool,
    duration: Duration,
    attrs: BTreeMap<String, String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn any_string(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn service_of(res: &Option<opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    res.as_ref()
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .map(|kv| any_string(&kv.value))
        .unwrap_or_default()
}

impl Output {
    fn spans(&self) -> Vec<SpanRow> {
        let mut v = Vec::new();
        for req in &self.traces {
            for rs in &req.resource_spans {
                let service = service_of(&rs.resource);
                for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    v.push(SpanRow {
                        service: service.clone(),
                        trace: hex(&s.trace_id),
                        id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                        name: s.name.clone(),
                        error: s.status.as_ref().is_some_and(|st| st.code == 2),
                        duration: Duration::from_nanos(s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano)),
                        attrs: s.attributes.iter().map(|kv| (kv.key.clone(), any_string(&kv.value))).collect(),
                    });
                }
            }
        }
        v
    }

    fn metric_names(&self, service: &str) -> HashSet<String> {
        self.metrics
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .filter(|rm| service_of(&rm.resource) == service)
            .flat_map(|rm| rm.scope_metrics.iter().flat_map(|sm| sm.metrics.iter().map(|m| m.name.clone())))
            .collect()
    }

    fn log_bodies(&self, service: &str) -> Vec<(String, String)> {
        self.logs
            .iter()
            .flat_map(|r| &r.resource_logs)
            .filter(|rl| service_of(&rl.resource) == service)
            .flat_map(|rl| rl.scope_logs.iter().flat_map(|sl| &sl.log_records))
            .map(|l| (any_string(&l.body), hex(&l.trace_id)))
            .collect()
    }
}

#[test]
fn simulator_traces_reach_weir_complete_across_http_websocket_and_store_with_errors() {
    let weir = Weir::start();
    let otlp = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{}", weir.grpc)),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on".to_string()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000".to_string()),
    ];
    let mut app = App::start(&[], &otlp);
    let mut sim = Command::new(env!("CARGO_BIN_EXE_viewer-sim"));
    clear_otel_env(&mut sim);
    let sim = sim
        .args(["--target", &app.base, "--viewers", "4", "--rooms", "2", "--duration-s", "2", "--msg-rate", "10"])
        .args(["--error-rate", "0.3", "--slow-rate", "0.2", "--slow-ms", "60", "--json"])
        .envs(otlp.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run viewer-sim");
    assert!(sim.status.success(), "viewer-sim failed: {}", String::from_utf8_lossy(&sim.stderr));
    let summary: Value = serde_json::from_slice(&sim.stdout).expect("viewer-sim JSON summary");
    assert_eq!(summary["viewers_connected"], 4, "{summary}");
    assert!(summary["messages_received"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["errors_injected"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["slow_injected"].as_u64().unwrap() > 0, "{summary}");
    assert!(app.proc.terminate(Duration::from_secs(20)).success(), "app exit:\n{}", app.proc.log());

    // Wait until both flushes have been written out by weir (both processes have exited, so
    // the span count only grows until weir has written everything).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut previous = usize::MAX;
    let spans = loop {
        let spans = weir.output().spans();
        let app_spans = spans.iter().filter(|s| s.service == "streaming-app").count();
        let done = app_spans > 0 && spans.iter().any(|s| s.name == "viewer.leave") && spans.len() == previous;
        if done || Instant::now() > deadline {
            break spans;
        }
        previous = spans.len();
        std::thread::sleep(Duration::from_millis(500));
    };
    let by_id: HashMap<&str, &SpanRow> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let parent_of = |s: &SpanRow| by_id.get(s.parent.as_str()).copied();
    let named = |service: &str, name: &str| -> Vec<&SpanRow> {
        spans.iter().filter(|s| s.service == service && s.name == name).collect()
    };

    // One join trace per viewer: simulator → HTTP → WebSocket → store, all linked.
    let joins = named("viewer-sim", "viewer.join");
    assert_eq!(
        joins.len(),
        4,
        "viewer.join roots; spans seen: {:?}",
        spans.iter().map(|s| &s.name).collect::<HashSet<_>>()
    );
    for root in joins {
        assert!(root.parent.is_empty(), "viewer.join is a root");
        let trace: Vec<&SpanRow> = spans.iter().filter(|s| s.trace == root.trace).collect();
        for s in &trace {
            assert!(s.parent.is_empty() || by_id.contains_key(s.parent.as_str()), "span {} has its parent", s.name);
        }
        let find = |service: &str, name: &str, parent_service: &str, parent_name: &str| {
            trace
                .iter()
                .copied()
                .find(|s| {
                    s.service == service
                        && s.name == name
                        && parent_of(s).is_some_and(|p| p.service == parent_service && p.name == parent_name)
                })
                .unwrap_or_else(|| {
                    let names: Vec<String> = trace.iter().map(|s| format!("{}:{}", s.service, s.name)).collect();
                    panic!("no {service} {name} under {parent_service} {parent_name} in {names:?}")
                })
        };
        find("streaming-app", "POST /users/login", "viewer-sim", "POST /users/login");
        let join = find("streaming-app", "POST /rooms/{id}/join", "viewer-sim", "POST /rooms/{id}/join");
        assert_eq!(join.attrs.get("http.response.status_code").map(String::as_str), Some("200"));
        find("streaming-app", "store.join", "streaming-app", "POST /rooms/{id}/join");
        find("streaming-app", "GET /rooms/{id}/ws", "viewer-sim", "ws.connect");
        find("viewer-sim", "ws.send", "viewer-sim", "viewer.join");
        let msg = find("streaming-app", "ws.message chat", "viewer-sim", "ws.send");
        assert!(!msg.error);
        find("streaming-app", "store.add_messages", "streaming-app", "ws.message chat");
        find("streaming-app", "room.fanout", "streaming-app", "ws.message chat");
    }

    // Chat messages are traces of their own, continued in the app.
    let sends = named("viewer-sim", "chat.send");
    assert!(!sends.is_empty());
    let continued = spans
        .iter()
        .filter(|s| s.name == "ws.message chat")
        .filter_map(|s| parent_of(s).and_then(parent_of))
        .filter(|gp| gp.name == "chat.send")
        .count();
    assert!(continued > 0, "no ws.message chat span under a chat.send trace");

    // Injected errors are ERROR spans on both sides; injected slowness is in the store span.
    let http_errors = named("streaming-app", "GET /fault/error");
    assert!(!http_errors.is_empty() && http_errors.iter().all(|s| s.error), "GET /fault/error spans are ERROR");
    assert!(http_errors.iter().all(|s| parent_of(s).is_some_and(|p| p.service == "viewer-sim" && p.error)));
    let refused = named("streaming-app", "ws.message explode");
    assert!(!refused.is_empty() && refused.iter().all(|s| s.error), "refused WebSocket messages are ERROR");
    let slow: Vec<&SpanRow> =
        spans.iter().filter(|s| s.name.starts_with("store.") && s.attrs.contains_key("fault.slow_ms")).collect();
    assert!(!slow.is_empty(), "slow store spans");
    assert!(slow.iter().all(|s| s.duration >= Duration::from_millis(60)), "slow store spans last the delay");
    let unexpected: Vec<String> = spans
        .iter()
        .filter(|s| s.error && s.name != "GET /fault/error" && s.name != "ws.message explode")
        .map(|s| format!("{}:{}", s.service, s.name))
        .collect();
    assert!(unexpected.is_empty(), "ERROR spans where no fault was injected: {unexpected:?}");

    // Metrics and logs arrive too; a log line carries the trace it happened in.
    let out = weir.output();
    let names = out.metric_names("streaming-app");
    for m in [
        "streaming.ws.messages",
        "streaming.fanout.deliveries",
        "http.server.request.duration",
        "streaming.ws.connections",
    ] {
        assert!(names.contains(m), "metric {m} missing from {names:?}");
    }
    let logs = out.log_bodies("streaming-app");
    let injected = logs.iter().find(|(b, _)| b == "Injected failure.").expect("log of an injected failure");
    assert!(http_errors.iter().any(|s| s.trace == injected.1), "the failure's log carries its trace id");
}

#[test]
fn app_honours_otel_service_name_and_sampler_variables() {
    let weir = Weir::start();
    let mut app = App::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{}", weir.grpc)),
            ("OTEL_SERVICE_NAME", "chat-edge".to_string()),
            ("OTEL_TRACES_SAMPLER", "always_off".to_string()),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let api = app.api();
        let token = user(&api, "frank").await;
        create_room(&api, &token, "quiet room").await;
        let (status, _) = api.call(Method::GET, "/fault/error", "/fault/error", None, None, None).await.unwrap();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    });
    assert!(app.proc.terminate(Duration::from_secs(20)).success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while weir.output().log_bodies("chat-edge").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = weir.output();
    assert!(!out.log_bodies("chat-edge").is_empty(), "logs arrive under OTEL_SERVICE_NAME");
    assert!(out.metric_names("chat-edge").contains("http.server.request.duration"));
    assert!(out.spans().is_empty(), "OTEL_TRACES_SAMPLER=always_off samples nothing");
}

#[test]
fn a_failing_redis_is_a_500_and_an_error_store_span_with_a_log() {
    let weir = Weir::start();
    let mut redis = Redis::start();
    let mut app = App::start(
        &["--redis-url", &redis.url()],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{}", weir.grpc))],
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    rt.block_on(async {
        let api = app.api();
        let token = user(&api, "grace").await;
        let room = create_room(&api, &token, "doomed").await;
        redis.proc.terminate(Duration::from_secs(10));
        let path = format!("/rooms/{room}/like");
        let (status, body) = api.call(Method::POST, "/rooms/{id}/like", &path, None, Some(&token), None).await.unwrap();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert!(body["error"].as_str().unwrap().starts_with("redis"), "{body}");
    });
    assert!(started.elapsed() < Duration::from_secs(20), "a dead Redis fails requests promptly");
    assert!(app.proc.terminate(Duration::from_secs(30)).success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let ok = |spans: &[SpanRow]| spans.iter().any(|s| s.name == "store.add_likes");
    while !ok(&weir.output().spans()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let spans = weir.output().spans();
    let store = spans.iter().find(|s| s.name == "store.add_likes").expect("store.add_likes span");
    assert!(store.error, "the failed store operation is an ERROR span");
    assert_eq!(store.attrs.get("db.system").map(String::as_str), Some("redis"));
    let http = spans.iter().find(|s| s.id == store.parent).expect("its HTTP server span");
    assert_eq!((http.name.as_str(), http.error), ("POST /rooms/{id}/like", true));
    let logs = weir.output().log_bodies("streaming-app");
    assert!(logs.iter().any(|(b, t)| b == "Store operation failed." && *t == store.trace), "{logs:?}");
}
