//! Component traits, factories and the registry.
//!
//! A component type (`otlp`, `batch`, …) is a factory: its name, the signals it supports, its
//! config type (serde, `deny_unknown_fields`, with [`ComponentConfig::validate`]) and `build`.
//! The [`Registry`] maps type names to factories; the binary fills it with one line per
//! component crate.
//!
//! The data path is receiver → channel → processor → channel → … → exporter:
//!
//! - a [`Receiver`] pushes [`Payload`]s into a [`Consumer`] per signal, which fans out to every
//!   pipeline that lists the receiver;
//! - a [`Processor`] is a task that reads [`Envelope`]s from a bounded channel and writes to an
//!   [`Output`];
//! - an [`Exporter`] only sends; timeout, retry, queueing, concurrency and acknowledgement are
//!   the shared plumbing in [`crate::exporterhelper`].

use crate::ack::{AckToken, Acks, Failure};
use crate::config::yaml::{DeError, Node};
use crate::pdata::{Payload, Signal};
use crate::telemetry::ReceiverMetrics;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A component id, `type[/name]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    pub kind: String,
    pub name: Option<String>,
}

impl ComponentId {
    /// Parses and checks an id the way the Collector does.
    pub fn parse(s: &str) -> Result<ComponentId, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("id must not be empty".into());
        }
        let (kind, name) = match s.split_once('/') {
            Some((k, n)) => (k, Some(n)),
            None => (s, None),
        };
        if kind.is_empty() {
            return Err(format!("in {s:?} id: the part before / should not be empty"));
        }
        let kind_ok = kind.len() <= 63
            && kind.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !kind_ok {
            return Err(format!("in {s:?} id: invalid character(s) in type {kind:?}"));
        }
        if let Some(n) = name {
            if n.is_empty() {
                return Err(format!("in {s:?} id: the part after / should not be empty"));
            }
            if n.len() > 1024 || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("in {s:?} id: invalid character(s) in name {n:?}"));
            }
        }
        Ok(ComponentId { kind: kind.to_string(), name: name.map(str::to_string) })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.kind, n),
            None => f.write_str(&self.kind),
        }
    }
}

/// A component's configuration: deserialized from its section of `pipelines.yaml` (a missing
/// or empty section gives `Default`), then validated.
pub trait ComponentConfig: DeserializeOwned + Default + Send + Sync + 'static {
    /// Checks combinations of keys; the message should name the key the user must change.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// The `auth` settings in this config, with their key paths (`protocols::grpc::auth`), for
    /// the loader to check and resolve against the configured authenticator extensions.
    fn authenticators(&self) -> Vec<(&'static str, &crate::auth::AuthSettings)> {
        Vec::new()
    }
}

/// What a component is given when it is built.
#[derive(Clone)]
pub struct BuildContext {
    pub id: ComponentId,
    /// The signal this instance serves (exporters and processors are built per signal).
    pub signal: Option<Signal>,
}

/// Why a component could not be built or started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

impl BuildError {
    pub fn new(msg: impl Into<String>) -> Self {
        BuildError(msg.into())
    }
}

/// Where a receiver sends one signal: every pipeline that lists it, and its metrics.
#[derive(Clone)]
pub struct Consumer {
    pub(crate) signal: Signal,
    pub(crate) pipelines: Arc<[PipelineEntry]>,
    pub(crate) metrics: ReceiverMetrics,
    pub(crate) enqueue_timeout: Duration,
}

/// The head of one pipeline: admission gates and the first stage.
#[derive(Clone)]
pub(crate) struct PipelineEntry {
    pub(crate) gates: Vec<Arc<dyn Gate>>,
    pub(crate) head: Output,
}

/// How long a refused client should wait before retrying, sent as `Retry-After`.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Consumer {
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The receiver's counters for this signal (for items in requests it could not read).
    pub fn metrics(&self) -> &ReceiverMetrics {
        &self.metrics
    }

    /// Hands a received payload to every pipeline.
    ///
    /// Returns once the pipelines have accepted it, or — with `wait_for_result` — once every
    /// exporter has delivered it (or failed). A full pipeline that does not accept within the
    /// receiver's enqueue timeout, and a refusal by `memory_limiter`, are retryable failures
    /// with a retry hint, for the receiver to turn into `UNAVAILABLE` / 503 + `Retry-After`.
    pub async fn consume(
        &self,
        payload: Payload,
        transport: &'static str,
        wait_for_result: bool,
    ) -> Result<(), Failure> {
        let items = payload.items();
        if items == 0 {
            return Ok(());
        }
        for p in self.pipelines.iter() {
            for g in &p.gates {
                if let Err(f) = g.admit(&payload) {
                    self.metrics.refused(transport, items);
                    return Err(f);
                }
            }
        }
        let (acks, waiter) = if wait_for_result {
            let (t, w) = AckToken::new();
            (Acks::one(t), Some(w))
        } else {
            (Acks::none(), None)
        };
        for p in self.pipelines.iter() {
            let env = Envelope { payload: payload.clone(), acks: acks.clone() };
            match tokio::time::timeout(self.enqueue_timeout, p.head.send(env)).await {
                Ok(Ok(())) => {}
                Ok(Err(f)) => {
                    self.metrics.refused(transport, items);
                    acks.fail(&f);
                    return Err(f);
                }
                Err(_) => {
                    let f = Failure::retryable("the pipeline is full; retry later").with_retry_after(RETRY_AFTER);
                    self.metrics.refused(transport, items);
                    acks.fail(&f);
                    return Err(f);
                }
            }
        }
        drop(acks);
        // With `wait_for_result` the outcome is only known once the exporters answered; count
        // the items then, as the Collector counts what its consumers returned.
        let result = match waiter {
            Some(w) => w.wait().await,
            None => Ok(()),
        };
        match &result {
            Ok(()) => self.metrics.accepted(transport, items),
            Err(_) => self.metrics.refused(transport, items),
        }
        result
    }
}

/// The payloads each signal's pipelines receive from one receiver; `None` for a signal no
/// pipeline routes from this receiver (serve it as unimplemented / 404).
#[derive(Clone, Default)]
pub struct Consumers {
    pub traces: Option<Consumer>,
    pub metrics: Option<Consumer>,
    pub logs: Option<Consumer>,
}

impl Consumers {
    pub fn get(&self, signal: Signal) -> Option<&Consumer> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }

    pub(crate) fn slot(&mut self, signal: Signal) -> &mut Option<Consumer> {
        match signal {
            Signal::Traces => &mut self.traces,
            Signal::Metrics => &mut self.metrics,
            Signal::Logs => &mut self.logs,
        }
    }
}

/// A payload in flight with the acknowledgement tokens of the requests it carries.
#[derive(Clone)]
pub struct Envelope {
    pub payload: Payload,
    pub acks: Acks,
}

impl Envelope {
    pub fn new(payload: Payload) -> Self {
        Envelope { payload, acks: Acks::none() }
    }
}

/// One downstream edge of a stage.
#[derive(Clone)]
pub(crate) enum Target {
    /// The next processor of the pipeline.
    Stage(mpsc::Sender<Envelope>),
    /// An exporter's sending queue.
    Exporter(crate::exporterhelper::QueueSender),
}

/// Where a stage sends what it emits: the next processor, or every exporter of the pipeline
/// (fan-out shares the payload; each branch runs in its own task).
#[derive(Clone)]
pub struct Output {
    pub(crate) targets: Arc<[Target]>,
}

impl Output {
    /// Sends `env` on every edge, waiting while a channel is full (backpressure).
    ///
    /// A closed edge (its stage ended) fails the envelope's tokens.
    pub async fn send(&self, env: Envelope) -> Result<(), Failure> {
        let n = self.targets.len();
        let mut env = Some(env);
        for (i, t) in self.targets.iter().enumerate() {
            let e = if i + 1 == n {
                env.take().expect("one envelope per edge")
            } else {
                env.clone().expect("present until last")
            };
            match t {
                Target::Stage(tx) => {
                    if let Err(mpsc::error::SendError(e)) = tx.send(e).await {
                        let f = Failure::retryable("the pipeline is shutting down");
                        e.acks.fail(&f);
                        return Err(f);
                    }
                }
                Target::Exporter(q) => q.enqueue(e).await?,
            }
        }
        Ok(())
    }
}

/// A synchronous check a processor can impose on data before it enters the pipeline
/// (`memory_limiter` uses it to refuse data while memory is high).
pub trait Gate: Send + Sync + 'static {
    fn admit(&self, payload: &Payload) -> Result<(), Failure>;
}

/// A running receiver.
#[async_trait]
pub trait Receiver: Send + 'static {
    /// Binds its listeners and spawns its serving task, which must stop accepting when
    /// `shutdown` is cancelled and finish the requests in flight. Errors are start-up
    /// failures (e.g. an address already in use).
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError>;
}

/// A processor: a task from an input channel to an output.
#[async_trait]
pub trait Processor: Send + 'static {
    /// Processes until `input` closes, then flushes what it holds and returns.
    async fn run(self: Box<Self>, input: mpsc::Receiver<Envelope>, output: Output);

    /// An admission check receivers apply before sending into this processor's pipeline.
    fn gate(&self) -> Option<Arc<dyn Gate>> {
        None
    }
}

/// An exporter: sends one payload to its destination.
#[async_trait]
pub trait Exporter: Send + Sync + 'static {
    /// Sends `payload`. A retryable failure is retried by the plumbing, a permanent one is not.
    async fn export(&self, payload: Payload) -> Result<(), Failure>;

    /// Called once after the last export, to flush and close.
    async fn shutdown(&self) {}
}

/// A running extension (e.g. `health_check`).
#[async_trait]
pub trait Extension: Send + 'static {
    async fn start(
        self: Box<Self>,
        ctx: ExtensionContext,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError>;
}

/// What extensions can see of the service.
#[derive(Clone)]
pub struct ExtensionContext {
    pub health: crate::telemetry::Health,
}

/// Factory of a receiver type.
pub trait ReceiverFactory: Send + Sync + 'static {
    type Config: ComponentConfig;
    fn type_name(&self) -> &'static str;
    fn signals(&self) -> &'static [Signal];
    fn build(&self, ctx: &BuildContext, config: &Self::Config) -> Result<Box<dyn Receiver>, BuildError>;
}

/// Factory of a processor type; built once per pipeline.
pub trait ProcessorFactory: Send + Sync + 'static {
    type Config: ComponentConfig;
    fn type_name(&self) -> &'static str;
    fn signals(&self) -> &'static [Signal];
    fn build(&self, ctx: &BuildContext, config: &Self::Config) -> Result<Box<dyn Processor>, BuildError>;
}

/// Factory of an exporter type; built once per signal.
pub trait ExporterFactory: Send + Sync + 'static {
    type Config: ComponentConfig;
    fn type_name(&self) -> &'static str;
    fn signals(&self) -> &'static [Signal];
    /// The shared plumbing settings (`timeout`, `retry_on_failure`, `sending_queue`).
    fn settings(&self, config: &Self::Config) -> crate::exporterhelper::ExporterSettings;
    fn build(&self, ctx: &BuildContext, config: &Self::Config) -> Result<Arc<dyn Exporter>, BuildError>;
}

/// Factory of an extension type.
pub trait ExtensionFactory: Send + Sync + 'static {
    type Config: ComponentConfig;
    fn type_name(&self) -> &'static str;
    fn build(&self, ctx: &BuildContext, config: &Self::Config) -> Result<Box<dyn Extension>, BuildError>;
}

/// A parsed and validated component config, type-erased.
pub type AnyConfig = Arc<dyn Any + Send + Sync>;

fn parse_config<C: ComponentConfig>(node: &Node) -> Result<AnyConfig, DeError> {
    let c: C = node.deserialize()?;
    c.validate().map_err(|m| DeError::new(m, node.loc))?;
    Ok(Arc::new(c))
}

fn downcast<C: 'static>(c: &AnyConfig) -> &C {
    c.downcast_ref::<C>().expect("config parsed by the same factory")
}

/// The object-safe face of every factory kind, used by the registry and the runtime.
pub(crate) mod erased {
    use super::*;

    pub trait Factory: Send + Sync {
        #[allow(dead_code)]
        fn type_name(&self) -> &'static str;
        fn signals(&self) -> &'static [Signal];
        fn parse(&self, node: &Node) -> Result<AnyConfig, DeError>;
        fn authenticators<'a>(&self, c: &'a AnyConfig) -> Vec<(&'static str, &'a crate::auth::AuthSettings)>;
    }

    pub trait AnyReceiver: Factory {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Receiver>, BuildError>;
    }
    pub trait AnyProcessor: Factory {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Processor>, BuildError>;
    }
    pub trait AnyExporter: Factory {
        fn settings(&self, c: &AnyConfig) -> crate::exporterhelper::ExporterSettings;
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Arc<dyn Exporter>, BuildError>;
    }
    pub trait AnyExtension: Factory {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Extension>, BuildError>;
    }

    pub struct R<F>(pub F);
    pub struct P<F>(pub F);
    pub struct E<F>(pub F);
    pub struct X<F>(pub F);

    macro_rules! factory {
        ($wrap:ident, $bound:ident, $signals:expr) => {
            impl<F: $bound> Factory for $wrap<F> {
                fn type_name(&self) -> &'static str {
                    self.0.type_name()
                }
                fn signals(&self) -> &'static [Signal] {
                    $signals(&self.0)
                }
                fn parse(&self, node: &Node) -> Result<AnyConfig, DeError> {
                    parse_config::<F::Config>(node)
                }
                fn authenticators<'a>(&self, c: &'a AnyConfig) -> Vec<(&'static str, &'a crate::auth::AuthSettings)> {
                    downcast::<F::Config>(c).authenticators()
                }
            }
        };
    }
    factory!(R, ReceiverFactory, |f: &F| f.signals());
    factory!(P, ProcessorFactory, |f: &F| f.signals());
    factory!(E, ExporterFactory, |f: &F| f.signals());
    factory!(X, ExtensionFactory, |_: &F| &[]);

    impl<F: ReceiverFactory> AnyReceiver for R<F> {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Receiver>, BuildError> {
            self.0.build(ctx, downcast(c))
        }
    }
    impl<F: ProcessorFactory> AnyProcessor for P<F> {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Processor>, BuildError> {
            self.0.build(ctx, downcast(c))
        }
    }
    impl<F: ExporterFactory> AnyExporter for E<F> {
        fn settings(&self, c: &AnyConfig) -> crate::exporterhelper::ExporterSettings {
            self.0.settings(downcast(c))
        }
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Arc<dyn Exporter>, BuildError> {
            self.0.build(ctx, downcast(c))
        }
    }
    impl<F: ExtensionFactory> AnyExtension for X<F> {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Extension>, BuildError> {
            self.0.build(ctx, downcast(c))
        }
    }
}

/// The component kinds, as named in `pipelines.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Extension,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Extension => "extension",
        }
    }
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Extension => "extensions",
        }
    }
}

/// Maps component type names to factories.
#[derive(Default, Clone)]
pub struct Registry {
    pub(crate) receivers: BTreeMap<&'static str, Arc<dyn erased::AnyReceiver>>,
    pub(crate) processors: BTreeMap<&'static str, Arc<dyn erased::AnyProcessor>>,
    pub(crate) exporters: BTreeMap<&'static str, Arc<dyn erased::AnyExporter>>,
    pub(crate) extensions: BTreeMap<&'static str, Arc<dyn erased::AnyExtension>>,
}

impl Registry {
    /// A registry with the components weir-core itself provides (`health_check`,
    /// `bearertokenauth`).
    pub fn new() -> Self {
        let mut r = Registry::default();
        r.add_extension(crate::telemetry::HealthCheckFactory);
        r.add_extension(crate::persistent_queue::FileStorageFactory);
        r.add_extension(crate::auth::BearerTokenAuthFactory);
        r
    }

    pub fn add_receiver<F: ReceiverFactory>(&mut self, f: F) {
        self.receivers.insert(f.type_name(), Arc::new(erased::R(f)));
    }
    pub fn add_processor<F: ProcessorFactory>(&mut self, f: F) {
        self.processors.insert(f.type_name(), Arc::new(erased::P(f)));
    }
    pub fn add_exporter<F: ExporterFactory>(&mut self, f: F) {
        self.exporters.insert(f.type_name(), Arc::new(erased::E(f)));
    }
    pub fn add_extension<F: ExtensionFactory>(&mut self, f: F) {
        self.extensions.insert(f.type_name(), Arc::new(erased::X(f)));
    }

    /// Registers `alias` as a second name for the already registered exporter `name`
    /// (the Collector renamed `otlp` → `otlp_grpc` and `otlphttp` → `otlp_http`).
    pub fn alias_exporter(&mut self, alias: &'static str, name: &str) {
        if let Some(f) = self.exporters.get(name).cloned() {
            self.exporters.insert(alias, f);
        }
    }

    /// Every registered type name of `kind`, sorted.
    pub fn names(&self, kind: Kind) -> Vec<&'static str> {
        match kind {
            Kind::Receiver => self.receivers.keys().copied().collect(),
            Kind::Processor => self.processors.keys().copied().collect(),
            Kind::Exporter => self.exporters.keys().copied().collect(),
            Kind::Extension => self.extensions.keys().copied().collect(),
        }
    }

    pub(crate) fn factory(&self, kind: Kind, name: &str) -> Option<&dyn erased::Factory> {
        match kind {
            Kind::Receiver => self.receivers.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
            Kind::Processor => self.processors.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
            Kind::Exporter => self.exporters.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
            Kind::Extension => self.extensions.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
        }
    }

    /// Type name and supported signals of every registered component of `kind`.
    pub fn describe(&self, kind: Kind) -> Vec<(&'static str, &'static [Signal])> {
        self.names(kind).into_iter().map(|n| (n, self.factory(kind, n).map(|f| f.signals()).unwrap_or(&[]))).collect()
    }
}
