//! The storage layer: the only way the rest of smsync reads or changes Service Master data.
//! [`Store`], [`Writer`] and [`Lookup`] are engine-neutral, and so are the Service Master
//! rules ([`domain`]); [`sqlite::SqliteStore`] is the embedded engine and
//! [`postgres::PgStore`] the server engine: it implements the same traits and
//! [`domain::RuleReads`], reuses the rules, and touches no sync code. [`open`] picks the
//! engine from a database path or URL.
//!
//! Writes happen in [`Store::write`], one transaction with one change time for every record
//! it touches, cascades included; change times are strictly increasing across commits.

pub mod domain;
pub mod postgres;
pub mod sqlite;
mod url;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fields::FieldDef;
use crate::model::{Key, Kind, Record, Value};

pub use postgres::PgStore;
pub use sqlite::{SqliteStore, WRITE_MANY_CACHE};
pub use url::{Target, shown};

/// One assignment of a value to a field, as `admin add` and `admin set` pass them.
pub type Assignment = (&'static FieldDef, Value);

/// What one profile was last given of one item (the export state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Hash of the item's synced values as exported.
    pub hash: u64,
    /// The SI status it went out with (tasks only), so a closed SI goes out once more.
    pub status: Option<String>,
    /// The synced values as exported, a JSON object of field name to text.
    pub values: String,
    /// The record's change time when it went out.
    pub updated_at: i64,
    /// The outputs (bits, see `export::OutputKind::bit`) that hold a copy of the item, of
    /// any version.
    pub held: u32,
    /// The outputs whose copy is the version this state describes; an ingest that saw the
    /// item clears it, so that every output rewrites its copy.
    pub current: u32,
}

/// One output's sync stamps for a profile (see `export::OutputKind::bit`). An output with
/// no stamps has not been written for the profile yet: its first run writes everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutputStamps {
    pub output: u32,
    pub contacts: Option<i64>,
    pub tasks: Option<i64>,
}

/// A record that changed, and whether it is in the synced set now.
#[derive(Debug, Clone)]
pub struct Changed {
    pub record: Record,
    pub in_set: bool,
    /// What the profile was last given of it.
    pub exported: Option<Exported>,
    /// Where the next page starts: (change time, row id).
    pub cursor: Cursor,
}

/// A position in change order: records sort by (change time, row id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub updated_at: i64,
    pub row: i64,
}

/// What a write did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Added,
    Changed,
    Unchanged,
}

/// Look-ups that parsing and ingest need, both outside and inside a write transaction
/// (inside, they see the transaction's own changes).
pub trait Lookup {
    /// The client whose name is exactly `name`.
    fn client_by_name(&self, name: &str) -> Result<Option<Key>>;
    /// Clients whose name equals `name` ignoring case, with their active flag.
    fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>>;
    /// The location of `client` named `name`, ignoring case.
    fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>>;
    /// Service agents and client users of `client` whose "First Last" is `name`,
    /// ignoring case.
    fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>>;
    /// The SI that keeps `uid` (a task created in Outlook or another client).
    fn si_by_uid(&self, uid: &str) -> Result<Option<Key>>;
    /// A record, if it exists.
    fn find(&self, key: Key) -> Result<Option<Record>>;
    /// What a profile was last given of an item.
    fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>>;
    /// When a file with this content hash was ingested for the profile, and its name.
    fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>>;
    /// A hint: `find`, then `exported` for `employee`, are about to be asked of these
    /// records one after the other (an ingest's next items). An engine whose every read is
    /// a round trip reads them together; the answers are the same either way. The default
    /// does nothing.
    fn read_ahead(&self, employee: Key, keys: &[Key]) -> Result<()> {
        let _ = (employee, keys);
        Ok(())
    }
    /// A hint like [`Lookup::read_ahead`]: `ingested` is about to be asked of these
    /// content hashes for `profile`, one after the other (an ingest's next files).
    fn ingested_ahead(&self, profile: &str, hashes: &[&str]) -> Result<()> {
        let _ = (profile, hashes);
        Ok(())
    }
}

/// Where the changes of a write come from, for the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// `admin`, `ingest`, `export`, …
    pub kind: &'static str,
    pub profile: Option<String>,
    pub file: Option<String>,
    /// The run the changes belong to (an ingest's `ingest-<time>`, an undo's
    /// `undo-<time>`), so that `undo` finds them.
    pub run: Option<String>,
}

impl Source {
    pub fn admin() -> Self {
        Source {
            kind: "admin",
            ..Default::default()
        }
    }
}

/// One journal row: a change, or a decision not to change, with the old and new values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    pub id: i64,
    pub at: i64,
    pub source: String,
    pub profile: Option<String>,
    pub file: Option<String>,
    pub item: Option<String>,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    /// The run of the row (see [`Source::run`]); `None` for rows of other writers and rows
    /// written before runs were recorded.
    pub run: Option<String>,
}

/// What the store knows of one item an export would remove: it changed since the stamps,
/// left the synced set, and a selected output holds it (`export::plan::removal_guard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalFacts {
    pub key: Key,
    /// The record's own active flag (locations, users).
    pub active: Option<bool>,
    /// Its client and whether that client is active (locations, client users, SIs).
    pub client: Option<(Key, bool)>,
    /// An SI's status.
    pub status: Option<crate::model::SiStatus>,
}

/// Records, with one profile's export state of each, read by a
/// [`Writer::snapshot_reader`] on another thread for the items an ingest applies next.
/// `None`: no such record, or no export state.
#[derive(Debug, Clone)]
pub struct ReadAhead {
    pub employee: Key,
    pub items: Vec<(Key, Option<Record>, Option<Exported>)>,
}

impl ReadAhead {
    /// Reads `keys` through `reader` (`find`, then `exported` for `employee`).
    pub fn read(reader: &dyn Lookup, employee: Key, keys: &[Key]) -> Result<ReadAhead> {
        let mut items = Vec::with_capacity(keys.len());
        for &k in keys {
            let record = reader.find(k)?;
            let state = match record {
                Some(_) => reader.exported(employee, k)?,
                None => None,
            };
            items.push((k, record, state));
        }
        Ok(ReadAhead { employee, items })
    }
}

/// Reads records and export states ahead, on a thread of its own
/// ([`Writer::snapshot_reader`]).
pub trait AheadReader: Send {
    /// The records of `keys`, with `employee`'s export state of each.
    fn read(&mut self, employee: Key, keys: &[Key]) -> Result<ReadAhead>;
}

/// The write half of the storage layer, valid inside one transaction.
pub trait Writer: Lookup {
    /// The change time this transaction stamps on every record it touches.
    fn now(&self) -> i64;
    /// Adds a record; enforces the Service Master rules (one Main location per client, …).
    fn add(&mut self, kind: Kind, values: &[Assignment]) -> Result<Key>;
    /// Changes fields of a record and runs the cascades; unchanged values touch nothing.
    fn set(&mut self, key: Key, values: &[Assignment]) -> Result<Outcome>;
    /// Reads a record as this transaction sees it.
    fn get(&self, key: Key) -> Result<Record>;
    /// Sets where the following changes come from; `None` stops journaling them (seeding).
    fn set_source(&mut self, source: Option<Source>);
    /// Adds a journal row with the current source.
    fn journal(&mut self, entry: &JournalEntry) -> Result<()>;
    /// Runs `f` in a savepoint: its changes stay only if it returns `Ok`.
    fn savepoint(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()>;
    /// Whether this engine waits a round trip for each savepoint's answer: then an ingest
    /// applies a chunk of items in one savepoint with plain `set`s, trusting them, and
    /// applies the chunk again item by item with [`Writer::try_set`] only when that fails
    /// (the same reports either way). The default: no.
    fn prefers_chunks(&self) -> bool {
        false
    }
    /// [`Writer::set`], all or nothing: when it fails, none of its changes stay and the
    /// transaction goes on (ingest refuses that one item). The default runs `set` in a
    /// savepoint; an engine may do without one when it can tell that nothing was written.
    fn try_set(&mut self, key: Key, values: &[Assignment]) -> Result<Outcome> {
        let mut out = Outcome::Unchanged;
        self.savepoint(&mut |w| {
            out = w.set(key, values)?;
            Ok(())
        })?;
        Ok(out)
    }
    /// A reader for another thread that sees the database as this transaction saw it when
    /// it began, without its writes: an ingest reads the next items' records and export
    /// states there while this thread applies the ones before, and hands them over with
    /// [`Writer::take_ahead`]. `None` (the default) where the engine has no such view.
    fn snapshot_reader(&self) -> Result<Option<Box<dyn AheadReader>>> {
        Ok(None)
    }
    /// Takes what a [`Writer::snapshot_reader`] read: `find` and `exported` answer each item
    /// from it once, except what this transaction has written since it began (and
    /// everything after a write that changed records it does not name), which they read
    /// themselves. The default drops it.
    fn take_ahead(&self, ahead: ReadAhead) {
        let _ = ahead;
    }
    /// Makes the next export rewrite a profile's copy of an item.
    fn mark_dirty(&mut self, employee: Key, item: Key) -> Result<()>;
    /// Remembers that a file was ingested for a profile.
    fn record_ingested(
        &mut self,
        profile: &str,
        hash: &str,
        file: &str,
        outcome: &str,
    ) -> Result<()>;
    /// Records what a profile was given of an item.
    fn put_exported(&mut self, employee: Key, item: Key, e: &Exported) -> Result<()>;
    /// [`Writer::put_exported`] for many items at once (a page of an export).
    fn put_exported_many(&mut self, employee: Key, items: &[(Key, &Exported)]) -> Result<()> {
        for (k, e) in items {
            self.put_exported(employee, *k, e)?;
        }
        Ok(())
    }
    /// [`Writer::put_exported_many`] of items the profile has no export state for (an
    /// export of a kind it held nothing of when the run began): an engine may insert them
    /// without looking for rows to replace. The default puts them.
    fn add_exported_many(&mut self, employee: Key, items: &[(Key, &Exported)]) -> Result<()> {
        self.put_exported_many(employee, items)
    }
    /// Forgets an item that left a profile's Outlook.
    fn delete_exported(&mut self, employee: Key, item: Key) -> Result<()>;
    /// Sets or clears a profile's sync stamps, and every output's with them.
    fn set_stamps(
        &mut self,
        employee: Key,
        contacts: Option<i64>,
        tasks: Option<i64>,
    ) -> Result<()>;
    /// Remembers that a profile's drop folder is now the one of profile name `folder`
    /// (after its first run, or after a rename moved it from the one of `previous`): the
    /// files the profile ingested under its previous name stay known under the new one.
    fn set_profile_folder(
        &mut self,
        employee: Key,
        folder: &str,
        previous: Option<&str>,
    ) -> Result<()>;
    /// Sets one output's stamps; the profile's own stamps become its outputs' oldest. The
    /// employee's change time stays (see `max_change`).
    fn set_output_stamps(
        &mut self,
        employee: Key,
        output: u32,
        contacts: Option<i64>,
        tasks: Option<i64>,
    ) -> Result<()>;
}

/// One employee who syncs, with the profile name their Outlook must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub employee: Key,
    pub user: Key,
    pub name: String,
    pub contacts_stamp: Option<i64>,
    pub tasks_stamp: Option<i64>,
    /// An inactive employee is passed over by `--all` runs and the watcher.
    pub active: bool,
    /// The profile name its drop folder was last written under (`None` before the
    /// first run): when it differs from `name`, the employee was renamed and the folder
    /// moves to the new name.
    pub folder: Option<String>,
    /// The profile's own settings, as stored (`None`: the default).
    pub settings: Settings,
}

/// A profile's own export settings as stored on its employee record (SPEC §8); `None`
/// is the default. `crate::profile` checks them and turns them into run options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub date_format: Option<String>,
    pub csv_language: Option<String>,
    pub csv_encoding: Option<String>,
    pub vcard_version: Option<String>,
    pub outputs: Option<String>,
    pub full_csv_limit: Option<i64>,
    pub csv_safe: Option<bool>,
    pub removal_guard_percent: Option<i64>,
    pub removal_guard_min: Option<i64>,
    pub change_guard_percent: Option<i64>,
    pub change_guard_min: Option<i64>,
    pub blank_guard_max: Option<i64>,
}

/// How many records a profile would sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncCounts {
    /// Contacts in the synced set.
    pub contacts: u64,
    /// Contact records changed since the profile's contacts stamp (all, after a reset).
    pub contacts_pending: u64,
    /// SIs in the synced set (In Progress or Completion Requested).
    pub tasks: u64,
    /// SI records changed since the profile's tasks stamp (all synced ones, after a reset).
    pub tasks_pending: u64,
}

/// What a recorded run did: an ingest or an export of one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Ingest,
    Export,
}

impl RunKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Ingest => "ingest",
            RunKind::Export => "export",
        }
    }

    pub fn parse(s: &str) -> Option<RunKind> {
        [RunKind::Ingest, RunKind::Export]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// How a recorded run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Everything done.
    Ok,
    /// Done, with items refused or files rejected or left to retry: an admin should look.
    Attention,
    /// The run failed as a whole; the summary holds the error.
    Failed,
}

impl RunOutcome {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Attention => "attention",
            RunOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RunOutcome> {
        [RunOutcome::Ok, RunOutcome::Attention, RunOutcome::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One recorded run of ingest or export (for `status` and `report`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// Assigned by the store; ignored by [`Store::record_run`].
    pub id: i64,
    pub profile: String,
    pub kind: RunKind,
    /// Microseconds since the epoch (UTC).
    pub started: i64,
    pub finished: i64,
    pub outcome: RunOutcome,
    /// One line: what it did, or the error.
    pub summary: String,
}

/// A profile held by this process while it exports or ingests it (see
/// [`Store::lock_profile`]): released when dropped.
pub struct ProfileLock {
    _held: Box<dyn std::any::Any + Send>,
}

impl ProfileLock {
    /// A lock that lasts as long as `held` (an engine's session, a file lock).
    pub fn new(held: impl std::any::Any + Send) -> ProfileLock {
        ProfileLock {
            _held: Box::new(held),
        }
    }
}

/// How many runs of each profile the store keeps: older ones are dropped as new ones are
/// recorded.
pub const RUNS_KEPT: usize = 500;

/// The read half of the storage layer, plus the entry to writes.
pub trait Store: Lookup {
    /// Records a run (outside the change clock: recording changes no record, so it never
    /// looks like a database change to the watcher); keeps the newest [`RUNS_KEPT`] of
    /// the profile.
    fn record_run(&mut self, run: &RunRecord) -> Result<()>;
    /// Recorded runs, newest first, optionally of one profile.
    fn runs(&self, profile: Option<&str>, limit: usize) -> Result<Vec<RunRecord>>;

    /// Runs `f` in one write transaction: all of it commits, or none of it.
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()>;

    /// Another connection to the same database, for work on a second thread.
    ///
    /// Optional: an engine need not implement it. The default returns `None`, and the
    /// caller then does that work on this connection.
    fn second_connection(&self) -> Result<Option<Box<dyn Store + Send>>> {
        Ok(None)
    }

    /// Copies what the write-ahead log holds into the database, as far as readers allow,
    /// waiting for neither readers nor writers: for a caller about to wait anyway, so that
    /// less is left for the end. The default (an engine without such a log) does nothing.
    fn checkpoint(&mut self) -> Result<()> {
        Ok(())
    }

    /// Like [`Store::write`], but the commit need not reach the disk before it returns: it
    /// survives a killed process, and a power loss can only lose it together with every
    /// later commit, never leave it half done. For bookkeeping that a later durable commit
    /// makes durable, and that a lost commit only makes redo (the export state, whose run
    /// keeps a marker until its stamps commit durably).
    ///
    /// Optional: an engine need not implement it. The default is [`Store::write`], a
    /// durable commit, which is always correct, only slower.
    fn write_unsynced(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        self.write(f)
    }

    /// [`Store::write`] for a transaction that changes many records (an ingest's run): an
    /// engine may keep more of the database in memory meanwhile, so that pages it changed
    /// are not written out and read back before the commit. The default is
    /// [`Store::write`].
    fn write_many(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        self.write(f)
    }

    /// Holds profile `name` for this process while it exports or ingests it, waiting a
    /// while for another holder, so that smsyncs on several machines sharing one database
    /// never work on one profile at once. The drivers take the drop folder's file lock as
    /// well, which is enough for an engine on one machine.
    ///
    /// Optional: the default holds nothing (the embedded engine: its database and drop
    /// folders are on one machine, where the file lock holds).
    fn lock_profile(&self, name: &str) -> Result<Option<ProfileLock>> {
        let _ = name;
        Ok(None)
    }
    fn get(&self, key: Key) -> Result<Record>;
    /// Calls `f` for every record of a kind, in key order, without loading them all.
    fn for_each(&self, kind: Kind, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()>;
    fn count(&self, kind: Kind) -> Result<u64>;
    /// Every employee with a sync record, by key (inactive ones included).
    fn profiles(&self) -> Result<Vec<Profile>>;
    fn sync_counts(&self, profile: &Profile) -> Result<SyncCounts>;
    /// The change time of the latest commit: every later commit has a larger one.
    fn clock(&self) -> Result<i64>;
    /// The latest change time of any record that goes to Outlook (clients, locations,
    /// users, tech entries, SIs) or of an employee (added, its settings changed, its stamps
    /// reset); export bookkeeping (export state, an export's stamps) does not move it, so a
    /// watcher never wakes for its own exports. Reads indexes and the small employees table.
    fn max_change(&self) -> Result<i64>;
    /// One page of the records of `kind` changed in `(since, upto]` (all up to `upto` when
    /// `since` is `None`), in change order after `after`, with their synced-set flag and
    /// what `employee`'s profile was last given of each.
    fn changes(
        &self,
        kind: Kind,
        employee: Key,
        since: Option<i64>,
        upto: i64,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<Changed>>;
    /// [`Store::changes`] of a kind that `employee`'s profile held nothing of when the
    /// export began (its first run): no record comes with an export state, so an engine
    /// may skip reading it (the run's own state commits are of records it already read).
    /// The default reads it anyway.
    fn changes_unheld(
        &self,
        kind: Kind,
        employee: Key,
        since: Option<i64>,
        upto: i64,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<Changed>> {
        self.changes(kind, employee, since, upto, after, limit)
    }
    /// Calls `f` for every record of a kind in the synced set, in key order.
    fn for_each_synced(&self, kind: Kind, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()>;
    /// How many items of `kinds` a profile holds, counting no further than `limit`.
    fn exported_count(&self, employee: Key, kinds: &[Kind], limit: u64) -> Result<u64>;
    /// Whether a record is in the synced set now.
    fn in_synced_set(&self, key: Key) -> Result<bool>;
    /// The items of a kind held by one of `outputs` (bits) in a copy that is not current,
    /// each as [`Store::changes`] gives it (its record, whether it is in the synced set, the
    /// profile's export state; `None` when the record is gone), in key order, read together.
    fn dirty_changes(
        &self,
        employee: Key,
        kind: Kind,
        outputs: u32,
    ) -> Result<Vec<(Key, Option<Changed>)>>;
    /// Each output's stamps for a profile (outputs never written have none).
    fn output_stamps(&self, employee: Key) -> Result<Vec<OutputStamps>>;
    /// The records of `kind` changed in `(since, upto]` (all up to `upto` when `since` is
    /// `None`) that left the synced set and that one of `outputs` (bits) holds for
    /// `employee`: what an export would remove (a closed SI goes out once more instead).
    /// Reads the database only; the export's removal guard decides on them.
    fn pending_removals(
        &self,
        employee: Key,
        kind: Kind,
        since: Option<i64>,
        upto: i64,
        outputs: u32,
    ) -> Result<Vec<RemovalFacts>>;
    /// The journal rows of one run (see [`Source::run`]), oldest first.
    fn journal_of_run(&self, run: &str) -> Result<Vec<JournalEntry>>;
    /// The first row after journal row `after` that changed `field` of `item` (by any
    /// writer), if any: a later change `undo` must not overwrite.
    fn later_change(&self, item: &str, field: &str, after: i64) -> Result<Option<JournalEntry>>;
    /// Journal rows, newest first, optionally of one profile.
    fn journal_entries(
        &self,
        profile: Option<&str>,
        limit: usize,
        f: &mut dyn FnMut(JournalEntry) -> Result<()>,
    ) -> Result<()>;

    /// Adds one record in its own transaction.
    fn add(&mut self, kind: Kind, values: &[Assignment]) -> Result<Key> {
        let mut key = None;
        self.write(&mut |w| {
            w.set_source(Some(Source::admin()));
            key = Some(w.add(kind, values)?);
            Ok(())
        })?;
        Ok(key.expect("add returned a key"))
    }

    /// Changes one record in its own transaction.
    fn set(&mut self, key: Key, values: &[Assignment]) -> Result<Outcome> {
        let mut out = Outcome::Unchanged;
        self.write(&mut |w| {
            w.set_source(Some(Source::admin()));
            out = w.set(key, values)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// The profile whose name is exactly `name` (SPEC §2).
    fn profile(&self, name: &str) -> Result<Profile> {
        let all = self.profiles()?;
        let matches: Vec<&Profile> = all.iter().filter(|p| p.name == name).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let mut msg = format!("no employee has the profile name '{name}'");
                if let Some(close) = all
                    .iter()
                    .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
                {
                    msg.push_str(&format!(
                        "; did you mean '{}'? Profile names must match exactly",
                        close.name
                    ));
                }
                if all.is_empty() {
                    msg.push_str(
                        "; no employees sync yet: add one with `smsync admin add employee user=SM-U<id>`",
                    );
                } else {
                    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                    msg.push_str(&format!("; profiles: {}", names.join(", ")));
                }
                Err(Error::NotFound(msg))
            }
            many => {
                let who: Vec<String> = many
                    .iter()
                    .map(|p| format!("{} (user {})", p.employee, p.user))
                    .collect();
                Err(Error::invalid(format!(
                    "{} employees have the profile name '{name}': {}; rename one of them \
                     (admin set SM-U<id> first_name=... last_name=...) so that each profile \
                     name is unique",
                    many.len(),
                    who.join(", ")
                )))
            }
        }
    }

    /// Reset Outlook Sync Dates: the next export of the profile rewrites everything.
    fn reset(&mut self, profile: &Profile) -> Result<()> {
        let employee = profile.employee;
        self.write(&mut |w| w.set_stamps(employee, None, None))
    }
}

/// Opens the database that `url_or_path` names, with the engine it names: a plain path or
/// `sqlite:PATH` is an SQLite file, a `postgres://` or `postgresql://` URL a PostgreSQL
/// database; either must exist with a current schema. Errors name the database, never a
/// password.
pub fn open(url_or_path: impl AsRef<std::ffi::OsStr>) -> Result<Box<dyn Store>> {
    let raw = url_or_path.as_ref();
    match Target::parse(raw)? {
        Target::Sqlite(path) => Ok(Box::new(SqliteStore::open(&path)?)),
        Target::Postgres { .. } => Ok(Box::new(PgStore::open(pg_url(raw)?)?)),
    }
}

/// Creates the database a path or URL names, or migrates it to this version's schema
/// (`db init`): an SQLite file is created; a PostgreSQL database must exist (empty or
/// smsync's). Returns the store and the schema versions before and after.
pub fn create(url_or_path: impl AsRef<std::ffi::OsStr>) -> Result<(Box<dyn Store>, i64, i64)> {
    let raw = url_or_path.as_ref();
    match Target::parse(raw)? {
        Target::Sqlite(path) => {
            let (s, a, b) = SqliteStore::create(&path)?;
            Ok((Box::new(s), a, b))
        }
        Target::Postgres { .. } => {
            let (s, a, b) = PgStore::create(pg_url(raw)?)?;
            Ok((Box::new(s), a, b))
        }
    }
}

/// The text of a PostgreSQL URL (which [`Target::parse`] only accepts as UTF-8).
fn pg_url(raw: &std::ffi::OsStr) -> Result<&str> {
    raw.to_str()
        .ok_or_else(|| Error::invalid("a PostgreSQL URL must be UTF-8 text"))
}

/// [`open`] for callers that need the SQLite engine itself (its path, its raw
/// connection): any other engine is an error that says which one was named.
pub fn open_sqlite(url_or_path: impl AsRef<std::ffi::OsStr>) -> Result<SqliteStore> {
    SqliteStore::open(&sqlite_path(url_or_path)?)
}

/// The SQLite file a database argument names (for `db init`, which creates it).
pub fn sqlite_path(url_or_path: impl AsRef<std::ffi::OsStr>) -> Result<std::path::PathBuf> {
    match Target::parse(url_or_path)? {
        Target::Sqlite(path) => Ok(path),
        Target::Postgres { redacted } => Err(Error::invalid(format!(
            "{redacted} is a PostgreSQL database; this needs an SQLite database \
             (a file path or sqlite:PATH)"
        ))),
    }
}
