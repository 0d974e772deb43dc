//! weir-kafka: the `kafka` exporter and receiver, on rdkafka (bundled librdkafka).
//!
//! Messages are the Collector's: an `otlp_proto` message is one serialized
//! `Export{Trace,Metrics,Logs}ServiceRequest`, an `otlp_json` message the OTLP/JSON of it, on the
//! topics `otlp_spans`, `otlp_metrics` and `otlp_logs` unless configured otherwise. weir and
//! Collector agents and gateways can therefore share topics in both directions.
//!
//! - [`exporter`]: produces payloads, untouched when nothing needs splitting or re-encoding;
//!   `partition_traces_by_id` keys one message per trace by its id, so a consumer group of
//!   gateways sees every span of a trace on one member (two-tier tail sampling).
//! - [`receiver`]: consumes in a consumer group, commits offsets only after the pipelines
//!   acknowledged the data (at-least-once), pauses its partitions when the pipelines are busy,
//!   and skips (and counts) messages it cannot decode.
//!
//! The binary registers both with [`register`] (cargo feature `kafka` of `weir`, on by default).

mod config;
pub mod exporter;
pub mod receiver;

pub use config::{default_topic, Encoding, SignalSettings};

/// Adds the `kafka` exporter and receiver to `registry`.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_exporter(exporter::KafkaExporterFactory);
    registry.add_receiver(receiver::KafkaReceiverFactory);
}

#[cfg(test)]
mod test_config {
    /// Parses and validates a component config from YAML, as `pipelines.yaml` loading does.
    pub fn parse<C: weir_core::ComponentConfig>(yaml: &str) -> Result<C, String> {
        let node = weir_core::config::yaml::parse(yaml, &|_| None).map_err(|e| e.message)?;
        let config: C = node.deserialize().map_err(|e| e.message)?;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use weir_core::component::Kind;

    #[test]
    fn register_adds_the_exporter_and_the_receiver() {
        let mut r = weir_core::Registry::new();
        super::register(&mut r);
        assert!(r.names(Kind::Exporter).contains(&"kafka"));
        assert!(r.names(Kind::Receiver).contains(&"kafka"));
    }
}
