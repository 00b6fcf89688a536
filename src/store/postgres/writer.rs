//! The write transaction of the PostgreSQL engine: `BEGIN`, then the clock row's lock and
//! one change time, [`TxWriter`] (inserts, updates, savepoints, export state, sync stamps,
//! the journal), the answers to the rules' questions ([`RuleReads`]) and the row I/O of
//! the decisions [`domain`] makes (Main demotion, cascades).
//!
//! Every write transaction locks the clock row before anything else and holds the lock to
//! its commit, so write transactions run one at a time in the order they took the clock,
//! and change times rise in commit order (ARCHITECTURE.md says why no commit is skipped).

use std::cell::RefCell;

use postgres::types::ToSql;

use super::codec::{load_required, param, row_id, table};
use super::conn::{Conn, Param, get};
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
    conn.batch(if durable {
        "BEGIN"
    } else {
        "BEGIN; SET LOCAL synchronous_commit = off"
    })?;
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
        };
        f(&mut w)?;
        conn.batch("COMMIT")
    })();
    if result.is_err() {
        // Nothing to undo when the connection is gone: the server dropped the transaction.
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
}

impl TxWriter<'_> {
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
                    self.conn.execute(
                        "INSERT INTO journal (at, source, profile, file, item, field, \
                         old_value, new_value, outcome, reason, run) \
                         SELECT $1, $2, $3, $4, 'SM-U' || id, 'active', 'true', 'false', \
                         'changed', $5, $7 FROM users WHERE client_id = $6 AND active = 1 \
                         ORDER BY id",
                        &[
                            &self.now,
                            &src.kind,
                            &src.profile,
                            &src.file,
                            reason,
                            &client.id,
                            &src.run,
                        ],
                    )?;
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
        self.conn.execute(
            "UPDATE locations SET is_main = 0, updated_at = $1 \
             WHERE client_id = $2 AND is_main = 1 AND id <> $3",
            &[&self.now, &client, &except],
        )?;
        Ok(())
    }

    fn write_people(&self, si_id: i64, d: &Draft) -> Result<()> {
        self.conn
            .execute("DELETE FROM si_people WHERE si_id = $1", &[&si_id])?;
        if let Value::Refs(people) = d.get("people") {
            for p in people {
                self.conn.execute(
                    "INSERT INTO si_people (si_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&si_id, &p.id],
                )?;
            }
        }
        Ok(())
    }

    fn touch(&self, sql: &str, id: i64) -> Result<()> {
        self.conn.execute(sql, &[&self.now, &id])?;
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
            "SELECT e.id, e.user_id, u.first_name || ' ' || u.last_name \
             FROM employees e JOIN users u ON u.id = e.user_id ORDER BY e.id",
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
        self.savepoints += 1;
        let depth = self.savepoints;
        self.conn.batch(&format!("SAVEPOINT sp{depth}"))?;
        let result = f(self);
        self.savepoints -= 1;
        self.last_found.borrow_mut().take();
        match result {
            Ok(()) => {
                self.conn.batch(&format!("RELEASE sp{depth}"))?;
                Ok(())
            }
            Err(e) => {
                self.conn
                    .batch(&format!("ROLLBACK TO sp{depth}; RELEASE sp{depth}"))?;
                Err(e)
            }
        }
    }

    fn mark_dirty(&mut self, employee: Key, item: Key) -> Result<()> {
        self.conn.execute(
            "UPDATE export_state SET current = 0 \
             WHERE employee_id = $1 AND item_kind = $2 AND item_id = $3",
            &[&employee.id, &item.kind.name(), &item.id],
        )?;
        Ok(())
    }

    fn record_ingested(
        &mut self,
        profile: &str,
        hash: &str,
        file: &str,
        outcome: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO ingested (profile, hash, file, at, outcome) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (profile, hash) DO UPDATE SET file = excluded.file, at = excluded.at, \
             outcome = excluded.outcome",
            &[&profile, &hash, &file, &self.now, &outcome],
        )?;
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
        let marks: Vec<String> = (1..=cols.len() + 1).map(|i| format!("${i}")).collect();
        // Ids as SQLite gives them (one more than the largest): the clock's lock makes this
        // transaction the only writer.
        let sql = format!(
            "INSERT INTO {t} (id, {}, updated_at) VALUES \
             ((SELECT coalesce(max(id), 0) + 1 FROM {t}), {}) RETURNING id",
            names.join(", "),
            marks.join(", "),
            t = table(kind),
        );
        let mut args: Vec<Param> = cols.iter().map(|(i, _)| param(&d.values[*i])).collect();
        args.push(Param::Int(self.now));
        if let Some(client) = domain::takes_main(&d, None) {
            self.clear_other_main(client.id, 0)?;
        }
        let refs: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let id: i64 = get(&self.conn.query_one(&sql, &refs)?, 0)?;
        let key = if kind == Kind::Si {
            self.write_people(id, &d)?;
            Key::new(kind, d.get("number").as_int().expect("number"))
        } else {
            Key::new(kind, id)
        };
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
        let cached = self.last_found.borrow_mut().take().filter(|r| r.key == key);
        let old = match cached {
            Some(r) => r,
            None => load_required(self.conn, key)?,
        };
        let id = if key.kind == Kind::Si {
            row_id(self.conn, key)?.expect("loaded")
        } else {
            key.id
        };
        let mut d = Draft::of(&old);
        d.apply(values, false)?;
        domain::validate(self.conn, &mut d, Some(&old))?;
        let changed: Vec<(usize, &str)> = Self::stored_columns(key.kind)
            .filter(|(i, f, _)| f.access != Access::Auto && d.values[*i] != old.values[*i])
            .map(|(i, _, c)| (i, c))
            .collect();
        let people_changed = key.kind == Kind::Si && d.get("people") != old.get("people");
        if changed.is_empty() && !people_changed {
            return Ok(Outcome::Unchanged);
        }
        if let Some(client) = domain::takes_main(&d, Some(&old)) {
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
        let refs: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        self.conn.execute(&sql, &refs)?;
        if people_changed {
            self.write_people(id, &d)?;
            self.journal_change(key, "people", old.get("people"), d.get("people"), None)?;
        }
        for (i, _) in &changed {
            let f = &fields::of(key.kind)[*i];
            self.journal_change(key, f.name, &old.values[*i], &d.values[*i], None)?;
        }
        for c in domain::cascades(&old, &d) {
            self.apply(&c)?;
        }
        Ok(Outcome::Changed)
    }

    fn get(&self, key: Key) -> Result<Record> {
        load_required(self.conn, key)
    }

    fn put_exported(&mut self, employee: Key, item: Key, e: &Exported) -> Result<()> {
        self.put_exported_many(employee, &[(item, e)])
    }

    fn put_exported_many(&mut self, employee: Key, items: &[(Key, &Exported)]) -> Result<()> {
        // Rows per statement: one round trip per page of an export, not per item.
        const ROWS: usize = 256;
        self.last_found.borrow_mut().take();
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
            let cols: Vec<(i64, &'static str, i64, i64)> = chunk
                .iter()
                .map(|(k, e)| {
                    (
                        e.hash as i64,
                        k.kind.name(),
                        e.held as i64,
                        e.current as i64,
                    )
                })
                .collect();
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * 9);
            for ((k, e), (h, kind, held, current)) in chunk.iter().zip(&cols) {
                params.extend_from_slice(&[
                    &employee.id as &(dyn ToSql + Sync),
                    kind,
                    &k.id,
                    h,
                    &e.status,
                    &e.values,
                    &e.updated_at,
                    held,
                    current,
                ]);
            }
            self.conn.execute(&sql, &params)?;
        }
        Ok(())
    }

    fn delete_exported(&mut self, employee: Key, item: Key) -> Result<()> {
        self.last_found.borrow_mut().take();
        self.conn.execute(
            "DELETE FROM export_state WHERE employee_id = $1 AND item_kind = $2 AND item_id = $3",
            &[&employee.id, &item.kind.name(), &item.id],
        )?;
        Ok(())
    }

    fn set_stamps(
        &mut self,
        employee: Key,
        contacts: Option<i64>,
        tasks: Option<i64>,
    ) -> Result<()> {
        self.last_found.borrow_mut().take();
        let n = self.conn.execute(
            "UPDATE employees SET contacts_stamp = $1, tasks_stamp = $2, updated_at = $3 \
             WHERE id = $4",
            &[&contacts, &tasks, &self.now, &employee.id],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        self.conn.execute(
            "UPDATE output_stamps SET contacts_stamp = $1, tasks_stamp = $2 \
             WHERE employee_id = $3",
            &[&contacts, &tasks, &employee.id],
        )?;
        Ok(())
    }

    fn set_profile_folder(
        &mut self,
        employee: Key,
        folder: &str,
        previous: Option<&str>,
    ) -> Result<()> {
        self.last_found.borrow_mut().take();
        let n = self.conn.execute(
            "UPDATE employees SET folder = $1 WHERE id = $2",
            &[&folder, &employee.id],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        if let Some(old) = previous.filter(|old| *old != folder) {
            // What was ingested under the old name is known under the new one (the old
            // name's row wins over one the new name already had, as in SQLite).
            self.conn.execute(
                "DELETE FROM ingested WHERE profile = $1 AND hash IN \
                 (SELECT hash FROM ingested WHERE profile = $2)",
                &[&folder, &old],
            )?;
            self.conn.execute(
                "UPDATE ingested SET profile = $1 WHERE profile = $2",
                &[&folder, &old],
            )?;
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
        self.conn.execute(
            "INSERT INTO output_stamps (employee_id, output, contacts_stamp, tasks_stamp) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (employee_id, output) DO UPDATE SET \
             contacts_stamp = excluded.contacts_stamp, tasks_stamp = excluded.tasks_stamp",
            &[&employee.id, &(output as i64), &contacts, &tasks],
        )?;
        let n = self.conn.execute(
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
    /// Also keeps the record for a `set` that follows at once.
    fn find(&self, key: Key) -> Result<Option<Record>> {
        let r = Lookup::find(self.conn, key)?;
        *self.last_found.borrow_mut() = r.clone();
        Ok(r)
    }
    fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
        Lookup::exported(self.conn, employee, item)
    }
    fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
        Lookup::ingested(self.conn, profile, hash)
    }
}

fn insert_journal(conn: &Conn, now: i64, src: &Source, e: &JournalEntry) -> Result<()> {
    conn.execute(
        "INSERT INTO journal (at, source, profile, file, item, field, old_value, new_value, \
         outcome, reason, run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &now,
            &src.kind,
            &e.profile.as_ref().or(src.profile.as_ref()),
            &e.file.as_ref().or(src.file.as_ref()),
            &e.item,
            &e.field,
            &e.old_value,
            &e.new_value,
            &e.outcome,
            &e.reason,
            &e.run.as_ref().or(src.run.as_ref()),
        ],
    )?;
    Ok(())
}
