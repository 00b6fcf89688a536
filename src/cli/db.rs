//! `smsync db init` and `smsync db seed`: creating, migrating and filling the database.

use std::io::IsTerminal;
use std::path::Path;

use serde_json::json;

use super::print::print_json;
use super::{SeedArgs, open};
use crate::error::Result;
use crate::seed;
use crate::store::SqliteStore;

/// `smsync db init`: creates the database or migrates it to this version's schema.
pub(super) fn init(db: &Path) -> Result<()> {
    let (_, before, after) = SqliteStore::create(&crate::store::sqlite_path(db)?)?;
    if before == after {
        println!("{}: schema version {after}, up to date", db.display());
    } else {
        println!("{}: schema version {before} -> {after}", db.display());
    }
    Ok(())
}

/// `smsync db seed`: the sample company, or `--scale N` synthetic contacts.
pub(super) fn seed(db: &Path, args: &SeedArgs) -> Result<()> {
    let mut store = open(db)?;
    let started = std::time::Instant::now();
    let seeded = if args.sample {
        seed::sample(&mut store)?
    } else {
        let n = args.scale.expect("clap requires --sample or --scale");
        seed::scale(
            &mut store,
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
