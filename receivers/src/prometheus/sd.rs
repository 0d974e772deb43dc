//! Targets: `static_configs` and `file_sd_configs` groups, turned into scrape targets by
//! Prometheus's rules (`scrape.PopulateLabels`): default labels, `relabel_configs`, `instance`
//! from `__address__`, meta labels removed.

use super::config::{Job, ScrapeConfig, StaticConfig};
use super::relabel::{self, Labels};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A target group as written in `static_configs` or a file_sd file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl From<&StaticConfig> for TargetGroup {
    fn from(s: &StaticConfig) -> TargetGroup {
        TargetGroup { targets: s.targets.clone(), labels: s.labels.clone() }
    }
}

/// Reads a file_sd file: a JSON (`.json`) or YAML list of target groups.
pub fn read_file_sd(path: &Path, text: &str) -> Result<Vec<TargetGroup>, String> {
    let groups: Vec<Option<TargetGroup>> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        let node = weir_core::config::yaml::parse(text, &|_| None).map_err(|e| e.to_string())?;
        if node.is_null() {
            Vec::new()
        } else {
            node.deserialize().map_err(|e| e.to_string())?
        }
    };
    // Prometheus: "nil target group item found".
    groups.into_iter().map(|g| g.ok_or_else(|| "nil target group item found".to_string())).collect()
}

/// The `scrape_configs` of a `scrape_config_files` file.
pub fn parse_scrape_config_file(text: &str) -> Result<Vec<ScrapeConfig>, String> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct File {
        scrape_configs: Vec<ScrapeConfig>,
    }
    let node = weir_core::config::yaml::parse(text, &|_| None).map_err(|e| e.to_string())?;
    if node.is_null() {
        return Ok(Vec::new());
    }
    let f: File = node.deserialize().map_err(|e| e.to_string())?;
    Ok(f.scrape_configs)
}

/// A target to scrape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Every label after relabeling (`__address__`, `__scheme__`, … included).
    pub labels: Labels,
    /// The `__scheme__` before relabeling (the Collector's discovered labels).
    pub discovered_scheme: String,
}

impl Target {
    /// The labels every sample of the target carries (names not starting with `__`).
    pub fn public_labels(&self) -> Labels {
        self.labels.iter().filter(|(k, _)| !k.starts_with("__")).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn get(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }

    /// The URL scraped: `__scheme__://__address____metrics_path__?__param_*`.
    pub fn url(&self, job: &Job) -> String {
        let mut params: Vec<(String, String)> = Vec::new();
        for (name, values) in &job.params {
            for v in values {
                params.push((name.clone(), v.clone()));
            }
        }
        for (k, v) in &self.labels {
            if let Some(name) = k.strip_prefix("__param_") {
                // A `__param_` label replaces the first value of the parameter.
                match params.iter_mut().find(|(n, _)| n == name) {
                    Some(p) => p.1 = v.clone(),
                    None => params.push((name.to_string(), v.clone())),
                }
            }
        }
        let mut url =
            format!("{}://{}{}", self.get("__scheme__"), self.get("__address__"), self.get("__metrics_path__"));
        if !params.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            let q: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            url.push_str(&q.join("&"));
        }
        url
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The targets of `groups` for `job`; targets relabeling drops are left out, and so are those
/// left without `__address__` (logged).
pub fn targets(job: &Job, groups: &[TargetGroup]) -> Vec<Target> {
    let mut out = Vec::new();
    for g in groups {
        for address in &g.targets {
            let mut labels: Labels = g.labels.clone();
            labels.insert("__address__".into(), address.clone());
            let defaults = [
                ("job", job.name.clone()),
                ("__scrape_interval__", super::config_format_duration(job.interval)),
                ("__scrape_timeout__", super::config_format_duration(job.timeout)),
                ("__metrics_path__", job.metrics_path.clone()),
                ("__scheme__", job.scheme.clone()),
            ];
            for (k, v) in defaults {
                labels.entry(k.to_string()).or_insert(v);
            }
            for (name, values) in &job.params {
                if let Some(first) = values.first() {
                    labels.entry(format!("__param_{name}")).or_insert_with(|| first.clone());
                }
            }
            let discovered_scheme = labels.get("__scheme__").cloned().unwrap_or_default();
            if !relabel::process(&mut labels, &job.relabel) {
                continue;
            }
            let Some(address) = labels.get("__address__").cloned().filter(|a| !a.is_empty()) else {
                tracing::warn!(message = "Dropped a target without an address after relabeling.", job = %job.name);
                continue;
            };
            labels.entry("instance".into()).or_insert(address);
            labels.retain(|k, _| !k.starts_with("__meta_"));
            let t = Target { labels, discovered_scheme };
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::config::PrometheusReceiverConfig;

    fn job(json: serde_json::Value) -> Job {
        let c: PrometheusReceiverConfig =
            serde_json::from_value(serde_json::json!({"config": {"scrape_configs": [json]}})).unwrap();
        c.jobs().unwrap().remove(0)
    }

    #[test]
    fn static_target_gets_prometheus_default_labels() {
        let j = job(
            serde_json::json!({"job_name": "node", "scrape_interval": "15s", "static_configs": [{"targets": ["h:9100"], "labels": {"env": "prod"}}]}),
        );
        let t = targets(&j, &[TargetGroup::from(&j.static_configs[0])]);
        assert_eq!(t.len(), 1);
        let public: Vec<(String, String)> = t[0].public_labels().into_iter().collect();
        assert_eq!(
            public,
            [("env".into(), "prod".into()), ("instance".into(), "h:9100".into()), ("job".into(), "node".into())]
        );
        assert_eq!(t[0].get("__scrape_interval__"), "15s");
        assert_eq!(t[0].get("__scrape_timeout__"), "10s");
        assert_eq!(t[0].url(&j), "http://h:9100/metrics");
    }

    #[test]
    fn relabel_configs_rewrite_address_params_and_drop_targets() {
        let j = job(serde_json::json!({
            "job_name": "blackbox",
            "metrics_path": "/probe",
            "params": {"module": ["http_2xx"]},
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": "127.0.0.1:9115"},
                {"source_labels": ["instance"], "regex": "drop.*", "action": "drop"}
            ]
        }));
        let groups = [TargetGroup { targets: vec!["example.com".into(), "drop.me".into()], labels: BTreeMap::new() }];
        let t = targets(&j, &groups);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].get("instance"), "example.com");
        assert_eq!(t[0].url(&j), "http://127.0.0.1:9115/probe?module=http_2xx&target=example.com");
    }

    #[test]
    fn file_sd_reads_json_and_yaml_and_refuses_null_groups() {
        let json = r#"[{"targets": ["a:1", "b:2"], "labels": {"foo": "bar"}}]"#;
        let g = read_file_sd(Path::new("x.json"), json).unwrap();
        assert_eq!(g[0].targets, ["a:1", "b:2"]);
        let yaml = "- targets: ['localhost:9090', 'example.org:443']\n  labels:\n    foo: bar\n";
        assert_eq!(read_file_sd(Path::new("x.yaml"), yaml).unwrap()[0].labels["foo"], "bar");
        // sd-config-with-null-target-group.{json,yaml} of the Collector's testdata.
        let err = read_file_sd(Path::new("x.json"), r#"[{"targets": ["a:1"]}, null]"#).unwrap_err();
        assert_eq!(err, "nil target group item found");
        let err = read_file_sd(Path::new("x.yaml"), "- targets: ['a:1']\n\n- null\n").unwrap_err();
        assert_eq!(err, "nil target group item found");
    }
}
