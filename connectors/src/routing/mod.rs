//! `routing`: sends each resource, span, metric, data point or log record to the pipelines of
//! the first route whose condition holds (the Collector's `routingconnector`), traces →
//! traces, metrics → metrics, logs → logs.
//!
//! - **Routes in order, first match wins** (upstream's behaviour since `match_once` went): for
//!   each route, what no earlier route took is tested; what it matches is taken. What no route
//!   takes goes to `default_pipelines` (or is dropped when there are none).
//! - **Units** by context: `request` takes everything left of the request when the client's
//!   metadata matches; `resource` a resource group; `span`, `log`, `metric` an item; `datapoint`
//!   a data point (a metric whose points go to several routes is rewritten once per route
//!   with only its points). A route whose context is not of the signal never matches.
//! - **Never decoded**: conditions read the received bytes through views (`weir-ottl`), and
//!   each route's part is built from byte ranges ([`weir_core::pdata::parts`]); a request
//!   whose items all go one way is forwarded as it is, sharing its bytes. A table of only
//!   `resource` and `request` routes decides once per resource group and moves whole groups
//!   (`Payload::group_resources`), never walking the items.
//! - **Acknowledgements**: every part carries the request's tokens, so a request is delivered
//!   when every pipeline that got a part has delivered it; a failure in any wins. Dropped
//!   items (no route, no default) are acknowledged as delivered, as upstream returns no error.
//! - `error_mode`: `propagate` (default) fails the request permanently on a condition error;
//!   `ignore`/`silent` count the condition as false. As upstream, once a condition of a request
//!   failed, what later routes match is also sent to `default_pipelines`.

pub mod config;

pub use config::RoutingConfig;

use async_trait::async_trait;
use config::{Matcher, Route, RouteContext};
use tokio::sync::mpsc;
use weir_core::pdata::parts::{metric_with_points, Parts};
use weir_core::pdata::views::{MetricKind, MetricView};
use weir_core::pdata::{ResourceGroupView, ScopeGroupView, WireError};
use weir_core::{
    BuildContext, BuildError, ClientMetadata, Connector, ConnectorFactory, Downstream, Envelope, Failure, Payload,
    Signal,
};
use weir_ottl::{Conditions, ContextKind, Node, NodeKind, RunStats};

/// Factory of the `routing` connector.
pub struct RoutingFactory;

impl ConnectorFactory for RoutingFactory {
    type Config = RoutingConfig;

    fn type_name(&self) -> &'static str {
        "routing"
    }

    fn signal_pairs(&self) -> &'static [(Signal, Signal)] {
        &[(Signal::Traces, Signal::Traces), (Signal::Metrics, Signal::Metrics), (Signal::Logs, Signal::Logs)]
    }

    fn build(
        &self,
        ctx: &BuildContext,
        config: &RoutingConfig,
        from: Signal,
        _to: Signal,
    ) -> Result<Box<dyn Connector>, BuildError> {
        Ok(Box::new(Router::new(config, from, &ctx.id.to_string()).map_err(BuildError::new)?))
    }
}

/// Whether routes of `context` can match data of `signal` (upstream's per-signal contexts).
fn applies(context: RouteContext, signal: Signal) -> bool {
    match context {
        RouteContext::Request | RouteContext::Ottl(ContextKind::Resource) => true,
        RouteContext::Ottl(ContextKind::Span) => signal == Signal::Traces,
        RouteContext::Ottl(ContextKind::Metric | ContextKind::DataPoint) => signal == Signal::Metrics,
        RouteContext::Ottl(ContextKind::Log) => signal == Signal::Logs,
        RouteContext::Ottl(_) => false,
    }
}

enum Test {
    Request(config::RequestCondition),
    Always,
    Ottl(Conditions),
}

struct CompiledRoute {
    context: RouteContext,
    test: Test,
    pipelines: Vec<String>,
    /// Indices of `pipelines` in the downstream list (set when running).
    targets: Vec<usize>,
    /// Items this route took (labelled with its index in `table`).
    routed: metrics::Counter,
}

/// A compiled routing table for one signal, and where its routes' pipelines are.
pub struct Router {
    id: String,
    signal: Signal,
    unit: Unit,
    routes: Vec<CompiledRoute>,
    default_pipelines: Vec<String>,
    default_targets: Vec<usize>,
    /// Items taken by the default pipelines, and dropped (no route, no default).
    defaulted: metrics::Counter,
    dropped: metrics::Counter,
    errors: metrics::Counter,
}

/// Where a unit goes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Dest {
    Unassigned,
    Route(usize),
    /// Taken by a route after a condition of the request failed (ignore/silent): also sent
    /// to the default pipelines, as upstream does.
    RouteAndDefault(usize),
}

/// One item of the request, read once: its place, and its units (one, or a metric's points).
struct Item<'a> {
    r: usize,
    s: usize,
    bytes: &'a [u8],
    /// The first unit of the item in the unit list (it has one, or one per data point).
    first: usize,
    /// The data points of a metric routed by data point (empty otherwise).
    points: Vec<&'a [u8]>,
    kind: MetricKind,
    data: &'a [u8],
}

struct Group<'a> {
    rg: ResourceGroupView<'a>,
    resource: &'a [u8],
    scopes: Vec<(ScopeGroupView<'a>, &'a [u8])>,
    /// The units of this resource group's items.
    units: std::ops::Range<usize>,
}

/// What one routing decision covers: a resource group when every route that can match is
/// a `resource` or `request` route, a data point when a `datapoint` route routes metrics, an
/// item otherwise.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Resource,
    Item,
    DataPoint,
}

/// A request laid out for routing.
struct Layout<'a> {
    groups: Vec<Group<'a>>,
    items: Vec<Item<'a>>,
    dest: Vec<Dest>,
}

impl<'a> Layout<'a> {
    fn new(payload: &'a Payload, unit: Unit) -> Result<Layout<'a>, WireError> {
        let mut groups = Vec::new();
        let mut items = Vec::new();
        let mut units = 0usize;
        let by_point = unit == Unit::DataPoint;
        for (r, rg) in payload.view().resources().enumerate() {
            let rg = rg?;
            let start = units;
            let mut scopes = Vec::new();
            if unit == Unit::Resource {
                units += 1;
                groups.push(Group { rg, resource: rg.resource()?.bytes(), scopes, units: start..units });
                continue;
            }
            for (s, sg) in rg.scopes().enumerate() {
                let sg = sg?;
                scopes.push((sg, sg.scope()?.bytes()));
                for item in sg.items() {
                    let bytes = item?;
                    let (mut kind, mut data, mut points) = (MetricKind::Empty, &[][..], Vec::new());
                    if by_point {
                        let m = MetricView::new(bytes);
                        (kind, data) = m.data()?;
                        points = m.data_points()?.collect::<Result<_, _>>()?;
                    }
                    let n = points.len().max(1);
                    items.push(Item { r, s, bytes, first: units, points, kind, data });
                    units += n;
                }
            }
            groups.push(Group { rg, resource: rg.resource()?.bytes(), scopes, units: start..units });
        }
        Ok(Layout { groups, items, dest: vec![Dest::Unassigned; units] })
    }

    fn units(&self, item: &Item<'_>) -> std::ops::Range<usize> {
        item.first..item.first + item.points.len().max(1)
    }

    fn any_unassigned(&self, range: std::ops::Range<usize>) -> bool {
        self.dest[range].contains(&Dest::Unassigned)
    }

    fn take(&mut self, range: std::ops::Range<usize>, to: Dest) {
        for d in &mut self.dest[range] {
            if *d == Dest::Unassigned {
                *d = to;
            }
        }
    }
}

impl Router {
    /// The router of `signal` for `config` (`id` labels its metrics and logs); the error is
    /// the config's.
    pub fn new(config: &RoutingConfig, signal: Signal, id: &str) -> Result<Router, String> {
        let (id, from) = (id.to_string(), signal);
        if config.match_once == Some(true) {
            tracing::warn!(message = "The match_once field was removed from the Collector's routing connector in v0.120.0; routing always matches once. Remove it.", connector = %id);
        }
        let mut routes: Vec<(usize, Route)> = Vec::new();
        for (index, r) in config.compile()?.into_iter().enumerate() {
            if routes.iter().any(|(_, x)| x.key == r.key) {
                tracing::warn!(
                    message = "A statement already exists in the routing table; this route is ignored.",
                    connector = %id, statement = %r.key, pipelines = %r.pipelines.join(", ")
                );
                continue;
            }
            if !applies(r.context, from) {
                tracing::warn!(message = "A route's context is not of this signal; it never matches here.", connector = %id, signal = %from, context = r.context.name());
            }
            routes.push((index, r));
        }
        let label = |route: String| metrics::counter!("weir_connector_routing_items", "connector" => id.clone(), "route" => route);
        let routes = routes
            .into_iter()
            .map(|(index, r)| {
                let matcher = match r.matcher {
                    Matcher::Request(c) => Test::Request(c),
                    Matcher::Ottl(None) => Test::Always,
                    Matcher::Ottl(Some(c)) => {
                        Test::Ottl(Conditions { conditions: vec![c], error_mode: config.error_mode })
                    }
                };
                CompiledRoute {
                    context: r.context,
                    test: matcher,
                    pipelines: r.pipelines,
                    targets: Vec::new(),
                    routed: label(index.to_string()),
                }
            })
            .collect::<Vec<CompiledRoute>>();
        let whole = |r: &CompiledRoute| {
            matches!(r.context, RouteContext::Request | RouteContext::Ottl(ContextKind::Resource))
                || !applies(r.context, from)
        };
        let unit = if routes.iter().all(whole) {
            Unit::Resource
        } else if from == Signal::Metrics
            && routes.iter().any(|r| r.context == RouteContext::Ottl(ContextKind::DataPoint))
        {
            Unit::DataPoint
        } else {
            Unit::Item
        };
        Ok(Router {
            unit,
            defaulted: label("default".into()),
            dropped: label("none".into()),
            errors: metrics::counter!("weir_connector_routing_condition_errors", "connector" => id.clone()),
            id,
            signal: from,
            routes,
            default_pipelines: config.default_pipelines.clone(),
            default_targets: Vec::new(),
        })
    }

    /// Assigns every unit of `layout` to a route (or leaves it for the default). `Err` under
    /// `propagate` when a condition fails.
    fn assign(
        &self,
        layout: &mut Layout<'_>,
        metadata: Option<&ClientMetadata>,
        stats: &mut RunStats,
    ) -> Result<(), Failure> {
        let mut errored = false;
        for (ri, route) in self.routes.iter().enumerate() {
            if !layout.dest.contains(&Dest::Unassigned) {
                break;
            }
            let errors_before = stats.errors;
            let mut taken = Vec::new();
            let conds = match &route.test {
                Test::Request(c) => {
                    if c.matches(metadata) {
                        taken.push(0..layout.dest.len());
                    }
                    None
                }
                Test::Always => {
                    if applies(route.context, self.signal) {
                        taken.push(0..layout.dest.len());
                    }
                    None
                }
                Test::Ottl(c) => Some(c),
            };
            if let Some(conds) = conds {
                let fail = |e: weir_ottl::EvalError| Failure::permanent(format!("routing condition failed: {e}"));
                match route.context {
                    RouteContext::Ottl(ContextKind::Resource) => {
                        for g in &layout.groups {
                            if !layout.any_unassigned(g.units.clone()) {
                                continue;
                            }
                            let mut r = Node::new(NodeKind::Resource, g.resource);
                            if conds.any(&weir_ottl::Ctx::new(&mut r, None, None, None), stats).map_err(fail)? {
                                taken.push(g.units.clone());
                            }
                        }
                    }
                    RouteContext::Ottl(k @ (ContextKind::Span | ContextKind::Log | ContextKind::Metric))
                        if applies(route.context, self.signal) =>
                    {
                        let kind = match k {
                            ContextKind::Span => NodeKind::Span,
                            ContextKind::Log => NodeKind::Log,
                            _ => NodeKind::Metric,
                        };
                        for it in &layout.items {
                            let units = layout.units(it);
                            if !layout.any_unassigned(units.clone()) {
                                continue;
                            }
                            let g = &layout.groups[it.r];
                            let mut r = Node::new(NodeKind::Resource, g.resource);
                            let mut s = Node::new(NodeKind::Scope, g.scopes[it.s].1);
                            let mut i = Node::new(kind, it.bytes);
                            let ctx = weir_ottl::Ctx::new(&mut r, Some(&mut s), Some(&mut i), None);
                            if conds.any(&ctx, stats).map_err(fail)? {
                                taken.push(units);
                            }
                        }
                    }
                    RouteContext::Ottl(ContextKind::DataPoint) if self.signal == Signal::Metrics => {
                        for it in &layout.items {
                            let g = &layout.groups[it.r];
                            for (p, point) in it.points.iter().enumerate() {
                                let unit = it.first + p;
                                if layout.dest[unit] != Dest::Unassigned {
                                    continue;
                                }
                                let mut r = Node::new(NodeKind::Resource, g.resource);
                                let mut s = Node::new(NodeKind::Scope, g.scopes[it.s].1);
                                let mut m = Node::new(NodeKind::Metric, it.bytes);
                                let mut d = Node::new(NodeKind::DataPoint(it.kind), point);
                                let ctx = weir_ottl::Ctx::new(&mut r, Some(&mut s), Some(&mut m), Some(&mut d));
                                if conds.any(&ctx, stats).map_err(fail)? {
                                    taken.push(unit..unit + 1);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            errored |= stats.errors > errors_before;
            let to = if errored { Dest::RouteAndDefault(ri) } else { Dest::Route(ri) };
            for range in taken {
                layout.take(range, to);
            }
        }
        Ok(())
    }

    /// The parts of `payload` by destination: the index of a route among those kept (a
    /// duplicate route is dropped), or the number of routes for the default pipelines. `Err`
    /// when the request is unreadable, or a condition fails under `propagate`.
    pub fn split(
        &self,
        payload: &Payload,
        metadata: Option<&ClientMetadata>,
    ) -> Result<Vec<(usize, Payload)>, Failure> {
        let unit = self.unit;
        let by_point = unit == Unit::DataPoint;
        let unreadable = |e: WireError| Failure::permanent(format!("unreadable request: {e}"));
        let mut layout = Layout::new(payload, unit).map_err(unreadable)?;
        let mut stats = RunStats::default();
        let result = self.assign(&mut layout, metadata, &mut stats);
        if stats.errors > 0 {
            self.errors.increment(stats.errors);
            if stats.log {
                tracing::warn!(message = "Routing conditions failed; the items went on to the next routes.", connector = %self.id, errors = stats.errors, first_error = stats.first_error.as_deref().unwrap_or(""));
            }
        }
        result?;
        let n = self.routes.len();
        let default = n;
        // Each unit's destinations: its route, and/or the default.
        let dests = |d: Dest| -> [Option<usize>; 2] {
            match d {
                Dest::Unassigned => [Some(default), None],
                Dest::Route(i) => [Some(i), None],
                Dest::RouteAndDefault(i) => [Some(i), Some(default)],
            }
        };
        if unit == Unit::Resource {
            // Whole resource groups: their bytes as received, the request itself when all go
            // one way.
            let mut next = 0;
            let groups = payload
                .group_resources(|_| {
                    next += 1;
                    Ok(layout.dest.get(next - 1).copied())
                })
                .map_err(unreadable)?;
            let mut out = Vec::with_capacity(groups.len() + 1);
            let mut counts = vec![0u64; n + 1];
            for (d, part) in groups {
                for to in dests(d).into_iter().flatten() {
                    counts[to] += part.items() as u64;
                    out.push((to, part.clone()));
                }
            }
            self.record(&counts);
            return Ok(out);
        }
        // Metrics whose points go to several destinations, rebuilt first so parts can borrow.
        let mut rebuilt: Vec<(usize, usize, Vec<u8>, usize)> = Vec::new(); // (item, dest, bytes, points)
        for (ix, it) in layout.items.iter().enumerate() {
            if it.points.is_empty() {
                continue;
            }
            let units = &layout.dest[layout.units(it)];
            if units.iter().all(|d| *d == units[0]) {
                continue;
            }
            let mut by_dest: Vec<(usize, Vec<&[u8]>)> = Vec::new();
            for (p, d) in it.points.iter().zip(units) {
                for to in dests(*d).into_iter().flatten() {
                    match by_dest.iter_mut().find(|(x, _)| *x == to) {
                        Some((_, v)) => v.push(p),
                        None => by_dest.push((to, vec![p])),
                    }
                }
            }
            for (to, points) in by_dest {
                let bytes = metric_with_points(it.bytes, it.kind, it.data, &points).map_err(unreadable)?;
                rebuilt.push((ix, to, bytes, points.len()));
            }
        }
        let mut parts = Parts::new(n + 1);
        let mut counts = vec![0u64; n + 1];
        // `rebuilt` is in item order: a cursor walks it along the items.
        let mut next_rebuilt = 0;
        for (ix, it) in layout.items.iter().enumerate() {
            let g = &layout.groups[it.r];
            let sg = g.scopes[it.s].0;
            let units = &layout.dest[layout.units(it)];
            if !it.points.is_empty() && !units.iter().all(|d| *d == units[0]) {
                while let Some((_, to, bytes, points)) = rebuilt.get(next_rebuilt).filter(|(i, ..)| *i == ix) {
                    parts.add(*to, it.r, g.rg, it.s, sg, bytes, *points).map_err(unreadable)?;
                    counts[*to] += *points as u64;
                    next_rebuilt += 1;
                }
                continue;
            }
            let items = match self.signal {
                Signal::Metrics if by_point => it.points.len(),
                Signal::Metrics => MetricView::new(it.bytes).data_point_count().map_err(unreadable)?,
                _ => 1,
            };
            for to in dests(units[0]).into_iter().flatten() {
                parts.add(to, it.r, g.rg, it.s, sg, it.bytes, items).map_err(unreadable)?;
                counts[to] += items as u64;
            }
        }
        self.record(&counts);
        Ok(parts.finish(payload))
    }

    /// Counts what each destination got (routes by index, then the default).
    fn record(&self, counts: &[u64]) {
        for (i, c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            if let Some(r) = self.routes.get(i) {
                r.routed.increment(*c);
            } else if self.default_targets.is_empty() {
                self.dropped.increment(*c);
            } else {
                self.defaulted.increment(*c);
            }
        }
    }

    async fn route(&self, env: Envelope, downstream: &[Downstream]) {
        let parts = match self.split(&env.payload, env.metadata.as_deref()) {
            Ok(parts) => parts,
            Err(f) => {
                tracing::warn!(message = "A request was not routed.", connector = %self.id, error = %f);
                env.acks.fail(&f);
                return;
            }
        };
        for (dest, payload) in parts {
            let targets = match self.routes.get(dest) {
                Some(r) => &r.targets,
                None => &self.default_targets,
            };
            for &t in targets {
                let d = &downstream[t];
                let part =
                    Envelope { payload: payload.clone(), acks: env.acks.clone(), metadata: env.metadata.clone() };
                if let Err(error) = d.send(part).await {
                    tracing::debug!(message = "A downstream pipeline refused data.", connector = %self.id, pipeline = d.pipeline(), %error);
                }
            }
        }
    }

    fn resolve(&mut self, downstream: &[Downstream]) {
        let index = |name: &String| downstream.iter().position(|d| d.pipeline() == name);
        for r in &mut self.routes {
            r.targets = r.pipelines.iter().filter_map(index).collect();
        }
        self.default_targets = self.default_pipelines.iter().filter_map(index).collect();
    }
}

#[async_trait]
impl Connector for Router {
    fn check_downstream(&self, pipelines: &[&str]) -> Result<(), String> {
        let named = self
            .routes
            .iter()
            .flat_map(|r| r.pipelines.iter().map(|p| (p, "table")))
            .chain(self.default_pipelines.iter().map(|p| (p, "default_pipelines")));
        for (p, key) in named {
            if !pipelines.contains(&p.as_str()) {
                return Err(format!(
                    "pipeline not found: {key} names pipeline {p:?}, which does not list {:?} among its receivers \
                     (pipelines fed: {})",
                    self.id,
                    pipelines.join(", ")
                ));
            }
        }
        Ok(())
    }

    async fn run(mut self: Box<Self>, mut input: mpsc::Receiver<Envelope>, downstream: Vec<Downstream>) {
        self.resolve(&downstream);
        while let Some(env) = input.recv().await {
            self.route(env, &downstream).await;
        }
    }
}

#[cfg(test)]
mod tests;
