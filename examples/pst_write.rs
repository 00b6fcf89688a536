//! Writes a sample PST with smsync's PST writer, for readers outside Rust to check (the
//! interop suite reads it with libpff). Prints what it wrote as JSON: each item's key,
//! message class and categories, and the folder each is in.
//!
//! Usage: `cargo run --example pst_write -- OUT.pst [CONTACTS TASKS]`

use chrono::NaiveDate;
use smsync::codec::item::{Field, Item, Named};
use smsync::fields;
use smsync::model::{Key, Kind};

fn contact(n: i64) -> Item {
    let k = Kind::User;
    let mut values: Vec<(&'static fields::FieldDef, Field)> = Vec::new();
    for f in fields::of(k).iter().filter(|f| f.mapi.is_some()) {
        let v = match f.name {
            "key" => continue,
            "category" => {
                let cats = vec![
                    "Müller & Söhne GmbH".to_string(),
                    format!("Gruppe {}", n % 3),
                ];
                values.push((f, Field::List(cats)));
                continue;
            }
            "first_name" => format!("Jürgen {n}"),
            "last_name" => "Øster-Łukasz".into(),
            "email" => format!("j{n}@example.com"),
            "notes" => format!("Notiz {n} — 日本語 ✓\r\nZeile 2"),
            "client" => "Müller & Söhne GmbH".into(),
            other => format!("{other} {n}"),
        };
        values.push((f, Field::Text(v)));
    }
    Item {
        kind: k,
        key: Some(Key::new(k, n)),
        uid: None,
        values,
        modified: Some(1_773_500_966_000_000 + n),
    }
}

fn task(n: i64) -> Item {
    let k = Kind::Si;
    let f = |name| fields::get(k, name).unwrap();
    let date = |d| Field::Date(NaiveDate::from_ymd_opt(2026, 3, d).unwrap());
    let status = ["In Progress", "Completion Requested", "Closed"][n as usize % 3];
    Item {
        kind: k,
        key: Some(Key::new(k, n)),
        uid: None,
        values: vec![
            (f("client"), Field::Text("Müller & Söhne GmbH".into())),
            (
                f("category"),
                Field::List(vec!["Müller & Söhne GmbH".into()]),
            ),
            (
                f("location"),
                Field::Names(vec![Named {
                    key: None,
                    name: "Zentrale Köln".into(),
                }]),
            ),
            (f("description"), Field::Text(format!("Aufgabe {n} ✓"))),
            (f("status"), Field::Text(status.into())),
            (f("priority"), Field::Text("High".into())),
            (f("start"), date(1)),
            (f("due"), date(28)),
        ],
        modified: Some(1_773_500_966_000_000 - n),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: pst_write OUT.pst [CONTACTS TASKS]");
        std::process::exit(2);
    };
    let n_contacts: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(40);
    let n_tasks: i64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(15);
    let mut items: Vec<Item> = (1..=n_contacts).map(contact).collect();
    items.extend((1..=n_tasks).map(|n| task(1000 + n)));
    if let Err(e) = smsync::pst_write::write_pst(std::path::Path::new(out), &items) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    let list: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            serde_json::json!({
                "key": i.key.unwrap().to_string(),
                "folder": if i.kind == Kind::Si { "Tasks" } else { "Contacts" },
                "class": if i.kind == Kind::Si { "IPM.Task" } else { "IPM.Contact" },
                "categories": i.categories(),
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(list));
}
