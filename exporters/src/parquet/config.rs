//! `parquet` exporter settings.

use serde::Deserialize;
use std::time::Duration;
use weir_core::exporterhelper::{QueueConfig, RetryConfig, DEFAULT_TIMEOUT};
use weir_core::ComponentConfig;

/// Default `max_file_size`: 128 MiB of encoded Parquet.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Default `max_file_age`.
pub const DEFAULT_MAX_FILE_AGE: Duration = Duration::from_secs(300);
/// Default `row_group_size`, in rows.
pub const DEFAULT_ROW_GROUP_SIZE: usize = 65_536;
/// Default zstd level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// `compression`: the codec of every column chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    /// zstd at `compression_level` (default 3). The default: small files, fast to read.
    #[default]
    Zstd,
    /// Snappy: faster to write, larger files.
    Snappy,
    /// Not compressed.
    None,
}

/// Settings of the `parquet` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParquetConfig {
    /// The root directory. Required. Files go to
    /// `<path>/<signal>/date=YYYY-MM-DD/hour=HH/part-<unique>.parquet` (UTC write time).
    /// Leftover temporary files (`.part-*.parquet.tmp`, from a crash) under
    /// `<path>/<signal>` are removed when the exporter starts.
    pub path: String,
    /// A file is closed (and a new one started) once it holds this many bytes of encoded
    /// data. Default 134217728 (128 MiB). Files end slightly larger: the last row group and
    /// the footer go in whole.
    pub max_file_size: u64,
    /// A file is closed once it has been open this long, checked by a timer even when no data
    /// arrives, so rows become visible to readers at most this late. Default 5m. A crash
    /// (SIGKILL, power loss) loses the rows of the open file: keep it short where that matters.
    #[serde(with = "weir_core::config::duration")]
    pub max_file_age: Duration,
    /// Rows per row group (the unit readers skip by statistics). Default 65536. A row group
    /// is also cut at 64 MiB of encoded data, whichever comes first.
    pub row_group_size: usize,
    /// `zstd` (default), `snappy` or `none`.
    pub compression: ParquetCompression,
    /// zstd level, 1 (fastest) to 22 (smallest). Default 3. Only with `compression: zstd`.
    pub compression_level: i32,
    /// Timeout of each write; 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed writes with exponential backoff (the plumbing's `retry_on_failure`).
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter (the plumbing's `sending_queue`).
    pub sending_queue: QueueConfig,
}

impl Default for ParquetConfig {
    fn default() -> Self {
        ParquetConfig {
            path: String::new(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_file_age: DEFAULT_MAX_FILE_AGE,
            row_group_size: DEFAULT_ROW_GROUP_SIZE,
            compression: ParquetCompression::Zstd,
            compression_level: DEFAULT_ZSTD_LEVEL,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(ParquetConfig);

impl ComponentConfig for ParquetConfig {
    fn validate(&self) -> Result<(), String> {
        if self.path.trim().is_empty() {
            return Err("path must be specified: the root directory of the files, e.g. path: ./data".into());
        }
        let p = std::path::Path::new(&self.path);
        if p.exists() && !p.is_dir() {
            return Err(format!("path {:?} is a file; name a directory", self.path));
        }
        if self.max_file_size == 0 {
            return Err("max_file_size must be greater than 0 (bytes, e.g. 134217728)".into());
        }
        if self.max_file_age.is_zero() {
            return Err("max_file_age must be greater than 0, e.g. 5m".into());
        }
        if self.row_group_size == 0 {
            return Err("row_group_size must be greater than 0 (rows, e.g. 65536)".into());
        }
        if self.compression == ParquetCompression::Zstd && !(1..=22).contains(&self.compression_level) {
            return Err(format!("compression_level must be within 1..=22 for zstd, not {}", self.compression_level));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ParquetConfig, String> {
        weir_core::testing::parse_exporter_config(text)
    }

    #[test]
    fn defaults_are_zstd_3_128_mib_5_minutes_65536_rows() {
        let c = parse("path: ./data\n").unwrap();
        assert_eq!(c.compression, ParquetCompression::Zstd);
        assert_eq!(c.compression_level, 3);
        assert_eq!(c.max_file_size, 128 * 1024 * 1024);
        assert_eq!(c.max_file_age, Duration::from_secs(300));
        assert_eq!(c.row_group_size, 65_536);
    }

    #[test]
    fn path_is_required_and_must_not_be_a_file() {
        assert!(parse("max_file_age: 1m\n").unwrap_err().starts_with("path must be specified"));
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = parse(&format!("path: {}\n", f.path().display())).unwrap_err();
        assert!(err.contains("is a file"), "{err}");
    }

    #[test]
    fn limits_must_be_positive() {
        assert!(parse("path: d\nmax_file_size: 0\n").unwrap_err().starts_with("max_file_size"));
        assert!(parse("path: d\nmax_file_age: 0\n").unwrap_err().starts_with("max_file_age"));
        assert!(parse("path: d\nrow_group_size: 0\n").unwrap_err().starts_with("row_group_size"));
    }

    #[test]
    fn zstd_level_is_checked_and_codecs_are_named() {
        assert!(parse("path: d\ncompression_level: 30\n").unwrap_err().starts_with("compression_level"));
        assert_eq!(parse("path: d\ncompression: snappy\n").unwrap().compression, ParquetCompression::Snappy);
        let err = parse("path: d\ncompression: gzip\n").unwrap_err();
        assert!(err.contains("`zstd`"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("path: d\nrotation: {}\n").unwrap_err();
        assert!(err.contains("unknown field `rotation`"), "{err}");
    }
}
