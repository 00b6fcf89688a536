//! Reading a full Outlook export for reconcile, through the same readers as ingest and
//! `inspect`: an Outlook CSV (any language and encoding the CSV codec reads), a PST, a
//! vCard or iCalendar file, or a vdir folder (`contacts/` and/or `tasks/`, or one such
//! folder). An item a reader refuses keeps the reader's reason and what the file shows of
//! it, as `inspect` shows it; a contact refused only for having no key keeps its name and
//! e-mail, to be matched against the synced set.

use std::path::{Path, PathBuf};

use crate::codec::item::Incoming;
use crate::codec::outlook_csv::{self, Language, Sheet};
use crate::codec::text::{self, DateFormat};
use crate::error::{Error, Result};
use crate::ingest::Format;
use crate::model::Key;

use super::plan::{Compared, Found, FoundItem, Side};

/// How to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The profile's CSV date format.
    pub dates: DateFormat,
    /// The smsync binary, to read a PST in a child process first (as ingest does).
    pub pst_checker: Option<PathBuf>,
    /// Told of each item read.
    pub progress: crate::progress::Progress,
}

/// One input as read.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    /// What it was read as: csv, pst, vcard, icalendar, vdir.
    pub format: String,
    /// The reader's notes (language and encoding of a sheet, folders passed over).
    pub notes: Vec<String>,
    /// How many items it holds.
    pub items: usize,
}

/// The inputs read, their items, and the sides they cover.
#[derive(Debug, Default)]
pub struct Read {
    pub inputs: Vec<Input>,
    pub found: Vec<Found>,
    pub compared: Compared,
}

impl Read {
    pub fn names(&self) -> Vec<String> {
        self.inputs.iter().map(|i| i.name.clone()).collect()
    }

    /// Adds another reading's inputs after this one's, as if all had been read together.
    pub fn append(&mut self, other: Read) {
        let offset = self.inputs.len();
        self.inputs.extend(other.inputs);
        self.found.extend(other.found.into_iter().map(|mut f| {
            f.file += offset;
            f
        }));
        for side in [Side::Contacts, Side::Tasks] {
            if other.compared.covers(side) {
                self.compared.add(side);
            }
        }
    }
}

/// Reads every path; a path that cannot be read at all (missing, not an export) is an
/// error naming it.
pub fn read_all(paths: &[PathBuf], opts: &ReadOptions) -> Result<Read> {
    let mut out = Read::default();
    for (i, p) in paths.iter().enumerate() {
        let name = p.display().to_string();
        let before = out.found.len();
        let (format, notes) = if p.is_dir() {
            read_vdir(p, i, opts, &mut out)?;
            ("vdir".to_string(), Vec::new())
        } else {
            read_file(p, i, opts, &mut out)?
        };
        out.inputs.push(Input {
            name,
            format,
            notes,
            items: out.found.len() - before,
        });
    }
    Ok(out)
}

/// One file: a sheet, a PST, a vCard or iCalendar file.
fn read_file(
    path: &Path,
    index: usize,
    opts: &ReadOptions,
    out: &mut Read,
) -> Result<(String, Vec<String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = crate::ingest::sniff(&bytes);
    let mut notes = Vec::new();
    let bad = |e: String| Error::invalid(format!("{}: {e}", path.display()));
    if let Some(e) = crate::ingest::misnamed(path, &bytes, format) {
        return Err(bad(e));
    }
    match format {
        Format::Csv => {
            let read = crate::codec::guarded(|| outlook_csv::read(&bytes, &opts.dates))
                .and_then(|r| r)
                .map_err(bad)?;
            notes.push(format!(
                "read as Outlook {:?} CSV, language {} ({}), encoding {}",
                read.sheet,
                read.language.code(),
                read.language.name(),
                read.encoding
            ));
            let side = if read.sheet == Sheet::Tasks {
                Side::Tasks
            } else {
                Side::Contacts
            };
            out.compared.add(side);
            let raw = CsvRaw::new(&bytes, read.sheet, read.language, &read.items);
            for inc in read.items {
                let what = match inc.item {
                    Ok(item) => FoundItem::Item(item),
                    Err(error) => raw.failed(&inc.source, side, error),
                };
                push(out, index, inc.source, what, opts);
            }
        }
        Format::VCard | Format::ICalendar => {
            let items = crate::ingest::read_items(path, &bytes, format, &reader(opts), &mut notes)
                .map_err(bad)?;
            let side = if format == Format::VCard {
                Side::Contacts
            } else {
                Side::Tasks
            };
            out.compared.add(side);
            let text = text::decode(&bytes).0;
            for inc in items {
                let what = text_failed(&text, side, inc.item, &inc.source);
                push(out, index, inc.source, what, opts);
            }
        }
        Format::Pst => {
            let items = crate::ingest::read_items(path, &bytes, format, &reader(opts), &mut notes)
                .map_err(bad)?;
            for inc in items {
                let what = pst_item(inc.item, inc.seen.as_ref());
                match &what {
                    FoundItem::Item(it) => out.compared.add(Side::of(it.kind)),
                    FoundItem::Keyless { side, .. } => out.compared.add(*side),
                    FoundItem::Unreadable { kind, .. } if kind == "task" => {
                        out.compared.add(Side::Tasks)
                    }
                    FoundItem::Unreadable { kind, .. } if kind == "contact" => {
                        out.compared.add(Side::Contacts)
                    }
                    FoundItem::Unreadable { .. } => {}
                }
                push(out, index, inc.source, what, opts);
            }
        }
        Format::Msg => {
            return Err(bad(
                "a .msg holds one Outlook item, not a full export; export the whole \
                 profile (a CSV of contacts and of tasks, or a PST)"
                    .into(),
            ));
        }
        Format::Binary | Format::Unknown => {
            return Err(bad(
                "this is not an Outlook CSV, PST, vCard or iCalendar file; reconcile reads \
                 a full export of the profile's Outlook"
                    .into(),
            ));
        }
    }
    Ok((format.as_str().to_string(), notes))
}

/// A vdir: the folder's `contacts/` and `tasks/`, or the folder itself when it has
/// neither (one collection). A side is compared when its folder exists.
fn read_vdir(dir: &Path, index: usize, opts: &ReadOptions, out: &mut Read) -> Result<()> {
    let contacts = dir.join("contacts");
    let tasks = dir.join("tasks");
    let collections: Vec<PathBuf> = if contacts.is_dir() || tasks.is_dir() {
        [contacts, tasks]
            .into_iter()
            .filter(|d| d.is_dir())
            .collect()
    } else {
        vec![dir.to_path_buf()]
    };
    for c in collections {
        let mut files = Vec::new();
        for e in std::fs::read_dir(&c).map_err(|e| Error::io(&c, e))? {
            let e = e.map_err(|err| Error::io(&c, err))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
            let is_file = e.file_type().is_ok_and(|t| t.is_file());
            if is_file
                && !crate::ingest::is_temp_name(&name)
                && matches!(ext.as_str(), "vcf" | "ics")
            {
                files.push(e.path());
            }
        }
        files.sort();
        let c_name = c.file_name().map(|n| n.to_string_lossy().into_owned());
        let own = c.as_path() == dir;
        // The side of a collection: its folder's name, else its files.
        let folder_side = match c_name.as_deref() {
            Some("contacts") if !own => Some(Side::Contacts),
            Some("tasks") if !own => Some(Side::Tasks),
            _ => None,
        };
        if let Some(s) = folder_side {
            out.compared.add(s);
        }
        for f in files {
            let bytes = std::fs::read(&f).map_err(|e| Error::io(&f, e))?;
            let rel = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
            let format = crate::ingest::sniff(&bytes);
            let side = match format {
                Format::VCard => Side::Contacts,
                Format::ICalendar => Side::Tasks,
                _ => {
                    let what = FoundItem::Unreadable {
                        key: None,
                        kind: "unknown".into(),
                        fields: Vec::new(),
                        error: "neither a vCard nor an iCalendar file".into(),
                    };
                    push(out, index, rel, what, opts);
                    continue;
                }
            };
            out.compared.add(side);
            let mut notes = Vec::new();
            let text = text::decode(&bytes).0;
            match crate::ingest::read_items(&f, &bytes, format, &reader(opts), &mut notes) {
                Ok(items) => {
                    for inc in items {
                        let what = text_failed(&text, side, inc.item, &inc.source);
                        push(out, index, format!("{rel} {}", inc.source), what, opts);
                    }
                }
                Err(error) => {
                    let what = FoundItem::Unreadable {
                        key: None,
                        kind: side.noun().into(),
                        fields: Vec::new(),
                        error,
                    };
                    push(out, index, rel, what, opts);
                }
            }
        }
    }
    Ok(())
}

fn reader(opts: &ReadOptions) -> crate::ingest::Options {
    crate::ingest::Options {
        dates: opts.dates.clone(),
        pst_checker: opts.pst_checker.clone(),
        ..Default::default()
    }
}

fn push(out: &mut Read, file: usize, source: String, what: FoundItem, opts: &ReadOptions) {
    opts.progress.emit(crate::progress::Event::Item);
    out.found.push(Found { file, source, what });
}

/// A PST item: read, keyless (the MAPI fields show no key), or unreadable with what the
/// reader saw.
fn pst_item(
    item: std::result::Result<crate::codec::item::Item, String>,
    seen: Option<&crate::codec::item::Seen>,
) -> FoundItem {
    let error = match item {
        Ok(it) => return FoundItem::Item(it),
        Err(e) => e,
    };
    let (kind, fields) = seen
        .map(|s| (s.kind.to_string(), s.fields.clone()))
        .unwrap_or_else(|| ("unknown".into(), Vec::new()));
    let get = |n: &str| {
        fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let key: Option<Key> = get("key").parse().ok();
    if kind == "contact" && get("key").is_empty() {
        let person = join_name(&get("first_name"), &get("last_name"));
        let name = [person, get("display_name"), get("client"), get("company")]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        return FoundItem::Keyless {
            side: Side::Contacts,
            name,
            email: get("email"),
        };
    }
    FoundItem::Unreadable {
        key,
        kind,
        fields,
        error,
    }
}

fn join_name(first: &str, last: &str) -> String {
    [first.trim(), last.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A vCard or VTODO item: read, keyless (a card without UID), or unreadable with its
/// properties (as `inspect` shows them).
fn text_failed(
    text: &str,
    side: Side,
    item: std::result::Result<crate::codec::item::Item, String>,
    source: &str,
) -> FoundItem {
    let error = match item {
        Ok(it) => return FoundItem::Item(it),
        Err(e) => e,
    };
    let (block, n) = match side {
        Side::Contacts => ("VCARD", source.strip_prefix("card ")),
        Side::Tasks => ("VTODO", source.strip_prefix("VTODO ")),
    };
    let fields = n
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map_or(Vec::new(), |n| {
            crate::codec::text::block_props(text, block, n)
        });
    let get = |p: &str| {
        fields
            .iter()
            .find(|(k, _)| k == p)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let uid = get("UID");
    if side == Side::Contacts && uid.is_empty() {
        let n_raw = get_raw(&fields, "N");
        let n: Vec<&str> = n_raw.split(';').collect();
        let name = [
            get("FN"),
            join_name(
                n.get(1).copied().unwrap_or(""),
                n.first().copied().unwrap_or(""),
            ),
            get("ORG").replace(';', " - "),
        ]
        .into_iter()
        .find(|s| !s.trim().is_empty())
        .unwrap_or_default();
        return FoundItem::Keyless {
            side,
            name,
            email: get("EMAIL"),
        };
    }
    FoundItem::Unreadable {
        key: uid.trim_start_matches("urn:uuid:").parse().ok(),
        kind: side.noun().into(),
        fields,
        error,
    }
}

fn get_raw(fields: &[(String, String)], p: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == p)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The raw cells of the rows a CSV reader refused, read in one pass: what `inspect` shows
/// (the non-empty cells under the file's own header), and for a keyless contact its name
/// and e-mail through the header's language.
struct CsvRaw {
    header: Vec<String>,
    /// Row number (as the reader counts: the header is row 1) to its cells.
    rows: std::collections::HashMap<usize, Vec<String>>,
    /// English column name to its index.
    english: std::collections::HashMap<&'static str, usize>,
}

impl CsvRaw {
    fn new(bytes: &[u8], sheet: Sheet, lang: Language, items: &[Incoming]) -> CsvRaw {
        let wanted: std::collections::HashSet<usize> = items
            .iter()
            .filter(|i| i.item.is_err())
            .filter_map(|i| i.source.strip_prefix("row ")?.parse().ok())
            .collect();
        let mut raw = CsvRaw {
            header: Vec::new(),
            rows: Default::default(),
            english: Default::default(),
        };
        if wanted.is_empty() {
            return raw;
        }
        let text = text::decode(bytes).0;
        let first = text.lines().next().unwrap_or_default();
        let sep = [b',', b';', b'\t']
            .into_iter()
            .max_by_key(|c| first.bytes().filter(|b| b == c).count())
            .unwrap_or(b',');
        let mut rd = csv::ReaderBuilder::new()
            .delimiter(sep)
            .flexible(true)
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut records = rd.records();
        if let Some(Ok(h)) = records.next() {
            raw.header = h
                .iter()
                .map(|c| c.trim_start_matches('\u{feff}').trim().to_string())
                .collect();
        }
        let local = sheet.header_in(lang);
        for (en, loc) in sheet.header().iter().zip(&local) {
            if let Some(i) = raw
                .header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(loc) || h.eq_ignore_ascii_case(en))
            {
                raw.english.insert(en, i);
            }
        }
        // Rows as the reader numbers them: blank rows are skipped but counted.
        for (i, r) in records.enumerate() {
            let row = i + 2;
            if let Ok(r) = r
                && wanted.contains(&row)
            {
                raw.rows.insert(row, r.iter().map(str::to_string).collect());
            }
        }
        raw
    }

    fn failed(&self, source: &str, side: Side, error: String) -> FoundItem {
        let cells = source
            .strip_prefix("row ")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.rows.get(&n));
        let Some(cells) = cells else {
            return FoundItem::Unreadable {
                key: None,
                kind: side.noun().into(),
                fields: Vec::new(),
                error,
            };
        };
        let col = |en: &str| {
            self.english
                .get(en)
                .and_then(|&i| cells.get(i))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let key_col = if side == Side::Tasks {
            "Billing Information"
        } else {
            "User 1"
        };
        let raw_key = col(key_col);
        if side == Side::Contacts && raw_key.is_empty() {
            let person = join_name(&col("First Name"), &col("Last Name"));
            let org = [col("Company"), col("Office Location")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" - ");
            return FoundItem::Keyless {
                side,
                name: if person.is_empty() { org } else { person },
                email: col("E-mail Address"),
            };
        }
        let fields = self
            .header
            .iter()
            .zip(cells.iter())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(h, v)| (h.clone(), v.clone()))
            .collect();
        FoundItem::Unreadable {
            key: raw_key.parse().ok(),
            kind: side.noun().into(),
            fields,
            error,
        }
    }
}
