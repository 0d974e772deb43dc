//! weir-core: the data model, the component contract, configuration and runtime of weir, and
//! the plumbing components share.
//!
//! Layers, each using only those above it:
//!
//! - [`pdata`]: received OTLP kept as bytes, read through zero-copy views, batched by
//!   concatenation and split or regrouped by copying byte ranges; [`ack`]: delivery
//!   acknowledgements; [`sampling`]: consistent probability (`ot=th`, `ot=rv`).
//! - [`pipeline`]: the data path between components (envelopes, consumers, outputs, gates).
//! - [`component`]: what a receiver, processor, exporter or extension is, its config and
//!   factory, and the capabilities extensions offer ([`auth`], storage).
//! - [`exporterhelper`]: timeout, retry, sending queue (in memory, or on disk:
//!   [`persistent_queue`]) — the plumbing every exporter shares.
//! - [`registry`]: type names → factories; [`config`]: `pipelines.yaml` in the Collector's
//!   format, with located errors; [`runtime`]: the pipeline graph over bounded channels,
//!   ordered start and shutdown.
//! - Shared client and server plumbing: [`tls`] (the Collector's `tls` keys), [`connect`]
//!   (plaintext or TLS connections for hyper and tonic clients), [`listener`] (the accepting
//!   side: TLS handshakes, connection limits, for tonic and axum servers), [`compression`] (one
//!   `compression` key and body compressor), [`grpc`] (raw-bytes OTLP codec), [`kafka`] (the
//!   Kafka client keys, feature `kafka`).
//! - [`telemetry`]: `/metrics` with the Collector's metric names, and the service's health.
//! - [`testing`] (feature `testing`): a channel source, a collecting sink and `parse_config`
//!   for the tests of component crates.

pub mod ack;
pub mod auth;
pub mod component;
pub mod compression;
pub mod config;
pub mod connect;
pub mod exporterhelper;
pub mod grpc;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod listener;
pub mod pdata;
pub mod persistent_queue;
pub mod pipeline;
pub mod registry;
pub mod runtime;
pub mod sampling;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use ack::{Acks, Failure};
pub use component::{
    BuildContext, BuildError, ComponentConfig, ComponentId, Connector, ConnectorFactory, Exporter, ExporterFactory,
    Processor, ProcessorFactory, Receiver, ReceiverFactory,
};
pub use pdata::{Payload, Signal};
pub use pipeline::{ClientMetadata, Consumer, Consumers, Downstream, Envelope, Gate, Output};
pub use registry::Registry;
