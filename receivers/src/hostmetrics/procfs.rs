//! Parsers of the Linux `/proc` files the scrapers read. Each takes the file's text and returns
//! plain numbers, so unit tests feed them recorded files (`testdata/`).
//!
//! Units are the kernel's: clock ticks for CPU times (divide by `CLK_TCK`), KiB in `meminfo`
//! and `swaps`, 512-byte sectors in `diskstats`, milliseconds for disk times.

use std::collections::BTreeMap;

/// One `cpu*` line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuTimes {
    /// `cpu0`, `cpu1`, … (`cpu` for the total line).
    pub cpu: String,
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

impl CpuTimes {
    /// The states in the Collector's order, with its attribute values.
    pub fn states(&self) -> [(&'static str, u64); 8] {
        [
            ("user", self.user),
            ("system", self.system),
            ("idle", self.idle),
            ("interrupt", self.irq),
            ("nice", self.nice),
            ("softirq", self.softirq),
            ("steal", self.steal),
            ("wait", self.iowait),
        ]
    }

    /// All the time counted, guest time included (the Collector's `totalCPU`).
    pub fn total(&self) -> u64 {
        self.states().iter().map(|(_, v)| *v).sum::<u64>() + self.guest + self.guest_nice
    }
}

/// What the scrapers use of `/proc/stat`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// The total line.
    pub total: CpuTimes,
    /// One per logical CPU.
    pub cpus: Vec<CpuTimes>,
    /// Boot time, Unix seconds.
    pub btime: u64,
    /// Processes created since boot.
    pub processes: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
}

fn num(s: Option<&str>) -> u64 {
    s.and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn parse_stat(text: &str) -> Stat {
    let mut stat = Stat::default();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(key) = f.next() else { continue };
        if key.starts_with("cpu") {
            let t = CpuTimes {
                cpu: key.to_string(),
                user: num(f.next()),
                nice: num(f.next()),
                system: num(f.next()),
                idle: num(f.next()),
                iowait: num(f.next()),
                irq: num(f.next()),
                softirq: num(f.next()),
                steal: num(f.next()),
                guest: num(f.next()),
                guest_nice: num(f.next()),
            };
            if key == "cpu" {
                stat.total = t;
            } else {
                stat.cpus.push(t);
            }
            continue;
        }
        match key {
            "btime" => stat.btime = num(f.next()),
            "processes" => stat.processes = num(f.next()),
            "procs_running" => stat.procs_running = num(f.next()),
            "procs_blocked" => stat.procs_blocked = num(f.next()),
            _ => {}
        }
    }
    stat
}

/// `/proc/meminfo` as `key → bytes` (values given in kB are multiplied by 1024).
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let mut f = rest.split_ascii_whitespace();
            let v: u64 = f.next()?.parse().ok()?;
            let v = if f.next() == Some("kB") { v * 1024 } else { v };
            Some((key.to_string(), v))
        })
        .collect()
}

/// Memory by the Collector's states (gopsutil's arithmetic: `cached` includes
/// `SReclaimable`, and `used = total - free - buffers - cached`, so used, free, buffered and
/// cached add up to the total).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    pub total: u64,
    pub free: u64,
    pub buffers: u64,
    pub cached: u64,
    pub used: u64,
    pub slab_reclaimable: u64,
    pub slab_unreclaimable: u64,
    pub available: u64,
    pub dirty: u64,
}

pub fn memory(meminfo: &BTreeMap<String, u64>) -> Memory {
    let get = |k: &str| meminfo.get(k).copied().unwrap_or(0);
    let total = get("MemTotal");
    let free = get("MemFree");
    let buffers = get("Buffers");
    let slab_reclaimable = get("SReclaimable");
    let cached = get("Cached") + slab_reclaimable;
    let available = meminfo.get("MemAvailable").copied().unwrap_or(cached + free);
    Memory {
        total,
        free,
        buffers,
        cached,
        used: total.saturating_sub(free).saturating_sub(buffers).saturating_sub(cached),
        slab_reclaimable,
        slab_unreclaimable: get("SUnreclaim"),
        available,
        dirty: get("Dirty"),
    }
}

/// `/proc/loadavg`: the 1, 5 and 15 minute averages.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_ascii_whitespace();
    Some([f.next()?.parse().ok()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?])
}

/// One line of `/proc/diskstats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskStats {
    pub name: String,
    pub reads: u64,
    pub reads_merged: u64,
    pub sectors_read: u64,
    pub read_ms: u64,
    pub writes: u64,
    pub writes_merged: u64,
    pub sectors_written: u64,
    pub write_ms: u64,
    pub in_progress: u64,
    pub io_ms: u64,
    pub weighted_io_ms: u64,
}

pub fn parse_diskstats(text: &str) -> Vec<DiskStats> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 14 {
                return None;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            Some(DiskStats {
                name: f[2].to_string(),
                reads: n(3),
                reads_merged: n(4),
                sectors_read: n(5),
                read_ms: n(6),
                writes: n(7),
                writes_merged: n(8),
                sectors_written: n(9),
                write_ms: n(10),
                in_progress: n(11),
                io_ms: n(12),
                weighted_io_ms: n(13),
            })
        })
        .collect()
}

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fs_type: String,
    pub options: String,
}

impl Mount {
    /// The Collector's `mode`: `rw`, `ro` or `unknown`, from the mount options.
    pub fn mode(&self) -> &'static str {
        let opts: Vec<&str> = self.options.split(',').collect();
        if opts.contains(&"rw") {
            "rw"
        } else if opts.contains(&"ro") {
            "ro"
        } else {
            "unknown"
        }
    }
}

/// Undoes the octal escapes of mount files (`\040` is a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/<pid>/mountinfo`: `id parent major:minor root mountpoint options … - type source super`.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 2 {
                return None;
            }
            Some(Mount {
                device: unescape(r[1]),
                mountpoint: unescape(l[4]),
                fs_type: r[0].to_string(),
                options: l[5].to_string(),
            })
        })
        .collect()
}

/// `/proc/filesystems`: the types marked `nodev` (virtual filesystems).
pub fn parse_nodev_filesystems(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            (f.next()? == "nodev").then(|| f.next().map(str::to_string)).flatten()
        })
        .collect()
}

/// One interface of `/proc/net/dev`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetDev {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

pub fn parse_net_dev(text: &str) -> Vec<NetDev> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let f: Vec<u64> = rest.split_ascii_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
            if f.len() < 16 {
                return None;
            }
            Some(NetDev {
                name: name.trim().to_string(),
                rx_bytes: f[0],
                rx_packets: f[1],
                rx_errors: f[2],
                rx_dropped: f[3],
                tx_bytes: f[8],
                tx_packets: f[9],
                tx_errors: f[10],
                tx_dropped: f[11],
            })
        })
        .collect()
}

/// The TCP state names gopsutil gives the hex states of `/proc/net/tcp{,6}`.
fn tcp_state(hex: &str) -> Option<&'static str> {
    Some(match hex {
        "01" => "ESTABLISHED",
        "02" => "SYN_SENT",
        "03" => "SYN_RECV",
        "04" => "FIN_WAIT1",
        "05" => "FIN_WAIT2",
        "06" => "TIME_WAIT",
        "07" => "CLOSE",
        "08" => "CLOSE_WAIT",
        "09" => "LAST_ACK",
        "0A" => "LISTEN",
        "0B" => "CLOSING",
        _ => return None,
    })
}

/// Adds the connections of one `/proc/net/tcp` or `tcp6` file to `counts`, by state name.
pub fn count_tcp_states(text: &str, counts: &mut BTreeMap<String, i64>) {
    for line in text.lines().skip(1) {
        if let Some(state) = line.split_ascii_whitespace().nth(3).and_then(tcp_state) {
            *counts.entry(state.to_string()).or_default() += 1;
        }
    }
}

/// One device of `/proc/swaps`, in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Swap {
    pub device: String,
    pub used: u64,
    pub free: u64,
    pub total: u64,
}

/// `/proc/swaps`; the header must name `Filename`, `Size` and `Used` where the Collector
/// expects them.
pub fn parse_swaps(text: &str) -> Result<Vec<Swap>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> =
        lines.next().ok_or("unexpected end-of-file in /proc/swaps")?.split_ascii_whitespace().collect();
    if header.len() < 4 || header[0] != "Filename" || header[2] != "Size" || header[3] != "Used" {
        return Err(format!("couldn't parse /proc/swaps: unexpected header {header:?}"));
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_ascii_whitespace().collect();
            if f.len() < 4 {
                return Err(format!("couldn't parse /proc/swaps: expected ≥4 fields in row but got {f:?}"));
            }
            let total: u64 = f[2].parse().map_err(|e| format!("couldn't parse 'Size' column in /proc/swaps: {e}"))?;
            let used: u64 = f[3].parse().map_err(|e| format!("couldn't parse 'Used' column in /proc/swaps: {e}"))?;
            Ok(Swap {
                device: unescape(f[0]),
                used: used * 1024,
                free: total.saturating_sub(used) * 1024,
                total: total * 1024,
            })
        })
        .collect()
}

/// `/proc/vmstat` (or any `key value` file) as a map.
pub fn parse_key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_ascii_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// What the process scraper uses of `/proc/<pid>/stat`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PidStat {
    pub comm: String,
    pub state: char,
    pub ppid: i64,
    pub minflt: u64,
    pub majflt: u64,
    /// Clock ticks.
    pub utime: u64,
    pub stime: u64,
    pub num_threads: u64,
    /// Clock ticks after boot.
    pub starttime: u64,
    /// Bytes.
    pub vsize: u64,
    /// Pages.
    pub rss: u64,
    /// Clock ticks spent waiting for block I/O.
    pub blkio_ticks: u64,
}

pub fn parse_pid_stat(text: &str) -> Option<PidStat> {
    // `comm` is in parentheses and may hold spaces and parentheses: split at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let f: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    // f[0] is field 3 (state) of proc(5).
    let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(PidStat {
        comm,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        minflt: n(10),
        majflt: n(12),
        utime: n(14),
        stime: n(15),
        num_threads: n(20),
        starttime: n(22),
        vsize: n(23),
        rss: n(24),
        blkio_ticks: n(42),
    })
}

/// `/proc/<pid>/status` as `key → value text`.
pub fn parse_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// `/proc/cpuinfo`: the number of distinct physical cores (`physical id` × `core id`, or one
/// per processor when the file has no topology) and each processor's number and `cpu MHz`.
pub fn parse_cpuinfo(text: &str) -> (usize, Vec<(u32, f64)>) {
    let mut cores = std::collections::BTreeSet::new();
    let mut mhz = Vec::new();
    let mut processors = 0;
    let (mut processor, mut phys, mut core) = (0u32, String::new(), String::new());
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !phys.is_empty() || !core.is_empty() {
                cores.insert((std::mem::take(&mut phys), std::mem::take(&mut core)));
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else { continue };
        match k.trim() {
            "processor" => {
                processors += 1;
                processor = v.trim().parse().unwrap_or(0);
            }
            "physical id" => phys = v.trim().to_string(),
            "core id" => core = v.trim().to_string(),
            "cpu MHz" => mhz.push((processor, v.trim().parse().unwrap_or(0.0))),
            _ => {}
        }
    }
    let physical = if cores.is_empty() { processors } else { cores.len() };
    (physical, mhz)
}

/// `/proc/loadavg`'s count of scheduling entities (the `412` of `3/412`).
pub fn parse_loadavg_total(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(3)?.split_once('/')?.1.parse().ok()
}

/// `/etc/passwd`: uid → user name.
pub fn parse_passwd(text: &str) -> BTreeMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}
