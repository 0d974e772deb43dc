//! The functions: editors (lower case, change data) and converters (upper case, compute a
//! value), with the Collector's names, arguments and behaviour (`pkg/ottl/ottlfuncs`).
//!
//! Arguments that upstream takes as literals (regular expressions, case names, strategies) are
//! checked and compiled once here; a regular expression larger than [`MAX_REGEX_SIZE`] once
//! compiled is refused.

use crate::ast::{Call, Expr};
use crate::compile::{bind, Compiler};
use crate::error::{eval_err, EvalError, OttlError};
use crate::eval::{Ctx, Getter, PathGet};
use crate::text;
use crate::value::{json_to_ovalue, ListV, MapV, OMap, OValue, Value};
use regex::Regex;
use std::borrow::Cow;

/// Largest compiled regular expression accepted (bytes of the compiled program), so that a
/// hostile pattern cannot take unbounded memory.
pub const MAX_REGEX_SIZE: usize = 1 << 20;

/// The editors weir has.
pub const EDITORS: &[&str] = &[
    "append",
    "delete_key",
    "delete_matching_keys",
    "flatten",
    "keep_keys",
    "keep_matching_keys",
    "limit",
    "merge_maps",
    "replace_all_matches",
    "replace_all_patterns",
    "replace_match",
    "replace_pattern",
    "set",
    "truncate_all",
];

/// The converters weir has.
pub const CONVERTERS: &[&str] = &[
    "Base64Decode",
    "Bool",
    "Concat",
    "ConvertCase",
    "Day",
    "Decode",
    "Double",
    "Duration",
    "ExtractPatterns",
    "FNV",
    "Format",
    "FormatTime",
    "HasPrefix",
    "HasSuffix",
    "Hex",
    "Hour",
    "Hours",
    "Int",
    "IsBool",
    "IsDouble",
    "IsInt",
    "IsList",
    "IsMap",
    "IsMatch",
    "IsRootSpan",
    "IsString",
    "Len",
    "Log",
    "MD5",
    "Microseconds",
    "Milliseconds",
    "Minute",
    "Minutes",
    "Month",
    "Nanosecond",
    "Nanoseconds",
    "Now",
    "ParseJSON",
    "ParseKeyValue",
    "SHA1",
    "SHA256",
    "SHA512",
    "Second",
    "Seconds",
    "SliceToMap",
    "Sort",
    "SpanID",
    "Split",
    "String",
    "Substring",
    "Time",
    "ToCamelCase",
    "ToKeyValueString",
    "ToLowerCase",
    "ToSnakeCase",
    "ToUpperCase",
    "TraceID",
    "Trim",
    "TruncateTime",
    "URL",
    "UUID",
    "Unix",
    "UnixMicro",
    "UnixMilli",
    "UnixNano",
    "UnixSeconds",
    "Weekday",
    "Year",
];

fn regex(e: &Expr, what: &str) -> Result<Regex, OttlError> {
    let Expr::Str(s, span) = e else {
        return Err(OttlError::at(e.span(), format!("{what} must be a string literal")));
    };
    regex::RegexBuilder::new(s)
        .size_limit(MAX_REGEX_SIZE)
        .dfa_size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|err| OttlError::at(*span, format!("invalid regular expression {s:?}: {err}")))
}

/// A glob (`*` any text, `?` one character, `[...]` a class, `{a,b}` alternatives) as a regex.
fn glob(e: &Expr) -> Result<Regex, OttlError> {
    let Expr::Str(s, span) = e else { return Err(OttlError::at(e.span(), "the pattern must be a string literal")) };
    let mut re = String::from("^(?s:");
    let mut in_alt = 0;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' || c == '[' {
                        re.push('\\');
                    }
                    re.push(c);
                }
                re.push(']');
            }
            '{' => {
                in_alt += 1;
                re.push_str("(?:");
            }
            '}' if in_alt > 0 => {
                in_alt -= 1;
                re.push(')');
            }
            ',' if in_alt > 0 => re.push('|'),
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push_str(")$");
    regex::RegexBuilder::new(&re)
        .size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|err| OttlError::at(*span, format!("invalid pattern {s:?}: {err}")))
}

fn literal_str(e: &Expr, what: &str) -> Result<String, OttlError> {
    match e {
        Expr::Str(s, _) => Ok(s.clone()),
        other => Err(OttlError::at(other.span(), format!("{what} must be a string literal"))),
    }
}

fn literal_int(e: &Expr, what: &str) -> Result<i64, OttlError> {
    match e {
        Expr::Int(i, _) => Ok(*i),
        other => Err(OttlError::at(other.span(), format!("{what} must be an int literal"))),
    }
}

fn target_path(c: &Compiler, e: &Expr) -> Result<PathGet, OttlError> {
    match e {
        Expr::Path(p) => c.path(p),
        other => Err(OttlError::at(other.span(), "the target must be a path (e.g. span.attributes)")),
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Case {
    Lower,
    Upper,
    Snake,
    Camel,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Hash {
    Sha256,
    Sha1,
    Md5,
    Fnv,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum TypeCheck {
    String,
    Int,
    Double,
    Bool,
    Map,
    List,
}

/// A part of a time (`Year` … `Weekday`), in UTC.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimePart {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Nanosecond,
    Weekday,
}

/// A duration in a unit (`Hours` … `Nanoseconds`): Go's float hours, minutes and seconds,
/// integer milli-, micro- and nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DurationUnit {
    Hours,
    Minutes,
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// `Decode`'s encodings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encoding {
    Base64,
    Base64Raw,
    Base64Url,
    Base64RawUrl,
    Utf8,
    Latin1,
    Ascii,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    Nano,
    Micro,
    Milli,
    Seconds,
}

/// A compiled converter.
#[derive(Debug)]
pub(crate) enum Converter {
    Concat(Getter, Getter),
    IsMatch(Getter, Regex),
    Len(Getter),
    Int(Getter),
    Double(Getter),
    String(Getter),
    Bool(Getter),
    ParseJson(Getter),
    Hash(Getter, Hash),
    Split(Getter, Getter),
    Substring(Getter, Getter, Getter),
    ConvertCase(Getter, Case),
    Is(Getter, TypeCheck),
    Id(Getter, usize),
    HasPrefix(Getter, Getter),
    HasSuffix(Getter, Getter),
    ExtractPatterns(Getter, Regex),
    Log(Getter),
    Hex(Getter),
    Now,
    Time(Getter, String, Option<String>),
    Unix(Getter, Unit),
    Duration(Getter),
    TruncateTime(Getter, Getter),
    IsRootSpan,
    ParseKeyValue(Getter, String, String),
    ToKeyValueString(Getter, String, String, bool),
    Format(String, Getter),
    Trim(Getter, String),
    Uuid,
    Sha512(Getter),
    Decode(Getter, Encoding),
    Url(Getter),
    Sort(Getter, bool),
    SliceToMap(Getter, Vec<String>, Option<Vec<String>>),
    TimePart(Getter, TimePart),
    DurationIn(Getter, DurationUnit),
    UnixTime(Getter, Getter),
    FormatTime(Getter, String),
}

/// An optional string literal argument, refused when empty (the key-value delimiters).
fn delimiter(e: Option<&Expr>, what: &str, default: &str) -> Result<String, OttlError> {
    match e {
        None => Ok(default.to_string()),
        Some(e) => match literal_str(e, what)? {
            d if d.is_empty() => Err(OttlError::at(e.span(), format!("{what} cannot be set to an empty string"))),
            d => Ok(d),
        },
    }
}

/// A list of string literals (`SliceToMap`'s paths).
fn literal_strs(e: &Expr, what: &str) -> Result<Vec<String>, OttlError> {
    match e {
        Expr::List(items, _) => items.iter().map(|i| literal_str(i, what)).collect(),
        other => Err(OttlError::at(other.span(), format!("{what} must be a list of string literals"))),
    }
}

pub(crate) fn converter(c: &Compiler, call: &Call) -> Result<Converter, OttlError> {
    let g = |e: Option<&Expr>| -> Result<Getter, OttlError> {
        match e {
            Some(e) => c.getter(e),
            None => Ok(Getter::Lit(Value::Nil)),
        }
    };
    let one = |name: &str| -> Result<Getter, OttlError> { g(bind(call, &[(name, true)])?[0]) };
    Ok(match call.name.as_str() {
        "Concat" => {
            let a = bind(call, &[("vals", true), ("delimiter", true)])?;
            Converter::Concat(g(a[0])?, g(a[1])?)
        }
        "IsMatch" => {
            let a = bind(call, &[("target", true), ("pattern", true)])?;
            Converter::IsMatch(g(a[0])?, regex(a[1].expect("required"), "the pattern")?)
        }
        "Len" => Converter::Len(one("target")?),
        "Int" => Converter::Int(one("target")?),
        "Double" => Converter::Double(one("target")?),
        "String" => Converter::String(one("target")?),
        "Bool" => Converter::Bool(one("target")?),
        "ParseJSON" => Converter::ParseJson(one("target")?),
        "SHA256" => Converter::Hash(one("target")?, Hash::Sha256),
        "SHA1" => Converter::Hash(one("target")?, Hash::Sha1),
        "MD5" => Converter::Hash(one("target")?, Hash::Md5),
        "FNV" => Converter::Hash(one("target")?, Hash::Fnv),
        "Split" => {
            let a = bind(call, &[("target", true), ("delimiter", true)])?;
            Converter::Split(g(a[0])?, g(a[1])?)
        }
        "Substring" => {
            let a = bind(call, &[("target", true), ("start", true), ("length", true)])?;
            Converter::Substring(g(a[0])?, g(a[1])?, g(a[2])?)
        }
        "ConvertCase" => {
            let a = bind(call, &[("target", true), ("toCase", true)])?;
            let case = match literal_str(a[1].expect("required"), "toCase")?.as_str() {
                "lower" => Case::Lower,
                "upper" => Case::Upper,
                "snake" => Case::Snake,
                "camel" => Case::Camel,
                other => {
                    return Err(OttlError::at(
                        a[1].expect("required").span(),
                        format!("invalid case: {other}, allowed cases are: lower, upper, snake, camel"),
                    ))
                }
            };
            Converter::ConvertCase(g(a[0])?, case)
        }
        "ToLowerCase" => Converter::ConvertCase(one("target")?, Case::Lower),
        "ToUpperCase" => Converter::ConvertCase(one("target")?, Case::Upper),
        "ToSnakeCase" => Converter::ConvertCase(one("target")?, Case::Snake),
        "ToCamelCase" => Converter::ConvertCase(one("target")?, Case::Camel),
        "IsString" => Converter::Is(one("value")?, TypeCheck::String),
        "IsInt" => Converter::Is(one("value")?, TypeCheck::Int),
        "IsDouble" => Converter::Is(one("value")?, TypeCheck::Double),
        "IsBool" => Converter::Is(one("value")?, TypeCheck::Bool),
        "IsMap" => Converter::Is(one("value")?, TypeCheck::Map),
        "IsList" => Converter::Is(one("value")?, TypeCheck::List),
        "SpanID" => Converter::Id(one("bytes")?, 8),
        "TraceID" => Converter::Id(one("bytes")?, 16),
        "HasPrefix" => {
            let a = bind(call, &[("target", true), ("prefix", true)])?;
            Converter::HasPrefix(g(a[0])?, g(a[1])?)
        }
        "HasSuffix" => {
            let a = bind(call, &[("target", true), ("suffix", true)])?;
            Converter::HasSuffix(g(a[0])?, g(a[1])?)
        }
        "ExtractPatterns" => {
            let a = bind(call, &[("target", true), ("pattern", true)])?;
            let re = regex(a[1].expect("required"), "the pattern")?;
            if re.capture_names().flatten().next().is_none() {
                return Err(OttlError::at(
                    a[1].expect("required").span(),
                    "at least 1 named capture group must be supplied in the given regex",
                ));
            }
            Converter::ExtractPatterns(g(a[0])?, re)
        }
        "Log" => Converter::Log(one("value")?),
        "Hex" => Converter::Hex(one("value")?),
        "Now" => {
            bind(call, &[])?;
            Converter::Now
        }
        "Time" => {
            let a = bind(call, &[("time", true), ("format", true), ("location", false), ("locale", false)])?;
            let format = literal_str(a[1].expect("required"), "the format")?;
            let location = a[2].map(|e| literal_str(e, "the location")).transpose()?;
            Converter::Time(g(a[0])?, format, location)
        }
        "UnixNano" => Converter::Unix(one("time")?, Unit::Nano),
        "UnixMicro" => Converter::Unix(one("time")?, Unit::Micro),
        "UnixMilli" => Converter::Unix(one("time")?, Unit::Milli),
        "UnixSeconds" => Converter::Unix(one("time")?, Unit::Seconds),
        "Duration" => Converter::Duration(one("duration")?),
        "TruncateTime" => {
            let a = bind(call, &[("time", true), ("duration", true)])?;
            Converter::TruncateTime(g(a[0])?, g(a[1])?)
        }
        "ParseKeyValue" | "ToKeyValueString" => {
            let to_string = call.name == "ToKeyValueString";
            let mut params = vec![("target", true), ("delimiter", false), ("pair_delimiter", false)];
            if to_string {
                params.push(("sort_output", false));
            }
            let a = bind(call, &params)?;
            let d = delimiter(a[1], "delimiter", "=")?;
            let p = delimiter(a[2], "pair delimiter", " ")?;
            if d == p {
                return Err(OttlError::at(
                    call.name_span,
                    format!("pair delimiter {p:?} cannot be equal to delimiter {d:?}"),
                ));
            }
            if to_string {
                let sort = match a.get(3).copied().flatten() {
                    None => false,
                    Some(Expr::Bool(b, _)) => *b,
                    Some(e) => return Err(OttlError::at(e.span(), "sort_output must be true or false")),
                };
                Converter::ToKeyValueString(g(a[0])?, d, p, sort)
            } else {
                Converter::ParseKeyValue(g(a[0])?, d, p)
            }
        }
        "Format" => {
            let a = bind(call, &[("format", true), ("vals", true)])?;
            Converter::Format(literal_str(a[0].expect("required"), "the format")?, g(a[1])?)
        }
        "Trim" => {
            let a = bind(call, &[("target", true), ("replacement", false)])?;
            let cutset = a[1].map(|e| literal_str(e, "the replacement")).transpose()?;
            Converter::Trim(g(a[0])?, cutset.unwrap_or_else(|| " ".into()))
        }
        "UUID" => {
            bind(call, &[])?;
            Converter::Uuid
        }
        "SHA512" => Converter::Sha512(one("target")?),
        "Base64Decode" => Converter::Decode(one("target")?, Encoding::Base64),
        "Decode" => {
            let a = bind(call, &[("target", true), ("encoding", true)])?;
            let e = a[1].expect("required");
            let encoding = match literal_str(e, "the encoding")?.to_ascii_lowercase().as_str() {
                "base64" => Encoding::Base64,
                "base64-raw" => Encoding::Base64Raw,
                "base64-url" => Encoding::Base64Url,
                "base64-raw-url" => Encoding::Base64RawUrl,
                "utf-8" | "utf8" | "nop" | "" => Encoding::Utf8,
                "iso-8859-1" | "latin1" | "latin-1" => Encoding::Latin1,
                "us-ascii" | "ascii" => Encoding::Ascii,
                other => {
                    return Err(OttlError::at(
                        e.span(),
                        format!(
                            "unsupported encoding '{other}'; weir decodes base64, base64-raw, base64-url, \
                             base64-raw-url, utf-8, iso-8859-1 and us-ascii"
                        ),
                    ))
                }
            };
            Converter::Decode(g(a[0])?, encoding)
        }
        "URL" => Converter::Url(one("url")?),
        "Sort" => {
            let a = bind(call, &[("target", true), ("order", false)])?;
            let descending = match a[1].map(|e| literal_str(e, "the order")).transpose()?.as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(o) => {
                    return Err(OttlError::at(
                        a[1].expect("given").span(),
                        format!("invalid arguments: {o}. Order should be either \"asc\" or \"desc\""),
                    ))
                }
            };
            Converter::Sort(g(a[0])?, descending)
        }
        "SliceToMap" => {
            let a = bind(call, &[("target", true), ("key_path", true), ("value_path", false)])?;
            let key_path = literal_strs(a[1].expect("required"), "key_path")?;
            if key_path.is_empty() {
                return Err(OttlError::at(
                    a[1].expect("required").span(),
                    "key path must contain at least one element",
                ));
            }
            let value_path = a[2].map(|e| literal_strs(e, "value_path")).transpose()?;
            Converter::SliceToMap(g(a[0])?, key_path, value_path)
        }
        "Year" => Converter::TimePart(one("time")?, TimePart::Year),
        "Month" => Converter::TimePart(one("time")?, TimePart::Month),
        "Day" => Converter::TimePart(one("time")?, TimePart::Day),
        "Hour" => Converter::TimePart(one("time")?, TimePart::Hour),
        "Minute" => Converter::TimePart(one("time")?, TimePart::Minute),
        "Second" => Converter::TimePart(one("time")?, TimePart::Second),
        "Nanosecond" => Converter::TimePart(one("time")?, TimePart::Nanosecond),
        "Weekday" => Converter::TimePart(one("time")?, TimePart::Weekday),
        "Hours" => Converter::DurationIn(one("duration")?, DurationUnit::Hours),
        "Minutes" => Converter::DurationIn(one("duration")?, DurationUnit::Minutes),
        "Seconds" => Converter::DurationIn(one("duration")?, DurationUnit::Seconds),
        "Milliseconds" => Converter::DurationIn(one("duration")?, DurationUnit::Milliseconds),
        "Microseconds" => Converter::DurationIn(one("duration")?, DurationUnit::Microseconds),
        "Nanoseconds" => Converter::DurationIn(one("duration")?, DurationUnit::Nanoseconds),
        "Unix" => {
            let a = bind(call, &[("seconds", true), ("nanoseconds", false)])?;
            Converter::UnixTime(g(a[0])?, g(a[1])?)
        }
        "FormatTime" => {
            let a = bind(call, &[("time", true), ("format", true)])?;
            let format = literal_str(a[1].expect("required"), "the format")?;
            if format.is_empty() {
                return Err(OttlError::at(a[1].expect("required").span(), "format cannot be nil"));
            }
            Converter::FormatTime(g(a[0])?, format)
        }
        "IsRootSpan" => {
            bind(call, &[])?;
            if !c.ctx.readable().contains(&crate::ContextKind::Span) {
                return Err(OttlError::at(call.name_span, "IsRootSpan can only be used on spans"));
            }
            Converter::IsRootSpan
        }
        other => {
            return Err(OttlError::at(
                call.name_span,
                format!("undefined function {other:?}; the converters weir has are {}", CONVERTERS.join(", ")),
            ))
        }
    })
}

fn string_like<'b>(v: &Value<'b>) -> Result<Option<Cow<'b, str>>, EvalError> {
    v.to_string_like()
}

fn need_str<'b>(v: Value<'b>, what: &str) -> Result<Cow<'b, str>, EvalError> {
    match v {
        Value::Str(s) => Ok(s),
        other => eval_err(format!("{what} must be a string, got a {}", other.type_name())),
    }
}

fn need_int(v: Value<'_>, what: &str) -> Result<i64, EvalError> {
    match v {
        Value::Int(i) => Ok(i),
        other => eval_err(format!("{what} must be an int, got a {}", other.type_name())),
    }
}

fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn camel(s: &str) -> String {
    s.split(['_', '-', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

impl Converter {
    pub(crate) fn eval<'b>(&self, ctx: &'b Ctx<'_, '_>) -> Result<Value<'b>, EvalError> {
        Ok(match self {
            Converter::Concat(vals, delim) => {
                let delim = need_str(delim.eval(ctx)?, "the delimiter")?;
                let Value::List(l) = vals.eval(ctx)? else { return eval_err("Concat takes a list of values") };
                let mut out = String::new();
                for (i, v) in l.items()?.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&delim);
                    }
                    match v {
                        Value::Nil => out.push_str("<nil>"),
                        Value::Map(_) | Value::List(_) => {}
                        v => out.push_str(&string_like(v)?.unwrap_or_default()),
                    }
                }
                Value::string(out)
            }
            Converter::IsMatch(target, re) => match string_like(&target.eval(ctx)?)? {
                None => Value::Bool(false),
                Some(s) => Value::Bool(re.is_match(&s)),
            },
            Converter::Len(target) => Value::Int(match target.eval(ctx)? {
                Value::Str(s) => s.len() as i64,
                Value::Bytes(b) => b.len() as i64,
                Value::Map(m) => m.len()? as i64,
                Value::List(l) => l.len()? as i64,
                other => return eval_err(format!("Len: unsupported type {}", other.type_name())),
            }),
            Converter::Int(target) => target.eval(ctx)?.to_int_like().map_or(Value::Nil, Value::Int),
            Converter::Double(target) => target.eval(ctx)?.to_float_like().map_or(Value::Nil, Value::Double),
            Converter::Bool(target) => match target.eval(ctx)? {
                Value::Bool(b) => Value::Bool(b),
                Value::Int(i) => Value::Bool(i != 0),
                Value::Double(d) => Value::Bool(d != 0.0),
                Value::Str(s) => match s.as_ref() {
                    "true" | "True" | "TRUE" | "t" | "T" | "1" => Value::Bool(true),
                    "false" | "False" | "FALSE" | "f" | "F" | "0" => Value::Bool(false),
                    _ => Value::Nil,
                },
                _ => Value::Nil,
            },
            Converter::String(target) => match string_like(&target.eval(ctx)?)? {
                Some(s) => Value::string(s.into_owned()),
                None => Value::Nil,
            },
            Converter::ParseJson(target) => {
                let v = target.eval(ctx)?;
                let s = need_str(v, "ParseJSON's target")?;
                let j: serde_json::Value =
                    serde_json::from_str(&s).map_err(|e| EvalError(format!("ParseJSON: {e}")))?;
                match json_to_ovalue(&j, 0) {
                    OValue::Map(m) => Value::Map(MapV::Owned(m)),
                    OValue::List(l) => Value::List(ListV::Owned(l)),
                    _ => return eval_err("ParseJSON: the JSON is not an object or an array"),
                }
            }
            Converter::Hash(target, h) => {
                let Some(s) = string_like(&target.eval(ctx)?)? else { return Ok(Value::Nil) };
                use sha2::Digest;
                match h {
                    Hash::Sha256 => Value::string(hex::encode(sha2::Sha256::digest(s.as_bytes()))),
                    Hash::Sha1 => Value::string(hex::encode(sha1::Sha1::digest(s.as_bytes()))),
                    Hash::Md5 => Value::string(hex::encode(md5::Md5::digest(s.as_bytes()))),
                    Hash::Fnv => {
                        let mut h: u64 = 0xcbf29ce484222325;
                        for b in s.as_bytes() {
                            h ^= u64::from(*b);
                            h = h.wrapping_mul(0x100000001b3);
                        }
                        Value::Int(h as i64)
                    }
                }
            }
            Converter::Split(target, delim) => {
                let delim = need_str(delim.eval(ctx)?, "the delimiter")?;
                match target.eval(ctx)? {
                    Value::Nil => Value::Nil,
                    v => {
                        let s = need_str(v, "Split's target")?;
                        let parts: Vec<OValue> = if delim.is_empty() {
                            s.chars().map(|c| OValue::Str(c.to_string())).collect()
                        } else {
                            s.split(delim.as_ref()).map(|p| OValue::Str(p.to_string())).collect()
                        };
                        Value::List(ListV::Owned(parts))
                    }
                }
            }
            Converter::Substring(target, start, length) => {
                let start = need_int(start.eval(ctx)?, "start")?;
                let length = need_int(length.eval(ctx)?, "length")?;
                match target.eval(ctx)? {
                    Value::Nil => Value::Nil,
                    v => {
                        let s = need_str(v, "Substring's target")?;
                        if start < 0 || length <= 0 || (start + length) as usize > s.len() {
                            return eval_err(format!(
                                "invalid range for substring function, {start} cannot be negative or greater than {}",
                                s.len()
                            ));
                        }
                        match s.get(start as usize..(start + length) as usize) {
                            Some(sub) => Value::string(sub.to_string()),
                            None => return eval_err("Substring: the range splits a UTF-8 character"),
                        }
                    }
                }
            }
            Converter::ConvertCase(target, case) => match target.eval(ctx)? {
                Value::Nil => Value::Nil,
                v => {
                    let s = need_str(v, "the target")?;
                    Value::string(match case {
                        Case::Lower => s.to_lowercase(),
                        Case::Upper => s.to_uppercase(),
                        Case::Snake => snake(&s),
                        Case::Camel => camel(&s),
                    })
                }
            },
            Converter::Is(v, t) => {
                let v = v.eval(ctx)?;
                Value::Bool(matches!(
                    (t, v),
                    (TypeCheck::String, Value::Str(_))
                        | (TypeCheck::Int, Value::Int(_))
                        | (TypeCheck::Double, Value::Double(_))
                        | (TypeCheck::Bool, Value::Bool(_))
                        | (TypeCheck::Map, Value::Map(_))
                        | (TypeCheck::List, Value::List(_))
                ))
            }
            Converter::Id(bytes, n) => match bytes.eval(ctx)? {
                Value::Bytes(b) if b.len() == *n => Value::Bytes(b),
                Value::Bytes(b) => return eval_err(format!("the id must be {n} bytes, got {}", b.len())),
                other => return eval_err(format!("the id must be bytes, got a {}", other.type_name())),
            },
            Converter::HasPrefix(t, p) => {
                let t = need_str(t.eval(ctx)?, "the target")?;
                Value::Bool(t.starts_with(need_str(p.eval(ctx)?, "the prefix")?.as_ref()))
            }
            Converter::HasSuffix(t, p) => {
                let t = need_str(t.eval(ctx)?, "the target")?;
                Value::Bool(t.ends_with(need_str(p.eval(ctx)?, "the suffix")?.as_ref()))
            }
            Converter::ExtractPatterns(t, re) => {
                let t = need_str(t.eval(ctx)?, "the target")?;
                let mut out: OMap = Vec::new();
                if let Some(caps) = re.captures(&t) {
                    for name in re.capture_names().flatten() {
                        if let Some(m) = caps.name(name) {
                            out.push((name.to_string(), OValue::Str(m.as_str().to_string())));
                        }
                    }
                }
                Value::Map(MapV::Owned(out))
            }
            Converter::Log(v) => match v.eval(ctx)?.to_float_like() {
                Some(f) if f > 0.0 => Value::Double(f.ln()),
                Some(_) => return eval_err("Log: the value must be greater than 0"),
                None => return eval_err("Log: the value must be a number"),
            },
            Converter::Hex(v) => match v.eval(ctx)? {
                Value::Bytes(b) => Value::string(hex::encode(b.as_ref())),
                Value::Str(s) => Value::string(hex::encode(s.as_bytes())),
                Value::Int(i) => Value::string(hex::encode(i.to_be_bytes())),
                Value::Double(d) => Value::string(hex::encode(d.to_bits().to_be_bytes())),
                Value::Bool(b) => Value::string(hex::encode([u8::from(b)])),
                other => return eval_err(format!("Hex: unsupported type {}", other.type_name())),
            },
            Converter::Now => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                Value::Time(now.as_nanos() as i64)
            }
            Converter::Time(t, format, location) => {
                let s = need_str(t.eval(ctx)?, "the time")?;
                Value::Time(parse_time(&s, format, location.as_deref())?)
            }
            Converter::Unix(t, unit) => match t.eval(ctx)? {
                Value::Time(n) => Value::Int(match unit {
                    Unit::Nano => n,
                    Unit::Micro => n.div_euclid(1_000),
                    Unit::Milli => n.div_euclid(1_000_000),
                    Unit::Seconds => n.div_euclid(1_000_000_000),
                }),
                other => return eval_err(format!("expected a time, got a {}", other.type_name())),
            },
            Converter::Duration(d) => Value::Duration(parse_duration(&need_str(d.eval(ctx)?, "the duration")?)?),
            Converter::TruncateTime(t, d) => match (t.eval(ctx)?, d.eval(ctx)?) {
                (Value::Time(t), Value::Duration(d)) if d > 0 => Value::Time(t - t.rem_euclid(d)),
                (Value::Time(t), Value::Duration(_)) => Value::Time(t),
                _ => return eval_err("TruncateTime takes a time and a duration"),
            },
            Converter::IsRootSpan => {
                let p = ctx.node(crate::ContextKind::Span)?.field(crate::node::Field::ParentSpanId)?;
                Value::Bool(matches!(p, Value::Bytes(b) if b.iter().all(|b| *b == 0)))
            }
            Converter::ParseKeyValue(t, d, p) => {
                let source = need_str(t.eval(ctx)?, "ParseKeyValue's target")?;
                Value::Map(MapV::Owned(text::parse_key_value(&source, d, p).map_err(EvalError)?))
            }
            Converter::ToKeyValueString(t, d, p, sort) => match t.eval(ctx)? {
                Value::Map(m) => Value::string(text::to_key_value_string(&m.to_owned_map(0)?, d, p, *sort)),
                other => return eval_err(format!("ToKeyValueString takes a map, got a {}", other.type_name())),
            },
            Converter::Format(format, vals) => {
                let Value::List(l) = vals.eval(ctx)? else { return eval_err("Format takes a list of values") };
                Value::string(text::go_format(format, &l.items()?))
            }
            Converter::Trim(t, cutset) => {
                let s = need_str(t.eval(ctx)?, "Trim's target")?;
                Value::string(s.trim_matches(|c| cutset.contains(c)).to_string())
            }
            Converter::Uuid => {
                let mut b: [u8; 16] = rand::random();
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                let h = hex::encode(b);
                Value::string(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
            }
            Converter::Sha512(t) => {
                use sha2::Digest;
                let s = need_str(t.eval(ctx)?, "SHA512's target")?;
                Value::string(hex::encode(sha2::Sha512::digest(s.as_bytes())))
            }
            Converter::Decode(t, encoding) => {
                let v = t.eval(ctx)?;
                let bytes: Cow<'_, [u8]> = match &v {
                    Value::Bytes(b) => Cow::Borrowed(b.as_ref()),
                    other => match string_like(other)? {
                        Some(s) => Cow::Owned(s.into_owned().into_bytes()),
                        None => {
                            return eval_err(format!(
                                "unsupported type provided to Decode function: {}",
                                other.type_name()
                            ))
                        }
                    },
                };
                Value::string(decode(&bytes, *encoding)?)
            }
            Converter::Url(u) => {
                let s = need_str(u.eval(ctx)?, "URL's argument")?;
                Value::Map(MapV::Owned(text::parse_url(&s).map_err(EvalError)?))
            }
            Converter::Sort(t, descending) => match t.eval(ctx)? {
                Value::List(l) => Value::List(ListV::Owned(sort_values(l.to_owned_list(0)?, *descending))),
                other => {
                    return eval_err(format!(
                        "sort with unsupported type: '{}'. Target is not a list",
                        other.type_name()
                    ))
                }
            },
            Converter::SliceToMap(t, key_path, value_path) => {
                let Value::List(l) = t.eval(ctx)? else {
                    return eval_err("unsupported type provided to SliceToMap function: not a list");
                };
                let mut out: OMap = Vec::new();
                for elem in l.to_owned_list(0)? {
                    let OValue::Map(m) = &elem else {
                        return eval_err(format!(
                            "could not cast element '{}' to map[string]any",
                            text::as_string(&elem)
                        ));
                    };
                    let key = match extract_path(m, key_path) {
                        Some(OValue::Str(k)) => k.clone(),
                        Some(_) => return eval_err("extracted key attribute is not of type string"),
                        None => {
                            return eval_err(format!(
                                "could not extract key from element: provided object does not contain the path {key_path:?}"
                            ))
                        }
                    };
                    let value = match value_path {
                        None => elem.clone(),
                        Some(path) => extract_path(m, path).cloned().ok_or_else(|| {
                            EvalError(format!(
                                "could not extract value from element: provided object does not contain the path {path:?}"
                            ))
                        })?,
                    };
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = value,
                        None => out.push((key, value)),
                    }
                }
                Value::Map(MapV::Owned(out))
            }
            Converter::TimePart(t, part) => match t.eval(ctx)? {
                Value::Time(n) => {
                    use chrono::{Datelike, Timelike};
                    let t = chrono::DateTime::from_timestamp_nanos(n);
                    Value::Int(match part {
                        TimePart::Year => i64::from(t.year()),
                        TimePart::Month => i64::from(t.month()),
                        TimePart::Day => i64::from(t.day()),
                        TimePart::Hour => i64::from(t.hour()),
                        TimePart::Minute => i64::from(t.minute()),
                        TimePart::Second => i64::from(t.second()),
                        TimePart::Nanosecond => i64::from(t.nanosecond() % 1_000_000_000),
                        TimePart::Weekday => i64::from(t.weekday().num_days_from_sunday()),
                    })
                }
                other => return eval_err(format!("expected a time, got a {}", other.type_name())),
            },
            Converter::DurationIn(d, unit) => match d.eval(ctx)? {
                Value::Duration(n) => match unit {
                    // Go splits whole and fractional parts so large durations stay exact.
                    DurationUnit::Hours => Value::Double(go_float_units(n, 3_600_000_000_000)),
                    DurationUnit::Minutes => Value::Double(go_float_units(n, 60_000_000_000)),
                    DurationUnit::Seconds => Value::Double(go_float_units(n, 1_000_000_000)),
                    DurationUnit::Milliseconds => Value::Int(n / 1_000_000),
                    DurationUnit::Microseconds => Value::Int(n / 1_000),
                    DurationUnit::Nanoseconds => Value::Int(n),
                },
                other => return eval_err(format!("expected a duration, got a {}", other.type_name())),
            },
            Converter::UnixTime(s, ns) => {
                let secs = need_int(s.eval(ctx)?, "seconds")?;
                let nanos = match ns.eval(ctx)? {
                    Value::Nil => 0,
                    v => need_int(v, "nanoseconds")?,
                };
                Value::Time(
                    secs.checked_mul(1_000_000_000)
                        .and_then(|s| s.checked_add(nanos))
                        .ok_or_else(|| EvalError("Unix: the time is out of range".into()))?,
                )
            }
            Converter::FormatTime(t, format) => match t.eval(ctx)? {
                Value::Time(n) => {
                    use std::fmt::Write;
                    let format = format.replace("%L", "%3f");
                    let mut out = String::new();
                    write!(out, "{}", chrono::DateTime::from_timestamp_nanos(n).format(&format))
                        .map_err(|_| EvalError(format!("FormatTime: invalid format {format:?}")))?;
                    Value::string(out)
                }
                other => return eval_err(format!("FormatTime takes a time, got a {}", other.type_name())),
            },
        })
    }
}

/// Go's `Duration.Hours()` (and minutes, seconds): whole units plus the fraction.
fn go_float_units(n: i64, unit: i64) -> f64 {
    (n / unit) as f64 + (n % unit) as f64 / unit as f64
}

/// The value at `path` in nested maps.
fn extract_path<'m>(m: &'m [(String, OValue)], path: &[String]) -> Option<&'m OValue> {
    let (first, rest) = path.split_first()?;
    let v = m.iter().rev().find(|(k, _)| k == first).map(|(_, v)| v)?;
    match (rest.is_empty(), v) {
        (true, v) => Some(v),
        (false, OValue::Map(inner)) => extract_path(inner, rest),
        _ => None,
    }
}

/// `Sort`: numbers as numbers (ints and doubles together as doubles), everything else
/// (strings, bools, empties, mixes) as strings; lists of maps, lists or bytes unchanged.
fn sort_values(mut items: Vec<OValue>, descending: bool) -> Vec<OValue> {
    if items.iter().any(|v| matches!(v, OValue::Map(_) | OValue::List(_) | OValue::Bytes(_))) {
        return items;
    }
    let numeric = items.iter().all(|v| matches!(v, OValue::Int(_) | OValue::Double(_)));
    let any_double = items.iter().any(|v| matches!(v, OValue::Double(_)));
    if numeric && any_double {
        let mut v: Vec<f64> = items
            .iter()
            .map(|v| match v {
                OValue::Int(i) => *i as f64,
                OValue::Double(d) => *d,
                _ => unreachable!("checked numeric"),
            })
            .collect();
        v.sort_by(|a, b| if descending { b.total_cmp(a) } else { a.total_cmp(b) });
        return v.into_iter().map(OValue::Double).collect();
    }
    if numeric {
        items.sort_by_key(|v| if let OValue::Int(i) = v { *i } else { 0 });
        if descending {
            items.reverse();
        }
        return items;
    }
    let mut v: Vec<String> = items.iter().map(text::as_string).collect();
    v.sort();
    if descending {
        v.reverse();
    }
    v.into_iter().map(OValue::Str).collect()
}

/// `Decode`: base64 variants give their bytes as text; text encodings decode to UTF-8.
fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, EvalError> {
    use base64::engine::general_purpose as b64;
    use base64::Engine;
    let b64 = |engine: &b64::GeneralPurpose| {
        engine
            .decode(bytes)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| EvalError(format!("could not decode: {e}")))
    };
    match encoding {
        Encoding::Base64 => b64(&b64::STANDARD),
        Encoding::Base64Raw => b64(&b64::STANDARD_NO_PAD),
        Encoding::Base64Url => b64(&b64::URL_SAFE),
        Encoding::Base64RawUrl => b64(&b64::URL_SAFE_NO_PAD),
        Encoding::Utf8 => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Encoding::Latin1 => Ok(bytes.iter().map(|b| char::from(*b)).collect()),
        Encoding::Ascii => Ok(bytes.iter().map(|b| if b.is_ascii() { char::from(*b) } else { '\u{FFFD}' }).collect()),
    }
}

/// Go's `time.ParseDuration`: `1h2m`, `300ms`, `-1.5h`, `2us`, `0`.
pub fn parse_duration(s: &str) -> Result<i64, EvalError> {
    let bad = || EvalError(format!("invalid duration {s:?}"));
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * unit;
        rest = &rest[u..];
    }
    Ok(if neg { -total as i64 } else { total as i64 })
}

/// The Collector's `Time` formats are strptime-like (`%Y-%m-%d %H:%M:%S`); chrono reads the
/// same directives. A format without a zone reads the time in `location` (UTC by default;
/// only `UTC`/`Local` and fixed offsets are known here).
fn parse_time(s: &str, format: &str, location: Option<&str>) -> Result<i64, EvalError> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
    let to_nanos =
        |t: DateTime<chrono::Utc>| t.timestamp_nanos_opt().ok_or_else(|| EvalError("time out of range".into()));
    // Go's `%L` (milliseconds) is chrono's `%3f`.
    let format = format.replace("%L", "%3f");
    if let Ok(t) = DateTime::parse_from_str(s, &format) {
        return to_nanos(t.with_timezone(&chrono::Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, &format)
        .or_else(|_| NaiveDate::parse_from_str(s, &format).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight")))
        .map_err(|e| EvalError(format!("Time: cannot parse {s:?} with {format:?}: {e}")))?;
    let utc = match location {
        None | Some("UTC") | Some("") => chrono::Utc.from_utc_datetime(&naive),
        Some("Local") => chrono::Local
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| EvalError("ambiguous local time".into()))?,
        Some(other) => return eval_err(format!("Time: unknown location {other:?} (weir knows UTC and Local)")),
    };
    to_nanos(utc)
}

// ---------------------------------------------------------------------------------------------
// Editors
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Key,
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Strategy {
    Insert,
    Update,
    Upsert,
}

/// A compiled editor.
#[derive(Debug)]
pub(crate) enum Editor {
    Set(PathGet, Getter),
    DeleteKey(PathGet, Getter),
    DeleteMatchingKeys(PathGet, Regex),
    KeepKeys(PathGet, Getter),
    KeepMatchingKeys(PathGet, Regex),
    TruncateAll(PathGet, usize),
    Limit(PathGet, usize, Vec<String>),
    ReplacePattern(PathGet, Regex, Getter, Option<Converter>),
    ReplaceAllPatterns(PathGet, Mode, Regex, Getter, Option<Converter>),
    ReplaceMatch(PathGet, Regex, Getter),
    ReplaceAllMatches(PathGet, Regex, Getter),
    MergeMaps(PathGet, Getter, Strategy),
    Flatten(PathGet, Option<String>, usize),
    Append(PathGet, Option<Getter>, Option<Getter>),
}

/// The optional hash function of the `replace_*` editors (`SHA256`, …), given by name.
fn replacement_function(c: &Compiler, e: Option<&Expr>) -> Result<Option<Converter>, OttlError> {
    let Some(e) = e else { return Ok(None) };
    let (Expr::Enum(name, span) | Expr::Str(name, span)) = e else {
        return Err(OttlError::at(
            e.span(),
            "the function must be the name of a hash converter (SHA256, SHA1, MD5, FNV)",
        ));
    };
    let _ = c;
    let h = match name.as_str() {
        "SHA256" => Hash::Sha256,
        "SHA1" => Hash::Sha1,
        "MD5" => Hash::Md5,
        "FNV" => Hash::Fnv,
        other => {
            return Err(OttlError::at(*span, format!("{other:?} cannot be used as a replacement function")));
        }
    };
    Ok(Some(Converter::Hash(Getter::Lit(Value::Nil), h)))
}

pub(crate) fn editor(c: &Compiler, call: &Call) -> Result<Editor, OttlError> {
    let g = |e: Option<&Expr>| -> Result<Getter, OttlError> { c.getter(e.expect("required argument")) };
    fn req<'e>(a: &[Option<&'e Expr>], i: usize) -> &'e Expr {
        a[i].expect("required argument")
    }
    Ok(match call.name.as_str() {
        "set" => {
            let a = bind(call, &[("target", true), ("value", true)])?;
            Editor::Set(target_path(c, req(&a, 0))?, g(a[1])?)
        }
        "delete_key" => {
            let a = bind(call, &[("target", true), ("key", true)])?;
            Editor::DeleteKey(target_path(c, req(&a, 0))?, g(a[1])?)
        }
        "delete_matching_keys" => {
            let a = bind(call, &[("target", true), ("pattern", true)])?;
            Editor::DeleteMatchingKeys(target_path(c, req(&a, 0))?, regex(req(&a, 1), "the pattern")?)
        }
        "keep_keys" => {
            let a = bind(call, &[("target", true), ("keys", true)])?;
            Editor::KeepKeys(target_path(c, req(&a, 0))?, g(a[1])?)
        }
        "keep_matching_keys" => {
            let a = bind(call, &[("target", true), ("pattern", true)])?;
            Editor::KeepMatchingKeys(target_path(c, req(&a, 0))?, regex(req(&a, 1), "the pattern")?)
        }
        "truncate_all" => {
            let a = bind(call, &[("target", true), ("limit", true)])?;
            let limit = literal_int(req(&a, 1), "the limit")?;
            if limit < 0 {
                return Err(OttlError::at(
                    req(&a, 1).span(),
                    format!("invalid limit for truncate_all function, {limit} cannot be negative"),
                ));
            }
            Editor::TruncateAll(target_path(c, req(&a, 0))?, limit as usize)
        }
        "limit" => {
            let a = bind(call, &[("target", true), ("limit", true), ("priority_keys", true)])?;
            let limit = literal_int(req(&a, 1), "the limit")?;
            if limit < 0 {
                return Err(OttlError::at(
                    req(&a, 1).span(),
                    format!("invalid limit for limit function, {limit} cannot be negative"),
                ));
            }
            let Expr::List(items, _) = req(&a, 2) else {
                return Err(OttlError::at(req(&a, 2).span(), "priority_keys must be a list of strings"));
            };
            let keys = items.iter().map(|e| literal_str(e, "a priority key")).collect::<Result<Vec<_>, _>>()?;
            if keys.len() as i64 > limit {
                return Err(OttlError::at(
                    req(&a, 2).span(),
                    format!("number of priority keys can't be greater than limit: {limit}"),
                ));
            }
            Editor::Limit(target_path(c, req(&a, 0))?, limit as usize, keys)
        }
        "replace_pattern" => {
            let a = bind(
                call,
                &[
                    ("target", true),
                    ("regex", true),
                    ("replacement", true),
                    ("function", false),
                    ("replacementFormat", false),
                ],
            )?;
            Editor::ReplacePattern(
                target_path(c, req(&a, 0))?,
                regex(req(&a, 1), "the regex")?,
                g(a[2])?,
                replacement_function(c, a[3])?,
            )
        }
        "replace_all_patterns" => {
            let a = bind(
                call,
                &[
                    ("target", true),
                    ("mode", true),
                    ("regex", true),
                    ("replacement", true),
                    ("function", false),
                    ("replacementFormat", false),
                ],
            )?;
            let mode = match literal_str(req(&a, 1), "the mode")?.as_str() {
                "key" => Mode::Key,
                "value" => Mode::Value,
                other => {
                    return Err(OttlError::at(
                        req(&a, 1).span(),
                        format!("invalid mode {other}, must be either 'key' or 'value'"),
                    ))
                }
            };
            Editor::ReplaceAllPatterns(
                target_path(c, req(&a, 0))?,
                mode,
                regex(req(&a, 2), "the regex")?,
                g(a[3])?,
                replacement_function(c, a[4])?,
            )
        }
        "replace_match" => {
            let a = bind(
                call,
                &[
                    ("target", true),
                    ("pattern", true),
                    ("replacement", true),
                    ("function", false),
                    ("replacementFormat", false),
                ],
            )?;
            Editor::ReplaceMatch(target_path(c, req(&a, 0))?, glob(req(&a, 1))?, g(a[2])?)
        }
        "replace_all_matches" => {
            let a = bind(
                call,
                &[
                    ("target", true),
                    ("pattern", true),
                    ("replacement", true),
                    ("function", false),
                    ("replacementFormat", false),
                ],
            )?;
            Editor::ReplaceAllMatches(target_path(c, req(&a, 0))?, glob(req(&a, 1))?, g(a[2])?)
        }
        "merge_maps" => {
            let a = bind(call, &[("target", true), ("source", true), ("strategy", true)])?;
            let strategy = match literal_str(req(&a, 2), "the strategy")?.as_str() {
                "insert" => Strategy::Insert,
                "update" => Strategy::Update,
                "upsert" => Strategy::Upsert,
                other => {
                    return Err(OttlError::at(
                        req(&a, 2).span(),
                        format!("invalid value for strategy, {other}, must be 'insert', 'update' or 'upsert'"),
                    ))
                }
            };
            Editor::MergeMaps(target_path(c, req(&a, 0))?, g(a[1])?, strategy)
        }
        "flatten" => {
            let a = bind(call, &[("target", true), ("prefix", false), ("depth", false), ("resolveConflicts", false)])?;
            let prefix = a[1].map(|e| literal_str(e, "the prefix")).transpose()?;
            let depth = match a[2] {
                Some(e) => {
                    let d = literal_int(e, "the depth")?;
                    if d < 0 {
                        return Err(OttlError::at(
                            e.span(),
                            format!("invalid depth '{d}' for flatten function, depth cannot be negative"),
                        ));
                    }
                    d as usize
                }
                None => crate::value::MAX_VALUE_DEPTH,
            };
            Editor::Flatten(target_path(c, req(&a, 0))?, prefix, depth)
        }
        "append" => {
            let a = bind(call, &[("target", true), ("value", false), ("values", false)])?;
            if a[1].is_none() && a[2].is_none() {
                return Err(OttlError::at(
                    call.span,
                    "at least one of the optional arguments ('value' or 'values') must be provided",
                ));
            }
            Editor::Append(
                target_path(c, req(&a, 0))?,
                a[1].map(|e| c.getter(e)).transpose()?,
                a[2].map(|e| c.getter(e)).transpose()?,
            )
        }
        other if other.starts_with(|ch: char| ch.is_ascii_uppercase()) => {
            return Err(OttlError::at(
                call.name_span,
                format!("editor names must start with a lowercase letter but got '{other}'"),
            ))
        }
        other => {
            return Err(OttlError::at(
                call.name_span,
                format!("undefined function {other:?}; the editors weir has are {}", EDITORS.join(", ")),
            ))
        }
    })
}

fn hash_str(f: &Option<Converter>, s: &str) -> String {
    match f {
        Some(Converter::Hash(_, h)) => {
            use sha2::Digest;
            match h {
                Hash::Sha256 => hex::encode(sha2::Sha256::digest(s.as_bytes())),
                Hash::Sha1 => hex::encode(sha1::Sha1::digest(s.as_bytes())),
                Hash::Md5 => hex::encode(md5::Md5::digest(s.as_bytes())),
                Hash::Fnv => {
                    let mut h: u64 = 0xcbf29ce484222325;
                    for b in s.as_bytes() {
                        h ^= u64::from(*b);
                        h = h.wrapping_mul(0x100000001b3);
                    }
                    h.to_string()
                }
            }
        }
        _ => s.to_string(),
    }
}

/// Replaces every match of `re` in `s` (Go's `ReplaceAllString`: `$1`, `${name}` expand).
fn replace_all(re: &Regex, s: &str, replacement: &str, f: &Option<Converter>) -> String {
    if f.is_none() {
        return re.replace_all(s, replacement).into_owned();
    }
    re.replace_all(s, |caps: &regex::Captures<'_>| {
        let mut expanded = String::new();
        caps.expand(replacement, &mut expanded);
        hash_str(f, &expanded)
    })
    .into_owned()
}

fn truncate_utf8(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn flatten_into(out: &mut OMap, prefix: &str, m: &OMap, depth: usize, max: usize) {
    for (k, v) in m {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            OValue::Map(inner) if depth < max => flatten_into(out, &key, inner, depth + 1, max),
            OValue::List(items) if depth < max => {
                for (i, item) in items.iter().enumerate() {
                    let ikey = format!("{key}.{i}");
                    match item {
                        OValue::Map(inner) => flatten_into(out, &ikey, inner, depth + 1, max),
                        other => out.push((ikey, other.clone())),
                    }
                }
            }
            other => out.push((key, other.clone())),
        }
    }
}

impl Editor {
    pub(crate) fn apply(&self, ctx: &mut Ctx<'_, '_>) -> Result<(), EvalError> {
        match self {
            Editor::Set(target, value) => {
                let v = value.eval(ctx)?.into_static();
                // No field takes nil: setting nil does nothing, as in the Collector.
                if !v.is_nil() {
                    target.set(ctx, v)?;
                }
            }
            Editor::DeleteKey(target, key) => {
                let key = need_str(key.eval(ctx)?, "the key")?.into_owned();
                if let Some(m) = target.map_mut(ctx)? {
                    m.retain(|(k, _)| *k != key);
                }
            }
            Editor::DeleteMatchingKeys(target, re) => {
                if let Some(m) = target.map_mut(ctx)? {
                    m.retain(|(k, _)| !re.is_match(k));
                }
            }
            Editor::KeepKeys(target, keys) => {
                let keys: Vec<String> = match keys.eval(ctx)? {
                    Value::List(l) => l.items()?.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                    Value::Str(s) => vec![s.into_owned()],
                    other => return eval_err(format!("keep_keys takes a list of keys, got a {}", other.type_name())),
                };
                if let Some(m) = target.map_mut(ctx)? {
                    m.retain(|(k, _)| keys.contains(k));
                }
            }
            Editor::KeepMatchingKeys(target, re) => {
                if let Some(m) = target.map_mut(ctx)? {
                    m.retain(|(k, _)| re.is_match(k));
                }
            }
            Editor::TruncateAll(target, limit) => {
                if let Some(m) = target.map_mut(ctx)? {
                    for (_, v) in m.iter_mut() {
                        if let OValue::Str(s) = v {
                            let t = truncate_utf8(s, *limit).len();
                            s.truncate(t);
                        }
                    }
                }
            }
            Editor::Limit(target, limit, priority) => {
                if let Some(m) = target.map_mut(ctx)? {
                    if m.len() > *limit {
                        let present = m.iter().filter(|(k, _)| priority.contains(k)).count();
                        let mut others = limit.saturating_sub(present);
                        m.retain(|(k, _)| {
                            if priority.contains(k) {
                                return true;
                            }
                            if others > 0 {
                                others -= 1;
                                return true;
                            }
                            false
                        });
                    }
                }
            }
            Editor::ReplacePattern(target, re, replacement, f) => {
                let replacement = need_str(replacement.eval(ctx)?, "the replacement")?.into_owned();
                let current = target.get(ctx)?;
                if let Value::Str(s) = current {
                    let new = replace_all(re, &s, &replacement, f);
                    if new != s.as_ref() {
                        target.set(ctx, Value::string(new))?;
                    }
                }
            }
            Editor::ReplaceAllPatterns(target, mode, re, replacement, f) => {
                let replacement = need_str(replacement.eval(ctx)?, "the replacement")?.into_owned();
                // Only touch the map when something matches, so unmatched items stay as received.
                let matches = match target.get(ctx)? {
                    Value::Map(m) => {
                        let m = m.to_owned_map(0)?;
                        m.iter().any(|(k, v)| match mode {
                            Mode::Key => re.is_match(k),
                            Mode::Value => matches!(v, OValue::Str(s) if re.is_match(s)),
                        })
                    }
                    _ => false,
                };
                if matches {
                    if let Some(m) = target.map_mut(ctx)? {
                        match mode {
                            Mode::Value => {
                                for (_, v) in m.iter_mut() {
                                    if let OValue::Str(s) = v {
                                        if re.is_match(s) {
                                            *s = replace_all(re, s, &replacement, f);
                                        }
                                    }
                                }
                            }
                            Mode::Key => {
                                let mut renamed: OMap = Vec::with_capacity(m.len());
                                for (k, v) in m.drain(..) {
                                    let k = if re.is_match(&k) { replace_all(re, &k, &replacement, f) } else { k };
                                    match renamed.iter_mut().find(|(x, _)| *x == k) {
                                        Some(slot) => slot.1 = v,
                                        None => renamed.push((k, v)),
                                    }
                                }
                                *m = renamed;
                            }
                        }
                    }
                }
            }
            Editor::ReplaceMatch(target, glob, replacement) => {
                let replacement = need_str(replacement.eval(ctx)?, "the replacement")?.into_owned();
                if let Value::Str(s) = target.get(ctx)? {
                    if glob.is_match(&s) {
                        target.set(ctx, Value::string(replacement))?;
                    }
                }
            }
            Editor::ReplaceAllMatches(target, glob, replacement) => {
                let replacement = need_str(replacement.eval(ctx)?, "the replacement")?.into_owned();
                let any = match target.get(ctx)? {
                    Value::Map(m) => {
                        m.to_owned_map(0)?.iter().any(|(_, v)| matches!(v, OValue::Str(s) if glob.is_match(s)))
                    }
                    _ => false,
                };
                if any {
                    if let Some(m) = target.map_mut(ctx)? {
                        for (_, v) in m.iter_mut() {
                            if matches!(v, OValue::Str(s) if glob.is_match(s)) {
                                *v = OValue::Str(replacement.clone());
                            }
                        }
                    }
                }
            }
            Editor::MergeMaps(target, source, strategy) => {
                let source = match source.eval(ctx)? {
                    Value::Map(m) => m.to_owned_map(0)?,
                    Value::Nil => return Ok(()),
                    other => {
                        return eval_err(format!("merge_maps: the source must be a map, got a {}", other.type_name()))
                    }
                };
                if let Some(m) = target.map_mut(ctx)? {
                    for (k, v) in source {
                        let slot = m.iter_mut().find(|(x, _)| *x == k);
                        match (strategy, slot) {
                            (Strategy::Insert | Strategy::Upsert, None) => m.push((k, v)),
                            (Strategy::Update | Strategy::Upsert, Some(slot)) => slot.1 = v,
                            _ => {}
                        }
                    }
                }
            }
            Editor::Flatten(target, prefix, depth) => {
                if let Some(m) = target.map_mut(ctx)? {
                    let mut out = Vec::new();
                    flatten_into(&mut out, prefix.as_deref().unwrap_or(""), m, 0, *depth);
                    *m = out;
                }
            }
            Editor::Append(target, value, values) => {
                let mut add = Vec::new();
                if let Some(v) = value {
                    add.push(v.eval(ctx)?.to_owned_value()?);
                }
                if let Some(vs) = values {
                    match vs.eval(ctx)? {
                        Value::List(l) => add.extend(l.to_owned_list(0)?),
                        other => add.push(other.to_owned_value()?),
                    }
                }
                let list = match target.get(ctx)? {
                    Value::Nil => add,
                    Value::List(l) => {
                        let mut l = l.to_owned_list(0)?;
                        l.extend(add);
                        l
                    }
                    other => {
                        let mut l = vec![other.to_owned_value()?];
                        l.extend(add);
                        l
                    }
                };
                target.set(ctx, Value::List(ListV::Owned(list)))?;
            }
        }
        Ok(())
    }
}
