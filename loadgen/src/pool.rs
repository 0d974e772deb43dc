//! A pool of pre-encoded export requests.
//!
//! Requests are generated and encoded once, before sending, so that generation cost never
//! limits the send rate. A pool is usually smaller than the run, so entries are re-sent; to
//! keep the data realistic, every send is *rendered* from its entry by patching the encoded
//! bytes in place (no re-encoding):
//!
//! * every timestamp is shifted by the time elapsed since generation, so data stays "near now";
//! * from the second pass over the pool on, the first 8 bytes of every trace id are XORed with a
//!   per-send salt, so re-sent traces are new traces (a tail sampler never sees a trace id twice).
//!
//! The byte offsets of those fields are found once, right after encoding, by searching for the
//! known values in encoding order. This works for both protobuf (raw bytes / fixed64) and
//! OTLP/JSON (lower-case hex strings / 19-digit decimal strings).

use bytes::Bytes;
use prost::Message;

use crate::generate::{ExportRequest, Generator, Meta, Signal};

/// Wire encoding of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf (gRPC and `application/x-protobuf`).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

/// What a patch rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchKind {
    /// A 16-byte trace id (32 hex chars in JSON).
    TraceId,
    /// A `fixed64` Unix-nanosecond timestamp (19 decimal digits in JSON).
    Time,
}

/// A location in an encoded body to rewrite at render time.
#[derive(Debug, Clone, Copy)]
struct Patch {
    offset: u32,
    kind: PatchKind,
}

/// One encoded request and what it contains.
#[derive(Debug, Clone)]
pub struct Payload {
    body: Bytes,
    patches: Vec<Patch>,
    /// Item/trace counters of the request.
    pub meta: Meta,
}

impl Payload {
    /// Encode `req` and locate its patchable fields.
    pub fn encode(req: &ExportRequest, meta: Meta, encoding: Encoding) -> Payload {
        let body = match (encoding, req) {
            (Encoding::Protobuf, ExportRequest::Traces(r)) => r.encode_to_vec(),
            (Encoding::Protobuf, ExportRequest::Logs(r)) => r.encode_to_vec(),
            (Encoding::Protobuf, ExportRequest::Metrics(r)) => r.encode_to_vec(),
            (Encoding::Json, ExportRequest::Traces(r)) => serde_json::to_vec(r).expect("serializable"),
            (Encoding::Json, ExportRequest::Logs(r)) => serde_json::to_vec(r).expect("serializable"),
            (Encoding::Json, ExportRequest::Metrics(r)) => serde_json::to_vec(r).expect("serializable"),
        };
        let mut finder = Finder::new(&body, encoding);
        match req {
            ExportRequest::Traces(r) => {
                for span in r.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                    let mut times = vec![span.start_time_unix_nano, span.end_time_unix_nano];
                    times.extend(span.events.iter().map(|e| e.time_unix_nano));
                    finder.item(&[&span.trace_id], &times);
                }
            }
            ExportRequest::Logs(r) => {
                for log in r.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records) {
                    finder.item(&[&log.trace_id], &[log.time_unix_nano, log.observed_time_unix_nano]);
                }
            }
            ExportRequest::Metrics(r) => {
                use opentelemetry_proto::tonic::metrics::v1::metric::Data;
                for m in r.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics) {
                    let points: Vec<(u64, u64)> = match &m.data {
                        Some(Data::Gauge(g)) => {
                            g.data_points.iter().map(|p| (p.start_time_unix_nano, p.time_unix_nano)).collect()
                        }
                        Some(Data::Sum(s)) => {
                            s.data_points.iter().map(|p| (p.start_time_unix_nano, p.time_unix_nano)).collect()
                        }
                        Some(Data::Histogram(h)) => {
                            h.data_points.iter().map(|p| (p.start_time_unix_nano, p.time_unix_nano)).collect()
                        }
                        _ => Vec::new(),
                    };
                    for (start, time) in points {
                        finder.item(&[], &[start, time]);
                    }
                }
            }
        }
        Payload { patches: finder.patches, body: Bytes::from(body), meta }
    }

    /// The body exactly as generated.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body with every timestamp shifted by `delta_ns` and every trace id XORed with
    /// `salt` (first 8 bytes). With both zero this is a cheap clone of the original.
    pub fn render(&self, encoding: Encoding, salt: u64, delta_ns: u64) -> Bytes {
        if salt == 0 && delta_ns == 0 {
            return self.body.clone();
        }
        let mut out = self.body.to_vec();
        let salt_bytes = salt.to_le_bytes();
        for p in &self.patches {
            let off = p.offset as usize;
            match (encoding, p.kind) {
                (_, PatchKind::TraceId) if salt == 0 => {}
                (Encoding::Protobuf, PatchKind::TraceId) => {
                    for (b, s) in out[off..off + 8].iter_mut().zip(salt_bytes) {
                        *b ^= s;
                    }
                }
                (Encoding::Json, PatchKind::TraceId) => {
                    let mut raw = [0u8; 8];
                    for (i, r) in raw.iter_mut().enumerate() {
                        *r = (hex_val(out[off + 2 * i]) << 4 | hex_val(out[off + 2 * i + 1])) ^ salt_bytes[i];
                    }
                    for (i, r) in raw.iter().enumerate() {
                        out[off + 2 * i] = HEX[(r >> 4) as usize];
                        out[off + 2 * i + 1] = HEX[(r & 0xf) as usize];
                    }
                }
                (_, PatchKind::Time) if delta_ns == 0 => {}
                (Encoding::Protobuf, PatchKind::Time) => {
                    let mut v = [0u8; 8];
                    v.copy_from_slice(&out[off..off + 8]);
                    let t = u64::from_le_bytes(v).wrapping_add(delta_ns);
                    out[off..off + 8].copy_from_slice(&t.to_le_bytes());
                }
                (Encoding::Json, PatchKind::Time) => {
                    let digits = &mut out[off..off + 19];
                    let t = digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')) + delta_ns;
                    let mut t = t;
                    for d in digits.iter_mut().rev() {
                        *d = b'0' + (t % 10) as u8;
                        t /= 10;
                    }
                }
            }
        }
        Bytes::from(out)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Finds the offsets of known values in an encoded body, item by item in encoding order.
struct Finder<'a> {
    buf: &'a [u8],
    encoding: Encoding,
    cursor: usize,
    patches: Vec<Patch>,
}

impl<'a> Finder<'a> {
    fn new(buf: &'a [u8], encoding: Encoding) -> Self {
        Finder { buf, encoding, cursor: 0, patches: Vec::new() }
    }

    /// Locate the fields of one item (span, log record, data point). Each value is searched
    /// from the end of the previous item; offsets already claimed by this item are skipped so
    /// equal values (e.g. start == end) map to distinct fields.
    fn item(&mut self, trace_ids: &[&[u8]], times: &[u64]) {
        let start = self.cursor;
        let mut claimed: Vec<usize> = Vec::with_capacity(trace_ids.len() + times.len());
        let mut end = start;
        let mut find = |pattern: &[u8], skip: usize, kind: PatchKind, claimed: &mut Vec<usize>| {
            let mut from = start;
            while let Some(pos) = find_from(self.buf, pattern, from) {
                let off = pos + skip;
                if claimed.contains(&off) {
                    from = pos + 1;
                    continue;
                }
                claimed.push(off);
                end = end.max(pos + pattern.len());
                self.patches.push(Patch { offset: off as u32, kind });
                return;
            }
        };
        for id in trace_ids.iter().filter(|id| id.len() == 16) {
            match self.encoding {
                Encoding::Protobuf => find(id, 0, PatchKind::TraceId, &mut claimed),
                Encoding::Json => {
                    let mut pat = Vec::with_capacity(34);
                    pat.push(b'"');
                    for b in id.iter() {
                        pat.push(HEX[(b >> 4) as usize]);
                        pat.push(HEX[(b & 0xf) as usize]);
                    }
                    pat.push(b'"');
                    find(&pat, 1, PatchKind::TraceId, &mut claimed);
                }
            }
        }
        for &t in times.iter().filter(|&&t| t != 0) {
            match self.encoding {
                Encoding::Protobuf => find(&t.to_le_bytes(), 0, PatchKind::Time, &mut claimed),
                Encoding::Json => {
                    let s = format!("\"{t}\"");
                    if s.len() == 21 {
                        find(s.as_bytes(), 1, PatchKind::Time, &mut claimed);
                    }
                }
            }
        }
        self.cursor = end;
    }
}

/// Position of the first occurrence of `pattern` in `hay` at or after `from`.
fn find_from(hay: &[u8], pattern: &[u8], from: usize) -> Option<usize> {
    let first = *pattern.first()?;
    let last_start = hay.len().checked_sub(pattern.len())?;
    let mut i = from;
    while i <= last_start {
        let rel = hay[i..=last_start].iter().position(|&b| b == first)?;
        let j = i + rel;
        if &hay[j..j + pattern.len()] == pattern {
            return Some(j);
        }
        i = j + 1;
    }
    None
}

/// A set of pre-encoded requests, plus an optional smaller final request for `--total` runs
/// whose item count is not a multiple of the batch size.
#[derive(Debug)]
pub struct Pool {
    entries: Vec<Payload>,
    tail: Option<Payload>,
    encoding: Encoding,
    base_ns: u64,
}

impl Pool {
    /// Generate `entries` requests of `batch` items each (at least one), plus a `tail_items`
    /// request if non-zero.
    pub fn generate(
        generator: &mut Generator,
        signal: Signal,
        encoding: Encoding,
        batch: usize,
        entries: usize,
        tail_items: usize,
    ) -> Pool {
        let entries = (0..entries.max(1))
            .map(|_| {
                let (req, meta) = generator.request(signal, batch);
                Payload::encode(&req, meta, encoding)
            })
            .collect();
        let tail = (tail_items > 0).then(|| {
            let (req, meta) = generator.request(signal, tail_items);
            Payload::encode(&req, meta, encoding)
        });
        Pool { entries, tail, encoding, base_ns: generator.base_ns() }
    }

    /// Number of full-size entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool has no entries (never true for a generated pool).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total encoded bytes held.
    pub fn bytes(&self) -> usize {
        self.entries.iter().chain(self.tail.iter()).map(|p| p.body.len()).sum()
    }

    /// Body encoding of all entries.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The payload sent as request number `seq`; `last` says whether it is the final request
    /// of a `--total` run (which uses the tail entry, if any).
    pub fn payload(&self, seq: u64, last: bool) -> &Payload {
        match (&self.tail, last) {
            (Some(tail), true) => tail,
            _ => &self.entries[(seq % self.entries.len() as u64) as usize],
        }
    }

    /// The body to send as request number `seq` at time `now_ns`.
    pub fn render(&self, payload: &Payload, seq: u64, now_ns: u64) -> Bytes {
        let salt = if seq < self.entries.len() as u64 { 0 } else { splitmix64(seq) | 1 };
        payload.render(self.encoding, salt, now_ns.saturating_sub(self.base_ns))
    }
}

/// A well-mixed 64-bit hash of `x` (SplitMix64 finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::GenConfig;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    const BASE: u64 = 1_760_000_000_000_000_000;

    fn generator() -> Generator {
        Generator::with_base_time(GenConfig { error_rate: 0.3, ..Default::default() }, BASE)
    }

    fn xor(id: &[u8], salt: u64) -> Vec<u8> {
        let mut v = id.to_vec();
        for (b, s) in v.iter_mut().zip(salt.to_le_bytes()) {
            *b ^= s;
        }
        v
    }

    fn decode_traces(encoding: Encoding, body: &[u8]) -> ExportTraceServiceRequest {
        match encoding {
            Encoding::Protobuf => ExportTraceServiceRequest::decode(body).expect("protobuf"),
            Encoding::Json => serde_json::from_slice(body).expect("json"),
        }
    }

    #[test]
    fn render_patches_every_trace_id_and_time() {
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let mut g = generator();
            let (req, meta) = g.request(Signal::Traces, 512);
            let ExportRequest::Traces(orig) = &req else { unreachable!() };
            let payload = Payload::encode(&req, meta, encoding);
            assert_eq!(&decode_traces(encoding, payload.body()), orig, "{encoding:?} round trip");
            let (salt, delta) = (0x0123_4567_89ab_cdef, 987_654_321_000);
            let patched = decode_traces(encoding, &payload.render(encoding, salt, delta));
            let mut expected = orig.clone();
            for s in expected.resource_spans.iter_mut().flat_map(|r| &mut r.scope_spans).flat_map(|s| &mut s.spans) {
                s.trace_id = xor(&s.trace_id, salt);
                s.start_time_unix_nano += delta;
                s.end_time_unix_nano += delta;
                for e in &mut s.events {
                    e.time_unix_nano += delta;
                }
            }
            assert_eq!(patched, expected, "{encoding:?}");
        }
    }

    #[test]
    fn render_patches_logs_and_metrics() {
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let mut g = generator();
            let (req, meta) = g.request(Signal::Logs, 300);
            let ExportRequest::Logs(orig) = &req else { unreachable!() };
            let payload = Payload::encode(&req, meta, encoding);
            let body = payload.render(encoding, 77, 1_000);
            let patched: ExportLogsServiceRequest = match encoding {
                Encoding::Protobuf => ExportLogsServiceRequest::decode(&body[..]).expect("protobuf"),
                Encoding::Json => serde_json::from_slice(&body).expect("json"),
            };
            let mut expected = orig.clone();
            for l in expected.resource_logs.iter_mut().flat_map(|r| &mut r.scope_logs).flat_map(|s| &mut s.log_records)
            {
                l.trace_id = xor(&l.trace_id, 77);
                l.time_unix_nano += 1_000;
                l.observed_time_unix_nano += 1_000;
            }
            assert_eq!(patched, expected, "logs {encoding:?}");

            let (req, meta) = g.request(Signal::Metrics, 300);
            let payload = Payload::encode(&req, meta, encoding);
            let body = payload.render(encoding, 77, 5);
            let patched: ExportMetricsServiceRequest = match encoding {
                Encoding::Protobuf => ExportMetricsServiceRequest::decode(&body[..]).expect("protobuf"),
                Encoding::Json => serde_json::from_slice(&body).expect("json"),
            };
            let ExportRequest::Metrics(orig) = &req else { unreachable!() };
            use opentelemetry_proto::tonic::metrics::v1::metric::Data;
            let times = |r: &ExportMetricsServiceRequest| -> Vec<(u64, u64)> {
                r.resource_metrics
                    .iter()
                    .flat_map(|r| &r.scope_metrics)
                    .flat_map(|s| &s.metrics)
                    .flat_map(|m| match m.data.as_ref().expect("data") {
                        Data::Gauge(g) => {
                            g.data_points.iter().map(|p| (p.start_time_unix_nano, p.time_unix_nano)).collect()
                        }
                        Data::Sum(s) => {
                            s.data_points.iter().map(|p| (p.start_time_unix_nano, p.time_unix_nano)).collect()
                        }
                        Data::Histogram(h) => {
                            h.data_points.iter().map(|p| (p.start_time_unix_nano, p.time_unix_nano)).collect()
                        }
                        _ => Vec::<(u64, u64)>::new(),
                    })
                    .collect()
            };
            let shifted: Vec<(u64, u64)> =
                times(orig).into_iter().map(|(s, t)| (if s == 0 { 0 } else { s + 5 }, t + 5)).collect();
            assert_eq!(times(&patched), shifted, "metrics {encoding:?}");
        }
    }

    #[test]
    fn pool_cycles_with_fresh_trace_ids() {
        let mut g = generator();
        let pool = Pool::generate(&mut g, Signal::Traces, Encoding::Protobuf, 100, 3, 42);
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.payload(5, true).meta.items, 42);
        assert_eq!(pool.payload(5, false).meta.items, 100);
        // First pass: sent as generated.
        assert_eq!(pool.render(pool.payload(1, false), 1, BASE), *pool.payload(1, false).body());
        // Later passes: same entry, different trace ids, times moved to "now".
        let first = decode_traces(Encoding::Protobuf, &pool.render(pool.payload(1, false), 1, BASE));
        let again = decode_traces(Encoding::Protobuf, &pool.render(pool.payload(4, false), 4, BASE + 60_000_000_000));
        let ids = |r: &ExportTraceServiceRequest| -> std::collections::BTreeSet<Vec<u8>> {
            r.resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.trace_id.clone())
                .collect()
        };
        assert!(ids(&first).is_disjoint(&ids(&again)));
        let t0 = first.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano;
        let t1 = again.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano;
        assert_eq!(t1 - t0, 60_000_000_000);
    }

    #[test]
    fn find_from_works() {
        assert_eq!(find_from(b"abcabc", b"bc", 0), Some(1));
        assert_eq!(find_from(b"abcabc", b"bc", 2), Some(4));
        assert_eq!(find_from(b"abcabc", b"bd", 0), None);
        assert_eq!(find_from(b"ab", b"abc", 0), None);
    }
}
