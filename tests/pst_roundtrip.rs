//! The PST output (`--outputs pst`) and its round trip: the file holds exactly the synced
//! set, the same database gives the same bytes, a quiet run leaves it alone; the user's
//! edits in the file come back through `sync` (moved to `processed/`, every item that could
//! not be applied reported) and a fresh file is written; a file in use or holding edits not
//! yet ingested is never overwritten.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use smsync::codec::item::{Field, Item};
use smsync::export::{Layout, Options, Outputs, export_profile};
use smsync::model::{Key, Kind, SiStatus};
use smsync::store::{Lookup, SqliteStore, Store};

const DANA: &str = "Dana Whitfield";

fn pst_of(drop: &Path) -> PathBuf {
    Layout::new(drop, DANA).outlook.join("Service Master.pst")
}

fn read(path: &Path) -> Vec<Item> {
    smsync::codec::pst::read(path)
        .unwrap()
        .into_iter()
        .map(|i| i.item.unwrap())
        .collect()
}

fn keys(items: &[Item]) -> BTreeSet<Key> {
    items.iter().filter_map(|i| i.key).collect()
}

/// The keys of the synced set, as the store lists it.
fn synced(s: &dyn Store) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for k in [Kind::Location, Kind::User, Kind::Tech, Kind::Si] {
        s.for_each_synced(k, &mut |r| {
            out.insert(r.key);
            Ok(())
        })
        .unwrap();
    }
    out
}

fn export(s: &mut SqliteStore, drop: &Path, outputs: &str) -> smsync::export::Report {
    let p = s.profile(DANA).unwrap();
    let opts = Options {
        outputs: Outputs::parse(outputs).unwrap(),
        ..Options::default()
    };
    export_profile(s, &p, drop, &opts, &mut || {}).unwrap()
}

fn smsync(dir: &Path, args: &[&str]) -> Output {
    let db = dir.join("sm.db");
    let drop = dir.join("drop");
    Command::new(env!("CARGO_BIN_EXE_smsync"))
        .arg("--db")
        .arg(&db)
        .arg("--drop")
        .arg(&drop)
        .args(args)
        .output()
        .expect("run smsync")
}

fn sync(dir: &Path, code: i32) -> Output {
    let out = smsync(
        dir,
        &["sync", "--profile", DANA, "--outputs", "vdir,pst", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_pst_output_holds_the_synced_set_and_the_same_database_gives_the_same_bytes() {
    let (dir, mut s) = sample_store();
    let drop = dir.path().join("drop");
    // Not a default output.
    export(&mut s, &drop, "vdir");
    assert!(!pst_of(&drop).exists());
    let r = export(&mut s, &drop, "pst");
    assert_eq!(r.exit_code(), 0);
    let path = pst_of(&drop);
    assert!(r.change_files.contains(&path), "{:?}", r.change_files);
    let items = read(&path);
    assert_eq!(keys(&items), synced(&s));
    assert_eq!(items.len(), keys(&items).len(), "each item once");
    let first = fs::read(&path).unwrap();

    // A quiet run leaves the file as it is (not even rewritten).
    let before = fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = export(&mut s, &drop, "pst");
    assert!(r.change_files.is_empty());
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);

    // The same database in another drop folder gives the same bytes.
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("sm.db");
    s.connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    fs::copy(s.path(), &copy).unwrap();
    let mut s2 = SqliteStore::open(&copy).unwrap();
    export(&mut s2, other.path(), "pst");
    assert_eq!(fs::read(pst_of(other.path())).unwrap(), first);

    // A change rewrites the file whole; the item shows its new value.
    let contact = *keys(&items).iter().find(|k| k.kind == Kind::User).unwrap();
    set(&mut s, contact, &[("mobile", "+49 170 0000 111")]);
    let r = export(&mut s, &drop, "pst");
    assert_eq!(r.contacts.written, 1);
    let back = read(&path);
    let c = back.iter().find(|i| i.key == Some(contact)).unwrap();
    assert_eq!(c.text("mobile"), Some("+49 170 0000 111"));
    assert_eq!(keys(&back), synced(&s));
    assert!(
        !fs::read_dir(path.parent().unwrap()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".smsync-tmp")),
        "no temp file is left"
    );
}

/// A database with the sample company, closed again: the binary opens it.
fn sample_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, _) = SqliteStore::create(&dir.path().join("sm.db")).unwrap();
    let mut s = s;
    smsync::seed::sample(&mut s).unwrap();
    dir
}

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("sm.db")).unwrap()
}

fn set_text(item: &mut Item, name: &str, v: &str) {
    match item.values.iter_mut().find(|(f, _)| f.name == name) {
        Some((_, f)) => *f = Field::Text(v.into()),
        None => item.values.push((
            smsync::fields::get(item.kind, name).unwrap(),
            Field::Text(v.into()),
        )),
    }
}

fn add_category(item: &mut Item, c: &str) {
    match item.values.iter_mut().find(|(f, _)| f.name == "category") {
        Some((_, Field::List(l))) => l.push(c.into()),
        _ => item.values.push((
            smsync::fields::get(item.kind, "category").unwrap(),
            Field::List(vec![c.into()]),
        )),
    }
}

fn status(s: &SqliteStore, key: Key) -> Option<SiStatus> {
    Item::from_record(&s.find(key).unwrap().unwrap()).si_status()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_in(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// What the user does in Outlook, simulated on the PST smsync wrote: a contact tagged
/// `!Update` with a changed phone, a task in Completion Requested marked complete, a task
/// In Progress marked complete (which the rules refuse), and a new task for a client.
/// Returns (contact, completed task, refused task, the client's name).
fn edit_in_outlook(path: &Path, s: &SqliteStore) -> (Key, Key, Key, String) {
    let mut items = read(path);
    let c = items
        .iter()
        .position(|i| i.kind == Kind::User)
        .expect("a contact");
    add_category(&mut items[c], "!Update");
    set_text(&mut items[c], "phone", "+1 555 0100 ✓");
    let by_status = |want: SiStatus| {
        items
            .iter()
            .position(|i| i.kind == Kind::Si && i.key.is_some_and(|k| status(s, k) == Some(want)))
            .unwrap_or_else(|| panic!("a task in {want:?}"))
    };
    let done = by_status(SiStatus::CompletionRequested);
    let refused = by_status(SiStatus::InProgress);
    for i in [done, refused] {
        set_text(&mut items[i], "status", "Closed");
    }
    let client = items[refused].text("client").expect("a client").to_string();
    let mut new = Item {
        kind: Kind::Si,
        key: None,
        uid: None,
        values: Vec::new(),
        modified: None,
    };
    add_category(&mut new, &client);
    set_text(
        &mut new,
        "description",
        "Neue Aufgabe aus Outlook — 日本語 ✓",
    );
    let keys = (
        items[c].key.unwrap(),
        items[done].key.unwrap(),
        items[refused].key.unwrap(),
    );
    items.push(new);
    // Outlook saves the same file in place.
    smsync::pst_write::write_pst(path, &items).unwrap();
    (keys.0, keys.1, keys.2, client)
}

#[test]
fn sync_applies_the_users_edits_in_the_pst_files_it_and_writes_a_fresh_one() {
    for dropped in [false, true] {
        let dir = sample_dir();
        let drop = dir.path().join("drop");
        sync(dir.path(), 0);
        let path = pst_of(&drop);
        let s = open(dir.path());
        let (contact, done, refused, client) = edit_in_outlook(&path, &s);
        drop_store(s);
        if dropped {
            // The user drops the edited file in the inbox instead.
            let inbox = Layout::new(&drop, DANA).inbox.join("mine.pst");
            fs::rename(&path, &inbox).unwrap();
        }
        let edited = if dropped {
            fs::read(Layout::new(&drop, DANA).inbox.join("mine.pst")).unwrap()
        } else {
            fs::read(&path).unwrap()
        };
        // One item could not be applied: 3, and the report names it.
        let out = sync(dir.path(), 3);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ingest = &json["profiles"][0]["ingest"];
        let files = ingest["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{ingest}");
        let text = files[0].to_string();
        assert!(text.contains(&refused.to_string()), "{text}");
        assert!(text.contains("refused"), "{text}");

        // The user's file is in processed/, whole, with its .error.txt naming the item.
        let processed = files_in(&Layout::new(&drop, DANA).processed);
        let moved: Vec<&PathBuf> = processed
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pst"))
            .collect();
        assert_eq!(moved.len(), 1, "{processed:?}");
        assert_eq!(fs::read(moved[0]).unwrap(), edited);
        if !dropped {
            let name = moved[0].file_name().unwrap().to_string_lossy();
            assert!(name.starts_with("Service Master 20"), "dated: {name}");
        }
        let err = processed
            .iter()
            .find(|p| p.to_string_lossy().ends_with(".error.txt"))
            .expect("an .error.txt");
        assert!(
            fs::read_to_string(err)
                .unwrap()
                .contains(&refused.to_string())
        );

        // The database has the edits.
        let s = open(dir.path());
        let c = Item::from_record(&s.find(contact).unwrap().unwrap());
        assert_eq!(c.text("phone"), Some("+1 555 0100 ✓"));
        assert_eq!(status(&s, done), Some(SiStatus::Closed));
        assert_eq!(status(&s, refused), Some(SiStatus::InProgress));

        // A fresh PST: the synced set with the edits, no `!Update`, the new task with its
        // new key and client; the closed SI has left the set.
        assert!(path.exists());
        let back = read(&path);
        assert_eq!(keys(&back), synced(&s));
        let c = back.iter().find(|i| i.key == Some(contact)).unwrap();
        assert_eq!(c.text("phone"), Some("+1 555 0100 ✓"));
        assert!(!c.has_update());
        assert!(!keys(&back).contains(&done));
        let new = back
            .iter()
            .find(|i| i.text("description") == Some("Neue Aufgabe aus Outlook — 日本語 ✓"))
            .expect("the new task");
        assert!(new.key.is_some_and(|k| k.kind == Kind::Si));
        assert!(new.categories().contains(&client), "{:?}", new.categories());
        assert!(
            Layout::new(&drop, DANA)
                .inbox
                .read_dir()
                .unwrap()
                .next()
                .is_none()
        );
        // The fresh file is smsync's own again: the next run leaves it alone.
        let fresh = fs::read(&path).unwrap();
        drop_store(s);
        sync(dir.path(), 0);
        assert_eq!(fs::read(&path).unwrap(), fresh);
    }
}

fn drop_store(s: SqliteStore) {
    std::mem::drop(s);
}

/// Holds an exclusive `flock` on a file, as a program that has it open might.
struct Locked(#[allow(dead_code)] fs::File);

impl Locked {
    fn new(path: &Path) -> Locked {
        use std::os::fd::AsRawFd;
        let f = fs::File::open(path).unwrap();
        // SAFETY: flock on a descriptor `f` owns.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0);
        Locked(f)
    }
}

#[test]
fn a_pst_in_use_or_with_edits_not_ingested_is_never_overwritten() {
    let dir = sample_dir();
    let drop = dir.path().join("drop");
    sync(dir.path(), 0);
    let path = pst_of(&drop);
    let mut s = open(dir.path());
    let contact = *keys(&read(&path))
        .iter()
        .find(|k| k.kind == Kind::User)
        .unwrap();
    set(&mut s, contact, &[("mobile", "+49 170 1")]);
    drop_store(s);
    let written = fs::read(&path).unwrap();

    // Open in Outlook (locked), and saved by it (a later time): left alone, exit 4; the
    // other outputs go on.
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    f.set_modified(later).unwrap();
    std::mem::drop(f);
    let lock = Locked::new(&path);
    let out = sync(dir.path(), 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use") && err.contains("Service Master.pst"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), written);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["profiles"][0]["export"]["contacts"]["written"], 1);
    assert_eq!(
        json["profiles"][0]["export"]["pst_skipped"]["reason"],
        "in_use"
    );
    assert!(files_in(&Layout::new(&drop, DANA).processed).is_empty());

    // Closed, but `export` alone does not ingest: its edits are not overwritten either.
    std::mem::drop(lock);
    let out = smsync(
        dir.path(),
        &["export", "--profile", DANA, "--outputs", "vdir,pst"],
    );
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not ingested") && err.contains("smsync sync"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), written);
    // The run is recorded as needing attention, with the reason, for `status` and `report`.
    let st: serde_json::Value =
        serde_json::from_slice(&smsync(dir.path(), &["status", "--json"]).stdout).unwrap();
    let last = st["attention"]["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["profile"] == DANA)
        .map(|p| p["last_export"].clone())
        .unwrap();
    assert_eq!(last["outcome"], "attention", "{last}");
    assert!(
        last["summary"].as_str().unwrap().contains("not ingested"),
        "{last}"
    );

    // `sync` takes it in (to processed/) and writes the fresh file with the change.
    sync(dir.path(), 0);
    let back = read(&path);
    let c = back.iter().find(|i| i.key == Some(contact)).unwrap();
    assert_eq!(c.text("mobile"), Some("+49 170 1"));
    let processed = files_in(&Layout::new(&drop, DANA).processed);
    assert_eq!(processed.len(), 1, "{processed:?}");
    assert_eq!(fs::read(&processed[0]).unwrap(), written);
}

#[test]
fn a_pst_saved_by_outlook_while_the_export_runs_is_not_replaced() {
    let (d, mut s) = sample_store();
    let drop = d.path().join("drop");
    let opts = Options {
        outputs: Outputs::parse("pst").unwrap(),
        page: 5,
        ..Default::default()
    };
    let p = s.profile(DANA).unwrap();
    export_profile(&mut s, &p, &drop, &opts, &mut || {}).unwrap();
    let pst = pst_of(&drop);
    assert!(pst.exists());
    // A change makes the next run rewrite the file; while it runs, Outlook saves the file.
    set(&mut s, Key::new(Kind::Tech, 1), &[("phone", "+1 000 777")]);
    let p = s.profile(DANA).unwrap();
    let mut saved = false;
    let mut outlook_saves = || {
        if !saved {
            let mut bytes = fs::read(&pst).unwrap();
            bytes.extend_from_slice(&[0u8; 512]);
            fs::write(&pst, &bytes).unwrap();
            saved = true;
        }
    };
    let err = export_profile(&mut s, &p, &drop, &opts, &mut outlook_saves).unwrap_err();
    assert!(saved, "the hook ran");
    assert!(
        err.to_string().contains("changed during the export"),
        "{err}"
    );
    let users = fs::read(&pst).unwrap();
    assert_eq!(users.len() % 512, 0);
    assert!(
        users.ends_with(&[0u8; 512]),
        "the user's file is still there"
    );
}

/// A PST is read from its file, not into memory: one above the size limit for other files
/// is ingested all the same (with the child-process check), while a CSV above it is still
/// refused with the limit.
#[test]
fn a_pst_above_the_size_limit_is_ingested_from_its_file() {
    use smsync::ingest::{FileOutcome, Options as IngestOptions, ingest};
    let (dir, mut s) = sample_store();
    let drop = dir.path().join("drop");
    export(&mut s, &drop, "pst");
    let path = pst_of(&drop);
    let (contact, ..) = edit_in_outlook(&path, &s);
    let inbox = Layout::new(&drop, DANA).inbox;
    let mine = inbox.join("mine.pst");
    fs::rename(&path, &mine).unwrap();
    let size = fs::metadata(&mine).unwrap().len();
    let limit = 32 * 1024;
    assert!(size > 2 * limit, "a PST of {size} bytes");
    fs::write(inbox.join("big.csv"), vec![b'a'; 2 * limit as usize]).unwrap();
    let opts = IngestOptions {
        max_size: limit,
        pst_checker: Some(PathBuf::from(env!("CARGO_BIN_EXE_smsync"))),
        ..IngestOptions::default()
    };
    let p = s.profile(DANA).unwrap();
    let r = ingest(&mut s, &p, &drop, &[], &opts).unwrap();
    let of = |name: &str| r.files.iter().find(|f| f.file.ends_with(name)).unwrap();
    // Partial: the task In Progress marked complete is refused, as the rules say.
    assert_eq!(of("mine.pst").outcome, FileOutcome::Partial, "{r:#?}");
    assert_eq!(
        s.get(contact).unwrap().text("phone"),
        "+1 555 0100 ✓",
        "the edit in the PST was applied"
    );
    let csv = of("big.csv");
    assert_eq!(csv.outcome, FileOutcome::Rejected);
    assert!(csv.error.as_ref().unwrap().contains("above the limit"));
    // The same PST again is known by its hash, taken as the file streamed by.
    let processed = files_in(&Layout::new(&drop, DANA).processed);
    let again = processed.iter().find(|p| p.ends_with("mine.pst")).unwrap();
    fs::copy(again, inbox.join("again.pst")).unwrap();
    let r = ingest(&mut s, &p, &drop, &[], &opts).unwrap();
    assert_eq!(r.files[0].outcome, FileOutcome::Duplicate, "{r:#?}");
}

/// A closed SI goes out once more as Completed to the other outputs, but the PST is written
/// from the synced set, which it has left: the export state must not say the PST holds it
/// (while vdir, which wrote it as Completed, does).
#[test]
fn a_closed_si_leaves_the_pst_and_its_state_says_so() {
    use smsync::export::OutputKind;
    let (dir, mut s) = sample_store();
    let drop = dir.path().join("drop");
    export(&mut s, &drop, "vdir,pst");
    let path = pst_of(&drop);
    let closing = Key::new(Kind::Si, 1001);
    assert!(keys(&read(&path)).contains(&closing));
    let employee = s.profile(DANA).unwrap().employee;
    let held = |s: &SqliteStore| s.exported(employee, closing).unwrap().map_or(0, |e| e.held);
    assert_ne!(held(&s) & OutputKind::Pst.bit(), 0);
    set(
        &mut s,
        closing,
        &[("status", "Closed"), ("completed", "2026-11-30")],
    );
    let r = export(&mut s, &drop, "vdir,pst");
    assert!(r.change_files.contains(&path), "the PST is rewritten");
    assert!(!keys(&read(&path)).contains(&closing), "not in the PST");
    assert_eq!(
        held(&s) & OutputKind::Pst.bit(),
        0,
        "the PST does not hold it"
    );
    assert_ne!(
        held(&s) & OutputKind::Vdir.bit(),
        0,
        "vdir holds it, as Completed"
    );
    // Nothing is owed to the PST: the next run leaves it as it is.
    let r = export(&mut s, &drop, "pst");
    assert!(r.change_files.is_empty(), "{:?}", r.change_files);
}
