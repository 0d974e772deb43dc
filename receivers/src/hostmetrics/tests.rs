//! Config behaviour (from the Collector's config tests), the `/proc` parsers, and every scraper
//! run against a recorded host root (`testdata/root`: files copied from a Linux host, trimmed).

use super::config::HostmetricsConfig;
use super::procfs;
use super::scrapers::{self, Host, Scraped};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric, ResourceMetrics};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use weir_core::testing::parse_config;
use weir_core::ComponentConfig;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/hostmetrics/testdata/root")
}

fn host() -> Host {
    Host::new(&root())
}

fn file(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).expect("testdata file")
}

/// Runs the scrapers of `yaml` (a receiver config) once against the recorded root.
fn scrape(yaml: &str) -> Scraped {
    let config: HostmetricsConfig = parse_config(yaml).expect("valid config");
    let host = host();
    let mut all = Scraped::default();
    for mut s in scrapers::build(&config.scrapers).expect("builds") {
        let out = s.scrape(&host);
        all.points += out.points;
        all.errored += out.errored;
        all.errors.extend(out.errors);
        all.resource_metrics.extend(out.resource_metrics);
    }
    all
}

fn metrics(rms: &[ResourceMetrics]) -> Vec<&Metric> {
    rms.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).collect()
}

fn metric<'a>(rms: &'a [ResourceMetrics], name: &str) -> Option<&'a Metric> {
    metrics(rms).into_iter().find(|m| m.name == name)
}

/// The points of `name`: attributes as text, value as f64.
fn points(rms: &[ResourceMetrics], name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let Some(m) = metric(rms, name) else { return Vec::new() };
    let dps = match &m.data {
        Some(metric::Data::Sum(s)) => &s.data_points,
        Some(metric::Data::Gauge(g)) => &g.data_points,
        _ => panic!("{name}: neither a sum nor a gauge"),
    };
    dps.iter()
        .map(|p| {
            let attrs = p
                .attributes
                .iter()
                .map(|kv| {
                    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(Av::StringValue(s)) => s.clone(),
                        Some(Av::IntValue(i)) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    (kv.key.clone(), v)
                })
                .collect();
            let v = match p.value {
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                Some(number_data_point::Value::AsDouble(d)) => d,
                None => f64::NAN,
            };
            (attrs, v)
        })
        .collect()
}

/// The value of the point of `name` whose attributes include all of `attrs`.
fn value(rms: &[ResourceMetrics], name: &str, attrs: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = points(rms, name)
        .into_iter()
        .filter(|(a, _)| attrs.iter().all(|(k, v)| a.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(found.len(), 1, "{name} {attrs:?}: {found:?}");
    found[0]
}

const BOOT_NANOS: u64 = 1_796_293_571 * 1_000_000_000;

// ---- config ----

#[test]
fn defaults_are_the_collectors() {
    let c: HostmetricsConfig = parse_config("scrapers: {cpu: }").unwrap();
    assert_eq!(c.collection_interval, Duration::from_secs(60));
    assert_eq!(c.initial_delay, Duration::from_secs(1));
    assert_eq!(c.timeout, Duration::ZERO);
    assert_eq!(c.metadata_collection_interval, Duration::from_secs(300));
    assert_eq!(c.root_path, "");
    assert!(c.scrapers.cpu.is_some(), "naming a scraper with no keys turns it on");
    assert!(c.scrapers.memory.is_none());
}

#[test]
fn a_config_without_scrapers_is_refused() {
    let err = parse_config::<HostmetricsConfig>("collection_interval: 10s").unwrap_err();
    assert!(err.contains("must specify at least one scraper when using hostmetrics receiver"), "{err}");
}

#[test]
fn a_zero_collection_interval_is_refused() {
    let err = parse_config::<HostmetricsConfig>("collection_interval: 0s\nscrapers: {cpu: }").unwrap_err();
    assert!(err.contains("collection_interval: requires positive value"), "{err}");
}

#[test]
fn an_unknown_scraper_is_refused_by_name() {
    let err = parse_config::<HostmetricsConfig>("scrapers: {invalidscraperkey: }").unwrap_err();
    assert!(err.contains("invalidscraperkey"), "{err}");
}

#[test]
fn a_root_path_that_does_not_exist_is_refused() {
    let err = parse_config::<HostmetricsConfig>("root_path: does/not/exist\nscrapers: {cpu: }").unwrap_err();
    assert!(err.contains("invalid root_path"), "{err}");
    let ok = format!("root_path: {}\nscrapers: {{cpu: }}", root().display());
    parse_config::<HostmetricsConfig>(&ok).expect("an existing root is fine");
}

#[test]
fn an_unknown_metric_name_is_refused_with_the_valid_ones() {
    let err =
        parse_config::<HostmetricsConfig>("scrapers: {cpu: {metrics: {system.cpu.tim: {enabled: true}}}}").unwrap_err();
    assert!(err.contains("scrapers::cpu::metrics") && err.contains("system.cpu.tim"), "{err}");
    assert!(err.contains("system.cpu.time"), "lists the valid names: {err}");
}

#[test]
fn an_unknown_scraper_key_is_refused() {
    let err = parse_config::<HostmetricsConfig>("scrapers: {disk: {devices: [sda]}}").unwrap_err();
    assert!(err.contains("devices"), "{err}");
}

#[test]
fn a_filter_list_needs_a_match_type() {
    let err = parse_config::<HostmetricsConfig>("scrapers: {network: {include: {interfaces: [lo]}}}").unwrap_err();
    assert!(err.contains("scrapers::network::include::match_type"), "{err}");
}

#[test]
fn a_bad_regexp_is_refused_naming_its_key() {
    let err = parse_config::<HostmetricsConfig>("scrapers: {process: {exclude: {names: ['('], match_type: regexp}}}")
        .unwrap_err();
    assert!(err.contains("scrapers::process::exclude"), "{err}");
}

#[test]
fn the_collectors_customname_config_loads_with_its_settings() {
    let yaml = "collection_interval: 30s\nscrapers:\n  cpu:\n  disk:\n  load:\n    cpu_average: true\n  filesystem:\n  memory:\n  \
                network:\n    include:\n      interfaces: [\"test1\"]\n      match_type: \"strict\"\n  paging:\n  processes:\n  \
                process:\n    include:\n      names: [\"test2\", \"test3\"]\n      match_type: \"regexp\"\n  system:\n";
    let c: HostmetricsConfig = parse_config(yaml).unwrap();
    assert_eq!(c.collection_interval, Duration::from_secs(30));
    assert!(c.scrapers.load.as_ref().unwrap().own.cpu_average);
    assert_eq!(c.scrapers.network.as_ref().unwrap().own.include.interfaces, vec!["test1"]);
    assert_eq!(c.scrapers.process.as_ref().unwrap().own.include.names, vec!["test2", "test3"]);
    assert!(c.validate().is_ok());
}

#[test]
fn the_readme_example_loads() {
    let readme = include_str!("../../README.md");
    let start = readme.find("## Host metrics receiver").expect("section");
    let block = readme[start..].split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).expect("example");
    let node = block.split_once("  hostmetrics:\n").expect("hostmetrics").1;
    let unindented: String = node.lines().map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l))).collect();
    let c: HostmetricsConfig = {
        // root_path /hostfs does not exist here: check it and the rest apart.
        let err = parse_config::<HostmetricsConfig>(&unindented).unwrap_err();
        assert!(err.contains("invalid root_path"), "{err}");
        parse_config(&unindented.replace("root_path: /hostfs", "root_path: /")).expect("the README example is valid")
    };
    assert_eq!(c.collection_interval, Duration::from_secs(30));
    assert!(c.scrapers.process.as_ref().unwrap().own.mute_process_exe_error);
}

#[test]
fn a_logs_pipeline_cannot_name_the_receiver() {
    let mut registry = weir_core::Registry::new();
    crate::register(&mut registry);
    let yaml = "receivers: {hostmetrics: {scrapers: {cpu: }}}\nexporters: {nop: }\n\
                service: {pipelines: {logs: {receivers: [hostmetrics], exporters: [nop]}}}\n";
    let nop = weir_core::testing::CollectingSink::new("nop", weir_core::testing::accept_all).0;
    registry.add_exporter(nop);
    let err = weir_core::config::load_str("hm.yaml", yaml, &registry, &|_| None).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("hostmetrics") && err.contains("logs"), "{err}");
}

// ---- parsers ----

#[test]
fn proc_stat_gives_per_cpu_times_boot_time_and_process_counts() {
    let s = procfs::parse_stat(&file("proc/stat"));
    assert_eq!(s.cpus.len(), 2);
    assert_eq!(s.cpus[0].cpu, "cpu0");
    assert_eq!((s.cpus[0].user, s.cpus[0].nice, s.cpus[0].system, s.cpus[0].idle), (1429880, 34500, 169678, 1380388));
    assert_eq!((s.cpus[1].iowait, s.cpus[1].softirq, s.cpus[1].steal), (9248, 3219, 9485));
    assert_eq!(s.btime, 1796293571);
    assert_eq!((s.processes, s.procs_running, s.procs_blocked), (492382, 3, 1));
}

#[test]
fn memory_states_add_up_to_the_total() {
    let m = procfs::memory(&procfs::parse_meminfo(&file("proc/meminfo")));
    assert_eq!(m.total, 24683664 * 1024);
    assert_eq!(m.cached, (14335488 + 1179648) * 1024, "cached includes SReclaimable, as gopsutil's");
    assert_eq!(m.used + m.free + m.buffers + m.cached, m.total);
    assert_eq!(m.available, 17001320 * 1024);
}

#[test]
fn a_process_name_with_spaces_and_parentheses_is_read_whole() {
    let s = procfs::parse_pid_stat("7 (a (b) c) R 1 7 7 0 -1 0 1 0 2 0 3 4 0 0 20 0 5 0 6 7 8 0").unwrap();
    assert_eq!(s.comm, "a (b) c");
    assert_eq!((s.state, s.ppid, s.minflt, s.majflt, s.utime, s.stime), ('R', 1, 1, 2, 3, 4));
    assert_eq!((s.num_threads, s.starttime, s.vsize, s.rss), (5, 6, 7, 8));
}

#[test]
fn mount_points_with_escaped_spaces_are_unescaped() {
    let m = procfs::parse_mountinfo("30 27 0:40 / /mnt/my\\040disk ro,relatime shared:1 - vfat /dev/sdb1 rw\n");
    assert_eq!(m[0].mountpoint, "/mnt/my disk");
    assert_eq!((m[0].device.as_str(), m[0].fs_type.as_str(), m[0].mode()), ("/dev/sdb1", "vfat", "ro"));
}

#[test]
fn a_swaps_file_with_an_unexpected_header_is_an_error() {
    assert!(procfs::parse_swaps("Name Type Size Used\n").is_err());
    let s = procfs::parse_swaps(&file("proc/swaps")).unwrap();
    assert_eq!((s[0].device.as_str(), s[0].used, s[0].total), ("/swap.img", 524288 * 1024, 2097148 * 1024));
}

// ---- scrapers against the recorded root ----

#[test]
fn cpu_time_is_per_cpu_and_state_in_seconds_since_boot() {
    let out = scrape("scrapers: {cpu: }");
    let tck = host().clk_tck;
    let m = metric(&out.resource_metrics, "system.cpu.time").expect("system.cpu.time");
    assert_eq!(m.unit, "s");
    let Some(metric::Data::Sum(sum)) = &m.data else { panic!("a sum") };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2, "cumulative");
    assert!(sum.data_points.iter().all(|p| p.start_time_unix_nano == BOOT_NANOS), "starts at boot");
    assert_eq!(sum.data_points.len(), 16, "2 CPUs × 8 states");
    assert_eq!(value(&out.resource_metrics, "system.cpu.time", &[("cpu", "cpu0"), ("state", "user")]), 1429880.0 / tck);
    assert_eq!(value(&out.resource_metrics, "system.cpu.time", &[("cpu", "cpu1"), ("state", "wait")]), 9248.0 / tck);
    assert_eq!(value(&out.resource_metrics, "system.cpu.time", &[("cpu", "cpu1"), ("state", "interrupt")]), 0.0);
    assert!(metric(&out.resource_metrics, "system.cpu.utilization").is_none(), "optional metrics are off");
    assert_eq!(out.points, 16);
    assert_eq!(
        out.resource_metrics[0].scope_metrics[0].scope.as_ref().unwrap().name.rsplit('/').next(),
        Some("cpuscraper")
    );
}

#[test]
fn optional_cpu_metrics_are_emitted_once_enabled() {
    let out = scrape(
        "scrapers: {cpu: {metrics: {system.cpu.time: {enabled: false}, system.cpu.logical.count: {enabled: true}, \
         system.cpu.physical.count: {enabled: true}, system.cpu.frequency: {enabled: true}}}}",
    );
    assert!(metric(&out.resource_metrics, "system.cpu.time").is_none(), "a default metric can be turned off");
    assert_eq!(value(&out.resource_metrics, "system.cpu.logical.count", &[]), 2.0);
    assert_eq!(value(&out.resource_metrics, "system.cpu.physical.count", &[]), 1.0, "two threads of one core");
    assert_eq!(value(&out.resource_metrics, "system.cpu.frequency", &[("cpu", "cpu1")]), 2500.5e6);
}

#[test]
fn cpu_utilization_is_the_share_of_each_state_since_the_previous_scrape() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("proc")).unwrap();
    let stat = dir.path().join("proc/stat");
    let write = |cpu0: &str| {
        std::fs::write(&stat, format!("cpu  0 0 0 0 0 0 0 0 0 0\n{cpu0}\nbtime 1796293571\n")).unwrap();
    };
    let config: HostmetricsConfig =
        parse_config("scrapers: {cpu: {metrics: {system.cpu.utilization: {enabled: true}}}}").unwrap();
    let mut cpu = scrapers::build(&config.scrapers).unwrap().remove(0);
    let host = Host::new(dir.path());
    write("cpu0 100 0 100 1000 0 0 0 0 0 0");
    let first = cpu.scrape(&host);
    assert!(metric(&first.resource_metrics, "system.cpu.utilization").is_none(), "nothing to compare with yet");
    // 200 ticks pass: 50 user, 100 idle, 50 guest (guest counts in the elapsed time).
    write("cpu0 150 0 100 1100 0 0 0 0 50 0");
    let second = cpu.scrape(&host);
    let r = &second.resource_metrics;
    assert_eq!(value(r, "system.cpu.utilization", &[("cpu", "cpu0"), ("state", "user")]), 0.25);
    assert_eq!(value(r, "system.cpu.utilization", &[("cpu", "cpu0"), ("state", "idle")]), 0.5);
    assert_eq!(value(r, "system.cpu.utilization", &[("cpu", "cpu0"), ("state", "system")]), 0.0);
}

#[test]
fn memory_usage_is_reported_by_state() {
    let out = scrape("scrapers: {memory: {metrics: {system.memory.limit: {enabled: true}, system.linux.memory.available: {enabled: true}}}}");
    let r = &out.resource_metrics;
    assert_eq!(value(r, "system.memory.usage", &[("state", "free")]), 1317696.0 * 1024.0);
    assert_eq!(value(r, "system.memory.usage", &[("state", "buffered")]), 671500.0 * 1024.0);
    assert_eq!(value(r, "system.memory.usage", &[("state", "slab_unreclaimable")]), 318272.0 * 1024.0);
    let sum: f64 =
        ["used", "free", "buffered", "cached"].iter().map(|s| value(r, "system.memory.usage", &[("state", s)])).sum();
    assert_eq!(sum, value(r, "system.memory.limit", &[]));
    assert_eq!(value(r, "system.linux.memory.available", &[]), 17001320.0 * 1024.0);
    let Some(metric::Data::Sum(s)) = &metric(r, "system.memory.usage").unwrap().data else { panic!("a sum") };
    assert!(!s.is_monotonic);
}

#[test]
fn load_averages_are_divided_by_cpus_with_cpu_average() {
    let plain = scrape("scrapers: {load: }");
    assert_eq!(value(&plain.resource_metrics, "system.cpu.load_average.1m", &[]), 0.52);
    assert_eq!(value(&plain.resource_metrics, "system.cpu.load_average.15m", &[]), 0.59);
    let avg = scrape("scrapers: {load: {cpu_average: true}}");
    assert_eq!(value(&avg.resource_metrics, "system.cpu.load_average.5m", &[]), 0.58 / 2.0);
}

#[test]
fn disk_counters_are_per_device_and_direction_and_filtered() {
    let out = scrape("scrapers: {disk: {exclude: {devices: ['^loop'], match_type: regexp}}}");
    let r = &out.resource_metrics;
    assert_eq!(value(r, "system.disk.io", &[("device", "nvme0n1"), ("direction", "read")]), 92436510.0 * 512.0);
    assert_eq!(value(r, "system.disk.operations", &[("device", "nvme0n1p1"), ("direction", "write")]), 2843509.0);
    assert_eq!(value(r, "system.disk.operation_time", &[("device", "nvme0n1"), ("direction", "write")]), 3183.025);
    assert_eq!(value(r, "system.disk.io_time", &[("device", "nvme0n1")]), 1516.816);
    assert_eq!(value(r, "system.disk.weighted_io_time", &[("device", "nvme0n1")]), 3630.118);
    assert_eq!(value(r, "system.disk.pending_operations", &[("device", "nvme0n1p1")]), 2.0);
    assert_eq!(value(r, "system.disk.merged", &[("device", "nvme0n1"), ("direction", "read")]), 401321.0);
    assert!(points(r, "system.disk.io").iter().all(|(a, _)| a["device"] != "loop0"), "loop0 excluded");
}

#[test]
fn network_counters_and_tcp_states_are_reported() {
    let out = scrape("scrapers: {network: {include: {interfaces: [eth0], match_type: strict}}}");
    let r = &out.resource_metrics;
    assert_eq!(value(r, "system.network.io", &[("device", "eth0"), ("direction", "receive")]), 1021280434.0);
    assert_eq!(value(r, "system.network.io", &[("device", "eth0"), ("direction", "transmit")]), 2084909.0);
    assert_eq!(value(r, "system.network.errors", &[("device", "eth0"), ("direction", "receive")]), 2.0);
    assert_eq!(value(r, "system.network.dropped", &[("device", "eth0"), ("direction", "transmit")]), 3.0);
    assert!(points(r, "system.network.io").iter().all(|(a, _)| a["device"] == "eth0"), "lo not included");
    assert_eq!(value(r, "system.network.connections", &[("state", "LISTEN")]), 3.0, "tcp and tcp6");
    assert_eq!(value(r, "system.network.connections", &[("state", "ESTABLISHED"), ("protocol", "tcp")]), 1.0);
    assert_eq!(value(r, "system.network.connections", &[("state", "TIME_WAIT")]), 1.0);
    assert_eq!(
        value(r, "system.network.connections", &[("state", "FIN_WAIT_1")]),
        0.0,
        "every state of the Collector's list"
    );
    assert!(metric(r, "system.network.conntrack.count").is_none());
    let ct = scrape("scrapers: {network: {metrics: {system.network.conntrack.count: {enabled: true}, system.network.conntrack.max: {enabled: true}}}}");
    assert_eq!(value(&ct.resource_metrics, "system.network.conntrack.count", &[]), 123456.0);
    assert_eq!(value(&ct.resource_metrics, "system.network.conntrack.max", &[]), 262144.0);
}

#[test]
fn paging_usage_operations_and_faults_are_reported() {
    let out = scrape("scrapers: {paging: }");
    let r = &out.resource_metrics;
    assert_eq!(value(r, "system.paging.usage", &[("device", "/swap.img"), ("state", "used")]), 524288.0 * 1024.0);
    assert_eq!(
        value(r, "system.paging.usage", &[("device", "/swap.img"), ("state", "free")]),
        (2097148.0 - 524288.0) * 1024.0
    );
    // The Collector's values: gopsutil multiplies the /proc/vmstat counts by 4096.
    assert_eq!(value(r, "system.paging.operations", &[("direction", "page_in"), ("type", "major")]), 12.0 * 4096.0);
    assert_eq!(
        value(r, "system.paging.operations", &[("direction", "page_out"), ("type", "minor")]),
        216238492.0 * 4096.0
    );
    assert_eq!(value(r, "system.paging.faults", &[("type", "major")]), 113599.0 * 4096.0);
    assert_eq!(value(r, "system.paging.faults", &[("type", "minor")]), (591745138 - 113599) as f64 * 4096.0);
}

#[test]
fn processes_are_counted_by_status() {
    let out = scrape("scrapers: {processes: }");
    let r = &out.resource_metrics;
    assert_eq!(value(r, "system.processes.created", &[]), 492382.0);
    assert_eq!(value(r, "system.processes.count", &[("status", "running")]), 3.0, "from /proc/stat, as the Collector");
    assert_eq!(value(r, "system.processes.count", &[("status", "blocked")]), 1.0);
    assert_eq!(value(r, "system.processes.count", &[("status", "sleeping")]), 2.0);
    // /proc/loadavg counts 412 scheduling entities: what the known states leave is unknown.
    assert_eq!(value(r, "system.processes.count", &[("status", "unknown")]), 412.0 - 6.0);
}

#[test]
fn each_process_is_a_resource_with_the_collectors_attributes() {
    let out = scrape("scrapers: {process: {mute_process_exe_error: true}}");
    assert_eq!(out.resource_metrics.len(), 1, "pids 1 and 2 have no executable and are skipped");
    assert_eq!(out.errored, 0, "muted");
    let rm = &out.resource_metrics[0];
    let attrs: BTreeMap<String, String> = rm
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Av::StringValue(s)) => s.clone(),
                Some(Av::IntValue(i)) => format!("int:{i}"),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect();
    let expect: BTreeMap<String, String> = [
        ("process.pid", "int:4242"),
        ("process.parent_pid", "int:1"),
        ("process.executable.name", "weir worker"),
        ("process.executable.path", "/usr/bin/weir"),
        ("process.command", "/usr/bin/weir"),
        ("process.command_line", "/usr/bin/weir run --config /etc/weir/pipelines.yaml"),
        ("process.owner", "weir"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(attrs, expect, "process.cgroup is off by default");
    let r = &out.resource_metrics;
    let h = host();
    assert_eq!(value(r, "process.cpu.time", &[("state", "user")]), 250.0 / h.clk_tck);
    assert_eq!(value(r, "process.cpu.time", &[("state", "system")]), 120.0 / h.clk_tck);
    assert_eq!(value(r, "process.cpu.time", &[("state", "wait")]), 35.0 / h.clk_tck);
    assert_eq!(value(r, "process.memory.usage", &[]), (2560 * h.page_size) as f64);
    assert_eq!(value(r, "process.memory.virtual", &[]), 104857600.0);
    assert_eq!(value(r, "process.disk.io", &[("direction", "read")]), 4096.0);
    assert_eq!(value(r, "process.disk.io", &[("direction", "write")]), 8192.0);
    let Some(metric::Data::Sum(s)) = &metric(r, "process.cpu.time").unwrap().data else { panic!("a sum") };
    let created = BOOT_NANOS + (360000.0 / h.clk_tck * 1e9) as u64;
    assert_eq!(s.data_points[0].start_time_unix_nano / 1_000_000, created / 1_000_000, "starts when the process did");
}

#[test]
fn unreadable_executables_are_counted_as_scrape_errors_unless_muted() {
    let out = scrape("scrapers: {process: }");
    // Pid 1 of the recorded root has only its mountinfo; pid 2 is a kernel thread.
    assert_eq!(out.errored, 2, "{:?}", out.errors);
    assert!(out.errors[1].contains("executable for pid 2"), "{:?}", out.errors);
    let all = scrape("scrapers: {process: {mute_process_all_errors: true}}");
    assert_eq!((all.errored, all.errors.len()), (0, 0));
}

#[test]
fn optional_process_metrics_and_attributes_follow_their_toggles() {
    let out = scrape(
        "scrapers: {process: {mute_process_exe_error: true, \
         metrics: {process.threads: {enabled: true}, process.context_switches: {enabled: true}, process.open_file_descriptors: {enabled: true}, \
         process.paging.faults: {enabled: true}, process.signals_pending: {enabled: true}, process.disk.operations: {enabled: true}}, \
         resource_attributes: {process.cgroup: {enabled: true}, process.command_line: {enabled: false}}}}",
    );
    let r = &out.resource_metrics;
    assert_eq!(value(r, "process.threads", &[]), 9.0);
    assert_eq!(value(r, "process.context_switches", &[("type", "voluntary")]), 1500.0);
    assert_eq!(value(r, "process.context_switches", &[("type", "involuntary")]), 42.0);
    assert_eq!(value(r, "process.open_file_descriptors", &[]), 3.0);
    assert_eq!(value(r, "process.paging.faults", &[("type", "major")]), 7.0);
    assert_eq!(value(r, "process.paging.faults", &[("type", "minor")]), 5120.0);
    assert_eq!(value(r, "process.signals_pending", &[]), 2.0);
    assert_eq!(value(r, "process.disk.operations", &[("direction", "read")]), 300.0);
    let keys: Vec<&str> = r[0].resource.as_ref().unwrap().attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert!(keys.contains(&"process.cgroup") && !keys.contains(&"process.command_line"), "{keys:?}");
}

#[test]
fn processes_are_filtered_by_name_and_by_resource_attribute() {
    let none =
        scrape("scrapers: {process: {mute_process_all_errors: true, exclude: {names: ['^weir'], match_type: regexp}}}");
    assert!(none.resource_metrics.is_empty());
    let kept = scrape(
        "scrapers: {process: {mute_process_all_errors: true, include: {names: ['weir worker'], match_type: strict}}}",
    );
    assert_eq!(kept.resource_metrics.len(), 1);
    let by_owner = scrape(
        "scrapers: {process: {mute_process_all_errors: true, resource_attributes: {process.owner: {enabled: true, metrics_exclude: [{strict: weir}]}}}}",
    );
    assert!(by_owner.resource_metrics.is_empty(), "the only process is owned by weir");
}

#[test]
fn processes_younger_than_scrape_process_delay_wait() {
    // The recorded process started an hour after the recorded boot (December 2026), so a delay
    // of an hour keeps it and one of a hundred years skips it.
    let kept = scrape("scrapers: {process: {mute_process_all_errors: true, scrape_process_delay: 1h}}");
    assert_eq!(kept.resource_metrics.len(), 1);
    let years = scrape("scrapers: {process: {mute_process_all_errors: true, scrape_process_delay: 876000h}}");
    assert!(years.resource_metrics.is_empty(), "not old enough yet");
}

#[test]
fn system_uptime_counts_from_boot() {
    let out = scrape("scrapers: {system: }");
    let up = value(&out.resource_metrics, "system.uptime", &[]);
    let expect = (weir_core::pdata::now_unix_nano() - BOOT_NANOS) as f64 / 1e9;
    assert!((expect - up).abs() < 5.0, "{up} vs {expect}");
}

#[test]
fn filesystems_are_statvfs_of_the_mount_points_under_the_root() {
    let out = scrape("scrapers: {filesystem: }");
    let r = &out.resource_metrics;
    let used = points(r, "system.filesystem.usage");
    assert_eq!(used.len(), 3, "only `/`: proc and tmpfs are virtual: {used:?}");
    let (attrs, _) = &used[0];
    assert_eq!(
        (attrs["device"].as_str(), attrs["mountpoint"].as_str(), attrs["type"].as_str(), attrs["mode"].as_str()),
        ("/dev/nvme0n1p1", "/", "ext4", "rw")
    );
    let with_virtual = scrape("scrapers: {filesystem: {include_virtual_filesystems: true, exclude_mount_points: {mount_points: [/proc], match_type: strict}}}");
    let mounts: std::collections::BTreeSet<String> = points(&with_virtual.resource_metrics, "system.filesystem.usage")
        .into_iter()
        .map(|(a, _)| a["mountpoint"].clone())
        .collect();
    assert_eq!(mounts.into_iter().collect::<Vec<_>>(), vec!["/"], "/proc excluded");
    assert_eq!(with_virtual.errored, 1, "tmpfs is now in, but testdata/root/dev/shm does not exist");
    assert!(with_virtual.errors[0].contains("dev/shm"), "{:?}", with_virtual.errors);
}

#[tokio::test]
async fn the_receiver_sends_scrapes_into_its_metrics_pipeline() {
    let mut registry = weir_core::Registry::new();
    crate::register(&mut registry);
    let (sink, mut exported) = weir_core::testing::CollectingSink::new("test", weir_core::testing::accept_all);
    registry.add_exporter(sink);
    let yaml = format!(
        "receivers: {{hostmetrics: {{collection_interval: 50ms, initial_delay: 0s, root_path: {}, scrapers: {{load: , memory: }}}}}}\n\
         exporters: {{test: }}\nservice: {{pipelines: {{metrics: {{receivers: [hostmetrics], exporters: [test]}}}}}}\n",
        root().display()
    );
    let config = weir_core::config::load_str("hm.yaml", &yaml, &registry, &|_| None).expect("valid");
    let service = weir_core::runtime::Service::start(&config, &registry, Default::default()).await.expect("starts");
    let payload =
        tokio::time::timeout(Duration::from_secs(10), exported.recv()).await.expect("a scrape in time").expect("open");
    let second =
        tokio::time::timeout(Duration::from_secs(10), exported.recv()).await.expect("scrapes repeat").expect("open");
    service.shutdown().await;
    let req = payload.decode_metrics().expect("OTLP metrics");
    assert_eq!(payload.items(), 3 + 6, "3 load averages, 6 memory states");
    assert_eq!(value(&req.resource_metrics, "system.cpu.load_average.1m", &[]), 0.52);
    assert_eq!(value(&req.resource_metrics, "system.memory.usage", &[("state", "free")]), 1317696.0 * 1024.0);
    assert_eq!(second.items(), 9);
}
