//! `smsync db init`, `smsync db seed` and `smsync db copy`: creating, migrating, filling
//! and copying the database.

use std::io::IsTerminal;
use std::path::Path;

use serde_json::json;

use super::print::print_json;
use super::{CopyArgs, SeedArgs, open};
use crate::error::{Error, Result};
use crate::seed;
use crate::store::shown;

/// `smsync db init`: creates the database or migrates it to this version's schema.
pub(super) fn init(db: &Path) -> Result<()> {
    let (_, before, after) = crate::store::create(db)?;
    if before == after {
        println!("{}: schema version {after}, up to date", shown(db));
    } else {
        println!("{}: schema version {before} -> {after}", shown(db));
    }
    Ok(())
}

/// `smsync db copy --from SQLITE --to postgres://…`: the whole database into an empty
/// PostgreSQL database, with the row counts of both compared.
pub(super) fn copy(args: &CopyArgs) -> Result<()> {
    let from = crate::store::open_sqlite(&args.from)?;
    let started = std::time::Instant::now();
    let report = crate::store::postgres::copy_from_sqlite(&from, &args.to)?;
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let tables: serde_json::Map<String, serde_json::Value> = report
            .tables
            .iter()
            .map(|(t, n)| (t.clone(), json!(n)))
            .collect();
        return print_json(&json!({
            "from": shown(&args.from),
            "to": shown(&args.to),
            "tables": tables,
            "clock": report.clock,
            "seconds": secs,
        }));
    }
    println!(
        "copied {} into {} in {secs:.1} s; rows in both:",
        shown(&args.from),
        shown(&args.to)
    );
    for (t, n) in &report.tables {
        println!("  {t:<14} {n}");
    }
    Ok(())
}

/// `smsync db seed`: the sample company, or `--scale N` synthetic contacts.
pub(super) fn seed(db: &Path, args: &SeedArgs) -> Result<()> {
    let mut store = open(db)?;
    let started = std::time::Instant::now();
    let seeded = if args.sample {
        seed::sample(store.as_mut())?
    } else {
        let n = args.scale.expect("clap requires --sample or --scale");
        seed::scale(
            store.as_mut(),
            n,
            args.sis,
            args.seed,
            std::io::stderr().is_terminal(),
        )?
    };
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        print_json(&json!({"seeded": seeded, "contacts": seeded.contacts(), "seconds": secs}))
    } else {
        println!(
            "seeded {} clients, {} locations, {} users, {} tech entries, {} SIs, \
             {} employees ({} contacts) in {secs:.1} s",
            seeded.clients,
            seeded.locations,
            seeded.users,
            seeded.tech,
            seeded.sis,
            seeded.employees,
            seeded.contacts()
        );
        Ok(())
    }
}

/// Says in plain words what a database error means for the database `db` names, with the
/// fix: `--db` naming a folder, and a database in a folder this user cannot write (SQLite's
/// WAL mode creates `-shm` and `-wal` files beside the database even to read it). Other
/// errors pass unchanged.
pub(super) fn explain(db: &Path, e: Error) -> Error {
    if !matches!(e, Error::Db(_) | Error::Io { .. }) {
        return e;
    }
    let Ok(path) = crate::store::sqlite_path(db) else {
        return e;
    };
    if path.is_dir() {
        return Error::invalid(format!(
            "--db {} is a folder, not a database file; name the file inside it, e.g. --db {}",
            path.display(),
            path.join("servicemaster.db").display()
        ));
    }
    if !e.to_string().contains("readonly database") {
        return e;
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let why = if writable(&folder) {
        format!(
            "the file {} is read-only for this user; make it writable (chmod u+w, or run as its \
             owner)",
            path.display()
        )
    } else {
        format!(
            "its folder {} is read-only for this user, and SQLite's WAL mode must create \
             {name}-shm and {name}-wal beside the database even to read it; let this user \
             write to {} (or move the database to a folder it can write)",
            folder.display(),
            folder.display()
        )
    };
    Error::Db(format!(
        "{} cannot be opened for writing: {why}",
        path.display()
    ))
}

/// Whether this process may create files in `dir`.
fn writable(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: a valid NUL-terminated path; access() only reads it.
        unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(dir).is_ok_and(|m| !m.permissions().readonly())
    }
}
