//! Translation tests; expected values from the Collector's `metricfamily_test.go`,
//! `transaction_test.go`, `metrics_adjuster_test.go` and `prom_to_otlp_test.go`.

use super::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

fn md(pairs: &[(&str, MetricType)]) -> HashMap<String, Metadata> {
    pairs
        .iter()
        .map(|(n, t)| (n.to_string(), Metadata { metric_type: *t, help: format!("help {n}"), unit: String::new() }))
        .collect()
}

fn point(name: &str, labels: &[(&str, &str)], value: f64, ts: i64) -> Point {
    let mut l: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    l.insert("__name__".into(), name.into());
    l.insert("job".into(), "test".into());
    l.insert("instance".into(), "localhost:8080".into());
    Point { labels: l, value, timestamp_ms: ts }
}

fn target() -> TargetInfo {
    TargetInfo { job: "test".into(), instance: "localhost:8080".into(), scheme: "http".into(), ..Default::default() }
}

fn metrics(out: &[ResourceMetrics]) -> Vec<&Metric> {
    out.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).collect()
}

fn attr(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<String> {
    kvs.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    })
}

#[test]
fn histogram_buckets_become_explicit_bounds_and_counts() {
    // metricfamily_test.go "histogram with startTimestamp".
    let mut t = Translator::default();
    let m = md(&[("histogram", MetricType::Histogram)]);
    let ab = [("a", "A"), ("b", "B")];
    let pts = vec![
        point("histogram_count", &ab, 66.0, 11),
        point("histogram_sum", &ab, 1004.78, 11),
        point("histogram_bucket", &[("a", "A"), ("b", "B"), ("le", "0.75")], 33.0, 11),
        point("histogram_bucket", &[("a", "A"), ("b", "B"), ("le", "2.75")], 55.0, 11),
        point("histogram_bucket", &[("a", "A"), ("b", "B"), ("le", "+Inf")], 66.0, 11),
    ];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let ms = metrics(&out);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].name, "histogram");
    let Some(metric::Data::Histogram(h)) = &ms[0].data else { panic!("a histogram") };
    assert_eq!(h.aggregation_temporality, AggregationTemporality::Cumulative as i32);
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum), (66, Some(1004.78)));
    assert_eq!(p.explicit_bounds, [0.75, 2.75]);
    assert_eq!(p.bucket_counts, [33, 22, 11]);
    assert_eq!((p.time_unix_nano, p.start_time_unix_nano), (11_000_000, 11_000_000));
    assert_eq!(p.attributes.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn created_sample_sets_the_start_time() {
    // metricfamily_test.go "histogram with startTimestamp from _created".
    let mut t = Translator::default();
    let m = md(&[("histogram_with_created", MetricType::Histogram)]);
    let a = [("a", "A")];
    let pts = vec![
        point("histogram_with_created_count", &a, 66.0, 11),
        point("histogram_with_created_sum", &a, 1004.78, 11),
        point("histogram_with_created_created", &a, 600.78, 11),
        point("histogram_with_created_bucket", &[("a", "A"), ("le", "0.75")], 33.0, 11),
        point("histogram_with_created_bucket", &[("a", "A"), ("le", "2.75")], 55.0, 11),
        point("histogram_with_created_bucket", &[("a", "A"), ("le", "+Inf")], 66.0, 11),
    ];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let Some(metric::Data::Histogram(h)) = &metrics(&out)[0].data else { panic!("a histogram") };
    assert_eq!(h.data_points[0].start_time_unix_nano, timestamp_from_secs(600.78));
    assert_eq!(h.data_points[0].bucket_counts, [33, 22, 11]);
}

#[test]
fn stale_histogram_is_flagged_with_zero_counts() {
    // metricfamily_test.go "histogram that is stale".
    let mut t = Translator::default();
    let m = md(&[("histogram_stale", MetricType::Histogram)]);
    let pts = vec![
        point("histogram_stale_count", &[], stale_nan(), 11),
        point("histogram_stale_sum", &[], stale_nan(), 11),
        point("histogram_stale_bucket", &[("le", "0.75")], stale_nan(), 11),
        point("histogram_stale_bucket", &[("le", "2.75")], stale_nan(), 11),
        point("histogram_stale_bucket", &[("le", "+Inf")], stale_nan(), 11),
    ];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let Some(metric::Data::Histogram(h)) = &metrics(&out)[0].data else { panic!("a histogram") };
    let p = &h.data_points[0];
    assert_eq!(p.flags, NO_RECORDED_VALUE);
    assert_eq!(p.bucket_counts, [0, 0, 0]);
    assert_eq!((p.count, p.sum), (0, None));
}

#[test]
fn histogram_without_count_is_dropped() {
    // metricfamily_test.go "histogram with inconsistent timestamps" family: no _count, no point.
    let mut t = Translator::default();
    let m = md(&[("h", MetricType::Histogram)]);
    let pts = vec![point("h_sum", &[], 1.0, 11), point("h_bucket", &[("le", "1")], 1.0, 11)];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let Some(metric::Data::Histogram(h)) = &metrics(&out)[0].data else { panic!("a histogram") };
    assert!(h.data_points.is_empty());
}

#[test]
fn summary_quantiles_sorted_with_sum_and_count() {
    // metricfamily_test.go TestMetricGroupData_toSummaryUnitTest "summary".
    let mut t = Translator::default();
    let m = md(&[("summary", MetricType::Summary)]);
    let l = [("a", "A"), ("b", "B")];
    let pts = vec![
        point("summary_count", &l, 10.0, 14),
        point("summary_sum", &l, 15.0, 14),
        point("summary", &[("a", "A"), ("b", "B"), ("quantile", "0.0")], 8.0, 14),
        point("summary", &[("a", "A"), ("b", "B"), ("quantile", "0.75")], 33.7, 14),
        point("summary", &[("a", "A"), ("b", "B"), ("quantile", "0.50")], 27.0, 14),
        point("summary", &[("a", "A"), ("b", "B"), ("quantile", "0.90")], 56.0, 14),
        point("summary", &[("a", "A"), ("b", "B"), ("quantile", "0.99")], 82.0, 14),
    ];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let Some(metric::Data::Summary(s)) = &metrics(&out)[0].data else { panic!("a summary") };
    let p = &s.data_points[0];
    assert_eq!((p.count, p.sum), (10, 15.0));
    let q: Vec<(f64, f64)> = p.quantile_values.iter().map(|v| (v.quantile, v.value)).collect();
    assert_eq!(q, [(0.0, 8.0), (0.5, 27.0), (0.75, 33.7), (0.9, 56.0), (0.99, 82.0)]);
    assert_eq!(p.start_time_unix_nano, 14_000_000);
}

#[test]
fn counter_gauge_untyped_and_info_kinds() {
    // metricfamily_test.go TestMetricGroupData_toNumberDataUnitTest and convToMetricType.
    let mut t = Translator::default();
    let m = md(&[
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("info", MetricType::Info),
        ("gh", MetricType::GaugeHistogram),
    ]);
    let pts = vec![
        point("counter", &[], 33.7, 13),
        point("gauge", &[], 1.5, 13),
        point("untyped_metric", &[], 2.0, 13),
        point("info", &[("v", "1")], 1.0, 13),
        point("gh_bucket", &[("le", "+Inf")], 1.0, 13),
    ];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let ms = metrics(&out);
    let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["counter", "gauge", "untyped_metric", "info"], "gauge histograms are dropped");
    let Some(metric::Data::Sum(s)) = &ms[0].data else { panic!("a sum") };
    assert!(s.is_monotonic);
    assert_eq!(s.data_points[0].start_time_unix_nano, 13_000_000);
    assert_eq!(s.data_points[0].value, Some(number_data_point::Value::AsDouble(33.7)));
    let Some(metric::Data::Gauge(g)) = &ms[1].data else { panic!("a gauge") };
    assert_eq!(g.data_points[0].start_time_unix_nano, 0, "gauges have no start time");
    assert!(matches!(ms[2].data, Some(metric::Data::Gauge(_))), "untyped is a gauge");
    let Some(metric::Data::Sum(s)) = &ms[3].data else { panic!("info is a sum") };
    assert!(!s.is_monotonic);
    assert_eq!(attr(&ms[0].metadata, "prometheus.type").as_deref(), Some("counter"));
    assert_eq!(attr(&ms[2].metadata, "prometheus.type").as_deref(), Some("unknown"));
    assert_eq!(ms[1].description, "help gauge");
}

#[test]
fn resource_from_job_and_instance() {
    // prom_to_otlp_test.go TestCreateNodeAndResourcePromToOTLP.
    let a = resource_attributes("job", "hostname:8888", "http");
    let keys: Vec<(&str, &str)> = a.0.iter().map(|kv| (kv.key.as_str(), "")).collect();
    assert_eq!(keys.len(), 8);
    assert_eq!(a.get_str("service.name"), Some("job"));
    assert_eq!(a.get_str("server.address"), Some("hostname"));
    assert_eq!(a.get_str("net.host.name"), Some("hostname"));
    assert_eq!(a.get_str("service.instance.id"), Some("hostname:8888"));
    assert_eq!(a.get_str("server.port"), Some("8888"));
    assert_eq!(a.get_str("url.scheme"), Some("http"));
    // Loopback and unspecified hosts carry no server.address.
    for instance in ["localhost:8888", "127.0.0.1:8888", "[::1]:8888", "0.0.0.0:8888"] {
        assert_eq!(resource_attributes("job", instance, "https").get_str("server.address"), None, "{instance}");
    }
    let ipv6 = resource_attributes("job", "[2001:db8::1]:9100", "http");
    assert_eq!(ipv6.get_str("server.address"), Some("2001:db8::1"));
    assert_eq!(ipv6.get_str("server.port"), Some("9100"));
    // No port: the instance is the host.
    let bare = resource_attributes("job", "myhost", "http");
    assert_eq!((bare.get_str("server.address"), bare.get_str("server.port")), (Some("myhost"), Some("")));
}

#[test]
fn target_info_labels_become_resource_attributes() {
    let mut t = Translator::default();
    let pts = vec![point("target_info", &[("foo", "bar"), ("region", "eu")], 1.0, 1), point("g", &[], 1.0, 1)];
    let out = t.translate(&target(), &pts, &HashMap::new()).unwrap();
    let r = &out[0].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(r, "foo").as_deref(), Some("bar"));
    assert_eq!(attr(r, "region").as_deref(), Some("eu"));
    assert_eq!(metrics(&out).len(), 1, "target_info is not a metric");
}

#[test]
fn job_and_instance_labels_choose_the_resource() {
    // transaction_test.go: samples with other job/instance (honor_labels) go to their own resource.
    let mut t = Translator::default();
    let mut other = point("g", &[], 1.0, 1);
    other.labels.insert("job".into(), "federated".into());
    let pts = vec![point("g", &[], 1.0, 1), other];
    let out = t.translate(&target(), &pts, &HashMap::new()).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(attr(&out[1].resource.as_ref().unwrap().attributes, "service.name").as_deref(), Some("federated"));
}

#[test]
fn scope_from_otel_scope_labels() {
    let mut t = Translator::new(TranslateOptions { version: "1.2.3".into(), ..Default::default() });
    let pts =
        vec![point("g", &[], 1.0, 1), point("h", &[("otel_scope_name", "lib"), ("otel_scope_version", "2")], 1.0, 1)];
    let out = t.translate(&target(), &pts, &HashMap::new()).unwrap();
    let scopes: Vec<(String, String)> = out[0]
        .scope_metrics
        .iter()
        .map(|s| s.scope.as_ref().map(|s| (s.name.clone(), s.version.clone())).unwrap())
        .collect();
    assert_eq!(scopes, [(SCOPE_NAME.to_string(), "1.2.3".to_string()), ("lib".to_string(), "2".to_string())]);
}

#[test]
fn empty_label_values_and_target_labels_are_not_attributes() {
    let mut t = Translator::default();
    let mut p = point("g", &[("a", ""), ("b", "1")], 1.0, 1);
    p.labels.insert("__scheme__".into(), "http".into());
    let out = t.translate(&target(), &[p], &HashMap::new()).unwrap();
    let Some(metric::Data::Gauge(g)) = &metrics(&out)[0].data else { panic!("a gauge") };
    let keys: Vec<&str> = g.data_points[0].attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["b"]);
}

#[test]
fn counter_start_time_is_first_seen_until_a_reset() {
    // metrics_adjuster_test.go TestSum*: the initial point keeps its own time as start; later
    // points take it; a lower value restarts the series at that point.
    let mut t = Translator::default();
    let m = md(&[("c", MetricType::Counter)]);
    let start = |t: &mut Translator, v: f64, ts: i64| {
        let out = t.translate(&target(), &[point("c", &[], v, ts)], &m).unwrap();
        let Some(metric::Data::Sum(s)) = &metrics(&out)[0].data else { panic!("a sum") };
        s.data_points[0].start_time_unix_nano
    };
    assert_eq!(start(&mut t, 44.0, 1000), 1_000_000_000);
    assert_eq!(start(&mut t, 66.0, 2000), 1_000_000_000);
    assert_eq!(start(&mut t, 10.0, 3000), 3_000_000_000, "reset");
    assert_eq!(start(&mut t, 12.0, 4000), 3_000_000_000);
    // A stale point keeps the start time.
    let out = t.translate(&target(), &[point("c", &[], stale_nan(), 5000)], &m).unwrap();
    let Some(metric::Data::Sum(s)) = &metrics(&out)[0].data else { panic!("a sum") };
    assert_eq!((s.data_points[0].start_time_unix_nano, s.data_points[0].flags), (3_000_000_000, 1));
    assert_eq!(s.data_points[0].value, None);
}

#[test]
fn start_time_metric_sets_every_cumulative_start() {
    // starttimemetricadjuster_test.go.
    let mut t = Translator::new(TranslateOptions { start_time_metric: Some(None), ..Default::default() });
    let m = md(&[("c", MetricType::Counter), ("process_start_time_seconds", MetricType::Gauge)]);
    let pts = vec![point("process_start_time_seconds", &[], 1000.5, 5000), point("c", &[], 1.0, 5000)];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let Some(metric::Data::Sum(s)) = &metrics(&out)[1].data else { panic!("a sum") };
    assert_eq!(s.data_points[0].start_time_unix_nano, 1_000_500_000_000);
    // Without the start time metric the scrape is not translated.
    let err = t.translate(&target(), &[point("c", &[], 1.0, 6000)], &m).unwrap_err();
    assert_eq!(err.to_string(), "start_time metric is missing");
    // The regex picks another metric.
    let re = Regex::new("^(.+_)*process_start_time_seconds$").unwrap();
    let mut t = Translator::new(TranslateOptions { start_time_metric: Some(Some(re)), ..Default::default() });
    let pts = vec![point("app_process_start_time_seconds", &[], 7.0, 5000), point("c", &[], 1.0, 5000)];
    let out = t.translate(&target(), &pts, &md(&[("c", MetricType::Counter)])).unwrap();
    let Some(metric::Data::Sum(s)) = &metrics(&out)[1].data else { panic!("a sum") };
    assert_eq!(s.data_points[0].start_time_unix_nano, 7_000_000_000);
}

#[test]
fn trim_suffixes_and_units() {
    // normalize_name_test.go TestTrimPromSuffixes.
    for (want, name, is_sum, unit) in [
        (
            "active_directory_ds_replication_network_io",
            "active_directory_ds_replication_network_io_bytes_total",
            true,
            "bytes",
        ),
        (
            "active_directory_ds_name_cache_hit_rate",
            "active_directory_ds_name_cache_hit_rate_percent",
            false,
            "percent",
        ),
        ("apache_requests", "apache_requests_total", true, "1"),
        ("system_cpu_utilization", "system_cpu_utilization_ratio", false, "ratio"),
        (
            "mongodbatlas_process_network_io",
            "mongodbatlas_process_network_io_bytes_per_second",
            false,
            "bytes_per_second",
        ),
        ("up", "up", false, ""),
        (
            "active_directory_ds_replication_sync_object_pending",
            "active_directory_ds_replication_sync_object_pending_total",
            true,
            "{objects}",
        ),
        ("apache_current", "apache_current_connections", false, "connections"),
        ("nginx_connections_accepted", "nginx_connections_accepted", false, "connections"),
        ("nginx", "nginx_requests", false, "requests"),
        ("system_cpu_load_average_15m_ratio", "system_cpu_load_average_15m_ratio", false, "1"),
    ] {
        assert_eq!(trim_suffixes(name, is_sum, unit), want, "{name}");
    }
    // unit_to_ucum_test.go.
    assert_eq!(unit_to_ucum("seconds"), "s");
    assert_eq!(unit_to_ucum("bytes_per_second"), "By/s");
    assert_eq!(unit_to_ucum("foo_per_bar"), "foo/bar");
    assert_eq!(unit_to_ucum("ratio"), "1");
    assert_eq!(unit_to_ucum(""), "");
}

#[test]
fn internal_metrics_are_gauges_with_collector_help() {
    let mut t = Translator::default();
    let pts = vec![point("up", &[], 1.0, 1), point("scrape_duration_seconds", &[], 0.01, 1)];
    let out = t.translate(&target(), &pts, &HashMap::new()).unwrap();
    let ms = metrics(&out);
    assert_eq!(ms[0].description, "The scraping was successful");
    assert_eq!((ms[1].description.as_str(), ms[1].unit.as_str()), ("Duration of the scrape", "s"));
    assert!(matches!(ms[1].data, Some(metric::Data::Gauge(_))));
}

#[test]
fn openmetrics_counter_family_keeps_the_total_name() {
    // metadataForMetric: a counter found under its base name keeps the sample's name.
    let mut t = Translator::default();
    let m = md(&[("foo", MetricType::Counter)]);
    let out = t.translate(&target(), &[point("foo_total", &[], 17.0, 1)], &m).unwrap();
    let ms = metrics(&out);
    assert_eq!(ms[0].name, "foo_total");
    assert!(matches!(ms[0].data, Some(metric::Data::Sum(_))));
}

#[test]
fn openmetrics_created_sample_is_the_counter_start_time() {
    let mut t = Translator::default();
    let m = md(&[("foo", MetricType::Counter)]);
    let pts = vec![point("foo_total", &[("a", "b")], 17.0, 5000), point("foo_created", &[("a", "b")], 1000.5, 5000)];
    let out = t.translate(&target(), &pts, &m).unwrap();
    let ms = metrics(&out);
    assert_eq!(ms.len(), 1, "no metric of its own for foo_created");
    let Some(metric::Data::Sum(s)) = &ms[0].data else { panic!("a sum") };
    assert_eq!(s.data_points[0].start_time_unix_nano, 1_000_500_000_000);
    assert_eq!(s.data_points[0].value, Some(number_data_point::Value::AsDouble(17.0)));
}

#[test]
fn external_labels_are_set_on_every_sample() {
    // transaction.go Append: global.external_labels override the sample's labels.
    let mut t = Translator::default();
    let mut target = target();
    target.external_labels = [("region".to_string(), "eu".to_string()), ("a".to_string(), "ext".to_string())].into();
    let out = t.translate(&target, &[point("g", &[("a", "mine")], 1.0, 1)], &HashMap::new()).unwrap();
    let Some(metric::Data::Gauge(g)) = &metrics(&out)[0].data else { panic!("a gauge") };
    assert_eq!(attr(&g.data_points[0].attributes, "region").as_deref(), Some("eu"));
    assert_eq!(attr(&g.data_points[0].attributes, "a").as_deref(), Some("ext"));
}
