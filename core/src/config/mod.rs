//! `pipelines.yaml`: the OpenTelemetry Collector's configuration format.
//!
//! Sections `receivers`, `processors`, `exporters`, `extensions` (maps from `type[/name]` to the
//! component's config) and `service` (`extensions`, `pipelines`, `telemetry`). Values may use
//! `${env:VAR}` and `${env:VAR:-default}`. Loading checks everything that can be checked
//! without starting anything — syntax, ids, component types, every component's keys and
//! values, references between sections, and which signals each component supports — and
//! reports *all* problems found, each with `file:line:column`, the key path and, where there is
//! a closed set, the valid choices.

pub mod duration;
pub mod telemetry;
pub mod yaml;

use crate::component::{Capability, ComponentId, Kind};
use crate::pdata::Signal;
use crate::registry::{AnyConfig, Registry};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
pub use telemetry::TelemetryConfig;
use yaml::{DeError, Location, Node, NodeKind};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub loc: Option<Location>,
    /// The key path, Collector style (`receivers::otlp::protocols`).
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.loc {
            Some(l) => write!(f, "{}:{}: ", self.file, l)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A configured component: its id, type-erased config and where it was declared.
#[derive(Clone)]
pub struct ComponentConfigEntry {
    pub id: ComponentId,
    pub config: AnyConfig,
    pub loc: Location,
}

/// One pipeline, `signal[/name]`.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub id: String,
    pub signal: Signal,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

/// A loaded, checked configuration.
#[derive(Clone)]
pub struct Config {
    pub file: String,
    pub receivers: BTreeMap<ComponentId, ComponentConfigEntry>,
    pub processors: BTreeMap<ComponentId, ComponentConfigEntry>,
    pub exporters: BTreeMap<ComponentId, ComponentConfigEntry>,
    pub connectors: BTreeMap<ComponentId, ComponentConfigEntry>,
    pub extensions: BTreeMap<ComponentId, ComponentConfigEntry>,
    /// `service::extensions`, in order.
    pub service_extensions: Vec<ComponentId>,
    pub pipelines: Vec<PipelineConfig>,
    pub telemetry: TelemetryConfig,
}

impl Config {
    pub fn section(&self, kind: Kind) -> &BTreeMap<ComponentId, ComponentConfigEntry> {
        match kind {
            Kind::Receiver => &self.receivers,
            Kind::Processor => &self.processors,
            Kind::Exporter => &self.exporters,
            Kind::Connector => &self.connectors,
            Kind::Extension => &self.extensions,
        }
    }

    /// The files the configured components read when they start (TLS material, token files),
    /// by full key path (`receivers::otlp::protocols::grpc::tls::cert_file`). Loading does not
    /// read them (as the Collector does not), so `weir validate` names them as not checked.
    pub fn files_read_at_start(&self, registry: &Registry) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            for (id, entry) in self.section(kind) {
                if let Some(factory) = registry.factory(kind, &id.kind) {
                    for (key, file) in factory.files(&entry.config) {
                        out.push((format!("{}::{id}::{key}", kind.section()), file));
                    }
                }
            }
        }
        out
    }

    /// Whether `id`, in a pipeline's `receivers` or `exporters`, names a connector (a connector
    /// takes precedence, as in the Collector; the loader refuses ids that are both).
    pub fn is_connector(&self, id: &ComponentId) -> bool {
        self.connectors.contains_key(id)
    }

    fn section_mut(&mut self, kind: Kind) -> &mut BTreeMap<ComponentId, ComponentConfigEntry> {
        match kind {
            Kind::Receiver => &mut self.receivers,
            Kind::Processor => &mut self.processors,
            Kind::Exporter => &mut self.exporters,
            Kind::Connector => &mut self.connectors,
            Kind::Extension => &mut self.extensions,
        }
    }
}

/// Reads and checks a configuration file.
pub fn load_file(path: &Path, registry: &Registry) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            loc: None,
            path: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        }])
    })?;
    load_str(&file, &text, registry, &|name| std::env::var(name).ok())
}

/// Checks configuration text; `file` names it in errors and `env` resolves `${env:…}`.
pub fn load_str(
    file: &str,
    text: &str,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut errors = Errors { file: file.to_string(), list: Vec::new(), invalid: BTreeSet::new() };
    let root = match yaml::parse(text, env) {
        Ok(r) => r,
        Err(e) => {
            errors.de(String::new(), e);
            return Err(ConfigErrors(errors.list));
        }
    };
    let mut config = Config {
        file: file.to_string(),
        receivers: BTreeMap::new(),
        processors: BTreeMap::new(),
        exporters: BTreeMap::new(),
        connectors: BTreeMap::new(),
        extensions: BTreeMap::new(),
        service_extensions: Vec::new(),
        pipelines: Vec::new(),
        telemetry: TelemetryConfig::default(),
    };
    let Some(top) = root.as_map() else {
        errors.at(
            root.loc,
            "",
            "the configuration must be a mapping with receivers, processors, exporters, extensions and service",
        );
        return Err(ConfigErrors(errors.list));
    };
    let mut service = None;
    let mut sections = Vec::new();
    for (k, v) in top {
        let key = k.as_str().unwrap_or("");
        let kind = match key {
            "receivers" => Kind::Receiver,
            "processors" => Kind::Processor,
            "exporters" => Kind::Exporter,
            "extensions" => Kind::Extension,
            "connectors" => Kind::Connector,
            "service" => {
                service = Some(v);
                continue;
            }
            _ => {
                errors.at(
                    k.loc,
                    "",
                    format!("unknown section {key:?} (valid sections: receivers, processors, exporters, connectors, extensions, service)"),
                );
                continue;
            }
        };
        sections.push((kind, v));
    }
    // Connectors first: a pipeline's receivers and exporters may name them.
    sections.sort_by_key(|(kind, _)| *kind != Kind::Connector);
    for (kind, v) in sections {
        load_section(kind, v, registry, &mut config, &mut errors);
    }
    match service {
        Some(s) => load_service(s, registry, &mut config, &mut errors),
        None => errors.at(root.loc, "service", "missing section \"service\": it lists the pipelines to run"),
    }
    check_connectors(registry, &config, &mut errors);
    check_extension_references(registry, &config, &mut errors);
    if errors.list.is_empty() {
        Ok(config)
    } else {
        errors.list.sort_by_key(|e| e.loc.map(|l| (l.line, l.column)));
        Err(ConfigErrors(errors.list))
    }
}

struct Errors {
    file: String,
    list: Vec<ConfigError>,
    /// Components declared with an unknown type or an invalid config: their own error is
    /// reported, so references to them are not reported again as "not configured".
    invalid: BTreeSet<(Kind, ComponentId)>,
}

impl Errors {
    fn at(&mut self, loc: Location, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(ConfigError {
            file: self.file.clone(),
            loc: Some(loc),
            path: path.into(),
            message: message.into(),
        });
    }

    fn de(&mut self, prefix: String, e: DeError) {
        let mut parts = vec![prefix];
        parts.extend(e.path);
        parts.retain(|p| !p.is_empty());
        let path = yaml::join_path(&parts);
        self.list.push(ConfigError { file: self.file.clone(), loc: e.loc, path, message: e.message });
    }
}

fn load_section(kind: Kind, node: &Node, registry: &Registry, config: &mut Config, errors: &mut Errors) {
    let section = kind.section();
    let Some(entries) = node.as_map() else {
        errors.at(node.loc, section, "must be a mapping from component ids to their settings");
        return;
    };
    for (k, v) in entries {
        let raw = k.as_str().unwrap_or("");
        let id = match ComponentId::parse(raw) {
            Ok(id) => id,
            Err(e) => {
                errors.at(k.loc, section, e);
                continue;
            }
        };
        let path = format!("{section}::{id}");
        let Some(factory) = registry.factory(kind, &id.kind) else {
            errors.at(
                k.loc,
                section,
                format!(
                    "unknown type: {:?} for id: {:?} (valid values: [{}])",
                    id.kind,
                    raw,
                    registry.names(kind).join(", ")
                ),
            );
            errors.invalid.insert((kind, id));
            continue;
        };
        match factory.parse(v) {
            Ok(c) => {
                config.section_mut(kind).insert(id.clone(), ComponentConfigEntry { id, config: c, loc: k.loc });
            }
            Err(e) => {
                errors.de(path, e);
                errors.invalid.insert((kind, id));
            }
        }
    }
}

fn load_service(node: &Node, registry: &Registry, config: &mut Config, errors: &mut Errors) {
    let Some(entries) = node.as_map() else {
        errors.at(node.loc, "service", "must be a mapping with extensions, pipelines and telemetry");
        return;
    };
    let mut pipelines_seen = false;
    for (k, v) in entries {
        match k.as_str().unwrap_or("") {
            "extensions" => {
                for (id, loc) in id_list(v, "service::extensions", errors) {
                    if errors.invalid.contains(&(Kind::Extension, id.clone())) {
                        continue;
                    }
                    if !config.extensions.contains_key(&id) {
                        errors.at(
                            loc,
                            "service::extensions",
                            format!("references extension {:?} which is not configured", id.to_string()),
                        );
                    } else {
                        config.service_extensions.push(id);
                    }
                }
            }
            "pipelines" => {
                pipelines_seen = true;
                load_pipelines(v, registry, config, errors);
            }
            "telemetry" => match v.deserialize::<TelemetryConfig>() {
                Ok(t) => {
                    for (path, message) in t.validate() {
                        let (loc, _) = v.locate(&path);
                        errors.at(loc, format!("service::telemetry::{path}"), message);
                    }
                    config.telemetry = t;
                }
                Err(e) => errors.de("service::telemetry".into(), e),
            },
            other => errors.at(
                k.loc,
                "service",
                format!("unknown key {other:?} (valid keys: extensions, pipelines, telemetry)"),
            ),
        }
    }
    if !pipelines_seen || config.pipelines.is_empty() {
        errors.at(node.loc, "service", "must have at least one pipeline");
    }
}

fn id_list(node: &Node, path: &str, errors: &mut Errors) -> Vec<(ComponentId, Location)> {
    let items: &[Node] = match &node.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => &[],
        _ => {
            errors.at(node.loc, path, "must be a list of component ids");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_str().map(ComponentId::parse) {
            Some(Ok(id)) => out.push((id, item.loc)),
            Some(Err(e)) => errors.at(item.loc, path, e),
            None => errors.at(item.loc, path, "must be a component id"),
        }
    }
    out
}

fn load_pipelines(node: &Node, registry: &Registry, config: &mut Config, errors: &mut Errors) {
    let Some(entries) = node.as_map() else {
        errors.at(
            node.loc,
            "service::pipelines",
            "must be a mapping from pipeline ids (traces, metrics, logs, traces/name, …) to pipelines",
        );
        return;
    };
    let mut seen = BTreeSet::new();
    for (k, v) in entries {
        let raw = k.as_str().unwrap_or("");
        let signal_name = raw.split('/').next().unwrap_or("");
        let Some(signal) = Signal::parse(signal_name) else {
            errors.at(
                k.loc,
                "service::pipelines",
                format!("pipeline id {raw:?}: unknown signal {signal_name:?} (valid signals: traces, metrics, logs)"),
            );
            continue;
        };
        if let Err(e) = ComponentId::parse(raw) {
            errors.at(k.loc, "service::pipelines", e);
            continue;
        }
        if !seen.insert(raw.to_string()) {
            errors.at(k.loc, "service::pipelines", format!("pipeline {raw:?} is defined twice"));
        }
        let path = format!("service::pipelines::{raw}");
        let mut p = PipelineConfig {
            id: raw.to_string(),
            signal,
            receivers: Vec::new(),
            processors: Vec::new(),
            exporters: Vec::new(),
        };
        let Some(fields) = v.as_map() else {
            errors.at(v.loc, &path, "must be a mapping with receivers, processors and exporters");
            continue;
        };
        // Kinds with at least one id listed: a pipeline whose every receiver is refused gets an
        // error per receiver, not also "must have at least one receiver".
        let mut listed_kinds = BTreeSet::new();
        for (fk, fv) in fields {
            let kind = match fk.as_str().unwrap_or("") {
                "receivers" => Kind::Receiver,
                "processors" => Kind::Processor,
                "exporters" => Kind::Exporter,
                other => {
                    errors.at(
                        fk.loc,
                        &path,
                        format!("unknown key {other:?} (valid keys: receivers, processors, exporters)"),
                    );
                    continue;
                }
            };
            let nothing_listed = match &fv.kind {
                NodeKind::Null => true,
                NodeKind::Seq(ids) => ids.is_empty(),
                _ => false,
            };
            if !nothing_listed {
                listed_kinds.insert(kind);
            }
            let mut listed = BTreeSet::new();
            for (id, loc) in id_list(fv, &path, errors) {
                // A connector is listed among receivers and exporters; its signals are checked
                // pairwise once every pipeline is known (`check_connectors`).
                let connector = matches!(kind, Kind::Receiver | Kind::Exporter)
                    && (config.connectors.contains_key(&id) || errors.invalid.contains(&(Kind::Connector, id.clone())));
                if connector {
                    if !listed.insert(id.clone()) {
                        errors.at(loc, &path, format!("references connector {:?} multiple times", id.to_string()));
                    } else if kind == Kind::Receiver {
                        p.receivers.push(id);
                    } else {
                        p.exporters.push(id);
                    }
                    continue;
                }
                // A component whose declaration failed counts as present: its error is reported.
                let invalid = errors.invalid.contains(&(kind, id.clone()));
                if !invalid && !config.section(kind).contains_key(&id) {
                    let declared = registry.factory(kind, &id.kind).is_some();
                    let connector = registry.factory(Kind::Connector, &id.kind).is_some();
                    let hint = if declared {
                        format!(" (add it under \"{}:\")", kind.section())
                    } else if connector && kind != Kind::Processor {
                        format!(
                            " (add it under \"connectors:\", with {:?} in another pipeline's {})",
                            id.to_string(),
                            if kind == Kind::Receiver { "exporters" } else { "receivers" }
                        )
                    } else if let Some(new) = renamed(kind, &id.kind) {
                        format!(
                            ", and weir has no {} type {:?} (the Collector replaced it with `{new}`)",
                            kind.as_str(),
                            id.kind
                        )
                    } else {
                        let mut has = format!("{} weir has: {}", kind.section(), registry.names(kind).join(", "));
                        if kind != Kind::Processor {
                            has.push_str(&format!("; connectors: {}", registry.names(Kind::Connector).join(", ")));
                        }
                        format!(", and weir has no {} type {:?} ({has})", kind.as_str(), id.kind)
                    };
                    errors.at(
                        loc,
                        &path,
                        format!("references {} {:?} which is not configured{hint}", kind.as_str(), id.to_string()),
                    );
                    continue;
                }
                if let Some(f) = registry.factory(kind, &id.kind) {
                    if !f.signals().contains(&signal) {
                        let supported: Vec<_> = f.signals().iter().map(|s| s.as_str()).collect();
                        errors.at(
                            loc,
                            &path,
                            format!(
                                "{} {:?} does not support {signal} (it supports: {})",
                                kind.as_str(),
                                id.to_string(),
                                supported.join(", ")
                            ),
                        );
                        continue;
                    }
                }
                if !listed.insert(id.clone()) {
                    errors.at(loc, &path, format!("references {} {:?} multiple times", kind.as_str(), id.to_string()));
                    continue;
                }
                match kind {
                    Kind::Receiver => p.receivers.push(id),
                    Kind::Processor => p.processors.push(id),
                    _ => p.exporters.push(id),
                }
            }
        }
        if !listed_kinds.contains(&Kind::Receiver) {
            errors.at(k.loc, &path, "must have at least one receiver");
        }
        if !listed_kinds.contains(&Kind::Exporter) {
            errors.at(k.loc, &path, "must have at least one exporter");
        }
        config.pipelines.push(p);
    }
}

/// Component types the Collector renamed or replaced, and their successors.
fn renamed(kind: Kind, type_name: &str) -> Option<&'static str> {
    match (kind, type_name) {
        (Kind::Exporter, "logging") => Some("debug"),
        (Kind::Extension, "health_check_v2") => Some("healthcheckv2"),
        _ => None,
    }
}

/// Checks the connectors (the Collector's rules): an id is not both a connector and a
/// receiver or exporter; a connector used as an exporter in a pipeline is used as a receiver in
/// a pipeline of a signal it can connect to, and the reverse; the pipelines joined through
/// connectors form no cycle.
fn check_connectors(registry: &Registry, config: &Config, errors: &mut Errors) {
    for (id, entry) in &config.connectors {
        let path = format!("connectors::{id}");
        for (kind, section) in [(Kind::Receiver, &config.receivers), (Kind::Exporter, &config.exporters)] {
            if section.contains_key(id) {
                errors.at(
                    entry.loc,
                    &path,
                    format!(
                        "ambiguous ID: Found both {name:?} {kind} and {name:?} connector. Change one of the components' IDs to eliminate ambiguity (e.g. rename {name:?} connector to \"{name}/connector\")",
                        name = id.to_string(),
                        kind = kind.as_str(),
                    ),
                );
            }
        }
        let pairs = registry.connector_pairs(&id.kind);
        let exporting: Vec<&PipelineConfig> = config.pipelines.iter().filter(|p| p.exporters.contains(id)).collect();
        let receiving: Vec<&PipelineConfig> = config.pipelines.iter().filter(|p| p.receivers.contains(id)).collect();
        for p in &exporting {
            if !receiving.iter().any(|q| pairs.contains(&(p.signal, q.signal))) {
                errors.at(
                    entry.loc,
                    &path,
                    format!(
                        "connector {:?} used as exporter in [{}] pipeline but not used in any supported receiver pipeline",
                        id.to_string(),
                        p.id
                    ),
                );
            }
        }
        for q in &receiving {
            if !exporting.iter().any(|p| pairs.contains(&(p.signal, q.signal))) {
                errors.at(
                    entry.loc,
                    &path,
                    format!(
                        "connector {:?} used as receiver in [{}] pipeline but not used in any supported exporter pipeline",
                        id.to_string(),
                        q.id
                    ),
                );
            }
        }
    }
    if let Some(cycle) = connector_cycle(registry, config) {
        let loc = config.connectors.get(&cycle[0].0).map(|e| e.loc).unwrap_or_default();
        let mut steps: Vec<String> =
            cycle.iter().map(|(id, from, to)| format!("connector {:?} ({from} to {to})", id.to_string())).collect();
        steps.push(steps[0].clone());
        errors.at(loc, "service::pipelines", format!("cycle detected: {}", steps.join(" -> ")));
    }
}

/// The edges between pipelines through connectors: (upstream index, downstream index,
/// connector). Only pairs of signals the connector supports.
pub fn connector_edges<'a>(registry: &Registry, config: &'a Config) -> Vec<(usize, usize, &'a ComponentId)> {
    let mut edges = Vec::new();
    for (i, p) in config.pipelines.iter().enumerate() {
        for id in p.exporters.iter().filter(|id| config.is_connector(id)) {
            let pairs = registry.connector_pairs(&id.kind);
            for (j, q) in config.pipelines.iter().enumerate() {
                if q.receivers.contains(id) && pairs.contains(&(p.signal, q.signal)) {
                    edges.push((i, j, id));
                }
            }
        }
    }
    edges
}

/// A cycle of pipelines joined through connectors, as the connectors on it (id, from, to).
fn connector_cycle(registry: &Registry, config: &Config) -> Option<Vec<(ComponentId, Signal, Signal)>> {
    let edges = connector_edges(registry, config);
    let n = config.pipelines.len();
    // Depth-first search with colours; `via[j]` is the edge that reached pipeline j.
    fn visit(
        at: usize,
        edges: &[(usize, usize, &ComponentId)],
        colour: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<(usize, Vec<usize>)> {
        colour[at] = 1;
        for (e, (from, to, _)) in edges.iter().enumerate() {
            if *from != at {
                continue;
            }
            stack.push(e);
            if colour[*to] == 1 {
                return Some((*to, stack.clone()));
            }
            if colour[*to] == 0 {
                if let Some(found) = visit(*to, edges, colour, stack) {
                    return Some(found);
                }
            }
            stack.pop();
        }
        colour[at] = 2;
        None
    }
    let mut colour = vec![0u8; n];
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = Vec::new();
        if let Some((entry, path)) = visit(start, &edges, &mut colour, &mut stack) {
            // The cycle is the part of the path from the first edge leaving `entry`.
            let first = path.iter().position(|e| edges[*e].0 == entry).unwrap_or(0);
            let signal = |i: usize| config.pipelines[i].signal;
            return Some(
                path[first..]
                    .iter()
                    .map(|e| {
                        let (from, to, id) = edges[*e];
                        (id.clone(), signal(from), signal(to))
                    })
                    .collect(),
            );
        }
    }
    None
}

/// Checks every reference from a component to an extension — each `auth::authenticator` of
/// the receivers and exporters, each exporter's `sending_queue::storage` — names a configured
/// extension, enabled in `service::extensions`, whose type offers what the component needs.
fn check_extension_references(registry: &Registry, config: &Config, errors: &mut Errors) {
    for kind in [Kind::Receiver, Kind::Exporter] {
        let needed =
            if kind == Kind::Receiver { Capability::ServerAuthenticator } else { Capability::ClientAuthenticator };
        for (id, entry) in config.section(kind) {
            let Some(factory) = registry.factory(kind, &id.kind) else { continue };
            for (key, auth) in factory.authenticators(&entry.config) {
                let path = format!("{}::{id}::{key}::authenticator", kind.section());
                check_extension_reference(registry, config, errors, entry.loc, &path, &auth.authenticator, needed);
            }
        }
    }
    for (id, entry) in &config.exporters {
        let Some(factory) = registry.exporters.get(id.kind.as_str()) else { continue };
        if let Some(storage) = &factory.settings(&entry.config).queue.storage {
            let path = format!("exporters::{id}::sending_queue::storage");
            check_extension_reference(registry, config, errors, entry.loc, &path, storage, Capability::Storage);
        }
    }
}

fn check_extension_reference(
    registry: &Registry,
    config: &Config,
    errors: &mut Errors,
    loc: Location,
    path: &str,
    reference: &str,
    needed: Capability,
) {
    let named = match ComponentId::parse(reference) {
        Ok(named) => named,
        Err(e) => return errors.at(loc, path, e),
    };
    let offering = registry.extensions_with(needed);
    if !offering.contains(&named.kind.as_str()) {
        let what = needed.describe();
        return errors.at(loc, path, format!("{reference:?} is not {what} (valid types: {})", offering.join(", ")));
    }
    if errors.invalid.contains(&(Kind::Extension, named.clone())) {
        return;
    }
    if !config.extensions.contains_key(&named) {
        return errors.at(
            loc,
            path,
            format!("references extension {reference:?} which is not configured (add it under \"extensions:\")"),
        );
    }
    if !config.service_extensions.contains(&named) {
        errors.at(loc, path, format!("extension {reference:?} must be listed in service::extensions"));
    }
}

/// The configuration `weir run` uses when there is no `pipelines.yaml`.
pub const DEFAULT_PIPELINES_YAML: &str = include_str!("../../../pipelines.yaml");

/// The file `weir run` reads when `--config` is not given.
pub fn default_path() -> PathBuf {
    PathBuf::from("pipelines.yaml")
}

#[cfg(test)]
mod tests;
