//! `httpcheck` settings, with the Collector's keys, defaults and validation messages.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_core::tls::TlsClientSettings;
use weir_core::ComponentConfig;

/// Settings of the `httpcheck` receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpcheckConfig {
    /// Time between rounds of checks. Default 60s.
    #[serde(with = "weir_core::config::duration")]
    pub collection_interval: Duration,
    /// Wait before the first round. Default 1s.
    #[serde(with = "weir_core::config::duration")]
    pub initial_delay: Duration,
    /// The scraper controller's timeout: accepted; each target's own `timeout` bounds its
    /// request. Default 0 (none).
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// The endpoints to check. At least one target.
    pub targets: Vec<HttpcheckTarget>,
    /// `<metric>: {enabled: bool}` for `httpcheck.status`, `httpcheck.duration`,
    /// `httpcheck.error` (all on by default).
    pub metrics: BTreeMap<String, MetricToggle>,
}

impl Default for HttpcheckConfig {
    fn default() -> HttpcheckConfig {
        HttpcheckConfig {
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
            timeout: Duration::ZERO,
            targets: Vec::new(),
            metrics: BTreeMap::new(),
        }
    }
}

/// `metrics::<name>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricToggle {
    pub enabled: Option<bool>,
}

/// The metrics the receiver emits.
pub const METRICS: [&str; 3] = ["httpcheck.status", "httpcheck.duration", "httpcheck.error"];

impl HttpcheckConfig {
    /// Whether `metric` is on.
    pub fn enabled(&self, metric: &str) -> bool {
        self.metrics.get(metric).and_then(|t| t.enabled).unwrap_or(true)
    }
}

/// One target: an endpoint or a list of them, checked with the same request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpcheckTarget {
    /// A URL to check, `http://` or `https://`.
    pub endpoint: String,
    /// More URLs checked the same way.
    pub endpoints: Vec<String>,
    /// The request method. Default `GET`.
    pub method: String,
    /// Headers sent with each request.
    pub headers: BTreeMap<String, String>,
    /// Limit on each request (connect, TLS and the answer's head); 0 (default): none.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// TLS of `https://` endpoints (system roots when absent).
    pub tls: Option<TlsClientSettings>,
}

impl Default for HttpcheckTarget {
    fn default() -> HttpcheckTarget {
        HttpcheckTarget {
            endpoint: String::new(),
            endpoints: Vec::new(),
            method: "GET".into(),
            headers: BTreeMap::new(),
            timeout: Duration::ZERO,
            tls: None,
        }
    }
}

impl HttpcheckTarget {
    /// `endpoints`, then `endpoint`, as the Collector expands them.
    pub fn all_endpoints(&self) -> impl Iterator<Item = &str> {
        self.endpoints.iter().map(String::as_str).chain((!self.endpoint.is_empty()).then_some(self.endpoint.as_str()))
    }

    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.endpoint.is_empty() && self.endpoints.is_empty() {
            errors.push("at least one of 'endpoint' or 'endpoints' must be specified".to_string());
        }
        for e in self.all_endpoints() {
            let ok = e
                .parse::<http::Uri>()
                .ok()
                .is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
            if !ok {
                errors.push(format!(
                    "\"endpoint\" must be in the form of <scheme>://<hostname>[:<port>]: {e:?} is not an http:// or https:// URL"
                ));
            }
        }
        if http::Method::from_bytes(self.method.to_ascii_uppercase().as_bytes()).is_err() {
            errors.push(format!("method {:?} is not an HTTP method", self.method));
        }
        if let Some(tls) = &self.tls {
            if let Err(e) = tls.check() {
                errors.push(format!("tls: {e}"));
            }
        }
        errors
    }
}

impl ComponentConfig for HttpcheckConfig {
    fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if self.targets.is_empty() {
            errors.push("no targets configured".to_string());
        }
        for (i, t) in self.targets.iter().enumerate() {
            errors.extend(t.validate().into_iter().map(|e| format!("targets[{i}]: {e}")));
        }
        if self.collection_interval.is_zero() {
            errors.push("\"collection_interval\": requires positive value".to_string());
        }
        if let Some(unknown) = self.metrics.keys().find(|m| !METRICS.contains(&m.as_str())) {
            errors.push(format!("metrics: {unknown:?} is not a metric of httpcheck (it has {})", METRICS.join(", ")));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}
