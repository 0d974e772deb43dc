//! One payload's whole delivery as a `tower` stack: Retry ▶ MapErr ▶ Timeout ▶ the exporter.
//!
//! The retry policy is the Collector's `configretry` backoff (exponential, with jitter, bounded
//! by `max_elapsed_time`), and honours a server's throttle hint ([`Failure::retry_after`]).

use super::config::{ExporterSettings, RetryConfig};
use crate::ack::Failure;
use crate::component::Exporter;
use crate::config::duration;
use crate::pdata::Payload;
use crate::pipeline::ClientMetadata;
use futures::future::BoxFuture;
use rand::Rng;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Service, ServiceBuilder};

/// One send: a payload and the client metadata it carries.
#[derive(Clone)]
pub(crate) struct Request {
    pub payload: Payload,
    pub metadata: Option<Arc<ClientMetadata>>,
}

/// Adapts an [`Exporter`] to a `tower::Service`.
#[derive(Clone)]
struct ExportService(Arc<dyn Exporter>);

impl Service<Request> for ExportService {
    type Response = ();
    type Error = Failure;
    type Future = BoxFuture<'static, Result<(), Failure>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, r: Request) -> Self::Future {
        let e = self.0.clone();
        Box::pin(async move { e.export_with_metadata(r.payload, r.metadata.as_deref()).await })
    }
}

/// The retry policy: the Collector's backoff, honouring a throttle hint from the server.
#[derive(Clone)]
struct Backoff {
    cfg: Arc<RetryConfig>,
    interval: Duration,
    started: Option<Instant>,
    exporter: Arc<str>,
}

impl tower::retry::Policy<Request, (), Failure> for Backoff {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _req: &mut Request, result: &mut Result<(), Failure>) -> Option<Self::Future> {
        let failure = match result {
            Ok(()) => return None,
            Err(f) => f,
        };
        if !self.cfg.enabled || !failure.retryable {
            return None;
        }
        let jitter = self.cfg.randomization_factor;
        let factor = if jitter > 0.0 { rand::rng().random_range(1.0 - jitter..=1.0 + jitter) } else { 1.0 };
        let mut delay = self.interval.mul_f64(factor);
        if let Some(hint) = failure.retry_after {
            delay = delay.max(hint);
        }
        let elapsed = self.started.get_or_insert_with(Instant::now).elapsed();
        if !self.cfg.max_elapsed_time.is_zero() && elapsed + delay > self.cfg.max_elapsed_time {
            failure.message = format!("no more retries left: {}", failure.message).into();
            failure.retryable = false;
            return None;
        }
        tracing::info!(
            message = "Exporting failed. Will retry the request after interval.",
            exporter = %self.exporter,
            error = %failure,
            interval = %duration::format(delay),
        );
        self.interval = self.interval.mul_f64(self.cfg.multiplier).min(self.cfg.max_interval);
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request) -> Option<Request> {
        self.started.get_or_insert_with(Instant::now);
        Some(req.clone())
    }
}

fn timeout_failure(e: tower::BoxError) -> Failure {
    match e.downcast::<Failure>() {
        Ok(f) => *f,
        Err(e) if e.is::<tower::timeout::error::Elapsed>() => Failure::retryable("the export timed out"),
        Err(e) => Failure::retryable(e.to_string()),
    }
}

impl std::error::Error for Failure {}

/// Retry ▶ MapErr ▶ Timeout ▶ the exporter: one payload's whole delivery.
pub(crate) fn send_stack(
    exporter_id: &str,
    exporter: Arc<dyn Exporter>,
    settings: &ExporterSettings,
) -> impl Service<Request, Response = (), Error = Failure, Future: Send> + Clone + Send + 'static {
    let policy = Backoff {
        cfg: Arc::new(settings.retry.clone()),
        interval: settings.retry.initial_interval,
        started: None,
        exporter: Arc::from(exporter_id),
    };
    let timeout = if settings.timeout.is_zero() { Duration::from_secs(u64::MAX / 4) } else { settings.timeout };
    ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(policy))
        .map_err(timeout_failure)
        .timeout(timeout)
        .service(ExportService(exporter))
}
