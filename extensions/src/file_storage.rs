//! The `file_storage` extension: the directory where persistent sending queues keep their
//! logs (`sending_queue::storage: file_storage[/name]`). The queue itself — its on-disk format,
//! durability and recovery — is [`weir_core::persistent_queue`]; this extension only says where
//! and how (`fsync`, segment size).

use async_trait::async_trait;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use weir_core::component::{
    BuildContext, BuildError, Capabilities, Capability, ComponentConfig, ComponentId, Extension, ExtensionFactory,
    Storage,
};
use weir_core::persistent_queue::LogOptions;
use weir_core::Signal;

/// `file_storage`: where persistent sending queues keep their data (the Collector's
/// `file_storage` extension, backing weir's own log rather than bbolt).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    /// Directory of the queues (one subdirectory per exporter and signal). Default:
    /// `$WEIR_DATA_DIR/queue`, or `./data/queue` when `WEIR_DATA_DIR` is not set.
    pub directory: Option<PathBuf>,
    /// Create `directory` when it does not exist. Default true (the Collector's default is
    /// false: there the directory must exist).
    pub create_directory: bool,
    /// `fsync` every group of appended records before acknowledging them, so acknowledged data
    /// also survives a machine crash or power loss. Default false (as in the Collector): data
    /// survives any crash of weir itself.
    pub fsync: bool,
    /// Size at which a segment file is closed and a new one started. Default 16, within [1, 1024].
    pub segment_size_mib: u64,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig { directory: None, create_directory: true, fsync: false, segment_size_mib: 16 }
    }
}

impl ComponentConfig for FileStorageConfig {
    fn validate(&self) -> Result<(), String> {
        if !(1..=1024).contains(&self.segment_size_mib) {
            return Err("segment_size_mib must be within [1, 1024]".into());
        }
        if self.directory.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err("directory must not be empty (leave it out for $WEIR_DATA_DIR/queue)".into());
        }
        Ok(())
    }
}

impl FileStorageConfig {
    /// The directory of all queues.
    pub fn directory(&self) -> PathBuf {
        self.directory.clone().unwrap_or_else(|| {
            let data = std::env::var_os("WEIR_DATA_DIR").filter(|d| !d.is_empty()).unwrap_or_else(|| "./data".into());
            PathBuf::from(data).join("queue")
        })
    }

    /// The log settings of one exporter's queue for one signal.
    pub fn log_options(&self, exporter_id: &str, signal: Signal) -> LogOptions {
        let name: String = format!("exporter_{}_{}", exporter_id, signal.as_str())
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        LogOptions { dir: self.directory().join(name), segment_size: self.segment_size_mib << 20, fsync: self.fsync }
    }
}

impl Storage for FileStorageConfig {
    fn queue_log(&self, exporter: &ComponentId, signal: Signal) -> Result<LogOptions, String> {
        if !self.create_directory && !self.directory().is_dir() {
            return Err(format!(
                "the file_storage directory {} does not exist (create it, or set create_directory: true)",
                self.directory().display()
            ));
        }
        Ok(self.log_options(&exporter.to_string(), signal))
    }
}

/// The `file_storage` extension factory. The extension itself runs nothing: exporters that name
/// it in `sending_queue::storage` open their queues in its directory.
pub struct FileStorageFactory;

impl ExtensionFactory for FileStorageFactory {
    type Config = FileStorageConfig;
    fn type_name(&self) -> &'static str {
        "file_storage"
    }
    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Storage]
    }
    fn build(&self, _ctx: &BuildContext, c: &FileStorageConfig) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(FileStorage(Arc::new(c.clone()))))
    }
}

struct FileStorage(Arc<FileStorageConfig>);

#[async_trait]
impl Extension for FileStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities { storage: Some(self.0.clone()), ..Capabilities::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_live_in_a_directory_per_exporter_and_signal() {
        let q = FileStorageConfig { directory: Some("/var/lib/weir/q".into()), fsync: true, ..Default::default() };
        let opts = q.queue_log(&ComponentId::parse("otlp/backend").unwrap(), Signal::Traces).unwrap();
        assert!(opts.fsync);
        assert_eq!(q.directory(), PathBuf::from("/var/lib/weir/q"));
        assert_eq!(opts.dir, PathBuf::from("/var/lib/weir/q/exporter_otlp_backend_traces"));
    }

    #[test]
    fn a_missing_directory_is_refused_without_create_directory() {
        let q = FileStorageConfig {
            directory: Some("/nonexistent/weir-queue".into()),
            create_directory: false,
            ..Default::default()
        };
        let err = q.queue_log(&ComponentId::parse("otlp").unwrap(), Signal::Logs).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn file_storage_keys_are_checked() {
        let unknown = weir_core::testing::parse_config::<FileStorageConfig>("dir: /tmp\n").unwrap_err();
        assert!(unknown.contains("dir"), "{unknown}");
        let bad = weir_core::testing::parse_config::<FileStorageConfig>("segment_size_mib: 0\n").unwrap_err();
        assert!(bad.contains("segment_size_mib"), "{bad}");
    }
}
