//! `kafka` receiver: consumes OTLP messages as a member of a consumer group and commits a
//! message's offset only once the pipelines are done with it.
//!
//! ```text
//!  broker ─▶ StreamConsumer ─▶ take loop ──(permit: ≤ max_in_flight_messages)──▶ one task per message:
//!            (librdkafka,       │  pauses the assignment                          decode (otlp_proto/json)
//!             bounded prefetch) │  while no permit is free                         Consumer::consume(wait)
//!                               ▼                                                  mark done ─▶ offset store
//!                        OffsetTracker ◀──────────────────────────────────────────────┘   (auto-commit)
//! ```
//!
//! Guarantees:
//!
//! - **At-least-once.** A message is *done* when the pipelines acknowledged it (with
//!   `message_marking::after: true`, the default: every exporter delivered it, or a sampler
//!   decided to drop it). Per partition, the commit point is the end of the done prefix
//!   ([`offsets`]): a message in flight holds back the commit of everything after it. Offsets go
//!   to librdkafka's offset store (`enable.auto.offset.store=false`) and are committed every
//!   `autocommit::interval`, on a revoke and at shutdown. After a crash, what was not committed is
//!   read again: duplicates are possible, losses are not.
//! - **Bounded.** At most `max_in_flight_messages` messages are taken and not done. When that is
//!   reached the receiver pauses its partitions (librdkafka stops fetching and drops what it had
//!   prefetched for them; it fetches again from the next offset on resume) and keeps polling,
//!   so the group does not see it as dead. A retryable refusal by the pipeline (full,
//!   `memory_limiter`) is retried with backoff while the message keeps its slot.
//! - **Rebalances lose nothing.** On a revoke the acknowledged offsets are committed
//!   synchronously; acknowledgements that arrive later for the revoked partitions are ignored,
//!   and the new owner reads those messages again.
//! - **Bad messages are skipped, not stuck.** A message that is not a valid OTLP request in the
//!   configured encoding is logged with its topic, partition and offset, counted in
//!   `otelcol_kafka_receiver_unmarshal_failed_{spans,metric_points,log_records}`, and marked done.
//! - **Permanent pipeline failures** (`message_marking::on_error: false`, the default) are
//!   retried like retryable ones, holding the partition's commit point; with `on_error: true`
//!   the message is marked done and its data dropped.
//! - **Shutdown.** The receiver stops taking messages, gives the messages in flight up to
//!   [`SHUTDOWN_GRACE`] to finish, commits what is done, and leaves the group; the rest is read
//!   again by the next owner.

mod config;
mod headers;
pub mod offsets;

pub use config::{
    AutocommitConfig, ErrorBackoffConfig, InitialOffset, KafkaReceiverConfig, KafkaReceiverSettings,
    MessageMarkingConfig, RebalanceStrategy,
};

use async_trait::async_trait;
use bytes::Bytes;
use offsets::{OffsetTracker, PartitionOffsets};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::ClientContext;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use weir_core::kafka::{log_librdkafka, Encoding};
use weir_core::pdata::json;
use weir_core::{BuildContext, BuildError, Consumer, Consumers, Payload, Receiver, ReceiverFactory, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "kafka";

/// The transport label of `otelcol_receiver_*` counters.
const TRANSPORT: &str = "kafka";

/// How long shutdown waits for the messages in flight before leaving them to the next owner.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Factory of the `kafka` receiver.
pub struct KafkaReceiverFactory;

impl ReceiverFactory for KafkaReceiverFactory {
    type Config = KafkaReceiverConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &KafkaReceiverConfig) -> Result<Box<dyn Receiver>, BuildError> {
        // Checked here so a bad value fails the start, not the first message.
        config::client_config(config).map_err(BuildError::new)?;
        Ok(Box::new(KafkaReceiver { id: ctx.id.to_string(), config: config.clone() }))
    }
}

/// A configured, not yet started `kafka` receiver.
struct KafkaReceiver {
    id: String,
    config: KafkaReceiverConfig,
}

/// One subscribed topic: the signal it carries and where that signal goes.
struct Route {
    topic: String,
    signal: Signal,
    encoding: Encoding,
    consumer: Consumer,
    /// `otelcol_kafka_receiver_messages`.
    messages: metrics::Counter,
    /// `otelcol_kafka_receiver_unmarshal_failed_{item}`.
    unmarshal_failed: metrics::Counter,
}

/// librdkafka callbacks: logs, and commits on rebalance.
struct ReceiverContext {
    id: String,
    tracker: Arc<OffsetTracker>,
    partition_start: metrics::Counter,
    partition_close: metrics::Counter,
}

impl ClientContext for ReceiverContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(message = "Kafka client error.", receiver = %self.id, %error, reason);
    }
}

impl ConsumerContext for ReceiverContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // Commit what is acknowledged before the partitions go to another member.
            commit_stored(consumer, CommitMode::Sync, &self.id);
            let revoked = partitions.elements();
            for p in &revoked {
                self.tracker.revoke(p.topic(), p.partition());
            }
            self.partition_close.increment(revoked.len() as u64);
            tracing::info!(message = "Partitions revoked.", receiver = %self.id, partitions = %describe(partitions));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            self.partition_start.increment(partitions.count() as u64);
            tracing::info!(message = "Partitions assigned.", receiver = %self.id, partitions = %describe(partitions));
        }
    }
}

fn describe(partitions: &rdkafka::TopicPartitionList) -> String {
    let parts: Vec<String> = partitions.elements().iter().map(|e| format!("{}/{}", e.topic(), e.partition())).collect();
    parts.join(",")
}

/// Commits the offsets in the store (those of done messages); "nothing to commit" is fine.
fn commit_stored<C: ConsumerContext>(consumer: &impl rdkafka::consumer::Consumer<C>, mode: CommitMode, id: &str) {
    match consumer.commit_consumer_state(mode) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(message = "Committing offsets failed.", receiver = %id, error = %e),
    }
}

/// What the message tasks share.
struct Shared {
    id: String,
    consumer: StreamConsumer<ReceiverContext>,
    routes: Vec<Route>,
    wait_for_result: bool,
    skip_on_permanent_error: bool,
    commit_each: bool,
    /// First and longest wait, and growth, between offers of a refused message (`error_backoff`).
    backoff: (Duration, Duration, f64),
    shutdown: CancellationToken,
    /// `header_extraction::headers`, when `extract_headers`.
    header_keys: Vec<String>,
}

/// A message taken from Kafka, copied out of librdkafka's buffer.
struct Incoming {
    route: usize,
    partition: i32,
    offset: i64,
    value: Bytes,
    offsets: Arc<PartitionOffsets>,
    /// `header_extraction`: (attribute name, header value) to set on every resource.
    headers: Vec<(String, String)>,
}

#[async_trait]
impl Receiver for KafkaReceiver {
    async fn start(
        self: Box<Self>,
        consumers: Consumers,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let topics = config::topics(&self.config);
        let mut routes: Vec<Route> = Vec::new();
        for signal in Signal::ALL {
            let Some(consumer) = consumers.get(signal) else { continue };
            let topic = topics.topic(signal);
            if let Some(other) = routes.iter().find(|r| r.topic == topic) {
                return Err(BuildError::new(format!(
                    "receiver {}: {} and {} would both read topic {topic:?}; give each signal its own topic (traces::topic, metrics::topic, logs::topic)",
                    self.id, other.signal, signal
                )));
            }
            let labels = [("receiver", self.id.clone()), ("topic", topic.clone())];
            routes.push(Route {
                messages: metrics::counter!("otelcol_kafka_receiver_messages", &labels),
                unmarshal_failed: metrics::counter!(
                    format!("otelcol_kafka_receiver_unmarshal_failed_{}", signal.item_name()),
                    &labels
                ),
                topic,
                signal,
                encoding: topics.encoding(signal),
                consumer: consumer.clone(),
            });
        }
        let tracker = Arc::new(OffsetTracker::default());
        let context = ReceiverContext {
            id: self.id.clone(),
            tracker: tracker.clone(),
            partition_start: metrics::counter!("otelcol_kafka_receiver_partition_start", "receiver" => self.id.clone()),
            partition_close: metrics::counter!("otelcol_kafka_receiver_partition_close", "receiver" => self.id.clone()),
        };
        let consumer: StreamConsumer<ReceiverContext> = config::client_config(&self.config)
            .map_err(BuildError::new)?
            .create_with_context(context)
            .map_err(|e| BuildError::new(format!("receiver {}: cannot create the Kafka consumer: {e}", self.id)))?;
        let names: Vec<&str> = routes.iter().map(|r| r.topic.as_str()).collect();
        if !names.is_empty() {
            consumer
                .subscribe(&names)
                .map_err(|e| BuildError::new(format!("receiver {}: cannot subscribe to {names:?}: {e}", self.id)))?;
        }
        tracing::info!(
            message = "Started the Kafka consumer.",
            receiver = %self.id,
            topics = ?names,
            group_id = %self.config.group_id,
        );
        let shared = Arc::new(Shared {
            id: self.id,
            consumer,
            routes,
            wait_for_result: self.config.message_marking.after,
            skip_on_permanent_error: self.config.message_marking.on_error,
            backoff: self.config.error_backoff.schedule(),
            commit_each: !self.config.autocommit.enable,
            shutdown: shutdown.clone(),
            header_keys: self.config.header_extraction.wanted().to_vec(),
        });
        let in_flight = Arc::new(Semaphore::new(self.config.max_in_flight_messages));
        Ok(tokio::spawn(take_loop(shared, tracker, in_flight, shutdown)))
    }
}

/// Takes messages while permits last, pausing the assignment when they run out.
async fn take_loop(
    shared: Arc<Shared>,
    tracker: Arc<OffsetTracker>,
    in_flight: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    if shared.routes.is_empty() {
        shutdown.cancelled().await;
        return;
    }
    let mut tasks = JoinSet::new();
    // Messages taken but not yet given a permit: at most one per partition (see `pause_all`).
    let mut held: VecDeque<Incoming> = VecDeque::new();
    let mut paused = false;
    let mut receive_errors = 0u64;
    loop {
        while !held.is_empty() {
            let Ok(permit) = in_flight.clone().try_acquire_owned() else { break };
            if let Some(m) = held.pop_front() {
                tasks.spawn(handle(shared.clone(), m, permit));
            }
        }
        let full = !held.is_empty() || in_flight.available_permits() == 0;
        if full && !paused {
            pause_all(&shared);
            paused = true;
        } else if !full && paused {
            resume_all(&shared);
            paused = false;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            received = shared.consumer.recv() => match received {
                Ok(msg) => {
                    receive_errors = 0;
                    let Some(route) = shared.routes.iter().position(|r| r.topic == msg.topic()) else { continue };
                    shared.routes[route].messages.increment(1);
                    let offsets = tracker.partition(msg.topic(), msg.partition());
                    offsets.received(msg.offset());
                    let headers = match msg.headers() {
                        Some(h) if !shared.header_keys.is_empty() => {
                            use rdkafka::message::Headers;
                            let all: Vec<(&str, Option<&[u8]>)> = h.iter().map(|h| (h.key, h.value)).collect();
                            headers::extract(&all, &shared.header_keys)
                        }
                        _ => Vec::new(),
                    };
                    held.push_back(Incoming {
                        route,
                        partition: msg.partition(),
                        offset: msg.offset(),
                        value: Bytes::copy_from_slice(msg.payload().unwrap_or_default()),
                        offsets,
                        headers,
                    });
                    if paused {
                        // From a partition assigned since the pause: pause it too.
                        pause_all(&shared);
                    }
                }
                Err(e) => {
                    receive_errors += 1;
                    if receive_errors == 1 || receive_errors.is_power_of_two() {
                        tracing::warn!(message = "Receiving from Kafka failed.", receiver = %shared.id, error = %e, times = receive_errors);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    // Shutdown: let the messages in flight finish for a while, then leave the rest to the next
    // owner of their partitions.
    drop(held);
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            message = "Messages still in flight at shutdown; they will be read again.",
            receiver = %shared.id,
            in_flight = tracker.in_flight(),
        );
        tasks.shutdown().await;
    }
    // Closing blocks (commit, leave the group): off the reactor.
    let id = shared.id.clone();
    let closed = tokio::task::spawn_blocking(move || {
        commit_stored(&shared.consumer, CommitMode::Sync, &shared.id);
        shared.consumer.unsubscribe();
        drop(shared);
    })
    .await;
    if closed.is_err() {
        tracing::warn!(message = "Closing the Kafka consumer failed.", receiver = %id);
    }
    tracing::info!(message = "Stopped the Kafka consumer.", receiver = %id);
}

fn pause_all(shared: &Shared) {
    match shared.consumer.assignment().and_then(|a| shared.consumer.pause(&a)) {
        Ok(()) => tracing::debug!(message = "Pipelines busy: paused the partitions.", receiver = %shared.id),
        Err(e) => tracing::warn!(message = "Pausing the partitions failed.", receiver = %shared.id, error = %e),
    }
}

fn resume_all(shared: &Shared) {
    match shared.consumer.assignment().and_then(|a| shared.consumer.resume(&a)) {
        Ok(()) => tracing::debug!(message = "Resumed the partitions.", receiver = %shared.id),
        Err(e) => tracing::warn!(message = "Resuming the partitions failed.", receiver = %shared.id, error = %e),
    }
}

/// Decodes one message, hands it to the pipelines until they take it, and marks it done.
async fn handle(shared: Arc<Shared>, m: Incoming, _permit: OwnedSemaphorePermit) {
    let route = &shared.routes[m.route];
    let decoded = match route.encoding {
        Encoding::OtlpProto => Payload::new(route.signal, m.value.clone()).map_err(|e| e.to_string()),
        Encoding::OtlpJson => json::decode(route.signal, &m.value).map_err(|e| e.to_string()),
    };
    let decoded = decoded.and_then(|p| headers::set_resource_attributes(&p, &m.headers).map_err(|e| e.to_string()));
    match decoded {
        Ok(payload) => {
            if !deliver(&shared, route, payload, &m).await {
                return; // shutting down: not done, read again by the next owner
            }
        }
        Err(error) => {
            route.unmarshal_failed.increment(1);
            tracing::warn!(
                message = "Skipping a message that is not a valid OTLP request.",
                receiver = %shared.id,
                topic = %route.topic,
                partition = m.partition,
                offset = m.offset,
                encoding = route.encoding.as_str(),
                %error,
            );
        }
    }
    if let Some(commit_through) = m.offsets.done(m.offset) {
        match shared.consumer.store_offset(&route.topic, m.partition, commit_through) {
            Ok(()) if shared.commit_each => commit_stored(&shared.consumer, CommitMode::Async, &shared.id),
            Ok(()) => {}
            // Revoked meanwhile: the next owner reads it again.
            Err(e) => tracing::debug!(message = "Offset not stored.", receiver = %shared.id, error = %e),
        }
    }
}

/// Offers `payload` to the pipelines until they take it (or refuse it for good, with
/// `on_error: true`). Returns false when shutdown interrupted it.
async fn deliver(shared: &Shared, route: &Route, payload: Payload, m: &Incoming) -> bool {
    let (first, longest, growth) = shared.backoff;
    let mut wait = first;
    let mut attempts = 0u32;
    loop {
        let outcome = tokio::select! {
            r = route.consumer.consume(payload.clone(), TRANSPORT, shared.wait_for_result) => r,
            _ = shared.shutdown.cancelled(), if attempts > 0 => return false,
        };
        let failure = match outcome {
            Ok(()) => return true,
            Err(f) => f,
        };
        if !failure.retryable && shared.skip_on_permanent_error {
            tracing::warn!(
                message = "The pipelines refused a message for good; skipping it (message_marking::on_error).",
                receiver = %shared.id, topic = %route.topic, partition = m.partition, offset = m.offset, error = %failure,
            );
            return true;
        }
        attempts += 1;
        if attempts == 1 || attempts.is_power_of_two() {
            tracing::info!(
                message = "The pipelines did not take a message; retrying.",
                receiver = %shared.id, topic = %route.topic, partition = m.partition, offset = m.offset,
                error = %failure, attempts,
            );
        }
        let delay = failure.retry_after.map_or(wait, |hint| hint.max(wait));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shared.shutdown.cancelled() => return false,
        }
        wait = wait.mul_f64(growth).min(longest);
    }
}
