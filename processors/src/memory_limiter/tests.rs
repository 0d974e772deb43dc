//! `memory_limiter` with a simulated memory reading, in a real pipeline and on its own.
//!
//! Time is paused, so `check_interval` passes exactly and at no cost; memory pressure is a
//! number the test sets, nothing is allocated.

use super::*;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use weir_core::testing::{accept_all, log_records, metric_value, spans, TestPipeline};
use weir_core::Registry;

/// A memory reading the test controls.
#[derive(Clone)]
struct FakeMemory(Arc<AtomicU64>);

impl FakeMemory {
    fn mib(n: u64) -> Self {
        FakeMemory(Arc::new(AtomicU64::new(n * MIB)))
    }
    fn set_mib(&self, n: u64) {
        self.0.store(n * MIB, Ordering::Relaxed);
    }
    fn factory(&self, total_memory_mib: u64) -> MemoryLimiterFactory {
        let used = self.0.clone();
        MemoryLimiterFactory::with_sources(
            move || Some(used.load(Ordering::Relaxed)),
            move || Some(total_memory_mib * MIB),
        )
    }
}

/// A pipeline through `processors` (flow-style YAML) whose memory_limiter reads `memory`.
async fn pipeline(memory: &FakeMemory, signal: Signal, processors: &str, chain: &str) -> TestPipeline {
    let mut registry = Registry::new();
    crate::register(&mut registry);
    registry.add_processor(memory.factory(1000));
    TestPipeline::start(registry, signal, processors, chain, accept_all).await
}

/// Past one check: the checker ticks at multiples of check_interval.
async fn after_a_check() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

const LIMIT_100_MIB: &str = "{memory_limiter: {check_interval: 1s, limit_mib: 100}}";

#[tokio::test(start_paused = true)]
async fn refuses_above_the_soft_limit_until_a_check_finds_memory_below_it() {
    let memory = FakeMemory::mib(10);
    let mut p = pipeline(&memory, Signal::Traces, LIMIT_100_MIB, "memory_limiter").await;
    let sent = spans("a", 3);
    p.send(sent.clone()).await.unwrap();
    let forwarded = p.next_export().await;
    assert_eq!(forwarded.bytes(), sent.bytes(), "forwarded unchanged");

    // Soft limit: 100 MiB − 20% spike = 80 MiB.
    memory.set_mib(81);
    after_a_check().await;
    let refused = p.send(spans("b", 3)).await.unwrap_err();
    assert_eq!(refused.message, "data refused due to high memory usage");
    assert!(refused.retryable);
    assert_eq!(refused.retry_after, Some(Duration::from_secs(1)));

    // Still refusing until the next check, even though memory already dropped.
    memory.set_mib(50);
    assert!(p.send(spans("c", 3)).await.is_err());
    after_a_check().await;
    p.send(spans("d", 3)).await.unwrap();
    assert_eq!(weir_core::testing::span_names(&p.next_export().await), ["d0", "d1", "d2"]);
    assert!(p.shutdown().await.is_empty(), "refused data never entered the pipeline");
}

#[tokio::test(start_paused = true)]
async fn memory_at_the_soft_limit_when_built_refuses_from_the_start() {
    let memory = FakeMemory::mib(80);
    let p = pipeline(&memory, Signal::Traces, LIMIT_100_MIB, "memory_limiter").await;
    assert!(p.send(spans("a", 1)).await.is_err());
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn retry_hint_is_the_check_interval_when_longer_than_a_second() {
    let memory = FakeMemory::mib(90);
    let p =
        pipeline(&memory, Signal::Traces, "{memory_limiter: {check_interval: 5s, limit_mib: 100}}", "memory_limiter")
            .await;
    assert_eq!(p.send(spans("a", 1)).await.unwrap_err().retry_after, Some(Duration::from_secs(5)));
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn percentage_limits_are_taken_of_the_total_memory() {
    // Total 1000 MiB: hard limit 500 MiB, spike 100 MiB, soft limit 400 MiB.
    let memory = FakeMemory::mib(399);
    let processors = "{memory_limiter: {check_interval: 1s, limit_percentage: 50, spike_limit_percentage: 10}}";
    let p = pipeline(&memory, Signal::Traces, processors, "memory_limiter").await;
    p.send(spans("a", 1)).await.unwrap();
    memory.set_mib(400);
    after_a_check().await;
    assert!(p.send(spans("b", 1)).await.is_err());
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn works_in_front_of_batch() {
    let memory = FakeMemory::mib(10);
    let processors = "{memory_limiter: {check_interval: 1s, limit_mib: 100}, batch: {send_batch_size: 4}}";
    let mut p = pipeline(&memory, Signal::Traces, processors, "memory_limiter, batch").await;
    p.send(spans("a", 2)).await.unwrap();
    p.send(spans("b", 2)).await.unwrap();
    assert_eq!(p.next_export().await.items(), 4);
    memory.set_mib(95);
    after_a_check().await;
    assert!(p.send(spans("c", 2)).await.is_err());
    p.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn accepted_and_refused_items_are_counted_per_signal() {
    let memory = FakeMemory::mib(10);
    let processors = "{memory_limiter/metrics: {check_interval: 1s, limit_mib: 100}}";
    let mut p = pipeline(&memory, Signal::Logs, processors, "memory_limiter/metrics").await;
    p.send(log_records(3)).await.unwrap();
    p.next_export().await;
    memory.set_mib(90);
    after_a_check().await;
    assert!(p.send(log_records(2)).await.is_err());
    p.shutdown().await;

    let id = [("processor", "memory_limiter/metrics")];
    assert_eq!(metric_value("otelcol_processor_memory_limiter_accepted_log_records", &id), Some(3.0));
    assert_eq!(metric_value("otelcol_processor_memory_limiter_refused_log_records", &id), Some(2.0));
    assert_eq!(metric_value("otelcol_processor_memory_limiter_memory_rss", &id), Some((90 * MIB) as f64));
    let items = [("processor", "memory_limiter/metrics"), ("otel_signal", "logs")];
    assert_eq!(metric_value("otelcol_processor_incoming_items", &items), Some(3.0));
    assert_eq!(metric_value("otelcol_processor_outgoing_items", &items), Some(3.0));
}

#[tokio::test(start_paused = true)]
async fn real_memory_sources_allow_a_test_process() {
    // Process RSS against 90% of this machine's (or container's) memory: far from the limit.
    let mut registry = Registry::new();
    crate::register(&mut registry);
    let processors = "{memory_limiter: {check_interval: 1s, limit_percentage: 90}}";
    let mut p = TestPipeline::start(registry, Signal::Traces, processors, "memory_limiter", accept_all).await;
    p.send(spans("a", 1)).await.unwrap();
    p.next_export().await;
    p.shutdown().await;
}

fn context(id: &str, signal: Signal) -> BuildContext {
    BuildContext::new(ComponentId::parse(id).unwrap(), Some(signal))
}

fn config(limit_mib: u64) -> MemoryLimiterConfig {
    MemoryLimiterConfig { check_interval: Duration::from_secs(1), limit_mib, ..Default::default() }
}

#[test]
fn pipelines_of_one_id_share_one_limiter() {
    let factory = FakeMemory::mib(10).factory(1000);
    let id = ComponentId::parse("memory_limiter").unwrap();
    let first = factory.limiter(&id, &config(100)).unwrap();
    let second = factory.limiter(&id, &config(100)).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    let other_id = factory.limiter(&ComponentId::parse("memory_limiter/b").unwrap(), &config(100)).unwrap();
    assert!(!Arc::ptr_eq(&first, &other_id));
    let changed = factory.limiter(&id, &config(200)).unwrap();
    assert!(!Arc::ptr_eq(&first, &changed), "a changed configuration gets its own limiter");
}

#[test]
fn gate_refuses_every_signal_while_refusing() {
    let memory = FakeMemory::mib(10);
    let factory = memory.factory(1000);
    let processor = factory.build(&context("memory_limiter", Signal::Traces), &config(100)).unwrap();
    let gate = processor.gate().expect("memory_limiter has a gate");
    assert_eq!(gate.admit(&spans("a", 1)), Ok(()));
    memory.set_mib(85);
    let limiter = factory.limiter(&ComponentId::parse("memory_limiter").unwrap(), &config(100)).unwrap();
    assert!(limiter.check());
    assert!(gate.admit(&spans("a", 1)).is_err());
    assert!(gate.admit(&log_records(1)).is_err());
    memory.set_mib(79);
    limiter.check();
    assert_eq!(gate.admit(&log_records(1)), Ok(()));
}

#[test]
fn build_fails_when_memory_cannot_be_measured() {
    let factory = MemoryLimiterFactory::with_sources(|| None, || Some(1 << 30));
    let e = factory.build(&context("memory_limiter", Signal::Logs), &config(100)).err().unwrap();
    assert!(e.to_string().contains("cannot measure"), "{e}");
}

#[test]
fn build_fails_when_a_percentage_has_no_total() {
    let factory = MemoryLimiterFactory::with_sources(|| Some(0), || None);
    let c = MemoryLimiterConfig { limit_mib: 0, limit_percentage: 80, ..config(0) };
    let e = factory.build(&context("memory_limiter", Signal::Logs), &c).err().unwrap();
    assert!(e.to_string().contains("'limit_mib'"), "{e}");
}

/// A file system with only `files`.
fn files<'a>(files: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |path| files.iter().find(|(p, _)| *p == path).map(|(_, text)| text.to_string())
}

const MEMINFO_16G: &str = "MemTotal:       16384000 kB\nMemFree:         1024000 kB\n";

#[test]
fn total_memory_is_the_cgroup_v2_limit_when_set() {
    let fs = files(&[(CGROUP_V2_MAX, "536870912\n"), (MEMINFO, MEMINFO_16G)]);
    assert_eq!(total_memory_from(&fs), Some(512 * MIB));
}

#[test]
fn total_memory_is_the_cgroup_v1_limit_when_set() {
    let fs = files(&[(CGROUP_V1_LIMIT, "1073741824\n"), (MEMINFO, MEMINFO_16G)]);
    assert_eq!(total_memory_from(&fs), Some(1024 * MIB));
}

#[test]
fn total_memory_is_mem_total_without_a_cgroup_limit() {
    let expected = Some(16_384_000 * 1024);
    let v2_unlimited = files(&[(CGROUP_V2_MAX, "max\n"), (MEMINFO, MEMINFO_16G)]);
    assert_eq!(total_memory_from(&v2_unlimited), expected);
    let v1_unlimited = files(&[(CGROUP_V1_LIMIT, "9223372036854771712\n"), (MEMINFO, MEMINFO_16G)]);
    assert_eq!(total_memory_from(&v1_unlimited), expected);
    let no_cgroup = files(&[(MEMINFO, MEMINFO_16G)]);
    assert_eq!(total_memory_from(&no_cgroup), expected);
}

#[test]
fn total_memory_is_unknown_without_any_source() {
    assert_eq!(total_memory_from(&files(&[])), None);
    assert_eq!(total_memory_from(&files(&[(MEMINFO, "MemFree: 1 kB\n")])), None);
}

#[test]
fn this_machine_has_a_total_memory() {
    assert!(total_memory().is_some_and(|t| t > 0));
}
