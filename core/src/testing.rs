//! Test support for component crates (cargo feature `testing`, enabled in their
//! `[dev-dependencies]` only).
//!
//! - [`parse_config`]: a component config from YAML, deserialized and validated as
//!   `pipelines.yaml` loading does;
//! - [`ChannelSource`]: a receiver that hands its [`Consumers`] to the test, which then sends
//!   payloads as a real receiver would (gates and acknowledgements included);
//! - [`CollectingSink`]: an exporter that hands every payload it is given to the test and
//!   answers with the test's verdict;
//! - [`TestPipeline`]: a real service, `test` source → the processors under test → `test` sink;
//! - payload builders and a reader of weir's own metrics.
//!
//! `weir simulate` uses the same source and sink to replay recorded data through a
//! configuration's processors.

use crate::ack::Failure;
use crate::component::{
    BuildContext, BuildError, ComponentConfig, Exporter, ExporterConfig, ExporterFactory, Receiver, ReceiverFactory,
};
use crate::exporterhelper::ExporterSettings;
use crate::pdata::{Payload, Signal};
use crate::pipeline::{Consumer, Consumers};
use crate::registry::Registry;
use crate::runtime::{Service, ServiceOptions};
use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Parses and validates a component config from YAML, as `pipelines.yaml` loading does; the
/// error is the message alone (no file or location).
pub fn parse_config<C: ComponentConfig>(yaml: &str) -> Result<C, String> {
    let node = crate::config::yaml::parse(yaml, &|_| None).map_err(|e| e.message)?;
    let config: C = node.deserialize().map_err(|e| e.message)?;
    config.validate()?;
    Ok(config)
}

/// Parses and validates an exporter config, its plumbing keys included.
pub fn parse_exporter_config<C: ExporterConfig>(yaml: &str) -> Result<C, String> {
    let config: C = parse_config(yaml)?;
    config.exporter_settings().validate()?;
    Ok(config)
}

/// Settings of the test components: none.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl ComponentConfig for NoSettings {}

impl ExporterConfig for NoSettings {
    /// Each export's real outcome goes to the receiver, at once: no retries, and the queue
    /// acknowledges only once sent.
    fn exporter_settings(&self) -> ExporterSettings {
        let mut s = ExporterSettings::default();
        s.retry.enabled = false;
        s.queue.wait_for_result = true;
        s
    }
}

/// A receiver factory whose receivers hand their [`Consumers`] to the test when started.
pub struct ChannelSource {
    type_name: &'static str,
    consumers: mpsc::UnboundedSender<Consumers>,
}

impl ChannelSource {
    /// A source registered as `type_name`, and where its consumers arrive.
    pub fn new(type_name: &'static str) -> (ChannelSource, mpsc::UnboundedReceiver<Consumers>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ChannelSource { type_name, consumers: tx }, rx)
    }
}

impl ReceiverFactory for ChannelSource {
    type Config = NoSettings;
    fn type_name(&self) -> &'static str {
        self.type_name
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn build(&self, _: &BuildContext, _: &NoSettings) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(ChannelReceiver { consumers: self.consumers.clone() }))
    }
}

struct ChannelReceiver {
    consumers: mpsc::UnboundedSender<Consumers>,
}

#[async_trait]
impl Receiver for ChannelReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        self.consumers.send(consumers).map_err(|_| BuildError::new("the test is gone"))?;
        Ok(tokio::spawn(async move { shutdown.cancelled().await }))
    }
}

/// How a [`CollectingSink`] answers each payload.
pub type Verdict = fn(&Payload) -> Result<(), Failure>;

/// Every export succeeds.
pub fn accept_all(_: &Payload) -> Result<(), Failure> {
    Ok(())
}

/// An exporter factory whose exporters hand every payload to the test and answer `verdict`.
pub struct CollectingSink {
    type_name: &'static str,
    exported: mpsc::UnboundedSender<Payload>,
    verdict: Verdict,
}

impl CollectingSink {
    /// A sink registered as `type_name`, and where the payloads it is given arrive.
    pub fn new(type_name: &'static str, verdict: Verdict) -> (CollectingSink, mpsc::UnboundedReceiver<Payload>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (CollectingSink { type_name, exported: tx, verdict }, rx)
    }
}

impl ExporterFactory for CollectingSink {
    type Config = NoSettings;
    fn type_name(&self) -> &'static str {
        self.type_name
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn build(&self, _: &BuildContext, _: &NoSettings) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(CollectingExporter { exported: self.exported.clone(), verdict: self.verdict }))
    }
}

struct CollectingExporter {
    exported: mpsc::UnboundedSender<Payload>,
    verdict: Verdict,
}

#[async_trait]
impl Exporter for CollectingExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        let verdict = (self.verdict)(&payload);
        let _ = self.exported.send(payload);
        verdict
    }
}

/// The transport name the test source reports.
const TRANSPORT: &str = "test";

/// A running service with one pipeline: `test` source → processors → `test` sink.
pub struct TestPipeline {
    service: Service,
    consumer: Consumer,
    exported: mpsc::UnboundedReceiver<Payload>,
}

impl TestPipeline {
    /// Starts a `signal` pipeline through `chain` (e.g. `"memory_limiter, batch"`), with the
    /// `processors` section given in YAML flow style (e.g. `"{batch: {timeout: 1s}}"`).
    /// `registry` provides the processors; the test components are added to it.
    pub async fn start(
        mut registry: Registry,
        signal: Signal,
        processors: &str,
        chain: &str,
        verdict: Verdict,
    ) -> TestPipeline {
        // Metric handles are bound to the recorder installed when they are created.
        crate::telemetry::prometheus();
        let (source, mut consumers_rx) = ChannelSource::new("test");
        let (sink, exported) = CollectingSink::new("test", verdict);
        registry.add_receiver(source);
        registry.add_exporter(sink);
        let yaml = format!(
            "receivers: {{test: }}\n\
             processors: {processors}\n\
             exporters: {{test: }}\n\
             service: {{pipelines: {{{signal}: {{receivers: [test], processors: [{chain}], exporters: [test]}}}}}}\n"
        );
        let config = crate::config::load_str("test.yaml", &yaml, &registry, &|_| None)
            .unwrap_or_else(|e| panic!("test configuration rejected:\n{e}\n{yaml}"));
        let service = Service::start(&config, &registry, ServiceOptions::default()).await.expect("service starts");
        let consumers: Consumers = consumers_rx.recv().await.expect("the test receiver was started");
        let consumer = consumers.get(signal).cloned().expect("the pipeline routes the test receiver's signal");
        TestPipeline { service, consumer, exported }
    }

    /// Sends like a receiver that answers its client once the data is in the pipeline.
    pub async fn send(&self, payload: Payload) -> Result<(), Failure> {
        self.consumer.consume(payload, TRANSPORT, false).await
    }

    /// Sends like a receiver that answers its client once the data is exported (or failed);
    /// the handle resolves with that outcome.
    pub fn send_and_wait(&self, payload: Payload) -> JoinHandle<Result<(), Failure>> {
        let consumer = self.consumer.clone();
        tokio::spawn(async move { consumer.consume(payload, TRANSPORT, true).await })
    }

    /// [`TestPipeline::send_and_wait`] for a request with client metadata (a receiver with
    /// `include_metadata: true`).
    pub fn send_and_wait_with_metadata(
        &self,
        payload: Payload,
        metadata: crate::ClientMetadata,
    ) -> JoinHandle<Result<(), Failure>> {
        let consumer = self.consumer.clone();
        tokio::spawn(
            async move { consumer.consume_with_metadata(payload, Some(Arc::new(metadata)), TRANSPORT, true).await },
        )
    }

    /// The next payload the exporter received, waiting for it.
    pub async fn next_export(&mut self) -> Payload {
        self.exported.recv().await.expect("the exporter is running")
    }

    /// The next payload the exporter received, if one is waiting.
    pub fn try_next_export(&mut self) -> Option<Payload> {
        self.exported.try_recv().ok()
    }

    /// Whether nothing was exported that the test has not taken yet.
    pub fn nothing_exported(&mut self) -> bool {
        self.exported.try_recv().is_err()
    }

    /// Shuts the service down (pipelines drain) and returns what was exported meanwhile.
    pub async fn shutdown(self) -> Vec<Payload> {
        let TestPipeline { service, consumer, mut exported } = self;
        // The pipelines' inputs only close once every consumer handle is gone.
        drop(consumer);
        service.shutdown().await;
        let mut rest = Vec::new();
        while let Ok(p) = exported.try_recv() {
            rest.push(p);
        }
        rest
    }
}

/// A string `KeyValue`.
pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource { attributes: vec![string_attribute("service.name", service)], ..Default::default() })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope { name: "weir-test".into(), version: "1.0".into(), ..Default::default() })
}

/// A traces request from `svc-{prefix}` with `n` spans named `{prefix}0`, `{prefix}1`, …
pub fn spans(prefix: &str, n: usize) -> Payload {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![0x11; 16],
            span_id: ((i as u64) + 1).to_be_bytes().to_vec(),
            name: format!("{prefix}{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            attributes: vec![string_attribute("http.route", "/checkout")],
            ..Default::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(&format!("svc-{prefix}")),
            scope_spans: vec![ScopeSpans { scope: scope(), spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, request.encode_to_vec().into()).expect("a valid traces request")
}

/// A logs request with `n` log records.
pub fn log_records(n: usize) -> Payload {
    let log_records = (0..n)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            severity_text: "INFO".into(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("line {i}"))) }),
            ..Default::default()
        })
        .collect();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("svc-logs"),
            scope_logs: vec![ScopeLogs { scope: scope(), log_records, ..Default::default() }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Logs, request.encode_to_vec().into()).expect("a valid logs request")
}

/// The span names of a traces payload, in order.
pub fn span_names(payload: &Payload) -> Vec<String> {
    let request = payload.decode_traces().expect("an exported payload decodes");
    request
        .resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .map(|s| s.name.clone())
        .collect()
}

/// The value of a metric series in weir's Prometheus output, `_total` suffix or not.
pub fn metric_value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = crate::telemetry::prometheus().render();
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let name_matches = metric == name || metric.strip_suffix("_total") == Some(name);
        let labels_match = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (name_matches && labels_match).then(|| value.parse().ok()).flatten()
    })
}
