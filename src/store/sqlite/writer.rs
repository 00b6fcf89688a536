//! The write transaction of the SQLite engine: `BEGIN IMMEDIATE` with one change time
//! from the clock row, [`TxWriter`] (inserts, updates, savepoints, export state, sync
//! stamps, the journal), the answers to the rules' questions ([`RuleReads`]) and the row
//! I/O of the decisions [`domain`] makes (Main demotion, cascades).

use std::cell::RefCell;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::codec::{load_required, row_id, sql_value, table};
use crate::error::{Error, Result};
use crate::fields::{self, Access, FieldDef};
use crate::model::{Key, KeyMap, KeySet, Kind, Record, Value};
use crate::store::domain::{self, Cascade, Draft, Related, RuleReads};
use crate::store::{
    AheadReader, Assignment, Exported, JournalEntry, Lookup, Outcome, ReadAhead, Source, Writer,
};

/// Runs `f` in one `BEGIN IMMEDIATE` transaction: all of it commits, or none of it.
pub(super) fn write(
    conn: &mut Connection,
    f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // One change time per transaction, strictly after every earlier commit's, so that
    // a sync stamp taken from committed data never hides a later commit.
    let now: i64 = tx.query_row(
        "UPDATE meta SET value = max(value + 1, ?1) WHERE key = 'clock' RETURNING value",
        [crate::clock::now_micros()],
        |r| r.get(0),
    )?;
    let mut w = TxWriter {
        conn: &tx,
        now,
        broken: None,
        source: None,
        savepoints: 0,
        last_found: RefCell::new(None),
        ahead: RefCell::new(Ahead::default()),
    };
    f(&mut w)?;
    if let Some(e) = w.broken {
        // Dropping the transaction undoes it.
        return Err(Error::Db(e));
    }
    tx.commit()?;
    Ok(())
}

/// [`write`] with a commit that need not reach the disk before it returns.
pub(super) fn write_unsynced(
    conn: &mut Connection,
    f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>,
) -> Result<()> {
    // In WAL mode, synchronous=NORMAL skips the WAL fsync at commit; the commit is in
    // the WAL file in order, so the next FULL commit (or checkpoint) syncs it too.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let result = write(conn, f);
    let restored = conn.pragma_update(None, "synchronous", "FULL");
    result?;
    restored?;
    Ok(())
}

/// What a `set` writes, decided before it writes anything.
struct SetPlan {
    key: Key,
    /// The row id.
    id: i64,
    old: Record,
    d: Draft,
    /// The stored columns that change (field index, column).
    changed: Vec<(usize, &'static str)>,
    people_changed: bool,
    /// The client whose other Main location is demoted.
    main_of: Option<Key>,
    cascades: Vec<Cascade>,
}

pub(super) struct TxWriter<'c> {
    conn: &'c Connection,
    now: i64,
    /// Set when a change could not be finished nor undone: the transaction cannot commit.
    broken: Option<String>,
    source: Option<Source>,
    /// How deep the open savepoints nest.
    savepoints: u32,
    /// The record `find` read last; `set` uses it when it changes that record next, and
    /// every other write forgets it.
    last_found: RefCell<Option<Record>>,
    /// What a snapshot reader read ahead, and what this transaction wrote since.
    ahead: RefCell<Ahead>,
}

/// A connection of its own that reads ahead for a [`TxWriter`] ([`Writer::snapshot_reader`]).
struct SnapshotReader(Connection);

impl AheadReader for SnapshotReader {
    /// One read transaction per call: one snapshot, and the locks taken once.
    fn read(&mut self, employee: Key, keys: &[Key]) -> Result<ReadAhead> {
        let tx = self
            .0
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let read = ReadAhead::read(&*tx, employee, keys)?;
        tx.commit()?;
        Ok(read)
    }
}

/// Records and export states read ahead on a connection of their own
/// ([`Writer::snapshot_reader`]), which sees the database as this transaction saw it when
/// it began: `BEGIN IMMEDIATE` holds the write lock until the commit, so no other
/// connection commits in between. What it cannot see is this transaction's own writes, so
/// an item this transaction wrote (its record or its export state) is read here again,
/// and after a write that changes records it does not name (a cascade, a Main moved, an
/// SI's people) nothing read ahead is used until the transaction ends.
#[derive(Default)]
struct Ahead {
    employee: Option<Key>,
    records: KeyMap<Option<Record>>,
    states: KeyMap<Option<Exported>>,
    written: KeySet,
    spoiled: bool,
}

impl Ahead {
    fn wrote(&mut self, key: Key) {
        self.written.insert(key);
        self.records.remove(&key);
        self.states.remove(&key);
    }

    fn spoil(&mut self) {
        self.spoiled = true;
        self.records.clear();
        self.states.clear();
    }
}

impl TxWriter<'_> {
    /// Export state rows, 64 per `INSERT` (one statement per row spent as much time
    /// opening and closing its cursors as inserting); `replace`: a row may exist and is
    /// replaced (else none does: no conflict is looked for).
    fn insert_exported(
        &mut self,
        employee: Key,
        items: &[(Key, &Exported)],
        replace: bool,
    ) -> Result<()> {
        const ROWS: usize = 64;
        self.last_found.borrow_mut().take();
        {
            let mut ahead = self.ahead.borrow_mut();
            for (k, _) in items {
                ahead.wrote(*k);
            }
        }
        for chunk in items.chunks(ROWS) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let upsert = if replace {
                " ON CONFLICT (employee_id, item_kind, item_id) DO UPDATE SET \
                 hash = excluded.hash, status = excluded.status, vals = excluded.vals, \
                 updated_at = excluded.updated_at, held = excluded.held, \
                 current = excluded.current"
            } else {
                ""
            };
            let sql = format!(
                "INSERT INTO export_state \
                 (employee_id, item_kind, item_id, hash, status, vals, updated_at, held, \
                 current) VALUES {values}{upsert}"
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 9);
            let cols: Vec<(i64, &'static str)> = chunk
                .iter()
                .map(|(k, e)| (e.hash as i64, k.kind.name()))
                .collect();
            for ((k, e), (h, kind)) in chunk.iter().zip(&cols) {
                params.extend_from_slice(&[
                    &employee.id as &dyn rusqlite::ToSql,
                    kind,
                    &k.id,
                    h,
                    &e.status,
                    &e.values,
                    &e.updated_at,
                    &e.held,
                    &e.current,
                ]);
            }
            stmt.execute(params.as_slice())?;
        }
        Ok(())
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
        insert_journal(
            self.conn,
            self.now,
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
                    self.conn
                        .prepare_cached(
                            "INSERT INTO journal (at, source, profile, file, item, field, \
                             old_value, new_value, outcome, reason, run) \
                             SELECT ?1, ?2, ?3, ?4, 'SM-U' || id, 'active', 'true', 'false', \
                             'changed', ?5, ?7 FROM users WHERE client_id = ?6 AND active = 1",
                        )?
                        .execute(params![
                            self.now,
                            src.kind,
                            src.profile,
                            src.file,
                            reason,
                            client.id,
                            src.run
                        ])?;
                }
                self.touch(
                    "UPDATE users SET updated_at = ?1, active = 0 WHERE client_id = ?2",
                    client.id,
                )
            }
            Cascade::Touch(related) => {
                let (sql, key) = match related {
                    Related::UsersOfClient(k) => {
                        ("UPDATE users SET updated_at = ?1 WHERE client_id = ?2", k)
                    }
                    Related::LocationsOfClient(k) => (
                        "UPDATE locations SET updated_at = ?1 WHERE client_id = ?2",
                        k,
                    ),
                    Related::SisOfClient(k) => {
                        ("UPDATE sis SET updated_at = ?1 WHERE client_id = ?2", k)
                    }
                    Related::SisAtLocation(k) => {
                        ("UPDATE sis SET updated_at = ?1 WHERE location_id = ?2", k)
                    }
                    Related::SisWithPerson(k) => (
                        "UPDATE sis SET updated_at = ?1 WHERE id IN \
                         (SELECT si_id FROM si_people WHERE user_id = ?2)",
                        k,
                    ),
                    Related::EmployeeOfUser(k) => {
                        ("UPDATE employees SET updated_at = ?1 WHERE user_id = ?2", k)
                    }
                };
                self.touch(sql, key.id)
            }
        }
    }

    fn clear_other_main(&self, client: i64, except: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE locations SET is_main = 0, updated_at = ?1 \
                 WHERE client_id = ?2 AND is_main = 1 AND id <> ?3",
            )?
            .execute(params![self.now, client, except])?;
        Ok(())
    }

    fn write_people(&self, si_id: i64, d: &Draft) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM si_people WHERE si_id = ?1")?
            .execute([si_id])?;
        if let Value::Refs(people) = d.get("people") {
            let mut ins = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO si_people (si_id, user_id) VALUES (?1, ?2)",
            )?;
            for p in people {
                ins.execute([si_id, p.id])?;
            }
        }
        Ok(())
    }

    fn touch(&self, sql: &str, id: i64) -> Result<()> {
        self.conn
            .prepare_cached(sql)?
            .execute(params![self.now, id])?;
        Ok(())
    }

    /// What `set` would write, checked against the rules; `None` when nothing changes.
    /// Writes nothing.
    fn plan_set(&self, key: Key, values: &[Assignment]) -> Result<Option<SetPlan>> {
        let cached = self.last_found.borrow_mut().take().filter(|r| r.key == key);
        let old = match cached {
            Some(r) => r,
            None => load_required(self.conn, key)?,
        };
        // Only SIs are keyed by something other than their row id.
        let id = if key.kind == Kind::Si {
            row_id(self.conn, key)?.expect("loaded")
        } else {
            key.id
        };
        let mut d = Draft::of(&old);
        d.apply(values, false)?;
        domain::validate(self.conn, &mut d, Some(&old))?;
        let changed: Vec<(usize, &'static str)> = Self::stored_columns(key.kind)
            .filter(|(i, f, _)| f.access != Access::Auto && d.values[*i] != old.values[*i])
            .map(|(i, _, c)| (i, c))
            .collect();
        let people_changed = key.kind == Kind::Si && d.get("people") != old.get("people");
        if changed.is_empty() && !people_changed {
            return Ok(None);
        }
        let main_of = domain::takes_main(&d, Some(&old));
        let cascades = domain::cascades(&old, &d);
        Ok(Some(SetPlan {
            key,
            id,
            old,
            d,
            changed,
            people_changed,
            main_of,
            cascades,
        }))
    }

    /// Carries out a planned `set`.
    fn write_set(&mut self, plan: &SetPlan) -> Result<Outcome> {
        if let Some(client) = plan.main_of {
            self.clear_other_main(client.id, plan.id)?;
        }
        self.update_row(plan)?;
        if plan.people_changed {
            self.write_people(plan.id, &plan.d)?;
            self.journal_change(
                plan.key,
                "people",
                plan.old.get("people"),
                plan.d.get("people"),
                None,
            )?;
        }
        self.journal_set(plan)?;
        for c in &plan.cascades {
            self.apply(c)?;
        }
        Ok(Outcome::Changed)
    }

    /// The UPDATE of a planned `set`'s row (its changed columns and its change time).
    fn update_row(&self, plan: &SetPlan) -> Result<()> {
        {
            let mut ahead = self.ahead.borrow_mut();
            ahead.wrote(plan.key);
            if plan.main_of.is_some() || plan.people_changed || !plan.cascades.is_empty() {
                ahead.spoil();
            }
        }
        let mut sets: Vec<String> = plan
            .changed
            .iter()
            .enumerate()
            .map(|(n, (_, c))| format!("{c} = ?{}", n + 1))
            .collect();
        sets.push(format!("updated_at = ?{}", plan.changed.len() + 1));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ?{}",
            table(plan.key.kind),
            sets.join(", "),
            plan.changed.len() + 2
        );
        let mut args: Vec<SqlValue> = plan
            .changed
            .iter()
            .map(|(i, _)| sql_value(&plan.d.values[*i]))
            .collect();
        args.push(SqlValue::Integer(self.now));
        args.push(SqlValue::Integer(plan.id));
        self.conn
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(args))?;
        Ok(())
    }

    /// The journal rows of a planned `set`'s changed columns.
    fn journal_set(&self, plan: &SetPlan) -> Result<()> {
        for (i, _) in &plan.changed {
            let f = &fields::of(plan.key.kind)[*i];
            self.journal_change(
                plan.key,
                f.name,
                &plan.old.values[*i],
                &plan.d.values[*i],
                None,
            )?;
        }
        Ok(())
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

/// The rules' questions, answered on the transaction's connection. Plain reads: unlike
/// [`Lookup::find`] on a `TxWriter`, they keep nothing for a later `set`.
impl RuleReads for Connection {
    fn exists(&self, key: Key) -> Result<bool> {
        Ok(row_id(self, key)?.is_some())
    }

    fn client_named_exactly(&self, name: &str) -> Result<Option<Key>> {
        Lookup::client_by_name(self, name)
    }

    fn location_named_exactly(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Ok(int(
            self,
            "SELECT id FROM locations WHERE client_id = ?1 AND name = ?2",
            params![client.id, name],
        )?
        .map(|id| Key::new(Kind::Location, id)))
    }

    fn main_location(&self, client: Key) -> Result<Option<Key>> {
        Ok(int(
            self,
            "SELECT id FROM locations WHERE client_id = ?1 AND is_main = 1",
            [client.id],
        )?
        .map(|id| Key::new(Kind::Location, id)))
    }

    fn location_client(&self, location: Key) -> Result<Option<Key>> {
        Ok(int(
            self,
            "SELECT client_id FROM locations WHERE id = ?1",
            [location.id],
        )?
        .map(|id| Key::new(Kind::Client, id)))
    }

    fn user_kind(&self, user: Key) -> Result<Option<(String, Option<Key>)>> {
        Ok(self
            .prepare_cached("SELECT kind, client_id FROM users WHERE id = ?1")?
            .query_row([user.id], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<i64>>(1)?
                        .map(|id| Key::new(Kind::Client, id)),
                ))
            })
            .optional()?)
    }

    fn employee_of(&self, user: Key) -> Result<Option<Key>> {
        Ok(int(
            self,
            "SELECT id FROM employees WHERE user_id = ?1",
            [user.id],
        )?
        .map(|id| Key::new(Kind::Employee, id)))
    }

    fn next_si_number(&self) -> Result<i64> {
        Ok(int(self, "SELECT coalesce(max(number), 0) + 1 FROM sis", [])?.unwrap_or(1))
    }

    fn user_name(&self, user: Key) -> Result<Option<String>> {
        Ok(self
            .prepare_cached("SELECT first_name || ' ' || last_name FROM users WHERE id = ?1")?
            .query_row([user.id], |r| r.get(0))
            .optional()?)
    }

    fn profile_names(&self) -> Result<Vec<(Key, Key, String)>> {
        let mut stmt = self.prepare_cached(
            "SELECT e.id, e.user_id, u.first_name || ' ' || u.last_name \
             FROM employees e JOIN users u ON u.id = e.user_id ORDER BY e.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                Key::new(Kind::Employee, r.get(0)?),
                Key::new(Kind::User, r.get(1)?),
                r.get(2)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// The one integer a query returns, if it returns a row and the value is not NULL.
fn int(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(p, |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
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
        insert_journal(self.conn, self.now, &src, entry)
    }

    fn savepoint(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        // Named by nesting depth, so the statements are prepared once and reused (ingest
        // opens one per new SI, `try_set` one per change of more than one row).
        self.savepoints += 1;
        let depth = self.savepoints;
        let run = |conn: &Connection, sql: String| -> Result<()> {
            conn.prepare_cached(&sql)?.execute([])?;
            Ok(())
        };
        run(self.conn, format!("SAVEPOINT sp{depth}"))?;
        let result = f(self);
        self.savepoints -= 1;
        match result {
            Ok(()) => {
                run(self.conn, format!("RELEASE sp{depth}"))?;
                Ok(())
            }
            Err(e) => {
                run(self.conn, format!("ROLLBACK TO sp{depth}"))?;
                run(self.conn, format!("RELEASE sp{depth}"))?;
                Err(e)
            }
        }
    }

    fn snapshot_reader(&self) -> Result<Option<Box<dyn AheadReader>>> {
        // An in-memory database has no file a second connection could open.
        let Some(path) = self.conn.path().filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Its reads jump from record to record across the file: pages are kept rather
        // than read again (SQLite's default keeps 2 MiB).
        conn.pragma_update(None, "cache_size", -32_768)?;
        Ok(Some(Box::new(SnapshotReader(conn))))
    }

    fn take_ahead(&self, read: ReadAhead) {
        let mut ahead = self.ahead.borrow_mut();
        if ahead.spoiled {
            return;
        }
        let ahead = &mut *ahead;
        ahead.records.clear();
        ahead.states.clear();
        ahead.employee = Some(read.employee);
        for (key, record, state) in read.items {
            if ahead.written.contains(&key) {
                continue;
            }
            if record.is_some() {
                ahead.states.insert(key, state);
            }
            ahead.records.insert(key, record);
        }
    }

    fn mark_dirty(&mut self, employee: Key, item: Key) -> Result<()> {
        self.ahead.borrow_mut().wrote(item);
        self.conn
            .prepare_cached(
                "UPDATE export_state SET current = 0 \
                 WHERE employee_id = ?1 AND item_kind = ?2 AND item_id = ?3",
            )?
            .execute(params![employee.id, item.kind.name(), item.id])?;
        Ok(())
    }

    fn record_ingested(
        &mut self,
        profile: &str,
        hash: &str,
        file: &str,
        outcome: &str,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO ingested (profile, hash, file, at, outcome) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![profile, hash, file, self.now, outcome])?;
        Ok(())
    }

    fn add(&mut self, kind: Kind, values: &[Assignment]) -> Result<Key> {
        self.last_found.borrow_mut().take();
        let mut d = Draft::defaults(kind);
        d.apply(values, true)?;
        domain::validate(self.conn, &mut d, None)?;
        let cols: Vec<(usize, &str)> = Self::stored_columns(kind)
            .filter(|(_, f, _)| f.access != Access::Auto || f.name == "uid")
            .map(|(i, _, c)| (i, c))
            .collect();
        let names: Vec<&str> = cols.iter().map(|(_, c)| *c).collect();
        let marks: Vec<String> = (1..=cols.len() + 1).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}, updated_at) VALUES ({})",
            table(kind),
            names.join(", "),
            marks.join(", ")
        );
        let mut args: Vec<SqlValue> = cols.iter().map(|(i, _)| sql_value(&d.values[*i])).collect();
        args.push(SqlValue::Integer(self.now));
        if let Some(client) = domain::takes_main(&d, None) {
            self.ahead.borrow_mut().spoil();
            self.clear_other_main(client.id, 0)?;
        }
        self.conn
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(args))?;
        let id = self.conn.last_insert_rowid();
        let key = if kind == Kind::Si {
            self.write_people(id, &d)?;
            Key::new(kind, d.get("number").as_int().expect("number"))
        } else {
            Key::new(kind, id)
        };
        self.ahead.borrow_mut().wrote(key);
        if let Some(src) = &self.source {
            insert_journal(
                self.conn,
                self.now,
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
        match self.plan_set(key, values)? {
            Some(plan) => self.write_set(&plan),
            None => Ok(Outcome::Unchanged),
        }
    }

    fn try_set(&mut self, key: Key, values: &[Assignment]) -> Result<Outcome> {
        // The checks write nothing; a change of one row is one UPDATE, which SQLite undoes
        // by itself when it fails, and its journal rows, which fail only with the engine
        // (then the transaction can only be undone whole). Only a change that writes other
        // rows first or after (a Main demotion, an SI's people, cascades) needs a savepoint.
        let Some(plan) = self.plan_set(key, values)? else {
            return Ok(Outcome::Unchanged);
        };
        if plan.main_of.is_some() || plan.people_changed || !plan.cascades.is_empty() {
            let mut out = Outcome::Unchanged;
            self.savepoint(&mut |w| {
                out = w.set(key, values)?;
                Ok(())
            })?;
            return Ok(out);
        }
        self.update_row(&plan)?;
        self.journal_set(&plan).inspect_err(|e| {
            self.broken = Some(e.to_string());
        })?;
        Ok(Outcome::Changed)
    }

    fn get(&self, key: Key) -> Result<Record> {
        load_required(self.conn, key)
    }

    fn put_exported(&mut self, employee: Key, item: Key, e: &Exported) -> Result<()> {
        self.last_found.borrow_mut().take();
        self.ahead.borrow_mut().wrote(item);
        self.conn
            .prepare_cached(
                "INSERT INTO export_state \
                 (employee_id, item_kind, item_id, hash, status, vals, updated_at, held, current) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (employee_id, item_kind, item_id) DO UPDATE SET \
                 hash = excluded.hash, status = excluded.status, vals = excluded.vals, \
                 updated_at = excluded.updated_at, held = excluded.held, \
                 current = excluded.current",
            )?
            .execute(params![
                employee.id,
                item.kind.name(),
                item.id,
                e.hash as i64,
                e.status,
                e.values,
                e.updated_at,
                e.held,
                e.current
            ])?;
        Ok(())
    }

    fn put_exported_many(&mut self, employee: Key, items: &[(Key, &Exported)]) -> Result<()> {
        self.insert_exported(employee, items, true)
    }

    fn add_exported_many(&mut self, employee: Key, items: &[(Key, &Exported)]) -> Result<()> {
        self.insert_exported(employee, items, false)
    }

    fn delete_exported(&mut self, employee: Key, item: Key) -> Result<()> {
        self.last_found.borrow_mut().take();
        self.ahead.borrow_mut().wrote(item);
        self.conn
            .prepare_cached(
                "DELETE FROM export_state WHERE employee_id = ?1 AND item_kind = ?2 AND item_id = ?3",
            )?
            .execute(params![employee.id, item.kind.name(), item.id])?;
        Ok(())
    }

    fn set_stamps(
        &mut self,
        employee: Key,
        contacts: Option<i64>,
        tasks: Option<i64>,
    ) -> Result<()> {
        self.last_found.borrow_mut().take();
        let n = self
            .conn
            .prepare_cached(
                "UPDATE employees SET contacts_stamp = ?1, tasks_stamp = ?2, updated_at = ?3 \
                 WHERE id = ?4",
            )?
            .execute(params![contacts, tasks, self.now, employee.id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        // Every output's stamps with them (a reset clears them all).
        self.conn
            .prepare_cached(
                "UPDATE output_stamps SET contacts_stamp = ?1, tasks_stamp = ?2 \
                 WHERE employee_id = ?3",
            )?
            .execute(params![contacts, tasks, employee.id])?;
        Ok(())
    }

    fn set_profile_folder(
        &mut self,
        employee: Key,
        folder: &str,
        previous: Option<&str>,
    ) -> Result<()> {
        self.last_found.borrow_mut().take();
        let n = self
            .conn
            .prepare_cached("UPDATE employees SET folder = ?1 WHERE id = ?2")?
            .execute(params![folder, employee.id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        if let Some(old) = previous.filter(|old| *old != folder) {
            // What was ingested under the old name is known under the new one, so that
            // the same file dropped again is still a no-op.
            self.conn
                .prepare_cached("UPDATE OR REPLACE ingested SET profile = ?1 WHERE profile = ?2")?
                .execute(params![folder, old])?;
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
        self.last_found.borrow_mut().take();
        self.conn
            .prepare_cached(
                "INSERT INTO output_stamps (employee_id, output, contacts_stamp, tasks_stamp) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (employee_id, output) DO UPDATE SET \
                 contacts_stamp = excluded.contacts_stamp, tasks_stamp = excluded.tasks_stamp",
            )?
            .execute(params![employee.id, output, contacts, tasks])?;
        // The profile's own stamps are its outputs' oldest (unset while any is unset).
        let n = self
            .conn
            .prepare_cached(
                "UPDATE employees SET \
                 contacts_stamp = (SELECT CASE WHEN count(*) = count(contacts_stamp) \
                   THEN min(contacts_stamp) END FROM output_stamps WHERE employee_id = ?1), \
                 tasks_stamp = (SELECT CASE WHEN count(*) = count(tasks_stamp) \
                   THEN min(tasks_stamp) END FROM output_stamps WHERE employee_id = ?1) \
                 WHERE id = ?1",
            )?
            .execute(params![employee.id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        Ok(())
    }
}

impl Lookup for TxWriter<'_> {
    fn client_by_name(&self, name: &str) -> Result<Option<Key>> {
        Lookup::client_by_name(self.conn, name)
    }
    fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>> {
        Lookup::clients_named(self.conn, name)
    }
    fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Lookup::location_named(self.conn, client, name)
    }
    fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>> {
        Lookup::people_named(self.conn, client, name)
    }
    fn si_by_uid(&self, uid: &str) -> Result<Option<Key>> {
        Lookup::si_by_uid(self.conn, uid)
    }
    /// Also keeps the record for a `set` that follows at once (ingest reads, decides,
    /// then writes the same record).
    fn find(&self, key: Key) -> Result<Option<Record>> {
        let ahead = self.ahead.borrow_mut().records.remove(&key);
        let r = match ahead {
            Some(r) => r,
            None => Lookup::find(self.conn, key)?,
        };
        *self.last_found.borrow_mut() = r.clone();
        Ok(r)
    }
    fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
        let ahead = {
            let mut a = self.ahead.borrow_mut();
            if a.employee == Some(employee) {
                a.states.remove(&item)
            } else {
                None
            }
        };
        match ahead {
            Some(e) => Ok(e),
            None => Lookup::exported(self.conn, employee, item),
        }
    }
    fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
        Lookup::ingested(self.conn, profile, hash)
    }
}

fn insert_journal(conn: &Connection, now: i64, src: &Source, e: &JournalEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO journal (at, source, profile, file, item, field, old_value, new_value, \
         outcome, reason, run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        now,
        src.kind,
        e.profile.as_ref().or(src.profile.as_ref()),
        e.file.as_ref().or(src.file.as_ref()),
        e.item,
        e.field,
        e.old_value,
        e.new_value,
        e.outcome,
        e.reason,
        e.run.as_ref().or(src.run.as_ref())
    ])?;
    Ok(())
}
