//! OTLP over gRPC without prost: the service paths and a codec whose messages are their
//! encoded bytes. Receivers hand the request to the pipelines exactly as the client encoded
//! it; exporters send a payload's bytes as they are.

use crate::pdata::Signal;
use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// `/opentelemetry.proto.collector.trace.v1.TraceService/Export`.
pub const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// `/opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
pub const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// `/opentelemetry.proto.collector.logs.v1.LogsService/Export`.
pub const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// The `Export` method path of a signal's OTLP service.
pub fn export_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => TRACES_PATH,
        Signal::Metrics => METRICS_PATH,
        Signal::Logs => LOGS_PATH,
    }
}

/// The signal whose `Export` method `path` is.
pub fn signal_of_path(path: &str) -> Option<Signal> {
    match path {
        TRACES_PATH => Some(Signal::Traces),
        METRICS_PATH => Some(Signal::Metrics),
        LOGS_PATH => Some(Signal::Logs),
        _ => None,
    }
}

/// A `tonic` codec for messages that are already encoded: decoding takes the message out of
/// tonic's buffer as `Bytes` (after tonic removed the framing and decompressed it), encoding
/// writes the bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawBytesCodec;

impl Codec for RawBytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawBytesCodec;
    type Decoder = RawBytesCodec;

    fn encoder(&mut self) -> RawBytesCodec {
        RawBytesCodec
    }

    fn decoder(&mut self) -> RawBytesCodec {
        RawBytesCodec
    }
}

impl Encoder for RawBytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawBytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_signals_round_trip() {
        for s in Signal::ALL {
            assert_eq!(signal_of_path(export_path(s)), Some(s));
        }
        assert_eq!(
            signal_of_path("/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"),
            None
        );
    }
}
