//! The two-tier picture end to end: agents `otlp → loadbalancing(traceID)` in front of three
//! gateways `otlp → spanmetrics (before sampling, a connector) → tail_sampling → file`, with
//! the Python SDK and weir-loadgen as clients and the backends found through a real dnsmasq
//! (Debian's package; this test starts it on a free loopback port with a hosts file, and
//! stops it).
//!
//! 1. Steady state: every trace is decided whole on one gateway, and the span metrics' call
//!    counts, summed over the gateways, equal the spans sent, exactly.
//! 2. A gateway is SIGKILLed mid-run and removed from DNS: the agents route its share to the
//!    other two. Every span acknowledged to a client (the agents' queues are on disk:
//!    `sending_queue::storage`) reaches a gateway's output; what the killed gateway held and
//!    had not acknowledged is sent again and lands elsewhere (those traces are decided in two
//!    places); what is lost is the killed gateway's span metrics of its last interval. The
//!    test prints those numbers.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const HOST: &str = "gateways.weir.test";
const GATEWAY_IPS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

/// dnsmasq answering for [`HOST`] from a hosts file; stopped on drop.
struct Dns {
    child: Child,
    port: u16,
    hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dns {
    fn start(ips: &[&str]) -> Dns {
        let dir = tempfile::tempdir().expect("temp dir");
        let hosts = dir.path().join("hosts");
        write_hosts(&hosts, ips);
        let port = free_udp_port();
        let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("dnsmasq is installed (apt-get install dnsmasq; scripts/test installs it)");
        let child = Command::new(binary)
            .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-negcache", "--bind-interfaces"])
            .args(["--listen-address=127.0.0.1", "--user=root", "--local-ttl=0", "--conf-file=/dev/null"])
            .arg(format!("--port={port}"))
            .arg(format!("--addn-hosts={}", hosts.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let dns = Dns { child, port, hosts, _dir: dir };
        assert!(eventually(Duration::from_secs(10), || dns.answers()), "dnsmasq does not answer on port {port}");
        dns
    }

    /// Whether a query through `dig`-less means works: a UDP probe with a real query.
    fn answers(&self) -> bool {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        socket.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in HOST.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        if socket.send_to(&q, ("127.0.0.1", self.port)).is_err() {
            return false;
        }
        let mut buf = [0u8; 512];
        matches!(socket.recv(&mut buf), Ok(n) if n > 12 && buf[7] > 0)
    }

    /// Rewrites the hosts file and tells dnsmasq to read it again.
    fn set(&self, ips: &[&str]) {
        write_hosts(&self.hosts, ips);
        let ok = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().expect("kill").success();
        assert!(ok, "SIGHUP dnsmasq");
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_hosts(path: &Path, ips: &[&str]) {
    let text: String = ips.iter().map(|ip| format!("{ip} {HOST}\n")).collect();
    std::fs::write(path, text).expect("write hosts");
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("udp").local_addr().expect("addr").port()
}

fn gateway_config(ip: &str, port: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "{ip}:{port}" }}
    wait_for_result: true
processors:
  tail_sampling:
    decision_wait: 1s
    policies: [{{ name: all, type: always_sample }}]
exporters:
  file/traces: {{ path: "{{dir}}/traces.jsonl", flush_interval: 0s, sending_queue: {{ wait_for_result: true }} }}
  file/metrics: {{ path: "{{dir}}/metrics.jsonl", flush_interval: 0s }}
connectors:
  spanmetrics: {{ metrics_flush_interval: 500ms }}
  forward:
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [spanmetrics, forward] }}
    traces/sampled: {{ receivers: [forward], processors: [tail_sampling], exporters: [file/traces] }}
    metrics: {{ receivers: [spanmetrics], exporters: [file/metrics] }}
"#
    )
}

fn agent_config(grpc: u16, gateway_port: u16, dns_port: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        compression: none
        timeout: 5s
        retry_on_failure: {{ initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 5s }}
    resolver:
      dns:
        hostname: {HOST}
        port: {gateway_port}
        interval: 200ms
        timeout: 1s
        nameservers: ["127.0.0.1:{dns_port}"]
    retry_on_failure: {{ enabled: true, initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 60s }}
    sending_queue: {{ storage: file_storage, num_consumers: 16 }}
  nop:
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
  file_storage: {{ directory: "{{dir}}/queue" }}
service:
  extensions: [health_check, file_storage]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [loadbalancing] }}
    metrics: {{ receivers: [otlp], exporters: [nop] }}
    logs: {{ receivers: [otlp], exporters: [nop] }}
"#
    )
}

fn loadgen() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_weir")).with_file_name("weir-loadgen");
    assert!(path.exists(), "{} is missing: run scripts/test, or `cargo build -p weir-loadgen` first", path.display());
    path
}

/// weir-loadgen sending `requests` distinct requests of `batch` spans (at most 64, so none
/// repeats), at `rate` spans/s.
fn run_loadgen(grpc: u16, requests: u64, batch: u64, rate: u64, seed: u64) -> Child {
    Command::new(loadgen())
        .args(["--endpoint", &format!("127.0.0.1:{grpc}"), "--protocol", "grpc", "--signal", "traces"])
        .args(["--total", &(requests * batch).to_string(), "--batch-size", &batch.to_string()])
        .args(["--pool-size", &requests.to_string(), "--rate", &rate.to_string(), "--seed", &seed.to_string()])
        .args(["--json", "--concurrency", "4", "--report-interval-s", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weir-loadgen")
}

fn loadgen_items(child: Child) -> u64 {
    let out = child.wait_with_output().expect("weir-loadgen runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "weir-loadgen failed: {text}");
    let last = text.lines().rev().find(|l| l.trim_start().starts_with('{')).expect("a JSON summary");
    let v: serde_json::Value = serde_json::from_str(last).expect("JSON");
    assert_eq!(v["failed_items"].as_u64(), Some(0), "{v}");
    v["items"].as_u64().expect("items")
}

/// Every span a gateway wrote: (trace id, span id) → how many times.
fn written_spans(gateway: &Weir) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for req in read_file_output(&gateway.path("traces.jsonl")).traces {
        for s in req.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
            *out.entry((hex(&s.trace_id), hex(&s.span_id))).or_insert(0) += 1;
        }
    }
    out
}

/// The gateway's span metrics: the last cumulative `calls` of each series, summed.
fn calls(gateway: &Weir) -> u64 {
    let mut last: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for req in read_file_output(&gateway.path("metrics.jsonl")).metrics {
        for rm in &req.resource_metrics {
            let resource = format!("{:?}", rm.resource);
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                if m.name != "traces.span.metrics.calls" {
                    continue;
                }
                let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) = &m.data else { continue };
                for p in &sum.data_points {
                    let v = match p.value {
                        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v)) => v as u64,
                        _ => 0,
                    };
                    let key = format!("{resource}{:?}", p.attributes);
                    let e = last.entry(key).or_insert((0, 0));
                    if p.time_unix_nano >= e.0 {
                        *e = (p.time_unix_nano, v);
                    }
                }
            }
        }
    }
    last.values().map(|(_, v)| v).sum()
}

fn gauge(metrics: &str, name: &str, label: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// What an agent's `loadbalancing` exporter queues hold (its own and its backends').
fn queued_items(agent: &Weir) -> f64 {
    agent
        .metrics()
        .lines()
        .filter(|l| l.starts_with("otelcol_exporter_queue_size") && l.contains("loadbalancing"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn python_traces(grpc: u16, n: usize, service: &str) -> BTreeSet<(String, String)> {
    let sent = run_client(
        Command::new(python()).arg(repo_root().join("tests/clients/send_python.py")).args([
            "--protocol",
            "grpc",
            "--endpoint",
            &format!("http://127.0.0.1:{grpc}"),
            "--traces",
            &n.to_string(),
            "--service",
            service,
        ]),
        Duration::from_secs(60),
    );
    sent["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| (s["trace_id"].as_str().unwrap().to_string(), s["span_id"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn agents_route_whole_traces_to_three_gateways_and_survive_losing_one() {
    let dns = Dns::start(&GATEWAY_IPS);
    let gateway_port = free_port();
    let mut gateways: Vec<Weir> =
        GATEWAY_IPS.iter().map(|ip| Weir::start(&format!("gateway {ip}"), &gateway_config(ip, gateway_port))).collect();
    let (a1, a2) = (free_port(), free_port());
    let agents = [
        Weir::start("agent 1", &agent_config(a1, gateway_port, dns.port)),
        Weir::start("agent 2", &agent_config(a2, gateway_port, dns.port)),
    ];
    let resolved =
        |n: f64| agents.iter().all(|a| gauge(&a.metrics(), "otelcol_loadbalancer_num_backends", "dns") == Some(n));
    assert!(
        eventually(Duration::from_secs(10), || resolved(3.0)),
        "the agents resolved 3 gateways\n{}",
        agents[0].log()
    );

    // 1. Steady state: the Python SDK through agent 1, the load generator through agent 2.
    let python = python_traces(a1, 40, "python-checkout");
    let load = run_loadgen(a2, 40, 250, 0, 1);
    let loaded = loadgen_items(load);
    let sent = python.len() as u64 + loaded;
    let written_total = |gws: &[Weir]| gws.iter().map(|g| written_spans(g).values().sum::<usize>() as u64).sum::<u64>();
    assert!(
        eventually(Duration::from_secs(30), || written_total(&gateways) == sent
            && gateways.iter().map(calls).sum::<u64>() == sent),
        "all {sent} spans written and counted: written {}, counted {}\n{}",
        written_total(&gateways),
        gateways.iter().map(calls).sum::<u64>(),
        gateways[0].log()
    );
    let mut where_trace: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, g) in gateways.iter().enumerate() {
        for (t, _) in written_spans(g).keys() {
            where_trace.entry(t.clone()).or_default().insert(i);
        }
    }
    let split: Vec<_> = where_trace.iter().filter(|(_, g)| g.len() > 1).collect();
    assert!(split.is_empty(), "traces decided on more than one gateway: {split:?}");
    let per_gateway: Vec<usize> = (0..3).map(|i| where_trace.values().filter(|g| g.contains(&i)).count()).collect();
    assert!(per_gateway.iter().all(|n| *n > 0), "every gateway got traces: {per_gateway:?}");
    let all_written: BTreeSet<(String, String)> = gateways.iter().flat_map(|g| written_spans(g).into_keys()).collect();
    assert!(python.is_subset(&all_written), "every Python span arrived");
    let counted_before: Vec<u64> = gateways.iter().map(calls).collect();
    eprintln!(
        "steady: {sent} spans ({} Python, {loaded} loadgen) in {} traces; traces per gateway {per_gateway:?}; \
         span metrics calls per gateway {counted_before:?} (sum {}), every trace on one gateway",
        python.len(),
        where_trace.len(),
        counted_before.iter().sum::<u64>()
    );

    // 2. Gateway 3 dies mid-run and leaves DNS.
    let before: BTreeSet<(String, String)> = all_written.clone();
    let load = run_loadgen(a2, 64, 250, 4000, 2);
    std::thread::sleep(Duration::from_millis(1500));
    let victim = gateways.pop().expect("three gateways");
    victim.signal("KILL");
    std::thread::sleep(Duration::from_millis(300));
    // Read after the kill: what it wrote (and acknowledged) up to its last instant.
    let written_by_victim_at_kill = written_spans(&victim);
    dns.set(&GATEWAY_IPS[..2]);
    let python_after = python_traces(a1, 20, "python-after-kill");
    let loaded = loadgen_items(load);
    assert!(eventually(Duration::from_secs(10), || resolved(2.0)), "the agents dropped the dead gateway");
    let acked = loaded + python_after.len() as u64;
    // Every acknowledged span reaches a gateway: the two alive ones, or the dead one's file.
    let victim_spans: BTreeSet<(String, String)> = written_by_victim_at_kill.keys().cloned().collect();
    let union = |gws: &[Weir]| -> BTreeSet<(String, String)> {
        gws.iter().flat_map(|g| written_spans(g).into_keys()).chain(victim_spans.iter().cloned()).collect()
    };
    let expected_unique = before.len() as u64 + acked;
    assert!(
        eventually(Duration::from_secs(60), || union(&gateways).len() as u64 >= expected_unique),
        "every acknowledged span arrived: {} of {expected_unique}; agents' queues {:?}\n{}",
        union(&gateways).len(),
        agents.iter().map(queued_items).collect::<Vec<_>>(),
        agents[1].log()
    );
    let after = union(&gateways);
    assert!(python_after.is_subset(&after), "every Python span sent after the kill arrived");
    assert_eq!(after.len() as u64, expected_unique, "nothing arrived that was not sent");
    // Queues drained on both agents.
    assert!(
        eventually(Duration::from_secs(20), || agents.iter().all(|a| queued_items(a) == 0.0)),
        "the agents' queues drained"
    );

    // What moved and what was lost.
    let mut places: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut duplicates = 0usize;
    for (i, g) in gateways.iter().enumerate() {
        for ((t, s), n) in written_spans(g) {
            if !before.contains(&(t.clone(), s)) {
                places.entry(t).or_default().insert(i);
            }
            duplicates += n - 1;
        }
    }
    for (t, _) in written_by_victim_at_kill.keys().filter(|k| !before.contains(k)) {
        places.entry(t.clone()).or_default().insert(2);
    }
    let rerouted = places.values().filter(|p| p.len() > 1).count();
    let counted_alive: u64 = gateways.iter().map(calls).sum();
    let lost_metrics = (sent + acked).saturating_sub(counted_alive + counted_before[2]);
    eprintln!(
        "kill: {acked} spans acknowledged after the kill began, all {expected_unique} distinct spans arrived; \
         {} traces in phase 2, {rerouted} of them decided on two gateways (re-routed mid-trace); \
         {duplicates} spans written twice by the alive gateways (parts sent again); the dead gateway had written \
         {} spans; span metrics lost with it (counted but not yet emitted, or emitted after the test read it): \
         at most {lost_metrics} calls",
        places.len(),
        written_by_victim_at_kill.len()
    );
    for g in &mut gateways {
        assert!(g.terminate(Duration::from_secs(30)).success(), "{}", g.log());
    }
    drop(victim);
}
