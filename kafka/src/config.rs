//! What the exporter and the receiver configs share: the client keys (`brokers`, `client_id`,
//! `protocol_version`), the per-signal `topic` and `encoding`, and their Collector defaults.

use serde::Deserialize;
use weir_core::Signal;

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

/// The topic and encoding settings of a config, resolved per signal.
#[derive(Debug, Clone, Copy)]
pub struct Topics<'a> {
    /// The deprecated top-level `topic`.
    pub topic: &'a Option<String>,
    /// The deprecated top-level `encoding`.
    pub encoding: &'a Option<Encoding>,
    pub traces: &'a SignalSettings,
    pub metrics: &'a SignalSettings,
    pub logs: &'a SignalSettings,
}

impl Topics<'_> {
    fn signal(&self, signal: Signal) -> &SignalSettings {
        match signal {
            Signal::Traces => self.traces,
            Signal::Metrics => self.metrics,
            Signal::Logs => self.logs,
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
        self.signal(signal).encoding.or(*self.encoding).unwrap_or_default()
    }

    /// Checks that no topic name is empty.
    pub fn validate(&self) -> Result<(), String> {
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
        let top = Some("shared".to_string());
        let json = Some(Encoding::OtlpJson);
        let traces = SignalSettings { topic: Some("spans".into()), encoding: Some(Encoding::OtlpProto) };
        let none = SignalSettings::default();
        let t = Topics { topic: &top, encoding: &json, traces: &traces, metrics: &none, logs: &none };
        assert_eq!(t.topic(Signal::Traces), "spans");
        assert_eq!(t.topic(Signal::Logs), "shared");
        assert_eq!(t.encoding(Signal::Traces), Encoding::OtlpProto);
        assert_eq!(t.encoding(Signal::Metrics), Encoding::OtlpJson);
        let t = Topics { topic: &None, encoding: &None, traces: &none, metrics: &none, logs: &none };
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
