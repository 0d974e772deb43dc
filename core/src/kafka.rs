//! What the `kafka` receiver and exporter share: the client keys (the Collector's
//! `configkafka.ClientConfig`: `brokers`, `client_id`, `protocol_version`), the per-signal
//! `topic` and `encoding` keys, and librdkafka's log glue. Both components squash
//! [`KafkaClientConfig`] and [`KafkaTopicsConfig`] beside their own keys
//! ([`crate::config::yaml::Squash`]), so the keys, their defaults and their checks exist once.
//!
//! Cargo feature `kafka` (rdkafka with a bundled librdkafka).

use crate::{ComponentConfig, Signal};
use serde::Deserialize;

/// `brokers` when none are given, as in the Collector.
pub const DEFAULT_BROKER: &str = "localhost:9092";

/// `client_id` when none is given, as in the Collector.
pub const DEFAULT_CLIENT_ID: &str = "otel-collector";

/// The Collector's default topic of each signal.
pub fn default_topic(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "otlp_spans",
        Signal::Metrics => "otlp_metrics",
        Signal::Logs => "otlp_logs",
    }
}

/// `encoding`: how one Kafka message holds one OTLP export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One serialized `Export{Trace,Metrics,Logs}ServiceRequest` (protobuf). The default.
    #[default]
    OtlpProto,
    /// The OTLP/JSON form of the same request.
    OtlpJson,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::OtlpProto => "otlp_proto",
            Encoding::OtlpJson => "otlp_json",
        }
    }
}

/// `traces`, `metrics`, `logs`: one signal's topic and encoding.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SignalSettings {
    /// The topic of this signal. Default: the top-level `topic` when set, else `otlp_spans`,
    /// `otlp_metrics` or `otlp_logs`.
    pub topic: Option<String>,
    /// The encoding of this signal. Default: the top-level `encoding` when set, else `otlp_proto`.
    pub encoding: Option<Encoding>,
}

/// The client keys (the Collector's `configkafka.ClientConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaClientConfig {
    /// Bootstrap brokers, `host:port`. Default `[localhost:9092]`.
    pub brokers: Vec<String>,
    /// The client id the brokers see. Default `otel-collector`.
    pub client_id: String,
    /// Accepted for Collector configs; librdkafka negotiates the protocol version itself.
    pub protocol_version: Option<String>,
}

impl Default for KafkaClientConfig {
    fn default() -> Self {
        KafkaClientConfig {
            brokers: vec![DEFAULT_BROKER.to_string()],
            client_id: DEFAULT_CLIENT_ID.to_string(),
            protocol_version: None,
        }
    }
}

impl ComponentConfig for KafkaClientConfig {
    fn validate(&self) -> Result<(), String> {
        bootstrap_servers(&self.brokers)?;
        validate_protocol_version(&self.protocol_version)
    }
}

impl KafkaClientConfig {
    /// Sets the client properties (`bootstrap.servers`, `client.id`) on a librdkafka config.
    pub fn apply(&self, c: &mut rdkafka::ClientConfig) -> Result<(), String> {
        c.set("bootstrap.servers", bootstrap_servers(&self.brokers)?).set("client.id", &self.client_id);
        Ok(())
    }
}

/// The topic and encoding keys: per signal (`traces`, `metrics`, `logs`), and the deprecated
/// top-level `topic` and `encoding` that apply to every signal that sets none.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaTopicsConfig {
    /// Deprecated in the Collector (use `traces::topic` …): the topic of every signal that does
    /// not set its own.
    pub topic: Option<String>,
    /// Deprecated in the Collector (use `traces::encoding` …): the encoding of every signal that
    /// does not set its own.
    pub encoding: Option<Encoding>,
    /// Topic (default `otlp_spans`) and encoding (default `otlp_proto`) of traces.
    pub traces: SignalSettings,
    /// Topic (default `otlp_metrics`) and encoding (default `otlp_proto`) of metrics.
    pub metrics: SignalSettings,
    /// Topic (default `otlp_logs`) and encoding (default `otlp_proto`) of logs.
    pub logs: SignalSettings,
}

impl KafkaTopicsConfig {
    fn signal(&self, signal: Signal) -> &SignalSettings {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// The topic of `signal`: its own `topic`, else the top-level one, else the default.
    pub fn topic(&self, signal: Signal) -> String {
        self.signal(signal)
            .topic
            .clone()
            .or_else(|| self.topic.clone())
            .unwrap_or_else(|| default_topic(signal).to_string())
    }

    /// The encoding of `signal`: its own `encoding`, else the top-level one, else `otlp_proto`.
    pub fn encoding(&self, signal: Signal) -> Encoding {
        self.signal(signal).encoding.or(self.encoding).unwrap_or_default()
    }
}

impl ComponentConfig for KafkaTopicsConfig {
    /// Checks that no topic name is empty.
    fn validate(&self) -> Result<(), String> {
        if self.topic.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err("topic must not be empty".into());
        }
        for signal in Signal::ALL {
            if self.signal(signal).topic.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err(format!("{signal}::topic must not be empty"));
            }
        }
        Ok(())
    }
}

/// Checks `brokers` and joins them for librdkafka's `bootstrap.servers`.
pub fn bootstrap_servers(brokers: &[String]) -> Result<String, String> {
    if brokers.is_empty() {
        return Err(format!("brokers must list at least one broker, e.g. brokers: [{DEFAULT_BROKER}]"));
    }
    for b in brokers {
        let b = b.trim();
        let port_ok = b.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok || b.contains("://") || b.contains(',') {
            return Err(format!("brokers: {b:?} must be host:port, e.g. {DEFAULT_BROKER}"));
        }
    }
    Ok(brokers.iter().map(|b| b.trim()).collect::<Vec<_>>().join(","))
}

/// `protocol_version`: accepted for compatibility with Collector configs (Sarama needed it);
/// librdkafka negotiates the protocol version with the broker, so only the form is checked.
pub fn validate_protocol_version(v: &Option<String>) -> Result<(), String> {
    match v {
        Some(v) if v.split('.').count() < 2 || !v.split('.').all(|p| p.parse::<u32>().is_ok()) => {
            Err(format!("protocol_version {v:?} must be a Kafka version such as 2.1.0"))
        }
        _ => Ok(()),
    }
}

/// librdkafka's own log lines, through `tracing` instead of stderr.
#[derive(Clone, Default)]
pub struct TracingContext;

impl rdkafka::ClientContext for TracingContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(message = "Kafka client error.", %error, reason);
    }
}

/// Forwards one librdkafka log line to `tracing` at the matching level.
pub fn log_librdkafka(level: rdkafka::config::RDKafkaLogLevel, facility: &str, line: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => tracing::error!(message = "librdkafka", facility, line),
        L::Warning => tracing::warn!(message = "librdkafka", facility, line),
        L::Notice | L::Info => tracing::info!(message = "librdkafka", facility, line),
        L::Debug => tracing::debug!(message = "librdkafka", facility, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_are_host_port_pairs() {
        assert_eq!(bootstrap_servers(&["a:9092".into(), " b:9093 ".into()]).unwrap(), "a:9092,b:9093");
        assert!(bootstrap_servers(&[]).unwrap_err().starts_with("brokers must list"));
        assert!(bootstrap_servers(&["kafka".into()]).unwrap_err().contains("host:port"));
        assert!(bootstrap_servers(&["tcp://kafka:9092".into()]).unwrap_err().contains("host:port"));
    }

    #[test]
    fn signal_settings_win_over_the_deprecated_top_level_keys() {
        let traces = SignalSettings { topic: Some("spans".into()), encoding: Some(Encoding::OtlpProto) };
        let t = KafkaTopicsConfig {
            topic: Some("shared".to_string()),
            encoding: Some(Encoding::OtlpJson),
            traces,
            ..KafkaTopicsConfig::default()
        };
        assert_eq!(t.topic(Signal::Traces), "spans");
        assert_eq!(t.topic(Signal::Logs), "shared");
        assert_eq!(t.encoding(Signal::Traces), Encoding::OtlpProto);
        assert_eq!(t.encoding(Signal::Metrics), Encoding::OtlpJson);
        let t = KafkaTopicsConfig::default();
        assert_eq!(t.topic(Signal::Metrics), "otlp_metrics");
        assert_eq!(t.encoding(Signal::Logs), Encoding::OtlpProto);
    }

    #[test]
    fn protocol_version_is_only_checked_for_form() {
        assert!(validate_protocol_version(&Some("2.1.0".into())).is_ok());
        assert!(validate_protocol_version(&None).is_ok());
        assert!(validate_protocol_version(&Some("latest".into())).is_err());
    }
}
