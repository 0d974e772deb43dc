//! `kafka` exporter settings: the Collector's keys and defaults. The client keys (`brokers`,
//! `client_id`, `protocol_version`) and the topic keys are the ones the receiver has too
//! ([`weir_core::kafka`]), squashed beside the exporter's own.

use super::messages::Partitioning;
use serde::Deserialize;
use std::time::Duration;
use weir_core::compression::Compression;
use weir_core::config::yaml::Squash;
use weir_core::exporterhelper::{QueueConfig, RetryConfig};
use weir_core::kafka::{KafkaClientConfig, KafkaTopicsConfig};
use weir_core::{ComponentConfig, Signal};

/// Settings of the `kafka` exporter: its own keys, the topic keys, the client keys.
pub type KafkaExporterConfig = Squash<Squash<KafkaExporterSettings, KafkaTopicsConfig>, KafkaClientConfig>;

/// The topic and encoding keys of an exporter config.
pub fn topics(c: &KafkaExporterConfig) -> &KafkaTopicsConfig {
    &c.own.shared
}

/// The `kafka` exporter's own keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaExporterSettings {
    /// One message per trace, keyed by the trace id in lowercase hex, so every span of a trace
    /// lands on one partition. Default false.
    pub partition_traces_by_id: bool,
    /// One message per resource, keyed by a hash of its sorted attributes. Default false.
    pub partition_metrics_by_resource_attributes: bool,
    /// One message per resource, keyed by a hash of its sorted attributes. Default false.
    pub partition_logs_by_resource_attributes: bool,
    /// Key log messages by their records' trace id (one message per trace id; records
    /// without one go unkeyed). Not together with `partition_logs_by_resource_attributes`.
    pub partition_logs_by_trace_id: bool,
    /// Client metadata keys (from a receiver with `include_metadata: true`) sent as Kafka
    /// headers on every message, one header per value.
    pub include_metadata_keys: Vec<String>,
    /// A resource attribute whose value is the topic: the first resource of a request that has
    /// it decides the topic of the whole request; without it, the signal's topic.
    pub topic_from_attribute: String,
    /// Producer settings.
    pub producer: ProducerConfig,
    /// Timeout of each send attempt (every message of a payload acknowledged by the broker);
    /// also librdkafka's `message.timeout.ms`. 0 disables it. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of failed sends; `max_elapsed_time` defaults to 120s here, as in the Collector.
    pub retry_on_failure: RetryConfig,
    /// The in-memory queue in front of the exporter.
    pub sending_queue: QueueConfig,
}

/// `producer`: how messages are produced.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// The largest message produced, in bytes; larger payloads are cut between items.
    /// Default 1000000 (librdkafka's `message.max.bytes`).
    pub max_message_bytes: usize,
    /// Acknowledgements the leader waits for: 0 (none), 1 (the leader, default) or -1 (all
    /// in-sync replicas). librdkafka's `acks`.
    pub required_acks: i16,
    /// `none` (default), `gzip`, `snappy`, `lz4` or `zstd`. librdkafka's `compression.codec`.
    pub compression: Compression,
    /// The most messages in one produce request; 0 (default) keeps librdkafka's default
    /// (10000). librdkafka's `batch.num.messages`.
    pub flush_max_messages: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            max_message_bytes: 1_000_000,
            required_acks: 1,
            compression: Compression::None,
            flush_max_messages: 0,
        }
    }
}

/// What librdkafka compresses messages with (`compression.codec`).
pub const COMPRESSIONS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

impl Default for KafkaExporterSettings {
    fn default() -> Self {
        KafkaExporterSettings {
            partition_traces_by_id: false,
            partition_metrics_by_resource_attributes: false,
            partition_logs_by_resource_attributes: false,
            partition_logs_by_trace_id: false,
            include_metadata_keys: Vec::new(),
            topic_from_attribute: String::new(),
            producer: ProducerConfig::default(),
            timeout: Duration::from_secs(5),
            retry_on_failure: RetryConfig { max_elapsed_time: Duration::from_secs(120), ..RetryConfig::default() },
            sending_queue: QueueConfig::default(),
        }
    }
}

weir_core::exporter_config!(KafkaExporterSettings);

/// librdkafka producer properties.
pub fn client_config(config: &KafkaExporterConfig) -> Result<rdkafka::ClientConfig, String> {
    let mut c = rdkafka::ClientConfig::new();
    config.shared.apply(&mut c)?;
    config.own.own.apply(&mut c);
    Ok(c)
}

impl KafkaExporterSettings {
    /// How payloads of `signal` are cut into messages.
    pub fn partitioning(&self, signal: Signal) -> Partitioning {
        match signal {
            Signal::Traces if self.partition_traces_by_id => Partitioning::TraceId,
            Signal::Metrics if self.partition_metrics_by_resource_attributes => Partitioning::ResourceAttributes,
            Signal::Logs if self.partition_logs_by_resource_attributes => Partitioning::ResourceAttributes,
            Signal::Logs if self.partition_logs_by_trace_id => Partitioning::TraceId,
            _ => Partitioning::None,
        }
    }

    fn apply(&self, c: &mut rdkafka::ClientConfig) {
        // Kafka's (and franz-go's, the Collector's client) partitioner for keyed messages, so
        // weir and Collector agents put a trace id on the same partition.
        c.set("partitioner", "murmur2_random")
            .set("acks", self.producer.required_acks.to_string())
            .set("compression.codec", self.producer.compression.as_str())
            // librdkafka refuses a message.max.bytes below 1000; the exporter cuts messages to
            // max_message_bytes itself, this only leaves room for the protocol overhead.
            .set("message.max.bytes", (self.producer.max_message_bytes.max(1000) + 1024).to_string())
            .set("message.timeout.ms", self.timeout.as_millis().min(i32::MAX as u128).to_string());
        if self.producer.flush_max_messages > 0 {
            c.set("batch.num.messages", self.producer.flush_max_messages.to_string());
        }
    }
}

impl ComponentConfig for KafkaExporterSettings {
    fn validate(&self) -> Result<(), String> {
        if self.partition_logs_by_resource_attributes && self.partition_logs_by_trace_id {
            return Err(
                "partition_logs_by_resource_attributes and partition_logs_by_trace_id cannot both be enabled".into()
            );
        }
        self.producer.compression.check_supported("producer::compression", &COMPRESSIONS)?;
        if !matches!(self.producer.required_acks, -1..=1) {
            return Err(format!(
                "producer::required_acks must be 0 (no response), 1 (the leader) or -1 (all in-sync replicas), not {}",
                self.producer.required_acks
            ));
        }
        if self.producer.max_message_bytes == 0 {
            return Err("producer::max_message_bytes must be greater than 0".into());
        }
        if self.producer.flush_max_messages > 1_000_000 {
            return Err("producer::flush_max_messages must be at most 1000000".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::exporterhelper::ExporterConfig;
    use weir_core::kafka::Encoding;

    fn parse(text: &str) -> Result<KafkaExporterConfig, String> {
        weir_core::testing::parse_exporter_config(text)
    }

    #[test]
    fn defaults_follow_the_collector() {
        let c = parse("{}").unwrap();
        assert_eq!(c.shared.brokers, ["localhost:9092"]);
        assert_eq!(c.shared.client_id, "otel-collector");
        assert_eq!(topics(&c).topic(Signal::Traces), "otlp_spans");
        assert_eq!(topics(&c).topic(Signal::Metrics), "otlp_metrics");
        assert_eq!(topics(&c).topic(Signal::Logs), "otlp_logs");
        assert_eq!(topics(&c).encoding(Signal::Traces), Encoding::OtlpProto);
        assert_eq!(c.producer, ProducerConfig::default());
        assert_eq!(c.producer.max_message_bytes, 1_000_000);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.retry_on_failure.max_elapsed_time, Duration::from_secs(120));
        assert_eq!(c.partitioning(Signal::Traces), Partitioning::None);
    }

    #[test]
    fn collector_keys_are_read() {
        let c = parse(
            "brokers: [k1:9092, k2:9092]\nprotocol_version: 2.1.0\nclient_id: agent\npartition_traces_by_id: true\n\
             partition_logs_by_resource_attributes: true\ntraces:\n  topic: spans\n  encoding: otlp_json\n\
             producer:\n  max_message_bytes: 500000\n  required_acks: -1\n  compression: zstd\n  flush_max_messages: 100\n\
             timeout: 2s\nsending_queue:\n  queue_size: 10\n",
        )
        .unwrap();
        assert_eq!(topics(&c).topic(Signal::Traces), "spans");
        assert_eq!(topics(&c).encoding(Signal::Traces), Encoding::OtlpJson);
        assert_eq!(c.partitioning(Signal::Traces), Partitioning::TraceId);
        assert_eq!(c.partitioning(Signal::Logs), Partitioning::ResourceAttributes);
        assert_eq!(c.partitioning(Signal::Metrics), Partitioning::None);
        let rd = client_config(&c).unwrap();
        assert_eq!(rd.get("bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(rd.get("acks"), Some("-1"));
        assert_eq!(rd.get("compression.codec"), Some("zstd"));
        assert_eq!(rd.get("batch.num.messages"), Some("100"));
        assert_eq!(rd.get("message.timeout.ms"), Some("2000"));
        assert_eq!(rd.get("partitioner"), Some("murmur2_random"));
        assert_eq!(c.exporter_settings().queue.queue_size, 10);
    }

    #[test]
    fn bad_values_name_the_key() {
        assert!(parse("producer:\n  required_acks: 2\n").unwrap_err().starts_with("producer::required_acks"));
        assert!(parse("producer:\n  max_message_bytes: 0\n").unwrap_err().starts_with("producer::max_message_bytes"));
        assert!(parse("brokers: []\n").unwrap_err().starts_with("brokers"));
        assert!(parse("traces:\n  topic: ''\n").unwrap_err().starts_with("traces::topic"));
        assert!(parse("sending_queue:\n  num_consumers: 0\n").unwrap_err().contains("sending_queue::num_consumers"));
        let err = parse("encoding: jaeger_proto\n").unwrap_err();
        assert!(err.contains("otlp_proto") && err.contains("otlp_json"), "{err}");
        let err = parse("producer:\n  compression: brotli\n").unwrap_err();
        assert!(err.contains("snappy"), "{err}");
        assert!(parse("unknown_key: 1\n").is_err());
    }

    #[test]
    fn metadata_topic_and_log_partitioning_keys() {
        let c = parse(
            "include_metadata_keys: [x-tenant]\ntopic_from_attribute: kafka.topic\n\
             traces: { topic: spans, topic_from_metadata_key: x-topic }\npartition_logs_by_trace_id: true\n",
        )
        .unwrap();
        assert_eq!(c.include_metadata_keys, ["x-tenant"]);
        assert_eq!(c.topic_from_attribute, "kafka.topic");
        assert_eq!(topics(&c).topic_from_metadata_key(Signal::Traces), Some("x-topic"));
        assert_eq!(topics(&c).topic_from_metadata_key(Signal::Logs), None);
        assert_eq!(c.partitioning(Signal::Logs), Partitioning::TraceId);
        let e = parse("partition_logs_by_trace_id: true\npartition_logs_by_resource_attributes: true\n").unwrap_err();
        assert!(e.contains("cannot both be enabled"), "{e}");
    }
}
