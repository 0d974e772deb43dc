//! The `prometheus` receiver against real Prometheus software: a Debian
//! `prometheus-node-exporter` (its textfile collector exposes a fixed counter, histogram and
//! summary beside its own metrics) is scraped by weir and by a real Prometheus server with the
//! same scrape configuration. The series weir exports (file exporter, OTLP JSON) turned back
//! into Prometheus series must be the series Prometheus's HTTP API lists, with the same values
//! for the metrics that do not change between scrapes (boot time, `node_uname_info`, the
//! textfile metrics, histogram buckets). weir also scrapes its own `/metrics`.
//!
//! Expected values come from Prometheus itself (its API), not from weir.

mod common;

use common::*;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as N, ResourceMetrics};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TEXTFILE: &str = "# HELP e2e_jobs_total Jobs processed.
# TYPE e2e_jobs_total counter
e2e_jobs_total{queue=\"a\"} 42
e2e_jobs_total{queue=\"b\"} 7
# HELP e2e_request_duration_seconds Request durations.
# TYPE e2e_request_duration_seconds histogram
e2e_request_duration_seconds_bucket{route=\"/x\",le=\"0.1\"} 3
e2e_request_duration_seconds_bucket{route=\"/x\",le=\"0.5\"} 5
e2e_request_duration_seconds_bucket{route=\"/x\",le=\"2.5\"} 9
e2e_request_duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 10
e2e_request_duration_seconds_sum{route=\"/x\"} 7.25
e2e_request_duration_seconds_count{route=\"/x\"} 10
# HELP e2e_latency_seconds Latency quantiles.
# TYPE e2e_latency_seconds summary
e2e_latency_seconds{quantile=\"0.5\"} 0.2
e2e_latency_seconds{quantile=\"0.99\"} 1.5
e2e_latency_seconds_sum 30
e2e_latency_seconds_count 100
";

/// GET over HTTP/1.0 (no chunked encoding): the body.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.split_whitespace().nth(1).filter(|c| *c == "200")?;
    Some(body.to_string())
}

fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A series as Prometheus names it: `name{k="v",…}` with sorted labels; `le` and `quantile`
/// normalized through f64 so `1` and `1.0` compare equal.
fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| {
            let v = if k == "le" || k == "quantile" {
                match v.as_str() {
                    "+Inf" => "+Inf".to_string(),
                    _ => v.parse::<f64>().map(|f| format!("{f}")).unwrap_or(v.clone()),
                }
            } else {
                v.clone()
            };
            format!("{k}={v:?}")
        })
        .collect();
    format!("{name}{{{}}}", parts.join(","))
}

/// weir's scrapes of `job`, each turned back into Prometheus series → value (stale points
/// left out), in the order weir exported them.
fn weir_scrapes(out: &FileOutput, job: &str) -> Vec<BTreeMap<String, f64>> {
    let mut scrapes = Vec::new();
    for req in &out.metrics {
        for rm in &req.resource_metrics {
            if let Some(s) = prometheus_series(rm, job) {
                scrapes.push(s);
            }
        }
    }
    scrapes
}

fn prometheus_series(rm: &ResourceMetrics, job: &str) -> Option<BTreeMap<String, f64>> {
    let res = attrs_json(&rm.resource.as_ref()?.attributes);
    if res.get("service.name")?.as_str()? != job {
        return None;
    }
    let instance = res.get("service.instance.id")?.as_str()?.to_string();
    let mut out = BTreeMap::new();
    for sm in &rm.scope_metrics {
        for m in &sm.metrics {
            let labels = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
                let mut l: BTreeMap<String, String> = attrs_json(attrs)
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                    .collect();
                l.insert("job".into(), job.into());
                l.insert("instance".into(), instance.clone());
                l
            };
            let num = |v: &Option<N>| match v {
                Some(N::AsDouble(d)) => *d,
                Some(N::AsInt(i)) => *i as f64,
                None => f64::NAN,
            };
            match &m.data {
                Some(Data::Gauge(g)) => {
                    for p in g.data_points.iter().filter(|p| p.flags & 1 == 0) {
                        out.insert(series_key(&m.name, &labels(&p.attributes)), num(&p.value));
                    }
                }
                Some(Data::Sum(s)) => {
                    for p in s.data_points.iter().filter(|p| p.flags & 1 == 0) {
                        out.insert(series_key(&m.name, &labels(&p.attributes)), num(&p.value));
                    }
                }
                Some(Data::Histogram(h)) => {
                    for p in h.data_points.iter().filter(|p| p.flags & 1 == 0) {
                        let l = labels(&p.attributes);
                        let mut cumulative = 0u64;
                        for (i, c) in p.bucket_counts.iter().enumerate() {
                            cumulative += c;
                            let mut bl = l.clone();
                            let le = p.explicit_bounds.get(i).map(|b| format!("{b}")).unwrap_or("+Inf".into());
                            bl.insert("le".into(), le);
                            out.insert(series_key(&format!("{}_bucket", m.name), &bl), cumulative as f64);
                        }
                        out.insert(series_key(&format!("{}_count", m.name), &l), p.count as f64);
                        out.insert(series_key(&format!("{}_sum", m.name), &l), p.sum.unwrap_or(f64::NAN));
                    }
                }
                Some(Data::Summary(s)) => {
                    for p in s.data_points.iter().filter(|p| p.flags & 1 == 0) {
                        let l = labels(&p.attributes);
                        for q in &p.quantile_values {
                            let mut ql = l.clone();
                            ql.insert("quantile".into(), format!("{}", q.quantile));
                            out.insert(series_key(&m.name, &ql), q.value);
                        }
                        out.insert(series_key(&format!("{}_count", m.name), &l), p.count as f64);
                        out.insert(series_key(&format!("{}_sum", m.name), &l), p.sum);
                    }
                }
                _ => {}
            }
        }
    }
    Some(out)
}

fn json_labels(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()
}

/// Prometheus's series of `job` (every series it stored).
fn prometheus_series_names(port: u16, job: &str) -> BTreeSet<String> {
    let body = get(port, &format!("/api/v1/series?match[]={}", encode(&format!("{{job=\"{job}\"}}")))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let l = json_labels(s);
            series_key(&l["__name__"], &l)
        })
        .collect()
}

/// Prometheus's current values of `query`.
fn prometheus_values(port: u16, query: &str) -> BTreeMap<String, f64> {
    let body = get(port, &format!("/api/v1/query?query={}", encode(query))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let l = json_labels(&r["metric"]);
            let value: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            (series_key(&l["__name__"], &l), value)
        })
        .collect()
}

#[test]
fn weir_and_prometheus_scrape_node_exporter_alike() {
    let dir = tempfile::tempdir().unwrap();
    let textfiles = dir.path().join("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    std::fs::write(textfiles.join("e2e.prom"), TEXTFILE).unwrap();
    let node_port = free_port();
    // The collectors whose output is stable between scrapes, and the textfile collector.
    let _node = Proc(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .args(["--collector.disable-defaults", "--collector.uname", "--collector.stat", "--collector.meminfo"])
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", textfiles.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter is installed (scripts/test installs it)"),
    );
    assert!(eventually(Duration::from_secs(10), || get(node_port, "/metrics").is_some()), "node exporter is up");

    let jobs = |weir_metrics: &str| {
        format!(
            "scrape_configs:\n  - job_name: node\n    scrape_interval: 1s\n    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]\n  - job_name: weir\n    scrape_interval: 1s\n    static_configs: [{{targets: ['127.0.0.1:{weir_metrics}']}}]\n"
        )
    };
    // weir: its own metrics port is known only once it is started, so the weir job is written
    // with the {metrics} placeholder the helper fills.
    let indented: String = jobs("{metrics}").lines().map(|l| format!("      {l}\n")).collect();
    let weir = Weir::start(
        "prometheus",
        &format!(
            "receivers:\n  prometheus:\n    config:\n{indented}exporters:\n  file: {{ path: \"{{dir}}/out.jsonl\", flush_interval: 100ms }}\nextensions:\n  health_check: {{ endpoint: \"127.0.0.1:{{health}}\" }}\nservice:\n  extensions: [health_check]\n  telemetry: {{ metrics: {{ address: \"127.0.0.1:{{metrics}}\" }} }}\n  pipelines:\n    metrics: {{ receivers: [prometheus], exporters: [file] }}\n"
        ),
    );

    let prom_port = free_port();
    std::fs::write(dir.path().join("prometheus.yml"), jobs(&weir.metrics_port.to_string())).unwrap();
    let _prometheus = Proc(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/test installs it)"),
    );
    assert!(eventually(Duration::from_secs(20), || get(prom_port, "/-/ready").is_some()), "prometheus is ready");
    // Both have scraped a few times.
    assert!(
        eventually(Duration::from_secs(20), || {
            prometheus_values(prom_port, "up").len() == 2
                && weir_scrapes(&read_file_output(&weir.path("out.jsonl")), "node").len() >= 3
        }),
        "both scrape both targets:\n{}",
        weir.log()
    );
    std::thread::sleep(Duration::from_secs(2));

    let out = read_file_output(&weir.path("out.jsonl"));
    let node_scrapes = weir_scrapes(&out, "node");
    let weir_union: BTreeSet<String> = node_scrapes.iter().flat_map(|s| s.keys().cloned()).collect();
    let prom_union = prometheus_series_names(prom_port, "node");
    let only_weir: Vec<_> = weir_union.difference(&prom_union).collect();
    let only_prom: Vec<_> = prom_union.difference(&weir_union).collect();
    assert!(
        only_weir.is_empty() && only_prom.is_empty(),
        "series differ: only in weir {only_weir:#?}\nonly in Prometheus {only_prom:#?}"
    );
    assert!(weir_union.len() > 50, "node exporter's series: {}", weir_union.len());

    // Values of the series that do not change between scrapes.
    let last = node_scrapes.last().unwrap();
    let stable = prometheus_values(
        prom_port,
        "{job=\"node\",__name__=~\"e2e_.*|node_boot_time_seconds|node_uname_info|node_memory_MemTotal_bytes|scrape_samples_scraped|up\"}",
    );
    assert_eq!(
        stable.len(),
        17,
        "2 counters, 4 summary and 6 histogram series, 3 node metrics, 2 report series: {stable:#?}"
    );
    for (series, value) in &stable {
        assert_eq!(last.get(series), Some(value), "{series}");
    }
    // The histogram's buckets, from Prometheus.
    let buckets = prometheus_values(prom_port, "e2e_request_duration_seconds_bucket");
    assert_eq!(buckets.len(), 4);
    for (series, value) in &buckets {
        assert_eq!(last.get(series), Some(value), "{series}");
    }

    // weir's own /metrics, scraped by weir and by Prometheus.
    let own = weir_scrapes(&out, "weir");
    assert!(!own.is_empty(), "weir scraped itself");
    let own_last = own.last().unwrap();
    let up_key = series_key(
        "up",
        &BTreeMap::from([
            ("job".to_string(), "weir".to_string()),
            ("instance".to_string(), format!("127.0.0.1:{}", weir.metrics_port)),
        ]),
    );
    assert_eq!(own_last.get(&up_key), Some(&1.0));
    let prom_own = prometheus_series_names(prom_port, "weir");
    let missing: Vec<_> = own_last.keys().filter(|k| !prom_own.contains(*k)).collect();
    // A series weir saw that Prometheus never stored can only be one that changed between the
    // two scrapes (a new label value); names must all be known to Prometheus.
    let name_of = |k: &String| k.split('{').next().unwrap().to_string();
    let prom_names: BTreeSet<String> = prom_own.iter().map(name_of).collect();
    let unknown: Vec<_> = missing.iter().map(|k| name_of(k)).filter(|n| !prom_names.contains(n)).collect();
    assert!(unknown.is_empty(), "metric names of weir's /metrics Prometheus does not have: {unknown:?}");
    assert!(own_last.keys().any(|k| k.starts_with("otelcol_receiver_accepted_metric_points")), "{own_last:#?}");
    assert!(own_last.keys().any(|k| k.starts_with("weir_receiver_prometheus_scrapes")), "{own_last:#?}");
}
