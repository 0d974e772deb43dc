//! Synthetic OTLP telemetry modelled on a live-streaming platform.
//!
//! Every trace is rooted by an HTTP `SERVER` span of `api-gateway` and has 2–12 children:
//! gRPC/HTTP calls between services (a `CLIENT` span in the caller plus a `SERVER` span in
//! the callee), Redis and database `CLIENT` spans, Kafka `PRODUCER` spans and `INTERNAL`
//! spans. A request groups its spans by resource (one per service pod) and instrumentation
//! scope, like the output of an OpenTelemetry Collector batch. Logs are derived from the same
//! traces (one record per span, tied to its trace and span ids); metrics are gauges, sums and
//! histograms per pod.
//!
//! Generation is fully deterministic for a seed, except for the base timestamp (`now`).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::catalog::{self, Rpc, ScopeKind, ServiceDef, ROUTES, SERVICES};

/// Which OTLP signal to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Signal {
    /// Spans (`ExportTraceServiceRequest`); one item = one span.
    Traces,
    /// Log records (`ExportLogsServiceRequest`); one item = one log record.
    Logs,
    /// Metrics (`ExportMetricsServiceRequest`); one item = one data point.
    Metrics,
}

impl Signal {
    /// Lower-case name as used on the command line and in OTLP/HTTP paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// What one item of the signal is, in the plural.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
            Signal::Metrics => "data points",
        }
    }
}

/// Knobs of the generator.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Fraction of traces that fail (status ERROR + exception event).
    pub error_rate: f64,
    /// Fraction of traces that are 10× slower than usual.
    pub slow_rate: f64,
    /// Number of distinct services (clamped to at least 1; beyond the catalog, services are
    /// cloned with a numeric suffix).
    pub services: usize,
    /// RNG seed.
    pub seed: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { error_rate: 0.01, slow_rate: 0.01, services: 8, seed: 42 }
    }
}

/// What a generated request contains.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Items: spans, log records or metric data points.
    pub items: u64,
    /// Traces the items belong to (0 for metrics).
    pub traces: u64,
    /// Traces made to fail.
    pub error_traces: u64,
    /// Traces made slow.
    pub slow_traces: u64,
}

impl Meta {
    /// Add another request's counters to this one.
    pub fn add(&mut self, other: &Meta) {
        self.items += other.items;
        self.traces += other.traces;
        self.error_traces += other.error_traces;
        self.slow_traces += other.slow_traces;
    }
}

/// One generated export request of any signal.
#[derive(Debug, Clone)]
pub enum ExportRequest {
    /// Trace export.
    Traces(ExportTraceServiceRequest),
    /// Logs export.
    Logs(ExportLogsServiceRequest),
    /// Metrics export.
    Metrics(ExportMetricsServiceRequest),
}

/// Current time in nanoseconds since the Unix epoch.
pub fn now_unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn kv_str(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

/// Set `key` to `value`, replacing an existing attribute of that key.
fn set_attr(attrs: &mut Vec<KeyValue>, new: KeyValue) {
    match attrs.iter_mut().find(|a| a.key == new.key) {
        Some(existing) => *existing = new,
        None => attrs.push(new),
    }
}

fn has_attr(attrs: &[KeyValue], key: &str) -> bool {
    attrs.iter().any(|a| a.key == key)
}

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "StreamHub/8.12.0 (Android 14; Pixel 8)",
    "StreamHub/8.11.2 (iOS 17.5; iPhone15,2)",
    "okhttp/4.12.0",
];

/// A service enabled for this run.
struct Svc {
    def: &'static ServiceDef,
    name: String,
    /// Indices into `Generator::instances`.
    pods: Vec<usize>,
}

/// A running pod of a service: its resource.
struct Instance {
    svc: usize,
    ip: String,
    resource: Resource,
    /// Process start, for cumulative metrics (ns before the generator's base time).
    uptime_ns: u64,
}

/// A span under construction. Times are offsets from the trace start until finalized.
struct Draft {
    inst: usize,
    scope: ScopeKind,
    parent: Option<usize>,
    span: Span,
}

/// A generated trace before it is split into resource groups.
struct Trace {
    drafts: Vec<Draft>,
    error: bool,
    slow: bool,
    /// Index of the span where the failure originated (error traces only).
    victim: Option<usize>,
    room: u64,
    user: u64,
}

/// Deterministic generator of OTLP export requests.
pub struct Generator {
    rng: StdRng,
    cfg: GenConfig,
    svcs: Vec<Svc>,
    instances: Vec<Instance>,
    /// Timestamps are generated to end before this instant (ns since the epoch).
    base_ns: u64,
    route_weight_total: u32,
}

impl Generator {
    /// Create a generator whose data ends "now".
    pub fn new(cfg: GenConfig) -> Self {
        Self::with_base_time(cfg, now_unix_nanos())
    }

    /// Create a generator whose data ends at `base_ns`.
    pub fn with_base_time(cfg: GenConfig, base_ns: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let n = cfg.services.max(1);
        let mut svcs = Vec::with_capacity(n);
        let mut instances = Vec::new();
        for i in 0..n {
            let (def, name) = if i < SERVICES.len() {
                (&SERVICES[i], SERVICES[i].name.to_string())
            } else {
                // Clone a backend service (never the gateway) with a numeric suffix.
                let def = &SERVICES[1 + (i - 1) % (SERVICES.len() - 1)];
                (def, format!("{}-{}", def.name, i / (SERVICES.len() - 1)))
            };
            let pods = if i == 0 { 4 } else { 3 };
            let mut pod_ids = Vec::with_capacity(pods);
            let rs: String = (0..10).map(|_| random_alnum(&mut rng)).collect();
            for _ in 0..pods {
                let suffix: String = (0..5).map(|_| random_alnum(&mut rng)).collect();
                let pod = format!("{name}-{}-{suffix}", &rs[..9]);
                let node = format!("ip-10-12-{}-{}.ec2.internal", rng.random_range(0..64), rng.random_range(2..250));
                let ip = format!("10.42.{}.{}", rng.random_range(0..255), rng.random_range(2..250));
                let uid = random_uuid(&mut rng);
                let attrs = vec![
                    kv_str("service.name", name.clone()),
                    kv_str("service.namespace", "live"),
                    kv_str("service.version", def.version),
                    kv_str("service.instance.id", uid),
                    kv_str("deployment.environment.name", "production"),
                    kv_str("host.name", node.clone()),
                    kv_str("k8s.namespace.name", "live"),
                    kv_str("k8s.deployment.name", name.clone()),
                    kv_str("k8s.pod.name", pod),
                    kv_str("k8s.node.name", node),
                    kv_str("cloud.region", "ap-southeast-1"),
                    kv_str("telemetry.sdk.name", "opentelemetry"),
                    kv_str("telemetry.sdk.language", def.lang.sdk_language()),
                    kv_str("telemetry.sdk.version", def.lang.sdk_version()),
                ];
                pod_ids.push(instances.len());
                instances.push(Instance {
                    svc: i,
                    ip,
                    resource: Resource { attributes: attrs, ..Default::default() },
                    uptime_ns: rng.random_range(3_600u64..259_200) * 1_000_000_000,
                });
            }
            svcs.push(Svc { def, name, pods: pod_ids });
        }
        let route_weight_total = ROUTES.iter().map(|r| r.2).sum();
        Generator { rng, cfg, svcs, instances, base_ns, route_weight_total }
    }

    /// The instant all generated telemetry ends before (ns since the epoch).
    pub fn base_ns(&self) -> u64 {
        self.base_ns
    }

    /// Generate one export request of `signal` with exactly `items` items.
    pub fn request(&mut self, signal: Signal, items: usize) -> (ExportRequest, Meta) {
        match signal {
            Signal::Traces => {
                let (r, m) = self.traces_request(items);
                (ExportRequest::Traces(r), m)
            }
            Signal::Logs => {
                let (r, m) = self.logs_request(items);
                (ExportRequest::Logs(r), m)
            }
            Signal::Metrics => {
                let (r, m) = self.metrics_request(items);
                (ExportRequest::Metrics(r), m)
            }
        }
    }

    /// A trace export request with exactly `items` spans, made of whole traces (the last
    /// trace of a request may be shortened to fit).
    pub fn traces_request(&mut self, items: usize) -> (ExportTraceServiceRequest, Meta) {
        let mut groups: BTreeMap<(usize, ScopeKind), Vec<Span>> = BTreeMap::new();
        let mut meta = Meta::default();
        while (meta.items as usize) < items {
            let trace = self.trace(items - meta.items as usize);
            meta.items += trace.drafts.len() as u64;
            self.count_trace(&trace, &mut meta);
            for d in trace.drafts {
                groups.entry((d.inst, d.scope)).or_default().push(d.span);
            }
        }
        let mut resource_spans: Vec<ResourceSpans> = Vec::new();
        for ((inst, scope), spans) in groups {
            let scope_spans = ScopeSpans { scope: Some(self.scope(inst, scope)), spans, ..Default::default() };
            match resource_spans.last_mut() {
                Some(rs) if self.same_resource(rs.resource.as_ref(), inst) => rs.scope_spans.push(scope_spans),
                _ => resource_spans.push(ResourceSpans {
                    resource: Some(self.instances[inst].resource.clone()),
                    scope_spans: vec![scope_spans],
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
                }),
            }
        }
        (ExportTraceServiceRequest { resource_spans }, meta)
    }

    /// A logs export request with exactly `items` log records, one per span of generated
    /// traces, carrying their trace and span ids.
    pub fn logs_request(&mut self, items: usize) -> (ExportLogsServiceRequest, Meta) {
        let mut groups: BTreeMap<usize, Vec<LogRecord>> = BTreeMap::new();
        let mut meta = Meta::default();
        while (meta.items as usize) < items {
            let trace = self.trace(items - meta.items as usize);
            meta.items += trace.drafts.len() as u64;
            self.count_trace(&trace, &mut meta);
            for (i, d) in trace.drafts.iter().enumerate() {
                let record = self.log_for(&trace, i, d);
                groups.entry(d.inst).or_default().push(record);
            }
        }
        let resource_logs = groups
            .into_iter()
            .map(|(inst, log_records)| ResourceLogs {
                resource: Some(self.instances[inst].resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(self.scope(inst, ScopeKind::Log)),
                    log_records,
                    ..Default::default()
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
            })
            .collect();
        (ExportLogsServiceRequest { resource_logs }, meta)
    }

    /// A metrics export request with exactly `items` data points spread over gauges, sums and
    /// histograms of random pods.
    pub fn metrics_request(&mut self, items: usize) -> (ExportMetricsServiceRequest, Meta) {
        let mut groups: BTreeMap<(usize, ScopeKind), Vec<Metric>> = BTreeMap::new();
        let mut count = 0usize;
        while count < items {
            let inst = self.rng.random_range(0..self.instances.len());
            let max_points = (items - count).min(self.rng.random_range(1..=4));
            let (scope, metric, points) = self.metric(inst, max_points);
            count += points;
            groups.entry((inst, scope)).or_default().push(metric);
        }
        let mut resource_metrics: Vec<ResourceMetrics> = Vec::new();
        for ((inst, scope), metrics) in groups {
            let sm = ScopeMetrics { scope: Some(self.scope(inst, scope)), metrics, ..Default::default() };
            match resource_metrics.last_mut() {
                Some(rm) if self.same_resource(rm.resource.as_ref(), inst) => rm.scope_metrics.push(sm),
                _ => resource_metrics.push(ResourceMetrics {
                    resource: Some(self.instances[inst].resource.clone()),
                    scope_metrics: vec![sm],
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
                }),
            }
        }
        (ExportMetricsServiceRequest { resource_metrics }, Meta { items: count as u64, ..Default::default() })
    }

    fn same_resource(&self, resource: Option<&Resource>, inst: usize) -> bool {
        resource.is_some_and(|r| r.attributes == self.instances[inst].resource.attributes)
    }

    fn count_trace(&self, trace: &Trace, meta: &mut Meta) {
        meta.traces += 1;
        meta.error_traces += u64::from(trace.error);
        meta.slow_traces += u64::from(trace.slow);
    }

    fn scope(&self, inst: usize, kind: ScopeKind) -> InstrumentationScope {
        let lang = self.svcs[self.instances[inst].svc].def.lang;
        let (name, version) = lang.scope(kind);
        InstrumentationScope { name: name.to_string(), version: version.to_string(), ..Default::default() }
    }

    fn pod_of(&mut self, svc: usize) -> usize {
        let pods = &self.svcs[svc].pods;
        pods[self.rng.random_range(0..pods.len())]
    }

    fn span_id(&mut self) -> Vec<u8> {
        loop {
            let id: u64 = self.rng.random();
            if id != 0 {
                return id.to_be_bytes().to_vec();
            }
        }
    }

    /// A random window inside `[start, end]`: begins in the first half, lasts `share` of the
    /// remainder.
    fn window(&mut self, start: u64, end: u64, share: (f64, f64)) -> (u64, u64) {
        let len = end.saturating_sub(start) as f64;
        let s = start + (len * self.rng.random_range(0.02..0.5)) as u64;
        let rest = end.saturating_sub(s) as f64;
        let d = ((rest * self.rng.random_range(share.0..share.1)) as u64).max(1_000);
        (s, (s + d).min(end.max(s + 1)))
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        trace: &mut Trace,
        trace_id: &[u8],
        inst: usize,
        scope: ScopeKind,
        parent: Option<usize>,
        name: String,
        kind: span::SpanKind,
        (start, end): (u64, u64),
        attributes: Vec<KeyValue>,
    ) -> usize {
        let parent_span_id = parent.map(|p| trace.drafts[p].span.span_id.clone()).unwrap_or_default();
        // W3C sampled flag, plus "parent is remote" known (bit 8) and set (bit 9) for SERVER spans.
        let flags = match (parent, kind) {
            (None, _) => 0x101,
            (Some(_), span::SpanKind::Server) => 0x301,
            _ => 0x101,
        };
        let span = Span {
            trace_id: trace_id.to_vec(),
            span_id: self.span_id(),
            parent_span_id,
            flags,
            name,
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            ..Default::default()
        };
        trace.drafts.push(Draft { inst, scope, parent, span });
        trace.drafts.len() - 1
    }

    /// Generate one trace of at most `max_spans` spans (normally 3–13).
    fn trace(&mut self, max_spans: usize) -> Trace {
        // Always draw both rolls so the rates do not shift the rest of the random stream.
        let (error_roll, slow_roll): (f64, f64) = (self.rng.random(), self.rng.random());
        let error = error_roll < self.cfg.error_rate;
        let slow = slow_roll < self.cfg.slow_rate;
        let children = self.rng.random_range(2..=12usize).min(max_spans.saturating_sub(1));
        let mut trace_id = [0u8; 16];
        self.rng.fill(&mut trace_id[..]);
        trace_id[0] |= 1; // never all-zero
        let room = self.rng.random_range(100_000u64..9_999_999);
        let user = self.rng.random_range(10_000_000u64..99_999_999);
        let mut trace = Trace { drafts: Vec::with_capacity(children + 1), error, slow, victim: None, room, user };

        // Root: the public HTTP route on the gateway.
        let mut pick = self.rng.random_range(0..self.route_weight_total);
        let route = *ROUTES
            .iter()
            .find(|r| {
                if pick < r.2 {
                    true
                } else {
                    pick -= r.2;
                    false
                }
            })
            .unwrap_or(&ROUTES[0]);
        let (method, template, _, primary) = route;
        let mut dur_ms = self.rng.random_range(4.0..60.0);
        if self.rng.random_bool(0.05) {
            dur_ms *= 4.0; // natural long tail
        }
        let root_end = (dur_ms * 1e6) as u64;
        let gw = self.pod_of(0);
        let path = catalog::fill(template, room, user);
        let status = if !error && self.rng.random_bool(0.02) { 404 } else { 200 };
        let mut attrs = vec![
            kv_str("http.request.method", method),
            kv_str("http.route", template),
            kv_str("url.path", path),
            kv_str("url.scheme", "https"),
            kv_str("server.address", "api.streamhub.live"),
            kv_int("http.response.status_code", status),
            kv_str("network.protocol.version", "2"),
            kv_int("http.response.body.size", self.rng.random_range(120..48_000)),
            kv_str(
                "client.address",
                format!(
                    "{}.{}.{}.{}",
                    self.rng.random_range(1..224),
                    self.rng.random_range(0..255),
                    self.rng.random_range(0..255),
                    self.rng.random_range(1..255)
                ),
            ),
            kv_str("user.id", user.to_string()),
        ];
        if template.contains("{room_id}") {
            attrs.push(kv_str("room.id", room.to_string()));
        }
        if self.rng.random_bool(0.3) {
            attrs.push(kv_str("user_agent.original", *USER_AGENTS.choose(&mut self.rng).unwrap_or(&USER_AGENTS[0])));
        }
        let name = format!("{method} {template}");
        self.push(&mut trace, &trace_id, gw, ScopeKind::Http, None, name, span::SpanKind::Server, (0, root_end), attrs);

        // Spans that can originate calls: the root and every SERVER span.
        let mut contexts = vec![0usize];
        let primary_svc = self.svcs.iter().position(|s| s.name == primary);
        let mut first = true;
        while trace.drafts.len() < children + 1 {
            let remaining = children + 1 - trace.drafts.len();
            let ctx = if first || self.rng.random_bool(0.6) {
                *contexts.last().unwrap_or(&0)
            } else {
                contexts[self.rng.random_range(0..contexts.len())]
            };
            let svc = self.instances[trace.drafts[ctx].inst].svc;
            let def = self.svcs[svc].def;
            let targets: Vec<usize> = (1..self.svcs.len()).filter(|&t| t != svc).collect();
            if first {
                first = false;
                if remaining >= 2 {
                    if let Some(t) = primary_svc.filter(|&t| t != 0).or_else(|| targets.first().copied()) {
                        let server = self.rpc(&mut trace, &trace_id, ctx, t);
                        contexts.push(server);
                        continue;
                    }
                }
            }
            // Weighted choice of the next action among the applicable ones.
            let rpc_w = if remaining >= 2 && !targets.is_empty() { 30 } else { 0 };
            let db_w = if def.db.is_some() { 20 } else { 0 };
            let msg_w = if def.topic.is_some() { 6 } else { 0 };
            let (redis_w, internal_w) = (24, 12);
            let mut roll = self.rng.random_range(0..rpc_w + db_w + msg_w + redis_w + internal_w);
            if roll < rpc_w {
                let t = targets[self.rng.random_range(0..targets.len())];
                let server = self.rpc(&mut trace, &trace_id, ctx, t);
                contexts.push(server);
                continue;
            }
            roll -= rpc_w;
            if roll < db_w {
                self.db(&mut trace, &trace_id, ctx);
                continue;
            }
            roll -= db_w;
            if roll < msg_w {
                self.messaging(&mut trace, &trace_id, ctx);
                continue;
            }
            roll -= msg_w;
            if roll < redis_w {
                self.redis(&mut trace, &trace_id, ctx);
            } else {
                self.internal(&mut trace, &trace_id, ctx);
            }
        }

        if error {
            self.fail(&mut trace);
        }
        let scale = if slow { 10 } else { 1 };
        let total = root_end * scale;
        let trace_start = self.base_ns.saturating_sub(total + self.rng.random_range(1_000_000..3_000_000_000));
        for d in &mut trace.drafts {
            d.span.start_time_unix_nano = trace_start + d.span.start_time_unix_nano * scale;
            d.span.end_time_unix_nano = trace_start + d.span.end_time_unix_nano * scale;
            for e in &mut d.span.events {
                e.time_unix_nano = trace_start + e.time_unix_nano * scale;
            }
        }
        trace
    }

    fn times(&self, trace: &Trace, idx: usize) -> (u64, u64) {
        let s = &trace.drafts[idx].span;
        (s.start_time_unix_nano, s.end_time_unix_nano)
    }

    /// A call from the service of span `ctx` to service `target`: CLIENT + SERVER span.
    /// Returns the index of the SERVER span.
    fn rpc(&mut self, trace: &mut Trace, trace_id: &[u8], ctx: usize, target: usize) -> usize {
        let (cs, ce) = self.times(trace, ctx);
        let (s, e) = self.window(cs, ce, (0.3, 0.9));
        let net = ((e - s) / 50).max(50_000).min((e - s) / 4);
        let caller = trace.drafts[ctx].inst;
        let callee = self.pod_of(target);
        let def = self.svcs[target].def;
        let host = format!("{}.live.svc.cluster.local", self.svcs[target].name);
        let op = *def.ops.choose(&mut self.rng).unwrap_or(&"Call");
        let (room, user) = (trace.room, trace.user);
        let peer_ip = self.instances[caller].ip.clone();
        let peer_service = self.svcs[target].name.clone();
        let (client_name, mut client_attrs, server_name, mut server_attrs, scope) = match def.rpc {
            Rpc::Grpc(service) => {
                let name = format!("{service}/{op}");
                let common = [kv_str("rpc.system", "grpc"), kv_str("rpc.service", service), kv_str("rpc.method", op)];
                let mut client = common.to_vec();
                client.extend([
                    kv_str("server.address", host),
                    kv_int("server.port", def.port),
                    kv_int("rpc.grpc.status_code", 0),
                ]);
                let mut server = common.to_vec();
                server.extend([kv_int("rpc.grpc.status_code", 0), kv_str("network.peer.address", peer_ip)]);
                (name.clone(), client, name, server, ScopeKind::Rpc)
            }
            Rpc::Http => {
                let (method, route) = op.split_once(' ').unwrap_or(("GET", op));
                let path = catalog::fill(route, room, user);
                let client = vec![
                    kv_str("http.request.method", method),
                    kv_str("url.full", format!("http://{host}:{}{path}", def.port)),
                    kv_str("server.address", host),
                    kv_int("server.port", def.port),
                    kv_int("http.response.status_code", 200),
                ];
                let server = vec![
                    kv_str("http.request.method", method),
                    kv_str("http.route", route),
                    kv_str("url.path", path),
                    kv_str("url.scheme", "http"),
                    kv_int("http.response.status_code", 200),
                    kv_str("network.peer.address", peer_ip),
                ];
                (method.to_string(), client, format!("{method} {route}"), server, ScopeKind::Http)
            }
        };
        client_attrs.push(kv_str("peer.service", peer_service));
        server_attrs.push(kv_str("user.id", user.to_string()));
        if self.rng.random_bool(0.7) {
            server_attrs.push(kv_str("room.id", room.to_string()));
        }
        let client = self.push(
            trace,
            trace_id,
            caller,
            scope,
            Some(ctx),
            client_name,
            span::SpanKind::Client,
            (s, e),
            client_attrs,
        );
        self.push(
            trace,
            trace_id,
            callee,
            scope,
            Some(client),
            server_name,
            span::SpanKind::Server,
            (s + net, e - net),
            server_attrs,
        )
    }

    fn redis(&mut self, trace: &mut Trace, trace_id: &[u8], ctx: usize) {
        let (cs, ce) = self.times(trace, ctx);
        let window = self.window(cs, ce, (0.02, 0.15));
        let inst = trace.drafts[ctx].inst;
        let def = self.svcs[self.instances[inst].svc].def;
        let cmd = catalog::fill(def.redis.choose(&mut self.rng).unwrap_or(&"GET key"), trace.room, trace.user);
        let op = cmd.split(' ').next().unwrap_or("GET").to_string();
        let attrs = vec![
            kv_str("db.system", "redis"),
            kv_str("db.operation.name", op.clone()),
            kv_str("db.query.text", cmd),
            kv_str("db.namespace", "0"),
            kv_str("server.address", "redis-master.cache.svc.cluster.local"),
            kv_str("peer.service", "redis"),
            kv_int("server.port", 6379),
        ];
        self.push(trace, trace_id, inst, ScopeKind::Redis, Some(ctx), op, span::SpanKind::Client, window, attrs);
    }

    fn db(&mut self, trace: &mut Trace, trace_id: &[u8], ctx: usize) {
        let inst = trace.drafts[ctx].inst;
        let Some(db) = self.svcs[self.instances[inst].svc].def.db else {
            return self.internal(trace, trace_id, ctx);
        };
        let (cs, ce) = self.times(trace, ctx);
        let window = self.window(cs, ce, (0.1, 0.6));
        let (op, coll, text) = *db.queries.choose(&mut self.rng).unwrap_or(&("SELECT", "t", "SELECT 1"));
        let attrs = vec![
            kv_str("db.system", db.system),
            kv_str("db.namespace", db.namespace),
            kv_str("db.collection.name", coll),
            kv_str("db.operation.name", op),
            kv_str("db.query.text", text),
            kv_str("server.address", db.host),
            kv_str("peer.service", db.system),
            kv_int("server.port", db.port),
        ];
        let name = format!("{op} {}.{coll}", db.namespace);
        self.push(trace, trace_id, inst, ScopeKind::Db, Some(ctx), name, span::SpanKind::Client, window, attrs);
    }

    fn messaging(&mut self, trace: &mut Trace, trace_id: &[u8], ctx: usize) {
        let inst = trace.drafts[ctx].inst;
        let Some(topic) = self.svcs[self.instances[inst].svc].def.topic else {
            return self.internal(trace, trace_id, ctx);
        };
        let (cs, ce) = self.times(trace, ctx);
        let window = self.window(cs, ce, (0.05, 0.3));
        let attrs = vec![
            kv_str("messaging.system", "kafka"),
            kv_str("messaging.destination.name", topic),
            kv_str("messaging.operation.type", "send"),
            kv_str("messaging.operation.name", "send"),
            kv_str("messaging.kafka.message.key", trace.room.to_string()),
            kv_str("messaging.destination.partition.id", self.rng.random_range(0..12).to_string()),
            kv_str("server.address", "kafka-0.kafka.svc.cluster.local"),
            kv_str("peer.service", "kafka"),
        ];
        let name = format!("send {topic}");
        self.push(
            trace,
            trace_id,
            inst,
            ScopeKind::Messaging,
            Some(ctx),
            name,
            span::SpanKind::Producer,
            window,
            attrs,
        );
    }

    fn internal(&mut self, trace: &mut Trace, trace_id: &[u8], ctx: usize) {
        let (cs, ce) = self.times(trace, ctx);
        let window = self.window(cs, ce, (0.05, 0.4));
        let inst = trace.drafts[ctx].inst;
        let def = self.svcs[self.instances[inst].svc].def;
        let name = def.internal.choose(&mut self.rng).unwrap_or(&"handle").to_string();
        let attrs = vec![kv_str("code.function.name", name.clone()), kv_str("room.id", trace.room.to_string())];
        self.push(trace, trace_id, inst, ScopeKind::App, Some(ctx), name, span::SpanKind::Internal, window, attrs);
    }

    /// Make a trace fail: a random leaf span throws (ERROR status + exception event) and the
    /// error propagates to every ancestor up to the root.
    fn fail(&mut self, trace: &mut Trace) {
        let n = trace.drafts.len();
        let leaves: Vec<usize> = (1..n).filter(|&i| !trace.drafts.iter().any(|d| d.parent == Some(i))).collect();
        let victim = leaves.choose(&mut self.rng).copied().unwrap_or(0);
        trace.victim = Some(victim);
        let d = &trace.drafts[victim];
        let lang = self.svcs[self.instances[d.inst].svc].def.lang;
        let service = self.svcs[self.instances[d.inst].svc].name.clone();
        let (ty, msg) = *catalog::exceptions(d.scope, lang).choose(&mut self.rng).unwrap_or(&("Error", "failed"));
        let stack = catalog::stacktrace(lang, &service, ty, msg);
        let (s, e) = (d.span.start_time_unix_nano, d.span.end_time_unix_nano);
        let event = span::Event {
            time_unix_nano: e - (e - s) / 20,
            name: "exception".to_string(),
            attributes: vec![
                kv_str("exception.type", ty),
                kv_str("exception.message", msg),
                kv_str("exception.stacktrace", stack),
            ],
            ..Default::default()
        };
        trace.drafts[victim].span.events.push(event);
        let mut cur = Some(victim);
        while let Some(i) = cur {
            let span = &mut trace.drafts[i].span;
            let server = span.kind == span::SpanKind::Server as i32;
            let message = if i == victim { format!("{ty}: {msg}") } else { String::new() };
            span.status = Some(Status { code: status::StatusCode::Error as i32, message });
            if has_attr(&span.attributes, "http.response.status_code") {
                let code = if server && i != 0 { 503 } else { 500 };
                set_attr(&mut span.attributes, kv_int("http.response.status_code", code));
                set_attr(&mut span.attributes, kv_str("error.type", code.to_string()));
            } else if has_attr(&span.attributes, "rpc.grpc.status_code") {
                let code = if i == victim { 13 } else { 14 };
                set_attr(&mut span.attributes, kv_int("rpc.grpc.status_code", code));
                set_attr(
                    &mut span.attributes,
                    kv_str("error.type", if code == 13 { "INTERNAL" } else { "UNAVAILABLE" }),
                );
            } else {
                set_attr(&mut span.attributes, kv_str("error.type", ty));
            }
            cur = trace.drafts[i].parent;
        }
    }

    /// The log record emitted for span `idx` of `trace`.
    fn log_for(&mut self, trace: &Trace, idx: usize, d: &Draft) -> LogRecord {
        let span = &d.span;
        let (s, e) = (span.start_time_unix_nano, span.end_time_unix_nano);
        let ms = (e - s) as f64 / 1e6;
        let server = span.kind == span::SpanKind::Server as i32;
        let mut attrs = Vec::new();
        let (severity, body) = if trace.victim == Some(idx) {
            let ev = span.events.first().map(|ev| ev.attributes.clone()).unwrap_or_default();
            let msg = ev
                .iter()
                .find(|a| a.key == "exception.message")
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            attrs.extend(ev);
            (SeverityNumber::Error, format!("{} failed: {msg}", span.name))
        } else if idx == 0 && trace.error {
            (SeverityNumber::Error, format!("{} -> 500 in {ms:.1}ms", span.name))
        } else if idx == 0 && trace.slow {
            (SeverityNumber::Warn, format!("slow request: {} took {ms:.1}ms (threshold 500ms)", span.name))
        } else {
            match d.scope {
                ScopeKind::Http | ScopeKind::Rpc if server => {
                    (SeverityNumber::Info, format!("{} completed in {ms:.1}ms", span.name))
                }
                ScopeKind::Http | ScopeKind::Rpc => {
                    (SeverityNumber::Debug, format!("calling {} ({ms:.1}ms)", span.name))
                }
                ScopeKind::Redis => (SeverityNumber::Debug, format!("redis {} ok in {:.0}us", span.name, ms * 1000.0)),
                ScopeKind::Db => (
                    SeverityNumber::Debug,
                    format!("query {} returned {} rows in {ms:.1}ms", span.name, self.rng.random_range(0..50)),
                ),
                ScopeKind::Messaging => (SeverityNumber::Info, format!("produced message: {}", span.name)),
                ScopeKind::App | ScopeKind::Log => (SeverityNumber::Debug, format!("{} done", span.name)),
            }
        };
        attrs.push(kv_str("room.id", trace.room.to_string()));
        let (text, number) = match severity {
            SeverityNumber::Error => ("ERROR", severity),
            SeverityNumber::Warn => ("WARN", severity),
            SeverityNumber::Info => ("INFO", severity),
            _ => ("DEBUG", SeverityNumber::Debug),
        };
        let time = s + (e - s) / 2;
        LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: time + self.rng.random_range(100_000..5_000_000),
            severity_number: number as i32,
            severity_text: text.to_string(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(body)) }),
            attributes: attrs,
            flags: 1,
            trace_id: span.trace_id.clone(),
            span_id: span.span_id.clone(),
            ..Default::default()
        }
    }

    /// One metric of pod `inst` with 1..=`max_points` data points.
    /// Returns its scope, the metric and its number of data points.
    fn metric(&mut self, inst: usize, max_points: usize) -> (ScopeKind, Metric, usize) {
        let svc = &self.svcs[self.instances[inst].svc];
        let def = svc.def;
        let svc_idx = self.instances[inst].svc;
        let base = self.base_ns;
        let time = base - self.rng.random_range(0..10_000_000_000u64);
        let start = base - self.instances[inst].uptime_ns;
        let n = max_points.max(1);
        let choice = self.rng.random_range(0..7);
        let number =
            |attributes: Vec<KeyValue>, value: number_data_point::Value, start_time_unix_nano: u64| NumberDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano: time,
                value: Some(value),
                ..Default::default()
            };
        match choice {
            0 => {
                // Request-duration histogram, HTTP or gRPC flavoured.
                let grpc = matches!(def.rpc, Rpc::Grpc(_)) && svc_idx != 0;
                let (name, unit, bounds): (&str, &str, &[f64]) = if grpc {
                    (
                        "rpc.server.duration",
                        "ms",
                        &[0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0, 2500.0],
                    )
                } else {
                    (
                        "http.server.request.duration",
                        "s",
                        &[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0],
                    )
                };
                let mut points = Vec::with_capacity(n);
                for i in 0..n {
                    let attributes = if grpc {
                        let Rpc::Grpc(service) = def.rpc else { unreachable!() };
                        let op = def.ops[i % def.ops.len()];
                        vec![
                            kv_str("rpc.system", "grpc"),
                            kv_str("rpc.service", service),
                            kv_str("rpc.method", op),
                            kv_int("rpc.grpc.status_code", if i == 3 { 14 } else { 0 }),
                        ]
                    } else if svc_idx == 0 {
                        let r = ROUTES[(i * 3 + self.rng.random_range(0..3)) % ROUTES.len()];
                        vec![
                            kv_str("http.request.method", r.0),
                            kv_str("http.route", r.1),
                            kv_int("http.response.status_code", 200),
                        ]
                    } else {
                        let op = def.ops.get(i % def.ops.len().max(1)).copied().unwrap_or("GET /");
                        let (m, r) = op.split_once(' ').unwrap_or(("GET", op));
                        vec![
                            kv_str("http.request.method", m),
                            kv_str("http.route", r),
                            kv_int("http.response.status_code", 200),
                        ]
                    };
                    let mut bucket_counts: Vec<u64> = (0..=bounds.len())
                        .map(|b| {
                            let peak = 3.0 - (b as f64 - 3.0).abs();
                            (peak.max(0.0) * self.rng.random_range(100.0..5000.0)) as u64 + self.rng.random_range(0..20)
                        })
                        .collect();
                    bucket_counts[bounds.len()] = self.rng.random_range(0..5);
                    let count: u64 = bucket_counts.iter().sum();
                    let mean = if grpc { 18.0 } else { 0.021 };
                    points.push(HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        count,
                        sum: Some(count as f64 * mean * self.rng.random_range(0.7..1.4)),
                        bucket_counts,
                        explicit_bounds: bounds.to_vec(),
                        min: Some(mean / 20.0),
                        max: Some(mean * self.rng.random_range(20.0..200.0)),
                        ..Default::default()
                    });
                }
                let data = metric::Data::Histogram(Histogram {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                });
                let scope = if grpc { ScopeKind::Rpc } else { ScopeKind::Http };
                (
                    scope,
                    Metric {
                        name: name.to_string(),
                        description: "Duration of inbound requests.".to_string(),
                        unit: unit.to_string(),
                        data: Some(data),
                        ..Default::default()
                    },
                    n,
                )
            }
            1 => {
                let modes = ["user", "system", "iowait", "idle"];
                let n = n.min(modes.len());
                let points = (0..n)
                    .map(|i| {
                        number(
                            vec![kv_str("cpu.mode", modes[i])],
                            number_data_point::Value::AsDouble(self.rng.random_range(0.0..0.6)),
                            0,
                        )
                    })
                    .collect();
                let data = metric::Data::Gauge(Gauge { data_points: points });
                (ScopeKind::App, Metric { name: "process.cpu.utilization".into(), description: "Difference in process.cpu.time since the last measurement, divided by the elapsed time and number of CPUs available to the process.".into(), unit: "1".into(), data: Some(data), ..Default::default() }, n)
            }
            2 => {
                let points = vec![number(
                    vec![],
                    number_data_point::Value::AsInt(self.rng.random_range(200_000_000..2_000_000_000)),
                    0,
                )];
                let data = metric::Data::Gauge(Gauge { data_points: points });
                (
                    ScopeKind::App,
                    Metric {
                        name: "process.memory.usage".into(),
                        description: "The amount of physical memory in use.".into(),
                        unit: "By".into(),
                        data: Some(data),
                        ..Default::default()
                    },
                    1,
                )
            }
            3 => {
                let states = ["idle", "used"];
                let n = n.min(2);
                let pool = format!("{}-pool", svc.name);
                let points = (0..n)
                    .map(|i| {
                        number(
                            vec![
                                kv_str("db.client.connection.pool.name", pool.clone()),
                                kv_str("db.client.connection.state", states[i]),
                            ],
                            number_data_point::Value::AsInt(self.rng.random_range(0..40)),
                            start,
                        )
                    })
                    .collect();
                let data = metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: false,
                });
                (
                    ScopeKind::Db,
                    Metric {
                        name: "db.client.connection.count".into(),
                        description:
                            "The number of connections that are currently in state described by the state attribute."
                                .into(),
                        unit: "{connection}".into(),
                        data: Some(data),
                        ..Default::default()
                    },
                    n,
                )
            }
            4 => {
                let points = (0..n)
                    .map(|_| {
                        let room = self.rng.random_range(100_000u64..9_999_999);
                        number(
                            vec![kv_str("room.id", room.to_string())],
                            number_data_point::Value::AsInt(self.rng.random_range(0..50_000)),
                            0,
                        )
                    })
                    .collect();
                let data = metric::Data::Gauge(Gauge { data_points: points });
                (
                    ScopeKind::App,
                    Metric {
                        name: "live.room.viewers".into(),
                        description: "Current viewers of a live room.".into(),
                        unit: "{viewer}".into(),
                        data: Some(data),
                        ..Default::default()
                    },
                    n,
                )
            }
            5 => {
                let points = (0..n)
                    .map(|_| {
                        let room = self.rng.random_range(100_000u64..9_999_999);
                        number(
                            vec![kv_str("room.id", room.to_string())],
                            number_data_point::Value::AsInt(self.rng.random_range(1_000..5_000_000)),
                            start,
                        )
                    })
                    .collect();
                let data = metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                });
                (
                    ScopeKind::App,
                    Metric {
                        name: "live.chat.messages".into(),
                        description: "Chat messages accepted.".into(),
                        unit: "{message}".into(),
                        data: Some(data),
                        ..Default::default()
                    },
                    n,
                )
            }
            _ => {
                let topics = ["chat.messages", "room.events", "gift.events", "stream.events"];
                let n = n.min(topics.len());
                let points = (0..n)
                    .map(|i| {
                        number(
                            vec![kv_str("messaging.system", "kafka"), kv_str("messaging.destination.name", topics[i])],
                            number_data_point::Value::AsInt(self.rng.random_range(1_000..90_000_000)),
                            start,
                        )
                    })
                    .collect();
                let data = metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                });
                (
                    ScopeKind::Messaging,
                    Metric {
                        name: "messaging.client.sent.messages".into(),
                        description: "Number of messages producer attempted to send to the broker.".into(),
                        unit: "{message}".into(),
                        data: Some(data),
                        ..Default::default()
                    },
                    n,
                )
            }
        }
    }
}

fn random_alnum(rng: &mut StdRng) -> char {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    CHARS[rng.random_range(0..CHARS.len())] as char
}

fn random_uuid(rng: &mut StdRng) -> String {
    let v: u128 = rng.random();
    let h = format!("{v:032x}");
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn gen(error_rate: f64, slow_rate: f64, seed: u64) -> Generator {
        Generator::with_base_time(GenConfig { error_rate, slow_rate, services: 8, seed }, 1_760_000_000_000_000_000)
    }

    fn spans(req: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
        req.resource_spans.iter().flat_map(|rs| rs.scope_spans.iter()).flat_map(|ss| ss.spans.iter())
    }

    #[test]
    fn trace_request_has_exact_items_and_decodes() {
        let mut g = gen(0.05, 0.05, 1);
        let (req, meta) = g.traces_request(512);
        assert_eq!(meta.items, 512);
        assert_eq!(spans(&req).count(), 512);
        let bytes = req.encode_to_vec();
        let back = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(back, req);
        for rs in &req.resource_spans {
            let attrs = &rs.resource.as_ref().expect("resource").attributes;
            for key in ["service.name", "service.version", "host.name", "k8s.pod.name"] {
                assert!(has_attr(attrs, key), "missing {key}");
            }
        }
    }

    #[test]
    fn traces_are_well_formed() {
        let mut g = gen(0.2, 0.2, 7);
        let (req, meta) = g.traces_request(4096);
        let all: Vec<&Span> = spans(&req).collect();
        let mut by_trace: BTreeMap<Vec<u8>, Vec<&Span>> = BTreeMap::new();
        for s in &all {
            assert_eq!(s.trace_id.len(), 16);
            assert_eq!(s.span_id.len(), 8);
            assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
            assert!(s.end_time_unix_nano <= 1_760_000_000_000_000_000);
            by_trace.entry(s.trace_id.clone()).or_default().push(s);
        }
        assert_eq!(by_trace.len() as u64, meta.traces);
        let mut sizes = Vec::new();
        for spans in by_trace.values() {
            let roots: Vec<_> = spans.iter().filter(|s| s.parent_span_id.is_empty()).collect();
            assert_eq!(roots.len(), 1, "one root per trace");
            assert_eq!(roots[0].kind, span::SpanKind::Server as i32);
            for s in spans.iter().filter(|s| !s.parent_span_id.is_empty()) {
                let parent = spans.iter().find(|p| p.span_id == s.parent_span_id).expect("parent in trace");
                assert!(s.start_time_unix_nano >= parent.start_time_unix_nano);
                assert!(s.end_time_unix_nano <= parent.end_time_unix_nano);
            }
            sizes.push(spans.len());
        }
        // All but the last (possibly truncated) trace have 3..=13 spans.
        let full = sizes.iter().filter(|&&n| (3..=13).contains(&n)).count();
        assert!(full + 1 >= sizes.len());
        assert!(sizes.iter().any(|&n| n >= 10) && sizes.iter().any(|&n| n <= 5));
    }

    #[test]
    fn average_span_size_is_realistic() {
        let mut g = gen(0.01, 0.01, 42);
        let mut bytes = 0usize;
        let mut items = 0u64;
        for _ in 0..8 {
            let (req, meta) = g.traces_request(512);
            bytes += req.encoded_len();
            items += meta.items;
        }
        let avg = bytes as f64 / items as f64;
        eprintln!("average encoded span size: {avg:.1} bytes");
        assert!((300.0..=450.0).contains(&avg), "average span size {avg:.1} bytes");
    }

    #[test]
    fn error_and_slow_rates_are_honoured() {
        let mut g = gen(0.05, 0.02, 42);
        let mut meta = Meta::default();
        for _ in 0..40 {
            meta.add(&g.traces_request(1000).1);
        }
        let err = meta.error_traces as f64 / meta.traces as f64;
        let slow = meta.slow_traces as f64 / meta.traces as f64;
        assert!((0.04..=0.06).contains(&err), "error rate {err}");
        assert!((0.013..=0.027).contains(&slow), "slow rate {slow}");
        // Error traces are visible in the data: an ERROR root plus an exception event.
        let mut g = gen(1.0, 0.0, 3);
        let (req, meta) = g.traces_request(300);
        let roots: Vec<&Span> = spans(&req).filter(|s| s.parent_span_id.is_empty()).collect();
        assert_eq!(roots.len() as u64, meta.traces);
        assert!(roots.iter().all(|s| s.status.as_ref().is_some_and(|st| st.code == status::StatusCode::Error as i32)));
        let events = spans(&req).filter(|s| s.events.iter().any(|e| e.name == "exception")).count();
        assert_eq!(events as u64, meta.traces);
        let mut g = gen(0.0, 0.0, 3);
        let (req, meta) = g.traces_request(300);
        assert_eq!(meta.error_traces, 0);
        assert!(spans(&req).all(|s| s.status.is_none()));
    }

    #[test]
    fn slow_traces_are_ten_times_longer() {
        let dur = |slow: f64| {
            let mut g = gen(0.0, slow, 9);
            let (req, _) = g.traces_request(5000);
            let roots: Vec<u64> = spans(&req)
                .filter(|s| s.parent_span_id.is_empty())
                .map(|s| s.end_time_unix_nano - s.start_time_unix_nano)
                .collect();
            roots.iter().sum::<u64>() as f64 / roots.len() as f64
        };
        let ratio = dur(1.0) / dur(0.0);
        assert!((ratio - 10.0).abs() < 1e-6, "ratio {ratio}");
    }

    #[test]
    fn generation_is_deterministic_for_a_seed() {
        let a = gen(0.1, 0.1, 5).traces_request(200).0;
        let b = gen(0.1, 0.1, 5).traces_request(200).0;
        let c = gen(0.1, 0.1, 6).traces_request(200).0;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn logs_are_tied_to_spans() {
        let mut g = gen(0.1, 0.1, 11);
        let (req, meta) = g.logs_request(777);
        let records: Vec<&LogRecord> =
            req.resource_logs.iter().flat_map(|r| r.scope_logs.iter()).flat_map(|s| s.log_records.iter()).collect();
        assert_eq!(records.len(), 777);
        assert_eq!(meta.items, 777);
        assert!(records.iter().all(|r| r.trace_id.len() == 16 && r.span_id.len() == 8 && r.body.is_some()));
        assert!(records.iter().any(|r| r.severity_number == SeverityNumber::Error as i32));
        let back = ExportLogsServiceRequest::decode(req.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(back, req);
    }

    #[test]
    fn metrics_have_exact_data_points() {
        let mut g = gen(0.0, 0.0, 13);
        let (req, meta) = g.metrics_request(333);
        let mut points = 0;
        let mut kinds = std::collections::BTreeSet::new();
        for m in req.resource_metrics.iter().flat_map(|r| r.scope_metrics.iter()).flat_map(|s| s.metrics.iter()) {
            points += match m.data.as_ref().expect("data") {
                metric::Data::Gauge(g) => {
                    kinds.insert("gauge");
                    g.data_points.len()
                }
                metric::Data::Sum(s) => {
                    kinds.insert("sum");
                    s.data_points.len()
                }
                metric::Data::Histogram(h) => {
                    kinds.insert("histogram");
                    for p in &h.data_points {
                        assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
                        assert_eq!(p.count, p.bucket_counts.iter().sum::<u64>());
                    }
                    h.data_points.len()
                }
                _ => unreachable!(),
            };
        }
        assert_eq!(points, 333);
        assert_eq!(meta.items, 333);
        assert_eq!(kinds.len(), 3);
        let back = ExportMetricsServiceRequest::decode(req.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(back, req);
    }

    #[test]
    fn many_services_are_supported() {
        let mut g =
            Generator::with_base_time(GenConfig { services: 40, ..Default::default() }, 1_760_000_000_000_000_000);
        let (req, _) = g.traces_request(4000);
        let names: std::collections::BTreeSet<String> = req
            .resource_spans
            .iter()
            .filter_map(|r| r.resource.as_ref())
            .flat_map(|r| r.attributes.iter())
            .filter(|a| a.key == "service.name")
            .filter_map(|a| match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .collect();
        assert!(names.len() > 20, "{} services seen", names.len());
    }
}
