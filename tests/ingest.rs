//! Ingest (SPEC §4): readers, rules, conflicts, journal, file handling and bad input, on a
//! real database of each engine (SQLite and PostgreSQL: `both!`) and real files; round
//! trips through export.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::site::Site;
use common::*;
use smsync::export::{Layout, Options as ExportOptions, export_profile};
use smsync::ingest::{FileOutcome, ItemOutcome, Options, Report, ingest};
use smsync::model::{Key, Kind};
use smsync::store::Store;

const DANA: &str = "Dana Whitfield";

fn export(s: &mut dyn Store, drop: &Path) -> smsync::export::Report {
    let p = s.profile(DANA).unwrap();
    export_profile(s, &p, drop, &ExportOptions::default(), &mut || {}).unwrap()
}

fn run(s: &mut dyn Store, drop: &Path) -> Report {
    run_with(s, drop, &Options::default())
}

fn run_with(s: &mut dyn Store, drop: &Path, opts: &Options) -> Report {
    let p = s.profile(DANA).unwrap();
    ingest(s, &p, drop, &[], opts).unwrap()
}

fn inbox(drop: &Path) -> PathBuf {
    Layout::new(drop, DANA).inbox
}

fn drop_file(drop: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = inbox(drop).join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    p
}

/// Reads an exported Outlook CSV, applies `edit` to the rows, and returns the new bytes
/// written the way Outlook writes them.
fn edit_csv(
    path: &Path,
    edit: &mut dyn FnMut(&csv::StringRecord, &mut Vec<String>) -> bool,
) -> Vec<u8> {
    let mut rd = csv::Reader::from_path(path).unwrap();
    let header = rd.headers().unwrap().clone();
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record(&header).unwrap();
    for r in rd.records() {
        let r = r.unwrap();
        let mut row: Vec<String> = r.iter().map(str::to_string).collect();
        if edit(&header, &mut row) {
            out.write_record(&row).unwrap();
        }
    }
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(out.into_inner().unwrap());
    bytes
}

fn col(h: &csv::StringRecord, name: &str) -> usize {
    h.iter().position(|c| c == name).unwrap()
}

fn rejected_or_processed(drop: &Path) -> Vec<PathBuf> {
    let l = Layout::new(drop, DANA);
    let mut out = Vec::new();
    for d in [l.processed, l.rejected] {
        if let Ok(days) = fs::read_dir(d) {
            for day in days {
                for f in fs::read_dir(day.unwrap().path()).unwrap() {
                    out.push(f.unwrap().path());
                }
            }
        }
    }
    out.sort();
    out
}

both!(csv_round_trip_applies_the_edit_and_drops_update);
fn csv_round_trip_applies_the_edit_and_drops_update(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let bytes = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        if row[col(h, "User 1")] == "SM-U2" {
            row[col(h, "Mobile Phone")] = "+1 312 555 7777".into();
            row[col(h, "Job Title")] = "Warehouse Manager".into();
            row[col(h, "Categories")].push_str(";!Update");
        }
        true
    });
    drop_file(&drop, "contacts.csv", &bytes);
    let r = run(s, &drop);
    assert_eq!(r.exit_code(), 0, "{r:#?}");
    assert_eq!(r.tally.applied, 1);
    assert_eq!(r.files[0].outcome, FileOutcome::Processed);
    let u = s.get(Key::new(Kind::User, 2)).unwrap();
    assert_eq!(u.text("mobile"), "+1 312 555 7777");
    assert_eq!(u.text("job_title"), "Warehouse Manager");
    assert!(
        fs::read_dir(inbox(&drop)).unwrap().next().is_none(),
        "inbox emptied"
    );
    assert_eq!(rejected_or_processed(&drop).len(), 1);

    // The next export refreshes Outlook's copy: new values, no !Update.
    let e = export(s, &drop);
    assert!(e.contacts.written >= 1);
    let vcf = fs::read_to_string(l.contacts.join("SM-U2.vcf")).unwrap();
    assert!(vcf.contains("+1 312 555 7777") && vcf.contains("Warehouse Manager"));
    assert!(!vcf.to_lowercase().contains("!update"));
    let changes = fs::read_to_string(&e.change_files[0]).unwrap();
    assert!(changes.contains("Warehouse Manager") && !changes.contains("!Update"));

    // The journal holds the old and new values.
    let mut rows = Vec::new();
    s.journal_entries(Some(DANA), 100, &mut |e| {
        rows.push(e);
        Ok(())
    })
    .unwrap();
    let job = rows
        .iter()
        .find(|e| e.field.as_deref() == Some("job_title"))
        .unwrap();
    assert_eq!(job.old_value.as_deref(), Some("Warehouse Lead"));
    assert_eq!(job.new_value.as_deref(), Some("Warehouse Manager"));
    assert_eq!(job.file.as_deref(), Some("contacts.csv"));
}

both!(contacts_need_update_and_only_updatable_fields_change);
fn contacts_need_update_and_only_updatable_fields_change(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let bytes = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        match row[col(h, "User 1")].as_str() {
            "SM-U1" => row[col(h, "Mobile Phone")] = "+1 000".into(), // no !Update
            "SM-U3" => {
                row[col(h, "Last Name")] = "Ruiz-Renamed".into();
                row[col(h, "Business Phone")] = "+1 999".into();
                row[col(h, "Categories")].push_str(",!UPDATE");
            }
            _ => {}
        }
        true
    });
    drop_file(&drop, "c.csv", &bytes);
    let r = run(s, &drop);
    assert_eq!(s.get(Key::new(Kind::User, 1)).unwrap().text("mobile"), "");
    let u3 = s.get(Key::new(Kind::User, 3)).unwrap();
    assert_eq!(u3.text("phone"), "+1 999");
    assert_eq!(u3.text("last_name"), "Ruiz");
    let items = &r.files[0].items;
    // Items without !Update are counted as skipped, not listed.
    assert!(!items.iter().any(|i| i.key.as_deref() == Some("SM-U1")));
    assert_eq!(r.tally.skipped + r.tally.applied, 40, "{:?}", r.tally);
    let u3r = items
        .iter()
        .find(|i| i.key.as_deref() == Some("SM-U3"))
        .unwrap();
    let last = u3r.fields.iter().find(|f| f.field == "last_name").unwrap();
    assert_eq!(last.decision, smsync::rules::Decision::NotUpdatable);
}

/// A vCard of the profile's copy, edited: `edit` gets and returns the text.
fn edit_vcf(drop: &Path, key: &str, edit: impl Fn(String) -> String) -> Vec<u8> {
    let l = Layout::new(drop, DANA);
    edit(fs::read_to_string(l.contacts.join(format!("{key}.vcf"))).unwrap()).into_bytes()
}

fn rev(at: i64) -> String {
    chrono::DateTime::from_timestamp_micros(at)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

both!(conflicts_are_decided_field_by_field_by_time);
fn conflicts_are_decided_field_by_field_by_time(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let k = Key::new(Kind::Tech, 1);
    // The database changes the phone and the notes after the export.
    set(s, k, &[("phone", "+1 DB PHONE"), ("notes", "db note")]);
    let db_time = s.get(k).unwrap().updated_at;
    // Outlook changed the e-mail (only there), and the phone (on both sides).
    let older = rev(db_time - 60_000_000);
    let newer = rev(db_time + 60_000_000);
    for (when, name) in [(older.clone(), "old.vcf"), (newer.clone(), "new.vcf")] {
        let bytes = edit_vcf(&drop, "SM-T1", |t| {
            let mut out = String::new();
            for line in t.split("\r\n") {
                let line = if line.starts_with("TEL;TYPE=WORK,VOICE") {
                    format!("TEL;TYPE=WORK,VOICE:+1 OUTLOOK {name}")
                } else if line.starts_with("EMAIL") {
                    "EMAIL;TYPE=INTERNET:new@dell.example".to_string()
                } else if line.starts_with("CATEGORIES") {
                    format!("{line},!Update")
                } else if line.starts_with("REV") {
                    format!("REV:{when}")
                } else {
                    line.to_string()
                };
                out.push_str(&line);
                out.push_str("\r\n");
            }
            out.trim_end_matches("\r\n").to_string() + "\r\n"
        });
        drop_file(&drop, name, &bytes);
        let r = run(s, &drop);
        let rec = s.get(k).unwrap();
        assert_eq!(
            rec.text("email"),
            "new@dell.example",
            "{name}: Outlook-only edit applies"
        );
        assert_eq!(
            rec.text("notes"),
            "db note",
            "{name}: database-only edit stays"
        );
        assert_eq!(r.tally.conflicts, 1, "{name}");
        if name == "old.vcf" {
            assert_eq!(rec.text("phone"), "+1 DB PHONE", "database newer: kept");
            let mut lost = None;
            s.journal_entries(Some(DANA), 50, &mut |e| {
                if e.outcome == "conflict-database-kept" && lost.is_none() {
                    lost = e.new_value.clone();
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(
                lost.as_deref(),
                Some("+1 OUTLOOK old.vcf"),
                "the losing value is journaled"
            );
        } else {
            assert_eq!(
                rec.text("phone"),
                "+1 OUTLOOK new.vcf",
                "Outlook newer: applied"
            );
        }
    }
}

both!(a_stale_copy_does_not_revert_a_database_change);
fn a_stale_copy_does_not_revert_a_database_change(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let csv_path = l.outlook.join("contacts.csv");
    set(s, Key::new(Kind::Location, 2), &[("phone", "+1 NEW IN DB")]);
    // Outlook's old copy, tagged for another edit.
    let bytes = edit_csv(&csv_path, &mut |h, row| {
        if row[col(h, "User 1")] == "SM-L2" {
            row[col(h, "Notes")] = "from outlook".into();
            row[col(h, "Categories")].push_str(";!Update");
        }
        true
    });
    drop_file(&drop, "c.csv", &bytes);
    run(s, &drop);
    let l2 = s.get(Key::new(Kind::Location, 2)).unwrap();
    assert_eq!(l2.text("phone"), "+1 NEW IN DB");
    assert_eq!(l2.text("notes"), "from outlook");
}

both!(completed_closes_only_from_completion_requested);
fn completed_closes_only_from_completion_requested(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let cr = all(s, Kind::Si)
        .into_iter()
        .find(|r| r.text("status") == "Completion Requested")
        .unwrap()
        .key;
    let ip = Key::new(Kind::Si, 1001);
    let bytes = edit_csv(&l.outlook.join("tasks.csv"), &mut |h, row| {
        let k = row[col(h, "Billing Information")].clone();
        if k == cr.to_string() || k == ip.to_string() {
            row[col(h, "Status")] = "Completed".into(); // no !Update
        }
        true
    });
    drop_file(&drop, "t.csv", &bytes);
    let r = run(s, &drop);
    assert_eq!(s.get(cr).unwrap().text("status"), "Closed");
    assert!(s.get(cr).unwrap().get("completed").as_date().is_some());
    assert_eq!(s.get(ip).unwrap().text("status"), "In Progress");
    assert_eq!(r.exit_code(), 3, "a refused item makes exit code 3");
    assert_eq!(r.files[0].outcome, FileOutcome::Partial);
    let ipr = r.files[0]
        .items
        .iter()
        .find(|i| i.key.as_deref() == Some("SI-1001"))
        .unwrap();
    assert!(
        ipr.reason
            .as_ref()
            .unwrap()
            .contains("only an SI in Completion Requested")
    );
    let err = rejected_or_processed(&drop)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".error.txt"))
        .expect("an error file");
    let text = fs::read_to_string(err).unwrap();
    assert!(text.contains("SI-1001") && text.contains("row "), "{text}");
}

both!(in_progress_and_waiting_switch_with_update);
fn in_progress_and_waiting_switch_with_update(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let bytes = edit_csv(&l.outlook.join("tasks.csv"), &mut |h, row| {
        match row[col(h, "Billing Information")].as_str() {
            "SI-1001" => {
                row[col(h, "Status")] = "Waiting on someone else".into();
                row[col(h, "Categories")].push_str(";!Update");
            }
            "SI-1002" => row[col(h, "Status")] = "Waiting".into(), // no !Update
            _ => {}
        }
        true
    });
    drop_file(&drop, "t.csv", &bytes);
    run(s, &drop);
    assert_eq!(
        s.get(Key::new(Kind::Si, 1001)).unwrap().text("status"),
        "Completion Requested"
    );
    assert_eq!(
        s.get(Key::new(Kind::Si, 1002)).unwrap().text("status"),
        "In Progress"
    );
}

fn vtodo(uid: &str, extra: &str) -> Vec<u8> {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n\
         DTSTAMP:20261125T120000Z\r\n{extra}END:VTODO\r\nEND:VCALENDAR\r\n"
    )
    .into_bytes()
}

both!(a_new_task_creates_an_si_that_keeps_its_uid);
fn a_new_task_creates_an_si_that_keeps_its_uid(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let uid = "4f1c2b9e-thunderbird@example.org";
    drop_file(
        &drop,
        "new.ics",
        &vtodo(
            uid,
            "SUMMARY:Replace toner\r\nCATEGORIES:northwind traders\r\n\
             CONTACT:Tacoma Depot\r\nCONTACT:Janet Leverling\r\nCONTACT:Nobody Known\r\n\
             DUE;VALUE=DATE:20261230\r\n",
        ),
    );
    let r = run(s, &drop);
    assert_eq!(r.tally.created, 1, "{r:#?}");
    let key: Key = r.files[0].items[0].key.as_ref().unwrap().parse().unwrap();
    let si = s.get(key).unwrap();
    assert_eq!(si.text("description"), "Replace toner");
    assert_eq!(si.text("uid"), uid);
    assert_eq!(si.labels("location"), ["Tacoma Depot"]);
    assert_eq!(si.labels("people"), ["Janet Leverling"]);
    assert_eq!(si.get("due").as_date().unwrap().to_string(), "2026-12-30");
    let ignored = &r.files[0].items[0].fields;
    assert!(
        ignored.iter().any(|f| f.incoming == "Nobody Known"),
        "unknown names reported"
    );

    // The next export writes it under its own UID: one file, no duplicate.
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let with_uid: Vec<_> = fs::read_dir(&l.tasks)
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|t| t.contains(&format!("UID:{uid}")))
        .collect();
    assert_eq!(with_uid.len(), 1);
    // A later edit of the same task updates that SI.
    drop_file(
        &drop,
        "edit.ics",
        &vtodo(
            uid,
            "SUMMARY:Replace toner and drum\r\nCATEGORIES:Northwind Traders,!Update\r\n\
             LAST-MODIFIED:20991231T000000Z\r\n",
        ),
    );
    let r = run(s, &drop);
    assert_eq!((r.tally.created, r.tally.applied), (0, 1), "{r:#?}");
    assert_eq!(
        s.get(key).unwrap().text("description"),
        "Replace toner and drum"
    );
    assert_eq!(all(s, Kind::Si).len(), 21);
}

both!(new_task_rules);
fn new_task_rules(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    let client = smsync::store::Lookup::client_by_name(s, "Blue Harbor Dental")
        .unwrap()
        .unwrap();
    set(s, client, &[("active", "false")]);
    let cases: Vec<(&str, &str, ItemOutcome)> = vec![
        ("personal.ics", "SUMMARY:Buy milk\r\n", ItemOutcome::Skipped),
        (
            "nocat.ics",
            "SUMMARY:Fix\r\nCATEGORIES:!Update\r\n",
            ItemOutcome::Refused,
        ),
        (
            "unknown.ics",
            "SUMMARY:Fix\r\nCATEGORIES:Nope Corp,!Update\r\n",
            ItemOutcome::Refused,
        ),
        (
            "inactive.ics",
            "SUMMARY:Fix\r\nCATEGORIES:Blue Harbor Dental\r\n",
            ItemOutcome::Refused,
        ),
        (
            "nodesc.ics",
            "CATEGORIES:Acme Industrial Supply\r\n",
            ItemOutcome::Refused,
        ),
        (
            "two.ics",
            "SUMMARY:Fix\r\nCATEGORIES:Acme Industrial Supply,Northwind Traders\r\n",
            ItemOutcome::Refused,
        ),
        (
            "main.ics",
            "SUMMARY:Check UPS\r\nCATEGORIES:Acme Industrial Supply\r\n",
            ItemOutcome::Created,
        ),
    ];
    for (i, (name, body, _)) in cases.iter().enumerate() {
        drop_file(&drop, name, &vtodo(&format!("uid-{i}"), body));
    }
    let r = run(s, &drop);
    for (name, _, want) in &cases {
        let f = r
            .files
            .iter()
            .find(|f| f.file.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not reported"));
        // Skipped items are counted, not listed.
        let got = f
            .items
            .first()
            .map(|i| i.outcome)
            .or(if f.tally.skipped == 1 {
                Some(ItemOutcome::Skipped)
            } else {
                None
            });
        assert_eq!(
            got,
            Some(*want),
            "{name}: {:?}",
            f.items.first().map(|i| &i.reason)
        );
    }
    let created = all(s, Kind::Si)
        .into_iter()
        .find(|r| r.text("description") == "Check UPS")
        .unwrap();
    assert_eq!(
        created.labels("location"),
        ["Head Office"],
        "Main location by default"
    );
}

both!(the_same_file_twice_changes_nothing_the_second_time);
fn the_same_file_twice_changes_nothing_the_second_time(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let bytes = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        if row[col(h, "User 1")] == "SM-T2" {
            row[col(h, "Notes")] = "once".into();
            row[col(h, "Categories")].push_str(";!Update");
        }
        true
    });
    drop_file(&drop, "a.csv", &bytes);
    run(s, &drop);
    // Change it in the database, then drop the very same bytes again.
    set(s, Key::new(Kind::Tech, 2), &[("notes", "later")]);
    let count = |s: &dyn Store| {
        let mut n = 0;
        s.journal_entries(None, 10_000, &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        n
    };
    let before = count(s);
    drop_file(&drop, "a-again.csv", &bytes);
    let r = run(s, &drop);
    assert_eq!(r.files[0].outcome, FileOutcome::Duplicate);
    assert_eq!(
        s.get(Key::new(Kind::Tech, 2)).unwrap().text("notes"),
        "later"
    );
    assert_eq!(count(s), before);
    assert!(fs::read_dir(inbox(&drop)).unwrap().next().is_none());
}

both!(bad_input_never_panics_and_every_file_is_filed_with_a_reason);
fn bad_input_never_panics_and_every_file_is_filed_with_a_reason(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let good = fs::read(l.contacts.join("SM-U1.vcf")).unwrap();
    let mut garbage = vec![0u8; 4096];
    for (i, b) in garbage.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    let header = fs::read_to_string(l.outlook.join("contacts.csv")).unwrap();
    let header = header.lines().next().unwrap().to_string();
    let mut huge = header.clone();
    huge.push_str("\r\n\"");
    huge.push_str(&"x".repeat(100 * 1024 * 1024));
    huge.push_str("\"\r\n");
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.vcf", good[..good.len() / 2].to_vec()),
        ("garbage.bin", garbage),
        ("empty.csv", Vec::new()),
        ("huge-line.csv", huge.into_bytes()),
        (
            "unknown-cols.csv",
            b"\"First Name\",\"Last Name\",\"User 1\",\"Shoe Size\",\"Categories\"\r\n\"Laura\",\"Kowalski\",\"SM-U1\",\"42\",\"Acme Industrial Supply;!Update\"\r\n".to_vec(),
        ),
        (
            "dup-and-wrong-kind.csv",
            b"\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-U1\",\"+1 1\",\"!Update\"\r\n\"SM-U1\",\"+1 2\",\"!Update\"\r\n\"SI-1001\",\"+1 3\",\"!Update\"\r\n\"SM-U999\",\"+1 4\",\"!Update\"\r\n".to_vec(),
        ),
        (
            "bad-date.csv",
            b"\"Subject\",\"Due Date\",\"Billing Information\",\"Categories\"\r\n\"X\",\"31/31/2026\",\"SI-1001\",\"!Update\"\r\n".to_vec(),
        ),
        ("not-a-task.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:e1\r\nSUMMARY:Meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".to_vec()),
        ("fake.pst", b"!BDN\x00\x00rest".to_vec()),
    ];
    for (name, bytes) in &files {
        drop_file(&drop, name, bytes);
    }
    let r = run(s, &drop);
    assert_eq!(r.files.len(), files.len());
    assert_eq!(r.exit_code(), 3);
    let outcome = |name: &str| {
        let f = r.files.iter().find(|f| f.file.ends_with(name)).unwrap();
        (f.outcome, f)
    };
    for name in [
        "truncated.vcf",
        "garbage.bin",
        "empty.csv",
        "not-a-task.ics",
        "fake.pst",
        "bad-date.csv",
        "huge-line.csv",
    ] {
        assert_eq!(
            outcome(name).0,
            FileOutcome::Rejected,
            "{name}: {:#?}",
            outcome(name).1
        );
    }
    assert_eq!(outcome("unknown-cols.csv").0, FileOutcome::Processed);
    assert!(
        outcome("unknown-cols.csv")
            .1
            .notes
            .iter()
            .any(|n| n.contains("Shoe Size"))
    );
    let (o, f) = outcome("dup-and-wrong-kind.csv");
    assert_eq!(o, FileOutcome::Partial);
    let reasons: Vec<String> = f.items.iter().filter_map(|i| i.reason.clone()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("more than once")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not a contact's key")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("does not exist")),
        "{reasons:?}"
    );
    assert_eq!(
        s.get(Key::new(Kind::User, 1)).unwrap().text("mobile"),
        "+1 1"
    );
    // Nothing is lost: every input is filed, every rejected one with its reasons.
    assert!(fs::read_dir(inbox(&drop)).unwrap().next().is_none());
    let filed = rejected_or_processed(&drop);
    for (name, _) in &files {
        assert!(
            filed.iter().any(|p| p.file_name().unwrap() == *name),
            "{name} not filed"
        );
    }
    let err = filed
        .iter()
        .find(|p| p.file_name().unwrap() == "bad-date.csv.error.txt")
        .unwrap();
    let text = fs::read_to_string(err).unwrap();
    assert!(
        text.contains("row 2") && text.contains("Due Date") && text.contains("31/31/2026"),
        "{text}"
    );
}

both!(a_file_named_vcard_or_icalendar_that_is_neither_is_refused_by_its_name_not_as_a_csv);
fn a_file_named_vcard_or_icalendar_that_is_neither_is_refused_by_its_name_not_as_a_csv(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    drop_file(
        &drop,
        "bad.vcf",
        b"garbage here\nmore, garbage, with, commas\n",
    );
    drop_file(&drop, "task.ICS", b"hello");
    let r = run_with(s, &drop, &Options::default());
    assert_eq!(r.files.len(), 2);
    for f in &r.files {
        let says = if f.file.ends_with("bad.vcf") {
            "a vCard"
        } else {
            "an iCalendar file"
        };
        assert_eq!(f.outcome, FileOutcome::Rejected, "{f:?}");
        let e = f.error.as_deref().unwrap();
        assert!(
            e.contains(&format!("its name says {says}")) && !e.contains("Outlook contacts"),
            "{e}"
        );
    }
    // Nothing is lost: both are in rejected/ with their reasons.
    let filed = rejected_or_processed(&drop);
    let reasons = filed
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".error.txt"));
    assert_eq!((filed.len(), reasons.count()), (4, 2), "{filed:?}");
}

both!(a_vcard_saved_as_utf16_is_read_as_a_vcard);
fn a_vcard_saved_as_utf16_is_read_as_a_vcard(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let text = String::from_utf8(edit_vcf(&drop, "SM-U2", |t| {
        t.split("\r\n")
            .map(|line| {
                if line.starts_with("TITLE") {
                    "TITLE:Lagerleiter ✓".to_string()
                } else if line.starts_with("CATEGORIES") {
                    format!("{line},!Update")
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n")
    }))
    .unwrap();
    // As Notepad saves "Unicode": UTF-16 LE with its byte-order mark.
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    drop_file(&drop, "SM-U2.vcf", &bytes);
    let r = run(s, &drop);
    assert_eq!(r.files[0].format, smsync::ingest::Format::VCard, "{r:#?}");
    assert_eq!((r.exit_code(), r.tally.applied), (0, 1), "{r:#?}");
    let u = s.get(Key::new(Kind::User, 2)).unwrap();
    assert_eq!(u.text("job_title"), "Lagerleiter ✓");
}

both!(oversized_files_are_refused_with_the_limit);
fn oversized_files_are_refused_with_the_limit(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    drop_file(&drop, "big.csv", &vec![b'a'; 5000]);
    let opts = Options {
        max_size: 1000,
        ..Default::default()
    };
    let r = run_with(s, &drop, &opts);
    assert_eq!(r.files[0].outcome, FileOutcome::Rejected);
    assert!(
        r.files[0]
            .error
            .as_ref()
            .unwrap()
            .contains("above the limit")
    );
}

both!(csv_variants_german_2003_utf16_and_windows_1252_are_read);
fn csv_variants_german_2003_utf16_and_windows_1252_are_read(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    // German Outlook, semicolon separated, Windows-1252.
    let de = "\"Vorname\";\"Nachname\";\"Telefon geschäftlich\";\"Kategorien\";\"Benutzer 1\"\r\n\
              \"Jürgen\";\"Weiß\";\"+49 89 555\";\"Café Müller GmbH;!Update\";\"SM-U4\"\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(de);
    drop_file(&drop, "de.csv", &bytes);
    // Outlook 2003 (Business Country), UTF-16 LE with BOM.
    let old = "\"First Name\",\"Last Name\",\"Business Country\",\"Categories\",\"User 1\"\r\n\
               \"Derek\",\"Olsen\",\"USA\",\"Acme Industrial Supply,!update\",\"SM-U2\"\r\n";
    let mut utf16 = vec![0xFF, 0xFE];
    for u in old.encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    drop_file(&drop, "old.csv", &utf16);
    let r = run(s, &drop);
    assert_eq!(r.tally.applied, 2, "{r:#?}");
    assert_eq!(
        s.get(Key::new(Kind::User, 4)).unwrap().text("phone"),
        "+49 89 555"
    );
    assert_eq!(
        s.get(Key::new(Kind::User, 2)).unwrap().text("country"),
        "USA"
    );
}

both!(dry_run_changes_nothing);
fn dry_run_changes_nothing(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let bytes = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        if row[col(h, "User 1")] == "SM-U1" {
            row[col(h, "Mobile Phone")] = "+1 DRY".into();
            row[col(h, "Categories")].push_str(";!Update");
        }
        true
    });
    let f = drop_file(&drop, "c.csv", &bytes);
    let opts = Options {
        dry_run: true,
        ..Default::default()
    };
    let r = run_with(s, &drop, &opts);
    assert_eq!(r.tally.applied, 1, "the plan shows the edit");
    assert_eq!(s.get(Key::new(Kind::User, 1)).unwrap().text("mobile"), "");
    assert!(f.exists(), "the file stays in the inbox");
    assert!(r.report_file.is_none());
}

both!(a_reading_thread_that_panics_is_a_failure_not_a_usage_error);
fn a_reading_thread_that_panics_is_a_failure_not_a_usage_error(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    let f = drop_file(&drop, "c.csv", b"First Name,User 1\r\nAda,SM-U1\r\n");
    fn boom(_: &Path) {
        panic!("the loader stops");
    }
    let opts = Options {
        after_read: Some(boom),
        ..Default::default()
    };
    let p = s.profile(DANA).unwrap();
    let err = ingest(s, &p, &drop, &[], &opts).unwrap_err();
    assert!(
        matches!(&err, smsync::error::Error::Other(m) if m.contains("reading thread")),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), smsync::error::exit::FAILURE);
    assert!(f.exists(), "the file stays in the inbox");
}

both!(corpus_files_are_read_without_panic);
fn corpus_files_are_read_without_panic(site: Site) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    let mut n = 0;
    for e in fs::read_dir(&corpus).unwrap() {
        let p = e.unwrap().path();
        if matches!(p.extension().and_then(|x| x.to_str()), Some("vcf" | "ics")) {
            fs::copy(&p, inbox(&drop).join(p.file_name().unwrap()))
                .ok()
                .or_else(|| {
                    fs::create_dir_all(inbox(&drop)).unwrap();
                    fs::copy(&p, inbox(&drop).join(p.file_name().unwrap())).ok()
                });
            n += 1;
        }
    }
    assert!(n >= 6);
    let r = run(s, &drop);
    assert_eq!(r.files.len(), n);
    for f in &r.files {
        // Outlook's vCards carry no UID (no key): refused, never applied; the VTODOs have no
        // client category: skipped as personal tasks.
        assert!(
            matches!(f.outcome, FileOutcome::Rejected | FileOutcome::Processed),
            "{f:#?}"
        );
        assert_eq!(f.tally.applied + f.tally.created, 0);
    }
}

both!(an_update_that_changes_nothing_still_refreshes_outlooks_copy);
fn an_update_that_changes_nothing_still_refreshes_outlooks_copy(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let bytes = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        if row[col(h, "User 1")] == "SM-T4" {
            row[col(h, "Categories")].push_str(";!Update"); // tagged, nothing edited
        }
        true
    });
    drop_file(&drop, "c.csv", &bytes);
    let r = run(s, &drop);
    assert_eq!(r.tally.unchanged, 1, "{:?}", r.tally);
    let before = s.get(Key::new(Kind::Tech, 4)).unwrap().updated_at;
    let e = export(s, &drop);
    assert_eq!(
        e.contacts.written, 1,
        "the tagged copy is rewritten without !Update"
    );
    assert_eq!(s.get(Key::new(Kind::Tech, 4)).unwrap().updated_at, before);
}

both!(hostile_inbox_symlinks_are_not_followed_and_floods_are_refused);
fn hostile_inbox_symlinks_are_not_followed_and_floods_are_refused(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    // A link to a file outside the inbox, holding a valid edit.
    let outside = site.path().join("outside.csv");
    fs::write(
        &outside,
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T1\",\"+1 LINKED\",\"!Update\"\r\n",
    )
    .unwrap();
    fs::create_dir_all(inbox(&drop)).unwrap();
    std::os::unix::fs::symlink(&outside, inbox(&drop).join("link.csv")).unwrap();
    // A file that repeats one row past the item limit.
    // Its rows are valid edits: none may be applied before the flood is noticed.
    let mut flood = String::from("\"User 1\",\"Mobile Phone\",\"Categories\"\r\n");
    flood.push_str(
        &"\"SM-T2\",\"+1 FLOOD\",\"!Update\"\r\n".repeat(smsync::codec::item::MAX_ITEMS + 1),
    );
    drop_file(&drop, "flood.csv", flood.as_bytes());
    let r = run(s, &drop);
    assert_eq!(s.get(Key::new(Kind::Tech, 1)).unwrap().text("mobile"), "");
    assert_ne!(
        s.get(Key::new(Kind::Tech, 2)).unwrap().text("mobile"),
        "+1 FLOOD"
    );
    assert!(outside.exists(), "the link's target is untouched");
    let link = r
        .files
        .iter()
        .find(|f| f.file.ends_with("link.csv"))
        .unwrap();
    assert_eq!(link.outcome, FileOutcome::Rejected);
    assert!(link.error.as_ref().unwrap().contains("symbolic link"));
    let f = r
        .files
        .iter()
        .find(|f| f.file.ends_with("flood.csv"))
        .unwrap();
    assert_eq!(f.outcome, FileOutcome::Rejected);
    assert!(
        f.error.as_ref().unwrap().contains("more than"),
        "{:?}",
        f.error
    );
    assert!(fs::read_dir(inbox(&drop)).unwrap().next().is_none());
}

both!(a_fifo_named_on_the_command_line_is_refused_without_waiting);
fn a_fifo_named_on_the_command_line_is_refused_without_waiting(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let fifo = site.path().join("pipe.csv");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let p = s.profile(DANA).unwrap();
    // Reading a FIFO with no writer would block this test forever.
    let r = ingest(
        s,
        &p,
        &drop,
        std::slice::from_ref(&fifo),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].outcome, FileOutcome::Rejected);
    let err = r.files[0].error.as_deref().unwrap();
    assert!(err.contains("not a regular file"), "{err}");
    assert!(
        fifo.exists(),
        "a file named on the command line stays where it is"
    );
}

both!(another_writer_during_an_ingest_loses_nothing);
fn another_writer_during_an_ingest_loses_nothing(site: Site) {
    let s = &mut *site.create();
    smsync::seed::scale(s, 3000, Some(10), 2, false).unwrap();
    let drop = site.path().join("drop");
    let p = s.profiles().unwrap().remove(0);
    export_profile(s, &p, &drop, &ExportOptions::default(), &mut || {}).unwrap();
    let l = Layout::new(&drop, &p.name);
    let bytes = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        if row[col(h, "User 1")].starts_with("SM-U") {
            row[col(h, "Mobile Phone")] = "+1 INGEST".into();
            row[col(h, "Categories")].push_str(";!Update");
        }
        true
    });
    fs::create_dir_all(&l.inbox).unwrap();
    fs::write(l.inbox.join("all.csv"), &bytes).unwrap();
    let db = site.db_arg();
    let writer = std::thread::spawn(move || {
        let other = &mut *smsync::store::open(db).unwrap();
        for i in 1..=40 {
            set(
                other,
                Key::new(Kind::Tech, i),
                &[("notes", &format!("writer {i}"))],
            );
        }
    });
    // Every user edited: a mass change, allowed (the guard is tests/guards.rs's).
    let opts = Options {
        allow_mass_change: true,
        ..Options::default()
    };
    let r = ingest(s, &p, &drop, &[], &opts).unwrap();
    writer.join().unwrap();
    assert!(r.tally.applied > 1000, "{:?}", r.tally);
    for i in 1..=40 {
        assert_eq!(
            s.get(Key::new(Kind::Tech, i)).unwrap().text("notes"),
            format!("writer {i}")
        );
    }
    let applied = all(s, Kind::User)
        .iter()
        .filter(|u| u.text("mobile") == "+1 INGEST")
        .count();
    assert_eq!(applied as u64, r.tally.applied);
}

both!(a_read_only_processed_folder_keeps_the_file_in_the_inbox_and_says_why);
fn a_read_only_processed_folder_keeps_the_file_in_the_inbox_and_says_why(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let f = drop_file(
        &drop,
        "edit.csv",
        b"\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T3\",\"+1 RO\",\"!Update\"\r\n",
    );
    let guard = ReadOnly::new(&l.processed);
    let p = s.profile(DANA).unwrap();
    let err = ingest(s, &p, &drop, &[], &Options::default()).unwrap_err();
    assert!(err.to_string().contains("processed"), "{err}");
    assert!(f.exists(), "the file stays in the inbox");
    std::mem::drop(guard);
    // Once the folder is writable, the next run files it without applying it twice.
    let r = run(s, &drop);
    assert_eq!(r.files[0].outcome, FileOutcome::Duplicate);
    assert!(!f.exists());
    assert_eq!(
        s.get(Key::new(Kind::Tech, 3)).unwrap().text("mobile"),
        "+1 RO"
    );
}

both!(a_file_replaced_while_it_is_read_is_read_again);
fn a_file_replaced_while_it_is_read_is_read_again(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let f = drop_file(
        &drop,
        "edit.csv",
        b"\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T5\",\"+1 FIRST\",\"!Update\"\r\n",
    );
    fn replace(p: &Path) {
        fs::write(
            p,
            "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T5\",\"+1 SECOND VERSION\",\"!Update\"\r\n",
        )
        .unwrap();
    }
    let opts = Options {
        after_read: Some(replace),
        ..Default::default()
    };
    let r = run_with(s, &drop, &opts);
    assert_eq!(
        s.get(Key::new(Kind::Tech, 5)).unwrap().text("mobile"),
        "+1 FIRST"
    );
    assert!(
        r.files[0]
            .notes
            .iter()
            .any(|n| n.contains("changed while it was read"))
    );
    assert!(f.exists(), "the new version stays in the inbox");
    // As `sync` does: the export between the runs gives Outlook the first edit.
    export(s, &drop);
    let r = run(s, &drop);
    assert_eq!(r.tally.applied, 1, "{:?}", r.files[0].items);
    assert_eq!(
        s.get(Key::new(Kind::Tech, 5)).unwrap().text("mobile"),
        "+1 SECOND VERSION"
    );
    assert!(!f.exists());
}

both!(a_file_name_met_again_is_filed_under_a_new_name_and_nothing_is_overwritten);
fn a_file_name_met_again_is_filed_under_a_new_name_and_nothing_is_overwritten(site: Site) {
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    export(s, &drop);
    let bodies: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "\"User 1\",\"Mobile Phone\"\r\n\"SM-T{}\",\"+1 {i}\"\r\n",
                i + 1
            )
        })
        .collect();
    for b in &bodies {
        drop_file(&drop, "edits.csv", b.as_bytes());
        run(s, &drop);
    }
    let filed = rejected_or_processed(&drop);
    let names: Vec<String> = filed
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".error.txt"))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in ["edits.csv", "edits.1.csv", "edits.2.csv"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    // Each body is kept once.
    let mut kept: Vec<String> = filed
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".error.txt"))
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    kept.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(kept, want);
}

both!(ingest_and_export_report_progress_as_plain_events);
/// Ingest and export tell their progress callback what they did, as plain events.
fn ingest_and_export_report_progress_as_plain_events(site: Site) {
    use smsync::progress::{Event, Progress};
    use std::sync::{Arc, Mutex};
    let s = &mut *site.sample();
    let drop = site.path().join("drop");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = events.clone();
        Progress::new(move |e| events.lock().unwrap().push(e))
    };
    let p = s.profile(DANA).unwrap();
    let opts = ExportOptions {
        progress: sink.clone(),
        page: 7,
        ..Default::default()
    };
    let r = export_profile(s, &p, &drop, &opts, &mut || {}).unwrap();
    let records: u64 = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            Event::Records(n) => *n,
            _ => 0,
        })
        .sum();
    assert_eq!(records, r.contacts.written + r.tasks.written);
    assert!(events.lock().unwrap().len() > 2, "one event per page");
    events.lock().unwrap().clear();
    drop_file(
        &drop,
        "a.csv",
        b"\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T1\",\"+1 1\",\"\"\r\n\"SM-T2\",\"+1 2\",\"!Update\"\r\n",
    );
    drop_file(
        &drop,
        "b.vcf",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nEND:VCARD\r\n",
    );
    let opts = Options {
        progress: sink,
        ..Default::default()
    };
    run_with(s, &drop, &opts);
    let got = events.lock().unwrap().clone();
    assert_eq!(got.first(), Some(&Event::Files(2)), "{got:?}");
    let count = |want: Event| got.iter().filter(|e| **e == want).count();
    assert_eq!((count(Event::Item), count(Event::File)), (3, 2), "{got:?}");
}

both!(an_edit_the_store_refuses_is_refused_alone_among_many);
/// An edit that the database itself refuses (here a rule the test adds to the database:
/// no mobile number '+1 000 0000'; in life, a constraint the rules do not know of) is
/// refused alone, and every other edit of the file applies. (On PostgreSQL the file's
/// items are first applied together in one savepoint, which fails here, and then again
/// one by one: nothing of the first try may remain.)
fn an_edit_the_store_refuses_is_refused_alone_among_many(site: Site) {
    let s = &mut *site.sample();
    let refused_value = "+1 000 0000";
    let db = site.db_arg().into_string().unwrap();
    if site.is_postgres() {
        common::pg::psql(
            &db,
            &format!(
                "ALTER TABLE users ADD CONSTRAINT test_refuses CHECK \
                 (mobile IS DISTINCT FROM '{refused_value}')"
            ),
        );
    } else {
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER test_refuses BEFORE UPDATE OF mobile ON users \
                 WHEN NEW.mobile = '{refused_value}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
            ))
            .unwrap();
    }
    let drop = site.path().join("drop");
    export(s, &drop);
    let l = Layout::new(&drop, DANA);
    let users = ["SM-U2", "SM-U3", "SM-U4"];
    let bad = "SM-U3";
    let before = s.get(bad.parse().unwrap()).unwrap();
    let bytes = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        let key = row[col(h, "User 1")].clone();
        if let Some(n) = users.iter().position(|u| *u == key) {
            row[col(h, "Mobile Phone")] = if key == bad {
                refused_value.to_string()
            } else {
                format!("+1 312 555 010{n}")
            };
            row[col(h, "Categories")].push_str(";!Update");
        }
        true
    });
    drop_file(&drop, "contacts.csv", &bytes);
    let r = run(s, &drop);
    assert_eq!(r.tally.applied, 2, "{r:#?}");
    assert_eq!(r.tally.refused, 1, "{r:#?}");
    assert_eq!(r.files[0].outcome, FileOutcome::Partial);
    let refused = r.files[0]
        .items
        .iter()
        .find(|i| i.outcome == ItemOutcome::Refused)
        .unwrap();
    assert_eq!(refused.key.as_deref(), Some(bad), "{refused:?}");
    for (n, u) in users.iter().enumerate().filter(|(_, u)| **u != bad) {
        let rec = s.get(u.parse().unwrap()).unwrap();
        assert_eq!(rec.text("mobile"), format!("+1 312 555 010{n}"), "{u}");
    }
    assert_eq!(
        s.get(bad.parse().unwrap()).unwrap(),
        before,
        "the refused edit left nothing"
    );
    // One journal row per applied field, and the refusal.
    let mut rows = Vec::new();
    s.journal_entries(Some(DANA), 100, &mut |e| {
        rows.push(e);
        Ok(())
    })
    .unwrap();
    let mobiles: Vec<&str> = rows
        .iter()
        .filter(|e| e.field.as_deref() == Some("mobile"))
        .filter_map(|e| e.item.as_deref())
        .collect();
    assert_eq!(mobiles.len(), 2, "{rows:#?}");
    assert!(!mobiles.contains(&bad), "{rows:#?}");
    assert!(
        rows.iter()
            .any(|e| e.item.as_deref() == Some(bad) && e.outcome.contains("refused")),
        "{rows:#?}"
    );

    // The same with one .vcf file per contact (on PostgreSQL a batch's files are first
    // applied together in one savepoint).
    let users = ["SM-U5", "SM-U6", "SM-U7"];
    let bad = "SM-U6";
    let before = s.get(bad.parse().unwrap()).unwrap();
    for (n, u) in users.iter().enumerate() {
        let phone = if *u == bad {
            refused_value.to_string()
        } else {
            format!("+1 312 555 020{n}")
        };
        let bytes = edit_vcf(&drop, u, |t| {
            let mut out = Vec::new();
            for line in t.split("\r\n") {
                if line.starts_with("TEL;TYPE=CELL") {
                    continue;
                }
                if line.starts_with("CATEGORIES") {
                    out.push(format!("TEL;TYPE=CELL,VOICE:{phone}"));
                    out.push(format!("{line},!Update"));
                } else {
                    out.push(line.to_string());
                }
            }
            out.join("\r\n")
        });
        drop_file(&drop, &format!("{u}.vcf"), &bytes);
    }
    let r = run(s, &drop);
    assert_eq!(r.tally.applied, 2, "{r:#?}");
    assert_eq!(r.tally.refused, 1, "{r:#?}");
    for (n, u) in users.iter().enumerate().filter(|(_, u)| **u != bad) {
        let rec = s.get(u.parse().unwrap()).unwrap();
        assert_eq!(rec.text("mobile"), format!("+1 312 555 020{n}"), "{u}");
    }
    assert_eq!(s.get(bad.parse().unwrap()).unwrap(), before);
    let outcomes: Vec<FileOutcome> = r.files.iter().map(|f| f.outcome).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == FileOutcome::Processed)
            .count(),
        2,
        "{outcomes:?}"
    );
}

/// Adds 40 client users to the sample company: a sheet of more than a handful of edits.
fn add_many_users(s: &mut dyn Store) {
    for n in 0..40 {
        let last = format!("Many{n}");
        add(
            s,
            Kind::User,
            &[
                ("kind", "client"),
                ("client", "SM-C1"),
                ("first_name", "Pat"),
                ("last_name", &last),
            ],
        );
    }
}

/// The exported contacts sheet with every user's mobile phone changed and `!Update` added.
fn every_user_edited(drop: &Path) -> Vec<u8> {
    let l = Layout::new(drop, DANA);
    let mut edited = 0;
    edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        if row[col(h, "User 1")].starts_with("SM-U") {
            row[col(h, "Mobile Phone")] = format!("+1 312 555 {edited:04}");
            row[col(h, "Categories")].push_str(";!Update");
            edited += 1;
        }
        true
    })
}

/// A SQLite sample database with [`add_many_users`], exported, and [`every_user_edited`]
/// in the inbox; every statement stays prepared (and counted) for the whole test. The
/// temporary folder, the store and the drop folder.
fn every_user_edited_in_the_inbox() -> (tempfile::TempDir, smsync::store::SqliteStore, PathBuf) {
    let (d, mut s) = common::sample_store();
    add_many_users(&mut s);
    s.connection().set_prepared_statement_cache_capacity(1024);
    let drop = d.path().join("drop");
    export(&mut s, &drop);
    let bytes = every_user_edited(&drop);
    drop_file(&drop, "contacts.csv", &bytes);
    (d, s, drop)
}

/// How many times each statement prepared on the SQLite connection (and still there) was
/// prepared again, the most of any.
fn most_reprepared(s: &smsync::store::SqliteStore) -> (i32, String) {
    use rusqlite::ffi;
    let mut most = (0, String::new());
    // SAFETY: the connection outlives these calls, and no statement is stepped or
    // finalized while they walk its list of statements.
    unsafe {
        let db = s.connection().handle();
        let mut st = ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !st.is_null() {
            let n = ffi::sqlite3_stmt_status(st, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
            if n > most.0 {
                let sql = std::ffi::CStr::from_ptr(ffi::sqlite3_sql(st));
                most = (n, sql.to_string_lossy().into_owned());
            }
            st = ffi::sqlite3_next_stmt(db, st);
        }
    }
    most
}

#[test]
fn an_ingest_does_not_prepare_a_statement_again_for_every_item() {
    // SQLite prepares a statement again when a new value is bound to a parameter its plan
    // may depend on (one compared with a partial index's condition); the read by key did
    // so for every item and took 45% of an ingest of 100,000 contacts.
    let (_d, mut s, drop) = every_user_edited_in_the_inbox();
    let r = run(&mut s, &drop);
    assert!(r.tally.applied >= 40, "{r:#?}");
    export(&mut s, &drop);
    // A statement may be prepared again once a run for each kind or page (a few times);
    // never once an item.
    let (n, sql) = most_reprepared(&s);
    assert!(
        (n as u64) < r.tally.applied / 4,
        "prepared again {n} times for {} items: {sql}",
        r.tally.applied
    );
}

/// What an ingest decided and did, without its times and paths: each item's report, the
/// journal rows, and every record.
fn outcome_of(s: &dyn Store, r: &Report) -> Vec<String> {
    let mut out: Vec<String> = r
        .files
        .iter()
        .flat_map(|f| &f.items)
        .map(|i| format!("{:?} {:?} {:?} {:?}", i.key, i.outcome, i.reason, i.fields))
        .collect();
    s.journal_entries(Some(DANA), 10_000, &mut |e| {
        out.push(format!(
            "{:?} {:?} {:?} {:?} {} {:?}",
            e.item, e.field, e.old_value, e.new_value, e.outcome, e.reason
        ));
        Ok(())
    })
    .unwrap();
    // The records, without their change times (the runs compared ran at other times).
    for kind in [Kind::Location, Kind::User, Kind::Tech, Kind::Si] {
        let at = smsync::fields::index(kind, "updated_at");
        out.extend(all(s, kind).into_iter().map(|mut rec| {
            rec.updated_at = 0;
            if let Some(i) = at {
                rec.values[i] = smsync::model::Value::Null;
            }
            format!("{rec:?}")
        }));
    }
    out
}

both!(reading_ahead_decides_as_reading_on_the_applying_thread);
fn reading_ahead_decides_as_reading_on_the_applying_thread(site: Site) {
    // A CSV's records and export states are read on its reading thread (SQLite: on a
    // connection of its own, which cannot see the run's own writes). Two sheets in one
    // run edit the same contacts: the second must see what the first wrote, exactly as
    // when the applying thread reads for itself.
    let drop = site.path().join("drop");
    let mut store = site.sample();
    let s = &mut *store;
    add_many_users(s);
    export(s, &drop);
    let sheet = Layout::new(&drop, DANA).outlook.join("contacts.csv");
    let mut n = 0;
    let first = edit_csv(&sheet, &mut |h, row| {
        if row[col(h, "User 1")].starts_with("SM-U") {
            n += 1;
            if n % 2 == 0 {
                row[col(h, "Mobile Phone")] = format!("+1 312 555 1{n:03}");
                row[col(h, "Categories")].push_str(";!Update");
            }
        }
        true
    });
    n = 0;
    let second = edit_csv(&sheet, &mut |h, row| {
        if row[col(h, "User 1")].starts_with("SM-U") {
            n += 1;
            if n % 3 == 0 {
                row[col(h, "Mobile Phone")] = format!("+1 312 555 2{n:03}");
                row[col(h, "Job Title")] = format!("Title {n}");
                row[col(h, "Categories")].push_str(";!Update");
            }
        }
        true
    });
    drop_file(&drop, "a.csv", &first);
    drop_file(&drop, "b.csv", &second);
    // A copy of the site as it is now (on PostgreSQL, with no connection open).
    std::mem::drop(store);
    let other = site.copy();
    let s = &mut *site.open();
    let r = run_with(
        s,
        &drop,
        &Options {
            read_ahead: false,
            ..Default::default()
        },
    );
    let s2 = &mut *other.open();
    let r2 = run(s2, &other.path().join("drop"));
    assert_eq!(r.tally.applied, r2.tally.applied);
    let (in_place, ahead) = (outcome_of(s, &r), outcome_of(s2, &r2));
    for (a, b) in in_place.iter().zip(&ahead) {
        assert_eq!(a, b, "read in place, then read ahead");
    }
    assert_eq!(in_place.len(), ahead.len());
    // And what both did is right: a contact both sheets edit went from the first sheet's
    // phone to the second's.
    let mut mobiles: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    s2.journal_entries(Some(DANA), 10_000, &mut |e| {
        if e.field.as_deref() == Some("mobile") {
            mobiles.push((e.item.unwrap_or_default(), e.old_value, e.new_value));
        }
        Ok(())
    })
    .unwrap();
    let twice: Vec<_> = mobiles
        .iter()
        .filter(|(k, _, new)| {
            new.as_deref()
                .is_some_and(|v| v.starts_with("+1 312 555 2"))
                && {
                    mobiles.iter().any(|(k2, _, new2)| {
                        k2 == k
                            && new2
                                .as_deref()
                                .is_some_and(|v| v.starts_with("+1 312 555 1"))
                    })
                }
        })
        .collect();
    assert!(twice.len() >= 5, "{mobiles:#?}");
    for (k, old, _) in twice {
        assert!(
            old.as_deref()
                .is_some_and(|v| v.starts_with("+1 312 555 1")),
            "{k}: the second sheet's change of the phone starts from the first's: {old:?}"
        );
    }
}

/// How many times the statements on the SQLite connection whose text contains every one
/// of `parts` ran.
fn statement_runs(s: &smsync::store::SqliteStore, parts: &[&str]) -> i32 {
    use rusqlite::ffi;
    let mut runs = 0;
    // SAFETY: as in `most_reprepared`.
    unsafe {
        let db = s.connection().handle();
        let mut st = ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !st.is_null() {
            let sql = std::ffi::CStr::from_ptr(ffi::sqlite3_sql(st)).to_string_lossy();
            if parts.iter().all(|p| sql.contains(p)) {
                runs += ffi::sqlite3_stmt_status(st, ffi::SQLITE_STMTSTATUS_RUN, 0);
            }
            st = ffi::sqlite3_next_stmt(db, st);
        }
    }
    runs
}

#[test]
fn a_csv_ingest_reads_its_records_on_its_reading_thread() {
    // SQLite: the records and export states of a CSV's edited rows are read on the CSV's
    // reading thread (a connection of its own), not on the applying connection.
    let mut reads = Vec::new();
    for read_ahead in [false, true] {
        let (_d, mut s, drop) = every_user_edited_in_the_inbox();
        let r = run_with(
            &mut s,
            &drop,
            &Options {
                read_ahead,
                ..Default::default()
            },
        );
        assert!(r.tally.applied >= 40, "{r:#?}");
        let users = statement_runs(&s, &["FROM users t", "+?1"]);
        let states = statement_runs(&s, &["FROM export_state", "item_id = ?3"]);
        reads.push((r.tally.applied, users, states));
    }
    let (applied, users, states) = reads[0];
    assert!(
        users as u64 >= applied && states as u64 >= applied,
        "read on the applying connection: {reads:?}"
    );
    let (_, users, states) = reads[1];
    assert!(
        users == 0 && states == 0,
        "read on the reading thread: {reads:?}"
    );
}
