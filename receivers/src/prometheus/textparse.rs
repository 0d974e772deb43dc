//! The Prometheus text exposition format (0.0.4, and 1.0.0 which adds quoted UTF-8 names) and
//! OpenMetrics 1.0, as Prometheus's `model/textparse` reads them.
//!
//! The parser is strict where Prometheus is: a malformed line fails the whole scrape (the
//! scrape loop then reports `up` 0 and keeps none of the samples). Exemplars are read and
//! skipped; the receiver does not translate them yet.

use std::collections::HashMap;
use std::fmt;

/// The exposition formats weir reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4` (and 1.0.0).
    Text,
    /// `application/openmetrics-text`.
    OpenMetrics,
}

impl Format {
    /// The format a response's `Content-Type` names, or `None` when it names none weir reads.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/openmetrics-text" => Some(Format::OpenMetrics),
            "text/plain" => Some(Format::Text),
            _ => None,
        }
    }
}

/// A metric family's type, as `# TYPE` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// `untyped` (text) or `unknown` (OpenMetrics), and families with no `# TYPE`.
    #[default]
    Unknown,
}

impl MetricType {
    fn parse(s: &str, format: Format) -> Option<MetricType> {
        Some(match (s, format) {
            ("counter", _) => MetricType::Counter,
            ("gauge", _) => MetricType::Gauge,
            ("histogram", _) => MetricType::Histogram,
            ("summary", _) => MetricType::Summary,
            ("untyped", Format::Text) | ("unknown", Format::OpenMetrics) => MetricType::Unknown,
            ("gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
            ("info", Format::OpenMetrics) => MetricType::Info,
            ("stateset", Format::OpenMetrics) => MetricType::StateSet,
            _ => return None,
        })
    }

    /// The name Prometheus's metadata gives the type (`prometheus.type` of the Collector).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// What `# TYPE`, `# HELP` and `# UNIT` said of a family.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (`__name__`).
    pub name: String,
    /// The labels in the order written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The exposed timestamp in milliseconds.
    pub timestamp_ms: Option<i64>,
}

/// A parsed exposition: samples in order and metadata by family name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub metadata: HashMap<String, Metadata>,
}

/// Why an exposition could not be read: the line and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses `body` in `format`.
pub fn parse(body: &str, format: Format) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    let mut eof = false;
    for (i, raw) in body.split('\n').enumerate() {
        let line_no = i + 1;
        let err = |message: String| ParseError { line: line_no, message };
        // A trailing "\n" leaves one empty last piece.
        if raw.is_empty() && i + 1 == body.split('\n').count() {
            break;
        }
        if eof {
            return Err(err("data after # EOF".into()));
        }
        let line = if format == Format::Text { raw.trim_end_matches('\r') } else { raw };
        match format {
            Format::Text => {
                let trimmed = line.trim_start_matches([' ', '\t']);
                if trimmed.is_empty() {
                    continue;
                }
                if let Some(comment) = trimmed.strip_prefix('#') {
                    text_comment(comment, &mut out).map_err(err)?;
                    continue;
                }
                out.samples.push(sample(trimmed, format).map_err(err)?);
            }
            Format::OpenMetrics => {
                if line.is_empty() {
                    return Err(err("unexpected blank line".into()));
                }
                if line == "# EOF" {
                    eof = true;
                    continue;
                }
                if let Some(comment) = line.strip_prefix("# ") {
                    om_comment(comment, &mut out).map_err(err)?;
                    continue;
                }
                if line.starts_with('#') {
                    return Err(err(format!("invalid comment line {line:?}")));
                }
                out.samples.push(sample(line, format).map_err(err)?);
            }
        }
    }
    if format == Format::OpenMetrics && !eof {
        return Err(ParseError { line: body.split('\n').count(), message: "data does not end with # EOF".into() });
    }
    Ok(out)
}

/// A `# HELP` / `# TYPE` line of the text format (other comments are ignored).
fn text_comment(comment: &str, out: &mut Exposition) -> Result<(), String> {
    let comment = comment.trim_start_matches([' ', '\t']);
    let (keyword, rest) = split_token(comment);
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(());
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (name, rest) = metric_name_token(rest)?;
    if name.is_empty() {
        return Err(format!("{keyword} line without a metric name"));
    }
    let rest = rest.strip_prefix([' ', '\t']).unwrap_or(rest);
    let entry = out.metadata.entry(name).or_default();
    if keyword == "HELP" {
        entry.help = unescape_help(rest);
    } else {
        let t = rest.trim();
        entry.metric_type = MetricType::parse(t, Format::Text).ok_or_else(|| format!("invalid metric type {t:?}"))?;
    }
    Ok(())
}

/// A `# HELP`, `# TYPE` or `# UNIT` line of OpenMetrics.
fn om_comment(comment: &str, out: &mut Exposition) -> Result<(), String> {
    let (keyword, rest) = comment.split_once(' ').ok_or_else(|| format!("invalid comment {comment:?}"))?;
    let (name, rest) = metric_name_token(rest)?;
    if name.is_empty() {
        return Err(format!("{keyword} line without a metric name"));
    }
    let value =
        rest.strip_prefix(' ').ok_or_else(|| format!("expected a space after {name:?} in the {keyword} line"))?;
    let entry = out.metadata.entry(name.clone()).or_default();
    match keyword {
        "HELP" => entry.help = unescape_help(value),
        "TYPE" => {
            entry.metric_type =
                MetricType::parse(value, Format::OpenMetrics).ok_or_else(|| format!("invalid metric type {value:?}"))?
        }
        "UNIT" => {
            if !value.is_empty() && !name.ends_with(&format!("_{value}")) {
                return Err(format!("unit {value:?} not a suffix of metric {name:?}"));
            }
            entry.unit = value.to_string();
        }
        _ => return Err(format!("invalid comment keyword {keyword:?}")),
    }
    Ok(())
}

fn split_token(s: &str) -> (&str, &str) {
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// A metric name, bare or quoted; the rest of the line.
fn metric_name_token(s: &str) -> Result<(String, &str), String> {
    if s.starts_with('"') {
        let (name, rest) = quoted(s)?;
        return Ok((name, rest));
    }
    let end = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
    Ok((s[..end].to_string(), &s[end..]))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A double-quoted string with `\\`, `\"`, `\n` escapes at the start of `s`; the rest after the
/// closing quote.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let body = s.strip_prefix('"').ok_or("expected '\"'")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                // Prometheus's lexer takes any escaped character and unescapes only these
                // three; others stay as written.
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err("unterminated quoted string".into()),
            },
            '\n' => return Err("newline in quoted string".into()),
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
fn sample(line: &str, format: Format) -> Result<Sample, String> {
    let ws = |s: &str| -> usize { s.len() - s.trim_start_matches([' ', '\t']).len() };
    let (mut name, mut rest) = if line.starts_with('{') {
        (String::new(), line)
    } else {
        let end = line.find(|c: char| !is_name_char(c)).unwrap_or(line.len());
        if end == 0 || line.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("invalid metric name in {line:?}"));
        }
        (line[..end].to_string(), &line[end..])
    };
    if format == Format::Text && rest[ws(rest)..].starts_with('{') {
        rest = &rest[ws(rest)..];
    }
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = labels_block(after, format, &mut name, &mut labels)?;
    }
    if name.is_empty() {
        return Err(format!("no metric name in {line:?}"));
    }
    let n = ws(rest);
    if n == 0 || (format == Format::OpenMetrics && (n != 1 || !rest.starts_with(' '))) {
        return Err(format!("expected a single space before the value in {line:?}"));
    }
    rest = &rest[n..];
    let (value_s, after) = split_token(rest);
    let value = parse_value(value_s).ok_or_else(|| format!("invalid value {value_s:?}"))?;
    rest = after;
    if format == Format::OpenMetrics && !rest.is_empty() {
        // Exactly one space, then a timestamp or an exemplar.
        let next = rest.strip_prefix(' ').filter(|r| !r.is_empty() && !r.starts_with([' ', '\t']));
        if next.is_none() {
            return Err(format!("unexpected whitespace after the value in {line:?}"));
        }
    }
    let mut timestamp_ms = None;
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if !trimmed.is_empty() && !trimmed.starts_with('#') {
        let (ts, after) = split_token(trimmed);
        if format == Format::OpenMetrics && !after.is_empty() && !after.starts_with(" # {") {
            return Err(format!("unexpected {after:?} after the timestamp"));
        }
        timestamp_ms = Some(match format {
            Format::Text => ts.parse::<i64>().map_err(|_| format!("invalid timestamp {ts:?}"))?,
            Format::OpenMetrics => {
                let secs: f64 =
                    parse_value(ts).filter(|v| v.is_finite()).ok_or_else(|| format!("invalid timestamp {ts:?}"))?;
                (secs * 1000.0) as i64
            }
        });
        rest = after;
    }
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if !trimmed.is_empty() {
        match format {
            Format::OpenMetrics if trimmed.starts_with("# {") => exemplar(&trimmed[2..])?,
            Format::Text => return Err(format!("unexpected {trimmed:?} after the value")),
            Format::OpenMetrics => return Err(format!("unexpected {trimmed:?} after the value")),
        }
    }
    Ok(Sample { name, labels, value, timestamp_ms })
}

/// Checks an exemplar (`{labels} value [timestamp]`), which is skipped.
fn exemplar(s: &str) -> Result<(), String> {
    let mut name = String::from("exemplar");
    let mut labels = Vec::new();
    let body = s.strip_prefix('{').ok_or("invalid exemplar")?;
    let rest = labels_block(body, Format::OpenMetrics, &mut name, &mut labels)?;
    let rest = rest.strip_prefix(' ').ok_or("invalid exemplar: expected a value")?;
    let (v, rest) = split_token(rest);
    parse_value(v).ok_or_else(|| format!("invalid exemplar value {v:?}"))?;
    if let Some(ts) = rest.strip_prefix(' ') {
        parse_value(ts).filter(|t| t.is_finite()).ok_or_else(|| format!("invalid exemplar timestamp {ts:?}"))?;
    } else if !rest.is_empty() {
        return Err(format!("invalid exemplar: unexpected {rest:?}"));
    }
    Ok(())
}

/// The labels after `{` up to `}`; a quoted string without `=` is the metric name (1.0.0 and
/// OpenMetrics with UTF-8 names). Returns what follows `}`.
fn labels_block<'a>(
    mut s: &'a str,
    format: Format,
    name: &mut String,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, String> {
    let skip_ws = |s: &'a str| if format == Format::Text { s.trim_start_matches([' ', '\t']) } else { s };
    loop {
        s = skip_ws(s);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let label = if s.starts_with('"') {
            let (q, rest) = quoted(s)?;
            s = skip_ws(rest);
            if !s.starts_with('=') {
                if !name.is_empty() {
                    return Err(format!("metric name {q:?} given twice"));
                }
                *name = q;
                s = skip_ws(s);
                if let Some(rest) = s.strip_prefix(',') {
                    s = rest;
                } else if !s.starts_with('}') {
                    return Err("expected ',' or '}' in the labels".into());
                }
                continue;
            }
            q
        } else {
            let end = s.find(|c: char| !is_label_char(c)).unwrap_or(s.len());
            if end == 0 || s.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("invalid label name at {s:?}"));
            }
            let l = s[..end].to_string();
            s = skip_ws(&s[end..]);
            l
        };
        s = s.strip_prefix('=').ok_or_else(|| format!("expected '=' after label name {label:?}"))?;
        s = skip_ws(s);
        let (value, rest) = quoted(s)?;
        if labels.iter().any(|(l, _)| *l == label) {
            return Err(format!("duplicate label name {label:?}"));
        }
        labels.push((label, value));
        s = skip_ws(rest);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("expected ',' or '}' in the labels".into());
        }
    }
}

/// A sample value as Go's `strconv.ParseFloat` reads it (`NaN`, `+Inf`, `-Inf`, `1e3`, …).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ if s.is_empty() => None,
        // Go's ParseFloat takes underscores only after a base prefix, which Prometheus
        // values do not have.
        _ if s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// promparse_test.go's TestPromParse input (the parts without native histograms).
    const PROM_INPUT: &str = r#"# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# 	TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25",} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
go_gc_duration_seconds{quantile="0.8", a="b"} 8.3835e-05
go_gc_duration_seconds{ quantile="0.9", a="b"} 8.3835e-05
# Hrandom comment starting with prefix of HELP
#
wind_speed{A="2",c="3"} 12345
# comment with escaped \n newline
# comment with escaped \ escape character
# HELP nohelp1
# HELP nohelp2 
go_gc_duration_seconds{ quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile="1.0", a="b" } 8.3835e-05
go_gc_duration_seconds { quantile= "1.0", a= "b", } 8.3835e-05
go_gc_duration_seconds { quantile = "1.0", a = "b" } 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b="c"}	1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  	123123
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore="foo"} 1
testmetric{label="\"bar\""} 1
testmetric{le="10"} 1
# HELP type_and_unit_test1 Type specified in metadata overrides.
# TYPE type_and_unit_test1 gauge
type_and_unit_test1{__type__="counter"} 123
"#;

    #[test]
    fn text_format_reads_promparse_test_input() {
        let e = parse(PROM_INPUT, Format::Text).expect("valid text");
        let gc = &e.metadata["go_gc_duration_seconds"];
        assert_eq!(gc.help, "A summary of the GC invocation durations.");
        assert_eq!(gc.metric_type, MetricType::Summary, "'#\\tTYPE' is a TYPE line");
        assert_eq!(e.samples[0].labels, labels(&[("quantile", "0")]));
        assert_eq!(e.samples[0].value, 4.9351e-05);
        assert_eq!(e.samples[1].value, 7.424100000000001e-05);
        assert_eq!(e.samples[2].labels, labels(&[("quantile", "0.5"), ("a", "b")]));
        assert_eq!(e.samples[5].name, "wind_speed");
        assert_eq!(e.samples[5].labels, labels(&[("A", "2"), ("c", "3")]));
        assert_eq!(e.metadata["nohelp1"].help, "");
        for s in &e.samples[6..10] {
            assert_eq!(s.name, "go_gc_duration_seconds");
            assert_eq!(s.labels, labels(&[("quantile", "1.0"), ("a", "b")]));
        }
        assert_eq!(e.samples[10].name, "go_gc_duration_seconds_count");
        assert_eq!(e.samples[11].name, "some:aggregate:rate5m");
        assert_eq!(e.samples[12].name, "go_goroutines");
        assert_eq!(e.samples[12].timestamp_ms, Some(123123));
        assert_eq!(e.metadata["go_goroutines"].metric_type, MetricType::Gauge);
        assert_eq!(e.samples[13].name, "_metric_starting_with_underscore");
        assert_eq!(e.samples[15].labels, labels(&[("label", "\"bar\"")]));
        assert_eq!(e.samples.len(), 18);
    }

    #[test]
    fn text_format_reads_quoted_utf8_names() {
        // promparse_test.go TestUTF8PromParse.
        let input = "# HELP \"go.gc_duration_seconds\" A summary of the GC invocation durations.\n# TYPE \"go.gc_duration_seconds\" summary\n{\"go.gc_duration_seconds\",quantile=\"0\"} 4.9351e-05\n{\"go.gc_duration_seconds\",quantile=\"0.25\",} 7.424100000000001e-05\n{\"go.gc_duration_seconds_count\"} 99\n{\"Heizölrückstoßabdämpfung 10€ metric with \\\"interesting\\\" {character\\nchoices}\",\"strange©™\\n'quoted' \\\"name\\\"\"=\"6\"} 10.0\n";
        let e = parse(input, Format::Text).expect("valid text");
        assert_eq!(e.metadata["go.gc_duration_seconds"].metric_type, MetricType::Summary);
        assert_eq!(e.samples[0].name, "go.gc_duration_seconds");
        assert_eq!(e.samples[2].name, "go.gc_duration_seconds_count");
        assert_eq!(e.samples[3].name, "Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}");
        assert_eq!(e.samples[3].labels, labels(&[("strange©™\n'quoted' \"name\"", "6")]));
    }

    #[test]
    fn text_format_errors_name_the_line() {
        // promparse_test.go TestPromParseErrors (a selection).
        for bad in [
            "a",
            "a{b='c'} 1\n",
            "a{b=\n",
            "a{\u{0}=\"b\"} 1\n",
            "a true\n",
            "something_weird{problem=\"\n",
            "empty_label_name{=\"\"} 0\n",
            "foo 1_2\n\n",
            "foo 0x1p-3\n\n",
            "foo 0x1P-3\n\n",
            "foo 0 1_2\n\n",
            "{a=\"ok\"} 1\n",
            "# TYPE #\n#EOF\n",
            "# HELP #\n#EOF\n",
        ] {
            let r = parse(bad, Format::Text);
            assert!(r.is_err(), "{bad:?} must be refused, got {r:?}");
        }
    }

    /// openmetricsparse_test.go's TestOpenMetricsParse input (a selection).
    const OM_INPUT: &str = "# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05
go_gc_duration_seconds{quantile=\"0.25\"} 7.424100000000001e-05
go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05
# HELP nohelp1 
# HELP help2 escape \\ \\n \\\\ \\\" \\x chars
# UNIT nounit 
go_gc_duration_seconds{quantile=\"1.0\",a=\"b\"} 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b=\"c\"} 1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hh histogram
hh_bucket{le=\"+Inf\"} 1
# TYPE gh gaugehistogram
gh_bucket{le=\"+Inf\"} 1
# TYPE hhh histogram
hhh_bucket{le=\"+Inf\"} 1 # {id=\"histogram-bucket-test\"} 4
hhh_count 1 # {id=\"histogram-count-test\"} 4
# TYPE ii info
ii{foo=\"bar\"} 1
# TYPE ss stateset
ss{ss=\"foo\"} 1
ss{ss=\"bar\"} 0
ss{A=\"a\"} 0
# TYPE un unknown
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore=\"foo\"} 1
testmetric{label=\"\\\"bar\\\"\"} 1
# HELP foo Counter with and without labels to certify ST is parsed for both cases
# TYPE foo counter
foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5
foo_created 1520872607.123
foo_total{a=\"b\"} 17.0 1520879607.789 # {id=\"counter-test\"} 5
foo_created{a=\"b\"} 1520872607.123
# EOF
";

    #[test]
    fn openmetrics_reads_openmetricsparse_test_input() {
        let e = parse(OM_INPUT, Format::OpenMetrics).expect("valid OpenMetrics");
        let gc = &e.metadata["go_gc_duration_seconds"];
        assert_eq!((gc.metric_type, gc.unit.as_str()), (MetricType::Summary, "seconds"));
        assert_eq!(e.metadata["help2"].help, "escape \\ \n \\ \" \\x chars");
        let g = e.samples.iter().find(|s| s.name == "go_goroutines").unwrap();
        assert_eq!((g.value, g.timestamp_ms), (33.0, Some(123123)));
        assert_eq!(e.metadata["gh"].metric_type, MetricType::GaugeHistogram);
        assert_eq!(e.metadata["ii"].metric_type, MetricType::Info);
        assert_eq!(e.metadata["ss"].metric_type, MetricType::StateSet);
        let hhh = e.samples.iter().find(|s| s.name == "hhh_bucket").unwrap();
        assert_eq!((hhh.labels.clone(), hhh.value), (labels(&[("le", "+Inf")]), 1.0), "exemplar skipped");
        let foo: Vec<_> = e.samples.iter().filter(|s| s.name.starts_with("foo_")).collect();
        assert_eq!(foo.len(), 4);
        assert_eq!(foo[0].timestamp_ms, Some(1520879607789));
        assert_eq!(foo[1].value, 1520872607.123);
        assert_eq!(e.metadata["foo"].metric_type, MetricType::Counter);
    }

    #[test]
    fn openmetrics_errors() {
        // openmetricsparse_test.go TestOpenMetricsParseErrors (a selection).
        for bad in [
            "",
            "a",
            "\n",
            "metric",
            "metric 1",
            "metric 1\n",
            "metric_total 1 # {aa=\"bb\"} 1\n# EOF\n\n",
            "a\n#EOF\n",
            "\n\n#EOF\n",
            " a 1\n#EOF\n",
            "9\n#EOF\n",
            "# TYPE u untyped\n#EOF\n",
            "# TYPE c counter \n#EOF\n",
            "# TYPE c    counter\n#EOF\n",
            "# UNIT metric suffix\n#EOF\n",
            "# HELP\n#EOF\n",
            "# EOF\n# EOF\n",
            "a 1 2 3\n# EOF\n",
            "a{b='c'} 1\n# EOF\n",
            "a  1\n# EOF\n",
        ] {
            assert!(parse(bad, Format::OpenMetrics).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn content_type_picks_the_parser() {
        assert_eq!(
            Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Some(Format::OpenMetrics)
        );
        assert_eq!(Format::from_content_type("text/plain; version=0.0.4; charset=utf-8"), Some(Format::Text));
        assert_eq!(Format::from_content_type("application/json"), None);
    }

    #[test]
    fn special_values() {
        let e = parse("a NaN\nb +Inf\nc -Inf\nd 1e3\n", Format::Text).unwrap();
        assert!(e.samples[0].value.is_nan());
        assert_eq!(e.samples[1].value, f64::INFINITY);
        assert_eq!(e.samples[2].value, f64::NEG_INFINITY);
        assert_eq!(e.samples[3].value, 1000.0);
    }
}

/// The Collector's OpenMetrics conformance data (`receiver/prometheusreceiver/testdata/openmetrics`,
/// from the OpenMetrics test suite): what its `metrics_receiver_open_metrics_test.go` expects.
#[cfg(test)]
mod openmetrics_suite {
    use super::*;

    /// Upstream's `skippedTests`: invalid inputs Prometheus's parser accepts.
    const UPSTREAM_SKIPPED: &[&str] = &[
        "bad_clashing_names_0",
        "bad_clashing_names_1",
        "bad_clashing_names_2",
        "bad_counter_values_0",
        "bad_counter_values_1",
        "bad_counter_values_2",
        "bad_counter_values_3",
        "bad_counter_values_5",
        "bad_counter_values_6",
        "bad_counter_values_10",
        "bad_counter_values_11",
        "bad_counter_values_12",
        "bad_counter_values_13",
        "bad_counter_values_14",
        "bad_counter_values_15",
        "bad_counter_values_16",
        "bad_counter_values_17",
        "bad_counter_values_18",
        "bad_counter_values_19",
        "bad_exemplars_on_unallowed_samples_2",
        "bad_exemplar_timestamp_0",
        "bad_exemplar_timestamp_1",
        "bad_exemplar_timestamp_2",
        "bad_grouping_or_ordering_0",
        "bad_grouping_or_ordering_2",
        "bad_grouping_or_ordering_3",
        "bad_grouping_or_ordering_4",
        "bad_grouping_or_ordering_5",
        "bad_grouping_or_ordering_6",
        "bad_grouping_or_ordering_7",
        "bad_grouping_or_ordering_8",
        "bad_grouping_or_ordering_9",
        "bad_grouping_or_ordering_10",
        "bad_histograms_0",
        "bad_histograms_1",
        "bad_histograms_2",
        "bad_histograms_3",
        "bad_histograms_6",
        "bad_histograms_7",
        "bad_histograms_8",
        "bad_info_and_stateset_values_0",
        "bad_info_and_stateset_values_1",
        "bad_metadata_in_wrong_place_0",
        "bad_metadata_in_wrong_place_1",
        "bad_metadata_in_wrong_place_2",
        "bad_missing_or_invalid_labels_for_a_type_1",
        "bad_missing_or_invalid_labels_for_a_type_3",
        "bad_missing_or_invalid_labels_for_a_type_4",
        "bad_missing_or_invalid_labels_for_a_type_6",
        "bad_missing_or_invalid_labels_for_a_type_7",
        "bad_repeated_metadata_0",
        "bad_repeated_metadata_1",
        "bad_repeated_metadata_3",
        "bad_stateset_info_values_0",
        "bad_stateset_info_values_1",
        "bad_stateset_info_values_2",
        "bad_stateset_info_values_3",
        "bad_timestamp_4",
        "bad_timestamp_5",
        "bad_timestamp_7",
        "bad_unit_6",
        "bad_unit_7",
        "bad_exemplars_on_unallowed_samples_0",
        "bad_exemplars_on_unallowed_metric_types_0",
        "bad_exemplars_on_unallowed_samples_1",
        "bad_exemplars_on_unallowed_metric_types_1",
        "bad_exemplars_on_unallowed_samples_3",
        "bad_exemplars_on_unallowed_metric_types_2",
    ];

    fn cases() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/prometheus/testdata/openmetrics");
        let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("the openmetrics testdata")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.is_dir())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                (name, std::fs::read_to_string(p.join("metrics")).expect("a metrics file"))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn positive_cases_parse() {
        let mut failed = Vec::new();
        for (name, body) in cases().iter().filter(|(n, _)| !n.starts_with("bad") && !n.starts_with("invalid")) {
            if let Err(e) = parse(body, Format::OpenMetrics) {
                failed.push(format!("{name}: {e}"));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn negative_cases_fail_the_scrape() {
        let mut accepted = Vec::new();
        let bad: Vec<_> = cases().into_iter().filter(|(n, _)| n.starts_with("bad")).collect();
        for (name, body) in bad.iter().filter(|(n, _)| !UPSTREAM_SKIPPED.contains(&n.as_str())) {
            if parse(body, Format::OpenMetrics).is_ok() {
                accepted.push(name.clone());
            }
        }
        assert!(accepted.is_empty(), "{} of {} accepted: {accepted:#?}", accepted.len(), bad.len());
    }
}
