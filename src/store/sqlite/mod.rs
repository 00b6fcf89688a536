//! The embedded SQLite engine of the storage layer: the [`SqliteStore`] type, its
//! connection settings, and its [`Store`] and [`Lookup`] implementations, which hand the
//! work to `codec` (rows ⇄ records), `queries` (reads), `writer` (the write
//! transaction) and [`schema`] (migrations). The Service Master rules it enforces are
//! [`crate::store::domain`]'s. Also the conversion of SQLite errors into [`Error::Db`].

mod codec;
pub mod dump;
mod queries;
mod runs;
pub mod schema;
mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use codec::{AGENTS_CATEGORY, TECH_CATEGORY};

use super::{
    Changed, Cursor, Exported, JournalEntry, Lookup, OutputStamps, Profile, Store, SyncCounts,
    Writer,
};
use crate::error::{Error, Result};
use crate::model::{Key, Kind, Record};

/// SQLite errors become [`Error::Db`] with SQLite's message, so the public error type
/// names no engine.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e.to_string())
    }
}

/// The Service Master database in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

/// The page cache of a [`Store::write_many`] transaction: 64 MiB (negative: KiB).
pub const WRITE_MANY_CACHE: i64 = -65_536;

fn configure(conn: &Connection) -> Result<()> {
    // WAL lets exports read while another process writes. synchronous=FULL makes every
    // commit durable before smsync moves an input file to processed/, so an edit can never
    // be lost between the two.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints and statement journals keep their undo pages here; in a temp file every
    // first change of a page inside a savepoint cost a write system call.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

impl SqliteStore {
    fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Opens an existing database whose schema is current.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::NotFound(format!(
                "no database at {}; create it with `smsync db init` (or pass --db)",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        schema::check(&conn)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Creates the database, or migrates an existing one. Returns the schema versions
    /// before and after.
    pub fn create(path: &Path) -> Result<(Self, i64, i64)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        let (before, after) = schema::migrate(&mut conn)?;
        Ok((
            SqliteStore {
                conn,
                path: path.to_path_buf(),
            },
            before,
            after,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for tests and the checks of `db` commands.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl Store for SqliteStore {
    fn record_run(&mut self, run: &crate::store::RunRecord) -> Result<()> {
        runs::record(&self.conn, run)
    }

    fn runs(&self, profile: Option<&str>, limit: usize) -> Result<Vec<crate::store::RunRecord>> {
        runs::list(&self.conn, profile, limit)
    }

    fn write(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        writer::write(&mut self.conn, f)
    }

    /// With 64 MiB of page cache for the transaction's length (SQLite's default is 2 MiB):
    /// an ingest of 100,000 .vcf files otherwise wrote about 140,000 changed pages to the
    /// WAL before its commit and read as many back (strace), a quarter of that with it.
    /// The cache is given back after the commit, so an export in the same process keeps
    /// its memory.
    fn write_many(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        let before: i64 = self.conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        self.conn
            .pragma_update(None, "cache_size", WRITE_MANY_CACHE)?;
        let result = writer::write(&mut self.conn, f);
        let restored = self.conn.pragma_update(None, "cache_size", before);
        result?;
        restored?;
        Ok(())
    }

    fn write_unsynced(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        writer::write_unsynced(&mut self.conn, f)
    }

    /// A connection of its own to the same file (WAL: its writes never block this one's
    /// reads). It checkpoints every 64 MiB of WAL instead of every 4 MiB: an export commits
    /// its state there page after page, and each checkpoint copied and synced the pages
    /// the next commits rewrote anyway.
    fn second_connection(&self) -> Result<Option<Box<dyn Store + Send>>> {
        let second = SqliteStore::open(&self.path)?;
        second
            .conn
            .pragma_update(None, "wal_autocheckpoint", 16_384)?;
        Ok(Some(Box::new(second)))
    }

    fn checkpoint(&mut self) -> Result<()> {
        // PASSIVE: the frames no reader still needs, without waiting; the result row (busy,
        // frames, frames copied) is not needed.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn get(&self, key: Key) -> Result<Record> {
        codec::load_required(&self.conn, key)
    }

    fn for_each(&self, kind: Kind, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        queries::for_each(&self.conn, kind, f)
    }

    fn count(&self, kind: Kind) -> Result<u64> {
        queries::count(&self.conn, kind)
    }

    fn profiles(&self) -> Result<Vec<Profile>> {
        queries::profiles(&self.conn)
    }

    fn sync_counts(&self, profile: &Profile) -> Result<SyncCounts> {
        queries::sync_counts(&self.conn, profile)
    }

    fn clock(&self) -> Result<i64> {
        queries::clock(&self.conn)
    }

    fn max_change(&self) -> Result<i64> {
        queries::max_change(&self.conn)
    }

    fn changes(
        &self,
        kind: Kind,
        employee: Key,
        since: Option<i64>,
        upto: i64,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<Changed>> {
        queries::changes(&self.conn, kind, employee, since, upto, after, limit, true)
    }

    fn changes_unheld(
        &self,
        kind: Kind,
        employee: Key,
        since: Option<i64>,
        upto: i64,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<Changed>> {
        queries::changes(&self.conn, kind, employee, since, upto, after, limit, false)
    }

    fn for_each_synced(&self, kind: Kind, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        queries::for_each_synced(&self.conn, kind, f)
    }

    fn exported_count(&self, employee: Key, kinds: &[Kind], limit: u64) -> Result<u64> {
        queries::exported_count(&self.conn, employee, kinds, limit)
    }

    fn in_synced_set(&self, key: Key) -> Result<bool> {
        queries::in_synced_set(&self.conn, key)
    }

    fn dirty_changes(
        &self,
        employee: Key,
        kind: Kind,
        outputs: u32,
    ) -> Result<Vec<(Key, Option<Changed>)>> {
        queries::dirty_changes(&self.conn, employee, kind, outputs)
    }

    fn output_stamps(&self, employee: Key) -> Result<Vec<OutputStamps>> {
        queries::output_stamps(&self.conn, employee)
    }

    fn journal_entries(
        &self,
        profile: Option<&str>,
        limit: usize,
        f: &mut dyn FnMut(JournalEntry) -> Result<()>,
    ) -> Result<()> {
        queries::journal_entries(&self.conn, profile, limit, f)
    }

    fn pending_removals(
        &self,
        employee: Key,
        kind: Kind,
        since: Option<i64>,
        upto: i64,
        outputs: u32,
    ) -> Result<Vec<super::RemovalFacts>> {
        queries::pending_removals(&self.conn, employee, kind, since, upto, outputs)
    }

    fn journal_of_run(&self, run: &str) -> Result<Vec<JournalEntry>> {
        queries::journal_of_run(&self.conn, run)
    }

    fn later_change(&self, item: &str, field: &str, after: i64) -> Result<Option<JournalEntry>> {
        queries::later_change(&self.conn, item, field, after)
    }
}

/// Implements [`Lookup`] by handing every call to the connection.
macro_rules! lookup_via_connection {
    ($t:ty) => {
        impl Lookup for $t {
            fn client_by_name(&self, name: &str) -> Result<Option<Key>> {
                Lookup::client_by_name(self.conn(), name)
            }
            fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>> {
                Lookup::clients_named(self.conn(), name)
            }
            fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>> {
                Lookup::location_named(self.conn(), client, name)
            }
            fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>> {
                Lookup::people_named(self.conn(), client, name)
            }
            fn si_by_uid(&self, uid: &str) -> Result<Option<Key>> {
                Lookup::si_by_uid(self.conn(), uid)
            }
            fn find(&self, key: Key) -> Result<Option<Record>> {
                Lookup::find(self.conn(), key)
            }
            fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
                Lookup::exported(self.conn(), employee, item)
            }
            fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
                Lookup::ingested(self.conn(), profile, hash)
            }
        }
    };
}

lookup_via_connection!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_copies_another_connections_commits_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (mut first, _, _) = SqliteStore::create(&path).unwrap();
        let second = SqliteStore::open(&path).unwrap();
        // Commits the automatic checkpoint leaves in the log.
        for s in [&first, &second] {
            s.conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        }
        // The schema in the file first.
        first.checkpoint().unwrap();
        for i in 0..50 {
            second
                .conn
                .execute(
                    "INSERT INTO meta (key, value) VALUES (?1, 1)",
                    [format!("k{i}")],
                )
                .unwrap();
        }
        // The database file alone (a copy without its log) holds what was checkpointed.
        let in_file = || -> i64 {
            let copy = dir.path().join("copy");
            std::fs::copy(&path, &copy).unwrap();
            let c = Connection::open(&copy).unwrap();
            let n = c
                .query_row("SELECT count(*) FROM meta WHERE key LIKE 'k%'", [], |r| {
                    r.get(0)
                })
                .unwrap();
            drop(c);
            std::fs::remove_file(&copy).unwrap();
            n
        };
        assert_eq!(in_file(), 0, "the commits are in the log only");
        first.checkpoint().unwrap();
        assert_eq!(in_file(), 50);
    }

    #[test]
    fn sqlite_errors_read_as_database_errors_and_exit_1() {
        let conn = Connection::open_in_memory().unwrap();
        let e: Error = conn.execute("DELETE FROM nowhere", []).unwrap_err().into();
        assert!(matches!(e, Error::Db(_)), "{e:?}");
        assert_eq!(e.to_string(), "database: no such table: nowhere");
        assert_eq!(e.exit_code(), crate::error::exit::FAILURE);
    }
}
