//! `group_by`: one file per value of a resource attribute.
//!
//! `path` holds one `*`; each resource of a request goes to `path` with the `*` replaced by its
//! `resource_attribute` (a string attribute; resources without it are dropped and logged at
//! debug, as in the Collector). The resources of one group are written as one request, their
//! bytes as received ([`Payload::group_resources`]).
//!
//! - **Paths stay under the prefix.** As in the Collector, a value is joined under the part of
//!   `path` before the `*` after cleaning `.` and `..` away lexically; a value that would climb
//!   out (`../../etc/passwd`) is confined to the prefix directory instead.
//! - **At most `max_open_files` open.** The least recently written file is flushed and closed
//!   when another is needed, and opened again (appended to) when its group comes back; a file
//!   is emptied only the first time this exporter opens it (unless `append`).
//! - **No rotation** for grouped files, as in the Collector.
//! - A write that fails fails the request **permanently**, as in the Collector: retrying would
//!   write the groups that did succeed twice.

use super::config::FileConfig;
use super::encode;
use super::sink::{FileSink, SinkSettings};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use weir_core::{Failure, Payload};

/// The open files of one grouping exporter.
pub struct GroupedFiles {
    prefix: String,
    suffix: String,
    attribute: String,
    max_open: usize,
    settings: SinkSettings,
    append: bool,
    state: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    /// Open sinks, least recently written first.
    sinks: Vec<(PathBuf, Arc<FileSink>)>,
    /// Every path opened so far (emptied once, at its first open).
    seen: HashSet<PathBuf>,
}

impl GroupedFiles {
    /// `config.group_by` is enabled and `config.path` has been checked to hold one `*`.
    pub fn new(config: &FileConfig) -> GroupedFiles {
        let (prefix, suffix) = config.path.split_once('*').unwrap_or((&config.path, ""));
        let mut settings = SinkSettings::from(config);
        settings.rotation = None;
        GroupedFiles {
            prefix: clean_prefix(prefix),
            suffix: suffix.to_string(),
            attribute: config.group_by.resource_attribute.clone(),
            max_open: config.group_by.max_open_files.max(1),
            settings,
            append: config.append,
            state: Arc::default(),
        }
    }

    /// The file of the group `segment`.
    pub fn path_of(&self, segment: &str) -> PathBuf {
        PathBuf::from(full_path(&self.prefix, segment, &self.suffix))
    }

    pub async fn export(&self, payload: Payload) -> Result<(), Failure> {
        let attribute = self.attribute.clone();
        let groups = payload
            .group_resources(|rg| {
                Ok(rg.resource()?.attributes().get(&attribute)?.and_then(|v| v.as_str()).map(str::to_string))
            })
            .map_err(|e| Failure::permanent(format!("cannot read the payload to group it: {e}")))?;
        let grouped: usize = groups.iter().map(|(_, p)| p.items()).sum();
        if grouped < payload.items() {
            tracing::debug!(
                message = "Resources without the group_by attribute are dropped.",
                attribute = %self.attribute,
                items = payload.items() - grouped
            );
        }
        let work: Vec<(PathBuf, Payload)> =
            groups.into_iter().map(|(segment, p)| (self.path_of(&segment), p)).collect();
        let (state, settings, append, max_open) =
            (self.state.clone(), self.settings.clone(), self.append, self.max_open);
        tokio::task::spawn_blocking(move || {
            for (path, part) in work {
                let sink = open(&state, &path, &settings, append, max_open)?;
                let record = encode(&settings, &part)?;
                sink.write(&record).map_err(|e| Failure::permanent(format!("writing to {}: {e}", path.display())))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Failure::permanent(format!("the file writing task failed: {e}")))?
    }

    /// Every open sink, closed by this exporter (the caller syncs them).
    pub fn close_all(&self) -> Vec<Arc<FileSink>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.sinks.drain(..).map(|(_, s)| s).collect()
    }
}

/// The sink of `path`, opened if needed, made the most recently used.
fn open(
    state: &Mutex<Open>,
    path: &PathBuf,
    settings: &SinkSettings,
    append: bool,
    max_open: usize,
) -> Result<Arc<FileSink>, Failure> {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = state.sinks.iter().position(|(p, _)| p == path) {
        let entry = state.sinks.remove(i);
        let sink = entry.1.clone();
        state.sinks.push(entry);
        return Ok(sink);
    }
    let truncate = !append && state.seen.insert(path.clone());
    let sink = FileSink::shared(path, settings.clone(), truncate).map_err(|e| Failure::permanent(e.to_string()))?;
    if state.sinks.len() >= max_open {
        let (_, evicted) = state.sinks.remove(0);
        if let Err(error) = evicted.flush() {
            tracing::warn!(message = "Failed to flush a file closed for group_by.", path = %evicted.path().display(), %error);
        }
    }
    state.sinks.push((path.clone(), sink.clone()));
    Ok(sink)
}

/// The part of `path` before the `*`, cleaned as Go's `path.Clean`, keeping a trailing `/`.
fn clean_prefix(prefix: &str) -> String {
    let cleaned = clean(prefix);
    if prefix.ends_with('/') && !cleaned.ends_with('/') {
        cleaned + "/"
    } else {
        cleaned
    }
}

/// The Collector's `fullPath`: `prefix + segment + suffix` cleaned, unless that leaves the
/// prefix, in which case the segment is confined under it.
fn full_path(prefix: &str, segment: &str, suffix: &str) -> String {
    let segment = if let Some(rest) = segment.strip_prefix("./") {
        format!("/{rest}")
    } else if let Some(rest) = segment.strip_prefix("../") {
        format!("/{rest}")
    } else {
        segment.to_string()
    };
    let full = clean(&format!("{prefix}{segment}{suffix}"));
    if full.starts_with(prefix) {
        return full;
    }
    clean(&format!("{prefix}/{}", clean(&format!("/{segment}{suffix}"))))
}

/// Go's `path.Clean`: the shortest equivalent path, lexically.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_gos_path_clean() {
        for (input, want) in [
            ("", "."),
            ("./group_by/", "group_by"),
            ("a/./b/../c", "a/c"),
            ("../../x", "../../x"),
            ("/../x", "/x"),
            ("/a//b/", "/a/b"),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
        assert_eq!(clean_prefix("./group_by/"), "group_by/");
    }

    #[test]
    fn a_segment_cannot_climb_out_of_the_prefix() {
        assert_eq!(full_path("/data/", "tenant-a", ".json"), "/data/tenant-a.json");
        assert_eq!(full_path("/data/", "./x", ".json"), "/data/x.json");
        assert_eq!(full_path("/data/", "../../etc/passwd", ""), "/data/etc/passwd");
        assert_eq!(full_path("/data/", "a/../../../root", ".json"), "/data/root.json");
        assert_eq!(full_path("group_by/", "a/b", ".json"), "group_by/a/b.json");
    }
}
