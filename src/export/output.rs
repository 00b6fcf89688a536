//! The seam between an export run and the files it writes: the [`Output`] trait that each
//! output family implements (vdir, Outlook CSV, vCard 2.1 for Outlook, the PST), the set of outputs a run writes ([`Outputs`]), and what outputs share: the side
//! being written, the durability of written files, and lazily opened CSV sheets.

use std::fs;
use std::path::{Path, PathBuf};

use crate::codec::item::Item;
use crate::codec::outlook_csv::{Encoding, Sink};
use crate::error::{Error, Result};
use crate::fsutil::{self, AtomicFile};
use crate::model::{Kind, Record};

/// The two sides of a profile's Outlook, each with its own stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Contacts,
    Tasks,
}

impl Side {
    pub fn kinds(self) -> &'static [Kind] {
        match self {
            Side::Contacts => &[Kind::Location, Kind::User, Kind::Tech],
            Side::Tasks => &[Kind::Si],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Contacts => "contacts",
            Side::Tasks => "tasks",
        }
    }

    pub fn of(kind: Kind) -> Side {
        if kind == Kind::Si {
            Side::Tasks
        } else {
            Side::Contacts
        }
    }
}

/// An output family. Its bit identifies it in the export state and the stamps, so it never
/// changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputKind {
    /// `contacts/` and `tasks/`: vCard 3.0/4.0 and VTODO, one file per item.
    Vdir,
    /// `outlook/`: CSV for Outlook's Import wizard (full sets, changes, removals).
    Outlook,
    /// `outlook-vcards/`: one vCard 2.1 per contact.
    OutlookVcards,
    /// `outlook/Service Master.pst`: one Outlook data file with both sides, rewritten whole.
    Pst,
}

impl OutputKind {
    pub const ALL: [OutputKind; 4] = [
        OutputKind::Vdir,
        OutputKind::Outlook,
        OutputKind::OutlookVcards,
        OutputKind::Pst,
    ];

    /// The outputs a profile writes unless its `outputs` setting says otherwise.
    pub const DEFAULT: [OutputKind; 3] = [
        OutputKind::Vdir,
        OutputKind::Outlook,
        OutputKind::OutlookVcards,
    ];

    pub fn bit(self) -> u32 {
        match self {
            OutputKind::Vdir => 1,
            OutputKind::Outlook => 2,
            OutputKind::OutlookVcards => 4,
            OutputKind::Pst => 8,
        }
    }

    /// The name `--outputs` takes.
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Vdir => "vdir",
            OutputKind::Outlook => "outlook",
            OutputKind::OutlookVcards => "outlook-vcards",
            OutputKind::Pst => "pst",
        }
    }

    /// Whether the output has anything to write for a side (vCard 2.1 has no tasks).
    pub fn serves(self, side: Side) -> bool {
        !(self == OutputKind::OutlookVcards && side == Side::Tasks)
    }
}

/// A set of outputs, as `--outputs` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outputs(u32);

impl Default for Outputs {
    /// The default outputs ([`OutputKind::DEFAULT`]; the PST only when named).
    fn default() -> Self {
        Outputs(OutputKind::DEFAULT.iter().map(|o| o.bit()).sum())
    }
}

impl Outputs {
    /// Parses a comma-separated list of output names.
    pub fn parse(s: &str) -> Result<Outputs> {
        let names = || {
            OutputKind::ALL
                .iter()
                .map(|o| o.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut set = 0;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some(o) = OutputKind::ALL.iter().find(|o| o.name() == part) else {
                return Err(Error::invalid(format!(
                    "unknown output '{part}'; outputs are {}",
                    names()
                )));
            };
            set |= o.bit();
        }
        if set == 0 {
            return Err(Error::invalid(format!(
                "--outputs names no output ({})",
                names()
            )));
        }
        Ok(Outputs(set))
    }

    pub fn contains(self, o: OutputKind) -> bool {
        self.0 & o.bit() != 0
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    /// The set without `o`.
    pub fn without(self, o: OutputKind) -> Outputs {
        Outputs(self.0 & !o.bit())
    }

    pub fn iter(self) -> impl Iterator<Item = OutputKind> {
        OutputKind::ALL
            .into_iter()
            .filter(move |o| self.contains(*o))
    }
}

/// Up to this many files, a run fsyncs each one; above, it syncs the file system once.
const FSYNC_EACH_UP_TO: usize = 16;

/// The files a run wrote, for the durability step before the stamps move.
#[derive(Debug, Default)]
pub struct Written {
    count: usize,
    first: Vec<PathBuf>,
}

impl Written {
    /// Writes a file atomically and remembers it.
    pub fn put_file(&mut self, path: PathBuf, bytes: &[u8]) -> Result<()> {
        fsutil::write_atomic(&path, bytes)?;
        self.count += 1;
        if self.count <= FSYNC_EACH_UP_TO {
            self.first.push(path);
        }
        Ok(())
    }

    /// No file was written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds the files another writer wrote in this run.
    pub fn merge(&mut self, other: Written) {
        self.count += other.count;
        self.first.extend(other.first);
        self.first.truncate(FSYNC_EACH_UP_TO);
    }

    /// Makes the files durable: an fsync per file for a tiny run, else one `syncfs` (an
    /// fsync costs about a millisecond, so 200 of them would dominate a 100-change run;
    /// `syncfs` also waits for other writers on the file system).
    pub fn make_durable(&self, root: &Path) -> Result<()> {
        if self.count > FSYNC_EACH_UP_TO {
            return fsutil::sync_filesystem(root);
        }
        for p in &self.first {
            match fs::File::open(p) {
                Ok(f) => f.sync_all().map_err(|e| Error::io(p, e))?,
                // Written, then removed again in the same run.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(p, e)),
            }
        }
        Ok(())
    }
}

/// What an output did with an item it was asked to write or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Done,
    /// The output does not hold the item after this: a whole-file output asked to write an
    /// item outside the set its file holds (the PST and a closed SI going out as Completed).
    /// The export state records it as removed from that output.
    LeftOut,
    /// A value cannot be written in this output's encoding: the item is left out of this
    /// output (and stays pending for it); the output recorded a [`Refusal`].
    Refused,
}

/// A value an output could not write, so that its item was left out of that output only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The output's name (`outlook`).
    pub output: &'static str,
    /// The file the item was left out of.
    pub file: PathBuf,
    pub item: String,
    pub column: String,
    /// The character, and its code point (`U+0141`).
    pub character: String,
    pub code_point: String,
    /// The encoding that cannot hold it.
    pub encoding: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: left out of {}: column '{}' holds '{}' ({}), which {} cannot hold; change \
             the value, or set the profile's csv_encoding to utf-8 (it stays pending until \
             it can be written)",
            self.item,
            self.file.display(),
            self.column,
            self.character,
            self.code_point,
            self.encoding
        )
    }
}

/// Streams the records of a side's synced set, in key order, to a full-set writer.
pub type SetSource<'a> = dyn FnMut(&mut dyn FnMut(Record) -> Result<()>) -> Result<()> + 'a;

/// Streams the records of both sides' synced sets, contacts then tasks, each side in key
/// order, to a whole-file writer.
pub type WholeSource<'a> = SetSource<'a>;

/// A [`WholeSource`] that reads on a connection of its own, so that it can run on another
/// thread while the run goes on ([`Output::start_whole`]).
pub type BackgroundSource =
    Box<dyn FnOnce(&mut dyn FnMut(Record) -> Result<()>) -> Result<()> + Send>;

/// One output family of an export. The run decides (see `plan`); an output only carries
/// out: it writes and removes items, and at the end finishes its sheets and commits them.
pub trait Output: Send {
    fn kind(&self) -> OutputKind;

    /// The run is about to write `side`; `full`: this output's copy of the side is written
    /// whole (first run, reset, recovery), so a full-set file may be written along with the
    /// changes.
    fn begin_side(&mut self, _side: Side, _full: bool) {}

    /// Writes an item; `in_set` as in `plan::Action::Write`.
    fn put(&mut self, w: &mut Written, side: Side, item: &Item, in_set: bool) -> Result<Put>;

    /// Deletes the output's copy of an item that left the set, and lists it for deletion.
    fn remove(&mut self, item: &Item) -> Result<Put>;

    /// Whether the output keeps a full-set file of `side` that may need rewriting at the
    /// end of the run (see `plan::full_sheet`), and whether that file exists.
    fn full_set_file(&self, _side: Side) -> Option<bool> {
        None
    }

    /// Rewrites the full-set file of `side` (what `plan::full_sheet` asked for): from the
    /// rows written along with the changes when this run wrote the whole side, else from
    /// `set`.
    fn write_full_set(&mut self, _side: Side, _set: &mut SetSource) -> Result<()> {
        Ok(())
    }

    /// Whether the output is one file that holds both sides and is rewritten whole whenever
    /// either side changed for it (see `plan::whole_file`), and whether that file exists.
    /// Such an output's `put` and `remove` only note that the file must be rewritten.
    fn whole_file(&self) -> Option<bool> {
        None
    }

    /// Rewrites the whole file from `set` (both sides' synced sets, in side order); the
    /// file goes into place at `commit`. After [`Output::start_whole`], finishes what it
    /// started instead (`set` is not read).
    fn write_whole(&mut self, _set: &mut WholeSource) -> Result<()> {
        Ok(())
    }

    /// The run knows before its pages that the whole file will be rewritten (first run,
    /// recovery, a missing file): the output may start writing it now from `set`, on a
    /// thread of its own, while the pages are read. The default leaves it to
    /// [`Output::write_whole`].
    fn start_whole(&mut self, _set: BackgroundSource) {}

    /// The values this output could not write in this run (their items were left out of
    /// it, and stay pending for it; the run goes on).
    fn refusals(&self) -> &[Refusal] {
        &[]
    }

    /// After the written files are durable: puts the run's lists into place. Returns the
    /// files a user acts on (change and removal lists).
    fn commit(self: Box<Self>) -> Result<Vec<PathBuf>>;
}

/// A CSV of this run that is opened on its first row.
pub struct LazySheet {
    path: PathBuf,
    header: Vec<&'static str>,
    sink: Option<Sink<AtomicFile>>,
}

impl LazySheet {
    /// A sheet under `header` (a localized one: `Codec::header`).
    pub fn with_header(path: PathBuf, header: Vec<&'static str>) -> Self {
        LazySheet {
            path,
            header,
            sink: None,
        }
    }

    /// Where the sheet goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a row encoded by `outlook_csv::encode_row`.
    pub fn line(&mut self, line: &[u8], encoding: Encoding) -> Result<()> {
        if self.sink.is_none() {
            let f = AtomicFile::create(&self.path)?;
            let s = Sink::with_header(f, &self.header, encoding)
                .map_err(|e| Error::io(&self.path, e))?;
            self.sink = Some(s);
        }
        let sink = self.sink.as_mut().expect("opened");
        sink.encoded(line).map_err(|e| Error::io(&self.path, e))
    }

    /// Renames the file into place; `Some(path)` when it had rows.
    pub fn commit(self) -> Result<Option<PathBuf>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_names_and_refuse_unknown_or_none() {
        let o = Outputs::parse("vdir, outlook").unwrap();
        assert!(o.contains(OutputKind::Vdir) && o.contains(OutputKind::Outlook));
        assert!(!o.contains(OutputKind::OutlookVcards));
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            [OutputKind::Vdir, OutputKind::Outlook]
        );
        assert_eq!(
            Outputs::parse("vdir,outlook,outlook-vcards").unwrap(),
            Outputs::default()
        );
        let e = Outputs::parse("vdir,pdf").unwrap_err().to_string();
        assert!(e.contains("'pdf'") && e.contains("outlook-vcards"), "{e}");
        // The PST is named, never a default.
        let p = Outputs::parse("outlook,pst").unwrap();
        assert!(p.contains(OutputKind::Pst) && p.bits() == 2 | 8);
        assert!(!Outputs::default().contains(OutputKind::Pst));
        assert!(e.contains("pst"), "{e}");
        assert!(Outputs::parse(" , ").is_err());
    }

    #[test]
    fn output_bits_are_distinct() {
        let bits: Vec<u32> = OutputKind::ALL.iter().map(|o| o.bit()).collect();
        let all = bits.iter().fold(0, |a, b| a | b);
        assert_eq!(all.count_ones() as usize, bits.len());
    }
}
