//! The `file` exporter writing real files in temporary directories, read back and decoded.

use super::sink::Rotation;
use super::*;
use crate::testdata;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn config(path: &Path, extra: &str) -> FileConfig {
    weir_core::testing::parse_exporter_config(&format!("path: {}\n{extra}", path.display())).unwrap()
}

fn build(signal: Signal, config: &FileConfig) -> Arc<dyn Exporter> {
    let ctx = BuildContext::new(weir_core::ComponentId::parse("file").unwrap(), Some(signal));
    FileExporterFactory.build(&ctx, config).unwrap()
}

/// Splits a file of length-prefixed records.
fn frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push(bytes[4..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    out
}

#[tokio::test]
async fn every_signal_goes_to_one_file_as_json_lines_that_decode_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telemetry.jsonl");
    let c = config(&path, "");
    let (traces, metrics, logs) = (build(Signal::Traces, &c), build(Signal::Metrics, &c), build(Signal::Logs, &c));

    traces.export(testdata::traces(2)).await.unwrap();
    metrics.export(testdata::metrics(3)).await.unwrap();
    logs.export(testdata::logs(1)).await.unwrap();
    traces.export(testdata::traces(1)).await.unwrap();
    for e in [&traces, &metrics, &logs] {
        e.shutdown().await;
    }

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(serde_json::from_str::<ExportTraceServiceRequest>(lines[0]).unwrap(), testdata::traces_request(2));
    assert_eq!(serde_json::from_str::<ExportMetricsServiceRequest>(lines[1]).unwrap(), testdata::metrics_request(3));
    assert_eq!(serde_json::from_str::<ExportLogsServiceRequest>(lines[2]).unwrap(), testdata::logs_request(1));
    assert_eq!(serde_json::from_str::<ExportTraceServiceRequest>(lines[3]).unwrap(), testdata::traces_request(1));
    assert!(lines[0].starts_with("{\"resourceSpans\":"), "OTLP/JSON keys: {}", lines[0]);
}

#[tokio::test]
async fn exporters_of_one_path_share_one_writer() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileExporter::new(&config(&dir.path().join("out.jsonl"), "")).unwrap();
    let b = FileExporter::new(&config(&dir.path().join("sub/../out.jsonl"), "")).unwrap();
    let other = FileExporter::new(&config(&dir.path().join("other.jsonl"), "")).unwrap();
    let (a, b, other) = (a.sink().unwrap(), b.sink().unwrap(), other.sink().unwrap());
    assert!(Arc::ptr_eq(a, b), "two spellings of one path");
    assert!(!Arc::ptr_eq(a, other));
}

#[tokio::test]
async fn other_settings_on_an_open_path_are_a_build_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    let _json = FileExporter::new(&config(&path, "")).unwrap();
    let err = FileExporter::new(&config(&path, "format: proto\n")).err().unwrap();
    assert!(err.to_string().contains("different settings"), "{err}");
}

#[tokio::test]
async fn a_closed_path_can_be_opened_again_with_other_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    drop(FileExporter::new(&config(&path, "")).unwrap());
    FileExporter::new(&config(&path, "format: proto\n")).unwrap();
}

#[tokio::test]
async fn proto_format_writes_length_prefixed_requests_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telemetry.binpb");
    let c = config(&path, "format: proto\n");
    let e = build(Signal::Logs, &c);
    let payloads = [testdata::logs(2), testdata::logs(5)];
    for p in &payloads {
        e.export(p.clone()).await.unwrap();
    }
    e.shutdown().await;

    let frames = frames(&std::fs::read(&path).unwrap());
    assert_eq!(frames.len(), 2);
    for (frame, p) in frames.iter().zip(&payloads) {
        assert_eq!(&frame[..], &p.bytes()[..]);
    }
    assert_eq!(ExportLogsServiceRequest::decode(&frames[1][..]).unwrap(), testdata::logs_request(5));
}

#[tokio::test]
async fn zstd_writes_one_length_prefixed_frame_per_request() {
    let dir = tempfile::tempdir().unwrap();
    for (format, name) in [("json", "t.json.zst"), ("proto", "t.binpb.zst")] {
        let path = dir.path().join(name);
        let e = build(Signal::Traces, &config(&path, &format!("format: {format}\ncompression: zstd\n")));
        e.export(testdata::traces(3)).await.unwrap();
        e.shutdown().await;

        let frames = frames(&std::fs::read(&path).unwrap());
        assert_eq!(frames.len(), 1, "{format}");
        let plain = zstd::decode_all(&frames[0][..]).unwrap();
        let decoded = match format {
            "json" => serde_json::from_slice::<ExportTraceServiceRequest>(&plain).unwrap(),
            _ => ExportTraceServiceRequest::decode(&plain[..]).unwrap(),
        };
        assert_eq!(decoded, testdata::traces_request(3), "{format}");
    }
}

#[tokio::test]
async fn buffered_data_reaches_the_file_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let e = build(Signal::Traces, &config(&path, "flush_interval: 1h\n"));
    e.export(testdata::traces(1)).await.unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "still buffered");
    e.shutdown().await;
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1, "flushed at shutdown");
}

#[tokio::test]
async fn buffered_data_is_flushed_periodically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let e = build(Signal::Traces, &config(&path, "flush_interval: 20ms\n"));
    e.export(testdata::traces(1)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&path).unwrap().len() == 0 {
        assert!(Instant::now() < deadline, "never flushed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(std::fs::read_to_string(&path).unwrap().ends_with("}\n"), "a whole line");
}

#[tokio::test]
async fn with_append_an_existing_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    std::fs::write(&path, "{\"resourceSpans\":[]}\n").unwrap();
    let e = build(Signal::Traces, &config(&path, "flush_interval: 0\nappend: true\n"));
    e.export(testdata::traces(1)).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\"resourceSpans\":[]}\n"));
    assert_eq!(text.lines().count(), 2);
}

#[tokio::test]
async fn by_default_the_file_starts_empty_as_in_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    std::fs::write(&path, "left from an earlier run\n").unwrap();
    let c = config(&path, "flush_interval: 0\n");
    let traces = build(Signal::Traces, &c);
    traces.export(testdata::traces(1)).await.unwrap();
    // A second signal joining the open file does not empty it again.
    build(Signal::Logs, &c).export(testdata::logs(1)).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("earlier run"), "{text}");
    assert_eq!(text.lines().count(), 2);
}

#[tokio::test]
async fn a_nanosecond_flush_interval_flushes_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let e = build(Signal::Traces, &config(&path, "flush_interval: 5\n"));
    e.export(testdata::traces(1)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1, "written without waiting");
}

/// Traces with one span under each of the given `fileexporter.path_segment` values (None: no
/// such attribute).
fn traces_of_segments(segments: &[Option<&str>]) -> Payload {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let template = testdata::traces_request(1).resource_spans.remove(0);
    let resource_spans = segments
        .iter()
        .map(|s| {
            let mut rs = template.clone();
            let mut attributes = rs.resource.take().unwrap_or_default().attributes;
            if let Some(s) = s {
                attributes.push(KeyValue {
                    key: "fileexporter.path_segment".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(s.to_string())) }),
                    ..Default::default()
                });
            }
            rs.resource = Some(Resource { attributes, ..Default::default() });
            rs
        })
        .collect();
    let req = ExportTraceServiceRequest { resource_spans };
    Payload::new(Signal::Traces, bytes::Bytes::from(req.encode_to_vec())).unwrap()
}

#[tokio::test]
async fn group_by_writes_each_resource_to_the_file_its_attribute_names() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("group_by/*.json");
    let e = build(Signal::Traces, &config(&pattern, "flush_interval: 0\ngroup_by:\n  enabled: true\n"));
    e.export(traces_of_segments(&[Some("a"), Some("b"), None, Some("a"), Some("../../escape")])).await.unwrap();
    e.shutdown().await;
    let read = |name: &str| {
        let text = std::fs::read_to_string(dir.path().join("group_by").join(name)).unwrap();
        text.lines().map(|l| serde_json::from_str::<ExportTraceServiceRequest>(l).unwrap()).collect::<Vec<_>>()
    };
    let a = read("a.json");
    assert_eq!(a.len(), 1, "one request per group");
    assert_eq!(a[0].resource_spans.len(), 2, "both resources of group a");
    assert_eq!(read("b.json")[0].resource_spans.len(), 1);
    assert!(dir.path().join("group_by/escape.json").exists(), "a climbing value stays under the prefix");
    let files = std::fs::read_dir(dir.path().join("group_by")).unwrap().count();
    assert_eq!(files, 3, "the resource without the attribute is dropped");
}

#[tokio::test]
async fn group_by_keeps_at_most_max_open_files_open_and_appends_when_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("*.json");
    let e = build(
        Signal::Traces,
        &config(&pattern, "flush_interval: 1h\ngroup_by:\n  enabled: true\n  max_open_files: 1\n"),
    );
    for s in ["a", "b", "a"] {
        e.export(traces_of_segments(&[Some(s)])).await.unwrap();
    }
    e.shutdown().await;
    let lines = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap().lines().count();
    assert_eq!(lines("a.json"), 2, "closed (and flushed) for b, then appended to, not emptied");
    assert_eq!(lines("b.json"), 1);
}

/// A sink on `path` that rotates at `max_bytes`, flushing every record.
fn rotating_exporter(path: &Path, rotation: Rotation) -> FileExporter {
    let settings = SinkSettings {
        format: FileFormat::Json,
        compression: FileCompression::None,
        flush_interval: Duration::ZERO,
        rotation: Some(rotation),
    };
    FileExporter { files: Files::Single(FileSink::shared(path, settings, false).unwrap()) }
}

fn rotation(max_bytes: u64, max_backups: u64, max_days: u64) -> Rotation {
    Rotation { max_bytes, max_days, max_backups, localtime: false }
}

fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[tokio::test]
async fn rotation_starts_a_new_file_and_keeps_max_backups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    let line_len = json::encode(&testdata::traces(1)).unwrap().len() as u64 + 1;
    // Two records fit in a file, a third does not.
    let e = rotating_exporter(&path, rotation(line_len * 2 + line_len / 2, 2, 0));
    for _ in 0..9 {
        e.export(testdata::traces(1)).await.unwrap();
    }
    e.shutdown().await;

    let backups = e.sink().unwrap().backups().unwrap();
    assert_eq!(backups.len(), 2, "{:?}", jsonl_files(dir.path()));
    let files = jsonl_files(dir.path());
    assert_eq!(files.len(), 3, "the file and two backups: {files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("traces") && name.ends_with(".jsonl"), "{name}");
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(text.lines().count(), if f == &path { 1 } else { 2 }, "{name}");
        for line in text.lines() {
            assert_eq!(serde_json::from_str::<ExportTraceServiceRequest>(line).unwrap(), testdata::traces_request(1));
        }
    }
    assert!(backups[0].0 > backups[1].0, "newest first, distinct names");
}

#[tokio::test]
async fn a_record_larger_than_the_limit_goes_whole_into_a_fresh_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let e = rotating_exporter(&path, rotation(100, 0, 0));
    e.export(testdata::traces(1)).await.unwrap();
    e.export(testdata::traces(10)).await.unwrap();
    let current = std::fs::read_to_string(&path).unwrap();
    assert_eq!(current.lines().count(), 1);
    assert_eq!(
        serde_json::from_str::<ExportTraceServiceRequest>(current.trim_end()).unwrap(),
        testdata::traces_request(10)
    );
    assert_eq!(e.sink().unwrap().backups().unwrap().len(), 1);
}

#[tokio::test]
async fn rotation_removes_backups_older_than_max_days() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.jsonl");
    let old = dir.path().join("logs-2001-02-03T04-05-06.789.jsonl");
    let recent_time = chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(1);
    let recent = dir.path().join(format!("logs-{}.jsonl", recent_time.format("%Y-%m-%dT%H-%M-%S%.3f")));
    let unrelated = dir.path().join("logs-archive.jsonl");
    for f in [&old, &recent, &unrelated] {
        std::fs::write(f, "").unwrap();
    }

    let e = rotating_exporter(&path, rotation(10, 0, 7));
    e.export(testdata::logs(1)).await.unwrap();
    e.export(testdata::logs(1)).await.unwrap();

    assert!(!old.exists(), "older than 7 days");
    assert!(recent.exists());
    assert!(unrelated.exists(), "not a backup name");
    assert_eq!(e.sink().unwrap().backups().unwrap().len(), 2, "the recent one and the new one");
}

#[tokio::test]
async fn empty_payloads_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let e = build(Signal::Metrics, &config(&path, "flush_interval: 0\n"));
    e.export(Payload::empty(Signal::Metrics)).await.unwrap();
    e.shutdown().await;
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}
