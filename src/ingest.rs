//! Ingest, files → database (SPEC §4): reads each input file of a profile (Outlook CSV,
//! vCard, VTODO), applies its items under [`crate::rules`], journals every decision, and
//! moves the file to `processed/<date>/` or `rejected/<date>/` (with `<name>.error.txt`).
//!
//! Each file is one unit inside a transaction that holds a batch of files, so ten thousand
//! small files cost a few commits, not ten thousand: an item the rules or the store refuse
//! is undone alone ([`Writer::try_set`], a savepoint per new SI), and a database error
//! undoes the whole batch. Files move only after their batch is committed; a crash before that leaves them
//! in the inbox, and the content hash makes a second ingest of the same bytes change
//! nothing.
//!
//! Guard: before a run commits, its verdicts are added up ([`ChangePlan`]); when the run
//! would change more of the profile's items, or blank more fields, than the profile's
//! thresholds allow ([`change_guard`], pure), the run is undone, no file moves, and the
//! report carries the guard and the plan. So a guarded run applies all its batches in one
//! transaction, which commits only after the guard has seen them all; its files are filed
//! after that commit, a batch at a time. A run the guard need not see whole (a dry run,
//! `--allow-mass-change`) commits batch by batch.
//!
//! Every journal row of a run names it (`ingest-<time>`, also the name of its report in
//! `reports/`), so that `smsync undo` can take the run back.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{Local, NaiveDate};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::codec::item::{Incoming, Item};
use crate::codec::outlook_csv;
use crate::codec::text::{self, DateFormat};
use crate::codec::{guarded, ical, vcard};
use crate::error::{Error, Result};
use crate::export::Layout;
use crate::export::plan::Threshold;
use crate::fsutil;
use crate::model::{Key, Kind};
use crate::rules::{self, Admission, Base, Decision, FieldChange, SeenKeys, Verdict};
use crate::store::{AheadReader, JournalEntry, Profile, ReadAhead, Source, Store, Writer};

/// How ingest reads and what it may do.
#[derive(Debug, Clone)]
pub struct Options {
    pub dates: DateFormat,
    /// Print the plan and change nothing: no database write, no file moved.
    pub dry_run: bool,
    /// Files larger than this are refused (bytes); not a PST, which is read from its file.
    pub max_size: u64,
    /// Files per transaction.
    pub batch: usize,
    /// Called after each file is read (tests use it to change a file under an ingest).
    pub after_read: Option<fn(&Path)>,
    /// The smsync binary, to read PST files in a child process first (see
    /// [`crate::codec::pst::read_isolated`]); `None` reads them in this process.
    pub pst_checker: Option<PathBuf>,
    /// Told of each file and item done (the command line draws a progress bar).
    pub progress: crate::progress::Progress,
    /// A run that would change more than this of the profile's items stops before it
    /// applies anything ([`change_guard`]).
    pub change_guard: Threshold,
    /// A run that would blank more than this many fields stops before it applies anything.
    pub blank_guard_max: u64,
    /// Proceed whatever the guard says (`--allow-mass-change`).
    pub allow_mass_change: bool,
    /// A CSV's records and export states are read on its reading thread, on a connection
    /// of its own, where the engine can ([`Writer::snapshot_reader`]); off, this thread
    /// reads them (tests compare the two).
    pub read_ahead: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dates: DateFormat::default(),
            dry_run: false,
            max_size: 100 * 1024 * 1024,
            batch: 500,
            after_read: None,
            pst_checker: None,
            progress: Default::default(),
            change_guard: crate::profile::DEFAULT_CHANGE_GUARD,
            blank_guard_max: crate::profile::DEFAULT_BLANK_GUARD_MAX,
            allow_mass_change: false,
            read_ahead: true,
        }
    }
}

/// A field an ingest would blank: it holds a value in the database and the incoming item
/// has it empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blanked {
    pub key: String,
    pub field: &'static str,
    pub old: String,
}

/// What a run's verdicts would do, added up over its batches: the items with an applied
/// field and the fields blanked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePlan {
    pub changed: u64,
    pub blanked: Vec<Blanked>,
}

impl ChangePlan {
    /// Adds the items of one file's report.
    pub fn add(&mut self, file: &FileReport) {
        for i in &file.items {
            if i.outcome != ItemOutcome::Applied {
                continue;
            }
            self.changed += 1;
            for f in i.fields.iter().filter(|f| f.decision.applies()) {
                if f.incoming.trim().is_empty() && !f.database.trim().is_empty() {
                    self.blanked.push(Blanked {
                        key: i.key.clone().unwrap_or_else(|| i.source.clone()),
                        field: f.field,
                        old: f.database.clone(),
                    });
                }
            }
        }
    }
}

/// Why an ingest stopped before applying anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeGuard {
    /// Items the run would change, of the `held` items the profile holds.
    pub changed: u64,
    pub held: u64,
    pub threshold: Threshold,
    /// The fields it would blank, and how many may be blanked.
    pub blanked: Vec<Blanked>,
    pub blank_max: u64,
}

impl std::fmt::Display for ChangeGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.threshold.exceeded(self.changed, self.held) {
            parts.push(format!(
                "change {} of the profile's {} items (more than {}% and at least {})",
                self.changed, self.held, self.threshold.percent, self.threshold.min
            ));
        }
        if self.blanked.len() as u64 > self.blank_max {
            let first: Vec<String> = self
                .blanked
                .iter()
                .take(5)
                .map(|b| format!("{} {}", b.key, b.field))
                .collect();
            parts.push(format!(
                "blank {} fields (more than {}: {}{})",
                self.blanked.len(),
                self.blank_max,
                first.join(", "),
                if self.blanked.len() > 5 { ", …" } else { "" }
            ));
        }
        write!(f, "the ingest would {}", parts.join(" and "))
    }
}

/// Whether a run whose verdicts add up to `plan`, in a profile holding `held` items, must
/// stop before applying anything: it changes more items than `threshold` allows, or blanks
/// more than `blank_max` fields.
pub fn change_guard(
    plan: &ChangePlan,
    held: u64,
    threshold: Threshold,
    blank_max: u64,
) -> Option<ChangeGuard> {
    let too_many = threshold.exceeded(plan.changed, held);
    let too_blank = plan.blanked.len() as u64 > blank_max;
    (too_many || too_blank).then(|| ChangeGuard {
        changed: plan.changed,
        held,
        threshold,
        blanked: plan.blanked.clone(),
        blank_max,
    })
}

/// Counts of what happened to items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Items with at least one applied field.
    pub applied: u64,
    pub created: u64,
    /// Items with `!Update` whose values already matched.
    pub unchanged: u64,
    /// Items not for smsync (no `!Update`, personal tasks).
    pub skipped: u64,
    /// Items refused, or with a refused field.
    pub refused: u64,
    /// Fields changed on both sides.
    pub conflicts: u64,
    /// Fields edited in Outlook that Outlook may not change (SPEC §7): ignored.
    pub not_updatable: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.applied += o.applied;
        self.created += o.created;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
        self.refused += o.refused;
        self.conflicts += o.conflicts;
        self.not_updatable += o.not_updatable;
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemOutcome {
    /// At least one field applied.
    Applied,
    /// A new SI.
    Created,
    /// `!Update` with values that already matched.
    Unchanged,
    /// Not for smsync (no `!Update`, a personal task).
    Skipped,
    /// Refused, or with a refused field.
    Refused,
}

impl ItemOutcome {
    /// The name the report, the journal and the text output use.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemOutcome::Applied => "applied",
            ItemOutcome::Created => "created",
            ItemOutcome::Unchanged => "unchanged",
            ItemOutcome::Skipped => "skipped",
            ItemOutcome::Refused => "refused",
        }
    }
}

impl std::fmt::Display for ItemOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileOutcome {
    /// Every item applied, unchanged or skipped.
    Processed,
    /// Some items refused, the others applied.
    Partial,
    /// Unreadable as a whole, or every item refused.
    Rejected,
    /// The same content was ingested before.
    Duplicate,
    /// Cannot be read now (permissions, a lock): left in the inbox.
    Retry,
    /// Gone before it was read.
    Vanished,
}

impl FileOutcome {
    /// The name the report, the `ingested` table and the text output use.
    pub fn as_str(self) -> &'static str {
        match self {
            FileOutcome::Processed => "processed",
            FileOutcome::Partial => "partial",
            FileOutcome::Rejected => "rejected",
            FileOutcome::Duplicate => "duplicate",
            FileOutcome::Retry => "retry",
            FileOutcome::Vanished => "vanished",
        }
    }

    /// Whether the run ends with exit code 3 because of this file.
    pub fn is_bad(self) -> bool {
        matches!(
            self,
            FileOutcome::Rejected | FileOutcome::Partial | FileOutcome::Retry
        )
    }
}

impl std::fmt::Display for FileOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input format, as recognised by content ([`sniff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    VCard,
    ICalendar,
    Pst,
    Msg,
    /// Binary content that is none of the above: rejected.
    Binary,
    /// Not read (the file could not be opened).
    Unknown,
}

impl Format {
    /// The name the report and `inspect` show.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::VCard => "vcard",
            Format::ICalendar => "icalendar",
            Format::Pst => "pst",
            Format::Msg => "msg",
            Format::Binary => "binary",
            Format::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    /// Where in the file: "line 7", "card 2", "VTODO 1".
    pub source: String,
    pub key: Option<String>,
    pub outcome: ItemOutcome,
    pub reason: Option<String>,
    pub fields: Vec<FieldChange>,
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: PathBuf,
    pub format: Format,
    pub outcome: FileOutcome,
    pub moved_to: Option<PathBuf>,
    pub error: Option<String>,
    pub notes: Vec<String>,
    pub tally: Tally,
    pub items: Vec<ItemReport>,
    /// The skipped items by reason, most frequent first (a full Outlook export skips
    /// thousands of rows for one reason: they are counted, not listed).
    pub skipped: Vec<Skipped>,
}

/// How many items of a file were skipped for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub reason: String,
    pub count: u64,
}

/// Counts of `reasons`, most frequent first, then by reason.
fn skipped_by_reason(reasons: std::collections::HashMap<String, u64>) -> Vec<Skipped> {
    let mut v: Vec<Skipped> = reasons
        .into_iter()
        .map(|(reason, count)| Skipped { reason, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    v
}

/// What an ingest run did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    /// Nothing changed: a dry run, or a run the guard stopped (its files are the plan).
    pub dry_run: bool,
    pub files: Vec<FileReport>,
    pub tally: Tally,
    /// `reports/<run>.json`, when one was written: it holds this report as `--json` prints
    /// it (pretty JSON), so that `--json` copies the file instead of writing it out again.
    pub report_file: Option<PathBuf>,
    /// The run's name (`ingest-<time>`): its report is `reports/<run>.json`, its journal
    /// rows carry it, and `smsync undo <run>` takes it back. `None` when nothing changed.
    pub run: Option<String>,
    /// Set when the guard stopped the run before it applied anything.
    pub guard: Option<ChangeGuard>,
    /// The profile's PST (`outlook/Service Master.pst`) when its user had changed it: moved
    /// into the inbox and ingested with the rest, or left alone because it is in use.
    pub pst: Option<crate::export::pst::Adopted>,
}

impl Report {
    /// 0 all applied; 3 some items refused or files rejected; 4 all applied, but an edit
    /// conflicted or touched a field that cannot be updated (see [`crate::error::exit`]).
    pub fn exit_code(&self) -> i32 {
        use crate::error::exit;
        let bad = self.tally.refused > 0 || self.files.iter().any(|f| f.outcome.is_bad());
        let pst_in_use = matches!(self.pst, Some(crate::export::pst::Adopted::InUse { .. }));
        if self.guard.is_some() {
            exit::ATTENTION
        } else if bad {
            exit::PARTIAL
        } else if self.tally.conflicts > 0 || self.tally.not_updatable > 0 || pst_in_use {
            exit::ATTENTION
        } else {
            exit::OK
        }
    }
}

/// Names that are never inputs: Office lock files, temp and partial downloads.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with("~$")
        || name.starts_with(".~lock")
        || name.starts_with('.')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(fsutil::TEMP_SUFFIX)
}

/// The files waiting in a profile's inbox, by name.
pub fn inbox_files(layout: &Layout) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(&layout.inbox) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&layout.inbox, e)),
    };
    for e in entries {
        let e = e.map_err(|e| Error::io(&layout.inbox, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = e.file_type().map_err(|err| Error::io(e.path(), err))?;
        // A symbolic link is listed (and filed to rejected/ as one), never followed.
        if (ft.is_file() || ft.is_symlink()) && !is_temp_name(&name) {
            out.push(e.path());
        }
    }
    // By name: the paths share their folder, and comparing them whole is that order
    // without walking each path's components.
    out.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    Ok(out)
}

/// The input formats smsync recognises by content.
pub fn sniff(bytes: &[u8]) -> Format {
    if bytes.starts_with(b"!BDN") {
        return Format::Pst;
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Format::Msg;
    }
    let head = text::decode(utf8_prefix(bytes, 4096))
        .0
        .to_ascii_uppercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with("BEGIN:VCARD") {
        Format::VCard
    } else if head.starts_with("BEGIN:VCALENDAR") || head.starts_with("BEGIN:VTODO") {
        Format::ICalendar
    } else if bytes.contains(&0)
        && !bytes.starts_with(b"\xFF\xFE")
        && !bytes.starts_with(b"\xFE\xFF")
    {
        Format::Binary
    } else {
        Format::Csv
    }
}

/// At most `n` bytes from the start of `bytes`, not cutting a UTF-8 character in two (a
/// cut one would make the prefix read as Windows-1252) nor a UTF-16 unit.
fn utf8_prefix(bytes: &[u8], n: usize) -> &[u8] {
    let head = &bytes[..bytes.len().min(n) & !1];
    match std::str::from_utf8(head) {
        Err(e) if e.error_len().is_none() => &head[..e.valid_up_to()],
        _ => head,
    }
}

/// The format a file's name claims by its extension, where one claims one.
fn named_format(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "vcf" | "vcard" => Some(Format::VCard),
        "ics" | "ical" | "ifb" | "vcs" => Some(Format::ICalendar),
        "pst" => Some(Format::Pst),
        "msg" => Some(Format::Msg),
        _ => None,
    }
}

/// Why a file whose content [`sniff`] read as CSV (its fall-back) is not read as one: its
/// name says vCard, iCalendar, PST or .msg, so an error about CSV headers would mislead.
/// `None` for every other file (content decides where it names a format).
pub fn misnamed(path: &Path, bytes: &[u8], format: Format) -> Option<String> {
    if format != Format::Csv {
        return None;
    }
    let (what, expected) = match named_format(path)? {
        Format::VCard => ("a vCard", "BEGIN:VCARD"),
        Format::ICalendar => ("an iCalendar file", "BEGIN:VCALENDAR or BEGIN:VTODO"),
        Format::Pst => ("an Outlook data file (PST)", "the PST signature !BDN"),
        Format::Msg => ("an Outlook item (.msg)", "the compound-file signature"),
        _ => return None,
    };
    let text = text::decode(utf8_prefix(bytes, 200)).0;
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("");
    let first: String = first.chars().take(40).collect();
    Some(format!(
        "its name says {what}, but it does not begin with {expected} (its first line: \
         {first:?}); save it again from the program that made it, or, if it is an Outlook \
         CSV, name it .csv"
    ))
}

/// The text of an iCalendar file; a bare VTODO (no VCALENDAR around it, as some tools save
/// a single task) is wrapped in one.
fn calendar_text(bytes: &[u8]) -> String {
    let text = text::decode(bytes).0;
    let head = text.trim_start_matches('\u{feff}').trim_start();
    if head
        .get(..11)
        .is_some_and(|h| h.eq_ignore_ascii_case("BEGIN:VTODO"))
    {
        return format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{head}\r\nEND:VCALENDAR\r\n");
    }
    text
}

/// Reads a file's items, or says why the whole file cannot be read.
pub fn read_items(
    path: &Path,
    bytes: &[u8],
    format: Format,
    opts: &Options,
    notes: &mut Vec<String>,
) -> std::result::Result<Vec<Incoming>, String> {
    if let Some(e) = misnamed(path, bytes, format) {
        return Err(e);
    }
    // Every reader runs under `guarded`: a panic rejects this file, not the batch. (The
    // CSV reader guards each row itself, so a panic escapes it only before the first item.)
    match format {
        Format::VCard => {
            let items = guarded(|| vcard::read::read(&text::decode(bytes).0))?;
            if items.iter().any(|i| i.item.is_err()) && !has_uid(bytes) {
                notes.push(vcard::OUTLOOK_VCARDS.into());
            }
            Ok(items)
        }
        Format::ICalendar => guarded(|| ical::read::read(&calendar_text(bytes))),
        Format::Csv => {
            let mut items = Vec::new();
            let info = guarded(|| {
                outlook_csv::read_each(bytes, &opts.dates, outlook_csv::Unmarked::Whole, &mut |i| {
                    items.push(i)
                })
            })??;
            csv_notes(&info, notes);
            Ok(items)
        }
        Format::Msg => guarded(|| crate::codec::msg::read(bytes))?,
        // The child process catches crashes that unwinding cannot (a stack overflow); the
        // guard covers this process's own read, which follows the child's.
        Format::Pst => {
            let (items, passed) = guarded(|| match &opts.pst_checker {
                Some(exe) => {
                    crate::codec::pst::read_isolated(path, exe, crate::codec::pst::CHECK_TIMEOUT)
                }
                None => crate::codec::pst::read_all(path),
            })??;
            if !passed.is_empty() {
                let list: Vec<String> = passed.iter().map(|(c, n)| format!("{n} {c}")).collect();
                notes.push(format!(
                    "passed over (neither contacts nor tasks): {}",
                    list.join(", ")
                ));
            }
            Ok(items)
        }
        Format::Binary | Format::Unknown => Err(
            "this is not an Outlook CSV, vCard or iCalendar file (binary content); \
                  drop CSV, .vcf or .ics files"
                .into(),
        ),
    }
}

/// Whether a vCard file has a UID line (Outlook's own vCards have none).
fn has_uid(bytes: &[u8]) -> bool {
    text::decode(bytes)
        .0
        .lines()
        .any(|l| l.trim_start().to_ascii_uppercase().starts_with("UID"))
}

/// A CSV cell is text in the profile's date format: a date exported under one format and
/// read under another comes back with its month and day swapped. Such a value is the
/// exported one (never an edit): the item is given the exported date for that field, and
/// each such field is reported (an edit that swapped exactly day and month would be taken
/// for it, so it must not pass in silence).
fn settle_csv_dates(
    item: &Item,
    exported: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<(Item, Vec<FieldChange>)> {
    let exported = exported?;
    let mut settled: Option<(Item, Vec<FieldChange>)> = None;
    for (i, (f, v)) in item.values.iter().enumerate() {
        let crate::codec::item::Field::Date(read) = v else {
            continue;
        };
        let Some(was) = exported
            .get(f.name)
            .and_then(|v| v.as_str())
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if *read != was && text::same_date_swapped(*read, was) {
            let (it, notes) = settled.get_or_insert_with(|| (item.clone(), Vec::new()));
            it.values[i].1 = crate::codec::item::Field::Date(was);
            notes.push(FieldChange {
                field: f.name,
                database: was.to_string(),
                incoming: read.to_string(),
                decision: Decision::Ignored,
                reason: format!(
                    "read as the exported {was}: the cell is that date with day and month \
                     swapped, as a sheet written under another date format reads; if it was \
                     an edit, check the profile's date_format and enter it again"
                ),
            });
        }
    }
    settled
}

/// A file's items as read ahead by the loading thread, with the reader's notes.
type Parsed = (std::result::Result<Vec<Incoming>, String>, Vec<String>);

/// Reads the items of a one-item-per-file format ahead, on the loading thread (a CSV is
/// read while it is applied, a PST from its path).
fn read_ahead(path: &Path, bytes: &[u8], opts: &Options) -> Option<Parsed> {
    let format = sniff(bytes);
    if matches!(format, Format::Csv | Format::Pst) {
        return None;
    }
    let mut notes = Vec::new();
    let read = read_items(path, bytes, format, opts, &mut notes);
    Some((read, notes))
}

/// The keys of the records the rules will read for these items: those of the items that
/// name one and are not skipped at once (see [`rules::admit`]).
fn keys_to_read(items: &[Incoming]) -> impl Iterator<Item = Key> + '_ {
    items
        .iter()
        .filter_map(|inc| inc.item.as_ref().ok())
        .filter(|i| i.kind == Kind::Si || i.has_update())
        .filter_map(|i| i.key)
}

/// Items handed to the applying side at a time (and read ahead together, see
/// [`crate::store::Lookup::read_ahead`]).
const CHUNK: usize = 256;

/// A reader of the database for the CSV reading thread ([`Writer::snapshot_reader`]), and
/// the profile whose export states it reads.
type Ahead = (Box<dyn AheadReader>, Key);

/// Applies a chunk of a file's items, with their records read ahead when they were.
type ApplyChunk<'a> = dyn FnMut(&[Incoming], Option<ReadAhead>) -> Result<()> + 'a;

/// Hands every item of a file to `apply`, in order, [`CHUNK`] at a time. A CSV is read
/// on a second thread while the items already read are applied; with `ahead`, that thread
/// also reads each chunk's records and export states ([`ReadAhead`]), handed to `apply`
/// with the chunk (`None` when it could not: `apply` reads them itself). `Err` outside:
/// `apply`'s (the database's); inside: the reader's, which comes before any item.
#[allow(clippy::too_many_arguments)]
fn each_item(
    path: &Path,
    bytes: &[u8],
    format: Format,
    parsed: Option<Parsed>,
    opts: &Options,
    notes: &mut Vec<String>,
    ahead: Option<Ahead>,
    apply: &mut ApplyChunk,
) -> Result<std::result::Result<(), String>> {
    if format != Format::Csv {
        let read = match parsed {
            Some((read, found)) => {
                notes.extend(found);
                read
            }
            None => read_items(path, bytes, format, opts, notes),
        };
        return Ok(match read {
            Ok(items) => {
                for chunk in items.chunks(CHUNK) {
                    apply(chunk, None)?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        });
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Incoming>, Option<ReadAhead>)>(4);
        let dates = &opts.dates;
        let reader = std::thread::Builder::new()
            .name("ingest-read".into())
            .spawn_scoped(scope, move || {
                let mut ahead = ahead;
                // A read that fails stops the reading ahead; the applying side reads for itself.
                let mut read_records = |chunk: &[Incoming]| -> Option<ReadAhead> {
                    let (reader, employee) = ahead.as_mut()?;
                    let keys: Vec<Key> = keys_to_read(chunk).collect();
                    let read = reader.read(*employee, &keys);
                    if read.is_err() {
                        ahead = None;
                    }
                    read.ok()
                };
                let mut chunk = Vec::with_capacity(CHUNK);
                let info = guarded(|| {
                    // Ingest skips a contact without `!Update`: its key and categories will do.
                    outlook_csv::read_each(
                        bytes,
                        dates,
                        outlook_csv::Unmarked::KeyOnly,
                        &mut |inc| {
                            chunk.push(inc);
                            if chunk.len() == CHUNK {
                                let read = read_records(&chunk);
                                // A closed channel means the applying side stopped on an error.
                                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                                let _ = tx.send((full, read));
                            }
                        },
                    )
                });
                if !chunk.is_empty() {
                    let read = read_records(&chunk);
                    let _ = tx.send((chunk, read));
                }
                info.and_then(|info| info)
            })
            .expect("a thread to read the files");
        let mut applied = Ok(());
        for (chunk, read) in rx {
            applied = apply(&chunk, read);
            if applied.is_err() {
                break; // dropping `rx` ends the reader
            }
        }
        let info = reader
            .join()
            .map_err(|_| Error::Other("the CSV reader panicked".into()))?;
        applied?;
        Ok(info.map(|info| csv_notes(&info, notes)))
    })
}

/// What the CSV reader found besides the items, for the file's report.
fn csv_notes(info: &outlook_csv::Info, notes: &mut Vec<String>) {
    if !info.unknown_columns.is_empty() {
        notes.push(format!(
            "columns ignored (not Outlook columns smsync maps): {}",
            info.unknown_columns.join(", ")
        ));
    }
    notes.push(format!(
        "read as Outlook {:?} CSV, language {} ({}), encoding {}",
        info.sheet,
        info.language.code(),
        info.language.name(),
        info.encoding
    ));
}

fn micros(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// A record's exported values for a profile, as a JSON object.
fn exported_values(
    w: &dyn Writer,
    employee: Key,
    key: Key,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    Ok(w.exported(employee, key)?.and_then(|e| {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&e.values).ok()
    }))
}

struct FileCtx<'a> {
    profile: &'a Profile,
    file: &'a str,
    /// The file is an Outlook CSV (dates are text in the profile's format).
    csv: bool,
    item_time: i64,
    today: NaiveDate,
    /// Inside a chunk applied in one savepoint (see [`Writer::prefers_chunks`]): a change
    /// the store refuses fails the chunk, which is then applied item by item.
    trusting: std::cell::Cell<bool>,
}

/// Applies one item inside the file's transaction; returns its report. The rules decide
/// ([`rules::admit`], [`rules::check_record`], [`rules::plan_update`],
/// [`rules::plan_new_task`]); this gathers what they need (the record, its export state)
/// and applies and journals what they decide.
fn apply_item(
    w: &mut dyn Writer,
    ctx: &FileCtx,
    inc: &Incoming,
    seen: &mut SeenKeys,
) -> Result<ItemReport> {
    let mut report = ItemReport {
        source: inc.source.clone(),
        key: None,
        outcome: ItemOutcome::Refused,
        reason: None,
        fields: Vec::new(),
    };
    let item: &Item = match &inc.item {
        Ok(i) => i,
        Err(e) => return refuse(w, report, e.clone()),
    };
    // A task created elsewhere is found again by the UID it came with.
    let key = match (item.key, &item.uid) {
        (Some(k), _) => Some(k),
        (None, Some(uid)) if item.kind == Kind::Si => w.si_by_uid(uid)?,
        _ => None,
    };
    report.key = key.map(|k| k.to_string());
    // CSV dates taken for the exported ones (see `settle_csv_dates`), reported with the item.
    let mut settled_notes: Vec<FieldChange> = Vec::new();
    let verdict = match rules::admit(item, key, seen) {
        Admission::Skip(why) => {
            report.outcome = ItemOutcome::Skipped;
            report.reason = Some(why);
            return Ok(report);
        }
        Admission::Refuse(why) => return refuse(w, report, why),
        Admission::Existing(k) => {
            let found = w.find(k)?;
            let record = match rules::check_record(item, k, found.as_ref()) {
                Ok(record) => record,
                Err(why) => return refuse(w, report, why),
            };
            let exported = exported_values(w, ctx.profile.employee, k)?;
            let settled = if ctx.csv {
                settle_csv_dates(item, exported.as_ref())
            } else {
                None
            };
            let item = match &settled {
                Some((it, notes)) => {
                    settled_notes.clone_from(notes);
                    it
                }
                None => item,
            };
            let base = Base {
                record,
                exported: exported.as_ref(),
                item_time: item.modified.unwrap_or(ctx.item_time),
                today: ctx.today,
            };
            rules::plan_update(item, &base, &*w)?
        }
        Admission::New => rules::plan_new_task(item, &*w)?,
    };
    match verdict {
        Verdict::Skipped(why) => {
            report.outcome = ItemOutcome::Skipped;
            report.reason = Some(why);
            if let Some(k) = key
                && item.has_update()
            {
                w.mark_dirty(ctx.profile.employee, k)?;
            }
        }
        Verdict::Refused(why) => return refuse(w, report, why),
        Verdict::Update {
            assignments,
            mut changes,
        } => {
            changes.append(&mut settled_notes);
            let k = key.expect("updates have keys");
            // All or nothing: a rule the store enforces (e.g. people of another client)
            // refuses this item only.
            let tried = if ctx.trusting.get() {
                // The chunk's savepoint undoes it all, and the chunk is applied again.
                Ok(w.set(k, &assignments)?)
            } else {
                w.try_set(k, &assignments)
            };
            let outcome = match tried {
                Ok(o) => o,
                Err(e) => {
                    report.fields = changes;
                    return refuse(w, report, e.to_string());
                }
            };
            for c in &changes {
                if !matches!(c.decision, Decision::Applied) {
                    journal_decision(w, k, c)?;
                }
            }
            let refused = changes.iter().find(|c| c.decision == Decision::Refused);
            report.outcome = if refused.is_some() {
                ItemOutcome::Refused
            } else if assignments.is_empty() {
                ItemOutcome::Unchanged
            } else {
                ItemOutcome::Applied
            };
            report.reason = refused.map(|c| c.reason.clone());
            report.fields = changes;
            // A changed record goes out again anyway (its change time moved); an unchanged
            // one is marked so the profile's copy loses its !Update.
            if outcome == crate::store::Outcome::Unchanged {
                w.mark_dirty(ctx.profile.employee, k)?;
            }
        }
        Verdict::Create {
            assignments,
            changes,
        } => {
            let mut created = None;
            let r = w.savepoint(&mut |w| {
                created = Some(w.add(Kind::Si, &assignments)?);
                Ok(())
            });
            match r {
                Ok(()) => {
                    let k = created.expect("added");
                    report.outcome = ItemOutcome::Created;
                    report.key = Some(k.to_string());
                    for c in &changes {
                        journal_decision(w, k, c)?;
                    }
                }
                Err(e) => {
                    report.fields = changes;
                    return refuse(w, report, e.to_string());
                }
            }
            report.fields = changes;
        }
    }
    Ok(report)
}

/// Applies a chunk of items in one savepoint, trusting each change (see
/// [`Writer::prefers_chunks`]): their reports, or `None` when the engine does not prefer
/// that, or when anything failed (all of it undone; the caller applies the chunk item by
/// item). A chunk with an item found by its UID is not tried: the keys it would remember
/// as seen could not be told apart for the second try.
fn apply_chunk_trusting(
    w: &mut dyn Writer,
    ctx: &FileCtx,
    chunk: &[Incoming],
    seen: &mut SeenKeys,
) -> Option<Vec<ItemReport>> {
    let by_uid = |inc: &Incoming| {
        inc.item
            .as_ref()
            .is_ok_and(|i| i.key.is_none() && i.uid.is_some())
    };
    if !w.prefers_chunks() || chunk.len() < 2 || chunk.iter().any(by_uid) {
        return None;
    }
    // The keys this chunk will add to `seen`, to forget again if it fails.
    let new_keys: Vec<Key> = chunk
        .iter()
        .filter_map(|inc| inc.item.as_ref().ok()?.key)
        .filter(|k| !seen.contains(k))
        .collect();
    let mut items = Vec::with_capacity(chunk.len());
    ctx.trusting.set(true);
    let applied = w.savepoint(&mut |w| {
        items.clear();
        for inc in chunk {
            items.push(apply_item(w, ctx, inc, seen)?);
        }
        Ok(())
    });
    ctx.trusting.set(false);
    match applied {
        Ok(()) => Some(items),
        Err(_) => {
            for k in &new_keys {
                seen.remove(k);
            }
            None
        }
    }
}

/// Journals a file rejected as a whole (unreadable, too large, no items): one row without
/// an item, with the reason.
fn journal_rejected(w: &mut dyn Writer, r: &FileReport) -> Result<()> {
    w.journal(&JournalEntry {
        outcome: FileOutcome::Rejected.as_str().into(),
        reason: r.error.clone(),
        ..Default::default()
    })
}

/// Refuses an item as a whole: its report says why, and so does the journal (with the
/// item's key, else its place in the file; the file is the journal row's source).
fn refuse(w: &mut dyn Writer, mut report: ItemReport, why: String) -> Result<ItemReport> {
    w.journal(&JournalEntry {
        item: report.key.clone().or(Some(report.source.clone())),
        outcome: ItemOutcome::Refused.as_str().into(),
        reason: Some(why.clone()),
        ..Default::default()
    })?;
    report.outcome = ItemOutcome::Refused;
    report.reason = Some(why);
    Ok(report)
}

fn journal_decision(w: &mut dyn Writer, key: Key, c: &FieldChange) -> Result<()> {
    w.journal(&JournalEntry {
        item: Some(key.to_string()),
        field: Some(c.field.to_string()),
        old_value: Some(c.database.clone()),
        new_value: Some(c.incoming.clone()),
        outcome: c.decision.as_str().into(),
        reason: (!c.reason.is_empty()).then(|| c.reason.clone()),
        ..Default::default()
    })
}

fn tally_of(items: &[ItemReport]) -> Tally {
    let mut t = Tally::default();
    for i in items {
        match i.outcome {
            ItemOutcome::Applied => t.applied += 1,
            ItemOutcome::Created => t.created += 1,
            ItemOutcome::Unchanged => t.unchanged += 1,
            ItemOutcome::Skipped => t.skipped += 1,
            ItemOutcome::Refused => t.refused += 1,
        }
        t.conflicts += i
            .fields
            .iter()
            .filter(|f| {
                matches!(
                    f.decision,
                    Decision::ConflictDatabaseKept | Decision::ConflictOutlookWon
                )
            })
            .count() as u64;
        t.not_updatable += i
            .fields
            .iter()
            .filter(|f| f.decision == Decision::NotUpdatable)
            .count() as u64;
    }
    t
}

/// One input file, read and hashed, before its transaction.
struct Input {
    path: PathBuf,
    name: String,
    bytes: Option<Vec<u8>>,
    hash: String,
    error: Option<String>,
    /// The file cannot be read now (permissions, a lock): it stays in the inbox.
    retry: bool,
    /// The file disappeared before it was read.
    vanished: bool,
    /// Size and modification time when it was read: a file that differs at filing time was
    /// replaced meanwhile and stays in the inbox, to be read again.
    seen: Option<(u64, Option<std::time::SystemTime>)>,
    /// The items, read ahead on the loading thread (not for CSV and PST).
    parsed: Option<Parsed>,
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> std::io::Result<fs::File> {
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(std::io::Error::other("a symbolic link"));
    }
    fs::File::open(path)
}

/// Whether an open failed because the path is a symbolic link (`ELOOP` from O_NOFOLLOW).
fn is_symlink_refusal(e: &std::io::Error, path: &Path) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return true;
    }
    e.kind() != std::io::ErrorKind::NotFound
        && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Whether the open file is a PST (starts with `!BDN`); leaves it at its start.
fn is_pst(mut f: &fs::File) -> bool {
    use std::io::Seek;
    let mut head = [0u8; 4];
    let pst = f.read_exact(&mut head).is_ok() && sniff(&head) == Format::Pst;
    pst & f.rewind().is_ok()
}

fn load(path: &Path, opts: &Options) -> Input {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut input = Input {
        path: path.to_path_buf(),
        name,
        bytes: None,
        hash: String::new(),
        error: None,
        retry: false,
        vanished: false,
        seen: None,
        parsed: None,
    };
    let unreadable = |input: &mut Input, e: std::io::Error| {
        match e.kind() {
            std::io::ErrorKind::NotFound => input.vanished = true,
            _ => input.retry = true,
        }
        input.error = Some(format!(
            "cannot be read now ({e}); it stays in the inbox and is retried"
        ));
    };
    // One open and one fstat: the open refuses a symbolic link (O_NOFOLLOW) and does not
    // wait on a FIFO (O_NONBLOCK); the metadata is the opened file's own.
    let opened = open_no_follow(path).and_then(|f| {
        let m = f.metadata()?;
        Ok((f, m))
    });
    match opened {
        Err(e) if is_symlink_refusal(&e, path) => {
            input.error = Some("a symbolic link; smsync reads only regular files".into());
        }
        Ok((_, m)) if !m.is_file() => {
            input.error = Some("not a regular file; smsync reads only regular files".into());
        }
        // A PST is read from its file (never into memory), so no size limit applies to
        // it: only its head is kept (for `sniff`), and its hash is taken as it streams by.
        Ok((f, m)) if m.len() > opts.max_size && !is_pst(&f) => {
            input.error = Some(format!(
                "{} bytes, above the limit of {} bytes; split the export or raise --max-size",
                m.len(),
                opts.max_size
            ));
        }
        Ok((mut f, m)) => {
            let pst = is_pst(&f);
            let mut b = Vec::with_capacity(if pst { 4 } else { m.len() as usize + 1 });
            let mut hash = Sha256::new();
            let read = if pst {
                (&mut f).take(4).read_to_end(&mut b).and_then(|_| {
                    hash.update(&b);
                    let mut chunk = vec![0u8; 1 << 20];
                    loop {
                        match f.read(&mut chunk)? {
                            0 => break Ok(0),
                            n => hash.update(&chunk[..n]),
                        }
                    }
                })
            } else {
                f.read_to_end(&mut b).map(|n| {
                    hash.update(&b);
                    n as u64
                })
            };
            match read {
                Ok(_) => {
                    input.seen = Some((m.len(), m.modified().ok()));
                    input.hash = hex(&hash.finalize());
                    input.parsed = read_ahead(path, &b, opts);
                    input.bytes = Some(b);
                }
                Err(e) => unreadable(&mut input, e),
            }
        }
        Err(e) => unreadable(&mut input, e),
    }
    input
}

/// Lower-case hexadecimal digits of `bytes` (a content hash as the `ingested` table keeps it).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Applies one file; returns its report (without the move).
fn apply_file(
    w: &mut dyn Writer,
    profile: &Profile,
    input: &mut Input,
    opts: &Options,
    run: Option<&str>,
    trusting: bool,
) -> Result<FileReport> {
    let mut report = FileReport {
        file: input.path.clone(),
        format: Format::Unknown,
        outcome: FileOutcome::Rejected,
        moved_to: None,
        error: input.error.clone(),
        notes: Vec::new(),
        tally: Tally::default(),
        items: Vec::new(),
        skipped: Vec::new(),
    };
    let source = |w: &mut dyn Writer| {
        w.set_source(Some(Source {
            kind: "ingest",
            profile: Some(profile.name.clone()),
            file: Some(input.name.clone()),
            run: run.map(str::to_string),
        }))
    };
    let Some(bytes) = &input.bytes else {
        if input.retry {
            report.outcome = FileOutcome::Retry;
        } else if input.vanished {
            report.outcome = FileOutcome::Vanished;
        } else {
            source(w);
            journal_rejected(w, &report)?;
        }
        return Ok(report);
    };
    if let Some((file, at)) = w.ingested(&profile.name, &input.hash)? {
        report.outcome = FileOutcome::Duplicate;
        report.format = sniff(bytes);
        report.notes.push(format!(
            "the same content was ingested on {} (as {file}); nothing changed",
            crate::clock::format_micros(at)
        ));
        return Ok(report);
    }
    report.format = sniff(bytes);
    source(w);
    if let Some(e) = misnamed(&input.path, bytes, report.format) {
        report.error = Some(e);
        journal_rejected(w, &report)?;
        return Ok(report);
    }
    let ctx = FileCtx {
        profile,
        file: &input.name,
        csv: report.format == Format::Csv,
        item_time: input.seen.and_then(|(_, t)| t).map(micros).unwrap_or(0),
        today: Local::now().date_naive(),
        trusting: std::cell::Cell::new(trusting),
    };
    let mut seen = SeenKeys::default();
    let mut skipped = 0;
    let mut reasons: std::collections::HashMap<String, u64> = Default::default();
    let mut count = 0usize;
    let mut notes = Vec::new();
    let parsed = input.parsed.take();
    let ahead = if report.format == Format::Csv && opts.read_ahead {
        w.snapshot_reader()?.map(|r| (r, profile.employee))
    } else {
        None
    };
    let read = each_item(
        &input.path,
        bytes,
        report.format,
        parsed,
        opts,
        &mut notes,
        ahead,
        &mut |chunk, read| {
            // The records the rules will read: read on the reading thread, or asked for
            // together here.
            match read {
                Some(read) => w.take_ahead(read),
                None => {
                    let keys: Vec<Key> =
                        keys_to_read(chunk).filter(|k| !seen.contains(k)).collect();
                    if !keys.is_empty() {
                        w.read_ahead(profile.employee, &keys)?;
                    }
                }
            }
            let one_by_one = |w: &mut dyn Writer, seen: &mut SeenKeys| {
                chunk
                    .iter()
                    .map(|inc| apply_item(w, &ctx, inc, seen))
                    .collect::<Result<Vec<_>>>()
            };
            let items = if ctx.trusting.get() {
                // The file's group is tried in one savepoint (see `apply_files`): an error
                // fails the group, which is then applied file by file.
                one_by_one(w, &mut seen)?
            } else {
                match apply_chunk_trusting(w, &ctx, chunk, &mut seen) {
                    Some(items) => items,
                    None => one_by_one(w, &mut seen)?,
                }
            };
            for item in items {
                count += 1;
                opts.progress.emit(crate::progress::Event::Item);
                if item.outcome == ItemOutcome::Skipped {
                    *reasons
                        .entry(item.reason.clone().unwrap_or_default())
                        .or_default() += 1;
                }
                // Skipped items are counted, not listed: a full Outlook export holds
                // thousands.
                if item.outcome == ItemOutcome::Skipped && !opts.dry_run {
                    skipped += 1;
                } else {
                    report.items.push(item);
                }
            }
            Ok(())
        },
    )?;
    report.notes.extend(notes);
    report.skipped = skipped_by_reason(reasons);
    if let Err(e) = read {
        // Readers fail before their first item, so nothing of the file was applied.
        report.error = Some(e);
        journal_rejected(w, &report)?;
        return Ok(report);
    }
    if count == 0 {
        report.error = Some("the file holds no contacts or tasks".into());
        journal_rejected(w, &report)?;
        return Ok(report);
    }
    report.tally = tally_of(&report.items);
    report.tally.skipped += skipped;
    let ok = skipped as usize
        + report
            .items
            .iter()
            .filter(|i| i.outcome != ItemOutcome::Refused)
            .count();
    report.outcome = match (ok, report.tally.refused) {
        (_, 0) => FileOutcome::Processed,
        (0, _) => FileOutcome::Rejected,
        _ => FileOutcome::Partial,
    };
    if report.outcome == FileOutcome::Rejected {
        report.error = Some("every item was refused".into());
    }
    w.record_ingested(
        &profile.name,
        &input.hash,
        ctx.file,
        report.outcome.as_str(),
    )?;
    Ok(report)
}

/// A free name in `dir` for `name` (adds .1, .2, … before the extension when taken).
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    if !p.exists() {
        return p;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.to_string(), String::new()),
    };
    (1..)
        .map(|i| dir.join(format!("{stem}.{i}{ext}")))
        .find(|p| !p.exists())
        .expect("a free name")
}

/// The text of a rejected file's `.error.txt`: what, where and how to fix it.
fn error_text(r: &FileReport) -> String {
    let mut s = format!(
        "{}: {}
",
        r.file.display(),
        r.outcome
    );
    if let Some(e) = &r.error {
        s.push_str(&format!(
            "error: {e}
"
        ));
    }
    for n in &r.notes {
        s.push_str(&format!(
            "note: {n}
"
        ));
    }
    for i in &r.items {
        if i.outcome == ItemOutcome::Refused {
            s.push_str(&format!(
                "{} {}: refused: {}
",
                i.source,
                i.key.as_deref().unwrap_or(""),
                i.reason.as_deref().unwrap_or("")
            ));
        }
        for f in i.fields.iter().filter(|f| f.decision == Decision::Refused) {
            s.push_str(&format!(
                "{}: field {}: {}
",
                i.source, f.field, f.reason
            ));
        }
    }
    s
}

/// Moves (inbox files) or copies (files named on the command line) an input to
/// processed/ or rejected/ of today; a rejected or partial file gets its `.error.txt`.
fn file_away(
    layout: &Layout,
    r: &mut FileReport,
    in_inbox: bool,
    made: &mut Vec<PathBuf>,
) -> Result<()> {
    let day = Local::now().format("%Y-%m-%d").to_string();
    let dir = if r.outcome == FileOutcome::Rejected {
        layout.rejected.join(&day)
    } else {
        layout.processed.join(&day)
    };
    if !made.contains(&dir) {
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        made.push(dir.clone());
    }
    let name = r
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    let to = if in_inbox {
        // The name as it is when free (the common case: no check first), else the first
        // free numbered name.
        let mut to = dir.join(&name);
        while !fsutil::rename_no_replace(&r.file, &to).map_err(|e| Error::io(&r.file, e))? {
            to = free_name(&dir, &name);
        }
        to
    } else if fs::metadata(&r.file).is_ok_and(|m| m.is_file()) {
        let to = free_name(&dir, &name);
        fs::copy(&r.file, &to).map_err(|e| Error::io(&r.file, e))?;
        to
    } else {
        // A FIFO or device named on the command line: nothing to copy (reading it could
        // wait forever); the report says why it was refused.
        return Ok(());
    };
    if matches!(r.outcome, FileOutcome::Rejected | FileOutcome::Partial) {
        let err = to.with_file_name(format!(
            "{}.error.txt",
            to.file_name().unwrap_or_default().to_string_lossy()
        ));
        fsutil::write_atomic(&err, error_text(r).as_bytes())?;
    }
    r.moved_to = Some(to);
    Ok(())
}

/// Ingests `files` (the profile's inbox when empty) for one profile.
pub fn ingest(
    store: &mut dyn Store,
    profile: &Profile,
    drop: &Path,
    files: &[PathBuf],
    opts: &Options,
) -> Result<Report> {
    let layout = Layout::new(drop, &profile.name);
    layout.create()?;
    let _lock = layout.lock(&profile.name)?;
    // A server engine holds the profile across machines too.
    let _held = store.lock_profile(&profile.name)?;
    let from_inbox = files.is_empty();
    // The PST round trip: the profile's PST, changed by its user since smsync wrote it, is
    // moved into the inbox and ingested with the rest (never when Outlook holds it open).
    let pst = if from_inbox && !opts.dry_run {
        crate::export::pst::adopt(&layout)?
    } else {
        None
    };
    let paths = if from_inbox {
        inbox_files(&layout)?
    } else {
        files.to_vec()
    };
    let run_name = format!(
        "ingest-{}",
        crate::clock::run_id(crate::clock::now_micros())
    );
    let run = (!opts.dry_run).then_some(run_name.as_str());
    // The guard needs the size of the profile; a dry run and an allowed run do not.
    let guard = if opts.dry_run || opts.allow_mass_change || paths.is_empty() {
        None
    } else {
        let all = [Kind::Location, Kind::User, Kind::Tech, Kind::Si];
        Some(store.exported_count(profile.employee, &all, u64::MAX)?)
    };
    opts.progress
        .emit(crate::progress::Event::Files(paths.len() as u64));
    let (reports, stopped) = match guard {
        Some(held) => run_guarded(store, profile, &layout, from_inbox, &paths, opts, run, held)?,
        None => (
            run_batches(store, profile, &layout, from_inbox, &paths, opts, run)?,
            None,
        ),
    };
    let mut tally = Tally::default();
    for r in &reports {
        tally.add(&r.tally);
    }
    let changed = !opts.dry_run && stopped.is_none();
    let mut report = Report {
        profile: profile.name.clone(),
        dry_run: !changed,
        files: reports,
        tally,
        report_file: None,
        run: None,
        guard: stopped,
        pst,
    };
    if changed && !report.files.is_empty() {
        report.run = Some(run_name.clone());
        // The file names itself, as the printed report does.
        let path = layout.reports.join(format!("{run_name}.json"));
        report.report_file = Some(path.clone());
        // Streamed: the report of the bench's 100,000 edits is 37 MB, and grows with the items.
        fsutil::write_atomic_with(&path, &mut |w| {
            serde_json::to_writer_pretty(w, &report).map_err(std::io::Error::other)
        })?;
    }
    Ok(report)
}

/// Reads (and hashes) `paths` a batch at a time on a thread of its own, in order; the
/// thread stops when the receiver is dropped.
fn spawn_loader<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    paths: &'scope [PathBuf],
    opts: &'scope Options,
) -> (
    std::sync::mpsc::Receiver<Vec<Input>>,
    std::thread::ScopedJoinHandle<'scope, ()>,
) {
    let (loaded_tx, loaded_rx) = std::sync::mpsc::sync_channel::<Vec<Input>>(1);
    let loader = std::thread::Builder::new()
        .name("ingest-load".into())
        .spawn_scoped(scope, move || {
            for chunk in paths.chunks(opts.batch.max(1)) {
                let inputs: Vec<Input> = chunk
                    .iter()
                    .map(|p| {
                        let input = load(p, opts);
                        if let Some(hook) = opts.after_read {
                            hook(p);
                        }
                        input
                    })
                    .collect();
                if loaded_tx.send(inputs).is_err() {
                    break;
                }
            }
        })
        .expect("a thread to load the files");
    (loaded_rx, loader)
}

/// Reads, applies and files `paths` batch by batch, each batch in a transaction of its
/// own (a run the guard need not see whole: a dry run, `--allow-mass-change`).
fn run_batches(
    store: &mut dyn Store,
    profile: &Profile,
    layout: &Layout,
    from_inbox: bool,
    paths: &[PathBuf],
    opts: &Options,
    run: Option<&str>,
) -> Result<Vec<FileReport>> {
    let mut reports: Vec<FileReport> = Vec::new();
    // Three stages on their own threads, a batch apart: one reads (and hashes) batch n+1,
    // this one applies batch n in one transaction, one files batch n−1 (moves after its
    // commit, then one fsync per folder).
    std::thread::scope(|scope| -> Result<()> {
        let (loaded_rx, loader) = spawn_loader(scope, paths, opts);
        let (applied_tx, applied_rx) =
            std::sync::mpsc::sync_channel::<(Vec<FileReport>, Vec<Input>)>(1);
        let filer = std::thread::Builder::new()
            .name("ingest-file".into())
            .spawn_scoped(scope, move || -> Result<Vec<FileReport>> {
                let mut filed = Vec::new();
                let mut syncs = fsutil::DirSyncs::new();
                for (mut batch, inputs) in applied_rx {
                    if !opts.dry_run {
                        file_batch(layout, from_inbox, &mut batch, &inputs, &mut syncs)?;
                    }
                    filed.extend(batch);
                }
                syncs.finish()?;
                Ok(filed)
            })
            .expect("a thread to file the inputs");
        let mut applied = Ok(());
        for mut inputs in loaded_rx {
            match apply_batch(store, profile, opts, run, &mut inputs) {
                Ok(batch) => {
                    if applied_tx.send((batch, inputs)).is_err() {
                        break; // the filer stopped on an error, returned below
                    }
                }
                Err(e) => {
                    applied = Err(e);
                    break;
                }
            }
        }
        std::mem::drop(applied_tx);
        // The loop dropped the receiver, which ends a loader still sending. One that
        // stopped early (a panic) ended the loop as if there were no more files: a failure.
        let loaded = loader.join();
        let filed = filer
            .join()
            .unwrap_or_else(|_| Err(Error::Other("the filing thread panicked".into())));
        // Files of committed batches are filed even when a later batch failed.
        reports = filed?;
        applied?;
        loaded.map_err(|_| Error::Other("the reading thread panicked".into()))
    })?;
    Ok(reports)
}

/// Asks the database, all at once, what a batch's files will ask of it one by one (see
/// [`crate::store::Lookup::read_ahead`]): whether each was ingested before, and the records
/// of the files read ahead (a CSV's and a PST's are asked for a chunk at a time as they are
/// read).
fn read_batch_ahead(w: &dyn Writer, profile: &Profile, inputs: &[Input]) -> Result<()> {
    let hashes: Vec<&str> = inputs
        .iter()
        .filter(|i| i.bytes.is_some())
        .map(|i| i.hash.as_str())
        .collect();
    if hashes.len() > 1 {
        w.ingested_ahead(&profile.name, &hashes)?;
    }
    let keys: Vec<Key> = inputs
        .iter()
        .filter_map(|i| i.parsed.as_ref())
        .filter_map(|(read, _)| read.as_ref().ok())
        .flat_map(|items| keys_to_read(items))
        .collect();
    if keys.len() > 1 {
        w.read_ahead(profile.employee, &keys)?;
    }
    Ok(())
}

/// Applies files one after the other ([`apply_file`]). Where the engine prefers it
/// ([`Writer::prefers_chunks`]), [`CHUNK`] files at a time in one savepoint, trusting
/// their changes; a group in which anything fails is undone and applied again file by
/// file (the same reports either way).
fn apply_files(
    w: &mut dyn Writer,
    profile: &Profile,
    inputs: &mut [Input],
    opts: &Options,
    run: Option<&str>,
) -> Result<Vec<FileReport>> {
    let mut out = Vec::with_capacity(inputs.len());
    for group in inputs.chunks_mut(if w.prefers_chunks() { CHUNK } else { 1 }) {
        if group.len() > 1 {
            let mut reports = Vec::with_capacity(group.len());
            let tried = w.savepoint(&mut |w| {
                reports.clear();
                for input in group.iter_mut() {
                    reports.push(apply_file(w, profile, input, opts, run, true)?);
                }
                Ok(())
            });
            if tried.is_ok() {
                out.extend(reports);
                continue;
            }
        }
        for input in group.iter_mut() {
            out.push(apply_file(w, profile, input, opts, run, false)?);
        }
    }
    Ok(out)
}

/// Applies one batch of loaded files in one transaction (undone in a dry run); returns
/// their reports.
fn apply_batch(
    store: &mut dyn Store,
    profile: &Profile,
    opts: &Options,
    run: Option<&str>,
    inputs: &mut [Input],
) -> Result<Vec<FileReport>> {
    let mut batch: Vec<FileReport> = Vec::new();
    let mut dry = false;
    let result = store.write_many(&mut |w| {
        batch.clear();
        read_batch_ahead(w, profile, inputs)?;
        // Item problems are reported inside; an error here is the database's own (locked,
        // full disk): the batch stops, its transaction is undone, and its files stay in
        // the inbox. (No savepoint per file: it would add nothing to that, and under it
        // every item's savepoint release walked the file's whole undo journal, which made
        // a 10,000-row CSV quadratic.)
        batch = apply_files(w, profile, inputs, opts, run)?;
        if opts.dry_run {
            // The store undoes a transaction whose closure fails; `dry` tells this error
            // from the database's own.
            dry = true;
            return Err(Error::Other("dry run: rolled back".into()));
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(_) if dry => {}
        Err(e) => return Err(e),
    }
    for _ in &batch {
        opts.progress.emit(crate::progress::Event::File);
    }
    Ok(batch)
}

/// A run under the change guard: every batch applies in one transaction, which commits
/// only after the guard has seen the whole run; a run the guard stops is undone whole (its
/// reports are the plan, and no file moves). The files are read a batch ahead on a thread
/// of their own, and filed after the commit a batch at a time (one fsync per folder per
/// batch). One transaction, not a dry pass over the run and then one per batch: every
/// file is read and applied once, and the database writes each changed page once.
#[allow(clippy::too_many_arguments)]
fn run_guarded(
    store: &mut dyn Store,
    profile: &Profile,
    layout: &Layout,
    from_inbox: bool,
    paths: &[PathBuf],
    opts: &Options,
    run: Option<&str>,
    held: u64,
) -> Result<(Vec<FileReport>, Option<ChangeGuard>)> {
    let mut reports: Vec<FileReport> = Vec::new();
    let mut inputs: Vec<Input> = Vec::new();
    let mut hit = None;
    std::thread::scope(|scope| -> Result<()> {
        let (loaded_rx, loader) = spawn_loader(scope, paths, opts);
        let result = store.write_many(&mut |w| {
            reports.clear();
            inputs.clear();
            for batch in loaded_rx.iter() {
                let mut batch = batch;
                read_batch_ahead(w, profile, &batch)?;
                // Item problems are reported inside; an error here is the database's own:
                // the run stops, undone, and no file moves.
                reports.extend(apply_files(w, profile, &mut batch, opts, run)?);
                for mut input in batch {
                    // Filing needs the path and what was seen; the content can go.
                    input.bytes = None;
                    input.parsed = None;
                    inputs.push(input);
                    opts.progress.emit(crate::progress::Event::File);
                }
            }
            if inputs.len() != paths.len() {
                // The reading thread stopped early (a panic): not the whole run.
                return Err(Error::Other("the reading thread panicked".into()));
            }
            let mut plan = ChangePlan::default();
            for r in &reports {
                plan.add(r);
            }
            hit = change_guard(&plan, held, opts.change_guard, opts.blank_guard_max);
            if hit.is_some() {
                // Undone by the store, as any failing transaction; `hit` tells this error
                // from the database's own.
                return Err(Error::Other("guard: rolled back".into()));
            }
            Ok(())
        });
        // Ends a loader still sending (after an error).
        std::mem::drop(loaded_rx);
        let loaded = loader.join();
        match result {
            Ok(()) => {}
            Err(_) if hit.is_some() => {}
            Err(e) => return Err(e),
        }
        loaded.map_err(|_| Error::Other("the reading thread panicked".into()))
    })?;
    if hit.is_none() {
        let n = opts.batch.max(1);
        let mut syncs = fsutil::DirSyncs::new();
        for (batch, inputs) in reports.chunks_mut(n).zip(inputs.chunks(n)) {
            file_batch(layout, from_inbox, batch, inputs, &mut syncs)?;
        }
        syncs.finish()?;
    }
    Ok((reports, hit))
}

/// Files a committed batch: each file to processed/ or rejected/ (unless it changed while
/// it was read), then one fsync per folder makes the moves durable (on `syncs`' thread,
/// while the next batch is filed).
fn file_batch(
    layout: &Layout,
    from_inbox: bool,
    batch: &mut [FileReport],
    inputs: &[Input],
    syncs: &mut fsutil::DirSyncs,
) -> Result<()> {
    let mut dirs: Vec<PathBuf> = vec![layout.inbox.clone()];
    let mut made: Vec<PathBuf> = Vec::new();
    for (r, input) in batch.iter_mut().zip(inputs) {
        if matches!(r.outcome, FileOutcome::Retry | FileOutcome::Vanished) {
            continue;
        }
        let now = fs::symlink_metadata(&input.path)
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        if input.seen.is_some() && now != input.seen {
            // Replaced while it was read: what was applied is recorded by its hash; the
            // new content stays in the inbox for the next run.
            r.notes.push(
                "the file changed while it was read; it stays in the inbox and is read again"
                    .into(),
            );
            continue;
        }
        let in_inbox = from_inbox || r.file.parent() == Some(layout.inbox.as_path());
        file_away(layout, r, in_inbox, &mut made)?;
        if let Some(d) = r.moved_to.as_ref().and_then(|p| p.parent())
            && !dirs.iter().any(|x| x == d)
        {
            dirs.push(d.to_path_buf());
        }
    }
    syncs.sync(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `--json`, the text output, the journal and the `ingested` table.
    #[test]
    fn outcome_and_format_names_are_the_serialized_ones() {
        use FileOutcome as F;
        use ItemOutcome as I;
        let items = [
            (I::Applied, "applied"),
            (I::Created, "created"),
            (I::Unchanged, "unchanged"),
            (I::Skipped, "skipped"),
            (I::Refused, "refused"),
        ];
        for (o, name) in items {
            assert_eq!((o.as_str(), o.to_string()), (name, name.to_string()));
            assert_eq!(serde_json::to_value(o).unwrap(), name);
        }
        let files = [
            (F::Processed, "processed"),
            (F::Partial, "partial"),
            (F::Rejected, "rejected"),
            (F::Duplicate, "duplicate"),
            (F::Retry, "retry"),
            (F::Vanished, "vanished"),
        ];
        for (o, name) in files {
            assert_eq!((o.as_str(), o.to_string()), (name, name.to_string()));
            assert_eq!(serde_json::to_value(o).unwrap(), name);
        }
        let formats = [
            (Format::Csv, "csv"),
            (Format::VCard, "vcard"),
            (Format::ICalendar, "icalendar"),
            (Format::Pst, "pst"),
            (Format::Msg, "msg"),
            (Format::Binary, "binary"),
            (Format::Unknown, "unknown"),
        ];
        for (f, name) in formats {
            assert_eq!((f.as_str(), f.to_string()), (name, name.to_string()));
            assert_eq!(serde_json::to_value(f).unwrap(), name);
        }
    }

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sniff_tells_the_formats_apart() {
        let cases: [(&[u8], Format); 10] = [
            (b"!BDN....", Format::Pst),
            (
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0],
                Format::Msg,
            ),
            (b"\xEF\xBB\xBF begin:vcard\r\n", Format::VCard),
            (b"BEGIN:VCALENDAR\r\n", Format::ICalendar),
            (b"\r\nbegin:vtodo\r\nUID:x\r\n", Format::ICalendar),
            (b"abc\0def", Format::Binary),
            (b"\xFF\xFEa\0b\0", Format::Csv),
            // UTF-16 with its byte-order mark, as Windows tools save text.
            (b"\xFF\xFEB\0E\0G\0I\0N\0:\0V\0C\0A\0R\0D\0", Format::VCard),
            (
                b"\xFE\xFF\0B\0E\0G\0I\0N\0:\0V\0T\0O\0D\0O",
                Format::ICalendar,
            ),
            (b"\"Subject\",\"Status\"\r\n", Format::Csv),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn a_name_that_claims_another_format_than_csv_content_is_told() {
        let p = |n: &str| PathBuf::from(format!("inbox/{n}"));
        let csv = b"First Name,Last Name\r\nA,B\r\n".as_slice();
        assert_eq!(misnamed(&p("contacts.csv"), csv, Format::Csv), None);
        assert_eq!(misnamed(&p("contacts"), csv, Format::Csv), None);
        // Content decides where it names a format.
        let card = b"BEGIN:VCARD\r\n".as_slice();
        assert_eq!(misnamed(&p("x.csv"), card, sniff(card)), None);
        assert_eq!(misnamed(&p("x.pst"), b"\0\0", Format::Binary), None);
        for (name, says) in [
            ("a.VCF", "a vCard"),
            ("b.ics", "an iCalendar file"),
            ("c.pst", "an Outlook data file"),
            ("d.msg", "an Outlook item"),
        ] {
            let e = misnamed(&p(name), csv, sniff(csv)).unwrap();
            assert!(
                e.contains(says) && e.contains("\"First Name,Last Name\""),
                "{e}"
            );
        }
        // The first line quoted as written, even when the quoted part ends inside a
        // character.
        let long = format!("{}é,b\r\n", "a".repeat(198));
        let e = misnamed(&p("x.vcf"), long.as_bytes(), Format::Csv).unwrap();
        assert!(e.contains("aaaa\"") && !e.contains('Ã'), "{e}");
    }

    fn item(
        key: &str,
        outcome: ItemOutcome,
        fields: &[(&'static str, &str, &str, Decision)],
    ) -> ItemReport {
        ItemReport {
            source: "line 2".into(),
            key: Some(key.into()),
            outcome,
            reason: None,
            fields: fields
                .iter()
                .map(|&(field, database, incoming, decision)| FieldChange {
                    field,
                    database: database.into(),
                    incoming: incoming.into(),
                    decision,
                    reason: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_change_guard_counts_changed_items_and_blanked_fields() {
        let file = FileReport {
            file: "x.csv".into(),
            format: Format::Csv,
            outcome: FileOutcome::Processed,
            moved_to: None,
            error: None,
            notes: Vec::new(),
            tally: Tally::default(),
            items: vec![
                item(
                    "SM-L1",
                    ItemOutcome::Applied,
                    &[
                        ("phone", "+1 555", "", Decision::Applied),
                        ("email", "a@b", "", Decision::ConflictOutlookWon),
                        ("fax", "", "", Decision::Applied),
                        ("web", "w", "", Decision::ConflictDatabaseKept),
                    ],
                ),
                item(
                    "SM-L2",
                    ItemOutcome::Applied,
                    &[("phone", "1", "2", Decision::Applied)],
                ),
                item(
                    "SM-L3",
                    ItemOutcome::Refused,
                    &[("phone", "1", "", Decision::Refused)],
                ),
                item("SM-L4", ItemOutcome::Unchanged, &[]),
            ],
            skipped: Vec::new(),
        };
        let mut plan = ChangePlan::default();
        plan.add(&file);
        assert_eq!(plan.changed, 2);
        let blanked: Vec<(&str, &str)> = plan
            .blanked
            .iter()
            .map(|b| (b.key.as_str(), b.field))
            .collect();
        assert_eq!(blanked, [("SM-L1", "phone"), ("SM-L1", "email")]);
        let t = Threshold {
            percent: 50,
            min: 2,
        };
        // 2 of 4 is not more than half; 2 blanks are within a limit of 2.
        assert_eq!(change_guard(&plan, 4, t, 2), None);
        let g = change_guard(&plan, 3, t, 2).expect("2 of 3");
        assert!(
            g.to_string().contains("change 2 of the profile's 3 items"),
            "{g}"
        );
        assert!(!g.to_string().contains("blank"), "{g}");
        let g = change_guard(&plan, 4, t, 1).expect("2 blanks over 1");
        assert!(
            g.to_string()
                .contains("blank 2 fields (more than 1: SM-L1 phone"),
            "{g}"
        );
    }
}
