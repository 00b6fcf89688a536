//! The read queries of the SQLite engine: the synced-set predicates, the [`Lookup`]
//! queries (on a connection or inside a write transaction), change pages, the synced set,
//! counts, profiles, the clock and the journal.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::codec::{key_column, load, read_record, select_sql, table};
use crate::error::Result;
use crate::model::{Key, Kind, Record};
use crate::store::{
    Changed, Cursor, Exported, JournalEntry, Lookup, OutputStamps, Profile, RemovalFacts, Settings,
    SyncCounts,
};

/// SQL predicates (over alias `t`) of the records that go to Outlook (SPEC §1, §3).
fn synced_predicate(kind: Kind) -> &'static str {
    match kind {
        Kind::Location => {
            "t.active = 1 AND EXISTS (SELECT 1 FROM clients c WHERE c.id = t.client_id AND c.active = 1)"
        }
        Kind::User => {
            "t.active = 1 AND (t.kind = 'agent' OR EXISTS (SELECT 1 FROM clients c \
             WHERE c.id = t.client_id AND c.active = 1))"
        }
        Kind::Tech => "1",
        Kind::Si => "t.status IN ('In Progress', 'Completion Requested')",
        Kind::Client | Kind::Employee => "0",
    }
}

/// [`synced_predicate`] over [`select_sql`], which joins a record's client as `c`.
fn synced_flag(kind: Kind) -> &'static str {
    match kind {
        Kind::Location => "t.active = 1 AND c.active IS 1",
        Kind::User => "t.active = 1 AND (t.kind = 'agent' OR c.active IS 1)",
        k => synced_predicate(k),
    }
}

/// The select of [`select_sql`] with the synced-set flag as its last column.
fn select_with_flag(kind: Kind) -> String {
    let base = select_sql(kind);
    // The table's own FROM is the last one: the column list holds the subqueries.
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    format!("{cols}, ({}) FROM {from}", synced_flag(kind))
}

impl Lookup for Connection {
    fn client_by_name(&self, name: &str) -> Result<Option<Key>> {
        Ok(self
            .prepare_cached("SELECT id FROM clients WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?
            .map(|id| Key::new(Kind::Client, id)))
    }

    fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>> {
        let mut stmt = self.prepare_cached(
            "SELECT id, active FROM clients WHERE lower(name) = lower(?1) ORDER BY id",
        )?;
        let rows = stmt.query_map([name.trim()], |r| {
            Ok((Key::new(Kind::Client, r.get(0)?), r.get::<_, i64>(1)? != 0))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Ok(self
            .prepare_cached(
                "SELECT id FROM locations WHERE client_id = ?1 AND lower(name) = lower(?2) \
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![client.id, name.trim()], |r| r.get(0))
            .optional()?
            .map(|id| Key::new(Kind::Location, id)))
    }

    fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>> {
        let mut stmt = self.prepare_cached(
            "SELECT id FROM users WHERE lower(first_name || ' ' || last_name) = lower(?2) \
             AND (kind = 'agent' OR client_id = ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![client.id, name.trim()], |r| {
            Ok(Key::new(Kind::User, r.get(0)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn si_by_uid(&self, uid: &str) -> Result<Option<Key>> {
        Ok(self
            .prepare_cached("SELECT number FROM sis WHERE uid = ?1")?
            .query_row([uid], |r| r.get(0))
            .optional()?
            .map(|n| Key::new(Kind::Si, n)))
    }

    fn find(&self, key: Key) -> Result<Option<Record>> {
        load(self, key)
    }

    fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
        Ok(self
            .prepare_cached(
                "SELECT hash, status, vals, updated_at, held, current FROM export_state \
                 WHERE employee_id = ?1 AND item_kind = ?2 AND item_id = ?3",
            )?
            .query_row(params![employee.id, item.kind.name(), item.id], |r| {
                Ok(Exported {
                    hash: r.get::<_, i64>(0)? as u64,
                    status: r.get(1)?,
                    values: r.get(2)?,
                    updated_at: r.get(3)?,
                    held: r.get(4)?,
                    current: r.get(5)?,
                })
            })
            .optional()?)
    }

    fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
        Ok(self
            .prepare_cached("SELECT file, at FROM ingested WHERE profile = ?1 AND hash = ?2")?
            .query_row(params![profile, hash], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}

pub(super) fn for_each(
    conn: &Connection,
    kind: Kind,
    f: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    let sql = format!("{} ORDER BY t.{}", select_sql(kind), key_column(kind));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        f(read_record(kind, row)?)?;
    }
    Ok(())
}

pub(super) fn count(conn: &Connection, kind: Kind) -> Result<u64> {
    let sql = format!("SELECT count(*) FROM {}", table(kind));
    Ok(conn.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
}

pub(super) fn profiles(conn: &Connection) -> Result<Vec<Profile>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.user_id, u.first_name || ' ' || u.last_name, e.contacts_stamp, \
         e.tasks_stamp, e.active, e.folder, e.date_format, e.csv_language, e.csv_encoding, \
         e.vcard_version, e.outputs, e.full_csv_limit, e.csv_safe, e.removal_guard_percent, \
         e.removal_guard_min, e.change_guard_percent, e.change_guard_min, e.blank_guard_max \
         FROM employees e JOIN users u ON u.id = e.user_id ORDER BY e.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Profile {
            employee: Key::new(Kind::Employee, r.get(0)?),
            user: Key::new(Kind::User, r.get(1)?),
            name: r.get(2)?,
            contacts_stamp: r.get(3)?,
            tasks_stamp: r.get(4)?,
            active: r.get::<_, i64>(5)? != 0,
            folder: r.get(6)?,
            settings: Settings {
                date_format: r.get(7)?,
                csv_language: r.get(8)?,
                csv_encoding: r.get(9)?,
                vcard_version: r.get(10)?,
                outputs: r.get(11)?,
                full_csv_limit: r.get(12)?,
                csv_safe: r.get::<_, Option<i64>>(13)?.map(|b| b != 0),
                removal_guard_percent: r.get(14)?,
                removal_guard_min: r.get(15)?,
                change_guard_percent: r.get(16)?,
                change_guard_min: r.get(17)?,
                blank_guard_max: r.get(18)?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn clock(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT value FROM meta WHERE key = 'clock'", [], |r| {
            r.get(0)
        })?,
    )
}

pub(super) fn max_change(conn: &Connection) -> Result<i64> {
    let mut max = 0;
    for k in [
        Kind::Client,
        Kind::Location,
        Kind::User,
        Kind::Tech,
        Kind::Si,
        Kind::Employee,
    ] {
        let sql = format!("SELECT coalesce(max(updated_at), 0) FROM {}", table(k));
        max = max.max(conn.query_row(&sql, [], |r| r.get::<_, i64>(0))?);
    }
    Ok(max)
}

/// A page of changes (see `Store::changes`); `held`: the profile may hold records of the
/// kind, so each comes with its export state (else none is read: `Store::changes_unheld`).
#[allow(clippy::too_many_arguments)]
pub(super) fn changes(
    conn: &Connection,
    kind: Kind,
    employee: Key,
    since: Option<i64>,
    upto: i64,
    after: Cursor,
    limit: usize,
    held: bool,
) -> Result<Vec<Changed>> {
    // The profile's export state comes with each record (one query per page, not one
    // per record). A page is two range scans of the `updated_at` index, which holds the
    // rowid: the rest of the cursor's change time (`updated_at = ? AND rowid > ?`), then
    // the later change times. A row-value `(updated_at, id) > (?, ?)` would not seek
    // past the cursor's change time, and one change time can cover a million rows (a
    // seed, a cascade), which made a full export quadratic.
    let base = select_with_flag(kind);
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    let head = if held {
        format!(
            "{cols}, s.hash, s.status, s.vals, s.updated_at, s.held, s.current FROM {from} \
             LEFT JOIN export_state s ON s.employee_id = ?4 AND s.item_kind = ?5 \
             AND s.item_id = t.{}",
            key_column(kind)
        )
    } else {
        format!("{cols}, NULL, NULL, NULL, NULL, NULL, NULL FROM {from}")
    };
    let same = format!("{head} WHERE t.updated_at = ?1 AND t.id > ?2 ORDER BY t.id LIMIT ?3");
    let later = format!(
        "{head} WHERE t.updated_at > ?1 AND t.updated_at <= ?2 \
         ORDER BY t.updated_at, t.id LIMIT ?3"
    );
    let read = |row: &Row| changed_row(kind, row);
    let since = since.unwrap_or(i64::MIN);
    let mut out: Vec<Changed> = Vec::with_capacity(limit.min(4096));
    // One range scan: `sql` with the two bounds, up to what the page still lacks.
    let scan = |sql: &str, a: i64, b: i64, out: &mut Vec<Changed>| -> Result<()> {
        let mut stmt = conn.prepare_cached(sql)?;
        let left = (limit - out.len()) as i64;
        let all = params![a, b, left, employee.id, kind.name()];
        let rows = stmt.query_map(if held { all } else { &all[..3] }, read)?;
        for r in rows {
            out.push(r?);
        }
        Ok(())
    };
    if after.updated_at > since && after.updated_at <= upto {
        scan(&same, after.updated_at, after.row, &mut out)?;
    }
    if out.len() < limit {
        scan(&later, since.max(after.updated_at), upto, &mut out)?;
    }
    Ok(out)
}

/// Records read by [`for_each_synced`] in one statement.
const SYNCED_PAGE: usize = 1024;

pub(super) fn for_each_synced(
    conn: &Connection,
    kind: Kind,
    f: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    // A page at a time, each read in a statement of its own that ends before `f` sees its
    // records: one statement over a whole kind held its snapshot, and with it every frame
    // other connections committed meanwhile (an export's state), in the write-ahead log
    // until it ended, however slowly `f` took them (a PST being encoded).
    let sql = format!(
        "{} WHERE {} AND t.{key} > ?1 ORDER BY t.{key} LIMIT ?2",
        select_sql(kind),
        synced_flag(kind),
        key = key_column(kind)
    );
    let mut after = i64::MIN;
    let mut page = Vec::with_capacity(SYNCED_PAGE);
    loop {
        {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![after, SYNCED_PAGE as i64])?;
            while let Some(row) = rows.next()? {
                page.push(read_record(kind, row)?);
            }
        }
        let full = page.len() == SYNCED_PAGE;
        if let Some(last) = page.last() {
            after = last.key.id;
        }
        for r in page.drain(..) {
            f(r)?;
        }
        if !full {
            return Ok(());
        }
    }
}

pub(super) fn exported_count(
    conn: &Connection,
    employee: Key,
    kinds: &[Kind],
    limit: u64,
) -> Result<u64> {
    let mut n = 0;
    for k in kinds {
        n += conn.query_row(
            "SELECT count(*) FROM (SELECT 1 FROM export_state \
             WHERE employee_id = ?1 AND item_kind = ?2 LIMIT ?3)",
            params![employee.id, k.name(), limit as i64],
            |r| r.get::<_, i64>(0),
        )? as u64;
    }
    Ok(n)
}

pub(super) fn in_synced_set(conn: &Connection, key: Key) -> Result<bool> {
    let sql = format!(
        "SELECT {} FROM {} t WHERE t.{} = ?1",
        synced_predicate(key.kind),
        table(key.kind),
        key_column(key.kind)
    );
    Ok(conn
        .query_row(&sql, [key.id], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0)
        != 0)
}

/// A row of [`select_with_flag`] followed by the six export-state columns (NULL when the
/// profile has no state of the record).
fn changed_row(kind: Kind, row: &Row) -> rusqlite::Result<Changed> {
    let record = read_record(kind, row)?;
    let n = row.as_ref().column_count();
    let exported = match row.get::<_, Option<i64>>(n - 6)? {
        Some(hash) => Some(Exported {
            hash: hash as u64,
            status: row.get(n - 5)?,
            values: row.get(n - 4)?,
            updated_at: row.get(n - 3)?,
            held: row.get(n - 2)?,
            current: row.get(n - 1)?,
        }),
        None => None,
    };
    Ok(Changed {
        cursor: Cursor {
            updated_at: record.updated_at,
            row: row.get(0)?,
        },
        in_set: row.get::<_, i64>(n - 7)? != 0,
        exported,
        record,
    })
}

pub(super) fn dirty_changes(
    conn: &Connection,
    employee: Key,
    kind: Kind,
    outputs: u32,
) -> Result<Vec<(Key, Option<Changed>)>> {
    // The stale rows (the partial index) drive; each finds its record by its key. A key
    // the join does not return is a record that is gone.
    let base = select_with_flag(kind);
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    let sql = format!(
        "{cols}, s.hash, s.status, s.vals, s.updated_at, s.held, s.current \
         FROM export_state s INDEXED BY export_state_stale CROSS JOIN {from} \
         WHERE s.employee_id = ?1 AND s.held <> s.current AND s.item_kind = ?2 \
         AND (s.held & ~s.current & ?3) <> 0 AND t.{key} = s.item_id ORDER BY s.item_id",
        key = key_column(kind)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_map(params![employee.id, kind.name(), outputs], |r| {
            changed_row(kind, r)
        })?
        .collect::<rusqlite::Result<Vec<Changed>>>()?;
    let mut found = found.into_iter().peekable();
    let mut out = Vec::new();
    for key in dirty_exports(conn, employee, kind, outputs)? {
        let here = found.next_if(|c| c.record.key == key);
        out.push((key, here));
    }
    Ok(out)
}

/// The keys of the stale items (see [`dirty_changes`]).
fn dirty_exports(conn: &Connection, employee: Key, kind: Kind, outputs: u32) -> Result<Vec<Key>> {
    // `held <> current` is the partial index's condition: the scan stays on the few stale
    // rows, however many the profile holds (a no-change export of 1,000,000 contacts took
    // 165 ms scanning them all, 5 ms with the index).
    let mut stmt = conn.prepare_cached(
        "SELECT item_id FROM export_state INDEXED BY export_state_stale \
         WHERE employee_id = ?1 AND held <> current \
         AND item_kind = ?2 AND (held & ~current & ?3) <> 0 ORDER BY item_id",
    )?;
    let rows = stmt.query_map(params![employee.id, kind.name(), outputs], |r| {
        Ok(Key::new(kind, r.get(0)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn journal_entries(
    conn: &Connection,
    profile: Option<&str>,
    limit: usize,
    f: &mut dyn FnMut(JournalEntry) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {JOURNAL_COLUMNS} FROM journal WHERE ?1 IS NULL OR profile = ?1 \
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let mut rows = stmt.query(params![profile, limit as i64])?;
    while let Some(r) = rows.next()? {
        f(journal_row(r)?)?;
    }
    Ok(())
}

/// The columns [`journal_row`] reads, in its order.
const JOURNAL_COLUMNS: &str =
    "id, at, source, profile, file, item, field, old_value, new_value, outcome, reason, run";

fn journal_row(r: &Row) -> rusqlite::Result<JournalEntry> {
    Ok(JournalEntry {
        id: r.get(0)?,
        at: r.get(1)?,
        source: r.get(2)?,
        profile: r.get(3)?,
        file: r.get(4)?,
        item: r.get(5)?,
        field: r.get(6)?,
        old_value: r.get(7)?,
        new_value: r.get(8)?,
        outcome: r.get(9)?,
        reason: r.get(10)?,
        run: r.get(11)?,
    })
}

pub(super) fn journal_of_run(conn: &Connection, run: &str) -> Result<Vec<JournalEntry>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {JOURNAL_COLUMNS} FROM journal WHERE run = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([run], journal_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn later_change(
    conn: &Connection,
    item: &str,
    field: &str,
    after: i64,
) -> Result<Option<JournalEntry>> {
    // The journal has no index on item: this scans the rows after `after`, which an undo
    // of a recent run keeps short.
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE id > ?3 AND item = ?1 AND field = ?2 \
             AND outcome = 'changed' ORDER BY id LIMIT 1"
        ))?
        .query_row(params![item, field, after], journal_row)
        .optional()?)
}

/// The query of `pending_removals` for a kind: (key, own active flag, client id, client
/// active, status) of the records changed in the range that a selected output holds and that
/// left the synced set. `None` for kinds that never leave it.
fn pending_removals_sql(kind: Kind) -> Option<String> {
    // (own active flag, client id, client active, status) of each kind.
    let (cols, join, extra) = match kind {
        Kind::Location => (
            "t.active, t.client_id, c.active, NULL",
            "JOIN clients c ON c.id = t.client_id",
            "",
        ),
        Kind::User => (
            "t.active, t.client_id, c.active, NULL",
            "LEFT JOIN clients c ON c.id = t.client_id",
            "",
        ),
        Kind::Si => (
            "NULL, t.client_id, c.active, t.status",
            "JOIN clients c ON c.id = t.client_id",
            "AND t.status <> 'Closed'",
        ),
        // Tech entries never leave the set; clients and employees are not items.
        _ => return None,
    };
    // `CROSS JOIN` keeps SQLite's join order: the records changed in the range first (the
    // `updated_at` index), then their state by primary key. Left to the planner (no
    // statistics), it walked the profile's whole export state: every no-change export of
    // 1,000,000 contacts spent half a second here.
    Some(format!(
        "SELECT t.{key}, {cols} FROM {table} t \
         CROSS JOIN export_state s ON s.employee_id = ?1 AND s.item_kind = ?2 AND s.item_id = t.{key} \
         {join} \
         WHERE t.updated_at > ?3 AND t.updated_at <= ?4 AND (s.held & ?5) <> 0 \
         AND NOT ({pred}) {extra} ORDER BY t.{key}",
        key = key_column(kind),
        table = table(kind),
        pred = synced_predicate(kind),
    ))
}

pub(super) fn pending_removals(
    conn: &Connection,
    employee: Key,
    kind: Kind,
    since: Option<i64>,
    upto: i64,
    outputs: u32,
) -> Result<Vec<RemovalFacts>> {
    let Some(sql) = pending_removals_sql(kind) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            employee.id,
            kind.name(),
            since.unwrap_or(i64::MIN),
            upto,
            outputs
        ],
        |r| {
            let client: Option<i64> = r.get(2)?;
            let client_active: Option<i64> = r.get(3)?;
            let status: Option<String> = r.get(4)?;
            Ok(RemovalFacts {
                key: Key::new(kind, r.get(0)?),
                active: r.get::<_, Option<i64>>(1)?.map(|a| a != 0),
                client: client.map(|c| (Key::new(Kind::Client, c), client_active == Some(1))),
                status: status.and_then(|s| s.parse().ok()),
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn sync_counts(conn: &Connection, p: &Profile) -> Result<SyncCounts> {
    let count = |kinds: &[Kind], stamp: Option<i64>| -> Result<(u64, u64)> {
        let (mut synced, mut pending) = (0u64, 0u64);
        for &k in kinds {
            let pred = synced_predicate(k);
            let sql = format!("SELECT count(*) FROM {} t WHERE {pred}", table(k));
            let n: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
            synced += n as u64;
            pending += match stamp {
                None => n as u64,
                Some(s) => {
                    let sql = format!(
                        "SELECT count(*) FROM {} t WHERE t.updated_at > ?1",
                        table(k)
                    );
                    conn.query_row(&sql, [s], |r| r.get::<_, i64>(0))? as u64
                }
            };
        }
        Ok((synced, pending))
    };
    let (contacts, contacts_pending) =
        count(&[Kind::Location, Kind::User, Kind::Tech], p.contacts_stamp)?;
    let (tasks, tasks_pending) = count(&[Kind::Si], p.tasks_stamp)?;
    Ok(SyncCounts {
        contacts,
        contacts_pending,
        tasks,
        tasks_pending,
    })
}

pub(super) fn output_stamps(conn: &Connection, employee: Key) -> Result<Vec<OutputStamps>> {
    let mut stmt = conn.prepare_cached(
        "SELECT output, contacts_stamp, tasks_stamp FROM output_stamps \
         WHERE employee_id = ?1 ORDER BY output",
    )?;
    let rows = stmt.query_map([employee.id], |r| {
        Ok(OutputStamps {
            output: r.get(0)?,
            contacts: r.get(1)?,
            tasks: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite makes for a query on a freshly migrated database (no statistics).
    fn plan(sql: &str) -> Vec<String> {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = stmt.parameter_count();
        let args: Vec<i64> = vec![0; n];
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn the_synced_flag_over_the_joined_client_is_the_synced_predicate() {
        // Every combination of a record's own flag, its kind, and its client (active,
        // inactive, none): the select's flag over the joined client says what the
        // predicate's subquery says.
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO clients (id, name, active, updated_at) VALUES (1, 'On', 1, 1), \
             (2, 'Off', 0, 1);
             INSERT INTO locations (id, client_id, name, active, updated_at) VALUES \
             (1, 1, 'a', 1, 1), (2, 1, 'b', 0, 1), (3, 2, 'c', 1, 1), (4, 2, 'd', 0, 1);
             INSERT INTO users (id, kind, client_id, first_name, last_name, active, updated_at) \
             VALUES (1, 'client', 1, 'A', 'B', 1, 1), (2, 'client', 1, 'A', 'B', 0, 1), \
             (3, 'client', 2, 'A', 'B', 1, 1), (4, 'client', 2, 'A', 'B', 0, 1), \
             (5, 'agent', NULL, 'A', 'B', 1, 1), (6, 'agent', NULL, 'A', 'B', 0, 1);",
        )
        .unwrap();
        for kind in [Kind::Location, Kind::User] {
            let flags = |sql: String| -> Vec<(i64, i64)> {
                let mut stmt = conn.prepare(&sql).unwrap();
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
                rows.collect::<rusqlite::Result<_>>().unwrap()
            };
            let table = table(kind);
            let by_subquery = flags(format!(
                "SELECT t.id, ({}) FROM {table} t ORDER BY t.id",
                synced_predicate(kind)
            ));
            let joined = flags(format!(
                "SELECT t.id, ({}) FROM {table} t LEFT JOIN clients c ON c.id = t.client_id \
                 ORDER BY t.id",
                synced_flag(kind)
            ));
            assert_eq!(by_subquery, joined, "{kind:?}");
            let synced = by_subquery.iter().filter(|(_, f)| *f == 1).count();
            assert!(synced > 0 && synced < by_subquery.len(), "{kind:?}");
        }
    }

    #[test]
    fn pending_removals_reads_the_changed_records_first_not_the_whole_export_state() {
        for kind in [Kind::Location, Kind::User, Kind::Si] {
            let sql = pending_removals_sql(kind).unwrap();
            let steps = plan(&sql);
            let first = steps.first().cloned().unwrap_or_default();
            assert!(
                first.starts_with("SEARCH t USING INDEX") && first.contains("updated_at>"),
                "{kind:?}: {steps:?}"
            );
            assert!(
                steps.iter().any(|s| s.starts_with("SEARCH s USING PRIMARY KEY")
                    && s.contains("item_id=?")),
                "{kind:?}: {steps:?}"
            );
        }
        assert!(pending_removals_sql(Kind::Tech).is_none());
    }
}
