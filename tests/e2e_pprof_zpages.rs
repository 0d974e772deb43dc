//! `pprof` and `zpages` end to end: a running weir serves a CPU profile over HTTP that an
//! independent decoder (tests/clients/decode_pprof.py, written from profile.proto) reads, writes
//! the profile of its whole run to `save_to_file` at shutdown, and serves every zPage with the
//! running configuration's pipelines and extensions. Needs the `pprof` feature (on by default).
#![cfg(feature = "pprof")]

mod common;

use common::*;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

/// GET returning the status and the raw body bytes (chunked bodies joined).
fn get_bytes(port: u16, path: &str, timeout: Duration) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("headers end");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let mut body = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (code, body.to_vec());
    }
    let mut out = Vec::new();
    loop {
        let end = body.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..end]).expect("ascii").trim(), 16).expect("hex");
        if size == 0 {
            return (code, out);
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 4 + size..];
    }
}

fn decode(path: &std::path::Path) -> serde_json::Value {
    let script = repo_root().join("tests/clients/decode_pprof.py");
    run_client(Command::new(python()).arg(script).arg(path), Duration::from_secs(30))
}

#[test]
fn profiles_and_pages_of_a_running_weir() {
    let (pprof, zpages, http) = (free_port(), free_port(), free_port());
    let mut weir = Weir::start(
        "pprof-zpages",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  batch:
exporters:
  nop:
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
  pprof: {{ endpoint: "127.0.0.1:{pprof}", save_to_file: "{{dir}}/run.pprof", block_profile_fraction: 3 }}
  zpages: {{ endpoint: "127.0.0.1:{zpages}", expvar: {{ enabled: true }} }}
service:
  extensions: [health_check, pprof, zpages]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces/in: {{ receivers: [otlp], processors: [batch], exporters: [nop] }}
    logs: {{ receivers: [otlp], exporters: [nop] }}
"#
        ),
    );

    // While save_to_file records the run, one CPU profile runs at a time (as in Go).
    let (code, body) = get_bytes(pprof, "/debug/pprof/profile?seconds=1", Duration::from_secs(10));
    assert_eq!(code, 500, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("Could not enable CPU profiling"));
    let (code, index) = get_bytes(pprof, "/debug/pprof/", Duration::from_secs(5));
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&index).contains("profile?seconds=30"));

    // zPages, each from the running config.
    let page = |path: &str| {
        let (code, body) = get_bytes(zpages, path, Duration::from_secs(5));
        assert_eq!(code, 200, "{path}");
        String::from_utf8(body).expect("utf-8")
    };
    let servicez = page("/debug/servicez");
    for link in ["/debug/pipelinez", "/debug/extensionz", "/debug/featurez"] {
        assert!(servicez.contains(link), "servicez links {link}");
    }
    assert!(servicez.contains("otlp") && servicez.contains("batch") && servicez.contains("nop"));
    let pipelinez = page("/debug/pipelinez");
    assert!(
        pipelinez.contains("<td>traces/in</td><td>traces</td><td>otlp</td><td>batch</td><td>nop</td>"),
        "{pipelinez}"
    );
    assert!(pipelinez.contains("<td>logs</td><td>logs</td><td>otlp</td><td></td><td>nop</td>"), "{pipelinez}");
    let extensionz = page("/debug/extensionz");
    for ext in ["health_check", "pprof", "zpages"] {
        assert!(extensionz.contains(&format!("<td>{ext}</td>")), "{extensionz}");
    }
    assert!(page("/debug/featurez").contains("no feature gates"));
    assert!(page("/debug/tracez").contains("no internal spans"));
    assert!(page("/debug/rpcz").contains("no internal spans"));
    let expvar: serde_json::Value = serde_json::from_str(&page("/debug/expvarz")).expect("expvarz is JSON");
    assert!(expvar["cmdline"].as_array().is_some_and(|a| !a.is_empty()));
    for path in ["/debug/servicez", "/debug/pipelinez", "/debug/tracez"] {
        assert!(!page(path).contains("http://") && !page(path).contains("https://"), "{path}: no external assets");
    }

    // Work for the profiler to see, then stop: the whole run's profile is written.
    let t = std::time::Instant::now();
    let mut x = 0u64;
    while t.elapsed() < Duration::from_millis(300) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    assert!(x != 1);
    assert!(weir.terminate(Duration::from_secs(15)).success(), "{}", weir.log());
    let run = weir.path("run.pprof");
    assert!(run.exists(), "save_to_file wrote nothing:\n{}", weir.log());
    let summary = decode(&run);
    assert_eq!(summary["sample_types"], serde_json::json!([["samples", "count"], ["cpu", "nanoseconds"]]));
    assert_eq!(summary["period"], 10_000_000);
    assert_eq!(summary["locations_resolve"], true);
    assert_eq!(summary["string_table_starts_empty"], true);
    assert!(summary["duration_nanos"].as_i64().unwrap_or(0) > 0);
}

#[test]
fn a_cpu_profile_over_http_is_readable_by_an_independent_decoder() {
    let (pprof, http) = (free_port(), free_port());
    let weir = Weir::start(
        "pprof",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http}" }}
exporters:
  nop:
extensions:
  health_check: {{ endpoint: "127.0.0.1:{{health}}" }}
  pprof: {{ endpoint: "127.0.0.1:{pprof}" }}
service:
  extensions: [health_check, pprof]
  telemetry: {{ metrics: {{ address: "127.0.0.1:{{metrics}}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [nop] }}
"#
        ),
    );
    // Keep weir busy while it records: its metrics endpoint renders on every request.
    let metrics_port = weir.metrics_port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = http_get(&format!("127.0.0.1:{metrics_port}"), "/metrics");
            }
        })
    };
    let (code, body) = get_bytes(pprof, "/debug/pprof/profile?seconds=2", Duration::from_secs(15));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().expect("busy thread");
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(&body[..2], b"\x1f\x8b", "gzip'd, as Go serves profiles");
    let file = weir.path("cpu.pprof");
    std::fs::write(&file, &body).expect("write profile");
    let summary = decode(&file);
    assert_eq!(summary["sample_types"], serde_json::json!([["samples", "count"], ["cpu", "nanoseconds"]]));
    assert!(summary["duration_nanos"].as_i64().unwrap_or(0) >= 2_000_000_000, "{summary}");
    assert!(summary["samples"].as_u64().unwrap_or(0) > 0, "a busy weir has samples: {summary}");
    assert_eq!(summary["locations_resolve"], true);
    let functions: Vec<String> = summary["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .map(|f| f.as_str().unwrap_or("").to_string())
        .collect();
    assert!(functions.iter().any(|f| f.contains("weir") || f.contains("tokio")), "symbolized frames: {functions:?}");
    let (code, _) = get_bytes(pprof, "/debug/pprof/heap", Duration::from_secs(5));
    assert_eq!(code, 404, "Go's heap profile has no counterpart");
}
