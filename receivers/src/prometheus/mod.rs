//! The `prometheus` receiver: scrapes Prometheus targets as a Prometheus server configured with
//! `config` would, and translates each scrape to OTLP metrics as the Collector's receiver does.
//!
//! - [`config`]: the receiver's keys and Prometheus's configuration format (defaults and
//!   validation messages from Prometheus).
//! - [`sd`]: targets from `static_configs` and `file_sd_configs` (files read again every
//!   `refresh_interval`, and whenever they change), through `relabel_configs`.
//! - [`scrape`]: one loop per target (HTTP, content negotiation, gzip, `honor_labels`,
//!   `metric_relabel_configs`, `sample_limit`, staleness, report series).
//! - [`textparse`]: the text format (0.0.4 / 1.0.0) and OpenMetrics 1.0.
//! - [`translate`]: samples to OTLP, start-time adjustment.
//! - [`ta`]: jobs and targets from the OpenTelemetry Operator's target allocator.
//!
//! One task per scrape job keeps its targets current; a target that disappears gets staleness
//! markers for all its series, as in Prometheus. Each scrape is one metrics payload handed to
//! the pipelines (a refused payload is logged and dropped: a scrape cannot be retried).

pub mod config;
pub mod relabel;
pub mod scrape;
pub mod sd;
pub mod ta;
pub mod textparse;
pub mod translate;

use async_trait::async_trait;
use config::{Job, PrometheusReceiverConfig};
use scrape::ScrapeLoop;
use sd::{Target, TargetGroup};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use translate::{TranslateOptions, Translator};
use weir_core::{BuildContext, BuildError, Consumer, Consumers, Receiver, ReceiverFactory, Signal};

/// Formats a duration as Prometheus prints one (`1m30s`, `10s`, `500ms`).
pub fn config_format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let units: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut out = String::new();
    for (u, size) in units {
        if ms >= size {
            out.push_str(&format!("{}{u}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Factory of the `prometheus` receiver.
pub struct PrometheusReceiverFactory;

impl ReceiverFactory for PrometheusReceiverFactory {
    type Config = PrometheusReceiverConfig;

    fn type_name(&self) -> &'static str {
        "prometheus"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, ctx: &BuildContext, config: &PrometheusReceiverConfig) -> Result<Box<dyn Receiver>, BuildError> {
        let start_time_regex = config.start_time_regex().map_err(BuildError::new)?;
        Ok(Box::new(PrometheusReceiver {
            id: ctx.id.to_string(),
            config: config.clone(),
            options: TranslateOptions {
                trim_metric_suffixes: config.trim_metric_suffixes,
                start_time_metric: config.use_start_time_metric.then_some(start_time_regex),
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
        }))
    }
}

struct PrometheusReceiver {
    id: String,
    config: PrometheusReceiverConfig,
    options: TranslateOptions,
}

#[async_trait]
impl Receiver for PrometheusReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let Some(consumer) = consumers.metrics.clone() else { return Ok(tokio::spawn(async {})) };
        let jobs = self.config.jobs().map_err(|e| BuildError::new(format!("receivers::{}::{e}", self.id)))?;
        tracing::info!(message = "Started the Prometheus scrape manager.", receiver = %self.id, jobs = jobs.len());
        let mut managers = Vec::with_capacity(jobs.len() + 1);
        for job in jobs {
            let manager = self.manager(Arc::new(job), &consumer, None, &shutdown);
            managers.push(tokio::spawn(manager.run(shutdown.clone())));
        }
        if let Some(ta) = self.config.target_allocator.clone() {
            let this = Arc::new(*self);
            managers.push(tokio::spawn(this.run_target_allocator(Arc::new(ta), consumer, shutdown)));
        }
        Ok(tokio::spawn(async move {
            for m in managers {
                let _ = m.await;
            }
        }))
    }
}

impl PrometheusReceiver {
    fn manager(
        &self,
        job: Arc<Job>,
        consumer: &Consumer,
        ta: Option<Arc<ta::TargetAllocatorConfig>>,
        shutdown: &CancellationToken,
    ) -> JobManager {
        JobManager {
            id: self.id.clone(),
            job,
            consumer: consumer.clone(),
            options: self.options.clone(),
            report_extra: self.config.report_extra_scrape_metrics,
            file_groups: HashMap::new(),
            http_groups: Vec::new(),
            ta,
            shutdown: shutdown.clone(),
            running: HashMap::new(),
        }
    }

    /// Reads the target allocator's jobs every `interval` and runs a manager per job; a job
    /// whose configuration changed is restarted, one that went away is stopped.
    async fn run_target_allocator(
        self: Arc<Self>,
        ta: Arc<ta::TargetAllocatorConfig>,
        consumer: Consumer,
        shutdown: CancellationToken,
    ) {
        let global = self.config.config.as_ref().map(|c| c.global.clone()).unwrap_or_default();
        let mut running: HashMap<String, (config::ScrapeConfig, CancellationToken, JoinHandle<()>)> = HashMap::new();
        let mut ticker = tokio::time::interval(ta.interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let jobs = match ta.scrape_configs().await {
                Ok(j) => j,
                Err(e) => {
                    tracing::error!(message = "Failed to read the target allocator's jobs.", receiver = %self.id, error = %e);
                    continue;
                }
            };
            let names: Vec<String> = jobs.iter().map(|(sc, _)| sc.job_name.clone()).collect();
            running.retain(|name, (_, stop, _)| {
                let keep = names.contains(name);
                if !keep {
                    stop.cancel();
                }
                keep
            });
            for (sc, url) in jobs {
                if running.get(&sc.job_name).is_some_and(|(old, _, _)| *old == sc) {
                    continue;
                }
                if let Some((_, stop, _)) = running.remove(&sc.job_name) {
                    stop.cancel();
                }
                let mut job = match sc.resolve(&global) {
                    Ok(j) => j,
                    Err(e) => {
                        tracing::error!(message = "Refused a target allocator job.", receiver = %self.id, error = %e);
                        continue;
                    }
                };
                job.http_sd = Some((url, ta.refresh_interval()));
                // A job the allocator drops ends with staleness markers for its targets.
                let stop = CancellationToken::new();
                let manager = self.manager(Arc::new(job), &consumer, Some(ta.clone()), &shutdown);
                let handle = tokio::spawn(manager.run(stop.clone()));
                running.insert(sc.job_name.clone(), (sc, stop, handle));
            }
        }
        for (_, (_, stop, handle)) in running.drain() {
            stop.cancel();
            let _ = handle.await;
        }
    }
}

/// Keeps one job's targets current and runs a loop per target.
struct JobManager {
    id: String,
    job: Arc<Job>,
    consumer: Consumer,
    options: TranslateOptions,
    report_extra: bool,
    /// The groups last read from each file_sd file, with the file's modification time.
    file_groups: HashMap<PathBuf, (Option<SystemTime>, Vec<TargetGroup>)>,
    /// The groups last read from the target allocator (a job it handed out).
    http_groups: Vec<TargetGroup>,
    ta: Option<Arc<ta::TargetAllocatorConfig>>,
    /// The receiver's shutdown (not a job's stop): loops end without staleness markers.
    shutdown: CancellationToken,
    running: HashMap<Target, (CancellationToken, JoinHandle<()>)>,
}

impl JobManager {
    async fn run(mut self, shutdown: CancellationToken) {
        let refresh = self.job.file_sd_configs.iter().map(|(_, r)| *r).min();
        let mut last_full_read = tokio::time::Instant::now();
        let mut last_http_read: Option<tokio::time::Instant> = None;
        self.read_files(true);
        self.read_http(&mut last_http_read).await;
        self.sync();
        loop {
            // file_sd files are checked for changes every second (Prometheus watches them)
            // and read again every refresh_interval regardless.
            let polling = refresh.is_some() || self.job.http_sd.is_some();
            let wait = if polling { Duration::from_secs(1) } else { Duration::from_secs(3600) };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            let mut changed = self.read_http(&mut last_http_read).await;
            if let Some(refresh) = refresh {
                let full = last_full_read.elapsed() >= refresh;
                if full {
                    last_full_read = tokio::time::Instant::now();
                }
                changed |= self.read_files(full);
            }
            if changed {
                self.sync();
            }
        }
        for (_, (stop, handle)) in self.running.drain() {
            stop.cancel();
            let _ = handle.await;
        }
        metrics::gauge!("weir_receiver_prometheus_targets", "receiver" => self.id.clone(), "job" => self.job.name.clone())
            .set(0.0);
    }

    /// Reads the target allocator's targets of this job when its refresh interval has passed;
    /// true when they changed (on an error the last targets stay, as in Prometheus).
    async fn read_http(&mut self, last: &mut Option<tokio::time::Instant>) -> bool {
        let (Some((url, refresh)), Some(ta)) = (self.job.http_sd.clone(), self.ta.clone()) else { return false };
        if last.is_some_and(|t| t.elapsed() < refresh) {
            return false;
        }
        *last = Some(tokio::time::Instant::now());
        match ta.targets(&url).await {
            Ok(groups) => {
                let changed = groups != self.http_groups;
                self.http_groups = groups;
                changed
            }
            Err(e) => {
                tracing::error!(message = "Failed to read the target allocator's targets.", receiver = %self.id, job = %self.job.name, error = %e);
                false
            }
        }
    }

    /// Reads the file_sd files (those changed, or all when `all`); true when groups changed.
    fn read_files(&mut self, all: bool) -> bool {
        let mut changed = false;
        let mut seen = Vec::new();
        for (patterns, _) in &self.job.file_sd_configs {
            for pattern in patterns {
                let paths = match config::expand_glob(pattern) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(message = "Invalid file_sd pattern.", receiver = %self.id, job = %self.job.name, error = %e);
                        continue;
                    }
                };
                for path in paths {
                    seen.push(path.clone());
                    let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                    if !all && self.file_groups.get(&path).is_some_and(|(t, _)| *t == mtime) {
                        continue;
                    }
                    match std::fs::read_to_string(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|text| sd::read_file_sd(&path, &text))
                    {
                        Ok(groups) => {
                            let old = self.file_groups.insert(path.clone(), (mtime, groups.clone()));
                            changed |= old.map(|(_, g)| g) != Some(groups);
                        }
                        Err(e) => {
                            // Prometheus keeps the groups it last read from a file it cannot read.
                            tracing::error!(message = "Error reading file_sd file.", receiver = %self.id, job = %self.job.name, file = %path.display(), error = %e);
                            if let Some(entry) = self.file_groups.get_mut(&path) {
                                entry.0 = mtime;
                            }
                        }
                    }
                }
            }
        }
        let before = self.file_groups.len();
        self.file_groups.retain(|p, _| seen.contains(p));
        changed || before != self.file_groups.len()
    }

    /// Starts loops for new targets and stops those of targets that went away.
    fn sync(&mut self) {
        let mut groups: Vec<TargetGroup> = self.job.static_configs.iter().map(TargetGroup::from).collect();
        let mut files: Vec<&PathBuf> = self.file_groups.keys().collect();
        files.sort();
        for f in files {
            groups.extend(self.file_groups[f].1.iter().cloned());
        }
        groups.extend(self.http_groups.iter().cloned());
        let targets = sd::targets(&self.job, &groups);
        metrics::gauge!("weir_receiver_prometheus_targets", "receiver" => self.id.clone(), "job" => self.job.name.clone())
            .set(targets.len() as f64);
        self.running.retain(|t, (stop, _)| {
            let keep = targets.contains(t);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for t in targets {
            if self.running.contains_key(&t) {
                continue;
            }
            let translator = Translator::new(self.options.clone());
            match ScrapeLoop::new(
                &self.id,
                self.job.clone(),
                t.clone(),
                translator,
                self.consumer.clone(),
                self.report_extra,
            ) {
                Ok(l) => {
                    let stop = self.shutdown.child_token();
                    let handle = tokio::spawn(l.run(stop.clone(), self.shutdown.clone()));
                    self.running.insert(t, (stop, handle));
                }
                Err(e) => {
                    tracing::error!(message = "Cannot scrape target.", receiver = %self.id, job = %self.job.name, error = %e)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
