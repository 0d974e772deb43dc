//! The `file_storage` extension: the directory where persistent sending queues keep their
//! logs (`sending_queue::storage: file_storage[/name]`). The queue itself — its on-disk format,
//! durability and recovery — is [`weir_core::persistent_queue`]; this extension only says where
//! and how (`fsync`, segment size), creates the directory, and locks each queue it hands out.
//!
//! Keys are the Collector's (`extension/storage/filestorage`), which backs them with bbolt.
//! weir's queue is an append-only log instead, and two of the Collector's settings mean:
//!
//! - `timeout`: how long a queue waits for the lock on its directory when another process
//!   holds it (bbolt's file lock). Each queue's directory is locked (`flock` on its `lock`
//!   file) for as long as the queue is open, so two weirs pointed at one directory cannot
//!   corrupt each other's queue: the second waits `timeout`, then refuses to start, naming the
//!   directory.
//! - `compaction`: accepted and checked as the Collector checks it, and has nothing to do. A
//!   bbolt file never shrinks without compaction; weir's log deletes each segment file once
//!   every record in it is sent, so the disk space of a drained queue is given back as it
//!   drains (the on-rebound case) and a restart finds only what is still unsent (the on-start
//!   case).

use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::component::{
    BuildContext, BuildError, Capabilities, Capability, ComponentConfig, ComponentId, Extension, ExtensionContext,
    ExtensionFactory, Storage,
};
use weir_core::persistent_queue::LogOptions;
use weir_core::Signal;

/// `file_storage`: where persistent sending queues keep their data (the Collector's
/// `file_storage` extension, backing weir's own log rather than bbolt).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    /// Directory of the queues (one subdirectory per exporter and signal). Default:
    /// `$WEIR_DATA_DIR/queue`, or `./data/queue` when `WEIR_DATA_DIR` is not set (the
    /// Collector's is `/var/lib/otelcol/file_storage`).
    pub directory: Option<PathBuf>,
    /// Create `directory` when it does not exist. Default true (the Collector's default is
    /// false: there the directory must exist).
    pub create_directory: bool,
    /// Permissions of directories weir creates, as an octal string (minus the process umask).
    /// Default `0750`, as the Collector.
    pub directory_permissions: String,
    /// How long a queue waits for the lock on its directory while another process holds it,
    /// before the start fails. Default 1s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// `fsync` every group of appended records before acknowledging them, so acknowledged data
    /// also survives a machine crash or power loss. Default false (as in the Collector): data
    /// survives any crash of weir itself.
    pub fsync: bool,
    /// The Collector's bbolt compaction settings: checked as the Collector checks them, with
    /// nothing to do in weir (its log deletes finished segments, see the module docs).
    pub compaction: CompactionConfig,
    /// Size at which a segment file is closed and a new one started. Default 16, within [1, 1024].
    pub segment_size_mib: u64,
}

/// `compaction`: the Collector's keys and defaults, accepted for compatibility.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionConfig {
    /// Compact when starting. Default false. With true, `directory` must exist, as in the
    /// Collector (checked at start).
    pub on_start: bool,
    /// Compact while running once usage drops. Default false.
    pub on_rebound: bool,
    /// Where the Collector writes its temporary compaction files. Default: `directory`'s.
    pub directory: Option<PathBuf>,
    /// Most items per compaction transaction; 0 ignores the size. Default 65536; not negative.
    pub max_transaction_size: i64,
    /// Default 100.
    pub rebound_needed_threshold_mib: i64,
    /// Default 10.
    pub rebound_trigger_threshold_mib: i64,
    /// How often the rebound condition is checked. Default 5s; positive with `on_rebound`.
    #[serde(with = "weir_core::config::duration")]
    pub check_interval: Duration,
    /// Remove leftover temporary compaction files at start. Default false.
    pub cleanup_on_start: bool,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            on_start: false,
            on_rebound: false,
            directory: None,
            max_transaction_size: 65_536,
            rebound_needed_threshold_mib: 100,
            rebound_trigger_threshold_mib: 10,
            check_interval: Duration::from_secs(5),
            cleanup_on_start: false,
        }
    }
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig {
            directory: None,
            create_directory: true,
            directory_permissions: "0750".into(),
            timeout: Duration::from_secs(1),
            fsync: false,
            compaction: CompactionConfig::default(),
            segment_size_mib: 16,
        }
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
        self.permissions()?;
        if self.compaction.max_transaction_size < 0 {
            return Err(
                "compaction::max_transaction_size: max transaction size for compaction cannot be less than 0".into()
            );
        }
        if self.compaction.on_rebound && self.compaction.check_interval.is_zero() {
            return Err(
                "compaction::check_interval: compaction check interval must be positive when rebound compaction is set"
                    .into(),
            );
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

    /// `directory_permissions` as mode bits.
    fn permissions(&self) -> Result<u32, String> {
        let p = self.directory_permissions.trim();
        let bits = u32::from_str_radix(p.strip_prefix("0o").unwrap_or(p), 8)
            .map_err(|_| format!("directory_permissions {p:?} must be a valid octal representation, e.g. \"0750\""))?;
        if bits & !0o777 != 0 {
            return Err(format!("directory_permissions {p:?} contains invalid bits for file access"));
        }
        Ok(bits)
    }

    /// The log settings of one exporter's queue for one signal.
    pub fn log_options(&self, exporter_id: &str, signal: Signal) -> LogOptions {
        let name: String = format!("exporter_{}_{}", exporter_id, signal.as_str())
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        LogOptions { dir: self.directory().join(name), segment_size: self.segment_size_mib << 20, fsync: self.fsync }
    }

    /// Checks the directories at start (the Collector checks them when validating; weir reads
    /// nothing from disk while loading) and creates `directory` when asked to.
    fn prepare(&self) -> Result<(), String> {
        let dir = self.directory();
        if !dir.is_dir() {
            if !self.create_directory {
                return Err(format!(
                    "directory: {} does not exist (create it, or set create_directory: true)",
                    dir.display()
                ));
            }
            create_dir(&dir, self.permissions()?)
                .map_err(|e| format!("directory: cannot create {}: {e}", dir.display()))?;
        }
        if self.compaction.on_start {
            let compaction = self.compaction.directory.clone().unwrap_or_else(|| dir.clone());
            if !compaction.is_dir() {
                return Err(format!("compaction::directory: {} must exist", compaction.display()));
            }
        }
        Ok(())
    }
}

fn create_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(dir)
}

/// The running storage: its settings and the locks of the queues it handed out.
struct FileStorage {
    config: FileStorageConfig,
    /// The lock file of each queue directory, held (locked) while this storage lives.
    locks: Mutex<BTreeMap<PathBuf, File>>,
}

impl Storage for FileStorage {
    fn queue_log(&self, exporter: &ComponentId, signal: Signal) -> Result<LogOptions, String> {
        self.config.prepare()?;
        let opts = self.config.log_options(&exporter.to_string(), signal);
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if !locks.contains_key(&opts.dir) {
            let file = lock_queue_dir(&opts.dir, self.config.timeout)?;
            locks.insert(opts.dir.clone(), file);
        }
        Ok(opts)
    }
}

/// Takes the exclusive lock on `dir`'s `lock` file, waiting up to `timeout` while another
/// process holds it.
fn lock_queue_dir(dir: &Path, timeout: Duration) -> Result<File, String> {
    let cannot = |e: std::io::Error| format!("cannot lock the queue directory {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let file = File::options().create(true).truncate(false).write(true).open(dir.join("lock")).map_err(cannot)?;
    let deadline = Instant::now() + timeout;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(format!(
                    "the queue directory {} is in use by another process (waited timeout: {}); two weirs must not share a file_storage directory",
                    dir.display(),
                    weir_core::config::duration::format(timeout)
                ))
            }
            Err(e) => return Err(cannot(e.into())),
        }
    }
}

/// The `file_storage` extension factory. The extension runs nothing but keeps the locks of the
/// queues opened in its directory until the service stops.
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
        Ok(Box::new(FileStorageExtension(Arc::new(FileStorage { config: c.clone(), locks: Mutex::default() }))))
    }
}

struct FileStorageExtension(Arc<FileStorage>);

#[async_trait]
impl Extension for FileStorageExtension {
    fn capabilities(&self) -> Capabilities {
        Capabilities { storage: Some(self.0.clone()), ..Capabilities::default() }
    }

    /// Holds the storage (and so its queues' locks) until the service stops.
    async fn start(
        self: Box<Self>,
        _ctx: ExtensionContext,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let storage = self.0.clone();
        Ok(tokio::spawn(async move {
            shutdown.cancelled().await;
            drop(storage);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<FileStorageConfig, String> {
        weir_core::testing::parse_config::<FileStorageConfig>(yaml)
    }

    fn storage(config: FileStorageConfig) -> FileStorage {
        FileStorage { config, locks: Mutex::default() }
    }

    #[test]
    fn queues_live_in_a_directory_per_exporter_and_signal() {
        let dir = tempfile::tempdir().unwrap();
        let q = FileStorageConfig { directory: Some(dir.path().join("q")), fsync: true, ..Default::default() };
        let opts = storage(q).queue_log(&ComponentId::parse("otlp/backend").unwrap(), Signal::Traces).unwrap();
        assert!(opts.fsync);
        assert_eq!(opts.dir, dir.path().join("q/exporter_otlp_backend_traces"));
        assert!(opts.dir.join("lock").is_file());
    }

    #[test]
    fn a_missing_directory_is_refused_without_create_directory() {
        let q = FileStorageConfig {
            directory: Some("/nonexistent/weir-queue".into()),
            create_directory: false,
            ..Default::default()
        };
        let err = storage(q).queue_log(&ComponentId::parse("otlp").unwrap(), Signal::Logs).unwrap_err();
        assert!(err.starts_with("directory: /nonexistent/weir-queue does not exist"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn created_directories_get_directory_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let q = FileStorageConfig {
            directory: Some(dir.path().join("made")),
            ..parse("directory_permissions: \"0700\"\n").unwrap()
        };
        storage(q).queue_log(&ComponentId::parse("otlp").unwrap(), Signal::Logs).unwrap();
        let mode = std::fs::metadata(dir.path().join("made")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_queue_directory_locked_by_another_holder_is_refused_after_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let config = FileStorageConfig {
            directory: Some(dir.path().to_path_buf()),
            timeout: Duration::from_millis(100),
            ..Default::default()
        };
        let id = ComponentId::parse("otlp").unwrap();
        let first = storage(config.clone());
        first.queue_log(&id, Signal::Traces).unwrap();
        first.queue_log(&id, Signal::Traces).expect("the holder asking again keeps its lock");
        let started = Instant::now();
        let err = storage(config.clone()).queue_log(&id, Signal::Traces).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100), "waited for the timeout");
        assert!(err.contains("is in use by another process") && err.contains("100ms"), "{err}");
        drop(first);
        storage(config).queue_log(&id, Signal::Traces).expect("free again once the holder is gone");
    }

    #[test]
    fn the_collectors_keys_and_checks() {
        let c = parse(
            "directory: .\ncompaction:\n  directory: .\n  on_start: true\n  on_rebound: true\n\
             \x20 rebound_trigger_threshold_mib: 16\n  rebound_needed_threshold_mib: 128\n\
             \x20 max_transaction_size: 2048\n  cleanup_on_start: true\ntimeout: 2s\nfsync: true\n",
        )
        .unwrap();
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.compaction.check_interval, Duration::from_secs(5));
        assert_eq!(c.compaction.max_transaction_size, 2048);
        assert_eq!(c.directory_permissions, "0750");
        let defaults = parse("").unwrap();
        assert_eq!((defaults.timeout, defaults.fsync), (Duration::from_secs(1), false));
        assert_eq!(defaults.compaction, CompactionConfig::default());
        let err = parse("compaction: { max_transaction_size: -1 }\n").unwrap_err();
        assert!(err.starts_with("compaction::max_transaction_size"), "{err}");
        let err = parse("compaction: { on_rebound: true, check_interval: 0s }\n").unwrap_err();
        assert!(err.starts_with("compaction::check_interval"), "{err}");
        assert!(parse("directory_permissions: \"0799\"\n").unwrap_err().contains("octal"));
        assert!(parse("directory_permissions: \"01777\"\n").unwrap_err().contains("invalid bits"));
        assert!(parse("dir: /tmp\n").unwrap_err().contains("dir"));
        assert!(parse("segment_size_mib: 0\n").unwrap_err().contains("segment_size_mib"));
    }

    #[test]
    fn compaction_on_start_needs_its_directory_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = FileStorageConfig {
            directory: Some(dir.path().to_path_buf()),
            compaction: CompactionConfig {
                on_start: true,
                directory: Some("/nonexistent/compaction".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = storage(config).queue_log(&ComponentId::parse("otlp").unwrap(), Signal::Logs).unwrap_err();
        assert!(err.starts_with("compaction::directory: /nonexistent/compaction must exist"), "{err}");
    }
}
