//! The value model.
//!
//! - [`Value`] is what an expression evaluates to. It borrows whatever it can: a string
//!   attribute is a `&str` into the received bytes, a map attribute is the [`Attributes`] view
//!   of the encoded `KeyValueList`, an array the [`ArrayView`]. Comparing a path with a literal
//!   therefore allocates nothing.
//! - [`OValue`] is an owned `AnyValue`: what editors write (and what the cache holds). A view
//!   becomes one only when an editor keeps it ([`Value::to_owned_value`]).
//!
//! Comparison follows the Collector's table (LANGUAGE.md "Comparison Rules"): numbers compare
//! as numbers (int against double as `f64`), strings as strings, bools with `false < true`,
//! bytes byte for byte, maps and lists by deep equality; different types are "not equal" (only
//! `!=` is true); `nil` equals only `nil` (an empty `AnyValue` is `nil`).

use crate::error::{eval_err, EvalError};
use std::borrow::Cow;
use weir_core::pdata::edit;
use weir_core::pdata::proto;
use weir_core::pdata::views::{AnyValue, AnyValueView, ArrayView, Attributes};
use weir_core::pdata::WireError;

/// Deepest nesting of maps and arrays materialized from received data or written (deeper
/// values are cut there: received data cannot make evaluation recurse without bound).
pub const MAX_VALUE_DEPTH: usize = 64;

/// An owned `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum OValue {
    Empty,
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    List(Vec<OValue>),
    Map(Vec<(String, OValue)>),
}

/// An owned map (attributes, cache): keys in insertion order, unique.
pub type OMap = Vec<(String, OValue)>;

/// What an expression evaluates to.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Map(MapV<'a>),
    List(ListV<'a>),
    /// A point in time, in nanoseconds since the Unix epoch (Go's `time.Time`).
    Time(i64),
    /// Nanoseconds (Go's `time.Duration`).
    Duration(i64),
}

/// A map value: a view of received attributes, or owned entries.
#[derive(Debug, Clone)]
pub enum MapV<'a> {
    View(Attributes<'a>),
    Ref(&'a [(String, OValue)]),
    Owned(OMap),
}

/// A list value: a view of a received array, owned elements, or evaluated expressions.
#[derive(Debug, Clone)]
pub enum ListV<'a> {
    View(ArrayView<'a>),
    Ref(&'a [OValue]),
    Owned(Vec<OValue>),
    Values(Vec<Value<'a>>),
}

impl<'a> Value<'a> {
    pub fn str(s: &'a str) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    pub fn string(s: String) -> Value<'a> {
        Value::Str(Cow::Owned(s))
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Map(_) => "map",
            Value::List(_) => "list",
            Value::Time(_) => "time",
            Value::Duration(_) => "duration",
        }
    }

    /// A received `AnyValue`, borrowed.
    pub fn from_view(v: AnyValueView<'a>) -> Result<Value<'a>, WireError> {
        Ok(Value::from_any(v.get()?))
    }

    pub fn from_any(v: AnyValue<'a>) -> Value<'a> {
        match v {
            AnyValue::Empty => Value::Nil,
            AnyValue::String(s) => Value::str(s),
            AnyValue::Bool(b) => Value::Bool(b),
            AnyValue::Int(i) => Value::Int(i),
            AnyValue::Double(d) => Value::Double(d),
            AnyValue::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            AnyValue::Array(b) => Value::List(ListV::View(ArrayView::new(b))),
            AnyValue::KvList(b) => Value::Map(MapV::View(Attributes::key_value_list(b))),
        }
    }

    /// An owned value, borrowed.
    pub fn from_owned(v: &'a OValue) -> Value<'a> {
        match v {
            OValue::Empty => Value::Nil,
            OValue::Str(s) => Value::str(s),
            OValue::Bool(b) => Value::Bool(*b),
            OValue::Int(i) => Value::Int(*i),
            OValue::Double(d) => Value::Double(*d),
            OValue::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            OValue::List(l) => Value::List(ListV::Ref(l)),
            OValue::Map(m) => Value::Map(MapV::Ref(m)),
        }
    }

    /// The value as an `AnyValue` to store (times as their nanoseconds, durations too).
    pub fn to_owned_value(&self) -> Result<OValue, EvalError> {
        self.to_owned_depth(0)
    }

    fn to_owned_depth(&self, depth: usize) -> Result<OValue, EvalError> {
        if depth > MAX_VALUE_DEPTH {
            return eval_err(format!("value nested more than {MAX_VALUE_DEPTH} levels deep"));
        }
        Ok(match self {
            Value::Nil => OValue::Empty,
            Value::Bool(b) => OValue::Bool(*b),
            Value::Int(i) | Value::Time(i) | Value::Duration(i) => OValue::Int(*i),
            Value::Double(d) => OValue::Double(*d),
            Value::Str(s) => OValue::Str(s.to_string()),
            Value::Bytes(b) => OValue::Bytes(b.to_vec()),
            Value::Map(m) => OValue::Map(m.to_owned_map(depth + 1)?),
            Value::List(l) => OValue::List(l.to_owned_list(depth + 1)?),
        })
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The Collector's "string-like" reading: strings as they are, bytes in hex, numbers and
    /// bools printed, maps and lists as JSON; `None` for nil.
    pub fn to_string_like(&self) -> Result<Option<Cow<'a, str>>, EvalError> {
        Ok(Some(match self {
            Value::Nil => return Ok(None),
            Value::Str(s) => s.clone(),
            Value::Bytes(b) => Cow::Owned(hex::encode(b)),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Double(d) => Cow::Owned(format_double(*d)),
            Value::Bool(b) => Cow::Owned(b.to_string()),
            Value::Map(_) | Value::List(_) => Cow::Owned(self.to_json()?.to_string()),
            Value::Time(t) => Cow::Owned(format_time(*t)),
            Value::Duration(d) => Cow::Owned(format_duration(*d)),
        }))
    }

    /// The value as JSON (as pdata's `AsRaw` then `encoding/json`).
    pub fn to_json(&self) -> Result<serde_json::Value, EvalError> {
        Ok(ovalue_to_json(&self.to_owned_value()?))
    }

    /// Int-like: ints, doubles truncated, bools 0/1, strings parsed; `None` for nil or text
    /// that is not a number.
    pub fn to_int_like(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Double(d) => Some(*d as i64),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn to_float_like(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Go's `%v` of a float64 (strconv `'g'`-like: shortest representation, exponent for large).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{d:e}");
        // Rust prints `1e21`; Go prints `1e+21`.
        return match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        };
    }
    format!("{d}")
}

pub fn format_time(nanos: i64) -> String {
    match chrono::DateTime::from_timestamp(nanos.div_euclid(1_000_000_000), nanos.rem_euclid(1_000_000_000) as u32) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string(),
        None => nanos.to_string(),
    }
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `150ms`, `0s`.
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let n = nanos.unsigned_abs();
    let body = if n < 1_000 {
        format!("{n}ns")
    } else if n < 1_000_000 {
        trim_fraction(n as f64 / 1e3, "µs")
    } else if n < 1_000_000_000 {
        trim_fraction(n as f64 / 1e6, "ms")
    } else {
        let (h, rem) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
        let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
        let secs = trim_fraction(rem as f64 / 1e9, "s");
        match (h, m) {
            (0, 0) => secs,
            (0, m) => format!("{m}m{secs}"),
            (h, m) => format!("{h}h{m}m{secs}"),
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

fn trim_fraction(v: f64, unit: &str) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

impl<'a> MapV<'a> {
    /// The value of `key` (the last occurrence wins, as pdata reads received maps).
    pub fn get(&self, key: &str) -> Result<Option<Value<'a>>, EvalError> {
        match self {
            MapV::View(a) => Ok(match a.get(key)? {
                Some(v) => Some(Value::from_view(v)?),
                None => None,
            }),
            MapV::Ref(m) => Ok(m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| Value::from_owned(v))),
            MapV::Owned(m) => {
                Ok(m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| Value::from_owned(v).into_static()))
            }
        }
    }

    pub fn len(&self) -> Result<usize, EvalError> {
        Ok(match self {
            MapV::View(a) => a.len()?,
            MapV::Ref(m) => m.len(),
            MapV::Owned(m) => m.len(),
        })
    }

    pub fn is_empty(&self) -> Result<bool, EvalError> {
        Ok(self.len()? == 0)
    }

    pub fn to_owned_map(&self, depth: usize) -> Result<OMap, EvalError> {
        match self {
            MapV::View(a) => owned_attributes(*a, depth),
            MapV::Ref(m) => Ok(m.to_vec()),
            MapV::Owned(m) => Ok(m.clone()),
        }
    }
}

impl<'a> ListV<'a> {
    pub fn to_owned_list(&self, depth: usize) -> Result<Vec<OValue>, EvalError> {
        match self {
            ListV::View(a) => {
                let mut out = Vec::new();
                for v in a.values() {
                    out.push(Value::from_view(v?)?.to_owned_depth(depth)?);
                }
                Ok(out)
            }
            ListV::Ref(l) => Ok(l.to_vec()),
            ListV::Owned(l) => Ok(l.clone()),
            ListV::Values(vs) => vs.iter().map(|v| v.to_owned_depth(depth)).collect(),
        }
    }

    /// The elements, borrowed where possible.
    pub fn items(&self) -> Result<Vec<Value<'a>>, EvalError> {
        match self {
            ListV::View(a) => {
                let mut out = Vec::new();
                for v in a.values() {
                    out.push(Value::from_view(v?)?);
                }
                Ok(out)
            }
            ListV::Ref(l) => Ok(l.iter().map(Value::from_owned).collect()),
            ListV::Owned(l) => Ok(l.iter().map(|v| Value::from_owned(v).into_static()).collect()),
            ListV::Values(v) => Ok(v.clone()),
        }
    }

    pub fn get(&self, index: i64) -> Result<Option<Value<'a>>, EvalError> {
        let Ok(index) = usize::try_from(index) else { return Ok(None) };
        Ok(match self {
            ListV::View(a) => match a.values().nth(index) {
                Some(v) => Some(Value::from_view(v?)?),
                None => None,
            },
            ListV::Ref(l) => l.get(index).map(Value::from_owned),
            ListV::Owned(l) => l.get(index).map(|v| Value::from_owned(v).into_static()),
            ListV::Values(v) => v.get(index).cloned(),
        })
    }

    pub fn len(&self) -> Result<usize, EvalError> {
        Ok(match self {
            ListV::View(a) => a.len()?,
            ListV::Ref(l) => l.len(),
            ListV::Owned(l) => l.len(),
            ListV::Values(v) => v.len(),
        })
    }

    pub fn is_empty(&self) -> Result<bool, EvalError> {
        Ok(self.len()? == 0)
    }
}

impl Value<'_> {
    /// The value detached from what it borrowed (copies borrowed strings, materializes views).
    pub fn into_static(self) -> Value<'static> {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Double(d) => Value::Double(d),
            Value::Time(t) => Value::Time(t),
            Value::Duration(d) => Value::Duration(d),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::Map(m) => Value::Map(MapV::Owned(m.to_owned_map(0).unwrap_or_default())),
            Value::List(l) => Value::List(ListV::Owned(l.to_owned_list(0).unwrap_or_default())),
        }
    }
}

/// Received attributes as an owned map: one entry per key, the last occurrence winning, in
/// the order keys first appear.
pub fn owned_attributes(a: Attributes<'_>, depth: usize) -> Result<OMap, EvalError> {
    let mut out: OMap = Vec::new();
    for kv in a.iter() {
        let (k, v) = kv?;
        let v = Value::from_view(v)?.to_owned_depth(depth)?;
        match out.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k.to_string(), v)),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/// `left op right` by the Collector's rules.
pub fn compare(left: &Value<'_>, op: crate::ast::CmpOp, right: &Value<'_>) -> Result<bool, EvalError> {
    use crate::ast::CmpOp::*;
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (left, right) {
        (Value::Nil, Value::Nil) => Some(Ordering::Equal),
        (Value::Nil, Value::Bytes(b)) | (Value::Bytes(b), Value::Nil) if b.is_empty() => None,
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Double(b)) => (*a as f64).partial_cmp(b),
        (Value::Double(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
        (Value::Str(a), Value::Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Bytes(a), Value::Bytes(b)) => Some(a.as_ref().cmp(b.as_ref())),
        (Value::Time(a), Value::Time(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        (Value::Map(_), Value::Map(_)) | (Value::List(_), Value::List(_)) => {
            let equal = left.to_owned_value()? == right.to_owned_value()?;
            return Ok(match op {
                Eq => equal,
                Ne => !equal,
                _ => false,
            });
        }
        _ => None,
    };
    // Bytes and nil compare only for (in)equality; other types never order.
    let orderable = !matches!((left, right), (Value::Nil, _) | (_, Value::Nil) | (Value::Bytes(_), _));
    Ok(match (op, ord) {
        (Eq, o) => o == Some(Ordering::Equal),
        (Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false,
        (_, Some(_)) if !orderable => false,
        (Lt, Some(o)) => o == Ordering::Less,
        (Le, Some(o)) => o != Ordering::Greater,
        (Gt, Some(o)) => o == Ordering::Greater,
        (Ge, Some(o)) => o != Ordering::Less,
    })
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

pub fn ovalue_to_json(v: &OValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        OValue::Empty => J::Null,
        OValue::Str(s) => J::String(s.clone()),
        OValue::Bool(b) => J::Bool(*b),
        OValue::Int(i) => J::from(*i),
        OValue::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        // pdata's AsRaw gives []byte, which encoding/json writes in base64.
        OValue::Bytes(b) => J::String(base64_std(b)),
        OValue::List(l) => J::Array(l.iter().map(ovalue_to_json).collect()),
        OValue::Map(m) => {
            // encoding/json sorts map keys.
            let mut sorted: Vec<_> = m.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            J::Object(sorted.into_iter().map(|(k, v)| (k.clone(), ovalue_to_json(v))).collect())
        }
    }
}

fn base64_std(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A parsed JSON document as an `AnyValue` (numbers as doubles, as pdata's `FromRaw` of
/// `encoding/json` output; integers that fit stay ints? No: `encoding/json` gives float64).
pub fn json_to_ovalue(j: &serde_json::Value, depth: usize) -> OValue {
    use serde_json::Value as J;
    if depth > MAX_VALUE_DEPTH {
        return OValue::Empty;
    }
    match j {
        J::Null => OValue::Empty,
        J::Bool(b) => OValue::Bool(*b),
        J::Number(n) => match n.as_i64() {
            // jsoniter (which ParseJSON uses) keeps integers as int64-valued float64; pdata
            // `FromRaw` stores float64 as a double.
            Some(i) => OValue::Double(i as f64),
            None => OValue::Double(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => OValue::Str(s.clone()),
        J::Array(a) => OValue::List(a.iter().map(|v| json_to_ovalue(v, depth + 1)).collect()),
        J::Object(o) => OValue::Map(o.iter().map(|(k, v)| (k.clone(), json_to_ovalue(v, depth + 1))).collect()),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding owned values (through `pdata::edit`)
// ---------------------------------------------------------------------------------------------

/// The encoded `AnyValue` message of `v` (without tag and length).
pub fn encode_any_value(out: &mut Vec<u8>, v: &OValue) {
    use proto::any_value::*;
    match v {
        OValue::Empty => {}
        OValue::Str(s) => edit::write_bytes_field(out, STRING_VALUE, s.as_bytes()),
        OValue::Bool(b) => edit::write_varint_field(out, BOOL_VALUE, u64::from(*b)),
        OValue::Int(i) => edit::write_varint_field(out, INT_VALUE, *i as u64),
        OValue::Double(d) => edit::write_double_field(out, DOUBLE_VALUE, *d),
        OValue::Bytes(b) => edit::write_bytes_field(out, BYTES_VALUE, b),
        OValue::List(items) => {
            let mut body = Vec::new();
            for item in items {
                let mut one = Vec::new();
                encode_any_value(&mut one, item);
                edit::write_bytes_field(&mut body, proto::array_value::VALUES, &one);
            }
            edit::write_bytes_field(out, ARRAY_VALUE, &body);
        }
        OValue::Map(entries) => {
            let mut body = Vec::new();
            encode_key_values(&mut body, proto::key_value_list::VALUES, entries);
            edit::write_bytes_field(out, KVLIST_VALUE, &body);
        }
    }
}

/// Appends each entry as a `KeyValue` in field `number`.
pub fn encode_key_values(out: &mut Vec<u8>, number: u32, entries: &[(String, OValue)]) {
    for (k, v) in entries {
        let mut kv = Vec::new();
        edit::write_bytes_field(&mut kv, proto::key_value::KEY, k.as_bytes());
        let mut any = Vec::new();
        encode_any_value(&mut any, v);
        edit::write_bytes_field(&mut kv, proto::key_value::VALUE, &any);
        edit::write_bytes_field(out, number, &kv);
    }
}

impl From<&Value<'_>> for bool {
    fn from(v: &Value<'_>) -> bool {
        matches!(v, Value::Bool(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::CmpOp;

    #[test]
    fn mixed_numbers_compare_as_doubles_and_other_types_are_not_equal() {
        assert!(compare(&Value::Int(1), CmpOp::Eq, &Value::Double(1.0)).unwrap());
        assert!(compare(&Value::Int(1), CmpOp::Lt, &Value::Double(1.5)).unwrap());
        assert!(!compare(&Value::Int(1), CmpOp::Eq, &Value::str("1")).unwrap());
        assert!(compare(&Value::Int(1), CmpOp::Ne, &Value::str("1")).unwrap());
        assert!(!compare(&Value::Int(1), CmpOp::Lt, &Value::str("2")).unwrap());
        assert!(compare(&Value::Nil, CmpOp::Eq, &Value::Nil).unwrap());
        assert!(!compare(&Value::Nil, CmpOp::Le, &Value::Nil).unwrap());
        assert!(compare(&Value::Bool(false), CmpOp::Lt, &Value::Bool(true)).unwrap());
    }

    #[test]
    fn doubles_print_as_go_does() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(3_723_000_000_000), "1h2m3s");
        assert_eq!(format_duration(150_000_000), "150ms");
    }
}
