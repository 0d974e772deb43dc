//! Turning one payload into Kafka messages: key, value and item count.
//!
//! - No partitioning: one message, the payload's bytes untouched.
//! - `partition_traces_by_id`: one message per trace id, keyed by the id in lowercase hex (as
//!   the Collector does). The spans of each trace are copied byte for byte and re-wrapped in
//!   their resource and scope headers ([`Regroup`]); a payload holding one trace only is sent
//!   untouched.
//! - `partition_{metrics,logs}_by_resource_attributes`: one message per resource group, keyed by
//!   a hash of the resource's attributes sorted by key; the group's bytes are copied as they are.
//! - A message larger than `max_message_bytes` is cut between items ([`Payload::split`]); a
//!   single item that still does not fit is a permanent failure.
//!
//! `otlp_json` converts each message's protobuf to OTLP/JSON at the end (the measured exception
//! to bytes-first).

use bytes::Bytes;
use std::collections::HashMap;
use weir_core::kafka::Encoding;
use weir_core::pdata::json;
use weir_core::pdata::{edit, proto};
use weir_core::pdata::{Regroup, ResourceGroupView, WireError};
use weir_core::{Failure, Payload, Signal};

/// How a payload is cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// One message per payload, no key.
    None,
    /// One message per trace, key = trace id in lowercase hex.
    TraceId,
    /// One message per resource, key = hash of the sorted resource attributes.
    ResourceAttributes,
}

/// A part of a payload and the message key it goes with.
type KeyedPart = (Option<Vec<u8>>, Payload);

/// One Kafka message to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub key: Option<Vec<u8>>,
    pub value: Bytes,
    /// Spans, data points or log records in it.
    pub items: usize,
    /// Whether `value` is the received payload's bytes as they were.
    pub untouched: bool,
}

/// Cuts `payload` into messages as configured.
pub fn build(
    payload: &Payload,
    partitioning: Partitioning,
    encoding: Encoding,
    max_message_bytes: usize,
) -> Result<Vec<Message>, Failure> {
    let malformed = |e: WireError| Failure::permanent(format!("cannot read the payload to partition it: {e}"));
    let parts: Vec<KeyedPart> = match partitioning {
        Partitioning::None => vec![(None, payload.clone())],
        Partitioning::TraceId => by_trace_id(payload).map_err(malformed)?,
        Partitioning::ResourceAttributes => by_resource(payload).map_err(malformed)?,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (key, part) in parts {
        for (piece, value) in fit(part, max_message_bytes, encoding)? {
            let untouched = encoding == Encoding::OtlpProto
                && piece.len() == payload.len()
                && piece.bytes().as_ptr() == payload.bytes().as_ptr();
            out.push(Message { key: key.clone(), value, items: piece.items(), untouched });
        }
    }
    Ok(out)
}

/// The message value of `p` in `encoding`.
fn encode(p: &Payload, encoding: Encoding) -> Result<Bytes, Failure> {
    Ok(match encoding {
        Encoding::OtlpProto => p.bytes().clone(),
        Encoding::OtlpJson => Bytes::from(
            json::encode(p).map_err(|e| Failure::permanent(format!("cannot encode OTLP/JSON: {e}")))?.into_bytes(),
        ),
    })
}

/// Cuts `part` until every piece's encoded value is within `max_bytes`; returns each piece with
/// its value.
fn fit(part: Payload, max_bytes: usize, encoding: Encoding) -> Result<Vec<(Payload, Bytes)>, Failure> {
    let mut done = Vec::new();
    let mut todo = vec![part];
    while let Some(p) = todo.pop() {
        let value = encode(&p, encoding)?;
        let len = value.len();
        if max_bytes == 0 || len <= max_bytes {
            done.push((p, value));
            continue;
        }
        if p.items() <= 1 {
            return Err(Failure::permanent(format!(
                "one {} of {len} bytes is larger than producer::max_message_bytes ({max_bytes})",
                item_noun(p.signal())
            )));
        }
        // Aim at ~90% of the limit, and always make progress.
        let per_part = (p.items() * max_bytes * 9 / 10 / len).clamp(1, p.items() - 1);
        let pieces = p.split(per_part).map_err(|e| Failure::permanent(format!("cannot split the payload: {e}")))?;
        // Keep the original order: pieces are pushed reversed onto the stack.
        todo.extend(pieces.into_iter().rev());
    }
    Ok(done)
}

fn item_noun(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "span",
        Signal::Metrics => "metric",
        Signal::Logs => "log record",
    }
}

/// Lowercase hex, as the Collector writes trace ids in message keys.
pub fn hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
    out
}

/// One trace's items being gathered, with where its last resource and scope header came from.
struct TraceGroup<'a> {
    regroup: Regroup<'a>,
    /// Items (spans or log records).
    items: usize,
    /// (resource index, scope index) of the last header pushed.
    resource: Option<usize>,
    scope: Option<(usize, usize)>,
}

/// The trace id of an item (a span or a log record) of `signal`; empty when it has none.
fn trace_id_of(signal: Signal, item: &[u8]) -> Result<&[u8], WireError> {
    match signal {
        Signal::Logs => weir_core::pdata::views::LogRecordView::new(item).trace_id(),
        _ => weir_core::pdata::SpanView::new(item).trace_id(),
    }
}

/// The message key of a trace id: its hex, or none for a missing or all-zero id (a log record
/// outside any trace), which leaves the partition to the producer's default.
fn trace_key(id: &[u8]) -> Option<Vec<u8>> {
    (!id.iter().all(|b| *b == 0)).then(|| hex(id))
}

/// One payload per trace id, in order of first appearance, keyed by the hex id: spans
/// (`partition_traces_by_id`) or log records (`partition_logs_by_trace_id`).
fn by_trace_id(payload: &Payload) -> Result<Vec<KeyedPart>, WireError> {
    let signal = payload.signal();
    // Fast path: a payload of one trace (the usual case after tail sampling or an SDK batch of
    // one request) goes out untouched.
    let mut first: Option<&[u8]> = None;
    let mut single = true;
    'scan: for rg in payload.view().resources() {
        for sg in rg?.scopes() {
            for item in sg?.items() {
                let id = trace_id_of(signal, item?)?;
                match first {
                    None => first = Some(id),
                    Some(f) if f == id => {}
                    Some(_) => {
                        single = false;
                        break 'scan;
                    }
                }
            }
        }
    }
    if single {
        return Ok(match first {
            Some(id) => vec![(trace_key(id), payload.clone())],
            None => Vec::new(),
        });
    }

    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut groups: Vec<(&[u8], TraceGroup)> = Vec::new();
    for (ri, rg) in payload.view().resources().enumerate() {
        let rg = rg?;
        for (si, sg) in rg.scopes().enumerate() {
            let sg = sg?;
            for item in sg.items() {
                let item = item?;
                let id = trace_id_of(signal, item)?;
                let gi = *index.entry(id).or_insert_with(|| {
                    groups.push((id, TraceGroup { regroup: Regroup::new(), items: 0, resource: None, scope: None }));
                    groups.len() - 1
                });
                let g = &mut groups[gi].1;
                if g.resource != Some(ri) {
                    g.regroup.push_resource(rg)?;
                    g.resource = Some(ri);
                    g.scope = None;
                }
                if g.scope != Some((ri, si)) {
                    g.regroup.push_scope(sg)?;
                    g.scope = Some((ri, si));
                }
                g.regroup.push_item(item);
                g.items += 1;
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(id, mut g)| (trace_key(id), Payload::from_counted(signal, g.regroup.finish(), g.items)))
        .collect())
}

fn by_resource(payload: &Payload) -> Result<Vec<KeyedPart>, WireError> {
    let groups: Vec<ResourceGroupView> = payload.view().resources().collect::<Result<_, _>>()?;
    if groups.len() <= 1 {
        let key = match groups.first() {
            Some(rg) => resource_key(rg)?,
            None => return Ok(Vec::new()),
        };
        return Ok(vec![(Some(key), payload.clone())]);
    }
    let mut out = Vec::with_capacity(groups.len());
    for rg in groups {
        let body = rg.bytes();
        let mut buf = Vec::with_capacity(body.len() + 6);
        edit::write_bytes_field(&mut buf, proto::request::RESOURCE_GROUPS, body);
        let part = Payload::new(payload.signal(), Bytes::from(buf))?;
        if part.items() > 0 {
            out.push((Some(resource_key(&rg)?), part));
        }
    }
    Ok(out)
}

/// A 128-bit hash of the resource's attributes (key and encoded value), sorted by key: equal
/// attribute sets give equal keys whatever their order. Not the Collector's `pdatautil.MapHash`
/// bytes, but as stable: the key only chooses the partition.
fn resource_key(rg: &ResourceGroupView) -> Result<Vec<u8>, WireError> {
    let mut attrs: Vec<(&str, String)> = Vec::new();
    for kv in rg.resource()?.attributes().iter() {
        let (k, v) = kv?;
        attrs.push((k, format!("{:?}", v.get()?)));
    }
    attrs.sort_unstable();
    // Each pair as a `KeyValue`-like message: key, then the value's debug rendering.
    let mut canonical = Vec::new();
    for (k, v) in attrs {
        edit::write_bytes_field(&mut canonical, proto::key_value::KEY, k.as_bytes());
        edit::write_bytes_field(&mut canonical, proto::key_value::VALUE, v.as_bytes());
    }
    Ok(twox_hash::XxHash3_128::oneshot(&canonical).to_be_bytes().to_vec())
}

#[cfg(test)]
mod tests;
