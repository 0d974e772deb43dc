//! `loadbalancing` exporter settings: the Collector's keys.

use crate::otlp::OtlpConfig;
use serde::{Deserialize, Deserializer};
use std::time::Duration;
use weir_core::auth::AuthSettings;
use weir_core::exporterhelper::{ExporterConfig, QueueConfig, RetryConfig};
use weir_core::{ComponentConfig, Signal};

/// Settings of the `loadbalancing` exporter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadBalancingConfig {
    /// What decides the backend: `traceID` (default for traces and logs), `service` (default
    /// for metrics), `resource`, `metric`, `streamID` (metrics) or `attributes` (traces,
    /// with `routing_attributes`).
    pub routing_key: String,
    /// With `routing_key: attributes`: the attributes whose values make the key, looked up
    /// in the resource, then in the span; `span.name` and `span.kind` name those fields.
    pub routing_attributes: Vec<String>,
    /// How to send to each backend: `otlp`, the `otlp` exporter's settings (its `endpoint`
    /// is ignored: each backend's address replaces it). Each backend gets its own queue,
    /// retries and timeout from these.
    pub protocol: Protocol,
    /// Where the backends come from: exactly one of `static`, `dns`, `k8s`.
    pub resolver: ResolverSettings,
    /// Timeout of one export (routing a request and every backend's delivery of its part);
    /// 0, the default, leaves timing to each backend's own `timeout`.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Retries of an export that failed on a backend still in the ring. Disabled by default,
    /// as in the Collector; enable it (with a queue) so that data a failed backend did not
    /// take is routed again on the next attempt.
    pub retry_on_failure: RetryConfig,
    /// The queue in front of the exporter. weir's default is in memory with
    /// `wait_for_result: true` (acknowledged once the backends have the data); add `storage`
    /// to keep what was acknowledged on disk.
    pub sending_queue: QueueConfig,
}

impl Default for LoadBalancingConfig {
    fn default() -> Self {
        LoadBalancingConfig {
            routing_key: String::new(),
            routing_attributes: Vec::new(),
            protocol: Protocol::default(),
            resolver: ResolverSettings::default(),
            timeout: Duration::ZERO,
            retry_on_failure: RetryConfig { enabled: false, ..RetryConfig::default() },
            sending_queue: QueueConfig { wait_for_result: true, ..QueueConfig::default() },
        }
    }
}

weir_core::exporter_config!(LoadBalancingConfig);

/// `protocol`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocol {
    /// The template of every backend's `otlp` exporter.
    pub otlp: OtlpConfig,
}

/// `resolver`: exactly one.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverSettings {
    /// A fixed list of backends.
    #[serde(rename = "static")]
    pub static_: Option<StaticResolver>,
    /// The addresses a DNS name resolves to, resolved again every `interval`.
    pub dns: Option<DnsResolver>,
    /// The ready endpoints of a Kubernetes Service (EndpointSlices, watched).
    pub k8s: Option<K8sResolver>,
    /// The Collector's AWS Cloud Map resolver: refused (weir has no AWS client).
    pub aws_cloud_map: Option<Present>,
}

/// Any value: the key is there.
#[derive(Debug, Clone, PartialEq)]
pub struct Present;

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Present)
    }
}

/// `resolver::static`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticResolver {
    /// `host[:port]` of each backend (port 4317 when absent). The ring is built from these
    /// strings as written, sorted.
    pub hostnames: Vec<String>,
}

/// `resolver::dns`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsResolver {
    /// The name whose A and AAAA records are the backends. Required.
    pub hostname: String,
    /// The backends' port. Default empty: the ring holds bare addresses and the exporters
    /// send to port 4317, as the Collector's.
    #[serde(deserialize_with = "port_string")]
    pub port: String,
    /// How often the name is resolved again. Default 5s.
    #[serde(with = "weir_core::config::duration")]
    pub interval: Duration,
    /// Timeout of one resolution. Default 1s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// weir's addition: DNS servers (`ip:port`) to ask instead of the system's resolver
    /// (`/etc/hosts`, `/etc/resolv.conf`). Default none: the system's.
    pub nameservers: Vec<String>,
}

impl Default for DnsResolver {
    fn default() -> Self {
        DnsResolver {
            hostname: String::new(),
            port: String::new(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            nameservers: Vec::new(),
        }
    }
}

/// `resolver::k8s`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sResolver {
    /// `name[.namespace]` of the Service (namespace `default` when absent). Required.
    pub service: String,
    /// The ports each ready endpoint is a backend on. Default `[4317]`.
    pub ports: Vec<u16>,
    /// Timeout of the API server's requests. Default 1s.
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Use the endpoints' hostnames (a headless Service of a StatefulSet) instead of their
    /// addresses. Default false.
    pub return_hostnames: bool,
}

impl Default for K8sResolver {
    fn default() -> Self {
        K8sResolver {
            service: String::new(),
            ports: vec![4317],
            timeout: Duration::from_secs(1),
            return_hostnames: false,
        }
    }
}

fn port_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u64),
        Text(String),
    }
    Ok(match Port::deserialize(d)? {
        Port::Number(n) => n.to_string(),
        Port::Text(s) => s,
    })
}

/// What decides a request's backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingKey {
    TraceId,
    Service,
    Resource,
    Metric,
    StreamId,
    Attributes(Vec<String>),
}

impl LoadBalancingConfig {
    /// The routing key for `signal`; an error names `routing_key` and the choices.
    pub fn routing_key_for(&self, signal: Signal) -> Result<RoutingKey, String> {
        let key = match (self.routing_key.as_str(), signal) {
            ("", Signal::Metrics) => RoutingKey::Service,
            ("" | "traceID", Signal::Traces | Signal::Logs) => RoutingKey::TraceId,
            ("service", _) => RoutingKey::Service,
            ("resource", _) => RoutingKey::Resource,
            ("metric", Signal::Metrics) => RoutingKey::Metric,
            ("streamID", Signal::Metrics) => RoutingKey::StreamId,
            ("attributes", Signal::Traces) => RoutingKey::Attributes(self.routing_attributes.clone()),
            (other, _) => {
                let choices = match signal {
                    Signal::Traces => "traceID, service, resource, attributes",
                    Signal::Metrics => "service, resource, metric, streamID",
                    Signal::Logs => "traceID, service, resource",
                };
                return Err(format!("routing_key {other:?} does not route {signal} (choose {choices})"));
            }
        };
        Ok(key)
    }

    /// The `otlp` settings of the backend at `endpoint`.
    pub fn backend_config(&self, endpoint: &str) -> OtlpConfig {
        let mut c = self.protocol.otlp.clone();
        c.endpoint = endpoint.to_string();
        // The exporter waits for its backends: their queue acknowledges once sent.
        c.sending_queue.wait_for_result = true;
        c
    }
}

impl ComponentConfig for LoadBalancingConfig {
    fn validate(&self) -> Result<(), String> {
        let r = &self.resolver;
        if r.aws_cloud_map.is_some() {
            return Err("resolver::aws_cloud_map is not supported by weir; use static, dns or k8s".into());
        }
        let count = usize::from(r.static_.is_some()) + usize::from(r.dns.is_some()) + usize::from(r.k8s.is_some());
        if count == 0 {
            return Err("resolver: no resolvers specified for the exporter (static, dns or k8s)".into());
        }
        if count > 1 {
            return Err("resolver: only one resolver should be specified".into());
        }
        if let Some(s) = &r.static_ {
            if s.hostnames.is_empty() {
                return Err("resolver::static::hostnames: no endpoints specified for the static resolver".into());
            }
        }
        if let Some(d) = &r.dns {
            if d.hostname.is_empty() {
                return Err("resolver::dns::hostname: no hostname specified to resolve the backends".into());
            }
            if !d.port.is_empty() && d.port.parse::<u16>().is_err() {
                return Err(format!("resolver::dns::port: {:?} is not a port", d.port));
            }
            for ns in &d.nameservers {
                ns.parse::<std::net::SocketAddr>()
                    .map_err(|_| format!("resolver::dns::nameservers: {ns:?} is not ip:port"))?;
            }
            if d.interval.is_zero() {
                return Err("resolver::dns::interval must be greater than 0".into());
            }
        }
        if let Some(k) = &r.k8s {
            if k.service.is_empty() {
                return Err("resolver::k8s::service: no service specified to resolve the backends".into());
            }
            if k.ports.is_empty() {
                return Err("resolver::k8s::ports: at least one port".into());
            }
        }
        match self.routing_key.as_str() {
            "" | "traceID" | "service" | "resource" | "metric" | "streamID" => {}
            "attributes" if self.routing_attributes.is_empty() => {
                return Err("routing_attributes: routing_key attributes needs at least one attribute".into())
            }
            "attributes" => {}
            other => {
                return Err(format!(
                "unsupported routing_key: {other} (choose traceID, service, resource, metric, streamID or attributes)"
            ))
            }
        }
        if self.protocol.otlp.sending_queue.storage.is_some() {
            return Err("protocol::otlp::sending_queue::storage: the backends' queues are in memory; \
                        put storage on the loadbalancing exporter's own sending_queue"
                .into());
        }
        self.protocol.otlp.exporter_settings().validate().map_err(|e| format!("protocol::otlp::{e}"))?;
        // The template is a complete otlp config but for its endpoint.
        self.backend_config("backend:4317").validate().map_err(|e| format!("protocol::otlp::{e}"))
    }

    fn authenticators(&self) -> Vec<(&'static str, &AuthSettings)> {
        self.protocol.otlp.auth.iter().map(|a| ("protocol::otlp::auth", a)).collect()
    }
}
