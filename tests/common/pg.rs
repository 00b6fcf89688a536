//! A PostgreSQL server for the tests: `SMSYNC_TEST_PG` names a server (a URL whose database is
//! one we may connect to in order to create others, e.g. `postgres://postgres@127.0.0.1:PORT/postgres`,
//! as `scripts/pg.sh start` prints it). Each test gets a database of its own, dropped at the end.
//!
//! When `SMSYNC_TEST_PG` is unset the PostgreSQL variants of the tests say so and pass over
//! their body, unless `SMSYNC_REQUIRE_PG=1` (set by `scripts/test.sh`, so CI never skips them),
//! in which case they fail.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The server named by `SMSYNC_TEST_PG`, or None (with a note on stderr) when the PostgreSQL
/// tests are not wanted. Panics when they are required (`SMSYNC_REQUIRE_PG=1`) but unset.
pub fn server() -> Option<String> {
    match std::env::var("SMSYNC_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("SMSYNC_REQUIRE_PG").is_ok_and(|v| v == "1") {
                panic!(
                    "SMSYNC_REQUIRE_PG=1 but SMSYNC_TEST_PG is unset: start a server with \
                     `scripts/pg.sh start DIR` and export the URL it prints"
                );
            }
            eprintln!("PostgreSQL test passed over: SMSYNC_TEST_PG is unset (see scripts/pg.sh)");
            None
        }
    }
}

/// A database of its own on the test server, dropped (with its connections) when this drops.
pub struct PgDb {
    /// The URL smsync takes (`--db`): the server URL with this database's name.
    pub url: String,
    server: String,
    name: String,
}

impl PgDb {
    /// A new, empty database, or None when no server is configured (see `server`).
    pub fn create() -> Option<PgDb> {
        let server = server()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "smsync_t_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        psql(&server, &format!("CREATE DATABASE {name}"));
        let url = with_database(&server, &name);
        Some(PgDb { url, server, name })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Best effort: a failing drop must not hide the test's own failure.
        let _ = Command::new(psql_bin())
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &self.server, "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// `server` with its database name replaced by `name`.
pub fn with_database(server: &str, name: &str) -> String {
    let (head, query) = match server.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (server, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs one SQL command on `url` with psql; panics with psql's message when it fails.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new(psql_bin())
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("run psql (Debian's postgresql-client)");
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn psql_bin() -> String {
    if let Ok(found) = which("psql") {
        return found;
    }
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .filter(|p| p.exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "psql".into())
}

fn which(name: &str) -> Result<String, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or(())
}
