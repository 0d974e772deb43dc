//! The component contract: what a receiver, processor, exporter or extension is, how it is
//! configured, and what it is given when it is built.
//!
//! A component type (`otlp`, `batch`, `forward`, …) is a factory: its type name, the signals it
//! supports (for a connector, the pairs of signals it connects),
//! its config type (serde, `deny_unknown_fields`, checked by [`ComponentConfig::validate`]) and
//! `build`. The [`crate::registry::Registry`] maps type names to factories; the binary fills it
//! with one `register` call per component crate. The data path the components plug into —
//! [`Consumers`], [`Output`], [`Envelope`] — is [`crate::pipeline`]; the plumbing every
//! exporter shares (queue, retry, timeout) is [`crate::exporterhelper`].
//!
//! Extensions offer capabilities to other components by id: an authenticator (server or
//! client side) or a storage. A component asks its [`BuildContext`] for the one its config
//! names; the loader has already checked that the id names a configured extension, enabled in
//! `service::extensions`, whose factory declares that capability.

use crate::ack::Failure;
use crate::auth::{AuthSettings, ClientAuthenticator, ServerAuthenticator};
use crate::config::yaml::Squash;
use crate::exporterhelper::config::ExporterSettings;
use crate::pdata::{Payload, Signal};
use crate::persistent_queue::LogOptions;
use crate::pipeline::{ClientMetadata, Consumers, Downstream, Envelope, Gate, Output};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
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

/// The component kinds, as named in `pipelines.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Connector,
    Extension,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Receiver, Kind::Processor, Kind::Exporter, Kind::Connector, Kind::Extension];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Connector => "connector",
            Kind::Extension => "extension",
        }
    }
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Connector => "connectors",
            Kind::Extension => "extensions",
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
    /// the loader to check against the configured authenticator extensions.
    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        Vec::new()
    }

    /// The files this config names that the component opens when it starts (TLS certificates
    /// and keys, token files, output files), by key path (`protocols::grpc::tls::cert_file`).
    /// Loading a configuration never reads them, as in the Collector; `weir validate` lists
    /// them as not checked.
    fn files(&self) -> Vec<(String, PathBuf)> {
        Vec::new()
    }
}

/// A squashed config is checked part by part: the shared settings first.
impl<T: ComponentConfig, S: ComponentConfig> ComponentConfig for Squash<T, S> {
    fn validate(&self) -> Result<(), String> {
        self.shared.validate()?;
        self.own.validate()
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        let mut all = self.shared.authenticators();
        all.extend(self.own.authenticators());
        all
    }

    fn files(&self) -> Vec<(String, PathBuf)> {
        let mut all = self.shared.files();
        all.extend(self.own.files());
        all
    }
}

/// An exporter's config: its own keys, and the plumbing's ([`ExporterSettings`]: `timeout`,
/// `retry_on_failure`, `sending_queue`), which the runtime reads and the loader checks.
/// Configs with those three fields get it from [`crate::exporter_config!`].
pub trait ExporterConfig: ComponentConfig {
    fn exporter_settings(&self) -> ExporterSettings;
}

/// A squashed exporter config keeps the plumbing's keys in its own part.
impl<T: ExporterConfig, S: ComponentConfig> ExporterConfig for Squash<T, S> {
    fn exporter_settings(&self) -> ExporterSettings {
        self.own.exporter_settings()
    }
}

/// What an extension can offer the components that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// Checks the credentials of incoming requests (`auth` of a receiver).
    ServerAuthenticator,
    /// Adds credentials to outgoing requests (`auth` of an exporter).
    ClientAuthenticator,
    /// Keeps data on disk (`sending_queue::storage` of an exporter).
    Storage,
}

impl Capability {
    /// The words errors use for what is missing.
    pub fn describe(self) -> &'static str {
        match self {
            Capability::ServerAuthenticator | Capability::ClientAuthenticator => "an authenticator",
            Capability::Storage => "a storage extension",
        }
    }
}

/// A storage extension: where a component keeps data across restarts.
pub trait Storage: Send + Sync + 'static {
    /// The settings of the persistent sending queue of `exporter` for `signal` (its directory,
    /// segment size, fsync), creating what must exist.
    fn queue_log(&self, exporter: &ComponentId, signal: Signal) -> Result<LogOptions, String>;
}

/// The capabilities one running extension offers.
#[derive(Clone, Default)]
pub struct Capabilities {
    pub server_authenticator: Option<Arc<dyn ServerAuthenticator>>,
    pub client_authenticator: Option<Arc<dyn ClientAuthenticator>>,
    pub storage: Option<Arc<dyn Storage>>,
}

/// What a component is given when it is built.
#[derive(Clone)]
pub struct BuildContext {
    pub id: ComponentId,
    /// The signal this instance serves (exporters and processors are built per signal).
    pub signal: Option<Signal>,
    /// The capabilities of the extensions enabled in `service::extensions`, by id.
    pub extensions: Arc<BTreeMap<ComponentId, Capabilities>>,
}

impl BuildContext {
    /// A context without extensions (for components built outside a service, e.g. in tests).
    pub fn new(id: ComponentId, signal: Option<Signal>) -> BuildContext {
        BuildContext { id, signal, extensions: Arc::default() }
    }

    fn extension(&self, id: &str) -> Result<&Capabilities, BuildError> {
        let parsed = ComponentId::parse(id).map_err(BuildError::new)?;
        self.extensions.get(&parsed).ok_or_else(|| {
            BuildError::new(format!(
                "extension {id:?} is not running (configure it and list it in service::extensions)"
            ))
        })
    }

    /// The server side of the authenticator extension `id` (a receiver's `auth`).
    pub fn server_authenticator(&self, id: &str) -> Result<Arc<dyn ServerAuthenticator>, BuildError> {
        self.extension(id)?
            .server_authenticator
            .clone()
            .ok_or_else(|| BuildError::new(format!("extension {id:?} cannot authenticate incoming requests")))
    }

    /// The client side of the authenticator extension `id` (an exporter's `auth`).
    pub fn client_authenticator(&self, id: &str) -> Result<Arc<dyn ClientAuthenticator>, BuildError> {
        self.extension(id)?
            .client_authenticator
            .clone()
            .ok_or_else(|| BuildError::new(format!("extension {id:?} cannot add credentials to outgoing requests")))
    }

    /// The storage extension `id` (an exporter's `sending_queue::storage`).
    pub fn storage(&self, id: &str) -> Result<Arc<dyn Storage>, BuildError> {
        self.extension(id)?
            .storage
            .clone()
            .ok_or_else(|| BuildError::new(format!("extension {id:?} is not a storage extension")))
    }
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

    /// Sends `payload` with the client metadata of the requests it came from (present when
    /// the receiver has `include_metadata: true` and no stage dropped it). Exporters that use
    /// metadata (Kafka's `include_metadata_keys`, `topic_from_metadata_key`) override this;
    /// the default ignores it.
    async fn export_with_metadata(&self, payload: Payload, metadata: Option<&ClientMetadata>) -> Result<(), Failure> {
        let _ = metadata;
        self.export(payload).await
    }

    /// Called once after the last export, to flush and close.
    async fn shutdown(&self) {}
}

/// A connector: the exporter of some pipelines and the receiver of others, possibly of another
/// signal (the Collector's connectors). Built once per (id, from signal, to signal).
#[async_trait]
pub trait Connector: Send + 'static {
    /// Reads what its upstream pipelines export into it until the input closes (every upstream
    /// pipeline has drained), sends what it emits to `downstream` (every pipeline of the target
    /// signal that lists it as a receiver, in configuration order), then flushes and returns.
    ///
    /// Acknowledgements: forwarding an envelope downstream carries its tokens; data it turns
    /// into something else (span metrics) is acknowledged by dropping the tokens once taken in.
    async fn run(self: Box<Self>, input: mpsc::Receiver<Envelope>, downstream: Vec<Downstream>);

    /// Checks, before it starts, the ids of the pipelines it will feed (`traces/out`): a
    /// connector that names pipelines in its config (`routing`'s table) refuses ids that do not
    /// list it as a receiver, and the service does not start.
    fn check_downstream(&self, _pipelines: &[&str]) -> Result<(), String> {
        Ok(())
    }
}

/// A running extension (e.g. `health_check`).
#[async_trait]
pub trait Extension: Send + 'static {
    /// What it offers other components, available once built (before it starts).
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Starts what it runs (a server, a watcher). An extension that only offers capabilities
    /// runs nothing: the default.
    async fn start(
        self: Box<Self>,
        _ctx: ExtensionContext,
        _shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        Ok(tokio::spawn(async {}))
    }
}

/// What extensions can see of the service.
#[derive(Clone, Default)]
pub struct ExtensionContext {
    pub health: crate::telemetry::Health,
    /// When the service's exporters last gave up on data (`health_check`'s
    /// `check_collector_pipeline` reads it).
    pub export_failures: crate::exporterhelper::ExportFailures,
    /// The running configuration's components and pipelines (`zpages` shows them).
    pub service: ServiceSummary,
}

/// The components and pipelines a service runs, by id, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSummary {
    /// `service::pipelines`, in the file's order.
    pub pipelines: Vec<PipelineSummary>,
    /// `service::extensions`, in order.
    pub extensions: Vec<String>,
    /// Every configured component in use: (kind, id), kinds in the Collector's order.
    pub components: Vec<(Kind, String)>,
}

/// One pipeline of a [`ServiceSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSummary {
    /// `traces`, `metrics/name`, …
    pub id: String,
    pub signal: Signal,
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
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

/// Factory of an exporter type; built once per signal. Its config carries the plumbing's keys
/// ([`ExporterConfig`]), which the runtime reads and the loader checks.
pub trait ExporterFactory: Send + Sync + 'static {
    type Config: ExporterConfig;
    fn type_name(&self) -> &'static str;
    fn signals(&self) -> &'static [Signal];
    fn build(&self, ctx: &BuildContext, config: &Self::Config) -> Result<Arc<dyn Exporter>, BuildError>;
}

/// Factory of a connector type.
pub trait ConnectorFactory: Send + Sync + 'static {
    type Config: ComponentConfig;
    fn type_name(&self) -> &'static str;
    /// The (from, to) pairs it connects: the signal of the pipelines it is an exporter in, and
    /// that of the pipelines it is a receiver in.
    fn signal_pairs(&self) -> &'static [(Signal, Signal)];
    /// Builds the instance that connects `from` to `to` (`ctx.signal` is `from`).
    fn build(
        &self,
        ctx: &BuildContext,
        config: &Self::Config,
        from: Signal,
        to: Signal,
    ) -> Result<Box<dyn Connector>, BuildError>;
}

/// Factory of an extension type.
pub trait ExtensionFactory: Send + Sync + 'static {
    type Config: ComponentConfig;
    fn type_name(&self) -> &'static str;
    /// What the extension offers other components (checked when the configuration is loaded).
    fn capabilities(&self) -> &'static [Capability] {
        &[]
    }
    fn build(&self, ctx: &BuildContext, config: &Self::Config) -> Result<Box<dyn Extension>, BuildError>;
}
