//! The persistent queue's store against an embedded database on the same workload: append
//! batches of 8 records of 64 KiB, read the oldest back in order and delete them, keeping
//! 64 MiB queued, 512 MiB in all. weir's log (`core/src/persistent_queue/log.rs`, compiled in
//! from the source tree) against redb 2, with and without fsync. Three rounds; prints a
//! Markdown table. A standalone crate (not a workspace member, so redb is no dependency of
//! weir): `cd bench/queue_store && cargo run --release`.
#[path = "../../../core/src/persistent_queue/log.rs"]
#[allow(dead_code)]
mod log;

use redb::{Database, Durability, TableDefinition};
use std::time::Instant;

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
const RECORD: usize = 64 << 10;
const RECORDS: usize = 8192; // 512 MiB through the queue
const BATCH: usize = 8;
const KEEP: usize = 1024; // records queued (64 MiB)

fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn report(name: &str, t: Instant, c0: f64) {
    let secs = t.elapsed().as_secs_f64();
    let mib = (RECORD * RECORDS) as f64 / 1048576.0;
    println!("| {name} | {:.0} | {:.2} |", mib / secs, (cpu() - c0) / (mib / 1024.0));
}

fn weir_log(fsync: bool) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let opts = log::LogOptions { dir: dir.path().into(), segment_size: 16 << 20, fsync };
    let (mut l, _) = log::Log::open(opts, &|_, _| 1).unwrap();
    let payload = vec![7u8; RECORD];
    let (t, c0) = (Instant::now(), cpu());
    let mut written = 0;
    while written < RECORDS {
        let batch: Vec<(&[u8], u32)> = (0..BATCH).map(|_| (&payload[..], 1)).collect();
        let (ids, files) = l.write(&batch).unwrap();
        if fsync {
            files.last().unwrap().sync_data().unwrap();
        }
        l.commit(&ids.iter().map(|id| (*id, RECORD as u32, 1, 1)).collect::<Vec<_>>());
        written += BATCH;
        while l.pending() > KEEP || (written >= RECORDS && l.pending() > 0) {
            match l.read_next().unwrap() {
                log::Read::Record(r) => {
                    assert_eq!(r.bytes.len(), RECORD);
                    l.ack(r.id).unwrap();
                }
                log::Read::Corrupted { .. } => panic!(),
            }
        }
    }
    l.checkpoint().unwrap();
    report(&format!("weir log, fsync {fsync}"), t, c0);
}

fn redb(fsync: bool) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let db = Database::create(dir.path().join("q.redb")).unwrap();
    let payload = vec![7u8; RECORD];
    let (t, c0) = (Instant::now(), cpu());
    let (mut next_key, mut oldest) = (0u64, 0u64);
    while (next_key as usize) < RECORDS {
        let mut w = db.begin_write().unwrap();
        w.set_durability(if fsync { Durability::Immediate } else { Durability::None });
        {
            let mut table = w.open_table(TABLE).unwrap();
            for _ in 0..BATCH {
                table.insert(next_key, &payload[..]).unwrap();
                next_key += 1;
            }
        }
        w.commit().unwrap();
        let done = next_key as usize >= RECORDS;
        if (next_key - oldest) as usize > KEEP || done {
            let upto = if done { next_key } else { next_key - KEEP as u64 };
            let r = db.begin_read().unwrap();
            let table = r.open_table(TABLE).unwrap();
            for k in oldest..upto {
                assert_eq!(table.get(k).unwrap().unwrap().value().len(), RECORD);
            }
            drop(table);
            drop(r);
            let mut w = db.begin_write().unwrap();
            w.set_durability(if fsync { Durability::Immediate } else { Durability::None });
            {
                let mut table = w.open_table(TABLE).unwrap();
                for k in oldest..upto {
                    table.remove(k).unwrap();
                }
            }
            w.commit().unwrap();
            oldest = upto;
        }
    }
    let size = std::fs::metadata(dir.path().join("q.redb")).unwrap().len();
    report(&format!("redb 2, durability {}", if fsync { "Immediate" } else { "None" }), t, c0);
    println!("|   (redb file size at the end, queue empty: {} MiB) | | |", size >> 20);
}

fn main() {
    println!("| store | MiB/s through the queue | CPU-s per GiB |");
    println!("|---|---|---|");
    for _ in 0..3 {
        weir_log(false);
        redb(false);
        weir_log(true);
        redb(true);
    }
}
