//! Where a large file's bytes go (the PST, a big CSV sheet through
//! [`super::AtomicFile`]): a file written by a second thread, so that encoding and the file
//! system work at the same time.
//!
//! [`FileSink`] is a `Write + Seek` that fills 512 KiB buffers and hands each to a thread that
//! writes it at its offset. A few buffers are in flight at a time: memory stays a few MiB
//! whatever the file's size. A seek does not cut the buffer: bytes written inside it replace
//! what it holds, and bytes written before it go to the thread on their own.
//!
//! How the thread writes:
//! - **Direct** ([`FileSink::direct`], Linux, where the file system takes `O_DIRECT`): the
//!   bytes are gathered in aligned 2 MiB blocks, and a block is written from its memory
//!   straight to the disk once the file has grown [`DIRECT_LAG`] past it
//!   ([`FileSink::direct_from`], for a caller that never seeks back: once it is full). A
//!   file of hundreds of MB
//!   that smsync does not read again is then not copied into the page cache (which cost
//!   as much CPU as encoding a PST on the machines measured) and does not push out what the
//!   cache holds. A write shortly behind the front (the writer's map pages) lands in a block
//!   still held; one further back, and the file's last partial block, go through the page
//!   cache, as does everything when the file system refuses `O_DIRECT`.
//! - **Buffered** ([`FileSink::new`], and every other system): `pwrite` through the page
//!   cache, with the write-back started [`LAG`] behind what was written (`sync_file_range`),
//!   so that the data is mostly on its way to the disk when the caller syncs the file at
//!   the end, and so that a write shortly behind the front reaches the page cache before
//!   the disk does and is written with its neighbours, not once more at the final sync.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::{WRITEBACK, start_writeback};

/// The size of one buffer.
const CHUNK: usize = 512 << 10;
/// Buffers queued for the writing thread.
const IN_FLIGHT: usize = 2;
/// How far behind the written bytes write-back is started.
pub const LAG: u64 = 4 << 20;

/// A file written on a second thread (see the module's doc).
pub struct FileSink {
    /// The buffer being filled and the offset its first byte goes to.
    buf: Vec<u8>,
    at: u64,
    /// Where the next byte written goes.
    pos: u64,
    tx: Option<SyncSender<(u64, Vec<u8>)>>,
    /// Emptied buffers coming back, to be filled again.
    free: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<(File, u64)>>>,
}

impl FileSink {
    /// Writes to `file` from its start, through the page cache. (An error: no thread could
    /// be started.)
    pub fn new(file: File) -> io::Result<FileSink> {
        FileSink::start(file, None, 0)
    }

    /// Writes to `file`, just created at `path`, from its start: directly to the disk where
    /// the file system allows it (see the module's doc), else as [`FileSink::new`] does.
    pub fn direct(file: File, path: &std::path::Path) -> io::Result<FileSink> {
        let direct = open_direct(&file, path).map(|d| (d, DIRECT_LAG));
        FileSink::start(file, direct, 0)
    }

    /// Writes on into `file`, created at `path`, which already holds `pos` bytes written
    /// through the page cache: as [`FileSink::direct`], from `pos` on, for a caller that
    /// never seeks: a block is written as soon as it is full.
    pub fn direct_from(file: File, path: &std::path::Path, pos: u64) -> io::Result<FileSink> {
        let direct = open_direct(&file, path).map(|d| (d, 0));
        FileSink::start(file, direct, pos)
    }

    fn start(file: File, direct: Option<(File, u64)>, pos: u64) -> io::Result<FileSink> {
        let (tx, rx) = sync_channel::<(u64, Vec<u8>)>(IN_FLIGHT);
        let (free_tx, free) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let thread = std::thread::Builder::new()
            .name("file-write".into())
            .spawn(move || match direct {
                Some((d, lag)) => {
                    let mut w = Direct::new(file, d, pos, lag);
                    receive(rx, free_tx, &mut |at, bytes| w.write(at, bytes))?;
                    w.finish()
                }
                None => buffered(file, rx, free_tx).map(|f| (f, 0)),
            })?;
        Ok(FileSink {
            buf: Vec::with_capacity(CHUNK),
            at: pos,
            pos,
            tx: Some(tx),
            free,
            thread: Some(thread),
        })
    }

    /// Sends the buffer to the writing thread.
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        let len = full.len() as u64;
        self.hand_over(self.at, full)?;
        self.at += len;
        Ok(())
    }

    fn hand_over(&mut self, at: u64, bytes: Vec<u8>) -> io::Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send((at, bytes)));
        if sent.is_none_or(|r| r.is_err()) {
            // The thread stopped on an error: `finish` reports it.
            return Err(self.stopped());
        }
        Ok(())
    }

    fn stopped(&mut self) -> io::Error {
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("the writing thread stopped"),
        }
    }

    /// Writes what is buffered and waits for the thread; the file (not yet synced).
    pub fn finish(self) -> io::Result<File> {
        self.finish_counted().map(|(f, _)| f)
    }

    /// As [`FileSink::finish`], with the number of bytes written directly to the disk.
    pub fn finish_counted(mut self) -> io::Result<(File, u64)> {
        self.send()?;
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the writing thread panicked")),
            // A write already returned the thread's error.
            None => Err(io::Error::other(
                "the writing thread stopped on an earlier error",
            )),
        }
    }
}

/// The writing thread's loop: each buffer to `write` at its offset, then back to be filled.
fn receive(
    rx: Receiver<(u64, Vec<u8>)>,
    free: SyncSender<Vec<u8>>,
    write: &mut dyn FnMut(u64, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    for (at, mut buf) in rx {
        write(at, &buf)?;
        buf.clear();
        let _ = free.try_send(buf);
    }
    Ok(())
}

/// The writing thread through the page cache: write-back started as the file grows.
fn buffered(
    file: File,
    rx: Receiver<(u64, Vec<u8>)>,
    free: SyncSender<Vec<u8>>,
) -> io::Result<File> {
    // Write-back is started for the bytes from `from` on as the file grows; the few pages
    // written back at the end (the maps and the header) are left to the final sync.
    let (mut from, mut front) = (0u64, 0u64);
    receive(rx, free, &mut |at, bytes| {
        write_at(&file, bytes, at)?;
        front = front.max(at + bytes.len() as u64);
        let end = front.saturating_sub(LAG);
        if end >= from + WRITEBACK {
            start_writeback(&file, from, end - from);
            from = end;
        }
        Ok(())
    })?;
    Ok(file)
}

/// The size of a block written directly, and the alignment of its offset and memory.
const BLOCK: usize = 2 << 20;
const ALIGN: usize = 4096;
/// How far behind the written bytes a block is written directly: past the writer's map
/// pages, which come within an AMap range (248 KiB) of the front.
pub const DIRECT_LAG: u64 = 2 << 20;

/// `file`, at `path`, opened a second time for direct writes, where the system has them
/// (and `path` is still that file).
#[cfg(target_os = "linux")]
fn open_direct(file: &File, path: &std::path::Path) -> Option<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let d = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()?;
    let (a, b) = (file.metadata().ok()?, d.metadata().ok()?);
    (a.dev() == b.dev() && a.ino() == b.ino()).then_some(d)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_file: &File, _path: &std::path::Path) -> Option<File> {
    None
}

/// [`BLOCK`] bytes aligned to [`ALIGN`], zeroed when made: a part never written stays zero,
/// as a hole in the file reads.
struct Aligned(std::ptr::NonNull<u8>);

// SAFETY: the memory is owned by the value alone.
unsafe impl Send for Aligned {}

impl Aligned {
    fn layout() -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(BLOCK, ALIGN).expect("a valid layout")
    }

    fn new() -> Aligned {
        // SAFETY: the layout's size is not zero.
        let p = unsafe { std::alloc::alloc_zeroed(Aligned::layout()) };
        match std::ptr::NonNull::new(p) {
            Some(p) => Aligned(p),
            None => std::alloc::handle_alloc_error(Aligned::layout()),
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `BLOCK` bytes, allocated (and initialised) by `new`, owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_ptr(), BLOCK) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated by `new` with the same layout.
        unsafe { std::alloc::dealloc(self.0.as_ptr(), Aligned::layout()) }
    }
}

/// The writing thread's direct writes (see the module's doc). Offsets below `low` are no
/// longer gathered in blocks: they were written directly, or never belonged to a block.
struct Direct {
    file: File,
    direct: Option<File>,
    /// Blocks being filled, by their offset (a multiple of [`BLOCK`]), lowest first.
    held: std::collections::VecDeque<(u64, Aligned)>,
    spare: Vec<Aligned>,
    low: u64,
    /// The end of the furthest byte written.
    front: u64,
    lag: u64,
    written: u64,
}

impl Direct {
    /// Direct writes from the first whole block at or after `from` (what comes before it
    /// goes through the page cache, as the bytes before `from` did); a block is written once
    /// the file has grown `lag` bytes past it.
    fn new(file: File, direct: File, from: u64, lag: u64) -> Direct {
        Direct {
            lag,
            file,
            direct: Some(direct),
            held: std::collections::VecDeque::new(),
            spare: Vec::new(),
            low: from.next_multiple_of(BLOCK as u64),
            front: 0,
            written: 0,
        }
    }

    fn write(&mut self, mut at: u64, mut data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.front = self.front.max(at + data.len() as u64);
        if at < self.low {
            let n = (self.low - at).min(data.len() as u64) as usize;
            write_at(&self.file, &data[..n], at)?;
            at += n as u64;
            data = &data[n..];
        }
        while !data.is_empty() {
            let start = at - at % BLOCK as u64;
            let i = (at - start) as usize;
            let n = (BLOCK - i).min(data.len());
            self.block(start)[i..i + n].copy_from_slice(&data[..n]);
            at += n as u64;
            data = &data[n..];
        }
        // Blocks the file has grown `lag` past are written.
        while let Some(&(start, _)) = self.held.front() {
            if start + BLOCK as u64 + self.lag > self.front {
                break;
            }
            let (start, mut block) = self.held.pop_front().expect("a block");
            self.put(start, &mut block, BLOCK)?;
            self.low = start + BLOCK as u64;
            self.spare.push(block);
        }
        Ok(())
    }

    /// The held block at `start` (not below `low`), made if there is none.
    fn block(&mut self, start: u64) -> &mut [u8] {
        let i = self.held.partition_point(|(s, _)| *s < start);
        if self.held.get(i).is_none_or(|(s, _)| *s != start) {
            let b = match self.spare.pop() {
                Some(mut b) => {
                    b.bytes().fill(0);
                    b
                }
                None => Aligned::new(),
            };
            self.held.insert(i, (start, b));
        }
        self.held[i].1.bytes()
    }

    /// Writes the first `len` bytes of a block: directly what is a whole number of pages,
    /// through the page cache the rest (the file's end) and all of it once the file system
    /// refused a direct write.
    fn put(&mut self, start: u64, block: &mut Aligned, len: usize) -> io::Result<()> {
        let bytes = &block.bytes()[..len];
        let whole = len - len % ALIGN;
        let mut done = 0;
        if whole > 0
            && let Some(d) = &self.direct
        {
            match write_at(d, &bytes[..whole], start) {
                Ok(()) => {
                    done = whole;
                    self.written += whole as u64;
                }
                // `EINVAL`, `EOPNOTSUPP`: the file system takes the flag but not these
                // writes; the rest goes through the page cache.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                    ) =>
                {
                    self.direct = None
                }
                Err(e) => return Err(e),
            }
        }
        write_at(&self.file, &bytes[done..], start + done as u64)
    }

    /// Writes the blocks still held, up to the end of the file.
    fn finish(mut self) -> io::Result<(File, u64)> {
        while let Some((start, mut block)) = self.held.pop_front() {
            let len = (self.front - start).min(BLOCK as u64) as usize;
            self.put(start, &mut block, len)?;
        }
        Ok((self.file, self.written))
    }
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, at)
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_write(buf, at)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        at += n as u64;
    }
    Ok(())
}

impl Drop for FileSink {
    /// A sink dropped unfinished (its writer failed) waits for its thread, so that no write
    /// lands in the file after the caller has moved on (and, say, created it again).
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Write for FileSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        // Nothing written moves nothing (a position past the end does not grow the file).
        if data.is_empty() {
            return Ok(());
        }
        let end = self.at + self.buf.len() as u64;
        if self.pos > end {
            // Past the buffer: it goes, and a new one starts here.
            self.send()?;
            self.at = self.pos;
        } else if self.pos < end {
            if self.pos < self.at {
                // Before the buffer: those bytes go on their own.
                let n = (self.at - self.pos).min(data.len() as u64) as usize;
                self.hand_over(self.pos, data[..n].to_vec())?;
                self.pos += n as u64;
                data = &data[n..];
                if data.is_empty() {
                    return Ok(());
                }
            }
            // Inside the buffer: they replace what it holds.
            let i = (self.pos - self.at) as usize;
            let n = (self.buf.len() - i).min(data.len());
            self.buf[i..i + n].copy_from_slice(&data[..n]);
            self.pos += n as u64;
            data = &data[n..];
            if data.is_empty() {
                return Ok(());
            }
        }
        self.pos += data.len() as u64;
        while !data.is_empty() {
            let room = CHUNK - self.buf.len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == CHUNK {
                self.send()?;
            }
        }
        Ok(())
    }

    /// Buffers are written by the thread; [`FileSink::finish`] waits for them.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for FileSink {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let to = match pos {
            SeekFrom::Start(n) => n,
            SeekFrom::Current(d) => self
                .pos
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?,
            SeekFrom::End(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a seek from the end of a file being written",
                ));
            }
        };
        self.pos = to;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn the_writing_threads_error_is_told_once_and_finish_says_it_came_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap();
        // Read only: every write of the thread fails.
        let mut s = FileSink::new(File::open(&path).unwrap()).unwrap();
        let chunk = vec![7u8; CHUNK];
        let e = (0..4 * IN_FLIGHT + 4)
            .find_map(|_| s.write_all(&chunk).err())
            .expect("the thread's error comes back to a write");
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
        let later = s.finish().unwrap_err().to_string();
        assert!(later.contains("earlier error"), "{later}");
    }

    #[test]
    fn writes_in_order_and_after_seeks_land_where_they_belong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut s = FileSink::new(File::create(&path).unwrap()).unwrap();
        let big: Vec<u8> = (0..3 * CHUNK + 123).map(|i| (i % 253) as u8).collect();
        s.write_all(&big).unwrap();
        let mut want = big.clone();
        // Long sent: on its own.
        s.seek(SeekFrom::Start(10)).unwrap();
        s.write_all(b"abc").unwrap();
        want[10..13].copy_from_slice(b"abc");
        s.seek(SeekFrom::Start(CHUNK as u64 - 1)).unwrap();
        s.write_all(b"xy").unwrap();
        want[CHUNK - 1..CHUNK + 1].copy_from_slice(b"xy");
        // Across the start of the buffer, inside it and on past its end.
        let start = 3 * CHUNK - 2;
        s.seek(SeekFrom::Start(start as u64)).unwrap();
        let across: Vec<u8> = (0..200).map(|i| 255 - i as u8).collect();
        s.write_all(&across).unwrap();
        want.truncate(start);
        want.extend_from_slice(&across);
        // Inside the buffer only.
        s.seek(SeekFrom::Start(3 * CHUNK as u64 + 5)).unwrap();
        s.write_all(b"in").unwrap();
        want[3 * CHUNK + 5..3 * CHUNK + 7].copy_from_slice(b"in");
        // Back to the end, on, then past a gap the file leaves as zeros.
        s.seek(SeekFrom::Start(want.len() as u64)).unwrap();
        s.write_all(b"tail").unwrap();
        want.extend_from_slice(b"tail");
        assert_eq!(s.seek(SeekFrom::Current(7)).unwrap(), want.len() as u64 + 7);
        s.write_all(b"end").unwrap();
        want.extend_from_slice(&[0; 7]);
        want.extend_from_slice(b"end");
        s.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    #[test]
    fn a_direct_write_the_kernel_refuses_and_the_rest_of_the_file_go_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let Some(direct) = open_direct(&file, &path) else {
            // No direct writes here at all: nothing to refuse.
            return;
        };
        let mut d = Direct::new(file, direct, 0, 0);
        // An offset that is no multiple of a sector: the kernel refuses it (EINVAL).
        let mut refused = Aligned::new();
        refused.bytes()[..5].copy_from_slice(b"hello");
        d.put(100, &mut refused, ALIGN).unwrap();
        assert!(d.direct.is_none(), "no more direct writes");
        // Whole blocks now go through the page cache too.
        let block: Vec<u8> = (0..BLOCK + 10).map(|i| (i % 241) as u8).collect();
        d.write(BLOCK as u64, &block).unwrap();
        let (_, direct) = d.finish().unwrap();
        assert_eq!(direct, 0);
        let mut want = vec![0u8; BLOCK];
        want[100..100 + ALIGN].copy_from_slice(&refused.bytes()[..ALIGN]);
        want.extend_from_slice(&block);
        assert!(
            std::fs::read(&path).unwrap() == want,
            "the bytes, through the page cache"
        );
    }

    #[test]
    fn direct_writes_hold_recent_blocks_and_send_the_rest_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let mut s = FileSink::direct(file, &path).unwrap();
        let b = BLOCK as u64;
        let at = |s: &mut FileSink, want: &mut Vec<u8>, pos: u64, bytes: &[u8]| {
            s.seek(SeekFrom::Start(pos)).unwrap();
            s.write_all(bytes).unwrap();
            let (p, n) = (pos as usize, bytes.len());
            if n == 0 {
                return;
            }
            if want.len() < p + n {
                want.resize(p + n, 0);
            }
            want[p..p + n].copy_from_slice(bytes);
        };
        let mut want = Vec::new();
        // Five blocks and a bit: the first four are written directly, the last two held.
        let big: Vec<u8> = (0..5 * BLOCK + 12_345).map(|i| (i % 251) as u8).collect();
        at(&mut s, &mut want, 0, &big);
        // Into a block written long ago, and across the first held block's start.
        at(&mut s, &mut want, 10, b"abc");
        at(&mut s, &mut want, 4 * b - 3, b"0123456789");
        // Inside the held blocks, across the two.
        at(&mut s, &mut want, 5 * b - 2, b"held");
        // Far past the end: the held blocks go; a block in the gap is made later; the
        // file's end is a part of a block.
        at(&mut s, &mut want, 8 * b + 100, b"far");
        at(&mut s, &mut want, 6 * b + 7, b"gap");
        at(&mut s, &mut want, 8 * b + 103, b"end");
        // Nothing written past the end, or before it, changes nothing.
        at(&mut s, &mut want, 9 * b, b"");
        at(&mut s, &mut want, 8 * b + 500, b"");
        let (_, direct) = s.finish_counted().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
        // Where the file system takes direct writes, the whole blocks went that way.
        if open_direct(&File::open(&path).unwrap(), &path).is_some() {
            assert_eq!(direct, 7 * b, "bytes written directly");
        } else {
            assert_eq!(direct, 0);
        }
    }
}
