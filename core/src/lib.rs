//! weir-core: the data model, component traits, configuration and runtime of weir.
//!
//! - [`pdata`]: received OTLP kept as bytes, read through zero-copy views, batched by
//!   concatenation and split or regrouped by copying byte ranges.
//! - [`component`]: receiver, processor, exporter and extension traits, their factories and the
//!   [`component::Registry`].
//! - [`config`]: `pipelines.yaml` in the OpenTelemetry Collector's format, with located errors.
//! - [`runtime`]: the pipeline graph over bounded channels, fan-out, ordered shutdown.
//! - [`ack`]: delivery acknowledgements from exporters back to receivers.
//! - [`exporterhelper`]: timeout, retry, sending queue — the plumbing every exporter shares.
//! - [`sampling`]: consistent probability sampling (`ot=th`, `ot=rv`), adjusted counts.
//! - [`telemetry`]: `/metrics` with the Collector's metric names, and `health_check`.

pub mod ack;
pub mod component;
pub mod config;
pub mod exporterhelper;
pub mod grpc;
pub mod pdata;
pub mod runtime;
pub mod sampling;
pub mod telemetry;

pub use ack::{Acks, Failure};
pub use component::{
    BuildContext, BuildError, ComponentConfig, ComponentId, Consumer, Consumers, Envelope, Exporter, ExporterFactory,
    Gate, Output, Processor, ProcessorFactory, Receiver, ReceiverFactory, Registry,
};
pub use pdata::{Payload, Signal};
