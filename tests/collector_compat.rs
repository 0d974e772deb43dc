//! The Collector compatibility suite: the Collector's own testdata configs and README examples
//! for every component weir has, and published real-world configs, kept unchanged under
//! `tests/collector-compat/` (sources in its SOURCES.md). Each fixture case is loaded as weir
//! loads `pipelines.yaml` and, when it is valid, started (on free ports, in temporary
//! directories) and stopped again, in this process:
//!
//! - a case upstream's Go tests accept (and every README example or published config) must load
//!   and start;
//! - a case upstream's Go tests reject must be refused, for upstream's reason: weir's error must
//!   name what upstream's names ([`WEIR_REASONS`], written from the upstream reasons in
//!   `cases.json`);
//! - the cases weir cannot run yet are listed, each with why, in `exceptions.txt` (and the
//!   suite's README); a listed case that starts to pass must be taken off the list.
//!
//! Expected outcomes come from upstream's tests (`cases.json`), never from running weir.
//!
//! Fixtures are whole configs (`full`), sections without a service (`sections`), or single
//! component configs (`fragment`). A fragment or a section is wrapped into a whole config
//! exactly as a user would: the component under its kind, a pipeline of a signal it supports,
//! and the `nop` receiver/exporter on the other side. Fixtures from the Collector's
//! `otelcol/testdata` use upstream's test-only `nop` processor, extension and connector
//! (`otelcol`'s `nopFactories`): the suite registers the same, as upstream's test does.
//!
//! Ports and paths are rewritten before loading (never the files): every server `endpoint`
//! becomes `127.0.0.1:<free port>`, every Unix socket, output file and storage directory a path
//! in a temporary directory. A fixture naming TLS or token files that do not exist is only
//! loaded, not started (upstream's test does not start it either); the report says so.

mod common;

use async_trait::async_trait;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use weir_core::auth::{AuthError, ClientAuthenticator, ServerAuthenticator};
use weir_core::component::{Capabilities, Capability, Extension, ExtensionFactory, Kind};
use weir_core::runtime::{Service, ServiceOptions};
use weir_core::{
    BuildContext, BuildError, ComponentConfig, Connector, ConnectorFactory, Downstream, Envelope, Output, Processor,
    ProcessorFactory, Registry, Signal,
};
use yaml_rust2::{yaml::Hash, Yaml, YamlEmitter, YamlLoader};

const DIR: &str = "tests/collector-compat";

/// What weir's error must contain for each case upstream rejects (file, case id): the key or
/// the condition upstream's reason names.
const WEIR_REASONS: &[(&str, &str, &[&str])] = &[
    ("upstream/core/receiver/otlpreceiver/testdata/typo_default_proto_config.yaml", "", &["htttp"]),
    ("upstream/core/receiver/otlpreceiver/testdata/bad_proto_config.yaml", "", &["thrift"]),
    ("upstream/core/receiver/otlpreceiver/testdata/bad_no_proto_config.yaml", "", &["must specify at least one protocol"]),
    ("upstream/core/receiver/otlpreceiver/testdata/invalid_traces_path.yaml", "", &["traces_url_path"]),
    ("upstream/core/receiver/otlpreceiver/testdata/invalid_metrics_path.yaml", "", &["metrics_url_path"]),
    ("upstream/core/receiver/otlpreceiver/testdata/invalid_logs_path.yaml", "", &["logs_url_path"]),
    ("upstream/core/internal/memorylimiter/testdata/negative_unsigned_limits_config.yaml", "", &["limit_mib"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "no_endpoint", &["endpoint"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "https_endpoint", &["endpoint"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "http_endpoint", &["endpoint"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "invalid_timeout", &["timeout"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "invalid_retry", &["randomization_factor"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "invalid_tls", &["min_version"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "missing_port", &["port"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "invalid_port", &["port"]),
    ("upstream/core/exporter/otlpexporter/testdata/invalid_configs.yaml", "invalid_unix_socket", &["endpoint"]),
    ("upstream/core/exporter/otlphttpexporter/testdata/bad_invalid_encoding.yaml", "", &["encoding"]),
    ("upstream/core/exporter/debugexporter/testdata/config_output_paths_empty.yaml", "", &["output_paths"]),
    ("upstream/core/exporter/debugexporter/testdata/config_verbosity_typo.yaml", "", &["verBosity"]),
    ("upstream/core/service/telemetry/otelconftelemetry/testdata/config_invalid_unknown_field.yaml", "", &["unknown"]),
    ("upstream/core/service/telemetry/otelconftelemetry/testdata/config_invalid_metrics_empty_readers.yaml", "", &["readers"]),
    ("upstream/core/service/telemetry/otelconftelemetry/testdata/config_invalid_metrics_views_level.yaml", "", &["views"]),
    ("upstream/core/otelcol/testdata/otelcol-invalid.yaml", "", &["references processor \"invalid\" which is not configured"]),
    ("upstream/core/otelcol/testdata/otelcol-invalid-telemetry.yaml", "", &["unknown"]),
    ("upstream/core/otelcol/testdata/otelcol-invalid-components.yaml", "", &["nosuchprocessor"]),
    ("upstream/core/otelcol/testdata/otelcol-invalid-connector-unused-exp.yaml", "", &["connector \"nop/connector1\" used as receiver in [logs/in2] pipeline but not used in any supported exporter pipeline"]),
    ("upstream/core/otelcol/testdata/otelcol-invalid-connector-unused-rec.yaml", "", &["connector \"nop/connector1\" used as exporter in [logs/in2] pipeline but not used in any supported receiver pipeline"]),
    ("upstream/core/otelcol/testdata/otelcol-cyclic-connector.yaml", "", &["cycle detected: connector \"nop/forward\" (traces to traces) -> connector \"nop/forward\" (traces to traces)"]),
    ("upstream/contrib/exporter/clickhouseexporter/testdata/config.yaml", "clickhouse/invalid-endpoint", &["endpoint"]),
    ("upstream/contrib/exporter/fileexporter/testdata/config.yaml", "file", &["path"]),
    ("upstream/contrib/exporter/fileexporter/testdata/config.yaml", "file/format_error", &["format"]),
    ("upstream/contrib/exporter/fileexporter/testdata/config.yaml", "file/compression_error", &["compression"]),
    ("upstream/contrib/exporter/fileexporter/testdata/config.yaml", "file/flush_interval_negative_value", &["flush_interval"]),
    ("upstream/contrib/exporter/fileexporter/testdata/config.yaml", "file/group_by_invalid_path", &["group_by", "*"]),
    ("upstream/contrib/exporter/fileexporter/testdata/config.yaml", "file/group_by_invalid_path2", &["group_by", "*"]),
    ("upstream/contrib/exporter/fileexporter/testdata/config.yaml", "file/group_by_empty_resource_attribute", &["resource_attribute"]),
    ("upstream/contrib/processor/probabilisticsamplerprocessor/testdata/invalid_negative.yaml", "", &["sampling_percentage"]),
    ("upstream/contrib/processor/probabilisticsamplerprocessor/testdata/invalid_small.yaml", "", &["sampling_percentage"]),
    ("upstream/contrib/processor/probabilisticsamplerprocessor/testdata/invalid_inf.yaml", "", &["sampling_percentage"]),
    ("upstream/contrib/processor/probabilisticsamplerprocessor/testdata/invalid_prec.yaml", "", &["sampling_precision"]),
    ("upstream/contrib/processor/probabilisticsamplerprocessor/testdata/invalid_zero.yaml", "", &["sampling_precision"]),
    ("upstream/contrib/processor/resourceprocessor/testdata/config.yaml", "resource/invalid", &["attributes"]),
    ("upstream/contrib/extension/healthcheckextension/testdata/config.yaml", "health_check/missingendpoint", &["endpoint"]),
    ("upstream/contrib/extension/healthcheckextension/testdata/config.yaml", "health_check/invalidthreshold", &["exporter_failure_threshold"]),
    ("upstream/contrib/extension/healthcheckextension/testdata/config.yaml", "health_check/invalidpath", &["path"]),
    ("upstream/contrib/extension/bearertokenauthextension/testdata/config.yaml", "bearertokenauth", &["token"]),
    ("upstream/contrib/extension/bearertokenauthextension/testdata/config.yaml", "bearertokenauth/tokensandtoken", &["tokens"]),
];

#[derive(Deserialize)]
struct Entry {
    file: String,
    form: String,
    kind: Option<String>,
    #[serde(rename = "type")]
    type_name: Option<String>,
    /// For a fragment that is a part of a component's config, not all of it: the key path
    /// (`scrapers::cpu`) where each case's node sits in the component's config. The
    /// Collector's generated metadata tests load a `hostmetrics` scraper's metrics settings,
    /// which users write under `scrapers::<scraper>`.
    #[serde(default)]
    within: Option<String>,
    cases: Vec<CaseSpec>,
}

#[derive(Deserialize)]
struct CaseSpec {
    id: String,
    expect: String,
    /// For an upstream-invalid case: what weir's message must contain (upstream's reason in
    /// weir's words). Cases in `cases.json` keep theirs in [`WEIR_REASONS`]; cases in
    /// `cases.d/*.json` carry them here.
    #[serde(default)]
    weir_reason: Vec<String>,
}

/// What happened to one case.
#[derive(Debug)]
enum Outcome {
    /// Loaded and started (and stopped).
    Started,
    /// Loaded; not started because it names files that do not exist (listed).
    LoadedOnly(String),
    /// Refused, with weir's messages.
    Refused(String),
    /// Not a config at all (an elided README snippet).
    NotAConfig,
}

struct Row {
    file: String,
    id: String,
    expect: String,
    outcome: Outcome,
    pass: bool,
    excepted: Option<String>,
}

fn root() -> PathBuf {
    common::repo_root().join(DIR)
}

/// `dir/*.<ext>` in name order: the per-component case and exception files.
fn files_in(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(root().join(dir)) {
        Ok(entries) => entries.map(|e| e.expect("dir entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    files.retain(|p| p.extension().is_some_and(|e| e == ext));
    files.sort();
    files
}

/// Every fixture entry: `cases.json`, then `cases.d/*.json` (one file per component family,
/// so that work on different components does not edit the same file).
fn entries() -> Vec<Entry> {
    let mut paths = vec![root().join("cases.json")];
    paths.extend(files_in("cases.d", "json"));
    paths
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            serde_json::from_str::<Vec<Entry>>(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

/// `exceptions.txt` and `exceptions.d/*.txt`: `<file>#<case id>: <category>: <why>`, one a
/// line, `#` comments.
fn exceptions() -> BTreeMap<(String, String), String> {
    let mut paths = vec![root().join("exceptions.txt")];
    paths.extend(files_in("exceptions.d", "txt"));
    let text: String = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())) + "\n")
        .collect();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("# "))
        .map(|l| {
            let (case, why) = l.split_once(": ").unwrap_or_else(|| panic!("exceptions.txt: no reason in {l:?}"));
            let (file, id) = case.split_once('#').unwrap_or((case, ""));
            ((file.to_string(), id.to_string()), why.to_string())
        })
        .collect()
}

fn key(s: &str) -> Yaml {
    Yaml::String(s.to_string())
}

fn map(entries: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Hash(entries.into_iter().map(|(k, v)| (key(k), v)).collect())
}

fn list(ids: &[&str]) -> Yaml {
    Yaml::Array(ids.iter().map(|i| key(i)).collect())
}

fn get<'a>(y: &'a Yaml, k: &str) -> Option<&'a Yaml> {
    y.as_hash().and_then(|h| h.get(&key(k)))
}

fn kind_of(section: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.section() == section)
}

/// The first signal a component type supports (for connectors: the first pair's input).
fn first_signal(registry: &Registry, kind: Kind, type_name: &str) -> Signal {
    registry
        .describe(kind)
        .into_iter()
        .find(|(n, _)| *n == type_name)
        .and_then(|(_, s)| s.first().copied())
        .unwrap_or(Signal::Traces)
}

/// A whole config around one component: its section, the `nop` counterparts, a pipeline.
fn around(registry: &Registry, kind: Kind, id: &str, node: Yaml) -> Yaml {
    let type_name = id.split('/').next().unwrap_or(id);
    let mut top = Hash::new();
    let mut section = Hash::new();
    section.insert(key(id), node);
    top.insert(key(kind.section()), Yaml::Hash(section));
    let (mut receivers, mut processors, mut exporters) = (vec!["nop"], vec![], vec!["nop"]);
    let mut extensions = vec![];
    let mut signal = Signal::Traces;
    match kind {
        Kind::Receiver => {
            receivers = vec![id];
            signal = first_signal(registry, kind, type_name);
        }
        Kind::Processor => {
            processors = vec![id];
            signal = first_signal(registry, kind, type_name);
        }
        Kind::Exporter => {
            exporters = vec![id];
            signal = first_signal(registry, kind, type_name);
        }
        Kind::Extension => extensions = vec![id],
        Kind::Connector => {}
    }
    // Extensions the component names (an authenticator, a queue's storage) but the fragment
    // does not configure: upstream's test only unmarshals the fragment and never resolves
    // them; a user would configure them, so the whole config does.
    let mut named = BTreeSet::new();
    named_extensions(top.values().next().unwrap_or(&Yaml::Null), &mut named);
    if !named.is_empty() {
        let mut section = Hash::new();
        for name in &named {
            section.insert(key(name), Yaml::Hash(Hash::new()));
            extensions.push(name.as_str());
        }
        top.insert(key("extensions"), Yaml::Hash(section));
    }
    if kind != Kind::Receiver {
        top.insert(key("receivers"), map(vec![("nop", Yaml::Null)]));
    }
    if kind != Kind::Exporter {
        top.insert(key("exporters"), map(vec![("nop", Yaml::Null)]));
    }
    let pipeline =
        map(vec![("receivers", list(&receivers)), ("processors", list(&processors)), ("exporters", list(&exporters))]);
    top.insert(
        key("service"),
        map(vec![("extensions", list(&extensions)), ("pipelines", map(vec![(signal.as_str(), pipeline)]))]),
    );
    Yaml::Hash(top)
}

/// The extension ids a component config names: `auth::authenticator` and `storage` values.
fn named_extensions(y: &Yaml, out: &mut BTreeSet<String>) {
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                match (k.as_str(), v.as_str()) {
                    (Some("authenticator" | "storage"), Some(id)) if !id.is_empty() => {
                        out.insert(id.to_string());
                    }
                    _ => named_extensions(v, out),
                }
            }
        }
        Yaml::Array(items) => items.iter().for_each(|i| named_extensions(i, out)),
        _ => {}
    }
}

/// A whole config around `sections` (receivers, processors, …) without a usable service:
/// each component in a pipeline of its own, with `nop` counterparts.
fn around_sections(registry: &Registry, sections: &Yaml) -> Yaml {
    let mut top = sections.as_hash().cloned().unwrap_or_default();
    top.remove(&key("service"));
    for section in ["receivers", "exporters"] {
        let entry = top.entry(key(section)).or_insert(Yaml::Hash(Hash::new()));
        if let Yaml::Hash(h) = entry {
            h.entry(key("nop")).or_insert(Yaml::Null);
        } else {
            *entry = map(vec![("nop", Yaml::Null)]);
        }
    }
    let mut pipelines = Hash::new();
    let mut extensions = Vec::new();
    for (section, components) in sections.as_hash().into_iter().flatten() {
        let Some(kind) = section.as_str().and_then(kind_of) else { continue };
        for (id, _) in components.as_hash().into_iter().flatten() {
            let Some(id) = id.as_str() else { continue };
            let type_name = id.split('/').next().unwrap_or(id);
            let signal = first_signal(registry, kind, type_name);
            let name = format!("{signal}/{}_{}", kind.as_str(), id.replace('/', "_"));
            let (r, p, e) = match kind {
                Kind::Receiver => (vec![id], vec![], vec!["nop"]),
                Kind::Processor => (vec!["nop"], vec![id], vec!["nop"]),
                Kind::Exporter => (vec!["nop"], vec![], vec![id]),
                Kind::Extension => {
                    extensions.push(id.to_string());
                    continue;
                }
                Kind::Connector => continue,
            };
            if id == "nop" && kind != Kind::Processor {
                continue;
            }
            pipelines.insert(
                key(&name),
                map(vec![("receivers", list(&r)), ("processors", list(&p)), ("exporters", list(&e))]),
            );
        }
    }
    if pipelines.is_empty() {
        pipelines.insert(key("traces"), map(vec![("receivers", list(&["nop"])), ("exporters", list(&["nop"]))]));
    }
    let ext: Vec<&str> = extensions.iter().map(String::as_str).collect();
    top.insert(key("service"), map(vec![("extensions", list(&ext)), ("pipelines", Yaml::Hash(pipelines))]));
    Yaml::Hash(top)
}

/// A whole config with `telemetry` as `service::telemetry` (or one part of it).
fn around_telemetry(part: Option<&str>, node: Yaml) -> Yaml {
    let telemetry = match part {
        Some(p) => map(vec![(p, node)]),
        None => node,
    };
    map(vec![
        ("receivers", map(vec![("nop", Yaml::Null)])),
        ("exporters", map(vec![("nop", Yaml::Null)])),
        (
            "service",
            map(vec![
                ("telemetry", telemetry),
                (
                    "pipelines",
                    map(vec![("traces", map(vec![("receivers", list(&["nop"])), ("exporters", list(&["nop"]))]))]),
                ),
            ]),
        ),
    ])
}

/// Rewrites ports and paths so the config can run here, beside other tests.
struct Rewriter<'a> {
    dir: &'a Path,
    n: usize,
}

impl Rewriter<'_> {
    fn fresh_path(&mut self, what: &str) -> String {
        self.n += 1;
        self.dir.join(format!("{what}-{}", self.n)).display().to_string()
    }

    /// Servers (receivers, extensions): `endpoint` → a free port, or a socket path.
    fn server(&mut self, y: &mut Yaml) {
        let Yaml::Hash(h) = y else {
            if let Yaml::Array(items) = y {
                items.iter_mut().for_each(|i| self.server(i));
            }
            return;
        };
        let unix = h.get(&key("transport")).and_then(Yaml::as_str) == Some("unix");
        for (k, v) in h.iter_mut() {
            match (k.as_str(), &v) {
                // An empty endpoint stays empty: it means "bind any port" to some components
                // and is an error to others, as upstream decides.
                (Some("endpoint"), Yaml::String(s)) if !s.is_empty() => {
                    // A URL (a client inside a receiver, e.g. the prometheus receiver's
                    // target_allocator) keeps its scheme and points at a free loopback port.
                    let scheme = s.split_once("://").map(|(scheme, _)| scheme.to_string());
                    *v = key(&if unix {
                        self.fresh_path("socket")
                    } else if let Some(scheme) = scheme {
                        format!("{scheme}://127.0.0.1:{}", common::free_port())
                    } else {
                        format!("127.0.0.1:{}", common::free_port())
                    });
                }
                _ => self.server(v),
            }
        }
    }

    /// Exporters: output files and directories into the temporary directory.
    fn exporter(&mut self, type_name: &str, y: &mut Yaml) {
        if !matches!(type_name, "file" | "parquet") {
            return;
        }
        if let Yaml::Hash(h) = y {
            for (k, v) in h.iter_mut() {
                if k.as_str() == Some("path") {
                    let original = v.as_str().unwrap_or("out").to_string();
                    let file = Path::new(&original).file_name().map(|f| f.to_string_lossy().to_string());
                    *v = key(&format!("{}/{}", self.fresh_path("out"), file.unwrap_or_else(|| "out".into())));
                }
            }
        }
    }

    /// `file_storage` directories, telemetry output files and addresses.
    fn extension(&mut self, type_name: &str, y: &mut Yaml) {
        if type_name == "file_storage" {
            if let Yaml::Hash(h) = y {
                h.insert(key("directory"), key(&self.fresh_path("storage")));
                h.insert(key("create_directory"), Yaml::Boolean(true));
            }
            return;
        }
        self.server(y);
    }

    fn telemetry(&mut self, y: &mut Yaml) {
        let Yaml::Hash(h) = y else { return };
        for (k, v) in h.iter_mut() {
            match k.as_str() {
                Some("address") | Some("endpoint") if v.as_str().is_some() => {
                    *v = key(&format!("127.0.0.1:{}", common::free_port()));
                }
                Some("port") if matches!(v, Yaml::Integer(_)) => *v = Yaml::Integer(i64::from(common::free_port())),
                Some("host") if v.as_str().is_some() => *v = key("127.0.0.1"),
                Some("output_paths" | "error_output_paths") => {
                    if let Yaml::Array(paths) = v {
                        for p in paths.iter_mut() {
                            if !matches!(p.as_str(), Some("stdout" | "stderr")) {
                                *p = key(&self.fresh_path("log"));
                            }
                        }
                    }
                }
                _ => self.telemetry(v),
            }
        }
        if let Some(Yaml::Array(items)) = h.get_mut(&key("readers")) {
            items.iter_mut().for_each(|i| self.telemetry(i));
        }
    }

    fn config(&mut self, y: &mut Yaml) {
        let Yaml::Hash(top) = y else { return };
        for (section, components) in top.iter_mut() {
            let section = section.as_str().unwrap_or("");
            if section == "service" {
                if let Yaml::Hash(service) = components {
                    if let Some(t) = service.get_mut(&key("telemetry")) {
                        self.telemetry(t);
                    }
                }
                continue;
            }
            let Yaml::Hash(components) = components else { continue };
            for (id, c) in components.iter_mut() {
                let type_name = id.as_str().unwrap_or("").split('/').next().unwrap_or("").to_string();
                match section {
                    "receivers" => self.server(c),
                    "exporters" => self.exporter(&type_name, c),
                    "extensions" => self.extension(&type_name, c),
                    _ => {}
                }
            }
        }
    }
}

/// Files a config names that do not exist here (TLS material, token files).
fn missing_files(y: &Yaml, out: &mut BTreeSet<String>) {
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                let file_key =
                    matches!(k.as_str(), Some("cert_file" | "key_file" | "ca_file" | "client_ca_file" | "filename"));
                match v.as_str() {
                    Some(p) if file_key && !p.is_empty() && !Path::new(p).exists() => {
                        out.insert(p.to_string());
                    }
                    _ => missing_files(v, out),
                }
            }
        }
        Yaml::Array(items) => items.iter().for_each(|i| missing_files(i, out)),
        _ => {}
    }
}

fn emit(y: &Yaml) -> String {
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(y).expect("a YAML tree emits");
    out
}

/// Loads and, when valid, starts and stops `config`.
fn check(registry: &Registry, name: &str, mut config: Yaml, runtime: &tokio::runtime::Runtime) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    Rewriter { dir: dir.path(), n: 0 }.config(&mut config);
    let mut missing = BTreeSet::new();
    missing_files(&config, &mut missing);
    let text = emit(&config);
    let env =
        |name: &str| Some(if name.ends_with("_IP") { "127.0.0.1".to_string() } else { "weir-compat".to_string() });
    let loaded = match weir_core::config::load_str(name, &text, registry, &env) {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    if !missing.is_empty() {
        return Outcome::LoadedOnly(format!("names files that do not exist: {missing:?}"));
    }
    runtime.block_on(async {
        let started =
            tokio::time::timeout(Duration::from_secs(30), Service::start(&loaded, registry, ServiceOptions::default()))
                .await;
        match started {
            Ok(Ok(service)) => {
                let _ = tokio::time::timeout(Duration::from_secs(30), service.shutdown()).await;
                Outcome::Started
            }
            Ok(Err(e)) => Outcome::Refused(format!("{name}: start: {e}")),
            Err(_) => Outcome::Refused(format!("{name}: start did not finish within 30s")),
        }
    })
}

/// The whole config a case runs as.
fn case_config(registry: &Registry, entry: &Entry, doc: &Yaml, id: &str) -> Yaml {
    match entry.form.as_str() {
        "full" => doc.clone(),
        "sections" => {
            // A case id is `<section>::<component id>`: that component alone, in its section.
            let (section, component) = id.split_once("::").unwrap_or(("", id));
            let node = get(doc, section).and_then(|s| get(s, component)).cloned().unwrap_or(Yaml::Null);
            match kind_of(section) {
                Some(kind) => around(registry, kind, component, node),
                None => around_sections(registry, doc),
            }
        }
        _ => {
            let kind = entry.kind.as_deref().unwrap_or("");
            let mut node = if id.is_empty() { doc.clone() } else { get(doc, id).cloned().unwrap_or(Yaml::Null) };
            if let Some(within) = &entry.within {
                for k in within.rsplit("::") {
                    node = map(vec![(k, node)]);
                }
            }
            if let Some(part) = kind.strip_prefix("service::telemetry") {
                return around_telemetry(part.strip_prefix("::"), node);
            }
            let kind = kind_of(&format!("{kind}s")).expect("a component kind");
            let type_name = entry.type_name.as_deref().unwrap_or("");
            // `invalid_configs.yaml` keys are test-case names, each a config of `type`.
            let component = if id.is_empty() || !id.starts_with(type_name.split('_').next().unwrap_or(type_name)) {
                type_name.to_string()
            } else {
                id.to_string()
            };
            around(registry, kind, &component, node)
        }
    }
}

#[test]
fn collector_fixtures_load_and_start_as_upstream_says() {
    weir_core::telemetry::prometheus();
    let entries = entries();
    let mut exceptions = exceptions();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut rows = Vec::new();
    for entry in &entries {
        let registry = if entry.file.starts_with("upstream/core/otelcol/testdata/") {
            nop_registry()
        } else {
            stand_in_registry()
        };
        let text = std::fs::read_to_string(root().join(&entry.file)).expect("fixture");
        for case in &entry.cases {
            let doc = YamlLoader::load_from_str(&text).ok().and_then(|d| d.into_iter().next());
            let outcome = match (entry.form.as_str(), doc) {
                ("not-a-config", _) | (_, None) => Outcome::NotAConfig,
                (_, Some(doc)) => {
                    let config = case_config(&registry, entry, &doc, &case.id);
                    check(&registry, &entry.file, config, &runtime)
                }
            };
            let pass = match (case.expect.as_str(), &outcome) {
                (_, Outcome::NotAConfig) => true,
                ("invalid", Outcome::Refused(msg)) if !case.weir_reason.is_empty() => {
                    case.weir_reason.iter().all(|n| msg.contains(n.as_str()))
                }
                ("invalid", Outcome::Refused(msg)) => WEIR_REASONS
                    .iter()
                    .find(|(f, i, _)| *f == entry.file && *i == case.id)
                    .is_some_and(|(_, _, needles)| needles.iter().all(|n| msg.contains(n))),
                ("invalid", _) => false,
                (_, Outcome::Started | Outcome::LoadedOnly(_)) => true,
                (_, Outcome::Refused(_)) => false,
            };
            let excepted = exceptions.remove(&(entry.file.clone(), case.id.clone()));
            rows.push(Row {
                file: entry.file.clone(),
                id: case.id.clone(),
                expect: case.expect.clone(),
                outcome,
                pass,
                excepted,
            });
        }
    }
    report(&rows);
    assert!(exceptions.is_empty(), "exceptions.txt lists cases that are not in cases.json: {:?}", exceptions.keys());
    let unexpected: Vec<&Row> = rows.iter().filter(|r| !r.pass && r.excepted.is_none()).collect();
    let stale: Vec<&Row> = rows.iter().filter(|r| r.pass && r.excepted.is_some()).collect();
    let valid =
        |r: &&Row| r.expect == "valid" && !r.excepted.as_deref().is_some_and(|e| e.starts_with("missing component"));
    let (valid_total, valid_pass) =
        (rows.iter().filter(valid).count(), rows.iter().filter(valid).filter(|r| r.pass).count());
    let invalid_total = rows.iter().filter(|r| r.expect == "invalid").count();
    let invalid_pass = rows.iter().filter(|r| r.expect == "invalid" && r.pass).count();
    println!(
        "upstream-valid cases of implemented components: {valid_pass}/{valid_total} load and start; upstream-invalid: {invalid_pass}/{invalid_total} refused for upstream's reason"
    );
    assert!(
        unexpected.is_empty(),
        "cases that do not behave as upstream says and are not listed in exceptions.txt:\n{}",
        unexpected.iter().map(|r| describe(r)).collect::<Vec<_>>().join("\n")
    );
    assert!(
        stale.is_empty(),
        "cases listed in exceptions.txt that now behave as upstream says (take them off the list):\n{}",
        stale.iter().map(|r| describe(r)).collect::<Vec<_>>().join("\n")
    );
    assert!(
        valid_pass * 100 >= valid_total * 95,
        "only {valid_pass} of {valid_total} upstream-valid cases load and start (the goal is 95%)"
    );
    assert_eq!(invalid_pass, invalid_total, "every upstream-invalid case must be refused for upstream's reason");
}

fn describe(r: &Row) -> String {
    let id = if r.id.is_empty() { String::new() } else { format!("#{}", r.id) };
    let outcome = match &r.outcome {
        Outcome::Started => "loads and starts".to_string(),
        Outcome::LoadedOnly(why) => format!("loads ({why})"),
        Outcome::Refused(msg) => format!("refused: {}", msg.replace('\n', " | ")),
        Outcome::NotAConfig => "not a config".to_string(),
    };
    format!("  {}{id} (upstream: {}): {outcome}", r.file, r.expect)
}

fn report(rows: &[Row]) {
    println!("{:<6} {:<10} case", "result", "upstream");
    for r in rows {
        let result = match (r.pass, &r.excepted) {
            (true, _) => "ok",
            (false, Some(_)) => "except",
            (false, None) => "FAIL",
        };
        println!("{result:<6} {}", describe(r).trim_start());
    }
}

// ---------------------------------------------------------------------------------------------
// Upstream's test-only `nop` processor, extension and connector (otelcol's `nopFactories`),
// for the fixtures of `otelcol/testdata`, which are written against them.

fn nop_registry() -> Registry {
    let mut r = weir::registry();
    r.add_processor(NopProcessorFactory);
    r.add_extension(NopExtensionFactory("nop"));
    r.add_connector(NopConnectorFactory);
    r
}

/// weir's components, and stand-ins for the authenticator extensions upstream's fixtures name
/// without configuring (`auth::authenticator: test` in the otlp receiver's, `nop` in the otlp
/// exporter's): upstream's tests never resolve them.
fn stand_in_registry() -> Registry {
    let mut r = weir::registry();
    r.add_extension(NopExtensionFactory("nop"));
    r.add_extension(NopExtensionFactory("test"));
    r
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoKeys {}

impl ComponentConfig for NoKeys {}

struct NopProcessorFactory;

impl ProcessorFactory for NopProcessorFactory {
    type Config = NoKeys;
    fn type_name(&self) -> &'static str {
        "nop"
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn build(&self, _: &BuildContext, _: &NoKeys) -> Result<Box<dyn Processor>, BuildError> {
        Ok(Box::new(NopProcessor))
    }
}

struct NopProcessor;

#[async_trait]
impl Processor for NopProcessor {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        while let Some(env) = input.recv().await {
            let _ = output.send(env).await;
        }
    }
}

/// An extension that does nothing; as an authenticator it lets every request through and adds
/// no credentials.
struct NopExtensionFactory(&'static str);

impl ExtensionFactory for NopExtensionFactory {
    type Config = NoKeys;
    fn type_name(&self) -> &'static str {
        self.0
    }
    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::ServerAuthenticator, Capability::ClientAuthenticator]
    }
    fn build(&self, _: &BuildContext, _: &NoKeys) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(NopExtension))
    }
}

struct NopExtension;

#[async_trait]
impl Extension for NopExtension {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            server_authenticator: Some(Arc::new(LetThrough)),
            client_authenticator: Some(Arc::new(LetThrough)),
            storage: None,
        }
    }
}

struct LetThrough;

impl ServerAuthenticator for LetThrough {
    fn authenticate(&self, _: &http::HeaderMap) -> Result<(), AuthError> {
        Ok(())
    }
}

impl ClientAuthenticator for LetThrough {
    fn headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)> {
        Vec::new()
    }
}

struct NopConnectorFactory;

const ALL_PAIRS: [(Signal, Signal); 9] = [
    (Signal::Traces, Signal::Traces),
    (Signal::Traces, Signal::Metrics),
    (Signal::Traces, Signal::Logs),
    (Signal::Metrics, Signal::Traces),
    (Signal::Metrics, Signal::Metrics),
    (Signal::Metrics, Signal::Logs),
    (Signal::Logs, Signal::Traces),
    (Signal::Logs, Signal::Metrics),
    (Signal::Logs, Signal::Logs),
];

impl ConnectorFactory for NopConnectorFactory {
    type Config = NoKeys;
    fn type_name(&self) -> &'static str {
        "nop"
    }
    fn signal_pairs(&self) -> &'static [(Signal, Signal)] {
        &ALL_PAIRS
    }
    fn build(&self, _: &BuildContext, _: &NoKeys, _: Signal, _: Signal) -> Result<Box<dyn Connector>, BuildError> {
        Ok(Box::new(NopConnector))
    }
}

struct NopConnector;

#[async_trait]
impl Connector for NopConnector {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, _downstream: Vec<Downstream>) {
        while input.recv().await.is_some() {}
    }
}
