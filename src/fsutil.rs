//! The file edge: atomic writes (temp file in the same folder, then rename), names that are
//! safe on Windows, macOS and Linux, and durability (fsync of folders, syncfs).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub mod sink;

/// The suffix of smsync's temp files; a run removes the ones an interrupted run left.
pub const TEMP_SUFFIX: &str = ".smsync-tmp";

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}{TEMP_SUFFIX}"))
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never a
/// part. Durability comes from [`sync_filesystem`] once a batch is written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    fs::write(&tmp, bytes).map_err(|e| create_error(path, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// As [`write_atomic`], the bytes written by `write` as a stream (through a buffer, to the
/// page cache), so that a large file is never held in memory whole.
pub fn write_atomic_with(
    path: &Path,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let f = File::create(&tmp).map_err(|e| create_error(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, f);
    let written = write(&mut out).and_then(|()| out.flush());
    drop(out);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The error of creating `path` (through its temp file): it names the file the caller asked
/// for, and a folder that does not exist plainly, as a usage error.
fn create_error(path: &Path, e: std::io::Error) -> Error {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() => {
            Error::invalid(format!(
                "{}: the folder {} does not exist; create it or name a file in another folder",
                path.display(),
                dir.display()
            ))
        }
        _ => Error::io(path, e),
    }
}

/// A file written as a stream and renamed into place by [`AtomicFile::commit`]; dropped
/// uncommitted, it leaves only a temp file that the next run removes.
///
/// A file written through the page cache has its write-back started as it grows
/// ([`start_writeback`] every [`WRITEBACK`] bytes), so that most of it is on its way to the
/// disk by the time it is synced, instead of all of it waiting for that sync (the kernel
/// starts on its own only when a tenth of the memory is dirty, or after half a minute).
/// Past [`STREAMED`] bytes the rest goes through a [`sink::FileSink`]: written on a thread
/// of its own, directly to the disk where the file system allows it.
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    out: Out,
    /// Bytes handed to `out`, and how far write-back was started.
    written: u64,
    written_back: u64,
}

enum Out {
    Buffered(BufWriter<File>),
    Streamed(sink::FileSink),
    /// Only while one becomes the other, or after a failed change.
    Gone,
}

/// The size from which an [`AtomicFile`] is written through a [`sink::FileSink`].
pub const STREAMED: u64 = 16 << 20;

/// A streamed file's write-back is started each time this many more bytes were written.
pub const WRITEBACK: u64 = 8 << 20;

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let tmp = temp_path(path);
        let f = File::create(&tmp).map_err(|e| create_error(path, e))?;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
            out: Out::Buffered(BufWriter::with_capacity(1 << 16, f)),
            written: 0,
            written_back: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn commit(mut self) -> Result<()> {
        let f = match std::mem::replace(&mut self.out, Out::Gone) {
            Out::Buffered(out) => out
                .into_inner()
                .map_err(|e| Error::io(&self.tmp, e.into_error()))?,
            Out::Streamed(sink) => sink.finish().map_err(|e| Error::io(&self.tmp, e))?,
            Out::Gone => return Err(Error::io(&self.tmp, gone())),
        };
        f.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }

    /// From here on the file is written through a [`sink::FileSink`].
    fn stream(&mut self) -> std::io::Result<()> {
        let Out::Buffered(out) = std::mem::replace(&mut self.out, Out::Gone) else {
            return Ok(());
        };
        let f = out.into_inner().map_err(|e| e.into_error())?;
        self.out = Out::Streamed(sink::FileSink::direct_from(f, &self.tmp, self.written)?);
        Ok(())
    }
}

fn gone() -> std::io::Error {
    std::io::Error::other("the file's writer failed earlier")
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let out = match &mut self.out {
            Out::Buffered(out) => out,
            Out::Streamed(sink) => {
                sink.write_all(buf)?;
                self.written += buf.len() as u64;
                return Ok(buf.len());
            }
            Out::Gone => return Err(gone()),
        };
        let n = out.write(buf)?;
        self.written += n as u64;
        if self.written >= self.written_back + WRITEBACK {
            // What the buffer still holds is not in the file yet.
            let end = self.written - out.buffer().len() as u64;
            start_writeback(out.get_ref(), self.written_back, end - self.written_back);
            self.written_back = end;
        }
        if self.written >= STREAMED {
            self.stream()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Out::Buffered(out) => out.flush(),
            // Written by the sink's thread; `commit` waits for it.
            Out::Streamed(_) => Ok(()),
            Out::Gone => Err(gone()),
        }
    }
}

/// Removes a file; `Ok(false)` when it was not there.
pub fn remove_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Removes the temp files an interrupted run left in `dir`.
pub fn remove_temp_files(dir: &Path) -> Result<usize> {
    let mut n = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
            remove_if_exists(&entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Renames `from` to `to` unless `to` exists: `Ok(false)` then, and nothing moved. One
/// system call on Linux (`renameat2` with `RENAME_NOREPLACE`); elsewhere a check, then the
/// rename.
pub fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
        };
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EEXIST) => return Ok(false),
            // A file system without RENAME_NOREPLACE: the portable way below.
            Some(libc::EINVAL) | Some(libc::ENOSYS) => {}
            _ => return Err(e),
        }
    }
    if fs::symlink_metadata(to).is_ok() {
        return Ok(false);
    }
    fs::rename(from, to).map(|()| true)
}

/// Flushes a folder's entries (new names, renames, removals) to disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Folder syncs made on a thread of their own, in the order asked, while the caller goes on:
/// an ingest renames its next batch of files into `processed/` while the folders of the last
/// batch are synced (waiting for each sync's journal commit took 2 of the 14.5 s of an
/// ingest of 100,000 .vcf files). The thread starts with the first sync asked (a dry run
/// asks none). [`DirSyncs::finish`] waits for every sync asked and returns the first
/// failure; dropped unfinished, it still waits for them.
#[derive(Default)]
pub struct DirSyncs {
    tx: Option<std::sync::mpsc::SyncSender<Vec<PathBuf>>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl DirSyncs {
    pub fn new() -> DirSyncs {
        DirSyncs::default()
    }

    /// Asks for `dirs` to be synced after everything asked before.
    pub fn sync(&mut self, dirs: Vec<PathBuf>) -> Result<()> {
        if self.thread.is_none() {
            self.start();
        }
        let dirs = match &self.tx {
            Some(tx) => match tx.send(dirs) {
                Ok(()) => return Ok(()),
                // The thread is gone (it panicked): the caller's thread does it.
                Err(std::sync::mpsc::SendError(dirs)) => dirs,
            },
            // No thread could be started: the caller's thread does it.
            None => dirs,
        };
        dirs.iter().try_for_each(|d| sync_dir(d))
    }

    fn start(&mut self) {
        // Two batches of room: a caller that renames faster than the disk syncs waits.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<PathBuf>>(2);
        let thread =
            std::thread::Builder::new()
                .name("dir-sync".into())
                .spawn(move || -> Result<()> {
                    let mut first = Ok(());
                    for dirs in rx {
                        for d in &dirs {
                            // A failure is reported once all were tried.
                            if let Err(e) = sync_dir(d)
                                && first.is_ok()
                            {
                                first = Err(e);
                            }
                        }
                    }
                    first
                });
        if let Ok(t) = thread {
            self.tx = Some(tx);
            self.thread = Some(t);
        }
    }

    /// Waits for every sync asked; the first failure, if any.
    pub fn finish(mut self) -> Result<()> {
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        drop(self.tx.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(Error::Other("the folder sync thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for DirSyncs {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// Starts writing `len` bytes of `file` from `from` back to the disk without waiting for
/// them (Linux; elsewhere the final sync does it all). Only a hint: a failure shows at
/// that sync.
///
/// The request is made on a thread of its own (`writeback_queue`): `sync_file_range`
/// waits when the disk's queue is full (the block layer's write-back throttling), and on
/// the caller's thread that wait stopped the export's whole pipeline while a database
/// checkpoint was being synced. A request the queue has no room for is dropped: the
/// kernel's own write-back and the final sync still write those bytes.
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, from: u64, len: u64) {
    let Some(queue) = writeback_queue() else {
        return sync_file_range(file, from, len);
    };
    // A descriptor of its own: the file may be closed (or renamed) before the request runs.
    if let Ok(f) = file.try_clone() {
        let _ = queue.try_send((f, from, len));
    }
}

#[cfg(target_os = "linux")]
fn sync_file_range(file: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor `file` owns.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            from as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// The write-back thread's queue, started on first use; `None` when no thread can be
/// started (then requests are made on the caller's thread).
#[cfg(target_os = "linux")]
fn writeback_queue() -> Option<&'static std::sync::mpsc::SyncSender<(File, u64, u64)>> {
    use std::sync::OnceLock;
    use std::sync::mpsc::{SyncSender, sync_channel};
    static QUEUE: OnceLock<Option<SyncSender<(File, u64, u64)>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            // Requests come every WRITEBACK bytes: 64 cover half a gigabyte of lag.
            let (tx, rx) = sync_channel::<(File, u64, u64)>(64);
            std::thread::Builder::new()
                .name("writeback".into())
                .spawn(move || {
                    for (f, from, len) in rx {
                        sync_file_range(&f, from, len);
                        #[cfg(test)]
                        tests::WRITEBACKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File, _from: u64, _len: u64) {}

/// Makes everything written on the file system that holds `dir` durable: one `syncfs` on
/// Linux instead of an fsync per file.
pub fn sync_filesystem(dir: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
        // SAFETY: syncfs takes a valid open descriptor, which `d` holds until it drops.
        if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
            return Err(Error::io(dir, std::io::Error::last_os_error()));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        sync_dir(dir)
    }
}

/// An exclusive lock held through an `flock` on a file that names the holder's pid. The
/// kernel releases it when the process ends, however it ends, so a lock file left by a
/// crash is simply locked again.
pub struct PidLock {
    _file: File,
    path: PathBuf,
}

impl PidLock {
    /// Takes the lock, or returns the pid written by the process that holds it.
    pub fn try_acquire(path: &Path) -> Result<std::result::Result<PidLock, String>> {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor `file` owns; released when `file` drops.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let holder = fs::read_to_string(path).unwrap_or_default();
                return Ok(Err(holder.trim().to_string()));
            }
        }
        file.set_len(0).map_err(|e| Error::io(path, e))?;
        // Not synced: the pid only names the holder to a waiting smsync, and the lock itself
        // (the flock) does not outlive the process, so a crash leaves nothing to keep.
        writeln!(file, "{}", std::process::id()).map_err(|e| Error::io(path, e))?;
        Ok(Ok(PidLock {
            _file: file,
            path: path.to_path_buf(),
        }))
    }

    /// How long a second smsync waits for a profile another one works on (the file lock,
    /// and PostgreSQL's advisory lock) before it gives up naming the holder: a minute, or
    /// `SMSYNC_LOCK_WAIT` seconds (0 gives up at once; a value that is not a number of
    /// seconds is ignored).
    pub fn wait() -> std::time::Duration {
        let secs = std::env::var("SMSYNC_LOCK_WAIT")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(60);
        std::time::Duration::from_secs(secs)
    }

    /// Takes the lock, waiting up to `wait` for another holder to finish.
    pub fn acquire(path: &Path, wait: std::time::Duration, what: &str) -> Result<PidLock> {
        let start = std::time::Instant::now();
        loop {
            match PidLock::try_acquire(path)? {
                Ok(lock) => return Ok(lock),
                Err(pid) if start.elapsed() >= wait => {
                    return Err(Error::Other(format!(
                        "{what}: another smsync (pid {pid}) has been working on it for {} s; \
                         try again when it is done (lock file {})",
                        wait.as_secs(),
                        path.display()
                    )));
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn reserved(stem: &str) -> bool {
    let base = stem.split('.').next().unwrap_or("");
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(base))
}

/// A file stem for an identifier (a UID): kept as is when it is made of letters, digits
/// and `_ . @ + -` (as vdirsyncer names files), otherwise every other byte becomes `%XX`.
/// Never a hidden, reserved (CON, NUL, …) or over-long name, never a path.
pub fn safe_stem(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"_.@+-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out.starts_with('.') || reserved(&out) {
        out.insert(0, '_');
    }
    if out.len() > 150 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        out.truncate(130);
        out.push_str(&format!("-{h:016x}"));
    }
    out
}

/// A readable folder name for a profile: characters Windows forbids become `_`.
pub fn safe_dir_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_control() || "<>:\"/\\|?*".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    while out.ends_with('.') || out.ends_with(' ') {
        out.pop();
    }
    if out.is_empty() || out.starts_with('.') || reserved(&out) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    /// Write-back requests the write-back thread carried out.
    #[cfg(target_os = "linux")]
    pub(super) static WRITEBACKS: std::sync::atomic::AtomicU64 =
        std::sync::atomic::AtomicU64::new(0);

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_file_starts_its_write_back_on_the_write_back_thread_and_is_whole() {
        use std::sync::atomic::Ordering;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("big.csv");
        let before = WRITEBACKS.load(Ordering::SeqCst);
        let mut f = AtomicFile::create(&path).unwrap();
        let line: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
        // Two requests through the page cache; the rest, past `STREAMED`, through the sink.
        assert_eq!(STREAMED, 2 * WRITEBACK);
        let lines = (2 * WRITEBACK as usize) / line.len() + 7;
        for _ in 0..lines {
            f.write_all(&line).unwrap();
        }
        // The temp file is renamed (and its descriptor closed) while requests may wait.
        f.commit().unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), lines * line.len());
        assert!(bytes.chunks(line.len()).all(|c| c == line.as_slice()));
        // Two requests were made; the thread carries them out on its own time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while WRITEBACKS.load(Ordering::SeqCst) < before + 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the write-back thread carried out {} requests",
                WRITEBACKS.load(Ordering::SeqCst) - before
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_file_past_the_streamed_size_is_whole_and_replaces_the_old_one_only_at_commit() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("contacts.csv");
        fs::write(&path, b"old").unwrap();
        // Pieces of odd sizes, so that none of the sink's or its blocks' edges falls on one.
        let piece = |i: usize| -> Vec<u8> { (0..(i % 4093) + 1).map(|j| (i + j) as u8).collect() };
        let write = |n: usize| {
            let mut f = AtomicFile::create(&path).unwrap();
            let mut want = Vec::new();
            let mut i = 0;
            while want.len() < n {
                let p = piece(i);
                f.write_all(&p).unwrap();
                want.extend_from_slice(&p);
                i += 1;
            }
            assert!(matches!(f.out, Out::Streamed(_)), "past {STREAMED} bytes");
            (f, want)
        };
        // Dropped uncommitted: the old file stays; its writing thread has stopped (the temp
        // file no longer grows).
        let (f, _) = write(STREAMED as usize + (5 << 20));
        drop(f);
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let tmp = temp_path(&path);
        let len = fs::metadata(&tmp).unwrap().len();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(fs::metadata(&tmp).unwrap().len(), len);
        let (f, want) = write(STREAMED as usize + (9 << 20) + 77);
        f.commit().unwrap();
        assert!(fs::read(&path).unwrap() == want, "the file as written");
        assert!(!tmp.exists());
    }

    #[test]
    fn folder_syncs_run_in_order_and_report_the_first_failure_once_all_were_tried() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        // Nothing asked (a dry run): no thread.
        let idle = DirSyncs::new();
        assert!(idle.thread.is_none());
        idle.finish().unwrap();
        let mut syncs = DirSyncs::new();
        syncs.sync(vec![a.clone(), b.clone()]).unwrap();
        assert!(syncs.thread.is_some(), "synced on a thread of its own");
        syncs.finish().unwrap();
        let mut syncs = DirSyncs::new();
        let gone = d.path().join("gone");
        syncs.sync(vec![a.clone(), gone.clone()]).unwrap();
        syncs.sync(vec![d.path().join("gone too")]).unwrap();
        syncs.sync(vec![b]).unwrap();
        let err = syncs.finish().unwrap_err().to_string();
        assert!(err.contains(&gone.display().to_string()), "{err}");
        assert!(!err.contains("gone too"), "{err}");
    }

    #[test]
    fn rename_no_replace_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        assert!(!rename_no_replace(&a, &b).unwrap());
        assert_eq!(fs::read(&a).unwrap(), b"a");
        assert_eq!(fs::read(&b).unwrap(), b"b");
        assert!(rename_no_replace(&a, &c).unwrap());
        assert!(!a.exists());
        assert_eq!(fs::read(&c).unwrap(), b"a");
    }

    use super::*;

    #[test]
    fn safe_stems() {
        assert_eq!(safe_stem("SM-L42"), "SM-L42");
        assert_eq!(safe_stem("abc@example.com"), "abc@example.com");
        assert_eq!(safe_stem("../../etc/passwd"), "_..%2F..%2Fetc%2Fpasswd");
        assert_eq!(safe_stem("a/b\\c:d"), "a%2Fb%5Cc%3Ad");
        assert_eq!(safe_stem("x\ny"), "x%0Ay");
        assert_eq!(safe_stem("CON"), "_CON");
        assert_eq!(safe_stem("con.ics"), "_con.ics");
        assert_eq!(safe_stem(""), "_");
        assert_eq!(safe_stem("Ü"), "%C3%9C");
        let long = safe_stem(&"a".repeat(500));
        assert!(long.len() <= 150);
        assert_ne!(long, safe_stem(&"a".repeat(501)));
    }

    #[test]
    fn safe_dir_names() {
        assert_eq!(safe_dir_name("Dana Whitfield"), "Dana Whitfield");
        assert_eq!(safe_dir_name("Zoë Bäcker"), "Zoë Bäcker");
        assert_eq!(safe_dir_name("a/b:c."), "a_b_c");
        assert_eq!(safe_dir_name("NUL"), "_NUL");
        assert_eq!(safe_dir_name(".."), "_");
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        let mut f = AtomicFile::create(&d.path().join("y.txt")).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        assert!(
            !d.path().join("y.txt").exists(),
            "uncommitted file appeared"
        );
        assert_eq!(remove_temp_files(d.path()).unwrap(), 1);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
