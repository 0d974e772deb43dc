//! Telemetry payloads: received OTLP protobuf kept as `Bytes`, read through views.
//!
//! A [`Payload`] is one encoded `Export{Trace,Metrics,Logs}ServiceRequest` plus the facts the
//! runtime needs about it (its signal and item count). It is never decoded into a prost tree on
//! the forwarding path:
//!
//! - reading (sampling, routing, counting, exporting) goes through [`views`], in place: every
//!   field of the OTel data model (spans with events, links and status; log records; metrics
//!   with every data point kind and exemplars; resources, scopes, attributes and nested
//!   values) and the Collector's responses (partial success, `google.rpc.Status`);
//! - batching is concatenation: two encoded requests written one after the other are one valid
//!   request whose repeated `resource_*` fields are joined ([`Payload::concat`]);
//! - splitting and regrouping copy the byte ranges of the items they keep and re-wrap them in
//!   their resource and scope headers ([`Regroup`], [`Payload::split`]);
//! - a stage that changes a few items rewrites only those, copying their other fields byte for
//!   byte ([`edit`]); a stage that must rewrite everything may decode to prost types
//!   ([`Payload::decode_traces`], …) and encode again, an allowed but measured path.
//!
//! The modules, from the bytes up:
//!
//! - [`wire`]: the protobuf wire format (fields, varints, packed repeated scalars, zigzag);
//! - [`proto`]: the field number of every OTLP message field weir reads or writes, once;
//! - [`views`]: zero-copy views of requests, items and responses;
//! - [`enums`]: `SpanKind`, `StatusCode`, `SeverityNumber`, … with pdata's and OTTL's names;
//! - [`edit`]: copy-except-and-append editing of encoded messages, `KeyValue` encoding;
//! - [`parts`]: one request split into parts by destination (byte ranges, [`Regroup`]);
//! - [`stringify`](mod@stringify): `AnyValue`s as text (attribute maps, log bodies);
//! - [`json`]: OTLP/JSON at the edges.
//!
//! Outside this module nothing walks protobuf fields by number: components read through the
//! views and write through [`edit`].

pub mod edit;
pub mod enums;
pub mod json;
pub mod parts;
pub mod proto;
pub mod stringify;
pub mod views;
pub mod wire;

use bytes::Bytes;
use prost::Message;
use std::fmt;

pub use views::{AnyValue, AnyValueView, RequestView, ResourceGroupView, ScopeGroupView, SpanView};
pub use wire::WireError;

/// Now, in nanoseconds since the Unix epoch (OTLP's timestamps); 0 for a clock before 1970.
pub fn now_unix_nano() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

use views::CHILD_FIELD;
use wire::{varint_len, write_len_prefix, Fields};

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The item noun the Collector's metric names use: `spans`, `metric_points`, `log_records`.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        match s {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One encoded OTLP export request and its item count.
///
/// Cloning is cheap (a reference count), so fan-out shares the bytes.
#[derive(Clone)]
pub struct Payload {
    signal: Signal,
    bytes: Bytes,
    items: usize,
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("signal", &self.signal)
            .field("items", &self.items)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Payload {
    /// Wraps a received request, checking its structure down to the items and counting them.
    pub fn new(signal: Signal, bytes: Bytes) -> Result<Payload, WireError> {
        let items = views::count_items(signal, &bytes)?;
        Ok(Payload { signal, bytes, items })
    }

    /// Wraps bytes whose item count is already known (e.g. built by [`Regroup`]).
    pub fn from_counted(signal: Signal, bytes: Bytes, items: usize) -> Payload {
        Payload { signal, bytes, items }
    }

    /// An empty request of `signal`.
    pub fn empty(signal: Signal) -> Payload {
        Payload { signal, bytes: Bytes::new(), items: 0 }
    }

    pub fn signal(&self) -> Signal {
        self.signal
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn items(&self) -> usize {
        self.items
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    pub fn view(&self) -> RequestView<'_> {
        RequestView::new(&self.bytes)
    }

    /// Joins requests of one signal by concatenating their bytes.
    ///
    /// # Panics
    /// If the parts are of different signals: the runtime never mixes signals in one channel.
    pub fn concat(parts: &[Payload]) -> Payload {
        match parts {
            [] => panic!("Payload::concat needs at least one part"),
            [one] => one.clone(),
            _ => {
                let signal = parts[0].signal;
                let len = parts.iter().map(|p| p.bytes.len()).sum();
                let mut buf = Vec::with_capacity(len);
                let mut items = 0;
                for p in parts {
                    assert_eq!(p.signal, signal, "Payload::concat of mixed signals");
                    buf.extend_from_slice(&p.bytes);
                    items += p.items;
                }
                Payload { signal, bytes: Bytes::from(buf), items }
            }
        }
    }

    /// Splits into requests of at most `max_items` items each, cutting between resource
    /// groups where possible and re-wrapping scope and resource headers where a group must be
    /// cut. Metrics are cut between metrics, never inside one: a single metric with more data
    /// points than `max_items` travels alone.
    pub fn split(&self, max_items: usize) -> Result<Vec<Payload>, WireError> {
        if max_items == 0 || self.items <= max_items {
            return Ok(vec![self.clone()]);
        }
        let mut out = Vec::new();
        let mut builder = Regroup::new();
        let mut count = 0usize;
        for rg in self.view().resources() {
            let rg = rg?;
            let mut resource_open = false;
            for sg in rg.scopes() {
                let sg = sg?;
                let mut scope_open = false;
                for item in sg.items() {
                    let item = item?;
                    let n = match self.signal {
                        Signal::Metrics => views::MetricView::new(item).data_point_count()?,
                        _ => 1,
                    };
                    // A metric without data points adds nothing and stays with the part being
                    // built; cutting before it could leave it alone in a part of 0 items, which
                    // is then dropped.
                    if n > 0 && count > 0 && count + n > max_items {
                        out.push(Payload::from_counted(self.signal, builder.finish(), count));
                        count = 0;
                        resource_open = false;
                        scope_open = false;
                    }
                    if !resource_open {
                        builder.push_resource(rg)?;
                        resource_open = true;
                    }
                    if !scope_open {
                        builder.push_scope(sg)?;
                        scope_open = true;
                    }
                    builder.push_item(item);
                    count += n;
                }
            }
        }
        if count > 0 {
            out.push(Payload::from_counted(self.signal, builder.finish(), count));
        }
        Ok(out)
    }

    /// Groups the resource groups (`ResourceSpans`, …) by `key`: one request per distinct key,
    /// in order of first appearance, each the concatenation of its resource groups' bytes as
    /// received. Resource groups whose key is `None` are left out. A request whose every
    /// resource group has one key comes back as it is.
    pub fn group_resources<K: Eq + std::hash::Hash + Clone>(
        &self,
        mut key: impl FnMut(&ResourceGroupView<'_>) -> Result<Option<K>, WireError>,
    ) -> Result<Vec<(K, Payload)>, WireError> {
        // Keys first: a request whose every resource group has one key is returned as it is,
        // without copying its bytes.
        let mut keyed = Vec::new();
        for rg in self.view().resources() {
            let rg = rg?;
            keyed.push((key(&rg)?, rg));
        }
        if let Some((Some(first), _)) = keyed.first() {
            if keyed.iter().all(|(k, _)| k.as_ref() == Some(first)) {
                return Ok(vec![(first.clone(), self.clone())]);
            }
        }
        let mut groups: Vec<(K, Vec<u8>)> = Vec::new();
        let mut index: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
        for (k, rg) in keyed {
            let Some(k) = k else { continue };
            let i = *index.entry(k.clone()).or_insert_with(|| {
                groups.push((k, Vec::new()));
                groups.len() - 1
            });
            edit::write_bytes_field(&mut groups[i].1, proto::request::RESOURCE_GROUPS, rg.bytes());
        }
        let mut out = Vec::with_capacity(groups.len());
        for (k, bytes) in groups {
            let part = Payload::new(self.signal, Bytes::from(bytes))?;
            if !part.is_empty() {
                out.push((k, part));
            }
        }
        Ok(out)
    }

    /// Decodes into prost types, for stages that must rewrite data.
    pub fn decode_traces(
        &self,
    ) -> Result<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest, prost::DecodeError> {
        Message::decode(self.bytes.clone())
    }

    pub fn decode_metrics(
        &self,
    ) -> Result<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest, prost::DecodeError>
    {
        Message::decode(self.bytes.clone())
    }

    pub fn decode_logs(
        &self,
    ) -> Result<opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest, prost::DecodeError> {
        Message::decode(self.bytes.clone())
    }
}

/// Builds a new request out of pieces of received ones: resource and scope headers copied
/// as they are, items copied byte for byte. Nothing is decoded or re-encoded.
#[derive(Default)]
pub struct Regroup<'a> {
    resources: Vec<ResourcePart<'a>>,
}

struct ResourcePart<'a> {
    /// Whole fields (tag included) of the resource group other than its scope groups.
    header: Vec<&'a [u8]>,
    scopes: Vec<ScopePart<'a>>,
}

struct ScopePart<'a> {
    /// Whole fields of the scope group other than its items.
    header: Vec<&'a [u8]>,
    /// Item messages, without tag and length.
    items: Vec<&'a [u8]>,
}

fn header_fields(buf: &[u8]) -> Result<Vec<&[u8]>, WireError> {
    let mut out = Vec::with_capacity(2);
    for f in Fields::new(buf) {
        let f = f?;
        if f.number != CHILD_FIELD {
            out.push(&buf[f.start..f.end]);
        }
    }
    Ok(out)
}

fn nested_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

impl<'a> Regroup<'a> {
    pub fn new() -> Self {
        Regroup { resources: Vec::new() }
    }

    /// Starts a resource group with the resource and schema url of `rg`.
    pub fn push_resource(&mut self, rg: ResourceGroupView<'a>) -> Result<(), WireError> {
        self.resources.push(ResourcePart { header: header_fields(rg.bytes())?, scopes: Vec::new() });
        Ok(())
    }

    /// Starts a scope group, in the last resource group, with the scope and schema url of `sg`.
    ///
    /// # Panics
    /// If no resource group was started.
    pub fn push_scope(&mut self, sg: ScopeGroupView<'a>) -> Result<(), WireError> {
        let header = header_fields(sg.bytes())?;
        self.resources
            .last_mut()
            .expect("Regroup::push_scope before push_resource")
            .scopes
            .push(ScopePart { header, items: Vec::new() });
        Ok(())
    }

    /// Adds one encoded item (span, log record, metric) to the last scope group.
    ///
    /// # Panics
    /// If no scope group was started.
    pub fn push_item(&mut self, item: &'a [u8]) {
        self.resources
            .last_mut()
            .and_then(|r| r.scopes.last_mut())
            .expect("Regroup::push_item before push_scope")
            .items
            .push(item);
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Encodes what was pushed and resets the builder.
    pub fn finish(&mut self) -> Bytes {
        let resources = std::mem::take(&mut self.resources);
        let scope_len = |s: &ScopePart| -> usize {
            s.header.iter().map(|h| h.len()).sum::<usize>() + s.items.iter().map(|i| nested_len(i.len())).sum::<usize>()
        };
        let resource_len = |r: &ResourcePart| -> usize {
            r.header.iter().map(|h| h.len()).sum::<usize>()
                + r.scopes.iter().map(|s| nested_len(scope_len(s))).sum::<usize>()
        };
        let total: usize = resources.iter().map(|r| nested_len(resource_len(r))).sum();
        let mut out = Vec::with_capacity(total);
        for r in &resources {
            write_len_prefix(&mut out, views::GROUP_FIELD, resource_len(r));
            r.header.iter().for_each(|h| out.extend_from_slice(h));
            for s in &r.scopes {
                write_len_prefix(&mut out, CHILD_FIELD, scope_len(s));
                s.header.iter().for_each(|h| out.extend_from_slice(h));
                for item in &s.items {
                    write_len_prefix(&mut out, CHILD_FIELD, item.len());
                    out.extend_from_slice(item);
                }
            }
        }
        debug_assert_eq!(out.len(), total);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests;
