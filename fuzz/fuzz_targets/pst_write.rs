//! Fuzz target: the PST writer. The input drives a list of contacts and tasks with any
//! Unicode in any MAPI field (some fields left out); they are written with the PST writer,
//! read back with smsync's PST reader, and must come back equal, field by field, as far as
//! MAPI carries them (the view of tests/pst_write.rs: empty values are absent, the people
//! of a task come back as its contact names).
//!
//! Values are made the way the field table says they travel: names and categories hold no
//! list separator (`,` `;`) and no surrounding space, as any such value is split or trimmed
//! on the way in; no text holds NUL, which no PST string can.
#![no_main]

use std::collections::BTreeMap;
use std::io::Cursor;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use smsync::codec::item::{Field, Item, Named};
use smsync::fields;
use smsync::model::{Key, Kind};
use smsync::pst_write::PstWriter;

fn text(u: &mut Unstructured, max: usize, plain: bool) -> Result<String> {
    let n = u.int_in_range(0..=max)?;
    let mut s = String::with_capacity(n);
    for _ in 0..n {
        let c: char = u.arbitrary()?;
        if c != '\0' {
            s.push(c);
        }
    }
    if plain {
        s = s.replace([',', ';'], "_").trim().to_string();
        if s.is_empty() {
            s = "x".into();
        }
    }
    Ok(s)
}

fn date(u: &mut Unstructured) -> Result<Field> {
    let days = u.int_in_range(0..=200 * 365)?;
    let d = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
    Ok(Field::Date(d))
}

fn item(u: &mut Unstructured, n: i64) -> Result<Item> {
    let kind = *u.choose(&[Kind::User, Kind::Tech, Kind::Location, Kind::Si])?;
    let mut values = Vec::new();
    for f in fields::of(kind).iter().filter(|f| f.mapi.is_some()) {
        // Every message has an importance (Normal when not given), as every SI a priority.
        if f.name == "key" || (f.name != "priority" && u.ratio(1, 6)?) {
            continue;
        }
        let list = |u: &mut Unstructured| -> Result<Vec<String>> {
            (0..u.int_in_range(1..=3)?)
                .map(|_| text(u, 12, true))
                .collect()
        };
        let v = match f.name {
            "category" => Field::List(list(u)?),
            "location" | "people" => Field::Names(
                list(u)?
                    .into_iter()
                    .map(|name| Named { key: None, name })
                    .collect(),
            ),
            "status" => {
                Field::Text((*u.choose(&["In Progress", "Completion Requested", "Closed"])?).into())
            }
            "priority" => Field::Text((*u.choose(&["High", "Normal", "Low"])?).into()),
            "start" | "due" | "completed" => date(u)?,
            "notes" | "description" => Field::Text(text(u, 5000, false)?),
            _ => Field::Text(text(u, 60, false)?),
        };
        values.push((f, v));
    }
    Ok(Item {
        kind,
        key: Some(Key::new(kind, n)),
        uid: None,
        values,
        modified: Some(u.int_in_range(1_000_000_000_000_000..=4_000_000_000_000_000)?),
    })
}


fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut items = Vec::new();
    while items.len() < 24 && !u.is_empty() {
        match item(&mut u, items.len() as i64 + 1) {
            Ok(i) => items.push(i),
            Err(_) => break,
        }
    }
    // Into memory, then to a file unsynced: the reader reads from a path, and a sync per
    // input would make the run a hundred times slower.
    let mut w = PstWriter::new(Cursor::new(Vec::new())).expect("a writer");
    for i in &items {
        w.add(i).expect("the writer takes any item");
    }
    let (out, _) = w.finish().expect("the writer finishes");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("Service Master.pst");
    std::fs::write(&path, out.into_inner()).expect("write");
    let back = smsync::codec::pst::read(&path).expect("smsync reads what it wrote");
    assert_eq!(back.len(), items.len(), "every item comes back");
    let back: BTreeMap<Key, Item> = back
        .into_iter()
        .map(|i| {
            let i = i.item.expect("every item reads");
            (i.key.expect("with its key"), i)
        })
        .collect();
    for want in &items {
        let key = want.key.unwrap();
        let got = back.get(&key).expect("the item of each key");
        assert_eq!(smsync::mapi::carried(got), smsync::mapi::carried(want), "{key}");
    }
});
