//! What an admin needs to see, gathered once for `status` and `report`: per profile its
//! stamps and pending counts, the inbox backlog, rejected files with their reasons, the
//! last ingest and export with their outcome (the `runs` the drivers record through
//! [`export_recorded`] and [`ingest_recorded`]), refused edits and conflicts of the last
//! days from the journal, and the site's sync activity per day; and whether a watcher
//! holds the drop folder. [`html`] renders it as one self-contained page.
//!
//! This module only reads (the database through [`Store`], the drop folder's files);
//! recording a run is one row through [`Store::record_run`].

pub mod html;
pub mod reconcile;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::clock;
use crate::error::Result;
use crate::export::{self, Layout};
use crate::ingest;
use crate::store::{JournalEntry, Profile, RunKind, RunOutcome, RunRecord, Store, SyncCounts};

/// Files waiting in a profile's inbox.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Backlog {
    pub files: usize,
    /// When the oldest of them was last modified (RFC 3339).
    pub oldest: Option<String>,
    /// The first names, sorted.
    pub names: Vec<String>,
}

/// A file in `rejected/`, with the reason its `.error.txt` gives.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// `<day>/<name>` inside `rejected/`.
    pub file: String,
    /// When it was rejected (its `.error.txt` was written), RFC 3339.
    pub at: String,
    #[serde(skip)]
    pub at_micros: i64,
    pub reason: String,
}

/// What a journal row says about an edit from Outlook, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EditClass {
    /// A change applied (or made by an admin).
    Change,
    /// Refused, not updatable, without `!Update`, naming nothing.
    Refused,
    /// Changed on both sides: one side won, the other's value is in the journal.
    Conflict,
}

impl EditClass {
    /// The class of a journal row's outcome.
    pub fn of(outcome: &str) -> EditClass {
        if outcome.starts_with("conflict") {
            EditClass::Conflict
        } else if matches!(
            outcome,
            "refused" | "not-updatable" | "needs-update-category" | "ignored"
        ) {
            EditClass::Refused
        } else {
            EditClass::Change
        }
    }
}

/// Everything an admin sees of one profile.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileReport {
    pub profile: String,
    pub employee: String,
    pub folder: String,
    pub contacts_stamp: Option<String>,
    pub tasks_stamp: Option<String>,
    pub counts: SyncCounts,
    pub backlog: Backlog,
    /// Every file in `rejected/`, newest first.
    pub rejected: Vec<Rejected>,
    /// How many of them the last ingest run rejected, or anything since.
    pub rejected_since_last_run: usize,
    pub last_ingest: Option<RunRecord>,
    pub last_export: Option<RunRecord>,
    /// Refused edits and conflicts of the last days, newest first.
    pub refused: Vec<JournalEntry>,
    /// Recent runs, newest first.
    pub runs: Vec<RunRecord>,
}

impl ProfileReport {
    /// What needs an admin's attention, one short line each (empty when nothing does).
    pub fn attention(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.backlog.files > 0 {
            out.push(format!(
                "{} file(s) wait in the inbox (oldest {})",
                self.backlog.files,
                self.backlog.oldest.as_deref().unwrap_or("?")
            ));
        }
        if self.rejected_since_last_run > 0 {
            out.push(format!(
                "{} file(s) rejected by the last ingest run or since: see rejected/",
                self.rejected_since_last_run
            ));
        }
        for run in [&self.last_ingest, &self.last_export].into_iter().flatten() {
            if run.outcome != RunOutcome::Ok {
                out.push(format!(
                    "the last {} {}: {}",
                    run.kind.as_str(),
                    if run.outcome == RunOutcome::Failed {
                        "failed"
                    } else {
                        "needs attention"
                    },
                    run.summary
                ));
            }
        }
        out
    }
}

/// Sync activity of one day, from the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub changes: u64,
    pub refused: u64,
    pub conflicts: u64,
}

/// The whole site, as `report` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SiteReport {
    pub generated: String,
    pub database: String,
    pub drop: String,
    pub days: u32,
    /// The pid of the watcher that holds the drop folder, if one runs.
    pub watcher: Option<String>,
    pub profiles: Vec<ProfileReport>,
    /// One entry per day of the period, oldest first.
    pub activity: Vec<Day>,
}

/// How much of the journal a report reads.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub days: u32,
    pub now: i64,
}

impl Period {
    fn since(&self) -> i64 {
        self.now - i64::from(self.days) * 86_400_000_000
    }
}

/// Most journal rows a report reads (newest first).
const JOURNAL_ROWS: usize = 200_000;
/// Most refused edits listed per profile, and recent runs.
const LISTED: usize = 200;
const RECENT_RUNS: usize = 20;

/// Gathers the report of every profile. Without a `period` the journal is not read (what
/// `status` needs).
pub fn gather(
    store: &dyn Store,
    db: &Path,
    drop: &Path,
    period: Option<Period>,
) -> Result<SiteReport> {
    let mut journal: Vec<JournalEntry> = Vec::new();
    if let Some(p) = period {
        let since = p.since();
        store.journal_entries(None, JOURNAL_ROWS, &mut |e| {
            if e.at >= since {
                journal.push(e);
            }
            Ok(())
        })?;
    }
    let mut profiles = Vec::new();
    for p in store.profiles()? {
        profiles.push(profile_report(store, drop, &p, &journal)?);
    }
    let (days, now) = period.map_or((0, clock::now_micros()), |p| (p.days, p.now));
    Ok(SiteReport {
        generated: clock::format_micros(now),
        database: crate::store::shown(db),
        drop: drop.display().to_string(),
        days,
        watcher: watcher_pid(drop),
        profiles,
        activity: period.map(|p| activity(&journal, p)).unwrap_or_default(),
    })
}

fn profile_report(
    store: &dyn Store,
    drop: &Path,
    p: &Profile,
    journal: &[JournalEntry],
) -> Result<ProfileReport> {
    let layout = Layout::new(drop, &p.name);
    let mut runs = store.runs(Some(&p.name), crate::store::RUNS_KEPT)?;
    let mut ingests = runs.iter().filter(|r| r.kind == RunKind::Ingest);
    let last_ingest = ingests.next().cloned();
    // Rejected by the last ingest run, or since: after the run before it finished. (A
    // file's time comes from the kernel's coarse clock, a few ms behind; the end of the
    // run before is well before anything the last run wrote.)
    let since = ingests.next().map_or(i64::MIN, |r| r.finished);
    let last_export = runs.iter().find(|r| r.kind == RunKind::Export).cloned();
    runs.truncate(RECENT_RUNS);
    let rejected = rejected(&layout);
    let refused = journal
        .iter()
        .filter(|e| e.profile.as_deref() == Some(p.name.as_str()))
        .filter(|e| EditClass::of(&e.outcome) != EditClass::Change)
        .take(LISTED)
        .cloned()
        .collect();
    Ok(ProfileReport {
        profile: p.name.clone(),
        employee: p.employee.to_string(),
        folder: layout.root.display().to_string(),
        contacts_stamp: p.contacts_stamp.map(clock::format_micros),
        tasks_stamp: p.tasks_stamp.map(clock::format_micros),
        counts: store.sync_counts(p)?,
        backlog: backlog(&layout),
        rejected_since_last_run: rejected.iter().filter(|r| r.at_micros >= since).count(),
        rejected,
        last_ingest,
        last_export,
        refused,
        runs,
    })
}

fn micros(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn backlog(layout: &Layout) -> Backlog {
    let files = ingest::inbox_files(layout).unwrap_or_default();
    let oldest = files
        .iter()
        .filter_map(|f| fs::symlink_metadata(f).ok()?.modified().ok())
        .min()
        .map(|t| clock::format_micros(micros(t)));
    Backlog {
        files: files.len(),
        oldest,
        names: files
            .iter()
            .take(20)
            .filter_map(|f| Some(f.file_name()?.to_string_lossy().into_owned()))
            .collect(),
    }
}

/// The files of `rejected/<day>/`, each with the reason from its `.error.txt`.
fn rejected(layout: &Layout) -> Vec<Rejected> {
    let mut out = Vec::new();
    for day in fs::read_dir(&layout.rejected)
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in fs::read_dir(day.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(input) = name.strip_suffix(".error.txt") else {
                continue;
            };
            let at = f.metadata().and_then(|m| m.modified()).map_or(0, micros);
            let reason = fs::read_to_string(f.path()).unwrap_or_default();
            out.push(Rejected {
                file: format!("{}/{input}", day.file_name().to_string_lossy()),
                at: clock::format_micros(at),
                at_micros: at,
                reason: reason.trim().chars().take(2000).collect(),
            });
        }
    }
    out.sort_by(|a, b| b.at_micros.cmp(&a.at_micros).then(a.file.cmp(&b.file)));
    out
}

/// The journal's rows per day of the period, oldest first (days without rows included).
pub fn activity(journal: &[JournalEntry], period: Period) -> Vec<Day> {
    let day_of = |us: i64| {
        clock::format_micros(us)
            .chars()
            .take(10)
            .collect::<String>()
    };
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    for i in (0..period.days.max(1)).rev() {
        let d = day_of(period.now - i64::from(i) * 86_400_000_000);
        days.insert(
            d.clone(),
            Day {
                day: d,
                ..Default::default()
            },
        );
    }
    for e in journal {
        let Some(day) = days.get_mut(&day_of(e.at)) else {
            continue;
        };
        match EditClass::of(&e.outcome) {
            EditClass::Change => day.changes += 1,
            EditClass::Refused => day.refused += 1,
            EditClass::Conflict => day.conflicts += 1,
        }
    }
    days.into_values().collect()
}

/// The pid written in the watcher's lock file, while a watcher holds it (`None` when no
/// watcher runs on this drop folder). The lock is probed with a shared `flock` that is
/// released at once.
pub fn watcher_pid(drop: &Path) -> Option<String> {
    let path = drop.join(".smsync-watch.lock");
    let file = fs::File::open(&path).ok()?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor `file` owns; released when `file` drops.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
        if rc == 0 {
            return None;
        }
    }
    let pid = fs::read_to_string(&path).ok()?.trim().to_string();
    Some(if pid.is_empty() { "?".into() } else { pid })
}

/// Runs an export of one profile and records the run (its outcome and a summary).
pub fn export_recorded(
    store: &mut dyn Store,
    profile: &Profile,
    drop: &Path,
    opts: &export::Options,
) -> Result<export::Report> {
    let started = clock::now_micros();
    let r = export::export_profile(store, profile, drop, opts, &mut || {});
    let (outcome, summary) = match &r {
        // Stopped by the removal guard before writing anything: the guard's text.
        Ok(r) if r.guard.is_some() => (
            RunOutcome::Attention,
            format!(
                "stopped by the guard, nothing written: {}",
                r.guard.as_ref().expect("guard")
            ),
        ),
        Ok(r) => (
            // Items an output left out, or a PST left alone: the run's own exit code says
            // whether an admin should look.
            if r.exit_code() == crate::error::exit::OK {
                RunOutcome::Ok
            } else {
                RunOutcome::Attention
            },
            format!(
                "{}contacts {} written, {} removed; tasks {} written, {} removed{}{}",
                if r.full { "full; " } else { "" },
                r.contacts.written,
                r.contacts.removed,
                r.tasks.written,
                r.tasks.removed,
                if r.refused.is_empty() {
                    String::new()
                } else {
                    format!("; {} value(s) left out: {}", r.refused.len(), r.refused[0])
                },
                r.pst_skipped
                    .as_ref()
                    .map(|s| format!("; {s}"))
                    .unwrap_or_default()
            ),
        ),
        Err(e) => (RunOutcome::Failed, e.to_string()),
    };
    record(
        store,
        &profile.name,
        RunKind::Export,
        started,
        outcome,
        summary,
    );
    r
}

/// Runs an ingest of one profile and records the run (its outcome and a summary).
pub fn ingest_recorded(
    store: &mut dyn Store,
    profile: &Profile,
    drop: &Path,
    files: &[std::path::PathBuf],
    opts: &ingest::Options,
) -> Result<ingest::Report> {
    let started = clock::now_micros();
    let r = ingest::ingest(store, profile, drop, files, opts);
    if opts.dry_run {
        return r;
    }
    let (outcome, summary) = match &r {
        // Stopped by the change guard before applying anything: the guard's text.
        Ok(r) if r.guard.is_some() => (
            RunOutcome::Attention,
            format!(
                "stopped by the guard, nothing applied, {} file(s) left in the inbox: {}",
                r.files.len(),
                r.guard.as_ref().expect("guard")
            ),
        ),
        Ok(r) => {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for f in &r.files {
                *by.entry(f.outcome.as_str()).or_default() += 1;
            }
            let files: Vec<String> = by.iter().map(|(o, n)| format!("{n} {o}")).collect();
            let t = &r.tally;
            let outcome = if r.exit_code() == crate::error::exit::OK {
                RunOutcome::Ok
            } else {
                RunOutcome::Attention
            };
            (
                outcome,
                format!(
                    "{} file(s){}{}; {} applied, {} created, {} refused",
                    r.files.len(),
                    if files.is_empty() { "" } else { ": " },
                    files.join(", "),
                    t.applied,
                    t.created,
                    t.refused
                ),
            )
        }
        Err(e) => (RunOutcome::Failed, e.to_string()),
    };
    record(
        store,
        &profile.name,
        RunKind::Ingest,
        started,
        outcome,
        summary,
    );
    r
}

/// Records a run; a failure to record is logged, never the run's failure.
fn record(
    store: &mut dyn Store,
    profile: &str,
    kind: RunKind,
    started: i64,
    outcome: RunOutcome,
    summary: String,
) {
    let run = RunRecord {
        id: 0,
        profile: profile.to_string(),
        kind,
        started,
        finished: clock::now_micros(),
        outcome,
        summary,
    };
    if let Err(e) = store.record_run(&run) {
        tracing::warn!(profile, error = %e, "cannot record the run");
    }
}
