//! Durations written the Collector's (Go's) way: `200ms`, `5s`, `1m30s`, `1h`, `0`.
//!
//! A bare integer is a number of **nanoseconds**, as the Collector reads it: its duration keys
//! are Go `time.Duration`s, and an integer decodes into one as nanoseconds, so
//! `flush_interval: 5` is 5ns (the file exporter's tests assert exactly that). Only a YAML
//! integer reads so: a quoted `"5"` is a string and, as in Go's `time.ParseDuration`, needs a
//! unit. A negative or fractional number is refused: no duration key takes one.
//!
//! Use on a field with `#[serde(with = "weir_core::config::duration")]`.

use serde::{de, Deserializer, Serializer};
use std::fmt;
use std::time::Duration;

/// Parses a Go duration string. A bare `0` is allowed; other numbers need a unit.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s.starts_with('-') {
        return Err(format!("invalid duration {s:?}: a duration must not be negative"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!("invalid duration {s:?}: expected a number at {rest:?}"));
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("invalid duration {s:?}: missing unit (ns, us, ms, s, m, h)")),
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?} (use ns, us, ms, s, m, h)")),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    // `Duration::from_secs_f64` panics past ~584 billion years; a typo must be an error, not a
    // crash of `weir validate` or of a running weir on reload (found by the config fuzzer).
    Duration::try_from_secs_f64(total).map_err(|_| format!("invalid duration {s:?}: too large"))
}

/// Formats like Go does for the common cases (`5ns`, `200ms`, `5s`, `1m30s`).
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if !d.subsec_nanos().is_multiple_of(1_000_000) && d < Duration::from_secs(1) {
        return match d.subsec_nanos() {
            n if n % 1_000 != 0 => format!("{n}ns"),
            n => format!("{}us", n / 1_000),
        };
    }
    let ms = d.as_millis();
    if d.subsec_millis() != 0 || ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Reads a Go duration string, or a YAML integer as nanoseconds.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 200ms, 5s or 1m30s (a bare integer is nanoseconds)")
    }

    fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<Duration, E> {
        Ok(Duration::from_nanos(nanos))
    }

    fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<Duration, E> {
        u64::try_from(nanos).map(Duration::from_nanos).map_err(|_| {
            E::custom(format!(
                "invalid duration {nanos}: a duration must not be negative (a bare integer is nanoseconds)"
            ))
        })
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Duration, E> {
        Err(E::custom(format!("invalid duration {n}: a number without a unit must be a whole number of nanoseconds; write it with a unit (ns, us, ms, s, m, h)")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
        parse(s).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Duration, E> {
        Err(E::custom("expected a duration such as 200ms, 5s or 1m30s, found nothing"))
    }
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Keyed {
        #[serde(with = "super")]
        flush_interval: Duration,
    }

    fn read(yaml: &str) -> Result<Duration, String> {
        crate::config::yaml::parse(yaml, &|_| None)
            .map_err(|e| e.message)?
            .deserialize::<Keyed>()
            .map(|k| k.flush_interval)
            .map_err(|e| e.message)
    }

    #[test]
    fn a_bare_integer_is_nanoseconds_as_in_the_collector() {
        assert_eq!(read("flush_interval: 5\n").unwrap(), Duration::from_nanos(5));
        assert_eq!(read("flush_interval: 0\n").unwrap(), Duration::ZERO);
        assert_eq!(read("flush_interval: 1000000000\n").unwrap(), Duration::from_secs(1));
        assert_eq!(read("flush_interval: 5s\n").unwrap(), Duration::from_secs(5));
    }

    #[test]
    fn nonsense_durations_are_refused() {
        assert!(read("flush_interval: \"5\"\n").unwrap_err().contains("missing unit"), "a quoted number is a string");
        assert!(read("flush_interval: -1\n").unwrap_err().contains("must not be negative"));
        assert!(read("flush_interval: \"-1s\"\n").unwrap_err().contains("must not be negative"));
        assert!(read("flush_interval:\n").unwrap_err().contains("found nothing"));
        assert!(read("flush_interval: 1.5\n").unwrap_err().contains("whole number of nanoseconds"));
        assert!(read("flush_interval: true\n").is_err());
        assert!(read("flush_interval: [1s]\n").is_err());
        assert!(read("flush_interval: soon\n").unwrap_err().contains("invalid duration"));
    }

    #[test]
    fn rejects_missing_and_unknown_units() {
        assert!(parse("5").unwrap_err().contains("missing unit"));
        assert!(parse("5d").unwrap_err().contains("unknown unit"));
        assert!(parse("s").is_err());
    }

    #[test]
    fn a_duration_too_large_to_represent_is_an_error() {
        let huge = format!("{}ms", "4".repeat(40));
        assert!(parse(&huge).unwrap_err().contains("too large"), "{huge}");
        assert!(parse("1e400s").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["5ns", "20us", "200ms", "5s", "1m30s", "2h"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
