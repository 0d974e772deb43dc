//! weir-connectors: components that are the exporter of some pipelines and the receiver of
//! others (the Collector's connectors).
//!
//! | type | connects | does |
//! |---|---|---|
//! | [`forward`] | traces → traces, metrics → metrics, logs → logs | passes everything on, unchanged |
//! | [`spanmetrics`] | traces → metrics | R.E.D. metrics from 100% of spans (calls, duration, events) |
//!
//! A connector is listed among a pipeline's `exporters` and another's `receivers`; the runtime
//! builds one instance per (id, from signal, to signal) and hands it every pipeline of the
//! target signal that lists it ([`weir_core::Downstream`]). Acknowledgements flow through: what
//! a connector forwards carries the tokens of the requests it came from.

pub mod forward;
pub mod spanmetrics;

/// Adds every connector of this crate to `registry`.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_connector(forward::ForwardFactory);
    registry.add_connector(spanmetrics::SpanMetricsFactory);
}
