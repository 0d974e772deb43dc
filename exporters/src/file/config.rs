//! `file` exporter settings.

use serde::Deserialize;
use std::time::Duration;
use weir_core::exporterhelper::{QueueConfig, RetryConfig, DEFAULT_TIMEOUT};
use weir_core::ComponentConfig;

/// `format`: how each request is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// OTLP/JSON, one `Export*ServiceRequest` per line. The default.
    #[default]
    Json,
    /// Protobuf, each request preceded by its length (4 bytes, big-endian).
    Proto,
}

/// `compression`: how each request is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileCompression {
    /// Not compressed. The default.
    #[default]
    None,
    /// Each request is one zstd frame, length-prefixed like `proto` (also for `json`: compressed
    /// JSON cannot be written as lines), as the Collector does.
    Zstd,
}

/// `rotation`: when and how the file is rolled over.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    /// Size in MiB at which the file is renamed to a backup and a new one started. Default 100.
    pub max_megabytes: u64,
    /// Backups older than this many days are removed; 0 keeps them regardless of age. Default 0.
    pub max_days: u64,
    /// How many backups are kept, newest first; 0 keeps all. Default 100.
    pub max_backups: u64,
    /// Use local time instead of UTC in backup names. Default false.
    pub localtime: bool,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig { max_megabytes: 100, max_days: 0, max_backups: 100, localtime: false }
    }
}

/// Settings of the `file` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// The file to append to. Required. Exporters of several signals (or several `file`
    /// exporters) with the same path share one writer, so their requests never interleave.
    pub path: String,
    /// `json` (default, one OTLP/JSON request per line) or `proto` (length-prefixed).
    pub format: FileFormat,
    /// `none` (default) or `zstd`.
    pub compression: FileCompression,
    /// How often buffered writes are flushed to the file; 0 flushes after every request.
    /// Default 1s. Everything is flushed at shutdown too.
    #[serde(with = "weir_core::config::duration")]
    pub flush_interval: Duration,
    /// Rotation by size, with bounded backups. Absent: the file grows without limit.
    pub rotation: Option<RotationConfig>,
    /// Timeout of each write; 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed writes with exponential backoff (the plumbing's `retry_on_failure`).
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter (the plumbing's `sending_queue`).
    pub sending_queue: QueueConfig,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            path: String::new(),
            format: FileFormat::Json,
            compression: FileCompression::None,
            flush_interval: Duration::from_secs(1),
            rotation: None,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(FileConfig);

impl ComponentConfig for FileConfig {
    fn validate(&self) -> Result<(), String> {
        if self.path.trim().is_empty() {
            return Err("path must be specified, e.g. path: ./telemetry.jsonl".into());
        }
        if std::path::Path::new(&self.path).is_dir() {
            return Err(format!("path {:?} is a directory; name a file in it", self.path));
        }
        if let Some(r) = &self.rotation {
            if r.max_megabytes == 0 {
                return Err("rotation::max_megabytes must be greater than 0".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, String> {
        weir_core::testing::parse_exporter_config(text)
    }

    #[test]
    fn defaults_are_json_lines_uncompressed_without_rotation() {
        let c = parse("path: out.jsonl\n").unwrap();
        assert_eq!((c.format, c.compression, c.rotation), (FileFormat::Json, FileCompression::None, None));
        assert_eq!(c.flush_interval, Duration::from_secs(1));
    }

    #[test]
    fn an_empty_rotation_section_gives_the_collectors_defaults() {
        let c = parse("path: out.jsonl\nrotation: {}\n").unwrap();
        assert_eq!(
            c.rotation,
            Some(RotationConfig { max_megabytes: 100, max_days: 0, max_backups: 100, localtime: false })
        );
    }

    #[test]
    fn path_is_required_and_must_not_be_a_directory() {
        assert!(parse("format: proto\n").unwrap_err().starts_with("path must be specified"));
        let dir = tempfile::tempdir().unwrap();
        let err = parse(&format!("path: {}\n", dir.path().display())).unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn rotation_size_must_be_positive() {
        let err = parse("path: x\nrotation:\n  max_megabytes: 0\n").unwrap_err();
        assert!(err.starts_with("rotation::max_megabytes"), "{err}");
    }

    #[test]
    fn only_zstd_compression_is_offered() {
        let err = parse("path: x\ncompression: gzip\n").unwrap_err();
        assert!(err.contains("expected `none` or `zstd`"), "{err}");
    }

    #[test]
    fn unknown_rotation_keys_are_refused() {
        let err = parse("path: x\nrotation:\n  max_size: 3\n").unwrap_err();
        assert!(err.contains("unknown field `max_size`"), "{err}");
    }
}
