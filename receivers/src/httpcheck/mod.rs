//! `httpcheck`: the Collector's HTTP check receiver. Every `collection_interval` each target
//! endpoint is requested once (all at the same time) and three metrics describe the answer, as
//! the Collector's `metadata.yaml` defines them:
//!
//! - `httpcheck.status` (int sum, cumulative, not monotonic, unit `1`): five points per check,
//!   one per status class `1xx`…`5xx`, 1 for the class of the answer's status and 0 for the
//!   others (all 0, with `http.status_code` 0, when the request failed); attributes `http.url`,
//!   `http.status_code`, `http.method`, `http.status_class`;
//! - `httpcheck.duration` (int gauge, `ms`): the time to the answer's head; attribute `http.url`;
//! - `httpcheck.error` (int sum, unit `{error}`): 1 when the request failed, with
//!   `error.message`.
//!
//! Each can be turned off with `metrics: {<name>: {enabled: false}}`.

mod config;

pub use config::{HttpcheckConfig, HttpcheckTarget};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use prost::Message;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::connect::Connector;
use weir_core::pdata::now_unix_nano;
use weir_core::{BuildContext, BuildError, Consumers, Payload, Receiver, ReceiverFactory, Signal};

pub const TYPE_NAME: &str = "httpcheck";
const TRANSPORT: &str = "http";
/// The scope name of the Collector's metrics builder for this receiver.
const SCOPE: &str = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/httpcheckreceiver";
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Factory of the `httpcheck` receiver.
pub struct HttpcheckReceiverFactory;

impl ReceiverFactory for HttpcheckReceiverFactory {
    type Config = HttpcheckConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, ctx: &BuildContext, config: &HttpcheckConfig) -> Result<Box<dyn Receiver>, BuildError> {
        let mut checks = Vec::new();
        for (i, target) in config.targets.iter().enumerate() {
            for endpoint in target.all_endpoints() {
                checks.push(Check::new(target, endpoint).map_err(|e| BuildError::new(format!("targets[{i}]: {e}")))?);
            }
        }
        Ok(Box::new(HttpcheckReceiver { id: ctx.id.to_string(), config: config.clone(), checks }))
    }
}

type HttpClient = Client<Connector, Empty<Bytes>>;

/// One endpoint of one target, with its own client (its TLS settings).
struct Check {
    endpoint: String,
    uri: http::Uri,
    method: http::Method,
    headers: http::HeaderMap,
    timeout: Duration,
    client: HttpClient,
}

impl Check {
    fn new(target: &HttpcheckTarget, endpoint: &str) -> Result<Check, String> {
        let uri: http::Uri = endpoint.parse().map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().unwrap_or_default().to_string();
        let mut connector = Connector::new(&host, https, target.tls.as_ref(), &[weir_core::tls::ALPN_HTTP1])
            .map_err(|e| format!("tls: {e}"))?;
        if !target.timeout.is_zero() {
            connector = connector.with_connect_timeout(target.timeout);
        }
        let method = http::Method::from_bytes(target.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("method {:?} is not an HTTP method", target.method))?;
        let mut headers = http::HeaderMap::new();
        for (k, v) in &target.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("headers: {k:?} is not a header name"))?;
            let value =
                http::HeaderValue::from_str(v).map_err(|_| format!("headers::{k}: not a valid header value"))?;
            headers.insert(name, value);
        }
        Ok(Check {
            endpoint: endpoint.to_string(),
            uri,
            method,
            headers,
            timeout: target.timeout,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// One request: (status code, or the error; the time to the answer's head).
    async fn run(&self) -> (Result<u16, String>, Duration) {
        let mut request = http::Request::builder().method(self.method.clone()).uri(self.uri.clone());
        if let Some(h) = request.headers_mut() {
            h.extend(self.headers.clone());
        }
        let request = request.body(Empty::<Bytes>::new()).expect("method, uri and headers were checked");
        let started = Instant::now();
        let call = self.client.request(request);
        let result = if self.timeout.is_zero() {
            call.await.map_err(|e| weir_core::connect::error_chain(&e))
        } else {
            match tokio::time::timeout(self.timeout, call).await {
                Ok(r) => r.map_err(|e| weir_core::connect::error_chain(&e)),
                Err(_) => Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into()),
            }
        };
        let elapsed = started.elapsed();
        let described = result
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("{} {:?}: {e}", go_method(&self.method), self.endpoint));
        (described, elapsed)
    }
}

/// Go's `url.Error` names the method in title case (`Get "http://…": …`).
fn go_method(m: &http::Method) -> String {
    let s = m.as_str();
    let mut out = s[..1].to_string();
    out.push_str(&s[1..].to_ascii_lowercase());
    out
}

struct HttpcheckReceiver {
    id: String,
    config: HttpcheckConfig,
    checks: Vec<Check>,
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn string(key: &str, v: &str) -> KeyValue {
    attr(key, any_value::Value::StringValue(v.to_string()))
}

fn point(start: u64, time: u64, value: i64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    }
}

fn sum(name: &str, description: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum { data_points, aggregation_temporality: 2, is_monotonic: false })),
        ..Default::default()
    }
}

/// The metrics of one round of checks (`results` in target order), as a request.
fn request(
    config: &HttpcheckConfig,
    results: &[(&Check, Result<u16, String>, Duration)],
    start: u64,
    time: u64,
) -> Option<Payload> {
    let (mut status, mut duration, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for (check, result, elapsed) in results {
        let url = &check.endpoint;
        duration.push(point(start, time, elapsed.as_millis() as i64, vec![string("http.url", url)]));
        let code = match result {
            Ok(code) => *code,
            Err(message) => {
                errors.push(point(start, time, 1, vec![string("http.url", url), string("error.message", message)]));
                0
            }
        };
        for (i, class) in CLASSES.iter().enumerate() {
            status.push(point(
                start,
                time,
                i64::from(code / 100 == i as u16 + 1),
                vec![
                    string("http.url", url),
                    attr("http.status_code", any_value::Value::IntValue(i64::from(code))),
                    string("http.method", check.method.as_str()),
                    string("http.status_class", class),
                ],
            ));
        }
    }
    let mut metrics = Vec::new();
    if config.enabled("httpcheck.duration") && !duration.is_empty() {
        metrics.push(Metric {
            name: "httpcheck.duration".into(),
            description: "Measures the duration of the HTTP check.".into(),
            unit: "ms".into(),
            data: Some(metric::Data::Gauge(Gauge { data_points: duration })),
            ..Default::default()
        });
    }
    if config.enabled("httpcheck.error") && !errors.is_empty() {
        metrics.push(sum("httpcheck.error", "Records errors occurring during HTTP check.", "{error}", errors));
    }
    if config.enabled("httpcheck.status") && !status.is_empty() {
        metrics.push(sum(
            "httpcheck.status",
            "1 if the check resulted in status_code matching the status_class, otherwise 0.",
            "1",
            status,
        ));
    }
    if metrics.is_empty() {
        return None;
    }
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Default::default()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Metrics, req.encode_to_vec().into()).ok()
}

#[async_trait]
impl Receiver for HttpcheckReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let consumer = consumers
            .get(Signal::Metrics)
            .cloned()
            .ok_or_else(|| BuildError::new("the httpcheck receiver produces metrics only"))?;
        let labels = [("receiver", self.id.clone()), ("scraper", TYPE_NAME.to_string())];
        let scraped = metrics::counter!("otelcol_scraper_scraped_metric_points", &labels);
        let HttpcheckReceiver { id, config, checks } = *self;
        Ok(tokio::spawn(async move {
            let start = now_unix_nano();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(config.initial_delay) => {}
            }
            let mut ticks = tokio::time::interval(config.collection_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let time = now_unix_nano();
                let results = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = futures::future::join_all(checks.iter().map(|c| async move { let (r, d) = c.run().await; (c, r, d) })) => r,
                };
                let failed = results.iter().filter(|(_, r, _)| r.is_err()).count();
                if let Some((check, Err(e), _)) = results.iter().find(|(_, r, _)| r.is_err()) {
                    tracing::debug!(message = "HTTP check failed.", receiver = %id, endpoint = %check.endpoint, error = %e, failed);
                }
                let Some(payload) = request(&config, &results, start, time) else { continue };
                scraped.increment(payload.items() as u64);
                if let Err(f) = consumer.consume(payload, TRANSPORT, false).await {
                    tracing::warn!(message = "The pipeline refused HTTP check metrics.", receiver = %id, error = %f);
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests;
