//! What the `clickhouse` exporter costs per row, without a server: OTLP request bytes →
//! RowBinary rows ([`weir_exporters::clickhouse::rows::encode`]), and the zstd-1 compression of the body.
//!
//! Input: `weir-loadgen`'s realistic requests (8 services, Kubernetes resources, HTTP/RPC/DB
//! spans with semantic-convention attributes, events on errors), 512 spans or log records per
//! request, fixed seed.
//!
//! Run: `cargo bench -p weir-exporters --bench clickhouse_encode` (add `-- --quick` for a short run).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use std::hint::black_box;
use weir_core::Signal;
use weir_loadgen::generate::{GenConfig, Generator};

const ITEMS: usize = 512;

fn encode(c: &mut Criterion) {
    let mut generator = Generator::new(GenConfig::default());
    let (traces, _) = generator.traces_request(ITEMS);
    let traces = traces.encode_to_vec();
    let (logs, _) = generator.logs_request(ITEMS);
    let logs = logs.encode_to_vec();

    let mut group = c.benchmark_group("clickhouse");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("encode_spans_512", |b| {
        b.iter(|| weir_exporters::clickhouse::rows::encode(Signal::Traces, black_box(&traces)).expect("valid request"))
    });
    group.bench_function("encode_logs_512", |b| {
        b.iter(|| weir_exporters::clickhouse::rows::encode(Signal::Logs, black_box(&logs)).expect("valid request"))
    });
    let rows = weir_exporters::clickhouse::rows::encode(Signal::Traces, &traces).expect("valid request");
    let body = &rows.tables[0].1.body;
    eprintln!(
        "spans: {} bytes of OTLP, {} bytes of RowBinary, {} bytes after zstd-1 ({} rows)",
        traces.len(),
        body.len(),
        zstd::bulk::compress(body, 1).map(|b| b.len()).unwrap_or(0),
        rows.rows()
    );
    group.bench_function("encode_and_zstd1_spans_512", |b| {
        b.iter(|| {
            let rows =
                weir_exporters::clickhouse::rows::encode(Signal::Traces, black_box(&traces)).expect("valid request");
            zstd::bulk::compress(&rows.tables[0].1.body, 1).expect("zstd")
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
