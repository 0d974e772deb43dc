//! The scrapers: each reads its `/proc` (and `/sys`) files under the host root and records the
//! Collector's metrics. A scraper keeps what it needs between scrapes (previous CPU times for
//! utilizations) and runs on a blocking thread: `/proc` reads are file I/O.

use super::config::{self as cfg, MetricsBuilderConfig};
use super::filter::IncludeExclude;
use super::metadata::{self as md, int_attr, string_attr, Emitter, Num};
use super::procfs::{self, CpuTimes, PidStat};
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use weir_core::pdata::now_unix_nano;

/// Where the host's files are, and the constants to read them with.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    /// `sysconf(_SC_CLK_TCK)`: clock ticks per second of `/proc` CPU times.
    pub clk_tck: f64,
    /// `sysconf(_SC_PAGESIZE)`.
    pub page_size: u64,
}

impl Host {
    pub fn new(root: &Path) -> Host {
        // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
        let (tck, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        Host {
            root: root.to_path_buf(),
            clk_tck: if tck > 0 { tck as f64 } else { 100.0 },
            page_size: if page > 0 { page as u64 } else { 4096 },
        }
    }

    /// `<root>/<rel>` (`rel` without a leading `/`).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    pub fn read(&self, rel: &str) -> Result<String, String> {
        let p = self.path(rel);
        std::fs::read_to_string(&p).map_err(|e| format!("reading {}: {e}", p.display()))
    }

    /// Boot time in Unix seconds (`/proc/stat` `btime`).
    pub fn boot_time(&self) -> Result<u64, String> {
        Ok(procfs::parse_stat(&self.read("proc/stat")?).btime)
    }
}

/// What one scrape produced.
#[derive(Debug, Default)]
pub struct Scraped {
    pub resource_metrics: Vec<ResourceMetrics>,
    /// Data points produced.
    pub points: usize,
    /// Data points that could not be produced (the Collector's partial scrape errors).
    pub errored: usize,
    /// What went wrong, for the log.
    pub errors: Vec<String>,
}

impl Scraped {
    fn failed(errored: usize, error: String) -> Scraped {
        Scraped { errored, errors: vec![error], ..Default::default() }
    }
}

/// A scraper: its key under `scrapers` and its scrape.
pub trait Scrape: Send {
    fn name(&self) -> &'static str;
    fn scrape(&mut self, host: &Host) -> Scraped;
}

fn resource_metrics(scraper: &str, resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource { attributes: resource, ..Default::default() }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: md::scope_name(scraper),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A scrape of a host-wide scraper: one resource without attributes.
fn host_wide(scraper: &str, emitter: Emitter<'_>, mut errors: Vec<String>, errored: usize) -> Scraped {
    let points = emitter.points();
    let metrics = emitter.finish();
    errors.retain(|e| !e.is_empty());
    Scraped {
        resource_metrics: if metrics.is_empty() {
            Vec::new()
        } else {
            vec![resource_metrics(scraper, Vec::new(), metrics)]
        },
        points,
        errored,
        errors,
    }
}

/// Boot time in nanoseconds, the start of the host-wide cumulative sums; cached after the first
/// successful read (it does not change while the host runs).
#[derive(Debug, Default)]
struct BootTime(Option<u64>);

impl BootTime {
    fn get(&mut self, host: &Host) -> Result<u64, String> {
        if let Some(b) = self.0 {
            return Ok(b);
        }
        let b = host.boot_time()? * 1_000_000_000;
        self.0 = Some(b);
        Ok(b)
    }
}

/// Builds the scrapers a config turns on, in the order of [`md::SCRAPERS`].
pub fn build(config: &cfg::ScrapersConfig) -> Result<Vec<Box<dyn Scrape>>, String> {
    let mut out: Vec<Box<dyn Scrape>> = Vec::new();
    if let Some(c) = &config.cpu {
        out.push(Box::new(Cpu { mb: c.clone(), boot: BootTime::default(), previous: None }));
    }
    if let Some(c) = &config.disk {
        let devices = IncludeExclude {
            include: c.own.include.filter("scrapers::disk::include", &c.own.include.devices)?,
            exclude: c.own.exclude.filter("scrapers::disk::exclude", &c.own.exclude.devices)?,
        };
        out.push(Box::new(Disk { mb: c.shared.clone(), boot: BootTime::default(), devices }));
    }
    if let Some(c) = &config.filesystem {
        out.push(Box::new(Filesystem {
            mb: c.shared.clone(),
            boot: BootTime::default(),
            include_virtual: c.own.include_virtual_filesystems,
            filters: c.own.filters()?,
        }));
    }
    if let Some(c) = &config.load {
        out.push(Box::new(Load { mb: c.shared.clone(), boot: BootTime::default(), cpu_average: c.own.cpu_average }));
    }
    if let Some(c) = &config.memory {
        out.push(Box::new(Memory { mb: c.clone(), boot: BootTime::default() }));
    }
    if let Some(c) = &config.network {
        let interfaces = IncludeExclude {
            include: c.own.include.filter("scrapers::network::include", &c.own.include.interfaces)?,
            exclude: c.own.exclude.filter("scrapers::network::exclude", &c.own.exclude.interfaces)?,
        };
        out.push(Box::new(Network { mb: c.shared.clone(), boot: BootTime::default(), interfaces }));
    }
    if let Some(c) = &config.paging {
        out.push(Box::new(Paging { mb: c.clone(), boot: BootTime::default() }));
    }
    if let Some(c) = &config.processes {
        out.push(Box::new(Processes { mb: c.clone(), boot: BootTime::default() }));
    }
    if let Some(c) = &config.process {
        out.push(Box::new(Process::new(&c.own, &c.shared)?));
    }
    if let Some(c) = &config.system {
        out.push(Box::new(System { mb: c.clone(), boot: BootTime::default() }));
    }
    Ok(out)
}

/// Reads `/proc/stat` and the boot time, or the scrape's failure.
fn stat_and_boot(host: &Host, boot: &mut BootTime, points: usize) -> Result<(procfs::Stat, u64), Scraped> {
    let text = host.read("proc/stat").map_err(|e| Scraped::failed(points, e))?;
    let stat = procfs::parse_stat(&text);
    let b = match boot.0 {
        Some(b) => b,
        None => {
            boot.0 = Some(stat.btime * 1_000_000_000);
            stat.btime * 1_000_000_000
        }
    };
    Ok((stat, b))
}

// ---- cpu ----

struct Cpu {
    mb: MetricsBuilderConfig,
    boot: BootTime,
    /// The previous scrape's per-CPU times, for `system.cpu.utilization`.
    previous: Option<Vec<CpuTimes>>,
}

impl Scrape for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let (stat, start) = match stat_and_boot(host, &mut self.boot, 8) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        let tck = host.clk_tck;
        for c in &stat.cpus {
            for (state, ticks) in c.states() {
                e.record(&md::cpu::TIME, Num::D(ticks as f64 / tck), &[("cpu", &c.cpu), ("state", state)]);
            }
        }
        if let Some(prev) = &self.previous {
            for c in &stat.cpus {
                let Some(p) = prev.iter().find(|p| p.cpu == c.cpu) else { continue };
                let elapsed = c.total().saturating_sub(p.total());
                if elapsed == 0 {
                    continue;
                }
                for ((state, now), (_, before)) in c.states().into_iter().zip(p.states()) {
                    let u = now.saturating_sub(before) as f64 / elapsed as f64;
                    e.record(&md::cpu::UTILIZATION, Num::D(u), &[("cpu", &c.cpu), ("state", state)]);
                }
            }
        }
        self.previous = Some(stat.cpus.clone());
        let mut errors = Vec::new();
        let mut errored = 0;
        e.record(&md::cpu::LOGICAL_COUNT, Num::I(stat.cpus.len() as i64), &[]);
        if e.enabled(&md::cpu::PHYSICAL_COUNT) || e.enabled(&md::cpu::FREQUENCY) {
            match host.read("proc/cpuinfo") {
                Ok(text) => {
                    let (physical, mhz) = procfs::parse_cpuinfo(&text);
                    e.record(&md::cpu::PHYSICAL_COUNT, Num::I(physical as i64), &[]);
                    for (processor, m) in &mhz {
                        e.record(&md::cpu::FREQUENCY, Num::D(m * 1e6), &[("cpu", &format!("cpu{processor}"))]);
                    }
                }
                Err(err) => {
                    errored += 1;
                    errors.push(err);
                }
            }
        }
        host_wide("cpu", e, errors, errored)
    }
}

// ---- memory ----

struct Memory {
    mb: MetricsBuilderConfig,
    boot: BootTime,
}

impl Scrape for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let start = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(6, e),
        };
        let info = match host.read("proc/meminfo") {
            Ok(t) => procfs::parse_meminfo(&t),
            Err(e) => return Scraped::failed(6, e),
        };
        let m = procfs::memory(&info);
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        let states = [
            ("used", m.used),
            ("free", m.free),
            ("buffered", m.buffers),
            ("cached", m.cached),
            ("slab_reclaimable", m.slab_reclaimable),
            ("slab_unreclaimable", m.slab_unreclaimable),
        ];
        for (state, v) in states {
            e.record(&md::memory::USAGE, Num::I(v as i64), &[("state", state)]);
        }
        if m.total > 0 {
            for (state, v) in states {
                e.record(&md::memory::UTILIZATION, Num::D(v as f64 / m.total as f64), &[("state", state)]);
            }
        }
        e.record(&md::memory::LIMIT, Num::I(m.total as i64), &[]);
        e.record(&md::memory::PAGE_SIZE, Num::I(host.page_size as i64), &[]);
        e.record(&md::memory::AVAILABLE, Num::I(m.available as i64), &[]);
        e.record(&md::memory::DIRTY, Num::I(m.dirty as i64), &[]);
        host_wide("memory", e, Vec::new(), 0)
    }
}

// ---- load ----

struct Load {
    mb: MetricsBuilderConfig,
    boot: BootTime,
    cpu_average: bool,
}

impl Scrape for Load {
    fn name(&self) -> &'static str {
        "load"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let start = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(3, e),
        };
        let Some(mut avg) = host.read("proc/loadavg").ok().and_then(|t| procfs::parse_loadavg(&t)) else {
            return Scraped::failed(3, "reading /proc/loadavg failed".into());
        };
        if self.cpu_average {
            let cpus = host.read("proc/stat").map(|t| procfs::parse_stat(&t).cpus.len()).unwrap_or(0);
            if cpus > 0 {
                avg.iter_mut().for_each(|a| *a /= cpus as f64);
            }
        }
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        e.record(&md::load::M1, Num::D(avg[0]), &[]);
        e.record(&md::load::M5, Num::D(avg[1]), &[]);
        e.record(&md::load::M15, Num::D(avg[2]), &[]);
        host_wide("load", e, Vec::new(), 0)
    }
}

// ---- disk ----

struct Disk {
    mb: MetricsBuilderConfig,
    boot: BootTime,
    devices: IncludeExclude,
}

/// `/proc/diskstats` counts 512-byte sectors whatever the device's sector size.
const SECTOR: u64 = 512;

impl Scrape for Disk {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let start = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(7, e),
        };
        let disks = match host.read("proc/diskstats") {
            Ok(t) => procfs::parse_diskstats(&t),
            Err(e) => return Scraped::failed(7, e),
        };
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        for d in disks.iter().filter(|d| self.devices.keeps(&d.name)) {
            let dev = d.name.as_str();
            let i = |v: u64| Num::I(v as i64);
            let s = |ms: u64| Num::D(ms as f64 / 1000.0);
            e.record(&md::disk::IO, i(d.sectors_read * SECTOR), &[("device", dev), ("direction", "read")]);
            e.record(&md::disk::IO, i(d.sectors_written * SECTOR), &[("device", dev), ("direction", "write")]);
            e.record(&md::disk::OPERATIONS, i(d.reads), &[("device", dev), ("direction", "read")]);
            e.record(&md::disk::OPERATIONS, i(d.writes), &[("device", dev), ("direction", "write")]);
            e.record(&md::disk::IO_TIME, s(d.io_ms), &[("device", dev)]);
            e.record(&md::disk::OPERATION_TIME, s(d.read_ms), &[("device", dev), ("direction", "read")]);
            e.record(&md::disk::OPERATION_TIME, s(d.write_ms), &[("device", dev), ("direction", "write")]);
            e.record(&md::disk::WEIGHTED_IO_TIME, s(d.weighted_io_ms), &[("device", dev)]);
            e.record(&md::disk::PENDING_OPERATIONS, i(d.in_progress), &[("device", dev)]);
            e.record(&md::disk::MERGED, i(d.reads_merged), &[("device", dev), ("direction", "read")]);
            e.record(&md::disk::MERGED, i(d.writes_merged), &[("device", dev), ("direction", "write")]);
        }
        host_wide("disk", e, Vec::new(), 0)
    }
}

// ---- filesystem ----

struct Filesystem {
    mb: MetricsBuilderConfig,
    boot: BootTime,
    include_virtual: bool,
    filters: cfg::FilesystemFilters,
}

impl Filesystem {
    fn keeps(&self, m: &procfs::Mount) -> bool {
        let f = &self.filters;
        let pair = |inc: &Option<super::filter::FilterSet>, exc: &Option<super::filter::FilterSet>, v: &str| {
            inc.as_ref().is_none_or(|s| s.matches(v)) && !exc.as_ref().is_some_and(|s| s.matches(v))
        };
        pair(&f.include_devices, &f.exclude_devices, &m.device)
            && pair(&f.include_fs_types, &f.exclude_fs_types, &m.fs_type)
            && pair(&f.include_mount_points, &f.exclude_mount_points, &m.mountpoint)
    }
}

/// What the filesystem scraper uses of `statvfs(2)`, in bytes and inodes.
struct FsUsage {
    used: u64,
    free: u64,
    reserved: u64,
    inodes_used: u64,
    inodes_free: u64,
}

/// `statvfs(path)`.
// The field types are `u64` on 64-bit Linux but narrower on some 32-bit targets.
#[allow(clippy::unnecessary_cast)]
fn statvfs(path: &Path) -> Result<FsUsage, String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `out` is valid for writes of one statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), out.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!("statvfs {}: {}", path.display(), std::io::Error::last_os_error()));
    }
    // SAFETY: statvfs returned 0, so it filled `out`.
    let st = unsafe { out.assume_init() };
    // Block counts are in units of the fragment size (POSIX).
    let frsize = st.f_frsize as u64;
    let (blocks, bfree, bavail) = (st.f_blocks as u64, st.f_bfree as u64, st.f_bavail as u64);
    Ok(FsUsage {
        used: blocks.saturating_sub(bfree) * frsize,
        free: bavail * frsize,
        reserved: bfree.saturating_sub(bavail) * frsize,
        inodes_used: (st.f_files as u64).saturating_sub(st.f_ffree as u64),
        inodes_free: st.f_ffree as u64,
    })
}

impl Scrape for Filesystem {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let start = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(3, e),
        };
        // As gopsutil: the mounts of pid 1 (the host's, in a container with the host's /proc),
        // else this process's.
        let mounts = match host.read("proc/1/mountinfo").or_else(|_| host.read("proc/self/mountinfo")) {
            Ok(t) => procfs::parse_mountinfo(&t),
            Err(e) => return Scraped::failed(3, e),
        };
        let nodev = if self.include_virtual {
            Vec::new()
        } else {
            host.read("proc/filesystems").map(|t| procfs::parse_nodev_filesystems(&t)).unwrap_or_default()
        };
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        let (mut errors, mut errored) = (Vec::new(), 0);
        let mut seen = std::collections::HashSet::new();
        for m in &mounts {
            if !self.include_virtual && (m.device == "none" || nodev.contains(&m.fs_type)) {
                continue;
            }
            if !self.keeps(m) || !seen.insert((m.device.clone(), m.mountpoint.clone())) {
                continue;
            }
            let st = match statvfs(&host.path(&m.mountpoint)) {
                Ok(st) => st,
                Err(err) => {
                    errored += 1;
                    errors.push(err);
                    continue;
                }
            };
            let FsUsage { used, free, reserved, inodes_used, inodes_free } = st;
            let attrs = |state: &'static str| {
                [
                    ("device", m.device.as_str()),
                    ("mode", m.mode()),
                    ("mountpoint", m.mountpoint.as_str()),
                    ("type", m.fs_type.as_str()),
                    ("state", state),
                ]
            };
            e.record(&md::filesystem::USAGE, Num::I(used as i64), &attrs("used"));
            e.record(&md::filesystem::USAGE, Num::I(free as i64), &attrs("free"));
            e.record(&md::filesystem::USAGE, Num::I(reserved as i64), &attrs("reserved"));
            e.record(&md::filesystem::INODES_USAGE, Num::I(inodes_used as i64), &attrs("used"));
            e.record(&md::filesystem::INODES_USAGE, Num::I(inodes_free as i64), &attrs("free"));
            if used + free > 0 {
                let a = attrs("");
                e.record(&md::filesystem::UTILIZATION, Num::D(used as f64 / (used + free) as f64), &a[..4]);
            }
        }
        host_wide("filesystem", e, errors, errored)
    }
}

// ---- network ----

struct Network {
    mb: MetricsBuilderConfig,
    boot: BootTime,
    interfaces: IncludeExclude,
}

/// The Collector's list of TCP states reported (with 0 when none is in that state). Its names
/// `FIN_WAIT_1`/`FIN_WAIT_2` differ from the ones gopsutil gives connections (`FIN_WAIT1`), so
/// the Collector reports both spellings; weir does the same.
const ALL_TCP_STATES: [&str; 12] = [
    "CLOSE_WAIT",
    "CLOSE",
    "CLOSING",
    "DELETE",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "LAST_ACK",
    "LISTEN",
    "SYN_SENT",
    "SYN_RECV",
    "TIME_WAIT",
];

impl Scrape for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let start = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(5, e),
        };
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        let (mut errors, mut errored) = (Vec::new(), 0);
        match host.read("proc/net/dev") {
            Ok(t) => {
                for d in procfs::parse_net_dev(&t).iter().filter(|d| self.interfaces.keeps(&d.name)) {
                    let dev = d.name.as_str();
                    let i = |v: u64| Num::I(v as i64);
                    let rx = [("device", dev), ("direction", "receive")];
                    let tx = [("device", dev), ("direction", "transmit")];
                    e.record(&md::network::PACKETS, i(d.tx_packets), &tx);
                    e.record(&md::network::PACKETS, i(d.rx_packets), &rx);
                    e.record(&md::network::DROPPED, i(d.tx_dropped), &tx);
                    e.record(&md::network::DROPPED, i(d.rx_dropped), &rx);
                    e.record(&md::network::ERRORS, i(d.tx_errors), &tx);
                    e.record(&md::network::ERRORS, i(d.rx_errors), &rx);
                    e.record(&md::network::IO, i(d.tx_bytes), &tx);
                    e.record(&md::network::IO, i(d.rx_bytes), &rx);
                }
            }
            Err(err) => {
                errored += 4;
                errors.push(err);
            }
        }
        if e.enabled(&md::network::CONNECTIONS) {
            let mut counts: BTreeMap<String, i64> = ALL_TCP_STATES.iter().map(|s| (s.to_string(), 0)).collect();
            let mut read_any = false;
            for file in ["proc/net/tcp", "proc/net/tcp6"] {
                if let Ok(t) = host.read(file) {
                    procfs::count_tcp_states(&t, &mut counts);
                    read_any = true;
                }
            }
            if read_any {
                for (state, n) in &counts {
                    e.record(&md::network::CONNECTIONS, Num::I(*n), &[("protocol", "tcp"), ("state", state)]);
                }
            } else {
                errored += 1;
                errors.push("failed to read TCP connections: /proc/net/tcp and tcp6 are unreadable".into());
            }
        }
        if e.enabled(&md::network::CONNTRACK_COUNT) || e.enabled(&md::network::CONNTRACK_MAX) {
            let read = |f: &str| host.read(f).ok().and_then(|t| t.trim().parse::<i64>().ok());
            match (read("proc/sys/net/netfilter/nf_conntrack_count"), read("proc/sys/net/netfilter/nf_conntrack_max")) {
                (Some(count), Some(max)) => {
                    e.record(&md::network::CONNTRACK_COUNT, Num::I(count), &[]);
                    e.record(&md::network::CONNTRACK_MAX, Num::I(max), &[]);
                }
                _ => {
                    errored += 2;
                    errors
                        .push("failed to read conntrack info: /proc/sys/net/netfilter/nf_conntrack_{count,max}".into());
                }
            }
        }
        host_wide("network", e, errors, errored)
    }
}

// ---- paging ----

struct Paging {
    mb: MetricsBuilderConfig,
    boot: BootTime,
}

impl Scrape for Paging {
    fn name(&self) -> &'static str {
        "paging"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let start = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(3, e),
        };
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        let (mut errors, mut errored) = (Vec::new(), 0);
        match host.read("proc/swaps").and_then(|t| procfs::parse_swaps(&t)) {
            Ok(swaps) => {
                for s in &swaps {
                    e.record(&md::paging::USAGE, Num::I(s.used as i64), &[("device", &s.device), ("state", "used")]);
                    e.record(&md::paging::USAGE, Num::I(s.free as i64), &[("device", &s.device), ("state", "free")]);
                    if s.total > 0 {
                        let t = s.total as f64;
                        e.record(
                            &md::paging::UTILIZATION,
                            Num::D(s.used as f64 / t),
                            &[("device", &s.device), ("state", "used")],
                        );
                        e.record(
                            &md::paging::UTILIZATION,
                            Num::D(s.free as f64 / t),
                            &[("device", &s.device), ("state", "free")],
                        );
                    }
                }
            }
            Err(err) => {
                errored += 1;
                errors.push(format!("failed to read page file stats: {err}"));
            }
        }
        match host.read("proc/vmstat") {
            Ok(t) => {
                let v = procfs::parse_key_values(&t);
                // As the Collector, whose gopsutil multiplies these page counts by 4 KiB: the
                // values are the Collector's, 4096 × the kernel's counts.
                let g = |k: &str| v.get(k).copied().unwrap_or(0) as i64 * GOPSUTIL_PAGE;
                e.record(&md::paging::OPERATIONS, Num::I(g("pswpin")), &[("direction", "page_in"), ("type", "major")]);
                e.record(
                    &md::paging::OPERATIONS,
                    Num::I(g("pswpout")),
                    &[("direction", "page_out"), ("type", "major")],
                );
                e.record(&md::paging::OPERATIONS, Num::I(g("pgpgin")), &[("direction", "page_in"), ("type", "minor")]);
                e.record(
                    &md::paging::OPERATIONS,
                    Num::I(g("pgpgout")),
                    &[("direction", "page_out"), ("type", "minor")],
                );
                e.record(&md::paging::FAULTS, Num::I(g("pgmajfault")), &[("type", "major")]);
                e.record(&md::paging::FAULTS, Num::I(g("pgfault") - g("pgmajfault")), &[("type", "minor")]);
            }
            Err(err) => {
                errored += 2;
                errors.push(format!("failed to read swap info: {err}"));
            }
        }
        host_wide("paging", e, errors, errored)
    }
}

/// The factor gopsutil (and so the Collector) applies to `/proc/vmstat` paging counts.
const GOPSUTIL_PAGE: i64 = 4 * 1024;

// ---- processes ----

struct Processes {
    mb: MetricsBuilderConfig,
    boot: BootTime,
}

/// The Collector's status of a process state letter (gopsutil's mapping).
fn process_status(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "blocked",
        'Z' => "zombies",
        'T' | 't' => "stopped",
        'I' => "idle",
        'W' => "paging",
        'L' => "locked",
        _ => "unknown",
    }
}

/// The pids under `<root>/proc`.
fn pids(host: &Host) -> Result<Vec<i64>, String> {
    let dir = host.path("proc");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
    let mut pids: Vec<i64> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    Ok(pids)
}

impl Scrape for Processes {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let (stat, start) = match stat_and_boot(host, &mut self.boot, 2) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let mut e = Emitter::new(&self.mb, start, now_unix_nano());
        let mut errors = Vec::new();
        let mut errored = 0;
        if e.enabled(&md::processes::COUNT) {
            match pids(host) {
                Ok(pids) => {
                    let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
                    for pid in pids {
                        let Some(s) =
                            host.read(&format!("proc/{pid}/stat")).ok().and_then(|t| procfs::parse_pid_stat(&t))
                        else {
                            continue;
                        };
                        *counts.entry(process_status(s.state)).or_default() += 1;
                    }
                    // As the Collector: running and blocked come from /proc/stat (they count
                    // threads), and what the total of /proc/loadavg (scheduling entities)
                    // leaves over is unknown.
                    counts.insert("blocked", stat.procs_blocked as i64);
                    counts.insert("running", stat.procs_running as i64);
                    let known: i64 = counts.values().sum();
                    let total =
                        host.read("proc/loadavg").ok().and_then(|t| procfs::parse_loadavg_total(&t)).unwrap_or(0);
                    if total as i64 > known {
                        *counts.entry("unknown").or_default() += total as i64 - known;
                    }
                    for (status, n) in counts {
                        e.record(&md::processes::COUNT, Num::I(n), &[("status", status)]);
                    }
                }
                Err(err) => {
                    errored += 1;
                    errors.push(err);
                }
            }
        }
        e.record(&md::processes::CREATED, Num::I(stat.processes as i64), &[]);
        host_wide("processes", e, errors, errored)
    }
}

// ---- process ----

/// CPU times of one process at one scrape, for `process.cpu.utilization`.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: u64,
    user: f64,
    system: f64,
    wait: f64,
}

struct Process {
    mb: MetricsBuilderConfig,
    config: cfg::ProcessConfig,
    names: IncludeExclude,
    /// Resource attributes with `metrics_include`/`metrics_exclude` filters.
    attribute_filters: Vec<(String, IncludeExclude)>,
    boot: BootTime,
    previous: HashMap<i64, CpuSample>,
    /// uid → user name, read from `<root>/etc/passwd` once per scrape.
    users: BTreeMap<u32, String>,
}

impl Process {
    fn new(own: &cfg::ProcessConfig, mb: &MetricsBuilderConfig) -> Result<Process, String> {
        let names = IncludeExclude {
            include: own.include.filter("scrapers::process::include", &own.include.names)?,
            exclude: own.exclude.filter("scrapers::process::exclude", &own.exclude.names)?,
        };
        let mut attribute_filters = Vec::new();
        for (name, t) in &mb.resource_attributes {
            if t.metrics_include.is_empty() && t.metrics_exclude.is_empty() {
                continue;
            }
            let key = format!("scrapers::process::resource_attributes::{name}");
            let join = |list: &[cfg::ValueMatch]| -> Result<Option<super::filter::FilterSet>, String> {
                if list.is_empty() {
                    return Ok(None);
                }
                let sets = list.iter().map(|m| m.matcher(&key)).collect::<Result<Vec<_>, _>>()?;
                Ok(Some(super::filter::FilterSet::Any(sets)))
            };
            attribute_filters.push((
                name.clone(),
                IncludeExclude { include: join(&t.metrics_include)?, exclude: join(&t.metrics_exclude)? },
            ));
        }
        Ok(Process {
            mb: mb.clone(),
            config: own.clone(),
            names,
            attribute_filters,
            boot: BootTime::default(),
            previous: HashMap::new(),
            users: BTreeMap::new(),
        })
    }

    fn muted(&self, specific: bool) -> bool {
        self.config.mute_process_all_errors || specific
    }
}

/// The resource attributes of one process.
struct ProcessResource {
    pid: i64,
    ppid: i64,
    name: String,
    exe: String,
    command: String,
    command_line: String,
    owner: Option<String>,
    cgroup: Option<String>,
}

impl ProcessResource {
    fn attributes<'a>(&'a self, mb: &MetricsBuilderConfig) -> Vec<(&'static str, AttrValue<'a>)> {
        let mut out = Vec::new();
        let mut put = |name: &'static str, v: AttrValue<'a>| {
            let default = md::process::RESOURCE_ATTRIBUTES.iter().find(|a| a.name == name).is_some_and(|a| a.enabled);
            if mb.attribute_enabled(name, default) {
                out.push((name, v));
            }
        };
        put("process.pid", AttrValue::Int(self.pid));
        put("process.parent_pid", AttrValue::Int(self.ppid));
        put("process.executable.name", AttrValue::Str(&self.name));
        put("process.executable.path", AttrValue::Str(&self.exe));
        if let Some(c) = &self.cgroup {
            put("process.cgroup", AttrValue::Str(c));
        }
        put("process.command", AttrValue::Str(&self.command));
        put("process.command_line", AttrValue::Str(&self.command_line));
        if let Some(o) = &self.owner {
            put("process.owner", AttrValue::Str(o));
        }
        out
    }
}

enum AttrValue<'a> {
    Int(i64),
    Str(&'a str),
}

impl AttrValue<'_> {
    fn text(&self) -> String {
        match self {
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Str(s) => s.to_string(),
        }
    }
}

/// The process name as gopsutil gives it: `Name` of `/proc/<pid>/status`, which the kernel
/// cuts at 15 bytes; a longer name is taken from the command line when it starts the same.
fn process_name(status_name: &str, cmdline: &[String]) -> String {
    if status_name.len() >= 15 {
        if let Some(first) = cmdline.first() {
            let base = first.rsplit('/').next().unwrap_or(first);
            if base.starts_with(status_name) {
                return base.to_string();
            }
        }
    }
    status_name.to_string()
}

impl Scrape for Process {
    fn name(&self) -> &'static str {
        "process"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let boot = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(0, e),
        };
        let pids = match pids(host) {
            Ok(p) => p,
            Err(e) => return Scraped::failed(0, e),
        };
        if let Ok(t) = host.read("etc/passwd") {
            self.users = procfs::parse_passwd(&t);
        }
        let mem_total =
            host.read("proc/meminfo").map(|t| procfs::memory(&procfs::parse_meminfo(&t)).total).unwrap_or(0);
        let logical_cpus = host.read("proc/stat").map(|t| procfs::parse_stat(&t).cpus.len()).unwrap_or(1).max(1);
        let mut out = Scraped::default();
        let mut seen = HashMap::new();
        let cfg = self.config.clone();
        for pid in pids {
            let now = now_unix_nano();
            let dir = format!("proc/{pid}");
            let error = |out: &mut Scraped, muted: bool, n: usize, msg: String| {
                if !self.muted(muted) {
                    out.errored += n;
                    out.errors.push(msg);
                }
            };
            // A process without a readable executable is skipped, as in the Collector.
            let exe = match std::fs::read_link(host.path(&format!("{dir}/exe"))) {
                Ok(p) => p.to_string_lossy().into_owned(),
                Err(e) => {
                    error(
                        &mut out,
                        cfg.mute_process_exe_error,
                        1,
                        format!("error reading process executable for pid {pid}: {e}"),
                    );
                    continue;
                }
            };
            let Some(status) = host.read(&format!("{dir}/status")).ok().map(|t| procfs::parse_status(&t)) else {
                error(&mut out, cfg.mute_process_name_error, 0, format!("error reading process name for pid {pid}"));
                continue;
            };
            let Some(stat) = host.read(&format!("{dir}/stat")).ok().and_then(|t| procfs::parse_pid_stat(&t)) else {
                continue; // gone between listing and reading
            };
            let cmdline: Vec<String> = host
                .read(&format!("{dir}/cmdline"))
                .map(|t| t.split('\0').filter(|a| !a.is_empty()).map(str::to_string).collect())
                .unwrap_or_default();
            let name = process_name(status.get("Name").map(String::as_str).unwrap_or(&stat.comm), &cmdline);
            if !self.names.keeps(&name) {
                continue;
            }
            let create_ms = (boot / 1_000_000) + (stat.starttime as f64 / host.clk_tck * 1000.0) as u64;
            let now_ms = now / 1_000_000;
            if cfg.scrape_process_delay.as_millis() as u64 > now_ms.saturating_sub(create_ms) {
                continue;
            }
            let uid: Option<u32> = status.get("Uid").and_then(|u| u.split_ascii_whitespace().next()?.parse().ok());
            let owner = uid.and_then(|u| self.users.get(&u).cloned());
            if owner.is_none() {
                error(
                    &mut out,
                    cfg.mute_process_user_error,
                    0,
                    format!("error reading username for process {name:?} (pid {pid}): unknown uid {uid:?}"),
                );
            }
            let cgroup_default =
                md::process::RESOURCE_ATTRIBUTES.iter().any(|a| a.name == "process.cgroup" && a.enabled);
            let cgroup = if self.mb.attribute_enabled("process.cgroup", cgroup_default) {
                match host.read(&format!("{dir}/cgroup")) {
                    Ok(c) => Some(c.trim().to_string()),
                    Err(e) => {
                        error(
                            &mut out,
                            cfg.mute_process_cgroup_error,
                            0,
                            format!("error reading process cgroup for pid {pid}: {e}"),
                        );
                        None
                    }
                }
            } else {
                None
            };
            let resource = ProcessResource {
                pid,
                ppid: stat.ppid,
                name: name.clone(),
                exe,
                command: cmdline.first().cloned().unwrap_or_default(),
                command_line: cmdline.join(" "),
                owner,
                cgroup,
            };
            let attributes = resource.attributes(&self.mb);
            let filtered_out = self
                .attribute_filters
                .iter()
                .any(|(attr, f)| attributes.iter().find(|(n, _)| n == attr).is_some_and(|(_, v)| !f.keeps(&v.text())));
            if filtered_out {
                continue;
            }
            let mut e = Emitter::new(&self.mb, create_ms * 1_000_000, now);
            record_process(&mut e, host, &dir, &stat, &status, create_ms, now, mem_total);
            // Utilization from the previous scrape of the same pid.
            let tck = host.clk_tck;
            let sample = CpuSample {
                at: now,
                user: stat.utime as f64 / tck,
                system: stat.stime as f64 / tck,
                wait: stat.blkio_ticks as f64 / tck,
            };
            if let Some(p) = self.previous.get(&pid) {
                let elapsed = (sample.at.saturating_sub(p.at)) as f64 / 1e9;
                if elapsed > 0.0 {
                    let u = |now: f64, before: f64| Num::D((now - before) / elapsed / logical_cpus as f64);
                    e.record(&md::process::CPU_UTILIZATION, u(sample.user, p.user), &[("state", "user")]);
                    e.record(&md::process::CPU_UTILIZATION, u(sample.system, p.system), &[("state", "system")]);
                    e.record(&md::process::CPU_UTILIZATION, u(sample.wait, p.wait), &[("state", "wait")]);
                }
            }
            seen.insert(pid, sample);
            if e.enabled(&md::process::DISK_IO) || e.enabled(&md::process::DISK_OPERATIONS) {
                match host.read(&format!("{dir}/io")) {
                    Ok(t) => {
                        let io = procfs::parse_status(&t);
                        let g = |k: &str| Num::I(io.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
                        e.record(&md::process::DISK_IO, g("read_bytes"), &[("direction", "read")]);
                        e.record(&md::process::DISK_IO, g("write_bytes"), &[("direction", "write")]);
                        e.record(&md::process::DISK_OPERATIONS, g("syscr"), &[("direction", "read")]);
                        e.record(&md::process::DISK_OPERATIONS, g("syscw"), &[("direction", "write")]);
                    }
                    Err(err) => error(
                        &mut out,
                        cfg.mute_process_io_error,
                        1,
                        format!("error reading disk usage for process {name:?} (pid {pid}): {err}"),
                    ),
                }
            }
            out.points += e.points();
            let attrs = attributes
                .iter()
                .map(|(k, v)| match v {
                    AttrValue::Int(i) => int_attr(k, *i),
                    AttrValue::Str(s) => string_attr(k, s),
                })
                .collect();
            out.resource_metrics.push(resource_metrics("process", attrs, e.finish()));
        }
        self.previous = seen;
        if self.config.mute_process_all_errors {
            out.errored = 0;
            out.errors.clear();
        }
        out
    }
}

#[allow(clippy::too_many_arguments)]
fn record_process(
    e: &mut Emitter<'_>,
    host: &Host,
    dir: &str,
    stat: &PidStat,
    status: &BTreeMap<String, String>,
    create_ms: u64,
    now: u64,
    mem_total: u64,
) {
    let tck = host.clk_tck;
    e.record(&md::process::CPU_TIME, Num::D(stat.utime as f64 / tck), &[("state", "user")]);
    e.record(&md::process::CPU_TIME, Num::D(stat.stime as f64 / tck), &[("state", "system")]);
    e.record(&md::process::CPU_TIME, Num::D(stat.blkio_ticks as f64 / tck), &[("state", "wait")]);
    let rss = stat.rss * host.page_size;
    e.record(&md::process::MEMORY_USAGE, Num::I(rss as i64), &[]);
    e.record(&md::process::MEMORY_VIRTUAL, Num::I(stat.vsize as i64), &[]);
    if mem_total > 0 {
        e.record(&md::process::MEMORY_UTILIZATION, Num::D(rss as f64 / mem_total as f64), &[]);
    }
    e.record(&md::process::PAGING_FAULTS, Num::I(stat.majflt as i64), &[("type", "major")]);
    e.record(&md::process::PAGING_FAULTS, Num::I(stat.minflt as i64), &[("type", "minor")]);
    let num = |k: &str| status.get(k).and_then(|v| v.split(['/', ' ']).next()?.parse::<i64>().ok());
    if let Some(pending) = num("SigQ") {
        e.record(&md::process::SIGNALS_PENDING, Num::I(pending), &[]);
    }
    e.record(&md::process::THREADS, Num::I(stat.num_threads as i64), &[]);
    if e.enabled(&md::process::OPEN_FILE_DESCRIPTORS) {
        if let Ok(fds) = std::fs::read_dir(host.path(&format!("{dir}/fd"))) {
            e.record(&md::process::OPEN_FILE_DESCRIPTORS, Num::I(fds.count() as i64), &[]);
        }
    }
    if let Some(v) = num("nonvoluntary_ctxt_switches") {
        e.record(&md::process::CONTEXT_SWITCHES, Num::I(v), &[("type", "involuntary")]);
    }
    if let Some(v) = num("voluntary_ctxt_switches") {
        e.record(&md::process::CONTEXT_SWITCHES, Num::I(v), &[("type", "voluntary")]);
    }
    let uptime = (now / 1_000_000).saturating_sub(create_ms) as f64 / 1000.0;
    e.record(&md::process::UPTIME, Num::D(uptime), &[]);
}

// ---- system ----

struct System {
    mb: MetricsBuilderConfig,
    boot: BootTime,
}

impl Scrape for System {
    fn name(&self) -> &'static str {
        "system"
    }

    fn scrape(&mut self, host: &Host) -> Scraped {
        let boot = match self.boot.get(host) {
            Ok(b) => b,
            Err(e) => return Scraped::failed(1, e),
        };
        let now = now_unix_nano();
        let mut e = Emitter::new(&self.mb, boot, now);
        e.record(&md::system::UPTIME, Num::D(now.saturating_sub(boot) as f64 / 1e9), &[]);
        host_wide("system", e, Vec::new(), 0)
    }
}
