//! weir's own spans (`service::telemetry::traces`), off unless a processor is configured.
//!
//! A span is a `tracing` span with the target [`SPAN_TARGET`]: few, cheap, and never per
//! item. weir emits:
//! - `weir.start`: loading the configuration and starting the pipelines;
//! - `weir.reload`: a SIGHUP reload, with `outcome` (`reloaded`, `invalid`, `rolled_back`);
//! - `weir.shutdown`: draining the pipelines, with `drained`.
//!
//! Any crate can add one (`tracing::info_span!(target: "weir::self", "name", key = value)`):
//! its fields become the span's attributes, a field named `error` makes its status an error,
//! and a span opened inside another one of weir's spans is its child. The sampler
//! (`traces::sampler`) decides per trace, at the root.

use super::export::{encode, Batchable, Processor};
pub use super::logs::SPAN_TARGET;
use super::{scope, Resource};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use weir_core::config::telemetry::TracesConfig;
use weir_core::pdata::now_unix_nano;
use weir_core::Signal;

/// A finished span waiting for its processor.
pub type SpanRecord = Span;

/// The span side of the logging layer, present while `traces` is on.
pub struct Spans {
    ratio: f64,
    processors: Vec<Processor<SpanRecord>>,
}

/// What is kept in a tracing span's extensions until it closes.
struct Open {
    span: Span,
    sampled: bool,
}

struct Attributes<'a>(&'a mut Vec<KeyValue>, &'a mut Option<String>);

impl Visit for Attributes<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, any_value::Value::StringValue(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, any_value::Value::IntValue(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, any_value::Value::IntValue(value as i64));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, any_value::Value::DoubleValue(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, any_value::Value::BoolValue(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, any_value::Value::StringValue(format!("{value:?}")));
    }
}

impl Attributes<'_> {
    fn put(&mut self, field: &Field, value: any_value::Value) {
        if field.name() == "error" {
            if let any_value::Value::StringValue(s) = &value {
                *self.1 = Some(s.clone());
            }
        }
        self.0.retain(|kv| kv.key != field.name());
        self.0.push(KeyValue {
            key: field.name().to_string(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
    }
}

impl Spans {
    pub fn new(traces: &TracesConfig, processors: Vec<Processor<SpanRecord>>) -> Spans {
        Spans { ratio: traces.sampler.as_ref().map_or(1.0, |s| s.root_ratio()), processors }
    }

    pub fn on_new_span<S: tracing::Subscriber + for<'a> LookupSpan<'a>>(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: &Context<'_, S>,
    ) {
        let Some(this) = ctx.span(id) else { return };
        let parent = this.parent().and_then(|p| {
            let ext = p.extensions();
            let ids = ext.get::<Open>().map(|o| (o.span.trace_id.clone(), o.span.span_id.clone(), o.sampled));
            ids
        });
        let (trace_id, parent_id, sampled) = match parent {
            Some((t, p, s)) => (t, p, s),
            None => {
                let t: [u8; 16] = rand::random();
                // The trace id's low 56 bits decide, as the SDK's TraceIDRatioBased sampler.
                let low = u64::from_be_bytes(t[8..16].try_into().unwrap_or([0; 8])) & ((1 << 56) - 1);
                let sampled = (low as f64) < self.ratio * (1u64 << 56) as f64;
                (t.to_vec(), Vec::new(), sampled)
            }
        };
        let span_id: [u8; 8] = rand::random();
        let mut attributes = Vec::new();
        let mut error = None;
        attrs.record(&mut Attributes(&mut attributes, &mut error));
        let span = Span {
            trace_id,
            span_id: span_id.to_vec(),
            parent_span_id: parent_id,
            name: attrs.metadata().name().to_string(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: now_unix_nano(),
            attributes,
            status: error.map(|message| Status { message, code: status::StatusCode::Error as i32 }),
            ..Default::default()
        };
        this.extensions_mut().insert(Open { span, sampled });
    }

    pub fn on_close<S: for<'a> LookupSpan<'a>>(&self, span: &SpanRef<'_, S>) {
        let Some(open) = span.extensions_mut().remove::<Open>() else { return };
        if !open.sampled {
            return;
        }
        let mut s = open.span;
        s.end_time_unix_nano = now_unix_nano();
        for p in &self.processors {
            p.push(s.clone());
        }
    }
}

/// Fields recorded after the span started (`span.record("outcome", "reloaded")`).
pub fn on_record<S: for<'a> LookupSpan<'a>>(span: &SpanRef<'_, S>, values: &tracing::span::Record<'_>) {
    let mut ext = span.extensions_mut();
    if let Some(open) = ext.get_mut::<Open>() {
        let mut error = None;
        values.record(&mut Attributes(&mut open.span.attributes, &mut error));
        if let Some(message) = error {
            open.span.status = Some(Status { message, code: status::StatusCode::Error as i32 });
        }
    }
}

impl Batchable for Span {
    const SIGNAL: Signal = Signal::Traces;
    const DEFAULT_DELAY_MS: u64 = 5000;

    fn encode(batch: Vec<Span>, resource: &Resource) -> (Bytes, Box<dyn FnOnce() -> String + Send>) {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.to_proto()),
                scope_spans: vec![ScopeSpans { scope: Some(scope()), spans: batch, schema_url: String::new() }],
                schema_url: resource.schema_url.clone(),
            }],
        };
        let bytes = encode(&request);
        (bytes, Box::new(move || serde_json::to_string(&request).unwrap_or_default()))
    }
}
