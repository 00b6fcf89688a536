//! `smsync db copy`: a whole SQLite database (records, journal, export state, stamps,
//! settings, runs, the change clock) copied into an empty PostgreSQL database in one
//! transaction, then the row count of every table compared. Ids, change times and journal
//! numbers are kept, so an export from either database writes the same files.

use serde::Serialize;
use tokio_postgres::types::ToSql;

use super::PgStore;
use super::conn::{Conn, Param, get};
use crate::error::{Error, Result};
use crate::store::sqlite::dump::{self, Cell};
use crate::store::{SqliteStore, Store};

/// Every table smsync keeps, parents before children, with the order its rows are read in.
const TABLES: &[(&str, &str)] = &[
    ("clients", "id"),
    ("locations", "id"),
    ("users", "id"),
    ("tech", "id"),
    ("sis", "id"),
    ("si_people", "si_id, user_id"),
    ("employees", "id"),
    ("export_state", "employee_id, item_kind, item_id"),
    ("journal", "id"),
    ("ingested", "profile, hash"),
    ("output_stamps", "employee_id, output"),
    ("runs", "id"),
];

/// Tables whose ids PostgreSQL generates: their sequences continue after the copied ids.
const GENERATED_IDS: &[&str] = &["journal", "runs"];

/// Rows per `INSERT`.
const ROWS: usize = 500;

/// What `db copy` copied: rows per table (equal in both databases) and the change clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
    pub clock: i64,
}

pub(super) fn counts(conn: &Conn) -> Result<Vec<(&'static str, u64)>> {
    TABLES
        .iter()
        .map(|(t, _)| {
            let n = conn
                .int(&format!("SELECT count(*) FROM {t}"), &[])?
                .unwrap_or(0);
            Ok((*t, n as u64))
        })
        .collect()
}

/// Copies `from` into the PostgreSQL database `to` names, which must be empty (its schema
/// is created when missing); checks the counts after the commit.
pub fn copy_from_sqlite(from: &SqliteStore, to: &str) -> Result<CopyReport> {
    let (pg, _, _) = PgStore::create(to)?;
    let place = pg.place().clone();
    let held: Vec<String> = counts(&pg.conn)?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{n} rows in {t}"))
        .collect();
    if !held.is_empty() || pg.clock()? != 0 {
        return Err(Error::invalid(format!(
            "{place} is not empty ({}); db copy only fills an empty database: create a new \
             one (createdb) and pass its URL to --to",
            if held.is_empty() {
                "its change clock has moved".to_string()
            } else {
                held.join(", ")
            }
        )));
    }
    // One snapshot of the SQLite database: what is copied, and the counts it must give.
    let (clock, want) = dump::in_snapshot(from, || {
        let clock = from.clock()?;
        let mut want = Vec::new();
        for (table, _) in TABLES {
            want.push(dump::count(from, table)?);
        }
        fill(from, &pg.conn, clock)?;
        Ok((clock, want))
    })?;
    // The check, on what was committed.
    let mut tables = Vec::new();
    for ((table, n), want) in counts(&pg.conn)?.into_iter().zip(want) {
        if n != want {
            return Err(Error::Db(format!(
                "after the copy, {place} holds {n} rows in {table} where the SQLite database \
                 holds {want}"
            )));
        }
        tables.push((table.to_string(), n));
    }
    let copied = pg.clock()?;
    if copied != clock {
        return Err(Error::Db(format!(
            "after the copy, the change clock of {place} is {copied}, not {clock}"
        )));
    }
    Ok(CopyReport { tables, clock })
}

/// Copies every table and the clock in one PostgreSQL transaction.
fn fill(from: &SqliteStore, conn: &Conn, clock: i64) -> Result<()> {
    conn.batch("BEGIN")?;
    let result = (|| {
        conn.query_one("SELECT value FROM meta WHERE key = 'clock' FOR UPDATE", &[])?;
        for (table, order) in TABLES {
            copy_table(from, conn, table, order)?;
        }
        conn.execute("UPDATE meta SET value = $1 WHERE key = 'clock'", &[&clock])?;
        for t in GENERATED_IDS {
            conn.batch(&format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), \
                 coalesce((SELECT max(id) FROM {t}), 0) + 1, false)"
            ))?;
        }
        conn.batch("COMMIT")
    })();
    if result.is_err() {
        let _ = conn.batch("ROLLBACK");
    }
    result
}

fn copy_table(from: &SqliteStore, conn: &Conn, table: &str, order: &str) -> Result<()> {
    let columns = dump::columns(from, table)?;
    let theirs: Vec<String> = conn
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
            &[&table],
        )?
        .iter()
        .map(|r| get(r, 0))
        .collect::<Result<_>>()?;
    let mut missing: Vec<&String> = columns.iter().filter(|c| !theirs.contains(c)).collect();
    missing.extend(theirs.iter().filter(|c| !columns.contains(c)));
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(Error::Db(format!(
            "table {table} differs between the two databases (columns {}); both must be at \
             this smsync's schema version",
            names.join(", ")
        )));
    }
    let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(ROWS);
    let flush = |batch: &mut Vec<Vec<Cell>>| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = columns.len();
        let rows: Vec<String> = (0..batch.len())
            .map(|r| {
                let marks: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            columns.join(", "),
            rows.join(", ")
        );
        let params: Vec<Param> = batch
            .drain(..)
            .flatten()
            .map(|c| match c {
                Cell::Null => Param::Null,
                Cell::Int(i) => Param::Int(i),
                Cell::Text(s) => Param::Text(s),
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        conn.execute(&sql, &refs)?;
        Ok(())
    };
    dump::rows(from, table, &columns, order, &mut |cells| {
        batch.push(cells);
        if batch.len() == ROWS {
            flush(&mut batch)?;
        }
        Ok(())
    })?;
    flush(&mut batch)
}
