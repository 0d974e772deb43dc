use super::writer::{partition_of, remove_leftovers, RollLimits, RollingWriter, FIRST_FILE_AGE};
use super::*;
use crate::testdata::{self, kv, str_kv, T0};
use arrow_array::{Array, BooleanArray, Float64Array, ListArray, StringArray, UInt64Array};
use chrono::TimeZone;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue as PAny, InstrumentationScope, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, summary_data_point::ValueAtQuantile, ExponentialHistogram,
    ExponentialHistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::path::Path;

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![str_kv("service.name", service), str_kv("host.name", "h1")],
        ..Default::default()
    })
}

/// A server span with a parent, two events, a link, typed attributes, an error status and a
/// sampling threshold of 1/4 in its trace state.
fn rich_span() -> Span {
    Span {
        trace_id: vec![0x0a; 16],
        span_id: vec![0x0b; 8],
        parent_span_id: vec![0x0c; 8],
        trace_state: "ot=th:c;rv:0123456789abcd,vendor=x".into(),
        name: "POST /rooms".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + 2_500_000,
        attributes: vec![
            str_kv("http.method", "POST"),
            kv("http.status_code", any_value::Value::IntValue(500)),
            kv("retry", any_value::Value::BoolValue(true)),
            kv("ratio", any_value::Value::DoubleValue(0.25)),
        ],
        events: vec![
            span::Event {
                time_unix_nano: T0 + 1,
                name: "exception".into(),
                attributes: vec![str_kv("exception.message", "boom")],
                dropped_attributes_count: 0,
            },
            span::Event {
                time_unix_nano: T0 + 2,
                name: "retry".into(),
                attributes: vec![],
                dropped_attributes_count: 0,
            },
        ],
        links: vec![span::Link {
            trace_id: vec![0x0d; 16],
            span_id: vec![0x0e; 8],
            trace_state: "a=b".into(),
            attributes: vec![str_kv("link.kind", "follows")],
            ..Default::default()
        }],
        status: Some(Status { code: status::StatusCode::Error as i32, message: "upstream failed".into() }),
        flags: 0x101,
        ..Default::default()
    }
}

fn traces_with(spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("rooms"),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "rooms.http".into(),
                    version: "2.1".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

fn config(dir: &Path) -> ParquetConfig {
    ParquetConfig { path: dir.display().to_string(), ..ParquetConfig::default() }
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let c = batch.column_by_name(name).unwrap_or_else(|| panic!("column {name}"));
    let s = c.as_any().downcast_ref::<StringArray>().unwrap_or_else(|| panic!("{name} is a string column"));
    (0..s.len()).map(|i| if s.is_valid(i) { s.value(i).to_string() } else { "<null>".into() }).collect()
}

fn f64s(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = batch.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    (0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i))).collect()
}

fn u64s(batch: &RecordBatch, name: &str) -> Vec<Option<u64>> {
    let c = batch.column_by_name(name).unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
    (0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i))).collect()
}

fn u64_lists(batch: &RecordBatch, name: &str) -> Vec<Option<Vec<u64>>> {
    let c = batch.column_by_name(name).unwrap().as_any().downcast_ref::<ListArray>().unwrap();
    (0..c.len())
        .map(|i| {
            c.is_valid(i).then(|| {
                let v = c.value(i);
                let v = v.as_any().downcast_ref::<UInt64Array>().unwrap();
                v.values().to_vec()
            })
        })
        .collect()
}

/// Writes `batch` into a fresh file under `dir` and closes it.
fn write_file(dir: &Path, signal: Signal, batch: &RecordBatch) {
    let limits = RollLimits { max_file_size: u64::MAX, max_file_age: Duration::from_secs(3600) };
    let mut w = RollingWriter::new(dir.join(signal.as_str()), schema(signal), writer_properties(&config(dir)), limits);
    w.write(batch, Instant::now(), chrono::Utc::now()).unwrap();
    w.close().unwrap();
}

#[test]
fn a_span_becomes_one_row_with_events_links_attributes_and_its_adjusted_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut root = rich_span();
    root.span_id = vec![0x0c; 8];
    root.parent_span_id.clear();
    root.trace_state.clear();
    root.events.clear();
    root.links.clear();
    root.kind = span::SpanKind::Client as i32;
    root.status = None;
    let batch = record_batch(Signal::Traces, &traces_with(vec![rich_span(), root])).unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(batch.schema(), spans::schema());
    write_file(dir.path(), Signal::Traces, &batch);

    let spans = read_spans(dir.path()).unwrap();
    assert_eq!(spans.len(), 2);
    let s = &spans[0];
    assert_eq!(s.trace_id, "0a".repeat(16));
    assert_eq!(s.span_id, "0b".repeat(8));
    assert_eq!(s.parent_span_id, "0c".repeat(8));
    assert_eq!((s.name.as_str(), s.kind.as_str(), s.service_name.as_str()), ("POST /rooms", "Server", "rooms"));
    assert_eq!((s.status_code.as_str(), s.status_message.as_str()), ("Error", "upstream failed"));
    assert_eq!(
        (s.start_time_unix_nano, s.end_time_unix_nano, s.duration_ns),
        (T0 as i64, T0 as i64 + 2_500_000, 2_500_000)
    );
    assert_eq!((s.sampling_threshold.as_deref(), s.adjusted_count), (Some("c"), 4.0));
    assert_eq!(s.flags, 0x101);
    assert_eq!((s.scope_name.as_str(), s.scope_version.as_str()), ("rooms.http", "2.1"));
    let attrs: Vec<(&str, &str)> = s.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(attrs, vec![("http.method", "POST"), ("http.status_code", "500"), ("ratio", "0.25"), ("retry", "true")]);
    assert_eq!(s.resource_attributes.get("host.name").map(String::as_str), Some("h1"));
    assert_eq!(s.events, vec!["exception", "retry"]);
    assert_eq!(s.links, vec![("0d".repeat(16), "0e".repeat(8))]);

    let r = &spans[1];
    assert_eq!((r.parent_span_id.as_str(), r.kind.as_str(), r.status_code.as_str()), ("", "Client", "Unset"));
    assert_eq!((r.sampling_threshold.clone(), r.adjusted_count), (None, 1.0));
    assert!(r.events.is_empty() && r.links.is_empty());
}

#[test]
fn event_and_link_attributes_are_maps_in_their_structs() {
    let batch = record_batch(Signal::Traces, &traces_with(vec![rich_span()])).unwrap();
    let events = batch.column_by_name("events").unwrap().as_any().downcast_ref::<ListArray>().unwrap();
    let first = events.value(0);
    let first = first.as_any().downcast_ref::<arrow_array::StructArray>().unwrap();
    let attrs = first.column_by_name("attributes").unwrap().as_any().downcast_ref::<arrow_array::MapArray>().unwrap();
    let entries = attrs.value(0);
    let keys = entries.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    let values = entries.column(1).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!((keys.value(0), values.value(0)), ("exception.message", "boom"));
    assert_eq!(strings(&batch, "trace_state"), vec!["ot=th:c;rv:0123456789abcd,vendor=x"]);
}

#[test]
fn log_records_become_rows_with_json_bodies_and_observed_time_fallback() {
    let body = PAny {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![str_kv("user", "ana"), kv("n", any_value::Value::IntValue(3))],
        })),
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("chat"),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: "chat.log".into(), ..Default::default() }),
                log_records: vec![
                    LogRecord {
                        time_unix_nano: T0,
                        observed_time_unix_nano: T0 + 5,
                        severity_number: 17,
                        severity_text: "ERROR".into(),
                        body: Some(body),
                        attributes: vec![str_kv("room", "r1")],
                        trace_id: vec![0xab; 16],
                        span_id: vec![0xcd; 8],
                        flags: 1,
                        event_name: "chat.sent".into(),
                        ..Default::default()
                    },
                    LogRecord { observed_time_unix_nano: T0 + 9, ..Default::default() },
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec();
    let batch = record_batch(Signal::Logs, &request).unwrap();
    assert_eq!(batch.schema(), logs::schema());
    assert_eq!(strings(&batch, "body"), vec![r#"{"user":"ana","n":3}"#, "<null>"]);
    assert_eq!(strings(&batch, "trace_id"), vec!["ab".repeat(16), String::new()]);
    assert_eq!(strings(&batch, "span_id"), vec!["cd".repeat(8), String::new()]);
    assert_eq!(strings(&batch, "severity_text"), vec!["ERROR", ""]);
    assert_eq!(strings(&batch, "service_name"), vec!["chat", "chat"]);
    assert_eq!(strings(&batch, "event_name"), vec!["chat.sent", ""]);
    let ts = batch
        .column_by_name("timestamp")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::TimestampNanosecondArray>()
        .unwrap();
    assert_eq!((ts.value(0), ts.value(1)), (T0 as i64, T0 as i64 + 9));
    // A string body stays as it is.
    let batch = record_batch(Signal::Logs, &testdata::logs_request(1).encode_to_vec()).unwrap();
    assert_eq!(strings(&batch, "body"), vec!["order 0 placed"]);
}

fn all_metric_types() -> Vec<u8> {
    let mut request = testdata::metrics_request(2); // gauge ×2, histogram, sum
    let exp = Metric {
        name: "latency.exp".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: T0,
                count: 6,
                sum: Some(12.5),
                scale: -2,
                zero_count: 1,
                positive: Some(Buckets { offset: -3, bucket_counts: vec![2, 3] }),
                negative: None,
                min: Some(0.0),
                max: Some(7.0),
                attributes: vec![str_kv("route", "/x")],
                ..Default::default()
            }],
            aggregation_temporality: 1,
        })),
        ..Default::default()
    };
    let summary = Metric {
        name: "gc.pause".into(),
        data: Some(metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: T0,
                start_time_unix_nano: T0 - 1_000,
                count: 10,
                sum: 55.0,
                quantile_values: vec![
                    ValueAtQuantile { quantile: 0.5, value: 4.0 },
                    ValueAtQuantile { quantile: 0.99, value: 9.0 },
                ],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    request.resource_metrics.push(ResourceMetrics {
        resource: resource("jvm"),
        scope_metrics: vec![ScopeMetrics { scope: None, metrics: vec![exp, summary], schema_url: String::new() }],
        schema_url: String::new(),
    });
    request.encode_to_vec()
}

#[test]
fn every_metric_type_becomes_one_row_per_data_point() {
    let request: ExportMetricsServiceRequest = ExportMetricsServiceRequest::decode(&all_metric_types()[..]).unwrap();
    assert_eq!(request.resource_metrics.len(), 2);
    let batch = record_batch(Signal::Metrics, &all_metric_types()).unwrap();
    assert_eq!(batch.schema(), metrics::schema());
    assert_eq!(
        strings(&batch, "metric_type"),
        vec!["gauge", "gauge", "histogram", "sum", "exponential_histogram", "summary"]
    );
    assert_eq!(
        strings(&batch, "aggregation_temporality"),
        vec!["<null>", "<null>", "cumulative", "cumulative", "delta", "<null>"]
    );
    let mono = batch.column_by_name("is_monotonic").unwrap().as_any().downcast_ref::<BooleanArray>().unwrap();
    assert!(mono.is_null(0) && mono.value(3));
    assert_eq!(f64s(&batch, "value"), vec![Some(0.0), Some(0.25), None, Some(7.0), None, None]);
    assert_eq!(u64s(&batch, "count"), vec![None, None, Some(3), None, Some(6), Some(10)]);
    assert_eq!(f64s(&batch, "sum"), vec![None, None, Some(42.0), None, Some(12.5), Some(55.0)]);
    assert_eq!(f64s(&batch, "max")[4], Some(7.0));
    assert_eq!(u64_lists(&batch, "bucket_counts")[2], Some(vec![1, 2]));
    assert_eq!(u64_lists(&batch, "bucket_counts")[0], None);
    assert_eq!(u64_lists(&batch, "positive_bucket_counts")[4], Some(vec![2, 3]));
    let offsets =
        batch.column_by_name("positive_offset").unwrap().as_any().downcast_ref::<arrow_array::Int32Array>().unwrap();
    let scale = batch.column_by_name("scale").unwrap().as_any().downcast_ref::<arrow_array::Int32Array>().unwrap();
    assert_eq!((offsets.value(4), scale.value(4)), (-3, -2));
    let bounds = batch.column_by_name("explicit_bounds").unwrap().as_any().downcast_ref::<ListArray>().unwrap();
    let b = bounds.value(2);
    assert_eq!(b.as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec(), vec![10.0]);
    let q = batch.column_by_name("quantiles").unwrap().as_any().downcast_ref::<ListArray>().unwrap();
    assert_eq!(q.value(5).len(), 2);
    assert!(q.is_null(0));
    assert_eq!(strings(&batch, "service_name"), vec!["checkout", "checkout", "checkout", "checkout", "jvm", "jvm"]);
    let attrs = batch.column_by_name("attributes").unwrap().as_any().downcast_ref::<arrow_array::MapArray>().unwrap();
    assert_eq!(attrs.value(1).len(), 1);
    assert_eq!(attrs.value(4).len(), 1);
    // And Parquet takes the nested columns.
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), Signal::Metrics, &batch);
}

#[test]
fn a_malformed_request_fails_permanently() {
    let f = record_batch(Signal::Traces, &[0x0a, 0x05, 1]).unwrap_err();
    assert!(!f.retryable, "{f:?}");
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, suffix, out);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    walk(dir, suffix, &mut out);
    out.sort();
    out
}

fn writer(dir: &Path, limits: RollLimits) -> RollingWriter {
    RollingWriter::new(dir.join("traces"), spans::schema(), writer_properties(&config(dir)), limits)
}

fn span_batch(n: usize) -> RecordBatch {
    record_batch(Signal::Traces, &testdata::traces_request(n).encode_to_vec()).unwrap()
}

#[test]
fn a_file_is_written_under_a_temporary_name_and_renamed_when_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), RollLimits { max_file_size: u64::MAX, max_file_age: Duration::from_secs(60) });
    let wall = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    w.write(&span_batch(3), Instant::now(), wall).unwrap();
    let tmp = files(dir.path(), ".tmp");
    assert_eq!(tmp.len(), 1);
    assert!(files(dir.path(), ".parquet").is_empty(), "nothing visible before close");
    let name = tmp[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(".part-20260102T030405") && name.ends_with(".parquet.tmp"), "{name}");
    assert!(tmp[0].starts_with(dir.path().join("traces/date=2026-01-02/hour=03")), "{tmp:?}");
    w.close().unwrap();
    assert!(files(dir.path(), ".tmp").is_empty());
    let done = files(dir.path(), ".parquet");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].file_name().unwrap().to_string_lossy(), name[1..name.len() - 4]);
    assert_eq!(read_spans(dir.path()).unwrap().len(), 3);
}

#[test]
fn files_roll_at_max_file_size() {
    let dir = tempfile::tempdir().unwrap();
    // Every batch takes a file past 1 byte: each write closes its file.
    let mut w = writer(dir.path(), RollLimits { max_file_size: 1, max_file_age: Duration::from_secs(60) });
    for _ in 0..3 {
        w.write(&span_batch(2), Instant::now(), chrono::Utc::now()).unwrap();
    }
    assert_eq!(files(dir.path(), ".parquet").len(), 3);
    assert!(files(dir.path(), ".tmp").is_empty());
    assert_eq!(read_spans(dir.path()).unwrap().len(), 6);
}

#[test]
fn files_roll_at_max_file_age_and_at_the_hour() {
    let dir = tempfile::tempdir().unwrap();
    let age = Duration::from_secs(300);
    let mut w = writer(dir.path(), RollLimits { max_file_size: u64::MAX, max_file_age: age });
    // A writer's first file is closed early (FIRST_FILE_AGE); this test is about the others.
    let wall = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 50, 0).unwrap();
    w.write(&span_batch(1), Instant::now(), wall).unwrap();
    w.close().unwrap();
    std::fs::remove_dir_all(dir.path().join("traces")).unwrap();

    let t0 = Instant::now();
    w.write(&span_batch(1), t0, wall).unwrap();
    w.roll_if_due(t0 + age - Duration::from_secs(1), wall).unwrap();
    assert!(files(dir.path(), ".parquet").is_empty(), "not old enough yet");
    w.roll_if_due(t0 + age, wall).unwrap();
    assert_eq!(files(dir.path(), ".parquet").len(), 1, "closed at max_file_age without new data");

    // A new file at 03:59 is closed when the hour turns, and the next rows go to hour=04.
    let t1 = Instant::now();
    w.write(&span_batch(1), t1, chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 59, 0).unwrap()).unwrap();
    let four = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 4, 0, 1).unwrap();
    w.write(&span_batch(1), t1, four).unwrap();
    w.close().unwrap();
    let done = files(dir.path(), ".parquet");
    assert_eq!(done.len(), 3);
    assert_eq!(partition_of(four), "date=2026-01-02/hour=04");
    assert_eq!(done.iter().filter(|p| p.to_string_lossy().contains("/hour=03/")).count(), 2);
    assert_eq!(done.iter().filter(|p| p.to_string_lossy().contains("/hour=04/")).count(), 1);
}

#[test]
fn the_first_file_is_readable_within_a_minute_of_the_first_data() {
    let dir = tempfile::tempdir().unwrap();
    let age = Duration::from_secs(300);
    let mut w = writer(dir.path(), RollLimits { max_file_size: u64::MAX, max_file_age: age });
    let wall = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 10, 0).unwrap();
    let t0 = Instant::now();
    w.write(&span_batch(1), t0, wall).unwrap();
    w.roll_if_due(t0 + FIRST_FILE_AGE - Duration::from_secs(1), wall).unwrap();
    assert!(files(dir.path(), ".parquet").is_empty(), "not old enough yet");
    w.roll_if_due(t0 + FIRST_FILE_AGE, wall).unwrap();
    assert_eq!(files(dir.path(), ".parquet").len(), 1, "the first file is closed within a minute");
    assert!(FIRST_FILE_AGE <= Duration::from_secs(60));
    // The next one lives max_file_age.
    let t1 = t0 + FIRST_FILE_AGE;
    w.write(&span_batch(1), t1, wall).unwrap();
    w.roll_if_due(t1 + FIRST_FILE_AGE, wall).unwrap();
    assert_eq!(files(dir.path(), ".parquet").len(), 1, "later files roll at max_file_age");
    w.roll_if_due(t1 + age, wall).unwrap();
    assert_eq!(files(dir.path(), ".parquet").len(), 2);
}

#[test]
fn leftover_temporary_files_are_removed_but_open_ones_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("traces/date=2026-01-02/hour=03");
    std::fs::create_dir_all(&part).unwrap();
    let leftover = part.join(".part-20260102T030405.000000000Z-1-0.parquet.tmp");
    std::fs::write(&leftover, b"PAR1 half a file").unwrap();
    let mut w = writer(dir.path(), RollLimits { max_file_size: u64::MAX, max_file_age: Duration::from_secs(60) });
    w.write(&span_batch(1), Instant::now(), chrono::Utc::now()).unwrap();
    let open = w.open_path().unwrap().to_path_buf();

    assert_eq!(remove_leftovers(&dir.path().join("traces")).unwrap(), 1);
    assert!(!leftover.exists());
    assert!(open.exists(), "a file this process writes is not a leftover");
    w.close().unwrap();
    assert_eq!(read_spans(dir.path()).unwrap().len(), 1);
}

#[tokio::test]
async fn building_the_exporter_removes_leftovers_and_shutdown_closes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("logs/date=2026-01-02/hour=03");
    std::fs::create_dir_all(&part).unwrap();
    std::fs::write(part.join(".part-x.parquet.tmp"), b"junk").unwrap();
    let e = ParquetExporter::new(Signal::Logs, &config(dir.path())).unwrap();
    assert!(files(dir.path(), ".tmp").is_empty());
    e.export(testdata::logs(4)).await.unwrap();
    assert!(files(dir.path(), ".parquet").is_empty(), "the file stays open for 5 minutes");
    e.shutdown().await;
    let done = files(dir.path(), ".parquet");
    assert_eq!(done.len(), 1);
    assert!(done[0].starts_with(dir.path().join("logs")));
    assert!(files(dir.path(), ".tmp").is_empty());
}

#[tokio::test]
async fn the_timer_closes_an_idle_file_at_max_file_age() {
    let dir = tempfile::tempdir().unwrap();
    let c = ParquetConfig { max_file_age: Duration::from_millis(100), ..config(dir.path()) };
    let e = ParquetExporter::new(Signal::Traces, &c).unwrap();
    e.export(testdata::traces(2)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while files(dir.path(), ".parquet").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read_spans(dir.path()).unwrap().len(), 2, "closed by the timer, no new data needed");
    e.shutdown().await;
}

#[tokio::test]
async fn the_exporter_writes_through_the_plumbing_and_the_reader_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let e: Arc<dyn Exporter> = Arc::new(ParquetExporter::new(Signal::Traces, &config(dir.path())).unwrap());
    testdata::send_through_plumbing(e.clone(), testdata::traces(5)).await.unwrap();
    e.shutdown().await;
    let spans = read_spans(dir.path()).unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["GET /cart/0", "GET /cart/1", "GET /cart/2", "GET /cart/3", "GET /cart/4"]);
    assert!(spans.iter().all(|s| s.service_name == "checkout" && s.kind == "Server" && s.status_code == "Ok"));
}

/// `cargo test -p weir-exporters parquet_throughput -- --ignored --nocapture`
///
/// Spans/s written per core (columns from views + Parquet encoding with zstd-3, one thread)
/// and bytes per span on disk against the same spans as OTLP protobuf compressed with zstd-3.
/// In the dev profile the exporter's own code is unoptimized (dependencies are opt-level 1):
/// the rate is a floor; a release build is several times faster.
#[test]
#[ignore = "a measurement, not a test: run it on its own"]
fn parquet_throughput() {
    use opentelemetry_proto::tonic::trace::v1::Span;
    let dir = tempfile::tempdir().unwrap();
    // 200 requests of 500 spans: 50 traces of 10 spans each, random ids, realistic attributes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        // splitmix64: ids as random as real ones, so they compress as badly.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut requests = Vec::new();
    for r in 0..200u32 {
        let mut spans = Vec::new();
        let mut tid = Vec::new();
        let mut root = Vec::new();
        for i in 0..500u32 {
            if i % 10 == 0 {
                tid = [random().to_be_bytes(), random().to_be_bytes()].concat();
            }
            let sid = random().to_be_bytes().to_vec();
            if i % 10 == 0 {
                root = sid.clone();
            }
            let trace = random() % 100;
            let start = T0 + u64::from(r) * 1_000_000_000 + u64::from(i) * 1_000_000;
            spans.push(Span {
                trace_id: tid.clone(),
                span_id: sid,
                parent_span_id: if i % 10 == 0 { vec![] } else { root.clone() },
                trace_state: if i % 3 == 0 { "ot=th:fd70a3d70a3d71".into() } else { String::new() },
                name: format!("GET /rooms/{{id}}/messages/{}", i % 7),
                kind: (i % 3 + 1) as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: start + u64::from(i * 7919 % 100_000),
                attributes: vec![
                    str_kv("http.request.method", "GET"),
                    kv("http.response.status_code", any_value::Value::IntValue(if i % 50 == 0 { 500 } else { 200 })),
                    str_kv("url.path", &format!("/rooms/{trace}/messages")),
                    str_kv("user.id", &format!("u-{}", random() % 1000)),
                    kv("room.viewers", any_value::Value::IntValue(i64::from(i % 300))),
                ],
                status: Some(Status { code: if i % 50 == 0 { 2 } else { 0 }, message: String::new() }),
                ..Default::default()
            });
        }
        requests.push(traces_with(spans));
    }
    let total_spans = 200 * 500;
    let otlp_zstd: usize = requests.iter().map(|r| zstd::bulk::compress(r, 3).unwrap().len()).sum();
    let otlp_raw: usize = requests.iter().map(Vec::len).sum();
    let mut w = writer(dir.path(), RollLimits { max_file_size: u64::MAX, max_file_age: Duration::from_secs(3600) });
    let started = Instant::now();
    for r in &requests {
        let batch = record_batch(Signal::Traces, r).unwrap();
        w.write(&batch, Instant::now(), chrono::Utc::now()).unwrap();
    }
    w.close().unwrap();
    let elapsed = started.elapsed();
    let on_disk: u64 = files(dir.path(), ".parquet").iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    let columns_only = {
        let t = Instant::now();
        for r in &requests {
            record_batch(Signal::Traces, r).unwrap();
        }
        t.elapsed()
    };
    println!(
        "parquet: {total_spans} spans in {elapsed:?}: {:.0} spans/s per core ({:.0} spans/s building columns only)",
        total_spans as f64 / elapsed.as_secs_f64(),
        total_spans as f64 / columns_only.as_secs_f64()
    );
    println!(
        "bytes/span: parquet zstd-3 {:.1}, OTLP protobuf {:.1}, OTLP protobuf + zstd-3 (per 500-span request) {:.1}",
        on_disk as f64 / total_spans as f64,
        otlp_raw as f64 / total_spans as f64,
        otlp_zstd as f64 / total_spans as f64
    );
}

#[tokio::test]
async fn a_write_error_is_retryable_and_the_next_write_starts_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = ParquetExporter::new(Signal::Traces, &config(dir.path())).unwrap();
    // The signal directory replaced by a file: no partition directory can be made in it.
    std::fs::remove_dir_all(dir.path().join("traces")).unwrap();
    std::fs::write(dir.path().join("traces"), b"not a directory").unwrap();
    let f = e.export(testdata::traces(2)).await.unwrap_err();
    assert!(f.retryable, "{f:?}");
    assert!(f.message.contains("traces"), "the message names the path: {f:?}");

    std::fs::remove_file(dir.path().join("traces")).unwrap();
    e.export(testdata::traces(2)).await.unwrap();
    e.shutdown().await;
    assert_eq!(read_spans(dir.path()).unwrap().len(), 2);
}
