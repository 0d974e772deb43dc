//! The `loadbalancing` exporter against real gRPC backends on loopback
//! ([`testdata::grpc::TestServer`]).

use super::*;
use crate::testdata;
use crate::testdata::grpc::TestServer;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tonic::{Code, Status};

fn parse(yaml: &str) -> Result<LoadBalancingConfig, String> {
    weir_core::testing::parse_exporter_config(yaml)
}

/// Spans of `traces` traces (trace id `[t; 16]`), `per_trace` each, over two resources.
fn traces(traces: u8, per_trace: u8) -> Payload {
    let spans = |service: &str, half: u8| ResourceSpans {
        resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
            attributes: vec![testdata::str_kv("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: (0..traces)
                .flat_map(|t| {
                    (0..per_trace).filter(move |s| s % 2 == half).map(move |s| Span {
                        trace_id: vec![t + 1; 16],
                        span_id: vec![s + 1; 8],
                        name: format!("t{t}s{s}"),
                        ..Default::default()
                    })
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let req = ExportTraceServiceRequest { resource_spans: vec![spans("front", 0), spans("back", 1)] };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).unwrap()
}

/// trace id → the servers (by index) that received its spans, and the spans received.
fn received_traces(servers: &[TestServer]) -> (BTreeMap<Vec<u8>, BTreeSet<usize>>, usize) {
    let mut by_trace: BTreeMap<Vec<u8>, BTreeSet<usize>> = BTreeMap::new();
    let mut spans = 0;
    for (i, s) in servers.iter().enumerate() {
        for r in s.received() {
            let req = ExportTraceServiceRequest::decode(r.message).unwrap();
            for span in req.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                by_trace.entry(span.trace_id.clone()).or_default().insert(i);
                spans += 1;
            }
        }
    }
    (by_trace, spans)
}

async fn servers(n: usize) -> Vec<TestServer> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(TestServer::start().await);
    }
    v
}

fn static_config(servers: &[TestServer], extra: &str) -> LoadBalancingConfig {
    let hostnames: Vec<String> = servers.iter().map(|s| format!("      - {}\n", s.addr)).collect();
    parse(&format!(
        "protocol:\n  otlp:\n    compression: none\n    retry_on_failure:\n      initial_interval: 10ms\n      max_interval: 20ms\n\
         resolver:\n  static:\n    hostnames:\n{}{extra}",
        hostnames.concat()
    ))
    .unwrap()
}

fn build(config: &LoadBalancingConfig, signal: Signal) -> Arc<dyn Exporter> {
    let ctx = BuildContext::new(weir_core::ComponentId::parse("loadbalancing").unwrap(), Some(signal));
    LoadBalancingFactory.build(&ctx, config).unwrap()
}

#[tokio::test]
async fn every_trace_goes_whole_to_the_backend_the_ring_names() {
    let servers = servers(3).await;
    let config = static_config(&servers, "");
    let lb = build(&config, Signal::Traces);
    lb.export(traces(40, 6)).await.unwrap();
    let (by_trace, spans) = received_traces(&servers);
    assert_eq!(spans, 240, "every span once");
    assert_eq!(by_trace.len(), 40);
    let mut endpoints: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    endpoints.sort();
    let ring = HashRing::new(&endpoints);
    for (trace, at) in &by_trace {
        assert_eq!(at.len(), 1, "trace {trace:?} went to one backend");
        let i = *at.iter().next().unwrap();
        assert_eq!(ring.endpoint_for(trace), Some(servers[i].addr.to_string().as_str()));
    }
    let used: BTreeSet<usize> = by_trace.values().flatten().copied().collect();
    assert_eq!(used.len(), 3, "40 traces spread over the three backends");
    lb.shutdown().await;
    for s in servers {
        s.stop().await;
    }
}

#[tokio::test]
async fn a_request_of_one_trace_is_forwarded_byte_for_byte() {
    let servers = servers(2).await;
    let lb = build(&static_config(&servers, ""), Signal::Traces);
    let payload = testdata::traces(5);
    lb.export(payload.clone()).await.unwrap();
    let got: Vec<_> = servers.iter().flat_map(|s| s.received()).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].message, payload.bytes());
    lb.shutdown().await;
}

#[tokio::test]
async fn metrics_route_by_service_by_default_and_by_stream_on_request() {
    let by_service = servers(3).await;
    let by_stream = servers(3).await;
    let payload = testdata::metrics(20);
    let lb = build(&static_config(&by_service, ""), Signal::Metrics);
    lb.export(payload.clone()).await.unwrap();
    let whole: Vec<_> = by_service.iter().filter(|s| !s.received().is_empty()).collect();
    assert_eq!(whole.len(), 1, "one service, one backend");
    lb.shutdown().await;

    let servers = by_stream;
    let lb = build(&static_config(&servers, "routing_key: streamID\n"), Signal::Metrics);
    lb.export(payload.clone()).await.unwrap();
    let mut points = 0;
    let mut cpus = BTreeSet::new();
    let mut receivers = 0;
    for s in &servers {
        let r = s.received();
        receivers += usize::from(!r.is_empty());
        for call in r {
            let p = Payload::new(Signal::Metrics, call.message.clone()).unwrap();
            points += p.items();
            let req = ExportMetricsServiceRequest::decode(call.message).unwrap();
            for m in req.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics) {
                if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) = &m.data {
                    assert_eq!(m.unit, "1", "the rest of a split metric is copied");
                    for dp in &g.data_points {
                        assert!(cpus.insert(format!("{:?}", dp.attributes)), "each point once");
                    }
                }
            }
        }
    }
    assert_eq!(points, payload.items());
    assert_eq!(cpus.len(), 20);
    assert!(receivers >= 2, "the gauge's 20 streams were spread");
    lb.shutdown().await;
}

#[tokio::test]
async fn parts_held_by_a_backend_that_leaves_are_routed_again() {
    let servers = servers(2).await;
    let config = static_config(&servers, "");
    let lb = LoadBalancer::new("loadbalancing", Signal::Traces, RoutingKey::TraceId, config, Vec::new());
    lb.start_resolver().unwrap();
    // Backend 1 is down: it refuses every call.
    for _ in 0..10_000 {
        servers[1].fail_next(Status::new(Code::Unavailable, "going away"));
    }
    let export = {
        let lb = lb.clone();
        tokio::spawn(async move { lb.export(traces(30, 2)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!export.is_finished(), "the down backend's part waits in its retries");
    lb.on_backends(vec![servers[0].addr.to_string()]);
    export.await.unwrap().expect("everything delivered once the ring changed");
    let (by_trace, _) = received_traces(&servers[..1]);
    assert_eq!(by_trace.len(), 30, "every trace reached the backend that stayed");
    assert_eq!(lb.backends(), [servers[0].addr.to_string()]);
    lb.shutdown().await;
}

#[tokio::test]
async fn a_backend_failure_fails_the_export() {
    let servers = servers(1).await;
    servers[0].fail_next(Status::new(Code::InvalidArgument, "bad data"));
    let lb = build(&static_config(&servers, ""), Signal::Traces);
    let err = lb.export(traces(3, 1)).await.unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("bad data"), "{}", err.message);
    lb.shutdown().await;
}

#[tokio::test]
async fn service_routing_sends_each_service_to_one_backend() {
    let servers = servers(3).await;
    let lb = build(&static_config(&servers, "routing_key: service\n"), Signal::Traces);
    lb.export(traces(10, 4)).await.unwrap();
    let mut endpoints: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    endpoints.sort();
    let ring = HashRing::new(&endpoints);
    for (i, s) in servers.iter().enumerate() {
        for call in s.received() {
            let req = ExportTraceServiceRequest::decode(call.message).unwrap();
            for rs in req.resource_spans {
                let svc = match &rs.resource.unwrap().attributes[0].value.as_ref().unwrap().value {
                    Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => s.clone(),
                    _ => panic!(),
                };
                assert_eq!(ring.endpoint_for(svc.as_bytes()), Some(servers[i].addr.to_string().as_str()));
            }
        }
    }
    lb.shutdown().await;
}

#[tokio::test]
async fn no_resolved_backend_is_a_retryable_failure() {
    let config =
        parse("resolver:\n  dns:\n    hostname: lb.test\n    nameservers: [\"127.0.0.1:9\"]\n    timeout: 100ms\n")
            .unwrap();
    let lb = build(&config, Signal::Traces);
    let err = lb.export(traces(1, 1)).await.unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.message, "no backend is resolved yet");
    lb.shutdown().await;
}

#[test]
fn defaults_follow_the_collector() {
    let c = parse("resolver:\n  static:\n    hostnames: [a:4317]\n").unwrap();
    assert_eq!(c.routing_key_for(Signal::Traces), Ok(RoutingKey::TraceId));
    assert_eq!(c.routing_key_for(Signal::Logs), Ok(RoutingKey::TraceId));
    assert_eq!(c.routing_key_for(Signal::Metrics), Ok(RoutingKey::Service));
    assert!(!c.retry_on_failure.enabled);
    let d = parse("resolver:\n  dns:\n    hostname: gw\n    port: 4317\n").unwrap().resolver.dns.unwrap();
    assert_eq!((d.port.as_str(), d.interval, d.timeout), ("4317", Duration::from_secs(5), Duration::from_secs(1)));
    let k = parse("resolver:\n  k8s:\n    service: gw.obs\n").unwrap().resolver.k8s.unwrap();
    assert_eq!((k.ports, k.timeout, k.return_hostnames), (vec![4317], Duration::from_secs(1), false));
    let b = c.backend_config("10.0.0.1:4317");
    assert_eq!(b.endpoint, "10.0.0.1:4317");
    assert!(b.sending_queue.wait_for_result, "the exporter waits for its backends");
}

#[test]
fn invalid_settings_name_the_key() {
    let err = |yaml: &str| parse(yaml).unwrap_err();
    assert!(err("routing_key: service\n").contains("no resolvers specified"));
    assert!(err("resolver:\n  static:\n    hostnames: [a]\n  dns:\n    hostname: b\n").contains("only one resolver"));
    assert!(err("resolver:\n  static: {}\n").starts_with("resolver::static::hostnames"));
    assert!(err("resolver:\n  dns:\n    port: 4317\n").starts_with("resolver::dns::hostname"));
    assert!(err("resolver:\n  aws_cloud_map:\n    namespace: x\n").contains("aws_cloud_map is not supported"));
    assert!(err("routing_key: spanID\nresolver:\n  static:\n    hostnames: [a]\n")
        .contains("unsupported routing_key: spanID"));
    assert!(
        err("routing_key: attributes\nresolver:\n  static:\n    hostnames: [a]\n").starts_with("routing_attributes")
    );
    assert!(err(
        "resolver:\n  static:\n    hostnames: [a]\nprotocol:\n  otlp:\n    sending_queue:\n      storage: file_storage\n"
    )
    .starts_with("protocol::otlp::sending_queue::storage"));
    assert!(err("resolver:\n  static:\n    hostnames: [a]\nprotocol:\n  otlp:\n    compression: snappy\n")
        .starts_with("protocol::otlp::compression"));
    assert!(err("resolver:\n  dns:\n    hostname: a\n    nameservers: [localhost]\n").contains("is not ip:port"));
    let c = parse("routing_key: metric\nresolver:\n  static:\n    hostnames: [a]\n").unwrap();
    assert!(c.routing_key_for(Signal::Traces).unwrap_err().contains("does not route traces"));
}
