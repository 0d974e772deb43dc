//! The `k8s` resolver: the ready endpoints of a Kubernetes Service, from its EndpointSlices
//! (`discovery.k8s.io/v1`), listed and then watched through the API server, as the
//! Collector's resolver does with an informer.
//!
//! It runs inside a cluster: the API server is `KUBERNETES_SERVICE_HOST:PORT`, with the pod's
//! service-account token and CA (`/var/run/secrets/kubernetes.io/serviceaccount/`). The
//! account needs `list` and `watch` on `endpointslices` in the Service's namespace.
//!
//! Backends are `address:port` for every ready endpoint (a missing `ready` condition counts
//! as ready, as the API says) and every configured port, sorted; `[address]` for IPv6; the
//! endpoint's `hostname` instead with `return_hostnames`. A watch that ends or fails is
//! followed by a new list.
//!
//! Tested against recorded API responses (list and watch bodies); no API server runs in
//! weir's test environment.

use super::config::K8sResolver;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use tokio_util::sync::CancellationToken;
use weir_core::connect::Connector;

const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// `name[.namespace]` → (name, namespace), namespace `default` when absent.
pub fn parse_service(service: &str) -> (String, String) {
    match service.split_once('.') {
        Some((name, ns)) => (name.to_string(), ns.split('.').next().unwrap_or("default").to_string()),
        None => (service.to_string(), "default".to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct ListMeta {
    #[serde(rename = "resourceVersion", default)]
    resource_version: String,
}

#[derive(Debug, Deserialize)]
struct ObjectMeta {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct SliceList {
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<EndpointSlice>,
}

#[derive(Debug, Deserialize)]
struct EndpointSlice {
    metadata: ObjectMeta,
    #[serde(default)]
    endpoints: Option<Vec<Endpoint>>,
}

#[derive(Debug, Deserialize)]
struct Endpoint {
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    conditions: Conditions,
    #[serde(default)]
    hostname: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Conditions {
    ready: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// The ready hosts of each EndpointSlice of the Service.
#[derive(Debug, Default)]
pub struct Slices {
    by_name: BTreeMap<String, Vec<String>>,
    return_hostnames: bool,
    /// The resource version to watch from.
    pub resource_version: String,
}

impl Slices {
    pub fn new(return_hostnames: bool) -> Slices {
        Slices { return_hostnames, ..Slices::default() }
    }

    fn hosts(&self, slice: &EndpointSlice) -> Vec<String> {
        let mut hosts = Vec::new();
        for e in slice.endpoints.iter().flatten() {
            if e.conditions.ready == Some(false) {
                continue;
            }
            if self.return_hostnames {
                if let Some(h) = &e.hostname {
                    hosts.push(h.clone());
                }
            } else if let Some(a) = e.addresses.first() {
                hosts.push(if a.contains(':') { format!("[{a}]") } else { a.clone() });
            }
        }
        hosts
    }

    /// Replaces everything with a list response's body.
    pub fn apply_list(&mut self, body: &[u8]) -> Result<(), String> {
        let list: SliceList =
            serde_json::from_slice(body).map_err(|e| format!("unreadable EndpointSlice list: {e}"))?;
        self.by_name = list.items.iter().map(|s| (s.metadata.name.clone(), self.hosts(s))).collect();
        self.resource_version = list.metadata.resource_version;
        Ok(())
    }

    /// Applies one line of a watch response. An `ERROR` event (e.g. an expired resource
    /// version) is an error: list again.
    pub fn apply_event(&mut self, line: &[u8]) -> Result<(), String> {
        let ev: WatchEvent = serde_json::from_slice(line).map_err(|e| format!("unreadable watch event: {e}"))?;
        let version = ev.object.pointer("/metadata/resourceVersion").and_then(|v| v.as_str()).map(str::to_string);
        match ev.kind.as_str() {
            "ADDED" | "MODIFIED" | "DELETED" => {
                let slice: EndpointSlice =
                    serde_json::from_value(ev.object).map_err(|e| format!("unreadable EndpointSlice: {e}"))?;
                if ev.kind == "DELETED" {
                    self.by_name.remove(&slice.metadata.name);
                } else {
                    let hosts = self.hosts(&slice);
                    self.by_name.insert(slice.metadata.name, hosts);
                }
            }
            "BOOKMARK" => {}
            _ => return Err(format!("the watch ended with {}: {}", ev.kind, ev.object)),
        }
        if let Some(v) = version {
            self.resource_version = v;
        }
        Ok(())
    }

    /// The backends: every ready host on every port, sorted, without duplicates.
    pub fn backends(&self, ports: &[u16]) -> Vec<String> {
        let mut v: Vec<String> =
            self.by_name.values().flatten().flat_map(|h| ports.iter().map(move |p| format!("{h}:{p}"))).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A client of the cluster's API server, with the pod's service account.
pub struct ApiClient {
    base: String,
    token: String,
    client: Client<Connector, Empty<Bytes>>,
}

impl ApiClient {
    /// The in-cluster client; an error says what is missing.
    pub fn in_cluster() -> Result<ApiClient, String> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
            "resolver::k8s runs inside a Kubernetes cluster: KUBERNETES_SERVICE_HOST is not set".to_string()
        })?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let dir = Path::new(SERVICE_ACCOUNT);
        let token = std::fs::read_to_string(dir.join("token"))
            .map_err(|e| format!("resolver::k8s: cannot read the service account token: {e}"))?;
        let tls = weir_core::tls::TlsClientSettings { ca_file: Some(dir.join("ca.crt")), ..Default::default() };
        let connector = Connector::new(&host, true, Some(&tls), &[weir_core::tls::ALPN_HTTP1])
            .map_err(|e| format!("resolver::k8s: {e}"))?;
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        Ok(ApiClient {
            base: format!("https://{host}:{port}"),
            token: token.trim().to_string(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    async fn get(&self, path: &str) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        let req = http::Request::get(format!("{}{path}", self.base))
            .header(http::header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| format!("the API server: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("the API server answered {} for {path}", resp.status()));
        }
        Ok(resp)
    }
}

fn slices_path(name: &str, namespace: &str) -> String {
    format!("/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{name}")
}

/// Lists and watches the Service's EndpointSlices until `shutdown`, calling `on_change` with
/// every new backend list.
pub async fn run(
    config: K8sResolver,
    client: ApiClient,
    on_change: impl Fn(Vec<String>) + Send,
    shutdown: CancellationToken,
) {
    let (name, namespace) = parse_service(&config.service);
    let path = slices_path(&name, &namespace);
    let mut slices = Slices::new(config.return_hostnames);
    let mut last: Option<Vec<String>> = None;
    let mut emit = |s: &Slices| {
        let b = s.backends(&config.ports);
        if last.as_ref() != Some(&b) {
            last = Some(b.clone());
            on_change(b);
        }
    };
    while !shutdown.is_cancelled() {
        let listed = async {
            let resp = tokio::time::timeout(config.timeout, client.get(&path))
                .await
                .map_err(|_| "listing EndpointSlices timed out".to_string())??;
            let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            slices.apply_list(&body)
        };
        let watched = match listed.await {
            Ok(()) => {
                emit(&slices);
                let watch = format!(
                    "{path}&watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={}",
                    slices.resource_version
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = watch_lines(&client, &watch, &mut slices, &mut emit) => r,
                }
            }
            Err(e) => Err(e),
        };
        if let Err(error) = watched {
            tracing::warn!(message = "Resolving the k8s backends failed; listing again.", %error);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

async fn watch_lines(
    client: &ApiClient,
    path: &str,
    slices: &mut Slices,
    emit: &mut impl FnMut(&Slices),
) -> Result<(), String> {
    let mut body = client.get(path).await?.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the watch broke: {e}"))?;
        let Some(data) = frame.data_ref() else { continue };
        buf.extend_from_slice(data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            slices.apply_event(&line)?;
            emit(slices);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list response as an API server sends it (trimmed of managed fields).
    const LIST: &str = r#"{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1",
      "metadata":{"resourceVersion":"5012"},
      "items":[
        {"metadata":{"name":"gateway-abc12","namespace":"observability","resourceVersion":"5001",
           "labels":{"kubernetes.io/service-name":"gateway"}},
         "addressType":"IPv4",
         "endpoints":[
           {"addresses":["10.244.1.7"],"conditions":{"ready":true,"serving":true,"terminating":false},"hostname":"gateway-0","nodeName":"node-a"},
           {"addresses":["10.244.2.9"],"conditions":{"ready":false,"serving":false,"terminating":true},"hostname":"gateway-1"},
           {"addresses":["10.244.3.4"],"conditions":{},"hostname":"gateway-2"}
         ],
         "ports":[{"name":"otlp","port":4317,"protocol":"TCP"}]},
        {"metadata":{"name":"gateway-v6xyz","resourceVersion":"5002"},"addressType":"IPv6",
         "endpoints":[{"addresses":["fd00::5"],"conditions":{"ready":true}}]}
      ]}"#;

    #[test]
    fn a_list_gives_the_ready_endpoints_on_every_port() {
        let mut s = Slices::new(false);
        s.apply_list(LIST.as_bytes()).unwrap();
        assert_eq!(s.resource_version, "5012");
        assert_eq!(s.backends(&[4317]), ["10.244.1.7:4317", "10.244.3.4:4317", "[fd00::5]:4317"]);
        assert_eq!(s.backends(&[4317, 4318]).len(), 6);
    }

    #[test]
    fn hostnames_replace_addresses_when_asked() {
        let mut s = Slices::new(true);
        s.apply_list(LIST.as_bytes()).unwrap();
        assert_eq!(s.backends(&[4317]), ["gateway-0:4317", "gateway-2:4317"]);
    }

    #[test]
    fn watch_events_add_change_and_remove_endpoints() {
        let mut s = Slices::new(false);
        s.apply_list(LIST.as_bytes()).unwrap();
        // gateway-1 became ready, gateway-0 went away.
        let modified = r#"{"type":"MODIFIED","object":{"metadata":{"name":"gateway-abc12","resourceVersion":"5020"},
            "endpoints":[{"addresses":["10.244.2.9"],"conditions":{"ready":true}},{"addresses":["10.244.3.4"],"conditions":{"ready":true}}]}}"#;
        s.apply_event(modified.as_bytes()).unwrap();
        assert_eq!(s.resource_version, "5020");
        assert_eq!(s.backends(&[4317]), ["10.244.2.9:4317", "10.244.3.4:4317", "[fd00::5]:4317"]);
        let deleted = r#"{"type":"DELETED","object":{"metadata":{"name":"gateway-v6xyz","resourceVersion":"5021"}}}"#;
        s.apply_event(deleted.as_bytes()).unwrap();
        assert_eq!(s.backends(&[4317]), ["10.244.2.9:4317", "10.244.3.4:4317"]);
        let bookmark = r#"{"type":"BOOKMARK","object":{"kind":"EndpointSlice","metadata":{"resourceVersion":"5100"}}}"#;
        s.apply_event(bookmark.as_bytes()).unwrap();
        assert_eq!(s.resource_version, "5100");
        // A slice with no endpoints at all (a scaled-to-zero Service).
        let empty = r#"{"type":"ADDED","object":{"metadata":{"name":"gateway-new","resourceVersion":"5101"},"endpoints":null}}"#;
        s.apply_event(empty.as_bytes()).unwrap();
        assert_eq!(s.backends(&[4317]).len(), 2);
    }

    #[test]
    fn an_expired_watch_asks_for_a_new_list() {
        let mut s = Slices::new(false);
        let gone = r#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 5012 (5400)","reason":"Expired","code":410}}"#;
        let err = s.apply_event(gone.as_bytes()).unwrap_err();
        assert!(err.contains("too old resource version"), "{err}");
    }

    #[test]
    fn service_names_default_to_the_default_namespace() {
        assert_eq!(parse_service("gateway.observability"), ("gateway".into(), "observability".into()));
        assert_eq!(parse_service("gateway"), ("gateway".into(), "default".into()));
        assert_eq!(
            slices_path("gateway", "obs"),
            "/apis/discovery.k8s.io/v1/namespaces/obs/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dgateway"
        );
    }

    #[test]
    fn outside_a_cluster_the_resolver_says_what_is_missing() {
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
            let err = ApiClient::in_cluster().err().unwrap();
            assert!(err.contains("KUBERNETES_SERVICE_HOST"), "{err}");
        }
    }
}
