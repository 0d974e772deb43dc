//! The shipped default pipeline (`pipelines.yaml`: tail_sampling with the `adaptive` policy)
//! under weir-loadgen, and `weir simulate` on what weir recorded.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `weir-loadgen`, built beside `weir` (scripts/test builds it before `cargo test`).
fn loadgen() -> PathBuf {
    let weir = PathBuf::from(env!("CARGO_BIN_EXE_weir"));
    let path = weir.with_file_name("weir-loadgen");
    assert!(
        path.exists(),
        "{} is missing: run the tests with scripts/test, or `cargo build -p weir-loadgen` first",
        path.display()
    );
    path
}

/// The repository's `pipelines.yaml` on free ports, writing under the test's directory, with
/// `target_spans_per_sec` set.
fn default_pipeline(grpc: u16, target: u32) -> String {
    let text = std::fs::read_to_string(repo_root().join("pipelines.yaml")).expect("pipelines.yaml");
    let replaced = text
        .replace("${env:WEIR_OTLP_GRPC_ENDPOINT:-localhost:4317}", &format!("127.0.0.1:{grpc}"))
        .replace("${env:WEIR_OTLP_HTTP_ENDPOINT:-localhost:4318}", &format!("127.0.0.1:{}", free_port()))
        .replace("${env:WEIR_HEALTH_ENDPOINT:-localhost:13133}", "127.0.0.1:{health}")
        .replace("${env:WEIR_METRICS_ENDPOINT:-localhost:8888}", "127.0.0.1:{metrics}")
        .replace("${env:WEIR_DATA_DIR:-./data}", "{dir}/data")
        .replace("${env:WEIR_TARGET_SPANS_PER_SEC:-1000}", &target.to_string());
    assert!(!replaced.contains("${"), "every variable of pipelines.yaml is replaced:\n{replaced}");
    replaced
}

/// A counter's value (summed over its series) from a Prometheus text body, filtered by labels.
fn counter(body: &str, name: &str, labels: &[&str]) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|s| l.contains(s)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn run_loadgen(grpc: u16, rate: u32, seconds: u32, error_rate: f64) -> std::process::Child {
    Command::new(loadgen())
        .args(["--endpoint", &format!("127.0.0.1:{grpc}"), "--protocol", "grpc", "--signal", "traces"])
        .args(["--rate", &rate.to_string(), "--duration-s", &seconds.to_string()])
        .args(["--error-rate", &error_rate.to_string(), "--json", "--concurrency", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weir-loadgen")
}

fn loadgen_summary(child: std::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("weir-loadgen runs");
    assert!(out.status.success(), "weir-loadgen failed: {}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| l.trim_start().starts_with('{')).expect("a JSON summary");
    serde_json::from_str(last).expect("the summary is JSON")
}

/// Trace ids with an ERROR span, and all trace ids, of the spans weir wrote as Parquet.
fn parquet_traces(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>, Vec<weir_exporters::parquet::SpanRecord>) {
    let spans = weir_exporters::parquet::read_spans(&dir.join("traces")).expect("read the traces written");
    let errors = spans.iter().filter(|s| s.status_code == "Error").map(|s| s.trace_id.clone()).collect();
    let all = spans.iter().map(|s| s.trace_id.clone()).collect();
    (errors, all, spans)
}

#[test]
fn the_default_pipeline_holds_a_2000_spans_per_second_budget_under_20000_and_keeps_every_error_trace() {
    let grpc = free_port();
    let mut weir = Weir::start("adaptive", &default_pipeline(grpc, 2000));
    let load = run_loadgen(grpc, 20_000, 40, 0.01);
    // The output rate, from the processor's own counters, over the load's steady middle
    // (decisions come 2 s after a root span; the first seconds learn the rates).
    let tail = ["processor=\"tail_sampling\""];
    std::thread::sleep(Duration::from_secs(15));
    let (t1, out1, in1) = {
        let m = weir.metrics();
        (
            Instant::now(),
            counter(&m, "otelcol_processor_outgoing_items", &tail),
            counter(&m, "otelcol_processor_incoming_items", &tail),
        )
    };
    std::thread::sleep(Duration::from_secs(20));
    let (t2, out2, in2) = {
        let m = weir.metrics();
        (
            Instant::now(),
            counter(&m, "otelcol_processor_outgoing_items", &tail),
            counter(&m, "otelcol_processor_incoming_items", &tail),
        )
    };
    let secs = (t2 - t1).as_secs_f64();
    let (input, output) = ((in2 - in1) / secs, (out2 - out1) / secs);
    let summary = loadgen_summary(load);
    eprintln!("offered {input:.0} spans/s, kept {output:.0} spans/s; loadgen: {summary}");
    assert!(input >= 18_000.0, "the load reaches ~20,000 spans/s: {input:.0} (loadgen {summary})");
    assert!((output / 2000.0 - 1.0).abs() <= 0.10, "kept {output:.0} spans/s against a budget of 2,000");
    // Every error trace the load generator sent is kept, whole traces with `ot=th`.
    std::thread::sleep(Duration::from_secs(12));
    assert!(weir.terminate(Duration::from_secs(30)).success(), "{}", weir.log());
    let (errors, kept, spans) = parquet_traces(&weir.path("data"));
    let sent_errors = summary["error_traces"].as_u64().expect("error_traces");
    assert!(sent_errors > 100, "the load has error traces: {summary}");
    assert_eq!(errors.len() as u64, sent_errors, "every error trace kept ({} traces kept)", kept.len());
    assert!(spans.iter().all(|s| s.sampling_threshold.is_some()), "every kept span carries ot=th");
}

/// What `weir simulate` printed, by the first word of each line.
fn simulate(config: &Path, input: &Path) -> BTreeMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["simulate", "--config"])
        .arg(config)
        .arg("--input")
        .arg(input)
        .output()
        .expect("weir simulate runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "weir simulate failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{stdout}");
    let mut lines = BTreeMap::new();
    for l in stdout.lines() {
        let l = l.trim();
        if let Some((head, rest)) = l.split_once(':') {
            lines.entry(head.to_string()).or_insert_with(|| rest.trim().to_string());
        }
        lines.insert(format!("line {}", lines.len()), l.to_string());
    }
    lines.insert("all".into(), stdout);
    lines
}

/// The first number in `text` after `word`.
fn number_after(text: &str, word: &str) -> f64 {
    let rest = &text[text.find(word).unwrap_or_else(|| panic!("{word:?} in {text:?}")) + word.len()..];
    let digits: String = rest.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    digits.parse().unwrap_or_else(|_| panic!("a number after {word:?} in {text:?}"))
}

#[test]
fn simulate_replays_recorded_parquet_and_json_lines_through_a_config() {
    // Record 10 s at 5,000 spans/s, unsampled, as Parquet and as the file exporter's JSON.
    let grpc = free_port();
    let mut recorder = Weir::start(
        "recorder",
        &format!(
            "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:{grpc}}}}}}}}}\n\
             exporters:\n  parquet: {{path: '{{dir}}/data'}}\n  file: {{path: '{{dir}}/spans.jsonl'}}\n\
             extensions: {{health_check: {{endpoint: '127.0.0.1:{{health}}'}}}}\n\
             service:\n  extensions: [health_check]\n  telemetry: {{metrics: {{address: '127.0.0.1:{{metrics}}'}}}}\n  \
             pipelines: {{traces: {{receivers: [otlp], exporters: [parquet, file]}}}}\n"
        ),
    );
    let summary = loadgen_summary(run_loadgen(grpc, 5000, 10, 0.02));
    assert!(recorder.terminate(Duration::from_secs(30)).success(), "{}", recorder.log());
    let sent = summary["items"].as_u64().expect("items");
    let sent_errors = summary["error_traces"].as_u64().expect("error_traces");

    // A memory_limiter that would refuse everything (1 MiB) is left out of the replay.
    let config = recorder.dir.path().join("budget.yaml");
    std::fs::write(
        &config,
        "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:1}}}}\n\
         processors:\n  memory_limiter: {check_interval: 1s, limit_mib: 1}\n  \
         tail_sampling:\n    decision_wait: 5s\n    policies:\n      \
         - {name: budget, type: adaptive, adaptive: {target_spans_per_sec: 500}}\n\
         exporters: {nop: {}}\n\
         service: {pipelines: {traces: {receivers: [otlp], processors: [memory_limiter, tail_sampling], exporters: [nop]}}}\n",
    )
    .unwrap();
    for input in [recorder.path("data"), recorder.path("spans.jsonl")] {
        let report = simulate(&config, &input);
        let all = &report["all"];
        // Everything recorded was replayed...
        assert_eq!(number_after(&report["input"], ""), sent as f64, "{all}");
        // ...about 500 spans/s of it kept (over ~10 s, plus the first second learning the rate),
        // every error trace kept, and the adjusted counts estimate the true count.
        let kept = number_after(&report["kept"], "");
        assert!((3000.0..=15_000.0).contains(&kept), "kept {kept} of {sent}: {all}");
        assert!(report["kept"].contains(&format!("{sent_errors} of {sent_errors} error traces")), "{all}");
        let pct: f64 = report["estimate from adjusted counts"]
            .rsplit(';')
            .next()
            .and_then(|s| s.trim().trim_end_matches(")").trim_end_matches('%').parse().ok())
            .expect("a percentage");
        // The Horvitz–Thompson estimate from ~600 kept traces (a few spans each, probabilities
        // that move while the rates are learned) has a standard error of about 5–6%; ±20% is
        // over 3 of them (a ±10% band failed one run in a few, at -10.1%), while an estimator
        // without adjusted counts is off by about -90%.
        assert!(pct.abs() <= 20.0, "estimate off by {pct}%: {all}");
        // Per policy and per key (service • root span • status class).
        assert!(all.contains("tail_sampling: policies"), "{all}");
        assert!(all.contains("adaptive policy \"budget\""), "{all}");
        assert!(all.contains(" • error"), "keys carry the status class: {all}");
        assert!(report.contains_key("projected"), "{all}");
    }
}
