//! The PST output (`--outputs pst`): `<profile>/outlook/Service Master.pst`, one Outlook
//! data file that holds both sides' synced sets, written by [`crate::pst_write`].
//!
//! It is a whole-file output (see [`Output::whole_file`]): `put` and `remove` only note
//! that the file is due; the driver then streams both sides' synced sets through
//! [`Output::write_whole`] (contacts, then tasks, each in key order) when
//! [`super::plan::whole_file`] says so, into a temp file that [`Output::commit`] renames into
//! place. Memory holds the writer's B-tree entries and allocation bits, not the items.
//!
//! The round trip: smsync records what it wrote ([`Sig`]: size, modification time and a
//! hash of the first 4 KiB, in `outlook/.Service Master.pst.written`). A file found
//! different from that was changed by its user: [`adopt`] (run by an inbox ingest) moves it
//! into the inbox, so that it is ingested under the rules like any dropped PST and filed to
//! `processed/`; an export never overwrites it ([`examine`] says why it skips it). A file
//! that another program holds open (an `flock` it cannot take, Windows' share-deny open, or
//! a size or time that changes while smsync reads it) is left alone either way.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Layout;
use super::output::{BackgroundSource, Output, OutputKind, Put, Side, WholeSource, Written};
use crate::codec::item::Item;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::fsutil::sink::FileSink;
use crate::model::SiStatus;
use crate::pst_write::PstWriter;
use crate::pst_write::ndb::EntrySpill;

/// Items handed to the PST encoder at a time.
const BATCH: usize = 256;

/// The file's name in `outlook/`.
pub const FILE_NAME: &str = "Service Master.pst";

/// Where a profile's PST is.
pub fn path(layout: &Layout) -> PathBuf {
    layout.outlook.join(FILE_NAME)
}

/// Where smsync records what it wrote.
fn record_path(layout: &Layout) -> PathBuf {
    layout.outlook.join(format!(".{FILE_NAME}.written"))
}

/// What identifies the bytes smsync wrote: their size, the file's modification time and a
/// hash of the first 4 KiB (the header, which every change to a PST rewrites).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sig {
    pub len: u64,
    pub mtime_ns: i128,
    pub head: String,
}

impl Sig {
    fn of(path: &Path) -> std::io::Result<Sig> {
        let m = fs::metadata(path)?;
        let mut head = vec![0u8; 4096];
        let mut f = File::open(path)?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        head.truncate(n);
        Ok(Sig {
            len: m.len(),
            mtime_ns: mtime_ns(&m),
            head: hex(&Sha256::digest(&head)),
        })
    }

    fn text(&self) -> String {
        format!("{} {} {}\n", self.len, self.mtime_ns, self.head)
    }

    fn parse(s: &str) -> Option<Sig> {
        let mut it = s.split_whitespace();
        Some(Sig {
            len: it.next()?.parse().ok()?,
            mtime_ns: it.next()?.parse().ok()?,
            head: it.next()?.to_string(),
        })
    }
}

fn mtime_ns(m: &fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What smsync finds at the PST's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No file: the next export writes it.
    Absent,
    /// The file smsync wrote, unchanged.
    AsWritten,
    /// Changed since smsync wrote it (or not written by smsync): its user's edits.
    Edited,
    /// Another program holds it open; the reason.
    InUse(String),
}

/// Pure: what the file is, from what smsync recorded, what it finds now, and whether
/// another program holds it (`in_use`: the reason).
pub fn judge(recorded: Option<&Sig>, found: Option<&Sig>, in_use: Option<String>) -> Found {
    match (found, in_use) {
        (None, _) => Found::Absent,
        (Some(_), Some(why)) => Found::InUse(why),
        (Some(f), None) if recorded == Some(f) => Found::AsWritten,
        (Some(_), None) => Found::Edited,
    }
}

/// Why an export left the PST output out for a profile (the other outputs went on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Skipped {
    /// Another program (Outlook) holds the file open.
    InUse { file: PathBuf, why: String },
    /// The file was changed since smsync wrote it and not yet ingested.
    Edited { file: PathBuf },
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::InUse { file, why } => write!(
                f,
                "{} is in use ({why}); the PST was left alone and not rewritten. Close it in \
                 Outlook (File > Account Settings > Data Files, or right-click the \"Service \
                 Master\" folder > Close), then run smsync sync again",
                file.display()
            ),
            Skipped::Edited { file } => write!(
                f,
                "{} was changed since smsync wrote it and its edits are not ingested yet; the \
                 PST was left alone and not rewritten. Run smsync sync (or ingest), which \
                 applies it and writes a fresh one",
                file.display()
            ),
        }
    }
}

/// Whether another program holds `file` open: an exclusive `flock` that cannot be taken
/// (Windows: an open that denies sharing fails), or a size or time that changes while the
/// whole file is read (`read_through`, for an edited file: its user may still be saving).
fn in_use(path: &Path, read_through: bool) -> std::io::Result<Option<String>> {
    let before = fs::metadata(path)?;
    let file = open_exclusive(path)?;
    let Some(mut file) = file else {
        return Ok(Some("another program holds a lock on it".into()));
    };
    if read_through {
        let mut buf = vec![0u8; 1 << 20];
        while file.read(&mut buf)? > 0 {}
    }
    let after = fs::metadata(path)?;
    if before.len() != after.len() || mtime_ns(&before) != mtime_ns(&after) {
        return Ok(Some("it changed while smsync read it".into()));
    }
    Ok(None)
}

/// Opens a file with an exclusive lock; `None` when another holder refuses it. The lock is
/// released when the file closes.
#[cfg(unix)]
fn open_exclusive(path: &Path) -> std::io::Result<Option<File>> {
    use std::os::fd::AsRawFd;
    let f = File::open(path)?;
    // SAFETY: flock on a descriptor `f` owns; released when `f` drops.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(f))
}

#[cfg(windows)]
fn open_exclusive(path: &Path) -> std::io::Result<Option<File>> {
    use std::os::windows::fs::OpenOptionsExt;
    const ERROR_SHARING_VIOLATION: i32 = 32;
    match fs::OpenOptions::new().read(true).share_mode(0).open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.raw_os_error() == Some(ERROR_SHARING_VIOLATION) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(any(unix, windows)))]
fn open_exclusive(path: &Path) -> std::io::Result<Option<File>> {
    File::open(path).map(Some)
}

/// What is at a profile's PST place now (see [`judge`]). An edited file is read through
/// once, to see that no program is still writing it.
pub fn examine(layout: &Layout) -> Result<Found> {
    let file = path(layout);
    let found = match Sig::of(&file) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&file, e)),
    };
    let recorded = fs::read_to_string(record_path(layout))
        .ok()
        .and_then(|s| Sig::parse(&s));
    let Some(sig) = found else {
        return Ok(Found::Absent);
    };
    let edited = recorded.as_ref() != Some(&sig);
    let busy = match in_use(&file, edited) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Absent),
        Err(e) => return Err(Error::io(&file, e)),
    };
    Ok(judge(recorded.as_ref(), Some(&sig), busy))
}

/// Why an export must leave the PST alone now, if it must.
pub fn skip_reason(layout: &Layout) -> Result<Option<Skipped>> {
    let file = path(layout);
    Ok(match examine(layout)? {
        Found::Absent | Found::AsWritten => None,
        Found::Edited => Some(Skipped::Edited { file }),
        Found::InUse(why) => Some(Skipped::InUse { file, why }),
    })
}

/// What an inbox ingest did with the profile's PST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "pst")]
pub enum Adopted {
    /// Edited since smsync wrote it: moved into the inbox (`to`) to be ingested.
    Moved { from: PathBuf, to: PathBuf },
    /// Edited, but in use: left alone.
    InUse { file: PathBuf, why: String },
}

impl std::fmt::Display for Adopted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Adopted::Moved { from, to } => write!(
                f,
                "{} was changed since smsync wrote it: moved to {} and ingested",
                from.display(),
                to.display()
            ),
            Adopted::InUse { file, why } => write!(
                f,
                "{} is in use ({why}): left alone, not ingested and not rewritten; close it \
                 in Outlook, then run smsync sync again",
                file.display()
            ),
        }
    }
}

/// Moves the profile's PST into the inbox when its user changed it (and no program holds
/// it), under a dated name (`Service Master <time>.pst`), so that the ingest that follows
/// applies it under the rules and files it to `processed/`. Also says when an edited file
/// is in use. The caller holds the profile's lock.
pub fn adopt(layout: &Layout) -> Result<Option<Adopted>> {
    let from = path(layout);
    match examine(layout)? {
        Found::Absent | Found::AsWritten => Ok(None),
        Found::InUse(why) => Ok(Some(Adopted::InUse { file: from, why })),
        Found::Edited => {
            let stamp = chrono::Local::now().format("%Y-%m-%d %H%M%S");
            let stem = FILE_NAME.trim_end_matches(".pst");
            fs::create_dir_all(&layout.inbox).map_err(|e| Error::io(&layout.inbox, e))?;
            let mut to = layout.inbox.join(format!("{stem} {stamp}.pst"));
            let mut n = 1;
            while !fsutil::rename_no_replace(&from, &to).map_err(|e| Error::io(&from, e))? {
                n += 1;
                to = layout.inbox.join(format!("{stem} {stamp} {n}.pst"));
            }
            fsutil::remove_if_exists(&record_path(layout))?;
            fsutil::sync_dir(&layout.inbox)?;
            fsutil::sync_dir(&layout.outlook)?;
            Ok(Some(Adopted::Moved { from, to }))
        }
    }
}

/// The PST output of a run.
pub struct Pst {
    layout: Layout,
    /// The temp file `write_whole` wrote, renamed into place at `commit`.
    written: Option<PathBuf>,
    /// The file being written on a thread of its own ([`Output::start_whole`]).
    background: Option<Background>,
}

/// A PST written on a thread of its own while the run reads its pages.
struct Background {
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    /// Set when the run no longer wants the file (it ends without `write_whole`).
    cancel: Arc<AtomicBool>,
    /// The temp file, removed unless the run took it.
    tmp: Option<PathBuf>,
}

impl Background {
    fn join(&mut self) -> Result<()> {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::Other("the PST writer panicked".into())),
            None => Ok(()),
        }
    }

    /// Waits for the file; the run takes it.
    fn finish(mut self) -> Result<()> {
        let result = self.join();
        self.tmp = None;
        result
    }
}

impl Drop for Background {
    /// A run that ends without `write_whole` stops the thread and removes its file.
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        let _ = self.join();
        if let Some(tmp) = &self.tmp {
            let _ = fs::remove_file(tmp);
        }
    }
}

impl Pst {
    pub fn new(layout: Layout) -> Pst {
        Pst {
            layout,
            written: None,
            background: None,
        }
    }

    fn temp(&self) -> PathBuf {
        self.layout
            .outlook
            .join(format!(".{FILE_NAME}{}", fsutil::TEMP_SUFFIX))
    }
}

/// Writes the PST of `set` to `tmp` (and syncs it): the records are read and made items on
/// this thread while a second encodes them and a third writes their bytes ([`FileSink`]).
/// Stops with an error once `cancel` is set. A failed file is removed.
fn write_file(tmp: &Path, set: &mut WholeSource, cancel: &AtomicBool) -> Result<()> {
    let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let io = |e| Error::io(tmp, e);
    // The writer's B-tree entries wait in the file's folder, not in memory.
    let spill = EntrySpill::beside(tmp);
    let result = std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Vec<Item>>(4);
        let encoder = std::thread::Builder::new()
            .name("pst-encode".into())
            .spawn_scoped(scope, move || -> std::io::Result<File> {
                let mut w = PstWriter::new(FileSink::direct(file, tmp)?, spill)?;
                for batch in rx {
                    for item in &batch {
                        w.add(item)?;
                    }
                }
                let (out, _) = w.finish()?;
                out.finish()
            })
            .expect("a thread to encode the PST");
        let mut batch = Vec::with_capacity(BATCH);
        let read = set(&mut |r| {
            batch.push(Item::from_owned(r));
            if batch.len() == BATCH {
                if cancel.load(Ordering::Relaxed) {
                    return Err(Error::Other("the PST is no longer wanted".into()));
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                // A send fails only when the encoder stopped; its error is the one told.
                tx.send(full)
                    .map_err(|_| Error::Other("the PST encoder stopped".into()))?;
            }
            Ok(())
        });
        if read.is_ok() && !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        let encoded = encoder
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the PST encoder panicked")));
        match (read, encoded) {
            (Ok(()), Ok(f)) => f.sync_all().map_err(io),
            (_, Err(e)) => Err(io(e)),
            (Err(e), Ok(_)) => Err(e),
        }
    });
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

impl Output for Pst {
    fn kind(&self) -> OutputKind {
        OutputKind::Pst
    }

    /// The item goes into the next file; the state then records that the PST holds it. A
    /// closed SI (which goes out once more as Completed to the other outputs) is not in the
    /// synced set the file is written from: the PST no longer holds it.
    fn put(&mut self, _w: &mut Written, _side: Side, item: &Item, _in_set: bool) -> Result<Put> {
        if item.si_status() == Some(SiStatus::Closed) {
            return Ok(Put::LeftOut);
        }
        Ok(Put::Done)
    }

    /// The item is left out of the next file.
    fn remove(&mut self, _item: &Item) -> Result<Put> {
        Ok(Put::Done)
    }

    fn whole_file(&self) -> Option<bool> {
        Some(path(&self.layout).exists())
    }

    /// The records are read and made items on this thread while a second encodes them
    /// into the PST and a third writes its bytes ([`FileSink`]); or the file started by
    /// [`Output::start_whole`] is waited for.
    fn write_whole(&mut self, set: &mut WholeSource) -> Result<()> {
        let tmp = self.temp();
        match self.background.take() {
            Some(b) => b.finish()?,
            None => write_file(&tmp, set, &AtomicBool::new(false))?,
        }
        self.written = Some(tmp);
        Ok(())
    }

    /// The file is written from `set` on a thread of its own; `write_whole` waits for it.
    fn start_whole(&mut self, set: BackgroundSource) {
        let tmp = self.temp();
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancel);
        let path = tmp.clone();
        let thread = std::thread::Builder::new()
            .name("pst-read".into())
            .spawn(move || {
                let mut set = Some(set);
                write_file(
                    &tmp,
                    &mut |f| match set.take() {
                        Some(set) => set(f),
                        None => Ok(()),
                    },
                    &stop,
                )
            })
            .expect("a thread to write the PST");
        self.background = Some(Background {
            thread: Some(thread),
            cancel,
            tmp: Some(path),
        });
    }

    fn commit(self: Box<Self>) -> Result<Vec<PathBuf>> {
        let Some(tmp) = self.written else {
            return Ok(Vec::new());
        };
        let to = path(&self.layout);
        // Outlook may have saved the file while the new one was written: look again just
        // before replacing it, and never replace a file with edits or one in use. The run
        // fails without moving its stamps, so the next sync ingests the edits first.
        if let Some(why) = skip_reason(&self.layout)? {
            let _ = fs::remove_file(&tmp);
            return Err(Error::Other(format!(
                "the PST changed during the export: {why}"
            )));
        }
        fs::rename(&tmp, &to).map_err(|e| Error::io(&to, e))?;
        let sig = Sig::of(&to).map_err(|e| Error::io(&to, e))?;
        fsutil::write_atomic(&record_path(&self.layout), sig.text().as_bytes())?;
        Ok(vec![to])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_tells_absent_as_written_edited_and_in_use_apart() {
        let s = |len, head: &str| Sig {
            len,
            mtime_ns: 7,
            head: head.into(),
        };
        let wrote = s(100, "ab");
        assert_eq!(judge(Some(&wrote), None, None), Found::Absent);
        assert_eq!(judge(Some(&wrote), Some(&wrote), None), Found::AsWritten);
        assert_eq!(
            judge(Some(&wrote), Some(&s(101, "ab")), None),
            Found::Edited
        );
        assert_eq!(
            judge(Some(&wrote), Some(&s(100, "cd")), None),
            Found::Edited
        );
        let later = Sig {
            mtime_ns: 8,
            ..wrote.clone()
        };
        assert_eq!(judge(Some(&wrote), Some(&later), None), Found::Edited);
        // A file smsync has no record of is its user's.
        assert_eq!(judge(None, Some(&wrote), None), Found::Edited);
        assert_eq!(
            judge(Some(&wrote), Some(&wrote), Some("locked".into())),
            Found::InUse("locked".into())
        );
    }

    /// Contacts and tasks for a PST: `n` users and `n / 10` SIs.
    fn records(n: i64) -> Vec<crate::model::Record> {
        use crate::model::{Key, Kind, Record, Value};
        let make = |kind: Kind, id: i64, set: &[(&str, Value)]| {
            let defs = crate::fields::of(kind);
            let mut values = vec![Value::Null; defs.len()];
            for (name, v) in set {
                values[crate::fields::index(kind, name).unwrap()] = v.clone();
            }
            Record {
                key: Key::new(kind, id),
                updated_at: 1_700_000_000_000_000 + id,
                values,
                labels: Vec::new(),
            }
        };
        let text = |s: String| Value::Text(s);
        let mut out: Vec<Record> = (1..=n)
            .map(|i| {
                make(
                    Kind::User,
                    i,
                    &[
                        ("first_name", text(format!("Ann {i}"))),
                        ("last_name", text("Lee".into())),
                        ("email", text(format!("ann{i}@example.com"))),
                    ],
                )
            })
            .collect();
        out.extend((1..=n / 10).map(|i| {
            make(
                Kind::Si,
                1000 + i,
                &[
                    ("description", text(format!("Fix {i}"))),
                    ("status", text("In Progress".into())),
                ],
            )
        }));
        out
    }

    #[test]
    fn a_pst_started_before_the_pages_is_the_one_written_after_them_and_an_abandoned_one_is_removed()
     {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "P");
        layout.create().unwrap();
        let mut after = Pst::new(layout.clone());
        after
            .write_whole(&mut |f| records(700).into_iter().try_for_each(&mut *f))
            .unwrap();
        let written = fs::read(after.temp()).unwrap();
        fs::remove_file(after.temp()).unwrap();

        let mut before = Pst::new(layout.clone());
        before.start_whole(Box::new(|f| records(700).into_iter().try_for_each(f)));
        before
            .write_whole(&mut |_| panic!("the set is not read again"))
            .unwrap();
        assert_eq!(fs::read(before.temp()).unwrap(), written);
        fs::remove_file(before.temp()).unwrap();

        // A run that fails before the whole file is written leaves no temp file.
        let mut abandoned = Pst::new(layout.clone());
        abandoned.start_whole(Box::new(|f| records(5000).into_iter().try_for_each(f)));
        let tmp = abandoned.temp();
        drop(abandoned);
        assert!(!tmp.exists());
    }

    #[test]
    fn a_sig_reads_back_from_its_text() {
        let s = Sig {
            len: 271_360,
            mtime_ns: 1_773_500_966_123_456_789,
            head: "00ff".into(),
        };
        assert_eq!(Sig::parse(&s.text()), Some(s));
        assert_eq!(Sig::parse("12 x"), None);
    }
}
