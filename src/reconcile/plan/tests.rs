//! The planner against records and items built in code, no database or file.

use super::*;
use crate::fields;

fn k(kind: Kind, id: i64) -> Key {
    Key::new(kind, id)
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// A record with the given values (every other field empty) and its client's label.
fn record(key: Key, values: &[(&str, Value)], client: Option<&str>) -> Record {
    let defs = fields::of(key.kind);
    let mut r = Record {
        key,
        updated_at: 1,
        values: vec![Value::Null; defs.len()],
        labels: Vec::new(),
    };
    for (name, v) in values {
        r.values[fields::index(key.kind, name).expect("field")] = v.clone();
    }
    if let Some(c) = client {
        r.labels
            .push((fields::index(key.kind, "client").unwrap(), vec![c.into()]));
    }
    r
}

/// A client user of Acme (client SM-C1).
fn user(id: i64, first: &str, last: &str, email: &str, active: bool) -> Record {
    record(
        k(Kind::User, id),
        &[
            ("kind", text("client")),
            ("client", Value::Ref(k(Kind::Client, 1))),
            ("first_name", text(first)),
            ("last_name", text(last)),
            ("email", text(email)),
            ("phone", text("+1 555 0100")),
            ("category", text("Acme")),
            ("active", Value::Bool(active)),
        ],
        Some("Acme"),
    )
}

fn si(id: i64, description: &str, status: &str) -> Record {
    record(
        k(Kind::Si, id),
        &[
            ("client", Value::Ref(k(Kind::Client, 1))),
            ("description", text(description)),
            ("status", text(status)),
            ("priority", text("Normal")),
            ("category", text("Acme")),
        ],
        Some("Acme"),
    )
}

/// Records out of the set, and what the profile was given (by key).
#[derive(Default)]
struct Mem {
    records: HashMap<Key, Record>,
    exported: HashSet<Key>,
}

impl Facts for Mem {
    fn record(&self, key: Key) -> Result<Option<Record>> {
        Ok(self.records.get(&key).cloned())
    }
    fn exported(&self, key: Key) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        Ok(self.exported.contains(&key).then(|| {
            let mut m = serde_json::Map::new();
            m.insert("phone".into(), "+1 555 0100".into());
            m
        }))
    }
}

fn found(file: usize, source: &str, item: Item) -> Found {
    Found {
        file,
        source: source.into(),
        what: FoundItem::Item(item),
    }
}

fn set_field(item: &mut Item, name: &str, value: &str) {
    let def = fields::get(item.kind, name).unwrap();
    match item.values.iter_mut().find(|(f, _)| f.name == name) {
        Some((_, v)) => *v = Field::Text(value.into()),
        None => item.values.push((def, Field::Text(value.into()))),
    }
}

const BOTH: Compared = Compared {
    contacts: true,
    tasks: true,
};

fn files() -> Vec<String> {
    vec!["export.csv".to_string()]
}

/// Ada and Ben of Acme (both exported), one open SI.
fn expected() -> Expected {
    Expected::new([
        Item::from_record(&user(1, "Ada", "Lovelace", "ada@acme.test", true)),
        Item::from_record(&user(2, "Ben", "Ortiz", "ben@acme.test", true)),
        Item::from_record(&si(7, "Fix the printer", "In Progress")),
    ])
}

fn mem() -> Mem {
    Mem {
        exported: [k(Kind::User, 1), k(Kind::User, 2), k(Kind::Si, 7)]
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

#[test]
fn an_export_that_matches_finds_nothing() {
    let e = expected();
    let f: Vec<Found> = e
        .items
        .values()
        .map(|it| found(0, "row", it.clone()))
        .collect();
    let out = reconcile(&e, &f, &files(), BOTH, &mem()).unwrap();
    assert!(out.is_clean(), "{out:#?}");
    assert_eq!(out.counts.expected, 3);
}

#[test]
fn a_repeated_key_is_a_duplicate_listed_once_per_extra_copy() {
    let e = expected();
    let ada = e.items[&k(Kind::User, 1)].clone();
    let f = vec![
        found(0, "row 2", ada.clone()),
        found(0, "row 3", e.items[&k(Kind::User, 2)].clone()),
        found(0, "row 4", ada.clone()),
        found(0, "row 5", ada),
    ];
    let out = reconcile(
        &e,
        &f,
        &files(),
        Compared {
            contacts: true,
            tasks: false,
        },
        &mem(),
    )
    .unwrap();
    assert_eq!(out.duplicates.len(), 2, "{:#?}", out.duplicates);
    assert_eq!(out.duplicates[0].source.as_deref(), Some("row 4"));
    assert_eq!(out.duplicates[0].cause, Cause::RepeatedKey);
    assert!(
        out.duplicates[0].reason.contains("3 times"),
        "{}",
        out.duplicates[0].reason
    );
    assert!(out.missing.is_empty() && out.stale.is_empty() && out.mismatched.is_empty());
}

#[test]
fn a_keyless_copy_with_the_name_and_email_of_a_synced_item_is_a_duplicate() {
    let e = expected();
    let mut f: Vec<Found> = e
        .items
        .values()
        .map(|it| found(0, "row", it.clone()))
        .collect();
    for (name, email) in [
        (" ada  LOVELACE", "Ada@Acme.test"), // a copy
        ("Ada Lovelace", "other@home.test"), // the user's own
    ] {
        f.push(Found {
            file: 0,
            source: "row 9".into(),
            what: FoundItem::Keyless {
                side: Side::Contacts,
                name: name.into(),
                email: email.into(),
            },
        });
    }
    // A keyless task with the subject and client of SI-7 is a copy; another is personal.
    let mut task = Item::from_record(&si(99, "Fix the printer", "In Progress"));
    task.key = None;
    task.uid = Some("outlook-uid".into());
    f.push(found(0, "row 10", task.clone()));
    set_field(&mut task, "description", "Buy milk");
    f.push(found(0, "row 11", task));
    let out = reconcile(&e, &f, &files(), BOTH, &mem()).unwrap();
    let copies: Vec<_> = out.duplicates.iter().map(|d| (d.cause, d.side)).collect();
    assert_eq!(
        copies,
        [
            (Cause::KeylessCopy, Side::Contacts),
            (Cause::KeylessCopy, Side::Tasks)
        ]
    );
    assert!(
        out.duplicates[0].reason.contains("SM-U1"),
        "{}",
        out.duplicates[0].reason
    );
    assert_eq!(out.counts.personal, 2);
}

#[test]
fn a_key_out_of_the_set_is_stale_with_the_reason() {
    let e = expected();
    let mut m = mem();
    let gone = user(3, "Cy", "Old", "", false);
    let client_gone = user(4, "Di", "Away", "", true);
    let closed = si(8, "Done", "Closed");
    let held = si(9, "Later", "On Hold");
    let mut f: Vec<Found> = e
        .items
        .values()
        .map(|it| found(0, "row", it.clone()))
        .collect();
    for r in [&gone, &client_gone, &closed, &held] {
        m.records.insert(r.key, r.clone());
        f.push(found(0, "row", Item::from_record(r)));
    }
    let mut unknown = Item::from_record(&user(50, "Ed", "Nobody", "", true));
    unknown.key = Some(k(Kind::User, 50));
    f.push(found(0, "row", unknown));
    let out = reconcile(&e, &f, &files(), BOTH, &m).unwrap();
    let mut causes: Vec<_> = out
        .stale
        .iter()
        .map(|s| (s.key.clone().unwrap(), s.cause))
        .collect();
    causes.sort();
    assert_eq!(
        causes,
        [
            ("SI-8".to_string(), Cause::Closed),
            ("SI-9".to_string(), Cause::NotSyncedStatus),
            ("SM-U3".to_string(), Cause::Inactive),
            ("SM-U4".to_string(), Cause::ClientInactive),
            ("SM-U50".to_string(), Cause::UnknownKey),
        ]
    );
    assert!(out.refused.is_empty(), "one unknown key is no foreign file");
}

#[test]
fn missing_items_on_a_side_the_files_cover_only() {
    let e = expected();
    let mut m = mem();
    m.exported.remove(&k(Kind::User, 2));
    let f = vec![found(0, "row 2", e.items[&k(Kind::User, 1)].clone())];
    let out = reconcile(
        &e,
        &f,
        &files(),
        Compared {
            contacts: true,
            tasks: false,
        },
        &m,
    )
    .unwrap();
    let missing: Vec<_> = out
        .missing
        .iter()
        .map(|x| (x.key.clone().unwrap(), x.cause))
        .collect();
    assert_eq!(missing, [("SM-U2".to_string(), Cause::NotExportedYet)]);
    let out = reconcile(&e, &f, &files(), BOTH, &mem()).unwrap();
    let missing: Vec<_> = out.missing.iter().map(|x| x.cause).collect();
    assert_eq!(missing, [Cause::Absent, Cause::Absent], "SM-U2 and SI-7");
}

#[test]
fn a_changed_field_without_update_is_mismatched_with_both_values() {
    let e = expected();
    let mut ada = e.items[&k(Kind::User, 1)].clone();
    set_field(&mut ada, "phone", "+1 555 9999");
    set_field(&mut ada, "notes", " \r\n"); // empty both sides, after normalisation
    let mut ben = e.items[&k(Kind::User, 2)].clone();
    set_field(&mut ben, "email", "ben@new.test");
    ben.values.retain(|(f, _)| f.name != "category");
    ben.values.push((
        fields::get(Kind::User, "category").unwrap(),
        Field::List(vec!["Acme".into(), "!Update".into()]),
    ));
    let f = vec![found(0, "row 2", ada), found(0, "row 3", ben)];
    let out = reconcile(
        &e,
        &f,
        &files(),
        Compared {
            contacts: true,
            tasks: false,
        },
        &mem(),
    )
    .unwrap();
    assert_eq!(out.mismatched.len(), 1, "{:#?}", out.mismatched);
    let m = &out.mismatched[0];
    assert_eq!(m.key.as_deref(), Some("SM-U1"));
    assert_eq!(m.cause, Cause::Differs);
    assert_eq!(
        m.fields,
        [FieldDiff {
            field: "phone",
            database: "+1 555 0100".into(),
            outlook: "+1 555 9999".into()
        }]
    );
    assert_eq!(
        out.counts.updates, 1,
        "Ben's edit carries !Update: ingest's"
    );
}

#[test]
fn outlook_holding_the_last_exported_value_is_an_export_pending() {
    // The database moved on; Outlook holds what it was given.
    let mut ada = user(1, "Ada", "Lovelace", "ada@acme.test", true);
    ada.values[fields::index(Kind::User, "phone").unwrap()] = text("+1 555 2222");
    let e = Expected::new([Item::from_record(&ada)]);
    let given = Item::from_record(&user(1, "Ada", "Lovelace", "ada@acme.test", true));
    let f = vec![found(0, "row 2", given)];
    let out = reconcile(&e, &f, &files(), BOTH, &mem()).unwrap();
    assert_eq!(out.mismatched[0].cause, Cause::ExportPending);
}

#[test]
fn a_file_whose_keys_are_mostly_foreign_is_refused_not_listed() {
    let e = expected();
    // File 0: one renamed, five unknown keys, two of ours: 6 of 8 foreign.
    let mut f = vec![found(
        0,
        "row",
        Item::from_record(&user(1, "Someone", "Else", "", true)),
    )];
    for id in 100..105 {
        f.push(found(
            0,
            "row",
            Item::from_record(&user(id, "X", "Y", "", true)),
        ));
    }
    f.push(found(0, "row", e.items[&k(Kind::User, 2)].clone()));
    f.push(found(0, "row", e.items[&k(Kind::Si, 7)].clone()));
    // File 1: ours.
    f.push(found(1, "row", e.items[&k(Kind::User, 1)].clone()));
    let names = vec!["foreign.csv".to_string(), "ours.csv".to_string()];
    let out = reconcile(&e, &f, &names, BOTH, &mem()).unwrap();
    assert_eq!(out.refused.len(), 1, "{:#?}", out.refused);
    let r = &out.refused[0];
    assert_eq!((r.file.as_str(), r.keyed, r.foreign), ("foreign.csv", 8, 6));
    assert!(
        r.examples.iter().any(|x| x.contains("SM-U1: first_name")),
        "{:?}",
        r.examples
    );
    assert!(out.stale.is_empty(), "a refused file's keys are not stale");
    let missing: Vec<_> = out.missing.iter().filter_map(|m| m.key.clone()).collect();
    assert_eq!(missing, ["SM-U2", "SI-7"], "its items count for nothing");

    // Four foreign keys are below the minimum: listed as stale instead.
    f.retain(|x| x.file == 1 || !matches!(&x.what, FoundItem::Item(i) if i.key == Some(k(Kind::User, 104)) || i.key == Some(k(Kind::User, 1))));
    let out = reconcile(&e, &f, &names, BOTH, &mem()).unwrap();
    assert!(out.refused.is_empty(), "{:#?}", out.refused);
    assert_eq!(out.stale.len(), 4);
}

#[test]
fn unreadable_items_are_listed_and_a_key_they_show_is_present() {
    let e = expected();
    let mut f: Vec<Found> = vec![found(0, "row 2", e.items[&k(Kind::User, 1)].clone())];
    f.push(Found {
        file: 0,
        source: "row 3".into(),
        what: FoundItem::Unreadable {
            key: Some(k(Kind::User, 2)),
            kind: "contact".into(),
            fields: vec![("User 1".into(), "SM-U2".into())],
            error: "column 'Birthday': bad date".into(),
        },
    });
    let out = reconcile(
        &e,
        &f,
        &files(),
        Compared {
            contacts: true,
            tasks: false,
        },
        &mem(),
    )
    .unwrap();
    assert_eq!(out.unreadable.len(), 1);
    assert_eq!(out.unreadable[0].error, "column 'Birthday': bad date");
    assert_eq!(out.unreadable[0].fields["User 1"], "SM-U2");
    assert!(out.missing.is_empty(), "{:#?}", out.missing);
}
