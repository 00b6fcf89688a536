//! The limits an ingest is measured against in `scripts/bench.sh` (issue 20): the least
//! work that applying the same edits takes on this machine, in the same run.
//!
//! `ingest_limit db DB TABLE EDITS` applies the edits in EDITS (one per line:
//! `ROWID<TAB>COLUMN<TAB>VALUE`) to TABLE of the SQLite database DB, the way an ingest must:
//! each row found by its key, its old value read, the new value and `updated_at` written,
//! one journal row per changed field with the old and the new value, all in one
//! `BEGIN IMMEDIATE` transaction with smsync's connection settings (WAL,
//! `synchronous=FULL`, foreign keys, `temp_store=MEMORY`, an ingest's 64 MiB page
//! cache). Prints `items=… seconds=… items_per_s=…`, timed from opening the database to
//! the end of the commit.
//!
//! `ingest_limit files SRC DEST BATCH` moves every file of SRC into DEST the way an ingest
//! files its inputs: each file opened, read whole and hashed (SHA-256), then renamed into
//! DEST; after every BATCH files, one fsync of each folder (SRC and DEST), as an ingest
//! does after each batch's commit. Prints the same line, timed from the listing of SRC to
//! the last fsync.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

const USAGE: &str = "usage: ingest_limit db DB TABLE EDITS | ingest_limit files SRC DEST BATCH";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (items, secs) = match args.get(1).map(String::as_str) {
        Some("db") if args.len() == 5 => db(Path::new(&args[2]), &args[3], Path::new(&args[4])),
        Some("files") if args.len() == 5 => files(
            Path::new(&args[2]),
            Path::new(&args[3]),
            args[4].parse().expect(USAGE),
        ),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    println!(
        "items={items} seconds={secs:.3} items_per_s={:.0}",
        items as f64 / secs
    );
}

/// The edits of one table, applied and journaled in one transaction.
fn db(path: &Path, table: &str, edits: &Path) -> (usize, f64) {
    let text = fs::read_to_string(edits).expect("read EDITS");
    let edits: Vec<(i64, &str, &str)> = text
        .lines()
        .map(|l| {
            let mut p = l.splitn(3, '\t');
            let id = p.next().and_then(|s| s.parse().ok()).expect("ROWID");
            (id, p.next().expect("COLUMN"), p.next().expect("VALUE"))
        })
        .collect();
    let t = Instant::now();
    let mut conn = Connection::open(path).expect("open DB");
    // smsync's connection settings (src/store/sqlite/mod.rs).
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn.pragma_update(None, "temp_store", "MEMORY").unwrap();
    // An ingest's transaction keeps 64 MiB of pages (`Store::write_many`).
    conn.pragma_update(None, "cache_size", -65_536).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let now: i64 = tx
        .query_row(
            "UPDATE meta SET value = value + 1 WHERE key = 'clock' RETURNING value",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let prefix = match table {
        "users" => "SM-U",
        "locations" => "SM-L",
        "tech" => "SM-T",
        _ => "",
    };
    for (id, column, value) in &edits {
        let old: Option<String> = tx
            .prepare_cached(&format!("SELECT {column} FROM {table} WHERE id = ?1"))
            .unwrap()
            .query_row([id], |r| r.get(0))
            .optional()
            .unwrap()
            .flatten();
        tx.prepare_cached(&format!(
            "UPDATE {table} SET {column} = ?1, updated_at = ?2 WHERE id = ?3"
        ))
        .unwrap()
        .execute(params![value, now, id])
        .unwrap();
        tx.prepare_cached(
            "INSERT INTO journal (at, source, profile, file, item, field, old_value, \
             new_value, outcome, reason, run) VALUES (?1, 'ingest', 'limit', 'edits', ?2, ?3, \
             ?4, ?5, 'changed', NULL, 'limit')",
        )
        .unwrap()
        .execute(params![now, format!("{prefix}{id}"), column, old, value])
        .unwrap();
    }
    tx.commit().unwrap();
    (edits.len(), t.elapsed().as_secs_f64())
}

/// Every file of `src` read, hashed and renamed into `dest`, a batch at a time.
fn files(src: &Path, dest: &Path, batch: usize) -> (usize, f64) {
    fs::create_dir_all(dest).expect("create DEST");
    let t = Instant::now();
    let mut names: Vec<_> = fs::read_dir(src)
        .expect("list SRC")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    let sync = |dir: &Path| {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .expect("fsync")
    };
    let mut buf = Vec::new();
    for chunk in names.chunks(batch.max(1)) {
        for name in chunk {
            let from = src.join(name);
            buf.clear();
            fs::File::open(&from)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .expect("read");
            std::hint::black_box(Sha256::digest(&buf));
            fs::rename(&from, dest.join(name)).expect("rename");
        }
        sync(src);
        sync(dest);
    }
    (names.len(), t.elapsed().as_secs_f64())
}
