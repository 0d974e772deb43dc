//! `routing` settings, the Collector's `routingconnector` keys: `table` (each route a
//! `context`, a `condition` or a `statement`, and `pipelines`), `default_pipelines`,
//! `error_mode`. `match_once` was removed upstream (v0.120.0): routing always matches once.

use serde::Deserialize;
use weir_core::ComponentConfig;
use weir_ottl::{Condition, ContextKind, ErrorMode, OttlError, Source};

/// Settings of the `routing` connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The routes, tried in order for each item: the first whose condition holds takes it.
    /// Required, not empty.
    pub table: Vec<RouteConfig>,
    /// Where items no route takes go. Empty (the default): they are dropped (and
    /// acknowledged, as upstream does).
    pub default_pipelines: Vec<String>,
    /// What a failing condition does: `propagate` (default) fails the request; `ignore` logs
    /// it and the condition counts as false (the item goes on to the next routes and, at the
    /// end, to `default_pipelines`); `silent` the same without logging.
    pub error_mode: ErrorMode,
    /// Removed upstream in v0.120.0 (routing has matched once, the first route wins, since
    /// v0.116.0). `true` is that behaviour and is accepted with a warning; `false` is refused.
    pub match_once: Option<bool>,
}

impl Default for RoutingConfig {
    fn default() -> RoutingConfig {
        RoutingConfig {
            table: Vec::new(),
            default_pipelines: Vec::new(),
            error_mode: ErrorMode::Propagate,
            match_once: None,
        }
    }
}

/// One route of `table`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// The OTTL context the condition runs in: `resource` (default), `span`, `metric`,
    /// `datapoint`, `log`, or `request` (the client's request metadata). A context that is
    /// not of the signal being routed (`span` in a logs pipeline) never matches, as upstream.
    pub context: Option<String>,
    /// An OTTL condition (`attributes["tenant"] == "acme"`). One of `condition` and
    /// `statement` is required; `request` routes need a `condition`, of the form
    /// `request["<name>"] == "<value>"` or `!=`.
    pub condition: Option<Source>,
    /// The same condition written as an OTTL statement: `route() where <condition>`.
    pub statement: Option<Source>,
    /// The pipelines that get what the route matches. Required.
    pub pipelines: Vec<String>,
}

/// Where a route's condition runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteContext {
    Request,
    Ottl(ContextKind),
}

impl RouteContext {
    pub fn name(self) -> &'static str {
        match self {
            RouteContext::Request => "request",
            RouteContext::Ottl(c) => c.name(),
        }
    }
}

/// A `request` condition: `request["<name>"] == "<value>"` (or `!=`), the only grammar
/// upstream has for it. A request without the key matches neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCondition {
    pub key: String,
    pub value: String,
    pub equal: bool,
}

impl RequestCondition {
    /// Parses the condition as upstream does (its messages, so configs fail alike).
    pub fn parse(condition: &str) -> Result<RequestCondition, String> {
        if condition.is_empty() {
            return Err("condition is empty".into());
        }
        let comparators: Vec<(usize, &str)> = comparators(condition);
        let (at, op) = match comparators.as_slice() {
            [] => return Err("condition does not contain a valid comparator".into()),
            [one] => *one,
            _ => return Err("condition contains multiple comparators".into()),
        };
        let left = condition[..at].trim();
        let right = condition[at + 2..].trim();
        const FORMAT: &str = r#"condition must have format 'request["<name>"] <comparator> <value>'"#;
        // Upstream matches `request\[".*"\]` and `".*"` anywhere in each side, then trims.
        let Some(start) = left.find("request[\"") else { return Err(FORMAT.into()) };
        if !left[start + 9..].contains("\"]") {
            return Err(FORMAT.into());
        }
        if right.matches('"').count() < 2 {
            return Err(r#"condition must have format 'request["<name>"] <comparator> "<value>"'"#.into());
        }
        let key = left.strip_prefix("request[\"").unwrap_or(left);
        let key = key.strip_suffix("\"]").unwrap_or(key);
        let value = right.strip_prefix('"').unwrap_or(right);
        let value = value.strip_suffix('"').unwrap_or(value);
        Ok(RequestCondition { key: key.to_string(), value: value.to_string(), equal: op == "==" })
    }

    /// Whether any value of the key compares as the condition says.
    pub fn matches(&self, metadata: Option<&weir_core::ClientMetadata>) -> bool {
        let Some(m) = metadata else { return false };
        m.get(&self.key).iter().any(|v| (v == &self.value) == self.equal)
    }
}

/// The non-overlapping `==` and `!=` in `s`, left to right, with their offsets.
fn comparators(s: &str) -> Vec<(usize, &'static str)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'=', b'=') => {
                out.push((i, "=="));
                i += 2;
            }
            (b'!', b'=') => {
                out.push((i, "!="));
                i += 2;
            }
            _ => i += 1,
        }
    }
    out
}

/// What a route tests.
#[derive(Debug)]
pub enum Matcher {
    Request(RequestCondition),
    /// An OTTL condition; `None` for a bare `route()` statement, which takes everything.
    Ottl(Option<Condition>),
}

/// One compiled route.
#[derive(Debug)]
pub struct Route {
    pub context: RouteContext,
    pub matcher: Matcher,
    pub pipelines: Vec<String>,
    /// The route's text as upstream keys it (context and statement), for duplicates.
    pub key: String,
}

fn text(s: &Option<Source>) -> Option<&Source> {
    s.as_ref().filter(|s| !s.text.is_empty())
}

/// Compiles the condition of `route() where <condition>`; errors point into the statement.
fn compile_statement(source: &Source, context: ContextKind) -> Result<Option<Condition>, String> {
    let t = source.text.as_str();
    let lead = t.len() - t.trim_start().len();
    let Some(rest) = t[lead..].strip_prefix("route()") else {
        return Err(format!(
            "statement {t:?}: weir's routing supports `route() where <condition>` statements only \
             (upstream also allows delete_key/delete_matching_keys editors); write the condition in `condition`"
        ));
    };
    let after = lead + "route()".len();
    if rest.trim().is_empty() {
        return Ok(None);
    }
    let ws = rest.len() - rest.trim_start().len();
    let Some(cond) = rest.trim_start().strip_prefix("where") else {
        return Err(format!("statement {t:?}: expected `where <condition>` after `route()`"));
    };
    if !cond.starts_with(char::is_whitespace) {
        return Err(format!("statement {t:?}: expected `where <condition>` after `route()`"));
    }
    let offset = after + ws + "where".len();
    Condition::compile(cond, context).map(Some).map_err(|mut e: OttlError| {
        e.span.start += offset;
        e.span.end += offset;
        source.describe(&e)
    })
}

impl RoutingConfig {
    /// The routes, compiled; the error names the route and the key.
    pub fn compile(&self) -> Result<Vec<Route>, String> {
        if self.table.is_empty() {
            return Err("table: invalid routing table: the routing table is empty".into());
        }
        if self.match_once == Some(false) {
            return Err("match_once: `match_once: false` was removed from the Collector's routing connector in \
                        v0.120.0; routing always matches once now (the first matching route takes the item). \
                        To send data to several routes, use several routing connectors (see the routing \
                        connector's README, `match_once`)"
                .into());
        }
        let mut routes = Vec::with_capacity(self.table.len());
        for (i, r) in self.table.iter().enumerate() {
            let at = format!("table[{i}]");
            let (cond, stmt) = (text(&r.condition), text(&r.statement));
            match (cond, stmt) {
                (None, None) => {
                    return Err(format!("{at}: invalid route: no condition or statement provided"));
                }
                (Some(_), Some(_)) => {
                    return Err(format!("{at}: invalid route: both condition and statement provided"));
                }
                _ => {}
            }
            if r.pipelines.is_empty() {
                return Err(format!("{at}::pipelines: invalid route: no pipelines defined"));
            }
            let ctx_name = r.context.as_deref().unwrap_or("");
            let context = match ctx_name {
                "" | "resource" => RouteContext::Ottl(ContextKind::Resource),
                "span" => RouteContext::Ottl(ContextKind::Span),
                "metric" => RouteContext::Ottl(ContextKind::Metric),
                "datapoint" => RouteContext::Ottl(ContextKind::DataPoint),
                "log" => RouteContext::Ottl(ContextKind::Log),
                "request" => RouteContext::Request,
                other => {
                    return Err(format!(
                    "{at}::context: invalid context: {other} (valid: resource, span, metric, datapoint, log, request)"
                ))
                }
            };
            let (matcher, key) = match (context, cond, stmt) {
                (RouteContext::Request, Some(c), None) => (
                    Matcher::Request(RequestCondition::parse(&c.text).map_err(|e| format!("{at}::condition: {e}"))?),
                    format!("[request] {}", c.text),
                ),
                (RouteContext::Request, _, _) => {
                    return Err(format!("{at}: \"request\" context requires a 'condition'"));
                }
                (RouteContext::Ottl(k), Some(c), None) => (
                    Matcher::Ottl(Some(
                        Condition::compile(&c.text, k).map_err(|e| format!("{at}::condition: {}", c.describe(&e)))?,
                    )),
                    format!("route() where {}", c.text),
                ),
                (RouteContext::Ottl(k), None, Some(s)) => (
                    Matcher::Ottl(compile_statement(s, k).map_err(|e| format!("{at}::statement: {e}"))?),
                    s.text.clone(),
                ),
                (RouteContext::Ottl(_), _, _) => unreachable!("one of condition and statement, checked above"),
            };
            let key = match context {
                RouteContext::Ottl(ContextKind::Resource) | RouteContext::Request => key,
                c => format!("[{}] {key}", c.name()),
            };
            routes.push(Route { context, matcher, pipelines: r.pipelines.clone(), key });
        }
        Ok(routes)
    }
}

impl ComponentConfig for RoutingConfig {
    fn validate(&self) -> Result<(), String> {
        self.compile().map(|_| ())
    }
}
