//! What one `hostmetrics` scrape of this host costs, with all ten scrapers on (their default
//! metrics; `process` over every process of the host), as the receiver runs it on its blocking
//! thread: reading the `/proc` files, parsing them and building the OTLP metrics.
//!
//! The cost per interval is the time per iteration: at `collection_interval: 10s`, a scrape of
//! 10 ms is 0.1% of one core. Then each scraper alone. Also prints the data points of one scrape.
//!
//! Run: `cargo bench -p weir-receivers --bench hostmetrics` (`-- --quick` for short).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;
use weir_receivers::hostmetrics::scrapers::{self, Host};
use weir_receivers::hostmetrics::HostmetricsConfig;

const ALL: &str = "scrapers: {cpu: , disk: , filesystem: , load: , memory: , network: , paging: , processes: , \
                   process: {mute_process_all_errors: true}, system: }";

fn scrape(c: &mut Criterion) {
    let config: HostmetricsConfig = weir_core::testing::parse_config(ALL).expect("valid");
    let mut all = scrapers::build(&config.scrapers).expect("builds");
    let host = Host::new(Path::new("/"));
    let points: usize = all.iter_mut().map(|s| s.scrape(&host).points).sum();
    let processes = std::fs::read_dir("/proc")
        .map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())).count())
        .unwrap_or(0);
    println!("one scrape: {points} data points, {processes} processes on this host");
    c.bench_function("hostmetrics/all_scrapers", |b| {
        b.iter(|| {
            let n: usize = all.iter_mut().map(|s| s.scrape(&host).resource_metrics.len()).sum();
            black_box(n)
        })
    });
    // Each scraper alone: where the time goes.
    for mut one in all {
        let name = one.name();
        c.bench_function(&format!("hostmetrics/{name}"), |b| b.iter(|| black_box(one.scrape(&host).points)));
    }
}

criterion_group!(benches, scrape);
criterion_main!(benches);
