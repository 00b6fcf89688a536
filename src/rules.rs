//! The sync rules of SPEC §4 as pure functions over an incoming item and the record it
//! names: what to apply, what to keep, what to refuse, and why. Storage is reached only
//! through the [`Resolve`] look-ups the caller hands in; nothing here writes.

use chrono::NaiveDate;
use serde::Serialize;

use crate::codec::item::{COMPLETION_REQUESTED, Field, Item, UPDATE_CATEGORY};
use crate::error::Result;
use crate::fields::{self, FieldDef, Ty};
use crate::model::{Key, Kind, Record, SiStatus, Value};
use crate::store::Assignment;

/// What became of one field of an incoming item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Changed only in Outlook: applied.
    Applied,
    /// Changed on both sides, Outlook's is newer: applied; the database value is journaled.
    ConflictOutlookWon,
    /// Changed on both sides, the database's is newer: kept; Outlook's value is journaled.
    ConflictDatabaseKept,
    /// A field Outlook may not change (SPEC §7): ignored and reported.
    NotUpdatable,
    /// Edited in Outlook without the `!Update` category: not applied.
    NeedsUpdateCategory,
    /// A change the rules forbid (closing an In Progress SI, …).
    Refused,
    /// A value that names nothing in Service Master (an unknown contact name, …).
    Ignored,
}

impl Decision {
    pub fn applies(self) -> bool {
        matches!(self, Decision::Applied | Decision::ConflictOutlookWon)
    }

    /// The name the report and the journal give it (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Applied => "applied",
            Decision::ConflictOutlookWon => "conflict-outlook-won",
            Decision::ConflictDatabaseKept => "conflict-database-kept",
            Decision::NotUpdatable => "not-updatable",
            Decision::NeedsUpdateCategory => "needs-update-category",
            Decision::Refused => "refused",
            Decision::Ignored => "ignored",
        }
    }
}

/// One field's decision, with both values for the report and the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub database: String,
    pub incoming: String,
    pub decision: Decision,
    pub reason: String,
}

/// What to do with an incoming item.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Not for smsync, or nothing to do (no `!Update`, a personal task).
    Skipped(String),
    /// The whole item is refused, with the reason.
    Refused(String),
    /// Change the record: the assignments to write and every field's decision.
    Update {
        assignments: Vec<Assignment>,
        changes: Vec<FieldChange>,
    },
    /// Create an SI from a new task.
    Create {
        assignments: Vec<Assignment>,
        changes: Vec<FieldChange>,
    },
}

/// The first look at an incoming item, before its record is read: the checks that need
/// only the item, its key and the keys met earlier in the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Not for smsync, decided without a look-up: a contact without `!Update` (the common
    /// case of a full Outlook export).
    Skip(String),
    /// Refused as a whole before the rules proper: reported and journaled.
    Refuse(String),
    /// The item names this record: read it, then [`check_record`] and [`plan_update`].
    Existing(Key),
    /// A task without a key: [`plan_new_task`].
    New,
}

/// The keys met so far in one input file.
pub type SeenKeys = crate::model::KeySet;

/// Admits an item whose key (its own, or the one its UID was found under) is `key`;
/// remembers the key in `seen`. A key repeated in one file is refused: only the first
/// item that names a record is applied.
pub fn admit(item: &Item, key: Option<Key>, seen: &mut SeenKeys) -> Admission {
    if item.kind != Kind::Si && !item.has_update() {
        if let Some(k) = key {
            seen.insert(k);
        }
        return Admission::Skip(format!("no {UPDATE_CATEGORY} category"));
    }
    match key {
        Some(k) if !seen.insert(k) => Admission::Refuse(format!(
            "{k} appears more than once in this file; only its first item is applied"
        )),
        Some(k) => Admission::Existing(k),
        None => Admission::New,
    }
}

/// The record `key` names, as the store `found` it, checked against the item: `Err` with
/// the reason when it does not exist or is of another kind than the item.
pub fn check_record<'a>(
    item: &Item,
    key: Key,
    found: Option<&'a Record>,
) -> std::result::Result<&'a Record, String> {
    let Some(record) = found else {
        return Err(format!(
            "{key} does not exist in Service Master; new contacts cannot be created in Outlook"
        ));
    };
    if key.kind != item.kind {
        return Err(format!(
            "{key} is a {} key on a {} item",
            key.kind, item.kind
        ));
    }
    Ok(record)
}

/// Look-ups the rules need to turn names into records.
pub trait Resolve {
    /// Clients whose name equals `name` ignoring case, with their active flag.
    fn clients(&self, name: &str) -> Result<Vec<(Key, bool)>>;
    /// The location of `client` with that name.
    fn location(&self, client: Key, name: &str) -> Result<Option<Key>>;
    /// Service agents and client users of `client` with that "First Last".
    fn people(&self, client: Key, name: &str) -> Result<Vec<Key>>;
}

impl<T: crate::store::Lookup + ?Sized> Resolve for T {
    fn clients(&self, name: &str) -> Result<Vec<(Key, bool)>> {
        self.clients_named(name)
    }
    fn location(&self, client: Key, name: &str) -> Result<Option<Key>> {
        self.location_named(client, name)
    }
    fn people(&self, client: Key, name: &str) -> Result<Vec<Key>> {
        self.people_named(client, name)
    }
}

/// What the rules compare an edit against.
pub struct Base<'a> {
    /// The record the item's key names.
    pub record: &'a Record,
    /// The values last exported to this profile (field name to text), when known.
    pub exported: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// The item's time: REV, LAST-MODIFIED, the PST/.msg modification, else the file's.
    pub item_time: i64,
    /// The date a closing gets when the item carries none.
    pub today: NaiveDate,
}

/// Text as compared: CRLF as LF, without surrounding white space. (Trimming first gives
/// the same: a CRLF at either end is white space, and one inside stays inside.)
pub(crate) fn norm(s: &str) -> String {
    norm_cow(s).into_owned()
}

fn norm_cow(s: &str) -> std::borrow::Cow<'_, str> {
    let t = s.trim();
    if t.contains("\r\n") {
        std::borrow::Cow::Owned(t.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(t)
    }
}

fn def(kind: Kind, name: &str) -> &'static FieldDef {
    fields::get(kind, name).expect("field in table")
}

/// The value to store for an incoming field.
fn value_of(f: &FieldDef, v: &Field) -> Value {
    match (f.ty, v) {
        (_, Field::Date(d)) => Value::Date(*d),
        (Ty::Date, _) => Value::Null,
        (_, Field::Text(s)) if s.trim().is_empty() => Value::Null,
        (_, Field::Text(s)) => Value::Text(norm(s)),
        (_, other) => Value::Text(other.to_text()),
    }
}

fn is_sync_category(c: &str) -> bool {
    c.eq_ignore_ascii_case(UPDATE_CATEGORY) || c.eq_ignore_ascii_case(COMPLETION_REQUESTED)
}

/// A task's contacts resolved: its location (key and name), its people, and the names
/// that matched nothing.
type Contacts = (Option<(Key, String)>, Vec<Key>, Vec<FieldChange>);

/// Resolves the names of a task's contacts for `client`: the first that names one of its
/// locations, and those that name its client users or service agents. Unknown names are
/// reported.
fn resolve_contacts<R: Resolve + ?Sized>(item: &Item, client: Key, r: &R) -> Result<Contacts> {
    let mut location: Option<(Key, String)> = None;
    let mut people = Vec::new();
    let mut unknown = Vec::new();
    let mut names = Vec::new();
    for field in ["location", "people"] {
        if let Some(Field::Names(ns)) = item.get(field) {
            for n in ns {
                if !names.iter().any(|m: &crate::codec::item::Named| m == n) {
                    names.push(n.clone());
                }
            }
        }
    }
    for n in names {
        match n.key {
            Some(k) if k.kind == Kind::Location => {
                location = location.or(Some((k, n.name.clone())));
            }
            Some(k) if k.kind == Kind::User => people.push(k),
            _ => {
                if let Some(l) = r.location(client, &n.name)? {
                    location = location.or(Some((l, n.name.clone())));
                } else {
                    let found = r.people(client, &n.name)?;
                    match found.as_slice() {
                        [one] => people.push(*one),
                        [] => unknown.push(FieldChange {
                            field: "people",
                            database: String::new(),
                            incoming: n.name.clone(),
                            decision: Decision::Ignored,
                            reason: format!(
                                "'{}' names no location, client user of {client} or service \
                                 agent; not added",
                                n.name
                            ),
                        }),
                        many => unknown.push(FieldChange {
                            field: "people",
                            database: String::new(),
                            incoming: n.name.clone(),
                            decision: Decision::Ignored,
                            reason: format!(
                                "'{}' names {} people ({}); not added",
                                n.name,
                                many.len(),
                                many.iter()
                                    .map(Key::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        }),
                    }
                }
            }
        }
    }
    people.sort();
    people.dedup();
    Ok((location, people, unknown))
}

/// The rules for an item whose key names an existing record (contacts, modified tasks).
pub fn plan_update<R: Resolve + ?Sized>(item: &Item, base: &Base, r: &R) -> Result<Verdict> {
    let record = base.record;
    let key = record.key;
    let update = item.has_update();
    let db = Item::from_record(record);
    let mut changes = Vec::new();
    let mut assignments: Vec<Assignment> = Vec::new();
    // With an export state, a field it lacks went out empty; without one, nothing is known.
    let base_text = |name: &str| -> Option<String> {
        base.exported.map(|m| {
            m.get(name)
                .and_then(|v| v.as_str())
                .map(norm)
                .unwrap_or_default()
        })
    };
    // The item closes the SI (its status goes to Closed).
    let mut closes = false;
    let outlook_newer = base.item_time > record.updated_at;

    for (f, incoming) in &item.values {
        if matches!(f.name, "key" | "category" | "uid" | "people" | "location") {
            continue;
        }
        // The common case, an unchanged field, without a copy. (Both items hold the field
        // table's own definitions: the record's value is found by address, not by name.)
        let inc_text = incoming.text_cow();
        let cur_text = db
            .values
            .iter()
            .find(|(g, _)| std::ptr::eq(*g, *f))
            .map(|(_, v)| v.text_cow())
            .unwrap_or_default();
        if inc_text == cur_text || norm_cow(&inc_text) == norm_cow(&cur_text) {
            continue;
        }
        let inc = norm(&inc_text);
        let cur = norm(&cur_text);
        let was = base_text(f.name);
        if was.as_deref() == Some(inc.as_str()) {
            continue; // changed only in the database: keep it
        }
        let db_changed = was.as_deref() != Some(cur.as_str());
        let mut change = FieldChange {
            field: f.name,
            database: cur.clone(),
            incoming: inc.clone(),
            decision: Decision::Applied,
            reason: String::new(),
        };
        if f.name == "status" {
            status_rule(key, &cur, &inc, update, &mut change);
            if change.decision.applies() && inc.parse().ok() == Some(SiStatus::Closed) {
                closes = true;
                let when = item.date("completed").unwrap_or(base.today);
                assignments.push((def(Kind::Si, "completed"), Value::Date(when)));
            }
        } else if !f.updatable {
            change.decision = Decision::NotUpdatable;
            change.reason = format!(
                "{} is not updatable from Outlook; change it in Service Master",
                f.name
            );
        } else if !update {
            change.decision = Decision::NeedsUpdateCategory;
            change.reason = format!("edited without the {UPDATE_CATEGORY} category");
        }
        if change.decision.applies() && db_changed && f.name != "status" {
            if outlook_newer {
                change.decision = Decision::ConflictOutlookWon;
                change.reason = "changed on both sides; Outlook's edit is newer".into();
            } else {
                change.decision = Decision::ConflictDatabaseKept;
                change.reason = "changed on both sides; the database's change is newer".into();
            }
        }
        if change.decision.applies() {
            assignments.push((*f, value_of(f, incoming)));
        }
        changes.push(change);
    }
    // Completing a task in a client sets its completion date too: closing the SI takes that
    // date (above), so it is no edit of a field Outlook may not change.
    if closes {
        changes.retain(|c| !(c.field == "completed" && c.decision == Decision::NotUpdatable));
    }

    if key.kind == Kind::Si {
        let client = record.get("client").as_ref_key().expect("SI client");
        let (location, people, unknown) = resolve_contacts(item, client, r)?;
        // A location the database changed since the export is not reverted by an old copy.
        if let Some((loc, name)) = location
            && Some(loc) != record.get("location").as_ref_key()
            && base_text("location").is_none_or(|b| norm(&b) != norm(&name))
        {
            let decision = if update {
                Decision::Applied
            } else {
                Decision::NeedsUpdateCategory
            };
            if decision.applies() {
                assignments.push((def(Kind::Si, "location"), Value::Ref(loc)));
            }
            changes.push(FieldChange {
                field: "location",
                database: record.get("location").to_string(),
                incoming: loc.to_string(),
                decision,
                reason: String::new(),
            });
        }
        let current: Vec<Key> = match record.get("people") {
            Value::Refs(v) => v.clone(),
            _ => Vec::new(),
        };
        let added: Vec<Key> = people
            .into_iter()
            .filter(|p| !current.contains(p))
            .collect();
        if !added.is_empty() {
            let decision = if update {
                Decision::Applied
            } else {
                Decision::NeedsUpdateCategory
            };
            if decision.applies() {
                let mut all = current.clone();
                all.extend(&added);
                all.sort();
                assignments.push((def(Kind::Si, "people"), Value::Refs(all)));
            }
            changes.push(FieldChange {
                field: "people",
                database: Value::Refs(current).to_string(),
                incoming: format!("+{}", Value::Refs(added)),
                decision,
                reason: "contacts add people to the SI".into(),
            });
        }
        if update {
            changes.extend(unknown);
        }
        if record.si_status() == Some(SiStatus::Closed)
            && changes.iter().any(|c| c.decision.applies())
        {
            return Ok(Verdict::Refused(format!(
                "{key} is closed in Service Master; edits to a closed SI are not applied"
            )));
        }
    }

    if !update
        && !changes
            .iter()
            .any(|c| c.decision.applies() || c.decision == Decision::Refused)
    {
        let edited = changes
            .iter()
            .filter(|c| c.decision == Decision::NeedsUpdateCategory)
            .count();
        return Ok(Verdict::Skipped(if edited > 0 {
            format!(
                "no {UPDATE_CATEGORY} category: {edited} edited field(s) not applied; add the \
                 category in Outlook and export again"
            )
        } else {
            format!("no {UPDATE_CATEGORY} category")
        }));
    }
    Ok(Verdict::Update {
        assignments,
        changes,
    })
}

/// Status (SPEC §4): Completed closes an SI only from Completion Requested, without
/// `!Update`; In Progress ⇄ Completion Requested needs `!Update`.
fn status_rule(key: Key, db: &str, incoming: &str, update: bool, c: &mut FieldChange) {
    use SiStatus::{Closed, CompletionRequested};
    match (incoming.parse().ok(), db.parse().ok()) {
        (Some(Closed), Some(CompletionRequested)) => {}
        (Some(Closed), _) => {
            c.decision = Decision::Refused;
            c.reason = format!(
                "{key} is {db}: only an SI in Completion Requested (Outlook: Waiting on someone \
                 else) can be closed from Outlook; ask for completion first, or close it in \
                 Service Master"
            );
        }
        (_, Some(Closed)) => {
            c.decision = Decision::Refused;
            c.reason = format!("{key} is closed in Service Master; reopen it there");
        }
        (Some(i), Some(d)) if i.is_open() && d.is_open() => {
            if !update {
                c.decision = Decision::NeedsUpdateCategory;
                c.reason = format!("a status change needs the {UPDATE_CATEGORY} category");
            }
        }
        _ => {
            c.decision = Decision::Refused;
            c.reason = format!(
                "Outlook status for '{incoming}' cannot be set from Outlook; use In Progress, \
                 Waiting on someone else or Completed"
            );
        }
    }
}

/// The rules for a task without a key (SPEC §4, new tasks).
pub fn plan_new_task<R: Resolve + ?Sized>(item: &Item, r: &R) -> Result<Verdict> {
    let cats: Vec<&String> = item
        .categories()
        .iter()
        .filter(|c| !is_sync_category(c))
        .collect();
    let mut found: Vec<(Key, bool, String)> = Vec::new();
    for c in &cats {
        for (k, active) in r.clients(c)? {
            if !found.iter().any(|(f, _, _)| *f == k) {
                found.push((k, active, (*c).clone()));
            }
        }
    }
    let active: Vec<&(Key, bool, String)> = found.iter().filter(|(_, a, _)| *a).collect();
    let client = match active.as_slice() {
        [one] => one.0,
        [] if found.is_empty() && !item.has_update() => {
            return Ok(Verdict::Skipped(
                "a task without a client category is not a Service Master task".into(),
            ));
        }
        [] if found.is_empty() => {
            return Ok(Verdict::Refused(format!(
                "a new task needs a category equal to an active client's name; its categories \
                 are: {}",
                if cats.is_empty() {
                    "(none)".to_string()
                } else {
                    cats.iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        [] => {
            let names: Vec<&str> = found.iter().map(|(_, _, n)| n.as_str()).collect();
            return Ok(Verdict::Refused(format!(
                "client {} is inactive; a new task needs an active client's category",
                names.join(", ")
            )));
        }
        many => {
            let names: Vec<&str> = many.iter().map(|(_, _, n)| n.as_str()).collect();
            return Ok(Verdict::Refused(format!(
                "the categories name {} clients ({}); keep one client category",
                many.len(),
                names.join(", ")
            )));
        }
    };
    let description = norm(item.text("description").unwrap_or(""));
    if description.is_empty() {
        return Ok(Verdict::Refused(
            "a new task needs a description (Outlook Subject, VTODO SUMMARY)".into(),
        ));
    }
    let status = match item.si_status() {
        Some(SiStatus::Closed) => {
            return Ok(Verdict::Refused(
                "a new task cannot be created already completed; create it open".into(),
            ));
        }
        Some(SiStatus::CompletionRequested) => SiStatus::CompletionRequested,
        _ => SiStatus::InProgress,
    };
    let si = |n: &str| def(Kind::Si, n);
    let mut assignments: Vec<Assignment> = vec![
        (si("client"), Value::Ref(client)),
        (si("description"), Value::Text(description)),
        (si("status"), Value::Text(status.as_str().into())),
    ];
    for name in ["notes", "priority", "start", "due"] {
        if let Some(v) = item.get(name) {
            let value = value_of(si(name), v);
            if !value.is_null() {
                assignments.push((si(name), value));
            }
        }
    }
    let (location, people, changes) = resolve_contacts(item, client, r)?;
    if let Some((l, _)) = location {
        assignments.push((si("location"), Value::Ref(l)));
    }
    if !people.is_empty() {
        assignments.push((si("people"), Value::Refs(people)));
    }
    if let Some(uid) = &item.uid {
        assignments.push((si("uid"), Value::Text(uid.clone())));
    }
    Ok(Verdict::Create {
        assignments,
        changes,
    })
}

#[cfg(test)]
mod tests;
