//! Where a PST's bytes go: a file written by a second thread, so that encoding and the
//! file system work at the same time.
//!
//! [`FileSink`] is a `Write + Seek` that fills 1 MiB buffers and hands each to a thread that
//! writes it at its offset (`pwrite`) and, on Linux, starts its write-back at once
//! (`sync_file_range`), so that the data is mostly on its way to the disk when the caller
//! syncs the file at the end instead of all of it waiting for that sync. A few buffers are
//! in flight at a time: memory stays a few MiB whatever the file's size.
//!
//! A seek does not cut the buffer: bytes written inside it replace what it holds, and bytes
//! written before it go to the thread on their own. Write-back is started [`LAG`] behind
//! what was written, so that such a write shortly behind the front (the writer's map pages)
//! reaches the page cache before the disk does and is written with its neighbours, not
//! once more at the final sync.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::fsutil::{WRITEBACK, start_writeback};

/// The size of one buffer.
const CHUNK: usize = 1 << 20;
/// Buffers queued for the writing thread.
const IN_FLIGHT: usize = 4;
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
    thread: Option<JoinHandle<io::Result<File>>>,
}

impl FileSink {
    /// Writes to `file` from its start.
    pub fn new(file: File) -> FileSink {
        let (tx, rx) = sync_channel::<(u64, Vec<u8>)>(IN_FLIGHT);
        let (free_tx, free) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let thread = std::thread::spawn(move || write_all(file, rx, free_tx));
        FileSink {
            buf: Vec::with_capacity(CHUNK),
            at: 0,
            pos: 0,
            tx: Some(tx),
            free,
            thread: Some(thread),
        }
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
            _ => io::Error::other("the PST writing thread stopped"),
        }
    }

    /// Writes what is buffered and waits for the thread; the file (not yet synced).
    pub fn finish(mut self) -> io::Result<File> {
        self.send()?;
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(io::Error::other("the PST writing thread panicked")),
        }
    }
}

/// The writing thread: each buffer at its offset, write-back started as it goes.
fn write_all(
    file: File,
    rx: Receiver<(u64, Vec<u8>)>,
    free: SyncSender<Vec<u8>>,
) -> io::Result<File> {
    // Write-back is started for the bytes from `from` on as the file grows; the few pages
    // written back at the end (the maps and the header) are left to the final sync.
    let mut from = 0u64;
    let mut front = 0u64;
    for (at, mut buf) in rx {
        write_at(&file, &buf, at)?;
        front = front.max(at + buf.len() as u64);
        let end = front.saturating_sub(LAG);
        if end >= from + WRITEBACK {
            start_writeback(&file, from, end - from);
            from = end;
        }
        buf.clear();
        let _ = free.try_send(buf);
    }
    Ok(file)
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

impl Write for FileSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        let end = self.at + self.buf.len() as u64;
        if self.pos > end {
            // Past the buffer: it goes, and a new one starts here.
            self.send()?;
            self.at = self.pos;
        } else if self.pos < end {
            if self.pos < self.at {
                // Before the buffer: those bytes go on their own.
                let n = ((self.at - self.pos) as usize).min(data.len());
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
    fn writes_in_order_and_after_seeks_land_where_they_belong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut s = FileSink::new(File::create(&path).unwrap());
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
}
