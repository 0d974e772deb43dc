//! The prometheus receiver's per-scrape CPU cost: parsing an exposition (text 0.0.4) and
//! translating its samples to OTLP (families, start-time adjustment, encode). The body is a
//! node-exporter-like page: 1,000 counters and gauges with labels, 50 histograms of 12 buckets,
//! 10 summaries. Prints samples/s and bytes/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use std::collections::BTreeMap;
use std::hint::black_box;
use weir_receivers::prometheus::textparse::{parse, Format};
use weir_receivers::prometheus::translate::{Point, TargetInfo, TranslateOptions, Translator};

fn body() -> String {
    let mut b = String::new();
    b.push_str(
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n",
    );
    for cpu in 0..50 {
        for mode in ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user", "guest", "guest_nice"] {
            b.push_str(&format!(
                "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {}.{}\n",
                cpu * 1000 + 7,
                cpu
            ));
        }
    }
    b.push_str(
        "# HELP node_filesystem_avail_bytes Filesystem space available.\n# TYPE node_filesystem_avail_bytes gauge\n",
    );
    for i in 0..500 {
        b.push_str(&format!(
            "node_filesystem_avail_bytes{{device=\"/dev/sd{i}\",fstype=\"ext4\",mountpoint=\"/mnt/{i}\"}} {}\n",
            1.5e10 + i as f64
        ));
    }
    for h in 0..50 {
        b.push_str(&format!(
            "# HELP http_request_duration_seconds_{h} Latency.\n# TYPE http_request_duration_seconds_{h} histogram\n"
        ));
        let mut c = 0;
        for le in ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"] {
            c += 3;
            b.push_str(&format!("http_request_duration_seconds_{h}_bucket{{route=\"/api\",le=\"{le}\"}} {c}\n"));
        }
        b.push_str(&format!("http_request_duration_seconds_{h}_sum{{route=\"/api\"}} 12.5\nhttp_request_duration_seconds_{h}_count{{route=\"/api\"}} {c}\n"));
    }
    for s in 0..10 {
        b.push_str(&format!("# TYPE rpc_latency_{s} summary\n"));
        for q in ["0.5", "0.9", "0.99"] {
            b.push_str(&format!("rpc_latency_{s}{{quantile=\"{q}\"}} 0.1\n"));
        }
        b.push_str(&format!("rpc_latency_{s}_sum 3\nrpc_latency_{s}_count 30\n"));
    }
    b
}

fn points(
    body: &str,
) -> (Vec<Point>, std::collections::HashMap<String, weir_receivers::prometheus::textparse::Metadata>) {
    let e = parse(body, Format::Text).expect("a valid body");
    let points = e
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: BTreeMap<String, String> = s.labels.into_iter().collect();
            labels.insert("__name__".into(), s.name);
            labels.insert("job".into(), "node".into());
            labels.insert("instance".into(), "10.0.0.1:9100".into());
            Point { labels, value: s.value, timestamp_ms: 1_700_000_000_000 }
        })
        .collect();
    (points, e.metadata)
}

fn bench(c: &mut Criterion) {
    let body = body();
    let samples = parse(&body, Format::Text).unwrap().samples.len() as u64;
    let mut g = c.benchmark_group("prometheus_scrape");
    g.throughput(Throughput::Elements(samples));
    g.bench_function("parse_text", |b| b.iter(|| black_box(parse(black_box(&body), Format::Text).unwrap())));
    let (pts, md) = points(&body);
    let target = TargetInfo {
        job: "node".into(),
        instance: "10.0.0.1:9100".into(),
        scheme: "http".into(),
        ..Default::default()
    };
    let mut translator = Translator::new(TranslateOptions::default());
    g.bench_function("translate_and_encode", |b| {
        b.iter(|| {
            let rm = translator.translate(&target, black_box(&pts), &md).unwrap();
            let req = opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
                resource_metrics: rm,
            };
            black_box(req.encode_to_vec())
        })
    });
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse_text_bytes", |b| b.iter(|| black_box(parse(black_box(&body), Format::Text).unwrap())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
