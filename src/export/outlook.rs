//! The Outlook CSV output (`outlook/`): per run, the changed contacts and tasks and the
//! items to delete in Outlook (`changes/<run>-*.csv`), and the full-set sheets
//! `contacts.csv` and `tasks.csv` for the Import wizard. A row is encoded once for both the
//! change file and a full sheet written along with it.

use std::path::PathBuf;

use super::Layout;
use super::output::{LazySheet, Output, OutputKind, Put, Refusal, SetSource, Side, Written};
use crate::codec::item::Item;
use crate::codec::outlook_csv::{self, Codec, Encoding, Language, Sheet, Sink, Unencodable};
use crate::codec::text::DateFormat;
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::model::Key;

pub struct OutlookCsv {
    layout: Layout,
    encoding: Encoding,
    csv_safe: bool,
    contacts_codec: Codec,
    tasks_codec: Codec,
    removal_codec: Codec,
    contacts_changes: LazySheet,
    tasks_changes: LazySheet,
    removals: LazySheet,
    /// In a run that writes a side whole, its full-set sheet is written along with the
    /// changes (the same rows) instead of by a second pass over the database.
    contacts_full: Option<LazySheet>,
    tasks_full: Option<LazySheet>,
    refusals: Vec<Refusal>,
    /// The row and the CSV line being written (reused).
    row: Vec<String>,
    line: Vec<u8>,
}

impl OutlookCsv {
    pub fn new(
        layout: Layout,
        run_id: &str,
        encoding: Encoding,
        dates: DateFormat,
        csv_safe: bool,
        language: Language,
    ) -> Self {
        let contacts_codec = Codec::with_language(Sheet::Contacts, dates.clone(), language);
        let tasks_codec = Codec::with_language(Sheet::Tasks, dates.clone(), language);
        let removal_codec = Codec::with_language(Sheet::Removals, dates, language);
        let change = |what: &str, codec: &Codec| {
            LazySheet::with_header(
                layout.changes.join(format!("{run_id}-{what}.csv")),
                codec.header().to_vec(),
            )
        };
        OutlookCsv {
            contacts_changes: change("contacts", &contacts_codec),
            tasks_changes: change("tasks", &tasks_codec),
            removals: change("removals", &removal_codec),
            contacts_codec,
            tasks_codec,
            removal_codec,
            contacts_full: None,
            tasks_full: None,
            layout,
            encoding,
            csv_safe,
            refusals: Vec::new(),
            row: Vec::new(),
            line: Vec::with_capacity(1024),
        }
    }

    fn codec(&self, side: Side) -> &Codec {
        match side {
            Side::Contacts => &self.contacts_codec,
            Side::Tasks => &self.tasks_codec,
        }
    }

    fn sheet_path(&self, side: Side) -> PathBuf {
        self.layout.outlook.join(format!("{}.csv", side.name()))
    }

    /// Renders an item's row into `self.row`, checked against the encoding: `false` when
    /// the encoding cannot hold a value, which is recorded (naming item, column and
    /// character), and the row is left out.
    fn checked_row(&mut self, side: Side, item: &Item) -> bool {
        let mut row = std::mem::take(&mut self.row);
        self.codec(side).row_into(item, &mut row);
        if self.csv_safe {
            outlook_csv::neutralise(&mut row);
        }
        let bad = self.codec(side).check(&row, self.encoding);
        self.row = row;
        if bad.is_empty() {
            return true;
        }
        let key = item.key.map(|k| k.to_string()).unwrap_or_default();
        let file = self.sheet_path(side);
        self.refuse(&file, &key, &bad);
        false
    }

    /// Records what a row cannot hold, once per item, file, column and character (an item
    /// may be tried twice in a run: in the change pages and as a pending one).
    fn refuse(&mut self, file: &std::path::Path, item: &str, bad: &[Unencodable]) {
        for b in bad {
            let r = Refusal {
                output: OutputKind::Outlook.name(),
                file: file.to_path_buf(),
                item: item.to_string(),
                column: b.column.to_string(),
                character: b.ch.to_string(),
                code_point: format!("U+{:04X}", b.ch as u32),
                encoding: self.encoding.to_string(),
            };
            if !self.refusals.contains(&r) {
                self.refusals.push(r);
            }
        }
    }

    /// Streams the full set of a side into its sheet.
    fn stream_full_set(&mut self, side: Side, set: &mut SetSource) -> Result<()> {
        let path = self.sheet_path(side);
        let file = AtomicFile::create(&path)?;
        let mut sink = Sink::with_header(file, self.codec(side).header(), self.encoding)
            .map_err(|e| Error::io(&path, e))?;
        let mut refused: Vec<(Key, Vec<Unencodable>)> = Vec::new();
        let (codec, encoding, safe) = (self.codec(side), self.encoding, self.csv_safe);
        let mut row = Vec::new();
        set(&mut |r| {
            let key = r.key;
            let item = Item::from_owned(r);
            codec.row_into(&item, &mut row);
            if safe {
                outlook_csv::neutralise(&mut row);
            }
            let bad = codec.check(&row, encoding);
            if bad.is_empty() {
                sink.row(&row).map_err(|e| Error::io(&path, e))?;
            } else {
                refused.push((key, bad));
            }
            Ok(())
        })?;
        // The sheet holds every item it can; the others are reported, once each (a change
        // page of this run may have reported them already).
        for (key, bad) in refused {
            self.refuse(&path, &key.to_string(), &bad);
        }
        let f = sink.finish().map_err(|e| Error::io(&path, e))?;
        f.commit()
    }
}

impl Output for OutlookCsv {
    fn kind(&self) -> OutputKind {
        OutputKind::Outlook
    }

    fn begin_side(&mut self, side: Side, full: bool) {
        let sheet = full.then(|| {
            LazySheet::with_header(self.sheet_path(side), self.codec(side).header().to_vec())
        });
        match side {
            Side::Contacts => self.contacts_full = sheet,
            Side::Tasks => self.tasks_full = sheet,
        }
    }

    fn put(&mut self, _w: &mut Written, side: Side, item: &Item, in_set: bool) -> Result<Put> {
        if !self.checked_row(side, item) {
            return Ok(Put::Refused);
        }
        self.line.clear();
        outlook_csv::encode_row(&self.row, &mut self.line);
        let (changes, full) = match side {
            Side::Contacts => (&mut self.contacts_changes, &mut self.contacts_full),
            Side::Tasks => (&mut self.tasks_changes, &mut self.tasks_full),
        };
        changes.line(&self.line, self.encoding)?;
        if let (true, Some(full)) = (in_set, full.as_mut()) {
            full.line(&self.line, self.encoding)?;
        }
        Ok(Put::Done)
    }

    fn remove(&mut self, item: &Item) -> Result<Put> {
        let key = item.key.expect("exported items have keys");
        let row = Codec::removal(key.kind, &key.to_string(), &item.display_name());
        let bad = self.removal_codec.check(&row, self.encoding);
        if !bad.is_empty() {
            let file = self.removals.path().to_path_buf();
            self.refuse(&file, &key.to_string(), &bad);
            return Ok(Put::Refused);
        }
        self.line.clear();
        outlook_csv::encode_row(&row, &mut self.line);
        self.removals.line(&self.line, self.encoding)?;
        Ok(Put::Done)
    }

    fn full_set_file(&self, side: Side) -> Option<bool> {
        Some(self.sheet_path(side).exists())
    }

    fn write_full_set(&mut self, side: Side, set: &mut SetSource) -> Result<()> {
        let teed = match side {
            Side::Contacts => self.contacts_full.take(),
            Side::Tasks => self.tasks_full.take(),
        };
        // A run that wrote the side whole wrote the set along with the changes; an empty
        // set still gets its header-only sheet.
        let written = match teed {
            Some(sheet) => sheet.commit()?.is_some(),
            _ => false,
        };
        if !written {
            self.stream_full_set(side, set)?;
        }
        Ok(())
    }

    fn refusals(&self) -> &[Refusal] {
        &self.refusals
    }

    fn commit(self: Box<Self>) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let this = *self;
        for sheet in [this.contacts_changes, this.tasks_changes, this.removals] {
            files.extend(sheet.commit()?);
        }
        Ok(files)
    }
}
