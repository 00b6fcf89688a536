//! The PostgreSQL engine under concurrency and bad input, on a real server (`SMSYNC_TEST_PG`,
//! see tests/common/pg.rs; each test passes over its body when none is configured): the change
//! clock in commit order (concurrent writers and exports miss no commit, lose no update,
//! keep one Main per client), the profile's advisory lock, `db copy` from SQLite with
//! byte-identical exports, clear errors for bad URLs and schemas, a connection lost
//! mid-ingest, a write the server refuses after it was sent with later statements, and two
//! watchers standing for two machines on one database.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use std::thread;

use common::pg::{PgDb, psql};
use common::*;
use smsync::admin::parse_assignments;
use smsync::export::{Layout, Options as ExportOptions, export_profile};
use smsync::model::{Key, Kind, Value};
use smsync::store::postgres::profile_lock_key;
use smsync::store::{PgStore, Store};

const DANA: &str = "Dana Whitfield";

fn smsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smsync"))
        .args(args)
        .env_remove("SMSYNC_DB")
        .output()
        .expect("run smsync")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "smsync failed: {}", text(&o));
    text(&o)
}

/// A new database holding the sample company.
fn sample(db: &PgDb) -> PgStore {
    let (mut s, _, _) = PgStore::create(&db.url).expect("create");
    smsync::seed::sample(&mut s).expect("sample");
    s
}

fn assignments(
    s: &dyn Store,
    kind: Kind,
    pairs: &[(&str, &str)],
    adding: bool,
) -> Vec<smsync::store::Assignment> {
    let args: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parse_assignments(s, kind, &args, adding).expect("assignments")
}

/// Every file below `dir`, by path relative to it, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
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

/// The text of every vCard a profile's vdir holds, long lines unfolded.
fn vcards(drop: &Path, profile: &str) -> String {
    tree(&Layout::new(drop, profile).contacts)
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap().replace("\r\n ", ""))
        .collect()
}

#[test]
fn concurrent_writers_and_exports_miss_no_commit_and_lose_no_update() {
    let Some(db) = PgDb::create() else { return };
    let mut store = sample(&db);
    let shared = Key::new(Kind::Tech, 1);
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = db.url.clone();
            thread::spawn(move || {
                let mut s = PgStore::open(&url).unwrap();
                for j in 0..EACH {
                    let name = format!("W{w}-{j}");
                    let add = assignments(&s, Kind::Tech, &[("company", &name)], true);
                    s.write(&mut |tx| {
                        let k = tx.add(Kind::Tech, &add)?;
                        // More work between taking the clock and committing, so that
                        // commits and exports interleave.
                        let notes = &smsync::fields::of(Kind::Tech)
                            [smsync::fields::index(Kind::Tech, "notes").unwrap()];
                        tx.set(k, &[(notes, Value::Text(format!("{name} noted")))])?;
                        // Read-modify-write of one record every writer changes.
                        let old = tx.get(shared)?.text("notes").to_string();
                        tx.set(shared, &[(notes, Value::Text(format!("{old}[{name}]")))])?;
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    let drop = tempfile::tempdir().unwrap();
    let profile = store.profile(DANA).unwrap();
    let opts = ExportOptions::default();
    let mut exports = 0;
    while writers.iter().any(|t| !t.is_finished()) {
        export_profile(&mut store, &profile, drop.path(), &opts, &mut || {}).unwrap();
        exports += 1;
    }
    for t in writers {
        t.join().unwrap();
    }
    export_profile(&mut store, &profile, drop.path(), &opts, &mut || {}).unwrap();
    assert!(exports > 1, "the exports ran while the writers wrote");

    // No lost update: every writer's mark is in the shared record.
    let notes = store.get(shared).unwrap().text("notes").to_string();
    for w in 0..WRITERS {
        for j in 0..EACH {
            assert!(
                notes.contains(&format!("[W{w}-{j}]")),
                "W{w}-{j} lost: {notes}"
            );
        }
    }
    // No skipped commit: every record reached the profile's files, in its last version.
    let cards = vcards(drop.path(), DANA);
    for w in 0..WRITERS {
        for j in 0..EACH {
            assert!(
                cards.contains(&format!("W{w}-{j} noted")),
                "W{w}-{j} never exported"
            );
        }
    }
    let counts = store.sync_counts(&store.profile(DANA).unwrap()).unwrap();
    assert_eq!(
        tree(&Layout::new(drop.path(), DANA).contacts).len() as u64,
        counts.contacts
    );
    assert!(
        cards.contains(&notes.replace(',', "\\,")),
        "the shared record's last version"
    );
}

#[test]
fn two_transactions_moving_main_at_once_leave_one_main() {
    let Some(db) = PgDb::create() else { return };
    let mut store = sample(&db);
    let (c, locs, _) = client_with(&mut store, "Contended", 4, 0);
    let movers: Vec<_> = (0..2)
        .map(|m| {
            let url = db.url.clone();
            let locs = locs.clone();
            thread::spawn(move || {
                let mut s = PgStore::open(&url).unwrap();
                for i in 0..40 {
                    let l = locs[(i + m) % locs.len()];
                    set(&mut s, l, &[("main", "true")]);
                }
            })
        })
        .collect();
    for t in movers {
        t.join().unwrap();
    }
    let mains = psql(
        &db.url,
        &format!(
            "SELECT count(*) FROM locations WHERE client_id = {} AND is_main = 1",
            c.id
        ),
    );
    assert_eq!(mains, "1");
    // The database itself refuses a second Main, whatever writes.
    let other = locs
        .iter()
        .find(|l| store.get(**l).unwrap().get("main") != &Value::Bool(true))
        .unwrap();
    let mut raw = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let e = raw
        .execute(
            "UPDATE locations SET is_main = 1 WHERE id = $1",
            &[&other.id],
        )
        .expect_err("a second Main was accepted");
    let constraint = e
        .as_db_error()
        .and_then(|d| d.constraint())
        .map(str::to_string);
    assert_eq!(constraint.as_deref(), Some("locations_one_main"), "{e}");
}

#[test]
fn a_profile_is_held_by_an_advisory_lock_while_it_is_exported() {
    let Some(db) = PgDb::create() else { return };
    let mut store = sample(&db);
    let profile = store.profile(DANA).unwrap();
    let drop = tempfile::tempdir().unwrap();
    let key = profile_lock_key(DANA);
    let try_lock = |url: &str| {
        psql(
            url,
            &format!("SELECT pg_try_advisory_lock({key}), pg_advisory_unlock_all()"),
        )
    };
    let mut seen = Vec::new();
    let opts = ExportOptions {
        page: 10,
        ..Default::default()
    };
    export_profile(&mut store, &profile, drop.path(), &opts, &mut || {
        seen.push(try_lock(&db.url));
    })
    .unwrap();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|s| s.starts_with("f|")),
        "another session took the profile during the export: {seen:?}"
    );
    assert!(
        try_lock(&db.url).starts_with("t|"),
        "released after the export"
    );
    // The SQL form of the key is the one the lock uses (the watcher test checks with it).
    assert_eq!(psql(&db.url, &sql_key("'Dana Whitfield'")), key.to_string());
}

#[test]
fn a_profile_another_session_holds_is_given_up_after_the_wait_naming_the_holder() {
    let Some(db) = PgDb::create() else { return };
    drop(sample(&db));
    let drop_dir = tempfile::tempdir().unwrap();
    let dir = drop_dir.path().to_str().unwrap();
    // Another machine's smsync, as the server sees it: a session holding the profile's lock.
    let mut holder = postgres::Config::from_str(&db.url)
        .unwrap()
        .application_name("smsync on fileserver-2")
        .connect(postgres::NoTls)
        .unwrap();
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&profile_lock_key(DANA)])
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let export = || {
        Command::new(env!("CARGO_BIN_EXE_smsync"))
            .args(["--db", &db.url, "--drop", dir, "export", "--profile", DANA])
            .env_remove("SMSYNC_DB")
            .env("SMSYNC_LOCK_WAIT", "1")
            .output()
            .unwrap()
    };
    let o = export();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "profile '{DANA}': another smsync (smsync on fileserver-2 (server pid {pid})) has \
             been working on it in PostgreSQL database"
        )),
        "{t}"
    );
    assert!(t.contains("for 1 s; try again when it is done"), "{t}");
    let contacts = Path::new(dir).join(DANA).join("contacts");
    let files = || fs::read_dir(&contacts).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files(), 0, "nothing written while another held the profile");
    // Once it lets go, the export runs.
    drop(holder);
    ok(export());
    assert!(files() > 0);
}

/// SQL computing [`profile_lock_key`] of the profile name `name` (an SQL expression).
fn sql_key(name: &str) -> String {
    format!(
        "SELECT ('x' || substr(encode(sha256(convert_to('smsync profile:' || {name}, 'UTF8')), \
         'hex'), 1, 16))::bit(64)::bigint"
    )
}

/// The role of scripts/pg.sh's cluster whose password the server checks, and its password.
const PW_ROLE: &str = "smsync_pw";
const PW_SECRET: &str = "smsync-pw-right";

fn password_role_exists(server: &str) -> bool {
    psql(
        server,
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{PW_ROLE}'"),
    )
    .trim()
        == "1"
}

#[test]
fn bad_urls_and_schemas_name_host_and_database_never_the_password() {
    let Some(db) = PgDb::create() else { return };
    let server = db.url.clone();
    let (host, name) = {
        let rest = server.split_once('@').unwrap().1;
        let (h, d) = rest.split_once('/').unwrap();
        (h.to_string(), d.to_string())
    };
    let with_user =
        |user: &str, database: &str| format!("postgres://{user}:s3cret@{host}/{database}");
    let mut cases: Vec<(String, i32, &str, String)> = vec![
        (
            "postgres://sm:s3cret@127.0.0.1:1/servicemaster".into(),
            1,
            "cannot reach",
            "'servicemaster' on 127.0.0.1:1".into(),
        ),
        (
            with_user("nosuchrole", &name),
            2,
            "refused the login",
            format!("'{name}' on {host}"),
        ),
        (
            with_user("postgres", "no_such_database"),
            2,
            "does not exist",
            format!("'no_such_database' on {host}"),
        ),
        (
            with_user("postgres", &name),
            2,
            "smsync db init",
            format!("'{name}' on {host}"),
        ),
    ];
    // A wrong password: scripts/pg.sh's cluster checks the password of one role.
    if password_role_exists(&server) {
        cases.push((
            with_user(PW_ROLE, &name),
            2,
            "refused the login",
            format!("'{name}' on {host}"),
        ));
        // The right password gets past the login (to the missing schema).
        let right = format!("postgres://{PW_ROLE}:{PW_SECRET}@{host}/{name}");
        let t = text(&smsync(&["--db", &right, "status"]));
        assert!(t.contains("smsync db init"), "{t}");
    } else {
        assert!(
            std::env::var("SMSYNC_REQUIRE_PG").is_err(),
            "the test server has no role '{PW_ROLE}': start it with scripts/pg.sh"
        );
        eprintln!("wrong-password case passed over: the server was not started by scripts/pg.sh");
    }
    for (url, code, says, names) in &cases {
        let o = smsync(&["--db", url, "status"]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(*code), "{url}: {t}");
        assert!(t.contains(says), "{url}: {t}");
        assert!(t.contains(names.as_str()), "{url}: {t}");
        assert!(!t.contains("s3cret"), "{url}: {t}");
    }
    // A database of a newer schema version.
    ok(smsync(&["--db", &db.url, "db", "init"]));
    psql(&db.url, "UPDATE smsync_schema SET version = 99");
    let url = with_user("postgres", &name);
    for args in [vec!["status"], vec!["db", "init"]] {
        let mut all = vec!["--db", url.as_str()];
        all.extend(args);
        let o = smsync(&all);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(
            t.contains("schema version 99, newer than this smsync"),
            "{t}"
        );
        assert!(t.contains(&format!("'{name}' on {host}")), "{t}");
        assert!(!t.contains("s3cret"), "{t}");
    }
}

/// Reads an exported Outlook CSV, applies `edit` to the rows, and returns the new bytes.
fn edit_csv(path: &Path, edit: &mut dyn FnMut(&csv::StringRecord, &mut Vec<String>)) -> Vec<u8> {
    let mut rd = csv::Reader::from_path(path).unwrap();
    let header = rd.headers().unwrap().clone();
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record(&header).unwrap();
    for r in rd.records() {
        let mut row: Vec<String> = r.unwrap().iter().map(str::to_string).collect();
        edit(&header, &mut row);
        out.write_record(&row).unwrap();
    }
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(out.into_inner().unwrap());
    bytes
}

/// Dana's contacts sheet with SM-U2's mobile phone set to `mobile`, marked `!Update`.
fn mobile_edit(drop: &Path, mobile: &str) -> Vec<u8> {
    let l = Layout::new(drop, DANA);
    edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        let col = |name: &str| h.iter().position(|c| c == name).unwrap();
        if row[col("User 1")] == "SM-U2" {
            row[col("Mobile Phone")] = mobile.into();
            row[col("Categories")].push_str(";!Update");
        }
    })
}

#[test]
fn a_connection_lost_mid_ingest_loses_nothing() {
    let Some(db) = PgDb::create() else { return };
    drop(sample(&db));
    let dir = tempfile::tempdir().unwrap();
    let drop_dir = dir.path().join("drop");
    let d = drop_dir.to_str().unwrap();
    ok(smsync(&[
        "--db",
        &db.url,
        "--drop",
        d,
        "export",
        "--profile",
        DANA,
    ]));
    let inbox = Layout::new(&drop_dir, DANA).inbox;
    let file = inbox.join("contacts.csv");
    fs::write(&file, mobile_edit(&drop_dir, "+1 312 555 0199")).unwrap();
    // The server ends the ingest's session in the middle of its batch: when the batch
    // records the file as ingested, after it changed the record.
    psql(
        &db.url,
        "CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$; \
         CREATE TRIGGER die BEFORE INSERT ON ingested FOR EACH ROW EXECUTE FUNCTION die()",
    );
    let mobile = || {
        psql(
            &db.url,
            "SELECT coalesce(mobile, '') FROM users WHERE id = 2",
        )
    };
    let before = mobile();
    let o = smsync(&["--db", &db.url, "--drop", d, "ingest", "--profile", DANA]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("connection"), "{t}");
    assert!(file.exists(), "the file stays in the inbox: {t}");
    assert_eq!(mobile(), before, "the batch rolled back");
    assert_eq!(psql(&db.url, "SELECT count(*) FROM ingested"), "0");
    psql(&db.url, "DROP TRIGGER die ON ingested");
    let o = smsync(&["--db", &db.url, "--drop", d, "ingest", "--profile", DANA]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!file.exists(), "the next run applied and moved it");
    assert_eq!(mobile(), "+1 312 555 0199");
}

/// The server refuses a value smsync lets through (a trigger stands for any rule of the
/// database smsync does not check first). A write goes out with the next statement
/// (pipelined), yet its error still undoes its own savepoint and nothing else, and outside
/// a savepoint the whole transaction.
#[test]
fn a_write_the_server_refuses_undoes_its_savepoint_and_nothing_else() {
    use smsync::store::Source;
    let Some(db) = PgDb::create() else { return };
    let mut store = sample(&db);
    psql(
        &db.url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.mobile = 'refused' THEN RAISE EXCEPTION 'mobile refused'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER refuse BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse()",
    );
    let (a, b, c) = (
        Key::new(Kind::User, 2),
        Key::new(Kind::User, 3),
        Key::new(Kind::User, 4),
    );
    let mobile = |store: &PgStore, m: &str| assignments(store, Kind::User, &[("mobile", m)], false);
    let (refused, for_b, for_c) = (
        mobile(&store, "refused"),
        mobile(&store, "+1 555 0102"),
        mobile(&store, "+1 555 0103"),
    );
    let mobile_of = |store: &PgStore, k: Key| store.get(k).unwrap().get("mobile").clone();
    let before = mobile_of(&store, a);
    let mut seen = None;
    store
        .write(&mut |w| {
            w.set_source(Some(Source::admin()));
            w.set(b, &for_b)?;
            seen = Some(w.savepoint(&mut |w| w.set(a, &refused).map(|_| ())));
            w.savepoint(&mut |w| w.set(c, &for_c).map(|_| ()))?;
            Ok(())
        })
        .unwrap();
    let err = seen.unwrap().expect_err("the server refused the value");
    assert!(err.to_string().contains("mobile refused"), "{err}");
    assert_eq!(mobile_of(&store, a), before);
    assert_eq!(mobile_of(&store, b), Value::Text("+1 555 0102".into()));
    assert_eq!(mobile_of(&store, c), Value::Text("+1 555 0103".into()));
    let journaled = psql(
        &db.url,
        "SELECT string_agg(item, ',' ORDER BY id) FROM journal WHERE field = 'mobile'",
    );
    assert_eq!(journaled, "SM-U3,SM-U4");
    // Outside a savepoint the refusal ends the transaction: the change before it goes too.
    let again = mobile(&store, "+1 555 0199");
    let err = store
        .write(&mut |w| {
            w.set(b, &again)?;
            w.set(a, &refused)?;
            Ok(())
        })
        .expect_err("the server refused the value");
    assert!(err.to_string().contains("mobile refused"), "{err}");
    assert_eq!(mobile_of(&store, b), Value::Text("+1 555 0102".into()));
    drop(store);

    // An ingest: the refused row is refused, the other row of the file applies.
    let dir = tempfile::tempdir().unwrap();
    let drop_dir = dir.path().join("drop");
    let d = drop_dir.to_str().unwrap();
    ok(smsync(&[
        "--db",
        &db.url,
        "--drop",
        d,
        "export",
        "--profile",
        DANA,
    ]));
    let l = Layout::new(&drop_dir, DANA);
    let sheet = edit_csv(&l.outlook.join("contacts.csv"), &mut |h, row| {
        let col = |name: &str| h.iter().position(|c| c == name).unwrap();
        let m = match row[col("User 1")].as_str() {
            "SM-U2" => "refused",
            "SM-U4" => "+1 555 0204",
            _ => return,
        };
        row[col("Mobile Phone")] = m.into();
        row[col("Categories")].push_str(";!Update");
    });
    fs::write(l.inbox.join("contacts.csv"), sheet).unwrap();
    let o = smsync(&["--db", &db.url, "--drop", d, "ingest", "--profile", DANA]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains("mobile refused"), "{t}");
    let mobiles = psql(
        &db.url,
        "SELECT string_agg(coalesce(mobile, ''), ',' ORDER BY id) FROM users WHERE id IN (2, 4)",
    );
    assert_eq!(mobiles, format!("{before},+1 555 0204"), "{t}");
}

#[test]
fn db_copy_fills_an_empty_database_and_both_engines_export_the_same_bytes() {
    let Some(db) = PgDb::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lite = dir.path().join("sm.db");
    let l = lite.to_str().unwrap();
    let drop_dir = dir.path().join("drop");
    let d = drop_dir.to_str().unwrap();
    ok(smsync(&["--db", l, "db", "init"]));
    ok(smsync(&["--db", l, "db", "seed", "--sample"]));
    ok(smsync(&["--db", l, "--drop", d, "export", "--all"]));
    // Journal, ingested files, runs, changes since the stamps, and settings to carry over.
    fs::write(
        Layout::new(&drop_dir, DANA).inbox.join("contacts.csv"),
        mobile_edit(&drop_dir, "+1 312 555 0123"),
    )
    .unwrap();
    ok(smsync(&[
        "--db",
        l,
        "--drop",
        d,
        "ingest",
        "--profile",
        DANA,
    ]));
    ok(smsync(&[
        "--db",
        l,
        "admin",
        "set",
        "SM-L2",
        "phone=+1 555 0100",
    ]));
    ok(smsync(&[
        "--db",
        l,
        "admin",
        "set",
        "SI-1003",
        "status=Closed",
    ]));
    ok(smsync(&[
        "--db",
        l,
        "admin",
        "set",
        "SM-E1",
        "csv_language=de",
    ]));

    let out = ok(smsync(&[
        "db", "copy", "--from", l, "--to", &db.url, "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let source = smsync::store::SqliteStore::open(&lite).unwrap();
    for table in [
        "clients",
        "locations",
        "users",
        "tech",
        "sis",
        "si_people",
        "employees",
        "export_state",
        "journal",
        "ingested",
        "output_stamps",
        "runs",
    ] {
        let want = smsync::store::sqlite::dump::count(&source, table).unwrap();
        assert_eq!(json["tables"][table], want, "{table}: {out}");
        assert_eq!(
            psql(&db.url, &format!("SELECT count(*) FROM {table}")),
            want.to_string()
        );
        if table != "ingested" {
            assert!(want > 0, "{table} holds something to copy");
        }
    }
    assert_eq!(json["clock"], source.clock().unwrap());
    drop(source);

    // A later export from either engine writes the same files.
    let copy = dir.path().join("drop2");
    let c = copy.to_str().unwrap();
    ok(Command::new("cp").args(["-a", d, c]).output().unwrap());
    ok(smsync(&[
        "--db",
        l,
        "--drop",
        d,
        "export",
        "--profile",
        DANA,
    ]));
    ok(smsync(&[
        "--db",
        &db.url,
        "--drop",
        c,
        "export",
        "--profile",
        DANA,
    ]));
    let outputs = |root: &Path| {
        let l = Layout::new(root, DANA);
        [l.contacts, l.tasks, l.outlook, l.vcards21]
            .iter()
            .map(|d| tree(d))
            .collect::<Vec<_>>()
    };
    let (a, b) = (outputs(&drop_dir), outputs(&copy));
    assert!(a.iter().map(Vec::len).sum::<usize>() > 50);
    let names = |t: &[Vec<(PathBuf, Vec<u8>)>]| -> Vec<PathBuf> {
        t.iter().flatten().map(|(p, _)| p.clone()).collect()
    };
    assert_eq!(names(&a), names(&b), "the two engines exported other files");
    let differ: Vec<&PathBuf> = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| &x.0)
        .collect();
    assert!(
        differ.is_empty(),
        "the two engines wrote other bytes: {differ:?}"
    );

    // SMSYNC_DB selects the engine as --db does, postgresql:// as postgres:// does.
    let o = Command::new(env!("CARGO_BIN_EXE_smsync"))
        .env(
            "SMSYNC_DB",
            db.url.replacen("postgres://", "postgresql://", 1),
        )
        .args(["admin", "show", "SM-E1"])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("csv_language") && text(&o).contains("de"),
        "{}",
        text(&o)
    );

    // Only into an empty database.
    let o = smsync(&["db", "copy", "--from", l, "--to", &db.url]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is not empty"), "{}", text(&o));
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(120),
            "{what}: not within 120 s"
        );
        thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Records, at every write of a profile's export state, ingested files or stamps, whether
/// the writing process (known by its application name) holds the profile's advisory lock
/// at that moment: the lock is what keeps machines apart, so every such write must be
/// made under it.
const LOCK_CHECKS: &str = r#"
CREATE TABLE lock_checks (profile TEXT, app TEXT, held BOOLEAN);
CREATE FUNCTION held(profile TEXT) RETURNS BOOLEAN LANGUAGE sql AS $$
  SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted
      AND ((l.classid::bigint << 32) | l.objid::bigint) =
          ('x' || substr(encode(sha256(convert_to('smsync profile:' || profile, 'UTF8')),
                                'hex'), 1, 16))::bit(64)::bigint
      AND a.application_name = current_setting('application_name'))
$$;
CREATE FUNCTION check_employee() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p TEXT;
BEGIN
  SELECT u.first_name || ' ' || u.last_name INTO p FROM employees e JOIN users u
    ON u.id = e.user_id WHERE e.id = NEW.employee_id;
  INSERT INTO lock_checks VALUES (p, current_setting('application_name'), held(p));
  RETURN NEW;
END $$;
CREATE FUNCTION check_ingested() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lock_checks VALUES (NEW.profile, current_setting('application_name'),
    held(NEW.profile));
  RETURN NEW;
END $$;
CREATE TRIGGER export_state_check BEFORE INSERT OR UPDATE ON export_state
  FOR EACH ROW EXECUTE FUNCTION check_employee();
CREATE TRIGGER output_stamps_check BEFORE INSERT OR UPDATE ON output_stamps
  FOR EACH ROW EXECUTE FUNCTION check_employee();
CREATE TRIGGER ingested_check BEFORE INSERT OR UPDATE ON ingested
  FOR EACH ROW EXECUTE FUNCTION check_ingested();
"#;

/// Two watchers standing for two file servers, each with its own drop folder and profile,
/// a manual `sync` from a third machine on the first one's folder, and admin processes
/// writing records, two of them moving one client's Main at once, all on one database.
#[test]
fn two_watchers_and_admins_on_one_database_lose_and_skip_nothing() {
    let Some(db) = PgDb::create() else { return };
    let marco = "Marco Rossi";
    drop(sample(&db));
    psql(&db.url, LOCK_CHECKS);
    let dir = tempfile::tempdir().unwrap();
    let drops = [dir.path().join("server-a"), dir.path().join("server-b")];
    let watch = |drop: &Path, profile: &str, log: &str| {
        let log = dir.path().join(log);
        let child = Command::new(env!("CARGO_BIN_EXE_smsync"))
            .env_remove("SMSYNC_DB")
            .args(["--db", &db.url, "--drop", drop.to_str().unwrap()])
            .args(["watch", "--profile", profile])
            .args(["--debounce-ms", "200", "--db-interval-ms", "100"])
            .stdout(std::process::Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Watch { child, log }
    };
    let a = watch(&drops[0], DANA, "a.log");
    let b = watch(&drops[1], marco, "b.log");
    let sheet = |i: usize, p: &str| Layout::new(&drops[i], p).outlook.join("contacts.csv");
    wait_until("the first exports", || {
        sheet(0, DANA).exists() && sheet(1, marco).exists()
    });

    // Edits from Outlook, one on each server.
    let edit = |i: usize, p: &str, user: &str, mobile: &str| {
        let bytes = edit_csv(&sheet(i, p), &mut |h, row| {
            let col = |name: &str| h.iter().position(|c| c == name).unwrap();
            if row[col("User 1")] == user {
                row[col("Mobile Phone")] = mobile.into();
                row[col("Categories")].push_str(";!Update");
            }
        });
        let inbox = Layout::new(&drops[i], p).inbox;
        fs::write(inbox.join("edit.csv.part"), bytes).unwrap();
        fs::rename(inbox.join("edit.csv.part"), inbox.join("edit.csv")).unwrap();
    };
    edit(0, DANA, "SM-U2", "+1 312 555 0102");
    edit(1, marco, "SM-U3", "+1 312 555 0103");

    // The admins, and a manual sync of Dana's folder from a third machine.
    let mains: Vec<String> = psql(
        &db.url,
        "SELECT string_agg('SM-L' || id, ' ' ORDER BY id) FROM locations WHERE client_id = 1",
    )
    .split(' ')
    .map(str::to_string)
    .collect();
    assert!(mains.len() >= 2, "client 1 has two locations: {mains:?}");
    let url = db.url.clone();
    let admins: Vec<_> = (0..2)
        .map(|n| {
            let (url, mains) = (url.clone(), mains.clone());
            thread::spawn(move || {
                for i in 0..8 {
                    let name = format!("company=Admin{n}-{i}");
                    ok(smsync(&["--db", &url, "admin", "add", "tech", &name]));
                    let l = &mains[(i + n) % 2];
                    ok(smsync(&["--db", &url, "admin", "set", l, "main=true"]));
                }
            })
        })
        .collect();
    let manual = {
        let (url, d) = (url.clone(), drops[0].to_str().unwrap().to_string());
        thread::spawn(move || {
            for _ in 0..4 {
                ok(smsync(&[
                    "--db",
                    &url,
                    "--drop",
                    &d,
                    "sync",
                    "--profile",
                    DANA,
                ]));
            }
        })
    };
    for t in admins {
        t.join().unwrap();
    }
    manual.join().unwrap();

    // No skipped change: every change reaches both profiles' files.
    let wanted: Vec<String> = (0..2)
        .flat_map(|n| (0..8).map(move |i| format!("Admin{n}-{i}")))
        .chain(["+1 312 555 0102".to_string(), "+1 312 555 0103".to_string()])
        .collect();
    let missing = |i: usize, p: &str| {
        let cards = vcards(&drops[i], p);
        wanted
            .iter()
            .filter(|w| !cards.contains(w.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };
    wait_until("every change in both servers' files", || {
        missing(0, DANA).is_empty() && missing(1, marco).is_empty()
    });
    let pids = [a.child.id(), b.child.id()];
    a.stop();
    b.stop();

    // No lost update: both edits and every admin change are in the database.
    assert_eq!(
        psql(
            &db.url,
            "SELECT mobile FROM users WHERE id IN (2, 3) ORDER BY id"
        ),
        "+1 312 555 0102\n+1 312 555 0103"
    );
    assert_eq!(
        psql(
            &db.url,
            "SELECT count(*) FROM tech WHERE company LIKE 'Admin%'"
        ),
        "16"
    );
    // One Main per client with locations.
    assert_eq!(
        psql(
            &db.url,
            "SELECT count(*) FROM (SELECT client_id FROM locations GROUP BY client_id \
             HAVING count(*) FILTER (WHERE is_main = 1) <> 1) x"
        ),
        "0"
    );
    // Each profile worked on by one smsync at a time: every write of its state was made
    // holding its lock, by watchers and the manual sync alike.
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM lock_checks WHERE NOT held"),
        "0",
        "{}",
        psql(&db.url, "SELECT * FROM lock_checks WHERE NOT held LIMIT 5")
    );
    assert_eq!(
        psql(&db.url, "SELECT count(DISTINCT profile) FROM lock_checks"),
        "2"
    );
    for pid in pids {
        let n = psql(
            &db.url,
            &format!("SELECT count(*) FROM lock_checks WHERE app LIKE 'smsync pid {pid} on %'"),
        );
        assert_ne!(n, "0", "watcher {pid} wrote under its lock");
    }
    let others = psql(
        &db.url,
        &format!(
            "SELECT count(DISTINCT app) FROM lock_checks WHERE app NOT LIKE 'smsync pid {} on %' \
             AND app NOT LIKE 'smsync pid {} on %'",
            pids[0], pids[1]
        ),
    );
    assert_ne!(others, "0", "the manual syncs wrote under the lock too");
}
