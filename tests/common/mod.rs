//! Helpers shared by the integration tests: the storage engines the contract tests run on,
//! a real SQLite database in a temp dir, and record edits written as `field=value` pairs
//! the way `smsync admin` takes them (on any engine, through `&mut dyn Store`).
#![allow(dead_code)]

pub mod pg;
pub mod site;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use smsync::admin::parse_assignments;
use smsync::model::{Key, Kind, Record};
use smsync::store::{Outcome, PgStore, SqliteStore, Store};
use tempfile::TempDir;

/// A storage engine the contract tests (tests/store.rs) run on.
pub struct Engine {
    pub name: &'static str,
    /// A new, empty database whose files (if any) live in `dir` (a [`Place`]'s).
    pub create: fn(&Path) -> Box<dyn Store>,
    /// The database that `create` made for `dir`, opened again.
    pub reopen: fn(&Path) -> Box<dyn Store>,
    /// Whether the engine can run here (PostgreSQL needs a server, see `pg::server`).
    pub available: fn() -> bool,
}

/// Where one test's database lives: a temp dir, and for PostgreSQL a database of its own
/// (its URL in the file `pg-url` of the dir), dropped with this.
pub struct Place {
    pub dir: TempDir,
    pub pg: Option<pg::PgDb>,
}

impl Place {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Engine {
    /// A place for a database of this engine, not created yet.
    pub fn place(&self) -> Place {
        let dir = tempfile::tempdir().expect("temp dir");
        let pg = if self.name == "postgres" {
            let db = pg::PgDb::create().expect("a PostgreSQL server (SMSYNC_TEST_PG)");
            fs::write(dir.path().join("pg-url"), &db.url).expect("write pg-url");
            Some(db)
        } else {
            None
        };
        Place { dir, pg }
    }

    /// A new, empty database of this engine.
    pub fn new_store(&self) -> (Place, Box<dyn Store>) {
        let place = self.place();
        let store = (self.create)(place.path());
        (place, store)
    }

    /// A database of this engine holding the sample company.
    pub fn sample_store(&self) -> (Place, Box<dyn Store>) {
        let (dir, mut store) = self.new_store();
        smsync::seed::sample(store.as_mut()).expect("sample");
        (dir, store)
    }
}

/// The embedded engine: one SQLite file in the directory.
pub const SQLITE: Engine = Engine {
    name: "sqlite",
    create: |dir| {
        let (store, _, _) = SqliteStore::create(&dir.join("sm.db")).expect("create db");
        Box::new(store)
    },
    reopen: |dir| Box::new(SqliteStore::open(&dir.join("sm.db")).expect("open db")),
    available: || true,
};

/// The server engine: a database of its own on the server `SMSYNC_TEST_PG` names.
pub const POSTGRES: Engine = Engine {
    name: "postgres",
    create: |dir| {
        let (store, _, _) = PgStore::create(&pg_url(dir)).expect("create db");
        Box::new(store)
    },
    reopen: |dir| Box::new(PgStore::open(&pg_url(dir)).expect("open db")),
    available: || pg::server().is_some(),
};

/// The URL of the PostgreSQL database of a [`Place`].
pub fn pg_url(dir: &Path) -> String {
    fs::read_to_string(dir.join("pg-url")).expect("a PostgreSQL place")
}

pub fn new_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _, _) = SqliteStore::create(&dir.path().join("sm.db")).expect("create db");
    (dir, store)
}

pub fn sample_store() -> (TempDir, SqliteStore) {
    let (dir, mut store) = new_store();
    smsync::seed::sample(&mut store).expect("sample");
    (dir, store)
}

fn args(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

pub fn add(store: &mut dyn Store, kind: Kind, pairs: &[(&str, &str)]) -> Key {
    try_add(store, kind, pairs).unwrap_or_else(|e| panic!("add {kind} {pairs:?}: {e}"))
}

pub fn try_add(
    store: &mut dyn Store,
    kind: Kind,
    pairs: &[(&str, &str)],
) -> smsync::error::Result<Key> {
    let a = parse_assignments(store, kind, &args(pairs), true)?;
    store.add(kind, &a)
}

pub fn set(store: &mut dyn Store, key: Key, pairs: &[(&str, &str)]) -> Outcome {
    try_set(store, key, pairs).unwrap_or_else(|e| panic!("set {key} {pairs:?}: {e}"))
}

pub fn try_set(
    store: &mut dyn Store,
    key: Key,
    pairs: &[(&str, &str)],
) -> smsync::error::Result<Outcome> {
    let a = parse_assignments(store, key.kind, &args(pairs), false)?;
    store.set(key, &a)
}

pub fn all(store: &dyn Store, kind: Kind) -> Vec<Record> {
    let mut v = Vec::new();
    store
        .for_each(kind, &mut |r| {
            v.push(r);
            Ok(())
        })
        .expect("for_each");
    v
}

/// A client with `n` locations (the first one added is Main) and `users` client users.
pub fn client_with(
    store: &mut dyn Store,
    name: &str,
    n: usize,
    users: usize,
) -> (Key, Vec<Key>, Vec<Key>) {
    let c = add(store, Kind::Client, &[("name", name)]);
    let cs = c.to_string();
    let locs = (0..n)
        .map(|i| {
            add(
                store,
                Kind::Location,
                &[("client", &cs), ("name", &format!("Site {i}"))],
            )
        })
        .collect();
    let us = (0..users)
        .map(|i| {
            add(
                store,
                Kind::User,
                &[
                    ("kind", "client"),
                    ("client", &cs),
                    ("first_name", "User"),
                    ("last_name", &format!("{name} {i}")),
                ],
            )
        })
        .collect();
    (c, locs, us)
}

/// Makes a folder unwritable, even for root (immutable attribute), until dropped.
pub struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    pub fn new(dir: &std::path::Path) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt;
        if unsafe { libc::geteuid() } == 0 {
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "chattr +i failed: this test needs a file system with attributes"
            );
        } else {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        ReadOnly(dir.to_path_buf())
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

/// A `smsync watch` child process of a test, logging to a file; killed when dropped.
pub struct Watch {
    pub child: Child,
    pub log: PathBuf,
}

impl Watch {
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status and how long it took.
    pub fn stop(mut self) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s, t.elapsed());
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("watch did not stop on SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
