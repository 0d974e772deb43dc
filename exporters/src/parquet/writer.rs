//! The rolling file writer of one signal: `<path>/<signal>/date=…/hour=…/part-….parquet`.
//!
//! # Files
//!
//! One file is open at a time, named `.part-<unique>.parquet.tmp` in the partition of the UTC
//! hour it was opened in. Rows go into it as record batches; the Parquet writer buffers a row
//! group (up to `row_group_size` rows or 64 MiB encoded) and writes it out when full. The file
//! is *closed* — footer written, data synced to disk, renamed to `part-<unique>.parquet`, the
//! directory synced — when
//!
//! - its encoded size (row groups written plus the Parquet writer's estimate of the one being
//!   built) reaches `max_file_size` (checked after each batch, so a file ends at most one
//!   batch, plus the footer, larger);
//! - it is `max_file_age` old, or the UTC hour changed (checked before each batch and by the
//!   exporter's timer, so an idle file is closed too); the *first* file a writer opens is
//!   closed at [`FIRST_FILE_AGE`] already (when `max_file_age` is longer), so data is readable
//!   within a minute of the first data after a start, and files roll at `max_file_age` after;
//! - the exporter shuts down.
//!
//! Readers never see a half file: the temporary name matches no `*.parquet` glob (DuckDB's
//! `read_parquet('…/**/*.parquet')`), and pyarrow datasets, Spark and the [`reader`] skip
//! names starting with `.`.
//!
//! # Recovery
//!
//! A crash leaves the open file as `.part-*.parquet.tmp` without a footer: unreadable, and its
//! rows lost. [`remove_leftovers`] deletes such files when an exporter is built, except the
//! ones this process has open (a config reload builds the new exporters while the old ones
//! still write), so one weir process must own a `path`.
//!
//! [`reader`]: super::reader

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Temporary files open in this process, which [`remove_leftovers`] must not touch.
static OPEN_TMP: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Makes file names unique within the process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// What went wrong writing Parquet.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Parquet { path: PathBuf, source: parquet::errors::ParquetError },
}

/// The age at which the first file of a writer is closed, when `max_file_age` is longer.
pub const FIRST_FILE_AGE: Duration = Duration::from_secs(50);

/// When to close a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollLimits {
    pub max_file_size: u64,
    pub max_file_age: Duration,
}

struct OpenFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    opened: Instant,
    /// The age at which it is closed: `max_file_age`, or less for the first file.
    max_age: Duration,
    /// `date=…/hour=…` of the partition it is in.
    partition: String,
    rows: u64,
}

/// Writes one signal's files under `dir` (`<path>/<signal>`).
pub struct RollingWriter {
    dir: PathBuf,
    schema: SchemaRef,
    properties: WriterProperties,
    limits: RollLimits,
    open: Option<OpenFile>,
    closed: Vec<PathBuf>,
    /// Files opened so far (the first is closed early: [`FIRST_FILE_AGE`]).
    files_opened: u64,
}

/// `date=YYYY-MM-DD/hour=HH` of a UTC time.
pub fn partition_of(t: DateTime<Utc>) -> String {
    t.format("date=%Y-%m-%d/hour=%H").to_string()
}

impl RollingWriter {
    pub fn new(dir: PathBuf, schema: SchemaRef, properties: WriterProperties, limits: RollLimits) -> Self {
        RollingWriter { dir, schema, properties, limits, open: None, closed: Vec::new(), files_opened: 0 }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rows in the open file.
    pub fn open_rows(&self) -> u64 {
        self.open.as_ref().map_or(0, |f| f.rows)
    }

    /// The temporary path of the open file.
    pub fn open_path(&self) -> Option<&Path> {
        self.open.as_ref().map(|f| f.tmp.as_path())
    }

    /// Takes the paths of the files closed since the last call.
    pub fn take_closed(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.closed)
    }

    /// Writes `batch` into the open file (opening one first if needed), then closes the file
    /// if it reached `max_file_size`. `now`/`wall` are the monotonic and UTC clocks.
    ///
    /// On failure the open file is abandoned (removed): its earlier rows are lost, and the
    /// caller's batch may be retried into a fresh file.
    pub fn write(&mut self, batch: &RecordBatch, now: Instant, wall: DateTime<Utc>) -> Result<(), WriteError> {
        self.roll_if_due(now, wall)?;
        if self.open.is_none() {
            self.open = Some(self.create(now, wall)?);
        }
        let file = self.open.as_mut().expect("opened above");
        if let Err(source) = file.writer.write(batch) {
            let path = file.tmp.clone();
            self.abandon();
            return Err(WriteError::Parquet { path, source });
        }
        file.rows += batch.num_rows() as u64;
        let size = file.writer.bytes_written() as u64 + file.writer.in_progress_size() as u64;
        if size >= self.limits.max_file_size {
            self.close()?;
        }
        Ok(())
    }

    /// Closes the open file if it is `max_file_age` old or from an earlier UTC hour.
    pub fn roll_if_due(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), WriteError> {
        let due = self
            .open
            .as_ref()
            .is_some_and(|f| now.saturating_duration_since(f.opened) >= f.max_age || f.partition != partition_of(wall));
        if due {
            self.close()?;
        }
        Ok(())
    }

    /// Finishes the open file (last row group, footer, sync) and renames it to its final name.
    pub fn close(&mut self) -> Result<(), WriteError> {
        let Some(file) = self.open.take() else { return Ok(()) };
        let OpenFile { writer, tmp, path, .. } = file;
        let result = finish(writer, &tmp, &path);
        lock_open().remove(&tmp);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        } else {
            self.closed.push(path);
        }
        result
    }

    fn create(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<OpenFile, WriteError> {
        let partition = partition_of(wall);
        let dir = self.dir.join(&partition);
        fs::create_dir_all(&dir).map_err(|source| WriteError::Io { path: dir.clone(), source })?;
        let stamp = wall.format("%Y%m%dT%H%M%S%.9fZ");
        let pid = std::process::id();
        loop {
            let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let name = format!("part-{stamp}-{pid}-{seq}.parquet");
            let path = dir.join(&name);
            let tmp = dir.join(format!(".{name}.tmp"));
            if path.exists() {
                continue;
            }
            // Registered before it exists, so a concurrent `remove_leftovers` never takes it.
            lock_open().insert(tmp.clone());
            let f = match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => f,
                Err(e) => {
                    lock_open().remove(&tmp);
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        continue;
                    }
                    return Err(WriteError::Io { path: tmp, source: e });
                }
            };
            return match ArrowWriter::try_new(f, self.schema.clone(), Some(self.properties.clone())) {
                Ok(writer) => {
                    let max_age = match self.files_opened {
                        0 => self.limits.max_file_age.min(FIRST_FILE_AGE),
                        _ => self.limits.max_file_age,
                    };
                    self.files_opened += 1;
                    Ok(OpenFile { writer, tmp, path, opened: now, max_age, partition, rows: 0 })
                }
                Err(source) => {
                    let _ = fs::remove_file(&tmp);
                    lock_open().remove(&tmp);
                    Err(WriteError::Parquet { path: tmp, source })
                }
            };
        }
    }

    /// Drops the open file after a failed write.
    fn abandon(&mut self) {
        if let Some(f) = self.open.take() {
            drop(f.writer);
            let _ = fs::remove_file(&f.tmp);
            lock_open().remove(&f.tmp);
            tracing::error!(message = "Abandoned a Parquet file after a failed write; its rows are lost.", path = %f.tmp.display(), rows = f.rows);
        }
    }
}

/// Footer, sync, rename, sync the directory (so the rename survives a power loss).
fn finish(writer: ArrowWriter<File>, tmp: &Path, path: &Path) -> Result<(), WriteError> {
    let io_err = |source| WriteError::Io { path: tmp.to_path_buf(), source };
    // `into_inner` writes the last row group and the footer, and hands the file back.
    let file = writer.into_inner().map_err(|source| WriteError::Parquet { path: tmp.to_path_buf(), source })?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    fs::rename(tmp, path).map_err(io_err)?;
    if let Some(dir) = path.parent() {
        // Best effort: some file systems cannot sync a directory.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn lock_open() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    OPEN_TMP.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for RollingWriter {
    /// Last resort when the exporter was not shut down: close the file rather than leave a
    /// temporary one behind.
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(message = "Failed to close a Parquet file.", error = %e);
        }
    }
}

/// Removes leftover temporary files (`.part-*.parquet.tmp`) under `dir`, except those this
/// process has open; returns how many.
pub fn remove_leftovers(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let Ok(entries) = fs::read_dir(dir) else { return Ok(0) };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += remove_leftovers(&path)?;
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".part-") && name.ends_with(".parquet.tmp") && !lock_open().contains(&path) {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}
