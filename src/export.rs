//! Export, database → files (SPEC §3, §5): per profile, the records changed since its
//! stamps go out as vdir vCards and VTODOs, Outlook-import CSV and vCard 2.1; items that
//! left the synced set are removed and listed. Memory stays flat: records come in pages.
//!
//! Safety: every file is written atomically; a run marks its profile folder while it runs,
//! and a run that finds the mark of an interrupted one rewrites and re-lists everything
//! since the stamps (which move only at the end, after a file-system sync).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::Serialize;

use crate::clock;
use crate::codec::item::Item;
use crate::codec::outlook_csv::{self, Codec, Encoding, Sheet, Sink};
use crate::codec::text::DateFormat;
use crate::codec::{ical, vcard};
use crate::error::{Error, Result};
use crate::fsutil::{self, AtomicFile};
use crate::model::{Key, Kind};
use crate::store::{Changed, Cursor, Exported, Profile, Store};

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
    /// Which outputs to write; all by default. Leaving one out leaves its files as they are.
    pub outputs: Outputs,
    /// Neutralise spreadsheet formulas in the CSV files (see `outlook_csv::neutralise`).
    pub csv_safe: bool,
}

/// The output families of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outputs {
    /// `contacts/` and `tasks/`.
    pub vdir: bool,
    /// `outlook/` CSV files.
    pub outlook: bool,
    /// `outlook-vcards/`.
    pub vcards21: bool,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            vdir: true,
            outlook: true,
            vcards21: true,
        }
    }
}

impl Outputs {
    /// Parses a comma-separated list of `vdir`, `outlook`, `outlook-vcards`.
    pub fn parse(s: &str) -> Result<Outputs> {
        let mut o = Outputs {
            vdir: false,
            outlook: false,
            vcards21: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "vdir" => o.vdir = true,
                "outlook" => o.outlook = true,
                "outlook-vcards" => o.vcards21 = true,
                other => {
                    return Err(Error::invalid(format!(
                        "unknown output '{other}'; outputs are vdir, outlook, outlook-vcards"
                    )));
                }
            }
        }
        if o == (Outputs {
            vdir: false,
            outlook: false,
            vcards21: false,
        }) {
            return Err(Error::invalid(
                "--outputs names no output (vdir, outlook, outlook-vcards)",
            ));
        }
        Ok(o)
    }
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
    /// for the first (up to a minute), then refuses naming it.
    pub fn lock(&self, profile: &str) -> Result<fsutil::PidLock> {
        fsutil::PidLock::acquire(
            &self.root.join(".smsync.lock"),
            std::time::Duration::from_secs(60),
            &format!("profile '{profile}' in {}", self.root.display()),
        )
    }

    fn marker(&self) -> PathBuf {
        self.root.join(".export-running")
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
}

/// The state of a full-set Outlook CSV after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullSheet {
    /// Rewritten with the full current set.
    Rewritten,
    /// Nothing changed; it is current.
    Current,
    /// The set is larger than `full_sheet_limit`: only full runs rewrite it, the run's
    /// change files carry this run's changes.
    Stale,
}

/// The two sides of a profile's Outlook, each with its own stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Contacts,
    Tasks,
}

impl Side {
    fn kinds(self) -> &'static [Kind] {
        match self {
            Side::Contacts => &[Kind::Location, Kind::User, Kind::Tech],
            Side::Tasks => &[Kind::Si],
        }
    }

    fn sheet(self) -> Sheet {
        match self {
            Side::Contacts => Sheet::Contacts,
            Side::Tasks => Sheet::Tasks,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Contacts => "contacts",
            Side::Tasks => "tasks",
        }
    }
}

enum StateOp {
    Put(Key, Exported),
    Delete(Key),
}

/// A CSV of this run that is opened on its first row.
struct LazySheet {
    path: PathBuf,
    sheet: Sheet,
    sink: Option<Sink<AtomicFile>>,
}

impl LazySheet {
    fn new(path: PathBuf, sheet: Sheet) -> Self {
        LazySheet {
            path,
            sheet,
            sink: None,
        }
    }

    /// Writes a row encoded by [`outlook_csv::encode_row`].
    fn line(&mut self, line: &[u8], encoding: Encoding) -> Result<()> {
        if self.sink.is_none() {
            let f = AtomicFile::create(&self.path)?;
            let s = Sink::new(f, self.sheet, encoding).map_err(|e| Error::io(&self.path, e))?;
            self.sink = Some(s);
        }
        let sink = self.sink.as_mut().expect("opened");
        sink.encoded(line).map_err(|e| Error::io(&self.path, e))
    }

    /// Renames the file into place; `Some(path)` when it had rows.
    fn commit(self) -> Result<Option<PathBuf>> {
        match self.sink {
            None => Ok(None),
            Some(s) => {
                let f = s.finish().map_err(|e| Error::io(&self.path, e))?;
                f.commit()?;
                Ok(Some(self.path))
            }
        }
    }
}

/// A run: the database half ([`Run`]: pages, export state, stamps) and the file half
/// ([`Files`]), which runs on a second thread while the next page is read, so that the
/// database and the file system work at the same time.
struct Run<'a> {
    store: &'a mut dyn Store,
    employee: Key,
    /// Ignore the export state's hashes and write every changed item.
    rewrite: bool,
    /// List removals even where the state does not know the item (an interrupted run may
    /// have forgotten it before its list was written).
    recovering: bool,
    files: Files<'a>,
}

/// The files of a run: item files, CSV sheets, and what went wrong on the way.
struct Files<'a> {
    layout: Layout,
    opts: &'a Options,
    contacts_codec: Codec,
    tasks_codec: Codec,
    contacts_changes: LazySheet,
    tasks_changes: LazySheet,
    removals: LazySheet,
    errors: Vec<String>,
    /// In a full run the full-set sheet is written along with the changes (the same rows),
    /// instead of by a second pass over the database.
    contacts_full: Option<LazySheet>,
    tasks_full: Option<LazySheet>,
    /// Files written by this run, and the first of them (for fsync).
    written: usize,
    written_paths: Vec<PathBuf>,
    /// The CSV line being written (reused).
    line: Vec<u8>,
}

/// Up to this many files, a run fsyncs each one; above, it syncs the file system once.
const FSYNC_EACH_UP_TO: usize = 16;

/// How one page was written: the export-state changes to commit, and the counts.
type PageDone = Result<(Vec<StateOp>, Counts)>;

impl Files<'_> {
    fn codec(&self, side: Side) -> &Codec {
        match side {
            Side::Contacts => &self.contacts_codec,
            Side::Tasks => &self.tasks_codec,
        }
    }

    /// A row checked against the encoding; problems are collected, naming item and field.
    fn checked_row(&mut self, side: Side, item: &Item) -> Option<Vec<String>> {
        let mut row = self.codec(side).row(item);
        if self.opts.csv_safe {
            crate::codec::outlook_csv::neutralise(&mut row);
        }
        let bad = self.codec(side).check(&row, self.opts.encoding);
        if bad.is_empty() {
            return Some(row);
        }
        for b in bad {
            self.errors.push(format!(
                "{} {}: column '{}' holds '{}' (U+{:04X}), which Windows-1252 cannot hold; \
                 export with --csv-encoding utf-8 or change the value",
                side.name(),
                item.key.map(|k| k.to_string()).unwrap_or_default(),
                b.column,
                b.ch,
                b.ch as u32
            ));
        }
        None
    }

    /// Writes a file atomically and remembers it for the durability step.
    fn put_file(&mut self, path: PathBuf, bytes: &[u8]) -> Result<()> {
        fsutil::write_atomic(&path, bytes)?;
        self.written += 1;
        if self.written <= FSYNC_EACH_UP_TO {
            self.written_paths.push(path);
        }
        Ok(())
    }

    /// Makes this run's files durable before the stamps move: an fsync per file for a tiny
    /// run, else one `syncfs` (an fsync costs about a millisecond, so 200 of them would
    /// dominate a 100-change run; `syncfs` also waits for other writers on the file system).
    fn make_durable(&self) -> Result<()> {
        if self.written > FSYNC_EACH_UP_TO {
            return fsutil::sync_filesystem(&self.layout.root);
        }
        for p in &self.written_paths {
            match fs::File::open(p) {
                Ok(f) => f.sync_all().map_err(|e| Error::io(p, e))?,
                // Written, then removed again in the same run.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(p, e)),
            }
        }
        Ok(())
    }

    fn write_item(&mut self, side: Side, item: &Item, in_set: bool) -> Result<Option<StateOp>> {
        let key = item.key.expect("exported items have keys");
        let uid = item.uid.clone().unwrap_or_else(|| key.to_string());
        let Some(row) = self.checked_row(side, item) else {
            return Ok(None);
        };
        let out = self.opts.outputs;
        let encoding = self.opts.encoding;
        if out.outlook {
            self.line.clear();
            outlook_csv::encode_row(&row, &mut self.line);
        }
        match side {
            Side::Contacts => {
                if out.vdir {
                    self.put_file(
                        self.layout.item_file(key.kind, &uid),
                        vcard::write(item, self.opts.vcard).as_bytes(),
                    )?;
                }
                if out.vcards21 {
                    self.put_file(
                        self.layout.vcard21_file(&uid),
                        vcard::write(item, vcard::Version::V21).as_bytes(),
                    )?;
                }
                if out.outlook {
                    self.contacts_changes.line(&self.line, encoding)?;
                    if let (true, Some(full)) = (in_set, self.contacts_full.as_mut()) {
                        full.line(&self.line, encoding)?;
                    }
                }
            }
            Side::Tasks => {
                if out.vdir {
                    self.put_file(
                        self.layout.item_file(key.kind, &uid),
                        ical::write(item).as_bytes(),
                    )?;
                }
                if out.outlook {
                    self.tasks_changes.line(&self.line, encoding)?;
                    if let (true, Some(full)) = (in_set, self.tasks_full.as_mut()) {
                        full.line(&self.line, encoding)?;
                    }
                }
            }
        }
        Ok(Some(StateOp::Put(
            key,
            Exported {
                hash: item.hash(),
                status: item.si_status().map(|s| s.to_string()),
                values: item.values_json(),
                updated_at: item.modified.unwrap_or(0),
            },
        )))
    }

    fn remove_item(&mut self, item: &Item) -> Result<StateOp> {
        let key = item.key.expect("exported items have keys");
        let uid = item.uid.clone().unwrap_or_else(|| key.to_string());
        fsutil::remove_if_exists(&self.layout.item_file(key.kind, &uid))?;
        if key.kind.is_contact() {
            fsutil::remove_if_exists(&self.layout.vcard21_file(&uid))?;
        }
        let row = Codec::removal(key.kind, &key.to_string(), &item.display_name());
        let codec = Codec::new(Sheet::Removals, self.opts.dates.clone());
        let bad = codec.check(&row, self.opts.encoding);
        for b in &bad {
            self.errors.push(format!(
                "removal {}: column '{}' holds '{}' (U+{:04X}), which Windows-1252 cannot hold; \
                 export with --csv-encoding utf-8",
                row[1], b.column, b.ch, b.ch as u32
            ));
        }
        if bad.is_empty() {
            self.line.clear();
            outlook_csv::encode_row(&row, &mut self.line);
            self.removals.line(&self.line, self.opts.encoding)?;
        }
        Ok(StateOp::Delete(key))
    }

    /// Writes one page of changes: what each record needs (written, unchanged, removed,
    /// closed once more) follows from its synced-set flag and what the profile was given.
    fn page(
        &mut self,
        side: Side,
        kind: Kind,
        page: &[Changed],
        rewrite: bool,
        recovering: bool,
    ) -> PageDone {
        let mut counts = Counts::default();
        let mut ops = Vec::with_capacity(page.len());
        for ch in page {
            let item = Item::from_record(&ch.record);
            let prev = ch.exported.as_ref();
            let status = item.si_status().map_or("", crate::model::SiStatus::as_str);
            let closed = kind == Kind::Si && status == "Closed";
            if ch.in_set {
                if !rewrite && prev.is_some_and(|p| p.hash == item.hash()) {
                    counts.unchanged += 1;
                    continue;
                }
                if let Some(op) = self.write_item(side, &item, true)? {
                    ops.push(op);
                    counts.written += 1;
                }
            } else if closed {
                // A closed SI goes out once more, as Completed.
                match prev {
                    Some(p) if p.status.as_deref() != Some("Closed") || recovering => {
                        if let Some(op) = self.write_item(side, &item, false)? {
                            ops.push(op);
                            counts.written += 1;
                        }
                    }
                    Some(_) => counts.unchanged += 1,
                    None => {}
                }
            } else if prev.is_some() || recovering {
                ops.push(self.remove_item(&item)?);
                counts.removed += 1;
            }
        }
        Ok((ops, counts))
    }
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.written += other.written;
        self.removed += other.removed;
        self.unchanged += other.unchanged;
    }
}

impl Run<'_> {
    /// Exports one side: every record changed in (since, upto], page by page.
    fn side(
        &mut self,
        side: Side,
        since: Option<i64>,
        upto: i64,
        hook: &mut dyn FnMut(),
    ) -> Result<Counts> {
        let mut counts = Counts::default();
        for &kind in side.kinds() {
            self.pages(side, kind, since, upto, hook, &mut counts)?;
            self.dirty(side, kind, &mut counts)?;
        }
        Ok(counts)
    }

    /// The pages of one kind: this thread reads page n+1 and commits the export state of
    /// page n−1 while a second thread writes the files of page n. States are committed in
    /// page order, each after its page's files were written.
    fn pages(
        &mut self,
        side: Side,
        kind: Kind,
        since: Option<i64>,
        upto: i64,
        hook: &mut dyn FnMut(),
        counts: &mut Counts,
    ) -> Result<()> {
        let Run {
            store,
            employee,
            rewrite,
            recovering,
            files,
        } = self;
        let (employee, rewrite, recovering) = (*employee, *rewrite, *recovering);
        let limit = files.opts.page.max(1);
        std::thread::scope(|scope| {
            let (page_tx, page_rx) = mpsc::sync_channel::<Vec<Changed>>(1);
            let (done_tx, done_rx) = mpsc::sync_channel::<PageDone>(2);
            let writer = scope.spawn(move || {
                for page in page_rx {
                    let done = files.page(side, kind, &page, rewrite, recovering);
                    let failed = done.is_err();
                    if done_tx.send(done).is_err() || failed {
                        break;
                    }
                }
            });
            // A run of many pages commits their export state on a connection of its own,
            // on a third thread, while this one reads the next pages.
            let (state_tx, state_rx) = mpsc::sync_channel::<Vec<StateOp>>(2);
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
                    match store.changes(kind, employee, since, upto, cursor, limit) {
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
                            stater = Some(scope.spawn(move || -> Result<()> {
                                for ops in rx {
                                    commit_state(&mut *second, employee, &ops)?;
                                }
                                Ok(())
                            }));
                        }
                        Ok(None) => {}
                        Err(e) => result = Err(e),
                    }
                }
                // Keep one page in the writer while the next is read; wait for all at the end.
                while in_flight > usize::from(more) {
                    in_flight -= 1;
                    let done = done_rx.recv().unwrap_or_else(|_| {
                        Err(Error::Invalid("the export writer stopped".into()))
                    });
                    match done {
                        Ok((ops, c)) if result.is_ok() => {
                            counts.add(c);
                            result = match stater {
                                Some(_) => state_tx.send(ops).map_err(|_| {
                                    Error::Invalid("the export state thread stopped".into())
                                }),
                                None => commit_state(&mut **store, employee, &ops),
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
                return Err(Error::Invalid("the export writer panicked".into()));
            }
            if let Some(h) = stater {
                // Its own error explains a failed send above.
                let state = h.join().unwrap_or_else(|_| {
                    Err(Error::Invalid("the export state thread panicked".into()))
                });
                state?;
            }
            result
        })
    }

    /// Rewrites the items an ingest saw in this profile (for example to drop `!Update` from
    /// the profile's copy) that the change pages did not already write.
    fn dirty(&mut self, side: Side, kind: Kind, counts: &mut Counts) -> Result<()> {
        let keys = self.store.dirty_exports(self.employee, kind)?;
        if keys.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::new();
        for key in keys {
            let Some(record) = self.store.find(key)? else {
                ops.push(StateOp::Delete(key));
                continue;
            };
            let item = Item::from_record(&record);
            let status = item.si_status().map_or("", crate::model::SiStatus::as_str);
            let in_set = self.store.in_synced_set(key)?;
            if in_set || (kind == Kind::Si && status == "Closed") {
                // Not into a full sheet being written: the pages may have written it.
                if let Some(op) = self.files.write_item(side, &item, false)? {
                    ops.push(op);
                    counts.written += 1;
                }
            } else {
                ops.push(self.files.remove_item(&item)?);
                counts.removed += 1;
            }
        }
        commit_state(self.store, self.employee, &ops)
    }

    /// Rewrites `outlook/contacts.csv` or `tasks.csv`: the full current set, streamed.
    fn full_sheet(&mut self, side: Side) -> Result<()> {
        let files = &mut self.files;
        let path = files.layout.outlook.join(format!("{}.csv", side.name()));
        let file = AtomicFile::create(&path)?;
        let mut sink =
            Sink::new(file, side.sheet(), files.opts.encoding).map_err(|e| Error::io(&path, e))?;
        let mut errors = Vec::new();
        for &kind in side.kinds() {
            let codec = files.codec(side);
            let encoding = files.opts.encoding;
            let safe = files.opts.csv_safe;
            self.store.for_each_synced(kind, &mut |r| {
                let item = Item::from_record(&r);
                let mut row = codec.row(&item);
                if safe {
                    outlook_csv::neutralise(&mut row);
                }
                if codec.check(&row, encoding).is_empty() {
                    sink.row(&row).map_err(|e| Error::io(&path, e))?;
                } else {
                    errors.push(r.key);
                }
                Ok(())
            })?;
        }
        if !errors.is_empty() && files.errors.is_empty() {
            let keys: Vec<String> = errors.iter().take(10).map(Key::to_string).collect();
            files.errors.push(format!(
                "{}: {} items hold characters Windows-1252 cannot hold ({}); export with \
                 --csv-encoding utf-8",
                path.display(),
                errors.len(),
                keys.join(", ")
            ));
        }
        if files.errors.is_empty() {
            let f = sink.finish().map_err(|e| Error::io(&path, e))?;
            f.commit()?;
        }
        Ok(())
    }
}

/// Records in the export state what the profile now holds (one transaction). Not synced to
/// disk on its own: the run's marker stays until the stamps commit durably (which syncs
/// these commits too), and a run that finds the marker rewrites everything since the stamps
/// whatever the state says, so a state commit lost to a power failure costs only a rewrite.
fn commit_state(store: &mut dyn Store, employee: Key, ops: &[StateOp]) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let puts: Vec<(Key, &Exported)> = ops
        .iter()
        .filter_map(|op| match op {
            StateOp::Put(k, e) => Some((*k, e)),
            StateOp::Delete(_) => None,
        })
        .collect();
    store.write_unsynced(&mut |w| {
        // Each key appears once per page, so the order of puts and deletes is free.
        w.put_exported_many(employee, &puts)?;
        for op in ops {
            if let StateOp::Delete(k) = op {
                w.delete_exported(employee, *k)?;
            }
        }
        Ok(())
    })
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
    let layout = Layout::new(drop, &profile.name);
    layout.create()?;
    let _lock = layout.lock(&profile.name)?;
    // The stamps as they are now: another export may have moved them while this one waited.
    let current = store
        .profiles()?
        .into_iter()
        .find(|p| p.employee == profile.employee)
        .ok_or_else(|| Error::NotFound(format!("{} no longer syncs", profile.employee)))?;
    let profile = &current;
    let marker = layout.marker();
    let recovering = marker.exists();
    if recovering {
        // Temp files are left only by an interrupted run, which also leaves the marker;
        // scanning the folders only then keeps a no-change run independent of their size.
        for d in layout.output_dirs() {
            fsutil::remove_temp_files(d)?;
        }
    }
    if !recovering {
        fs::write(
            &marker,
            b"an export of this profile is running or was interrupted\n",
        )
        .map_err(|e| Error::io(&marker, e))?;
        fsutil::sync_dir(&layout.root)?;
    }
    let upto = store.clock()?;
    let run_id = clock::format_micros(upto).replace([':', '-'], "");
    let opts_dates = opts.dates.clone();
    let mut run = Run {
        store,
        employee: profile.employee,
        rewrite: recovering,
        recovering,
        files: Files {
            contacts_codec: Codec::new(Sheet::Contacts, opts_dates.clone()),
            tasks_codec: Codec::new(Sheet::Tasks, opts_dates),
            contacts_changes: LazySheet::new(
                layout.changes.join(format!("{run_id}-contacts.csv")),
                Sheet::Contacts,
            ),
            tasks_changes: LazySheet::new(
                layout.changes.join(format!("{run_id}-tasks.csv")),
                Sheet::Tasks,
            ),
            removals: LazySheet::new(
                layout.changes.join(format!("{run_id}-removals.csv")),
                Sheet::Removals,
            ),
            layout: layout.clone(),
            opts,
            errors: Vec::new(),
            contacts_full: None,
            tasks_full: None,
            written: 0,
            written_paths: Vec::new(),
            line: Vec::with_capacity(1024),
        },
    };

    let full = profile.contacts_stamp.is_none() || profile.tasks_stamp.is_none() || recovering;
    if opts.outputs.outlook {
        let sheet = |side: Side| {
            LazySheet::new(
                layout.outlook.join(format!("{}.csv", side.name())),
                side.sheet(),
            )
        };
        if recovering || profile.contacts_stamp.is_none() {
            run.files.contacts_full = Some(sheet(Side::Contacts));
        }
        if recovering || profile.tasks_stamp.is_none() {
            run.files.tasks_full = Some(sheet(Side::Tasks));
        }
    }
    run.rewrite = recovering || profile.contacts_stamp.is_none();
    let contacts = run.side(Side::Contacts, profile.contacts_stamp, upto, hook)?;
    run.rewrite = recovering || profile.tasks_stamp.is_none();
    let tasks = run.side(Side::Tasks, profile.tasks_stamp, upto, hook)?;

    let mut full_sheets = Vec::new();
    for (side, counts, side_full) in [
        (Side::Contacts, contacts, profile.contacts_stamp.is_none()),
        (Side::Tasks, tasks, profile.tasks_stamp.is_none()),
    ] {
        let sheet = layout.outlook.join(format!("{}.csv", side.name()));
        let state = if side_full || recovering || !sheet.exists() {
            FullSheet::Rewritten
        } else if !counts.changed() {
            FullSheet::Current
        } else if run.store.exported_count(
            profile.employee,
            side.kinds(),
            opts.full_sheet_limit + 1,
        )? <= opts.full_sheet_limit
        {
            FullSheet::Rewritten
        } else {
            FullSheet::Stale
        };
        let teed = match side {
            Side::Contacts => run.files.contacts_full.take(),
            Side::Tasks => run.files.tasks_full.take(),
        };
        if state == FullSheet::Rewritten && opts.outputs.outlook {
            // A full run wrote the set along with the changes; an empty set still gets its
            // header-only sheet.
            let written = match teed {
                Some(sheet) if run.files.errors.is_empty() => sheet.commit()?.is_some(),
                _ => false,
            };
            if !written {
                run.full_sheet(side)?;
            }
        }
        full_sheets.push(state);
    }
    if !run.files.errors.is_empty() {
        let n = run.files.errors.len();
        let mut msg = format!(
            "export of '{}' stopped: {n} value(s) cannot be written; nothing was lost, the \
             stamps did not move:",
            profile.name
        );
        for e in run.files.errors.iter().take(20) {
            msg.push_str("\n  ");
            msg.push_str(e);
        }
        if n > 20 {
            msg.push_str(&format!("\n  … and {} more", n - 20));
        }
        return Err(Error::Invalid(msg));
    }
    run.files.make_durable()?;
    let mut change_files = Vec::new();
    let Run { store, files, .. } = run;
    let Files {
        contacts_changes,
        tasks_changes,
        removals,
        ..
    } = files;
    for sheet in [contacts_changes, tasks_changes, removals] {
        change_files.extend(sheet.commit()?);
    }
    for d in layout.output_dirs() {
        fsutil::sync_dir(d)?;
    }
    let contacts_stamp = if contacts.changed() {
        Some(upto)
    } else {
        profile.contacts_stamp
    };
    let tasks_stamp = if tasks.changed() {
        Some(upto)
    } else {
        profile.tasks_stamp
    };
    if contacts_stamp != profile.contacts_stamp || tasks_stamp != profile.tasks_stamp {
        let employee = profile.employee;
        store.write(&mut |w| w.set_stamps(employee, contacts_stamp, tasks_stamp))?;
    }
    fsutil::remove_if_exists(&marker)?;
    Ok(Report {
        profile: profile.name.clone(),
        folder: layout.root.clone(),
        contacts,
        tasks,
        full,
        recovered: recovering,
        contacts_sheet: full_sheets[0],
        tasks_sheet: full_sheets[1],
        change_files,
        contacts_stamp: contacts_stamp.map(clock::format_micros),
        tasks_stamp: tasks_stamp.map(clock::format_micros),
    })
}
