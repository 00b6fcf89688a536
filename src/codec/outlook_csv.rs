//! Outlook CSV for the Import/Export wizard: the exact Outlook 2007+ contacts (92 columns)
//! and tasks (22 columns) headers, in the user's language ([`Language`], tables in
//! `langs`), every field quoted, CRLF line ends, in UTF-8 with a BOM, UTF-16 with a BOM or
//! an ANSI code page (Windows-1252, Windows-1250, Shift_JIS). A character that the code
//! page cannot hold is an error that names the column, never a silent replacement.
//! Reading detects the encoding, the separator, the sheet and the language.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

mod langs;
pub use langs::Language;

use super::item::{
    Field, Incoming, Item, Named, outlook_status, priority_from_outlook, si_status_from_outlook,
    split_categories,
};
use super::text::DateFormat;
use crate::fields::FieldDef;
use crate::model::{Key, Kind, SiStatus};

/// The contacts header Outlook 2007 and later write, in order.
pub const CONTACTS_HEADER: [&str; 92] = [
    "Title",
    "First Name",
    "Middle Name",
    "Last Name",
    "Suffix",
    "Company",
    "Department",
    "Job Title",
    "Business Street",
    "Business Street 2",
    "Business Street 3",
    "Business City",
    "Business State",
    "Business Postal Code",
    "Business Country/Region",
    "Home Street",
    "Home Street 2",
    "Home Street 3",
    "Home City",
    "Home State",
    "Home Postal Code",
    "Home Country/Region",
    "Other Street",
    "Other Street 2",
    "Other Street 3",
    "Other City",
    "Other State",
    "Other Postal Code",
    "Other Country/Region",
    "Assistant's Phone",
    "Business Fax",
    "Business Phone",
    "Business Phone 2",
    "Callback",
    "Car Phone",
    "Company Main Phone",
    "Home Fax",
    "Home Phone",
    "Home Phone 2",
    "ISDN",
    "Mobile Phone",
    "Other Fax",
    "Other Phone",
    "Pager",
    "Primary Phone",
    "Radio Phone",
    "TTY/TDD Phone",
    "Telex",
    "Account",
    "Anniversary",
    "Assistant's Name",
    "Billing Information",
    "Birthday",
    "Business Address PO Box",
    "Categories",
    "Children",
    "Directory Server",
    "E-mail Address",
    "E-mail Type",
    "E-mail Display Name",
    "E-mail 2 Address",
    "E-mail 2 Type",
    "E-mail 2 Display Name",
    "E-mail 3 Address",
    "E-mail 3 Type",
    "E-mail 3 Display Name",
    "Gender",
    "Government ID Number",
    "Hobby",
    "Home Address PO Box",
    "Initials",
    "Internet Free Busy",
    "Keywords",
    "Language",
    "Location",
    "Manager's Name",
    "Mileage",
    "Notes",
    "Office Location",
    "Organizational ID Number",
    "Other Address PO Box",
    "Priority",
    "Private",
    "Profession",
    "Referred By",
    "Sensitivity",
    "Spouse",
    "User 1",
    "User 2",
    "User 3",
    "User 4",
    "Web Page",
];

/// The tasks header Outlook writes, in order.
pub const TASKS_HEADER: [&str; 22] = [
    "Subject",
    "Start Date",
    "Due Date",
    "Reminder On/Off",
    "Reminder Date",
    "Reminder Time",
    "Date Completed",
    "% Complete",
    "Total Work",
    "Actual Work",
    "Billing Information",
    "Categories",
    "Companies",
    "Contacts",
    "Mileage",
    "Notes",
    "Priority",
    "Private",
    "Role",
    "Schedule+ Priority",
    "Sensitivity",
    "Status",
];

/// The header of the removals list: the items to delete in Outlook.
pub const REMOVALS_HEADER: [&str; 3] = ["Type", "Key", "Name"];

/// The encoding of a written sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 with a byte-order mark (what Outlook 2010 and later read without asking).
    #[default]
    Utf8Bom,
    /// Western European ANSI code page (English, German, French, Spanish, Italian, Dutch,
    /// Portuguese, Swedish Windows).
    Windows1252,
    /// Central European ANSI code page (Polish Windows).
    Windows1250,
    /// Code page 932 (Japanese Windows).
    ShiftJis,
    /// UTF-16 little-endian with a byte-order mark (Excel's "Unicode text").
    Utf16,
}

impl Encoding {
    /// Every encoding, in the order `parse` lists them.
    pub const ALL: [Encoding; 5] = [
        Encoding::Utf8Bom,
        Encoding::Windows1252,
        Encoding::Windows1250,
        Encoding::ShiftJis,
        Encoding::Utf16,
    ];

    /// An encoding by name: `utf-8`, `windows-1252`, `windows-1250`, `shift_jis`, `utf-16`
    /// (and `utf8`, `cp1252`, `1252`, `cp1250`, `1250`, `shift-jis`, `sjis`, `cp932`, `932`,
    /// `utf16`, `utf-16le`), ignoring case.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8Bom),
            "windows-1252" | "cp1252" | "1252" => Some(Encoding::Windows1252),
            "windows-1250" | "cp1250" | "1250" => Some(Encoding::Windows1250),
            "shift_jis" | "shift-jis" | "sjis" | "cp932" | "932" | "windows-31j" => {
                Some(Encoding::ShiftJis)
            }
            "utf-16" | "utf16" | "utf-16le" => Some(Encoding::Utf16),
            _ => None,
        }
    }

    /// The name `parse` reads and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8Bom => "utf-8",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Windows1250 => "windows-1250",
            Encoding::ShiftJis => "shift_jis",
            Encoding::Utf16 => "utf-16",
        }
    }

    /// The code page's encoder; `None` for the Unicode encodings, which hold every character.
    fn code_page(self) -> Option<&'static encoding_rs::Encoding> {
        match self {
            Encoding::Utf8Bom | Encoding::Utf16 => None,
            Encoding::Windows1252 => Some(encoding_rs::WINDOWS_1252),
            Encoding::Windows1250 => Some(encoding_rs::WINDOWS_1250),
            Encoding::ShiftJis => Some(encoding_rs::SHIFT_JIS),
        }
    }

    /// Whether the encoding can hold `ch`.
    pub fn holds(self, ch: char) -> bool {
        match self.code_page() {
            None => true,
            Some(_) if ch.is_ascii() => true,
            Some(enc) => {
                let mut buf = [0u8; 4];
                !enc.encode(ch.encode_utf8(&mut buf)).2
            }
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which Outlook CSV a codec writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sheet {
    Contacts,
    Tasks,
    Removals,
}

impl Sheet {
    /// The English header.
    pub fn header(self) -> &'static [&'static str] {
        match self {
            Sheet::Contacts => &CONTACTS_HEADER,
            Sheet::Tasks => &TASKS_HEADER,
            Sheet::Removals => &REMOVALS_HEADER,
        }
    }

    /// The localized names of the sheet's columns (`(English, localized)`).
    fn names(self, lang: Language) -> &'static [(&'static str, &'static str)] {
        match self {
            Sheet::Contacts => lang.contacts(),
            Sheet::Tasks => lang.tasks(),
            Sheet::Removals => &[],
        }
    }

    /// The header in `lang`: each column's localized name where a source gives one, else
    /// the English name. The removals list is smsync's own and stays English.
    pub fn header_in(self, lang: Language) -> Vec<&'static str> {
        let names = self.names(lang);
        self.header()
            .iter()
            .map(|en| names.iter().find(|(e, _)| e == en).map_or(*en, |(_, l)| *l))
            .collect()
    }
}

/// A character that the chosen encoding cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unencodable {
    pub column: &'static str,
    pub ch: char,
}

/// Turns items into rows of one sheet.
pub struct Codec {
    sheet: Sheet,
    dates: DateFormat,
    /// The English name of each column to its index.
    column: HashMap<&'static str, usize, super::FnvBuild>,
    /// The column of each field of the field table, by kind and position there (what
    /// `column` says of its CSV column, without hashing the name for every value).
    field_columns: Vec<(Kind, Vec<Option<usize>>)>,
    /// The header as written (in the codec's language).
    header: Vec<&'static str>,
}

impl Codec {
    /// An English sheet.
    pub fn new(sheet: Sheet, dates: DateFormat) -> Self {
        Codec::with_language(sheet, dates, Language::En)
    }

    /// A sheet whose header is in `lang` (the rows are the same: values, not names).
    pub fn with_language(sheet: Sheet, dates: DateFormat, lang: Language) -> Self {
        let column: HashMap<&'static str, usize, super::FnvBuild> = sheet
            .header()
            .iter()
            .enumerate()
            .map(|(i, h)| (*h, i))
            .collect();
        let field_columns = [Kind::Location, Kind::User, Kind::Tech, Kind::Si]
            .into_iter()
            .map(|k| {
                let cols = crate::fields::of(k)
                    .iter()
                    .map(|f| f.csv.and_then(|c| column.get(c).copied()))
                    .collect();
                (k, cols)
            })
            .collect();
        Codec {
            sheet,
            dates,
            column,
            field_columns,
            header: sheet.header_in(lang),
        }
    }

    /// The header this codec's rows go under.
    pub fn header(&self) -> &[&'static str] {
        &self.header
    }

    /// The column of a field's CSV column in this sheet, if it has one.
    fn column_of(&self, f: &'static FieldDef) -> Option<usize> {
        // A field of the table is found by its place there; any other by its column name.
        let defs = crate::fields::of(f.kind);
        let at = (f as *const FieldDef as usize).wrapping_sub(defs.as_ptr() as usize)
            / std::mem::size_of::<FieldDef>();
        if defs.get(at).is_some_and(|d| std::ptr::eq(d, f))
            && let Some((_, cols)) = self.field_columns.iter().find(|(k, _)| *k == f.kind)
        {
            return cols[at];
        }
        f.csv.and_then(|c| self.column.get(c).copied())
    }

    /// Adds `value` to cell `i`: several fields share Outlook's task Contacts list, joined
    /// with "; ".
    fn put(row: &mut [String], i: usize, value: &str) {
        let cell = &mut row[i];
        if cell.is_empty() {
            cell.push_str(value);
        } else if !value.is_empty() {
            cell.push_str("; ");
            cell.push_str(value);
        }
    }

    /// The row of an item, driven by the CSV columns of the field table.
    pub fn row(&self, item: &Item) -> Vec<String> {
        let mut row = Vec::new();
        self.row_into(item, &mut row);
        row
    }

    /// [`Codec::row`] into `row`, whose cells are emptied and refilled (an export renders
    /// every row into the same cells, which keep their room).
    pub fn row_into(&self, item: &Item, row: &mut Vec<String>) {
        let width = self.sheet.header().len();
        row.truncate(width);
        for cell in row.iter_mut() {
            cell.clear();
        }
        row.resize_with(width, String::new);
        for &(f, ref v) in &item.values {
            let Some(col) = self.column_of(f) else {
                continue;
            };
            let text;
            let value: &str = match (f.name, v) {
                (_, Field::Date(d)) => {
                    text = self.dates.format(Some(*d));
                    &text
                }
                ("status", Field::Text(s)) => s.parse().map_or("Deferred", outlook_status),
                (_, Field::List(l)) if l.len() == 1 => &l[0],
                (_, Field::List(l)) => {
                    text = l.join(";");
                    &text
                }
                (_, Field::Text(s)) => s,
                (_, v) => {
                    text = v.to_text();
                    &text
                }
            };
            Self::put(row, col, value);
        }
        match self.sheet {
            Sheet::Contacts => {
                let mut name = None;
                for (addr, kind, display) in [
                    ("E-mail Address", "E-mail Type", "E-mail Display Name"),
                    ("E-mail 2 Address", "E-mail 2 Type", "E-mail 2 Display Name"),
                ] {
                    let email = &row[self.column[addr]];
                    if !email.is_empty() {
                        let name = name.get_or_insert_with(|| item.display_name());
                        let shown = format!("{name} ({email})");
                        let cell = &mut row[self.column[kind]];
                        cell.clear();
                        cell.push_str("SMTP");
                        row[self.column[display]] = shown;
                    }
                }
                for (col, v) in [
                    ("Gender", "Unspecified"),
                    ("Priority", "Normal"),
                    ("Private", "False"),
                    ("Sensitivity", "Normal"),
                ] {
                    let cell = &mut row[self.column[col]];
                    cell.clear();
                    cell.push_str(v);
                }
            }
            Sheet::Tasks => {
                let closed = item.si_status() == Some(SiStatus::Closed);
                for col in ["Start Date", "Due Date", "Reminder Date", "Date Completed"] {
                    let i = self.column[col];
                    if row[i].is_empty() || (col == "Date Completed" && !closed) {
                        row[i] = self.dates.format(None);
                    }
                }
                for (col, v) in [
                    ("Reminder On/Off", "False"),
                    ("% Complete", if closed { "100%" } else { "0%" }),
                    ("Total Work", "0"),
                    ("Actual Work", "0"),
                    ("Private", "False"),
                    ("Sensitivity", "Normal"),
                ] {
                    let cell = &mut row[self.column[col]];
                    cell.clear();
                    cell.push_str(v);
                }
            }
            Sheet::Removals => {}
        }
    }

    /// The removals row of an item that left Outlook.
    pub fn removal(kind: Kind, key: &str, name: &str) -> Vec<String> {
        let t = if kind == Kind::Si { "Task" } else { "Contact" };
        vec![t.into(), key.into(), name.into()]
    }

    /// The characters of a row that `encoding` cannot hold, with their columns.
    /// The column is named as the sheet's header names it (in its language).
    pub fn check(&self, row: &[String], encoding: Encoding) -> Vec<Unencodable> {
        if encoding.code_page().is_none() {
            return Vec::new();
        }
        let mut bad = Vec::new();
        for (i, cell) in row.iter().enumerate() {
            if cell.is_ascii() {
                continue;
            }
            for ch in cell.chars().filter(|c| !encoding.holds(*c)) {
                bad.push(Unencodable {
                    column: self.header.get(i).copied().unwrap_or("?"),
                    ch,
                });
            }
        }
        bad
    }
}

/// Neutralises spreadsheet formulas (CSV injection): a cell that begins with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading apostrophe, so a spreadsheet shows it as
/// text instead of evaluating it. Only for files meant for spreadsheets: Outlook's import
/// would keep the apostrophe (and phone numbers begin with `+`).
pub fn neutralise(row: &mut [String]) {
    for cell in row.iter_mut() {
        if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            cell.insert(0, '\'');
        }
    }
}

/// Appends one row as Outlook writes it: every field quoted, quotes doubled, `,` between
/// fields, CRLF at the end (what `csv::QuoteStyle::Always` writes; done here so that a row
/// is encoded once and the same bytes go to every sheet that holds it).
pub fn encode_row<S: AsRef<str>>(row: &[S], out: &mut Vec<u8>) {
    /// `,""` over and over: a run of empty cells (most of an Outlook row) is one copy.
    const EMPTY_RUN: [u8; 3 * 128] = {
        let mut b = [b'"'; 3 * 128];
        let mut i = 0;
        while i < 128 {
            b[3 * i] = b',';
            i += 1;
        }
        b
    };
    fn quoted(out: &mut Vec<u8>, cell: &[u8]) {
        out.push(b'"');
        if !cell.contains(&b'"') {
            out.extend_from_slice(cell);
        } else {
            for (j, piece) in cell.split(|&b| b == b'"').enumerate() {
                if j > 0 {
                    out.extend_from_slice(b"\"\"");
                }
                out.extend_from_slice(piece);
            }
        }
        out.push(b'"');
    }
    // Room for every cell, its quotes and comma, and the line end, before any quote
    // doubles: most rows need no more.
    out.reserve(row.iter().map(|c| c.as_ref().len() + 3).sum::<usize>() + 2);
    let mut cells = row.iter().map(|c| c.as_ref().as_bytes());
    if let Some(first) = cells.next() {
        quoted(out, first);
    }
    // Empty cells not yet written.
    let mut empty = 0usize;
    let flush = |out: &mut Vec<u8>, empty: &mut usize| {
        while *empty > 0 {
            let n = (*empty).min(128);
            out.extend_from_slice(&EMPTY_RUN[..3 * n]);
            *empty -= n;
        }
    };
    for cell in cells {
        if cell.is_empty() {
            empty += 1;
            continue;
        }
        flush(out, &mut empty);
        out.push(b',');
        quoted(out, cell);
    }
    flush(out, &mut empty);
    out.extend_from_slice(b"\r\n");
}

/// Writes quoted CSV rows with CRLF ends in the chosen encoding to `W`.
pub struct Sink<W: Write> {
    out: Transcode<W>,
    line: Vec<u8>,
}

impl<W: Write> Sink<W> {
    /// Starts an English sheet: the BOM (UTF-8, UTF-16) and the header.
    pub fn new(inner: W, sheet: Sheet, encoding: Encoding) -> std::io::Result<Self> {
        Sink::with_header(inner, sheet.header(), encoding)
    }

    /// Starts a sheet under `header` (e.g. [`Codec::header`], in the codec's language).
    /// A header the encoding cannot hold is an error (the tables' names are checked against
    /// their languages' code pages in the tests).
    pub fn with_header(inner: W, header: &[&str], encoding: Encoding) -> std::io::Result<Self> {
        let mut out = Transcode {
            inner,
            encoding,
            pending: Vec::new(),
        };
        match encoding {
            Encoding::Utf8Bom => out.inner.write_all(b"\xEF\xBB\xBF")?,
            Encoding::Utf16 => out.inner.write_all(b"\xFF\xFE")?,
            _ => {}
        }
        let mut line = Vec::with_capacity(1024);
        encode_row(header, &mut line);
        out.write_all(&line)?;
        Ok(Sink { out, line })
    }

    /// Writes a row already checked with [`Codec::check`].
    pub fn row(&mut self, row: &[String]) -> std::io::Result<()> {
        self.line.clear();
        encode_row(row, &mut self.line);
        self.out.write_all(&self.line)
    }

    /// Writes a row encoded by [`encode_row`] (UTF-8; transcoded here).
    pub fn encoded(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.out.write_all(line)
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

/// UTF-8 in, the target encoding out; holds back a character split across writes.
struct Transcode<W: Write> {
    inner: W,
    encoding: Encoding,
    pending: Vec<u8>,
}

impl<W: Write> Write for Transcode<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let code_page = match self.encoding {
            Encoding::Utf8Bom => return self.inner.write(buf),
            e => e.code_page(),
        };
        self.pending.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        };
        let text = std::str::from_utf8(&self.pending[..valid]).expect("validated");
        match code_page {
            None => {
                let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
                self.inner.write_all(&bytes)?;
            }
            Some(enc) => {
                let (bytes, _, had_errors) = enc.encode(text);
                if had_errors {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "a character {} cannot hold reached the writer unchecked",
                            self.encoding
                        ),
                    ));
                }
                self.inner.write_all(&bytes)?;
            }
        }
        self.pending.drain(..valid);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "an incomplete UTF-8 character at the end of the CSV",
            ));
        }
        self.inner.flush()
    }
}

/// Outlook 2000/2003 English names of 2007+ columns.
const ENGLISH_ALIASES: &[(&str, &str)] = &[
    ("Business Country", "Business Country/Region"),
    ("Home Country", "Home Country/Region"),
    ("Other Country", "Other Country/Region"),
    ("PO Box", "Business Address PO Box"),
];

/// A header cell as it is compared: no BOM, no outer spaces, lower case.
fn norm_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}').trim().to_lowercase()
}

/// A column's place in Outlook's order (contacts, then tasks), which orders the columns
/// that share one localized name.
fn outlook_order(en: &str) -> usize {
    CONTACTS_HEADER
        .iter()
        .chain(TASKS_HEADER.iter())
        .position(|c| *c == en)
        .unwrap_or(usize::MAX)
}

/// The English column of a name in English (2007+ or 2000/2003), if Outlook writes it.
fn english(norm: &str) -> Option<&'static str> {
    CONTACTS_HEADER
        .iter()
        .chain(TASKS_HEADER.iter())
        .find(|c| c.to_lowercase() == norm)
        .copied()
        .or_else(|| {
            ENGLISH_ALIASES
                .iter()
                .find(|(a, _)| a.to_lowercase() == norm)
                .map(|(_, c)| *c)
        })
}

/// A header read as `lang`: the English column of each cell (`None`: not a column smsync
/// knows), and how many cells matched. A cell matches the language's own names first,
/// then the English ones (which every language keeps some of). A localized name that
/// stands for several columns gives its n-th occurrence the n-th of them in Outlook's
/// order; a column already taken is not taken again.
fn resolve(cells: &[String], lang: Language) -> (Vec<Option<&'static str>>, usize) {
    let own: Vec<(&str, &str)> = [Sheet::Contacts, Sheet::Tasks]
        .iter()
        .flat_map(|s| s.names(lang).iter())
        .chain(lang.read_only().iter())
        .map(|(e, l)| (*e, *l))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut taken: Vec<&'static str> = Vec::new();
    let mut out = Vec::with_capacity(cells.len());
    let mut matched = 0;
    for cell in cells {
        let n = norm_header(cell);
        let nth = {
            let c = seen.entry(n.clone()).or_insert(0);
            *c += 1;
            *c - 1
        };
        let mut cols: Vec<&'static str> = own
            .iter()
            .filter(|(_, l)| l.to_lowercase() == n)
            .map(|(e, _)| *e)
            .collect();
        cols.sort_by_key(|e| outlook_order(e));
        cols.dedup();
        let col = cols
            .get(nth)
            .copied()
            .or_else(|| english(&n))
            .filter(|c| !taken.contains(c));
        if let Some(c) = col {
            taken.push(c);
            matched += 1;
        }
        out.push(col);
    }
    (out, matched)
}

/// The language whose names match the most cells (English first among equals).
fn detect_language(cells: &[String]) -> (Language, Vec<Option<&'static str>>, usize) {
    let mut best: Option<(Language, Vec<Option<&'static str>>, usize)> = None;
    for lang in Language::ALL {
        let (cols, n) = resolve(cells, lang);
        if best.as_ref().is_none_or(|(_, _, m)| n > *m) {
            best = Some((lang, cols, n));
        }
    }
    best.expect("at least one language")
}

/// The first line's cells of a decoded text, as the CSV reader splits them.
fn header_cells(text: &str) -> Vec<String> {
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rec = csv::StringRecord::new();
    match rd.read_record(&mut rec) {
        Ok(true) => rec.iter().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Decodes a CSV: a BOM (UTF-8, UTF-16) decides; else valid UTF-8 is UTF-8; else the ANSI
/// code page (Windows-1252, Windows-1250, Shift_JIS) under which the header matches the
/// most known columns in any language (Windows-1252 among equals). Returns the text and
/// the encoding's name.
/// Valid UTF-8 is borrowed, not copied.
fn decode_csv(bytes: &[u8]) -> (Cow<'_, str>, &'static str) {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = enc.decode_without_bom_handling(&bytes[bom..]);
        let name = match enc.name() {
            "UTF-8" => "utf-8",
            "UTF-16LE" => "utf-16",
            _ => "utf-16be",
        };
        return (text, name);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (Cow::Borrowed(s), "utf-8 (no BOM)");
    }
    let mut best: Option<(String, &'static str, usize)> = None;
    for enc in [
        Encoding::Windows1252,
        Encoding::Windows1250,
        Encoding::ShiftJis,
    ] {
        let cp = enc.code_page().expect("a code page");
        let (text, _, had_errors) = cp.decode(bytes);
        if had_errors && enc != Encoding::Windows1252 {
            continue;
        }
        let score = detect_language(&header_cells(&text)).2;
        if best.as_ref().is_none_or(|(_, _, m)| score > *m) {
            best = Some((text.into_owned(), enc.name(), score));
        }
    }
    let (text, name, _) = best.expect("windows-1252 always decodes");
    (Cow::Owned(text), name)
}

/// What the CSV reader found in a file.
#[derive(Debug)]
pub struct Read {
    pub sheet: Sheet,
    pub encoding: &'static str,
    pub language: Language,
    /// Header cells that are no Outlook column smsync knows; their values are ignored.
    pub unknown_columns: Vec<String>,
    pub items: Vec<Incoming>,
}

/// The list separator of a CSV: the most frequent of `,`, `;` and tab outside quotes in
/// its first line.
fn delimiter(text: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => break,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// Reads an Outlook contacts or tasks CSV (detected by its header: English 2000/2003 and
/// 2007+, and the languages of [`Language`]; UTF-8 with or without BOM, UTF-16 with BOM,
/// Windows-1252, Windows-1250, Shift_JIS).
pub fn read(bytes: &[u8], dates: &DateFormat) -> std::result::Result<Read, String> {
    let mut items = Vec::new();
    let info = read_each(bytes, dates, Unmarked::Whole, &mut |i| items.push(i))?;
    Ok(Read {
        sheet: info.sheet,
        encoding: info.encoding,
        language: info.language,
        unknown_columns: info.unknown_columns,
        items,
    })
}

/// What [`read_each`] keeps of a contact row without the `!Update` category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmarked {
    /// Every field.
    Whole,
    /// Its key and categories only: all an ingest looks at (it skips such a contact). Its
    /// dates are still read, so that one the profile's format cannot read refuses the row
    /// as it does in a whole read.
    KeyOnly,
}

/// What [`read_each`] found besides the items.
#[derive(Debug)]
pub struct Info {
    pub sheet: Sheet,
    /// The encoding as read: `utf-8`, `utf-8 (no BOM)`, `utf-16`, `utf-16be`,
    /// `windows-1252`, `windows-1250` or `shift_jis`.
    pub encoding: &'static str,
    /// The language of the header (the one whose names matched the most columns).
    pub language: Language,
    pub unknown_columns: Vec<String>,
}

/// [`read`], handing each item to `each` as soon as its row is read. An error (the header,
/// a flood of rows) comes before the first item: the rows are counted first (when the line
/// breaks allow too many).
pub fn read_each(
    bytes: &[u8],
    dates: &DateFormat,
    unmarked: Unmarked,
    each: &mut dyn FnMut(Incoming),
) -> std::result::Result<Info, String> {
    let (text, encoding) = decode_csv(bytes);
    let builder = || {
        let mut b = csv::ReaderBuilder::new();
        b.delimiter(delimiter(&text))
            .has_headers(false)
            .flexible(true);
        b
    };
    let mut rd = builder().from_reader(text.as_bytes());
    let mut header = csv::StringRecord::new();
    match rd.read_record(&mut header) {
        Ok(true) => {}
        Ok(false) => return Err("the file is empty".into()),
        Err(e) => return Err(format!("the header line cannot be read: {e}")),
    }
    let cells: Vec<String> = header.iter().map(str::to_string).collect();
    let (language, resolved, _) = detect_language(&cells);
    let mut columns: HashMap<&'static str, usize> = HashMap::new();
    let mut names: HashMap<&'static str, String> = HashMap::new();
    let mut unknown_columns = Vec::new();
    for (i, (h, col)) in cells.iter().zip(&resolved).enumerate() {
        match col {
            Some(c) => {
                columns.entry(c).or_insert(i);
                names.entry(c).or_insert_with(|| h.trim().to_string());
            }
            None if !h.trim().is_empty() => unknown_columns.push(h.trim().to_string()),
            None => {}
        }
    }
    let sheet = if columns.contains_key("User 1")
        || (columns.contains_key("First Name") && columns.contains_key("Last Name"))
    {
        Sheet::Contacts
    } else if columns.contains_key("Subject") {
        Sheet::Tasks
    } else {
        return Err(
            "the header names neither Outlook contacts (First Name, Last Name, User 1) nor \
             tasks (Subject, Billing Information); export from Outlook with File > Open & \
             Export > Import/Export > Export to a file > Comma Separated Values"
                .into(),
        );
    };
    // A file that repeats rows to blow up memory is refused before any of it is used. A
    // row ends at a line break, so a file with few line breaks has few rows: only a file
    // that may hold too many is parsed twice to count them.
    if 1 + line_breaks(text.as_bytes()) > super::item::MAX_ITEMS + 1 {
        let mut counter = builder().from_reader(text.as_bytes());
        let mut raw = csv::ByteRecord::new();
        let mut rows = 0usize;
        while counter.read_byte_record(&mut raw).unwrap_or(true) {
            rows += 1;
            if rows > super::item::MAX_ITEMS + 1 {
                return Err(format!(
                    "the file holds more than {} rows; split it into smaller exports",
                    super::item::MAX_ITEMS
                ));
            }
        }
    }
    // Rows are numbered as a spreadsheet shows them: the header is row 1. Each row is
    // read under `guarded`, so that once items flow a panic costs a row, never the file
    // (the caller may have applied the rows before it).
    let mut row = csv::StringRecord::new();
    let mut i = 0usize;
    loop {
        let source = || format!("row {}", i + 2);
        let before = rd.position().byte();
        match super::guarded(|| rd.read_record(&mut row)) {
            Err(panic) => {
                each(Incoming {
                    seen: None,
                    source: source(),
                    item: Err(format!(
                        "{panic}; this row and the rows after it were not read"
                    )),
                });
                break;
            }
            Ok(Ok(false)) => break,
            Ok(Ok(true)) => {
                if !row.iter().all(|c| c.trim().is_empty()) {
                    each(Incoming {
                        seen: None,
                        source: source(),
                        item: super::guarded(|| {
                            row_item(
                                sheet,
                                &row,
                                &Columns {
                                    at: &columns,
                                    names: &names,
                                },
                                dates,
                                unmarked,
                            )
                        })
                        .and_then(|item| item),
                    });
                }
            }
            Ok(Err(e)) => {
                each(Incoming {
                    seen: None,
                    source: source(),
                    item: Err(format!("the row cannot be read: {e}")),
                });
                // The reader moves past a bad row; one that did not would repeat forever.
                if rd.position().byte() == before {
                    break;
                }
            }
        }
        i += 1;
    }
    Ok(Info {
        sheet,
        encoding,
        language,
        unknown_columns,
    })
}

/// How many line breaks (LF, CR LF or a lone CR: each ends a CSV row) a text holds.
fn line_breaks(b: &[u8]) -> usize {
    let lf = b.iter().filter(|&&c| c == b'\n').count();
    if !b.contains(&b'\r') {
        return lf;
    }
    let lone_cr = b
        .windows(2)
        .filter(|w| w[0] == b'\r' && w[1] != b'\n')
        .count();
    lf + lone_cr + usize::from(b.last() == Some(&b'\r'))
}

/// Where a sheet's columns are (by English name), and how its header names them.
struct Columns<'a> {
    at: &'a HashMap<&'static str, usize>,
    names: &'a HashMap<&'static str, String>,
}

/// One row as an item: the key picks the record kind, the field table the columns.
fn row_item(
    sheet: Sheet,
    row: &csv::StringRecord,
    cols: &Columns,
    dates: &DateFormat,
    unmarked: Unmarked,
) -> std::result::Result<Item, String> {
    let columns = cols.at;
    let shown = |col: &str| cols.names.get(col).map_or(col.to_string(), |n| n.clone());
    let cell = |col: &str| columns.get(col).and_then(|&i| row.get(i)).map(str::trim);
    let (key_col, kind) = match sheet {
        Sheet::Tasks => ("Billing Information", None),
        _ => ("User 1", Some(())),
    };
    let raw_key = cell(key_col).unwrap_or("");
    let key = if raw_key.is_empty() {
        None
    } else {
        let k: Key = raw_key.parse().map_err(|_| {
            format!("{key_col} holds '{raw_key}', which is not a Service Master key")
        })?;
        Some(k)
    };
    let kind = match (kind, key) {
        (Some(()), None) => {
            return Err(format!(
                "no key in {key_col}: new contacts cannot be created in Outlook; edit a \
                 contact that smsync exported (its key is in {key_col})"
            ));
        }
        (Some(()), Some(k)) if !k.kind.is_contact() => {
            return Err(format!("{key_col} holds {k}, which is not a contact's key"));
        }
        (Some(()), Some(k)) => k.kind,
        (None, Some(k)) if k.kind != Kind::Si => {
            return Err(format!(
                "{key_col} holds {k}, which is not an SI key (SI-<number>)"
            ));
        }
        (None, _) => Kind::Si,
    };
    // A contact without `!Update`, read for ingest: its categories (and its dates checked).
    let key_only = unmarked == Unmarked::KeyOnly
        && kind != Kind::Si
        && !crate::fields::get(kind, "category")
            .and_then(|f| f.csv)
            .and_then(cell)
            .is_some_and(|raw| {
                split_categories(raw)
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(super::item::UPDATE_CATEGORY))
            });
    let mut values = Vec::new();
    for f in crate::fields::of(kind) {
        let Some(col) = f.csv else { continue };
        if f.name == "key" || !columns.contains_key(col) {
            continue;
        }
        let raw = cell(col).unwrap_or("");
        if key_only && f.name != "category" {
            if f.ty == crate::fields::Ty::Date {
                dates
                    .read(raw)
                    .map_err(|e| format!("column '{}': {e}", shown(col)))?;
            }
            continue;
        }
        let field = match (f.name, f.ty) {
            ("category", _) => Field::List(split_categories(raw)),
            ("status", _) if raw.is_empty() => continue,
            ("status", _) => Field::Text(
                si_status_from_outlook(raw)
                    .ok_or_else(|| {
                        format!(
                            "Status '{raw}' is not an Outlook task status (In Progress, \
                             Waiting on someone else, Completed, Not Started, Deferred)"
                        )
                    })?
                    .to_string(),
            ),
            ("priority", _) if raw.is_empty() => continue,
            ("priority", _) => Field::Text(
                priority_from_outlook(raw)
                    .ok_or_else(|| format!("Priority '{raw}' is not Low, Normal or High"))?
                    .to_string(),
            ),
            (_, crate::fields::Ty::Date) => {
                match dates
                    .read(raw)
                    .map_err(|e| format!("column '{}': {e}", shown(col)))?
                {
                    Some(d) => Field::Date(d),
                    None => Field::Text(String::new()),
                }
            }
            (_, crate::fields::Ty::Ref(Kind::Location) | crate::fields::Ty::Refs(_)) => {
                Field::Names(
                    raw.split(';')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(|n| Named {
                            key: None,
                            name: n.to_string(),
                        })
                        .collect(),
                )
            }
            _ => Field::Text(raw.to_string()),
        };
        values.push((f, field));
    }
    Ok(Item {
        kind,
        key,
        uid: None,
        values,
        modified: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_only_reads_an_unmarked_contact_as_its_key_and_categories() {
        let csv = "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\
                   \"SM-U1\",\"+1 555 0101\",\"Clients\"\r\n\
                   \"SM-U2\",\"+1 555 0102\",\"Clients;!update\"\r\n";
        let names = |unmarked| {
            let mut items = Vec::new();
            read_each(csv.as_bytes(), &DateFormat::default(), unmarked, &mut |i| {
                items.push(i)
            })
            .unwrap();
            items
                .into_iter()
                .map(|i| {
                    let item = i.item.unwrap();
                    let names: Vec<&str> = item.values.iter().map(|(f, _)| f.name).collect();
                    (item.key.unwrap().to_string(), names.join(" "))
                })
                .collect::<Vec<_>>()
        };
        let pair = |k: &str, n: &str| (k.to_string(), n.to_string());
        assert_eq!(
            names(Unmarked::KeyOnly),
            [pair("SM-U1", "category"), pair("SM-U2", "mobile category")]
        );
        assert_eq!(
            names(Unmarked::Whole),
            [
                pair("SM-U1", "mobile category"),
                pair("SM-U2", "mobile category")
            ]
        );
    }

    #[test]
    fn line_breaks_count_every_row_end() {
        for (text, n) in [
            ("", 0),
            ("a", 0),
            ("a\r\nb\r\n", 2),
            ("a\nb\rc\r", 3),
            ("\r\r\n\n", 3),
        ] {
            assert_eq!(line_breaks(text.as_bytes()), n, "{text:?}");
        }
    }

    #[test]
    fn formulas_are_neutralised_on_request() {
        let mut row = vec![
            "=HYPERLINK(\"x\")".to_string(),
            "+1 555".into(),
            "-2".into(),
            "@SUM(A1)".into(),
            "plain".into(),
            String::new(),
        ];
        neutralise(&mut row);
        assert_eq!(
            row,
            [
                "'=HYPERLINK(\"x\")",
                "'+1 555",
                "'-2",
                "'@SUM(A1)",
                "plain",
                ""
            ]
        );
    }

    #[test]
    fn headers_have_outlooks_column_counts() {
        assert_eq!(CONTACTS_HEADER.len(), 92);
        assert_eq!(TASKS_HEADER.len(), 22);
        assert_eq!(CONTACTS_HEADER[0], "Title");
        assert_eq!(CONTACTS_HEADER[91], "Web Page");
    }

    #[test]
    fn every_csv_column_of_the_field_table_is_in_a_header() {
        for f in crate::fields::all() {
            if let Some(col) = f.csv {
                let header: &[&str] = if f.kind == Kind::Si {
                    &TASKS_HEADER
                } else {
                    &CONTACTS_HEADER
                };
                assert!(header.contains(&col), "{}.{}: {col}", f.kind, f.name);
            }
        }
    }

    #[test]
    fn windows_1252_sink_transcodes_and_check_names_columns() {
        let codec = Codec::new(Sheet::Removals, DateFormat::default());
        let row = vec![
            "Contact".to_string(),
            "SM-U1".into(),
            "Müller Łukasz".into(),
        ];
        let bad = codec.check(&row, Encoding::Windows1252);
        assert_eq!(
            bad,
            vec![Unencodable {
                column: "Name",
                ch: 'Ł'
            }]
        );
        let ok_row = vec!["Contact".to_string(), "SM-U1".into(), "Café Müller".into()];
        assert!(codec.check(&ok_row, Encoding::Windows1252).is_empty());
        let mut sink = Sink::new(Vec::new(), Sheet::Removals, Encoding::Windows1252).unwrap();
        sink.row(&ok_row).unwrap();
        let bytes = sink.finish().unwrap();
        assert_eq!(
            bytes,
            b"\"Type\",\"Key\",\"Name\"\r\n\"Contact\",\"SM-U1\",\"Caf\xE9 M\xFCller\"\r\n"
        );
    }

    #[test]
    fn encoded_rows_read_back_equal_and_match_the_csv_crates_quote_always() {
        let cells = [
            "",
            "plain",
            "a,b",
            "say \"hi\"",
            "\"",
            "\"\"",
            "two\r\nlines",
            "tab\there",
            "Müller",
            "=1+2",
            " lead",
            "end ",
        ];
        // Every cell, and rows of every length up to all of them, in a rotating order; and
        // long rows of mostly empty cells (runs of up to 300) with a few values among them.
        let mut rows: Vec<Vec<String>> = Vec::new();
        for n in 1..=cells.len() {
            for start in 0..cells.len() {
                rows.push(
                    (0..n)
                        .map(|i| cells[(start + i * 7) % cells.len()].to_string())
                        .collect(),
                );
            }
        }
        for n in [92, 129, 300] {
            for every in [1, 2, 50, 128, 129, 1000] {
                rows.push(
                    (0..n)
                        .map(|i| if i % every == 1 { "v\"x" } else { "" }.to_string())
                        .collect(),
                );
            }
        }
        {
            for row in rows {
                let mut ours = Vec::new();
                encode_row(&row, &mut ours);
                let mut theirs = csv::WriterBuilder::new()
                    .quote_style(csv::QuoteStyle::Always)
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(Vec::new());
                theirs.write_record(&row).unwrap();
                assert_eq!(ours, theirs.into_inner().unwrap(), "{row:?}");
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .from_reader(ours.as_slice());
                let back: Vec<String> = reader
                    .records()
                    .next()
                    .unwrap()
                    .unwrap()
                    .iter()
                    .map(str::to_string)
                    .collect();
                assert_eq!(back, row);
            }
        }
    }
}
