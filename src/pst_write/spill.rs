//! Where the PST writer keeps its B-tree entries until it builds the trees: fixed-size
//! records appended in order and read back once, in the same order.
//!
//! A file's BBT and NBT hold one entry per block and per node, so a writer that kept them
//! in memory grew with the number of items. [`Spill::in_dir`] keeps them in an anonymous
//! file beside the PST instead (gone once closed, even after a crash); [`Spill::in_memory`]
//! is for small files and tests.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// One sequence of fixed-size records.
pub struct Spill {
    to: To,
    /// Records appended so far.
    len: u64,
}

enum To {
    Memory(Vec<u8>),
    File(BufWriter<File>),
}

impl Spill {
    /// Records kept in memory.
    pub fn in_memory() -> Spill {
        Spill {
            to: To::Memory(Vec::new()),
            len: 0,
        }
    }

    /// Records kept in an anonymous file in `dir` (removed by the system once closed).
    pub fn in_dir(dir: &Path) -> io::Result<Spill> {
        let file = tempfile::tempfile_in(dir)?;
        Ok(Spill {
            to: To::File(BufWriter::with_capacity(64 * 1024, file)),
            len: 0,
        })
    }

    /// Appends one record.
    pub fn push(&mut self, record: &[u8]) -> io::Result<()> {
        self.len += 1;
        match &mut self.to {
            To::Memory(v) => {
                v.extend_from_slice(record);
                Ok(())
            }
            To::File(f) => f.write_all(record),
        }
    }

    /// Records appended so far.
    pub fn count(&self) -> u64 {
        self.len
    }

    /// The records of `N` bytes each, in the order they were appended.
    pub fn read_back<const N: usize>(self) -> io::Result<Records<N>> {
        let from: Box<dyn Read> = match self.to {
            To::Memory(v) => Box::new(Cursor::new(v)),
            To::File(f) => {
                let mut file = f.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                Box::new(BufReader::with_capacity(64 * 1024, file))
            }
        };
        Ok(Records {
            from,
            left: self.len,
        })
    }
}

/// The records of a [`Spill`], read back.
pub struct Records<const N: usize> {
    from: Box<dyn Read>,
    left: u64,
}

impl<const N: usize> Iterator for Records<N> {
    type Item = io::Result<[u8; N]>;

    fn next(&mut self) -> Option<io::Result<[u8; N]>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut r = [0u8; N];
        Some(self.from.read_exact(&mut r).map(|_| r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(mut s: Spill) {
        for i in 0u32..10_000 {
            s.push(&i.to_le_bytes()).unwrap();
        }
        assert_eq!(s.count(), 10_000);
        let back: Vec<u32> = s
            .read_back::<4>()
            .unwrap()
            .map(|r| u32::from_le_bytes(r.unwrap()))
            .collect();
        assert_eq!(back, (0..10_000).collect::<Vec<u32>>());
    }

    #[test]
    fn records_come_back_in_order_from_memory_and_from_a_file() {
        round_trip(Spill::in_memory());
        let dir = tempfile::tempdir().unwrap();
        round_trip(Spill::in_dir(dir.path()).unwrap());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the file has no name in the folder"
        );
    }
}
