//! The SQLite schema as versioned migrations, applied in order and tracked in
//! `PRAGMA user_version`. A migration is never edited once released; add a new one.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('clock', 0);

CREATE TABLE clients (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX clients_updated ON clients (updated_at);

CREATE TABLE locations (
    id          INTEGER PRIMARY KEY,
    client_id   INTEGER NOT NULL REFERENCES clients (id),
    name        TEXT NOT NULL CHECK (name <> ''),
    is_main     INTEGER NOT NULL DEFAULT 0 CHECK (is_main IN (0, 1)),
    street      TEXT,
    city        TEXT,
    region      TEXT,
    postal_code TEXT,
    country     TEXT,
    phone       TEXT,
    phone_other TEXT,
    fax         TEXT,
    email       TEXT,
    web         TEXT,
    notes       TEXT,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at  INTEGER NOT NULL,
    UNIQUE (client_id, name)
) STRICT;
-- At most one Main location per client; the storage layer keeps it at exactly one.
CREATE UNIQUE INDEX locations_one_main ON locations (client_id) WHERE is_main = 1;
CREATE INDEX locations_updated ON locations (updated_at);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('agent', 'client')),
    client_id   INTEGER REFERENCES clients (id),
    first_name  TEXT NOT NULL CHECK (first_name <> ''),
    last_name   TEXT NOT NULL CHECK (last_name <> ''),
    job_title   TEXT,
    department  TEXT,
    phone       TEXT,
    mobile      TEXT,
    home_phone  TEXT,
    fax         TEXT,
    email       TEXT,
    email2      TEXT,
    street      TEXT,
    city        TEXT,
    region      TEXT,
    postal_code TEXT,
    country     TEXT,
    notes       TEXT,
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at  INTEGER NOT NULL,
    CHECK ((kind = 'client') = (client_id IS NOT NULL))
) STRICT;
CREATE INDEX users_client ON users (client_id);
CREATE INDEX users_updated ON users (updated_at);

CREATE TABLE tech (
    id         INTEGER PRIMARY KEY,
    company    TEXT,
    first_name TEXT,
    last_name  TEXT,
    phone      TEXT,
    mobile     TEXT,
    fax        TEXT,
    email      TEXT,
    web        TEXT,
    notes      TEXT,
    updated_at INTEGER NOT NULL,
    CHECK (coalesce(company, first_name, last_name) IS NOT NULL)
) STRICT;
CREATE INDEX tech_updated ON tech (updated_at);

CREATE TABLE sis (
    id             INTEGER PRIMARY KEY,
    number         INTEGER NOT NULL UNIQUE CHECK (number > 0),
    client_id      INTEGER NOT NULL REFERENCES clients (id),
    location_id    INTEGER NOT NULL REFERENCES locations (id),
    description    TEXT NOT NULL CHECK (description <> ''),
    notes          TEXT,
    status         TEXT NOT NULL CHECK (status IN
                     ('New', 'In Progress', 'Completion Requested', 'On Hold', 'Closed', 'Cancelled')),
    priority       TEXT NOT NULL DEFAULT 'Normal' CHECK (priority IN ('Low', 'Normal', 'High')),
    start_date     TEXT,
    due_date       TEXT,
    completed_date TEXT,
    uid            TEXT UNIQUE,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX sis_client ON sis (client_id);
CREATE INDEX sis_location ON sis (location_id);
CREATE INDEX sis_updated ON sis (updated_at);

CREATE TABLE si_people (
    si_id   INTEGER NOT NULL REFERENCES sis (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (si_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX si_people_user ON si_people (user_id);

CREATE TABLE employees (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL UNIQUE REFERENCES users (id),
    contacts_stamp INTEGER,
    tasks_stamp    INTEGER,
    updated_at     INTEGER NOT NULL
) STRICT;
"#,
    // 2: what each profile was last given of each item, so that an export knows what to
    // remove and an ingest can tell which side changed a field since.
    r#"
CREATE TABLE export_state (
    employee_id INTEGER NOT NULL REFERENCES employees (id),
    item_kind   TEXT NOT NULL CHECK (item_kind IN ('location', 'user', 'tech', 'si')),
    item_id     INTEGER NOT NULL,
    hash        INTEGER NOT NULL,
    status      TEXT,
    vals        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- 1: the profile's copy must be rewritten (an ingest saw it, e.g. to drop !Update).
    dirty       INTEGER NOT NULL DEFAULT 0 CHECK (dirty IN (0, 1)),
    PRIMARY KEY (employee_id, item_kind, item_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX export_state_dirty ON export_state (employee_id) WHERE dirty = 1;
"#,
    // 3: the journal of every change with its old value, and the files ingest has applied.
    r#"
CREATE TABLE journal (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    source    TEXT NOT NULL,
    profile   TEXT,
    file      TEXT,
    item      TEXT,
    field     TEXT,
    old_value TEXT,
    new_value TEXT,
    outcome   TEXT NOT NULL,
    reason    TEXT
) STRICT;
CREATE INDEX journal_profile ON journal (profile, id);

CREATE TABLE ingested (
    profile TEXT NOT NULL,
    hash    TEXT NOT NULL,
    file    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (profile, hash)
) STRICT, WITHOUT ROWID;
"#,
    // Each output keeps its own state: `held` and `current` are bit sets of outputs (vdir 1,
    // outlook 2, outlook-vcards 4) in place of one dirty flag, and each output has its own
    // stamps. Existing rows were written by runs of every output.
    r#"
CREATE TABLE export_state_v4 (
    employee_id INTEGER NOT NULL REFERENCES employees (id),
    item_kind   TEXT NOT NULL CHECK (item_kind IN ('location', 'user', 'tech', 'si')),
    item_id     INTEGER NOT NULL,
    hash        INTEGER NOT NULL,
    status      TEXT,
    vals        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- Outputs holding a copy of the item, of any version.
    held        INTEGER NOT NULL CHECK (held >= 0),
    -- Outputs whose copy is this version; an ingest that saw the item clears it.
    current     INTEGER NOT NULL CHECK (current >= 0 AND current & ~held = 0),
    PRIMARY KEY (employee_id, item_kind, item_id)
) STRICT, WITHOUT ROWID;
INSERT INTO export_state_v4
    SELECT employee_id, item_kind, item_id, hash, status, vals, updated_at,
           CASE item_kind WHEN 'si' THEN 3 ELSE 7 END,
           CASE WHEN dirty = 1 THEN 0 WHEN item_kind = 'si' THEN 3 ELSE 7 END
    FROM export_state;
DROP TABLE export_state;
ALTER TABLE export_state_v4 RENAME TO export_state;
-- The stale rows only, covering what `dirty_exports` reads: without `held` and `current` in
-- it the planner preferred scanning the profile's whole primary-key range.
CREATE INDEX export_state_stale ON export_state (employee_id, item_kind, item_id, held, current)
    WHERE held <> current;

CREATE TABLE output_stamps (
    employee_id    INTEGER NOT NULL REFERENCES employees (id),
    output         INTEGER NOT NULL CHECK (output > 0),
    contacts_stamp INTEGER,
    tasks_stamp    INTEGER,
    PRIMARY KEY (employee_id, output)
) STRICT, WITHOUT ROWID;
INSERT INTO output_stamps
    SELECT e.id, o.bit, e.contacts_stamp, e.tasks_stamp
    FROM employees e, (SELECT 1 AS bit UNION ALL SELECT 2 UNION ALL SELECT 4) o
    WHERE e.contacts_stamp IS NOT NULL OR e.tasks_stamp IS NOT NULL;
"#,
    // Profiles you can trust: an employee can stop syncing (`active`), remembers the
    // profile name its drop folder was last written under (`folder`, so that a rename
    // moves the folder instead of stranding it), and keeps its own export settings (NULL:
    // the default). A profile already exported has its folder under its current name.
    r#"
ALTER TABLE employees ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
ALTER TABLE employees ADD COLUMN folder TEXT CHECK (folder <> '');
ALTER TABLE employees ADD COLUMN date_format TEXT CHECK (date_format <> '');
ALTER TABLE employees ADD COLUMN csv_language TEXT CHECK (csv_language <> '');
ALTER TABLE employees ADD COLUMN csv_encoding TEXT CHECK (csv_encoding <> '');
ALTER TABLE employees ADD COLUMN vcard_version TEXT CHECK (vcard_version IN ('3.0', '4.0'));
ALTER TABLE employees ADD COLUMN outputs TEXT CHECK (outputs <> '');
ALTER TABLE employees ADD COLUMN full_csv_limit INTEGER CHECK (full_csv_limit >= 0);
ALTER TABLE employees ADD COLUMN csv_safe INTEGER CHECK (csv_safe IN (0, 1));
UPDATE employees SET folder =
    (SELECT u.first_name || ' ' || u.last_name FROM users u WHERE u.id = employees.user_id)
    WHERE contacts_stamp IS NOT NULL OR tasks_stamp IS NOT NULL
       OR EXISTS (SELECT 1 FROM output_stamps o WHERE o.employee_id = employees.id);
"#,
    // The runs of ingest and export per profile, with their outcome, for `status` and
    // `report` (written outside the change clock; the newest 500 of a profile are kept).
    r#"
CREATE TABLE runs (
    id       INTEGER PRIMARY KEY,
    profile  TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('ingest', 'export')),
    started  INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    outcome  TEXT NOT NULL CHECK (outcome IN ('ok', 'attention', 'failed')),
    summary  TEXT NOT NULL
) STRICT;
CREATE INDEX runs_profile ON runs (profile, id);
"#,
    // The guards of each profile (NULL: the default): an export that would remove more than
    // `removal_guard_percent` % of the profile's items and at least `removal_guard_min` of
    // them stops; so does an ingest that would change more than `change_guard_percent` % and
    // at least `change_guard_min` items, or blank more than `blank_guard_max` fields.
    r#"
ALTER TABLE employees ADD COLUMN removal_guard_percent INTEGER
    CHECK (removal_guard_percent BETWEEN 0 AND 100);
ALTER TABLE employees ADD COLUMN removal_guard_min INTEGER CHECK (removal_guard_min >= 0);
ALTER TABLE employees ADD COLUMN change_guard_percent INTEGER
    CHECK (change_guard_percent BETWEEN 0 AND 100);
ALTER TABLE employees ADD COLUMN change_guard_min INTEGER CHECK (change_guard_min >= 0);
ALTER TABLE employees ADD COLUMN blank_guard_max INTEGER CHECK (blank_guard_max >= 0);
"#,
    // Each journal row of an ingest names its run (the name of the run's report,
    // `ingest-<time>`), so that `undo RUN` finds the run's changes; undo's own rows name the
    // run they revert. Older rows have none.
    r#"
ALTER TABLE journal ADD COLUMN run TEXT CHECK (run <> '');
CREATE INDEX journal_run ON journal (run) WHERE run IS NOT NULL;
"#,
    // The export state's item kind is checked without an `IN` list: SQLite built a table
    // of the four kinds for every row it inserted (an `IN` of more than two constants in
    // a check), which doubled the cost of an export's state commits. The same rule, the
    // table rebuilt as in migration 4.
    r#"
CREATE TABLE export_state_v9 (
    employee_id INTEGER NOT NULL REFERENCES employees (id),
    item_kind   TEXT NOT NULL CHECK (item_kind = 'location' OR item_kind = 'user'
                                     OR item_kind = 'tech' OR item_kind = 'si'),
    item_id     INTEGER NOT NULL,
    hash        INTEGER NOT NULL,
    status      TEXT,
    vals        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    held        INTEGER NOT NULL CHECK (held >= 0),
    current     INTEGER NOT NULL CHECK (current >= 0 AND current & ~held = 0),
    PRIMARY KEY (employee_id, item_kind, item_id)
) STRICT, WITHOUT ROWID;
INSERT INTO export_state_v9
    SELECT employee_id, item_kind, item_id, hash, status, vals, updated_at, held, current
    FROM export_state;
DROP TABLE export_state;
ALTER TABLE export_state_v9 RENAME TO export_state;
CREATE INDEX export_state_stale ON export_state (employee_id, item_kind, item_id, held, current)
    WHERE held <> current;
"#,
];

/// The schema version this build of smsync writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies every migration the database lacks, each in its own transaction.
/// Returns the versions before and after.
pub fn migrate(conn: &mut Connection) -> Result<(i64, i64)> {
    let before = version(conn)?;
    if before > current_version() {
        return Err(newer_error(before));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(before as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok((before, version(conn)?))
}

/// Refuses a database whose schema is not the one this build writes.
pub fn check(conn: &Connection) -> Result<()> {
    let v = version(conn)?;
    if v > current_version() {
        return Err(newer_error(v));
    }
    if v < current_version() {
        return Err(Error::Other(format!(
            "the database is at schema version {v}, this smsync needs {}; \
             run `smsync db init` to migrate it",
            current_version()
        )));
    }
    Ok(())
}

fn newer_error(v: i64) -> Error {
    Error::Other(format!(
        "the database is at schema version {v}, newer than this smsync knows ({}); \
         use a newer smsync",
        current_version()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_state_checks_its_rows_without_a_table_per_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let insert = "INSERT INTO export_state (employee_id, item_kind, item_id, hash, status, \
                      vals, updated_at, held, current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let mut stmt = conn.prepare(&format!("EXPLAIN {insert}")).unwrap();
        let ops: Vec<String> = stmt
            .query_map([0; 9], |r| r.get::<_, String>(1))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{ops:?}");
        // The rule is the same: the four kinds, and current within held.
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF; \
             INSERT INTO export_state VALUES (1, 'si', 1, 0, NULL, '{}', 0, 3, 1);",
        )
        .unwrap();
        for (kind, held, current) in [("client", 1, 1), ("users", 1, 1), ("user", 1, 2)] {
            let r = conn.execute(
                insert,
                rusqlite::params![1, kind, 2, 0, None::<String>, "{}", 0, held, current],
            );
            assert!(r.is_err(), "{kind} {held} {current}");
        }
    }
}
