//! `batch` settings, with the Collector's keys and defaults.

use serde::Deserialize;
use std::time::Duration;
use weir_core::ComponentConfig;

/// The Collector's default for `metadata_cardinality_limit`, the only value accepted.
const DEFAULT_METADATA_CARDINALITY_LIMIT: u32 = 1000;

/// Settings of the `batch` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Number of items (spans, metric data points or log records) that triggers sending a
    /// batch. It does not cap the batch: a request arriving into an almost full batch is
    /// sent with it whole, unless `send_batch_max_size` says otherwise. Default 8192; `0`
    /// sends every request as soon as it arrives.
    pub send_batch_size: usize,

    /// How long the first item of a batch may wait for the batch to fill before it is sent
    /// anyway. Default `200ms`. `0` sends every request immediately (only
    /// `send_batch_max_size` then applies).
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,

    /// Upper bound on the items of one sent batch; larger requests are split. Default `0`
    /// (no bound); when set, it must be greater or equal to `send_batch_size`.
    pub send_batch_max_size: usize,

    /// Batching per client metadata value (the Collector's `metadata_keys`). Not supported:
    /// only an empty list is accepted.
    pub metadata_keys: Vec<String>,

    /// Limit on distinct `metadata_keys` combinations. Not supported: only the Collector's
    /// default, 1000, is accepted.
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: 8192,
            timeout: Duration::from_millis(200),
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: DEFAULT_METADATA_CARDINALITY_LIMIT,
        }
    }
}

impl ComponentConfig for BatchConfig {
    fn validate(&self) -> Result<(), String> {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            return Err("send_batch_max_size must be greater or equal to send_batch_size".into());
        }
        if !self.metadata_keys.is_empty() {
            return Err("metadata_keys is not supported by weir's batch processor (batching per client metadata); \
                        remove it to batch all requests together"
                .into());
        }
        if self.metadata_cardinality_limit != DEFAULT_METADATA_CARDINALITY_LIMIT {
            return Err(format!(
                "metadata_cardinality_limit is not supported by weir's batch processor (it only applies with \
                 metadata_keys); remove it or set it to {DEFAULT_METADATA_CARDINALITY_LIMIT}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut BatchConfig)) -> BatchConfig {
        let mut c = BatchConfig::default();
        f(&mut c);
        c
    }

    #[test]
    fn defaults_match_the_collector() {
        let c = BatchConfig::default();
        assert_eq!(c.send_batch_size, 8192);
        assert_eq!(c.timeout, Duration::from_millis(200));
        assert_eq!(c.send_batch_max_size, 0);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn max_size_below_batch_size_is_rejected() {
        let c = with(|c| {
            c.send_batch_size = 100;
            c.send_batch_max_size = 99;
        });
        assert_eq!(c.validate().unwrap_err(), "send_batch_max_size must be greater or equal to send_batch_size");
    }

    #[test]
    fn max_size_equal_to_batch_size_is_accepted() {
        let c = with(|c| {
            c.send_batch_size = 100;
            c.send_batch_max_size = 100;
        });
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn metadata_keys_are_not_supported() {
        let c = with(|c| c.metadata_keys = vec!["tenant".into()]);
        let e = c.validate().unwrap_err();
        assert!(e.starts_with("metadata_keys is not supported"), "{e}");
    }

    #[test]
    fn metadata_cardinality_limit_other_than_default_is_not_supported() {
        assert_eq!(with(|c| c.metadata_cardinality_limit = 1000).validate(), Ok(()));
        let e = with(|c| c.metadata_cardinality_limit = 10).validate().unwrap_err();
        assert!(e.starts_with("metadata_cardinality_limit is not supported"), "{e}");
    }
}
