//! `weir simulate --config FILE --input PATH`: replays recorded traces through the trace
//! pipelines of a configuration, offline, on a simulated clock, and reports what would be
//! kept — per pipeline, per `tail_sampling` policy and per `adaptive` key — with the estimate
//! of the true volume from adjusted counts and the projected daily and monthly volume.
//!
//! Input: a directory of Parquet files written by the `parquet` exporter (its `traces/`
//! tree, or the exporter's `path`), one such `.parquet` file, or a file written by the `file`
//! exporter (OTLP JSON, one request per line).
//!
//! How: the configuration's trace pipelines are started for real (its processors, with their
//! settings) with a replay source in place of the receivers and a collecting sink in place of
//! the exporters ([`weir_core::testing`]), on tokio's paused clock. Spans are replayed in the order they ended, each
//! at its end time (Parquet spans in 100 ms batches, JSON requests as they were written),
//! so `decision_wait`, rates and budgets see the recorded timing; an hour replays in seconds.

//!
//! This is its own binary, not part of `weir`: the paused clock needs tokio's `test-util`,
//! which the daemon's release build does not carry. `weir simulate …` runs it when it is
//! installed next to `weir`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use weir_core::component::ComponentId;
use weir_core::config::{ComponentConfigEntry, Config};
use weir_core::pdata::views::SpanFields;
use weir_core::runtime::{Service, ServiceOptions};
use weir_core::testing::{accept_all, ChannelSource, CollectingSink, NoSettings};
use weir_core::{Consumers, Payload, Registry, Signal};
use weir_processors::tail_sampling::{simulation, TailSamplingFactory};

/// Parquet spans are replayed in batches of this much recorded time.
const BATCH: Duration = Duration::from_millis(100);
/// After the last span, simulated time runs this long before shutdown, so pending traces are
/// decided by their timers rather than by shutdown.
const DRAIN: Duration = Duration::from_secs(120);
/// Keys listed per `adaptive` policy (the busiest); the rest are summed in one line.
const KEYS_SHOWN: usize = 40;

fn main() -> ExitCode {
    let usage = "usage: weir-simulate --config FILE --input PATH";
    let mut args = std::env::args().skip(1);
    let (mut config, mut input) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "--input" | "-i" => input = args.next().map(PathBuf::from),
            "--help" | "-h" => {
                println!("{usage}\n\nReplays recorded traces through the trace pipelines of a configuration and reports what would be kept.");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("weir simulate: unknown argument {other:?}\n{usage}");
                return ExitCode::FAILURE;
            }
        }
    }
    let (Some(config), Some(input)) = (config, input) else {
        eprintln!("weir simulate: --config and --input are required\n{usage}");
        return ExitCode::FAILURE;
    };
    match run(&config, &input, weir::registry()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weir simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the simulation and prints the report.
fn run(config_path: &Path, input: &Path, mut registry: Registry) -> Result<(), String> {
    let batches = read_input(input)?;
    if batches.is_empty() {
        return Err(format!("{}: no spans found", input.display()));
    }
    let (source, consumers_rx) = ChannelSource::new("simulate");
    let (sink, mut exported) = CollectingSink::new("simulate", accept_all);
    let reports = simulation::Reports::default();
    registry.add_receiver(source);
    registry.add_exporter(sink);
    registry.add_processor(TailSamplingFactory::reporting_to(reports.clone()));
    let mut config = weir_core::config::load_file(config_path, &registry).map_err(|e| e.to_string())?;
    let pipelines = route_through_simulation(&mut config);
    if pipelines.is_empty() {
        return Err(format!("{}: no traces pipeline to simulate", config_path.display()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let input_totals = runtime.block_on(replay(&config, &registry, consumers_rx, &batches))?;
    let mut kept = Sink::default();
    while let Ok(payload) = exported.try_recv() {
        kept.count(&payload);
    }
    print_report(input, &pipelines, &input_totals, &kept, &reports.take());
    Ok(())
}

/// What was replayed.
#[derive(Debug, Default)]
struct InputTotals {
    spans: u64,
    traces: u64,
    error_traces: u64,
    bytes: u64,
    /// Recorded time from the first to the last span end.
    duration: Duration,
}

/// Replaces receivers and exporters of every traces pipeline with the simulation's, drops the
/// other pipelines, and drops `memory_limiter` (it guards a live daemon's memory; offline it
/// would only refuse the replay, which holds its whole input in memory). Returns the traces
/// pipelines' ids.
fn route_through_simulation(config: &mut Config) -> Vec<String> {
    let source = ComponentId { kind: "simulate".into(), name: None };
    config.pipelines.retain(|p| p.signal == Signal::Traces);
    for p in &mut config.pipelines {
        p.receivers = vec![source.clone()];
        p.exporters = vec![source.clone()];
        p.processors.retain(|id| id.kind != "memory_limiter");
    }
    let entry = |kind: &str| ComponentConfigEntry {
        id: ComponentId { kind: kind.into(), name: None },
        config: Arc::new(NoSettings {}),
        loc: Default::default(),
    };
    config.receivers = BTreeMap::from([(source.clone(), entry("simulate"))]);
    config.exporters = BTreeMap::from([(source, entry("simulate"))]);
    config.extensions.clear();
    config.service_extensions.clear();
    config.pipelines.iter().map(|p| p.id.clone()).collect()
}

async fn replay(
    config: &Config,
    registry: &Registry,
    mut consumers_rx: mpsc::UnboundedReceiver<Consumers>,
    batches: &[(u64, Payload)],
) -> Result<InputTotals, String> {
    let service = Service::start(config, registry, ServiceOptions::default()).await.map_err(|e| e.to_string())?;
    let consumers = consumers_rx.recv().await.ok_or("the replay source did not start")?;
    let consumer = consumers.get(Signal::Traces).cloned().ok_or("no traces pipeline")?;
    let start = tokio::time::Instant::now();
    let first = batches[0].0;
    let mut totals = InputTotals::default();
    let mut traces: HashMap<Vec<u8>, bool> = HashMap::new();
    let progress_every = (batches.len() / 10).max(1);
    for (n, (at, payload)) in batches.iter().enumerate() {
        tokio::time::sleep_until(start + Duration::from_nanos(at - first)).await;
        totals.spans += payload.items() as u64;
        totals.bytes += payload.len() as u64;
        for_each_span(payload, |f| {
            *traces.entry(f.trace_id.to_vec()).or_default() |= f.status_code == 2;
        });
        // Waiting for the pipeline's answer keeps the replay in step with the processors.
        if let Err(e) = consumer.consume(payload.clone(), "simulate", false).await {
            return Err(format!("the pipeline refused replayed spans: {e}"));
        }
        if n % progress_every == 0 {
            eprintln!("weir simulate: {}% replayed ({} spans)", 100 * n / batches.len(), totals.spans);
        }
    }
    totals.duration = Duration::from_nanos(batches[batches.len() - 1].0 - first);
    totals.traces = traces.len() as u64;
    totals.error_traces = traces.values().filter(|e| **e).count() as u64;
    tokio::time::sleep(DRAIN).await;
    drop(consumer);
    drop(consumers);
    service.shutdown().await;
    Ok(totals)
}

/// Calls `f` with the fields of every span of a traces payload (spans that do not parse are
/// skipped; the receiver checked the request).
fn for_each_span(payload: &Payload, mut f: impl FnMut(&SpanFields<'_>)) {
    for rg in payload.view().resources().flatten() {
        for sg in rg.scopes().flatten() {
            for span in sg.spans().flatten() {
                if let Ok(fields) = span.fields() {
                    f(&fields);
                }
            }
        }
    }
}

/// Reads the input into payloads with their replay time (ns since the epoch).
fn read_input(input: &Path) -> Result<Vec<(u64, Payload)>, String> {
    let is_parquet = input.is_dir() || input.extension().is_some_and(|e| e == "parquet");
    if is_parquet {
        read_parquet(input)
    } else {
        read_json_lines(input)
    }
}

#[cfg(feature = "parquet")]
fn read_parquet(input: &Path) -> Result<Vec<(u64, Payload)>, String> {
    use weir_exporters::parquet::reader;
    let mut records = Vec::new();
    if input.is_dir() {
        // The exporter's `path` holds `traces/`; a `traces/` directory itself works too.
        let dir = if input.join("traces").is_dir() { input.join("traces") } else { input.to_path_buf() };
        records = reader::read_spans(&dir).map_err(|e| e.to_string())?;
    } else {
        reader::read_span_file(input, &mut records).map_err(|e| e.to_string())?;
    }
    records.sort_by_key(|r| r.end_time_unix_nano);
    let mut out = Vec::new();
    let mut batch: Vec<&weir_exporters::parquet::SpanRecord> = Vec::new();
    let mut batch_end = 0i64;
    for r in &records {
        if !batch.is_empty() && r.end_time_unix_nano >= batch_end {
            out.push(encode_batch(&batch)?);
            batch.clear();
        }
        if batch.is_empty() {
            batch_end = r.end_time_unix_nano + BATCH.as_nanos() as i64;
        }
        batch.push(r);
    }
    if !batch.is_empty() {
        out.push(encode_batch(&batch)?);
    }
    Ok(out)
}

#[cfg(not(feature = "parquet"))]
fn read_parquet(input: &Path) -> Result<Vec<(u64, Payload)>, String> {
    Err(format!("{}: this weir was built without the `parquet` feature", input.display()))
}

/// One request from Parquet rows: spans grouped by resource and scope, attributes as strings
/// (as the Parquet schema stores them).
#[cfg(feature = "parquet")]
fn encode_batch(records: &[&weir_exporters::parquet::SpanRecord]) -> Result<(u64, Payload), String> {
    let kv = |k: &String, v: &String| KeyValue {
        key: k.clone(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.clone())) }),
        ..Default::default()
    };
    let hex = |s: &str| -> Result<Vec<u8>, String> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("not a hex id: {s:?}"))
    };
    // Spans by (resource attributes, scope name, scope version).
    type Group<'a> = (&'a BTreeMap<String, String>, &'a str, &'a str);
    let mut groups: BTreeMap<Group<'_>, Vec<Span>> = BTreeMap::new();
    let mut last = 0u64;
    for r in records {
        last = last.max(r.end_time_unix_nano.max(0) as u64);
        // The names the parquet exporter wrote (pdata's), back to wire numbers.
        use weir_core::pdata::enums::{SpanKind, StatusCode};
        let kind = SpanKind::ALL.iter().find(|k| k.name() == r.kind).map_or(0, |k| k.as_i32());
        let code = StatusCode::ALL.iter().find(|c| c.name() == r.status_code);
        let code = code.map_or(status::StatusCode::Unset as i32, |c| c.as_i32());
        let span = Span {
            trace_id: hex(&r.trace_id)?,
            span_id: hex(&r.span_id)?,
            parent_span_id: hex(&r.parent_span_id)?,
            trace_state: r.trace_state.clone(),
            flags: r.flags,
            name: r.name.clone(),
            kind,
            start_time_unix_nano: r.start_time_unix_nano.max(0) as u64,
            end_time_unix_nano: r.end_time_unix_nano.max(0) as u64,
            attributes: r.attributes.iter().map(|(k, v)| kv(k, v)).collect(),
            status: Some(Status { code, message: r.status_message.clone() }),
            ..Default::default()
        };
        groups.entry((&r.resource_attributes, &r.scope_name, &r.scope_version)).or_default().push(span);
    }
    let mut request = ExportTraceServiceRequest::default();
    for ((resource, scope, version), spans) in groups {
        request.resource_spans.push(ResourceSpans {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: scope.into(), version: version.into(), ..Default::default() }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    let payload = Payload::new(Signal::Traces, request.encode_to_vec().into()).map_err(|e| e.to_string())?;
    Ok((last, payload))
}

fn read_json_lines(input: &Path) -> Result<Vec<(u64, Payload)>, String> {
    let text = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let payload = weir_core::pdata::json::decode(Signal::Traces, line)
            .map_err(|e| format!("{}:{}: not an OTLP JSON traces request: {e}", input.display(), n + 1))?;
        let mut last = 0u64;
        for_each_span(&payload, |f| last = last.max(f.end_time_unix_nano));
        if payload.items() > 0 {
            out.push((last, payload));
        }
    }
    out.sort_by_key(|(t, _)| *t);
    Ok(out)
}

/// What the pipelines let through.
#[derive(Debug, Default)]
struct Sink {
    spans: u64,
    bytes: u64,
    traces: HashMap<Vec<u8>, bool>,
    /// Σ adjusted counts (from `ot=th`) of the spans let through.
    estimate: f64,
}

impl Sink {
    /// Counts one payload that left the pipelines.
    fn count(&mut self, payload: &Payload) {
        self.spans += payload.items() as u64;
        self.bytes += payload.len() as u64;
        let Sink { traces, estimate, .. } = self;
        for_each_span(payload, |f| {
            *traces.entry(f.trace_id.to_vec()).or_default() |= f.status_code == 2;
            *estimate += weir_core::sampling::adjusted_count(f.trace_state).1;
        });
    }
}

fn print_report(input: &Path, pipelines: &[String], totals: &InputTotals, sink: &Sink, reports: &[simulation::Report]) {
    let secs = totals.duration.as_secs_f64().max(1e-9);
    let pct = |a: f64, b: f64| if b > 0.0 { 100.0 * a / b } else { 0.0 };
    println!("weir simulate: {} ({})", input.display(), pipelines.join(", "));
    println!(
        "input:  {} spans in {} traces ({} with errors), {:.1} MB, over {} of recorded time ({:.0} spans/s)",
        totals.spans,
        totals.traces,
        totals.error_traces,
        totals.bytes as f64 / 1e6,
        human_duration(totals.duration),
        totals.spans as f64 / secs
    );
    let kept_errors = sink.traces.values().filter(|e| **e).count();
    println!(
        "kept:   {} spans ({:.2}%) in {} traces ({:.2}%), {} of {} error traces, {:.1} MB ({:.0} spans/s)",
        sink.spans,
        pct(sink.spans as f64, totals.spans as f64),
        sink.traces.len(),
        pct(sink.traces.len() as f64, totals.traces as f64),
        kept_errors,
        totals.error_traces,
        sink.bytes as f64 / 1e6,
        sink.spans as f64 / secs
    );
    println!(
        "estimate from adjusted counts: {:.0} spans (true {}; {:+.2}%)",
        sink.estimate,
        totals.spans,
        pct(sink.estimate - totals.spans as f64, totals.spans as f64)
    );
    let day = 86_400.0 / secs;
    println!(
        "projected: {} spans/day, {} spans/month (30 days); {:.2} GB/day, {:.1} GB/month as OTLP protobuf",
        human_count(sink.spans as f64 * day),
        human_count(sink.spans as f64 * day * 30.0),
        sink.bytes as f64 * day / 1e9,
        sink.bytes as f64 * day * 30.0 / 1e9
    );
    for report in reports {
        println!();
        println!("{}: policies (kept = the policy decided the trace)", report.processor);
        println!(
            "  {:<24} {:>10} {:>12} {:>10} {:>12} {:>13} {:>8}",
            "policy", "traces in", "spans in", "kept", "kept spans", "errors kept", "kept %"
        );
        for (name, s) in &report.policies {
            println!(
                "  {:<24} {:>10} {:>12} {:>10} {:>12} {:>13} {:>7.2}%",
                name,
                s.traces_in,
                s.spans_in,
                s.traces_kept,
                s.spans_kept,
                format!("{}/{}", s.errors_kept, s.errors_in),
                pct(s.spans_kept as f64, s.spans_in as f64)
            );
        }
        for (policy, keys) in &report.keys {
            println!();
            println!("  adaptive policy {policy:?}: {} keys (busiest first; estimate = Σ adjusted counts)", keys.len());
            println!(
                "    {:<44} {:>9} {:>10} {:>8} {:>10} {:>11} {:>8} {:>10} {:>8}",
                "key", "traces", "spans", "kept", "kept spans", "errors", "kept %", "estimate", "error"
            );
            let mut rows: Vec<_> = keys.iter().collect();
            rows.sort_by(|a, b| b.1.spans_in.cmp(&a.1.spans_in).then(a.0.cmp(b.0)));
            let mut rest = weir_processors::tail_sampling::KeyStats::default();
            for (n, (key, s)) in rows.iter().enumerate() {
                if n >= KEYS_SHOWN {
                    rest.traces_in += s.traces_in;
                    rest.spans_in += s.spans_in;
                    rest.traces_kept += s.traces_kept;
                    rest.spans_kept += s.spans_kept;
                    rest.errors_in += s.errors_in;
                    rest.errors_kept += s.errors_kept;
                    rest.spans_estimate += s.spans_estimate;
                    continue;
                }
                print_key(key, s);
            }
            if rows.len() > KEYS_SHOWN {
                print_key(&format!("({} more keys)", rows.len() - KEYS_SHOWN), &rest);
            }
        }
    }
}

fn print_key(key: &str, s: &weir_processors::tail_sampling::KeyStats) {
    let shown: String =
        if key.chars().count() > 44 { key.chars().take(43).chain(['…']).collect() } else { key.into() };
    let error = if s.spans_in > 0 { 100.0 * (s.spans_estimate / s.spans_in as f64 - 1.0) } else { 0.0 };
    println!(
        "    {:<44} {:>9} {:>10} {:>8} {:>10} {:>11} {:>7.2}% {:>10.0} {:>+7.1}%",
        shown,
        s.traces_in,
        s.spans_in,
        s.traces_kept,
        s.spans_kept,
        format!("{}/{}", s.errors_kept, s.errors_in),
        if s.spans_in > 0 { 100.0 * s.spans_kept as f64 / s.spans_in as f64 } else { 0.0 },
        s.spans_estimate,
        error
    );
}

fn human_count(n: f64) -> String {
    match n {
        n if n >= 1e12 => format!("{:.2}T", n / 1e12),
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{:.1}s", d.as_secs_f64()),
    }
}
