//! Reads the span files the `parquet` exporter wrote back into per-span records — the input
//! of `weir simulate`.

use arrow_array::{
    Array, Float64Array, Int64Array, ListArray, MapArray, RecordBatch, StringArray, StructArray,
    TimestampNanosecondArray, UInt32Array,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// One span as written (ids in lowercase hex, attributes stringified).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanRecord {
    pub start_time_unix_nano: i64,
    pub end_time_unix_nano: i64,
    pub duration_ns: i64,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    /// `Server`, `Client`, `Internal`, `Producer`, `Consumer` or `Unspecified`.
    pub kind: String,
    pub service_name: String,
    /// `Unset`, `Ok` or `Error`.
    pub status_code: String,
    pub status_message: String,
    pub sampling_threshold: Option<String>,
    pub adjusted_count: f64,
    pub resource_attributes: BTreeMap<String, String>,
    pub scope_name: String,
    pub scope_version: String,
    pub attributes: BTreeMap<String, String>,
    /// Event names, in order.
    pub events: Vec<String>,
    /// Linked (trace id, span id) pairs, in order.
    pub links: Vec<(String, String)>,
}

/// Why span files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Parquet { path: PathBuf, source: parquet::errors::ParquetError },
    #[error("{path}: {source}")]
    Arrow { path: PathBuf, source: arrow_schema::ArrowError },
    #[error(
        "{path}: column {column:?} is missing or not of the span schema's type; is this a traces file written by weir?"
    )]
    Column { path: PathBuf, column: &'static str },
}

/// The finished `*.parquet` files under `dir`, sorted; temporary and hidden files (names
/// starting with `.` or `_`) are skipped.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut out = Vec::new();
    collect(dir, &mut out).map_err(|source| ReadError::Io { path: dir.to_path_buf(), source })?;
    out.sort();
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect(&entry.path(), out)?;
        } else if name.ends_with(".parquet") {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Every span under `dir`: the exporter's root `path` (its `traces/` is read), or a directory
/// of span files (`<path>/traces`, one partition). Files in sorted order, rows in file order.
pub fn read_spans(dir: &Path) -> Result<Vec<SpanRecord>, ReadError> {
    let traces = dir.join("traces");
    let dir = if traces.is_dir() { traces.as_path() } else { dir };
    let mut out = Vec::new();
    for path in parquet_files(dir)? {
        read_span_file(&path, &mut out)?;
    }
    Ok(out)
}

/// Appends the spans of one file to `out`.
pub fn read_span_file(path: &Path, out: &mut Vec<SpanRecord>) -> Result<(), ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
    let pq = |source| ReadError::Parquet { path: path.to_path_buf(), source };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?.build().map_err(pq)?;
    for batch in reader {
        let batch = batch.map_err(|source| ReadError::Arrow { path: path.to_path_buf(), source })?;
        read_batch(path, &batch, out)?;
    }
    Ok(())
}

fn col<'a, T: 'static>(path: &Path, batch: &'a RecordBatch, column: &'static str) -> Result<&'a T, ReadError> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ReadError::Column { path: path.to_path_buf(), column })
}

fn map_at(map: &MapArray, i: usize) -> BTreeMap<String, String> {
    let entries = map.value(i);
    let keys = entries.column(0).as_any().downcast_ref::<StringArray>();
    let values = entries.column(1).as_any().downcast_ref::<StringArray>();
    match (keys, values) {
        (Some(k), Some(v)) => (0..k.len()).map(|j| (k.value(j).to_string(), v.value(j).to_string())).collect(),
        _ => BTreeMap::new(),
    }
}

fn struct_strings(list: &ListArray, i: usize, fields: &[usize]) -> Vec<Vec<String>> {
    let items = list.value(i);
    let Some(s) = items.as_any().downcast_ref::<StructArray>() else { return Vec::new() };
    let cols: Vec<Option<&StringArray>> =
        fields.iter().map(|&f| s.column(f).as_any().downcast_ref::<StringArray>()).collect();
    (0..s.len())
        .map(|row| cols.iter().map(|c| c.map(|c| c.value(row).to_string()).unwrap_or_default()).collect())
        .collect()
}

fn read_batch(path: &Path, b: &RecordBatch, out: &mut Vec<SpanRecord>) -> Result<(), ReadError> {
    let s = |c| col::<StringArray>(path, b, c);
    let (trace_id, span_id, parent, trace_state) =
        (s("trace_id")?, s("span_id")?, s("parent_span_id")?, s("trace_state")?);
    let (name, kind, service, status, message) =
        (s("span_name")?, s("span_kind")?, s("service_name")?, s("status_code")?, s("status_message")?);
    let (threshold, scope_name, scope_version) = (s("sampling_threshold")?, s("scope_name")?, s("scope_version")?);
    let start = col::<TimestampNanosecondArray>(path, b, "timestamp")?;
    let end = col::<TimestampNanosecondArray>(path, b, "end_timestamp")?;
    let duration = col::<Int64Array>(path, b, "duration_ns")?;
    let flags = col::<UInt32Array>(path, b, "flags")?;
    let adjusted = col::<Float64Array>(path, b, "adjusted_count")?;
    let resource = col::<MapArray>(path, b, "resource_attributes")?;
    let attributes = col::<MapArray>(path, b, "span_attributes")?;
    let events = col::<ListArray>(path, b, "events")?;
    let links = col::<ListArray>(path, b, "links")?;
    for i in 0..b.num_rows() {
        out.push(SpanRecord {
            start_time_unix_nano: start.value(i),
            end_time_unix_nano: end.value(i),
            duration_ns: duration.value(i),
            trace_id: trace_id.value(i).to_string(),
            span_id: span_id.value(i).to_string(),
            parent_span_id: parent.value(i).to_string(),
            trace_state: trace_state.value(i).to_string(),
            flags: flags.value(i),
            name: name.value(i).to_string(),
            kind: kind.value(i).to_string(),
            service_name: service.value(i).to_string(),
            status_code: status.value(i).to_string(),
            status_message: message.value(i).to_string(),
            sampling_threshold: threshold.is_valid(i).then(|| threshold.value(i).to_string()),
            adjusted_count: adjusted.value(i),
            resource_attributes: map_at(resource, i),
            scope_name: scope_name.value(i).to_string(),
            scope_version: scope_version.value(i).to_string(),
            attributes: map_at(attributes, i),
            events: struct_strings(events, i, &[1]).into_iter().map(|mut v| v.remove(0)).collect(),
            links: struct_strings(links, i, &[0, 1]).into_iter().map(|v| (v[0].clone(), v[1].clone())).collect(),
        });
    }
    Ok(())
}
