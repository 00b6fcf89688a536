//! Neutral items: a contact or a task as every format sees it, with the values of the
//! synced fields of [`crate::fields`] already in display form (names, not ids). Also the
//! value mappings that several formats share (task status, priority).

use chrono::NaiveDate;

use crate::fields::{self, FieldDef, Ty};
use crate::model::{Key, Kind, Record, SiStatus, Value};

/// Fields whose exported value no sync rule reads (`rules::plan_update` passes them over:
/// the key names the record, the category is the client's name or the kind's, a UID never
/// changes, and an SI's people are compared with the record's), so the export state does
/// not keep them ([`Item::values_json`]).
pub const NOT_COMPARED: [&str; 4] = ["key", "category", "uid", "people"];

/// A referenced record by name, with its key when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub key: Option<Key>,
    pub name: String,
}

/// One field value of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Text(String),
    Date(NaiveDate),
    /// References by name (a task's location and people).
    Names(Vec<Named>),
    /// A list of words (categories).
    List(Vec<String>),
}

impl Field {
    /// The value as plain text (names joined with "; ", lists with ",").
    pub fn to_text(&self) -> String {
        self.text_cow().into_owned()
    }

    /// [`Field::to_text`] without a copy for plain text.
    pub fn text_cow(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(match self {
            Field::Text(s) => return std::borrow::Cow::Borrowed(s),
            // One name or word is itself (most lists: a contact's category).
            Field::Names(ns) if ns.len() == 1 => return std::borrow::Cow::Borrowed(&ns[0].name),
            Field::List(l) if l.len() == 1 => return std::borrow::Cow::Borrowed(&l[0]),
            Field::Date(d) => iso_date(*d),
            Field::Names(ns) => ns
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            Field::List(l) => l.join(","),
        })
    }
}

/// `YYYY-MM-DD`, as chrono's `%Y-%m-%d` writes it (without parsing that format each time).
pub fn iso_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    if (0..=9999).contains(&d.year()) {
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    } else {
        d.format("%Y-%m-%d").to_string()
    }
}

/// Whether any of the eight bytes of `w` is a control character, `"` or `\\` (what a
/// JSON string escapes).
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20: subtracting 0x20 borrows into its high bit (for bytes below 0x80;
    // a byte at or above 0x80 has that bit set already and is masked out by `!w`).
    let below = w.wrapping_sub(0x20 * ONES) & !w & HIGH;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    below | zero(w ^ (u64::from(b'"') * ONES)) | zero(w ^ (u64::from(b'\\') * ONES)) != 0
}

/// A contact or task in neutral form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The record kind: Location, User or Tech (contacts) or Si (tasks).
    pub kind: Kind,
    pub key: Option<Key>,
    /// The vCard/iCalendar UID.
    pub uid: Option<String>,
    /// Synced fields that have a value, in the order of the field table.
    pub values: Vec<(&'static FieldDef, Field)>,
    /// The last change, microseconds since the epoch.
    pub modified: Option<i64>,
}

impl Item {
    /// The neutral form of a record, driven by the field table.
    pub fn from_record(r: &Record) -> Item {
        Item::from_owned(r.clone())
    }

    /// [`Item::from_record`] of a record that is no longer needed: its texts move into the
    /// item instead of being copied (an export makes an item of every record it reads).
    pub fn from_owned(r: Record) -> Item {
        let Record {
            key,
            updated_at,
            values: record_values,
            mut labels,
        } = r;
        let mut values = Vec::with_capacity(record_values.len());
        let mut uid = None;
        // The labels of field `i` (each field has at most one entry).
        let mut take_labels = |i: usize| -> Vec<String> {
            match labels.iter_mut().find(|(j, _)| *j == i) {
                Some((_, l)) => std::mem::take(l),
                None => Vec::new(),
            }
        };
        for (i, (f, v)) in fields::of(key.kind).iter().zip(record_values).enumerate() {
            if f.name == "uid" {
                if let Value::Text(u) = v {
                    uid = Some(u);
                }
                continue;
            }
            if !f.synced() {
                continue;
            }
            let field = match (f.ty, v) {
                (_, Value::Null) => None,
                (_, Value::Text(s)) if f.name == "category" => Some(Field::List(vec![s])),
                (_, Value::Text(s)) => Some(Field::Text(s)),
                (_, Value::Date(d)) => Some(Field::Date(d)),
                (Ty::Ref(Kind::Client), Value::Ref(_)) => {
                    take_labels(i).into_iter().next().map(Field::Text)
                }
                (_, Value::Ref(k)) => Some(Field::Names(vec![Named {
                    key: Some(k),
                    name: take_labels(i).into_iter().next().unwrap_or_default(),
                }])),
                (_, Value::Refs(ks)) if ks.is_empty() => None,
                (_, Value::Refs(ks)) => {
                    let mut names = take_labels(i).into_iter();
                    Some(Field::Names(
                        ks.into_iter()
                            .map(|k| Named {
                                key: Some(k),
                                name: names.next().unwrap_or_default(),
                            })
                            .collect(),
                    ))
                }
                (_, Value::Bool(_) | Value::Int(_)) => None,
            };
            if let Some(field) = field {
                values.push((f, field));
            }
        }
        Item {
            kind: key.kind,
            key: Some(key),
            uid: Some(uid.unwrap_or_else(|| key.text())),
            values,
            modified: Some(updated_at),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.values
            .iter()
            .find(|(f, _)| f.name == name)
            .map(|(_, v)| v)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Field::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn date(&self, name: &str) -> Option<NaiveDate> {
        match self.get(name) {
            Some(Field::Date(d)) => Some(*d),
            _ => None,
        }
    }

    pub fn categories(&self) -> &[String] {
        match self.get("category") {
            Some(Field::List(l)) => l,
            _ => &[],
        }
    }

    /// The name a person sees: "First Last", else "Company - Location" or the company.
    pub fn display_name(&self) -> String {
        if self.kind == Kind::Si {
            return self.text("description").unwrap_or_default().to_string();
        }
        let person = [self.text("first_name"), self.text("last_name")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !person.is_empty() {
            return person;
        }
        let org: Vec<&str> = match self.kind {
            Kind::Location => vec![
                self.text("client").unwrap_or_default(),
                self.text("name").unwrap_or_default(),
            ],
            _ => vec![self.text("company").unwrap_or_default()],
        };
        org.into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" - ")
    }

    /// Whether the item names a person (a vCard 4.0 KIND:individual) rather than a place or
    /// a company (KIND:org).
    pub fn is_person(&self) -> bool {
        self.text("first_name").is_some() || self.text("last_name").is_some()
    }

    /// The SI status of a task item (`None` without one, or with a text that is none).
    pub fn si_status(&self) -> Option<SiStatus> {
        self.text("status").and_then(|s| s.parse().ok())
    }

    /// The synced values as a JSON object of field name to text, in table order: what the
    /// export state keeps as the values last exported, which ingest's rules compare edits
    /// against. Fields no rule compares ([`NOT_COMPARED`]) are left out. Written directly:
    /// this runs once per exported item.
    pub fn values_json(&self) -> String {
        /// A JSON string: runs of plain text copied whole, `"`, `\` and control
        /// characters escaped (an export calls this once per record).
        fn push_str(out: &mut String, s: &str) {
            out.push('"');
            let mut plain = 0;
            let bytes = s.as_bytes();
            // Eight bytes at a time up to the first that needs escaping.
            let mut i = 0;
            while i + 8 <= bytes.len() {
                let w = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
                if needs_escape(w) {
                    break;
                }
                i += 8;
            }
            for (i, &b) in bytes.iter().enumerate().skip(i) {
                if b != b'"' && b != b'\\' && b >= 0x20 {
                    continue;
                }
                // An ASCII byte: `i` is a character boundary.
                out.push_str(&s[plain..i]);
                match b {
                    b'"' => out.push_str("\\\""),
                    b'\\' => out.push_str("\\\\"),
                    _ => {
                        use std::fmt::Write;
                        let _ = write!(out, "\\u{:04x}", b);
                    }
                }
                plain = i + 1;
            }
            out.push_str(&s[plain..]);
            out.push('"');
        }
        let mut out = String::with_capacity(64 + self.values.len() * 24);
        out.push('{');
        let mut first = true;
        for (f, v) in &self.values {
            if NOT_COMPARED.contains(&f.name) {
                continue;
            }
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            // Field names are plain snake_case words: nothing to escape.
            out.push('"');
            out.push_str(f.name);
            out.push('"');
            out.push(':');
            push_str(&mut out, &v.text_cow());
        }
        out.push('}');
        out
    }

    /// A stable 64-bit hash (FNV-1a) of the synced values and the UID: equal hashes mean
    /// the exported content is the same.
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        eat(self.uid.as_deref().unwrap_or("").as_bytes());
        for (f, v) in &self.values {
            eat(f.name.as_bytes());
            eat(v.text_cow().as_bytes());
            if let Field::Names(ns) = v {
                for n in ns {
                    eat(n.key.map(|k| k.to_string()).unwrap_or_default().as_bytes());
                }
            }
        }
        h
    }

    /// The field definitions of the item's kind.
    pub fn defs(&self) -> &'static [FieldDef] {
        fields::of(self.kind)
    }
}

/// The SI status that smsync adds as a category, so that Completion Requested survives
/// clients that only know the standard VTODO statuses.
pub const COMPLETION_REQUESTED: &str = SiStatus::CompletionRequested.as_str();

/// Outlook's task status for an SI status (SPEC §6).
pub fn outlook_status(si: SiStatus) -> &'static str {
    match si {
        SiStatus::InProgress => "In Progress",
        SiStatus::CompletionRequested => "Waiting on someone else",
        SiStatus::Closed => "Completed",
        SiStatus::New => "Not Started",
        SiStatus::OnHold | SiStatus::Cancelled => "Deferred",
    }
}

/// The iCalendar VTODO STATUS for an SI status.
pub fn ical_status(si: SiStatus) -> &'static str {
    match si {
        SiStatus::InProgress | SiStatus::CompletionRequested => "IN-PROCESS",
        SiStatus::Closed => "COMPLETED",
        SiStatus::Cancelled => "CANCELLED",
        SiStatus::New | SiStatus::OnHold => "NEEDS-ACTION",
    }
}

/// The iCalendar PRIORITY (1 high, 5 normal, 9 low) for an SI priority.
pub fn ical_priority(p: &str) -> u8 {
    match p {
        "High" => 1,
        "Low" => 9,
        _ => 5,
    }
}

/// What a reader made of one item of an input file: the item, or why it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Where in the file: "row 7", "card 2", "VTODO 1".
    pub source: String,
    pub item: std::result::Result<Item, String>,
    /// What a reader saw of an item it could not map, where the file's text cannot show
    /// it (PST and .msg): the item's kind and its non-empty fields, for `inspect`.
    pub seen: Option<Seen>,
}

/// The kind (`contact`, `task`) and the fields, by field-table name, of an item a reader
/// could not map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub kind: &'static str,
    pub fields: Vec<(String, String)>,
}

/// The most items one input file may hold: a file that repeats itself to exhaust memory is
/// refused as a whole, like a file over the size limit.
pub const MAX_ITEMS: usize = 1_000_000;

/// The single refused item that stands for a file over [`MAX_ITEMS`].
pub fn too_many_items() -> Vec<Incoming> {
    vec![Incoming {
        seen: None,
        source: "file".into(),
        item: Err(format!(
            "the file holds more than {MAX_ITEMS} items; split it into smaller exports"
        )),
    }]
}

/// The category that asks smsync to apply an item's edits.
pub const UPDATE_CATEGORY: &str = "!Update";

/// Splits categories on `,` and `;` (Windows list separators), trimming each.
pub fn split_categories(raw: &str) -> Vec<String> {
    raw.split([',', ';'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

impl Item {
    /// Whether the item carries `!Update` (compared ignoring case).
    pub fn has_update(&self) -> bool {
        self.categories()
            .iter()
            .any(|c| c.eq_ignore_ascii_case(UPDATE_CATEGORY))
    }

    /// A label for messages: the key, else the UID.
    pub fn label(&self) -> String {
        match (&self.key, &self.uid) {
            (Some(k), _) => k.to_string(),
            (None, Some(u)) => format!("UID {u}"),
            (None, None) => "new item".into(),
        }
    }
}

/// The SI status an Outlook task status stands for (SPEC §6), in English or German.
pub fn si_status_from_outlook(s: &str) -> Option<SiStatus> {
    match s.trim().to_lowercase().as_str() {
        "in progress" | "in bearbeitung" => Some(SiStatus::InProgress),
        "waiting on someone else" | "waiting" | "wartet auf jemand anderen" | "wartet" => {
            Some(SiStatus::CompletionRequested)
        }
        "completed" | "complete" | "erledigt" | "abgeschlossen" => Some(SiStatus::Closed),
        "not started" | "nicht begonnen" => Some(SiStatus::New),
        "deferred" | "zurückgestellt" => Some(SiStatus::OnHold),
        _ => None,
    }
}

/// The SI priority an Outlook or iCalendar priority stands for.
pub fn priority_from_outlook(s: &str) -> Option<&'static str> {
    match s.trim().to_lowercase().as_str() {
        "high" | "hoch" => Some("High"),
        "normal" => Some("Normal"),
        "low" | "niedrig" => Some("Low"),
        _ => None,
    }
}

/// The SI priority for an iCalendar PRIORITY (1–4 high, 5 or 0 normal, 6–9 low).
pub fn priority_from_ical(p: i64) -> &'static str {
    match p {
        1..=4 => "High",
        6..=9 => "Low",
        _ => "Normal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields;

    #[test]
    fn values_json_is_valid_json_for_any_text() {
        let notes = fields::get(Kind::User, "notes").unwrap();
        let phone = fields::get(Kind::User, "phone").unwrap();
        let item = Item {
            kind: Kind::User,
            key: None,
            uid: None,
            values: vec![
                (phone, Field::Text("+1 \"555\"".into())),
                (notes, Field::Text("a\\b\nc\u{1}é".into())),
            ],
            modified: None,
        };
        let v: serde_json::Value = serde_json::from_str(&item.values_json()).unwrap();
        assert_eq!(v["phone"], "+1 \"555\"");
        assert_eq!(v["notes"], "a\\b\nc\u{1}é");
    }

    #[test]
    fn the_eight_byte_scan_finds_every_byte_json_escapes() {
        for b in 0..=255u8 {
            let escaped = b < 0x20 || b == b'"' || b == b'\\';
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                assert_eq!(
                    needs_escape(u64::from_le_bytes(word)),
                    escaped,
                    "{b:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn values_json_round_trips_random_text() {
        // Seeded random text of quotes, backslashes, control characters, ASCII and
        // multi-byte characters: the JSON reads back as the same values.
        let notes = fields::get(Kind::User, "notes").unwrap();
        let phone = fields::get(Kind::User, "phone").unwrap();
        let alphabet: Vec<char> = "\"\\\u{0}\u{1}\n\r\t\u{1f} aZ9,;:{}éß€😀\u{7f}"
            .chars()
            .collect();
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        // Mostly plain text too, in runs long enough for the eight-byte scan.
        let plain: Vec<char> = "abcdefghijklmnop éß€😀\"\\\n".chars().collect();
        for round in 0..1000 {
            let chars = if round % 2 == 0 { &alphabet } else { &plain };
            let mut text =
                || -> String { (0..next(40)).map(|_| chars[next(chars.len())]).collect() };
            let (a, b) = (text(), text());
            let item = Item {
                kind: Kind::User,
                key: None,
                uid: None,
                values: vec![
                    (phone, Field::Text(a.clone())),
                    (notes, Field::Text(b.clone())),
                ],
                modified: None,
            };
            let v: serde_json::Value = serde_json::from_str(&item.values_json()).unwrap();
            assert_eq!(v["phone"], a.as_str());
            assert_eq!(v["notes"], b.as_str());
        }
    }
}
