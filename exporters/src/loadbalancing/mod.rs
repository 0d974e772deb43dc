//! `loadbalancing`: sends all data of one key (a trace, a service, a metric stream) to the
//! same backend of a changing set, over the Collector's consistent-hash ring (the Collector's
//! `loadbalancingexporter`). The second tier of tail sampling without Kafka:
//! agents `otlp → loadbalancing(traceID)` → gateways `otlp → tail_sampling → …`.
//!
//! ```text
//!            ┌ split by key (views, Regroup) ┐
//! payload ──▶│ ring: key → backend            │──▶ backend A: otlp exporter + its queue/retry
//!  (own queue│                                │──▶ backend B: …
//!   and retry)└───────────────────────────────┘
//!                ▲ resolver: static │ dns (every interval) │ k8s (EndpointSlices watch)
//! ```
//!
//! - **Ring** ([`ring`]): the Collector's, point for point (crc32, 36,000 positions, 100
//!   points per endpoint, endpoints sorted), checked against its test vectors.
//! - **Split** ([`split`]): by byte ranges; nothing is decoded.
//! - **Backends**: one `otlp` exporter per resolved endpoint, built from `protocol::otlp`,
//!   each with its own queue, retries and timeout (the shared plumbing). The exporter waits
//!   for every backend to deliver its part (`wait_for_result` on the backends' queues), so
//!   an acknowledgement upstream means the backends have the data.
//! - **Re-routing**: when a resolution removes a backend, what it still holds fails at once
//!   and is routed again over the new ring, within the same export. A part that fails on a
//!   backend still in the ring fails the export; with `retry_on_failure` the whole request is
//!   sent again (parts that had succeeded may then arrive twice, as with the Collector).
//! - **Resolvers** ([`resolver`], [`k8s`]): a resolution that fails keeps the last list; a
//!   list that did not change changes nothing.
//!
//! Metrics: `otelcol_loadbalancer_num_resolutions{resolver, success}`,
//! `otelcol_loadbalancer_num_backends{resolver}`, `otelcol_loadbalancer_num_backend_updates
//! {resolver}`, `otelcol_loadbalancer_backend_outcome{endpoint, success}`, and each backend's
//! `otelcol_exporter_*` under the id `loadbalancing/<endpoint>`.

pub mod config;
pub mod k8s;
pub mod resolver;
pub mod ring;
pub mod split;

pub use config::LoadBalancingConfig;

use crate::otlp::OtlpExporter;
use async_trait::async_trait;
use config::RoutingKey;
use ring::HashRing;
use split::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::ack::{AckToken, Acks};
use weir_core::exporterhelper::{ExporterConfig, QueueSender};
use weir_core::pipeline::{ClientMetadata, Enqueue};
use weir_core::{BuildContext, BuildError, Envelope, Exporter, ExporterFactory, Failure, Payload, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "loadbalancing";

/// How many times one export routes again parts whose backend left the ring.
const MAX_REROUTES: usize = 8;

/// Factory of the `loadbalancing` exporter.
pub struct LoadBalancingFactory;

impl ExporterFactory for LoadBalancingFactory {
    type Config = LoadBalancingConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &LoadBalancingConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        let signal = ctx.signal.ok_or_else(|| BuildError::new("the loadbalancing exporter is built for one signal"))?;
        let key = config.routing_key_for(signal).map_err(BuildError::new)?;
        let credentials = crate::transport::auth_headers(ctx, &config.protocol.otlp.auth)?;
        let lb = LoadBalancer::new(&ctx.id.to_string(), signal, key, config.clone(), credentials);
        lb.start_resolver()?;
        Ok(lb)
    }
}

/// One resolved backend: its exporter's queue, and a token cancelled when it leaves the ring.
pub struct Backend {
    /// The endpoint as the resolver gave it (the ring's string).
    pub endpoint: String,
    queue: QueueSender,
    left: CancellationToken,
    outcome_ok: metrics::Counter,
    outcome_failed: metrics::Counter,
}

/// The ring and the backends in ring order.
#[derive(Default)]
struct Routing {
    ring: HashRing,
    backends: Vec<Arc<Backend>>,
}

/// A backend's `otlp` exporter, which gives up at once when the backend left the ring (its
/// data is routed again by the load balancer).
struct BackendExporter {
    inner: OtlpExporter,
    left: CancellationToken,
}

fn left_the_ring() -> Failure {
    Failure::permanent("the backend left the ring; its data is routed again")
}

#[async_trait]
impl Exporter for BackendExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        if self.left.is_cancelled() {
            return Err(left_the_ring());
        }
        tokio::select! {
            r = self.inner.export(payload) => r,
            _ = self.left.cancelled() => Err(left_the_ring()),
        }
    }
}

/// The `loadbalancing` exporter of one signal.
pub struct LoadBalancer {
    id: String,
    signal: Signal,
    router: Router,
    config: LoadBalancingConfig,
    credentials: Vec<(http::HeaderName, http::HeaderValue)>,
    routing: RwLock<Arc<Routing>>,
    /// The send tasks of every backend ever started, awaited on shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shutdown: CancellationToken,
    resolver_name: &'static str,
}

impl LoadBalancer {
    fn new(
        id: &str,
        signal: Signal,
        key: RoutingKey,
        config: LoadBalancingConfig,
        credentials: Vec<(http::HeaderName, http::HeaderValue)>,
    ) -> Arc<LoadBalancer> {
        let resolver_name = if config.resolver.dns.is_some() {
            "dns"
        } else if config.resolver.k8s.is_some() {
            "k8s"
        } else {
            "static"
        };
        Arc::new(LoadBalancer {
            id: id.to_string(),
            signal,
            router: Router { signal, key },
            config,
            credentials,
            routing: RwLock::new(Arc::default()),
            tasks: Mutex::new(Vec::new()),
            shutdown: CancellationToken::new(),
            resolver_name,
        })
    }

    fn current(&self) -> Arc<Routing> {
        self.routing.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The backends in ring order (for tests and the status page).
    pub fn backends(&self) -> Vec<String> {
        self.current().ring.endpoints().to_vec()
    }

    fn resolution(&self, success: bool) {
        metrics::counter!("otelcol_loadbalancer_num_resolutions", "resolver" => self.resolver_name, "success" => success.to_string())
            .increment(1);
    }

    /// Starts the exporter of a new backend.
    fn start_backend(&self, endpoint: &str) -> Result<Arc<Backend>, String> {
        let address = resolver::endpoint_with_port(endpoint);
        let otlp = self.config.backend_config(&address);
        let id = format!("{}/{}", self.id, address);
        let inner = OtlpExporter::new(&id, self.signal, &otlp, self.credentials.clone()).map_err(|e| e.to_string())?;
        let left = CancellationToken::new();
        let exporter = Arc::new(BackendExporter { inner, left: left.clone() });
        let (queue, task) =
            weir_core::exporterhelper::spawn(&id, self.signal, exporter, &otlp.exporter_settings(), None)?;
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
        let outcome = |ok: bool| metrics::counter!("otelcol_loadbalancer_backend_outcome", "endpoint" => address.clone(), "success" => ok.to_string());
        Ok(Arc::new(Backend {
            endpoint: endpoint.to_string(),
            queue,
            left,
            outcome_ok: outcome(true),
            outcome_failed: outcome(false),
        }))
    }

    /// A resolution's result: a new ring when the list changed, new backends started, gone
    /// ones told to leave.
    fn on_backends(&self, resolved: Vec<String>) {
        let old = self.current();
        if old.ring.endpoints() == resolved.as_slice() {
            return;
        }
        let mut by_endpoint: HashMap<&str, &Arc<Backend>> =
            old.backends.iter().map(|b| (b.endpoint.as_str(), b)).collect();
        let mut backends = Vec::with_capacity(resolved.len());
        let mut endpoints = Vec::with_capacity(resolved.len());
        for e in &resolved {
            let b = match by_endpoint.remove(e.as_str()) {
                Some(b) => b.clone(),
                None => match self.start_backend(e) {
                    Ok(b) => b,
                    Err(error) => {
                        tracing::error!(message = "Failed to create an exporter for a backend.", exporter = %self.id, endpoint = %e, %error);
                        continue;
                    }
                },
            };
            endpoints.push(e.clone());
            backends.push(b);
        }
        for gone in by_endpoint.values() {
            gone.left.cancel();
        }
        tracing::info!(message = "The backends changed.", exporter = %self.id, backends = ?endpoints);
        metrics::gauge!("otelcol_loadbalancer_num_backends", "resolver" => self.resolver_name)
            .set(endpoints.len() as f64);
        metrics::counter!("otelcol_loadbalancer_num_backend_updates", "resolver" => self.resolver_name).increment(1);
        let routing = Arc::new(Routing { ring: HashRing::new(&endpoints), backends });
        *self.routing.write().unwrap_or_else(|p| p.into_inner()) = routing;
    }

    /// Resolves once now (static and dns), then keeps resolving on a task.
    fn start_resolver(self: &Arc<Self>) -> Result<(), BuildError> {
        let r = &self.config.resolver;
        if let Some(s) = &r.static_ {
            self.resolution(true);
            self.on_backends(resolver::static_backends(&s.hostnames));
            return Ok(());
        }
        if let Some(dns) = r.dns.clone() {
            let me = Arc::downgrade(self);
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                let mut first = true;
                loop {
                    if !first {
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(dns.interval) => {}
                        }
                    }
                    first = false;
                    let result = resolver::resolve_dns(&dns).await;
                    let Some(lb) = me.upgrade() else { return };
                    lb.resolution(result.is_ok());
                    match result {
                        Ok(list) => lb.on_backends(list),
                        Err(error) => {
                            tracing::warn!(message = "Failed to resolve the backends.", exporter = %lb.id, %error)
                        }
                    }
                }
            });
            return Ok(());
        }
        if let Some(k) = r.k8s.clone() {
            let client = k8s::ApiClient::in_cluster().map_err(BuildError::new)?;
            let me = Arc::downgrade(self);
            let shutdown = self.shutdown.clone();
            tokio::spawn(k8s::run(
                k,
                client,
                move |list| {
                    if let Some(lb) = me.upgrade() {
                        lb.resolution(true);
                        lb.on_backends(list);
                    }
                },
                shutdown,
            ));
            return Ok(());
        }
        Err(BuildError::new("resolver: no resolvers specified for the exporter"))
    }

    /// Routes `payload` and waits until every part is delivered; parts of backends that left
    /// the ring meanwhile are routed again.
    async fn route(&self, payload: Payload, metadata: Option<Arc<ClientMetadata>>) -> Result<(), Failure> {
        let mut pending = payload;
        for _ in 0..MAX_REROUTES {
            let routing = self.current();
            if routing.backends.is_empty() {
                return Err(Failure::retryable("no backend is resolved yet"));
            }
            let parts = self
                .router
                .split(&pending, &routing.ring)
                .map_err(|e| Failure::permanent(format!("unreadable request: {e}")))?;
            let mut waits = Vec::with_capacity(parts.len());
            for (i, part) in parts {
                let backend = routing.backends[i].clone();
                let (token, waiter) = AckToken::new();
                let env = Envelope { payload: part.clone(), acks: Acks::one(token), metadata: metadata.clone() };
                // A full backend queue makes this wait (backpressure); a refused part fails.
                let enqueued = backend.queue.enqueue(env).await;
                waits.push(async move {
                    let result = match enqueued {
                        Err(f) => Err(f),
                        Ok(()) => tokio::select! {
                            r = waiter.wait() => r,
                            _ = backend.left.cancelled() => Err(left_the_ring()),
                        },
                    };
                    (backend, part, result)
                });
            }
            let mut again = Vec::new();
            let mut failure = None;
            for (backend, part, result) in futures::future::join_all(waits).await {
                match result {
                    Ok(()) => backend.outcome_ok.increment(1),
                    Err(f) => {
                        backend.outcome_failed.increment(1);
                        if backend.left.is_cancelled() {
                            again.push(part);
                        } else {
                            failure.get_or_insert(f);
                        }
                    }
                }
            }
            if let Some(f) = failure {
                return Err(f);
            }
            if again.is_empty() {
                return Ok(());
            }
            tracing::debug!(message = "Routing again what a departed backend held.", exporter = %self.id, parts = again.len());
            pending = Payload::concat(&again);
        }
        Err(Failure::retryable("the backends changed too often while routing"))
    }
}

#[async_trait]
impl Exporter for LoadBalancer {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        self.route(payload, None).await
    }

    async fn export_with_metadata(&self, payload: Payload, metadata: Option<&ClientMetadata>) -> Result<(), Failure> {
        self.route(payload, metadata.map(|m| Arc::new(m.clone()))).await
    }

    async fn shutdown(&self) {
        self.shutdown.cancel();
        // Dropping the queues lets each backend drain what it holds and stop.
        *self.routing.write().unwrap_or_else(|p| p.into_inner()) = Arc::default();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests;
