//! `memory_limiter`: refuses new data while the process uses too much memory.
//!
//! # Design
//!
//! A `Limiter` is shared by every pipeline that lists the same component id (as in the
//! Collector, one limiter per id), so there is one measurement, one state and one log line
//! per transition however many pipelines use it.
//!
//! - **Measuring.** A background task reads the process's memory use from a [`MemorySource`]
//!   (by default the resident set size, [`ProcessRss`]) every `check_interval`; the first
//!   measurement is taken when the limiter is built. RSS is what the kernel charges to the
//!   container's cgroup and what the OOM killer looks at.
//! - **Deciding.** At or above the soft limit (`limit − spike`) a measurement sets the
//!   *refusing* flag; the first measurement below it clears the flag. Nothing else changes the
//!   state, so refusing lasts at least until the next measurement. There is no garbage
//!   collector to force, unlike the Collector: memory is freed as soon as data leaves the
//!   pipeline.
//! - **Refusing.** The limiter is the pipeline's [`Gate`]: receivers call it before data
//!   enters the pipeline, so refused data is never queued. While refusing, [`Gate::admit`]
//!   returns the retryable failure "data refused due to high memory usage" with a retry hint
//!   of `max(check_interval, 1s)`, which OTLP receivers answer with gRPC `UNAVAILABLE` /
//!   HTTP 503 and `Retry-After`. The check is one atomic load; a refusal increments a
//!   counter and clones a prepared failure, nothing else.
//! - **Forwarding.** The processor task itself forwards every envelope unchanged.
//!
//! # Metrics
//!
//! Label `processor`: `otelcol_processor_memory_limiter_accepted_{spans,metric_points,log_records}`
//! (items forwarded), `otelcol_processor_memory_limiter_refused_{…}` (items refused at the gate),
//! `otelcol_processor_memory_limiter_memory_rss` (the last measurement, bytes), and
//! `otelcol_processor_incoming_items` / `otelcol_processor_outgoing_items`.

mod config;

pub use config::MemoryLimiterConfig;

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use config::Limits;
use metrics::{Counter, Gauge};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use weir_core::component::BuildContext;
use weir_core::config::duration;
use weir_core::pipeline::RETRY_AFTER;
use weir_core::Signal;
use weir_core::{BuildError, ComponentId, Envelope, Failure, Gate, Output, Payload, Processor, ProcessorFactory};

const MIB: u64 = 1024 * 1024;

/// The message of a refusal, as the Collector words it.
pub const REFUSED_MESSAGE: &str = "data refused due to high memory usage";

/// Where `memory_limiter` reads the process's current memory use.
///
/// Any `Fn() -> Option<u64>` is one, which lets tests simulate memory pressure.
pub trait MemorySource: Send + Sync + 'static {
    /// Bytes in use now, or `None` when they cannot be measured.
    fn used_bytes(&self) -> Option<u64>;
}

impl<F> MemorySource for F
where
    F: Fn() -> Option<u64> + Send + Sync + 'static,
{
    fn used_bytes(&self) -> Option<u64> {
        self()
    }
}

/// The resident set size of this process, from `/proc/self/statm`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRss;

impl MemorySource for ProcessRss {
    fn used_bytes(&self) -> Option<u64> {
        weir_core::telemetry::read_proc_self().map(|(rss, _cpu)| rss)
    }
}

/// The memory available to this process, for `limit_percentage`: the cgroup v2 limit
/// (`/sys/fs/cgroup/memory.max`) when it is a number, else the cgroup v1 limit when it is set,
/// else the machine's `MemTotal` from `/proc/meminfo`.
pub fn total_memory() -> Option<u64> {
    total_memory_from(&|path| std::fs::read_to_string(path).ok())
}

const CGROUP_V2_MAX: &str = "/sys/fs/cgroup/memory.max";
const CGROUP_V1_LIMIT: &str = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
const MEMINFO: &str = "/proc/meminfo";

/// cgroup v1 reports "no limit" as a number near `i64::MAX` (9223372036854771712 with 4 KiB
/// pages); anything this large is not a real limit.
const CGROUP_V1_UNLIMITED: u64 = 1 << 62;

/// [`total_memory`] over a file reader, so tests can present any machine.
fn total_memory_from(read: &dyn Fn(&str) -> Option<String>) -> Option<u64> {
    let number = |path: &str| read(path).and_then(|s| s.trim().parse::<u64>().ok()).filter(|&n| n > 0);
    // cgroup v2 writes "max" when unlimited, which does not parse.
    if let Some(limit) = number(CGROUP_V2_MAX) {
        return Some(limit);
    }
    if let Some(limit) = number(CGROUP_V1_LIMIT).filter(|&n| n < CGROUP_V1_UNLIMITED) {
        return Some(limit);
    }
    read(MEMINFO).as_deref().and_then(mem_total)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let n: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

type TotalMemory = dyn Fn() -> Option<u64> + Send + Sync;

/// Factory of the `memory_limiter` processor.
pub struct MemoryLimiterFactory {
    memory: Arc<dyn MemorySource>,
    total_memory: Arc<TotalMemory>,
    /// The limiter of each component id, shared by its pipelines while any of them runs.
    limiters: Mutex<HashMap<ComponentId, Weak<Limiter>>>,
}

impl Default for MemoryLimiterFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimiterFactory {
    /// Measures this process's RSS, against limits from [`total_memory`].
    pub fn new() -> Self {
        Self::with_sources(ProcessRss, total_memory)
    }

    /// Measures with `memory`; `total_memory` resolves `limit_percentage`.
    pub fn with_sources(
        memory: impl MemorySource,
        total_memory: impl Fn() -> Option<u64> + Send + Sync + 'static,
    ) -> Self {
        MemoryLimiterFactory {
            memory: Arc::new(memory),
            total_memory: Arc::new(total_memory),
            limiters: Mutex::new(HashMap::new()),
        }
    }

    /// The running limiter of `id` when its configuration is unchanged, else a new one.
    fn limiter(&self, id: &ComponentId, config: &MemoryLimiterConfig) -> Result<Arc<Limiter>, BuildError> {
        // The map only caches; a panic elsewhere while it was locked leaves nothing broken.
        let mut limiters = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = limiters.get(id).and_then(Weak::upgrade) {
            if running.config == *config {
                return Ok(running);
            }
        }
        let limiter = Arc::new(Limiter::new(id, config, self.memory.clone(), &*self.total_memory)?);
        limiters.retain(|_, l| l.strong_count() > 0);
        limiters.insert(id.clone(), Arc::downgrade(&limiter));
        Ok(limiter)
    }
}

impl ProcessorFactory for MemoryLimiterFactory {
    type Config = MemoryLimiterConfig;

    fn type_name(&self) -> &'static str {
        "memory_limiter"
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &MemoryLimiterConfig) -> Result<Box<dyn Processor>, BuildError> {
        let signal =
            ctx.signal.ok_or_else(|| BuildError::new("the memory_limiter processor is built per pipeline signal"))?;
        let limiter = self.limiter(&ctx.id, config)?;
        let id = ctx.id.to_string();
        Ok(Box::new(MemoryLimiterProcessor {
            accepted: metrics::counter!(
                format!("otelcol_processor_memory_limiter_accepted_{}", signal.item_name()),
                "processor" => id.clone()
            ),
            items: ItemCounters::new(&id, signal),
            limiter,
        }))
    }
}

/// The measurement and refusing state of one `memory_limiter` id.
struct Limiter {
    id: String,
    /// What it was built from, to know whether a rebuilt pipeline may share it.
    config: MemoryLimiterConfig,
    limits: Limits,
    source: Arc<dyn MemorySource>,
    refusing: AtomicBool,
    checker_started: AtomicBool,
    /// Returned by every refusal.
    refusal: Failure,
    /// Items refused, per signal in [`Signal::ALL`] order.
    refused: [Counter; 3],
    memory_rss: Gauge,
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl Limiter {
    fn new(
        id: &ComponentId,
        config: &MemoryLimiterConfig,
        source: Arc<dyn MemorySource>,
        total_memory: &TotalMemory,
    ) -> Result<Limiter, BuildError> {
        let limits = Limits::resolve(config, total_memory).map_err(BuildError::new)?;
        let id = id.to_string();
        let refused = Signal::ALL.map(|s| {
            metrics::counter!(
                format!("otelcol_processor_memory_limiter_refused_{}", s.item_name()),
                "processor" => id.clone()
            )
        });
        let limiter = Limiter {
            refusal: Failure::retryable(REFUSED_MESSAGE).with_retry_after(config.check_interval.max(RETRY_AFTER)),
            memory_rss: metrics::gauge!("otelcol_processor_memory_limiter_memory_rss", "processor" => id.clone()),
            id,
            config: config.clone(),
            limits,
            source,
            refusing: AtomicBool::new(false),
            checker_started: AtomicBool::new(false),
            refused,
        };
        tracing::info!(
            message = "Memory limiter configured.",
            processor = %limiter.id,
            limit_mib = limits.hard / MIB,
            spike_limit_mib = (limits.hard - limits.soft) / MIB,
            check_interval = %duration::format(config.check_interval),
        );
        // Measure once now, so the state is right before the first interval has passed.
        if !limiter.check() {
            return Err(BuildError::new(
                "cannot measure this process's memory use (/proc/self/statm); memory_limiter needs Linux /proc",
            ));
        }
        Ok(limiter)
    }

    /// Measures once and updates the refusing flag; false when nothing could be measured.
    fn check(&self) -> bool {
        let Some(used) = self.source.used_bytes() else {
            tracing::debug!(message = "Cannot measure memory use; keeping the current state.", processor = %self.id);
            return false;
        };
        self.memory_rss.set(used as f64);
        let above = used >= self.limits.soft;
        let was = self.refusing.swap(above, Ordering::Relaxed);
        if above && !was {
            tracing::warn!(
                message = "Memory usage is above the soft limit. Refusing data.",
                processor = %self.id,
                cur_mem_mib = used / MIB,
                soft_limit_mib = self.limits.soft / MIB,
                limit_mib = self.limits.hard / MIB,
            );
        } else if was && !above {
            tracing::info!(
                message = "Memory usage back within limits.",
                processor = %self.id,
                cur_mem_mib = used / MIB,
                soft_limit_mib = self.limits.soft / MIB,
            );
        }
        true
    }

    /// Starts the periodic measurement, once per limiter. It ends at the first tick after
    /// the last pipeline and gate holding the limiter are gone.
    fn start_checker(self: &Arc<Self>) {
        if self.checker_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let limiter = Arc::downgrade(self);
        let every = self.config.check_interval;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(limiter) = limiter.upgrade() else { break };
                limiter.check();
            }
        });
    }
}

impl Gate for Limiter {
    fn admit(&self, payload: &Payload) -> Result<(), Failure> {
        if !self.refusing.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.refused[signal_index(payload.signal())].increment(payload.items() as u64);
        Err(self.refusal.clone())
    }
}

/// The `memory_limiter` task of one pipeline: forwards everything the gate let in.
struct MemoryLimiterProcessor {
    limiter: Arc<Limiter>,
    accepted: Counter,
    items: ItemCounters,
}

#[async_trait]
impl Processor for MemoryLimiterProcessor {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        self.limiter.start_checker();
        while let Some(env) = input.recv().await {
            let items = env.payload.items();
            self.items.incoming(items);
            self.accepted.increment(items as u64);
            self.items.outgoing(items);
            // A failure is already recorded on the envelope's tokens by the output, so the
            // requests' senders learn about it.
            let _ = output.send(env).await;
        }
    }

    fn gate(&self) -> Option<Arc<dyn Gate>> {
        Some(self.limiter.clone())
    }
}

#[cfg(test)]
mod tests;
