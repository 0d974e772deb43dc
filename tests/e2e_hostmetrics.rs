//! The `hostmetrics` receiver end to end: weir scrapes this host every 500ms and writes what it
//! scrapes with the `file` exporter; an independent reader (`tests/clients/read_host.py`:
//! Python's `psutil` and `os.statvfs`, and `/proc/<pid>/status`) reads the same host just
//! before and just after one scrape, and the scrape must sit between the two reads:
//!
//! - CPU time per CPU and state: between the two reads (counters only grow), give or take one
//!   clock tick of rounding;
//! - memory usage by state: `used + free + buffered + cached` is the total;
//! - filesystem `/`: `used + free + reserved` is `f_blocks × f_frsize` of `os.statvfs("/")`,
//!   free space close to it (other processes write meanwhile), inodes add up;
//! - network: `lo`'s byte counters grew by at least the 1 MiB the test sends over loopback
//!   before the scrape, and are not beyond the after-read;
//! - the weir process itself: `process.memory.usage` against `VmRSS` of `/proc/<pid>/status`.
//!
//! Expected values are the Collector's definitions (each scraper's `metadata.yaml` and
//! `documentation.md`), never weir's output.

mod common;

use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as N, NumberDataPoint};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

const CONFIG: &str = r#"
receivers:
  hostmetrics:
    collection_interval: 500ms
    initial_delay: 0s
    scrapers:
      cpu:
      memory:
      load:
      system:
      filesystem:
        include_mount_points: { mount_points: ["/"], match_type: strict }
      network:
        include: { interfaces: [lo], match_type: strict }
      process:
        include: { names: [weir], match_type: strict }
        mute_process_all_errors: true
exporters:
  file: { path: "{dir}/out.jsonl", flush_interval: 100ms }
extensions:
  health_check: { endpoint: "127.0.0.1:{health}" }
service:
  extensions: [health_check]
  telemetry: { metrics: { address: "127.0.0.1:{metrics}" } }
  pipelines:
    metrics: { receivers: [hostmetrics], exporters: [file] }
"#;

const MIB: u64 = 1 << 20;

fn read_host(pid: u32) -> serde_json::Value {
    let script = repo_root().join("tests/clients/read_host.py");
    run_client(Command::new(python()).arg(script).arg(pid.to_string()), Duration::from_secs(30))
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

fn num(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(N::AsInt(i)) => i as f64,
        Some(N::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

fn attr(p: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<serde_json::Value> {
    p.iter().find(|kv| kv.key == key).map(|kv| value_json(&kv.value))
}

/// The data points of `name` in one scrape (a request), with their resource's attributes.
fn points<'a>(
    req: &'a ExportMetricsServiceRequest,
    name: &str,
) -> Vec<(&'a [opentelemetry_proto::tonic::common::v1::KeyValue], &'a NumberDataPoint, bool)> {
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        let res: &[_] = rm.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics).filter(|m| m.name == name) {
            match &m.data {
                Some(Data::Sum(s)) => {
                    assert_eq!(s.aggregation_temporality, 2, "{name} is cumulative");
                    out.extend(s.data_points.iter().map(|p| (res, p, s.is_monotonic)));
                }
                Some(Data::Gauge(g)) => out.extend(g.data_points.iter().map(|p| (res, p, false))),
                other => panic!("{name}: unexpected data {other:?}"),
            }
        }
    }
    out
}

/// The value of the point of `name` with these data point attributes.
fn point(req: &ExportMetricsServiceRequest, name: &str, attrs: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = points(req, name)
        .into_iter()
        .filter(|(_, p, _)| attrs.iter().all(|(k, v)| attr(&p.attributes, k) == Some(serde_json::json!(v))))
        .map(|(_, p, _)| num(p))
        .collect();
    assert_eq!(found.len(), 1, "{name} {attrs:?}: {found:?}");
    found[0]
}

/// Sends `bytes` over a loopback TCP connection (counted by `lo` both ways).
fn loopback_traffic(bytes: u64) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut n = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break n,
                Ok(k) => n += k as u64,
                Err(e) => panic!("read: {e}"),
            }
        }
    });
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        s.write_all(&chunk).expect("write");
        sent += chunk.len() as u64;
    }
    drop(s);
    assert_eq!(reader.join().expect("reader"), sent);
}

#[test]
fn scraped_values_agree_with_psutil_and_proc() {
    let weir = Weir::start("hostmetrics", CONFIG);
    let pid = weir.pid();
    let before = read_host(pid);
    loopback_traffic(MIB);
    let traffic_done = weir_core::pdata::now_unix_nano();

    // The first scrape that started after the traffic and the before-read.
    let out = weir.path("out.jsonl");
    let mut scrape = None;
    let found = eventually(Duration::from_secs(15), || {
        scrape = read_file_output(&out).metrics.into_iter().find(|req| {
            let cpu = points(req, "system.cpu.time");
            !cpu.is_empty() && cpu.iter().all(|(_, p, _)| p.time_unix_nano > traffic_done)
        });
        scrape.is_some()
    });
    assert!(found, "no scrape after the traffic within 15s:\n{}", weir.log());
    let after = read_host(pid);
    let scrape = scrape.expect("found");

    // CPU time per CPU and state, in seconds since boot.
    let states = [
        ("user", "user"),
        ("system", "system"),
        ("idle", "idle"),
        ("interrupt", "irq"),
        ("nice", "nice"),
        ("softirq", "softirq"),
        ("steal", "steal"),
        ("wait", "iowait"),
    ];
    let boot_nanos = (f(&before["boot_time"]) * 1e9) as u64;
    let cpus = before["cpus"].as_array().expect("cpus");
    let cpu_points = points(&scrape, "system.cpu.time");
    assert_eq!(cpu_points.len(), cpus.len() * states.len(), "one point per CPU and state");
    for (_, p, monotonic) in &cpu_points {
        assert!(monotonic, "system.cpu.time is a monotonic sum");
        assert!(p.start_time_unix_nano.abs_diff(boot_nanos) <= 1_000_000_000, "starts at boot");
    }
    let tick = 0.011;
    for (i, _) in cpus.iter().enumerate() {
        let cpu = format!("cpu{i}");
        for (state, field) in states {
            let v = point(&scrape, "system.cpu.time", &[("cpu", &cpu), ("state", state)]);
            let (lo, hi) = (f(&before["cpus"][i][field]), f(&after["cpus"][i][field]));
            assert!(lo - tick <= v && v <= hi + tick, "{cpu} {state}: {v} not within psutil's [{lo}, {hi}]");
        }
    }

    // Memory: the states add up to the total.
    let total: f64 = ["used", "free", "buffered", "cached"]
        .iter()
        .map(|s| point(&scrape, "system.memory.usage", &[("state", s)]))
        .sum();
    assert_eq!(total, f(&before["mem_total"]), "used + free + buffered + cached = MemTotal");

    // Filesystem `/`.
    let st = &before["statvfs_root"];
    let frsize = f(&st["frsize"]);
    let fs = |state: &str| point(&scrape, "system.filesystem.usage", &[("mountpoint", "/"), ("state", state)]);
    assert_eq!(fs("used") + fs("free") + fs("reserved"), f(&st["blocks"]) * frsize, "size of / as os.statvfs says");
    let free_before = f(&st["bavail"]) * frsize;
    let free_after = f(&after["statvfs_root"]["bavail"]) * frsize;
    let (lo, hi) = (free_before.min(free_after) - 256.0 * MIB as f64, free_before.max(free_after) + 256.0 * MIB as f64);
    assert!(lo <= fs("free") && fs("free") <= hi, "free of /: {} vs statvfs {free_before}..{free_after}", fs("free"));
    let inodes =
        |state: &str| point(&scrape, "system.filesystem.inodes.usage", &[("mountpoint", "/"), ("state", state)]);
    assert_eq!(inodes("used") + inodes("free"), f(&st["files"]), "inodes of / as os.statvfs says");

    // Network: `lo` carried the test's traffic before the scrape.
    for (direction, field) in [("receive", "bytes_recv"), ("transmit", "bytes_sent")] {
        let v = point(&scrape, "system.network.io", &[("device", "lo"), ("direction", direction)]);
        let (b, a) = (f(&before["lo"][field]), f(&after["lo"][field]));
        assert!(v >= b + MIB as f64, "lo {direction}: {v} did not grow by 1 MiB from {b}");
        assert!(v <= a, "lo {direction}: {v} beyond the after-read {a}");
    }
    assert!(points(&scrape, "system.network.io")
        .iter()
        .all(|(_, p, _)| attr(&p.attributes, "device") == Some("lo".into())));

    // The weir process itself.
    let own: Vec<_> = points(&scrape, "process.memory.usage")
        .into_iter()
        .filter(|(res, _, _)| attr(res, "process.pid") == Some(serde_json::json!(pid)))
        .collect();
    assert_eq!(own.len(), 1, "weir's own process is scraped");
    let (res, p, _) = own[0];
    assert_eq!(attr(res, "process.executable.name"), Some("weir".into()));
    let rss = num(p);
    let status_rss = f(&after["status_rss"]);
    let slack = (8 * MIB) as f64 + status_rss * 0.25;
    assert!((rss - status_rss).abs() <= slack, "process.memory.usage {rss} vs VmRSS {status_rss}");

    // Gauges and the scraper's own metrics.
    assert!(point(&scrape, "system.cpu.load_average.1m", &[]) >= 0.0);
    let uptime = point(&scrape, "system.uptime", &[]);
    let expect_uptime = (weir_core::pdata::now_unix_nano() - boot_nanos) as f64 / 1e9;
    assert!((expect_uptime - uptime).abs() < 30.0, "uptime {uptime} vs {expect_uptime}");
    let metrics = weir.metrics();
    let scraped: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("otelcol_scraper_scraped_metric_points"))
        .filter(|l| l.contains("receiver=\"hostmetrics\"") && l.contains("scraper=\"cpu\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(scraped >= cpu_points.len() as f64, "otelcol_scraper_scraped_metric_points for cpu:\n{metrics}");
    assert!(metrics.contains("otelcol_scraper_errored_metric_points"), "{metrics}");
}
