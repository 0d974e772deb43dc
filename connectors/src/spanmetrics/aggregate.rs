//! The series the connector keeps, filled from span views and emitted as an OTLP metrics
//! request.
//!
//! A series is keyed by the bytes of its dimension values as they were received (the span
//! name, kind and status, and each dimension's encoded `AnyValue`), built in one reusable
//! buffer: counting a span of a known series allocates nothing and decodes nothing. Only a
//! new series turns its values into `KeyValue`s, once.
//!
//! Series are grouped by resource, as the Collector groups them: one `ResourceMetrics` per
//! distinct span resource (or per distinct `resource_metrics_key_attributes` values).

use super::config::{SpanMetricsConfig, SERVICE_NAME, SPAN_KIND, SPAN_NAME, STATUS_CODE};
use super::histogram::{Explicit, Exponential, Histogram};
use hashbrown::HashMap;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram as ProtoHistogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics as ProtoResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use weir_core::pdata::views::{AnyValueView, SpanKind, StatusCode};
use weir_core::pdata::wire::WireError;
use weir_core::pdata::ResourceGroupView;
use weir_core::{Payload, Signal};

/// The attribute of the overflow series.
pub const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";
/// The scope name of the emitted metrics, as the Collector's.
pub const SCOPE_NAME: &str = "spanmetricsconnector";
const SCOPE_NAME_KEY: &str = "span.instrumentation.scope.name";
const SCOPE_VERSION_KEY: &str = "span.instrumentation.scope.version";

/// Every series the connector holds, by resource.
pub struct Aggregator {
    config: SpanMetricsConfig,
    bounds: Vec<f64>,
    /// Which of `service.name`, `span.name`, `span.kind`, `status.code` are dimensions.
    defaults: [bool; 4],
    resources: HashMap<Box<[u8]>, ResourceSeries>,
    /// Delta temporality: when each series was last emitted (resource key + series key).
    delta_starts: HashMap<Box<[u8]>, u64>,
    /// Scratch buffers for the keys.
    key: Vec<u8>,
    event_key: Vec<u8>,
    resource_key: Vec<u8>,
}

struct ResourceSeries {
    attributes: Vec<KeyValue>,
    series: HashMap<Box<[u8]>, Series>,
    overflow: Option<Series>,
    events: HashMap<Box<[u8]>, Series>,
    last_seen: u64,
}

struct Series {
    attributes: Vec<KeyValue>,
    start: u64,
    calls: u64,
    histogram: Option<Histogram>,
    exemplars: Vec<Exemplar>,
}

fn string_value(s: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::StringValue(s.to_string())) })
}

fn key_value(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue { key: key.to_string(), value, ..Default::default() }
}

/// The received value as a prost `AnyValue` (once per new series).
fn proto_value(v: AnyValueView<'_>) -> Option<AnyValue> {
    AnyValue::decode(v.bytes()).ok()
}

#[inline]
fn push_bytes(key: &mut Vec<u8>, b: &[u8]) {
    key.extend_from_slice(&(b.len() as u32).to_le_bytes());
    key.extend_from_slice(b);
}

impl Aggregator {
    pub fn new(config: SpanMetricsConfig) -> Aggregator {
        let excluded = |d: &str| config.exclude_dimensions.iter().any(|e| e == d);
        let defaults = [!excluded(SERVICE_NAME), !excluded(SPAN_NAME), !excluded(SPAN_KIND), !excluded(STATUS_CODE)];
        Aggregator {
            bounds: config.bounds(),
            defaults,
            config,
            resources: HashMap::new(),
            delta_starts: HashMap::new(),
            key: Vec::with_capacity(256),
            event_key: Vec::with_capacity(256),
            resource_key: Vec::with_capacity(256),
        }
    }

    /// The number of series held (the overflow series included), for tests and benchmarks.
    pub fn series(&self) -> usize {
        self.resources.values().map(|r| r.series.len() + usize::from(r.overflow.is_some())).sum()
    }

    fn new_series(&self, attributes: Vec<KeyValue>, now: u64) -> Series {
        let histogram = if self.config.histogram.disable {
            None
        } else if let Some(e) = &self.config.histogram.exponential {
            Some(Histogram::Exponential(Exponential::new(e.max_size as usize)))
        } else {
            Some(Histogram::Explicit(Explicit::new(self.bounds.len())))
        };
        Series { attributes, start: now, calls: 0, histogram, exemplars: Vec::new() }
    }

    /// Counts every span of `payload` (a traces request). Spans of a resource without
    /// `service.name` are not counted, as in the Collector. Returns the spans counted.
    pub fn aggregate(&mut self, payload: &Payload, now: u64) -> Result<usize, WireError> {
        let mut counted = 0;
        let unit = self.config.histogram.unit.nanos();
        for rg in payload.view().resources() {
            let rg = rg?;
            let resource = rg.resource()?;
            let rattrs = resource.attributes();
            let Some(service) = rattrs.get(SERVICE_NAME)?.and_then(|v| v.as_str()) else { continue };

            // The resource's key and its values of the dimensions (spans fall back to them).
            self.resource_key.clear();
            if self.config.resource_metrics_key_attributes.is_empty() {
                self.resource_key.extend_from_slice(resource.bytes());
            } else {
                for k in &self.config.resource_metrics_key_attributes {
                    if let Some(v) = rattrs.get(k)? {
                        push_bytes(&mut self.resource_key, k.as_bytes());
                        push_bytes(&mut self.resource_key, v.bytes());
                    }
                }
            }
            let mut resource_dims = Vec::with_capacity(self.config.dimensions.len());
            for d in &self.config.dimensions {
                resource_dims.push(rattrs.get(&d.name)?);
            }
            let mut resource_event_dims = Vec::with_capacity(self.config.events.dimensions.len());
            if self.config.events.enabled {
                for d in &self.config.events.dimensions {
                    resource_event_dims.push(rattrs.get(&d.name)?);
                }
            }
            if !self.resources.contains_key(self.resource_key.as_slice()) {
                if self.resources.len() >= self.config.resource_metrics_cache_size {
                    let oldest = self.resources.iter().min_by_key(|(_, r)| r.last_seen).map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        self.resources.remove(&k);
                    }
                }
                let attributes = Resource::decode(resource.bytes()).map(|r| r.attributes).unwrap_or_default();
                let rs = ResourceSeries {
                    attributes,
                    series: HashMap::new(),
                    overflow: None,
                    events: HashMap::new(),
                    last_seen: now,
                };
                self.resources.insert(self.resource_key.as_slice().into(), rs);
            }

            let (rkey, mut rs) =
                self.resources.remove_entry(self.resource_key.as_slice()).expect("the resource was inserted above");
            // Held out of the map for the whole group: no lookup of the resource's key per span.
            let result = self.aggregate_group(&mut rs, &rg, service, &resource_dims, &resource_event_dims, unit, now);
            self.resources.insert(rkey, rs);
            counted += result?;
        }
        Ok(counted)
    }

    /// Counts the spans of one resource group into `rs`, its series.
    #[allow(clippy::too_many_arguments)]
    fn aggregate_group(
        &mut self,
        rs: &mut ResourceSeries,
        rg: &ResourceGroupView<'_>,
        service: &str,
        resource_dims: &[Option<AnyValueView<'_>>],
        resource_event_dims: &[Option<AnyValueView<'_>>],
        unit: f64,
        now: u64,
    ) -> Result<usize, WireError> {
        let mut counted = 0;
        for sg in rg.scopes() {
            let sg = sg?;
            let scope = sg.scope()?;
            let scope_name = scope.name()?;
            let with_scope = self.config.include_instrumentation_scope.iter().any(|s| s == scope_name);
            for span in sg.spans() {
                let span = span?;
                let f = span.fields()?;
                let duration = if f.end_time_unix_nano > f.start_time_unix_nano {
                    (f.end_time_unix_nano - f.start_time_unix_nano) as f64 / unit
                } else {
                    0.0
                };
                // The series key: the values of the dimensions, as received.
                let key = &mut self.key;
                key.clear();
                if self.defaults[0] {
                    push_bytes(key, service.as_bytes());
                }
                if self.defaults[1] {
                    push_bytes(key, f.name.as_bytes());
                }
                if self.defaults[2] {
                    key.push(f.kind as u8);
                }
                if self.defaults[3] {
                    key.push(f.status_code as u8);
                }
                let mut span_dims: [Option<AnyValueView>; 8] = [None; 8];
                for (i, d) in self.config.dimensions.iter().enumerate() {
                    let v = match f.attributes.get(&d.name)? {
                        Some(v) => Some(v),
                        None => resource_dims[i],
                    };
                    if i < span_dims.len() {
                        span_dims[i] = v;
                    }
                    match v {
                        Some(v) => {
                            key.push(1);
                            push_bytes(key, v.bytes());
                        }
                        None => key.push(if d.default.is_some() { 2 } else { 0 }),
                    }
                }
                if with_scope {
                    key.push(3);
                    push_bytes(key, scope.version()?.as_bytes());
                }
                rs.last_seen = now;
                let limit = self.config.aggregation_cardinality_limit;
                let known = rs.series.contains_key(self.key.as_slice());
                if !known && limit > 0 && rs.series.len() >= limit && rs.overflow.is_none() {
                    let attrs = vec![KeyValue {
                        key: OVERFLOW_ATTRIBUTE.into(),
                        value: Some(AnyValue { value: Some(any_value::Value::BoolValue(true)) }),
                        ..Default::default()
                    }];
                    let s = self.new_series(attrs, now);
                    rs.overflow = Some(s);
                } else if !known && (limit == 0 || rs.series.len() < limit) {
                    let attrs = self.attributes(service, &f, &span_dims, resource_dims, &span, with_scope, scope)?;
                    let s = self.new_series(attrs, now);
                    rs.series.insert(self.key.as_slice().into(), s);
                }
                let series = match rs.series.get_mut(self.key.as_slice()) {
                    Some(s) => s,
                    None => rs.overflow.as_mut().expect("a series past the limit goes to the overflow series"),
                };
                series.calls += 1;
                if let Some(h) = &mut series.histogram {
                    h.record(&self.bounds, duration);
                }
                if self.config.exemplars.enabled && !f.trace_id.is_empty() {
                    let room = self.config.exemplars.max_per_data_point.is_none_or(|m| series.exemplars.len() < m);
                    if room {
                        series.exemplars.push(Exemplar {
                            time_unix_nano: f.end_time_unix_nano,
                            trace_id: f.trace_id.to_vec(),
                            span_id: f.span_id.to_vec(),
                            value: Some(exemplar::Value::AsDouble(duration)),
                            ..Default::default()
                        });
                    }
                }
                counted += 1;

                if self.config.events.enabled {
                    for ev in span.events() {
                        let ev = ev?;
                        let eattrs = ev.attributes();
                        self.event_key.clear();
                        self.event_key.extend_from_slice(&self.key);
                        let mut values = Vec::with_capacity(self.config.events.dimensions.len());
                        for (i, d) in self.config.events.dimensions.iter().enumerate() {
                            let v = match eattrs.get(&d.name)? {
                                Some(v) => Some(v),
                                None => resource_event_dims[i],
                            };
                            values.push(v);
                            match v {
                                Some(v) => {
                                    self.event_key.push(1);
                                    push_bytes(&mut self.event_key, v.bytes());
                                }
                                None => self.event_key.push(if d.default.is_some() { 2 } else { 0 }),
                            }
                        }
                        if !rs.events.contains_key(self.event_key.as_slice()) {
                            let mut attrs =
                                self.attributes(service, &f, &span_dims, resource_dims, &span, with_scope, scope)?;
                            for (d, v) in self.config.events.dimensions.iter().zip(&values) {
                                match (v, &d.default) {
                                    (Some(v), _) => attrs.push(key_value(&d.name, proto_value(*v))),
                                    (None, Some(def)) => attrs.push(key_value(&d.name, string_value(def))),
                                    (None, None) => {}
                                }
                            }
                            let mut s = self.new_series(attrs, now);
                            s.histogram = None;
                            rs.events.insert(self.event_key.as_slice().into(), s);
                        }
                        if let Some(s) = rs.events.get_mut(self.event_key.as_slice()) {
                            s.calls += 1;
                        }
                    }
                }
            }
        }
        Ok(counted)
    }

    /// The attributes of a new series, in the Collector's order: the defaults, then the
    /// configured dimensions, then the scope.
    #[allow(clippy::too_many_arguments)]
    fn attributes(
        &self,
        service: &str,
        f: &weir_core::pdata::views::SpanFields<'_>,
        span_dims: &[Option<AnyValueView<'_>>; 8],
        resource_dims: &[Option<AnyValueView<'_>>],
        span: &weir_core::pdata::SpanView<'_>,
        with_scope: bool,
        scope: weir_core::pdata::views::ScopeView<'_>,
    ) -> Result<Vec<KeyValue>, WireError> {
        let mut attrs = Vec::with_capacity(4 + self.config.dimensions.len());
        if self.defaults[0] {
            attrs.push(key_value(SERVICE_NAME, string_value(service)));
        }
        if self.defaults[1] {
            attrs.push(key_value(SPAN_NAME, string_value(f.name)));
        }
        if self.defaults[2] {
            attrs.push(key_value(SPAN_KIND, string_value(SpanKind::from_i32(f.kind).ottl_name())));
        }
        if self.defaults[3] {
            attrs.push(key_value(STATUS_CODE, string_value(StatusCode::from_i32(f.status_code).ottl_name())));
        }
        for (i, d) in self.config.dimensions.iter().enumerate() {
            // Past the first 8 dimensions the value is looked up again.
            let v = match span_dims.get(i) {
                Some(v) => *v,
                None => span.fields()?.attributes.get(&d.name)?.or(resource_dims[i]),
            };
            match (v, &d.default) {
                (Some(v), _) => attrs.push(key_value(&d.name, proto_value(v))),
                (None, Some(def)) => attrs.push(key_value(&d.name, string_value(def))),
                (None, None) => {}
            }
        }
        if with_scope {
            attrs.push(key_value(SCOPE_NAME_KEY, string_value(scope.name()?)));
            attrs.push(key_value(SCOPE_VERSION_KEY, string_value(scope.version()?)));
        }
        Ok(attrs)
    }

    /// Builds the metrics of every series at `now` and resets what the temporality says
    /// (delta: everything; cumulative: exemplars, and resources past `metrics_expiration`).
    /// `None` when there is nothing to emit.
    pub fn flush(&mut self, now: u64) -> Option<Payload> {
        let delta = self.config.is_delta();
        let temporality = if delta { 1 } else { 2 };
        let mut out = Vec::with_capacity(self.resources.len());
        let mut starts_key = Vec::new();
        for (rkey, rs) in &mut self.resources {
            let mut start_of = |skey: &[u8], s: &Series| -> u64 {
                if !delta {
                    return s.start;
                }
                starts_key.clear();
                starts_key.extend_from_slice(rkey);
                starts_key.extend_from_slice(skey);
                let start = self.delta_starts.get(starts_key.as_slice()).copied().unwrap_or(s.start);
                self.delta_starts.insert(starts_key.as_slice().into(), now);
                start
            };
            let mut all: Vec<(&[u8], &Series)> = rs.series.iter().map(|(k, s)| (&k[..], s)).collect();
            if let Some(o) = &rs.overflow {
                all.push((&b"\xffoverflow"[..], o));
            }
            let mut calls = Vec::with_capacity(all.len());
            let mut explicit = Vec::new();
            let mut exponential = Vec::new();
            for &(k, s) in &all {
                let start = start_of(k, s);
                calls.push(NumberDataPoint {
                    attributes: s.attributes.clone(),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    exemplars: s.exemplars.clone(),
                    value: Some(number_data_point::Value::AsInt(s.calls as i64)),
                    ..Default::default()
                });
                match &s.histogram {
                    Some(Histogram::Explicit(h)) => explicit.push(HistogramDataPoint {
                        attributes: s.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: h.count,
                        sum: Some(h.sum),
                        bucket_counts: h.counts.clone(),
                        explicit_bounds: self.bounds.clone(),
                        exemplars: s.exemplars.clone(),
                        ..Default::default()
                    }),
                    Some(Histogram::Exponential(h)) => exponential.push(ExponentialHistogramDataPoint {
                        attributes: s.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: h.count,
                        sum: Some(h.sum),
                        scale: h.scale,
                        zero_count: h.zero_count,
                        positive: Some(Buckets { offset: h.offset, bucket_counts: h.counts.clone() }),
                        negative: Some(Buckets::default()),
                        exemplars: s.exemplars.clone(),
                        min: (h.count > 0).then_some(h.min),
                        max: (h.count > 0).then_some(h.max),
                        ..Default::default()
                    }),
                    None => {}
                }
            }
            let mut metrics = vec![Metric {
                name: self.config.metric_name("calls"),
                data: Some(metric::Data::Sum(Sum {
                    data_points: calls,
                    aggregation_temporality: temporality,
                    is_monotonic: true,
                })),
                ..Default::default()
            }];
            if !self.config.histogram.disable {
                let data = if self.config.histogram.exponential.is_some() {
                    metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: exponential,
                        aggregation_temporality: temporality,
                    })
                } else {
                    metric::Data::Histogram(ProtoHistogram {
                        data_points: explicit,
                        aggregation_temporality: temporality,
                    })
                };
                metrics.push(Metric {
                    name: self.config.metric_name("duration"),
                    unit: self.config.histogram.unit.as_str().into(),
                    data: Some(data),
                    ..Default::default()
                });
            }
            if self.config.events.enabled {
                let mut points = Vec::with_capacity(rs.events.len());
                for (k, s) in &rs.events {
                    let start = start_of(&k[..], s);
                    points.push(NumberDataPoint {
                        attributes: s.attributes.clone(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(s.calls as i64)),
                        ..Default::default()
                    });
                }
                metrics.push(Metric {
                    name: self.config.metric_name("events"),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: points,
                        aggregation_temporality: temporality,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                });
            }
            out.push(ProtoResourceMetrics {
                resource: Some(Resource { attributes: rs.attributes.clone(), ..Default::default() }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope { name: SCOPE_NAME.into(), ..Default::default() }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        // Reset what the temporality says.
        if delta {
            self.resources.clear();
            if self.delta_starts.len() > self.config.metric_timestamp_cache_size {
                self.delta_starts.retain(|_, t| *t == now);
            }
        } else {
            for rs in self.resources.values_mut() {
                rs.series.values_mut().for_each(|s| s.exemplars.clear());
                if let Some(o) = &mut rs.overflow {
                    o.exemplars.clear();
                }
            }
            let expiration = self.config.metrics_expiration.as_nanos() as u64;
            if expiration > 0 {
                self.resources.retain(|_, rs| now.saturating_sub(rs.last_seen) < expiration);
            }
        }
        if out.is_empty() {
            return None;
        }
        let request = ExportMetricsServiceRequest { resource_metrics: out };
        let bytes = bytes::Bytes::from(request.encode_to_vec());
        // Built here, so it is well-formed; counting its points cannot fail.
        Payload::new(Signal::Metrics, bytes).ok()
    }
}
