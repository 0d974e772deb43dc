//! The Collector's tables: `CREATE` statements (run with `create_schema: true`) and the
//! column lists of the `INSERT`s.
//!
//! Which version of the Collector's DDL (see the crate README for the full text):
//!
//! - `otel_traces`, `<traces>_trace_id_ts` and its materialized view: the current templates
//!   (`internal/sqltemplates`, 2025-2026), with the bloom-filter indexes the Collector uses on
//!   servers without full-text indexes (before 26.2), so one DDL serves every supported server.
//! - `otel_logs`: the current template (contrib PR #47720: no `TimestampTime` column, `EventName`
//!   and eight `__otel_materialized_*` k8s columns, ordered by
//!   `(toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)`), plus
//!   `TimestampTime DateTime ALIAS toDateTime(Timestamp)`, the workaround of contrib issue
//!   #48770 that keeps the Grafana data source's log queries working. An `ALIAS` column takes no
//!   space and is not part of the `INSERT`.
//! - The five metric tables: the v0.124 layout (`DateTime64(9)` times), the last one whose every
//!   table is documented; the newer per-table variants differ between releases.
//!
//! The `INSERT`s name their columns, so tables created by hand, or by the Collector, with extra
//! columns (defaults, aliases, materialized) accept them as long as these columns exist with
//! these types.

use std::time::Duration;

/// One of the exporter's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Traces,
    Logs,
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl Table {
    /// The metric tables, in the order of their bit in a progress mask.
    pub const METRICS: [Table; 5] =
        [Table::Gauge, Table::Sum, Table::Histogram, Table::ExponentialHistogram, Table::Summary];

    /// The `INSERT`'s column list, in the order rows are encoded.
    pub fn insert_columns(self) -> &'static [&'static str] {
        match self {
            Table::Traces => TRACE_COLUMNS,
            Table::Logs => LOG_COLUMNS,
            Table::Gauge => GAUGE_COLUMNS,
            Table::Sum => SUM_COLUMNS,
            Table::Histogram => HISTOGRAM_COLUMNS,
            Table::ExponentialHistogram => EXP_HISTOGRAM_COLUMNS,
            Table::Summary => SUMMARY_COLUMNS,
        }
    }

    /// The column that the table's `TTL` is computed from.
    fn ttl_time(self) -> &'static str {
        match self {
            Table::Traces | Table::Logs => "toDateTime(Timestamp)",
            _ => "toDateTime(TimeUnix)",
        }
    }

    fn columns_ddl(self) -> &'static str {
        match self {
            Table::Traces => TRACES_DDL,
            Table::Logs => LOGS_DDL,
            Table::Gauge => GAUGE_DDL,
            Table::Sum => SUM_DDL,
            Table::Histogram => HISTOGRAM_DDL,
            Table::ExponentialHistogram => EXP_HISTOGRAM_DDL,
            Table::Summary => SUMMARY_DDL,
        }
    }

    /// What follows `ENGINE = …` and the `TTL`: partitioning, ordering, settings.
    fn layout_ddl(self) -> &'static str {
        match self {
            Table::Traces => "PARTITION BY toDate(Timestamp)\nPRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))\nORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)",
            Table::Logs => "PARTITION BY toDate(Timestamp)\nORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)",
            _ => "PARTITION BY toDate(TimeUnix)\nORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))",
        }
    }
}

/// Where and how the tables are created: the config's `database`, `cluster_name`,
/// `table_engine` and `ttl`.
#[derive(Debug, Clone)]
pub struct SchemaOptions {
    pub database: String,
    pub cluster_name: String,
    /// `ENGINE = name(params)`.
    pub engine: String,
    pub ttl: Duration,
}

/// `` `name` `` (names were checked to hold no backquote).
pub fn ident(name: &str) -> String {
    format!("`{name}`")
}

/// `db`.`table`.
pub fn qualified(database: &str, table: &str) -> String {
    format!("{}.{}", ident(database), ident(table))
}

impl SchemaOptions {
    fn on_cluster(&self) -> String {
        if self.cluster_name.is_empty() {
            String::new()
        } else {
            format!(" ON CLUSTER {}", ident(&self.cluster_name))
        }
    }

    /// `TTL <time> + toInterval<Unit>(n)` in the largest unit that divides `ttl`, as the
    /// Collector renders it; empty without a TTL.
    pub fn ttl_clause(&self, time: &str) -> String {
        let secs = self.ttl.as_secs();
        if secs == 0 {
            return String::new();
        }
        let (unit, n) = if secs.is_multiple_of(86_400) {
            ("Day", secs / 86_400)
        } else if secs.is_multiple_of(3_600) {
            ("Hour", secs / 3_600)
        } else if secs.is_multiple_of(60) {
            ("Minute", secs / 60)
        } else {
            ("Second", secs)
        };
        format!("TTL {time} + toInterval{unit}({n})")
    }

    /// `CREATE DATABASE IF NOT EXISTS`.
    pub fn create_database(&self) -> String {
        format!("CREATE DATABASE IF NOT EXISTS {}{}", ident(&self.database), self.on_cluster())
    }

    /// The `CREATE TABLE IF NOT EXISTS` of `table`, named `name`.
    pub fn create_table(&self, table: Table, name: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {}{} (\n{}\n) ENGINE = {}\n{}\n{}\nSETTINGS index_granularity = 8192, ttl_only_drop_parts = 1",
            qualified(&self.database, name),
            self.on_cluster(),
            table.columns_ddl(),
            self.engine,
            table.layout_ddl(),
            self.ttl_clause(table.ttl_time()),
        )
    }

    /// The trace-id lookup table `<traces>_trace_id_ts`: the first and last start time of each
    /// trace id, per insert block (readers aggregate with `min(Start)`, `max(End)`).
    pub fn create_trace_id_ts(&self, traces: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {}{} (\n\
             \x20   TraceId String CODEC(ZSTD(1)),\n\
             \x20   Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),\n\
             \x20   End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))\n\
             ) ENGINE = {}\n\
             PARTITION BY toStartOfWeek(Start)\n\
             ORDER BY (TraceId)\n\
             {}\n\
             SETTINGS index_granularity = 8192",
            qualified(&self.database, &format!("{traces}_trace_id_ts")),
            self.on_cluster(),
            self.engine,
            self.ttl_clause("toDateTime(Start)"),
        )
    }

    /// The materialized view `<traces>_trace_id_ts_mv` that fills the lookup table.
    pub fn create_trace_id_ts_mv(&self, traces: &str) -> String {
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {}{}\n\
             TO {}\n\
             AS SELECT\n\
             \x20   TraceId,\n\
             \x20   min(Timestamp) AS Start,\n\
             \x20   max(Timestamp) AS End\n\
             FROM {}\n\
             WHERE TraceId != ''\n\
             GROUP BY TraceId",
            qualified(&self.database, &format!("{traces}_trace_id_ts_mv")),
            self.on_cluster(),
            qualified(&self.database, &format!("{traces}_trace_id_ts")),
            qualified(&self.database, traces),
        )
    }

    /// `INSERT INTO db.table (columns…) FORMAT RowBinary`.
    pub fn insert(&self, table: Table, name: &str) -> String {
        let columns: Vec<String> = table.insert_columns().iter().map(|c| ident(c)).collect();
        format!("INSERT INTO {} ({}) FORMAT RowBinary", qualified(&self.database, name), columns.join(", "))
    }
}

const TRACE_COLUMNS: &[&str] = &[
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
];

const LOG_COLUMNS: &[&str] = &[
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
    "EventName",
];

/// What every metric table starts with.
macro_rules! metric_columns {
    ($($extra:literal),* $(,)?) => {
        &[
            "ResourceAttributes",
            "ResourceSchemaUrl",
            "ScopeName",
            "ScopeVersion",
            "ScopeAttributes",
            "ScopeDroppedAttrCount",
            "ScopeSchemaUrl",
            "ServiceName",
            "MetricName",
            "MetricDescription",
            "MetricUnit",
            "Attributes",
            "StartTimeUnix",
            "TimeUnix",
            $($extra),*
        ]
    };
}

const GAUGE_COLUMNS: &[&str] = metric_columns!(
    "Value",
    "Flags",
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
);
const SUM_COLUMNS: &[&str] = metric_columns!(
    "Value",
    "Flags",
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
    "AggregationTemporality",
    "IsMonotonic",
);
const HISTOGRAM_COLUMNS: &[&str] = metric_columns!(
    "Count",
    "Sum",
    "BucketCounts",
    "ExplicitBounds",
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
    "Flags",
    "Min",
    "Max",
    "AggregationTemporality",
);
const EXP_HISTOGRAM_COLUMNS: &[&str] = metric_columns!(
    "Count",
    "Sum",
    "Scale",
    "ZeroCount",
    "PositiveOffset",
    "PositiveBucketCounts",
    "NegativeOffset",
    "NegativeBucketCounts",
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
    "Flags",
    "Min",
    "Max",
    "AggregationTemporality",
);
const SUMMARY_COLUMNS: &[&str] =
    metric_columns!("Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value", "Flags");

const TRACES_DDL: &str = "    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    ResourceAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    SpanAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(SpanAttributes, 'Array(Tuple(String, String))')),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8";

const LOGS_DDL: &str = "    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    `__otel_materialized_k8s.cluster.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.cluster.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.container.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.container.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.deployment.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.deployment.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.namespace.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.namespace.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.node.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.node.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.pod.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.pod.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.pod.uid` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.pod.uid'] CODEC(ZSTD(1)),
    `__otel_materialized_deployment.environment.name` LowCardinality(String) MATERIALIZED ResourceAttributes['deployment.environment.name'] CODEC(ZSTD(1)),
    TimestampTime DateTime ALIAS toDateTime(Timestamp),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8";

/// The `Exemplars` column of the gauge, sum and histogram tables.
macro_rules! exemplars_ddl {
    () => {
        "    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1))"
    };
}

/// The leading columns of every metric table.
macro_rules! metric_ddl {
    ($($specific:expr),+ $(,)?) => {
        concat!(
            "    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
",
            $($specific),+,
            ",
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1"
        )
    };
}

const GAUGE_DDL: &str = metric_ddl!(
    "    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
",
    exemplars_ddl!()
);

const SUM_DDL: &str = metric_ddl!(
    "    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
",
    exemplars_ddl!(),
    ",
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic Boolean CODEC(Delta, ZSTD(1))"
);

const HISTOGRAM_DDL: &str = metric_ddl!(
    "    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),
",
    exemplars_ddl!(),
    ",
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1))"
);

const EXP_HISTOGRAM_DDL: &str = metric_ddl!(
    "    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
",
    exemplars_ddl!(),
    ",
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1))"
);

const SUMMARY_DDL: &str = metric_ddl!(
    "    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1))"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn options(ttl: Duration) -> SchemaOptions {
        SchemaOptions { database: "otel".into(), cluster_name: String::new(), engine: "MergeTree()".into(), ttl }
    }

    #[test]
    fn ttl_is_rendered_in_the_largest_unit_that_divides_it() {
        let t = |secs| options(Duration::from_secs(secs)).ttl_clause("toDateTime(Timestamp)");
        assert_eq!(t(0), "");
        assert_eq!(t(72 * 3600), "TTL toDateTime(Timestamp) + toIntervalDay(3)");
        assert_eq!(t(5 * 3600), "TTL toDateTime(Timestamp) + toIntervalHour(5)");
        assert_eq!(t(90), "TTL toDateTime(Timestamp) + toIntervalSecond(90)");
        assert_eq!(t(120), "TTL toDateTime(Timestamp) + toIntervalMinute(2)");
    }

    #[test]
    fn every_inserted_column_is_created() {
        for table in [Table::Traces, Table::Logs].into_iter().chain(Table::METRICS) {
            let ddl = table.columns_ddl();
            for column in table.insert_columns() {
                let name = column.split('.').next_back().unwrap_or(column);
                assert!(ddl.contains(&format!("{name} ")), "{table:?}: {column} is not in the DDL");
            }
        }
    }

    #[test]
    fn ddl_names_the_database_cluster_engine_and_ttl() {
        let mut o = options(Duration::from_secs(86_400));
        o.cluster_name = "main".into();
        o.engine = "ReplicatedMergeTree('/t/{shard}', '{replica}')".into();
        let ddl = o.create_table(Table::Traces, "otel_traces");
        assert!(ddl.starts_with("CREATE TABLE IF NOT EXISTS `otel`.`otel_traces` ON CLUSTER `main` (\n"), "{ddl}");
        assert!(ddl.contains(") ENGINE = ReplicatedMergeTree('/t/{shard}', '{replica}')\n"), "{ddl}");
        assert!(ddl.contains("TTL toDateTime(Timestamp) + toIntervalDay(1)\nSETTINGS"), "{ddl}");
        let mv = o.create_trace_id_ts_mv("otel_traces");
        assert!(mv.contains("TO `otel`.`otel_traces_trace_id_ts`\n"), "{mv}");
        assert!(mv.contains("FROM `otel`.`otel_traces`\nWHERE TraceId != ''"), "{mv}");
        assert_eq!(o.create_database(), "CREATE DATABASE IF NOT EXISTS `otel` ON CLUSTER `main`");
        assert!(o.insert(Table::Summary, "s").ends_with("`ValueAtQuantiles.Value`, `Flags`) FORMAT RowBinary"));
    }
}
