//! `target_allocator`: the OpenTelemetry Operator's target allocator as the Collector's
//! receiver uses it. Every `interval` the receiver reads `<endpoint>/scrape_configs` (job name
//! → scrape config); each job's targets then come from Prometheus HTTP service discovery at
//! `<endpoint>/jobs/<job>/targets?collector_id=<collector_id>` (every
//! `http_sd_config.refresh_interval`, default 30s), its own service discovery replaced. The
//! jobs of `config.scrape_configs` run beside them.

use super::config::{BasicAuth, PromDuration, PromTlsConfig, ScrapeConfig};
use super::sd::TargetGroup;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use std::time::Duration;
use weir_core::connect::Connector;
use weir_core::tls::TlsClientSettings;

/// `target_allocator`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetAllocatorConfig {
    /// The target allocator's URL (`http://…`). Required.
    pub endpoint: String,
    /// How often the jobs are read. Default 30s.
    pub interval: Option<GoDuration>,
    /// This collector's id, as the target allocator knows it. Required.
    pub collector_id: String,
    /// Timeout of each request to the target allocator. Default 5s.
    pub timeout: Option<GoDuration>,
    /// TLS to the target allocator (`confighttp` client `tls`).
    pub tls: Option<TlsClientSettings>,
    /// Prometheus HTTP service discovery settings of the per-job targets requests.
    pub http_sd_config: Option<HttpSdConfig>,
    /// The HTTP client of the scrapes of the target allocator's jobs (Prometheus
    /// `HTTPClientConfig` keys).
    pub http_scrape_config: Option<HttpClientConfig>,
}

/// A Collector (Go) duration: `30s`, `1m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        weir_core::config::duration::deserialize(d).map(GoDuration)
    }
}

/// `http_sd_config` (Prometheus's `http_sd_config` without `url`, which the receiver sets).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSdConfig {
    /// Default 30s.
    pub refresh_interval: Option<PromDuration>,
    pub basic_auth: Option<BasicAuth>,
    pub tls_config: Option<PromTlsConfig>,
}

/// Prometheus `HTTPClientConfig` keys for `http_scrape_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<super::config::Authorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<PromTlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
}

impl HttpClientConfig {
    /// Sets these client keys on a scrape job.
    pub fn apply(&self, sc: &mut ScrapeConfig) {
        sc.basic_auth = self.basic_auth.clone();
        sc.authorization = self.authorization.clone();
        sc.bearer_token = self.bearer_token.clone();
        sc.bearer_token_file = self.bearer_token_file.clone();
        sc.tls_config = self.tls_config.clone();
        if self.follow_redirects.is_some() {
            sc.follow_redirects = self.follow_redirects;
        }
        if self.enable_http2.is_some() {
            sc.enable_http2 = self.enable_http2;
        }
    }
}

impl TargetAllocatorConfig {
    /// Checks the keys with the Collector's messages.
    pub fn validate(&self) -> Result<(), String> {
        let uri: Result<http::Uri, _> = self.endpoint.parse();
        if !uri.is_ok_and(|u| u.scheme().is_some() && u.host().is_some()) {
            return Err(format!("target_allocator: TargetAllocator endpoint is not valid: {}", self.endpoint));
        }
        if self.collector_id.is_empty() || self.collector_id.contains("${") {
            return Err("target_allocator: CollectorID is not a valid ID".into());
        }
        if let Some(c) = &self.http_scrape_config {
            let mut sc = ScrapeConfig { job_name: "target_allocator".into(), ..Default::default() };
            c.apply(&mut sc);
            sc.resolve(&Default::default()).map_err(|e| {
                let e = e.trim_start_matches("scrape_configs[target_allocator]").trim_start_matches([':', ' ']);
                format!("target_allocator::http_scrape_config: {e}")
            })?;
        }
        // `tls` is read when the receiver starts, as the Collector's confighttp client does
        // (its Validate accepts a cert_file without key_file; starting refuses it).
        Ok(())
    }

    pub fn interval(&self) -> Duration {
        self.interval.map(|d| d.0).unwrap_or(Duration::from_secs(30))
    }

    fn timeout(&self) -> Duration {
        self.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(5))
    }

    /// The jobs the target allocator hands out, each with its service discovery replaced by
    /// the allocator's targets URL (returned beside it) and `http_scrape_config` applied.
    pub async fn scrape_configs(&self) -> Result<Vec<(ScrapeConfig, String)>, String> {
        let base = self.endpoint.trim_end_matches('/');
        let body = get(&format!("{base}/scrape_configs"), self.tls.as_ref(), None, self.timeout()).await?;
        // `$(SHARD)` in relabel configs stands for this collector's shard (the receiver's is 0).
        let body = body.replace("$(SHARD)", "0");
        let jobs: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&body).map_err(|e| format!("reading {base}/scrape_configs: {e}"))?;
        let mut out = Vec::with_capacity(jobs.len());
        for (name, mut value) in jobs {
            if let Some(obj) = value.as_object_mut() {
                obj.retain(|k, _| !k.ends_with("_sd_configs") && k != "static_configs");
                obj.insert("job_name".into(), serde_json::Value::String(name.clone()));
            }
            let mut sc: ScrapeConfig =
                serde_json::from_value(value).map_err(|e| format!("the target allocator's job {name:?}: {e}"))?;
            if let Some(c) = &self.http_scrape_config {
                c.apply(&mut sc);
            }
            let url = format!("{base}/jobs/{}/targets?collector_id={}", query_escape(&name), self.collector_id);
            out.push((sc, url));
        }
        out.sort_by(|a, b| a.0.job_name.cmp(&b.0.job_name));
        Ok(out)
    }

    /// How often a job's targets are read.
    pub fn refresh_interval(&self) -> Duration {
        self.http_sd_config.as_ref().and_then(|c| c.refresh_interval).map(|d| d.0).unwrap_or(Duration::from_secs(30))
    }

    /// A job's targets (Prometheus HTTP service discovery: a JSON list of target groups).
    pub async fn targets(&self, url: &str) -> Result<Vec<TargetGroup>, String> {
        let basic = self.http_sd_config.as_ref().and_then(|c| c.basic_auth.as_ref());
        let body = get(url, self.tls.as_ref(), basic, self.timeout()).await?;
        let mut groups = super::sd::read_file_sd(std::path::Path::new("targets.json"), &body)?;
        for g in &mut groups {
            g.labels.insert("__meta_url".into(), url.to_string());
        }
        Ok(groups)
    }
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else if b == b' ' {
                "+".into()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A GET of `url`: the body as text, on 200.
async fn get(
    url: &str,
    tls: Option<&TlsClientSettings>,
    basic: Option<&BasicAuth>,
    timeout: Duration,
) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let host = uri.host().unwrap_or("").to_string();
    let connector = Connector::new(&host, uri.scheme_str() == Some("https"), tls, &[weir_core::tls::ALPN_HTTP1])
        .map_err(|e| format!("tls: {e}"))?
        .with_connect_timeout(timeout);
    let client: Client<Connector, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut req = http::Request::get(uri);
    if let Some(b) = basic {
        let pass = b.password.clone().unwrap_or_default();
        req = req.header(
            http::header::AUTHORIZATION,
            format!("Basic {}", super::scrape::base64(&format!("{}:{pass}", b.username))),
        );
    }
    let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
    let fetch = async {
        let resp = client.request(req).await.map_err(|e| format!("GET {url}: {e}"))?;
        if resp.status() != http::StatusCode::OK {
            return Err(format!("GET {url}: HTTP status {}", resp.status()));
        }
        let body =
            Limited::new(resp.into_body(), 64 << 20).collect().await.map_err(|e| format!("GET {url}: {e}"))?.to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| format!("GET {url}: the body is not UTF-8"))
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| format!("GET {url}: timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ta(json: serde_json::Value) -> TargetAllocatorConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn validation_follows_the_collector() {
        let ok = ta(serde_json::json!({"endpoint": "http://localhost:8080", "collector_id": "collector-1"}));
        assert!(ok.validate().is_ok());
        assert_eq!(ok.interval(), Duration::from_secs(30));
        let bad = ta(serde_json::json!({"endpoint": "localhost", "collector_id": "c"}));
        assert!(bad.validate().unwrap_err().contains("TargetAllocator endpoint is not valid: localhost"));
        let bad = ta(serde_json::json!({"endpoint": "http://x:1", "collector_id": ""}));
        assert!(bad.validate().unwrap_err().contains("CollectorID is not a valid ID"));
        let bad = ta(
            serde_json::json!({"endpoint": "http://x:1", "collector_id": "c", "http_scrape_config": {"bearer_token": "1", "bearer_token_file": "f"}}),
        );
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("at most one of bearer_token & bearer_token_file must be configured"));
    }

    #[tokio::test]
    async fn jobs_and_targets_from_the_allocator() {
        use axum::routing::get as route;
        let app = axum::Router::new()
            .route(
                "/scrape_configs",
                route(|| async {
                    r#"{"job one": {"job_name": "job one", "scrape_interval": "15s", "kubernetes_sd_configs": [{"role": "pod"}], "relabel_configs": [{"source_labels": ["__meta_x"], "regex": "$(SHARD)", "action": "keep"}]}}"#
                }),
            )
            .route(
                "/jobs/{job}/targets",
                route(|uri: http::Uri| async move {
                    assert_eq!(uri.query(), Some("collector_id=c-1"));
                    r#"[{"targets": ["10.0.0.1:9100"], "labels": {"__meta_x": "0"}}]"#
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let c = ta(serde_json::json!({"endpoint": format!("http://{addr}"), "collector_id": "c-1"}));
        let jobs = c.scrape_configs().await.unwrap();
        assert_eq!(jobs.len(), 1);
        let (sc, url) = &jobs[0];
        assert_eq!(sc.job_name, "job one");
        assert!(sc.kubernetes_sd_configs.is_none(), "the allocator's jobs get its targets, not their own discovery");
        assert_eq!(sc.relabel_configs[0].regex.as_deref(), Some("0"));
        assert_eq!(url, &format!("http://{addr}/jobs/job+one/targets?collector_id=c-1"));
        let groups = c.targets(url).await.unwrap();
        assert_eq!(groups[0].targets, ["10.0.0.1:9100"]);
        assert_eq!(groups[0].labels["__meta_url"], *url);
    }
}
