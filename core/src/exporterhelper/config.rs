//! The plumbing's keys, as every exporter config carries them: `timeout`, `retry_on_failure`
//! and `sending_queue`, with the Collector's names and defaults.

use crate::config::duration;
use serde::{Deserialize, Deserializer};
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
    /// Exporter-side batching (the Collector's `sending_queue::batch`): payloads taken from
    /// the queue are joined until `min_size` is reached or `flush_timeout` passes, and cut at
    /// `max_size`. Declaring `batch:` (even empty) turns it on with the defaults; absent: every
    /// payload is sent as it was queued (the Collector's default without its feature gate).
    #[serde(deserialize_with = "present")]
    pub batch: Option<BatchConfig>,
}

/// `sending_queue::batch`: how payloads taken from the queue are joined before sending.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// A batch that has not reached `min_size` is sent anyway this long after its first
    /// payload arrived. Default 200ms; must be positive.
    #[serde(with = "duration")]
    pub flush_timeout: Duration,
    /// What `min_size` and `max_size` count: `items` or `bytes` (`requests` is refused, as by
    /// the Collector). Default: the queue's `sizer` when that is `items` or `bytes`, else
    /// `items`.
    pub sizer: Option<Sizer>,
    /// A batch is sent as soon as it holds this much. Default 8192; 0 sends every payload as
    /// soon as it is taken from the queue (only `max_size` then applies).
    pub min_size: usize,
    /// Upper bound of one sent batch; larger payloads are split between resource, scope or
    /// item boundaries (a single metric is never cut). Default 0: no bound. With the `bytes`
    /// sizer the cut is made by item count, estimated from the payload's bytes per item.
    pub max_size: usize,
    /// One batch per distinct combination of these client metadata keys' values (metadata
    /// that receivers with `include_metadata: true` keep with the data); the batch carries
    /// those keys. Unset and empty values are distinct. Default: none, one batch for all.
    pub partition: PartitionConfig,
}

/// `sending_queue::batch::partition`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PartitionConfig {
    /// Client metadata keys (case-insensitive, no duplicates) that split batches.
    pub metadata_keys: Vec<String>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            flush_timeout: Duration::from_millis(200),
            sizer: None,
            min_size: 8192,
            max_size: 0,
            partition: PartitionConfig::default(),
        }
    }
}

/// Reads an optional section whose presence alone (`batch:` with nothing under it, which YAML
/// reads as null) means "on with defaults".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl QueueConfig {
    /// The unit of `batch::min_size` / `max_size`: its own `sizer`, else the queue's unless
    /// that counts requests, else items.
    pub fn batch_sizer(&self) -> Option<Sizer> {
        let b = self.batch.as_ref()?;
        Some(b.sizer.unwrap_or(match self.sizer {
            Sizer::Requests => Sizer::Items,
            s => s,
        }))
    }
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
            batch: None,
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
        if let (Some(b), Some(sizer)) = (&q.batch, q.batch_sizer()) {
            if !q.enabled {
                return Err(
                    "sending_queue::batch needs sending_queue::enabled: true (batches are made from the queue)".into(),
                );
            }
            if sizer == Sizer::Requests {
                return Err(
                    "sending_queue::batch::sizer: `batch` supports only `items` or `bytes` sizer, found \"requests\""
                        .into(),
                );
            }
            if b.flush_timeout.is_zero() {
                return Err("sending_queue::batch::flush_timeout must be positive".into());
            }
            if b.max_size > 0 && b.max_size < b.min_size {
                return Err(format!(
                    "sending_queue::batch::max_size ({}) must be greater or equal to min_size ({})",
                    b.max_size, b.min_size
                ));
            }
            if sizer == q.sizer && b.min_size > q.queue_size {
                return Err(
                    "sending_queue::batch::min_size must be less than or equal to sending_queue::queue_size".into()
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for k in &b.partition.metadata_keys {
                if !seen.insert(k.to_ascii_lowercase()) {
                    return Err(format!(
                        "sending_queue::batch::partition::metadata_keys: duplicate entry {:?} (case-insensitive)",
                        k.to_ascii_lowercase()
                    ));
                }
            }
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
    fn batch_defaults_and_sizer_follow_the_collector() {
        let mut q = QueueConfig { batch: Some(BatchConfig::default()), ..QueueConfig::default() };
        let b = q.batch.clone().unwrap();
        assert_eq!((b.flush_timeout, b.min_size, b.max_size), (Duration::from_millis(200), 8192, 0));
        assert_eq!(q.batch_sizer(), Some(Sizer::Items), "a requests queue batches by items");
        q.sizer = Sizer::Bytes;
        q.queue_size = 1 << 20;
        assert_eq!(q.batch_sizer(), Some(Sizer::Bytes), "else the queue's sizer");
        q.batch.as_mut().unwrap().sizer = Some(Sizer::Items);
        assert_eq!(q.batch_sizer(), Some(Sizer::Items), "its own sizer wins");
        assert_eq!(QueueConfig::default().batch_sizer(), None, "off unless declared");
    }

    #[test]
    fn batch_keys_are_checked_as_the_collector_does() {
        let check = |f: &dyn Fn(&mut QueueConfig)| {
            let mut s = ExporterSettings::default();
            s.queue.batch = Some(BatchConfig::default());
            s.queue.queue_size = 100_000;
            s.queue.sizer = Sizer::Items;
            f(&mut s.queue);
            s.validate()
        };
        assert_eq!(check(&|_| {}), Ok(()));
        let err = check(&|q| q.batch.as_mut().unwrap().sizer = Some(Sizer::Requests)).unwrap_err();
        assert!(err.contains("supports only `items` or `bytes`"), "{err}");
        let err = check(&|q| q.batch.as_mut().unwrap().flush_timeout = Duration::ZERO).unwrap_err();
        assert!(err.starts_with("sending_queue::batch::flush_timeout"), "{err}");
        let err = check(&|q| q.batch.as_mut().unwrap().max_size = 10).unwrap_err();
        assert!(err.contains("max_size (10) must be greater or equal to min_size (8192)"), "{err}");
        let err = check(&|q| q.queue_size = 100).unwrap_err();
        assert!(err.contains("min_size must be less than or equal to sending_queue::queue_size"), "{err}");
        let err =
            check(&|q| q.batch.as_mut().unwrap().partition.metadata_keys = vec!["A".into(), "a".into()]).unwrap_err();
        assert!(err.contains("duplicate entry \"a\""), "{err}");
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
