//! Export, database → files (SPEC §3, §5): per profile, the records changed since its
//! stamps go out through each selected output (vdir, Outlook CSV, vCard 2.1, PST); items that
//! left the synced set are removed and listed. Memory stays flat: records come in pages.
//!
//! This module is the driver: it reads pages and export state, asks [`plan`] what each
//! output must do with each record, has the [`output::Output`]s carry it out, and commits
//! the state and the stamps. Each output keeps its own state and stamps, so a run of some
//! outputs never hides a change from another.
//!
//! Safety: every file is written atomically; a run marks its profile folder while it runs,
//! and a run that finds the mark of an interrupted one rewrites and re-lists everything
//! since the stamps (which move only at the end, after a file-system sync).
//!
//! Guards: before the marker or any file is written, a run counts the removals it would
//! make (through the store, no file I/O) and stops when [`plan::removal_guard`] says they
//! are too many, unless `allow_mass_removal`. [`dry_run`] plans a run without writing
//! anything.

mod outlook;
pub mod output;
pub mod plan;
pub mod pst;
pub mod retention;
mod vcards21;
mod vdir;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::Serialize;

use crate::clock;
use crate::codec::item::Item;
use crate::codec::outlook_csv::{Encoding, Language};
use crate::codec::text::DateFormat;
use crate::codec::vcard;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::model::{Key, Kind, SiStatus};
use crate::store::{Changed, Cursor, Exported, OutputStamps, Profile, Store};

pub use output::{OutputKind, Outputs, Side};
pub use plan::{FullSheet, RemovalGuard};

use output::{Output, Put, Refusal, Written};
use plan::{Action, Facts, Mode, SheetFacts, StateChange, Threshold};

/// How an export writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// vCard version of the vdir (`contacts/`): 3.0 or 4.0.
    pub vcard: vcard::Version,
    pub encoding: Encoding,
    pub dates: DateFormat,
    /// Records read per page (and per state transaction).
    pub page: usize,
    /// Up to this many items, an incremental run that changed something rewrites the
    /// full-set CSV; above it only full runs do (rewriting 1,000,000 rows for 100 changes
    /// would make the run cost follow the database, not the changes).
    pub full_sheet_limit: u64,
    /// Which outputs to write; all by default. Leaving one out leaves its files and its
    /// state as they are: its next run catches up.
    pub outputs: Outputs,
    /// Neutralise spreadsheet formulas in the CSV files (see `outlook_csv::neutralise`).
    pub csv_safe: bool,
    /// The language of the Outlook CSV headers (the profile's Outlook; English by default).
    pub csv_language: Language,
    /// Told of each page of records done (the command line draws a progress bar).
    pub progress: crate::progress::Progress,
    /// Change files in `outlook/changes/` that later full-set sheets replaced are kept
    /// this long, then deleted (see [`retention`]).
    pub keep_changes: std::time::Duration,
    /// A run that would remove more than this of the profile's items stops before it
    /// writes anything ([`plan::removal_guard`]).
    pub removal_guard: Threshold,
    /// Proceed whatever the removal guard says (`--allow-mass-removal`).
    pub allow_mass_removal: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            vcard: vcard::Version::V30,
            encoding: Encoding::Utf8Bom,
            dates: DateFormat::default(),
            page: 1000,
            full_sheet_limit: 20_000,
            outputs: Outputs::default(),
            csv_safe: false,
            csv_language: Language::En,
            progress: Default::default(),
            keep_changes: std::time::Duration::from_secs(30 * 86_400),
            removal_guard: crate::profile::DEFAULT_REMOVAL_GUARD,
            allow_mass_removal: false,
        }
    }
}

/// The folders of one profile in the drop folder (SPEC §5).
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub root: PathBuf,
    pub contacts: PathBuf,
    pub tasks: PathBuf,
    pub outlook: PathBuf,
    pub changes: PathBuf,
    pub vcards21: PathBuf,
    pub inbox: PathBuf,
    pub processed: PathBuf,
    pub rejected: PathBuf,
    pub reports: PathBuf,
}

impl Layout {
    pub fn new(drop: &Path, profile: &str) -> Layout {
        let root = drop.join(fsutil::safe_dir_name(profile));
        let outlook = root.join("outlook");
        Layout {
            contacts: root.join("contacts"),
            tasks: root.join("tasks"),
            changes: outlook.join("changes"),
            outlook,
            vcards21: root.join("outlook-vcards"),
            inbox: root.join("inbox"),
            processed: root.join("processed"),
            rejected: root.join("rejected"),
            reports: root.join("reports"),
            root,
        }
    }

    pub fn create(&self) -> Result<()> {
        for d in [
            &self.contacts,
            &self.tasks,
            &self.changes,
            &self.vcards21,
            &self.inbox,
            &self.processed,
            &self.rejected,
            &self.reports,
        ] {
            fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        Ok(())
    }

    /// The folders an export writes into.
    fn output_dirs(&self) -> [&PathBuf; 5] {
        [
            &self.contacts,
            &self.tasks,
            &self.outlook,
            &self.changes,
            &self.vcards21,
        ]
    }

    /// One smsync at a time works on a profile's folder: a second export or ingest waits
    /// for the first (up to a minute: `fsutil::PidLock::wait`), then refuses naming it.
    pub fn lock(&self, profile: &str) -> Result<fsutil::PidLock> {
        fsutil::PidLock::acquire(
            &self.root.join(".smsync.lock"),
            fsutil::PidLock::wait(),
            &format!("profile '{profile}' in {}", self.root.display()),
        )
    }

    fn marker(&self) -> PathBuf {
        self.root.join(".export-running")
    }

    /// The note left in the folder of an inactive employee (removed when it is active
    /// again and exported).
    pub fn inactive_note(&self) -> PathBuf {
        self.reports.join("inactive.txt")
    }

    /// The vdir file of an item.
    pub fn item_file(&self, kind: Kind, uid: &str) -> PathBuf {
        let stem = fsutil::safe_stem(uid);
        if kind == Kind::Si {
            self.tasks.join(format!("{stem}.ics"))
        } else {
            self.contacts.join(format!("{stem}.vcf"))
        }
    }

    /// The vCard 2.1 file of a contact.
    pub fn vcard21_file(&self, uid: &str) -> PathBuf {
        self.vcards21
            .join(format!("{}.vcf", fsutil::safe_stem(uid)))
    }
}

/// Makes a profile's drop folder follow its employee (SPEC §8): when the employee was
/// renamed since the folder was last written (`profile.folder`), the folder moves to the
/// new name with everything in it (inbox, processed, rejected, reports, the outputs), under
/// the old folder's lock, and the new name is recorded. Returns the old folder when it
/// moved. Refuses, changing nothing, when a folder with the new name already exists.
/// (When there is nothing to move, the export records the folder's name with its stamps:
/// a write here would move the change clock, and a run's file names come from it.)
pub fn follow_folder(
    store: &mut dyn Store,
    profile: &Profile,
    drop: &Path,
) -> Result<Option<PathBuf>> {
    let previous = match profile.folder.as_deref() {
        Some(f) if f != profile.name => f,
        _ => return Ok(None),
    };
    let old = Layout::new(drop, previous);
    let new = Layout::new(drop, &profile.name);
    if old.root == new.root || !old.root.is_dir() {
        // Same folder name, or nothing to move (never created, or moved by hand).
        return Ok(None);
    }
    // Checked before the lock too, so that a refusal leaves the old folder untouched.
    let taken = || fs::symlink_metadata(&new.root).is_ok();
    let _lock = if taken() {
        None
    } else {
        Some((old.lock(previous)?, store.lock_profile(previous)?))
    };
    if taken() {
        return Err(Error::invalid(format!(
            "profile '{}' ({}) was renamed from '{previous}', so its drop folder {} should \
             move to {}, but that folder already exists; smsync does not merge folders. Move \
             {} away (or merge it into {} by hand, keeping the files in its inbox), then run \
             again",
            profile.name,
            profile.employee,
            old.root.display(),
            new.root.display(),
            new.root.display(),
            old.root.display()
        )));
    }
    let moved =
        fsutil::rename_no_replace(&old.root, &new.root).map_err(|e| Error::io(&old.root, e))?;
    if !moved {
        return Err(Error::invalid(format!(
            "cannot move {} to {}: the folder appeared meanwhile; run again",
            old.root.display(),
            new.root.display()
        )));
    }
    fsutil::sync_dir(drop)?;
    store.write(&mut |w| w.set_profile_folder(profile.employee, &profile.name, Some(previous)))?;
    Ok(Some(old.root))
}

/// What one side (contacts or tasks) of a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub written: u64,
    pub removed: u64,
    pub unchanged: u64,
}

impl Counts {
    fn changed(&self) -> bool {
        self.written + self.removed > 0
    }

    fn add(&mut self, other: Counts) {
        self.written += other.written;
        self.removed += other.removed;
        self.unchanged += other.unchanged;
    }
}

/// What an export of one profile did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    pub folder: PathBuf,
    pub contacts: Counts,
    pub tasks: Counts,
    /// Whether this run wrote everything (first run, after a reset, or after an interrupted
    /// run).
    pub full: bool,
    pub recovered: bool,
    /// What became of `outlook/contacts.csv` and `outlook/tasks.csv`.
    pub contacts_sheet: FullSheet,
    pub tasks_sheet: FullSheet,
    /// The files of this run's changes for Outlook, when it changed anything.
    pub change_files: Vec<PathBuf>,
    pub contacts_stamp: Option<String>,
    pub tasks_stamp: Option<String>,
    /// The profile's previous folder, when this run moved it to `folder` (the employee was
    /// renamed).
    pub moved_from: Option<PathBuf>,
    /// Values an output could not write (a character its encoding cannot hold): each item
    /// was left out of that output only, and stays pending for it.
    pub refused: Vec<Refusal>,
    /// Set when the run stopped before writing anything: it would have removed too much
    /// of the profile (nothing was written, no stamp moved).
    pub guard: Option<RemovalGuard>,
    /// Set when the PST output was selected but left out of this run: its file is in use
    /// or holds edits not yet ingested (the other outputs went on).
    pub pst_skipped: Option<pst::Skipped>,
}

impl Report {
    /// The exit code of the run: 4 when a guard stopped it or the PST was left alone, 3
    /// when an output left items out.
    pub fn exit_code(&self) -> i32 {
        if self.guard.is_some() || self.pst_skipped.is_some() {
            crate::error::exit::ATTENTION
        } else if self.refused.is_empty() {
            crate::error::exit::OK
        } else {
            crate::error::exit::PARTIAL
        }
    }
}

/// A page's export-state changes, committed after its files are written.
type StateOps = Vec<(Key, StateChange)>;

/// Pages of export state waiting for the state thread. A commit that starts SQLite's
/// checkpoint waits for its syncs (0.2–0.6 s each in a 1,000,000-contact export, strace);
/// with two pages of room that wait stopped the reading and the files too. 64 pages cover
/// about 0.6 s of reading at some 300 KB each (bounded: memory does not follow the run).
const STATE_QUEUE: usize = 64;

/// How one page was written: the state changes to commit, the counts, and the outputs
/// (bits) that changed anything.
type PageDone = Result<(StateOps, Counts, u32)>;

/// The outputs of a run and the files they wrote; lives on the writer thread while pages
/// are written.
struct Files {
    outputs: Vec<Box<dyn Output>>,
    written: Written,
    /// Per output (same order): how it runs the side being written.
    modes: Vec<Mode>,
}

/// What one output did with one record: the output's bit in `written`, `removed` or
/// `refused`, or `unchanged`.
#[derive(Debug, Clone, Copy, Default)]
struct Did {
    written: u32,
    removed: u32,
    refused: u32,
    unchanged: bool,
}

impl Did {
    fn add(&mut self, o: Did) {
        self.written |= o.written;
        self.removed |= o.removed;
        self.refused |= o.refused;
        self.unchanged |= o.unchanged;
    }
}

/// Carries out what the plan says one output does with one record.
fn carry_out(
    out: &mut dyn Output,
    mode: Mode,
    written: &mut Written,
    side: Side,
    item: &Item,
    facts: &Facts,
    dirty: bool,
) -> Result<Did> {
    let o = out.kind();
    let mut did = Did::default();
    if !o.serves(side) {
        return Ok(did);
    }
    let action = if dirty {
        plan::decide_dirty(facts, o.bit())
    } else {
        plan::decide(facts, o.bit(), mode)
    };
    match action {
        Action::Write { in_set } => match out.put(written, side, item, in_set)? {
            Put::Done => did.written = o.bit(),
            Put::LeftOut => did.removed = o.bit(),
            Put::Refused => did.refused = o.bit(),
        },
        Action::Remove => match out.remove(item)? {
            Put::Done | Put::LeftOut => did.removed = o.bit(),
            Put::Refused => did.refused = o.bit(),
        },
        Action::Unchanged => did.unchanged = true,
        Action::Nothing => {}
    }
    Ok(did)
}

impl Files {
    /// The facts the plan decides on for the item of a record.
    fn facts<'a>(item: &Item, in_set: bool, prev: Option<&'a Exported>) -> Facts<'a> {
        let closed = item.kind == Kind::Si && item.si_status() == Some(SiStatus::Closed);
        Facts {
            in_set,
            closed,
            hash: item.hash(),
            prev,
        }
    }

    /// What every output did with a record: adds to the counts and the changed-output
    /// bits; returns the state change.
    fn settle(
        item: &Item,
        facts: &Facts,
        did: Did,
        counts: &mut Counts,
        changed: &mut u32,
    ) -> StateChange {
        if did.written != 0 {
            counts.written += 1;
        } else if did.removed != 0 {
            counts.removed += 1;
        } else if did.unchanged {
            counts.unchanged += 1;
        }
        *changed |= did.written | did.removed;
        plan::next_state(
            facts.prev,
            || Exported {
                hash: facts.hash,
                status: item.si_status().map(|s| s.as_str().to_string()),
                values: item.values_json(),
                updated_at: item.modified.unwrap_or(0),
                held: 0,
                current: 0,
            },
            did.written,
            did.removed,
            did.refused,
        )
    }

    /// Carries out what the plan says each output does with one record; returns the
    /// state change, and adds to the counts and the changed-output bits.
    fn record(
        &mut self,
        side: Side,
        ch: &Changed,
        dirty: bool,
        counts: &mut Counts,
        changed: &mut u32,
    ) -> Result<StateChange> {
        let item = Item::from_record(&ch.record);
        let facts = Self::facts(&item, ch.in_set, ch.exported.as_ref());
        let mut did = Did::default();
        for (out, &mode) in self.outputs.iter_mut().zip(&self.modes) {
            did.add(carry_out(
                &mut **out,
                mode,
                &mut self.written,
                side,
                &item,
                &facts,
                dirty,
            )?);
        }
        Ok(Self::settle(&item, &facts, did, counts, changed))
    }

    /// Writes one page of changes. Each output that serves the side takes the whole page
    /// on a thread of its own (outputs are independent: the vdir files and the vCard 2.1
    /// files of a page are created at the same time); the first on this thread.
    fn page(&mut self, side: Side, page: Vec<Changed>) -> PageDone {
        // The records' texts move into their items.
        let mut rest = Vec::with_capacity(page.len());
        let mut items = Vec::with_capacity(page.len());
        for ch in page {
            rest.push((ch.record.key, ch.in_set, ch.exported));
            items.push(Item::from_owned(ch.record));
        }
        let prepared: Vec<(Item, Facts)> = items
            .into_iter()
            .zip(&rest)
            .map(|(item, (_, in_set, prev))| {
                let facts = Self::facts(&item, *in_set, prev.as_ref());
                (item, facts)
            })
            .collect();
        let serving: Vec<(&mut Box<dyn Output>, Mode)> = self
            .outputs
            .iter_mut()
            .zip(self.modes.iter().copied())
            .filter(|(o, _)| o.kind().serves(side))
            .collect();
        let run = |out: &mut Box<dyn Output>, mode: Mode| -> Result<(Vec<Did>, Written)> {
            let mut written = Written::default();
            let mut dids = Vec::with_capacity(prepared.len());
            for (item, facts) in &prepared {
                dids.push(carry_out(
                    &mut **out,
                    mode,
                    &mut written,
                    side,
                    item,
                    facts,
                    false,
                )?);
            }
            Ok((dids, written))
        };
        let results: Vec<Result<(Vec<Did>, Written)>> = std::thread::scope(|scope| {
            let mut serving = serving.into_iter();
            let first = serving.next();
            let others: Vec<_> = serving
                .map(|(out, mode)| scope.spawn(move || run(out, mode)))
                .collect();
            let mut results: Vec<_> = first
                .map(|(out, mode)| run(out, mode))
                .into_iter()
                .collect();
            for h in others {
                results.push(
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Other("an export output panicked".into()))),
                );
            }
            results
        });
        let mut dids = vec![Did::default(); prepared.len()];
        for r in results {
            let (done, written) = r?;
            self.written.merge(written);
            for (all, one) in dids.iter_mut().zip(done) {
                all.add(one);
            }
        }
        let mut counts = Counts::default();
        let mut changed = 0;
        let mut ops = Vec::with_capacity(rest.len());
        for (((key, _, _), (item, facts)), did) in rest.iter().zip(&prepared).zip(dids) {
            let op = Self::settle(item, facts, did, &mut counts, &mut changed);
            if op != StateChange::Keep {
                ops.push((*key, op));
            }
        }
        Ok((ops, counts, changed))
    }

    fn refusals(&self) -> Vec<Refusal> {
        self.outputs
            .iter()
            .flat_map(|o| o.refusals())
            .cloned()
            .collect()
    }
}

/// A run: the database half (pages, export state, stamps) and the file half ([`Files`]),
/// which runs on a second thread while the next page is read, so that the database and the
/// file system work at the same time.
struct Run<'a> {
    store: &'a mut dyn Store,
    employee: Key,
    /// Records read per page.
    page: usize,
    files: Files,
    progress: crate::progress::Progress,
}

impl Run<'_> {
    /// Exports one side: every record changed in (since, upto], page by page, then the
    /// items an ingest marked stale. Returns the counts and the outputs that changed.
    fn side(
        &mut self,
        side: Side,
        since: Option<i64>,
        upto: i64,
        hook: &mut dyn FnMut(),
    ) -> Result<(Counts, u32)> {
        let mut counts = Counts::default();
        let mut changed = 0;
        for &kind in side.kinds() {
            self.pages(side, kind, since, upto, hook, &mut counts, &mut changed)?;
            self.dirty(side, kind, &mut counts, &mut changed)?;
        }
        Ok((counts, changed))
    }

    /// The pages of one kind: this thread reads page n+1 and commits the export state of
    /// page n−1 while a second thread writes the files of page n. States are committed in
    /// page order, each after its page's files were written.
    #[allow(clippy::too_many_arguments)]
    fn pages(
        &mut self,
        side: Side,
        kind: Kind,
        since: Option<i64>,
        upto: i64,
        hook: &mut dyn FnMut(),
        counts: &mut Counts,
        changed: &mut u32,
    ) -> Result<()> {
        let Run {
            store,
            employee,
            page,
            files,
            progress,
        } = self;
        let (employee, limit) = (*employee, (*page).max(1));
        // A kind the profile holds nothing of (its first run) has no export state to read
        // with its records; this run's own commits are of records it already read.
        let held = store.exported_count(employee, &[kind], 1)? > 0;
        std::thread::scope(|scope| {
            let (page_tx, page_rx) = mpsc::sync_channel::<Vec<Changed>>(1);
            let (done_tx, done_rx) = mpsc::sync_channel::<PageDone>(2);
            let writer = std::thread::Builder::new()
                .name("export-files".into())
                .spawn_scoped(scope, move || {
                    for page in page_rx {
                        let done = files.page(side, page);
                        let failed = done.is_err();
                        if done_tx.send(done).is_err() || failed {
                            break;
                        }
                    }
                })
                .expect("a thread to write the export's files");
            // A run of many pages commits their export state on a connection of its own,
            // on a third thread, while this one reads the next pages. Its queue holds
            // [`STATE_QUEUE`] pages, so that a commit that waits for a checkpoint's sync
            // does not stop the reading and the files.
            let (state_tx, state_rx) = mpsc::sync_channel::<StateOps>(STATE_QUEUE);
            let mut state_rx = Some(state_rx);
            let mut stater = None;
            let mut result = Ok(());
            let mut cursor = Cursor {
                updated_at: i64::MIN,
                row: i64::MIN,
            };
            let mut in_flight = 0usize;
            let mut more = true;
            while more || in_flight > 0 {
                if more {
                    let page = if held {
                        store.changes(kind, employee, since, upto, cursor, limit)
                    } else {
                        store.changes_unheld(kind, employee, since, upto, cursor, limit)
                    };
                    match page {
                        Ok(page) => {
                            more = page.len() == limit;
                            if let Some(last) = page.last() {
                                cursor = last.cursor;
                                if page_tx.send(page).is_err() {
                                    // The writer stopped on an error; it is in `done_rx`.
                                    more = false;
                                } else {
                                    in_flight += 1;
                                }
                            }
                        }
                        Err(e) => {
                            result = Err(e);
                            more = false;
                        }
                    }
                }
                if more && stater.is_none() && result.is_ok() {
                    match store.second_connection() {
                        Ok(Some(mut second)) => {
                            let rx = state_rx.take().expect("one state thread");
                            stater = Some(
                                std::thread::Builder::new()
                                    .name("export-state".into())
                                    .spawn_scoped(scope, move || -> Result<()> {
                                        for ops in rx {
                                            commit_state(&mut *second, employee, &ops, !held)?;
                                        }
                                        Ok(())
                                    })
                                    .expect("a thread to commit the export state"),
                            );
                        }
                        Ok(None) => {}
                        Err(e) => result = Err(e),
                    }
                }
                // Keep one page in the writer while the next is read; wait for all at the end.
                while in_flight > usize::from(more) {
                    in_flight -= 1;
                    let done = done_rx
                        .recv()
                        .unwrap_or_else(|_| Err(Error::Other("the export writer stopped".into())));
                    match done {
                        Ok((ops, c, ch)) if result.is_ok() => {
                            counts.add(c);
                            progress.emit(crate::progress::Event::Records(
                                c.written + c.removed + c.unchanged,
                            ));
                            *changed |= ch;
                            result = match stater {
                                Some(_) => state_tx.send(ops).map_err(|_| {
                                    Error::Other("the export state thread stopped".into())
                                }),
                                None => commit_state(&mut **store, employee, &ops, !held),
                            };
                            hook();
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if result.is_ok() {
                                result = Err(e);
                            }
                        }
                    }
                    if result.is_err() {
                        more = false;
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            drop(page_tx);
            drop(state_tx);
            if writer.join().is_err() {
                return Err(Error::Other("the export writer panicked".into()));
            }
            if let Some(h) = stater {
                // Its own error explains a failed send above.
                let state = h.join().unwrap_or_else(|_| {
                    Err(Error::Other("the export state thread panicked".into()))
                });
                state?;
            }
            result
        })
    }

    /// Rewrites the items an ingest saw in this profile (for example to drop `!Update` from
    /// the profile's copy) whose copy in a selected output is not current.
    fn dirty(
        &mut self,
        side: Side,
        kind: Kind,
        counts: &mut Counts,
        changed: &mut u32,
    ) -> Result<()> {
        let mask = self
            .files
            .outputs
            .iter()
            .map(|o| o.kind())
            .filter(|o| o.serves(side))
            .fold(0, |m, o| m | o.bit());
        let items = self.store.dirty_changes(self.employee, kind, mask)?;
        if items.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::new();
        for (key, ch) in items {
            let Some(ch) = ch else {
                ops.push((key, StateChange::Delete));
                continue;
            };
            let op = self.files.record(side, &ch, true, counts, changed)?;
            if op != StateChange::Keep {
                ops.push((key, op));
            }
        }
        commit_state(self.store, self.employee, &ops, false)
    }
}

/// Records in the export state what the profile now holds (one transaction). Not synced to
/// disk on its own: the run's marker stays until the stamps commit durably (which syncs
/// these commits too), and a run that finds the marker rewrites everything since the stamps
/// whatever the state says, so a state commit lost to a power failure costs only a rewrite.
/// `fresh`: the profile has no state for any of these items (see
/// [`crate::store::Writer::add_exported_many`]).
fn commit_state(store: &mut dyn Store, employee: Key, ops: &StateOps, fresh: bool) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let puts: Vec<(Key, &Exported)> = ops
        .iter()
        .filter_map(|(k, op)| match op {
            StateChange::Put(e) => Some((*k, e)),
            _ => None,
        })
        .collect();
    store.write_unsynced(&mut |w| {
        // Each key appears once per page, so the order of puts and deletes is free.
        if fresh {
            w.add_exported_many(employee, &puts)?;
        } else {
            w.put_exported_many(employee, &puts)?;
        }
        for (k, op) in ops {
            if let StateChange::Delete = op {
                w.delete_exported(employee, *k)?;
            }
        }
        Ok(())
    })
}

/// The stamps of one output as the run found them.
fn stamps_of(all: &[OutputStamps], o: OutputKind) -> (Option<i64>, Option<i64>) {
    all.iter()
        .find(|s| s.output == o.bit())
        .map_or((None, None), |s| (s.contacts, s.tasks))
}

/// The outputs of a run, in their fixed order.
fn outputs(layout: &Layout, opts: &Options, run_id: &str) -> Vec<Box<dyn Output>> {
    opts.outputs
        .iter()
        .map(|o| -> Box<dyn Output> {
            match o {
                OutputKind::Vdir => Box::new(vdir::Vdir {
                    layout: layout.clone(),
                    vcard: opts.vcard,
                }),
                OutputKind::Outlook => Box::new(outlook::OutlookCsv::new(
                    layout.clone(),
                    run_id,
                    opts.encoding,
                    opts.dates.clone(),
                    opts.csv_safe,
                    opts.csv_language,
                )),
                OutputKind::OutlookVcards => Box::new(vcards21::Vcards21 {
                    layout: layout.clone(),
                }),
                OutputKind::Pst => Box::new(pst::Pst::new(layout.clone())),
            }
        })
        .collect()
}

/// Takes the profile's folder for the run: a marker while it runs; a run that finds the
/// marker of an interrupted one recovers (returns `true`).
fn begin(layout: &Layout) -> Result<bool> {
    let marker = layout.marker();
    let recovering = marker.exists();
    if recovering {
        // Temp files are left only by an interrupted run, which also leaves the marker;
        // scanning the folders only then keeps a no-change run independent of their size.
        for d in layout.output_dirs() {
            fsutil::remove_temp_files(d)?;
        }
    } else {
        fs::write(
            &marker,
            b"an export of this profile is running or was interrupted\n",
        )
        .map_err(|e| Error::io(&marker, e))?;
        fsutil::sync_dir(&layout.root)?;
    }
    Ok(recovering)
}

/// Exports one profile into `drop`. `hook` runs after each page (tests use it to write to
/// the database while an export runs).
pub fn export_profile(
    store: &mut dyn Store,
    profile: &Profile,
    drop: &Path,
    opts: &Options,
    hook: &mut dyn FnMut(),
) -> Result<Report> {
    let moved_from = follow_folder(store, profile, drop)?;
    let layout = Layout::new(drop, &profile.name);
    layout.create()?;
    let _lock = layout.lock(&profile.name)?;
    // A server engine holds the profile across machines too.
    let _held = store.lock_profile(&profile.name)?;
    fsutil::remove_if_exists(&layout.inactive_note())?;
    // The stamps as they are now: another export may have moved them while this one waited.
    let current = store
        .profiles()?
        .into_iter()
        .find(|p| p.employee == profile.employee)
        .ok_or_else(|| Error::NotFound(format!("{} no longer syncs", profile.employee)))?;
    let profile = &current;
    // The PST is never overwritten while it is in use or holds edits not yet ingested:
    // this run leaves that output out (its state and stamps stay), the others go on.
    let pst_skipped = if opts.outputs.contains(OutputKind::Pst) {
        pst::skip_reason(&layout)?
    } else {
        None
    };
    let without_pst;
    let opts = if pst_skipped.is_some() {
        without_pst = Options {
            outputs: opts.outputs.without(OutputKind::Pst),
            ..opts.clone()
        };
        &without_pst
    } else {
        opts
    };
    let stamps = store.output_stamps(profile.employee)?;
    let upto = store.clock()?;
    let selected: Vec<OutputKind> = opts.outputs.iter().collect();
    // A side is read from the oldest stamp of the outputs that serve it.
    let since = |side: Side| since_of(&stamps, &selected, side);
    // The removal guard, before the marker and any file: a recovery finishes what an
    // earlier run (which passed the guard) promised, so it is not stopped.
    if !opts.allow_mass_removal && !layout.marker().exists() {
        let guard = removal_guard(&*store, profile.employee, &selected, &since, upto, opts)?;
        if let Some(guard) = guard {
            let mut r = guarded_report(profile, &layout, &stamps, &selected, moved_from, guard);
            r.pst_skipped = pst_skipped;
            return Ok(r);
        }
    }
    let recovering = begin(&layout)?;
    let run_id = clock::run_id(upto);
    let mode = |o: OutputKind, side: Side| {
        let (c, t) = stamps_of(&stamps, o);
        let stamp = if side == Side::Contacts { c } else { t };
        Mode {
            rewrite: recovering || stamp.is_none(),
            recovering,
        }
    };
    let mut run = Run {
        store,
        employee: profile.employee,
        page: opts.page,
        files: Files {
            outputs: outputs(&layout, opts, &run_id),
            written: Written::default(),
            modes: Vec::new(),
        },
        progress: opts.progress.clone(),
    };

    // A whole-file output that will be rewritten whatever the pages hold (its first run,
    // a recovery, a missing file) starts now, reading both sides' synced sets on a
    // connection of its own while the pages are read (when the engine gives one).
    for (o, out) in selected.iter().zip(run.files.outputs.iter_mut()) {
        let Some(exists) = out.whole_file() else {
            continue;
        };
        let (c, t) = stamps_of(&stamps, *o);
        let certain = |stamp: Option<i64>| SheetFacts {
            side_full: stamp.is_none(),
            recovering,
            exists,
            changed: false,
        };
        if plan::whole_file([certain(c), certain(t)]) != FullSheet::Rewritten {
            continue;
        }
        if let Some(second) = run.store.second_connection()? {
            out.start_whole(Box::new(move |f| synced_sets(&*second, f)));
        }
    }

    let mut sides = Vec::new();
    let mut full = recovering;
    for side in [Side::Contacts, Side::Tasks] {
        let modes: Vec<Mode> = selected.iter().map(|&o| mode(o, side)).collect();
        for (out, m) in run.files.outputs.iter_mut().zip(&modes) {
            // A full-set file may be written along with the changes only when this output
            // is given every record of the side: its stamp is unset, so the pages start at
            // the beginning and nothing is skipped as unchanged. (A recovery run rewrites
            // only what changed since the stamps: its full sheet is streamed whole.)
            let (c, t) = stamps_of(&stamps, out.kind());
            let unset = if side == Side::Contacts { c } else { t }.is_none();
            out.begin_side(side, unset);
            full |= m.rewrite && out.kind().serves(side);
        }
        run.files.modes = modes;
        let since = since(side);
        let (counts, changed) = run.side(side, since, upto, hook)?;
        sides.push((side, counts, changed));
    }

    // The full-set sheets: rewritten, current or stale, as the plan says.
    let mut sheets = [FullSheet::Current, FullSheet::Current];
    for (i, &(side, counts, changed)) in sides.iter().enumerate() {
        for (o, out) in selected.iter().zip(run.files.outputs.iter_mut()) {
            let Some(exists) = out.full_set_file(side) else {
                continue;
            };
            let (c, t) = stamps_of(&stamps, *o);
            let facts = SheetFacts {
                side_full: if side == Side::Contacts { c } else { t }.is_none(),
                recovering,
                exists,
                changed: counts.changed() && changed & o.bit() != 0,
            };
            let state = match plan::full_sheet(facts) {
                Some(s) => s,
                None => plan::by_size(
                    run.store.exported_count(
                        profile.employee,
                        side.kinds(),
                        opts.full_sheet_limit + 1,
                    )?,
                    opts.full_sheet_limit,
                ),
            };
            if state == FullSheet::Rewritten {
                let store = &*run.store;
                out.write_full_set(side, &mut |f| {
                    for &kind in side.kinds() {
                        store.for_each_synced(kind, f)?;
                    }
                    Ok(())
                })?;
            }
            sheets[i] = state;
        }
    }
    // Whole-file outputs (the PST): rewritten from both sides' synced sets, in side
    // order, when either side changed for them or the file is missing.
    let mut checkpointed = false;
    for (o, out) in selected.iter().zip(run.files.outputs.iter_mut()) {
        let Some(exists) = out.whole_file() else {
            continue;
        };
        let (c, t) = stamps_of(&stamps, *o);
        let facts = |i: usize| {
            let (side, counts, changed): (Side, Counts, u32) = sides[i];
            SheetFacts {
                side_full: if side == Side::Contacts { c } else { t }.is_none(),
                recovering,
                exists,
                changed: counts.changed() && changed & o.bit() != 0,
            }
        };
        if plan::whole_file([facts(0), facts(1)]) == FullSheet::Rewritten {
            // While the file is finished (on threads of its own when it was started before
            // the pages), this thread copies the export state's commits from the
            // write-ahead log into the database, which the end of the run did alone. A
            // checkpoint that fails (another is running) leaves that to the end, as before.
            if !std::mem::replace(&mut checkpointed, true) {
                let _ = run.store.checkpoint();
            }
            let store = &*run.store;
            out.write_whole(&mut |f| synced_sets(store, f))?;
        }
    }
    // Values an output cannot write left their items out of that output only; they are
    // reported, and stay pending for it.
    let refused = run.files.refusals();
    run.files.written.make_durable(&layout.root)?;
    let written_nothing = run.files.written.is_empty();
    let Run { store, files, .. } = run;
    let mut change_files = Vec::new();
    for out in files.outputs {
        change_files.extend(out.commit()?);
    }
    // Each selected output's stamps move; the others keep theirs.
    let (contacts, tasks) = (sides[0].1, sides[1].1);
    // The folders' entries (new, renamed and removed files) are made durable before the
    // stamps move; a run that wrote and removed nothing has nothing there to make durable
    // (and an fsync costs a device flush even then).
    let touched = recovering
        || !written_nothing
        || contacts.changed()
        || tasks.changed()
        || !change_files.is_empty()
        || sheets.contains(&FullSheet::Rewritten);
    if touched {
        for d in layout.output_dirs() {
            fsutil::sync_dir(d)?;
        }
    }
    let mut moves = Vec::new();
    for &o in &selected {
        let (c, t) = stamps_of(&stamps, o);
        let next = (
            plan::next_stamp(c, upto, contacts.changed()),
            plan::next_stamp(t, upto, tasks.changed()),
        );
        if next != (c, t) {
            moves.push((o.bit(), next));
        }
    }
    // The folder's name is recorded with them, so that a rename moves it (see
    // `follow_folder`).
    let refolder = profile.folder.as_deref() != Some(profile.name.as_str());
    if !moves.is_empty() || refolder {
        let employee = profile.employee;
        store.write(&mut |w| {
            for &(bit, (c, t)) in &moves {
                w.set_output_stamps(employee, bit, c, t)?;
            }
            if refolder {
                w.set_profile_folder(employee, &profile.name, profile.folder.as_deref())?;
            }
            Ok(())
        })?;
    }
    fsutil::remove_if_exists(&layout.marker())?;
    retention::apply(
        &layout,
        &run_id,
        sheets,
        opts.keep_changes,
        clock::now_micros(),
    )?;
    let after = store.output_stamps(profile.employee)?;
    let oldest = |side: Side| {
        let mut s = Some(i64::MAX);
        for o in selected.iter().filter(|o| o.serves(side)) {
            let (c, t) = stamps_of(&after, *o);
            s = s
                .zip(if side == Side::Contacts { c } else { t })
                .map(|(a, b)| a.min(b));
        }
        s
    };
    Ok(Report {
        profile: profile.name.clone(),
        folder: layout.root.clone(),
        contacts,
        tasks,
        full,
        recovered: recovering,
        contacts_sheet: sheets[0],
        tasks_sheet: sheets[1],
        change_files,
        contacts_stamp: oldest(Side::Contacts).map(clock::format_micros),
        tasks_stamp: oldest(Side::Tasks).map(clock::format_micros),
        moved_from,
        refused,
        guard: None,
        pst_skipped,
    })
}

/// Both sides' synced sets, contacts then tasks, each kind in key order: what a
/// whole-file output holds.
fn synced_sets(
    store: &dyn Store,
    f: &mut dyn FnMut(crate::model::Record) -> Result<()>,
) -> Result<()> {
    for side in [Side::Contacts, Side::Tasks] {
        for &kind in side.kinds() {
            store.for_each_synced(kind, f)?;
        }
    }
    Ok(())
}

/// The oldest stamp of a side among the `selected` outputs that serve it (`None`: one of
/// them has none, so the side is read whole).
fn since_of(stamps: &[OutputStamps], selected: &[OutputKind], side: Side) -> Option<i64> {
    let mut since = Some(i64::MAX);
    for o in selected.iter().filter(|o| o.serves(side)) {
        let (c, t) = stamps_of(stamps, *o);
        let s = if side == Side::Contacts { c } else { t };
        since = since.zip(s).map(|(a, b)| a.min(b));
    }
    since
}

/// The bits of the `selected` outputs that serve a side.
fn mask_of(selected: &[OutputKind], side: Side) -> u32 {
    selected
        .iter()
        .filter(|o| o.serves(side))
        .fold(0, |m, o| m | o.bit())
}

/// Counts the removals a run up to `upto` would make (records changed since the stamps
/// that left the synced set and that a selected output holds) and asks the plan whether
/// they are too many. Reads the database only.
fn removal_guard(
    store: &dyn Store,
    employee: Key,
    selected: &[OutputKind],
    since: &dyn Fn(Side) -> Option<i64>,
    upto: i64,
    opts: &Options,
) -> Result<Option<RemovalGuard>> {
    let mut removals = Vec::new();
    for side in [Side::Contacts, Side::Tasks] {
        let mask = mask_of(selected, side);
        // A profile that holds nothing of the side (its first run) has nothing to remove:
        // one row looked up instead of every record of the range (a first export of
        // 1,000,000 contacts spent most of a second there).
        if mask == 0 || store.exported_count(employee, side.kinds(), 1)? == 0 {
            continue;
        }
        for &kind in side.kinds() {
            removals.extend(store.pending_removals(employee, kind, since(side), upto, mask)?);
        }
    }
    if (removals.len() as u64) < opts.removal_guard.min {
        // Below the minimum whatever the profile holds: no need to count it.
        return Ok(None);
    }
    let held = (
        store.exported_count(employee, Side::Contacts.kinds(), u64::MAX)?,
        store.exported_count(employee, Side::Tasks.kinds(), u64::MAX)?,
    );
    Ok(plan::removal_guard(&removals, held, opts.removal_guard))
}

/// The report of a run the removal guard stopped: nothing written, no stamp moved.
fn guarded_report(
    profile: &Profile,
    layout: &Layout,
    stamps: &[OutputStamps],
    selected: &[OutputKind],
    moved_from: Option<PathBuf>,
    guard: RemovalGuard,
) -> Report {
    let stamp = |side: Side| since_of(stamps, selected, side).map(clock::format_micros);
    Report {
        profile: profile.name.clone(),
        folder: layout.root.clone(),
        contacts: Counts::default(),
        tasks: Counts::default(),
        full: false,
        recovered: false,
        contacts_sheet: FullSheet::Current,
        tasks_sheet: FullSheet::Current,
        change_files: Vec::new(),
        contacts_stamp: stamp(Side::Contacts),
        tasks_stamp: stamp(Side::Tasks),
        moved_from,
        refused: Vec::new(),
        guard: Some(guard),
        pst_skipped: None,
    }
}

/// One item an output would write or remove, and the file it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedItem {
    pub key: String,
    pub name: String,
    /// The file written or deleted (vdir, vCard 2.1), or the change file it is listed in
    /// (Outlook CSV).
    pub file: PathBuf,
}

/// What a full-set sheet would become.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedSheet {
    pub file: PathBuf,
    pub state: FullSheet,
}

/// What one output would do in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputPlan {
    pub output: &'static str,
    pub write: Vec<PlannedItem>,
    pub remove: Vec<PlannedItem>,
    pub sheets: Vec<PlannedSheet>,
}

/// What an export of one profile would do, as [`dry_run`] plans it.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub profile: String,
    pub folder: PathBuf,
    /// It would write everything (first run, after a reset, or after an interrupted run).
    pub full: bool,
    pub outputs: Vec<OutputPlan>,
    /// What the removal guard would say (also when `--allow-mass-removal` is given).
    pub guard: Option<RemovalGuard>,
}

/// Plans an export of one profile exactly as [`export_profile`] would run it now, and
/// writes nothing: no folder, lock, marker or temp file is created, no export state or
/// stamp changes (the database is only read). The change files are named after the
/// current change clock; a run names them after the clock at its own start.
pub fn dry_run(
    store: &dyn Store,
    profile: &Profile,
    drop: &Path,
    opts: &Options,
) -> Result<DryRun> {
    let layout = Layout::new(drop, &profile.name);
    let stamps = store.output_stamps(profile.employee)?;
    let recovering = layout.marker().exists();
    let upto = store.clock()?;
    let run_id = clock::run_id(upto);
    let selected: Vec<OutputKind> = opts.outputs.iter().collect();
    let since = |side: Side| since_of(&stamps, &selected, side);
    let guard = if recovering {
        None
    } else {
        removal_guard(store, profile.employee, &selected, &since, upto, opts)?
    };
    let mut plans: Vec<OutputPlan> = selected
        .iter()
        .map(|o| OutputPlan {
            output: o.name(),
            write: Vec::new(),
            remove: Vec::new(),
            sheets: Vec::new(),
        })
        .collect();
    let mut full = recovering;
    for side in [Side::Contacts, Side::Tasks] {
        let stamp_of = |o: OutputKind| {
            let (c, t) = stamps_of(&stamps, o);
            if side == Side::Contacts { c } else { t }
        };
        let modes: Vec<Mode> = selected
            .iter()
            .map(|&o| Mode {
                rewrite: recovering || stamp_of(o).is_none(),
                recovering,
            })
            .collect();
        for (o, m) in selected.iter().zip(&modes) {
            full |= m.rewrite && o.serves(side);
        }
        let mut changed = vec![false; selected.len()];
        let mut seen = std::collections::HashSet::new();
        let mut plan_one = |ch: &Changed, dirty: bool, changed: &mut Vec<bool>| {
            let item = Item::from_record(&ch.record);
            let closed =
                ch.record.key.kind == Kind::Si && item.si_status() == Some(SiStatus::Closed);
            let facts = Facts {
                in_set: ch.in_set,
                closed,
                hash: item.hash(),
                prev: ch.exported.as_ref(),
            };
            for (i, (&o, &mode)) in selected.iter().zip(&modes).enumerate() {
                if !o.serves(side) {
                    continue;
                }
                let action = if dirty {
                    plan::decide_dirty(&facts, o.bit())
                } else {
                    plan::decide(&facts, o.bit(), mode)
                };
                let key = ch.record.key;
                let planned = |removal: bool| PlannedItem {
                    key: key.to_string(),
                    name: item.display_name(),
                    file: planned_file(&layout, &run_id, o, side, &item, removal),
                };
                match action {
                    Action::Write { .. } => {
                        plans[i].write.push(planned(false));
                        changed[i] = true;
                    }
                    Action::Remove => {
                        // vCard 2.1 holds contacts only: a task's removal deletes nothing.
                        if o != OutputKind::OutlookVcards || key.kind.is_contact() {
                            plans[i].remove.push(planned(true));
                        }
                        changed[i] = true;
                    }
                    Action::Unchanged | Action::Nothing => {}
                }
            }
        };
        for &kind in side.kinds() {
            let mut cursor = Cursor {
                updated_at: i64::MIN,
                row: i64::MIN,
            };
            let page_size = opts.page.max(1);
            loop {
                let page =
                    store.changes(kind, profile.employee, since(side), upto, cursor, page_size)?;
                for ch in &page {
                    seen.insert(ch.record.key);
                    plan_one(ch, false, &mut changed);
                }
                match page.last() {
                    Some(last) if page.len() == page_size => cursor = last.cursor,
                    _ => break,
                }
            }
            // The items an ingest marked stale that the pages did not already cover.
            let mask = mask_of(&selected, side);
            for (key, ch) in store.dirty_changes(profile.employee, kind, mask)? {
                if let Some(ch) = ch.filter(|_| !seen.contains(&key)) {
                    plan_one(&ch, true, &mut changed);
                }
            }
        }
        for (i, &o) in selected.iter().enumerate() {
            if o != OutputKind::Outlook {
                continue;
            }
            let file = layout.outlook.join(format!("{}.csv", side.name()));
            let facts = SheetFacts {
                side_full: stamp_of(o).is_none(),
                recovering,
                exists: file.exists(),
                changed: changed[i],
            };
            let state = match plan::full_sheet(facts) {
                Some(s) => s,
                None => plan::by_size(
                    store.exported_count(
                        profile.employee,
                        side.kinds(),
                        opts.full_sheet_limit + 1,
                    )?,
                    opts.full_sheet_limit,
                ),
            };
            plans[i].sheets.push(PlannedSheet { file, state });
        }
    }
    Ok(DryRun {
        profile: profile.name.clone(),
        folder: layout.root.clone(),
        full,
        outputs: plans,
        guard,
    })
}

/// The file an output writes or deletes for an item, or the change file it lists it in.
fn planned_file(
    layout: &Layout,
    run_id: &str,
    o: OutputKind,
    side: Side,
    item: &Item,
    removal: bool,
) -> PathBuf {
    let (key, uid) = vdir::item_id(item);
    match o {
        OutputKind::Vdir => layout.item_file(key.kind, &uid),
        OutputKind::OutlookVcards => layout.vcard21_file(&uid),
        OutputKind::Pst => pst::path(layout),
        OutputKind::Outlook => {
            let what = if removal { "removals" } else { side.name() };
            layout.changes.join(format!("{run_id}-{what}.csv"))
        }
    }
}
