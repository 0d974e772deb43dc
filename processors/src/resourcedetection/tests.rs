//! `resourcedetection`: the `env` parser with upstream's cases (env_test.go), the merge with and
//! without `override`, the cloud detectors against recorded metadata answers served by an
//! in-process HTTP server (the documented shapes of IMDS, the GCE metadata server, Azure IMDS
//! and the ECS task metadata endpoint), off-cloud behaviour, and config checks.

use super::config::Toggle;
use super::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn config(yaml: &str) -> ResourceDetectionConfig {
    weir_core::testing::parse_config(yaml).expect("valid config")
}

fn host(env: &[(&str, &str)]) -> Host {
    Host {
        env: Some(env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        // Nothing listens on port 9 of loopback: off every cloud.
        imds: "http://127.0.0.1:9".into(),
        gcp: "http://127.0.0.1:9".into(),
        azure: "http://127.0.0.1:9".into(),
        docker_socket: "/nonexistent/docker.sock".into(),
        machine_id_paths: vec!["/nonexistent/machine-id".into()],
        beanstalk_conf: "/nonexistent/environment.conf".into(),
    }
}

fn get(attrs: &Attributes, k: &str) -> Option<Value> {
    attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
}

// --- env ------------------------------------------------------------------------------------

#[test]
fn env_parses_pairs_trimmed_and_percent_decoded() {
    let got = detectors::parse_resource_attributes(r#" example.org/test-1 =  test $ %3A \" ,  Abc=Def  "#).unwrap();
    assert_eq!(got, vec![("example.org/test-1".into(), s(r#"test $ : \""#)), ("Abc".into(), s("Def"))]);
    assert_eq!(detectors::parse_resource_attributes("single=key").unwrap(), vec![("single".into(), s("key"))]);
}

#[test]
fn env_rejects_what_upstream_rejects_with_its_messages() {
    let err = |s: &str| detectors::parse_resource_attributes(s).unwrap_err();
    assert_eq!(
        err("invalid=url-%3-encoding"),
        r#"invalid resource format in attribute: "invalid=url-%3-encoding", err: invalid URL escape "%3-""#
    );
    assert_eq!(err("invalid-char-ü=test"), r#"invalid resource format: "invalid-char-ü=test""#);
    assert_eq!(err("invalid-char=ü-test"), r#"invalid resource format: "invalid-char=ü-test""#);
    assert_eq!(err("extra=chars, a"), r#"invalid resource format, invalid text: " a""#);
    assert_eq!(err("invalid=char,übetween=attributes"), r#"invalid resource format, invalid text: "ü""#);
}

#[tokio::test]
async fn env_reads_otel_resource_attributes_then_the_old_variable() {
    let c = Arc::new(config("{detectors: [env]}"));
    let got = detect(c.clone(), Arc::new(host(&[("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=x%20y")]))).await;
    assert_eq!(got, vec![("a".into(), s("1")), ("b".into(), s("x y"))]);
    let got = detect(c, Arc::new(host(&[("OTEL_RESOURCE", "old=yes")]))).await;
    assert_eq!(got, vec![("old".into(), s("yes"))]);
}

// --- merge ----------------------------------------------------------------------------------

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn traces(resource: Vec<KeyValue>) -> Payload {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "op".into(),
                    span_id: vec![1; 8],
                    trace_id: vec![2; 16],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Payload::new(Signal::Traces, req.encode_to_vec().into()).expect("valid")
}

fn merged(m: &Merge, p: &Payload) -> (Vec<(String, any_value::Value)>, Span) {
    let bytes = match m.apply(p) {
        Outcome::Rebuilt(r) => r.bytes().to_vec(),
        _ => p.bytes().to_vec(),
    };
    let req = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("valid OTLP");
    let rs = &req.resource_spans[0];
    let attrs = rs
        .resource
        .as_ref()
        .map(|r| r.attributes.iter().map(|a| (a.key.clone(), a.value.clone().unwrap().value.unwrap())).collect())
        .unwrap_or_default();
    (attrs, rs.scope_spans[0].spans[0].clone())
}

fn sv(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

#[test]
fn override_replaces_existing_attributes_and_adds_new_ones() {
    let m = Merge::compile(vec![("host.name".into(), s("detected")), ("os.type".into(), s("linux"))], true).unwrap();
    let (attrs, span) = merged(&m, &traces(vec![kv("host.name", "mine"), kv("service.name", "svc")]));
    assert!(attrs.contains(&("host.name".into(), sv("detected"))));
    assert!(attrs.contains(&("os.type".into(), sv("linux"))));
    assert!(attrs.contains(&("service.name".into(), sv("svc"))));
    assert_eq!(span.name, "op");
    assert_eq!(span.span_id, vec![1; 8]);
}

#[test]
fn without_override_existing_attributes_are_kept() {
    let m = Merge::compile(vec![("host.name".into(), s("detected")), ("os.type".into(), s("linux"))], false).unwrap();
    let (attrs, _) = merged(&m, &traces(vec![kv("host.name", "mine")]));
    assert!(attrs.contains(&("host.name".into(), sv("mine"))));
    assert!(!attrs.contains(&("host.name".into(), sv("detected"))));
    assert!(attrs.contains(&("os.type".into(), sv("linux"))));
}

#[test]
fn list_and_int_values_are_written_with_their_types() {
    let m = Merge::compile(
        vec![("host.ip".into(), Value::Strs(vec!["10.0.0.1".into(), "fe80::1".into()])), ("n".into(), Value::Int(512))],
        true,
    )
    .unwrap();
    let (attrs, _) = merged(&m, &traces(vec![]));
    let ip = attrs.iter().find(|(k, _)| k == "host.ip").map(|(_, v)| v.clone()).unwrap();
    let any_value::Value::ArrayValue(list) = ip else { panic!("host.ip must be a list, got {ip:?}") };
    let items: Vec<_> = list.values.iter().map(|v| v.value.clone().unwrap()).collect();
    assert_eq!(items, vec![sv("10.0.0.1"), sv("fe80::1")]);
    assert!(attrs.contains(&("n".into(), any_value::Value::IntValue(512))));
}

#[test]
fn nothing_detected_forwards_the_received_bytes() {
    let m = Merge::compile(Vec::new(), true).unwrap();
    assert!(matches!(m.apply(&traces(vec![kv("a", "b")])), Outcome::Unchanged));
}

#[tokio::test]
async fn the_earlier_detector_wins_and_attributes_filters() {
    let c = Arc::new(config("{detectors: [env, heroku], attributes: [service.name, cloud.provider]}"));
    let h = host(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-env,other=x"),
        ("HEROKU_APP_ID", "app-1"),
        ("HEROKU_APP_NAME", "from-heroku"),
    ]);
    let got = detect(c, Arc::new(h)).await;
    assert_eq!(got, vec![("service.name".into(), s("from-env")), ("cloud.provider".into(), s("heroku"))]);
}

// --- recorded cloud answers -----------------------------------------------------------------

/// Serves `routes` (path and query → body; the required header checked) on a free port.
async fn serve(routes: Vec<(&'static str, &'static str)>, header: Option<(&'static str, &'static str)>) -> String {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let routes = routes.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let routes = routes.clone();
                    async move {
                        let pq = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                        let allowed = header.is_none_or(|(k, v)| req.headers().get(k).is_some_and(|h| h == v));
                        let found = routes.iter().find(|(p, _)| *p == pq).map(|(_, b)| *b);
                        let (status, body) = match (allowed, found) {
                            (false, _) => (401, ""),
                            (true, Some(b)) => (200, b),
                            (true, None) => (404, ""),
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

// The example identity document of the EC2 user guide ("Instance identity documents").
const EC2_DOCUMENT: &str = r#"{
    "accountId" : "0123456789",
    "architecture" : "x86_64",
    "availabilityZone" : "us-west-2b",
    "billingProducts" : null,
    "imageId" : "ami-5fb8c835",
    "instanceId" : "i-1234567890abcdef0",
    "instanceType" : "t2.micro",
    "pendingTime" : "2016-11-19T16:32:11Z",
    "privateIp" : "10.158.112.84",
    "region" : "us-west-2",
    "version" : "2017-09-30"
}"#;

#[tokio::test]
async fn ec2_reads_the_identity_document_and_hostname() {
    let base = serve(
        vec![
            ("/latest/meta-data/instance-id", "i-1234567890abcdef0"),
            ("/latest/dynamic/instance-identity/document", EC2_DOCUMENT),
            ("/latest/meta-data/hostname", "ip-10-158-112-84.us-west-2.compute.internal"),
        ],
        None,
    )
    .await;
    let mut h = host(&[]);
    h.imds = base;
    let got = cloud::detect_ec2(&config("{}").ec2, &h).await.unwrap();
    let want = [
        ("cloud.provider", "aws"),
        ("cloud.platform", "aws_ec2"),
        ("cloud.region", "us-west-2"),
        ("cloud.account.id", "0123456789"),
        ("cloud.availability_zone", "us-west-2b"),
        ("host.id", "i-1234567890abcdef0"),
        ("host.image.id", "ami-5fb8c835"),
        ("host.type", "t2.micro"),
        ("host.name", "ip-10-158-112-84.us-west-2.compute.internal"),
    ];
    assert_eq!(got, want.iter().map(|(k, v)| (k.to_string(), s(v))).collect::<Attributes>());
}

#[tokio::test]
async fn ec2_resource_attributes_turn_attributes_off() {
    let base = serve(
        vec![
            ("/latest/meta-data/instance-id", "i-1"),
            ("/latest/dynamic/instance-identity/document", EC2_DOCUMENT),
            ("/latest/meta-data/hostname", "h"),
        ],
        None,
    )
    .await;
    let mut h = host(&[]);
    h.imds = base;
    let c = config("{ec2: {resource_attributes: {host.name: {enabled: false}, host.id: {enabled: false}}}}");
    let got = cloud::detect_ec2(&c.ec2, &h).await.unwrap();
    assert_eq!(get(&got, "host.name"), None);
    assert_eq!(get(&got, "host.id"), None);
    assert_eq!(get(&got, "host.type"), Some(s("t2.micro")));
}

#[tokio::test]
async fn ec2_off_ec2_detects_nothing_unless_fail_on_missing_metadata() {
    let h = host(&[]);
    assert_eq!(cloud::detect_ec2(&config("{}").ec2, &h).await.unwrap(), Vec::new());
    let strict = config("{ec2: {fail_on_missing_metadata: true, max_attempts: 1}}");
    let err = cloud::detect_ec2(&strict.ec2, &h).await.unwrap_err();
    assert!(err.contains("EC2 metadata unavailable"), "{err}");
}

#[tokio::test]
async fn gcp_on_compute_engine_reads_the_metadata_server() {
    let base = serve(
        vec![
            ("/computeMetadata/v1/project/project-id", "my-project"),
            ("/computeMetadata/v1/instance/zone", "projects/1234567/zones/us-central1-a"),
            ("/computeMetadata/v1/instance/machine-type", "projects/1234567/machineTypes/e2-medium"),
            ("/computeMetadata/v1/instance/id", "1234567890123456789"),
            ("/computeMetadata/v1/instance/name", "my-instance"),
            ("/computeMetadata/v1/instance/hostname", "my-instance.us-central1-a.c.my-project.internal"),
            (
                "/computeMetadata/v1/instance/attributes/created-by",
                "projects/1234567/zones/us-central1-a/instanceGroupManagers/my-mig",
            ),
        ],
        Some(("metadata-flavor", "Google")),
    )
    .await;
    let mut h = host(&[]);
    h.gcp = base;
    let got = cloud::detect_gcp(&config("{}").gcp.resource_attributes, &h).await.unwrap();
    for (k, v) in [
        ("cloud.provider", "gcp"),
        ("cloud.platform", "gcp_compute_engine"),
        ("cloud.account.id", "my-project"),
        ("cloud.region", "us-central1"),
        ("cloud.availability_zone", "us-central1-a"),
        ("host.type", "e2-medium"),
        ("host.id", "1234567890123456789"),
        ("host.name", "my-instance"),
        ("gcp.gce.instance_group_manager.name", "my-mig"),
        ("gcp.gce.instance_group_manager.zone", "us-central1-a"),
    ] {
        assert_eq!(get(&got, k), Some(s(v)), "{k}");
    }
    // Off by default in the Collector's metadata.yaml.
    assert_eq!(get(&got, "gcp.gce.instance.hostname"), None);
}

#[tokio::test]
async fn gcp_on_gke_reads_the_cluster() {
    let base = serve(
        vec![
            ("/computeMetadata/v1/project/project-id", "my-project"),
            ("/computeMetadata/v1/instance/attributes/cluster-location", "us-central1-c"),
            ("/computeMetadata/v1/instance/attributes/cluster-name", "my-cluster"),
            ("/computeMetadata/v1/instance/id", "42"),
            ("/computeMetadata/v1/instance/name", "gke-node-1"),
        ],
        Some(("metadata-flavor", "Google")),
    )
    .await;
    let mut h = host(&[("KUBERNETES_SERVICE_HOST", "10.0.0.1")]);
    h.gcp = base;
    let got = cloud::detect_gcp(&config("{}").gcp.resource_attributes, &h).await.unwrap();
    assert_eq!(get(&got, "cloud.platform"), Some(s("gcp_kubernetes_engine")));
    assert_eq!(get(&got, "cloud.availability_zone"), Some(s("us-central1-c")));
    assert_eq!(get(&got, "k8s.cluster.name"), Some(s("my-cluster")));
    assert_eq!(get(&got, "host.id"), Some(s("42")));
}

const AZURE_COMPUTE: &str = r#"{
  "location": "westeurope",
  "name": "examplevmname",
  "resourceGroupName": "macikgo-test-may-23",
  "subscriptionId": "xxxxxxxx-xxxxx-xxxx-xxxx-xxxxxxxxxxxx",
  "tagsList": [{"name": "Department", "value": "IT"}, {"name": "Environment", "value": "Test"}],
  "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
  "vmScaleSetName": "crpteste9vflji9",
  "vmSize": "Standard_A3"
}"#;

#[tokio::test]
async fn azure_reads_the_compute_document_and_matching_tags() {
    let base = serve(
        vec![("/metadata/instance/compute?api-version=2020-09-01&format=json", AZURE_COMPUTE)],
        Some(("metadata", "true")),
    )
    .await;
    let mut h = host(&[]);
    h.azure = base;
    let got = cloud::detect_azure(&config("{azure: {tags: ['^Dep']}}").azure, &h).await.unwrap();
    for (k, v) in [
        ("cloud.provider", "azure"),
        ("cloud.platform", "azure_vm"),
        ("host.name", "examplevmname"),
        ("cloud.region", "westeurope"),
        ("host.id", "02aab8a4-74ef-476e-8182-f6d2ba4166a6"),
        ("cloud.account.id", "xxxxxxxx-xxxxx-xxxx-xxxx-xxxxxxxxxxxx"),
        ("azure.vm.name", "examplevmname"),
        ("azure.vm.size", "Standard_A3"),
        ("azure.vm.scaleset.name", "crpteste9vflji9"),
        ("azure.resourcegroup.name", "macikgo-test-may-23"),
        ("azure.tag.Department", "IT"),
    ] {
        assert_eq!(get(&got, k), Some(s(v)), "{k}");
    }
    assert_eq!(get(&got, "azure.tag.Environment"), None);
}

#[tokio::test]
async fn aks_names_the_cluster_from_the_node_resource_group() {
    assert_eq!(cloud::aks_cluster_name("MC_myResourceGroup_myAKSCluster_eastus"), "myAKSCluster");
    assert_eq!(cloud::aks_cluster_name("plain-group"), "plain-group");
    let body = r#"{"resourceGroupName": "MC_rg_cluster1_eastus"}"#;
    let base = serve(vec![("/metadata/instance/compute?api-version=2020-09-01&format=json", body)], None).await;
    let mut h = host(&[("KUBERNETES_SERVICE_HOST", "10.0.0.1")]);
    h.azure = base;
    let c = config("{aks: {resource_attributes: {k8s.cluster.name: {enabled: true}}}}");
    let got = cloud::detect_aks(&c.aks.resource_attributes, &h).await.unwrap();
    assert_eq!(
        got,
        vec![
            ("cloud.provider".into(), s("azure")),
            ("cloud.platform".into(), s("azure_aks")),
            ("k8s.cluster.name".into(), s("cluster1"))
        ]
    );
}

const ECS_TASK: &str = r#"{
  "Cluster": "my-cluster",
  "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/my-cluster/158d1c8083dd49d6b527399fd6414f5c",
  "Family": "curltest",
  "Revision": "26",
  "AvailabilityZone": "us-west-2d",
  "LaunchType": "FARGATE",
  "Containers": [
    {"DockerId": "self", "Type": "NORMAL", "KnownStatus": "RUNNING", "LogDriver": "awslogs",
     "LogOptions": {"awslogs-group": "/ecs/collector", "awslogs-region": "us-west-2", "awslogs-stream": "ecs/collector/1"}},
    {"DockerId": "app", "Type": "NORMAL", "KnownStatus": "RUNNING", "LogDriver": "awslogs",
     "LogOptions": {"awslogs-group": "/ecs/app", "awslogs-region": "us-west-2", "awslogs-stream": "ecs/app/1"}}
  ]
}"#;

#[tokio::test]
async fn ecs_reads_the_task_metadata_endpoint() {
    let base = serve(vec![("/v4/x/task", ECS_TASK), ("/v4/x", r#"{"DockerId": "self"}"#)], None).await;
    let h = host(&[("ECS_CONTAINER_METADATA_URI_V4", &format!("{base}/v4/x"))]);
    let got = cloud::detect_ecs(&config("{}").ecs.resource_attributes, &h).await.unwrap();
    for (k, v) in [
        ("cloud.provider", "aws"),
        ("cloud.platform", "aws_ecs"),
        ("cloud.account.id", "111122223333"),
        ("cloud.region", "us-west-2"),
        ("cloud.availability_zone", "us-west-2d"),
        ("aws.ecs.cluster.arn", "arn:aws:ecs:us-west-2:111122223333:cluster/my-cluster"),
        ("aws.ecs.task.arn", "arn:aws:ecs:us-west-2:111122223333:task/my-cluster/158d1c8083dd49d6b527399fd6414f5c"),
        ("aws.ecs.task.family", "curltest"),
        ("aws.ecs.task.id", "158d1c8083dd49d6b527399fd6414f5c"),
        ("aws.ecs.task.revision", "26"),
        ("aws.ecs.launchtype", "fargate"),
    ] {
        assert_eq!(get(&got, k), Some(s(v)), "{k}");
    }
    assert_eq!(get(&got, "aws.log.group.names"), Some(Value::Strs(vec!["/ecs/app".into()])));
    assert_eq!(
        get(&got, "aws.log.stream.arns"),
        Some(Value::Strs(vec!["arn:aws:logs:us-west-2:111122223333:log-group:/ecs/app:log-stream:ecs/app/1".into()]))
    );
}

#[tokio::test]
async fn off_cloud_every_cloud_detector_yields_nothing_within_the_timeout() {
    let c = Arc::new(config(
        "{detectors: [ec2, ecs, eks, gcp, azure, aks, lambda, heroku, elastic_beanstalk], timeout: 2s}",
    ));
    let started = std::time::Instant::now();
    let got = detect(c, Arc::new(host(&[]))).await;
    assert_eq!(got, Vec::new());
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn docker_without_a_daemon_yields_nothing_after_the_timeout() {
    let c = Arc::new(config("{detectors: [docker, env], timeout: 1s}"));
    let got = detect(c, Arc::new(host(&[("OTEL_RESOURCE_ATTRIBUTES", "a=b")]))).await;
    assert_eq!(got, vec![("a".into(), s("b"))]);
}

#[tokio::test]
async fn docker_reads_the_engine_info_over_its_socket() {
    use hyper::service::service_fn;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
            assert_eq!(req.uri().path(), "/info");
            // Fields of the Engine API's SystemInfo.
            let body = r#"{"Name": "docker-host-1", "OSType": "linux", "OperatingSystem": "Debian"}"#;
            Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body))))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
            .await;
    });
    let mut h = host(&[]);
    h.docker_socket = path.to_string_lossy().into_owned();
    let got = detectors::detect_docker(&Default::default(), &h).await.unwrap();
    assert_eq!(got, vec![("host.name".into(), s("docker-host-1")), ("os.type".into(), s("linux"))]);
}

// --- system ---------------------------------------------------------------------------------

#[tokio::test]
async fn system_defaults_are_host_name_and_os_type() {
    let c = config("{system: {hostname_sources: [os]}}");
    let got = detectors::detect_system(&c.system, &host(&[])).await.unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    assert_eq!(got, vec![("host.name".into(), s(&hostname)), ("os.type".into(), s("linux"))]);
}

#[tokio::test]
async fn system_reads_the_machine_id_when_host_id_is_enabled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
    let mut h = host(&[]);
    h.machine_id_paths = vec![dir.path().join("missing"), dir.path().join("machine-id")];
    let c = config("{system: {hostname_sources: [os], resource_attributes: {host.id: {enabled: true}, host.arch: {enabled: true}}}}");
    let got = detectors::detect_system(&c.system, &h).await.unwrap();
    assert_eq!(get(&got, "host.id"), Some(s("0123456789abcdef0123456789abcdef")));
    assert_eq!(get(&got, "host.arch"), Some(s(detectors::host_arch())));
}

#[test]
fn os_description_is_name_and_version_then_uname() {
    let u = detectors::Uname {
        sysname: "Linux".into(),
        nodename: "box".into(),
        release: "6.1.0".into(),
        version: "#1 SMP".into(),
        machine: "x86_64".into(),
    };
    let release = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION=\"13 (trixie)\"\n";
    assert_eq!(
        detectors::os_description(Some(release), &u),
        "Debian GNU/Linux 13 (trixie) (Linux box 6.1.0 #1 SMP x86_64)"
    );
    assert_eq!(detectors::os_description(Some("PRETTY_NAME=Only"), &u), "Only (Linux box 6.1.0 #1 SMP x86_64)");
    assert_eq!(detectors::os_description(None, &u), "Linux box 6.1.0 #1 SMP x86_64");
}

#[test]
fn cpuinfo_first_processor_fields() {
    let text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)\nstepping\t: 7\ncache size\t: 36608 KB\n\nprocessor\t: 1\nvendor_id\t: Other\n";
    let c = detectors::parse_cpuinfo(text).unwrap();
    assert_eq!(c.vendor_id, "GenuineIntel");
    assert_eq!(c.family, "6");
    assert_eq!(c.model, "85");
    assert_eq!(c.model_name, "Intel(R) Xeon(R)");
    assert_eq!(c.stepping, 7);
    assert_eq!(c.cache_size, 36608);
}

#[test]
fn fqdn_prefers_the_etc_hosts_line_naming_the_host() {
    let hosts = "127.0.0.1 localhost\n10.0.0.5 box.example.com box # me\n";
    assert_eq!(detectors::fqdn("box", Some(hosts)).unwrap(), "box.example.com");
}

// --- config ---------------------------------------------------------------------------------

#[test]
fn defaults_are_the_collectors() {
    let c = config("{}");
    assert_eq!(c.detectors, vec!["env".to_string()]);
    assert!(c.override_);
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.refresh_interval, Duration::ZERO);
    assert_eq!(c.ec2.max_attempts, 3);
    assert_eq!(c.ec2.max_backoff, Duration::from_secs(20));
    assert_eq!(config::enabled_attributes("system", &c.system.resource_attributes), vec!["host.name", "os.type"]);
    let off = config("{system: {resource_attributes: {os.type: {enabled: false}}}}");
    assert_eq!(off.system.resource_attributes.get("os.type"), Some(&Toggle { enabled: false }));
}

#[test]
fn config_errors_name_the_key() {
    let err = |y: &str| weir_core::testing::parse_config::<ResourceDetectionConfig>(y).unwrap_err();
    assert!(err("{system: {hostname_sources: [invalid_source]}}")
        .contains("hostname_sources contains invalid value: \"invalid_source\""));
    assert!(err("{detectors: [nope]}").contains("invalid detector key: nope"));
    assert!(err("{detectors: [openshift]}").contains("the openshift detector is not supported"));
    assert!(err("{system: {resource_attributes: {host.nope: {enabled: true}}}}")
        .contains("system::resource_attributes has invalid keys: host.nope"));
    assert!(err("{ec2: {tags: ['(']}}").contains("ec2::tags"));
}

#[test]
fn k8snode_without_a_node_name_fails_the_start() {
    let f = ResourceDetectionFactory::with_host(host(&[]));
    let ctx =
        BuildContext::new(weir_core::component::ComponentId::parse("resourcedetection").unwrap(), Some(Signal::Traces));
    let err = f.build(&ctx, &config("{detectors: [k8snode]}")).err().expect("refused");
    assert!(err.to_string().contains("nodeName can't be empty"), "{err}");
    let f = ResourceDetectionFactory::with_host(host(&[("K8S_NODE_NAME", "node-1")]));
    let ok = config("{detectors: [k8snode], k8snode: {resource_attributes: {k8s.node.uid: {enabled: false}}}}");
    assert!(f.build(&ctx, &ok).is_ok());
}

#[tokio::test]
async fn refresh_interval_picks_up_changed_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environment.conf");
    std::fs::write(&file, r#"{"deployment_id": 1, "environment_name": "prod", "version_label": "v1"}"#).unwrap();
    let mut h = host(&[]);
    h.beanstalk_conf = file.clone();
    let f = ResourceDetectionFactory::with_host(h);
    let c = config("{detectors: [elastic_beanstalk], refresh_interval: 100ms}");
    let provider = f.provider("resourcedetection", &c);
    let mut rx = provider.subscribe().await;
    assert_eq!(get(&rx.borrow().attributes, "service.version"), Some(s("v1")));
    std::fs::write(&file, r#"{"deployment_id": 2, "environment_name": "prod", "version_label": "v2"}"#).unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.expect("refreshed").unwrap();
    assert_eq!(get(&rx.borrow().attributes, "service.version"), Some(s("v2")));
    assert_eq!(get(&rx.borrow().attributes, "service.instance.id"), Some(s("2")));
}

#[tokio::test]
async fn system_optional_ip_mac_and_cpu_attributes() {
    let c = config(
        "{system: {hostname_sources: [os], resource_attributes: {host.ip: {enabled: true}, host.mac: {enabled: true}, \
         host.cpu.model.name: {enabled: true}, host.cpu.cache.l2.size: {enabled: true}}}}",
    );
    let got = detectors::detect_system(&c.system, &host(&[])).await.unwrap();
    let Some(Value::Strs(ips)) = get(&got, "host.ip") else { panic!("host.ip is a list: {got:?}") };
    assert!(!ips.iter().any(|ip| ip == "127.0.0.1" || ip == "::1"), "loopback is left out: {ips:?}");
    let Some(Value::Strs(macs)) = get(&got, "host.mac") else { panic!("host.mac is a list: {got:?}") };
    for mac in &macs {
        assert_eq!(mac.len(), 17, "{mac}");
        assert!(mac.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()), "IEEE RA form: {mac}");
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).trim()));
    if let Some(model) = model {
        assert_eq!(get(&got, "host.cpu.model.name"), Some(s(model)));
    }
    assert!(matches!(get(&got, "host.cpu.cache.l2.size"), Some(Value::Int(_))));
}
