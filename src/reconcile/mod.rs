//! `smsync reconcile`: compares a full export of a profile's Outlook (an Outlook CSV in any
//! language the readers know, a PST, a vCard/iCalendar file or a vdir folder) with what
//! the profile should hold now (the synced set, and the export state for what it was last
//! given), lists duplicates, stale, missing, mismatched and unreadable items, and writes a
//! cleanup package into `<profile>/reconcile/<run>/`. It changes no record and no stamp:
//! the database is only read.
//!
//! [`plan::reconcile`] decides (pure); [`read`] reads the files; [`package`] writes the
//! package; [`reconcile_profile`] and [`full_exports`] are what the command line drives.

pub mod package;
pub mod plan;
pub mod read;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::export::Layout;
use crate::model::{Key, Kind, Record};
use crate::store::{Profile, Store};

pub use plan::{Cause, Compared, Expected, Findings, Side};

/// How a reconcile run reads and what it writes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Overrides the profile's date format for CSV dates.
    pub date_format: Option<String>,
    /// The smsync binary, to read a PST in a child process first.
    pub pst_checker: Option<PathBuf>,
    /// Told of each item read.
    pub progress: crate::progress::Progress,
    /// Write no cleanup package (the report only).
    pub no_package: bool,
}

/// What a reconcile run of one profile found and wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    /// The run's name: its time, as the package folder is named.
    pub run: String,
    pub generated: String,
    pub inputs: Vec<InputReport>,
    #[serde(flatten)]
    pub findings: Findings,
    /// `None` when nothing needs doing.
    pub package: Option<package::Package>,
}

/// One input file as read.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    pub file: String,
    pub format: String,
    pub items: usize,
    pub notes: Vec<String>,
}

impl Report {
    /// 0 when Outlook holds exactly the synced set, 4 ("attention") when anything is listed.
    pub fn exit_code(&self) -> i32 {
        if self.findings.is_clean() {
            crate::error::exit::OK
        } else {
            crate::error::exit::ATTENTION
        }
    }
}

/// The store's facts for the planner: a record, and what the profile was given.
struct StoreFacts<'a> {
    store: &'a dyn Store,
    employee: Key,
}

impl plan::Facts for StoreFacts<'_> {
    fn record(&self, key: Key) -> Result<Option<Record>> {
        self.store.find(key)
    }
    fn exported(&self, key: Key) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        Ok(self
            .store
            .exported(self.employee, key)?
            .and_then(|e| serde_json::from_str(&e.values).ok()))
    }
}

/// The synced set of the sides `compared` covers, as the export writes it.
pub fn expected(store: &dyn Store, compared: Compared) -> Result<Expected> {
    let mut items = Vec::new();
    for kind in [Kind::Location, Kind::User, Kind::Tech, Kind::Si] {
        if !compared.covers(Side::of(kind)) {
            continue;
        }
        store.for_each_synced(kind, &mut |r| {
            items.push(crate::codec::item::Item::from_record(&r));
            Ok(())
        })?;
    }
    Ok(Expected::new(items))
}

fn read_options(
    profile: &Profile,
    opts: &Options,
) -> Result<(read::ReadOptions, crate::profile::Effective)> {
    let over = crate::profile::Overrides {
        date_format: opts.date_format.clone(),
        ..Default::default()
    };
    let eff = crate::profile::resolve(profile, &over)?;
    Ok((
        read::ReadOptions {
            dates: eff.dates.clone(),
            pst_checker: opts.pst_checker.clone(),
            progress: opts.progress.clone(),
        },
        eff,
    ))
}

/// Reconciles `files` (a full export of the profile's Outlook) with the profile. A file
/// that is clearly not the profile's is an error that says why; nothing is written then.
pub fn reconcile_profile(
    store: &dyn Store,
    drop: &Path,
    profile: &Profile,
    files: &[PathBuf],
    opts: &Options,
) -> Result<Report> {
    let (ropts, _) = read_options(profile, opts)?;
    let read = read::read_all(files, &ropts)?;
    reconcile_read(store, drop, profile, read, opts)
}

/// [`reconcile_profile`] of files already read (what [`full_exports`] found).
pub fn reconcile_read(
    store: &dyn Store,
    drop: &Path,
    profile: &Profile,
    read: read::Read,
    opts: &Options,
) -> Result<Report> {
    let (_, eff) = read_options(profile, opts)?;
    let expected = expected(store, read.compared)?;
    let names = read.names();
    let facts = StoreFacts {
        store,
        employee: profile.employee,
    };
    let findings = plan::reconcile(&expected, &read.found, &names, read.compared, &facts)?;
    if !findings.refused.is_empty() {
        let why: Vec<String> = findings
            .refused
            .iter()
            .map(|r| format!("{} (for example {})", r.reason, r.examples.join("; ")))
            .collect();
        return Err(Error::invalid(format!(
            "profile '{}': {}",
            profile.name,
            why.join("; ")
        )));
    }
    let now = crate::clock::now_micros();
    let generated = crate::clock::format_micros(now);
    let run = crate::clock::run_id(now);
    let package = if findings.is_clean() || opts.no_package {
        None
    } else {
        let root = Layout::new(drop, &profile.name).root.join("reconcile");
        let dir = package::run_dir(&root, &run)?;
        Some(package::write(
            &dir,
            &profile.name,
            &findings,
            &expected,
            &eff,
            &names,
        )?)
    };
    let run = package
        .as_ref()
        .and_then(|p| p.dir.file_name())
        .map_or(run, |n| n.to_string_lossy().into_owned());
    Ok(Report {
        profile: profile.name.clone(),
        run,
        generated,
        inputs: read
            .inputs
            .into_iter()
            .map(|i| InputReport {
                file: i.name,
                format: i.format,
                items: i.items,
                notes: i.notes,
            })
            .collect(),
        findings,
        package,
    })
}

/// The full exports of a profile's Outlook found in its inbox: their paths, their reading
/// (each file is read once, for the test and for the reconcile), and a note for every
/// other file.
#[derive(Debug, Default)]
pub struct FullExports {
    pub files: Vec<PathBuf>,
    pub read: read::Read,
    pub notes: Vec<String>,
}

/// The files of a profile's inbox that are full exports of its Outlook, and their reading.
///
/// A file is taken for a full export when it is read without error and, on a side it
/// covers (contacts or tasks), holds items with keys numbering at least half of the
/// profile's synced set of that side (and at least one). Change sheets and single items
/// hold fewer; they are for ingest. The files stay in the inbox either way.
pub fn full_exports(
    store: &dyn Store,
    drop: &Path,
    profile: &Profile,
    opts: &Options,
) -> Result<FullExports> {
    let layout = Layout::new(drop, &profile.name);
    let counts = store.sync_counts(profile)?;
    let (ropts, _) = read_options(profile, opts)?;
    let mut out = FullExports::default();
    for f in crate::ingest::inbox_files(&layout)? {
        let read = match read::read_all(std::slice::from_ref(&f), &ropts) {
            Ok(r) => r,
            Err(e) => {
                out.notes.push(format!("{}: not read ({e})", f.display()));
                continue;
            }
        };
        let keyed = |side: Side| {
            read.found
                .iter()
                .filter(|x| match &x.what {
                    plan::FoundItem::Item(it) => it.key.is_some_and(|k| Side::of(k.kind) == side),
                    plan::FoundItem::Unreadable { key, .. } => {
                        key.is_some_and(|k| Side::of(k.kind) == side)
                    }
                    plan::FoundItem::Keyless { .. } => false,
                })
                .count() as u64
        };
        let is_full = [
            (Side::Contacts, counts.contacts),
            (Side::Tasks, counts.tasks),
        ]
        .into_iter()
        .any(|(side, synced)| {
            read.compared.covers(side) && {
                let n = keyed(side);
                n >= 1 && n >= synced.div_ceil(2)
            }
        });
        if is_full {
            out.files.push(f);
            out.read.append(read);
        } else {
            out.notes.push(format!(
                "{}: not a full export (fewer keyed items than half the synced set); left \
                 for ingest",
                f.display()
            ));
        }
    }
    Ok(out)
}
