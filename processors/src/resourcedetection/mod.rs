//! `resourcedetection`: detects facts about where weir runs (environment variables, the host,
//! Docker, cloud metadata services) and adds them to the resource of every span, data point and
//! log record, as the Collector's `resourcedetectionprocessor` does.
//!
//! Design:
//! - **Detection** runs once, when the processor starts (every signal's instance of one
//!   processor id shares it, as the Collector shares one provider per id), and again every
//!   `refresh_interval` when that is set. All detectors run concurrently; a detector that fails
//!   is retried with backoff (1s, doubling) until `timeout`, then contributes nothing — its
//!   first failure is logged at warn level, as the Collector logs "failed to detect resource".
//!   Off their platform the cloud detectors contribute nothing without failing. The results
//!   are merged in `detectors` order, the first detector's value winning.
//! - **Merging** compiles the detected attributes once into OTTL `set` statements in the
//!   `resource` context (guarded by `attributes[k] == nil` when `override: false`) and runs
//!   them with the same machinery as `resource` and `transform`: each resource header is
//!   re-encoded once, its spans, data points and log records are copied as byte ranges.
//! - Items wait in the processor's bounded input channel while the first detection runs
//!   (at most `timeout`), as the Collector's start waits for it.
//!
//! Not done: the resource's `schema_url` is not set from the detectors' schema URL (weir's OTTL
//! cannot write it); the detectors listed in [`config::REFUSED`] are refused with the reason.

mod cloud;
pub mod config;
mod detectors;
mod http;

pub use config::ResourceDetectionConfig;

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, watch, OnceCell};
use weir_core::component::BuildContext;
use weir_core::{BuildError, ComponentConfig, Envelope, Output, Payload, Processor, ProcessorFactory, Signal};
use weir_ottl::{ContextKind, ErrorMode, Outcome, RunStats, StatementGroup};

/// A detected attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Strs(Vec<String>),
}

/// Detected attributes, in detection order.
pub type Attributes = Vec<(String, Value)>;

/// Where the detectors look: the process environment and the well-known addresses and files.
/// Unit tests replace them with recorded answers.
#[derive(Debug, Clone)]
pub struct Host {
    /// Environment variables; `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// The EC2 instance metadata service (`AWS_EC2_METADATA_SERVICE_ENDPOINT` overrides it).
    pub imds: String,
    /// The GCP metadata server (`GCE_METADATA_HOST` overrides it).
    pub gcp: String,
    /// The Azure instance metadata service.
    pub azure: String,
    /// The Docker Engine socket (`DOCKER_HOST=unix://…` overrides it).
    pub docker_socket: String,
    /// Where the machine id is read from, in order.
    pub machine_id_paths: Vec<PathBuf>,
    /// Elastic Beanstalk's environment file.
    pub beanstalk_conf: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            env: None,
            imds: "http://169.254.169.254".into(),
            gcp: "http://169.254.169.254".into(),
            azure: "http://169.254.169.254".into(),
            docker_socket: "/var/run/docker.sock".into(),
            machine_id_paths: vec!["/etc/machine-id".into(), "/var/lib/dbus/machine-id".into()],
            beanstalk_conf: "/var/elasticbeanstalk/xray/environment.conf".into(),
        }
    }
}

impl Host {
    pub(crate) fn var(&self, k: &str) -> Option<String> {
        match &self.env {
            Some(env) => env.get(k).cloned(),
            None => std::env::var(k).ok(),
        }
    }
}

/// Runs one detector once.
async fn detect_one(name: &str, c: &ResourceDetectionConfig, host: &Host) -> Result<Attributes, String> {
    match name {
        "env" => detectors::detect_env(host),
        "system" => detectors::detect_system(&c.system, host).await,
        "docker" => detectors::detect_docker(&c.docker.resource_attributes, host).await,
        "lambda" => Ok(detectors::detect_lambda(&c.lambda.resource_attributes, host)),
        "heroku" => Ok(detectors::detect_heroku(&c.heroku.resource_attributes, host)),
        "elastic_beanstalk" => detectors::detect_elasticbeanstalk(&c.elasticbeanstalk.resource_attributes, host),
        "ec2" => cloud::detect_ec2(&c.ec2, host).await,
        "ecs" => cloud::detect_ecs(&c.ecs.resource_attributes, host).await,
        "eks" => cloud::detect_eks(host),
        "gcp" => cloud::detect_gcp(&c.gcp.resource_attributes, host).await,
        "azure" => cloud::detect_azure(&c.azure, host).await,
        "aks" => cloud::detect_aks(&c.aks.resource_attributes, host).await,
        "k8snode" => cloud::detect_k8snode(&c.k8snode, host),
        other => Err(format!("invalid detector key: {other}")),
    }
}

/// Runs one detector, retrying failures with backoff until `deadline`; `None` when it never
/// succeeded.
async fn detect_retrying(
    name: String,
    c: Arc<ResourceDetectionConfig>,
    host: Arc<Host>,
    deadline: tokio::time::Instant,
) -> Option<Attributes> {
    let mut wait = Duration::from_secs(1);
    let mut failures = 0u32;
    loop {
        match tokio::time::timeout_at(deadline, detect_one(&name, &c, &host)).await {
            Ok(Ok(attrs)) => return Some(attrs),
            Ok(Err(error)) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(message = "failed to detect resource", detector = %name, %error);
                } else {
                    tracing::debug!(message = "failed to detect resource", detector = %name, %error, attempt = failures);
                }
            }
            Err(_) => {
                if failures == 0 {
                    tracing::warn!(message = "failed to detect resource: timed out", detector = %name, timeout = ?c.timeout);
                }
                return None;
            }
        }
        if tokio::time::timeout_at(deadline, tokio::time::sleep(wait)).await.is_err() {
            return None;
        }
        wait = (wait * 2).min(c.timeout.max(Duration::from_secs(1)));
    }
}

/// Runs every configured detector and merges their attributes (the earlier detector wins),
/// keeping only `attributes` when that deprecated list is set.
pub async fn detect(c: Arc<ResourceDetectionConfig>, host: Arc<Host>) -> Attributes {
    tracing::info!(message = "began detecting resource information");
    let deadline = tokio::time::Instant::now() + c.timeout;
    let tasks: Vec<_> = c
        .detectors
        .iter()
        .map(|d| tokio::spawn(detect_retrying(d.trim().to_string(), c.clone(), host.clone(), deadline)))
        .collect();
    let mut merged: Attributes = Vec::new();
    for t in tasks {
        for (k, v) in t.await.ok().flatten().unwrap_or_default() {
            if !merged.iter().any(|(m, _)| *m == k) {
                merged.push((k, v));
            }
        }
    }
    if let Some(keep) = c.attributes.as_ref().filter(|k| !k.is_empty()) {
        let dropped: Vec<String> = merged.iter().filter(|(k, _)| !keep.contains(k)).map(|(k, _)| k.clone()).collect();
        merged.retain(|(k, _)| keep.contains(k));
        if !dropped.is_empty() {
            tracing::info!(message = "dropped resource information", keys = %dropped.join(","));
        }
    }
    let shown: Vec<String> = merged.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    tracing::info!(message = "detected resource information", resource = %shown.join(", "));
    merged
}

/// Detected attributes compiled for merging into resources.
pub struct Merge {
    pub attributes: Attributes,
    group: Option<StatementGroup>,
}

fn literal(v: &Value) -> String {
    match v {
        Value::Str(s) => crate::attraction::quoted(s),
        Value::Int(i) => i.to_string(),
        Value::Strs(items) => {
            let items: Vec<String> = items.iter().map(|s| crate::attraction::quoted(s)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

impl Merge {
    /// Compiles `attributes` into one `set` per attribute, guarded unless `override`.
    pub fn compile(attributes: Attributes, override_: bool) -> Result<Merge, String> {
        if attributes.is_empty() {
            return Ok(Merge { attributes, group: None });
        }
        let statements: Vec<String> = attributes
            .iter()
            .map(|(k, v)| {
                let attr = format!("attributes[{}]", crate::attraction::quoted(k));
                let guard = if override_ { String::new() } else { format!(" where {attr} == nil") };
                format!("set({attr}, {}){guard}", literal(v))
            })
            .collect();
        let group = StatementGroup::compile(
            Some(ContextKind::Resource),
            &[],
            &statements,
            ErrorMode::Ignore,
            &[ContextKind::Resource],
        )
        .map_err(|(_, e)| e.message)?;
        Ok(Merge { attributes, group: Some(group) })
    }

    /// Merges into every resource of `payload`.
    pub fn apply(&self, payload: &Payload) -> Outcome {
        let Some(group) = &self.group else { return Outcome::Unchanged };
        let mut stats = RunStats::default();
        match weir_ottl::transform(payload, std::slice::from_ref(group), &mut stats) {
            Ok(outcome) => outcome,
            // `set` of a literal cannot fail; were it to, the items pass unchanged.
            Err(error) => {
                tracing::warn!(message = "Merging detected attributes failed; the items pass unchanged.", %error);
                Outcome::Unchanged
            }
        }
    }
}

/// One processor id's detection, shared by its per-signal instances.
struct Provider {
    config: Arc<ResourceDetectionConfig>,
    host: Arc<Host>,
    current: OnceCell<watch::Receiver<Arc<Merge>>>,
}

impl Provider {
    /// The current merge; the first call detects (and starts the refresh, if configured).
    async fn subscribe(self: &Arc<Self>) -> watch::Receiver<Arc<Merge>> {
        let this = self.clone();
        self.current
            .get_or_init(|| async move {
                let merge = this.detect().await;
                let (tx, rx) = watch::channel(Arc::new(merge));
                let interval = this.config.refresh_interval;
                if !interval.is_zero() {
                    let weak = Arc::downgrade(&this);
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(interval).await;
                            let Some(provider) = weak.upgrade() else { break };
                            let merge = provider.detect().await;
                            drop(provider);
                            let changed = tx.borrow().attributes != merge.attributes;
                            if changed {
                                tracing::info!(
                                    message = "Detected resource information changed; using it from now on."
                                );
                                let _ = tx.send(Arc::new(merge));
                            }
                        }
                    });
                }
                rx
            })
            .await
            .clone()
    }

    async fn detect(&self) -> Merge {
        let attributes = detect(self.config.clone(), self.host.clone()).await;
        Merge::compile(attributes, self.config.override_).unwrap_or_else(|error| {
            tracing::warn!(message = "The detected attributes could not be compiled; none are added.", %error);
            Merge { attributes: Vec::new(), group: None }
        })
    }
}

/// Factory of the `resourcedetection` processor.
#[derive(Default)]
pub struct ResourceDetectionFactory {
    host: Host,
    providers: Mutex<HashMap<String, Weak<Provider>>>,
}

impl ResourceDetectionFactory {
    /// A factory whose detectors look at `host` (tests).
    pub fn with_host(host: Host) -> Self {
        ResourceDetectionFactory { host, providers: Mutex::default() }
    }

    fn provider(&self, id: &str, config: &ResourceDetectionConfig) -> Arc<Provider> {
        // One provider per id and configuration: a reload with a changed configuration
        // detects again.
        let key = format!("{id}\n{config:?}");
        let mut providers = self.providers.lock().unwrap_or_else(|p| p.into_inner());
        providers.retain(|_, p| p.strong_count() > 0);
        if let Some(p) = providers.get(&key).and_then(Weak::upgrade) {
            return p;
        }
        let p = Arc::new(Provider {
            config: Arc::new(config.clone()),
            host: Arc::new(self.host.clone()),
            current: OnceCell::new(),
        });
        providers.insert(key, Arc::downgrade(&p));
        p
    }
}

impl ProcessorFactory for ResourceDetectionFactory {
    type Config = ResourceDetectionConfig;

    fn type_name(&self) -> &'static str {
        "resourcedetection"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &ResourceDetectionConfig) -> Result<Box<dyn Processor>, BuildError> {
        config.validate().map_err(BuildError::new)?;
        let signal = ctx
            .signal
            .ok_or_else(|| BuildError::new("the resourcedetection processor is built per pipeline signal"))?;
        if config.detectors.iter().any(|d| d.trim() == "k8snode") {
            cloud::check_k8snode(&config.k8snode, &self.host).map_err(BuildError::new)?;
        }
        if config.attributes.is_some() {
            tracing::warn!(
                message = "You are using deprecated `attributes` option that will be removed soon; use `resource_attributes` instead.",
                processor = %ctx.id,
            );
        }
        if config.detectors.iter().any(|d| d.trim() == "ec2") && !config.ec2.tags.is_empty() {
            tracing::warn!(
                message = "ec2::tags is set, but weir does not call the EC2 DescribeTags API (no AWS request signing); no ec2.tag.* attribute is added.",
                processor = %ctx.id,
            );
        }
        let id = ctx.id.to_string();
        Ok(Box::new(ResourceDetectionProcessor {
            provider: self.provider(&id, config),
            items: ItemCounters::new(&id, signal),
            id,
        }))
    }
}

/// The `resourcedetection` processor of one pipeline.
struct ResourceDetectionProcessor {
    id: String,
    provider: Arc<Provider>,
    items: ItemCounters,
}

#[async_trait]
impl Processor for ResourceDetectionProcessor {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        // Detection first; items wait in the channel meanwhile. Shut down before it ends, there
        // is nothing to wait for.
        let subscribe = self.provider.subscribe();
        tokio::pin!(subscribe);
        let mut first = None;
        let mut current = tokio::select! {
            rx = &mut subscribe => rx,
            received = input.recv() => match received {
                None => return,
                Some(env) => {
                    first = Some(env);
                    subscribe.await
                }
            },
        };
        let mut merge = current.borrow_and_update().clone();
        loop {
            let next = match first.take() {
                Some(env) => Some(env),
                None => input.recv().await,
            };
            let Some(Envelope { payload, acks, metadata }) = next else { break };
            if current.has_changed().unwrap_or(false) {
                merge = current.borrow_and_update().clone();
            }
            self.items.incoming(payload.items());
            let payload = match merge.apply(&payload) {
                Outcome::Rebuilt(rebuilt) => rebuilt,
                Outcome::Unchanged | Outcome::Empty => payload,
            };
            self.items.outgoing(payload.items());
            if let Err(error) = output.send(Envelope { payload, acks, metadata }).await {
                tracing::debug!(message = "The next stage did not accept the items.", processor = %self.id, %error);
            }
        }
    }
}

#[cfg(test)]
mod tests;
