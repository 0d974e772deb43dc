//! The plumbing's keys, as every exporter config carries them: `timeout`, `retry_on_failure`
//! and `sending_queue`, with the Collector's names and defaults.

use crate::config::duration;
use serde::Deserialize;
use std::time::Duration;

/// Default `timeout` of one send attempt, as in the Collector.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// `retry_on_failure`: exponential backoff with jitter (the Collector's `configretry`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retry failed sends that may succeed later. Default true.
    pub enabled: bool,
    /// Wait before the first retry. Default 5s.
    #[serde(with = "duration")]
    pub initial_interval: Duration,
    /// Upper bound of the wait between retries. Default 30s.
    #[serde(with = "duration")]
    pub max_interval: Duration,
    /// Give up after this long since the first attempt; 0 retries forever. Default 300s.
    #[serde(with = "duration")]
    pub max_elapsed_time: Duration,
    /// Factor by which the wait grows after each retry. Default 1.5.
    pub multiplier: f64,
    /// Jitter: each wait is drawn from interval × [1 − f, 1 + f]. Default 0.5, within [0, 1].
    pub randomization_factor: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
            multiplier: 1.5,
            randomization_factor: 0.5,
        }
    }
}

/// What the queue counts in `queue_size`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    /// Requests (payloads), the Collector's default.
    #[default]
    Requests,
    /// Items: spans, metric data points or log records.
    Items,
    /// Bytes of encoded OTLP: bounds the queue's memory, whatever the batch size.
    Bytes,
}

/// However the queue is sized, it never holds more requests than this.
pub const MAX_QUEUED_REQUESTS: usize = 65_536;

/// `sending_queue`: the queue in front of an exporter.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// With `false`, exports happen one at a time in the pipeline's flow (no queue). Default true.
    pub enabled: bool,
    /// Concurrent sends. Default 10.
    pub num_consumers: usize,
    /// Capacity, in `sizer` units. Default 1000.
    pub queue_size: usize,
    /// Unit of `queue_size`: `requests` (default), `items` or `bytes`. With `bytes` the queue's
    /// memory is bounded whatever the batch size (a payload larger than the whole queue still
    /// passes, alone).
    pub sizer: Sizer,
    /// When the queue is full: `true` (weir's default) makes the pipeline wait, so receivers
    /// refuse new data with retryable errors; `false` fails the data at once (counted in
    /// `otelcol_exporter_enqueue_failed_*`), as the Collector's default does.
    pub block_on_overflow: bool,
    /// `false` (default): this exporter acknowledges data once queued. `true`: only once sent,
    /// so a receiver with `wait_for_result` learns the real outcome.
    pub wait_for_result: bool,
    /// A storage extension id (`file_storage` or `file_storage/<name>`): the queue is then
    /// kept on disk and survives crashes and restarts (see [`crate::persistent_queue`]). Not
    /// allowed with `wait_for_result: true`: the queue acknowledges data once it is on disk.
    pub storage: Option<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: Sizer::Requests,
            block_on_overflow: true,
            wait_for_result: false,
            storage: None,
        }
    }
}

/// The plumbing settings of one exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterSettings {
    pub timeout: Duration,
    pub retry: RetryConfig,
    pub queue: QueueConfig,
}

impl Default for ExporterSettings {
    fn default() -> Self {
        ExporterSettings { timeout: DEFAULT_TIMEOUT, retry: RetryConfig::default(), queue: QueueConfig::default() }
    }
}

impl ExporterSettings {
    /// Checks the keys, naming the one to change.
    pub fn validate(&self) -> Result<(), String> {
        let r = &self.retry;
        if !(0.0..=1.0).contains(&r.randomization_factor) {
            return Err("retry_on_failure::randomization_factor must be within [0, 1]".into());
        }
        if r.enabled && r.multiplier < 1.0 {
            return Err("retry_on_failure::multiplier must be at least 1".into());
        }
        if r.enabled && r.max_interval < r.initial_interval {
            return Err("retry_on_failure::max_interval must not be less than initial_interval".into());
        }
        let q = &self.queue;
        if q.enabled && q.num_consumers == 0 {
            return Err("sending_queue::num_consumers must be greater than 0".into());
        }
        if q.enabled && q.queue_size == 0 {
            return Err("sending_queue::queue_size must be greater than 0".into());
        }
        if q.storage.is_some() && !q.enabled {
            return Err("sending_queue::storage needs sending_queue::enabled: true".into());
        }
        if q.storage.is_some() && q.wait_for_result {
            return Err("sending_queue::wait_for_result: true is not allowed together with sending_queue::storage (a persistent queue acknowledges data once it is on disk)".into());
        }
        Ok(())
    }
}

/// Implements [`ExporterConfig`](crate::component::ExporterConfig) for a config struct with the
/// fields
///
/// ```text
/// /// Timeout of each send attempt; 0 disables it. Default 5s.
/// #[serde(with = "weir_core::config::duration")]
/// pub timeout: Duration,
/// /// Retries of failed sends.
/// pub retry_on_failure: RetryConfig,
/// /// The queue in front of the exporter.
/// pub sending_queue: QueueConfig,
/// ```
///
/// (serde's `flatten` would lose the located errors of the config loader, so each config
/// declares the three itself; this is the one conversion.)
#[macro_export]
macro_rules! exporter_config {
    ($config:ty) => {
        impl $crate::component::ExporterConfig for $config {
            fn exporter_settings(&self) -> $crate::exporterhelper::ExporterSettings {
                $crate::exporterhelper::ExporterSettings {
                    timeout: self.timeout,
                    retry: self.retry_on_failure.clone(),
                    queue: self.sending_queue.clone(),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_refused_with_wait_for_result() {
        let mut s = ExporterSettings::default();
        s.queue.storage = Some("file_storage".into());
        assert_eq!(s.validate(), Ok(()));
        s.queue.wait_for_result = true;
        assert!(s.validate().unwrap_err().contains("wait_for_result"));
    }

    #[test]
    fn validation_names_the_key() {
        let mut s = ExporterSettings::default();
        s.retry.randomization_factor = 2.0;
        assert!(s.validate().unwrap_err().contains("retry_on_failure::randomization_factor"));
        let mut s = ExporterSettings::default();
        s.queue.queue_size = 0;
        assert!(s.validate().unwrap_err().contains("sending_queue::queue_size"));
    }
}
