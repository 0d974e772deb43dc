//! weir's processors: `batch` and `memory_limiter`.
//!
//! Each processor is one module with its `config.rs` (the user documentation of its keys) and
//! the component itself. Both serve every signal and follow the Collector's keys, defaults,
//! validation messages and metric names; `processors/README.md` documents them for users.
//!
//! - [`batch`] joins requests into larger ones by concatenating their encoded bytes, and
//!   carries the acknowledgement tokens of every request it merges.
//! - [`memory_limiter`] samples the process's memory and, above its soft limit, makes
//!   receivers refuse new data with a retryable error through a [`weir_core::Gate`].

pub mod batch;
pub mod memory_limiter;
mod metrics;

#[cfg(test)]
mod test_pipeline;

pub use batch::{BatchConfig, BatchFactory};
pub use memory_limiter::{MemoryLimiterConfig, MemoryLimiterFactory, MemorySource};

/// Registers every processor of this crate.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_processor(BatchFactory);
    registry.add_processor(MemoryLimiterFactory::new());
}
