//! `smsync watch`: the daemon most sites run. It ingests files dropped in profile inboxes
//! once they are complete (size and modification time stable for the debounce period),
//! exports after every ingest and every database change (seen through the indexed
//! `max(updated_at)`, without scanning), and survives its usual faults: an inbox deleted
//! and recreated, a file that cannot be read yet, a database locked by another writer.
//! One instance per drop folder, held by an `flock` on `<drop>/.smsync-watch.lock`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use tracing::{info, warn};

use crate::codec::text::DateFormat;
use crate::error::{Error, Result};
use crate::export::{self, Layout};
use crate::ingest;
use crate::store::{Profile, SqliteStore, Store};

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
    pub dates: DateFormat,
    /// The smsync binary, for reading PST files in a child process (see `ingest::Options`).
    pub pst_checker: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: None,
            poll: None,
            debounce: Duration::from_secs(1),
            db_interval: Duration::from_millis(500),
            dates: DateFormat::default(),
            pst_checker: None,
        }
    }
}

/// What is known of a file waiting in an inbox.
struct Pending {
    len: u64,
    modified: Option<SystemTime>,
    stable_since: Instant,
    /// Not before this instant (after a read failure).
    retry_at: Option<Instant>,
}

/// A step that failed and waits before it is tried again.
struct Backoff {
    next: Instant,
    delay: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            next: Instant::now(),
            delay: Duration::from_millis(250),
        }
    }
    fn ready(&self) -> bool {
        Instant::now() >= self.next
    }
    fn failed(&mut self) {
        self.next = Instant::now() + self.delay;
        self.delay = (self.delay * 2).min(Duration::from_secs(30));
    }
    fn succeeded(&mut self) {
        self.delay = Duration::from_millis(250);
    }
}

fn profiles(store: &SqliteStore, opts: &Options) -> Result<Vec<Profile>> {
    match &opts.profile {
        Some(name) => Ok(vec![store.profile(name)?]),
        None => store.profiles(),
    }
}

fn export_one(store: &mut SqliteStore, name: &str, drop: &Path, opts: &Options) -> Result<()> {
    let p = store.profile(name)?;
    let eopts = export::Options {
        dates: opts.dates.clone(),
        ..Default::default()
    };
    let r = export::export_profile(store, &p, drop, &eopts, &mut || {})?;
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
    Ok(())
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
    let mut store = SqliteStore::open(db)?;
    let mut watched = profiles(&store, opts)?;
    if watched.is_empty() {
        return Err(Error::invalid(
            "no employees sync yet: add one with `smsync admin add employee user=SM-U<id>`",
        ));
    }
    info!(lock = %lock.path().display(), profiles = watched.len(), "watch started");

    // File-system events only wake the loop early; the loop itself rescans, so a missed
    // or coalesced event costs latency, never a file.
    let (tx, rx) = mpsc::channel::<()>();
    let handler = move |_: notify::Result<notify::Event>| {
        let _ = tx.send(());
    };
    let mut watcher: Box<dyn Watcher> = match opts.poll {
        Some(every) => Box::new(
            notify::PollWatcher::new(handler, notify::Config::default().with_poll_interval(every))
                .map_err(|e| Error::Other(format!("cannot poll the inboxes: {e}")))?,
        ),
        None => Box::new(
            notify::recommended_watcher(handler)
                .map_err(|e| Error::Other(format!("cannot watch the inboxes: {e}")))?,
        ),
    };
    let mut inbox_watched: HashMap<PathBuf, bool> = HashMap::new();
    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    let mut last_change = store.max_change()?;
    let mut db_backoff = Backoff::new();
    let mut ingest_backoff = Backoff::new();
    let mut export_due: Vec<String> = watched.iter().map(|p| p.name.clone()).collect();
    let mut last_db_check = Instant::now() - opts.db_interval;
    let rescan_every = opts.poll.unwrap_or(Duration::from_secs(1));
    let mut last_rescan = Instant::now() - rescan_every;
    let tick = Duration::from_millis(50)
        .min(opts.debounce / 4)
        .max(Duration::from_millis(10));

    while !stop.load(Ordering::SeqCst) {
        // Wait for an event or the next tick; then drain the events.
        let woke = rx.recv_timeout(tick).is_ok();
        while rx.try_recv().is_ok() {}

        // (Re)watch every inbox; an inbox deleted and recreated is watched again.
        for p in &watched {
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

        // Scan the inboxes: on an event, on the rescan period, or while files wait.
        let now = Instant::now();
        if woke || !pending.is_empty() || now.duration_since(last_rescan) >= rescan_every {
            last_rescan = now;
            let mut ready: Vec<(String, Vec<PathBuf>)> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for p in &watched {
                let layout = Layout::new(drop, &p.name);
                let files = ingest::inbox_files(&layout).unwrap_or_default();
                let mut ready_here = Vec::new();
                for f in files {
                    let Ok(meta) = fs::metadata(&f) else { continue };
                    seen.insert(f.clone());
                    let (len, modified) = (meta.len(), meta.modified().ok());
                    let entry = pending.entry(f.clone()).or_insert(Pending {
                        len,
                        modified,
                        stable_since: now,
                        retry_at: None,
                    });
                    if entry.len != len || entry.modified != modified {
                        entry.len = len;
                        entry.modified = modified;
                        entry.stable_since = now;
                    }
                    let stable = now.duration_since(entry.stable_since) >= opts.debounce;
                    let allowed = entry.retry_at.is_none_or(|t| now >= t);
                    if stable && allowed {
                        ready_here.push(f);
                    }
                }
                if !ready_here.is_empty() {
                    ready.push((p.name.clone(), ready_here));
                }
            }
            // Files that vanished or were moved are forgotten.
            pending.retain(|f, _| seen.contains(f));

            if !ready.is_empty() && ingest_backoff.ready() {
                for (name, files) in ready {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let iopts = ingest::Options {
                        dates: opts.dates.clone(),
                        pst_checker: opts.pst_checker.clone(),
                        ..Default::default()
                    };
                    let result = store
                        .profile(&name)
                        .and_then(|p| ingest::ingest(&mut store, &p, drop, &files, &iopts));
                    match result {
                        Ok(r) => {
                            ingest_backoff.succeeded();
                            for f in &r.files {
                                let t = &f.tally;
                                match f.outcome {
                                    ingest::FileOutcome::Retry => {
                                        warn!(profile = %name, file = %f.file.display(),
                                              error = f.error.as_deref().unwrap_or(""),
                                              "file cannot be read; retrying later");
                                        if let Some(pf) = pending.get_mut(&f.file) {
                                            pf.retry_at =
                                                Some(Instant::now() + Duration::from_secs(2));
                                        }
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
                            if !export_due.contains(&name) {
                                export_due.push(name);
                            }
                        }
                        Err(e) => {
                            ingest_backoff.failed();
                            warn!(profile = %name, error = %e, "ingest failed; retrying");
                        }
                    }
                }
            }
        }

        // The database: any change to what Outlook sees exports every profile.
        if last_db_check.elapsed() >= opts.db_interval && db_backoff.ready() {
            last_db_check = Instant::now();
            match store.max_change() {
                Ok(m) if m > last_change => {
                    last_change = m;
                    if let Ok(ps) = profiles(&store, opts) {
                        watched = ps;
                    }
                    for p in &watched {
                        if !export_due.contains(&p.name) {
                            export_due.push(p.name.clone());
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    db_backoff.failed();
                    warn!(error = %e, "cannot read the database; retrying");
                }
            }
        }
        if !export_due.is_empty() && db_backoff.ready() {
            let due = std::mem::take(&mut export_due);
            for name in due {
                // What this export will see; a change committed meanwhile is newer.
                if let Ok(m) = store.max_change() {
                    last_change = last_change.max(m);
                }
                if let Err(e) = export_one(&mut store, &name, drop, opts) {
                    db_backoff.failed();
                    warn!(profile = %name, error = %e, "export failed; retrying");
                    export_due.push(name);
                } else {
                    db_backoff.succeeded();
                }
            }
        }
    }
    info!("watch stopped");
    Ok(())
}
