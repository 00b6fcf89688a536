//! `smsync ingest`, `inspect`, `journal` and the hidden `check-pst`: applying dropped
//! files, showing what a file holds without applying it, and the journal of changes.

use std::path::Path;

use serde_json::json;

use super::print::{exit_with, print_json};
use super::{IngestArgs, open};
use crate::codec::item::Incoming;
use crate::codec::text::DateFormat;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::summary::print_ingest;

/// `smsync ingest`: the exit code says whether items were refused.
pub(super) fn ingest(db: &Path, drop: &Path, date_format: &str, args: &IngestArgs) -> Result<()> {
    let mut store = open(db)?;
    let profile = store.profile(&args.profile)?;
    let opts = crate::ingest::Options {
        dates: DateFormat::parse(date_format)?,
        dry_run: args.dry_run,
        max_size: args.max_size_mb * 1024 * 1024,
        pst_checker: std::env::current_exe().ok(),
        ..Default::default()
    };
    let r = crate::report::ingest_recorded(&mut store, &profile, drop, &args.files, &opts)?;
    if args.json {
        print_json(&r)?;
    } else {
        print_ingest(&r);
    }
    exit_with(r.exit_code())
}

/// `smsync check-pst`: reads a PST file; only a crash or a hang is the caller's news.
pub(super) fn check_pst(file: &Path) -> Result<()> {
    // A reader error is a clean refusal; only a crash or a hang is the caller's news.
    let _ = crate::codec::pst::read(file);
    Ok(())
}

/// `smsync journal`: the newest `limit` entries, printed oldest first.
pub(super) fn journal(db: &Path, profile: Option<&str>, limit: usize, json: bool) -> Result<()> {
    let store = open(db)?;
    let mut rows = Vec::new();
    store.journal_entries(profile, limit, &mut |e| {
        rows.push(e);
        Ok(())
    })?;
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).expect("entry");
                v["at"] = crate::clock::format_micros(e.at).into();
                v
            })
            .collect();
        return print_json(&serde_json::Value::Array(list));
    }
    for e in rows.iter().rev() {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        println!(
            "{} {:<8} {:<16} {:<8} {:<12} {:<24} {} -> {}{}",
            crate::clock::format_micros(e.at),
            e.source,
            opt(&e.profile),
            opt(&e.item),
            opt(&e.field),
            e.outcome,
            opt(&e.old_value),
            opt(&e.new_value),
            e.reason
                .as_ref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `smsync inspect`: the items of one input file as smsync reads them.
pub(super) fn inspect(file: &Path, date_format: &str, json: bool) -> Result<()> {
    let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let format = crate::ingest::sniff(&bytes);
    let opts = crate::ingest::Options {
        dates: DateFormat::parse(date_format)?,
        pst_checker: std::env::current_exe().ok(),
        ..Default::default()
    };
    let mut notes = Vec::new();
    let items = crate::ingest::read_items(file, &bytes, format, &opts, &mut notes)
        .map_err(|e| Error::invalid(format!("{}: {e}", file.display())))?;
    let list: Vec<serde_json::Value> = items.iter().map(item_json).collect();
    if json {
        return print_json(&json!({
            "file": file, "format": format, "notes": notes, "items": list
        }));
    }
    println!("{} [{format}]: {} item(s)", file.display(), list.len());
    for n in &notes {
        println!("  note: {n}");
    }
    for (inc, v) in items.iter().zip(&list) {
        match &inc.item {
            Err(e) => println!("  {}: cannot be applied: {e}", inc.source),
            Ok(it) => {
                println!(
                    "  {}: {} {} categories [{}]{}",
                    inc.source,
                    it.kind,
                    it.label(),
                    it.categories().join(", "),
                    if it.has_update() { " (!Update)" } else { "" }
                );
                if let Some(fields) = v["fields"].as_object() {
                    for (k, val) in fields {
                        if val.as_str().is_some_and(|s| !s.is_empty()) {
                            println!("    {k:<12} {}", val.as_str().unwrap_or_default());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// One item of `inspect` as JSON: its identity, categories and non-category fields.
fn item_json(inc: &Incoming) -> serde_json::Value {
    match &inc.item {
        Ok(it) => {
            let fields: serde_json::Map<String, serde_json::Value> = it
                .values
                .iter()
                .filter(|(f, _)| f.name != "category")
                .map(|(f, v)| (f.name.to_string(), v.to_text().into()))
                .collect();
            json!({
                "source": inc.source,
                "kind": it.kind,
                "key": it.key,
                "uid": it.uid,
                "categories": it.categories(),
                "update": it.has_update(),
                "modified": it.modified.map(crate::clock::format_micros),
                "fields": fields,
            })
        }
        Err(e) => json!({"source": inc.source, "error": e}),
    }
}
