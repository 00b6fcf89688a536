//! The PostgreSQL engine of the storage layer, for a Service Master database on a server
//! shared by watchers on several machines: the [`PgStore`] type, its [`Store`] and
//! [`Lookup`] implementations, which hand the work to `conn` (connecting, statements,
//! errors), `codec` (rows ⇄ records), `queries` (reads), `writer` (the write transaction
//! and its change clock), [`schema`] (migrations), `lock` (a profile's advisory lock) and
//! `copy` (`db copy` from SQLite). The Service Master rules it enforces are
//! [`crate::store::domain`]'s, as for SQLite.

mod codec;
mod conn;
mod copy;
mod lock;
mod queries;
pub mod schema;
mod writer;

use tokio_postgres::Config;

pub use conn::Place;
pub use copy::{CopyReport, copy_from_sqlite};
pub use lock::key as profile_lock_key;

use super::{
    Changed, Cursor, Exported, JournalEntry, Lookup, OutputStamps, Profile, ProfileLock,
    RemovalFacts, RunRecord, Store, SyncCounts, Writer,
};
use crate::error::Result;
use crate::model::{Key, Kind, Record};
use conn::Conn;

/// The Service Master database in a PostgreSQL database.
pub struct PgStore {
    conn: Conn,
    config: Config,
    place: Place,
}

impl PgStore {
    /// Opens a database whose schema is current.
    pub fn open(url: &str) -> Result<Self> {
        let store = PgStore::connect(url)?;
        schema::check(&store.conn, &store.place)?;
        Ok(store)
    }

    /// Creates the schema in an existing (empty) database, or migrates it. Returns the
    /// schema versions before and after.
    pub fn create(url: &str) -> Result<(Self, i64, i64)> {
        let store = PgStore::connect(url)?;
        let (before, after) = schema::migrate(&store.conn, &store.place)?;
        Ok((store, before, after))
    }

    fn connect(url: &str) -> Result<Self> {
        let (config, place) = conn::config(url)?;
        Ok(PgStore {
            conn: Conn::connect(&config, &place)?,
            config,
            place,
        })
    }

    /// The host, database and user this store is connected to (no password).
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// The number of rows of each table smsync keeps, by table name, in copy order.
    pub fn table_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        copy::counts(&self.conn)
    }
}

impl Store for PgStore {
    fn record_run(&mut self, run: &RunRecord) -> Result<()> {
        queries::record_run(&self.conn, run)
    }

    fn runs(&self, profile: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        queries::runs(&self.conn, profile, limit)
    }

    fn write(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        writer::write(&self.conn, true, f)
    }

    fn write_unsynced(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        writer::write(&self.conn, false, f)
    }

    fn second_connection(&self) -> Result<Option<Box<dyn Store + Send>>> {
        Ok(Some(Box::new(PgStore {
            conn: Conn::connect(&self.config, &self.place)?,
            config: self.config.clone(),
            place: self.place.clone(),
        })))
    }

    fn lock_profile(&self, name: &str) -> Result<Option<ProfileLock>> {
        lock::lock_profile(&self.config, &self.place, name).map(Some)
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
        queries::changes(&self.conn, kind, employee, since, upto, after, limit)
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

    fn pending_removals(
        &self,
        employee: Key,
        kind: Kind,
        since: Option<i64>,
        upto: i64,
        outputs: u32,
    ) -> Result<Vec<RemovalFacts>> {
        queries::pending_removals(&self.conn, employee, kind, since, upto, outputs)
    }

    fn journal_of_run(&self, run: &str) -> Result<Vec<JournalEntry>> {
        queries::journal_of_run(&self.conn, run)
    }

    fn later_change(&self, item: &str, field: &str, after: i64) -> Result<Option<JournalEntry>> {
        queries::later_change(&self.conn, item, field, after)
    }

    fn journal_entries(
        &self,
        profile: Option<&str>,
        limit: usize,
        f: &mut dyn FnMut(JournalEntry) -> Result<()>,
    ) -> Result<()> {
        queries::journal_entries(&self.conn, profile, limit, f)
    }
}

impl Lookup for PgStore {
    fn client_by_name(&self, name: &str) -> Result<Option<Key>> {
        Lookup::client_by_name(&self.conn, name)
    }
    fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>> {
        Lookup::clients_named(&self.conn, name)
    }
    fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Lookup::location_named(&self.conn, client, name)
    }
    fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>> {
        Lookup::people_named(&self.conn, client, name)
    }
    fn si_by_uid(&self, uid: &str) -> Result<Option<Key>> {
        Lookup::si_by_uid(&self.conn, uid)
    }
    fn find(&self, key: Key) -> Result<Option<Record>> {
        Lookup::find(&self.conn, key)
    }
    fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
        Lookup::exported(&self.conn, employee, item)
    }
    fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
        Lookup::ingested(&self.conn, profile, hash)
    }
}
