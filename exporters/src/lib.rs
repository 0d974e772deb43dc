//! weir-exporters: where pipelines end.
//!
//! | type | signals | sends to |
//! |---|---|---|
//! | `otlp` (alias `otlp_grpc`) | traces, metrics, logs | an OTLP/gRPC server, bytes forwarded as received |
//! | `otlphttp` (alias `otlp_http`) | traces, metrics, logs | an OTLP/HTTP server, protobuf or JSON |
//! | `debug` | traces, metrics, logs | weir's own log (`tracing`, target `weir::debug`) |
//! | `file` | traces, metrics, logs | a local file, OTLP/JSON lines or length-prefixed protobuf, rotated |
//! | `parquet` (feature `parquet`, on by default) | traces, metrics, logs | Parquet files, hive-partitioned by UTC date and hour, for DuckDB, pyarrow, Spark |
//! | `clickhouse` (feature `clickhouse`, on by default) | traces, metrics, logs | the Collector's ClickHouse tables, RowBinary over HTTP(S) |
//! | `kafka` (feature `kafka`, on by default) | traces, metrics, logs | Kafka topics, the Collector's message formats (rdkafka) |
//! | `loadbalancing` | traces, metrics, logs | a set of OTLP/gRPC backends, each key (trace id, service, …) always to the same one (the Collector's ring) |
//! | `nop` | traces, metrics, logs | nowhere (benchmarks and tests) |
//!
//! An exporter only *sends*: the sending queue, concurrency, per-attempt timeout, retries with
//! backoff, the `otelcol_exporter_*` metrics and acknowledgements are the shared plumbing in
//! [`weir_core::exporterhelper`], configured by the `timeout`, `retry_on_failure` and
//! `sending_queue` keys every config here carries ([`weir_core::exporterhelper::ExporterConfig`]). What an exporter decides is
//! whether a failure is worth retrying ([`Failure::retryable`](weir_core::Failure)) and, when
//! the server said so, how long to wait first ([`Failure::retry_after`](weir_core::Failure)).
//!
//! Exporters are built once per signal. The network exporters share nothing between signals
//! but their configuration; `file` instances writing to one path share one writer.

#[cfg(feature = "clickhouse")]
pub mod clickhouse;
pub mod debug;
pub mod file;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod loadbalancing;
pub mod nop;
pub mod otlp;
pub mod otlphttp;
#[cfg(feature = "parquet")]
pub mod parquet;
mod transport;

/// Registers every exporter of this crate, and the Collector's newer names for the OTLP ones.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_exporter(otlp::OtlpExporterFactory);
    registry.alias_exporter("otlp_grpc", otlp::TYPE_NAME);
    registry.add_exporter(otlphttp::OtlpHttpExporterFactory);
    registry.alias_exporter("otlp_http", otlphttp::TYPE_NAME);
    registry.add_exporter(debug::DebugExporterFactory);
    registry.add_exporter(file::FileExporterFactory);
    registry.add_exporter(nop::NopExporterFactory);
    registry.add_exporter(loadbalancing::LoadBalancingFactory);
    #[cfg(feature = "parquet")]
    registry.add_exporter(parquet::ParquetExporterFactory);
    #[cfg(feature = "clickhouse")]
    registry.add_exporter(clickhouse::ClickHouseExporterFactory);
    #[cfg(feature = "kafka")]
    registry.add_exporter(kafka::KafkaExporterFactory);
}

#[cfg(test)]
mod testdata;

#[cfg(test)]
mod tests {
    use weir_core::component::Kind;

    #[test]
    fn register_adds_every_exporter_and_the_aliases() {
        let mut r = weir_core::Registry::new();
        super::register(&mut r);
        let mut expected = vec!["debug", "file", "loadbalancing", "nop", "otlp", "otlp_grpc", "otlp_http", "otlphttp"];
        if cfg!(feature = "parquet") {
            expected.push("parquet");
        }
        if cfg!(feature = "clickhouse") {
            expected.push("clickhouse");
        }
        if cfg!(feature = "kafka") {
            expected.push("kafka");
        }
        expected.sort_unstable();
        assert_eq!(r.names(Kind::Exporter), expected);
    }
}
