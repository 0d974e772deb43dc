//! Settings of the `resourcedetection` processor: the Collector's keys, defaults and checks
//! (contrib `processor/resourcedetectionprocessor`, its `config.go` and each detector's
//! `config.go` and `metadata.yaml`).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_core::ComponentConfig;

/// Settings of the `resourcedetection` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceDetectionConfig {
    /// The detectors to run, in order of precedence: when two detect the same attribute, the
    /// earlier one's value is kept. Default `[env]`. One of `env`, `system`, `docker`, `ec2`,
    /// `ecs`, `eks`, `elastic_beanstalk`, `lambda`, `gcp`, `azure`, `aks`, `heroku`, `k8snode`
    /// (`consul`, `openshift`, `kubeadm`, `dynatrace` are refused: weir has no client for them).
    pub detectors: Vec<String>,
    /// Whether detected attributes replace attributes a resource already has. Default true.
    #[serde(rename = "override")]
    pub override_: bool,
    /// How long detection may take (every detector together, retries included); a detector
    /// that has not succeeded by then contributes nothing. Default 5s (the Collector's
    /// `confighttp` client `timeout`).
    #[serde(with = "weir_core::config::duration")]
    pub timeout: Duration,
    /// Run the detectors again this often and use the new attributes from then on. Default 0:
    /// detect once, at start.
    #[serde(with = "weir_core::config::duration")]
    pub refresh_interval: Duration,
    /// Deprecated in the Collector (use each detector's `resource_attributes`): when set, only
    /// these detected attributes are added.
    pub attributes: Option<Vec<String>>,
    /// `system` detector settings.
    pub system: SystemConfig,
    /// `ec2` detector settings.
    pub ec2: Ec2Config,
    /// `azure` detector settings.
    pub azure: AzureConfig,
    /// `k8snode` detector settings.
    pub k8snode: K8sNodeConfig,
    /// `ecs` detector settings.
    pub ecs: AttributesOnly,
    /// `eks` detector settings.
    pub eks: AttributesOnly,
    /// `elastic_beanstalk` detector settings (the section is named `elasticbeanstalk`, as in
    /// the Collector).
    pub elasticbeanstalk: AttributesOnly,
    /// `lambda` detector settings.
    pub lambda: AttributesOnly,
    /// `aks` detector settings.
    pub aks: AttributesOnly,
    /// `docker` detector settings.
    pub docker: AttributesOnly,
    /// `gcp` detector settings.
    pub gcp: AttributesOnly,
    /// `heroku` detector settings.
    pub heroku: AttributesOnly,
    /// `kubeadm` detector settings (the detector itself is refused).
    pub kubeadm: KubeApiConfig,
    /// `openshift` detector settings (the detector itself is refused).
    pub openshift: OpenShiftConfig,
    /// `consul` detector settings (the detector itself is refused).
    pub consul: ConsulConfig,
}

impl Default for ResourceDetectionConfig {
    fn default() -> Self {
        ResourceDetectionConfig {
            detectors: vec!["env".into()],
            override_: true,
            timeout: Duration::from_secs(5),
            refresh_interval: Duration::ZERO,
            attributes: None,
            system: SystemConfig::default(),
            ec2: Ec2Config::default(),
            azure: AzureConfig::default(),
            k8snode: K8sNodeConfig::default(),
            ecs: AttributesOnly::default(),
            eks: AttributesOnly::default(),
            elasticbeanstalk: AttributesOnly::default(),
            lambda: AttributesOnly::default(),
            aks: AttributesOnly::default(),
            docker: AttributesOnly::default(),
            gcp: AttributesOnly::default(),
            heroku: AttributesOnly::default(),
            kubeadm: KubeApiConfig::default(),
            openshift: OpenShiftConfig::default(),
            consul: ConsulConfig::default(),
        }
    }
}

/// One attribute's switch under `resource_attributes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    /// Whether the detector adds this attribute.
    pub enabled: bool,
}

/// `resource_attributes`: `<attribute>: {enabled: bool}`, over each detector's defaults.
pub type ResourceAttributes = BTreeMap<String, Toggle>;

/// A detector whose only setting is `resource_attributes`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributesOnly {
    /// Which of the detector's attributes to add (see its table in the README).
    pub resource_attributes: ResourceAttributes,
}

/// `system` detector settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Where `host.name` comes from, tried in order until one answers: `os` (the kernel's
    /// hostname), `dns` (the fully qualified name: `/etc/hosts`, then DNS), `cname` (the
    /// hostname's DNS CNAME), `lookup` (reverse DNS of the hostname's addresses). Default
    /// `[dns, os]`.
    pub hostname_sources: Vec<String>,
    /// Which attributes to add (see the README's table).
    pub resource_attributes: ResourceAttributes,
}

/// `ec2` detector settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ec2Config {
    /// Regular expressions of EC2 tag keys to add as `ec2.tag.<key>`. Accepted, but weir does
    /// not call the EC2 `DescribeTags` API (it would need AWS request signing): a warning says
    /// so and no tag is added.
    pub tags: Vec<String>,
    /// Which attributes to add.
    pub resource_attributes: ResourceAttributes,
    /// Attempts of each instance metadata (IMDS) request. Default 3.
    pub max_attempts: u32,
    /// The longest wait between two attempts. Default 20s.
    #[serde(with = "weir_core::config::duration")]
    pub max_backoff: Duration,
    /// Fail detection (instead of detecting nothing) when the instance metadata service does
    /// not answer. Default false.
    pub fail_on_missing_metadata: bool,
}

impl Default for Ec2Config {
    fn default() -> Self {
        Ec2Config {
            tags: Vec::new(),
            resource_attributes: ResourceAttributes::new(),
            max_attempts: 3,
            max_backoff: Duration::from_secs(20),
            fail_on_missing_metadata: false,
        }
    }
}

/// `azure` detector settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// Regular expressions of VM tag names to add as `azure.tag.<name>`.
    pub tags: Vec<String>,
    /// Which attributes to add.
    pub resource_attributes: ResourceAttributes,
}

/// The Kubernetes API client keys (the Collector's `k8sconfig.APIConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeApiConfig {
    /// `serviceAccount` (default), `kubeConfig`, `tls` or `none`.
    pub auth_type: String,
    /// The kubeconfig context (with `kubeConfig`).
    pub context: String,
    /// Which attributes to add.
    pub resource_attributes: ResourceAttributes,
}

impl Default for KubeApiConfig {
    fn default() -> Self {
        KubeApiConfig {
            auth_type: "serviceAccount".into(),
            context: String::new(),
            resource_attributes: ResourceAttributes::new(),
        }
    }
}

/// `k8snode` detector settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sNodeConfig {
    /// `serviceAccount` (default), `kubeConfig`, `tls` or `none`.
    pub auth_type: String,
    /// The kubeconfig context (with `kubeConfig`).
    pub context: String,
    /// The environment variable that holds this node's name. Default `K8S_NODE_NAME`.
    pub node_from_env_var: String,
    /// Which attributes to add.
    pub resource_attributes: ResourceAttributes,
}

impl Default for K8sNodeConfig {
    fn default() -> Self {
        K8sNodeConfig {
            auth_type: "serviceAccount".into(),
            context: String::new(),
            node_from_env_var: String::new(),
            resource_attributes: ResourceAttributes::new(),
        }
    }
}

/// The client TLS keys the `openshift` detector accepts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenShiftTls {
    pub insecure: bool,
    pub insecure_skip_verify: bool,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub server_name_override: String,
}

/// `openshift` detector settings (accepted so configs load; the detector is refused).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenShiftConfig {
    pub address: String,
    pub token: String,
    pub tls: OpenShiftTls,
    pub resource_attributes: ResourceAttributes,
}

/// `consul` detector settings (accepted so configs load; the detector is refused).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsulConfig {
    pub address: String,
    pub datacenter: String,
    pub token: String,
    pub token_file: String,
    pub namespace: String,
    pub meta: BTreeMap<String, serde_yaml_any::Any>,
    pub resource_attributes: ResourceAttributes,
}

/// Any YAML value (the values of consul's `meta` are not used).
pub mod serde_yaml_any {
    use serde::de::{Deserialize, Deserializer, IgnoredAny};

    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Any;

    impl<'de> Deserialize<'de> for Any {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Any, D::Error> {
            IgnoredAny::deserialize(d).map(|_| Any)
        }
    }
}

/// Every detector weir runs, with the attributes its `metadata.yaml` lists and whether each is
/// on by default.
pub const DETECTORS: &[(&str, &[(&str, bool)])] = &[
    ("env", &[]),
    (
        "system",
        &[
            ("host.name", true),
            ("host.id", false),
            ("os.description", false),
            ("os.type", true),
            ("os.version", false),
            ("host.arch", false),
            ("host.ip", false),
            ("host.mac", false),
            ("host.cpu.vendor.id", false),
            ("host.cpu.family", false),
            ("host.cpu.model.id", false),
            ("host.cpu.model.name", false),
            ("host.cpu.stepping", false),
            ("host.cpu.cache.l2.size", false),
        ],
    ),
    ("docker", &[("host.name", true), ("os.type", true)]),
    (
        "ec2",
        &[
            ("host.name", true),
            ("host.id", true),
            ("cloud.provider", true),
            ("cloud.account.id", true),
            ("cloud.platform", true),
            ("cloud.region", true),
            ("cloud.availability_zone", true),
            ("host.image.id", true),
            ("host.type", true),
        ],
    ),
    (
        "ecs",
        &[
            ("cloud.provider", true),
            ("cloud.platform", true),
            ("cloud.account.id", true),
            ("cloud.region", true),
            ("cloud.availability_zone", true),
            ("aws.ecs.cluster.arn", true),
            ("aws.ecs.task.arn", true),
            ("aws.ecs.task.family", true),
            ("aws.ecs.task.id", true),
            ("aws.ecs.task.revision", true),
            ("aws.ecs.launchtype", true),
            ("aws.log.group.names", true),
            ("aws.log.group.arns", true),
            ("aws.log.stream.names", true),
            ("aws.log.stream.arns", true),
        ],
    ),
    (
        "eks",
        &[("cloud.provider", true), ("cloud.platform", true), ("cloud.account.id", false), ("k8s.cluster.name", false)],
    ),
    (
        "elastic_beanstalk",
        &[
            ("cloud.provider", true),
            ("cloud.platform", true),
            ("deployment.environment", true),
            ("service.instance.id", true),
            ("service.version", true),
        ],
    ),
    (
        "lambda",
        &[
            ("cloud.provider", true),
            ("cloud.platform", true),
            ("cloud.region", true),
            ("aws.log.group.names", true),
            ("aws.log.stream.names", true),
            ("faas.name", true),
            ("faas.version", true),
            ("faas.instance", true),
            ("faas.max_memory", true),
        ],
    ),
    (
        "gcp",
        &[
            ("host.name", true),
            ("host.id", true),
            ("host.type", true),
            ("cloud.provider", true),
            ("cloud.platform", true),
            ("cloud.account.id", true),
            ("cloud.region", true),
            ("cloud.availability_zone", true),
            ("faas.name", true),
            ("faas.version", true),
            ("faas.id", true),
            ("faas.instance", true),
            ("k8s.cluster.name", true),
            ("gcp.cloud_run.job.execution", true),
            ("gcp.cloud_run.job.task_index", true),
            ("gcp.gce.instance.name", false),
            ("gcp.gce.instance.hostname", false),
            ("gcp.gce.instance_group_manager.name", true),
            ("gcp.gce.instance_group_manager.zone", true),
            ("gcp.gce.instance_group_manager.region", true),
        ],
    ),
    (
        "azure",
        &[
            ("cloud.provider", true),
            ("cloud.platform", true),
            ("cloud.region", true),
            ("cloud.account.id", true),
            ("host.name", true),
            ("host.id", true),
            ("azure.resourcegroup.name", true),
            ("azure.vm.name", true),
            ("azure.vm.scaleset.name", true),
            ("azure.vm.size", true),
        ],
    ),
    ("aks", &[("cloud.provider", true), ("cloud.platform", true), ("k8s.cluster.name", false)]),
    (
        "heroku",
        &[
            ("cloud.provider", true),
            ("heroku.app.id", true),
            ("heroku.dyno.id", true),
            ("heroku.release.commit", true),
            ("heroku.release.creation_timestamp", true),
            ("service.instance.id", true),
            ("service.name", true),
            ("service.version", true),
        ],
    ),
    ("k8snode", &[("k8s.node.uid", true), ("k8s.node.name", true)]),
];

/// Detectors the Collector has and weir refuses, with what to do instead.
pub const REFUSED: &[(&str, &str)] = &[
    ("consul", "weir has no Consul agent client"),
    ("openshift", "weir has no OpenShift API client"),
    ("kubeadm", "weir has no Kubernetes API client to read the kubeadm-config ConfigMap"),
    ("dynatrace", "weir does not read the Dynatrace OneAgent enrichment files"),
];

/// The attributes `detector` adds under `overrides` (its defaults otherwise).
pub fn enabled_attributes(detector: &str, overrides: &ResourceAttributes) -> Vec<&'static str> {
    let known = DETECTORS.iter().find(|(d, _)| *d == detector).map(|(_, a)| *a).unwrap_or(&[]);
    known
        .iter()
        .filter(|(name, default)| overrides.get(*name).map_or(*default, |t| t.enabled))
        .map(|(name, _)| *name)
        .collect()
}

impl ResourceDetectionConfig {
    /// The `resource_attributes` of `detector`.
    pub fn resource_attributes(&self, detector: &str) -> Option<&ResourceAttributes> {
        Some(match detector {
            "system" => &self.system.resource_attributes,
            "ec2" => &self.ec2.resource_attributes,
            "azure" => &self.azure.resource_attributes,
            "k8snode" => &self.k8snode.resource_attributes,
            "ecs" => &self.ecs.resource_attributes,
            "eks" => &self.eks.resource_attributes,
            "elastic_beanstalk" => &self.elasticbeanstalk.resource_attributes,
            "lambda" => &self.lambda.resource_attributes,
            "aks" => &self.aks.resource_attributes,
            "docker" => &self.docker.resource_attributes,
            "gcp" => &self.gcp.resource_attributes,
            "heroku" => &self.heroku.resource_attributes,
            _ => return None,
        })
    }
}

impl ComponentConfig for ResourceDetectionConfig {
    fn validate(&self) -> Result<(), String> {
        for d in &self.detectors {
            let d = d.trim();
            if let Some((_, why)) = REFUSED.iter().find(|(r, _)| *r == d) {
                return Err(format!("detectors: the {d} detector is not supported: {why}; remove it from detectors"));
            }
            if !DETECTORS.iter().any(|(k, _)| *k == d) {
                let known: Vec<&str> = DETECTORS.iter().map(|(k, _)| *k).collect();
                return Err(format!("detectors: invalid detector key: {d} (one of {})", known.join(", ")));
            }
        }
        for source in &self.system.hostname_sources {
            if !["os", "dns", "cname", "lookup"].contains(&source.as_str()) {
                return Err(format!("system::hostname_sources contains invalid value: {source:?}"));
            }
        }
        for (detector, attrs) in DETECTORS {
            let Some(set) = self.resource_attributes(detector) else { continue };
            for name in set.keys() {
                if !attrs.iter().any(|(a, _)| a == name) {
                    let known: Vec<&str> = attrs.iter().map(|(a, _)| *a).collect();
                    let section = if *detector == "elastic_beanstalk" { "elasticbeanstalk" } else { detector };
                    return Err(format!(
                        "{section}::resource_attributes has invalid keys: {name} (the {detector} detector has {})",
                        known.join(", ")
                    ));
                }
            }
        }
        for (key, tags) in [("ec2::tags", &self.ec2.tags), ("azure::tags", &self.azure.tags)] {
            for t in tags {
                regex::Regex::new(t).map_err(|e| format!("{key}: {t:?} is not a regular expression: {e}"))?;
            }
        }
        if self.ec2.max_attempts == 0 {
            return Err("ec2::max_attempts must be at least 1".into());
        }
        Ok(())
    }
}
