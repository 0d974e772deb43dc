//! The cloud detectors: each asks its platform's metadata service (or reads the environment
//! its platform sets) and, off that platform, contributes nothing without failing — as the
//! Collector's do (`ec2`, `azure`, `aks`, `gcp` log at debug level; `ecs`, `eks`, `lambda`
//! check environment variables first). The addresses are [`Host`]'s so unit tests point them
//! at recorded answers.

use super::config::{AzureConfig, Ec2Config, K8sNodeConfig, ResourceAttributes};
use super::detectors::Builder;
use super::http;
use super::{Attributes, Host};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// ec2

/// `ec2`: the instance metadata service (IMDSv2 with a session token, IMDSv1 when the token
/// request is refused): the identity document and the hostname.
pub(crate) async fn detect_ec2(c: &Ec2Config, host: &Host) -> Result<Attributes, String> {
    let base = host.var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| host.imds.clone());
    let base = base.trim_end_matches('/');
    let disabled = host.var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let imds = Imds { base, token: None, attempts: c.max_attempts.max(1), max_backoff: c.max_backoff };
    let imds = if disabled { Err("AWS_EC2_METADATA_DISABLED is true".to_string()) } else { imds.with_token().await };
    let instance_id = match &imds {
        Ok(imds) => imds.get("/latest/meta-data/instance-id").await,
        Err(e) => Err(e.clone()),
    };
    let (Ok(imds), Ok(_)) = (&imds, instance_id) else {
        let error = imds.err().unwrap_or_else(|| "no instance id".into());
        tracing::debug!(message = "EC2 metadata unavailable", %error);
        if c.fail_on_missing_metadata {
            return Err(format!("EC2 metadata unavailable: {error}"));
        }
        return Ok(Vec::new());
    };
    let doc = imds
        .get("/latest/dynamic/instance-identity/document")
        .await
        .map_err(|e| format!("failed getting identity document: {e}"))?;
    let doc: serde_json::Value =
        serde_json::from_str(&doc).map_err(|e| format!("failed getting identity document: {e}"))?;
    let hostname = imds.get("/latest/meta-data/hostname").await.map_err(|e| format!("failed getting hostname: {e}"))?;
    let field = |k: &str| doc[k].as_str().unwrap_or_default().to_string();
    let mut b = Builder::new("ec2", &c.resource_attributes);
    b.str("cloud.provider", "aws");
    b.str("cloud.platform", "aws_ec2");
    b.str("cloud.region", field("region"));
    b.str("cloud.account.id", field("accountId"));
    b.str("cloud.availability_zone", field("availabilityZone"));
    b.str("host.id", field("instanceId"));
    b.str("host.image.id", field("imageId"));
    b.str("host.type", field("instanceType"));
    b.str("host.name", hostname.trim());
    Ok(b.out)
}

struct Imds<'a> {
    base: &'a str,
    token: Option<String>,
    attempts: u32,
    max_backoff: Duration,
}

impl Imds<'_> {
    /// Gets an IMDSv2 session token; a refusal (IMDSv1 only) leaves the client without one, no
    /// answer at all is an error.
    async fn with_token(mut self) -> Result<Self, String> {
        let url = format!("{}/latest/api/token", self.base);
        let res = http::request("PUT", &url, &[("x-aws-ec2-metadata-token-ttl-seconds", "21600")]).await?;
        if res.status == 200 {
            self.token = Some(String::from_utf8_lossy(&res.body).trim().to_string());
        }
        Ok(self)
    }

    async fn get(&self, path: &str) -> Result<String, String> {
        let url = format!("{}{path}", self.base);
        let mut headers = Vec::new();
        if let Some(t) = &self.token {
            headers.push(("x-aws-ec2-metadata-token", t.as_str()));
        }
        let mut wait = Duration::from_millis(100);
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(self.max_backoff);
            }
            match http::request("GET", &url, &headers).await {
                Ok(r) if r.status == 200 => return Ok(String::from_utf8_lossy(&r.body).into_owned()),
                // Not found is an answer; retrying will not change it.
                Ok(r) if r.status == 404 => return Err(format!("{path}: HTTP 404")),
                Ok(r) => last = format!("{path}: HTTP {}", r.status),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

// ---------------------------------------------------------------------------------------------
// ecs

/// `ecs`: the task metadata endpoint (`ECS_CONTAINER_METADATA_URI_V4`, else `_URI`); outside
/// ECS (neither variable set) nothing.
pub(crate) async fn detect_ecs(overrides: &ResourceAttributes, host: &Host) -> Result<Attributes, String> {
    let Some(base) = host
        .var("ECS_CONTAINER_METADATA_URI_V4")
        .or_else(|| host.var("ECS_CONTAINER_METADATA_URI"))
        .filter(|b| !b.is_empty())
    else {
        return Ok(Vec::new());
    };
    let base = base.trim_end_matches('/');
    let get = |url: String| async move {
        let body = http::request("GET", &url, &[]).await?.ok(&url)?;
        serde_json::from_slice::<serde_json::Value>(&body).map_err(|e| format!("{url}: {e}"))
    };
    let task = get(format!("{base}/task")).await.map_err(|e| format!("unable to fetch task metadata: {e}"))?;
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut b = Builder::new("ecs", overrides);
    b.str("cloud.provider", "aws");
    b.str("cloud.platform", "aws_ecs");
    let task_arn = s(&task, "TaskARN");
    b.str("aws.ecs.task.arn", task_arn.clone());
    b.str("aws.ecs.task.family", s(&task, "Family"));
    b.str("aws.ecs.task.revision", s(&task, "Revision"));
    let (region, account, task_id) = parse_task_arn(&task_arn);
    if !account.is_empty() {
        b.str("cloud.account.id", account.clone());
    }
    if !region.is_empty() {
        b.str("cloud.region", region.clone());
    }
    if !task_id.is_empty() {
        b.str("aws.ecs.task.id", task_id);
    }
    let cluster = s(&task, "Cluster");
    b.str(
        "aws.ecs.cluster.arn",
        if cluster.contains(':') { cluster } else { format!("arn:aws:ecs:{region}:{account}:cluster/{cluster}") },
    );
    let az = s(&task, "AvailabilityZone");
    if !az.is_empty() {
        b.str("cloud.availability_zone", az);
    }
    match s(&task, "LaunchType").to_lowercase().as_str() {
        "ec2" => b.str("aws.ecs.launchtype", "ec2"),
        "fargate" => b.str("aws.ecs.launchtype", "fargate"),
        _ => {}
    }
    let me = get(base.to_string()).await?;
    let mut logs: [Vec<String>; 4] = Default::default();
    for c in task["Containers"].as_array().into_iter().flatten() {
        let o = &c["LogOptions"];
        let (group, region, stream) = (s(o, "awslogs-group"), s(o, "awslogs-region"), s(o, "awslogs-stream"));
        let has_options = !(group.is_empty() && region.is_empty() && stream.is_empty());
        if s(c, "Type") == "NORMAL"
            && s(c, "KnownStatus") == "RUNNING"
            && s(c, "LogDriver") == "awslogs"
            && s(c, "DockerId") != s(&me, "DockerId")
            && has_options
        {
            let group_arn = format!("arn:aws:logs:{region}:{account}:log-group:{group}");
            logs[1].push(group_arn.clone());
            logs[3].push(format!("{group_arn}:log-stream:{stream}"));
            logs[0].push(group);
            logs[2].push(stream);
        }
    }
    if !logs[0].is_empty() {
        let [gn, ga, sn, sa] = logs;
        b.strs("aws.log.group.names", gn);
        b.strs("aws.log.group.arns", ga);
        b.strs("aws.log.stream.names", sn);
        b.strs("aws.log.stream.arns", sa);
    }
    Ok(b.out)
}

/// Region, account and task id of `arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`.
pub(crate) fn parse_task_arn(arn: &str) -> (String, String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() >= 6 {
        let id = parts[5].rsplit('/').next().unwrap_or_default();
        return (parts[3].to_string(), parts[4].to_string(), id.to_string());
    }
    (String::new(), String::new(), String::new())
}

// ---------------------------------------------------------------------------------------------
// eks, k8snode

/// `eks`: off Kubernetes (no `KUBERNETES_SERVICE_HOST`) nothing, as in the Collector. On
/// Kubernetes the Collector reads the `aws-auth` ConfigMap; weir has no Kubernetes API client,
/// so the detector fails there (logged; it contributes nothing).
pub(crate) fn detect_eks(host: &Host) -> Result<Attributes, String> {
    if host.var("KUBERNETES_SERVICE_HOST").is_none_or(|h| h.is_empty()) {
        tracing::debug!(message = "Unable to identify EKS environment");
        return Ok(Vec::new());
    }
    Err("eks: weir cannot read the aws-auth ConfigMap (it has no Kubernetes API client); use the env detector \
         with OTEL_RESOURCE_ATTRIBUTES=cloud.provider=aws,cloud.platform=aws_eks instead"
        .into())
}

/// Checks `k8snode` when the processor is built, as the Collector creates its detector:
/// without a node name the start fails. weir reads `k8s.node.name` from the variable and
/// cannot read `k8s.node.uid` (no Kubernetes API client): that attribute must be disabled.
pub(crate) fn check_k8snode(c: &K8sNodeConfig, host: &Host) -> Result<(), String> {
    let var = if c.node_from_env_var.is_empty() { "K8S_NODE_NAME" } else { &c.node_from_env_var };
    if host.var(var).is_none_or(|v| v.is_empty()) {
        return Err(format!("failed creating k8snode detector: nodeName can't be empty (set {var})"));
    }
    let b = Builder::new("k8snode", &c.resource_attributes);
    if b.enabled("k8s.node.uid") {
        return Err("k8snode: weir cannot read the Node's uid (it has no Kubernetes API client); set \
                    k8snode::resource_attributes::k8s.node.uid::enabled to false"
            .into());
    }
    Ok(())
}

/// `k8snode`: `k8s.node.name` from `node_from_env_var`.
pub(crate) fn detect_k8snode(c: &K8sNodeConfig, host: &Host) -> Result<Attributes, String> {
    check_k8snode(c, host)?;
    let var = if c.node_from_env_var.is_empty() { "K8S_NODE_NAME" } else { &c.node_from_env_var };
    let mut b = Builder::new("k8snode", &c.resource_attributes);
    b.str("k8s.node.name", host.var(var).unwrap_or_default());
    Ok(b.out)
}

// ---------------------------------------------------------------------------------------------
// azure, aks

async fn azure_compute(host: &Host) -> Result<serde_json::Value, String> {
    let url =
        format!("{}/metadata/instance/compute?api-version=2020-09-01&format=json", host.azure.trim_end_matches('/'));
    let body = http::request("GET", &url, &[("metadata", "true")]).await?.ok(&url)?;
    serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
}

/// `azure`: the Azure Instance Metadata Service's compute document; off Azure nothing.
pub(crate) async fn detect_azure(c: &AzureConfig, host: &Host) -> Result<Attributes, String> {
    let compute = match azure_compute(host).await {
        Ok(c) => c,
        Err(error) => {
            tracing::debug!(message = "Azure detector metadata retrieval failed", %error);
            return Ok(Vec::new());
        }
    };
    let s = |k: &str| compute[k].as_str().unwrap_or_default().to_string();
    let mut b = Builder::new("azure", &c.resource_attributes);
    b.str("cloud.provider", "azure");
    b.str("cloud.platform", "azure_vm");
    b.str("host.name", s("name"));
    b.str("cloud.region", s("location"));
    b.str("host.id", s("vmId"));
    b.str("cloud.account.id", s("subscriptionId"));
    b.str("azure.vm.name", s("name"));
    b.str("azure.vm.size", s("vmSize"));
    b.str("azure.vm.scaleset.name", s("vmScaleSetName"));
    b.str("azure.resourcegroup.name", s("resourceGroupName"));
    let tags: Vec<regex::Regex> = c.tags.iter().filter_map(|t| regex::Regex::new(t).ok()).collect();
    if !tags.is_empty() {
        for tag in compute["tagsList"].as_array().into_iter().flatten() {
            let name = tag["name"].as_str().unwrap_or_default();
            if tags.iter().any(|r| r.is_match(name)) {
                b.out.push((
                    format!("azure.tag.{name}"),
                    super::Value::Str(tag["value"].as_str().unwrap_or_default().into()),
                ));
            }
        }
    }
    Ok(b.out)
}

/// `aks`: on Kubernetes (`KUBERNETES_SERVICE_HOST`) and Azure: the platform and the cluster name
/// (from the `MC_<group>_<cluster>_<location>` node resource group); otherwise nothing.
pub(crate) async fn detect_aks(overrides: &ResourceAttributes, host: &Host) -> Result<Attributes, String> {
    if host.var("KUBERNETES_SERVICE_HOST").is_none_or(|h| h.is_empty()) {
        return Ok(Vec::new());
    }
    let Ok(compute) = azure_compute(host).await else { return Ok(Vec::new()) };
    let mut b = Builder::new("aks", overrides);
    b.str("cloud.provider", "azure");
    b.str("cloud.platform", "azure_aks");
    b.str("k8s.cluster.name", aks_cluster_name(compute["resourceGroupName"].as_str().unwrap_or_default()));
    Ok(b.out)
}

/// The cluster of an AKS node resource group `MC_<group>_<cluster>_<location>`, else the group.
pub(crate) fn aks_cluster_name(group: &str) -> String {
    let parts: Vec<&str> = group.split('_').collect();
    if parts.len() == 4 && parts[0].eq_ignore_ascii_case("mc") {
        return parts[2].to_string();
    }
    group.to_string()
}

// ---------------------------------------------------------------------------------------------
// gcp

struct Gce<'a> {
    base: String,
    host: &'a Host,
}

impl Gce<'_> {
    async fn get(&self, path: &str) -> Result<String, String> {
        let url = format!("{}/computeMetadata/v1/{path}", self.base);
        let body = http::request("GET", &url, &[("metadata-flavor", "Google")]).await?.ok(&url)?;
        Ok(String::from_utf8_lossy(&body).trim().to_string())
    }

    fn var(&self, k: &str) -> Option<String> {
        self.host.var(k).filter(|v| !v.is_empty())
    }
}

fn last_segment(s: &str) -> String {
    s.rsplit('/').next().unwrap_or_default().to_string()
}

/// `us-central1` of `us-central1-a`.
fn region_of_zone(zone: &str) -> String {
    zone.rsplit_once('-').map(|(r, _)| r.to_string()).unwrap_or_default()
}

/// `gcp`: the metadata server (`GCE_METADATA_HOST`, else `169.254.169.254`) with the platform
/// told by the environment as Google's detector does: GKE (`KUBERNETES_SERVICE_HOST`), Cloud
/// Functions (`FUNCTION_TARGET`), Cloud Run jobs (`CLOUD_RUN_JOB`), Cloud Run (`K_CONFIGURATION`),
/// App Engine (`GAE_SERVICE`), else Compute Engine. Off Google Cloud nothing.
pub(crate) async fn detect_gcp(overrides: &ResourceAttributes, host: &Host) -> Result<Attributes, String> {
    let base = match host.var("GCE_METADATA_HOST") {
        Some(h) if !h.is_empty() => format!("http://{h}"),
        _ => host.gcp.trim_end_matches('/').to_string(),
    };
    let g = Gce { base, host };
    let Ok(project) = g.get("project/project-id").await else {
        tracing::debug!(message = "Not on Google Cloud: the metadata server did not answer.");
        return Ok(Vec::new());
    };
    let mut b = Builder::new("gcp", overrides);
    b.str("cloud.provider", "gcp");
    b.str("cloud.account.id", project);
    let mut missing = Vec::new();
    macro_rules! set {
        ($attr:expr, $value:expr) => {
            match $value {
                Ok(v) => b.str($attr, v),
                Err(e) => missing.push(format!("{}: {e}", $attr)),
            }
        };
    }
    let region = || async { g.get("instance/region").await.map(|r| last_segment(&r)) };
    let instance_id = || async { g.get("instance/id").await };
    if g.var("KUBERNETES_SERVICE_HOST").is_some() {
        b.str("cloud.platform", "gcp_kubernetes_engine");
        match g.get("instance/attributes/cluster-location").await {
            Ok(loc) if loc.matches('-').count() == 2 => b.str("cloud.availability_zone", loc),
            Ok(loc) => b.str("cloud.region", loc),
            Err(e) => missing.push(format!("cluster-location: {e}")),
        }
        set!("k8s.cluster.name", g.get("instance/attributes/cluster-name").await);
        set!("host.id", instance_id().await);
        match g.get("instance/name").await {
            Ok(v) => b.str("host.name", v),
            Err(error) => tracing::info!(
                message = "Fallible detector failed. This attribute will not be available.",
                key = "host.name",
                %error
            ),
        }
    } else if let Some(target) = g.var("FUNCTION_TARGET") {
        let _ = target;
        b.str("cloud.platform", "gcp_cloud_functions");
        set!("faas.name", g.var("K_SERVICE").ok_or("K_SERVICE is not set"));
        set!("faas.version", g.var("K_REVISION").ok_or("K_REVISION is not set"));
        set!("faas.instance", instance_id().await);
        set!("cloud.region", region().await);
        set!("faas.id", instance_id().await);
    } else if let Some(job) = g.var("CLOUD_RUN_JOB") {
        b.str("cloud.platform", "gcp_cloud_run");
        b.str("faas.name", job);
        set!("cloud.region", region().await);
        set!("faas.instance", instance_id().await);
        set!("gcp.cloud_run.job.execution", g.var("CLOUD_RUN_EXECUTION").ok_or("CLOUD_RUN_EXECUTION is not set"));
        set!("gcp.cloud_run.job.task_index", g.var("CLOUD_RUN_TASK_INDEX").ok_or("CLOUD_RUN_TASK_INDEX is not set"));
        set!("faas.id", instance_id().await);
    } else if g.var("K_CONFIGURATION").is_some() {
        b.str("cloud.platform", "gcp_cloud_run");
        set!("faas.name", g.var("K_SERVICE").ok_or("K_SERVICE is not set"));
        set!("faas.version", g.var("K_REVISION").ok_or("K_REVISION is not set"));
        set!("faas.instance", instance_id().await);
        set!("cloud.region", region().await);
        set!("faas.id", instance_id().await);
    } else if g.var("GAE_SERVICE").is_some() {
        b.str("cloud.platform", "gcp_app_engine");
        if g.var("GAE_ENV").as_deref() == Some("standard") {
            set!("cloud.availability_zone", g.get("instance/zone").await.map(|z| last_segment(&z)));
            set!("cloud.region", region().await);
        } else {
            match g.get("instance/zone").await {
                Ok(z) => {
                    let zone = last_segment(&z);
                    b.str("cloud.region", region_of_zone(&zone));
                    b.str("cloud.availability_zone", zone);
                }
                Err(e) => missing.push(format!("zone: {e}")),
            }
        }
        set!("faas.name", g.var("GAE_SERVICE").ok_or("GAE_SERVICE is not set"));
        set!("faas.version", g.var("GAE_VERSION").ok_or("GAE_VERSION is not set"));
        set!("faas.instance", g.var("GAE_INSTANCE").ok_or("GAE_INSTANCE is not set"));
        set!("faas.id", g.var("GAE_INSTANCE").ok_or("GAE_INSTANCE is not set"));
    } else {
        b.str("cloud.platform", "gcp_compute_engine");
        match g.get("instance/zone").await {
            Ok(z) => {
                let zone = last_segment(&z);
                b.str("cloud.region", region_of_zone(&zone));
                b.str("cloud.availability_zone", zone);
            }
            Err(e) => missing.push(format!("zone: {e}")),
        }
        set!("host.type", g.get("instance/machine-type").await.map(|t| last_segment(&t)));
        set!("host.id", instance_id().await);
        set!("host.name", g.get("instance/name").await);
        set!("gcp.gce.instance.hostname", g.get("instance/hostname").await);
        set!("gcp.gce.instance.name", g.get("instance/name").await);
        // A managed instance group's instance says which group created it.
        if let Ok(created_by) = g.get("instance/attributes/created-by").await {
            let parts: Vec<&str> = created_by.split('/').collect();
            if parts.len() == 6 && parts[4] == "instanceGroupManagers" {
                b.str("gcp.gce.instance_group_manager.name", parts[5]);
                match parts[2] {
                    "zones" => b.str("gcp.gce.instance_group_manager.zone", parts[3]),
                    "regions" => b.str("gcp.gce.instance_group_manager.region", parts[3]),
                    _ => {}
                }
            }
        }
    }
    if !missing.is_empty() {
        tracing::debug!(message = "Some GCP attributes are not available.", missing = %missing.join("; "));
    }
    Ok(b.out)
}
