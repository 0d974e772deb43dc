//! Consistent probability sampling (W3C tracestate `ot=th` / `ot=rv`, OpenTelemetry's
//! "TraceState: Probability Sampling"): thresholds, randomness, adjusted counts, and the span
//! rewrite that records a threshold, done on the wire — every field of the span but the one
//! changed is copied byte for byte. One module, used by every sampler and by the exporters that
//! store adjusted counts, so they all read and write `th` by the same rules.

use crate::pdata::views::{raw_key_value, AnyValue};
use crate::pdata::wire::Field;
use crate::pdata::{edit, proto};

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

/// The rejection threshold for a probability `p` in [2^-56, 1], rounded to `precision`
/// significant hex digits by OpenTelemetry's reference algorithm (the one the Collector's
/// `pkg/sampling` uses for `sampling_precision`): the precision is raised by one digit for
/// every leading `0` (p near 1) or `f` (p near 0) the threshold has, at most 14 digits, so the
/// relative error stays small at both ends. `None` for p below 2^-56 (nothing is kept).
pub fn threshold_with_precision(p: f64, precision: u32) -> Option<u64> {
    if p.is_nan() || p < 1.0 / MAX_56 as f64 {
        return None;
    }
    if p >= 1.0 {
        return Some(0);
    }
    // The binary exponent e of x = f · 2^e with f in [0.5, 1): every 4 below zero is a leading
    // hex digit that carries no information (Go's `math.Frexp`; x is a normal number here).
    let leading = |x: f64| (1022 - ((x.to_bits() >> 52) & 0x7ff) as i64).max(0) as u32 / 4;
    let digits = (precision + leading(p).max(leading(1.0 - p))).clamp(1, 14);
    let exact = MAX_56 - (p * MAX_56 as f64).round() as u64;
    let shift = 4 * (14 - digits);
    if shift == 0 {
        return Some(exact);
    }
    let rounded = (exact + (1 << (shift - 1))) >> shift << shift;
    // Rounding up to 2^56 would reject everything; keep the exact value instead.
    Some(if rounded >= MAX_56 { exact } else { rounded })
}

/// The threshold a `th` value stands for: 1–14 lowercase hex digits, right-padded with zeros.
pub fn parse_threshold(th: &str) -> Option<u64> {
    parse_hex56(th, true)
}

/// The randomness an `rv` value stands for: exactly 14 lowercase hex digits.
pub fn parse_randomness(rv: &str) -> Option<u64> {
    parse_hex56(rv, false)
}

/// `rv` encoding: always 14 lowercase hex digits.
pub fn encode_randomness(r: u64) -> String {
    format!("{:014x}", r & (MAX_56 - 1))
}

/// The `th` and `rv` of a tracestate's `ot` entry, each `None` when absent; `Err` when one of
/// them is present but not a valid value (the item's sampling state cannot be trusted).
pub fn ot_sampling(trace_state: &str) -> Result<(Option<u64>, Option<u64>), MalformedSampling> {
    let th = ot_value(trace_state, "th").map(|v| parse_threshold(v).ok_or(MalformedSampling::Threshold)).transpose()?;
    let rv =
        ot_value(trace_state, "rv").map(|v| parse_randomness(v).ok_or(MalformedSampling::Randomness)).transpose()?;
    Ok((th, rv))
}

/// Which sampling value of an item was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedSampling {
    /// `th` (or the `sampling.threshold` log attribute) is not 1–14 lowercase hex digits.
    Threshold,
    /// `rv` (or `sampling.randomness`) is not exactly 14 lowercase hex digits.
    Randomness,
}

/// The tracestate with `ot=rv:<r>` set (replacing any `rv`), keeping every other entry; the
/// `ot` entry moves to the front.
pub fn with_randomness(trace_state: &str, r: u64) -> String {
    with_ot_entry(trace_state, "rv", Some(&encode_randomness(r)))
}

/// The tracestate without `th` in its `ot` entry (an `ot` entry left empty is removed): what a
/// sampler writes when an arriving threshold proved inconsistent with the randomness.
pub fn without_threshold(trace_state: &str) -> String {
    with_ot_entry(trace_state, "th", None)
}

/// Sets (`Some`) or removes (`None`) `key` in the `ot` entry, which moves to the front.
fn with_ot_entry(trace_state: &str, key: &str, value: Option<&str>) -> String {
    let mut ot: Vec<String> = value.map(|v| format!("{key}:{v}")).into_iter().collect();
    let mut others: Vec<&str> = Vec::new();
    for member in trace_state.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match member.strip_prefix("ot=") {
            Some(entry) => ot.extend(
                entry
                    .split(';')
                    .filter(|kv| !kv.is_empty() && kv.split_once(':').map_or(*kv, |(k, _)| k) != key)
                    .map(String::from),
            ),
            None => others.push(member),
        }
    }
    let mut out = String::new();
    if !ot.is_empty() {
        out.push_str("ot=");
        out.push_str(&ot.join(";"));
    }
    for m in others {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(m);
    }
    out
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

/// Appends `span` to `out` with its `trace_state` replaced by `trace_state`, and with `extra`
/// string attributes appended. Other fields are copied as they are (see [`crate::pdata::edit`]).
/// A span that does not parse is copied unchanged (the attributes are still appended).
pub fn rewrite_span(out: &mut Vec<u8>, span: &[u8], trace_state: Option<&str>, extra: &[(&str, &str)]) {
    match trace_state {
        Some(ts) if edit::copy_fields(out, span, |f| f.number != proto::span::TRACE_STATE).is_ok() => {
            if !ts.is_empty() {
                edit::write_bytes_field(out, proto::span::TRACE_STATE, ts.as_bytes());
            }
        }
        // No new trace state, or a span that does not parse: copied as it is.
        _ => out.extend_from_slice(span),
    }
    for (k, v) in extra {
        edit::write_key_value(out, proto::span::ATTRIBUTES, k, &AnyValue::String(v));
    }
}

/// Appends `record` (an encoded `LogRecord`) to `out` with the string attributes `set`
/// written: an existing attribute with one of those keys is removed and the new value
/// appended; every other field is copied byte for byte. A record that does not parse is copied
/// unchanged. Logs carry `sampling.threshold` / `sampling.randomness` this way.
pub fn rewrite_log_record(out: &mut Vec<u8>, record: &[u8], set: &[(&str, &str)]) {
    use proto::log_record::ATTRIBUTES;
    let replaced = |f: &Field<'_>| {
        f.number == ATTRIBUTES
            && f.bytes().and_then(raw_key_value).is_ok_and(|(key, _)| set.iter().any(|(k, _)| k.as_bytes() == key))
    };
    if edit::copy_fields(out, record, |f| !replaced(f)).is_err() {
        out.extend_from_slice(record);
        return;
    }
    for (k, v) in set {
        edit::write_key_value(out, ATTRIBUTES, k, &AnyValue::String(v));
    }
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
    fn precision_follows_the_reference_algorithm() {
        let th = |p: f64, digits: u32| encode_threshold(threshold_with_precision(p, digits).unwrap());
        // The Collector's own test vectors (probabilisticsamplerprocessor, pkg/sampling).
        assert_eq!(th(0.01, 4), "fd70a", "one leading f adds a digit");
        assert_eq!(th(0.01, 3), "fd71");
        assert_eq!(th(0.01, 14), "fd70a3d70a3d71");
        assert_eq!(th(0.4, 3), "99a");
        assert_eq!(th(0.4, 6), "99999a");
        assert_eq!(th(0.2, 6), "cccccd");
        assert_eq!(th(0.1, 4), "e666");
        assert_eq!(th(0.25, 4), "c");
        assert_eq!(th(1.0, 4), "0");
        assert_eq!(th(f64::from(100.0f32 * 2f32.powi(-14)) / 100.0, 4), "fffc");
        assert_eq!(th(2f64.powi(-28), 4), "fffffff");
        assert_eq!(threshold_with_precision(2f64.powi(-57), 4), None, "below 2^-56 nothing is kept");
    }

    #[test]
    fn ot_values_are_parsed_strictly_and_set_in_place() {
        assert_eq!(ot_sampling("x=y"), Ok((None, None)));
        assert_eq!(ot_sampling("ot=th:c;rv:0123456789abcd"), Ok((Some(0xc << 52), Some(0x0123456789abcd))));
        assert_eq!(ot_sampling("ot=th:-1"), Err(MalformedSampling::Threshold));
        assert_eq!(ot_sampling("ot=rv:abababababababab"), Err(MalformedSampling::Randomness));
        assert_eq!(with_randomness("a=b", 0xab), "ot=rv:000000000000ab,a=b");
        assert_eq!(with_randomness("ot=th:8;rv:11111111111111;x:1", 2), "ot=rv:00000000000002;th:8;x:1");
        assert_eq!(without_threshold("ot=th:8,a=b"), "a=b");
        assert_eq!(without_threshold("a=b,ot=th:8;rv:11111111111111"), "ot=rv:11111111111111,a=b");
    }

    #[test]
    fn log_record_attributes_are_replaced_and_others_copied() {
        use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::logs::v1::LogRecord;
        use prost::Message;
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(Value::StringValue(v.into())) }),
            ..Default::default()
        };
        let record = LogRecord {
            time_unix_nano: 7,
            trace_id: vec![1; 16],
            attributes: vec![kv("a", "1"), kv("sampling.threshold", "8"), kv("b", "2")],
            ..Default::default()
        };
        let mut out = Vec::new();
        rewrite_log_record(
            &mut out,
            &record.encode_to_vec(),
            &[("sampling.threshold", "c"), ("sampling.randomness", "r")],
        );
        let got = LogRecord::decode(&out[..]).unwrap();
        assert_eq!(got.time_unix_nano, 7);
        assert_eq!(got.trace_id, vec![1; 16]);
        assert_eq!(
            got.attributes,
            vec![kv("a", "1"), kv("b", "2"), kv("sampling.threshold", "c"), kv("sampling.randomness", "r")]
        );
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
