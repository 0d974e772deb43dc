//! The segmented, checksummed, append-only log under a persistent sending queue (the on-disk
//! format and the recovery procedure are described in the [parent module](super)).
//!
//! [`Log`] is synchronous and single-owner: the queue keeps it behind a mutex, appends from one
//! writer thread and reads from the exporter's consumers (see [`super::DiskQueue`]).

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First four bytes of every record: `b"WQR1"` — lets recovery find the next record after a
/// corrupted one.
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"WQR1";
/// magic (4) + payload length (4, LE) + items (4, LE) + CRC-32 (4, LE).
pub(crate) const HEADER_LEN: usize = 16;
const CURSOR_MAGIC: [u8; 4] = *b"WQC1";
/// magic (4) + segment (8, LE) + offset (8, LE) + CRC-32 (4, LE) of the 16 bytes before it.
const CURSOR_LEN: usize = 24;
const CURSOR_FILE: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const SEGMENT_SUFFIX: &str = ".wlog";
/// The cursor is persisted at most this often while acknowledgements arrive (and at close).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Where a record starts: its segment's sequence number and byte offset. Ordered as in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub segment: u64,
    pub offset: u64,
}

/// The log's settings.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// The queue's own directory (one per exporter and signal).
    pub dir: PathBuf,
    /// A segment is closed once it holds this many bytes (a larger record gets one to itself).
    pub segment_size: u64,
    /// `fsync` appended records (and the cursor) before they count as written.
    pub fsync: bool,
}

/// What [`Log::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Unacknowledged records found intact, to be sent again.
    pub records: u64,
    pub items: u64,
    pub bytes: u64,
    /// Damaged stretches skipped (each one or more records, or part of one).
    pub corrupted_records: u64,
    pub corrupted_bytes: u64,
    /// Bytes cut from the end of the newest segment: a record whose write did not finish.
    pub torn_tail_bytes: u64,
    /// Whether the cursor file was missing or damaged, so every remaining segment is re-read.
    pub cursor_lost: bool,
}

/// A record as a consumer gets it.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: RecordId,
    pub items: u32,
    pub bytes: bytes::Bytes,
}

/// What reading the next record gave.
#[derive(Debug)]
pub enum Read {
    Record(Record),
    /// The record's bytes no longer match its checksum; it was skipped (and counts as done).
    Corrupted {
        id: RecordId,
        len: u32,
    },
}

#[derive(Debug)]
struct Entry {
    id: RecordId,
    len: u32,
    /// Share of the queue's capacity, released when the record leaves the log.
    cost: u32,
    done: bool,
}

/// The segmented log. See the parent module for the format and guarantees.
pub struct Log {
    opts: LogOptions,
    /// Every segment file still on disk, by sequence number.
    segments: BTreeMap<u64, Arc<File>>,
    write_seq: u64,
    write_len: u64,
    /// Every record not yet acknowledged, or acknowledged but behind an older unacknowledged one,
    /// in log order. The front is the cursor.
    entries: VecDeque<Entry>,
    /// Entries before this index have been handed to a consumer.
    read_index: usize,
    /// Sum of `cost` over `entries`.
    held_cost: u64,
    persisted_cursor: Option<RecordId>,
    last_checkpoint: Instant,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{SEGMENT_SUFFIX}"))
}

fn crc_of_record(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[4..12]);
    h.update(payload);
    h.finalize()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Encodes a record header for `payload`.
pub(crate) fn header(payload: &[u8], items: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&RECORD_MAGIC);
    h[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[8..12].copy_from_slice(&items.to_le_bytes());
    let crc = crc_of_record(&h, payload);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The intact record starting at `pos` of `buf`: (payload length, items).
fn record_at(buf: &[u8], pos: usize) -> Option<(u32, u32)> {
    let h = buf.get(pos..pos + HEADER_LEN)?;
    if h[0..4] != RECORD_MAGIC {
        return None;
    }
    let len = u32_at(h, 4);
    let payload = buf.get(pos + HEADER_LEN..pos + HEADER_LEN + len as usize)?;
    (crc_of_record(h, payload) == u32_at(h, 12)).then_some((len, u32_at(h, 8)))
}

/// One segment's contents from `start`: intact records and damaged stretches.
struct Scan {
    records: Vec<(u64, u32, u32)>,
    /// (start, end) of each damaged stretch, in order.
    damaged: Vec<(u64, u64)>,
}

fn scan(buf: &[u8], start: usize) -> Scan {
    let mut s = Scan { records: Vec::new(), damaged: Vec::new() };
    let mut pos = start;
    while pos < buf.len() {
        if let Some((len, items)) = record_at(buf, pos) {
            s.records.push((pos as u64, len, items));
            pos += HEADER_LEN + len as usize;
            continue;
        }
        // Resynchronise: the next position holding the magic and an intact record.
        let next = (pos + 1..buf.len().saturating_sub(HEADER_LEN - 1))
            .find(|&p| buf[p..p + 4] == RECORD_MAGIC && record_at(buf, p).is_some())
            .unwrap_or(buf.len());
        s.damaged.push((pos as u64, next as u64));
        pos = next;
    }
    s
}

impl Log {
    /// Opens (or creates) the log in `opts.dir` and recovers what a previous run left: every
    /// record from the cursor on is queued again; damaged stretches are skipped and counted; an
    /// unfinished record at the end of the newest segment is cut off. `cost` gives each recovered
    /// record's share of the queue's capacity from (payload length, items).
    pub fn open(opts: LogOptions, cost: &dyn Fn(u32, u32) -> u32) -> io::Result<(Log, Recovery)> {
        std::fs::create_dir_all(&opts.dir)?;
        let mut seqs: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(&opts.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(SEGMENT_SUFFIX).and_then(|s| s.parse().ok()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut recovery = Recovery::default();
        let cursor = read_cursor(&opts.dir);
        if cursor.is_none() && !seqs.is_empty() {
            recovery.cursor_lost = true;
        }
        let cursor = cursor.unwrap_or(RecordId { segment: 0, offset: 0 });
        let mut segments = BTreeMap::new();
        let mut entries = VecDeque::new();
        let mut held_cost = 0u64;
        let newest = seqs.last().copied();
        for seq in seqs.iter().copied() {
            let path = segment_path(&opts.dir, seq);
            if seq < cursor.segment {
                // Entirely acknowledged; its deletion was interrupted.
                std::fs::remove_file(&path)?;
                continue;
            }
            let buf = std::fs::read(&path)?;
            let start = if seq == cursor.segment { (cursor.offset as usize).min(buf.len()) } else { 0 };
            let mut found = scan(&buf, start);
            if Some(seq) == newest {
                if let Some(&(from, to)) = found.damaged.last() {
                    if to as usize == buf.len() {
                        // The newest segment ends in an unfinished record: cut it off.
                        found.damaged.pop();
                        recovery.torn_tail_bytes = to - from;
                        OpenOptions::new().write(true).open(&path)?.set_len(from)?;
                    }
                }
            }
            for &(from, to) in &found.damaged {
                recovery.corrupted_records += 1;
                recovery.corrupted_bytes += to - from;
                tracing::error!(
                    message = "Persistent queue: skipping a corrupted stretch of a segment.",
                    segment = %path.display(),
                    offset = from,
                    bytes = to - from,
                );
            }
            for (offset, len, items) in found.records {
                let c = cost(len, items);
                held_cost += c as u64;
                recovery.records += 1;
                recovery.items += items as u64;
                recovery.bytes += len as u64;
                entries.push_back(Entry { id: RecordId { segment: seq, offset }, len, cost: c, done: false });
            }
            segments.insert(seq, Arc::new(OpenOptions::new().read(true).open(&path)?));
        }
        // New records always go to a fresh segment.
        let write_seq = newest.map_or(cursor.segment, |n| n + 1).max(cursor.segment);
        let file = OpenOptions::new().create(true).read(true).append(true).open(segment_path(&opts.dir, write_seq))?;
        if opts.fsync {
            sync_dir(&opts.dir)?;
        }
        segments.insert(write_seq, Arc::new(file));
        let log = Log {
            opts,
            segments,
            write_seq,
            write_len: 0,
            entries,
            read_index: 0,
            held_cost,
            persisted_cursor: None,
            last_checkpoint: Instant::now(),
        };
        Ok((log, recovery))
    }

    /// Writes records (not yet readable) and returns their ids and the files to `fsync` before
    /// [`Log::commit`]: the caller syncs outside its lock. On error nothing of the batch is kept.
    pub fn write(&mut self, records: &[(&[u8], u32)]) -> io::Result<(Vec<RecordId>, Vec<Arc<File>>)> {
        let mut ids = Vec::with_capacity(records.len());
        let mut to_sync = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let start = (self.write_seq, self.write_len);
        let result = (|| {
            for &(payload, items) in records {
                let size = (HEADER_LEN + payload.len()) as u64;
                let used = self.write_len + buf.len() as u64;
                if used > 0 && used + size > self.opts.segment_size {
                    self.flush_buf(&mut buf)?;
                    to_sync.push(self.segments[&self.write_seq].clone());
                    self.rotate()?;
                }
                ids.push(RecordId { segment: self.write_seq, offset: self.write_len + buf.len() as u64 });
                buf.extend_from_slice(&header(payload, items));
                buf.extend_from_slice(payload);
            }
            self.flush_buf(&mut buf)
        })();
        if let Err(e) = result {
            // Cut what this batch wrote to the segment it started in (best effort; a leftover
            // stretch would be skipped as damaged by the next recovery).
            if self.write_seq == start.0 {
                let _ = self.segments[&self.write_seq].set_len(start.1);
                self.write_len = start.1;
            }
            return Err(e);
        }
        to_sync.push(self.segments[&self.write_seq].clone());
        Ok((ids, to_sync))
    }

    fn flush_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        (&*self.segments[&self.write_seq]).write_all(buf)?;
        self.write_len += buf.len() as u64;
        buf.clear();
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let seq = self.write_seq + 1;
        let file = OpenOptions::new().create(true).read(true).append(true).open(segment_path(&self.opts.dir, seq))?;
        if self.opts.fsync {
            sync_dir(&self.opts.dir)?;
        }
        self.segments.insert(seq, Arc::new(file));
        self.write_seq = seq;
        self.write_len = 0;
        Ok(())
    }

    /// Makes written records readable, in the order written.
    pub fn commit(&mut self, records: &[(RecordId, u32, u32, u32)]) {
        for &(id, len, _items, cost) in records {
            self.held_cost += cost as u64;
            self.entries.push_back(Entry { id, len, cost, done: false });
        }
    }

    /// Writes, syncs (per `fsync`) and commits: the single-threaded form of an append.
    pub fn append(&mut self, payload: &[u8], items: u32, cost: u32) -> io::Result<RecordId> {
        let (ids, files) = self.write(&[(payload, items)])?;
        if self.opts.fsync {
            for f in files {
                f.sync_data()?;
            }
        }
        self.commit(&[(ids[0], payload.len() as u32, items, cost)]);
        Ok(ids[0])
    }

    /// The next unread record, if any: its id, size and file, to read with [`read_record`]
    /// without holding the log. The record counts as in flight until [`Log::ack`].
    pub fn take_next(&mut self) -> Option<(RecordId, u32, Arc<File>)> {
        let e = self.entries.get(self.read_index)?;
        // Segments are only deleted behind the cursor, so every entry's segment is open.
        let file = self.segments.get(&e.id.segment)?.clone();
        self.read_index += 1;
        Some((e.id, e.len, file))
    }

    /// Reads and checks the next unread record (for single-threaded use and tests).
    pub fn read_next(&mut self) -> Option<Read> {
        let (id, len, file) = self.take_next()?;
        Some(read_record(&file, id, len))
    }

    /// Marks a record done (sent, given up on, or unreadable). Returns the capacity released:
    /// the cost of every record that thereby left the log (the cursor only moves past a record
    /// once everything before it is done, so the log's size stays bounded).
    pub fn ack(&mut self, id: RecordId) -> io::Result<u64> {
        if let Ok(i) = self.entries.binary_search_by_key(&id, |e| e.id) {
            self.entries[i].done = true;
        }
        let mut released = 0u64;
        while self.entries.front().is_some_and(|e| e.done) {
            if let Some(e) = self.entries.pop_front() {
                released += e.cost as u64;
                self.read_index = self.read_index.saturating_sub(1);
            }
        }
        self.held_cost -= released;
        if released > 0 && self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            self.checkpoint()?;
        }
        Ok(released)
    }

    /// The position before which everything is done.
    pub fn cursor(&self) -> RecordId {
        self.entries.front().map_or(RecordId { segment: self.write_seq, offset: self.write_len }, |e| e.id)
    }

    /// Persists the cursor (atomically: a temporary file renamed over the old one) and deletes
    /// the segments entirely behind it.
    pub fn checkpoint(&mut self) -> io::Result<()> {
        self.last_checkpoint = Instant::now();
        let cursor = self.cursor();
        if self.persisted_cursor == Some(cursor) {
            return Ok(());
        }
        let mut b = [0u8; CURSOR_LEN];
        b[0..4].copy_from_slice(&CURSOR_MAGIC);
        b[4..12].copy_from_slice(&cursor.segment.to_le_bytes());
        b[12..20].copy_from_slice(&cursor.offset.to_le_bytes());
        let crc = crc32fast::hash(&b[0..20]);
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        let tmp = self.opts.dir.join(CURSOR_TMP);
        let mut f = File::create(&tmp)?;
        f.write_all(&b)?;
        if self.opts.fsync {
            f.sync_data()?;
        }
        std::fs::rename(&tmp, self.opts.dir.join(CURSOR_FILE))?;
        if self.opts.fsync {
            sync_dir(&self.opts.dir)?;
        }
        self.persisted_cursor = Some(cursor);
        let behind: Vec<u64> = self.segments.range(..cursor.segment).map(|(s, _)| *s).collect();
        for seq in behind {
            self.segments.remove(&seq);
            std::fs::remove_file(segment_path(&self.opts.dir, seq))?;
        }
        Ok(())
    }

    /// Records not yet done (queued or in flight).
    pub fn pending(&self) -> usize {
        self.entries.iter().filter(|e| !e.done).count()
    }

    /// Records committed and not yet handed to a consumer.
    pub fn unread(&self) -> usize {
        self.entries.len() - self.read_index
    }

    /// Sum of the costs of the records in the log.
    pub fn held_cost(&self) -> u64 {
        self.held_cost
    }

    /// Segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Bytes of the segment files on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.segments.values().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum()
    }
}

/// Reads the record `id` of payload length `len` from `file` and checks it.
pub fn read_record(file: &File, id: RecordId, len: u32) -> Read {
    let mut buf = vec![0u8; HEADER_LEN + len as usize];
    if file.read_exact_at(&mut buf, id.offset).is_err() {
        return Read::Corrupted { id, len };
    }
    match record_at(&buf, 0) {
        Some((l, items)) if l == len => {
            let mut bytes = bytes::Bytes::from(buf);
            Read::Record(Record { id, items, bytes: bytes.split_off(HEADER_LEN) })
        }
        _ => Read::Corrupted { id, len },
    }
}

fn read_cursor(dir: &Path) -> Option<RecordId> {
    let b = std::fs::read(dir.join(CURSOR_FILE)).ok()?;
    if b.len() != CURSOR_LEN || b[0..4] != CURSOR_MAGIC || crc32fast::hash(&b[0..20]) != u32_at(&b, 20) {
        tracing::warn!(
            message = "Persistent queue: the cursor file is damaged; every remaining record will be sent again.",
            dir = %dir.display(),
        );
        return None;
    }
    Some(RecordId { segment: u64_at(&b, 4), offset: u64_at(&b, 12) })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path, segment_size: u64) -> LogOptions {
        LogOptions { dir: dir.to_path_buf(), segment_size, fsync: false }
    }

    fn by_len(len: u32, _items: u32) -> u32 {
        len
    }

    fn payload(i: usize) -> Vec<u8> {
        format!("record number {i:05} ").repeat(1 + i % 7).into_bytes()
    }

    fn read_all(log: &mut Log) -> Vec<Record> {
        let mut out = Vec::new();
        while let Some(r) = log.read_next() {
            match r {
                Read::Record(r) => out.push(r),
                Read::Corrupted { id, .. } => panic!("unexpected corruption at {id:?}"),
            }
        }
        out
    }

    #[test]
    fn append_read_ack_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, rec) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
        assert_eq!(rec, Recovery::default());
        let ids: Vec<RecordId> = (0..10).map(|i| log.append(&payload(i), i as u32, 1).unwrap()).collect();
        let got = read_all(&mut log);
        assert_eq!(got.len(), 10);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.id, ids[i]);
            assert_eq!(&r.bytes[..], &payload(i)[..]);
            assert_eq!(r.items, i as u32);
        }
        assert_eq!(log.pending(), 10);
        // Out-of-order acknowledgement releases nothing until the oldest is done.
        assert_eq!(log.ack(ids[1]).unwrap(), 0);
        assert_eq!(log.ack(ids[0]).unwrap(), 2);
        for id in &ids[2..] {
            log.ack(*id).unwrap();
        }
        assert_eq!(log.pending(), 0);
        assert_eq!(log.held_cost(), 0);
    }

    #[test]
    fn reopen_resends_exactly_what_was_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let ids = {
            let (mut log, _) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
            let ids: Vec<RecordId> = (0..6).map(|i| log.append(&payload(i), 1, 1).unwrap()).collect();
            read_all(&mut log);
            for id in &ids[..3] {
                log.ack(*id).unwrap();
            }
            log.checkpoint().unwrap();
            // Dropped without a clean close, as after SIGKILL.
            ids
        };
        let (mut log, rec) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
        assert_eq!(rec.records, 3);
        assert_eq!(rec.corrupted_records, 0);
        let got = read_all(&mut log);
        assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), ids[3..]);
        assert_eq!(got[0].bytes, payload(3));
        // Held capacity is recovered too (cost by payload length here).
        assert_eq!(log.held_cost(), (3..6).map(|i| payload(i).len() as u64).sum::<u64>());
    }

    #[test]
    fn a_torn_tail_record_is_cut_off_and_the_rest_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let seg = {
            let (mut log, _) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
            for i in 0..4 {
                log.append(&payload(i), 1, 1).unwrap();
            }
            segment_path(dir.path(), log.write_seq)
        };
        // A fifth record whose write stopped half way.
        let p = payload(4);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&header(&p, 1)).unwrap();
        f.write_all(&p[..p.len() / 2]).unwrap();
        drop(f);
        let len_before = std::fs::metadata(&seg).unwrap().len();
        let (mut log, rec) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
        assert_eq!(rec.records, 4);
        assert_eq!(rec.corrupted_records, 0);
        assert_eq!(rec.torn_tail_bytes, (HEADER_LEN + p.len() / 2) as u64);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), len_before - rec.torn_tail_bytes);
        assert_eq!(read_all(&mut log).len(), 4);
        // New records go to a new segment, and everything reads back after another reopen.
        log.append(b"after", 1, 1).unwrap();
        drop(log);
        let (mut log, rec) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
        assert_eq!(rec.records, 5);
        let got = read_all(&mut log);
        assert_eq!(got.last().unwrap().bytes, &b"after"[..]);
    }

    #[test]
    fn a_corrupted_record_in_the_middle_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, ids) = {
            let (mut log, _) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
            let ids: Vec<RecordId> = (0..9).map(|i| log.append(&payload(i), 1, 1).unwrap()).collect();
            (segment_path(dir.path(), log.write_seq), ids)
        };
        // Flip bytes inside record 4's payload, and inside record 6's header length.
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[ids[4].offset as usize + HEADER_LEN + 3] ^= 0xff;
        bytes[ids[6].offset as usize + 5] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();
        let (mut log, rec) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
        assert_eq!(rec.corrupted_records, 2);
        assert_eq!(rec.records, 7);
        let got: Vec<Vec<u8>> = read_all(&mut log).into_iter().map(|r| r.bytes.to_vec()).collect();
        let expected: Vec<Vec<u8>> = [0, 1, 2, 3, 5, 7, 8].iter().map(|&i| payload(i)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn corruption_found_while_reading_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
        let id = log.append(b"soon to be damaged", 1, 1).unwrap();
        let seg = segment_path(dir.path(), id.segment);
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[HEADER_LEN + 2] ^= 1;
        std::fs::write(&seg, &bytes).unwrap();
        assert!(matches!(log.read_next(), Some(Read::Corrupted { id: got, .. }) if got == id));
    }

    #[test]
    fn segments_rotate_and_are_deleted_once_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(opts(dir.path(), 4096), &by_len).unwrap();
        let big = vec![7u8; 1000];
        let ids: Vec<RecordId> = (0..20).map(|_| log.append(&big, 1, 1).unwrap()).collect();
        // 4 records of 1016 bytes fit in 4096.
        assert_eq!(log.segment_count(), 5);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        // A record larger than a segment gets a segment of its own.
        log.append(&vec![1u8; 10_000], 1, 1).unwrap();
        assert_eq!(log.segment_count(), 6);
        read_all(&mut log);
        for id in &ids[..10] {
            log.ack(*id).unwrap();
        }
        log.checkpoint().unwrap();
        // Segments 0 and 1 (records 0..8) are gone; segment 2 holds records 8..12.
        assert_eq!(log.segment_count(), 4);
        assert!(!segment_path(dir.path(), 0).exists());
        drop(log);
        let (log, rec) = Log::open(opts(dir.path(), 4096), &by_len).unwrap();
        assert_eq!(rec.records, 11);
        assert_eq!(log.cursor(), ids[10]);
    }

    #[test]
    fn held_cost_bounds_the_bytes_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(opts(dir.path(), 8192), &by_len).unwrap();
        let capacity = 64 * 1024u64;
        let mut admitted = Vec::new();
        // Admit records while their cost fits the capacity, acknowledge them in order, repeat:
        // the files never exceed capacity + headers + one segment.
        for round in 0..20 {
            while log.held_cost() + 900 <= capacity {
                admitted.push(log.append(&[round as u8; 900], 1, 900).unwrap());
            }
            let n_headers = log.pending() as u64 * HEADER_LEN as u64;
            assert!(log.disk_bytes() <= capacity + n_headers + 8192, "{} bytes on disk", log.disk_bytes());
            while let Some(Read::Record(r)) = log.read_next() {
                log.ack(r.id).unwrap();
            }
            log.checkpoint().unwrap();
        }
        assert_eq!(log.pending(), 0);
        assert!(log.disk_bytes() <= 8192);
    }

    #[test]
    fn a_damaged_cursor_file_means_everything_is_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, _) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
            let ids: Vec<RecordId> = (0..4).map(|i| log.append(&payload(i), 1, 1).unwrap()).collect();
            read_all(&mut log);
            log.ack(ids[0]).unwrap();
            log.checkpoint().unwrap();
        }
        std::fs::write(dir.path().join(CURSOR_FILE), b"garbage").unwrap();
        let (_, rec) = Log::open(opts(dir.path(), 1 << 20), &by_len).unwrap();
        assert!(rec.cursor_lost);
        assert_eq!(rec.records, 4, "at least once: duplicates rather than loss");
    }
}
