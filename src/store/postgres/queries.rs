//! The read queries of the PostgreSQL engine: the synced-set predicates, the [`Lookup`]
//! queries (on a connection or inside a write transaction), change pages, the synced set,
//! counts, profiles, the clock, the journal and the runs. Loops over many rows read them
//! in pages by key, so the caller's closure may read the database again.

use tokio_postgres::Row;

use super::codec::{key_column, load, read_record, read_record_at, select_sql, table};
use super::conn::{Conn, get};
use crate::error::{Error, Result};
use crate::model::{Key, Kind, Record};
use crate::store::{
    Changed, Cursor, Exported, JournalEntry, Lookup, OutputStamps, Profile, RUNS_KEPT,
    RemovalFacts, RunKind, RunOutcome, RunRecord, Settings, SyncCounts,
};

/// Rows per page of the loops over a whole kind.
const PAGE: i64 = 2000;

/// SQL predicates (over alias `t`) of the records that go to Outlook (SPEC §1, §3). The
/// client's flag is a scalar look-up by its key: an `EXISTS` here became a hash of every
/// active client, built again for each page of an export.
fn synced_predicate(kind: Kind) -> &'static str {
    match kind {
        Kind::Location => {
            "t.active = 1 AND coalesce((SELECT c.active FROM clients c WHERE c.id = t.client_id), 0) = 1"
        }
        Kind::User => {
            "t.active = 1 AND (t.kind = 'agent' OR coalesce((SELECT c.active FROM clients c \
             WHERE c.id = t.client_id), 0) = 1)"
        }
        Kind::Tech => "TRUE",
        Kind::Si => "t.status IN ('In Progress', 'Completion Requested')",
        Kind::Client | Kind::Employee => "FALSE",
    }
}

fn exported_at(row: &Row, first: usize) -> Result<Option<Exported>> {
    Ok(match get::<Option<i64>>(row, first)? {
        Some(hash) => Some(Exported {
            hash: hash as u64,
            status: get(row, first + 1)?,
            values: get(row, first + 2)?,
            updated_at: get(row, first + 3)?,
            held: bits(get(row, first + 4)?)?,
            current: bits(get(row, first + 5)?)?,
        }),
        None => None,
    })
}

fn bits(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Db(format!("export state holds an invalid bit set {v}")))
}

impl Lookup for Conn {
    fn client_by_name(&self, name: &str) -> Result<Option<Key>> {
        Ok(self
            .int("SELECT id FROM clients WHERE name = $1", &[&name])?
            .map(|id| Key::new(Kind::Client, id)))
    }

    fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>> {
        let rows = self.query(
            "SELECT id, active FROM clients WHERE lower(name) = lower($1) ORDER BY id",
            &[&name.trim()],
        )?;
        rows.iter()
            .map(|r| Ok((Key::new(Kind::Client, get(r, 0)?), get::<i64>(r, 1)? != 0)))
            .collect()
    }

    fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Ok(self
            .int(
                "SELECT id FROM locations WHERE client_id = $1 AND lower(name) = lower($2) \
                 ORDER BY id LIMIT 1",
                &[&client.id, &name.trim()],
            )?
            .map(|id| Key::new(Kind::Location, id)))
    }

    fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>> {
        let rows = self.query(
            "SELECT id FROM users WHERE lower(first_name || ' ' || last_name) = lower($2) \
             AND (kind = 'agent' OR client_id = $1) ORDER BY id",
            &[&client.id, &name.trim()],
        )?;
        rows.iter()
            .map(|r| Ok(Key::new(Kind::User, get(r, 0)?)))
            .collect()
    }

    fn si_by_uid(&self, uid: &str) -> Result<Option<Key>> {
        Ok(self
            .int("SELECT number FROM sis WHERE uid = $1", &[&uid])?
            .map(|n| Key::new(Kind::Si, n)))
    }

    fn find(&self, key: Key) -> Result<Option<Record>> {
        load(self, key)
    }

    fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
        match self.query_opt(
            "SELECT hash, status, vals, updated_at, held, current FROM export_state \
             WHERE employee_id = $1 AND item_kind = $2 AND item_id = $3",
            &[&employee.id, &item.kind.name(), &item.id],
        )? {
            Some(r) => exported_at(&r, 0),
            None => Ok(None),
        }
    }

    fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
        match self.query_opt(
            "SELECT file, at FROM ingested WHERE profile = $1 AND hash = $2",
            &[&profile, &hash],
        )? {
            Some(r) => Ok(Some((get(&r, 0)?, get(&r, 1)?))),
            None => Ok(None),
        }
    }
}

/// [`Lookup::ingested`] of many content hashes at once: the ones ingested, by hash.
pub(super) fn ingested_many(
    conn: &Conn,
    profile: &str,
    hashes: &[&str],
) -> Result<Vec<(String, String, i64)>> {
    // One look-up by the primary key per hash, whatever the statistics say: during a large
    // ingest they still describe the table as it was before it (nearly empty), and with
    // `hash = ANY($2)` the planner scanned the whole table for every batch (720 ms a batch
    // of 500 once the run had recorded 100,000 files).
    let hashes: Vec<&str> = hashes.to_vec();
    conn.query(
        "SELECT h.hash, i.file, i.at FROM unnest($2::text[]) AS h(hash) \
         JOIN LATERAL (SELECT file, at FROM ingested x \
         WHERE x.profile = $1 AND x.hash = h.hash LIMIT 1) i ON TRUE",
        &[&profile, &hashes],
    )?
    .iter()
    .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?)))
    .collect()
}

/// Calls `f` for every row of `select` (which selects `t.id` first) matching `filter`, in
/// key order, a page at a time.
fn for_each_where(
    conn: &Conn,
    kind: Kind,
    filter: &str,
    f: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    let key = key_column(kind);
    let sql = format!(
        "{} WHERE {filter} AND t.{key} > $1 ORDER BY t.{key} LIMIT $2",
        select_sql(kind)
    );
    let mut after = i64::MIN;
    loop {
        // In key order whatever the statistics say (see `changes`): with the statistics
        // of an empty table (after a seed, a `db copy`), the planner joined and sorted the
        // whole table for every page (100 ms a page of 200,000 users; a reconcile took
        // five times SQLite's time).
        conn.defer_batch("SET enable_sort = off");
        let rows = conn.query(&sql, &[&after, &PAGE]);
        conn.defer_batch("RESET enable_sort");
        let rows = rows?;
        let n = rows.len();
        for r in rows {
            let rec = read_record(kind, &r)?;
            after = rec.key.id;
            f(rec)?;
        }
        if (n as i64) < PAGE {
            return Ok(());
        }
    }
}

pub(super) fn for_each(
    conn: &Conn,
    kind: Kind,
    f: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    for_each_where(conn, kind, "TRUE", f)
}

pub(super) fn for_each_synced(
    conn: &Conn,
    kind: Kind,
    f: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    for_each_where(conn, kind, synced_predicate(kind), f)
}

pub(super) fn count(conn: &Conn, kind: Kind) -> Result<u64> {
    let sql = format!("SELECT count(*) FROM {}", table(kind));
    Ok(conn.int(&sql, &[])?.unwrap_or(0) as u64)
}

pub(super) fn profiles(conn: &Conn) -> Result<Vec<Profile>> {
    let rows = conn.query(
        // The name by the user's key, row by row: as a join, a plan made before the
        // statistics knew how many users there are hashed all of them.
        "SELECT e.id, e.user_id, (SELECT u.first_name || ' ' || u.last_name FROM users u \
         WHERE u.id = e.user_id), e.contacts_stamp, \
         e.tasks_stamp, e.active, e.folder, e.date_format, e.csv_language, e.csv_encoding, \
         e.vcard_version, e.outputs, e.full_csv_limit, e.csv_safe, e.removal_guard_percent, \
         e.removal_guard_min, e.change_guard_percent, e.change_guard_min, e.blank_guard_max \
         FROM employees e ORDER BY e.id",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Profile {
                employee: Key::new(Kind::Employee, get(r, 0)?),
                user: Key::new(Kind::User, get(r, 1)?),
                name: get(r, 2)?,
                contacts_stamp: get(r, 3)?,
                tasks_stamp: get(r, 4)?,
                active: get::<i64>(r, 5)? != 0,
                folder: get(r, 6)?,
                settings: Settings {
                    date_format: get(r, 7)?,
                    csv_language: get(r, 8)?,
                    csv_encoding: get(r, 9)?,
                    vcard_version: get(r, 10)?,
                    outputs: get(r, 11)?,
                    full_csv_limit: get(r, 12)?,
                    csv_safe: get::<Option<i64>>(r, 13)?.map(|b| b != 0),
                    removal_guard_percent: get(r, 14)?,
                    removal_guard_min: get(r, 15)?,
                    change_guard_percent: get(r, 16)?,
                    change_guard_min: get(r, 17)?,
                    blank_guard_max: get(r, 18)?,
                },
            })
        })
        .collect()
}

pub(super) fn clock(conn: &Conn) -> Result<i64> {
    conn.int("SELECT value FROM meta WHERE key = 'clock'", &[])?
        .ok_or_else(|| Error::Db("the clock row of table meta is missing".into()))
}

pub(super) fn max_change(conn: &Conn) -> Result<i64> {
    let parts: Vec<String> = [
        Kind::Client,
        Kind::Location,
        Kind::User,
        Kind::Tech,
        Kind::Si,
        Kind::Employee,
    ]
    .iter()
    .map(|k| format!("(SELECT max(updated_at) FROM {})", table(*k)))
    .collect();
    let sql = format!("SELECT coalesce(greatest({}), 0)", parts.join(", "));
    Ok(conn.int(&sql, &[])?.unwrap_or(0))
}

/// A record by key with a profile's export state of it, in one statement: what an ingest
/// asks for each item, one after the other (`None` when the record does not exist). The
/// state is a look-up by its primary key whatever the statistics say (see `changes`).
pub(super) fn find_with_state(
    conn: &Conn,
    key: Key,
    employee: Key,
) -> Result<Option<(Record, Option<Exported>)>> {
    let base = select_sql(key.kind);
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    let sql = format!(
        "{cols}, s.hash, s.status, s.vals, s.updated_at, s.held, s.current \
         FROM {from} LEFT JOIN LATERAL (SELECT x.hash, x.status, x.vals, x.updated_at, \
         x.held, x.current FROM export_state x WHERE x.employee_id = $2 \
         AND x.item_kind = $3 AND x.item_id = t.{key} LIMIT 1) s ON TRUE WHERE t.{key} = $1",
        key = key_column(key.kind)
    );
    match conn.query_opt(&sql, &[&key.id, &employee.id, &key.kind.name()])? {
        Some(row) => {
            let record = read_record(key.kind, &row)?;
            let state = exported_at(&row, row.len() - 6)?;
            Ok(Some((record, state)))
        }
        None => Ok(None),
    }
}

/// [`find_with_state`] of many records of one kind at once (by their key numbers), in no
/// particular order; a key without a record is not in the answer.
pub(super) fn find_many_with_state(
    conn: &Conn,
    kind: Kind,
    ids: &[i64],
    employee: Key,
) -> Result<Vec<(Record, Option<Exported>)>> {
    let base = select_sql(kind);
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    let sql = format!(
        "{cols}, s.hash, s.status, s.vals, s.updated_at, s.held, s.current \
         FROM {from} LEFT JOIN LATERAL (SELECT x.hash, x.status, x.vals, x.updated_at, \
         x.held, x.current FROM export_state x WHERE x.employee_id = $2 \
         AND x.item_kind = $3 AND x.item_id = t.{key} LIMIT 1) s ON TRUE \
         WHERE t.{key} = ANY($1)",
        key = key_column(kind)
    );
    let ids = ids.to_vec();
    conn.query(&sql, &[&ids, &employee.id, &kind.name()])?
        .iter()
        .map(|row| {
            let record = read_record(kind, row)?;
            let state = exported_at(row, row.len() - 6)?;
            Ok((record, state))
        })
        .collect()
}

pub(super) fn changes(
    conn: &Conn,
    kind: Kind,
    employee: Key,
    since: Option<i64>,
    upto: i64,
    after: Cursor,
    limit: usize,
) -> Result<Vec<Changed>> {
    // The profile's export state comes with each record (one query per page). The row
    // value `(updated_at, id) > (…)` seeks on the `(updated_at, id)` index past the cursor,
    // however many records share its change time. The export state is a lateral look-up
    // by its primary key: as a plain join, a plan made while the table was empty (a first
    // export fills it as it goes) scanned all of the profile's rows for every record, and
    // the first export of 100,000 contacts spent 7 s there.
    let base = select_sql(kind);
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    let sql = format!(
        "{cols}, ({pred}), s.hash, s.status, s.vals, s.updated_at, s.held, s.current \
         FROM {from} LEFT JOIN LATERAL (SELECT x.hash, x.status, x.vals, x.updated_at, \
         x.held, x.current FROM export_state x WHERE x.employee_id = $4 \
         AND x.item_kind = $5 AND x.item_id = t.{key} LIMIT 1) s ON TRUE \
         WHERE (t.updated_at, t.id) > ($1, $2) AND t.updated_at <= $3 \
         ORDER BY t.updated_at, t.id LIMIT $6",
        pred = synced_predicate(kind),
        key = key_column(kind)
    );
    // One lower bound, the later of the cursor and the start of the range (`updated_at >
    // since` is `(updated_at, id) > (since, MAX)`): given both, the index scan started at
    // the row value's and read every earlier entry (17 ms a page at 1,000,000 users for
    // an export with nothing to write; EXPLAIN ANALYZE).
    let since = since.unwrap_or(i64::MIN);
    let start = (after.updated_at, after.row).max((since, i64::MAX));
    let limit = limit.min(i64::MAX as usize) as i64;
    // The page is read in the index's order whatever the statistics say: while they are
    // stale (right after a seed, a `db copy` or a mass ingest, until autovacuum analyses
    // the table), the planner took the matching rows for a few, read all of them with their
    // export state and sorted them for each page: a first export was quadratic (450 ms a
    // page of 2,000 among 60,000 users, 8 ms in index order; EXPLAIN ANALYZE). The settings
    // go out with the query and back after it, in the same round trips.
    conn.defer_batch("SET enable_sort = off");
    let rows = conn.query(
        &sql,
        &[
            &start.0,
            &start.1,
            &upto,
            &employee.id,
            &kind.name(),
            &limit,
        ],
    );
    conn.defer_batch("RESET enable_sort");
    let rows = rows?;
    rows.iter().map(|row| changed_at(kind, row, 0)).collect()
}

/// A record's columns from column `at` on, then its synced-set flag and the six
/// export-state columns.
fn changed_at(kind: Kind, row: &Row, at: usize) -> Result<Changed> {
    let record = read_record_at(kind, row, at)?;
    let n = row.len();
    Ok(Changed {
        cursor: Cursor {
            updated_at: record.updated_at,
            row: get(row, at)?,
        },
        in_set: get(row, n - 7)?,
        exported: exported_at(row, n - 6)?,
        record,
    })
}

pub(super) fn exported_count(
    conn: &Conn,
    employee: Key,
    kinds: &[Kind],
    limit: u64,
) -> Result<u64> {
    let limit = limit.min(i64::MAX as u64) as i64;
    let mut n = 0;
    for k in kinds {
        n += conn
            .int(
                "SELECT count(*) FROM (SELECT 1 FROM export_state \
                 WHERE employee_id = $1 AND item_kind = $2 LIMIT $3) x",
                &[&employee.id, &k.name(), &limit],
            )?
            .unwrap_or(0) as u64;
    }
    Ok(n)
}

pub(super) fn in_synced_set(conn: &Conn, key: Key) -> Result<bool> {
    let sql = format!(
        "SELECT {} FROM {} t WHERE t.{} = $1",
        synced_predicate(key.kind),
        table(key.kind),
        key_column(key.kind)
    );
    match conn.query_opt(&sql, &[&key.id])? {
        Some(r) => get(&r, 0),
        None => Ok(false),
    }
}

pub(super) fn dirty_changes(
    conn: &Conn,
    employee: Key,
    kind: Kind,
    outputs: u32,
) -> Result<Vec<(Key, Option<Changed>)>> {
    // The stale rows, each with its record when it still exists (one statement, where
    // the items one by one were three each).
    let base = select_sql(kind);
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    let sql = format!(
        "SELECT s.item_id, r.* FROM export_state s LEFT JOIN LATERAL ({cols}, ({pred}), \
         s.hash, s.status, s.vals, s.updated_at, s.held, s.current FROM {from} \
         WHERE t.{key} = s.item_id) r ON TRUE \
         WHERE s.employee_id = $1 AND s.held <> s.current AND s.item_kind = $2 \
         AND (s.held & ~s.current & $3) <> 0 ORDER BY s.item_id",
        pred = synced_predicate(kind),
        key = key_column(kind)
    );
    let rows = conn.query(&sql, &[&employee.id, &kind.name(), &(outputs as i64)])?;
    rows.iter()
        .map(|row| {
            let key = Key::new(kind, get(row, 0)?);
            // A record that is gone leaves every column of the lateral NULL, its id first.
            if get::<Option<i64>>(row, 1)?.is_none() {
                return Ok((key, None));
            }
            Ok((key, Some(changed_at(kind, row, 1)?)))
        })
        .collect()
}

/// The columns [`journal_row`] reads, in its order.
const JOURNAL_COLUMNS: &str =
    "id, at, source, profile, file, item, field, old_value, new_value, outcome, reason, run";

fn journal_row(r: &Row) -> Result<JournalEntry> {
    Ok(JournalEntry {
        id: get(r, 0)?,
        at: get(r, 1)?,
        source: get(r, 2)?,
        profile: get(r, 3)?,
        file: get(r, 4)?,
        item: get(r, 5)?,
        field: get(r, 6)?,
        old_value: get(r, 7)?,
        new_value: get(r, 8)?,
        outcome: get(r, 9)?,
        reason: get(r, 10)?,
        run: get(r, 11)?,
    })
}

pub(super) fn journal_entries(
    conn: &Conn,
    profile: Option<&str>,
    limit: usize,
    f: &mut dyn FnMut(JournalEntry) -> Result<()>,
) -> Result<()> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = match profile {
        Some(p) => conn.query(
            &format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal WHERE profile = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[&p, &limit],
        )?,
        None => conn.query(
            &format!("SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY id DESC LIMIT $1"),
            &[&limit],
        )?,
    };
    for r in &rows {
        f(journal_row(r)?)?;
    }
    Ok(())
}

pub(super) fn journal_of_run(conn: &Conn, run: &str) -> Result<Vec<JournalEntry>> {
    let rows = conn.query(
        &format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE run = $1 ORDER BY id"),
        &[&run],
    )?;
    rows.iter().map(journal_row).collect()
}

pub(super) fn later_change(
    conn: &Conn,
    item: &str,
    field: &str,
    after: i64,
) -> Result<Option<JournalEntry>> {
    match conn.query_opt(
        &format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE id > $3 AND item = $1 AND field = $2 \
             AND outcome = 'changed' ORDER BY id LIMIT 1"
        ),
        &[&item, &field, &after],
    )? {
        Some(r) => Ok(Some(journal_row(&r)?)),
        None => Ok(None),
    }
}

pub(super) fn pending_removals(
    conn: &Conn,
    employee: Key,
    kind: Kind,
    since: Option<i64>,
    upto: i64,
    outputs: u32,
) -> Result<Vec<RemovalFacts>> {
    // (own active flag, client id, client active, status) of each kind.
    let (cols, join, extra) = match kind {
        Kind::Location => (
            "t.active, t.client_id, c.active, NULL::text",
            "JOIN clients c ON c.id = t.client_id",
            "",
        ),
        Kind::User => (
            "t.active, t.client_id, c.active, NULL::text",
            "LEFT JOIN clients c ON c.id = t.client_id",
            "",
        ),
        Kind::Si => (
            "NULL::bigint, t.client_id, c.active, t.status",
            "JOIN clients c ON c.id = t.client_id",
            "AND t.status <> 'Closed'",
        ),
        // Tech entries never leave the set; clients and employees are not items.
        _ => return Ok(Vec::new()),
    };
    // From the records changed since the stamps (the `updated_at` index) to their export
    // state by its primary key, whatever the statistics say: with the export state as the
    // outer side, a plan made before they knew a first export had filled it read every
    // state row of the profile (355 ms of an export with no change over 100,000 contacts).
    let sql = format!(
        "SELECT t.{key}, {cols} FROM {table} t {join} \
         JOIN LATERAL (SELECT x.held FROM export_state x WHERE x.employee_id = $1 \
         AND x.item_kind = $2 AND x.item_id = t.{key} LIMIT 1) s ON TRUE \
         WHERE t.updated_at > $3 AND t.updated_at <= $4 AND (s.held & $5) <> 0 \
         AND NOT ({pred}) {extra} ORDER BY t.{key}",
        key = key_column(kind),
        table = table(kind),
        pred = synced_predicate(kind),
    );
    let rows = conn.query(
        &sql,
        &[
            &employee.id,
            &kind.name(),
            &since.unwrap_or(i64::MIN),
            &upto,
            &(outputs as i64),
        ],
    )?;
    rows.iter()
        .map(|r| {
            let client: Option<i64> = get(r, 2)?;
            let client_active: Option<i64> = get(r, 3)?;
            let status: Option<String> = get(r, 4)?;
            Ok(RemovalFacts {
                key: Key::new(kind, get(r, 0)?),
                active: get::<Option<i64>>(r, 1)?.map(|a| a != 0),
                client: client.map(|c| (Key::new(Kind::Client, c), client_active == Some(1))),
                status: status.and_then(|s| s.parse().ok()),
            })
        })
        .collect()
}

pub(super) fn sync_counts(conn: &Conn, p: &Profile) -> Result<SyncCounts> {
    let count = |kinds: &[Kind], stamp: Option<i64>| -> Result<(u64, u64)> {
        let (mut synced, mut pending) = (0u64, 0u64);
        for &k in kinds {
            let pred = synced_predicate(k);
            let sql = format!("SELECT count(*) FROM {} t WHERE {pred}", table(k));
            let n = conn.int(&sql, &[])?.unwrap_or(0) as u64;
            synced += n;
            pending += match stamp {
                None => n,
                Some(s) => {
                    let sql = format!(
                        "SELECT count(*) FROM {} t WHERE t.updated_at > $1",
                        table(k)
                    );
                    conn.int(&sql, &[&s])?.unwrap_or(0) as u64
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

pub(super) fn output_stamps(conn: &Conn, employee: Key) -> Result<Vec<OutputStamps>> {
    let rows = conn.query(
        "SELECT output, contacts_stamp, tasks_stamp FROM output_stamps \
         WHERE employee_id = $1 ORDER BY output",
        &[&employee.id],
    )?;
    rows.iter()
        .map(|r| {
            Ok(OutputStamps {
                output: bits(get(r, 0)?)?,
                contacts: get(r, 1)?,
                tasks: get(r, 2)?,
            })
        })
        .collect()
}

pub(super) fn record_run(conn: &Conn, run: &RunRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO runs (profile, kind, started, finished, outcome, summary) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &run.profile,
            &run.kind.as_str(),
            &run.started,
            &run.finished,
            &run.outcome.as_str(),
            &run.summary,
        ],
    )?;
    conn.execute(
        "DELETE FROM runs WHERE profile = $1 AND id <= \
         (SELECT id FROM runs WHERE profile = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        &[&run.profile, &(RUNS_KEPT as i64)],
    )?;
    Ok(())
}

pub(super) fn runs(conn: &Conn, profile: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = conn.query(
        "SELECT id, profile, kind, started, finished, outcome, summary FROM runs \
         WHERE $1::text IS NULL OR profile = $1 ORDER BY id DESC LIMIT $2",
        &[&profile, &limit],
    )?;
    rows.iter()
        .map(|r| {
            let kind: String = get(r, 2)?;
            let outcome: String = get(r, 5)?;
            let bad = |what: &str, v: &str| {
                Error::Db(format!(
                    "the runs table holds an unknown {what} '{v}'; was it written by a newer smsync?"
                ))
            };
            Ok(RunRecord {
                id: get(r, 0)?,
                profile: get(r, 1)?,
                kind: RunKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
                started: get(r, 3)?,
                finished: get(r, 4)?,
                outcome: RunOutcome::parse(&outcome).ok_or_else(|| bad("outcome", &outcome))?,
                summary: get(r, 6)?,
            })
        })
        .collect()
}
