//! Text helpers of the converters that parse or build strings, with the Collector's rules
//! (`pkg/ottl/ottlfuncs`, `internal/coreinternal/parseutils`): quoted splitting and key-value
//! pairs, `ToKeyValueString`, Go's `fmt.Sprintf` verbs for `Format`, and Go's `url.Parse`
//! split of a URL into the semantic-convention attributes `URL` returns.

use crate::value::{format_double, OMap, OValue, Value};
use std::borrow::Cow;

/// Splits `input` on `delimiter` outside single or double quotes; outer quotes are removed,
/// empty parts (leading, trailing or repeated delimiters) are dropped. An unclosed quote is an
/// error.
pub(crate) fn split_quoted(input: &str, delimiter: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        if quote.is_none() && rest.starts_with(delimiter) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            rest = &rest[delimiter.len()..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if !escaped {
            match quote {
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    continue;
                }
                Some(q) if c == q => {
                    quote = None;
                    continue;
                }
                _ => {}
            }
            escaped = c == '\\';
        } else {
            escaped = false;
        }
        current.push(c);
    }
    if quote.is_some() {
        return Err("never reached the end of a quoted value".into());
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// `ParseKeyValue`: pairs split on `pair_delimiter` (quotes respected), each split on the first
/// `delimiter`; keys and values trimmed. A later key replaces an earlier one.
pub(crate) fn parse_key_value(source: &str, delimiter: &str, pair_delimiter: &str) -> Result<OMap, String> {
    if source.is_empty() {
        return Err("cannot parse from empty target".into());
    }
    let pairs = split_quoted(source, pair_delimiter)
        .map_err(|e| format!("splitting source {source:?} into pairs failed: {e}"))?;
    let mut out: OMap = Vec::with_capacity(pairs.len());
    let mut errors = Vec::new();
    for p in &pairs {
        let Some((k, v)) = p.split_once(delimiter) else {
            errors.push(format!("cannot split {p:?} into 2 items, got 1 item(s)"));
            continue;
        };
        let (k, v) = (k.trim().to_string(), OValue::Str(v.trim().to_string()));
        match out.iter_mut().find(|(key, _)| *key == k) {
            Some(entry) => entry.1 = v,
            None => out.push((k, v)),
        }
    }
    if !errors.is_empty() {
        return Err(format!("failed to split pairs into key-values: {}", errors.join("; ")));
    }
    Ok(out)
}

/// `ToKeyValueString`: `key=value` pairs joined by `pair_delimiter`; a key or value holding
/// either delimiter is quoted, inner `"` escaped.
pub(crate) fn to_key_value_string(map: &OMap, delimiter: &str, pair_delimiter: &str, sort: bool) -> String {
    let quote = |s: &str| {
        let s = s.replace('"', "\\\"");
        if s.contains(pair_delimiter) || s.contains(delimiter) {
            format!("\"{s}\"")
        } else {
            s
        }
    };
    let mut entries: Vec<&(String, OValue)> = map.iter().collect();
    if sort {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
    entries
        .iter()
        .map(|(k, v)| format!("{}{delimiter}{}", quote(k), quote(&as_string(v))))
        .collect::<Vec<_>>()
        .join(pair_delimiter)
}

/// pcommon's `Value.AsString` of an owned value.
pub(crate) fn as_string(v: &OValue) -> String {
    match v {
        OValue::Empty => String::new(),
        OValue::Str(s) => s.clone(),
        OValue::Bool(b) => b.to_string(),
        OValue::Int(i) => i.to_string(),
        OValue::Double(d) => format_double(*d),
        OValue::Bytes(b) => base64_std(b),
        OValue::List(_) | OValue::Map(_) => crate::value::ovalue_to_json(v).to_string(),
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Go's `fmt.Sprintf` for the verbs OTTL configs use: `%v %s %d %f %e %g %t %q %x %X %%`,
/// with flags `-+0 `, width and precision. A verb without an argument prints `%!v(MISSING)`,
/// extra arguments `%!(EXTRA …)`, a verb of the wrong type `%!d(string=…)`, as Go.
pub(crate) fn go_format(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&(_, f)) = chars.peek() {
            if "-+ 0#".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek().is_some_and(|(_, c)| *c == '.') {
            chars.next();
            let mut p = String::new();
            while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let text = format_one(verb, arg, &flags, precision);
        let width: usize = width.parse().unwrap_or(0);
        let len = text.chars().count();
        if len >= width {
            out.push_str(&text);
        } else if flags.contains('-') {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', width - len));
        } else if flags.contains('0') && matches!(verb, 'd' | 'f' | 'e' | 'g' | 'x' | 'X') {
            let (sign, digits) = match text.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", text.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', width - len));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', width - len));
            out.push_str(&text);
        }
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..].iter().map(|a| format!("{}={}", go_type(a), plain(a))).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn go_type(v: &Value<'_>) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int64",
        Value::Double(_) => "float64",
        Value::Str(_) => "string",
        Value::Bytes(_) => "[]uint8",
        Value::Map(_) => "pcommon.Map",
        Value::List(_) => "pcommon.Slice",
        Value::Time(_) => "time.Time",
        Value::Duration(_) => "time.Duration",
    }
}

/// `%v`.
fn plain(v: &Value<'_>) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        Value::Double(d) => format_double(*d),
        Value::Bytes(b) => format!("{:?}", b.as_ref()).replace(',', ""),
        v => v.to_string_like().ok().flatten().map(Cow::into_owned).unwrap_or_default(),
    }
}

fn format_one(verb: char, arg: &Value<'_>, flags: &str, precision: Option<usize>) -> String {
    let bad = || format!("%!{verb}({}={})", go_type(arg), plain(arg));
    let signed = |s: String, positive: bool| if flags.contains('+') && positive { format!("+{s}") } else { s };
    match (verb, arg) {
        ('v', _) => plain(arg),
        ('s', Value::Str(s)) => match precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        },
        ('s', Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        ('s', Value::Nil) => "%!s(<nil>)".into(),
        ('s', Value::Map(_) | Value::List(_) | Value::Time(_) | Value::Duration(_)) => plain(arg),
        ('d', Value::Int(i)) => signed(i.to_string(), *i >= 0),
        ('f' | 'F', Value::Double(d)) => signed(format!("{:.*}", precision.unwrap_or(6), d), *d >= 0.0),
        ('e', Value::Double(d)) => signed(go_exp(*d, precision.unwrap_or(6)), *d >= 0.0),
        ('g', Value::Double(d)) => signed(format_double(*d), *d >= 0.0),
        ('t', Value::Bool(b)) => b.to_string(),
        ('q', Value::Str(s)) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
        ('x', Value::Int(i)) => format!("{i:x}"),
        ('X', Value::Int(i)) => format!("{i:X}"),
        ('x', Value::Str(s)) => hex::encode(s.as_bytes()),
        ('X', Value::Str(s)) => hex::encode_upper(s.as_bytes()),
        ('x', Value::Bytes(b)) => hex::encode(b.as_ref()),
        ('X', Value::Bytes(b)) => hex::encode_upper(b.as_ref()),
        _ => bad(),
    }
}

/// Go's `%e`: `1.234560e+03`.
fn go_exp(d: f64, precision: usize) -> String {
    let s = format!("{d:.precision$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// `URL`: the parts of an absolute or relative URL as `url.*` attributes (Go's `url.Parse`,
/// then the Collector's semantic-convention mapping).
pub(crate) fn parse_url(value: &str) -> Result<OMap, String> {
    if value.is_empty() {
        return Err("url cannot be empty".into());
    }
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(format!("parse {value:?}: net/url: invalid control character in URL"));
    }
    let mut m: OMap = Vec::new();
    let (rest, fragment) = match value.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (value, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    // A scheme: letters, digits, + - . starting with a letter, before the first ':'.
    let (scheme, rest) = match rest.split_once(':') {
        Some((s, r))
            if !s.is_empty()
                && s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s.to_ascii_lowercase(), r)
        }
        Some(("", _)) => return Err(format!("parse {value:?}: missing protocol scheme")),
        _ => (String::new(), rest),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (Some(&r[..i]), &r[i..]),
            None => (Some(r), ""),
        },
        None => (None, rest),
    };
    let mut host = String::new();
    let mut port = None;
    let mut user_info = None;
    if let Some(authority) = authority {
        let host_port = match authority.rsplit_once('@') {
            Some((u, h)) => {
                user_info = Some(u);
                h
            }
            None => authority,
        };
        let (h, p) = if let Some(r) = host_port.strip_prefix('[') {
            match r.split_once(']') {
                Some((h, p)) => (h, p.strip_prefix(':')),
                None => return Err(format!("parse {value:?}: missing ']' in host")),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        host = h.to_string();
        if let Some(p) = p.filter(|p| !p.is_empty()) {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("parse {value:?}: invalid port {:?} after host", format!(":{p}")));
            }
            port = Some(p.parse::<i64>().map_err(|e| e.to_string())?);
        }
    }
    let path = percent_decode(path);
    m.push(("url.original".into(), OValue::Str(value.to_string())));
    m.push(("url.domain".into(), OValue::Str(host)));
    m.push(("url.scheme".into(), OValue::Str(scheme)));
    m.push(("url.path".into(), OValue::Str(path.clone())));
    if let Some(p) = port {
        m.push(("url.port".into(), OValue::Int(p)));
    }
    if let Some(f) = fragment.filter(|f| !f.is_empty()) {
        m.push(("url.fragment".into(), OValue::Str(percent_decode(f))));
    }
    if let Some(u) = user_info {
        m.push(("url.user_info".into(), OValue::Str(u.to_string())));
        let (name, password) = match u.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (u, None),
        };
        if !name.is_empty() {
            m.push(("url.username".into(), OValue::Str(percent_decode(name))));
        }
        if let Some(p) = password {
            m.push(("url.password".into(), OValue::Str(percent_decode(p))));
        }
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        m.push(("url.query".into(), OValue::Str(q.to_string())));
    }
    if let Some(i) = path.rfind('.') {
        if i < path.len() - 1 {
            m.push(("url.extension".into(), OValue::Str(path[i + 1..].to_string())));
        }
    }
    Ok(m)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &OMap) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.clone(), as_string(v))).collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// `parseutils/parser_test.go` and the `ParseKeyValue` README examples.
    #[test]
    fn key_values_as_upstream() {
        assert_eq!(split_quoted(r#"k1=v1 k2="v 2" k3='v 3'"#, " ").unwrap(), ["k1=v1", "k2=v 2", "k3=v 3"]);
        assert_eq!(split_quoted("  a  b ", " ").unwrap(), ["a", "b"]);
        assert_eq!(split_quoted(r#"a||b\"c||"d||e""#, "||").unwrap(), ["a", "b\\\"c", "d||e"]);
        assert!(split_quoted(r#"k="unclosed"#, " ").is_err());
        let m = parse_key_value("name=ottl func=key_value", "=", " ").unwrap();
        assert_eq!(strs(&m), pairs(&[("name", "ottl"), ("func", "key_value")]));
        let m = parse_key_value("k1:v1!k2:v2", ":", "!").unwrap();
        assert_eq!(strs(&m), pairs(&[("k1", "v1"), ("k2", "v2")]));
        let m = parse_key_value(r#"a=1 a=2 url="http://x/?q=1 2""#, "=", " ").unwrap();
        assert_eq!(strs(&m), pairs(&[("a", "2"), ("url", "http://x/?q=1 2")]));
        assert!(parse_key_value("novalue", "=", " ").unwrap_err().contains("cannot split \"novalue\""));
        assert_eq!(parse_key_value("", "=", " ").unwrap_err(), "cannot parse from empty target");
    }

    #[test]
    fn key_value_strings_as_upstream() {
        let m: OMap = vec![
            ("key1".into(), OValue::Str("value1".into())),
            ("key2".into(), OValue::Str("value with space".into())),
            ("k=3".into(), OValue::Int(3)),
            ("q".into(), OValue::Str("a\"b".into())),
        ];
        assert_eq!(to_key_value_string(&m, "=", " ", false), r#"key1=value1 key2="value with space" "k=3"=3 q=a\"b"#);
        assert_eq!(to_key_value_string(&m, "=", " ", true), r#""k=3"=3 key1=value1 key2="value with space" q=a\"b"#);
        assert_eq!(to_key_value_string(&m[..1].to_vec(), ":", ",", false), "key1:value1");
    }

    /// Go's `fmt.Sprintf` results for the same verbs.
    #[test]
    fn format_as_go() {
        let s = |v: &str| Value::string(v.to_string());
        assert_eq!(go_format("%s-%s", &[s("a"), s("b")]), "a-b");
        assert_eq!(go_format("%d items, %.2f%%", &[Value::Int(3), Value::Double(12.3456)]), "3 items, 12.35%");
        assert_eq!(
            go_format("%05d|%-4s|%4s|%+d", &[Value::Int(42), s("ab"), s("ab"), Value::Int(7)]),
            "00042|ab  |  ab|+7"
        );
        assert_eq!(
            go_format("%v %v %v %t", &[Value::Int(1), Value::Double(2.5), Value::Nil, Value::Bool(true)]),
            "1 2.5 <nil> true"
        );
        assert_eq!(go_format("%q %x %X", &[s("a\"b"), Value::Int(255), s("hi")]), r#""a\"b" ff 6869"#);
        assert_eq!(go_format("%e", &[Value::Double(1234.5678)]), "1.234568e+03");
        assert_eq!(go_format("%d %s", &[s("x")]), "%!d(string=x) %!s(MISSING)");
        assert_eq!(go_format("%s", &[s("a"), Value::Int(1)]), "a%!(EXTRA int64=1)");
    }

    /// `parseutils/uri_test.go`'s semantic-convention cases.
    #[test]
    fn urls_as_upstream() {
        let m =
            parse_url("http://myusername:mypassword@www.example.com:80/foo.gif?key1=val1&key2=val2#fragment").unwrap();
        let want = vec![
            (
                "url.original",
                OValue::Str(
                    "http://myusername:mypassword@www.example.com:80/foo.gif?key1=val1&key2=val2#fragment".into(),
                ),
            ),
            ("url.domain", OValue::Str("www.example.com".into())),
            ("url.scheme", OValue::Str("http".into())),
            ("url.path", OValue::Str("/foo.gif".into())),
            ("url.port", OValue::Int(80)),
            ("url.fragment", OValue::Str("fragment".into())),
            ("url.user_info", OValue::Str("myusername:mypassword".into())),
            ("url.username", OValue::Str("myusername".into())),
            ("url.password", OValue::Str("mypassword".into())),
            ("url.query", OValue::Str("key1=val1&key2=val2".into())),
            ("url.extension", OValue::Str("gif".into())),
        ];
        assert_eq!(m, want.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<OMap>());
        let m = parse_url("/v1/traces").unwrap();
        assert_eq!(
            strs(&m),
            pairs(&[
                ("url.original", "/v1/traces"),
                ("url.domain", ""),
                ("url.scheme", ""),
                ("url.path", "/v1/traces")
            ])
        );
        let m = parse_url("https://[::1]:4318/v1/logs").unwrap();
        assert_eq!(m[1].1, OValue::Str("::1".into()));
        assert_eq!(m[4].1, OValue::Int(4318));
        assert!(parse_url("http://host:port/").unwrap_err().contains("invalid port"));
        assert!(parse_url("").is_err());
    }
}
