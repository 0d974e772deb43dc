//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`): every action of
//! Prometheus's `model/relabel`, with its defaults and its validation messages.
//!
//! A label set is a [`Labels`] map (sorted by name, as Prometheus keeps them); a label set to
//! the empty string is removed, as Prometheus's `labels.Builder` does.

use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// The regex Prometheus uses when `regex` is absent.
const DEFAULT_REGEX: &str = "(.*)";
/// The replacement Prometheus uses when `replacement` is absent.
const DEFAULT_REPLACEMENT: &str = "$1";
/// The separator Prometheus uses when `separator` is absent.
const DEFAULT_SEPARATOR: &str = ";";

/// What a relabel step does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Action {
    /// Sets `target_label` to `replacement` (with the regex's groups) when `regex` matches.
    #[default]
    Replace,
    /// Keeps the target (or sample) only when `regex` matches the joined source labels.
    Keep,
    /// Drops it when `regex` matches.
    Drop,
    /// Keeps it only when the joined source labels equal `target_label`'s value.
    KeepEqual,
    /// Drops it when they are equal.
    DropEqual,
    /// Sets `target_label` to the MD5 of the joined source labels modulo `modulus`.
    HashMod,
    /// Copies every label whose name matches `regex` to the name `replacement` gives.
    LabelMap,
    /// Removes every label whose name matches `regex`.
    LabelDrop,
    /// Removes every label whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the joined source labels in lower case.
    Lowercase,
    /// Sets `target_label` to the joined source labels in upper case.
    Uppercase,
}

impl Action {
    fn parse(s: &str) -> Result<Action, String> {
        // Prometheus reads the action case-insensitively.
        Ok(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return Err(format!("unknown relabel action {s:?}")),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

/// One relabel step as written in the configuration (Prometheus's `relabel_config`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfigSource {
    /// Labels whose values are joined with `separator` and matched against `regex`.
    pub source_labels: Option<Vec<String>>,
    /// Default `;`.
    pub separator: Option<String>,
    /// RE2 regex, anchored at both ends. Default `(.*)`.
    pub regex: Option<String>,
    /// Modulus of `hashmod`.
    pub modulus: u64,
    /// The label `replace`, `hashmod`, `lowercase`, `uppercase` write (and `keepequal` /
    /// `dropequal` compare with).
    pub target_label: Option<String>,
    /// `$1`, `${name}` … refer to the regex's groups. Default `$1`.
    pub replacement: Option<String>,
    /// Default `replace`.
    pub action: Option<String>,
}

/// A validated, compiled relabel step.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    regex: Regex,
    regex_is_default: bool,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

/// Whether `name` is a label name Prometheus's `legacy` validation accepts.
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus's `relabelTargetLegacy`: a legacy label name in which `$1` / `${1}` may stand.
fn is_legacy_template(name: &str) -> bool {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").expect("a constant regex that compiles")
    })
    .is_match(name)
}

/// Compiles a relabel regex as Prometheus does: anchored, `.` matching newlines.
pub fn compile_regex(s: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?s:{s})$")).map_err(|e| format!("invalid regex {s:?}: {e}"))
}

impl RelabelConfigSource {
    /// Validates and compiles the step, with Prometheus's messages. `utf8` is the name
    /// validation scheme (`metric_name_validation_scheme`, `utf8` by default in Prometheus 3).
    pub fn compile(&self, utf8: bool) -> Result<RelabelConfig, String> {
        let action = match &self.action {
            Some(a) if a.is_empty() => return Err("relabel action cannot be empty".into()),
            Some(a) => Action::parse(a)?,
            None => Action::Replace,
        };
        let separator = self.separator.clone().unwrap_or_else(|| DEFAULT_SEPARATOR.into());
        let regex_src = self.regex.clone().unwrap_or_else(|| DEFAULT_REGEX.into());
        let regex_is_default = self.regex.is_none() || regex_src == DEFAULT_REGEX;
        let regex = compile_regex(&regex_src)?;
        let target_label = self.target_label.clone().unwrap_or_default();
        let replacement = self.replacement.clone().unwrap_or_else(|| DEFAULT_REPLACEMENT.into());
        let name = action.name();
        let valid_name = |n: &str| if utf8 { !n.is_empty() } else { is_legacy_label_name(n) };
        let valid_template = |n: &str| if utf8 { !n.is_empty() } else { is_legacy_template(n) };
        if self.modulus == 0 && action == Action::HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target_label.is_empty() {
            return Err(format!("relabel configuration for {name} action requires 'target_label' value"));
        }
        let invalid_target = || format!("{target_label:?} is invalid 'target_label' for {name} action");
        if action == Action::Replace {
            let ok = if target_label.contains('$') { valid_template(&target_label) } else { valid_name(&target_label) };
            if !ok {
                return Err(invalid_target());
            }
        }
        let simple = matches!(action, Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual);
        if (simple || action == Action::HashMod) && !valid_name(&target_label) {
            return Err(invalid_target());
        }
        if simple && replacement != DEFAULT_REPLACEMENT {
            return Err(format!("'replacement' can not be set for {name} action"));
        }
        if action == Action::LabelMap && !valid_template(&replacement) {
            return Err(format!("{replacement:?} is invalid 'replacement' for {name} action"));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (!regex_is_default || self.modulus != 0 || separator != DEFAULT_SEPARATOR)
        {
            return Err(format!("{name} action requires only 'source_labels' and `target_label`, and no other fields"));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (self.source_labels.is_some()
                || !target_label.is_empty()
                || self.modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!("{name} action requires only 'regex', and no other fields"));
        }
        Ok(RelabelConfig {
            source_labels: self.source_labels.clone().unwrap_or_default(),
            separator,
            regex,
            regex_is_default,
            modulus: self.modulus,
            target_label,
            replacement,
            action,
        })
    }
}

/// Sets `name` to `value` in `labels`; an empty value removes the label (Prometheus's
/// `labels.Builder.Set`).
pub fn set(labels: &mut Labels, name: &str, value: String) {
    if value.is_empty() {
        labels.remove(name);
    } else {
        labels.insert(name.to_string(), value);
    }
}

/// Applies `steps` in order; false when one of them drops the label set.
pub fn process(labels: &mut Labels, steps: &[RelabelConfig]) -> bool {
    steps.iter().all(|step| step.apply(labels))
}

impl RelabelConfig {
    /// Applies this step; false when it drops the label set.
    pub fn apply(&self, labels: &mut Labels) -> bool {
        let val = self
            .source_labels
            .iter()
            .map(|l| labels.get(l).map(String::as_str).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&self.separator);
        match self.action {
            Action::Drop => return !self.regex.is_match(&val),
            Action::Keep => return self.regex.is_match(&val),
            Action::DropEqual => {
                return labels.get(&self.target_label).map(String::as_str).unwrap_or("") != val;
            }
            Action::KeepEqual => {
                return labels.get(&self.target_label).map(String::as_str).unwrap_or("") == val;
            }
            Action::Replace => {
                if val.is_empty()
                    && self.regex_is_default
                    && !self.target_label.contains('$')
                    && !self.replacement.contains('$')
                {
                    set(labels, &self.target_label, self.replacement.clone());
                    return true;
                }
                let Some(caps) = self.regex.captures(&val) else { return true };
                let mut target = String::new();
                caps.expand(&self.target_label, &mut target);
                if target.is_empty() {
                    return true;
                }
                let mut res = String::new();
                caps.expand(&self.replacement, &mut res);
                set(labels, &target, res);
            }
            Action::Lowercase => set(labels, &self.target_label, val.to_lowercase()),
            Action::Uppercase => set(labels, &self.target_label, val.to_uppercase()),
            Action::HashMod => {
                use md5::Digest;
                let hash = md5::Md5::digest(val.as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&hash[8..]);
                let m = u64::from_be_bytes(tail) % self.modulus;
                set(labels, &self.target_label, m.to_string());
            }
            Action::LabelMap => {
                let snapshot: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                for (name, value) in snapshot {
                    if self.regex.is_match(&name) {
                        let res = self.regex.replace_all(&name, self.replacement.as_str()).into_owned();
                        set(labels, &res, value);
                    }
                }
            }
            Action::LabelDrop => labels.retain(|name, _| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn step(yaml: serde_json::Value) -> RelabelConfig {
        let source: RelabelConfigSource = serde_json::from_value(yaml).expect("a relabel config");
        source.compile(true).expect("a valid relabel config")
    }

    fn run(input: &[(&str, &str)], steps: &[RelabelConfig]) -> Option<Labels> {
        let mut l = labels(input);
        process(&mut l, steps).then_some(l)
    }

    fn invalid(yaml: serde_json::Value) -> String {
        let source: RelabelConfigSource = serde_json::from_value(yaml).expect("a relabel config");
        source.compile(false).expect_err("an invalid relabel config")
    }

    // The cases below are relabel_test.go's TestRelabel, input → expected output.

    #[test]
    fn replace_with_groups_of_the_joined_source_labels() {
        let s = step(
            serde_json::json!({"source_labels": ["a"], "regex": "f(.*)", "target_label": "d", "separator": ";", "replacement": "ch${1}-ch${1}", "action": "replace"}),
        );
        assert_eq!(
            run(&[("a", "foo"), ("b", "bar"), ("c", "baz")], &[s]),
            Some(labels(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]))
        );
        let s = step(
            serde_json::json!({"source_labels": ["a", "b"], "regex": "f(.*);(.*)r", "target_label": "a", "separator": ";", "replacement": "b${1}${2}m"}),
        );
        let s2 = step(
            serde_json::json!({"source_labels": ["c", "a"], "regex": "(b).*b(.*)ba(.*)", "target_label": "d", "separator": ";", "replacement": "$1$2$2$3"}),
        );
        assert_eq!(
            run(&[("a", "foo"), ("b", "bar"), ("c", "baz")], &[s, s2]),
            Some(labels(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]))
        );
    }

    #[test]
    fn replace_without_a_match_changes_nothing_and_an_empty_result_deletes() {
        let s =
            step(serde_json::json!({"source_labels": ["a"], "regex": "f", "target_label": "b", "replacement": "bar"}));
        assert_eq!(run(&[("a", "boo")], &[s]), Some(labels(&[("a", "boo")])));
        // Default regex and replacement copy a label; an empty source deletes the target.
        let s = step(serde_json::json!({"source_labels": ["x"], "target_label": "a"}));
        assert_eq!(run(&[("a", "boo")], &[s]), Some(labels(&[])));
        // A literal replacement is set even when the source is empty.
        let s = step(serde_json::json!({"source_labels": ["x"], "target_label": "z", "replacement": "lit"}));
        assert_eq!(run(&[("a", "boo")], &[s]), Some(labels(&[("a", "boo"), ("z", "lit")])));
    }

    #[test]
    fn replace_target_label_may_use_groups() {
        let s = step(
            serde_json::json!({"source_labels": ["a"], "regex": "some-([^-]+)-([^,]+)", "target_label": "${1}", "replacement": "${2}"}),
        );
        assert_eq!(
            run(&[("a", "some-name-value")], &[s]),
            Some(labels(&[("a", "some-name-value"), ("name", "value")]))
        );
        // A group that does not exist expands to nothing: no label is written.
        let s = step(
            serde_json::json!({"source_labels": ["a"], "regex": "some-([^-]+)-([^,]+)", "target_label": "${3}", "replacement": "${1}"}),
        );
        assert_eq!(run(&[("a", "some-name-value")], &[s]), Some(labels(&[("a", "some-name-value")])));
    }

    #[test]
    fn keep_and_drop_match_the_whole_value() {
        let drop = step(serde_json::json!({"source_labels": ["a"], "regex": ".*o.*", "action": "drop"}));
        assert_eq!(run(&[("a", "foo")], std::slice::from_ref(&drop)), None);
        assert_eq!(run(&[("a", "abc")], &[drop]), Some(labels(&[("a", "abc")])));
        let keep = step(serde_json::json!({"source_labels": ["a"], "regex": "no-match", "action": "keep"}));
        assert_eq!(run(&[("a", "foo")], &[keep]), None);
        // Anchored: "f" does not match "foo".
        let keep = step(serde_json::json!({"source_labels": ["a"], "regex": "f", "action": "keep"}));
        assert_eq!(run(&[("a", "foo")], &[keep]), None);
        let keep = step(serde_json::json!({"source_labels": ["a"], "regex": "f|foo", "action": "Keep"}));
        assert_eq!(run(&[("a", "foo")], &[keep]), Some(labels(&[("a", "foo")])));
    }

    #[test]
    fn keepequal_and_dropequal_compare_with_the_target_label() {
        let keep = step(
            serde_json::json!({"source_labels": ["__tmp_port"], "target_label": "__port1", "action": "keepequal"}),
        );
        assert!(run(&[("__tmp_port", "1234"), ("__port1", "1234")], std::slice::from_ref(&keep)).is_some());
        assert_eq!(run(&[("__tmp_port", "1234"), ("__port1", "5678")], &[keep]), None);
        let drop = step(
            serde_json::json!({"source_labels": ["__tmp_port"], "target_label": "__port1", "action": "dropequal"}),
        );
        assert_eq!(run(&[("__tmp_port", "1234"), ("__port1", "1234")], std::slice::from_ref(&drop)), None);
        assert!(run(&[("__tmp_port", "1234"), ("__port1", "5678")], &[drop]).is_some());
    }

    #[test]
    fn hashmod_is_md5_low_bytes_modulo() {
        // relabel_test.go: c = "foo" → hashmod 1000 → "976".
        let s = step(
            serde_json::json!({"source_labels": ["c"], "target_label": "d", "separator": ";", "action": "hashmod", "modulus": 1000}),
        );
        assert_eq!(
            run(&[("a", "foo"), ("b", "bar"), ("c", "baz")], &[s]),
            Some(labels(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]))
        );
        let s = step(
            serde_json::json!({"source_labels": ["a"], "target_label": "b", "action": "hashmod", "modulus": 1000}),
        );
        assert_eq!(run(&[("a", "foo\nbar")], &[s]), Some(labels(&[("a", "foo\nbar"), ("b", "734")])));
    }

    #[test]
    fn labelmap_copies_matching_names() {
        let s = step(serde_json::json!({"regex": "__meta_(my.*)", "replacement": "${1}", "action": "labelmap"}));
        assert_eq!(
            run(&[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")], &[s]),
            Some(labels(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]))
        );
        let s = step(serde_json::json!({"regex": "__meta_(my.*)", "replacement": "$1", "action": "LabelMap"}));
        let out = run(&[("__meta_my_a", "1")], &[s]).unwrap();
        assert_eq!(out["my_a"], "1");
    }

    #[test]
    fn labeldrop_and_labelkeep_filter_names() {
        let s = step(serde_json::json!({"regex": "(b.*)", "action": "labeldrop"}));
        assert_eq!(run(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")], &[s]), Some(labels(&[("a", "foo")])));
        let s = step(serde_json::json!({"regex": "(b.*)", "action": "labelkeep"}));
        assert_eq!(
            run(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")], &[s]),
            Some(labels(&[("b1", "bar"), ("b2", "baz")]))
        );
    }

    #[test]
    fn lowercase_and_uppercase_write_the_target() {
        let s =
            step(serde_json::json!({"source_labels": ["foo"], "target_label": "foo_uppercase", "action": "uppercase"}));
        let s2 =
            step(serde_json::json!({"source_labels": ["foo"], "target_label": "foo_lowercase", "action": "lowercase"}));
        assert_eq!(
            run(&[("foo", "bAr123Foo")], &[s, s2]),
            Some(labels(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")]))
        );
    }

    #[test]
    fn invalid_configs_are_refused_with_prometheus_messages() {
        assert_eq!(
            invalid(serde_json::json!({"action": "hashmod", "target_label": "x"})),
            "relabel configuration for hashmod requires non-zero modulus"
        );
        assert_eq!(
            invalid(serde_json::json!({"action": "replace"})),
            "relabel configuration for replace action requires 'target_label' value"
        );
        assert_eq!(invalid(serde_json::json!({"action": "explode"})), "unknown relabel action \"explode\"");
        assert_eq!(invalid(serde_json::json!({"action": ""})), "relabel action cannot be empty");
        assert_eq!(
            invalid(serde_json::json!({"action": "replace", "target_label": "0invalid"})),
            "\"0invalid\" is invalid 'target_label' for replace action"
        );
        assert_eq!(
            invalid(serde_json::json!({"action": "lowercase", "target_label": "x", "replacement": "y"})),
            "'replacement' can not be set for lowercase action"
        );
        assert_eq!(
            invalid(serde_json::json!({"action": "keepequal", "target_label": "x", "regex": "y"})),
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
        );
        assert_eq!(
            invalid(serde_json::json!({"action": "labeldrop", "source_labels": ["a"]})),
            "labeldrop action requires only 'regex', and no other fields"
        );
        assert_eq!(
            invalid(serde_json::json!({"action": "labelmap", "replacement": "l-$1"})),
            "\"l-$1\" is invalid 'replacement' for labelmap action"
        );
        assert!(invalid(serde_json::json!({"regex": "(", "target_label": "x"})).contains("invalid regex"));
    }
}
