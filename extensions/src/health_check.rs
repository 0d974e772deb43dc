//! The `health_check` extension: answers on `localhost:13133` whether the service is up, with
//! the Collector's status code and JSON body ([`weir_core::telemetry::Health`]).

use async_trait::async_trait;
use axum::response::IntoResponse;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::component::{BuildContext, BuildError, ComponentConfig, Extension, ExtensionContext, ExtensionFactory};
use weir_core::telemetry::serve;

/// `health_check` extension settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Where to listen. Default `localhost:13133`.
    pub endpoint: String,
    /// The path answered. Default `/`; must start with `/`.
    pub path: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig { endpoint: "localhost:13133".into(), path: "/".into() }
    }
}

impl ComponentConfig for HealthCheckConfig {
    fn validate(&self) -> Result<(), String> {
        if !self.path.starts_with('/') {
            return Err(format!("path must start with \"/\", got {:?}", self.path));
        }
        Ok(())
    }
}

pub struct HealthCheckFactory;

impl ExtensionFactory for HealthCheckFactory {
    type Config = HealthCheckConfig;
    fn type_name(&self) -> &'static str {
        "health_check"
    }
    fn build(&self, _ctx: &BuildContext, c: &HealthCheckConfig) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(HealthCheck(c.clone())))
    }
}

struct HealthCheck(HealthCheckConfig);

#[async_trait]
impl Extension for HealthCheck {
    async fn start(
        self: Box<Self>,
        ctx: ExtensionContext,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let health = ctx.health.clone();
        let app = axum::Router::new().route(
            &self.0.path,
            axum::routing::get(move || {
                let h = health.clone();
                async move {
                    let (code, body) = h.body();
                    (code, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
                }
            }),
        );
        serve(&self.0.endpoint, app, shutdown, "extensions::health_check").await.map_err(BuildError::new)
    }
}
