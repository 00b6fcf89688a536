//! A site for the integration tests, on either engine: a temp dir that is the working
//! directory of every `smsync` run (so the drop folder is its default, `dropbox/`), and a
//! database — an SQLite file in that dir (`servicemaster.db`, the default `--db`) or a
//! PostgreSQL database of the test's own ([`PgDb`]). It gives the `--db` argument, the store
//! opened through `smsync::store::open`, the CLI runner, and a copy of the whole site.
//!
//! [`both!`](crate::both) runs a test `fn name(site: Site)` once per engine, as
//! `name::sqlite` and `name::postgres`.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use smsync::store::{SqliteStore, Store};
use tempfile::TempDir;

use super::pg::{self, PgDb};

/// Runs each named test function (`fn name(site: Site)`) on both engines: a module `name`
/// with the tests `sqlite` and `postgres`. The PostgreSQL one passes over its body with a
/// note when no server is configured (see `common::pg::server`).
#[macro_export]
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::common::site::Site::sqlite())
            }
            #[test]
            fn postgres() {
                if let Some(site) = $crate::common::site::Site::postgres() {
                    super::$name(site)
                }
            }
        }
    )+};
}

/// The database of a site.
pub enum Db {
    /// An SQLite file (created by [`Site::create`] or `smsync db init`).
    Sqlite(PathBuf),
    /// A PostgreSQL database of this site's own, dropped with it.
    Postgres(PgDb),
}

/// A temp dir (the working directory of every `smsync` run) and a database.
pub struct Site {
    pub db: Db,
    /// Run every smsync command as this unprivileged uid (for permission tests as root).
    pub as_user: Option<u32>,
    // Declared last, so it is dropped last: after the database.
    dir: TempDir,
}

const BIN: &str = env!("CARGO_BIN_EXE_smsync");

impl Site {
    /// A site whose database is `servicemaster.db` in its dir (not created yet).
    pub fn sqlite() -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        Site {
            db: Db::Sqlite(dir.path().join("servicemaster.db")),
            as_user: None,
            dir,
        }
    }

    /// A site whose database is a new, empty PostgreSQL database (no schema yet), or None
    /// when no server is configured.
    pub fn postgres() -> Option<Site> {
        let db = PgDb::create()?;
        Some(Site {
            db: Db::Postgres(db),
            as_user: None,
            dir: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// `sqlite` or `postgres`, for messages.
    pub fn engine(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// The site's dir: the working directory of its runs.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The drop folder `smsync` uses by default in the site's dir.
    pub fn dropbox(&self) -> PathBuf {
        self.path().join("dropbox")
    }

    /// What `--db` (or `SMSYNC_DB`) takes for this site's database.
    pub fn db_arg(&self) -> OsString {
        match &self.db {
            Db::Sqlite(path) => path.clone().into_os_string(),
            Db::Postgres(db) => db.url.clone().into(),
        }
    }

    /// The database, opened the way smsync opens it (`smsync::store::open`).
    pub fn open(&self) -> Box<dyn Store> {
        smsync::store::open(self.db_arg())
            .unwrap_or_else(|e| panic!("open the {} database: {e}", self.engine()))
    }

    /// Creates the database's schema (`smsync::store::create`, as `db init` does); the
    /// store, open.
    pub fn create(&self) -> Box<dyn Store> {
        let (store, _, _) = smsync::store::create(self.db_arg())
            .unwrap_or_else(|e| panic!("create the {} database: {e}", self.engine()));
        store
    }

    /// Creates the database and seeds the sample company; the store, open.
    pub fn sample(&self) -> Box<dyn Store> {
        let mut store = self.create();
        smsync::seed::sample(store.as_mut()).expect("sample");
        store
    }

    /// A `smsync` command run in the site's dir on its database, with no input and its
    /// output discarded (set `stdout`/`stderr` to see it; [`Site::run`] captures both).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = match self.as_user {
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        c.current_dir(self.path())
            .env_remove("SMSYNC_DROP")
            .env_remove("SMSYNC_DATE_FORMAT");
        match &self.db {
            // The default database name in the working directory, as a site runs it.
            Db::Sqlite(_) => c.env_remove("SMSYNC_DB"),
            Db::Postgres(db) => c.env("SMSYNC_DB", &db.url),
        };
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Runs a command; its exit status and output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run smsync")
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "smsync {args:?} on {}: exit {:?}\n{}{}",
            self.engine(),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must succeed; its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("smsync {args:?}: {e}: {out}"))
    }

    /// A copy of the whole site: its files and its database (as last committed; no store
    /// or process may be writing it meanwhile).
    pub fn copy(&self) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = match &self.db {
            Db::Sqlite(path) => {
                // Folds the WAL into the file, so the file alone holds every commit.
                let s = SqliteStore::open(path).expect("open db");
                s.connection()
                    .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                    .expect("checkpoint");
                drop(s);
                let to = dir.path().join(path.file_name().unwrap());
                fs::copy(path, &to).expect("copy db");
                Db::Sqlite(to)
            }
            Db::Postgres(from) => Db::Postgres(pg_copy(from)),
        };
        let skip = match &self.db {
            Db::Sqlite(path) => Some(path.file_name().unwrap().to_os_string()),
            Db::Postgres(_) => None,
        };
        copy_tree(self.path(), dir.path(), skip.as_deref());
        Site {
            db,
            as_user: self.as_user,
            dir,
        }
    }
}

/// A new database of the test server holding what `from` holds (`CREATE DATABASE …
/// TEMPLATE`, which needs `from` to have no connection open).
fn pg_copy(from: &PgDb) -> PgDb {
    let server = pg::server().expect("a server: the site is on one");
    let to = PgDb::create().expect("a server");
    let (src, dst) = (db_name(&from.url), db_name(&to.url));
    pg::psql(&server, &format!("DROP DATABASE {dst}"));
    // The server waits a few seconds for connections closed just now to leave `from`.
    pg::psql(&server, &format!("CREATE DATABASE {dst} TEMPLATE {src}"));
    to
}

/// The database name of a `postgres://…/NAME` URL.
fn db_name(url: &str) -> &str {
    let head = url.split(['?', '#']).next().unwrap_or(url);
    head.rsplit('/').next().unwrap_or(head)
}

/// Copies the files below `from` into `to`, but `skip` (a name at the top level) and an
/// SQLite database's `-wal` and `-shm` files beside it.
fn copy_tree(from: &Path, to: &Path, skip: Option<&std::ffi::OsStr>) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if let Some(skip) = skip {
            let mut wal = skip.to_os_string();
            wal.push("-wal");
            let mut shm = skip.to_os_string();
            shm.push("-shm");
            if name == skip || name == wal || name == shm {
                continue;
            }
        }
        let t = to.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t, None);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}
