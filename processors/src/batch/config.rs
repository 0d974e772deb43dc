//! `batch` settings, with the Collector's keys and defaults.

use serde::Deserialize;
use std::time::Duration;
use weir_core::ComponentConfig;

/// The Collector's default for `metadata_cardinality_limit`.
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

    /// Client metadata keys (case-insensitive, no duplicates): one batch per distinct
    /// combination of their values, each sent with those keys as its metadata. Needs a
    /// receiver with `include_metadata: true`; requests without the keys share the batch of
    /// empty values. Default: none, one batch for all (client metadata is then dropped).
    pub metadata_keys: Vec<String>,

    /// Most distinct `metadata_keys` combinations kept; data of a further one is refused with
    /// a retryable error. Default 1000; 0 means no limit.
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
        let mut seen = std::collections::BTreeSet::new();
        for k in &self.metadata_keys {
            if !seen.insert(k.to_ascii_lowercase()) {
                return Err(format!("metadata_keys: duplicate entry {:?} (case-insensitive)", k.to_ascii_lowercase()));
            }
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
    fn metadata_keys_must_be_distinct_ignoring_case() {
        assert_eq!(with(|c| c.metadata_keys = vec!["tenant".into(), "region".into()]).validate(), Ok(()));
        let e = with(|c| c.metadata_keys = vec!["Tenant".into(), "tenant".into()]).validate().unwrap_err();
        assert_eq!(e, "metadata_keys: duplicate entry \"tenant\" (case-insensitive)");
        assert_eq!(with(|c| c.metadata_cardinality_limit = 10).validate(), Ok(()));
    }
}
