//! The receiver inside a running service: a local HTTP target (a mock, inside unit tests
//! only), the receiver, a collecting exporter.

use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric, ResourceMetrics};
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use weir_core::runtime::Service;
use weir_core::testing::{accept_all, CollectingSink};
use weir_core::{Payload, Registry};

#[derive(Default)]
struct Exposed {
    body: String,
    content_type: String,
    gzip: bool,
    accept: Vec<String>,
    authorization: Vec<String>,
}

async fn serve(exposed: Arc<Mutex<Exposed>>) -> String {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| {
            let exposed = exposed.clone();
            async move {
                let mut e = exposed.lock().unwrap();
                let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                e.accept.push(header("accept"));
                e.authorization.push(header("authorization"));
                let mut resp_headers = HeaderMap::new();
                resp_headers.insert("content-type", e.content_type.parse().unwrap());
                let body = if e.gzip && header("accept-encoding").contains("gzip") {
                    resp_headers.insert("content-encoding", "gzip".parse().unwrap());
                    use std::io::Write;
                    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    enc.write_all(e.body.as_bytes()).unwrap();
                    enc.finish().unwrap()
                } else {
                    e.body.clone().into_bytes()
                };
                (resp_headers, body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

async fn start(receiver_yaml: &str) -> (Service, UnboundedReceiver<Payload>) {
    weir_core::telemetry::prometheus();
    let yaml = format!(
        "receivers:\n  prometheus:\n{receiver_yaml}\nexporters:\n  test:\nservice:\n  pipelines:\n    metrics: {{receivers: [prometheus], exporters: [test]}}\n"
    );
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let (sink, rx) = CollectingSink::new("test", accept_all);
    registry.add_exporter(sink);
    let config = weir_core::config::load_str("test.yaml", &yaml, &registry, &|_| None)
        .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n{yaml}"));
    let service = Service::start(&config, &registry, Default::default()).await.expect("the service starts");
    (service, rx)
}

async fn next_scrape(rx: &mut UnboundedReceiver<Payload>) -> Vec<ResourceMetrics> {
    let p = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a scrape in time").unwrap();
    ExportMetricsServiceRequest::decode(p.bytes().clone()).unwrap().resource_metrics
}

fn find<'a>(rms: &'a [ResourceMetrics], name: &str) -> Option<&'a Metric> {
    rms.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).find(|m| m.name == name)
}

fn gauge_value(m: &Metric) -> f64 {
    match &m.data {
        Some(metric::Data::Gauge(g)) => match g.data_points[0].value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            _ => panic!("no value"),
        },
        _ => panic!("{} is not a gauge", m.name),
    }
}

const BODY: &str = "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{code=\"200\"} 10\nrequests_total{code=\"500\"} 2\n# TYPE temp gauge\ntemp 21.5\n";

#[tokio::test]
async fn scrapes_translates_and_marks_vanished_series_stale() {
    let exposed = Arc::new(Mutex::new(Exposed {
        body: BODY.into(),
        content_type: "text/plain; version=0.0.4".into(),
        gzip: true,
        ..Default::default()
    }));
    let addr = serve(exposed.clone()).await;
    let (service, mut rx) = start(&format!(
        "    config:\n      scrape_configs:\n        - job_name: app\n          scrape_interval: 200ms\n          authorization:\n            credentials: s3cret\n          static_configs:\n            - targets: ['{addr}']\n              labels: {{env: test}}\n          metric_relabel_configs:\n            - source_labels: [__name__]\n              regex: temp\n              target_label: sensor\n              replacement: room\n"
    ))
    .await;
    let first = next_scrape(&mut rx).await;
    let r = first[0].resource.as_ref().unwrap();
    let attr = |k: &str| {
        r.attributes.iter().find(|kv| kv.key == k).and_then(|kv| kv.value.clone()).and_then(|v| v.value).map(
            |v| match v {
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => s,
                other => format!("{other:?}"),
            },
        )
    };
    assert_eq!(attr("service.name").as_deref(), Some("app"));
    assert_eq!(attr("service.instance.id").as_deref(), Some(addr.as_str()));
    assert_eq!(attr("url.scheme").as_deref(), Some("http"));
    assert_eq!(attr("server.address"), None, "loopback is not discernible");
    let requests = find(&first, "requests_total").expect("the counter");
    let Some(metric::Data::Sum(sum)) = &requests.data else { panic!("a sum") };
    assert!(sum.is_monotonic);
    assert_eq!(sum.data_points.len(), 2);
    let keys: Vec<&str> = sum.data_points[0].attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["code", "env"]);
    let temp = find(&first, "temp").expect("the gauge");
    assert_eq!(gauge_value(temp), 21.5);
    let Some(metric::Data::Gauge(g)) = &temp.data else { unreachable!() };
    assert!(g.data_points[0].attributes.iter().any(|kv| kv.key == "sensor"), "metric_relabel_configs applied");
    assert_eq!(gauge_value(find(&first, "up").unwrap()), 1.0);
    assert_eq!(gauge_value(find(&first, "scrape_samples_scraped").unwrap()), 3.0);
    assert_eq!(gauge_value(find(&first, "scrape_series_added").unwrap()), 3.0);
    {
        let e = exposed.lock().unwrap();
        assert!(e.accept[0].starts_with("application/openmetrics-text;version=1.0.0"), "{}", e.accept[0]);
        assert_eq!(e.authorization[0], "Bearer s3cret");
    }

    // The next scrape: the 500 series is gone and gets a staleness marker.
    exposed.lock().unwrap().body = BODY.replace("requests_total{code=\"500\"} 2\n", "");
    let stale = loop {
        let s = next_scrape(&mut rx).await;
        let Some(metric::Data::Sum(sum)) = &find(&s, "requests_total").unwrap().data else { panic!("a sum") };
        if sum.data_points.iter().any(|p| p.flags == 1) {
            break sum.clone();
        }
    };
    let marker = stale.data_points.iter().find(|p| p.flags == 1).unwrap();
    assert!(marker.value.is_none());
    assert!(marker.attributes.iter().any(|kv| kv.key == "code"));
    let live = stale.data_points.iter().find(|p| p.flags == 0).unwrap();
    assert!(live.start_time_unix_nano < live.time_unix_nano, "the start time is the first scrape's");

    // A target that fails: up 0.
    exposed.lock().unwrap().body = "not a metric line at all\n".into();
    let failed = loop {
        let s = next_scrape(&mut rx).await;
        if gauge_value(find(&s, "up").unwrap()) == 0.0 {
            break s;
        }
    };
    assert_eq!(gauge_value(find(&failed, "scrape_samples_post_metric_relabeling").unwrap()), 0.0);
    service.shutdown().await;
}

#[tokio::test]
async fn openmetrics_body_by_content_type() {
    let exposed = Arc::new(Mutex::new(Exposed {
        body: "# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\nfoo_seconds_total 3.0\nfoo_seconds_created 1000.5\n# EOF\n".into(),
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
        ..Default::default()
    }));
    let addr = serve(exposed.clone()).await;
    let (service, mut rx) = start(&format!(
        "    trim_metric_suffixes: true\n    config:\n      scrape_configs:\n        - job_name: om\n          scrape_interval: 1s\n          static_configs:\n            - targets: ['{addr}']\n"
    ))
    .await;
    let s = next_scrape(&mut rx).await;
    let foo = find(&s, "foo").expect("foo_seconds_total trimmed to foo");
    let Some(metric::Data::Sum(sum)) = &foo.data else { panic!("a sum") };
    assert_eq!(sum.data_points[0].start_time_unix_nano, 1_000_500_000_000, "from foo_seconds_created");
    assert_eq!(foo.unit, "s");
    service.shutdown().await;
}

#[tokio::test]
async fn series_with_exposed_timestamps_get_no_staleness_marker() {
    // Prometheus: a series exposed with its own timestamp is not marked stale when it goes
    // (unless track_timestamps_staleness); one without is.
    let exposed = Arc::new(Mutex::new(Exposed {
        body: "# TYPE a gauge\na 1 1000\n# TYPE b gauge\nb 2\n".into(),
        content_type: "text/plain; version=0.0.4".into(),
        ..Default::default()
    }));
    let addr = serve(exposed.clone()).await;
    let (service, mut rx) = start(&format!(
        "    config:\n      scrape_configs:\n        - job_name: ts\n          scrape_interval: 200ms\n          static_configs:\n            - targets: ['{addr}']\n"
    ))
    .await;
    let first = next_scrape(&mut rx).await;
    let Some(metric::Data::Gauge(a)) = &find(&first, "a").unwrap().data else { panic!("a gauge") };
    assert_eq!(a.data_points[0].time_unix_nano, 1_000_000_000, "the exposed timestamp is honored");
    exposed.lock().unwrap().body = "# TYPE c gauge\nc 3\n".into();
    let after = loop {
        let s = next_scrape(&mut rx).await;
        if find(&s, "c").is_some() {
            break s;
        }
    };
    assert!(find(&after, "a").is_none(), "no staleness marker for a");
    let Some(metric::Data::Gauge(b)) = &find(&after, "b").expect("b's staleness marker").data else { panic!() };
    assert_eq!(b.data_points[0].flags, 1);
    service.shutdown().await;
}

#[tokio::test]
async fn file_sd_targets_come_and_go_with_staleness_markers() {
    let exposed = Arc::new(Mutex::new(Exposed {
        body: "# TYPE g gauge\ng 5\n".into(),
        content_type: "text/plain; version=0.0.4".into(),
        ..Default::default()
    }));
    let addr = serve(exposed.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(&file, format!(r#"[{{"targets": ["{addr}"], "labels": {{"team": "a"}}}}]"#)).unwrap();
    let (service, mut rx) = start(&format!(
        "    config:\n      scrape_configs:\n        - job_name: files\n          scrape_interval: 200ms\n          file_sd_configs:\n            - files: ['{}']\n",
        dir.path().join("*.json").display()
    ))
    .await;
    let first = next_scrape(&mut rx).await;
    let Some(metric::Data::Gauge(g)) = &find(&first, "g").expect("the target is scraped").data else { panic!() };
    assert!(g.data_points[0].attributes.iter().any(|kv| kv.key == "team"), "the group's labels");
    // The target leaves the file: its series and report series get staleness markers.
    std::fs::write(&file, "[]").unwrap();
    let gone = loop {
        let s = next_scrape(&mut rx).await;
        let up = find(&s, "up").unwrap();
        let Some(metric::Data::Gauge(u)) = &up.data else { panic!() };
        if u.data_points[0].flags == 1 {
            break s;
        }
    };
    let Some(metric::Data::Gauge(g)) = &find(&gone, "g").expect("g's marker").data else { panic!() };
    assert_eq!(g.data_points[0].flags, 1);
    service.shutdown().await;
}
