//! The `adaptive` policy's cost per decision (the engine alone: key lookup, probability,
//! threshold, counting), on a Zipf workload over 200 keys at ten times its budget, with a
//! rate-table adjustment every simulated second.
//!
//! Run: `cargo bench -p weir-processors --bench adaptive`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use tokio::time::Instant;
use weir_processors::tail_sampling::adaptive::{Adaptive, TraceSummary};
use weir_processors::tail_sampling::AdaptiveConfig;

fn workload(n: usize) -> Vec<TraceSummary> {
    let mut x: u64 = 42;
    let mut next = move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let weights: Vec<f64> = (1..=200).map(|k| 1.0 / (k as f64).powf(1.1)).collect();
    let total: f64 = weights.iter().sum();
    (0..n)
        .map(|_| {
            let mut u = (next() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let key = weights.iter().position(|w| {
                u -= w;
                u <= 0.0
            });
            let key = key.unwrap_or(199);
            let error = next() % 200 == 0;
            TraceSummary {
                key: vec![
                    format!("svc{}", key % 20),
                    format!("/route/{key}"),
                    if error { "error" } else { "ok" }.into(),
                ],
                spans: 1 + (next() % 16) as u32,
                error,
                duration_ns: 1_000_000 + next() % 100_000_000,
                marked: false,
                randomness: next() >> 8,
                incoming_threshold: None,
            }
        })
        .collect()
}

fn decide(c: &mut Criterion) {
    let traces = workload(100_000);
    let spans: u64 = traces.iter().map(|t| t.spans as u64).sum();
    let config = AdaptiveConfig { target_spans_per_sec: spans as f64 / 100.0, ..AdaptiveConfig::default() };
    let mut group = c.benchmark_group("adaptive");
    group.throughput(Throughput::Elements(traces.len() as u64));
    group.bench_function("decide_100k_traces", |b| {
        b.iter(|| {
            // 100k traces over 10 simulated seconds: ten adjustments.
            let mut policy = Adaptive::new("bench", &config).expect("valid config");
            let t0 = Instant::now();
            let mut kept = 0u32;
            for (i, t) in traces.iter().enumerate() {
                let now = t0 + Duration::from_micros(i as u64 * 100);
                kept += policy.decide(t, now).keep as u32;
            }
            kept
        })
    });
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
