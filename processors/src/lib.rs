//! weir's processors: `batch`, `memory_limiter`, `probabilistic_sampler`, `tail_sampling`,
//! `transform`, `filter`, `resource`, `attributes`, `cumulativetodelta` and `resourcedetection`.
//!
//! Each processor is one module with its `config.rs` (the user documentation of its keys) and
//! the component itself. `batch` and `memory_limiter` serve every signal, `tail_sampling`
//! traces; all follow the Collector's keys, defaults, validation messages and metric names;
//! `processors/README.md` documents them for users.
//!
//! - [`batch`] joins requests into larger ones by concatenating their encoded bytes, and
//!   carries the acknowledgement tokens of every request it merges.
//! - [`memory_limiter`] samples the process's memory and, above its soft limit, makes
//!   receivers refuse new data with a retryable error through a [`weir_core::Gate`].
//! - [`probabilistic_sampler`] keeps a percentage of spans or log records, item by item, with
//!   the Collector's `hash_seed`, `equalizing` and `proportional` modes.
//! - [`tail_sampling`] buffers spans by trace, in bytes, and keeps or drops whole traces by the
//!   Collector's policies.
//! - [`transform`] and [`filter`] run OTTL ([`weir_ottl`]) over items read in place, rewriting
//!   only the items a statement changes, dropping those a condition matches; [`resource`]
//!   and [`attributes`] compile the Collector's attribute actions into OTTL statements on
//!   the resource and on items; [`resourcedetection`] detects the host's and the cloud's
//!   facts once and merges them into every resource the same way.

pub mod attraction;
pub mod attributes;
pub mod batch;
pub mod cumulativetodelta;
pub mod filter;
pub mod memory_limiter;
mod metrics;
mod ottl_processor;
pub mod probabilistic_sampler;
pub mod resource;
pub mod resourcedetection;
pub mod tail_sampling;
pub mod transform;

pub use attributes::{AttributesConfig, AttributesFactory};
pub use batch::{BatchConfig, BatchFactory};
pub use cumulativetodelta::{CumulativeToDeltaConfig, CumulativeToDeltaFactory};
pub use filter::{FilterConfig, FilterFactory};
pub use memory_limiter::{MemoryLimiterConfig, MemoryLimiterFactory, MemorySource};
pub use ottl_processor::OttlProcessor;
pub use probabilistic_sampler::{ProbabilisticSamplerConfig, ProbabilisticSamplerFactory};
pub use resource::{ResourceConfig, ResourceFactory};
pub use resourcedetection::{ResourceDetectionConfig, ResourceDetectionFactory};
pub use tail_sampling::{TailSamplingConfig, TailSamplingFactory};
pub use transform::{TransformConfig, TransformFactory};

/// Registers every processor of this crate.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_processor(BatchFactory);
    registry.add_processor(MemoryLimiterFactory::new());
    registry.add_processor(ProbabilisticSamplerFactory);
    registry.add_processor(TailSamplingFactory::default());
    registry.add_processor(TransformFactory);
    registry.add_processor(FilterFactory);
    registry.add_processor(ResourceFactory);
    registry.add_processor(AttributesFactory);
    registry.add_processor(CumulativeToDeltaFactory);
    registry.add_processor(ResourceDetectionFactory::default());
}
