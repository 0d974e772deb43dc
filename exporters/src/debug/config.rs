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
    /// Write through weir's own log (true, default: the lines carry its timestamp and level
    /// and follow `service::telemetry::logs`), or straight to `output_paths` (false).
    pub use_internal_logger: bool,
    /// With `use_internal_logger: false`, where the lines go: `stdout`, `stderr` or file paths
    /// (appended to; each line goes to every path). Default `[stdout]`. Setting it with
    /// `use_internal_logger: true` is an error, as is an empty list.
    pub output_paths: Option<Vec<String>>,
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
            use_internal_logger: true,
            output_paths: None,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(DebugConfig);

impl ComponentConfig for DebugConfig {
    /// The Collector's rules between `use_internal_logger` and `output_paths`.
    fn validate(&self) -> Result<(), String> {
        match &self.output_paths {
            Some(_) if self.use_internal_logger => {
                Err("output_paths is not supported when use_internal_logger is true".into())
            }
            Some(paths) if paths.is_empty() => {
                Err("output_paths must not be empty when use_internal_logger is false".into())
            }
            Some(paths) => match paths.iter().position(|p| p.trim().is_empty()) {
                Some(i) => Err(format!("output_paths[{i}] must not be empty")),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    fn files(&self) -> Vec<(String, std::path::PathBuf)> {
        self.destinations()
            .into_iter()
            .enumerate()
            .filter(|(_, p)| !matches!(p.as_str(), "stdout" | "stderr"))
            .map(|(i, p)| (format!("output_paths[{i}]"), p.into()))
            .collect()
    }
}

impl DebugConfig {
    /// Where lines go with `use_internal_logger: false`: `output_paths`, or `[stdout]`.
    pub fn destinations(&self) -> Vec<String> {
        if self.use_internal_logger {
            return Vec::new();
        }
        self.output_paths.clone().unwrap_or_else(|| vec!["stdout".to_string()])
    }
}

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
    fn output_paths_follow_the_collectors_rules() {
        let c = parse("use_internal_logger: false\noutput_paths: [stderr]\n").unwrap();
        assert_eq!(c.destinations(), ["stderr"]);
        let c =
            parse("verbosity: detailed\nsampling_initial: 10\nsampling_thereafter: 50\nuse_internal_logger: false\n")
                .unwrap();
        assert_eq!(c.destinations(), ["stdout"], "stdout by default");
        assert_eq!((c.sampling_initial, c.sampling_thereafter), (10, 50));
        assert!(parse("").unwrap().use_internal_logger, "the internal logger by default");
        let err = parse("use_internal_logger: false\noutput_paths: []\n").unwrap_err();
        assert_eq!(err, "output_paths must not be empty when use_internal_logger is false");
        let err = parse("output_paths: [stdout]\n").unwrap_err();
        assert_eq!(err, "output_paths is not supported when use_internal_logger is true");
        let c = parse("use_internal_logger: false\noutput_paths: [stdout, /var/log/debug.log]\n").unwrap();
        assert_eq!(c.files(), [("output_paths[1]".to_string(), "/var/log/debug.log".into())]);
    }

    #[test]
    fn the_old_logging_exporter_key_is_refused() {
        let err = parse("loglevel: debug\n").unwrap_err();
        assert!(err.contains("unknown field `loglevel`"), "{err}");
    }
}
