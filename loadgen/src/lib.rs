//! `weir-loadgen`: a load generator for OTLP receivers.
//!
//! It pre-generates a pool of realistic OTLP export requests (multi-service traces of a
//! live-streaming platform, logs tied to them, or metrics), then sends them over OTLP/gRPC or
//! OTLP/HTTP at a target rate from concurrent workers, retrying on back-pressure, and reports
//! throughput, refusals, failures and latency.
//!
//! The library is what the `weir-loadgen` binary is built from; tests elsewhere can use it
//! to drive load in-process:
//!
//! * [`generate`] builds OTLP requests ([`generate::Generator`]);
//! * [`pool`] encodes them once and renders fresh copies per send ([`pool::Pool`]);
//! * [`send`] holds the transports and the paced, concurrent send loop ([`send::run`]);
//! * [`pacer`] is the token bucket; [`stats`] the counters, histograms and summary.

pub mod catalog;
pub mod generate;
pub mod pacer;
pub mod pool;
pub mod send;
pub mod stats;
