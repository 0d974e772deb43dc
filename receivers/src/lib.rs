//! weir-receivers: the components that bring telemetry into weir.
//!
//! - [`otlp`]: OTLP over gRPC and HTTP (protobuf and JSON), the Collector's `otlp` receiver.
//! - [`kafka`] (cargo feature `kafka`, on by default): OTLP messages from Kafka topics, in a
//!   consumer group, offsets committed after delivery.
//! - [`jaeger`]: Jaeger spans over gRPC, thrift HTTP and the agent's UDP protocols.
//! - [`zipkin`]: Zipkin v2 spans (JSON and protobuf) over HTTP.
//! - [`hostmetrics`] (Linux): the host's CPU, memory, disks, filesystems, network, paging and
//!   processes, read from `/proc`, as the Collector's `hostmetrics` receiver.
//! - [`httpcheck`]: HTTP endpoints checked on an interval (status class, duration, errors).
//! - [`prometheus`]: scrapes Prometheus targets (text and OpenMetrics) into OTLP metrics.
//! - [`nop`]: receives nothing (the Collector's `nopreceiver`).
//!
//! The binary adds them to its registry with [`register`].

mod decompress;
#[cfg(target_os = "linux")]
pub mod hostmetrics;
pub mod httpcheck;
pub mod jaeger;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod nop;
pub mod otlp;
pub mod prometheus;
mod server;
#[cfg(test)]
mod test_support;
mod translate;
pub mod zipkin;

/// Adds every receiver of this crate to `registry`.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_receiver(otlp::OtlpReceiverFactory);
    registry.add_receiver(nop::NopReceiverFactory);
    registry.add_receiver(jaeger::JaegerReceiverFactory);
    registry.add_receiver(zipkin::ZipkinReceiverFactory);
    #[cfg(target_os = "linux")]
    registry.add_receiver(hostmetrics::HostmetricsReceiverFactory);
    registry.add_receiver(httpcheck::HttpcheckReceiverFactory);
    registry.add_receiver(prometheus::PrometheusReceiverFactory);
    #[cfg(feature = "kafka")]
    registry.add_receiver(kafka::KafkaReceiverFactory);
}
