//! Profiles you can trust (issue 15): two employees never share a folder, a renamed
//! employee's folder follows it, an inactive employee is passed over, and each profile's
//! own settings are stored, shown, used by export, sync and watch, and overridden by a
//! flag. The real binary on a real database and real folders, as a site runs it.

mod common;

use common::Watch;
use common::site::Site;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use smsync::store::{SqliteStore, Store};

const DANA: &str = "Dana Whitfield";
const MARCO: &str = "Marco Rossi";

impl Site {
    fn new() -> Site {
        let s = Site::sqlite();
        s.ok(&["db", "init"]);
        s.ok(&["db", "seed", "--sample"]);
        s
    }

    /// Runs a command that must exit with `code`; its stdout and stderr.
    fn fails(&self, args: &[&str], code: i32) -> (String, String) {
        let out = self.run(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "smsync {args:?}: stdout {stdout} stderr {stderr}"
        );
        (stdout, stderr)
    }

    fn folder(&self, profile: &str) -> PathBuf {
        self.dropbox().join(profile)
    }

    /// The SQLite store itself (this file's tests reach into its tables).
    fn store(&self) -> SqliteStore {
        smsync::store::open_sqlite(self.db_arg()).unwrap()
    }

    /// Starts `smsync watch` with `extra` arguments, logging to a file.
    fn watch(&self, extra: &[&str]) -> Watch {
        let log = self.path().join("watch.log");
        let mut c = self.cmd(&["watch", "--debounce-ms", "200", "--db-interval-ms", "200"]);
        c.args(extra)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap());
        Watch {
            child: c.spawn().unwrap(),
            log,
        }
    }
}

/// Waits (10 s at most: a bound that only a hang reaches) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The names of the files in a folder (none when it does not exist).
/// The finished files of a folder (not the dot-named temp files a writer renames into place).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// Every file below `dir` with its bytes, by relative path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with(".smsync.lock") {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Gives Priya (SM-U15) an employee record, then — behind smsync's back, as another
/// writer of the database could — Marco Rossi's name: two employees with one profile name.
fn make_a_clash(site: &Site) {
    site.ok(&["admin", "add", "employee", "user=SM-U15"]);
    let s = site.store();
    s.connection()
        .execute(
            "UPDATE users SET first_name = 'Marco', last_name = 'Rossi' WHERE id = 15",
            [],
        )
        .unwrap();
}

#[test]
fn adding_or_renaming_into_a_taken_profile_name_is_refused_naming_both() {
    let site = Site::new();
    site.ok(&[
        "admin",
        "add",
        "user",
        "kind=agent",
        "first_name=Marco",
        "last_name=Rossi",
    ]);
    let (_, err) = site.fails(&["admin", "add", "employee", "user=SM-U17"], 2);
    assert!(
        err.contains("SM-U17") && err.contains("SM-E2") && err.contains("SM-U14"),
        "{err}"
    );
    // Renaming another employee's user into the name is refused too, naming both.
    site.ok(&["admin", "add", "employee", "user=SM-U15"]);
    let (_, err) = site.fails(
        &[
            "admin",
            "set",
            "SM-U15",
            "first_name=Marco",
            "last_name=Rossi",
        ],
        2,
    );
    assert!(err.contains("SM-E3") && err.contains("SM-E2"), "{err}");
    // Case differs only: one folder on Windows and macOS, so refused as well.
    site.fails(
        &[
            "admin",
            "set",
            "SM-U15",
            "first_name=marco",
            "last_name=ROSSI",
        ],
        2,
    );
    let profiles: Vec<String> = site
        .store()
        .profiles()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(profiles, [DANA, MARCO, "Priya Natarajan"]);
    // A name of one's own is fine.
    site.ok(&["admin", "set", "SM-U15", "last_name=Natarajan-Rao"]);
}

#[test]
fn export_all_sync_all_and_watch_never_write_two_employees_into_one_folder() {
    let site = Site::new();
    make_a_clash(&site);
    for cmd in ["export", "sync"] {
        let (out, err) = site.fails(&[cmd, "--all", "--json"], 2);
        assert!(
            err.contains("SM-E2") && err.contains("SM-E3") && err.contains(MARCO),
            "{cmd}: {err}"
        );
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let errors = report["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2, "an error for both: {report}");
        assert_eq!(report["profiles"].as_array().unwrap().len(), 1, "{report}");
        assert!(
            !site.folder(MARCO).exists(),
            "{cmd} wrote into the shared folder"
        );
        assert!(
            !names(&site.folder(DANA).join("contacts")).is_empty(),
            "the others go on"
        );
    }
    // `--profile` of the shared name names both as well.
    let (_, err) = site.fails(&["export", "--profile", MARCO], 2);
    assert!(err.contains("SM-E2") && err.contains("SM-E3"), "{err}");
    // And a watcher of that one profile stops at once, instead of watching nothing.
    let (_, err) = site.fails(&["watch", "--profile", MARCO], 2);
    assert!(err.contains("SM-E2") && err.contains("SM-E3"), "{err}");

    fs::remove_dir_all(site.path().join("dropbox")).unwrap();
    site.ok(&["reset", "--profile", DANA]);
    let w = site.watch(&[]);
    let dana = site.folder(DANA).join("contacts");
    wait_until("the watcher's export of Dana", || names(&dana).len() > 10);
    wait_until("the clash in the log", || w.log().contains("SM-E3"));
    let log = w.log();
    assert!(log.contains("SM-E2") && log.contains(MARCO), "{log}");
    assert!(
        !site.folder(MARCO).exists(),
        "watch wrote into the shared folder"
    );
}

#[test]
fn a_renamed_employee_takes_its_folder_inbox_and_full_set_along() {
    let site = Site::new();
    site.ok(&["export", "--all"]);
    let old = site.folder(MARCO);
    let contacts = names(&old.join("contacts"));
    let tasks = names(&old.join("tasks"));
    assert!(contacts.len() > 10 && tasks.len() > 5);
    // A file waiting in the inbox: an edit of a task's description.
    let edit = "\"Subject\",\"Billing Information\",\"Categories\"\r\n\
                \"Renamed and still read\",\"SI-1001\",\"!Update\"\r\n";
    fs::write(old.join("inbox/edit.csv"), edit).unwrap();

    site.ok(&["admin", "set", "SM-U14", "last_name=Rossi-Bianchi"]);
    let new = site.folder("Marco Rossi-Bianchi");
    let out = site.run(&["sync", "--all", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("moved") && stderr.contains("Marco Rossi-Bianchi"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let marco = &report["profiles"][1]["export"];
    assert!(
        marco["moved_from"].as_str().unwrap().ends_with(MARCO),
        "{report}"
    );
    assert!(!old.exists(), "the old folder is not left behind");
    assert_eq!(names(&new.join("contacts")), contacts, "the full set");
    assert_eq!(names(&new.join("tasks")), tasks, "the full set");
    // The file from the old inbox was ingested.
    let si = site.json(&["admin", "show", "SI-1001", "--json"]);
    assert_eq!(si["description"], "Renamed and still read", "{si}");
    assert!(names(&new.join("inbox")).is_empty());
    assert_eq!(names(&new.join("processed")).len(), 1, "one day folder");

    // `export` moves it too; a folder that holds the new name already is refused.
    site.ok(&["admin", "set", "SM-U14", "last_name=Rossi"]);
    fs::create_dir_all(old.join("inbox")).unwrap();
    let before = tree(&new);
    let (_, err) = site.fails(&["export", "--all"], 2);
    assert!(
        err.contains("already exists") && err.contains(MARCO),
        "{err}"
    );
    assert!(tree(&new) == before, "nothing moved, nothing written");
    fs::remove_dir_all(&old).unwrap();
    let (_, err) = {
        let out = site.run(&["export", "--all"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ((), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert!(err.contains("moved"), "{err}");
    assert!(!new.exists());
    assert_eq!(names(&old.join("contacts")), contacts);
}

#[test]
fn an_inactive_employee_is_passed_over_and_can_come_back() {
    let site = Site::new();
    site.ok(&["export", "--all"]);
    let marco = site.folder(MARCO);
    let out = site.ok(&["admin", "set", "SM-E2", "active=false"]);
    assert!(out.contains("inactive"), "{out}");
    assert!(
        site.ok(&["admin", "show", "SM-E2"])
            .contains("active          false")
    );
    // A change for everyone, then every kind of run.
    site.ok(&["admin", "set", "SM-U1", "mobile=+1 555 0100"]);
    let report = site.json(&["export", "--all", "--json"]);
    let done: Vec<&str> = report["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["profile"].as_str().unwrap())
        .collect();
    assert_eq!(done, [DANA]);
    let note = fs::read_to_string(marco.join("reports/inactive.txt")).unwrap();
    assert!(
        note.contains("inactive") && note.contains("SM-E2 active=true"),
        "{note}"
    );
    let before = tree(&marco);
    site.ok(&["sync", "--all"]);
    site.ok(&["export", "--all"]);
    assert!(tree(&marco) == before, "its folder is left as it is");
    let (_, err) = site.fails(&["export", "--profile", MARCO], 2);
    assert!(
        err.contains("inactive") && err.contains("active=true"),
        "{err}"
    );
    site.fails(&["sync", "--profile", MARCO], 2);
    site.fails(&["ingest", "--profile", MARCO], 2);
    assert!(site.ok(&["status"]).contains("inactive"));
    assert_eq!(
        site.json(&["status", "--json"])["profiles"][1]["active"],
        false
    );

    site.ok(&["admin", "set", "SM-U2", "mobile=+1 555 0101"]);
    {
        let w = site.watch(&[]);
        let dana = site.folder(DANA).join("outlook/changes");
        let n = names(&dana).len();
        wait_until("the watcher's export of Dana", || names(&dana).len() > n);
        drop(w);
    }
    assert!(tree(&marco) == before, "the watcher passes it over");

    site.ok(&["admin", "set", "SM-E2", "active=true"]);
    let r = site.json(&["export", "--all", "--json"]);
    assert_eq!(r["profiles"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(
        r["profiles"][1]["contacts"]["written"], 2,
        "both changes: {r}"
    );
    assert!(!marco.join("reports/inactive.txt").exists());
}

/// A CSV file as text (a code-page file read as UTF-8 where it can be).
fn csv_text(csv: &Path) -> String {
    let bytes = fs::read(csv).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn vcard_version(dir: &Path) -> String {
    let first = names(dir).into_iter().next().expect("a vCard");
    let text = fs::read_to_string(dir.join(first)).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn settings_are_set_shown_used_by_export_sync_and_watch_and_overridden_by_a_flag() {
    let site = Site::new();
    // Bad values exit 2 and list the valid ones.
    for (arg, valid) in [
        ("csv_encoding=latin-9", "windows-1252"),
        ("csv_language=xx", "pt-BR"),
        ("vcard_version=2.1", "4.0"),
        ("outputs=vdir,pdf", "outlook-vcards"),
        ("date_format=DD.MM", "YYYY"),
        ("full_csv_limit=lots", "integer"),
    ] {
        let (_, err) = site.fails(&["admin", "set", "SM-E1", arg], 2);
        assert!(err.contains(valid), "{arg}: {err}");
    }
    let (_, err) = site.fails(&["export", "--all", "--csv-encoding", "latin-9"], 2);
    assert!(err.contains("utf-8"), "{err}");

    site.ok(&[
        "admin",
        "set",
        "SM-E1",
        "date_format=DD.MM.YYYY",
        "csv_encoding=windows-1252",
        "csv_language=de",
        "vcard_version=4.0",
        "outputs=outlook,vdir",
        "full_csv_limit=5",
        "csv_safe=true",
    ]);
    // Shown by admin show and status.
    let show = site.ok(&["admin", "show", "SM-E1"]);
    for line in [
        "date_format     DD.MM.YYYY",
        "csv_encoding    windows-1252",
        "csv_language    de",
        "vcard_version   4.0",
        "outputs         vdir,outlook",
        "full_csv_limit  5",
        "csv_safe        true",
    ] {
        assert!(show.contains(line), "{line}: {show}");
    }
    assert!(
        site.ok(&["admin", "show", "SM-E2"])
            .contains("date_format     (default: M/D/YYYY)")
    );
    let status = site.ok(&["status"]);
    assert!(
        status.contains("date_format=DD.MM.YYYY") && status.contains("outputs=vdir,outlook"),
        "{status}"
    );
    let st = site.json(&["status", "--json"]);
    assert_eq!(st["profiles"][0]["settings"]["date_format"], "DD.MM.YYYY");
    assert_eq!(st["profiles"][0]["settings"]["csv_safe"], true);
    assert_eq!(
        st["profiles"][0]["effective_settings"]["vcard_version"],
        "4.0"
    );
    assert_eq!(
        st["profiles"][1]["settings"]["date_format"],
        serde_json::Value::Null
    );

    // Used by export: Dana's, not Marco's.
    site.ok(&["export", "--all"]);
    let dana = site.folder(DANA);
    assert_eq!(vcard_version(&dana.join("contacts")), "4.0");
    assert!(
        names(&dana.join("outlook-vcards")).is_empty(),
        "outputs=vdir,outlook"
    );
    let tasks = csv_text(&dana.join("outlook/tasks.csv"));
    assert!(!tasks.starts_with('\u{feff}'), "windows-1252 has no BOM");
    let dotted = regex_like_dates(&tasks, '.');
    assert!(dotted > 0 && regex_like_dates(&tasks, '/') == 0, "{tasks}");
    // csv_language=de: German headers for Dana, English for Marco.
    let header = |p: &Path| csv_text(p).lines().next().unwrap_or_default().to_string();
    let dana_header = header(&dana.join("outlook/contacts.csv"));
    assert!(dana_header.contains("\"Vorname\""), "{dana_header}");
    let marco = site.folder(MARCO);
    assert_eq!(vcard_version(&marco.join("contacts")), "3.0");
    assert!(!names(&marco.join("outlook-vcards")).is_empty());
    assert!(regex_like_dates(&csv_text(&marco.join("outlook/tasks.csv")), '/') > 0);
    let marco_header = header(&marco.join("outlook/contacts.csv"));
    assert!(marco_header.contains("\"First Name\""), "{marco_header}");

    // A flag overrides a setting for one run only.
    site.ok(&["reset", "--profile", DANA]);
    site.ok(&[
        "--date-format",
        "M/D/YYYY",
        "export",
        "--profile",
        DANA,
        "--vcard-version",
        "3.0",
    ]);
    assert_eq!(vcard_version(&dana.join("contacts")), "3.0");
    let tasks = csv_text(&dana.join("outlook/tasks.csv"));
    assert!(
        regex_like_dates(&tasks, '/') > 0 && regex_like_dates(&tasks, '.') == 0,
        "{tasks}"
    );
    assert!(
        names(&dana.join("outlook-vcards")).is_empty(),
        "outputs still the profile's"
    );

    // Used by sync, for ingest too: a due date in the profile's format is read as such.
    site.ok(&[
        "admin",
        "set",
        "SM-E2",
        "date_format=DD.MM.YYYY",
        "vcard_version=4.0",
    ]);
    let edit = "\"Subject\",\"Billing Information\",\"Due Date\",\"Categories\"\r\n\
                \"x\",\"SI-1001\",\"05.11.2027\",\"!Update\"\r\n";
    fs::write(marco.join("inbox/due.csv"), edit).unwrap();
    site.ok(&["reset", "--profile", MARCO]);
    site.ok(&["sync", "--profile", MARCO]);
    let si = site.json(&["admin", "show", "SI-1001", "--json"]);
    assert_eq!(si["due"], "2027-11-05", "{si}");
    assert_eq!(vcard_version(&marco.join("contacts")), "4.0");
    // …and a flag overrides it there too.
    site.ok(&["reset", "--profile", MARCO]);
    site.ok(&["sync", "--profile", MARCO, "--vcard-version", "3.0"]);
    assert_eq!(vcard_version(&marco.join("contacts")), "3.0");

    // Used by watch, and overridden there by a flag.
    fs::remove_dir_all(site.path().join("dropbox")).unwrap();
    site.ok(&["reset", "--profile", DANA]);
    site.ok(&["reset", "--profile", MARCO]);
    {
        let _w = site.watch(&["--vcard-version", "3.0"]);
        let c = marco.join("contacts");
        wait_until("the watcher's export of Marco", || names(&c).len() > 10);
        let d = dana.join("outlook/tasks.csv");
        wait_until("the watcher's export of Dana", || d.exists());
    }
    assert_eq!(
        vcard_version(&marco.join("contacts")),
        "3.0",
        "the flag wins"
    );
    assert!(regex_like_dates(&csv_text(&dana.join("outlook/tasks.csv")), '.') > 0);
    assert!(
        names(&dana.join("outlook-vcards")).is_empty(),
        "Dana's outputs"
    );
    fs::remove_dir_all(site.path().join("dropbox")).unwrap();
    site.ok(&["reset", "--profile", MARCO]);
    {
        let _w = site.watch(&["--profile", MARCO]);
        let c = marco.join("contacts");
        wait_until("the watcher's export of Marco", || names(&c).len() > 10);
    }
    assert_eq!(vcard_version(&marco.join("contacts")), "4.0", "the setting");

    // Cleared, a setting is the default again.
    site.ok(&["admin", "set", "SM-E1", "date_format="]);
    let st = site.json(&["status", "--json"]);
    assert_eq!(
        st["profiles"][0]["effective_settings"]["date_format"],
        "M/D/YYYY"
    );
}

/// How many quoted dates with `sep` between day, month and year a CSV text holds.
fn regex_like_dates(text: &str, sep: char) -> usize {
    text.split('"')
        .filter(|cell| {
            let parts: Vec<&str> = cell.split(sep).collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && parts.iter().any(|p| p.len() == 4)
                && cell != &"0/0/00"
        })
        .count()
}

#[test]
fn an_exported_profile_keeps_its_folder_across_the_migration() {
    use smsync::store::sqlite::schema::MIGRATIONS;
    let mine = MIGRATIONS
        .iter()
        .position(|m| m.contains("ADD COLUMN folder"))
        .expect("the profiles migration");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (i, sql) in MIGRATIONS[..mine].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, kind, first_name, last_name, updated_at) VALUES \
               (1, 'agent', 'Ann', 'Lee', 1), (2, 'agent', 'Bo', 'Ek', 1);
             INSERT INTO employees (id, user_id, contacts_stamp, tasks_stamp, updated_at) VALUES \
               (1, 1, 5, 5, 1), (2, 2, NULL, NULL, 1);",
        )
        .unwrap();
    }
    let (store, before, after) = SqliteStore::create(&path).unwrap();
    assert_eq!((before, after), (mine as i64, MIGRATIONS.len() as i64));
    let p = store.profiles().unwrap();
    assert_eq!(
        p[0].folder.as_deref(),
        Some("Ann Lee"),
        "exported: its folder is known"
    );
    assert_eq!(p[1].folder, None, "never exported");
    assert!(p.iter().all(|p| p.active));
    assert_eq!(p[0].settings, Default::default());
}

#[test]
fn a_character_the_profiles_code_page_cannot_hold_leaves_one_item_out_with_exit_3() {
    // Issue 15, defect 6, through the command line: the profile's csv_encoding is
    // Windows-1252 and one client user is named Łukasz.
    let site = Site::new();
    site.ok(&["admin", "set", "SM-E1", "csv_encoding=windows-1252"]);
    site.ok(&[
        "admin",
        "add",
        "user",
        "kind=client",
        "client=SM-C1",
        "first_name=Łukasz",
        "last_name=Nowak",
    ]);
    let (out, err) = site.fails(&["export", "--profile", DANA], 3);
    assert!(
        err.contains("'Ł'") && err.contains("U+0141") && err.contains("First Name"),
        "{err}"
    );
    assert!(out.contains("contacts:"), "the run's summary: {out}");
    let dana = site.folder(DANA);
    assert!(
        names(&dana.join("contacts")).len() > 10,
        "the vdir is written"
    );
    let (json, _) = site.fails(&["export", "--profile", DANA, "--json"], 3);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["profiles"][0]["refused"][0]["code_point"], "U+0141");
}
