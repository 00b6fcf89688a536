//! Retention of `outlook/changes/` through the real export driver: a run's change files
//! stay until a later full-set sheet replaced them, then for the days kept.

mod common;

use std::path::Path;
use std::time::Duration;

use smsync::export::{self, Options};
use smsync::model::{Key, Kind};
use smsync::store::Store;

const DANA: &str = "Dana Whitfield";

/// The runs that have files in the profile's `outlook/changes/`, oldest first.
fn runs(drop: &Path) -> Vec<String> {
    let dir = drop.join(DANA).join("outlook/changes");
    let mut runs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| export::retention::ChangeFile::parse(&e.path()).map(|f| f.run))
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

fn export(store: &mut dyn Store, drop: &Path, opts: &Options) -> export::Report {
    let p = store.profile(DANA).unwrap();
    export::export_profile(store, &p, drop, opts, &mut || {}).unwrap()
}

fn change(store: &mut dyn Store, n: u32) {
    let key = Key::new(Kind::Tech, 1);
    common::set(store, key, &[("notes", &format!("change {n}"))]);
}

#[test]
fn replaced_runs_go_after_the_days_kept_and_runs_not_replaced_stay() {
    let (dir, mut store) = common::sample_store();
    let drop = dir.path().join("dropbox");
    let keep_none = Options {
        keep_changes: Duration::ZERO,
        ..Default::default()
    };
    // Small profile: every run that changes something rewrites both sheets.
    let first = export(&mut store, &drop, &keep_none);
    assert!(first.full);
    let r1 = runs(&drop);
    assert_eq!(r1.len(), 1);
    change(&mut store, 1);
    // Kept 30 days: the first run is replaced but young, so it stays.
    export(&mut store, &drop, &Options::default());
    let r2 = runs(&drop);
    assert_eq!(r2.len(), 2);
    change(&mut store, 2);
    // Kept 0 days: this run rewrote the contacts sheet only (no task changed). The second
    // run (contacts only) is replaced and goes; the first also wrote every task, and no
    // later tasks sheet replaced that file, so it stays whole; this run stays.
    let third = export(&mut store, &drop, &keep_none);
    assert_eq!(third.contacts_sheet, export::FullSheet::Rewritten);
    assert_ne!(third.tasks_sheet, export::FullSheet::Rewritten);
    let left = runs(&drop);
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], r1[0]);
    assert!(!left.contains(&r2[1]));
}

#[test]
fn a_run_whose_sheet_is_stale_is_kept_until_a_full_export() {
    let (dir, mut store) = common::sample_store();
    let drop = dir.path().join("dropbox");
    // A limit of 0 items: only full runs rewrite the sheets (as for a large profile).
    let opts = Options {
        keep_changes: Duration::ZERO,
        full_sheet_limit: 0,
        ..Default::default()
    };
    export(&mut store, &drop, &opts);
    for n in 1..=3 {
        change(&mut store, n);
        let r = export(&mut store, &drop, &opts);
        assert_eq!(r.contacts_sheet, export::FullSheet::Stale);
    }
    // Outlook may still need every one of them: nothing replaced them.
    assert_eq!(runs(&drop).len(), 4);
    // A full export (after a reset) replaces them all.
    let p = store.profile(DANA).unwrap();
    store.reset(&p).unwrap();
    let full = export(&mut store, &drop, &opts);
    assert!(full.full);
    assert_eq!(runs(&drop).len(), 1);
}
