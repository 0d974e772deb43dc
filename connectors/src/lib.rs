//! weir-connectors: components that are the exporter of some pipelines and the receiver of
//! others (the Collector's connectors).
//!
//! | type | connects | does |
//! |---|---|---|
//! | [`count`] | traces, metrics, logs → metrics | counts spans, span events, metrics, data points, log records (OTTL conditions, attributes) |
//! | [`forward`] | traces → traces, metrics → metrics, logs → logs | passes everything on, unchanged |
//! | [`routing`] | traces → traces, metrics → metrics, logs → logs | sends each item to the pipelines of the first route whose OTTL condition holds |
//! | [`spanmetrics`] | traces → metrics | R.E.D. metrics from 100% of spans (calls, duration, events) |
//!
//! A connector is listed among a pipeline's `exporters` and another's `receivers`; the runtime
//! builds one instance per (id, from signal, to signal) and hands it every pipeline of the
//! target signal that lists it ([`weir_core::Downstream`]). Acknowledgements flow through: what
//! a connector forwards carries the tokens of the requests it came from.

pub mod count;
pub mod forward;
pub mod routing;
pub mod spanmetrics;

/// Adds every connector of this crate to `registry`.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_connector(count::CountFactory);
    registry.add_connector(forward::ForwardFactory);
    registry.add_connector(routing::RoutingFactory);
    registry.add_connector(spanmetrics::SpanMetricsFactory);
}
