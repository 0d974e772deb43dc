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
//! - [`persistent_queue`]: the sending queue on disk (`file_storage`), its format and recovery.
//! - [`sampling`]: consistent probability sampling (`ot=th`, `ot=rv`), adjusted counts.
//! - [`tls`]: the Collector's `tls` keys, loaded into rustls server and client configurations.
//! - [`connect`]: client connections, plaintext or TLS, for tonic and hyper clients.
//! - [`auth`]: the `bearertokenauth` extension and the `auth` key of receivers and exporters.
//! - [`telemetry`]: `/metrics` with the Collector's metric names, and `health_check`.

pub mod ack;
pub mod auth;
pub mod component;
pub mod config;
pub mod connect;
pub mod exporterhelper;
pub mod grpc;
pub mod pdata;
pub mod persistent_queue;
pub mod runtime;
pub mod sampling;
pub mod telemetry;
pub mod tls;

pub use ack::{Acks, Failure};
pub use component::{
    BuildContext, BuildError, ComponentConfig, ComponentId, Consumer, Consumers, Envelope, Exporter, ExporterFactory,
    Gate, Output, Processor, ProcessorFactory, Receiver, ReceiverFactory, Registry,
};
pub use pdata::{Payload, Signal};
