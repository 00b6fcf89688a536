//! The write transaction of the PostgreSQL engine: `BEGIN`, then the clock row's lock and
//! one change time, [`TxWriter`] (inserts, updates, savepoints, export state, sync stamps,
//! the journal), the answers to the rules' questions ([`RuleReads`]) and the row I/O of
//! the decisions [`domain`] makes (Main demotion, cascades).
//!
//! Every write transaction locks the clock row before anything else and holds the lock to
//! its commit, so write transactions run one at a time in the order they took the clock,
//! and change times rise in commit order (ARCHITECTURE.md says why no commit is skipped).
//!
//! Round trips, not the server's work, are what a write costs here (about 40 µs each on an
//! idle machine, several times that on a busy one, against a few µs for a SQLite
//! statement), so a transaction saves them where that changes no answer:
//! - the rows `add` inserts wait in a queue ([`Memo`]) and become multi-row `INSERT`s, in
//!   their order, before any other statement;
//! - writes whose answer nobody needs (updates, journal rows, export state, `SAVEPOINT`,
//!   `RELEASE`) are deferred ([`Conn::defer`]) and go out with the next statement, in the
//!   same round trip; a savepoint sends what was deferred inside it and waits for the
//!   answers before it ends, so an error still undoes that savepoint and no other, and a
//!   savepoint in which nothing was sent is never made;
//! - since the clock's lock makes this transaction the only writer, what it learned about
//!   records (which exist, a client's locations, a user's kind, the next id) stays true
//!   until it changes them itself, which `add` keeps up and `set` forgets; a look-up that
//!   misses reads a block of neighbouring ids at once.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use super::codec::{load_required, param, row_id, table};
use super::conn::{Conn, Param, get};
use super::queries::{find_many_with_state, find_with_state, ingested_many};
use crate::error::{Error, Result};
use crate::fields::{self, Access, FieldDef};
use crate::model::{Key, Kind, Record, Value};
use crate::store::domain::{self, Cascade, Draft, Related, RuleReads};
use crate::store::{Assignment, Exported, JournalEntry, Lookup, Outcome, Source, Writer};

/// Takes the clock: locks its row (the `UPDATE` holds the row lock until the transaction
/// ends; a second writer waits here, then reads the first one's committed value) and moves
/// it strictly past every earlier commit's time.
pub(super) const TAKE_CLOCK: &str =
    "UPDATE meta SET value = greatest(value + 1, $1) WHERE key = 'clock' RETURNING value";

/// Runs `f` in one transaction: all of it commits, or none of it. `durable: false` lets
/// the commit return before the server flushed it (still in commit order, see
/// [`crate::store::Store::write_unsynced`]).
pub(super) fn write(
    conn: &Conn,
    durable: bool,
    f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>,
) -> Result<()> {
    // BEGIN goes out with the clock's statement, the writes with COMMIT (see `Conn::defer`).
    conn.defer_batch(if durable {
        "BEGIN"
    } else {
        "BEGIN; SET LOCAL synchronous_commit = off"
    });
    let result = (|| {
        let now: i64 = get(
            &conn.query_one(TAKE_CLOCK, &[&crate::clock::now_micros()])?,
            0,
        )?;
        let mut w = TxWriter {
            conn,
            now,
            source: None,
            savepoints: 0,
            last_found: RefCell::new(None),
            memo: RefCell::new(Memo::default()),
            state_of: Cell::new(None),
            found_state: RefCell::new(None),
            ahead: RefCell::new(Ahead::default()),
        };
        f(&mut w)?;
        w.flush();
        // The deferred writes, then COMMIT, in one round trip. Should one of them fail,
        // the server has ended the transaction at COMMIT without keeping any of it.
        conn.batch("COMMIT")
    })();
    if result.is_err() {
        // What was not sent is not sent. Nothing to undo when the connection is gone: the
        // server dropped the transaction.
        conn.drop_deferred(0);
        let _ = conn.batch("ROLLBACK");
    }
    result
}

pub(super) struct TxWriter<'c> {
    conn: &'c Conn,
    now: i64,
    source: Option<Source>,
    /// How deep the open savepoints nest.
    savepoints: u32,
    /// The record `find` read last; `set` uses it when it changes that record next, and
    /// every other write forgets it.
    last_found: RefCell<Option<Record>>,
    /// Rows not yet sent and facts learned (see the module's doc).
    memo: RefCell<Memo>,
    /// The profile whose export state `exported` was asked for last: `find` reads that
    /// profile's export state of its record with it (an ingest asks for both, item after
    /// item), and keeps it in `found_state` for `exported` to answer once.
    state_of: Cell<Option<Key>>,
    found_state: RefCell<Option<(Key, Key, Option<Exported>)>>,
    /// What [`Writer::read_ahead`] read (see [`Ahead`]).
    ahead: RefCell<Ahead>,
}

/// Records read ahead, with one profile's export state of each: an ingest names the next
/// items' records before it asks for them one by one, and `find` answers each from here
/// once (one statement for a chunk of items instead of one per item). A write forgets what
/// it may have changed: a record's own change forgets that record, an export-state write
/// that item, and any other write (an add, a Main moved, a cascade, an SI's people, a
/// savepoint undone, a profile's stamps) everything. Files' content hashes are read
/// ahead the same way for `ingested`; recording one forgets it.
#[derive(Default)]
struct Ahead {
    employee: Option<Key>,
    /// `None`: no such record.
    items: HashMap<Key, Option<(Record, Option<Exported>)>>,
    /// The profile whose files' hashes `hashes` answers for.
    profile: Option<String>,
    /// When and as what each content hash was ingested (`None`: never), until it is
    /// asked for or recorded.
    hashes: HashMap<String, Option<(String, i64)>>,
}

/// Rows queued for one multi-row `INSERT` (`head VALUES (…), (…) tail`).
struct Queued {
    head: String,
    tail: &'static str,
    width: usize,
    params: Vec<Param>,
}

/// Rows queued at most before they go out.
const QUEUED_ROWS: usize = 1024;

/// Rows per `INSERT`: full statements of this many, then powers of two, so a connection
/// prepares a few shapes of each statement, not one per count.
const INSERT_ROWS: usize = 256;

/// Ids per block of [`Memo::read_blocks`].
const BLOCK: i64 = 64;

/// Blocks one read takes at most: a transaction's first miss in a table reads one block,
/// each later miss twice as many, up to this (1,024 ids). A seed or a batch that refers to
/// thousands of records reads each part of a table once; a single look-up reads 64 ids.
const MOST_BLOCKS: i64 = 16;

/// Client names looked up in vain in one transaction before every client's name is read
/// at once (a seed adds thousands of clients, each checked for a name already taken).
const NAME_MISSES: u32 = 256;

/// What one write transaction knows without asking the server. Every record `add`
/// queues is in `exists`, `next_id`, and (by kind) `client_names`, `location_client`,
/// `user_kind` and its client's `locations` when those were loaded, so a read that
/// consults these first may skip the queue; every other read sends the queue first.
///
/// A miss reads a block of neighbouring ids (or clients' locations) at once: seeds and
/// batches refer to many records of a table, and a round trip costs more than a
/// thousand rows of an index range.
#[derive(Default)]
struct Memo {
    queue: Vec<Queued>,
    queued_rows: usize,
    /// The next id of each table (one more than the largest, as SQLite gives them).
    next_id: HashMap<Kind, i64>,
    /// Records known to exist (records are never deleted; a rollback forgets).
    exists: HashSet<Key>,
    /// Blocks of [`BLOCK`] ids (an SI's by number) read whole: every record in them is in
    /// `exists`, and for users and locations in `user_kind` and `location_client`.
    read_blocks: HashSet<(Kind, i64)>,
    /// Blocks the next miss reads, by table (`None` for the locations by client).
    span: HashMap<Option<Kind>, i64>,
    /// Clients by exact name: those added by this transaction, those looked up, and
    /// when `all_client_names`, every client.
    client_names: HashMap<String, Key>,
    all_client_names: bool,
    name_misses: u32,
    /// Every location of a client, by exact name, and its Main, loaded once per client.
    locations: HashMap<i64, ClientLocations>,
    location_client: HashMap<i64, Key>,
    user_kind: HashMap<i64, (String, Option<Key>)>,
    next_si: Option<i64>,
}

#[derive(Default)]
struct ClientLocations {
    by_name: HashMap<String, Key>,
    main: Option<Key>,
}

impl Memo {
    /// Forgets what a change of existing records may have made untrue (records are never
    /// deleted, and ids only grow, so `exists` and `next_id` stay).
    fn forget_facts(&mut self) {
        self.client_names.clear();
        self.all_client_names = false;
        self.locations.clear();
        self.location_client.clear();
        self.user_kind.clear();
        self.read_blocks
            .retain(|(kind, _)| !matches!(kind, Kind::User | Kind::Location));
        self.next_si = None;
    }

    /// Forgets everything, queued rows included: a rollback undid what this transaction
    /// did since its savepoint (the queue then holds only rows added since).
    fn forget_all(&mut self) {
        *self = Memo::default();
    }

    /// The ids `[lo, hi)` of the next read around `id`, for `table` (`None`: the
    /// locations by client id): whole blocks, more of them with each miss.
    fn next_range(&mut self, table: Option<Kind>, id: i64) -> (i64, i64) {
        let span = self.span.entry(table).or_insert(1);
        let blocks = *span;
        *span = (blocks * 2).min(MOST_BLOCKS);
        let lo = id.div_euclid(BLOCK) * BLOCK;
        (lo, lo.saturating_add(blocks * BLOCK))
    }
}

impl TxWriter<'_> {
    /// The connection, for a statement that must see every earlier one: the queued rows
    /// are deferred first, and go out with it.
    fn db(&self) -> Result<&Conn> {
        self.flush();
        Ok(self.conn)
    }

    /// Defers the queued rows on the connection, as multi-row `INSERT`s: they go out with
    /// the next statement sent.
    fn flush(&self) {
        let mut queue = {
            let mut m = self.memo.borrow_mut();
            m.queued_rows = 0;
            std::mem::take(&mut m.queue)
        };
        // Rows of one table go together (an SI and its people alternate in the queue),
        // tables in the order of their references, each table's rows in their order.
        queue.sort_by_key(|q| insert_rank(&q.head));
        let mut merged: Vec<Queued> = Vec::with_capacity(queue.len());
        for q in queue {
            match merged.last_mut() {
                Some(m) if m.head == q.head && m.tail == q.tail && m.width == q.width => {
                    m.params.extend(q.params)
                }
                _ => merged.push(q),
            }
        }
        for q in merged {
            defer_rows(self.conn, q);
        }
    }

    /// Forgets what was read ahead of one item (its record or its export state changed).
    fn forget_ahead_of(&self, key: Key) {
        self.ahead.borrow_mut().items.remove(&key);
    }

    /// Forgets everything read ahead (a write that may change other records).
    fn forget_ahead(&self) {
        self.ahead.borrow_mut().items.clear();
    }

    /// Forgets the record `find` read last and the export state read with it: a write may
    /// have changed them.
    fn forget_found(&self) {
        self.last_found.borrow_mut().take();
        self.found_state.borrow_mut().take();
    }

    /// Defers a write whose answer nobody needs (see [`Conn::defer`]), after the rows queued
    /// before it.
    fn defer(&self, sql: &str, params: Vec<Param>) {
        self.flush();
        self.conn.defer(sql, params);
    }

    /// Queues one row of `head (columns) VALUES (…) tail`.
    fn queue(&self, head: String, tail: &'static str, row: Vec<Param>) -> Result<()> {
        let full = {
            let mut m = self.memo.borrow_mut();
            match m.queue.last_mut() {
                Some(q) if q.head == head && q.tail == tail && q.width == row.len() => {
                    q.params.extend(row)
                }
                _ => m.queue.push(Queued {
                    head,
                    tail,
                    width: row.len(),
                    params: row,
                }),
            }
            m.queued_rows += 1;
            m.queued_rows >= QUEUED_ROWS
        };
        if full {
            // A long transaction (a seed) sends its rows as it goes.
            self.flush();
            self.conn.send()?;
        }
        Ok(())
    }

    /// The id the next row of `kind` takes: one more than the largest (ids as SQLite
    /// gives them; the clock's lock makes this transaction the only writer).
    fn next_id(&self, kind: Kind) -> Result<i64> {
        let known = self.memo.borrow().next_id.get(&kind).copied();
        let id = match known {
            Some(id) => id,
            // No row of this table is queued before the first id of it is known.
            None => self
                .conn
                .int(
                    &format!("SELECT coalesce(max(id), 0) + 1 FROM {}", table(kind)),
                    &[],
                )?
                .unwrap_or(1),
        };
        self.memo.borrow_mut().next_id.insert(kind, id + 1);
        Ok(id)
    }

    /// A client's locations, loaded once, with those of the clients of neighbouring ids.
    /// The load need not send the queue first: `add` of a location loads its client's
    /// locations before it queues the row, and they stay loaded until the memo forgets
    /// them, which happens only with an empty queue (`set` sends it first, a rollback drops
    /// it). So no queued location belongs to a client whose locations are not loaded, and
    /// a load keeps the clients already loaded as they are.
    fn with_locations<T>(&self, client: Key, f: impl FnOnce(&ClientLocations) -> T) -> Result<T> {
        if !self.memo.borrow().locations.contains_key(&client.id) {
            let (lo, hi) = self.memo.borrow_mut().next_range(None, client.id);
            let rows = self.conn.query(
                "SELECT id, client_id, name, is_main FROM locations \
                 WHERE client_id >= $1 AND client_id < $2",
                &[&lo, &hi],
            )?;
            let mut read: HashMap<i64, ClientLocations> = HashMap::new();
            let mut m = self.memo.borrow_mut();
            for r in &rows {
                let key = Key::new(Kind::Location, get(r, 0)?);
                let owner: i64 = get(r, 1)?;
                m.location_client
                    .insert(key.id, Key::new(Kind::Client, owner));
                let locs = read.entry(owner).or_default();
                locs.by_name.insert(get(r, 2)?, key);
                if get::<i64>(r, 3)? == 1 {
                    locs.main = Some(key);
                }
            }
            for id in lo..hi {
                // A client loaded before keeps its entry: it may hold queued locations.
                m.locations
                    .entry(id)
                    .or_insert_with(|| read.remove(&id).unwrap_or_default());
            }
        }
        Ok(f(&self.memo.borrow().locations[&client.id]))
    }

    /// Reads the block of ids around `id` in `kind`'s table into the memo: which records
    /// exist, and a user's kind and client, a location's client. Need not send the queue:
    /// its records are in the memo already.
    fn read_block(&self, kind: Kind, id: i64) -> Result<()> {
        let (lo, hi) = self.memo.borrow_mut().next_range(Some(kind), id);
        let sql = match kind {
            Kind::User => "SELECT id, kind, client_id FROM users WHERE id >= $1 AND id < $2",
            Kind::Location => "SELECT id, client_id FROM locations WHERE id >= $1 AND id < $2",
            Kind::Si => "SELECT number FROM sis WHERE number >= $1 AND number < $2",
            Kind::Client => "SELECT id FROM clients WHERE id >= $1 AND id < $2",
            Kind::Tech => "SELECT id FROM tech WHERE id >= $1 AND id < $2",
            Kind::Employee => "SELECT id FROM employees WHERE id >= $1 AND id < $2",
        };
        let rows = self.conn.query(sql, &[&lo, &hi])?;
        let mut m = self.memo.borrow_mut();
        for r in &rows {
            let key = Key::new(kind, get(r, 0)?);
            m.exists.insert(key);
            match kind {
                Kind::User => {
                    let client = get::<Option<i64>>(r, 2)?.map(|c| Key::new(Kind::Client, c));
                    m.user_kind.insert(key.id, (get(r, 1)?, client));
                }
                Kind::Location => {
                    m.location_client
                        .insert(key.id, Key::new(Kind::Client, get(r, 1)?));
                }
                _ => {}
            }
        }
        let mut block = lo.div_euclid(BLOCK);
        while block.checked_mul(BLOCK).is_some_and(|start| start < hi) {
            m.read_blocks.insert((kind, block));
            block += 1;
        }
        Ok(())
    }

    /// Whether the block of `key` was read whole (see [`Memo::read_blocks`]).
    fn block_read(&self, key: Key) -> bool {
        self.memo
            .borrow()
            .read_blocks
            .contains(&(key.kind, key.id.div_euclid(BLOCK)))
    }

    /// Keeps the memo true after `add` queued a record.
    fn remember_added(&self, key: Key, d: &Draft) {
        let mut m = self.memo.borrow_mut();
        m.exists.insert(key);
        match key.kind {
            Kind::Client => {
                m.client_names.insert(d.get("name").to_string(), key);
            }
            Kind::Location => {
                let client = d.get("client").as_ref_key().expect("client");
                m.location_client.insert(key.id, client);
                if let Some(locs) = m.locations.get_mut(&client.id) {
                    locs.by_name.insert(d.get("name").to_string(), key);
                    if d.flag("main") {
                        locs.main = Some(key);
                    }
                }
            }
            Kind::User => {
                let client = d.get("client").as_ref_key();
                m.user_kind
                    .insert(key.id, (d.get("kind").to_string(), client));
            }
            Kind::Si => {
                if let Some(next) = m.next_si.as_mut() {
                    *next = (*next).max(key.id + 1);
                }
            }
            Kind::Tech | Kind::Employee => {}
        }
    }

    /// Queues a journal row (ids follow the queue's order, which is the calls' order).
    fn queue_journal(&self, src: &Source, e: &JournalEntry) -> Result<()> {
        self.queue(
            "INSERT INTO journal (at, source, profile, file, item, field, old_value, \
             new_value, outcome, reason, run)"
                .into(),
            "",
            vec![
                Param::Int(self.now),
                Param::Text(src.kind.to_string()),
                text(e.profile.as_ref().or(src.profile.as_ref())),
                text(e.file.as_ref().or(src.file.as_ref())),
                text(e.item.as_ref()),
                text(e.field.as_ref()),
                text(e.old_value.as_ref()),
                text(e.new_value.as_ref()),
                Param::Text(e.outcome.clone()),
                text(e.reason.as_ref()),
                text(e.run.as_ref().or(src.run.as_ref())),
            ],
        )
    }

    /// Journals one change of one field when changes are journaled.
    fn journal_change(
        &self,
        item: Key,
        field: &str,
        old: &Value,
        new: &Value,
        reason: Option<&str>,
    ) -> Result<()> {
        let Some(src) = &self.source else {
            return Ok(());
        };
        let text = |v: &Value| {
            if v.is_null() {
                None
            } else {
                Some(v.to_string())
            }
        };
        self.queue_journal(
            src,
            &JournalEntry {
                item: Some(item.to_string()),
                field: Some(field.to_string()),
                old_value: text(old),
                new_value: text(new),
                outcome: "changed".into(),
                reason: reason.map(str::to_string),
                ..Default::default()
            },
        )
    }

    /// Applies one cascade that [`domain::cascades`] decided.
    fn apply(&self, c: &Cascade) -> Result<()> {
        match c {
            Cascade::DeactivateClientUsers { client, reason } => {
                if let Some(src) = &self.source {
                    self.defer(
                        "INSERT INTO journal (at, source, profile, file, item, field, \
                         old_value, new_value, outcome, reason, run) \
                         SELECT $1, $2, $3, $4, 'SM-U' || id, 'active', 'true', 'false', \
                         'changed', $5, $7 FROM users WHERE client_id = $6 AND active = 1 \
                         ORDER BY id",
                        vec![
                            Param::Int(self.now),
                            Param::Text(src.kind.to_string()),
                            text(src.profile.as_ref()),
                            text(src.file.as_ref()),
                            Param::Text(reason.clone()),
                            Param::Int(client.id),
                            text(src.run.as_ref()),
                        ],
                    );
                }
                self.touch(
                    "UPDATE users SET updated_at = $1, active = 0 WHERE client_id = $2",
                    client.id,
                )
            }
            Cascade::Touch(related) => {
                let (sql, key) = match related {
                    Related::UsersOfClient(k) => {
                        ("UPDATE users SET updated_at = $1 WHERE client_id = $2", k)
                    }
                    Related::LocationsOfClient(k) => (
                        "UPDATE locations SET updated_at = $1 WHERE client_id = $2",
                        k,
                    ),
                    Related::SisOfClient(k) => {
                        ("UPDATE sis SET updated_at = $1 WHERE client_id = $2", k)
                    }
                    Related::SisAtLocation(k) => {
                        ("UPDATE sis SET updated_at = $1 WHERE location_id = $2", k)
                    }
                    Related::SisWithPerson(k) => (
                        "UPDATE sis SET updated_at = $1 WHERE id IN \
                         (SELECT si_id FROM si_people WHERE user_id = $2)",
                        k,
                    ),
                    Related::EmployeeOfUser(k) => {
                        ("UPDATE employees SET updated_at = $1 WHERE user_id = $2", k)
                    }
                };
                self.touch(sql, key.id)
            }
        }
    }

    fn clear_other_main(&self, client: i64, except: i64) -> Result<()> {
        self.defer(
            "UPDATE locations SET is_main = 0, updated_at = $1 \
             WHERE client_id = $2 AND is_main = 1 AND id <> $3",
            vec![Param::Int(self.now), Param::Int(client), Param::Int(except)],
        );
        Ok(())
    }

    fn write_people(&self, si_id: i64, d: &Draft) -> Result<()> {
        self.defer(
            "DELETE FROM si_people WHERE si_id = $1",
            vec![Param::Int(si_id)],
        );
        if let Value::Refs(people) = d.get("people") {
            for p in people {
                self.defer(
                    "INSERT INTO si_people (si_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    vec![Param::Int(si_id), Param::Int(p.id)],
                );
            }
        }
        Ok(())
    }

    fn touch(&self, sql: &str, id: i64) -> Result<()> {
        self.defer(sql, vec![Param::Int(self.now), Param::Int(id)]);
        Ok(())
    }

    /// `Writer::set`'s work, between the memo's flush and its forgetting.
    fn change(&mut self, key: Key, values: &[Assignment]) -> Result<Outcome> {
        self.forget_ahead_of(key);
        let cached = self.last_found.borrow_mut().take().filter(|r| r.key == key);
        let old = match cached {
            Some(r) => r,
            None => load_required(self.db()?, key)?,
        };
        let id = if key.kind == Kind::Si {
            row_id(self.db()?, key)?.expect("loaded")
        } else {
            key.id
        };
        let mut d = Draft::of(&old);
        d.apply(values, false)?;
        domain::validate(&*self, &mut d, Some(&old))?;
        let changed: Vec<(usize, &str)> = Self::stored_columns(key.kind)
            .filter(|(i, f, _)| f.access != Access::Auto && d.values[*i] != old.values[*i])
            .map(|(i, _, c)| (i, c))
            .collect();
        let people_changed = key.kind == Kind::Si && d.get("people") != old.get("people");
        if changed.is_empty() && !people_changed {
            return Ok(Outcome::Unchanged);
        }
        let cascades = domain::cascades(&old, &d);
        let main = domain::takes_main(&d, Some(&old));
        // Other records change too, or show this one's values (a client's or location's
        // name or address on its people and tasks).
        if main.is_some()
            || people_changed
            || !cascades.is_empty()
            || matches!(key.kind, Kind::Client | Kind::Location)
        {
            self.forget_ahead();
        }
        if let Some(client) = main {
            self.clear_other_main(client.id, id)?;
        }
        let mut sets: Vec<String> = changed
            .iter()
            .enumerate()
            .map(|(n, (_, c))| format!("{c} = ${}", n + 1))
            .collect();
        sets.push(format!("updated_at = ${}", changed.len() + 1));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ${}",
            table(key.kind),
            sets.join(", "),
            changed.len() + 2
        );
        let mut args: Vec<Param> = changed.iter().map(|(i, _)| param(&d.values[*i])).collect();
        args.push(Param::Int(self.now));
        args.push(Param::Int(id));
        // The record exists (it was just read, and records are never deleted): nobody
        // needs the count, and the update goes out with the next statement.
        self.defer(&sql, args);
        if people_changed {
            self.write_people(id, &d)?;
            self.journal_change(key, "people", old.get("people"), d.get("people"), None)?;
        }
        for (i, _) in &changed {
            let f = &fields::of(key.kind)[*i];
            self.journal_change(key, f.name, &old.values[*i], &d.values[*i], None)?;
        }
        for c in cascades {
            self.apply(&c)?;
        }
        Ok(Outcome::Changed)
    }

    fn stored_columns(
        kind: Kind,
    ) -> impl Iterator<Item = (usize, &'static FieldDef, &'static str)> {
        fields::of(kind)
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name != "updated_at")
            .filter_map(|(i, f)| f.column.map(|c| (i, f, c)))
    }
}

/// The rules' questions, answered on the transaction's connection.
impl RuleReads for Conn {
    fn exists(&self, key: Key) -> Result<bool> {
        Ok(row_id(self, key)?.is_some())
    }

    fn client_named_exactly(&self, name: &str) -> Result<Option<Key>> {
        Lookup::client_by_name(self, name)
    }

    fn location_named_exactly(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Ok(self
            .int(
                "SELECT id FROM locations WHERE client_id = $1 AND name = $2",
                &[&client.id, &name],
            )?
            .map(|id| Key::new(Kind::Location, id)))
    }

    fn main_location(&self, client: Key) -> Result<Option<Key>> {
        Ok(self
            .int(
                "SELECT id FROM locations WHERE client_id = $1 AND is_main = 1",
                &[&client.id],
            )?
            .map(|id| Key::new(Kind::Location, id)))
    }

    fn location_client(&self, location: Key) -> Result<Option<Key>> {
        Ok(self
            .int(
                "SELECT client_id FROM locations WHERE id = $1",
                &[&location.id],
            )?
            .map(|id| Key::new(Kind::Client, id)))
    }

    fn user_kind(&self, user: Key) -> Result<Option<(String, Option<Key>)>> {
        match self.query_opt(
            "SELECT kind, client_id FROM users WHERE id = $1",
            &[&user.id],
        )? {
            Some(r) => Ok(Some((
                get(&r, 0)?,
                get::<Option<i64>>(&r, 1)?.map(|id| Key::new(Kind::Client, id)),
            ))),
            None => Ok(None),
        }
    }

    fn employee_of(&self, user: Key) -> Result<Option<Key>> {
        Ok(self
            .int("SELECT id FROM employees WHERE user_id = $1", &[&user.id])?
            .map(|id| Key::new(Kind::Employee, id)))
    }

    fn next_si_number(&self) -> Result<i64> {
        Ok(self
            .int("SELECT coalesce(max(number), 0) + 1 FROM sis", &[])?
            .unwrap_or(1))
    }

    fn user_name(&self, user: Key) -> Result<Option<String>> {
        match self.query_opt(
            "SELECT first_name || ' ' || last_name FROM users WHERE id = $1",
            &[&user.id],
        )? {
            Some(r) => Ok(Some(get(&r, 0)?)),
            None => Ok(None),
        }
    }

    fn profile_names(&self) -> Result<Vec<(Key, Key, String)>> {
        let rows = self.query(
            "SELECT e.id, e.user_id, (SELECT u.first_name || ' ' || u.last_name \
             FROM users u WHERE u.id = e.user_id) FROM employees e ORDER BY e.id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok((
                    Key::new(Kind::Employee, get(r, 0)?),
                    Key::new(Kind::User, get(r, 1)?),
                    get(r, 2)?,
                ))
            })
            .collect()
    }
}

/// The rules' questions inside a write transaction: answered from the memo when it
/// knows, else from the server. The queued rows are all in the memo's `exists`,
/// `client_names`, `location_client` and `user_kind`, so those look-ups may skip the
/// queue; a client's locations are loaded after it.
impl RuleReads for TxWriter<'_> {
    fn exists(&self, key: Key) -> Result<bool> {
        {
            let m = self.memo.borrow();
            if m.exists.contains(&key) {
                return Ok(true);
            }
            // No SI has a number from the next one on.
            if key.kind == Kind::Si && m.next_si.is_some_and(|next| key.id >= next) {
                return Ok(false);
            }
        }
        if !self.block_read(key) {
            self.read_block(key.kind, key.id)?;
        }
        Ok(self.memo.borrow().exists.contains(&key))
    }

    fn client_named_exactly(&self, name: &str) -> Result<Option<Key>> {
        let misses = {
            let mut m = self.memo.borrow_mut();
            if let Some(k) = m.client_names.get(name) {
                return Ok(Some(*k));
            }
            if m.all_client_names {
                return Ok(None);
            }
            m.name_misses += 1;
            m.name_misses
        };
        if misses <= NAME_MISSES {
            return self.conn.client_named_exactly(name);
        }
        // Names are unique; the queued clients are in the memo already.
        let rows = self.conn.query("SELECT id, name FROM clients", &[])?;
        let mut m = self.memo.borrow_mut();
        for r in &rows {
            m.client_names
                .insert(get(r, 1)?, Key::new(Kind::Client, get(r, 0)?));
        }
        m.all_client_names = true;
        Ok(m.client_names.get(name).copied())
    }

    fn location_named_exactly(&self, client: Key, name: &str) -> Result<Option<Key>> {
        self.with_locations(client, |l| l.by_name.get(name).copied())
    }

    fn main_location(&self, client: Key) -> Result<Option<Key>> {
        self.with_locations(client, |l| l.main)
    }

    fn location_client(&self, location: Key) -> Result<Option<Key>> {
        if let Some(c) = self.memo.borrow().location_client.get(&location.id) {
            return Ok(Some(*c));
        }
        if !self.block_read(location) {
            self.read_block(Kind::Location, location.id)?;
        }
        Ok(self
            .memo
            .borrow()
            .location_client
            .get(&location.id)
            .copied())
    }

    fn user_kind(&self, user: Key) -> Result<Option<(String, Option<Key>)>> {
        if let Some(k) = self.memo.borrow().user_kind.get(&user.id) {
            return Ok(Some(k.clone()));
        }
        if !self.block_read(user) {
            self.read_block(Kind::User, user.id)?;
        }
        Ok(self.memo.borrow().user_kind.get(&user.id).cloned())
    }

    fn employee_of(&self, user: Key) -> Result<Option<Key>> {
        self.db()?.employee_of(user)
    }

    fn next_si_number(&self) -> Result<i64> {
        let known = self.memo.borrow().next_si;
        let next = match known {
            Some(n) => n,
            None => self.db()?.next_si_number()?,
        };
        self.memo.borrow_mut().next_si = Some(next);
        Ok(next)
    }

    fn user_name(&self, user: Key) -> Result<Option<String>> {
        self.db()?.user_name(user)
    }

    fn profile_names(&self) -> Result<Vec<(Key, Key, String)>> {
        self.db()?.profile_names()
    }
}

impl Writer for TxWriter<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn set_source(&mut self, source: Option<Source>) {
        self.source = source;
    }

    fn journal(&mut self, entry: &JournalEntry) -> Result<()> {
        let src = self.source.clone().unwrap_or(Source {
            kind: "unknown",
            ..Default::default()
        });
        self.queue_journal(&src, entry)
    }

    fn savepoint(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        self.savepoints += 1;
        let depth = self.savepoints;
        // The rows queued before belong outside the savepoint: deferred before it. The
        // SAVEPOINT itself goes out with the next statement sent, if any is.
        self.flush();
        let mark = self.conn.deferred();
        let sends = self.conn.sends();
        self.conn.defer_batch(&format!("SAVEPOINT sp{depth}"));
        // What was deferred inside goes out inside, and is answered before this returns,
        // so that its errors undo this savepoint and no other.
        let result = f(self).and_then(|()| {
            self.flush();
            if !self.conn.sent_since(sends) && self.conn.deferred() == mark + 1 {
                // Nothing was read or written inside: the savepoint need never be made.
                self.conn.drop_deferred(mark);
                return Ok(false);
            }
            self.conn.send()?;
            Ok(true)
        });
        self.savepoints -= 1;
        self.forget_found();
        match result {
            Ok(made) => {
                if made {
                    self.conn.defer_batch(&format!("RELEASE sp{depth}"));
                }
                Ok(())
            }
            Err(e) => {
                self.memo.borrow_mut().forget_all();
                self.forget_ahead();
                self.ahead.borrow_mut().hashes.clear();
                if self.conn.sent_since(sends) {
                    // The savepoint went out: what is still deferred came after it.
                    self.conn.drop_deferred(0);
                    self.conn
                        .defer_batch(&format!("ROLLBACK TO sp{depth}; RELEASE sp{depth}"));
                } else {
                    // Nothing since the savepoint reached the server: it is forgotten.
                    self.conn.drop_deferred(mark);
                }
                Err(e)
            }
        }
    }

    fn prefers_chunks(&self) -> bool {
        true
    }

    fn mark_dirty(&mut self, employee: Key, item: Key) -> Result<()> {
        self.forget_found();
        self.forget_ahead_of(item);
        self.defer(
            "UPDATE export_state SET current = 0 \
             WHERE employee_id = $1 AND item_kind = $2 AND item_id = $3",
            vec![
                Param::Int(employee.id),
                Param::Text(item.kind.name().to_string()),
                Param::Int(item.id),
            ],
        );
        Ok(())
    }

    fn record_ingested(
        &mut self,
        profile: &str,
        hash: &str,
        file: &str,
        outcome: &str,
    ) -> Result<()> {
        self.ahead.borrow_mut().hashes.remove(hash);
        self.defer(
            "INSERT INTO ingested (profile, hash, file, at, outcome) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (profile, hash) DO UPDATE SET file = excluded.file, at = excluded.at, \
             outcome = excluded.outcome",
            vec![
                Param::Text(profile.to_string()),
                Param::Text(hash.to_string()),
                Param::Text(file.to_string()),
                Param::Int(self.now),
                Param::Text(outcome.to_string()),
            ],
        );
        Ok(())
    }

    fn add(&mut self, kind: Kind, values: &[Assignment]) -> Result<Key> {
        self.forget_found();
        self.forget_ahead();
        let mut d = Draft::defaults(kind);
        d.apply(values, true)?;
        domain::validate(&*self, &mut d, None)?;
        let cols: Vec<(usize, &str)> = Self::stored_columns(kind)
            .filter(|(_, f, _)| f.access != Access::Auto || f.name == "uid")
            .map(|(i, _, c)| (i, c))
            .collect();
        let names: Vec<&str> = cols.iter().map(|(_, c)| *c).collect();
        if let Some(client) = domain::takes_main(&d, None) {
            // A client whose locations this transaction knows, none of them Main, has
            // nothing to demote.
            let main = self.with_locations(client, |l| l.main)?;
            if main.is_some() {
                self.clear_other_main(client.id, 0)?;
            }
        }
        let id = self.next_id(kind)?;
        let mut row = vec![Param::Int(id)];
        row.extend(cols.iter().map(|(i, _)| param(&d.values[*i])));
        row.push(Param::Int(self.now));
        self.queue(
            format!(
                "INSERT INTO {} (id, {}, updated_at)",
                table(kind),
                names.join(", ")
            ),
            "",
            row,
        )?;
        let key = if kind == Kind::Si {
            // A new SI has no people yet: no rows to delete first.
            if let Value::Refs(people) = d.get("people") {
                for p in people {
                    self.queue(
                        "INSERT INTO si_people (si_id, user_id)".into(),
                        " ON CONFLICT DO NOTHING",
                        vec![Param::Int(id), Param::Int(p.id)],
                    )?;
                }
            }
            Key::new(kind, d.get("number").as_int().expect("number"))
        } else {
            Key::new(kind, id)
        };
        self.remember_added(key, &d);
        if let Some(src) = &self.source {
            self.queue_journal(
                src,
                &JournalEntry {
                    item: Some(key.to_string()),
                    new_value: Some(d.summary()),
                    outcome: "added".into(),
                    ..Default::default()
                },
            )?;
        }
        Ok(key)
    }

    fn set(&mut self, key: Key, values: &[Assignment]) -> Result<Outcome> {
        self.flush();
        self.memo.borrow_mut().forget_facts();
        let out = self.change(key, values);
        // What validation learned may be untrue after the change.
        self.memo.borrow_mut().forget_facts();
        out
    }

    fn get(&self, key: Key) -> Result<Record> {
        load_required(self.db()?, key)
    }

    fn put_exported(&mut self, employee: Key, item: Key, e: &Exported) -> Result<()> {
        self.put_exported_many(employee, &[(item, e)])
    }

    fn put_exported_many(&mut self, employee: Key, items: &[(Key, &Exported)]) -> Result<()> {
        // Rows per statement: one round trip per page of an export, not per item.
        const ROWS: usize = 256;
        self.forget_found();
        for (item, _) in items {
            self.forget_ahead_of(*item);
        }
        for chunk in items.chunks(ROWS) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let b = r * 9;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO export_state \
                 (employee_id, item_kind, item_id, hash, status, vals, updated_at, held, \
                 current) VALUES {} \
                 ON CONFLICT (employee_id, item_kind, item_id) DO UPDATE SET \
                 hash = excluded.hash, status = excluded.status, vals = excluded.vals, \
                 updated_at = excluded.updated_at, held = excluded.held, \
                 current = excluded.current",
                values.join(", ")
            );
            let mut params: Vec<Param> = Vec::with_capacity(chunk.len() * 9);
            for (k, e) in chunk {
                params.extend([
                    Param::Int(employee.id),
                    Param::Text(k.kind.name().to_string()),
                    Param::Int(k.id),
                    Param::Int(e.hash as i64),
                    text(e.status.as_ref()),
                    Param::Text(e.values.clone()),
                    Param::Int(e.updated_at),
                    Param::Int(e.held as i64),
                    Param::Int(e.current as i64),
                ]);
            }
            self.defer(&sql, params);
        }
        Ok(())
    }

    fn delete_exported(&mut self, employee: Key, item: Key) -> Result<()> {
        self.forget_found();
        self.forget_ahead_of(item);
        self.defer(
            "DELETE FROM export_state WHERE employee_id = $1 AND item_kind = $2 AND item_id = $3",
            vec![
                Param::Int(employee.id),
                Param::Text(item.kind.name().to_string()),
                Param::Int(item.id),
            ],
        );
        Ok(())
    }

    fn set_stamps(
        &mut self,
        employee: Key,
        contacts: Option<i64>,
        tasks: Option<i64>,
    ) -> Result<()> {
        self.forget_found();
        self.forget_ahead();
        let n = self.db()?.execute(
            "UPDATE employees SET contacts_stamp = $1, tasks_stamp = $2, updated_at = $3 \
             WHERE id = $4",
            &[&contacts, &tasks, &self.now, &employee.id],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        let stamp = |s: Option<i64>| s.map_or(Param::Null, Param::Int);
        self.defer(
            "UPDATE output_stamps SET contacts_stamp = $1, tasks_stamp = $2 \
             WHERE employee_id = $3",
            vec![stamp(contacts), stamp(tasks), Param::Int(employee.id)],
        );
        Ok(())
    }

    fn set_profile_folder(
        &mut self,
        employee: Key,
        folder: &str,
        previous: Option<&str>,
    ) -> Result<()> {
        self.forget_found();
        self.forget_ahead();
        let n = self.db()?.execute(
            "UPDATE employees SET folder = $1 WHERE id = $2",
            &[&folder, &employee.id],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        if let Some(old) = previous.filter(|old| *old != folder) {
            // What was ingested under the old name is known under the new one (the old
            // name's row wins over one the new name already had, as in SQLite).
            let names = || {
                vec![
                    Param::Text(folder.to_string()),
                    Param::Text(old.to_string()),
                ]
            };
            self.defer(
                "DELETE FROM ingested WHERE profile = $1 AND hash IN \
                 (SELECT hash FROM ingested WHERE profile = $2)",
                names(),
            );
            self.defer(
                "UPDATE ingested SET profile = $1 WHERE profile = $2",
                names(),
            );
        }
        Ok(())
    }

    fn set_output_stamps(
        &mut self,
        employee: Key,
        output: u32,
        contacts: Option<i64>,
        tasks: Option<i64>,
    ) -> Result<()> {
        self.forget_found();
        self.forget_ahead();
        let stamp = |s: Option<i64>| s.map_or(Param::Null, Param::Int);
        self.defer(
            "INSERT INTO output_stamps (employee_id, output, contacts_stamp, tasks_stamp) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (employee_id, output) DO UPDATE SET \
             contacts_stamp = excluded.contacts_stamp, tasks_stamp = excluded.tasks_stamp",
            vec![
                Param::Int(employee.id),
                Param::Int(output as i64),
                stamp(contacts),
                stamp(tasks),
            ],
        );
        let n = self.db()?.execute(
            "UPDATE employees SET \
             contacts_stamp = (SELECT CASE WHEN count(*) = count(contacts_stamp) \
               THEN min(contacts_stamp) END FROM output_stamps WHERE employee_id = $1), \
             tasks_stamp = (SELECT CASE WHEN count(*) = count(tasks_stamp) \
               THEN min(tasks_stamp) END FROM output_stamps WHERE employee_id = $1) \
             WHERE id = $1",
            &[&employee.id],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        Ok(())
    }
}

impl Lookup for TxWriter<'_> {
    fn client_by_name(&self, name: &str) -> Result<Option<Key>> {
        Lookup::client_by_name(self.db()?, name)
    }
    fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>> {
        Lookup::clients_named(self.db()?, name)
    }
    fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Lookup::location_named(self.db()?, client, name)
    }
    fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>> {
        Lookup::people_named(self.db()?, client, name)
    }
    fn si_by_uid(&self, uid: &str) -> Result<Option<Key>> {
        Lookup::si_by_uid(self.db()?, uid)
    }
    /// Also keeps the record for a `set` that follows at once, and reads the export state
    /// `exported` is likely to be asked for next.
    fn find(&self, key: Key) -> Result<Option<Record>> {
        let ahead = {
            let mut a = self.ahead.borrow_mut();
            let employee = a.employee;
            a.items.remove(&key).map(|hit| (employee, hit))
        };
        if let Some((employee, hit)) = ahead {
            let r = hit.map(|(record, state)| {
                if let Some(employee) = employee {
                    *self.found_state.borrow_mut() = Some((employee, key, state));
                }
                record
            });
            *self.last_found.borrow_mut() = r.clone();
            return Ok(r);
        }
        let r = match self.state_of.get() {
            Some(employee) => {
                let found = find_with_state(self.db()?, key, employee)?;
                found.map(|(record, state)| {
                    *self.found_state.borrow_mut() = Some((employee, key, state));
                    record
                })
            }
            None => Lookup::find(self.db()?, key)?,
        };
        *self.last_found.borrow_mut() = r.clone();
        Ok(r)
    }
    fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
        let found = self.found_state.borrow_mut().take();
        if let Some((e, k, state)) = found
            && (e, k) == (employee, item)
        {
            return Ok(state);
        }
        self.state_of.set(Some(employee));
        Lookup::exported(self.db()?, employee, item)
    }
    fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
        let ahead = {
            let mut a = self.ahead.borrow_mut();
            if a.profile.as_deref() == Some(profile) {
                a.hashes.remove(hash)
            } else {
                None
            }
        };
        match ahead {
            Some(answer) => Ok(answer),
            None => Lookup::ingested(self.db()?, profile, hash),
        }
    }
    fn ingested_ahead(&self, profile: &str, hashes: &[&str]) -> Result<()> {
        let found = ingested_many(self.db()?, profile, hashes)?;
        let mut a = self.ahead.borrow_mut();
        if a.profile.as_deref() != Some(profile) {
            a.profile = Some(profile.to_string());
            a.hashes.clear();
        }
        for h in hashes {
            a.hashes.insert(h.to_string(), None);
        }
        for (hash, file, at) in found {
            a.hashes.insert(hash, Some((file, at)));
        }
        Ok(())
    }
    /// One statement per kind for the records and `employee`'s export state of them, kept
    /// in [`Ahead`] for `find` and `exported`.
    fn read_ahead(&self, employee: Key, keys: &[Key]) -> Result<()> {
        let mut a = self.ahead.borrow_mut();
        if a.employee != Some(employee) {
            a.employee = Some(employee);
            a.items.clear();
        }
        // What is held is still true (a write forgets what it changes).
        let keys: Vec<Key> = keys
            .iter()
            .filter(|k| !a.items.contains_key(k))
            .copied()
            .collect();
        drop(a);
        let mut by_kind: Vec<(Kind, Vec<i64>)> = Vec::new();
        for k in &keys {
            match by_kind.iter_mut().find(|(kind, _)| *kind == k.kind) {
                Some((_, ids)) => ids.push(k.id),
                None => by_kind.push((k.kind, vec![k.id])),
            }
        }
        let mut items: HashMap<Key, Option<(Record, Option<Exported>)>> =
            keys.iter().map(|k| (*k, None)).collect();
        for (kind, ids) in by_kind {
            for (record, state) in find_many_with_state(self.db()?, kind, &ids, employee)? {
                items.insert(record.key, Some((record, state)));
            }
        }
        self.state_of.set(Some(employee));
        self.ahead.borrow_mut().items.extend(items);
        Ok(())
    }
}

/// A text parameter, NULL when absent.
fn text(v: Option<&String>) -> Param {
    v.map_or(Param::Null, |s| Param::Text(s.clone()))
}

/// The tables rows are queued for, each after the tables its rows refer to (the journal
/// refers to none; its ids follow its own rows' order).
const INSERT_ORDER: &[&str] = &[
    "clients",
    "locations",
    "users",
    "tech",
    "sis",
    "si_people",
    "employees",
    "journal",
];

/// Where rows of `head`'s table go in [`INSERT_ORDER`].
fn insert_rank(head: &str) -> usize {
    let table = head
        .strip_prefix("INSERT INTO ")
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or("");
    INSERT_ORDER
        .iter()
        .position(|t| *t == table)
        .unwrap_or(INSERT_ORDER.len())
}

/// Defers queued rows as multi-row `INSERT`s: [`INSERT_ROWS`] at a time, then the rest
/// in powers of two (and never more parameters than a statement takes).
fn defer_rows(conn: &Conn, q: Queued) {
    let rows = q.params.len() / q.width;
    let most = INSERT_ROWS.min(u16::MAX as usize / q.width).max(1);
    let mut params = q.params.into_iter();
    let mut done = 0;
    while done < rows {
        let left = rows - done;
        let n = if left >= most {
            most
        } else {
            1 << left.ilog2()
        };
        let values: Vec<String> = (0..n)
            .map(|r| {
                let marks: Vec<String> = (1..=q.width)
                    .map(|c| format!("${}", r * q.width + c))
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!("{} VALUES {}{}", q.head, values.join(", "), q.tail);
        conn.defer(&sql, params.by_ref().take(n * q.width).collect());
        done += n;
    }
}
