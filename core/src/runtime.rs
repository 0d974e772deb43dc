//! The pipeline graph: build it from a [`Config`], run it, shut it down in order.
//!
//! As in the Collector, receivers and exporters are built once per (signal, id) and shared by
//! the pipelines of that signal, processors once per (pipeline, id). Every edge is a bounded
//! channel ([`crate::pipeline`]):
//!
//! ```text
//! receiver ─▶ Consumer ─▶ [gates] ─▶ processor 1 ─▶ … ─▶ processor n ─▶ ┬▶ exporter A queue
//!                 (fan-out to every pipeline                             └▶ exporter B queue
//!                  that lists the receiver)
//! ```
//!
//! Start-up builds the extensions first and collects what they offer (authenticators,
//! storage: [`Capabilities`]) into the [`BuildContext`] of every other component, starts them,
//! then builds and starts exporters, processors and receivers (downstream first).
//! Shutdown stops the receivers (they finish the requests in flight), which drops the heads of
//! the pipelines; each processor sees its input close, flushes and ends, which closes the next
//! edge; exporters drain their queues and flush. Nothing held is dropped on the way.

use crate::component::{BuildContext, BuildError, Capabilities, ComponentId, ExtensionContext};
use crate::config::Config;
use crate::exporterhelper::{self, ExportFailures};
use crate::pdata::Signal;
use crate::pipeline::{Consumer, Consumers, Downstream, Enqueue, Envelope, Output, PipelineEntry, Target};
use crate::registry::Registry;
use crate::telemetry::{Health, ReceiverMetrics};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Capacity of the channel in front of each processor, in payloads. Small on purpose: the
/// sending queues hold the backlog, these only decouple stages.
pub const STAGE_CHANNEL_CAPACITY: usize = 16;

/// How long a receiver waits for a full pipeline before refusing the request as retryable.
pub const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(2);

/// The components and pipelines of `config`, for extensions that show them.
fn summary(config: &Config) -> crate::component::ServiceSummary {
    use crate::component::{Kind, PipelineSummary};
    let ids = |v: &[ComponentId]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    let pipelines: Vec<PipelineSummary> = config
        .pipelines
        .iter()
        .map(|p| PipelineSummary {
            id: p.id.clone(),
            signal: p.signal,
            receivers: ids(&p.receivers),
            processors: ids(&p.processors),
            exporters: ids(&p.exporters),
        })
        .collect();
    let mut components = Vec::new();
    for kind in Kind::ALL {
        for id in config.section(kind).keys() {
            let used = match kind {
                Kind::Extension => config.service_extensions.contains(id),
                _ => config
                    .pipelines
                    .iter()
                    .any(|p| p.receivers.contains(id) || p.processors.contains(id) || p.exporters.contains(id)),
            };
            if used {
                components.push((kind, id.to_string()));
            }
        }
    }
    crate::component::ServiceSummary { pipelines, extensions: ids(&config.service_extensions), components }
}

/// A running pipeline graph.
pub struct Service {
    health: Health,
    /// Every payload an exporter gave up on, for `health_check`'s `check_collector_pipeline`.
    export_failures: ExportFailures,
    receivers_stop: CancellationToken,
    receivers: Vec<(String, JoinHandle<()>)>,
    processors: Vec<(String, JoinHandle<()>)>,
    exporters: Vec<(String, JoinHandle<()>)>,
    extensions_stop: CancellationToken,
    extensions: Vec<JoinHandle<()>>,
}

/// Options that are not part of `pipelines.yaml`.
#[derive(Clone, Default)]
pub struct ServiceOptions {
    /// Shared health state (kept across reloads by the caller).
    pub health: Health,
}

impl Service {
    /// Builds and starts everything `config` describes. On error, whatever was started is
    /// stopped again before returning.
    pub async fn start(config: &Config, registry: &Registry, options: ServiceOptions) -> Result<Service, BuildError> {
        let mut service = Service {
            health: options.health.clone(),
            export_failures: ExportFailures::default(),
            receivers_stop: CancellationToken::new(),
            receivers: Vec::new(),
            processors: Vec::new(),
            exporters: Vec::new(),
            extensions_stop: CancellationToken::new(),
            extensions: Vec::new(),
        };
        match service.build(config, registry).await {
            Ok(()) => {
                service.health.set_ready(true);
                Ok(service)
            }
            Err(e) => {
                service.shutdown().await;
                Err(e)
            }
        }
    }

    async fn build(&mut self, config: &Config, registry: &Registry) -> Result<(), BuildError> {
        // Extensions first, as the Collector does: built, asked what they offer, then started.
        let mut built = Vec::new();
        let mut capabilities = BTreeMap::new();
        for id in &config.service_extensions {
            let entry = &config.extensions[id];
            let factory = &registry.extensions[id.kind.as_str()];
            let ctx = BuildContext::new(id.clone(), None);
            let ext = factory
                .build(&ctx, &entry.config)
                .map_err(|e| BuildError::new(format!("failed to create extension {:?}: {e}", id.to_string())))?;
            capabilities.insert(id.clone(), ext.capabilities());
            built.push(ext);
        }
        for ext in built {
            let handle = ext
                .start(
                    ExtensionContext {
                        health: self.health.clone(),
                        export_failures: self.export_failures.clone(),
                        service: summary(config),
                    },
                    self.extensions_stop.clone(),
                )
                .await?;
            self.extensions.push(handle);
        }
        let extensions: Arc<BTreeMap<ComponentId, Capabilities>> = Arc::new(capabilities);
        let context = |id: &ComponentId, signal: Option<Signal>| BuildContext {
            id: id.clone(),
            signal,
            extensions: extensions.clone(),
        };

        // Exporters: once per (signal, id).
        let mut queues: BTreeMap<(Signal, ComponentId), Arc<dyn Enqueue>> = BTreeMap::new();
        for p in &config.pipelines {
            for id in p.exporters.iter().filter(|id| !config.is_connector(id)) {
                if queues.contains_key(&(p.signal, id.clone())) {
                    continue;
                }
                let failed = |e: &dyn std::fmt::Display| {
                    BuildError::new(format!(
                        "failed to create {:?} exporter for data type {:?}: {e}",
                        id.to_string(),
                        p.signal.as_str()
                    ))
                };
                let entry = &config.exporters[id];
                let factory = &registry.exporters[id.kind.as_str()];
                let ctx = context(id, Some(p.signal));
                let settings = factory.settings(&entry.config);
                let exporter = factory.build(&ctx, &entry.config).map_err(|e| failed(&e))?;
                let storage = match &settings.queue.storage {
                    Some(storage) => Some(
                        ctx.storage(storage)
                            .and_then(|s| s.queue_log(id, p.signal).map_err(BuildError::new))
                            .map_err(|e| failed(&e))?,
                    ),
                    None => None,
                };
                let (queue, task) = exporterhelper::spawn_reporting(
                    &id.to_string(),
                    p.signal,
                    exporter,
                    &settings,
                    storage,
                    self.export_failures.clone(),
                )
                .map_err(|e| failed(&e))?;
                self.exporters.push((format!("exporter {id} ({})", p.signal), task));
                queues.insert((p.signal, id.clone()), Arc::new(queue));
            }
        }

        // Pipelines, downstream first (a connector's downstream pipelines exist before the
        // connector that feeds them): processors once per (pipeline, id), wired back to front.
        let n = config.pipelines.len();
        let mut heads: Vec<Option<PipelineEntry>> = vec![None; n];
        let mut connectors: BTreeMap<(ComponentId, Signal, Signal), mpsc::Sender<Envelope>> = BTreeMap::new();
        for index in pipeline_order(registry, config)? {
            let p = &config.pipelines[index];
            let mut targets = Vec::new();
            for id in &p.exporters {
                if !config.is_connector(id) {
                    targets.push(Target::Exporter(queues[&(p.signal, id.clone())].clone()));
                    continue;
                }
                let pairs = registry.connector_pairs(&id.kind);
                for to in Signal::ALL.into_iter().filter(|to| pairs.contains(&(p.signal, *to))) {
                    let key = (id.clone(), p.signal, to);
                    if let Some(tx) = connectors.get(&key) {
                        targets.push(Target::Stage(tx.clone()));
                        continue;
                    }
                    let downstream: Vec<Downstream> = config
                        .pipelines
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| q.signal == to && q.receivers.contains(id))
                        .map(|(j, q)| Downstream {
                            pipeline: Arc::from(q.id.as_str()),
                            entry: heads[j].clone().expect("downstream pipelines are built first"),
                        })
                        .collect();
                    if downstream.is_empty() {
                        continue;
                    }
                    let entry = &config.connectors[id];
                    let factory = &registry.connectors[id.kind.as_str()];
                    let connector =
                        factory.build(&context(id, Some(p.signal)), &entry.config, p.signal, to).map_err(|e| {
                            BuildError::new(format!(
                                "failed to create connector {:?} ({} to {}): {e}",
                                id.to_string(),
                                p.signal,
                                to
                            ))
                        })?;
                    let names: Vec<&str> = downstream.iter().map(Downstream::pipeline).collect();
                    connector.check_downstream(&names).map_err(|e| {
                        BuildError::new(format!(
                            "failed to create connector {:?} ({} to {}): {e}",
                            id.to_string(),
                            p.signal,
                            to
                        ))
                    })?;
                    let (tx, rx) = mpsc::channel::<Envelope>(STAGE_CHANNEL_CAPACITY);
                    let task = tokio::spawn(connector.run(rx, downstream));
                    self.processors.push((format!("connector {id} ({} to {to})", p.signal), task));
                    targets.push(Target::Stage(tx.clone()));
                    connectors.insert(key, tx);
                }
            }
            let mut next = Output::new(targets);
            let mut gates = Vec::new();
            for id in p.processors.iter().rev() {
                let entry = &config.processors[id];
                let factory = &registry.processors[id.kind.as_str()];
                let ctx = context(id, Some(p.signal));
                let processor = factory.build(&ctx, &entry.config).map_err(|e| {
                    BuildError::new(format!(
                        "failed to create {:?} processor, in pipeline {:?}: {e}",
                        id.to_string(),
                        p.id
                    ))
                })?;
                if let Some(g) = processor.gate() {
                    gates.push(g);
                }
                let (tx, rx) = mpsc::channel::<Envelope>(STAGE_CHANNEL_CAPACITY);
                let output = next;
                let task = tokio::spawn(processor.run(rx, output));
                self.processors.push((format!("processor {id} in pipeline {}", p.id), task));
                next = Output::new(vec![Target::Stage(tx)]);
            }
            gates.reverse();
            heads[index] = Some(PipelineEntry { gates, head: next });
        }
        // Only the upstream pipelines hold a connector's input from here on: it closes when
        // they have all drained.
        drop(connectors);
        let heads: Vec<(usize, PipelineEntry)> =
            heads.into_iter().enumerate().filter_map(|(i, e)| e.map(|e| (i, e))).collect();
        drop(queues);

        // Receivers: once per id, serving every signal some pipeline routes from them.
        let mut receiver_ids: Vec<&ComponentId> =
            config.pipelines.iter().flat_map(|p| p.receivers.iter()).filter(|id| !config.is_connector(id)).collect();
        receiver_ids.sort();
        receiver_ids.dedup();
        for id in receiver_ids {
            let mut consumers = Consumers::default();
            for signal in Signal::ALL {
                let entries: Vec<PipelineEntry> = heads
                    .iter()
                    .filter(|(i, _)| {
                        config.pipelines[*i].signal == signal && config.pipelines[*i].receivers.contains(id)
                    })
                    .map(|(_, e)| e.clone())
                    .collect();
                if !entries.is_empty() {
                    *consumers.slot(signal) = Some(Consumer {
                        signal,
                        pipelines: entries.into(),
                        metrics: ReceiverMetrics::new(&id.to_string(), signal),
                        enqueue_timeout: ENQUEUE_TIMEOUT,
                    });
                }
            }
            let entry = &config.receivers[id];
            let factory = &registry.receivers[id.kind.as_str()];
            let ctx = context(id, None);
            let receiver = factory
                .build(&ctx, &entry.config)
                .map_err(|e| BuildError::new(format!("failed to create receiver {:?}: {e}", id.to_string())))?;
            let handle = receiver
                .start(consumers, self.receivers_stop.clone())
                .await
                .map_err(|e| BuildError::new(format!("failed to start receiver {:?}: {e}", id.to_string())))?;
            self.receivers.push((format!("receiver {id}"), handle));
        }
        Ok(())
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Stops accepting, drains every pipeline and exporter queue, then stops extensions.
    pub async fn shutdown(self) {
        self.health.set_ready(false);
        tracing::info!(message = "Shutting down: receivers stop accepting, pipelines drain.");
        self.receivers_stop.cancel();
        for group in [self.receivers, self.processors, self.exporters] {
            for (name, task) in group {
                if let Err(e) = task.await {
                    tracing::error!(message = "Component task ended abnormally.", component = %name, error = %e);
                }
            }
        }
        self.extensions_stop.cancel();
        for task in self.extensions {
            let _ = task.await;
        }
        tracing::info!(message = "Shutdown complete.");
    }
}

/// The pipelines' indices, every pipeline after those it feeds through connectors (the loader
/// refuses cycles; a cycle in a configuration built otherwise is a build error).
fn pipeline_order(registry: &Registry, config: &Config) -> Result<Vec<usize>, BuildError> {
    let edges = crate::config::connector_edges(registry, config);
    let n = config.pipelines.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let ready = (0..n).find(|&i| !done[i] && edges.iter().all(|(from, to, _)| *from != i || done[*to] || *to == i));
        let Some(i) = ready.filter(|&i| !edges.iter().any(|(from, to, _)| *from == i && *to == i)) else {
            return Err(BuildError::new("the pipelines joined through connectors form a cycle"));
        };
        done[i] = true;
        order.push(i);
    }
    Ok(order)
}
