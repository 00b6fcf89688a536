//! `smsync admin add|set|show|list`: Service Master records from the command line. The
//! parsing of `field=value` pairs and the labels live in [`crate::admin`].

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::print::print_json;
use super::{AdminCommand, open};
use crate::admin;
use crate::error::{Error, Result};
use crate::fields;
use crate::model::{Key, Kind};
use crate::store::Store;

/// Opens the database, then runs one `admin` subcommand on it.
pub(super) fn run(db: &Path, cmd: AdminCommand) -> Result<()> {
    let mut store = open(db)?;
    match cmd {
        AdminCommand::Add { kind, values, json } => add(store.as_mut(), &kind, &values, json),
        AdminCommand::Set { key, values, json } => set(store.as_mut(), &key, &values, json),
        AdminCommand::Show { key, json } => show(store.as_ref(), &key, json),
        AdminCommand::List { kind, json } => list(store.as_ref(), &kind, json),
    }
}

/// `admin add KIND field=value...`
fn add(store: &mut dyn Store, kind: &str, values: &[String], json: bool) -> Result<()> {
    let kind: Kind = kind.parse()?;
    let assignments = admin::parse_assignments(store, kind, values, true)?;
    let key = store.add(kind, &assignments)?;
    let rec = store.get(key)?;
    if json {
        return print_json(&rec.to_json());
    }
    println!("added {key}  {}", admin::label(&rec));
    Ok(())
}

/// `admin set KEY field=value...`
fn set(store: &mut dyn Store, key: &str, values: &[String], json: bool) -> Result<()> {
    let key: Key = key.parse()?;
    if values.is_empty() {
        return Err(Error::invalid(format!(
            "nothing to set; give field=value pairs, valid fields for {}: {}",
            key.kind,
            fields::settable_names(key.kind, false).join(", ")
        )));
    }
    let assignments = admin::parse_assignments(store, key.kind, values, false)?;
    // Check the key before reporting field errors about it.
    store.get(key)?;
    let outcome = store.set(key, &assignments)?;
    let rec = store.get(key)?;
    if json {
        return print_json(&json!({"outcome": outcome, "record": rec.to_json()}));
    }
    let verb = match outcome {
        crate::store::Outcome::Unchanged => "unchanged",
        _ => "changed",
    };
    println!("{verb} {key}  {}", admin::label(&rec));
    Ok(())
}

/// `admin show KEY`
fn show(store: &dyn Store, key: &str, json: bool) -> Result<()> {
    let key: Key = key.parse()?;
    let rec = store.get(key)?;
    if json {
        return print_json(&rec.to_json());
    }
    print!("{}", admin::show(&rec));
    Ok(())
}

/// `admin list KIND`: streamed, so memory stays flat for any number of records.
fn list(store: &dyn Store, kind: &str, json: bool) -> Result<()> {
    let kind: Kind = kind.parse()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let io = |e| Error::io("stdout", e);
    if json {
        // A JSON array written as it streams, so memory stays flat.
        write!(out, "[").map_err(io)?;
        let mut first = true;
        store.for_each(kind, &mut |r| {
            let sep = if first { "\n  " } else { ",\n  " };
            first = false;
            write!(out, "{sep}{}", r.to_json()).map_err(io)
        })?;
        writeln!(out, "{}]", if first { "" } else { "\n" }).map_err(io)?;
    } else {
        store.for_each(kind, &mut |r| {
            writeln!(out, "{}\t{}", r.key, admin::label(&r)).map_err(io)
        })?;
    }
    out.flush().map_err(io)
}
