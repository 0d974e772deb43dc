//! The exporterhelper keys every exporter config carries.
//!
//! The Collector embeds `timeout`, `retry_on_failure` and `sending_queue` in every exporter's
//! config. serde's `flatten` does not combine with `deny_unknown_fields`, so each config here
//! declares the three as its own fields, with these names and defaults:
//!
//! ```text
//! /// Timeout of each send attempt; 0 disables it. Default 5s.
//! #[serde(with = "weir_core::config::duration")]
//! pub timeout: Duration,
//! /// Retries of failed sends (see the README's "Guarantees").
//! pub retry_on_failure: RetryConfig,
//! /// The in-memory queue in front of the exporter.
//! pub sending_queue: QueueConfig,
//! ```
//!
//! and `exporter_settings!(Config)` gives it the one accessor, `exporter_settings()`, that the
//! factory's `settings` and the config's `validate` use, so the conversion exists once.

use std::time::Duration;

/// Default `timeout` of one send attempt, as in the Collector.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Implements `exporter_settings()` (the plumbing's [`ExporterSettings`]) for a config that has
/// the fields `timeout`, `retry_on_failure` and `sending_queue`.
///
/// [`ExporterSettings`]: weir_core::exporterhelper::ExporterSettings
macro_rules! exporter_settings {
    ($config:ty) => {
        impl $config {
            /// The shared plumbing's settings: `timeout`, `retry_on_failure`, `sending_queue`.
            pub fn exporter_settings(&self) -> weir_core::exporterhelper::ExporterSettings {
                weir_core::exporterhelper::ExporterSettings {
                    timeout: self.timeout,
                    retry: self.retry_on_failure.clone(),
                    queue: self.sending_queue.clone(),
                }
            }
        }
    };
}
pub(crate) use exporter_settings;
