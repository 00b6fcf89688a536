//! `smsync watch`: the daemon most sites run. It ingests files dropped in profile inboxes
//! once they are complete (size and modification time stable for the debounce period),
//! exports after every ingest and every database change (seen through the indexed
//! `max(updated_at)`, without scanning), and survives its usual faults: an inbox deleted
//! and recreated, a file that cannot be read yet, a database locked by another writer.
//! One instance per drop folder, held by an `flock` on `<drop>/.smsync-watch.lock`.
//!
//! This module does the I/O (the lock, the notify or polling watcher, listing the inboxes,
//! calling ingest and export, sleeping); when to do what is decided by the pure state
//! machine in [`schedule`].
//!
//! Guards: when an ingest or export guard stops a profile (too many removals, changes or
//! blanked fields), the watcher logs it (a warning naming the profile and the guard), the
//! run is recorded with outcome `attention` (shown by `status` and `report`), the inbox
//! files stay where they are, and the schedule holds that profile's step on a backoff of
//! its own while the other profiles go on. The watcher never overrides a guard.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::export::{self, Layout};
use crate::ingest;
use crate::store::{Profile, Store};

pub mod schedule;

use schedule::{Action, Input, Schedule, Time};

/// How the watcher behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only this profile; every employee's profile when `None`.
    pub profile: Option<String>,
    /// Poll the inboxes every this often instead of using file-system events (network
    /// shares, where events do not arrive).
    pub poll: Option<Duration>,
    /// How long a file's size and modification time must stay the same before it is read.
    pub debounce: Duration,
    /// How often the database is checked for changes.
    pub db_interval: Duration,
    /// Settings given on the command line: each overrides every profile's own.
    pub overrides: crate::profile::Overrides,
    /// The smsync binary, for reading PST files in a child process (see `ingest::Options`).
    pub pst_checker: Option<std::path::PathBuf>,
    /// How long replaced change files of `outlook/changes/` are kept (see
    /// `export::retention`).
    pub keep_changes: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: None,
            poll: None,
            debounce: Duration::from_secs(1),
            db_interval: Duration::from_millis(500),
            overrides: crate::profile::Overrides::default(),
            pst_checker: None,
            keep_changes: export::Options::default().keep_changes,
        }
    }
}

/// The profiles to watch: the active ones (or the one named) whose folder is their own.
/// An inactive one is passed over with a note in its folder; two that would share a
/// folder are an error for both, logged; a renamed employee's folder moves here, before
/// its inbox is scanned.
fn profiles(store: &mut dyn Store, drop: &Path, opts: &Options) -> Result<Vec<Profile>> {
    use crate::profile::PassedOver;
    if let Some(name) = &opts.profile {
        store.profile(name)?;
    }
    let wanted = |p: &Profile| opts.profile.as_ref().is_none_or(|n| *n == p.name);
    let chosen = crate::profile::select_all(store.profiles()?);
    for (p, why) in chosen.passed.iter().filter(|(p, _)| wanted(p)) {
        match why {
            PassedOver::Inactive => match crate::profile::note_inactive(drop, p) {
                Ok(true) => {
                    info!(profile = %p.name, employee = %p.employee, "inactive; passed over")
                }
                Ok(false) => {}
                Err(e) => warn!(profile = %p.name, error = %e, "cannot leave the inactive note"),
            },
            PassedOver::Clash { with } => {
                warn!(profile = %p.name, error = %crate::profile::clash_error(p, with), "not watched");
            }
        }
    }
    let mut out = Vec::new();
    for p in chosen.run.into_iter().filter(|p| wanted(p)) {
        match export::follow_folder(store, &p, drop) {
            Ok(Some(from)) => {
                info!(profile = %p.name, from = %from.display(), "renamed employee: folder moved");
                out.push(p);
            }
            Ok(None) => out.push(p),
            Err(e) => warn!(profile = %p.name, error = %e, "not watched"),
        }
    }
    Ok(out)
}

/// Exports one profile; `Some` with the guard's text when the removal guard stopped it.
fn export_one(
    store: &mut dyn Store,
    name: &str,
    drop: &Path,
    opts: &Options,
) -> Result<Option<String>> {
    let p = store.profile(name)?;
    if !p.active {
        return Ok(None);
    }
    let eopts = export::Options {
        keep_changes: opts.keep_changes,
        ..crate::profile::resolve(&p, &opts.overrides)?.export_options()
    };
    let r = crate::report::export_recorded(store, &p, drop, &eopts)?;
    if let Some(g) = &r.guard {
        return Ok(Some(g.to_string()));
    }
    for refusal in &r.refused {
        warn!(profile = %r.profile, "{refusal}");
    }
    if let Some(skipped) = &r.pst_skipped {
        warn!(profile = %r.profile, "{skipped}");
    }
    if r.contacts.written + r.contacts.removed + r.tasks.written + r.tasks.removed > 0 {
        info!(
            profile = %r.profile,
            contacts_written = r.contacts.written,
            contacts_removed = r.contacts.removed,
            tasks_written = r.tasks.written,
            tasks_removed = r.tasks.removed,
            "export"
        );
    }
    Ok(None)
}

/// Runs until `stop` is set (SIGINT/SIGTERM): then it finishes the current file and
/// returns.
pub fn run(db: &Path, drop: &Path, opts: &Options, stop: Arc<AtomicBool>) -> Result<()> {
    fs::create_dir_all(drop).map_err(|e| Error::io(drop, e))?;
    let lock =
        crate::fsutil::PidLock::try_acquire(&drop.join(".smsync-watch.lock"))?.map_err(|pid| {
            Error::invalid(format!(
                "another smsync watch (pid {pid}) is running on {}; stop it first, or give \
                 this one another --drop",
                drop.display()
            ))
        })?;
    let mut store = crate::store::open(db)?;
    if let Some(name) = &opts.profile {
        // Inactive, or sharing its folder with another employee's profile: an error now,
        // not a watcher that watches nothing.
        crate::profile::one(store.as_ref(), name)?;
    }
    let mut watched = profiles(store.as_mut(), drop, opts)?;
    if store.profiles()?.is_empty() {
        return Err(Error::invalid(
            "no employees sync yet: add one with `smsync admin add employee user=SM-U<id>`",
        ));
    }
    info!(lock = %lock.path().display(), profiles = watched.len(), "watch started");

    // File-system events only wake the loop early; the loop itself rescans, so a missed
    // or coalesced event costs latency, never a file.
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = inbox_watcher(opts, tx)?;
    let mut inbox_watched: HashMap<PathBuf, bool> = HashMap::new();
    let config = schedule::Config::new(opts.debounce, opts.db_interval, opts.poll);
    let mut sched = Schedule::new(config, names(&watched), store.max_change()?);
    let start = Instant::now();
    let now = || -> Time { start.elapsed() };

    loop {
        match sched.next(now()) {
            Action::Sleep { until } => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // Wait for an event or the next tick; then drain the events.
                let woke = rx.recv_timeout(until.saturating_sub(now())).is_ok();
                while rx.try_recv().is_ok() {}
                rewatch(watcher.as_mut(), &watched, drop, &mut inbox_watched);
                sched.observe(now(), Input::Tick { event: woke });
            }
            Action::Scan => scan(&mut sched, &watched, drop, now()),
            Action::Ingest { profile, files } => {
                if stop.load(Ordering::SeqCst) {
                    continue;
                }
                let input = ingest_files(store.as_mut(), &profile, &files, drop, opts);
                sched.observe(now(), input);
            }
            Action::CheckDb => match store.max_change() {
                Ok(max_change) => sched.observe(now(), Input::DbChange { max_change }),
                Err(e) => {
                    warn!(error = %e, "cannot read the database; retrying");
                    sched.observe(now(), Input::DbFailed);
                }
            },
            Action::RefreshProfiles => {
                if let Ok(ps) = profiles(store.as_mut(), drop, opts) {
                    watched = ps;
                }
                sched.observe(now(), Input::Profiles(names(&watched)));
            }
            Action::Export { profile } => {
                let input = export_due(store.as_mut(), profile, drop, opts);
                sched.observe(now(), input);
            }
        }
    }
    info!("watch stopped");
    Ok(())
}

/// Exports one profile the schedule asked for, and says how it went.
fn export_due(store: &mut dyn Store, profile: String, drop: &Path, opts: &Options) -> Input {
    // What this export will see; a change committed meanwhile is newer.
    let seen = store.max_change().ok();
    match export_one(store, &profile, drop, opts) {
        Ok(None) => Input::Exported { profile, seen },
        Ok(Some(guard)) => {
            warn!(
                profile = %profile,
                guard = %guard,
                "export stopped by the guard; nothing written. Check the changes, then run \
                 `smsync export --profile NAME --allow-mass-removal`; retried later"
            );
            Input::ExportGuarded { profile }
        }
        Err(e) => {
            warn!(profile = %profile, error = %e, "export failed; retrying");
            Input::ExportFailed { profile, seen }
        }
    }
}

fn names(profiles: &[Profile]) -> Vec<String> {
    profiles.iter().map(|p| p.name.clone()).collect()
}

/// The watcher of the inboxes: polling every `opts.poll`, or file-system events. Each
/// event sends `()` on `tx`.
fn inbox_watcher(opts: &Options, tx: mpsc::Sender<()>) -> Result<Box<dyn Watcher>> {
    let handler = move |event: notify::Result<notify::Event>| {
        // An error (events lost, a watch gone) wakes the loop too: it rescans.
        if event.as_ref().map_or(true, |e| wakes(&e.kind)) {
            let _ = tx.send(());
        }
    };
    Ok(match opts.poll {
        Some(every) => Box::new(
            notify::PollWatcher::new(handler, notify::Config::default().with_poll_interval(every))
                .map_err(|e| Error::Other(format!("cannot poll the inboxes: {e}")))?,
        ),
        None => Box::new(
            notify::recommended_watcher(handler)
                .map_err(|e| Error::Other(format!("cannot watch the inboxes: {e}")))?,
        ),
    })
}

/// Whether an event can mean that a file arrived, changed or left. notify's inotify
/// backend also asks for `IN_OPEN` (and reports closes without a write), and the watcher's
/// own listing of an inbox opens it: woken by those, each scan woke the next one, and an
/// idle watcher never slept (a core busy with `getdents64`, `openat`, `statx`).
pub fn wakes(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// (Re)watches every inbox; an inbox deleted and recreated is watched again.
fn rewatch(
    watcher: &mut dyn Watcher,
    watched: &[Profile],
    drop: &Path,
    inbox_watched: &mut HashMap<PathBuf, bool>,
) {
    for p in watched {
        let inbox = Layout::new(drop, &p.name).inbox;
        let exists = inbox.is_dir();
        let was = inbox_watched.get(&inbox).copied().unwrap_or(false);
        if exists && !was {
            match watcher.watch(&inbox, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    inbox_watched.insert(inbox.clone(), true);
                }
                Err(e) => warn!(inbox = %inbox.display(), error = %e, "cannot watch inbox"),
            }
        } else if !exists && was {
            let _ = watcher.unwatch(&inbox);
            inbox_watched.insert(inbox.clone(), false);
            warn!(inbox = %inbox.display(), "inbox is gone; waiting for it to come back");
        }
    }
}

/// Lists every watched inbox into the schedule, all files as seen at `now`.
fn scan(sched: &mut Schedule, watched: &[Profile], drop: &Path, now: Time) {
    for p in watched {
        let layout = Layout::new(drop, &p.name);
        for file in ingest::inbox_files(&layout).unwrap_or_default() {
            let Ok(meta) = fs::metadata(&file) else {
                continue;
            };
            let input = Input::FileSeen {
                profile: p.name.clone(),
                file,
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            sched.observe(now, input);
        }
    }
    sched.observe(now, Input::ScanDone);
}

/// Ingests `files` of one profile, logs the outcome of each, and says how it went.
fn ingest_files(
    store: &mut dyn Store,
    name: &str,
    files: &[PathBuf],
    drop: &Path,
    opts: &Options,
) -> Input {
    let result = store.profile(name).and_then(|p| {
        let iopts = ingest::Options {
            pst_checker: opts.pst_checker.clone(),
            ..crate::profile::resolve(&p, &opts.overrides)?.ingest_options()
        };
        crate::report::ingest_recorded(store, &p, drop, files, &iopts)
    });
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            warn!(profile = %name, error = %e, "ingest failed; retrying");
            return Input::IngestFailed {
                profile: name.to_string(),
            };
        }
    };
    if let Some(pst) = &r.pst {
        warn!(profile = %name, "{pst}");
    }
    if let Some(g) = &r.guard {
        warn!(
            profile = %name,
            guard = %g,
            files = r.files.len(),
            "ingest stopped by the guard; nothing applied, the files stay in the inbox. Check \
             them, then run `smsync ingest --profile NAME --allow-mass-change`; held until \
             they change or the guard's retry"
        );
        return Input::IngestGuarded {
            profile: name.to_string(),
            files: files.to_vec(),
        };
    }
    let mut retry = Vec::new();
    for f in &r.files {
        let t = &f.tally;
        match f.outcome {
            ingest::FileOutcome::Retry => {
                warn!(profile = %name, file = %f.file.display(),
                      error = f.error.as_deref().unwrap_or(""),
                      "file cannot be read; retrying later");
                retry.push(f.file.clone());
            }
            ingest::FileOutcome::Vanished => {}
            _ => info!(
                profile = %name,
                file = %f.file.display(),
                outcome = f.outcome.as_str(),
                applied = t.applied + t.created,
                refused = t.refused,
                "ingest"
            ),
        }
    }
    Input::IngestSucceeded {
        profile: name.to_string(),
        retry,
    }
}

#[cfg(test)]
mod tests {
    use super::wakes;
    use notify::EventKind;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, ModifyKind, RemoveKind,
        RenameMode,
    };

    #[test]
    fn only_events_that_can_mean_a_new_or_changed_file_wake_the_watcher() {
        let wake = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Remove(RemoveKind::Any),
            EventKind::Any,
        ];
        for k in wake {
            assert!(wakes(&k), "{k:?}");
        }
        // The watcher's own listing of an inbox opens it, reads it and closes it.
        let sleep = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            EventKind::Other,
        ];
        for k in sleep {
            assert!(!wakes(&k), "{k:?}");
        }
    }
}
