//! Durations written the Collector's (Go's) way: `200ms`, `5s`, `1m30s`, `1h`, `0`.
//!
//! Use on a field with `#[serde(with = "weir_core::config::duration")]`.

use serde::{de, Deserialize, Deserializer, Serializer};
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

/// Formats like Go does for the common cases (`200ms`, `5s`, `1m30s`).
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
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

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(de::Error::custom)
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
        for s in ["200ms", "5s", "1m30s", "2h"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
