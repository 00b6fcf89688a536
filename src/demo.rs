//! `smsync demo`: builds the sample company in a folder of its own and runs the main job
//! end to end, printing each step, so a new user sees what smsync does in seconds.

use std::fs;
use std::path::Path;

use crate::admin;
use crate::error::{Error, Result};
use crate::model::{Key, Kind, Value};
use crate::seed;
use crate::store::{Lookup, SqliteStore, Store};

/// Marks a folder as made by the demo, so that a re-run may clear it.
const MARKER: &str = ".smsync-demo";

fn prepare(dir: &Path) -> Result<()> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let empty = entries.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(Error::invalid(format!(
                "{} is not empty and was not made by `smsync demo`; give an empty or new folder",
                dir.display()
            )));
        }
        for name in [
            "servicemaster.db",
            "servicemaster.db-wal",
            "servicemaster.db-shm",
        ] {
            let p = dir.join(name);
            if p.exists() {
                fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        let drop = dir.join("dropbox");
        if drop.exists() {
            fs::remove_dir_all(&drop).map_err(|e| Error::io(&drop, e))?;
        }
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    fs::write(dir.join(MARKER), "made by smsync demo; safe to delete\n")
        .map_err(|e| Error::io(dir.join(MARKER), e))
}

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

pub fn run(dir: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    prepare(dir)?;
    let db = dir.join("servicemaster.db");

    step(1, "create the Service Master database");
    let (mut store, _, version) = SqliteStore::create(&db)?;
    println!("{} at schema version {version}", db.display());

    step(2, "seed the sample company");
    let s = seed::sample(&mut store)?;
    println!(
        "{} clients, {} locations, {} users, {} tech entries, {} SIs, {} employees who sync",
        s.clients, s.locations, s.users, s.tech, s.sis, s.employees
    );
    store.for_each(Kind::Client, &mut |r| {
        println!("  {}  {}", r.key, admin::label(&r));
        Ok(())
    })?;

    step(3, "profiles and what each would sync");
    let profiles = store.profiles()?;
    for p in &profiles {
        let c = store.sync_counts(p)?;
        println!(
            "  '{}': {} contacts and {} tasks to export",
            p.name, c.contacts, c.tasks
        );
    }

    step(
        4,
        "deactivate a client: its users become inactive, its contacts leave Outlook",
    );
    let client = store
        .client_by_name("Blue Harbor Dental")?
        .ok_or_else(|| Error::Other("sample client missing".into()))?;
    let active = crate::fields::get(Kind::Client, "active").expect("field");
    store.set(client, &[(active, Value::Bool(false))])?;
    let mut inactive_users = 0;
    store.for_each(Kind::User, &mut |r| {
        if r.get("client") == &Value::Ref(client) && r.get("active") == &Value::Bool(false) {
            inactive_users += 1;
        }
        Ok(())
    })?;
    println!("  {client} inactive; {inactive_users} of its client users made inactive");
    if let Some(p) = profiles.first() {
        let c = store.sync_counts(p)?;
        println!("  '{}' now syncs {} contacts", p.name, c.contacts);
    }

    step(5, "a profile name must match an employee exactly");
    match store.profile("dana whitfield") {
        Err(e) => println!("  'dana whitfield': {e}"),
        Ok(p) => println!("  unexpectedly matched {}", p.employee),
    }

    step(6, "the Outlook field mapping (smsync fields)");
    let si = store.get(Key::new(Kind::Si, 1001))?;
    for (f, v) in si.fields().filter(|(f, _)| f.csv.is_some()) {
        println!(
            "  {:<12} -> CSV {:<20} {:<20} {}",
            f.name,
            f.csv.unwrap_or("-"),
            f.prop.unwrap_or("-"),
            v
        );
    }

    println!(
        "\ndone in {:.2} s; the database is {} (try: smsync --db {} status)",
        started.elapsed().as_secs_f64(),
        db.display(),
        db.display()
    );
    Ok(())
}
