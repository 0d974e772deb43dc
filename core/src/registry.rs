//! The registry: component type names → factories, as the configuration names them.
//!
//! Factories have an associated config type, so the registry keeps them behind object-safe
//! wrappers ([`erased`]) that parse a YAML node into a type-erased config ([`AnyConfig`]) and
//! build from it. The loader ([`crate::config`]) parses and checks with them; the runtime
//! ([`crate::runtime`]) builds with them. Nothing is registered by default: the binary calls
//! each component crate's `register`.

use crate::auth::AuthSettings;
use crate::component::{
    BuildContext, BuildError, Capability, ComponentConfig, Connector, ConnectorFactory, Exporter, ExporterConfig,
    ExporterFactory, Extension, ExtensionFactory, Kind, Processor, ProcessorFactory, Receiver, ReceiverFactory,
};
use crate::config::yaml::{DeError, Node};
use crate::exporterhelper::config::ExporterSettings;
use crate::pdata::Signal;
use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A parsed and validated component config, type-erased.
pub type AnyConfig = Arc<dyn Any + Send + Sync>;

fn parse_config<C: ComponentConfig>(node: &Node) -> Result<C, DeError> {
    let c: C = node.deserialize()?;
    c.validate().map_err(|m| validation_error(node, m))?;
    Ok(c)
}

/// A `validate` message, located at the key it starts with (messages name the key to change:
/// `sending_queue::queue_size must be …`), or at the component when that key is not written.
fn validation_error(node: &Node, message: String) -> DeError {
    let path: String =
        message.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '[' | ']' | '.')).collect();
    let path = path.trim_end_matches([':', '.']);
    let loc = if path.is_empty() { node.loc } else { node.locate(path).0 };
    DeError::new(message, loc)
}

fn downcast<C: 'static>(c: &AnyConfig) -> &C {
    c.downcast_ref::<C>().expect("config parsed by the same factory")
}

/// The object-safe face of every factory kind, used by the registry, the loader and the runtime.
pub(crate) mod erased {
    use super::*;

    pub trait Factory: Send + Sync {
        fn signals(&self) -> &'static [Signal];
        fn parse(&self, node: &Node) -> Result<AnyConfig, DeError>;
        fn authenticators<'a>(&self, c: &'a AnyConfig) -> Vec<(&'static str, &'a AuthSettings)>;
        fn files(&self, c: &AnyConfig) -> Vec<(String, PathBuf)>;
    }

    pub trait AnyReceiver: Factory {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Receiver>, BuildError>;
    }
    pub trait AnyProcessor: Factory {
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Processor>, BuildError>;
    }
    pub trait AnyExporter: Factory {
        fn settings(&self, c: &AnyConfig) -> ExporterSettings;
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Arc<dyn Exporter>, BuildError>;
    }
    pub trait AnyConnector: Factory {
        fn signal_pairs(&self) -> &'static [(Signal, Signal)];
        fn build(
            &self,
            ctx: &BuildContext,
            c: &AnyConfig,
            from: Signal,
            to: Signal,
        ) -> Result<Box<dyn Connector>, BuildError>;
    }
    pub trait AnyExtension: Factory {
        fn capabilities(&self) -> &'static [Capability];
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Extension>, BuildError>;
    }

    pub struct R<F>(pub F);
    pub struct P<F>(pub F);
    pub struct E<F>(pub F);
    pub struct X<F>(pub F);
    pub struct C<F>(pub F);

    macro_rules! factory {
        ($wrap:ident, $bound:ident, $signals:expr, $parse:expr) => {
            impl<F: $bound> Factory for $wrap<F> {
                fn signals(&self) -> &'static [Signal] {
                    $signals(&self.0)
                }
                fn parse(&self, node: &Node) -> Result<AnyConfig, DeError> {
                    let c: F::Config = ($parse)(node)?;
                    Ok(Arc::new(c))
                }
                fn authenticators<'a>(&self, c: &'a AnyConfig) -> Vec<(&'static str, &'a AuthSettings)> {
                    downcast::<F::Config>(c).authenticators()
                }
                fn files(&self, c: &AnyConfig) -> Vec<(String, PathBuf)> {
                    downcast::<F::Config>(c).files()
                }
            }
        };
    }
    factory!(R, ReceiverFactory, |f: &F| f.signals(), parse_config::<F::Config>);
    factory!(P, ProcessorFactory, |f: &F| f.signals(), parse_config::<F::Config>);
    factory!(X, ExtensionFactory, |_: &F| &[], parse_config::<F::Config>);
    // A connector's signals are those it takes (the pairs' first halves; the loader checks pairs).
    factory!(C, ConnectorFactory, |_: &F| &Signal::ALL, parse_config::<F::Config>);
    // An exporter's plumbing keys are checked with its own.
    factory!(E, ExporterFactory, |f: &F| f.signals(), |node: &Node| {
        let c = parse_config::<F::Config>(node)?;
        c.exporter_settings().validate().map_err(|m| validation_error(node, m))?;
        Ok::<_, DeError>(c)
    });

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
        fn settings(&self, c: &AnyConfig) -> ExporterSettings {
            downcast::<F::Config>(c).exporter_settings()
        }
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Arc<dyn Exporter>, BuildError> {
            self.0.build(ctx, downcast(c))
        }
    }
    impl<F: ConnectorFactory> AnyConnector for C<F> {
        fn signal_pairs(&self) -> &'static [(Signal, Signal)] {
            self.0.signal_pairs()
        }
        fn build(
            &self,
            ctx: &BuildContext,
            c: &AnyConfig,
            from: Signal,
            to: Signal,
        ) -> Result<Box<dyn Connector>, BuildError> {
            self.0.build(ctx, downcast(c), from, to)
        }
    }
    impl<F: ExtensionFactory> AnyExtension for X<F> {
        fn capabilities(&self) -> &'static [Capability] {
            self.0.capabilities()
        }
        fn build(&self, ctx: &BuildContext, c: &AnyConfig) -> Result<Box<dyn Extension>, BuildError> {
            self.0.build(ctx, downcast(c))
        }
    }
}

/// Maps component type names to factories.
#[derive(Default, Clone)]
pub struct Registry {
    pub(crate) receivers: BTreeMap<&'static str, Arc<dyn erased::AnyReceiver>>,
    pub(crate) processors: BTreeMap<&'static str, Arc<dyn erased::AnyProcessor>>,
    pub(crate) exporters: BTreeMap<&'static str, Arc<dyn erased::AnyExporter>>,
    pub(crate) connectors: BTreeMap<&'static str, Arc<dyn erased::AnyConnector>>,
    pub(crate) extensions: BTreeMap<&'static str, Arc<dyn erased::AnyExtension>>,
}

impl Registry {
    /// An empty registry; component crates add their factories with their `register`.
    pub fn new() -> Self {
        Registry::default()
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
    pub fn add_connector<F: ConnectorFactory>(&mut self, f: F) {
        self.connectors.insert(f.type_name(), Arc::new(erased::C(f)));
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
            Kind::Connector => self.connectors.keys().copied().collect(),
            Kind::Extension => self.extensions.keys().copied().collect(),
        }
    }

    pub(crate) fn factory(&self, kind: Kind, name: &str) -> Option<&dyn erased::Factory> {
        match kind {
            Kind::Receiver => self.receivers.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
            Kind::Processor => self.processors.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
            Kind::Exporter => self.exporters.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
            Kind::Connector => self.connectors.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
            Kind::Extension => self.extensions.get(name).map(|f| f.as_ref() as &dyn erased::Factory),
        }
    }

    /// The extension types that offer `capability`, sorted.
    pub fn extensions_with(&self, capability: Capability) -> Vec<&'static str> {
        self.extensions.iter().filter(|(_, f)| f.capabilities().contains(&capability)).map(|(n, _)| *n).collect()
    }

    /// The (from, to) signal pairs the connector type `name` connects; empty when unknown.
    pub fn connector_pairs(&self, name: &str) -> &'static [(Signal, Signal)] {
        self.connectors.get(name).map(|f| f.signal_pairs()).unwrap_or(&[])
    }

    /// Type name and supported signals of every registered component of `kind`.
    pub fn describe(&self, kind: Kind) -> Vec<(&'static str, &'static [Signal])> {
        self.names(kind).into_iter().map(|n| (n, self.factory(kind, n).map(|f| f.signals()).unwrap_or(&[]))).collect()
    }
}
