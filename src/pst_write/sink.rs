//! Where a PST's bytes go: a file written by a second thread, so that encoding and the
//! file system work at the same time.
//!
//! [`FileSink`] is a `Write + Seek` that fills 1 MiB buffers and hands each to a thread that
//! writes it at its offset (`pwrite`) and, on Linux, starts its write-back at once
//! (`sync_file_range`), so that the data is mostly on its way to the disk when the caller
//! syncs the file at the end instead of all of it waiting for that sync. A few buffers are
//! in flight at a time: memory stays a few MiB whatever the file's size.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::fsutil::{WRITEBACK, start_writeback};

/// The size of one buffer.
const CHUNK: usize = 1 << 20;
/// Buffers queued for the writing thread.
const IN_FLIGHT: usize = 4;

/// A file written on a second thread (see the module's doc).
pub struct FileSink {
    /// The buffer being filled and the offset its first byte goes to.
    buf: Vec<u8>,
    at: u64,
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
        let sent = self.tx.as_ref().map(|tx| tx.send((self.at, full)));
        if sent.is_none_or(|r| r.is_err()) {
            // The thread stopped on an error: `finish` reports it.
            return Err(self.stopped());
        }
        self.at += len;
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
    for (at, mut buf) in rx {
        write_at(&file, &buf, at)?;
        let end = at + buf.len() as u64;
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
        let here = self.at + self.buf.len() as u64;
        let to = match pos {
            SeekFrom::Start(n) => n,
            SeekFrom::Current(d) => here
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?,
            SeekFrom::End(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a seek from the end of a file being written",
                ));
            }
        };
        if to != here {
            self.send()?;
            self.at = to;
        }
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
        s.seek(SeekFrom::Start(10)).unwrap();
        s.write_all(b"abc").unwrap();
        s.seek(SeekFrom::Start(CHUNK as u64 - 1)).unwrap();
        s.write_all(b"xy").unwrap();
        s.finish().unwrap();
        let mut want = big;
        want[10..13].copy_from_slice(b"abc");
        want[CHUNK - 1..CHUNK + 1].copy_from_slice(b"xy");
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }
}
