//! Contexts (which item a statement runs on) and the paths each one reads and writes.
//!
//! Paths are the Collector's (`pkg/ottl/contexts/*/README.md`). A path may name its context
//! (`span.name`, `resource.attributes["k"]`, `instrumentation_scope.name` or `scope.name`), or
//! leave it out when the statement's context is given (the `context:` of a statement group,
//! the key of a `filter` condition): then it is a field of that context.

use crate::ast::{Key, Path, Span};
use crate::error::OttlError;
use crate::node::Field;

/// The item a statement or condition runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContextKind {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Metric,
    DataPoint,
    Log,
}

impl ContextKind {
    pub const ALL: [ContextKind; 7] = [
        ContextKind::Resource,
        ContextKind::Scope,
        ContextKind::Span,
        ContextKind::SpanEvent,
        ContextKind::Metric,
        ContextKind::DataPoint,
        ContextKind::Log,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ContextKind::Resource => "resource",
            ContextKind::Scope => "scope",
            ContextKind::Span => "span",
            ContextKind::SpanEvent => "spanevent",
            ContextKind::Metric => "metric",
            ContextKind::DataPoint => "datapoint",
            ContextKind::Log => "log",
        }
    }

    /// A context by its configuration name (case-insensitive, as the Collector reads it).
    pub fn parse(s: &str) -> Option<ContextKind> {
        let s = s.to_ascii_lowercase();
        ContextKind::ALL.into_iter().find(|c| c.name() == s)
    }

    /// A path prefix naming a context (`instrumentation_scope` is `scope`'s older name).
    fn from_prefix(s: &str) -> Option<ContextKind> {
        match s {
            "instrumentation_scope" => Some(ContextKind::Scope),
            _ => ContextKind::ALL.into_iter().find(|c| c.name() == s),
        }
    }

    /// The contexts whose paths a statement of this context can use (itself and its parents).
    pub fn readable(self) -> &'static [ContextKind] {
        use ContextKind::*;
        match self {
            Resource => &[Resource],
            Scope => &[Resource, Scope],
            Span => &[Resource, Scope, Span],
            SpanEvent => &[Resource, Scope, Span, SpanEvent],
            Metric => &[Resource, Scope, Metric],
            DataPoint => &[Resource, Scope, Metric, DataPoint],
            Log => &[Resource, Scope, Log],
        }
    }

    /// How deep the context sits (resource 0 … span event and data point 3).
    pub fn depth(self) -> u8 {
        use ContextKind::*;
        match self {
            Resource => 0,
            Scope => 1,
            Span | Metric | Log => 2,
            SpanEvent | DataPoint => 3,
        }
    }
}

/// What a path points at, once resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Field(Field),
    Attributes,
    Cache,
    /// `trace_id.string`, `span_id.string`, `parent_span_id.string`: the id in hex.
    IdString(Field),
    /// `kind.string` (`Server`) or `kind.deprecated_string` (`SPAN_KIND_SERVER`).
    KindString {
        deprecated: bool,
    },
    /// `start_time`, `end_time`, `time`, `observed_time`: the nanoseconds as a time.
    TimeOf(Field),
    /// `body.string`: the body as a string.
    BodyString,
}

/// A resolved path: the context whose item it reads, what in it, and the keys that follow.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedPath<'p> {
    pub level: ContextKind,
    pub target: Target,
    pub keys: &'p [Key],
    pub span: Span,
}

/// Which context a path names explicitly (its first segment), if any.
pub fn path_context(p: &Path) -> Option<ContextKind> {
    let first = &p.segments[0];
    if p.segments.len() > 1 || first.name == "resource" {
        ContextKind::from_prefix(&first.name)
    } else {
        None
    }
}

/// Resolves `p` for a statement of context `ctx`. `explicit` says whether the context was
/// given (then paths without a context name are fields of `ctx`).
pub(crate) fn resolve(p: &Path, ctx: ContextKind, explicit: bool) -> Result<ResolvedPath<'_>, OttlError> {
    let segs = &p.segments;
    let (level, rest) = match path_context(p) {
        Some(level) => (level, &segs[1..]),
        None if segs[0].name == "cache" => (ctx, &segs[..]),
        None if explicit => (ctx, &segs[..]),
        None => {
            return Err(OttlError::at(
                segs[0].span,
                format!(
                    "path {:?} names no context; prefix it with one of {} (e.g. {}.{})",
                    segs[0].name,
                    ctx.readable().iter().map(|c| c.name()).collect::<Vec<_>>().join(", "),
                    ctx.name(),
                    segs[0].name
                ),
            ))
        }
    };
    if !ctx.readable().contains(&level) {
        return Err(OttlError::at(
            segs[0].span,
            format!(
                "a {} statement cannot use {} paths (it can use {})",
                ctx.name(),
                level.name(),
                ctx.readable().iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let Some(first) = rest.first() else {
        return Err(OttlError::at(
            p.span,
            format!("path {:?} names a whole {}; name one of its fields", segs[0].name, level.name()),
        ));
    };
    let names: Vec<&str> = rest.iter().map(|s| s.name.as_str()).collect();
    let unknown = || {
        OttlError::at(
            Span::new(first.span.start, rest.last().map_or(first.span.end, |s| s.span.end)),
            format!("{} has no path {:?}; it has {}", level.name(), names.join("."), field_names(level).join(", ")),
        )
    };
    // Keys may only follow the last segment.
    if rest[..rest.len() - 1].iter().any(|s| !s.keys.is_empty()) {
        return Err(unknown());
    }
    let target = target_of(level, &names).ok_or_else(unknown)?;
    let keys = &rest[rest.len() - 1].keys;
    let keyed = matches!(target, Target::Attributes | Target::Cache | Target::Field(Field::Body | Field::TraceState));
    if !keys.is_empty() && !keyed {
        return Err(OttlError::at(keys[0].span(), format!("{} cannot be indexed", names.join("."))));
    }
    Ok(ResolvedPath { level, target, keys, span: p.span })
}

fn target_of(level: ContextKind, names: &[&str]) -> Option<Target> {
    use ContextKind::*;
    use Field as F;
    let t = match (level, names) {
        (_, ["cache"]) => Target::Cache,
        (Metric, ["metadata"]) => Target::Attributes,
        (Metric, _) => match names {
            ["name"] => Target::Field(F::Name),
            ["description"] => Target::Field(F::Description),
            ["unit"] => Target::Field(F::Unit),
            ["type"] => Target::Field(F::Type),
            ["aggregation_temporality"] => Target::Field(F::AggregationTemporality),
            ["is_monotonic"] => Target::Field(F::IsMonotonic),
            _ => return None,
        },
        (_, ["attributes"]) => Target::Attributes,
        (_, ["dropped_attributes_count"]) => Target::Field(F::DroppedAttributesCount),
        (Resource, _) => return None,
        (Scope, ["name"]) => Target::Field(F::Name),
        (Scope, ["version"]) => Target::Field(F::Version),
        (Scope, _) => return None,
        (Span, names) => match names {
            ["trace_id"] => Target::Field(F::TraceId),
            ["trace_id", "string"] => Target::IdString(F::TraceId),
            ["span_id"] => Target::Field(F::SpanId),
            ["span_id", "string"] => Target::IdString(F::SpanId),
            ["parent_span_id"] => Target::Field(F::ParentSpanId),
            ["parent_span_id", "string"] => Target::IdString(F::ParentSpanId),
            ["trace_state"] => Target::Field(F::TraceState),
            ["name"] => Target::Field(F::Name),
            ["kind"] => Target::Field(F::Kind),
            ["kind", "string"] => Target::KindString { deprecated: false },
            ["kind", "deprecated_string"] => Target::KindString { deprecated: true },
            ["start_time_unix_nano"] => Target::Field(F::StartTime),
            ["end_time_unix_nano"] => Target::Field(F::EndTime),
            ["start_time"] => Target::TimeOf(F::StartTime),
            ["end_time"] => Target::TimeOf(F::EndTime),
            ["dropped_events_count"] => Target::Field(F::DroppedEventsCount),
            ["dropped_links_count"] => Target::Field(F::DroppedLinksCount),
            ["status", "code"] => Target::Field(F::StatusCode),
            ["status", "message"] => Target::Field(F::StatusMessage),
            ["flags"] => Target::Field(F::Flags),
            _ => return None,
        },
        (SpanEvent, names) => match names {
            ["name"] => Target::Field(F::Name),
            ["time_unix_nano"] => Target::Field(F::Time),
            ["time"] => Target::TimeOf(F::Time),
            _ => return None,
        },
        (Log, names) => match names {
            ["time_unix_nano"] => Target::Field(F::Time),
            ["observed_time_unix_nano"] => Target::Field(F::ObservedTime),
            ["time"] => Target::TimeOf(F::Time),
            ["observed_time"] => Target::TimeOf(F::ObservedTime),
            ["severity_number"] => Target::Field(F::SeverityNumber),
            ["severity_text"] => Target::Field(F::SeverityText),
            ["body"] => Target::Field(F::Body),
            ["body", "string"] => Target::BodyString,
            ["flags"] => Target::Field(F::Flags),
            ["trace_id"] => Target::Field(F::TraceId),
            ["trace_id", "string"] => Target::IdString(F::TraceId),
            ["span_id"] => Target::Field(F::SpanId),
            ["span_id", "string"] => Target::IdString(F::SpanId),
            ["event_name"] => Target::Field(F::EventName),
            _ => return None,
        },
        (DataPoint, names) => match names {
            ["start_time_unix_nano"] => Target::Field(F::StartTime),
            ["time_unix_nano"] => Target::Field(F::Time),
            ["start_time"] => Target::TimeOf(F::StartTime),
            ["time"] => Target::TimeOf(F::Time),
            ["value_double"] => Target::Field(F::ValueDouble),
            ["value_int"] => Target::Field(F::ValueInt),
            ["flags"] => Target::Field(F::Flags),
            ["count"] => Target::Field(F::Count),
            ["sum"] => Target::Field(F::Sum),
            ["scale"] => Target::Field(F::Scale),
            ["zero_count"] => Target::Field(F::ZeroCount),
            ["bucket_counts"] => Target::Field(F::BucketCounts),
            ["explicit_bounds"] => Target::Field(F::ExplicitBounds),
            _ => return None,
        },
    };
    Some(t)
}

/// The path names of a context, for error messages and the README.
pub fn field_names(level: ContextKind) -> &'static [&'static str] {
    use ContextKind::*;
    match level {
        Resource => &["attributes", "dropped_attributes_count", "cache"],
        Scope => &["name", "version", "attributes", "dropped_attributes_count", "cache"],
        Span => &[
            "trace_id",
            "trace_id.string",
            "span_id",
            "span_id.string",
            "parent_span_id",
            "parent_span_id.string",
            "trace_state",
            "trace_state[\"key\"]",
            "name",
            "kind",
            "kind.string",
            "kind.deprecated_string",
            "start_time_unix_nano",
            "end_time_unix_nano",
            "start_time",
            "end_time",
            "attributes",
            "dropped_attributes_count",
            "dropped_events_count",
            "dropped_links_count",
            "status.code",
            "status.message",
            "flags",
            "cache",
        ],
        SpanEvent => &["name", "time_unix_nano", "time", "attributes", "dropped_attributes_count", "cache"],
        Log => &[
            "time_unix_nano",
            "observed_time_unix_nano",
            "time",
            "observed_time",
            "severity_number",
            "severity_text",
            "body",
            "body.string",
            "attributes",
            "dropped_attributes_count",
            "flags",
            "trace_id",
            "trace_id.string",
            "span_id",
            "span_id.string",
            "event_name",
            "cache",
        ],
        Metric => {
            &["name", "description", "unit", "type", "aggregation_temporality", "is_monotonic", "metadata", "cache"]
        }
        DataPoint => &[
            "attributes",
            "start_time_unix_nano",
            "time_unix_nano",
            "start_time",
            "time",
            "value_double",
            "value_int",
            "flags",
            "count",
            "sum",
            "scale",
            "zero_count",
            "bucket_counts",
            "explicit_bounds",
            "cache",
        ],
    }
}

/// The enum symbols a context knows, with their values.
pub fn enum_value(ctx: ContextKind, name: &str) -> Option<i64> {
    use weir_core::pdata::enums::{AggregationTemporality, SeverityNumber, SpanKind, StatusCode};
    let readable = ctx.readable();
    if readable.contains(&ContextKind::Span) {
        if let Some(k) = SpanKind::from_ottl_name(name) {
            return Some(k.as_i32().into());
        }
        if let Some(c) = StatusCode::from_ottl_name(name) {
            return Some(c.as_i32().into());
        }
    }
    if readable.contains(&ContextKind::Log) {
        if let Some(s) = SeverityNumber::from_ottl_name(name) {
            return Some(s.0.into());
        }
    }
    if readable.contains(&ContextKind::Metric) {
        if let Some(t) = AggregationTemporality::from_ottl_name(name) {
            return Some(t.as_i32().into());
        }
        let types = [
            "METRIC_DATA_TYPE_NONE",
            "METRIC_DATA_TYPE_GAUGE",
            "METRIC_DATA_TYPE_SUM",
            "METRIC_DATA_TYPE_HISTOGRAM",
            "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM",
            "METRIC_DATA_TYPE_SUMMARY",
        ];
        if let Some(i) = types.iter().position(|t| *t == name) {
            return Some(i as i64);
        }
        // Data point flags.
        match name {
            "FLAG_NONE" => return Some(0),
            "FLAG_NO_RECORDED_VALUE" => return Some(1),
            _ => {}
        }
    }
    None
}
