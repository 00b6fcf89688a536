//! `smsync undo RUN`: takes an ingest run back from the journal (see [`crate::undo`]),
//! or with `--dry-run` shows what it would revert and keep.

use std::path::Path;

use super::UndoArgs;
use super::open;
use super::print::{exit_with, print_json};
use crate::error::Result;

/// Plans the undo, applies it unless `--dry-run`, and prints it; exits 0 when everything
/// is reverted, 3 when fields were kept (changed later) or created records remain.
pub(super) fn undo(db: &Path, args: &UndoArgs) -> Result<()> {
    let mut store = open(db)?;
    let run = crate::undo::run_name(&args.run);
    let mut report = crate::undo::plan(store.as_ref(), &run)?;
    if !args.dry_run {
        crate::undo::apply(store.as_mut(), &mut report)?;
    }
    if args.json {
        print_json(&report)?;
    } else {
        print(&report);
    }
    exit_with(report.exit_code())
}

fn print(r: &crate::undo::Report) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let shown = |v: &Option<String>| format!("{:?}", v.as_deref().unwrap_or(""));
    let _ = writeln!(
        out,
        "undo of {}{}: {} field(s) {}, {} kept{}",
        r.run,
        r.profile
            .as_ref()
            .map(|p| format!(" (profile '{p}')"))
            .unwrap_or_default(),
        r.reverted.len(),
        if r.dry_run {
            "to revert (dry run: nothing changed)"
        } else {
            "reverted"
        },
        r.kept.len(),
        r.undo_run
            .as_ref()
            .map(|u| format!("; journaled as {u}"))
            .unwrap_or_default()
    );
    for v in &r.reverted {
        let _ = writeln!(
            out,
            "  revert {} {}: {} -> {}",
            v.item,
            v.field,
            shown(&v.from),
            shown(&v.to)
        );
    }
    for k in &r.kept {
        let _ = writeln!(
            out,
            "  kept   {} {}: {} (before the run {}): {}",
            k.item,
            k.field,
            shown(&k.now),
            shown(&k.before_run),
            k.reason
        );
    }
    for c in &r.created {
        let _ = writeln!(
            out,
            "  created {c}: smsync deletes no record; close it if it is not wanted \
             (smsync admin set {c} status=Cancelled)"
        );
    }
    print!("{out}");
}
