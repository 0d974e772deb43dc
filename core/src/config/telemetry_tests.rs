//! `service::telemetry` parsing and validation: every key, the Collector's defaults, and its
//! fixtures (upstream's `otelconftelemetry` testdata, read from the compatibility suite).

use super::*;
use crate::config::yaml;

fn parse(text: &str) -> Result<TelemetryConfig, String> {
    let node = yaml::parse(text, &|_| None).map_err(|e| e.message)?;
    let t: TelemetryConfig = node.deserialize().map_err(|e| format!("{}: {}", e.path.join("::"), e.message))?;
    match t.validate().into_iter().next() {
        Some((path, message)) => Err(format!("{path}: {message}")),
        None => Ok(t),
    }
}

fn refused(text: &str) -> String {
    parse(text).expect_err("refused")
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            "../../../tests/collector-compat/upstream/core/service/telemetry/otelconftelemetry/",
            $name
        ))
    };
}

#[test]
fn empty_config_is_the_collectors_default() {
    let t = parse(fixture!("testdata/config_empty.yaml")).unwrap();
    assert_eq!(t, TelemetryConfig::default());
    assert_eq!(t.logs.level, LogLevel::Info);
    assert_eq!(t.logs.encoding, LogEncoding::Console);
    assert_eq!(
        t.logs.sampling,
        Some(LogsSampling { enabled: true, tick: Duration::from_secs(10), initial: 10, thereafter: 100 })
    );
    assert_eq!(t.logs.output_paths, ["stderr"]);
    assert_eq!(t.logs.error_output_paths, ["stderr"]);
    assert_eq!(t.metrics.level, Level::Normal);
    assert_eq!(t.metrics.endpoints(), ["localhost:8888"]);
    assert!(t.metrics.periodic_readers().is_empty());
    assert!(!t.traces.enabled(), "weir's own spans are off by default");
    assert_eq!(t.traces.level, Level::Basic);
}

#[test]
fn every_logs_key_of_the_collectors_fixture_loads() {
    let t = parse(fixture!("testdata/config_logs.yaml")).unwrap();
    let l = &t.logs;
    assert_eq!(l.level, LogLevel::Info);
    assert!(l.development && l.disable_caller && l.disable_stacktrace);
    assert_eq!(l.initial_fields.get("fieldKey"), Some(&serde_json::json!("fieldValue")));
    assert_eq!(
        l.sampling,
        Some(LogsSampling { enabled: false, tick: Duration::from_secs(1), initial: 234, thereafter: 567 })
    );
    assert_eq!(l.processors.len(), 1);
    let batch = l.processors[0].batch.as_ref().unwrap();
    assert!(batch.exporter.console.is_some() && batch.exporter.otlp.is_none());
}

#[test]
fn metrics_level_none_needs_no_reader() {
    let t = parse(fixture!("testdata/config_metrics_empty_readers.yaml")).unwrap();
    assert_eq!(t.metrics.level, Level::None);
    assert!(t.metrics.endpoints().is_empty());
}

#[test]
fn unknown_key_is_refused() {
    assert!(refused(fixture!("testdata/config_invalid_unknown_field.yaml")).contains("unknown field `unknown`"));
}

#[test]
fn a_metrics_level_with_no_reader_is_refused() {
    assert_eq!(
        refused(fixture!("testdata/config_invalid_metrics_empty_readers.yaml")),
        "metrics::readers: collector telemetry metrics reader should exist when metric level is not none"
    );
}

#[test]
fn views_need_level_detailed() {
    assert_eq!(
        refused(fixture!("testdata/config_invalid_metrics_views_level.yaml")),
        "metrics::views: service::telemetry::metrics::views can only be set when service::telemetry::metrics::level is detailed"
    );
    let t = parse(fixture!("testdata/config_invalid_metrics_views_feature_gate.yaml")).unwrap();
    assert_eq!(t.metrics.views.as_ref().map(Vec::len), Some(1));
}

#[test]
fn prometheus_reader_with_host_only_gets_the_collectors_defaults() {
    let t = parse(fixture!("testdata/config_prometheus_host_only.yaml")).unwrap();
    assert_eq!(t.metrics.endpoints(), ["[::0]:8888"]);
    let readers = t.metrics.effective_readers();
    let prom = readers[0].pull.as_ref().unwrap().exporter.prometheus.as_ref().unwrap();
    assert_eq!(prom.without(), (true, true, true), "the Collector's defaults, re-applied");
    assert_eq!(t.logs, LogsConfig::default());
}

#[test]
fn resource_attributes_and_host_detection_load() {
    let t = parse(fixture!("testdata/config_resource_detection_development.yaml")).unwrap();
    assert_eq!(t.resource.attributes, [("foo".to_string(), AttributeValue::Str("bar".into()))]);
    assert_eq!(t.resource.detectors, ["host"]);
}

#[test]
fn legacy_inline_resource_attributes_and_null_removal() {
    let t = parse("resource:\n  service.name: my-weir\n  service.instance.id: null\n").unwrap();
    assert_eq!(
        t.resource.legacy,
        [("service.name".to_string(), Some("my-weir".to_string())), ("service.instance.id".to_string(), None)]
    );
    assert!(refused("resource:\n  k: [1, 2]\n").contains("legacy resource attribute \"k\" must be string or null"));
    assert!(refused("resource:\n  attributes:\n    - name: a\n      value: b\n  k: v\n")
        .contains("cannot be used together with legacy inline"));
    assert!(refused("resource:\n  attributes_list: a=b\n").contains("attributes_list is not currently supported"));
}

#[test]
fn typed_resource_attributes() {
    let t = parse(
        "resource:\n  attributes:\n    - {name: i, value: 7}\n    - {name: s, value: \"7\"}\n    - {name: d, value: 7, type: double}\n    - {name: a, value: [x, y], type: string_array}\n",
    )
    .unwrap();
    assert_eq!(
        t.resource.attributes,
        [
            ("i".to_string(), AttributeValue::Int(7)),
            ("s".to_string(), AttributeValue::Str("7".into())),
            ("d".to_string(), AttributeValue::Double(7.0)),
            (
                "a".to_string(),
                AttributeValue::Array(vec![AttributeValue::Str("x".into()), AttributeValue::Str("y".into())])
            ),
        ]
    );
    assert!(refused("resource:\n  attributes:\n    - {name: i, value: x, type: int}\n").contains("is not an int"));
}

#[test]
fn deprecated_address_is_read_when_there_are_no_readers() {
    let t = parse(fixture!("testdata/config_deprecated_address.yaml")).unwrap();
    assert_eq!(t.metrics.endpoints(), ["localhost:6666"]);
    let t = parse(fixture!("testdata/config_deprecated_address_and_readers.yaml")).unwrap();
    assert_eq!(t.metrics.endpoints(), ["localhost:9999"], "readers win over address");
    assert!(refused(fixture!("testdata/config_invalid_deprecated_address.yaml")).contains("metrics::address"));
}

#[test]
fn v0_3_0_metrics_readers_load_with_endpoint_normalised() {
    let t =
        parse(&format!("metrics:\n{}", indent(fixture!("internal/migration/testdata/v0.3.0_metrics.yaml")))).unwrap();
    assert_eq!(t.metrics.level, Level::Detailed);
    let periodic = t.metrics.periodic_readers();
    assert_eq!(periodic.len(), 1);
    let otlp = periodic[0].exporter.otlp.as_ref().unwrap();
    assert_eq!(otlp.endpoint_url(), "https://127.0.0.1:4317", "no scheme and not insecure: https, as the Collector");
    assert_eq!(otlp.all_headers(), [("key1".to_string(), "value1".to_string())]);
    assert_eq!(periodic[0].interval(), Duration::from_secs(60));
    assert_eq!(periodic[0].timeout(), Duration::from_secs(30));
    assert_eq!(t.metrics.endpoints(), ["127.0.0.1:8902"]);
}

#[test]
fn v0_2_0_forms_with_header_maps_load() {
    let t =
        parse(&format!("metrics:\n{}", indent(fixture!("internal/migration/testdata/v0.2.0_metrics.yaml")))).unwrap();
    let otlp = t.metrics.periodic_readers()[0].exporter.otlp.clone().unwrap();
    assert_eq!(
        otlp.all_headers(),
        [("key1".to_string(), "value1".to_string()), ("key2".to_string(), "value2".to_string())]
    );
    let t = parse(&format!("logs:\n{}", indent(fixture!("internal/migration/testdata/v0.2.0_logs.yaml")))).unwrap();
    assert_eq!(t.logs.processors.len(), 3);
    let simple = t.logs.processors[2].simple.as_ref().unwrap().exporter.otlp.as_ref().unwrap();
    assert_eq!(simple.endpoint_url(), "http://127.0.0.1:4317");
    parse(&format!("traces:\n{}", indent(fixture!("internal/migration/testdata/v0.2.0_traces.yaml")))).unwrap();
}

#[test]
fn v0_3_0_logs_and_traces_load() {
    let t = parse(&format!("logs:\n{}", indent(fixture!("internal/migration/testdata/v0.3.0_logs.yaml")))).unwrap();
    assert!(t.logs.output_paths.is_empty() && t.logs.error_output_paths.is_empty());
    let t = parse(&format!("traces:\n{}", indent(fixture!("internal/migration/testdata/v0.3.0_traces.yaml")))).unwrap();
    assert_eq!(t.traces.level, Level::None, "levels read case-insensitively");
    assert!(!t.traces.enabled());
    assert_eq!(t.traces.sampler.as_ref().unwrap().root_ratio(), 0.01);
}

#[test]
fn prometheus_explicit_false_is_kept() {
    let t = parse(&format!(
        "metrics:\n{}",
        indent(fixture!("internal/migration/testdata/v0.3.0_metrics_prom_explicit.yaml"))
    ))
    .unwrap();
    let readers = t.metrics.effective_readers();
    let prom = readers[0].pull.as_ref().unwrap().exporter.prometheus.as_ref().unwrap();
    assert_eq!(
        (prom.without_scope_info, prom.without_units, prom.without_type_suffix),
        (Some(false), Some(false), Some(false))
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[test]
fn log_levels_and_encodings() {
    assert_eq!(parse("logs: {level: DEBUG}").unwrap().logs.level, LogLevel::Debug);
    assert_eq!(parse("logs: {level: dpanic}").unwrap().logs.level, LogLevel::Error);
    assert!(refused("logs: {level: loud}").contains("unrecognized level"));
    assert_eq!(parse("logs: {encoding: json}").unwrap().logs.encoding, LogEncoding::Json);
    assert!(refused("logs: {encoding: logfmt}").contains("logfmt"));
    assert_eq!(parse("logs: {sampling: null}").unwrap().logs.sampling, None);
}

#[test]
fn output_paths_are_stdout_stderr_paths_or_file_urls() {
    assert_eq!(output_path("stdout"), Ok(OutputPath::Stdout));
    assert_eq!(output_path("/var/log/w.log"), Ok(OutputPath::File("/var/log/w.log".into())));
    assert_eq!(output_path("file:///var/log/w.log"), Ok(OutputPath::File("/var/log/w.log".into())));
    assert!(refused("logs: {output_paths: [\"file://relative.log\"]}").contains("logs::output_paths[0]"));
    assert!(refused("logs: {error_output_paths: [\"http://x\"]}").contains("logs::error_output_paths[0]"));
}

#[test]
fn otlp_exporters_are_checked() {
    let with = |otlp: &str| format!("logs:\n  processors:\n    - batch:\n        exporter:\n          otlp: {otlp}\n");
    assert!(refused(&with("{protocol: thrift, endpoint: x:1}")).contains("unsupported protocol \"thrift\""));
    assert!(refused(&with("{protocol: grpc}")).contains("endpoint"));
    assert!(refused(&with("{protocol: grpc, endpoint: x:1, compression: lz4}")).contains("compression"));
    assert!(refused(&with("{protocol: grpc, endpoint: x:1, temporality_preference: delta}"))
        .contains("metric exporters only"));
    assert!(refused(&with("{protocol: grpc, endpoint: x:1, bogus: 1}")).contains("bogus"));
    let t = parse(&with("{protocol: grpc, endpoint: x:1, insecure: true, headers_list: \"a=b,c=d\"}")).unwrap();
    let o = t.logs.processors[0].batch.as_ref().unwrap().exporter.otlp.clone().unwrap();
    assert_eq!(o.endpoint_url(), "http://x:1");
    assert_eq!(o.all_headers().len(), 2);
}

#[test]
fn processors_and_readers_need_exactly_one_kind() {
    assert!(refused("logs: {processors: [{}]}").contains("exactly one of batch and simple"));
    assert!(refused("logs: {processors: [{batch: {exporter: {}}}]}").contains("exactly one of otlp and console"));
    assert!(refused("traces: {processors: [{batch: {exporter: {zipkin: {endpoint: x}}}}]}").contains("OTLP"));
    assert!(refused("metrics: {readers: [{}]}").contains("exactly one of periodic and pull"));
    assert!(refused("metrics: {readers: [{pull: {exporter: {prometheus: {}}}, producers: [{opencensus: {}}]}]}")
        .contains("producers"));
}

#[test]
fn traces_sampler_and_propagators() {
    let t =
        parse("traces:\n  processors: [{simple: {exporter: {console: {}}}}]\n  sampler: {always_off: {}}\n").unwrap();
    assert!(t.traces.enabled());
    assert_eq!(t.traces.sampler.unwrap().root_ratio(), 0.0);
    assert!(refused("traces: {propagators: [jaeger]}").contains("unsupported trace propagator"));
    assert!(refused("traces: {sampler: {jaeger_remote: {}}}").contains("Jaeger"));
    assert!(refused("traces: {sampler: {trace_id_ratio_based: {ratio: 2}}}").contains("between 0 and 1"));
}

#[test]
fn views_select_by_wildcard_and_type() {
    let t = parse(
        "metrics:\n  level: detailed\n  views:\n    - selector: {instrument_name: \"otelcol_processor_*\"}\n      stream: {aggregation: {drop: {}}}\n",
    )
    .unwrap();
    let v = &t.metrics.views.unwrap()[0];
    assert!(v.selects("otelcol_processor_incoming_items", "counter") && v.drops());
    assert!(!v.selects("otelcol_receiver_accepted_spans", "counter"));
    assert!(refused("metrics: {level: detailed, views: [{stream: {name: x}}]}").contains("exact instrument_name"));
    assert!(wildcard_match("a?c*", "abcdef") && !wildcard_match("a?c", "abcd"));
}
