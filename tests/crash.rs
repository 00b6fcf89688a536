//! The crash test: export, ingest and watch are killed with SIGKILL at seeded random
//! moments, re-run, and checked against an uninterrupted run: the same database, every
//! input filed exactly once, every output file complete and parsable, no file applied twice
//! or half, no duplicates. On each engine (`both!`): on PostgreSQL the killed process leaves
//! its transaction to the server, which rolls it back. `SMSYNC_CRASH_KILLS` sets the number
//! of kills per engine (CI runs 10; the full run is 200).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::site::Site;
use common::*;
use smsync::model::Kind;

impl Site {
    /// A folder of `profile`'s drop folder.
    fn dir(&self, profile: &str, sub: &str) -> PathBuf {
        self.dropbox().join(profile).join(sub)
    }

    /// Runs a command that must end with exit 0 or 3 (done, some items refused).
    fn sm(&self, args: &[&str]) {
        let s = self.cmd(args).status().unwrap();
        assert!(
            s.code() == Some(0) || s.code() == Some(3),
            "smsync {args:?} on {}: {s}",
            self.engine()
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// The database's records without change times, and the ingest journal by file.
fn state(site: &Site) -> (Vec<serde_json::Value>, BTreeMap<String, usize>) {
    let s = site.open();
    let mut records = Vec::new();
    for kind in [
        Kind::Client,
        Kind::Location,
        Kind::User,
        Kind::Tech,
        Kind::Si,
    ] {
        for r in all(&*s, kind) {
            let mut j = r.to_json();
            j.as_object_mut().unwrap().remove("updated_at");
            records.push(j);
        }
    }
    let mut journal = BTreeMap::new();
    s.journal_entries(None, 1_000_000, &mut |e| {
        if e.source == "ingest" {
            *journal.entry(e.file.unwrap_or_default()).or_insert(0) += 1;
        }
        Ok(())
    })
    .unwrap();
    (records, journal)
}

/// Every item file parses as one complete item whose name is its UID; returns the names.
fn check_vdir(site: &Site, profile: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for sub in ["contacts", "tasks", "outlook-vcards"] {
        for e in fs::read_dir(site.dir(profile, sub)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.contains(".smsync-tmp"),
                "temp file left: {}",
                p.display()
            );
            let text = fs::read_to_string(&p).unwrap();
            let (begin, end) = if sub == "tasks" {
                ("BEGIN:VCALENDAR", "END:VCALENDAR\r\n")
            } else {
                ("BEGIN:VCARD", "END:VCARD\r\n")
            };
            assert!(
                text.starts_with(begin) && text.ends_with(end),
                "incomplete {}",
                p.display()
            );
            if sub != "outlook-vcards" {
                let items = if sub == "tasks" {
                    smsync::codec::ical::read::read(&text)
                } else {
                    smsync::codec::vcard::read::read(&text)
                };
                assert_eq!(items.len(), 1, "{}", p.display());
            }
            names.insert(format!("{sub}/{name}"));
        }
    }
    for sheet in ["contacts.csv", "tasks.csv"] {
        let path = site.dir(profile, "outlook").join(sheet);
        let mut rd = csv::Reader::from_path(&path).unwrap();
        let width = rd.headers().unwrap().len();
        for r in rd.records() {
            assert_eq!(r.unwrap().len(), width, "{}", path.display());
        }
    }
    names
}

/// Every input is in exactly one of inbox, processed and rejected.
fn check_inputs(site: &Site, profile: &str, inputs: &[String], all_done: bool) {
    let list = |sub: &str| -> Vec<String> {
        let mut out = Vec::new();
        let base = site.dir(profile, sub);
        for e in fs::read_dir(&base).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                for f in fs::read_dir(e.path()).unwrap().flatten() {
                    out.push(f.file_name().to_string_lossy().into_owned());
                }
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out
    };
    let (inbox, processed, rejected) = (list("inbox"), list("processed"), list("rejected"));
    for name in inputs {
        let n = [&inbox, &processed, &rejected]
            .iter()
            .map(|l| l.iter().filter(|f| *f == name).count())
            .sum::<usize>();
        assert_eq!(n, 1, "{name} is in {n} places");
        if all_done {
            assert!(!inbox.contains(name), "{name} left in the inbox");
        }
    }
}

/// A seeded site: a database, a first export, and inputs waiting in a folder beside the
/// drop folder; the profile's name and the inputs' names.
fn prepare(site: &Site) -> (String, Vec<String>) {
    site.sm(&["db", "init"]);
    site.sm(&["db", "seed", "--scale", "1000", "--seed", "9"]);
    let first = site.open().profiles().unwrap()[0].clone();
    let profile = first.name;
    site.sm(&["export", "--profile", &profile]);
    // The CSV below edits every user: a mass change the profile is set to allow.
    let employee = first.employee.to_string();
    site.sm(&["admin", "set", &employee, "change_guard_percent=100"]);
    // Inputs: a CSV editing every user, 20 vCards, a new task.
    let mut inputs = Vec::new();
    let staged = site.path().join("staged");
    fs::create_dir_all(&staged).unwrap();
    let mut rd =
        csv::Reader::from_path(site.dir(&profile, "outlook").join("contacts.csv")).unwrap();
    let header = rd.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_path(staged.join("contacts.csv"))
        .unwrap();
    w.write_record(&header).unwrap();
    for r in rd.records() {
        let mut row: Vec<String> = r.unwrap().iter().map(str::to_string).collect();
        if row[col("User 1")].starts_with("SM-U") {
            row[col("Mobile Phone")] = format!("+1 555 {}", row[col("User 1")]);
            row[col("Categories")].push_str(";!Update");
        }
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    inputs.push("contacts.csv".to_string());
    let mut vcards: Vec<PathBuf> = fs::read_dir(site.dir(&profile, "contacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("SM-T"))
        .collect();
    vcards.sort();
    for (i, p) in vcards.iter().take(20).enumerate() {
        let t = fs::read_to_string(p).unwrap().replace(
            "\r\nCATEGORIES:Tech Database",
            &format!("\r\nNOTE:crash {i}\r\nCATEGORIES:Tech Database,!Update"),
        );
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        fs::write(staged.join(&name), t).unwrap();
        inputs.push(name);
    }
    let client = all(&*site.open(), Kind::Client)[0].text("name").to_string();
    fs::write(
        staged.join("new-task.ics"),
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:crash-new\r\n\
             DTSTAMP:20261125T120000Z\r\nSUMMARY:From the crash test\r\nCATEGORIES:{client}\r\n\
             END:VTODO\r\nEND:VCALENDAR\r\n"
        ),
    )
    .unwrap();
    inputs.push("new-task.ics".to_string());
    (profile, inputs)
}

fn stage(site: &Site, profile: &str) {
    copy_dir(&site.path().join("staged"), &site.dir(profile, "inbox"));
}

fn finish(site: &Site, profile: &str) {
    site.sm(&["sync", "--profile", profile]);
}

both!(kills_at_random_moments_lose_nothing);
fn kills_at_random_moments_lose_nothing(template: Site) {
    let kills: usize = std::env::var("SMSYNC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let (profile, inputs) = prepare(&template);
    let profile = profile.as_str();

    // The uninterrupted run.
    let rsite = template.copy();
    stage(&rsite, profile);
    // Kills land within the time the uninterrupted run takes on this machine, so that most
    // of them hit a run in progress however fast the machine and the build (a fixed 700 ms
    // let a fast release build finish first in half the runs).
    let t = std::time::Instant::now();
    finish(&rsite, profile);
    let window = (t.elapsed().as_millis() as u64).max(20);
    let (want_db, want_journal) = state(&rsite);
    let want_files = check_vdir(&rsite, profile);
    check_inputs(&rsite, profile, &inputs, true);
    drop(rsite);

    let mut rng: u64 = 0x5eed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut killed_mid_run = 0;
    for i in 0..kills {
        let site = template.copy();
        stage(&site, profile);
        let op = ["ingest", "sync", "watch"][(next() % 3) as usize];
        let mut child = match op {
            "watch" => site.cmd(&["watch", "--debounce-ms", "50"]),
            _ => site.cmd(&[op, "--profile", profile]),
        }
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(next() % window));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_run += 1;
        }
        // A killed export may leave half an item only in temp files: the mid-run check.
        check_inputs(&site, profile, &inputs, false);
        finish(&site, profile);
        let (db, journal) = state(&site);
        assert_eq!(db, want_db, "run {i} ({op}): the database differs");
        assert_eq!(
            journal, want_journal,
            "run {i} ({op}): files applied twice or in part"
        );
        assert_eq!(
            check_vdir(&site, profile),
            want_files,
            "run {i} ({op}): the files differ"
        );
        check_inputs(&site, profile, &inputs, true);
    }
    eprintln!(
        "crash test on {}: {kills} kills within {window} ms, {killed_mid_run} of them mid-run, \
         nothing lost",
        template.engine()
    );
    assert!(killed_mid_run * 2 >= kills, "most kills must land mid-run");
}
