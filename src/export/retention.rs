//! Retention of `outlook/changes/`: which runs' change files may go. Each run leaves
//! `<run>-contacts.csv`, `<run>-tasks.csv` and `<run>-removals.csv` there, and a full run
//! leaves a full copy, so the folder would grow without end. A run is kept while a later
//! full-set sheet has not replaced it (Outlook may still need its changes), and then for
//! the configured number of days; then all its files go together.
//!
//! A run's contacts file is replaced by a later run that rewrote `outlook/contacts.csv`,
//! its tasks file by a later `tasks.csv`, and its removals by later sheets of both sides.
//! Which run last rewrote each sheet is marked by an empty file in `outlook/changes/`,
//! `.full-contacts-<run>` and `.full-tasks-<run>` (only the newest of each is kept; a name
//! of its own per run keeps the export's output byte-identical for the same database).
//! Without a marker (a folder from before them, or a lost file) nothing counts as
//! replaced, so nothing is deleted until the next sheets are written.
//!
//! [`expired`] decides, as a pure function; [`apply`] reads the folder, records this run's
//! sheets, and deletes what `expired` names.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDateTime;

use super::{FullSheet, Layout};
use crate::error::{Error, Result};
use crate::fsutil;

/// What a change file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Contacts,
    Tasks,
    Removals,
}

/// One file of `outlook/changes/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFile {
    pub path: PathBuf,
    /// The run's id: its change time, e.g. `20261125T175106.123456Z`.
    pub run: String,
    pub part: Part,
}

impl ChangeFile {
    /// The change file at `path`, when its name is one a run writes (other files are never
    /// touched).
    pub fn parse(path: &Path) -> Option<ChangeFile> {
        let name = path.file_name()?.to_str()?;
        let stem = name.strip_suffix(".csv")?;
        let (run, part) = stem.rsplit_once('-')?;
        let part = match part {
            "contacts" => Part::Contacts,
            "tasks" => Part::Tasks,
            "removals" => Part::Removals,
            _ => return None,
        };
        run_time(run)?;
        Some(ChangeFile {
            path: path.to_path_buf(),
            run: run.to_string(),
            part,
        })
    }
}

/// The runs that last rewrote each full-set sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sheets {
    pub contacts: Option<String>,
    pub tasks: Option<String>,
}

/// The marker of run `run`'s full sheet of a side (`contacts` or `tasks`).
fn marker_name(side: &str, run: &str) -> String {
    format!(".full-{side}-{run}")
}

/// A marker's side (`true`: contacts) and run, from its file name.
fn parse_marker(name: &str) -> Option<(bool, &str)> {
    let rest = name.strip_prefix(".full-")?;
    let (contacts, run) = match rest.split_once('-')? {
        ("contacts", run) => (true, run),
        ("tasks", run) => (false, run),
        _ => return None,
    };
    run_time(run).map(|_| (contacts, run))
}

impl Sheets {
    /// Takes a marker into account: the newest run of each side wins.
    fn mark(&mut self, contacts: bool, run: &str) {
        let slot = if contacts {
            &mut self.contacts
        } else {
            &mut self.tasks
        };
        if slot.as_deref().is_none_or(|s| s < run) {
            *slot = Some(run.to_string());
        }
    }

    /// Whether a later sheet replaced this file.
    fn replaced(&self, f: &ChangeFile) -> bool {
        let later = |sheet: &Option<String>| sheet.as_deref().is_some_and(|s| s > f.run.as_str());
        match f.part {
            Part::Contacts => later(&self.contacts),
            Part::Tasks => later(&self.tasks),
            Part::Removals => later(&self.contacts) && later(&self.tasks),
        }
    }
}

/// A run id's time in microseconds since the epoch (UTC).
pub fn run_time(run: &str) -> Option<i64> {
    let t = NaiveDateTime::parse_from_str(run, "%Y%m%dT%H%M%S%.fZ").ok()?;
    Some(t.and_utc().timestamp_micros())
}

/// The files to delete: those of every run that later sheets replaced in full and that is
/// older than `keep` at `now` (microseconds). A run with any file not yet replaced keeps
/// all of them.
pub fn expired(files: &[ChangeFile], sheets: &Sheets, now: i64, keep: Duration) -> Vec<PathBuf> {
    let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
    let mut runs: Vec<&str> = files.iter().map(|f| f.run.as_str()).collect();
    runs.sort_unstable();
    runs.dedup();
    let mut out = Vec::new();
    for run in runs {
        let of_run = || files.iter().filter(move |f| f.run == run);
        let old = run_time(run).is_some_and(|t| now.saturating_sub(t) > keep);
        if old && of_run().all(|f| sheets.replaced(f)) {
            out.extend(of_run().map(|f| f.path.clone()));
        }
    }
    out.sort();
    out
}

/// After run `run` committed: records which sheets it rewrote, and deletes the change
/// files [`expired`] names. Returns how many were deleted.
pub fn apply(
    layout: &Layout,
    run: &str,
    sheets: [FullSheet; 2],
    keep: Duration,
    now: i64,
) -> Result<usize> {
    for (side, sheet) in ["contacts", "tasks"].into_iter().zip(sheets) {
        if sheet == FullSheet::Rewritten {
            fsutil::write_atomic(&layout.changes.join(marker_name(side, run)), b"")?;
        }
    }
    let mut state = Sheets::default();
    let mut markers = Vec::new();
    let mut files = Vec::new();
    let entries = match fs::read_dir(&layout.changes) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&layout.changes, e)),
    };
    for e in entries {
        let e = e.map_err(|e| Error::io(&layout.changes, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((contacts, run)) = parse_marker(&name) {
            state.mark(contacts, run);
            markers.push((contacts, run.to_string()));
        }
        files.extend(ChangeFile::parse(&e.path()));
    }
    // Older markers say nothing the newest does not.
    for (contacts, run) in markers {
        let newest = if contacts {
            &state.contacts
        } else {
            &state.tasks
        };
        if newest.as_deref() != Some(run.as_str()) {
            let side = if contacts { "contacts" } else { "tasks" };
            fsutil::remove_if_exists(&layout.changes.join(marker_name(side, &run)))?;
        }
    }
    let gone = expired(&files, &state, now, keep);
    for f in &gone {
        fsutil::remove_if_exists(f)?;
    }
    Ok(gone.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    /// Run ids on consecutive days of November 2026, at noon.
    fn run(day: u32) -> String {
        format!("202611{day:02}T120000.000000Z")
    }

    fn files(day: u32, parts: &[Part]) -> Vec<ChangeFile> {
        parts
            .iter()
            .map(|&part| {
                let what = match part {
                    Part::Contacts => "contacts",
                    Part::Tasks => "tasks",
                    Part::Removals => "removals",
                };
                let path = PathBuf::from(format!("{}-{what}.csv", run(day)));
                ChangeFile::parse(&path).unwrap()
            })
            .collect()
    }

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * 86_400)
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn change_file_names_are_parsed_and_other_files_left_alone() {
        let f = ChangeFile::parse(Path::new("x/20261125T175106.123456Z-tasks.csv")).unwrap();
        assert_eq!(
            (f.run.as_str(), f.part),
            ("20261125T175106.123456Z", Part::Tasks)
        );
        for other in [
            "contacts.csv",
            ".full-sheets",
            "20261125T175106.123456Z-notes.csv",
            "yesterday-contacts.csv",
            "20261125T175106.123456Z-contacts.csv.tmp",
        ] {
            assert_eq!(ChangeFile::parse(Path::new(other)), None, "{other}");
        }
        assert_eq!(
            run_time("19700101T000001.000002Z"),
            Some(1_000_002),
            "microseconds since the epoch"
        );
    }

    #[test]
    fn a_run_goes_once_a_later_sheet_replaced_it_and_it_is_older_than_the_days_kept() {
        use Part::*;
        let mut all = files(1, &[Contacts, Tasks, Removals]);
        all.extend(files(5, &[Contacts]));
        all.extend(files(9, &[Contacts, Tasks]));
        let now = run_time(&run(20)).unwrap();
        // Both sheets rewritten on day 9: days 1 and 5 are replaced.
        let sheets = Sheets {
            contacts: Some(run(9)),
            tasks: Some(run(9)),
        };
        assert_eq!(
            names(&expired(&all, &sheets, now, days(16))),
            vec![
                format!("{}-contacts.csv", run(1)),
                format!("{}-removals.csv", run(1)),
                format!("{}-tasks.csv", run(1)),
            ],
            "day 5 (15 days old) is within the 16 days kept, day 1 (19) is not"
        );
        assert_eq!(expired(&all, &sheets, now, days(14)).len(), 4);
        // Day 9's own files are never replaced by its own sheets.
        assert_eq!(expired(&all, &sheets, now + 100 * DAY, days(0)).len(), 4);
        assert!(expired(&all, &sheets, now, days(30)).is_empty());
    }

    #[test]
    fn a_run_not_yet_replaced_is_kept_however_old() {
        use Part::*;
        let mut all = files(1, &[Contacts, Tasks, Removals]);
        all.extend(files(2, &[Tasks]));
        let now = run_time(&run(30)).unwrap() + 1000 * DAY;
        // No sheet written since (or no record of one): everything stays.
        assert!(expired(&all, &Sheets::default(), now, days(0)).is_empty());
        // Only the contacts sheet rewritten later: day 1's tasks and removals still count,
        // so all of day 1 stays; so does day 2's tasks file.
        let contacts_only = Sheets {
            contacts: Some(run(3)),
            tasks: Some(run(1)),
        };
        assert!(expired(&all, &contacts_only, now, days(0)).is_empty());
        // Removals wait for both sheets: a run of contacts and removals stays while only
        // the contacts sheet is newer.
        let removals = files(4, &[Contacts, Removals]);
        let later_contacts = Sheets {
            contacts: Some(run(5)),
            tasks: Some(run(1)),
        };
        assert!(expired(&removals, &later_contacts, now, days(0)).is_empty());
        // The tasks sheet too: both runs go.
        let both = Sheets {
            contacts: Some(run(3)),
            tasks: Some(run(3)),
        };
        assert_eq!(expired(&all, &both, now, days(0)).len(), 4);
    }

    #[test]
    fn markers_read_back_and_the_newest_of_each_side_wins() {
        let name = marker_name("contacts", &run(3));
        assert_eq!(parse_marker(&name), Some((true, run(3).as_str())));
        let mut s = Sheets::default();
        for (contacts, day) in [(true, 3), (true, 7), (true, 5), (false, 2)] {
            s.mark(contacts, &run(day));
        }
        assert_eq!(
            s,
            Sheets {
                contacts: Some(run(7)),
                tasks: Some(run(2)),
            }
        );
        for junk in [
            ".full-contacts-yesterday",
            ".full-notes-20261101T120000.000000Z",
            ".full-",
        ] {
            assert_eq!(parse_marker(junk), None, "{junk}");
        }
    }
}
