//! `parquet`: weir's embedded default store. Traces, logs and metrics become Parquet files
//! that DuckDB, pandas/pyarrow, Polars and Spark read directly.
//!
//! ```text
//! <path>/traces/date=2026-01-02/hour=03/part-20260102T030405.123456789Z-4242-0.parquet
//! <path>/logs/…   <path>/metrics/…
//! ```
//!
//! # Data path
//!
//! `export` runs on tokio's blocking pool: it builds Arrow columns straight from the received
//! protobuf through views ([`spans`], [`logs`], [`metrics`]; no prost tree), then hands the
//! record batch to the signal's [`RollingWriter`] under its lock. Column building runs
//! concurrently for up to `sending_queue::num_consumers` payloads; encoding (row groups, zstd)
//! happens under the lock when a row group fills.
//!
//! # Guarantees
//!
//! - A payload is acknowledged once its rows are in the open file's writer (in memory until its
//!   row group is written). Readers see them when the file is closed: at `max_file_size`,
//!   `max_file_age` (a timer closes idle files), the hour's end, or shutdown.
//! - Shutdown (SIGTERM) closes every open file, so acknowledged rows are never lost by a clean
//!   stop. A crash (SIGKILL, OOM, power loss) loses the rows of the open file — at most
//!   `max_file_age` of data: shorten it where that matters. Waiting to acknowledge until the
//!   file is closed would hold every request for up to `max_file_age`; weir does not.
//! - Files appear atomically (temporary name, then rename; see [`writer`]); leftover
//!   temporaries of a crash are removed when the exporter starts.
//! - A payload that is not valid OTLP fails permanently; a write error (disk full) abandons the
//!   open file and fails the payload as retryable.
//!
//! The schemas are documented as tables in the crate's README; ids are lowercase hex strings
//! and attributes `Map<Utf8, Utf8>`, as the Collector's ClickHouse exporter stores them.

mod columns;
mod config;
pub mod logs;
pub mod metrics;
pub mod reader;
pub mod spans;
pub mod writer;

pub use config::{ParquetCompression, ParquetConfig};
pub use reader::{read_spans, SpanRecord};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use weir_core::{BuildContext, BuildError, Exporter, ExporterFactory, Failure, Payload, Signal};
use writer::{RollLimits, RollingWriter};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "parquet";

/// A row group is also cut at this many encoded bytes, bounding the writer's memory.
const MAX_ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// Factory of the `parquet` exporter.
pub struct ParquetExporterFactory;

impl ExporterFactory for ParquetExporterFactory {
    type Config = ParquetConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, ctx: &BuildContext, config: &ParquetConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        let signal = ctx.signal.ok_or_else(|| BuildError::new("the parquet exporter is built per signal"))?;
        Ok(Arc::new(ParquetExporter::new(signal, config)?))
    }
}

/// The Arrow schema of `signal`'s files.
pub fn schema(signal: Signal) -> SchemaRef {
    match signal {
        Signal::Traces => spans::schema(),
        Signal::Logs => logs::schema(),
        Signal::Metrics => metrics::schema(),
    }
}

/// The rows of one encoded request of `signal` (one per span, log record or data point).
pub fn record_batch(signal: Signal, request: &[u8]) -> Result<RecordBatch, Failure> {
    let bad =
        |e: weir_core::pdata::WireError| Failure::permanent(format!("malformed OTLP {} request: {e}", signal.as_str()));
    let arrow = |e: arrow_schema::ArrowError| Failure::permanent(format!("cannot build Arrow columns: {e}"));
    match signal {
        Signal::Traces => {
            let mut c = spans::SpanColumns::default();
            c.append_request(request).map_err(bad)?;
            c.finish().map_err(arrow)
        }
        Signal::Logs => {
            let mut c = logs::LogColumns::default();
            c.append_request(request).map_err(bad)?;
            c.finish().map_err(arrow)
        }
        Signal::Metrics => {
            let mut c = metrics::MetricColumns::default();
            c.append_request(request).map_err(bad)?;
            c.finish().map_err(arrow)
        }
    }
}

/// The Parquet writer settings of a config.
pub fn writer_properties(config: &ParquetConfig) -> WriterProperties {
    let compression = match config.compression {
        // validate() checked the level's range; fall back to the default level regardless.
        ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::try_new(config.compression_level).unwrap_or_default()),
        ParquetCompression::Snappy => Compression::SNAPPY,
        ParquetCompression::None => Compression::UNCOMPRESSED,
    };
    WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(config.row_group_size.max(1)))
        .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
        .set_created_by(format!("weir {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Writes one signal's payloads to Parquet files under `<path>/<signal>`.
pub struct ParquetExporter {
    signal: Signal,
    writer: Arc<Mutex<RollingWriter>>,
    stop_timer: CancellationToken,
}

impl ParquetExporter {
    /// Creates `<path>/<signal>`, removes leftover temporary files there and starts the timer
    /// that closes files at `max_file_age` (so it needs a tokio runtime).
    pub fn new(signal: Signal, config: &ParquetConfig) -> Result<ParquetExporter, BuildError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| BuildError::new("the parquet exporter needs a tokio runtime for its file timer"))?;
        let dir = Path::new(&config.path).join(signal.as_str());
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::new(format!("cannot create {}: {e}", dir.display())))?;
        match writer::remove_leftovers(&dir) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                message = "Removed temporary Parquet files left by an earlier crash; their rows were lost.",
                path = %dir.display(),
                files = n
            ),
            Err(e) => return Err(BuildError::new(format!("cannot clean up {}: {e}", dir.display()))),
        }
        let limits = RollLimits { max_file_size: config.max_file_size, max_file_age: config.max_file_age };
        let writer = RollingWriter::new(dir, schema(signal), writer_properties(config), limits);
        let writer = Arc::new(Mutex::new(writer));
        let stop_timer = CancellationToken::new();
        runtime.spawn(close_old_files(Arc::downgrade(&writer), config.max_file_age, stop_timer.clone()));
        Ok(ParquetExporter { signal, writer, stop_timer })
    }

    /// The directory this exporter writes (`<path>/<signal>`).
    pub fn dir(&self) -> PathBuf {
        lock(&self.writer).dir().to_path_buf()
    }
}

fn lock(writer: &Mutex<RollingWriter>) -> MutexGuard<'_, RollingWriter> {
    // A panic while writing leaves at worst a broken open file, which the next close reports.
    writer.lock().unwrap_or_else(|e| e.into_inner())
}

fn log_closed(w: &mut RollingWriter) {
    for path in w.take_closed() {
        tracing::debug!(message = "Closed a Parquet file.", path = %path.display());
    }
}

/// How often the timer looks for files to close: often enough to honour `max_file_age`
/// within a quarter of it, at most once a second.
fn timer_period(max_file_age: Duration) -> Duration {
    (max_file_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Closes files that reached `max_file_age` or whose hour is over, even when no data comes.
async fn close_old_files(writer: Weak<Mutex<RollingWriter>>, max_file_age: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(timer_period(max_file_age));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(writer) = writer.upgrade() else { return };
        let result = tokio::task::spawn_blocking(move || {
            let mut w = lock(&writer);
            let r = w.roll_if_due(Instant::now(), chrono::Utc::now());
            log_closed(&mut w);
            r
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(message = "Failed to close a Parquet file; its rows are lost.", error = %e),
            Err(e) => tracing::error!(message = "The Parquet timer task failed.", error = %e),
        }
    }
}

#[async_trait]
impl Exporter for ParquetExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        if payload.is_empty() || payload.signal() != self.signal {
            return Ok(());
        }
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let batch = record_batch(payload.signal(), payload.bytes())?;
            if batch.num_rows() == 0 {
                return Ok(());
            }
            let mut w = lock(&writer);
            // Disk full or a vanished directory may pass: let the plumbing retry.
            let r = w
                .write(&batch, Instant::now(), chrono::Utc::now())
                .map_err(|e| Failure::retryable(format!("writing Parquet: {e}")));
            log_closed(&mut w);
            r
        })
        .await
        .map_err(|e| Failure::retryable(format!("the Parquet writing task failed: {e}")))?
    }

    async fn shutdown(&self) {
        self.stop_timer.cancel();
        let writer = self.writer.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut w = lock(&writer);
            let rows = w.open_rows();
            let r = w.close();
            log_closed(&mut w);
            r.map(|()| rows)
        })
        .await;
        match result {
            Ok(Ok(rows)) => {
                tracing::debug!(message = "Closed the Parquet file at shutdown.", signal = self.signal.as_str(), rows)
            }
            Ok(Err(e)) => {
                tracing::error!(message = "Failed to close the Parquet file at shutdown; its rows are lost.", error = %e)
            }
            Err(e) => tracing::error!(message = "The Parquet close task failed at shutdown.", error = %e),
        }
    }
}

#[cfg(test)]
mod tests;
