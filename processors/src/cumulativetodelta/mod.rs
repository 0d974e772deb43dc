//! `cumulativetodelta`: converts monotonic cumulative sums and cumulative histograms into
//! deltas, as the Collector's processor of that name (keys in [`config`]). Each point is
//! subtracted from the last point of its series (resource, scope, metric name, unit and type,
//! point attributes, start time); a sum that went down (a reset) sends nothing, a histogram
//! whose count went down is sent as it is, points flagged "no recorded value" go, and a metric,
//! scope or resource left empty goes with them.
//!
//! Bytes first: a request with nothing to convert is forwarded as the same `Bytes`; otherwise
//! it is rebuilt with every other metric copied as its received bytes, and a converted point
//! is its received fields minus the start time and value (sum: also count, buckets, min and
//! max for a histogram), plus the new ones. Nothing is decoded into objects.
//!
//! State is per processor instance and in memory, as in the Collector: a series must always
//! reach the same weir (see the README's warning).

mod config;
mod tracker;

pub use config::{CumulativeToDeltaConfig, InitialValue, MatchMetrics};
pub use tracker::{Delta, HistogramValue, PointValue, Tracker};

use crate::metrics::ItemCounters;
use async_trait::async_trait;
use config::{ConvertedKind, MetricFilter};
use std::time::Duration;
use tokio::sync::mpsc;
use weir_core::component::BuildContext;
use weir_core::pdata::edit::{
    copy_fields, write_bytes_field, write_double_field, write_fixed64_field, write_varint_field,
};
use weir_core::pdata::views::{
    Children, DataPointView, HistogramDataPointView, MetricData, MetricView, NumberDataPointView, NumberValue,
};
use weir_core::pdata::wire::{write_len_prefix, WireError};
use weir_core::pdata::{now_unix_nano, proto};
use weir_core::{BuildError, Envelope, Failure, Output, Payload, Processor, ProcessorFactory, Signal};

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;
/// `AggregationTemporality` wire numbers.
const DELTA: u64 = 1;
const CUMULATIVE: i32 = 2;

/// Factory of the `cumulativetodelta` processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct CumulativeToDeltaFactory;

impl ProcessorFactory for CumulativeToDeltaFactory {
    type Config = CumulativeToDeltaConfig;

    fn type_name(&self) -> &'static str {
        "cumulativetodelta"
    }

    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn build(&self, ctx: &BuildContext, config: &CumulativeToDeltaConfig) -> Result<Box<dyn Processor>, BuildError> {
        Ok(Box::new(CumulativeToDelta::new(ctx.id.to_string(), config, now_unix_nano())?))
    }
}

/// The processor of one pipeline. Public so tests and benchmarks run exactly the data path
/// ([`CumulativeToDelta::process`]).
pub struct CumulativeToDelta {
    id: String,
    include: MetricFilter,
    exclude: MetricFilter,
    max_staleness: Duration,
    tracker: Tracker,
    items: ItemCounters,
    /// `otelcol_processor_cumulativetodelta_streams`: series tracked.
    streams: metrics::Gauge,
    /// `otelcol_processor_cumulativetodelta_overflow_points`: points of new series not sent
    /// because `max_streams` series were tracked.
    overflow_points: metrics::Counter,
    /// The tracker's overflow count already reported.
    overflow_reported: u64,
    /// Reused for each point's identity.
    identity: Vec<u8>,
}

/// What becomes of one metric.
enum MetricOutcome {
    /// Forwarded as received.
    Unchanged,
    /// Converted: the new metric message.
    Converted(Vec<u8>),
    /// Converted, and no point is left to send.
    Removed,
}

impl CumulativeToDelta {
    /// The processor `id`, started at `started` (Unix nanoseconds; `initial_value: auto`
    /// compares start times with it).
    pub fn new(id: String, config: &CumulativeToDeltaConfig, started: u64) -> Result<CumulativeToDelta, BuildError> {
        let (include, exclude) = config.filters().map_err(BuildError::new)?;
        let labels = [("processor", id.clone())];
        Ok(CumulativeToDelta {
            items: ItemCounters::new(&id, Signal::Metrics),
            streams: metrics::gauge!("otelcol_processor_cumulativetodelta_streams", &labels),
            overflow_points: metrics::counter!("otelcol_processor_cumulativetodelta_overflow_points", &labels),
            overflow_reported: 0,
            id,
            include,
            exclude,
            max_staleness: config.max_staleness,
            tracker: Tracker::new(config.initial_value, started, config.max_streams),
            identity: Vec::new(),
        })
    }

    /// The number of series the processor keeps state for.
    pub fn series(&self) -> usize {
        self.tracker.len()
    }

    /// Forgets the series not seen since `now - max_staleness` (Unix nanoseconds).
    pub fn remove_stale(&mut self, now: u64) {
        self.tracker.remove_stale(now.saturating_sub(self.max_staleness.as_nanos() as u64));
        self.streams.set(self.tracker.len() as f64);
    }

    /// Reports the series count and the points lost to `max_streams` since the last call.
    fn report(&mut self) {
        self.streams.set(self.tracker.len() as f64);
        let overflow = self.tracker.overflow();
        if overflow > self.overflow_reported {
            if self.overflow_reported == 0 {
                tracing::warn!(
                    message = "max_streams series are tracked: points of new series are not sent. Raise max_streams or set max_staleness.",
                    processor = %self.id,
                    max_streams = self.tracker.len(),
                );
            }
            self.overflow_points.increment(overflow - self.overflow_reported);
            self.overflow_reported = overflow;
        }
    }

    /// The data of `metric` when it is one the processor converts (a monotonic cumulative
    /// sum, or a cumulative histogram with points, that the filters let through).
    fn converts<'a>(&self, metric: &MetricView<'a>) -> Result<Option<MetricData<'a>>, WireError> {
        let data = metric.typed_data()?;
        let kind = match data {
            MetricData::Sum(s) if s.aggregation_temporality()? == CUMULATIVE && s.is_monotonic()? => ConvertedKind::Sum,
            MetricData::Histogram(h)
                if h.aggregation_temporality()? == CUMULATIVE && h.data_points().next().is_some() =>
            {
                ConvertedKind::Histogram
            }
            _ => return Ok(None),
        };
        Ok(MetricFilter::convert(&self.include, &self.exclude, metric.name()?, kind).then_some(data))
    }

    /// Whether the request needs rebuilding: a metric to convert, or an empty scope or
    /// resource (which the Collector's processor removes).
    fn needs_rebuild(&self, payload: &Payload) -> Result<bool, WireError> {
        for rg in payload.view().resources() {
            let rg = rg?;
            let mut scopes = 0;
            for sg in rg.scopes() {
                let sg = sg?;
                scopes += 1;
                let mut metrics = 0;
                for m in sg.metrics() {
                    metrics += 1;
                    if self.converts(&m?)?.is_some() {
                        return Ok(true);
                    }
                }
                if metrics == 0 {
                    return Ok(true);
                }
            }
            if scopes == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Converts one request: `None` when it is forwarded unchanged, else the rebuilt request
    /// (possibly with no resource left).
    pub fn process(&mut self, payload: &Payload) -> Result<Option<Payload>, WireError> {
        if !self.needs_rebuild(payload)? {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(payload.len());
        let mut prefix = Vec::new();
        for rg in payload.view().resources() {
            let rg = rg?;
            let mut rg_out = Vec::new();
            copy_fields(&mut rg_out, rg.bytes(), |f| f.number != proto::resource_metrics::SCOPE_METRICS)?;
            let resource_attrs = rg.resource()?.bytes();
            let mut scopes = 0;
            for sg in rg.scopes() {
                let sg = sg?;
                let mut sg_out = Vec::new();
                copy_fields(&mut sg_out, sg.bytes(), |f| f.number != proto::scope_metrics::METRICS)?;
                let scope = sg.scope()?;
                let mut metrics = 0;
                for m in sg.metrics() {
                    let m = m?;
                    let outcome = match self.converts(&m)? {
                        None => MetricOutcome::Unchanged,
                        Some(data) => {
                            prefix.clear();
                            Identity::metric(
                                &mut prefix,
                                resource_attrs,
                                scope.name_bytes()?,
                                scope.version_bytes()?,
                                &m,
                                &data,
                            )?;
                            self.convert_metric(&m, data, &prefix)?
                        }
                    };
                    match outcome {
                        MetricOutcome::Unchanged => {
                            write_bytes_field(&mut sg_out, proto::scope_metrics::METRICS, m.bytes())
                        }
                        MetricOutcome::Converted(bytes) => {
                            write_bytes_field(&mut sg_out, proto::scope_metrics::METRICS, &bytes)
                        }
                        MetricOutcome::Removed => continue,
                    }
                    metrics += 1;
                }
                if metrics > 0 {
                    write_bytes_field(&mut rg_out, proto::resource_metrics::SCOPE_METRICS, &sg_out);
                    scopes += 1;
                }
            }
            if scopes > 0 {
                write_bytes_field(&mut out, proto::export_metrics_service_request::RESOURCE_METRICS, &rg_out);
            }
        }
        Payload::new(Signal::Metrics, out.into()).map(Some)
    }

    /// The metric `m` with its points converted.
    fn convert_metric(
        &mut self,
        m: &MetricView<'_>,
        data: MetricData<'_>,
        prefix: &[u8],
    ) -> Result<MetricOutcome, WireError> {
        let field = match data {
            MetricData::Sum(_) => proto::metric::SUM,
            _ => proto::metric::HISTOGRAM,
        };
        let points_in = data.data_points();
        let data = data.bytes();
        let mut data_out = Vec::with_capacity(data.len());
        copy_fields(&mut data_out, data, |f| {
            f.number != proto::DATA_POINTS && f.number != proto::sum::AGGREGATION_TEMPORALITY
        })?;
        write_varint_field(&mut data_out, proto::sum::AGGREGATION_TEMPORALITY, DELTA);
        let mut points = 0;
        for point in points_in {
            let point = point?;
            let converted = match point {
                DataPointView::Number(p) => self.convert_number_point(p, prefix)?,
                DataPointView::Histogram(p) => self.convert_histogram_point(p, prefix)?,
                // `converts` lets only sums and histograms through.
                _ => PointOutcome::Unchanged,
            };
            match converted {
                PointOutcome::Unchanged => write_bytes_field(&mut data_out, proto::DATA_POINTS, point.bytes()),
                PointOutcome::Converted(bytes) => write_bytes_field(&mut data_out, proto::DATA_POINTS, &bytes),
                PointOutcome::Removed => continue,
            }
            points += 1;
        }
        if points == 0 {
            return Ok(MetricOutcome::Removed);
        }
        let mut metric_out = Vec::with_capacity(m.bytes().len());
        copy_fields(&mut metric_out, m.bytes(), |f| f.number != field)?;
        write_bytes_field(&mut metric_out, field, &data_out);
        Ok(MetricOutcome::Converted(metric_out))
    }

    fn convert_number_point(
        &mut self,
        view: NumberDataPointView<'_>,
        prefix: &[u8],
    ) -> Result<PointOutcome, WireError> {
        use proto::number_data_point as f;
        let point = view.bytes();
        let p = view.fields()?;
        if p.flags & NO_RECORDED_VALUE != 0 {
            return Ok(PointOutcome::Removed);
        }
        let value = match p.value {
            // NaN marks a stale series: the point is passed on as it is.
            Some(NumberValue::Double(v)) if v.is_nan() => return Ok(PointOutcome::Unchanged),
            Some(NumberValue::Double(v)) => PointValue::Double(v),
            Some(NumberValue::Int(v)) => PointValue::Int(v),
            // A point without a value reads as the integer 0, as in the Collector.
            None => PointValue::Int(0),
        };
        Identity::point(
            &mut self.identity,
            prefix,
            matches!(value, PointValue::Double(_)),
            point,
            f::ATTRIBUTES,
            p.start_time_unix_nano,
        )?;
        let Some(delta) = self.tracker.convert(&self.identity, p.start_time_unix_nano, p.time_unix_nano, value) else {
            return Ok(PointOutcome::Removed);
        };
        let mut out = Vec::with_capacity(point.len());
        copy_fields(&mut out, point, |x| {
            x.number != f::START_TIME_UNIX_NANO && x.number != f::AS_DOUBLE && x.number != f::AS_INT
        })?;
        if delta.start != 0 {
            write_fixed64_field(&mut out, f::START_TIME_UNIX_NANO, delta.start);
        }
        match delta.value {
            PointValue::Double(v) => write_double_field(&mut out, f::AS_DOUBLE, v),
            PointValue::Int(v) => write_fixed64_field(&mut out, f::AS_INT, v as u64),
            PointValue::Histogram(_) => unreachable!("a number point's delta is a number"),
        }
        Ok(PointOutcome::Converted(out))
    }

    fn convert_histogram_point(
        &mut self,
        view: HistogramDataPointView<'_>,
        prefix: &[u8],
    ) -> Result<PointOutcome, WireError> {
        use proto::histogram_data_point as f;
        let point = view.bytes();
        let p = view.fields()?;
        if p.flags & NO_RECORDED_VALUE != 0 {
            return Ok(PointOutcome::Removed);
        }
        let buckets = view.bucket_counts().collect::<Result<Vec<u64>, _>>()?;
        let value = HistogramValue { count: p.count, sum: p.sum.unwrap_or(0.0), buckets };
        Identity::point(&mut self.identity, prefix, false, point, f::ATTRIBUTES, p.start_time_unix_nano)?;
        let Some(delta) = self.tracker.convert(
            &self.identity,
            p.start_time_unix_nano,
            p.time_unix_nano,
            PointValue::Histogram(value),
        ) else {
            return Ok(PointOutcome::Removed);
        };
        let PointValue::Histogram(d) = delta.value else { unreachable!("a histogram point's delta is a histogram") };
        let mut out = Vec::with_capacity(point.len());
        copy_fields(&mut out, point, |x| {
            !matches!(x.number, f::START_TIME_UNIX_NANO | f::COUNT | f::SUM | f::BUCKET_COUNTS | f::MIN | f::MAX)
        })?;
        if delta.start != 0 {
            write_fixed64_field(&mut out, f::START_TIME_UNIX_NANO, delta.start);
        }
        if d.count != 0 {
            write_fixed64_field(&mut out, f::COUNT, d.count);
        }
        match p.sum {
            Some(s) if !s.is_nan() => write_double_field(&mut out, f::SUM, d.sum),
            Some(s) => write_double_field(&mut out, f::SUM, s),
            None => {}
        }
        if !d.buckets.is_empty() {
            write_len_prefix(&mut out, f::BUCKET_COUNTS, d.buckets.len() * 8);
            for b in &d.buckets {
                out.extend_from_slice(&b.to_le_bytes());
            }
        }
        // min and max cannot be known for the interval: they go, as in the Collector.
        Ok(PointOutcome::Converted(out))
    }
}

/// What becomes of one point.
enum PointOutcome {
    Unchanged,
    Converted(Vec<u8>),
    Removed,
}

/// The identity of a series as bytes: each part length-prefixed, attribute sets as their
/// encoded key-values sorted (so the order a sender lists them in does not matter).
struct Identity;

impl Identity {
    fn part(out: &mut Vec<u8>, bytes: &[u8]) {
        weir_core::pdata::wire::write_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn attributes(out: &mut Vec<u8>, message: &[u8], field: u32) -> Result<(), WireError> {
        let mut kvs = Children::new(message, field, |b| b).collect::<Result<Vec<&[u8]>, _>>()?;
        kvs.sort_unstable();
        weir_core::pdata::wire::write_varint(out, kvs.len() as u64);
        for kv in kvs {
            Identity::part(out, kv);
        }
        Ok(())
    }

    /// The part of a metric's series identity its points share.
    fn metric(
        out: &mut Vec<u8>,
        resource: &[u8],
        scope_name: &[u8],
        scope_version: &[u8],
        m: &MetricView<'_>,
        data: &MetricData<'_>,
    ) -> Result<(), WireError> {
        out.push(data.kind() as u8);
        Identity::attributes(out, resource, proto::resource::ATTRIBUTES)?;
        Identity::part(out, scope_name);
        Identity::part(out, scope_version);
        Identity::part(out, m.name()?.as_bytes());
        Identity::part(out, m.unit()?.as_bytes());
        Ok(())
    }

    /// A point's series identity: the metric's part, the value type, the point's attributes
    /// and start time.
    fn point(
        out: &mut Vec<u8>,
        prefix: &[u8],
        double: bool,
        point: &[u8],
        attributes: u32,
        start: u64,
    ) -> Result<(), WireError> {
        out.clear();
        out.extend_from_slice(prefix);
        out.push(u8::from(double));
        Identity::attributes(out, point, attributes)?;
        out.extend_from_slice(&start.to_le_bytes());
        Ok(())
    }
}

#[async_trait]
impl Processor for CumulativeToDelta {
    async fn run(mut self: Box<Self>, mut input: mpsc::Receiver<Envelope>, output: Output) {
        let mut sweep = (!self.max_staleness.is_zero()).then(|| {
            let mut t = tokio::time::interval(self.max_staleness);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let envelope = tokio::select! {
                envelope = input.recv() => match envelope {
                    Some(envelope) => envelope,
                    None => break,
                },
                _ = async { sweep.as_mut().expect("only polled when set").tick().await }, if sweep.is_some() => {
                    self.remove_stale(now_unix_nano());
                    continue;
                }
            };
            let Envelope { payload, acks, metadata } = envelope;
            self.items.incoming(payload.items());
            let processed = self.process(&payload);
            self.report();
            let payload = match processed {
                Ok(None) => payload,
                // Every point was held back (first points, resets): a success with nothing to send.
                Ok(Some(rebuilt)) if rebuilt.is_empty() => continue,
                Ok(Some(rebuilt)) => rebuilt,
                Err(error) => {
                    tracing::warn!(message = "Malformed metrics request; refused.", processor = %self.id, %error);
                    acks.fail(&Failure::permanent(format!("cumulativetodelta processor: {error}")));
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

#[cfg(test)]
mod tests;
