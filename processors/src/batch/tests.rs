//! `batch` running in a real pipeline: `test` receiver → batch → `test` exporter.
//!
//! Time is paused: tokio jumps to the next timer when every task waits, so timeouts are exact
//! and cost no real time. A batch that should go out on size alone must arrive without the
//! clock moving.

use std::time::Duration;
use tokio::time::Instant;
use weir_core::testing::{accept_all, metric_value, span_names, spans, TestPipeline, Verdict};
use weir_core::{Failure, Registry, Signal};

async fn pipeline(batch: &str, verdict: Verdict) -> TestPipeline {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    TestPipeline::start(registry, Signal::Traces, &format!("{{batch: {batch}}}"), "batch", verdict).await
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test(start_paused = true)]
async fn sends_when_send_batch_size_is_reached() {
    let mut p = pipeline("{send_batch_size: 10, timeout: 1h}", accept_all).await;
    let start = Instant::now();
    for prefix in ["a", "b", "c"] {
        p.send(spans(prefix, 4)).await.unwrap();
    }
    let batch = p.next_export().await;
    assert_eq!(start.elapsed(), Duration::ZERO, "sent on size, not on the timeout");
    // send_batch_size triggers a send; it does not cap the batch.
    assert_eq!(batch.items(), 12);
    assert_eq!(span_names(&batch), [names("a", 0..4), names("b", 0..4), names("c", 0..4)].concat());
    assert!(p.shutdown().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn partial_batch_is_sent_when_the_timeout_elapses() {
    let mut p = pipeline("{send_batch_size: 100, timeout: 200ms}", accept_all).await;
    let start = Instant::now();
    p.send(spans("a", 5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(199)).await;
    assert!(p.nothing_exported());
    let batch = p.next_export().await;
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(batch.items(), 5);
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn timeout_counts_from_the_first_item_of_the_batch() {
    let mut p = pipeline("{send_batch_size: 100, timeout: 200ms}", accept_all).await;
    let start = Instant::now();
    p.send(spans("a", 3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    p.send(spans("b", 3)).await.unwrap();
    let batch = p.next_export().await;
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(span_names(&batch), [names("a", 0..3), names("b", 0..3)].concat());

    // The next batch gets its own full timeout.
    let second = Instant::now();
    p.send(spans("c", 1)).await.unwrap();
    assert_eq!(p.next_export().await.items(), 1);
    assert_eq!(second.elapsed(), Duration::from_millis(200));
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn zero_timeout_sends_every_request_as_it_arrives() {
    let mut p = pipeline("{send_batch_size: 8192, timeout: 0}", accept_all).await;
    let start = Instant::now();
    p.send(spans("a", 2)).await.unwrap();
    p.send(spans("b", 3)).await.unwrap();
    assert_eq!(span_names(&p.next_export().await), names("a", 0..2));
    assert_eq!(span_names(&p.next_export().await), names("b", 0..3));
    assert_eq!(start.elapsed(), Duration::ZERO);
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn requests_larger_than_send_batch_max_size_are_split() {
    let mut p = pipeline("{send_batch_size: 10, send_batch_max_size: 15, timeout: 1h}", accept_all).await;
    let start = Instant::now();
    p.send(spans("a", 35)).await.unwrap();
    assert_eq!(span_names(&p.next_export().await), names("a", 0..15));
    assert_eq!(span_names(&p.next_export().await), names("a", 15..30));
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The last piece is below send_batch_size: it opens the next batch.
    p.send(spans("b", 5)).await.unwrap();
    let batch = p.next_export().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(span_names(&batch), [names("a", 30..35), names("b", 0..5)].concat());
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_request_that_would_exceed_send_batch_max_size_goes_into_the_next_batch() {
    let mut p = pipeline("{send_batch_size: 10, send_batch_max_size: 10, timeout: 1h}", accept_all).await;
    let start = Instant::now();
    p.send(spans("a", 6)).await.unwrap();
    p.send(spans("b", 6)).await.unwrap();
    assert_eq!(span_names(&p.next_export().await), names("a", 0..6));
    p.send(spans("c", 4)).await.unwrap();
    assert_eq!(span_names(&p.next_export().await), [names("b", 0..6), names("c", 0..4)].concat());
    assert_eq!(start.elapsed(), Duration::ZERO);
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn closing_the_input_flushes_the_open_batch() {
    let mut p = pipeline("{send_batch_size: 100, timeout: 1h}", accept_all).await;
    let start = Instant::now();
    p.send(spans("a", 7)).await.unwrap();
    p.send(spans("b", 1)).await.unwrap();
    assert!(p.nothing_exported());
    let rest = p.shutdown().await;
    assert_eq!(start.elapsed(), Duration::ZERO, "flushed at shutdown, not on the timeout");
    assert_eq!(rest.len(), 1);
    assert_eq!(span_names(&rest[0]), [names("a", 0..7), names("b", 0..1)].concat());
}

#[tokio::test(start_paused = true)]
async fn delivery_of_a_batch_acknowledges_every_request_in_it() {
    let p = pipeline("{send_batch_size: 6, timeout: 1h}", accept_all).await;
    let a = p.send_and_wait(spans("a", 3));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!a.is_finished(), "acknowledged only once its batch is exported");
    let b = p.send_and_wait(spans("b", 3));
    assert_eq!(a.await.unwrap(), Ok(()));
    assert_eq!(b.await.unwrap(), Ok(()));
    p.shutdown().await;
}

fn refuse_all(_: &weir_core::Payload) -> Result<(), Failure> {
    Err(Failure::permanent("backend rejected the batch"))
}

#[tokio::test(start_paused = true)]
async fn export_failure_reaches_every_request_merged_into_the_batch() {
    let p = pipeline("{send_batch_size: 6, timeout: 1h}", refuse_all).await;
    let a = p.send_and_wait(spans("a", 3));
    let b = p.send_and_wait(spans("b", 3));
    for outcome in [a.await.unwrap(), b.await.unwrap()] {
        let f = outcome.unwrap_err();
        assert_eq!(f.message, "backend rejected the batch");
        assert!(!f.retryable);
    }
    p.shutdown().await;
}

fn refuse_batches_with_x(p: &weir_core::Payload) -> Result<(), Failure> {
    match span_names(p).iter().any(|n| n.starts_with('x')) {
        true => Err(Failure::permanent("backend rejected the batch")),
        false => Ok(()),
    }
}

#[tokio::test(start_paused = true)]
async fn export_failure_does_not_reach_requests_of_other_batches() {
    let p = pipeline("{send_batch_size: 5, timeout: 1h}", refuse_batches_with_x).await;
    let x = p.send_and_wait(spans("x", 5));
    let y = p.send_and_wait(spans("y", 5));
    assert!(x.await.unwrap().is_err());
    assert_eq!(y.await.unwrap(), Ok(()));
    p.shutdown().await;
}

fn refuse_second_piece(p: &weir_core::Payload) -> Result<(), Failure> {
    match span_names(p).first().map(String::as_str) {
        Some("a15") => Err(Failure::retryable("backend busy")),
        _ => Ok(()),
    }
}

#[tokio::test(start_paused = true)]
async fn failure_of_one_piece_of_a_split_request_fails_the_request() {
    let mut p = pipeline("{send_batch_size: 10, send_batch_max_size: 15, timeout: 1h}", refuse_second_piece).await;
    let a = p.send_and_wait(spans("a", 30));
    assert_eq!(p.next_export().await.items(), 15);
    assert_eq!(p.next_export().await.items(), 15);
    assert_eq!(a.await.unwrap().unwrap_err().message, "backend busy");
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_count_items_and_batches_by_trigger() {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let mut p = TestPipeline::start(
        registry,
        Signal::Traces,
        "{batch/metrics: {send_batch_size: 4, timeout: 100ms}}",
        "batch/metrics",
        accept_all,
    )
    .await;
    p.send(spans("a", 4)).await.unwrap();
    p.next_export().await;
    p.send(spans("b", 1)).await.unwrap();
    p.next_export().await;
    p.shutdown().await;

    let id = [("processor", "batch/metrics")];
    assert_eq!(metric_value("otelcol_processor_batch_batch_size_trigger_send", &id), Some(1.0));
    assert_eq!(metric_value("otelcol_processor_batch_timeout_trigger_send", &id), Some(1.0));
    assert_eq!(metric_value("otelcol_processor_batch_batch_send_size_count", &id), Some(2.0));
    assert_eq!(metric_value("otelcol_processor_batch_batch_send_size_sum", &id), Some(5.0));
    let items = [("processor", "batch/metrics"), ("otel_signal", "traces")];
    assert_eq!(metric_value("otelcol_processor_incoming_items", &items), Some(5.0));
    assert_eq!(metric_value("otelcol_processor_outgoing_items", &items), Some(5.0));
}

#[test]
fn invalid_settings_are_reported_with_their_location() {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let yaml = "receivers: {}\n\
                processors:\n  batch:\n    send_batch_size: 100\n    send_batch_max_size: 10\n\
                exporters: {}\n\
                service: {pipelines: {}}\n";
    let errors = weir_core::config::load_str("pipelines.yaml", yaml, &registry, &|_| None).err().unwrap();
    let e = errors.0.iter().find(|e| e.path == "processors::batch").expect("an error about processors::batch");
    assert_eq!(e.message, "send_batch_max_size must be greater or equal to send_batch_size");
}

fn tenant(t: &str) -> weir_core::ClientMetadata {
    weir_core::ClientMetadata::from_pairs([("X-Tenant", t)])
}

#[tokio::test]
async fn metadata_keys_batch_each_tenant_apart() {
    let mut p = pipeline("{send_batch_size: 4, timeout: 10s, metadata_keys: [x-tenant]}", accept_all).await;
    let a1 = p.send_and_wait_with_metadata(spans("a", 2), tenant("a"));
    let b1 = p.send_and_wait_with_metadata(spans("b", 2), tenant("b"));
    let a2 = p.send_and_wait_with_metadata(spans("a", 2), tenant("a"));
    let first = p.next_export().await;
    assert_eq!(span_names(&first), names("a", 0..2).into_iter().chain(names("a", 0..2)).collect::<Vec<_>>());
    assert_eq!(a1.await.unwrap(), Ok(()));
    assert_eq!(a2.await.unwrap(), Ok(()));
    let b2 = p.send_and_wait_with_metadata(spans("b", 2), tenant("b"));
    let second = p.next_export().await;
    assert!(span_names(&second).iter().all(|n| n.starts_with('b')), "{:?}", span_names(&second));
    assert_eq!(b1.await.unwrap(), Ok(()));
    assert_eq!(b2.await.unwrap(), Ok(()));
}

#[tokio::test]
async fn metadata_cardinality_limit_refuses_a_further_combination() {
    let mut p = pipeline(
        "{send_batch_size: 1, timeout: 10s, metadata_keys: [x-tenant], metadata_cardinality_limit: 1}",
        accept_all,
    )
    .await;
    assert_eq!(p.send_and_wait_with_metadata(spans("a", 1), tenant("a")).await.unwrap(), Ok(()));
    p.next_export().await;
    let f = p.send_and_wait_with_metadata(spans("b", 1), tenant("b")).await.unwrap().unwrap_err();
    assert_eq!(f.message, "too many batcher metadata-value combinations");
    assert!(f.retryable);
    assert_eq!(p.send_and_wait_with_metadata(spans("a", 1), tenant("a")).await.unwrap(), Ok(()));
}
