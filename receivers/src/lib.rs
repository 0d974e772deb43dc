//! weir-receivers: the components that bring telemetry into weir.
//!
//! - [`otlp`]: OTLP over gRPC and HTTP (protobuf and JSON), the Collector's `otlp` receiver.
//!
//! The binary adds them to its registry with [`register`].

mod decompress;
pub mod otlp;

/// Adds every receiver of this crate to `registry`.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_receiver(otlp::OtlpReceiverFactory);
}
