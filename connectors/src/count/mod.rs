//! `count`: counts spans, span events, metrics, data points and log records into metrics (the
//! Collector's `countconnector`), traces → metrics, metrics → metrics, logs → metrics.
//!
//! - Each configured metric counts the items its OTTL `conditions` (ORed) match — all items
//!   when there are none — by the distinct values of its `attributes` (read from the item's
//!   own attributes; a missing one takes its `default_value`, or the item is not counted).
//! - **Per request, per resource**, as upstream: every request that yields counts is answered
//!   by one metrics request with a `ResourceMetrics` per input resource (its attributes copied),
//!   scope `github.com/open-telemetry/opentelemetry-collector-contrib/connector/countconnector`,
//!   and per counted metric a monotonic **delta** `Sum` of int data points stamped with the
//!   time of counting (no start time, as upstream). Nothing is kept between requests.
//! - **Never decoded**: conditions and attributes read the received bytes through views; the
//!   output is encoded directly (resource attributes copied byte for byte).
//! - **Acknowledgements**: the metrics carry the tokens of the request they count, so the
//!   request is delivered when the metrics pipelines delivered its counts (upstream returns
//!   the metrics consumer's error). A request with nothing to count is acknowledged at once.
//! - A condition that fails fails the request and emits nothing (upstream's conditions run
//!   with `propagate`); so does a metric without data type.

pub mod config;

pub use config::CountConfig;

use async_trait::async_trait;
use config::{AttributeConfig, DefaultValue, MetricDef, Section};
use hashbrown::HashMap;
use tokio::sync::mpsc;
use weir_core::pdata::edit::{
    copy_fields, write_bytes_field, write_fixed64_field, write_key_value, write_varint_field,
};
use weir_core::pdata::views::{AnyValue, Attributes, DataPointView, EventView, LogRecordView, MetricKind};
use weir_core::pdata::{proto, WireError};
use weir_core::{
    BuildContext, BuildError, Connector, ConnectorFactory, Downstream, Envelope, Failure, Payload, Signal,
};
use weir_ottl::{Ctx, Node, NodeKind, RunStats};

/// The scope name of the metrics the connector emits (upstream's `metadata.ScopeName`).
pub const SCOPE_NAME: &str = "github.com/open-telemetry/opentelemetry-collector-contrib/connector/countconnector";

/// Factory of the `count` connector.
pub struct CountFactory;

impl ConnectorFactory for CountFactory {
    type Config = CountConfig;

    fn type_name(&self) -> &'static str {
        "count"
    }

    fn signal_pairs(&self) -> &'static [(Signal, Signal)] {
        &[(Signal::Traces, Signal::Metrics), (Signal::Metrics, Signal::Metrics), (Signal::Logs, Signal::Metrics)]
    }

    fn build(
        &self,
        ctx: &BuildContext,
        config: &CountConfig,
        from: Signal,
        _to: Signal,
    ) -> Result<Box<dyn Connector>, BuildError> {
        let counter = Counter::new(config, from).map_err(BuildError::new)?;
        Ok(Box::new(Count {
            id: ctx.id.to_string(),
            counter,
            counted: metrics::counter!("weir_connector_count_items", "connector" => ctx.id.to_string()),
        }))
    }
}

/// The compiled metrics of one signal: those counting items (spans, metrics, log records) and
/// those counting their children (span events, data points).
pub struct Counter {
    signal: Signal,
    items: Vec<MetricDef>,
    children: Vec<MetricDef>,
}

/// Counts of one metric in one resource: encoded data point attributes → count, in order of
/// first appearance (foldhash-keyed: the lookup is per item).
#[derive(Default)]
struct Series {
    index: HashMap<Vec<u8>, usize>,
    counts: Vec<(Vec<u8>, u64)>,
}

impl Series {
    fn increment(&mut self, key: &[u8]) {
        match self.index.get(key) {
            Some(&i) => self.counts[i].1 += 1,
            None => {
                self.index.insert(key.to_vec(), self.counts.len());
                self.counts.push((key.to_vec(), 1));
            }
        }
    }
}

/// Why a request was not counted.
#[derive(Debug)]
pub enum CountError {
    Wire(WireError),
    Condition(String),
    /// A metric with no data (`Empty` type).
    InvalidMetric(String),
}

impl From<WireError> for CountError {
    fn from(e: WireError) -> Self {
        CountError::Wire(e)
    }
}

impl std::fmt::Display for CountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CountError::Wire(e) => write!(f, "unreadable request: {e}"),
            CountError::Condition(e) => write!(f, "{e}"),
            CountError::InvalidMetric(name) => write!(f, "metric {name:?}: invalid metric type: Empty"),
        }
    }
}

/// Encodes the data point attributes of `def` for an item with `attrs` into `key`; `false`
/// when the item lacks one (and it has no default), so it is not counted.
fn attributes_key(
    def: &[AttributeConfig],
    attrs: Option<Attributes<'_>>,
    key: &mut Vec<u8>,
) -> Result<bool, WireError> {
    key.clear();
    for (i, a) in def.iter().enumerate() {
        // A key listed twice makes upstream's map shorter than the list: never counted.
        if def[..i].iter().any(|b| b.key == a.key) {
            return Ok(false);
        }
        let found = match attrs {
            Some(attrs) => attrs.get(&a.key)?,
            None => None,
        };
        let value = match found {
            Some(v) => match v.get()? {
                AnyValue::Int(i) => AnyValue::Int(i),
                AnyValue::Double(d) => AnyValue::Double(d),
                AnyValue::String(s) => AnyValue::String(s),
                // pdata's `Str()` of any other type is "".
                _ => AnyValue::String(""),
            },
            None => match &a.default_value {
                Some(DefaultValue::String(s)) if !s.is_empty() => AnyValue::String(s),
                Some(DefaultValue::Int(i)) if *i != 0 => AnyValue::Int(*i),
                Some(DefaultValue::Double(d)) if *d != 0.0 => AnyValue::Double(*d),
                _ => return Ok(false),
            },
        };
        write_key_value(key, proto::number_data_point::ATTRIBUTES, &a.key, &value);
    }
    Ok(true)
}

/// Counts one item (or child) into `series` for every metric of `defs` that counts it.
fn count_one(
    defs: &[MetricDef],
    series: &mut [Series],
    attrs: Option<Attributes<'_>>,
    ctx: &Ctx<'_, '_>,
    key: &mut Vec<u8>,
) -> Result<(), CountError> {
    for (def, s) in defs.iter().zip(series.iter_mut()) {
        if !attributes_key(&def.attributes, attrs, key)? {
            continue;
        }
        if let Some(c) = &def.conditions {
            let mut stats = RunStats::default();
            if !c.any(ctx, &mut stats).map_err(|e| CountError::Condition(e.0))? {
                continue;
            }
        }
        s.increment(key);
    }
    Ok(())
}

impl Counter {
    /// The counts `config` asks for on data of `signal`.
    pub fn new(config: &CountConfig, signal: Signal) -> Result<Counter, String> {
        let (items, children) = match signal {
            Signal::Traces => (Section::Spans, Section::SpanEvents),
            Signal::Metrics => (Section::Metrics, Section::DataPoints),
            Signal::Logs => (Section::Logs, Section::Logs),
        };
        Ok(Counter {
            signal,
            items: config.compile(items)?,
            children: if signal == Signal::Logs { Vec::new() } else { config.compile(children)? },
        })
    }

    /// The metrics request counting `payload` (`None` when nothing was counted), and the
    /// number of items read.
    pub fn count(&self, payload: &Payload, now: u64) -> Result<(Option<Payload>, usize), CountError> {
        let mut out = Vec::new();
        let mut read = 0usize;
        let mut key = Vec::new();
        for rg in payload.view().resources() {
            let rg = rg?;
            let resource = rg.resource()?.bytes();
            let mut items: Vec<Series> = self.items.iter().map(|_| Series::default()).collect();
            let mut children: Vec<Series> = self.children.iter().map(|_| Series::default()).collect();
            for sg in rg.scopes() {
                let sg = sg?;
                let scope = sg.scope()?.bytes();
                for item in sg.items() {
                    let item = item?;
                    let mut r = Node::new(NodeKind::Resource, resource);
                    let mut s = Node::new(NodeKind::Scope, scope);
                    match self.signal {
                        Signal::Traces => {
                            read += 1;
                            let span = weir_core::pdata::SpanView::new(item);
                            let mut i = Node::new(NodeKind::Span, item);
                            let ctx = Ctx::new(&mut r, Some(&mut s), Some(&mut i), None);
                            count_one(&self.items, &mut items, Some(span.attributes()), &ctx, &mut key)?;
                            if self.children.is_empty() {
                                continue;
                            }
                            for e in span.events() {
                                let e: EventView<'_> = e?;
                                let mut ev = Node::new(NodeKind::SpanEvent, e.bytes());
                                let mut i = Node::new(NodeKind::Span, item);
                                let ctx = Ctx::new(&mut r, Some(&mut s), Some(&mut i), Some(&mut ev));
                                count_one(&self.children, &mut children, Some(e.attributes()), &ctx, &mut key)?;
                            }
                        }
                        Signal::Logs => {
                            read += 1;
                            let log = LogRecordView::new(item);
                            let mut i = Node::new(NodeKind::Log, item);
                            let ctx = Ctx::new(&mut r, Some(&mut s), Some(&mut i), None);
                            count_one(&self.items, &mut items, Some(log.attributes()), &ctx, &mut key)?;
                        }
                        Signal::Metrics => {
                            let m = weir_core::pdata::views::MetricView::new(item);
                            let mut i = Node::new(NodeKind::Metric, item);
                            {
                                let ctx = Ctx::new(&mut r, Some(&mut s), Some(&mut i), None);
                                count_one(&self.items, &mut items, None, &ctx, &mut key)?;
                            }
                            let kind = m.kind()?;
                            if kind == MetricKind::Empty {
                                return Err(CountError::InvalidMetric(m.name()?.to_string()));
                            }
                            for p in m.data_points()? {
                                let p = p?;
                                read += 1;
                                if self.children.is_empty() {
                                    continue;
                                }
                                let mut d = Node::new(NodeKind::DataPoint(kind), p);
                                let ctx = Ctx::new(&mut r, Some(&mut s), Some(&mut i), Some(&mut d));
                                let attrs = DataPointView::new(kind, p).attributes();
                                count_one(&self.children, &mut children, Some(attrs), &ctx, &mut key)?;
                            }
                        }
                    }
                }
            }
            let counted = |series: &[Series]| series.iter().any(|s| !s.counts.is_empty());
            if !counted(&items) && !counted(&children) {
                continue; // no empty resource, as upstream
            }
            let mut rm = Vec::new();
            let mut res = Vec::new();
            copy_fields(&mut res, resource, |f| f.number == proto::resource::ATTRIBUTES)?;
            write_bytes_field(&mut rm, proto::resource_metrics::RESOURCE, &res);
            let mut sm = Vec::new();
            let mut scope = Vec::new();
            write_bytes_field(&mut scope, proto::instrumentation_scope::NAME, SCOPE_NAME.as_bytes());
            write_bytes_field(&mut sm, proto::scope_metrics::SCOPE, &scope);
            for (defs, series) in [(&self.items, &items), (&self.children, &children)] {
                for (def, s) in defs.iter().zip(series) {
                    if !s.counts.is_empty() {
                        write_bytes_field(&mut sm, proto::scope_metrics::METRICS, &encode_metric(def, s, now));
                    }
                }
            }
            write_bytes_field(&mut rm, proto::resource_metrics::SCOPE_METRICS, &sm);
            write_bytes_field(&mut out, proto::export_metrics_service_request::RESOURCE_METRICS, &rm);
        }
        if out.is_empty() {
            return Ok((None, read));
        }
        Ok((Some(Payload::new(Signal::Metrics, out.into())?), read))
    }
}

/// A monotonic delta `Sum` with one int data point per attribute combination.
fn encode_metric(def: &MetricDef, series: &Series, now: u64) -> Vec<u8> {
    let mut sum = Vec::new();
    for (attrs, count) in &series.counts {
        let mut dp = Vec::with_capacity(attrs.len() + 20);
        dp.extend_from_slice(attrs);
        write_fixed64_field(&mut dp, proto::number_data_point::TIME_UNIX_NANO, now);
        write_fixed64_field(&mut dp, proto::number_data_point::AS_INT, *count);
        write_bytes_field(&mut sum, proto::sum::DATA_POINTS, &dp);
    }
    // AGGREGATION_TEMPORALITY_DELTA = 1.
    write_varint_field(&mut sum, proto::sum::AGGREGATION_TEMPORALITY, 1);
    write_varint_field(&mut sum, proto::sum::IS_MONOTONIC, 1);
    let mut m = Vec::new();
    write_bytes_field(&mut m, proto::metric::NAME, def.name.as_bytes());
    if !def.description.is_empty() {
        write_bytes_field(&mut m, proto::metric::DESCRIPTION, def.description.as_bytes());
    }
    write_bytes_field(&mut m, proto::metric::SUM, &sum);
    m
}

struct Count {
    id: String,
    counter: Counter,
    /// Items read (spans, log records, data points).
    counted: metrics::Counter,
}

#[async_trait]
impl Connector for Count {
    async fn run(self: Box<Self>, mut input: mpsc::Receiver<Envelope>, downstream: Vec<Downstream>) {
        while let Some(env) = input.recv().await {
            let now = weir_core::pdata::now_unix_nano();
            let payload = match self.counter.count(&env.payload, now) {
                Ok((payload, read)) => {
                    self.counted.increment(read as u64);
                    payload
                }
                Err(error) => {
                    tracing::warn!(message = "A request was not counted.", connector = %self.id, %error);
                    env.acks.fail(&Failure::permanent(format!("count connector: {error}")));
                    continue;
                }
            };
            // Nothing to count: the request is delivered as far as this connector goes.
            let Some(payload) = payload else { continue };
            for d in &downstream {
                let out = Envelope { payload: payload.clone(), acks: env.acks.clone(), metadata: env.metadata.clone() };
                if let Err(error) = d.send(out).await {
                    tracing::debug!(message = "A metrics pipeline refused counts.", connector = %self.id, pipeline = d.pipeline(), %error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
