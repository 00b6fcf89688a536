//! The row codec of the PostgreSQL engine: tables and columns of each kind, the generic
//! `SELECT` of a kind built from the field table (derived fields and reference labels
//! included), and the conversion between rows and values and [`Record`]s. The columns
//! are the SQLite engine's (integers for flags, `YYYY-MM-DD` text for dates), so both
//! engines read and write the same values.

use std::sync::OnceLock;

use chrono::NaiveDate;
use tokio_postgres::Row;

use super::conn::{Conn, Param, get};
use crate::error::{Error, Result};
use crate::fields::{self, FieldDef, Ty};
use crate::model::{Key, Kind, Record, Value};
use crate::store::sqlite::{AGENTS_CATEGORY, TECH_CATEGORY};

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

/// SQL for a field that is derived from other records rather than stored.
fn derived_sql(f: &FieldDef) -> String {
    match (f.kind, f.name) {
        (_, "key") => "NULL::text".into(),
        (Kind::Location | Kind::Si, "category") => {
            "(SELECT c.name FROM clients c WHERE c.id = t.client_id)".into()
        }
        (Kind::User, "category") => format!(
            "CASE WHEN t.kind = 'agent' THEN '{AGENTS_CATEGORY}' \
             ELSE (SELECT c.name FROM clients c WHERE c.id = t.client_id) END"
        ),
        (Kind::Tech, "category") => format!("'{TECH_CATEGORY}'::text"),
        (Kind::Si, "people") => "(SELECT string_agg(p.user_id::text, ',' ORDER BY p.user_id) \
             FROM si_people p WHERE p.si_id = t.id)"
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

/// Separates the names of several references in one label column (ASCII unit separator).
const LABEL_SEP: u32 = 31;

/// The display names of the records a field refers to; `None` for other fields.
fn ref_label_sql(f: &FieldDef) -> Option<String> {
    match f.ty {
        Ty::Ref(k) => Some(label_sql(
            k,
            &format!("t.{}", f.column.expect("stored ref")),
        )),
        Ty::Refs(Kind::User) => Some(format!(
            "(SELECT string_agg({}, chr({LABEL_SEP}) ORDER BY p.user_id) FROM si_people p \
             WHERE p.si_id = t.id)",
            label_sql(Kind::User, "p.user_id")
        )),
        _ => None,
    }
}

/// `SELECT t.id, <key number>, t.updated_at, <fields...>, <ref labels...> FROM <table> t`.
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
                    "SELECT t.id, t.{}, t.updated_at, {} FROM {} t",
                    key_column(k),
                    cols.join(", "),
                    table(k)
                )
            })
            .collect()
    });
    &all[Kind::ALL.iter().position(|&k| k == kind).expect("kind")]
}

fn read_value(f: &FieldDef, row: &Row, col: usize) -> Result<Value> {
    let bad = |what: String| Error::Db(format!("{}.{}: {what}", f.kind, f.name));
    Ok(match f.ty {
        Ty::Text | Ty::Choice(_) => match get::<Option<String>>(row, col)? {
            Some(s) => Value::Text(s),
            None => Value::Null,
        },
        Ty::Bool => match get::<Option<i64>>(row, col)? {
            Some(i) => Value::Bool(i != 0),
            None => Value::Null,
        },
        Ty::Int | Ty::Stamp => match get::<Option<i64>>(row, col)? {
            Some(i) => Value::Int(i),
            None => Value::Null,
        },
        Ty::Date => match get::<Option<String>>(row, col)? {
            Some(s) => Value::Date(
                NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| bad(format!("{s}: {e}")))?,
            ),
            None => Value::Null,
        },
        Ty::Ref(k) => match get::<Option<i64>>(row, col)? {
            Some(id) => Value::Ref(Key::new(k, id)),
            None => Value::Null,
        },
        Ty::Refs(k) => {
            let s: Option<String> = get(row, col)?;
            let mut keys = Vec::new();
            for part in s
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let id = part
                    .parse::<i64>()
                    .map_err(|e| bad(format!("{part}: {e}")))?;
                keys.push(Key::new(k, id));
            }
            Value::Refs(keys)
        }
    })
}

/// A record from a row of [`select_sql`] (more columns may follow).
pub(super) fn read_record(kind: Kind, row: &Row) -> Result<Record> {
    read_record_at(kind, row, 0)
}

/// [`read_record`] of a row whose record columns start at column `at`.
pub(super) fn read_record_at(kind: Kind, row: &Row, at: usize) -> Result<Record> {
    let key = Key::new(kind, get(row, at + 1)?);
    let updated_at = get(row, at + 2)?;
    let defs = fields::of(kind);
    let mut values = Vec::with_capacity(defs.len());
    for (i, f) in defs.iter().enumerate() {
        values.push(if f.name == "key" {
            Value::Text(key.to_string())
        } else {
            read_value(f, row, at + 3 + i)?
        });
    }
    let mut labels = Vec::new();
    let mut col = at + 3 + defs.len();
    for (i, f) in defs.iter().enumerate() {
        if ref_label_sql(f).is_some() {
            let names: Option<String> = get(row, col)?;
            col += 1;
            let names = names
                .map(|s| {
                    s.split(char::from_u32(LABEL_SEP).expect("separator"))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
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

pub(super) fn param(v: &Value) -> Param {
    match v {
        Value::Null | Value::Refs(_) => Param::Null,
        Value::Text(s) => Param::Text(s.clone()),
        Value::Bool(b) => Param::Int(*b as i64),
        Value::Int(i) => Param::Int(*i),
        Value::Date(d) => Param::Text(d.format("%Y-%m-%d").to_string()),
        Value::Ref(k) => Param::Int(k.id),
    }
}

/// Reads one record by key; `None` when it does not exist.
pub(super) fn load(conn: &Conn, key: Key) -> Result<Option<Record>> {
    let sql = format!(
        "{} WHERE t.{} = $1",
        select_sql(key.kind),
        key_column(key.kind)
    );
    match conn.query_opt(&sql, &[&key.id])? {
        Some(r) => Ok(Some(read_record(key.kind, &r)?)),
        None => Ok(None),
    }
}

pub(super) fn load_required(conn: &Conn, key: Key) -> Result<Record> {
    load(conn, key)?.ok_or_else(|| Error::NotFound(format!("{key} does not exist")))
}

/// The row id behind a key (SIs are keyed by number).
pub(super) fn row_id(conn: &Conn, key: Key) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT id FROM {} WHERE {} = $1",
        table(key.kind),
        key_column(key.kind)
    );
    conn.int(&sql, &[&key.id])
}
