//! `smsync ingest`, `inspect`, `journal` and the hidden `check-pst`: applying dropped
//! files, showing what a file holds without applying it, and the journal of changes.

use std::path::Path;

use serde_json::json;

use super::print::{Bar, exit_with, named_files_exist, print_file, print_json};
use super::{IngestArgs, open};
use crate::codec::item::Incoming;
use crate::codec::text::DateFormat;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::summary::print_ingest;

/// `smsync ingest`: the exit code says whether items were refused (3) or need attention (4).
pub(super) fn ingest(
    db: &Path,
    drop: &Path,
    date_format: Option<&str>,
    args: &IngestArgs,
) -> Result<()> {
    named_files_exist(
        &args.files,
        " (or leave the files out to ingest the profile's inbox)",
    )?;
    let mut store = open(db)?;
    // The profile's own date format unless --date-format overrides it; a renamed
    // employee's folder (and inbox) follows it first.
    let profile = crate::profile::one(store.as_ref(), &args.profile)?;
    let over = crate::profile::Overrides {
        date_format: date_format.map(str::to_string),
        ..Default::default()
    };
    let eff = crate::profile::resolve(&profile, &over)?;
    crate::export::follow_folder(store.as_mut(), &profile, drop)?;
    let bar = Bar::new("ingest", 0, 1, &profile.name);
    let opts = crate::ingest::Options {
        dry_run: args.dry_run,
        max_size: args.max_size_mb * 1024 * 1024,
        pst_checker: std::env::current_exe().ok(),
        progress: bar.sink(),
        allow_mass_change: args.allow_mass_change,
        ..eff.ingest_options()
    };
    let r = crate::report::ingest_recorded(store.as_mut(), &profile, drop, &args.files, &opts)?;
    std::mem::drop(bar);
    if let Some(p) = &r.pst {
        eprintln!("smsync: profile '{}': {p}", r.profile);
    }
    if args.json {
        // The report's file holds what `print_json` would print; a file that cannot be
        // opened (removed meanwhile) is printed from the report instead.
        let copied = match r.report_file.as_deref() {
            Some(p) => print_file(p)?,
            None => false,
        };
        if !copied {
            print_json(&r)?;
        }
    } else {
        print_ingest(&r);
        if let Some(g) = &r.guard {
            print_change_guard(&r, g);
        } else if let Some(run) = r
            .run
            .as_ref()
            .filter(|_| !crate::summary::quiet() && r.tally.applied + r.tally.created > 0)
        {
            println!("  run {run} (take it back with: smsync undo {run})");
        }
    }
    exit_with(r.exit_code())
}

/// What a run the change guard stopped says after its plan: why, and the ways on.
pub(super) fn print_change_guard(r: &crate::ingest::Report, g: &crate::ingest::ChangeGuard) {
    println!(
        "{}: ingest stopped before applying anything (exit 4): {g}",
        r.profile
    );
    for b in g.blanked.iter().take(20) {
        println!("  would blank {} {} (now {:?})", b.key, b.field, b.old);
    }
    if g.blanked.len() > 20 {
        println!("  … and {} more blanked fields", g.blanked.len() - 20);
    }
    println!(
        "  the files stay in the inbox; the plan is above. If it is meant, run: smsync ingest \
         --profile \"{}\" --allow-mass-change (or change the profile's change_guard_percent, \
         change_guard_min or blank_guard_max with smsync admin set SM-E<id> NAME=N)",
        r.profile
    );
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
    // A profile with no journal rows must at least exist (a renamed one keeps its rows):
    // a mistyped name is a usage error that lists the profiles, not an empty journal.
    if let Some(name) = profile
        && rows.is_empty()
    {
        store.profile(name)?;
    }
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
                + &e.run
                    .as_ref()
                    .map(|r| format!("  [{r}]"))
                    .unwrap_or_default()
        );
    }
    Ok(())
}

/// `smsync inspect`: the items of one input file as smsync reads them. An item that cannot
/// be applied shows its kind and the fields its file holds, then the reason. A task's
/// location and people, which Outlook's tasks sheet keeps in one Contacts list, are told
/// apart against the database when it opens (as ingest does), else shown as that list.
pub(super) fn inspect(db: &Path, file: &Path, date_format: Option<&str>, json: bool) -> Result<()> {
    let date_format = date_format.unwrap_or(crate::profile::DEFAULT_DATE_FORMAT);
    named_files_exist(&[file.to_path_buf()], "")?;
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
    // The database only tells a task's location from its people; inspect works without it.
    let store = open(db).ok();
    let raw = Raw::new(format, &bytes);
    let list: Vec<serde_json::Value> = items
        .iter()
        .map(|inc| item_json(inc, &raw, store.as_deref()))
        .collect();
    if json {
        return print_json(&json!({
            "file": file, "format": format, "notes": notes, "items": list
        }));
    }
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{} [{format}]: {} item(s)", file.display(), list.len());
    for n in &notes {
        let _ = writeln!(out, "  note: {n}");
    }
    for (inc, v) in items.iter().zip(&list) {
        let kind = v["kind"].as_str().unwrap_or("unknown");
        match &inc.item {
            Err(_) => {
                let _ = writeln!(out, "  {}: {kind}, cannot be applied", inc.source);
            }
            Ok(it) => {
                let _ = writeln!(
                    out,
                    "  {}: {kind} {} categories [{}]{}",
                    inc.source,
                    it.label(),
                    it.categories().join(", "),
                    if it.has_update() { " (!Update)" } else { "" }
                );
            }
        }
        if let Some(fields) = v["fields"].as_object() {
            for (k, val) in fields {
                if let Some(val) = val.as_str().filter(|s| !s.is_empty()) {
                    let _ = writeln!(out, "    {k:<12} {val}");
                }
            }
        }
        if let Err(e) = &inc.item {
            let _ = writeln!(out, "    reason: {e}");
        }
    }
    print!("{out}");
    Ok(())
}

/// One item of `inspect` as JSON: its kind (for every item), identity, categories and
/// non-category fields; an item that cannot be applied has its raw fields and the error.
fn item_json(inc: &Incoming, raw: &Raw, store: Option<&dyn Store>) -> serde_json::Value {
    match &inc.item {
        Ok(it) => {
            let mut fields: serde_json::Map<String, serde_json::Value> = it
                .values
                .iter()
                .filter(|(f, _)| f.name != "category")
                .map(|(f, v)| (f.name.to_string(), v.to_text().into()))
                .collect();
            split_task_contacts(it, store, &mut fields);
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
        Err(e) => {
            // PST and .msg readers say what they saw; text formats are read again here.
            let (kind, fields) = match &inc.seen {
                Some(s) => (s.kind, s.fields.clone()),
                None => raw.of(&inc.source),
            };
            let fields: serde_json::Map<String, serde_json::Value> =
                fields.into_iter().map(|(k, v)| (k, v.into())).collect();
            json!({"source": inc.source, "kind": kind, "fields": fields, "error": e})
        }
    }
}

/// A task whose location and people are one list (Outlook's tasks sheet has one Contacts
/// column for both): with the database, the location is the name of one of the task's
/// client's locations and the people are the names of its people, as ingest decides;
/// without it, the list is shown once as `contacts`.
fn split_task_contacts(
    it: &crate::codec::item::Item,
    store: Option<&dyn Store>,
    fields: &mut serde_json::Map<String, serde_json::Value>,
) {
    use crate::codec::item::Field;
    use crate::rules::Resolve;
    let get = |name: &str| it.values.iter().find(|(f, _)| f.name == name).map(|v| &v.1);
    let (Some(Field::Names(loc)), Some(Field::Names(people))) = (get("location"), get("people"))
    else {
        return;
    };
    if loc != people || loc.is_empty() {
        return; // read apart already (vCard/iCalendar, MAPI)
    }
    fields.remove("location");
    fields.remove("people");
    let names: Vec<&str> = loc.iter().map(|n| n.name.as_str()).collect();
    // The client: the item's client field, else a category naming an active client.
    let client = store.and_then(|s| {
        let mut candidates: Vec<String> = it.categories().to_vec();
        if let Some(c) = get("client") {
            candidates.insert(0, c.to_text());
        }
        candidates.iter().find_map(|c| {
            let found = s.clients(c).ok()?;
            found.iter().find(|(_, active)| *active).map(|(k, _)| *k)
        })
    });
    let (Some(s), Some(client)) = (store, client) else {
        fields.insert("contacts".into(), names.join("; ").into());
        return;
    };
    let mut location = Vec::new();
    let mut who = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        if location.is_empty() && s.location(client, n).ok().flatten().is_some() {
            location.push(n);
        } else if s.people(client, n).is_ok_and(|p| !p.is_empty()) {
            who.push(n);
        } else {
            unknown.push(n);
        }
    }
    fields.insert("location".into(), location.join("; ").into());
    fields.insert("people".into(), who.join("; ").into());
    if !unknown.is_empty() {
        fields.insert("unknown names".into(), unknown.join("; ").into());
    }
}

/// The raw fields of the items of a text file, to show what an item that cannot be
/// applied holds: vCard and iCalendar properties, CSV columns.
struct Raw {
    format: crate::ingest::Format,
    text: String,
}

impl Raw {
    fn new(format: crate::ingest::Format, bytes: &[u8]) -> Raw {
        use crate::ingest::Format;
        let text = match format {
            Format::VCard | Format::ICalendar | Format::Csv => crate::codec::text::decode(bytes).0,
            _ => String::new(),
        };
        Raw { format, text }
    }

    /// The kind and the non-empty fields of the item at `source` ("card 2", "VTODO 1",
    /// "row 7"), as far as they can be found.
    fn of(&self, source: &str) -> (&'static str, Vec<(String, String)>) {
        use crate::ingest::Format;
        let nth = |prefix: &str| {
            source
                .strip_prefix(prefix)
                .and_then(|n| n.trim().parse::<usize>().ok())
        };
        match self.format {
            Format::VCard => (
                "contact",
                nth("card ").map_or(Vec::new(), |n| self.block("VCARD", n)),
            ),
            Format::ICalendar => (
                "task",
                nth("VTODO ").map_or(Vec::new(), |n| self.block("VTODO", n)),
            ),
            Format::Csv => {
                let (kind, fields) = self.csv_row(nth("row ").unwrap_or(0));
                (kind, fields)
            }
            _ => ("unknown", Vec::new()),
        }
    }

    /// The properties of the `n`th (from 1) `BEGIN:name` block, lines unfolded.
    fn block(&self, name: &str, n: usize) -> Vec<(String, String)> {
        crate::codec::text::block_props(&self.text, name, n)
    }

    /// The kind of a CSV sheet (a tasks sheet has a Subject column) and the non-empty
    /// columns of its `row` (as the reader counts: the header is row 1).
    fn csv_row(&self, row: usize) -> (&'static str, Vec<(String, String)>) {
        let first = self.text.lines().next().unwrap_or_default();
        let sep = [b',', b';', b'\t']
            .into_iter()
            .max_by_key(|c| first.bytes().filter(|b| b == c).count())
            .unwrap_or(b',');
        let mut rd = csv::ReaderBuilder::new()
            .delimiter(sep)
            .flexible(true)
            .from_reader(self.text.as_bytes());
        let header: Vec<String> = rd
            .headers()
            .map(|h| {
                h.iter()
                    .map(|c| c.trim_start_matches('\u{feff}').to_string())
                    .collect()
            })
            .unwrap_or_default();
        let kind = if header.iter().any(|h| h.eq_ignore_ascii_case("Subject")) {
            "task"
        } else {
            "contact"
        };
        let fields = row
            .checked_sub(2)
            .and_then(|i| rd.records().nth(i))
            .and_then(|r| r.ok())
            .map(|r| {
                header
                    .iter()
                    .zip(r.iter())
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(h, v)| (h.clone(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        (kind, fields)
    }
}
