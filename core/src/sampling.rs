//! Consistent probability sampling (W3C tracestate `ot=th` / `ot=rv`, OpenTelemetry's
//! "TraceState: Probability Sampling"): thresholds, randomness, adjusted counts, and the span
//! rewrite that records a threshold, done on the wire — every field of the span but the one
//! changed is copied byte for byte. One module, used by every sampler and by the exporters that
//! store adjusted counts, so they all read and write `th` by the same rules.

use crate::pdata::wire::{write_len_prefix, Fields};

/// 2^56: thresholds and randomness are 56-bit numbers.
pub const MAX_56: u64 = 1 << 56;

/// The rejection threshold T for a sampling percentage: `(1 - p) × 2^56`; 0 keeps all.
/// `None` for a probability of zero (nothing is kept; there is no threshold for it).
pub fn threshold_for_percentage(percentage: f64) -> Option<u64> {
    if percentage >= 100.0 {
        return Some(0);
    }
    if percentage <= 0.0 {
        return None;
    }
    let p = percentage / 100.0;
    let t = ((1.0 - p) * MAX_56 as f64).round() as u64;
    // Rounding can reach 2^56 for probabilities below 2^-56: keep at least one value.
    Some(t.min(MAX_56 - 1))
}

/// The rejection threshold T for a probability p in (0, 1], with the precision the
/// specification recommends: 4 significant hex digits after any leading `f`s (so small
/// probabilities keep their relative precision and `th` stays short). `None` for p ≤ 0.
/// Computed the same way everywhere, so two weir instances at the same p agree on T.
pub fn threshold_for_probability(p: f64) -> Option<u64> {
    if p.is_nan() || p <= 0.0 {
        return None;
    }
    if p >= 1.0 {
        return Some(0);
    }
    let exact = ((1.0 - p) * MAX_56 as f64).round() as u64;
    let exact = exact.min(MAX_56 - 1);
    // Leading `f` digits of the 14-digit form, then 4 more significant digits.
    let lead = format!("{exact:014x}").bytes().take_while(|b| *b == b'f').count();
    let digits = (lead + 4).min(14);
    let unit = 1u64 << (4 * (14 - digits));
    let t = (exact + unit / 2) / unit * unit;
    Some(t.min(MAX_56 - 1))
}

/// Randomness R of a trace: `ot=rv` when a span carries it, else the low 56 bits of the id.
pub fn randomness(trace_id: &[u8], trace_state: &str) -> u64 {
    if let Some(rv) = ot_value(trace_state, "rv").and_then(|v| parse_hex56(v, false)) {
        return rv;
    }
    let mut low = [0u8; 8];
    let n = trace_id.len().min(7);
    low[8 - n..].copy_from_slice(&trace_id[trace_id.len() - n..]);
    u64::from_be_bytes(low)
}

/// The value of `key` in the `ot` entry of a W3C tracestate.
pub fn ot_value<'a>(trace_state: &'a str, key: &str) -> Option<&'a str> {
    let ot = tracestate_value(trace_state, "ot")?;
    ot.split(';').find_map(|kv| kv.split_once(':').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

/// The value of `key` in a W3C tracestate (`k1=v1,k2=v2`).
pub fn tracestate_value<'a>(trace_state: &'a str, key: &str) -> Option<&'a str> {
    trace_state
        .split(',')
        .map(str::trim)
        .find_map(|member| member.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

/// Parses 1–14 lowercase hex digits; `th` right-pads to 14 digits, `rv` must have all 14.
fn parse_hex56(v: &str, pad: bool) -> Option<u64> {
    let ok = !v.is_empty() && v.len() <= 14 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok || (!pad && v.len() != 14) {
        return None;
    }
    let n = u64::from_str_radix(v, 16).ok()?;
    Some(n << (4 * (14 - v.len())))
}

/// The incoming threshold of a span, if it carries a valid `ot=th`.
pub fn incoming_threshold(trace_state: &str) -> Option<u64> {
    ot_value(trace_state, "th").and_then(|v| parse_hex56(v, true))
}

/// The `th` value of a span's tracestate as written (when valid) and the span's adjusted count
/// 1/p, where p = 1 − T/2^56. No valid `th`: `(None, 1.0)` (the span was not sampled, or
/// by a sampler that did not record it).
pub fn adjusted_count(trace_state: &str) -> (Option<&str>, f64) {
    let Some(th) = ot_value(trace_state, "th") else { return (None, 1.0) };
    let Some(t) = parse_hex56(th, true) else { return (None, 1.0) };
    (Some(th), MAX_56 as f64 / (MAX_56 - t) as f64)
}

/// `th` encoding: 14 hex digits with trailing zeros removed; 0 is `"0"`.
pub fn encode_threshold(t: u64) -> String {
    if t == 0 {
        return "0".into();
    }
    let s = format!("{t:014x}");
    s.trim_end_matches('0').to_string()
}

/// The tracestate with `ot=th:<t>` set, keeping every other entry. The threshold is never
/// lowered: an incoming larger one (a stricter earlier stage) stays. The `ot` entry moves to
/// the front, as W3C asks of a modified entry.
pub fn with_threshold(trace_state: &str, t: u64) -> String {
    let t = incoming_threshold(trace_state).map_or(t, |incoming| incoming.max(t));
    let th = format!("th:{}", encode_threshold(t));
    let mut ot_parts: Vec<&str> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for member in trace_state.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match member.strip_prefix("ot=") {
            Some(ot) => ot_parts.extend(ot.split(';').filter(|kv| !kv.is_empty() && !kv.starts_with("th:"))),
            None => others.push(member),
        }
    }
    let mut ot = String::from("ot=");
    ot.push_str(&th);
    for p in ot_parts {
        ot.push(';');
        ot.push_str(p);
    }
    let mut out = ot;
    for m in others {
        out.push(',');
        out.push_str(m);
    }
    out
}

/// Appends `span` to `out` with its `trace_state` (field 3) replaced by `trace_state`, and
/// with `extra` string attributes appended (field 9). Other fields are copied as they are.
/// A span that does not parse is copied unchanged.
pub fn rewrite_span(out: &mut Vec<u8>, span: &[u8], trace_state: Option<&str>, extra: &[(&str, &str)]) {
    let start = out.len();
    if let Some(ts) = trace_state {
        let mut ok = true;
        for f in Fields::new(span) {
            match f {
                Ok(f) if f.number == 3 => {}
                Ok(f) => out.extend_from_slice(&span[f.start..f.end]),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            out.truncate(start);
            out.extend_from_slice(span);
        } else if !ts.is_empty() {
            write_len_prefix(out, 3, ts.len());
            out.extend_from_slice(ts.as_bytes());
        }
    } else {
        out.extend_from_slice(span);
    }
    for (k, v) in extra {
        // KeyValue { 1: key, 2: AnyValue { 1: string_value } }
        let any_len = 1 + varint_len(v.len()) + v.len();
        let kv_len = 1 + varint_len(k.len()) + k.len() + 1 + varint_len(any_len) + any_len;
        write_len_prefix(out, 9, kv_len);
        write_len_prefix(out, 1, k.len());
        out.extend_from_slice(k.as_bytes());
        write_len_prefix(out, 2, any_len);
        write_len_prefix(out, 1, v.len());
        out.extend_from_slice(v.as_bytes());
    }
}

fn varint_len(n: usize) -> usize {
    crate::pdata::wire::varint_len(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_specification_examples() {
        assert_eq!(encode_threshold(threshold_for_percentage(100.0).unwrap()), "0");
        assert_eq!(encode_threshold(threshold_for_percentage(50.0).unwrap()), "8");
        assert_eq!(encode_threshold(threshold_for_percentage(25.0).unwrap()), "c");
        assert_eq!(encode_threshold(threshold_for_percentage(6.25).unwrap()), "f");
        assert_eq!(threshold_for_percentage(0.0), None);
    }

    #[test]
    fn probabilities_become_thresholds_of_four_significant_digits() {
        assert_eq!(threshold_for_probability(1.0), Some(0));
        assert_eq!(threshold_for_probability(0.0), None);
        assert_eq!(encode_threshold(threshold_for_probability(0.5).unwrap()), "8");
        assert_eq!(encode_threshold(threshold_for_probability(0.1).unwrap()), "e666");
        assert_eq!(encode_threshold(threshold_for_probability(0.01).unwrap()), "fd70a");
        assert_eq!(encode_threshold(threshold_for_probability(0.001).unwrap()), "ffbe77");
    }

    #[test]
    fn randomness_is_the_low_56_bits_unless_rv_is_present() {
        let id = [0xff, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0, 0, 0, 0, 0, 0, 0x01];
        assert_eq!(randomness(&id, ""), 1);
        assert_eq!(randomness(&id, "ot=rv:00000000000010,x=y"), 0x10);
        assert_eq!(randomness(&id, "ot=rv:bad"), 1, "a malformed rv is ignored");
    }

    #[test]
    fn writing_th_keeps_other_entries_and_never_lowers_the_threshold() {
        assert_eq!(with_threshold("", 0x8 << 52), "ot=th:8");
        assert_eq!(with_threshold("vendor=a,ot=rv:00000000000001", 0xc << 52), "ot=th:c;rv:00000000000001,vendor=a");
        // An earlier stage was stricter (th:e > th:8): it stays.
        assert_eq!(with_threshold("ot=th:e", 0x8 << 52), "ot=th:e");
        assert_eq!(with_threshold("ot=th:4", 0x8 << 52), "ot=th:8");
    }

    #[test]
    fn th_gives_the_adjusted_count() {
        assert_eq!(adjusted_count(""), (None, 1.0));
        assert_eq!(adjusted_count("vendor=x"), (None, 1.0));
        assert_eq!(adjusted_count("ot=th:0"), (Some("0"), 1.0));
        // th:8 is T = 2^55: p = 1/2.
        assert_eq!(adjusted_count("vendor=x, ot=rv:abcdef01234567;th:8"), (Some("8"), 2.0));
        // th:c is T = 0.75 · 2^56: p = 1/4.
        assert_eq!(adjusted_count("ot=th:c"), (Some("c"), 4.0));
        let (th, n) = adjusted_count("ot=th:fd70a3d70a3d71");
        assert_eq!(th, Some("fd70a3d70a3d71"));
        assert!((n - 100.0).abs() < 1e-6, "{n}");
        assert_eq!(adjusted_count("ot=th:xyz"), (None, 1.0));
        assert_eq!(adjusted_count("ot=th:C"), (None, 1.0));
    }
}
