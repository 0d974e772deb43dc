//! One target's scrape loop, as Prometheus's `scrapeLoop` runs it: every `scrape_interval`,
//! an HTTP GET with the `Accept` header of the job's protocols, gzip, a timeout and the job's
//! credentials; the body parsed by its `Content-Type` (or the fallback protocol); target labels
//! merged by `honor_labels`; `metric_relabel_configs`; `sample_limit`; staleness markers for
//! series that disappeared; and the report series (`up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling`, `scrape_series_added`).

use super::config::Job;
use super::relabel::{self, Labels};
use super::sd::Target;
use super::textparse::{self, Format, Metadata};
use super::translate::{stale_nan, Point, TargetInfo, Translator};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use weir_core::connect::Connector;
use weir_core::{Consumer, Payload, Signal};

/// The transport label of the receiver's metrics.
pub const TRANSPORT: &str = "http";

type HttpClient = Client<Connector, Empty<Bytes>>;

/// What a scrape brought back.
struct Scraped {
    body: Vec<u8>,
    content_type: String,
}

/// The loop of one target.
pub struct ScrapeLoop {
    job: Arc<Job>,
    target: Target,
    url: String,
    client: HttpClient,
    translator: Translator,
    info: TargetInfo,
    consumer: Consumer,
    report_extra: bool,
    /// The series (label sets) of the last scrape, for staleness markers.
    previous: HashSet<Labels>,
    /// Metadata of the last scrapes, by family name (Prometheus's metadata cache).
    metadata: HashMap<String, Metadata>,
    id: String,
}

impl ScrapeLoop {
    pub fn new(
        id: &str,
        job: Arc<Job>,
        target: Target,
        translator: Translator,
        consumer: Consumer,
        report_extra: bool,
    ) -> Result<ScrapeLoop, String> {
        let url = target.url(&job);
        let uri: http::Uri = url.parse().map_err(|e| format!("target URL {url:?}: {e}"))?;
        let host = uri.host().unwrap_or("").to_string();
        let connector = Connector::new(&host, job.scheme == "https", job.tls.as_ref(), &[weir_core::tls::ALPN_HTTP1])
            .map_err(|e| format!("tls_config: {e}"))?
            .with_connect_timeout(job.timeout);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let info = TargetInfo {
            job: target.get("job").to_string(),
            instance: target.get("instance").to_string(),
            scheme: target.discovered_scheme.clone(),
            external_labels: job.external_labels.clone(),
        };
        Ok(ScrapeLoop {
            job,
            target,
            url,
            client,
            translator,
            info,
            consumer,
            report_extra,
            previous: HashSet::new(),
            metadata: HashMap::new(),
            id: id.to_string(),
        })
    }

    /// Scrapes until `stop`. When the target went away (`stop` cancelled, `shutdown` not),
    /// writes staleness markers for every series, as Prometheus does; a receiver shutting down
    /// writes none (Prometheus's loops end with their parent context without markers either).
    pub async fn run(mut self, stop: CancellationToken, shutdown: CancellationToken) {
        // Spread targets over the interval as Prometheus does (an offset from a hash of the URL).
        let interval = self.job.interval;
        let offset = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.url.hash(&mut h);
            Duration::from_millis(h.finish() % (interval.as_millis().max(1) as u64).min(1000))
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(offset) => {}
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let points = tokio::select! {
                _ = stop.cancelled() => break,
                points = self.scrape_once() => points,
            };
            self.deliver(points).await;
        }
        if shutdown.is_cancelled() {
            return;
        }
        let now = now_ms();
        let mut points = self.stale_markers(&HashSet::new(), now);
        for name in self.report_names() {
            points.push(self.report_point(name, stale_nan(), now));
        }
        self.deliver(points).await;
    }

    fn report_names(&self) -> Vec<&'static str> {
        let mut names = vec![
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
        ];
        if self.report_extra {
            names.extend(["scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"]);
        }
        names
    }

    fn report_point(&self, name: &str, value: f64, ts: i64) -> Point {
        let mut labels = self.target.public_labels();
        labels.insert("__name__".into(), name.into());
        Point { labels, value, timestamp_ms: ts }
    }

    fn stale_markers(&self, current: &HashSet<Labels>, ts: i64) -> Vec<Point> {
        self.previous
            .iter()
            .filter(|l| !current.contains(*l))
            .map(|l| Point { labels: l.clone(), value: stale_nan(), timestamp_ms: ts })
            .collect()
    }

    /// One scrape: its samples (or staleness markers when it failed) and the report series.
    pub async fn scrape_once(&mut self) -> Vec<Point> {
        let started = Instant::now();
        let ts = now_ms();
        let result = self.fetch().await;
        let mut body_size = 0usize;
        let mut scraped = 0usize;
        let outcome = result.and_then(|s| {
            body_size = s.body.len();
            let format = Format::from_content_type(&s.content_type).unwrap_or(if self.job.fallback_text {
                Format::Text
            } else {
                Format::OpenMetrics
            });
            let text = String::from_utf8(s.body).map_err(|_| "the body is not UTF-8".to_string())?;
            let exposition = textparse::parse(&text, format).map_err(|e| e.to_string())?;
            scraped = exposition.samples.len();
            self.samples(exposition, ts)
        });
        let duration = started.elapsed().as_secs_f64();
        let result = if outcome.is_ok() { "success" } else { "failure" };
        metrics::counter!("weir_receiver_prometheus_scrapes", "receiver" => self.id.clone(), "job" => self.job.name.clone(), "result" => result).increment(1);
        metrics::histogram!("weir_receiver_prometheus_scrape_duration_seconds", "receiver" => self.id.clone(), "job" => self.job.name.clone()).record(duration);
        let (mut points, up, added, series_added) = match outcome {
            Ok((points, current, metadata)) => {
                let added = points.len();
                let series_added = current.iter().filter(|l| !self.previous.contains(*l)).count();
                let mut out = self.stale_markers(&current, ts);
                out.extend(points);
                self.previous = current;
                for (k, v) in metadata {
                    self.metadata.insert(k, v);
                }
                (out, 1.0, added, series_added)
            }
            Err(e) => {
                tracing::warn!(message = "Failed to scrape Prometheus endpoint.", receiver = %self.id, target = %self.url, error = %e);
                let out = self.stale_markers(&HashSet::new(), ts);
                self.previous.clear();
                (out, 0.0, 0, 0)
            }
        };
        let mut report = vec![
            ("up", up),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", scraped as f64),
            ("scrape_samples_post_metric_relabeling", added as f64),
            ("scrape_series_added", series_added as f64),
        ];
        if self.report_extra {
            report.push(("scrape_timeout_seconds", self.job.timeout.as_secs_f64()));
            report.push(("scrape_sample_limit", self.job.sample_limit as f64));
            report.push(("scrape_body_size_bytes", body_size as f64));
        }
        for (name, value) in report {
            points.push(self.report_point(name, value, ts));
        }
        points
    }

    /// The exposition's samples with target labels and metric relabeling applied.
    #[allow(clippy::type_complexity)]
    fn samples(
        &self,
        exposition: textparse::Exposition,
        ts: i64,
    ) -> Result<(Vec<Point>, HashSet<Labels>, HashMap<String, Metadata>), String> {
        let target_labels = self.target.public_labels();
        let mut points = Vec::with_capacity(exposition.samples.len());
        let mut current = HashSet::with_capacity(exposition.samples.len());
        let mut seen = HashSet::with_capacity(exposition.samples.len());
        for s in exposition.samples {
            let mut labels: Labels = Labels::new();
            for (k, v) in s.labels {
                relabel::set(&mut labels, &k, v);
            }
            labels.insert("__name__".into(), s.name);
            merge_target_labels(&mut labels, &target_labels, self.job.honor_labels);
            if !relabel::process(&mut labels, &self.job.metric_relabel) {
                continue;
            }
            check_label_limits(&labels, &self.job)?;
            let timestamp_ms = match s.timestamp_ms {
                Some(t) if self.job.honor_timestamps => t,
                _ => ts,
            };
            if !seen.insert(labels.clone()) {
                // A duplicate series in one scrape: Prometheus keeps the first.
                continue;
            }
            // Prometheus marks a series stale when it disappears, except one exposed with its
            // own (honored) timestamp, unless track_timestamps_staleness.
            let explicit = s.timestamp_ms.is_some() && self.job.honor_timestamps;
            if !explicit || self.job.track_timestamps_staleness {
                current.insert(labels.clone());
            }
            points.push(Point { labels, value: s.value, timestamp_ms });
        }
        if self.job.sample_limit > 0 && points.len() as u64 > self.job.sample_limit {
            return Err(format!(
                "sample limit exceeded: {} samples, sample_limit {}",
                points.len(),
                self.job.sample_limit
            ));
        }
        Ok((points, current, exposition.metadata))
    }

    async fn fetch(&self) -> Result<Scraped, String> {
        let timeout = self.job.timeout;
        match tokio::time::timeout(timeout, self.fetch_inner()).await {
            Ok(r) => r,
            Err(_) => Err(format!("scrape timed out after {}", super::config_format_duration(timeout))),
        }
    }

    async fn fetch_inner(&self) -> Result<Scraped, String> {
        let mut url = self.url.clone();
        for _ in 0..10 {
            let mut req = http::Request::get(&url)
                .header(http::header::ACCEPT, &self.job.accept)
                .header(http::header::ACCEPT_ENCODING, if self.job.enable_compression { "gzip" } else { "identity" })
                .header(http::header::USER_AGENT, concat!("weir/", env!("CARGO_PKG_VERSION")))
                .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", self.job.timeout.as_secs_f64()));
            if let Some(b) = &self.job.basic_auth {
                let user = match &b.username_file {
                    Some(f) => read_secret(f)?,
                    None => b.username.clone(),
                };
                let pass = match (&b.password, &b.password_file) {
                    (_, Some(f)) => read_secret(f)?,
                    (Some(p), None) => p.clone(),
                    (None, None) => String::new(),
                };
                req = req.header(http::header::AUTHORIZATION, format!("Basic {}", base64(&format!("{user}:{pass}"))));
            }
            if let Some((kind, creds)) = &self.job.authorization {
                let secret = creds.read().map_err(|e| format!("reading the credentials: {e}"))?;
                req = req.header(http::header::AUTHORIZATION, format!("{kind} {secret}"));
            }
            let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
            let resp = self.client.request(req).await.map_err(|e| format!("{e}: {}", source_chain(&e)))?;
            let status = resp.status();
            if status.is_redirection() && self.job.follow_redirects {
                if let Some(loc) = resp.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()) {
                    url = resolve_location(&url, loc);
                    continue;
                }
            }
            if status != http::StatusCode::OK {
                return Err(format!(
                    "server returned HTTP status {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                ));
            }
            let content_type =
                resp.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let gzip = resp
                .headers()
                .get(http::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
            let limit = if self.job.body_size_limit > 0 { self.job.body_size_limit as usize } else { usize::MAX };
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| format!("reading the body (body_size_limit {}): {e}", self.job.body_size_limit))?
                .to_bytes();
            let body = if gzip {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .take((limit as u64).saturating_add(1))
                    .read_to_end(&mut out)
                    .map_err(|e| format!("decompressing gzip: {e}"))?;
                if out.len() > limit {
                    return Err(format!("body size limit exceeded ({} bytes)", self.job.body_size_limit));
                }
                out
            } else {
                body.to_vec()
            };
            return Ok(Scraped { body, content_type });
        }
        Err("stopped after 10 redirects".into())
    }

    /// Translates and hands the points to the pipelines.
    async fn deliver(&mut self, points: Vec<Point>) {
        let resource_metrics = match self.translator.translate(&self.info, &points, &self.metadata) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(message = "Failed to translate a scrape.", receiver = %self.id, target = %self.url, error = %e);
                return;
            }
        };
        if resource_metrics.is_empty() {
            return;
        }
        use prost::Message;
        let request =
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest { resource_metrics };
        let bytes = Bytes::from(request.encode_to_vec());
        let payload = match Payload::new(Signal::Metrics, bytes) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(message = "Built an unreadable metrics payload.", receiver = %self.id, error = %e);
                return;
            }
        };
        if let Err(e) = self.consumer.consume(payload, TRANSPORT, false).await {
            tracing::warn!(message = "Pipelines refused a scrape.", receiver = %self.id, target = %self.url, error = %e);
        }
    }
}

/// Merges the target's labels into a sample's (Prometheus's `mutateSampleLabels`).
pub fn merge_target_labels(labels: &mut Labels, target: &Labels, honor_labels: bool) {
    if honor_labels {
        for (k, v) in target {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        return;
    }
    let mut conflicting = Vec::new();
    for (k, v) in target {
        if let Some(existing) = labels.get(k).filter(|e| !e.is_empty()) {
            conflicting.push((k.clone(), existing.clone()));
        }
        labels.insert(k.clone(), v.clone());
    }
    for (k, v) in conflicting {
        let mut name = format!("exported_{k}");
        while labels.contains_key(&name) {
            name = format!("exported_{name}");
        }
        labels.insert(name, v);
    }
    labels.retain(|_, v| !v.is_empty());
}

fn check_label_limits(labels: &Labels, job: &Job) -> Result<(), String> {
    if job.label_limit > 0 && labels.len() as u64 > job.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            labels["__name__"],
            labels.len(),
            job.label_limit
        ));
    }
    for (k, v) in labels {
        if job.label_name_length_limit > 0 && k.len() as u64 > job.label_name_length_limit {
            return Err(format!("label_name_length_limit exceeded (label name: {k})"));
        }
        if job.label_value_length_limit > 0 && v.len() as u64 > job.label_value_length_limit {
            return Err(format!("label_value_length_limit exceeded (label {k})"));
        }
    }
    Ok(())
}

fn read_secret(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| format!("reading {path}: {e}"))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin_end =
        base.find("://").map(|i| i + 3).and_then(|i| base[i..].find('/').map(|j| i + j)).unwrap_or(base.len());
    format!("{}{}", &base[..origin_end], location)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(crate) fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn clashing_labels_are_exported_unless_honored() {
        // scrape_test.go TestScrapeLoopAppend "Honor labels" / "exported_" cases.
        let target = labels(&[("job", "j"), ("instance", "i")]);
        let mut l = labels(&[("__name__", "m"), ("job", "mine"), ("exported_job", "x")]);
        merge_target_labels(&mut l, &target, false);
        assert_eq!(
            l,
            labels(&[
                ("__name__", "m"),
                ("job", "j"),
                ("instance", "i"),
                ("exported_job", "x"),
                ("exported_exported_job", "mine")
            ])
        );
        let mut l = labels(&[("__name__", "m"), ("job", "mine")]);
        merge_target_labels(&mut l, &target, true);
        assert_eq!(l, labels(&[("__name__", "m"), ("job", "mine"), ("instance", "i")]));
    }

    #[test]
    fn basic_auth_header_is_base64() {
        assert_eq!(base64("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64("a"), "YQ==");
    }

    #[test]
    fn redirect_locations_resolve_against_the_origin() {
        assert_eq!(resolve_location("http://h:1/metrics", "/other"), "http://h:1/other");
        assert_eq!(resolve_location("http://h:1/metrics", "https://x/y"), "https://x/y");
    }
}
