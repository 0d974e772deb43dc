//! `debug` exporter settings.

use serde::Deserialize;
use std::time::Duration;
use weir_core::exporterhelper::{QueueConfig, RetryConfig, DEFAULT_TIMEOUT};
use weir_core::ComponentConfig;

/// `verbosity`: how much of each payload is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One line per payload with its counts. The default.
    #[default]
    Basic,
    /// Also one line per resource, scope and item (span name and ids, log body, metric name).
    Normal,
    /// Also every field, attribute and data point.
    Detailed,
}

/// Settings of the `debug` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `basic` (default), `normal` or `detailed`.
    pub verbosity: Verbosity,
    /// Payloads written in full each second before sampling starts. Default 2.
    pub sampling_initial: u64,
    /// After `sampling_initial` in one second, write every n-th payload; 0 writes no more
    /// that second. Default 1 (write everything).
    pub sampling_thereafter: u64,
    /// Timeout of each send attempt; 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed sends (writing a log line does not fail).
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter.
    pub sending_queue: QueueConfig,
}

impl Default for DebugConfig {
    fn default() -> Self {
        DebugConfig {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(DebugConfig);

impl ComponentConfig for DebugConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DebugConfig, String> {
        weir_core::testing::parse_exporter_config(text)
    }

    #[test]
    fn an_empty_section_gives_the_collectors_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, DebugConfig::default());
        assert_eq!((c.verbosity, c.sampling_initial, c.sampling_thereafter), (Verbosity::Basic, 2, 1));
    }

    #[test]
    fn verbosity_choices_are_listed() {
        assert_eq!(parse("verbosity: detailed\n").unwrap().verbosity, Verbosity::Detailed);
        let err = parse("verbosity: loud\n").unwrap_err();
        assert!(err.contains("`basic`, `normal`, `detailed`"), "{err}");
    }

    #[test]
    fn the_old_logging_exporter_key_is_refused() {
        let err = parse("loglevel: debug\n").unwrap_err();
        assert!(err.contains("unknown field `loglevel`"), "{err}");
    }
}
