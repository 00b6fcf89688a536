//! Pure: what a full Outlook export ([`Found`] items) says against what the profile should
//! hold now ([`Expected`]): duplicates, stale, missing and mismatched items, unreadable
//! ones, and the files refused as not this profile's. The few facts beyond the synced set
//! (a record out of the set, what the profile was last given) come through [`Facts`], as
//! `rules` gets names through `Resolve`; nothing here reads a file or the database.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::codec::item::{Field, Item};
use crate::error::Result;
use crate::model::{Key, Kind, Record, SiStatus, Value};
use crate::rules::norm;

/// A file is refused as not this profile's when more than half of its keyed items are
/// foreign (their key names no record, or a record whose identity — name, company,
/// client — differs) and at least this many are.
pub const FOREIGN_MIN: usize = 5;

/// What the profile should hold now: its synced set, as the export writes it.
#[derive(Debug, Default)]
pub struct Expected {
    pub items: HashMap<Key, Item>,
    /// An SI's kept UID (a task created in a client) to its key.
    pub uids: HashMap<String, Key>,
}

impl Expected {
    /// The synced set from its items (each with its key).
    pub fn new(items: impl IntoIterator<Item = Item>) -> Expected {
        let mut e = Expected::default();
        for it in items {
            let Some(k) = it.key else { continue };
            if let Some(u) = &it.uid
                && *u != k.to_string()
            {
                e.uids.insert(u.clone(), k);
            }
            e.items.insert(k, it);
        }
        e
    }
}

/// The side of Outlook an item lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Contacts,
    Tasks,
}

impl Side {
    pub fn of(kind: Kind) -> Side {
        if kind == Kind::Si {
            Side::Tasks
        } else {
            Side::Contacts
        }
    }

    /// The singular noun (`contact`, `task`).
    pub fn noun(self) -> &'static str {
        match self {
            Side::Contacts => "contact",
            Side::Tasks => "task",
        }
    }
}

/// One item of the input files, as read.
#[derive(Debug, Clone)]
pub struct Found {
    /// The input it came from (an index into the inputs' names).
    pub file: usize,
    /// Where in it: "row 7", "contacts/SM-U1.vcf card 1", "/Contacts/item 3".
    pub source: String,
    pub what: FoundItem,
}

/// What a reader made of one item.
#[derive(Debug, Clone)]
pub enum FoundItem {
    /// Read: a contact or task (a task may have no key).
    Item(Item),
    /// A contact the reader refused for having no key (a personal contact, or a copy of a
    /// synced one): its name and e-mail as the file shows them.
    Keyless {
        side: Side,
        name: String,
        email: String,
    },
    /// Unreadable: the reader's reason, and what the file shows of it (as `inspect`).
    Unreadable {
        key: Option<Key>,
        kind: String,
        fields: Vec<(String, String)>,
        error: String,
    },
}

/// Facts beyond the synced set, looked up only for the items that need them.
pub trait Facts {
    /// The record of a key (out of the synced set, or to check a file's identity).
    fn record(&self, key: Key) -> Result<Option<Record>>;
    /// What the profile was last given of an item (field name to text), if anything.
    fn exported(&self, key: Key) -> Result<Option<serde_json::Map<String, serde_json::Value>>>;
}

/// Why an item is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The key appears more than once; this is an extra copy.
    RepeatedKey,
    /// No key, but the name and e-mail of a synced item: a copy made in Outlook.
    KeylessCopy,
    /// The record was made inactive.
    Inactive,
    /// The contact's client was made inactive.
    ClientInactive,
    /// The SI was closed.
    Closed,
    /// The SI has a status that is not synced (New, On Hold, Cancelled).
    NotSyncedStatus,
    /// No such record in Service Master.
    UnknownKey,
    /// In the synced set, never given to this profile: the next export writes it.
    NotExportedYet,
    /// Given to this profile, absent from the files: deleted in Outlook or never imported.
    Absent,
    /// Outlook holds what the last export gave; the database changed since.
    ExportPending,
    /// Outlook's copy differs from what it was given and carries no `!Update`.
    Differs,
}

/// A field whose value differs, with both values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    pub field: &'static str,
    pub database: String,
    pub outlook: String,
}

/// One listed item.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub key: Option<String>,
    pub name: String,
    pub reason: String,
    pub cause: Cause,
    pub side: Side,
    /// The input file and the place in it (none for a missing item).
    pub file: Option<String>,
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDiff>,
}

/// An item a reader could not read, listed as `inspect` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    pub file: String,
    pub source: String,
    pub kind: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub error: String,
}

/// A file refused as not this profile's, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub file: String,
    /// Distinct keys in the file.
    pub keyed: usize,
    /// How many of them are foreign.
    pub foreign: usize,
    /// A few of them, with what is foreign about each.
    pub examples: Vec<String>,
    pub reason: String,
}

/// Counts beside the lists.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Items in the files (all kinds).
    pub found: usize,
    /// Items of the synced set on the sides compared.
    pub expected: usize,
    /// Keyless contacts and tasks that copy nothing synced: the user's own, left alone.
    pub personal: usize,
    /// Items with `!Update`: their edits are for `ingest`, not differences.
    pub updates: usize,
}

/// Which sides the files cover: a side none of them holds is not compared (a contacts
/// sheet says nothing of tasks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Compared {
    pub contacts: bool,
    pub tasks: bool,
}

impl Compared {
    pub fn covers(&self, side: Side) -> bool {
        match side {
            Side::Contacts => self.contacts,
            Side::Tasks => self.tasks,
        }
    }

    pub fn add(&mut self, side: Side) {
        match side {
            Side::Contacts => self.contacts = true,
            Side::Tasks => self.tasks = true,
        }
    }
}

/// What reconcile found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    pub compared: Compared,
    pub counts: Counts,
    pub duplicates: Vec<Finding>,
    pub stale: Vec<Finding>,
    pub missing: Vec<Finding>,
    pub mismatched: Vec<Finding>,
    pub unreadable: Vec<Unreadable>,
    /// Files refused as not this profile's; their items are in no list.
    pub refused: Vec<Refusal>,
}

impl Findings {
    /// Whether anything needs doing in Outlook (or a file was refused).
    pub fn is_clean(&self) -> bool {
        self.duplicates.is_empty()
            && self.stale.is_empty()
            && self.missing.is_empty()
            && self.mismatched.is_empty()
            && self.unreadable.is_empty()
            && self.refused.is_empty()
    }
}

/// A name compared: trimmed, inner white space collapsed, lower case.
fn fold(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The fields that say which record an item is (Outlook may not change them): a
/// contact's names, company and client, a location's name, an SI's client.
fn identity(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Location => &["client", "name"],
        Kind::User => &["client", "first_name", "last_name"],
        Kind::Tech => &["company", "first_name", "last_name"],
        Kind::Si => &["client"],
        _ => &[],
    }
}

/// What about `found` says it is not the record `db` describes, if anything.
fn identity_clash(found: &Item, db: &Item) -> Option<String> {
    for name in identity(db.kind) {
        let Some(v) = found.get(name) else { continue };
        let theirs = v.to_text();
        let ours = db.get(name).map(Field::to_text).unwrap_or_default();
        if fold(&theirs) != fold(&ours) {
            return Some(format!("{name} '{}' is '{}' here", theirs.trim(), ours));
        }
    }
    None
}

/// The fields of `found` that differ from the database's item `db` (through the field
/// table and the rules' normalisation: CRLF as LF, surrounding white space ignored).
/// The key, categories and UID are not compared; a task's contacts are compared as one
/// set of names (Outlook's sheet holds the location and the people in one list).
pub fn differences(found: &Item, db: &Item) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    for (f, incoming) in &found.values {
        if matches!(f.name, "key" | "category" | "uid" | "people" | "location") {
            continue;
        }
        let theirs = norm(&incoming.text_cow());
        let ours = db
            .get(f.name)
            .map(|v| norm(&v.text_cow()))
            .unwrap_or_default();
        // An unset priority is Outlook's Normal.
        let same = theirs == ours
            || (f.name == "priority" && {
                let n = |s: &str| {
                    if s.is_empty() {
                        "Normal".to_string()
                    } else {
                        s.to_string()
                    }
                };
                n(&theirs) == n(&ours)
            });
        if !same {
            out.push(FieldDiff {
                field: f.name,
                database: ours,
                outlook: theirs,
            });
        }
    }
    if db.kind == Kind::Si {
        let names = |it: &Item| -> Option<Vec<String>> {
            let mut v = Vec::new();
            let mut any = false;
            for n in ["location", "people"] {
                if let Some(Field::Names(ns)) = it.get(n) {
                    any = true;
                    v.extend(ns.iter().map(|x| x.name.trim().to_string()));
                }
            }
            v.retain(|s| !s.is_empty());
            v.sort_by_key(|s| s.to_lowercase());
            v.dedup_by_key(|s| s.to_lowercase());
            any.then_some(v)
        };
        if let Some(theirs) = names(found) {
            let ours = names(db).unwrap_or_default();
            let key = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
            if key(&theirs) != key(&ours) {
                out.push(FieldDiff {
                    field: "contacts",
                    database: ours.join("; "),
                    outlook: theirs.join("; "),
                });
            }
        }
    }
    out
}

/// Why a record that exists is out of the synced set.
fn out_of_set(r: &Record) -> (Cause, String) {
    if r.key.kind == Kind::Si {
        return match r.si_status() {
            Some(SiStatus::Closed) => (Cause::Closed, format!("{} is closed", r.key)),
            s => (
                Cause::NotSyncedStatus,
                format!(
                    "{} is {}, a status Outlook does not hold",
                    r.key,
                    s.map_or("without a status", |s| s.as_str())
                ),
            ),
        };
    }
    let active = crate::fields::index(r.key.kind, "active")
        .map(|i| !matches!(r.values[i], Value::Bool(false)))
        .unwrap_or(true);
    if active {
        (
            Cause::ClientInactive,
            format!("the client of {} was made inactive", r.key),
        )
    } else {
        (Cause::Inactive, format!("{} was made inactive", r.key))
    }
}

/// A found item's key: its own, else the SI that keeps its UID.
fn key_of(item: &Item, expected: &Expected) -> Option<Key> {
    item.key.or_else(|| {
        item.uid
            .as_ref()
            .and_then(|u| expected.uids.get(u).copied())
    })
}

/// Compares the items of the input files (`files` names them) with the synced set.
pub fn reconcile(
    expected: &Expected,
    found: &[Found],
    files: &[String],
    compared: Compared,
    facts: &dyn Facts,
) -> Result<Findings> {
    let file_name = |i: usize| files.get(i).cloned().unwrap_or_default();
    let mut out = Findings {
        compared,
        ..Default::default()
    };
    out.counts.found = found.len();

    // Foreign files first: their items are in no list.
    let mut records: HashMap<Key, Option<Record>> = HashMap::new();
    let mut refused: HashSet<usize> = HashSet::new();
    for (i, name) in files.iter().enumerate() {
        let mut keys: Vec<(Key, &Item)> = Vec::new();
        let mut seen = HashSet::new();
        for f in found.iter().filter(|f| f.file == i) {
            if let FoundItem::Item(it) = &f.what
                && let Some(k) = key_of(it, expected)
                && seen.insert(k)
            {
                keys.push((k, it));
            }
        }
        let mut foreign = Vec::new();
        for (k, it) in &keys {
            let clash = match expected.items.get(k) {
                Some(db) => identity_clash(it, db),
                None => {
                    let r = match records.get(k) {
                        Some(r) => r.clone(),
                        None => {
                            let r = facts.record(*k)?;
                            records.insert(*k, r.clone());
                            r
                        }
                    };
                    match r {
                        None => Some("no such record".to_string()),
                        Some(r) => identity_clash(it, &Item::from_record(&r)),
                    }
                }
            };
            if let Some(why) = clash {
                foreign.push(format!("{k}: {why}"));
            }
        }
        if foreign.len() >= FOREIGN_MIN && foreign.len() * 2 > keys.len() {
            refused.insert(i);
            out.refused.push(Refusal {
                file: name.clone(),
                keyed: keys.len(),
                foreign: foreign.len(),
                reason: format!(
                    "{name} is not this profile's export: {} of its {} keys name no record \
                     in this database or a different one (more than half, and at least \
                     {FOREIGN_MIN}); export the profile's own Outlook and reconcile that",
                    foreign.len(),
                    keys.len()
                ),
                examples: foreign.into_iter().take(5).collect(),
            });
        }
    }

    // Every occurrence of a key, in file order; unreadable items with a key count as present.
    let mut by_key: HashMap<Key, Vec<&Found>> = HashMap::new();
    let mut order: Vec<Key> = Vec::new();
    let mut present: HashSet<Key> = HashSet::new();
    let mut keyless: Vec<&Found> = Vec::new();
    for f in found.iter().filter(|f| !refused.contains(&f.file)) {
        match &f.what {
            FoundItem::Item(it) => match key_of(it, expected) {
                Some(k) => {
                    present.insert(k);
                    let v = by_key.entry(k).or_default();
                    if v.is_empty() {
                        order.push(k);
                    }
                    v.push(f);
                }
                None => keyless.push(f),
            },
            FoundItem::Keyless { .. } => keyless.push(f),
            FoundItem::Unreadable {
                key,
                kind,
                fields,
                error,
            } => {
                if let Some(k) = key {
                    present.insert(*k);
                }
                out.unreadable.push(Unreadable {
                    file: file_name(f.file),
                    source: f.source.clone(),
                    kind: kind.clone(),
                    fields: fields
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone().into()))
                        .collect(),
                    error: error.clone(),
                });
            }
        }
    }

    for k in &order {
        let copies = &by_key[k];
        let FoundItem::Item(first) = &copies[0].what else {
            continue;
        };
        let side = Side::of(k.kind);
        let name = |it: &Item| match expected.items.get(k) {
            Some(db) => db.display_name(),
            None => it.display_name(),
        };
        if copies.len() > 1 {
            let places: Vec<String> = copies
                .iter()
                .map(|c| format!("{} {}", file_name(c.file), c.source))
                .collect();
            for c in &copies[1..] {
                let FoundItem::Item(it) = &c.what else {
                    continue;
                };
                out.duplicates.push(Finding {
                    key: Some(k.to_string()),
                    name: name(it),
                    reason: format!(
                        "{k} appears {} times ({}); delete this copy and keep the first",
                        copies.len(),
                        places.join(", ")
                    ),
                    cause: Cause::RepeatedKey,
                    side,
                    file: Some(file_name(c.file)),
                    source: Some(c.source.clone()),
                    fields: Vec::new(),
                });
            }
        }
        match expected.items.get(k) {
            None => {
                let r = match records.get(k) {
                    Some(r) => r.clone(),
                    None => facts.record(*k)?,
                };
                let (cause, why) = match &r {
                    None => (
                        Cause::UnknownKey,
                        format!("{k} names no record in Service Master"),
                    ),
                    Some(r) => out_of_set(r),
                };
                out.stale.push(Finding {
                    key: Some(k.to_string()),
                    name: name(first),
                    reason: format!("{why}; delete it in Outlook"),
                    cause,
                    side,
                    file: Some(file_name(copies[0].file)),
                    source: Some(copies[0].source.clone()),
                    fields: Vec::new(),
                });
            }
            Some(db) => {
                if first.has_update() {
                    out.counts.updates += 1;
                    continue;
                }
                let diffs = differences(first, db);
                if diffs.is_empty() {
                    continue;
                }
                let given = facts.exported(*k)?;
                let as_given = given.as_ref().is_some_and(|m| {
                    diffs.iter().all(|d| {
                        let was = m.get(d.field).and_then(|v| v.as_str()).map(norm);
                        was.unwrap_or_default() == d.outlook
                    })
                });
                let (cause, reason) = if as_given {
                    (
                        Cause::ExportPending,
                        "Outlook holds what the last export gave; the database changed \
                         since, and the next export brings it"
                            .to_string(),
                    )
                } else {
                    (
                        Cause::Differs,
                        "differs from the database without the !Update category (edited in \
                         Outlook, or an old copy); import the database's values"
                            .to_string(),
                    )
                };
                out.mismatched.push(Finding {
                    key: Some(k.to_string()),
                    name: db.display_name(),
                    reason,
                    cause,
                    side,
                    file: Some(file_name(copies[0].file)),
                    source: Some(copies[0].source.clone()),
                    fields: diffs,
                });
            }
        }
    }

    // Keyless items: a copy of a synced item (same name and e-mail; a task: same subject
    // and client category), else the user's own.
    if !keyless.is_empty() {
        let mut index: HashMap<(Side, String, String), Key> = HashMap::new();
        for (k, it) in &expected.items {
            let side = Side::of(k.kind);
            let second = match side {
                Side::Contacts => it.text("email").unwrap_or_default().to_string(),
                Side::Tasks => it.text("client").unwrap_or_default().to_string(),
            };
            let entry = (side, fold(&it.display_name()), fold(&second));
            // Two synced items alike: the smaller key stands for both.
            let e = index.entry(entry).or_insert(*k);
            if *k < *e {
                *e = *k;
            }
        }
        for f in keyless {
            let matched = match &f.what {
                FoundItem::Keyless { side, name, email } => index
                    .get(&(*side, fold(name), fold(email)))
                    .map(|k| (*k, *side, name.clone())),
                FoundItem::Item(it) => {
                    let name = it.display_name();
                    it.categories().iter().find_map(|c| {
                        index
                            .get(&(Side::Tasks, fold(&name), fold(c)))
                            .map(|k| (*k, Side::Tasks, name.clone()))
                    })
                }
                FoundItem::Unreadable { .. } => None,
            };
            match matched {
                Some((k, side, name)) => out.duplicates.push(Finding {
                    key: None,
                    reason: format!(
                        "a {} without a key, with the {} of {k}: a copy made in Outlook; \
                         delete it (edits belong on {k}, with !Update)",
                        side.noun(),
                        match side {
                            Side::Contacts => "name and e-mail",
                            Side::Tasks => "subject and client",
                        }
                    ),
                    name,
                    cause: Cause::KeylessCopy,
                    side,
                    file: Some(file_name(f.file)),
                    source: Some(f.source.clone()),
                    fields: Vec::new(),
                }),
                None => out.counts.personal += 1,
            }
        }
    }

    // Missing: on a side the files cover, in the set and in no file.
    let mut missing: Vec<(&Key, &Item)> = expected
        .items
        .iter()
        .filter(|(k, _)| compared.covers(Side::of(k.kind)))
        .collect();
    out.counts.expected = missing.len();
    missing.retain(|(k, _)| !present.contains(k));
    missing.sort_by_key(|(k, _)| **k);
    for (k, it) in missing {
        let (cause, reason) = if facts.exported(*k)?.is_some() {
            (
                Cause::Absent,
                "exported to this profile but in none of the files: deleted in Outlook, or \
                 never imported; import it"
                    .to_string(),
            )
        } else {
            (
                Cause::NotExportedYet,
                "not exported to this profile yet: the next export writes it, or import it"
                    .to_string(),
            )
        };
        out.missing.push(Finding {
            key: Some(k.to_string()),
            name: it.display_name(),
            reason,
            cause,
            side: Side::of(k.kind),
            file: None,
            source: None,
            fields: Vec::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
