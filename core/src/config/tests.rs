//! `pipelines.yaml` as a user meets it: each test is a small file and the exact messages weir
//! prints for it (`file:line:column: key path: message`).
//!
//! The registry holds fake components (nothing is started by loading):
//!
//! | kind      | type            | signals                 |
//! |-----------|-----------------|-------------------------|
//! | receiver  | `otlp`          | traces, metrics, logs   |
//! | receiver  | `filelog`       | logs                    |
//! | processor | `batch`         | traces, metrics, logs   |
//! | processor | `tail_sampling` | traces                  |
//! | exporter  | `debug`         | traces, metrics, logs   |
//! | exporter  | `otlp`          | traces, metrics, logs   |
//! | exporter  | `prometheus`    | metrics                 |
//! | connector | `forward`, `otlp` | traces → traces, logs → logs, traces → metrics |
//! | extension | `health_check`  |                         |

use super::*;
use crate::component::ExporterConfig;
use crate::component::{
    BuildContext, BuildError, ComponentConfig, Connector, ConnectorFactory, Exporter, ExporterFactory, Extension,
    ExtensionFactory, Processor, ProcessorFactory, Receiver, ReceiverFactory,
};
use crate::exporterhelper::ExporterSettings;
use crate::registry::Registry;
use serde::Deserialize;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Fake components
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct OtlpReceiverConfig {
    protocols: Protocols,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Protocols {
    grpc: Option<ServerConfig>,
    http: Option<ServerConfig>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct ServerConfig {
    endpoint: String,
    max_recv_msg_size_mib: u64,
}

impl ComponentConfig for OtlpReceiverConfig {}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct FilelogConfig {
    include: Vec<String>,
    start_at: String,
}

impl ComponentConfig for FilelogConfig {}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct BatchConfig {
    send_batch_size: u32,
    #[serde(with = "crate::config::duration")]
    timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { send_batch_size: 8192, timeout: Duration::from_millis(200) }
    }
}

impl ComponentConfig for BatchConfig {
    fn validate(&self) -> Result<(), String> {
        if self.send_batch_size == 0 {
            return Err("send_batch_size must be greater than 0".into());
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct TailSamplingConfig {
    decision_wait: String,
    decision_wait_after_root_received: String,
    policies: Vec<PolicyConfig>,
}

/// The shape of the default pipeline's `adaptive` policy.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct PolicyConfig {
    name: String,
    #[serde(rename = "type")]
    policy_type: String,
    adaptive: Option<AdaptiveConfig>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct AdaptiveConfig {
    target_spans_per_sec: f64,
    key_fields: Vec<String>,
    priority: PriorityConfig,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct PriorityConfig {
    errors: bool,
    latency_quantile: f64,
    latency_threshold: String,
    max_share: f64,
}

impl ComponentConfig for TailSamplingConfig {}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct DebugConfig {
    verbosity: String,
}

impl Default for DebugConfig {
    fn default() -> Self {
        DebugConfig { verbosity: "basic".into() }
    }
}

impl ComponentConfig for DebugConfig {}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct OtlpExporterConfig {
    endpoint: String,
    compression: String,
}

impl ComponentConfig for OtlpExporterConfig {}

/// The fake exporters have the plumbing's defaults.
macro_rules! default_plumbing {
    ($($config:ty),*) => {$(
        impl ExporterConfig for $config {
            fn exporter_settings(&self) -> ExporterSettings {
                ExporterSettings::default()
            }
        }
    )*};
}
default_plumbing!(DebugConfig, OtlpExporterConfig, ParquetConfig);

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct HealthCheckConfig {
    endpoint: String,
    path: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig { endpoint: "localhost:13133".into(), path: "/".into() }
    }
}

impl ComponentConfig for HealthCheckConfig {}

/// A factory of any kind: a type name, its signals and its config type.
struct Fake<C> {
    name: &'static str,
    signals: &'static [Signal],
    config: PhantomData<fn() -> C>,
}

fn fake<C>(name: &'static str, signals: &'static [Signal]) -> Fake<C> {
    Fake { name, signals, config: PhantomData }
}

fn not_built() -> BuildError {
    BuildError::new("fake components are never built")
}

impl<C: ComponentConfig> ReceiverFactory for Fake<C> {
    type Config = C;
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn signals(&self) -> &'static [Signal] {
        self.signals
    }
    fn build(&self, _: &BuildContext, _: &C) -> Result<Box<dyn Receiver>, BuildError> {
        Err(not_built())
    }
}

impl<C: ComponentConfig> ProcessorFactory for Fake<C> {
    type Config = C;
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn signals(&self) -> &'static [Signal] {
        self.signals
    }
    fn build(&self, _: &BuildContext, _: &C) -> Result<Box<dyn Processor>, BuildError> {
        Err(not_built())
    }
}

impl<C: ExporterConfig> ExporterFactory for Fake<C> {
    type Config = C;
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn signals(&self) -> &'static [Signal] {
        self.signals
    }
    fn build(&self, _: &BuildContext, _: &C) -> Result<Arc<dyn Exporter>, BuildError> {
        Err(not_built())
    }
}

impl<C: ComponentConfig> ConnectorFactory for Fake<C> {
    type Config = C;
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn signal_pairs(&self) -> &'static [(Signal, Signal)] {
        &[(Signal::Traces, Signal::Traces), (Signal::Logs, Signal::Logs), (Signal::Traces, Signal::Metrics)]
    }
    fn build(&self, _: &BuildContext, _: &C, _: Signal, _: Signal) -> Result<Box<dyn Connector>, BuildError> {
        Err(not_built())
    }
}

impl<C: ComponentConfig> ExtensionFactory for Fake<C> {
    type Config = C;
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn build(&self, _: &BuildContext, _: &C) -> Result<Box<dyn Extension>, BuildError> {
        Err(not_built())
    }
}

const ALL: &[Signal] = &Signal::ALL;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_receiver(fake::<OtlpReceiverConfig>("otlp", ALL));
    r.add_receiver(fake::<FilelogConfig>("filelog", &[Signal::Logs]));
    r.add_processor(fake::<BatchConfig>("batch", ALL));
    r.add_processor(fake::<TailSamplingConfig>("tail_sampling", &[Signal::Traces]));
    r.add_exporter(fake::<DebugConfig>("debug", ALL));
    r.add_exporter(fake::<OtlpExporterConfig>("otlp", ALL));
    r.add_exporter(fake::<DebugConfig>("prometheus", &[Signal::Metrics]));
    r.add_extension(fake::<HealthCheckConfig>("health_check", &[]));
    r.add_connector(fake::<HealthCheckConfig>("forward", &[]));
    // A connector type with a receiver type's name, as the Collector's `nop` components have.
    r.add_connector(fake::<HealthCheckConfig>("otlp", &[]));
    r
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Removes the first (empty) line and the indentation common to all lines, so that a file can
/// be written indented inside a test; line 1 is the first line after the opening quote.
fn dedent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min();
    let indent = indent.unwrap_or(0);
    text.lines().map(|l| if l.len() >= indent { &l[indent..] } else { "" }).collect::<Vec<_>>().join("\n") + "\n"
}

fn test_env(name: &str) -> Option<String> {
    match name {
        "GRPC_ENDPOINT" => Some("0.0.0.0:4317".into()),
        "MAX_MIB" => Some("16".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    load_str("pipelines.yaml", &dedent(text), &registry(), &test_env)
}

/// The messages, one per problem, as `weir validate` prints them.
#[track_caller]
fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("the configuration was accepted:\n{}", dedent(text)),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[track_caller]
fn loads(text: &str) -> Config {
    match load(text) {
        Ok(c) => c,
        Err(e) => panic!("the configuration was refused:\n{e}"),
    }
}

fn config_of<'c, C: 'static>(config: &'c Config, kind: Kind, id: &str) -> &'c C {
    let id = ComponentId::parse(id).unwrap();
    let entry = config.section(kind).get(&id).unwrap_or_else(|| panic!("{id} is not configured"));
    entry.config.downcast_ref::<C>().expect("the config type of the factory")
}

fn id(s: &str) -> ComponentId {
    ComponentId::parse(s).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Files that load
// ---------------------------------------------------------------------------------------------

#[test]
fn a_complete_file_loads_with_every_component_and_pipeline() {
    let config = loads(
        r#"
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: localhost:4317
              http:
          filelog/app:
            include: [/var/log/app.log]
        processors:
          batch:
          batch/big:
            send_batch_size: 10000
            timeout: 1s
          tail_sampling:
        exporters:
          debug:
            verbosity: detailed
          otlp/backend:
            endpoint: backend:4317
        extensions:
          health_check:
        service:
          extensions: [health_check]
          pipelines:
            traces:
              receivers: [otlp]
              processors: [tail_sampling, batch/big]
              exporters: [otlp/backend, debug]
            logs/files:
              receivers: [filelog/app, otlp]
              processors: [batch]
              exporters: [debug]
        "#,
    );
    assert_eq!(config.file, "pipelines.yaml");
    assert_eq!(config.receivers.keys().map(ToString::to_string).collect::<Vec<_>>(), ["filelog/app", "otlp"]);
    assert_eq!(config.receivers[&id("otlp")].loc, Location { line: 2, column: 3 });
    let otlp: &OtlpReceiverConfig = config_of(&config, Kind::Receiver, "otlp");
    assert_eq!(
        otlp.protocols,
        Protocols {
            grpc: Some(ServerConfig { endpoint: "localhost:4317".into(), max_recv_msg_size_mib: 0 }),
            http: None
        }
    );
    let big: &BatchConfig = config_of(&config, Kind::Processor, "batch/big");
    assert_eq!(*big, BatchConfig { send_batch_size: 10000, timeout: Duration::from_secs(1) });
    let batch: &BatchConfig = config_of(&config, Kind::Processor, "batch");
    assert_eq!(*batch, BatchConfig::default(), "an empty section means the defaults");
    let debug: &DebugConfig = config_of(&config, Kind::Exporter, "debug");
    assert_eq!(debug.verbosity, "detailed");
    let health: &HealthCheckConfig = config_of(&config, Kind::Extension, "health_check");
    assert_eq!(health.endpoint, "localhost:13133");
    assert_eq!(config.service_extensions, [id("health_check")]);

    assert_eq!(config.pipelines.len(), 2);
    let traces = &config.pipelines[0];
    assert_eq!((traces.id.as_str(), traces.signal), ("traces", Signal::Traces));
    assert_eq!(traces.receivers, [id("otlp")]);
    assert_eq!(traces.processors, [id("tail_sampling"), id("batch/big")], "processors keep their order");
    assert_eq!(traces.exporters, [id("otlp/backend"), id("debug")]);
    let logs = &config.pipelines[1];
    assert_eq!((logs.id.as_str(), logs.signal), ("logs/files", Signal::Logs));
    assert_eq!(logs.receivers, [id("filelog/app"), id("otlp")]);
}

#[test]
fn the_default_pipelines_yaml_loads() {
    let mut registry = registry();
    registry.add_processor(fake::<MemoryLimiterConfig>("memory_limiter", ALL));
    registry.add_exporter(fake::<ParquetConfig>("parquet", ALL));
    let config = load_str("pipelines.yaml", DEFAULT_PIPELINES_YAML, &registry, &|_| None).unwrap();
    assert_eq!(config.pipelines.len(), 3);
    assert_eq!(config.telemetry.metrics.endpoint().as_deref(), Some("localhost:8888"));
    let otlp: &OtlpReceiverConfig = config_of(&config, Kind::Receiver, "otlp");
    assert_eq!(otlp.protocols.grpc.as_ref().unwrap().endpoint, "localhost:4317");
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MemoryLimiterConfig {
    #[serde(with = "crate::config::duration")]
    check_interval: Duration,
    limit_percentage: u32,
    spike_limit_percentage: u32,
}

impl ComponentConfig for MemoryLimiterConfig {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ParquetConfig {
    path: String,
}

impl ComponentConfig for ParquetConfig {}

// ---------------------------------------------------------------------------------------------
// Environment variables
// ---------------------------------------------------------------------------------------------

#[test]
fn env_references_reach_component_configs() {
    let config = loads(
        r#"
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: ${env:GRPC_ENDPOINT}
                max_recv_msg_size_mib: ${env:MAX_MIB}
              http:
                endpoint: ${env:HTTP_ENDPOINT:-localhost:4318}
        exporters:
          otlp:
            endpoint: "${env:GRPC_ENDPOINT:-unused}"
            compression: ${env:EMPTY:-gzip}
          debug:
            verbosity: $${env:GRPC_ENDPOINT}
        service:
          pipelines:
            traces:
              receivers: [otlp]
              exporters: [otlp, debug]
        "#,
    );
    let otlp: &OtlpReceiverConfig = config_of(&config, Kind::Receiver, "otlp");
    let grpc = otlp.protocols.grpc.as_ref().unwrap();
    assert_eq!(grpc.endpoint, "0.0.0.0:4317", "${{env:X}} is the variable's value");
    assert_eq!(grpc.max_recv_msg_size_mib, 16, "an expanded plain scalar is typed like one written out");
    assert_eq!(otlp.protocols.http.as_ref().unwrap().endpoint, "localhost:4318", "${{env:X:-d}} is d when X is unset");
    let exporter: &OtlpExporterConfig = config_of(&config, Kind::Exporter, "otlp");
    assert_eq!(exporter.endpoint, "0.0.0.0:4317", "the default is not used when X is set, even in quotes");
    assert_eq!(exporter.compression, "", "a variable set to the empty string is used as it is");
    let debug: &DebugConfig = config_of(&config, Kind::Exporter, "debug");
    assert_eq!(debug.verbosity, "${env:GRPC_ENDPOINT}", "$$ escapes a dollar");
}

#[test]
fn an_unset_env_reference_without_default_is_empty() {
    let config = loads(
        r#"
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: ${env:NOT_SET}
        exporters:
          debug:
        service:
          pipelines:
            traces:
              receivers: [otlp]
              exporters: [debug]
        "#,
    );
    let otlp: &OtlpReceiverConfig = config_of(&config, Kind::Receiver, "otlp");
    assert_eq!(otlp.protocols.grpc.as_ref().unwrap().endpoint, "");
}

#[test]
fn a_bad_env_reference_is_located_at_its_scalar() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
                protocols:
                  grpc:
                    endpoint: ${env:1PORT}
            "#
        ),
        [r#"pipelines.yaml:5:19: environment variable name "1PORT" is invalid: it must match [a-zA-Z_][a-zA-Z0-9_]*"#]
    );
    assert_eq!(
        errors(
            r#"
            exporters:
              otlp:
                endpoint: ${file:/etc/endpoint}
            "#
        ),
        [
            r#"pipelines.yaml:3:15: config source "file" in "${file:/etc/endpoint}" is not supported; weir reads "${env:NAME}" and "${env:NAME:-default}""#
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// service::telemetry
// ---------------------------------------------------------------------------------------------

const MINIMAL_PIPELINE: &str = "
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]";

fn with_service(service_body: &str) -> String {
    format!("receivers:\n  otlp:\nexporters:\n  debug:\nservice:\n{service_body}{MINIMAL_PIPELINE}\n")
}

#[test]
fn telemetry_defaults_to_info_console_logs_and_metrics_on_localhost_8888() {
    let config = loads(&with_service(""));
    let t = &config.telemetry;
    assert_eq!((t.logs.level.as_str(), t.logs.encoding), ("info", telemetry::LogEncoding::Console));
    assert_eq!((t.metrics.level.as_str(), t.metrics.address.as_deref()), ("normal", None));
    assert!(t.metrics.readers.is_none(), "the default reader is implied, not written");
    assert_eq!(t.metrics.endpoint().as_deref(), Some("localhost:8888"));

    let config = loads(&with_service("  telemetry:\n    logs:\n      encoding: json\n"));
    let t = &config.telemetry;
    assert_eq!(
        (t.logs.level.as_str(), t.logs.encoding),
        ("info", telemetry::LogEncoding::Json),
        "unset keys keep defaults"
    );
    assert_eq!(t.metrics.endpoint().as_deref(), Some("localhost:8888"));
}

#[test]
fn telemetry_metrics_endpoint_from_address_reader_or_level_none() {
    let config = loads(&with_service("  telemetry:\n    metrics:\n      address: 0.0.0.0:9999\n"));
    assert_eq!(config.telemetry.metrics.endpoint().as_deref(), Some("0.0.0.0:9999"));

    let readers = "  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 0.0.0.0
                port: 8889
";
    let config = loads(&with_service(readers));
    assert_eq!(config.telemetry.metrics.endpoint().as_deref(), Some("0.0.0.0:8889"), "a reader wins over address");

    let config = loads(&with_service("  telemetry:\n    metrics:\n      level: none\n"));
    assert_eq!(config.telemetry.metrics.endpoint(), None);
}

#[test]
fn telemetry_unknown_key_lists_the_valid_keys() {
    assert_eq!(
        errors(&with_service("  telemetry:\n    logs:\n      levle: debug\n")),
        ["pipelines.yaml:8:7: service::telemetry::logs: unknown field `levle`, expected one of `level`, `development`, `encoding`, `disable_caller`, `disable_stacktrace`, `sampling`, `output_paths`, `error_output_paths`, `initial_fields`, `processors`, `disable_zap_resource`"]
    );
    assert_eq!(
        errors(&with_service("  telemetry:\n    tracez:\n      level: none\n")),
        ["pipelines.yaml:7:5: service::telemetry: unknown field `tracez`, expected one of `logs`, `metrics`, `traces`, `resource`"]
    );
    assert_eq!(
        errors(&with_service("  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: x\n                port: http\n")),
        [r#"pipelines.yaml:13:23: service::telemetry::metrics::readers[0]::pull::exporter::prometheus::port: expected a non-negative integer, found "http""#]
    );
}

// ---------------------------------------------------------------------------------------------
// Sections and component ids
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_top_level_section_lists_the_valid_sections() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            exporters:
              debug:
            procesors:
              batch:
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [debug]
            "#
        ),
        [
            r#"pipelines.yaml:5:1: unknown section "procesors" (valid sections: receivers, processors, exporters, connectors, extensions, service)"#
        ]
    );
}

#[test]
fn a_file_without_service_says_what_service_is_for() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            "#
        ),
        [r#"pipelines.yaml:1:1: service: missing section "service": it lists the pipelines to run"#]
    );
    assert_eq!(
        errors("- receivers\n"),
        ["pipelines.yaml:1:1: the configuration must be a mapping with receivers, processors, exporters, extensions and service"]
    );
}

#[test]
fn unknown_component_type_lists_the_valid_types() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
              otlpp/in:
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp, otlpp/in]
                  exporters: [debug]
            "#
        ),
        // The pipeline's reference to it is not reported again as "not configured".
        [r#"pipelines.yaml:3:3: receivers: unknown type: "otlpp" for id: "otlpp/in" (valid values: [filelog, otlp])"#]
    );
}

#[test]
fn a_connector_joins_pipelines_possibly_of_other_signals() {
    let config = loads(
        r#"
        receivers: {otlp: }
        exporters: {debug: }
        connectors: {forward: , forward/metrics: }
        service:
          pipelines:
            traces/in: {receivers: [otlp], exporters: [forward, forward/metrics]}
            traces/out: {receivers: [forward], exporters: [debug]}
            metrics: {receivers: [forward/metrics], exporters: [debug]}
        "#,
    );
    assert!(config.is_connector(&id("forward")));
    assert_eq!(config.pipelines[0].exporters, [id("forward"), id("forward/metrics")]);
    assert_eq!(config.pipelines[1].receivers, [id("forward")]);
}

#[test]
fn a_connector_used_on_one_side_only_is_refused() {
    let text = r#"
        receivers: {otlp: }
        exporters: {debug: }
        connectors: {forward: }
        service:
          pipelines:
            traces: {receivers: [otlp], exporters: [forward, debug]}
        "#;
    assert_eq!(
        errors(text),
        [
            r#"pipelines.yaml:3:14: connectors::forward: connector "forward" used as exporter in [traces] pipeline but not used in any supported receiver pipeline"#
        ]
    );
    let text = r#"
        receivers: {otlp: }
        exporters: {debug: }
        connectors: {forward: }
        service:
          pipelines:
            traces: {receivers: [otlp], exporters: [forward]}
            logs: {receivers: [forward], exporters: [debug]}
        "#;
    assert_eq!(
        errors(text),
        [
            r#"pipelines.yaml:3:14: connectors::forward: connector "forward" used as exporter in [traces] pipeline but not used in any supported receiver pipeline"#,
            r#"pipelines.yaml:3:14: connectors::forward: connector "forward" used as receiver in [logs] pipeline but not used in any supported exporter pipeline"#,
        ]
    );
}

#[test]
fn pipelines_joined_into_a_cycle_are_refused() {
    let text = r#"
        receivers: {otlp: }
        exporters: {debug: }
        connectors: {forward: }
        service:
          pipelines:
            traces/in: {receivers: [forward], exporters: [forward]}
            traces/out: {receivers: [forward], exporters: [forward]}
        "#;
    assert_eq!(
        errors(text),
        [
            r#"pipelines.yaml:3:14: service::pipelines: cycle detected: connector "forward" (traces to traces) -> connector "forward" (traces to traces)"#
        ]
    );
}

#[test]
fn an_id_both_connector_and_receiver_is_ambiguous() {
    let text = r#"
        receivers: {otlp: }
        exporters: {debug: }
        connectors: {otlp: }
        service:
          pipelines:
            traces: {receivers: [otlp], exporters: [debug]}
        "#;
    let errs = errors(text);
    assert!(
        errs[0].contains(r#"connectors::otlp: ambiguous ID: Found both "otlp" receiver and "otlp" connector"#),
        "{errs:?}"
    );
}

#[test]
fn sections_of_the_wrong_shape_say_what_was_expected() {
    assert_eq!(
        errors(
            r#"
            receivers: [otlp]
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: otlp
                  exporters: [debug]
                logs: [otlp, debug]
            "#
        ),
        [
            "pipelines.yaml:1:12: receivers: must be a mapping from component ids to their settings",
            "pipelines.yaml:7:18: service::pipelines::traces: must be a list of component ids",
            "pipelines.yaml:9:11: service::pipelines::logs: must be a mapping with receivers, processors and exporters",
        ]
    );
}

#[test]
fn bad_component_ids_are_refused_where_they_are_written() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp/:
              /grpc:
              otlp/a b:
              1otlp:
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp/]
                  exporters: [debug]
            "#
        ),
        [
            r#"pipelines.yaml:2:3: receivers: in "otlp/" id: the part after / should not be empty"#,
            r#"pipelines.yaml:3:3: receivers: in "/grpc" id: the part before / should not be empty"#,
            r#"pipelines.yaml:4:3: receivers: in "otlp/a b" id: invalid character(s) in name "a b""#,
            r#"pipelines.yaml:5:3: receivers: in "1otlp" id: invalid character(s) in type "1otlp""#,
            r#"pipelines.yaml:11:19: service::pipelines::traces: in "otlp/" id: the part after / should not be empty"#,
        ]
    );
}

#[test]
fn unknown_key_inside_a_component_is_located_and_lists_the_valid_keys() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
                protocols:
                  grpc:
                    endpoint: localhost:4317
                    max_recv_msg_size: 16
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [debug]
            "#
        ),
        ["pipelines.yaml:6:9: receivers::otlp::protocols::grpc: unknown field `max_recv_msg_size`, expected `endpoint` or `max_recv_msg_size_mib`"]
    );
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            processors:
              batch:
                send_batch_size: 10
                timeot: 1s
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [batch]
                  exporters: [debug]
            "#
        ),
        ["pipelines.yaml:6:5: processors::batch: unknown field `timeot`, expected `send_batch_size` or `timeout`"]
    );
}

#[test]
fn bad_values_inside_a_component_are_located_at_the_value() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            processors:
              batch:
                send_batch_size: lots
                timeout: 5
              batch/zero:
                send_batch_size: 0
            exporters:
              debug:
                verbosity: [a]
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [batch, batch/zero]
                  exporters: [debug]
            "#
        ),
        [
            r#"pipelines.yaml:5:22: processors::batch::send_batch_size: expected a non-negative integer, found "lots""#,
            r#"pipelines.yaml:8:5: processors::batch/zero: send_batch_size must be greater than 0"#,
            r#"pipelines.yaml:11:16: exporters::debug::verbosity: expected a string, found a sequence"#,
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Pipelines
// ---------------------------------------------------------------------------------------------

#[test]
fn references_to_unconfigured_components_are_located_at_the_reference() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            processors:
              batch:
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp, otlp/2]
                  processors:
                    - batch
                    - batch/x
                  exporters: [debug, logging]
            "#
        ),
        [
            r#"pipelines.yaml:10:25: service::pipelines::traces: references receiver "otlp/2" which is not configured (add it under "receivers:")"#,
            r#"pipelines.yaml:13:11: service::pipelines::traces: references processor "batch/x" which is not configured (add it under "processors:")"#,
            r#"pipelines.yaml:14:26: service::pipelines::traces: references exporter "logging" which is not configured, and weir has no exporter type "logging" (the Collector replaced it with `debug`)"#,
        ]
    );
}

#[test]
fn service_extensions_must_be_configured() {
    assert_eq!(
        errors(&with_service("  extensions: [health_check]\n")),
        [r#"pipelines.yaml:6:16: service::extensions: references extension "health_check" which is not configured"#]
    );
}

#[test]
fn a_pipeline_whose_only_receiver_is_refused_gets_one_error_for_it() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
              filelog:
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlpp]
                  exporters: [debug]
                metrics:
                  receivers: [filelog]
                  exporters: [debug]
            "#
        ),
        [
            r#"pipelines.yaml:9:19: service::pipelines::traces: references receiver "otlpp" which is not configured, and weir has no receiver type "otlpp" (receivers weir has: filelog, otlp; connectors: forward, otlp)"#,
            r#"pipelines.yaml:12:19: service::pipelines::metrics: receiver "filelog" does not support metrics (it supports: logs)"#,
        ]
    );
}

#[test]
fn a_pipeline_needs_receivers_and_exporters() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  exporters: [debug]
                metrics:
                  receivers: [otlp]
                  exporters: []
                logs:
            "#
        ),
        [
            "pipelines.yaml:7:5: service::pipelines::traces: must have at least one receiver",
            "pipelines.yaml:9:5: service::pipelines::metrics: must have at least one exporter",
            "pipelines.yaml:12:5: service::pipelines::logs: must have at least one receiver",
            "pipelines.yaml:12:5: service::pipelines::logs: must have at least one exporter",
        ]
    );
}

#[test]
fn a_component_in_a_pipeline_of_a_signal_it_does_not_support() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
              filelog:
            processors:
              tail_sampling:
            exporters:
              prometheus:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp, filelog]
                  exporters: [debug, prometheus]
                metrics:
                  receivers: [otlp]
                  processors: [tail_sampling]
                  exporters: [prometheus]
            "#
        ),
        [
            r#"pipelines.yaml:12:25: service::pipelines::traces: receiver "filelog" does not support traces (it supports: logs)"#,
            r#"pipelines.yaml:13:26: service::pipelines::traces: exporter "prometheus" does not support traces (it supports: metrics)"#,
            r#"pipelines.yaml:16:20: service::pipelines::metrics: processor "tail_sampling" does not support metrics (it supports: traces)"#,
        ]
    );
}

#[test]
fn a_processor_listed_twice_in_one_pipeline() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            processors:
              batch:
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [batch, batch]
                  exporters: [debug]
                logs:
                  receivers: [otlp]
                  processors: [batch]
                  exporters: [debug]
            "#
        ),
        [r#"pipelines.yaml:11:27: service::pipelines::traces: references processor "batch" multiple times"#]
    );
}

#[test]
fn unknown_pipeline_signal_lists_the_valid_signals() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            exporters:
              debug:
            service:
              pipelines:
                trace:
                  receivers: [otlp]
                  exporters: [debug]
                logs:
                  receivers: [otlp]
                  exporters: [debug]
                profiles/x:
                  receivers: [otlp]
                  exporters: [debug]
            "#
        ),
        [
            r#"pipelines.yaml:7:5: service::pipelines: pipeline id "trace": unknown signal "trace" (valid signals: traces, metrics, logs)"#,
            r#"pipelines.yaml:13:5: service::pipelines: pipeline id "profiles/x": unknown signal "profiles" (valid signals: traces, metrics, logs)"#,
        ]
    );
}

#[test]
fn a_service_without_pipelines() {
    let head = "receivers:\n  otlp:\nexporters:\n  debug:\n";
    let expected = ["pipelines.yaml:6:3: service: must have at least one pipeline"];
    assert_eq!(errors(&format!("{head}service:\n  extensions: []\n")), expected);
    assert_eq!(errors(&format!("{head}service:\n  pipelines:\n")), expected);
    assert_eq!(errors(&format!("{head}service:\n  pipelines: {{}}\n")), expected);
    assert_eq!(errors(&format!("{head}service:\n")), ["pipelines.yaml:5:1: service: must have at least one pipeline"]);
}

#[test]
fn unknown_keys_in_service_and_in_a_pipeline() {
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
            exporters:
              debug:
            service:
              pipeline: {}
              pipelines:
                traces:
                  receivers: [otlp]
                  exporter: [debug]
                  exporters: [debug]
            "#
        ),
        [
            r#"pipelines.yaml:6:3: service: unknown key "pipeline" (valid keys: extensions, pipelines, telemetry)"#,
            r#"pipelines.yaml:10:7: service::pipelines::traces: unknown key "exporter" (valid keys: receivers, processors, exporters)"#,
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Several problems at once
// ---------------------------------------------------------------------------------------------

#[test]
fn every_problem_is_reported_at_once_sorted_by_line() {
    let err = load(
        r#"
        service:
          pipelines:
            traces:
              receivers: [otlp, zipkin]
              processors: [batch]
              exporters: [debug]
            metrics:
              receivers: [filelog]
              exporters: [debug]
        receivers:
          otlp:
            protocols:
              grpc:
                endpont: x
          filelog:
        processors:
          batch:
            timeout: 5 seconds
        exporters:
          debug:
        extension:
          health_check:
        "#,
    )
    .err()
    .expect("refused");
    assert_eq!(
        err.to_string(),
        [
            r#"pipelines.yaml:4:25: service::pipelines::traces: references receiver "zipkin" which is not configured, and weir has no receiver type "zipkin" (receivers weir has: filelog, otlp; connectors: forward, otlp)"#,
            r#"pipelines.yaml:8:19: service::pipelines::metrics: receiver "filelog" does not support metrics (it supports: logs)"#,
            r#"pipelines.yaml:14:9: receivers::otlp::protocols::grpc: unknown field `endpont`, expected `endpoint` or `max_recv_msg_size_mib`"#,
            r#"pipelines.yaml:18:14: processors::batch::timeout: invalid duration "5 seconds": unknown unit " seconds" (use ns, us, ms, s, m, h)"#,
            r#"pipelines.yaml:21:1: unknown section "extension" (valid sections: receivers, processors, exporters, connectors, extensions, service)"#,
        ]
        .join("\n")
    );
}

#[test]
fn yaml_syntax_errors_are_located() {
    let errs = errors("receivers:\n  otlp: [a, b\nexporters:\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0], "pipelines.yaml:3:10: invalid YAML: illegal placement of ':' indicator");
}

#[test]
fn a_key_defined_twice_is_refused() {
    // Without this the second `otlp` would silently replace the first.
    assert_eq!(
        errors(
            r#"
            receivers:
              otlp:
                protocols:
                  grpc:
              otlp:
            exporters:
              debug:
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [debug]
            "#
        ),
        [r#"pipelines.yaml:5:3: mapping key "otlp" already defined at line 2"#]
    );
}

#[test]
fn load_file_names_the_file_and_reports_unreadable_files() {
    let dir = std::env::temp_dir().join(format!("weir-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    std::fs::write(&path, with_service("").replace("  otlp:\n", "  otlp:\n  nope:\n")).unwrap();
    let err = load_file(&path, &registry()).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            r#"{}:3:3: receivers: unknown type: "nope" for id: "nope" (valid values: [filelog, otlp])"#,
            path.display()
        )
    );
    let missing = dir.join("missing.yaml");
    let err = load_file(&missing, &registry()).err().unwrap();
    assert_eq!(err.0.len(), 1);
    assert!(
        err.to_string().starts_with(&format!("{}: cannot read the configuration file: ", missing.display())),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Queued {
    sending_queue: QueueKeys,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct QueueKeys {
    queue_size: u64,
}

impl ComponentConfig for Queued {
    fn validate(&self) -> Result<(), String> {
        match self.sending_queue.queue_size {
            0 => Err("sending_queue::queue_size must be greater than 0".into()),
            _ => Ok(()),
        }
    }
}

default_plumbing!(Queued);

#[test]
fn a_validation_error_points_at_the_key_it_names() {
    let mut registry = registry();
    registry.add_exporter(fake::<Queued>("queued", ALL));
    let text = dedent(
        r#"
        receivers:
          otlp:
        exporters:
          queued:
            sending_queue:
              queue_size: 0
          queued/defaults:
        service:
          pipelines:
            traces: {receivers: [otlp], exporters: [queued, queued/defaults]}
        "#,
    );
    let errs: Vec<String> = load_str("pipelines.yaml", &text, &registry, &|_| None)
        .err()
        .expect("refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            // At `queue_size`, not at the component.
            "pipelines.yaml:6:7: exporters::queued: sending_queue::queue_size must be greater than 0",
            // The key is not written (its default is invalid): at the component.
            "pipelines.yaml:7:3: exporters::queued/defaults: sending_queue::queue_size must be greater than 0",
        ]
    );
}

#[test]
fn a_key_path_locates_list_elements_and_stops_at_the_deepest_key_present() {
    let node = yaml::parse("a:\n  b:\n    - x: 1\n    - y: 2\n", &|_| None).unwrap();
    assert_eq!(node.locate("a::b[1]::y"), (Location { line: 4, column: 7 }, true));
    assert_eq!(node.locate("a::b[1]"), (Location { line: 4, column: 7 }, true));
    assert_eq!(node.locate("a::c"), (Location { line: 1, column: 1 }, false));
    assert_eq!(node.locate("a::b[5]"), (Location { line: 2, column: 3 }, false));
}
