//! `smsync undo RUN`: takes a run back from the journal. A run is named by its report
//! (`ingest-<time>`, the name of `reports/<run>.json` in the profile's folder); every journal
//! row of the run carries that name. [`plan`] reads the run's changes and decides, field by
//! field, what to revert: a field that a later change touched (a later journal row, or a
//! value that is no longer the run's) is kept and reported instead. [`apply`] reverts the
//! rest in one transaction, journaled with source `undo` under a run of its own
//! (`undo-<time>`, whose rows name the undone run as their file).
//!
//! Records the run created (new SIs) are not deleted (smsync deletes no record): they are
//! reported with the way to close them.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Key, Value};
use crate::store::{JournalEntry, Source, Store};

/// One field to set back to the value it had before the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revert {
    pub item: String,
    pub field: String,
    /// The value the run wrote (the value now).
    pub from: Option<String>,
    /// The value before the run.
    pub to: Option<String>,
}

/// A field the run changed that is not reverted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub item: String,
    pub field: String,
    /// The value now (kept).
    pub now: Option<String>,
    /// The value before the run (not restored).
    pub before_run: Option<String>,
    pub reason: String,
}

/// What an undo does (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run taken back.
    pub run: String,
    pub profile: Option<String>,
    pub dry_run: bool,
    /// The undo's own run name (journal rows with source `undo`); `None` in a dry run.
    pub undo_run: Option<String>,
    pub reverted: Vec<Revert>,
    pub kept: Vec<Kept>,
    /// Records the run created: not deleted.
    pub created: Vec<String>,
}

impl Report {
    /// 0 everything reverted; 3 some fields were kept (changed later) or records the run
    /// created remain: the rest is reverted (see [`crate::error::exit`]).
    pub fn exit_code(&self) -> i32 {
        if self.kept.is_empty() && self.created.is_empty() {
            crate::error::exit::OK
        } else {
            crate::error::exit::PARTIAL
        }
    }
}

/// The run a command-line argument names: a run name, or its report's file name or path
/// (`reports/ingest-….json`).
pub fn run_name(arg: &str) -> String {
    let base = arg.rsplit(['/', '\\']).next().unwrap_or(arg);
    base.strip_suffix(".json").unwrap_or(base).to_string()
}

/// A journal value as text: `None` for an empty or missing value.
fn text(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

/// A record's value as the journal writes it.
fn value_text(v: &Value) -> Option<String> {
    if v.is_null() {
        None
    } else {
        Some(v.to_string()).filter(|s| !s.is_empty())
    }
}

/// One field the run changed: its value before the run (first change) and after it (last
/// change), and the last journal row of it.
struct Change {
    item: String,
    field: String,
    before: Option<String>,
    after: Option<String>,
    last_row: i64,
}

/// The changes of a run, field by field, in the order the run made them.
fn changes(rows: &[JournalEntry]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    let mut at: HashMap<(&str, &str), usize> = HashMap::new();
    for r in rows.iter().filter(|r| r.outcome == "changed") {
        let (Some(item), Some(field)) = (&r.item, &r.field) else {
            continue;
        };
        match at.get(&(item.as_str(), field.as_str())) {
            Some(&i) => {
                out[i].after = text(&r.new_value);
                out[i].last_row = r.id;
            }
            None => {
                at.insert((item, field), out.len());
                out.push(Change {
                    item: item.clone(),
                    field: field.clone(),
                    before: text(&r.old_value),
                    after: text(&r.new_value),
                    last_row: r.id,
                });
            }
        }
    }
    out
}

/// Plans the undo of `run`: which fields go back, which are kept (changed later), which
/// records the run created. An unknown run is a usage error that says how runs are named.
pub fn plan(store: &dyn Store, run: &str) -> Result<Report> {
    let rows = store.journal_of_run(run)?;
    if rows.is_empty() {
        return Err(Error::NotFound(format!(
            "no run named '{run}' in the journal; name an ingest run by its report: the file \
             name in <profile>/reports/ without .json (e.g. ingest-20250102T101500.000000Z), \
             as `smsync ingest` prints it and `smsync journal` shows it in brackets"
        )));
    }
    let mut report = Report {
        run: run.to_string(),
        profile: rows.iter().find_map(|r| r.profile.clone()),
        dry_run: true,
        undo_run: None,
        reverted: Vec::new(),
        kept: Vec::new(),
        created: rows
            .iter()
            .filter(|r| r.outcome == "added")
            .filter_map(|r| r.item.clone())
            .collect(),
    };
    for c in changes(&rows) {
        let keep = |now: Option<String>, reason: String| Kept {
            item: c.item.clone(),
            field: c.field.clone(),
            now,
            before_run: c.before.clone(),
            reason,
        };
        let key: Key = match c.item.parse() {
            Ok(k) => k,
            Err(_) => {
                report.kept.push(keep(
                    c.after.clone(),
                    format!("'{}' is not a record key", c.item),
                ));
                continue;
            }
        };
        let Some(record) = store.find(key)? else {
            report
                .kept
                .push(keep(None, "the record no longer exists".into()));
            continue;
        };
        let Some(i) = crate::fields::index(key.kind, &c.field) else {
            report.kept.push(keep(
                c.after.clone(),
                format!("{} has no field {}", key.kind, c.field),
            ));
            continue;
        };
        let now = value_text(&record.values[i]);
        if let Some(later) = store.later_change(&c.item, &c.field, c.last_row)? {
            report.kept.push(keep(
                now,
                format!(
                    "changed later ({} on {}{}), so the later value stays",
                    later.source,
                    crate::clock::format_micros(later.at),
                    later
                        .run
                        .as_ref()
                        .or(later.file.as_ref())
                        .map(|r| format!(", {r}"))
                        .unwrap_or_default()
                ),
            ));
        } else if now != c.after {
            report.kept.push(keep(
                now,
                "its value is no longer the one the run wrote (changed by another writer), \
                 so it stays"
                    .into(),
            ));
        } else if now != c.before {
            report.reverted.push(Revert {
                item: c.item.clone(),
                field: c.field.clone(),
                from: now,
                to: c.before.clone(),
            });
        }
    }
    Ok(report)
}

/// Reverts what `plan` planned, in one transaction journaled with source `undo`. A field
/// whose value changed since the plan, or whose record refuses the old value (a rule of
/// the database), is kept and reported instead.
pub fn apply(store: &mut dyn Store, report: &mut Report) -> Result<()> {
    let undo_run = format!("undo-{}", crate::clock::run_id(crate::clock::now_micros()));
    // Grouped by item, in the order the run changed them.
    let mut by_item: Vec<(String, Vec<Revert>)> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for r in &report.reverted {
        match at.get(r.item.as_str()) {
            Some(&i) => by_item[i].1.push(r.clone()),
            None => {
                at.insert(&r.item, by_item.len());
                by_item.push((r.item.clone(), vec![r.clone()]));
            }
        }
    }
    let mut reverted = Vec::new();
    let mut kept = Vec::new();
    store.write(&mut |w| {
        reverted.clear();
        kept.clear();
        w.set_source(Some(Source {
            kind: "undo",
            profile: report.profile.clone(),
            file: Some(report.run.clone()),
            run: Some(undo_run.clone()),
        }));
        for (item, list) in &by_item {
            let key: Key = item.parse()?;
            let record = w.get(key)?;
            let mut assignments = Vec::new();
            let mut going = Vec::new();
            for r in list {
                let def = crate::fields::get(key.kind, &r.field).ok_or_else(|| {
                    Error::Other(format!("{} has no field {}", key.kind, r.field))
                })?;
                let now = value_text(record.get(&r.field));
                if now != r.from {
                    kept.push(Kept {
                        item: item.clone(),
                        field: r.field.clone(),
                        now,
                        before_run: r.to.clone(),
                        reason: "changed while the undo was planned, so it stays".into(),
                    });
                    continue;
                }
                let value =
                    crate::admin::parse_value(&*w, def, r.to.as_deref().unwrap_or_default())?;
                assignments.push((def, value));
                going.push(r.clone());
            }
            if assignments.is_empty() {
                continue;
            }
            // A rule of the database may refuse an old value now (a Main location taken
            // meanwhile, …): that item is kept whole, the others are reverted.
            let done = w.try_set(key, &assignments).map(drop);
            match done {
                Ok(()) => reverted.extend(going),
                Err(e) => {
                    for r in going {
                        w.journal(&JournalEntry {
                            item: Some(item.clone()),
                            field: Some(r.field.clone()),
                            old_value: r.from.clone(),
                            new_value: r.to.clone(),
                            outcome: "not-reverted".into(),
                            reason: Some(e.to_string()),
                            ..Default::default()
                        })?;
                        kept.push(Kept {
                            item: item.clone(),
                            field: r.field.clone(),
                            now: r.from.clone(),
                            before_run: r.to.clone(),
                            reason: format!("the database refuses the old value: {e}"),
                        });
                    }
                }
            }
        }
        // The fields kept, journaled so that the undo's rows tell the whole story.
        for k in report.kept.iter().chain(kept.iter()) {
            w.journal(&JournalEntry {
                item: Some(k.item.clone()),
                field: Some(k.field.clone()),
                old_value: k.now.clone(),
                new_value: k.before_run.clone(),
                outcome: "not-reverted".into(),
                reason: Some(k.reason.clone()),
                ..Default::default()
            })?;
        }
        Ok(())
    })?;
    report.reverted = reverted;
    report.kept.extend(kept);
    report.dry_run = false;
    report.undo_run = Some(undo_run);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, item: &str, field: &str, old: &str, new: &str) -> JournalEntry {
        JournalEntry {
            id,
            item: Some(item.into()),
            field: Some(field.into()),
            old_value: Some(old.into()),
            new_value: Some(new.into()),
            outcome: "changed".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_run_is_named_by_its_report_file_or_path() {
        let name = "ingest-20250102T101500.000000Z";
        assert_eq!(run_name(name), name);
        assert_eq!(run_name(&format!("{name}.json")), name);
        assert_eq!(run_name(&format!("Marco Rossi/reports/{name}.json")), name);
    }

    #[test]
    fn a_field_changed_twice_by_the_run_goes_back_to_its_first_value() {
        let rows = vec![
            row(1, "SM-L1", "phone", "111", "222"),
            row(2, "SM-L1", "email", "", "a@b"),
            row(3, "SM-L1", "phone", "222", "333"),
            JournalEntry {
                id: 4,
                item: Some("SM-L1".into()),
                outcome: "refused".into(),
                ..Default::default()
            },
        ];
        let c = changes(&rows);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].field.as_str(), c[0].before.as_deref()),
            ("phone", Some("111"))
        );
        assert_eq!((c[0].after.as_deref(), c[0].last_row), (Some("333"), 3));
        assert_eq!(
            (c[1].field.as_str(), c[1].before.as_deref()),
            ("email", None)
        );
    }
}
