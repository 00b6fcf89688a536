//! The watcher's schedule as a pure state machine: when to scan the inboxes, which files
//! are complete enough to ingest (size and modification time stable for the debounce
//! period), when to check the database for changes, which profiles to export, and how
//! long to wait after a failure. It does no I/O and reads no clock: the caller passes the
//! time ([`Time`], since the watcher started) with every call, feeds what it observed as
//! [`Input`]s and performs the [`Action`]s that [`Schedule::next`] returns.
//!
//! One round of the loop, after each [`Input::Tick`]: [`Action::Scan`] (on a file-system
//! event, while files wait, or every rescan period), one [`Action::Ingest`] per profile
//! with ready files (unless ingest is backing off), [`Action::CheckDb`] every database
//! interval (then [`Action::RefreshProfiles`] when it changed), one [`Action::Export`]
//! per profile due (unless the database is backing off), and [`Action::Sleep`].
//!
//! Guards: a profile whose ingest or export a guard stopped ([`Input::IngestGuarded`],
//! [`Input::ExportGuarded`]) is held on its own: its guarded files stay in the inbox and
//! its export waits, each for a guard backoff that starts at [`FIRST_GUARD_RETRY`] and
//! doubles up to [`MAX_GUARD_RETRY`] (a guarded file that changes is tried again at once);
//! the other profiles go on.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A point in time: how long after the watcher started.
pub type Time = Duration;

/// The first wait after a failure; it doubles with each failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a file that could not be read yet waits before it is tried again.
pub const RETRY_FILE_AFTER: Duration = Duration::from_secs(2);
/// The first wait after a guard stopped a profile's ingest or export; it doubles each time
/// the guard stops it again. A guard does not clear by itself: an admin runs the step with
/// its override, or changes the data or the thresholds; the retries only notice that.
pub const FIRST_GUARD_RETRY: Duration = Duration::from_secs(30);
/// The longest wait between two tries of a guarded step.
pub const MAX_GUARD_RETRY: Duration = Duration::from_secs(600);

/// The timings of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long a file's size and modification time must stay the same before it is read.
    pub debounce: Duration,
    /// How often the database is checked for changes.
    pub db_interval: Duration,
    /// How often the inboxes are scanned when nothing else asks for a scan.
    pub rescan_every: Duration,
    /// The longest sleep between two rounds.
    pub tick: Duration,
}

impl Config {
    /// The timings of a watcher with this debounce and database interval, polling the
    /// inboxes every `poll` (or woken by file-system events when `None`).
    pub fn new(debounce: Duration, db_interval: Duration, poll: Option<Duration>) -> Config {
        Config {
            debounce,
            db_interval,
            rescan_every: poll.unwrap_or(Duration::from_secs(1)),
            tick: Duration::from_millis(50)
                .min(debounce / 4)
                .max(Duration::from_millis(10)),
        }
    }
}

/// What the caller observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The sleep ended: `event` when a file-system event woke it early. Starts a round.
    Tick { event: bool },
    /// A file in `profile`'s inbox, as the scan asked for by [`Action::Scan`] found it.
    FileSeen {
        profile: String,
        file: PathBuf,
        len: u64,
        modified: Option<SystemTime>,
    },
    /// The scan is complete: files it did not see are forgotten.
    ScanDone,
    /// An ingest ran; `retry` are the files that could not be read yet.
    IngestSucceeded {
        profile: String,
        retry: Vec<PathBuf>,
    },
    /// An ingest failed as a whole (the database, the profile).
    IngestFailed { profile: String },
    /// A guard stopped the ingest of these files before it applied anything: they stay in
    /// the inbox, held until the profile's guard backoff ends or they change.
    IngestGuarded {
        profile: String,
        files: Vec<PathBuf>,
    },
    /// The database's change clock (`max_change`), as [`Action::CheckDb`] read it.
    DbChange { max_change: i64 },
    /// The database could not be read.
    DbFailed,
    /// The watched profiles, as [`Action::RefreshProfiles`] read them (the old list when
    /// that failed); each is queued for export.
    Profiles(Vec<String>),
    /// An export ran; `seen` is the change clock read just before it (what it saw, at
    /// least). Only this profile has seen those changes: the others are exported when a
    /// check finds them.
    Exported { profile: String, seen: Option<i64> },
    /// An export failed; it is queued again.
    ExportFailed { profile: String, seen: Option<i64> },
    /// A guard stopped the export before it wrote anything; it is queued again for when
    /// the profile's guard backoff ends (the other profiles are not delayed).
    ExportGuarded { profile: String },
}

/// What the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// List every watched inbox: one [`Input::FileSeen`] per file, then [`Input::ScanDone`].
    Scan,
    /// Ingest these files of this profile; then [`Input::IngestSucceeded`] or
    /// [`Input::IngestFailed`].
    Ingest {
        profile: String,
        files: Vec<PathBuf>,
    },
    /// Read the change clock: [`Input::DbChange`] or [`Input::DbFailed`].
    CheckDb,
    /// The database changed: re-read the watched profiles, then [`Input::Profiles`].
    RefreshProfiles,
    /// Export this profile; then [`Input::Exported`] or [`Input::ExportFailed`].
    Export { profile: String },
    /// Nothing more this round: wait for a file-system event or `until`, then
    /// [`Input::Tick`].
    Sleep { until: Time },
}

/// A step that failed and waits before it is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Not before this time.
    pub next: Time,
    /// The wait after the next failure.
    pub delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::ZERO,
            delay: FIRST_BACKOFF,
        }
    }
}

impl Backoff {
    pub fn ready(&self, now: Time) -> bool {
        now >= self.next
    }
    pub fn failed(&mut self, now: Time) {
        self.next = now + self.delay;
        self.delay = (self.delay * 2).min(MAX_BACKOFF);
    }
    pub fn succeeded(&mut self) {
        self.delay = FIRST_BACKOFF;
    }

    /// A backoff for guarded steps: [`FIRST_GUARD_RETRY`], doubling to [`MAX_GUARD_RETRY`].
    fn guard() -> Backoff {
        Backoff {
            next: Duration::ZERO,
            delay: FIRST_GUARD_RETRY,
        }
    }

    fn guarded(&mut self, now: Time) {
        self.next = now + self.delay;
        self.delay = (self.delay * 2).min(MAX_GUARD_RETRY);
    }
}

/// What is known of a file waiting in an inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    len: u64,
    modified: Option<SystemTime>,
    stable_since: Time,
    /// Not before this time (after a read failure, or while a guard holds it).
    retry_at: Option<Time>,
    /// A guard stopped its ingest: a change of the file ends the hold.
    held: bool,
}

/// Where the schedule is within a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for [`Input::Tick`].
    Sleeping,
    /// A round started: scan if due.
    Scan,
    /// Handing out the ingests of the last scan.
    Ingest,
    /// Check the database if due.
    Db,
    /// Re-read the profiles after a change, then take the exports due.
    StartExports,
    /// Handing out the exports of this round.
    Export,
}

/// The watcher's schedule; see the module documentation.
#[derive(Debug)]
pub struct Schedule {
    config: Config,
    /// The watched profiles, by name.
    profiles: Vec<String>,
    pending: HashMap<PathBuf, Pending>,
    /// The files of the current scan, and those of them ready to ingest, by profile.
    seen: HashSet<PathBuf>,
    ready: Vec<(String, Vec<PathBuf>)>,
    ingests: VecDeque<(String, Vec<PathBuf>)>,
    /// The change clock last read by a check; a larger one is a change.
    last_change: i64,
    /// Per profile, the change clock read before its last export: what that export saw.
    /// A change reaches a profile unless its export has seen it, whoever made the change
    /// and whenever the check that found it ran.
    exported_upto: HashMap<String, i64>,
    db_backoff: Backoff,
    ingest_backoff: Backoff,
    /// Per profile, the backoff of a guarded ingest and of a guarded export.
    ingest_guards: HashMap<String, Backoff>,
    export_guards: HashMap<String, Backoff>,
    /// Profiles to export, and this round's exports being handed out.
    export_due: Vec<String>,
    exports: VecDeque<String>,
    /// The database changed: re-read the profiles and export them all.
    refresh: bool,
    last_db_check: Option<Time>,
    last_rescan: Option<Time>,
    phase: Phase,
    event: bool,
}

impl Schedule {
    /// A schedule for these profiles, whose database's change clock is `last_change`.
    /// Every profile is exported in the first round; the first round starts after the
    /// first [`Action::Sleep`].
    pub fn new(config: Config, profiles: Vec<String>, last_change: i64) -> Schedule {
        Schedule {
            config,
            export_due: profiles.clone(),
            profiles,
            pending: HashMap::new(),
            seen: HashSet::new(),
            ready: Vec::new(),
            ingests: VecDeque::new(),
            last_change,
            exported_upto: HashMap::new(),
            db_backoff: Backoff::default(),
            ingest_backoff: Backoff::default(),
            ingest_guards: HashMap::new(),
            export_guards: HashMap::new(),
            exports: VecDeque::new(),
            refresh: false,
            last_db_check: None,
            last_rescan: None,
            phase: Phase::Sleeping,
            event: false,
        }
    }

    /// The watched profiles.
    pub fn profiles(&self) -> &[String] {
        &self.profiles
    }

    /// The change clock last read by a check.
    pub fn last_change(&self) -> i64 {
        self.last_change
    }

    /// The backoff of ingests and that of the database (checks and exports).
    pub fn backoffs(&self) -> (Backoff, Backoff) {
        (self.ingest_backoff, self.db_backoff)
    }

    /// The guard backoffs of a profile's ingest and export, while a guard holds them.
    pub fn guards(&self, profile: &str) -> (Option<Backoff>, Option<Backoff>) {
        (
            self.ingest_guards.get(profile).copied(),
            self.export_guards.get(profile).copied(),
        )
    }

    /// Records what the caller observed at `now`.
    pub fn observe(&mut self, now: Time, input: Input) {
        match input {
            Input::Tick { event } => {
                self.event = event;
                self.phase = Phase::Scan;
            }
            Input::FileSeen {
                profile,
                file,
                len,
                modified,
            } => self.file_seen(now, profile, file, len, modified),
            Input::ScanDone => self.scan_done(now),
            Input::IngestSucceeded { profile, retry } => {
                self.ingest_backoff.succeeded();
                self.ingest_guards.remove(&profile);
                for f in retry {
                    if let Some(p) = self.pending.get_mut(&f) {
                        p.retry_at = Some(now + RETRY_FILE_AFTER);
                    }
                }
                self.queue_export(profile);
            }
            Input::IngestFailed { .. } => self.ingest_backoff.failed(now),
            Input::IngestGuarded { profile, files } => {
                let b = self
                    .ingest_guards
                    .entry(profile)
                    .or_insert_with(Backoff::guard);
                b.guarded(now);
                let until = b.next;
                for f in files {
                    if let Some(p) = self.pending.get_mut(&f) {
                        p.retry_at = Some(until);
                        p.held = true;
                    }
                }
            }
            Input::DbChange { max_change } => {
                if max_change > self.last_change {
                    self.last_change = max_change;
                    self.refresh = true;
                }
            }
            Input::DbFailed => self.db_backoff.failed(now),
            Input::Profiles(profiles) => {
                // A profile that is gone (renamed, made inactive) is forgotten, so that no
                // queued export of it fails again and again.
                let gone = |p: &String| !profiles.contains(p);
                self.export_due.retain(|p| !gone(p));
                self.exports.retain(|p| !gone(p));
                self.exported_upto.retain(|p, _| !gone(p));
                self.export_guards.retain(|p, _| !gone(p));
                self.ingest_guards.retain(|p, _| !gone(p));
                self.profiles = profiles;
                for p in self.profiles.clone() {
                    let seen = self.exported_upto.get(&p).copied();
                    if seen.is_none_or(|s| s < self.last_change) {
                        self.queue_export(p);
                    }
                }
            }
            Input::Exported { profile, seen } => {
                self.export_guards.remove(&profile);
                if let Some(m) = seen {
                    let upto = self.exported_upto.entry(profile).or_insert(m);
                    *upto = (*upto).max(m);
                }
                self.db_backoff.succeeded();
            }
            Input::ExportGuarded { profile } => {
                self.export_guards
                    .entry(profile.clone())
                    .or_insert_with(Backoff::guard)
                    .guarded(now);
                self.queue_export(profile);
            }
            Input::ExportFailed { profile, .. } => {
                self.db_backoff.failed(now);
                self.queue_export(profile);
            }
        }
    }

    /// The next thing to do at `now`. Ends every round with [`Action::Sleep`].
    pub fn next(&mut self, now: Time) -> Action {
        loop {
            match self.phase {
                Phase::Sleeping => {
                    return Action::Sleep {
                        until: self.wake_at(now),
                    };
                }
                Phase::Scan => {
                    self.phase = Phase::Ingest;
                    if self.scan_due(now) {
                        self.last_rescan = Some(now);
                        self.seen.clear();
                        self.ready.clear();
                        return Action::Scan;
                    }
                }
                Phase::Ingest => match self.ingests.pop_front() {
                    Some((profile, files)) => return Action::Ingest { profile, files },
                    None => self.phase = Phase::Db,
                },
                Phase::Db => {
                    self.phase = Phase::StartExports;
                    if self.db_check_due(now) {
                        self.last_db_check = Some(now);
                        return Action::CheckDb;
                    }
                }
                Phase::StartExports => {
                    if std::mem::take(&mut self.refresh) {
                        return Action::RefreshProfiles;
                    }
                    self.phase = Phase::Export;
                    if self.db_backoff.ready(now) {
                        // A guarded profile waits for its own backoff; the others go.
                        let guards = &self.export_guards;
                        let (go, wait): (Vec<String>, Vec<String>) =
                            std::mem::take(&mut self.export_due)
                                .into_iter()
                                .partition(|p| guards.get(p).is_none_or(|b| b.ready(now)));
                        self.export_due = wait;
                        self.exports.extend(go);
                    }
                }
                Phase::Export => match self.exports.pop_front() {
                    Some(profile) => return Action::Export { profile },
                    None => self.phase = Phase::Sleeping,
                },
            }
        }
    }

    /// When the next round is due: a tick from now while files wait (their debounce is
    /// measured by rescanning), else the next rescan, database check or end of a backoff
    /// with work behind it, but never sooner than a tick. A file-system event wakes the
    /// caller earlier; an idle watcher wakes only on its periods.
    fn wake_at(&self, now: Time) -> Time {
        let soonest = now + self.config.tick;
        if self.settling() || !self.ingests.is_empty() || self.refresh {
            return soonest;
        }
        // Never scanned or checked: due now.
        let rescan = self
            .last_rescan
            .map_or(now, |t| t + self.config.rescan_every);
        let check = self
            .last_db_check
            .map_or(now, |t| t + self.config.db_interval)
            .max(self.db_backoff.next);
        let exports = self
            .export_due
            .iter()
            .map(|p| {
                let guard = self.export_guards.get(p).map_or(Duration::ZERO, |b| b.next);
                self.db_backoff.next.max(guard)
            })
            .min();
        // A file a guard holds is due when its hold ends (its rescans see a change).
        let held = self
            .pending
            .values()
            .filter(|p| p.held)
            .filter_map(|p| p.retry_at)
            .min();
        let due = [Some(rescan), Some(check), exports, held]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
        due.max(soonest)
    }

    /// Whether files wait for their debounce (or a short retry): they are rescanned every
    /// tick. Files a guard holds are not: they wait minutes, rescanned on the rescan period.
    fn settling(&self) -> bool {
        self.pending.values().any(|p| !p.held)
    }

    fn scan_due(&self, now: Time) -> bool {
        self.event
            || self.settling()
            || self
                .last_rescan
                .is_none_or(|t| now.saturating_sub(t) >= self.config.rescan_every)
    }

    fn db_check_due(&self, now: Time) -> bool {
        let interval = self
            .last_db_check
            .is_none_or(|t| now.saturating_sub(t) >= self.config.db_interval);
        interval && self.db_backoff.ready(now)
    }

    fn file_seen(
        &mut self,
        now: Time,
        profile: String,
        file: PathBuf,
        len: u64,
        modified: Option<SystemTime>,
    ) {
        self.seen.insert(file.clone());
        let entry = self.pending.entry(file.clone()).or_insert(Pending {
            len,
            modified,
            stable_since: now,
            retry_at: None,
            held: false,
        });
        if entry.len != len || entry.modified != modified {
            entry.len = len;
            entry.modified = modified;
            entry.stable_since = now;
            if std::mem::take(&mut entry.held) {
                // A new version of a guarded file: it may be meant differently now.
                entry.retry_at = None;
            }
        }
        let stable = now.saturating_sub(entry.stable_since) >= self.config.debounce;
        let allowed = entry.retry_at.is_none_or(|t| now >= t);
        if !(stable && allowed) {
            return;
        }
        match self.ready.iter_mut().find(|(p, _)| *p == profile) {
            Some((_, files)) => files.push(file),
            None => self.ready.push((profile, vec![file])),
        }
    }

    fn scan_done(&mut self, now: Time) {
        // Files that vanished or were moved are forgotten.
        let seen = std::mem::take(&mut self.seen);
        self.pending.retain(|f, _| seen.contains(f));
        let ready = std::mem::take(&mut self.ready);
        if !ready.is_empty() && self.ingest_backoff.ready(now) {
            self.ingests.extend(ready);
        }
    }

    fn queue_export(&mut self, profile: String) {
        if !self.export_due.contains(&profile) {
            self.export_due.push(profile);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: &str = "Ann Lee";
    const BOB: &str = "Bob Ray";

    fn ms(n: u64) -> Time {
        Duration::from_millis(n)
    }

    fn mtime(secs: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Debounce 1 s, database every 500 ms, events (rescan every 1 s): a 50 ms tick.
    fn schedule() -> Schedule {
        Schedule::new(
            Config::new(ms(1000), ms(500), None),
            vec![ANN.into(), BOB.into()],
            7,
        )
    }

    /// A fake site that answers the schedule's actions: its inbox files, its change clock
    /// and whether ingest, export or the database fail.
    struct Site {
        /// (profile, file, len, mtime)
        files: Vec<(String, PathBuf, u64, Option<SystemTime>)>,
        profiles: Vec<String>,
        max_change: i64,
        /// Files ingest cannot read yet (they stay in the inbox).
        unreadable: Vec<PathBuf>,
        ingest_fails: bool,
        export_fails: bool,
        db_fails: bool,
        /// Profiles whose ingest, or export, a guard stops.
        ingest_guarded: Vec<String>,
        export_guarded: Vec<String>,
    }

    impl Site {
        fn new() -> Site {
            Site {
                files: Vec::new(),
                profiles: vec![ANN.into(), BOB.into()],
                max_change: 7,
                unreadable: Vec::new(),
                ingest_fails: false,
                export_fails: false,
                db_fails: false,
                ingest_guarded: Vec::new(),
                export_guarded: Vec::new(),
            }
        }

        /// Drops (or rewrites) a file in a profile's inbox.
        fn put(&mut self, profile: &str, name: &str, len: u64, modified: Option<SystemTime>) {
            let file = PathBuf::from(profile).join(name);
            self.files.retain(|(_, f, _, _)| *f != file);
            self.files.push((profile.into(), file, len, modified));
        }

        /// One round at `now`: a tick, then every action up to the sleep, each answered by
        /// the site. Returns the actions before the sleep.
        fn round(&mut self, s: &mut Schedule, now: Time, event: bool) -> Vec<Action> {
            s.observe(now, Input::Tick { event });
            let mut done = Vec::new();
            for _ in 0..1000 {
                let action = s.next(now);
                if let Action::Sleep { until } = action {
                    assert!(until > now, "a sleep ends after now");
                    return done;
                }
                let input = self.answer(&action);
                for i in input {
                    s.observe(now, i);
                }
                done.push(action);
            }
            panic!("a round that does not end: {done:?}");
        }

        fn answer(&mut self, action: &Action) -> Vec<Input> {
            match action {
                Action::Scan => {
                    let mut out: Vec<Input> = self
                        .files
                        .iter()
                        .map(|(p, f, len, modified)| Input::FileSeen {
                            profile: p.clone(),
                            file: f.clone(),
                            len: *len,
                            modified: *modified,
                        })
                        .collect();
                    out.push(Input::ScanDone);
                    out
                }
                Action::Ingest { profile, files } => {
                    let profile = profile.clone();
                    if self.ingest_fails {
                        return vec![Input::IngestFailed { profile }];
                    }
                    if self.ingest_guarded.contains(&profile) {
                        let files = files.clone();
                        return vec![Input::IngestGuarded { profile, files }];
                    }
                    let retry: Vec<PathBuf> = files
                        .iter()
                        .filter(|f| self.unreadable.contains(f))
                        .cloned()
                        .collect();
                    // Read files move to processed/ and change the database.
                    self.files
                        .retain(|(_, f, _, _)| !files.contains(f) || retry.contains(f));
                    if retry.len() < files.len() {
                        self.max_change += 1;
                    }
                    vec![Input::IngestSucceeded { profile, retry }]
                }
                Action::CheckDb if self.db_fails => vec![Input::DbFailed],
                Action::CheckDb => vec![Input::DbChange {
                    max_change: self.max_change,
                }],
                Action::RefreshProfiles => vec![Input::Profiles(self.profiles.clone())],
                Action::Export { profile } => {
                    let (profile, seen) = (profile.clone(), Some(self.max_change));
                    if self.export_guarded.contains(&profile) {
                        vec![Input::ExportGuarded { profile }]
                    } else if self.export_fails {
                        vec![Input::ExportFailed { profile, seen }]
                    } else {
                        vec![Input::Exported { profile, seen }]
                    }
                }
                Action::Sleep { .. } => unreachable!(),
            }
        }
    }

    fn ingests(actions: &[Action]) -> Vec<(String, Vec<PathBuf>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Ingest { profile, files } => Some((profile.clone(), files.clone())),
                _ => None,
            })
            .collect()
    }

    fn exports(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Export { profile } => Some(profile.clone()),
                _ => None,
            })
            .collect()
    }

    fn export(p: &str) -> Action {
        Action::Export { profile: p.into() }
    }

    /// Runs rounds every 50 ms from `from` to `to` (inclusive) and returns every action.
    fn rounds(site: &mut Site, s: &mut Schedule, from: u64, to: u64) -> Vec<Action> {
        (from..=to)
            .step_by(50)
            .flat_map(|t| site.round(s, ms(t), false))
            .collect()
    }

    #[test]
    fn the_tick_is_a_quarter_of_the_debounce_between_10_and_50_ms() {
        let tick = |debounce| Config::new(ms(debounce), ms(500), None).tick;
        assert_eq!(tick(1000), ms(50));
        assert_eq!(tick(100), ms(25));
        assert_eq!(tick(0), ms(10));
        assert_eq!(Config::new(ms(1), ms(1), None).rescan_every, ms(1000));
        assert_eq!(
            Config::new(ms(1), ms(1), Some(ms(200))).rescan_every,
            ms(200)
        );
    }

    #[test]
    fn it_sleeps_a_tick_first_then_scans_checks_and_exports_every_profile() {
        let (mut site, mut s) = (Site::new(), schedule());
        assert_eq!(s.next(ms(0)), Action::Sleep { until: ms(50) });
        assert_eq!(s.next(ms(20)), Action::Sleep { until: ms(70) });
        let first = site.round(&mut s, ms(50), false);
        assert_eq!(
            first,
            vec![Action::Scan, Action::CheckDb, export(ANN), export(BOB)]
        );
        // Nothing due: no event, no file waits, neither period has passed.
        assert_eq!(site.round(&mut s, ms(100), false), vec![]);
        // A file-system event scans at once.
        assert_eq!(site.round(&mut s, ms(150), true), vec![Action::Scan]);
    }

    #[test]
    fn the_inboxes_are_rescanned_and_the_database_checked_on_their_periods() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        let later = rounds(&mut site, &mut s, 100, 2050);
        let scans = later.iter().filter(|a| **a == Action::Scan).count();
        let checks = later.iter().filter(|a| **a == Action::CheckDb).count();
        assert_eq!((scans, checks), (2, 4), "{later:?}");
        assert!(
            exports(&later).is_empty(),
            "an unchanged database exports nothing"
        );
    }

    #[test]
    fn a_file_is_ingested_once_its_size_and_mtime_are_stable_for_the_debounce() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "a.vcf", 10, mtime(1));
        assert_eq!(site.round(&mut s, ms(100), true), vec![Action::Scan]);
        assert!(ingests(&rounds(&mut site, &mut s, 150, 1099)).is_empty());
        let due = site.round(&mut s, ms(1100), false);
        assert_eq!(
            due,
            vec![
                Action::Scan,
                Action::Ingest {
                    profile: ANN.into(),
                    files: vec![PathBuf::from(ANN).join("a.vcf")],
                },
                export(ANN),
            ],
            "the ingest exports its profile in the same round"
        );
        // The file left the inbox: it is forgotten, and no longer scanned every tick.
        assert_eq!(site.round(&mut s, ms(1150), false), vec![Action::Scan]);
        assert_eq!(site.round(&mut s, ms(1200), false), vec![]);
    }

    #[test]
    fn a_new_mtime_or_size_restarts_the_debounce() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "a.csv", 10, mtime(1));
        site.round(&mut s, ms(100), true);
        // Same size, new modification time at 900 ms.
        rounds(&mut site, &mut s, 150, 850);
        site.put(ANN, "a.csv", 10, mtime(2));
        assert!(ingests(&rounds(&mut site, &mut s, 900, 1850)).is_empty());
        // New size at 1850 ms, same modification time.
        site.put(ANN, "a.csv", 11, mtime(2));
        assert!(ingests(&rounds(&mut site, &mut s, 1850, 2800)).is_empty());
        assert_eq!(ingests(&site.round(&mut s, ms(2850), false)).len(), 1);
    }

    #[test]
    fn a_file_that_keeps_growing_is_not_ingested() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        for t in (100..10_000).step_by(50) {
            site.put(ANN, "big.pst", t, mtime(t / 1000));
            let done = site.round(&mut s, ms(t), false);
            assert!(
                ingests(&done).is_empty(),
                "ingested a growing file at {t} ms"
            );
        }
        // It stops growing at 9950 ms: read a debounce later, not before.
        assert!(ingests(&rounds(&mut site, &mut s, 10_000, 10_900)).is_empty());
        assert_eq!(ingests(&site.round(&mut s, ms(10_950), false)).len(), 1);
    }

    #[test]
    fn ready_files_are_ingested_per_profile() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "a.vcf", 1, mtime(1));
        site.put(BOB, "b.vcf", 1, mtime(1));
        site.put(ANN, "c.ics", 1, mtime(1));
        site.round(&mut s, ms(100), true);
        let done = site.round(&mut s, ms(1100), false);
        let mut got = ingests(&done);
        got.iter_mut().for_each(|(_, files)| files.sort());
        got.sort();
        let path = |p: &str, f: &str| PathBuf::from(p).join(f);
        assert_eq!(
            got,
            vec![
                (ANN.into(), vec![path(ANN, "a.vcf"), path(ANN, "c.ics")]),
                (BOB.into(), vec![path(BOB, "b.vcf")]),
            ]
        );
        let mut exported = exports(&done);
        exported.sort();
        assert_eq!(exported, vec![ANN.to_string(), BOB.to_string()]);
    }

    #[test]
    fn a_file_that_cannot_be_read_yet_is_retried_after_two_seconds() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "locked.csv", 5, mtime(1));
        site.unreadable.push(PathBuf::from(ANN).join("locked.csv"));
        site.round(&mut s, ms(100), true);
        assert_eq!(ingests(&site.round(&mut s, ms(1100), false)).len(), 1);
        assert!(ingests(&rounds(&mut site, &mut s, 1150, 3050)).is_empty());
        assert_eq!(ingests(&site.round(&mut s, ms(3100), false)).len(), 1);
    }

    #[test]
    fn the_ingest_backoff_doubles_after_failures_and_resets_after_a_success() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "a.vcf", 1, mtime(1));
        site.round(&mut s, ms(100), true);
        site.ingest_fails = true;
        // Failures at 1100 ms, then 250, 500, 1000 and 2000 ms after each.
        let mut attempts = Vec::new();
        for t in (1100..=6000).step_by(50) {
            if !ingests(&site.round(&mut s, ms(t), false)).is_empty() {
                attempts.push(t);
            }
        }
        assert_eq!(attempts, vec![1100, 1350, 1850, 2850, 4850]);
        assert_eq!(s.backoffs().0.delay, ms(8000));
        // The next attempt (8850 ms) succeeds: the delay is back to the first.
        site.ingest_fails = false;
        assert!(ingests(&rounds(&mut site, &mut s, 6050, 8800)).is_empty());
        assert_eq!(ingests(&site.round(&mut s, ms(8850), false)).len(), 1);
        assert_eq!(s.backoffs().0.delay, FIRST_BACKOFF);
        // So a new failure waits 250 ms again.
        site.put(ANN, "b.vcf", 1, mtime(1));
        site.ingest_fails = true;
        site.round(&mut s, ms(8900), true);
        assert_eq!(ingests(&site.round(&mut s, ms(9900), false)).len(), 1);
        assert!(ingests(&site.round(&mut s, ms(10_100), false)).is_empty());
        assert_eq!(ingests(&site.round(&mut s, ms(10_150), false)).len(), 1);
    }

    #[test]
    fn the_backoff_stops_growing_at_30_seconds() {
        let mut b = Backoff::default();
        assert!(b.ready(ms(0)));
        for _ in 0..20 {
            b.failed(ms(1000));
        }
        assert_eq!(b.delay, MAX_BACKOFF);
        assert_eq!(b.next, ms(1000) + MAX_BACKOFF);
        assert!(!b.ready(ms(30_999)));
        assert!(b.ready(ms(31_000)));
    }

    #[test]
    fn a_database_change_queues_an_export_of_every_watched_profile() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        // Another writer changes the database and adds an employee who syncs.
        site.max_change = 8;
        site.profiles.push("Cy Dow".into());
        assert_eq!(site.round(&mut s, ms(500), false), vec![]);
        assert_eq!(
            site.round(&mut s, ms(550), false),
            vec![
                Action::CheckDb,
                Action::RefreshProfiles,
                export(ANN),
                export(BOB),
                export("Cy Dow"),
            ]
        );
        assert_eq!(s.profiles(), [ANN, BOB, "Cy Dow"]);
        assert_eq!(s.last_change(), 8);
        // Seen once, exported once.
        assert!(exports(&rounds(&mut site, &mut s, 600, 3000)).is_empty());
    }

    #[test]
    fn an_ingest_exports_its_profile_at_once_and_every_other_profile_at_the_next_check() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "a.vcf", 1, mtime(1));
        site.round(&mut s, ms(100), true);
        rounds(&mut site, &mut s, 150, 1050);
        // No database check in this round: the ingest's profile is exported at once.
        let done = site.round(&mut s, ms(1100), false);
        assert!(!done.contains(&Action::CheckDb), "{done:?}");
        assert_eq!(exports(&done), vec![ANN.to_string()]);
        // Its export saw the ingest's change, but Bob's did not: the next check sends it
        // to Bob (and not again to Ann), once.
        let later = rounds(&mut site, &mut s, 1150, 3000);
        assert!(later.contains(&Action::CheckDb));
        assert_eq!(exports(&later), vec![BOB.to_string()], "{later:?}");
        assert_eq!(s.last_change(), 8);
    }

    #[test]
    fn a_change_found_by_the_check_after_an_ingest_exports_every_profile_once() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "a.vcf", 1, mtime(1));
        site.round(&mut s, ms(100), true);
        // The check (due since 550 ms) comes after the ingest and before the exports.
        let done = site.round(&mut s, ms(1100), false);
        assert!(done.contains(&Action::CheckDb), "{done:?}");
        assert_eq!(exports(&done), vec![ANN.to_string(), BOB.to_string()]);
        assert!(exports(&rounds(&mut site, &mut s, 1150, 3000)).is_empty());
    }

    #[test]
    fn a_change_made_while_an_export_of_another_profile_ran_still_reaches_it() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        // Another writer's change lands; before any check sees it, an ingest of Ann's
        // (which changes nothing) exports Ann, whose export sees the change.
        site.max_change = 8;
        site.put(ANN, "same.vcf", 1, mtime(1));
        site.unreadable.clear();
        site.round(&mut s, ms(100), true);
        rounds(&mut site, &mut s, 150, 1050);
        let done = site.round(&mut s, ms(1100), false);
        assert_eq!(exports(&done), vec![ANN.to_string()]);
        // Whatever Ann's export saw, Bob gets the change at the next check.
        let later = rounds(&mut site, &mut s, 1150, 3000);
        assert_eq!(exports(&later), vec![BOB.to_string()], "{later:?}");
    }

    #[test]
    fn an_idle_schedule_sleeps_until_its_next_rescan_or_check() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        // Scanned and checked at 50 ms: the next check is due at 550 ms.
        assert_eq!(s.next(ms(60)), Action::Sleep { until: ms(550) });
        assert_eq!(site.round(&mut s, ms(550), false), vec![Action::CheckDb]);
        // Both the rescan and the check are due at 1050 ms.
        assert_eq!(s.next(ms(560)), Action::Sleep { until: ms(1050) });
        // A waiting file is rescanned every tick, for its debounce.
        site.put(ANN, "a.vcf", 1, mtime(1));
        site.round(&mut s, ms(600), true);
        assert_eq!(s.next(ms(600)), Action::Sleep { until: ms(650) });
        // After a failed export, the round after the backoff.
        let (mut site, mut s) = (Site::new(), schedule());
        site.export_fails = true;
        site.round(&mut s, ms(50), false);
        assert_eq!(s.backoffs().1.next, ms(550));
        assert_eq!(s.next(ms(60)), Action::Sleep { until: ms(550) });
    }

    #[test]
    fn a_failed_export_is_retried_after_the_database_backoff() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.export_fails = true;
        // Both are tried; each failure doubles the wait: ready again at 50 + 500 ms.
        let first = site.round(&mut s, ms(50), false);
        assert_eq!(exports(&first), vec![ANN.to_string(), BOB.to_string()]);
        assert_eq!(s.backoffs().1.next, ms(550));
        assert_eq!(rounds(&mut site, &mut s, 100, 500), vec![]);
        site.export_fails = false;
        assert_eq!(
            site.round(&mut s, ms(550), false),
            vec![Action::CheckDb, export(ANN), export(BOB)]
        );
        assert_eq!(s.backoffs().1.delay, FIRST_BACKOFF);
        assert!(exports(&rounds(&mut site, &mut s, 600, 2000)).is_empty());
    }

    #[test]
    fn a_database_that_cannot_be_read_is_checked_again_after_the_backoff() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.db_fails = true;
        // The check fails, so the exports wait too.
        assert_eq!(
            site.round(&mut s, ms(50), false),
            vec![Action::Scan, Action::CheckDb]
        );
        assert_eq!(site.round(&mut s, ms(550), false), vec![Action::CheckDb]);
        // Failed twice: 500 ms from 550 ms, although the interval is 500 ms too.
        site.db_fails = false;
        assert_eq!(site.round(&mut s, ms(1000), false), vec![]);
        assert_eq!(
            site.round(&mut s, ms(1050), false),
            vec![Action::Scan, Action::CheckDb, export(ANN), export(BOB)]
        );
    }

    #[test]
    fn a_file_that_vanishes_is_forgotten() {
        let (mut site, mut s) = (Site::new(), schedule());
        site.round(&mut s, ms(50), false);
        site.put(ANN, "a.vcf", 1, mtime(1));
        site.round(&mut s, ms(100), true);
        site.files.clear();
        assert_eq!(site.round(&mut s, ms(150), false), vec![Action::Scan]);
        assert_eq!(site.round(&mut s, ms(200), false), vec![]);
        // Dropped again, its debounce starts over.
        site.put(ANN, "a.vcf", 1, mtime(1));
        site.round(&mut s, ms(250), true);
        assert!(ingests(&rounds(&mut site, &mut s, 300, 1200)).is_empty());
        assert_eq!(ingests(&site.round(&mut s, ms(1250), false)).len(), 1);
    }

    #[test]
    fn a_guarded_ingest_holds_its_files_and_not_the_other_profiles() {
        let mut site = Site::new();
        site.ingest_guarded.push(ANN.into());
        let mut s = schedule();
        site.put(ANN, "mass.csv", 10, mtime(1));
        let got = ingests(&rounds(&mut site, &mut s, 0, 1500));
        assert_eq!(got.len(), 1, "tried once: {got:?}");
        let (ingest, _) = s.guards(ANN);
        let held_until = ingest.expect("held").next;
        assert!(held_until >= ms(1000) + FIRST_GUARD_RETRY, "{held_until:?}");
        // Until then the file is not tried again, and the watcher does not spin: it sleeps
        // until its next rescan or check, not a tick at a time.
        let mut rounds_run = 0;
        let mut t = 1550;
        while ms(t) < held_until {
            let actions = site.round(&mut s, ms(t), false);
            assert!(ingests(&actions).is_empty(), "at {t}: {actions:?}");
            let Action::Sleep { until } = s.next(ms(t)) else {
                panic!("a sleep")
            };
            assert!(until >= ms(t + 200), "at {t}: sleeps only until {until:?}");
            rounds_run += 1;
            t = until.as_millis() as u64;
        }
        assert!(rounds_run < 100, "{rounds_run} rounds while held");
        // Then it is tried again, and held twice as long.
        let t = t + 1000;
        let got = ingests(&rounds(&mut site, &mut s, t - 1000, t));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(s.guards(ANN).0.unwrap().delay, FIRST_GUARD_RETRY * 4);
        // Bob's files go in meanwhile.
        site.put(BOB, "edit.csv", 5, mtime(2));
        let got = ingests(&rounds(&mut site, &mut s, t, t + 2500));
        assert_eq!(
            got,
            [(BOB.to_string(), vec![PathBuf::from(BOB).join("edit.csv")])]
        );
        // A new version of Ann's file is tried at once (after its debounce), and once it
        // goes through her hold is lifted.
        site.ingest_guarded.clear();
        site.put(ANN, "mass.csv", 11, mtime(3));
        let got = ingests(&rounds(&mut site, &mut s, t + 2500, t + 5000));
        assert!(got.iter().any(|(p, _)| p == ANN), "{got:?}");
        assert_eq!(s.guards(ANN).0, None);
    }

    #[test]
    fn a_profile_that_is_gone_is_not_exported_again() {
        // Ann's export is held by its guard; then Ann is renamed (her old name is gone).
        let mut site = Site::new();
        site.export_guarded.push(ANN.into());
        let mut s = schedule();
        rounds(&mut site, &mut s, 0, 200);
        site.profiles = vec![BOB.into(), "Ann Renamed".into()];
        site.export_guarded.clear();
        let mut t = 250;
        let mut got = Vec::new();
        while t < 100_000 {
            site.max_change += 1;
            got.extend(exports(&rounds(&mut site, &mut s, t, t + 950)));
            t += 1000;
        }
        assert!(!got.contains(&ANN.to_string()), "{got:?}");
        assert!(got.contains(&"Ann Renamed".to_string()), "{got:?}");
    }

    #[test]
    fn a_guarded_export_waits_its_own_backoff_doubling_and_the_others_go_on() {
        let mut site = Site::new();
        site.export_guarded.push(ANN.into());
        let mut s = schedule();
        let got = exports(&rounds(&mut site, &mut s, 0, 200));
        assert_eq!(got, [ANN.to_string(), BOB.to_string()]);
        let first = s.guards(ANN).1.expect("guarded").next;
        // Database changes: Bob is exported each time, Ann not until her backoff ends.
        let mut t = 250;
        let mut anns = 0;
        while t < 100_000 {
            site.max_change += 1;
            let got = exports(&rounds(&mut site, &mut s, t, t + 950));
            assert!(got.contains(&BOB.to_string()), "at {t}: {got:?}");
            anns += got.iter().filter(|p| *p == ANN).count();
            t += 1000;
        }
        // Tried at 30 s and 90 s (30, then 60 s later), not at every change.
        assert_eq!(anns, 2, "first hold until {first:?}");
        assert_eq!(
            s.backoffs().1.delay,
            FIRST_BACKOFF,
            "the database backoff is untouched"
        );
        // An export that goes through clears the hold.
        s.observe(
            ms(t),
            Input::Exported {
                profile: ANN.into(),
                seen: Some(99),
            },
        );
        assert_eq!(s.guards(ANN).1, None);
    }
}
