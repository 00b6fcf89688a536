//! The human summaries of an export and of an ingest report, as `smsync export`, `ingest`,
//! `sync` and `smsync demo` print them. A leaf of the command line, so that `cli` and
//! `demo` both use it and neither uses the other.

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: the printers below print only their summary line (set once, by the command
/// line; the demo never sets it).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

pub fn print_export(r: &crate::export::Report) {
    // Items left out of an output are news even in a quiet run, on stderr.
    for refusal in &r.refused {
        eprintln!("smsync: profile '{}': {refusal}", r.profile);
    }
    let side = |c: &crate::export::Counts| {
        format!(
            "{} written, {} removed, {} unchanged",
            c.written, c.removed, c.unchanged
        )
    };
    if quiet() {
        println!(
            "{}: contacts {}; tasks {}",
            r.profile,
            side(&r.contacts),
            side(&r.tasks)
        );
        return;
    }
    let how = match (r.recovered, r.full) {
        (true, _) => " (recovered an interrupted export)",
        (false, true) => " (full)",
        _ => "",
    };
    println!("{}{how} -> {}", r.profile, r.folder.display());
    println!("  contacts: {}", side(&r.contacts));
    println!("  tasks:    {}", side(&r.tasks));
    for f in &r.change_files {
        println!("  for Outlook: {}", f.display());
    }
    for (name, state) in [
        ("contacts.csv", r.contacts_sheet),
        ("tasks.csv", r.tasks_sheet),
    ] {
        if state == crate::export::FullSheet::Stale {
            println!(
                "  outlook/{name} keeps the set of the last full run (over --full-csv-limit); \
                 this run's changes are in the files above"
            );
        }
    }
}

/// The human summary of an ingest, written in one piece (thousands of lines are common).
/// Skipped items are summarised by reason, one line per reason with its count; with
/// `--quiet` only the first line is printed.
pub fn print_ingest(r: &crate::ingest::Report) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let t = &r.tally;
    let dry = if r.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{}: ingested {} file(s){dry}: {} applied, {} created, {} unchanged, {} skipped, \
         {} refused, {} conflicts",
        r.profile,
        r.files.len(),
        t.applied,
        t.created,
        t.unchanged,
        t.skipped,
        t.refused,
        t.conflicts
    );
    if quiet() {
        print!("{out}");
        return;
    }
    for f in &r.files {
        let to = f
            .moved_to
            .as_ref()
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} [{}, {}]{to}",
            f.file.display(),
            f.format,
            f.outcome
        );
        if let Some(e) = &f.error {
            let _ = writeln!(out, "    error: {e}");
        }
        for n in &f.notes {
            let _ = writeln!(out, "    note: {n}");
        }
        for s in &f.skipped {
            let _ = writeln!(out, "    skipped {}: {}", s.count, s.reason);
        }
        for i in &f.items {
            if i.outcome == crate::ingest::ItemOutcome::Skipped {
                continue;
            }
            let key = i.key.clone().unwrap_or_default();
            let why = i
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let _ = writeln!(out, "    {} {key} {}{why}", i.source, i.outcome);
            for c in &i.fields {
                let _ = writeln!(
                    out,
                    "      {} {:?} -> {:?}: {:?}{}",
                    c.field,
                    c.database,
                    c.incoming,
                    c.decision,
                    if c.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.reason)
                    }
                );
            }
        }
    }
    if let Some(p) = &r.report_file {
        let _ = writeln!(out, "  report: {}", p.display());
    }
    print!("{out}");
}
