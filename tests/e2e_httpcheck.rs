//! End to end with `httpcheck`: weir checks a real HTTP server (Python's `http.server`) — a
//! file it serves, a path it does not, and a port nobody listens on — and writes the metrics
//! with the `file` exporter. Expected: the Collector's metrics (`httpcheck.status` 1 for the
//! answer's class and 0 for the other four, `httpcheck.duration`, `httpcheck.error` for the
//! refused connection), read from its `metadata.yaml` and scraper.

mod common;

use common::*;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn attr(p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint, key: &str) -> serde_json::Value {
    value_json(&p.attributes.iter().find(|a| a.key == key).unwrap_or_else(|| panic!("{key}")).value)
}

fn int(p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint) -> i64 {
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => v,
        ref other => panic!("not an int: {other:?}"),
    }
}

#[test]
fn checks_a_real_http_server_a_missing_path_and_a_closed_port() {
    let site = tempfile::tempdir().expect("temp dir");
    std::fs::write(site.path().join("ok.txt"), "fine\n").expect("write");
    let port = free_port();
    let _server = Server(
        Command::new(python())
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(site.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python http.server"),
    );
    assert!(eventually(Duration::from_secs(10), || http_get(&format!("127.0.0.1:{port}"), "/ok.txt").is_some()));
    let closed = free_port();
    let (ok, missing, down) = (
        format!("http://127.0.0.1:{port}/ok.txt"),
        format!("http://127.0.0.1:{port}/missing"),
        format!("http://127.0.0.1:{closed}/"),
    );
    let mut weir = Weir::start(
        "httpcheck",
        &format!(
            r#"
receivers:
  httpcheck:
    collection_interval: 200ms
    initial_delay: 0s
    targets:
      - endpoints: ["{ok}", "{missing}"]
        headers: {{ X-Check: weir }}
      - endpoint: "{down}"
        method: HEAD
        timeout: 2s
exporters:
  file: {{ path: "{{dir}}/out.jsonl", flush_interval: 100ms }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    metrics: {{ receivers: [httpcheck], exporters: [file] }}
"#
        ),
    );
    let path = weir.path("out.jsonl");
    assert!(eventually(Duration::from_secs(20), || read_file_output(&path).metrics.len() >= 2), "{}", weir.log());
    let out = read_file_output(&path);
    let first = &out.metrics[0].resource_metrics[0].scope_metrics[0];
    let by_name: BTreeMap<&str, &opentelemetry_proto::tonic::metrics::v1::Metric> =
        first.metrics.iter().map(|m| (m.name.as_str(), m)).collect();

    // Status: per URL, the class that answered is 1, the other four 0; the closed port all 0.
    let Some(metric::Data::Sum(status)) = &by_name["httpcheck.status"].data else { panic!("a sum") };
    assert_eq!(status.data_points.len(), 15, "five classes for each of three endpoints");
    let mut ones: BTreeMap<String, (String, i64, String)> = BTreeMap::new();
    for p in &status.data_points {
        let url = attr(p, "http.url").as_str().unwrap().to_string();
        if int(p) == 1 {
            let class = attr(p, "http.status_class").as_str().unwrap().to_string();
            let method = attr(p, "http.method").as_str().unwrap().to_string();
            ones.insert(url, (class, attr(p, "http.status_code").as_i64().unwrap(), method));
        } else if url == down {
            assert_eq!(attr(p, "http.status_code"), 0, "no answer, status code 0");
        }
    }
    assert_eq!(
        ones,
        BTreeMap::from([
            (ok.clone(), ("2xx".to_string(), 200, "GET".to_string())),
            (missing.clone(), ("4xx".to_string(), 404, "GET".to_string())),
        ])
    );
    // Duration for every endpoint, an error only for the closed port.
    let Some(metric::Data::Gauge(duration)) = &by_name["httpcheck.duration"].data else { panic!("a gauge") };
    let mut urls: Vec<String> =
        duration.data_points.iter().map(|p| attr(p, "http.url").as_str().unwrap().into()).collect();
    urls.sort();
    let mut want = vec![ok.clone(), missing.clone(), down.clone()];
    want.sort();
    assert_eq!(urls, want);
    let Some(metric::Data::Sum(errors)) = &by_name["httpcheck.error"].data else { panic!("a sum") };
    assert_eq!(errors.data_points.len(), 1);
    assert_eq!(attr(&errors.data_points[0], "http.url"), down.as_str());
    let message = attr(&errors.data_points[0], "error.message").as_str().unwrap().to_string();
    assert!(
        message.starts_with(&format!("Head \"{down}\"")) && message.to_lowercase().contains("refused"),
        "{message}"
    );

    let metrics = weir.metrics();
    assert!(
        metrics.lines().any(|l| l.starts_with("otelcol_scraper_scraped_metric_points") && l.contains("httpcheck")),
        "{metrics}"
    );
    assert!(weir.terminate(Duration::from_secs(30)).success(), "{}", weir.log());
}
