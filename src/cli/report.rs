//! `smsync report` (the admin report, HTML or JSON) and the attention part of `smsync
//! status`: both show [`crate::report::gather`]'s findings.

use std::path::Path;

use super::ReportArgs;
use super::open;
use super::print::print_json;
use crate::error::{Error, Result};
use crate::report::{self, Period};

/// `smsync report --html FILE | --json [--days N]`.
pub(super) fn report(db: &Path, drop: &Path, args: &ReportArgs) -> Result<()> {
    let store = open(db)?;
    let period = Period {
        days: args.days.max(1),
        now: crate::clock::now_micros(),
    };
    let r = report::gather(store.as_ref(), db, drop, Some(period))?;
    match &args.html {
        Some(file) => {
            crate::fsutil::write_atomic(file, report::html::render(&r).as_bytes())?;
            println!(
                "wrote the report of {} profile(s) to {}",
                r.profiles.len(),
                file.display()
            );
            Ok(())
        }
        None if args.json => print_json(&r),
        None => Err(Error::invalid("say --html FILE or --json")),
    }
}

/// The attention part of `status --json`: the watcher and, per profile, backlog, rejected
/// files, the last runs and what needs attention.
pub(super) fn attention_json(r: &report::SiteReport) -> serde_json::Value {
    let profiles: Vec<_> = r
        .profiles
        .iter()
        .map(|p| {
            serde_json::json!({
                "profile": p.profile,
                "backlog": p.backlog,
                "rejected": p.rejected.len(),
                "rejected_since_last_run": p.rejected_since_last_run,
                "last_ingest": p.last_ingest,
                "last_export": p.last_export,
                "needs": p.attention(),
            })
        })
        .collect();
    serde_json::json!({ "watcher_pid": r.watcher, "profiles": profiles })
}

/// The attention part of `status`, as text.
pub(super) fn attention_text(r: &report::SiteReport, drop: &Path) {
    match &r.watcher {
        Some(pid) => println!("watcher: pid {pid} holds {}", drop.display()),
        None => println!("watcher: none holds {}", drop.display()),
    }
    for p in &r.profiles {
        let run = |run: &Option<crate::store::RunRecord>| match run {
            Some(r) => format!(
                "{} at {}: {}",
                r.outcome.as_str(),
                crate::clock::format_micros(r.finished),
                r.summary
            ),
            None => "none recorded".into(),
        };
        println!("profile '{}'", p.profile);
        println!(
            "  inbox: {} file(s) waiting; rejected/: {} file(s), {} by the last ingest run or since",
            p.backlog.files,
            p.rejected.len(),
            p.rejected_since_last_run
        );
        println!("  last ingest: {}", run(&p.last_ingest));
        println!("  last export: {}", run(&p.last_export));
        let needs = p.attention();
        if needs.is_empty() {
            println!("  attention: nothing");
        }
        for n in needs {
            println!("  attention: {n}");
        }
    }
}
