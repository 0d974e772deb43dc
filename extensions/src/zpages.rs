//! The `zpages` extension: live pages about the running service on `localhost:55679`, as the
//! Collector's `zpagesextension` serves them. Plain HTML, no external assets.
//!
//! | path | shows |
//! |---|---|
//! | `/debug/servicez` | the process (command line, uptime, version) and links to the others |
//! | `/debug/pipelinez` | each pipeline: signal, receivers, processors, exporters |
//! | `/debug/extensionz` | the extensions in `service::extensions` |
//! | `/debug/featurez` | feature gates (weir has none: the page says so) |
//! | `/debug/tracez`, `/debug/rpcz` | the Collector's span samples of its own spans; weir records no internal spans by default, and the pages say so |
//! | `/debug/expvarz` | with `expvar::enabled`: the command line and process memory/CPU as JSON |

use async_trait::async_trait;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::component::{
    BuildContext, BuildError, ComponentConfig, Extension, ExtensionContext, ExtensionFactory, ServiceSummary,
};

/// `zpages` extension settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZPagesConfig {
    /// Where to listen. Default `localhost:55679`; `:55679` listens on every interface.
    /// Required (must not be empty).
    pub endpoint: String,
    /// The network of `endpoint`: `tcp` (default), `tcp4` or `tcp6`.
    pub transport: String,
    /// `/debug/expvarz`.
    pub expvar: Expvar,
}

/// `expvar`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expvar {
    /// Serve `/debug/expvarz`. Default false.
    pub enabled: bool,
}

impl Default for ZPagesConfig {
    fn default() -> Self {
        ZPagesConfig { endpoint: "localhost:55679".into(), transport: "tcp".into(), expvar: Expvar::default() }
    }
}

impl ComponentConfig for ZPagesConfig {
    fn validate(&self) -> Result<(), String> {
        if self.endpoint.is_empty() {
            return Err("\"endpoint\" is required when using the \"zpages\" extension".into());
        }
        if !["tcp", "tcp4", "tcp6"].contains(&self.transport.as_str()) {
            return Err(format!(
                "transport: {:?} is not supported; zpages listens on tcp, tcp4 or tcp6",
                self.transport
            ));
        }
        Ok(())
    }
}

pub struct ZPagesFactory;

impl ExtensionFactory for ZPagesFactory {
    type Config = ZPagesConfig;
    fn type_name(&self) -> &'static str {
        "zpages"
    }
    fn build(&self, ctx: &BuildContext, c: &ZPagesConfig) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(ZPages { id: ctx.id.to_string(), config: c.clone() }))
    }
}

struct ZPages {
    id: String,
    config: ZPagesConfig,
}

#[async_trait]
impl Extension for ZPages {
    async fn start(
        self: Box<Self>,
        ctx: ExtensionContext,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let listener = crate::bind(&self.config.endpoint).await?;
        tracing::info!(
            message = "Starting zPages.",
            component = %self.id,
            address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        );
        let pages = Arc::new(Pages { service: ctx.service.clone(), expvar: self.config.expvar.enabled });
        let route = |f: fn(&Pages) -> Response| {
            let pages = pages.clone();
            axum::routing::get(move || {
                let pages = pages.clone();
                async move { f(&pages) }
            })
        };
        let app = axum::Router::new()
            .route("/debug/servicez", route(Pages::servicez))
            .route("/debug/pipelinez", route(Pages::pipelinez))
            .route("/debug/extensionz", route(Pages::extensionz))
            .route("/debug/featurez", route(Pages::featurez))
            .route("/debug/tracez", route(Pages::tracez))
            .route("/debug/rpcz", route(Pages::rpcz))
            .route("/debug/expvarz", route(Pages::expvarz));
        Ok(tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        }))
    }
}

/// HTML-escapes `s`.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em}table{border-collapse:collapse}\
    td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#eee}";

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\
         <body><h1>{t}</h1>\n<p><a href=\"/debug/servicez\">servicez</a> · <a href=\"/debug/pipelinez\">pipelinez</a> · \
         <a href=\"/debug/extensionz\">extensionz</a> · <a href=\"/debug/featurez\">featurez</a> · \
         <a href=\"/debug/tracez\">tracez</a> · <a href=\"/debug/rpcz\">rpcz</a></p>\n{body}</body></html>\n",
        t = esc(title)
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

struct Pages {
    service: ServiceSummary,
    expvar: bool,
}

impl Pages {
    fn servicez(&self) -> Response {
        let args: Vec<String> = std::env::args().collect();
        let uptime = weir_core::telemetry::uptime();
        let mut b = String::from("<h2>Build and runtime</h2><table>");
        let rows = [
            ("Command", args.join(" ")),
            ("Version", env!("CARGO_PKG_VERSION").to_string()),
            ("Uptime", format!("{}s", uptime.as_secs())),
            ("OS/arch", format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)),
            ("Process id", std::process::id().to_string()),
        ];
        for (k, v) in rows {
            let _ = write!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
        }
        b.push_str("</table><h2>Components</h2><table><tr><th>kind</th><th>id</th></tr>");
        for (kind, id) in &self.service.components {
            let _ = write!(b, "<tr><td>{}</td><td>{}</td></tr>", kind.as_str(), esc(id));
        }
        b.push_str("</table>");
        page("Service", &b)
    }

    fn pipelinez(&self) -> Response {
        let mut b = String::from(
            "<table><tr><th>pipeline</th><th>signal</th><th>receivers</th><th>processors</th><th>exporters</th></tr>",
        );
        for p in &self.service.pipelines {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.id),
                p.signal.as_str(),
                esc(&p.receivers.join(", ")),
                esc(&p.processors.join(", ")),
                esc(&p.exporters.join(", "))
            );
        }
        b.push_str("</table>");
        page("Pipelines", &b)
    }

    fn extensionz(&self) -> Response {
        let mut b = String::from("<table><tr><th>extension</th></tr>");
        for e in &self.service.extensions {
            let _ = write!(b, "<tr><td>{}</td></tr>", esc(e));
        }
        b.push_str("</table>");
        page("Extensions", &b)
    }

    fn featurez(&self) -> Response {
        page(
            "Feature Gates",
            "<table><tr><th>id</th><th>enabled</th><th>stage</th><th>description</th></tr></table>\
             <p>weir has no feature gates: the Collector's gates have no counterpart here.</p>",
        )
    }

    fn tracez(&self) -> Response {
        page(
            "TraceZ",
            "<p>weir records no internal spans by default, so there are no span samples to show. \
             weir's own state is in its metrics (<code>service::telemetry::metrics</code>).</p>",
        )
    }

    fn rpcz(&self) -> Response {
        page(
            "RpcZ",
            "<p>weir records no internal spans by default, so there are no RPC statistics to show. \
             Per-receiver and per-exporter counts are in its metrics (<code>otelcol_receiver_*</code>, \
             <code>otelcol_exporter_*</code>).</p>",
        )
    }

    fn expvarz(&self) -> Response {
        if !self.expvar {
            return (StatusCode::NOT_FOUND, "expvar is not enabled (set expvar::enabled: true)\n").into_response();
        }
        let args: Vec<String> = std::env::args().collect();
        let (rss, cpu) = weir_core::telemetry::read_proc_self().unwrap_or((0, 0.0));
        let json = format!(
            "{{\"cmdline\": [{}], \"process\": {{\"rss_bytes\": {rss}, \"cpu_seconds\": {cpu}}}}}\n",
            args.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ")
        );
        ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], json).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c: ZPagesConfig = weir_core::testing::parse_config("{}").unwrap();
        assert_eq!(c.endpoint, "localhost:55679");
        assert!(!c.expvar.enabled);
        let err = weir_core::testing::parse_config::<ZPagesConfig>("{endpoint: \"\"}").unwrap_err();
        assert!(err.contains("\"endpoint\" is required"), "{err}");
    }

    #[test]
    fn pages_escape_component_ids() {
        assert_eq!(esc("a<b>&\""), "a&lt;b&gt;&amp;&quot;");
    }
}
