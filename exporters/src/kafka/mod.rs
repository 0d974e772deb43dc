//! `kafka` exporter: produces each payload as Kafka messages, the Collector's way.
//!
//! ```text
//! sending queue ─▶ KafkaExporter::export ─▶ messages::build ─▶ FutureProducer ─▶ broker
//!                  (one payload)             (split by trace id   (librdkafka queue,
//!                                             or resource, JSON)   batches, compression)
//! ```
//!
//! Guarantees:
//!
//! - **Delivered means acknowledged.** An export succeeds only once the broker acknowledged
//!   every message of the payload (with `producer::required_acks`); one failed message fails the
//!   whole payload, which the plumbing retries whole (messages already acknowledged are then
//!   produced again: at-least-once, duplicates possible).
//! - **Bytes untouched when nothing changes them.** Without partitioning, with `otlp_proto`,
//!   and when the payload fits in `max_message_bytes`, the message value is the received
//!   request's bytes (an `otlp_proto` message is one serialized `Export*ServiceRequest`, as the
//!   Collector writes it). Splits copy byte ranges; only `otlp_json` re-encodes.
//! - **Same partition as the Collector.** Keyed messages use Kafka's murmur2 partitioner (the
//!   Java client's and franz-go's), so weir and Collector agents send a trace id to the same
//!   partition of the same topic.
//! - Failures: a message too large even alone, or refused by the broker as invalid, is a
//!   permanent failure; everything else (broker down, timeout, leader change) is retryable.

mod config;
pub mod messages;

pub use config::{KafkaExporterConfig, KafkaExporterSettings, ProducerConfig};

use async_trait::async_trait;
use messages::{Message, Partitioning};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use std::sync::Arc;
use std::time::Duration;
use weir_core::kafka::{Encoding, TracingContext};
use weir_core::{BuildContext, BuildError, ClientMetadata, Exporter, ExporterFactory, Failure, Payload, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "kafka";

/// How long `shutdown` waits for messages still in librdkafka's queue.
const FLUSH_ON_SHUTDOWN: Duration = Duration::from_secs(10);

/// Factory of the `kafka` exporter.
pub struct KafkaExporterFactory;

impl ExporterFactory for KafkaExporterFactory {
    type Config = KafkaExporterConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &KafkaExporterConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        let signal = ctx.signal.ok_or_else(|| BuildError::new("the kafka exporter is built for one signal"))?;
        Ok(Arc::new(KafkaExporter::new(&ctx.id.to_string(), signal, config)?))
    }
}

/// Counters of one exporter instance (besides the plumbing's `otelcol_exporter_*`).
struct ProducerMetrics {
    /// `otelcol_kafka_exporter_messages`: messages acknowledged by the broker.
    messages: metrics::Counter,
    /// `otelcol_kafka_exporter_bytes{payload="untouched"}`: message bytes that are the received
    /// payload as it was.
    untouched_bytes: metrics::Counter,
    /// `otelcol_kafka_exporter_bytes{payload="rewritten"}`: message bytes built by splitting or
    /// re-encoding.
    rewritten_bytes: metrics::Counter,
}

impl ProducerMetrics {
    fn new(exporter: &str, topic: &str) -> Self {
        let labels = |extra: Option<&'static str>| {
            let mut l = vec![("exporter", exporter.to_string()), ("topic", topic.to_string())];
            if let Some(p) = extra {
                l.push(("payload", p.to_string()));
            }
            l
        };
        ProducerMetrics {
            messages: metrics::counter!("otelcol_kafka_exporter_messages", &labels(None)),
            untouched_bytes: metrics::counter!("otelcol_kafka_exporter_bytes", &labels(Some("untouched"))),
            rewritten_bytes: metrics::counter!("otelcol_kafka_exporter_bytes", &labels(Some("rewritten"))),
        }
    }
}

/// One signal's producer.
pub struct KafkaExporter {
    /// The component id, for log lines.
    id: String,
    producer: FutureProducer<TracingContext>,
    /// The signal's topic (`<signal>::topic`, `topic`, or the default).
    topic: String,
    /// `<signal>::topic_from_metadata_key`.
    topic_from_metadata_key: Option<String>,
    /// `topic_from_attribute`.
    topic_from_attribute: Option<String>,
    /// `include_metadata_keys`.
    include_metadata_keys: Vec<String>,
    encoding: Encoding,
    partitioning: Partitioning,
    max_message_bytes: usize,
    /// Per topic (a request's topic can come from its metadata or a resource attribute).
    metrics: std::sync::Mutex<std::collections::HashMap<String, Arc<ProducerMetrics>>>,
}

impl KafkaExporter {
    /// Creates the producer; it connects to the brokers in the background.
    pub fn new(id: &str, signal: Signal, config: &KafkaExporterConfig) -> Result<KafkaExporter, BuildError> {
        let producer = config::client_config(config)
            .map_err(BuildError::new)?
            .create_with_context(TracingContext)
            .map_err(|e| BuildError::new(format!("cannot create the Kafka producer: {e}")))?;
        let topics = config::topics(config);
        let topic = topics.topic(signal);
        Ok(KafkaExporter {
            id: id.to_string(),
            producer,
            metrics: Default::default(),
            topic,
            topic_from_metadata_key: topics.topic_from_metadata_key(signal).map(str::to_string),
            topic_from_attribute: Some(config.topic_from_attribute.clone()).filter(|a| !a.is_empty()),
            include_metadata_keys: config.include_metadata_keys.clone(),
            encoding: topics.encoding(signal),
            partitioning: config.partitioning(signal),
            max_message_bytes: config.producer.max_message_bytes,
        })
    }

    /// Hands one message to librdkafka, waiting while its local queue is full.
    /// The topic of a request: from its client metadata (`topic_from_metadata_key`), else
    /// from the first resource carrying `topic_from_attribute`, else the signal's topic.
    fn topic_of(&self, payload: &Payload, metadata: Option<&ClientMetadata>) -> String {
        if let (Some(key), Some(metadata)) = (&self.topic_from_metadata_key, metadata) {
            if let Some(topic) = metadata.get(key).first().filter(|t| !t.is_empty()) {
                return topic.clone();
            }
        }
        if let Some(attribute) = &self.topic_from_attribute {
            for rg in payload.view().resources().flatten() {
                let value = rg.resource().ok().and_then(|r| r.attributes().get(attribute).ok().flatten());
                if let Some(Ok(weir_core::pdata::AnyValue::String(topic))) = value.map(|v| v.get()) {
                    if !topic.is_empty() {
                        return topic.to_string();
                    }
                }
            }
        }
        self.topic.clone()
    }

    /// `include_metadata_keys`: one header per value of each key the request's metadata has.
    fn headers_of(&self, metadata: Option<&ClientMetadata>) -> Option<OwnedHeaders> {
        let metadata = metadata?;
        let mut headers = OwnedHeaders::new();
        let mut any = false;
        for key in &self.include_metadata_keys {
            for value in metadata.get(key) {
                headers = headers.insert(Header { key, value: Some(value.as_bytes()) });
                any = true;
            }
        }
        any.then_some(headers)
    }

    fn metrics_of(&self, topic: &str) -> Arc<ProducerMetrics> {
        let mut metrics = self.metrics.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        metrics.entry(topic.to_string()).or_insert_with(|| Arc::new(ProducerMetrics::new(&self.id, topic))).clone()
    }

    async fn enqueue(
        &self,
        m: &Message,
        topic: &str,
        headers: Option<&OwnedHeaders>,
    ) -> Result<DeliveryFuture, Failure> {
        loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic).payload(&m.value[..]);
            if let Some(k) = &m.key {
                record = record.key(&k[..]);
            }
            if let Some(h) = headers {
                record = record.headers(h.clone());
            }
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // The plumbing's timeout bounds this wait.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(self.failure(topic, &e)),
            }
        }
    }

    fn failure(&self, topic: &str, e: &KafkaError) -> Failure {
        let message = format!("producing to topic {topic}: {e}");
        let permanent = matches!(
            e.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidMessageSize
                    | RDKafkaErrorCode::InvalidMessage
                    | RDKafkaErrorCode::InvalidRecord
                    | RDKafkaErrorCode::InvalidTopic
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
                    | RDKafkaErrorCode::InvalidRequiredAcks
            )
        );
        if permanent {
            Failure::permanent(message)
        } else {
            Failure::retryable(message)
        }
    }
}

#[async_trait]
impl Exporter for KafkaExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        self.export_with_metadata(payload, None).await
    }

    async fn export_with_metadata(&self, payload: Payload, metadata: Option<&ClientMetadata>) -> Result<(), Failure> {
        if payload.is_empty() {
            return Ok(());
        }
        let topic = self.topic_of(&payload, metadata);
        let headers = self.headers_of(metadata);
        let producer_metrics = self.metrics_of(&topic);
        let batch = messages::build(&payload, self.partitioning, self.encoding, self.max_message_bytes)?;
        let mut deliveries = Vec::with_capacity(batch.len());
        for m in &batch {
            deliveries.push(self.enqueue(m, &topic, headers.as_ref()).await?);
        }
        // Every message must be acknowledged; the first failure is the payload's.
        let mut first_failure = None;
        for (m, delivery) in batch.iter().zip(deliveries) {
            match delivery.await {
                Ok(Ok(_)) => {
                    producer_metrics.messages.increment(1);
                    let bytes =
                        if m.untouched { &producer_metrics.untouched_bytes } else { &producer_metrics.rewritten_bytes };
                    bytes.increment(m.value.len() as u64);
                }
                Ok(Err((e, _))) => {
                    first_failure.get_or_insert_with(|| self.failure(&topic, &e));
                }
                Err(_) => {
                    first_failure.get_or_insert_with(|| Failure::retryable("the Kafka producer was closed"));
                }
            }
        }
        match first_failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    async fn shutdown(&self) {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(FLUSH_ON_SHUTDOWN)).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(message = "Messages left unflushed at shutdown.", exporter = %self.id, error = %e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_invalid_messages_are_permanent_failures() {
        let config = KafkaExporterConfig::default();
        let e = KafkaExporter::new("kafka", Signal::Traces, &config).unwrap();
        let f = e.failure("otlp_spans", &KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge));
        assert!(!f.retryable, "{f}");
        assert!(f.message.contains("otlp_spans"), "{f}");
        let f = e.failure("otlp_spans", &KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut));
        assert!(f.retryable, "{f}");
        let f = e.failure("otlp_spans", &KafkaError::MessageProduction(RDKafkaErrorCode::AllBrokersDown));
        assert!(f.retryable, "{f}");
    }

    #[test]
    fn topic_from_metadata_then_attribute_then_the_signal_and_metadata_headers() {
        use rdkafka::message::Headers;
        let config: KafkaExporterConfig = weir_core::testing::parse_exporter_config(
            "include_metadata_keys: [x-tenant, x-absent]\ntopic_from_attribute: kafka.topic\n\
             traces: { topic: spans, topic_from_metadata_key: x-topic }\n",
        )
        .unwrap();
        let e = KafkaExporter::new("kafka", Signal::Traces, &config).unwrap();
        // Two resources: the first without the attribute, the second with it.
        let mut body = Vec::new();
        for attr in [None, Some("from-attribute")] {
            let mut resource = Vec::new();
            if let Some(v) = attr {
                weir_core::pdata::edit::write_key_value(
                    &mut resource,
                    weir_core::pdata::proto::resource::ATTRIBUTES,
                    "kafka.topic",
                    &weir_core::pdata::AnyValue::String(v),
                );
            }
            let mut rg = Vec::new();
            weir_core::pdata::edit::write_bytes_field(
                &mut rg,
                weir_core::pdata::proto::resource_group::RESOURCE,
                &resource,
            );
            weir_core::pdata::edit::write_bytes_field(
                &mut body,
                weir_core::pdata::proto::request::RESOURCE_GROUPS,
                &rg,
            );
        }
        let payload = Payload::new(Signal::Traces, body.into()).unwrap();
        assert_eq!(e.topic_of(&payload, None), "from-attribute");
        let metadata = ClientMetadata::from_pairs([("x-topic", "from-metadata"), ("x-tenant", "a"), ("x-tenant", "b")]);
        assert_eq!(e.topic_of(&payload, Some(&metadata)), "from-metadata");
        let other = ClientMetadata::from_pairs([("x-tenant", "a")]);
        assert_eq!(e.topic_of(&payload, Some(&other)), "from-attribute");
        assert_eq!(e.topic_of(&Payload::empty(Signal::Traces), Some(&other)), "spans");
        let headers = e.headers_of(Some(&metadata)).expect("headers");
        let got: Vec<(&str, &[u8])> = headers.iter().map(|h| (h.key, h.value.unwrap_or_default())).collect();
        assert_eq!(got, [("x-tenant", &b"a"[..]), ("x-tenant", &b"b"[..])]);
        assert!(e.headers_of(Some(&ClientMetadata::from_pairs([("x-other", "1")]))).is_none());
        assert!(e.headers_of(None).is_none());
    }
}
