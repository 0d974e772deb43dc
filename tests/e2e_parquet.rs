//! End to end for the `parquet` exporter: the Python OpenTelemetry SDK sends traces, logs and
//! metrics to weir (otlp → parquet); weir is stopped with SIGTERM, which must close every file;
//! then pyarrow and DuckDB read the files (tests/clients/read_parquet.py) and every span, log
//! record and metric must be there, field by field, in hive partitions of the UTC hour.
//! A second test kills weir with SIGKILL while it writes: only complete files may be visible,
//! and the next start removes the temporary file the crash left.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn config(grpc: u16, http: u16, data: &Path, parquet_keys: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  parquet: {{ path: "{data}", {parquet_keys} }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [parquet] }}
    metrics: {{ receivers: [otlp], exporters: [parquet] }}
    logs: {{ receivers: [otlp], exporters: [parquet] }}
"#,
        data = data.display()
    )
}

fn read_parquet(mode: &str, dir: &Path) -> serde_json::Value {
    let script = repo_root().join("tests/clients/read_parquet.py");
    run_client_large_output(Command::new(python()).arg(script).arg(mode).arg(dir), Duration::from_secs(120))
}

/// `(YYYY-MM-DD, HH)` of a UTC time (days-from-civil inverted, as in Howard Hinnant's algorithm).
fn utc_partition(t: SystemTime) -> (String, String) {
    let secs = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    let (days, hour) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) / 3600);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (format!("{year:04}-{month:02}-{day:02}"), format!("{hour:02}"))
}

/// A sent attribute value as the exporter stringifies it.
fn stringified(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{}", n.as_f64().expect("a number")),
        },
        other => other.to_string(),
    }
}

fn str_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), stringified(v))).collect()).unwrap_or_default()
}

#[test]
fn sdk_telemetry_is_read_back_by_pyarrow_and_duckdb_after_sigterm() {
    let data = tempfile::tempdir().expect("temp dir");
    let (grpc, http) = (free_port(), free_port());
    // Files are only closed at shutdown here: SIGTERM must flush them.
    let mut weir = Weir::start("parquet", &config(grpc, http, data.path(), "max_file_age: 1h"));
    let before = utc_partition(SystemTime::now());
    let sent = run_client(
        Command::new(python()).arg(repo_root().join("tests/clients/send_python.py")).args([
            "--protocol",
            "grpc",
            "--endpoint",
            &format!("http://127.0.0.1:{grpc}"),
            "--traces",
            "20",
            "--service",
            "py-parquet",
        ]),
        Duration::from_secs(60),
    );
    let status = weir.terminate(Duration::from_secs(30));
    let after = utc_partition(SystemTime::now());
    assert!(status.success(), "weir exited with {status}:\n{}", weir.log());

    // Layout: <path>/<signal>/date=YYYY-MM-DD/hour=HH/part-<unique>.parquet, nothing temporary.
    assert!(files_under(data.path(), ".tmp").is_empty(), "temporary files left after SIGTERM");
    let files = files_under(data.path(), ".parquet");
    for signal in ["traces", "logs", "metrics"] {
        assert!(files.iter().any(|f| f.starts_with(data.path().join(signal))), "no {signal} file in {files:?}");
    }
    for f in &files {
        let rel: Vec<String> = f
            .strip_prefix(data.path())
            .expect("under the data dir")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        assert_eq!(rel.len(), 4, "{rel:?}");
        assert!(["traces", "logs", "metrics"].contains(&rel[0].as_str()), "{rel:?}");
        let partition =
            (rel[1].trim_start_matches("date=").to_string(), rel[2].trim_start_matches("hour=").to_string());
        assert!(rel[1].starts_with("date=") && rel[2].starts_with("hour="), "{rel:?}");
        assert!(partition == before || partition == after, "{rel:?} is not the UTC hour of the write ({before:?})");
        assert!(rel[3].starts_with("part-") && rel[3].ends_with(".parquet"), "{rel:?}");
    }

    let sent_spans = sent["spans"].as_array().expect("spans");
    assert_eq!(sent_spans.len(), 40);
    for engine in ["pyarrow", "duckdb"] {
        let got = read_parquet(engine, data.path());
        let spans: BTreeMap<String, &serde_json::Value> = got["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|s| (s["span_id"].as_str().expect("span_id").to_string(), s))
            .collect();
        assert_eq!(spans.len(), sent_spans.len(), "{engine}: span count");
        for want in sent_spans {
            let id = want["span_id"].as_str().expect("span_id");
            let s = spans.get(id).unwrap_or_else(|| panic!("{engine}: span {id} missing"));
            let ctx = format!("{engine}: span {id}: {s}");
            assert_eq!(s["trace_id"], want["trace_id"], "{ctx}");
            assert_eq!(s["name"], want["name"], "{ctx}");
            assert_eq!(s["service"], "py-parquet", "{ctx}");
            assert_eq!(str_map(&s["attributes"]), str_map(&want["attributes"]), "{ctx}");
            assert_eq!(s["resource"]["deployment.environment"], "e2e", "{ctx}");
            assert_eq!(s["resource"]["service.name"], "py-parquet", "{ctx}");
            assert_eq!(s["scope"], serde_json::json!(["weir-e2e-python", "1.0.0"]), "{ctx}");
            assert_eq!(s["adjusted_count"], 1.0, "{ctx}");
            assert!(s["duration_ns"].as_i64().is_some_and(|d| d >= 0), "{ctx}");
            assert!(s["start_ns"].as_i64().is_some_and(|t| t > 1_700_000_000_000_000_000), "{ctx}");
            assert_eq!(s["partition"], serde_json::json!([before.0, before.1]), "{ctx}");
            let is_root = want["name"].as_str().is_some_and(|n| n.starts_with("POST"));
            assert_eq!(s["kind"], if is_root { "Server" } else { "Internal" }, "{ctx}");
            assert_eq!(s["parent_span_id"].as_str().is_some_and(str::is_empty), is_root, "{ctx}");
        }
        // Every fourth trace's child failed, with an `exception` event.
        let errors: Vec<&&serde_json::Value> = spans.values().filter(|s| s["status_code"] == "Error").collect();
        assert_eq!(errors.len(), 5, "{engine}");
        assert!(errors
            .iter()
            .all(|s| s["status_message"] == "viewer gone" && s["events"] == serde_json::json!(["exception"])));

        let logs = got["logs"].as_array().expect("logs");
        let mut bodies: Vec<&str> = logs.iter().map(|l| l["body"].as_str().expect("string body")).collect();
        let mut want_bodies: Vec<&str> =
            sent["logs"].as_array().expect("logs").iter().map(|l| l["body"].as_str().expect("body")).collect();
        bodies.sort();
        want_bodies.sort();
        assert_eq!(bodies, want_bodies, "{engine}: log bodies");
        for l in logs {
            assert_eq!(
                (&l["service"], &l["severity_text"], &l["severity_number"]),
                (&"py-parquet".into(), &"INFO".into(), &9.into()),
                "{engine}: {l}"
            );
            assert!(l["attributes"]["room.id"].is_string(), "{engine}: {l}");
        }

        // The SDK reports cumulative values, once or twice (flush, shutdown): take the largest.
        let metrics = got["metrics"].as_array().expect("metrics");
        let largest = |name: &str, field: &str| {
            metrics
                .iter()
                .filter(|m| m["name"] == name)
                .filter_map(|m| m[field].as_f64())
                .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
        };
        assert_eq!(largest("python.requests", "value"), Some(20.0), "{engine}: {metrics:?}");
        assert_eq!(largest("python.latency", "count"), Some(20.0), "{engine}: {metrics:?}");
        let total_latency: f64 = (0..20).map(|i| 1.5 * f64::from(i)).sum();
        assert_eq!(largest("python.latency", "sum"), Some(total_latency), "{engine}");
        for m in metrics.iter().filter(|m| m["name"] == "python.requests") {
            assert_eq!(
                (&m["type"], &m["temporality"], &m["service"]),
                (&"sum".into(), &"cumulative".into(), &"py-parquet".into())
            );
            assert_eq!(m["attributes"]["route"], "/messages");
        }
        for m in metrics.iter().filter(|m| m["name"] == "python.latency") {
            assert_eq!(m["type"], "histogram");
        }

        if engine == "duckdb" {
            let q = &got["queries"];
            let rate = q["error_rate"][0]["error_rate"].as_f64().expect("error rate");
            assert!((rate - 5.0 / 40.0).abs() < 1e-9, "{q}");
            assert_eq!(q["requests"][0]["estimated_requests"], 20.0, "{q}");
            assert!(q["p99"].as_array().is_some_and(|r| r.len() == 21), "{q}");
        }
    }
}

/// An encoded `ExportTraceServiceRequest` of `n` spans, ids derived from `seed`.
fn trace_request(seed: u64, n: u64) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let kv = |k: &str, v: String| KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v)) }),
        ..Default::default()
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos() as u64;
    let spans = (0..n)
        .map(|i| {
            let id = seed * 1_000_003 + i;
            let mut trace_id = id.to_be_bytes().repeat(2);
            trace_id[0] = 0x7f;
            Span {
                trace_id,
                span_id: (id ^ 0x5555_5555).to_be_bytes().to_vec(),
                name: format!("GET /rooms/{}", i % 13),
                kind: 2,
                start_time_unix_nano: now,
                end_time_unix_nano: now + i * 1000,
                attributes: vec![kv("user.id", format!("user-{id}")), kv("http.route", "/rooms/{id}".into())],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", "load".into())], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[test]
fn sigkill_while_writing_leaves_only_complete_files_and_restart_removes_the_temporary_one() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let data = tempfile::tempdir().expect("temp dir");
    // Small files, so some are complete and one is open whenever weir is killed.
    let keys = "max_file_size: 200000, max_file_age: 1h, row_group_size: 1000";
    // A kill can land just after a file was closed and before the next one opens: then no
    // temporary file is left to clean up. Every attempt checks that the visible files are
    // complete; attempts repeat (bounded) until one leaves a temporary file behind.
    let mut check = serde_json::Value::Null;
    for attempt in 0..5 {
        let (grpc, http) = (free_port(), free_port());
        let weir = Weir::start("parquet-kill", &config(grpc, http, data.path(), keys));

        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let sender = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            std::thread::spawn(move || {
                let mut seed = attempt * 10_000;
                // Bounded: at most 2000 requests of 500 spans, until the test says stop. The
                // request in flight when weir is killed gets no answer (code 0).
                while !stop.load(Ordering::Relaxed) && seed < attempt * 10_000 + 2000 {
                    seed += 1;
                    if post_protobuf(http, "/v1/traces", &trace_request(seed, 500)).0 == 200 {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let writing = eventually(Duration::from_secs(60), || {
            files_under(data.path(), ".parquet").len() >= 2 && !files_under(data.path(), ".tmp").is_empty()
        });
        assert!(writing, "weir never had complete and open files at once:\n{}", weir.log());
        // The sender stops after its request in flight, which the kill cuts off.
        stop.store(true, Ordering::Relaxed);
        weir.signal("KILL");
        sender.join().expect("sender thread");
        std::thread::sleep(Duration::from_millis(300));
        assert!(accepted.load(Ordering::Relaxed) > 0);

        // Every visible file is complete (pyarrow opens and reads each).
        check = read_parquet("check", data.path());
        assert!(check["files"].as_u64().is_some_and(|n| n >= 2), "{check}");
        assert!(check["rows"].as_u64().is_some_and(|n| n > 0), "{check}");
        if check["tmp"].as_u64().is_some_and(|n| n >= 1) {
            break;
        }
    }
    assert!(check["tmp"].as_u64().is_some_and(|n| n >= 1), "no kill in 5 attempts left an open file behind");

    // A new weir on the same path removes the leftover before it writes anything.
    let (grpc2, http2) = (free_port(), free_port());
    let mut again = Weir::start("parquet-restart", &config(grpc2, http2, data.path(), keys));
    assert!(files_under(data.path(), ".tmp").is_empty(), "leftover temporary files after restart");
    assert!(again.log().contains("Removed temporary Parquet files"), "{}", again.log());
    let status = again.terminate(Duration::from_secs(30));
    assert!(status.success(), "{}", again.log());
    let after = read_parquet("check", data.path());
    assert_eq!(after["files"], check["files"], "{after}");
    assert_eq!(after["tmp"], 0, "{after}");
}

/// A well-spread 16-byte trace id for trace `t` (splitmix64 of `t`, twice).
fn random_trace_id(t: u64) -> Vec<u8> {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    [mix(2 * t).to_be_bytes(), mix(2 * t + 1).to_be_bytes()].concat()
}

#[test]
fn tail_sampled_spans_carry_their_threshold_and_the_adjusted_count_restores_the_total() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    const TRACES: u64 = 2000;
    let data = tempfile::tempdir().expect("temp dir");
    let http = free_port();
    let mut weir = Weir::start(
        "parquet-sampled",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  tail_sampling:
    decision_wait: 1s
    policies:
      - {{ name: quarter, type: probabilistic, probabilistic: {{ sampling_percentage: 25 }} }}
exporters:
  parquet: {{ path: "{data}" }}
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
service:
  extensions: [health_check]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [tail_sampling], exporters: [parquet] }}
"#,
            data = data.path().display()
        ),
    );
    let service = KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue("rooms".into())) }),
        ..Default::default()
    };
    for chunk in (0..TRACES).step_by(200) {
        let mut spans = Vec::new();
        for t in chunk..chunk + 200 {
            let root = (t * 2 + 1).to_be_bytes().to_vec();
            for (span_id, parent, kind) in [(root.clone(), vec![], 2), ((t * 2 + 2).to_be_bytes().to_vec(), root, 1)] {
                spans.push(Span {
                    trace_id: random_trace_id(t),
                    span_id,
                    parent_span_id: parent,
                    name: if kind == 2 { "GET /rooms".into() } else { "load room".into() },
                    kind,
                    start_time_unix_nano: 1_764_100_000_000_000_000,
                    end_time_unix_nano: 1_764_100_000_020_000_000,
                    ..Default::default()
                });
            }
        }
        let body = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![service.clone()], ..Default::default() }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        assert_eq!(post_protobuf(http, "/v1/traces", &body).0, 200, "{}", weir.log());
    }
    // SIGTERM decides what the sampler still holds, then closes the file.
    assert!(weir.terminate(Duration::from_secs(30)).success(), "{}", weir.log());

    // Consistent probability: a trace is kept iff the low 56 bits of its id reach
    // T = 0.75 · 2^56 (`th:c`), so the kept set is known exactly.
    let expected: std::collections::BTreeSet<String> = (0..TRACES)
        .map(random_trace_id)
        .filter(|id| u64::from_be_bytes(id[8..].try_into().expect("8 bytes")) & ((1 << 56) - 1) >= 0xc << 52)
        .map(|id| hex(&id))
        .collect();
    assert!((400..600).contains(&expected.len()), "{} of {TRACES} kept by the ids", expected.len());
    for engine in ["pyarrow", "duckdb"] {
        let got = read_parquet(engine, data.path());
        let spans = got["spans"].as_array().expect("spans");
        let kept: std::collections::BTreeSet<String> =
            spans.iter().map(|s| s["trace_id"].as_str().expect("trace_id").to_string()).collect();
        assert_eq!(kept, expected, "{engine}: kept traces");
        assert_eq!(spans.len(), 2 * expected.len(), "{engine}: kept traces are complete");
        for s in spans {
            assert_eq!((&s["sampling_threshold"], &s["adjusted_count"]), (&"c".into(), &4.0.into()), "{engine}: {s}");
        }
        if engine == "duckdb" {
            // The README's adjusted-count query estimates the requests sent before sampling.
            let row = &got["queries"]["requests"][0];
            assert_eq!(row["stored_spans"], expected.len(), "{row}");
            assert_eq!(row["estimated_requests"], 4.0 * expected.len() as f64, "{row}");
            let estimate = row["estimated_requests"].as_f64().expect("a number");
            assert!((estimate - TRACES as f64).abs() < 0.2 * TRACES as f64, "{estimate} for {TRACES} requests");
        }
    }
}
