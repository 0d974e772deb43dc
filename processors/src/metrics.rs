//! Metrics every processor reports, with the Collector's names and labels.

use metrics::Counter;
use weir_core::Signal;

/// `otelcol_processor_incoming_items` / `otelcol_processor_outgoing_items` of one processor
/// instance (labels `processor`, `otel_signal`). Items dropped by a processor are the
/// difference between the two.
#[derive(Clone)]
pub(crate) struct ItemCounters {
    incoming: Counter,
    outgoing: Counter,
}

impl ItemCounters {
    pub(crate) fn new(processor: &str, signal: Signal) -> Self {
        let labels = [("processor", processor.to_string()), ("otel_signal", signal.as_str().to_string())];
        ItemCounters {
            incoming: metrics::counter!("otelcol_processor_incoming_items", &labels),
            outgoing: metrics::counter!("otelcol_processor_outgoing_items", &labels),
        }
    }

    pub(crate) fn incoming(&self, items: usize) {
        self.incoming.increment(items as u64);
    }

    pub(crate) fn outgoing(&self, items: usize) {
        self.outgoing.increment(items as u64);
    }
}
