//! The embedded SQLite engine of the storage layer: connection settings, the generic
//! record codec between SQL rows and [`Record`]s (driven by the field table), the Service
//! Master rules that a write must keep, and the cascades of SPEC §1.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    Assignment, Changed, Cursor, Exported, JournalEntry, Lookup, Outcome, OutputStamps, Profile,
    Source, Store, SyncCounts, Writer, schema,
};
use crate::error::{Error, Result};
use crate::fields::{self, Access, FieldDef, Ty};
use crate::model::{Key, Kind, Record, Value};

/// The category of service agents' contacts.
pub const AGENTS_CATEGORY: &str = "Service Agents";
/// The category of tech database contacts.
pub const TECH_CATEGORY: &str = "Tech Database";

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

fn table(kind: Kind) -> &'static str {
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
fn key_column(kind: Kind) -> &'static str {
    if kind == Kind::Si { "number" } else { "id" }
}

/// SQL for a field that is derived from other records rather than stored.
fn derived_sql(f: &FieldDef) -> String {
    match (f.kind, f.name) {
        (_, "key") => "NULL".into(),
        (Kind::Location | Kind::Si, "category") => {
            "(SELECT c.name FROM clients c WHERE c.id = t.client_id)".into()
        }
        (Kind::User, "category") => format!(
            "CASE WHEN t.kind = 'agent' THEN '{AGENTS_CATEGORY}' \
             ELSE (SELECT c.name FROM clients c WHERE c.id = t.client_id) END"
        ),
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
fn ref_label_sql(f: &FieldDef) -> Option<String> {
    match f.ty {
        Ty::Ref(k) => Some(label_sql(
            k,
            &format!("t.{}", f.column.expect("stored ref")),
        )),
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

/// `SELECT t.id, <key number>, t.updated_at, <fields...>, <ref labels...> FROM <table> t`.
fn select_sql(kind: Kind) -> &'static str {
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

/// The select of [`select_sql`] with the synced-set flag as its last column.
fn select_with_flag(kind: Kind) -> String {
    let base = select_sql(kind);
    // The table's own FROM is the last one: the column list holds the subqueries.
    let (cols, from) = base.rsplit_once(" FROM ").expect("select");
    format!("{cols}, ({}) FROM {from}", synced_predicate(kind))
}

fn conversion_error(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(msg),
    )
}

fn read_value(f: &FieldDef, row: &Row, col: usize) -> rusqlite::Result<Value> {
    Ok(match f.ty {
        Ty::Text | Ty::Choice(_) => match row.get::<_, Option<String>>(col)? {
            Some(s) => Value::Text(s),
            None => Value::Null,
        },
        Ty::Bool => Value::Bool(row.get::<_, i64>(col)? != 0),
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

fn read_record(kind: Kind, row: &Row) -> rusqlite::Result<Record> {
    let key = Key::new(kind, row.get(1)?);
    let updated_at = row.get(2)?;
    let defs = fields::of(kind);
    let mut values = Vec::with_capacity(defs.len());
    for (i, f) in defs.iter().enumerate() {
        values.push(if f.name == "key" {
            Value::Text(key.to_string())
        } else {
            read_value(f, row, 3 + i)?
        });
    }
    let mut labels = Vec::new();
    let mut col = 3 + defs.len();
    for (i, f) in defs.iter().enumerate() {
        if ref_label_sql(f).is_some() {
            let names: Option<String> = row.get(col)?;
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

fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Null | Value::Refs(_) => SqlValue::Null,
        Value::Text(s) => SqlValue::Text(s.clone()),
        Value::Bool(b) => SqlValue::Integer(*b as i64),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Date(d) => SqlValue::Text(d.format("%Y-%m-%d").to_string()),
        Value::Ref(k) => SqlValue::Integer(k.id),
    }
}

/// Reads one record by key; `None` when it does not exist.
fn load(conn: &Connection, key: Key) -> Result<Option<Record>> {
    let sql = format!(
        "{} WHERE t.{} = ?1",
        select_sql(key.kind),
        key_column(key.kind)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt
        .query_row([key.id], |r| read_record(key.kind, r))
        .optional()?)
}

fn load_required(conn: &Connection, key: Key) -> Result<Record> {
    load(conn, key)?.ok_or_else(|| Error::NotFound(format!("{key} does not exist")))
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

/// Implements [`Lookup`] by handing every call to the connection.
macro_rules! lookup_via_connection {
    ($t:ty) => {
        impl Lookup for $t {
            fn client_by_name(&self, name: &str) -> Result<Option<Key>> {
                Lookup::client_by_name(self.conn(), name)
            }
            fn clients_named(&self, name: &str) -> Result<Vec<(Key, bool)>> {
                Lookup::clients_named(self.conn(), name)
            }
            fn location_named(&self, client: Key, name: &str) -> Result<Option<Key>> {
                Lookup::location_named(self.conn(), client, name)
            }
            fn people_named(&self, client: Key, name: &str) -> Result<Vec<Key>> {
                Lookup::people_named(self.conn(), client, name)
            }
            fn si_by_uid(&self, uid: &str) -> Result<Option<Key>> {
                Lookup::si_by_uid(self.conn(), uid)
            }
            fn find(&self, key: Key) -> Result<Option<Record>> {
                Lookup::find(self.conn(), key)
            }
            fn exported(&self, employee: Key, item: Key) -> Result<Option<Exported>> {
                Lookup::exported(self.conn(), employee, item)
            }
            fn ingested(&self, profile: &str, hash: &str) -> Result<Option<(String, i64)>> {
                Lookup::ingested(self.conn(), profile, hash)
            }
        }
    };
}

lookup_via_connection!(SqliteStore);

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

/// The row id behind a key (SIs are keyed by number).
fn row_id(conn: &Connection, key: Key) -> Result<Option<i64>> {
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

/// A full set of values for one record of a kind, being built or changed.
struct Draft {
    kind: Kind,
    values: Vec<Value>,
}

impl Draft {
    fn defaults(kind: Kind) -> Self {
        let values = fields::of(kind)
            .iter()
            .map(|f| match (kind, f.name) {
                (_, "active") => Value::Bool(true),
                (Kind::Location, "main") => Value::Bool(false),
                (Kind::Si, "status") => Value::Text("In Progress".into()),
                (Kind::Si, "priority") => Value::Text("Normal".into()),
                (_, _) if matches!(f.ty, Ty::Refs(_)) => Value::Refs(Vec::new()),
                _ => Value::Null,
            })
            .collect();
        Draft { kind, values }
    }

    fn get(&self, name: &str) -> &Value {
        &self.values[fields::index(self.kind, name).expect("field")]
    }

    fn set(&mut self, name: &str, v: Value) {
        let i = fields::index(self.kind, name).expect("field");
        self.values[i] = v;
    }

    fn is_null(&self, name: &str) -> bool {
        self.get(name).is_null()
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).as_bool().unwrap_or(false)
    }

    fn apply(&mut self, values: &[Assignment], adding: bool) -> Result<()> {
        for (f, v) in values {
            if f.kind != self.kind {
                return Err(Error::invalid(format!(
                    "field {}.{} does not belong to a {}",
                    f.kind, f.name, self.kind
                )));
            }
            match f.access {
                Access::Auto => {
                    return Err(Error::invalid(format!(
                        "{}.{} is kept by smsync and cannot be set",
                        self.kind, f.name
                    )));
                }
                Access::Fixed { .. } if !adding => {
                    return Err(Error::invalid(format!(
                        "{}.{} is fixed when the record is added and cannot be changed",
                        self.kind, f.name
                    )));
                }
                _ => {}
            }
            let v = match v {
                Value::Text(s) if s.trim().is_empty() => Value::Null,
                other => other.clone(),
            };
            self.set(f.name, v);
        }
        for f in fields::of(self.kind) {
            let required = matches!(
                f.access,
                Access::Required | Access::Fixed { required: true }
            );
            if required && self.is_null(f.name) {
                return Err(Error::invalid(format!(
                    "{}.{} is required ({})",
                    self.kind,
                    f.name,
                    f.ty.describe()
                )));
            }
        }
        Ok(())
    }
}

struct TxWriter<'c> {
    conn: &'c Connection,
    now: i64,
    source: Option<Source>,
    /// How deep the open savepoints nest.
    savepoints: u32,
    /// The record `find` read last; `set` uses it when it changes that record next, and
    /// every other write forgets it.
    last_found: std::cell::RefCell<Option<Record>>,
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

    fn exists(&self, key: Key) -> Result<bool> {
        Ok(row_id(self.conn, key)?.is_some())
    }

    fn require_ref(&self, d: &Draft, name: &str) -> Result<()> {
        if let Value::Ref(k) = d.get(name)
            && !self.exists(*k)?
        {
            return Err(Error::NotFound(format!(
                "{}.{name}: {k} does not exist",
                d.kind
            )));
        }
        Ok(())
    }

    fn int(&self, sql: &str, p: impl rusqlite::Params) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(p, |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten())
    }

    /// Checks the rules of SPEC §1 on a complete draft; fills in derived defaults.
    /// `old` is the record being changed, `None` when adding.
    fn validate(&self, d: &mut Draft, old: Option<(&Record, i64)>) -> Result<()> {
        let own_id = old.map(|(_, id)| id).unwrap_or(0);
        let old = old.map(|(r, _)| r);
        for f in fields::of(d.kind) {
            // A reference the record already had exists (foreign keys keep it so).
            let unchanged = old.is_some_and(|r| r.get(f.name) == d.get(f.name));
            if matches!(f.ty, Ty::Ref(_)) && !unchanged {
                self.require_ref(d, f.name)?;
            }
        }
        match d.kind {
            Kind::Client => {
                let name = d.get("name").to_string();
                if let Some(id) = self.int(
                    "SELECT id FROM clients WHERE name = ?1 AND id <> ?2",
                    params![name, own_id],
                )? {
                    return Err(Error::invalid(format!(
                        "a client named '{name}' already exists: {}",
                        Key::new(Kind::Client, id)
                    )));
                }
            }
            Kind::Location => {
                let client = d.get("client").as_ref_key().expect("client").id;
                let name = d.get("name").to_string();
                if let Some(id) = self.int(
                    "SELECT id FROM locations WHERE client_id = ?1 AND name = ?2 AND id <> ?3",
                    params![client, name, own_id],
                )? {
                    return Err(Error::invalid(format!(
                        "client {} already has a location named '{name}': {}",
                        Key::new(Kind::Client, client),
                        Key::new(Kind::Location, id)
                    )));
                }
                let current_main = self.int(
                    "SELECT id FROM locations WHERE client_id = ?1 AND is_main = 1",
                    [client],
                )?;
                match (old, current_main) {
                    // The first location of a client is its Main location.
                    (None, None) => d.set("main", Value::Bool(true)),
                    (Some(r), _) if r.get("main") == &Value::Bool(true) && !d.flag("main") => {
                        return Err(Error::invalid(format!(
                            "{} is the Main location of {} and every client has exactly one; \
                             make another location Main instead (admin set SM-L<id> main=true)",
                            r.key,
                            Key::new(Kind::Client, client)
                        )));
                    }
                    _ => {}
                }
            }
            Kind::User => {
                let kind = d.get("kind").to_string();
                match (kind.as_str(), d.is_null("client")) {
                    ("agent", false) => {
                        return Err(Error::invalid(
                            "a service agent (kind=agent) belongs to no client; leave client out",
                        ));
                    }
                    ("client", true) => {
                        return Err(Error::invalid(
                            "a client user (kind=client) needs client=SM-C<id> or the client's name",
                        ));
                    }
                    _ => {}
                }
            }
            Kind::Tech => {
                if ["company", "first_name", "last_name"]
                    .iter()
                    .all(|n| d.is_null(n))
                {
                    return Err(Error::invalid(
                        "a tech entry needs a company, a person (first_name/last_name), or both",
                    ));
                }
            }
            Kind::Si => self.validate_si(d, old, own_id)?,
            Kind::Employee => {
                let user = d.get("user").as_ref_key().expect("user");
                let rec = load_required(self.conn, user)?;
                if rec.text("kind") != "agent" {
                    return Err(Error::invalid(format!(
                        "{user} is a client user; only service agents (kind=agent) sync as employees"
                    )));
                }
                if let Some(id) = self.int(
                    "SELECT id FROM employees WHERE user_id = ?1 AND id <> ?2",
                    params![user.id, own_id],
                )? {
                    return Err(Error::invalid(format!(
                        "{user} already has a sync record: {}",
                        Key::new(Kind::Employee, id)
                    )));
                }
            }
        }
        Ok(())
    }

    fn validate_si(&self, d: &mut Draft, old: Option<&Record>, own_id: i64) -> Result<()> {
        let client = d.get("client").as_ref_key().expect("client");
        match d.get("location").as_ref_key() {
            None => {
                let main = self.int(
                    "SELECT id FROM locations WHERE client_id = ?1 AND is_main = 1",
                    [client.id],
                )?;
                let main = main.ok_or_else(|| {
                    Error::invalid(format!(
                        "client {client} has no locations; add one (admin add location client={client} name=...) before its SIs"
                    ))
                })?;
                d.set("location", Value::Ref(Key::new(Kind::Location, main)));
            }
            Some(loc) => {
                let owner = self.int("SELECT client_id FROM locations WHERE id = ?1", [loc.id])?;
                if owner != Some(client.id) {
                    return Err(Error::invalid(format!(
                        "location {loc} does not belong to client {client}; pick one of its locations"
                    )));
                }
            }
        }
        if d.is_null("number") {
            let next = self.int("SELECT coalesce(max(number), 0) + 1 FROM sis", [])?;
            d.set("number", Value::Int(next.unwrap_or(1)));
        }
        let number = d.get("number").as_int().expect("number");
        if number <= 0 {
            return Err(Error::invalid("si.number must be a positive integer"));
        }
        if self
            .int(
                "SELECT id FROM sis WHERE number = ?1 AND id <> ?2",
                params![number, own_id],
            )?
            .is_some()
        {
            return Err(Error::invalid(format!("SI-{number} already exists")));
        }
        let status = d.get("status").to_string();
        let was = old.map(|r| r.text("status").to_string());
        let completed_given = old.is_none_or(|r| r.get("completed") != d.get("completed"));
        if status == "Closed" && d.is_null("completed") {
            d.set("completed", Value::Date(chrono::Local::now().date_naive()));
        } else if status != "Closed" && was.as_deref() == Some("Closed") && !completed_given {
            d.set("completed", Value::Null);
        }
        if let Value::Refs(people) = d.get("people") {
            for p in people {
                let (kind, owner): (String, Option<i64>) = self
                    .conn
                    .prepare_cached("SELECT kind, client_id FROM users WHERE id = ?1")?
                    .query_row([p.id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                    .ok_or_else(|| Error::NotFound(format!("si.people: {p} does not exist")))?;
                if kind == "client" && owner != Some(client.id) {
                    return Err(Error::invalid(format!(
                        "si.people: {p} is a client user of another client; an SI's people are \
                         service agents and client users of its own client ({client})"
                    )));
                }
            }
        }
        Ok(())
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

    /// The cascades of SPEC §1, plus the touches that keep derived values (category,
    /// names shown on tasks, profile names) fresh in every export.
    fn cascade(&self, old: &Record, d: &Draft, id: i64) -> Result<()> {
        let changed = |n: &str| old.get(n) != d.get(n);
        match d.kind {
            Kind::Client => {
                if changed("active") {
                    let deactivate = !d.flag("active");
                    if deactivate && let Some(src) = &self.source {
                        let reason = format!("client {} made inactive", old.key);
                        self.conn
                            .prepare_cached(
                                "INSERT INTO journal (at, source, profile, file, item, field, \
                                 old_value, new_value, outcome, reason) \
                                 SELECT ?1, ?2, ?3, ?4, 'SM-U' || id, 'active', 'true', 'false', \
                                 'changed', ?5 FROM users WHERE client_id = ?6 AND active = 1",
                            )?
                            .execute(params![
                                self.now,
                                src.kind,
                                src.profile,
                                src.file,
                                reason,
                                id
                            ])?;
                    }
                    self.conn
                        .prepare_cached(
                            "UPDATE users SET updated_at = ?1, \
                             active = CASE WHEN ?3 THEN 0 ELSE active END WHERE client_id = ?2",
                        )?
                        .execute(params![self.now, id, deactivate])?;
                    self.touch(
                        "UPDATE locations SET updated_at = ?1 WHERE client_id = ?2",
                        id,
                    )?;
                }
                if changed("name") {
                    self.touch("UPDATE users SET updated_at = ?1 WHERE client_id = ?2", id)?;
                    self.touch(
                        "UPDATE locations SET updated_at = ?1 WHERE client_id = ?2",
                        id,
                    )?;
                    self.touch("UPDATE sis SET updated_at = ?1 WHERE client_id = ?2", id)?;
                }
            }
            Kind::Location if changed("name") => {
                self.touch("UPDATE sis SET updated_at = ?1 WHERE location_id = ?2", id)?;
            }
            Kind::User if changed("first_name") || changed("last_name") => {
                self.touch(
                    "UPDATE sis SET updated_at = ?1 WHERE id IN \
                     (SELECT si_id FROM si_people WHERE user_id = ?2)",
                    id,
                )?;
                self.touch(
                    "UPDATE employees SET updated_at = ?1 WHERE user_id = ?2",
                    id,
                )?;
            }
            _ => {}
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
        // opens one per file and one per item).
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

    fn mark_dirty(&mut self, employee: Key, item: Key) -> Result<()> {
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
        self.validate(&mut d, None)?;
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
        if kind == Kind::Location && d.flag("main") {
            let client = d.get("client").as_ref_key().expect("client").id;
            self.clear_other_main(client, 0)?;
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
        if let Some(src) = &self.source {
            let values: Vec<String> = fields::of(kind)
                .iter()
                .zip(&d.values)
                .filter(|(f, v)| !v.is_null() && f.access != Access::Auto)
                .filter(|(_, v)| !matches!(v, Value::Refs(r) if r.is_empty()))
                .map(|(f, v)| format!("{}={v}", f.name))
                .collect();
            insert_journal(
                self.conn,
                self.now,
                src,
                &JournalEntry {
                    item: Some(key.to_string()),
                    new_value: Some(values.join("; ")),
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
        // Only SIs are keyed by something other than their row id.
        let id = if key.kind == Kind::Si {
            row_id(self.conn, key)?.expect("loaded")
        } else {
            key.id
        };
        let mut d = Draft {
            kind: key.kind,
            values: old.values.clone(),
        };
        d.apply(values, false)?;
        self.validate(&mut d, Some((&old, id)))?;
        let changed: Vec<(usize, &str)> = Self::stored_columns(key.kind)
            .filter(|(i, f, _)| f.access != Access::Auto && d.values[*i] != old.values[*i])
            .map(|(i, _, c)| (i, c))
            .collect();
        let people_changed = key.kind == Kind::Si && d.get("people") != old.get("people");
        if changed.is_empty() && !people_changed {
            return Ok(Outcome::Unchanged);
        }
        if key.kind == Kind::Location
            && d.flag("main")
            && !old.get("main").as_bool().unwrap_or(false)
        {
            let client = d.get("client").as_ref_key().expect("client").id;
            self.clear_other_main(client, id)?;
        }
        let mut sets: Vec<String> = changed
            .iter()
            .enumerate()
            .map(|(n, (_, c))| format!("{c} = ?{}", n + 1))
            .collect();
        sets.push(format!("updated_at = ?{}", changed.len() + 1));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ?{}",
            table(key.kind),
            sets.join(", "),
            changed.len() + 2
        );
        let mut args: Vec<SqlValue> = changed
            .iter()
            .map(|(i, _)| sql_value(&d.values[*i]))
            .collect();
        args.push(SqlValue::Integer(self.now));
        args.push(SqlValue::Integer(id));
        self.conn
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(args))?;
        if people_changed {
            self.write_people(id, &d)?;
            self.journal_change(key, "people", old.get("people"), d.get("people"), None)?;
        }
        for (i, _) in &changed {
            let f = &fields::of(key.kind)[*i];
            self.journal_change(key, f.name, &old.values[*i], &d.values[*i], None)?;
        }
        self.cascade(&old, &d, id)?;
        Ok(Outcome::Changed)
    }

    fn get(&self, key: Key) -> Result<Record> {
        load_required(self.conn, key)
    }

    fn put_exported(&mut self, employee: Key, item: Key, e: &Exported) -> Result<()> {
        self.last_found.borrow_mut().take();
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
        // Rows per statement: one statement per row spent as much time opening and closing
        // its cursors as inserting.
        const ROWS: usize = 64;
        self.last_found.borrow_mut().take();
        for chunk in items.chunks(ROWS) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO export_state \
                 (employee_id, item_kind, item_id, hash, status, vals, updated_at, held, \
                 current) VALUES {values} \
                 ON CONFLICT (employee_id, item_kind, item_id) DO UPDATE SET \
                 hash = excluded.hash, status = excluded.status, vals = excluded.vals, \
                 updated_at = excluded.updated_at, held = excluded.held, \
                 current = excluded.current"
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

    fn delete_exported(&mut self, employee: Key, item: Key) -> Result<()> {
        self.last_found.borrow_mut().take();
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
                   THEN min(tasks_stamp) END FROM output_stamps WHERE employee_id = ?1), \
                 updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![employee.id, self.now])?;
        if n == 0 {
            return Err(Error::NotFound(format!("{employee} does not exist")));
        }
        Ok(())
    }
}

/// The Service Master database in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

fn configure(conn: &Connection) -> Result<()> {
    // WAL lets exports read while another process writes. synchronous=FULL makes every
    // commit durable before smsync moves an input file to processed/, so an edit can never
    // be lost between the two.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints (one per input file and item) keep their undo pages here; in a temp file
    // every first change of a page inside a savepoint cost a write system call.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

fn insert_journal(conn: &Connection, now: i64, src: &Source, e: &JournalEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO journal (at, source, profile, file, item, field, old_value, new_value, \
         outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
        e.reason
    ])?;
    Ok(())
}

impl SqliteStore {
    fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Opens an existing database whose schema is current.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::NotFound(format!(
                "no database at {}; create it with `smsync db init` (or pass --db)",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        schema::check(&conn)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Creates the database, or migrates an existing one. Returns the schema versions
    /// before and after.
    pub fn create(path: &Path) -> Result<(Self, i64, i64)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        let (before, after) = schema::migrate(&mut conn)?;
        Ok((
            SqliteStore {
                conn,
                path: path.to_path_buf(),
            },
            before,
            after,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for tests and the checks of `db` commands.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl Store for SqliteStore {
    fn write(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
            source: None,
            savepoints: 0,
            last_found: std::cell::RefCell::new(None),
        };
        f(&mut w)?;
        tx.commit()?;
        Ok(())
    }

    fn write_unsynced(&mut self, f: &mut dyn FnMut(&mut dyn Writer) -> Result<()>) -> Result<()> {
        // In WAL mode, synchronous=NORMAL skips the WAL fsync at commit; the commit is in
        // the WAL file in order, so the next FULL commit (or checkpoint) syncs it too.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = self.write(f);
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        result?;
        restored?;
        Ok(())
    }

    fn get(&self, key: Key) -> Result<Record> {
        load_required(&self.conn, key)
    }

    fn for_each(&self, kind: Kind, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        let sql = format!("{} ORDER BY t.{}", select_sql(kind), key_column(kind));
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            f(read_record(kind, row)?)?;
        }
        Ok(())
    }

    fn count(&self, kind: Kind) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", table(kind));
        Ok(self.conn.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
    }

    fn profiles(&self) -> Result<Vec<Profile>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.id, e.user_id, u.first_name || ' ' || u.last_name, e.contacts_stamp, \
             e.tasks_stamp FROM employees e JOIN users u ON u.id = e.user_id ORDER BY e.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Profile {
                employee: Key::new(Kind::Employee, r.get(0)?),
                user: Key::new(Kind::User, r.get(1)?),
                name: r.get(2)?,
                contacts_stamp: r.get(3)?,
                tasks_stamp: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn clock(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'clock'", [], |r| {
                r.get(0)
            })?)
    }

    fn max_change(&self) -> Result<i64> {
        let mut max = 0;
        for k in [
            Kind::Client,
            Kind::Location,
            Kind::User,
            Kind::Tech,
            Kind::Si,
        ] {
            let sql = format!("SELECT coalesce(max(updated_at), 0) FROM {}", table(k));
            max = max.max(self.conn.query_row(&sql, [], |r| r.get::<_, i64>(0))?);
        }
        Ok(max)
    }

    fn changes(
        &self,
        kind: Kind,
        employee: Key,
        since: Option<i64>,
        upto: i64,
        after: Cursor,
        limit: usize,
    ) -> Result<Vec<Changed>> {
        // The profile's export state comes with each record (one query per page, not one
        // per record). A page is two range scans of the `updated_at` index, which holds the
        // rowid: the rest of the cursor's change time (`updated_at = ? AND rowid > ?`), then
        // the later change times. A row-value `(updated_at, id) > (?, ?)` would not seek
        // past the cursor's change time, and one change time can cover a million rows (a
        // seed, a cascade), which made a full export quadratic.
        let base = select_with_flag(kind);
        let (cols, from) = base.rsplit_once(" FROM ").expect("select");
        let head = format!(
            "{cols}, s.hash, s.status, s.vals, s.updated_at, s.held, s.current FROM {from} \
             LEFT JOIN export_state s ON s.employee_id = ?4 AND s.item_kind = ?5 \
             AND s.item_id = t.{}",
            key_column(kind)
        );
        let same = format!("{head} WHERE t.updated_at = ?1 AND t.id > ?2 ORDER BY t.id LIMIT ?3");
        let later = format!(
            "{head} WHERE t.updated_at > ?1 AND t.updated_at <= ?2 \
             ORDER BY t.updated_at, t.id LIMIT ?3"
        );
        let read = |row: &Row| -> rusqlite::Result<Changed> {
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
        };
        let since = since.unwrap_or(i64::MIN);
        let mut out: Vec<Changed> = Vec::with_capacity(limit.min(4096));
        // One range scan: `sql` with the two bounds, up to what the page still lacks.
        let scan = |sql: &str, a: i64, b: i64, out: &mut Vec<Changed>| -> Result<()> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let left = (limit - out.len()) as i64;
            let rows = stmt.query_map(params![a, b, left, employee.id, kind.name()], read)?;
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

    fn for_each_synced(&self, kind: Kind, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        let sql = format!(
            "{} WHERE {} ORDER BY t.{}",
            select_sql(kind),
            synced_predicate(kind),
            key_column(kind)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            f(read_record(kind, row)?)?;
        }
        Ok(())
    }

    fn output_stamps(&self, employee: Key) -> Result<Vec<OutputStamps>> {
        let mut stmt = self.conn.prepare_cached(
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

    fn exported_count(&self, employee: Key, kinds: &[Kind], limit: u64) -> Result<u64> {
        let mut n = 0;
        for k in kinds {
            n += self.conn.query_row(
                "SELECT count(*) FROM (SELECT 1 FROM export_state \
                 WHERE employee_id = ?1 AND item_kind = ?2 LIMIT ?3)",
                params![employee.id, k.name(), limit as i64],
                |r| r.get::<_, i64>(0),
            )? as u64;
        }
        Ok(n)
    }

    fn in_synced_set(&self, key: Key) -> Result<bool> {
        let sql = format!(
            "SELECT {} FROM {} t WHERE t.{} = ?1",
            synced_predicate(key.kind),
            table(key.kind),
            key_column(key.kind)
        );
        Ok(self
            .conn
            .query_row(&sql, [key.id], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0)
            != 0)
    }

    fn dirty_exports(&self, employee: Key, kind: Kind, outputs: u32) -> Result<Vec<Key>> {
        // `held <> current` is the partial index's condition: the scan stays on the few
        // stale rows, however many the profile holds.
        let mut stmt = self.conn.prepare_cached(
            "SELECT item_id FROM export_state WHERE employee_id = ?1 AND held <> current \
             AND item_kind = ?2 AND (held & ~current & ?3) <> 0 ORDER BY item_id",
        )?;
        let rows = stmt.query_map(params![employee.id, kind.name(), outputs], |r| {
            Ok(Key::new(kind, r.get(0)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn journal_entries(
        &self,
        profile: Option<&str>,
        limit: usize,
        f: &mut dyn FnMut(JournalEntry) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, source, profile, file, item, field, old_value, new_value, outcome, \
             reason FROM journal WHERE ?1 IS NULL OR profile = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![profile, limit as i64])?;
        while let Some(r) = rows.next()? {
            f(JournalEntry {
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
            })?;
        }
        Ok(())
    }

    fn sync_counts(&self, p: &Profile) -> Result<SyncCounts> {
        let count = |kinds: &[Kind], stamp: Option<i64>| -> Result<(u64, u64)> {
            let (mut synced, mut pending) = (0u64, 0u64);
            for &k in kinds {
                let pred = synced_predicate(k);
                let sql = format!("SELECT count(*) FROM {} t WHERE {pred}", table(k));
                let n: i64 = self.conn.query_row(&sql, [], |r| r.get(0))?;
                synced += n as u64;
                pending += match stamp {
                    None => n as u64,
                    Some(s) => {
                        let sql = format!(
                            "SELECT count(*) FROM {} t WHERE t.updated_at > ?1",
                            table(k)
                        );
                        self.conn.query_row(&sql, [s], |r| r.get::<_, i64>(0))? as u64
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
}
