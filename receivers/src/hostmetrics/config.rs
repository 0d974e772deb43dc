//! `hostmetrics` receiver settings, with the Collector's keys and defaults.

use super::filter::{FilterSet, MatchType};
use super::metadata::{self, MetricDef};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use weir_core::config::yaml::Squash;
use weir_core::ComponentConfig;

/// `receivers::hostmetrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostmetricsConfig {
    /// How often every scraper runs. Default 1m.
    #[serde(with = "weir_core::config::duration")]
    pub collection_interval: Duration,
    /// How long after start the first scrape runs. Default 1s.
    #[serde(with = "weir_core::config::duration")]
    pub initial_delay: Duration,
    /// Longest time one scrape may take; the batch of a scrape that took longer is dropped
    /// (and logged). `0` (default): no limit.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// The host's root directory when weir runs in a container with the host filesystem mounted
    /// (`docker run -v /:/hostfs` → `/hostfs`): `/proc`, `/sys`, `/etc/passwd` and the mount
    /// points are read under it. Empty (default) or `/`: this system's own.
    pub root_path: String,
    /// The Collector's interval of host entity events (logs, development stability). Accepted
    /// for compatibility; weir's `hostmetrics` produces metrics only. Default 5m.
    #[serde(with = "weir_core::config::duration")]
    pub metadata_collection_interval: Duration,
    /// The scrapers to run, each with its settings; at least one.
    pub scrapers: ScrapersConfig,
}

impl Default for HostmetricsConfig {
    fn default() -> Self {
        HostmetricsConfig {
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
            timeout: Duration::ZERO,
            root_path: String::new(),
            metadata_collection_interval: Duration::from_secs(300),
            scrapers: ScrapersConfig::default(),
        }
    }
}

impl ComponentConfig for HostmetricsConfig {
    fn validate(&self) -> Result<(), String> {
        if self.scrapers.is_empty() {
            return Err("scrapers: must specify at least one scraper when using hostmetrics receiver".into());
        }
        if self.collection_interval.is_zero() {
            return Err("collection_interval: requires positive value".into());
        }
        if !self.root_path.is_empty() && self.root_path != "/" {
            // As the Collector: a root that does not exist is a configuration error.
            std::fs::metadata(&self.root_path)
                .map_err(|e| format!("invalid root_path: stat {}: {e}", self.root_path))?;
        }
        self.scrapers.validate()
    }
}

impl HostmetricsConfig {
    /// The host root to read under: `/` when `root_path` is empty.
    pub fn root(&self) -> &Path {
        if self.root_path.is_empty() {
            Path::new("/")
        } else {
            Path::new(&self.root_path)
        }
    }
}

/// Present (even empty: `cpu:`) means on.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `scrapers`: naming a scraper (even with no keys under it) turns it on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapersConfig {
    /// `system.cpu.*`: CPU time per CPU and state (`/proc/stat`), counts and frequency.
    #[serde(deserialize_with = "present")]
    pub cpu: Option<MetricsBuilderConfig>,
    /// `system.disk.*`: I/O per block device (`/proc/diskstats`).
    #[serde(deserialize_with = "present")]
    pub disk: Option<Squash<DiskConfig, MetricsBuilderConfig>>,
    /// `system.filesystem.*`: usage per mounted filesystem (mountinfo + `statvfs`).
    #[serde(deserialize_with = "present")]
    pub filesystem: Option<Squash<FilesystemConfig, MetricsBuilderConfig>>,
    /// `system.cpu.load_average.*` (`/proc/loadavg`).
    #[serde(deserialize_with = "present")]
    pub load: Option<Squash<LoadConfig, MetricsBuilderConfig>>,
    /// `system.memory.*` (`/proc/meminfo`).
    #[serde(deserialize_with = "present")]
    pub memory: Option<MetricsBuilderConfig>,
    /// `system.network.*`: per interface (`/proc/net/dev`), TCP connections per state.
    #[serde(deserialize_with = "present")]
    pub network: Option<Squash<NetworkConfig, MetricsBuilderConfig>>,
    /// `system.paging.*`: swap devices (`/proc/swaps`), paging operations and faults.
    #[serde(deserialize_with = "present")]
    pub paging: Option<MetricsBuilderConfig>,
    /// `system.processes.*`: processes per status and created.
    #[serde(deserialize_with = "present")]
    pub processes: Option<MetricsBuilderConfig>,
    /// `process.*`: one resource per process (`/proc/<pid>/…`).
    #[serde(deserialize_with = "present")]
    pub process: Option<Squash<ProcessConfig, MetricsBuilderConfig>>,
    /// `system.uptime`.
    #[serde(deserialize_with = "present")]
    pub system: Option<MetricsBuilderConfig>,
}

impl ScrapersConfig {
    fn is_empty(&self) -> bool {
        self.cpu.is_none()
            && self.disk.is_none()
            && self.filesystem.is_none()
            && self.load.is_none()
            && self.memory.is_none()
            && self.network.is_none()
            && self.paging.is_none()
            && self.processes.is_none()
            && self.process.is_none()
            && self.system.is_none()
    }

    fn validate(&self) -> Result<(), String> {
        let check = |name: &str, mb: Option<&MetricsBuilderConfig>| -> Result<(), String> {
            match mb {
                Some(mb) => mb.validate(name),
                None => Ok(()),
            }
        };
        check("cpu", self.cpu.as_ref())?;
        check("disk", self.disk.as_ref().map(|s| &s.shared))?;
        check("filesystem", self.filesystem.as_ref().map(|s| &s.shared))?;
        check("load", self.load.as_ref().map(|s| &s.shared))?;
        check("memory", self.memory.as_ref())?;
        check("network", self.network.as_ref().map(|s| &s.shared))?;
        check("paging", self.paging.as_ref())?;
        check("processes", self.processes.as_ref())?;
        check("process", self.process.as_ref().map(|s| &s.shared))?;
        check("system", self.system.as_ref())?;
        if let Some(d) = &self.disk {
            d.own.include.filter("scrapers::disk::include", &d.own.include.devices)?;
            d.own.exclude.filter("scrapers::disk::exclude", &d.own.exclude.devices)?;
        }
        if let Some(f) = &self.filesystem {
            f.own.filters()?;
        }
        if let Some(n) = &self.network {
            n.own.include.filter("scrapers::network::include", &n.own.include.interfaces)?;
            n.own.exclude.filter("scrapers::network::exclude", &n.own.exclude.interfaces)?;
        }
        if let Some(p) = &self.process {
            p.own.include.filter("scrapers::process::include", &p.own.include.names)?;
            p.own.exclude.filter("scrapers::process::exclude", &p.own.exclude.names)?;
        }
        Ok(())
    }
}

/// The keys every scraper has (the Collector's generated `MetricsBuilderConfig`): which
/// metrics and resource attributes it emits.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsBuilderConfig {
    /// `<metric name>: {enabled: bool}`; metrics not named keep their default (the Collector's
    /// `metadata.yaml`: the main metrics on, the optional ones off).
    pub metrics: BTreeMap<String, MetricToggle>,
    /// `<attribute>: {enabled, metrics_include, metrics_exclude}` for the scrapers that set
    /// resource attributes (`process`).
    pub resource_attributes: BTreeMap<String, ResourceAttributeToggle>,
}

/// `metrics::<name>`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricToggle {
    /// Whether the metric is emitted.
    pub enabled: Option<bool>,
}

/// `resource_attributes::<name>`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceAttributeToggle {
    /// Whether the attribute is set on the resource.
    pub enabled: Option<bool>,
    /// Emit only resources whose value of this attribute matches one of these.
    pub metrics_include: Vec<ValueMatch>,
    /// Do not emit resources whose value of this attribute matches one of these.
    pub metrics_exclude: Vec<ValueMatch>,
}

/// One item of `metrics_include` / `metrics_exclude`: `{strict: value}` or `{regexp: re}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValueMatch {
    pub strict: Option<String>,
    pub regexp: Option<String>,
}

impl MetricsBuilderConfig {
    fn validate(&self, scraper: &str) -> Result<(), String> {
        let defs = metadata::metrics_of(scraper);
        for name in self.metrics.keys() {
            if !defs.iter().any(|d| d.name == name) {
                let valid: Vec<&str> = defs.iter().map(|d| d.name).collect();
                return Err(format!(
                    "scrapers::{scraper}::metrics: unknown metric `{name}`; the {scraper} scraper has {}",
                    valid.join(", ")
                ));
            }
        }
        let attrs = metadata::resource_attributes_of(scraper);
        for (name, toggle) in &self.resource_attributes {
            if !attrs.iter().any(|a| a.name == name) {
                let valid: Vec<&str> = attrs.iter().map(|a| a.name).collect();
                let valid = if valid.is_empty() { "none".to_string() } else { valid.join(", ") };
                return Err(format!(
                    "scrapers::{scraper}::resource_attributes: unknown attribute `{name}`; the {scraper} scraper has {valid}"
                ));
            }
            for m in toggle.metrics_include.iter().chain(&toggle.metrics_exclude) {
                m.matcher(&format!("scrapers::{scraper}::resource_attributes::{name}"))?;
            }
        }
        Ok(())
    }

    /// Whether `def` is emitted: its toggle, else its default.
    pub fn enabled(&self, def: &MetricDef) -> bool {
        self.metrics.get(def.name).and_then(|t| t.enabled).unwrap_or(def.enabled)
    }

    /// Whether resource attribute `name` (default `default`) is set.
    pub fn attribute_enabled(&self, name: &str, default: bool) -> bool {
        self.resource_attributes.get(name).and_then(|t| t.enabled).unwrap_or(default)
    }
}

impl ValueMatch {
    /// The compiled matcher; exactly one of `strict` and `regexp`.
    pub fn matcher(&self, key: &str) -> Result<FilterSet, String> {
        match (&self.strict, &self.regexp) {
            (Some(s), None) => FilterSet::new(key, MatchType::Strict, std::slice::from_ref(s)),
            (None, Some(r)) => FilterSet::new(key, MatchType::Regexp, std::slice::from_ref(r)),
            _ => Err(format!("{key}: each item needs exactly one of `strict` and `regexp`")),
        }
    }
}

/// `regexp` (the Collector's regexp cache settings).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexpSettings {
    pub cacheenabled: bool,
    pub cachemaxnumentries: usize,
}

macro_rules! match_config {
    ($(#[$doc:meta])* $name:ident, $field:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            /// `strict` or `regexp`.
            pub match_type: Option<MatchType>,
            /// The Collector's regexp cache settings; accepted, not needed.
            pub regexp: Option<RegexpSettings>,
            /// The values to match.
            pub $field: Vec<String>,
        }

        impl $name {
            /// The compiled filter, `None` when the list is empty (matches nothing is not the
            /// same as no filter).
            pub fn filter(&self, key: &str, values: &[String]) -> Result<Option<FilterSet>, String> {
                if values.is_empty() {
                    return Ok(None);
                }
                let match_type = self.match_type.ok_or_else(|| {
                    format!("{key}::match_type: required with {}: use strict or regexp", stringify!($field))
                })?;
                FilterSet::new(key, match_type, values).map(Some)
            }
        }
    };
}

match_config!(
    /// `include` / `exclude` of the disk scraper.
    DeviceMatch,
    devices
);
match_config!(
    /// `include_fs_types` / `exclude_fs_types`.
    FsTypeMatch,
    fs_types
);
match_config!(
    /// `include_mount_points` / `exclude_mount_points`.
    MountPointMatch,
    mount_points
);
match_config!(
    /// `include` / `exclude` of the network scraper.
    InterfaceMatch,
    interfaces
);
match_config!(
    /// `include` / `exclude` of the process scraper.
    NameMatch,
    names
);

/// `scrapers::disk`'s own keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Only these devices (names as in `/proc/diskstats`: `sda`, `nvme0n1`).
    pub include: DeviceMatch,
    /// Not these devices.
    pub exclude: DeviceMatch,
}

/// `scrapers::filesystem`'s own keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// Also report virtual filesystems (`proc`, `tmpfs`, `overlay`, …: the `nodev` types of
    /// `/proc/filesystems`). Default false.
    pub include_virtual_filesystems: bool,
    /// Only these devices (the mount source).
    pub include_devices: DeviceMatch,
    /// Not these devices.
    pub exclude_devices: DeviceMatch,
    /// Only these filesystem types.
    pub include_fs_types: FsTypeMatch,
    /// Not these filesystem types.
    pub exclude_fs_types: FsTypeMatch,
    /// Only these mount points.
    pub include_mount_points: MountPointMatch,
    /// Not these mount points.
    pub exclude_mount_points: MountPointMatch,
}

/// The compiled filters of the filesystem scraper.
#[derive(Debug, Default)]
pub struct FilesystemFilters {
    pub include_devices: Option<FilterSet>,
    pub exclude_devices: Option<FilterSet>,
    pub include_fs_types: Option<FilterSet>,
    pub exclude_fs_types: Option<FilterSet>,
    pub include_mount_points: Option<FilterSet>,
    pub exclude_mount_points: Option<FilterSet>,
}

impl FilesystemConfig {
    pub fn filters(&self) -> Result<FilesystemFilters, String> {
        let k = "scrapers::filesystem::";
        Ok(FilesystemFilters {
            include_devices: self
                .include_devices
                .filter(&format!("{k}include_devices"), &self.include_devices.devices)?,
            exclude_devices: self
                .exclude_devices
                .filter(&format!("{k}exclude_devices"), &self.exclude_devices.devices)?,
            include_fs_types: self
                .include_fs_types
                .filter(&format!("{k}include_fs_types"), &self.include_fs_types.fs_types)?,
            exclude_fs_types: self
                .exclude_fs_types
                .filter(&format!("{k}exclude_fs_types"), &self.exclude_fs_types.fs_types)?,
            include_mount_points: self
                .include_mount_points
                .filter(&format!("{k}include_mount_points"), &self.include_mount_points.mount_points)?,
            exclude_mount_points: self
                .exclude_mount_points
                .filter(&format!("{k}exclude_mount_points"), &self.exclude_mount_points.mount_points)?,
        })
    }
}

/// `scrapers::load`'s own keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadConfig {
    /// Divide the load averages by the number of logical CPUs. Default false.
    pub cpu_average: bool,
}

/// `scrapers::network`'s own keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Only these interfaces (`lo`, `eth0`).
    pub include: InterfaceMatch,
    /// Not these interfaces.
    pub exclude: InterfaceMatch,
}

/// `scrapers::process`'s own keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Only processes with these names (`/proc/<pid>/status` `Name`).
    pub include: NameMatch,
    /// Not processes with these names.
    pub exclude: NameMatch,
    /// Count no error of any kind (unreadable processes are skipped silently).
    pub mute_process_all_errors: bool,
    /// Do not count processes whose name cannot be read.
    pub mute_process_name_error: bool,
    /// Do not count processes whose `/proc/<pid>/exe` cannot be read (kernel threads, other
    /// users' processes without privileges); they are skipped either way, as in the Collector.
    pub mute_process_exe_error: bool,
    /// Do not count processes whose `/proc/<pid>/io` cannot be read.
    pub mute_process_io_error: bool,
    /// Do not count processes whose owner uid has no user in `<root>/etc/passwd`.
    pub mute_process_user_error: bool,
    /// Do not count processes whose cgroup cannot be read.
    pub mute_process_cgroup_error: bool,
    /// Processes younger than this are not reported yet. Default 0.
    #[serde(with = "weir_core::config::duration")]
    pub scrape_process_delay: Duration,
}
