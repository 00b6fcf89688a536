//! Outlook CSV writing for the Import/Export wizard: the exact Outlook 2007+ contacts
//! (92 columns) and tasks (22 columns) headers, every field quoted, CRLF line ends, UTF-8
//! with a BOM or Windows-1252. A character that Windows-1252 cannot hold is an error that
//! names the column, never a silent replacement.

use std::collections::HashMap;
use std::io::Write;

use super::item::{
    Field, Incoming, Item, Named, outlook_status, priority_from_outlook, si_status_from_outlook,
    split_categories,
};
use super::text::DateFormat;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Utf8Bom,
    Windows1252,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8Bom),
            "windows-1252" | "cp1252" | "1252" => Some(Encoding::Windows1252),
            _ => None,
        }
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
    pub fn header(self) -> &'static [&'static str] {
        match self {
            Sheet::Contacts => &CONTACTS_HEADER,
            Sheet::Tasks => &TASKS_HEADER,
            Sheet::Removals => &REMOVALS_HEADER,
        }
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
    column: HashMap<&'static str, usize>,
}

impl Codec {
    pub fn new(sheet: Sheet, dates: DateFormat) -> Self {
        let column = sheet
            .header()
            .iter()
            .enumerate()
            .map(|(i, h)| (*h, i))
            .collect();
        Codec {
            sheet,
            dates,
            column,
        }
    }

    fn put(&self, row: &mut [String], column: &str, value: String) {
        if let Some(&i) = self.column.get(column) {
            if row[i].is_empty() {
                row[i] = value;
            } else if !value.is_empty() {
                // Several fields share Outlook's task Contacts list.
                row[i] = format!("{}; {value}", row[i]);
            }
        }
    }

    /// The row of an item, driven by the CSV columns of the field table.
    pub fn row(&self, item: &Item) -> Vec<String> {
        let mut row = vec![String::new(); self.sheet.header().len()];
        for (f, v) in &item.values {
            let Some(col) = f.csv else { continue };
            let text = match (f.name, v) {
                (_, Field::Date(d)) => self.dates.format(Some(*d)),
                ("status", Field::Text(s)) => {
                    s.parse().map_or("Deferred", outlook_status).to_string()
                }
                (_, Field::List(l)) => l.join(";"),
                (_, v) => v.to_text(),
            };
            self.put(&mut row, col, text);
        }
        match self.sheet {
            Sheet::Contacts => {
                let name = item.display_name();
                for (addr, kind, display) in [
                    ("E-mail Address", "E-mail Type", "E-mail Display Name"),
                    ("E-mail 2 Address", "E-mail 2 Type", "E-mail 2 Display Name"),
                ] {
                    let email = row[self.column[addr]].clone();
                    if !email.is_empty() {
                        row[self.column[kind]] = "SMTP".into();
                        row[self.column[display]] = format!("{name} ({email})");
                    }
                }
                for (col, v) in [
                    ("Gender", "Unspecified"),
                    ("Priority", "Normal"),
                    ("Private", "False"),
                    ("Sensitivity", "Normal"),
                ] {
                    row[self.column[col]] = v.into();
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
                    row[self.column[col]] = v.into();
                }
            }
            Sheet::Removals => {}
        }
        row
    }

    /// The removals row of an item that left Outlook.
    pub fn removal(kind: Kind, key: &str, name: &str) -> Vec<String> {
        let t = if kind == Kind::Si { "Task" } else { "Contact" };
        vec![t.into(), key.into(), name.into()]
    }

    /// The characters of a row that `encoding` cannot hold, with their columns.
    pub fn check(&self, row: &[String], encoding: Encoding) -> Vec<Unencodable> {
        if encoding == Encoding::Utf8Bom {
            return Vec::new();
        }
        let mut bad = Vec::new();
        for (i, cell) in row.iter().enumerate() {
            if cell.is_ascii() {
                continue;
            }
            for ch in cell.chars().filter(|c| !c.is_ascii()) {
                let mut buf = [0u8; 4];
                let (_, _, had_errors) = encoding_rs::WINDOWS_1252.encode(ch.encode_utf8(&mut buf));
                if had_errors {
                    bad.push(Unencodable {
                        column: self.sheet.header()[i],
                        ch,
                    });
                }
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
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        for (j, piece) in cell.as_ref().as_bytes().split(|&b| b == b'"').enumerate() {
            if j > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(piece);
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes quoted CSV rows with CRLF ends in the chosen encoding to `W`.
pub struct Sink<W: Write> {
    out: Transcode<W>,
    line: Vec<u8>,
}

impl<W: Write> Sink<W> {
    /// Starts a sheet: the BOM (UTF-8) and the header.
    pub fn new(inner: W, sheet: Sheet, encoding: Encoding) -> std::io::Result<Self> {
        let mut out = Transcode {
            inner,
            encoding,
            pending: Vec::new(),
        };
        if encoding == Encoding::Utf8Bom {
            out.inner.write_all(b"\xEF\xBB\xBF")?;
        }
        let mut line = Vec::with_capacity(1024);
        encode_row(sheet.header(), &mut line);
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
        if self.encoding == Encoding::Utf8Bom {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        };
        let text = std::str::from_utf8(&self.pending[..valid]).expect("validated");
        let (bytes, _, had_errors) = encoding_rs::WINDOWS_1252.encode(text);
        if had_errors {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a character Windows-1252 cannot hold reached the writer unchecked",
            ));
        }
        self.inner.write_all(&bytes)?;
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

/// Other names of Outlook's columns, mapped to the English 2007+ names: Outlook 2000/2003
/// and German Outlook.
const ALIASES: &[(&str, &str)] = &[
    ("Business Country", "Business Country/Region"),
    ("Home Country", "Home Country/Region"),
    ("Other Country", "Other Country/Region"),
    ("PO Box", "Business Address PO Box"),
    ("Anrede", "Title"),
    ("Vorname", "First Name"),
    ("Weitere Vornamen", "Middle Name"),
    ("Nachname", "Last Name"),
    ("Firma", "Company"),
    ("Abteilung", "Department"),
    ("Position", "Job Title"),
    ("Straße geschäftlich", "Business Street"),
    ("Ort geschäftlich", "Business City"),
    ("Region geschäftlich", "Business State"),
    ("Bundesland/Kanton geschäftlich", "Business State"),
    ("Postleitzahl geschäftlich", "Business Postal Code"),
    ("Land/Region geschäftlich", "Business Country/Region"),
    ("Land geschäftlich", "Business Country/Region"),
    ("Fax geschäftlich", "Business Fax"),
    ("Telefon geschäftlich", "Business Phone"),
    ("Telefon geschäftlich 2", "Business Phone 2"),
    ("Telefon privat", "Home Phone"),
    ("Mobiltelefon", "Mobile Phone"),
    ("Weiteres Telefon", "Other Phone"),
    ("E-Mail-Adresse", "E-mail Address"),
    ("E-Mail 2: Adresse", "E-mail 2 Address"),
    ("E-Mail 2-Adresse", "E-mail 2 Address"),
    ("Kategorien", "Categories"),
    ("Notizen", "Notes"),
    ("Büro", "Office Location"),
    ("Benutzer 1", "User 1"),
    ("Webseite", "Web Page"),
    ("Betreff", "Subject"),
    ("Beginnt am", "Start Date"),
    ("Fällig am", "Due Date"),
    ("Erledigt am", "Date Completed"),
    ("Abrechnungsinformationen", "Billing Information"),
    ("Firmen", "Companies"),
    ("Kontakte", "Contacts"),
    ("Priorität", "Priority"),
    ("% erledigt", "% Complete"),
];

/// The English 2007+ name of a column header, if Outlook writes it.
fn canonical(header: &str) -> Option<&'static str> {
    let h = header.trim().trim_start_matches('\u{feff}');
    CONTACTS_HEADER
        .iter()
        .chain(TASKS_HEADER.iter())
        .find(|c| c.eq_ignore_ascii_case(h))
        .copied()
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(h))
                .map(|(_, c)| *c)
        })
}

/// What the CSV reader found in a file.
#[derive(Debug)]
pub struct Read {
    pub sheet: Sheet,
    pub encoding: &'static str,
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

/// Reads an Outlook contacts or tasks CSV (detected by its header; English 2000/2003 and
/// 2007+, German; UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252).
pub fn read(bytes: &[u8], dates: &DateFormat) -> std::result::Result<Read, String> {
    let mut items = Vec::new();
    let info = read_each(bytes, dates, &mut |i| items.push(i))?;
    Ok(Read {
        sheet: info.sheet,
        encoding: info.encoding,
        unknown_columns: info.unknown_columns,
        items,
    })
}

/// What [`read_each`] found besides the items.
#[derive(Debug)]
pub struct Info {
    pub sheet: Sheet,
    pub encoding: &'static str,
    pub unknown_columns: Vec<String>,
}

/// [`read`], handing each item to `each` as soon as its row is read. An error (the header,
/// a flood of rows) comes before the first item: the rows are counted first.
pub fn read_each(
    bytes: &[u8],
    dates: &DateFormat,
    each: &mut dyn FnMut(Incoming),
) -> std::result::Result<Info, String> {
    let (text, encoding) = super::text::decode(bytes);
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
    let mut columns: HashMap<&'static str, usize> = HashMap::new();
    let mut unknown_columns = Vec::new();
    for (i, h) in header.iter().enumerate() {
        match canonical(h) {
            Some(c) => {
                columns.entry(c).or_insert(i);
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
    // A file that repeats rows to blow up memory is refused before any of it is used.
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
                        source: source(),
                        item: super::guarded(|| row_item(sheet, &row, &columns, dates))
                            .and_then(|item| item),
                    });
                }
            }
            Ok(Err(e)) => {
                each(Incoming {
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
        unknown_columns,
    })
}

/// One row as an item: the key picks the record kind, the field table the columns.
fn row_item(
    sheet: Sheet,
    row: &csv::StringRecord,
    columns: &HashMap<&'static str, usize>,
    dates: &DateFormat,
) -> std::result::Result<Item, String> {
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
    let mut values = Vec::new();
    for f in crate::fields::of(kind) {
        let Some(col) = f.csv else { continue };
        if f.name == "key" || !columns.contains_key(col) {
            continue;
        }
        let raw = cell(col).unwrap_or("");
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
                match dates.read(raw).map_err(|e| format!("{col}: {e}"))? {
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
        // Every cell, and rows of every length up to all of them, in a rotating order.
        for n in 1..=cells.len() {
            for start in 0..cells.len() {
                let row: Vec<String> = (0..n)
                    .map(|i| cells[(start + i * 7) % cells.len()].to_string())
                    .collect();
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
