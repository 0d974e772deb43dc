//! Splitting a request by backend without decoding it: every item's routing key is read
//! through views, and each backend's part is built by [`Parts`] from the byte ranges of its
//! items under copies of their resource and scope headers. A request whose items all go to
//! one backend is forwarded as it is.
//!
//! Keys (the ring hashes them, see [`super::ring`]):
//!
//! | `routing_key` | signals | key bytes | unit routed |
//! |---|---|---|---|
//! | `traceID` | traces, logs | the 16 trace id bytes (a log without one goes to a random backend) | span, log record |
//! | `service` | all | the resource's `service.name` (empty when absent) | resource |
//! | `resource` | all | the encoded resource | resource |
//! | `metric` | metrics | the metric name | metric |
//! | `streamID` | metrics | resource, scope, metric name and the point's attributes, encoded | data point |
//! | `attributes` | traces | the values of `routing_attributes` (resource, then span; `span.name`, `span.kind`) | span |
//!
//! `traceID` and `service` hash the same bytes as the Collector, so mixed weir and Collector
//! agents route alike; the other keys group data as the Collector's do, over weir's own key
//! bytes.

use super::config::RoutingKey;
use super::ring::HashRing;
use weir_core::pdata::parts::{metric_with_points, Parts};
use weir_core::pdata::views::{DataPointView, LogRecordView, MetricView, SpanKind};
use weir_core::pdata::SpanView;
use weir_core::pdata::WireError;
use weir_core::{Payload, Signal};

/// Splits requests of one signal by one routing key.
#[derive(Debug, Clone)]
pub struct Router {
    pub signal: Signal,
    pub key: RoutingKey,
}

fn index(ring: &HashRing, key: &[u8]) -> usize {
    ring.index_for(key).unwrap_or(0)
}

impl Router {
    /// The parts of `payload` by backend (indices into `ring.endpoints()`). An empty ring
    /// gets nothing (the caller checks first).
    pub fn split(&self, payload: &Payload, ring: &HashRing) -> Result<Vec<(usize, Payload)>, WireError> {
        let n = ring.endpoints().len();
        if payload.is_empty() || n == 0 {
            return Ok(Vec::new());
        }
        if n == 1 {
            return Ok(vec![(0, payload.clone())]);
        }
        if self.key == RoutingKey::StreamId {
            return self.split_streams(payload, ring);
        }
        let mut parts = Parts::new(n);
        let mut key = Vec::new();
        for (r, rg) in payload.view().resources().enumerate() {
            let rg = rg?;
            let resource = rg.resource()?;
            let per_resource = match &self.key {
                RoutingKey::Service => {
                    let svc = resource.attributes().get("service.name")?.and_then(|v| v.as_str()).unwrap_or("");
                    Some(index(ring, svc.as_bytes()))
                }
                RoutingKey::Resource => Some(index(ring, resource.bytes())),
                _ => None,
            };
            for (s, sg) in rg.scopes().enumerate() {
                let sg = sg?;
                for item in sg.items() {
                    let item = item?;
                    let count = match self.signal {
                        Signal::Metrics => MetricView::new(item).data_point_count()?,
                        _ => 1,
                    };
                    let backend = match (per_resource, &self.key, self.signal) {
                        (Some(b), _, _) => b,
                        (None, RoutingKey::TraceId, Signal::Traces) => index(ring, SpanView::new(item).trace_id()?),
                        (None, RoutingKey::TraceId, _) => {
                            let id = LogRecordView::new(item).trace_id()?;
                            if id.is_empty() {
                                rand::random_range(0..n)
                            } else {
                                index(ring, id)
                            }
                        }
                        (None, RoutingKey::Metric, _) => index(ring, MetricView::new(item).name()?.as_bytes()),
                        (None, RoutingKey::Attributes(names), _) => {
                            key.clear();
                            attributes_key(&mut key, names, resource.attributes(), SpanView::new(item))?;
                            index(ring, &key)
                        }
                        // Service, Resource and StreamId are handled above.
                        (None, _, _) => 0,
                    };
                    parts.add(backend, r, rg, s, sg, item, count)?;
                }
            }
        }
        Ok(parts.finish(payload))
    }

    /// `streamID`: each data point goes where its stream hashes; a metric whose points go to
    /// several backends is rewritten once per backend with only its points (its other fields
    /// copied byte for byte).
    fn split_streams(&self, payload: &Payload, ring: &HashRing) -> Result<Vec<(usize, Payload)>, WireError> {
        // Pass 1: where each metric's points go; metrics split across backends are rebuilt
        // here, so that pass 2 can borrow them.
        enum Plan {
            Whole(usize, usize),
            Split(Vec<(usize, usize, usize)>), // (backend, index into rebuilt, points)
        }
        let mut plans = Vec::new();
        let mut rebuilt: Vec<Vec<u8>> = Vec::new();
        let mut key = Vec::new();
        for rg in payload.view().resources() {
            let rg = rg?;
            let resource = rg.resource()?;
            for sg in rg.scopes() {
                let sg = sg?;
                let scope = sg.scope()?;
                for m in sg.metrics() {
                    let m = m?;
                    let (kind, data) = m.data()?;
                    let mut by_backend: Vec<(usize, Vec<&[u8]>)> = Vec::new();
                    for dp in m.data_points()? {
                        let dp = dp?;
                        key.clear();
                        key.extend_from_slice(resource.bytes());
                        key.push(0);
                        key.extend_from_slice(scope.bytes());
                        key.push(0);
                        key.extend_from_slice(m.name()?.as_bytes());
                        for kv in DataPointView::new(kind, dp).attributes().iter_raw() {
                            let (k, v) = kv?;
                            key.push(0);
                            key.extend_from_slice(k);
                            key.extend_from_slice(v.bytes());
                        }
                        let b = index(ring, &key);
                        match by_backend.iter_mut().find(|(x, _)| *x == b) {
                            Some((_, v)) => v.push(dp),
                            None => by_backend.push((b, vec![dp])),
                        }
                    }
                    plans.push(match by_backend.as_slice() {
                        [] => Plan::Whole(0, 0),
                        [(b, points)] => Plan::Whole(*b, points.len()),
                        _ => {
                            let mut parts = Vec::with_capacity(by_backend.len());
                            for (b, points) in &by_backend {
                                rebuilt.push(metric_with_points(m.bytes(), kind, data, points)?);
                                parts.push((*b, rebuilt.len() - 1, points.len()));
                            }
                            Plan::Split(parts)
                        }
                    });
                }
            }
        }
        // Pass 2: build the parts.
        let mut parts = Parts::new(ring.endpoints().len());
        let mut plans = plans.into_iter();
        for (r, rg) in payload.view().resources().enumerate() {
            let rg = rg?;
            for (s, sg) in rg.scopes().enumerate() {
                let sg = sg?;
                for item in sg.items() {
                    let item = item?;
                    match plans.next() {
                        Some(Plan::Whole(b, n)) => parts.add(b, r, rg, s, sg, item, n)?,
                        Some(Plan::Split(split)) => {
                            for (b, i, n) in split {
                                parts.add(b, r, rg, s, sg, &rebuilt[i], n)?;
                            }
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(parts.finish(payload))
    }
}

/// The `attributes` key of a span: each named value (resource first, then span), separated.
fn attributes_key(
    key: &mut Vec<u8>,
    names: &[String],
    resource: weir_core::pdata::views::Attributes<'_>,
    span: SpanView<'_>,
) -> Result<(), WireError> {
    for name in names {
        match name.as_str() {
            "span.name" => key.extend_from_slice(span.fields()?.name.as_bytes()),
            "span.kind" => key.extend_from_slice(SpanKind::from_i32(span.fields()?.kind).ottl_name().as_bytes()),
            _ => {
                let v = match resource.get(name)? {
                    Some(v) => Some(v),
                    None => span.fields()?.attributes.get(name)?,
                };
                if let Some(v) = v {
                    key.extend_from_slice(v.bytes());
                }
            }
        }
        key.push(0);
    }
    Ok(())
}
