//! `file`: appends every request to a local file, as the Collector's file exporter does.
//!
//! | `format` | `compression` | each request is written as |
//! |---|---|---|
//! | `json` | `none` | one line of OTLP/JSON (`{"resourceSpans":[…]}`) |
//! | `proto` | `none` | 4-byte big-endian length, then the protobuf bytes as received |
//! | either | `zstd` | 4-byte big-endian length, then one zstd frame of the above |
//!
//! Encoding and writing run on tokio's blocking pool. A request counts as exported once it is
//! in the writer's buffer; the buffer reaches the file every `flush_interval` and at shutdown
//! (which also syncs), so a clean stop (SIGTERM) loses nothing acknowledged; a crash can lose
//! up to one `flush_interval` of data. See [`sink`] for sharing between signals and rotation.

mod config;
pub mod sink;

pub use config::{FileCompression, FileConfig, FileFormat, RotationConfig};

use async_trait::async_trait;
use bytes::Bytes;
use sink::{FileSink, Record, SinkSettings};
use std::path::Path;
use std::sync::Arc;
use weir_core::pdata::json;
use weir_core::{BuildContext, BuildError, Exporter, ExporterFactory, Failure, Payload, Signal};

/// The type name in `pipelines.yaml`.
pub const TYPE_NAME: &str = "file";

/// Factory of the `file` exporter.
pub struct FileExporterFactory;

impl ExporterFactory for FileExporterFactory {
    type Config = FileConfig;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn build(&self, _ctx: &BuildContext, config: &FileConfig) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(FileExporter::new(config)?))
    }
}

/// Writes requests to a (possibly shared) [`FileSink`].
pub struct FileExporter {
    sink: Arc<FileSink>,
}

impl FileExporter {
    /// Opens the file, or joins the writer already open on it. Needs a tokio runtime when
    /// `flush_interval` is not 0 (the flusher task runs on it).
    pub fn new(config: &FileConfig) -> Result<FileExporter, BuildError> {
        let sink = FileSink::shared(Path::new(&config.path), SinkSettings::from(config))
            .map_err(|e| BuildError::new(e.to_string()))?;
        Ok(FileExporter { sink })
    }

    pub fn sink(&self) -> &Arc<FileSink> {
        &self.sink
    }
}

/// The record `payload` is written as.
fn encode(format: FileFormat, compression: FileCompression, payload: &Payload) -> Result<Record, Failure> {
    let json = || json::encode(payload).map_err(|e| Failure::permanent(format!("cannot encode as OTLP/JSON: {e}")));
    let zstd = |b: &[u8]| {
        zstd::bulk::compress(b, 0)
            .map(Bytes::from)
            .map_err(|e| Failure::permanent(format!("cannot compress with zstd: {e}")))
    };
    let framed = |b: Bytes| match u32::try_from(b.len()) {
        Ok(_) => Ok(Record::Framed(b)),
        Err(_) => Err(Failure::permanent("the request is over 4 GiB and cannot be length-prefixed")),
    };
    match (format, compression) {
        (FileFormat::Json, FileCompression::None) => Ok(Record::Line(json()?)),
        (FileFormat::Proto, FileCompression::None) => framed(payload.bytes().clone()),
        (FileFormat::Json, FileCompression::Zstd) => framed(zstd(json()?.as_bytes())?),
        (FileFormat::Proto, FileCompression::Zstd) => framed(zstd(payload.bytes())?),
    }
}

#[async_trait]
impl Exporter for FileExporter {
    async fn export(&self, payload: Payload) -> Result<(), Failure> {
        if payload.is_empty() {
            return Ok(());
        }
        let sink = self.sink.clone();
        tokio::task::spawn_blocking(move || {
            let s = sink.settings();
            let record = encode(s.format, s.compression, &payload)?;
            // Disk full or a vanished directory may pass: let the plumbing retry.
            sink.write(&record).map_err(|e| Failure::retryable(format!("writing to {}: {e}", sink.path().display())))
        })
        .await
        .map_err(|e| Failure::retryable(format!("the file writing task failed: {e}")))?
    }

    async fn shutdown(&self) {
        let sink = self.sink.clone();
        let path = sink.path().to_path_buf();
        match tokio::task::spawn_blocking(move || sink.sync()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(message = "Failed to flush the file at shutdown.", path = %path.display(), error = %e)
            }
            Err(e) => {
                tracing::error!(message = "The flush task failed at shutdown.", path = %path.display(), error = %e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
