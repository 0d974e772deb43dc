//! `file` exporter settings.

use serde::{Deserialize, Deserializer};
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

/// `group_by`: one file per value of a resource attribute.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupByConfig {
    /// Write each resource to the file named by its `resource_attribute`: `path` holds one `*`,
    /// replaced by the value. Resources without the attribute (or with a non-string value) are
    /// dropped, as in the Collector. Default false.
    pub enabled: bool,
    /// The resource attribute whose value names the file. Default `fileexporter.path_segment`.
    pub resource_attribute: String,
    /// The most files kept open at once; the least recently written one is closed when another
    /// is needed. Default 100.
    pub max_open_files: usize,
}

impl Default for GroupByConfig {
    fn default() -> Self {
        GroupByConfig { enabled: false, resource_attribute: "fileexporter.path_segment".into(), max_open_files: 100 }
    }
}

/// Reads a section whose presence alone turns it on: `rotation:` with nothing under it is
/// rotation with the defaults, as in the Collector.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
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
    /// How often buffered writes are flushed to the file; 0 flushes after every request, and
    /// so does any interval under 1ms (a bare number is nanoseconds, as in the Collector:
    /// `flush_interval: 5` is 5ns). Default 1s. Everything is flushed at shutdown too.
    #[serde(with = "weir_core::config::duration")]
    pub flush_interval: Duration,
    /// Rotation by size, with bounded backups. `rotation:` alone turns it on with the defaults
    /// (as in the Collector); absent, the file grows without limit.
    #[serde(deserialize_with = "present")]
    pub rotation: Option<RotationConfig>,
    /// Keep what the file holds when the exporter starts (true), or start it empty (false, the
    /// Collector's default). Not with `compression` or `rotation`, as in the Collector
    /// (rotation always appends).
    pub append: bool,
    /// One file per resource attribute value.
    pub group_by: GroupByConfig,
    /// The Collector's encoding extensions (`encoding: <extension id>`): refused, weir has none;
    /// use `format`.
    pub encoding: Option<String>,
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
            append: false,
            group_by: GroupByConfig::default(),
            encoding: None,
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
        if let Some(e) = &self.encoding {
            return Err(format!(
                "encoding: {e:?} names an encoding extension; weir has none — use format: json or format: proto"
            ));
        }
        if self.append && self.compression != FileCompression::None {
            return Err("append and compression enabled at the same time is not supported".into());
        }
        if self.append && self.rotation.is_some() {
            return Err("append and rotation enabled at the same time is not supported".into());
        }
        if let Some(r) = &self.rotation {
            if r.max_megabytes == 0 {
                return Err("rotation::max_megabytes must be greater than 0".into());
            }
        }
        if self.group_by.enabled {
            let parts: Vec<&str> = self.path.split('*').collect();
            if parts.len() != 2 {
                return Err("path must contain exactly one * when group_by is enabled".into());
            }
            if parts[0].is_empty() {
                return Err("path must not start with * when group_by is enabled".into());
            }
            if self.group_by.resource_attribute.is_empty() {
                return Err("group_by::resource_attribute must not be empty when group_by is enabled".into());
            }
            if self.group_by.max_open_files == 0 {
                return Err("group_by::max_open_files must be greater than 0".into());
            }
        } else if std::path::Path::new(&self.path).is_dir() {
            return Err(format!("path {:?} is a directory; name a file in it", self.path));
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
        assert!(!c.append, "the Collector starts the file empty");
        assert_eq!(
            c.group_by,
            GroupByConfig {
                enabled: false,
                resource_attribute: "fileexporter.path_segment".into(),
                max_open_files: 100
            }
        );
    }

    #[test]
    fn rotation_with_no_value_is_rotation_with_the_defaults() {
        let c = parse("path: ./foo\nrotation:\n").unwrap();
        assert_eq!(c.rotation, Some(RotationConfig::default()));
        assert_eq!(
            parse("path: ./foo\nrotation:\n  max_megabytes: 1234\n").unwrap().rotation.unwrap().max_backups,
            100
        );
    }

    #[test]
    fn flush_interval_reads_numbers_as_the_collector() {
        assert_eq!(parse("path: x\nflush_interval: 5\n").unwrap().flush_interval, Duration::from_nanos(5));
        assert_eq!(parse("path: x\nflush_interval: 500ms\n").unwrap().flush_interval, Duration::from_millis(500));
        let err = parse("path: x\nflush_interval: \"-1s\"\n").unwrap_err();
        assert!(err.contains("must not be negative"), "{err}");
    }

    #[test]
    fn group_by_follows_the_collectors_rules() {
        let c = parse(
            "path: ./group_by/*.json\ngroup_by:\n  enabled: true\n  resource_attribute: dummy\n  max_open_files: 10\n",
        )
        .unwrap();
        assert_eq!(c.group_by, GroupByConfig { enabled: true, resource_attribute: "dummy".into(), max_open_files: 10 });
        let err = parse("path: ./group_by_no_star\ngroup_by:\n  enabled: true\n").unwrap_err();
        assert_eq!(err, "path must contain exactly one * when group_by is enabled");
        let err = parse("path: '*/./group_by'\ngroup_by:\n  enabled: true\n").unwrap_err();
        assert_eq!(err, "path must not start with * when group_by is enabled");
        let err = parse("path: ./g/*.json\ngroup_by:\n  enabled: true\n  resource_attribute: \"\"\n").unwrap_err();
        assert!(err.starts_with("group_by::resource_attribute must not be empty"), "{err}");
        assert!(parse("path: ./g/*/*.json\ngroup_by:\n  enabled: false\n").is_ok(), "only checked when enabled");
    }

    #[test]
    fn append_excludes_compression_and_rotation_and_encoding_extensions_are_refused() {
        assert!(parse("path: x\nappend: true\n").unwrap().append);
        let err = parse("path: x\nappend: true\ncompression: zstd\n").unwrap_err();
        assert!(err.starts_with("append and compression"), "{err}");
        let err = parse("path: x\nappend: true\nrotation:\n").unwrap_err();
        assert!(err.starts_with("append and rotation"), "{err}");
        let err = parse("path: x\nencoding: otlp_encoding\n").unwrap_err();
        assert!(err.starts_with("encoding: \"otlp_encoding\" names an encoding extension"), "{err}");
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
