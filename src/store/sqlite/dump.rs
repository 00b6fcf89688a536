//! Every row of a table read out column by column, for `smsync db copy` (which copies the
//! whole database into another engine): the table's columns, and its rows as [`Cell`]s in
//! primary-key order.

use rusqlite::types::ValueRef;

use super::SqliteStore;
use crate::error::{Error, Result};

/// One stored value (the schema is STRICT: integers and text only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// Runs `f` in one read transaction, so that every table it reads out is of one moment
/// (WAL: writers go on meanwhile, unseen).
pub fn in_snapshot<T>(store: &SqliteStore, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let conn = store.connection();
    conn.execute_batch("BEGIN DEFERRED")?;
    let out = f();
    // A read transaction commits nothing; ending it releases the snapshot.
    let ended = conn.execute_batch("COMMIT");
    let out = out?;
    ended?;
    Ok(out)
}

/// The columns of `table`, in their order.
pub fn columns(store: &SqliteStore, table: &str) -> Result<Vec<String>> {
    let conn = store.connection();
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let names = stmt
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    if names.is_empty() {
        return Err(Error::Db(format!(
            "the SQLite database has no table {table}"
        )));
    }
    Ok(names)
}

/// The number of rows of `table`.
pub fn count(store: &SqliteStore, table: &str) -> Result<u64> {
    let sql = format!("SELECT count(*) FROM \"{table}\"");
    Ok(store
        .connection()
        .query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
}

/// Calls `f` with each row of `table` (its `columns`), `order` being the SQL it is sorted by.
pub fn rows(
    store: &SqliteStore,
    table: &str,
    columns: &[String],
    order: &str,
    f: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
) -> Result<()> {
    let cols: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!(
        "SELECT {} FROM \"{table}\" ORDER BY {order}",
        cols.join(", ")
    );
    let conn = store.connection();
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            cells.push(match r.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(n) => Cell::Int(n),
                ValueRef::Text(t) => Cell::Text(String::from_utf8(t.to_vec()).map_err(|_| {
                    Error::Db(format!("{table}.{name} holds text that is not UTF-8"))
                })?),
                ValueRef::Real(_) | ValueRef::Blob(_) => {
                    return Err(Error::Db(format!(
                        "{table}.{name} holds a value that is neither integer nor text"
                    )));
                }
            });
        }
        f(cells)?;
    }
    Ok(())
}
