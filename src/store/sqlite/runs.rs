//! The `runs` table: one row per ingest or export run of a profile, with its outcome and a
//! one-line summary, for `status` and `report`. Written outside the change clock.

use rusqlite::{Connection, params};

use crate::error::{Error, Result};
use crate::store::{RUNS_KEPT, RunKind, RunOutcome, RunRecord};

pub(super) fn record(conn: &Connection, run: &RunRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO runs (profile, kind, started, finished, outcome, summary) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            run.profile,
            run.kind.as_str(),
            run.started,
            run.finished,
            run.outcome.as_str(),
            run.summary
        ],
    )?;
    conn.execute(
        "DELETE FROM runs WHERE profile = ?1 AND id <= \
         (SELECT id FROM runs WHERE profile = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![run.profile, RUNS_KEPT as i64],
    )?;
    Ok(())
}

pub(super) fn list(
    conn: &Connection,
    profile: Option<&str>,
    limit: usize,
) -> Result<Vec<RunRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, profile, kind, started, finished, outcome, summary FROM runs \
         WHERE ?1 IS NULL OR profile = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![profile, limit as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let kind: String = r.get(2)?;
        let outcome: String = r.get(5)?;
        let bad = |what: &str, v: &str| {
            Error::Db(format!(
                "the runs table holds an unknown {what} '{v}'; was it written by a newer smsync?"
            ))
        };
        out.push(RunRecord {
            id: r.get(0)?,
            profile: r.get(1)?,
            kind: RunKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
            started: r.get(3)?,
            finished: r.get(4)?,
            outcome: RunOutcome::parse(&outcome).ok_or_else(|| bad("outcome", &outcome))?,
            summary: r.get(6)?,
        });
    }
    Ok(out)
}
