//! `file`: writes every request to a local file, as the Collector's file exporter does.
//!
//! | `format` | `compression` | each request is written as |
//! |---|---|---|
//! | `json` | `none` | one line of OTLP/JSON (`{"resourceSpans":[…]}`) |
//! | `proto` | `none` | 4-byte big-endian length, then the protobuf bytes as received |
//! | either | `zstd` | 4-byte big-endian length, then one zstd frame of the above |
//!
//! The file starts empty unless `append: true` (or it rotates), as in the Collector.
//! Encoding and writing run on tokio's blocking pool. A request counts as exported once it is
//! in the writer's buffer; the buffer reaches the file every `flush_interval` and at shutdown
//! (which also syncs), so a clean stop (SIGTERM) loses nothing acknowledged; a crash can lose
//! up to one `flush_interval` of data. See [`sink`] for sharing between signals and rotation.
//!
//! With `group_by`, each resource goes to the file its resource attribute names ([`grouped`]).

mod config;
mod grouped;
pub mod sink;

pub use config::{FileCompression, FileConfig, FileFormat, GroupByConfig, RotationConfig};

use async_trait::async_trait;
use bytes::Bytes;
use grouped::GroupedFiles;
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

/// Where the records go.
enum Files {
    /// `path`: one (possibly shared) sink.
    Single(Arc<FileSink>),
    /// `group_by`: one file per attribute value.
    Grouped(GroupedFiles),
}

/// Writes requests to a (possibly shared) [`FileSink`], or with `group_by` to one per group.
pub struct FileExporter {
    files: Files,
}

impl FileExporter {
    /// Opens the file, or joins the writer already open on it (with `group_by`, files are
    /// opened as their groups appear). Needs a tokio runtime when `flush_interval` is not 0
    /// (the flusher task runs on it).
    pub fn new(config: &FileConfig) -> Result<FileExporter, BuildError> {
        let files = if config.group_by.enabled {
            Files::Grouped(GroupedFiles::new(config))
        } else {
            let sink = FileSink::shared(Path::new(&config.path), SinkSettings::from(config), !config.append)
                .map_err(|e| BuildError::new(e.to_string()))?;
            Files::Single(sink)
        };
        Ok(FileExporter { files })
    }

    /// The one file written without `group_by`.
    pub fn sink(&self) -> Option<&Arc<FileSink>> {
        match &self.files {
            Files::Single(sink) => Some(sink),
            Files::Grouped(_) => None,
        }
    }
}

/// The record `payload` is written as.
fn encode(settings: &SinkSettings, payload: &Payload) -> Result<Record, Failure> {
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
    match (settings.format, settings.compression) {
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
        match &self.files {
            Files::Single(sink) => {
                let sink = sink.clone();
                tokio::task::spawn_blocking(move || {
                    let record = encode(sink.settings(), &payload)?;
                    // Disk full or a vanished directory may pass: let the plumbing retry.
                    sink.write(&record)
                        .map_err(|e| Failure::retryable(format!("writing to {}: {e}", sink.path().display())))
                })
                .await
                .map_err(|e| Failure::retryable(format!("the file writing task failed: {e}")))?
            }
            Files::Grouped(g) => g.export(payload).await,
        }
    }

    async fn shutdown(&self) {
        let sinks = match &self.files {
            Files::Single(sink) => vec![sink.clone()],
            Files::Grouped(g) => g.close_all(),
        };
        for sink in sinks {
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
}

#[cfg(test)]
mod tests;
