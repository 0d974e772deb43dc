//! `kafka` receiver settings: the Collector's keys and defaults, plus weir's in-flight bound.
//! The client keys (`brokers`, `client_id`, `protocol_version`) and the topic keys are the ones
//! the exporter has too ([`weir_core::kafka`]), squashed beside the receiver's own.

use serde::Deserialize;
use std::time::Duration;
use weir_core::config::yaml::Squash;
use weir_core::kafka::{KafkaClientConfig, KafkaTopicsConfig};
use weir_core::{ComponentConfig, Signal};

/// Settings of the `kafka` receiver: its own keys, the topic keys, the client keys.
pub type KafkaReceiverConfig = Squash<Squash<KafkaReceiverSettings, KafkaTopicsConfig>, KafkaClientConfig>;

/// The topic and encoding keys of a receiver config.
pub fn topics(c: &KafkaReceiverConfig) -> &KafkaTopicsConfig {
    &c.own.shared
}

/// The `kafka` receiver's own keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaReceiverSettings {
    /// The consumer group. Receivers with the same group share the partitions. Default
    /// `otel-collector`.
    pub group_id: String,
    /// Where a group without a committed offset starts: `latest` (default) or `earliest`.
    pub initial_offset: InitialOffset,
    /// A member that sends no heartbeat for this long leaves the group. Default 10s.
    #[serde(with = "weir_core::config::duration")]
    pub session_timeout: Duration,
    /// How often heartbeats are sent. Default 3s.
    #[serde(with = "weir_core::config::duration")]
    pub heartbeat_interval: Duration,
    /// How partitions are spread over the group: `range` (default), `roundrobin` or
    /// `cooperative-sticky` (incremental rebalances). The Collector's eager `sticky` is
    /// refused: librdkafka has no eager sticky assignor.
    pub group_rebalance_strategy: RebalanceStrategy,
    /// A static member id (librdkafka's `group.instance.id`): a restart within
    /// `session_timeout` keeps this member's partitions without a rebalance. Default: none.
    pub group_instance_id: String,
    /// Backoff before offering a message the pipelines refused again (the Collector's
    /// `error_backoff`). Disabled (the default): weir still retries, from 100ms doubling up to
    /// 5s, since a refused message is never skipped.
    pub error_backoff: ErrorBackoffConfig,
    /// The broker answers a fetch once it has this many bytes (or `max_fetch_wait` passed).
    /// Default 1.
    pub min_fetch_size: u32,
    /// The most bytes fetched per partition in one request. Default 1048576.
    pub default_fetch_size: u32,
    /// The most bytes fetched in one request; 0 (default) keeps librdkafka's 50 MiB.
    pub max_fetch_size: u32,
    /// The longest a broker holds a fetch waiting for `min_fetch_size`. Default 250ms.
    #[serde(with = "weir_core::config::duration")]
    pub max_fetch_wait: Duration,
    /// Periodic commits of the acknowledged offsets.
    pub autocommit: AutocommitConfig,
    /// When a message counts as done.
    pub message_marking: MessageMarkingConfig,
    /// weir's own: the most messages taken from Kafka and not yet done. When reached, the
    /// receiver pauses its partitions until the pipelines catch up. Default 10000.
    pub max_in_flight_messages: usize,
    /// `header_extraction`: Kafka headers copied into resource attributes.
    pub header_extraction: HeaderExtraction,
}

/// `header_extraction`: with `extract_headers: true`, the value of each header named in
/// `headers` (its first occurrence in a message) becomes the resource attribute
/// `kafka.header.<name>` of every resource of that message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderExtraction {
    /// Default false.
    pub extract_headers: bool,
    /// The header names.
    pub headers: Vec<String>,
}

impl HeaderExtraction {
    /// The headers to extract (none unless `extract_headers`).
    pub fn wanted(&self) -> &[String] {
        if self.extract_headers {
            &self.headers
        } else {
            &[]
        }
    }
}

/// `initial_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InitialOffset {
    #[default]
    Latest,
    Earliest,
}

/// `group_rebalance_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceStrategy {
    #[default]
    Range,
    Roundrobin,
    /// The Collector's eager sticky assignor; refused in `validate` (librdkafka has none).
    Sticky,
    CooperativeSticky,
}

/// `error_backoff` (the Collector's `configretry.BackOffConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorBackoffConfig {
    /// Use these settings instead of weir's built-in 100ms..5s doubling. Default false.
    pub enabled: bool,
    /// First wait. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub initial_interval: Duration,
    /// Longest wait. Default 30s.
    #[serde(with = "weir_core::config::duration")]
    pub max_interval: Duration,
    /// Growth of the wait after each refusal. Default 1.5.
    pub multiplier: f64,
    /// Jitter, within [0, 1]. Default 0.5.
    pub randomization_factor: f64,
    /// Accepted; a refused message is retried without end in weir (its partition's commit
    /// point stays behind it), since skipping it would lose data. Default 5m.
    #[serde(with = "weir_core::config::duration")]
    pub max_elapsed_time: Duration,
}

impl Default for ErrorBackoffConfig {
    fn default() -> Self {
        ErrorBackoffConfig {
            enabled: false,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

impl ErrorBackoffConfig {
    /// The first wait, the longest, and the growth factor of the refused-message retries.
    pub fn schedule(&self) -> (Duration, Duration, f64) {
        if self.enabled {
            (self.initial_interval, self.max_interval.max(self.initial_interval), self.multiplier.max(1.0))
        } else {
            (Duration::from_millis(100), Duration::from_secs(5), 2.0)
        }
    }
}

/// `autocommit`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutocommitConfig {
    /// Commit acknowledged offsets every `interval` (true, default); with false, every
    /// acknowledgement that moves a partition's commit point forward is committed at once.
    pub enable: bool,
    /// Default 1s.
    #[serde(with = "weir_core::config::duration")]
    pub interval: Duration,
}

impl Default for AutocommitConfig {
    fn default() -> Self {
        AutocommitConfig { enable: true, interval: Duration::from_secs(1) }
    }
}

/// `message_marking`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageMarkingConfig {
    /// true (weir's default): a message is done once every exporter of its pipelines delivered
    /// it (at-least-once). false (the Collector's default): once the pipelines accepted it.
    pub after: bool,
    /// What a permanent failure does: false (default) retries the message (its partition's
    /// commit point stays behind it); true marks it done and goes on (the data is lost).
    pub on_error: bool,
}

impl Default for MessageMarkingConfig {
    fn default() -> Self {
        MessageMarkingConfig { after: true, on_error: false }
    }
}

impl Default for KafkaReceiverSettings {
    fn default() -> Self {
        KafkaReceiverSettings {
            group_id: "otel-collector".to_string(),
            initial_offset: InitialOffset::Latest,
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            group_rebalance_strategy: RebalanceStrategy::Range,
            group_instance_id: String::new(),
            error_backoff: ErrorBackoffConfig::default(),
            min_fetch_size: 1,
            default_fetch_size: 1_048_576,
            max_fetch_size: 0,
            max_fetch_wait: Duration::from_millis(250),
            autocommit: AutocommitConfig::default(),
            message_marking: MessageMarkingConfig::default(),
            max_in_flight_messages: 10_000,
            header_extraction: HeaderExtraction::default(),
        }
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().min(i32::MAX as u128).to_string()
}

/// librdkafka consumer properties. Offsets are stored by the receiver (only for done messages)
/// and committed by librdkafka's auto-commit.
pub fn client_config(config: &KafkaReceiverConfig) -> Result<rdkafka::ClientConfig, String> {
    // The signal settings are shared with the exporter; this key is only the exporter's.
    for signal in Signal::ALL {
        if topics(config).topic_from_metadata_key(signal).is_some() {
            return Err(format!(
                "{signal}::topic_from_metadata_key is a key of the kafka exporter; the receiver reads {signal}::topic"
            ));
        }
    }
    let mut c = rdkafka::ClientConfig::new();
    config.shared.apply(&mut c)?;
    config.own.own.apply(&mut c);
    Ok(c)
}

impl KafkaReceiverSettings {
    fn apply(&self, c: &mut rdkafka::ClientConfig) {
        c.set("group.id", &self.group_id)
            .set("enable.auto.commit", self.autocommit.enable.to_string())
            .set("auto.commit.interval.ms", millis(self.autocommit.interval))
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match self.initial_offset {
                    InitialOffset::Latest => "latest",
                    InitialOffset::Earliest => "earliest",
                },
            )
            .set("session.timeout.ms", millis(self.session_timeout))
            .set("heartbeat.interval.ms", millis(self.heartbeat_interval))
            .set(
                "partition.assignment.strategy",
                match self.group_rebalance_strategy {
                    RebalanceStrategy::Range | RebalanceStrategy::Sticky => "range",
                    RebalanceStrategy::Roundrobin => "roundrobin",
                    RebalanceStrategy::CooperativeSticky => "cooperative-sticky",
                },
            )
            .set("fetch.min.bytes", self.min_fetch_size.to_string())
            .set("max.partition.fetch.bytes", self.default_fetch_size.to_string())
            .set("fetch.wait.max.ms", millis(self.max_fetch_wait));
        if self.max_fetch_size > 0 {
            c.set("fetch.max.bytes", self.max_fetch_size.to_string());
        }
        if !self.group_instance_id.is_empty() {
            c.set("group.instance.id", &self.group_instance_id);
        }
    }
}

impl ComponentConfig for KafkaReceiverSettings {
    fn validate(&self) -> Result<(), String> {
        if self.group_id.trim().is_empty() {
            return Err("group_id must not be empty".into());
        }
        if self.session_timeout < Duration::from_millis(1) {
            return Err("session_timeout must be at least 1ms".into());
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return Err("heartbeat_interval must be greater than 0 and less than session_timeout".into());
        }
        if self.min_fetch_size == 0 {
            return Err("min_fetch_size must be at least 1".into());
        }
        if self.default_fetch_size == 0 {
            return Err("default_fetch_size must be at least 1".into());
        }
        if self.max_fetch_size > 0 && self.max_fetch_size < 1024 {
            return Err("max_fetch_size must be 0 (librdkafka's default) or at least 1024".into());
        }
        if self.autocommit.enable && self.autocommit.interval.is_zero() {
            return Err("autocommit::interval must be greater than 0".into());
        }
        if self.max_in_flight_messages == 0 {
            return Err("max_in_flight_messages must be greater than 0".into());
        }
        if self.group_rebalance_strategy == RebalanceStrategy::Sticky {
            return Err("group_rebalance_strategy: sticky (eager) is not available in librdkafka; use cooperative-sticky (the same assignment, rebalanced incrementally), range or roundrobin".into());
        }
        let b = &self.error_backoff;
        if b.enabled && !(0.0..=1.0).contains(&b.randomization_factor) {
            return Err("error_backoff::randomization_factor must be within [0, 1]".into());
        }
        if b.enabled && (b.initial_interval.is_zero() || b.max_interval < b.initial_interval) {
            return Err("error_backoff::initial_interval must be greater than 0 and at most max_interval".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::kafka::Encoding;
    use weir_core::Signal;

    fn parse(text: &str) -> Result<KafkaReceiverConfig, String> {
        weir_core::testing::parse_config(text)
    }

    #[test]
    fn newer_collector_group_keys_are_read() {
        let c = parse(
            "group_instance_id: gw-1\ngroup_rebalance_strategy: cooperative-sticky\nerror_backoff:\n  enabled: true\n\
             \x20 initial_interval: 1s\n  max_interval: 10s\n  max_elapsed_time: 1m\n  multiplier: 1.5\n",
        )
        .unwrap();
        let rd = client_config(&c).unwrap();
        assert_eq!(rd.get("group.instance.id"), Some("gw-1"));
        assert_eq!(rd.get("partition.assignment.strategy"), Some("cooperative-sticky"));
        assert_eq!(c.error_backoff.schedule(), (Duration::from_secs(1), Duration::from_secs(10), 1.5));
        assert_eq!(
            ErrorBackoffConfig::default().schedule(),
            (Duration::from_millis(100), Duration::from_secs(5), 2.0),
            "weir's own retry schedule when disabled"
        );
        // librdkafka knows every property: creating a consumer checks them.
        let consumer: Result<rdkafka::consumer::BaseConsumer, _> = rd.create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
    }

    #[test]
    fn defaults_follow_the_collector() {
        let c = parse("{}").unwrap();
        assert_eq!(c.group_id, "otel-collector");
        assert_eq!(c.shared.client_id, "otel-collector");
        assert_eq!(c.initial_offset, InitialOffset::Latest);
        assert_eq!(c.session_timeout, Duration::from_secs(10));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.max_fetch_wait, Duration::from_millis(250));
        assert_eq!(c.autocommit, AutocommitConfig { enable: true, interval: Duration::from_secs(1) });
        assert!(c.message_marking.after, "at-least-once by default");
        assert_eq!(topics(&c).topic(Signal::Traces), "otlp_spans");
        let rd = client_config(&c).unwrap();
        assert_eq!(rd.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(rd.get("auto.offset.reset"), Some("latest"));
        assert_eq!(rd.get("group.id"), Some("otel-collector"));
    }

    #[test]
    fn collector_keys_are_read() {
        let c = parse(
            "brokers: [k:9092]\ngroup_id: gateways\ninitial_offset: earliest\nsession_timeout: 6s\n\
             heartbeat_interval: 1s\ngroup_rebalance_strategy: roundrobin\nmin_fetch_size: 10\n\
             max_fetch_size: 2097152\nmax_fetch_wait: 100ms\nautocommit:\n  enable: false\n\
             message_marking:\n  after: false\n  on_error: true\ntraces:\n  topic: spans\n  encoding: otlp_json\n",
        )
        .unwrap();
        let rd = client_config(&c).unwrap();
        assert_eq!(rd.get("group.id"), Some("gateways"));
        assert_eq!(rd.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(rd.get("session.timeout.ms"), Some("6000"));
        assert_eq!(rd.get("heartbeat.interval.ms"), Some("1000"));
        assert_eq!(rd.get("partition.assignment.strategy"), Some("roundrobin"));
        assert_eq!(rd.get("fetch.min.bytes"), Some("10"));
        assert_eq!(rd.get("fetch.max.bytes"), Some("2097152"));
        assert_eq!(rd.get("fetch.wait.max.ms"), Some("100"));
        assert_eq!(rd.get("enable.auto.commit"), Some("false"));
        assert_eq!(topics(&c).encoding(Signal::Traces), Encoding::OtlpJson);
        assert!(c.message_marking.on_error);
    }

    #[test]
    fn bad_values_name_the_key() {
        assert!(parse("heartbeat_interval: 20s\n").unwrap_err().starts_with("heartbeat_interval"));
        assert!(parse("group_id: ''\n").unwrap_err().starts_with("group_id"));
        assert!(parse("max_in_flight_messages: 0\n").unwrap_err().starts_with("max_in_flight_messages"));
        assert!(parse("initial_offset: oldest\n").unwrap_err().contains("earliest"));
        assert!(parse("group_rebalance_strategy: sticky\n").unwrap_err().contains("cooperative-sticky"));
        assert!(parse("group_rebalance_strategy: magic\n").unwrap_err().contains("roundrobin"));
        let c = parse("header_extraction:\n  extract_headers: true\n  headers: [tenant, env]\n").unwrap();
        assert_eq!(c.header_extraction.wanted(), ["tenant", "env"]);
        let c = parse("header_extraction:\n  headers: [tenant]\n").unwrap();
        assert!(c.header_extraction.wanted().is_empty(), "extract_headers defaults to false");
        assert!(parse("header_extraction:\n  extract: true\n").is_err());
        let c = parse("traces:\n  topic_from_metadata_key: t\n").expect("parses (shared with the exporter)");
        assert!(client_config(&c).unwrap_err().contains("a key of the kafka exporter"));
    }
}
