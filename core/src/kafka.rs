//! What the `kafka` receiver and exporter share: the client keys (the Collector's
//! `configkafka.ClientConfig`: `brokers`, `client_id`, `protocol_version`), the per-signal
//! `topic` and `encoding` keys, and librdkafka's log glue. Both components squash
//! [`KafkaClientConfig`] and [`KafkaTopicsConfig`] beside their own keys
//! ([`crate::config::yaml::Squash`]), so the keys, their defaults and their checks exist once.
//!
//! Cargo feature `kafka` (rdkafka with a bundled librdkafka).

use crate::tls::TlsClientSettings;
use crate::{ComponentConfig, Signal};
use serde::{Deserialize, Deserializer};
use std::time::Duration;

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

/// `encoding`: how one Kafka message holds one OTLP export request. The Collector's other
/// built-in encodings and its encoding extensions are refused with the reason
/// ([`Encoding::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// One serialized `Export{Trace,Metrics,Logs}ServiceRequest` (protobuf). The default.
    #[default]
    OtlpProto,
    /// The OTLP/JSON form of the same request.
    OtlpJson,
}

/// The Collector's built-in Kafka encodings weir does not have.
const OTHER_ENCODINGS: [&str; 11] = [
    "jaeger_proto",
    "jaeger_json",
    "zipkin_proto",
    "zipkin_json",
    "zipkin_thrift",
    "raw",
    "text",
    "json",
    "azure_resource_logs",
    "otlp_encoding",
    "legacy_encoding",
];

impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Encoding, D::Error> {
        Encoding::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Encoding {
    /// Reads an `encoding` value: `otlp_proto` or `otlp_json`; anything else is refused with
    /// why (a Collector encoding weir lacks, or an encoding extension, which weir has none of).
    pub fn parse(s: &str) -> Result<Encoding, String> {
        match s {
            "otlp_proto" => Ok(Encoding::OtlpProto),
            "otlp_json" => Ok(Encoding::OtlpJson),
            _ if OTHER_ENCODINGS.contains(&s) || s.starts_with("text_") => Err(format!(
                "{s:?} is one of the Collector's Kafka encodings weir does not have: weir reads and writes OTLP only; use otlp_proto or otlp_json"
            )),
            _ => Err(format!(
                "{s:?} is not an encoding weir knows; the Collector would look for an encoding extension of that id, and weir has no encoding extensions: use otlp_proto or otlp_json"
            )),
        }
    }

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
    /// Exporter only: a client metadata key (from a receiver with `include_metadata: true`)
    /// whose first value is the topic of a request; without it in a request, `topic` applies.
    pub topic_from_metadata_key: Option<String>,
}

/// The client keys (the Collector's `configkafka.ClientConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaClientConfig {
    /// Bootstrap brokers, `host:port`. Default `[localhost:9092]`.
    pub brokers: Vec<String>,
    /// The client id the brokers see. Default `otel-collector`.
    pub client_id: String,
    /// Accepted for Collector configs; librdkafka negotiates the protocol version itself.
    pub protocol_version: Option<String>,
    /// Resolve each bootstrap broker's name to its canonical name and use only that
    /// (librdkafka's `client.dns.lookup=resolve_canonical_bootstrap_servers_only`). Default false.
    pub resolve_canonical_bootstrap_servers_only: bool,
    /// TLS to the brokers. This build's librdkafka has no OpenSSL, so only a section that
    /// turns TLS off (`insecure: true`, as configtls reads it without a CA) is accepted; any
    /// other is refused with that reason.
    #[serde(deserialize_with = "present")]
    pub tls: Option<TlsClientSettings>,
    /// `auth`: SASL (`PLAIN`; the SCRAM mechanisms need OpenSSL, which this build lacks, and
    /// are refused) or the deprecated `auth::tls` (refused likewise).
    pub auth: Option<KafkaAuthConfig>,
    /// Cluster metadata requests.
    pub metadata: MetadataConfig,
}

/// Reads an optional section whose presence alone (`tls:` with nothing under it) turns it on.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `auth`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaAuthConfig {
    /// SASL credentials.
    pub sasl: Option<SaslConfig>,
    /// Deprecated in the Collector (use the top-level `tls`).
    #[serde(deserialize_with = "present")]
    pub tls: Option<TlsClientSettings>,
}

/// `auth::sasl`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SaslConfig {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (the SCRAM ones need a librdkafka with
    /// OpenSSL; `AWS_MSK_IAM_OAUTHBEARER` is not supported).
    pub mechanism: String,
    pub username: String,
    pub password: String,
    /// SASL protocol version (0 or 1). librdkafka uses v1 (SASL handshake + authenticate)
    /// whenever the broker supports it; accepted for Collector configs.
    pub version: i32,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Fetch metadata of every topic (true, default) or only of the topics used
    /// (librdkafka's `topic.metadata.refresh.sparse` is its inverse).
    pub full: bool,
    /// Retries of metadata requests at start.
    pub retry: MetadataRetryConfig,
    /// How often metadata is refreshed (`topic.metadata.refresh.interval.ms`). Default 10m.
    #[serde(with = "crate::config::duration")]
    pub refresh_interval: Duration,
}

/// `metadata::retry`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataRetryConfig {
    /// The Collector (Sarama) gives up starting after this many failed metadata requests;
    /// librdkafka keeps retrying in the background, so weir starts anyway and this bound is
    /// not applied. Default 3.
    pub max: u32,
    /// Wait between metadata requests while metadata is missing
    /// (`topic.metadata.refresh.fast.interval.ms`). Default 250ms.
    #[serde(with = "crate::config::duration")]
    pub backoff: Duration,
}

impl Default for MetadataRetryConfig {
    fn default() -> Self {
        MetadataRetryConfig { max: 3, backoff: Duration::from_millis(250) }
    }
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { full: true, retry: MetadataRetryConfig::default(), refresh_interval: Duration::from_secs(600) }
    }
}

impl Default for KafkaClientConfig {
    fn default() -> Self {
        KafkaClientConfig {
            brokers: vec![DEFAULT_BROKER.to_string()],
            client_id: DEFAULT_CLIENT_ID.to_string(),
            protocol_version: None,
            resolve_canonical_bootstrap_servers_only: false,
            tls: None,
            auth: None,
            metadata: MetadataConfig::default(),
        }
    }
}

/// Why TLS to Kafka is refused in this build.
const NO_OPENSSL: &str = "this build's librdkafka has no OpenSSL (weir's rdkafka is built without the `ssl` feature), \
                          so TLS and SASL/SCRAM to Kafka are not available; use SASL PLAIN over plaintext, or a \
                          TLS-terminating proxy";

/// Whether a `tls` section asks for TLS: configtls turns TLS off for `insecure: true` without
/// a CA.
fn wants_tls(t: &Option<TlsClientSettings>) -> bool {
    t.as_ref().is_some_and(|t| !(t.insecure && t.ca_file.is_none()))
}

impl ComponentConfig for KafkaClientConfig {
    fn validate(&self) -> Result<(), String> {
        bootstrap_servers(&self.brokers)?;
        validate_protocol_version(&self.protocol_version)?;
        if wants_tls(&self.tls) {
            return Err(format!("tls: {NO_OPENSSL}"));
        }
        if let Some(a) = &self.auth {
            if wants_tls(&a.tls) {
                return Err(format!("auth::tls: {NO_OPENSSL}"));
            }
            if let Some(s) = &a.sasl {
                match s.mechanism.as_str() {
                    "PLAIN" => {}
                    "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                        return Err(format!("auth::sasl::mechanism: {} needs OpenSSL: {NO_OPENSSL}", s.mechanism))
                    }
                    "" => return Err("auth::sasl::mechanism must be set: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into()),
                    other => {
                        return Err(format!(
                            "auth::sasl::mechanism: {other:?} is not supported (weir: PLAIN; SCRAM-SHA-256 and SCRAM-SHA-512 need OpenSSL)"
                        ))
                    }
                }
                if s.username.is_empty() || s.password.is_empty() {
                    return Err("auth::sasl: username and password must be set".into());
                }
                if !(0..=1).contains(&s.version) {
                    return Err("auth::sasl::version must be 0 or 1".into());
                }
            }
        }
        if self.metadata.retry.backoff.is_zero() {
            return Err("metadata::retry::backoff must be greater than 0".into());
        }
        Ok(())
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().clamp(1, i32::MAX as u128).to_string()
}

impl KafkaClientConfig {
    /// Sets the client properties (`bootstrap.servers`, `client.id`, DNS, SASL, metadata) on a
    /// librdkafka config.
    pub fn apply(&self, c: &mut rdkafka::ClientConfig) -> Result<(), String> {
        c.set("bootstrap.servers", bootstrap_servers(&self.brokers)?).set("client.id", &self.client_id);
        if self.resolve_canonical_bootstrap_servers_only {
            c.set("client.dns.lookup", "resolve_canonical_bootstrap_servers_only");
        }
        if let Some(s) = self.auth.as_ref().and_then(|a| a.sasl.as_ref()) {
            c.set("security.protocol", "sasl_plaintext")
                .set("sasl.mechanisms", &s.mechanism)
                .set("sasl.username", &s.username)
                .set("sasl.password", &s.password);
        }
        c.set("topic.metadata.refresh.sparse", (!self.metadata.full).to_string())
            .set("topic.metadata.refresh.fast.interval.ms", millis(self.metadata.retry.backoff))
            .set("topic.metadata.refresh.interval.ms", millis(self.metadata.refresh_interval));
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

    /// The exporter's `<signal>::topic_from_metadata_key`.
    pub fn topic_from_metadata_key(&self, signal: Signal) -> Option<&str> {
        self.signal(signal).topic_from_metadata_key.as_deref().filter(|k| !k.is_empty())
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
        let traces = SignalSettings {
            topic: Some("spans".into()),
            encoding: Some(Encoding::OtlpProto),
            topic_from_metadata_key: None,
        };
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

    fn client(yaml: &str) -> Result<KafkaClientConfig, String> {
        let c: KafkaClientConfig = crate::config::yaml::parse(yaml, &|_| None)
            .map_err(|e| e.to_string())?
            .deserialize()
            .map_err(|e| e.message)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn collector_client_keys_become_librdkafka_properties() {
        let c = client(
            "brokers: [k:9092]\nresolve_canonical_bootstrap_servers_only: true\nmetadata:\n  full: false\n\
             \x20 retry:\n    max: 10\n    backoff: 5s\nauth:\n  sasl:\n    mechanism: PLAIN\n    username: u\n    password: p\n",
        )
        .unwrap();
        let mut rd = rdkafka::ClientConfig::new();
        c.apply(&mut rd).unwrap();
        assert_eq!(rd.get("client.dns.lookup"), Some("resolve_canonical_bootstrap_servers_only"));
        assert_eq!(rd.get("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(rd.get("sasl.mechanisms"), Some("PLAIN"));
        assert_eq!(rd.get("sasl.username"), Some("u"));
        assert_eq!(rd.get("topic.metadata.refresh.sparse"), Some("true"));
        assert_eq!(rd.get("topic.metadata.refresh.fast.interval.ms"), Some("5000"));
        // librdkafka knows every property set: creating a client checks them.
        let producer: Result<rdkafka::producer::BaseProducer, _> = rd.create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    #[test]
    fn tls_and_scram_are_refused_with_the_reason() {
        let err = client("tls:\n  ca_file: ca.pem\n").unwrap_err();
        assert!(err.starts_with("tls: this build's librdkafka has no OpenSSL"), "{err}");
        let err = client("tls:\n").unwrap_err();
        assert!(err.starts_with("tls:"), "an empty tls section turns TLS on: {err}");
        assert!(client("tls:\n  insecure: true\n").is_ok(), "insecure without a CA is plaintext");
        let err =
            client("auth:\n  sasl:\n    mechanism: SCRAM-SHA-512\n    username: u\n    password: p\n").unwrap_err();
        assert!(err.starts_with("auth::sasl::mechanism: SCRAM-SHA-512 needs OpenSSL"), "{err}");
        let err = client("auth:\n  sasl:\n    mechanism: PLAIN\n").unwrap_err();
        assert!(err.contains("username and password"), "{err}");
    }

    #[test]
    fn protocol_version_is_only_checked_for_form() {
        assert!(validate_protocol_version(&Some("2.1.0".into())).is_ok());
        assert!(validate_protocol_version(&None).is_ok());
        assert!(validate_protocol_version(&Some("latest".into())).is_err());
    }

    #[test]
    fn encodings_weir_lacks_are_refused_with_the_reason() {
        assert_eq!(Encoding::parse("otlp_json"), Ok(Encoding::OtlpJson));
        let err = Encoding::parse("zipkin_thrift").unwrap_err();
        assert!(err.contains("Collector's Kafka encodings weir does not have"), "{err}");
        assert!(Encoding::parse("text_utf-8").unwrap_err().contains("does not have"));
        let err = Encoding::parse("direct").unwrap_err();
        assert!(err.contains("encoding extension"), "{err}");
        let err = crate::config::yaml::parse("encoding: raw\n", &|_| None)
            .unwrap()
            .deserialize::<SignalSettings>()
            .unwrap_err()
            .message;
        assert!(err.contains("\"raw\" is one of the Collector's Kafka encodings"), "{err}");
    }
}
