//! The Collector's `filterset`: a list of names matched `strict`ly (equal) or as `regexp`s
//! (unanchored, as Go's `MatchString`).

use regex::Regex;
use serde::Deserialize;

/// `match_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    Strict,
    Regexp,
}

/// A compiled list.
#[derive(Debug, Clone)]
pub enum FilterSet {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
    /// Matches when any of its sets does (a list of `{strict: …}` / `{regexp: …}` items).
    Any(Vec<FilterSet>),
}

impl FilterSet {
    /// Compiles `values`; a bad regexp is an error naming `key`.
    pub fn new(key: &str, match_type: MatchType, values: &[String]) -> Result<FilterSet, String> {
        Ok(match match_type {
            MatchType::Strict => FilterSet::Strict(values.to_vec()),
            MatchType::Regexp => FilterSet::Regexp(
                values
                    .iter()
                    .map(|v| Regex::new(v).map_err(|e| format!("{key}: invalid regexp {v:?}: {e}")))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            FilterSet::Strict(values) => values.iter().any(|v| v == value),
            FilterSet::Regexp(res) => res.iter().any(|r| r.is_match(value)),
            FilterSet::Any(sets) => sets.iter().any(|s| s.matches(value)),
        }
    }
}

/// An include and an exclude list: kept when included (or no include list) and not excluded.
#[derive(Debug, Clone, Default)]
pub struct IncludeExclude {
    pub include: Option<FilterSet>,
    pub exclude: Option<FilterSet>,
}

impl IncludeExclude {
    pub fn keeps(&self, value: &str) -> bool {
        self.include.as_ref().is_none_or(|f| f.matches(value))
            && !self.exclude.as_ref().is_some_and(|f| f.matches(value))
    }
}
