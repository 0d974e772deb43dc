//! `transform` with the Collector README's examples (basic and advanced config), expected
//! results written from the functions' documentation; config errors with their positions.

use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weir_core::Payload;
use weir_ottl::Outcome;

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn s(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn attrs(a: &[KeyValue]) -> Vec<(String, String)> {
    a.iter().map(|k| (k.key.clone(), s(&k.value))).collect()
}

fn config(yaml: &str) -> TransformConfig {
    weir_core::testing::parse_config(yaml).expect("valid config")
}

fn run(c: &TransformConfig, signal: Signal, p: &Payload) -> Option<Vec<u8>> {
    let proc = TransformFactory::processor("transform".into(), signal, c).expect("builds");
    match proc.process(p).expect("runs") {
        Outcome::Unchanged => Some(p.bytes().to_vec()),
        Outcome::Rebuilt(r) => Some(r.bytes().to_vec()),
        Outcome::Empty => None,
    }
}

fn traces(spans: Vec<Span>) -> Payload {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "svc")], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).expect("valid")
}

const BASIC: &str = r#"
error_mode: ignore
trace_statements:
  - keep_keys(span.attributes, ["service.name", "service.namespace", "cloud.region", "process.command_line"])
  - replace_pattern(span.attributes["process.command_line"], "password\\=[^\\s]*(\\s?)", "password=***")
  - limit(span.attributes, 100, [])
  - truncate_all(span.attributes, 4096)
metric_statements:
  - keep_keys(resource.attributes, ["host.name"])
  - truncate_all(resource.attributes, 4096)
log_statements:
  - set(log.severity_text, "FAIL") where log.body == "request failed"
  - replace_all_matches(log.attributes, "/user/*/list/*", "/user/{userId}/list/{listId}")
  - replace_all_patterns(log.attributes, "value", "/account/\\d{4}", "/account/{accountId}")
  - set(log.body, log.attributes["http.route"])
"#;

#[test]
fn readme_basic_config_traces() {
    let c = config(BASIC);
    let span = Span {
        name: "s".into(),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        attributes: vec![
            kv("service.name", "checkout"),
            kv("http.method", "GET"),
            kv("process.command_line", "run --password=hunter2 --verbose"),
            kv("cloud.region", "eu-west-1"),
        ],
        ..Default::default()
    };
    let out = run(&c, Signal::Traces, &traces(vec![span])).expect("kept");
    let req = ExportTraceServiceRequest::decode(out.as_slice()).expect("decodes");
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    // keep_keys drops http.method; replace_pattern rewrites the password and its space.
    assert_eq!(
        attrs(&span.attributes),
        vec![
            ("service.name".into(), "checkout".into()),
            ("process.command_line".into(), "run --password=***--verbose".into()),
            ("cloud.region".into(), "eu-west-1".into()),
        ]
    );
    assert_eq!(span.name, "s");
    assert_eq!(span.trace_id, vec![1; 16]);
    // The resource was not touched.
    assert_eq!(
        attrs(&req.resource_spans[0].resource.as_ref().unwrap().attributes),
        vec![("service.name".into(), "svc".into())]
    );
}

fn logs(records: Vec<LogRecord>) -> Payload {
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![kv("service.name", "svc")], ..Default::default() }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Logs, req.encode_to_vec().into()).expect("valid")
}

#[test]
fn readme_basic_config_logs() {
    let c = config(BASIC);
    let failed = LogRecord {
        body: Some(AnyValue { value: Some(any_value::Value::StringValue("request failed".into())) }),
        attributes: vec![
            kv("http.route", "/user/{userId}"),
            kv("path", "/user/alice/list/7"),
            kv("account", "/account/1234"),
        ],
        ..Default::default()
    };
    let ok = LogRecord {
        body: Some(AnyValue { value: Some(any_value::Value::StringValue("fine".into())) }),
        severity_text: "INFO".into(),
        ..Default::default()
    };
    let out = run(&c, Signal::Logs, &logs(vec![failed, ok])).expect("kept");
    let req = ExportLogsServiceRequest::decode(out.as_slice()).expect("decodes");
    let records = &req.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records[0].severity_text, "FAIL");
    assert_eq!(
        attrs(&records[0].attributes),
        vec![
            ("http.route".into(), "/user/{userId}".into()),
            ("path".into(), "/user/{userId}/list/{listId}".into()),
            ("account".into(), "/account/{accountId}".into()),
        ]
    );
    assert_eq!(s(&records[0].body), "/user/{userId}");
    // The second record has no http.route: `set` with a nil value does nothing (ottlfuncs).
    assert_eq!(records[1].severity_text, "INFO");
    assert_eq!(s(&records[1].body), "fine");
}

fn metrics(ms: Vec<Metric>) -> Payload {
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("host.name", "h1"), kv("os.type", "linux")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics { metrics: ms, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Metrics, req.encode_to_vec().into()).expect("valid")
}

fn point(v: f64) -> NumberDataPoint {
    NumberDataPoint {
        value: Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

#[test]
fn readme_basic_and_advanced_config_metrics() {
    let c = config(
        r#"
error_mode: ignore
metric_statements:
  - keep_keys(resource.attributes, ["host.name"])
  - truncate_all(resource.attributes, 4096)
  - error_mode: propagate
    conditions:
      - metric.type == METRIC_DATA_TYPE_SUM
    statements:
      - set(metric.description, "Sum")
"#,
    );
    let sum = Metric {
        name: "requests".into(),
        data: Some(metric::Data::Sum(Sum { data_points: vec![point(1.0)], ..Default::default() })),
        ..Default::default()
    };
    let gauge = Metric {
        name: "temp".into(),
        description: "degrees".into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: vec![point(2.0)] })),
        ..Default::default()
    };
    let out = run(&c, Signal::Metrics, &metrics(vec![sum, gauge])).expect("kept");
    let req = ExportMetricsServiceRequest::decode(out.as_slice()).expect("decodes");
    let rm = &req.resource_metrics[0];
    assert_eq!(attrs(&rm.resource.as_ref().unwrap().attributes), vec![("host.name".into(), "h1".into())]);
    let ms = &rm.scope_metrics[0].metrics;
    assert_eq!(ms[0].description, "Sum");
    assert_eq!(ms[1].description, "degrees");
    assert_eq!(ms[1].data, Some(metric::Data::Gauge(Gauge { data_points: vec![point(2.0)] })));
}

#[test]
fn context_inference_from_the_readme() {
    // `datapoint` is inferred: the statement names datapoint and metric paths.
    let c = config(
        r#"
metric_statements:
  - set(metric.description, "test passed") where datapoint.attributes["test"] == "pass"
"#,
    );
    let groups = c.compile(Signal::Metrics).expect("compiles");
    assert_eq!(groups[0].context, weir_ottl::ContextKind::DataPoint);
    // A span path cannot be used in log statements.
    let err = weir_core::testing::parse_config::<TransformConfig>("log_statements:\n  - set(span.name, \"x\")\n")
        .expect_err("refused");
    assert!(err.contains("log_statements[0]"), "{err}");
}

#[test]
fn unchanged_requests_are_forwarded_as_they_are() {
    let c = config("trace_statements:\n  - set(span.attributes[\"x\"], \"y\") where span.name == \"nope\"\n");
    let p = traces(vec![Span { name: "a".into(), ..Default::default() }]);
    let proc = TransformFactory::processor("t".into(), Signal::Traces, &c).unwrap();
    assert!(matches!(proc.process(&p).unwrap(), Outcome::Unchanged));
}

#[test]
fn errors_point_into_the_file() {
    let yaml = "trace_statements:\n  - set(span.attributes[\"x\"], Nope(1))\n";
    let err = weir_core::testing::parse_config::<TransformConfig>(yaml).expect_err("refused");
    // The scalar starts at column 5 of line 2, `Nope` 26 characters into it.
    assert!(err.contains("trace_statements[0]") && err.contains("line 2, column 31"), "{err}");
    let err = weir_core::testing::parse_config::<TransformConfig>(
        "trace_statements:\n  - context: nowhere\n    statements: [\"set(name, \\\"x\\\")\"]\n",
    )
    .expect_err("refused");
    assert!(err.contains("unknown context \"nowhere\""), "{err}");
}

#[test]
fn error_mode_propagate_fails_the_request_and_ignore_goes_on() {
    let statements =
        "  - set(span.attributes[\"n\"], Int(span.attributes[\"s\"]) / 0)\n  - set(span.name, \"after\")\n";
    let p = traces(vec![Span { name: "a".into(), attributes: vec![kv("s", "4")], ..Default::default() }]);
    let propagate = config(&format!("error_mode: propagate\ntrace_statements:\n{statements}"));
    let proc = TransformFactory::processor("t".into(), Signal::Traces, &propagate).unwrap();
    assert!(proc.process(&p).is_err());
    let ignore = config(&format!("error_mode: ignore\ntrace_statements:\n{statements}"));
    let out = run(&ignore, Signal::Traces, &p).unwrap();
    let req = ExportTraceServiceRequest::decode(out.as_slice()).unwrap();
    assert_eq!(req.resource_spans[0].scope_spans[0].spans[0].name, "after");
}

/// The converters added for real log pipelines, with results from the Collector's ottlfuncs
/// README and Go's semantics (`fmt.Sprintf`, `url.Parse`, `time`).
#[test]
fn parsing_and_formatting_converters() {
    let c = config(
        r#"
log_statements:
  - context: log
    statements:
      - 'set(attributes["kv"], ParseKeyValue(body))'
      - 'set(attributes["kv_string"], ToKeyValueString(ParseKeyValue(body), ":", ",", true))'
      - 'set(attributes["formatted"], Format("%s took %04d ms (%.1f%%)", [attributes["kv"]["name"], 42, 99.25]))'
      - 'set(attributes["url"], URL("https://user@example.com:8443/a/b.json?x=1#top"))'
      - 'set(attributes["trimmed"], Trim("--x--", "-"))'
      - 'set(attributes["decoded"], Decode("aGVsbG8gd29ybGQ=", "base64"))'
      - 'set(attributes["b64"], Base64Decode("d2Vpcg=="))'
      - 'set(attributes["sorted"], Sort([3, 1.5, 2], "desc"))'
      - 'set(attributes["by_name"], SliceToMap([{"name": "a", "v": 1}, {"name": "b", "v": 2}], ["name"], ["v"]))'
      - 'set(attributes["year"], Year(Unix(1700000000)))'
      - 'set(attributes["weekday"], Weekday(Unix(1700000000)))'
      - 'set(attributes["day"], FormatTime(Unix(1700000000, 5000000), "%Y-%m-%d %H:%M:%S.%L"))'
      - 'set(attributes["hours"], Hours(Duration("90m")))'
      - 'set(attributes["ms"], Milliseconds(Duration("1.5s")))'
      - 'set(attributes["uuid"], UUID())'
      - 'set(attributes["sha512"], SHA512("abc"))'
"#,
    );
    let record = LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(r#"name=checkout msg="user logged in" retries=3"#.into())),
        }),
        ..Default::default()
    };
    let out = run(&c, Signal::Logs, &logs(vec![record])).expect("kept");
    let req = ExportLogsServiceRequest::decode(out.as_slice()).expect("decodes");
    let a = &req.resource_logs[0].scope_logs[0].log_records[0].attributes;
    let get =
        |k: &str| a.iter().find(|kv| kv.key == k).and_then(|kv| kv.value.clone()).unwrap_or_else(|| panic!("{k}"));
    let json = |k: &str| {
        fn j(v: &AnyValue) -> String {
            match v.value.as_ref() {
                Some(any_value::Value::StringValue(s)) => format!("{s:?}"),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                Some(any_value::Value::KvlistValue(m)) => format!(
                    "{{{}}}",
                    m.values
                        .iter()
                        .map(|kv| format!("{}: {}", kv.key, j(kv.value.as_ref().unwrap())))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(any_value::Value::ArrayValue(l)) => {
                    format!("[{}]", l.values.iter().map(j).collect::<Vec<_>>().join(", "))
                }
                other => format!("{other:?}"),
            }
        }
        j(&get(k))
    };
    assert_eq!(json("kv"), r#"{name: "checkout", msg: "user logged in", retries: "3"}"#);
    assert_eq!(json("kv_string"), r#""msg:user logged in,name:checkout,retries:3""#);
    assert_eq!(json("formatted"), r#""checkout took 0042 ms (99.2%)""#);
    assert_eq!(
        json("url"),
        r#"{url.original: "https://user@example.com:8443/a/b.json?x=1#top", url.domain: "example.com", url.scheme: "https", url.path: "/a/b.json", url.port: 8443, url.fragment: "top", url.user_info: "user", url.username: "user", url.query: "x=1", url.extension: "json"}"#
    );
    assert_eq!(json("trimmed"), r#""x""#);
    assert_eq!(json("decoded"), r#""hello world""#);
    assert_eq!(json("b64"), r#""weir""#);
    assert_eq!(json("sorted"), "[3, 2, 1.5]");
    assert_eq!(json("by_name"), "{a: 1, b: 2}");
    assert_eq!(json("year"), "2023");
    assert_eq!(json("weekday"), "2", "2023-11-14 was a Tuesday");
    assert_eq!(json("day"), r#""2023-11-14 22:13:20.005""#);
    assert_eq!(json("hours"), "1.5");
    assert_eq!(json("ms"), "1500");
    let uuid = json("uuid");
    assert_eq!((uuid.len(), &uuid[15..16]), (38, "4"), "a quoted version-4 UUID: {uuid}");
    assert_eq!(
        json("sha512"),
        r#""ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f""#
    );
}

#[test]
fn converter_arguments_are_checked_at_startup() {
    let err = |stmt: &str| {
        weir_core::testing::parse_config::<TransformConfig>(&format!("log_statements: ['{stmt}']"))
            .expect_err("refused")
            .to_string()
    };
    assert!(
        err(r#"set(log.attributes["a"], ParseKeyValue(log.body, "=", "="))"#).contains("cannot be equal"),
        "{}",
        err(r#"set(log.attributes["a"], ParseKeyValue(log.body, "=", "="))"#)
    );
    assert!(
        err(r#"set(log.attributes["a"], ParseKeyValue(log.body, ""))"#).contains("cannot be set to an empty string")
    );
    assert!(err(r#"set(log.attributes["a"], Decode(log.body, "ebcdic"))"#).contains("unsupported encoding"));
    assert!(err(r#"set(log.attributes["a"], Sort([1], "up"))"#).contains("Order should be either"));
    assert!(err(r#"set(log.attributes["a"], SliceToMap(log.attributes["l"], []))"#).contains("key path"));
}
