//! `smsync export`, `sync`, `reset` and `status`: writing a profile's changes to its drop
//! folder (after an ingest, for `sync`), clearing its stamps, and showing where each
//! profile stands.

use std::path::Path;

use serde_json::json;

use super::print::{Bar, exit_with, print_json};
use super::{ExportArgs, SyncArgs, open, select_profiles};
use crate::error::Result;
use crate::model::Kind;
use crate::store::{Profile, Store, SyncCounts};
use crate::summary::{print_export, print_ingest};

/// `smsync export`: one report per profile, as text or one JSON object. With `--all`, a
/// profile that fails (one that shares its folder with another employee's, say) is
/// reported and the others go on; the exit code is the worst profile's.
pub(super) fn export(
    db: &Path,
    drop: &Path,
    date_format: Option<&str>,
    args: &ExportArgs,
) -> Result<()> {
    let mut store = open(db)?;
    let over = args.settings.overrides(date_format);
    crate::profile::check_overrides(&over)?;
    let keep_changes = std::time::Duration::from_secs(args.keep_changes_days * 86_400);
    if args.dry_run {
        return dry_run(store.as_ref(), drop, &over, &args.profiles, args);
    }
    let profiles = select_profiles(store.as_ref(), drop, &args.profiles)?;
    let mut reports = Vec::new();
    let mut failed = Failed::default();
    let total = profiles.len();
    for (i, (p, chosen)) in profiles.into_iter().enumerate() {
        let bar = Bar::new("export", i, total, &p.name);
        let r = chosen.and_then(|()| {
            let opts = crate::export::Options {
                progress: bar.sink(),
                keep_changes,
                allow_mass_removal: args.allow_mass_removal,
                ..crate::profile::resolve(&p, &over)?.export_options()
            };
            crate::report::export_recorded(store.as_mut(), &p, drop, &opts)
        });
        std::mem::drop(bar);
        match r {
            Ok(r) => {
                say_moved(&r);
                say_pst(&r.profile, None, r.pst_skipped.as_ref());
                if !args.json {
                    match &r.guard {
                        Some(g) => print_removal_guard(&r, g),
                        None => print_export(&r),
                    }
                }
                reports.push(r);
            }
            Err(e) if args.profiles.all => failed.add(&p, e),
            Err(e) => return Err(e),
        }
    }
    if args.json {
        print_json(&json!({ "profiles": reports, "errors": failed.list }))?;
    }
    // Items an output left out (a value its encoding cannot hold) make it 3.
    let code = reports.iter().fold(failed.code, |c, r| {
        crate::error::exit::worst(c, r.exit_code())
    });
    exit_with(code)
}

/// `smsync export --dry-run`: what each output of each profile would write and remove;
/// nothing is written and no stamp moves. Exits 4 when the removal guard would stop a run
/// (and `--allow-mass-removal` is not given).
fn dry_run(
    store: &dyn Store,
    drop: &Path,
    over: &crate::profile::Overrides,
    sel: &super::Profiles,
    args: &ExportArgs,
) -> Result<()> {
    let mut plans = Vec::new();
    let mut failed = Failed::default();
    let mut code = crate::error::exit::OK;
    for (p, chosen) in select_profiles(store, drop, sel)? {
        let r = chosen.and_then(|()| {
            let opts = crate::profile::resolve(&p, over)?.export_options();
            crate::export::dry_run(store, &p, drop, &opts)
        });
        match r {
            Ok(plan) => {
                if plan.guard.is_some() && !args.allow_mass_removal {
                    code = crate::error::exit::ATTENTION;
                }
                if !args.json {
                    print_dry_run(&plan);
                }
                plans.push(plan);
            }
            Err(e) if sel.all => failed.add(&p, e),
            Err(e) => return Err(e),
        }
    }
    if args.json {
        print_json(&json!({ "dry_run": true, "profiles": plans, "errors": failed.list }))?;
    }
    exit_with(crate::error::exit::worst(code, failed.code))
}

/// The text of a dry run: per output, each item to write and to remove with its file
/// (relative to the profile's folder), then the full-set sheets.
fn print_dry_run(plan: &crate::export::DryRun) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rel = |f: &Path| {
        f.strip_prefix(&plan.folder)
            .unwrap_or(f)
            .display()
            .to_string()
    };
    let _ = writeln!(
        out,
        "{} (dry run: nothing written){} -> {}",
        plan.profile,
        if plan.full { " (full)" } else { "" },
        plan.folder.display()
    );
    for o in &plan.outputs {
        let _ = writeln!(
            out,
            "  {}: {} to write, {} to remove",
            o.output,
            o.write.len(),
            o.remove.len()
        );
        if crate::summary::quiet() {
            continue;
        }
        for i in &o.write {
            let _ = writeln!(out, "    write  {} {} -> {}", i.key, i.name, rel(&i.file));
        }
        for i in &o.remove {
            let _ = writeln!(out, "    remove {} {} -> {}", i.key, i.name, rel(&i.file));
        }
        for s in &o.sheets {
            let state = match s.state {
                crate::export::FullSheet::Rewritten => "rewritten",
                crate::export::FullSheet::Current => "unchanged",
                crate::export::FullSheet::Stale => "kept (over full_csv_limit)",
            };
            let _ = writeln!(out, "    sheet  {}: {state}", rel(&s.file));
        }
    }
    if let Some(g) = &plan.guard {
        let _ = writeln!(
            out,
            "  guard: {g}; a run stops here unless --allow-mass-removal is given"
        );
    }
    print!("{out}");
}

/// What a run the removal guard stopped says: the count, the causes, and the ways on.
fn print_removal_guard(r: &crate::export::Report, g: &crate::export::RemovalGuard) {
    println!(
        "{}: export stopped before writing anything (exit 4): {g}",
        r.profile
    );
    println!(
        "  check that these changes are meant (smsync export --profile \"{}\" --dry-run lists \
         every item); then run the export with --allow-mass-removal, or change the profile's \
         removal_guard_percent or removal_guard_min (smsync admin set SM-E<id> \
         removal_guard_min=N)",
        r.profile
    );
}

/// The profiles of an `--all` run that failed: each is said on stderr at once.
#[derive(Default)]
struct Failed {
    list: Vec<serde_json::Value>,
    code: i32,
}

impl Failed {
    fn add(&mut self, p: &Profile, e: crate::error::Error) {
        eprintln!("smsync: error: {e}");
        self.code = crate::error::exit::worst(self.code, e.exit_code());
        self.list.push(json!({
            "profile": p.name,
            "employee": p.employee,
            "error": e.to_string(),
        }));
    }
}

/// Says on stderr (also with `--json`) what became of the profile's PST when it was not
/// simply rewritten: an edited file taken in, or a file left alone (in use, or edits not
/// yet ingested). A file the ingest found in use is said once.
fn say_pst(
    profile: &str,
    adopted: Option<&crate::export::pst::Adopted>,
    skipped: Option<&crate::export::pst::Skipped>,
) {
    use crate::export::pst::Adopted;
    if let Some(a) = adopted {
        eprintln!("smsync: profile '{profile}': {a}");
    }
    if let Some(s) = skipped
        && !matches!(adopted, Some(Adopted::InUse { .. }))
    {
        eprintln!("smsync: profile '{profile}': {s}");
    }
}

/// Says on stderr that a run moved a renamed employee's folder.
fn say_moved(r: &crate::export::Report) {
    if let Some(from) = &r.moved_from {
        eprintln!(
            "smsync: profile '{}': the employee was renamed, so its folder moved from {} to {}",
            r.profile,
            from.display(),
            r.folder.display()
        );
    }
}

/// `smsync sync`: ingest, then export, profile by profile; the exit code is the worst
/// profile's. A renamed employee's folder moves first, so the files in its inbox are
/// ingested.
pub(super) fn sync(
    db: &Path,
    drop: &Path,
    date_format: Option<&str>,
    args: &SyncArgs,
) -> Result<()> {
    let mut store = open(db)?;
    let over = args.settings.overrides(date_format);
    crate::profile::check_overrides(&over)?;
    let profiles = select_profiles(store.as_ref(), drop, &args.profiles)?;
    let mut code = 0;
    let mut failed = Failed::default();
    let mut out = Vec::new();
    let total = profiles.len();
    for (i, (p, chosen)) in profiles.into_iter().enumerate() {
        let bar = Bar::new("sync", i, total, &p.name);
        let mut one = || -> Result<_> {
            let eff = crate::profile::resolve(&p, &over)?;
            let moved = crate::export::follow_folder(store.as_mut(), &p, drop)?;
            let iopts = crate::ingest::Options {
                pst_checker: std::env::current_exe().ok(),
                progress: bar.sink(),
                allow_mass_change: args.allow_mass_change,
                ..eff.ingest_options()
            };
            let ing = crate::report::ingest_recorded(store.as_mut(), &p, drop, &[], &iopts)?;
            let p = store.profile(&p.name)?;
            let eopts = crate::export::Options {
                progress: bar.sink(),
                allow_mass_removal: args.allow_mass_removal,
                ..eff.export_options()
            };
            let mut exp = crate::report::export_recorded(store.as_mut(), &p, drop, &eopts)?;
            exp.moved_from = exp.moved_from.or(moved);
            Ok((ing, exp))
        };
        let r = chosen.and_then(|()| one());
        std::mem::drop(bar);
        match r {
            Ok((ing, exp)) => {
                code = crate::error::exit::worst(code, ing.exit_code());
                code = crate::error::exit::worst(code, exp.exit_code());
                say_moved(&exp);
                say_pst(&exp.profile, ing.pst.as_ref(), exp.pst_skipped.as_ref());
                if !args.json {
                    print_ingest(&ing);
                    if let Some(g) = &ing.guard {
                        super::ingest::print_change_guard(&ing, g);
                    }
                    match &exp.guard {
                        Some(g) => print_removal_guard(&exp, g),
                        None => print_export(&exp),
                    }
                }
                out.push(json!({"ingest": ing, "export": exp}));
            }
            Err(e) if args.profiles.all => failed.add(&p, e),
            Err(e) => return Err(e),
        }
    }
    if args.json {
        print_json(&json!({ "profiles": out, "errors": failed.list }))?;
    }
    exit_with(crate::error::exit::worst(code, failed.code))
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
    // One gathering gives each profile's sync counts and what needs attention.
    let site = crate::report::gather(store.as_ref(), db, drop, None)?;
    let mut profiles = Vec::new();
    for p in store.profiles()? {
        let counts = match site.profiles.iter().find(|r| r.profile == p.name) {
            Some(r) => r.counts,
            // Added since the gathering.
            None => store.sync_counts(&p)?,
        };
        profiles.push((p, counts));
    }
    if json {
        status_json(store.as_ref(), db, drop, &profiles, &site)
    } else {
        status_text(store.as_ref(), db, &profiles)?;
        super::report::attention_text(&site, drop);
        Ok(())
    }
}

fn status_json(
    store: &dyn Store,
    db: &Path,
    drop: &Path,
    profiles: &[(Profile, SyncCounts)],
    site: &crate::report::SiteReport,
) -> Result<()> {
    let list: Vec<_> = profiles
        .iter()
        .map(|(p, c)| {
            let effective = crate::profile::resolve(p, &Default::default())
                .map(|e| {
                    e.shown()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
                        .collect::<serde_json::Map<_, _>>()
                })
                .map_err(|e| e.to_string());
            json!({
                "profile": p.name,
                "employee": p.employee,
                "user": p.user,
                "active": p.active,
                "settings": p.settings,
                "effective_settings": effective.as_ref().ok(),
                "settings_error": effective.as_ref().err(),
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
        "attention": super::report::attention_json(site),
    }))
}

fn status_text(store: &dyn Store, db: &Path, profiles: &[(Profile, SyncCounts)]) -> Result<()> {
    println!("database {}", crate::store::shown(db));
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
        let inactive = if p.active {
            ""
        } else {
            " inactive: passed over"
        };
        println!(
            "profile '{}' ({}, user {}){inactive}",
            p.name, p.employee, p.user
        );
        match crate::profile::resolve(p, &Default::default()) {
            Ok(eff) => {
                let shown: Vec<String> = eff
                    .shown()
                    .into_iter()
                    .map(|(k, v)| {
                        let own = crate::profile::default_of(k).is_none_or(|d| d != v);
                        format!("{k}={v}{}", if own { "" } else { " (default)" })
                    })
                    .collect();
                println!("  settings: {}", shown.join(", "));
            }
            Err(e) => println!("  settings: {e}"),
        }
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
