//! `smsync export`, `sync`, `reset` and `status`: writing a profile's changes to its drop
//! folder (after an ingest, for `sync`), clearing its stamps, and showing where each
//! profile stands.

use std::path::Path;

use serde_json::json;

use super::print::{exit_with, print_json};
use super::{ExportArgs, SyncArgs, open, select_profiles};
use crate::codec::text::DateFormat;
use crate::error::Result;
use crate::model::Kind;
use crate::store::{Profile, SqliteStore, Store, SyncCounts};
use crate::summary::{print_export, print_ingest};

/// `smsync export`: one report per profile, as text or one JSON object.
pub(super) fn export(db: &Path, drop: &Path, date_format: &str, args: &ExportArgs) -> Result<()> {
    let mut store = open(db)?;
    let opts = crate::export::Options {
        vcard: crate::codec::vcard::Version::parse(&args.vcard_version).expect("clap checked"),
        encoding: crate::codec::outlook_csv::Encoding::parse(&args.csv_encoding)
            .expect("clap checked"),
        dates: DateFormat::parse(date_format)?,
        full_sheet_limit: args.full_csv_limit,
        outputs: crate::export::Outputs::parse(&args.outputs)?,
        csv_safe: args.csv_safe,
        keep_changes: std::time::Duration::from_secs(args.keep_changes_days * 86_400),
        ..Default::default()
    };
    let profiles = select_profiles(&store, &args.profiles)?;
    let mut reports = Vec::new();
    for p in &profiles {
        let r = crate::report::export_recorded(&mut store, p, drop, &opts)?;
        if !args.json {
            print_export(&r);
        }
        reports.push(r);
    }
    if args.json {
        return print_json(&json!({ "profiles": reports }));
    }
    Ok(())
}

/// `smsync sync`: ingest, then export, profile by profile; the exit code is the worst
/// ingest's.
pub(super) fn sync(db: &Path, drop: &Path, date_format: &str, args: &SyncArgs) -> Result<()> {
    let mut store = open(db)?;
    let dates = DateFormat::parse(date_format)?;
    let profiles = select_profiles(&store, &args.profiles)?;
    let mut code = 0;
    let mut out = Vec::new();
    for p in &profiles {
        let iopts = crate::ingest::Options {
            dates: dates.clone(),
            pst_checker: std::env::current_exe().ok(),
            ..Default::default()
        };
        let ing = crate::report::ingest_recorded(&mut store, p, drop, &[], &iopts)?;
        code = code.max(ing.exit_code());
        let p = store.profile(&p.name)?;
        let eopts = crate::export::Options {
            dates: dates.clone(),
            ..Default::default()
        };
        let exp = crate::report::export_recorded(&mut store, &p, drop, &eopts)?;
        if !args.json {
            print_ingest(&ing);
            print_export(&exp);
        }
        out.push(json!({"ingest": ing, "export": exp}));
    }
    if args.json {
        print_json(&json!({ "profiles": out }))?;
    }
    exit_with(code)
}

/// `smsync reset`: the profile's next export rewrites everything.
pub(super) fn reset(db: &Path, profile: &str) -> Result<()> {
    let mut store = open(db)?;
    let p = store.profile(profile)?;
    store.reset(&p)?;
    println!(
        "reset the sync stamps of '{}' ({}): the next export rewrites everything",
        p.name, p.employee
    );
    Ok(())
}

/// `smsync status`: record counts, then each profile's stamps and pending changes.
pub(super) fn status(db: &Path, drop: &Path, json: bool) -> Result<()> {
    let store = open(db)?;
    let mut profiles = Vec::new();
    for p in store.profiles()? {
        let counts = store.sync_counts(&p)?;
        profiles.push((p, counts));
    }
    if json {
        status_json(&store, db, drop, &profiles)
    } else {
        status_text(&store, db, &profiles)?;
        super::report::attention_text(&store, db, drop)
    }
}

fn status_json(
    store: &SqliteStore,
    db: &Path,
    drop: &Path,
    profiles: &[(Profile, SyncCounts)],
) -> Result<()> {
    let list: Vec<_> = profiles
        .iter()
        .map(|(p, c)| {
            json!({
                "profile": p.name,
                "employee": p.employee,
                "user": p.user,
                "contacts_stamp": p.contacts_stamp.map(crate::clock::format_micros),
                "tasks_stamp": p.tasks_stamp.map(crate::clock::format_micros),
                "drop": drop.join(&p.name),
                "counts": c,
            })
        })
        .collect();
    let mut records = serde_json::Map::new();
    for k in Kind::ALL {
        records.insert(k.name().into(), store.count(k)?.into());
    }
    print_json(&json!({
        "database": db,
        "records": records,
        "profiles": list,
        "attention": super::report::attention_json(store, db, drop)?,
    }))
}

fn status_text(store: &SqliteStore, db: &Path, profiles: &[(Profile, SyncCounts)]) -> Result<()> {
    println!("database {}", db.display());
    let counts: Vec<String> = Kind::ALL
        .iter()
        .map(|&k| Ok(format!("{} {}", store.count(k)?, k.name())))
        .collect::<Result<_>>()?;
    println!("records: {}", counts.join(", "));
    if profiles.is_empty() {
        println!("no profiles: add one with `smsync admin add employee user=SM-U<id>`");
    }
    for (p, c) in profiles {
        let stamp = |s: Option<i64>| {
            s.map(crate::clock::format_micros)
                .unwrap_or_else(|| "never (full export next)".into())
        };
        println!("profile '{}' ({}, user {})", p.name, p.employee, p.user);
        println!(
            "  contacts: {} synced, {} changed since {}",
            c.contacts,
            c.contacts_pending,
            stamp(p.contacts_stamp)
        );
        println!(
            "  tasks:    {} synced, {} changed since {}",
            c.tasks,
            c.tasks_pending,
            stamp(p.tasks_stamp)
        );
    }
    Ok(())
}
