//! The row codec of the SQLite engine: tables and columns of each kind, the generic
//! `SELECT` of a kind built from the field table (derived fields and reference labels
//! included), and the conversion between SQL rows and values and [`Record`]s.

use std::sync::OnceLock;

use chrono::NaiveDate;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::error::{Error, Result};
use crate::fields::{self, FieldDef, Ty};
use crate::model::{Key, Kind, Record, Value};

/// The category of service agents' contacts.
pub const AGENTS_CATEGORY: &str = "Service Agents";
/// The category of tech database contacts.
pub const TECH_CATEGORY: &str = "Tech Database";

pub(super) fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::Client => "clients",
        Kind::Location => "locations",
        Kind::User => "users",
        Kind::Tech => "tech",
        Kind::Si => "sis",
        Kind::Employee => "employees",
    }
}

/// The column whose value is the number in the record's key.
pub(super) fn key_column(kind: Kind) -> &'static str {
    if kind == Kind::Si { "number" } else { "id" }
}

/// The records a kind's select joins by primary key (alias, table, the record's column),
/// whose columns it reads instead of a subquery per column: a user's client name is its
/// category and its client's label, and its client's flag decides whether it is synced.
const JOINS: [(&str, &str, &str); 2] = [
    ("c", "clients", "client_id"),
    ("l", "locations", "location_id"),
];

/// The alias of the joined record that the reference column `column` of `kind` names.
fn joined(kind: Kind, column: &str) -> Option<&'static str> {
    let (alias, _, _) = JOINS.iter().find(|(_, _, c)| *c == column)?;
    fields::of(kind)
        .iter()
        .any(|f| f.column == Some(column) && matches!(f.ty, Ty::Ref(_)))
        .then_some(*alias)
}

/// `<table> t` and the joins of [`JOINS`] that `kind` has.
fn from_sql(kind: Kind) -> String {
    let mut from = format!("{} t", table(kind));
    for (alias, joined_table, column) in JOINS {
        if joined(kind, column).is_some() {
            from.push_str(&format!(
                " LEFT JOIN {joined_table} {alias} ON {alias}.id = t.{column}"
            ));
        }
    }
    from
}

/// SQL for a field that is derived from other records rather than stored.
fn derived_sql(f: &FieldDef) -> String {
    match (f.kind, f.name) {
        (_, "key") => "NULL".into(),
        (Kind::Location | Kind::Si, "category") => "c.name".into(),
        (Kind::User, "category") => {
            format!("CASE WHEN t.kind = 'agent' THEN '{AGENTS_CATEGORY}' ELSE c.name END")
        }
        (Kind::Tech, "category") => format!("'{TECH_CATEGORY}'"),
        (Kind::Si, "people") => "(SELECT group_concat(p.user_id, ',') FROM \
             (SELECT user_id FROM si_people WHERE si_id = t.id ORDER BY user_id) p)"
            .into(),
        (Kind::Employee, "profile") => {
            "(SELECT u.first_name || ' ' || u.last_name FROM users u WHERE u.id = t.user_id)".into()
        }
        (k, n) => unreachable!("no derivation for {k}.{n}"),
    }
}

/// SQL for the display name of a record of `kind` whose id is the SQL expression `id`.
fn label_sql(kind: Kind, id: &str) -> String {
    match kind {
        Kind::Client => format!("(SELECT x.name FROM clients x WHERE x.id = {id})"),
        Kind::Location => format!("(SELECT x.name FROM locations x WHERE x.id = {id})"),
        Kind::User => {
            format!("(SELECT x.first_name || ' ' || x.last_name FROM users x WHERE x.id = {id})")
        }
        k => unreachable!("no label for {k}"),
    }
}

/// The display names of the records a field refers to; `None` for other fields.
/// Whether a field has a label column ([`ref_label_sql`]): a cheap test for every row read.
fn has_ref_label(f: &FieldDef) -> bool {
    matches!(f.ty, Ty::Ref(_) | Ty::Refs(Kind::User))
}

fn ref_label_sql(f: &FieldDef) -> Option<String> {
    match f.ty {
        Ty::Ref(k) => {
            let column = f.column.expect("stored ref");
            Some(match joined(f.kind, column) {
                Some(alias) => format!("{alias}.name"),
                None => label_sql(k, &format!("t.{column}")),
            })
        }
        Ty::Refs(Kind::User) => Some(format!(
            "(SELECT group_concat(n, char({LABEL_SEP})) FROM (SELECT {} AS n FROM si_people p \
             WHERE p.si_id = t.id ORDER BY p.user_id))",
            label_sql(Kind::User, "p.user_id")
        )),
        _ => None,
    }
}

/// Separates the names of several references in one label column (ASCII unit separator).
const LABEL_SEP: u32 = 31;

/// `SELECT t.id, <key number>, t.updated_at, <fields...>, <ref labels...> FROM <table> t`
/// with the joins of [`JOINS`] (see [`from_sql`]).
pub(super) fn select_sql(kind: Kind) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        Kind::ALL
            .iter()
            .map(|&k| {
                let mut cols: Vec<String> = fields::of(k)
                    .iter()
                    .map(|f| match f.column {
                        Some(c) => format!("t.{c}"),
                        None => derived_sql(f),
                    })
                    .collect();
                cols.extend(fields::of(k).iter().filter_map(ref_label_sql));
                format!(
                    "SELECT t.id, t.{}, t.updated_at, {} FROM {}",
                    key_column(k),
                    cols.join(", "),
                    from_sql(k)
                )
            })
            .collect()
    });
    &all[Kind::ALL.iter().position(|&k| k == kind).expect("kind")]
}

fn conversion_error(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(msg),
    )
}

/// A text column, read from SQLite's value without rusqlite's conversions (a record read
/// makes about twenty); anything but text or NULL gives the error `Row::get` gives.
fn text(row: &Row, col: usize) -> rusqlite::Result<Option<String>> {
    match row.get_ref(col)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(b) => match std::str::from_utf8(b) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => row.get(col),
        },
        _ => row.get(col),
    }
}

fn read_value(f: &FieldDef, row: &Row, col: usize) -> rusqlite::Result<Value> {
    Ok(match f.ty {
        Ty::Text | Ty::Choice(_) => match text(row, col)? {
            Some(s) => Value::Text(s),
            None => Value::Null,
        },
        // NULL: an optional flag left unset (a per-profile setting at its default).
        Ty::Bool => match row.get::<_, Option<i64>>(col)? {
            Some(i) => Value::Bool(i != 0),
            None => Value::Null,
        },
        Ty::Int | Ty::Stamp => match row.get::<_, Option<i64>>(col)? {
            Some(i) => Value::Int(i),
            None => Value::Null,
        },
        Ty::Date => match row.get::<_, Option<String>>(col)? {
            Some(s) => Value::Date(
                NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .map_err(|e| conversion_error(col, format!("{}: {s}: {e}", f.name)))?,
            ),
            None => Value::Null,
        },
        Ty::Ref(k) => match row.get::<_, Option<i64>>(col)? {
            Some(id) => Value::Ref(Key::new(k, id)),
            None => Value::Null,
        },
        Ty::Refs(k) => {
            let s: Option<String> = row.get(col)?;
            let mut keys = Vec::new();
            for part in s
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let id = part
                    .parse::<i64>()
                    .map_err(|e| conversion_error(col, format!("{}: {part}: {e}", f.name)))?;
                keys.push(Key::new(k, id));
            }
            Value::Refs(keys)
        }
    })
}

pub(super) fn read_record(kind: Kind, row: &Row) -> rusqlite::Result<Record> {
    let key = Key::new(kind, row.get(1)?);
    let updated_at = row.get(2)?;
    let defs = fields::of(kind);
    let mut values = Vec::with_capacity(defs.len());
    for (i, f) in defs.iter().enumerate() {
        values.push(if f.name == "key" {
            Value::Text(key.text())
        } else {
            read_value(f, row, 3 + i)?
        });
    }
    let mut labels = Vec::new();
    let mut col = 3 + defs.len();
    for (i, f) in defs.iter().enumerate() {
        if has_ref_label(f) {
            let names = text(row, col)?;
            col += 1;
            let sep = char::from_u32(LABEL_SEP).expect("separator");
            let names = match names {
                // One name (every label but an SI's people): the text itself.
                Some(s) if !s.contains(sep) => vec![s],
                Some(s) => s.split(sep).map(str::to_string).collect(),
                None => Vec::new(),
            };
            labels.push((i, names));
        }
    }
    Ok(Record {
        key,
        updated_at,
        values,
        labels,
    })
}

pub(super) fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Null | Value::Refs(_) => SqlValue::Null,
        Value::Text(s) => SqlValue::Text(s.clone()),
        Value::Bool(b) => SqlValue::Integer(*b as i64),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Date(d) => SqlValue::Text(d.format("%Y-%m-%d").to_string()),
        Value::Ref(k) => SqlValue::Integer(k.id),
    }
}

/// The read of one record by its key. The key is `+?1`, an expression rather than a bare
/// parameter: SQLite prepares a statement again when a new value is bound to a bare
/// parameter it judged the plan may depend on (with STAT4 it compares bound values with a
/// partial index's condition, e.g. `locations_one_main`); the reads of a location, a user
/// and an SI were, and the read runs for every ingested item
/// (`tests::a_record_read_by_key_is_prepared_once_for_every_key`).
fn load_sql(kind: Kind) -> String {
    format!("{} WHERE t.{} = +?1", select_sql(kind), key_column(kind))
}

/// Reads one record by key; `None` when it does not exist.
pub(super) fn load(conn: &Connection, key: Key) -> Result<Option<Record>> {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| Kind::ALL.iter().map(|&k| load_sql(k)).collect());
    let sql = &all[Kind::ALL.iter().position(|&k| k == key.kind).expect("kind")];
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt
        .query_row([key.id], |r| read_record(key.kind, r))
        .optional()?)
}

pub(super) fn load_required(conn: &Connection, key: Key) -> Result<Record> {
    load(conn, key)?.ok_or_else(|| Error::NotFound(format!("{key} does not exist")))
}

/// The row id behind a key (SIs are keyed by number).
pub(super) fn row_id(conn: &Connection, key: Key) -> Result<Option<i64>> {
    if key.kind != Kind::Si {
        let sql = format!("SELECT id FROM {} WHERE id = ?1", table(key.kind));
        return Ok(conn
            .prepare_cached(&sql)?
            .query_row([key.id], |r| r.get(0))
            .optional()?);
    }
    Ok(conn
        .prepare_cached("SELECT id FROM sis WHERE number = ?1")?
        .query_row([key.id], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_read_by_key_is_prepared_once_for_every_key() {
        // SQLite prepares a statement again when a value bound to it may change its plan;
        // the read by key ran for every ingested item, and preparing it was most of the
        // ingest's time.
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO clients (id, name, active, updated_at) VALUES (1, 'On', 1, 1);
             INSERT INTO locations (id, client_id, name, is_main, active, updated_at) VALUES \
             (1, 1, 'a', 1, 1, 1), (2, 1, 'b', 0, 1, 1);
             INSERT INTO users (id, kind, client_id, first_name, last_name, \
             active, updated_at) VALUES (1, 'client', 1, 'A', 'B', 1, 1), \
             (2, 'client', 1, 'C', 'D', 1, 1), (3, 'agent', NULL, 'E', 'F', 1, 1);",
        )
        .unwrap();
        let again: Vec<(Kind, i32)> = Kind::ALL
            .iter()
            .map(|&kind| {
                for id in 1..=3 {
                    load(&conn, Key::new(kind, id)).unwrap();
                }
                let stmt = conn.prepare_cached(&load_sql(kind)).unwrap();
                (kind, stmt.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        assert!(
            again.is_empty(),
            "prepared again for another key: {again:?}"
        );
        // And it still finds the row by its key.
        for &kind in Kind::ALL.iter() {
            let plan: String = conn
                .query_row(
                    &format!("EXPLAIN QUERY PLAN {}", load_sql(kind)),
                    [0],
                    |r| r.get(3),
                )
                .unwrap();
            assert!(plan.starts_with("SEARCH t USING"), "{kind:?}: {plan}");
        }
    }

    #[test]
    fn the_label_test_agrees_with_the_label_columns() {
        // read_record finds the label columns by `has_ref_label`; select_sql adds them by
        // `ref_label_sql`.
        for &kind in Kind::ALL.iter() {
            for f in fields::of(kind) {
                assert_eq!(
                    has_ref_label(f),
                    ref_label_sql(f).is_some(),
                    "{kind:?} {}",
                    f.name
                );
            }
        }
    }
}
