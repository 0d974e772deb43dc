//! Each scraper's metrics as the Collector's `metadata.yaml` declares them (name, unit, type,
//! whether on by default), and [`Emitter`], which turns recorded values into OTLP metrics.

use super::config::MetricsBuilderConfig;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint, Sum,
};

/// Sum or gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A cumulative sum, monotonic or not.
    Sum {
        monotonic: bool,
    },
    Gauge,
}

/// The value type of the data points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Int,
    Double,
}

/// One metric of `metadata.yaml`.
#[derive(Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    pub shape: Shape,
    pub value: ValueType,
    /// On by default.
    pub enabled: bool,
}

/// One resource attribute of `metadata.yaml`.
#[derive(Debug)]
pub struct AttributeDef {
    pub name: &'static str,
    pub enabled: bool,
}

const fn def(
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    shape: Shape,
    value: ValueType,
    enabled: bool,
) -> MetricDef {
    MetricDef { name, description, unit, shape, value, enabled }
}

const MONO: Shape = Shape::Sum { monotonic: true };
const UPDOWN: Shape = Shape::Sum { monotonic: false };
const GAUGE: Shape = Shape::Gauge;
use ValueType::{Double as D, Int as I};

pub mod cpu {
    use super::*;
    pub const TIME: MetricDef =
        def("system.cpu.time", "Total seconds each logical CPU spent on each mode.", "s", MONO, D, true);
    pub const UTILIZATION: MetricDef = def("system.cpu.utilization", "Difference in system.cpu.time since the last measurement per logical CPU, divided by the elapsed time (value in interval [0,1]).", "1", GAUGE, D, false);
    pub const PHYSICAL_COUNT: MetricDef =
        def("system.cpu.physical.count", "Number of available physical CPUs.", "{cpu}", UPDOWN, I, false);
    pub const LOGICAL_COUNT: MetricDef =
        def("system.cpu.logical.count", "Number of available logical CPUs.", "{cpu}", UPDOWN, I, false);
    pub const FREQUENCY: MetricDef =
        def("system.cpu.frequency", "Current frequency of the CPU core in Hz.", "Hz", GAUGE, D, false);
    pub const ALL: &[&MetricDef] = &[&TIME, &UTILIZATION, &PHYSICAL_COUNT, &LOGICAL_COUNT, &FREQUENCY];
}

pub mod memory {
    use super::*;
    pub const LIMIT: MetricDef = def("system.memory.limit", "Total bytes of memory available.", "By", UPDOWN, I, false);
    pub const USAGE: MetricDef = def("system.memory.usage", "Bytes of memory in use.", "By", UPDOWN, I, true);
    pub const UTILIZATION: MetricDef =
        def("system.memory.utilization", "Percentage of memory bytes in use.", "1", GAUGE, D, false);
    pub const PAGE_SIZE: MetricDef = def(
        "system.memory.page_size",
        "A constant value for the system's configured page size.",
        "By",
        GAUGE,
        I,
        false,
    );
    pub const AVAILABLE: MetricDef = def("system.linux.memory.available", "An estimate of how much memory is available for starting new applications, without swapping. This is a more accurate alternative than system.memory.usage with state=free. (Linux only)", "By", UPDOWN, I, false);
    pub const DIRTY: MetricDef = def(
        "system.linux.memory.dirty",
        "The amount of dirty memory according to `/proc/meminfo`.",
        "By",
        UPDOWN,
        I,
        false,
    );
    pub const ALL: &[&MetricDef] = &[&LIMIT, &USAGE, &UTILIZATION, &PAGE_SIZE, &AVAILABLE, &DIRTY];
}

pub mod load {
    use super::*;
    pub const M1: MetricDef =
        def("system.cpu.load_average.1m", "Average CPU Load over 1 minute.", "{thread}", GAUGE, D, true);
    pub const M5: MetricDef =
        def("system.cpu.load_average.5m", "Average CPU Load over 5 minutes.", "{thread}", GAUGE, D, true);
    pub const M15: MetricDef =
        def("system.cpu.load_average.15m", "Average CPU Load over 15 minutes.", "{thread}", GAUGE, D, true);
    pub const ALL: &[&MetricDef] = &[&M1, &M5, &M15];
}

pub mod disk {
    use super::*;
    pub const IO: MetricDef = def("system.disk.io", "Disk bytes transferred.", "By", MONO, I, true);
    pub const OPERATIONS: MetricDef =
        def("system.disk.operations", "Disk operations count.", "{operations}", MONO, I, true);
    pub const IO_TIME: MetricDef = def(
        "system.disk.io_time",
        "Time disk spent activated. On Windows, this is calculated as the inverse of disk idle time.",
        "s",
        MONO,
        D,
        true,
    );
    pub const OPERATION_TIME: MetricDef =
        def("system.disk.operation_time", "Time spent in disk operations.", "s", MONO, D, true);
    pub const WEIGHTED_IO_TIME: MetricDef = def(
        "system.disk.weighted_io_time",
        "Time disk spent activated multiplied by the queue length.",
        "s",
        MONO,
        D,
        true,
    );
    pub const PENDING_OPERATIONS: MetricDef = def(
        "system.disk.pending_operations",
        "The queue size of pending I/O operations.",
        "{operations}",
        UPDOWN,
        I,
        true,
    );
    pub const MERGED: MetricDef = def(
        "system.disk.merged",
        "The number of disk reads/writes merged into single physical disk access operations.",
        "{operations}",
        MONO,
        I,
        true,
    );
    pub const ALL: &[&MetricDef] =
        &[&IO, &OPERATIONS, &IO_TIME, &OPERATION_TIME, &WEIGHTED_IO_TIME, &PENDING_OPERATIONS, &MERGED];
}

pub mod filesystem {
    use super::*;
    pub const USAGE: MetricDef = def("system.filesystem.usage", "Filesystem bytes used.", "By", UPDOWN, I, true);
    pub const INODES_USAGE: MetricDef =
        def("system.filesystem.inodes.usage", "FileSystem inodes used.", "{inodes}", UPDOWN, I, true);
    pub const UTILIZATION: MetricDef =
        def("system.filesystem.utilization", "Fraction of filesystem bytes used.", "1", GAUGE, D, false);
    pub const ALL: &[&MetricDef] = &[&USAGE, &INODES_USAGE, &UTILIZATION];
}

pub mod network {
    use super::*;
    pub const PACKETS: MetricDef =
        def("system.network.packets", "The number of packets transferred.", "{packets}", MONO, I, true);
    pub const DROPPED: MetricDef =
        def("system.network.dropped", "The number of packets dropped.", "{packets}", MONO, I, true);
    pub const ERRORS: MetricDef =
        def("system.network.errors", "The number of errors encountered.", "{errors}", MONO, I, true);
    pub const IO: MetricDef =
        def("system.network.io", "The number of bytes transmitted and received.", "By", MONO, I, true);
    pub const CONNECTIONS: MetricDef =
        def("system.network.connections", "The number of connections.", "{connections}", UPDOWN, I, true);
    pub const CONNTRACK_COUNT: MetricDef = def(
        "system.network.conntrack.count",
        "The count of entries in conntrack table.",
        "{entries}",
        UPDOWN,
        I,
        false,
    );
    pub const CONNTRACK_MAX: MetricDef = def(
        "system.network.conntrack.max",
        "The limit for entries in the conntrack table.",
        "{entries}",
        UPDOWN,
        I,
        false,
    );
    pub const ALL: &[&MetricDef] = &[&PACKETS, &DROPPED, &ERRORS, &IO, &CONNECTIONS, &CONNTRACK_COUNT, &CONNTRACK_MAX];
}

pub mod paging {
    use super::*;
    pub const USAGE: MetricDef =
        def("system.paging.usage", "Swap (unix) or pagefile (windows) usage.", "By", UPDOWN, I, true);
    pub const OPERATIONS: MetricDef =
        def("system.paging.operations", "The number of paging operations.", "{operations}", MONO, I, true);
    pub const FAULTS: MetricDef = def("system.paging.faults", "The number of page faults.", "{faults}", MONO, I, true);
    pub const UTILIZATION: MetricDef =
        def("system.paging.utilization", "Swap (unix) or pagefile (windows) utilization.", "1", GAUGE, D, false);
    pub const ALL: &[&MetricDef] = &[&USAGE, &OPERATIONS, &FAULTS, &UTILIZATION];
}

pub mod processes {
    use super::*;
    pub const CREATED: MetricDef =
        def("system.processes.created", "Total number of created processes.", "{processes}", MONO, I, true);
    pub const COUNT: MetricDef =
        def("system.processes.count", "Total number of processes in each state.", "{processes}", UPDOWN, I, true);
    pub const ALL: &[&MetricDef] = &[&CREATED, &COUNT];
}

pub mod process {
    use super::*;
    pub const CPU_TIME: MetricDef =
        def("process.cpu.time", "Total CPU seconds broken down by different states.", "s", MONO, D, true);
    pub const CPU_UTILIZATION: MetricDef = def("process.cpu.utilization", "Percentage of total CPU time used by the process since last scrape, expressed as a value between 0 and 1. On the first scrape, no data point is emitted for this metric.", "1", GAUGE, D, false);
    pub const MEMORY_USAGE: MetricDef =
        def("process.memory.usage", "The amount of physical memory in use.", "By", UPDOWN, I, true);
    pub const MEMORY_VIRTUAL: MetricDef = def("process.memory.virtual", "Virtual memory size.", "By", UPDOWN, I, true);
    pub const MEMORY_UTILIZATION: MetricDef = def(
        "process.memory.utilization",
        "Percentage of total physical memory that is used by the process.",
        "1",
        GAUGE,
        D,
        false,
    );
    pub const DISK_IO: MetricDef = def("process.disk.io", "Disk bytes transferred.", "By", MONO, I, true);
    pub const PAGING_FAULTS: MetricDef =
        def("process.paging.faults", "Number of page faults the process has made.", "{faults}", MONO, I, false);
    pub const SIGNALS_PENDING: MetricDef =
        def("process.signals_pending", "Number of pending signals for the process.", "{signals}", UPDOWN, I, false);
    pub const THREADS: MetricDef = def("process.threads", "Process threads count.", "{threads}", UPDOWN, I, false);
    pub const OPEN_FILE_DESCRIPTORS: MetricDef = def(
        "process.open_file_descriptors",
        "Number of file descriptors in use by the process.",
        "{count}",
        UPDOWN,
        I,
        false,
    );
    pub const HANDLES: MetricDef =
        def("process.handles", "Number of open handles held by the process.", "{count}", UPDOWN, I, false);
    pub const CONTEXT_SWITCHES: MetricDef = def(
        "process.context_switches",
        "Number of times the process has been context switched.",
        "{count}",
        MONO,
        I,
        false,
    );
    pub const DISK_OPERATIONS: MetricDef = def(
        "process.disk.operations",
        "Number of disk operations performed by the process.",
        "{operations}",
        MONO,
        I,
        false,
    );
    pub const UPTIME: MetricDef = def("process.uptime", "The time the process has been running.", "s", GAUGE, D, false);
    pub const ALL: &[&MetricDef] = &[
        &CPU_TIME,
        &CPU_UTILIZATION,
        &MEMORY_USAGE,
        &MEMORY_VIRTUAL,
        &MEMORY_UTILIZATION,
        &DISK_IO,
        &PAGING_FAULTS,
        &SIGNALS_PENDING,
        &THREADS,
        &OPEN_FILE_DESCRIPTORS,
        &HANDLES,
        &CONTEXT_SWITCHES,
        &DISK_OPERATIONS,
        &UPTIME,
    ];
    pub const RESOURCE_ATTRIBUTES: &[AttributeDef] = &[
        AttributeDef { name: "process.pid", enabled: true },
        AttributeDef { name: "process.parent_pid", enabled: true },
        AttributeDef { name: "process.executable.name", enabled: true },
        AttributeDef { name: "process.executable.path", enabled: true },
        AttributeDef { name: "process.command", enabled: true },
        AttributeDef { name: "process.command_line", enabled: true },
        AttributeDef { name: "process.owner", enabled: true },
        AttributeDef { name: "process.cgroup", enabled: false },
    ];
}

pub mod system {
    use super::*;
    pub const UPTIME: MetricDef = def("system.uptime", "The time the system has been running", "s", GAUGE, D, true);
    pub const ALL: &[&MetricDef] = &[&UPTIME];
}

/// The scrapers, by their key under `scrapers`.
pub const SCRAPERS: &[&str] =
    &["cpu", "disk", "filesystem", "load", "memory", "network", "paging", "processes", "process", "system"];

/// The metrics of scraper `name` (none for an unknown name).
pub fn metrics_of(name: &str) -> &'static [&'static MetricDef] {
    match name {
        "cpu" => cpu::ALL,
        "memory" => memory::ALL,
        "load" => load::ALL,
        "disk" => disk::ALL,
        "filesystem" => filesystem::ALL,
        "network" => network::ALL,
        "paging" => paging::ALL,
        "processes" => processes::ALL,
        "process" => process::ALL,
        "system" => system::ALL,
        _ => &[],
    }
}

/// The resource attributes of scraper `name`.
pub fn resource_attributes_of(name: &str) -> &'static [AttributeDef] {
    match name {
        "process" => process::RESOURCE_ATTRIBUTES,
        _ => &[],
    }
}

/// The instrumentation scope name of a scraper: the Collector's package path, so dashboards and
/// processors that select by scope keep working.
pub fn scope_name(scraper: &str) -> String {
    format!(
        "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/{scraper}scraper"
    )
}

/// A recorded value.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    I(i64),
    D(f64),
}

/// Collects the data points of one resource, grouped by metric in first-recorded order;
/// disabled metrics are dropped at the door.
pub struct Emitter<'a> {
    config: &'a MetricsBuilderConfig,
    /// Start time of the points (what cumulative sums count from), Unix nanoseconds.
    start: u64,
    /// Time of every data point, Unix nanoseconds.
    now: u64,
    metrics: Vec<Metric>,
    points: usize,
}

impl<'a> Emitter<'a> {
    pub fn new(config: &'a MetricsBuilderConfig, start: u64, now: u64) -> Self {
        Emitter { config, start, now, metrics: Vec::new(), points: 0 }
    }

    pub fn enabled(&self, def: &MetricDef) -> bool {
        self.config.enabled(def)
    }

    /// Records one data point of `def` with `attrs`.
    pub fn record(&mut self, def: &MetricDef, value: Num, attrs: &[(&str, &str)]) {
        if !self.config.enabled(def) {
            return;
        }
        let value = match (def.value, value) {
            (ValueType::Int, Num::I(v)) => number_data_point::Value::AsInt(v),
            (ValueType::Int, Num::D(v)) => number_data_point::Value::AsInt(v as i64),
            (ValueType::Double, Num::D(v)) => number_data_point::Value::AsDouble(v),
            (ValueType::Double, Num::I(v)) => number_data_point::Value::AsDouble(v as f64),
        };
        let point = NumberDataPoint {
            attributes: attrs.iter().map(|(k, v)| string_attr(k, v)).collect(),
            // As the Collector's generated builders: every point carries the start time.
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            value: Some(value),
            ..Default::default()
        };
        self.points += 1;
        let metric = match self.metrics.iter().position(|m| m.name == def.name) {
            Some(i) => &mut self.metrics[i],
            None => {
                self.metrics.push(Metric {
                    name: def.name.into(),
                    description: def.description.into(),
                    unit: def.unit.into(),
                    data: Some(match def.shape {
                        Shape::Gauge => metric::Data::Gauge(Gauge { data_points: Vec::new() }),
                        Shape::Sum { monotonic } => metric::Data::Sum(Sum {
                            data_points: Vec::new(),
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: monotonic,
                        }),
                    }),
                    ..Default::default()
                });
                self.metrics.last_mut().expect("just pushed")
            }
        };
        match &mut metric.data {
            Some(metric::Data::Gauge(g)) => g.data_points.push(point),
            Some(metric::Data::Sum(s)) => s.data_points.push(point),
            _ => {}
        }
    }

    /// The number of data points recorded.
    pub fn points(&self) -> usize {
        self.points
    }

    pub fn finish(self) -> Vec<Metric> {
        self.metrics
    }
}

pub fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

pub fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}
