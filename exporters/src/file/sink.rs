//! The writer behind `file` exporters: one per path, shared, buffered, rotated by size.
//!
//! # Sharing
//!
//! Exporters are built once per signal, and a Collector config commonly sends traces,
//! metrics and logs to one file. Separate writers on one file would interleave partial
//! buffers and rotate it three times, so [`FileSink::shared`] keeps a process-wide map from the
//! absolute path to the open sink (weakly held: the sink closes when its last exporter is
//! dropped). Asking for a path that is open with other settings is a build error.
//!
//! # Writing
//!
//! Records are written whole under one lock into a `BufWriter`, so they never interleave:
//! a JSON line (`json`), or a 4-byte big-endian length then the bytes (`proto`, and any
//! compressed record). Buffered data reaches the file every `flush_interval` (a background
//! task), after every record when it is under 1ms (a timer that fine would only spin), and at
//! shutdown, when the file is also synced. Calls block on file I/O: callers run them on
//! tokio's blocking pool.
//!
//! The file is emptied when it is opened unless `append` is set or it rotates (the Collector
//! truncates then too; a rotating file is appended to, as lumberjack does). Exporters joining
//! an open sink never empty it.
//!
//! # Rotation
//!
//! Before a record that would take the file past `max_megabytes`, the file is renamed to
//! `<stem>-<timestamp>.<ext>` (timestamp `2006-01-02T15-04-05.000`, UTC unless `localtime`,
//! as the Collector's lumberjack names them) and a new file started. A record larger than the
//! limit still goes whole into a fresh file. Then backups beyond `max_backups` (newest kept)
//! and older than `max_days` (by the timestamp in their name) are removed.

use super::config::{FileCompression, FileConfig, FileFormat};
use bytes::Bytes;
use chrono::NaiveDateTime;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Size of the write buffer; a flush happens at least this often.
const BUFFER_BYTES: usize = 256 * 1024;

/// Flush intervals below this flush after every record.
const MIN_FLUSH_INTERVAL: Duration = Duration::from_millis(1);

/// The timestamp in backup names (chrono's spelling of lumberjack's `2006-01-02T15-04-05.000`).
const BACKUP_TIME_FORMAT: &str = "%Y-%m-%dT%H-%M-%S%.3f";

/// Open sinks by absolute path.
static OPEN_SINKS: Mutex<BTreeMap<PathBuf, Weak<FileSink>>> = Mutex::new(BTreeMap::new());

/// Why a sink could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot open {path:?}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path:?} is already written by another file exporter with different settings; use one set of settings per path")]
    Conflict { path: PathBuf },
    #[error("the file exporter needs a tokio runtime to flush in the background")]
    NoRuntime,
}

/// One write: a JSON line, or a length-prefixed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Written followed by `\n`.
    Line(String),
    /// Written after its length as 4 bytes, big-endian. At most `u32::MAX` bytes.
    Framed(Bytes),
}

impl Record {
    /// Bytes this record takes in the file.
    pub fn file_len(&self) -> u64 {
        match self {
            Record::Line(s) => s.len() as u64 + 1,
            Record::Framed(b) => b.len() as u64 + 4,
        }
    }
}

/// Rotation limits, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    pub max_days: u64,
    pub max_backups: u64,
    pub localtime: bool,
}

/// Everything that must agree for two exporters to share a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSettings {
    pub format: FileFormat,
    pub compression: FileCompression,
    pub flush_interval: Duration,
    pub rotation: Option<Rotation>,
}

impl From<&FileConfig> for SinkSettings {
    fn from(c: &FileConfig) -> Self {
        SinkSettings {
            format: c.format,
            compression: c.compression,
            flush_interval: if c.flush_interval < MIN_FLUSH_INTERVAL { Duration::ZERO } else { c.flush_interval },
            rotation: c.rotation.as_ref().map(|r| Rotation {
                max_bytes: r.max_megabytes.saturating_mul(1024 * 1024),
                max_days: r.max_days,
                max_backups: r.max_backups,
                localtime: r.localtime,
            }),
        }
    }
}

/// An open output file.
#[derive(Debug)]
pub struct FileSink {
    /// Absolute, with the directory's symlinks resolved.
    path: PathBuf,
    settings: SinkSettings,
    state: Mutex<SinkState>,
}

#[derive(Debug)]
struct SinkState {
    /// `None` after a failed rotation: the next write opens the file again.
    file: Option<BufWriter<File>>,
    /// Bytes in the file, written or buffered.
    size: u64,
}

impl FileSink {
    /// The sink for `path`: the one already open there if its settings are the same, else a
    /// new one (creating missing directories, emptying the file when `truncate` and it does not
    /// rotate), with its flusher task.
    pub fn shared(path: &Path, settings: SinkSettings, truncate: bool) -> Result<Arc<FileSink>, SinkError> {
        let open_err = |source| SinkError::Open { path: path.to_path_buf(), source };
        let path = absolute(path).map_err(open_err)?;
        let mut open = OPEN_SINKS.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, sink| sink.strong_count() > 0);
        if let Some(sink) = open.get(&path).and_then(Weak::upgrade) {
            return if sink.settings == settings { Ok(sink) } else { Err(SinkError::Conflict { path }) };
        }
        let runtime = if settings.flush_interval.is_zero() {
            None
        } else {
            Some(tokio::runtime::Handle::try_current().map_err(|_| SinkError::NoRuntime)?)
        };
        if truncate && settings.rotation.is_none() {
            File::create(&path).map_err(open_err)?;
        }
        let (file, size) = open_append(&path).map_err(open_err)?;
        let sink = Arc::new(FileSink {
            path: path.clone(),
            settings,
            state: Mutex::new(SinkState { file: Some(file), size }),
        });
        if let Some(runtime) = runtime {
            runtime.spawn(flush_periodically(Arc::downgrade(&sink), sink.settings.flush_interval));
        }
        open.insert(path, Arc::downgrade(&sink));
        Ok(sink)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn settings(&self) -> &SinkSettings {
        &self.settings
    }

    fn lock(&self) -> MutexGuard<'_, SinkState> {
        // A panic while holding the lock leaves at worst a partly written record; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one record, rotating first when it would not fit.
    pub fn write(&self, record: &Record) -> io::Result<()> {
        let mut state = self.lock();
        if let Some(r) = &self.settings.rotation {
            if state.size > 0 && state.size + record.file_len() > r.max_bytes {
                self.rotate(&mut state, r)?;
            }
        }
        let file = match state.file.take() {
            Some(f) => state.file.insert(f),
            None => {
                let (f, size) = open_append(&self.path)?;
                state.size = size;
                state.file.insert(f)
            }
        };
        match record {
            Record::Line(line) => {
                file.write_all(line.as_bytes())?;
                file.write_all(b"\n")?;
            }
            Record::Framed(bytes) => {
                let len = u32::try_from(bytes.len())
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a record over 4 GiB cannot be framed"))?;
                file.write_all(&len.to_be_bytes())?;
                file.write_all(bytes)?;
            }
        }
        if self.settings.flush_interval.is_zero() {
            file.flush()?;
        }
        state.size += record.file_len();
        Ok(())
    }

    /// Writes buffered records to the file.
    pub fn flush(&self) -> io::Result<()> {
        match self.lock().file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }

    /// Flushes and asks the OS to put the data on disk (at shutdown).
    pub fn sync(&self) -> io::Result<()> {
        let mut state = self.lock();
        match state.file.as_mut() {
            Some(f) => {
                f.flush()?;
                f.get_ref().sync_data()
            }
            None => Ok(()),
        }
    }

    fn rotate(&self, state: &mut SinkState, r: &Rotation) -> io::Result<()> {
        if let Some(f) = state.file.as_mut() {
            f.flush()?;
        }
        state.file = None;
        match fs::rename(&self.path, self.backup_path(r)) {
            // Removed behind our back: there is nothing to keep, start afresh.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
        let (f, size) = open_append(&self.path)?;
        state.file = Some(f);
        state.size = size;
        if let Err(e) = self.remove_old_backups(r) {
            tracing::warn!(message = "Failed to remove old backups.", path = %self.path.display(), error = %e);
        }
        Ok(())
    }

    /// `(directory, stem, extension with its dot)` of the file.
    fn name_parts(&self) -> (&Path, String, String) {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let stem = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = self.path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        (dir, stem, ext)
    }

    /// A backup name for now that is not taken yet.
    fn backup_path(&self, r: &Rotation) -> PathBuf {
        let (dir, stem, ext) = self.name_parts();
        let mut t = now(r.localtime);
        loop {
            let candidate = dir.join(format!("{stem}-{}{ext}", t.format(BACKUP_TIME_FORMAT)));
            if !candidate.exists() {
                return candidate;
            }
            // Two rotations within one millisecond: the names still sort in rotation order.
            t += chrono::TimeDelta::milliseconds(1);
        }
    }

    /// This file's backups, newest first.
    pub fn backups(&self) -> io::Result<Vec<(NaiveDateTime, PathBuf)>> {
        let (dir, stem, ext) = self.name_parts();
        let prefix = format!("{stem}-");
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(time) = name.strip_prefix(&prefix).and_then(|n| n.strip_suffix(ext.as_str())) else { continue };
            if let Ok(t) = NaiveDateTime::parse_from_str(time, BACKUP_TIME_FORMAT) {
                out.push((t, entry.path()));
            }
        }
        out.sort_by(|a, b| b.cmp(a));
        Ok(out)
    }

    fn remove_old_backups(&self, r: &Rotation) -> io::Result<()> {
        let mut keep = self.backups()?;
        let mut remove = Vec::new();
        if r.max_backups > 0 && keep.len() as u64 > r.max_backups {
            remove = keep.split_off(r.max_backups as usize);
        }
        // A cutoff before the calendar's start (an absurd max_days) removes nothing by age.
        let cutoff = chrono::TimeDelta::try_days(r.max_days.min(i64::MAX as u64) as i64)
            .and_then(|age| now(r.localtime).checked_sub_signed(age));
        if let (true, Some(cutoff)) = (r.max_days > 0, cutoff) {
            remove.extend(keep.into_iter().filter(|(t, _)| *t < cutoff));
        }
        for (_, path) in remove {
            fs::remove_file(&path)?;
        }
        Ok(())
    }
}

/// The wall clock in the zone backup names use.
fn now(localtime: bool) -> NaiveDateTime {
    if localtime {
        chrono::Local::now().naive_local()
    } else {
        chrono::Utc::now().naive_utc()
    }
}

/// `path` made absolute, with the symlinks of its (created if missing) directory resolved, so
/// two spellings of one file share a sink.
fn absolute(path: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => {
            fs::create_dir_all(dir)?;
            Ok(fs::canonicalize(dir)?.join(name))
        }
        _ => Ok(abs),
    }
}

fn open_append(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((BufWriter::with_capacity(BUFFER_BYTES, file), size))
}

/// Flushes `sink` every `every` until it is dropped.
async fn flush_periodically(sink: Weak<FileSink>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(sink) = sink.upgrade() else { return };
        let path = sink.path.clone();
        match tokio::task::spawn_blocking(move || sink.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(message = "Failed to flush the file.", path = %path.display(), error = %e),
            Err(e) => tracing::warn!(message = "The flush task failed.", path = %path.display(), error = %e),
        }
    }
}
