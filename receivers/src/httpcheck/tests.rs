//! Config rules from the Collector's `config_test.go`, and the metrics of one round built from
//! known results.

use super::*;
use weir_core::testing::parse_config;

#[test]
fn config_rules_as_upstream() {
    let err = |yaml: &str| parse_config::<HttpcheckConfig>(yaml).expect_err("invalid");
    assert!(err("{}").contains("no targets configured"));
    assert!(err("targets: [{ method: GET }]").contains("at least one of 'endpoint' or 'endpoints' must be specified"));
    assert!(err("targets: [{ endpoint: 'localhost:8080' }]")
        .contains("must be in the form of <scheme>://<hostname>[:<port>]"));
    assert!(err("targets: [{ endpoints: ['http://a:1', ':bad'] }]").contains("\":bad\""));
    assert!(err("targets: [{ endpoint: 'http://a:1', color: red }]").contains("color"));
    assert!(err("targets: [{ endpoint: 'http://a:1' }]\nmetrics: { httpcheck.nope: { enabled: true } }")
        .contains("httpcheck.nope"));
    let c = parse_config::<HttpcheckConfig>(
        "collection_interval: 30s\ntargets:\n  - endpoints: ['https://opentelemetry.io', 'http://localhost:8080/a']\n    headers: { Authorization: 'Bearer x' }\n  - endpoint: 'http://localhost:8080/b'\n    method: post\n",
    )
    .expect("valid");
    assert_eq!(c.collection_interval, Duration::from_secs(30));
    assert_eq!(c.initial_delay, Duration::from_secs(1));
    assert_eq!(c.targets[0].method, "GET");
    let all: Vec<&str> = c.targets.iter().flat_map(|t| t.all_endpoints()).collect();
    assert_eq!(all, ["https://opentelemetry.io", "http://localhost:8080/a", "http://localhost:8080/b"]);
}

#[tokio::test]
async fn one_round_gives_five_status_points_per_endpoint_and_an_error_point_per_failure() {
    let c = parse_config::<HttpcheckConfig>(
        "targets:\n  - endpoints: ['http://127.0.0.1:1/ok', 'http://127.0.0.1:1/missing', 'http://127.0.0.1:1/down']\n",
    )
    .unwrap();
    let checks: Vec<Check> = c.targets[0].all_endpoints().map(|e| Check::new(&c.targets[0], e).unwrap()).collect();
    let results = vec![
        (&checks[0], Ok(200), Duration::from_millis(12)),
        (&checks[1], Ok(404), Duration::from_millis(3)),
        (&checks[2], Err("Get \"http://127.0.0.1:1/down\": connection refused".to_string()), Duration::from_millis(1)),
    ];
    let payload = request(&c, &results, 5, 10).expect("metrics");
    let req = ExportMetricsServiceRequest::decode(payload.bytes().clone()).unwrap();
    let scope = &req.resource_metrics[0].scope_metrics[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, SCOPE);
    let by_name = |n: &str| scope.metrics.iter().find(|m| m.name == n).unwrap_or_else(|| panic!("{n}"));
    let Some(metric::Data::Gauge(g)) = &by_name("httpcheck.duration").data else { panic!() };
    assert_eq!(
        g.data_points.iter().map(|p| p.value).collect::<Vec<_>>(),
        [12, 3, 1].map(|v| Some(number_data_point::Value::AsInt(v)))
    );
    let Some(metric::Data::Sum(s)) = &by_name("httpcheck.status").data else { panic!() };
    assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, false));
    assert_eq!(s.data_points.len(), 15);
    let ones: Vec<(String, String)> = s
        .data_points
        .iter()
        .filter(|p| p.value == Some(number_data_point::Value::AsInt(1)))
        .map(|p| {
            let get = |k: &str| {
                format!(
                    "{:?}",
                    p.attributes.iter().find(|a| a.key == k).unwrap().value.as_ref().unwrap().value.as_ref().unwrap()
                )
            };
            (get("http.url"), get("http.status_class"))
        })
        .collect();
    assert_eq!(
        ones,
        [
            ("StringValue(\"http://127.0.0.1:1/ok\")".into(), "StringValue(\"2xx\")".into()),
            ("StringValue(\"http://127.0.0.1:1/missing\")".into(), "StringValue(\"4xx\")".into()),
        ],
        "the failed check has all five at 0"
    );
    assert!(s.data_points.iter().all(|p| p.start_time_unix_nano == 5 && p.time_unix_nano == 10));
    let Some(metric::Data::Sum(e)) = &by_name("httpcheck.error").data else { panic!() };
    assert_eq!(e.data_points.len(), 1);
    assert!(format!("{:?}", e.data_points[0].attributes).contains("connection refused"));

    // Turned off metrics are left out.
    let off = parse_config::<HttpcheckConfig>(
        "targets: [{ endpoint: 'http://127.0.0.1:1/' }]\nmetrics: { httpcheck.status: { enabled: false }, httpcheck.error: { enabled: false } }",
    )
    .unwrap();
    let payload = request(&off, &results, 5, 10).unwrap();
    let req = ExportMetricsServiceRequest::decode(payload.bytes().clone()).unwrap();
    let names: Vec<&str> = req.resource_metrics[0].scope_metrics[0].metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["httpcheck.duration"]);
}
