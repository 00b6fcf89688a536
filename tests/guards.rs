//! The guards of issue 18 through the real binary, a real database and real files: an
//! export that would remove too much of a profile, an ingest that would change or blank too
//! much, each below and above its threshold, with and without its override, in `export`,
//! `ingest` and `watch`; and `export --dry-run`, which writes nothing and plans exactly what
//! a run then does.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::Watch;
use common::site::Site;

const DANA: &str = "Dana Whitfield";
const MARCO: &str = "Marco Rossi";

impl Site {
    /// The sample company, both profiles exported once.
    fn new() -> Site {
        let s = Site::sqlite();
        s.ok(&["db", "init"]);
        s.ok(&["db", "seed", "--sample"]);
        s.ok(&["export", "--all"]);
        s
    }

    fn folder(&self, profile: &str) -> PathBuf {
        self.dropbox().join(profile)
    }

    fn show(&self, key: &str) -> serde_json::Value {
        self.json(&["admin", "show", key, "--json"])
    }

    /// Each profile's stamps and each of its outputs' stamps (output bit × 1000 +
    /// employee), from the database itself.
    fn stamps(&self) -> Vec<(i64, Option<i64>, Option<i64>)> {
        let store = self.open();
        let mut out = Vec::new();
        for p in store.profiles().unwrap() {
            out.push((p.employee.id, p.contacts_stamp, p.tasks_stamp));
            for s in store.output_stamps(p.employee).unwrap() {
                out.push((
                    i64::from(s.output) * 1000 + p.employee.id,
                    s.contacts,
                    s.tasks,
                ));
            }
        }
        out
    }

    /// Makes clients inactive in one transaction (a watcher sees them all at once).
    fn deactivate(&self, clients: &[&str]) {
        use smsync::store::Source;
        let mut store = self.open();
        let def = smsync::fields::get(smsync::model::Kind::Client, "active").unwrap();
        store
            .write(&mut |w| {
                w.set_source(Some(Source::admin()));
                for c in clients {
                    w.set(c.parse()?, &[(def, smsync::model::Value::Bool(false))])?;
                }
                Ok(())
            })
            .unwrap();
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir` with its bytes (the lock file's pid aside: it is rewritten by
/// whoever takes the lock, and is no output).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.strip_prefix(dir).unwrap().join(""), Vec::new());
                stack.push(p);
            } else if e.file_name() != ".smsync.lock" {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// The four clients whose deactivation takes 21 of the sample's 40 contacts (the issue's
/// "22 of 36"): above the default threshold (50% and at least 20).
const FOUR: [&str; 4] = ["SM-C1", "SM-C2", "SM-C3", "SM-C4"];

#[test]
fn an_export_that_would_remove_most_contacts_stops_and_names_the_cause() {
    let site = Site::new();
    let before = snapshot(&site.folder(DANA));
    let stamps = site.stamps();
    site.deactivate(&FOUR);
    let o = site.run(&["export", "--profile", DANA]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("remove 21 of the profile's 40 contacts")
            && out.contains("client SM-C3 made inactive: 7 contacts")
            && out.contains("--allow-mass-removal"),
        "{out}"
    );
    // Nothing written, no stamp moved.
    assert_eq!(snapshot(&site.folder(DANA)), before);
    assert_eq!(site.stamps(), stamps);
    // JSON names the guard and its causes, main one first.
    let o = site.run(&["export", "--profile", DANA, "--json"]);
    assert_eq!(o.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let g = &v["profiles"][0]["guard"];
    assert_eq!(
        (g["removals"].as_u64(), g["held"].as_u64()),
        (Some(21), Some(40))
    );
    assert_eq!(g["causes"][0]["text"], "client SM-C3 made inactive");
    assert_eq!(g["causes"][0]["contacts"], 7);
    // The run is recorded for status and report, with the guard's text.
    let st = site.ok(&["status"]);
    assert!(
        st.contains("last export: attention") && st.contains("stopped by the guard"),
        "{st}"
    );
    // The override proceeds.
    let o = site.run(&[
        "export",
        "--profile",
        DANA,
        "--allow-mass-removal",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profiles"][0]["contacts"]["removed"], 21);
    assert!(!site.folder(DANA).join("contacts/SM-L1.vcf").exists());
}

#[test]
fn an_export_below_the_threshold_or_with_a_raised_one_goes_on() {
    let site = Site::new();
    // Below: one client, 7 contacts.
    site.deactivate(&["SM-C3"]);
    let o = site.run(&["export", "--profile", DANA, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profiles"][0]["contacts"]["removed"], 7);
    // A profile's own threshold: 14 more removals of 33 contacts stop at 40%, at least 10.
    site.ok(&[
        "admin",
        "set",
        "SM-E1",
        "removal_guard_percent=40",
        "removal_guard_min=10",
    ]);
    site.deactivate(&["SM-C1", "SM-C2", "SM-C4"]);
    let o = site.run(&["export", "--profile", DANA]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    // And at its minimum of 15 it goes on (14 removals).
    site.ok(&["admin", "set", "SM-E1", "removal_guard_min=15"]);
    let o = site.run(&["export", "--profile", DANA, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["profiles"][0]["contacts"]["removed"], 14);
    // Out-of-range settings are refused with the range.
    let o = site.run(&["admin", "set", "SM-E1", "removal_guard_percent=101"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_dry_run_writes_nothing_and_plans_exactly_what_the_run_does() {
    let site = Site::new();
    site.deactivate(&FOUR);
    site.ok(&["admin", "set", "SM-L12", "phone=+1 555 0100"]);
    // Remove the folder's lock file too: a dry run must not even create it.
    fs::remove_file(site.folder(DANA).join(".smsync.lock")).unwrap();
    let before = snapshot(&site.folder(DANA));
    let names_before: Vec<PathBuf> = fs::read_dir(site.folder(DANA))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let stamps = site.stamps();
    let o = site.run(&["export", "--profile", DANA, "--dry-run", "--json"]);
    // The guard would stop the run: the dry run says so with exit 4.
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert_eq!(snapshot(&site.folder(DANA)), before, "the dry run wrote");
    let names_after: Vec<PathBuf> = fs::read_dir(site.folder(DANA))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names_after, names_before, "no lock, marker or temp file");
    assert_eq!(site.stamps(), stamps);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &plan["profiles"][0];
    assert_eq!(p["guard"]["removals"], 21);
    let files = |output: &str, what: &str| -> Vec<PathBuf> {
        let o = p["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["output"] == output)
            .unwrap();
        let mut v: Vec<PathBuf> = o[what]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| site.path().join(i["file"].as_str().unwrap()))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    // Text form too.
    let t = String::from_utf8_lossy(&site.run(&["export", "--profile", DANA, "--dry-run"]).stdout)
        .into_owned();
    assert!(t.contains("vdir: 1 to write, 21 to remove"), "{t}");
    assert_eq!(snapshot(&site.folder(DANA)), before);
    // The run: exactly the planned vdir and vCard 2.1 files change or go.
    site.ok(&["export", "--profile", DANA, "--allow-mass-removal"]);
    let after = snapshot(&site.folder(DANA));
    let root = site.folder(DANA);
    // (Retention replaces outlook/changes/.full-contacts-<run> markers: not an item.)
    let mut gone: Vec<PathBuf> = before
        .keys()
        .filter(|k| !after.contains_key(*k) && !k.starts_with("outlook/changes"))
        .map(|k| root.join(k))
        .collect();
    gone.sort();
    let mut planned_gone = files("vdir", "remove");
    planned_gone.extend(files("outlook-vcards", "remove"));
    planned_gone.sort();
    assert_eq!(gone, planned_gone);
    let mut changed: Vec<PathBuf> = after
        .iter()
        .filter(|(k, v)| before.get(*k).is_some_and(|b| b != *v) && !k.starts_with("outlook"))
        .filter(|(k, _)| !k.starts_with("reports"))
        .map(|(k, _)| root.join(k))
        .collect();
    changed.sort();
    let mut planned_written = files("vdir", "write");
    planned_written.extend(files("outlook-vcards", "write"));
    planned_written.sort();
    assert_eq!(changed, planned_written);
    // The Outlook CSV lists its removals in one change file of the run.
    let removals = files("outlook", "remove");
    assert_eq!(removals.len(), 1);
    let made: Vec<&PathBuf> = after
        .keys()
        .filter(|k| k.to_string_lossy().ends_with("-removals.csv"))
        .collect();
    assert_eq!(made.len(), 1);
}

/// The first `rows` contacts of a profile's full sheet marked `!Update`, with the phone
/// and e-mail `edit` gives (`None`: as exported); the blanked sheet when `edit`
/// blanks both. (The sample's locations, which come first, have a phone and no e-mail.)
fn edited_sheet(
    site: &Site,
    profile: &str,
    rows: usize,
    edit: &dyn Fn(usize) -> (Option<String>, Option<String>),
) -> Vec<u8> {
    let sheet = fs::read(site.folder(profile).join("outlook/contacts.csv")).unwrap();
    let sheet = sheet.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&sheet);
    let mut r = csv::Reader::from_reader(sheet);
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (cat, phone, email) = (
        col("Categories"),
        col("Business Phone"),
        col("E-mail Address"),
    );
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&headers).unwrap();
    for (i, rec) in r.records().enumerate().take(rows) {
        let mut rec: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        let (p, e) = edit(i);
        rec[cat] = "!Update".into();
        if let Some(p) = p {
            rec[phone] = p;
        }
        if let Some(e) = e {
            rec[email] = e;
        }
        w.write_record(&rec).unwrap();
    }
    w.into_inner().unwrap()
}

/// The database's journal and records as JSON, to compare before and after.
fn records(site: &Site) -> String {
    let mut all = String::new();
    for kind in ["location", "user", "tech"] {
        all += &site.ok(&["admin", "list", kind, "--json"]);
    }
    for k in ["SM-L1", "SM-U1", "SM-U6", "SM-T1"] {
        all += &site.show(k).to_string();
    }
    all
}

#[test]
fn an_ingest_that_would_blank_phones_and_emails_of_every_contact_stops_before_applying() {
    let site = Site::new();
    let inbox = site.folder(DANA).join("inbox");
    fs::write(
        inbox.join("all.csv"),
        edited_sheet(&site, DANA, usize::MAX, &|_| {
            (Some(String::new()), Some(String::new()))
        }),
    )
    .unwrap();
    let db = records(&site);
    let o = site.run(&["ingest", "--profile", DANA]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("ingest stopped before applying anything")
            && out.contains("blank")
            && out.contains("--allow-mass-change")
            && out.contains("dry run: nothing changed"),
        "{out}"
    );
    assert_eq!(records(&site), db, "nothing applied");
    assert!(
        inbox.join("all.csv").exists(),
        "the file stays in the inbox"
    );
    let st = site.ok(&["status"]);
    assert!(st.contains("last ingest: attention"), "{st}");
    // With the override it applies.
    let o = site.run(&["ingest", "--profile", DANA, "--allow-mass-change", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["tally"]["applied"].as_u64().unwrap() >= 20, "{v}");
    assert!(!inbox.join("all.csv").exists());
    assert_eq!(site.show("SM-L1")["phone"], serde_json::Value::Null);
}

#[test]
fn an_ingest_changing_more_than_half_of_the_items_stops_and_one_below_applies() {
    // 40 contacts and 14 tasks: 27 changed items are 50% (goes), 28 more (stops).
    let site = Site::new();
    let inbox = site.folder(DANA).join("inbox");
    let phones = |i: usize| (Some(format!("+1 555 01{i:02}")), None);
    fs::write(inbox.join("a.csv"), edited_sheet(&site, DANA, 28, &phones)).unwrap();
    let db = records(&site);
    let o = site.run(&["ingest", "--profile", DANA, "--json"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["guard"]["changed"], 28);
    assert_eq!(v["guard"]["held"], 54);
    assert_eq!(records(&site), db);
    fs::remove_file(inbox.join("a.csv")).unwrap();
    fs::write(inbox.join("b.csv"), edited_sheet(&site, DANA, 27, &phones)).unwrap();
    let o = site.run(&["ingest", "--profile", DANA, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tally"]["applied"], 27);
    assert!(v["run"].as_str().unwrap().starts_with("ingest-"));
}

#[test]
fn blanking_up_to_the_limit_applies_and_beyond_it_stops() {
    let site = Site::new();
    let inbox = site.folder(DANA).join("inbox");
    // The first rows are locations with a phone: 3 rows blank 3 phones, 4 rows blank 4
    // (the limit is 3).
    let blank_some = |_| (Some(String::new()), None);
    let sheet = edited_sheet(&site, DANA, 3, &blank_some);
    fs::write(inbox.join("two.csv"), &sheet).unwrap();
    let o = site.run(&["ingest", "--profile", DANA, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["guard"].is_null(), "{}", text(&o));
    assert_eq!(v["tally"]["applied"], 3, "{}", text(&o));
    site.ok(&["export", "--profile", DANA]);
    let site = Site::new();
    let inbox = site.folder(DANA).join("inbox");
    let sheet = edited_sheet(&site, DANA, 4, &blank_some);
    fs::write(inbox.join("three.csv"), &sheet).unwrap();
    let o = site.run(&["ingest", "--profile", DANA, "--json"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["guard"]["blanked"].as_array().unwrap().len(), 4);
    assert!(inbox.join("three.csv").exists());
}

#[test]
fn a_run_of_several_batches_is_planned_whole_before_any_batch_commits() {
    // 600 files (the batch is 500): the first 500 change one phone and blank none, the last
    // 100 blank 4 phones (the limit is 3). The guard sees the whole run before any of it
    // commits: nothing applies, not even the first batch's change.
    let site = Site::new();
    let inbox = site.folder(DANA).join("inbox");
    let change = edited_sheet(&site, DANA, 6, &|i| {
        (i == 5)
            .then(|| "+1 555 0199".to_string())
            .map_or((None, None), |p| (Some(p), None))
    });
    let blank = edited_sheet(&site, DANA, 4, &|_| (Some(String::new()), None));
    for i in 0..600 {
        // The same edit in distinct files (a trailing empty line keeps the hashes apart).
        let mut bytes = if i < 500 {
            change.clone()
        } else {
            blank.clone()
        };
        bytes.extend(std::iter::repeat_n(b'\n', i));
        fs::write(inbox.join(format!("f{i:03}.csv")), bytes).unwrap();
    }
    let db = records(&site);
    let o = site.run(&["ingest", "--profile", DANA, "--json"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["guard"]["blanked"].as_array().unwrap().len(), 4, "{v}");
    assert_eq!(v["guard"]["changed"], 5, "{v}");
    assert_eq!(records(&site), db);
    assert_eq!(fs::read_dir(&inbox).unwrap().count(), 600);
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_watch(site: &Site) -> Watch {
    let log = site.path().join("watch.log");
    let child = site
        .cmd(&["watch", "--debounce-ms", "200", "--db-interval-ms", "200"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Watch { child, log }
}

#[test]
fn the_watcher_holds_a_guarded_profile_and_goes_on_with_the_others() {
    let site = Site::new();
    // Marco's own threshold lets his export remove them all; Dana's default stops hers.
    site.ok(&["admin", "set", "SM-E2", "removal_guard_min=1000"]);
    let w = start_watch(&site);
    wait_until(
        Duration::from_secs(10),
        || w.log().contains("watch started"),
        "the watcher's start",
    );
    let dana = snapshot(&site.folder(DANA));
    site.deactivate(&FOUR);
    wait_until(
        Duration::from_secs(10),
        || !site.folder(MARCO).join("contacts/SM-L1.vcf").exists(),
        "Marco's export",
    );
    wait_until(
        Duration::from_secs(10),
        || w.log().contains("export stopped by the guard"),
        "the guard in the log",
    );
    // Dana's ingest guard: a blanking sheet stays in her inbox; a good edit in Marco's
    // inbox is applied meanwhile.
    let inbox = site.folder(DANA).join("inbox");
    let blank = edited_sheet(&site, DANA, usize::MAX, &|_| {
        (Some(String::new()), Some(String::new()))
    });
    fs::write(inbox.join("blank.csv.part"), &blank).unwrap();
    fs::rename(inbox.join("blank.csv.part"), inbox.join("blank.csv")).unwrap();
    wait_until(
        Duration::from_secs(10),
        || w.log().contains("ingest stopped by the guard"),
        "the ingest guard in the log",
    );
    let edit =
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-U11\",\"+1 555 0199\",\"!Update\"\r\n";
    fs::write(site.folder(MARCO).join("inbox/edit.csv"), edit).unwrap();
    wait_until(
        Duration::from_secs(10),
        || site.show("SM-U11")["mobile"] == "+1 555 0199",
        "Marco's ingest",
    );
    // Two more seconds: the guarded steps are not retried in a loop (their backoff is 30 s).
    std::thread::sleep(Duration::from_secs(2));
    let log = w.log();
    assert_eq!(
        log.matches("export stopped by the guard").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("ingest stopped by the guard").count(),
        1,
        "{log}"
    );
    assert!(
        inbox.join("blank.csv").exists(),
        "the guarded file stays in the inbox"
    );
    // Dana's outputs are as they were (only her inbox got the file).
    let mut now = snapshot(&site.folder(DANA));
    now.remove(Path::new("inbox/blank.csv"));
    assert_eq!(now, dana);
    let st = site.ok(&["status"]);
    assert!(st.contains("stopped by the guard"), "{st}");
    // A new version of the held file is tried at once: a harmless one applies.
    fs::write(inbox.join("blank.csv"), edit.replace("SM-U11", "SM-U12")).unwrap();
    wait_until(
        Duration::from_secs(10),
        || !inbox.join("blank.csv").exists(),
        "the changed file's ingest",
    );
    let (status, _) = w.stop();
    assert!(status.success());
}
