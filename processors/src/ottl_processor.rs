//! The pipeline side shared by `transform` and `filter`: run compiled OTTL over each request
//! and forward the same bytes, the rebuilt request, or nothing.

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use tokio::sync::mpsc;
use weir_core::{Envelope, Failure, Output, Payload, Processor, Signal};
use weir_ottl::{EvalError, FilterSpec, Outcome, RunStats, StatementGroup};

/// What a processor does to a request.
pub enum Action {
    Transform(Vec<StatementGroup>),
    Filter(FilterSpec),
}

/// A `transform` or `filter` processor of one pipeline. Public so benchmarks and tests run
/// exactly the data path ([`OttlProcessor::process`]).
pub struct OttlProcessor {
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    pub(crate) action: Action,
    pub(crate) items: ItemCounters,
}

impl OttlProcessor {
    pub(crate) fn new(kind: &'static str, id: String, signal: Signal, action: Action) -> OttlProcessor {
        OttlProcessor { kind, items: ItemCounters::new(&id, signal), id, action }
    }

    /// Runs the processor's statements or conditions on one request. Errors that `error_mode`
    /// lets go are logged here (once per request) unless it is `silent`.
    pub fn process(&self, payload: &Payload) -> Result<Outcome, EvalError> {
        let mut stats = RunStats::default();
        let out = match &self.action {
            Action::Transform(groups) => weir_ottl::transform(payload, groups, &mut stats),
            Action::Filter(spec) => weir_ottl::filter(payload, spec, &mut stats),
        };
        if stats.log {
            tracing::warn!(
                message = "OTTL failed on some items; they were left as they were.",
                processor = %self.id,
                errors = stats.errors,
                first = stats.first_error.as_deref().unwrap_or(""),
            );
        }
        out
    }
}

#[async_trait]
impl Processor for OttlProcessor {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        while let Some(Envelope { payload, acks, metadata }) = input.recv().await {
            self.items.incoming(payload.items());
            let payload = match self.process(&payload) {
                Ok(Outcome::Unchanged) => payload,
                Ok(Outcome::Rebuilt(rebuilt)) => rebuilt,
                // Dropping the tokens acknowledges the request: filtered out is a success.
                Ok(Outcome::Empty) => continue,
                Err(error) => {
                    tracing::warn!(message = "OTTL failed; the request is refused (error_mode: propagate).", processor = %self.id, %error);
                    acks.fail(&Failure::permanent(format!("{} processor: {error}", self.kind)));
                    continue;
                }
            };
            self.items.outgoing(payload.items());
            if let Err(error) = output.send(Envelope { payload, acks, metadata }).await {
                tracing::debug!(message = "The next stage did not accept the items.", processor = %self.id, %error);
            }
        }
    }
}
