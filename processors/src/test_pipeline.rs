//! A real weir service around the processors under test.
//!
//! `test` receiver → the processors named in the test → `test` exporter, loaded from YAML and
//! started with [`Service::start`]. The receiver hands its [`Consumers`] to the test, which sends
//! payloads through them as a real receiver would (gates included); the exporter records every
//! payload it is given and answers with the test's verdict. Payloads are built from
//! `opentelemetry_proto` types, encoded, as clients send them.

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
use weir_core::component::BuildContext;
use weir_core::exporterhelper::ExporterSettings;
use weir_core::runtime::{Service, ServiceOptions};
use weir_core::{
    BuildError, ComponentConfig, Consumer, Consumers, Exporter, ExporterFactory, Failure, Payload, Receiver,
    ReceiverFactory, Registry, Signal,
};

/// The transport name the test receiver reports.
const TRANSPORT: &str = "test";

/// How the test exporter answers each payload.
pub(crate) type Verdict = fn(&Payload) -> Result<(), Failure>;

/// Every export succeeds.
pub(crate) fn accept_all(_: &Payload) -> Result<(), Failure> {
    Ok(())
}

/// A running service with one pipeline: `test` receiver → processors → `test` exporter.
pub(crate) struct TestPipeline {
    service: Service,
    consumer: Consumer,
    exported: mpsc::UnboundedReceiver<Payload>,
}

impl TestPipeline {
    /// Starts a `signal` pipeline through `chain` (e.g. `"memory_limiter, batch"`), with the
    /// `processors` section given in YAML flow style (e.g. `"{batch: {timeout: 1s}}"`).
    /// `registry` provides the processors; the test components are added to it.
    pub(crate) async fn start(
        mut registry: Registry,
        signal: Signal,
        processors: &str,
        chain: &str,
        verdict: Verdict,
    ) -> TestPipeline {
        // Metric handles are bound to the recorder installed when they are created.
        weir_core::telemetry::prometheus();
        let (consumers_tx, mut consumers_rx) = mpsc::unbounded_channel();
        let (exported_tx, exported) = mpsc::unbounded_channel();
        registry.add_receiver(TestReceiverFactory { consumers: consumers_tx });
        registry.add_exporter(TestExporterFactory { exported: exported_tx, verdict });
        let yaml = format!(
            "receivers: {{test: }}\n\
             processors: {processors}\n\
             exporters: {{test: }}\n\
             service: {{pipelines: {{{signal}: {{receivers: [test], processors: [{chain}], exporters: [test]}}}}}}\n"
        );
        let config = weir_core::config::load_str("test.yaml", &yaml, &registry, &|_| None)
            .unwrap_or_else(|e| panic!("test configuration rejected:\n{e}\n{yaml}"));
        let service = Service::start(&config, &registry, ServiceOptions::default()).await.expect("service starts");
        let consumers: Consumers = consumers_rx.recv().await.expect("the test receiver was started");
        let consumer = consumers.get(signal).cloned().expect("the pipeline routes the test receiver's signal");
        TestPipeline { service, consumer, exported }
    }

    /// Sends like a receiver that answers its client once the data is in the pipeline.
    pub(crate) async fn send(&self, payload: Payload) -> Result<(), Failure> {
        self.consumer.consume(payload, TRANSPORT, false).await
    }

    /// Sends like a receiver that answers its client once the data is exported (or failed);
    /// the handle resolves with that outcome.
    pub(crate) fn send_and_wait(&self, payload: Payload) -> JoinHandle<Result<(), Failure>> {
        let consumer = self.consumer.clone();
        tokio::spawn(async move { consumer.consume(payload, TRANSPORT, true).await })
    }

    /// The next payload the exporter received, waiting for it.
    pub(crate) async fn next_export(&mut self) -> Payload {
        self.exported.recv().await.expect("the exporter is running")
    }

    /// The next payload the exporter received, if one is waiting.
    pub(crate) fn try_next_export(&mut self) -> Option<Payload> {
        self.exported.try_recv().ok()
    }

    /// Whether nothing was exported that the test has not taken yet.
    pub(crate) fn nothing_exported(&mut self) -> bool {
        self.exported.try_recv().is_err()
    }

    /// Shuts the service down (pipelines drain) and returns what was exported meanwhile.
    pub(crate) async fn shutdown(self) -> Vec<Payload> {
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

/// Settings of the test components: none.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoSettings {}

impl ComponentConfig for NoSettings {}

struct TestReceiverFactory {
    consumers: mpsc::UnboundedSender<Consumers>,
}

impl ReceiverFactory for TestReceiverFactory {
    type Config = NoSettings;
    fn type_name(&self) -> &'static str {
        "test"
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn build(&self, _: &BuildContext, _: &NoSettings) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(TestReceiver { consumers: self.consumers.clone() }))
    }
}

struct TestReceiver {
    consumers: mpsc::UnboundedSender<Consumers>,
}

#[async_trait]
impl Receiver for TestReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        self.consumers.send(consumers).map_err(|_| BuildError::new("the test is gone"))?;
        Ok(tokio::spawn(async move { shutdown.cancelled().await }))
    }
}

struct TestExporterFactory {
    exported: mpsc::UnboundedSender<Payload>,
    verdict: Verdict,
}

impl ExporterFactory for TestExporterFactory {
    type Config = NoSettings;
    fn type_name(&self) -> &'static str {
        "test"
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn settings(&self, _: &NoSettings) -> ExporterSettings {
        let mut s = ExporterSettings::default();
        // Report each export's real outcome to the receiver, at once.
        s.retry.enabled = false;
        s.queue.wait_for_result = true;
        s
    }
    fn build(&self, _: &BuildContext, _: &NoSettings) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(TestExporter { exported: self.exported.clone(), verdict: self.verdict }))
    }
}

struct TestExporter {
    exported: mpsc::UnboundedSender<Payload>,
    verdict: Verdict,
}

#[async_trait]
impl Exporter for TestExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        let verdict = (self.verdict)(&payload);
        let _ = self.exported.send(payload);
        verdict
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
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

/// A traces request from `service` with `n` spans named `{prefix}0`, `{prefix}1`, …
pub(crate) fn spans(prefix: &str, n: usize) -> Payload {
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
pub(crate) fn log_records(n: usize) -> Payload {
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
pub(crate) fn span_names(payload: &Payload) -> Vec<String> {
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
pub(crate) fn metric_value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = weir_core::telemetry::prometheus().render();
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let name_matches = metric == name || metric.strip_suffix("_total") == Some(name);
        let labels_match = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (name_matches && labels_match).then(|| value.parse().ok()).flatten()
    })
}
