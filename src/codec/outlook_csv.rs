//! Outlook CSV writing for the Import/Export wizard: the exact Outlook 2007+ contacts
//! (92 columns) and tasks (22 columns) headers, every field quoted, CRLF line ends, UTF-8
//! with a BOM or Windows-1252. A character that Windows-1252 cannot hold is an error that
//! names the column, never a silent replacement.

use std::collections::HashMap;
use std::io::Write;

use super::item::{Field, Item, outlook_status};
use super::text::DateFormat;
use crate::model::Kind;

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
                ("status", Field::Text(s)) => outlook_status(s).to_string(),
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
                let closed = item.si_status() == Some("Closed");
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

/// Writes quoted CSV rows with CRLF ends in the chosen encoding to `W`.
pub struct Sink<W: Write> {
    out: csv::Writer<Transcode<W>>,
}

impl<W: Write> Sink<W> {
    /// Starts a sheet: the BOM (UTF-8) and the header.
    pub fn new(inner: W, sheet: Sheet, encoding: Encoding) -> std::io::Result<Self> {
        let mut t = Transcode {
            inner,
            encoding,
            pending: Vec::new(),
        };
        if encoding == Encoding::Utf8Bom {
            t.inner.write_all(b"\xEF\xBB\xBF")?;
        }
        let mut out = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Always)
            .terminator(csv::Terminator::CRLF)
            .from_writer(t);
        out.write_record(sheet.header())?;
        Ok(Sink { out })
    }

    /// Writes a row already checked with [`Codec::check`].
    pub fn row(&mut self, row: &[String]) -> std::io::Result<()> {
        self.out.write_record(row).map_err(std::io::Error::other)
    }

    pub fn finish(self) -> std::io::Result<W> {
        let mut t = self
            .out
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        t.flush()?;
        Ok(t.inner)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
