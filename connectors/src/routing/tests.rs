use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Gauge, Metric, NumberDataPoint};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use weir_core::testing::{
    accept_all, parse_config, span_names, string_attribute, ChannelSource, CollectingSink, Verdict,
};
use weir_core::{Consumer, Registry};

fn resource(tenant: &str) -> Option<Resource> {
    Some(Resource { attributes: vec![string_attribute("tenant", tenant)], ..Default::default() })
}

/// A traces request: one resource per `(tenant, spans)`, each span named and with attribute
/// `env` = its name's first letter (`p…` prod, else dev).
fn traces(groups: &[(&str, &[&str])]) -> Payload {
    let resource_spans = groups
        .iter()
        .map(|(tenant, names)| ResourceSpans {
            resource: resource(tenant),
            scope_spans: vec![ScopeSpans {
                spans: names
                    .iter()
                    .map(|n| Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: n.to_string(),
                        attributes: vec![string_attribute("env", if n.starts_with('p') { "prod" } else { "dev" })],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    let r = ExportTraceServiceRequest { resource_spans };
    Payload::new(Signal::Traces, r.encode_to_vec().into()).unwrap()
}

fn logs(severities: &[i32]) -> Payload {
    let log_records = severities.iter().map(|s| LogRecord { severity_number: *s, ..Default::default() }).collect();
    let r = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("acme"),
            scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Logs, r.encode_to_vec().into()).unwrap()
}

/// A gauge `g` with one point per `(region, value)`.
fn gauge(points: &[(&str, i64)]) -> Payload {
    let data_points = points
        .iter()
        .map(|(region, v)| NumberDataPoint {
            attributes: vec![string_attribute("region", region)],
            value: Some(number_data_point::Value::AsInt(*v)),
            ..Default::default()
        })
        .collect();
    let r = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("acme"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "g".into(),
                    unit: "1".into(),
                    data: Some(metric::Data::Gauge(Gauge { data_points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Metrics, r.encode_to_vec().into()).unwrap()
}

fn fail_all(_: &Payload) -> Result<(), Failure> {
    Err(Failure::permanent("the backend refused it"))
}

struct Running {
    service: weir_core::runtime::Service,
    consumer: Consumer,
    sinks: Vec<UnboundedReceiver<Payload>>,
}

impl Running {
    async fn send(&self, payload: Payload, metadata: Option<ClientMetadata>) -> Result<(), Failure> {
        self.consumer.consume_with_metadata(payload, metadata.map(Arc::new), "test", true).await
    }

    /// What sink `i` got, without waiting (sends completed with `wait_for_result`).
    fn got(&mut self, i: usize) -> Vec<Payload> {
        let mut out = Vec::new();
        while let Ok(p) = self.sinks[i].try_recv() {
            out.push(p);
        }
        out
    }

    async fn stop(self) {
        drop(self.consumer);
        self.service.shutdown().await;
    }
}

const SINKS: [&str; 3] = ["sink_a", "sink_b", "sink_c"];

/// `signal/in` → `routing` (its config `routing`) → `signal/a`, `signal/b`, `signal/c`, each
/// with its own sink; sink b answers `verdict_b`.
async fn start(signal: &str, routing: &str, verdict_b: Verdict) -> Running {
    try_start(signal, routing, verdict_b).await.expect("starts")
}

async fn try_start(signal: &str, routing: &str, verdict_b: Verdict) -> Result<Running, String> {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let (source, mut consumers) = ChannelSource::new("test");
    registry.add_receiver(source);
    let mut sinks = Vec::new();
    for name in SINKS {
        let (s, rx) = CollectingSink::new(name, if name == "sink_b" { verdict_b } else { accept_all });
        registry.add_exporter(s);
        sinks.push(rx);
    }
    let yaml = format!(
        "receivers: {{test: }}\nexporters: {{sink_a: , sink_b: , sink_c: }}\nconnectors:\n  routing:\n{}\n\
         service:\n  pipelines:\n    {signal}/in: {{receivers: [test], exporters: [routing]}}\n\
         \x20   {signal}/a: {{receivers: [routing], exporters: [sink_a]}}\n\
         \x20   {signal}/b: {{receivers: [routing], exporters: [sink_b]}}\n\
         \x20   {signal}/c: {{receivers: [routing], exporters: [sink_c]}}\n",
        routing.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
    );
    let config = weir_core::config::load_str("routing.yaml", &yaml, &registry, &|_| None).map_err(|e| e.to_string())?;
    let service =
        weir_core::runtime::Service::start(&config, &registry, Default::default()).await.map_err(|e| e.to_string())?;
    let c = consumers.recv().await.expect("started");
    let consumer = match signal {
        "traces" => c.traces,
        "metrics" => c.metrics,
        _ => c.logs,
    }
    .expect("routed");
    Ok(Running { service, consumer, sinks })
}

fn names(parts: &[Payload]) -> Vec<Vec<String>> {
    parts.iter().map(span_names).collect()
}

const BY_TENANT: &str = "default_pipelines: [traces/c]\ntable:\n\
  \x20 - condition: attributes[\"tenant\"] == \"acme\"\n    pipelines: [traces/a]\n\
  \x20 - statement: route() where attributes[\"tenant\"] == \"globex\"\n    pipelines: [traces/b]\n";

#[tokio::test]
async fn resources_go_to_the_first_route_that_matches_and_the_rest_to_the_default() {
    let mut r = start("traces", BY_TENANT, accept_all).await;
    r.send(traces(&[("acme", &["a1", "a2"]), ("globex", &["g1"]), ("initech", &["i1"]), ("acme", &["a3"])]), None)
        .await
        .expect("delivered");
    assert_eq!(names(&r.got(0)), [vec!["a1", "a2", "a3"]]);
    assert_eq!(names(&r.got(1)), [vec!["g1"]]);
    assert_eq!(names(&r.got(2)), [vec!["i1"]]);
    r.stop().await;
}

#[tokio::test]
async fn a_request_that_goes_one_way_is_forwarded_as_it_is() {
    let mut r = start("traces", BY_TENANT, accept_all).await;
    let p = traces(&[("acme", &["a1"]), ("acme", &["a2"])]);
    r.send(p.clone(), None).await.expect("delivered");
    let got = r.got(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bytes(), p.bytes(), "the same bytes");
    assert_eq!(got[0].bytes().as_ptr(), p.bytes().as_ptr(), "shared, not copied");
    assert!(r.got(1).is_empty() && r.got(2).is_empty());
    r.stop().await;
}

#[tokio::test]
async fn span_routes_split_a_resource_by_span() {
    let table = "default_pipelines: [traces/c]\ntable:\n\
      \x20 - context: span\n    condition: attributes[\"env\"] == \"prod\"\n    pipelines: [traces/a]\n\
      \x20 - context: span\n    condition: name == \"d2\"\n    pipelines: [traces/b]\n";
    let mut r = start("traces", table, accept_all).await;
    r.send(traces(&[("acme", &["p1", "d1", "d2", "p2"])]), None).await.expect("delivered");
    assert_eq!(names(&r.got(0)), [vec!["p1", "p2"]]);
    assert_eq!(names(&r.got(1)), [vec!["d2"]]);
    assert_eq!(names(&r.got(2)), [vec!["d1"]]);
    r.stop().await;
}

#[tokio::test]
async fn request_routes_read_the_client_metadata() {
    let table = "default_pipelines: [logs/c]\ntable:\n\
      \x20 - context: request\n    condition: request[\"X-Tenant\"] == \"acme\"\n    pipelines: [logs/a]\n\
      \x20 - context: request\n    condition: request[\"X-Tenant\"] != \"acme\"\n    pipelines: [logs/b]\n";
    let mut r = start("logs", table, accept_all).await;
    r.send(logs(&[9, 17]), Some(ClientMetadata::from_pairs([("x-tenant", "acme")]))).await.unwrap();
    r.send(logs(&[9]), Some(ClientMetadata::from_pairs([("X-Tenant", "ecorp")]))).await.unwrap();
    r.send(logs(&[9]), None).await.unwrap();
    assert_eq!(r.got(0).iter().map(Payload::items).collect::<Vec<_>>(), [2]);
    assert_eq!(r.got(1).iter().map(Payload::items).collect::<Vec<_>>(), [1]);
    // Without the key neither `==` nor `!=` matches (upstream): the default gets it.
    assert_eq!(r.got(2).iter().map(Payload::items).collect::<Vec<_>>(), [1]);
    r.stop().await;
}

#[tokio::test]
async fn log_routes_split_by_record_and_without_default_the_rest_is_dropped_and_acknowledged() {
    let table = "table:\n\
      \x20 - context: log\n    condition: severity_number < SEVERITY_NUMBER_ERROR\n    pipelines: [logs/a]\n";
    let mut r = start("logs", table, accept_all).await;
    r.send(logs(&[9, 17, 5, 21]), None).await.expect("the dropped records are acknowledged");
    assert_eq!(r.got(0).iter().map(Payload::items).collect::<Vec<_>>(), [2]);
    assert!(r.got(1).is_empty() && r.got(2).is_empty());
    r.stop().await;
}

#[tokio::test]
async fn data_point_routes_rewrite_a_metric_per_route_with_its_points() {
    let table = "default_pipelines: [metrics/c]\ntable:\n\
      \x20 - context: datapoint\n    condition: attributes[\"region\"] == \"east\"\n    pipelines: [metrics/a]\n\
      \x20 - context: metric\n    condition: name == \"g\"\n    pipelines: [metrics/b]\n";
    let mut r = start("metrics", table, accept_all).await;
    r.send(gauge(&[("east", 1), ("west", 2), ("east", 3)]), None).await.unwrap();
    let points = |p: &Payload| -> Vec<i64> {
        let m = p.decode_metrics().unwrap();
        let metric = &m.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!((metric.name.as_str(), metric.unit.as_str()), ("g", "1"), "the metric's fields are kept");
        let Some(metric::Data::Gauge(g)) = &metric.data else { panic!("a gauge") };
        g.data_points
            .iter()
            .map(|d| match d.value {
                Some(number_data_point::Value::AsInt(v)) => v,
                _ => panic!("int"),
            })
            .collect()
    };
    let a = r.got(0);
    let b = r.got(1);
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!((points(&a[0]), a[0].items()), (vec![1, 3], 2));
    assert_eq!((points(&b[0]), b[0].items()), (vec![2], 1));
    assert!(r.got(2).is_empty());
    r.stop().await;
}

#[tokio::test]
async fn a_request_is_delivered_when_every_pipeline_that_got_a_part_delivered_it() {
    let mut r = start("traces", BY_TENANT, fail_all).await;
    // Only route a: sink b's failure does not matter.
    r.send(traces(&[("acme", &["a1"])]), None).await.expect("delivered");
    // Parts to a and b: b's failure reaches the client.
    let err = r.send(traces(&[("acme", &["a2"]), ("globex", &["g1"])]), None).await.expect_err("b failed");
    assert_eq!(err.message, "the backend refused it");
    assert_eq!(names(&r.got(0)), [vec!["a1"], vec!["a2"]]);
    r.stop().await;
}

const FAILING: &str = "table:\n\
  \x20 - context: span\n    condition: attributes[\"env\"] + 1 == 2\n    pipelines: [traces/a]\n\
  \x20 - context: span\n    condition: name == \"p1\"\n    pipelines: [traces/b]\n";

#[tokio::test]
async fn with_propagate_a_failing_condition_fails_the_request() {
    let mut r = start("traces", &format!("default_pipelines: [traces/c]\n{FAILING}"), accept_all).await;
    let err = r.send(traces(&[("acme", &["p1", "d1"])]), None).await.expect_err("propagate");
    assert!(err.message.contains("routing condition failed"), "{}", err.message);
    assert!(r.got(0).is_empty() && r.got(1).is_empty() && r.got(2).is_empty());
    r.stop().await;
}

#[tokio::test]
async fn with_ignore_a_failing_condition_is_false_and_later_matches_also_go_to_the_default() {
    let mut r =
        start("traces", &format!("error_mode: ignore\ndefault_pipelines: [traces/c]\n{FAILING}"), accept_all).await;
    r.send(traces(&[("acme", &["p1", "d1"])]), None).await.expect("delivered");
    assert!(r.got(0).is_empty());
    assert_eq!(names(&r.got(1)), [vec!["p1"]]);
    // Upstream: once a condition failed, what a route takes also goes to the default.
    let mut c: Vec<String> = r.got(2).iter().flat_map(span_names).collect();
    c.sort();
    assert_eq!(c, ["d1", "p1"]);
    r.stop().await;
}

#[tokio::test]
async fn a_pipeline_that_does_not_list_the_connector_stops_the_start() {
    let table = "table:\n  - condition: attributes[\"tenant\"] == \"acme\"\n    pipelines: [traces/nope]\n";
    let err = try_start("traces", table, accept_all).await.err().expect("refused");
    assert!(err.contains("pipeline not found") && err.contains("traces/nope"), "{err}");
}

#[tokio::test]
async fn a_duplicate_route_is_ignored() {
    let table = "table:\n\
      \x20 - condition: attributes[\"tenant\"] == \"acme\"\n    pipelines: [traces/a]\n\
      \x20 - statement: route() where attributes[\"tenant\"] == \"acme\"\n    pipelines: [traces/b]\n";
    let mut r = start("traces", table, accept_all).await;
    r.send(traces(&[("acme", &["a1"])]), None).await.unwrap();
    assert_eq!(names(&r.got(0)), [vec!["a1"]]);
    assert!(r.got(1).is_empty());
    r.stop().await;
}

fn refused(yaml: &str) -> String {
    parse_config::<RoutingConfig>(yaml).err().unwrap_or_else(|| panic!("refused: {yaml}"))
}

#[test]
fn invalid_tables_are_refused_with_upstreams_reasons() {
    assert!(refused("{}").contains("the routing table is empty"));
    assert!(refused("table: []").contains("the routing table is empty"));
    assert!(refused("table: [{pipelines: [traces/a]}]").contains("no condition or statement provided"));
    assert!(refused("table: [{condition: 'attributes[\"a\"] == 1'}]").contains("no pipelines defined"));
    let both = "table: [{condition: 'attributes[\"a\"] == 1', statement: 'route() where attributes[\"a\"] == 1', pipelines: [traces/a]}]";
    assert!(refused(both).contains("both condition and statement provided"));
    let e = refused("table: [{context: invalid, condition: 'attributes[\"a\"] == 1', pipelines: [traces/a]}]");
    assert!(e.contains("invalid context: invalid"), "{e}");
    let e = refused(
        "table: [{context: request, statement: 'route() where attributes[\"a\"] == 1', pipelines: [traces/a]}]",
    );
    assert!(e.contains("\"request\" context requires a 'condition'"), "{e}");
    let e =
        refused("table: [{context: request, condition: 'attributes[\"attr\"] == \"acme\"', pipelines: [traces/a]}]");
    assert!(e.contains(r#"condition must have format 'request["<name>"] <comparator> <value>'"#), "{e}");
}

#[test]
fn request_conditions_follow_upstreams_grammar() {
    let c = config::RequestCondition::parse(r#"request["X-Tenant"] == "acme""#).unwrap();
    assert_eq!((c.key.as_str(), c.value.as_str(), c.equal), ("X-Tenant", "acme", true));
    assert!(!config::RequestCondition::parse(r#"request["a"] != "b""#).unwrap().equal);
    assert_eq!(config::RequestCondition::parse("").unwrap_err(), "condition is empty");
    assert!(config::RequestCondition::parse(r#"request["a"] = "b""#).unwrap_err().contains("valid comparator"));
    assert!(config::RequestCondition::parse(r#"request["a"] == "b" == "c""#).unwrap_err().contains("multiple"));
    assert!(config::RequestCondition::parse(r#"request["a"] == b"#).unwrap_err().contains("\"<value>\""));
}

#[test]
fn ottl_errors_in_a_statement_point_into_it() {
    let e = refused("table: [{statement: 'route() where attributes[\"a\"] == ', pipelines: [traces/a]}]");
    assert!(e.contains("table[0]::statement") && e.contains("line 1"), "{e}");
    let e = refused("table: [{statement: 'set(attributes[\"a\"], 1)', pipelines: [traces/a]}]");
    assert!(e.contains("`route() where <condition>`"), "{e}");
    let e = refused("table: [{context: span, condition: 'nope == 1', pipelines: [traces/a]}]");
    assert!(e.contains("table[0]::condition"), "{e}");
}

#[test]
fn match_once_false_is_refused_and_true_is_accepted() {
    let ok = "match_once: true\ntable: [{condition: 'attributes[\"a\"] == 1', pipelines: [traces/a]}]";
    assert!(parse_config::<RoutingConfig>(ok).is_ok());
    let e = refused("match_once: false\ntable: [{condition: 'attributes[\"a\"] == 1', pipelines: [traces/a]}]");
    assert!(e.contains("match_once") && e.contains("v0.120.0"), "{e}");
}

#[test]
fn error_mode_defaults_to_propagate() {
    let c =
        parse_config::<RoutingConfig>("table: [{condition: 'attributes[\"a\"] == 1', pipelines: [traces/a]}]").unwrap();
    assert_eq!(c.error_mode, weir_ottl::ErrorMode::Propagate);
    assert!(refused("error_mode: loud\ntable: [{condition: 'true', pipelines: [traces/a]}]").contains("error mode"));
}

#[tokio::test]
async fn a_bare_route_statement_takes_everything_and_a_context_of_another_signal_nothing() {
    let table = "default_pipelines: [logs/c]\ntable:\n\
      \x20 - context: span\n    statement: route()\n    pipelines: [logs/a]\n\
      \x20 - context: log\n    statement: route()\n    pipelines: [logs/b]\n";
    let mut r = start("logs", table, accept_all).await;
    r.send(logs(&[9, 17]), None).await.unwrap();
    assert!(r.got(0).is_empty(), "a span route never matches logs");
    assert_eq!(r.got(1).iter().map(Payload::items).collect::<Vec<_>>(), [2]);
    assert!(r.got(2).is_empty());
    r.stop().await;
}
