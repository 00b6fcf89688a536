//! The PostgreSQL schema as versioned migrations, one for each of the SQLite engine's (the
//! same version numbers, the same tables and columns, integers as `BIGINT` and dates as
//! `YYYY-MM-DD` text as there), tracked in the one-row table `smsync_schema`. A migration is
//! never edited once released; add a new one, to both engines.

use super::conn::{Conn, Place, get};
use crate::error::{Error, Result};

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('clock', 0);

CREATE TABLE clients (
    id         BIGINT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    active     BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at BIGINT NOT NULL
);
CREATE INDEX clients_updated ON clients (updated_at, id);

CREATE TABLE locations (
    id          BIGINT PRIMARY KEY,
    client_id   BIGINT NOT NULL REFERENCES clients (id),
    name        TEXT NOT NULL CHECK (name <> ''),
    is_main     BIGINT NOT NULL DEFAULT 0 CHECK (is_main IN (0, 1)),
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
    active      BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at  BIGINT NOT NULL,
    UNIQUE (client_id, name)
);
-- At most one Main location per client; the storage layer keeps it at exactly one.
CREATE UNIQUE INDEX locations_one_main ON locations (client_id) WHERE is_main = 1;
CREATE INDEX locations_updated ON locations (updated_at, id);

CREATE TABLE users (
    id          BIGINT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('agent', 'client')),
    client_id   BIGINT REFERENCES clients (id),
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
    active      BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at  BIGINT NOT NULL,
    CHECK ((kind = 'client') = (client_id IS NOT NULL))
);
CREATE INDEX users_client ON users (client_id);
CREATE INDEX users_updated ON users (updated_at, id);

CREATE TABLE tech (
    id         BIGINT PRIMARY KEY,
    company    TEXT,
    first_name TEXT,
    last_name  TEXT,
    phone      TEXT,
    mobile     TEXT,
    fax        TEXT,
    email      TEXT,
    web        TEXT,
    notes      TEXT,
    updated_at BIGINT NOT NULL,
    CHECK (coalesce(company, first_name, last_name) IS NOT NULL)
);
CREATE INDEX tech_updated ON tech (updated_at, id);

CREATE TABLE sis (
    id             BIGINT PRIMARY KEY,
    number         BIGINT NOT NULL UNIQUE CHECK (number > 0),
    client_id      BIGINT NOT NULL REFERENCES clients (id),
    location_id    BIGINT NOT NULL REFERENCES locations (id),
    description    TEXT NOT NULL CHECK (description <> ''),
    notes          TEXT,
    status         TEXT NOT NULL CHECK (status IN
                     ('New', 'In Progress', 'Completion Requested', 'On Hold', 'Closed', 'Cancelled')),
    priority       TEXT NOT NULL DEFAULT 'Normal' CHECK (priority IN ('Low', 'Normal', 'High')),
    start_date     TEXT,
    due_date       TEXT,
    completed_date TEXT,
    uid            TEXT UNIQUE,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX sis_client ON sis (client_id);
CREATE INDEX sis_location ON sis (location_id);
CREATE INDEX sis_updated ON sis (updated_at, id);

CREATE TABLE si_people (
    si_id   BIGINT NOT NULL REFERENCES sis (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (si_id, user_id)
);
CREATE INDEX si_people_user ON si_people (user_id);

CREATE TABLE employees (
    id             BIGINT PRIMARY KEY,
    user_id        BIGINT NOT NULL UNIQUE REFERENCES users (id),
    contacts_stamp BIGINT,
    tasks_stamp    BIGINT,
    updated_at     BIGINT NOT NULL
);
"#,
    // 2: what each profile was last given of each item.
    r#"
CREATE TABLE export_state (
    employee_id BIGINT NOT NULL REFERENCES employees (id),
    item_kind   TEXT NOT NULL CHECK (item_kind IN ('location', 'user', 'tech', 'si')),
    item_id     BIGINT NOT NULL,
    hash        BIGINT NOT NULL,
    status      TEXT,
    vals        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    dirty       BIGINT NOT NULL DEFAULT 0 CHECK (dirty IN (0, 1)),
    PRIMARY KEY (employee_id, item_kind, item_id)
);
"#,
    // 3: the journal of every change with its old value, and the files ingest has applied.
    // Journal ids rise in commit order: every writer holds the clock row's lock.
    r#"
CREATE TABLE journal (
    id        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    source    TEXT NOT NULL,
    profile   TEXT,
    file      TEXT,
    item      TEXT,
    field     TEXT,
    old_value TEXT,
    new_value TEXT,
    outcome   TEXT NOT NULL,
    reason    TEXT
);
CREATE INDEX journal_profile ON journal (profile, id);

CREATE TABLE ingested (
    profile TEXT NOT NULL,
    hash    TEXT NOT NULL,
    file    TEXT NOT NULL,
    at      BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (profile, hash)
);
"#,
    // 4: each output keeps its own state (`held`, `current`: bit sets of outputs) and stamps.
    r#"
ALTER TABLE export_state ADD COLUMN held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE export_state ADD COLUMN current BIGINT NOT NULL DEFAULT 0;
UPDATE export_state SET
    held = CASE item_kind WHEN 'si' THEN 3 ELSE 7 END,
    current = CASE WHEN dirty = 1 THEN 0 WHEN item_kind = 'si' THEN 3 ELSE 7 END;
ALTER TABLE export_state ALTER COLUMN held DROP DEFAULT;
ALTER TABLE export_state ALTER COLUMN current DROP DEFAULT;
ALTER TABLE export_state ADD CHECK (current >= 0 AND current & ~held = 0);
ALTER TABLE export_state DROP COLUMN dirty;
CREATE INDEX export_state_stale ON export_state (employee_id, item_kind, item_id)
    WHERE held <> current;

CREATE TABLE output_stamps (
    employee_id    BIGINT NOT NULL REFERENCES employees (id),
    output         BIGINT NOT NULL CHECK (output > 0),
    contacts_stamp BIGINT,
    tasks_stamp    BIGINT,
    PRIMARY KEY (employee_id, output)
);
INSERT INTO output_stamps
    SELECT e.id, o.bit, e.contacts_stamp, e.tasks_stamp
    FROM employees e, (VALUES (1), (2), (4)) AS o (bit)
    WHERE e.contacts_stamp IS NOT NULL OR e.tasks_stamp IS NOT NULL;
"#,
    // 5: profiles: active flag, drop folder name, own export settings.
    r#"
ALTER TABLE employees ADD COLUMN active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
ALTER TABLE employees ADD COLUMN folder TEXT CHECK (folder <> '');
ALTER TABLE employees ADD COLUMN date_format TEXT CHECK (date_format <> '');
ALTER TABLE employees ADD COLUMN csv_language TEXT CHECK (csv_language <> '');
ALTER TABLE employees ADD COLUMN csv_encoding TEXT CHECK (csv_encoding <> '');
ALTER TABLE employees ADD COLUMN vcard_version TEXT CHECK (vcard_version IN ('3.0', '4.0'));
ALTER TABLE employees ADD COLUMN outputs TEXT CHECK (outputs <> '');
ALTER TABLE employees ADD COLUMN full_csv_limit BIGINT CHECK (full_csv_limit >= 0);
ALTER TABLE employees ADD COLUMN csv_safe BIGINT CHECK (csv_safe IN (0, 1));
UPDATE employees SET folder =
    (SELECT u.first_name || ' ' || u.last_name FROM users u WHERE u.id = employees.user_id)
    WHERE contacts_stamp IS NOT NULL OR tasks_stamp IS NOT NULL
       OR EXISTS (SELECT 1 FROM output_stamps o WHERE o.employee_id = employees.id);
"#,
    // 6: the runs of ingest and export per profile (outside the change clock).
    r#"
CREATE TABLE runs (
    id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    profile  TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('ingest', 'export')),
    started  BIGINT NOT NULL,
    finished BIGINT NOT NULL,
    outcome  TEXT NOT NULL CHECK (outcome IN ('ok', 'attention', 'failed')),
    summary  TEXT NOT NULL
);
CREATE INDEX runs_profile ON runs (profile, id);
"#,
    // 7: the guards of each profile.
    r#"
ALTER TABLE employees ADD COLUMN removal_guard_percent BIGINT
    CHECK (removal_guard_percent BETWEEN 0 AND 100);
ALTER TABLE employees ADD COLUMN removal_guard_min BIGINT CHECK (removal_guard_min >= 0);
ALTER TABLE employees ADD COLUMN change_guard_percent BIGINT
    CHECK (change_guard_percent BETWEEN 0 AND 100);
ALTER TABLE employees ADD COLUMN change_guard_min BIGINT CHECK (change_guard_min >= 0);
ALTER TABLE employees ADD COLUMN blank_guard_max BIGINT CHECK (blank_guard_max >= 0);
"#,
    // 8: each journal row of an ingest or undo names its run.
    r#"
ALTER TABLE journal ADD COLUMN run TEXT CHECK (run <> '');
CREATE INDEX journal_run ON journal (run) WHERE run IS NOT NULL;
"#,
    // 9: SQLite's export state checks its item kind without an IN list (which SQLite
    // evaluated by building a table per row); PostgreSQL's check is as it was.
    "SELECT 1;",
];

/// The schema version this build of smsync writes (the SQLite engine's too).
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema version of the database; 0 when smsync never initialised it.
pub fn version(conn: &Conn) -> Result<i64> {
    let exists: bool = get(
        &conn.query_one("SELECT to_regclass('smsync_schema') IS NOT NULL", &[])?,
        0,
    )?;
    if !exists {
        return Ok(0);
    }
    Ok(conn
        .int("SELECT version FROM smsync_schema", &[])?
        .unwrap_or(0))
}

/// Applies every migration the database lacks, each in its own transaction, under a lock
/// that keeps two smsyncs from migrating at once. Returns the versions before and after.
pub fn migrate(conn: &Conn, place: &Place) -> Result<(i64, i64)> {
    conn.batch("SELECT pg_advisory_lock(7406361251637)")?;
    let result = (|| {
        let before = version(conn)?;
        if before > current_version() {
            return Err(newer_error(place, before));
        }
        conn.batch("CREATE TABLE IF NOT EXISTS smsync_schema (version BIGINT NOT NULL)")?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(before as usize) {
            let v = i as i64 + 1;
            conn.batch("BEGIN")?;
            let step = (|| {
                conn.batch(sql)?;
                conn.batch(&format!(
                    "DELETE FROM smsync_schema; INSERT INTO smsync_schema (version) VALUES ({v})"
                ))?;
                conn.batch("COMMIT")
            })();
            if let Err(e) = step {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        }
        Ok((before, version(conn)?))
    })();
    let unlocked = conn.batch("SELECT pg_advisory_unlock(7406361251637)");
    let out = result?;
    unlocked?;
    Ok(out)
}

/// Refuses a database whose schema is not the one this build writes.
pub fn check(conn: &Conn, place: &Place) -> Result<()> {
    let v = version(conn)?;
    if v > current_version() {
        return Err(newer_error(place, v));
    }
    if v == 0 {
        return Err(Error::NotFound(format!(
            "{place} holds no smsync database yet; create it with `smsync db init --db URL`"
        )));
    }
    if v < current_version() {
        return Err(Error::Other(format!(
            "{place} is at schema version {v}, this smsync needs {}; run `smsync db init` to \
             migrate it",
            current_version()
        )));
    }
    Ok(())
}

fn newer_error(place: &Place, v: i64) -> Error {
    Error::Other(format!(
        "{place} is at schema version {v}, newer than this smsync knows ({}); use a newer \
         smsync",
        current_version()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_engines_have_the_same_schema_versions() {
        assert_eq!(
            super::MIGRATIONS.len(),
            crate::store::sqlite::schema::MIGRATIONS.len(),
            "a migration added to one engine must be added to the other"
        );
    }
}
