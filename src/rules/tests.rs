//! The rules against an in-memory [`Resolve`]: records and items built in code, no
//! database.

use chrono::NaiveDate;

use super::*;
use crate::codec::item::Named;

const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
/// The change time of every test record; items are older or newer than this.
const DB_TIME: i64 = 1_000_000;
const OLDER: i64 = DB_TIME - 1;
const NEWER: i64 = DB_TIME + 1;

fn k(kind: Kind, id: i64) -> Key {
    Key::new(kind, id)
}

/// Clients, their locations and people, as the store would resolve them.
struct Mem {
    /// (client, name, active)
    clients: Vec<(Key, &'static str, bool)>,
    /// (client, location, name)
    locations: Vec<(Key, Key, &'static str)>,
    /// (client of a client user, or `None` for a service agent; user; "First Last")
    people: Vec<(Option<Key>, Key, &'static str)>,
}

impl Resolve for Mem {
    fn clients(&self, name: &str) -> Result<Vec<(Key, bool)>> {
        Ok(self
            .clients
            .iter()
            .filter(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(k, _, a)| (*k, *a))
            .collect())
    }
    fn location(&self, client: Key, name: &str) -> Result<Option<Key>> {
        Ok(self
            .locations
            .iter()
            .find(|(c, _, n)| *c == client && n.eq_ignore_ascii_case(name))
            .map(|(_, l, _)| *l))
    }
    fn people(&self, client: Key, name: &str) -> Result<Vec<Key>> {
        Ok(self
            .people
            .iter()
            .filter(|(c, _, n)| c.is_none_or(|c| c == client) && n.eq_ignore_ascii_case(name))
            .map(|(_, u, _)| *u)
            .collect())
    }
}

fn acme() -> Key {
    k(Kind::Client, 1)
}

/// Acme (active) with Head Office and Warehouse, Beta (active), Old Co (inactive); Laura
/// Kowalski of Acme, Ben Ortiz of Beta, the agent Dana Whitfield, and two Sam Lees at Acme.
fn mem() -> Mem {
    Mem {
        clients: vec![
            (acme(), "Acme", true),
            (k(Kind::Client, 2), "Beta", true),
            (k(Kind::Client, 3), "Old Co", false),
        ],
        locations: vec![
            (acme(), k(Kind::Location, 1), "Head Office"),
            (acme(), k(Kind::Location, 2), "Warehouse"),
            (k(Kind::Client, 2), k(Kind::Location, 3), "Beta Main"),
        ],
        people: vec![
            (Some(acme()), k(Kind::User, 1), "Laura Kowalski"),
            (Some(k(Kind::Client, 2)), k(Kind::User, 2), "Ben Ortiz"),
            (None, k(Kind::User, 3), "Dana Whitfield"),
            (Some(acme()), k(Kind::User, 4), "Sam Lee"),
            (Some(acme()), k(Kind::User, 5), "Sam Lee"),
        ],
    }
}

/// A record with the given values (every other field empty) and reference labels.
fn record(key: Key, values: &[(&str, Value)], labels: &[(&str, &[&str])]) -> Record {
    let defs = fields::of(key.kind);
    let mut r = Record {
        key,
        updated_at: DB_TIME,
        values: vec![Value::Null; defs.len()],
        labels: Vec::new(),
    };
    for (name, v) in values {
        r.values[fields::index(key.kind, name).expect("field")] = v.clone();
    }
    for (name, l) in labels {
        let i = fields::index(key.kind, name).expect("field");
        r.labels
            .push((i, l.iter().map(|s| s.to_string()).collect()));
    }
    r
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// SM-U1, Laura Kowalski of Acme.
fn contact() -> Record {
    record(
        k(Kind::User, 1),
        &[
            ("kind", text("client")),
            ("client", Value::Ref(acme())),
            ("first_name", text("Laura")),
            ("last_name", text("Kowalski")),
            ("phone", text("+1 312 555 0100")),
            ("category", text("Acme")),
        ],
        &[("client", &["Acme"])],
    )
}

/// SI-1 of Acme at Head Office, with Laura Kowalski, in `status`.
fn si(status: SiStatus) -> Record {
    record(
        k(Kind::Si, 1),
        &[
            ("client", Value::Ref(acme())),
            ("category", text("Acme")),
            ("location", Value::Ref(k(Kind::Location, 1))),
            ("description", text("Printer jams")),
            ("status", text(status.as_str())),
            ("priority", text("Normal")),
            ("people", Value::Refs(vec![k(Kind::User, 1)])),
        ],
        &[
            ("client", &["Acme"]),
            ("location", &["Head Office"]),
            ("people", &["Laura Kowalski"]),
        ],
    )
}

/// Sets a field of an item (in place, else appended).
fn set(item: &mut Item, name: &str, v: Field) {
    let def = fields::get(item.kind, name).expect("field");
    match item.values.iter_mut().find(|(f, _)| f.name == name) {
        Some((_, old)) => *old = v,
        None => item.values.push((def, v)),
    }
}

fn set_text(item: &mut Item, name: &str, v: &str) {
    set(item, name, Field::Text(v.into()));
}

fn add_category(item: &mut Item, c: &str) {
    let mut cats = item.categories().to_vec();
    cats.push(c.into());
    set(item, "category", Field::List(cats));
}

/// The item Outlook sends back for `r`, edited by `edit`.
fn edited(r: &Record, update: bool, edit: impl FnOnce(&mut Item)) -> Item {
    let mut item = Item::from_record(r);
    if update {
        add_category(&mut item, UPDATE_CATEGORY);
    }
    edit(&mut item);
    item
}

/// What `r` looked like when it was exported: its values as JSON.
fn exported(r: &Record) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(&Item::from_record(r).values_json()).unwrap()
}

fn update(item: &Item, r: &Record, item_time: i64) -> Verdict {
    let was = exported(r);
    let base = Base {
        record: r,
        exported: Some(&was),
        item_time,
        today: TODAY,
    };
    plan_update(item, &base, &mem()).unwrap()
}

/// The assignments and decisions of an update verdict (panics on any other).
fn planned(v: Verdict) -> (Vec<Assignment>, Vec<FieldChange>) {
    match v {
        Verdict::Update {
            assignments,
            changes,
        } => (assignments, changes),
        other => panic!("not an update: {other:?}"),
    }
}

fn assigned<'a>(a: &'a [Assignment], name: &str) -> Option<&'a Value> {
    a.iter().find(|(f, _)| f.name == name).map(|(_, v)| v)
}

fn decisions(changes: &[FieldChange]) -> Vec<(&'static str, Decision)> {
    changes.iter().map(|c| (c.field, c.decision)).collect()
}

// ---- before the rules proper: admit and check_record ----

#[test]
fn admit_skips_contacts_without_update_and_refuses_a_repeated_key() {
    let plain = Item::from_record(&contact());
    let mut flagged = plain.clone();
    add_category(&mut flagged, "!update"); // compared ignoring case
    let task = Item::from_record(&si(SiStatus::InProgress));
    let mut new_task = task.clone();
    new_task.key = None;
    let u1 = k(Kind::User, 1);
    let si1 = k(Kind::Si, 1);
    let skip = Admission::Skip("no !Update category".into());
    let repeated = |key: Key| {
        Admission::Refuse(format!(
            "{key} appears more than once in this file; only its first item is applied"
        ))
    };
    // (item, key, keys met before, what admit decides)
    let cases: Vec<(&Item, Option<Key>, Vec<Key>, Admission)> = vec![
        (&plain, Some(u1), vec![], skip.clone()),
        // The shortcut comes first: a skipped contact is never "repeated".
        (&plain, Some(u1), vec![u1], skip.clone()),
        (&plain, None, vec![], skip),
        (&flagged, Some(u1), vec![], Admission::Existing(u1)),
        (&flagged, Some(u1), vec![u1], repeated(u1)),
        // Tasks have no shortcut: a status change needs no !Update.
        (&task, Some(si1), vec![], Admission::Existing(si1)),
        (&task, Some(si1), vec![si1], repeated(si1)),
        (&new_task, None, vec![si1], Admission::New),
    ];
    for (i, (item, key, before, want)) in cases.into_iter().enumerate() {
        let mut seen: SeenKeys = before.into_iter().collect();
        assert_eq!(admit(item, key, &mut seen), want, "case {i}");
        if let Some(key) = key {
            assert!(seen.contains(&key), "case {i}: the key is remembered");
        }
    }
}

#[test]
fn a_skipped_contact_makes_a_later_item_with_its_key_a_repeat() {
    let plain = Item::from_record(&contact());
    let mut flagged = plain.clone();
    add_category(&mut flagged, UPDATE_CATEGORY);
    let u1 = k(Kind::User, 1);
    let mut seen = SeenKeys::default();
    assert!(matches!(
        admit(&plain, Some(u1), &mut seen),
        Admission::Skip(_)
    ));
    assert_eq!(
        admit(&flagged, Some(u1), &mut seen),
        Admission::Refuse(
            "SM-U1 appears more than once in this file; only its first item is applied".into()
        )
    );
}

#[test]
fn check_record_refuses_an_unknown_key_and_a_key_of_another_kind() {
    let c = contact();
    let item = Item::from_record(&c);
    assert_eq!(
        check_record(&item, k(Kind::User, 9), None).unwrap_err(),
        "SM-U9 does not exist in Service Master; new contacts cannot be created in Outlook"
    );
    let task = si(SiStatus::InProgress);
    assert_eq!(
        check_record(&item, task.key, Some(&task)).unwrap_err(),
        "SI-1 is a si key on a user item"
    );
    assert!(std::ptr::eq(
        check_record(&item, c.key, Some(&c)).unwrap(),
        &c
    ));
}

// ---- contacts ----

#[test]
fn a_contact_edit_without_update_is_skipped_and_says_why() {
    let c = contact();
    let item = edited(&c, false, |i| set_text(i, "phone", "+1 999"));
    match update(&item, &c, NEWER) {
        Verdict::Skipped(why) => assert_eq!(
            why,
            "no !Update category: 1 edited field(s) not applied; add the category in Outlook \
             and export again"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_contact_with_update_applies_updatable_fields_and_ignores_the_others() {
    let c = contact();
    let item = edited(&c, true, |i| {
        set_text(i, "phone", "+1 999");
        set_text(i, "mobile", "+1 888");
        set_text(i, "first_name", "Laurie");
    });
    let (a, changes) = planned(update(&item, &c, NEWER));
    assert_eq!(assigned(&a, "phone"), Some(&text("+1 999")));
    assert_eq!(assigned(&a, "mobile"), Some(&text("+1 888")));
    assert_eq!(assigned(&a, "first_name"), None, "not updatable");
    let first = changes.iter().find(|c| c.field == "first_name").unwrap();
    assert_eq!(first.decision, Decision::NotUpdatable);
    assert_eq!(
        first.reason,
        "first_name is not updatable from Outlook; change it in Service Master"
    );
    assert_eq!(
        (first.database.as_str(), first.incoming.as_str()),
        ("Laura", "Laurie")
    );
    let mut got = decisions(&changes);
    got.sort_by_key(|(f, _)| *f);
    assert_eq!(
        got,
        vec![
            ("first_name", Decision::NotUpdatable),
            ("mobile", Decision::Applied),
            ("phone", Decision::Applied),
        ]
    );
}

#[test]
fn a_contact_with_update_and_no_edit_changes_nothing() {
    let c = contact();
    let (a, changes) = planned(update(&edited(&c, true, |_| {}), &c, NEWER));
    assert!(a.is_empty() && changes.is_empty(), "{a:?} {changes:?}");
}

// ---- conflicts, field by field, against the export state ----

#[test]
fn conflicts_are_decided_per_field_by_the_newer_side() {
    let exported_phone = "+1 312 555 0100";
    // (database now, Outlook's, item time, decision (None: kept silently), applied value)
    type Case<'a> = (&'a str, &'a str, i64, Option<Decision>, Option<&'a str>);
    let cases: [Case; 6] = [
        // Changed only in Outlook: applied, whatever the times.
        (
            exported_phone,
            "+1 OUT",
            OLDER,
            Some(Decision::Applied),
            Some("+1 OUT"),
        ),
        (
            exported_phone,
            "+1 OUT",
            NEWER,
            Some(Decision::Applied),
            Some("+1 OUT"),
        ),
        // Changed only in the database: kept, not even reported.
        ("+1 DB", exported_phone, NEWER, None, None),
        // Changed on both sides: the newer side wins.
        (
            "+1 DB",
            "+1 OUT",
            NEWER,
            Some(Decision::ConflictOutlookWon),
            Some("+1 OUT"),
        ),
        (
            "+1 DB",
            "+1 OUT",
            OLDER,
            Some(Decision::ConflictDatabaseKept),
            None,
        ),
        // Both made the same change: nothing to do.
        ("+1 SAME", "+1 SAME", NEWER, None, None),
    ];
    let was = contact();
    for (i, (db, outlook, when, want, value)) in cases.into_iter().enumerate() {
        let mut now = was.clone();
        now.values[fields::index(Kind::User, "phone").unwrap()] = text(db);
        let item = edited(&was, true, |it| set_text(it, "phone", outlook));
        let export = exported(&was);
        let base = Base {
            record: &now,
            exported: Some(&export),
            item_time: when,
            today: TODAY,
        };
        let (a, changes) = planned(plan_update(&item, &base, &mem()).unwrap());
        let phone = changes.iter().find(|c| c.field == "phone");
        assert_eq!(phone.map(|c| c.decision), want, "case {i}: {changes:?}");
        assert_eq!(assigned(&a, "phone"), value.map(text).as_ref(), "case {i}");
        if let Some(c) = phone {
            // Both values travel to the report and the journal: the loser is kept there.
            assert_eq!(
                (c.database.as_str(), c.incoming.as_str()),
                (db, outlook),
                "case {i}"
            );
        }
    }
}

#[test]
fn conflict_reasons_name_the_winner() {
    let was = contact();
    let mut now = was.clone();
    now.values[fields::index(Kind::User, "phone").unwrap()] = text("+1 DB");
    let item = edited(&was, true, |it| set_text(it, "phone", "+1 OUT"));
    let export = exported(&was);
    let reason = |when| {
        let base = Base {
            record: &now,
            exported: Some(&export),
            item_time: when,
            today: TODAY,
        };
        let (_, changes) = planned(plan_update(&item, &base, &mem()).unwrap());
        changes[0].reason.clone()
    };
    assert_eq!(
        reason(NEWER),
        "changed on both sides; Outlook's edit is newer"
    );
    assert_eq!(
        reason(OLDER),
        "changed on both sides; the database's change is newer"
    );
}

// ---- task status ----

#[test]
fn task_status_rules() {
    use SiStatus::*;
    let closing_ip = "SI-1 is In Progress: only an SI in Completion Requested (Outlook: \
                      Waiting on someone else) can be closed from Outlook; ask for completion \
                      first, or close it in Service Master";
    // (database, Outlook, !Update, decision, reason)
    let cases: [(SiStatus, SiStatus, bool, Decision, &str); 9] = [
        (CompletionRequested, Closed, false, Decision::Applied, ""),
        (CompletionRequested, Closed, true, Decision::Applied, ""),
        (InProgress, Closed, false, Decision::Refused, closing_ip),
        (InProgress, Closed, true, Decision::Refused, closing_ip),
        (InProgress, CompletionRequested, true, Decision::Applied, ""),
        (CompletionRequested, InProgress, true, Decision::Applied, ""),
        (
            InProgress,
            CompletionRequested,
            false,
            Decision::NeedsUpdateCategory,
            "a status change needs the !Update category",
        ),
        (
            InProgress,
            OnHold,
            true,
            Decision::Refused,
            "Outlook status for 'On Hold' cannot be set from Outlook; use In Progress, \
             Waiting on someone else or Completed",
        ),
        (
            Closed,
            InProgress,
            true,
            Decision::Refused,
            "SI-1 is closed in Service Master; reopen it there",
        ),
    ];
    for (i, (db, outlook, flag, want, why)) in cases.into_iter().enumerate() {
        let r = si(db);
        let item = edited(&r, flag, |it| set_text(it, "status", outlook.as_str()));
        let changes = match update(&item, &r, NEWER) {
            Verdict::Update { changes, .. } => changes,
            // Without !Update, an edit that needs it skips the item.
            Verdict::Skipped(s) if want == Decision::NeedsUpdateCategory => {
                assert!(s.starts_with("no !Update category: 1 edited"), "{s}");
                continue;
            }
            other => panic!("case {i}: {other:?}"),
        };
        let status = changes.iter().find(|c| c.field == "status").unwrap();
        assert_eq!(
            (status.decision, status.reason.as_str()),
            (want, why),
            "case {i}"
        );
    }
}

#[test]
fn completed_on_completion_requested_closes_with_a_completion_date() {
    let r = si(SiStatus::CompletionRequested);
    let item = edited(&r, false, |it| set_text(it, "status", "Closed"));
    let (a, _) = planned(update(&item, &r, NEWER));
    assert_eq!(assigned(&a, "status"), Some(&text("Closed")));
    assert_eq!(assigned(&a, "completed"), Some(&Value::Date(TODAY)));
    // The date Outlook sends wins over today.
    let done = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let item = edited(&r, false, |it| {
        set_text(it, "status", "Closed");
        set(it, "completed", Field::Date(done));
    });
    let (a, changes) = planned(update(&item, &r, NEWER));
    assert_eq!(assigned(&a, "completed"), Some(&Value::Date(done)));
    // The date came with the closing: it is no edit of a field Outlook may not change.
    assert!(
        changes.iter().all(|c| c.field != "completed"),
        "{changes:?}"
    );
    // Without the closing, it is one.
    let item = edited(&r, true, |it| set(it, "completed", Field::Date(done)));
    let (_, changes) = planned(update(&item, &r, NEWER));
    assert!(
        changes
            .iter()
            .any(|c| c.field == "completed" && c.decision == Decision::NotUpdatable),
        "{changes:?}"
    );
}

#[test]
fn a_refused_status_applies_nothing() {
    let r = si(SiStatus::InProgress);
    let item = edited(&r, true, |it| set_text(it, "status", "Closed"));
    let (a, _) = planned(update(&item, &r, NEWER));
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn edits_to_a_closed_si_are_refused_as_a_whole() {
    let r = si(SiStatus::Closed);
    let item = edited(&r, true, |it| set_text(it, "priority", "High"));
    match update(&item, &r, NEWER) {
        Verdict::Refused(why) => assert_eq!(
            why,
            "SI-1 is closed in Service Master; edits to a closed SI are not applied"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn task_contacts_add_people_and_move_the_location_with_update() {
    let r = si(SiStatus::InProgress);
    let names = |ns: &[&str]| {
        Field::Names(
            ns.iter()
                .map(|n| Named {
                    key: None,
                    name: n.to_string(),
                })
                .collect(),
        )
    };
    let item = edited(&r, true, |it| {
        set(it, "location", names(&["Warehouse"]));
        set(
            it,
            "people",
            names(&["Laura Kowalski", "Dana Whitfield", "Nobody"]),
        );
    });
    let (a, changes) = planned(update(&item, &r, NEWER));
    assert_eq!(
        assigned(&a, "location"),
        Some(&Value::Ref(k(Kind::Location, 2)))
    );
    assert_eq!(
        assigned(&a, "people"),
        Some(&Value::Refs(vec![k(Kind::User, 1), k(Kind::User, 3)]))
    );
    let nobody = changes.iter().find(|c| c.incoming == "Nobody").unwrap();
    assert_eq!(nobody.decision, Decision::Ignored);
    // Without !Update the same contacts change nothing.
    let mut plain = item.clone();
    set(&mut plain, "category", Field::List(vec!["Acme".into()]));
    assert!(matches!(update(&plain, &r, NEWER), Verdict::Skipped(_)));
}

// ---- new tasks ----

/// A new task (no key) with a description, these categories and contacts.
fn new_task(description: &str, categories: &[&str], contacts: &[&str]) -> Item {
    let mut item = Item {
        kind: Kind::Si,
        key: None,
        uid: Some("uid-1".into()),
        values: Vec::new(),
        modified: None,
    };
    set(
        &mut item,
        "category",
        Field::List(categories.iter().map(|c| c.to_string()).collect()),
    );
    set_text(&mut item, "description", description);
    set(
        &mut item,
        "people",
        Field::Names(
            contacts
                .iter()
                .map(|n| Named {
                    key: None,
                    name: n.to_string(),
                })
                .collect(),
        ),
    );
    item
}

fn created(item: &Item) -> (Vec<Assignment>, Vec<FieldChange>) {
    match plan_new_task(item, &mem()).unwrap() {
        Verdict::Create {
            assignments,
            changes,
        } => (assignments, changes),
        other => panic!("not created: {other:?}"),
    }
}

#[test]
fn new_task_refusals() {
    // (description, categories, verdict: Some(refusal) or None for skipped, the reason)
    let cases: [(&str, &[&str], bool, &str); 7] = [
        (
            "",
            &["Acme"],
            true,
            "a new task needs a description (Outlook Subject, VTODO SUMMARY)",
        ),
        (
            "  ",
            &["Acme", "!Update"],
            true,
            "a new task needs a description (Outlook Subject, VTODO SUMMARY)",
        ),
        (
            "Fix",
            &["Personal"],
            false,
            "a task without a client category is not a Service Master task",
        ),
        (
            "Fix",
            &["Personal", "!Update"],
            true,
            "a new task needs a category equal to an active client's name; its categories \
             are: Personal",
        ),
        (
            "Fix",
            &["!Update"],
            true,
            "a new task needs a category equal to an active client's name; its categories \
             are: (none)",
        ),
        (
            "Fix",
            &["Old Co"],
            true,
            "client Old Co is inactive; a new task needs an active client's category",
        ),
        (
            "Fix",
            &["acme", "Beta"],
            true,
            "the categories name 2 clients (acme, Beta); keep one client category",
        ),
    ];
    for (i, (description, cats, refused, why)) in cases.into_iter().enumerate() {
        let item = new_task(description, cats, &[]);
        match (plan_new_task(&item, &mem()).unwrap(), refused) {
            (Verdict::Refused(got), true) | (Verdict::Skipped(got), false) => {
                assert_eq!(got, why, "case {i}")
            }
            (other, _) => panic!("case {i}: {other:?}"),
        }
    }
}

#[test]
fn a_new_task_gets_its_client_location_people_and_uid() {
    let item = new_task(
        " Fix the printer ",
        &["Acme", "Completion Requested"],
        &[
            "Warehouse",
            "Laura Kowalski",
            "Dana Whitfield",
            "Ben Ortiz",
            "Sam Lee",
        ],
    );
    let (a, changes) = created(&item);
    assert_eq!(assigned(&a, "client"), Some(&Value::Ref(acme())));
    assert_eq!(assigned(&a, "description"), Some(&text("Fix the printer")));
    assert_eq!(assigned(&a, "status"), Some(&text("In Progress")));
    assert_eq!(
        assigned(&a, "location"),
        Some(&Value::Ref(k(Kind::Location, 2))),
        "the contact that names a location of the client"
    );
    assert_eq!(
        assigned(&a, "people"),
        Some(&Value::Refs(vec![k(Kind::User, 1), k(Kind::User, 3)])),
        "client users of the client and service agents"
    );
    assert_eq!(assigned(&a, "uid"), Some(&text("uid-1")));
    // Ben Ortiz is Beta's; two people are named Sam Lee: reported, not added.
    let ignored: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| {
            assert_eq!(c.decision, Decision::Ignored);
            (c.incoming.as_str(), c.reason.as_str())
        })
        .collect();
    assert_eq!(
        ignored,
        vec![
            (
                "Ben Ortiz",
                "'Ben Ortiz' names no location, client user of SM-C1 or service agent; not \
                 added"
            ),
            (
                "Sam Lee",
                "'Sam Lee' names 2 people (SM-U4, SM-U5); not added"
            ),
        ]
    );
}

#[test]
fn a_new_task_without_a_location_contact_leaves_the_location_to_the_store() {
    // The store gives an SI without a location its client's Main location.
    let (a, _) = created(&new_task("Fix", &["Acme"], &["Laura Kowalski"]));
    assert_eq!(assigned(&a, "location"), None);
}

#[test]
fn a_new_task_keeps_completion_requested_and_cannot_start_closed() {
    let mut waiting = new_task("Fix", &["Acme"], &[]);
    set_text(&mut waiting, "status", "Completion Requested");
    let (a, _) = created(&waiting);
    assert_eq!(assigned(&a, "status"), Some(&text("Completion Requested")));
    let mut done = new_task("Fix", &["Acme"], &[]);
    set_text(&mut done, "status", "Closed");
    match plan_new_task(&done, &mem()).unwrap() {
        Verdict::Refused(why) => assert_eq!(
            why,
            "a new task cannot be created already completed; create it open"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn decision_names_are_their_serialized_names() {
    use Decision::*;
    for d in [
        Applied,
        ConflictOutlookWon,
        ConflictDatabaseKept,
        NotUpdatable,
        NeedsUpdateCategory,
        Refused,
        Ignored,
    ] {
        assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
    }
}

/// A seeded random history for the export state test below: SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// A random value for field `f` of a record, from small pools so that the sides of a
/// history often agree; also the label of a reference.
fn random_value(rng: &mut Rng, f: &FieldDef) -> (Value, Vec<String>) {
    const TEXTS: [&str; 7] = [
        "Acme",
        "Beta",
        " Acme ",
        "Head Office",
        "a\r\nb",
        "a\nb",
        "x",
    ];
    const NAMES: [&str; 4] = ["Head Office", "Warehouse", "Laura Kowalski", "Sam Lee"];
    // An SI always has a client (the database requires it).
    if rng.chance(20) && !(f.kind == Kind::Si && f.name == "client") {
        return (Value::Null, Vec::new());
    }
    match f.ty {
        Ty::Text => (text(rng.pick(&TEXTS)), Vec::new()),
        Ty::Choice(options) => (text(rng.pick(options)), Vec::new()),
        Ty::Date => {
            let dates = [(2026, 3, 4), (2026, 4, 3), (2025, 12, 31)];
            let (y, m, d) = rng.pick(&dates);
            (
                Value::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap()),
                Vec::new(),
            )
        }
        Ty::Ref(kind) => (
            Value::Ref(k(kind, 1 + rng.below(3) as i64)),
            vec![rng.pick(&NAMES).to_string()],
        ),
        Ty::Refs(kind) => {
            let n = rng.below(3);
            let keys: Vec<Key> = (0..n).map(|i| k(kind, 1 + i as i64)).collect();
            let labels = (0..n).map(|_| rng.pick(&NAMES).to_string()).collect();
            (Value::Refs(keys), labels)
        }
        Ty::Bool => (Value::Bool(rng.chance(50)), Vec::new()),
        Ty::Int | Ty::Stamp => (Value::Int(rng.below(3) as i64), Vec::new()),
    }
}

/// Sets field `i` of a record to a random value (with its label).
fn randomize(rng: &mut Rng, r: &mut Record, i: usize) {
    let f = &fields::of(r.key.kind)[i];
    let (v, labels) = match f.name {
        "key" => (text(&r.key.to_string()), Vec::new()),
        _ => random_value(rng, f),
    };
    r.values[i] = v;
    r.labels.retain(|(j, _)| *j != i);
    if !labels.is_empty() {
        r.labels.push((i, labels));
    }
}

/// The export state as it was before it left out [`NOT_COMPARED`]: every synced value.
fn every_value(r: &Record) -> serde_json::Map<String, serde_json::Value> {
    Item::from_record(r)
        .values
        .iter()
        .map(|(f, v)| (f.name.to_string(), v.text_cow().into_owned().into()))
        .collect()
}

#[test]
fn decisions_are_the_same_without_the_values_the_export_state_leaves_out() {
    // Random histories: a record as it was exported, what the database made of it since,
    // and the copy Outlook sends back, edited or not, with or without !Update, older or
    // newer than the database's change. The rules decide each the same whether the state
    // holds every exported value or leaves out the fields no rule compares.
    let mut rng = Rng(20);
    let mut differed = 0;
    for _ in 0..5_000 {
        let kind = rng.pick(&[Kind::Location, Kind::User, Kind::Tech, Kind::Si]);
        let defs = fields::of(kind);
        let mut was = record(k(kind, 1), &[], &[]);
        for i in 0..defs.len() {
            randomize(&mut rng, &mut was, i);
        }
        let mut now = was.clone();
        for i in 0..defs.len() {
            if rng.chance(25) {
                randomize(&mut rng, &mut now, i);
            }
        }
        // Outlook's copy: the exported one or the database's now, with edits.
        let mut item = Item::from_record(if rng.chance(80) { &was } else { &now });
        let mut edits = if rng.chance(50) {
            was.clone()
        } else {
            now.clone()
        };
        for (i, f) in defs.iter().enumerate() {
            if f.synced() && rng.chance(25) {
                randomize(&mut rng, &mut edits, i);
                let from = Item::from_record(&edits);
                match from.get(f.name) {
                    Some(v) => set(&mut item, f.name, v.clone()),
                    None => item.values.retain(|(g, _)| g.name != f.name),
                }
            }
        }
        if rng.chance(60) {
            add_category(&mut item, UPDATE_CATEGORY);
        }
        let item_time = rng.pick(&[OLDER, NEWER]);
        let whole = every_value(&was);
        let kept: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&Item::from_record(&was).values_json()).unwrap();
        if whole != kept {
            differed += 1;
        }
        let decide = |exported: &serde_json::Map<String, serde_json::Value>| {
            let base = Base {
                record: &now,
                exported: Some(exported),
                item_time,
                today: TODAY,
            };
            format!("{:?}", plan_update(&item, &base, &mem()))
        };
        assert_eq!(decide(&whole), decide(&kept), "{was:?}\n{now:?}\n{item:?}");
    }
    // The state did leave values out in most histories.
    assert!(differed > 2_500, "{differed}");
}
