//! The `health_check` extension: answers on `localhost:13133` whether the service is up, with
//! the Collector's status codes and bodies.
//!
//! | state | default answer | with `response_body` |
//! |---|---|---|
//! | running | `200` `{"status":"Server available","upSince":…,"uptime":…}` | `200` `healthy` |
//! | starting, reloading, stopping | `503` `{"status":"Server not available",…}` | `503` `unhealthy` |
//!
//! With `check_collector_pipeline::enabled: true` the answer also reflects the exporters, as the
//! Collector's v1 extension does: the service is healthy while at most
//! `exporter_failure_threshold` payloads were given up on (after `retry_on_failure`, counted in
//! `otelcol_exporter_send_failed_*`) within the last `interval`; otherwise, or while not
//! running, it answers `500` — with the `response_body` bodies when set, and an empty body
//! otherwise, exactly as the Collector (whose own implementation of this check read
//! OpenCensus views that current Collectors no longer record, so it no longer works there;
//! weir's reads its own failure record, [`weir_core::exporterhelper::ExportFailures`]).
//!
//! `tls` serves HTTPS (the Collector's `confighttp` server `tls` keys); the certificate and key
//! are read when the extension starts, through weir's one accepting path
//! ([`weir_core::listener`]).

use async_trait::async_trait;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::component::{BuildContext, BuildError, ComponentConfig, Extension, ExtensionContext, ExtensionFactory};
use weir_core::exporterhelper::ExportFailures;
use weir_core::listener::{AcceptSettings, Bound, Connections};
use weir_core::telemetry::Health;
use weir_core::tls::{TlsServerSettings, ALPN_HTTP1};

/// `health_check` extension settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Where to listen. Default `localhost:13133`. Required (must not be empty).
    pub endpoint: String,
    /// Serve HTTPS with this certificate and key (the Collector's server `tls` keys;
    /// `client_ca_file` requires client certificates). Files are read at start.
    pub tls: Option<TlsServerSettings>,
    /// The path answered. Default `/`; must start with `/`.
    pub path: String,
    /// Static bodies instead of the JSON status: `healthy` (with 200) and `unhealthy`. Absent
    /// (default): the JSON status.
    pub response_body: Option<ResponseBody>,
    /// Make the answer depend on exporter failures too.
    pub check_collector_pipeline: CheckCollectorPipeline,
}

/// `response_body`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseBody {
    /// The body while healthy. Default empty.
    pub healthy: String,
    /// The body while not healthy. Default empty.
    pub unhealthy: String,
}

/// `check_collector_pipeline`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckCollectorPipeline {
    /// Answer 500 when exporters failed more than `exporter_failure_threshold` times within
    /// `interval`. Default false.
    pub enabled: bool,
    /// The window failures are counted in. Default 5m.
    #[serde(with = "weir_core::config::duration")]
    pub interval: Duration,
    /// The most failures within `interval` that still count as healthy. Default 5; must be
    /// positive.
    pub exporter_failure_threshold: i64,
}

impl Default for CheckCollectorPipeline {
    fn default() -> Self {
        CheckCollectorPipeline { enabled: false, interval: Duration::from_secs(300), exporter_failure_threshold: 5 }
    }
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: "localhost:13133".into(),
            tls: None,
            path: "/".into(),
            response_body: None,
            check_collector_pipeline: CheckCollectorPipeline::default(),
        }
    }
}

impl ComponentConfig for HealthCheckConfig {
    /// The Collector's checks, in its order (the pipeline check's keys are checked even when
    /// it is off).
    fn validate(&self) -> Result<(), String> {
        if self.endpoint.is_empty() {
            return Err("endpoint must be specified".into());
        }
        if self.check_collector_pipeline.exporter_failure_threshold <= 0 {
            return Err("check_collector_pipeline::exporter_failure_threshold expects a positive number".into());
        }
        if !self.path.starts_with('/') {
            return Err(format!("path must start with \"/\", got {:?}", self.path));
        }
        if let Some(t) = &self.tls {
            t.check().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn files(&self) -> Vec<(String, std::path::PathBuf)> {
        let tls = self.tls.iter().flat_map(TlsServerSettings::files);
        tls.map(|(k, f)| (format!("tls::{k}"), f)).collect()
    }
}

pub struct HealthCheckFactory;

impl ExtensionFactory for HealthCheckFactory {
    type Config = HealthCheckConfig;
    fn type_name(&self) -> &'static str {
        "health_check"
    }
    fn build(&self, ctx: &BuildContext, c: &HealthCheckConfig) -> Result<Box<dyn Extension>, BuildError> {
        // The certificate and key are read here, at start (and at every reload).
        let tls = match &c.tls {
            Some(t) => Some(t.server_config(&[ALPN_HTTP1]).map_err(|e| BuildError::new(e.to_string()))?),
            None => None,
        };
        Ok(Box::new(HealthCheck { id: ctx.id.to_string(), config: c.clone(), tls }))
    }
}

struct HealthCheck {
    id: String,
    config: HealthCheckConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// What one request is answered with.
#[derive(Clone)]
struct Answer {
    health: Health,
    failures: ExportFailures,
    body: Option<ResponseBody>,
    pipeline: CheckCollectorPipeline,
}

impl Answer {
    fn respond(&self) -> Response {
        let ready = self.health.is_ready();
        let text = |body: &str| ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.to_string());
        if self.pipeline.enabled {
            // The Collector's pipeline check: 200 or 500, the static bodies or nothing.
            let failures = self.failures.within(self.pipeline.interval) as i64;
            let healthy = ready && failures <= self.pipeline.exporter_failure_threshold;
            let code = if healthy { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
            let body = match (&self.body, healthy) {
                (Some(b), true) => b.healthy.as_str(),
                (Some(b), false) => b.unhealthy.as_str(),
                (None, _) => "",
            };
            return (code, text(body)).into_response();
        }
        match &self.body {
            Some(b) if ready => (StatusCode::OK, text(&b.healthy)).into_response(),
            Some(b) => (StatusCode::SERVICE_UNAVAILABLE, text(&b.unhealthy)).into_response(),
            None => {
                let (code, body) = self.health.body();
                (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
        }
    }
}

#[async_trait]
impl Extension for HealthCheck {
    async fn start(
        self: Box<Self>,
        ctx: ExtensionContext,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let answer = Answer {
            health: ctx.health.clone(),
            failures: ctx.export_failures.clone(),
            body: self.config.response_body.clone(),
            pipeline: self.config.check_collector_pipeline.clone(),
        };
        let app = axum::Router::new().route(
            &self.config.path,
            axum::routing::get(move || {
                let answer = answer.clone();
                async move { answer.respond() }
            }),
        );
        let endpoint = &self.config.endpoint;
        let listener = tokio::net::TcpListener::bind(endpoint)
            .await
            .map_err(|e| BuildError::new(format!("cannot listen on {endpoint} (endpoint): {e}")))?;
        let bound = Bound::Tcp(listener);
        tracing::info!(
            message = "Listening.",
            component = %self.id,
            address = %bound.describe(),
            tls = self.tls.is_some()
        );
        let accept = AcceptSettings {
            receiver: self.id.clone(),
            transport: "http",
            tls: self.tls.clone(),
            max_connections: 0,
            read_buffer_size: 0,
            write_buffer_size: 0,
            max_idle: None,
        };
        let mut connections = Connections::start(bound, accept, shutdown.clone());
        let closed = connections.closed();
        Ok(tokio::spawn(async move {
            let _ = axum::serve(connections, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
            closed.await;
        }))
    }
}

#[cfg(test)]
mod tests;
